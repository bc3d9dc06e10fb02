/*
 * test_ws_deflate.c - permessage-deflate (RFC 7692) in proto/ws_deflate.c:
 * the RFC's own byte examples, round trips with and without context
 * takeover, negotiation on both sides, and the inflated-size limit. The
 * inflater takes a whole message (the frames joined), so there is no
 * split-input test: truncated and random input are tested instead.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_proto.h"

static const struct rt_wsd_params defaults = {false, false, 15, 15, false};

static int64_t inflate_bytes(struct rt_wsd *d, const uint8_t *in, size_t len, char *out, size_t max)
{
    return rt_wsd_decompress(d, in, len, (uint8_t *)out, max);
}

/* ---- RFC 7692 section 7.2.3 examples ------------------------------------ */

static void test_rfc_hello(void **state)
{
    (void)state;
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    static const uint8_t hello2[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    struct rt_wsd s, c;
    assert_int_equal(rt_wsd_init(&s, &defaults, true, -1), 0);
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    uint8_t out[64];
    char text[64];

    /* 7.2.3.1 and 7.2.3.2: the second "Hello" points back at the first. */
    int64_t n = rt_wsd_compress(&s, (const uint8_t *)"Hello", 5, out, sizeof out);
    assert_int_equal(n, sizeof hello);
    assert_memory_equal(out, hello, sizeof hello);
    assert_int_equal(inflate_bytes(&c, out, (size_t)n, text, sizeof text), 5);
    assert_memory_equal(text, "Hello", 5);
    n = rt_wsd_compress(&s, (const uint8_t *)"Hello", 5, out, sizeof out);
    assert_int_equal(n, sizeof hello2);
    assert_memory_equal(out, hello2, sizeof hello2);
    assert_int_equal(inflate_bytes(&c, out, (size_t)n, text, sizeof text), 5);
    assert_memory_equal(text, "Hello", 5);
    rt_wsd_close(&s);
    rt_wsd_close(&c);

    /* Without context takeover both come out as the first. */
    struct rt_wsd_params nct = {true, true, 15, 15, false};
    assert_int_equal(rt_wsd_init(&s, &nct, true, -1), 0);
    for (int i = 0; i < 2; i++) {
        n = rt_wsd_compress(&s, (const uint8_t *)"Hello", 5, out, sizeof out);
        assert_int_equal(n, sizeof hello);
        assert_memory_equal(out, hello, sizeof hello);
    }
    rt_wsd_close(&s);
}

static void test_rfc_variants(void **state)
{
    (void)state;
    /* 7.2.3.3 a stored block, 7.2.3.4 BFINAL set, 7.2.3.5 two blocks. */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
                                     0x65, 0x6c, 0x6c, 0x6f, 0x00};
    static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    static const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
                                  0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    const struct {
        const uint8_t *p;
        size_t len;
    } cases[] = {{stored, sizeof stored}, {bfinal, sizeof bfinal}, {two, sizeof two}};
    struct rt_wsd c;
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    char text[64];
    for (size_t i = 0; i < 3; i++) {
        int64_t n = inflate_bytes(&c, cases[i].p, cases[i].len, text, sizeof text);
        if (n != 5)
            fail_msg("case %zu: %lld", i, (long long)n);
        assert_memory_equal(text, "Hello", 5);
    }
    /* After BFINAL and the rest, a plain message still inflates. */
    assert_int_equal(inflate_bytes(&c, hello, sizeof hello, text, sizeof text), 5);
    assert_memory_equal(text, "Hello", 5);
    rt_wsd_close(&c);

    /* Garbage is an error, not a crash (BTYPE 11 is reserved). */
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    static const uint8_t bad[] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(inflate_bytes(&c, bad, sizeof bad, text, sizeof text), RT_EWSDEFLATE);
    rt_wsd_close(&c);
}

/* ---- Round trips -------------------------------------------------------- */

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* A chat message of about 120 bytes, like the ones the servers relay. */
static size_t chat_json(char *out, size_t cap, uint64_t id)
{
    static const char *const users[] = {"alice", "bob", "carol", "dave", "erin"};
    static const char *const words[] = {"hello", "anyone", "here",  "the", "build", "is",
                                        "green", "again",  "lunch", "at",  "noon",  "ok"};
    char text[64];
    size_t tl = 0;
    for (int i = 0; i < 4; i++) {
        const char *w = words[next_rand() % 12];
        tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s%s", i ? " " : "", w);
    }
    return (size_t)snprintf(out, cap,
                            "{\"id\":%llu,\"topic\":\"chat\",\"event\":\"message\",\"data\":"
                            "{\"user\":\"%s\",\"text\":\"%s\"},\"ts\":%llu}",
                            (unsigned long long)id, users[next_rand() % 5], text,
                            (unsigned long long)(1764290000000000ull + id * 1337));
}

/* Sends 100 chat messages server -> client and returns the mean compressed
 * size in per-mille of the raw size. */
static int round_trip_ratio(bool no_context_takeover, double *mean_raw)
{
    struct rt_wsd_params p = {no_context_takeover, no_context_takeover, 15, 15, false};
    struct rt_wsd s, c;
    assert_int_equal(rt_wsd_init(&s, &p, true, -1), 0);
    assert_int_equal(rt_wsd_init(&c, &p, false, -1), 0);
    size_t raw = 0, packed = 0;
    for (uint64_t i = 0; i < 100; i++) {
        char msg[256], back[256];
        uint8_t z[512];
        size_t len = chat_json(msg, sizeof msg, 1000 + i);
        int64_t n = rt_wsd_compress(&s, (const uint8_t *)msg, len, z, rt_wsd_compress_bound(len));
        assert_true(n > 0);
        assert_int_equal(inflate_bytes(&c, z, (size_t)n, back, sizeof back), len);
        assert_memory_equal(back, msg, len);
        raw += len;
        packed += (size_t)n;
    }
    rt_wsd_close(&s);
    rt_wsd_close(&c);
    *mean_raw = raw / 100.0;
    return (int)(packed * 1000 / raw);
}

static void test_round_trip_ratios(void **state)
{
    (void)state;
    double raw;
    int without = round_trip_ratio(true, &raw);
    int with = round_trip_ratio(false, &raw);
    printf("# chat JSON, mean %.1f bytes raw: %.1f%% of raw without context takeover, "
           "%.1f%% with\n",
           raw, without / 10.0, with / 10.0);
    assert_true(with < without);
    assert_true(without < 1000);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    /* Random bytes (incompressible) and long repetitive ones, both ways. */
    for (int takeover = 0; takeover < 2; takeover++) {
        struct rt_wsd_params p = {!takeover, !takeover, 10, 12, false};
        struct rt_wsd s, c;
        assert_int_equal(rt_wsd_init(&s, &p, true, 9), 0);
        assert_int_equal(rt_wsd_init(&c, &p, false, 1), 0);
        size_t max = 100000;
        uint8_t *msg = malloc(max), *z = malloc(rt_wsd_compress_bound(max)), *back = malloc(max);
        assert_non_null(msg);
        assert_non_null(z);
        assert_non_null(back);
        for (int i = 0; i < 20; i++) {
            size_t len = next_rand() % max;
            for (size_t k = 0; k < len; k++)
                msg[k] = (uint8_t)(i % 2 ? next_rand() : (uint32_t) "{\"k\":[1,2,3]}"[k % 13]);
            /* client -> server */
            int64_t n = rt_wsd_compress(&c, msg, len, z, rt_wsd_compress_bound(len));
            if (n < 0)
                fail_msg("len %zu: %lld", len, (long long)n);
            assert_int_equal(rt_wsd_decompress(&s, z, (size_t)n, back, max), len);
            assert_memory_equal(back, msg, len);
            /* server -> client */
            n = rt_wsd_compress(&s, msg, len, z, rt_wsd_compress_bound(len));
            if (n < 0)
                fail_msg("len %zu: %lld", len, (long long)n);
            assert_int_equal(rt_wsd_decompress(&c, z, (size_t)n, back, max), len);
            assert_memory_equal(back, msg, len);
        }
        /* Too little room: RT_ENOSPACE, and the stream stays usable. */
        assert_int_equal(rt_wsd_compress(&s, msg, 1000, z, 10), RT_ENOSPACE);
        int64_t n = rt_wsd_compress(&s, msg, 1000, z, rt_wsd_compress_bound(1000));
        assert_int_equal(rt_wsd_decompress(&c, z, (size_t)n, back, max), 1000);
        assert_memory_equal(back, msg, 1000);
        free(msg);
        free(z);
        free(back);
        rt_wsd_close(&s);
        rt_wsd_close(&c);
    }
}

/* Empty messages are one byte (section 7.2.3.6) in either mode, and do not
 * disturb the context around them. */
static void test_empty_message(void **state)
{
    (void)state;
    for (int takeover = 0; takeover < 2; takeover++) {
        struct rt_wsd_params p = {!takeover, !takeover, 15, 15, false};
        struct rt_wsd s, c;
        assert_int_equal(rt_wsd_init(&s, &p, true, -1), 0);
        assert_int_equal(rt_wsd_init(&c, &p, false, -1), 0);
        const char *const msgs[] = {"", "Hello", "", "", "Hello", ""};
        for (size_t i = 0; i < 6; i++) {
            uint8_t z[64];
            char back[64];
            size_t len = strlen(msgs[i]);
            int64_t n = rt_wsd_compress(&s, (const uint8_t *)msgs[i], len, z, sizeof z);
            assert_true(n > 0);
            if (len == 0) {
                assert_int_equal(n, 1);
                assert_int_equal(z[0], 0x00);
            }
            assert_int_equal(inflate_bytes(&c, z, (size_t)n, back, sizeof back), len);
            assert_memory_equal(back, msgs[i], len);
        }
        /* An empty message fits a zero-byte limit. */
        assert_int_equal(rt_wsd_decompress(&c, (const uint8_t *)"", 1, NULL, 0), 0);
        rt_wsd_close(&s);
        rt_wsd_close(&c);
    }
}

/* Compress once, send to many: a publisher without context takeover makes
 * bytes that every subscriber inflates, whatever each has seen before. */
static void test_compress_once(void **state)
{
    (void)state;
    struct rt_wsd_params p = {true, false, 15, 15, false};
    struct rt_wsd pub, sub[3];
    assert_int_equal(rt_wsd_init(&pub, &p, true, -1), 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(rt_wsd_init(&sub[k], &p, false, -1), 0);
    for (uint64_t i = 0; i < 30; i++) {
        char msg[256], back[256];
        uint8_t z[512];
        size_t len = chat_json(msg, sizeof msg, i);
        int64_t n = rt_wsd_compress(&pub, (const uint8_t *)msg, len, z, sizeof z);
        assert_true(n > 0);
        /* Subscriber k joined at message k * 10. */
        for (int k = 0; k < 3; k++) {
            if (i < (uint64_t)k * 10)
                continue;
            assert_int_equal(inflate_bytes(&sub[k], z, (size_t)n, back, sizeof back), len);
            assert_memory_equal(back, msg, len);
        }
        /* The same message from a fresh compressor: the same bytes. */
        struct rt_wsd fresh;
        uint8_t z2[512];
        assert_int_equal(rt_wsd_init(&fresh, &p, true, -1), 0);
        assert_int_equal(rt_wsd_compress(&fresh, (const uint8_t *)msg, len, z2, sizeof z2), n);
        assert_memory_equal(z2, z, (size_t)n);
        rt_wsd_close(&fresh);
    }
    rt_wsd_close(&pub);
    for (int k = 0; k < 3; k++)
        rt_wsd_close(&sub[k]);
}

/* Truncated and random input: a length or an error, never a crash or a
 * write past the limit (the ASan build checks the latter). */
static void test_bad_input(void **state)
{
    (void)state;
    char msg[256];
    uint8_t z[512];
    size_t len = chat_json(msg, sizeof msg, 7);
    struct rt_wsd s, c;
    assert_int_equal(rt_wsd_init(&s, &defaults, true, -1), 0);
    int64_t n = rt_wsd_compress(&s, (const uint8_t *)msg, len, z, sizeof z);
    assert_true(n > 0);
    for (size_t cut = 0; cut <= (size_t)n; cut++) {
        char *back = malloc(len);
        assert_non_null(back);
        assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
        int64_t r = rt_wsd_decompress(&c, z, cut, (uint8_t *)back, len);
        assert_true(r == RT_EWSDEFLATE || r == RT_EWSTOOBIG || (r >= 0 && (size_t)r <= len));
        if (cut == (size_t)n)
            assert_int_equal(r, len);
        rt_wsd_close(&c);
        free(back);
    }
    for (int i = 0; i < 2000; i++) {
        uint8_t junk[64], *back = malloc(100);
        assert_non_null(back);
        size_t jl = next_rand() % sizeof junk;
        for (size_t k = 0; k < jl; k++)
            junk[k] = (uint8_t)next_rand();
        assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
        int64_t r = rt_wsd_decompress(&c, junk, jl, back, 100);
        assert_true(r == RT_EWSDEFLATE || r == RT_EWSTOOBIG || (r >= 0 && r <= 100));
        rt_wsd_close(&c);
        free(back);
    }
    rt_wsd_close(&s);
}

/* ---- The inflated-size limit --------------------------------------------- */

static void test_zip_bomb(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    uint8_t *zeros = calloc(1, big), *z = malloc(rt_wsd_compress_bound(big));
    uint8_t *out = malloc(big);
    assert_non_null(zeros);
    assert_non_null(z);
    assert_non_null(out);
    struct rt_wsd s, c;
    assert_int_equal(rt_wsd_init(&s, &defaults, true, 9), 0);
    int64_t n = rt_wsd_compress(&s, zeros, big, z, rt_wsd_compress_bound(big));
    assert_true(n > 0 && n < 2048); /* 1 MiB of zeros is about 1 KiB */

    /* Exactly the limit passes; one byte less fails cleanly. */
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    assert_int_equal(rt_wsd_decompress(&c, z, (size_t)n, out, big), big);
    rt_wsd_close(&c);
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    assert_int_equal(rt_wsd_decompress(&c, z, (size_t)n, out, big - 1), RT_EWSTOOBIG);
    rt_wsd_close(&c);
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    assert_int_equal(rt_wsd_decompress(&c, z, (size_t)n, out, 4096), RT_EWSTOOBIG);
    rt_wsd_close(&c);

    /* "Hello" into exactly 5 and into 4 bytes. */
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    assert_int_equal(rt_wsd_init(&c, &defaults, false, -1), 0);
    assert_int_equal(rt_wsd_decompress(&c, hello, sizeof hello, out, 5), 5);
    assert_int_equal(rt_wsd_decompress(&c, (const uint8_t *)"\xf2\x00\x11\x00\x00", 5, out, 4),
                     RT_EWSTOOBIG);
    rt_wsd_close(&c);
    rt_wsd_close(&s);
    free(zeros);
    free(z);
    free(out);
}

/* ---- Negotiation -------------------------------------------------------- */

static int negotiate(const char *offer, const struct rt_wsd_prefs *prefs, char *resp, size_t cap)
{
    struct rt_wsd_params p;
    int r = rt_wsd_server_negotiate(offer, strlen(offer), prefs, &p);
    if (r == 1)
        assert_true(rt_wsd_response_write(resp, cap, &p) > 0);
    return r;
}

static void test_server_negotiate(void **state)
{
    (void)state;
    struct rt_wsd_prefs none = {false, false, 15, 15};
    struct rt_wsd_prefs nct = {true, false, 15, 15};
    char resp[256];
    const struct {
        const char *offer;
        const struct rt_wsd_prefs *prefs;
        int result;
        const char *resp; /* the value after "Sec-WebSocket-Extensions: " */
    } cases[] = {
        {"permessage-deflate", &none, 1, "permessage-deflate"},
        {"permessage-deflate; client_max_window_bits", &none, 1, "permessage-deflate"},
        {"permessage-deflate", &nct, 1, "permessage-deflate; server_no_context_takeover"},
        {"permessage-deflate; server_no_context_takeover", &none, 1,
         "permessage-deflate; server_no_context_takeover"},
        {"permessage-deflate; client_no_context_takeover", &none, 1,
         "permessage-deflate; client_no_context_takeover"},
        {"permessage-deflate; server_max_window_bits=10", &none, 1,
         "permessage-deflate; server_max_window_bits=10"},
        {"permessage-deflate; server_max_window_bits=\"12\"", &none, 1,
         "permessage-deflate; server_max_window_bits=12"},
        /* Offered, even at 15: the answer must name it (section 7.1.2.1). */
        {"permessage-deflate; server_max_window_bits=15", &none, 1,
         "permessage-deflate; server_max_window_bits=15"},
        {"permessage-deflate; server_max_window_bits=15", &nct, 1,
         "permessage-deflate; server_no_context_takeover; server_max_window_bits=15"},
        {"permessage-deflate; client_max_window_bits=9", &none, 1,
         "permessage-deflate; client_max_window_bits=9"},
        /* Declined: bad values, duplicates, unknown or misplaced values. */
        {"permessage-deflate; server_max_window_bits=8", &none, 0, NULL},
        {"permessage-deflate; server_max_window_bits=16", &none, 0, NULL},
        {"permessage-deflate; server_max_window_bits=7", &none, 0, NULL},
        {"permessage-deflate; server_max_window_bits=010", &none, 0, NULL},
        {"permessage-deflate; server_max_window_bits", &none, 0, NULL},
        {"permessage-deflate; client_max_window_bits=x", &none, 0, NULL},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", &none, 0,
         NULL},
        {"permessage-deflate; server_no_context_takeover=1", &none, 0, NULL},
        {"permessage-deflate; foo", &none, 0, NULL},
        {"x-webkit-deflate-frame", &none, 0, NULL},
        {"", &none, 0, NULL},
        /* Several offers: the first acceptable one wins. */
        {"permessage-deflate; server_max_window_bits=8, permessage-deflate; "
         "client_max_window_bits",
         &none, 1, "permessage-deflate"},
        {"foo; bar=\"a,b;c\", permessage-deflate;server_max_window_bits=11 ,permessage-deflate",
         &none, 1, "permessage-deflate; server_max_window_bits=11"},
        /* Syntax errors. */
        {"permessage-deflate; server_max_window_bits=\"12", &none, RT_EWSEXT, NULL},
        {"permessage-deflate;", &none, RT_EWSEXT, NULL},
        {"permessage-deflate x", &none, RT_EWSEXT, NULL},
        {"permessage-deflate; a=", &none, RT_EWSEXT, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = negotiate(cases[i].offer, cases[i].prefs, resp, sizeof resp);
        if (r != cases[i].result)
            fail_msg("offer \"%s\": %d, want %d", cases[i].offer, r, cases[i].result);
        if (r == 1) {
            char want[256];
            snprintf(want, sizeof want, "Sec-WebSocket-Extensions: %s\r\n", cases[i].resp);
            if (strcmp(resp, want) != 0)
                fail_msg("offer \"%s\": answered \"%s\"", cases[i].offer, resp);
        }
    }

    /* A server that limits windows: only a client that offered the
     * parameter gets a client limit. */
    struct rt_wsd_prefs small = {false, false, 10, 11};
    assert_int_equal(
        negotiate("permessage-deflate; client_max_window_bits", &small, resp, sizeof resp), 1);
    assert_string_equal(resp, "Sec-WebSocket-Extensions: permessage-deflate; "
                              "server_max_window_bits=10; client_max_window_bits=11\r\n");
    assert_int_equal(negotiate("permessage-deflate", &small, resp, sizeof resp), 1);
    assert_string_equal(resp, "Sec-WebSocket-Extensions: permessage-deflate; "
                              "server_max_window_bits=10\r\n");
    assert_int_equal(rt_wsd_response_write(resp, 20, &defaults), RT_ENOSPACE);
}

static void test_client_side(void **state)
{
    (void)state;
    char offer[256];
    struct rt_wsd_prefs plain = {false, false, 15, 15};
    struct rt_wsd_prefs strict = {true, true, 10, 12};
    assert_true(rt_wsd_offer_write(offer, sizeof offer, &plain) > 0);
    assert_string_equal(offer, "Sec-WebSocket-Extensions: permessage-deflate; "
                               "client_max_window_bits\r\n");
    assert_true(rt_wsd_offer_write(offer, sizeof offer, &strict) > 0);
    assert_string_equal(offer, "Sec-WebSocket-Extensions: permessage-deflate; "
                               "server_no_context_takeover; client_no_context_takeover; "
                               "server_max_window_bits=10; client_max_window_bits=12\r\n");

    /* The server's own answer to our offer is acceptable to us. */
    const char *v = offer + strlen("Sec-WebSocket-Extensions: ");
    struct rt_wsd_params sp, cp;
    assert_int_equal(rt_wsd_server_negotiate(v, strlen(v) - 2, &plain, &sp), 1);
    char resp[256];
    assert_true(rt_wsd_response_write(resp, sizeof resp, &sp) > 0);
    const char *rv = resp + strlen("Sec-WebSocket-Extensions: ");
    assert_int_equal(rt_wsd_client_accept(rv, strlen(rv) - 2, &strict, &cp), 0);
    assert_true(cp.server_no_context_takeover && cp.client_no_context_takeover);
    assert_int_equal(cp.server_max_window_bits, 10);
    assert_int_equal(cp.client_max_window_bits, 12);

    const struct {
        const struct rt_wsd_prefs *prefs;
        const char *resp;
        int result;
    } cases[] = {
        {&plain, "permessage-deflate", 0},
        {&plain, "permessage-deflate; server_no_context_takeover", 0},
        {&plain, "permessage-deflate; client_no_context_takeover", 0},
        {&plain, "permessage-deflate; server_max_window_bits=9", 0},
        {&plain, "permessage-deflate; client_max_window_bits=10", 0},
        {&plain, "permessage-deflate; client_max_window_bits", RT_EWSEXT},   /* needs a value */
        {&plain, "permessage-deflate; client_max_window_bits=8", RT_EWSEXT}, /* zlib cannot */
        {&plain, "permessage-deflate; foo", RT_EWSEXT},
        {&plain, "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
         RT_EWSEXT},
        {&plain, "permessage-deflate, permessage-deflate", RT_EWSEXT},
        {&plain, "x-other", RT_EWSEXT},
        {&plain, "", RT_EWSEXT},
        {&strict, "permessage-deflate; server_max_window_bits=10", RT_EWSEXT},  /* no snct */
        {&strict, "permessage-deflate; server_no_context_takeover", RT_EWSEXT}, /* no smwb */
        {&strict, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
         RT_EWSEXT},
        {&strict, "permessage-deflate; server_no_context_takeover; server_max_window_bits=9", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = rt_wsd_client_accept(cases[i].resp, strlen(cases[i].resp), cases[i].prefs, &cp);
        if (r != cases[i].result)
            fail_msg("response \"%s\": %d, want %d", cases[i].resp, r, cases[i].result);
    }
}

/* Negotiated small windows work end to end. */
static void test_window_bits(void **state)
{
    (void)state;
    for (uint8_t bits = 9; bits <= 15; bits++) {
        struct rt_wsd_params p = {false, false, bits, bits, false};
        struct rt_wsd s, c;
        assert_int_equal(rt_wsd_init(&s, &p, true, -1), 0);
        assert_int_equal(rt_wsd_init(&c, &p, false, -1), 0);
        static uint8_t msg[70000], z[80000], back[70000];
        for (size_t k = 0; k < sizeof msg; k++)
            msg[k] = (uint8_t)("abcdefghij"[next_rand() % 10]);
        int64_t n = rt_wsd_compress(&s, msg, sizeof msg, z, sizeof z);
        assert_true(n > 0);
        assert_int_equal(rt_wsd_decompress(&c, z, (size_t)n, back, sizeof back), sizeof msg);
        assert_memory_equal(back, msg, sizeof msg);
        rt_wsd_close(&s);
        rt_wsd_close(&c);
    }
    struct rt_wsd_params eight = {false, false, 8, 15, false};
    struct rt_wsd s;
    assert_int_equal(rt_wsd_init(&s, &eight, true, -1), RT_EWSEXT);
    assert_int_equal(rt_wsd_init(&s, &eight, false, -1), 0); /* inflating 8 is fine */
    rt_wsd_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_hello),         cmocka_unit_test(test_rfc_variants),
        cmocka_unit_test(test_round_trip_ratios), cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_zip_bomb),          cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_compress_once),     cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_server_negotiate),  cmocka_unit_test(test_client_side),
        cmocka_unit_test(test_window_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
