#!/usr/bin/env bash
# The guided tour: starts `rtlab serve all`, runs a short-polling, a
# long-polling, an SSE and a WebSocket client side by side, publishes a few messages,
# shows what each client received and how late, then stops everything it
# started (by pid) and shows what the servers counted.
# Usage: scripts/tour.sh [PATH_TO_RTLAB]
set -euo pipefail
rtlab=${1:-build/rtlab}
work=$(mktemp -d)
server_pid=""
client_pids=()
cleanup() {
    for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -t 1 ]]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi
port_of() { awk -v ap="$1" '$4 == ap { split($3, a, ":"); print a[2] }' "$work/serve.out"; }

say "Starting every server in one process, sharing one bus (rtlab serve all --port 0)"
"$rtlab" serve all --port 0 --trace "$work/trace.jsonl" >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on .* ws$' "$work/serve.out" 2>/dev/null && break
    sleep 0.05
done
cat "$work/serve.out"
short=$(port_of short) long=$(port_of long) sse=$(port_of sse) ws=$(port_of ws)
[[ -n "$ws" ]] || { echo "tour: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }

say "Four clients follow topic 'tour', each its own way"
echo "short polling: asks every 2 s, 'anything after the last id I saw?'"
echo "long polling:  asks, and the server holds the question until there is an answer"
echo "SSE:           one request whose answer never ends; events arrive as they happen"
echo "WebSocket:     one upgraded connection, frames both ways; it subscribes, then waits"
run_client() { # NAME ARGS...
    local name=$1
    shift
    echo "\$ rtlab client $name $*"
    "$rtlab" client "$name" "$@" --topic tour --count 3 >"$work/$name.out" 2>"$work/$name.err" &
    client_pids+=($!)
}
run_client short --url "http://127.0.0.1:$short" --interval 2
run_client long --url "http://127.0.0.1:$long"
run_client sse --url "http://127.0.0.1:$sse"
run_client ws --url "ws://127.0.0.1:$ws/ws"
sleep 0.5

say "Publishing three messages, 1.3 s apart (to any server: they share the bus)"
for i in 1 2 3; do
    echo "\$ rtlab publish --url http://127.0.0.1:$short --topic tour '{\"n\":$i}'"
    "$rtlab" publish --url "http://127.0.0.1:$short" --topic tour "{\"n\":$i}"
    sleep 1.3
done

say "What each client printed: every message once, in order, and how late"
for p in "${client_pids[@]}"; do
    for _ in $(seq 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    wait "$p" || true
done
client_pids=()
for name in short long sse ws; do
    echo "--- $name:"
    cat "$work/$name.out"
    grep '^summary' "$work/$name.err" || cat "$work/$name.err"
done
echo
echo "Short polling pays up to its interval in latency (half on average) and asks"
echo "even when nothing is new; long polling, SSE and WebSockets deliver within"
echo "milliseconds."

say "What the servers counted (GET /metrics)"
curl -s "http://127.0.0.1:$short/metrics"
echo

say "Stopping the servers (SIGTERM)"
kill -TERM "$server_pid"
wait "$server_pid"
echo "exit status $?"
server_pid=""
echo "trace: $(wc -l <"$work/trace.jsonl") lines, e.g.:"
head -n 4 "$work/trace.jsonl"
