/*
 * websocket.c - Approach 4: WebSockets (RFC 6455, with RFC 7692 compression).
 *
 * THE IDEA
 *   The client starts with an ordinary HTTP request that asks to switch
 *   protocols. The server answers 101, and from then on the TCP connection
 *   carries WebSocket frames in both directions: small headers (2 to 14
 *   bytes) around messages that either side may send at any moment. The
 *   server pushes each message the moment it is published; the client
 *   subscribes, publishes and sends ephemeral signals (typing indicators)
 *   over the same connection. Neither side ever waits for the other.
 *
 * ON THE WIRE
 *   client                                                server
 *     | GET /ws  Upgrade: websocket  Sec-WebSocket-Key: k  ---> |
 *     | <---- 101 Switching Protocols  Sec-WebSocket-Accept: a  |  a = base64(SHA-1(k + GUID))
 *     | [text] {"type":"subscribe","topic":"chat","since":41} -> |
 *     | <------------------- [text] {"id":42,"topic":"chat",...} |  replayed from the log
 *     | [text] {"type":"publish","topic":"chat","data":...} ---> |
 *     | <------------------- [text] {"id":43,"topic":"chat",...} |  to every subscriber
 *     | [text] {"type":"signal","topic":"chat","data":...} ----> |  to the others, not logged
 *     |                 (30 s of quiet)                         |
 *     | <------------------------------------------- [ping] 8 B |  heartbeat
 *     | [pong] 8 B --------------------------------------------> |
 *     | [close] 1000 ------------------------------------------> |
 *     | <----------------------------------------- [close] 1000 |  then the server closes TCP
 *
 * COSTS
 *   Latency: one network trip after the publish, in either direction.
 *   Requests: one upgrade per connection; after that 2-6 bytes of framing
 *     per message from the server (clients add a 4-byte masking key).
 *   Sockets and memory: one connection per client, a decoder of a few dozen
 *     bytes, subscriptions, and a bounded send queue. permessage-deflate
 *     saves bandwidth but a compressor that keeps its context costs about
 *     300 KB per connection; without context takeover (our default) every
 *     publish is compressed once, for all subscribers, and a connection
 *     costs nothing extra.
 *   Heartbeats: a 10-byte ping and a 14-byte pong every 30 s per client.
 *   Everything else is the application's: the protocol has no ids, no
 *   resume and no topics, so this file defines its own (the JSON below).
 *
 * THE PROTOCOL (text frames, one JSON object each)
 *   client: {"type":"subscribe","topic":T,"since":N}  {"type":"unsubscribe","topic":T}
 *           {"type":"publish","topic":T,"event":E,"data":D}
 *           {"type":"signal","topic":T,"data":D}      {"type":"ping"}
 *   server: the message object {"id":N,"topic":T,"event":E,"data":D,"ts":N},
 *           {"type":"reset","topic":T,"next":N}, {"type":"signal","topic":T,"data":D},
 *           {"type":"pong"}, {"type":"error","reason":R}
 *   A frame that is not a valid protocol message is answered with an error
 *   and the connection stays open; only RFC 6455 violations close it.
 *
 * WE SIMPLIFIED
 *   No authentication and no subprotocol negotiation. Signals reach the
 *   WebSocket subscribers of this process only (a broker-backed bus would
 *   carry them too). A resuming client's replay is written outside the
 *   send-queue limit, as for SSE. Messages are assembled whole before they
 *   are parsed (bounded by --max-message); a production server might stream
 *   huge ones. Binary frames are refused: the protocol is JSON.
 *
 * COMPARE WITH
 *   sse.c: the same push and resume, one way only, over plain HTTP, with the
 *   browser reconnecting by itself; here the client library must do that.
 *   long_poll.c: a request per message instead of a frame.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rt_harness.h"

/* ---- Data structures ------------------------------------------------------ */

/* Bytes of one frame: p[off..off + len) (the header may start past p so
 * that a payload can be written before its header is known). */
struct frame {
    uint8_t *p;
    size_t off, len, cap;
};

/* One message to send to one or more connections: its text, framed plain
 * and, once per window size, compressed (no context takeover: the bytes
 * depend on the message alone, so every subscriber can get the same ones). */
struct outgoing {
    const char *text;
    size_t len;
    struct frame plain;
    struct frame zipped[16]; /* by window bits 9..15; len 0 until made */
};

/* What one WebSocket server keeps. */
struct ws_server {
    struct rt_server *srv;
    uv_timer_t heartbeat;
    struct rt_link conns; /* open WebSocket connections (struct ws_conn) */
    uint64_t ping_seq;
    const struct rt_topic *cache_tp; /* cache holds message cache_id of cache_tp */
    uint64_t cache_id;
    struct outgoing cache;
    struct rt_wsd def[16]; /* shared compressors by window bits, made on first use */
    struct rt_wsd inf;     /* shared decompressor (clients reset per message) */
    uint8_t *inflated;     /* one inflated client message (max_message bytes) */
    struct frame tmp;      /* a frame compressed for one connection */
};

enum { WS_OPEN, WS_CLOSE_SENT, WS_DONE };

/* One WebSocket connection. */
struct ws_conn {
    struct rt_conn *c;
    struct ws_server *ws;
    struct rt_link link; /* in ws->conns */
    struct rt_ws_decoder dec;
    struct ws_sub *subs;
    uint8_t *msg; /* a data message whose frames are still arriving */
    size_t msg_len, msg_cap;
    uint8_t *ctrl; /* a control frame split between reads */
    size_t ctrl_len;
    struct rt_wsd *z; /* own compression state (--deflate context), or NULL */
    uint8_t bits;     /* permessage-deflate: our window bits; 0 when not agreed */
    uint8_t state;
    uint8_t num_subs;
    bool awaiting_pong;
};

/* One topic a connection is subscribed to. */
struct ws_sub {
    struct rt_sub sub;
    struct ws_conn *wc;
    struct ws_sub *next;
    const struct rt_topic *tp;
};

static void on_msg(struct rt_sub *sub, const struct rt_topic *tp, const struct rt_msg *msg);

/* ---- Frames --------------------------------------------------------------- */

static bool frame_reserve(struct frame *f, size_t cap)
{
    if (cap <= f->cap)
        return true;
    uint8_t *p = realloc(f->p, cap);
    if (p == NULL)
        return false;
    f->p = p;
    f->cap = cap;
    return true;
}

/* Puts the header of an unmasked final frame in front of the payload that
 * sits at f->p + RT_WS_HEADER_MAX, payload_len bytes long. */
static void frame_seal(struct frame *f, uint8_t opcode, bool rsv1, size_t payload_len)
{
    uint8_t hdr[RT_WS_HEADER_MAX];
    struct rt_ws_frame h = {.fin = true, .rsv1 = rsv1, .opcode = opcode, .len = payload_len};
    int n = rt_ws_frame_header(hdr, sizeof(hdr), &h);
    f->off = RT_WS_HEADER_MAX - (size_t)n;
    memcpy(f->p + f->off, hdr, (size_t)n);
    f->len = (size_t)n + payload_len;
}

/* Frames payload[0..len) as one uncompressed frame. */
static bool frame_plain(struct frame *f, uint8_t opcode, const void *payload, size_t len)
{
    if (!frame_reserve(f, RT_WS_HEADER_MAX + len))
        return false;
    if (len > 0) /* an empty ping's payload may be NULL */
        memcpy(f->p + RT_WS_HEADER_MAX, payload, len);
    frame_seal(f, opcode, false, len);
    return true;
}

/* Frames text[0..len) as one compressed text frame. */
static bool frame_zipped(struct frame *f, struct rt_wsd *z, const char *text, size_t len)
{
    size_t bound = rt_wsd_compress_bound(len);
    if (!frame_reserve(f, RT_WS_HEADER_MAX + bound))
        return false;
    int64_t n = rt_wsd_compress(z, (const uint8_t *)text, len, f->p + RT_WS_HEADER_MAX, bound);
    if (n < 0)
        return false;
    frame_seal(f, RT_WS_TEXT, true, (size_t)n);
    return true;
}

static void outgoing_init(struct outgoing *o, const char *text, size_t len)
{
    o->text = text;
    o->len = len;
    o->plain.len = 0;
    for (int b = 0; b < 16; b++)
        o->zipped[b].len = 0;
}

static void outgoing_free(struct outgoing *o)
{
    free(o->plain.p);
    for (int b = 0; b < 16; b++)
        free(o->zipped[b].p);
    memset(o, 0, sizeof(*o));
}

/* The frame that carries o to wc: compressed when wc agreed to it and the
 * message is long enough, made at most once per window size. NULL when
 * memory ran out. */
static const struct frame *outgoing_frame(struct ws_conn *wc, struct outgoing *o)
{
    struct ws_server *ws = wc->ws;
    if (wc->bits != 0 && o->len >= RT_WS_COMPRESS_MIN) {
        if (wc->z != NULL) /* context takeover: this connection's own compressor */
            return frame_zipped(&ws->tmp, wc->z, o->text, o->len) ? &ws->tmp : NULL;
        struct frame *f = &o->zipped[wc->bits];
        if (f->len == 0 && !frame_zipped(f, &ws->def[wc->bits], o->text, o->len))
            return NULL;
        return f;
    }
    if (o->plain.len == 0 && !frame_plain(&o->plain, RT_WS_TEXT, o->text, o->len))
        return NULL;
    return &o->plain;
}

/* ---- Sending ---------------------------------------------------------------- */

/* True while wc is open for business (not closed, not closing). */
static bool alive(const struct rt_conn *c, const struct ws_conn *wc)
{
    return c->app == wc && wc->state == WS_OPEN;
}

/* Sends a Close with code (and reason) and waits for the client's. */
static void send_close(struct ws_conn *wc, uint16_t code, const char *reason)
{
    struct rt_conn *c = wc->c;
    uint8_t payload[RT_WS_CONTROL_MAX];
    int n = rt_ws_close_build(payload, sizeof(payload), code, reason, strlen(reason));
    struct frame f = {0};
    if (n >= 0 && frame_plain(&f, RT_WS_CLOSE, payload, (size_t)n))
        rt_conn_write(c, (const char *)f.p + f.off, f.len);
    free(f.p);
    if (c->app == wc && wc->state == WS_OPEN) {
        wc->state = WS_CLOSE_SENT;
        rt_conn_close_wait(c);
    }
}

/* The client broke RFC 6455 (or the server cannot go on): a Close with the
 * code that says why, then the connection ends whatever the client does. */
static void fail(struct ws_conn *wc, int err)
{
    struct rt_conn *c = wc->c;
    c->srv->m.errors++;
    if (wc->state == WS_OPEN)
        send_close(wc, rt_ws_close_code_for(err), rt_strerror(err));
    if (c->app == wc)
        wc->state = WS_DONE;
    rt_conn_linger(c);
}

/* Writes one frame unless the client has fallen too far behind (then it is
 * closed with 1008). replay: bytes the client asked for by resuming, which
 * go out whatever the queue holds. Returns false when wc is no longer open. */
static bool send_frame(struct ws_conn *wc, const struct frame *f, bool replay)
{
    struct rt_conn *c = wc->c;
    if (f == NULL) {
        fail(wc, RT_EZLIB);
        return false;
    }
    if (!replay && rt_conn_congested(c, f->len)) {
        c->srv->m.overflows++;
        send_close(wc, 1008, "send queue full: the client reads too slowly");
        return false;
    }
    rt_conn_write(c, (const char *)f->p + f->off, f->len);
    return alive(c, wc);
}

/* Sends a small JSON object of our own (pong, error, reset). */
static bool send_json(struct ws_conn *wc, const char *json, size_t len)
{
    struct outgoing o = {0};
    outgoing_init(&o, json, len);
    bool ok = send_frame(wc, outgoing_frame(wc, &o), false);
    outgoing_free(&o);
    return ok;
}

static bool send_error(struct ws_conn *wc, const char *reason)
{
    char json[256];
    int n = snprintf(json, sizeof(json), "{\"type\":\"error\",\"reason\":\"%s\"}", reason);
    wc->c->srv->m.errors++;
    return send_json(wc, json, (size_t)n);
}

/* Sends a logged message; the frame is made once per publish and shared. */
static bool send_msg(struct ws_conn *wc, const struct rt_topic *tp, const struct rt_msg *msg,
                     bool replay)
{
    struct ws_server *ws = wc->ws;
    struct rt_conn *c = wc->c;
    if (ws->cache_tp != tp || ws->cache_id != msg->id) {
        outgoing_init(&ws->cache, msg->json, msg->json_len);
        ws->cache_tp = tp;
        ws->cache_id = msg->id;
    }
    const struct frame *f = outgoing_frame(wc, &ws->cache);
    c->srv->m.delivered++;
    if (c->srv->ctx->tracing)
        rt_trace_event(&c->srv->ctx->trace, "ws", c->client, "event", "s2c", f ? f->len : 0,
                       msg->id);
    return send_frame(wc, f, replay);
}

/* ---- Subscriptions ---------------------------------------------------------- */

static struct ws_sub *find_sub(struct ws_conn *wc, const struct rt_topic *tp)
{
    for (struct ws_sub *s = wc->subs; s != NULL; s = s->next)
        if (s->tp == tp)
            return s;
    return NULL;
}

static void on_msg(struct rt_sub *sub, const struct rt_topic *tp, const struct rt_msg *msg)
{
    struct ws_sub *s = rt_container_of(sub, struct ws_sub, sub);
    if (s->wc->state == WS_OPEN)
        send_msg(s->wc, tp, msg, false);
}

/*
 * Subscribes wc to topic. With a resume point, the messages after it are
 * replayed from the log first, and the subscription is made in the same
 * loop turn: nothing can be published in between, so the client gets no
 * gap and no duplicate. Returns false when wc is no longer open.
 */
static bool subscribe(struct ws_conn *wc, const char *topic, bool resume, uint64_t since)
{
    struct rt_ctx *ctx = rt_conn_ctx(wc->c);
    struct rt_topic *tp = rt_topics_find(&ctx->topics, topic);
    if (tp != NULL && find_sub(wc, tp) != NULL)
        return send_error(wc, "already subscribed to this topic");
    if (wc->num_subs == RT_WS_MAX_SUBS)
        return send_error(wc, "too many subscriptions on one connection");
    if (resume) {
        uint64_t next;
        if (rt_topic_since(&ctx->topics, tp, since, &next) == RT_SINCE_RESET) {
            char json[160];
            int n =
                snprintf(json, sizeof(json), "{\"type\":\"reset\",\"topic\":\"%s\",\"next\":%llu}",
                         topic, (unsigned long long)next);
            if (!send_json(wc, json, (size_t)n))
                return false;
            since = next;
        }
        for (uint64_t id = since + 1; tp != NULL && id <= rt_topic_last(tp); id++) {
            const struct rt_msg *m = rt_topic_msg(&ctx->topics, tp, id);
            if (m != NULL && !send_msg(wc, tp, m, true))
                return false;
        }
    }
    struct ws_sub *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return send_error(wc, "out of memory");
    s->sub.on_msg = on_msg;
    s->wc = wc;
    if (rt_bus_subscribe(ctx, topic, &s->sub) != 0) {
        free(s);
        return send_error(wc, "too many topics on this server");
    }
    s->tp = rt_topics_find(&ctx->topics, topic);
    s->next = wc->subs;
    wc->subs = s;
    wc->num_subs++;
    return true;
}

static bool unsubscribe(struct ws_conn *wc, const char *topic)
{
    const struct rt_topic *tp = rt_topics_find(&rt_conn_ctx(wc->c)->topics, topic);
    for (struct ws_sub **p = &wc->subs; *p != NULL; p = &(*p)->next) {
        if ((*p)->tp == tp) {
            struct ws_sub *s = *p;
            *p = s->next;
            rt_bus_unsubscribe(&s->sub);
            free(s);
            wc->num_subs--;
            return true;
        }
    }
    return send_error(wc, "not subscribed to this topic");
}

/* Relays a signal to the topic's other WebSocket subscribers. It is not
 * logged: a client that connects later never sees it. */
static bool relay_signal(struct ws_conn *wc, const char *topic, const char *data, size_t len)
{
    struct rt_topic *tp = rt_topics_find(&rt_conn_ctx(wc->c)->topics, topic);
    if (tp == NULL)
        return true;
    static const char head[] = "{\"type\":\"signal\",\"topic\":\"";
    size_t n = sizeof(head) - 1 + strlen(topic) + 9 + len + 1; /* head topic","data": D} */
    char *json = malloc(n + 1);
    if (json == NULL)
        return send_error(wc, "out of memory");
    snprintf(json, n + 1, "%s%s\",\"data\":%.*s}", head, topic, (int)len, data);
    struct outgoing o = {0};
    outgoing_init(&o, json, n);
    /* Sending may close a slow subscriber, which takes only its own links
     * out of the list: the next one is taken first. */
    for (struct rt_link *l = tp->subs.next, *next; l != &tp->subs; l = next) {
        next = l->next;
        struct rt_sub *sub = rt_container_of(l, struct rt_sub, link);
        struct ws_sub *s = rt_container_of(sub, struct ws_sub, sub);
        if (sub->on_msg == on_msg && s->wc != wc && s->wc->state == WS_OPEN)
            send_frame(s->wc, outgoing_frame(s->wc, &o), false);
    }
    outgoing_free(&o);
    free(json);
    return true;
}

/* ---- The protocol ------------------------------------------------------------- */

/* The text of a JSON string member without escapes, NUL-terminated in
 * out[0..cap). False when absent, not a string, escaped or too long. */
static bool get_string(const char *json, size_t len, const char *key, char *out, size_t cap)
{
    const char *v;
    size_t n;
    if (rt_json_get(json, len, key, &v, &n) != 1 || n < 2 || v[0] != '"' || n - 2 >= cap ||
        memchr(v, '\\', n) != NULL)
        return false;
    memcpy(out, v + 1, n - 2);
    out[n - 2] = '\0';
    return true;
}

static void on_published(void *arg, int status, const struct rt_msg *msg)
{
    struct rt_conn *c = arg; /* the publisher's connection, maybe closed by now */
    struct ws_conn *wc = c->app;
    struct rt_ctx *ctx = rt_conn_ctx(c);
    if (status == 0 && ctx->tracing)
        rt_trace_event(&ctx->trace, "ws", c->client, "publish", "c2s", msg->json_len, msg->id);
    else if (status != 0 && wc != NULL && wc->state == WS_OPEN)
        send_error(wc,
                   status == RT_EBUSY_TOPICS ? "too many topics on this server" : "out of memory");
}

/* One text message from the client. Returns false when wc is no longer open. */
static bool on_text(struct ws_conn *wc, const char *json, size_t len)
{
    char type[16], topic[RT_NAME_MAX + 1], event[RT_NAME_MAX + 1];
    const char *v;
    size_t n;
    wc->c->srv->m.requests++;
    if (rt_json_get(json, len, "type", &v, &n) < 0) /* it validates the whole text */
        return send_error(wc, "not a JSON object");
    if (!get_string(json, len, "type", type, sizeof(type)))
        return send_error(wc, "type must be a string");
    if (strcmp(type, "ping") == 0)
        return send_json(wc, "{\"type\":\"pong\"}", 15);
    bool named =
        get_string(json, len, "topic", topic, sizeof(topic)) && rt_name_valid(topic, strlen(topic));
    bool known = !strcmp(type, "subscribe") || !strcmp(type, "unsubscribe") ||
                 !strcmp(type, "publish") || !strcmp(type, "signal");
    if (!known)
        return send_error(wc, "unknown type (subscribe, unsubscribe, publish, signal, ping)");
    if (!named)
        return send_error(wc, "topic must be 1-64 characters of A-Z a-z 0-9 _ . : / -");
    if (strcmp(type, "subscribe") == 0) {
        uint64_t since = 0;
        int has = rt_json_get(json, len, "since", &v, &n);
        if (has == 1 && rt_parse_u64(v, n, &since) != 0)
            return send_error(wc, "since must be a message id (a non-negative integer)");
        return subscribe(wc, topic, has == 1, since);
    }
    if (strcmp(type, "unsubscribe") == 0)
        return unsubscribe(wc, topic);
    const char *data;
    size_t data_len;
    if (rt_json_get(json, len, "data", &data, &data_len) != 1)
        return send_error(wc, "data is missing");
    if (strcmp(type, "signal") == 0)
        return relay_signal(wc, topic, data, data_len);
    if (rt_json_get(json, len, "event", &v, &n) == 0)
        strcpy(event, "message");
    else if (!get_string(json, len, "event", event, sizeof(event)) ||
             !rt_name_valid(event, strlen(event)))
        return send_error(wc, "event must be 1-64 characters of A-Z a-z 0-9 _ . : / -");
    struct rt_conn *c = wc->c;
    rt_bus_publish(rt_conn_ctx(c), topic, event, data, data_len, on_published, c);
    return alive(c, wc);
}

/* One whole data message (its frames joined). */
static bool on_message(struct ws_conn *wc, uint8_t opcode, bool compressed, uint8_t *data,
                       size_t len)
{
    struct ws_server *ws = wc->ws;
    uint64_t max = rt_conn_ctx(wc->c)->opts.max_message;
    if (compressed) {
        struct rt_wsd *z = wc->z != NULL ? wc->z : &ws->inf;
        if (ws->inflated == NULL && (ws->inflated = malloc(max)) == NULL) {
            fail(wc, RT_EZLIB);
            return false;
        }
        int64_t n = rt_wsd_decompress(z, data, len, ws->inflated, max);
        if (n < 0) {
            if (z == &ws->inf) /* after an error it must start afresh */
                rt_wsd_close(z);
            fail(wc, (int)n);
            return false;
        }
        data = ws->inflated;
        len = (size_t)n;
        struct rt_ws_utf8 u;
        rt_ws_utf8_init(&u);
        if (opcode == RT_WS_TEXT && (rt_ws_utf8_feed(&u, data, len) != 0 || !rt_ws_utf8_done(&u))) {
            fail(wc, RT_EWSUTF8);
            return false;
        }
    }
    if (opcode == RT_WS_BINARY)
        return send_error(wc, "binary frames are not part of the protocol: send JSON text");
    return on_text(wc, (const char *)data, len);
}

/* One whole control frame. */
static bool on_control(struct ws_conn *wc, uint8_t opcode, const uint8_t *data, size_t len)
{
    struct rt_conn *c = wc->c;
    if (opcode == RT_WS_PING) {
        struct frame f = {0};
        bool ok = wc->state != WS_OPEN ||
                  send_frame(wc, frame_plain(&f, RT_WS_PONG, data, len) ? &f : NULL, false);
        free(f.p);
        return ok;
    }
    if (opcode == RT_WS_PONG) {
        wc->awaiting_pong = false;
        return true;
    }
    uint16_t code;
    const char *reason;
    size_t reason_len;
    int r = rt_ws_close_parse(data, len, &code, &reason, &reason_len);
    if (r != 0) {
        fail(wc, r);
        return false;
    }
    if (wc->state == WS_OPEN) { /* the client closes: answer with its code */
        uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        struct frame f = {0};
        if (frame_plain(&f, RT_WS_CLOSE, payload, code == RT_WS_CLOSE_NO_STATUS ? 0 : 2))
            rt_conn_write(c, (const char *)f.p + f.off, f.len);
        free(f.p);
    }
    if (c->app == wc)
        wc->state = WS_DONE;
    rt_conn_linger(c); /* the server closes TCP first (RFC 6455 section 7.1.1) */
    return false;
}

/* A piece of a frame's payload (ev->data, or nothing for an empty frame).
 * A message that arrives whole in one read is handled where it lies; only
 * one split between reads is copied, and only until it is complete. */
static void on_piece(struct ws_conn *wc, const struct rt_ws_event *ev, uint8_t *p, size_t n)
{
    struct rt_conn *c = wc->c;
    bool control = ev->frame.opcode >= RT_WS_CLOSE;
    if (!ev->message_end || (control ? wc->ctrl_len : wc->msg_len) > 0) {
        if (control) { /* at most RT_WS_CONTROL_MAX bytes: the decoder checked */
            if (wc->ctrl == NULL && (wc->ctrl = malloc(RT_WS_CONTROL_MAX)) == NULL) {
                fail(wc, RT_EZLIB);
                return;
            }
            if (n > 0)
                memcpy(wc->ctrl + wc->ctrl_len, p, n);
            wc->ctrl_len += n;
        } else if (n > 0) { /* at most max_message bytes: the decoder checked */
            if (wc->msg_len + n > wc->msg_cap) {
                size_t cap = wc->msg_cap ? wc->msg_cap : 1024;
                while (cap < wc->msg_len + n)
                    cap *= 2;
                uint8_t *b = realloc(wc->msg, cap);
                if (b == NULL) {
                    fail(wc, RT_EZLIB);
                    return;
                }
                wc->msg = b;
                wc->msg_cap = cap;
            }
            memcpy(wc->msg + wc->msg_len, p, n);
            wc->msg_len += n;
        }
        if (!ev->message_end)
            return;
        p = control ? wc->ctrl : wc->msg;
        n = control ? wc->ctrl_len : wc->msg_len;
    }
    if (control)
        on_control(wc, ev->frame.opcode, p, n);
    else if (wc->state == WS_OPEN) /* after our Close, data is dropped */
        on_message(wc, ev->msg_opcode, ev->compressed, p, n);
    if (c->app != wc)
        return; /* closed: on_close freed everything */
    if (control) {
        free(wc->ctrl);
        wc->ctrl = NULL;
        wc->ctrl_len = 0;
    } else {
        free(wc->msg);
        wc->msg = NULL;
        wc->msg_len = wc->msg_cap = 0;
    }
}

static void on_data(struct rt_conn *c, char *data, size_t len)
{
    struct ws_conn *wc = c->app;
    uint8_t *p = (uint8_t *)data;
    while (len > 0 && c->app == wc && wc->state != WS_DONE) {
        struct rt_ws_event ev;
        int64_t r = rt_ws_decode(&wc->dec, p, len, &ev);
        if (r == RT_EMORE)
            return; /* the decoder keeps the partial header */
        if (r < 0) {
            fail(wc, (int)r);
            return;
        }
        p += r;
        len -= (size_t)r;
        if (ev.kind == RT_WS_EV_DATA)
            on_piece(wc, &ev, ev.data, ev.data_len);
        else if (ev.frame_end) /* an empty frame */
            on_piece(wc, &ev, NULL, 0);
    }
}

/* ---- Connections -------------------------------------------------------------- */

static void on_close(struct rt_conn *c)
{
    struct ws_conn *wc = c->app;
    if (wc->state == WS_OPEN && rt_conn_ctx(c)->stopping && c->tcp.write_queue_size == 0) {
        /* Goodbye, best effort: the socket closes next. Straight to the
         * socket, since a failed harness write would close c again. */
        static const char going_away[] = "\x88\x02\x03\xe9"; /* Close 1001 */
        uv_buf_t b = uv_buf_init((char *)going_away, 4);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    while (wc->subs != NULL) {
        struct ws_sub *s = wc->subs;
        wc->subs = s->next;
        rt_bus_unsubscribe(&s->sub);
        free(s);
    }
    rt_list_remove(&wc->link);
    if (wc->z != NULL) {
        rt_wsd_close(wc->z);
        free(wc->z);
    }
    free(wc->msg);
    free(wc->ctrl);
    free(wc);
    c->app = NULL;
}

/* Every heartbeat interval: a connection whose last ping is unanswered is
 * dead (a pulled cable sends no Close) and is dropped; the others get a
 * new ping. So a dead link goes within two intervals. */
static void on_heartbeat(uv_timer_t *t)
{
    struct ws_server *ws = t->data;
    struct rt_server *srv = ws->srv;
    uint8_t seq[8];
    uint64_t v = ++ws->ping_seq;
    for (int i = 7; i >= 0; i--, v >>= 8)
        seq[i] = (uint8_t)v;
    struct frame f = {0};
    if (!frame_plain(&f, RT_WS_PING, seq, sizeof(seq)))
        return;
    for (struct rt_link *l = ws->conns.next, *next; l != &ws->conns; l = next) {
        next = l->next; /* closing wc takes only wc out of the list */
        struct ws_conn *wc = rt_container_of(l, struct ws_conn, link);
        if (wc->state != WS_OPEN)
            continue;
        if (srv->ctx->tracing)
            rt_trace_event(&srv->ctx->trace, "ws", wc->c->client,
                           wc->awaiting_pong ? "timeout" : "ping", "s2c", f.len, 0);
        if (wc->awaiting_pong) {
            srv->m.timeouts++;
            rt_conn_close(wc->c);
        } else {
            wc->awaiting_pong = true;
            send_frame(wc, &f, false);
        }
    }
    free(f.p);
}

/* True when the request's Origin may connect (--allow-origin). Requests
 * without one come from programs, not pages, and may. */
static bool origin_allowed(const struct rt_opts *o, const struct rt_http_request *req)
{
    const struct rt_http_header *h = rt_http_header_find(req->headers, req->num_headers, "Origin");
    if (o->num_origins == 0 || h == NULL)
        return true;
    for (size_t i = 0; i < o->num_origins; i++)
        if (strlen(o->origins[i]) == h->value_len &&
            strncasecmp(o->origins[i], h->value, h->value_len) == 0)
            return true;
    return false;
}

/* Agrees on permessage-deflate from the client's offers, per --deflate.
 * Writes the answer's header line into ext (or "" for none). */
static int negotiate(struct ws_conn *wc, const struct rt_http_request *req, char *ext, size_t cap)
{
    int mode = rt_conn_ctx(wc->c)->opts.deflate;
    struct rt_wsd_prefs prefs = {.server_max_window_bits = 15, .client_max_window_bits = 15};
    prefs.server_no_context_takeover = prefs.client_no_context_takeover = mode == RT_DEFLATE_SHARED;
    struct rt_wsd_params p;
    int r = 0;
    ext[0] = '\0';
    for (size_t i = 0; i < req->num_headers && mode != RT_DEFLATE_OFF && r != 1; i++) {
        const struct rt_http_header *h = &req->headers[i];
        if (h->name_len == 24 && strncasecmp(h->name, "Sec-WebSocket-Extensions", 24) == 0)
            r = rt_wsd_server_negotiate(h->value, h->value_len, &prefs, &p);
    }
    if (r != 1) /* nothing acceptable, or a malformed header: no compression */
        return 0;
    if (mode == RT_DEFLATE_CONTEXT) {
        if ((wc->z = malloc(sizeof(*wc->z))) == NULL || rt_wsd_init(wc->z, &p, true, -1) != 0)
            return UV_ENOMEM;
    }
    wc->bits = p.server_max_window_bits;
    return rt_wsd_response_write(ext, cap, &p) < 0 ? UV_ENOMEM : 0;
}

/* GET /ws[?topic=T[&since=N]]: the opening handshake. */
static int handle(struct rt_conn *c, const struct rt_http_request *req)
{
    struct ws_server *ws = c->srv->state;
    const struct rt_opts *o = &rt_conn_ctx(c)->opts;
    const char *key;
    size_t key_len;
    int r = rt_ws_handshake_check(req, &key, &key_len);
    if (r != 0) {
        int status = rt_ws_handshake_status(r);
        rt_conn_error(c, status, rt_strerror(r), status == 426 ? RT_WS_VERSION_HEADER : NULL);
        return RT_DONE;
    }
    if (!origin_allowed(o, req)) {
        rt_conn_error(c, 403, "this Origin may not connect (see --allow-origin)", NULL);
        return RT_DONE;
    }
    char topic[RT_NAME_MAX + 1], num[32];
    uint64_t since = 0;
    bool has_topic = rt_query_get(req->query, req->query_len, "topic", topic, sizeof(topic)) != -1;
    if (has_topic && !rt_req_topic_since(c, req, topic, &since))
        return RT_DONE;
    bool resume = rt_query_get(req->query, req->query_len, "since", num, sizeof(num)) >= 0;
    if (!has_topic && resume) {
        rt_conn_error(c, 400, "since needs a topic", NULL);
        return RT_DONE;
    }
    struct ws_conn *wc = calloc(1, sizeof(*wc));
    char ext[256], head[512];
    if (wc == NULL) {
        rt_conn_error(c, 500, "out of memory", NULL);
        return RT_DONE;
    }
    wc->c = c;
    wc->ws = ws;
    rt_list_push(&ws->conns, &wc->link);
    c->app = wc; /* from here on_close frees wc */
    if (negotiate(wc, req, ext, sizeof(ext)) != 0) {
        rt_conn_error(c, 500, "out of memory", NULL);
        return RT_DONE;
    }
    rt_ws_decoder_init(&wc->dec, true, wc->bits != 0, o->max_message);
    int n = rt_ws_handshake_response(head, sizeof(head), key, key_len, ext);
    if (n < 0) {
        rt_conn_error(c, 500, "handshake answer too long", NULL);
        return RT_DONE;
    }
    rt_conn_upgrade(c, head, (size_t)n);
    if (has_topic && alive(c, wc))
        subscribe(wc, topic, resume, since);
    return RT_HELD;
}

/* ---- The server ------------------------------------------------------------------ */

static int start(struct rt_server *srv)
{
    struct ws_server *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return UV_ENOMEM;
    ws->srv = srv;
    rt_list_init(&ws->conns);
    /* Both directions reset per message, so one compressor per window size
     * and one decompressor serve every connection. */
    struct rt_wsd_params p = {true, true, 15, 15, false};
    for (int b = 9; b <= 15; b++) {
        p.server_max_window_bits = (uint8_t)b;
        rt_wsd_init(&ws->def[b], &p, true, -1);
    }
    rt_wsd_init(&ws->inf, &p, true, -1);
    const struct rt_opts *o = &srv->ctx->opts;
    uint64_t every = o->heartbeat_ms ? o->heartbeat_ms : RT_WS_HEARTBEAT_MS;
    uv_timer_init(srv->ctx->loop, &ws->heartbeat);
    ws->heartbeat.data = ws;
    uv_timer_start(&ws->heartbeat, on_heartbeat, every, every);
    srv->state = ws;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct ws_server *ws = h->data;
    for (int b = 9; b <= 15; b++)
        rt_wsd_close(&ws->def[b]);
    rt_wsd_close(&ws->inf);
    outgoing_free(&ws->cache);
    free(ws->tmp.p);
    free(ws->inflated);
    free(ws);
}

static void stop(struct rt_server *srv)
{
    struct ws_server *ws = srv->state;
    uv_close((uv_handle_t *)&ws->heartbeat, on_timer_closed);
    srv->state = NULL;
}

const struct rt_approach rt_websocket = {
    .name = "ws",
    .route = "/ws",
    .handle = handle,
    .on_close = on_close,
    .on_data = on_data,
    .start = start,
    .stop = stop,
};
