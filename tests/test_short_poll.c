/*
 * test_short_poll.c - the short-polling server end to end, through peers we
 * did not write (curl, raw sockets) and through `rtlab client short`.
 *
 * Usage: test_short_poll PATH_TO_RTLAB
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const char *rtlab;
static struct tu_server srv;
static char out[1 << 16];

static int start(const char *const *args)
{
    return tu_server_start(&srv, rtlab, args) ? 0 : -1;
}

static int setup_default(void **state)
{
    (void)state;
    static const char *const args[] = {"short", "--port", "0", NULL};
    return start(args);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tu_server_stop(&srv), 0); /* SIGTERM is a clean exit */
    return 0;
}

static char *url(const char *path_and_query)
{
    static char u[512];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", srv.port, path_and_query);
    return u;
}

static uint64_t publish(const char *topic, const char *data)
{
    char path[256];
    snprintf(path, sizeof(path), "/publish?topic=%s", topic);
    assert_int_equal(tu_curl("POST", url(path), data, out, sizeof(out)), 200);
    const char *id = strstr(out, "{\"id\":");
    assert_non_null(id);
    return strtoull(id + 6, NULL, 10);
}

/* ---- curl: publish and poll ---------------------------------------------- */

static void test_healthz(void **state)
{
    (void)state;
    assert_int_equal(tu_curl("GET", url("/healthz"), NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "ok\n");
}

static void test_publish_then_poll(void **state)
{
    (void)state;
    assert_int_equal(publish("news", "{\"headline\":\"one\"}"), 1);
    assert_int_equal(publish("news", "[1, 2, 3]"), 2);
    assert_int_equal(publish("other", "true"), 1); /* ids are per topic */

    assert_int_equal(tu_curl("GET", url("/poll?topic=news&since=0"), NULL, out, sizeof(out)), 200);
    assert_non_null(strstr(out, "{\"topic\":\"news\",\"messages\":[{\"id\":1,\"topic\":\"news\","
                                "\"event\":\"message\",\"data\":{\"headline\":\"one\"},\"ts\":"));
    assert_non_null(strstr(out, "{\"id\":2,\"topic\":\"news\",\"event\":\"message\","
                                "\"data\":[1, 2, 3],\"ts\":"));
    assert_non_null(strstr(out, "],\"next\":2}"));
    assert_null(strstr(out, "true")); /* nothing from the other topic */

    assert_int_equal(tu_curl("GET", url("/poll?topic=news&since=1"), NULL, out, sizeof(out)), 200);
    assert_null(strstr(out, "\"id\":1,"));
    assert_non_null(strstr(out, "\"id\":2,"));

    assert_int_equal(tu_curl("GET", url("/poll?topic=news&since=2"), NULL, out, sizeof(out)), 204);
    assert_string_equal(out, "");
    assert_int_equal(tu_curl("GET", url("/poll?topic=nobody&since=0"), NULL, out, sizeof(out)),
                     204);
}

static void test_event_name_and_validation(void **state)
{
    (void)state;
    assert_int_equal(tu_curl("POST", url("/publish?topic=t&event=score"), "1", out, sizeof(out)),
                     200);
    assert_int_equal(tu_curl("GET", url("/poll?topic=t"), NULL, out, sizeof(out)), 200);
    assert_non_null(strstr(out, "\"event\":\"score\""));
    assert_int_equal(tu_curl("POST", url("/publish?topic=t"), "{not json", out, sizeof(out)), 400);
    assert_int_equal(tu_curl("POST", url("/publish?topic=bad%20name"), "1", out, sizeof(out)), 400);
    assert_int_equal(tu_curl("POST", url("/publish"), "1", out, sizeof(out)), 400);
    assert_int_equal(tu_curl("GET", url("/poll?topic=t&since=-1"), NULL, out, sizeof(out)), 400);
    assert_int_equal(tu_curl("GET", url("/poll?topic=t&since=x"), NULL, out, sizeof(out)), 400);
}

static void test_reset_for_unknown_id(void **state)
{
    (void)state;
    publish("r", "1");
    assert_int_equal(tu_curl("GET", url("/poll?topic=r&since=7"), NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "{\"reset\":true,\"next\":0}");
}

static void test_reset_after_ring_eviction(void **state)
{
    (void)state;
    tu_server_stop(&srv);
    static const char *const args[] = {"short", "--port", "0", "--ring", "4", NULL};
    assert_int_equal(start(args), 0);
    for (int i = 0; i < 6; i++)
        publish("e", "1");
    /* Messages 1 and 2 left the ring: a reader at 0 or 1 missed data. */
    assert_int_equal(tu_curl("GET", url("/poll?topic=e&since=1"), NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "{\"reset\":true,\"next\":2}");
    assert_int_equal(tu_curl("GET", url("/poll?topic=e&since=2"), NULL, out, sizeof(out)), 200);
    assert_non_null(strstr(out, "\"id\":3,"));
    assert_non_null(strstr(out, "\"next\":6}"));
}

static void test_reset_after_restart(void **state)
{
    (void)state;
    publish("x", "1");
    publish("x", "2");
    int port = srv.port;
    tu_server_stop(&srv);
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    const char *const args[] = {"short", "--port", p, NULL};
    assert_int_equal(start(args), 0);
    assert_int_equal(tu_curl("GET", url("/poll?topic=x&since=2"), NULL, out, sizeof(out)), 200);
    assert_string_equal(out, "{\"reset\":true,\"next\":0}");
}

static void test_metrics(void **state)
{
    (void)state;
    publish("m", "1");
    tu_curl("GET", url("/poll?topic=m&since=0"), NULL, out, sizeof(out));
    tu_curl("GET", url("/poll?topic=m&since=1"), NULL, out, sizeof(out));
    assert_int_equal(tu_curl("GET", url("/metrics"), NULL, out, sizeof(out)), 200);
    /* 3 requests before this one, one of them empty, one message delivered. */
    assert_non_null(strstr(out, "\"short\":{"));
    assert_non_null(strstr(out, "\"requests\":4,"));
    assert_non_null(strstr(out, "\"empty\":1,"));
    assert_non_null(strstr(out, "\"delivered\":1,"));
    assert_non_null(strstr(out, "\"published\":1,"));
}

/* ---- Raw sockets: every malformed request ------------------------------- */

struct bad_case {
    const char *what;
    const char *request;
    int status;
    bool closes;
};

static void run_bad(const struct bad_case *bc)
{
    int fd = tu_connect(srv.port);
    assert_true(fd >= 0);
    assert_true(tu_send(fd, bc->request, strlen(bc->request)));
    int status = tu_recv_response(fd, out, sizeof(out), tu_ms(3000));
    if (status != bc->status)
        fail_msg("%s: got status %d, want %d", bc->what, status, bc->status);
    if (bc->closes) {
        char rest[4096];
        bool closed;
        tu_recv_all(fd, rest, sizeof(rest), tu_ms(3000), &closed);
        if (!closed)
            fail_msg("%s: connection not closed", bc->what);
        assert_non_null(strstr(out, "Connection: close\r\n"));
    } else {
        /* The connection still serves the next request. */
        const char *ok = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_true(tu_send(fd, ok, strlen(ok)));
        if (tu_recv_response(fd, out, sizeof(out), tu_ms(3000)) != 200)
            fail_msg("%s: connection not usable afterwards", bc->what);
    }
    close(fd);
}

static void test_malformed_requests(void **state)
{
    (void)state;
    static char big_head[10000], cl_big[200];
    memcpy(big_head, "GET /healthz HTTP/1.1\r\nX-Big: ", 30);
    memset(big_head + 30, 'a', 9000);
    memcpy(big_head + 9030, "\r\n\r\n", 5);
    snprintf(cl_big, sizeof(cl_big),
             "POST /publish?topic=t HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{",
             2 * 1024 * 1024);
    const struct bad_case cases[] = {
        {"garbage request line", "HELLO\r\n\r\n", 400, true},
        {"no version", "GET /healthz\r\n\r\n", 400, true},
        {"header without colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, true},
        {"space before colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400, true},
        {"bare CR", "GET /healthz HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, true},
        {"obs-fold", "GET /healthz HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n", 400, true},
        {"CL and TE",
         "POST /publish?topic=t HTTP/1.1\r\nContent-Length: 1\r\n"
         "Transfer-Encoding: chunked\r\n\r\n1",
         400, true},
        {"two Content-Lengths",
         "POST /publish?topic=t HTTP/1.1\r\nContent-Length: 1\r\n"
         "Content-Length: 2\r\n\r\n12",
         400, true},
        {"bad Content-Length", "POST /publish?topic=t HTTP/1.1\r\nContent-Length: 1x\r\n\r\n1", 400,
         true},
        {"unknown Transfer-Encoding",
         "POST /publish?topic=t HTTP/1.1\r\n"
         "Transfer-Encoding: gzip\r\n\r\n",
         501, true},
        {"HTTP/2.0", "GET /healthz HTTP/2.0\r\n\r\n", 505, true},
        {"head over 8 KiB", big_head, 431, true},
        {"body over 1 MiB", cl_big, 413, true},
        {"unknown path", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, false},
        {"wrong method on /poll", "DELETE /poll?topic=t HTTP/1.1\r\nHost: x\r\n\r\n", 405, false},
        {"wrong method on /publish", "GET /publish?topic=t HTTP/1.1\r\nHost: x\r\n\r\n", 405,
         false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_bad(&cases[i]);
}

static void test_405_names_allowed_methods(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *req = "POST /poll?topic=t HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    tu_send(fd, req, strlen(req));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 405);
    assert_non_null(strstr(out, "\r\nAllow: GET\r\n"));
    close(fd);
}

static void test_pipelining_and_chunked(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *reqs = "POST /publish?topic=pipe HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"
                       "GET /poll?topic=pipe&since=0 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /poll?topic=pipe&since=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(tu_send(fd, reqs, strlen(reqs)));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    assert_non_null(strstr(out, "{\"id\":1}"));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    assert_non_null(strstr(out, "\"data\":{\"a\":1}"));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 204);
    close(fd);
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *req = "POST /publish?topic=slow HTTP/1.1\r\nContent-Length: 5\r\n\r\n\"abc\"";
    for (const char *p = req; *p; p++)
        assert_true(tu_send(fd, p, 1));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    close(fd);
}

static void test_expect_continue(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *head = "POST /publish?topic=c HTTP/1.1\r\nContent-Length: 3\r\n"
                       "Expect: 100-continue\r\n\r\n";
    tu_send(fd, head, strlen(head));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 100);
    tu_send(fd, "123", 3);
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    close(fd);
}

static void test_connection_close_and_http10(void **state)
{
    (void)state;
    const char *reqs[] = {
        "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.0\r\n\r\n",
    };
    for (int i = 0; i < 2; i++) {
        int fd = tu_connect(srv.port);
        tu_send(fd, reqs[i], strlen(reqs[i]));
        bool closed;
        tu_recv_all(fd, out, sizeof(out), tu_ms(3000), &closed);
        assert_true(closed);
        assert_non_null(strstr(out, " 200 OK\r\n"));
        close(fd);
    }
    /* HTTP/1.0 with keep-alive stays open. */
    int fd = tu_connect(srv.port);
    const char *ka = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    tu_send(fd, ka, strlen(ka));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    tu_send(fd, ka, strlen(ka));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    close(fd);
}

/* ---- Timeouts -------------------------------------------------------------- */

static int setup_short_timeouts(void **state)
{
    (void)state;
    static const char *const args[] = {"short", "--port",         "0", "--header-timeout",
                                       "1",     "--idle-timeout", "1", NULL};
    return start(args);
}

static void test_slow_header_client_is_dropped(void **state)
{
    (void)state;
    int slow = tu_connect(srv.port);
    const char *part = "GET /healthz HTTP/1.1\r\nX-Slow: ";
    tu_send(slow, part, strlen(part));
    int64_t t0 = tu_now_ms();
    bool closed = false;
    /* Drip a byte every 200 ms; meanwhile others are served normally. */
    while (!closed && tu_now_ms() - t0 < tu_ms(5000)) {
        assert_int_equal(tu_curl("GET", url("/healthz"), NULL, out, sizeof(out)), 200);
        if (!tu_send(slow, "a", 1))
            break;
        tu_recv_all(slow, out, sizeof(out), 200, &closed);
    }
    int64_t took = tu_now_ms() - t0;
    assert_true(closed || took < tu_ms(5000));
    assert_true(took >= 900); /* not before the header timeout */
    close(slow);
    assert_int_equal(tu_curl("GET", url("/metrics"), NULL, out, sizeof(out)), 200);
    if (strstr(out, "\"timeouts\":1,") == NULL)
        fail_msg("metrics: %s", out);
}

/* A partial request behind a complete one gets the header timeout too. */
static void test_partial_pipelined_request_times_out(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *req = "GET /healthz HTTP/1.1\r\n\r\nGET /heal";
    tu_send(fd, req, strlen(req));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    int64_t t0 = tu_now_ms();
    bool closed;
    tu_recv_all(fd, out, sizeof(out), tu_ms(5000), &closed);
    assert_true(closed);
    assert_non_null(strstr(out, " 408 "));
    assert_true(tu_now_ms() - t0 < tu_ms(3000));
    close(fd);
}

static void test_idle_connection_is_closed(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *req = "GET /healthz HTTP/1.1\r\n\r\n";
    tu_send(fd, req, strlen(req));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    int64_t t0 = tu_now_ms();
    bool closed;
    tu_recv_all(fd, out, sizeof(out), tu_ms(5000), &closed);
    assert_true(closed);
    assert_true(tu_now_ms() - t0 >= 900);
    close(fd);
}

/* ---- Trace and shutdown ----------------------------------------------------- */

static void test_trace_and_clean_shutdown(void **state)
{
    (void)state;
    char path[] = "/tmp/rtlab-trace-XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    close(tfd);
    tu_server_stop(&srv);
    const char *const args[] = {"all", "--port", "0", "--trace", path, NULL};
    assert_int_equal(start(args), 0);
    publish("tr", "1");
    assert_int_equal(tu_curl("GET", url("/poll?topic=tr&since=0"), NULL, out, sizeof(out)), 200);
    assert_int_equal(tu_curl("GET", url("/poll?topic=tr&since=1"), NULL, out, sizeof(out)), 204);
    /* A connection still open at SIGTERM does not keep the server alive. */
    int idle = tu_connect(srv.port);
    assert_true(idle >= 0);
    assert_int_equal(tu_server_stop(&srv), 0);
    close(idle);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof(line), f));
    assert_non_null(strstr(line, "{\"trace\":1,\"source\":\"live\",\"lanes\":[\"short\""));
    assert_non_null(strstr(line, "\"clients\":4 ")); /* three curl runs and the idle socket */
    int connects = 0, publishes = 0, responses = 0, empties = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        assert_true(strncmp(line, "{\"t\":", 5) == 0);
        assert_non_null(strstr(line, "\"lane\":\"short\""));
        connects += strstr(line, "\"kind\":\"connect\"") != NULL;
        publishes += strstr(line, "\"kind\":\"publish\",\"dir\":\"c2s\"") != NULL;
        responses += strstr(line, "\"kind\":\"response\",\"dir\":\"s2c\"") != NULL &&
                     strstr(line, "\"msg\":1}") != NULL;
        empties += strstr(line, "\"kind\":\"empty\"") != NULL;
    }
    fclose(f);
    unlink(path);
    assert_int_equal(connects, 4);
    assert_int_equal(publishes, 1);
    assert_int_equal(responses, 1); /* the poll that carried message 1 */
    assert_int_equal(empties, 1);
    assert_true(start((const char *const[]){"short", "--port", "0", NULL}) == 0);
}

/* ---- rtlab client short ------------------------------------------------- */

static void test_client_receives_each_message_once_in_order(void **state)
{
    (void)state;
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", srv.port);
    char *argv[] = {(char *)rtlab, "client",     "short", "--url",   u,    "--topic",
                    "live",        "--interval", "0.05",  "--count", "30", NULL};
    static struct tu_proc cl;
    assert_int_equal(tu_proc_start(&cl, argv), 0);
    char data[32];
    for (int i = 1; i <= 30; i++) {
        snprintf(data, sizeof(data), "{\"n\":%d}", i);
        publish("live", data);
        if (i % 7 == 0)
            usleep(120 * 1000); /* let some polls see nothing, some see several */
    }
    char line[1024];
    for (int i = 1; i <= 30; i++) {
        assert_true(tu_proc_line(&cl, line, sizeof(line), tu_ms(5000)));
        char want[64];
        snprintf(want, sizeof(want), "\"id\":%d,", i);
        if (strstr(line, want) == NULL)
            fail_msg("line %d is %s", i, line);
        snprintf(want, sizeof(want), "{\"n\":%d}", i);
        assert_non_null(strstr(line, want));
    }
    assert_int_equal(tu_proc_stop(&cl, 0, tu_ms(5000)), 0); /* exits after --count */
    assert_null(strchr(cl.out + cl.out_pos, '{'));          /* and printed nothing more */
}

static void test_client_reports_reset_after_restart(void **state)
{
    (void)state;
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", srv.port);
    char *argv[] = {(char *)rtlab, "client", "short",      "--url", u,
                    "--topic",     "rs",     "--interval", "0.05",  NULL};
    static struct tu_proc cl;
    char line[1024];
    assert_int_equal(tu_proc_start(&cl, argv), 0);
    publish("rs", "\"a\"");
    publish("rs", "\"b\"");
    assert_true(tu_proc_line(&cl, line, sizeof(line), tu_ms(5000)));
    assert_true(tu_proc_line(&cl, line, sizeof(line), tu_ms(5000)));
    assert_non_null(strstr(line, "\"id\":2,"));

    int port = srv.port;
    tu_server_stop(&srv);
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    const char *const args[] = {"short", "--port", p, NULL};
    assert_int_equal(start(args), 0);
    publish("rs", "\"after\"");
    assert_true(tu_proc_wait_stderr(&cl, "reset", tu_ms(10000)));
    /* The new server's message 1 arrives after the reset, not dropped as an old id. */
    assert_true(tu_proc_line(&cl, line, sizeof(line), tu_ms(10000)));
    assert_non_null(strstr(line, "\"id\":1,"));
    assert_non_null(strstr(line, "\"after\""));
    tu_proc_stop(&cl, SIGINT, tu_ms(5000));
    assert_non_null(strstr(cl.err, "requests"));
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
#define T(f) cmocka_unit_test_setup_teardown(f, setup_default, teardown)
    const struct CMUnitTest tests[] = {
        T(test_healthz),
        T(test_publish_then_poll),
        T(test_event_name_and_validation),
        T(test_reset_for_unknown_id),
        T(test_reset_after_ring_eviction),
        T(test_reset_after_restart),
        T(test_metrics),
        T(test_malformed_requests),
        T(test_405_names_allowed_methods),
        T(test_pipelining_and_chunked),
        T(test_byte_at_a_time),
        T(test_expect_continue),
        T(test_connection_close_and_http10),
        cmocka_unit_test_setup_teardown(test_slow_header_client_is_dropped, setup_short_timeouts,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_partial_pipelined_request_times_out,
                                        setup_short_timeouts, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_is_closed, setup_short_timeouts,
                                        teardown),
        T(test_trace_and_clean_shutdown),
        T(test_client_receives_each_message_once_in_order),
        T(test_client_reports_reset_after_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
