/*
 * internal.h - what the files of the clients module share and nobody else
 * needs: the interface every approach's subscriber implements, and the
 * command-line helpers of the three commands.
 *
 * The commands are written once, against struct rt_approach; an approach
 * (short_poll.c, long_poll.c, sse.c, ws.c) is one table entry.
 * `rtlab client X` runs one subscriber and prints what it receives;
 * `rtlab load X` runs thousands of the same subscribers and counts.
 */
#ifndef RT_CLIENTS_INTERNAL_H
#define RT_CLIENTS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "rt_clients.h"
#include "rt_retry.h"

/* ---- Client timing ----------------------------------------------------- */

/* ---- Peers: whose server, whose clock ---------------------------------- */

/*
 * The load generator can drive a server that is not rtlab, to compare the
 * two on the same load. Only one so far: nginx with the nchan module, as
 * the benchmarks configure it (scripts/bench-push.sh, bench-ws.sh):
 * /publish, /events (EventSource), /poll (long-poll) and /ws (WebSocket)
 * locations, channel = ?topic=. It differs from rtlab in what it sends:
 *
 *                    rtlab                          nchan
 *   publish answer   200 {"id":N}                   201/202, a text body
 *   SSE event        id: N, data: {"id":N,...,"ts"} id: TIME:TAG, data: the body
 *   long-poll answer {"messages":[...],"next":N}    the body; Last-Modified + Etag
 *   WebSocket frame  {"id":N,"topic":T,...,"ts"}    "id: TIME:TAG\n...\n\n" + the body
 *                                                   (subprotocol ws+meta.nchan)
 *   subscribe with   a subscribe frame              the URL (GET /ws?topic=T); nchan
 *                                                   closes with 1008 on any text frame
 *   resume with      since=N, Last-Event-ID: N      If-Modified-Since + If-None-Match,
 *                                                   Last-Event-ID: TIME:TAG
 *
 * nchan passes on the published body untouched, so with it the publisher
 * puts what we measure by into the body: {"seq":N,"ts":MICROS}, its own
 * sequence number (taken as the message id) and its own send time.
 */
enum rt_peer {
    RT_PEER_RTLAB = 0, /* our own servers (the default) */
    RT_PEER_NCHAN,     /* nginx + nchan */
};

/* Whose clock a delivery's latency counts from. */
enum rt_clock {
    RT_CLOCK_SERVER = 0, /* the message's ts, set by an rtlab server on receipt */
    RT_CLOCK_PUBLISHER,  /* the body's ts, set by the publisher just before sending
                            (rtlab: the message's data.ts; nchan: the body's ts) */
};

/* nchan's position in a channel: a message id is (time, tag), the second
 * its message was stored and a counter within that second. An SSE event
 * carries it as "TIME:TAG"; a long-poll answer as Last-Modified (TIME, an
 * HTTP date) and Etag (TAG). */
struct rt_nchan_cursor {
    uint64_t time_s;
    uint32_t tag;
    bool set; /* false until the first message: then ask for the oldest */
};

/* Takes an SSE event id "TIME:TAG" (decimal). Returns false, leaving c
 * alone, for anything else. */
bool rt_nchan_cursor_from_id(struct rt_nchan_cursor *c, const char *id, size_t len);

/* Takes the header nchan puts before a WebSocket frame's body when the
 * ws+meta.nchan subprotocol was agreed: "id: TIME:TAG\n", other lines
 * ("content-type: T\n"), an empty line. Sets *body_at to the body's offset
 * in p[0..len). Returns false, leaving c and *body_at alone, when p does not
 * start with such a header. */
bool rt_nchan_cursor_from_ws_frame(struct rt_nchan_cursor *c, const char *p, size_t len,
                                   size_t *body_at);

/* Takes the Last-Modified and Etag headers of a long-poll answer. Returns
 * false, leaving c alone, when either is missing or malformed. */
bool rt_nchan_cursor_from_head(struct rt_nchan_cursor *c, const struct rt_http_response *head);

/* Writes the Last-Event-ID header line (SSE, and the WebSocket upgrade) or the If-Modified-Since
 * and If-None-Match lines (long polling) for c into out, "" when c is not set. Returns the length,
 * or -1 when cap is too small. */
int rt_nchan_cursor_sse_header(const struct rt_nchan_cursor *c, char *out, size_t cap);
int rt_nchan_cursor_poll_headers(const struct rt_nchan_cursor *c, char *out, size_t cap);

/* ---- Subscribers ------------------------------------------------------- */

/* Counters a subscriber adds to. The load generator points all of its
 * subscribers at one of these, so the totals need no summing up. */
struct rt_sub_stats {
    uint64_t requests;      /* requests sent (for streams: streams asked for) */
    uint64_t connects;      /* TCP connections established */
    uint64_t reconnects;    /* of those, the ones after a subscriber's first */
    uint64_t empty;         /* answers without messages (polling: 204) */
    uint64_t messages;      /* messages delivered: new, in order, once */
    uint64_t duplicates;    /* messages dropped as already delivered */
    uint64_t errors;        /* failed requests or streams: network, timeout, 5xx,
                               bad answer, silent stream */
    uint64_t resets;        /* the server said our position is gone */
    uint64_t held;          /* now: polls in flight plus streams open (WebSockets:
                               subscriptions live, the pong after them back) */
    uint64_t open;          /* now: TCP connections open */
    struct rt_hist latency; /* delivery latency, microseconds: now - ts */
};

/* A delivered message. raw is the message object's JSON text as the server
 * sent it (it may hold whitespace: rt_json_minify() removes it), valid only
 * during the call. */
struct rt_sub_msg {
    uint64_t id;
    uint64_t ts_us;   /* publish time (0 when the message had none) */
    uint64_t recv_us; /* when we read it, same clock */
    const char *raw;
    size_t raw_len;
};

struct rt_sub_config {
    struct rt_endpoint *ep; /* shared; outlives the subscriber */
    const char *topic;      /* rt_name_valid(); outlives the subscriber */
    uint64_t since;         /* deliver messages after this id */
    uint64_t interval_ms;   /* short polling: wait between an answer and the next request */
    uint64_t hold_ms;       /* long polling: how long the server may hold a poll
                               (whole seconds; 0: RT_LONG_POLL_DEFAULT_S) */
    uint64_t margin_ms;     /* long polling: a poll fails after hold + this
                               (0: RT_CLIENT_REQUEST_TIMEOUT_MS) */
    uint64_t heartbeat_ms;  /* SSE: the server's heartbeat interval; the watchdog
                               waits 2.5 times this (0: no watchdog). WebSockets:
                               our ping interval, the same watchdog */
    enum rt_peer peer;      /* whose server: how messages and positions look */
    enum rt_clock clock;    /* where a message's ts is read (RT_PEER_NCHAN: publisher) */
    uint64_t seed;          /* for backoff jitter */
    /* WebSockets only (ws.c): */
    const char *const *topics; /* every topic to follow on the one connection;
                                  NULL: just topic (topics[0] is topic) */
    size_t num_topics;
    bool live;            /* no position yet: subscribe live only (no since) */
    bool no_deflate;      /* do not offer permessage-deflate */
    uint64_t max_message; /* largest message accepted (0: RT_WS_MAX_MESSAGE) */
    bool verbose;         /* print errors and resets to stderr */
    struct rt_sub_stats *stats;
    /* Called for each message delivered (NULL: only count). It may close
     * the subscriber. */
    void (*on_message)(void *arg, const struct rt_sub_msg *m);
    void *arg;
};

/* Options of the commands that only some approaches take. */
enum {
    RT_OPT_INTERVAL = 1,  /* --interval: short polling */
    RT_OPT_TIMEOUT = 2,   /* --timeout: long polling */
    RT_OPT_HEARTBEAT = 4, /* --heartbeat: SSE, WebSockets */
};

/*
 * One approach, as the commands see it. A subscriber lives in sub_size
 * bytes of the caller's storage (the load generator allocates one array
 * for all):
 *   init(loop, sub, cfg)    set up; no I/O. Returns 0 or a libuv error.
 *   start(sub, delay_ms)    begin receiving after delay_ms.
 *   close(sub, cb)          stop; cb(sub) runs when the storage may go.
 */
struct rt_approach {
    const char *name;
    const char *default_url; /* the server's default port for this approach */
    unsigned options;        /* RT_OPT_* it takes */
    bool holds;              /* each subscriber keeps a request or stream open */
    bool streams;            /* one request carries many messages (no empty answers) */
    size_t sub_size;
    uint64_t heartbeat_ms; /* --heartbeat's default (RT_OPT_HEARTBEAT only) */
    /* Reads --url (NULL: rt_endpoint_init(), http:// only). */
    int (*endpoint_init)(struct rt_endpoint *ep, const char *url);
    int (*init)(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg);
    void (*start)(void *sub, uint64_t delay_ms);
    void (*close)(void *sub, void (*cb)(void *sub));
};

extern const struct rt_approach rt_short_approach; /* short_poll.c */
extern const struct rt_approach rt_long_approach;  /* long_poll.c */
extern const struct rt_approach rt_sse_approach;   /* sse.c */
extern const struct rt_approach rt_ws_approach;    /* ws.c */

/* Reads --url for approach ap: its endpoint_init, or rt_endpoint_init(). */
int rt_approach_endpoint(const struct rt_approach *ap, struct rt_endpoint *ep, const char *url);

/* ---- What every subscriber does (sub.c) -------------------------------- */

/* What every subscriber is made of: its connection, a timer for its waits,
 * its settings, its position and its backoff. Each approach's subscriber
 * struct starts with one, so the handles' data pointers (set to the base)
 * point at the subscriber too. */
struct rt_sub_base {
    struct rt_hclient http;
    uv_timer_t timer;
    struct rt_sub_config cfg;
    struct rt_seq seq;            /* what was delivered: de-dup, order, position */
    struct rt_backoff backoff;    /* how long to wait after a failure */
    struct rt_nchan_cursor nchan; /* RT_PEER_NCHAN: where to resume */
    uint64_t connects_seen;       /* http.connects already counted in the stats */
    bool closing;
    int closes_left;
    void (*close_cb)(void *sub);
};

/* Sets up b for cfg (position cfg->since, backoff seeded with cfg->seed);
 * no I/O. Returns 0 or a libuv error. */
int rt_sub_base_init(uv_loop_t *loop, struct rt_sub_base *b, const struct rt_sub_config *cfg);

/* The close of an rt_approach: stops the timer and closes the connection
 * (a request in flight ends with UV_ECANCELED first); cb(sub) runs once
 * both are closed. sub is the subscriber, which starts with its base. */
void rt_sub_base_close(void *sub, void (*cb)(void *sub));

/*
 * Takes one message object of an answer or event: its id (a whole number
 * > 0) and ts from item (cJSON's parse of raw[0..raw_len)), then de-dup
 * and order by seq, counting, latency (recv_us - ts) and cfg->on_message.
 * Where they are read depends on the peer and the clock (see "Peers"):
 *
 *   rtlab, server clock      item.id, item.ts
 *   rtlab, publisher clock   item.id, item.data.ts
 *   nchan                    item.seq, item.ts  (item is the published body)
 *
 * Returns RT_SEQ_NEW/GAP/DUP, or -1 when item has no valid id (nothing is
 * counted then).
 */
int rt_sub_take(const struct rt_sub_config *cfg, struct rt_seq *seq, const cJSON *item,
                const char *raw, size_t raw_len, uint64_t recv_us);

/* The server said our position is gone: count it, move seq to next and,
 * when verbose, say so on stderr. */
void rt_sub_reset(const struct rt_sub_config *cfg, struct rt_seq *seq, uint64_t next);

/* Something went wrong and we try again in delay_ms: counts an error when
 * error is true and, when verbose, prints "error: topic T: WHY; VERB in
 * X s" (or "note: ..." when it is not an error). */
void rt_sub_trouble(const struct rt_sub_config *cfg, bool error, const char *verb,
                    uint64_t delay_ms, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Adds the connections c established since *seen to the stats (connects,
 * and reconnects for all but a subscriber's first). */
void rt_sub_count_connects(struct rt_sub_stats *st, const struct rt_hclient *c, uint64_t *seen);

/* ---- The polling subscriber (poll.c): short and long polling ----------- */

/* Short and long polling are one loop (ask, take the answer, ask again);
 * they differ only in how long the server may hold a request and how long
 * the client waits before the next one. short_poll.c and long_poll.c are
 * the approach entries and the lessons; this is the machine they share. */
struct rt_poll_sub {
    struct rt_sub_base b;
    uint64_t since;   /* what we ask for next */
    uint64_t hold_ms; /* 0: short polling; else the server's hold (long polling) */
    uint64_t sent_ms; /* loop time the request in flight was sent */
};

/* init for an rt_approach, with the hold (0 for short polling). */
int rt_poll_init(uv_loop_t *loop, struct rt_poll_sub *s, const struct rt_sub_config *cfg,
                 uint64_t hold_ms);
void rt_poll_start(void *sub, uint64_t delay_ms);

/* ---- The WebSocket subscriber's extras (ws.c) --------------------------- */

/*
 * Sends one text frame (a JSON object of the protocol) on a WebSocket
 * subscriber's connection. With no open connection it is kept (up to
 * RT_WS_CLIENT_PENDING_MAX bytes) and sent after the subscribes of the next
 * one when keep is true, else dropped. Returns 0, UV_ENOTCONN (dropped),
 * UV_ENOBUFS (the pending limit) or UV_ENOMEM.
 */
int rt_ws_sub_send(void *sub, const char *text, size_t len, bool keep);

/* Closes the subscriber (with the close handshake; cb as for the
 * approach's close) once what rt_ws_sub_send() kept has been sent, on this
 * connection or the next, and the server has answered a last ping (so what
 * it sent back is in). With nothing kept and no connection: at once. */
void rt_ws_sub_close_when_sent(void *sub, void (*cb)(void *sub));

/* ---- Chat (chat.c): stdin lines published over a WebSocket ------------- */

/*
 * Writes {"type":"publish","topic":T,"data":{"from":NAME,"text":TEXT}} (or,
 * with text NULL, {"type":"signal","topic":T,"data":{"typing":NAME}}) into
 * out[0..cap). name and text are any bytes: they are JSON-escaped, and
 * bytes that are not UTF-8 become U+FFFD. Returns the length, or -1 when
 * cap is too small.
 */
int rt_chat_json(char *out, size_t cap, const char *topic, const char *name, const char *text,
                 size_t text_len);

/* Writes the JSON string literal (quotes included) of s[0..len) into
 * out[0..cap): '"', '\\' and control characters escaped, invalid UTF-8
 * replaced by U+FFFD. Returns the length, or -1 when cap is too small
 * (6 * len + 2 always suffices). */
int rt_json_quote(char *out, size_t cap, const char *s, size_t len);

struct rt_chat;

/* Starts reading stdin on loop: each line is published to topic on the
 * WebSocket subscriber sub as name; a partial line sends a typing signal
 * (at most one per RT_CHAT_TYPING_MS). At EOF, on_eof(arg) runs. Returns
 * NULL after printing why it cannot. */
struct rt_chat *rt_chat_start(uv_loop_t *loop, void *sub, const char *topic, const char *name,
                              void (*on_eof)(void *arg), void *arg);

/* Stops reading; frees the chat once its handle has closed. */
void rt_chat_stop(struct rt_chat *chat);

/* ---- Fan-out: when the last client has a message (fanout.c) ------------ */

struct rt_fanout {
    uint64_t after;     /* ids after this one are tracked */
    uint32_t *got;      /* [id - after - 1]: clients that have the message */
    uint64_t *worst_us; /* [id - after - 1]: the largest recv - ts so far */
    size_t cap;
};

/* Starts tracking the messages after id `after`. */
void rt_fanout_init(struct rt_fanout *f, uint64_t after);
void rt_fanout_close(struct rt_fanout *f);

/* One client received m (call once per client and message: rt_seq
 * already drops duplicates). Messages without a ts are not tracked. */
void rt_fanout_record(struct rt_fanout *f, const struct rt_sub_msg *m);

/* Records into h the fan-out time (us) of each message after..last that
 * reached all clients; returns how many did. */
uint64_t rt_fanout_result(const struct rt_fanout *f, uint64_t last, uint64_t clients,
                          struct rt_hist *h);

/* ---- JSON text (json.c) ------------------------------------------------ */

/* These read text already known to be valid JSON (cJSON parsed it); they
 * find values in it without copying or reformatting it. */

/* Offset of the value of key in the top-level object of p[0..len), or len
 * when there is none. Keys are compared as raw text (no escapes). */
size_t rt_json_member(const char *p, size_t len, const char *key);

/* Steps through an array: *at is the offset of its '[' (first call) or the
 * end of the previous element. Sets *start to the next element's offset,
 * moves *at past it and returns its length; returns 0 after the last. */
size_t rt_json_next_element(const char *p, size_t len, size_t *at, size_t *start);

/* Copies p[0..len) to out without whitespace outside strings; returns the
 * bytes written (<= len). out must not overlap p. */
size_t rt_json_minify(char *out, const char *p, size_t len);

/* ---- Command-line helpers (cli.c) -------------------------------------- */

/* Exit codes of the commands. */
enum { RT_EXIT_OK = 0, RT_EXIT_FAIL = 1, RT_EXIT_USAGE = 2 };

/* Finds the approach named argv[1] of `rtlab CMD APPROACH ...`. On failure
 * prints why to stderr and returns NULL. */
const struct rt_approach *rt_cli_approach(const char *cmd, int argc, char **argv);

/* Parses a duration in seconds ("1", "0.25") into milliseconds; printing
 * "rtlab CMD: OPTION ..." to stderr on error. Returns 0 or -1. */
int rt_cli_seconds(const char *cmd, const char *opt, const char *text, uint64_t *ms);

/* Parses a decimal number in [min, max] (rates: "0.5"); same handling. */
int rt_cli_number(const char *cmd, const char *opt, const char *text, double min, double max,
                  double *out);

/* Parses a decimal count in [min, max]; same error handling. */
int rt_cli_count(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
                 uint64_t *out);

/* The settings only some approaches take, as the client and load
 * commands read them: --interval (short), --timeout (long), --heartbeat
 * (sse). */
struct rt_cli_knobs {
    uint64_t interval_ms;
    uint64_t hold_ms;
    uint64_t heartbeat_ms;
};

/* Their getopt_long() entries, answering 'i', 'T' and 'b'. */
#define RT_CLI_KNOB_OPTIONS                                                                        \
    {"interval", required_argument, NULL, 'i'}, {"timeout", required_argument, NULL, 'T'},         \
    {                                                                                              \
        "heartbeat", required_argument, NULL, 'b'                                                  \
    }

/* Sets the defaults: 1 s, RT_LONG_POLL_DEFAULT_S, and ap's heartbeat. */
void rt_cli_knobs_init(struct rt_cli_knobs *k, const struct rt_approach *ap);

/* Takes option ch ('i', 'T' or 'b') and its value for approach ap, which
 * must be one that takes it. Returns 0, or -1 after printing why not. */
int rt_cli_knob(const char *cmd, const struct rt_approach *ap, int ch, const char *arg,
                struct rt_cli_knobs *k);

/* Checks a topic or event name, same error handling. */
int rt_cli_name(const char *cmd, const char *opt, const char *name);

/* Reports what getopt_long() (with an optstring starting with ':') refused:
 * ret is its answer, '?' for an unknown option or ':' for a missing value. */
void rt_cli_bad_option(const char *cmd, int argc, char **argv, int ret);

/* Sets up what every command needs: SIGPIPE ignored (a write to a closed
 * socket must return EPIPE, not kill the process). */
void rt_cli_prepare(void);

/* Reads a JSON number that is a whole number in [0, 2^53] (ids, ts). */
bool rt_json_u64(const cJSON *item, uint64_t *out);

/* Wall-clock microseconds since the epoch (what a message's ts uses). */
uint64_t rt_now_us(void);

/* Closes every handle still open on loop, runs it until they are gone and
 * closes it. */
void rt_cli_loop_close(uv_loop_t *loop);

#endif
