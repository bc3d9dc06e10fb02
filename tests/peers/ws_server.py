#!/usr/bin/python3
"""ws_server.py - a second WebSocket server speaking rtlab's protocol, built on
Debian's python3-websockets (10.x), for interop tests of OUR client
(`rtlab client ws`) against a server that is not ours.

The protocol is rtlab's (DESIGN.md, "WebSocket frames"): JSON text frames,
subscribe with since (replayed from an in-memory log, or a reset when the log
no longer reaches back that far), unsubscribe, publish, signal, ping -> pong,
{"type":"error"} for frames that are not protocol messages. The WebSocket is at
/ws; any other path gets 404. Compression is websockets' own permessage-deflate
unless --no-deflate.

It is driven from stdin, one command a line, so a test can script what the
server does and know when it happened (each command answers on stdout):

  publish TOPIC JSON    log and send a message (data = JSON)  -> published TOPIC ID
  drop                  cut every connection (no Close frame) -> dropped N
  clear TOPIC           forget the topic, as a restarted server would: ids
                        start again from 1, and a client resuming from an old
                        id gets a reset                       -> cleared TOPIC
  close CODE            close every connection with a Close frame -> closed N
  quit                  stop                                   (also at EOF)

Unprompted lines: `listening on 127.0.0.1:PORT` once ready, `connected
deflate|plain` for each WebSocket (whether compression was agreed), `subscribed TOPIC
since=N|live` for each subscribe, `published TOPIC ID` for publishes that came
over a WebSocket, `signal TOPIC` for relayed signals.

Run it with /usr/bin/python3 (Debian's python3-websockets), not a pyenv python.
"""
import argparse
import asyncio
import http
import json
import re
import sys
import time

import websockets

NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


class Topic:
    def __init__(self, ring):
        self.log = []  # message JSON texts, oldest first
        self.first = 1  # id of log[0]
        self.next = 1  # id the next publish gets
        self.ring = ring
        self.subs = set()

    def publish(self, topic, event, data):
        mid = self.next
        self.next += 1
        text = json.dumps(
            {"id": mid, "topic": topic, "event": event, "data": data,
             "ts": time.time_ns() // 1000},
            separators=(",", ":"), ensure_ascii=False)
        self.log.append(text)
        if len(self.log) > self.ring:
            self.log.pop(0)
            self.first += 1
        return mid, text


class Server:
    def __init__(self, ring):
        self.ring = ring
        self.topics = {}
        self.conns = set()

    def topic(self, name):
        if name not in self.topics:
            self.topics[name] = Topic(self.ring)
        return self.topics[name]

    def say(self, line):
        print(line, flush=True)

    async def send(self, ws, text):
        try:
            await ws.send(text)
        except websockets.ConnectionClosed:
            pass

    async def publish(self, name, event, data):
        t = self.topic(name)
        mid, text = t.publish(name, event, data)
        for ws in list(t.subs):
            await self.send(ws, text)
        return mid

    async def subscribe(self, ws, mine, msg):
        name = msg.get("topic")
        since = msg.get("since")
        if not isinstance(name, str) or not NAME.match(name):
            return "invalid topic"
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)
                                  or since < 0):
            return "invalid since"
        if name in mine:
            return "already subscribed"
        t = self.topic(name)
        if since is not None:
            last = t.next - 1
            if since > last or since < t.first - 1:
                nxt = last if since > last else t.first - 1
                await self.send(ws, json.dumps({"type": "reset", "topic": name, "next": nxt},
                                               separators=(",", ":")))
                since = nxt
            for i, text in enumerate(t.log):
                if t.first + i > since:
                    await self.send(ws, text)
        mine.add(name)
        t.subs.add(ws)
        self.say("subscribed %s since=%s" % (name, "live" if since is None else since))
        return None

    async def frame(self, ws, mine, raw):
        if isinstance(raw, bytes):
            return "binary frames are not part of the protocol"
        try:
            msg = json.loads(raw)
        except ValueError:
            return "not JSON"
        if not isinstance(msg, dict):
            return "not a JSON object"
        kind = msg.get("type")
        name = msg.get("topic")
        if kind == "ping":
            await self.send(ws, '{"type":"pong"}')
        elif kind == "subscribe":
            return await self.subscribe(ws, mine, msg)
        elif kind == "unsubscribe":
            if name not in mine:
                return "not subscribed"
            mine.discard(name)
            self.topic(name).subs.discard(ws)
        elif kind == "publish":
            if not isinstance(name, str) or not NAME.match(name) or "data" not in msg:
                return "publish needs a valid topic and data"
            event = msg.get("event", "message")
            if not isinstance(event, str) or not NAME.match(event):
                return "invalid event"
            mid = await self.publish(name, event, msg["data"])
            self.say("published %s %d" % (name, mid))
        elif kind == "signal":
            if not isinstance(name, str) or not NAME.match(name):
                return "invalid topic"
            text = json.dumps({"type": "signal", "topic": name, "data": msg.get("data")},
                              separators=(",", ":"))
            for other in list(self.topic(name).subs):
                if other is not ws:
                    await self.send(other, text)
            self.say("signal %s" % name)
        else:
            return "unknown type"
        return None

    async def handler(self, ws, path):
        mine = set()
        self.conns.add(ws)
        self.say("connected %s" % ("deflate" if ws.extensions else "plain"))
        try:
            async for raw in ws:
                err = await self.frame(ws, mine, raw)
                if err:
                    await self.send(ws, json.dumps({"type": "error", "reason": err}))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.conns.discard(ws)
            for name in mine:
                self.topic(name).subs.discard(ws)

    async def command(self, line):
        words = line.split(None, 2)
        if not words:
            return True
        if words[0] == "publish" and len(words) == 3:
            mid = await self.publish(words[1], "message", json.loads(words[2]))
            self.say("published %s %d" % (words[1], mid))
        elif words[0] == "drop":
            n = len(self.conns)
            for ws in list(self.conns):
                ws.transport.abort()
            self.say("dropped %d" % n)
        elif words[0] == "clear" and len(words) == 2:
            old = self.topics.pop(words[1], None)
            t = self.topic(words[1])
            if old:
                t.subs = old.subs  # subscribers stay; the log and ids start over
            self.say("cleared %s" % words[1])
        elif words[0] == "close" and len(words) == 2:
            n = len(self.conns)
            for ws in list(self.conns):
                await ws.close(int(words[1]), "bye")
            self.say("closed %d" % n)
        elif words[0] == "quit":
            return False
        else:
            self.say("error: unknown command: %s" % line.strip())
        return True


async def process_request(path, headers):
    if path.split("?")[0] != "/ws":
        return http.HTTPStatus.NOT_FOUND, [], b"not found\n"
    return None


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    ap.add_argument("--no-deflate", action="store_true", help="no permessage-deflate")
    ap.add_argument("--ring", type=int, default=1024, help="messages kept per topic")
    ap.add_argument("--ping-interval", type=float, default=20,
                    help="seconds between the server's pings (0: none)")
    args = ap.parse_args()
    srv = Server(args.ring)
    async with websockets.serve(
            srv.handler, "127.0.0.1", args.port,
            compression=None if args.no_deflate else "deflate",
            process_request=process_request,
            ping_interval=args.ping_interval or None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        srv.say("listening on 127.0.0.1:%d" % port)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or not await srv.command(line):
                break


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
