/*
 * test_http.c - the HTTP/1.1 codecs in proto/http.c.
 *
 * Every parser input is replayed three ways and must give the same answer
 * each time: whole; fed one byte at a time (growing len, prev_len = the last
 * len, each time in a fresh buffer of exactly len bytes so that AddressSanitizer
 * catches a read past the end); and split at every byte into two reads.
 * Parsed heads are compared as one summary string, which also makes the
 * expected results readable below.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_proto.h"

/* ======================================================================== */
/* Replaying inputs                                                         */
/* ======================================================================== */

/* Limits the parse wrappers use; each test sets what it needs. */
static size_t g_max_head = RT_HTTP_MAX_HEAD;
static uint64_t g_max_body = RT_HTTP_MAX_BODY;

static int reset_limits(void **state)
{
    (void)state;
    g_max_head = RT_HTTP_MAX_HEAD;
    g_max_body = RT_HTTP_MAX_BODY;
    return 0;
}

/* Appends printf-style text to s[0..cap), which holds a string. */
static void append(char *s, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s + n, cap - n, fmt, ap);
    va_end(ap);
}

static void append_headers(char *s, size_t cap, const struct rt_http_header *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        append(s, cap, " | %.*s: %.*s", (int)hs[i].name_len, hs[i].name, (int)hs[i].value_len,
               hs[i].value);
    }
}

/* One parser behind a common signature: parses buf[0..len) and, on success,
 * writes a summary of what it found. */
typedef int (*parse_fn)(const char *buf, size_t len, size_t prev_len, char *sum, size_t cap);

static int parse_request(const char *buf, size_t len, size_t prev_len, char *sum, size_t cap)
{
    struct rt_http_request r;
    int rc = rt_http_request_parse(&r, buf, len, prev_len, g_max_head, g_max_body);
    sum[0] = '\0';
    if (rc <= 0)
        return rc;
    assert_int_equal(r.head_len, (size_t)rc);
    append(sum, cap, "%.*s %.*s", (int)r.method_len, r.method, (int)r.path_len, r.path);
    if (r.query != NULL)
        append(sum, cap, "?%.*s", (int)r.query_len, r.query);
    append(sum, cap, " HTTP/1.%d cl=%" PRIu64 "%s%s%s", r.minor_version, r.content_length,
           r.chunked ? " chunked" : "", r.keep_alive ? " keep-alive" : "",
           r.expect_continue ? " expect" : "");
    append_headers(sum, cap, r.headers, r.num_headers);
    return rc;
}

static int parse_response(const char *buf, size_t len, size_t prev_len, char *sum, size_t cap)
{
    struct rt_http_response r;
    int rc = rt_http_response_parse(&r, buf, len, prev_len, g_max_head);
    sum[0] = '\0';
    if (rc <= 0)
        return rc;
    assert_int_equal(r.head_len, (size_t)rc);
    append(sum, cap, "1.%d %d cl=%" PRId64 "%s%s", r.minor_version, r.status, r.content_length,
           r.chunked ? " chunked" : "", r.keep_alive ? " keep-alive" : "");
    append_headers(sum, cap, r.headers, r.num_headers);
    return rc;
}

#define SUM_CAP 1024

/*
 * Parses text[0..len) whole, byte by byte and split in two at every byte,
 * and checks each answer against want_rc (and want_sum on success; NULL
 * skips the summary check).
 */
static void replay(parse_fn parse, const char *text, size_t len, int want_rc, const char *want_sum)
{
    char sum[SUM_CAP], sum2[SUM_CAP];

    int rc = parse(text, len, 0, sum, sizeof(sum));
    if (rc != want_rc)
        fail_msg("whole: got %d, want %d for \"%.*s\"", rc, want_rc, (int)len, text);
    if (rc > 0 && want_sum != NULL)
        assert_string_equal(sum, want_sum);

    /* One byte at a time, each step in an exactly-sized buffer. */
    int step_rc = RT_EMORE;
    size_t prev = 0;
    for (size_t n = 0; n <= len && step_rc == RT_EMORE; n++) {
        char *b = malloc(n > 0 ? n : 1);
        assert_non_null(b);
        memcpy(b, text, n);
        step_rc = parse(b, n, prev, sum2, sizeof(sum2));
        free(b);
        prev = n;
    }
    if (step_rc != want_rc)
        fail_msg("byte by byte: got %d, want %d", step_rc, want_rc);
    if (step_rc > 0)
        assert_string_equal(sum2, sum);

    /* Two reads: the first k bytes, then all of them. */
    for (size_t k = 0; k < len; k++) {
        int first = parse(text, k, 0, sum2, sizeof(sum2));
        if (first == RT_EMORE)
            first = parse(text, len, k, sum2, sizeof(sum2));
        if (first != want_rc)
            fail_msg("split at %zu: got %d, want %d", k, first, want_rc);
        if (first > 0)
            assert_string_equal(sum2, sum);
    }
}

/* A head that parses: its whole length is the head. */
static void request_ok(const char *text, const char *want_sum)
{
    replay(parse_request, text, strlen(text), (int)strlen(text), want_sum);
}

static void request_err(const char *text, int want_rc)
{
    replay(parse_request, text, strlen(text), want_rc, NULL);
}

/* ======================================================================== */
/* Request heads                                                            */
/* ======================================================================== */

/* RFC 9110 section 1.2's example request. */
static void test_request_spec_example(void **state)
{
    (void)state;
    request_ok("GET /hello.txt HTTP/1.1\r\n"
               "User-Agent: curl/7.64.1\r\n"
               "Host: www.example.com\r\n"
               "Accept-Language: en, mi\r\n"
               "\r\n",
               "GET /hello.txt HTTP/1.1 cl=0 keep-alive"
               " | User-Agent: curl/7.64.1 | Host: www.example.com | Accept-Language: en, mi");
}

static void test_request_shapes(void **state)
{
    (void)state;
    /* No headers at all. */
    request_ok("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 cl=0 keep-alive");
    /* Lone LF line ends, and a mix of both. */
    request_ok("GET /a HTTP/1.1\nHost: x\n\n", "GET /a HTTP/1.1 cl=0 keep-alive | Host: x");
    request_ok("GET /a HTTP/1.1\r\nHost: x\n\r\n", "GET /a HTTP/1.1 cl=0 keep-alive | Host: x");
    request_ok("GET /a HTTP/1.1\nHost: x\r\n\n", "GET /a HTTP/1.1 cl=0 keep-alive | Host: x");
    /* Query strings: none, empty, and a real one. */
    request_ok("GET /poll?topic=a&since=3 HTTP/1.1\r\n\r\n",
               "GET /poll?topic=a&since=3 HTTP/1.1 cl=0 keep-alive");
    request_ok("GET /poll? HTTP/1.1\r\n\r\n", "GET /poll? HTTP/1.1 cl=0 keep-alive");
    request_ok("GET /a?b?c HTTP/1.1\r\n\r\n", "GET /a?b?c HTTP/1.1 cl=0 keep-alive");
    /* Values lose whitespace on both sides, keep it inside; may be empty. */
    request_ok("GET / HTTP/1.1\r\nA: \t x  y \t\r\nB:\r\nC:   \r\nD:z\r\n\r\n",
               "GET / HTTP/1.1 cl=0 keep-alive | A: x  y | B:  | C:  | D: z");
    /* obs-text in a value is allowed, as are odd but legal token names. */
    request_ok("GET / HTTP/1.1\r\nX-!#$%&'*+.^_`|~: caf\xc3\xa9\r\n\r\n",
               "GET / HTTP/1.1 cl=0 keep-alive | X-!#$%&'*+.^_`|~: caf\xc3\xa9");
    /* Any token is a method; the server decides which it allows. */
    request_ok("PURGE /x HTTP/1.1\r\n\r\n", "PURGE /x HTTP/1.1 cl=0 keep-alive");
    /* HTTP/1.2 would be a 1.x we do not know: treated as 1.1. */
    request_ok("GET / HTTP/1.2\r\n\r\n", "GET / HTTP/1.1 cl=0 keep-alive");
    request_ok("GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0 cl=0");
}

static void test_request_content_length(void **state)
{
    (void)state;
    request_ok("POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
               "POST /p HTTP/1.1 cl=5 keep-alive | Content-Length: 5");
    request_ok("POST /p HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
               "POST /p HTTP/1.1 cl=0 keep-alive | content-length: 0");
    /* Repeated identical values, in two fields or in a list, are one value. */
    request_ok("POST /p HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
               "POST /p HTTP/1.1 cl=5 keep-alive | Content-Length: 5 | Content-Length: 5");
    request_ok("POST /p HTTP/1.1\r\nContent-Length: 5 ,5,\t5\r\n\r\n",
               "POST /p HTTP/1.1 cl=5 keep-alive | Content-Length: 5 ,5,\t5");
    request_ok("POST /p HTTP/1.1\r\nContent-Length: 007\r\n\r\n",
               "POST /p HTTP/1.1 cl=7 keep-alive | Content-Length: 007");
    request_ok("POST /p HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
               "POST /p HTTP/1.1 cl=0 chunked keep-alive | Transfer-Encoding: Chunked");
}

static void test_request_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
    } cases[] = {
        /* A bare CR anywhere. */
        {"GET / HTTP/1.1\rX\r\n\r\n", RT_EBADREQ},
        {"GET /\r HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA: b\r\n\r\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA\r: b\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA: b\r\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\n\rA: b\r\n\r\n", RT_EBADREQ},
        {"\rGET / HTTP/1.1\r\n\r\n", RT_EBADREQ},
        /* obs-fold, and whitespace before the first header. */
        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\n A: b\r\n\r\n", RT_EBADREQ},
        /* Header names. */
        {"GET / HTTP/1.1\r\nA : b\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA\t: b\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\n: b\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA b: c\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA(b): c\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", RT_EBADREQ},
        /* Control bytes in a value. */
        {"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", RT_EBADREQ},
        /* Request lines. */
        {"\r\nGET / HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET /\r\n\r\n", RT_EBADREQ},
        {"GET\r\n\r\n", RT_EBADREQ},
        {"GET  / HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1 \r\n\r\n", RT_EBADREQ},
        {" / HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"G(T / HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET  HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET http://example.com/ HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"OPTIONS * HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"CONNECT example.com:80 HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET /a\x01 HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET /a\tb HTTP/1.1\r\n\r\n", RT_EBADREQ},
        {"GET /a\x7f HTTP/1.1\r\n\r\n", RT_EBADREQ},
        /* Versions. */
        {"GET / HTTP/2.0\r\n\r\n", RT_EVERSION},
        {"GET / HTTP/3.0\r\n\r\n", RT_EVERSION},
        {"GET / HTTP/0.9\r\n\r\n", RT_EVERSION},
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RT_EVERSION},
        {"GET / HTTP/1\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.1x\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/11.1\r\n\r\n", RT_EBADREQ},
        {"GET / http/1.1\r\n\r\n", RT_EBADREQ},
        {"GET / HTTPS/1.1\r\n\r\n", RT_EBADREQ},
        {"GET / HTTP/1.a\r\n\r\n", RT_EBADREQ},
        /* Content-Length. */
        {"POST / HTTP/1.1\r\nContent-Length: 1a\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", RT_EBADREQ},
        /* Both framings, in either order, even when TE is unsupported. */
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", RT_EBADREQ},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", RT_EBADREQ},
        /* Transfer codings other than exactly "chunked". */
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", RT_ENOTIMPL},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", RT_ENOTIMPL},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", RT_ENOTIMPL},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         RT_ENOTIMPL},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", RT_ENOTIMPL},
        {"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", RT_ENOTIMPL},
        /* Over the default body limit. */
        {"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", RT_EBODYTOOBIG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        replay(parse_request, cases[i].text, strlen(cases[i].text), cases[i].rc, NULL);

    /* A NUL in a value (strlen() would stop at it, so the length is given). */
    static const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
    replay(parse_request, nul, sizeof(nul) - 1, RT_EBADREQ, NULL);
}

/* Builds "GET / HTTP/1.1\r\n" + n header lines + "\r\n" into buf. */
static size_t many_headers(char *buf, size_t cap, int n)
{
    size_t len = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "H%d: %d\r\n", i, i);
    len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    return len;
}

static void test_request_header_count(void **state)
{
    (void)state;
    char buf[2048];
    size_t len = many_headers(buf, sizeof(buf), RT_HTTP_MAX_HEADERS);
    replay(parse_request, buf, len, (int)len, NULL);
    struct rt_http_request r;
    assert_int_equal(rt_http_request_parse(&r, buf, len, 0, RT_HTTP_MAX_HEAD, 0), (int)len);
    assert_int_equal(r.num_headers, RT_HTTP_MAX_HEADERS);
    assert_memory_equal(r.headers[63].name, "H63", 3);

    len = many_headers(buf, sizeof(buf), RT_HTTP_MAX_HEADERS + 1);
    replay(parse_request, buf, len, RT_EBADREQ, NULL);
}

/* A head of exactly `total` bytes, padded with one long header. */
static char *head_of_size(size_t total, const char *end)
{
    const char *start = "GET / HTTP/1.1\r\nX-Pad: ";
    char *buf = malloc(total + 1);
    assert_non_null(buf);
    size_t a = strlen(start), e = strlen(end);
    memcpy(buf, start, a);
    memset(buf + a, 'p', total - a - e);
    memcpy(buf + total - e, end, e);
    buf[total] = '\0';
    return buf;
}

static void test_request_head_limit(void **state)
{
    (void)state;
    /* Exactly 8 KiB, blank line included, is fine; one byte more is 431. */
    char *h = head_of_size(RT_HTTP_MAX_HEAD, "\r\n\r\n");
    replay(parse_request, h, RT_HTTP_MAX_HEAD, RT_HTTP_MAX_HEAD, NULL);
    free(h);
    h = head_of_size(RT_HTTP_MAX_HEAD, "\n\n");
    replay(parse_request, h, RT_HTTP_MAX_HEAD, RT_HTTP_MAX_HEAD, NULL);
    free(h);
    h = head_of_size(RT_HTTP_MAX_HEAD + 1, "\r\n\r\n");
    replay(parse_request, h, RT_HTTP_MAX_HEAD + 1, RT_EHEADTOOBIG, NULL);
    free(h);

    /* A head that never ends fails as soon as it passes the limit, not
     * when the client finally stops. */
    h = head_of_size(RT_HTTP_MAX_HEAD + 1, "p");
    struct rt_http_request r;
    assert_int_equal(rt_http_request_parse(&r, h, RT_HTTP_MAX_HEAD, 0, RT_HTTP_MAX_HEAD, 0),
                     RT_EMORE);
    assert_int_equal(
        rt_http_request_parse(&r, h, RT_HTTP_MAX_HEAD + 1, RT_HTTP_MAX_HEAD, RT_HTTP_MAX_HEAD, 0),
        RT_EHEADTOOBIG);
    replay(parse_request, h, RT_HTTP_MAX_HEAD + 1, RT_EHEADTOOBIG, NULL);
    free(h);

    /* A small limit, for the edge at a line end. */
    g_max_head = 18;
    request_ok("GET / HTTP/1.1\r\n\r\n", NULL);
    g_max_head = 17;
    request_err("GET / HTTP/1.1\r\n\r\n", RT_EHEADTOOBIG);
}

static void test_request_body_limit(void **state)
{
    (void)state;
    g_max_body = 10;
    request_ok("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", NULL);
    request_err("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", RT_EBODYTOOBIG);
    g_max_body = RT_HTTP_MAX_BODY;
    request_ok("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", NULL);
    request_err("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", RT_EBODYTOOBIG);
}

static void test_request_keep_alive(void **state)
{
    (void)state;
    request_ok("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 cl=0 keep-alive");
    request_ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
               "GET / HTTP/1.1 cl=0 | Connection: close");
    request_ok("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n",
               "GET / HTTP/1.1 cl=0 | Connection: Upgrade, CLOSE");
    request_ok("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
               "GET / HTTP/1.1 cl=0 keep-alive | Connection: keep-alive");
    request_ok("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n",
               "GET / HTTP/1.1 cl=0 keep-alive | Connection: closed");
    request_ok("GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0 cl=0");
    request_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
               "GET / HTTP/1.0 cl=0 keep-alive | Connection: Keep-Alive");
    request_ok("GET / HTTP/1.0\r\nConnection: foo\r\nConnection: keep-alive\r\n\r\n",
               "GET / HTTP/1.0 cl=0 keep-alive | Connection: foo | Connection: keep-alive");
    request_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
               "GET / HTTP/1.0 cl=0 | Connection: keep-alive, close");
}

static void test_request_expect(void **state)
{
    (void)state;
    request_ok("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
               "POST / HTTP/1.1 cl=3 keep-alive expect"
               " | Expect: 100-continue | Content-Length: 3");
    request_ok("POST / HTTP/1.1\r\nexpect: 100-Continue\r\n\r\n",
               "POST / HTTP/1.1 cl=0 keep-alive expect | expect: 100-Continue");
    request_ok("POST / HTTP/1.1\r\nExpect: something-else\r\n\r\n",
               "POST / HTTP/1.1 cl=0 keep-alive | Expect: something-else");
    /* A 1.0 client would not understand a 100 (RFC 9110 section 10.1.1). */
    request_ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
               "POST / HTTP/1.0 cl=0 | Expect: 100-continue");
}

/* ======================================================================== */
/* Pipelining: a server's read loop, fed in steps of any size               */
/* ======================================================================== */

/*
 * Reads requests from text as a server would, with text arriving `step`
 * bytes at a time: parse a head (resuming with prev_len), then wait for its
 * Content-Length or chunked body, then go on right after the body. Writes
 * "METHOD path=body;" per request into out.
 */
static void serve(const char *text, size_t len, size_t step, char *out, size_t cap)
{
    char *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, text, len);
    out[0] = '\0';
    size_t off = 0, prev = 0, body = 0;
    bool in_body = false;
    struct rt_http_request r;
    struct rt_http_chunked d;
    for (size_t have = 0; have < len;) {
        have = have + step < len ? have + step : len;
        for (;;) {
            if (!in_body) {
                int rc =
                    rt_http_request_parse(&r, buf + off, have - off, prev, g_max_head, g_max_body);
                if (rc == RT_EMORE) {
                    prev = have - off;
                    break;
                }
                assert_true(rc > 0);
                body = off + (size_t)rc;
                in_body = true;
                memset(&d, 0, sizeof(d));
            }
            size_t body_len, used;
            if (r.chunked) {
                int64_t n = rt_http_chunked_scan(&d, buf + body, have - body, g_max_body);
                if (n == RT_EMORE)
                    break;
                assert_true(n > 0);
                used = (size_t)n;
                body_len = rt_http_chunked_decode(buf + body, used);
                assert_int_equal(body_len, d.body_len);
            } else {
                if (have - body < r.content_length)
                    break;
                used = body_len = (size_t)r.content_length;
            }
            append(out, cap, "%.*s %.*s=%.*s;", (int)r.method_len, r.method, (int)r.path_len,
                   r.path, (int)body_len, buf + body);
            off = body + used;
            in_body = false;
            prev = 0;
            if (off == have)
                break;
        }
    }
    free(buf);
}

static void test_request_pipelined(void **state)
{
    (void)state;
    static const char text[] = "POST /publish?topic=a HTTP/1.1\r\n"
                               "Content-Length: 5\r\n"
                               "\r\n"
                               "hello"
                               "POST /publish?topic=b HTTP/1.1\n"
                               "Transfer-Encoding: chunked\n"
                               "\n"
                               "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
                               "GET /poll?topic=a&since=0 HTTP/1.1\r\n"
                               "Host: x\r\n"
                               "\r\n"
                               "POST /publish HTTP/1.1\r\n"
                               "Content-Length: 2\r\n"
                               "\r\n"
                               "{}";
    const char *want = "POST /publish=hello;POST /publish=abcde;GET /poll=;POST /publish={};";
    char out[512];
    for (size_t step = 1; step <= sizeof(text) - 1; step++) {
        serve(text, sizeof(text) - 1, step, out, sizeof(out));
        assert_string_equal(out, want);
    }

    /* Each head also parses straight from its offset in the one buffer. */
    struct rt_http_request r;
    int n = rt_http_request_parse(&r, text, sizeof(text) - 1, 0, RT_HTTP_MAX_HEAD, 100);
    assert_int_equal(n, 53);
    assert_memory_equal(text + n, "hello", 5);
    n = rt_http_request_parse(&r, text + 58, sizeof(text) - 1 - 58, 0, RT_HTTP_MAX_HEAD, 100);
    assert_true(n > 0 && r.chunked);
}

/* ======================================================================== */
/* Header lookup and token lists                                            */
/* ======================================================================== */

static void test_header_find(void **state)
{
    (void)state;
    static const char text[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1\r\nx-y: 2\r\n\r\n";
    struct rt_http_request r;
    assert_true(rt_http_request_parse(&r, text, sizeof(text) - 1, 0, 100, 0) > 0);
    const struct rt_http_header *h = rt_http_header_find(r.headers, r.num_headers, "x-Y");
    assert_non_null(h);
    assert_int_equal(h->value_len, 1);
    assert_memory_equal(h->value, "1", 1);
    assert_ptr_equal(rt_http_header_find(r.headers, r.num_headers, "HOST"), &r.headers[0]);
    assert_null(rt_http_header_find(r.headers, r.num_headers, "Hos"));
    assert_null(rt_http_header_find(r.headers, r.num_headers, "Hostt"));
    assert_null(rt_http_header_find(r.headers, 0, "Host"));
}

static void test_token_list(void **state)
{
    (void)state;
    const char *v = "keep-alive, Upgrade";
    assert_true(rt_http_token_list_has(v, strlen(v), "upgrade"));
    assert_true(rt_http_token_list_has(v, strlen(v), "Keep-Alive"));
    assert_false(rt_http_token_list_has(v, strlen(v), "keep"));
    assert_false(rt_http_token_list_has(v, strlen(v), "close"));
    v = " ,\tclose\t, ,";
    assert_true(rt_http_token_list_has(v, strlen(v), "close"));
    assert_false(rt_http_token_list_has(v, strlen(v), ""));
    assert_false(rt_http_token_list_has("", 0, "close"));
    /* Only the first value_len bytes count. */
    assert_false(rt_http_token_list_has("closed", 4, "close"));
    assert_true(rt_http_token_list_has("close,x", 5, "close"));
}

/* ======================================================================== */
/* Chunked bodies                                                           */
/* ======================================================================== */

/*
 * Scans text[0..len) whole, byte by byte (fresh exact buffers) and split at
 * every byte, expecting want (the encoded length, or an error); on success
 * also decodes and compares with want_body.
 */
static void chunked_replay(const char *text, size_t len, int64_t want, const char *want_body,
                           uint64_t max_body)
{
    struct rt_http_chunked d = {0};
    int64_t rc = rt_http_chunked_scan(&d, text, len, max_body);
    if (rc != want)
        fail_msg("whole: got %" PRId64 ", want %" PRId64, rc, want);
    if (rc > 0) {
        char *b = malloc((size_t)rc);
        assert_non_null(b);
        memcpy(b, text, (size_t)rc);
        size_t n = rt_http_chunked_decode(b, (size_t)rc);
        assert_int_equal(n, strlen(want_body));
        assert_int_equal(n, d.body_len);
        assert_memory_equal(b, want_body, n);
        free(b);
    }

    struct rt_http_chunked s = {0};
    rc = RT_EMORE;
    for (size_t n = 0; n <= len && rc == RT_EMORE; n++) {
        char *b = malloc(n > 0 ? n : 1);
        assert_non_null(b);
        memcpy(b, text, n);
        rc = rt_http_chunked_scan(&s, b, n, max_body);
        free(b);
    }
    if (rc != want)
        fail_msg("byte by byte: got %" PRId64 ", want %" PRId64, rc, want);

    for (size_t k = 0; k < len; k++) {
        memset(&s, 0, sizeof(s));
        rc = rt_http_chunked_scan(&s, text, k, max_body);
        if (rc == RT_EMORE)
            rc = rt_http_chunked_scan(&s, text, len, max_body);
        if (rc != want)
            fail_msg("split at %zu: got %" PRId64 ", want %" PRId64, k, rc, want);
        if (rc > 0)
            assert_int_equal(s.body_len, d.body_len);
    }
}

static void chunked_ok(const char *text, const char *want_body)
{
    chunked_replay(text, strlen(text), (int64_t)strlen(text), want_body, RT_HTTP_MAX_BODY);
}

static void chunked_err(const char *text, int64_t want)
{
    chunked_replay(text, strlen(text), want, NULL, RT_HTTP_MAX_BODY);
}

static void test_chunked_body(void **state)
{
    (void)state;
    /* The classic example (data containing CRLFs of its own). */
    chunked_ok("4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
               "Wikipedia in\r\n\r\nchunks.");
    chunked_ok("0\r\n\r\n", "");
    chunked_ok("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
    chunked_ok("00000000000000000000001\r\nx\r\n0\r\n\r\n", "x");
    /* Extensions (with and without BWS) and trailers are ignored. */
    chunked_ok("3;name=value;q=\"a;b\"\r\nabc\r\n0;last\r\n\r\n", "abc");
    chunked_ok("3 ;x\r\nabc\r\n0\t; y\r\n\r\n", "abc");
    chunked_ok("3\r\nabc\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n", "abc");
    /* Lone LF throughout. */
    chunked_ok("3\nabc\n2;e\nde\n0\nT: 1\n\n", "abcde");
    chunked_ok("3\nabc\r\n0\r\n\n", "abc");

    /* Bytes after the body belong to the next request. */
    static const char next[] = "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    chunked_replay(next, sizeof(next) - 1, 11, "x", RT_HTTP_MAX_BODY);
}

static void test_chunked_errors(void **state)
{
    (void)state;
    chunked_err("\r\n", RT_EBADREQ);
    chunked_err(";x\r\n", RT_EBADREQ);
    chunked_err("g\r\n", RT_EBADREQ);
    chunked_err("-1\r\n", RT_EBADREQ);
    chunked_err(" 1\r\nx\r\n0\r\n\r\n", RT_EBADREQ);
    chunked_err("1 2\r\nxy\r\n0\r\n\r\n", RT_EBADREQ);
    chunked_err("0x1\r\nx\r\n0\r\n\r\n", RT_EBADREQ);
    chunked_err("1x\r\nx\r\n0\r\n\r\n", RT_EBADREQ);
    /* 2^64 does not fit; 2^64 - 1 does, and is merely too big. */
    chunked_err("10000000000000000\r\n", RT_EBADREQ);
    chunked_err("FFFFFFFFFFFFFFFF\r\n", RT_EBODYTOOBIG);
    /* Bare CRs, and data not followed by its line end. */
    chunked_err("1\rx\r\n0\r\n\r\n", RT_EBADREQ);
    chunked_err("1;a\rb\r\nx\r\n0\r\n\r\n", RT_EBADREQ);
    chunked_err("3\r\nabcd\r\n0\r\n\r\n", RT_EBADREQ);
    chunked_err("3\r\nabc\rX0\r\n\r\n", RT_EBADREQ);
    chunked_err("3\r\nabc\r\n0\r\nT: 1\rX\r\n\r\n", RT_EBADREQ);
    chunked_err("3\r\nabc\r\n0\r\n\rX", RT_EBADREQ);
    /* Incomplete bodies ask for more. */
    chunked_err("", RT_EMORE);
    chunked_err("3\r\nab", RT_EMORE);
    chunked_err("3\r\nabc\r\n0\r\n", RT_EMORE);
    chunked_err("3\r\nabc\r\n0\r\nTrailer: x\r\n", RT_EMORE);
}

static void test_chunked_limit(void **state)
{
    (void)state;
    static const char body[] = "4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";
    chunked_replay(body, sizeof(body) - 1, sizeof(body) - 1, "abcdefghij", 10);
    chunked_replay(body, sizeof(body) - 1, RT_EBODYTOOBIG, NULL, 9);
    chunked_replay(body, sizeof(body) - 1, RT_EBODYTOOBIG, NULL, 4);
    chunked_replay(body, sizeof(body) - 1, RT_EBODYTOOBIG, NULL, 0);
    /* The limit applies before the data arrives: the size line is enough. */
    struct rt_http_chunked d = {0};
    assert_int_equal(rt_http_chunked_scan(&d, "100001\r\n", 8, RT_HTTP_MAX_BODY), RT_EBODYTOOBIG);
    memset(&d, 0, sizeof(d));
    assert_int_equal(rt_http_chunked_scan(&d, "100000\r\n", 8, RT_HTTP_MAX_BODY), RT_EMORE);
}

/* ======================================================================== */
/* Responses we write                                                       */
/* ======================================================================== */

static void test_reason(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *reason;
    } cases[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {200, "OK"},
        {204, "No Content"},
        {400, "Bad Request"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {413, "Content Too Large"},
        {426, "Upgrade Required"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
        {299, "Unknown"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(rt_http_reason(cases[i].status), cases[i].reason);
}

/* Writes h into buffers of every size up to the need: all too small ones
 * must say RT_ENOSPACE, and the exact one must give want. */
static void head_out(const struct rt_http_head_out *h, const char *want)
{
    size_t len = strlen(want);
    for (size_t cap = 0; cap <= len; cap++) {
        char *b = malloc(cap > 0 ? cap : 1);
        assert_non_null(b);
        int n = rt_http_response_head(b, cap, h);
        if (cap < len) {
            assert_int_equal(n, RT_ENOSPACE);
        } else {
            assert_int_equal(n, (int)len);
            assert_memory_equal(b, want, len);
        }
        free(b);
    }
}

static void test_response_head(void **state)
{
    (void)state;
    struct rt_http_head_out h = {.status = 200,
                                 .content_type = "application/json",
                                 .content_length = 12,
                                 .date = "Sun, 06 Nov 1994 08:49:37 GMT"};
    head_out(&h, "HTTP/1.1 200 OK\r\n"
                 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                 "Server: rtlab\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: 12\r\n"
                 "\r\n");

    h = (struct rt_http_head_out){.status = 204, .content_length = -1};
    head_out(&h, "HTTP/1.1 204 No Content\r\nServer: rtlab\r\n\r\n");

    h = (struct rt_http_head_out){
        .status = 400, .content_type = "text/plain", .content_length = 0, .close = true};
    head_out(&h, "HTTP/1.1 400 Bad Request\r\n"
                 "Server: rtlab\r\n"
                 "Content-Type: text/plain\r\n"
                 "Content-Length: 0\r\n"
                 "Connection: close\r\n"
                 "\r\n");

    h = (struct rt_http_head_out){.status = 101,
                                  .content_length = -1,
                                  .extra =
                                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"};
    head_out(&h, "HTTP/1.1 101 Switching Protocols\r\n"
                 "Server: rtlab\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                 "\r\n");

    h = (struct rt_http_head_out){.status = 200,
                                  .content_type = "text/event-stream",
                                  .content_length = INT64_MAX,
                                  .date = "Thu, 01 Jan 1970 00:00:00 GMT",
                                  .close = true,
                                  .extra = "Cache-Control: no-store\r\n"};
    head_out(&h, "HTTP/1.1 200 OK\r\n"
                 "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                 "Server: rtlab\r\n"
                 "Content-Type: text/event-stream\r\n"
                 "Content-Length: 9223372036854775807\r\n"
                 "Connection: close\r\n"
                 "Cache-Control: no-store\r\n"
                 "\r\n");
}

static void test_http_date(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *date;
    } cases[] = {
        {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"}, /* RFC 9110 section 5.6.7 */
        {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
        {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
        {951868799, "Tue, 29 Feb 2000 23:59:59 GMT"},
        {1700000000, "Tue, 14 Nov 2023 22:13:20 GMT"},
        {4107542400, "Mon, 01 Mar 2100 00:00:00 GMT"},
        {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
        /* Out of range: clamped to what the format can say. */
        {-1, "Thu, 01 Jan 1970 00:00:00 GMT"},
        {INT64_MAX, "Fri, 31 Dec 9999 23:59:59 GMT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[30];
        memset(out, 'x', sizeof(out));
        rt_http_date(out, cases[i].t);
        assert_string_equal(out, cases[i].date);
    }
}

/* ======================================================================== */
/* Responses we read                                                        */
/* ======================================================================== */

static void response_ok(const char *text, const char *want_sum)
{
    replay(parse_response, text, strlen(text), (int)strlen(text), want_sum);
}

static void response_err(const char *text, int want_rc)
{
    replay(parse_response, text, strlen(text), want_rc, NULL);
}

static void test_response_parse(void **state)
{
    (void)state;
    response_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
                "1.1 200 cl=5 keep-alive | Content-Length: 5 | Content-Type: text/plain");
    response_ok("HTTP/1.1 204 No Content\r\nServer: rtlab\r\n\r\n",
                "1.1 204 cl=-1 keep-alive | Server: rtlab");
    response_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "1.1 200 cl=-1 chunked keep-alive | Transfer-Encoding: chunked");
    response_ok("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                "1.1 200 cl=-1 | Connection: close");
    response_ok("HTTP/1.0 200 OK\r\n\r\n", "1.0 200 cl=-1");
    response_ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                "1.0 200 cl=0 keep-alive | Connection: keep-alive | Content-Length: 0");
    /* Reason phrases may be empty, odd, or missing with their space. */
    response_ok("HTTP/1.1 200 \r\n\r\n", "1.1 200 cl=-1 keep-alive");
    response_ok("HTTP/1.1 200\r\n\r\n", "1.1 200 cl=-1 keep-alive");
    response_ok("HTTP/1.1 404 Not\tFound \xe2\x9c\x97\n\n", "1.1 404 cl=-1 keep-alive");
    response_ok("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\n\r\n",
                "1.1 101 cl=-1 keep-alive | Upgrade: websocket | Connection: Upgrade");
    response_ok("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n",
                "1.1 200 cl=9223372036854775807 keep-alive"
                " | Content-Length: 9223372036854775807");

    /* The body of a pipelined response is not part of the head. */
    static const char two[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 x\r\n\r\n";
    replay(parse_response, two, sizeof(two) - 1, 38, NULL);
    replay(parse_response, two + 40, sizeof(two) - 1 - 40, 18, "1.1 204 cl=-1 keep-alive");

    response_err("HTTP/2 200 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/2.0 200 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 20 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 2000 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 099 Low\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 2x0 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1  200 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 O\x01K\r\n\r\n", RT_EBADRESP);
    response_err("ICY 200 OK\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\rX\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200\r\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                 RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", RT_EBADRESP);
    response_err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", RT_EMORE);

    char buf[2048];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= RT_HTTP_MAX_HEADERS; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "H%d: %d\r\n", i, i);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
    replay(parse_response, buf, len, RT_EBADRESP, NULL);

    g_max_head = 19;
    response_ok("HTTP/1.1 200 OK\r\n\r\n", NULL);
    g_max_head = 18;
    response_err("HTTP/1.1 200 OK\r\n\r\n", RT_EHEADTOOBIG);
}

static void test_response_bodyless(void **state)
{
    (void)state;
    assert_true(rt_http_response_bodyless("HEAD", 200));
    assert_true(rt_http_response_bodyless("GET", 100));
    assert_true(rt_http_response_bodyless("GET", 101));
    assert_true(rt_http_response_bodyless("GET", 204));
    assert_true(rt_http_response_bodyless("POST", 304));
    assert_false(rt_http_response_bodyless("GET", 200));
    assert_false(rt_http_response_bodyless("GET", 404));
    assert_false(rt_http_response_bodyless("HEADER", 200));
    assert_false(rt_http_response_bodyless(NULL, 500));
}

/* ======================================================================== */
/* URLs, query strings, numbers                                             */
/* ======================================================================== */

static void test_url_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *scheme, *host;
        int port;
        const char *path;
    } ok[] = {
        {"http://example.com", "http", "example.com", 80, "/"},
        {"http://example.com/", "http", "example.com", 80, "/"},
        {"HTTP://Example.COM:8080/a/b?c=d&e", "http", "Example.COM", 8080, "/a/b?c=d&e"},
        {"ws://127.0.0.1:8004/ws?topic=t", "ws", "127.0.0.1", 8004, "/ws?topic=t"},
        {"Ws://h", "ws", "h", 80, "/"},
        {"http://[::1]:8001/poll", "http", "::1", 8001, "/poll"},
        {"http://[2001:db8::1]", "http", "2001:db8::1", 80, "/"},
        {"http://[::ffff:1.2.3.4]/", "http", "::ffff:1.2.3.4", 80, "/"},
        {"http://h?x=1", "http", "h", 80, "/?x=1"},
        {"http://h/p#frag", "http", "h", 80, "/p"},
        {"http://h#frag", "http", "h", 80, "/"},
        {"http://h:1", "http", "h", 1, "/"},
        {"http://h:65535/", "http", "h", 65535, "/"},
        {"http://h:00080/", "http", "h", 80, "/"},
        {"http://my-host_1.local~/", "http", "my-host_1.local~", 80, "/"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct rt_url u;
        memset(&u, 0x55, sizeof(u));
        if (rt_url_parse(&u, ok[i].text) != 0)
            fail_msg("refused %s", ok[i].text);
        assert_string_equal(u.scheme, ok[i].scheme);
        assert_string_equal(u.host, ok[i].host);
        assert_int_equal(u.port, ok[i].port);
        assert_string_equal(u.path, ok[i].path);
    }

    static const char *const bad[] = {
        "https://example.com/",
        "wss://example.com/",
        "ftp://example.com/",
        "httpx://h/",
        "example.com/",
        "http:/h/",
        "http//h/",
        "://h/",
        "http://",
        "http:///path",
        "http://:80/",
        "http://[]/",
        "http://[::1/",
        "http://[::1]x/",
        "http://[fe80::1%eth0]/",
        "http://h:/",
        "http://h:0/",
        "http://h:65536/",
        "http://h:123456/",
        "http://h:8a/",
        "http://user@h/",
        "http://h h/",
        "http://h/a b",
        "http://h/a\x01",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rt_url u;
        if (rt_url_parse(&u, bad[i]) != RT_EBADURL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_url_lengths(void **state)
{
    (void)state;
    struct rt_url u;
    char text[2100];

    /* A host of 255 characters fits; 256 does not. */
    strcpy(text, "http://");
    memset(text + 7, 'h', 255);
    strcpy(text + 7 + 255, "/");
    assert_int_equal(rt_url_parse(&u, text), 0);
    assert_int_equal(strlen(u.host), 255);
    memset(text + 7, 'h', 256);
    strcpy(text + 7 + 256, "/");
    assert_int_equal(rt_url_parse(&u, text), RT_EBADURL);

    /* A path of 1023 characters fits; 1024 does not. */
    strcpy(text, "http://h/");
    memset(text + 9, 'p', 1022);
    text[9 + 1022] = '\0';
    assert_int_equal(rt_url_parse(&u, text), 0);
    assert_int_equal(strlen(u.path), 1023);
    memset(text + 9, 'p', 1023);
    text[9 + 1023] = '\0';
    assert_int_equal(rt_url_parse(&u, text), RT_EBADURL);
    /* A query alone gets its "/" added, which counts too. */
    strcpy(text, "http://h?");
    memset(text + 9, 'q', 1022);
    text[9 + 1022] = '\0';
    assert_int_equal(rt_url_parse(&u, text), RT_EBADURL);

    /* A scheme too long for the field is refused, not truncated. */
    assert_int_equal(rt_url_parse(&u, "httphttp://h/"), RT_EBADURL);
}

static void test_query_get(void **state)
{
    (void)state;
    static const struct {
        const char *query, *key;
        int rc;
        const char *value;
    } cases[] = {
        {"topic=chat&since=12", "topic", 4, "chat"},
        {"topic=chat&since=12", "since", 2, "12"},
        {"topic=chat&since=12", "timeout", -1, NULL},
        {"topic=chat&since=12", "topi", -1, NULL},
        {"topic=chat&since=12", "", -1, NULL},
        {"a=1&a=2", "a", 1, "1"},
        {"flag&x=1", "flag", 0, ""},
        {"x=1&flag", "flag", 0, ""},
        {"flag=&x=1", "flag", 0, ""},
        {"&&a=b&&", "a", 1, "b"},
        {"=v&a=b", "a", 1, "b"},
        {"q=a+b%20c%2Bd%3d", "q", 8, "a b c+d="},
        {"q=%e2%9C%93", "q", 3, "\xe2\x9c\x93"},
        {"q=a=b", "q", 3, "a=b"},
        {"my+key=1&my%20key=2", "my key", 1, "1"},
        {"%74opic=t", "topic", 1, "t"},
        {"q=%", "q", RT_EBADREQ, NULL},
        {"q=%4", "q", RT_EBADREQ, NULL},
        {"q=%zz", "q", RT_EBADREQ, NULL},
        {"q=%00", "q", RT_EBADREQ, NULL},
        {"bad=%&q=1", "q", 1, "1"},
        {"%=1&q=2", "q", 1, "2"},
        {"", "q", -1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        int rc =
            rt_query_get(cases[i].query, strlen(cases[i].query), cases[i].key, out, sizeof(out));
        if (rc != cases[i].rc)
            fail_msg("%s [%s]: got %d, want %d", cases[i].query, cases[i].key, rc, cases[i].rc);
        if (rc >= 0)
            assert_string_equal(out, cases[i].value);
    }

    /* Only query[0..query_len) is looked at. */
    char out[8];
    assert_int_equal(rt_query_get("a=1&b=2", 3, "b", out, sizeof(out)), -1);
    assert_int_equal(rt_query_get("a=12345", 4, "a", out, sizeof(out)), 2);
    assert_string_equal(out, "12");
    assert_int_equal(rt_query_get(NULL, 0, "a", out, sizeof(out)), -1);

    /* The value and its NUL must fit. */
    assert_int_equal(rt_query_get("a=1234567", 9, "a", out, 8), 7);
    assert_int_equal(rt_query_get("a=12345678", 10, "a", out, 8), RT_ENOSPACE);
    assert_int_equal(rt_query_get("a=", 2, "a", out, 1), 0);
    assert_int_equal(rt_query_get("a=", 2, "a", out, 0), RT_ENOSPACE);
}

static void test_parse_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(rt_parse_u64("0", 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rt_parse_u64("1234567890", 10, &v), 0);
    assert_int_equal(v, 1234567890);
    assert_int_equal(rt_parse_u64("18446744073709551615", 20, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(rt_parse_u64("000000000000000000000000042", 27, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(rt_parse_u64("123", 2, &v), 0);
    assert_int_equal(v, 12);

    static const char *const bad[] = {
        "",
        "18446744073709551616",
        "18446744073709551620",
        "99999999999999999999",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1a",
        "0x10",
        "1.0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        assert_int_equal(rt_parse_u64(bad[i], strlen(bad[i]), &v), RT_EBADREQ);
        assert_int_equal(v, 7);
    }
}

static void test_strerror(void **state)
{
    (void)state;
    for (int e = RT_ENOSPACE; e <= RT_EMORE; e++) {
        assert_non_null(rt_strerror(e));
        assert_string_not_equal(rt_strerror(e), "unknown error");
    }
    assert_string_equal(rt_strerror(RT_EBADREQ), "malformed HTTP request");
    assert_string_equal(rt_strerror(0), "unknown error");
    assert_string_equal(rt_strerror(-30000), "unknown error");
    assert_string_equal(rt_strerror(-30012), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_request_spec_example, reset_limits),
        cmocka_unit_test_setup(test_request_shapes, reset_limits),
        cmocka_unit_test_setup(test_request_content_length, reset_limits),
        cmocka_unit_test_setup(test_request_errors, reset_limits),
        cmocka_unit_test_setup(test_request_header_count, reset_limits),
        cmocka_unit_test_setup(test_request_head_limit, reset_limits),
        cmocka_unit_test_setup(test_request_body_limit, reset_limits),
        cmocka_unit_test_setup(test_request_keep_alive, reset_limits),
        cmocka_unit_test_setup(test_request_expect, reset_limits),
        cmocka_unit_test_setup(test_request_pipelined, reset_limits),
        cmocka_unit_test_setup(test_header_find, reset_limits),
        cmocka_unit_test_setup(test_token_list, reset_limits),
        cmocka_unit_test_setup(test_chunked_body, reset_limits),
        cmocka_unit_test_setup(test_chunked_errors, reset_limits),
        cmocka_unit_test_setup(test_chunked_limit, reset_limits),
        cmocka_unit_test_setup(test_reason, reset_limits),
        cmocka_unit_test_setup(test_response_head, reset_limits),
        cmocka_unit_test_setup(test_http_date, reset_limits),
        cmocka_unit_test_setup(test_response_parse, reset_limits),
        cmocka_unit_test_setup(test_response_bodyless, reset_limits),
        cmocka_unit_test_setup(test_url_parse, reset_limits),
        cmocka_unit_test_setup(test_url_lengths, reset_limits),
        cmocka_unit_test_setup(test_query_get, reset_limits),
        cmocka_unit_test_setup(test_parse_u64, reset_limits),
        cmocka_unit_test_setup(test_strerror, reset_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
