#!/usr/bin/env bash
# Forward-auth throughput and latency: Crowdgate's /auth/v1/check asked
# directly, and nginx (deploy/nginx-forward-auth.conf, unchanged but for its
# addresses) in front of a trivial origin, where every request makes an
# auth_request subrequest. For scale it also measures nginx proxying to the
# same origin without the check.
#
# Everything runs on this machine, on loopback: a private redis-server,
# `crowdgate serve`, nginx (2 workers) and wrk. Admission tokens for
# $TOKENS distinct visitors come from a passthrough room; wrk cycles through
# prebuilt requests, each with its visitor's "Authorization: Bearer".
#
#   deploy/bench/forward-auth.sh            # 10 s runs at 64 and 16 connections
#   DURATION=30s CONNECTIONS="128 64" deploy/bench/forward-auth.sh
#
# Needs redis-server, nginx, wrk, curl, and go (or CROWDGATE_BIN=path to a
# built crowdgate). Ports: $BASE_PORT (default 18180) to $BASE_PORT+3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
duration=${DURATION:-10s}
connections=${CONNECTIONS:-64 16}
threads=${THREADS:-2}
tokens=${TOKENS:-10000}
base_port=${BASE_PORT:-18180}
cg_port=$base_port nginx_port=$((base_port + 1)) origin_port=$((base_port + 2)) plain_port=$((base_port + 3))

for tool in redis-server nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

work=$(mktemp -d /tmp/cg-bench.XXXXXX)
chmod 755 "$work" # nginx's workers may run as another user
pids=()
cleanup() {
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

redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 --dir "$work" \
  --save '' --appendonly no --logfile "$work/redis.log" --daemonize no &
pids+=($!)

CROWDGATE_ADDR=127.0.0.1:$cg_port \
CROWDGATE_REDIS_URL=unix://$work/redis.sock \
CROWDGATE_ADMIN_TOKEN=bench \
CROWDGATE_ROUTES=/bench/=pt \
CROWDGATE_LOG_LEVEL=warn \
  "$bin" serve >"$work/crowdgate.out" 2>"$work/crowdgate.log" &
pids+=($!)

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$cg_port/readyz" >/dev/null && break
  sleep 0.1
done
curl -fsS -X PUT -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
  -d '{"passthrough": true, "session_seconds": 3600}' \
  "http://127.0.0.1:$cg_port/admin/v1/rooms/pt" >/dev/null

# The shipped configuration with its three CHANGE lines rewritten, plus a
# trivial origin and a check-free proxy to it, in a main context of our own.
sed -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$cg_port;/" \
    -e "s/server 127.0.0.1:9000;/server 127.0.0.1:$origin_port;/" \
    -e "s/listen 80;/listen 127.0.0.1:$nginx_port;/" \
    "$repo/deploy/nginx-forward-auth.conf" >"$work/site.conf"
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
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
    include $work/site.conf;
    server {
        listen 127.0.0.1:$origin_port;
        location / { return 200 "origin\n"; }
    }
    server {
        listen 127.0.0.1:$plain_port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
nginx -t -q -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log"
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break
  sleep 0.1
done

echo "== collecting $tokens admission tokens"
: >"$work/tokens"
TOKENS=$tokens TOKENS_FILE=$work/tokens wrk -t1 -c16 -d120s -s "$here/join.lua" \
  "http://127.0.0.1:$cg_port/api/v1/rooms/pt/join" >/dev/null &
joiner=$!
for _ in $(seq 1200); do
  [ "$(wc -l <"$work/tokens")" -ge "$tokens" ] && break
  sleep 0.1
done
kill -INT "$joiner" 2>/dev/null || true
wait "$joiner" || true
got=$(wc -l <"$work/tokens")
[ "$got" -ge "$tokens" ] || { echo "only $got tokens" >&2; exit 1; }
tok=$(head -1 "$work/tokens")

# Sanity: the check passes with a token and refuses without one, both ways.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -H "Authorization: Bearer $tok" "http://127.0.0.1:$cg_port/auth/v1/check?room=pt")" = 200 ]
[ "$(code "http://127.0.0.1:$cg_port/auth/v1/check?room=pt")" = 401 ]
[ "$(code -H "Authorization: Bearer $tok" "http://127.0.0.1:$nginx_port/bench/x")" = 200 ]
[ "$(code "http://127.0.0.1:$nginx_port/bench/x")" = 302 ]

echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$threads -d$duration; $(nginx -v 2>&1); $built"
run() { # name url connections
  local line
  line=$(TOKENS_FILE=$work/tokens wrk -t"$threads" -c"$3" -d"$duration" -s "$here/check.lua" "$2" | grep '^RESULT')
  printf '%-34s c=%-4s %s\n' "$1" "$3" "${line#RESULT }"
}
for c in $connections; do
  run "direct /auth/v1/check?room=pt" "http://127.0.0.1:$cg_port/auth/v1/check?room=pt" "$c"
  run "nginx + auth_request -> origin" "http://127.0.0.1:$nginx_port/bench/x" "$c"
  run "nginx -> origin (no check)" "http://127.0.0.1:$plain_port/bench/x" "$c"
done
