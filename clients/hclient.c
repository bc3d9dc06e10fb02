/*
 * hclient.c - one HTTP/1.1 client connection on libuv: keep-alive, one
 * request at a time, reconnect on demand, a deadline on every request.
 *
 * The connection moves through these states (a request in flight drives it
 * forward through advance(); a failure or a "Connection: close" answer sends
 * it to CLOSING, and the close callback brings it back to NONE):
 *
 *            request, no addresses           resolved
 *   NONE ----------------------------> RESOLVING -----> NONE (again, now with addresses)
 *    |  ^
 *    |  | close callback: next address, or the next request reconnects
 *    |  |
 *    |  +---------------------------------- CLOSING <---------------+
 *    |  request, addresses known               ^                    |
 *    v                                         | failure, close,    |
 *   CONNECTING --------------------------> OPEN ---------------------+
 *     |           connected                 | ^  timeout, leftover bytes
 *     +-- refused: try the next address     | |
 *                                    request v | answer complete (keep-alive)
 *                                          write, read
 *
 * HTTP parsing is proto's: rt_http_response_parse() for the head,
 * rt_http_chunked_scan()/decode() for chunked bodies. This file only frames
 * answers on the byte stream and manages the socket.
 *
 * A streamed answer (rt_hclient_stream(), for Server-Sent Events) takes the
 * same path up to its head; from then on each read is handed to the caller
 * where it lies, and the request's deadline becomes an idle watchdog that
 * every read pushes back (see "Streaming" below).
 *
 * WE SIMPLIFIED: no pipelining (one request at a time is what every rtlab
 * client needs); no TLS; no redirects; an interim 1xx answer is not skipped
 * (we never send Expect: 100-continue, so a server has no reason to send
 * one); a host's addresses are looked up once and kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_clients.h"

enum conn_state {
    CONN_NONE,       /* no socket; tcp handle not initialised */
    CONN_RESOLVING,  /* uv_getaddrinfo() in flight */
    CONN_CONNECTING, /* uv_tcp_connect() in flight */
    CONN_OPEN,       /* connected: idle or carrying the request */
    CONN_CLOSING,    /* uv_close() called, waiting for its callback */
};

/* How the end of the answer's body is found (RFC 9112 section 6.3). */
enum framing {
    FRAME_NONE,   /* no body: HEAD, 1xx, 204, 304 */
    FRAME_LENGTH, /* Content-Length */
    FRAME_CHUNKED,
    FRAME_CLOSE, /* neither: the body ends when the server closes */
};

/* All reads land here first (see "Memory" in rt_clients.h). libuv calls
 * alloc, read(2) and the read callback back to back for one stream, and all
 * clients run on the loop's thread, so one buffer serves them all. */
static char shared_in[64 * 1024];

/* frame()'s answer when the head of an answer to be streamed is in. */
#define STREAM_HEAD INT64_MAX

static void advance(struct rt_hclient *c);
static void conn_close(struct rt_hclient *c);
static void on_timeout(uv_timer_t *t);

/* ---- Endpoint ---------------------------------------------------------- */

int rt_endpoint_init(struct rt_endpoint *ep, const char *url)
{
    struct rt_url u;
    memset(ep, 0, sizeof *ep);
    if (rt_url_parse(&u, url) != 0 || strcmp(u.scheme, "http") != 0 || strchr(u.path, '?'))
        return RT_EBADURL;
    snprintf(ep->host, sizeof ep->host, "%s", u.host);
    ep->port = u.port;
    bool v6 = strchr(u.host, ':') != NULL;
    if (u.port == 80)
        snprintf(ep->host_header, sizeof ep->host_header, v6 ? "[%s]" : "%s", u.host);
    else
        snprintf(ep->host_header, sizeof ep->host_header, v6 ? "[%s]:%u" : "%s:%u", u.host,
                 (unsigned)u.port);
    size_t n = strlen(u.path);
    while (n > 0 && u.path[n - 1] == '/')
        n--;
    memcpy(ep->prefix, u.path, n);
    ep->prefix[n] = '\0';
    return 0;
}

int rt_endpoint_init_ws(struct rt_endpoint *ep, const char *url)
{
    struct rt_url u;
    if (rt_url_parse(&u, url) != 0 || strchr(u.path, '?'))
        return RT_EBADURL;
    if (strcmp(u.scheme, "ws") != 0) {
        int r = rt_endpoint_init(ep, url);
        if (r == 0)
            snprintf(ep->ws_path, sizeof ep->ws_path, "%s/ws", ep->prefix);
        return r;
    }
    /* ws://host:port/a/b: the WebSocket at /a/b, HTTP under /a. The same
     * host and port as an http:// URL, so rt_endpoint_init() fills the rest. */
    char http[sizeof u.host + sizeof u.path + 32];
    const char *slash = strrchr(u.path, '/'); /* u.path starts with '/' */
    int parent = slash ? (int)(slash - u.path) : 0;
    bool v6 = strchr(u.host, ':') != NULL;
    snprintf(http, sizeof http, v6 ? "http://[%s]:%u%.*s" : "http://%s:%u%.*s", u.host,
             (unsigned)u.port, parent, u.path);
    int r = rt_endpoint_init(ep, http);
    if (r == 0)
        snprintf(ep->ws_path, sizeof ep->ws_path, "%s", strcmp(u.path, "/") ? u.path : "/ws");
    return r;
}

/* ---- Life cycle -------------------------------------------------------- */

int rt_hclient_init(uv_loop_t *loop, struct rt_hclient *c, struct rt_endpoint *ep)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->ep = ep;
    c->state = CONN_NONE;
    c->timer.data = c;
    return uv_timer_init(loop, &c->timer);
}

bool rt_hclient_busy(const struct rt_hclient *c)
{
    return c->cb != NULL;
}

const char *rt_hclient_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err == UV_EOF)
        return "server closed the connection";
    if (err == UV_ETIMEDOUT)
        return "timed out";
    if (err <= RT_EMORE && err >= RT_ENOSPACE)
        return rt_strerror(err);
    return uv_strerror(err);
}

/* The last step of rt_hclient_close(): runs once the timer and the socket
 * (and any name lookup) have all finished closing. */
static void maybe_closed(struct rt_hclient *c)
{
    if (!c->closing || !c->timer_closed || c->state != CONN_NONE || c->closed)
        return;
    c->closed = true;
    free(c->out);
    free(c->in);
    c->out = c->in = NULL;
    if (c->close_cb)
        c->close_cb(c);
}

static void on_timer_close(uv_handle_t *h)
{
    struct rt_hclient *c = h->data;
    c->timer_closed = true;
    maybe_closed(c);
}

/* ---- Finishing a request ----------------------------------------------- */

/* Forgets the answer being read, and its buffer. */
static void reset_answer(struct rt_hclient *c)
{
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    c->scanned = 0;
    c->head_done = false;
    memset(&c->chunked, 0, sizeof c->chunked);
}

/*
 * Ends the request in flight with err or ans. The connection is settled
 * first (closed unless keep is true), so that a request the callback starts
 * finds it in its final state; the answer's buffer is freed only after the
 * callback, since ans points into it.
 */
static void finish(struct rt_hclient *c, int err, const struct rt_hanswer *ans, bool keep)
{
    rt_hclient_cb cb = c->cb;
    if (cb == NULL)
        return;
    c->cb = NULL;
    c->stream = c->streaming = c->upgrade = false;
    uv_timer_stop(&c->timer);
    c->addr_left = 0;
    if (!keep)
        conn_close(c);
    else
        c->reused = true;
    char *in = c->in;
    c->in = NULL; /* ans may point into it: free it after the callback */
    reset_answer(c);
    cb(c, err, ans);
    free(in);
}

/*
 * A connection kept alive from an earlier answer may have been closed by
 * the server (its idle timeout) just as we sent on it: we see EOF or a
 * reset before any byte of the answer. That says nothing about the server's
 * health, so an idempotent request is sent once more on a new connection,
 * as browsers do. Returns true when it arranged that.
 */
static bool resend_if_stale(struct rt_hclient *c, int err)
{
    bool stale = err == UV_EOF || err == UV_ECONNRESET || err == UV_EPIPE;
    if (!stale || !c->reused || c->retried || !c->idempotent || c->in_len > 0 || c->head_done)
        return false;
    c->retried = true;
    c->written = false;
    conn_close(c); /* its close callback calls advance(), which reconnects */
    return true;
}

static void fail(struct rt_hclient *c, int err)
{
    if (!resend_if_stale(c, err))
        finish(c, err, NULL, false);
}

/* The deadline, or for a stream the watchdog. Reads do not re-arm the
 * watchdog (that would be a timer-heap update per read on every stream);
 * they note the time, and the watchdog, when it fires early, waits out the
 * rest of idle_ms from the last read. */
static void on_timeout(uv_timer_t *t)
{
    struct rt_hclient *c = t->data;
    if (c->streaming) {
        uint64_t quiet = uv_now(c->loop) - c->last_read_ms;
        if (quiet < c->idle_ms) {
            uv_timer_start(t, on_timeout, c->idle_ms - quiet, 0);
            return;
        }
    }
    finish(c, UV_ETIMEDOUT, NULL, false);
}

/* ---- Connection -------------------------------------------------------- */

static void on_tcp_close(uv_handle_t *h)
{
    struct rt_hclient *c = h->data;
    if (c->established && c->open_conns)
        (*c->open_conns)--;
    c->established = false;
    c->state = CONN_NONE;
    c->reused = false;
    c->written = false;
    if (c->closing)
        maybe_closed(c);
    else
        advance(c);
}

/* Closes the connection (or gives up the name lookup); idempotent. */
static void conn_close(struct rt_hclient *c)
{
    switch (c->state) {
    case CONN_RESOLVING:
        /* Fails with UV_EBUSY when a thread is already resolving; the
         * lookup then just finishes and on_resolved() ignores it. */
        uv_cancel((uv_req_t *)&c->resolve_req);
        break;
    case CONN_CONNECTING:
    case CONN_OPEN:
        c->state = CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
        break;
    default:
        break;
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rt_hclient *c = req->data;
    struct rt_endpoint *ep = c->ep;
    c->state = CONN_NONE;
    /* Another client sharing ep may have filled it meanwhile: keep that. */
    for (struct addrinfo *ai = ep->num_addrs == 0 ? res : NULL;
         ai && ep->num_addrs < RT_ENDPOINT_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen <= sizeof ep->addrs[0])
            memcpy(&ep->addrs[ep->num_addrs++], ai->ai_addr, ai->ai_addrlen);
    }
    uv_freeaddrinfo(res);
    if (c->closing) {
        maybe_closed(c);
        return;
    }
    if (c->cb == NULL)
        return; /* the request timed out while we looked the name up */
    if (status < 0 && status != UV_EAI_CANCELED)
        finish(c, status, NULL, false);
    else if (ep->num_addrs == 0 && status == 0)
        finish(c, UV_EAI_NONAME, NULL, false);
    else
        advance(c); /* a cancelled lookup (an earlier request's) starts over */
}

static void start_resolve(struct rt_hclient *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->ep->port);
    c->resolve_req.data = c;
    int r = uv_getaddrinfo(c->loop, &c->resolve_req, on_resolved, c->ep->host, port, &hints);
    if (r < 0) {
        finish(c, r, NULL, false);
        return;
    }
    c->state = CONN_RESOLVING;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void alloc_shared(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(shared_in, sizeof shared_in);
}

/* A connect failed: try the endpoint's next address if there is one (after
 * the close callback, since the tcp handle is reused), else give up. */
static void connect_failed(struct rt_hclient *c, int err)
{
    if (c->addr_left > 0)
        conn_close(c); /* on_tcp_close() -> advance() -> the next address */
    else
        finish(c, err, NULL, false);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct rt_hclient *c = req->data;
    if (status == UV_ECANCELED)
        return; /* we closed it (timeout or rt_hclient_close()) */
    if (status < 0) {
        connect_failed(c, status);
        return;
    }
    c->state = CONN_OPEN;
    c->connects++;
    c->established = true;
    if (c->open_conns)
        (*c->open_conns)++;
    c->ep->preferred = c->addr_cur;
    c->addr_left = 0;
    int r = uv_tcp_nodelay(&c->tcp, 1);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&c->tcp, alloc_shared, on_read);
    if (r < 0) {
        finish(c, r, NULL, false);
        return;
    }
    advance(c);
}

static void start_connect(struct rt_hclient *c)
{
    struct rt_endpoint *ep = c->ep;
    if (ep->num_addrs == 0) {
        start_resolve(c);
        return;
    }
    if (c->addr_left == 0) { /* a fresh attempt: start with what worked last */
        c->addr_left = (uint8_t)ep->num_addrs;
        c->addr_next = (uint8_t)ep->preferred;
    }
    c->addr_cur = c->addr_next;
    c->addr_next = (uint8_t)((c->addr_cur + 1) % ep->num_addrs);
    c->addr_left--;
    int r = uv_tcp_init(c->loop, &c->tcp);
    if (r < 0) {
        finish(c, r, NULL, false);
        return;
    }
    c->tcp.data = c;
    c->connect_req.data = c;
    c->state = CONN_CONNECTING;
    r = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&ep->addrs[c->addr_cur],
                       on_connect);
    if (r < 0)
        connect_failed(c, r);
}

/* ---- Writing the request ----------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct rt_hclient *c = req->data;
    c->write_pending = false;
    if (status == UV_ECANCELED || status == 0 || c->cb == NULL)
        return;
    fail(c, status);
}

static void start_write(struct rt_hclient *c)
{
    uv_buf_t bufs[2] = {uv_buf_init(c->out, (unsigned)c->out_len),
                        uv_buf_init((char *)c->body, (unsigned)c->body_len)};
    unsigned nbufs = c->has_body && c->body_len > 0 ? 2 : 1;
    c->written = true;
    c->write_req.data = c;
    int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, nbufs, on_write);
    if (r < 0)
        fail(c, r);
    else
        c->write_pending = true;
}

/* Moves the request in flight one step on, whatever state we are in. */
static void advance(struct rt_hclient *c)
{
    if (c->cb == NULL || c->closing)
        return;
    if (c->state == CONN_NONE)
        start_connect(c);
    else if (c->state == CONN_OPEN && !c->written)
        start_write(c);
    /* RESOLVING, CONNECTING, CLOSING: their callbacks call us again. */
}

/* Formats the request head into c->out, growing it as needed. extra is
 * NULL or header lines ending in CRLF. */
static int format_request(struct rt_hclient *c, const char *method, const char *target,
                          const char *content_type, const char *extra)
{
    extra = extra ? extra : "";
    for (;;) {
        int n;
        if (!c->has_body)
            n = snprintf(c->out, c->out_cap,
                         "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: rtlab\r\n%s\r\n", method,
                         target, c->ep->host_header, extra);
        else
            n = snprintf(c->out, c->out_cap,
                         "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: rtlab\r\n%s"
                         "%s%s%sContent-Length: %zu\r\n\r\n",
                         method, target, c->ep->host_header, extra,
                         content_type ? "Content-Type: " : "", content_type ? content_type : "",
                         content_type ? "\r\n" : "", c->body_len);
        if (n < 0)
            return UV_EINVAL;
        if ((size_t)n < c->out_cap) {
            c->out_len = (size_t)n;
            return 0;
        }
        char *p = realloc(c->out, (size_t)n + 1);
        if (p == NULL)
            return UV_ENOMEM;
        c->out = p;
        c->out_cap = (size_t)n + 1;
    }
}

/* True when the header lines are well formed: each ends in CRLF, and no
 * CR or LF hides inside one (which would smuggle in a header or a request). */
static bool headers_ok(const char *h)
{
    while (h && *h) {
        size_t n = strcspn(h, "\r\n");
        if (n == 0 || h[n] != '\r' || h[n + 1] != '\n')
            return false;
        h += n + 2;
    }
    return true;
}

/* What rt_hclient_request() and rt_hclient_stream() share. */
static int start_request(struct rt_hclient *c, const char *method, const char *target,
                         const char *content_type, const char *extra, const char *body,
                         size_t body_len, uint64_t timeout_ms, rt_hclient_cb cb, bool stream)
{
    if (c->cb != NULL)
        return UV_EBUSY;
    if (!stream)
        c->upgrade = false;
    if (c->closing || strpbrk(target, "\r\n") || strpbrk(method, " \r\n") ||
        (content_type && strpbrk(content_type, "\r\n")) || !headers_ok(extra) ||
        body_len > UINT32_MAX)
        return UV_EINVAL;
    c->has_body = body != NULL;
    c->body = body;
    c->body_len = body ? body_len : 0;
    int r = format_request(c, method, target, content_type, extra);
    if (r < 0)
        return r;
    c->head_method = strcmp(method, "HEAD") == 0;
    c->idempotent = c->head_method || strcmp(method, "GET") == 0;
    c->retried = false;
    c->written = false;
    r = uv_timer_start(&c->timer, on_timeout,
                       timeout_ms ? timeout_ms : RT_CLIENT_REQUEST_TIMEOUT_MS, 0);
    if (r < 0)
        return r;
    c->cb = cb;
    c->stream = stream; /* before advance(): it may finish the request at once */
    c->serial++;
    advance(c);
    return 0;
}

int rt_hclient_request(struct rt_hclient *c, const char *method, const char *target,
                       const char *content_type, const char *body, size_t body_len,
                       uint64_t timeout_ms, rt_hclient_cb cb)
{
    return start_request(c, method, target, content_type, NULL, body, body_len, timeout_ms, cb,
                         false);
}

int rt_hclient_get(struct rt_hclient *c, const char *target, const char *headers,
                   uint64_t timeout_ms, rt_hclient_cb cb)
{
    return start_request(c, "GET", target, NULL, headers, NULL, 0, timeout_ms, cb, false);
}

/* A GET whose answer is handed over as it arrives: a 200 stream, or with
 * upgrade the bytes after a 101. */
static int start_stream(struct rt_hclient *c, bool upgrade, const char *target, const char *headers,
                        uint64_t timeout_ms, uint64_t idle_ms, rt_hclient_head_cb on_head,
                        rt_hclient_data_cb on_data, rt_hclient_cb on_end)
{
    if (c->cb != NULL)
        return UV_EBUSY;
    c->upgrade = upgrade;
    c->on_head = on_head;
    c->on_data = on_data;
    c->idle_ms = idle_ms;
    int r = start_request(c, "GET", target, NULL, headers, NULL, 0, timeout_ms, on_end, true);
    if (r < 0)
        c->upgrade = false;
    return r;
}

int rt_hclient_stream(struct rt_hclient *c, const char *target, const char *headers,
                      uint64_t timeout_ms, uint64_t idle_ms, rt_hclient_head_cb on_head,
                      rt_hclient_data_cb on_data, rt_hclient_cb on_end)
{
    return start_stream(c, false, target, headers, timeout_ms, idle_ms, on_head, on_data, on_end);
}

int rt_hclient_upgrade(struct rt_hclient *c, const char *target, const char *headers,
                       uint64_t timeout_ms, uint64_t idle_ms, rt_hclient_head_cb on_head,
                       rt_hclient_data_cb on_data, rt_hclient_cb on_end)
{
    return start_stream(c, true, target, headers, timeout_ms, idle_ms, on_head, on_data, on_end);
}

/* ---- Sending on an upgraded connection --------------------------------- */

/* One write of rt_hclient_send(): the request and the bytes in one block,
 * freed in the write callback. */
struct send_req {
    uv_write_t req;
    char data[];
};

void *rt_hclient_send_alloc(size_t len)
{
    struct send_req *r = malloc(sizeof *r + len);
    return r ? r->data : NULL;
}

void rt_hclient_send_free(void *buf)
{
    if (buf)
        free((char *)buf - offsetof(struct send_req, data));
}

static void on_send_written(uv_write_t *req, int status)
{
    struct rt_hclient *c = req->data;
    free(req); /* req is the start of its struct send_req */
    /* UV_ECANCELED: the connection is closing, and its end is reported already. */
    if (status < 0 && status != UV_ECANCELED && c->cb != NULL && c->streaming)
        finish(c, status, NULL, false);
}

int rt_hclient_send(struct rt_hclient *c, void *buf, size_t len, size_t max_queued)
{
    struct send_req *r = (struct send_req *)((char *)buf - offsetof(struct send_req, data));
    if (c->cb == NULL || !c->streaming || !c->upgrade || c->state != CONN_OPEN) {
        free(r);
        return UV_ENOTCONN;
    }
    if (len > UINT32_MAX ||
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > max_queued) {
        free(r);
        return UV_ENOBUFS;
    }
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    r->req.data = c;
    int e = uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, on_send_written);
    if (e < 0)
        free(r);
    return e;
}

void rt_hclient_abort(struct rt_hclient *c, int err)
{
    finish(c, err, NULL, false);
}

void rt_hclient_close(struct rt_hclient *c, rt_hclient_close_cb close_cb)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_cb = close_cb;
    finish(c, UV_ECANCELED, NULL, false);
    conn_close(c);
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
}

/* ---- Reading the answer ------------------------------------------------ */

/* True when the answer whose head we have is to be streamed: a 200 with a
 * body (a chunked one is refused in frame()), or for an upgrade a 101. */
static bool streams(const struct rt_hclient *c)
{
    if (c->upgrade)
        return c->status == 101;
    return c->stream && c->status == 200 && !c->head_method;
}

/* Reads the head's framing once rt_http_response_parse() has it whole. */
static int take_head(struct rt_hclient *c, const struct rt_http_response *resp)
{
    c->head_done = true;
    c->status = resp->status;
    c->head_len = resp->head_len;
    c->keep_alive = resp->keep_alive;
    if (streams(c) && c->upgrade) {
        c->framing = FRAME_CLOSE; /* the new protocol's bytes, until the end */
    } else if (rt_http_response_bodyless(c->head_method ? "HEAD" : "GET", resp->status)) {
        c->framing = FRAME_NONE;
    } else if (resp->chunked) {
        c->framing = FRAME_CHUNKED;
    } else if (resp->content_length >= 0) {
        /* A streamed body is not buffered, so it needs no limit. */
        if ((uint64_t)resp->content_length > RT_CLIENT_MAX_RESPONSE && !streams(c))
            return RT_EBODYTOOBIG;
        c->framing = FRAME_LENGTH;
        c->content_length = (uint64_t)resp->content_length;
    } else {
        c->framing = FRAME_CLOSE;
    }
    return 0;
}

/*
 * Looks for one whole answer at the start of p[0..len). Returns its length,
 * 0 when more bytes are needed, or a negative error. Resumable: it keeps
 * its place in c between calls on a growing buffer.
 */
static int64_t frame(struct rt_hclient *c, const char *p, size_t len)
{
    if (!c->head_done) {
        struct rt_http_response resp;
        int r = rt_http_response_parse(&resp, p, len, c->scanned, RT_HTTP_MAX_HEAD);
        if (r == RT_EMORE) {
            c->scanned = len;
            return 0;
        }
        if (r < 0)
            return r;
        if ((r = take_head(c, &resp)) < 0)
            return r;
        if (streams(c) && c->framing != FRAME_NONE)
            return c->framing == FRAME_CHUNKED ? RT_ENOTIMPL : STREAM_HEAD;
    }
    size_t body_have = len - c->head_len;
    switch (c->framing) {
    case FRAME_NONE:
        return (int64_t)c->head_len;
    case FRAME_LENGTH:
        return body_have >= c->content_length ? (int64_t)(c->head_len + c->content_length) : 0;
    case FRAME_CHUNKED: {
        int64_t r =
            rt_http_chunked_scan(&c->chunked, p + c->head_len, body_have, RT_CLIENT_MAX_RESPONSE);
        if (r == RT_EMORE)
            return 0;
        return r < 0 ? r : (int64_t)c->head_len + r;
    }
    default: /* FRAME_CLOSE: complete only at EOF, see on_read() */
        return body_have > RT_CLIENT_MAX_RESPONSE ? RT_EBODYTOOBIG : 0;
    }
}

/* Hands the complete answer p[0..total) to the callback; avail is what we
 * hold, so avail > total means the server sent more than we asked for. */
static void deliver(struct rt_hclient *c, char *p, size_t total, size_t avail)
{
    struct rt_http_response resp;
    if (rt_http_response_parse(&resp, p, c->head_len, 0, RT_HTTP_MAX_HEAD) < 0) {
        finish(c, RT_EBADRESP, NULL, false); /* cannot happen: it parsed before */
        return;
    }
    struct rt_hanswer ans = {.status = c->status, .head = &resp, .body = p + c->head_len};
    ans.body_len = total - c->head_len;
    if (c->framing == FRAME_CHUNKED)
        ans.body_len = rt_http_chunked_decode(p + c->head_len, ans.body_len);
    /* Reuse the connection only when it is in step: nothing extra came, and
     * our write is done (a server may answer before reading all of it). */
    bool keep = c->keep_alive && c->framing != FRAME_CLOSE && avail == total && !c->write_pending;
    finish(c, 0, &ans, keep);
}

/* Appends bytes to the answer's own buffer (an answer in pieces). */
static int stash(struct rt_hclient *c, const char *p, size_t n)
{
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 4096;
        while (cap < c->in_len + n)
            cap *= 2;
        char *q = realloc(c->in, cap);
        if (q == NULL)
            return UV_ENOMEM;
        c->in = q;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    return 0;
}

/* ---- Streaming --------------------------------------------------------- */

/*
 * A streamed body's bytes p[0..n), handed on where they lie. Each read
 * pushes the watchdog back (see on_timeout()). A Content-Length body ends
 * when it is all in (bytes after it are dropped with the connection).
 */
static void stream_bytes(struct rt_hclient *c, const char *p, size_t n)
{
    uint32_t serial = c->serial;
    c->last_read_ms = uv_now(c->loop);
    if (c->framing == FRAME_LENGTH && n > c->content_length)
        n = (size_t)c->content_length;
    if (n > 0)
        c->on_data(c, p, n);
    if (c->cb == NULL || c->serial != serial)
        return; /* aborted or closed meanwhile */
    if (c->framing == FRAME_LENGTH && (c->content_length -= n) == 0)
        finish(c, 0, NULL, false);
}

/*
 * The head of a streamed answer is in buf[0..len) (the shared buffer, or
 * the piece kept while the head arrived). Hands the head over, then any
 * body bytes that came with it; the piece is freed: from now on nothing is
 * kept. The deadline gives way to the watchdog.
 */
static void stream_start(struct rt_hclient *c, char *buf, size_t len)
{
    struct rt_http_response resp;
    uint32_t serial = c->serial;
    char *piece = c->in; /* ours now: finish() must not free it under us */
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    c->streaming = true;
    c->last_read_ms = uv_now(c->loop);
    if (c->idle_ms > 0) /* the deadline is met: the watchdog takes over */
        uv_timer_start(&c->timer, on_timeout, c->idle_ms, 0);
    else
        uv_timer_stop(&c->timer);
    if (rt_http_response_parse(&resp, buf, c->head_len, 0, RT_HTTP_MAX_HEAD) < 0) {
        finish(c, RT_EBADRESP, NULL, false); /* cannot happen: it parsed before */
    } else {
        struct rt_hanswer ans = {.status = c->status, .head = &resp, .body = buf + c->head_len};
        c->on_head(c, &ans);
        /* Even with no bytes: a Content-Length: 0 stream ends right here. */
        if (c->cb != NULL && c->serial == serial)
            stream_bytes(c, buf + c->head_len, len - c->head_len);
    }
    free(piece);
}

/*
 * New bytes p[0..n). When nothing is pending they are framed right where
 * they are (the shared buffer: an answer that comes in one read is never
 * copied); otherwise they are appended to the pending piece first. Framing
 * resumes where it stopped: both buffers hold the answer at the same offsets.
 */
static void feed(struct rt_hclient *c, char *p, size_t n)
{
    char *buf = p;
    size_t len = n;
    int e = 0;
    if (c->streaming) {
        stream_bytes(c, p, n);
        return;
    }
    if (c->in_len > 0) {
        if ((e = stash(c, p, n)) < 0) {
            finish(c, e, NULL, false);
            return;
        }
        buf = c->in;
        len = c->in_len;
    }
    int64_t r = frame(c, buf, len);
    if (r == STREAM_HEAD)
        stream_start(c, buf, len);
    else if (r > 0)
        deliver(c, buf, (size_t)r, len);
    else if (r < 0)
        finish(c, (int)r, NULL, false);
    else if (buf == p && (e = stash(c, p, n)) < 0) /* keep the first piece */
        finish(c, e, NULL, false);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rt_hclient *c = s->data;
    if (nread == 0 || c->state != CONN_OPEN)
        return;
    if (nread > 0 && c->cb == NULL) {
        conn_close(c); /* bytes nobody asked for: the stream is out of step */
        return;
    }
    if (nread > 0) {
        feed(c, buf->base, (size_t)nread);
        return;
    }
    /* EOF or an error. */
    if (c->cb == NULL) {
        conn_close(c); /* the server closed an idle keep-alive connection */
        return;
    }
    if (c->streaming) {
        finish(c, (int)nread, NULL, false); /* UV_EOF: the server ended the stream */
        return;
    }
    if (nread == UV_EOF && c->head_done && c->framing == FRAME_CLOSE) {
        deliver(c, c->in, c->in_len, c->in_len); /* the close ends the body */
        return;
    }
    fail(c, (int)nread);
}
