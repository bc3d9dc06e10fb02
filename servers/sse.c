/*
 * sse.c - Approach 3: Server-Sent Events.
 *
 * THE IDEA
 *   The client makes one ordinary HTTP request and the server never
 *   finishes answering it. The answer is a stream of small text events
 *   (`text/event-stream`), written the moment each message is published.
 *   Every event carries its message id; when the connection breaks, the
 *   client (a browser's EventSource does this by itself) reconnects and
 *   sends the last id it saw in a `Last-Event-ID` header, and the server
 *   replays what it missed from the log. Updates flow one way only: the
 *   client publishes, if at all, with separate ordinary requests.
 *
 * ON THE WIRE
 *   client                                              server
 *     | GET /events?topic=news  (Last-Event-ID: 41) ----> |
 *     | <----------------------------- 200 text/event-stream
 *     | <------------------------------------ retry: 3000 |
 *     | <-- id: 42 / event: message / data: {"id":42,...} |  replayed from the log
 *     |                   (message 43 published) -------> |
 *     | <-- id: 43 / event: message / data: {"id":43,...} |  written at once
 *     |                   (15 s of quiet)                 |
 *     | <--------------------------------------------- :  |  heartbeat comment
 *     |     ... the connection drops ...                  |
 *     | GET /events?topic=news  (Last-Event-ID: 43) ----> |  resume, nothing lost
 *
 * COSTS
 *   Latency: one network trip after the publish; no request to wait for.
 *   Requests: one per connection, not per message. Each event costs about
 *     20 bytes of framing (`id: `, `event: `, `data: `, line ends) instead of
 *     hundreds of bytes of HTTP headers.
 *   Sockets and memory: one open connection per client for as long as it
 *     listens, a subscription, and a bounded send queue for slow readers.
 *   Heartbeats: a few bytes every 15 s per client keep proxies from closing
 *     quiet streams and let both ends notice a dead one; on a phone each one
 *     wakes the radio.
 *
 * WE SIMPLIFIED
 *   Production code adds authentication, sends events to a client for
 *   several topics over one stream, and sheds load before the kernel's
 *   socket buffers fill. Browsers allow only 6 HTTP/1.1 connections per
 *   origin, shared by all tabs: real deployments serve SSE over HTTP/2,
 *   where streams share one connection. Text only: binary data must be
 *   encoded (base64) first. A resuming client's replay is written in one go,
 *   outside the send-queue limit: it is bounded by the ring (--ring messages)
 *   but can be large; production code replays in slices as the client reads.
 *
 * COMPARE WITH
 *   long_poll.c: the same latency, but a new request after every answer.
 *   websocket.c: one connection too, but both ways, binary, and its own
 *   framing instead of plain HTTP.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_harness.h"

/* ---- Data structures ------------------------------------------------------ */

/* One client's stream: its subscription and its connection. */
struct stream {
    struct rt_sub sub;
    struct rt_conn *conn;
};

/* What one SSE server keeps: the heartbeat timer shared by all its streams,
 * and the last event it encoded, since a publish goes to every subscriber
 * of the topic and is encoded once, not once per stream. */
struct sse_server {
    uv_timer_t heartbeat;
    struct rt_server *srv;
    const struct rt_topic *frame_tp; /* the frame below is message frame_id of frame_tp */
    uint64_t frame_id;
    char *frame;
    size_t frame_len, frame_cap;
};

/* Writes the event for msg into out[0..cap), or returns its size when out
 * is NULL. The data is the whole message object, so the client has the
 * topic and publish time as well. */
static size_t encode_msg(const struct rt_msg *m, char *out, size_t cap)
{
    char id[24];
    struct rt_sse_event ev = {
        .id = id,
        .id_len = (size_t)snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id),
        .event = m->json + m->event_off,
        .event_len = m->event_len,
        .data = m->json,
        .data_len = m->json_len,
    };
    return out == NULL ? rt_sse_encode_len(&ev) : (size_t)rt_sse_encode(out, cap, &ev);
}

/* The reset event: the resume point is gone; the stream goes on after next. */
static size_t encode_reset(const char *topic, uint64_t next, char *out, size_t cap)
{
    char id[24], data[128];
    struct rt_sse_event ev = {
        .id = id,
        .id_len = (size_t)snprintf(id, sizeof(id), "%llu", (unsigned long long)next),
        .event = "reset",
        .event_len = 5,
        .data = data,
        .data_len = (size_t)snprintf(data, sizeof(data),
                                     "{\"reset\":true,\"topic\":\"%s\","
                                     "\"next\":%llu}",
                                     topic, (unsigned long long)next),
    };
    return out == NULL ? rt_sse_encode_len(&ev) : (size_t)rt_sse_encode(out, cap, &ev);
}

/* ---- Subscribers ---------------------------------------------------------- */

static void on_close(struct rt_conn *c)
{
    struct stream *s = c->app;
    rt_bus_unsubscribe(&s->sub);
    free(s);
    c->app = NULL;
}

/* Every heartbeat interval, a comment line on every stream. */
static void on_heartbeat(uv_timer_t *t)
{
    struct sse_server *ss = t->data;
    struct rt_server *srv = ss->srv;
    struct rt_link *l = srv->conns.next;
    while (l != &srv->conns) {
        struct rt_conn *c = rt_container_of(l, struct rt_conn, all);
        l = l->next; /* c may close (and leave the list) below */
        if (c->app == NULL)
            continue; /* not a stream: a publisher, say */
        if (srv->ctx->tracing)
            rt_trace_event(&srv->ctx->trace, "sse", c->client, "ping", "s2c", 3, 0);
        rt_conn_stream_write(c, ":\n\n", 3);
    }
}

/* ---- Publishing ----------------------------------------------------------- */

/* The encoded event for msg: from the cache when another stream of this
 * server already asked for it during this publish. */
static const char *frame_for(struct sse_server *ss, const struct rt_topic *tp,
                             const struct rt_msg *msg, size_t *len)
{
    if (ss->frame_tp != tp || ss->frame_id != msg->id) {
        size_t n = encode_msg(msg, NULL, 0);
        if (n > ss->frame_cap) {
            char *p = realloc(ss->frame, n);
            if (p == NULL)
                return NULL;
            ss->frame = p;
            ss->frame_cap = n;
        }
        ss->frame_len = encode_msg(msg, ss->frame, ss->frame_cap);
        ss->frame_tp = tp;
        ss->frame_id = msg->id;
    }
    *len = ss->frame_len;
    return ss->frame;
}

/* A message was published on the stream's topic: write it now. */
static void on_message(struct rt_sub *sub, const struct rt_topic *tp, const struct rt_msg *msg)
{
    struct stream *s = rt_container_of(sub, struct stream, sub);
    struct rt_conn *c = s->conn;
    size_t len;
    const char *frame = frame_for(c->srv->state, tp, msg, &len);
    if (frame == NULL) {
        rt_conn_close(c); /* out of memory: the client reconnects and resumes */
        return;
    }
    struct rt_ctx *ctx = rt_conn_ctx(c);
    if (ctx->tracing)
        rt_trace_event(&ctx->trace, "sse", c->client, "event", "s2c", len, msg->id);
    if (rt_conn_stream_write(c, frame, len) == 0)
        c->srv->m.delivered++;
}

/* Replays from the log what a resuming client missed: everything after
 * since, preceded by a reset event when since is no longer in the log. One
 * write for the lot. */
static void replay(struct rt_conn *c, const char *topic, uint64_t since)
{
    struct rt_ctx *ctx = rt_conn_ctx(c);
    const struct rt_topic *tp = rt_topics_find(&ctx->topics, topic);
    uint64_t next, last = rt_topic_last(tp);
    enum rt_since where = rt_topic_since(&ctx->topics, tp, since, &next);
    if (where == RT_SINCE_EMPTY)
        return;
    uint64_t from = where == RT_SINCE_RESET ? next : since;
    size_t total = where == RT_SINCE_RESET ? encode_reset(topic, next, NULL, 0) : 0;
    for (uint64_t id = from + 1; id <= last; id++)
        total += encode_msg(rt_topic_msg(&ctx->topics, tp, id), NULL, 0);
    char *buf = rt_ctx_scratch(ctx, total);
    if (buf == NULL) {
        rt_conn_close(c);
        return;
    }
    size_t o = where == RT_SINCE_RESET ? encode_reset(topic, next, buf, total) : 0;
    for (uint64_t id = from + 1; id <= last; id++)
        o += encode_msg(rt_topic_msg(&ctx->topics, tp, id), buf + o, total - o);
    c->srv->m.delivered += last - from;
    rt_conn_write(c, buf, o);
}

/* ---- Protocol plumbing ---------------------------------------------------- */

static const char stream_headers[] = "Cache-Control: no-cache\r\n"
                                     "X-Accel-Buffering: no\r\n"
                                     "Access-Control-Allow-Origin: *\r\n";

/* Where the client resumes: the Last-Event-ID header, else the lastEventId
 * query parameter (for clients that cannot set headers). Returns 1 with
 * *since set, 0 when there is none (a new client: live messages only), or
 * -1 after answering 400. */
static int resume_point(struct rt_conn *c, const struct rt_http_request *req, uint64_t *since)
{
    char num[32];
    const struct rt_http_header *h =
        rt_http_header_find(req->headers, req->num_headers, "Last-Event-ID");
    int n = -1;
    if (h != NULL && h->value_len < sizeof(num)) {
        memcpy(num, h->value, h->value_len);
        n = (int)h->value_len;
    } else if (h != NULL) {
        n = RT_EBADREQ;
    } else {
        n = rt_query_get(req->query, req->query_len, "lastEventId", num, sizeof(num));
    }
    if (n == -1)
        return 0;
    if (n < 0 || rt_parse_u64(num, (size_t)n, since) != 0) {
        rt_conn_error(c, 400, "Last-Event-ID must be a message id", NULL);
        return -1;
    }
    return 1;
}

/* GET /events?topic=T: open the stream, replay what a resuming client
 * missed, then write each message as it is published. */
static int handle_events(struct rt_conn *c, const struct rt_http_request *req)
{
    struct rt_ctx *ctx = rt_conn_ctx(c);
    char topic[RT_NAME_MAX + 1];
    uint64_t unused, since = 0;
    int resume;
    if (!rt_req_topic_since(c, req, topic, &unused) || (resume = resume_point(c, req, &since)) < 0)
        return RT_DONE;
    struct stream *s = malloc(sizeof(*s));
    if (s == NULL) {
        rt_conn_error(c, 503, "out of memory", NULL);
        return RT_DONE;
    }
    s->conn = c;
    s->sub.on_msg = on_message;
    if (rt_bus_subscribe(ctx, topic, &s->sub) != 0) {
        free(s);
        rt_conn_error(c, 503, "too many topics (see --max-topics)", NULL);
        return RT_DONE;
    }
    c->app = s;
    char retry[32];
    int n = rt_sse_encode_retry(retry, sizeof(retry) - 1, ctx->opts.retry_ms);
    retry[n++] = '\n'; /* a blank line: proxies that buffer by event pass it on */
    rt_conn_stream_start(c, "text/event-stream", stream_headers, retry, (size_t)n);
    /* Replay and subscription happen in this same turn of the loop, so no
     * publish can fall between them: no gap, no duplicate. */
    if (resume)
        replay(c, topic, since);
    return RT_HELD;
}

/* ---- Entry point ---------------------------------------------------------- */

static void on_heartbeat_closed(uv_handle_t *h)
{
    struct sse_server *ss = h->data;
    free(ss->frame);
    free(ss);
}

static int start(struct rt_server *srv)
{
    struct sse_server *ss = calloc(1, sizeof(*ss));
    if (ss == NULL)
        return UV_ENOMEM;
    ss->srv = srv;
    uint64_t every =
        srv->ctx->opts.heartbeat_ms ? srv->ctx->opts.heartbeat_ms : RT_SSE_HEARTBEAT_MS;
    uv_timer_init(srv->ctx->loop, &ss->heartbeat);
    ss->heartbeat.data = ss;
    uv_timer_start(&ss->heartbeat, on_heartbeat, every, every);
    srv->state = ss;
    return 0;
}

static void stop(struct rt_server *srv)
{
    struct sse_server *ss = srv->state;
    if (ss != NULL)
        uv_close((uv_handle_t *)&ss->heartbeat, on_heartbeat_closed);
    srv->state = NULL;
}

const struct rt_approach rt_sse = {
    .name = "sse",
    .route = "/events",
    .handle = handle_events,
    .on_close = on_close,
    .start = start,
    .stop = stop,
};
