#!/usr/bin/env bash
# The guided tour: starts `rtlab serve all`, publishes a few messages and
# shows a short-polling client receiving them, then stops everything it
# started (by pid) and shows what the server counted.
# Usage: scripts/tour.sh [PATH_TO_RTLAB]
set -euo pipefail
rtlab=${1:-build/rtlab}
work=$(mktemp -d)
server_pid=""
client_pid=""
cleanup() {
    [[ -n "$client_pid" ]] && kill "$client_pid" 2>/dev/null || true
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -t 1 ]]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi

say "Starting all servers in one process (rtlab serve all --port 0)"
"$rtlab" serve all --port 0 --trace "$work/trace.jsonl" >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on .* short$' "$work/serve.out" 2>/dev/null && break
    sleep 0.05
done
cat "$work/serve.out"
short=$(awk '/ short$/ { split($3, a, ":"); print a[2] }' "$work/serve.out")
[[ -n "$short" ]] || { echo "tour: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
url="http://127.0.0.1:$short"

say "A short-polling client asks every 0.5 s: anything after the last id I saw?"
echo "\$ rtlab client short --url $url --topic tour --interval 0.5 --count 3"
"$rtlab" client short --url "$url" --topic tour --interval 0.5 --count 3 \
    >"$work/client.out" 2>"$work/client.err" &
client_pid=$!

say "Publishing three messages, one a second"
for i in 1 2 3; do
    echo "\$ rtlab publish --url $url --topic tour '{\"n\":$i}'"
    "$rtlab" publish --url "$url" --topic tour "{\"n\":$i}"
    sleep 1
done

say "What the client printed (each message once, in order)"
for _ in $(seq 100); do
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
done
wait "$client_pid" || true
client_pid=""
cat "$work/client.out"
echo "--- its summary:"
cat "$work/client.err"

say "What the server counted (GET /metrics)"
curl -s "$url/metrics"; echo

say "Stopping the server (SIGTERM)"
kill -TERM "$server_pid"
wait "$server_pid"
echo "exit status $?"
server_pid=""
echo "trace: $(wc -l <"$work/trace.jsonl") lines, e.g.:"
head -n 4 "$work/trace.jsonl"
