/*
 * queue.c - the simulator's event queue: a timing wheel, and the binary heap
 * it is checked against.
 *
 * THE WHEEL. Time is cut into windows of W = 2^gran_bits microseconds, and
 * the wheel has S = 2^slot_bits slots, one per window, reused round and
 * round: an event at time t waits in slot (t / W) mod S. The slots cover a
 * horizon of H = S * W ahead of the window being drained.
 *
 *     now
 *      |  cur                                      horizon
 *      v   |                                          |
 *   [ ##|#  ][ ###  ][       ][ #     ][ ## ] ... [   ]    far: heap
 *      ^ drained in time order        appended unsorted
 *
 * A push appends to its slot's array: O(1), no comparison. When the drain
 * reaches a slot, its events are sorted once by time (a stable radix sort on
 * the bits below W, so equal times keep their push order) and then popped
 * from the front. Each event is appended once, sorted once and popped once,
 * so the cost per event is a constant: O(1) amortised, whatever the number
 * of events waiting. A bitmap of busy slots skips empty windows 64 at a time.
 *
 * Two cases do not fit a slot, and wait in small binary heaps instead:
 *  - "near": an event pushed into the window being drained (already
 *    sorted); rare when W is small against the models' delays.
 *  - "far": an event beyond the horizon (H is about a minute; an hour-long
 *    timer goes here).
 * Every pop compares the heads of the three parts. Their push orders are
 * known without storing them for slot events: a far event was pushed before
 * any slot event of the same time (it was beyond the horizon then, so the
 * drain had not come as far), and a near event after (the slot was being
 * drained). So at equal times: far, then slot, then near.
 *
 * THE HEAP. A plain binary min-heap on (time, push number): the obvious
 * O(log n) queue, kept as the reference the tests compare the wheel with.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_sim.h"

/* Drained slots' arrays kept for reuse (more are freed, and so are arrays
 * a burst of events grew past SPARE_CAP_MAX: a million timers due at the
 * same moment must not leave 64 arrays of a million behind). */
#define SPARE_MAX 64
#define SPARE_CAP_MAX 65536

/* ---- The reference binary heap ----------------------------------------- */

static bool node_before(const struct rt_simheap_node *a, const struct rt_simheap_node *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void rt_simheap_init(struct rt_simheap *h)
{
    memset(h, 0, sizeof *h);
}

void rt_simheap_close(struct rt_simheap *h)
{
    free(h->v);
    memset(h, 0, sizeof *h);
}

int rt_simheap_push(struct rt_simheap *h, rt_sim_time time, uint64_t data)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct rt_simheap_node *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    struct rt_simheap_node n = {time, h->next_seq++, data};
    size_t i = h->len++;
    while (i > 0) { /* sift up */
        size_t parent = (i - 1) / 2;
        if (!node_before(&n, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = n;
    return 0;
}

bool rt_simheap_pop(struct rt_simheap *h, struct rt_sim_event *out)
{
    if (h->len == 0)
        return false;
    out->time = h->v[0].time;
    out->data = h->v[0].data;
    struct rt_simheap_node last = h->v[--h->len];
    size_t i = 0;
    for (;;) { /* sift the last node down from the root */
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && node_before(&h->v[child + 1], &h->v[child]))
            child++;
        if (!node_before(&h->v[child], &last))
            break;
        h->v[i] = h->v[child];
        i = child;
    }
    if (h->len > 0)
        h->v[i] = last;
    return true;
}

/* ---- The timing wheel: set-up ------------------------------------------ */

int rt_simq_init(struct rt_simq *q, unsigned gran_bits, unsigned slot_bits)
{
    memset(q, 0, sizeof *q);
    if (gran_bits > 32 || slot_bits < 6 || slot_bits > 24)
        return -1;
    q->gran_bits = gran_bits;
    q->slot_bits = slot_bits;
    size_t n = (size_t)1 << slot_bits;
    q->slots = calloc(n, sizeof *q->slots);
    q->busy = calloc(n / 64, sizeof *q->busy);
    q->spare = calloc(SPARE_MAX, sizeof *q->spare);
    if (!q->slots || !q->busy || !q->spare) {
        rt_simq_close(q);
        return -1;
    }
    rt_simheap_init(&q->near);
    rt_simheap_init(&q->far);
    return 0;
}

void rt_simq_close(struct rt_simq *q)
{
    if (q->slots)
        for (size_t i = 0; i < ((size_t)1 << q->slot_bits); i++)
            free(q->slots[i].ev);
    for (size_t i = 0; i < q->spare_len; i++)
        free(q->spare[i].ev);
    free(q->spare);
    free(q->slots);
    free(q->busy);
    free(q->scratch);
    rt_simheap_close(&q->near);
    rt_simheap_close(&q->far);
    memset(q, 0, sizeof *q);
}

size_t rt_simq_bytes(const struct rt_simq *q)
{
    size_t n = (size_t)1 << q->slot_bits;
    size_t bytes = n * sizeof *q->slots + n / 8 + q->scratch_cap * sizeof *q->scratch;
    for (size_t i = 0; i < n; i++)
        bytes += q->slots[i].cap * sizeof(struct rt_sim_event);
    for (size_t i = 0; i < q->spare_len; i++)
        bytes += q->spare[i].cap * sizeof(struct rt_sim_event);
    return bytes + (q->near.cap + q->far.cap) * sizeof(struct rt_simheap_node);
}

void rt_simq_expect(struct rt_simq *q, uint32_t per_slot)
{
    q->expect = per_slot;
}

/* ---- The timing wheel: push -------------------------------------------- */

static int slot_append(struct rt_simq *q, size_t i, rt_sim_time time, uint64_t data)
{
    struct rt_simq_slot *s = &q->slots[i];
    if (!s->ev && q->spare_len > 0) /* an array a drained slot gave back */
        *s = q->spare[--q->spare_len];
    if (s->len == s->cap) {
        /* the first array fits the expected share and a quarter more (a
         * steady rhythm gives every slot about the same share, and
         * doubling from 16 would leave up to half of each array unused
         * when the share sits just past a power of 2); then by half */
        uint64_t first = q->expect ? (uint64_t)q->expect + q->expect / 4 + 16 : 16;
        uint64_t want = s->cap ? (uint64_t)s->cap + s->cap / 2 : first;
        if (want > UINT32_MAX)
            return -1;
        uint32_t cap = (uint32_t)want;
        struct rt_sim_event *ev = realloc(s->ev, cap * sizeof *ev);
        if (!ev)
            return -1;
        s->ev = ev;
        s->cap = cap;
        if (q->scratch_cap < cap) { /* so that opening this slot can't fail */
            struct rt_sim_event *scratch = realloc(q->scratch, cap * sizeof *scratch);
            if (!scratch)
                return -1;
            q->scratch = scratch;
            q->scratch_cap = cap;
        }
    }
    s->ev[s->len++] = (struct rt_sim_event){time, data};
    q->busy[i / 64] |= (uint64_t)1 << (i % 64);
    q->in_slots++;
    return 0;
}

int rt_simq_push(struct rt_simq *q, rt_sim_time time, uint64_t data)
{
    rt_sim_time window = (rt_sim_time)1 << q->gran_bits;
    rt_sim_time horizon = window << q->slot_bits;
    int rc;
    if (time < q->cur_start + window)
        rc = rt_simheap_push(&q->near, time, data);
    else if (time - q->cur_start < horizon)
        rc = slot_append(q, (size_t)(time >> q->gran_bits) & (((size_t)1 << q->slot_bits) - 1),
                         time, data);
    else
        rc = rt_simheap_push(&q->far, time, data);
    if (rc == 0)
        q->len++;
    return rc;
}

/* ---- The timing wheel: opening a slot ---------------------------------- */

/* Sorts n events by time, stably, all in [start, start + 2^bits): insertion
 * sort for a handful, else a radix sort by 8-bit digits of time - start,
 * in q's scratch buffer (grown by pushes to the largest slot, so this never
 * allocates and a pop never fails). */
static void sort_window(struct rt_simq *q, struct rt_sim_event *ev, size_t n, rt_sim_time start,
                        unsigned bits)
{
    size_t i = 1;
    while (i < n && ev[i - 1].time <= ev[i].time)
        i++;
    if (i >= n)
        return; /* already in order: common when clients keep their phase */
    if (n <= 32) {
        for (i = 1; i < n; i++) {
            struct rt_sim_event e = ev[i];
            size_t j = i;
            for (; j > 0 && ev[j - 1].time > e.time; j--)
                ev[j] = ev[j - 1];
            ev[j] = e;
        }
        return;
    }
    struct rt_sim_event *from = ev, *to = q->scratch;
    for (unsigned shift = 0; shift < bits; shift += 8) {
        size_t count[257] = {0};
        for (i = 0; i < n; i++)
            count[((from[i].time - start) >> shift & 0xff) + 1]++;
        for (i = 1; i < 257; i++)
            count[i] += count[i - 1];
        for (i = 0; i < n; i++)
            to[count[(from[i].time - start) >> shift & 0xff]++] = from[i];
        struct rt_sim_event *t = from;
        from = to;
        to = t;
    }
    if (from != ev)
        memcpy(ev, from, n * sizeof *ev);
}

/*
 * A drained slot gives its array back for the next slot that gets an event.
 * Only the slots that hold events hold arrays, so the wheel's memory follows
 * the events waiting, not the number of slots times the largest slot.
 */
static void give_back(struct rt_simq *q, struct rt_simq_slot *s)
{
    s->len = 0;
    if (!s->ev)
        return;
    if (q->spare_len < SPARE_MAX && s->cap <= SPARE_CAP_MAX)
        q->spare[q->spare_len++] = *s;
    else
        free(s->ev);
    s->ev = NULL;
    s->cap = 0;
}

/* The next busy slot after cur, as a distance in slots (0: none). */
static size_t next_busy(const struct rt_simq *q)
{
    size_t n = (size_t)1 << q->slot_bits;
    for (size_t d = 1; d < n;) {
        size_t i = (q->cur + d) & (n - 1);
        uint64_t word = q->busy[i / 64] >> (i % 64);
        if (word)
            return d + (size_t)__builtin_ctzll(word);
        d += 64 - i % 64;
    }
    return 0;
}

/* Leaves the drained slot for the next window that has anything: the next
 * busy slot, or the far heap's head if that comes first. */
static void advance(struct rt_simq *q)
{
    struct rt_simq_slot *s = &q->slots[q->cur];
    give_back(q, s);
    q->pos = 0;
    q->busy[q->cur / 64] &= ~((uint64_t)1 << (q->cur % 64));
    size_t d = q->in_slots ? next_busy(q) : 0;
    rt_sim_time next = q->cur_start + ((rt_sim_time)d << q->gran_bits);
    if (d == 0 || (q->far.len && q->far.v[0].time < next))
        next = q->far.v[0].time >> q->gran_bits << q->gran_bits;
    q->cur_start = next;
    q->cur = (size_t)(next >> q->gran_bits) & (((size_t)1 << q->slot_bits) - 1);
    s = &q->slots[q->cur];
    q->in_slots -= s->len;
    sort_window(q, s->ev, s->len, next, q->gran_bits);
}

/* ---- The timing wheel: pop --------------------------------------------- */

bool rt_simq_pop(struct rt_simq *q, struct rt_sim_event *out)
{
    if (q->len == 0)
        return false;
    for (;;) {
        struct rt_simq_slot *s = &q->slots[q->cur];
        const struct rt_sim_event *slot = q->pos < s->len ? &s->ev[q->pos] : NULL;
        const struct rt_simheap_node *near = q->near.len ? &q->near.v[0] : NULL;
        const struct rt_simheap_node *far = q->far.len ? &q->far.v[0] : NULL;
        rt_sim_time window_end = q->cur_start + ((rt_sim_time)1 << q->gran_bits);
        if (far && far->time < window_end && (!slot || far->time <= slot->time) &&
            (!near || far->time <= near->time)) {
            rt_simheap_pop(&q->far, out);
        } else if (slot && (!near || slot->time <= near->time)) {
            *out = *slot;
            q->pos++;
        } else if (near) {
            rt_simheap_pop(&q->near, out);
        } else {
            advance(q);
            continue;
        }
        q->len--;
        return true;
    }
}
