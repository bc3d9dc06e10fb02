#!/usr/bin/env bash
# Long-polling and SSE benchmark: rtlab and nginx + nchan under the same load,
# from the same load generator, in the same run. Prints its figures; asserts
# nothing.
#
#  1. Memory per idle connection, long polling and SSE: a fresh server and
#     its RSS (VmRSS); then 10,000 clients each holding a poll or a stream
#     (`rtlab load APPROACH --rate 0`) and its RSS while they are held, once
#     the server itself counts them all (rtlab: /metrics "held"; nchan: its
#     stub status "subscribers"). Figure: (held - before) / 10,000.
#  2. Fan-out: 10,000 clients, 20 publishes (2/s for 10.25 s); for each
#     publish, the time until the LAST client had it; p50/p99/max over the
#     20. SSE is the goal's figure; long polling is shown too.
#  3. Both against nginx with the nchan module, one process (master off, one
#     worker), subscribers on /events (EventSource) and /poll (long-poll),
#     driven by `rtlab load --peer nchan`.
#
# Clocks: nchan hands subscribers the published body as it came, so latency
# against it counts from the ts the publisher puts in the body just before
# sending. rtlab is measured the same way (--clock publisher) for the
# comparison, and once more by its own envelope ts (set by the server on
# receipt) for reference.
#
# Usage: scripts/bench-push.sh [--quick]   (--quick: 2,000 clients, shorter holds)
# Env:   CLIENTS (10000)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench-lib.sh
source scripts/bench-lib.sh
bench_build build

rtlab=build/rtlab
clients=${CLIENTS:-10000}
hold_s=4         # how long the idle clients stay once all are in
rate=2           # publishes per second in the fan-out runs ...
fan_s=10.25      # ... for this long: floor(10.25 x 2) = 20 publishes
if [[ "${1:-}" == "--quick" ]]; then clients=${CLIENTS:-2000}; hold_s=2; fi
nchan_so=$(dpkg -L libnginx-mod-nchan | grep '/ngx_nchan_module\.so$' | head -n1)
bench_start
need_open_files "$clients"

# ---- Servers: each run gets a fresh one; $spid, $url and $kind say which.

start_rtlab() { # APPROACH
    start_listening rtlab "$rtlab" serve "$1" --port 0
}

# nginx + nchan, one process. Locations shaped like rtlab's API, so that
# `rtlab load --peer nchan` drives it; the long-poll hold matches the load
# generator's (30 s), and streams get a ping as rtlab's get a heartbeat (15 s).
start_nchan() {
    start_nchan_with "$clients" <<NGINX
        location = /publish { nchan_publisher; nchan_channel_id \$arg_topic; }
        location = /events {
            nchan_subscriber eventsource;
            nchan_channel_id \$arg_topic;
            nchan_eventsource_ping_interval 15;
        }
        location = /poll {
            nchan_subscriber longpoll;
            nchan_channel_id \$arg_topic;
            nchan_subscriber_timeout 30s;
        }
NGINX
}

start_server() { # SERVER APPROACH
    if [[ "$1" == rtlab ]]; then start_rtlab "$2"; else start_nchan; fi
}

# How many polls or streams the server says it holds now.
held_now() {
    if [[ "$kind" == rtlab ]]; then
        curl -s "$url/metrics" | python3 -c \
            'import json,sys; m=json.load(sys.stdin); print(sum(v.get("held",0) for v in m.values()))'
    else
        nchan_held
    fi
}

cpu_ticks() { # the server's user and system CPU time so far, in clock ticks
    awk '{ print $14, $15 }' "/proc/$spid/stat"
}

# ---- 1. Memory per idle connection

idle_run() { # SERVER APPROACH
    local server=$1 ap=$2 peer=() before shm0 held=0 rss shm
    start_server "$server" "$ap"
    [[ "$server" == nchan ]] && peer=(--peer nchan)
    sleep 0.2
    before=$(status_kb VmRSS)
    shm0=$(status_kb RssShmem)
    "$rtlab" load "$ap" --url "$url" "${peer[@]}" --clients "$clients" --rate 0 \
        --duration "$hold_s" --json >"$work/idle.json" 2>"$work/idle.err" &
    local lpid=$!
    pids+=("$lpid")
    wait_held "$clients" >/dev/null
    sleep 1 # the last requests read, the last buffers freed
    rss=$(status_kb VmRSS)
    shm=$(status_kb RssShmem)
    held=$(held_now)
    reap "$lpid"
    stop_server
    local per=$(((rss - before) * 1024 / clients))
    printf '%-5s %-4s  RSS %6d kB before, %7d kB with %5d held (server count)  -> %6d bytes/conn' \
        "$server" "$ap" "$before" "$rss" "$held" "$per"
    [[ "$server" == nchan ]] && printf '  (shared memory touched: %d -> %d kB)' "$shm0" "$shm"
    echo
    if ((held != clients)); then
        echo "      warning: the server held $held, not $clients; load said:" >&2
        tail -n 3 "$work/idle.err" >&2
    fi
    record "$server.$ap.bytes" "$per"
    record "$server.$ap.held" "$held"
    record "$server.$ap.rss_before_kb" "$before"
    record "$server.$ap.rss_held_kb" "$rss"
}

# ---- 2. Fan-out

# The server's CPU time is taken from when it holds every client to the end
# of the run: the 20 publishes and what they cause, not the connecting.
fanout_run() { # SERVER APPROACH CLOCK
    local server=$1 ap=$2 clock=$3 opts=(--clock "$3") cpu0 cpu1
    start_server "$server" "$ap"
    [[ "$server" == nchan ]] && opts=(--peer nchan)
    "$rtlab" load "$ap" --url "$url" "${opts[@]}" --clients "$clients" --rate "$rate" \
        --duration "$fan_s" --json >"$work/fan.json" 2>"$work/fan.err" &
    local lpid=$!
    pids+=("$lpid")
    wait_held "$clients" >/dev/null
    cpu0=$(cpu_ticks)
    reap "$lpid"
    cpu1=$(cpu_ticks)
    stop_server
    if ! python3 - "$work/fan.json" "$server" "$ap" "$clock" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" \
        >>"$work/results" <<'PY'; then
import json, sys
path, server, ap, clock, cpu0, cpu1, hz = sys.argv[1:]
r = json.load(open(path))
f, l = r["fanout_ms"], r["latency_ms"]
(u0, s0), (u1, s1), hz = map(int, cpu0.split()), map(int, cpu1.split()), int(hz)
n = max(r["published"], 1)
cpu_user, cpu_sys = (u1 - u0) * 1000 / hz / n, (s1 - s0) * 1000 / hz / n
print(f"{server}-{ap}-{clock}: fan-out p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms, "
      f"max {f['max']:.1f} ms ({f['complete']} of {f['messages']} publishes reached all "
      f"{r['clients']}); latency p50 {l['p50']:.1f} ms, p99 {l['p99']:.1f} ms; "
      f"delivered {r['delivered']} of {r['expected']}, {r['errors']} errors, "
      f"{r['reconnects']} reconnects; server CPU {cpu_user + cpu_sys:.0f} ms per publish "
      f"(user {cpu_user:.0f}, system {cpu_sys:.0f})", file=sys.stderr)
key = f"{server}.{ap}.{clock}"
for k in ("p50", "p99", "max", "complete", "messages"):
    print(f"{key}.fan_{k}={f[k]}")
print(f"{key}.cpu_ms={cpu_user + cpu_sys}")
PY
        echo "bench: no report from the $server $ap fan-out run:" >&2
        tail -n 5 "$work/fan.err" >&2
    fi
}

echo "== memory per idle connection: $clients clients, held ${hold_s} s"
for ap in long sse; do
    idle_run rtlab "$ap"
    idle_run nchan "$ap"
done

echo
echo "== fan-out: $clients clients, $(python3 -c "import math; print(math.floor($rate * $fan_s))") publishes at $rate/s"
fanout_run rtlab sse publisher 2>&1
fanout_run nchan sse publisher 2>&1
fanout_run rtlab sse server 2>&1
fanout_run rtlab long publisher 2>&1
fanout_run nchan long publisher 2>&1

# ---- Summary

echo
python3 - "$work/results" "$clients" <<'PY'
import sys
res = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
clients = int(sys.argv[2])

def val(key):
    v = res.get(key)
    return float(v) if v is not None else None

def fmt(v, unit=""):
    return "n/a" if v is None else (f"{v:.0f}" if unit == "B" else f"{v:.1f}")

def ratio(a, b):
    return "n/a" if a is None or b is None or a == 0 else f"{b / a:.2f}"

rows = []
for ap in ("long", "sse"):
    a, b = val(f"rtlab.{ap}.bytes"), val(f"nchan.{ap}.bytes")
    rows.append((f"{ap:4}  bytes per idle connection", fmt(a, "B"), fmt(b, "B"), ratio(a, b)))
for ap in ("sse", "long"):
    for k in ("p50", "p99", "max"):
        a = val(f"rtlab.{ap}.publisher.fan_{k}")
        b = val(f"nchan.{ap}.publisher.fan_{k}")
        rows.append((f"{ap:4}  fan-out {k:3} (ms)", fmt(a), fmt(b), ratio(a, b)))
    a, b = val(f"rtlab.{ap}.publisher.cpu_ms"), val(f"nchan.{ap}.publisher.cpu_ms")
    rows.append((f"{ap:4}  server CPU per publish (ms)", fmt(a), fmt(b), ratio(a, b)))

print(f"== summary: {clients} clients; fan-out over 20 publishes, publisher's clock for both")
print(f"{'':34} {'rtlab':>9} {'nchan':>9} {'nchan/rtlab':>12}")
for name, a, b, r in rows:
    print(f"{name:34} {a:>9} {b:>9} {r:>12}")
s = [val(f"rtlab.sse.server.fan_{k}") for k in ("p50", "p99", "max")]
print("(over 20 publishes, p99 by nearest rank is the largest: p99 = max)")
print(f"rtlab sse fan-out by its own envelope ts (server clock): "
      f"p50 {fmt(s[0])} ms, p99 {fmt(s[1])} ms, max {fmt(s[2])} ms")

def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "NOT met")

def le(a, b):
    return None if a is None or b is None else a <= b

lb, sb = val("rtlab.long.bytes"), val("rtlab.sse.bytes")
p99 = val("rtlab.sse.publisher.fan_p99")
print("goals (set for 10000 clients):" if clients == 10000
      else f"goals (set for 10000 clients; this run had {clients}, so only indicative):")
print(f"  <= 1 KiB per idle connection     long {verdict(le(lb, 1024))}, "
      f"sse {verdict(le(sb, 1024))}")
print(f"  sse fan-out p99 < 50 ms          {verdict(None if p99 is None else p99 < 50)}")
ahead_mem = [le(val(f"rtlab.{ap}.bytes"), val(f"nchan.{ap}.bytes")) for ap in ("long", "sse")]
ahead_fan = le(p99, val("nchan.sse.publisher.fan_p99"))
print(f"  ahead of nchan                   memory long {verdict(ahead_mem[0])}, "
      f"sse {verdict(ahead_mem[1])}; sse fan-out p99 {verdict(ahead_fan)}")
PY
echo "(nchan's RSS is its one nginx process's VmRSS: it includes the pages of nchan's"
echo " shared memory that process touched, shown above; nginx allocates its connection"
echo " table for worker_connections at start, so that is in 'before', not per connection.)"
