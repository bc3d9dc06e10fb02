/*
 * sse_ref.h - a deliberately plain transcription of the WHATWG event-stream
 * steps (HTML section 9.2.6), the oracle that tests/test_sse.c and
 * tests/fuzz/fuzz_sse_parse.c hold rt_sse_parse() against. It parses a whole
 * stream at once, line by line, with no cleverness, and reports through a
 * sink: each dispatched event, a limit passed (where rt_sse_parse fails),
 * and the retry value at the end. Header-only: both programs include it.
 */
#ifndef RT_SSE_REF_H
#define RT_SSE_REF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_proto.h"

struct sse_ref_sink {
    void (*event)(void *arg, const char *type, size_t type_len, const char *id, size_t id_len,
                  const char *data, size_t data_len);
    void (*error)(void *arg);             /* a limit was passed: parsing stops */
    void (*retry)(void *arg, int64_t ms); /* at the end: -1 when never set */
    void *arg;
};

struct sse_ref {
    char *data, *type, *id; /* each as long as the input (data: twice) */
    size_t data_len, type_len, id_len, data_cap;
    int64_t retry;
    const struct sse_ref_sink *sink;
};

static inline bool sse_ref_is_field(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Would the unterminated last line already pass a limit? The parser fails
 * as soon as it holds more bytes of a data or event value than fit, since
 * any end of that line would fail too; only the end of the stream could
 * spare it, and that dispatches nothing. */
static inline bool sse_ref_tail_fails(const struct sse_ref *r, const char *l, size_t ll)
{
    const char *colon = memchr(l, ':', ll);
    if (colon == NULL)
        return false;
    size_t flen = (size_t)(colon - l), vlen = ll - flen - 1;
    if (vlen > 0 && colon[1] == ' ')
        vlen--;
    if (sse_ref_is_field(l, flen, "data"))
        return r->data_len + vlen > r->data_cap;
    return sse_ref_is_field(l, flen, "event") && vlen > RT_SSE_EVENT_MAX;
}

/* A blank line: the spec's data buffer holds each line and a LF. */
static inline void sse_ref_dispatch(struct sse_ref *r)
{
    const struct sse_ref_sink *s = r->sink;
    if (r->data_len > 0) {
        r->data_len--; /* the final LF */
        if (r->type_len > 0)
            s->event(s->arg, r->type, r->type_len, r->id, r->id_len, r->data, r->data_len);
        else
            s->event(s->arg, "message", 7, r->id, r->id_len, r->data, r->data_len);
    }
    r->data_len = 0;
    r->type_len = 0;
}

/* "Process the field". Returns false when a limit is passed. */
static inline bool sse_ref_field(struct sse_ref *r, const char *f, size_t flen, const char *v,
                                 size_t vlen)
{
    if (sse_ref_is_field(f, flen, "event")) {
        if (vlen > RT_SSE_EVENT_MAX)
            return false;
        memcpy(r->type, v, vlen);
        r->type_len = vlen;
    } else if (sse_ref_is_field(f, flen, "data")) {
        memcpy(r->data + r->data_len, v, vlen);
        r->data_len += vlen;
        r->data[r->data_len++] = '\n';
        return r->data_len - 1 <= r->data_cap;
    } else if (sse_ref_is_field(f, flen, "id") && (vlen == 0 || memchr(v, '\0', vlen) == NULL)) {
        if (vlen > RT_SSE_ID_MAX)
            return false;
        memcpy(r->id, v, vlen);
        r->id_len = vlen;
    } else if (sse_ref_is_field(f, flen, "retry") && vlen > 0) {
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
static inline bool sse_ref_line(struct sse_ref *r, const char *l, size_t ll)
{
    if (ll == 0) {
        sse_ref_dispatch(r);
        return true;
    }
    if (l[0] == ':')
        return true;
    const char *colon = memchr(l, ':', ll);
    if (colon == NULL)
        return sse_ref_field(r, l, ll, "", 0);
    size_t flen = (size_t)(colon - l);
    const char *v = colon + 1;
    size_t vlen = ll - flen - 1;
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    return sse_ref_field(r, l, flen, v, vlen);
}

/* Parses the whole stream in[0..n) with a data limit of data_cap. */
static inline void sse_ref_parse(const char *in, size_t n, size_t data_cap,
                                 const struct sse_ref_sink *sink)
{
    struct sse_ref r = {.data_cap = data_cap, .retry = -1, .sink = sink};
    r.data = malloc(2 * n + 1); /* all of the input and a LF per line, plus one */
    r.type = malloc(n + 1);
    r.id = malloc(n + 1);
    if (r.data == NULL || r.type == NULL || r.id == NULL)
        abort();
    size_t i = 0;
    if (n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n) {
        size_t end = i;
        while (end < n && in[end] != '\r' && in[end] != '\n')
            end++;
        if (end == n) { /* a line without its end is never processed */
            if (sse_ref_tail_fails(&r, in + i, n - i))
                sink->error(sink->arg);
            break;
        }
        if (!sse_ref_line(&r, in + i, end - i)) {
            sink->error(sink->arg);
            break;
        }
        i = end + 1 + (in[end] == '\r' && end + 1 < n && in[end + 1] == '\n');
    }
    sink->retry(sink->arg, r.retry);
    free(r.data);
    free(r.type);
    free(r.id);
}

#endif
