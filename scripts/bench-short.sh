#!/usr/bin/env bash
# Short-polling benchmark. Prints its figures; asserts nothing.
#
#  1. `rtlab load short`: 1,000 clients polling every 1 s for 20 s, plus a
#     publisher at 10 messages/s, against `rtlab serve short`.
#  2. wrk against the 204 path of `rtlab serve short` and against nginx
#     (one worker, `return 204`), same wrk settings, same run.
#
# Usage: scripts/bench-short.sh [--quick]   (--quick: shorter runs)
# Env:   WRK_THREADS (1) WRK_CONNS (100) WRK_SECONDS (10) WRK_ROUNDS (3)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench-lib.sh
source scripts/bench-lib.sh
bench_build build

rtlab=build/rtlab
dur=20
wrk_s=${WRK_SECONDS:-10}
threads=${WRK_THREADS:-1}
rounds=${WRK_ROUNDS:-3}
if [[ "${1:-}" == "--quick" ]]; then dur=5; wrk_s=3; rounds=1; fi
conns=${WRK_CONNS:-100}
bench_start

# Starts `rtlab serve short` on a free port; sets $url.
start_rtlab() {
    start_listening rtlab "$rtlab" serve short --port 0
}

start_nginx() {
    nport=$(free_port)
    cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nport;
        location / { return 204; }
    }
}
NGINX
    nginx -c "$work/nginx.conf" -p "$work" &
    pids+=($!)
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$nport/" && break
        sleep 0.05
    done
}

wrk_rps() { # URL -> requests/s
    wrk -t"$threads" -c"$conns" -d"${wrk_s}s" "$1" >"$work/wrk.out"
    awk '/Requests\/sec:/ { print $2 }' "$work/wrk.out"
}

echo "== rtlab load short: 1000 clients, 1 s interval, ${dur} s, 10 msg/s"
start_rtlab
"$rtlab" load short --url "$url" --clients 1000 --interval 1 \
    --duration "$dur" --rate 10
echo
echo "server metrics: $(curl -s "$url/metrics")"

echo
echo "== wrk -t$threads -c$conns -d${wrk_s}s on the 204 path, $rounds rounds alternating"
start_nginx
ours=() theirs=()
for r in $(seq "$rounds"); do
    ours+=("$(wrk_rps "$url/poll?topic=bench&since=0")")
    theirs+=("$(wrk_rps "http://127.0.0.1:$nport/poll?topic=bench&since=0")")
    echo "round $r: rtlab ${ours[-1]}  nginx ${theirs[-1]} requests/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
a=$(median "${ours[@]}")
b=$(median "${theirs[@]}")
echo "rtlab serve short : $a requests/s (median)"
echo "nginx return 204  : $b requests/s (median, one worker)"
awk -v a="$a" -v b="$b" 'BEGIN { printf "ratio rtlab/nginx : %.2f\n", a / b }'
