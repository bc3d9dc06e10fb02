/*
 * internal.h - what the engine (engine.c), the network (net.c) and the
 * approach models (short_poll.c; push.c for long polling, SSE and
 * WebSocket) share inside sim/.
 * Not a public header: nothing outside sim/ includes it.
 */
#ifndef RT_SIM_INTERNAL_H
#define RT_SIM_INTERNAL_H

#include <stdio.h>

#include "rt_clients.h"
#include "rt_radio.h"
#include "rt_retry.h"
#include "rt_sim.h"

/*
 * An event's 64 bits of data: a kind in the top byte, a client in the low 32
 * bits, and between them a 16-bit generation the models use to cancel
 * events: a client's generation moves on when its connection changes, and
 * an event that carries an older one is ignored when it comes up.
 */
#define EV_KIND_SHIFT 56
#define EV_CLIENT_MASK UINT64_C(0xffffffff)
#define EV(kind, client) ((uint64_t)(kind) << EV_KIND_SHIFT | (uint64_t)(client))
#define EVG(kind, client, gen) (EV(kind, client) | (uint64_t)(uint16_t)(gen) << 32)
#define EV_KIND(data) ((unsigned)((data) >> EV_KIND_SHIFT))
#define EV_CLIENT(data) ((data)&EV_CLIENT_MASK)
#define EV_GEN(data) ((uint16_t)((data) >> 32))

enum {
    EV_PUBLISH = 0,    /* the engine's: the next update on some topic */
    EV_RESTART = 1,    /* the server goes down (restart_at_s, restart_every_s) */
    EV_BROKER_BACK = 2, /* the broker delivers again: the waiting publishes go out */
    EV_HEARTBEAT = 3,  /* the server's heartbeat timer (one for all streams) */
    EV_MODEL = 8,      /* models number their own kinds from here */
};

/*
 * The messages published so far, all topics, in one log in publish order.
 * Each entry links back to the previous message of its topic, so a client
 * walks from its topic's newest message back to its cursor. Only the recent
 * past is kept (a ring of 2^log_bits entries); an entry older than that
 * reads as gone, and a delivery that needs one is counted as clipped.
 */
struct sim_log_entry {
    rt_sim_time time; /* publish time */
    uint64_t prev;    /* log index of the topic's previous message, + 1 (0: none) */
};

struct sim_topic {
    uint64_t last_id;  /* id of its newest message (ids start at 1) */
    uint64_t last_idx; /* its log index + 1 (0: none yet) */
};

struct sim;

/* One approach's behaviour. The engine calls start once, then on_event for
 * each of the model's events in time order, then finish, then free. */
struct sim_model {
    int (*start)(struct sim *s);
    void (*on_event)(struct sim *s, rt_sim_time now, uint64_t data);
    /* n new messages on topic reach the server at now (NULL: the model's
     * clients come and fetch them) */
    void (*on_publish)(struct sim *s, uint32_t topic, uint32_t n, rt_sim_time now);
    /* the server goes down at now: every connection closes (NULL: nothing held) */
    void (*on_restart)(struct sim *s, rt_sim_time now);
    /* the server's heartbeat timer fires (NULL: no heartbeat) */
    void (*on_heartbeat)(struct sim *s, rt_sim_time now);
    void (*finish)(struct sim *s);
    void (*free)(struct sim *s);
};

/* A publish that waits for the broker to come back. */
struct sim_deferred {
    rt_sim_time time;
    uint32_t topic;
};

struct sim {
    const struct rt_sim_config *c;
    struct rt_sim_report *r;
    const struct sim_model *model;
    void *state; /* the model's own: its client arrays */
    struct rt_simq q;
    struct rt_rng rng;     /* the clients' draws (phases, jitter, drops) */
    struct rt_rng pub_rng; /* the updates' own, so every approach and policy
                              sees the same messages at the same times */
    rt_sim_time end;         /* the run stops before this time */
    rt_sim_time rtt;         /* us */
    struct rt_hist *latency; /* delivery latency, us */
    struct sim_topic *topics;
    struct sim_log_entry *log;
    uint64_t log_mask;
    uint64_t log_len; /* messages ever logged */
    uint64_t clipped; /* deliveries whose publish time had left the log */
    size_t model_bytes;
    const struct rt_radio_params *radio_p; /* the config's radio */
    struct rt_radio_state *radio;          /* per client, 16 bytes: its radio's account */

    /* net.c: the network the models share */
    uint32_t *rtt_of;       /* per client, us (NULL: every client has rtt) */
    uint64_t conns;         /* connections open now */
    double conn_area;       /* integral of conns over time, connection-us */
    rt_sim_time conn_since; /* when conns last changed */
    rt_sim_time heartbeat;  /* the server's heartbeat period, us (0: none) */
    rt_sim_time restart_at, restart_down, restart_every; /* us; at UINT64_MAX: never */
    uint64_t slow_cut;      /* client i reads slowly when its hash is below this */
    rt_sim_time series_step;
    size_t series_k;         /* the step being counted, */
    rt_sim_time series_next; /* and where the next one starts */
    uint64_t trace_stride;  /* client i is traced when i % stride == 0 ... */
    uint64_t trace_count;   /* ... and i / stride < count */
    size_t trace_cap;
    struct sim_deferred *deferred; /* publishes held by a broker outage */
    size_t deferred_len, deferred_cap;
    rt_sim_time broker_back; /* the outage's end (0: none going on) */
};

/* Schedules an event; a failure to allocate ends the run with ENOMEM. */
void sim_at(struct sim *s, rt_sim_time t, uint64_t data);

/*
 * Delivers to one client of topic the messages after its cursor *since up
 * to the newest, arriving at time at: records each one's latency and moves
 * the cursor. A gap larger than the topic's ring is a reset: the client
 * skips to the newest message and the skipped ones count as lost (what the
 * real server's {"reset":true} does) and *reset is set. Returns how many
 * were delivered.
 */
uint64_t sim_deliver(struct sim *s, uint32_t topic, uint32_t *since, rt_sim_time at, bool *reset);

/* The topic's n newest messages reach `clients` clients at time at (a
 * fan-out to clients that were up to date): latencies, counts. */
void sim_deliver_many(struct sim *s, uint32_t topic, uint64_t n, rt_sim_time at,
                      uint64_t clients);

/* Client i's radio moves bytes_up then bytes_down, handed over at time t
 * (per client, in time order; a transfer up to a round trip early is taken
 * as queued behind the one before, which moves no promotion or tail).
 * Returns when its last byte goes. Nothing is charged from the run's end. */
static inline rt_sim_time sim_radio(struct sim *s, uint64_t i, rt_sim_time t, uint64_t bytes_up,
                                    uint64_t bytes_down)
{
    if (t >= s->end) /* after the run: its energy is not the run's */
        return t;
    return rt_radio_activity(s->radio_p, &s->radio[i], t, bytes_up, bytes_down);
}

/*
 * ---- Bytes on the wire, beyond the configuration's (docs/sim-wire.md) ----
 *
 * Measured from rtlab's own servers and clients by scripts/measure-wire.sh
 * (2-digit ids, 16-byte data); the configuration's request_bytes,
 * empty_bytes, answer_bytes, envelope_bytes and message_bytes are the
 * short-polling ones, which long polling shares. WebSocket frames are
 * counted uncompressed (permessage-deflate saves 7 of a message's 88 bytes).
 */
#define LONG_REQUEST_EXTRA 11  /* "&timeout=30" on the poll's target */
#define POST_REQUEST_BYTES 130 /* POST /publish head (the data comes after) */
#define POST_ANSWER_BYTES 131  /* its 200 answer, head and {"id":NN} */
#define SSE_REQUEST_BYTES 128  /* GET /events head */
#define SSE_RESUME_EXTRA 19    /* its Last-Event-ID: NN header */
#define SSE_HEAD_BYTES 197     /* the 200 answer's head (184) and retry: (13) */
#define SSE_EVENT_EXTRA 30     /* id:, event:, data: and the blank line around a message */
#define SSE_COMMENT_BYTES 3    /* ":\n\n", the heartbeat */
#define WS_UPGRADE_BYTES 300   /* GET /ws with the upgrade headers, deflate offered */
#define WS_ACCEPT_BYTES 231    /* 101 Switching Protocols, deflate accepted */
#define WS_SUBSCRIBE_BYTES 45  /* {"type":"subscribe","topic":..,"since":N}, unframed */
#define WS_MESSAGE_EXTRA 0     /* a frame carries the message's JSON as it is */
#define WS_PUBLISH_BYTES 41    /* {"type":"publish","topic":..,"data":} without data */
#define WS_PING_BYTES 10       /* the server's ping frame, 8 bytes of payload; its pong */
#define WS_PONG_BYTES 14       /* the client's pong, masked; its own ping */

/* The body of a reset answer, {"reset":true,"next":NN} (servers/harness). */
#define RESET_BODY_BYTES 24

/* A poll's answer when the client is gap messages behind: a 204, a reset
 * (gap past the ring), or a 200 with the envelope and the messages, a comma
 * between each two. */
static inline uint64_t sim_poll_answer(const struct rt_sim_config *c, uint64_t gap)
{
    if (gap > c->ring)
        return c->answer_bytes + RESET_BODY_BYTES;
    if (gap == 0)
        return c->empty_bytes;
    return c->answer_bytes + c->envelope_bytes +
           gap * (uint64_t)(c->message_bytes + c->payload_bytes) + (gap - 1);
}

/* A WebSocket frame's header: 2 bytes, 4 from 126 bytes, 10 from 65536; a
 * client's frames add a 4-byte mask (RFC 6455 section 5.2). */
static inline uint64_t ws_frame(uint64_t payload, bool masked)
{
    return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/* ---- net.c: what every model's network does ----------------------------- */

/* Client i's round trip, us. */
static inline rt_sim_time sim_rtt(const struct sim *s, uint64_t i)
{
    return s->rtt_of ? s->rtt_of[i] : s->rtt;
}

/* Sets up the per-client RTTs, the series, the trace and the slow readers
 * (engine.c calls it before the model starts). */
int sim_net_init(struct sim *s);
void sim_net_free(struct sim *s);

#define TCPIP_HEADER 52   /* IPv4 20, TCP 20, timestamps 12 */
#define SEGMENT_DATA 1448 /* a 1500-byte MTU's room for data */

/*
 * Bytes on the wire. One write of app bytes in one direction: counted in the
 * report with its TCP/IP headers (52 bytes a segment of at most 1448) and,
 * when acked, the pure ACK the other side sends back. Returns the bytes the
 * write puts on the wire (for the radio). A request is not acked (its
 * answer carries the ACK); an answer or a push is.
 */
static inline uint64_t sim_writes(struct sim *s, bool s2c, uint64_t app, bool acked,
                                  uint64_t times)
{
    uint64_t over = 0;
    if (s->c->tcp_overhead) {
        uint64_t segments = app ? (app + SEGMENT_DATA - 1) / SEGMENT_DATA : 1;
        over = segments * TCPIP_HEADER;
        uint64_t ack = acked ? TCPIP_HEADER : 0;
        if (s2c)
            s->r->bytes_up += ack * times;
        else
            s->r->bytes_down += ack * times;
        s->r->bytes_tcpip += (over + ack) * times;
    }
    if (s2c)
        s->r->bytes_down += (app + over) * times;
    else
        s->r->bytes_up += (app + over) * times;
    return app + over;
}

/* One write (sim_writes: the same write `times` times, as a fan-out does). */
static inline uint64_t sim_write(struct sim *s, bool s2c, uint64_t app, bool acked)
{
    return sim_writes(s, s2c, app, acked, 1);
}

/* Counts one in series at time t. Counts come in time order (they are made
 * at the event being handled, or a round trip after), so a cursor that
 * moves forward spares a division per request. */
static inline void sim_series_add(struct sim *s, uint32_t *series, rt_sim_time t)
{
    while (t >= s->series_next) {
        s->series_k++;
        s->series_next += s->series_step;
    }
    size_t k = t >= s->series_next - s->series_step ? s->series_k : (size_t)(t / s->series_step);
    if (k < s->r->series_len)
        series[k]++;
}

/* A request reaches the server at t (the requests/s series). */
static inline void sim_count_request(struct sim *s, rt_sim_time t)
{
    s->r->requests++;
    sim_series_add(s, s->r->series_requests, t);
}
/* A TCP handshake (SYN, SYN-ACK, ACK): counts the attempt and its bytes;
 * returns the bytes the client sends. */
uint64_t sim_handshake(struct sim *s, rt_sim_time t);
/* A connection attempt refused (the server is down): SYN and RST. */
void sim_refused(struct sim *s, rt_sim_time t);

/* A connection opens or closes at t (for the time-averaged count); a close
 * may be dated before the event that finds it. */
void sim_conn_open(struct sim *s, rt_sim_time t);
void sim_conn_close(struct sim *s, rt_sim_time t);
/* One connection open from from to to, closed by then (a poll's own). */
void sim_conn_span(struct sim *s, rt_sim_time from, rt_sim_time to);

/* Whether the server accepts connections at time t (restarts). */
static inline bool sim_server_up(const struct sim *s, rt_sim_time t)
{
    if (t < s->restart_at)
        return true;
    rt_sim_time since = t - s->restart_at;
    if (s->restart_every)
        since %= s->restart_every;
    return since >= s->restart_down;
}

/* A refused connection attempt takes at least this long before the next
 * (us): a kernel's round trip even on loopback, and what keeps an
 * `immediate` policy at rtt 0 from retrying forever at one instant. */
#define SIM_REFUSED_MIN 1000

/* The reconnect policy's delay, us, after k failures in a row. */
rt_sim_time sim_reconnect_delay(struct sim *s, unsigned k);

/* The topic of each client: the round-robin deal i mod K, shuffled
 * (Fisher-Yates), so every topic has its share of clients; *out is NULL
 * with one topic. The caller frees it. */
int sim_deal_topics(struct sim *s, uint32_t **out);

/* Whether client i is one of the slow readers. */
static inline bool sim_slow(const struct sim *s, uint64_t i)
{
    return s->slow_cut && (i * UINT64_C(0x9E3779B97F4A7C15)) >> 32 < s->slow_cut;
}


/* An exponential delay (us) for a Poisson process of rate per second. */
rt_sim_time sim_exp_delay(struct rt_rng *rng, double rate);

/* Records a line of client i's trace, if i is sampled. */
void sim_trace_line(struct sim *s, uint64_t i, rt_sim_time t, enum rt_sim_trace_kind kind, bool s2c,
                    uint64_t bytes, uint64_t msg);
static inline void sim_trace(struct sim *s, uint64_t i, rt_sim_time t, enum rt_sim_trace_kind kind,
                             bool s2c, uint64_t bytes, uint64_t msg)
{
    if (s->trace_count && i % s->trace_stride == 0 && i / s->trace_stride < s->trace_count)
        sim_trace_line(s, i, t, kind, s2c, bytes, msg);
}

/* Sorts the trace by time and closes the series (engine.c, at the end). */
void sim_net_finish(struct sim *s);

extern const struct sim_model sim_short_poll;
extern const struct sim_model sim_long_poll, sim_stream; /* push.c: long; SSE and WebSocket */

/* report.c: the report as a table for people. */
void sim_report_table(FILE *f, const struct rt_sim_report *r);
void sim_compare_table(FILE *f, const struct rt_sim_report r[4]);

#endif
