/*
 * test_ws.c - the RFC 6455 codec in proto/ws.c.
 *
 * Frame streams are replayed many ways and must give the same answer each
 * time: whole; one byte per call; split at every byte into two calls (for
 * inputs up to 1 KiB); and at random points (seeded, so a failure repeats).
 * Each call gets a fresh heap copy of exactly its bytes, so AddressSanitizer
 * catches a read past the end. What the decoder hands out is compared as one
 * summary string: per frame `op,fin,len:payload;` (payloads over 32 bytes as
 * a checksum), `!` after a frame that ends a message, `E<close code>;` where
 * it failed.
 *
 * The expected frames come from RFC 6455 section 5.7; SHA-1 and base64 from
 * FIPS 180 and RFC 4648 test vectors; the handshake from section 1.3.
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

/* ======================================================================== */
/* Replaying a stream through the decoder                                   */
/* ======================================================================== */

#define SUM_CAP 8192

struct replay {
    struct rt_ws_decoder d;
    char sum[SUM_CAP];
    uint8_t *frame; /* the current frame's payload so far */
    size_t frame_len;
    bool failed;
};

static void sum_add(struct replay *r, const char *fmt, ...)
{
    size_t n = strlen(r->sum);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->sum + n, SUM_CAP - n, fmt, ap);
    va_end(ap);
}

static void frame_done(struct replay *r, const struct rt_ws_event *ev)
{
    sum_add(r, "%x,%d,%llu:", ev->frame.opcode, ev->frame.fin, (unsigned long long)ev->frame.len);
    if (r->frame_len <= 32) {
        for (size_t i = 0; i < r->frame_len; i++) {
            uint8_t c = r->frame[i];
            if (c >= 0x20 && c < 0x7F)
                sum_add(r, "%c", c);
            else
                sum_add(r, "\\x%02x", c);
        }
    } else {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < r->frame_len; i++)
            h = (h ^ r->frame[i]) * 16777619u;
        sum_add(r, "#%08x", h);
    }
    sum_add(r, ";%s", ev->message_end ? "!" : "");
    r->frame_len = 0;
}

/* Feeds one piece (a fresh heap copy of exactly its bytes). */
static void feed(struct replay *r, const uint8_t *bytes, size_t len)
{
    if (r->failed)
        return;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, bytes, len);
    size_t off = 0;
    while (off < len) {
        struct rt_ws_event ev;
        int64_t n = rt_ws_decode(&r->d, buf + off, len - off, &ev);
        if (n == RT_EMORE)
            break;
        if (n < 0) {
            sum_add(r, "E%u;", rt_ws_close_code_for((int)n));
            /* Errors are sticky. */
            assert_int_equal(rt_ws_decode(&r->d, buf, len, &ev), n);
            r->failed = true;
            break;
        }
        assert_true(n > 0 && (size_t)n <= len - off);
        if (ev.kind == RT_WS_EV_DATA) {
            assert_ptr_equal(ev.data, buf + off);
            memcpy(r->frame + r->frame_len, ev.data, ev.data_len);
            r->frame_len += ev.data_len;
        } else {
            assert_int_equal(ev.kind, RT_WS_EV_HEADER);
            r->frame_len = 0;
        }
        if (ev.frame_end)
            frame_done(r, &ev);
        off += (size_t)n;
    }
    free(buf);
}

struct opts {
    bool server, deflate;
    uint64_t max;
};

static void replay_start(struct replay *r, const struct opts *o, size_t len)
{
    rt_ws_decoder_init(&r->d, o->server, o->deflate, o->max ? o->max : RT_WS_MAX_MESSAGE);
    r->sum[0] = '\0';
    r->frame = malloc(len + 1);
    r->frame_len = 0;
    r->failed = false;
}

static void replay_end(struct replay *r, const char *want, const char *how)
{
    if (strcmp(r->sum, want) != 0)
        fail_msg("%s: got '%s', want '%s'", how, r->sum, want);
    free(r->frame);
}

/* Replays bytes whole, byte by byte, at every split into two (when short),
 * and at random splits; each must summarise as want (NULL: as the whole
 * input did). */
static void check_stream(const struct opts *o, const uint8_t *bytes, size_t len, const char *want)
{
    static struct replay r;
    static char whole[SUM_CAP];
    replay_start(&r, o, len);
    feed(&r, bytes, len);
    if (!want) {
        memcpy(whole, r.sum, sizeof whole);
        want = whole;
    }
    replay_end(&r, want, "whole");

    replay_start(&r, o, len);
    for (size_t i = 0; i < len; i++)
        feed(&r, bytes + i, 1);
    replay_end(&r, want, "byte by byte");

    if (len <= 1024) {
        for (size_t cut = 0; cut <= len; cut++) {
            replay_start(&r, o, len);
            feed(&r, bytes, cut);
            feed(&r, bytes + cut, len - cut);
            char how[64];
            snprintf(how, sizeof how, "split at %zu", cut);
            replay_end(&r, want, how);
        }
    }

    /* Its own generator, so callers' use of rand() is left alone. */
    uint32_t x = 6455;
    for (int round = 0; round < 50; round++) {
        replay_start(&r, o, len);
        size_t off = 0;
        while (off < len) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t n = 1 + x % (len < 40 ? 8 : len / 5);
            if (n > len - off)
                n = len - off;
            feed(&r, bytes + off, n);
            off += n;
        }
        replay_end(&r, want, "random splits");
    }
}

#define STREAM(o, want, ...)                                                                       \
    do {                                                                                           \
        static const uint8_t b_[] = {__VA_ARGS__};                                                 \
        check_stream(o, b_, sizeof b_, want);                                                      \
    } while (0)

static const struct opts AT_SERVER = {.server = true};
static const struct opts AT_CLIENT = {.server = false};
static const struct opts AT_SERVER_DEFLATE = {.server = true, .deflate = true};

/* ======================================================================== */
/* RFC 6455 section 5.7                                                     */
/* ======================================================================== */

static void test_rfc_single_unmasked(void **state)
{
    (void)state;
    STREAM(&AT_CLIENT, "1,1,5:Hello;!", 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f);
}

static void test_rfc_single_masked(void **state)
{
    (void)state;
    STREAM(&AT_SERVER, "1,1,5:Hello;!", 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
           0x58);
}

static void test_rfc_fragmented(void **state)
{
    (void)state;
    STREAM(&AT_CLIENT, "1,0,3:Hel;0,1,2:lo;!", 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c,
           0x6f);
}

static void test_rfc_ping_pong(void **state)
{
    (void)state;
    STREAM(&AT_CLIENT, "9,1,5:Hello;!", 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f);
    STREAM(&AT_SERVER, "a,1,5:Hello;!", 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51,
           0x58);
}

/* A binary frame of n bytes (i & 0xFF) in an unmasked frame; checks the
 * header against the RFC's and our encoder's. */
static void check_binary(size_t n, const uint8_t *hdr, size_t hdr_len)
{
    uint8_t *b = malloc(hdr_len + n);
    struct rt_ws_frame f = {.fin = true, .opcode = RT_WS_BINARY, .len = n};
    uint8_t enc[RT_WS_HEADER_MAX];
    assert_int_equal(rt_ws_frame_header(enc, sizeof enc, &f), (int)hdr_len);
    assert_memory_equal(enc, hdr, hdr_len);
    memcpy(b, hdr, hdr_len);
    for (size_t i = 0; i < n; i++)
        b[hdr_len + i] = (uint8_t)i;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)i) * 16777619u;
    char want[64];
    snprintf(want, sizeof want, "2,1,%zu:#%08x;!", n, h);
    check_stream(&AT_CLIENT, b, hdr_len + n, want);
    free(b);
}

static void test_rfc_binary_lengths(void **state)
{
    (void)state;
    static const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    static const uint8_t h64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    check_binary(256, h256, sizeof h256);
    check_binary(65536, h64k, sizeof h64k);
}

/* ======================================================================== */
/* Frame headers and a round trip                                           */
/* ======================================================================== */

static void test_header_encode(void **state)
{
    (void)state;
    uint8_t out[RT_WS_HEADER_MAX];
    struct rt_ws_frame f = {.fin = true,
                            .opcode = RT_WS_TEXT,
                            .len = 5,
                            .masked = true,
                            .mask = {0x37, 0xfa, 0x21, 0x3d}};
    static const uint8_t want[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d};
    assert_int_equal(rt_ws_frame_header(out, sizeof out, &f), 6);
    assert_memory_equal(out, want, 6);
    uint8_t hello[] = "Hello";
    rt_ws_mask(hello, 5, f.mask, 0);
    static const uint8_t masked[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_memory_equal(hello, masked, 5);

    /* Boundaries of the three length forms. */
    static const struct {
        uint64_t len;
        int bytes;
    } cases[] = {{0, 2}, {125, 2}, {126, 4}, {65535, 4}, {65536, 10}, {UINT64_MAX >> 1, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rt_ws_frame g = {.fin = true, .opcode = RT_WS_BINARY, .len = cases[i].len};
        assert_int_equal(rt_ws_frame_header(out, sizeof out, &g), cases[i].bytes);
        struct rt_ws_decoder d;
        rt_ws_decoder_init(&d, false, false, UINT64_MAX);
        struct rt_ws_event ev;
        assert_int_equal(rt_ws_decode(&d, out, (size_t)cases[i].bytes, &ev), cases[i].bytes);
        assert_int_equal(ev.kind, RT_WS_EV_HEADER);
        assert_true(ev.frame.len == cases[i].len);
    }
    assert_int_equal(rt_ws_frame_header(out, 3, &f), RT_ENOSPACE);
}

/* Random messages, fragmented and masked at random, interleaved with pings,
 * encoded with our encoder and decoded at random splits. */
static void test_round_trip(void **state)
{
    (void)state;
    srand(13);
    for (int round = 0; round < 30; round++) {
        uint8_t *wire = malloc(1 << 16);
        size_t w = 0;
        char want[SUM_CAP] = "";
        int frames = 1 + rand() % 5;
        for (int i = 0; i < frames; i++) {
            bool ping = i > 0 && i < frames - 1 && rand() % 3 == 0;
            struct rt_ws_frame f = {.fin = i == frames - 1 || ping,
                                    .opcode = ping     ? RT_WS_PING
                                              : i == 0 ? RT_WS_BINARY
                                                       : RT_WS_CONT,
                                    .masked = true,
                                    .len = (uint64_t)(rand() % (ping ? 126 : 300))};
            for (int k = 0; k < 4; k++)
                f.mask[k] = (uint8_t)rand();
            w += (size_t)rt_ws_frame_header(wire + w, RT_WS_HEADER_MAX, &f);
            uint8_t *p = wire + w;
            uint32_t h = 2166136261u;
            for (size_t k = 0; k < f.len; k++) {
                p[k] = 'a' + (uint8_t)(rand() % 26);
                h = (h ^ p[k]) * 16777619u;
            }
            size_t n = strlen(want);
            if (f.len <= 32)
                snprintf(want + n, sizeof want - n, "%x,%d,%llu:%.*s;%s", f.opcode, f.fin,
                         (unsigned long long)f.len, (int)f.len, (const char *)p, f.fin ? "!" : "");
            else
                snprintf(want + n, sizeof want - n, "%x,%d,%llu:#%08x;%s", f.opcode, f.fin,
                         (unsigned long long)f.len, h, f.fin ? "!" : "");
            rt_ws_mask(p, (size_t)f.len, f.mask, 0);
            w += (size_t)f.len;
        }
        check_stream(&AT_SERVER, wire, w, want);
        free(wire);
    }
}

/* Random mutations of valid streams (the fuzz test's poor cousin): whatever
 * the decoder makes of them, frames or an error, it makes the same of every
 * split, and ASan sees no access outside the pieces. */
static void test_mutations_split_invariant(void **state)
{
    (void)state;
    static const uint8_t seed[] = {
        0x01, 0x83, 1, 2, 3, 4, 'H' ^ 1, 'e' ^ 2, 'l' ^ 3, 0x89, 0x81, 0, 0, 0, 0,    'x',
        0x80, 0x82, 9, 9, 9, 9, 'l' ^ 9, 'o' ^ 9, 0x88,    0x82, 0,    0, 0, 0, 0x03, 0xE8};
    uint8_t b[sizeof seed];
    for (int round = 0; round < 300; round++) {
        srand((unsigned)round);
        memcpy(b, seed, sizeof b);
        int flips = 1 + rand() % 3;
        for (int i = 0; i < flips; i++)
            b[(size_t)rand() % sizeof b] ^= (uint8_t)(1u << (rand() % 8));
        struct opts o = {.server = true, .deflate = round % 2 == 0, .max = 8};
        check_stream(&o, b, sizeof b, NULL);
    }
}

/* ======================================================================== */
/* Framing violations and their close codes                                 */
/* ======================================================================== */

/* A masked frame header with a zero key (so the payload reads as written). */
#define M(b0, len) (b0), 0x80 | (len), 0, 0, 0, 0

static void test_reserved_bits(void **state)
{
    (void)state;
    STREAM(&AT_SERVER, "E1002;", M(0xC1, 0)); /* RSV1 without deflate */
    STREAM(&AT_SERVER, "E1002;", M(0xA1, 0)); /* RSV2 */
    STREAM(&AT_SERVER, "E1002;", M(0x91, 0)); /* RSV3 */
    STREAM(&AT_SERVER_DEFLATE, "E1002;", M(0xA1, 0));
    /* With deflate: RSV1 on a message's first frame only, never on control. */
    STREAM(&AT_SERVER_DEFLATE, "1,1,1:\\xff;!", M(0xC1, 1), 0xFF);
    STREAM(&AT_SERVER_DEFLATE, "2,0,0:;E1002;", M(0x42, 0), M(0xC0, 0));
    STREAM(&AT_SERVER_DEFLATE, "E1002;", M(0xC9, 0));
    STREAM(&AT_SERVER_DEFLATE, "2,0,0:;0,1,0:;!", M(0x42, 0), M(0x80, 0));
}

static void test_opcodes(void **state)
{
    (void)state;
    static const uint8_t reserved[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof reserved; i++) {
        uint8_t b[] = {M(0x80 | reserved[i], 0)};
        check_stream(&AT_SERVER, b, sizeof b, "E1002;");
    }
}

static void test_masking(void **state)
{
    (void)state;
    STREAM(&AT_SERVER, "E1002;", 0x81, 0x00); /* unmasked from a client */
    STREAM(&AT_CLIENT, "E1002;", M(0x81, 0)); /* masked from a server */
    STREAM(&AT_CLIENT, "1,1,0:;!E1002;", 0x81, 0x00, M(0x81, 0));
}

static void test_control_frames(void **state)
{
    (void)state;
    STREAM(&AT_CLIENT, "E1002;", 0x89, 0x7E, 0x00, 0x7E); /* 126 bytes */
    STREAM(&AT_CLIENT, "E1002;", 0x09, 0x00);             /* fragmented ping */
    STREAM(&AT_CLIENT, "E1002;", 0x88, 0x01, 0x03);       /* 1-byte close */
    STREAM(&AT_CLIENT, "8,1,2:\\x03\\xe8;!", 0x88, 0x02, 0x03, 0xE8);
    /* 125 bytes is the most. */
    uint8_t b[127] = {0x8A, 125};
    check_stream(&AT_CLIENT, b, sizeof b, "a,1,125:#da11c72f;!");
}

static void test_fragmentation(void **state)
{
    (void)state;
    STREAM(&AT_SERVER, "E1002;", M(0x80, 0)); /* continuation without a start */
    STREAM(&AT_SERVER, "E1002;", M(0x00, 0));
    STREAM(&AT_SERVER, "1,0,1:a;E1002;", M(0x01, 1), 'a', M(0x81, 1), 'b');
    STREAM(&AT_SERVER, "1,0,1:a;E1002;", M(0x01, 1), 'a', M(0x02, 1), 'b');
    /* Control frames may come between fragments. */
    STREAM(&AT_SERVER, "1,0,3:Hel;9,1,1:x;!a,1,0:;!0,1,2:lo;!", M(0x01, 3), 'H', 'e', 'l',
           M(0x89, 1), 'x', M(0x8A, 0), M(0x80, 2), 'l', 'o');
    /* A message ends, the next may start. */
    STREAM(&AT_SERVER, "1,1,1:a;!2,0,0:;0,1,1:b;!", M(0x81, 1), 'a', M(0x02, 0), M(0x80, 1), 'b');
}

static void test_message_limit(void **state)
{
    (void)state;
    struct opts o = {.server = true, .max = 10};
    STREAM(&o, "2,1,10:0123456789;!", M(0x82, 10), '0', '1', '2', '3', '4', '5', '6', '7', '8',
           '9');
    STREAM(&o, "E1009;", M(0x82, 11));
    STREAM(&o, "2,0,6:012345;E1009;", M(0x02, 6), '0', '1', '2', '3', '4', '5', M(0x80, 5));
    /* Control frames do not count; a new message starts from zero. */
    STREAM(&o, "2,0,6:012345;9,1,5:abcde;!0,1,4:6789;!2,1,10:0123456789;!", M(0x02, 6), '0', '1',
           '2', '3', '4', '5', M(0x89, 5), 'a', 'b', 'c', 'd', 'e', M(0x80, 4), '6', '7', '8', '9',
           M(0x82, 10), '0', '1', '2', '3', '4', '5', '6', '7', '8', '9');
    /* The default limit, at the header. */
    STREAM(&AT_CLIENT, "E1009;", 0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0x00, 0x01);
}

static void test_length_high_bit(void **state)
{
    (void)state;
    struct opts o = {.server = false, .max = UINT64_MAX};
    STREAM(&o, "E1002;", 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0);
    STREAM(&AT_SERVER, "E1002;", 0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0,
           0, 0);
    /* Non-minimal lengths are accepted. */
    STREAM(&AT_CLIENT, "2,1,1:z;!", 0x82, 0x7E, 0x00, 0x01, 'z');
}

static void test_text_utf8_in_decoder(void **state)
{
    (void)state;
    STREAM(&AT_SERVER, "E1007;", M(0x81, 1), 0xFF);
    STREAM(&AT_SERVER, "1,0,1:\\xe2;E1007;", M(0x01, 1), 0xE2, M(0x80, 1), 0x82);
    STREAM(&AT_SERVER, "1,0,1:\\xe2;0,1,2:\\x82\\xac;!", M(0x01, 1), 0xE2, M(0x80, 2), 0x82, 0xAC);
    /* Binary is not checked; nor is a compressed text (the inflater does). */
    STREAM(&AT_SERVER, "2,1,1:\\xff;!", M(0x82, 1), 0xFF);
    STREAM(&AT_SERVER_DEFLATE, "1,1,1:\\xff;!", M(0xC1, 1), 0xFF);
}

static void test_close_code_for(void **state)
{
    (void)state;
    assert_int_equal(rt_ws_close_code_for(RT_EWSPROTO), 1002);
    assert_int_equal(rt_ws_close_code_for(RT_EWSUTF8), 1007);
    assert_int_equal(rt_ws_close_code_for(RT_EWSTOOBIG), 1009);
    assert_int_equal(rt_ws_close_code_for(RT_EWSDEFLATE), 1007);
    assert_int_equal(rt_ws_close_code_for(RT_EZLIB), 1011);
    assert_int_equal(rt_ws_close_code_for(RT_ENOSPACE), 1011);
    assert_string_equal(rt_strerror(RT_EWSTOOBIG), "WebSocket message too big");
    assert_string_equal(rt_strerror(RT_EWSUTF8), "WebSocket text is not valid UTF-8");
}

/* ======================================================================== */
/* UTF-8                                                                    */
/* ======================================================================== */

enum { OK, BAD, PARTIAL };

static const struct {
    const char *s;
    int want;
} utf8_cases[] = {
    {"", OK},
    {"a", OK},
    {"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", OK}, /* the Autobahn "kosme" */
    {"\xC2\x80", OK},
    {"\xDF\xBF", OK},
    {"\xE0\xA0\x80", OK},
    {"\xED\x9F\xBF", OK}, /* U+D7FF, just below the surrogates */
    {"\xEE\x80\x80", OK}, /* U+E000, just above */
    {"\xEF\xBF\xBF", OK},
    {"\xF0\x90\x80\x80", OK},
    {"\xF4\x8F\xBF\xBF", OK}, /* U+10FFFF */
    {"\xC0\x80", BAD},        /* overlong NUL */
    {"\xC1\xBF", BAD},
    {"\xE0\x80\x80", BAD}, /* overlong 3-byte */
    {"\xE0\x9F\xBF", BAD},
    {"\xF0\x80\x80\x80", BAD}, /* overlong 4-byte */
    {"\xF0\x8F\xBF\xBF", BAD},
    {"\xED\xA0\x80", BAD},     /* U+D800 */
    {"\xED\xBF\xBF", BAD},     /* U+DFFF */
    {"\xF4\x90\x80\x80", BAD}, /* U+110000 */
    {"\xF5\x80\x80\x80", BAD},
    {"\xFF", BAD},
    {"\x80", BAD},
    {"\xC2\x41", BAD},
    {"a\xE2\x82"
     "a",
     BAD},
    {"\xC2", PARTIAL},
    {"\xE2\x82", PARTIAL},
    {"\xF0\x90\x80", PARTIAL},
    {"ok\xF4", PARTIAL},
};

static void test_utf8_splits(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const uint8_t *s = (const uint8_t *)utf8_cases[i].s;
        size_t len = strlen(utf8_cases[i].s);
        for (size_t cut = 0; cut <= len; cut++) {
            struct rt_ws_utf8 u;
            rt_ws_utf8_init(&u);
            int r = rt_ws_utf8_feed(&u, s, cut);
            if (r == 0)
                r = rt_ws_utf8_feed(&u, s + cut, len - cut);
            int got = r < 0 ? BAD : rt_ws_utf8_done(&u) ? OK : PARTIAL;
            if (got != utf8_cases[i].want)
                fail_msg("case %zu cut %zu: got %d want %d", i, cut, got, utf8_cases[i].want);
        }
    }
}

/* The same cases as a text message fragmented at every byte: the close
 * code is 1007 for bad and partial alike. */
static void test_utf8_fragmented_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const char *s = utf8_cases[i].s;
        size_t len = strlen(s);
        for (size_t cut = 0; cut <= len; cut++) {
            uint8_t b[32];
            size_t n = 0;
            uint8_t hdr1[] = {M(0x01, (uint8_t)cut)}, hdr2[] = {M(0x80, (uint8_t)(len - cut))};
            memcpy(b + n, hdr1, sizeof hdr1);
            n += sizeof hdr1;
            memcpy(b + n, s, cut);
            n += cut;
            memcpy(b + n, hdr2, sizeof hdr2);
            n += sizeof hdr2;
            memcpy(b + n, s + cut, len - cut);
            n += len - cut;
            struct rt_ws_decoder d;
            rt_ws_decoder_init(&d, true, false, 100);
            int64_t r = 0;
            for (size_t k = 0; k < n && r >= 0; k++) {
                struct rt_ws_event ev;
                r = rt_ws_decode(&d, b + k, 1, &ev);
                if (r == RT_EMORE)
                    r = 0;
            }
            bool want_ok = utf8_cases[i].want == OK;
            if (want_ok ? r < 0 : r != RT_EWSUTF8)
                fail_msg("case %zu cut %zu: got %lld", i, cut, (long long)r);
        }
    }
}

/* ======================================================================== */
/* Close frames                                                             */
/* ======================================================================== */

static void test_close_codes(void **state)
{
    (void)state;
    static const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const uint16_t invalid[] = {0,    999,  1004, 1005, 1006, 1015,
                                       1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint8_t p[2] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
        uint16_t code;
        const char *reason;
        size_t reason_len;
        assert_int_equal(rt_ws_close_parse(p, 2, &code, &reason, &reason_len), 0);
        assert_int_equal(code, valid[i]);
        assert_int_equal(reason_len, 0);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        uint8_t p[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
        uint16_t code;
        const char *reason;
        size_t reason_len;
        assert_int_equal(rt_ws_close_parse(p, 2, &code, &reason, &reason_len), RT_EWSPROTO);
        uint8_t out[8];
        assert_int_equal(rt_ws_close_build(out, sizeof out, invalid[i], NULL, 0), RT_EWSPROTO);
    }
}

static void test_close_parse_build(void **state)
{
    (void)state;
    uint16_t code;
    const char *reason;
    size_t reason_len;
    assert_int_equal(rt_ws_close_parse((const uint8_t *)"", 0, &code, &reason, &reason_len), 0);
    assert_int_equal(code, RT_WS_CLOSE_NO_STATUS);
    assert_int_equal(reason_len, 0);
    static const uint8_t one[] = {0x03};
    assert_int_equal(rt_ws_close_parse(one, 1, &code, &reason, &reason_len), RT_EWSPROTO);
    assert_int_equal(rt_ws_close_code_for(RT_EWSPROTO), 1002);
    static const uint8_t bad[] = {0x03, 0xE8, 'o', 0xC0, 0x80};
    assert_int_equal(rt_ws_close_parse(bad, sizeof bad, &code, &reason, &reason_len), RT_EWSUTF8);
    static const uint8_t cut[] = {0x03, 0xE8, 0xE2, 0x82};
    assert_int_equal(rt_ws_close_parse(cut, sizeof cut, &code, &reason, &reason_len), RT_EWSUTF8);

    uint8_t out[RT_WS_CONTROL_MAX];
    int n = rt_ws_close_build(out, sizeof out, 1001, "going away", 10);
    assert_int_equal(n, 12);
    assert_int_equal(rt_ws_close_parse(out, (size_t)n, &code, &reason, &reason_len), 0);
    assert_int_equal(code, 1001);
    assert_int_equal(reason_len, 10);
    assert_memory_equal(reason, "going away", 10);
    assert_ptr_equal(reason, (const char *)out + 2);
    char long_reason[124];
    memset(long_reason, 'x', sizeof long_reason);
    assert_int_equal(rt_ws_close_build(out, sizeof out, 1000, long_reason, 123), 125);
    assert_int_equal(rt_ws_close_build(out, sizeof out, 1000, long_reason, 124), RT_ENOSPACE);
    assert_int_equal(rt_ws_close_build(out, 1, 1000, NULL, 0), RT_ENOSPACE);
}

/* ======================================================================== */
/* SHA-1, base64, handshake                                                 */
/* ======================================================================== */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    uint8_t d[20];
    char h[41];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt_sha1(cases[i].in, strlen(cases[i].in), d);
        hex(d, 20, h);
        assert_string_equal(h, cases[i].want);
    }
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    rt_sha1(m, 1000000, d);
    free(m);
    hex(d, 20, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_base64(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(plain[i]);
        assert_int_equal(rt_base64_encode(out, (const uint8_t *)plain[i], n), RT_BASE64_LEN(n));
        assert_string_equal(out, enc[i]);
        uint8_t back[8];
        assert_int_equal(rt_base64_decode(back, sizeof back, enc[i], strlen(enc[i])), (int)n);
        assert_memory_equal(back, plain[i], n);
    }
    static const char *bad[] = {
        "Zg=", "Zh==", "Zm9=", "Z===", "Zm9v!A==", "=Zm9", "Zm=v", "Zg==Zg==", " Zg="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t back[8];
        if (rt_base64_decode(back, sizeof back, bad[i], strlen(bad[i])) != RT_EBADREQ)
            fail_msg("accepted '%s'", bad[i]);
    }
    uint8_t small[2];
    assert_int_equal(rt_base64_decode(small, sizeof small, "Zm9v", 4), RT_ENOSPACE);
}

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static void test_accept(void **state)
{
    (void)state;
    char out[RT_WS_ACCEPT_LEN + 1];
    rt_ws_accept(RFC_KEY, strlen(RFC_KEY), out);
    assert_string_equal(out, RFC_ACCEPT);
    char key[RT_WS_KEY_LEN + 1];
    rt_ws_client_key((const uint8_t *)"the sample nonce", key);
    assert_string_equal(key, RFC_KEY);
}

/* Parses head and runs the server's check on it. */
static int check_request(const char *head)
{
    static struct rt_http_request req;
    int r = rt_http_request_parse(&req, head, strlen(head), 0, RT_HTTP_MAX_HEAD, 0);
    assert_int_equal(r, (int)strlen(head));
    const char *key = NULL;
    size_t key_len = 0;
    r = rt_ws_handshake_check(&req, &key, &key_len);
    if (r == 0) {
        assert_int_equal(key_len, RT_WS_KEY_LEN);
    }
    return r;
}

#define REQ(method, version, upgrade, connection, key, wsversion)                                  \
    method " /chat HTTP/" version "\r\nHost: server.example.com\r\n" upgrade connection key        \
           "Origin: http://example.com\r\n" wsversion "\r\n"

#define UP "Upgrade: websocket\r\n"
#define CONN "Connection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: " RFC_KEY "\r\n"
#define V13 "Sec-WebSocket-Version: 13\r\n"

static void test_handshake_server(void **state)
{
    (void)state;
    assert_int_equal(check_request(REQ("GET", "1.1", UP, CONN, KEY, V13)), 0);
    assert_int_equal(check_request(REQ("GET", "1.1", "Upgrade: WebSocket\r\n",
                                       "Connection: keep-alive, Upgrade\r\n", KEY, V13)),
                     0);
    /* 400s. */
    static const char *bad[] = {
        REQ("POST", "1.1", UP, CONN, KEY, V13),
        REQ("get", "1.1", UP, CONN, KEY, V13),
        REQ("GET", "1.0", UP, CONN, KEY, V13),
        REQ("GET", "1.1", "", CONN, KEY, V13),
        REQ("GET", "1.1", "Upgrade: h2c\r\n", CONN, KEY, V13),
        REQ("GET", "1.1", UP, "", KEY, V13),
        REQ("GET", "1.1", UP, "Connection: keep-alive\r\n", KEY, V13),
        REQ("GET", "1.1", UP, CONN, "", V13),
        REQ("GET", "1.1", UP, CONN, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n", V13),
        REQ("GET", "1.1", UP, CONN, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZS4=\r\n", V13),
        REQ("GET", "1.1", UP, CONN, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n", V13),
        REQ("GET", "1.1", UP, CONN, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ*==\r\n", V13),
        "GET /chat HTTP/1.1\r\n" UP CONN KEY V13 "\r\n", /* no Host */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = check_request(bad[i]);
        if (r != RT_EWSHANDSHAKE)
            fail_msg("case %zu: got %d", i, r);
        assert_int_equal(rt_ws_handshake_status(r), 400);
    }
    /* 426 with the version we speak. */
    assert_int_equal(
        check_request(REQ("GET", "1.1", UP, CONN, KEY, "Sec-WebSocket-Version: 8\r\n")),
        RT_EWSVERSION);
    assert_int_equal(check_request(REQ("GET", "1.1", UP, CONN, KEY, "")), RT_EWSVERSION);
    assert_int_equal(
        check_request(REQ("GET", "1.1", UP, CONN, KEY, "Sec-WebSocket-Version: 13, 8\r\n")),
        RT_EWSVERSION);
    assert_int_equal(rt_ws_handshake_status(RT_EWSVERSION), 426);
}

static void test_handshake_response_and_client(void **state)
{
    (void)state;
    char out[512];
    int n = rt_ws_handshake_response(out, sizeof out, RFC_KEY, strlen(RFC_KEY), NULL);
    static const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                               "\r\n";
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
    assert_int_equal(rt_ws_handshake_response(out, 20, RFC_KEY, strlen(RFC_KEY), NULL),
                     RT_ENOSPACE);
    n = rt_ws_handshake_response(out, sizeof out, RFC_KEY, strlen(RFC_KEY),
                                 "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert_true(n > 0);
    assert_non_null(strstr(out, "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"));

    static struct rt_http_response resp;
    n = rt_ws_handshake_response(out, sizeof out, RFC_KEY, strlen(RFC_KEY), NULL);
    assert_int_equal(rt_http_response_parse(&resp, out, (size_t)n, 0, RT_HTTP_MAX_HEAD), n);
    assert_int_equal(rt_ws_client_check(&resp, RFC_KEY, strlen(RFC_KEY)), 0);
    assert_int_equal(rt_ws_client_check(&resp, "AAAAAAAAAAAAAAAAAAAAAA==", 24), RT_EWSHANDSHAKE);

    static const char *bad[] = {
        "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = (int)strlen(bad[i]);
        assert_int_equal(rt_http_response_parse(&resp, bad[i], (size_t)n, 0, RT_HTTP_MAX_HEAD), n);
        if (rt_ws_client_check(&resp, RFC_KEY, strlen(RFC_KEY)) != RT_EWSHANDSHAKE)
            fail_msg("case %zu accepted", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_handshake_server),
        cmocka_unit_test(test_handshake_response_and_client),
        cmocka_unit_test(test_rfc_single_unmasked),
        cmocka_unit_test(test_rfc_single_masked),
        cmocka_unit_test(test_rfc_fragmented),
        cmocka_unit_test(test_rfc_ping_pong),
        cmocka_unit_test(test_rfc_binary_lengths),
        cmocka_unit_test(test_header_encode),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_mutations_split_invariant),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_opcodes),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_control_frames),
        cmocka_unit_test(test_fragmentation),
        cmocka_unit_test(test_message_limit),
        cmocka_unit_test(test_length_high_bit),
        cmocka_unit_test(test_text_utf8_in_decoder),
        cmocka_unit_test(test_close_code_for),
        cmocka_unit_test(test_utf8_splits),
        cmocka_unit_test(test_utf8_fragmented_message),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_parse_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
