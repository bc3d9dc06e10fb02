/*
 * hist.c - a log-bucketed histogram of latencies (or any uint64 values).
 *
 * The layout (the same idea as HdrHistogram, in its smallest form):
 *
 *   values 0..63           one bucket each, exact
 *   values in [2^e, 2^e+1) for e = 6..63: 64 buckets of equal width 2^(e-6)
 *
 *       e = 6:  64 65 66 ... 127              width 1
 *       e = 7:  128 130 132 ... 254           width 2
 *       e = 8:  256 260 264 ... 508           width 4  ...
 *
 * so a bucket is never wider than 1/64 of the values in it. We report a
 * bucket by its midpoint, which is within half a width of every value it
 * holds: a percentile is off by at most 1/128 of its value (and by nothing
 * below 64). The whole range of uint64 fits in RT_HIST_BUCKETS = 3776
 * counters, 30 KiB, however many values are recorded.
 */
#include <string.h>

#include "rt_clients.h"

#define SUB_BITS 6
#define SUB_COUNT (1u << SUB_BITS) /* 64 buckets per power of two */

/* Bucket index of value v (see the layout above). */
static size_t bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
    unsigned shift = e - SUB_BITS;
    size_t sub = (size_t)(v >> shift) & (SUB_COUNT - 1); /* the 6 bits after the top one */
    return SUB_COUNT + (size_t)shift * SUB_COUNT + sub;
}

/* The smallest value of bucket i, and its width. */
static uint64_t bucket_low(size_t i, uint64_t *width)
{
    if (i < SUB_COUNT) {
        *width = 1;
        return i;
    }
    unsigned shift = (unsigned)((i - SUB_COUNT) / SUB_COUNT);
    uint64_t sub = (i - SUB_COUNT) % SUB_COUNT;
    *width = (uint64_t)1 << shift;
    return (SUB_COUNT + sub) << shift;
}

void rt_hist_init(struct rt_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void rt_hist_record(struct rt_hist *h, uint64_t v)
{
    h->buckets[bucket_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void rt_hist_record_n(struct rt_hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    h->buckets[bucket_of(v)] += n;
    h->count += n;
    h->sum += (double)v * (double)n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void rt_hist_merge(struct rt_hist *into, const struct rt_hist *from)
{
    for (size_t i = 0; i < RT_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

double rt_hist_mean(const struct rt_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

/*
 * Nearest rank: the p-th percentile is the smallest recorded value with at
 * least p% of the values at or below it, i.e. the value of rank
 * ceil(p/100 * count) (rank 1 for p = 0). We find the bucket holding that
 * rank and answer its midpoint, clamped into [min, max]. The first and last
 * ranks are the extremes, which we know exactly.
 */
uint64_t rt_hist_percentile(const struct rt_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    double exact = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact || rank == 0)
        rank++;
    if (rank == 1)
        return h->min;
    if (rank >= h->count)
        return h->max;
    uint64_t seen = 0;
    size_t i = 0;
    for (; i < RT_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            break;
    }
    uint64_t width;
    uint64_t mid = bucket_low(i, &width);
    mid += (width - 1) / 2;
    if (mid < h->min)
        return h->min;
    return mid > h->max ? h->max : mid;
}
