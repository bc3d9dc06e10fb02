/*
 * ws.c - the WebSocket client.
 *
 * THE IDEA
 *   Ask the server, with an ordinary HTTP GET, to turn the connection into
 *   a WebSocket: a two-way channel of framed messages. From then on either
 *   side may send at any moment. We send one small JSON frame per topic
 *   ("subscribe", with where we were), and the server pushes each message
 *   the moment it is published. Unlike SSE, nothing is done for us: the
 *   keep-alive pings, noticing a dead connection, closing politely,
 *   reconnecting and resuming are all this client's own work.
 *
 * ON THE WIRE
 *
 *   client                                               server
 *     |-- GET /ws  Upgrade: websocket  Sec-WebSocket-Key ->|
 *     |   (and permessage-deflate offered)                 |
 *     |<----- 101 Switching Protocols  Sec-WebSocket-Accept|
 *     |== {"type":"subscribe","topic":"a","since":7} ====>|  masked text frames
 *     |== {"type":"ping"} ================================>|
 *     |<=========== {"id":8,"topic":"a",...} (replayed) ===|  unmasked, maybe
 *     |<=========================== {"type":"pong"} =======|  compressed: now live
 *     |                          (message 9 published) -->|
 *     |<=========== {"id":9,"topic":"a",...} ==============|  at once
 *     |== PING (every --heartbeat) =======================>|
 *     |<======================================= PONG ======|
 *     |== CLOSE 1000 (on exit) ===========================>|
 *     |<====================================== CLOSE 1000 =|  then TCP closes
 *
 * COSTS
 *   One handshake per connection, then 2 to 14 bytes of framing per
 *   message (often less than nothing with compression). One socket held
 *   for as long as we listen, as with SSE; many topics share it.
 *
 * WHEN THINGS GO WRONG (the exact policy)
 *   - Handshake: a fresh random 16-byte nonce per connection (getrandom);
 *     the answer must be 101 with the right Sec-WebSocket-Accept, and an
 *     extension only as we offered it. Anything else is a failed attempt.
 *   - Frames are read by proto's decoder (rt_ws_decode, client side: server
 *     frames must be unmasked), messages bounded by --max-message,
 *     compressed ones inflated with the same bound and then checked for
 *     UTF-8. Every frame we send is masked with a fresh random key.
 *   - A protocol violation fails the connection: we send Close with the
 *     RFC's code (1002, 1007, 1009, 1011), say why on stderr, stop reading
 *     and reconnect once the server has closed (or after 5 s).
 *   - Heartbeat: a ping every --heartbeat seconds (30); a connection on
 *     which nothing at all arrived for 2.5 heartbeats is dead (a cable
 *     pulled, a NAT that forgot us): dropped, counted, reopened. Server
 *     pings are answered with pongs carrying the same payload.
 *   - Reconnecting: after U[0, min(30 s, 1 s * 2^k)] (rt_backoff_next(),
 *     full jitter), k counting failed attempts since the last connection
 *     that went live (the pong after our subscribes came back).
 *   - Every connection subscribes every topic with since = the id of the
 *     last message delivered on it (at first --since, default 0: all the
 *     server holds; with --live, no since: new messages only). Replays
 *     overlapping what we had are dropped by id (rt_seq): output is exactly
 *     once and in order per topic.
 *   - {"type":"reset"} moves that topic's position to its "next" (the
 *     server restarted, or we were away longer than its log reaches).
 *   - {"type":"error"} (the server refused a frame of ours) is shown and
 *     counted; the connection stays.
 *   - Closing: a server's Close is answered with the same code and we wait
 *     for it to close TCP; on exit we send Close 1000 and wait for its
 *     answer up to RT_WS_CLOSE_TIMEOUT_MS.
 *
 * READING WITHOUT A BUFFER PER CONNECTION
 *   As in sse.c: bytes arrive in the HTTP client's shared read buffer and
 *   are decoded where they lie; a message that comes whole in one read is
 *   parsed in place. Only a message cut by the end of a read (or
 *   fragmented) is copied into a buffer of its own, freed once it is whole.
 *   With server_no_context_takeover (which we always ask for) every
 *   compressed message stands alone, so one inflater and one output buffer
 *   serve every connection of the process: 10,000 connections do not hold
 *   10,000 zlib windows.
 *
 * NCHAN (`rtlab load ws --peer nchan`, internal.h "Peers")
 *   nginx's nchan module has a WebSocket subscriber of its own kind, and
 *   the same client speaks to it with three differences:
 *
 *     client                                              nginx + nchan
 *       |-- GET /ws?topic=a  Upgrade: websocket ------------->|
 *       |   Sec-WebSocket-Protocol: ws+meta.nchan              |
 *       |   (Last-Event-ID: 1795838436:0 when resuming)        |
 *       |<---------- 101 Switching Protocols, ws+meta.nchan ---|  held from here
 *       |<== "id: 1795838436:1\ncontent-type: ...\n\n{"seq":8,"ts":...}"
 *       |== PING ==========================================>|  pongs come back
 *
 *   - Subscribing is the URL's business: we send no text frame at all (nchan
 *     closes a subscriber that sends one with 1008, taking it for a publish
 *     on a location that has no publisher), so no subscribe frames and no
 *     {"type":"ping"} barrier. The connection counts as held at the 101:
 *     nchan sends it from the subscriber's enqueue, once it is in the
 *     channel, so a publish right after it arrives (tried with nchan 1.3.6:
 *     2,000 fresh channels at once, each published to the moment its 101
 *     was read; all 2,000 got it).
 *   - Each frame is the published body after a header whose id, TIME:TAG,
 *     is where we are (nchan.c); a reconnect sends it as Last-Event-ID.
 *     Without one, nchan first sends all the channel stores: the load
 *     generator uses a fresh channel.
 *   - Keep-alive: protocol pings, which nchan answers; it pings us too.
 *   One topic per connection; chat mode (rt_ws_sub_send) is rtlab's only.
 *
 * WE SIMPLIFIED
 *   We never compress what we send (RSV1 is per message, so that is
 *   allowed; our frames are small). With --live, a connection lost before
 *   the first message on a topic resubscribes it live only: a message
 *   published in the gap is missed, since we never learned a position to
 *   resume from. No subprotocols (but nchan's, above), no TLS (wss://).
 *
 * COMPARE WITH
 *   sse.c: the same one connection, but the server does the framing, the
 *   resume header and the heartbeats, and the browser the reconnecting.
 *   long_poll.c: no connection to keep alive, but a request per message.
 *   nchan.c: where this client resumes in an nchan channel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

/* nchan's subprotocol that puts a message's id before its body (see NCHAN). */
#define NCHAN_META "ws+meta.nchan"

/* ---- Data structures --------------------------------------------------- */

/* Where we are in one topic. */
struct ws_pos {
    struct rt_seq seq;
    bool known; /* seq.last is a position the server can resume from */
};

/* A text message waiting for a connection (rt_ws_sub_send() with keep). */
struct ws_pending {
    struct ws_pending *next;
    size_t len;
    char text[];
};

struct ws_sub {
    struct rt_sub_base b; /* b.http carries one WebSocket at a time; b.timer is
                             the wait before connecting, then the ping ticks,
                             then the close handshake's deadline */
    const char *const *topics;
    size_t num_topics;
    struct ws_pos *pos; /* [num_topics] */
    uint64_t max_message;
    char key[RT_WS_KEY_LEN + 1]; /* the handshake's Sec-WebSocket-Key */
    struct rt_ws_decoder dec;
    bool deflate;                   /* permessage-deflate on this connection */
    bool nchan_meta;                /* nchan agreed to ws+meta.nchan: frames carry ids */
    bool open;                      /* the handshake is done: frames flow */
    bool live;                      /* subscribes done (nchan: the 101 came): held */
    bool was_live;                  /* this connection went live: the backoff starts over */
    bool close_sent;                /* no more frames from us */
    bool close_got;                 /* the server's Close came */
    bool failed;                    /* we failed the connection: ignore what still comes */
    bool quitting;                  /* close() was called */
    bool close_when_sent;           /* rt_ws_sub_close_when_sent(): on the next connection */
    bool close_on_pong;             /* ... and now: once our last ping's pong is back */
    uint8_t pongs_due;              /* {"type":"ping"} sent, pong not yet back */
    uint8_t ctl[RT_WS_CONTROL_MAX]; /* a control frame's payload */
    size_t ctl_len;
    uint8_t *msg; /* a data message in pieces; NULL when none */
    size_t msg_len, msg_cap;
    char *label; /* "a, b": several topics, as messages name them; or NULL */
    struct ws_pending *pending, **pending_tail;
    size_t pending_bytes;
    char why[160]; /* set when we end the connection ourselves: why */
    void (*user_close_cb)(void *sub);
};

static void on_due(uv_timer_t *t);
static void on_ping_tick(uv_timer_t *t);
static void ws_close(void *sub, void (*cb)(void *sub));
static void fail_connection(struct ws_sub *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Random bytes ------------------------------------------------------ */

/* Nonces and masking keys must be unpredictable (RFC 6455 sections 4.1 and
 * 10.3: a page's script must not be able to choose the bytes a proxy sees).
 * One getrandom() call fills a pool that serves many frames. */
static uint8_t rnd_pool[256]; /* getrandom() fills up to 256 bytes whole */
static size_t rnd_left;

static int random_bytes(uint8_t *out, size_t n)
{
    while (n > 0) {
        if (rnd_left == 0) {
            ssize_t got;
            do
                got = getrandom(rnd_pool, sizeof rnd_pool, 0);
            while (got < 0 && errno == EINTR);
            if (got <= 0)
                return UV_EIO;
            rnd_left = (size_t)got;
        }
        size_t take = n < rnd_left ? n : rnd_left;
        memcpy(out, rnd_pool + rnd_left - take, take);
        memset(rnd_pool + rnd_left - take, 0, take); /* used once only */
        rnd_left -= take;
        out += take;
        n -= take;
    }
    return 0;
}

/* ---- Sending frames ---------------------------------------------------- */

/* The sub's settings with topic i as the one named (in a reset's message). */
static struct rt_sub_config topic_cfg(const struct ws_sub *s, size_t i)
{
    struct rt_sub_config c = s->b.cfg;
    c.topic = s->topics[i];
    return c;
}

/* Sends one frame: header, then the payload masked with a fresh key.
 * Returns 0 or an error (the caller fails the connection). */
static int send_frame(struct ws_sub *s, uint8_t opcode, const void *payload, size_t len)
{
    struct rt_ws_frame f = {.fin = true, .opcode = opcode, .masked = true, .len = len};
    int r = random_bytes(f.mask, sizeof f.mask);
    if (r < 0)
        return r;
    uint8_t *buf = rt_hclient_send_alloc(RT_WS_HEADER_MAX + len);
    if (buf == NULL)
        return UV_ENOMEM;
    int hl = rt_ws_frame_header(buf, RT_WS_HEADER_MAX, &f);
    if (len)
        memcpy(buf + hl, payload, len);
    rt_ws_mask(buf + hl, len, f.mask, 0);
    return rt_hclient_send(&s->b.http, buf, (size_t)hl + len, RT_WS_CLIENT_SEND_QUEUE);
}

/* A text frame; a failure to send fails the connection. */
static int send_text(struct ws_sub *s, const char *text, size_t len)
{
    int r = send_frame(s, RT_WS_TEXT, text, len);
    if (r == UV_ENOBUFS)
        fail_connection(s, r, "the server does not read what we send");
    else if (r < 0)
        fail_connection(s, r, "cannot send: %s", uv_strerror(r));
    return r;
}

/* Sends Close with code (and no reason): ours, an answer, or a failure. */
static void send_close(struct ws_sub *s, uint16_t code)
{
    uint8_t payload[2];
    size_t n = 0;
    if (s->close_sent || !s->open)
        return;
    s->close_sent = true;
    if (code != RT_WS_CLOSE_NO_STATUS)
        n = (size_t)rt_ws_close_build(payload, sizeof payload, code, NULL, 0);
    (void)send_frame(s, RT_WS_CLOSE, payload, n); /* the deadline covers a failure */
}

static void on_close_deadline(uv_timer_t *t)
{
    struct ws_sub *s = t->data;
    if (s->why[0] == '\0')
        snprintf(s->why, sizeof s->why, "the server did not complete the close handshake");
    rt_hclient_abort(&s->b.http, UV_ETIMEDOUT);
}

/* From now on we wait for the server to close TCP, at most this long. */
static void await_close(struct ws_sub *s)
{
    (void)uv_timer_start(&s->b.timer, on_close_deadline, RT_WS_CLOSE_TIMEOUT_MS, 0);
}

/* _Fail the WebSocket Connection_ (RFC 6455 section 7.1.7): say why, send
 * Close with the code for err, read nothing more, and let the server close. */
static void fail_connection(struct ws_sub *s, int err, const char *fmt, ...)
{
    if (s->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->failed = true;
    if (!s->open || err == UV_ENOBUFS) {
        rt_hclient_abort(&s->b.http, err); /* nothing to say it with */
        return;
    }
    send_close(s, rt_ws_close_code_for(err));
    await_close(s);
}

/* ---- Subscribing ------------------------------------------------------- */

/* {"type":"ping"}: its pong says the server has done all we sent before. */
static void send_app_ping(struct ws_sub *s)
{
    static const char ping[] = "{\"type\":\"ping\"}";
    if (!s->failed && send_text(s, ping, sizeof ping - 1) == 0)
        s->pongs_due++;
}

static void send_subscribes(struct ws_sub *s)
{
    char frame[RT_NAME_MAX + 96];
    for (size_t i = 0; i < s->num_topics && !s->failed; i++) {
        int n;
        if (s->pos[i].known)
            n = snprintf(frame, sizeof frame,
                         "{\"type\":\"subscribe\",\"topic\":\"%s\",\"since\":%" PRIu64 "}",
                         s->topics[i], s->pos[i].seq.last);
        else
            n = snprintf(frame, sizeof frame, "{\"type\":\"subscribe\",\"topic\":\"%s\"}",
                         s->topics[i]);
        send_text(s, frame, (size_t)n); /* topic names need no escaping */
    }
    /* Replies come in order: its pong means every replay is done. */
    send_app_ping(s);
}

/* Sends what was kept for a connection; then closes if that was asked. */
static void send_pending(struct ws_sub *s)
{
    while (s->pending && !s->failed) {
        struct ws_pending *p = s->pending;
        if (send_text(s, p->text, p->len) < 0)
            return; /* kept for the next connection */
        s->pending = p->next;
        s->pending_bytes -= p->len;
        free(p);
    }
    if (s->pending == NULL)
        s->pending_tail = &s->pending;
}

/* ---- Receiving --------------------------------------------------------- */

static int topic_index(const struct ws_sub *s, const cJSON *root)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "topic");
    for (size_t i = 0; cJSON_IsString(t) && i < s->num_topics; i++)
        if (strcmp(t->valuestring, s->topics[i]) == 0)
            return (int)i;
    return -1;
}

/* Skips a message we cannot use: count it, say why, keep the connection. */
static void bad_message(struct ws_sub *s, const char *why)
{
    s->b.cfg.stats->errors++;
    if (s->b.cfg.verbose)
        fprintf(stderr, "error: ws: bad message: %s; skipped\n", why);
}

static void take_reset(struct ws_sub *s, const cJSON *root)
{
    int i = topic_index(s, root);
    uint64_t next;
    if (i < 0 || !rt_json_u64(cJSON_GetObjectItemCaseSensitive(root, "next"), &next)) {
        bad_message(s, "a reset without a topic of ours or a valid \"next\"");
        return;
    }
    struct rt_sub_config c = topic_cfg(s, (size_t)i);
    rt_sub_reset(&c, &s->pos[i].seq, next);
    s->pos[i].known = true;
}

/* The connection is subscribed: counted as held, and the backoff will
 * start over when it ends. */
static void go_live(struct ws_sub *s)
{
    if (!s->live) {
        s->live = s->was_live = true;
        s->b.cfg.stats->held++;
    }
}

static void take_pong(struct ws_sub *s)
{
    if (s->pongs_due > 0)
        s->pongs_due--;
    go_live(s);
    if (s->close_on_pong && s->pongs_due == 0)
        ws_close(s, s->user_close_cb);
}

static void take_signal(struct ws_sub *s, const cJSON *root)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(data, "typing");
    if (!s->b.cfg.verbose)
        return;
    if (cJSON_IsString(who)) {
        fprintf(stderr, "%s is typing...\n", who->valuestring);
    } else {
        char *text = cJSON_PrintUnformatted(data);
        fprintf(stderr, "signal: %s\n", text ? text : "?");
        free(text);
    }
}

static void take_error(struct ws_sub *s, const cJSON *root)
{
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
    s->b.cfg.stats->errors++;
    if (s->b.cfg.verbose)
        fprintf(stderr, "error: ws: the server refused a frame: %s\n",
                cJSON_IsString(reason) ? reason->valuestring : "(no reason given)");
}

/* One frame from nchan: the ws+meta.nchan header, whose id is where a
 * reconnect resumes (Last-Event-ID), then the published body as it came,
 * {"seq","ts"} from the load generator. */
static void take_nchan(struct ws_sub *s, const char *text, size_t len)
{
    uint64_t now = rt_now_us();
    size_t at = 0;
    if (s->nchan_meta && !rt_nchan_cursor_from_ws_frame(&s->b.nchan, text, len, &at)) {
        bad_message(s, "no ws+meta.nchan header (\"id: TIME:TAG\")");
        return;
    }
    cJSON *root = cJSON_ParseWithLength(text + at, len - at);
    if (!cJSON_IsObject(root))
        bad_message(s, "the body is not a JSON object");
    else if (rt_sub_take(&s->b.cfg, &s->pos[0].seq, root, text + at, len - at, now) < 0)
        bad_message(s, "the body has no valid \"seq\"");
    cJSON_Delete(root);
}

/* One whole text message, text[0..len) UTF-8: a message object or one of
 * the protocol's replies (from nchan: take_nchan()). */
static void take_json(struct ws_sub *s, const char *text, size_t len)
{
    if (s->b.cfg.peer == RT_PEER_NCHAN) {
        take_nchan(s, text, len);
        return;
    }
    uint64_t now = rt_now_us();
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    int i;
    if (!cJSON_IsObject(root))
        bad_message(s, "not a JSON object");
    else if (type == NULL && (i = topic_index(s, root)) < 0)
        bad_message(s, "a message on a topic we did not ask for");
    else if (type == NULL && rt_sub_take(&s->b.cfg, &s->pos[i].seq, root, text, len, now) < 0)
        bad_message(s, "a message without a valid \"id\"");
    else if (type == NULL)
        s->pos[i].known = true;
    else if (!cJSON_IsString(type))
        bad_message(s, "\"type\" is not a string");
    else if (strcmp(type->valuestring, "reset") == 0)
        take_reset(s, root);
    else if (strcmp(type->valuestring, "pong") == 0)
        take_pong(s);
    else if (strcmp(type->valuestring, "signal") == 0)
        take_signal(s, root);
    else if (strcmp(type->valuestring, "error") == 0)
        take_error(s, root);
    /* Any other type is for a newer client: ignored. */
    cJSON_Delete(root);
}

/* Inflating: one inflater and one output buffer for every connection (see
 * READING above). */
static struct rt_wsd shared_wsd;
static bool shared_wsd_ready;
static uint8_t *inflated;
static size_t inflated_cap;

static int64_t inflate_message(const uint8_t *in, size_t len, size_t max)
{
    if (inflated_cap < max) {
        uint8_t *p = realloc(inflated, max);
        if (p == NULL)
            return UV_ENOMEM;
        inflated = p;
        inflated_cap = max;
    }
    if (!shared_wsd_ready) {
        /* The largest window the server may use; no context between messages. */
        struct rt_wsd_params p = {.server_no_context_takeover = true,
                                  .client_no_context_takeover = true,
                                  .server_max_window_bits = 15,
                                  .client_max_window_bits = 15};
        rt_wsd_init(&shared_wsd, &p, false, -1);
        shared_wsd_ready = true;
    }
    int64_t r = rt_wsd_decompress(&shared_wsd, in, len, inflated, max);
    if (r < 0) { /* the inflater is spent: a fresh one next time */
        rt_wsd_close(&shared_wsd);
        shared_wsd_ready = false;
    }
    return r;
}

/* A message (or, compressed, what it inflates to) over our limit: 1009. */
static void too_big(struct ws_sub *s)
{
    fail_connection(s, RT_EWSTOOBIG,
                    "a message larger than %" PRIu64 " bytes (--max-message; closing with 1009)",
                    s->max_message);
}

/* One whole data message: inflate if need be, check, take. */
static void take_message(struct ws_sub *s, uint8_t opcode, bool compressed, const uint8_t *p,
                         size_t len)
{
    if (compressed) {
        int64_t n = inflate_message(p, len, s->max_message);
        if (n == RT_EWSTOOBIG) {
            too_big(s);
            return;
        }
        if (n < 0) {
            int err = n == UV_ENOMEM ? RT_EZLIB : (int)n;
            fail_connection(s, err, "cannot inflate a message: %s (closing with %u)",
                            rt_strerror(err), (unsigned)rt_ws_close_code_for(err));
            return;
        }
        struct rt_ws_utf8 u;
        rt_ws_utf8_init(&u);
        if (opcode == RT_WS_TEXT &&
            (rt_ws_utf8_feed(&u, inflated, (size_t)n) < 0 || !rt_ws_utf8_done(&u))) {
            fail_connection(s, RT_EWSUTF8, "an inflated text message is not UTF-8");
            return;
        }
        p = inflated;
        len = (size_t)n;
    }
    if (opcode != RT_WS_TEXT)
        bad_message(s, "a binary frame (the protocol is JSON text)");
    else
        take_json(s, (const char *)p, len);
}

/* One whole control frame. */
static void take_control(struct ws_sub *s, uint8_t opcode, const uint8_t *p, size_t len)
{
    uint16_t code;
    const char *reason;
    size_t reason_len;
    if (opcode == RT_WS_PING && !s->close_sent) {
        int r = send_frame(s, RT_WS_PONG, p, len);
        if (r < 0)
            fail_connection(s, r, "cannot answer a ping: %s", uv_strerror(r));
        return;
    }
    if (opcode != RT_WS_CLOSE)
        return; /* a pong: its arrival already fed the watchdog */
    int r = rt_ws_close_parse(p, len, &code, &reason, &reason_len);
    if (r < 0) {
        fail_connection(s, r, "a malformed Close frame: %s", rt_strerror(r));
        return;
    }
    if (!s->close_sent) {
        snprintf(s->why, sizeof s->why, "the server closed the connection (%u%s%.*s)",
                 (unsigned)code, reason_len ? ": " : "", (int)reason_len, reason);
        send_close(s, code); /* the answer: echo its code */
    }
    s->close_got = true;
    s->failed = true; /* nothing more is read; the server closes TCP */
    await_close(s);
}

/* Keeps p[0..n) of a data message that arrived in pieces. */
static int keep_piece(struct ws_sub *s, const uint8_t *p, size_t n)
{
    if (s->msg_len + n > s->msg_cap) {
        size_t cap = s->msg_cap ? s->msg_cap * 2 : 4096;
        while (cap < s->msg_len + n)
            cap *= 2;
        uint8_t *m = realloc(s->msg, cap);
        if (m == NULL)
            return UV_ENOMEM;
        s->msg = m;
        s->msg_cap = cap;
    }
    memcpy(s->msg + s->msg_len, p, n);
    s->msg_len += n;
    return 0;
}

static void drop_message_buffer(struct ws_sub *s)
{
    free(s->msg);
    s->msg = NULL;
    s->msg_len = s->msg_cap = 0;
}

/* One event of the decoder. A data message that comes whole in one event
 * is taken where it lies; one in pieces is gathered in s->msg first. */
static void take_event(struct ws_sub *s, const struct rt_ws_event *ev)
{
    bool control = ev->frame.opcode & 0x08;
    if (ev->kind == RT_WS_EV_HEADER && control)
        s->ctl_len = 0;
    if (ev->kind == RT_WS_EV_DATA && control) {
        memcpy(s->ctl + s->ctl_len, ev->data, ev->data_len); /* <= 125 in all */
        s->ctl_len += ev->data_len;
    }
    if (control) {
        if (ev->frame_end)
            take_control(s, ev->frame.opcode, s->ctl, s->ctl_len);
        return;
    }
    if (s->quitting)
        return; /* closing: nothing more is delivered (--count means N) */
    bool whole = ev->message_end && s->msg_len == 0 && ev->frame.opcode != RT_WS_CONT &&
                 ev->data_len == ev->frame.len;
    if (whole) {
        take_message(s, ev->msg_opcode, ev->compressed, ev->data, ev->data_len);
        return;
    }
    if (ev->data_len > 0 && keep_piece(s, ev->data, ev->data_len) < 0) {
        fail_connection(s, RT_EZLIB, "out of memory for a message");
        return;
    }
    if (ev->message_end) {
        take_message(s, ev->msg_opcode, ev->compressed, s->msg, s->msg_len);
        drop_message_buffer(s);
    }
}

/* Bytes from the server, in whatever pieces the network made. */
static void on_data(struct rt_hclient *http, const char *p, size_t n)
{
    struct ws_sub *s = http->data;
    /* The decoder unmasks in place, but server frames are never masked (a
     * masked one is an error before its payload), so it writes nothing. */
    uint8_t *buf = (uint8_t *)(uintptr_t)p;
    size_t at = 0;
    uint32_t serial = http->serial;
    while (at < n && !s->failed) {
        struct rt_ws_event ev;
        int64_t r = rt_ws_decode(&s->dec, buf + at, n - at, &ev);
        if (r == RT_EMORE)
            return; /* the decoder kept the partial header */
        if (r == RT_EWSTOOBIG) {
            too_big(s);
            return;
        }
        if (r < 0) {
            fail_connection(s, (int)r, "the server broke the protocol: %s (closing with %u)",
                            rt_strerror((int)r), (unsigned)rt_ws_close_code_for((int)r));
            return;
        }
        at += (size_t)r;
        take_event(s, &ev);
        if (s->b.closing || http->serial != serial || !rt_hclient_busy(http))
            return; /* the message callback closed us, or the connection ended */
    }
}

/* ---- The connection ---------------------------------------------------- */

static void on_drain_deadline(uv_timer_t *t)
{
    struct ws_sub *s = t->data;
    ws_close(s, s->user_close_cb);
}

/* Everything is sent; close once the server has handled it all, and so has
 * sent us whatever it caused (our own publishes come back to us): that is
 * when the pong of one more ping arrives. At most RT_WS_CLOSE_TIMEOUT_MS. */
static void drain_then_close(struct ws_sub *s)
{
    send_app_ping(s);
    s->close_on_pong = true;
    (void)uv_timer_start(&s->b.timer, on_drain_deadline, RT_WS_CLOSE_TIMEOUT_MS, 0);
}

/* The 101 is in: check it, then subscribe. */
static void on_head(struct rt_hclient *http, const struct rt_hanswer *ans)
{
    struct ws_sub *s = http->data;
    const struct rt_http_response *h = ans->head;
    const struct rt_http_header *ext =
        rt_http_header_find(h->headers, h->num_headers, "Sec-WebSocket-Extensions");
    struct rt_wsd_prefs prefs = {.server_no_context_takeover = true,
                                 .client_no_context_takeover = true};
    struct rt_wsd_params params;
    if (rt_ws_client_check(h, s->key, RT_WS_KEY_LEN) < 0) {
        fail_connection(s, RT_EWSHANDSHAKE, "the server's 101 answer is not a valid handshake");
        return;
    }
    const struct rt_http_header *proto =
        rt_http_header_find(h->headers, h->num_headers, "Sec-WebSocket-Protocol");
    bool nchan = s->b.cfg.peer == RT_PEER_NCHAN;
    if (proto && !(nchan && proto->value_len == sizeof NCHAN_META - 1 &&
                   memcmp(proto->value, NCHAN_META, sizeof NCHAN_META - 1) == 0)) {
        fail_connection(s, RT_EWSHANDSHAKE, "the server chose a subprotocol we did not offer");
        return;
    }
    s->nchan_meta = proto != NULL;
    s->deflate = false;
    if (ext && (s->b.cfg.no_deflate ||
                rt_wsd_client_accept(ext->value, ext->value_len, &prefs, &params) < 0)) {
        fail_connection(s, RT_EWSHANDSHAKE,
                        "the server answered with an extension we cannot use: "
                        "%.*s",
                        (int)(ext->value_len > 80 ? 80 : ext->value_len), ext->value);
        return;
    }
    s->deflate = ext != NULL;
    rt_ws_decoder_init(&s->dec, false, s->deflate, s->max_message);
    s->open = true;
    if (nchan)
        go_live(s); /* subscribed by the URL (see NCHAN above) */
    else
        send_subscribes(s);
    send_pending(s);
    if (s->failed)
        return;
    if (s->close_when_sent && s->pending == NULL) {
        drain_then_close(s);
        return;
    }
    if (s->b.cfg.heartbeat_ms)
        (void)uv_timer_start(&s->b.timer, on_ping_tick, s->b.cfg.heartbeat_ms,
                             s->b.cfg.heartbeat_ms);
}

static void on_ping_tick(uv_timer_t *t)
{
    struct ws_sub *s = t->data;
    uint8_t payload[8];
    uint64_t now = uv_now(s->b.http.loop);
    for (int i = 0; i < 8; i++)
        payload[i] = (uint8_t)(now >> (56 - 8 * i));
    int r = send_frame(s, RT_WS_PING, payload, sizeof payload);
    if (r < 0)
        fail_connection(s, r, "cannot send a ping: %s", uv_strerror(r));
}

/* Describes how a connection (or attempt) ended; returns whether that is
 * an error. */
static bool describe_end(const struct ws_sub *s, int err, const struct rt_hanswer *ans, char *out,
                         size_t cap)
{
    if (ans != NULL) {
        int n = ans->body_len > 200 ? 200 : (int)ans->body_len;
        snprintf(out, cap, "HTTP %d %s: %.*s", ans->status, rt_http_reason(ans->status), n,
                 ans->body);
    } else if (err == UV_ETIMEDOUT && s->open && s->why[0] == '\0') {
        snprintf(out, cap,
                 "nothing received for %.1f s (heartbeat watchdog): the connection looks "
                 "dead",
                 (double)s->b.cfg.heartbeat_ms * RT_SSE_WATCHDOG_FACTOR / 1000.0);
    } else if (s->why[0] != '\0') {
        snprintf(out, cap, "%s", s->why);
        /* A close the server began is how connections end: not an error. */
        return !(strncmp(s->why, "the server closed", 17) == 0 && !s->quitting);
    } else if (err == UV_EOF && s->open) {
        snprintf(out, cap, "the server closed the connection without a Close frame");
    } else if (err == UV_EOF) {
        snprintf(out, cap, "the server closed the connection before answering");
    } else {
        snprintf(out, cap, "%s", rt_hclient_strerror(err));
    }
    return true;
}

static void on_closed(void *sub)
{
    struct ws_sub *s = sub;
    while (s->pending) {
        struct ws_pending *p = s->pending;
        s->pending = p->next;
        free(p);
    }
    free(s->pos);
    s->pos = NULL;
    free(s->label);
    s->label = NULL;
    drop_message_buffer(s);
    if (s->user_close_cb)
        s->user_close_cb(s);
}

static void wait_then_connect(struct ws_sub *s, uint64_t ms)
{
    (void)uv_timer_start(&s->b.timer, on_due, ms, 0); /* fails only once closing */
}

/* The connection (or the attempt) is over: reconnect after the backoff. */
static void on_end(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct ws_sub *s = http->data;
    char why[512];
    bool error = describe_end(s, err, ans, why, sizeof why);
    /* Ours was answered (the server not closing TCP after it is its own
     * business), or the server never answered but said nothing else. */
    bool clean = s->close_sent && s->quitting && (s->close_got || s->why[0] == '\0');
    uv_timer_stop(&s->b.timer);
    if (s->live)
        s->b.cfg.stats->held--;
    s->open = s->live = false;
    rt_sub_count_connects(s->b.cfg.stats, http, &s->b.connects_seen);
    drop_message_buffer(s);
    if (s->b.closing)
        return;
    if (s->quitting) {
        if (!clean && err != UV_EOF && s->b.cfg.verbose)
            fprintf(stderr, "note: ws: closing: %s\n", why);
        rt_sub_base_close(s, on_closed);
        return;
    }
    uint64_t delay = rt_backoff_reconnect(&s->b.backoff, 0, s->was_live);
    rt_sub_trouble(&s->b.cfg, error, "reconnecting", delay, "%s", why);
    wait_then_connect(s, delay);
}

/* The upgrade request's target and the headers that depend on the peer:
 * rtlab's WebSocket is at ws_path and topics are subscribed by frames;
 * nchan's takes its channel from the URL, is asked for ws+meta.nchan (so
 * that every frame names its id) and told where to resume. */
static void peer_request(const struct ws_sub *s, char *target, size_t target_cap, char *extra,
                         size_t extra_cap)
{
    const struct rt_endpoint *ep = s->b.cfg.ep;
    extra[0] = '\0';
    if (s->b.cfg.peer != RT_PEER_NCHAN) {
        snprintf(target, target_cap, "%s", ep->ws_path);
        return;
    }
    snprintf(target, target_cap, "%s?topic=%s", ep->ws_path, s->topics[0]);
    int n = snprintf(extra, extra_cap, "Sec-WebSocket-Protocol: " NCHAN_META "\r\n");
    if (rt_nchan_cursor_sse_header(&s->b.nchan, extra + n, extra_cap - (size_t)n) < 0)
        extra[n] = '\0'; /* cannot happen with our cap; never half a header */
}

static void connect_now(struct ws_sub *s)
{
    uint8_t nonce[16];
    char offer[160] = "", extra[128], headers[512];
    char target[sizeof s->b.cfg.ep->ws_path + RT_NAME_MAX + 8];
    struct rt_wsd_prefs prefs = {.server_no_context_takeover = true,
                                 .client_no_context_takeover = true};
    int r = random_bytes(nonce, sizeof nonce);
    s->open = s->live = s->was_live = s->close_sent = s->close_got = s->failed = false;
    s->close_on_pong = false;
    s->pongs_due = 0;
    s->why[0] = '\0';
    s->ctl_len = 0;
    if (r == 0) {
        rt_ws_client_key(nonce, s->key);
        if (!s->b.cfg.no_deflate && rt_wsd_offer_write(offer, sizeof offer, &prefs) < 0)
            offer[0] = '\0';
        peer_request(s, target, sizeof target, extra, sizeof extra);
        snprintf(headers, sizeof headers,
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n%s%s",
                 s->key, offer, extra);
        uint64_t watchdog = (uint64_t)((double)s->b.cfg.heartbeat_ms * RT_SSE_WATCHDOG_FACTOR);
        s->b.cfg.stats->requests++;
        r = rt_hclient_upgrade(&s->b.http, target, headers, 0, watchdog, on_head, on_data, on_end);
    }
    if (r < 0) {
        uint64_t delay = rt_backoff_reconnect(&s->b.backoff, 0, false);
        rt_sub_trouble(&s->b.cfg, true, "reconnecting", delay, "cannot start the handshake: %s",
                       rt_hclient_strerror(r));
        wait_then_connect(s, delay);
    }
}

static void on_due(uv_timer_t *t)
{
    connect_now(t->data);
}

/* ---- Sending for the user ---------------------------------------------- */

int rt_ws_sub_send(void *sub, const char *text, size_t len, bool keep)
{
    struct ws_sub *s = sub;
    if (s->open && !s->close_sent && !s->failed && s->pending == NULL)
        return send_text(s, text, len) == 0 ? 0 : UV_ENOTCONN;
    if (!keep || s->quitting)
        return UV_ENOTCONN;
    if (s->pending_bytes + len > RT_WS_CLIENT_PENDING_MAX)
        return UV_ENOBUFS;
    struct ws_pending *p = malloc(sizeof *p + len);
    if (p == NULL)
        return UV_ENOMEM;
    p->next = NULL;
    p->len = len;
    memcpy(p->text, text, len);
    *s->pending_tail = p;
    s->pending_tail = &p->next;
    s->pending_bytes += len;
    return 0;
}

void rt_ws_sub_close_when_sent(void *sub, void (*cb)(void *sub))
{
    struct ws_sub *s = sub;
    if (!s->open && s->pending == NULL) {
        ws_close(sub, cb); /* nothing to send, nothing to wait for */
        return;
    }
    s->close_when_sent = true; /* else on_head() does it after sending */
    s->user_close_cb = cb;
    if (s->open && !s->failed && s->pending == NULL)
        drain_then_close(s);
}

/* ---- The subscriber interface ------------------------------------------ */

/* "a, b, c" (at most about 200 bytes: "a, b, ... (9 topics)"); NULL when
 * out of memory. */
static char *topic_label(const char *const *topics, size_t n)
{
    char *label = malloc(256);
    size_t at = 0;
    for (size_t i = 0; label && i < n; i++) {
        size_t len = strlen(topics[i]);
        if (at + len + 2 > 200) {
            snprintf(label + at, 256 - at, "... (%zu topics)", n);
            break;
        }
        at += (size_t)snprintf(label + at, 256 - at, "%s%s", topics[i], i + 1 < n ? ", " : "");
    }
    return label;
}

static int ws_init(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg)
{
    struct ws_sub *s = sub;
    if (cfg->peer == RT_PEER_NCHAN && cfg->topics && cfg->num_topics > 1)
        return UV_EINVAL; /* one channel per connection (see NCHAN) */
    memset(s, 0, sizeof *s);
    s->topics = cfg->topics ? cfg->topics : &s->b.cfg.topic;
    s->num_topics = cfg->topics ? cfg->num_topics : 1;
    s->max_message = cfg->max_message ? cfg->max_message : RT_WS_MAX_MESSAGE;
    s->pending_tail = &s->pending;
    s->pos = calloc(s->num_topics, sizeof *s->pos);
    if (s->pos == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < s->num_topics; i++) {
        rt_seq_init(&s->pos[i].seq, cfg->since);
        s->pos[i].known = !cfg->live;
    }
    int r = rt_sub_base_init(loop, &s->b, cfg);
    if (r < 0) {
        free(s->pos);
        s->pos = NULL;
        return r;
    }
    if (s->num_topics > 1 && (s->label = topic_label(s->topics, s->num_topics)) != NULL)
        s->b.cfg.topic = s->label; /* what a connection's trouble is said about */
    return 0;
}

static void ws_start(void *sub, uint64_t delay_ms)
{
    wait_then_connect(sub, delay_ms);
}

/* Stops: with the close handshake when a connection is open, else now. */
static void ws_close(void *sub, void (*cb)(void *sub))
{
    struct ws_sub *s = sub;
    if (s->quitting || s->b.closing)
        return;
    s->quitting = true;
    s->user_close_cb = cb;
    if (s->open && !s->close_sent) {
        send_close(s, 1000);
        await_close(s);
    } else if (!s->close_sent) {
        rt_sub_base_close(s, on_closed); /* a handshake in flight ends with UV_ECANCELED */
    }
    /* else: a Close is out already; on_end() finishes the job. */
}

const struct rt_approach rt_ws_approach = {
    .name = "ws",
    .default_url = "http://127.0.0.1:8004",
    .options = RT_OPT_HEARTBEAT,
    .holds = true,
    .streams = true,
    .sub_size = sizeof(struct ws_sub),
    .heartbeat_ms = RT_WS_CLIENT_HEARTBEAT_MS,
    .endpoint_init = rt_endpoint_init_ws,
    .init = ws_init,
    .start = ws_start,
    .close = ws_close,
};
