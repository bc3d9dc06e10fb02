/*
 * nchan.c - where a subscriber is in an nchan channel, for the load
 * generator's --peer nchan (internal.h, "Peers").
 *
 * nchan names a message by (time, tag): the second it was stored and a
 * counter within that second. A subscriber resumes after a message by
 * handing that pair back, in one of two spellings:
 *
 *   EventSource   id: 1795830383:1            ->  Last-Event-ID: 1795830383:1
 *   WebSocket     "id: 1795830383:1\n...\n\n"  ->  Last-Event-ID: 1795830383:1
 *   (ws+meta.nchan: a header before the body)      (on the upgrade request)
 *   long-poll     Last-Modified: <HTTP date>  ->  If-Modified-Since: <the same date>
 *                 Etag: 1                     ->  If-None-Match: 1
 *
 * So a cursor is kept as the two numbers, 16 bytes a subscriber, and
 * spelled out only when a request is made.
 *
 * WE SIMPLIFIED: one channel per subscriber (nchan's multiplexed ids,
 * "TIME:[TAG,TAG]", are not read), and only the IMF-fixdate form of an HTTP
 * date, which is what nginx sends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Month names as HTTP dates spell them, whatever the locale. */
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Reads a decimal number of 1 to 19 digits from p[0..n); false otherwise. */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

bool rt_nchan_cursor_from_id(struct rt_nchan_cursor *c, const char *id, size_t len)
{
    const char *colon = memchr(id, ':', len);
    uint64_t t, tag;
    if (colon == NULL || !parse_u64(id, (size_t)(colon - id), &t) ||
        !parse_u64(colon + 1, len - (size_t)(colon + 1 - id), &tag) || tag > UINT32_MAX)
        return false;
    *c = (struct rt_nchan_cursor){.time_s = t, .tag = (uint32_t)tag, .set = true};
    return true;
}

/* ws+meta.nchan frames start "id: TIME:TAG\n", maybe more header lines
 * ("content-type: T\n" when the publisher named one), then "\n" and the
 * body. */
bool rt_nchan_cursor_from_ws_frame(struct rt_nchan_cursor *c, const char *p, size_t len,
                                   size_t *body_at)
{
    static const char id[] = "id: ";
    const size_t id_len = sizeof id - 1;
    const char *end = p + len;
    const char *line_end = len > id_len && memcmp(p, id, id_len) == 0 ? memchr(p, '\n', len) : NULL;
    if (line_end == NULL)
        return false;
    /* The header ends at the first empty line: "\n\n". */
    const char *nl = line_end;
    while (nl + 1 < end && nl[1] != '\n')
        if ((nl = memchr(nl + 1, '\n', (size_t)(end - nl - 1))) == NULL)
            return false;
    struct rt_nchan_cursor got;
    if (nl + 1 >= end ||
        !rt_nchan_cursor_from_id(&got, p + id_len, (size_t)(line_end - p) - id_len))
        return false;
    *c = got;
    *body_at = (size_t)(nl + 2 - p);
    return true;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110's IMF-fixdate) to seconds since
 * the epoch: the reverse of proto's rt_http_date(). */
static bool parse_http_date(const char *p, size_t n, uint64_t *out)
{
    char buf[32], mon[4];
    struct tm tm = {0};
    int used = 0;
    if (n != 29)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (sscanf(buf, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &tm.tm_mday, mon,
               &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 29)
        return false;
    tm.tm_mon = -1;
    for (int m = 0; m < 12; m++)
        if (strcmp(mon, month_names[m]) == 0)
            tm.tm_mon = m;
    /* timegm() would make sense of a 32nd or a 13th month; we do not. */
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 1970 || tm.tm_hour < 0 ||
        tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *out = (uint64_t)t;
    return true;
}

bool rt_nchan_cursor_from_head(struct rt_nchan_cursor *c, const struct rt_http_response *head)
{
    const struct rt_http_header *lm =
        rt_http_header_find(head->headers, head->num_headers, "Last-Modified");
    const struct rt_http_header *et = rt_http_header_find(head->headers, head->num_headers, "Etag");
    uint64_t t, tag;
    if (lm == NULL || et == NULL || !parse_http_date(lm->value, lm->value_len, &t))
        return false;
    const char *v = et->value;
    size_t n = et->value_len;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') { /* a quoted entity tag, should one come */
        v++;
        n -= 2;
    }
    if (!parse_u64(v, n, &tag) || tag > UINT32_MAX)
        return false;
    *c = (struct rt_nchan_cursor){.time_s = t, .tag = (uint32_t)tag, .set = true};
    return true;
}

static int fits(int n, size_t cap)
{
    return n >= 0 && (size_t)n < cap ? n : -1;
}

int rt_nchan_cursor_sse_header(const struct rt_nchan_cursor *c, char *out, size_t cap)
{
    if (!c->set)
        return fits(snprintf(out, cap, "%s", ""), cap);
    return fits(snprintf(out, cap, "Last-Event-ID: %" PRIu64 ":%" PRIu32 "\r\n", c->time_s, c->tag),
                cap);
}

int rt_nchan_cursor_poll_headers(const struct rt_nchan_cursor *c, char *out, size_t cap)
{
    if (!c->set)
        return fits(snprintf(out, cap, "%s", ""), cap);
    char date[30];
    rt_http_date(date, (int64_t)c->time_s);
    return fits(
        snprintf(out, cap, "If-Modified-Since: %s\r\nIf-None-Match: %" PRIu32 "\r\n", date, c->tag),
        cap);
}
