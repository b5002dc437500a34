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
. "$(dirname "$0")/lib.sh"
bench_needs redis-server nginx wrk curl go

connections=${CONNECTIONS:-16 64}
rows_list=${ROWS:-0 100}
base_port=${BASE_PORT:-18280}
cg_port=$base_port nginx_port=$((base_port + 1)) origin_port=$((base_port + 2)) goproxy_port=$((base_port + 3))

(cd "$repo" && go build -o "$work/origin" ./deploy/bench/origin && go build -o "$work/goproxy" ./deploy/bench/goproxy)
start_redis_and_crowdgate "$cg_port" CROWDGATE_UPSTREAM="http://127.0.0.1:$origin_port" CROWDGATE_ROUTES=/shop/=pt

# Sixteen admitted visitors; every request, on every path, carries one's
# token, so every run sends the same bytes.
: >"$work/tokens"
for _ in $(seq 16); do
  curl -fsS -X POST "http://127.0.0.1:$cg_port/api/v1/rooms/pt/join" |
    sed -n 's/.*"admission_token":"\([^"]*\)".*/\1/p' >>"$work/tokens"
done
[ "$(grep -c . "$work/tokens")" = 16 ] || { echo "could not collect admission tokens" >&2; exit 1; }
tok=$(head -1 "$work/tokens")

bench_start "$work/goproxy" -addr "127.0.0.1:$goproxy_port" -upstream "http://127.0.0.1:$origin_port"
start_nginx auto <<EOF
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
EOF
banner
for rows in $rows_list; do
  "$work/origin" -addr "127.0.0.1:$origin_port" -rows "$rows" &
  origin_pid=$!
  pids+=("$origin_pid")
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
done
