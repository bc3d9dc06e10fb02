/*
 * test_clients.c - unit tests of the clients module: backoff, PRNG,
 * ordering/de-dup, the latency histogram, the HTTP client connection
 * against a scripted in-process server, and the commands end to end
 * against a small in-process topic server.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "rt_clients.h"
#include "rt_retry.h"
#include "testutil.h"

/* ---- PRNG -------------------------------------------------------------- */

static void test_rng_deterministic(void **state)
{
    (void)state;
    struct rt_rng a, b, c;
    rt_rng_seed(&a, 42);
    rt_rng_seed(&b, 42);
    rt_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rt_rng_next(&a);
        assert_int_equal(x, rt_rng_next(&b));
        differ += x != rt_rng_next(&c);
    }
    assert_true(differ > 95);
}

static void test_rng_below_and_unit(void **state)
{
    (void)state;
    struct rt_rng r;
    rt_rng_seed(&r, 1);
    uint64_t ns[] = {1, 2, 3, 7, 1000, 1001, UINT64_MAX / 3 * 2, UINT64_MAX};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int i = 0; i < 1000; i++)
            assert_true(rt_rng_below(&r, ns[k]) < ns[k]);
    /* Each of 10 values turns up about 1/10 of the time. */
    int hits[10] = {0};
    for (int i = 0; i < 100000; i++)
        hits[rt_rng_below(&r, 10)]++;
    for (int v = 0; v < 10; v++)
        assert_true(hits[v] > 9500 && hits[v] < 10500);
    for (int i = 0; i < 1000; i++) {
        double u = rt_rng_unit(&r);
        assert_true(u >= 0.0 && u < 1.0);
    }
}

/* ---- Backoff ----------------------------------------------------------- */

static void test_backoff_doubles_to_cap(void **state)
{
    (void)state;
    struct rt_backoff b;
    rt_backoff_init(&b, RT_BACKOFF_BASE_MS, RT_BACKOFF_CAP_MS, 7);
    uint64_t want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(rt_backoff_ceiling(&b), want[i]);
        uint64_t d = rt_backoff_next(&b);
        assert_true(d <= want[i]);
    }
    /* However many failures pile up, the ceiling stays at the cap. */
    b.attempt = UINT32_MAX - 1;
    assert_int_equal(rt_backoff_ceiling(&b), 30000);
    assert_true(rt_backoff_next(&b) <= 30000);
    assert_true(rt_backoff_next(&b) <= 30000);
    assert_int_equal(b.attempt, UINT32_MAX);
}

static void test_backoff_reset(void **state)
{
    (void)state;
    struct rt_backoff b;
    rt_backoff_init(&b, 1000, 30000, 7);
    for (int i = 0; i < 10; i++)
        rt_backoff_next(&b);
    assert_int_equal(rt_backoff_ceiling(&b), 30000);
    rt_backoff_reset(&b);
    assert_int_equal(rt_backoff_ceiling(&b), 1000);
    assert_true(rt_backoff_next(&b) <= 1000);
    assert_int_equal(rt_backoff_ceiling(&b), 2000);
}

/* Full jitter: delays spread evenly over [0, ceiling]. */
static void check_spread(uint32_t failures_before, double ceiling)
{
    struct rt_backoff b;
    rt_backoff_init(&b, 1000, 30000, 12345);
    const int draws = 100000;
    double sum = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < draws; i++) {
        rt_backoff_reset(&b);
        b.attempt = failures_before;
        uint64_t d = rt_backoff_next(&b);
        assert_true(d <= (uint64_t)ceiling);
        sum += (double)d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    double mean = sum / draws;
    /* The mean of a uniform on [0, c] is c/2, its standard error about
     * c/sqrt(12 * draws) = 0.1% of c: 1% is a wide margin. */
    assert_true(mean > ceiling * 0.49 && mean < ceiling * 0.51);
    assert_true((double)lo < ceiling * 0.001);
    assert_true((double)hi > ceiling * 0.999);
}

static void test_backoff_jitter_spread(void **state)
{
    (void)state;
    check_spread(0, 1000);
    check_spread(3, 8000);
    check_spread(9, 30000);
}

static void test_backoff_seeded(void **state)
{
    (void)state;
    struct rt_backoff a, b;
    rt_backoff_init(&a, 1000, 30000, 99);
    rt_backoff_init(&b, 1000, 30000, 99);
    for (int i = 0; i < 20; i++)
        assert_int_equal(rt_backoff_next(&a), rt_backoff_next(&b));
}

/* The reconnect policy: never sooner than retry; jitter of up to 1 s after
 * a stream that delivered; doubling windows while attempts keep failing. */
static void test_backoff_reconnect(void **state)
{
    (void)state;
    struct rt_backoff b;
    rt_backoff_init(&b, RT_BACKOFF_BASE_MS, RT_BACKOFF_CAP_MS, 5);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t d = rt_backoff_reconnect(&b, 3000, true);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo >= 3000 && lo < 3010);
    assert_true(hi <= 4000 && hi > 3990);
    /* Failures in a row: windows of 2, 4, 8, 16, 30, 30 s above retry. */
    uint64_t ceilings[] = {2000, 4000, 8000, 16000, 30000, 30000};
    for (size_t i = 0; i < sizeof ceilings / sizeof ceilings[0]; i++) {
        assert_int_equal(rt_backoff_ceiling(&b), ceilings[i]);
        uint64_t d = rt_backoff_reconnect(&b, 500, false);
        assert_true(d >= 500 && d <= 500 + ceilings[i]);
    }
    /* A stream that delivers starts the count again. */
    uint64_t d = rt_backoff_reconnect(&b, 0, true);
    assert_true(d <= 1000);
    assert_int_equal(rt_backoff_ceiling(&b), 2000);
}

/* ---- Fan-out ----------------------------------------------------------- */

static void test_fanout(void **state)
{
    (void)state;
    struct rt_fanout f;
    rt_fanout_init(&f, 10);
    /* Three clients; message 11 reaches all, 12 only two; 9 is before the run. */
    uint64_t recv[3][2] = {{1005, 2001}, {1030, 2050}, {1012, 0}};
    for (int c = 0; c < 3; c++) {
        for (int k = 0; k < 2; k++) {
            if (recv[c][k] == 0)
                continue;
            struct rt_sub_msg m = {
                .id = 11 + (uint64_t)k, .ts_us = 1000 * (uint64_t)(k + 1), .recv_us = recv[c][k]};
            rt_fanout_record(&f, &m);
        }
    }
    struct rt_sub_msg early = {.id = 9, .ts_us = 1, .recv_us = 100000};
    rt_fanout_record(&f, &early);
    /* ids far apart: the table grows. */
    struct rt_sub_msg far = {.id = 5000, .ts_us = 1, .recv_us = 2};
    rt_fanout_record(&f, &far);
    struct rt_hist h;
    rt_hist_init(&h);
    assert_int_equal(rt_fanout_result(&f, 12, 3, &h), 1);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.max, 30); /* the last of three had message 11 after 30 us */
    rt_hist_init(&h);
    assert_int_equal(rt_fanout_result(&f, 12, 2, &h), 2);
    assert_int_equal(h.max, 50);
    rt_fanout_close(&f);
}

/* ---- Ordering and de-duplication --------------------------------------- */

static void test_seq_dedup(void **state)
{
    (void)state;
    struct rt_seq s;
    rt_seq_init(&s, 0);
    assert_int_equal(rt_seq_accept(&s, 1), RT_SEQ_NEW);
    assert_int_equal(rt_seq_accept(&s, 2), RT_SEQ_NEW);
    assert_int_equal(rt_seq_accept(&s, 2), RT_SEQ_DUP);
    assert_int_equal(rt_seq_accept(&s, 1), RT_SEQ_DUP);
    assert_int_equal(rt_seq_accept(&s, 3), RT_SEQ_NEW);
    assert_int_equal(s.duplicates, 2);
    assert_int_equal(rt_seq_accept(&s, 6), RT_SEQ_GAP);
    assert_int_equal(s.missed, 2);
    assert_int_equal(s.last, 6);
    assert_int_equal(rt_seq_accept(&s, 5), RT_SEQ_DUP);
    assert_int_equal(s.duplicates, 3);
}

static void test_seq_start_and_reset(void **state)
{
    (void)state;
    struct rt_seq s;
    rt_seq_init(&s, 10); /* --since 10 */
    assert_int_equal(rt_seq_accept(&s, 10), RT_SEQ_DUP);
    assert_int_equal(rt_seq_accept(&s, 11), RT_SEQ_NEW);
    /* The server restarted: ids begin again at 1, the position goes down. */
    rt_seq_reset(&s, 0);
    assert_int_equal(rt_seq_accept(&s, 1), RT_SEQ_NEW);
    assert_int_equal(rt_seq_accept(&s, 2), RT_SEQ_NEW);
    /* ...or up, past messages that left the server's ring. */
    rt_seq_reset(&s, 100);
    assert_int_equal(rt_seq_accept(&s, 50), RT_SEQ_DUP);
    assert_int_equal(rt_seq_accept(&s, 101), RT_SEQ_NEW);
    assert_int_equal(s.missed, 0);
}

/* ---- Histogram --------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of sorted v[0..n). */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double p)
{
    double x = p / 100.0 * (double)n;
    size_t rank = (size_t)x;
    if ((double)rank < x || rank == 0)
        rank++;
    return v[rank - 1];
}

/* Records v[0..n) and checks percentiles against the exact ones within the
 * stated error: 1/128 of the value (exact below 64). */
static void check_percentiles(uint64_t *v, size_t n)
{
    struct rt_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    rt_hist_init(h);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        rt_hist_record(h, v[i]);
        sum += (double)v[i];
    }
    qsort(v, n, sizeof v[0], cmp_u64);
    assert_int_equal(h->count, n);
    assert_int_equal(h->min, v[0]);
    assert_int_equal(h->max, v[n - 1]);
    assert_true(rt_hist_mean(h) > sum / (double)n * 0.999999 &&
                rt_hist_mean(h) < sum / (double)n * 1.000001);
    double ps[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 100};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        uint64_t want = exact_percentile(v, n, ps[i]);
        uint64_t got = rt_hist_percentile(h, ps[i]);
        double err = got > want ? (double)(got - want) : (double)(want - got);
        if (err > (double)want / 128.0)
            fail_msg("p%g: got %llu, exact %llu", ps[i], (unsigned long long)got,
                     (unsigned long long)want);
    }
    assert_int_equal(rt_hist_percentile(h, 0), v[0]);
    assert_int_equal(rt_hist_percentile(h, 100), v[n - 1]);
    free(h);
}

static void test_hist_known_data(void **state)
{
    (void)state;
    uint64_t v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = (uint64_t)(1000 - i);
    check_percentiles(v, 1000);

    /* Small values are exact: p50 of 1..63 is 32. */
    struct rt_hist h;
    rt_hist_init(&h);
    assert_int_equal(rt_hist_percentile(&h, 50), 0);
    assert_true(rt_hist_mean(&h) == 0.0);
    for (uint64_t i = 1; i <= 63; i++)
        rt_hist_record(&h, i);
    assert_int_equal(rt_hist_percentile(&h, 50), 32);
    assert_int_equal(rt_hist_percentile(&h, 99), 63);
}

static void test_hist_random_data(void **state)
{
    (void)state;
    /* Latency-like data: spread over six decades, from 0 up. */
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    assert_non_null(v);
    struct rt_rng r;
    rt_rng_seed(&r, 2024);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint64_t)pow(10.0, rt_rng_unit(&r) * 6.0) - 1;
    check_percentiles(v, n);
    /* And a narrow cluster, where every value shares a few buckets. */
    for (size_t i = 0; i < n; i++)
        v[i] = 500000 + rt_rng_below(&r, 20000);
    check_percentiles(v, n);
    free(v);
}

static void test_hist_extremes_and_merge(void **state)
{
    (void)state;
    struct rt_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    rt_hist_init(a);
    rt_hist_init(b);
    rt_hist_record(a, 0);
    rt_hist_record(a, 100);
    rt_hist_record(b, UINT64_MAX);
    rt_hist_record(b, 1000000);
    rt_hist_merge(a, b);
    assert_int_equal(a->count, 4);
    assert_int_equal(a->min, 0);
    assert_int_equal(a->max, UINT64_MAX);
    assert_int_equal(rt_hist_percentile(a, 25), 0);
    assert_int_equal(rt_hist_percentile(a, 50), 100);
    uint64_t p75 = rt_hist_percentile(a, 75);
    assert_true(p75 >= 1000000 - 1000000 / 128 && p75 <= 1000000 + 1000000 / 128);
    assert_int_equal(rt_hist_percentile(a, 100), UINT64_MAX);
    free(a);
    free(b);
}

/* ---- JSON text scanning ------------------------------------------------ */

static void test_json_scan(void **state)
{
    (void)state;
    const char *body = " { \"topic\" : \"a]}\\\"\" , \"x\":[1,{\"y\":\"]\"}],\n\"messages\" : [ "
                       "{\"id\":1,\"data\":[1, 2,\n 3]} ,{\"id\":2, \"data\":\"a b\"},3.5e+2 ] }";
    size_t len = strlen(body);
    size_t at = rt_json_member(body, len, "messages");
    assert_true(at < len);
    assert_int_equal(body[at], '[');
    assert_int_equal(rt_json_member(body, len, "nope"), len);
    assert_int_equal(rt_json_member(body, len, "y"), len); /* not top level */
    size_t start, n;
    char out[128];
    n = rt_json_next_element(body, len, &at, &start);
    out[rt_json_minify(out, body + start, n)] = '\0';
    assert_string_equal(out, "{\"id\":1,\"data\":[1,2,3]}");
    n = rt_json_next_element(body, len, &at, &start);
    out[rt_json_minify(out, body + start, n)] = '\0';
    assert_string_equal(out, "{\"id\":2,\"data\":\"a b\"}");
    n = rt_json_next_element(body, len, &at, &start);
    assert_int_equal(n, 6);
    assert_memory_equal(body + start, "3.5e+2", 6);
    assert_int_equal(rt_json_next_element(body, len, &at, &start), 0);
    const char *empty = "{\"messages\":[]}";
    at = rt_json_member(empty, strlen(empty), "messages");
    assert_int_equal(rt_json_next_element(empty, strlen(empty), &at, &start), 0);
}

/* ---- Endpoints --------------------------------------------------------- */

static void test_endpoint_init(void **state)
{
    (void)state;
    struct rt_endpoint ep;
    assert_int_equal(rt_endpoint_init(&ep, "http://example.org:81/api/"), 0);
    assert_string_equal(ep.host, "example.org");
    assert_int_equal(ep.port, 81);
    assert_string_equal(ep.host_header, "example.org:81");
    assert_string_equal(ep.prefix, "/api");
    assert_int_equal(ep.num_addrs, 0);
    assert_int_equal(rt_endpoint_init(&ep, "http://h"), 0);
    assert_string_equal(ep.host_header, "h");
    assert_string_equal(ep.prefix, "");
    assert_int_equal(rt_endpoint_init(&ep, "http://[::1]:8001"), 0);
    assert_string_equal(ep.host, "::1");
    assert_string_equal(ep.host_header, "[::1]:8001");
    assert_int_equal(rt_endpoint_init(&ep, "ws://h:1"), RT_EBADURL);
    assert_int_equal(rt_endpoint_init(&ep, "https://h"), RT_EBADURL);
    assert_int_equal(rt_endpoint_init(&ep, "http://h/?a=1"), RT_EBADURL);
    assert_int_equal(rt_endpoint_init(&ep, "nonsense"), RT_EBADURL);
}

/* The WebSocket client's URLs: ws:// with its path, or http:// with /ws. */
static void test_endpoint_init_ws(void **state)
{
    (void)state;
    struct rt_endpoint ep;
    assert_int_equal(rt_endpoint_init_ws(&ep, "ws://example.org:81/api/ws"), 0);
    assert_string_equal(ep.host_header, "example.org:81");
    assert_string_equal(ep.ws_path, "/api/ws");
    assert_string_equal(ep.prefix, "/api"); /* publishes go to /api/publish */
    assert_int_equal(rt_endpoint_init_ws(&ep, "ws://h:8004"), 0);
    assert_string_equal(ep.ws_path, "/ws");
    assert_string_equal(ep.prefix, "");
    assert_int_equal(rt_endpoint_init_ws(&ep, "ws://h/socket"), 0);
    assert_string_equal(ep.ws_path, "/socket");
    assert_string_equal(ep.prefix, "");
    assert_int_equal(ep.port, 80);
    assert_int_equal(rt_endpoint_init_ws(&ep, "ws://[::1]:9/ws"), 0);
    assert_string_equal(ep.host, "::1");
    assert_string_equal(ep.host_header, "[::1]:9");
    assert_int_equal(rt_endpoint_init_ws(&ep, "http://h:8004/api/"), 0);
    assert_string_equal(ep.ws_path, "/api/ws");
    assert_string_equal(ep.prefix, "/api");
    assert_int_equal(rt_endpoint_init_ws(&ep, "wss://h"), RT_EBADURL);
    assert_int_equal(rt_endpoint_init_ws(&ep, "ws://h/ws?topic=a"), RT_EBADURL);
    assert_int_equal(rt_endpoint_init_ws(&ep, "nonsense"), RT_EBADURL);
}

/* Chat frames: names and lines are any bytes, the JSON is always valid
 * and UTF-8. */
static void test_chat_json(void **state)
{
    (void)state;
    char out[512];
    int n = rt_json_quote(out, sizeof out, "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/", 14);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\"");
    /* UTF-8 kept; bad bytes (a lone continuation, an overlong form, a
     * surrogate, a sequence cut short, past U+10FFFF) become U+FFFD. */
    static const char in[] =
        "\xc3\xa9\xf0\x9f\x98\x80|\x80|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82";
    n = rt_json_quote(out, sizeof out, in, sizeof in - 1);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "\"\xc3\xa9\xf0\x9f\x98\x80|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd"
                             "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\"");
    /* The worst case fits in 6 * len + 2, and nothing less than needed is
     * overrun. */
    static const char ctl[] = "\x01\x02\x03";
    assert_int_equal(rt_json_quote(out, 20, ctl, 3), 20);
    assert_int_equal(rt_json_quote(out, 19, ctl, 3), -1);
    assert_int_equal(rt_json_quote(out, 1, "", 0), -1);
    assert_int_equal(rt_json_quote(out, 2, "", 0), 2);

    n = rt_chat_json(out, sizeof out, "room", "ann \"x\"", "hi \"there\"\t", 11);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "{\"type\":\"publish\",\"topic\":\"room\",\"data\":{\"from\":"
                             "\"ann \\\"x\\\"\",\"text\":\"hi \\\"there\\\"\\t\"}}");
    cJSON *root = cJSON_ParseWithLength(out, (size_t)n);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "text")->valuestring,
                        "hi \"there\"\t");
    cJSON_Delete(root);
    n = rt_chat_json(out, sizeof out, "room", "ann", NULL, 0);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out,
                        "{\"type\":\"signal\",\"topic\":\"room\",\"data\":{\"typing\":\"ann\"}}");
    /* Too small a buffer at every length: -1, never an overrun. */
    for (size_t cap = 0; cap < (size_t)n; cap++)
        assert_int_equal(rt_chat_json(out, cap, "room", "ann", NULL, 0), -1);
    assert_int_equal(rt_chat_json(out, (size_t)n, "room", "ann", NULL, 0), n);
}

/* ---- nchan's cursors (--peer nchan) ------------------------------------ */

/* Parses a response head that must be whole. */
static void parse_head(struct rt_http_response *r, const char *head)
{
    assert_int_equal(rt_http_response_parse(r, head, strlen(head), 0, 8192), (int)strlen(head));
}

static void test_nchan_cursor(void **state)
{
    (void)state;
    struct rt_nchan_cursor c = {0};
    char out[160];
    /* No message yet: no header, and nchan starts at its oldest message. */
    assert_int_equal(rt_nchan_cursor_sse_header(&c, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(rt_nchan_cursor_poll_headers(&c, out, sizeof out), 0);
    assert_string_equal(out, "");

    /* An EventSource id as nchan 1.3.6 sent it, and the long-poll headers
     * for the same message: nchan's Last-Modified for it was this date. */
    assert_true(rt_nchan_cursor_from_id(&c, "1795830383:1", 12));
    assert_true(c.set);
    assert_int_equal(c.time_s, 1795830383);
    assert_int_equal(c.tag, 1);
    assert_int_equal(rt_nchan_cursor_sse_header(&c, out, sizeof out), 29);
    assert_string_equal(out, "Last-Event-ID: 1795830383:1\r\n");
    assert_int_equal(rt_nchan_cursor_poll_headers(&c, out, sizeof out), 68);
    assert_string_equal(out, "If-Modified-Since: Sat, 28 Nov 2026 01:46:23 GMT\r\n"
                             "If-None-Match: 1\r\n");
    assert_int_equal(rt_nchan_cursor_sse_header(&c, out, 29), -1);
    assert_int_equal(rt_nchan_cursor_poll_headers(&c, out, 68), -1);

    /* Anything but TIME:TAG leaves the cursor alone. */
    const char *bad_ids[] = {"",
                             ":",
                             "1:",
                             ":1",
                             "a:1",
                             "1:2:3",
                             "1:[0]",
                             "1:4294967296",
                             "7",
                             " 1:2",
                             "12345678901234567890:1"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        assert_false(rt_nchan_cursor_from_id(&c, bad_ids[i], strlen(bad_ids[i])));
        assert_int_equal(c.time_s, 1795830383);
        assert_int_equal(c.tag, 1);
    }
    assert_true(rt_nchan_cursor_from_id(&c, "1795830390:4294967295", 21));
    assert_int_equal(c.tag, UINT32_MAX);

    /* A long-poll answer's head, as nchan sent it. */
    struct rt_http_response r;
    parse_head(&r, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
                   "Last-Modified: Sat, 28 Nov 2026 01:46:30 GMT\r\nConnection: keep-alive\r\n"
                   "Etag: 0\r\nVary: If-None-Match, If-Modified-Since\r\n\r\n");
    assert_true(rt_nchan_cursor_from_head(&c, &r));
    assert_int_equal(c.time_s, 1795830390);
    assert_int_equal(c.tag, 0);
    parse_head(&r, "HTTP/1.1 200 OK\r\nLast-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                   "ETag: \"7\"\r\n\r\n");
    assert_true(rt_nchan_cursor_from_head(&c, &r));
    assert_int_equal(c.time_s, 0);
    assert_int_equal(c.tag, 7);
    const char *bad_heads[] = {
        "HTTP/1.1 200 OK\r\nEtag: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 28 Nov 2026 01:46:30 GMT\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 28 Nov 2026 01:46:30 UTC\r\nEtag: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 32 Nov 2026 01:46:30 GMT\r\nEtag: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 28 Nov 2026 24:46:30 GMT\r\nEtag: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 28 Now 2026 01:46:30 GMT\r\nEtag: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Saturday, 28-Nov-26 01:46:30 GMT\r\nEtag: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 28 Nov 2026 01:46:30 GMT\r\nEtag: W/1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLast-Modified: Sat, 28 Nov 2026 01:46:30 GMT\r\nEtag: \r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad_heads / sizeof bad_heads[0]; i++) {
        parse_head(&r, bad_heads[i]);
        assert_false(rt_nchan_cursor_from_head(&c, &r));
        assert_int_equal(c.time_s, 0);
        assert_int_equal(c.tag, 7);
    }

    /* What we send is what we read back, over the whole range of dates. */
    uint64_t times[] = {0, 86399, 951782400 /* 2000-02-29 */, 1795830383, 253402300799};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        struct rt_nchan_cursor a = {.time_s = times[i], .tag = 3, .set = true}, b = {0};
        char head[256];
        assert_true(rt_nchan_cursor_poll_headers(&a, out, sizeof out) > 0);
        /* "If-Modified-Since: DATE\r\nIf-None-Match: 3\r\n" -> the answer's spelling */
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nLast-Modified: %.29s\r\nEtag: 3\r\n\r\n",
                 out + 19);
        parse_head(&r, head);
        assert_true(rt_nchan_cursor_from_head(&b, &r));
        assert_int_equal(b.time_s, times[i]);
        assert_int_equal(b.tag, 3);
    }
}

/* nchan's WebSocket frames with ws+meta.nchan, as nchan 1.3.6 sent them:
 * the id is the cursor and the body starts after the empty line; with the
 * header cut anywhere, or anything else, nothing is taken. */
static void test_nchan_ws_frame(void **state)
{
    (void)state;
    static const char typed[] = "id: 1795838436:1\ncontent-type: application/json\n\n{\"seq\":2}";
    static const char plain[] = "id: 1795838436:0\n\n{\"seq\":1}";
    static const char empty[] = "id: 1795838437:4294967295\n\n";
    struct rt_nchan_cursor c = {0};
    size_t at = 0;
    assert_true(rt_nchan_cursor_from_ws_frame(&c, typed, sizeof typed - 1, &at));
    assert_true(c.set && c.time_s == 1795838436 && c.tag == 1);
    assert_string_equal(typed + at, "{\"seq\":2}");
    assert_true(rt_nchan_cursor_from_ws_frame(&c, plain, sizeof plain - 1, &at));
    assert_true(c.time_s == 1795838436 && c.tag == 0);
    assert_string_equal(plain + at, "{\"seq\":1}");
    assert_true(rt_nchan_cursor_from_ws_frame(&c, empty, sizeof empty - 1, &at));
    assert_true(c.time_s == 1795838437 && c.tag == 4294967295u);
    assert_int_equal(at, sizeof empty - 1);
    /* Every cut of the header is refused and changes nothing. */
    for (size_t n = 0; n < sizeof typed - 1; n++) {
        struct rt_nchan_cursor d = {0};
        bool whole = n >= (size_t)(strstr(typed, "\n\n") - typed) + 2;
        at = 99;
        assert_int_equal(rt_nchan_cursor_from_ws_frame(&d, typed, n, &at), whole);
        assert_int_equal(d.set, whole);
        if (!whole)
            assert_int_equal(at, 99);
    }
    const char *bad[] = {"{\"seq\":1}",           "id: 1795838436\n\n{}",
                         "id: x:1\n\n{}",         "ID: 1795838436:0\n\n{}",
                         "id:1795838436:0\n\n{}", "data: 1\nid: 1795838436:0\n\n{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rt_nchan_cursor d = {0};
        assert_false(rt_nchan_cursor_from_ws_frame(&d, bad[i], strlen(bad[i]), &at));
        assert_false(d.set);
    }
}

/* ---- Where a message's id and ts are read (peer, clock) ----------------- */

struct taken {
    uint64_t id, ts;
    int n;
};

static void on_taken(void *arg, const struct rt_sub_msg *m)
{
    struct taken *t = arg;
    t->id = m->id;
    t->ts = m->ts_us;
    t->n++;
}

/* Takes text as one message under cfg from a fresh position; returns what
 * rt_sub_take() said. */
static int take_text(struct rt_sub_config *cfg, const char *text)
{
    struct rt_seq seq;
    rt_seq_init(&seq, 0);
    cJSON *item = cJSON_Parse(text);
    assert_non_null(item);
    int r = rt_sub_take(cfg, &seq, item, text, strlen(text), 1000);
    cJSON_Delete(item);
    return r;
}

static void test_sub_take_peer_and_clock(void **state)
{
    (void)state;
    static const char msg[] = "{\"id\":3,\"topic\":\"t\",\"event\":\"load\","
                              "\"data\":{\"seq\":7,\"ts\":900},\"ts\":950}";
    static const char body[] = "{\"seq\":7,\"ts\":900}";
    struct rt_sub_stats st;
    memset(&st, 0, sizeof st);
    rt_hist_init(&st.latency);
    struct taken t = {0};
    struct rt_sub_config cfg = {.stats = &st, .on_message = on_taken, .arg = &t};

    /* rtlab, its own clock: the envelope's id and ts. */
    assert_int_equal(take_text(&cfg, msg), RT_SEQ_GAP);
    assert_int_equal(t.id, 3);
    assert_int_equal(t.ts, 950);
    assert_int_equal(st.latency.max, 50);
    /* rtlab, the publisher's clock: the envelope's id, the body's ts. */
    cfg.clock = RT_CLOCK_PUBLISHER;
    assert_int_equal(take_text(&cfg, msg), RT_SEQ_GAP);
    assert_int_equal(t.id, 3);
    assert_int_equal(t.ts, 900);
    assert_int_equal(st.latency.max, 100);
    /* ... and a message whose data is not such a body: delivered, no latency. */
    assert_int_equal(take_text(&cfg, "{\"id\":1,\"data\":5,\"ts\":950}"), RT_SEQ_NEW);
    assert_int_equal(t.ts, 0);
    assert_int_equal(st.latency.count, 2);
    /* nchan: the body is the message; seq is its id. */
    cfg.peer = RT_PEER_NCHAN;
    assert_int_equal(take_text(&cfg, body), RT_SEQ_GAP);
    assert_int_equal(t.id, 7);
    assert_int_equal(t.ts, 900);
    assert_int_equal(take_text(&cfg, msg), -1); /* an envelope has no seq */
    assert_int_equal(take_text(&cfg, "{\"seq\":0,\"ts\":900}"), -1);
    assert_int_equal(t.n, 4);
    assert_int_equal(st.messages, 4);
    assert_int_equal(st.latency.count, 3);
}

/* ---- A scripted HTTP server on a libuv loop ---------------------------- */

/*
 * The fake server answers each request with the next reply of its script;
 * when the script runs out it acts as a tiny topic server (POST /publish,
 * GET /poll, long polls with timeout=S, GET /events streams, with the real
 * servers' answers). It records what it was sent, and when.
 * It runs on the test's own loop (HTTP client tests) or on a loop in a
 * thread of its own (command tests, whose commands run their own loops).
 * With nchan set, the topic server answers as nginx's nchan module does
 * (internal.h, "Peers") instead.
 */
struct fake_reply {
    const char *bytes; /* NULL: never answer */
    size_t piece;      /* > 0: send in pieces of this size, 2 ms apart */
    bool close_after;  /* close the connection after sending */
};

/* One step of the script: a reply, sent delay_ms after the request. */
struct fake_step {
    struct fake_reply reply;
    int delay_ms;
};

#define FAKE_MAX 64

struct fake_msg {
    uint64_t id, ts;
    char data[128];
};

struct fake {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_async_t stop;
    int port;
    struct fake_step script[16];
    int script_len, script_next;
    int connections, nrequests;
    char requests[FAKE_MAX][1024]; /* head and body of each request */
    int64_t request_ms[FAKE_MAX];  /* when each came (tu_now_ms) */
    struct fake_msg msgs[FAKE_MAX];
    uint64_t nmsgs;
    struct fake_conn *conns; /* all open connections */
    bool nchan;              /* answer as nchan */
};

struct fake_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct fake *f;
    char in[16384];
    size_t in_len;
    const char *send_p; /* the reply being sent in pieces */
    size_t send_left, piece;
    bool close_after, closing;
    int open_handles;
    struct fake_reply pending; /* a reply waiting for its delay */
    struct fake_conn *next;    /* in f->conns */
    bool streaming;            /* topic server: an open /events stream */
    bool waiting;              /* topic server: a held long poll after since */
    uint64_t since;
};

static void fake_conn_closed(uv_handle_t *h)
{
    struct fake_conn *fc = h->data;
    if (--fc->open_handles == 0)
        free(fc);
}

static void fake_conn_close(struct fake_conn *fc)
{
    if (fc->closing)
        return;
    fc->closing = true;
    for (struct fake_conn **l = &fc->f->conns; *l; l = &(*l)->next) {
        if (*l == fc) {
            *l = fc->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&fc->tcp, fake_conn_closed);
    uv_close((uv_handle_t *)&fc->timer, fake_conn_closed);
}

static void fake_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void fake_write(struct fake_conn *fc, const char *p, size_t n)
{
    uv_write_t *w = malloc(sizeof *w);
    char *copy = malloc(n ? n : 1);
    assert_non_null(w);
    assert_non_null(copy);
    memcpy(copy, p, n);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)n);
    if (uv_write(w, (uv_stream_t *)&fc->tcp, &b, 1, fake_written) < 0) {
        free(copy);
        free(w);
    }
}

static void fake_next_piece(uv_timer_t *t)
{
    struct fake_conn *fc = t->data;
    size_t n = fc->send_left < fc->piece ? fc->send_left : fc->piece;
    fake_write(fc, fc->send_p, n);
    fc->send_p += n;
    fc->send_left -= n;
    if (fc->send_left == 0) {
        uv_timer_stop(t);
        if (fc->close_after)
            fake_conn_close(fc);
    }
}

static void fake_send(struct fake_conn *fc, const struct fake_reply *r)
{
    if (r->bytes == NULL)
        return;
    fc->close_after = r->close_after;
    if (r->piece) {
        fc->send_p = r->bytes;
        fc->send_left = strlen(r->bytes);
        fc->piece = r->piece;
        uv_timer_start(&fc->timer, fake_next_piece, 2, 2);
        return;
    }
    fake_write(fc, r->bytes, strlen(r->bytes));
    if (r->close_after)
        fake_conn_close(fc);
}

static void fake_delayed(uv_timer_t *t)
{
    struct fake_conn *fc = t->data;
    fake_send(fc, &fc->pending);
}

static void fake_step(struct fake_conn *fc, const struct fake_step *step)
{
    if (step->delay_ms == 0) {
        fake_send(fc, &step->reply);
        return;
    }
    fc->pending = step->reply;
    uv_timer_start(&fc->timer, fake_delayed, (uint64_t)step->delay_ms, 0);
}

static void fake_answer(struct fake_conn *fc, int status, const char *body)
{
    char buf[8192];
    const char *reason = status == 200 ? "OK" : status == 204 ? "No Content" : "Not Found";
    int n = status == 204 ? snprintf(buf, sizeof buf, "HTTP/1.1 204 No Content\r\n\r\n")
                          : snprintf(buf, sizeof buf,
                                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                                     "Content-Length: %zu\r\n\r\n%s",
                                     status, reason, strlen(body), body);
    fake_write(fc, buf, (size_t)n);
}

static uint64_t query_u64(const char *head, const char *key)
{
    const char *p = strstr(head, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* strcasestr() is a GNU extension; this is all we need of it. */
static const char *find_ci(const char *hay, const char *needle)
{
    for (size_t n = strlen(needle); *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* The poll answer for the messages after since (at most 8), into out. */
static void fake_poll_json(const struct fake *f, uint64_t since, char *out, size_t cap)
{
    int n = snprintf(out, cap, "{\"topic\":\"t\",\"messages\":[");
    uint64_t last = since;
    for (uint64_t i = since; i < f->nmsgs && i < since + 8; i++) {
        const struct fake_msg *m = &f->msgs[i];
        n += snprintf(out + n, cap - (size_t)n,
                      "%s{\"id\":%llu,\"topic\":\"t\",\"event\":\"message\",\"data\":%s,"
                      "\"ts\":%llu}",
                      i > since ? "," : "", (unsigned long long)m->id, m->data,
                      (unsigned long long)m->ts);
        last = m->id;
    }
    snprintf(out + n, cap - (size_t)n, "],\"next\":%llu}", (unsigned long long)last);
}

/* Message m as an SSE event, written to a stream. */
static void fake_event(struct fake_conn *fc, const struct fake_msg *m)
{
    char ev[512];
    int n = snprintf(ev, sizeof ev,
                     "id: %llu\nevent: message\ndata: {\"id\":%llu,\"topic\":\"t\",\"event\":"
                     "\"message\",\"data\":%s,\"ts\":%llu}\n\n",
                     (unsigned long long)m->id, (unsigned long long)m->id, m->data,
                     (unsigned long long)m->ts);
    fake_write(fc, ev, (size_t)n);
}

/* A held long poll's time is up: nothing came. */
static void fake_hold_over(uv_timer_t *t)
{
    struct fake_conn *fc = t->data;
    if (fc->waiting) {
        fc->waiting = false;
        fake_answer(fc, 204, "");
    }
}

static void fake_nchan_message(struct fake_conn *fc, uint64_t i, bool sse);

/* A message was published: to every stream, and to every held poll. */
static void fake_fan_out(struct fake *f, const struct fake_msg *m)
{
    char out[4096];
    for (struct fake_conn *fc = f->conns; fc; fc = fc->next) {
        if (f->nchan && (fc->streaming || fc->waiting)) {
            fc->waiting = false;
            fake_nchan_message(fc, m->id - 1, fc->streaming);
            continue;
        }
        if (fc->streaming) {
            fake_event(fc, m);
        } else if (fc->waiting) {
            fc->waiting = false;
            uv_timer_stop(&fc->timer);
            fake_poll_json(f, fc->since, out, sizeof out);
            fake_answer(fc, 200, out);
        }
    }
}

/* GET /events: the stream's head, then a replay after Last-Event-ID. */
static void fake_stream(struct fake_conn *fc, const char *head)
{
    struct fake *f = fc->f;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Cache-Control: no-cache\r\n\r\nretry: 100\n\n";
    fake_write(fc, ok, sizeof ok - 1);
    fc->streaming = true;
    const char *h = find_ci(head, "\r\nlast-event-id:");
    if (h == NULL)
        return; /* live from now */
    uint64_t since = strtoull(h + 16, NULL, 10);
    for (uint64_t i = since; i < f->nmsgs; i++)
        fake_event(fc, &f->msgs[i]);
}

/* ---- The fake as nchan -------------------------------------------------- */

/* nchan's id of message i (from 0): stored two to a second, so that the tag
 * counts too. */
#define FAKE_NCHAN_T0 1795830383

static uint64_t fake_nchan_time(uint64_t i)
{
    return FAKE_NCHAN_T0 + i / 2;
}

/* Message i as nchan hands it to an EventSource or a long-poll subscriber. */
static void fake_nchan_message(struct fake_conn *fc, uint64_t i, bool sse)
{
    const struct fake_msg *m = &fc->f->msgs[i];
    char out[1024], date[30];
    int n;
    if (sse) {
        n = snprintf(out, sizeof out, "id: %llu:%u\ndata: %s\n\n",
                     (unsigned long long)fake_nchan_time(i), (unsigned)(i % 2), m->data);
    } else {
        rt_http_date(date, (int64_t)fake_nchan_time(i));
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Last-Modified: %s\r\nConnection: keep-alive\r\nEtag: %u\r\n"
                     "Vary: If-None-Match, If-Modified-Since\r\n\r\n%s",
                     strlen(m->data), date, (unsigned)(i % 2), m->data);
    }
    fake_write(fc, out, (size_t)n);
}

/* The message after the cursor a request carries (Last-Event-ID, or
 * If-Modified-Since with If-None-Match): its index; 0, the oldest, when
 * there is no cursor or we do not know it. */
static uint64_t fake_nchan_next(const struct fake *f, const char *head, bool sse)
{
    if (sse) {
        const char *h = find_ci(head, "\r\nlast-event-id:");
        unsigned long long t;
        unsigned tag;
        if (h == NULL || sscanf(h + 16, " %llu:%u", &t, &tag) != 2 || t < FAKE_NCHAN_T0)
            return 0;
        return (t - FAKE_NCHAN_T0) * 2 + tag + 1;
    }
    const char *ims = find_ci(head, "\r\nif-modified-since: ");
    const char *inm = find_ci(head, "\r\nif-none-match: ");
    if (ims == NULL || inm == NULL)
        return 0;
    for (uint64_t i = 0; i < f->nmsgs; i++) {
        char date[30];
        rt_http_date(date, (int64_t)fake_nchan_time(i));
        if (strncmp(ims + 21, date, 29) == 0 && strtoul(inm + 17, NULL, 10) == i % 2)
            return i + 1;
    }
    return 0;
}

/* The publisher location: POST stores and answers 202 with text; GET says
 * 404 for a channel without messages, else 200 with the channel's state. */
static void fake_nchan_publisher(struct fake_conn *fc, bool post, const char *body, size_t body_len)
{
    struct fake *f = fc->f;
    char text[256], out[512];
    if (post && f->nmsgs < FAKE_MAX) {
        struct fake_msg *m = &f->msgs[f->nmsgs++];
        m->id = f->nmsgs;
        snprintf(m->data, sizeof m->data, "%.*s", (int)body_len, body);
    }
    if (!post && f->nmsgs == 0) {
        static const char none[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        fake_write(fc, none, sizeof none - 1);
        return;
    }
    int n =
        snprintf(text, sizeof text,
                 "queued messages: %llu\nlast requested: 0 sec. ago\nactive subscribers: 0\n"
                 "last message id: %llu:%u\n",
                 (unsigned long long)f->nmsgs, (unsigned long long)fake_nchan_time(f->nmsgs - 1),
                 (unsigned)((f->nmsgs - 1) % 2));
    n = snprintf(out, sizeof out,
                 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
                 post ? "202 Accepted" : "200 OK", n, text);
    fake_write(fc, out, (size_t)n);
    if (post)
        fake_fan_out(f, &f->msgs[f->nmsgs - 1]);
}

/* nchan: /publish, /events (EventSource) and /poll (long-poll), one channel
 * whatever the topic. A poll with nothing after its cursor is held for
 * ever (nchan's own timeout is not modelled). */
static void fake_nchan(struct fake_conn *fc, const char *head, const char *body, size_t body_len)
{
    struct fake *f = fc->f;
    static const char stream_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
                                      "charset=utf-8\r\nConnection: keep-alive\r\n\r\n: hi\n\n";
    if (strncmp(head, "POST /publish?", 14) == 0 || strncmp(head, "GET /publish?", 13) == 0) {
        fake_nchan_publisher(fc, head[0] == 'P', body, body_len);
    } else if (strncmp(head, "GET /events?", 12) == 0) {
        fake_write(fc, stream_head, sizeof stream_head - 1);
        fc->streaming = true;
        for (uint64_t i = fake_nchan_next(f, head, true); i < f->nmsgs; i++)
            fake_nchan_message(fc, i, true);
    } else if (strncmp(head, "GET /poll?", 10) == 0) {
        uint64_t next = fake_nchan_next(f, head, false);
        if (next < f->nmsgs)
            fake_nchan_message(fc, next, false);
        else
            fc->waiting = true;
    } else {
        fake_answer(fc, 404, "{}");
    }
}

/* The topic server: one log, whatever the topic; answers like the real one. */
static void fake_topic(struct fake_conn *fc, const char *head, const char *body, size_t body_len)
{
    struct fake *f = fc->f;
    char out[4096];
    if (f->nchan) {
        fake_nchan(fc, head, body, body_len);
    } else if (strncmp(head, "POST /publish?", 14) == 0 && f->nmsgs < FAKE_MAX) {
        struct fake_msg *m = &f->msgs[f->nmsgs++];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        m->id = f->nmsgs;
        m->ts = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
        snprintf(m->data, sizeof m->data, "%.*s", (int)body_len, body);
        snprintf(out, sizeof out, "{\"id\":%llu}", (unsigned long long)m->id);
        fake_answer(fc, 200, out);
        fake_fan_out(f, m);
    } else if (strncmp(head, "GET /events?", 12) == 0) {
        fake_stream(fc, head);
    } else if (strncmp(head, "GET /poll?", 10) == 0) {
        uint64_t since = query_u64(head, "since=");
        uint64_t hold = query_u64(head, "timeout=");
        if (since > f->nmsgs) {
            snprintf(out, sizeof out, "{\"reset\":true,\"next\":%llu}",
                     (unsigned long long)f->nmsgs);
            fake_answer(fc, 200, out);
        } else if (since == f->nmsgs && hold > 0) {
            fc->waiting = true; /* a long poll: hold it */
            fc->since = since;
            uv_timer_start(&fc->timer, fake_hold_over, hold * 1000, 0);
        } else if (since == f->nmsgs) {
            fake_answer(fc, 204, "");
        } else {
            fake_poll_json(f, since, out, sizeof out);
            fake_answer(fc, 200, out);
        }
    } else {
        fake_answer(fc, 404, "{}");
    }
}

/* Takes each whole request out of fc->in and answers it. */
static void fake_serve(struct fake_conn *fc)
{
    struct fake *f = fc->f;
    for (;;) {
        fc->in[fc->in_len] = '\0';
        char *end = strstr(fc->in, "\r\n\r\n");
        if (end == NULL)
            return;
        size_t head_len = (size_t)(end - fc->in) + 4;
        const char *cl = find_ci(fc->in, "content-length:");
        size_t body_len = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
        if (fc->in_len < head_len + body_len)
            return;
        if (f->nrequests < FAKE_MAX) {
            f->request_ms[f->nrequests] = tu_now_ms();
            snprintf(f->requests[f->nrequests++], sizeof f->requests[0], "%.*s",
                     (int)(head_len + body_len), fc->in);
        }
        char head[1024];
        snprintf(head, sizeof head, "%.*s", (int)head_len, fc->in);
        if (f->script_next < f->script_len)
            fake_step(fc, &f->script[f->script_next++]);
        else
            fake_topic(fc, head, fc->in + head_len, body_len);
        memmove(fc->in, fc->in + head_len + body_len, fc->in_len - head_len - body_len);
        fc->in_len -= head_len + body_len;
        if (fc->closing)
            return;
    }
}

static void fake_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct fake_conn *fc = h->data;
    (void)size;
    *buf = uv_buf_init(fc->in + fc->in_len, (unsigned)(sizeof fc->in - 1 - fc->in_len));
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fake_conn *fc = s->data;
    (void)buf;
    if (n < 0) {
        fake_conn_close(fc);
        return;
    }
    fc->in_len += (size_t)n;
    fake_serve(fc);
}

static void fake_accept(uv_stream_t *listener, int status)
{
    struct fake *f = listener->data;
    assert_int_equal(status, 0);
    struct fake_conn *fc = calloc(1, sizeof *fc);
    assert_non_null(fc);
    fc->f = f;
    uv_tcp_init(f->loop, &fc->tcp);
    uv_timer_init(f->loop, &fc->timer);
    fc->tcp.data = fc->timer.data = fc;
    fc->open_handles = 2;
    fc->next = f->conns;
    f->conns = fc;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&fc->tcp), 0);
    f->connections++;
    uv_read_start((uv_stream_t *)&fc->tcp, fake_alloc, fake_read);
}

static void fake_start(struct fake *f, uv_loop_t *loop)
{
    memset(f, 0, sizeof *f);
    f->loop = loop;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_init(loop, &f->listener), 0);
    assert_int_equal(uv_tcp_bind(&f->listener, (const struct sockaddr *)&sa, 0), 0);
    f->listener.data = f;
    assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 128, fake_accept), 0);
    int len = sizeof sa;
    uv_tcp_getsockname(&f->listener, (struct sockaddr *)&sa, &len);
    f->port = ntohs(sa.sin_port);
}

/* Adds a reply to the script, to be sent delay_ms after its request. */
static void fake_script_late(struct fake *f, int delay_ms, struct fake_reply r)
{
    assert_true(f->script_len < 16);
    f->script[f->script_len++] = (struct fake_step){r, delay_ms};
}

static void fake_script(struct fake *f, struct fake_reply r)
{
    fake_script_late(f, 0, r);
}

/* Closes whatever the fake still has open on its loop (a uv_walk callback). */
static void fake_close_walk(uv_handle_t *h, void *arg)
{
    struct fake *f = arg;
    if (uv_is_closing(h))
        return;
    if (h == (uv_handle_t *)&f->listener || h == (uv_handle_t *)&f->stop)
        uv_close(h, NULL);
    else
        fake_conn_close(h->data); /* a connection's socket or timer */
}

/* ---- The HTTP client against the fake server --------------------------- */

struct hc_test {
    uv_loop_t loop;
    struct fake f;
    struct rt_endpoint ep;
    struct rt_hclient c;
    uv_timer_t guard;
    int answers; /* callbacks so far */
    int err[8], status[8];
    char body[8][256];
    bool closed;
};

static void on_guard(uv_timer_t *t)
{
    (void)t;
    fail_msg("an HTTP client test did not finish in time");
}

static void hc_setup(struct hc_test *t, const char *host)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    fake_start(&t->f, &t->loop);
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d", host, t->f.port);
    assert_int_equal(rt_endpoint_init(&t->ep, url), 0);
    assert_int_equal(rt_hclient_init(&t->loop, &t->c, &t->ep), 0);
    t->c.data = t;
    uv_timer_init(&t->loop, &t->guard);
    uv_timer_start(&t->guard, on_guard, (uint64_t)tu_ms(10000), 0);
    uv_unref((uv_handle_t *)&t->guard);
}

/* Records one answer in t. */
static void hc_record(struct hc_test *t, int err, const struct rt_hanswer *ans)
{
    int i = t->answers++;
    assert_true(i < 8);
    t->err[i] = err;
    if (ans) {
        t->status[i] = ans->status;
        snprintf(t->body[i], sizeof t->body[0], "%.*s", (int)ans->body_len, ans->body);
    }
}

static void on_hc_closed(struct rt_hclient *c)
{
    struct hc_test *t = c->data;
    t->closed = true;
    if (!uv_is_closing((uv_handle_t *)&t->f.listener))
        uv_close((uv_handle_t *)&t->f.listener, NULL);
    uv_close((uv_handle_t *)&t->guard, NULL);
}

/* Each answer leads to the next of `plan` requests; after the last, close. */
static const char *const *hc_plan;
static uint64_t hc_timeout_ms;

static void on_hc_answer(struct rt_hclient *c, int err, const struct rt_hanswer *ans);

static void hc_next(struct hc_test *t)
{
    const char *next = hc_plan[t->answers];
    if (next == NULL) {
        rt_hclient_close(&t->c, on_hc_closed);
        return;
    }
    char method[8];
    const char *target = strchr(next, ' ') + 1;
    snprintf(method, sizeof method, "%.*s", (int)(target - 1 - next), next);
    bool post = strcmp(method, "POST") == 0;
    assert_int_equal(rt_hclient_request(&t->c, method, target, post ? "application/json" : NULL,
                                        post ? "{\"n\":1}" : NULL, post ? 7 : 0, hc_timeout_ms,
                                        on_hc_answer),
                     0);
}

static void on_hc_answer(struct rt_hclient *c, int err, const struct rt_hanswer *ans)
{
    struct hc_test *t = c->data;
    hc_record(t, err, ans);
    hc_next(t);
}

/* Runs the requests of plan ("GET /a", "POST /p", ...) one after another,
 * then closes the client and runs the loop dry. */
static void hc_run(struct hc_test *t, const char *const *plan, uint64_t timeout_ms)
{
    hc_plan = plan;
    hc_timeout_ms = timeout_ms;
    uv_update_time(&t->loop); /* timers count from now, not from the loop's last turn */
    hc_next(t);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_true(t->closed);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

static void test_hclient_keep_alive(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, false});
    fake_script(&t.f,
                (struct fake_reply){"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false});
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, false});
    const char *plan[] = {"GET /a?x=1", "GET /b", "POST /p", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t.err[i], 0);
        assert_int_equal(t.status[i], 200);
    }
    assert_string_equal(t.body[0], "hello");
    assert_string_equal(t.body[1], "");
    assert_int_equal(t.c.connects, 1); /* all three on one connection */
    assert_int_equal(t.f.connections, 1);
    char host[64];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", t.f.port);
    assert_non_null(strstr(t.f.requests[0], "GET /a?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(t.f.requests[0], host));
    assert_null(strstr(t.f.requests[0], "Content-Length"));
    assert_non_null(strstr(t.f.requests[2], "POST /p HTTP/1.1\r\n"));
    assert_non_null(strstr(t.f.requests[2], "Content-Type: application/json\r\n"));
    assert_non_null(strstr(t.f.requests[2], "Content-Length: 7\r\n\r\n{\"n\":1}"));
}

static void test_hclient_chunked_in_pieces(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    /* One byte per write, 2 ms apart: every read ends somewhere new. */
    fake_script(&t.f,
                (struct fake_reply){"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
                                    1, false});
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 3, false});
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                          "3\r\nabc\r\n0\r\n\r\n",
                                          0, false});
    const char *plan[] = {"GET /1", "GET /2", "GET /3", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 3);
    assert_int_equal(t.err[0], 0);
    assert_string_equal(t.body[0], "hello world");
    assert_string_equal(t.body[1], "hello");
    assert_string_equal(t.body[2], "abc");
    assert_int_equal(t.c.connects, 1);
}

static void test_hclient_bodyless(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    /* No body whatever the headers say: 204, 304, and any answer to HEAD. */
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 204 No Content\r\n\r\n", 0, false});
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                                          0, false});
    fake_script(&t.f,
                (struct fake_reply){"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, false});
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, false});
    const char *plan[] = {"GET /a", "GET /b", "HEAD /c", "GET /d", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 4);
    assert_int_equal(t.status[0], 204);
    assert_int_equal(t.status[1], 304);
    assert_int_equal(t.status[2], 200);
    assert_string_equal(t.body[2], "");
    assert_string_equal(t.body[3], "hello"); /* still in step */
    assert_int_equal(t.c.connects, 1);
}

static void test_hclient_connection_close(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    /* "Connection: close": the next request reconnects. */
    fake_script(
        &t.f, (struct fake_reply){
                  "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 0, true});
    /* No length at all: the body runs to the close. */
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\n\r\nuntil the end", 4, true});
    /* HTTP/1.0 without keep-alive closes too. */
    fake_script(&t.f,
                (struct fake_reply){"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\none", 0, false});
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, false});
    const char *plan[] = {"GET /a", "GET /b", "GET /c", "GET /d", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t.err[i], 0);
    assert_string_equal(t.body[0], "ok");
    assert_string_equal(t.body[1], "until the end");
    assert_string_equal(t.body[2], "one");
    assert_string_equal(t.body[3], "hello");
    assert_int_equal(t.c.connects, 4);
    assert_int_equal(t.f.connections, 4);
}

static void test_hclient_timeout(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    fake_script(&t.f, (struct fake_reply){NULL, 0, false}); /* never answers */
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 0,
                                          false}); /* 2 short */
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, false});
    const char *plan[] = {"GET /a", "GET /b", "GET /c", NULL};
    int64_t t0 = tu_now_ms();
    hc_run(&t, plan, 100);
    int64_t took = tu_now_ms() - t0;
    assert_int_equal(t.answers, 3);
    assert_int_equal(t.err[0], UV_ETIMEDOUT);
    assert_int_equal(t.err[1], UV_ETIMEDOUT);
    assert_int_equal(t.err[2], 0);
    assert_string_equal(t.body[2], "hello");
    assert_int_equal(t.c.connects, 3); /* a timeout closes the connection */
    /* Two deadlines of 100 ms, each may end up to 1 ms early (libuv's clock
     * counts whole milliseconds). */
    assert_true(took >= 198 && took < tu_ms(3000));
    assert_string_equal(rt_hclient_strerror(UV_ETIMEDOUT), "timed out");
}

static void test_hclient_limits_and_errors(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    fake_script(
        &t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n", 0, false});
    fake_script(&t.f,
                (struct fake_reply){
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000001\r\n", 0, false});
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 abc\r\n\r\n", 0, false});
    /* Bytes after the answer: delivered, but the connection is not reused. */
    fake_script(
        &t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 0, false});
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, false});
    const char *plan[] = {"GET /a", "GET /b", "GET /c", "GET /d", "GET /e", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 5);
    assert_int_equal(t.err[0], RT_EBODYTOOBIG);
    assert_int_equal(t.err[1], RT_EBODYTOOBIG);
    assert_int_equal(t.err[2], RT_EBADRESP);
    assert_int_equal(t.err[3], 0);
    assert_string_equal(t.body[3], "ok");
    assert_int_equal(t.err[4], 0);
    assert_int_equal(t.c.connects, 5);
}

/* A keep-alive connection the server closed while idle: a GET is sent
 * again on a new connection, a POST is not (it might have been done). */
static void test_hclient_stale_connection(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, true}); /* closes, says nothing */
    fake_script(&t.f, (struct fake_reply){OK_HELLO, 0, true});
    const char *plan[] = {"GET /a", "GET /b", "POST /c", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 3);
    assert_int_equal(t.err[0], 0);
    assert_int_equal(t.err[1], 0); /* resent */
    assert_string_equal(t.body[1], "hello");
    assert_true(t.err[2] == UV_EOF || t.err[2] == UV_ECONNRESET || t.err[2] == UV_EPIPE);
    assert_int_equal(t.f.nrequests, 2);
}

static void test_hclient_refused_and_localhost(void **state)
{
    (void)state;
    struct hc_test t;
    /* localhost may resolve to ::1 first; the fake listens on 127.0.0.1
     * only, so this also checks that the next address is tried. */
    hc_setup(&t, "localhost");
    const char *plan[] = {"GET /a", "GET /b", NULL};
    hc_run(&t, plan, 0);
    assert_int_equal(t.answers, 2);
    assert_int_equal(t.err[0], 0);
    assert_int_equal(t.status[0], 404); /* the topic server's answer */
    assert_int_equal(t.err[1], 0);
    assert_int_equal(t.c.connects, 1);
    assert_true(t.ep.num_addrs >= 1);

    /* A port nobody listens on: take one, then close it. */
    hc_setup(&t, "127.0.0.1");
    uv_close((uv_handle_t *)&t.f.listener, NULL);
    uv_run(&t.loop, UV_RUN_NOWAIT);
    t.f.listener.data = NULL;
    const char *plan2[] = {"GET /a", NULL};
    hc_plan = plan2;
    hc_timeout_ms = 0;
    hc_next(&t);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.answers, 1);
    assert_int_equal(t.err[0], UV_ECONNREFUSED);
    assert_true(t.closed);
    assert_int_equal(uv_loop_close(&t.loop), 0);
}

static void on_cancel_timer(uv_timer_t *timer)
{
    struct hc_test *t = timer->data;
    assert_true(rt_hclient_busy(&t->c));
    assert_int_equal(rt_hclient_request(&t->c, "GET", "/x", NULL, NULL, 0, 0, on_hc_answer),
                     UV_EBUSY);
    uv_close((uv_handle_t *)timer, NULL);
    rt_hclient_close(&t->c, on_hc_closed);
}

static void test_hclient_close_in_flight(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    assert_int_equal(rt_hclient_request(&t.c, "GET", "/a\r\nX: y", NULL, NULL, 0, 0, on_hc_answer),
                     UV_EINVAL);
    fake_script(&t.f, (struct fake_reply){NULL, 0, false});
    /* After the one answer, plan[1] == NULL: close (already under way). */
    static const char *const plan[] = {"GET /a", NULL};
    hc_plan = plan;
    assert_int_equal(rt_hclient_request(&t.c, "GET", "/a", NULL, NULL, 0, 0, on_hc_answer), 0);
    uv_timer_t cancel;
    uv_timer_init(&t.loop, &cancel);
    cancel.data = &t;
    uv_timer_start(&cancel, on_cancel_timer, 50, 0);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.closed);
    assert_int_equal(t.answers, 1);
    assert_int_equal(t.err[0], UV_ECANCELED);
    assert_int_equal(uv_loop_close(&t.loop), 0);
}

/* ---- Streaming answers ------------------------------------------------- */

/* What the streams of one test did; one stream follows another as planned. */
struct stream_plan {
    const char *headers;
    uint64_t timeout_ms, idle_ms;
    size_t abort_at; /* > 0: abort once this many body bytes came */
};

static struct {
    const struct stream_plan *plan;
    int n; /* streams ended so far */
    int heads[8], status[8], err[8], pieces[8];
    char data[8][256];
    size_t data_len[8];
    int64_t end_ms[8];
} sr;

static void stream_next(struct hc_test *t);

static void on_st_head(struct rt_hclient *c, const struct rt_hanswer *ans)
{
    (void)c;
    sr.heads[sr.n]++;
    sr.status[sr.n] = ans->status;
    assert_int_equal(ans->body_len, 0);
}

static void on_st_data(struct rt_hclient *c, const char *p, size_t n)
{
    size_t *len = &sr.data_len[sr.n];
    assert_true(*len + n < sizeof sr.data[0]);
    memcpy(sr.data[sr.n] + *len, p, n);
    *len += n;
    sr.pieces[sr.n]++;
    if (sr.plan[sr.n].abort_at && *len >= sr.plan[sr.n].abort_at)
        rt_hclient_abort(c, UV_ECONNABORTED);
}

static void on_st_end(struct rt_hclient *c, int err, const struct rt_hanswer *ans)
{
    struct hc_test *t = c->data;
    sr.err[sr.n] = err;
    sr.end_ms[sr.n] = tu_now_ms();
    if (ans) {
        sr.status[sr.n] = ans->status;
        snprintf(sr.data[sr.n], sizeof sr.data[0], "%.*s", (int)ans->body_len, ans->body);
    }
    sr.n++;
    stream_next(t);
}

static void stream_next(struct hc_test *t)
{
    const struct stream_plan *p = &sr.plan[sr.n];
    if (p->headers == NULL) {
        rt_hclient_close(&t->c, on_hc_closed);
        return;
    }
    assert_int_equal(rt_hclient_stream(&t->c, "/events?topic=t", p->headers, p->timeout_ms,
                                       p->idle_ms, on_st_head, on_st_data, on_st_end),
                     0);
}

#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"

static void test_hclient_stream(void **state)
{
    (void)state;
    struct hc_test t;
    hc_setup(&t, "127.0.0.1");
    static const struct stream_plan plan[] = {
        {"Accept: text/event-stream\r\nLast-Event-ID: 7\r\n", 0, 0, 0},
        {"", 0, 0, 0},
        {"", 0, 0, 0},
        {"", 0, 0, 0},
        {"", 0, 100, 0},
        {"", 0, 0, 1},
        {"", 100, 0, 0},
        {NULL, 0, 0, 0},
    };
    /* Three bytes a write: the head and the events arrive in pieces. */
    fake_script(&t.f, (struct fake_reply){SSE_HEAD "retry: 10\n\ndata: hello\n\n", 3, true});
    /* Any other answer is read whole, like a request's; the connection stays. */
    fake_script(&t.f,
                (struct fake_reply){
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", 0, false});
    /* A Content-Length body ends the stream when it is all in. */
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcdeXYZ", 0,
                                          false});
    fake_script(&t.f, (struct fake_reply){"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                          "5\r\nhello\r\n",
                                          0, false});
    /* One byte, then silence: the watchdog (100 ms) ends it. */
    fake_script(&t.f, (struct fake_reply){SSE_HEAD "x", 0, false});
    /* The receiver aborts at the first byte. */
    fake_script(&t.f, (struct fake_reply){SSE_HEAD "0123456789", 0, false});
    /* No head at all: the request's deadline (100 ms) ends it. */
    fake_script(&t.f, (struct fake_reply){NULL, 0, false});
    assert_int_equal(rt_hclient_stream(&t.c, "/e", "X: y", 0, 0, on_st_head, on_st_data, on_st_end),
                     UV_EINVAL);
    assert_int_equal(
        rt_hclient_stream(&t.c, "/e", "X: y\r\nZ", 0, 0, on_st_head, on_st_data, on_st_end),
        UV_EINVAL);
    memset(&sr, 0, sizeof sr);
    sr.plan = plan;
    uv_update_time(&t.loop);
    stream_next(&t);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.closed);
    assert_int_equal(uv_loop_close(&t.loop), 0);

    assert_int_equal(sr.n, 7);
    assert_non_null(strstr(t.f.requests[0], "GET /events?topic=t HTTP/1.1\r\n"));
    assert_non_null(
        strstr(t.f.requests[0], "\r\nAccept: text/event-stream\r\nLast-Event-ID: 7\r\n"));
    assert_int_equal(sr.heads[0], 1);
    assert_int_equal(sr.status[0], 200);
    assert_int_equal(sr.err[0], UV_EOF);
    assert_int_equal(sr.data_len[0], 24);
    assert_memory_equal(sr.data[0], "retry: 10\n\ndata: hello\n\n", 24);
    assert_true(sr.pieces[0] >= 4); /* handed over as it came */

    assert_int_equal(sr.heads[1], 0);
    assert_int_equal(sr.err[1], 0);
    assert_int_equal(sr.status[1], 503);
    assert_string_equal(sr.data[1], "busy");

    assert_int_equal(sr.err[2], 0);
    assert_int_equal(sr.data_len[2], 5);
    assert_memory_equal(sr.data[2], "abcde", 5);
    assert_int_equal(sr.err[3], RT_ENOTIMPL);

    assert_int_equal(sr.heads[4], 1);
    assert_int_equal(sr.err[4], UV_ETIMEDOUT);
    int64_t silent = sr.end_ms[4] - t.f.request_ms[4];
    assert_true(silent >= 99 && silent < tu_ms(1000)); /* 99: libuv counts whole ms */

    assert_int_equal(sr.err[5], UV_ECONNABORTED);
    assert_int_equal(sr.heads[6], 0);
    assert_int_equal(sr.err[6], UV_ETIMEDOUT);
    /* Streams are not kept alive; the 503 was, for the stream after it. */
    assert_int_equal(t.c.connects, 6);
}

/* ---- A subscriber on the test's loop ----------------------------------- */

struct sub_test {
    uv_loop_t loop;
    struct fake f;
    struct rt_endpoint ep;
    struct rt_sub_stats stats;
    void *sub;
    const struct rt_approach *ap;
    uint64_t ids[16];
    int nids, want;
    bool closed;
};

static void on_sub_test_message(void *arg, const struct rt_sub_msg *m)
{
    struct sub_test *st = arg;
    assert_true(st->nids < 16);
    st->ids[st->nids++] = m->id;
    if (st->nids == st->want) {
        st->closed = true;
        st->ap->close(st->sub, NULL);
        uv_close((uv_handle_t *)&st->f.listener, NULL);
    }
}

/* Runs one subscriber of ap with cfg against the fake's script until it
 * has delivered `want` messages. */
static void sub_test_run(struct sub_test *st, const struct rt_approach *ap,
                         struct rt_sub_config *cfg, int want)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", st->f.port);
    assert_int_equal(rt_endpoint_init(&st->ep, url), 0);
    rt_hist_init(&st->stats.latency);
    st->ap = ap;
    st->want = want;
    st->sub = calloc(1, ap->sub_size);
    assert_non_null(st->sub);
    cfg->ep = &st->ep;
    cfg->topic = "t";
    cfg->stats = &st->stats;
    cfg->on_message = on_sub_test_message;
    cfg->arg = st;
    cfg->seed = 1;
    assert_int_equal(ap->init(&st->loop, st->sub, cfg), 0);
    uv_update_time(&st->loop);
    ap->start(st->sub, 0);
    alarm((unsigned)(tu_ms(30000) / 1000));
    uv_run(&st->loop, UV_RUN_DEFAULT);
    alarm(0);
    assert_true(st->closed);
    assert_int_equal(uv_loop_close(&st->loop), 0);
    free(st->sub);
}

#define BATCH1                                                                                     \
    "{\"topic\":\"t\",\"messages\":[{\"id\":1,\"topic\":\"t\",\"event\":\"message\","              \
    "\"data\":1,\"ts\":1}],\"next\":1}"

/*
 * Long polling: the request's own deadline is the hold plus the margin, so
 * a poll the server holds for its whole timeout is not given up on, and
 * one that never comes back fails at hold + margin; after each answer the
 * client polls again at once.
 */
static void test_long_poll_margin_and_repoll(void **state)
{
    (void)state;
    static char r2[256];
    snprintf(r2, sizeof r2, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(BATCH1),
             BATCH1);
    struct sub_test *st = calloc(1, sizeof *st);
    assert_non_null(st);
    assert_int_equal(uv_loop_init(&st->loop), 0);
    fake_start(&st->f, &st->loop);
    fake_script(&st->f, (struct fake_reply){NULL, 0, false}); /* never answers */
    /* Held past the 1 s hold, but within the margin: a good answer. */
    fake_script_late(&st->f, 1150,
                     (struct fake_reply){"HTTP/1.1 204 No Content\r\n\r\n", 0, false});
    fake_script(&st->f, (struct fake_reply){r2, 0, false});
    struct rt_sub_config cfg = {.hold_ms = 1000, .margin_ms = 400, .verbose = false};
    sub_test_run(st, &rt_long_approach, &cfg, 1);

    assert_int_equal(st->f.nrequests, 3);
    for (int i = 0; i < 3; i++)
        assert_non_null(strstr(st->f.requests[i], "GET /poll?topic=t&since=0&timeout=1 "));
    int64_t gave_up = st->f.request_ms[1] - st->f.request_ms[0];
    /* 1.4 s, then the first backoff: up to 1 s (full jitter). */
    assert_true(gave_up >= 1398 && gave_up < 1400 + 1000 + tu_ms(500));
    int64_t held = st->f.request_ms[2] - st->f.request_ms[1];
    assert_true(held >= 1148 && held < 1150 + tu_ms(200)); /* asked again at once */
    assert_int_equal(st->stats.requests, 3);
    assert_int_equal(st->stats.errors, 1);
    assert_int_equal(st->stats.empty, 1);
    assert_int_equal(st->stats.messages, 1);
    assert_int_equal(st->stats.held, 0);
    free(st);
}

/*
 * The subscribers with --peer nchan, against a script: each request after
 * a message carries nchan's cursor for it (long-poll: its Last-Modified and
 * Etag; SSE, on reconnecting: its event id), seq is the message id (the
 * replayed seq 1 is dropped), and a 408 (nchan's hold ended) is an empty
 * answer, not an error.
 */
static void test_nchan_subscribers(void **state)
{
    (void)state;
#define NCHAN_POLL(date, etag, body)                                                               \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"                  \
    "Last-Modified: " date "\r\nEtag: " etag "\r\n\r\n" body
    struct sub_test *st = calloc(1, sizeof *st);
    assert_non_null(st);
    assert_int_equal(uv_loop_init(&st->loop), 0);
    fake_start(&st->f, &st->loop);
    fake_script(&st->f, (struct fake_reply){NCHAN_POLL("Sat, 28 Nov 2026 01:46:23 GMT", "0",
                                                       "{\"seq\":1,\"ts\":1}"),
                                            0, false});
    fake_script(&st->f, (struct fake_reply){"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                                            "\r\n",
                                            0, false});
    fake_script(&st->f, (struct fake_reply){NCHAN_POLL("Sat, 28 Nov 2026 01:46:23 GMT", "1",
                                                       "{\"seq\":2,\"ts\":2}"),
                                            0, false});
    struct rt_sub_config cfg = {.hold_ms = 30000, .peer = RT_PEER_NCHAN};
    sub_test_run(st, &rt_long_approach, &cfg, 2);
    assert_int_equal(st->f.nrequests, 3);
    assert_non_null(strstr(st->f.requests[0], "GET /poll?topic=t HTTP/1.1\r\n"));
    assert_null(strstr(st->f.requests[0], "If-"));
    for (int i = 1; i < 3; i++)
        assert_non_null(strstr(st->f.requests[i],
                               "\r\nIf-Modified-Since: Sat, 28 Nov 2026 01:46:23 GMT\r\n"
                               "If-None-Match: 0\r\n"));
    assert_int_equal(st->ids[0], 1);
    assert_int_equal(st->ids[1], 2);
    assert_int_equal(st->stats.empty, 1);
    assert_int_equal(st->stats.errors, 0);
    free(st);

    st = calloc(1, sizeof *st);
    assert_non_null(st);
    assert_int_equal(uv_loop_init(&st->loop), 0);
    fake_start(&st->f, &st->loop);
    static const char s1[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
        "\r\n: hi\n\nretry: 10\n\nid: 1795830383:0\ndata: {\"seq\":1,\"ts\":1}\n\n";
    static const char s2[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                             "\r\n: hi\n\nid: 1795830383:0\ndata: {\"seq\":1,\"ts\":1}\n\n"
                             "event: ping\n\nid: 1795830384:0\ndata: {\"seq\":2,\"ts\":2}\n\n";
    fake_script(&st->f, (struct fake_reply){s1, 0, true});
    fake_script(&st->f, (struct fake_reply){s2, 0, false});
    cfg = (struct rt_sub_config){.peer = RT_PEER_NCHAN};
    sub_test_run(st, &rt_sse_approach, &cfg, 2);
    assert_int_equal(st->f.nrequests, 2);
    assert_null(strstr(st->f.requests[0], "Last-Event-ID"));
    assert_non_null(strstr(st->f.requests[1], "\r\nLast-Event-ID: 1795830383:0\r\n"));
    assert_int_equal(st->ids[0], 1);
    assert_int_equal(st->ids[1], 2);
    assert_int_equal(st->stats.duplicates, 1);
    assert_int_equal(st->stats.errors, 0);
    free(st);
#undef NCHAN_POLL
}

/* ---- The commands, end to end against the fake in a thread ------------ */

struct fake_thread {
    uv_loop_t loop;
    uv_thread_t thread;
    struct fake f;
};

static void on_fake_stop(uv_async_t *a)
{
    struct fake *f = a->data;
    uv_walk(f->loop, fake_close_walk, f);
}

static void fake_thread_main(void *arg)
{
    struct fake_thread *ft = arg;
    uv_run(&ft->loop, UV_RUN_DEFAULT);
}

/* Starts the fake on a thread of its own; script it before the thread
 * starts (fake_script() after this is a data race). */
static struct fake_thread *fake_thread_new(void)
{
    struct fake_thread *ft = calloc(1, sizeof *ft);
    assert_non_null(ft);
    assert_int_equal(uv_loop_init(&ft->loop), 0);
    fake_start(&ft->f, &ft->loop);
    assert_int_equal(uv_async_init(&ft->loop, &ft->f.stop, on_fake_stop), 0);
    ft->f.stop.data = &ft->f;
    return ft;
}

static void fake_thread_run(struct fake_thread *ft)
{
    assert_int_equal(uv_thread_create(&ft->thread, fake_thread_main, ft), 0);
}

/* Stops the thread; its records may be read after this. */
static void fake_thread_stop(struct fake_thread *ft)
{
    uv_async_send(&ft->f.stop);
    uv_thread_join(&ft->thread);
    assert_int_equal(uv_loop_close(&ft->loop), 0);
}

/* Output of a command: stdout and stderr captured through temp files. */
struct captured {
    int code;
    char out[16384], err[16384];
};

static void slurp(FILE *f, char *buf, size_t cap)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs cmd(argv) with fds 1 and 2 sent to files; a stuck command is killed
 * by SIGALRM, failing the test run. */
static void run_cmd(int (*cmd)(int, char **), struct captured *c, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, c);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    alarm((unsigned)(tu_ms(30000) / 1000));
    c->code = cmd(argc, argv);
    alarm(0);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(out, c->out, sizeof c->out);
    slurp(err, c->err, sizeof c->err);
}

static void test_cmd_help_and_usage(void **state)
{
    (void)state;
    struct captured c;
    run_cmd(rt_cmd_publish, &c, "publish", "--help", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "usage: rtlab publish"));
    run_cmd(rt_cmd_client, &c, "client", "--help", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "usage: rtlab client"));
    run_cmd(rt_cmd_client, &c, "client", "short", "--help", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "--interval"));
    run_cmd(rt_cmd_load, &c, "load", "short", "--help", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "--clients"));

    run_cmd(rt_cmd_client, &c, "client", "ws", "--topic", "a", "--interval", "1", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--interval is for short only, not ws"));
    run_cmd(rt_cmd_client, &c, "client", "ws", "--help", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "--chat"));
    run_cmd(rt_cmd_client, &c, "client", "sse", "--topic", "a", "--chat", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--chat is for ws only, not sse"));
    run_cmd(rt_cmd_client, &c, "client", "sse", "--topic", "a", "--topic", "b", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "one --topic only for sse"));
    run_cmd(rt_cmd_client, &c, "client", "ws", "--topic", "a", "--name", "n", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--name is for --chat"));
    run_cmd(rt_cmd_client, &c, "client", "ws", "--topic", "a", "--url", "wss://x", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "or ws://host[:port][/path]"));
    run_cmd(rt_cmd_client, &c, "client", "ws", "--topic", "a", "--max-message", "1", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_client, &c, "client", "sse", "--help", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "--heartbeat"));
    /* Options of one approach are refused by the others. */
    run_cmd(rt_cmd_client, &c, "client", "short", "--topic", "a", "--timeout", "5", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--timeout is for long only, not short"));
    run_cmd(rt_cmd_client, &c, "client", "long", "--topic", "a", "--heartbeat", "5", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--heartbeat is for sse and ws only, not long"));
    run_cmd(rt_cmd_load, &c, "load", "sse", "--interval", "5", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--interval is for short only, not sse"));
    run_cmd(rt_cmd_client, &c, "client", "long", "--topic", "a", "--timeout", "121", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_client, &c, "client", "long", "--topic", "a", "--timeout", "0", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_load, &c, "load", "sse", "--no-deflate", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--no-deflate is for ws only, not sse"));
    run_cmd(rt_cmd_client, &c, "client", "carrier-pigeon", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "unknown approach"));
    run_cmd(rt_cmd_client, &c, "client", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_client, &c, "client", "short", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--topic is required"));
    run_cmd(rt_cmd_client, &c, "client", "short", "--topic", "a", "--frobnicate", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "unknown option '--frobnicate'"));
    run_cmd(rt_cmd_client, &c, "client", "short", "--topic", "a", "--interval", "soon", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_client, &c, "client", "short", "--topic", "a", "--url", "ftp://x", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_load, &c, "load", "short", "--clients", "0", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_load, &c, "load", "short", "extra", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_publish, &c, "publish", "--topic", "a", "{nope", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "not valid JSON"));
    run_cmd(rt_cmd_publish, &c, "publish", "--topic", "a b", "1", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_publish, &c, "publish", "--topic", "a", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_publish, &c, "publish", "--url", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "needs a value"));
}

static void test_cmd_publish(void **state)
{
    (void)state;
    struct fake_thread *ft = fake_thread_new();
    fake_script(&ft->f,
                (struct fake_reply){
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\n\r\nbad topic", 0, false});
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
    struct captured c;
    run_cmd(rt_cmd_publish, &c, "publish", "--url", url, "--topic", "t", "1", NULL);
    assert_int_equal(c.code, 1);
    assert_non_null(strstr(c.err, "400"));
    assert_non_null(strstr(c.err, "bad topic"));
    run_cmd(rt_cmd_publish, &c, "publish", "--url", url, "--topic", "t", "--event", "e",
            "{\"a\": [1, 2]}", NULL);
    assert_int_equal(c.code, 0);
    assert_string_equal(c.out, "{\"id\":1}\n");
    fake_thread_stop(ft);
    assert_int_equal(ft->f.nrequests, 2);
    assert_non_null(strstr(ft->f.requests[1], "POST /publish?topic=t&event=e HTTP/1.1\r\n"));
    assert_non_null(strstr(ft->f.requests[1], "Content-Type: application/json\r\n"));
    assert_non_null(strstr(ft->f.requests[1], "\r\n\r\n{\"a\": [1, 2]}"));
    free(ft);

    run_cmd(rt_cmd_publish, &c, "publish", "--url", "http://127.0.0.1:1", "--topic", "t", "1",
            NULL);
    assert_int_equal(c.code, 1);
    assert_non_null(strstr(c.err, "connection refused"));
}

#define POLL_OK(json) "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " json

/* The short client against a script: duplicates, an error, a reset. */
static void test_cmd_client_short_script(void **state)
{
    (void)state;
    static const char b1[] =
        "{\"topic\":\"t\",\"messages\":[{\"id\":1,\"topic\":\"t\",\"event\":\"message\","
        "\"data\":{\"x\": [1, 2]},\"ts\":1},\n{\"id\":2,\"topic\":\"t\",\"event\":\"e\","
        "\"data\":1795826328207180,\"ts\":2}],\"next\":2}";
    static const char b2[] =
        "{\"topic\":\"t\",\"messages\":[{\"id\":2,\"topic\":\"t\",\"event\":\"e\","
        "\"data\":1795826328207180,\"ts\":2},{\"id\":3,\"topic\":\"t\",\"event\":\"message\","
        "\"data\":\"a b\",\"ts\":3}],\"next\":3}";
    static const char b3[] = "{\"reset\":true,\"next\":0}";
    static const char b4[] =
        "{\"topic\":\"t\",\"messages\":[{\"id\":1,\"topic\":\"t\",\"event\":\"message\","
        "\"data\":null,\"ts\":4}],\"next\":1}";
    static char r1[512], r2[512], r3[512], r4[512];
    snprintf(r1, sizeof r1, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b1), b1);
    snprintf(r2, sizeof r2, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b2), b2);
    snprintf(r3, sizeof r3, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b3), b3);
    snprintf(r4, sizeof r4, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b4), b4);
    struct fake_thread *ft = fake_thread_new();
    fake_script(&ft->f, (struct fake_reply){r1, 0, false});
    fake_script(&ft->f, (struct fake_reply){"HTTP/1.1 204 No Content\r\n\r\n", 0, false});
    fake_script(&ft->f,
                (struct fake_reply){
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", 0, false});
    fake_script(&ft->f, (struct fake_reply){r2, 7, false}); /* a retry fetches 2 again */
    fake_script(&ft->f, (struct fake_reply){r3, 0, false});
    fake_script(&ft->f, (struct fake_reply){r4, 0, false});
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
    struct captured c;
    run_cmd(rt_cmd_client, &c, "client", "short", "--url", url, "--topic", "t", "--interval",
            "0.01", "--count", "4", NULL);
    fake_thread_stop(ft);
    assert_int_equal(c.code, 0);
    /* Each message once, in order, compact, its data's text untouched. */
    assert_string_equal(
        c.out, "{\"id\":1,\"topic\":\"t\",\"event\":\"message\",\"data\":{\"x\":[1,2]},\"ts\":1}\n"
               "{\"id\":2,\"topic\":\"t\",\"event\":\"e\",\"data\":1795826328207180,\"ts\":2}\n"
               "{\"id\":3,\"topic\":\"t\",\"event\":\"message\",\"data\":\"a b\",\"ts\":3}\n"
               "{\"id\":1,\"topic\":\"t\",\"event\":\"message\",\"data\":null,\"ts\":4}\n");
    assert_non_null(strstr(c.err, "HTTP 503 Service Unavailable: busy; retrying in"));
    assert_non_null(
        strstr(c.err, "reset: topic t restarts after id 0; messages may have been missed"));
    assert_non_null(strstr(c.err, "summary: 6 requests, 1 empty"));
    assert_non_null(strstr(c.err, "4 messages, 1 duplicates dropped, 1 errors, 1 resets"));
    /* The positions asked for: after 2 for the empty answer and the retry. */
    const char *since[] = {"since=0 ", "since=2 ", "since=2 ", "since=2 ", "since=3 ", "since=0 "};
    assert_int_equal(ft->f.nrequests, 6);
    for (int i = 0; i < 6; i++) {
        assert_non_null(strstr(ft->f.requests[i], "GET /poll?topic=t&"));
        assert_non_null(strstr(ft->f.requests[i], since[i]));
    }
    assert_int_equal(ft->f.connections, 1);
    free(ft);
}

/* publish, client and load against the fake topic server. */
static void test_cmd_topic_end_to_end(void **state)
{
    (void)state;
    struct fake_thread *ft = fake_thread_new();
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://localhost:%d/", ft->f.port);
    struct captured c;
    for (int i = 0; i < 3; i++) {
        run_cmd(rt_cmd_publish, &c, "publish", "--url", url, "--topic", "t", "[1,\n 2]", NULL);
        assert_int_equal(c.code, 0);
    }
    assert_string_equal(c.out, "{\"id\":3}\n");
    run_cmd(rt_cmd_client, &c, "client", "short", "--url", url, "--topic", "t", "--since", "1",
            "--interval", "0.02", "--duration", "0.3", NULL);
    assert_int_equal(c.code, 0);
    assert_non_null(
        strstr(c.out, "{\"id\":2,\"topic\":\"t\",\"event\":\"message\",\"data\":[1,2],\"ts\":"));
    assert_non_null(strstr(c.out, "\n{\"id\":3,"));
    assert_null(strstr(c.out, "{\"id\":1,"));
    assert_non_null(
        strstr(c.err, "2 messages, 0 duplicates dropped, 0 errors, 0 resets, latency p50"));

    run_cmd(rt_cmd_load, &c, "load", "short", "--url", url, "--clients", "20", "--interval", "0.05",
            "--duration", "1.1", "--rate", "20", "--seed", "1", "--json", NULL);
    fake_thread_stop(ft);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.err, "req/s")); /* progress lines... */
    assert_non_null(strstr(c.out, "{\"approach\":\"short\""));
    unsigned long long published = 0, delivered = 1, expected = 2, requests = 0, errors = 1;
    const char *p;
    assert_non_null(p = strstr(c.out, "\"published\":"));
    sscanf(p, "\"published\":%llu", &published);
    assert_non_null(p = strstr(c.out, "\"delivered\":"));
    sscanf(p, "\"delivered\":%llu,\"expected\":%llu", &delivered, &expected);
    assert_non_null(p = strstr(c.out, "\"requests\":"));
    sscanf(p, "\"requests\":%llu", &requests);
    assert_non_null(p = strstr(c.out, "\"errors\":"));
    sscanf(p, "\"errors\":%llu", &errors);
    /* 20 messages/s for 1.1 s; 20 clients each polling about 20 times. */
    assert_true(published >= 15 && published <= 23);
    assert_int_equal(expected, published * 20);
    assert_int_equal(delivered, expected);
    assert_true(requests >= 20 * 10);
    assert_int_equal(errors, 0);
    /* Fan-out: every message reached all 20, within about one interval. */
    unsigned long long complete = 0;
    double fanout_max = 0;
    assert_non_null(p = strstr(c.out, "\"complete\":"));
    sscanf(p, "\"complete\":%llu", &complete);
    assert_int_equal(complete, published);
    assert_non_null(p = strstr(c.out, "\"fanout_ms\":{"));
    assert_non_null(p = strstr(p, "\"max\":"));
    sscanf(p, "\"max\":%lf", &fanout_max);
    assert_true(fanout_max > 0 && fanout_max < 50 + tu_ms(500));
    free(ft);
}

/* The SSE client against a script: events cut anywhere, retry honoured,
 * Last-Event-ID on every reconnect, a reset, the watchdog, a 503. */
static void test_cmd_client_sse_script(void **state)
{
    (void)state;
#define EV(id, data)                                                                               \
    "id: " #id "\nevent: message\ndata: {\"id\":" #id ",\"topic\":\"t\",\"event\":\"message\","    \
    "\"data\":" data ",\"ts\":" #id "}\n\n"
    /* Stream 1: retry 150 ms, message 1 in two data lines, message 2, then
     * closed, all in pieces of 5 bytes (2 ms apart: reads end anywhere). */
    static const char s1[] =
        SSE_HEAD "retry: 150\n\n"
                 "id: 1\r\ndata: {\"id\":1,\"topic\":\"t\",\"event\":\"message\",\r\n"
                 "data: \"data\":[1,\r\ndata:  2],\"ts\":1}\r\n\r\n" EV(2, "\"x\"");
    /* Stream 2: a replay that repeats 2, then 3, a heartbeat, the server's
     * restart (reset to 0) and its new 1; then silence. */
#define RESET0 "id: 0\nevent: reset\ndata: {\"reset\":true,\"topic\":\"t\",\"next\":0}\n\n"
    static const char s2[] = SSE_HEAD EV(2, "\"x\"") EV(3, "{}") ":\n\n" RESET0 EV(1, "null");
    struct fake_thread *ft = fake_thread_new();
    fake_script(&ft->f, (struct fake_reply){s1, 5, true});
    fake_script(&ft->f, (struct fake_reply){s2, 1, false});
    fake_script(&ft->f,
                (struct fake_reply){
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", 0, false});
    fake_script(&ft->f, (struct fake_reply){SSE_HEAD "data: junk\n\n" EV(2, "2"), 0, false});
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
    struct captured c;
    run_cmd(rt_cmd_client, &c, "client", "sse", "--url", url, "--topic", "t", "--heartbeat", "0.2",
            "--count", "5", NULL);
    fake_thread_stop(ft);
    assert_int_equal(c.code, 0);
    assert_string_equal(c.out,
                        "{\"id\":1,\"topic\":\"t\",\"event\":\"message\",\"data\":[1,2],\"ts\":1}\n"
                        "{\"id\":2,\"topic\":\"t\",\"event\":\"message\",\"data\":\"x\",\"ts\":2}\n"
                        "{\"id\":3,\"topic\":\"t\",\"event\":\"message\",\"data\":{},\"ts\":3}\n"
                        "{\"id\":1,\"topic\":\"t\",\"event\":\"message\",\"data\":null,\"ts\":1}\n"
                        "{\"id\":2,\"topic\":\"t\",\"event\":\"message\",\"data\":2,\"ts\":2}\n");
    assert_non_null(strstr(c.err, "note: topic t: the server closed the stream; reconnecting in"));
    assert_non_null(
        strstr(c.err, "reset: topic t restarts after id 0; messages may have been missed"));
    assert_non_null(strstr(c.err, "no bytes for 0.5 s (heartbeat watchdog)"));
    assert_non_null(strstr(c.err, "HTTP 503 Service Unavailable: busy; reconnecting in"));
    assert_non_null(strstr(c.err, "bad event: the data is not a JSON object"));
    assert_non_null(strstr(c.err, "summary: 4 streams, 3 connections, 2 reconnects, 5 messages, "
                                  "1 duplicates dropped, 3 errors, 1 resets"));
    /* Where each stream resumed: from --since (0), then the last delivered. */
    const char *resume[] = {"Last-Event-ID: 0\r\n", "Last-Event-ID: 2\r\n", "Last-Event-ID: 1\r\n",
                            "Last-Event-ID: 1\r\n"};
    assert_int_equal(ft->f.nrequests, 4);
    for (int i = 0; i < 4; i++) {
        assert_non_null(strstr(ft->f.requests[i], "GET /events?topic=t HTTP/1.1\r\n"));
        assert_non_null(strstr(ft->f.requests[i], "Accept: text/event-stream\r\n"));
        assert_non_null(strstr(ft->f.requests[i], resume[i]));
    }
    /* retry: 150 was honoured: the second stream came 150 ms to 1.15 s
     * after the first ended (sending it took about 2 ms x 60 pieces), not
     * the default 3 s. The 503 came after the watchdog (0.5 s) and a wait. */
    int64_t gap = ft->f.request_ms[1] - ft->f.request_ms[0];
    assert_true(gap >= 150 + 100 && gap < 150 + 1000 + tu_ms(600));
    gap = ft->f.request_ms[2] - ft->f.request_ms[1];
    assert_true(gap >= 500 + 150);
    free(ft);
#undef EV
#undef RESET0
}

/* The long-polling client against a script: timeout sent, re-poll at once
 * after messages, a wait after an empty answer the server did not hold. */
static void test_cmd_client_long_script(void **state)
{
    (void)state;
    static char r1[512], r3[512];
    static const char b1[] =
        "{\"topic\":\"t\",\"messages\":[{\"id\":1,\"topic\":\"t\",\"event\":\"message\","
        "\"data\":1,\"ts\":1},{\"id\":2,\"topic\":\"t\",\"event\":\"message\",\"data\":2,"
        "\"ts\":2}],\"next\":2}";
    static const char b3[] = "{\"topic\":\"t\",\"messages\":[{\"id\":3,\"topic\":\"t\","
                             "\"event\":\"message\",\"data\":3,\"ts\":3}],\"next\":3}";
    snprintf(r1, sizeof r1, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b1), b1);
    snprintf(r3, sizeof r3, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b3), b3);
    struct fake_thread *ft = fake_thread_new();
    fake_script(&ft->f, (struct fake_reply){r1, 0, false});
    fake_script(&ft->f,
                (struct fake_reply){"HTTP/1.1 204 No Content\r\n\r\n", 0, false}); /* not held */
    fake_script_late(&ft->f, 50, (struct fake_reply){r3, 0, false});
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
    struct captured c;
    run_cmd(rt_cmd_client, &c, "client", "long", "--url", url, "--topic", "t", "--timeout", "7",
            "--count", "3", NULL);
    fake_thread_stop(ft);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "{\"id\":1,"));
    assert_non_null(strstr(c.out, "\n{\"id\":3,"));
    assert_non_null(strstr(c.err, "summary: 3 requests, 1 empty (33.3%), 1 connections, "
                                  "0 reconnects, 3 messages, 0 duplicates dropped, 0 errors"));
    const char *since[] = {"since=0&timeout=7 ", "since=2&timeout=7 ", "since=2&timeout=7 "};
    assert_int_equal(ft->f.nrequests, 3);
    for (int i = 0; i < 3; i++)
        assert_non_null(strstr(ft->f.requests[i], since[i]));
    assert_true(ft->f.request_ms[1] - ft->f.request_ms[0] < tu_ms(200)); /* at once */
    int64_t gap = ft->f.request_ms[2] - ft->f.request_ms[1];
    assert_true(gap >= 990 && gap < 1000 + tu_ms(300)); /* RT_LONG_MIN_CYCLE_MS */
    free(ft);
}

/* Reads "key":N from a JSON report. */
static unsigned long long report_u64(const char *out, const char *key)
{
    long long v = tu_json_number(out, key);
    assert_true(v >= 0);
    return (unsigned long long)v;
}

/* load long and load sse against the fake topic server: every client gets
 * every message, and the fan-out figure is reported. */
static void test_cmd_load_long_and_sse(void **state)
{
    (void)state;
    struct fake_thread *ft = fake_thread_new();
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
    struct captured c;
    /* Something in the log already: the probes must start after it. */
    run_cmd(rt_cmd_publish, &c, "publish", "--url", url, "--topic", "t", "0", NULL);
    assert_int_equal(c.code, 0);
    const char *approaches[] = {"long", "sse"};
    for (int i = 0; i < 2; i++) {
        run_cmd(rt_cmd_load, &c, "load", approaches[i], "--url", url, "--topic", "t", "--clients",
                "20", "--duration", "1", "--rate", "10", "--seed", "1", "--json", NULL);
        assert_int_equal(c.code, 0);
        assert_non_null(strstr(c.err, " open ")); /* progress lines */
        unsigned long long published = report_u64(c.out, "published");
        assert_true(published >= 7 && published <= 11);
        assert_int_equal(report_u64(c.out, "publish_due"), 10);
        assert_int_equal(report_u64(c.out, "expected"), published * 20);
        assert_int_equal(report_u64(c.out, "delivered"), published * 20);
        assert_int_equal(report_u64(c.out, "held_at_start"), 20);
        assert_int_equal(report_u64(c.out, "connections"), 20);
        assert_int_equal(report_u64(c.out, "errors"), 0);
        assert_int_equal(report_u64(c.out, "complete"), published);
        assert_int_equal(report_u64(c.out, "messages"), published);
        assert_non_null(strstr(c.out, "\"fanout_ms\":{\"p50\":"));
    }
    /* --rate 0: hold the connections for the duration, publish nothing. */
    run_cmd(rt_cmd_load, &c, "load", "sse", "--url", url, "--clients", "5", "--duration", "0.3",
            "--rate", "0", NULL);
    fake_thread_stop(ft);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "5 of 5 holding a stream at the start"));
    assert_non_null(strstr(c.out, "published   0 (0 failed; 0 due at 0/s)"));
    assert_non_null(strstr(c.out, "fan-out     p50 0.0 ms"));
    free(ft);
}

/* load long and load sse --peer nchan against the fake as nchan: the
 * probe, nchan's cursors, every message to every client; then a second run
 * on the same (no longer fresh) channel is refused. */
static void test_cmd_load_nchan(void **state)
{
    (void)state;
    struct captured c;
    run_cmd(rt_cmd_load, &c, "load", "short", "--peer", "nchan", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "--peer nchan is for long, sse and ws, not short"));
    run_cmd(rt_cmd_load, &c, "load", "sse", "--peer", "nchan", "--clock", "server", NULL);
    assert_int_equal(c.code, 2);
    assert_non_null(strstr(c.err, "has no server clock"));
    run_cmd(rt_cmd_load, &c, "load", "sse", "--peer", "pushpin", NULL);
    assert_int_equal(c.code, 2);
    run_cmd(rt_cmd_load, &c, "load", "sse", "--clock", "sundial", NULL);
    assert_int_equal(c.code, 2);

    const char *approaches[] = {"long", "sse"};
    for (int i = 0; i < 2; i++) {
        struct fake_thread *ft = fake_thread_new();
        ft->f.nchan = true;
        fake_thread_run(ft);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
        run_cmd(rt_cmd_load, &c, "load", approaches[i], "--url", url, "--peer", "nchan",
                "--clients", "20", "--duration", "1", "--rate", "10", "--seed", "1", "--json",
                NULL);
        assert_int_equal(c.code, 0);
        assert_non_null(strstr(c.out, "\"peer\":\"nchan\",\"clock\":\"publisher\""));
        unsigned long long published = report_u64(c.out, "published");
        assert_true(published >= 7 && published <= 11);
        assert_int_equal(report_u64(c.out, "delivered"), published * 20);
        assert_int_equal(report_u64(c.out, "duplicates"), 0);
        assert_int_equal(report_u64(c.out, "connections"), 20);
        assert_int_equal(report_u64(c.out, "errors"), 0);
        assert_int_equal(report_u64(c.out, "complete"), published);
        /* The channel has messages now: not fresh, refused. */
        run_cmd(rt_cmd_load, &c, "load", approaches[i], "--url", url, "--peer", "nchan", "--topic",
                "t", "--clients", "2", "--duration", "0.2", NULL);
        assert_int_equal(c.code, 1);
        assert_non_null(strstr(c.err, "already holds messages"));
        fake_thread_stop(ft);

        /* The probe asked the publisher location; the first requests of the
         * subscribers carried no cursor, later polls nchan's; the
         * publisher's body is its seq and send time. */
        assert_non_null(strstr(ft->f.requests[0], "GET /publish?topic=load-"));
        int first_publish = 0, cursors = 0;
        for (int k = 1; k < ft->f.nrequests; k++) {
            const char *r = ft->f.requests[k];
            bool cursor = strstr(r, "Last-Event-ID:") || strstr(r, "If-None-Match:");
            if (strncmp(r, "POST /publish?", 14) == 0 && first_publish == 0) {
                first_publish = k;
                assert_non_null(strstr(r, "\r\n\r\n{\"seq\":1,\"ts\":"));
            }
            if (first_publish == 0)
                assert_false(cursor);
            if (cursor) {
                cursors++;
                assert_non_null(strstr(r, i == 0
                                              ? "If-Modified-Since: Sat, 28 Nov 2026 01:46:23 GMT"
                                              : "Last-Event-ID: 179583038"));
            }
        }
        assert_true(first_publish > 20);
        if (i == 0)
            assert_true(cursors > 0); /* the polls after the first answers */
        free(ft);
    }
}

/* --clock publisher against rtlab: the run says so, every message arrives,
 * and the latency counts from the body's ts. */
static void test_cmd_load_publisher_clock(void **state)
{
    (void)state;
    struct fake_thread *ft = fake_thread_new();
    fake_thread_run(ft);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ft->f.port);
    struct captured c;
    run_cmd(rt_cmd_load, &c, "load", "sse", "--url", url, "--clock", "publisher", "--clients", "5",
            "--duration", "0.5", "--rate", "10", "--json", NULL);
    fake_thread_stop(ft);
    assert_int_equal(c.code, 0);
    assert_non_null(strstr(c.out, "\"peer\":\"rtlab\",\"clock\":\"publisher\""));
    unsigned long long published = report_u64(c.out, "published");
    assert_true(published >= 3);
    assert_int_equal(report_u64(c.out, "delivered"), published * 5);
    assert_int_equal(report_u64(c.out, "complete"), published);
    const char *lat = strstr(c.out, "\"latency_ms\":{\"p50\":");
    assert_non_null(lat);
    assert_true(strtod(lat + 21, NULL) > 0);
    free(ft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_rng_below_and_unit),
        cmocka_unit_test(test_backoff_doubles_to_cap),
        cmocka_unit_test(test_backoff_reset),
        cmocka_unit_test(test_backoff_jitter_spread),
        cmocka_unit_test(test_backoff_seeded),
        cmocka_unit_test(test_backoff_reconnect),
        cmocka_unit_test(test_fanout),
        cmocka_unit_test(test_seq_dedup),
        cmocka_unit_test(test_seq_start_and_reset),
        cmocka_unit_test(test_hist_known_data),
        cmocka_unit_test(test_hist_random_data),
        cmocka_unit_test(test_hist_extremes_and_merge),
        cmocka_unit_test(test_json_scan),
        cmocka_unit_test(test_endpoint_init),
        cmocka_unit_test(test_endpoint_init_ws),
        cmocka_unit_test(test_chat_json),
        cmocka_unit_test(test_nchan_cursor),
        cmocka_unit_test(test_nchan_ws_frame),
        cmocka_unit_test(test_sub_take_peer_and_clock),
        cmocka_unit_test(test_hclient_keep_alive),
        cmocka_unit_test(test_hclient_chunked_in_pieces),
        cmocka_unit_test(test_hclient_bodyless),
        cmocka_unit_test(test_hclient_connection_close),
        cmocka_unit_test(test_hclient_timeout),
        cmocka_unit_test(test_hclient_limits_and_errors),
        cmocka_unit_test(test_hclient_stale_connection),
        cmocka_unit_test(test_hclient_refused_and_localhost),
        cmocka_unit_test(test_hclient_close_in_flight),
        cmocka_unit_test(test_hclient_stream),
        cmocka_unit_test(test_long_poll_margin_and_repoll),
        cmocka_unit_test(test_nchan_subscribers),
        cmocka_unit_test(test_cmd_help_and_usage),
        cmocka_unit_test(test_cmd_publish),
        cmocka_unit_test(test_cmd_client_short_script),
        cmocka_unit_test(test_cmd_topic_end_to_end),
        cmocka_unit_test(test_cmd_client_sse_script),
        cmocka_unit_test(test_cmd_client_long_script),
        cmocka_unit_test(test_cmd_load_long_and_sse),
        cmocka_unit_test(test_cmd_load_nchan),
        cmocka_unit_test(test_cmd_load_publisher_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
