#!/usr/bin/env node
// ws_client.js - a scripted WebSocket client on node's `ws` package, for
// interop tests against servers that speak rtlab's WebSocket protocol. The
// same program as ws_client.py (same options, steps and output), on another
// library.
//
//   NODE_PATH=$(scripts/peer-deps.sh) node tests/peers/ws_client.js \
//       [--deflate | --no-deflate] [--timeout S] [--count-bytes] URL STEP...
//
// STEPs run in order, each within --timeout seconds (default 10):
//   send:JSON      send JSON as one text frame
//   expect:TEXT    wait for a text frame containing TEXT (frames received
//                  before the step count, unless an earlier expect used them)
//   barrier        send {"type":"ping"} and wait for {"type":"pong"}
//   ping:PAYLOAD   send an RFC 6455 ping frame, wait for the pong with the
//                  same payload; prints "pong-frame PAYLOAD"
//   say:WORD       print WORD
//   read:MS        keep receiving for MS milliseconds
//   hold           keep receiving until the server closes or --timeout passes
//
// Output: "open EXT" (the response's Sec-WebSocket-Extensions, "-" when
// none), "extensions E" (what ws says it negotiated, "-": nothing),
// "< TEXT" for each text frame, the steps' lines, "bytes rx N tx M"
// with --count-bytes, "closed CODE" at the end. Exit status 0, 1 when a step
// failed or timed out (stderr says which), 2 on a usage error.
//
// --deflate (the default) offers permessage-deflate as ws does by default
// (with client_max_window_bits); --no-deflate offers nothing.
'use strict';

let WebSocket;
try {
    WebSocket = require('ws');
} catch (e) {
    console.error('ws_client.js: the ws package is missing: run scripts/peer-deps.sh and set');
    console.error('  NODE_PATH to the directory it prints');
    process.exit(1);
}

const args = { deflate: true, timeout: 10, countBytes: false, url: null, steps: [] };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === '--deflate') args.deflate = true;
    else if (a === '--no-deflate') args.deflate = false;
    else if (a === '--count-bytes') args.countBytes = true;
    else if (a === '--timeout') args.timeout = Number(process.argv[++i]);
    else if (args.url === null) args.url = a;
    else args.steps.push(a);
}
if (args.url === null || !(args.timeout > 0)) {
    console.error('usage: ws_client.js [--deflate | --no-deflate] [--timeout S] ' +
                  '[--count-bytes] URL STEP...');
    process.exit(2);
}

const out = (line) => process.stdout.write(line + '\n');

const inbox = [];      // text frames not yet used by an expect
let wake = () => {};   // resolves the step waiting for a frame or the close
let closeCode = null;
let socket = null;     // the TCP socket, for --count-bytes

function nextEvent() {
    return new Promise((resolve) => { wake = resolve; });
}

async function expect(text) {
    for (;;) {
        const i = inbox.findIndex((f) => f.includes(text));
        if (i >= 0) {
            inbox.splice(0, i + 1);
            return;
        }
        if (closeCode !== null)
            throw new Error(`closed (${closeCode}) before a frame with ${text}`);
        await nextEvent();
    }
}

async function step(ws, s) {
    const colon = s.indexOf(':');
    const verb = colon < 0 ? s : s.slice(0, colon), arg = colon < 0 ? '' : s.slice(colon + 1);
    switch (verb) {
    case 'send': ws.send(arg); return;
    case 'expect': await expect(arg); return;
    case 'barrier':
        ws.send('{"type":"ping"}');
        await expect('"type":"pong"');
        out('barrier');
        return;
    case 'ping':
        await new Promise((resolve, reject) => {
            const onPong = (data) => {
                if (data.toString() !== arg)
                    return;
                ws.off('pong', onPong);
                resolve();
            };
            ws.on('pong', onPong);
            ws.ping(arg, undefined, (e) => e && reject(e));
        });
        out('pong-frame ' + arg);
        return;
    case 'say': out(arg); return;
    case 'read': await new Promise((r) => setTimeout(r, Number(arg))); return;
    case 'hold':
        while (closeCode === null)
            await nextEvent();
        return;
    default: throw new Error(`unknown step ${s}`);
    }
}

function withTimeout(promise, what) {
    let timer;
    const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${args.timeout} s`)),
                           args.timeout * 1000);
    });
    return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function main() {
    const ws = new WebSocket(args.url, {
        perMessageDeflate: args.deflate, maxPayload: 16 << 20,
        handshakeTimeout: args.timeout * 1000,
    });
    let ext = '-';
    ws.on('upgrade', (res) => {
        ext = res.headers['sec-websocket-extensions'] || '-';
        socket = res.socket;
    });
    ws.on('message', (data, isBinary) => {
        const text = isBinary ? data.toString('utf8') : data.toString();
        out('< ' + text);
        inbox.push(text);
        wake();
    });
    const closed = new Promise((resolve) => ws.on('close', (code) => {
        closeCode = code;
        wake();
        resolve();
    }));
    await withTimeout(new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
    }), 'connecting');
    ws.on('error', (e) => console.error('ws_client.js: ' + e.message));
    out('open ' + ext);
    out('extensions ' + (ws.extensions || '-'));
    let failed = null;
    for (const s of args.steps) {
        try {
            await withTimeout(step(ws, s), `step '${s}'`);
        } catch (e) {
            failed = e.message.startsWith('step') ? e.message : `step '${s}' failed: ${e.message}`;
            break;
        }
    }
    if (closeCode === null)
        ws.close(1000);
    await withTimeout(closed, 'closing').catch(() => ws.terminate());
    if (args.countBytes)
        out(`bytes rx ${socket.bytesRead} tx ${socket.bytesWritten}`);
    out(`closed ${closeCode}`);
    if (failed !== null) {
        console.error('ws_client.js: ' + failed);
        process.exitCode = 1;
    }
}

main().catch((e) => {
    console.error(`ws_client.js: ${args.url}: ${e.message}`);
    process.exitCode = 1;
});
