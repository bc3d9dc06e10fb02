#!/usr/bin/env node
// ws_server.js - rtlab's WebSocket protocol on node's `ws` package: a second,
// independent server, so that our client is tested against someone else's
// WebSocket stack and the benchmark has a well-known peer to compare with.
//
//   NODE_PATH=$(scripts/peer-deps.sh) node tests/peers/ws_server.js [options]
//
//   --host H            address to listen on (default 127.0.0.1)
//   --port N            port (default 8004; 0 picks a free one)
//   --deflate MODE      off (the default, as in ws itself), shared or context:
//                       permessage-deflate with server_no_context_takeover, or
//                       with context kept per connection (unless the client
//                       asks for server_no_context_takeover). Messages of 64 bytes
//                       or more are compressed, as rtlab does (ws's own
//                       threshold is 1 KiB)
//   --ring N            messages kept per topic for replay (default 1024)
//   --heartbeat S       ping every S seconds, drop a connection whose pong has
//                       not come back by the next ping (default 30; 0: never)
//   --max-message B     largest message accepted (default 1 MiB; larger: 1009)
//   --send-queue B      close with 1008 a connection with more than B bytes
//                       unsent (default 256 KiB), as rtlab drops a slow reader
//
// Speaks what servers/websocket.c speaks (GET /ws?topic=T&since=N; subscribe,
// unsubscribe, publish, signal and ping frames; message objects, reset,
// signal, pong and error frames), plus POST /publish?topic=T&event=E,
// GET /metrics (a "ws" object: connections, deflate (of them compressed),
// held, delivered, ...) and
// GET /healthz on the same port. Prints `listening on HOST:PORT` first.
// SIGTERM or SIGINT closes every connection with 1001 and exits 0.
//
// WE SIMPLIFIED: a publish is serialized once but, as ws does, framed and
// (with deflate) compressed again for each subscriber; rtlab compresses once
// per publish. Data sent over the WebSocket is re-serialized by
// JSON.stringify, so its spacing may differ from what the publisher sent
// (HTTP publishes keep their bytes).
'use strict';

const http = require('http');
const { performance } = require('perf_hooks');
let WebSocketServer;
try {
    ({ WebSocketServer } = require('ws'));
} catch (e) {
    console.error('ws_server.js: the ws package is missing: run scripts/peer-deps.sh and set');
    console.error('  NODE_PATH to the directory it prints (' + e.message.split('\n')[0] + ')');
    process.exit(1);
}

// ---- Options

const opts = {
    host: '127.0.0.1', port: 8004, deflate: 'off', ring: 1024, heartbeat: 30,
    maxMessage: 1 << 20, sendQueue: 256 << 10,
};
function usage(why) {
    console.error(`ws_server.js: ${why}\n(see the comment at the top of the file for options)`);
    process.exit(2);
}
for (let i = 2; i < process.argv.length; i += 2) {
    const name = process.argv[i], v = process.argv[i + 1];
    if (v === undefined)
        usage(`${name} wants a value`);
    const num = Number(v);
    switch (name) {
    case '--host': opts.host = v; break;
    case '--port': opts.port = num; break;
    case '--deflate':
        if (!['off', 'shared', 'context'].includes(v))
            usage('--deflate wants off, shared or context');
        opts.deflate = v;
        break;
    case '--ring': opts.ring = num; break;
    case '--heartbeat': opts.heartbeat = num; break;
    case '--max-message': opts.maxMessage = num; break;
    case '--send-queue': opts.sendQueue = num; break;
    default: usage(`unknown option ${name}`);
    }
    if (name !== '--host' && name !== '--deflate' && !(Number.isFinite(num) && num >= 0))
        usage(`${name} wants a number`);
}

const NAME = /^[A-Za-z0-9_.:\/-]{1,64}$/;
const MAX_SUBS = 64;
const metrics = {
    connections: 0, deflate: 0, held: 0, delivered: 0, signals: 0, published: 0, errors: 0,
    closed_send_queue: 0, bytes_in: 0,
};

function nowUs() {
    return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

// ---- Topics: a ring of the last --ring messages, and the subscribers

const topics = new Map(); // name -> { next: id, ring: [json], subs: Set<ws> }

function topic(name) {
    let t = topics.get(name);
    if (t === undefined) {
        t = { next: 1, ring: new Array(opts.ring), subs: new Set() };
        topics.set(name, t);
    }
    return t;
}

// Logs one message and sends it to every subscriber; returns its id.
// dataJson is the data as JSON text.
function publish(name, event, dataJson) {
    const t = topic(name);
    const id = t.next++;
    const json = `{"id":${id},"topic":"${name}","event":"${event}","data":${dataJson},` +
        `"ts":${nowUs()}}`;
    t.ring[id % opts.ring] = json;
    metrics.published++;
    for (const ws of t.subs)
        send(ws, json) && metrics.delivered++;
    return id;
}

// What `since` means, as rtlab's topics.c says it: ids oldest..last are in
// the ring; a since outside since+1 >= oldest and since <= last gets a reset
// to oldest - 1 first.
function replay(ws, name, since) {
    const t = topic(name);
    const last = t.next - 1, oldest = last >= opts.ring ? last - opts.ring + 1 : 1;
    let from = since;
    if (since > last || since + 1 < oldest) {
        from = oldest - 1;
        send(ws, `{"type":"reset","topic":"${name}","next":${from}}`);
    }
    for (let id = from + 1; id <= last; id++)
        send(ws, t.ring[id % opts.ring]);
}

// ---- Connections

// Sends one text frame, or closes a connection that stopped reading.
function send(ws, text) {
    if (ws.readyState !== ws.OPEN)
        return false;
    if (ws.bufferedAmount > opts.sendQueue) {
        metrics.closed_send_queue++;
        ws.close(1008, 'send queue overflow');
        return false;
    }
    ws.send(text);
    return true;
}

function error(ws, reason) {
    metrics.errors++;
    send(ws, JSON.stringify({ type: 'error', reason }));
}

function subscribe(ws, name, since) {
    if (ws.subs.has(name))
        return error(ws, 'already subscribed');
    if (ws.subs.size >= MAX_SUBS)
        return error(ws, 'too many subscriptions');
    if (since !== undefined)
        replay(ws, name, since);
    ws.subs.add(name);
    topic(name).subs.add(ws);
    metrics.held++;
}

function unsubscribe(ws, name) {
    if (!ws.subs.delete(name))
        return error(ws, 'not subscribed');
    topic(name).subs.delete(ws);
    metrics.held--;
}

const isId = (v) => Number.isSafeInteger(v) && v >= 0;

function onFrame(ws, data, isBinary) {
    metrics.bytes_in += data.length;
    if (isBinary)
        return error(ws, 'binary frames are not part of the protocol');
    let m;
    try {
        m = JSON.parse(data.toString('utf8'));
    } catch (e) {
        return error(ws, 'bad JSON');
    }
    if (m === null || typeof m !== 'object' || Array.isArray(m))
        return error(ws, 'not a JSON object');
    if (m.type === 'ping')
        return send(ws, '{"type":"pong"}');
    if (!['subscribe', 'unsubscribe', 'publish', 'signal'].includes(m.type))
        return error(ws, 'unknown type');
    if (typeof m.topic !== 'string' || !NAME.test(m.topic))
        return error(ws, 'missing or invalid topic');
    switch (m.type) {
    case 'subscribe':
        if (m.since !== undefined && !isId(m.since))
            return error(ws, 'invalid since');
        return subscribe(ws, m.topic, m.since);
    case 'unsubscribe':
        return unsubscribe(ws, m.topic);
    case 'publish': {
        const event = m.event === undefined ? 'message' : m.event;
        if (typeof event !== 'string' || !NAME.test(event))
            return error(ws, 'invalid event');
        if (!('data' in m))
            return error(ws, 'missing data');
        return publish(m.topic, event, JSON.stringify(m.data));
    }
    case 'signal': {
        if (!('data' in m))
            return error(ws, 'missing data');
        const text = JSON.stringify({ type: 'signal', topic: m.topic, data: m.data });
        for (const peer of topic(m.topic).subs)
            if (peer !== ws && send(peer, text))
                metrics.signals++;
    }
    }
}

function onConnection(ws, req) {
    metrics.connections++;
    if (ws.extensions.includes('permessage-deflate'))
        metrics.deflate++; // connections that negotiated compression
    ws.subs = new Set();
    ws.alive = true;
    ws.on('message', (data, isBinary) => onFrame(ws, data, isBinary));
    ws.on('pong', () => { ws.alive = true; });
    ws.on('error', () => {}); // a protocol error closes the connection; 'close' follows
    ws.on('close', () => {
        for (const name of ws.subs)
            topic(name).subs.delete(ws);
        metrics.held -= ws.subs.size;
        ws.subs.clear();
    });
    const q = new URL(req.url, 'http://x').searchParams;
    if (q.has('topic')) {
        const since = q.has('since') ? Number(q.get('since')) : undefined;
        if (!NAME.test(q.get('topic')) || (since !== undefined && !isId(since)))
            return ws.close(1008, 'invalid topic or since');
        subscribe(ws, q.get('topic'), since);
    }
}

// ---- HTTP on the same port

function answer(res, status, body, type = 'application/json') {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
}

function handleRequest(req, res) {
    const u = new URL(req.url, 'http://x');
    if (req.method === 'GET' && u.pathname === '/healthz')
        return answer(res, 200, 'ok\n', 'text/plain');
    if (req.method === 'GET' && u.pathname === '/metrics')
        return answer(res, 200, JSON.stringify({ ws: metrics }) + '\n');
    if (req.method !== 'POST' || u.pathname !== '/publish')
        return answer(res, 404, '{"error":"not found"}\n');
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
        size += c.length;
        if (size <= opts.maxMessage)
            chunks.push(c);
    });
    req.on('end', () => {
        const name = u.searchParams.get('topic') || '';
        const event = u.searchParams.get('event') || 'message';
        const body = Buffer.concat(chunks).toString('utf8');
        if (size > opts.maxMessage)
            return answer(res, 413, '{"error":"body too large"}\n');
        if (!NAME.test(name) || !NAME.test(event))
            return answer(res, 400, '{"error":"bad topic or event"}\n');
        try {
            JSON.parse(body);
        } catch (e) {
            return answer(res, 400, '{"error":"body is not JSON"}\n');
        }
        answer(res, 200, `{"id":${publish(name, event, body.trim())}}\n`);
    });
}

// ---- Entry point

// context leaves serverNoContextTakeover unset, so ws keeps its context
// unless the client asks it not to: set to false, ws fails the whole
// handshake (400) when a client asks for server_no_context_takeover, as
// rtlab's client always does, instead of declining compression.
const deflate = opts.deflate === 'off' ? false : { threshold: 64 };
if (opts.deflate === 'shared')
    deflate.serverNoContextTakeover = true;
const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: deflate, maxPayload: opts.maxMessage,
    clientTracking: true,
});
wss.on('connection', onConnection);

// requireHostHeader: rtlab's own tools send HTTP/1.1 requests without a Host
// header, which node 20 would refuse (400) and rtlab's servers accept.
const server = http.createServer({ keepAliveTimeout: 60000, requireHostHeader: false },
                                 handleRequest);
server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url, 'http://x').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.on('clientError', (e, socket) => socket.destroy());

if (opts.heartbeat > 0) {
    setInterval(() => {
        for (const ws of wss.clients) {
            if (!ws.alive) {
                ws.terminate();
                continue;
            }
            ws.alive = false;
            ws.ping(Buffer.alloc(8));
        }
    }, opts.heartbeat * 1000).unref();
}

function shutdown() {
    for (const ws of wss.clients)
        ws.close(1001, 'server shutting down');
    server.close(() => process.exit(0));
    if (server.closeIdleConnections)
        server.closeIdleConnections(); // keep-alive HTTP connections (node 18.2 and later)
    setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen({ host: opts.host, port: opts.port, backlog: 4096 }, () => {
    const a = server.address();
    process.stdout.write(`listening on ${a.address}:${a.port}\n`);
});
server.on('error', (e) => {
    console.error(`ws_server.js: ${opts.host}:${opts.port}: ${e.message}`);
    process.exit(1);
});
