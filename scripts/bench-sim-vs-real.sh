#!/usr/bin/env bash
# The simulator against the real servers: for each approach, `rtlab serve`
# under `rtlab load`, then `rtlab sim` with the same parameters, side by side.
# Prints its figures; asserts nothing. docs/sim-vs-real.md explains them.
#
# For each of short polling, long polling, SSE and WebSocket:
#
#  1. A fresh `rtlab serve APPROACH --port 0` on loopback (SSE and WebSocket
#     with --heartbeat H, so that heartbeats happen within the run).
#  2. One publish on another topic of the same length ("cali"), exactly as
#     the load generator's publisher sends it, with /metrics read before and
#     after: checks that /metrics counts the bytes we think it counts, and
#     measures the publish answer's size.
#  3. `rtlab load APPROACH`: CLIENTS subscribers on topic "news" and a
#     publisher at RATE messages/s for DURATION seconds (short: --interval 1;
#     long: --timeout 30; SSE and WebSocket: --heartbeat H; WebSocket
#     --no-deflate, because the simulator counts frames uncompressed).
#  4. /metrics at the start and end of a steady window inside the run: once
#     every client is connected (or holds its poll) plus SETTLE_S, for
#     DURATION - SETTLE_S - 3 seconds. The window's requests, empty answers,
#     deliveries and bytes in and out, less the publisher's POSTs (their exact
#     bytes, from the calibration) and the second /metrics request itself.
#     /metrics' bytes are application bytes (TCP payload: servers/harness/
#     conn.c counts what it reads and writes), so the simulator runs --no-tcp.
#  5. `rtlab sim --approach APPROACH --clients CLIENTS --interval 1 --rate RATE
#     --topics 1 --duration DURATION --rtt 0.1 --timeout 30 --heartbeat H
#     --payload P --no-tcp --seed 1`, P the publisher's mean data length.
#
# The real figures come from two places: the load report (latency, the
# whole run's deliveries) and the server's /metrics over the steady window
# (rates and bytes). Whole-run /metrics figures, connection set-up included,
# are shown beside them.
#
# Usage: scripts/bench-sim-vs-real.sh [--quick] [--help]
#        (--quick: 300 clients for 12 s; about a minute in all)
# Env:   CLIENTS (1000, at most 5000), DURATION (25 s, 10 to 60), RATE (2
#        messages/s, 0.5 to 20), HEARTBEAT (5 s, 1 to 30), BENCH_BUILD (build:
#        the Release build directory)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
quick=false
for arg in "$@"; do
    case "$arg" in
    --help | -h) usage; exit 0 ;;
    --quick) quick=true ;;
    *) echo "bench-sim-vs-real: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

clients=${CLIENTS:-1000}
dur=${DURATION:-25}
rate=${RATE:-2}
hb=${HEARTBEAT:-5}
if $quick; then clients=${CLIENTS:-300}; dur=${DURATION:-12}; fi
settle=2 # seconds after every client is in before the window opens
# Bounded: the whole script should stay within a few minutes and a few
# thousand sockets.
in_range() { # VALUE LO HI: a number within [LO, HI]
    python3 -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(not lo <= v <= hi)' \
        "$1" "$2" "$3" 2>/dev/null
}
check() { # NAME VALUE LO HI
    in_range "$2" "$3" "$4" || {
        echo "bench-sim-vs-real: $1 must be from $3 to $4, not '$2'" >&2
        exit 2
    }
}
check CLIENTS "$clients" 1 5000
check DURATION "$dur" 10 60
check RATE "$rate" 0.5 20
check HEARTBEAT "$hb" 1 30
[[ "$clients" =~ ^[0-9]+$ && "$dur" =~ ^[0-9]+$ ]] || {
    echo "bench-sim-vs-real: CLIENTS and DURATION must be whole numbers" >&2
    exit 2
}
window=$((dur - settle - 3))

# shellcheck source=bench-lib.sh
source scripts/bench-lib.sh
build=${BENCH_BUILD:-build}
scripts/deps.sh # the build's packages only: no nginx or wrk here
scripts/build.sh "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
rtlab=$build/rtlab
bench_start
need_open_files "$clients"

# ---- The helper: /metrics over a raw socket (so that its own bytes are
# known exactly), the calibration publish, and the report.

cat >"$work/helper.py" <<'PY'
import json, socket, sys, time

def exchange(port, data):
    """Sends data on a new connection and reads until the server closes it."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out

def snap(port, path):
    req = (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           "Connection: close\r\n\r\n").encode()
    resp = exchange(port, req)
    t = time.time()
    body = resp.split(b"\r\n\r\n", 1)[1]
    json.dump({"t": t, "req": len(req), "resp": len(resp), "m": json.loads(body)}, open(path, "w"))

def digits(n):
    return len(str(n))

def pub_request(port, topic, seq):
    """The load generator's publish, byte for byte (clients/load.c
    publish_due, clients/hclient.c format_request)."""
    body = '{"seq":%d,"ts":%d}' % (seq, int(time.time() * 1e6))
    head = (f"POST /publish?topic={topic}&event=load HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"User-Agent: rtlab\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body.encode(), len("Connection: close\r\n")

def calibrate(port, path):
    """One publish on topic cali: its answer's size, and a check that
    /metrics counts exactly the application bytes of it."""
    snap(port, path + ".0")
    req, close_hdr = pub_request(port, "cali", 1)
    resp = exchange(port, req)
    snap(port, path + ".1")
    a, b = (json.load(open(path + p)) for p in (".0", ".1"))
    ma, mb = (next(v for k, v in x["m"].items() if k != "bus") for x in (a, b))
    d_in, d_out = mb["bytes_in"] - ma["bytes_in"], mb["bytes_out"] - ma["bytes_out"]
    ok = d_in == len(req) + b["req"] and d_out == len(resp) + a["resp"]
    # The answer without `Connection: close` (the publisher keeps its
    # connection): the server adds that header only when closing.
    ans = len(resp) - (len("Connection: close\r\n") if b"Connection: close" in resp else 0)
    json.dump({"ok": ok, "d_in": d_in, "want_in": len(req) + b["req"], "d_out": d_out,
               "want_out": len(resp) + a["resp"], "answer_id1": ans, "close_hdr": close_hdr},
              open(path, "w"))

def pub_bytes(cal, port, topic, first, last):
    """Bytes up and down of the publishes with ids first..last (seq = id on
    a fresh topic): each request with its {"seq","ts"} body, each answer
    {"id":N} with its head."""
    up = down = 0
    head = len(f"POST /publish?topic={topic}&event=load HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "User-Agent: rtlab\r\nContent-Type: application/json\r\nContent-Length: \r\n\r\n")
    for i in range(first, last + 1):
        body = 30 + digits(i)  # {"seq":I,"ts":16 digits}
        up += head + digits(body) + body
        ab = 7 + digits(i)  # {"id":I}
        down += cal["answer_id1"] - 8 - 1 + ab + digits(ab)
    return up, down

def server_m(x):
    return next(v for k, v in x["m"].items() if k != "bus")

def window(cal, port, clients, a, b):
    """The steady window's figures, less the publisher and our own /metrics."""
    ma, mb = server_m(a), server_m(b)
    pa, pb = a["m"]["bus"]["published"] - 1, b["m"]["bus"]["published"] - 1  # less cali's
    dt = b["t"] - a["t"]
    d = {k: mb[k] - ma[k] for k in ("requests", "empty", "delivered", "bytes_in", "bytes_out")}
    up, down = pub_bytes(cal, port, "news", pa + 1, pb)
    d["requests"] -= (pb - pa) + 1
    d["bytes_in"] -= up + b["req"]
    d["bytes_out"] -= down + a["resp"]
    return {
        "secs": dt,
        "rps": d["requests"] / dt,
        "empty": d["empty"] / d["requests"] if d["requests"] else 0.0,
        "up": d["bytes_in"] / clients / dt,
        "down": d["bytes_out"] / clients / dt,
        "published_ps": (pb - pa) / dt,
        "delivered_ps": d["delivered"] / dt,
        "down_per_msg": d["bytes_out"] / d["delivered"] if d["delivered"] else 0.0,
        # the snapshot's own connection and the publisher's are not clients
        "connections": mb["connections"] - 2,
    }

def fmt(v, nd):
    return "-" if v is None else f"{v:,.{nd}f}"

def per(a, b):
    return a / b if b else None

def ratio(s, r):
    if s is None or r is None:
        return "-"
    if r == 0:
        return "=" if s == 0 else "-"
    return f"{s / r:.2f}"

def report(work, ap, port, clients, dur, rate, hb):
    cal = json.load(open(f"{work}/{ap}.cal"))
    ld = json.load(open(f"{work}/{ap}.load.json"))
    sim = json.load(open(f"{work}/{ap}.sim.json"))
    snaps = {k: json.load(open(f"{work}/{ap}.{k}")) for k in ("m0", "ma", "mb", "m1")}
    w = window(cal, port, clients, snaps["ma"], snaps["mb"])
    whole = window(cal, port, clients, snaps["m0"], snaps["m1"])
    sd = sim["duration_s"]
    spub, sdel = sim["messages"]["published"], sim["messages"]["delivered"]
    knob = {"short": "interval 1 s", "long": "timeout 30 s",
            "sse": f"heartbeat {hb} s", "ws": f"heartbeat {hb} s, no deflate"}[ap]
    name = {"short": "short polling", "long": "long polling", "sse": "SSE", "ws": "WebSocket"}[ap]
    print(f"\n== {name}: {clients} clients, {knob}, {rate} msg/s, {dur} s, rtt 0.1 ms (sim)")
    if not cal["ok"]:
        print(f"   warning: /metrics counted {cal['d_in']} in / {cal['d_out']} out for the "
              f"calibration publish, not {cal['want_in']} / {cal['want_out']}")
    print(f"   load: connect {ld['connect_s']:.1f} s, ran {ld['duration_s']:.1f} s + "
          f"{ld['drain_s']:.1f} s drain, {ld['connections']} connections opened, "
          f"{ld['reconnects']} reconnects, {ld['errors']} errors; /metrics window "
          f"{w['secs']:.1f} s")
    sim_del_ps = sdel / sd
    rows = [
        # name, real, real's source, sim, decimals
        ("requests/s", w["rps"], "metrics", sim["requests_per_s"], 1),
        ("requests/s (load, run)", ld["requests_per_s"], "load", sim["requests_per_s"], 1),
        ("requests / published", per(w["rps"], w["published_ps"]), "metrics",
         per(sim["requests_per_s"], spub / sd), 1),
        ("empty fraction", w["empty"], "metrics", sim["empty_fraction"], 4),
        ("empty fraction (load, run)", ld["empty_share"], "load", sim["empty_fraction"], 4),
        ("latency p50 ms", ld["latency_ms"]["p50"], "load", sim["latency_ms"]["p50"], 2),
        ("latency p99 ms", ld["latency_ms"]["p99"], "load", sim["latency_ms"]["p99"], 2),
        ("bytes up /client/s", w["up"], "metrics", sim["bytes_per_client_s"]["up"], 2),
        ("bytes down /client/s", w["down"], "metrics", sim["bytes_per_client_s"]["down"], 2),
        ("bytes up /request", per(w["up"] * clients, w["rps"]), "metrics",
         per(sim["bytes_per_client_s"]["up"] * clients, sim["requests_per_s"]), 1),
        ("bytes down /delivery", w["down_per_msg"], "metrics",
         sim["bytes"]["down"] / sdel if sdel else None, 1),
        ("published /s", w["published_ps"], "metrics", spub / sd, 2),
        ("delivered /s", w["delivered_ps"], "metrics", sim_del_ps, 1),
        ("delivered / (published x N)", ld["delivered"] / ld["expected"] if ld["expected"] else None,
         "load", sdel / (spub * clients) if spub else None, 4),
        ("connections", w["connections"], "metrics", sim["connections"], 1),
        # Totals per client over the whole load run (connect and drain
        # included) against the simulated run's (neither).
        ("whole run: bytes up /client", whole["up"] * whole["secs"], "metrics",
         sim["bytes"]["up"] / clients, 0),
        ("whole run: bytes down /client", whole["down"] * whole["secs"], "metrics",
         sim["bytes"]["down"] / clients, 0),
    ]
    print(f"   {'':30} {'real':>12} {'from':>8} {'sim':>12} {'sim/real':>9}")
    for label, r, src, s, nd in rows:
        print(f"   {label:30} {fmt(r, nd):>12} {src:>8} {fmt(s, nd):>12} {ratio(s, r):>9}")
    print(f"   (real: {ld['published']} published, {ld['delivered']} of {ld['expected']} "
          f"delivered, drain included; sim: {spub} published, {sdel} delivered, "
          f"{sim['messages']['in_flight']} in flight at the end, {sim['heartbeats']} heartbeats)")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "snap":
        snap(int(sys.argv[2]), sys.argv[3])
    elif cmd == "calibrate":
        calibrate(int(sys.argv[2]), sys.argv[3])
    elif cmd == "held":  # held, connections
        port = int(sys.argv[2])
        snap(port, sys.argv[3])
        m = server_m(json.load(open(sys.argv[3])))
        print(m["held"], m["connections"])
    elif cmd == "payload":  # the mean data length of publishes 1..n
        n = max(1, int(float(sys.argv[2])))
        print(round(sum(30 + digits(i) for i in range(1, n + 1)) / n))
    elif cmd == "report":
        report(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
               sys.argv[7], sys.argv[8])
PY
helper() { python3 "$work/helper.py" "$@"; }

payload=$(helper payload "$(python3 -c "print($rate * $dur)")")

# ---- One approach: the real run, then the simulated one.

# Waits until every client is in: holds its poll or stream (long, SSE,
# WebSocket) or has its connection (short polling). At most a minute.
wait_in() { # APPROACH PORT
    local held conns
    for _ in $(seq 600); do
        read -r held conns < <(helper held "$2" "$work/probe")
        if [[ "$1" == short ]]; then
            ((conns >= clients)) && return
        else
            ((held >= clients)) && return
        fi
        sleep 0.1
    done
    echo "bench-sim-vs-real: $1: the clients did not all get in (held $held, connections $conns)" >&2
}

run_one() { # APPROACH
    local ap=$1 sopts=() lopts=() port lpid
    case "$ap" in
    short) lopts=(--interval 1) ;;
    long) lopts=(--timeout 30) ;;
    sse) sopts=(--heartbeat "$hb") lopts=(--heartbeat "$hb") ;;
    ws) sopts=(--heartbeat "$hb") lopts=(--heartbeat "$hb" --no-deflate) ;;
    esac
    start_listening rtlab "$rtlab" serve "$ap" --port 0 "${sopts[@]}"
    port=${url##*:}
    local lurl=$url
    [[ "$ap" == ws ]] && lurl="ws://127.0.0.1:$port/ws"
    helper calibrate "$port" "$work/$ap.cal"
    helper snap "$port" "$work/$ap.m0"
    "$rtlab" load "$ap" --url "$lurl" --clients "$clients" --rate "$rate" --duration "$dur" \
        --topic news --seed 1 --json "${lopts[@]}" >"$work/$ap.load.json" 2>"$work/$ap.load.err" &
    lpid=$!
    pids+=("$lpid")
    wait_in "$ap" "$port"
    sleep "$settle"
    helper snap "$port" "$work/$ap.ma"
    sleep "$window"
    helper snap "$port" "$work/$ap.mb"
    reap "$lpid"
    helper snap "$port" "$work/$ap.m1"
    stop_server
    if [[ ! -s "$work/$ap.load.json" ]]; then
        echo "bench-sim-vs-real: no report from rtlab load $ap:" >&2
        tail -n 5 "$work/$ap.load.err" >&2
        return
    fi
    "$rtlab" sim --approach "$ap" --clients "$clients" --interval 1 --rate "$rate" --topics 1 \
        --duration "$dur" --rtt 0.1 --timeout 30 --heartbeat "$hb" --payload "$payload" \
        --no-tcp --seed 1 --json >"$work/$ap.sim.json"
    helper report "$work" "$ap" "$port" "$clients" "$dur" "$rate" "$hb"
}

echo "== the simulator against the real servers: $clients clients, $rate msg/s on one topic,"
echo "   $dur s each; the sim with --rtt 0.1 --no-tcp --payload $payload --seed 1"
echo "   (real: a fresh server per approach on 127.0.0.1; from = load report or /metrics"
echo "   over a ${window} s steady window, the publisher's and our own requests removed)"
for ap in short long sse ws; do
    run_one "$ap"
done
