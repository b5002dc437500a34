#!/usr/bin/env bash
# The join with a challenge on every new place, server side (docs/performance.md):
# a private Redis and `crowdgate serve`; `crowdload joins -mode capacity`
# asks PLACES challenges (bare joins, 428) and solves them on every core,
# then wrk sends the solved joins (solved.lua) for $DURATION; then, for
# comparison, wrk sends bare joins into a room with the challenge off.
# Each run prints its rate and the gateway's and Redis's CPU per place.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_needs redis-server wrk curl
places=${PLACES:-300000}
load=${CROWDLOAD_BIN:-}
if [ -z "$load" ]; then
  load=$work/crowdload
  (cd "$repo" && go build -o "$load" ./cmd/crowdload)
fi
start_redis_and_crowdgate 18081 CROWDGATE_TRUSTED_PROXIES=127.0.0.1/32 CROWDGATE_MAX_CONNS_PER_IP=0
banner
gw=$(pgrep -f "$bin serve" | head -1)
rd=$(pgrep -f "redis-server.*$work" | head -1)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
places_in() { redis-cli -s "$work/redis.sock" --raw zcard "cg:{$1}:q"; }

"$load" joins -target http://127.0.0.1:18081 -admin-token bench -room cap -mode capacity -places "$places" \
  -concurrency 128 -bits 8 -pids "$gw,$rd" -dump "$work/solved"
g0=$(cpu "$gw"); r0=$(cpu "$rd")
SOLVED_FILE=$work/solved wrk -t2 -c128 -d"$duration" -s "$here/solved.lua" http://127.0.0.1:18081/api/v1/rooms/cap/join | grep RESULT
g1=$(cpu "$gw"); r1=$(cpu "$rd")
n=$(places_in cap)
echo "solved joins: $n places in $duration; gateway $(( (g1 - g0) * 10000000 / n )) ns, Redis $(( (r1 - r0) * 10000000 / n )) ns of CPU per place"

curl -fsS -X PUT -H 'Authorization: Bearer bench' -d '{"admit_per_minute": 0, "challenge": "off"}' \
  http://127.0.0.1:18081/admin/v1/rooms/plain >/dev/null
g0=$(cpu "$gw"); r0=$(cpu "$rd")
wrk -t2 -c128 -d"$duration" -s "$here/bare.lua" http://127.0.0.1:18081/api/v1/rooms/plain/join | grep RESULT
g1=$(cpu "$gw"); r1=$(cpu "$rd")
n=$(places_in plain)
echo "bare joins, challenge off: $n places in $duration; gateway $(( (g1 - g0) * 10000000 / n )) ns, Redis $(( (r1 - r0) * 10000000 / n )) ns of CPU per place"
