/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry point, the
 * invariant check, a seeded generator for split points, and buffers whose
 * end AddressSanitizer can see.
 *
 * A target checks invariants, not just "no crash": the same bytes fed whole
 * and in pieces must give the same answer, views must lie inside the input,
 * an encoder's output must parse back to what went in. A broken invariant
 * calls abort(), which libFuzzer and the replay main (replay.c) both report
 * as a crash, with the input that caused it.
 *
 * Everything a target decides (where to split, which limits to try) comes
 * from the input's own bytes, so a crashing input crashes again when it is
 * run alone.
 */
#ifndef RT_FUZZ_H
#define RT_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one function each target defines; libFuzzer or replay.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- AddressSanitizer: a buffer that ends where we say ----------------- */

/* GCC says __SANITIZE_ADDRESS__; clang answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif

#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

/*
 * Makes buf[0..visible) readable and buf[visible..len) poisoned, so that a
 * parser handed the first `visible` bytes of a longer buffer is caught if
 * it reads one byte past them (as it would be with an exactly sized copy,
 * without the copy). Without ASan it does nothing.
 */
static inline void fuzz_expose(const void *buf, size_t visible, size_t len)
{
#ifdef FUZZ_ASAN
    ASAN_UNPOISON_MEMORY_REGION(buf, visible);
    ASAN_POISON_MEMORY_REGION((const char *)buf + visible, len - visible);
#else
    (void)buf;
    (void)visible;
    (void)len;
#endif
}

/* Makes only buf[from..to) of buf[0..len) readable (from < to), or poisons
 * all of it (from == to): a parser handed a piece from the middle of a
 * buffer is caught if it reads on either side, and an event that should
 * have been copied out is caught pointing into the input. */
static inline void fuzz_window(const void *buf, size_t len, size_t from, size_t to)
{
#ifdef FUZZ_ASAN
    ASAN_POISON_MEMORY_REGION(buf, len);
    ASAN_UNPOISON_MEMORY_REGION((const char *)buf + from, to - from);
#else
    (void)buf;
    (void)len;
    (void)from;
    (void)to;
#endif
}

/* An exactly sized heap copy of data[0..size). An empty input still gets a
 * pointer: to one poisoned byte. Free with fuzz_free. */
static inline char *fuzz_copy(const void *data, size_t size)
{
    FUZZ_CHECK(size < PTRDIFF_MAX);
    char *b = calloc(size > 0 ? size : 1, 1);
    FUZZ_CHECK(b != NULL);
    if (size > 0)
        memcpy(b, data, size);
    else
        fuzz_expose(b, 0, 1);
    return b;
}

static inline void fuzz_free(char *b, size_t size)
{
    fuzz_expose(b, size > 0 ? size : 1, size > 0 ? size : 1);
    free(b);
}

/* ---- Deterministic choices --------------------------------------------- */

/* FNV-1a: a seed from the input, so its choices repeat when it is rerun. */
static inline uint64_t fuzz_hash(const uint8_t *data, size_t size)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211u;
    return h;
}

/* xorshift64*, seeded from fuzz_hash (never 0). */
struct fuzz_rng {
    uint64_t s;
};

static inline struct fuzz_rng fuzz_rng_of(const uint8_t *data, size_t size)
{
    struct fuzz_rng r = {fuzz_hash(data, size) | 1};
    return r;
}

static inline uint64_t fuzz_next(struct fuzz_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717u;
}

/* A number in [0, n), or 0 when n is 0. */
static inline size_t fuzz_below(struct fuzz_rng *r, size_t n)
{
    return n == 0 ? 0 : (size_t)(fuzz_next(r) % n);
}

/*
 * Up to max sorted cut points in [0, len] (repeats allowed: they give empty
 * reads, which a parser must take too). Returns how many it wrote.
 */
static inline size_t fuzz_cuts(struct fuzz_rng *r, size_t len, size_t *cuts, size_t max)
{
    size_t k = 1 + fuzz_below(r, max);
    for (size_t i = 0; i < k; i++)
        cuts[i] = fuzz_below(r, len + 1);
    for (size_t i = 1; i < k; i++) { /* insertion sort: k is small */
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    }
    return k;
}

/* Whether [p, p + n) lies inside [buf, buf + len). */
static inline bool fuzz_inside(const void *p, size_t n, const void *buf, size_t len)
{
    uintptr_t c = (uintptr_t)p, b = (uintptr_t)buf;
    return c >= b && c - b <= len && n <= len - (c - b);
}

#endif
