#!/usr/bin/env bash
# Origin autopilot: a room in front of an origin slowed on purpose, with
# adaptive admission off, then on with origin targets, under the same load.
#
# The origin (deploy/bench/origin -capacity) serves at most $CAPACITY
# requests at once, $SERVICE each, and answers 503 to a request that waited
# more than $QUEUE_TIMEOUT for a slot: it gets slower as concurrency rises,
# then fails. Fans (deploy/bench/autopilot) wait in the room's line and,
# once admitted, ask for $PAGES pages $THINK apart through Crowdgate's
# reverse proxy (`serve --upstream`). At the organizer's $RATE/min the
# admitted fans ask for more pages than the origin can serve; the run with
# the autopilot (adaptive_origin_p99_ms $P99_MS, adaptive_origin_error_percent
# $ERR_PERCENT) should admit only as fast as the origin keeps up.
#
#   deploy/bench/origin-autopilot.sh             # two 60-s runs: off, then on
#   SECONDS_PER_RUN=120 RUNS=on P99_MS=500 deploy/bench/origin-autopilot.sh
#
# Needs redis-server, curl and go (or CROWDGATE_BIN=path to a built
# crowdgate). Ports: $BASE_PORT (default 18380) and $BASE_PORT+1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_needs redis-server curl go

base_port=${BASE_PORT:-18380}
cg_port=$base_port origin_port=$((base_port + 1))
rate=${RATE:-900} seconds=${SECONDS_PER_RUN:-60} warmup=${WARMUP:-20s}
capacity=${CAPACITY:-4} service=${SERVICE:-40ms} queue_timeout=${QUEUE_TIMEOUT:-1s}
pages=${PAGES:-10} think=${THINK:-1s} p99_ms=${P99_MS:-250} err_percent=${ERR_PERCENT:-2}

(cd "$repo" && go build -o "$work/origin" ./deploy/bench/origin && go build -o "$work/autopilot" ./deploy/bench/autopilot)
bench_start "$work/origin" -addr "127.0.0.1:$origin_port" -capacity "$capacity" -service "$service" -queue-timeout "$queue_timeout"
wait_for "http://127.0.0.1:$origin_port/"
start_redis_and_crowdgate "$cg_port" CROWDGATE_UPSTREAM="http://127.0.0.1:$origin_port" CROWDGATE_ROUTES="/off/=off,/on/=on"

echo "# $built, $(nproc) cores; origin: $capacity at once x $service, 503 after $queue_timeout waiting;"
echo "# fans: $pages pages $think apart once admitted; organizer's rate $rate/min; $seconds-s runs, summaries after $warmup"
common='"admit_per_minute": '$rate', "challenge": "off", "session_seconds": 900'
for run in ${RUNS:-off on}; do
  if [ "$run" = off ]; then
    doc="{$common}"
    echo "-- autopilot off"
  else
    doc="{$common, \"adaptive\": true, \"adaptive_origin_p99_ms\": $p99_ms, \"adaptive_origin_error_percent\": $err_percent}"
    echo "-- autopilot on: adaptive_origin_p99_ms $p99_ms, adaptive_origin_error_percent $err_percent"
  fi
  "$work/autopilot" -target "http://127.0.0.1:$cg_port" -room "$run" -path "/$run/" -room-doc "$doc" \
    -seconds "$seconds" -warmup "$warmup" -pages "$pages" -think "$think"
  sleep 3 # the origin's queue drains
done
echo "-- Crowdgate's own reading of the origin (crowdgate_origin_responses_total)"
curl -fsS "http://127.0.0.1:$cg_port/metrics" | grep '^crowdgate_origin_responses_total' || true
