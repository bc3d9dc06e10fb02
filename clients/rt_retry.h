/*
 * rt_retry.h - what every rtlab client does when things go wrong: wait a
 * random, growing time before trying again (backoff), and make sure each
 * message reaches the user once and in order however often it is resent
 * (ordering and de-duplication). Pure C, no I/O, no allocation: the
 * simulator models the same behaviour with the same code.
 *
 * All state lives in small structs owned by the caller; there is nothing to
 * free.
 */
#ifndef RT_RETRY_H
#define RT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* ---- A small deterministic PRNG ---------------------------------------- */

/*
 * splitmix64 (Steele, Lea and Flood, 2014): one 64-bit word of state, a
 * counter stepped by the golden-ratio constant and a strong mixing function.
 * It passes BigCrush, and it is tiny enough that 10,000 simulated or real
 * clients can each own one. Not for cryptography.
 */
struct rt_rng {
    uint64_t state;
};

/* Starts the sequence for seed; the same seed gives the same numbers. */
void rt_rng_seed(struct rt_rng *r, uint64_t seed);

/* The next 64 random bits. */
uint64_t rt_rng_next(struct rt_rng *r);

/* A uniform integer in [0, n), without modulo bias; n must be > 0. */
uint64_t rt_rng_below(struct rt_rng *r, uint64_t n);

/* A uniform double in [0, 1). */
double rt_rng_unit(struct rt_rng *r);

/* ---- Exponential backoff with full jitter ------------------------------ */

/*
 * After the k-th failure in a row (k = 0 for the first) a client waits a
 * delay drawn uniformly from [0, min(cap, base * 2^k)] ("full jitter", see
 * the AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).
 *
 * Why jitter: when a server restarts, all of its clients fail at the same
 * moment. With a fixed delay they would all come back at the same moment
 * too and knock it over again; drawing the whole delay at random spreads
 * them evenly over the window. Why exponential: the window widens while the
 * server stays down, so a long outage costs few requests. Why a cap: so a
 * client notices a recovered server within `cap` even after a long outage.
 *
 * rtlab uses base RT_BACKOFF_BASE_MS (1 s) and cap RT_BACKOFF_CAP_MS (30 s).
 * A success calls rt_backoff_reset(), so the next failure starts at 1 s.
 */
struct rt_backoff {
    uint32_t base_ms;
    uint32_t cap_ms;
    uint32_t attempt; /* failures in a row so far */
    struct rt_rng rng;
};

/* Sets up b with no failures yet; seed makes its delays reproducible. */
void rt_backoff_init(struct rt_backoff *b, uint32_t base_ms, uint32_t cap_ms, uint64_t seed);

/* The upper bound of the next delay: min(cap, base * 2^attempt). */
uint64_t rt_backoff_ceiling(const struct rt_backoff *b);

/* Draws the delay (ms) to wait after one more failure and counts it. */
uint64_t rt_backoff_next(struct rt_backoff *b);

/* Forgets the failures after a success. */
void rt_backoff_reset(struct rt_backoff *b);

/* ---- Reconnecting a stream --------------------------------------------- */

/*
 * When a stream (SSE) ends, the client opens a new one after
 *
 *     retry + U[0, min(cap, base * 2^k)]
 *
 * where retry is the reconnection time the server asked for (SSE's
 * `retry:` field) and k counts the attempts since the last stream that
 * delivered anything: k = 0 right after a stream that worked, 1, 2, ...
 * while attempts keep failing. So the client never comes back sooner than
 * the server asked; a server restart, which ends every stream at the same
 * moment, sees its clients return spread over one base window (1 s) rather
 * than all in the same millisecond; and a server that stays down is asked
 * less and less often, as with rt_backoff_next().
 *
 * Pass delivered = true when the stream that just ended delivered
 * something: the failure count starts again. Returns the delay in ms.
 */
uint64_t rt_backoff_reconnect(struct rt_backoff *b, uint64_t retry_ms, bool delivered);

/* ---- Ordering and de-duplication by message id ------------------------- */

/*
 * Each topic numbers its messages 1, 2, 3, ... A client remembers the id of
 * the last message it delivered and delivers a message only when its id is
 * greater. That one number is enough to drop the duplicates a retry or a
 * reconnect can bring (the same answer fetched twice, a replay that overlaps
 * what we had), and it is the `since` the client sends when it asks again.
 *
 * When a server restarts, ids start again from 1, and the server tells the
 * client so with a "reset" carrying the new position; rt_seq_reset() then
 * moves the position, downwards if need be.
 */
struct rt_seq {
    uint64_t last;       /* id of the last message delivered (0: none yet) */
    uint64_t duplicates; /* messages refused because id <= last */
    uint64_t missed;     /* ids skipped over by an accepted message */
};

enum rt_seq_verdict {
    RT_SEQ_NEW = 0, /* id == last + 1: deliver it */
    RT_SEQ_GAP = 1, /* id > last + 1: deliver it, but some ids never came */
    RT_SEQ_DUP = 2, /* id <= last: already delivered, drop it */
};

/* Starts at position last (the `since` the client begins with). */
void rt_seq_init(struct rt_seq *s, uint64_t last);

/* Judges message id; on NEW or GAP, id becomes the position. Counts
 * duplicates and missed ids. */
enum rt_seq_verdict rt_seq_accept(struct rt_seq *s, uint64_t id);

/* Moves the position to next, lower or higher (after a server reset). */
void rt_seq_reset(struct rt_seq *s, uint64_t next);

#endif
