/*
 * fuzz_sse_parse.c - rt_sse_parse(), the incremental event-stream parser.
 *
 * The input is an event stream as a client reads it. It is parsed with a
 * data buffer of an input-chosen size (often small, so the limits are
 * reached), and the event log (sse_replay.h: each event's type, id and
 * data, then an error mark, then the retry value) must be the same
 *   - fed whole, one byte per call, and in input-chosen pieces (some
 *     empty, some splitting a CRLF or a BOM);
 *   - as the reference below: the steps of WHATWG HTML section 9.2.6 over
 *     the whole input, written as plainly as possible (the same as the
 *     reference in tests/test_sse.c, which checks it against the spec's
 *     examples).
 * Each call and each event is checked on its own in sse_replay.c.
 */
#include "fuzz.h"
#include "rt_proto.h"
#include "sse_replay.h"

/* ======================================================================== */
/* The reference                                                            */
/* ======================================================================== */

struct ref {
    char *data, *type, *id; /* each as long as the input */
    size_t data_len, type_len, id_len, data_cap;
    int64_t retry;
    struct sse_log *log;
};

static bool is_field(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Would the unterminated last line already pass a limit? The parser fails
 * as soon as it holds more bytes of a data or event value than fit, since
 * any end of that line would fail too. */
static bool ref_tail_fails(const struct ref *r, const char *l, size_t ll)
{
    const char *colon = memchr(l, ':', ll);
    if (colon == NULL)
        return false;
    size_t flen = (size_t)(colon - l), vlen = ll - flen - 1;
    if (vlen > 0 && colon[1] == ' ')
        vlen--;
    if (is_field(l, flen, "data"))
        return r->data_len + vlen > r->data_cap;
    return is_field(l, flen, "event") && vlen > RT_SSE_EVENT_MAX;
}

/* A blank line: the spec's data buffer holds each line and a LF. */
static void ref_dispatch(struct ref *r)
{
    if (r->data_len > 0) {
        r->data_len--; /* the final LF */
        if (r->type_len > 0)
            sse_log_event(r->log, r->type, r->type_len, r->id, r->id_len, r->data, r->data_len);
        else
            sse_log_event(r->log, "message", 7, r->id, r->id_len, r->data, r->data_len);
    }
    r->data_len = 0;
    r->type_len = 0;
}

/* "Process the field". Returns false when a limit is passed. */
static bool ref_field(struct ref *r, const char *f, size_t flen, const char *v, size_t vlen)
{
    if (is_field(f, flen, "event")) {
        if (vlen > RT_SSE_EVENT_MAX)
            return false;
        memcpy(r->type, v, vlen);
        r->type_len = vlen;
    } else if (is_field(f, flen, "data")) {
        memcpy(r->data + r->data_len, v, vlen);
        r->data_len += vlen;
        r->data[r->data_len++] = '\n';
        return r->data_len - 1 <= r->data_cap;
    } else if (is_field(f, flen, "id") && (vlen == 0 || memchr(v, '\0', vlen) == NULL)) {
        if (vlen > RT_SSE_ID_MAX)
            return false;
        memcpy(r->id, v, vlen);
        r->id_len = vlen;
    } else if (is_field(f, flen, "retry") && vlen > 0) {
        int64_t ms = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return true;
            ms = ms > (INT64_MAX - (v[i] - '0')) / 10 ? INT64_MAX : ms * 10 + (v[i] - '0');
        }
        r->retry = ms;
    }
    return true;
}

/* One line, without its end. Returns false when a limit is passed. */
static bool ref_line(struct ref *r, const char *l, size_t ll)
{
    if (ll == 0) {
        ref_dispatch(r);
        return true;
    }
    if (l[0] == ':')
        return true;
    const char *colon = memchr(l, ':', ll);
    if (colon == NULL)
        return ref_field(r, l, ll, "", 0);
    size_t flen = (size_t)(colon - l);
    const char *v = colon + 1;
    size_t vlen = ll - flen - 1;
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    return ref_field(r, l, flen, v, vlen);
}

static void ref_parse(const char *in, size_t n, size_t data_cap, struct sse_log *log)
{
    struct ref r = {.data_cap = data_cap, .retry = -1, .log = log};
    /* Room for all of the input and a LF per line, plus one. */
    r.data = malloc(2 * n + 1);
    r.type = malloc(n + 1);
    r.id = malloc(n + 1);
    FUZZ_CHECK(r.data != NULL && r.type != NULL && r.id != NULL);
    log->n = 0;
    size_t i = 0;
    if (n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n) {
        size_t end = i;
        while (end < n && in[end] != '\r' && in[end] != '\n')
            end++;
        if (end == n) { /* a line without its end is never processed */
            if (ref_tail_fails(&r, in + i, n - i))
                sse_log_error(log);
            break;
        }
        if (!ref_line(&r, in + i, end - i)) {
            sse_log_error(log);
            break;
        }
        i = end + 1 + (in[end] == '\r' && end + 1 < n && in[end + 1] == '\n');
    }
    sse_log_retry(log, r.retry);
    free(r.data);
    free(r.type);
    free(r.id);
}

/* ======================================================================== */
/* The target                                                               */
/* ======================================================================== */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    /* Half the time a data buffer small enough to overflow, else ample. */
    size_t cap = fuzz_below(&rng, 2) ? fuzz_below(&rng, 33) : 4096;
    char *in = fuzz_copy(data, size);

    struct sse_log want = {0}, got = {0};
    ref_parse(in, size, cap, &want);
    sse_replay(in, size, cap, NULL, 0, &got);
    FUZZ_CHECK(sse_log_equal(&got, &want));
    sse_replay_bytewise(in, size, cap, &got);
    FUZZ_CHECK(sse_log_equal(&got, &want));
    for (int round = 0; round < 2; round++) {
        size_t cuts[16];
        size_t k = fuzz_cuts(&rng, size, cuts, sizeof cuts / sizeof cuts[0]);
        sse_replay(in, size, cap, cuts, k, &got);
        FUZZ_CHECK(sse_log_equal(&got, &want));
    }

    sse_log_free(&want);
    sse_log_free(&got);
    fuzz_free(in, size);
    return 0;
}
