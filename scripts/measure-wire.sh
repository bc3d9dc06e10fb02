#!/usr/bin/env bash
# measure-wire.sh - measures, in bytes, what rtlab's own clients and servers
# put on the wire for long polling, SSE, WebSocket and HTTP publishing, and
# what an idle connection costs each of the four servers in memory. The
# simulator's defaults come from here (docs/sim-wire.md has the figures and
# where each comes from).
#
# How: each server is started here on a free loopback port (--port 0). The
# real clients (rtlab client long|sse|ws, rtlab publish) talk to it through a
# small logging TCP tap (Python), which records every byte each way; a few
# exchanges no rtlab command makes alone (a poll answer with two messages, a
# publish over the WebSocket) are sent by Python with the clients' exact
# request heads. The tap listens on a 4-digit port, so the Host header is
# exactly as long as with the default ports 8001-8004. Then, with the
# servers' default options, N idle-but-valid connections are opened per
# server and the server's VmRSS and the kernel's socket memory are compared
# before and after.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: scripts/measure-wire.sh [--rtlab PATH] [--conns N] [--bytes] [--keep DIR]

Measures the bytes on the wire of each exchange of rtlab's long polling,
SSE, WebSocket and HTTP publish, as rtlab's own clients send them, and each
server's memory per idle connection; prints a table. Loopback only; takes
about a minute. Needs python3 and ss.

  --rtlab PATH   the rtlab binary (default $RTLAB or build/rtlab)
  --conns N      idle connections per server for the memory figures
                 (default 5000; at most 15000: one process may open 20,000
                 files, and the Python end holds N of them)
  --bytes        also print the exact bytes behind every figure
  --keep DIR     keep the tap logs and the memory records in DIR
  -h, --help     this text
USAGE
}

cd "$(dirname "$0")/.."
rtlab=${RTLAB:-build/rtlab}
conns=5000
bytes=
keep=
while [ $# -gt 0 ]; do
    case $1 in
    --rtlab) rtlab=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --bytes) bytes=1; shift ;;
    --keep) keep=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "measure-wire.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case $conns in '' | *[!0-9]*) echo "measure-wire.sh: --conns wants a number" >&2; exit 2 ;; esac
if [ "$conns" -lt 100 ] || [ "$conns" -gt 15000 ]; then
    echo "measure-wire.sh: --conns must be 100 to 15000" >&2
    exit 2
fi
if [ ! -x "$rtlab" ]; then
    echo "measure-wire.sh: no rtlab binary at $rtlab (run scripts/build.sh build, or give --rtlab)" >&2
    exit 1
fi
rtlab=$(cd "$(dirname "$rtlab")" && pwd)/$(basename "$rtlab")
for tool in python3 ss; do
    command -v "$tool" >/dev/null || { echo "measure-wire.sh: needs $tool" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()

# Stops what we started, by pid, and removes the scratch directory.
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$keep" ] && mkdir -p "$keep"; then
        cp "$tmp"/*.log "$tmp"/*.jsonl "$keep"/ 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID: ends one process we started and forgets it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local keep_pids=() p
    for p in "${pids[@]}"; do
        [ "$p" = "$1" ] || keep_pids+=("$p")
    done
    pids=("${keep_pids[@]}")
}

# wait_file FILE PATTERN: up to 5 s for PATTERN to show up in FILE.
wait_file() {
    local _
    for _ in $(seq 50); do
        if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "measure-wire.sh: timed out waiting for '$2' in $1" >&2
    cat "$1" "$1.err" 2>/dev/null >&2 || true
    exit 1
}

# start_server NAME APPROACH [OPTIONS...]: sets srv_pid and srv_port.
start_server() {
    local name=$1 approach=$2
    shift 2
    "$rtlab" serve "$approach" --host 127.0.0.1 --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.out.err" &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_file "$tmp/$name.out" '^listening on '
    srv_port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/$name.out" | head -n 1)
}

# start_tap NAME UPSTREAM_PORT: sets tap_pid and tap_port; logs to NAME.log.
start_tap() {
    python3 "$tmp/wire.py" tap "$tmp/$1.port" "$tmp/$1.log" "$2" 2>"$tmp/$1.tap.err" &
    tap_pid=$!
    pids+=("$tap_pid")
    wait_file "$tmp/$1.port" '[0-9]'
    tap_port=$(cat "$tmp/$1.port")
}

data='{"v":"abcdefgh"}' # 16 bytes: the data of every message measured

# publish PORT [COUNT]: COUNT messages (default 1) with the 16-byte data.
publish() {
    local _
    for _ in $(seq "${2:-1}"); do
        "$rtlab" publish --url "http://127.0.0.1:$1" --topic news "$data" >/dev/null
    done
}

cat >"$tmp/wire.py" <<'PY'
"""measure-wire.sh's helper: a logging TCP tap, raw exchanges, the report,
and the per-connection memory measurement. Python 3, standard library only."""
import json
import os
import re
import resource
import socket
import sys
import threading
import time
import zlib

DATA16 = b'{"v":"abcdefgh"}'  # the 16-byte payload every message carries
assert len(DATA16) == 16


# ---- The tap -----------------------------------------------------------------
# Listens on a free 4-digit port (so a Host header is as long as with the
# default ports 8001-8004), forwards every connection to the server, and logs
# each chunk in each direction as one JSON line: connection, direction, bytes.

def tap(portfile, log, upstream):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for port in range(8100, 9000):
        try:
            ls.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    else:
        sys.exit("tap: no free port in 8100-8999")
    ls.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(portfile + ".tmp", portfile)
    out = open(log, "a")
    lock = threading.Lock()
    n = 0

    def pump(cid, d, src, dst):
        while True:
            try:
                b = src.recv(65536)
            except OSError:
                b = b""
            if b:
                with lock:
                    out.write(json.dumps({"c": cid, "d": d, "t": time.time(), "b": b.hex()}) + "\n")
                    out.flush()
            try:
                if b:
                    dst.sendall(b)
                else:
                    dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            if not b:
                return

    while True:
        cs, _ = ls.accept()
        n += 1
        ss = socket.create_connection(("127.0.0.1", int(upstream)))
        for d, a, b in (("c2s", cs, ss), ("s2c", ss, cs)):
            threading.Thread(target=pump, args=(n, d, a, b), daemon=True).start()


def read_log(path):
    conns = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            c = conns.setdefault(r["c"], {"c2s": b"", "s2c": b"", "chunks": []})
            b = bytes.fromhex(r["b"])
            c[r["d"]] += b
            c["chunks"].append((r["d"], r["t"], b))
    return [conns[k] for k in sorted(conns)]


# ---- Raw exchanges (through the tap) --------------------------------------------

def recv_until(s, pred, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    end = time.time() + timeout
    while not pred(buf) and time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        buf += b
    return buf


def head_and_body_done(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", buf[:i])
    return len(buf) >= i + 4 + (int(m.group(1)) if m else 0)


def raw_get(port, target):
    """One GET with exactly rtlab's request head (hclient.c format_request)."""
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: rtlab\r\n\r\n"
              % (target.encode(), port.encode()))
    recv_until(s, head_and_body_done)
    s.close()


def ws_frame(opcode, payload, mask=b"\x11\x22\x33\x44"):
    """A client frame, masked as RFC 6455 requires (and as clients/ws.c does)."""
    n = len(payload)
    if n < 126:
        h = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        h = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        h = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_upgrade(s, port, deflate=True):
    """The upgrade head exactly as clients/ws.c connect_now() builds it."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    offer = ("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
             "client_no_context_takeover; client_max_window_bits\r\n") if deflate else ""
    req = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: rtlab\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n%s\r\n" % (port, key, offer))
    s.sendall(req.encode())
    return recv_until(s, lambda b: b"\r\n\r\n" in b)


def ws_publish(port):
    """A client that upgrades, publishes one message over the WebSocket with
    16 B of data and listens 0.5 s for whatever the server says back."""
    s = socket.create_connection(("127.0.0.1", int(port)))
    ws_upgrade(s, port)
    s.sendall(ws_frame(1, b'{"type":"publish","topic":"news","data":' + DATA16 + b"}"))
    recv_until(s, lambda b: False, timeout=0.5)
    s.sendall(ws_frame(8, b"\x03\xe8"))
    recv_until(s, lambda b: False, timeout=0.5)
    s.close()


# ---- Parsing what the tap saw --------------------------------------------------

def split_http(stream, responses=False):
    """[(head, body)] from an HTTP byte stream. A response with neither a
    Content-Length nor a no-body status (101, 204) is a stream: the rest."""
    out = []
    while stream:
        i = stream.find(b"\r\n\r\n")
        if i < 0:
            out.append((stream, b""))
            break
        head, rest = stream[: i + 4], stream[i + 4:]
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        status = head.split(b" ", 2)[1] if responses else b""
        if m:
            n = int(m.group(1))
            out.append((head, rest[:n]))
            stream = rest[n:]
        elif status in (b"101", b"204", b"304") or not responses:
            out.append((head, b""))
            stream = rest
            if status == b"101":
                out.append((b"", rest))  # the WebSocket bytes that follow
                break
        else:
            out.append((head, rest))
            break
    return out


def ws_frames(data):
    """[(frame bytes, header length, opcode, rsv1, payload unmasked)]."""
    out = []
    i = 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n = b1 & 0x7F
        j = i + 2
        if n == 126:
            n = int.from_bytes(data[j:j + 2], "big")
            j += 2
        elif n == 127:
            n = int.from_bytes(data[j:j + 8], "big")
            j += 8
        mask = None
        if b1 & 0x80:
            mask = data[j:j + 4]
            j += 4
        p = data[j:j + n]
        if mask:
            p = bytes(b ^ mask[k % 4] for k, b in enumerate(p))
        out.append((data[i:j + n], j - i, b0 & 0x0F, bool(b0 & 0x40), p))
        i = j + n
    return out


def inflate(p):
    d = zlib.decompressobj(-15)
    return d.decompress(p + b"\x00\x00\xff\xff")


def message_spans(body):
    """The exact byte spans of the message objects in a poll answer."""
    k = body.find(b'"messages":[')
    if k < 0:
        return []
    text = body.decode()
    dec = json.JSONDecoder()
    i = len(body[: k + len(b'"messages":[')].decode())
    spans = []
    while text[i] == "{":
        _, j = dec.raw_decode(text, i)
        spans.append((i, j))
        i = j
        if text[i] == ",":
            i += 1
    return [text[a:b].encode() for a, b in spans]


# ---- The report ------------------------------------------------------------------

ROWS = []
EVIDENCE = []


def row(section, what, n, exchange, sample=None):
    ROWS.append((section, what, n, exchange))
    if sample is not None:
        EVIDENCE.append((section, what, n, sample))


def first(conns, pred):
    for c in conns:
        if pred(c):
            return c
    raise SystemExit("report: an expected exchange is missing from the tap log")


def report_http_publish(conns):
    c = first(conns, lambda c: c["c2s"].startswith(b"POST /publish") and b"Content-Length: 16\r" in c["c2s"]
              and b'{"id":10}' in c["s2c"])
    (qh, qb), = split_http(c["c2s"])
    (ah, ab), = split_http(c["s2c"], responses=True)
    row("upstream HTTP", "POST /publish?topic=news request head", len(qh), "rtlab publish --url http://127.0.0.1:PORT --topic news '" + DATA16.decode() + "'", qh)
    row("upstream HTTP", "  + body (the data)", len(qb), "", qb)
    row("upstream HTTP", "200 answer head", len(ah), "", ah)
    row("upstream HTTP", '  + body {"id":10}', len(ab), "", ab)
    row("upstream HTTP", "whole exchange (up + down)", len(qh) + len(qb) + len(ah) + len(ab), "")


def report_long(conns):
    report_http_publish(conns)
    c = first(conns, lambda c: b"&since=9&timeout=30 " in c["c2s"])
    reqs = split_http(c["c2s"])
    ans = split_http(c["s2c"], responses=True)
    q10 = [h for h, _ in reqs if b"since=10&timeout=30 " in h][0]
    row("long polling", "GET /poll?topic=news&since=10&timeout=30 request head", len(q10),
        "rtlab client long --url http://127.0.0.1:PORT --topic news --since 9 (2nd poll)", q10)
    h, b = [(h, b) for h, b in ans if b'"next":10' in b][0]
    msgs = message_spans(b)
    row("long polling", "200 answer head (status line + headers + blank line)", len(h), "its answer with message 10", h)
    row("long polling", "  body, 1 message", len(b), "", b)
    row("long polling", "  body envelope around the messages", len(b) - sum(map(len, msgs)), "", None)
    m = msgs[0]
    row("long polling", "  one message object", len(m), "", m)
    row("long polling", "  per-message JSON without data (16 B data, id 10, topic news, event message, 16-digit ts)", len(m) - 16, "", None)
    c2 = first(conns, lambda c: b"GET /poll?topic=news&since=11 " in c["c2s"])
    (h2, b2), = split_http(c2["s2c"], responses=True)
    m2 = message_spans(b2)
    row("long polling", "  body, 2 messages (12, 13): envelope + 2 objects + comma", len(b2),
        "GET /poll?topic=news&since=11 (raw, rtlab's head)", b2)
    row("long polling", "  each further message: object + 1 comma", len(b2) - len(b) - (len(m2[0]) - len(m)) if len(m2) == 2 else -1, "", None)
    c3 = first(conns, lambda c: b"&timeout=1 " in c["c2s"])
    q204 = split_http(c3["c2s"])[0][0]
    a204 = [h for h, _ in split_http(c3["s2c"], responses=True) if h.startswith(b"HTTP/1.1 204")][0]
    row("long polling", "204 answer (the whole answer)", len(a204), "rtlab client long ... --timeout 1 --since 13 (hold expires)", a204)
    row("long polling", "cycle with nothing new: 30 s request + 204", len(q10) + len(a204), "", None)
    row("long polling", "cycle delivering 1 message: request + 200 head + body", len(q10) + len(h) + len(b), "", None)


def sse_blocks(stream):
    parts = stream.split(b"\n\n")
    return [p + b"\n\n" for p in parts[:-1]]


def report_sse(conns):
    c = first(conns, lambda c: c["c2s"].startswith(b"GET /events"))
    (qh, _), = split_http(c["c2s"])
    row("SSE", "GET /events?topic=news request head, Last-Event-ID: 10", len(qh),
        "rtlab client sse --url http://127.0.0.1:PORT --topic news --since 10", qh)
    (ah, rest), = split_http(c["s2c"], responses=True)
    if re.search(rb"(?i)transfer-encoding: *chunked", ah):
        raise SystemExit("report: SSE answer is chunked; this script does not account for that")
    row("SSE", "response head (status line + headers + blank line)", len(ah), "its answer", ah)
    blocks = sse_blocks(rest)
    retry = [b for b in blocks if b.startswith(b"retry:")][0]
    row("SSE", "opening retry: block", len(retry), "", retry)
    ev = [b for b in blocks if b.startswith(b"id: 11\n")][0]
    data = re.search(rb"\ndata: (.*)\n", ev).group(1)
    row("SSE", "one event, message 11 (id:/event:/data: lines + blank line)", len(ev), "", ev)
    row("SSE", "  of which the message JSON", len(data), "", None)
    row("SSE", "  framing beyond the message JSON", len(ev) - len(data), "", None)
    hb = [b for b in blocks if b.startswith(b":")]
    if hb:
        row("SSE", "heartbeat comment", len(hb[0]), "server --heartbeat 1 (default 15 s; same bytes)", hb[0])
    else:
        row("SSE", "heartbeat comment", -1, "none seen in the run")


def report_ws(conns, label, offer):
    # The rtlab client's connection: the one with a nonce that is not ours.
    # The rtlab client's connection: its nonce is not the Python one's.
    c = first(conns, lambda x: x["c2s"].startswith(b"GET /ws") and b"dGhlIHNhbXBsZSBub25jZQ==" not in x["c2s"]
              and (b"permessage-deflate" in x["c2s"]) == offer)
    reqs = split_http(c["c2s"])
    qh = reqs[0][0]
    up = c["c2s"][len(qh):]
    ans = split_http(c["s2c"], responses=True)
    ah, down = ans[0][0], ans[1][1]
    sec = "WebSocket" + label
    row(sec, "upgrade request head", len(qh), "rtlab client ws --url ws://127.0.0.1:PORT/ws --topic news" + ("" if offer else " --no-deflate"), qh)
    row(sec, "101 answer head", len(ah), "its answer", ah)
    upf = ws_frames(up)
    dnf = ws_frames(down)
    sub = [f for f in upf if f[2] == 1 and b'"subscribe"' in f[4]][0]
    row(sec, "subscribe frame c->s (header+mask / payload)", len(sub[0]), "%d + %d" % (sub[1], len(sub[4])), sub[4])
    aping = [f for f in upf if f[2] == 1 and f[4] == b'{"type":"ping"}']
    apong = [f for f in dnf if f[2] == 1 and f[4] == b'{"type":"pong"}']
    if aping and apong:
        row(sec, 'app {"type":"ping"} c->s / {"type":"pong"} s->c', len(aping[0][0]), "pong %d" % len(apong[0][0]), None)
    m10 = None
    for f in dnf:
        if f[2] == 1:
            p = inflate(f[4]) if f[3] else f[4]
            if p.startswith(b'{"id":10,'):
                m10 = (f, p)
    if m10:
        f, p = m10
        what = "message 10 frame s->c (header / payload%s)" % (", compressed" if f[3] else "")
        row(sec, what, len(f[0]), "%d + %d (JSON %d B%s)" % (f[1], len(f[4]), len(p), ", RSV1" if f[3] else ""), p)
    m11 = None
    for f in dnf:
        if f[2] == 1:
            p = inflate(f[4]) if f[3] else f[4]
            if p.startswith(b'{"id":11,'):
                m11 = (f, p)
    sping = [f for f in dnf if f[2] == 9]
    cpong = [f for f in upf if f[2] == 10]
    cping = [f for f in upf if f[2] == 9]
    spong = [f for f in dnf if f[2] == 10]
    if sping and cpong:
        row(sec, "server ping s->c / client pong c->s", len(sping[0][0]), "pong %d (8 B payload; server --heartbeat 1)" % len(cpong[0][0]), None)
    if cping and spong:
        row(sec, "client ping c->s / server pong s->c", len(cping[0][0]), "pong %d (8 B payload; client --heartbeat 1)" % len(spong[0][0]), None)
    pubc = [x for x in conns if b"dGhlIHNhbXBsZSBub25jZQ==" in x["c2s"]]
    if pubc:
        pc = pubc[0]
        pup = ws_frames(pc["c2s"][pc["c2s"].find(b"\r\n\r\n") + 4:])
        pf = [f for f in pup if f[2] == 1][0]
        pans = split_http(pc["s2c"], responses=True)
        pdown = ws_frames(pans[1][1]) if len(pans) > 1 else []
        replies = [f for f in pdown if f[2] in (0, 1, 2)]  # data frames; not pings, not Close
        row(sec, 'publish frame c->s {"type":"publish",...} 16 B data', len(pf[0]), "%d + %d (raw client, masked like clients/ws.c)" % (pf[1], len(pf[4])), pf[4])
        row(sec, "  server's answer to the (unsubscribed) publisher", sum(len(f[0]) for f in replies),
            "data frames within 0.5 s; subscribers get the message frame" + (" (%d B here)" % len(m11[0][0]) if m11 else ""), None)


# ---- Memory per connection -------------------------------------------------------

def rss_kb(pid):
    with open("/proc/%s/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def sockstat():
    with open("/proc/net/sockstat") as f:
        t = f.read()
    m = re.search(r"TCP: inuse (\d+) orphan \d+ tw \d+ alloc (\d+) mem (\d+)", t)
    return int(m.group(1)), int(m.group(3))


def slab_kb():
    with open("/proc/meminfo") as f:
        return int(re.search(r"Slab:\s+(\d+)", f.read()).group(1))


def server_skmem(port):
    """Sum of the buffers (r+t+f+w+o of ss -m) held by the server's sockets."""
    import subprocess
    out = subprocess.run(["ss", "-tmnH", "state", "established", "sport", "= :%s" % port],
                         capture_output=True, text=True).stdout
    tot = n = 0
    for m in re.finditer(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f(\d+),w(\d+),o(\d+)", out):
        tot += sum(int(x) for x in m.groups())
        n += 1
    return tot, n


def metrics_held(port):
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: rtlab\r\nConnection: close\r\n\r\n")
    b = recv_until(s, head_and_body_done)
    s.close()
    return sum(int(x) for x in re.findall(rb'"held":(\d+)', b))


def open_conns(kind, port, n, topic):
    socks = []
    hdr = b"Host: 127.0.0.1:%s\r\nUser-Agent: rtlab\r\n" % port.encode()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", int(port)))
        if kind == "short":
            s.sendall(b"GET /poll?topic=%s&since=0 HTTP/1.1\r\n%s\r\n" % (topic, hdr))
        elif kind == "long":
            s.sendall(b"GET /poll?topic=%s&since=0&timeout=120 HTTP/1.1\r\n%s\r\n" % (topic, hdr))
        elif kind == "sse":
            s.sendall(b"GET /events?topic=%s HTTP/1.1\r\n%sAccept: text/event-stream\r\n"
                      b"Cache-Control: no-cache\r\nLast-Event-ID: 0\r\n\r\n" % (topic, hdr))
        elif kind == "ws":
            s.sendall(b"GET /ws HTTP/1.1\r\n%sUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                      b"client_no_context_takeover; client_max_window_bits\r\n\r\n" % hdr)
        socks.append(s)
    # Read what each is due, so that no byte waits unread in a queue.
    for s in socks:
        if kind == "short":
            b = recv_until(s, head_and_body_done)
            assert b.startswith(b"HTTP/1.1 2"), b[:40]
        elif kind == "sse":
            b = recv_until(s, lambda b: b"retry:" in b and b.endswith(b"\n\n"))
            assert b.startswith(b"HTTP/1.1 200"), b[:40]
        elif kind == "ws":
            b = recv_until(s, lambda b: b"\r\n\r\n" in b)
            assert b.startswith(b"HTTP/1.1 101"), b[:40]
            s.sendall(ws_frame(1, b'{"type":"subscribe","topic":"%s","since":0}' % topic))
            s.sendall(ws_frame(1, b'{"type":"ping"}'))
    if kind == "ws":
        for s in socks:
            b = recv_until(s, lambda b: b.endswith(b'{"type":"pong"}'))
            assert b.endswith(b'{"type":"pong"}'), b[:60]
    return socks


def drain(socks):
    for s in socks:
        s.setblocking(False)
        try:
            while s.recv(65536):
                pass
        except (BlockingIOError, OSError):
            pass
        s.setblocking(True)


def mem(kind, port, pid, n):
    n = int(n)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Warm up: 100 connections of the same kind, opened and closed, so that
    # one-time allocations (first buffers, the topic) are in the baseline.
    for s in open_conns(kind, port, 100, b"mem"):
        s.close()
    time.sleep(0.5)
    r0, (i0, m0), sl0 = rss_kb(pid), sockstat(), slab_kb()
    t0 = time.time()
    socks = open_conns(kind, port, n, b"mem")
    held = metrics_held(port) if kind in ("long", "sse", "ws") else None
    time.sleep(1.0)
    drain(socks)
    r1, (i1, m1), sl1 = rss_kb(pid), sockstat(), slab_kb()
    sk, skn = server_skmem(port)
    took = time.time() - t0
    for s in socks:
        s.close()
    print(json.dumps({
        "kind": kind, "n": n, "held": held, "rss_kb_before": r0, "rss_kb_after": r1,
        "rss_per_conn": (r1 - r0) * 1024 / n, "tcp_inuse_delta": i1 - i0,
        "sockstat_mem_pages_delta": m1 - m0, "sockstat_per_conn": (m1 - m0) * 4096 / n,
        "slab_per_conn_both_ends": (sl1 - sl0) * 1024 / n,
        "server_skmem_total": sk, "server_skmem_sockets": skn, "seconds": round(took, 2)}))


def report(logdir, memfile):
    report_long(read_log(os.path.join(logdir, "long.log")))
    report_sse(read_log(os.path.join(logdir, "sse.log")))
    report_ws(read_log(os.path.join(logdir, "ws.log")), " (permessage-deflate, the default)", True)
    report_ws(read_log(os.path.join(logdir, "ws-nd.log")), " (--no-deflate)", False)
    w = max(len(r[1]) for r in ROWS)
    sec = None
    print("%-*s %7s  %s" % (w + 2, "WIRE (bytes)", "bytes", "exchange / note"))
    for s, what, n, ex in ROWS:
        if s != sec:
            print("\n[%s]" % s)
            sec = s
        print("  %-*s %7d  %s" % (w, what, n, ex))
    if memfile and os.path.exists(memfile):
        print("\nMEMORY per idle connection, default server options")
        print("  %-6s %6s %6s %17s %10s %12s %10s %16s" % (
            "server", "N", "held", "VmRSS kB bef/aft", "RSS B/conn", "sockstat pg+", "skmem B", "Slab B/conn pair"))
        with open(memfile) as f:
            for line in f:
                m = json.loads(line)
                print("  %-6s %6d %6s %8d/%-8d %10.0f %12d %10d %16.0f" % (
                    m["kind"], m["n"], "-" if m["held"] is None else m["held"],
                    m["rss_kb_before"], m["rss_kb_after"], m["rss_per_conn"],
                    m["sockstat_mem_pages_delta"], m["server_skmem_total"],
                    m["slab_per_conn_both_ends"]))
        print("  RSS B/conn: the server's VmRSS delta / N (after a 100-connection warm-up).")
        print("  sockstat pg+: /proc/net/sockstat TCP mem delta in pages, both ends. The kernel")
        print("    (6.x) moves that count in per-CPU batches of up to 256 pages (1 MiB), so a")
        print("    delta of a few hundred pages is batching, not N sockets: not measurable per")
        print("    connection this way. skmem B: the buffers (r+t+f+w+o of ss -tm) that all N")
        print("    server sockets hold; 0 means an idle socket queues nothing.")
        print("  Slab B/conn pair: /proc/meminfo Slab delta / N; socket, inode, file and epoll")
        print("    structures of BOTH ends (Python client and server on one host), ~half each.")
    if os.environ.get("WIRE_EVIDENCE"):
        print("\nTHE BYTES (Python repr)")
        for s, what, n, b in EVIDENCE:
            print("\n[%s] %s: %d B\n%r" % (s, what.strip(), n, b))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"tap": tap, "raw_get": raw_get, "ws_publish": ws_publish, "mem": mem, "report": report}[cmd](*args)
PY

start=$(date +%s)
echo "measure-wire.sh: rtlab at $rtlab, $conns connections per server for memory" >&2

# ---- Long polling (and the HTTP publish, whose exchange the tap also sees) ----
echo "measure-wire.sh: long polling..." >&2
start_server long long
lp_pid=$srv_pid lp_port=$srv_port
start_tap long "$lp_port"
publish "$lp_port" 9 # ids 1-9 straight to the server: not measured
"$rtlab" client long --url "http://127.0.0.1:$tap_port" --topic news --since 9 --count 2 \
    --duration 10 >"$tmp/long-client.out" 2>&1 &
cpid=$!
pids+=("$cpid")
sleep 0.5
publish "$tap_port" # id 10: rtlab publish through the tap; answers the held poll
sleep 0.3
publish "$lp_port" # id 11
wait "$cpid" || true
publish "$lp_port" 2 # ids 12, 13
python3 "$tmp/wire.py" raw_get "$tap_port" "/poll?topic=news&since=11"
# A hold that expires: the 204 (the server answers it after 1 s instead of 30).
"$rtlab" client long --url "http://127.0.0.1:$tap_port" --topic news --since 13 --timeout 1 \
    --duration 1.5 >/dev/null 2>&1 || true
stop "$tap_pid"
stop "$lp_pid"

# ---- Server-Sent Events ----
echo "measure-wire.sh: SSE..." >&2
start_server sse sse --heartbeat 1
sse_pid=$srv_pid sse_port=$srv_port
start_tap sse "$sse_port"
publish "$sse_port" 10
"$rtlab" client sse --url "http://127.0.0.1:$tap_port" --topic news --since 10 --count 2 \
    --duration 10 >"$tmp/sse-client.out" 2>&1 &
cpid=$!
pids+=("$cpid")
sleep 1.5 # a heartbeat comment (--heartbeat 1)
publish "$sse_port" 2 # ids 11, 12
wait "$cpid" || true
stop "$tap_pid"
stop "$sse_pid"

# ---- WebSocket, with the client's default deflate offer and without ----
for mode in ws ws-nd; do
    echo "measure-wire.sh: WebSocket ($mode)..." >&2
    nd=()
    [ "$mode" = ws-nd ] && nd=(--no-deflate)
    start_server "$mode" ws --heartbeat 1
    ws_pid=$srv_pid ws_port=$srv_port
    start_tap "$mode" "$ws_port"
    publish "$ws_port" 9 # replayed to the client on subscribe (since 0)
    "$rtlab" client ws --url "ws://127.0.0.1:$tap_port/ws" --topic news --count 11 --heartbeat 1 \
        --duration 10 "${nd[@]}" >"$tmp/$mode-client.out" 2>&1 &
    cpid=$!
    pids+=("$cpid")
    sleep 1.5 # pings both ways (--heartbeat 1 on both ends)
    publish "$ws_port" # id 10 over HTTP
    sleep 0.3
    python3 "$tmp/wire.py" ws_publish "$tap_port" # id 11 over the WebSocket
    wait "$cpid" || true
    stop "$tap_pid"
    stop "$ws_pid"
done

# ---- Memory per idle connection, default server options ----
for kind in short long sse ws; do
    echo "measure-wire.sh: memory, $conns idle $kind connections..." >&2
    start_server "mem-$kind" "$kind"
    python3 "$tmp/wire.py" mem "$kind" "$srv_port" "$srv_pid" "$conns" >>"$tmp/mem.jsonl"
    stop "$srv_pid"
done

WIRE_EVIDENCE=$bytes python3 "$tmp/wire.py" report "$tmp" "$tmp/mem.jsonl"
echo "measure-wire.sh: done in $(($(date +%s) - start)) s" >&2
