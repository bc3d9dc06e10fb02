/*
 * rt_harness.h - what the four servers share.
 *
 * The harness owns everything that is not the approach itself: the libuv
 * listener, the connection lifecycle (reading, HTTP parsing, pipelining,
 * timeouts, writing, closing), the routes every server answers (/publish,
 * /metrics, /healthz), the topic logs, the bus, metrics, the trace and
 * shutdown. A server (short_poll.c, ...) is a struct rt_approach: a name, the
 * route it owns and a handler.
 *
 * Ownership, once for the whole module:
 *   - struct rt_ctx is the caller's (serve.c), initialised and closed by it.
 *   - A struct rt_conn is the harness's: allocated on accept and freed in its
 *     close callback. An approach may hang per-connection state on conn->app
 *     and must release it in its on_close hook.
 *   - Messages (struct rt_msg) belong to their topic's ring and are freed
 *     when they leave it. Borrow them only during a call.
 */
#ifndef RT_HARNESS_H
#define RT_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "rt_proto.h"

/* ---- Intrusive doubly linked lists ------------------------------------- */

struct rt_link {
    struct rt_link *prev, *next;
};

static inline void rt_list_init(struct rt_link *head)
{
    head->prev = head->next = head;
}
static inline bool rt_list_empty(const struct rt_link *head)
{
    return head->next == head;
}
static inline void rt_list_push(struct rt_link *head, struct rt_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}
static inline void rt_list_remove(struct rt_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

#define rt_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- Messages and topics ------------------------------------------------ */

/* One published message, immutable once in a log. json holds the message
 * object as every server sends it; the offsets point into it. */
struct rt_msg {
    uint64_t id;
    uint64_t ts_us;
    uint32_t json_len;
    uint32_t data_off, data_len;   /* the publisher's JSON value */
    uint16_t event_off, event_len; /* the event name */
    char json[];
};

struct rt_topic {
    struct rt_topic *hash_next;
    uint64_t next_id;     /* the id the next message gets; ids start at 1 */
    struct rt_msg **ring; /* ring[id % ring_cap]; NULL until the first message */
    struct rt_link subs;  /* bus subscribers (struct rt_sub) */
    char name[RT_NAME_MAX + 1];
};

struct rt_topics {
    struct rt_topic **buckets;
    size_t num_buckets;
    size_t count;
    size_t max_topics;
    uint32_t ring_cap;
};

int rt_topics_init(struct rt_topics *t, uint32_t ring_cap, size_t max_topics);
void rt_topics_close(struct rt_topics *t);

/* The topic called name, or NULL when it does not exist. */
struct rt_topic *rt_topics_find(const struct rt_topics *t, const char *name);

/* The topic called name, created when missing. NULL when the table is full
 * (max_topics) or memory runs out. name must be rt_name_valid(). */
struct rt_topic *rt_topics_get(struct rt_topics *t, const char *name);

/* Appends a message with the next id and returns it, or NULL when memory
 * runs out. The oldest message leaves the ring when it is full. */
const struct rt_msg *rt_topic_append(struct rt_topics *t, struct rt_topic *tp, const char *event,
                                     const char *data, size_t data_len, uint64_t ts_us);

/* The id of the newest message (0 when none) and of the oldest one still in
 * the ring (last + 1 when none). */
uint64_t rt_topic_last(const struct rt_topic *tp);
uint64_t rt_topic_oldest(const struct rt_topics *t, const struct rt_topic *tp);

/* The message with this id, or NULL when it is not in the ring. */
const struct rt_msg *rt_topic_msg(const struct rt_topics *t, const struct rt_topic *tp,
                                  uint64_t id);

/*
 * Where a reader that has seen everything up to `since` stands:
 *
 *   since <  oldest - 1   RT_SINCE_RESET  messages it never saw left the ring
 *   since >  last         RT_SINCE_RESET  an id this log never issued (the
 *                                         server restarted, or a made-up id)
 *   since == last         RT_SINCE_EMPTY  nothing new
 *   otherwise             RT_SINCE_NEW    messages since+1 .. last wait
 *
 * On a reset *next is where the reader continues: oldest - 1, so that it then
 * receives everything the log still holds. tp may be NULL (never published).
 */
enum rt_since { RT_SINCE_NEW, RT_SINCE_EMPTY, RT_SINCE_RESET };
enum rt_since rt_topic_since(const struct rt_topics *t, const struct rt_topic *tp, uint64_t since,
                             uint64_t *next);

/* Writes the poll answer {"topic":T,"messages":[...],"next":N} for the
 * messages after since (RT_SINCE_NEW), at most RT_POLL_BATCH_MAX of them and
 * about RT_POLL_BATCH_BYTES, into a buffer of the context's (valid until the
 * next call). Sets *len and *count (messages carried). */
struct rt_ctx;
const char *rt_poll_json(struct rt_ctx *ctx, const struct rt_topic *tp, uint64_t since, size_t *len,
                         size_t *count);

/* ---- The bus ------------------------------------------------------------ */

/* A subscription, embedded in the subscriber's own struct. */
struct rt_sub {
    struct rt_link link;
    void (*on_msg)(struct rt_sub *sub, const struct rt_topic *tp, const struct rt_msg *msg);
};

/* Called when a publish has been logged (msg set) or failed (status < 0:
 * RT_EBUSY_TOPICS when the topic table is full, UV_ENOMEM). */
typedef void (*rt_published_cb)(void *arg, int status, const struct rt_msg *msg);

/*
 * How messages enter the logs. The in-process bus logs a publish at once and
 * calls its subscribers; a bus over a broker would send the publish away and
 * call rt_bus_deliver() as messages come back, on every server alike.
 */
struct rt_bus_ops {
    void (*publish)(struct rt_ctx *ctx, const char *topic, const char *event, const char *data,
                    size_t data_len, rt_published_cb cb, void *arg);
};
extern const struct rt_bus_ops rt_bus_inproc;

enum { RT_EBUSY_TOPICS = -30100 };

void rt_bus_publish(struct rt_ctx *ctx, const char *topic, const char *event, const char *data,
                    size_t data_len, rt_published_cb cb, void *arg);

/* Subscribes sub to topic (creating the topic). 0 or RT_EBUSY_TOPICS. */
int rt_bus_subscribe(struct rt_ctx *ctx, const char *topic, struct rt_sub *sub);
void rt_bus_unsubscribe(struct rt_sub *sub);

/* Hands msg, just appended to tp's log, to tp's subscribers. */
void rt_bus_deliver(struct rt_topic *tp, const struct rt_msg *msg);

/* ---- Metrics ------------------------------------------------------------ */

struct rt_metrics {
    uint64_t connections; /* open now */
    uint64_t accepted;
    uint64_t requests;
    uint64_t empty;     /* answers without a message (204) */
    uint64_t delivered; /* messages sent to clients */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t errors;    /* 4xx/5xx answers */
    uint64_t timeouts;  /* connections dropped by a header or idle timeout */
    uint64_t held;      /* requests held open now (long polls, streams) */
    uint64_t overflows; /* streams closed because their send queue was full */
};

/* ---- Trace -------------------------------------------------------------- */

struct rt_trace {
    FILE *f;
    uint64_t t0_us;
    long clients_at; /* file offset of the header's clients count */
    uint64_t clients;
    char path[1024];
};

int rt_trace_open(struct rt_trace *tr, const char *path, const char *const *lanes, size_t n);
void rt_trace_event(struct rt_trace *tr, const char *lane, uint64_t client, const char *kind,
                    const char *dir, uint64_t bytes, uint64_t msg);
void rt_trace_flush(struct rt_trace *tr);
void rt_trace_close(struct rt_trace *tr);

/* ---- Servers, connections, approaches ----------------------------------- */

struct rt_conn;
struct rt_server;

/* What one approach plugs into the harness. */
struct rt_approach {
    const char *name;  /* "short", "long", "sse", "ws": metrics key, trace lane */
    const char *route; /* the path it owns, answered for GET */
    /* Answers req (rt_conn_respond) and returns RT_DONE, or keeps it open
     * and returns RT_HELD with its state in c->app; it then answers later,
     * clears c->app and calls rt_conn_done(). */
    int (*handle)(struct rt_conn *c, const struct rt_http_request *req);
    /* The connection is closing: drop conn->app's subscriptions and timers. */
    void (*on_close)(struct rt_conn *c);
    /* Bytes read on a connection the approach upgraded (rt_conn_upgrade):
     * data[0..len) is the harness's buffer, valid during the call only; the
     * approach may modify it (unmask in place). */
    void (*on_data)(struct rt_conn *c, char *data, size_t len);
    /* Optional: the server starts (set srv->state) and stops (release it). */
    int (*start)(struct rt_server *srv);
    void (*stop)(struct rt_server *srv);
};
enum { RT_DONE = 0, RT_HELD = 1 };

extern const struct rt_approach rt_short_poll;
extern const struct rt_approach rt_long_poll;
extern const struct rt_approach rt_sse;
extern const struct rt_approach rt_websocket;

struct rt_opts {
    const char *host;
    int port;
    uint32_t ring;
    size_t max_topics;
    uint64_t max_body;
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t heartbeat_ms; /* SSE comment / WebSocket ping interval; 0: each one's default */
    uint32_t retry_ms;     /* SSE `retry:` */
    size_t send_queue;     /* bytes a stream may queue (RT_SEND_QUEUE_DEFAULT) */
    const char *trace_path;
    uint64_t max_message;                /* largest WebSocket message (RT_WS_MAX_MESSAGE) */
    int deflate;                         /* WebSocket permessage-deflate: enum rt_deflate_mode */
    const char *origins[RT_MAX_ORIGINS]; /* WebSocket Origins allowed; none: any */
    size_t num_origins;
};

/* How a WebSocket server uses permessage-deflate (--deflate). */
enum rt_deflate_mode {
    RT_DEFLATE_SHARED,  /* no context takeover: each publish compressed once, for all */
    RT_DEFLATE_CONTEXT, /* context takeover: a compressor per connection */
    RT_DEFLATE_OFF,     /* declined */
};

/* Deadline lists: every list holds connections with the same timeout, so
 * appending keeps it sorted and the sweep looks only at its head. */
enum { RT_WAIT_HEAD, RT_WAIT_IDLE, RT_WAIT_LINGER, RT_WAIT_CLOSE, RT_WAIT_KINDS };

struct rt_server {
    uv_tcp_t listener;
    struct rt_ctx *ctx;
    const struct rt_approach *ap;
    struct rt_metrics m;
    struct rt_link conns;                /* every open connection */
    struct rt_link waits[RT_WAIT_KINDS]; /* connections with a deadline */
    uint64_t next_client;
    int port; /* the bound port */
    bool listening;
    void *state; /* the approach's, from its start hook */
};

#define RT_MAX_SERVERS 4

/* Everything one `rtlab serve` process shares between its servers. */
struct rt_ctx {
    uv_loop_t *loop;
    struct rt_opts opts;
    struct rt_topics topics;
    const struct rt_bus_ops *bus;
    struct rt_trace trace;
    bool tracing;
    struct rt_server servers[RT_MAX_SERVERS];
    size_t num_servers;
    uv_timer_t sweep;
    uv_idle_t resume; /* runs connections in `resuming` on the next turn */
    struct rt_link resuming;
    uv_signal_t sigint, sigterm;
    uint64_t published;
    char date[30]; /* Date header, refreshed once a second */
    int64_t date_sec;
    char *scratch; /* answer bodies are built here; grows, never shrinks */
    size_t scratch_cap;
    bool stopping;
};

struct rt_conn {
    uv_tcp_t tcp;
    struct rt_server *srv;
    struct rt_link all;  /* in srv->conns */
    struct rt_link wait; /* in one of srv->waits, or alone */
    uint64_t deadline;   /* uv_now() ms when the wait expires */
    uint64_t client;     /* number in the trace */
    char *buf;           /* bytes of a request not yet complete; NULL when none */
    uint32_t buf_len, buf_cap;
    uint32_t scanned;             /* bytes of buf the head parser has seen */
    struct rt_http_chunked chunk; /* a chunked body's scan, while it arrives */
    uint8_t state;
    bool keep_alive;    /* of the request being answered */
    bool paused;        /* reading stopped: write queue or buffer full */
    bool head_continue; /* 100 Continue already sent for this request */
    bool held;          /* counted in the server's `held` metric */
    void *app;          /* the approach's state for a held request */
};

/* Fills in defaults. */
void rt_opts_default(struct rt_opts *o);

/* Sets up ctx on loop (topics, bus, trace, timers, signals). */
int rt_ctx_init(struct rt_ctx *ctx, uv_loop_t *loop, const struct rt_opts *opts,
                const char *const *lanes, size_t num_lanes);
/* Binds and listens for ap on port; port 0 picks one (see srv->port). */
int rt_server_start(struct rt_ctx *ctx, const struct rt_approach *ap, int port,
                    struct rt_server **out);
/* Stops listening, closes every connection, flushes the trace. Idempotent. */
void rt_ctx_stop(struct rt_ctx *ctx);
/* Frees what rt_ctx_init allocated, after the loop has ended. */
void rt_ctx_close(struct rt_ctx *ctx);

/* The current Date header value. */
const char *rt_ctx_date(struct rt_ctx *ctx);
/* A buffer of at least cap bytes in ctx, or NULL (valid until the next call). */
char *rt_ctx_scratch(struct rt_ctx *ctx, size_t cap);

/*
 * Sends a whole response: head (status, content type, Content-Length, Date,
 * keep-alive) plus body, and any extra header lines (each ending in CRLF).
 * Counts it in the metrics and the trace (kind "response", or "empty" for
 * 204, with msg = last message id carried, 0 for none).
 */
void rt_conn_respond(struct rt_conn *c, int status, const char *content_type, const char *body,
                     size_t body_len, const char *extra, uint64_t msg);

/* Answers with a short plain-text error body and counts it. */
void rt_conn_error(struct rt_conn *c, int status, const char *why, const char *extra);

/* A held request has been answered: read on. Requests that arrived behind
 * it (pipelined) run on the loop's next turn, never inside the caller, which
 * may be in the middle of delivering a message to many subscribers. */
void rt_conn_done(struct rt_conn *c);

/* Writes raw bytes: copies them when the socket cannot take them at once.
 * Returns 0 or a libuv error (the connection is then closing). */
int rt_conn_write(struct rt_conn *c, const char *data, size_t len);

/* Starts a response that runs until the connection closes (no length):
 * 200 with content_type, extra header lines, then first[0..first_len). */
void rt_conn_stream_start(struct rt_conn *c, const char *content_type, const char *extra,
                          const char *first, size_t first_len);

/* Writes to a stream started with rt_conn_stream_start. When bytes already
 * wait in the server and these would take them past opts.send_queue, the
 * client is not keeping up: the connection is closed, counted in
 * `overflows`, and UV_ENOBUFS returned. */
int rt_conn_stream_write(struct rt_conn *c, const char *data, size_t len);

/* True when len more bytes would take c's send queue past opts.send_queue
 * while bytes already wait: the client is not keeping up. */
bool rt_conn_congested(const struct rt_conn *c, size_t len);

/* Switches c to another protocol after writing head (a 101 answer): from
 * now on the bytes read, including any that came behind the request, go to
 * the approach's on_data hook. Call it from the approach's handle hook,
 * with c->app set, and return RT_HELD. The connection counts as held. */
void rt_conn_upgrade(struct rt_conn *c, const char *head, size_t head_len);

/* An upgraded connection has sent its goodbye (a WebSocket Close): close it
 * if it is still open RT_WS_CLOSE_TIMEOUT_MS from now. */
void rt_conn_close_wait(struct rt_conn *c);

/* Sends FIN once the queued bytes are out, drops whatever still arrives,
 * and closes when the peer closes too or after RT_LINGER_MS. */
void rt_conn_linger(struct rt_conn *c);

/* Closes c (the approach's on_close hook runs first). */
void rt_conn_close(struct rt_conn *c);

/* The server context of c. */
static inline struct rt_ctx *rt_conn_ctx(const struct rt_conn *c)
{
    return c->srv->ctx;
}

/* Query parameters shared by the servers: topic (required, rt_name_valid)
 * into topic[RT_NAME_MAX + 1], since (default 0). On a bad request answers
 * 400 itself and returns false. */
bool rt_req_topic_since(struct rt_conn *c, const struct rt_http_request *req, char *topic,
                        uint64_t *since);

/* Answers a poll from the log when it can: 200 with the messages after
 * since, or 200 with a reset. Returns what it found; on RT_SINCE_EMPTY it
 * has answered nothing, and the caller decides (204, or wait). */
enum rt_since rt_poll_answer(struct rt_conn *c, const char *topic, uint64_t since);

/* Internal to the harness (server.c <-> conn.c). */
void rt_conn_accept(struct rt_server *srv);
void rt_conn_on_resume(uv_idle_t *idle);
int rt_route(struct rt_conn *c, const struct rt_http_request *req, char *body, size_t body_len);
void rt_server_sweep(struct rt_server *srv, uint64_t now);
size_t rt_metrics_json(struct rt_ctx *ctx, char *out, size_t cap);

/* `rtlab serve`: argv[0] = "serve". Returns the exit code. */
int rt_cmd_serve(int argc, char **argv);

#endif
