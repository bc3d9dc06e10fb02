#!/usr/bin/python3
"""ws_client.py - a scripted WebSocket client on the `websockets` library,
for interop tests against servers that speak rtlab's WebSocket protocol.

Run with Debian's /usr/bin/python3 (python3-websockets, 10.4); a python3
from elsewhere on PATH may not have the library. ws_client.js is the same
program on node's `ws`: same steps, same output, so a test can run either.

    ws_client.py [--deflate | --no-deflate] [--timeout S] [--count-bytes] URL STEP...

STEPs run in order, each within --timeout seconds (default 10):

    send:JSON      send JSON as one text frame
    expect:TEXT    wait for a text frame containing TEXT (frames received
                   before the step count, unless an earlier expect used them)
    barrier        send {"type":"ping"} and wait for {"type":"pong"}: the
                   server has handled everything sent before it
    ping:PAYLOAD   send an RFC 6455 ping frame, wait for the pong carrying
                   the same payload; prints "pong-frame PAYLOAD"
    say:WORD       print WORD (a test waits for it to sequence two clients)
    read:MS        keep receiving for MS milliseconds
    hold           keep receiving until the server closes or --timeout passes

Output, one line each, flushed at once:

    open EXT       the response's Sec-WebSocket-Extensions ("-" when none)
    extensions E   what the library says it negotiated ("-": nothing)
    < TEXT         each text frame received, as received
    barrier, pong-frame PAYLOAD, WORD    as the steps above say
    bytes rx N tx M                      (--count-bytes) TCP bytes, both ways
    closed CODE    the close code, when the connection ends

Exit status: 0 when every step succeeded, 1 when one failed or timed out
(stderr says which), 2 on a usage error.

--deflate (the default) offers permessage-deflate as the library does by
default; --no-deflate offers nothing.
"""
import argparse
import asyncio
import sys

try:
    import websockets
    import websockets.client
except ImportError:
    sys.exit("ws_client.py: the websockets module is missing; run it with Debian's "
             "/usr/bin/python3 (package python3-websockets)")


def out(line):
    print(line, flush=True)


class CountingProtocol(websockets.client.WebSocketClientProtocol):
    """The library's client protocol, counting the TCP bytes each way."""

    rx = 0
    tx = 0

    def connection_made(self, transport):
        proto = self
        write = transport.write

        def counting_write(data):
            proto.tx += len(data)
            write(data)

        transport.write = counting_write
        super().connection_made(transport)

    def data_received(self, data):
        self.rx += len(data)
        super().data_received(data)


class Client:
    def __init__(self, ws):
        self.ws = ws
        self.inbox = []  # text frames received and not yet used by an expect
        self.arrived = asyncio.Event()
        self.close_code = None

    async def reader(self):
        try:
            async for frame in self.ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                out("< " + text)
                self.inbox.append(text)
                self.arrived.set()
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.ws.close_code
        self.arrived.set()

    async def expect(self, text):
        while True:
            for i, frame in enumerate(self.inbox):
                if text in frame:
                    del self.inbox[: i + 1]
                    return
            if self.close_code is not None:
                raise RuntimeError(f"closed ({self.close_code}) before a frame with {text}")
            self.arrived.clear()
            await self.arrived.wait()

    async def step(self, step):
        verb, _, arg = step.partition(":")
        if verb == "send":
            await self.ws.send(arg)
        elif verb == "expect":
            await self.expect(arg)
        elif verb == "barrier":
            await self.ws.send('{"type":"ping"}')
            await self.expect('"type":"pong"')
            out("barrier")
        elif verb == "ping":
            await (await self.ws.ping(arg.encode()))
            out("pong-frame " + arg)
        elif verb == "say":
            out(arg)
        elif verb == "read":
            await asyncio.sleep(int(arg) / 1000)
        elif verb == "hold":
            while self.close_code is None:
                self.arrived.clear()
                await self.arrived.wait()
        else:
            raise ValueError(f"unknown step {step!r}")


async def run(args):
    ws = await asyncio.wait_for(
        websockets.connect(
            args.url,
            compression="deflate" if args.deflate else None,
            create_protocol=CountingProtocol,
            ping_interval=None,  # the test decides when to ping
            max_size=16 << 20,
            open_timeout=args.timeout,
        ),
        args.timeout,
    )
    out("open " + ws.response_headers.get("Sec-WebSocket-Extensions", "-"))
    out("extensions " + (",".join(e.name for e in ws.extensions) or "-"))
    client = Client(ws)
    reader = asyncio.ensure_future(client.reader())
    failed = None
    for step in args.steps:
        try:
            await asyncio.wait_for(client.step(step), args.timeout)
        except asyncio.TimeoutError:
            failed = f"step {step!r} timed out after {args.timeout} s"
        except Exception as e:  # a step failing ends the run, whatever it was
            failed = f"step {step!r} failed: {e}"
        if failed:
            break
    if client.close_code is None:
        await asyncio.wait_for(ws.close(), args.timeout)
    await asyncio.wait_for(reader, args.timeout)
    if args.count_bytes:
        out(f"bytes rx {ws.rx} tx {ws.tx}")
    out(f"closed {client.close_code}")
    if failed:
        print("ws_client.py: " + failed, file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description="Scripted WebSocket client (websockets library).")
    p.add_argument("--deflate", dest="deflate", action="store_true", default=True)
    p.add_argument("--no-deflate", dest="deflate", action="store_false")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--count-bytes", action="store_true")
    p.add_argument("url")
    p.add_argument("steps", nargs="*")
    args = p.parse_args()
    try:
        return asyncio.run(run(args))
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        print(f"ws_client.py: {args.url}: {e or type(e).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
