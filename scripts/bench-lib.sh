# shellcheck shell=bash
# What the benchmark scripts (bench-short.sh, bench-push.sh, bench-ws.sh)
# share: the build, their work directory and the processes they start,
# starting a server and finding its port, nginx + nchan's common
# configuration, and reading a server's memory and subscriber count. Sourced
# from the repository root by a script that has set -euo pipefail; defines
# functions only.
#
# Globals: $work and $pids (bench_start); $kind, $spid and $url name the
# server of the last start_listening or start_nchan_with; results go to
# $work/results. The caller sets $nchan_so for start_nchan_with and defines
# held_now for wait_held.

# Installs the packages the benchmarks use (scripts/deps.sh --bench) and
# builds rtlab into DIR as Release.
bench_build() { # DIR
    scripts/deps.sh --bench
    scripts/build.sh "$1" -DCMAKE_BUILD_TYPE=Release >/dev/null
}

# Makes the work directory $work and the list $pids of processes to stop,
# and removes both when the script exits, however it exits.
bench_start() {
    work=$(mktemp -d)
    pids=()
    trap cleanup EXIT
}

# Stops every process still on the list and removes the work directory.
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

# Waits for PID and drops it from the list, so that cleanup never signals a
# number the system may since have given to someone else's process.
reap() {
    wait "$1" 2>/dev/null || true
    local p kept=()
    for p in "${pids[@]}"; do [[ "$p" == "$1" ]] || kept+=("$p"); done
    pids=("${kept[@]}")
}

# The server and the load generator each hold one socket per client: exits
# unless the hard limit on open files allows N clients, then raises the soft
# limit to the hard one.
need_open_files() { # N
    if (($(ulimit -Hn) < $1 + 100)); then
        echo "bench: need $(($1 + 100)) open files per process, the hard limit is $(ulimit -Hn)" >&2
        exit 1
    fi
    ulimit -n "$(ulimit -Hn)"
}

# A TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts COMMAND, a server on port 0 that prints `listening on HOST:PORT`,
# in the background with its output in $work/serve.out and serve.err; waits
# for that line (at most 10 s) and sets $kind to KIND, $spid and $url.
start_listening() { # KIND COMMAND...
    kind=$1
    shift
    "$@" >"$work/serve.out" 2>"$work/serve.err" &
    spid=$!
    pids+=("$spid")
    for _ in $(seq 200); do
        grep -q '^listening on' "$work/serve.out" 2>/dev/null && break
        sleep 0.05
    done
    local port
    port=$(sed -n 's/^listening on .*:\([0-9]*\).*/\1/p' "$work/serve.out" | head -n1)
    [[ -n "$port" ]] || {
        echo "bench: $kind did not start:" >&2
        cat "$work/serve.out" "$work/serve.err" >&2
        exit 1
    }
    url="http://127.0.0.1:$port"
}

# nginx + nchan, one process (master off, one worker), sized for CLIENTS
# connections. Its one server block has the `location`s read from standard
# input and /nchan_status (the stub status held_now reads). Sets $kind to
# nchan, $spid and $url; exits with nginx's error log if it does not answer.
# shellcheck disable=SC2154 # $nchan_so is the caller's
start_nchan_with() { # CLIENTS <LOCATIONS
    local port locations
    port=$(free_port)
    locations=$(cat)
    cat >"$work/nginx.conf" <<NGINX
load_module $nchan_so;
worker_processes 1;
daemon off;
master_process off;
worker_rlimit_nofile $(($1 + 4096));
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections $(($1 + 2048)); }
http {
    access_log off;
    keepalive_requests 1000000;
    nchan_shared_memory_size 64m;
    server {
        listen 127.0.0.1:$port backlog=4096;
$locations
        location = /nchan_status { nchan_stub_status; }
    }
}
NGINX
    nginx -c "$work/nginx.conf" -p "$work" 2>>"$work/nginx-error.log" &
    spid=$!
    pids+=("$spid")
    url="http://127.0.0.1:$port"
    kind=nchan
    for _ in $(seq 100); do
        curl -s -o /dev/null "$url/nchan_status" && return
        sleep 0.05
    done
    echo "bench: nginx + nchan did not start; see below" >&2
    cat "$work/nginx-error.log" >&2
    exit 1
}

# Stops the server of the last start_*. (nchan 1.3.6 may abort on the way
# out of a master-less nginx - "double free" - after our figures are taken;
# its exit status is ignored, as every server's is.)
stop_server() {
    kill "$spid" 2>/dev/null || true
    reap "$spid"
}

# How many subscribers nchan says it has now (its stub status).
nchan_held() {
    curl -s "$url/nchan_status" | sed -n 's/^subscribers: *//p'
}

# Waits until the server holds N clients by the script's held_now (at most
# a minute); prints the count.
wait_held() { # N
    local held=0
    for _ in $(seq 600); do
        held=$(held_now)
        ((${held:-0} >= $1)) && break
        sleep 0.1
    done
    echo "${held:-0}"
}

status_kb() { # FIELD: from the server's /proc/PID/status, in kB
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$spid/status"
}

# Adds KEY=VALUE to the results the summary reads.
record() { echo "$1=$2" >>"$work/results"; }
