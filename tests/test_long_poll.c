/*
 * test_long_poll.c - the long-polling server end to end (raw sockets, curl)
 * and `rtlab client long` through connections that keep getting cut.
 *
 * Usage: test_long_poll PATH_TO_RTLAB
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

static const char *rtlab;
static struct tu_server srv;
static char out[1 << 16];

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"long", "--port", "0", NULL};
    return tu_server_start(&srv, rtlab, args) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tu_server_stop(&srv), 0);
    return 0;
}

/* Sends a request on a new connection and returns the socket. */
static int send_request(const char *method, const char *target, const char *body)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     method, target, body ? strlen(body) : 0, body ? body : "");
    int fd = tu_connect(srv.port);
    assert_true(fd >= 0);
    assert_true(tu_send(fd, req, (size_t)n));
    return fd;
}

static void publish(const char *topic, const char *data)
{
    char target[128];
    snprintf(target, sizeof(target), "/publish?topic=%s", topic);
    int fd = send_request("POST", target, data);
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    close(fd);
}

/* True when fd has nothing to read within ms. */
static bool quiet(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 0;
}

static void test_held_until_publish(void **state)
{
    (void)state;
    int waiter = send_request("GET", "/poll?topic=t&since=0&timeout=10", NULL);
    assert_true(quiet(waiter, 300)); /* nothing yet: the request is held */
    assert_int_equal(tu_metric(srv.port, "long", "held"), 1);

    int64_t t0 = tu_now_ms();
    int pub = send_request("POST", "/publish?topic=t", "{\"x\":1}");
    assert_int_equal(tu_recv_response(waiter, out, sizeof(out), tu_ms(3000)), 200);
    int64_t took = tu_now_ms() - t0;
    assert_non_null(strstr(out, "\"data\":{\"x\":1}"));
    assert_non_null(strstr(out, "\"next\":1}"));
    assert_true(took < 100); /* answered within milliseconds of the publish */
    print_message("      publish to answer: %lld ms\n", (long long)took);
    assert_int_equal(tu_recv_response(pub, out, sizeof(out), tu_ms(3000)), 200);
    close(pub);

    /* The same keep-alive connection waits again. */
    const char *again = "GET /poll?topic=t&since=1&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_send(waiter, again, strlen(again));
    assert_true(quiet(waiter, 200));
    publish("t", "2");
    assert_int_equal(tu_recv_response(waiter, out, sizeof(out), tu_ms(3000)), 200);
    assert_non_null(strstr(out, "\"id\":2,"));
    assert_null(strstr(out, "\"id\":1,"));
    close(waiter);
}

static void test_timeout_answers_204(void **state)
{
    (void)state;
    int64_t t0 = tu_now_ms();
    int fd = send_request("GET", "/poll?topic=quiet&since=0&timeout=1", NULL);
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(5000)), 204);
    int64_t took = tu_now_ms() - t0;
    assert_true(took >= 950 && took < tu_ms(2000));
    close(fd);
    assert_int_equal(tu_metric(srv.port, "long", "held"), 0);
}

static void test_immediate_answers(void **state)
{
    (void)state;
    publish("now", "1");
    int fd = send_request("GET", "/poll?topic=now&since=0&timeout=30", NULL);
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(1000)), 200);
    assert_non_null(strstr(out, "\"id\":1,"));
    close(fd);
    fd = send_request("GET", "/poll?topic=now&since=9&timeout=30", NULL); /* never issued */
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(1000)), 200);
    assert_non_null(strstr(out, "{\"reset\":true,\"next\":0}"));
    close(fd);
    fd = send_request("GET", "/poll?topic=now&since=1&timeout=0", NULL);
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(1000)), 204);
    close(fd);
    fd = send_request("GET", "/poll?topic=now&since=1&timeout=121", NULL);
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(1000)), 400);
    close(fd);
}

static void test_publish_wakes_only_its_topic(void **state)
{
    (void)state;
    int a = send_request("GET", "/poll?topic=a&since=0&timeout=10", NULL);
    int b = send_request("GET", "/poll?topic=b&since=0&timeout=10", NULL);
    assert_true(quiet(a, 100));
    publish("a", "1");
    assert_int_equal(tu_recv_response(a, out, sizeof(out), tu_ms(3000)), 200);
    assert_true(quiet(b, 200));
    close(a);
    close(b);
}

/* A request pipelined behind a held poll waits its turn and is answered
 * right after it, in order. */
static void test_pipelined_behind_a_held_poll(void **state)
{
    (void)state;
    int fd = tu_connect(srv.port);
    const char *two = "GET /poll?topic=pipe&since=0&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(tu_send(fd, two, strlen(two)));
    assert_true(quiet(fd, 300)); /* the health check waits behind the held poll */
    publish("pipe", "7");
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    assert_non_null(strstr(out, "\"data\":7"));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    assert_non_null(strstr(out, "ok\n"));
    close(fd);
}

static void test_disconnect_while_waiting_cleans_up(void **state)
{
    (void)state;
    int fds[20];
    for (int i = 0; i < 20; i++)
        fds[i] = send_request("GET", "/poll?topic=gone&since=0&timeout=60", NULL);
    for (int64_t end = tu_now_ms() + tu_ms(3000); tu_now_ms() < end;)
        if (tu_metric(srv.port, "long", "held") == 20)
            break;
    assert_int_equal(tu_metric(srv.port, "long", "held"), 20);
    for (int i = 0; i < 20; i++)
        close(fds[i]);
    long held = -1;
    for (int64_t end = tu_now_ms() + tu_ms(3000); tu_now_ms() < end && held != 0;)
        held = tu_metric(srv.port, "long", "held");
    assert_int_equal(held, 0);
    /* Only the /metrics connection itself remains open. */
    assert_int_equal(tu_metric(srv.port, "long", "connections"), 1);
    publish("gone", "1"); /* no subscriber left to trip over */
}

/* 10,000 requests held on one server; one publish answers all of them; the
 * open-connection count goes back down when the clients leave. */
static void test_ten_thousand_waiters(void **state)
{
    (void)state;
    enum { N = 10000 };
    if (tu_raise_nofile() < N + 100)
        skip();
    static int fds[N];
    static char buf[N][512];
    static size_t got[N];
    const char *req = "GET /poll?topic=many&since=0&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = tu_connect(srv.port);
        assert_true(fds[i] >= 0);
        assert_true(tu_send(fds[i], req, strlen(req)));
        got[i] = 0;
    }
    long held = -1;
    for (int64_t end = tu_now_ms() + tu_ms(20000); tu_now_ms() < end && held != N;)
        held = tu_metric(srv.port, "long", "held");
    assert_int_equal(held, N);

    int64_t t0 = tu_now_ms();
    publish("many", "\"all of you\"");
    static struct pollfd pfd[N];
    int answered = 0;
    int64_t end = tu_now_ms() + tu_ms(20000);
    while (answered < N && tu_now_ms() < end) {
        int n = 0;
        for (int i = 0; i < N; i++)
            if (fds[i] >= 0)
                pfd[n++] = (struct pollfd){fds[i], POLLIN, 0};
        poll(pfd, (nfds_t)n, 1000);
        for (int k = 0; k < n; k++) {
            if (!(pfd[k].revents & POLLIN))
                continue;
            int i = 0;
            while (fds[i] != pfd[k].fd)
                i++; /* linear, but only once per answer */
            ssize_t r = recv(fds[i], buf[i] + got[i], sizeof(buf[i]) - 1 - got[i], 0);
            assert_true(r > 0);
            got[i] += (size_t)r;
            buf[i][got[i]] = '\0';
            if (strstr(buf[i], "\"next\":1}") != NULL) {
                assert_non_null(strstr(buf[i], "\"data\":\"all of you\""));
                close(fds[i]);
                fds[i] = -1;
                answered++;
            }
        }
    }
    print_message("      one publish answered %d held requests in %lld ms\n", answered,
                  (long long)(tu_now_ms() - t0));
    assert_int_equal(answered, N);
    long conns = -1;
    for (end = tu_now_ms() + tu_ms(10000); tu_now_ms() < end && conns != 1;)
        conns = tu_metric(srv.port, "long", "connections");
    assert_int_equal(conns, 1); /* just the /metrics request */
    assert_int_equal(tu_metric(srv.port, "long", "held"), 0);
}

/* ---- rtlab client long through a cutting proxy -------------------------- */

static void test_client_resumes_without_loss(void **state)
{
    (void)state;
    const char *failure = tu_resume_without_loss(rtlab, srv.port, "long", 1000, 5);
    if (failure != NULL)
        fail_msg("%s", failure);
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_held_until_publish),
        T(test_timeout_answers_204),
        T(test_immediate_answers),
        T(test_publish_wakes_only_its_topic),
        T(test_pipelined_behind_a_held_poll),
        T(test_disconnect_while_waiting_cleans_up),
        T(test_ten_thousand_waiters),
        T(test_client_resumes_without_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
