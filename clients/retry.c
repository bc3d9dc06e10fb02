/*
 * retry.c - backoff with full jitter, a small PRNG, and ordering/de-dup by
 * message id. See rt_retry.h for the why; this file is the how.
 */
#include "rt_retry.h"

/* ---- PRNG -------------------------------------------------------------- */

void rt_rng_seed(struct rt_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t rt_rng_next(struct rt_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/*
 * Plain `next % n` favours small results when n does not divide 2^64. We
 * throw away draws from the incomplete last block of n values instead: the
 * block count is 2^64 / n, so a draw below 2^64 - (2^64 mod n) is fair.
 * For any n below 2^63 more than half the draws are kept, usually nearly all.
 */
uint64_t rt_rng_below(struct rt_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n; /* last fair value */
    uint64_t x;
    do {
        x = rt_rng_next(r);
    } while (x > limit);
    return x % n;
}

double rt_rng_unit(struct rt_rng *r)
{
    /* The top 53 bits fill a double's mantissa exactly. */
    return (double)(rt_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- Backoff ----------------------------------------------------------- */

void rt_backoff_init(struct rt_backoff *b, uint32_t base_ms, uint32_t cap_ms, uint64_t seed)
{
    b->base_ms = base_ms;
    b->cap_ms = cap_ms;
    b->attempt = 0;
    rt_rng_seed(&b->rng, seed);
}

uint64_t rt_backoff_ceiling(const struct rt_backoff *b)
{
    uint64_t ceiling = b->base_ms;
    /* Double step by step and stop at the cap, so 2^attempt never overflows
     * however many failures have piled up. */
    for (uint32_t i = 0; i < b->attempt && ceiling < b->cap_ms; i++)
        ceiling *= 2;
    return ceiling < b->cap_ms ? ceiling : b->cap_ms;
}

uint64_t rt_backoff_next(struct rt_backoff *b)
{
    uint64_t ceiling = rt_backoff_ceiling(b);
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    return rt_rng_below(&b->rng, ceiling + 1); /* inclusive: [0, ceiling] */
}

void rt_backoff_reset(struct rt_backoff *b)
{
    b->attempt = 0;
}

uint64_t rt_backoff_reconnect(struct rt_backoff *b, uint64_t retry_ms, bool delivered)
{
    if (delivered)
        rt_backoff_reset(b);
    return retry_ms + rt_backoff_next(b);
}

/* ---- Ordering and de-duplication --------------------------------------- */

void rt_seq_init(struct rt_seq *s, uint64_t last)
{
    s->last = last;
    s->duplicates = 0;
    s->missed = 0;
}

enum rt_seq_verdict rt_seq_accept(struct rt_seq *s, uint64_t id)
{
    if (id <= s->last) {
        s->duplicates++;
        return RT_SEQ_DUP;
    }
    enum rt_seq_verdict v = id == s->last + 1 ? RT_SEQ_NEW : RT_SEQ_GAP;
    s->missed += id - s->last - 1;
    s->last = id;
    return v;
}

void rt_seq_reset(struct rt_seq *s, uint64_t next)
{
    s->last = next;
}
