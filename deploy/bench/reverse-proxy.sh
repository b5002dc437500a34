#!/usr/bin/env bash
# Reverse-proxy throughput and latency: the same origin asked directly,
# through Crowdgate (`serve --upstream`, a passthrough room protecting the
# path, every request carrying an admitted visitor's token), and, as
# references, through a bare httputil.ReverseProxy (deploy/bench/goproxy:
# Go's own stack, nothing of Crowdgate's) and through nginx (proxy_pass
# with upstream keep-alive).
#
# Two origins, both deploy/bench/origin: a trivial 1 KiB page (ROWS=0),
# where the proxy's own cost is all there is to see, and a page rendered
# per request from a template of $ROWS rows (~6 KB), an origin that does
# some work for each page.
#
# Everything runs on this machine, on loopback: a private redis-server, the
# origin, `crowdgate serve`, nginx and wrk share its cores, as they would
# not in production, so the ratios are a floor.
#
#   deploy/bench/reverse-proxy.sh                 # 10 s runs, 16 and 64 connections
#   DURATION=30s CONNECTIONS=32 ROWS="0 200" deploy/bench/reverse-proxy.sh
#
# Needs redis-server, nginx, wrk, curl and go (or CROWDGATE_BIN=path to a
# built crowdgate). Ports: $BASE_PORT (default 18280) to $BASE_PORT+3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16 64}
threads=${THREADS:-2}
rows_list=${ROWS:-0 100}
base_port=${BASE_PORT:-18280}
cg_port=$base_port nginx_port=$((base_port + 1)) origin_port=$((base_port + 2)) goproxy_port=$((base_port + 3))

for tool in redis-server nginx wrk curl go; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

work=$(mktemp -d /tmp/cg-bench.XXXXXX)
chmod 755 "$work" # nginx's workers may run as another user
pids=()
origin_pid=
cleanup() {
  [ -n "$origin_pid" ] && kill "$origin_pid" 2>/dev/null || true
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bin=${CROWDGATE_BIN:-}
built="CROWDGATE_BIN=$bin"
if [ -z "$bin" ]; then
  bin=$work/crowdgate
  (cd "$repo" && go build -o "$bin" ./cmd/crowdgate)
  built="crowdgate built from $(git -C "$repo" describe --always --dirty 2>/dev/null || echo "$repo")"
fi
(cd "$repo" && go build -o "$work/origin" ./deploy/bench/origin && go build -o "$work/goproxy" ./deploy/bench/goproxy)

wait_for() { # url
  for _ in $(seq 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 --dir "$work" \
  --save '' --appendonly no --logfile "$work/redis.log" --daemonize no &
pids+=($!)

CROWDGATE_ADDR=127.0.0.1:$cg_port \
CROWDGATE_REDIS_URL=unix://$work/redis.sock \
CROWDGATE_ADMIN_TOKEN=bench \
CROWDGATE_UPSTREAM=http://127.0.0.1:$origin_port \
CROWDGATE_ROUTES=/shop/=pt \
CROWDGATE_LOG_LEVEL=warn \
  "$bin" serve >"$work/crowdgate.out" 2>"$work/crowdgate.log" &
pids+=($!)
wait_for "http://127.0.0.1:$cg_port/readyz"
curl -fsS -X PUT -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
  -d '{"passthrough": true, "session_seconds": 3600}' \
  "http://127.0.0.1:$cg_port/admin/v1/rooms/pt" >/dev/null

# Sixteen admitted visitors; every request, on every path, carries one's
# token, so the three runs send the same bytes.
: >"$work/tokens"
for _ in $(seq 16); do
  curl -fsS -X POST "http://127.0.0.1:$cg_port/api/v1/rooms/pt/join" |
    sed -n 's/.*"admission_token":"\([^"]*\)".*/\1/p' >>"$work/tokens"
done
[ "$(grep -c . "$work/tokens")" = 16 ] || { echo "could not collect admission tokens" >&2; exit 1; }
tok=$(head -1 "$work/tokens")

cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    upstream origin { server 127.0.0.1:$origin_port; keepalive 256; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
"$work/goproxy" -addr "127.0.0.1:$goproxy_port" -upstream "http://127.0.0.1:$origin_port" &
pids+=($!)
nginx -t -q -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log"
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' &
pids+=($!)

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$threads -d$duration; $(nginx -v 2>&1); $built"
run() { # name url connections
  local line
  line=$(TOKENS_FILE=$work/tokens wrk -t"$threads" -c"$3" -d"$duration" -s "$here/check.lua" "$2" | grep '^RESULT')
  printf '%-22s c=%-4s %s\n' "$1" "$3" "${line#RESULT }"
}
for rows in $rows_list; do
  "$work/origin" -addr "127.0.0.1:$origin_port" -rows "$rows" &
  origin_pid=$!
  wait_for "http://127.0.0.1:$origin_port/"
  wait_for "http://127.0.0.1:$nginx_port/"
  wait_for "http://127.0.0.1:$goproxy_port/"
  # Sanity: Crowdgate passes the admitted and sends the others to the room.
  [ "$(code -H "Authorization: Bearer $tok" "http://127.0.0.1:$cg_port/shop/x")" = 200 ]
  [ "$(code "http://127.0.0.1:$cg_port/shop/x")" = 302 ]
  echo "-- origin: $([ "$rows" = 0 ] && echo "trivial 1 KiB page" || echo "a $rows-row template per request, $(curl -s "http://127.0.0.1:$origin_port/" | wc -c) bytes")"
  for c in $connections; do
    run "direct" "http://127.0.0.1:$origin_port/shop/x" "$c"
    run "through crowdgate" "http://127.0.0.1:$cg_port/shop/x" "$c"
    run "through Go's proxy" "http://127.0.0.1:$goproxy_port/shop/x" "$c"
    run "through nginx" "http://127.0.0.1:$nginx_port/shop/x" "$c"
  done
  kill "$origin_pid"
  wait "$origin_pid" 2>/dev/null || true
  origin_pid=
done
