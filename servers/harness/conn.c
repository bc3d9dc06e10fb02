/*
 * conn.c - one HTTP/1.1 connection, from accept to close.
 *
 *                 accept
 *                   |
 *                   v         bytes, head incomplete
 *   +---------> [ HEAD ] <----------------------+
 *   |               | head complete             |
 *   |               v                           |
 *   |           [ BODY ] until the body is in   |
 *   |               |                           |
 *   |               v dispatch                  |
 *   |    RT_HELD /     \ RT_DONE                |
 *   |   [ HELD ]        +--> keep-alive? -------+ (bytes left)
 *   |      | rt_conn_done      |   \
 *   +------+                   |    +--> [ IDLE ] (no bytes left) --bytes--> HEAD
 *                              | close
 *                              v
 *                         [ LINGER ] shutdown sent; input dropped until EOF
 *                              |
 *                              v
 *                         [ CLOSING ] uv_close; freed in on_closed
 *
 * A handler may also switch the connection to another protocol
 * (rt_conn_upgrade, for WebSockets): in [ UPGRADED ] every byte read goes
 * to the approach's on_data hook and the HTTP parser is out of the way.
 *
 * HEAD (with BODY) and IDLE each have a deadline: the header timeout and the
 * idle timeout. LINGER has a short one. A HELD request or an UPGRADED
 * connection belongs to its approach, which sets its own timers; an approach
 * closing politely (a WebSocket Close) may ask for the close deadline.
 *
 * Memory: reads land in one buffer shared by every connection. Only the
 * bytes of a request that is not yet complete are copied into a buffer of
 * the connection's own, so an idle connection holds no buffer at all.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_harness.h"

enum { ST_HEAD, ST_BODY, ST_IDLE, ST_HELD, ST_UPGRADED, ST_LINGER, ST_CLOSING };

static char read_buf[64 * 1024]; /* one loop per process: one shared buffer */

static void read_resume(struct rt_conn *c);
static void buf_free(struct rt_conn *c);

/* ---- Deadlines ----------------------------------------------------------- */

static uint64_t wait_ms(const struct rt_opts *o, int kind)
{
    switch (kind) {
    case RT_WAIT_HEAD:
        return o->header_timeout_ms;
    case RT_WAIT_IDLE:
        return o->idle_timeout_ms;
    case RT_WAIT_CLOSE:
        return RT_WS_CLOSE_TIMEOUT_MS;
    default:
        return RT_LINGER_MS;
    }
}

/* Moves c to the end of wait list kind, with a fresh deadline. */
static void wait_set(struct rt_conn *c, int kind)
{
    rt_list_remove(&c->wait);
    c->deadline = uv_now(c->tcp.loop) + wait_ms(&c->srv->ctx->opts, kind);
    rt_list_push(&c->srv->waits[kind], &c->wait);
}

static void wait_clear(struct rt_conn *c)
{
    rt_list_remove(&c->wait);
}

/* ---- Closing ------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    struct rt_conn *c = rt_container_of(h, struct rt_conn, tcp);
    free(c->buf);
    free(c);
}

void rt_conn_close(struct rt_conn *c)
{
    if (c->state == ST_CLOSING)
        return;
    struct rt_server *srv = c->srv;
    if (c->held) {
        c->held = false;
        srv->m.held--;
    }
    if (c->app != NULL && srv->ap->on_close != NULL)
        srv->ap->on_close(c); /* a held request or stream: the approach lets go */
    c->state = ST_CLOSING;
    wait_clear(c);
    rt_list_remove(&c->all);
    srv->m.connections--;
    if (srv->ctx->tracing)
        rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client, "disconnect", "s2c", 0, 0);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status; /* on failure the linger deadline or EOF closes the socket */
    free(req);
}

/* Sends FIN after the queued writes and keeps reading, dropping the input,
 * until the client closes too or the linger deadline passes. */
void rt_conn_linger(struct rt_conn *c)
{
    if (c->state == ST_CLOSING || c->state == ST_LINGER)
        return;
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        rt_conn_close(c);
        return;
    }
    c->state = ST_LINGER;
    buf_free(c);
    wait_set(c, RT_WAIT_LINGER);
    read_resume(c); /* reading was paused: the input must still be drained */
}

void rt_server_sweep(struct rt_server *srv, uint64_t now)
{
    for (int k = 0; k < RT_WAIT_KINDS; k++) {
        struct rt_link *head = &srv->waits[k];
        while (!rt_list_empty(head)) {
            struct rt_conn *c = rt_container_of(head->next, struct rt_conn, wait);
            if (c->deadline > now)
                break;
            wait_clear(c);
            if (k == RT_WAIT_LINGER) {
                rt_conn_close(c);
                continue;
            }
            srv->m.timeouts++;
            if (srv->ctx->tracing)
                rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client, "timeout", "s2c", 0, 0);
            if (k == RT_WAIT_HEAD && c->buf_len > 0)
                rt_conn_error(c, 408, "request not received in time", NULL);
            else
                rt_conn_close(c);
        }
    }
}

void rt_conn_close_wait(struct rt_conn *c)
{
    if (c->state == ST_UPGRADED)
        wait_set(c, RT_WAIT_CLOSE);
}

/* ---- Writing ------------------------------------------------------------- */

struct wreq {
    uv_write_t req;
    struct rt_conn *c;
    char data[];
};

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = rt_container_of(req, struct wreq, req);
    struct rt_conn *c = w->c;
    free(w);
    if (status < 0) {
        rt_conn_close(c); /* no-op when the connection is already closing */
        return;
    }
    if (c->paused && c->tcp.write_queue_size < RT_WRITE_QUEUE_HIGH / 2)
        read_resume(c);
}

/*
 * Writes bufs in order. Most answers fit in the socket's send buffer, so
 * the first try writes them directly from the caller's memory; only what
 * the kernel did not take is copied into a write request.
 */
static int write_bufs(struct rt_conn *c, uv_buf_t *bufs, unsigned n)
{
    size_t total = 0, done = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (c->state == ST_CLOSING || c->state == ST_LINGER)
        return UV_ECANCELED;
    c->srv->m.bytes_out += total;
    if (c->tcp.write_queue_size == 0) {
        int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (r < 0 && r != UV_EAGAIN) {
            rt_conn_close(c);
            return r;
        }
        done = r > 0 ? (size_t)r : 0;
        if (done == total)
            return 0;
    }
    struct wreq *w = malloc(sizeof(*w) + total - done);
    if (w == NULL) {
        rt_conn_close(c);
        return UV_ENOMEM;
    }
    w->c = c;
    size_t o = 0, skip = done;
    for (unsigned i = 0; i < n; i++) {
        size_t from = skip < bufs[i].len ? skip : bufs[i].len;
        skip -= from;
        memcpy(w->data + o, bufs[i].base + from, bufs[i].len - from);
        o += bufs[i].len - from;
    }
    uv_buf_t b = uv_buf_init(w->data, (unsigned)o);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0) {
        free(w);
        rt_conn_close(c);
        return r;
    }
    if (c->tcp.write_queue_size >= RT_WRITE_QUEUE_HIGH && !c->paused) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->paused = true;
    }
    return 0;
}

int rt_conn_write(struct rt_conn *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    return write_bufs(c, &b, 1);
}

void rt_conn_respond(struct rt_conn *c, int status, const char *content_type, const char *body,
                     size_t body_len, const char *extra, uint64_t msg)
{
    struct rt_server *srv = c->srv;
    bool bodyless = status == 204 || status < 200;
    struct rt_http_head_out h = {
        .status = status,
        .content_type = bodyless ? NULL : content_type,
        .content_length = bodyless ? -1 : (int64_t)body_len,
        .close = !c->keep_alive,
        .date = rt_ctx_date(srv->ctx),
        .extra = extra,
    };
    char head[2048];
    int n = rt_http_response_head(head, sizeof(head), &h);
    if (n < 0) { /* only an oversized `extra` can do this: our bug */
        rt_conn_close(c);
        return;
    }
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)n), uv_buf_init((char *)body, 0)};
    if (!bodyless)
        bufs[1].len = body_len;
    if (status == 204)
        srv->m.empty++;
    if (status >= 400)
        srv->m.errors++;
    if (srv->ctx->tracing)
        rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client,
                       status == 204 ? "empty" : "response", "s2c", n + bufs[1].len, msg);
    if (write_bufs(c, bufs, bodyless ? 1 : 2) == 0 && !c->keep_alive)
        rt_conn_linger(c);
}

void rt_conn_error(struct rt_conn *c, int status, const char *why, const char *extra)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, rt_http_reason(status), why);
    /* Errors that lose the framing of the request stream must close. */
    if (status == 400 || status == 408 || status == 413 || status == 431 || status >= 500)
        c->keep_alive = false;
    rt_conn_respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, extra, 0);
}

/* ---- Reading and parsing -------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void read_resume(struct rt_conn *c)
{
    if (!c->paused || c->state == ST_CLOSING)
        return;
    c->paused = false;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        rt_conn_close(c);
}

static int parse_status(int err)
{
    switch (err) {
    case RT_EHEADTOOBIG:
        return 431;
    case RT_EBODYTOOBIG:
        return 413;
    case RT_ENOTIMPL:
        return 501;
    case RT_EVERSION:
        return 505;
    default:
        return 400;
    }
}

/* Runs one complete request. Returns false when the connection stops
 * taking requests from its buffer (held, closing or lingering). */
static bool dispatch(struct rt_conn *c, const struct rt_http_request *req, char *body,
                     size_t body_len, size_t wire_len)
{
    struct rt_server *srv = c->srv;
    srv->m.requests++;
    if (srv->ctx->tracing)
        rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client, "request", "c2s", wire_len, 0);
    c->keep_alive = req->keep_alive;
    c->head_continue = false;
    c->state = ST_HELD; /* while the handler runs */
    wait_clear(c);
    if (rt_route(c, req, body, body_len) == RT_HELD) {
        if (c->state == ST_HELD) { /* not closed while the handler ran */
            c->held = true;
            srv->m.held++;
        }
        return false;
    }
    if (c->state != ST_HELD)
        return false; /* closing or lingering */
    c->state = ST_HEAD;
    wait_set(c, RT_WAIT_HEAD); /* the next request's clock starts now */
    return true;
}

/*
 * Takes as many whole requests from p[0..len) as there are and runs them.
 * Returns the bytes used; the rest is the start of an incomplete request.
 */
static size_t process(struct rt_conn *c, char *p, size_t len)
{
    const struct rt_opts *o = &c->srv->ctx->opts;
    struct rt_http_request req;
    size_t off = 0;
    while (off < len && (c->state == ST_HEAD || c->state == ST_BODY)) {
        size_t prev = c->state == ST_HEAD ? c->scanned : 0;
        int r =
            rt_http_request_parse(&req, p + off, len - off, prev, RT_HTTP_MAX_HEAD, o->max_body);
        if (r == RT_EMORE) {
            c->scanned = (uint32_t)(len - off);
            break;
        }
        if (r < 0) {
            rt_conn_error(c, parse_status(r), rt_strerror(r), NULL);
            break;
        }
        c->scanned = 0;
        size_t have = len - off - (size_t)r, body_len, wire;
        char *body = p + off + r;
        if (req.chunked) {
            /* The scan resumes where the last read left it: the request
             * stays at the start of the buffer until it is complete. */
            if (c->state == ST_HEAD)
                memset(&c->chunk, 0, sizeof(c->chunk));
            int64_t e = rt_http_chunked_scan(&c->chunk, body, have, o->max_body);
            if (e >= 0) {
                body_len = rt_http_chunked_decode(body, (size_t)e);
                wire = (size_t)r + (size_t)e;
            } else if (e != RT_EMORE) {
                rt_conn_error(c, parse_status((int)e), rt_strerror((int)e), NULL);
                break;
            } else {
                wire = 0;
            }
        } else {
            body_len = req.content_length;
            wire = have >= body_len ? (size_t)r + body_len : 0;
        }
        if (wire == 0) { /* the body is not all here yet */
            c->state = ST_BODY;
            if (req.expect_continue && !c->head_continue) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                c->head_continue = true;
                rt_conn_write(c, cont, sizeof(cont) - 1);
            }
            break;
        }
        off += wire;
        if (!dispatch(c, &req, body, body_len, wire))
            break;
    }
    return off;
}

/* Makes room for cap bytes in the connection's buffer. */
static bool buf_reserve(struct rt_conn *c, size_t cap)
{
    if (cap <= c->buf_cap)
        return true;
    size_t n = c->buf_cap ? c->buf_cap : 1024;
    while (n < cap)
        n *= 2;
    char *b = realloc(c->buf, n);
    if (b == NULL)
        return false;
    c->buf = b;
    c->buf_cap = (uint32_t)n;
    return true;
}

static void buf_free(struct rt_conn *c)
{
    free(c->buf);
    c->buf = NULL;
    c->buf_len = c->buf_cap = 0;
}

/* Most that one connection may buffer: a whole request, plus slack. */
static size_t buf_limit(const struct rt_conn *c)
{
    return RT_HTTP_MAX_HEAD + c->srv->ctx->opts.max_body + sizeof(read_buf);
}

/* New bytes p[0..n) arrived (or n == 0: run what is buffered). */
static void feed(struct rt_conn *c, const char *p, size_t n)
{
    char *data = (char *)p;
    size_t len = n;
    if (c->buf_len > 0) {
        if (!buf_reserve(c, c->buf_len + n)) {
            rt_conn_close(c);
            return;
        }
        if (n > 0)
            memcpy(c->buf + c->buf_len, p, n);
        c->buf_len += (uint32_t)n;
        data = c->buf;
        len = c->buf_len;
    }
    size_t used = process(c, data, len);
    if (c->state == ST_CLOSING || c->state == ST_LINGER)
        return;
    size_t rest = len - used;
    if (c->state == ST_UPGRADED) { /* bytes behind the upgrade are the new protocol's */
        if (rest > 0)
            c->srv->ap->on_data(c, data + used, rest);
        buf_free(c);
        return;
    }
    if (rest == 0) {
        buf_free(c);
    } else if (data == c->buf) {
        memmove(c->buf, c->buf + used, rest);
        c->buf_len = (uint32_t)rest;
    } else if (buf_reserve(c, rest)) {
        memcpy(c->buf, data + used, rest);
        c->buf_len = (uint32_t)rest;
    } else {
        rt_conn_close(c);
        return;
    }
    if (c->state == ST_HEAD && rest == 0) {
        c->state = ST_IDLE;
        wait_set(c, RT_WAIT_IDLE);
    }
    if (c->buf_len >= buf_limit(c) && !c->paused) { /* a held request and more behind it */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->paused = true;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rt_conn *c = rt_container_of(s, struct rt_conn, tcp);
    if (nread == 0)
        return;
    if (nread < 0) {
        rt_conn_close(c);
        return;
    }
    c->srv->m.bytes_in += (uint64_t)nread;
    if (c->state == ST_LINGER || c->state == ST_CLOSING)
        return;
    if (c->state == ST_UPGRADED) {
        c->srv->ap->on_data(c, buf->base, (size_t)nread);
        return;
    }
    if (c->state == ST_IDLE) {
        c->state = ST_HEAD;
        wait_set(c, RT_WAIT_HEAD);
    }
    feed(c, buf->base, (size_t)nread);
}

void rt_conn_done(struct rt_conn *c)
{
    if (c->state != ST_HELD)
        return;
    struct rt_ctx *ctx = c->srv->ctx;
    if (c->held) {
        c->held = false;
        c->srv->m.held--;
    }
    c->state = ST_HEAD;
    if (c->buf_len > 0) { /* pipelined requests: on the next turn */
        rt_list_remove(&c->wait);
        rt_list_push(&ctx->resuming, &c->wait);
        uv_idle_start(&ctx->resume, rt_conn_on_resume);
        return;
    }
    c->state = ST_IDLE;
    wait_set(c, RT_WAIT_IDLE);
    if (c->tcp.write_queue_size < RT_WRITE_QUEUE_HIGH / 2)
        read_resume(c);
}

void rt_conn_on_resume(uv_idle_t *idle)
{
    struct rt_ctx *ctx = idle->data;
    struct rt_link batch = ctx->resuming; /* those queued so far; feed() may queue more */
    if (rt_list_empty(&batch)) {
        uv_idle_stop(idle);
        return;
    }
    batch.next->prev = batch.prev->next = &batch;
    rt_list_init(&ctx->resuming);
    while (!rt_list_empty(&batch)) {
        struct rt_conn *c = rt_container_of(batch.next, struct rt_conn, wait);
        wait_set(c, RT_WAIT_HEAD);
        feed(c, NULL, 0);
        bool reading = c->state == ST_HEAD || c->state == ST_BODY || c->state == ST_IDLE;
        if (reading && c->tcp.write_queue_size < RT_WRITE_QUEUE_HIGH / 2 &&
            c->buf_len < buf_limit(c))
            read_resume(c);
    }
    if (rt_list_empty(&ctx->resuming))
        uv_idle_stop(idle);
}

/* ---- Streams ---------------------------------------------------------------- */

void rt_conn_stream_start(struct rt_conn *c, const char *content_type, const char *extra,
                          const char *first, size_t first_len)
{
    struct rt_server *srv = c->srv;
    struct rt_http_head_out h = {
        .status = 200,
        .content_type = content_type,
        .content_length = -1, /* the body ends when the connection does */
        .date = rt_ctx_date(srv->ctx),
        .extra = extra,
    };
    char head[2048];
    int n = rt_http_response_head(head, sizeof(head), &h);
    if (n < 0) {
        rt_conn_close(c);
        return;
    }
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)n), uv_buf_init((char *)first, first_len)};
    if (srv->ctx->tracing)
        rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client, "response", "s2c",
                       (uint64_t)n + first_len, 0);
    write_bufs(c, bufs, 2);
}

bool rt_conn_congested(const struct rt_conn *c, size_t len)
{
    /* Judged only when something already waits: a message larger than the
     * limit still goes to a client that keeps up. So the queue holds at most
     * the limit plus one message. */
    size_t queued = c->tcp.write_queue_size;
    return queued > 0 && queued + len > c->srv->ctx->opts.send_queue;
}

int rt_conn_stream_write(struct rt_conn *c, const char *data, size_t len)
{
    if (rt_conn_congested(c, len)) {
        c->srv->m.overflows++;
        rt_conn_close(c);
        return UV_ENOBUFS;
    }
    return rt_conn_write(c, data, len);
}

void rt_conn_upgrade(struct rt_conn *c, const char *head, size_t head_len)
{
    struct rt_server *srv = c->srv;
    if (srv->ctx->tracing)
        rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client, "response", "s2c", head_len, 0);
    if (rt_conn_write(c, head, head_len) != 0)
        return;
    c->state = ST_UPGRADED;
    c->held = true;
    srv->m.held++;
}

/* ---- Accepting ------------------------------------------------------------ */

void rt_conn_accept(struct rt_server *srv)
{
    struct rt_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return; /* the connection waits in the backlog; we retry on the next one */
    if (uv_tcp_init(srv->listener.loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->srv = srv;
    rt_list_init(&c->wait);
    rt_list_push(&srv->conns, &c->all);
    c->state = ST_HEAD;
    c->client = ++srv->next_client;
    srv->m.accepted++;
    srv->m.connections++;
    if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->tcp) != 0) {
        rt_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1); /* answers are small and latency is the point */
    if (srv->ctx->tracing) {
        srv->ctx->trace.clients++;
        rt_trace_event(&srv->ctx->trace, srv->ap->name, c->client, "connect", "c2s", 0, 0);
    }
    wait_set(c, RT_WAIT_HEAD);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        rt_conn_close(c);
}
