/*
 * fuzz_msg.c - rt_json_valid() and rt_name_valid(), the gates every
 * published message passes.
 *
 * The input is a candidate JSON payload and a candidate name. Invariants:
 *   - rt_name_valid() accepts exactly 1..RT_NAME_MAX bytes of
 *     [A-Za-z0-9_.:/-], and a valid name quoted is valid JSON (names never
 *     need escaping);
 *   - rt_json_valid() agrees with the plain RFC 8259 validator below on
 *     every input, with nothing left uncompared: the same grammar, strings
 *     of well-formed UTF-8, and the same nesting limit, RT_JSON_MAX_DEPTH;
 *   - a valid payload stays valid with whitespace around it, becomes
 *     invalid with a comma after it, and stays valid inside [ ] exactly when
 *     it nests less than RT_JSON_MAX_DEPTH deep;
 *   - the message object rt_msg_json() builds around a valid payload is
 *     itself a JSON text of exactly rt_msg_json_len() bytes, one level
 *     deeper (so rt_json_valid() takes it when the payload has a level to
 *     spare);
 *   - a valid payload sent as SSE data comes back valid JSON (the transport
 *     turns CR into LF, which only ever stands between tokens).
 *
 * The validator below is written the plain way on purpose, unlike
 * proto/msg.c: recursive descent, and UTF-8 decoded to a code point that is
 * then checked, where msg.c runs a state machine and checks byte ranges.
 * Two different readings of RFC 8259 and RFC 3629 that agree on every input
 * are likelier both right.
 */
#include "fuzz.h"
#include "rt_proto.h"

/* ======================================================================== */
/* A plain RFC 8259 validator                                               */
/* ======================================================================== */

struct json {
    const unsigned char *s;
    size_t n, i;
    int depth, max_depth; /* open containers; the most allowed */
    int deepest;          /* the most that were open at once */
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

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool number(struct json *j)
{
    if (peek(j, '-'))
        j->i++;
    size_t lead = j->i, int_digits = digits(j);
    if (int_digits == 0 || (int_digits > 1 && j->s[lead] == '0'))
        return false;
    if (peek(j, '.')) {
        j->i++;
        if (digits(j) == 0)
            return false;
    }
    if (peek(j, 'e') || peek(j, 'E')) {
        j->i++;
        if (peek(j, '+') || peek(j, '-'))
            j->i++;
        if (digits(j) == 0)
            return false;
    }
    return true;
}

/* Four hex digits, or -1. Any four will do: the grammar takes a lone
 * surrogate ("\ud800"), and so does JSON.parse(). */
static int hex4(struct json *j)
{
    if (j->n - j->i < 4)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = j->s[j->i++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* One UTF-8 sequence whose lead byte (0x80 or more) was just read: decode
 * it, then refuse overlong forms, UTF-16 surrogates and code points past
 * U+10FFFF (RFC 3629 section 3). */
static bool utf8(struct json *j, unsigned char lead)
{
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000}; /* by length */
    int len = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || j->n - j->i < (size_t)(len - 1))
        return false;
    uint32_t cp = lead & (0x7F >> len);
    for (int k = 1; k < len; k++) {
        unsigned char c = j->s[j->i++];
        if ((c & 0xC0) != 0x80)
            return false;
        cp = cp << 6 | (c & 0x3F);
    }
    return cp >= least[len] && !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
}

static bool string(struct json *j)
{
    j->i++; /* the opening quote */
    while (j->i < j->n) {
        unsigned char c = j->s[j->i++];
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            if (!utf8(j, c))
                return false;
            continue;
        }
        if (c != '\\')
            continue;
        if (j->i == j->n)
            return false;
        c = j->s[j->i++];
        if (c == 'u') {
            if (hex4(j) < 0)
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
    if (++j->depth > j->max_depth)
        return false;
    if (j->depth > j->deepest)
        j->deepest = j->depth;
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

/* Is s[0..n) one JSON text with containers nested at most max_depth deep?
 * *deepest says how deep they went (when it is one). */
static bool json_text(const char *s, size_t n, int max_depth, int *deepest)
{
    struct json j = {(const unsigned char *)s, n, 0, 0, max_depth, 0};
    skip_ws(&j);
    bool ok = value(&j);
    skip_ws(&j);
    *deepest = j.deepest;
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

/* The message object around a valid payload that nests depth deep. */
static void check_msg(const char *s, size_t n, int depth, struct fuzz_rng *rng)
{
    struct rt_msg_view m = {fuzz_next(rng), "chat", "score:update", s, n, fuzz_next(rng)};
    size_t len = rt_msg_json_len(&m);
    char *out = malloc(len);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(rt_msg_json(out, len - 1, &m) == RT_ENOSPACE);
    FUZZ_CHECK(rt_msg_json(out, len, &m) == (int)len);
    int deepest;
    FUZZ_CHECK(json_text(out, len, RT_JSON_MAX_DEPTH + 1, &deepest) && deepest == depth + 1);
    FUZZ_CHECK(valid(out, len) == (depth < RT_JSON_MAX_DEPTH));
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

    int depth;
    bool v = valid(s, size);
    FUZZ_CHECK(v == json_text(s, size, RT_JSON_MAX_DEPTH, &depth));
    if (!v)
        return 0;
    FUZZ_CHECK(valid_wrapped(" \t\r\n", s, size, "\n\r\t "));
    FUZZ_CHECK(!valid_wrapped("", s, size, ","));
    FUZZ_CHECK(valid_wrapped("[", s, size, "]") == (depth < RT_JSON_MAX_DEPTH));
    check_msg(s, size, depth, &rng);
    check_sse(s, size);
    return 0;
}
