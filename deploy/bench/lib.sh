# Shared by the benchmark scripts in this folder; source it after
# `set -euo pipefail`. It gives each run a work folder, and on exit stops
# what the run started (bench_start) and removes the folder. It starts a
# private redis-server and `crowdgate serve` with a passthrough room "pt",
# and runs wrk with check.lua over the admission tokens in $work/tokens.
#
# Reads DURATION, THREADS and CROWDGATE_BIN (a built crowdgate; else one is
# built from this checkout).

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
duration=${DURATION:-10s}
threads=${THREADS:-2}

# bench_needs TOOL...: stop at once when one is missing.
bench_needs() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
  done
}

work=$(mktemp -d /tmp/cg-bench.XXXXXX)
chmod 755 "$work" # nginx's workers may run as another user
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# bench_start CMD...: run CMD in the background until the run ends.
bench_start() {
  "$@" &
  pids+=($!)
}

bin=${CROWDGATE_BIN:-}
built="CROWDGATE_BIN=$bin"
if [ -z "$bin" ]; then
  bin=$work/crowdgate
  (cd "$repo" && go build -o "$bin" ./cmd/crowdgate)
  built="crowdgate built from $(git -C "$repo" describe --always --dirty 2>/dev/null || echo "$repo")"
fi

# wait_for URL: until it answers 2xx/3xx, for up to 10 s.
wait_for() {
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# code CURL-ARGS...: the HTTP status of one request.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# start_redis_and_crowdgate PORT [VAR=value...]: a private Redis on a Unix
# socket, and Crowdgate on 127.0.0.1:PORT with admin token "bench", the
# given extra environment, and a room "pt": passthrough, or as $PT_ROOM
# says (a room document). Loopback is in --limit-bypass: the load comes
# from this box, and the per-address limits would otherwise take it for
# one script (X-Forwarded-For addresses behind --trusted-proxies are still
# counted).
start_redis_and_crowdgate() {
  local port=$1 room=${PT_ROOM:-'{"passthrough": true, "session_seconds": 3600}'}
  shift
  bench_start redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 --dir "$work" \
    --save '' --appendonly no --logfile "$work/redis.log" --daemonize no
  env CROWDGATE_ADDR="127.0.0.1:$port" CROWDGATE_REDIS_URL="unix://$work/redis.sock" \
    CROWDGATE_ADMIN_TOKEN=bench CROWDGATE_LOG_LEVEL=warn CROWDGATE_LIMIT_BYPASS=127.0.0.0/8 "$@" \
    "$bin" serve >"$work/crowdgate.out" 2>"$work/crowdgate.log" &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/readyz"
  curl -fsS -X PUT -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
    -d "$room" \
    "http://127.0.0.1:$port/admin/v1/rooms/pt" >/dev/null
}

# start_nginx WORKERS: nginx with WORKERS workers, its files in $work and
# the http block's servers read from stdin.
start_nginx() {
  local servers
  servers=$(cat)
  cat >"$work/nginx.conf" <<EOF
worker_processes $1;
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
$servers
}
EOF
  nginx -t -q -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log"
  bench_start nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;'
}

# banner: what the figures below were measured on.
banner() {
  echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$threads -d$duration; $(nginx -v 2>&1); $built"
}

# run NAME URL CONNECTIONS: one wrk run cycling through $work/tokens' bearer
# tokens, as one line.
run() {
  local line
  line=$(TOKENS_FILE=$work/tokens wrk -t"$threads" -c"$3" -d"$duration" -s "$here/check.lua" "$2" | grep '^RESULT')
  printf '%-34s c=%-4s %s\n' "$1" "$3" "${line#RESULT }"
}
