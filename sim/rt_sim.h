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
    unsigned gran_bits;           /* a slot spans 2^gran_bits us */
    unsigned slot_bits;           /* 2^slot_bits slots: the horizon */
    struct rt_simq_slot *slots;   /* the wheel */
    uint64_t *busy;               /* one bit per slot: has events */
    size_t cur;                   /* the slot being drained */
    rt_sim_time cur_start;        /* the time its window starts */
    uint32_t pos;                 /* next event to pop in it */
    struct rt_simheap near;       /* pushed into the window being drained */
    struct rt_simheap far;        /* pushed beyond the horizon */
    size_t in_slots;              /* events waiting in slots other than cur */
    size_t len;                   /* events in the queue, all parts */
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

#endif
