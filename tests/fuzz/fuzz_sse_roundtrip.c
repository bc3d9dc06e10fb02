/*
 * fuzz_sse_roundtrip.c - the event-stream encoders against the parser.
 *
 * The input chooses an event (id, type, data, any of them absent), a
 * comment and a retry time: byte 0 holds flags, bytes 1 and 2 the lengths
 * of the id and the type, then come the id, the type and the data (the
 * type's bytes are also the comment's text). The stream
 *
 *     comment, retry, the event, then "data: x" with no id or type
 *
 * is encoded and parsed whole, byte by byte and in input-chosen pieces,
 * and must give what rt_proto.h and the comments in proto/sse.c promise:
 *   - data comes back with each CRLF and lone CR turned into LF (NULs and
 *     all other bytes as they were); absent data dispatches nothing;
 *   - an id or type with line breaks is several lines of that field, and
 *     the last line wins; an id line holding a NUL is ignored; a line
 *     longer than RT_SSE_ID_MAX or RT_SSE_EVENT_MAX fails the stream; an
 *     empty type reads as "message";
 *   - the id sticks: the second event, which names none, carries it;
 *   - comments dispatch nothing, and the retry time comes back;
 *   - each encoder writes exactly its _len (where it has one), and with a
 *     byte less room answers RT_ENOSPACE and writes nothing;
 *   - a data buffer one byte smaller than the data fails the stream.
 */
#include "fuzz.h"
#include "rt_proto.h"
#include "sse_replay.h"

enum {
    NO_ID = 1,
    NO_TYPE = 2,
    NO_DATA = 4,
    WITH_COMMENT = 8,
    WITH_RETRY = 16,
    WITH_SECOND = 32,
};

/* The line after s[*at..n) as put_lines() in proto/sse.c splits it: up to a
 * CRLF, CR or LF, or to the end (the text after the last break is a line
 * too). Returns false when there are no more lines. */
static bool next_line(const char *s, size_t n, size_t *at, bool *done, size_t *start, size_t *len)
{
    if (*done)
        return false;
    size_t i = *at, e = i;
    while (e < n && s[e] != '\r' && s[e] != '\n')
        e++;
    *start = i;
    *len = e - i;
    if (e == n)
        *done = true;
    else
        *at = e + (s[e] == '\r' && e + 1 < n && s[e + 1] == '\n' ? 2 : 1);
    return true;
}

/* What a receiver makes of the field's lines: the last acceptable line wins
 * (*out, *out_len unchanged when none is), false when a line is too long.
 * For ids, lines holding a NUL are ignored. */
static bool last_line(const char *s, size_t n, size_t max, bool is_id, const char **out,
                      size_t *out_len)
{
    size_t at = 0, start, len;
    bool done = false;
    while (next_line(s, n, &at, &done, &start, &len)) {
        if (is_id && len > 0 && memchr(s + start, '\0', len) != NULL)
            continue;
        if (len > max)
            return false;
        *out = s + start;
        *out_len = len;
    }
    return true;
}

/* Data with CRLF and lone CR as LF. Returns its length. */
static size_t normalize(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            continue; /* the LF that follows stands for the pair */
        out[k++] = s[i] == '\r' ? '\n' : s[i];
    }
    return k;
}

/* One of the three encoders with its arguments. */
struct enc {
    const struct rt_sse_event *ev; /* rt_sse_encode */
    const char *text;              /* rt_sse_encode_comment */
    size_t text_len;
    uint32_t ms; /* rt_sse_encode_retry */
    int which;
};

static int run_enc(const struct enc *e, char *out, size_t cap)
{
    if (e->which == 0)
        return rt_sse_encode(out, cap, e->ev);
    if (e->which == 1)
        return rt_sse_encode_comment(out, cap, e->text, e->text_len);
    return rt_sse_encode_retry(out, cap, e->ms);
}

/* Appends e's output to wire[*at..cap), checking the room rules. */
static void append_enc(const struct enc *e, char *wire, size_t *at, size_t cap)
{
    char *out = wire + *at;
    size_t room = cap - *at;
    int n = run_enc(e, out, room);
    FUZZ_CHECK(n > 0 && (size_t)n <= room);
    if (e->which == 0)
        FUZZ_CHECK((size_t)n == rt_sse_encode_len(e->ev));
    char *small = malloc((size_t)n); /* exactly one byte too small, plus a sentinel */
    FUZZ_CHECK(small != NULL);
    memset(small, '~', (size_t)n);
    FUZZ_CHECK(run_enc(e, small, (size_t)n - 1) == RT_ENOSPACE);
    for (size_t i = 0; i < (size_t)n; i++)
        FUZZ_CHECK(small[i] == '~');
    free(small);
    FUZZ_CHECK(run_enc(e, out, (size_t)n) == n); /* exactly enough room */
    *at += (size_t)n;
}

struct input {
    unsigned flags;
    const char *id, *type, *data;
    size_t id_len, type_len, data_len;
    uint32_t ms;
};

static struct input split_input(const uint8_t *d, size_t size, struct fuzz_rng *rng)
{
    struct input in = {0};
    const char *s = (const char *)d;
    size_t at = 0;
    in.flags = size > 0 ? d[at++] : 0;
    size_t id_len = at < size ? d[at++] : 0, type_len = at < size ? d[at++] : 0;
    in.id = s + at;
    in.id_len = id_len < size - at ? id_len : size - at;
    at += in.id_len;
    in.type = s + at;
    in.type_len = type_len < size - at ? type_len : size - at;
    at += in.type_len;
    in.data = s + at;
    in.data_len = size - at;
    in.ms = (uint32_t)fuzz_next(rng);
    return in;
}

/* The log a receiver must write for this stream, with a data buffer of
 * data_cap bytes. */
static void expected_log(const struct input *in, const char *norm, size_t norm_len, size_t data_cap,
                         struct sse_log *want)
{
    const char *id = "", *type = "message";
    size_t id_len = 0, type_len = 7;
    want->n = 0;
    bool ok = true;
    if (!(in->flags & NO_ID))
        ok = last_line(in->id, in->id_len, RT_SSE_ID_MAX, true, &id, &id_len);
    if (ok && !(in->flags & NO_TYPE)) {
        const char *t = type;
        size_t tl = type_len;
        ok = last_line(in->type, in->type_len, RT_SSE_EVENT_MAX, false, &t, &tl);
        if (tl > 0) {
            type = t;
            type_len = tl;
        }
    }
    if (ok && !(in->flags & NO_DATA))
        ok = norm_len <= data_cap;
    if (!ok) {
        sse_log_error(want);
    } else {
        if (!(in->flags & NO_DATA))
            sse_log_event(want, type, type_len, id, id_len, norm, norm_len);
        if (in->flags & WITH_SECOND)
            sse_log_event(want, "message", 7, id, id_len, "x", 1);
    }
    sse_log_retry(want, in->flags & WITH_RETRY ? (int64_t)in->ms : -1);
}

/* Parses the wire every way with a data buffer of data_cap bytes. */
static void check_parse(const char *wire, size_t n, size_t data_cap, const struct sse_log *want,
                        struct fuzz_rng *rng)
{
    struct sse_log got = {0};
    sse_replay(wire, n, data_cap, NULL, 0, &got);
    FUZZ_CHECK(sse_log_equal(&got, want));
    sse_replay_bytewise(wire, n, data_cap, &got);
    FUZZ_CHECK(sse_log_equal(&got, want));
    size_t cuts[16];
    size_t k = fuzz_cuts(rng, n, cuts, sizeof cuts / sizeof cuts[0]);
    sse_replay(wire, n, data_cap, cuts, k, &got);
    FUZZ_CHECK(sse_log_equal(&got, want));
    sse_log_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    struct input in = split_input(data, size, &rng);
    struct rt_sse_event ev = {in.flags & NO_ID ? NULL : in.id,     in.id_len,
                              in.flags & NO_TYPE ? NULL : in.type, in.type_len,
                              in.flags & NO_DATA ? NULL : in.data, in.data_len};
    struct rt_sse_event second = {NULL, 0, NULL, 0, "x", 1};

    /* A line costs at most "event: " and a LF more than its bytes, and
     * every byte can end a line; the type's bytes are the comment's too. */
    size_t cap = 16 * size + 128, n = 0;
    char *wire = malloc(cap);
    FUZZ_CHECK(wire != NULL);
    if (in.flags & WITH_COMMENT)
        append_enc(&(struct enc){.text = in.type, .text_len = in.type_len, .which = 1}, wire, &n,
                   cap);
    if (in.flags & WITH_RETRY)
        append_enc(&(struct enc){.ms = in.ms, .which = 2}, wire, &n, cap);
    append_enc(&(struct enc){.ev = &ev, .which = 0}, wire, &n, cap);
    if (in.flags & WITH_SECOND)
        append_enc(&(struct enc){.ev = &second, .which = 0}, wire, &n, cap);

    char *norm = fuzz_copy(in.data, in.data_len);
    size_t norm_len = normalize(in.data, in.data_len, norm);
    size_t data_cap = norm_len > 1 ? norm_len : 1; /* the second event's "x" needs 1 */
    struct sse_log want = {0};
    expected_log(&in, norm, norm_len, data_cap, &want);
    char *exact = fuzz_copy(wire, n);
    check_parse(exact, n, data_cap, &want, &rng);
    if (!(in.flags & NO_DATA) && norm_len > 1) {
        expected_log(&in, norm, norm_len, norm_len - 1, &want);
        check_parse(exact, n, norm_len - 1, &want, &rng);
    }

    sse_log_free(&want);
    fuzz_free(exact, n);
    fuzz_free(norm, in.data_len);
    free(wire);
    return 0;
}
