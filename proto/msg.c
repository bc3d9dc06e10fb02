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

/*
 * A validator of RFC 8259 JSON texts, written for rtlab rather than taken
 * from a parser: it only has to say yes or no, so it builds nothing,
 * allocates nothing and goes through the bytes once. It is strict where
 * browsers' JSON.parse() is strict, because every payload we accept is
 * relayed to them: no leading zeros, no "1." or "-.5", only the nine escapes, strings
 * of well-formed UTF-8 without raw control characters, and only space, tab,
 * LF and CR around tokens. A lone surrogate escape ("\ud800") passes, as the
 * grammar and JSON.parse() allow. One limit is ours: arrays and objects
 * nest at most RT_JSON_MAX_DEPTH deep.
 *
 * Scalars (strings, numbers, literals) are scanned by the functions below,
 * each of which takes p at the token's first byte and returns the byte
 * after the token, or NULL when the bytes from p are not that token.
 */

static bool is_json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && is_json_ws(*p))
        p++;
    return p;
}

static const unsigned char *skip_digits(const unsigned char *p, const unsigned char *end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?, of any length: we
 * check the digits, we never convert them. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return NULL;
    p = *p == '0' ? p + 1 : skip_digits(p, end); /* "01" stops after the 0 */
    if (p < end && *p == '.') {
        const unsigned char *frac = p + 1;
        p = skip_digits(frac, end);
        if (p == frac)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const unsigned char *exp = p;
        p = skip_digits(exp, end);
        if (p == exp)
            return NULL;
    }
    return p;
}

static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end,
                                         const char *word, size_t word_len)
{
    if ((size_t)(end - p) < word_len || memcmp(p, word, word_len) != 0)
        return NULL;
    return p + word_len;
}

/*
 * One UTF-8 sequence that starts with a byte from 0x80, as RFC 3629 section
 * 4 draws them: the second byte's range is what rules out overlong forms
 * (after E0 and F0), UTF-16 surrogates (after ED) and code points past
 * U+10FFFF (after F4). C0, C1 and F5..FF never start one; nor does a lone
 * continuation byte (80..BF).
 */
static const unsigned char *scan_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = *p, lo = 0x80, hi = 0xBF;
    size_t more; /* continuation bytes after c */
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return NULL;
    }
    if ((size_t)(end - p) <= more || p[1] < lo || p[1] > hi)
        return NULL;
    for (size_t k = 2; k <= more; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return NULL;
    }
    return p + 1 + more;
}

/* p is at the byte after a backslash. */
static const unsigned char *scan_escape(const unsigned char *p, const unsigned char *end)
{
    if (p == end)
        return NULL;
    if (*p != 'u')
        return memchr("\"\\/bfnrt", *p, 8) != NULL ? p + 1 : NULL;
    if (end - p < 5)
        return NULL;
    for (int k = 1; k <= 4; k++) {
        if (!is_hex(p[k]))
            return NULL;
    }
    return p + 5; /* any four hex digits: lone surrogates too */
}

static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end)
{
    p++; /* the opening quote */
    for (;;) {
        /* Most bytes of most strings are plain printable ASCII. */
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p == end || *p < 0x20)
            return NULL;
        if (*p == '"')
            return p + 1;
        p = *p == '\\' ? scan_escape(p + 1, end) : scan_utf8(p, end);
        if (p == NULL)
            return NULL;
    }
}

static const unsigned char *scan_scalar(const unsigned char *p, const unsigned char *end)
{
    switch (*p) {
    case '"':
        return scan_string(p, end);
    case 't':
        return scan_literal(p, end, "true", 4);
    case 'f':
        return scan_literal(p, end, "false", 5);
    case 'n':
        return scan_literal(p, end, "null", 4);
    default:
        return scan_number(p, end);
    }
}

/*
 * The structure is a state machine over tokens, with whitespace skipped
 * before each one. Its only memory is a stack of one bit per open
 * container (set for an object), which RT_JSON_MAX_DEPTH bounds. It starts
 * in VALUE:
 *
 *   state           token                           next state
 *   --------------  ------------------------------  --------------------------
 *   VALUE           string, number, literal         AFTER_VALUE
 *                   '[' (push)                      VALUE_OR_CLOSE
 *                   '{' (push)                      KEY_OR_CLOSE
 *   VALUE_OR_CLOSE  ']' (pop)                       AFTER_VALUE
 *                   anything else                   as in VALUE
 *   KEY_OR_CLOSE    '}' (pop)                       AFTER_VALUE
 *                   anything else                   as in KEY
 *   KEY             string                          COLON
 *   COLON           ':'                             VALUE
 *   AFTER_VALUE     ','                             KEY in an object,
 *                                                   VALUE in an array
 *                   ']' or '}', closing the top     AFTER_VALUE
 *                   container (pop)
 *                   the end, with no container      (valid)
 *                   open
 *
 * Any other token, the end of the input in any other state, and a push past
 * RT_JSON_MAX_DEPTH make the input invalid (BAD).
 */
enum json_want { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, AFTER_VALUE, BAD };

struct json_stack {
    size_t depth; /* open containers */
    unsigned char is_object[(RT_JSON_MAX_DEPTH + 7) / 8];
};

static bool top_is_object(const struct json_stack *s)
{
    size_t i = s->depth - 1;
    return (s->is_object[i / 8] >> (i % 8)) & 1;
}

/* c is '[' or '{'. */
static enum json_want push(struct json_stack *s, unsigned char c)
{
    if (s->depth == RT_JSON_MAX_DEPTH)
        return BAD;
    size_t i = s->depth++;
    unsigned char bit = (unsigned char)(1u << (i % 8));
    if (c == '{')
        s->is_object[i / 8] |= bit;
    else
        s->is_object[i / 8] &= (unsigned char)~bit;
    return c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
}

/* One row of the table: the token at *p (not whitespace, p < end) in state
 * want. Moves *p past the token and returns the next state. */
static enum json_want step(struct json_stack *s, enum json_want want, const unsigned char **p,
                           const unsigned char *end)
{
    unsigned char c = **p;
    switch (want) {
    case VALUE_OR_CLOSE:
    case KEY_OR_CLOSE:
        if (c == (want == VALUE_OR_CLOSE ? ']' : '}')) {
            s->depth--;
            (*p)++;
            return AFTER_VALUE;
        }
        return step(s, want == VALUE_OR_CLOSE ? VALUE : KEY, p, end);
    case VALUE:
        if (c == '[' || c == '{') {
            (*p)++;
            return push(s, c);
        }
        *p = scan_scalar(*p, end);
        return *p != NULL ? AFTER_VALUE : BAD;
    case KEY:
        *p = c == '"' ? scan_string(*p, end) : NULL;
        return *p != NULL ? COLON : BAD;
    case COLON:
        (*p)++;
        return c == ':' ? VALUE : BAD;
    case AFTER_VALUE:
        (*p)++;
        if (c == ',')
            return top_is_object(s) ? KEY : VALUE;
        if (c != (top_is_object(s) ? '}' : ']'))
            return BAD;
        s->depth--;
        return AFTER_VALUE;
    default:
        return BAD;
    }
}

bool rt_json_valid(const char *data, size_t len)
{
    if (data == NULL)
        return false;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    struct json_stack stack = {0};
    enum json_want want = VALUE;
    for (;;) {
        p = skip_ws(p, end);
        if (want == AFTER_VALUE && stack.depth == 0)
            return p == end; /* one value, and only whitespace after it */
        if (p == end)
            return false;
        want = step(&stack, want, &p, end);
        if (want == BAD)
            return false;
    }
}

/* The same walk as rt_json_valid(), watching the top-level members: a key
 * at depth 1 that equals key arms the match, and the value after it runs
 * from its first token to the moment the walk is back at depth 1. */
int rt_json_get(const char *data, size_t len, const char *key, const char **val, size_t *val_len)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len, *v = NULL;
    size_t klen = strlen(key);
    struct json_stack stack = {0};
    enum json_want want = VALUE;
    bool match = false, in_value = false;
    int found = 0;
    if (data == NULL || (p = skip_ws(p, end)) == end || *p != '{')
        return RT_EBADJSON;
    for (;;) {
        p = skip_ws(p, end);
        if (want == AFTER_VALUE && stack.depth == 0)
            return p == end ? found : RT_EBADJSON;
        if (p == end)
            return RT_EBADJSON;
        const unsigned char *tok = p;
        bool top = stack.depth == 1;
        enum json_want was = want;
        want = step(&stack, want, &p, end);
        if (want == BAD)
            return RT_EBADJSON;
        if (top && want == COLON)
            match = (size_t)(p - tok) == klen + 2 && memcmp(tok + 1, key, klen) == 0;
        else if (top && was == VALUE && match)
            v = tok, in_value = true, match = false;
        if (in_value && stack.depth == 1 && want == AFTER_VALUE) {
            *val = (const char *)v; /* the last one wins, as in JSON.parse() */
            *val_len = (size_t)(p - v);
            in_value = false;
            found = 1;
        }
    }
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
