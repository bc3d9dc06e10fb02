/*
 * sse_replay.c - see sse_replay.h.
 */
#include "sse_replay.h"

#include "fuzz.h"
#include "rt_proto.h"

/* ======================================================================== */
/* Event logs                                                               */
/* ======================================================================== */

static void put(struct sse_log *l, const void *p, size_t n)
{
    if (l->cap - l->n < n) {
        size_t cap = l->cap * 2 + n + 64;
        l->b = realloc(l->b, cap);
        FUZZ_CHECK(l->b != NULL);
        l->cap = cap;
    }
    if (n > 0)
        memcpy(l->b + l->n, p, n);
    l->n += n;
}

static void put_field(struct sse_log *l, const char *p, size_t n)
{
    put(l, &n, sizeof n);
    put(l, p, n);
}

void sse_log_event(struct sse_log *l, const char *type, size_t type_len, const char *id,
                   size_t id_len, const char *data, size_t data_len)
{
    put(l, "E", 1);
    put_field(l, type, type_len);
    put_field(l, id, id_len);
    put_field(l, data, data_len);
}

void sse_log_error(struct sse_log *l)
{
    put(l, "X", 1);
}

void sse_log_retry(struct sse_log *l, int64_t retry_ms)
{
    put(l, "R", 1);
    put(l, &retry_ms, sizeof retry_ms);
}

bool sse_log_equal(const struct sse_log *a, const struct sse_log *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->b, b->b, a->n) == 0);
}

void sse_log_free(struct sse_log *l)
{
    free(l->b);
    memset(l, 0, sizeof *l);
}

/* ======================================================================== */
/* Feeding the parser                                                       */
/* ======================================================================== */

struct feed {
    struct rt_sse_parser p;
    char *data; /* exactly data_cap bytes */
    size_t data_cap;
    bool failed;
    struct sse_log *log;
};

static bool has_byte(const char *s, size_t n, char c)
{
    return n > 0 && memchr(s, c, n) != NULL;
}

/* What any dispatched event satisfies, whatever the input. */
static void check_event(const struct feed *f, const struct rt_sse_event *ev)
{
    FUZZ_CHECK(ev->event != NULL && ev->event_len > 0 && ev->event_len <= RT_SSE_EVENT_MAX);
    FUZZ_CHECK(!has_byte(ev->event, ev->event_len, '\n'));
    FUZZ_CHECK(!has_byte(ev->event, ev->event_len, '\r'));
    FUZZ_CHECK(ev->id != NULL && ev->id_len <= RT_SSE_ID_MAX);
    FUZZ_CHECK(!has_byte(ev->id, ev->id_len, '\n') && !has_byte(ev->id, ev->id_len, '\r'));
    FUZZ_CHECK(!has_byte(ev->id, ev->id_len, '\0'));
    FUZZ_CHECK(ev->data != NULL && ev->data_len <= f->data_cap);
    FUZZ_CHECK(ev->data_len == 0 || ev->data == f->data);
    FUZZ_CHECK(!has_byte(ev->data, ev->data_len, '\r'));
}

/* One read: in[from..to), calling again after each event. */
static void feed(struct feed *f, const char *in, size_t len, size_t from, size_t to)
{
    while (!f->failed) {
        struct rt_sse_event ev;
        bool got = true;
        fuzz_window(in, len, from, to);
        int64_t rc = rt_sse_parse(&f->p, in + from, to - from, &ev, &got);
        fuzz_window(in, len, 0, 0); /* the event must not point into the input */
        FUZZ_CHECK(f->p.retry_ms >= -1);
        if (rc < 0) {
            FUZZ_CHECK(rc == RT_EBODYTOOBIG && !got);
            sse_log_error(f->log);
            f->failed = true;
            return;
        }
        FUZZ_CHECK((size_t)rc <= to - from);
        if (!got) {
            FUZZ_CHECK((size_t)rc == to - from);
            return;
        }
        FUZZ_CHECK(rc > 0);
        check_event(f, &ev);
        sse_log_event(f->log, ev.event, ev.event_len, ev.id, ev.id_len, ev.data, ev.data_len);
        from += (size_t)rc;
        if (from == to)
            return;
    }
}

static void feed_begin(struct feed *f, size_t data_cap, struct sse_log *out)
{
    memset(f, 0, sizeof *f);
    f->data = data_cap > 0 ? malloc(data_cap) : NULL;
    FUZZ_CHECK(data_cap == 0 || f->data != NULL);
    f->data_cap = data_cap;
    f->log = out;
    out->n = 0;
    rt_sse_parser_init(&f->p, f->data, data_cap);
}

/* A failed parser stays failed; then the retry value ends the log. */
static void feed_end(struct feed *f, const char *in, size_t len)
{
    fuzz_window(in, len, 0, len);
    if (f->failed) {
        struct rt_sse_event ev;
        bool got = true;
        FUZZ_CHECK(rt_sse_parse(&f->p, "\n\n", 2, &ev, &got) == RT_EBODYTOOBIG && !got);
    }
    sse_log_retry(f->log, f->p.retry_ms);
    free(f->data);
}

void sse_replay(const char *in, size_t len, size_t data_cap, const size_t *cuts, size_t ncuts,
                struct sse_log *out)
{
    struct feed f;
    feed_begin(&f, data_cap, out);
    size_t at = 0;
    for (size_t i = 0; i < ncuts; i++) {
        feed(&f, in, len, at, cuts[i]);
        at = cuts[i];
    }
    feed(&f, in, len, at, len);
    feed_end(&f, in, len);
}

void sse_replay_bytewise(const char *in, size_t len, size_t data_cap, struct sse_log *out)
{
    struct feed f;
    feed_begin(&f, data_cap, out);
    for (size_t i = 0; i < len && !f.failed; i++)
        feed(&f, in, len, i, i + 1);
    feed_end(&f, in, len);
}
