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
#include "../sse_ref.h"

/* The reference model (tests/sse_ref.h) reports into a log like the parser's. */
static void log_event(void *arg, const char *type, size_t type_len, const char *id, size_t id_len,
                      const char *data, size_t data_len)
{
    sse_log_event(arg, type, type_len, id, id_len, data, data_len);
}
static void log_error(void *arg)
{
    sse_log_error(arg);
}
static void log_retry(void *arg, int64_t ms)
{
    sse_log_retry(arg, ms);
}

static void ref_parse(const char *in, size_t n, size_t data_cap, struct sse_log *log)
{
    const struct sse_ref_sink sink = {log_event, log_error, log_retry, log};
    log->n = 0;
    sse_ref_parse(in, n, data_cap, &sink);
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
