/*
 * sse.c - the event-stream format of Server-Sent Events, without I/O: the
 * encoder the SSE server writes with, and the incremental parser the clients
 * and the load generator read with.
 *
 * The rules are WHATWG HTML sections 9.2.5 and 9.2.6 ("Parsing an event
 * stream", "Interpreting an event stream"). A stream is lines of
 * "field: value"; "data" lines pile up in a data buffer, "event" names the
 * type, "id" sets the last event ID (which outlives the event), "retry" the
 * reconnection time, and a blank line hands the event out:
 *
 *     id: 7
 *     event: score
 *     data: line1
 *     data: line2
 *     <blank line>      -> event "score", id "7", data "line1\nline2"
 *
 * The parser keeps no line buffer. A long-lived stream is fed in whatever
 * pieces the network delivers, so it is a byte-level state machine that
 * stops anywhere and resumes on the next call; a field's value goes straight
 * where it belongs (data into the caller's buffer, the type and id into the
 * parser), found a run at a time with memchr rather than byte by byte.
 *
 * WE SIMPLIFIED: bytes are not decoded as UTF-8 (a browser turns invalid
 * sequences into U+FFFD; we pass them through, which only matters to a
 * caller that compares such bytes); the limits on data, type and id make a
 * stream fail where a browser would grow its buffers.
 */
#include <limits.h>
#include <string.h>

#include "rt_proto.h"

/* ======================================================================== */
/* Finding line ends                                                        */
/* ======================================================================== */

/* How far one search for a LF looks before it also looks for a CR. */
#define EOL_WINDOW 512

/* The index of the first CR or LF in b[from..len), or len. Two memchr calls
 * over the whole rest would be quadratic on a stream whose lines end in CR
 * alone: every search for a LF would run to the end of the buffer. So it
 * searches a window at a time, which bounds the extra work per line. */
static size_t find_eol(const char *b, size_t from, size_t len)
{
    while (from < len) {
        size_t w = len - from < EOL_WINDOW ? len - from : EOL_WINDOW;
        const char *lf = memchr(b + from, '\n', w);
        size_t end = lf != NULL ? (size_t)(lf - b) : from + w;
        const char *cr = memchr(b + from, '\r', end - from);
        if (cr != NULL)
            return (size_t)(cr - b);
        if (lf != NULL)
            return end;
        from = end;
    }
    return len;
}

/* ======================================================================== */
/* Encoding                                                                 */
/* ======================================================================== */

/* Each writer below runs twice: with out == NULL it only counts, so that
 * rt_sse_encode_len() and rt_sse_encode() cannot disagree, and the encoders
 * can refuse a small buffer before writing a byte into it. */

static size_t put(char *out, size_t at, const char *src, size_t n)
{
    if (out != NULL && n > 0)
        memcpy(out + at, src, n);
    return n;
}

/* Writes prefix + line + LF for each line of s[0..n): a CRLF, LF or CR ends
 * a line, and the text after the last break is a line too, even when empty.
 * Returns the bytes written. */
static size_t put_lines(char *out, size_t at, const char *prefix, const char *s, size_t n)
{
    size_t start = at, i = 0;
    for (;;) {
        size_t end = find_eol(s, i, n);
        at += put(out, at, prefix, strlen(prefix));
        at += put(out, at, s + i, end - i);
        at += put(out, at, "\n", 1);
        if (end == n)
            return at - start;
        i = end + (s[end] == '\r' && end + 1 < n && s[end + 1] == '\n' ? 2 : 1);
    }
}

static size_t put_event(char *out, const struct rt_sse_event *ev)
{
    size_t at = 0;
    if (ev->id != NULL)
        at += put_lines(out, at, "id: ", ev->id, ev->id_len);
    if (ev->event != NULL)
        at += put_lines(out, at, "event: ", ev->event, ev->event_len);
    if (ev->data != NULL)
        at += put_lines(out, at, "data: ", ev->data, ev->data_len);
    return at + put(out, at, "\n", 1);
}

static bool fits(size_t need, size_t cap)
{
    return need <= cap && need <= INT_MAX;
}

size_t rt_sse_encode_len(const struct rt_sse_event *ev)
{
    return put_event(NULL, ev);
}

int rt_sse_encode(char *out, size_t cap, const struct rt_sse_event *ev)
{
    size_t need = put_event(NULL, ev);
    if (!fits(need, cap))
        return RT_ENOSPACE;
    put_event(out, ev);
    return (int)need;
}

int rt_sse_encode_retry(char *out, size_t cap, uint32_t ms)
{
    char digits[10]; /* UINT32_MAX has 10 */
    size_t n = 0;
    do {
        digits[sizeof digits - ++n] = (char)('0' + ms % 10);
        ms /= 10;
    } while (ms > 0);
    size_t need = strlen("retry: ") + n + 1;
    if (!fits(need, cap))
        return RT_ENOSPACE;
    size_t at = put(out, 0, "retry: ", strlen("retry: "));
    at += put(out, at, digits + sizeof digits - n, n);
    put(out, at, "\n", 1);
    return (int)need;
}

int rt_sse_encode_comment(char *out, size_t cap, const char *text, size_t len)
{
    if (text == NULL)
        text = ""; /* len is 0 then; this spares put_lines a NULL + 0 */
    size_t need = put_lines(NULL, 0, ":", text, len);
    if (!fits(need, cap))
        return RT_ENOSPACE;
    put_lines(out, 0, ":", text, len);
    return (int)need;
}

/* ======================================================================== */
/* Parsing: the state machine                                               */
/* ======================================================================== */

/*
 * Where the parser is within a line. Line ends (CR, LF, or the CR and LF of
 * a CRLF, even when a call ends between them) are handled before any state
 * sees a byte, in rt_sse_parse(); end_line() then finishes the line and
 * goes back to FIELD.
 *
 *   BOM     EF BB BF are skipped; bytes that only began like them are
 *    |      fed to FIELD as the start of the first field name
 *    v
 *   FIELD <--------------------------------------------------+
 *    |      name bytes: stay                                  |
 *    |      line end, no name yet: a blank line, dispatch ----+
 *    |      line end after a name: that field, empty value ---+
 *    | ':'  (first on a line: a comment, its value skipped)   |
 *    v                                                        |
 *   SPACE   one ' ' is skipped, if there is one               |
 *    |                                                        |
 *    v                                                        |
 *   VALUE   value bytes: stay                                 |
 *           line end: process the field ----------------------+
 *
 * ERROR is final: a limit was passed and every later call fails.
 */
enum { S_BOM, S_FIELD, S_SPACE, S_VALUE, S_ERROR };

/* The field a line sets, decided when its name is complete. Comments and
 * unknown fields are K_IGNORE. */
enum { K_IGNORE, K_DATA, K_EVENT, K_ID, K_RETRY };

void rt_sse_parser_init(struct rt_sse_parser *p, char *data, size_t data_cap)
{
    memset(p, 0, sizeof *p);
    p->data = data;
    p->data_cap = data_cap;
    p->state = S_BOM;
    p->retry_ms = -1;
}

static uint8_t field_kind(const struct rt_sse_parser *p)
{
    static const struct {
        const char *name;
        uint8_t kind;
    } known[] = {{"data", K_DATA}, {"event", K_EVENT}, {"id", K_ID}, {"retry", K_RETRY}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = strlen(known[i].name);
        if (p->field_len == n && memcmp(p->field, known[i].name, n) == 0)
            return known[i].kind;
    }
    return K_IGNORE; /* comments (field_len == 0) land here too */
}

/* Keeps the first bytes of a field name: enough to tell the known ones
 * apart. field_len stops at sizeof field, a length none of them has. */
static void add_name(struct rt_sse_parser *p, const char *b, size_t n)
{
    size_t room = sizeof p->field - p->field_len;
    size_t k = n < room ? n : room;
    memcpy(p->field + p->field_len, b, k);
    p->field_len = (uint8_t)(p->field_len + k);
}

/* The field name is complete (a colon, or a line end without one): get
 * ready for its value. A second data line first adds the LF that joins it
 * to the one before, which is how the spec's "append value and LF" looks
 * once the final LF (removed at dispatch) is never stored. */
static int begin_value(struct rt_sse_parser *p)
{
    p->kind = field_kind(p);
    p->value_len = 0;
    p->value_nul = false;
    p->value_bad = false;
    p->retry_value = 0;
    if (p->kind == K_EVENT)
        p->event_len = 0;
    if (p->kind != K_DATA)
        return 0;
    if (p->has_data) {
        if (p->data_len == p->data_cap)
            return RT_EBODYTOOBIG;
        p->data[p->data_len++] = '\n';
    }
    p->has_data = true;
    return 0;
}

static int append(char *dst, size_t *dst_len, size_t cap, const char *b, size_t n)
{
    if (n > cap - *dst_len)
        return RT_EBODYTOOBIG;
    memcpy(dst + *dst_len, b, n);
    *dst_len += n;
    return 0;
}

/* An id is kept aside until its line ends: a NUL anywhere in it means the
 * whole line is ignored, and the last event ID must not change meanwhile. */
static void add_id(struct rt_sse_parser *p, const char *b, size_t n)
{
    if (memchr(b, '\0', n) != NULL)
        p->value_nul = true;
    size_t room = sizeof p->value - p->value_len;
    size_t k = n < room ? n : room;
    memcpy(p->value + p->value_len, b, k);
    p->value_len += k;
    if (k < n)
        p->value_bad = true;
}

/* "retry" digits are turned into a number as they come (saturating, since
 * the spec puts no bound on them), so a long value needs no storage. */
static void add_retry(struct rt_sse_parser *p, const char *b, size_t n)
{
    for (size_t i = 0; i < n && !p->value_bad; i++) {
        if (b[i] < '0' || b[i] > '9') {
            p->value_bad = true;
            break;
        }
        int64_t d = b[i] - '0';
        if (p->retry_value > (INT64_MAX - d) / 10)
            p->retry_value = INT64_MAX;
        else
            p->retry_value = p->retry_value * 10 + d;
        p->value_len++;
    }
}

/* Bytes of the value of the field being read (no line end among them). */
static int add_value(struct rt_sse_parser *p, const char *b, size_t n)
{
    switch (p->kind) {
    case K_DATA:
        return append(p->data, &p->data_len, p->data_cap, b, n);
    case K_EVENT:
        return append(p->event, &p->event_len, sizeof p->event, b, n);
    case K_ID:
        add_id(p, b, n);
        return 0;
    case K_RETRY:
        add_retry(p, b, n);
        return 0;
    default:
        return 0; /* comments and unknown fields are skipped whole */
    }
}

/* Part of a line, b[0..n) without line ends: runs it through the states. */
static int feed_line(struct rt_sse_parser *p, const char *b, size_t n)
{
    while (n > 0) {
        size_t used = n;
        int rc = 0;
        if (p->state == S_FIELD) {
            const char *colon = memchr(b, ':', n);
            used = colon != NULL ? (size_t)(colon - b) : n;
            add_name(p, b, used);
            if (colon != NULL) {
                used++;
                p->state = S_SPACE;
                rc = begin_value(p);
            }
        } else if (p->state == S_SPACE) {
            used = b[0] == ' ' ? 1 : 0;
            p->state = S_VALUE;
        } else {
            rc = add_value(p, b, n);
        }
        if (rc < 0)
            return rc;
        b += used;
        n -= used;
    }
    return 0;
}

/* A line's value is complete: the fields that act only on whole values. */
static int end_value(struct rt_sse_parser *p)
{
    if (p->kind == K_ID && !p->value_nul) {
        if (p->value_bad)
            return RT_EBODYTOOBIG;
        memcpy(p->id, p->value, p->value_len);
        p->id_len = p->value_len;
    } else if (p->kind == K_RETRY && !p->value_bad && p->value_len > 0) {
        p->retry_ms = p->retry_value;
    }
    return 0;
}

/* A blank line. The spec's data buffer is empty when no data line came;
 * the type is reset either way, and the last event ID never is. */
static int dispatch(struct rt_sse_parser *p, struct rt_sse_event *ev)
{
    bool had_data = p->has_data;
    if (had_data) {
        ev->id = p->id;
        ev->id_len = p->id_len;
        ev->event = p->event_len > 0 ? p->event : "message";
        ev->event_len = p->event_len > 0 ? p->event_len : strlen("message");
        ev->data = p->data != NULL ? p->data : "";
        ev->data_len = p->data_len;
    }
    /* ev keeps its views: the bytes stay put until the next call. */
    p->has_data = false;
    p->data_len = 0;
    p->event_len = 0;
    return had_data ? 1 : 0;
}

/* A line end. Returns 1 when an event was dispatched, 0, or an error. */
static int end_line(struct rt_sse_parser *p, struct rt_sse_event *ev)
{
    int rc = 0;
    if (p->state == S_FIELD && p->field_len == 0) {
        rc = dispatch(p, ev);
    } else {
        if (p->state == S_FIELD) /* no colon: the value is empty */
            rc = begin_value(p);
        if (rc == 0)
            rc = end_value(p);
    }
    p->state = S_FIELD;
    p->field_len = 0;
    return rc;
}

/* At the stream's start: skips a UTF-8 BOM, which may come split across
 * calls. Bytes that began like one but were not are the start of the first
 * field name, and are fed as such. Returns the bytes of buf it used. */
static size_t skip_bom(struct rt_sse_parser *p, const char *buf, size_t len)
{
    static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
    size_t i = 0;
    while (i < len && p->bom_seen < sizeof bom && buf[i] == bom[p->bom_seen]) {
        i++;
        p->bom_seen++;
    }
    if (p->bom_seen == sizeof bom) {
        p->state = S_FIELD;
    } else if (i < len) {
        p->state = S_FIELD;
        (void)feed_line(p, bom, p->bom_seen); /* name bytes only: cannot fail */
    }
    return i;
}

static int64_t fail(struct rt_sse_parser *p, int rc)
{
    p->state = S_ERROR;
    return rc;
}

int64_t rt_sse_parse(struct rt_sse_parser *p, const char *buf, size_t len, struct rt_sse_event *ev,
                     bool *got)
{
    size_t i = 0;
    *got = false;
    if (p->state == S_ERROR)
        return RT_EBODYTOOBIG;
    if (p->state == S_BOM)
        i = skip_bom(p, buf, len);
    while (i < len) {
        if (p->after_cr) {
            p->after_cr = false;
            if (buf[i] == '\n') { /* the LF of a CRLF */
                i++;
                continue;
            }
        }
        size_t end = find_eol(buf, i, len);
        int rc = feed_line(p, buf + i, end - i);
        if (rc == 0 && end < len) {
            p->after_cr = buf[end] == '\r';
            rc = end_line(p, ev);
        }
        if (rc < 0)
            return fail(p, rc);
        i = end < len ? end + 1 : end;
        if (rc > 0) {
            *got = true;
            return (int64_t)i;
        }
    }
    return (int64_t)len;
}
