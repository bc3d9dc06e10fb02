/*
 * test_sse.c - the event-stream (Server-Sent Events) codec in proto/sse.c.
 *
 * Every parser input is replayed many ways and must give the same answer
 * each time: whole; one byte per call; split at every byte into two calls;
 * (for short inputs) at every pair of bytes into three; and at random
 * points. Each call gets a fresh heap copy of exactly its bytes, freed
 * before the event is read, so AddressSanitizer catches both a read past
 * the end and an event that points into the input. What the parser hands
 * out is compared as one summary string, `type#id=data;` per event, then
 * `retry=N;` when the stream set one, and `ERR;` where it failed.
 *
 * The expected summaries come from WHATWG HTML section 9.2.6 and its
 * examples, and each is also checked against ref_parse(), a deliberately
 * plain transcription of the spec's steps; random streams are then compared
 * with that reference.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_proto.h"
#include "sse_ref.h"

/* ======================================================================== */
/* Summaries                                                                */
/* ======================================================================== */

#define SUM_CAP 65536

/* Appends printf-style text to s, which holds a string of at most SUM_CAP. */
static void append(char *s, const char *fmt, ...)
{
    size_t n = strlen(s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s + n, SUM_CAP - n, fmt, ap);
    va_end(ap);
}

/* Appends b[0..n) with LF, CR and NUL as \n, \r, \0 and other bytes outside
 * printable ASCII as \xHH, so that summaries stay readable strings. */
static void append_escaped(char *s, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\n')
            append(s, "\\n");
        else if (c == '\r')
            append(s, "\\r");
        else if (c == '\0')
            append(s, "\\0");
        else if (c < 0x20 || c >= 0x7f || c == '\\')
            append(s, "\\x%02X", c);
        else
            append(s, "%c", c);
    }
}

static void append_event(char *s, const char *type, size_t type_len, const char *id, size_t id_len,
                         const char *data, size_t data_len)
{
    append_escaped(s, type, type_len);
    append(s, "#");
    append_escaped(s, id, id_len);
    append(s, "=");
    append_escaped(s, data, data_len);
    append(s, ";");
}

static void append_retry(char *s, int64_t retry_ms)
{
    if (retry_ms >= 0)
        append(s, "retry=%" PRId64 ";", retry_ms);
}

/* ======================================================================== */
/* The reference: the spec's steps over the whole input                     */
/* ======================================================================== */

/* The reference model (tests/sse_ref.h) reports into a summary string. */
static void sum_event(void *arg, const char *type, size_t type_len, const char *id, size_t id_len,
                      const char *data, size_t data_len)
{
    append_event(arg, type, type_len, id, id_len, data, data_len);
}
static void sum_error(void *arg)
{
    append(arg, "ERR;");
}
static void sum_retry(void *arg, int64_t ms)
{
    append_retry(arg, ms);
}

static void ref_parse(const char *in, size_t n, size_t data_cap, char *sum)
{
    const struct sse_ref_sink sink = {sum_event, sum_error, sum_retry, sum};
    sum[0] = '\0';
    sse_ref_parse(in, n, data_cap, &sink);
}

/* ======================================================================== */
/* Replaying inputs                                                         */
/* ======================================================================== */

struct replay {
    struct rt_sse_parser p;
    char *data; /* exactly data_cap bytes, so ASan sees a write past it */
    bool failed;
    char sum[SUM_CAP];
};

static struct replay *replay_new(size_t data_cap)
{
    struct replay *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->data = data_cap > 0 ? malloc(data_cap) : NULL;
    rt_sse_parser_init(&r->p, r->data, data_cap);
    return r;
}

/* Feeds one read's worth of bytes, calling again after each event. */
static void replay_feed(struct replay *r, const char *chunk, size_t n)
{
    size_t off = 0;
    while (!r->failed) {
        size_t rest = n - off;
        char *copy = malloc(rest > 0 ? rest : 1);
        assert_non_null(copy);
        memcpy(copy, chunk + off, rest);
        struct rt_sse_event ev;
        bool got = true;
        int64_t rc = rt_sse_parse(&r->p, copy, rest, &ev, &got);
        free(copy); /* the event must not point into the input */
        if (rc < 0) {
            assert_int_equal(rc, RT_EBODYTOOBIG);
            assert_false(got);
            append(r->sum, "ERR;");
            r->failed = true;
            return;
        }
        assert_true((size_t)rc <= rest);
        if (!got) {
            assert_int_equal(rc, rest);
            return;
        }
        assert_true(rc > 0);
        append_event(r->sum, ev.event, ev.event_len, ev.id, ev.id_len, ev.data, ev.data_len);
        off += (size_t)rc;
        if (off == n)
            return;
    }
}

/* Ends a replay: checks that a failed parser stays failed, returns the
 * summary in out, and frees the replay. */
static void replay_end(struct replay *r, char *out)
{
    if (r->failed) {
        struct rt_sse_event ev;
        bool got = true;
        assert_int_equal(rt_sse_parse(&r->p, "\n\n", 2, &ev, &got), RT_EBODYTOOBIG);
        assert_false(got);
    }
    append_retry(r->sum, r->p.retry_ms);
    strcpy(out, r->sum);
    free(r->data);
    free(r);
}

/* Parses in[0..n) split at the sorted offsets cuts[0..ncuts). */
static void parse_cut(const char *in, size_t n, size_t data_cap, const size_t *cuts, size_t ncuts,
                      char *out)
{
    struct replay *r = replay_new(data_cap);
    size_t at = 0;
    for (size_t i = 0; i < ncuts; i++) {
        replay_feed(r, in + at, cuts[i] - at);
        at = cuts[i];
    }
    replay_feed(r, in + at, n - at);
    replay_end(r, out);
}

static void expect_cut(const char *in, size_t n, size_t data_cap, const size_t *cuts, size_t ncuts,
                       const char *expected)
{
    static char got[SUM_CAP];
    parse_cut(in, n, data_cap, cuts, ncuts, got);
    if (strcmp(got, expected) != 0) {
        print_error("split into %zu calls at:", ncuts + 1);
        for (size_t i = 0; i < ncuts; i++)
            print_error(" %zu", cuts[i]);
        print_error("\n");
    }
    assert_string_equal(got, expected);
}

/* A small seeded generator (xorshift64), so every run replays the same. */
static uint64_t g_rand = 88172645463325252u;

static uint64_t rnd(void)
{
    g_rand ^= g_rand << 13;
    g_rand ^= g_rand >> 7;
    g_rand ^= g_rand << 17;
    return g_rand;
}

static size_t rnd_below(size_t n)
{
    return n == 0 ? 0 : (size_t)(rnd() % n);
}

/* Random sorted cut points in [0, n]; repeats give empty reads. */
static size_t random_cuts(size_t n, size_t *cuts, size_t max)
{
    size_t k = rnd_below(max + 1);
    for (size_t i = 0; i < k; i++)
        cuts[i] = rnd_below(n + 1);
    for (size_t i = 1; i < k; i++) { /* insertion sort: k is small */
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    }
    return k;
}

/* The replays, all of which must give `expected`. */
static void check_splits(const char *in, size_t n, size_t data_cap, const char *expected)
{
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    assert_non_null(cuts);
    expect_cut(in, n, data_cap, NULL, 0, expected);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    expect_cut(in, n, data_cap, cuts, n > 0 ? n - 1 : 0, expected); /* byte by byte */
    for (size_t i = 0; i <= n; i++)
        expect_cut(in, n, data_cap, &i, 1, expected);
    for (size_t i = 0; n <= 48 && i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            size_t two[2] = {i, j};
            expect_cut(in, n, data_cap, two, 2, expected);
        }
    }
    for (int round = 0; round < 50; round++) {
        size_t k = random_cuts(n, cuts, n < 16 ? n : 16);
        expect_cut(in, n, data_cap, cuts, k, expected);
    }
    free(cuts);
}

static void check_cap(const char *in, size_t n, size_t data_cap, const char *expected)
{
    static char ref[SUM_CAP];
    ref_parse(in, n, data_cap, ref);
    assert_string_equal(ref, expected); /* the reference agrees with the spec */
    check_splits(in, n, data_cap, expected);
}

/* String literals may hold NULs, hence sizeof rather than strlen. */
#define CHECK_CAP(lit, cap, expected) check_cap(lit, sizeof(lit) - 1, cap, expected)
#define CHECK(lit, expected) CHECK_CAP(lit, 1024, expected)

/* ======================================================================== */
/* Parser: the spec's examples                                              */
/* ======================================================================== */

static void test_spec_stock(void **state)
{
    (void)state;
    CHECK("data: YHOO\ndata: +2\ndata: 10\n\n", "message#=YHOO\\n+2\\n10;");
    CHECK("data: YHOO\ndata: +2\ndata: 10\n", ""); /* not yet followed by a blank line */
}

static void test_spec_four_blocks(void **state)
{
    (void)state;
    CHECK(": test stream\n"
          "\n"
          "data: first event\n"
          "id: 1\n"
          "\n"
          "data:second event\n"
          "id\n"
          "\n"
          "data:  third event\n"
          "\n",
          "message#1=first event;message#=second event;message#= third event;");
    /* "the end of the stream is not enough to trigger the dispatch" */
    CHECK(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third "
          "event\n",
          "message#1=first event;message#=second event;");
}

static void test_spec_empty_data(void **state)
{
    (void)state;
    /* The first block fires an event with empty data, the middle one with a
     * single newline; the last is not followed by a blank line. */
    CHECK("data\n\ndata\ndata\n\ndata:", "message#=;message#=\\n;");
    CHECK("data\n\ndata\ndata\n\ndata:\n\n", "message#=;message#=\\n;message#=;");
}

static void test_spec_one_space(void **state)
{
    (void)state;
    CHECK("data:test\n\ndata: test\n\n", "message#=test;message#=test;");
}

/* ======================================================================== */
/* Parser: lines                                                            */
/* ======================================================================== */

static void test_line_ends(void **state)
{
    (void)state;
    const char *two = "message#=a\\nb;message#=c;";
    CHECK("data: a\ndata: b\n\ndata: c\n\n", two);
    CHECK("data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", two);
    CHECK("data: a\rdata: b\r\rdata: c\r\r", two);
    CHECK("data: a\rdata: b\r\n\ndata: c\n\r", two); /* mixed */
    /* A CRLF is one line end; LF CR is two, and so is CR CR. */
    CHECK("data: a\r\n", "");
    CHECK("data: a\n\r", "message#=a;");
    CHECK("data: a\r\r", "message#=a;");
    CHECK("data: a\r\n\n", "message#=a;");
    CHECK("data: a\r\n\r\n", "message#=a;");
    /* An LF is skipped only right after a CR: the blank line is the third. */
    CHECK("data: a\r\n\n\n", "message#=a;");
    CHECK("\r\n\r\n\n\r", "");
}

/* A CR at the end of one read and the LF at the start of the next are one
 * line end, spelled out here beside the split replays that also cover it. */
static void test_crlf_across_reads(void **state)
{
    (void)state;
    char data[64];
    struct rt_sse_parser p;
    struct rt_sse_event ev;
    bool got;
    rt_sse_parser_init(&p, data, sizeof data);
    assert_int_equal(rt_sse_parse(&p, "data: a\r", 8, &ev, &got), 8);
    assert_false(got);
    assert_int_equal(rt_sse_parse(&p, "\ndata: b\r", 9, &ev, &got), 9);
    assert_false(got);
    assert_int_equal(rt_sse_parse(&p, "\n", 1, &ev, &got), 1); /* not a blank line */
    assert_false(got);
    assert_int_equal(rt_sse_parse(&p, "\r", 1, &ev, &got), 1);
    assert_true(got);
    assert_int_equal(ev.data_len, 3);
    assert_memory_equal(ev.data, "a\nb", 3);
    assert_int_equal(rt_sse_parse(&p, "\n", 1, &ev, &got), 1); /* the rest of that CRLF */
    assert_false(got);
    assert_int_equal(rt_sse_parse(&p, "data: c\n\n", 9, &ev, &got), 9);
    assert_true(got);
    assert_memory_equal(ev.data, "c", 1);
}

static void test_bom(void **state)
{
    (void)state;
    CHECK("\xEF\xBB\xBF"
          "data: x\n\n",
          "message#=x;");
    CHECK("\xEF\xBB\xBF\n\xEF\xBB\xBF"
          "data: x\n\n",
          ""); /* later, a BOM is part of a field name */
    /* Only one BOM is stripped; a second makes the first line's field name
     * unknown. */
    CHECK("\xEF\xBB\xBF\xEF\xBB\xBF"
          "data: x\n\ndata: y\n\n",
          "message#=y;");
    CHECK("data: a\n\n\xEF\xBB\xBF"
          "data: b\n\n",
          "message#=a;");
    CHECK("data: \xEF\xBB\xBF"
          "b\n\n",
          "message#=\\xEF\\xBB\\xBFb;");
    /* Bytes that begin like a BOM but are not one start the field name. */
    CHECK("\xEF\xBB"
          "data: x\n\n",
          "");
    CHECK("\xEF"
          "data: x\n\n",
          "");
    CHECK("\xEF\xBB\ndata: x\n\n", "message#=x;");
    CHECK("\xEF\xBB:x\ndata: y\n\n", "message#=y;");
    CHECK("\xEF\xBB\xBE\ndata: y\n\n", "message#=y;");
    CHECK("\xEF\xBB\xBF\n", "");
}

/* A BOM split across reads, spelled out. */
static void test_bom_across_reads(void **state)
{
    (void)state;
    char data[64];
    struct rt_sse_parser p;
    struct rt_sse_event ev;
    bool got;
    rt_sse_parser_init(&p, data, sizeof data);
    assert_int_equal(rt_sse_parse(&p, "\xEF", 1, &ev, &got), 1);
    assert_int_equal(rt_sse_parse(&p, "", 0, &ev, &got), 0);
    assert_int_equal(rt_sse_parse(&p, "\xBB", 1, &ev, &got), 1);
    assert_int_equal(rt_sse_parse(&p, "\xBF", 1, &ev, &got), 1);
    assert_false(got);
    assert_int_equal(rt_sse_parse(&p, "data: x\n\n", 9, &ev, &got), 9);
    assert_true(got);
    assert_memory_equal(ev.data, "x", 1);
}

static void test_comments(void **state)
{
    (void)state;
    CHECK(":hb\n\n", "");
    CHECK(":\n:\n\n", "");
    CHECK(": data: x\n\n", "");
    CHECK("data: a\n:comment\ndata: b\n:\n\n", "message#=a\\nb;");
    CHECK(":event: x\ndata: a\n\n", "message#=a;");
    CHECK(":no line end", "");
}

/* ======================================================================== */
/* Parser: fields                                                           */
/* ======================================================================== */

static void test_no_colon(void **state)
{
    (void)state;
    CHECK("data\n\n", "message#=;");
    CHECK("data\ndata: x\n\n", "message#=\\nx;");
    CHECK("data: x\ndata\n\n", "message#=x\\n;");
    CHECK("event: e\nevent\ndata: x\n\n", "message#=x;");
    CHECK("id: 1\ndata: a\n\nid\ndata: b\n\n", "message#1=a;message#=b;");
    CHECK("retry\n", "");
    CHECK("x\n\n", "");
}

static void test_one_space_only(void **state)
{
    (void)state;
    CHECK("data:  two\n\n", "message#= two;");
    CHECK("data:   three\n\n", "message#=  three;");
    CHECK("data:x\n\n", "message#=x;");
    CHECK("data:\tx\n\n", "message#=\\x09x;");
    CHECK("data: \n\n", "message#=;");
    CHECK("data:  \n\n", "message#= ;");
    CHECK("data: a \n\n", "message#=a ;");
    CHECK("data: a:b: c\n\n", "message#=a:b: c;"); /* only the first colon splits */
    CHECK("event:  e\ndata\n\n", " e#=;");
    CHECK("id:  7\ndata\n\n", "message# 7=;");
}

static void test_event_type(void **state)
{
    (void)state;
    CHECK("event: score\ndata: 1\n\n", "score#=1;");
    /* The type resets after each dispatch, and also on a blank line that
     * dispatches nothing. */
    CHECK("event: a\ndata: 1\n\ndata: 2\n\n", "a#=1;message#=2;");
    CHECK("event: foo\n\ndata: x\n\n", "message#=x;");
    CHECK("event:\ndata: x\n\n", "message#=x;");
    CHECK("event: a\nevent: b\ndata: x\n\n", "b#=x;");
    CHECK("data: x\nevent: late\n\n", "late#=x;");
}

static void test_data_lines(void **state)
{
    (void)state;
    CHECK("data: a\ndata: b\ndata: c\n\n", "message#=a\\nb\\nc;");
    CHECK("data: a\n\n\n\ndata: b\n\n", "message#=a;message#=b;");
    CHECK("data: \0x\n\n", "message#=\\0x;");
    CHECK("data: a\n", "");
    CHECK("data: a", "");
    CHECK("data: a\n\ndata: b\n", "message#=a;");
}

static void test_id(void **state)
{
    (void)state;
    /* The last event ID persists across events; "id:" empties it. */
    CHECK("id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n", "message#1=a;message#1=b;message#=c;");
    /* An id holding a NUL is ignored, wherever the NUL is. */
    CHECK("id: 5\ndata: a\n\nid: x\0y\ndata: b\n\n", "message#5=a;message#5=b;");
    CHECK("id: 5\nid: \0\ndata: b\n\n", "message#5=b;");
    CHECK("id: 5\nid: \0\0\ndata: b\n\n", "message#5=b;");
    CHECK("id: 5\nid: x\0\ndata: b\n\n", "message#5=b;");
    CHECK("id: 5\nid:\0x\ndata: b\n\n", "message#5=b;");
    /* An id set by an event that dispatches nothing still sticks. */
    CHECK("id: 9\n\ndata: a\n\n", "message#9=a;");
    /* An id applies to the event it is in, even after its data. */
    CHECK("data: a\nid: 3\n\n", "message#3=a;");
    CHECK("id: 1\nid: 2\ndata: a\n\n", "message#2=a;");
    CHECK("id: 4\n", ""); /* nothing dispatched; see test_return_values */
}

static void test_retry(void **state)
{
    (void)state;
    CHECK("retry: 3000\n", "retry=3000;");
    CHECK("retry:3000\n", "retry=3000;");
    CHECK("retry: 0\n", "retry=0;");
    CHECK("retry: 007\n", "retry=7;");
    CHECK("retry: 100\nretry: 200\n", "retry=200;");
    CHECK("retry: 10a\n", "");
    CHECK("retry:\n", "");
    CHECK("retry: \n", "");
    CHECK("retry\n", "");
    CHECK("retry:  10\n", "");
    CHECK("retry: -1\n", "");
    CHECK("retry: +1\n", "");
    CHECK("retry: 1.5\n", "");
    CHECK("retry: 1 \n", "");
    CHECK("retry: 0x10\n", "");
    CHECK("retry: 100\nretry: x\nretry: 1e3\n", "retry=100;");
    CHECK("retry: 3000", ""); /* a line without its end is not processed */
    CHECK("retry: 99999999999999999999999999\n", "retry=9223372036854775807;");
    CHECK("retry: 9223372036854775807\n", "retry=9223372036854775807;");
    CHECK("retry: 9223372036854775806\n", "retry=9223372036854775806;");
    /* retry is no part of an event, and dispatches nothing. */
    CHECK("retry: 5\n\ndata: a\n\n", "message#=a;retry=5;");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    /* Field names are compared byte for byte: no case folding, no trimming. */
    CHECK("foo: bar\nDATA: x\nData: y\ndata : z\n data: w\ndatax: q\nretryy: 1\nid : 2\n"
          "event : e\n\n",
          "");
    CHECK("foo: bar\ndata: ok\nlongfieldname: 1\n\n", "message#=ok;");
    CHECK("dat\n\nda\0ta: x\n\n", "");
}

static void test_event_views(void **state)
{
    (void)state;
    char data[64];
    struct rt_sse_parser p;
    struct rt_sse_event ev;
    bool got;
    rt_sse_parser_init(&p, data, sizeof data);
    const char *in = "id: 42\nevent: e\ndata: d\n\n";
    assert_int_equal(rt_sse_parse(&p, in, strlen(in), &ev, &got), (int64_t)strlen(in));
    assert_true(got);
    assert_ptr_equal(ev.data, data); /* the data is in the caller's buffer */
    assert_int_equal(ev.id_len, 2);
    assert_memory_equal(ev.id, "42", 2);
    assert_int_equal(ev.event_len, 1);
    assert_memory_equal(ev.event, "e", 1);
    assert_int_equal(ev.data_len, 1);
    assert_memory_equal(ev.data, "d", 1);
    assert_int_equal(p.retry_ms, -1);
    /* Before any id: an empty one (not NULL). */
    rt_sse_parser_init(&p, NULL, 0);
    assert_int_equal(rt_sse_parse(&p, "data\n\n", 6, &ev, &got), 6);
    assert_true(got);
    assert_non_null(ev.id);
    assert_int_equal(ev.id_len, 0);
    assert_non_null(ev.data);
    assert_int_equal(ev.data_len, 0);
    assert_int_equal(ev.event_len, 7);
    assert_memory_equal(ev.event, "message", 7);
}

/* What each call consumes: through the dispatching blank line, no more. */
static void test_return_values(void **state)
{
    (void)state;
    char data[64];
    struct rt_sse_parser p;
    struct rt_sse_event ev;
    bool got;
    rt_sse_parser_init(&p, data, sizeof data);
    const char *in = "data: a\n\ndata: b\n\n:tail";
    assert_int_equal(rt_sse_parse(&p, in, strlen(in), &ev, &got), 9);
    assert_true(got);
    assert_memory_equal(ev.data, "a", 1);
    assert_int_equal(rt_sse_parse(&p, in + 9, strlen(in) - 9, &ev, &got), 9);
    assert_true(got);
    assert_memory_equal(ev.data, "b", 1);
    assert_int_equal(rt_sse_parse(&p, in + 18, strlen(in) - 18, &ev, &got), 5);
    assert_false(got);
    /* A blank line ended by CR: its LF is left for the next call. */
    rt_sse_parser_init(&p, data, sizeof data);
    assert_int_equal(rt_sse_parse(&p, "data: a\r\n\r\n", 11, &ev, &got), 10);
    assert_true(got);
    assert_int_equal(rt_sse_parse(&p, "\n", 1, &ev, &got), 1);
    assert_false(got);
    /* The last event ID is the parser's to report, not an event's. */
    rt_sse_parser_init(&p, data, sizeof data);
    assert_int_equal(rt_sse_parse(&p, "id: 4\n\n", 7, &ev, &got), 7);
    assert_false(got);
    assert_int_equal(p.id_len, 1);
}

/* Lines far longer than one read or one search window (the parser looks for
 * line ends a window of bytes at a time), ending in each kind of line end,
 * and a CR-only stream whose lines sit at every offset around the window. */
static void test_long_lines(void **state)
{
    (void)state;
    static const char *const ends[] = {"\n\n", "\r\r", "\r\n\r\n", "\r\n\n"};
    static char in[4096], want[SUM_CAP];
    for (size_t len = 0; len < 2100; len += len < 40 || (len % 512) > 500 ? 1 : 37) {
        for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++) {
            size_t n = (size_t)snprintf(in, sizeof in, "data: ");
            for (size_t i = 0; i < len; i++)
                in[n++] = (char)('a' + i % 26);
            n += (size_t)snprintf(in + n, sizeof in - n, "%s", ends[e]);
            want[0] = '\0';
            append_event(want, "message", 7, "", 0, in + 6, len);
            expect_cut(in, n, 4096, NULL, 0, want);
            size_t cuts[8];
            for (int split = 0; split < 3; split++) {
                size_t k = random_cuts(n, cuts, 8);
                expect_cut(in, n, 4096, cuts, k, want);
            }
        }
    }
    /* Short lines ended by CR alone, after a long comment. */
    size_t n = 0;
    for (size_t i = 0; i < 700; i++)
        in[n++] = i == 0 ? ':' : 'c';
    in[n++] = '\r';
    want[0] = '\0';
    for (int i = 0; i < 300; i++) {
        n += (size_t)snprintf(in + n, sizeof in - n, "data:%d\r\r", i % 10);
        char d = (char)('0' + i % 10);
        append_event(want, "message", 7, "", 0, &d, 1);
    }
    check_splits(in, n, 16, want);
}

/* ======================================================================== */
/* Parser: limits                                                           */
/* ======================================================================== */

static void test_data_cap(void **state)
{
    (void)state;
    CHECK_CAP("data: 12345678\n\n", 8, "message#=12345678;");
    CHECK_CAP("data: 123456789\n\n", 8, "ERR;");
    CHECK_CAP("data: 1234\ndata: 123\n\n", 8, "message#=1234\\n123;");
    CHECK_CAP("data: 1234\ndata: 1234\n\n", 8, "ERR;");
    CHECK_CAP("data: 12345678\ndata\n\n", 8, "ERR;"); /* the joining LF counts */
    CHECK_CAP("data: a\n\ndata: 123456789\n\n", 8, "message#=a;ERR;");
    CHECK_CAP("data: 123456789", 8, "ERR;"); /* too long already: no need to wait */
    CHECK_CAP("data\n\n", 0, "message#=;");
    CHECK_CAP("data\ndata\n\n", 0, "ERR;");
    CHECK_CAP("data: x\n\n", 0, "ERR;");
    CHECK_CAP("data\ndata\ndata\n\n", 2, "message#=\\n\\n;");
    CHECK_CAP("retry: 1\ndata: 123456789\n\n", 8, "ERR;retry=1;");
    /* Comments, unknown fields and ignored ids need no room. */
    CHECK_CAP(":123456789\nfoo: 123456789\ndata: a\n\n", 1, "message#=a;");
}

static void test_event_and_id_limits(void **state)
{
    (void)state;
    static char in[1024], want[1024];
    char name[RT_SSE_EVENT_MAX + 2], id[RT_SSE_ID_MAX + 2];
    memset(name, 'e', sizeof name);
    memset(id, 'i', sizeof id);
    snprintf(in, sizeof in, "event: %.*s\ndata\n\n", RT_SSE_EVENT_MAX, name);
    snprintf(want, sizeof want, "%.*s#=;", RT_SSE_EVENT_MAX, name);
    check_cap(in, strlen(in), 16, want);
    snprintf(in, sizeof in, "event: %.*s\ndata\n\n", RT_SSE_EVENT_MAX + 1, name);
    check_cap(in, strlen(in), 16, "ERR;");
    snprintf(in, sizeof in, "id: %.*s\ndata\n\n", RT_SSE_ID_MAX, id);
    snprintf(want, sizeof want, "message#%.*s=;", RT_SSE_ID_MAX, id);
    check_cap(in, strlen(in), 16, want);
    snprintf(in, sizeof in, "id: %.*s\ndata\n\n", RT_SSE_ID_MAX + 1, id);
    check_cap(in, strlen(in), 16, "ERR;");
    /* A long id with a NUL is ignored, as any id with a NUL is. */
    snprintf(in, sizeof in, "id: %.*sX\ndata\n\n", RT_SSE_ID_MAX + 1, id);
    size_t n = strlen(in);
    in[strlen("id: ") + RT_SSE_ID_MAX + 1] = '\0'; /* the X */
    check_cap(in, n, 16, "message#=;");
}

/* ======================================================================== */
/* Parser: random streams against the reference                             */
/* ======================================================================== */

/* Builds a stream from pieces that make every rule likely to meet every
 * other, including the awkward ones: BOM fragments, NULs, lone CRs. */
static size_t random_stream(char *out, size_t cap)
{
    static const char *const pieces[] = {
        "data",
        "data:",
        "data: ",
        "event",
        "event:",
        "event: ",
        "id",
        "id:",
        "id: ",
        "retry",
        "retry:",
        "retry: ",
        ":",
        " ",
        "x",
        "12",
        "a b",
        "\0",
        "\xEF\xBB\xBF",
        "\xEF",
        "\xBB",
        "\xBF",
        "\r",
        "\n",
        "\r\n",
        "\n\n",
        "\r\r",
        "dat",
        "a",
        "9",
        "foo: bar",
        "::",
        "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    };
    size_t n = 0, count = 1 + rnd_below(40);
    for (size_t i = 0; i < count; i++) {
        size_t k = rnd_below(sizeof pieces / sizeof pieces[0]);
        size_t len = pieces[k][0] == '\0' ? 1 : strlen(pieces[k]);
        if (n + len > cap)
            break;
        memcpy(out + n, pieces[k], len);
        n += len;
    }
    return n;
}

static void test_random_streams(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 4, 16, 1024};
    static char in[4096], ref[SUM_CAP];
    for (int round = 0; round < 3000; round++) {
        size_t n = random_stream(in, sizeof in);
        size_t cap = caps[rnd_below(4)];
        ref_parse(in, n, cap, ref);
        expect_cut(in, n, cap, NULL, 0, ref);
        size_t cuts[64];
        for (int split = 0; split < 4; split++) {
            size_t k = random_cuts(n, cuts, 64);
            expect_cut(in, n, cap, cuts, k, ref);
        }
    }
}

/* ======================================================================== */
/* Encoder                                                                  */
/* ======================================================================== */

/* Encodes ev and checks the bytes, rt_sse_encode_len(), and RT_ENOSPACE
 * (with nothing written) for every smaller cap. */
static void expect_encode(const struct rt_sse_event *ev, const char *want)
{
    size_t n = strlen(want);
    assert_int_equal(rt_sse_encode_len(ev), n);
    char *out = malloc(n + 8);
    assert_non_null(out);
    for (size_t cap = 0; cap < n; cap++) {
        memset(out, '~', n + 8);
        assert_int_equal(rt_sse_encode(out, cap, ev), RT_ENOSPACE);
        for (size_t i = 0; i < n + 8; i++)
            assert_int_equal(out[i], '~');
    }
    memset(out, '~', n + 8);
    assert_int_equal(rt_sse_encode(out, n, ev), (int)n);
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '~');
    assert_int_equal(rt_sse_encode(out, n + 8, ev), (int)n);
    free(out);
}

static struct rt_sse_event event_of(const char *id, const char *type, const char *data)
{
    struct rt_sse_event ev = {id,   id ? strlen(id) : 0,    type, type ? strlen(type) : 0,
                              data, data ? strlen(data) : 0};
    return ev;
}

static void test_encode(void **state)
{
    (void)state;
    struct rt_sse_event ev = event_of("7", "score", "line1\nline2");
    expect_encode(&ev, "id: 7\nevent: score\ndata: line1\ndata: line2\n\n");
    ev = event_of(NULL, NULL, "hello");
    expect_encode(&ev, "data: hello\n\n");
    ev = event_of(NULL, "tick", "{\"n\":1}");
    expect_encode(&ev, "event: tick\ndata: {\"n\":1}\n\n");
    ev = event_of("", NULL, "x"); /* an empty id is written: it resets */
    expect_encode(&ev, "id: \ndata: x\n\n");
    ev = event_of(NULL, NULL, " lead");
    expect_encode(&ev, "data:  lead\n\n"); /* the parser removes only our space */
    /* Binary-safe: a NUL in data is data. */
    ev = (struct rt_sse_event){NULL, 0, NULL, 0, "a\0b", 3};
    assert_int_equal(rt_sse_encode_len(&ev), strlen("data: a") + 1 + strlen("b\n\n"));
}

static void test_encode_line_breaks(void **state)
{
    (void)state;
    struct rt_sse_event ev = event_of(NULL, NULL, "a\r\nb\rc\nd");
    expect_encode(&ev, "data: a\ndata: b\ndata: c\ndata: d\n\n");
    ev = event_of(NULL, NULL, "a\n");
    expect_encode(&ev, "data: a\ndata: \n\n");
    ev = event_of(NULL, NULL, "\n");
    expect_encode(&ev, "data: \ndata: \n\n");
    ev = event_of(NULL, NULL, "a\r");
    expect_encode(&ev, "data: a\ndata: \n\n");
    ev = event_of(NULL, NULL, "a\n\r\nb");
    expect_encode(&ev, "data: a\ndata: \ndata: b\n\n");
    ev = event_of(NULL, NULL, "a\r\rb");
    expect_encode(&ev, "data: a\ndata: \ndata: b\n\n");
    /* Line breaks in id or event cannot smuggle in another field. */
    ev = event_of("1\ndata: evil", "e\rdata: evil", "ok");
    expect_encode(&ev, "id: 1\nid: data: evil\nevent: e\nevent: data: evil\ndata: ok\n\n");
}

/* Empty data is one empty data line, which the parser dispatches with empty
 * data; NULL data is no data line, which it does not dispatch (though the id
 * still sticks). */
static void test_encode_empty_and_no_data(void **state)
{
    (void)state;
    struct rt_sse_event ev = event_of(NULL, NULL, "");
    expect_encode(&ev, "data: \n\n");
    char buf[64];
    int n = rt_sse_encode(buf, sizeof buf, &ev);
    check_splits(buf, (size_t)n, 16, "message#=;");

    ev = event_of("5", "ping", NULL);
    expect_encode(&ev, "id: 5\nevent: ping\n\n");
    n = rt_sse_encode(buf, sizeof buf, &ev);
    check_splits(buf, (size_t)n, 16, "");
    struct rt_sse_event next = event_of(NULL, NULL, "x");
    int m = rt_sse_encode(buf + n, sizeof buf - (size_t)n, &next);
    check_splits(buf, (size_t)(n + m), 16, "message#5=x;");

    ev = event_of(NULL, NULL, NULL);
    expect_encode(&ev, "\n");
}

static void test_encode_retry(void **state)
{
    (void)state;
    static const struct {
        uint32_t ms;
        const char *want;
    } cases[] = {{3000, "retry: 3000\n"},
                 {0, "retry: 0\n"},
                 {7, "retry: 7\n"},
                 {10, "retry: 10\n"},
                 {UINT32_MAX, "retry: 4294967295\n"}};
    char out[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].want);
        for (size_t cap = 0; cap < n; cap++) {
            memset(out, '~', sizeof out);
            assert_int_equal(rt_sse_encode_retry(out, cap, cases[i].ms), RT_ENOSPACE);
            assert_int_equal(out[0], '~');
        }
        memset(out, '~', sizeof out);
        assert_int_equal(rt_sse_encode_retry(out, n, cases[i].ms), (int)n);
        assert_memory_equal(out, cases[i].want, n);
        assert_int_equal(out[n], '~');
        char want[64];
        snprintf(want, sizeof want, "retry=%" PRIu32 ";", cases[i].ms);
        check_splits(out, n, 16, want);
    }
}

static void expect_comment(const char *text, size_t len, const char *want)
{
    size_t n = strlen(want);
    char out[64];
    for (size_t cap = 0; cap < n; cap++) {
        memset(out, '~', sizeof out);
        assert_int_equal(rt_sse_encode_comment(out, cap, text, len), RT_ENOSPACE);
        assert_int_equal(out[0], '~');
    }
    memset(out, '~', sizeof out);
    assert_int_equal(rt_sse_encode_comment(out, n, text, len), (int)n);
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], '~');
    check_splits(out, n, 16, ""); /* comments dispatch nothing */
}

static void test_encode_comment(void **state)
{
    (void)state;
    expect_comment("hb", 2, ":hb\n");
    expect_comment("", 0, ":\n");
    expect_comment(NULL, 0, ":\n");
    expect_comment("a\nb", 3, ":a\n:b\n");
    expect_comment("a\r\n", 3, ":a\n:\n");
    expect_comment("\rdata: x", 8, ":\n:data: x\n");
}

/* Random events survive encode -> parse, split anywhere. Line breaks in data
 * come back as LF, whichever kind was sent. */
static void roundtrip_one(bool with_cr)
{
    static char data[512], want[512], id[24], type[24], wire[4096];
    size_t data_len = rnd_below(sizeof data), want_len = 0;
    for (size_t i = 0; i < data_len; i++) {
        data[i] = (char)rnd_below(256);
        if (!with_cr && data[i] == '\r')
            data[i] = '\n';
    }
    for (size_t i = 0; i < data_len; i++) {
        if (data[i] == '\r' && i + 1 < data_len && data[i + 1] == '\n')
            continue; /* the LF that follows stands for the pair */
        want[want_len++] = data[i] == '\r' ? '\n' : data[i];
    }
    size_t id_len = rnd_below(sizeof id), type_len = rnd_below(sizeof type);
    for (size_t i = 0; i < id_len; i++)
        id[i] = (char)(' ' + rnd_below(95));
    for (size_t i = 0; i < type_len; i++)
        type[i] = (char)(' ' + rnd_below(95));
    struct rt_sse_event ev = {id, id_len, type, type_len, data, data_len};
    int n = rt_sse_encode(wire, sizeof wire, &ev);
    assert_true(n > 0);
    assert_int_equal((size_t)n, rt_sse_encode_len(&ev));

    static char expected[SUM_CAP];
    expected[0] = '\0';
    if (type_len > 0)
        append_event(expected, type, type_len, id, id_len, want, want_len);
    else
        append_event(expected, "message", 7, id, id_len, want, want_len);
    size_t cuts[8];
    size_t k = random_cuts((size_t)n, cuts, 8);
    expect_cut(wire, (size_t)n, sizeof data, cuts, k, expected);
}

static void test_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        roundtrip_one(false);
        roundtrip_one(true);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_stock),
        cmocka_unit_test(test_spec_four_blocks),
        cmocka_unit_test(test_spec_empty_data),
        cmocka_unit_test(test_spec_one_space),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_crlf_across_reads),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_bom_across_reads),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_no_colon),
        cmocka_unit_test(test_one_space_only),
        cmocka_unit_test(test_event_type),
        cmocka_unit_test(test_data_lines),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_event_views),
        cmocka_unit_test(test_return_values),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_data_cap),
        cmocka_unit_test(test_event_and_id_limits),
        cmocka_unit_test(test_random_streams),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_line_breaks),
        cmocka_unit_test(test_encode_empty_and_no_data),
        cmocka_unit_test(test_encode_retry),
        cmocka_unit_test(test_encode_comment),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
