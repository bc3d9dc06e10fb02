/*
 * fuzz_msg.c - rt_json_valid() and rt_name_valid(), the gates every
 * published message passes.
 *
 * The input is a candidate JSON payload and a candidate name. Invariants:
 *   - rt_name_valid() accepts exactly 1..RT_NAME_MAX bytes of
 *     [A-Za-z0-9_.:/-], and a valid name quoted is valid JSON (names never
 *     need escaping);
 *   - rt_json_valid() agrees with the plain RFC 8259 validator below on
 *     every input: each JSON text is accepted (with the limits cJSON has:
 *     nesting over 1000 deep and numbers of 64 characters or more are left
 *     out), and each accepted input is a JSON text (but see STRICT_JSON);
 *   - a valid payload stays valid with whitespace around it, and becomes
 *     invalid with a comma after it;
 *   - the message object rt_msg_json() builds around a valid payload is
 *     itself valid JSON of exactly rt_msg_json_len() bytes;
 *   - a valid payload sent as SSE data comes back valid JSON (the transport
 *     turns CR into LF, which only ever stands between tokens).
 */
#include "fuzz.h"
#include "rt_proto.h"

/*
 * Where cJSON (1.7.15) and so rt_json_valid() accept what RFC 8259 does
 * not, a browser's JSON.parse() refuses what rtlab relays:
 *   - numbers are read with strtod(): leading zeros ("01"), a point with no
 *     digit after it ("1.", "1.e5"), or none before it after a minus
 *     ("-.5");
 *   - "\u" takes any four bytes: a non-hex one makes the escape U+0000
 *     ("\uZZZZ").
 * Until proto/msg.c checks these itself, the validator below follows cJSON
 * on numbers and leaves inputs with a bad "\u" uncompared. Build with
 * -DSTRICT_JSON=1 to see each as a crash.
 */
#ifndef STRICT_JSON
#define STRICT_JSON 0
#endif

/* ======================================================================== */
/* A plain RFC 8259 validator                                               */
/* ======================================================================== */

#define MAX_DEPTH 900     /* below cJSON's nesting limit of 1000 */
#define MAX_NUMBER_LEN 63 /* cJSON 1.7.15 reads a number into 64 bytes */

struct json {
    const unsigned char *s;
    size_t n, i;
    int depth;
    bool beyond_cjson; /* a cJSON limit or leniency decides: do not compare */
};

static bool peek(const struct json *j, unsigned char c)
{
    return j->i < j->n && j->s[j->i] == c;
}

static void skip_ws(struct json *j)
{
    while (j->i < j->n && strchr(" \t\n\r", j->s[j->i]) != NULL && j->s[j->i] != '\0')
        j->i++;
}

static size_t digits(struct json *j)
{
    size_t k = 0;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
        j->i++;
        k++;
    }
    return k;
}

/* With STRICT_JSON: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * Without: -? ([0-9]+ (. [0-9]*)? | . [0-9]+) ([eE] [+-]? [0-9]+)? */
static bool number(struct json *j)
{
    size_t start = j->i;
    if (!peek(j, '-') && !(j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9'))
        return false; /* cJSON too starts a number only at these */
    if (peek(j, '-'))
        j->i++;
    size_t lead = j->i, int_digits = digits(j);
    if (!STRICT_JSON) { /* what strtod() takes from the bytes cJSON gives it */
        if (peek(j, '.')) {
            j->i++;
            size_t frac = digits(j);
            if (int_digits == 0 && frac == 0)
                return false;
        } else if (int_digits == 0) {
            return false;
        }
    } else {
        if (int_digits == 0 || (int_digits > 1 && j->s[lead] == '0'))
            return false;
        if (peek(j, '.')) {
            j->i++;
            if (digits(j) == 0)
                return false;
        }
    }
    if (peek(j, 'e') || peek(j, 'E')) {
        j->i++;
        if (peek(j, '+') || peek(j, '-'))
            j->i++;
        if (digits(j) == 0)
            return false;
    }
    if (j->i - start > MAX_NUMBER_LEN)
        j->beyond_cjson = true;
    return true;
}

/* Four hex digits, or -1. Without STRICT_JSON, bytes that are not hex
 * digits (which cJSON takes as U+0000) leave the input uncompared. */
static int hex4(struct json *j)
{
    if (j->n - j->i < 4) {
        j->beyond_cjson |= !STRICT_JSON;
        return -1;
    }
    int v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = j->s[j->i++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            j->beyond_cjson |= !STRICT_JSON;
            return -1;
        }
        v = v << 4 | d;
    }
    return v;
}

/* \uXXXX; a surrogate must be a high one followed by "\u" and a low one
 * (cJSON's rule: the grammar alone would take a lone one). */
static bool unicode_escape(struct json *j)
{
    int hi = hex4(j);
    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
        return false;
    if (hi < 0xD800 || hi > 0xDBFF)
        return true;
    if (j->n - j->i < 2 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u')
        return false;
    j->i += 2;
    int lo = hex4(j);
    return lo >= 0xDC00 && lo <= 0xDFFF;
}

/* Bytes from 0x80 pass as they are: neither cJSON nor rtlab checks UTF-8. */
static bool string(struct json *j)
{
    j->i++; /* the opening quote */
    while (j->i < j->n) {
        unsigned char c = j->s[j->i++];
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (j->i == j->n)
            return false;
        c = j->s[j->i++];
        if (c == 'u') {
            if (!unicode_escape(j))
                return false;
        } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
            return false;
        }
    }
    return false;
}

static bool value(struct json *j);

/* Elements of an array (close = ']') or members of an object ('}'). */
static bool container(struct json *j, unsigned char close)
{
    if (++j->depth > MAX_DEPTH) {
        j->beyond_cjson = true;
        return false;
    }
    j->i++;
    skip_ws(j);
    if (peek(j, close)) {
        j->i++;
        j->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (!peek(j, '"') || !string(j))
                return false;
            skip_ws(j);
            if (!peek(j, ':'))
                return false;
            j->i++;
            skip_ws(j);
        }
        if (!value(j))
            return false;
        skip_ws(j);
        if (peek(j, close)) {
            j->i++;
            j->depth--;
            return true;
        }
        if (!peek(j, ','))
            return false;
        j->i++;
        skip_ws(j);
    }
}

static bool literal(struct json *j, const char *w)
{
    size_t k = strlen(w);
    if (j->n - j->i < k || memcmp(j->s + j->i, w, k) != 0)
        return false;
    j->i += k;
    return true;
}

static bool value(struct json *j)
{
    if (j->i == j->n)
        return false;
    switch (j->s[j->i]) {
    case '{':
        return container(j, '}');
    case '[':
        return container(j, ']');
    case '"':
        return string(j);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    default:
        return number(j);
    }
}

/* Is s[0..n) one JSON text? *beyond says it passes a cJSON limit. */
static bool json_text(const char *s, size_t n, bool *beyond)
{
    struct json j = {(const unsigned char *)s, n, 0, 0, false};
    skip_ws(&j);
    bool ok = value(&j);
    skip_ws(&j);
    *beyond = j.beyond_cjson;
    return ok && j.i == n;
}

/* ======================================================================== */
/* The checks                                                               */
/* ======================================================================== */

static bool valid(const char *s, size_t n)
{
    char *c = fuzz_copy(s, n); /* exactly sized: a read past the end shows */
    bool v = rt_json_valid(c, n);
    fuzz_free(c, n);
    return v;
}

/* s[0..n) wrapped in pre and post. */
static bool valid_wrapped(const char *pre, const char *s, size_t n, const char *post)
{
    size_t a = strlen(pre), b = strlen(post);
    char *c = malloc(a + n + b);
    FUZZ_CHECK(c != NULL);
    memcpy(c, pre, a);
    memcpy(c + a, s, n);
    memcpy(c + a + n, post, b);
    bool v = valid(c, a + n + b);
    free(c);
    return v;
}

static void check_name(const char *s, size_t n)
{
    bool want = n >= 1 && n <= RT_NAME_MAX;
    for (size_t i = 0; i < n && want; i++)
        want = s[i] != '\0' && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_.:/-",
                                      s[i]) != NULL;
    char *c = fuzz_copy(s, n);
    FUZZ_CHECK(rt_name_valid(c, n) == want);
    fuzz_free(c, n);
    if (want)
        FUZZ_CHECK(valid_wrapped("\"", s, n, "\""));
}

/* The message object around a valid payload. */
static void check_msg(const char *s, size_t n, struct fuzz_rng *rng)
{
    struct rt_msg_view m = {fuzz_next(rng), "chat", "score:update", s, n, fuzz_next(rng)};
    size_t len = rt_msg_json_len(&m);
    char *out = malloc(len);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(rt_msg_json(out, len - 1, &m) == RT_ENOSPACE);
    FUZZ_CHECK(rt_msg_json(out, len, &m) == (int)len);
    FUZZ_CHECK(valid(out, len));
    free(out);
}

/* A valid payload through the event stream and back. */
static void check_sse(const char *s, size_t n)
{
    struct rt_sse_event ev = {NULL, 0, NULL, 0, s, n};
    size_t wn = rt_sse_encode_len(&ev);
    char *wire = malloc(wn), *data = malloc(n > 0 ? n : 1);
    FUZZ_CHECK(wire != NULL && data != NULL);
    FUZZ_CHECK(rt_sse_encode(wire, wn, &ev) == (int)wn);
    struct rt_sse_parser p;
    rt_sse_parser_init(&p, data, n);
    struct rt_sse_event got;
    bool dispatched = false;
    FUZZ_CHECK(rt_sse_parse(&p, wire, wn, &got, &dispatched) == (int64_t)wn && dispatched);
    FUZZ_CHECK(valid(got.data, got.data_len));
    free(wire);
    free(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    check_name(s, size);

    bool v = valid(s, size), beyond;
    bool text = json_text(s, size, &beyond);
    if (!beyond)
        FUZZ_CHECK(v == text);
    if (!v)
        return 0;
    FUZZ_CHECK(valid_wrapped(" \t\r\n", s, size, "\n\r\t "));
    FUZZ_CHECK(!valid_wrapped("", s, size, ","));
    check_msg(s, size, &rng);
    check_sse(s, size);
    return 0;
}
