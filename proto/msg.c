/*
 * msg.c - the one message model on the wire: names, JSON payloads and the
 * message object every approach sends,
 *
 *   {"id":1,"topic":"chat","event":"message","data":{"text":"hi"},"ts":1700000000000000}
 *
 * The data is kept as the bytes the publisher sent (once checked to be one
 * JSON value), so a message is written by copying, never re-serialised.
 * Topic and event names are restricted to characters that need no escaping
 * anywhere we print them, so they are copied too.
 */
#include <limits.h>
#include <string.h>

#include <cJSON.h>

#include "rt_proto.h"

bool rt_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > RT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- JSON validity ------------------------------------------------------ */

static bool is_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * cJSON is lenient in ways that matter to us: it treats every byte up to
 * 0x20 as whitespace, lets raw control characters (a newline, say) stand
 * inside strings, and skips a UTF-8 byte order mark. A raw newline inside a
 * string would also break an SSE "data:" line. This one pass refuses those
 * before cJSON sees the bytes: outside strings only JSON whitespace and
 * ASCII may appear, inside strings no byte below 0x20.
 */
static bool json_bytes_ok(const char *s, size_t len)
{
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (in_string) {
            if (c < 0x20)
                return false;
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c >= 0x80 || (c < 0x20 && !is_json_ws((char)c))) {
            return false;
        }
    }
    return true;
}

bool rt_json_valid(const char *data, size_t len)
{
    if (data == NULL || len == 0 || !json_bytes_ok(data, len))
        return false;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, false);
    if (root == NULL)
        return false;
    cJSON_Delete(root);
    /* cJSON stops right after the value; only whitespace may follow it. */
    for (const char *p = end; p < data + len; p++) {
        if (!is_json_ws(*p))
            return false;
    }
    return true;
}

/* ---- The message object ------------------------------------------------- */

#define LIT_LEN(lit) (sizeof(lit) - 1)

static size_t u64_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static char *put(char *p, const char *s, size_t n)
{
    if (n == 0)
        return p; /* s may be NULL then, which memcpy does not allow */
    memcpy(p, s, n);
    return p + n;
}

/* Writes exactly u64_len(v) digits. */
static char *put_u64(char *p, uint64_t v)
{
    size_t n = u64_len(v);
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

size_t rt_msg_json_len(const struct rt_msg_view *m)
{
    return LIT_LEN("{\"id\":") + u64_len(m->id) + LIT_LEN(",\"topic\":\"") + strlen(m->topic) +
           LIT_LEN("\",\"event\":\"") + strlen(m->event) + LIT_LEN("\",\"data\":") + m->data_len +
           LIT_LEN(",\"ts\":") + u64_len(m->ts_us) + LIT_LEN("}");
}

int rt_msg_json(char *out, size_t cap, const struct rt_msg_view *m)
{
    size_t n = rt_msg_json_len(m);
    if (n > cap || n > INT_MAX)
        return RT_ENOSPACE;
    char *p = out;
    p = put(p, "{\"id\":", LIT_LEN("{\"id\":"));
    p = put_u64(p, m->id);
    p = put(p, ",\"topic\":\"", LIT_LEN(",\"topic\":\""));
    p = put(p, m->topic, strlen(m->topic));
    p = put(p, "\",\"event\":\"", LIT_LEN("\",\"event\":\""));
    p = put(p, m->event, strlen(m->event));
    p = put(p, "\",\"data\":", LIT_LEN("\",\"data\":"));
    p = put(p, m->data, m->data_len);
    p = put(p, ",\"ts\":", LIT_LEN(",\"ts\":"));
    p = put_u64(p, m->ts_us);
    p = put(p, "}", 1);
    return (int)(p - out);
}
