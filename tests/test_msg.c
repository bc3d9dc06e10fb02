/*
 * test_msg.c - the message model in proto/msg.c: names, JSON validity and
 * the message object's exact bytes.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "rt_proto.h"

/* ---- Names -------------------------------------------------------------- */

static void test_name_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "a",
        "chat",
        "Chat_Room-1",
        "sensors/room.1:temp",
        "message",
        "0",
        "-",
        "a/b/c",
        "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!rt_name_valid(ok[i], strlen(ok[i])))
            fail_msg("refused \"%s\"", ok[i]);
    }

    static const char *const bad[] = {
        "",
        "a b",
        "a\"b",
        "a\\b",
        "a\nb",
        "a\rb",
        "a,b",
        "a?b",
        "a&b",
        "a=b",
        "a%20b",
        "caf\xc3\xa9",
        "a\tb",
        "<script>",
        "a#b",
        "a+b",
        "01234567890123456789012345678901234567890123456789012345678901234", /* 65 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rt_name_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted \"%s\"", bad[i]);
    }

    /* Only name[0..len) counts; a NUL inside is not a character of a name. */
    assert_true(rt_name_valid("ab cd", 2));
    assert_false(rt_name_valid("a\0b", 3));
    assert_false(rt_name_valid(NULL, 0));
}

/* ---- JSON validity ------------------------------------------------------ */

static void test_json_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "0",
        "-1.5e10",
        "1E+2",
        "true",
        "false",
        "null",
        "\"\"",
        "\"text with \\\"quotes\\\", \\\\ and \\u00e9\"",
        "\"caf\xc3\xa9\"",
        "[]",
        "{}",
        "[1,2,[3,{\"a\":null}]]",
        "{\"text\":\"hi\",\"n\":1,\"ok\":true,\"list\":[1,\"2\"]}",
        " \t\r\n{\"a\" : 1}\n",
        "{\n  \"pretty\": [\n    1\n  ]\n}",
        "  42  ",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!rt_json_valid(ok[i], strlen(ok[i])))
            fail_msg("refused %s", ok[i]);
    }

    static const char *const bad[] = {
        "",
        " ",
        "\n\t",
        "{",
        "}",
        "[1,2",
        "{\"a\":}",
        "{\"a\" 1}",
        "{a:1}",
        "'single'",
        "\"unterminated",
        "tru",
        "nul",
        "undefined",
        "NaN",
        "+1",
        ".5",
        "1e",
        "1 2",
        "{} {}",
        "[] x",
        "{}garbage",
        "null,",
        "\"a\nb\"",       /* a raw newline inside a string */
        "\"a\tb\"",       /* a raw tab inside a string */
        "\x01{}",         /* a control byte that is not JSON whitespace */
        "[1,\x0b 2]",     /* likewise, inside an array */
        "{}\x0c",         /* and after the value */
        "\xef\xbb\xbf{}", /* a byte order mark */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rt_json_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted \"%s\"", bad[i]);
    }

    /* Only data[0..len) is read: a valid prefix is valid, and bytes past
     * len never make a value complete. */
    assert_true(rt_json_valid("[1]xyz", 3));
    assert_false(rt_json_valid("[1]", 2));
    assert_false(rt_json_valid("123", 0));
    assert_false(rt_json_valid(NULL, 0));
    /* A NUL after the value is garbage too. */
    assert_false(rt_json_valid("{}\0", 3));
    assert_false(rt_json_valid("\"a\0b\"", 5));

    /* Exactly-sized heap copies, so AddressSanitizer sees any over-read. */
    static const char *const probes[] = {
        "12345",          "\"abc\"",
        "[1,2]",          "{\"a\":1}",
        "true",           "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "\"\\u00e9\\n\"", "[-0.5e+3,{\"k\":[false,null]}]"};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        size_t len = strlen(probes[i]);
        for (size_t n = 1; n <= len; n++) {
            char *b = malloc(n);
            assert_non_null(b);
            memcpy(b, probes[i], n);
            bool want = n == len || (i == 0); /* every prefix of a number is a number */
            assert_int_equal(rt_json_valid(b, n), want);
            free(b);
        }
    }
}

/* Each of texts[] (NUL-terminated) must give want. */
static void json_each(const char *const *texts, size_t n, bool want)
{
    for (size_t i = 0; i < n; i++) {
        if (rt_json_valid(texts[i], strlen(texts[i])) != want)
            fail_msg("%s %s", want ? "refused" : "accepted", texts[i]);
    }
}

#define JSON_EACH(texts, want) json_each(texts, sizeof(texts) / sizeof(texts[0]), want)

/* Numbers by RFC 8259 section 6, with the cases fuzzing found cJSON taking
 * (tests/fuzz/crashes/msg-*): a leading zero, a point with no digit after
 * it, none before it. */
static void test_json_numbers(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "0",          "-0",       "0.8",        "4.0",
        "1.0e5",      "-0.15",    "0e0",        "0E-0",
        "1e+999999",  "-1.5E-10", "10",         "90",
        "[0,-0,0.0]", "[1e1]",    "{\"n\":-0}", "123456789012345678901234567890",
    };
    static const char *const bad[] = {
        "08",   "00",    "-01",      "012.5",     "4.",  "1.e5",   "-.15",  ".5",
        "-",    "--1",   "+1",       "1e",        "1e+", "1E-",    "1e5.0", "1.5.2",
        "0x10", "1_000", "Infinity", "-Infinity", "NaN", "[08]",   "[4.]",  "{\"n\":-.15}",
        "1 .5", "- 1",   "1e 5",     "1.",        "-0.", "[1.,2]",
    };
    JSON_EACH(ok, true);
    JSON_EACH(bad, false);

    /* Any length: we check digits, we never convert them. cJSON read a
     * number into 64 bytes, so these are around its edge, then far past. */
    static const size_t lens[] = {63, 64, 65, 1000, 100000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];
        char *b = malloc(2 * n + 8);
        assert_non_null(b);
        for (size_t k = 0; k < n; k++)
            b[k] = (char)('1' + k % 9);
        assert_true(rt_json_valid(b, n)); /* 123456789123... */
        b[0] = '-';
        assert_true(rt_json_valid(b, n)); /* -23456789123... */
        b[0] = '0';
        assert_false(rt_json_valid(b, n)); /* 023456789123... */
        b[0] = '1';
        b[n / 2] = '.';
        assert_true(rt_json_valid(b, n)); /* 1234.678912... */
        memcpy(b + n, "e-", 2);
        memcpy(b + n + 2, b + n / 2 + 1, n - n / 2 - 1); /* the fraction again */
        assert_true(rt_json_valid(b, 2 * n + 1 - n / 2));
        assert_false(rt_json_valid(b, n + 2)); /* ends in "e-" */
        free(b);
    }
}

/* Escapes: the nine of RFC 8259 section 7, \u with exactly four hex digits. */
static void test_json_escapes(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u0000\"",
        "\"\\u00e9\\u00E9\\uFFFF\\uabcd\"",
        "\"\\uD83D\\uDE00\"", /* a surrogate pair */
        "\"\\ud800\"",        /* a lone high surrogate: the grammar allows it */
        "\"\\udc00\"",        /* a lone low one */
        "\"\\uDBFF\\u0041\"", /* a high one followed by no low one */
        "\"\\uDE00\\uD83D\"", /* a pair the wrong way round */
        "{\"\\u0041\":\"\\/\"}",
    };
    static const char *const bad[] = {
        "\"\\uZZZZ\"",     /* tests/fuzz/crashes/msg-bad-unicode-escape */
        "\"\\u\221e\\b\"", /* msg-bad-unicode-escape-fuzzed: "\u", 0x91, "e\b" */
        "\"\\u12\"",
        "\"\\u123\"",
        "\"\\u123g\"",
        "\"\\u-123\"",
        "\"\\u 123\"",
        "\"\\U0041\"",
        "\"\\a\"",
        "\"\\x41\"",
        "\"\\'\"",
        "\"\\0\"",
        "\"\\ \"",
        "\"\\\"", /* the quote is escaped: unterminated */
        "\"\\",
        "\"\\u",
        "\"\\u00e\"",
        "{\"\\q\":1}",
    };
    JSON_EACH(ok, true);
    JSON_EACH(bad, false);

    /* Every byte after a backslash: exactly the nine (and u with hex). */
    for (int c = 0; c < 256; c++) {
        char b[] = {'"', '\\', (char)c, '"'};
        bool want = c != 0 && strchr("\"\\/bfnrt", c) != NULL;
        if (rt_json_valid(b, sizeof b) != want)
            fail_msg("\"\\%c\" (byte %d): want %d", c, c, want);
    }
}

/* Encodes code point cp as UTF-8 the textbook way, whatever it is (no
 * checks): bytes written. */
static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* True when s[0..n) is UTF-8 (RFC 3629) without C0 controls, '"' or '\\',
 * found by decoding each sequence's payload bits at every length that
 * fits and keeping the length whose shortest encoding gives the same bytes
 * back: overlong forms, bad continuation bytes and bad lead bytes never do. */
static bool utf8_oracle(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        for (size_t l = 1; l <= 4 && len == 0 && i + l <= n; l++) {
            uint32_t cp = s[i] & (l == 1 ? 0x7F : 0x7F >> l);
            for (size_t k = 1; k < l; k++)
                cp = cp << 6 | (s[i + k] & 0x3F);
            char enc[4];
            if (cp <= 0x10FFFF && utf8_put(enc, cp) == l && memcmp(enc, s + i, l) == 0 &&
                !(cp >= 0xD800 && cp <= 0xDFFF))
                len = l;
        }
        if (len == 0 || (len == 1 && (s[i] < 0x20 || s[i] == '"' || s[i] == '\\')))
            return false;
        i += len;
    }
    return true;
}

/* Strings hold UTF-8 by RFC 3629: no overlong forms, no encoded surrogates,
 * nothing past U+10FFFF, no stray or missing continuation bytes; and no raw
 * byte below 0x20. */
static void test_json_utf8(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "\"\x7f\"",             /* DEL is not a control character to JSON */
        "\"\xc2\x80\"",         /* U+0080, the first two-byte one */
        "\"\xdf\xbf\"",         /* U+07FF, the last */
        "\"\xe0\xa0\x80\"",     /* U+0800, the first three-byte one */
        "\"\xed\x9f\xbf\"",     /* U+D7FF, just below the surrogates */
        "\"\xee\x80\x80\"",     /* U+E000, just above them */
        "\"\xef\xbf\xbd\"",     /* U+FFFD */
        "\"\xef\xbf\xbf\"",     /* U+FFFF, a noncharacter but a scalar value */
        "\"\xf0\x90\x80\x80\"", /* U+10000, the first four-byte one */
        "\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF, the last code point */
        "{\"caf\xc3\xa9\":\"\xe2\x82\xac\"}",
    };
    static const char *const bad[] = {
        "\"\xc0\x80\"",                 /* U+0000 overlong */
        "\"\xc1\xbf\"",                 /* U+007F overlong */
        "\"\xe0\x80\x80\"",             /* U+0000 overlong in three bytes */
        "\"\xe0\x9f\xbf\"",             /* U+07FF overlong */
        "\"\xf0\x80\x80\x80\"",         /* U+0000 overlong in four */
        "\"\xf0\x8f\xbf\xbf\"",         /* U+FFFF overlong */
        "\"\xed\xa0\x80\"",             /* U+D800, a surrogate */
        "\"\xed\xbf\xbf\"",             /* U+DFFF */
        "\"\xed\xa0\xbd\xed\xb8\x80\"", /* a surrogate pair as CESU-8 */
        "\"\xf4\x90\x80\x80\"",         /* U+110000 */
        "\"\xf5\x80\x80\x80\"",         /* F5 never starts a sequence */
        "\"\xf7\xbf\xbf\xbf\"",
        "\"\xf8\x88\x80\x80\x80\"", /* the old five-byte form */
        "\"\xfc\x84\x80\x80\x80\x80\"",
        "\"\xfe\"",
        "\"\xff\"",
        "\"\x80\"", /* a continuation byte alone */
        "\"\xbf\"",
        "\"\xc3\"",     /* a lead byte alone */
        "\"\xe2\x82\"", /* a sequence cut short */
        "\"\xf0\x9f\x98\"",
        "\"\xc3\x41\"", /* a continuation byte missing */
        "\"\xe2\x41\xac\"",
        "\"\xf0\x9f\x98\xc0\"",
        "\"\xc3\xa9\xa9\"",      /* one too many */
        "\xc3\xa9",              /* outside a string: no token starts so */
        "[\"a\",\xc2\xa0\"b\"]", /* U+00A0 is not JSON whitespace */
        "\"a\xc3",               /* the input ends in the sequence */
    };
    JSON_EACH(ok, true);
    JSON_EACH(bad, false);

    /* Every code point, encoded: all pass but the surrogates, the C0
     * controls and the two that need an escape. */
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char b[6] = {'"'};
        size_t n = utf8_put(b + 1, cp);
        b[n + 1] = '"';
        bool want = cp >= 0x20 && cp != '"' && cp != '\\' && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (rt_json_valid(b, n + 2) != want)
            fail_msg("U+%04X: want %d", (unsigned)cp, want);
    }

    /* Every string of one to four bytes drawn from the bytes at the edges of
     * the UTF-8 ranges, against utf8_oracle(). */
    static const unsigned char edge[] = {0x00, 0x1f, 0x20, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                         0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
                                         0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3,
                                         0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc, 0xfe, 0xff};
    size_t ne = sizeof edge, checked = 0;
    for (size_t len = 1; len <= 4; len++) {
        size_t combos = 1;
        for (size_t k = 0; k < len; k++)
            combos *= ne;
        for (size_t c = 0; c < combos; c++) {
            unsigned char b[6] = {'"'};
            for (size_t k = 0, v = c; k < len; k++, v /= ne)
                b[1 + k] = edge[v % ne];
            b[len + 1] = '"';
            if (rt_json_valid((const char *)b, len + 2) != utf8_oracle(b + 1, len))
                fail_msg("%zu bytes from %02x: want %d", len, b[1], utf8_oracle(b + 1, len));
            checked++;
        }
    }
    assert_int_equal(checked, 32 + 32 * 32 + 32 * 32 * 32 + 32 * 32 * 32 * 32);

    /* Every raw byte in a string: those below 0x20 never pass. */
    for (int c = 0; c < 0x80; c++) {
        char b[] = {'"', (char)c, '"'};
        bool want = c >= 0x20 && c != '"' && c != '\\';
        if (rt_json_valid(b, sizeof b) != want)
            fail_msg("byte 0x%02x in a string: want %d", c, want);
    }
}

/* n opening brackets then n closing ones: "[[..]]" or {"a":{"a":..1}}. */
static char *nest(size_t n, bool objects, size_t *len)
{
    size_t open = objects ? 5 : 1, inner = objects ? 1 : 0;
    *len = n * (open + 1) + inner;
    char *b = malloc(*len);
    assert_non_null(b);
    char *p = b;
    for (size_t i = 0; i < n; i++, p += open)
        memcpy(p, objects ? "{\"a\":" : "[", open);
    if (objects)
        *p++ = '1';
    memset(p, objects ? '}' : ']', n);
    return b;
}

/* Containers nest at most RT_JSON_MAX_DEPTH deep. */
static void test_json_depth(void **state)
{
    (void)state;
    for (int objects = 0; objects <= 1; objects++) {
        size_t len;
        char *b = nest(RT_JSON_MAX_DEPTH, objects, &len);
        assert_true(rt_json_valid(b, len));
        free(b);
        b = nest(RT_JSON_MAX_DEPTH + 1, objects, &len);
        assert_false(rt_json_valid(b, len));
        free(b);
    }

    /* Depth is what is open at once, not how many containers there are:
     * two siblings each at the limit pass. */
    size_t len;
    char *one = nest(RT_JSON_MAX_DEPTH - 1, false, &len);
    char *two = malloc(2 * len + 3);
    assert_non_null(two);
    two[0] = '[';
    memcpy(two + 1, one, len);
    two[len + 1] = ',';
    memcpy(two + len + 2, one, len);
    two[2 * len + 2] = ']';
    assert_true(rt_json_valid(two, 2 * len + 3));
    free(two);
    free(one);

    /* Arrays and objects interleaved to the limit: every level must be
     * closed by its own bracket, so swapping any one pair of closers fails. */
    char b[RT_JSON_MAX_DEPTH * 6 + 1];
    size_t n = 0;
    for (int d = 0; d < RT_JSON_MAX_DEPTH; d++) {
        bool obj = (d * 7 / 3) % 2 == 1; /* an irregular pattern */
        memcpy(b + n, obj ? "{\"k\":" : "[", obj ? 5 : 1);
        n += obj ? 5 : 1;
    }
    b[n++] = '0';
    size_t closers = n;
    for (int d = RT_JSON_MAX_DEPTH - 1; d >= 0; d--)
        b[n++] = (d * 7 / 3) % 2 == 1 ? '}' : ']';
    assert_true(rt_json_valid(b, n));
    for (size_t i = closers; i < n; i++) {
        char was = b[i];
        b[i] = was == '}' ? ']' : '}';
        assert_false(rt_json_valid(b, n));
        b[i] = was;
    }

    /* A whole body of '[' is refused, at once and without recursion. */
    size_t big = RT_HTTP_MAX_BODY;
    char *deep = malloc(big);
    assert_non_null(deep);
    memset(deep, '[', big);
    assert_false(rt_json_valid(deep, big));
    free(deep);
}

/* Only space, tab, LF and CR count as whitespace, and exactly one value
 * stands between them. */
static void test_json_whitespace(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        bool want = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        char b[] = {(char)c, '[', ']', (char)c};
        if (rt_json_valid(b, sizeof b) != (want || c == '"')) /* "[]" is a string */
            fail_msg("byte 0x%02x around a value: want %d", c, want);
        char inside[] = {'[', 't', 'r', 'u', 'e', (char)c, ',', (char)c, 'n', 'u', 'l', 'l', ']'};
        if (rt_json_valid(inside, sizeof inside) != want)
            fail_msg("byte 0x%02x between tokens: want %d", c, want);
    }
    static const char *const bad[] = {"True",
                                      "nulll",
                                      "truefalse",
                                      "null null",
                                      "[true false]",
                                      "\"a\"\"b\"",
                                      "{\"a\":1,}",
                                      "[1,]",
                                      "[,1]",
                                      "{,}",
                                      "{\"a\":1 \"b\":2}",
                                      "{\"a\"}",
                                      "{1:2}",
                                      "[1:2]",
                                      "{\"a\",1}",
                                      "]",
                                      "[}",
                                      "{]",
                                      "[1}",
                                      "{\"a\":1]"};
    JSON_EACH(bad, false);
}

/* ---- The message object ------------------------------------------------- */

/* Writes m into buffers of every size up to the need: all too small ones
 * must say RT_ENOSPACE, and the exact one must give want. */
/* Looks key up in json; expects want (NULL: absent) as the value's text. */
static void member_is(const char *json, const char *key, const char *want)
{
    const char *v = NULL;
    size_t n = 0;
    int r = rt_json_get(json, strlen(json), key, &v, &n);
    if (want == NULL) {
        assert_int_equal(r, 0);
        return;
    }
    assert_int_equal(r, 1);
    char got[256];
    snprintf(got, sizeof(got), "%.*s", (int)n, v);
    assert_string_equal(got, want);
}

static void test_json_member(void **state)
{
    (void)state;
    const char *o =
        " {\"type\":\"publish\", \"topic\" : \"t\",\"data\":{\"type\":[1,{\"a\":\"}\"}]},"
        "\"n\":-1.5e3 ,\"s\":\"a\\\"b\",\"z\":null} ";
    member_is(o, "type", "\"publish\""); /* the top level, not data's nested type */
    member_is(o, "topic", "\"t\"");
    member_is(o, "data", "{\"type\":[1,{\"a\":\"}\"}]}");
    member_is(o, "n", "-1.5e3");
    member_is(o, "s", "\"a\\\"b\"");
    member_is(o, "z", "null");
    member_is(o, "a", NULL); /* only nested */
    member_is(o, "typ", NULL);
    member_is("{}", "type", NULL);
    member_is("{\"k\":1,\"k\":[2]}", "k", "[2]");  /* the last duplicate, like JSON.parse */
    member_is("{\"\\u0074ype\":1}", "type", NULL); /* escaped keys are not decoded */
    const char *bad[] = {"",          "[]",    "\"s\"",      "{\"a\":1", "{\"a\":1}x",
                         "{\"a\" 1}", "{a:1}", "{\"a\":01}", "  ",       "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *v;
        size_t n;
        assert_int_equal(rt_json_get(bad[i], strlen(bad[i]), "a", &v, &n), RT_EBADJSON);
    }
}

static void msg_out(const struct rt_msg_view *m, const char *want)
{
    size_t len = strlen(want);
    assert_int_equal(rt_msg_json_len(m), len);
    for (size_t cap = 0; cap <= len; cap++) {
        char *b = malloc(cap > 0 ? cap : 1);
        assert_non_null(b);
        int n = rt_msg_json(b, cap, m);
        if (cap < len) {
            assert_int_equal(n, RT_ENOSPACE);
        } else {
            assert_int_equal(n, (int)len);
            assert_memory_equal(b, want, len);
        }
        free(b);
    }
    /* The output is itself one JSON value. */
    char *b = malloc(len);
    assert_non_null(b);
    assert_int_equal(rt_msg_json(b, len, m), (int)len);
    assert_true(rt_json_valid(b, len));
    free(b);
}

static void test_msg_json(void **state)
{
    (void)state;
    const char *data = "{\"text\":\"hi\"}";
    struct rt_msg_view m = {.id = 1,
                            .topic = "t",
                            .event = "message",
                            .data = data,
                            .data_len = strlen(data),
                            .ts_us = 123};
    msg_out(
        &m,
        "{\"id\":1,\"topic\":\"t\",\"event\":\"message\",\"data\":{\"text\":\"hi\"},\"ts\":123}");

    /* The data goes out exactly as it came in, whitespace and all. */
    data = " [1, 2] ";
    m = (struct rt_msg_view){.id = 0,
                             .topic = "sensors/room.1:temp",
                             .event = "reading",
                             .data = data,
                             .data_len = strlen(data),
                             .ts_us = 0};
    msg_out(&m, "{\"id\":0,\"topic\":\"sensors/room.1:temp\",\"event\":\"reading\","
                "\"data\": [1, 2] ,\"ts\":0}");

    /* The extremes of both numbers; data_len, not a NUL, ends the data. */
    m = (struct rt_msg_view){.id = UINT64_MAX,
                             .topic = "a",
                             .event = "e",
                             .data = "nullXYZ",
                             .data_len = 4,
                             .ts_us = 1700000000123456};
    msg_out(&m, "{\"id\":18446744073709551615,\"topic\":\"a\",\"event\":\"e\",\"data\":null,"
                "\"ts\":1700000000123456}");

    m.id = 10;
    m.ts_us = 9;
    msg_out(&m, "{\"id\":10,\"topic\":\"a\",\"event\":\"e\",\"data\":null,\"ts\":9}");
    m.id = 9;
    m.ts_us = 10;
    msg_out(&m, "{\"id\":9,\"topic\":\"a\",\"event\":\"e\",\"data\":null,\"ts\":10}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),      cmocka_unit_test(test_json_valid),
        cmocka_unit_test(test_json_numbers),    cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_json_utf8),       cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_json_whitespace), cmocka_unit_test(test_msg_json),
        cmocka_unit_test(test_json_member)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
