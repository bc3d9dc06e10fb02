/*
 * heads.c - replays shared by the request and response head targets; see
 * heads.h.
 *
 * The contract being checked (rt_proto.h, rt_http_request_parse): a parser
 * answers "a head of N bytes", RT_EMORE or an error, and prev_len only
 * saves work, never changes the answer. So however the bytes arrive, the
 * first answer that is not RT_EMORE is the answer for the whole buffer, and
 * a head is reported exactly when its last byte has arrived.
 */
#include "heads.h"

#include "fuzz.h"

void head_sum_add(struct head_sum *s, uint64_t v)
{
    FUZZ_CHECK(s->nv < HEAD_SUM_MAX);
    s->v[s->nv++] = v;
}

static bool sum_equal(const struct head_sum *a, const struct head_sum *b)
{
    return a->rc == b->rc && a->nv == b->nv && memcmp(a->v, b->v, a->nv * sizeof a->v[0]) == 0;
}

/* The limits one walk over a buffer uses. */
struct limits {
    size_t max_head;
    uint64_t max_body;
};

/* Parses the first `visible` bytes of buf[0..len), with the rest poisoned
 * so that AddressSanitizer catches a read past them. */
static void run(head_parse_fn parse, const char *buf, size_t visible, size_t len, size_t prev,
                struct limits lim, struct head_sum *out)
{
    out->rc = 0;
    out->nv = 0;
    out->head_len = 0;
    out->body = BODY_UNTIL_CLOSE;
    out->body_len = 0;
    out->has_cl = false;
    fuzz_expose(buf, visible, len);
    parse(buf, visible, prev, lim.max_head, lim.max_body, out);
    fuzz_expose(buf, len, len);
}

/* One byte at a time, as from a slow client, with prev_len = the last len. */
static void check_byte_by_byte(head_parse_fn parse, const char *buf, size_t len, struct limits lim,
                               const struct head_sum *whole)
{
    struct head_sum s;
    size_t prev = 0;
    for (size_t n = 0; n <= len; n++) {
        run(parse, buf, n, len, prev, lim, &s);
        if (s.rc != RT_EMORE) {
            FUZZ_CHECK(sum_equal(&s, whole));
            FUZZ_CHECK(s.rc <= 0 || (size_t)s.rc == n); /* not a byte later */
            return;
        }
        prev = n;
    }
    FUZZ_CHECK(whole->rc == RT_EMORE);
}

/* A few reads of input-chosen sizes (some empty). At each, a parse from
 * scratch (prev_len 0) must answer what the resumed one answered. */
static void check_splits(head_parse_fn parse, const char *buf, size_t len, struct limits lim,
                         const struct head_sum *whole, struct fuzz_rng *rng)
{
    size_t cuts[8];
    size_t k = fuzz_cuts(rng, len, cuts, sizeof cuts / sizeof cuts[0]);
    struct head_sum s, fresh;
    s.rc = RT_EMORE;
    size_t prev = 0;
    for (size_t i = 0; i <= k && s.rc == RT_EMORE; i++) {
        size_t n = i < k ? cuts[i] : len;
        run(parse, buf, n, len, prev, lim, &s);
        run(parse, buf, n, len, 0, lim, &fresh);
        FUZZ_CHECK(sum_equal(&s, &fresh));
        prev = n;
    }
    FUZZ_CHECK(sum_equal(&s, whole));
}

/* A head needs exactly head_len bytes of max_head, and a request exactly
 * its Content-Length of max_body. Also a max_head picked by the input: a
 * head that fits is unchanged, one that does not is too big. */
static void check_limits(head_parse_fn parse, const char *buf, size_t len, struct limits lim,
                         const struct head_sum *whole, struct fuzz_rng *rng)
{
    struct head_sum s;
    if (whole->rc == RT_EMORE) {
        struct limits small = {fuzz_below(rng, len + 1), lim.max_body};
        run(parse, buf, len, len, 0, small, &s);
        FUZZ_CHECK(s.rc == (len > small.max_head ? RT_EHEADTOOBIG : RT_EMORE));
    }
    if (whole->rc <= 0)
        return;
    size_t h = whole->head_len;
    struct limits l = {h, lim.max_body};
    run(parse, buf, len, len, 0, l, &s);
    FUZZ_CHECK(sum_equal(&s, whole));
    l.max_head = h - 1;
    run(parse, buf, len, len, 0, l, &s);
    FUZZ_CHECK(s.rc == RT_EHEADTOOBIG);
    l.max_head = h + fuzz_below(rng, 64);
    run(parse, buf, len, len, 0, l, &s);
    FUZZ_CHECK(sum_equal(&s, whole));
    if (whole->has_cl && whole->body_len > 0) {
        l = (struct limits){lim.max_head, whole->body_len};
        run(parse, buf, len, len, 0, l, &s);
        FUZZ_CHECK(sum_equal(&s, whole));
        l.max_body = whole->body_len - 1;
        run(parse, buf, len, len, 0, l, &s);
        FUZZ_CHECK(s.rc == RT_EBODYTOOBIG);
    }
}

/* Where the next message starts after this head and its body, or 0 when
 * there is none in buf[0..len) (body to the close, incomplete, or bad). */
static size_t next_message(const char *buf, size_t len, const struct head_sum *whole)
{
    size_t h = whole->head_len;
    if (whole->rc <= 0 || whole->body == BODY_UNTIL_CLOSE)
        return 0;
    if (whole->body == BODY_LENGTH)
        return whole->body_len < len - h ? h + (size_t)whole->body_len : 0;
    struct rt_http_chunked d = {0};
    int64_t n = rt_http_chunked_scan(&d, buf + h, len - h, RT_HTTP_MAX_BODY);
    FUZZ_CHECK(n == RT_EMORE || n == RT_EBADREQ || n == RT_EBODYTOOBIG || n > 0);
    return n > 0 && (size_t)n < len - h ? h + (size_t)n : 0;
}

/* All replays for the message at the start of buf[0..len). Returns where
 * the next one starts, or 0. */
static size_t check_message(head_parse_fn parse, const char *buf, size_t len, struct fuzz_rng *rng)
{
    /* Mostly the real limits; sometimes a small max_head, so that inputs of
     * a fuzzer's usual sizes reach RT_EHEADTOOBIG too. */
    struct limits lim = {RT_HTTP_MAX_HEAD, RT_HTTP_MAX_BODY};
    if (fuzz_below(rng, 4) == 0)
        lim.max_head = fuzz_below(rng, len + 2);

    static struct head_sum whole; /* static: these are a few KiB each */
    run(parse, buf, len, len, 0, lim, &whole);
    check_byte_by_byte(parse, buf, len, lim, &whole);
    check_splits(parse, buf, len, lim, &whole, rng);
    check_limits(parse, buf, len, lim, &whole, rng);
    return next_message(buf, len, &whole);
}

void heads_check(head_parse_fn parse, const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    size_t off = 0;
    for (int i = 0; i < 8 && off < size; i++) {
        size_t next = check_message(parse, buf + off, size - off, &rng);
        if (next == 0)
            break;
        off += next;
    }
    fuzz_free(buf, size);
}
