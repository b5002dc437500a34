#!/usr/bin/env bash
# The traffic trigger's threshold with three instances (docs/performance.md,
# "Traffic-triggered rooms"): three `crowdgate serve` on one Redis
# (REDIS=single) or on a three-master Redis Cluster (REDIS=cluster), a room
# "gate" with trigger {active_users: $THRESHOLD} (or TRIGGER=new:
# {new_per_minute: $THRESHOLD}), and one `crowdload joins
# -mode bot` per instance, all at once, each join from an address of its
# own (X-Forwarded-For, behind --trusted-proxies). It prints the room's
# figures: the active users against the threshold (the overshoot), and the
# sequence number of the first visitor queued (the threshold + 1 when the
# first join past it queued).
#
#   REDIS=cluster THRESHOLD=5000 SECONDS_RUN=4 deploy/bench/threshold.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_needs redis-server redis-cli curl jq

mode=${REDIS:-single}
threshold=${THRESHOLD:-5000}
case ${TRIGGER:-active} in
active) trigger="{\"active_users\": $threshold}" ;;
new) trigger="{\"new_per_minute\": $threshold}" ;;
*) echo "TRIGGER=active or TRIGGER=new" >&2; exit 1 ;;
esac
seconds=${SECONDS_RUN:-4}
load=$work/crowdload
(cd "$repo" && go build -o "$load" ./cmd/crowdload)

# Redis: a Unix socket, or three cluster masters on free ports.
case $mode in
single)
  bench_start redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 --dir "$work" \
    --save '' --appendonly no --logfile "$work/redis.log" --daemonize no
  url="unix://$work/redis.sock"
  cli=(redis-cli -s "$work/redis.sock")
  for _ in $(seq 50); do "${cli[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  ;;
cluster)
  nodes=()
  for i in 1 2 3; do
    port=$((17100 + i))
    mkdir -p "$work/n$i"
    bench_start redis-server --port "$port" --cluster-enabled yes --cluster-config-file "$work/n$i/nodes.conf" \
      --dir "$work/n$i" --save '' --appendonly no --logfile "$work/n$i/redis.log" --daemonize no
    nodes+=("127.0.0.1:$port")
  done
  for n in "${nodes[@]}"; do
    for _ in $(seq 50); do redis-cli -p "${n#*:}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$work/cluster.log"
  for _ in $(seq 100); do
    redis-cli -p 17101 cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  url=$(IFS=,; echo "${nodes[*]}")
  cli=(redis-cli -c -p 17101)
  ;;
*)
  echo "REDIS=single or REDIS=cluster" >&2
  exit 1
  ;;
esac

# Three instances on it.
ports=(18181 18182 18183)
for p in "${ports[@]}"; do
  env CROWDGATE_ADDR="127.0.0.1:$p" CROWDGATE_REDIS_URL="$url" CROWDGATE_ADMIN_TOKEN=bench CROWDGATE_LOG_LEVEL=warn \
    CROWDGATE_TRUSTED_PROXIES=127.0.0.1/32 "$bin" serve >"$work/cg-$p.out" 2>"$work/cg-$p.log" &
  pids+=($!)
done
for p in "${ports[@]}"; do wait_for "http://127.0.0.1:$p/readyz"; done
curl -fsS -X PUT -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
  -d "{\"admit_per_minute\": 60, \"challenge\": \"off\", \"session_seconds\": 3600, \"trigger\": $trigger}" \
  "http://127.0.0.1:${ports[0]}/admin/v1/rooms/gate" >/dev/null
sleep 1.5 # every instance has read the room (they refresh each second)

echo "$built; Redis: $mode; trigger $trigger; 3 instances, ${seconds}s of joins, one crowdload each"
loads=()
for p in "${ports[@]}"; do
  "$load" joins -target "http://127.0.0.1:$p" -room gate -mode bot -seconds "$seconds" -concurrency 32 -addresses 131072 \
    >"$work/load-$p.out" 2>&1 &
  loads+=($!)
done
for l in "${loads[@]}"; do wait "$l"; done
for p in "${ports[@]}"; do echo "crowdload on :$p: $(tail -1 "$work/load-$p.out")"; done

room=$(curl -fsS -H 'Authorization: Bearer bench' "http://127.0.0.1:${ports[1]}/admin/v1/rooms/gate")
first=$("${cli[@]}" zrange 'cg:{gate}:q' 0 0)
echo "$room" | jq -c '{active: .stats.active, admitted_total: .stats.admitted_total, waiting: .stats.waiting, trigger_state: .stats.trigger_state}'
echo "first in line: queue id $first = join number $((36#$first))"
active=$(echo "$room" | jq .stats.active)
echo "overshoot: $(( active - threshold )) active over $threshold"
