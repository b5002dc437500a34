#!/usr/bin/env bash
# Forward-auth throughput and latency: Crowdgate's /auth/v1/check asked
# directly, and nginx (deploy/nginx-forward-auth.conf, unchanged but for its
# addresses) in front of a trivial origin, where every request makes an
# auth_request subrequest. For scale it also measures nginx proxying to the
# same origin without the check.
#
# Everything runs on this machine, on loopback: a private redis-server,
# `crowdgate serve`, nginx (2 workers) and wrk. Admission tokens for
# $TOKENS distinct visitors come from a passthrough room (or the room
# PT_ROOM describes: a quiet traffic-triggered one admits them as they
# come); wrk cycles through prebuilt requests, each with its visitor's
# "Authorization: Bearer".
#
#   deploy/bench/forward-auth.sh            # 10 s runs at 64 and 16 connections
#   PT_ROOM='{"admit_per_minute": 600, "trigger": {"active_users": 1000000}, "session_seconds": 3600, "session_max_seconds": 7200}' \
#     deploy/bench/forward-auth.sh          # the same through a quiet triggered room
#   DURATION=30s CONNECTIONS="128 64" deploy/bench/forward-auth.sh
#
# Needs redis-server, nginx, wrk, curl, and go (or CROWDGATE_BIN=path to a
# built crowdgate). Ports: $BASE_PORT (default 18180) to $BASE_PORT+3.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_needs redis-server nginx wrk curl

connections=${CONNECTIONS:-64 16}
tokens=${TOKENS:-10000}
base_port=${BASE_PORT:-18180}
cg_port=$base_port nginx_port=$((base_port + 1)) origin_port=$((base_port + 2)) plain_port=$((base_port + 3))

start_redis_and_crowdgate "$cg_port" CROWDGATE_ROUTES=/bench/=pt

# The shipped configuration with its three CHANGE lines rewritten, plus a
# trivial origin and a check-free proxy to it, in a main context of our own.
sed -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$cg_port;/" \
    -e "s/server 127.0.0.1:9000;/server 127.0.0.1:$origin_port;/" \
    -e "s/listen 80;/listen 127.0.0.1:$nginx_port;/" \
    "$repo/deploy/nginx-forward-auth.conf" >"$work/site.conf"
start_nginx 2 <<EOF
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
EOF
wait_for "http://127.0.0.1:$origin_port/"

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
[ "$(code -H "Authorization: Bearer $tok" "http://127.0.0.1:$cg_port/auth/v1/check?room=pt")" = 200 ]
# (A quiet traffic-triggered room, PT_ROOM with a trigger, lets one in.)
without=401 via_nginx=302
case ${PT_ROOM:-} in *trigger*) without=200 via_nginx=200 ;; esac
[ "$(code "http://127.0.0.1:$cg_port/auth/v1/check?room=pt")" = "$without" ]
[ "$(code -H "Authorization: Bearer $tok" "http://127.0.0.1:$nginx_port/bench/x")" = 200 ]
[ "$(code "http://127.0.0.1:$nginx_port/bench/x")" = "$via_nginx" ]

banner
for c in $connections; do
  run "direct /auth/v1/check?room=pt" "http://127.0.0.1:$cg_port/auth/v1/check?room=pt" "$c"
  run "nginx + auth_request -> origin" "http://127.0.0.1:$nginx_port/bench/x" "$c"
  run "nginx -> origin (no check)" "http://127.0.0.1:$plain_port/bench/x" "$c"
done
