/*
 * sse.c - the Server-Sent Events client.
 *
 * THE IDEA
 *   Make one GET that the server never finishes answering. Its body is a
 *   stream of small text events, one per message, written the moment each
 *   is published. Remember the id of the last one; when the stream breaks,
 *   open a new one and say where we were (Last-Event-ID), and the server
 *   replays what we missed. This is what a browser's EventSource does for
 *   a web page; here it is in the open.
 *
 * ON THE WIRE
 *
 *   client                                               server
 *     |-- GET /events?topic=a   Last-Event-ID: 7 -------->|
 *     |<--------- 200 OK, Content-Type: text/event-stream |  no length: the
 *     |<---------------------------------- retry: 3000 ---|  body never ends
 *     |<-- id: 8 / event: message / data: {"id":8,...} ---|  replayed
 *     |                          (message 9 published) -->|
 *     |<-- id: 9 / event: message / data: {"id":9,...} ---|  at once
 *     |<------------------------------------------ : -----|  heartbeat, 15 s
 *     |         ... the connection breaks ...              |
 *     |    wait retry + jitter (below)                     |
 *     |-- GET /events?topic=a   Last-Event-ID: 9 -------->|  resume
 *
 * COSTS
 *   One request per connection, not per message; a message arrives one
 *   network trip after it is published, with about 20 bytes of framing.
 *   The client holds one socket for as long as it listens.
 *
 * WHEN THINGS GO WRONG (the exact policy)
 *   - The stream is read by proto's event-stream parser (rt_sse_parse); we
 *     only act on the events it hands out.
 *   - Watchdog: the server sends a comment every heartbeat (15 s, or
 *     --heartbeat); a stream silent for 2.5 heartbeats is taken for dead (a
 *     cable pulled, a NAT that forgot us: TCP alone may not notice for
 *     hours), dropped, counted as an error and reopened.
 *   - Reconnecting (rt_backoff_reconnect() in rt_retry.h): the next stream
 *     is opened after
 *         retry + U[0, min(30 s, 1 s * 2^k)]
 *     where retry is the last `retry:` the server sent (3 s until it sends
 *     one) and k counts the failed attempts since the last stream that
 *     delivered. "Delivered" means a 200 text/event-stream answer that sent
 *     at least one byte of body (our server always starts with `retry:`);
 *     a refused connection, no answer within 10 s, any other answer, or a
 *     stream that closed before its first byte is a failed attempt. So the
 *     first reconnect after a working stream waits retry to retry + 1 s;
 *     the k-th failure in a row adds up to 2^k s more, capped at 30 s.
 *   - Every request sends Last-Event-ID: the id of the last message we
 *     delivered (at first --since, default 0: "all the log holds"). The
 *     server replays from there; anything it replays twice is dropped by
 *     id (rt_seq), so output is exactly once and in order.
 *   - A `reset` event (our id has left the server's log, or the server
 *     restarted) moves our position to its `next`, and says so on stderr.
 *   - An event whose data is not a message is counted as an error and
 *     skipped; the stream goes on.
 *
 * READING WITHOUT A BUFFER PER STREAM
 *   10,000 open streams must not mean 10,000 event buffers (the parser's
 *   data buffer must hold the largest event, 1 MiB). Almost every read
 *   ends where an event (or a heartbeat) ends, and there the parser holds
 *   nothing worth keeping. So each read is parsed by a fresh parser into
 *   one event buffer shared by all streams (they all run on one thread),
 *   and between reads a stream keeps nothing but, when a read ended inside
 *   an event, the raw bytes since its last whole event (`tail`), which the
 *   next read's parser goes through again. A read "ended inside an event"
 *   unless its last bytes are a blank line (ends_on_blank_line()). The
 *   parser's own state that must outlive a read - the `retry` value - is
 *   copied out; the last event ID it keeps is not needed, since we resume
 *   from our own position (rt_seq).
 *
 * WE SIMPLIFIED
 *   One topic per stream. A chunked stream is refused (rt_clients.h); our
 *   servers end the body with the connection. A UTF-8 byte order mark is
 *   skipped at the start of any read that follows a whole event, not only
 *   at the start of the stream (where the format allows one); elsewhere it
 *   could only begin a field name no server sends.
 *
 * COMPARE WITH
 *   long_poll.c: the same latency, but a new request after every answer,
 *   and headers with every message. A WebSocket client: one connection
 *   too, but both ways, and reconnection is all its own to write.
 *   nchan.c: where the same client resumes when the server is nginx's
 *   nchan module (`rtlab load sse --peer nchan`), whose events carry the
 *   published body as it came and ids of nchan's own.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---- Data structures --------------------------------------------------- */

struct sse_sub {
    struct rt_sub_base b; /* b.http carries one stream at a time, each on a new
                             connection; b.timer is the wait before (re)connecting */
    char *tail;           /* raw bytes of an event cut by the end of a read */
    size_t tail_len, tail_cap;
    uint64_t retry_ms; /* the reconnection time the server asked for */
    bool open;         /* the stream's head is in (counted in stats->held) */
    bool delivered;    /* the stream sent at least one byte of body */
    const char *why;   /* set when we end the stream ourselves: why */
};

/* The event buffer of every stream's parser (see READING above). */
static char shared_data[RT_SSE_DATA_MAX];

static void on_due(uv_timer_t *t);

static void wait_then_connect(struct sse_sub *s, uint64_t ms)
{
    (void)uv_timer_start(&s->b.timer, on_due, ms, 0); /* fails only once closing */
}

/* ---- Events ------------------------------------------------------------ */

/* Skips an event we cannot use: count it, say why, keep the stream. */
static void bad_event(struct sse_sub *s, const char *why)
{
    s->b.cfg.stats->errors++;
    if (s->b.cfg.verbose)
        fprintf(stderr, "error: topic %s: bad event: %s; skipped\n", s->b.cfg.topic, why);
}

/* One event from the parser: a message, or a reset. (From nchan: the
 * published body, and its id "TIME:TAG" is where we resume; it sends no
 * resets.) */
static void take_event(struct sse_sub *s, const struct rt_sse_event *ev)
{
    uint64_t now = rt_now_us(), next;
    cJSON *root = cJSON_ParseWithLength(ev->data, ev->data_len);
    bool nchan = s->b.cfg.peer == RT_PEER_NCHAN;
    bool is_reset = !nchan && ev->event_len == 5 && memcmp(ev->event, "reset", 5) == 0 &&
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "reset"));
    if (nchan)
        (void)rt_nchan_cursor_from_id(&s->b.nchan, ev->id, ev->id_len);
    if (!cJSON_IsObject(root))
        bad_event(s, "the data is not a JSON object");
    else if (!is_reset && rt_sub_take(&s->b.cfg, &s->b.seq, root, ev->data, ev->data_len, now) < 0)
        bad_event(s, nchan ? "the body has no valid \"seq\"" : "the message has no valid \"id\"");
    else if (is_reset && !rt_json_u64(cJSON_GetObjectItemCaseSensitive(root, "next"), &next))
        bad_event(s, "the reset has no valid \"next\"");
    else if (is_reset)
        rt_sub_reset(&s->b.cfg, &s->b.seq, next);
    cJSON_Delete(root);
}

/* ---- The stream -------------------------------------------------------- */

/* Drops the stream in flight; on_end() says why and reconnects. */
static void drop(struct sse_sub *s, int err, const char *why)
{
    s->why = why;
    rt_hclient_abort(&s->b.http, err);
}

/* Drops the stream after a failed read: an event too large, or no memory. */
static void drop_unreadable(struct sse_sub *s, int err)
{
    drop(s, err, err == RT_EBODYTOOBIG ? "an event larger than the client accepts" : NULL);
}

static bool is_event_stream(const struct rt_http_response *head)
{
    const struct rt_http_header *h =
        rt_http_header_find(head->headers, head->num_headers, "Content-Type");
    static const char want[] = "text/event-stream";
    size_t n = sizeof want - 1;
    return h && h->value_len >= n && strncasecmp(h->value, want, n) == 0 &&
           (h->value_len == n || h->value[n] == ';' || h->value[n] == ' ');
}

/* A 200 answer: check it is an event stream, and get ready to parse. */
static void on_head(struct rt_hclient *http, const struct rt_hanswer *ans)
{
    struct sse_sub *s = http->data;
    if (!is_event_stream(ans->head)) {
        drop(s, RT_EBADRESP, "the answer is not text/event-stream");
        return;
    }
    s->open = true;
    s->b.cfg.stats->held++;
}

/* True when p[0..n) ends with a blank line: two line ends in a row (CRLF,
 * LF or CR each end a line). Whatever came before, the parser then holds
 * nothing: a blank line ends every event, dispatched or not. n == 1 counts
 * too: after a whole event, one line end is itself a blank line. */
static bool ends_on_blank_line(const char *p, size_t n)
{
    if (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n')
        n -= 2;
    else if (n >= 1 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
        n -= 1;
    else
        return false;
    return n == 0 || p[n - 1] == '\r' || p[n - 1] == '\n';
}

/* Keeps rest[0..n), the bytes after the last whole event, for the next
 * read - unless they hold nothing to keep. rest may point into the tail. */
static int keep_rest(struct sse_sub *s, const char *rest, size_t n)
{
    if (n == 0 || ends_on_blank_line(rest, n)) {
        free(s->tail);
        s->tail = NULL;
        s->tail_len = s->tail_cap = 0;
        return 0;
    }
    if (n > RT_SSE_TAIL_MAX)
        return RT_EBODYTOOBIG;
    if (n > s->tail_cap) {
        char *t = malloc(n); /* rest may be in the old tail: copy, then free */
        if (t == NULL)
            return UV_ENOMEM;
        memcpy(t, rest, n);
        free(s->tail);
        s->tail = t;
        s->tail_cap = n;
    } else {
        memmove(s->tail, rest, n);
    }
    s->tail_len = n;
    return 0;
}

/* Appends p[0..n) to the tail. */
static int grow_tail(struct sse_sub *s, const char *p, size_t n)
{
    if (s->tail_len + n > RT_SSE_TAIL_MAX)
        return RT_EBODYTOOBIG;
    if (s->tail_len + n > s->tail_cap) {
        size_t cap = s->tail_cap * 2 > s->tail_len + n ? s->tail_cap * 2 : s->tail_len + n;
        char *t = realloc(s->tail, cap);
        if (t == NULL)
            return UV_ENOMEM;
        s->tail = t;
        s->tail_cap = cap;
    }
    memcpy(s->tail + s->tail_len, p, n);
    s->tail_len += n;
    return 0;
}

/* Body bytes, in whatever pieces the network made. A fresh parser reads
 * the tail (if any) and the new bytes; whole events are taken, and what
 * follows the last of them is kept for next time (see READING above). */
static void on_data(struct rt_hclient *http, const char *p, size_t n)
{
    struct sse_sub *s = http->data;
    struct rt_sse_parser parser;
    const char *buf = p;
    size_t len = n, at = 0, done = 0; /* done: through the last whole event */
    int r = 0;
    s->delivered = true;
    if (s->tail_len > 0) {
        if ((r = grow_tail(s, p, n)) < 0) {
            drop_unreadable(s, r);
            return;
        }
        buf = s->tail;
        len = s->tail_len;
    }
    rt_sse_parser_init(&parser, shared_data, sizeof shared_data);
    while (at < len) {
        struct rt_sse_event ev;
        bool got = false;
        int64_t used = rt_sse_parse(&parser, buf + at, len - at, &ev, &got);
        if (used < 0) {
            drop_unreadable(s, (int)used);
            return;
        }
        if (parser.retry_ms >= 0)
            s->retry_ms = parser.retry_ms < RT_SSE_RETRY_MAX_MS ? (uint64_t)parser.retry_ms
                                                                : RT_SSE_RETRY_MAX_MS;
        at += (size_t)used;
        if (!got)
            break; /* all consumed */
        done = at;
        take_event(s, &ev);
        if (s->b.closing || !rt_hclient_busy(http))
            return; /* the message callback closed us (and the tail is gone) */
    }
    if ((r = keep_rest(s, buf + done, len - done)) < 0)
        drop_unreadable(s, r);
}

/* Describes how an attempt ended; returns whether that is an error. */
static bool describe_end(const struct sse_sub *s, int err, const struct rt_hanswer *ans, char *out,
                         size_t cap)
{
    if (ans != NULL) {
        int n = ans->body_len > 200 ? 200 : (int)ans->body_len;
        snprintf(out, cap, "HTTP %d %s: %.*s", ans->status, rt_http_reason(ans->status), n,
                 ans->body);
    } else if (s->why) {
        snprintf(out, cap, "%s", s->why);
    } else if (err == UV_ETIMEDOUT && s->open) {
        snprintf(out, cap, "no bytes for %.1f s (heartbeat watchdog): the stream looks dead",
                 (double)s->b.cfg.heartbeat_ms * RT_SSE_WATCHDOG_FACTOR / 1000.0);
    } else if ((err == UV_EOF || err == 0) && s->delivered) {
        snprintf(out, cap, "the server closed the stream");
        return false; /* streams end; that is what reconnecting is for */
    } else if (err == UV_EOF) {
        snprintf(out, cap, "the server closed the stream before sending anything");
    } else {
        snprintf(out, cap, "%s", rt_hclient_strerror(err));
    }
    return true;
}

/* The stream (or the attempt) is over: reconnect after the policy's delay. */
static void on_end(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct sse_sub *s = http->data;
    char why[512];
    bool error = describe_end(s, err, ans, why, sizeof why);
    if (s->open) {
        s->b.cfg.stats->held--;
        s->open = false;
    }
    rt_sub_count_connects(s->b.cfg.stats, http, &s->b.connects_seen);
    free(s->tail); /* a new stream starts afresh */
    s->tail = NULL;
    s->tail_len = s->tail_cap = 0;
    if (s->b.closing)
        return;
    uint64_t delay = rt_backoff_reconnect(&s->b.backoff, s->retry_ms, s->delivered);
    rt_sub_trouble(&s->b.cfg, error, "reconnecting", delay, "%s", why);
    wait_then_connect(s, delay);
}

/* Where to resume: our last id, or nchan's cursor (nothing before its first
 * message: a fresh channel has no older ones to replay). */
static void resume_header(const struct sse_sub *s, char *out, size_t cap)
{
    if (s->b.cfg.peer == RT_PEER_NCHAN) {
        if (rt_nchan_cursor_sse_header(&s->b.nchan, out, cap) < 0)
            out[0] = '\0'; /* cannot happen with our cap; never half a header */
    } else {
        snprintf(out, cap, "Last-Event-ID: %" PRIu64 "\r\n", s->b.seq.last);
    }
}

static void connect_now(struct sse_sub *s)
{
    char target[sizeof s->b.cfg.ep->prefix + RT_NAME_MAX + 32];
    char resume[64], headers[160];
    snprintf(target, sizeof target, "%s/events?topic=%s", s->b.cfg.ep->prefix, s->b.cfg.topic);
    resume_header(s, resume, sizeof resume);
    snprintf(headers, sizeof headers, "Accept: text/event-stream\r\nCache-Control: no-cache\r\n%s",
             resume);
    uint64_t watchdog = (uint64_t)((double)s->b.cfg.heartbeat_ms * RT_SSE_WATCHDOG_FACTOR);
    s->delivered = false;
    s->why = NULL;
    s->b.cfg.stats->requests++;
    int r = rt_hclient_stream(&s->b.http, target, headers, 0, watchdog, on_head, on_data, on_end);
    if (r < 0) {
        uint64_t delay = rt_backoff_reconnect(&s->b.backoff, s->retry_ms, false);
        rt_sub_trouble(&s->b.cfg, true, "reconnecting", delay, "cannot send the request: %s",
                       rt_hclient_strerror(r));
        wait_then_connect(s, delay);
    }
}

static void on_due(uv_timer_t *t)
{
    connect_now(t->data);
}

/* ---- The subscriber interface ------------------------------------------ */

static int sse_init(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg)
{
    struct sse_sub *s = sub;
    s->tail = NULL;
    s->tail_len = s->tail_cap = 0;
    s->retry_ms = RT_SSE_RETRY_MS;
    s->open = s->delivered = false;
    return rt_sub_base_init(loop, &s->b, cfg);
}

static void sse_start(void *sub, uint64_t delay_ms)
{
    wait_then_connect(sub, delay_ms);
}

const struct rt_approach rt_sse_approach = {
    .name = "sse",
    .default_url = "http://127.0.0.1:8003",
    .options = RT_OPT_HEARTBEAT,
    .holds = true,
    .streams = true,
    .sub_size = sizeof(struct sse_sub),
    .heartbeat_ms = RT_SSE_HEARTBEAT_MS,
    .init = sse_init,
    .start = sse_start,
    .close = rt_sub_base_close, /* on_end() frees the tail */
};
