/*
 * json.c - finding values in JSON text without copying or reformatting it.
 *
 * cJSON tells us what an answer says, but printing a value back out with
 * cJSON changes its text: numbers are reformatted (1795826328207180 can come
 * out as 1.79582632820718e+15, 1.0 as 1), and a message's `data` is meant to
 * travel as the bytes its publisher sent. So the client prints the bytes the
 * server sent, found with the small scanner below, only squeezing out the
 * whitespace between tokens so each message fits on one line.
 *
 * The input must already be known to be valid JSON (cJSON parsed it): the
 * scanner then only needs to match brackets and step over strings.
 */
#include <string.h>

#include "internal.h"

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *p, size_t len, size_t i)
{
    while (i < len && is_ws(p[i]))
        i++;
    return i;
}

/* Just past the string whose opening quote is at p[i]. */
static size_t skip_string(const char *p, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (p[i] == '\\')
            i++; /* the escaped character cannot end the string */
        else if (p[i] == '"')
            return i + 1;
    }
    return len;
}

/* Just past the value starting at p[i] (no leading whitespace). */
static size_t skip_value(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (p[i] == '"')
        return skip_string(p, len, i);
    if (p[i] != '{' && p[i] != '[') { /* number, true, false, null */
        while (i < len && !is_ws(p[i]) && p[i] != ',' && p[i] != '}' && p[i] != ']')
            i++;
        return i;
    }
    int depth = 0;
    while (i < len) {
        char c = p[i];
        if (c == '"') {
            i = skip_string(p, len, i);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return len;
}

size_t rt_json_member(const char *p, size_t len, const char *key)
{
    size_t key_len = strlen(key);
    size_t i = skip_ws(p, len, 0);
    if (i >= len || p[i] != '{')
        return len;
    i++;
    for (;;) {
        i = skip_ws(p, len, i);
        if (i >= len || p[i] != '"')
            return len; /* '}' or junk: not there */
        size_t k = i + 1, k_end = skip_string(p, len, i);
        bool match = k_end - k == key_len + 1 && memcmp(p + k, key, key_len) == 0;
        i = skip_ws(p, len, k_end);
        if (i >= len || p[i] != ':')
            return len;
        i = skip_ws(p, len, i + 1);
        if (match)
            return i;
        i = skip_ws(p, len, skip_value(p, len, i));
        if (i >= len || p[i] != ',')
            return len;
        i++;
    }
}

size_t rt_json_next_element(const char *p, size_t len, size_t *at, size_t *start)
{
    size_t i = skip_ws(p, len, *at);
    if (i < len && (p[i] == '[' || p[i] == ','))
        i = skip_ws(p, len, i + 1);
    if (i >= len || p[i] == ']')
        return 0;
    size_t end = skip_value(p, len, i);
    *start = i;
    *at = end;
    return end - i;
}

size_t rt_json_minify(char *out, const char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] == '"') {
            size_t end = skip_string(p, len, i);
            memcpy(out + n, p + i, end - i);
            n += end - i;
            i = end;
        } else {
            if (!is_ws(p[i]))
                out[n++] = p[i];
            i++;
        }
    }
    return n;
}
