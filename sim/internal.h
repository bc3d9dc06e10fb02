/*
 * internal.h - what the engine (engine.c) and the approach models
 * (short_poll.c, and later long_poll.c, sse.c, ws.c) share inside sim/.
 * Not a public header: nothing outside sim/ includes it.
 */
#ifndef RT_SIM_INTERNAL_H
#define RT_SIM_INTERNAL_H

#include <stdio.h>

#include "rt_clients.h"
#include "rt_radio.h"
#include "rt_retry.h"
#include "rt_sim.h"

/* An event's 64 bits of data: a kind in the top byte, a client below. */
#define EV_KIND_SHIFT 56
#define EV_CLIENT_MASK ((UINT64_C(1) << EV_KIND_SHIFT) - 1)
#define EV(kind, client) ((uint64_t)(kind) << EV_KIND_SHIFT | (uint64_t)(client))
#define EV_KIND(data) ((unsigned)((data) >> EV_KIND_SHIFT))
#define EV_CLIENT(data) ((data)&EV_CLIENT_MASK)

enum {
    EV_PUBLISH = 0, /* the engine's: the next update on some topic */
    EV_MODEL = 1,   /* models number their own kinds from here */
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
    void (*finish)(struct sim *s);
    void (*free)(struct sim *s);
};

struct sim {
    const struct rt_sim_config *c;
    struct rt_sim_report *r;
    const struct sim_model *model;
    void *state; /* the model's own: its client arrays */
    struct rt_simq q;
    struct rt_rng rng;
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

/* Client i's radio moves bytes_up then bytes_down, handed over at time t
 * (per client, in time order). Returns when its last byte goes. */
static inline rt_sim_time sim_radio(struct sim *s, uint64_t i, rt_sim_time t, uint64_t bytes_up,
                                    uint64_t bytes_down)
{
    return rt_radio_activity(s->radio_p, &s->radio[i], t, bytes_up, bytes_down);
}

extern const struct sim_model sim_short_poll;

/* report.c: the report as a table for people. */
void sim_report_table(FILE *f, const struct rt_sim_report *r);

#endif
