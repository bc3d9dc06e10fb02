/*
 * fanout.c - how long a publish takes to reach everyone.
 *
 * Per-delivery latency (a histogram over every message x client) says how
 * long a typical client waits. A publisher with 10,000 subscribers also
 * wants to know when the LAST of them had it: the fan-out time of the
 * message, max over clients of (receive time - ts). We keep, per message
 * id, how many clients have it and the worst latency so far; at the end
 * each message that reached every client gives one fan-out time.
 *
 * Memory: 12 bytes per message, grown as ids arrive, whatever the clients.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Messages tracked at most: a run publishing more (1,000/s for 4.6 hours)
 * keeps counting deliveries but not fan-out for the rest. */
#define FANOUT_MAX_MESSAGES (1u << 24)

void rt_fanout_init(struct rt_fanout *f, uint64_t after)
{
    memset(f, 0, sizeof *f);
    f->after = after;
}

void rt_fanout_close(struct rt_fanout *f)
{
    free(f->got);
    free(f->worst_us);
    f->got = NULL;
    f->worst_us = NULL;
    f->cap = 0;
}

/* Makes room for entry i; false when it cannot. */
static bool grow(struct rt_fanout *f, uint64_t i)
{
    if (i < f->cap)
        return true;
    if (i >= FANOUT_MAX_MESSAGES)
        return false;
    size_t cap = f->cap ? f->cap : 1024;
    while (cap <= i)
        cap *= 2;
    uint32_t *got = realloc(f->got, cap * sizeof *got);
    if (got == NULL)
        return false;
    f->got = got;
    uint64_t *worst = realloc(f->worst_us, cap * sizeof *worst);
    if (worst == NULL)
        return false;
    f->worst_us = worst;
    memset(got + f->cap, 0, (cap - f->cap) * sizeof *got);
    memset(worst + f->cap, 0, (cap - f->cap) * sizeof *worst);
    f->cap = cap;
    return true;
}

void rt_fanout_record(struct rt_fanout *f, const struct rt_sub_msg *m)
{
    if (m->id <= f->after || m->ts_us == 0 || !grow(f, m->id - f->after - 1))
        return;
    uint64_t i = m->id - f->after - 1;
    uint64_t lat = m->recv_us > m->ts_us ? m->recv_us - m->ts_us : 0;
    f->got[i]++;
    if (lat > f->worst_us[i])
        f->worst_us[i] = lat;
}

uint64_t rt_fanout_result(const struct rt_fanout *f, uint64_t last, uint64_t clients,
                          struct rt_hist *h)
{
    uint64_t complete = 0;
    for (uint64_t id = f->after + 1; id <= last; id++) {
        uint64_t i = id - f->after - 1;
        if (i >= f->cap || f->got[i] < clients)
            continue;
        rt_hist_record(h, f->worst_us[i]);
        complete++;
    }
    return complete;
}
