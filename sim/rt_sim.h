/*
 * rt_sim.h - rtlab's discrete-event simulator: the event queue, the models
 * and the `rtlab sim` command. See docs/sim.md.
 */
#ifndef RT_SIM_H
#define RT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

/* Sets up an empty wheel of 2^slot_bits slots of 2^gran_bits us each; events
 * further ahead than the horizon (their product) wait in a heap. Returns 0 or
 * -1 (out of memory). */
int rt_simq_init(struct rt_simq *q, unsigned gran_bits, unsigned slot_bits);
void rt_simq_close(struct rt_simq *q);
int rt_simq_push(struct rt_simq *q, rt_sim_time time, uint64_t data);
bool rt_simq_pop(struct rt_simq *q, struct rt_sim_event *out);
/* Bytes the queue holds allocated now (for the memory report). */
size_t rt_simq_bytes(const struct rt_simq *q);

/* ---- A run: configuration ---------------------------------------------- */

enum rt_sim_approach {
    RT_SIM_SHORT = 0, /* short polling: the one modelled so far */
    RT_SIM_LONG,
    RT_SIM_SSE,
    RT_SIM_WS,
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
};

void rt_sim_config_init(struct rt_sim_config *c);

/* The approach's name ("short", ...) and back; -1 for an unknown name. */
const char *rt_sim_approach_name(enum rt_sim_approach a);
int rt_sim_approach_parse(const char *name);

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
};

/*
 * Runs one simulation. Returns 0, RT_SIM_EUNMODELLED for an approach not
 * modelled yet, RT_SIM_EINVAL for a configuration out of range (err names
 * the field), or RT_SIM_ENOMEM. Deterministic: the same config gives the
 * same report, wall_s aside.
 */
#define RT_SIM_EINVAL (-1)
#define RT_SIM_ENOMEM (-2)
#define RT_SIM_EUNMODELLED (-3)
int rt_sim_run(const struct rt_sim_config *c, struct rt_sim_report *r, char *err, size_t err_len);

/* Writes the report as one JSON object (with wall_s when with_wall) or as
 * CSV (a header line and a row) into out; returns what snprintf returns. */
int rt_sim_report_json(const struct rt_sim_report *r, bool with_wall, char *out, size_t out_len);
int rt_sim_report_csv(const struct rt_sim_report *r, bool with_wall, char *out, size_t out_len);

/* ---- The command -------------------------------------------------------- */

/* rtlab sim [options] | rtlab sim --bench   (argv[0] is "sim"); returns the
 * exit code: 0, 1 a run that failed, 2 a usage error. */
int rt_cmd_sim(int argc, char **argv);

#endif
