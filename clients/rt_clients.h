/*
 * rt_clients.h - rtlab's clients: the `publish`, `client` and `load`
 * commands, and the pieces they are built from that later clients reuse:
 * a latency histogram and a small HTTP/1.1 client connection on libuv.
 * The backoff and de-duplication helpers have their own header,
 * rt_retry.h, because the simulator uses them too.
 *
 * Ownership: every struct here lives in storage the caller provides and
 * owns. rt_hclient embeds libuv handles, so its storage must stay valid
 * until its close callback has run (the libuv rule).
 */
#ifndef RT_CLIENTS_H
#define RT_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "rt_proto.h"

/* ---- Commands ---------------------------------------------------------- */

/*
 * Each takes the arguments after "rtlab" (argv[0] is the command name) and
 * returns the process exit code: 0 success, 1 a runtime failure (server
 * unreachable, non-2xx answer), 2 a usage error. "--help" prints the usage
 * to stdout and returns 0. Messages go to stdout, diagnostics to stderr.
 */

/* rtlab publish [--url URL] --topic T [--event E] JSON */
int rt_cmd_publish(int argc, char **argv);

/* rtlab client APPROACH [options]   (argv[1] is the approach) */
int rt_cmd_client(int argc, char **argv);

/* rtlab load APPROACH [options]     (argv[1] is the approach) */
int rt_cmd_load(int argc, char **argv);

/* ---- Latency histogram ------------------------------------------------- */

/* 64 exact buckets for 0..63, then 64 buckets per power of two up to 2^64;
 * see hist.c for the layout. */
#define RT_HIST_BUCKETS (64 + 58 * 64)

/*
 * A histogram of uint64 values (rtlab records microseconds) in fixed memory
 * (about 30 KiB, whatever the count). Percentiles are within 1/128 of the
 * true value (exact below 64); count, min, max and mean are exact.
 */
struct rt_hist {
    uint64_t count;
    uint64_t min; /* UINT64_MAX while empty */
    uint64_t max;
    double sum;
    uint64_t buckets[RT_HIST_BUCKETS];
};

void rt_hist_init(struct rt_hist *h);
void rt_hist_record(struct rt_hist *h, uint64_t v);
/* The same value n times at once (a message many clients got together). */
void rt_hist_record_n(struct rt_hist *h, uint64_t v, uint64_t n);

/* Adds the values of from to into (e.g. per-thread histograms). */
void rt_hist_merge(struct rt_hist *into, const struct rt_hist *from);

/* Mean of the values (0 when empty). */
double rt_hist_mean(const struct rt_hist *h);

/* The p-th percentile, 0 <= p <= 100, by nearest rank (0 when empty);
 * p = 0 gives the minimum and p = 100 the maximum, exactly. */
uint64_t rt_hist_percentile(const struct rt_hist *h, double p);

/* ---- Where the server is ----------------------------------------------- */

#define RT_ENDPOINT_MAX_ADDRS 4

/*
 * A server address, from a URL. Many connections may share one endpoint
 * (the load generator's thousands): the first connection that needs the
 * addresses resolves the host name and stores them here for all the others.
 */
struct rt_endpoint {
    char host[256]; /* as in the URL, without IPv6 brackets */
    uint16_t port;
    char host_header[272]; /* the Host header value: host[:port] */
    char prefix[1024];     /* URL path without its trailing '/': "" or "/api" */
    char ws_path[1040];    /* WebSocket path: prefix + "/ws", or a ws:// URL's path */
    struct sockaddr_storage addrs[RT_ENDPOINT_MAX_ADDRS];
    int num_addrs; /* 0: not resolved yet */
    int preferred; /* index of the address that connected last */
};

/* Fills ep from "http://host[:port][/prefix]". Returns 0 or RT_EBADURL
 * (also for ws:// URLs, and URLs with a query). Resolves nothing yet. */
int rt_endpoint_init(struct rt_endpoint *ep, const char *url);

/* The same for a WebSocket client, which also takes "ws://host[:port][/path]":
 * the WebSocket is at path ("/ws" when there is none) and HTTP requests
 * (the load generator's publishes) go under the path's parent ("ws://h/api/ws"
 * publishes to http://h/api/publish). An http:// URL is read as by
 * rt_endpoint_init(), with the WebSocket at prefix + "/ws". */
int rt_endpoint_init_ws(struct rt_endpoint *ep, const char *url);

/* ---- An HTTP/1.1 client connection ------------------------------------- */

/*
 * One keep-alive connection to one endpoint, one request at a time:
 *
 *   rt_hclient_init()  ->  rt_hclient_request()  ->  callback  ->  request ...
 *                                                               ->  rt_hclient_close()
 *
 * A request connects first when there is no open connection (resolving the
 * host name on first use, trying each of its addresses), so a connection
 * the server closed is reopened on demand. Every request has one deadline
 * covering all of it - resolving, connecting, writing, reading the whole
 * answer - after which it fails with UV_ETIMEDOUT and the connection is
 * closed. Answers are framed by Content-Length, chunked encoding, status
 * (204, 304 and HEAD have no body) or the closing of the connection, and
 * bounded by RT_CLIENT_MAX_RESPONSE.
 *
 * Memory: an idle client holds no read buffer. Reads land in one buffer
 * shared by all clients of the process (they all run on one thread); only
 * an answer that arrives in pieces is copied into a buffer of its own, freed
 * once the answer is complete. This is what lets one process hold 10,000
 * connections cheaply.
 */
struct rt_hclient;

/* What came back. The pointers are views into the client's buffers, valid
 * only during the callback. */
struct rt_hanswer {
    int status;
    const struct rt_http_response *head; /* status line and headers */
    const char *body;                    /* decoded (no chunk framing) */
    size_t body_len;
};

/*
 * Called exactly once per request. err is 0 and ans the answer (of any
 * status), or err is negative and ans NULL: a libuv error (UV_ECONNREFUSED,
 * UV_ETIMEDOUT, UV_EOF for a connection closed mid-answer, UV_ECANCELED
 * when rt_hclient_close() cut the request short, ...) or an RT_E* error
 * (RT_EBADRESP, RT_EHEADTOOBIG, RT_EBODYTOOBIG). rt_hclient_strerror()
 * names either kind. The callback may start the next request or close the
 * client.
 */
typedef void (*rt_hclient_cb)(struct rt_hclient *c, int err, const struct rt_hanswer *ans);
typedef void (*rt_hclient_close_cb)(struct rt_hclient *c);

/* Initialises c on loop for ep (which must outlive c). No I/O yet.
 * Returns 0 or a libuv error. */
int rt_hclient_init(uv_loop_t *loop, struct rt_hclient *c, struct rt_endpoint *ep);

/*
 * Sends one request: "METHOD target HTTP/1.1" with Host, and when body is
 * not NULL, Content-Length (and Content-Type when content_type is not NULL)
 * and the body. target is the path and query, e.g. "/poll?topic=a&since=3";
 * the endpoint's prefix is NOT added here. body must stay valid until the
 * callback runs (it is written from where it is, not copied).
 * timeout_ms = 0 means RT_CLIENT_REQUEST_TIMEOUT_MS.
 * Returns 0 (cb will run), UV_EBUSY (a request is in flight), UV_EINVAL
 * (closing, or a target with CR or LF) or UV_ENOMEM; cb does not run then.
 * Unlike libuv's callbacks, cb can run before this returns, when the
 * connection cannot even be attempted (out of file descriptors, say).
 */
int rt_hclient_request(struct rt_hclient *c, const char *method, const char *target,
                       const char *content_type, const char *body, size_t body_len,
                       uint64_t timeout_ms, rt_hclient_cb cb);

/* A GET like rt_hclient_request()'s, with extra header lines: headers is NULL
 * or whole lines, each ending in CRLF ("If-None-Match: 3\r\n"); they are
 * copied. Returns as rt_hclient_request(), and UV_EINVAL for malformed
 * lines. (For peers whose polling carries its position in headers: nchan.) */
int rt_hclient_get(struct rt_hclient *c, const char *target, const char *headers,
                   uint64_t timeout_ms, rt_hclient_cb cb);

/* ---- Streaming answers -------------------------------------------------- */

/*
 * A streamed answer (Server-Sent Events) never completes: its body runs
 * until the connection closes. rt_hclient_stream() sends a GET like
 * rt_hclient_request() but hands a 200 answer over as it arrives:
 *
 *   connect, write, read the head      (one deadline: timeout_ms, as for requests)
 *   200 -> on_head(c, ans)             ans->body is empty; the head's views are
 *                                      valid during the call only
 *       -> on_data(c, p, len) ...      each piece of body as it is read, p a view
 *                                      into a read buffer valid during the call
 *       -> on_end(c, err, NULL)        once, when the stream stops (below)
 *   any other answer -> on_end(c, 0, ans), read whole as by rt_hclient_request()
 *
 * Once the head is in, the whole-request deadline is replaced by a watchdog:
 * idle_ms without a byte ends the stream with UV_ETIMEDOUT (idle_ms = 0: no
 * watchdog; wait for ever). A stream ends with err =
 *   UV_EOF        the server closed it (the normal end of a close-framed body)
 *   0             a body framed by Content-Length is complete
 *   UV_ETIMEDOUT  the watchdog fired
 *   UV_ECANCELED  rt_hclient_close() or rt_hclient_abort(c, UV_ECANCELED)
 *   other         a read error, or what rt_hclient_abort() was given.
 * The connection is closed after every stream: nothing follows a stream on it.
 *
 * headers is NULL or whole header lines, each ending in CRLF ("Accept:
 * text/event-stream\r\nLast-Event-ID: 7\r\n"); they are copied.
 *
 * Memory: bytes are handed over from the shared read buffer, so an open
 * stream holds no read buffer either; only a head that arrives in pieces is
 * kept until it is whole. What on_data must keep of a piece is its own
 * business (the SSE client keeps only an event that spans reads).
 *
 * WE SIMPLIFIED: a chunked stream is refused with RT_ENOTIMPL (rtlab's
 * servers close-frame their streams; decoding chunks as they come would
 * need a streaming chunk decoder in proto/).
 *
 * Returns as rt_hclient_request(); callbacks may start the next request
 * (from on_end), abort the stream or close the client.
 */
typedef void (*rt_hclient_head_cb)(struct rt_hclient *c, const struct rt_hanswer *ans);
typedef void (*rt_hclient_data_cb)(struct rt_hclient *c, const char *p, size_t len);

int rt_hclient_stream(struct rt_hclient *c, const char *target, const char *headers,
                      uint64_t timeout_ms, uint64_t idle_ms, rt_hclient_head_cb on_head,
                      rt_hclient_data_cb on_data, rt_hclient_cb on_end);

/* ---- Upgrading the connection (WebSockets) ----------------------------- */

/*
 * rt_hclient_upgrade() is rt_hclient_stream() for a protocol switch: it
 * sends the GET with headers (the caller's Upgrade, Connection and
 * Sec-WebSocket-* lines), and the answer that is handed over is a
 * 101 Switching Protocols: on_head(c, ans) with its head, then on_data with
 * every byte that follows, in the new protocol, until the connection ends
 * (on_end with UV_EOF, UV_ETIMEDOUT from the idle watchdog, or what
 * rt_hclient_abort() was given). Any other answer is read whole and given
 * to on_end(c, 0, ans), as by rt_hclient_request(). Deadline, watchdog and
 * memory as for rt_hclient_stream().
 *
 * Once on_head has run, rt_hclient_send() writes on the connection.
 */
int rt_hclient_upgrade(struct rt_hclient *c, const char *target, const char *headers,
                       uint64_t timeout_ms, uint64_t idle_ms, rt_hclient_head_cb on_head,
                       rt_hclient_data_cb on_data, rt_hclient_cb on_end);

/* A buffer of len bytes for rt_hclient_send() (NULL when out of memory).
 * The caller fills it and gives it to rt_hclient_send(), which frees it;
 * one that is not sent after all goes to rt_hclient_send_free(). */
void *rt_hclient_send_alloc(size_t len);
void rt_hclient_send_free(void *buf);

/*
 * Writes buf[0..len) (from rt_hclient_send_alloc(), which it takes over in
 * every case) on an upgraded connection, after whatever was sent before.
 * Returns 0; UV_ENOTCONN when no upgraded connection is open; UV_ENOBUFS
 * when more than max_queued bytes would be waiting for the kernel (a peer
 * that does not read: the caller decides what to do); or a libuv error. A
 * write that fails later ends the connection: on_end runs with its error.
 */
int rt_hclient_send(struct rt_hclient *c, void *buf, size_t len, size_t max_queued);

/* Ends the request or stream in flight now: its callback runs with err
 * (negative) and the connection is closed. Nothing happens when no request
 * is in flight. After this, the piece on_data was reading is gone. */
void rt_hclient_abort(struct rt_hclient *c, int err);

/* True while a request (or stream) is in flight. */
bool rt_hclient_busy(const struct rt_hclient *c);

/* Cancels the request in flight (its callback runs with UV_ECANCELED),
 * closes the connection and the handles, then calls close_cb (which may
 * free c). */
void rt_hclient_close(struct rt_hclient *c, rt_hclient_close_cb close_cb);

/* A description of an error code from the callback: RT_E*, UV_* or 0. */
const char *rt_hclient_strerror(int err);

/* The fields below are private: read them only through the functions above
 * (except data and the counters, which are yours to read, and open_conns,
 * which is yours to set after rt_hclient_init()). */
struct rt_hclient {
    void *data;           /* for the user */
    uint64_t connects;    /* TCP connections established so far */
    uint64_t *open_conns; /* NULL, or a gauge of open connections that many
                             clients share: +1 on connect, -1 on close */

    uv_loop_t *loop;
    struct rt_endpoint *ep;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_getaddrinfo_t resolve_req;

    uint8_t state;     /* enum conn_state in hclient.c */
    uint8_t addr_left; /* addresses still to try for this connect */
    uint8_t addr_next; /* the next of them */
    uint8_t addr_cur;  /* the one being tried */
    bool closing;      /* rt_hclient_close() was called */
    bool timer_closed;
    bool closed;      /* close_cb has been called */
    bool reused;      /* the connection has carried an answer before */
    bool retried;     /* this request was resent after a stale connection */
    bool established; /* the connection being closed had connected (for open_conns) */

    /* The request in flight (cb == NULL: none). */
    rt_hclient_cb cb;
    rt_hclient_close_cb close_cb;
    bool idempotent; /* GET or HEAD: safe to resend */
    bool head_method;
    bool written;       /* handed to uv_write on the current connection */
    bool write_pending; /* uv_write() not called back yet */
    char *out;          /* request line and headers */
    size_t out_len, out_cap;
    const char *body;
    size_t body_len;
    bool has_body;

    /* Streaming (rt_hclient_stream(), rt_hclient_upgrade()). */
    bool stream;     /* the request in flight wants a 200 answer streamed */
    bool upgrade;    /* ... or rather a 101 answer (rt_hclient_upgrade()) */
    bool streaming;  /* its head is in: body bytes go to on_data */
    uint32_t serial; /* counts requests: a callback that began another is noticed */
    uint64_t idle_ms;
    uint64_t last_read_ms; /* loop time of the stream's last read */
    rt_hclient_head_cb on_head;
    rt_hclient_data_cb on_data;

    /* The answer being read. */
    char *in; /* only while an answer arrives in pieces */
    size_t in_len, in_cap;
    size_t scanned; /* prev_len for rt_http_response_parse() */
    bool head_done;
    uint8_t framing; /* enum framing in hclient.c */
    int status;
    size_t head_len;
    uint64_t content_length;
    bool keep_alive;
    struct rt_http_chunked chunked;
};

#endif
