/*
 * rt_sim.h - rtlab's discrete-event simulator: the event queue, the models
 * and the `rtlab sim` command. See docs/sim.md.
 */
#ifndef RT_SIM_H
#define RT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Simulated time: integer microseconds since the start of the run. */
typedef uint64_t rt_sim_time;

/* One event: when, and 64 bits the model reads (which client, what kind). */
struct rt_sim_event {
    rt_sim_time time;
    uint64_t data;
};

/* ---- The event queue ---------------------------------------------------- */

/*
 * Two queues with the same contract: push events in any order (never earlier
 * than the last event popped), pop them by time; events with the same time
 * come out in the order they were pushed (first in, first out). That rule is
 * the tie-break that makes a run deterministic.
 *
 * rt_simheap is the textbook binary heap on (time, push order): O(log n), the
 * reference. rt_simq is the timing wheel the simulator runs on: O(1)
 * amortised; the tests check it pops exactly what the heap pops.
 *
 * Both live in caller-owned storage; _init allocates, _close frees. A push
 * returns 0, or -1 when memory runs out (the queue is unchanged then).
 */
struct rt_simheap_node {
    rt_sim_time time;
    uint64_t seq; /* push order, the tie-break */
    uint64_t data;
};

struct rt_simheap {
    struct rt_simheap_node *v;
    size_t len, cap;
    uint64_t next_seq;
};

void rt_simheap_init(struct rt_simheap *h);
void rt_simheap_close(struct rt_simheap *h);
int rt_simheap_push(struct rt_simheap *h, rt_sim_time time, uint64_t data);
/* Takes the earliest event into *out; false when the heap is empty. */
bool rt_simheap_pop(struct rt_simheap *h, struct rt_sim_event *out);

/* One slot of the wheel: the events due in one window of 2^gran_bits us. */
struct rt_simq_slot {
    struct rt_sim_event *ev;
    uint32_t len, cap;
};

struct rt_simq {
    unsigned gran_bits;         /* a slot spans 2^gran_bits us */
    unsigned slot_bits;         /* 2^slot_bits slots: the horizon */
    struct rt_simq_slot *slots; /* the wheel */
    uint64_t *busy;             /* one bit per slot: has events */
    size_t cur;                 /* the slot being drained */
    rt_sim_time cur_start;      /* the time its window starts */
    uint32_t pos;               /* next event to pop in it */
    struct rt_simheap near;     /* pushed into the window being drained */
    struct rt_simheap far;      /* pushed beyond the horizon */
    size_t in_slots;            /* events waiting in slots other than cur */
    size_t len;                 /* events in the queue, all parts */
    struct rt_simq_slot *spare; /* drained slots' arrays, for reuse */
    size_t spare_len;
    struct rt_sim_event *scratch; /* the radix sort's buffer */
    size_t scratch_cap;
    uint32_t expect; /* events a slot is expected to hold (rt_simq_expect), 0: unknown */
};

/* Sets up an empty wheel of 2^slot_bits slots of 2^gran_bits us each; events
 * further ahead than the horizon (their product) wait in a heap. Returns 0 or
 * -1 (out of memory). */
int rt_simq_init(struct rt_simq *q, unsigned gran_bits, unsigned slot_bits);
void rt_simq_close(struct rt_simq *q);
/* Says about how many events a slot will hold (the run's event rate times
 * a slot's span), so that a slot's array is sized once for it instead of
 * doubled past it. Optional: without it arrays start small and grow. */
void rt_simq_expect(struct rt_simq *q, uint32_t per_slot);
int rt_simq_push(struct rt_simq *q, rt_sim_time time, uint64_t data);
bool rt_simq_pop(struct rt_simq *q, struct rt_sim_event *out);
/* Bytes the queue holds allocated now (for the memory report). */
size_t rt_simq_bytes(const struct rt_simq *q);

/* ---- A run: configuration ---------------------------------------------- */

enum rt_sim_approach {
    RT_SIM_SHORT = 0, /* short polling (sim/short_poll.c) */
    RT_SIM_LONG,      /* long polling  (sim/push.c, with the two below) */
    RT_SIM_SSE,       /* Server-Sent Events */
    RT_SIM_WS,        /* WebSocket */
};

/* How a client waits before it tries again after losing its connection or
 * failing to connect; k counts the failures in a row (0 for the first), b is
 * reconnect_base_s and m reconnect_max_s (docs/sim.md, "Reconnecting"). */
enum rt_sim_reconnect {
    RT_SIM_RC_IMMEDIATE = 0, /* 0 */
    RT_SIM_RC_FIXED,         /* b */
    RT_SIM_RC_STEPPED,       /* b x 1, 2, 5, 10, 30, then 30 (at most m): no jitter */
    RT_SIM_RC_BACKOFF,       /* min(m, b 2^k): no jitter */
    RT_SIM_RC_HALF_JITTER,   /* min(m, b 2^k) x U[0.5, 1.5] */
    RT_SIM_RC_FULL_JITTER,   /* U[0, min(m, b 2^k)]: rtlab's own clients */
};

/*
 * What to simulate. rt_sim_config_init() fills in the defaults; the byte
 * sizes default to what our own short-polling server and client put on the
 * wire (see docs/sim.md, "Where the bytes come from").
 */
struct rt_sim_config {
    enum rt_sim_approach approach;
    uint64_t clients;
    double interval_s; /* short: from an answer to the next request */
    double rate;       /* updates per second per topic (Poisson) */
    uint32_t topics;   /* clients are spread evenly over the topics */
    double duration_s; /* simulated time */
    double rtt_ms;     /* network round trip, the same for every request */
    uint64_t seed;
    bool sync;               /* every client polls first at t = 0 (else a random phase) */
    uint32_t ring;           /* messages a topic keeps for replay, as the server's --ring */
    bool progress;           /* a progress line on stderr (when it is a terminal) */
    uint32_t request_bytes;  /* GET /poll request */
    uint32_t empty_bytes;    /* 204 No Content answer */
    uint32_t answer_bytes;   /* 200 answer's status line and headers */
    uint32_t envelope_bytes; /* {"topic":..,"messages":[..],"next":N} around them */
    uint32_t message_bytes;  /* one message's JSON, without its data */
    uint32_t payload_bytes;  /* one message's data */
    char radio[8];           /* the phones' radio: "lte", "3g" or "wifi" (rt_radio.h) */
    double battery_wh;       /* the battery the energy is counted against */
    uint32_t header_extra_bytes; /* added to every HTTP request head (a browser's
                                    User-Agent, cookies...); 0 = rtlab's client */
    bool tcp_overhead;           /* count TCP/IP headers, ACKs, handshakes (default) */

    /* Long polling, SSE, WebSocket */
    double timeout_s;     /* long: the server holds a poll this long (default 30) */
    double gap_ms;        /* long: from an answer to the next poll (default 0) */
    double heartbeat_s;   /* SSE comment / WS ping period: 0 = the approach's
                             default (SSE 15, WS 30), < 0 = none */
    double upstream_rate; /* messages each client sends per second (Poisson) */
    uint32_t burst;       /* messages per update arrival (default 1) */

    /* The network and its failures */
    double rtt_sigma;       /* per-client RTT: lognormal, median rtt_ms, this
                               sigma (0: every client has rtt_ms) */
    double drop_mean_s;     /* mean time between a client's silent link drops (0: none) */
    enum rt_sim_reconnect reconnect;
    double reconnect_base_s, reconnect_max_s; /* defaults 1 and 30 */
    double restart_at_s;    /* the server restarts (every connection closes) at
                               this time; < 0: never (default) */
    double restart_down_s;  /* and accepts nothing for this long (default 5) */
    double restart_every_s; /* then again every this often (0: once) */
    double lb_idle_s;       /* a load balancer closes connections idle this long (0: none) */
    double broker_at_s;     /* the broker stops delivering at this time (< 0: never) */
    double broker_down_s;   /* for this long; publishes wait (default 30) */
    double slow_share;      /* share of clients that read slowly, 0..1 */
    double slow_bytes_per_s; /* how slowly (default 2000) */
    uint32_t send_queue;    /* bytes a server queues for a stream before it closes
                               it (the servers' --send-queue, 256 KiB) */

    /* Output beside the report */
    uint32_t trace_clients; /* record the trace of this many sampled clients (0: none) */
};

void rt_sim_config_init(struct rt_sim_config *c);

/* The longest run, 90 days: a radio account holds 1.8e7 J (uint64
 * picojoules), about 100 days of a radio kept busy at 2 W. */
#define RT_SIM_DURATION_MAX_S (90 * 86400.0)

/* The approach's name ("short", ...) and back; -1 for an unknown name. */
const char *rt_sim_approach_name(enum rt_sim_approach a);
int rt_sim_approach_parse(const char *name);
/* The same for reconnect policies: "immediate", "fixed", "stepped",
 * "backoff", "half_jitter", "full_jitter". */
const char *rt_sim_reconnect_name(enum rt_sim_reconnect p);
int rt_sim_reconnect_parse(const char *name);

/* ---- A run: results ----------------------------------------------------- */

struct rt_sim_report {
    struct rt_sim_config config;
    uint64_t requests;   /* requests sent */
    uint64_t empty;      /* answers with no message */
    uint64_t published;  /* messages published, all topics */
    uint64_t delivered;  /* message deliveries, all clients */
    uint64_t lost;       /* skipped by a reset (fell out of the ring) */
    uint64_t duplicated; /* delivered twice */
    uint64_t in_flight;  /* published but not yet fetched at the end */
    uint64_t clipped;    /* deliveries whose publish time the log had dropped */
    uint64_t events;     /* events the engine processed */
    uint64_t bytes_up, bytes_down;
    double requests_per_s;
    double requests_per_client_hour;
    double empty_fraction;
    double latency_ms_mean, latency_ms_p50, latency_ms_p99, latency_ms_max;
    double up_per_client_s, down_per_client_s; /* bytes */
    double connections;                        /* mean connections open */
    bool energy_modelled;                      /* true: the radio model ran (rt_radio.h) */
    double energy_j_per_client_hour, battery_pct_per_hour;
    size_t memory_bytes; /* the run's own allocations at their peak (sampled) */
    double wall_s;       /* real time the run took (not deterministic) */

    uint64_t connects;         /* connection attempts (TCP handshakes tried) */
    uint64_t connect_failures; /* refused: the server was down */
    uint64_t drops;            /* connections lost: link drops, restarts, LB, overflow */
    uint64_t heartbeats;       /* SSE comments or WS pings sent */
    uint64_t upstream;         /* client messages sent up */
    uint64_t bytes_payload;    /* message data delivered (the useful bytes) */
    uint64_t bytes_tcpip;      /* TCP/IP headers, ACKs and handshakes, both ways */
    double peak_requests_per_s, peak_connects_per_s; /* the busiest second */
    double server_memory_bytes; /* connections x the approach's memory per
                                   connection (docs/sim.md, "Server cost") */

    /* Per second of simulated time (series_step_s each; at most
     * RT_SIM_SERIES_MAX steps): requests and connection attempts. */
    uint32_t *series_requests, *series_connects;
    size_t series_len;
    double series_step_s;

    /* The sampled clients' events, in time order (trace_clients > 0). */
    struct rt_sim_trace_line *trace;
    size_t trace_len;
    bool trace_truncated; /* more lines than RT_SIM_TRACE_MAX: the rest dropped */
};

#define RT_SIM_SERIES_MAX 100000
#define RT_SIM_TRACE_MAX 2000000

/* One line of the shared trace format (DESIGN.md, "The trace format"). */
enum rt_sim_trace_kind {
    RT_TR_CONNECT,
    RT_TR_REQUEST,
    RT_TR_RESPONSE,
    RT_TR_EMPTY,
    RT_TR_EVENT,
    RT_TR_PUBLISH,
    RT_TR_PING,
    RT_TR_PONG,
    RT_TR_TIMEOUT,
    RT_TR_DISCONNECT,
    RT_TR_RECONNECT,
};

struct rt_sim_trace_line {
    rt_sim_time t;
    uint32_t client; /* the sampled client's number in the trace, 0.. */
    uint8_t kind;    /* enum rt_sim_trace_kind */
    uint8_t s2c;     /* 1: server to client, 0: client to server */
    uint32_t bytes;
    uint64_t msg; /* message id carried, 0: none */
};

/* Frees what a run allocated in its report (series, trace). */
void rt_sim_report_free(struct rt_sim_report *r);

/* Writes the report's trace in the shared trace format (JSON Lines, a header
 * line first) to f; returns 0 or -1 on a write error. */
int rt_sim_trace_write(const struct rt_sim_report *r, FILE *f);

/*
 * Runs one simulation. Returns 0, RT_SIM_EINVAL for a configuration out of range (err names
 * the field), or RT_SIM_ENOMEM. Deterministic: the same config gives the
 * same report, wall_s aside.
 */
#define RT_SIM_EINVAL (-1)
#define RT_SIM_ENOMEM (-2)
int rt_sim_run(const struct rt_sim_config *c, struct rt_sim_report *r, char *err, size_t err_len);
/* Every successful run's report must be given to rt_sim_report_free(). */

/* Writes the report as one JSON object (with wall_s when with_wall) or as
 * CSV (a header line and a row) into out; returns what snprintf returns. */
int rt_sim_report_json(const struct rt_sim_report *r, bool with_wall, char *out, size_t out_len);
int rt_sim_report_csv(const struct rt_sim_report *r, bool with_wall, char *out, size_t out_len);

/* ---- The command -------------------------------------------------------- */

/* rtlab sim [options] | rtlab sim compare SCENARIO.json | rtlab sim --bench
 * (argv[0] is "sim"); returns the exit code: 0, 1 a run that failed, 2 a
 * usage error. */
int rt_cmd_sim(int argc, char **argv);

/* rtlab plot [--out DIR] (argv[0] is "plot"): the sweeps, rendered with
 * gnuplot (sim/plot.c). */
int rt_cmd_plot(int argc, char **argv);

#endif
