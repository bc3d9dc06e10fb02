#!/usr/bin/env bash
# WebSocket benchmark: `rtlab serve ws`, node's ws (tests/peers/ws_server.js,
# the same protocol on another stack) and nginx + nchan's WebSocket subscriber
# (`rtlab load ws --peer nchan`) under the same load, from the same load
# generator, in the same run. Prints its figures; asserts nothing.
#
#  1. Memory per idle connection: a fresh server's RSS (VmRSS), then 10,000
#     clients connected and subscribed (`rtlab load ws --rate 0`), and the
#     peak RSS (VmHWM) once the server counts them all held. Figure:
#     (peak - before) / 10,000. rtlab with compression off (the clients
#     offer none), shared (the default: negotiated, no per-connection zlib
#     state) and context (a compressor per connection); node ws off, shared
#     and context alike.
#  2. Memory per connection after traffic: the same 10,000, with 5
#     publishes (1/s) that every one of them receives, so compressors have
#     run; peak RSS. What each compression mode costs once it is used.
#  3. Fan-out: 10,000 clients, 20 publishes (2/s for 10.25 s); for each, the
#     time until the LAST client had it; p50/p99/max over the 20. rtlab,
#     node and nchan.
#  4. Saturation: 1,000 clients and a publisher asking for far more than the
#     server can fan out (2,000/s). The publisher waits for each answer, and
#     rtlab and node answer a publish after handing it to every subscriber
#     (nchan's deliveries show it keeping in step too), so the publish rate
#     settles where the server is busy all the time: delivered messages/s is
#     the figure. rtlab, node and nchan.
#  5. Compression ratio: one client (Python websockets, which lets the server
#     keep its context) receives 200 small (100-150 B) and 50 larger (about
#     4.5 KB) JSON messages, message objects as delivered; bytes on the wire
#     per message against the JSON's, with compression off, shared (no
#     context takeover) and context.
#  6. nginx + nchan (one process, as in bench-push.sh), its WebSocket
#     subscriber (GET /ws?topic=T, subprotocol ws+meta.nchan): idle memory
#     (compression off), fan-out and saturation. Its "shared" is
#     nchan_deflate_message_for_websocket: each message compressed once, at
#     publish time, frames without context takeover; "off" has it off and
#     the clients offer nothing, as for the others.
#
# Latency clock: the publisher's (--clock publisher: the ts the load
# generator puts in its body just before POSTing), the same for all servers.
#
# Usage: scripts/bench-ws.sh [--quick]   (--quick: 2,000 clients, 200 for saturation)
# Env:   CLIENTS (10000), SAT_CLIENTS (1000), BENCH_BUILD (build: the Release
#        build directory)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench-lib.sh
source scripts/bench-lib.sh
build=${BENCH_BUILD:-build}
bench_build "$build"
node_modules=$(scripts/peer-deps.sh "$build/peers")

rtlab=$build/rtlab
clients=${CLIENTS:-10000}
sat_clients=${SAT_CLIENTS:-1000}
hold_s=4      # how long the idle clients stay once all are in
rate=2        # publishes per second in the fan-out runs ...
fan_s=10.25   # ... for this long: floor(10.25 x 2) = 20 publishes
sat_rate=2000 # more than either server fans out to 1,000 clients
sat_s=5
if [[ "${1:-}" == "--quick" ]]; then
    clients=${CLIENTS:-2000}
    sat_clients=${SAT_CLIENTS:-200}
    hold_s=2
fi
nchan_so=$(dpkg -L libnginx-mod-nchan | grep '/ngx_nchan_module\.so$' | head -n1)
bench_start
need_open_files "$clients"

# ---- Servers: each run gets a fresh one; $spid, $url and $kind say which.

start_rtlab() { # DEFLATE
    start_listening rtlab "$rtlab" serve ws --port 0 --deflate "$1"
}

start_node() { # DEFLATE
    start_listening node env NODE_PATH="$node_modules" \
        node tests/peers/ws_server.js --port 0 --deflate "$1"
}

# nginx + nchan, one process, as bench-push.sh runs it, with a WebSocket
# subscriber on /ws (nchan_subscriber websocket; pings every 30 s like ours).
# DEFLATE shared: messages are compressed once, when published.
start_nchan() { # DEFLATE
    local deflate=off
    [[ "$1" == off ]] || deflate=on
    start_nchan_with "$clients" <<NGINX
        location = /publish {
            nchan_publisher;
            nchan_channel_id \$arg_topic;
            nchan_deflate_message_for_websocket $deflate;
        }
        location = /ws {
            nchan_subscriber websocket;
            nchan_channel_id \$arg_topic;
            nchan_websocket_ping_interval 30;
        }
NGINX
}

# How many subscriptions the server says it holds now.
held_now() {
    if [[ "$kind" == nchan ]]; then
        nchan_held
    else
        curl -s "$url/metrics" | python3 -c \
            'import json,sys; m=json.load(sys.stdin); print(m["ws"].get("held",0))'
    fi
}

start_server() { # SERVER DEFLATE
    case "$1" in
    rtlab) start_rtlab "$2" ;;
    node) start_node "$2" ;;
    nchan) start_nchan "$2" ;;
    esac
}

# Clients offer compression unless the server has it off (then they would
# be refused anyway; offering nothing is the honest "off").
offer() { if [[ "$1" == off ]]; then echo --no-deflate; fi; }

# nchan is driven as a peer of its own kind (`rtlab load --help`, --peer).
peer() { if [[ "$1" == nchan ]]; then echo --peer nchan; fi; }

# ---- 1, 2. Memory per connection, idle and after traffic

# Idle (RATE 0): the peak is read after SECONDS held, before the clients
# leave (10,000 closing handshakes at once raise the peak by 2-4 KB a
# connection for nchan, about 2 KB for node and 60-75 bytes for rtlab:
# that is not what an idle connection costs). After traffic: once the run
# is over, so that the last publish has surely been handled.
memory_run() { # SERVER DEFLATE RATE SECONDS LABEL
    local server=$1 mode=$2 r=$3 secs=$4 label=$5 before held peak run_s=$4
    start_server "$server" "$mode"
    sleep 0.2
    before=$(status_kb VmRSS)
    [[ "$r" != 0 ]] || run_s=$((secs + 60))
    # shellcheck disable=SC2046
    "$rtlab" load ws --url "$url" $(peer "$server") $(offer "$mode") --clients "$clients" \
        --rate "$r" --duration "$run_s" --json >"$work/mem.json" 2>"$work/mem.err" &
    local lpid=$!
    pids+=("$lpid")
    held=$(wait_held "$clients")
    if [[ "$r" == 0 ]]; then
        sleep "$secs"
        peak=$(status_kb VmHWM)
        kill -INT "$lpid" 2>/dev/null || true
    fi
    reap "$lpid"
    [[ "$r" == 0 ]] || peak=$(status_kb VmHWM)
    stop_server
    local per=$(((peak - before) * 1024 / clients))
    printf '%-5s %-7s %-5s  RSS %6d kB before, peak %8d kB with %5d held  -> %7d bytes/conn\n' \
        "$server" "$mode" "$label" "$before" "$peak" "$held" "$per"
    if ((held < clients)); then
        echo "      warning: the server held $held, not $clients; load said:" >&2
        tail -n 3 "$work/mem.err" >&2
    fi
    record "$server.$mode.$label.bytes" "$per"
}

# ---- 3, 4. Fan-out and saturation

load_run() { # SERVER DEFLATE CLIENTS RATE SECONDS KEY
    local server=$1 mode=$2 n=$3 r=$4 secs=$5 key=$6
    start_server "$server" "$mode"
    # shellcheck disable=SC2046
    "$rtlab" load ws --url "$url" $(peer "$server") $(offer "$mode") --clock publisher \
        --clients "$n" --rate "$r" --duration "$secs" --json >"$work/load.json" \
        2>"$work/load.err" || true
    stop_server
    if ! python3 - "$work/load.json" "$server.$mode.$key" >>"$work/results" <<'PY'; then
import json, sys
path, key = sys.argv[1:]
r = json.load(open(path))
f, l = r["fanout_ms"], r["latency_ms"]
secs = r["duration_s"] + r["drain_s"]
print(f"{key}: {r['clients']} clients, {r['published']} published ({r['published'] / r['duration_s']:.0f}/s), "
      f"delivered {r['delivered']} of {r['expected']} ({r['delivered'] / secs:.0f}/s); "
      f"fan-out p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms, max {f['max']:.1f} ms "
      f"({f['complete']} of {f['messages']} reached all); latency p50 {l['p50']:.1f} ms, "
      f"p99 {l['p99']:.1f} ms; {r['errors']} errors, {r['reconnects']} reconnects",
      file=sys.stderr)
for k in ("p50", "p99", "max"):
    print(f"{key}.fan_{k}={f[k]}")
print(f"{key}.per_s={r['delivered'] / secs}")
print(f"{key}.complete={f['complete']}/{f['messages']}")
PY
        echo "bench: no report from $server $mode $key:" >&2
        tail -n 5 "$work/load.err" >&2
    fi
}

# ---- 5. Compression ratio

ratio_run() { # DEFLATE
    start_rtlab "$1"
    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - "$url" "$1" tests/peers >>"$work/results" <<'PY'
import asyncio, json, random, sys
url, mode, peers = sys.argv[1:]
sys.path.insert(0, peers)
import websockets
from ws_client import CountingProtocol

rnd = random.Random(7)
WORDS = ("the a to and of in is it you that for on with are this be at have not "
         "meeting deploy build green red tomorrow lunch review merge ticket ok "
         "thanks sure later coffee release bug fix test ship").split()

# The message a subscriber receives is the envelope around the data:
# {"id":N,"topic":"s","event":"message","data":DATA,"ts":US}, 65 bytes and
# the id's digits. Sizes below are of that whole message.
ENVELOPE = 65

def small(i):  # a chat line: a 100-150 byte message
    want = rnd.randint(100, 150) - ENVELOPE - len(str(i + 1))
    d = {"user": f"user{rnd.randint(1, 40)}", "text": ""}
    while len(json.dumps(d, separators=(",", ":"))) < want:
        d["text"] = (d["text"] + " " + rnd.choice(WORDS)).strip()
    return d

def large(i):  # a catalogue page: about 4.5 KB
    return {"page": i, "items": [
        {"sku": f"SKU-{rnd.randint(10000, 99999)}", "name": " ".join(rnd.sample(WORDS, 3)),
         "price": round(rnd.uniform(1, 500), 2), "qty": rnd.randint(0, 99),
         "tags": rnd.sample(["red", "blue", "sale", "new", "eco", "bulk"], 2)}
        for _ in range(48)]}

async def measure(kind, make, n):
    ws = await websockets.connect(url.replace("http:", "ws:") + "/ws", compression="deflate",
                                  create_protocol=CountingProtocol, ping_interval=None,
                                  max_size=None)
    topic = kind[0]
    await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
    rx0, payload = ws.rx, 0
    for i in range(n):  # one at a time: publish over the socket, read it back
        data = make(i)
        await ws.send(json.dumps({"type": "publish", "topic": topic, "data": data},
                                 separators=(",", ":")))
        frame = await asyncio.wait_for(ws.recv(), 10)
        payload += len(frame.encode())
    wire = ws.rx - rx0
    ext = ws.response_headers.get("Sec-WebSocket-Extensions", "-")
    await ws.close()
    print(f"ratio {mode:7} {kind:5}: {n} messages, {payload / n:7.1f} B JSON, "
          f"{wire / n:7.1f} B on the wire each -> {wire / payload:.3f}  ({ext})", file=sys.stderr)
    print(f"ratio.{mode}.{kind}={wire / payload}")
    print(f"ratio.{mode}.{kind}.json={payload / n}")

async def main():
    await measure("small", small, 200)
    await measure("large", large, 50)

asyncio.run(main())
PY
    stop_server
}

# ---- Runs

echo "== memory per connection: $clients clients (bytes/conn = (peak RSS - before) / clients)"
for mode in off shared context; do
    memory_run rtlab "$mode" 0 "$hold_s" idle
    memory_run node "$mode" 0 "$hold_s" idle
done
memory_run nchan off 0 "$hold_s" idle
for mode in off shared context; do
    memory_run rtlab "$mode" 1 5.5 used
    memory_run node "$mode" 1 5.5 used
done

echo
echo "== fan-out: $clients clients, 20 publishes at $rate/s (publisher's clock)"
for mode in shared off; do
    for server in rtlab node nchan; do
        load_run "$server" "$mode" "$clients" "$rate" "$fan_s" fan 2>&1
    done
done

echo
echo "== saturation: $sat_clients clients, publisher asking for $sat_rate/s for $sat_s s"
for mode in shared off; do
    for server in rtlab node nchan; do
        load_run "$server" "$mode" "$sat_clients" "$sat_rate" "$sat_s" sat 2>&1
    done
done

echo
echo "== compression ratio (wire bytes / JSON bytes, one client, rtlab)"
for mode in off shared context; do ratio_run "$mode" 2>&1; done

# ---- Summary

echo
python3 - "$work/results" "$clients" "$sat_clients" <<'PY'
import sys
res = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
clients, sat = sys.argv[2:]

def val(key):
    v = res.get(key)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}"

def ratio(a, b):
    return "n/a" if a is None or b is None or a == 0 else f"{b / a:.2f}"

SERVERS = ("rtlab", "node", "nchan")
rows = []  # (what, key pattern with {s} for the server, digits)
for label, what in (("idle", "idle"), ("used", "after 5 publishes")):
    for mode in ("off", "shared", "context"):
        rows.append((f"bytes/conn {what}, deflate {mode}", f"{{s}}.{mode}.{label}.bytes", 0))
for mode in ("shared", "off"):
    for k in ("p50", "p99", "max"):
        rows.append((f"fan-out {k} ms, deflate {mode}", f"{{s}}.{mode}.fan.fan_{k}", 1))
for mode in ("shared", "off"):
    rows.append((f"delivered/s at saturation, deflate {mode}", f"{{s}}.{mode}.sat.per_s", 0))

print(f"== summary: {clients} clients ({sat} for saturation); X/rtlab: X's figure over ours")
print(f"{'':44} {'rtlab':>9} {'node ws':>9} {'nchan':>9} {'node/rtlab':>11} {'nchan/rtlab':>12}")
for name, key, digits in rows:
    a, b, c = (val(key.format(s=s)) for s in SERVERS)
    print(f"{name:44} {fmt(a, digits):>9} {fmt(b, digits):>9} {fmt(c, digits):>9} "
          f"{ratio(a, b):>11} {ratio(a, c):>12}")
print()
print(f"{'compression (wire/JSON)':32} {'off':>7} {'shared':>7} {'context':>8}   JSON B/msg")
for kind in ("small", "large"):
    print(f"{kind:32} " + " ".join(f"{fmt(val(f'ratio.{m}.{kind}'), 3):>7}"
                                   for m in ("off", "shared", "context"))
          + f"   {fmt(val(f'ratio.off.{kind}.json'), 0):>8}")
PY
