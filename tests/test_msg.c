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
    static const char *const probes[] = {"12345", "\"abc\"", "[1,2]", "{\"a\":1}", "true"};
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

/* ---- The message object ------------------------------------------------- */

/* Writes m into buffers of every size up to the need: all too small ones
 * must say RT_ENOSPACE, and the exact one must give want. */
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
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_json_valid),
        cmocka_unit_test(test_msg_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
