/*
 * test_sse_server.c - the SSE server end to end: curl -N, raw sockets, a
 * client that never reads, and `rtlab client sse` through connections that
 * keep getting cut.
 *
 * Usage: test_sse_server PATH_TO_RTLAB
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
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
static char out[1 << 16];    /* answers to requests */
static char stream[1 << 16]; /* what a stream delivered */

static int start(const char *const *args)
{
    return tu_server_start(&srv, rtlab, args) ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"sse", "--port",  "0",   "--heartbeat",
                                       "0.5", "--retry", "100", NULL};
    return start(args);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tu_server_stop(&srv), 0);
    return 0;
}

static void publish(const char *topic, const char *data)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "POST /publish?topic=%s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", topic,
                     strlen(data));
    int fd = tu_connect(srv.port);
    assert_true(tu_send(fd, head, (size_t)n));
    assert_true(tu_send(fd, data, strlen(data)));
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 200);
    close(fd);
}

/* Opens a stream with the given extra request headers; returns the socket
 * after reading the response head into out. */
static int open_stream(const char *target, const char *headers)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, headers);
    int fd = tu_connect(srv.port);
    assert_true(fd >= 0);
    assert_true(tu_send(fd, req, (size_t)n));
    return fd;
}

/* Reads from fd until buf holds needle (or the timeout). */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle, int ms)
{
    int64_t end = tu_now_ms() + ms;
    while (strstr(buf, needle) == NULL) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - tu_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t r = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (r <= 0)
            return false;
        *len += (size_t)r;
        buf[*len] = '\0';
    }
    return true;
}

static void test_curl_sees_events_and_heartbeats(void **state)
{
    (void)state;
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/events?topic=news", srv.port);
    char *argv[] = {"curl", "-sN", "--max-time", "20", u, NULL};
    static struct tu_proc curl;
    assert_int_equal(tu_proc_start(&curl, argv), 0);
    char line[1024];
    assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
    assert_string_equal(line, "retry: 100");
    assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
    assert_string_equal(line, "");
    /* The stream is open (the subscriber is in place once the head was
     * sent): each publish shows up at once. */
    for (int i = 1; i <= 3; i++) {
        char data[32], want[64];
        snprintf(data, sizeof(data), "{\"n\":%d}", i);
        int64_t t0 = tu_now_ms();
        publish("news", data);
        assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
        while (strcmp(line, ":") == 0 || line[0] == '\0') /* heartbeats may come between */
            assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
        snprintf(want, sizeof(want), "id: %d", i);
        assert_string_equal(line, want);
        assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
        assert_string_equal(line, "event: message");
        assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
        snprintf(want, sizeof(want), "data: {\"id\":%d,\"topic\":\"news\",\"event\":\"message\"",
                 i);
        assert_true(strncmp(line, want, strlen(want)) == 0);
        snprintf(want, sizeof(want), "\"data\":{\"n\":%d}", i);
        assert_non_null(strstr(line, want));
        assert_true(tu_now_ms() - t0 < 1000);
        assert_true(tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)));
        assert_string_equal(line, "");
    }
    /* Quiet now: the heartbeat comment comes every 0.5 s. */
    int beats = 0;
    int64_t t0 = tu_now_ms();
    while (beats < 2 && tu_proc_line(&curl, line, sizeof(line), tu_ms(3000)))
        beats += strcmp(line, ":") == 0;
    assert_int_equal(beats, 2);
    assert_true(tu_now_ms() - t0 < tu_ms(2500));
    tu_proc_stop(&curl, SIGTERM, tu_ms(3000));
}

static void test_stream_headers(void **state)
{
    (void)state;
    int fd = open_stream("/events?topic=h", "");
    size_t len = 0;
    out[0] = '\0';
    assert_true(read_until(fd, out, sizeof(out), &len, "retry: 100\n\n", tu_ms(3000)));
    assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(out, "\r\nContent-Type: text/event-stream\r\n"));
    assert_non_null(strstr(out, "\r\nCache-Control: no-cache\r\n"));
    assert_non_null(strstr(out, "\r\nX-Accel-Buffering: no\r\n"));
    assert_non_null(strstr(out, "\r\nAccess-Control-Allow-Origin: *\r\n"));
    assert_null(strstr(out, "Content-Length"));
    assert_null(strstr(out, "Transfer-Encoding"));
    close(fd);
    assert_int_equal(tu_metric(srv.port, "sse", "held") >= 0, 1);
}

static void test_resume_from_last_event_id(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        publish("r", "1");
    int fd = open_stream("/events?topic=r", "Last-Event-ID: 1\r\n");
    size_t len = 0;
    stream[0] = '\0';
    assert_true(read_until(fd, stream, sizeof(stream), &len, "id: 3\n", tu_ms(3000)));
    assert_null(strstr(stream, "id: 1\n"));
    assert_non_null(strstr(stream, "id: 2\n"));
    publish("r", "4");
    assert_true(read_until(fd, stream, sizeof(stream), &len, "id: 4\n", tu_ms(3000)));
    close(fd);

    /* The query parameter does the same for clients that cannot set headers. */
    fd = open_stream("/events?topic=r&lastEventId=3", "");
    len = 0;
    stream[0] = '\0';
    assert_true(read_until(fd, stream, sizeof(stream), &len, "id: 4\n", tu_ms(3000)));
    assert_null(strstr(stream, "id: 3\n"));
    close(fd);

    /* No resume point: live messages only. */
    fd = open_stream("/events?topic=r", "");
    len = 0;
    stream[0] = '\0';
    assert_true(read_until(fd, stream, sizeof(stream), &len, "retry: 100\n\n", tu_ms(3000)));
    publish("r", "5");
    assert_true(read_until(fd, stream, sizeof(stream), &len, "id: 5\n", tu_ms(3000)));
    assert_null(strstr(stream, "id: 4\n"));
    close(fd);

    fd = open_stream("/events?topic=r", "Last-Event-ID: abc\r\n");
    assert_int_equal(tu_recv_response(fd, out, sizeof(out), tu_ms(3000)), 400);
    close(fd);
}

static void test_reset_when_resume_point_is_gone(void **state)
{
    (void)state;
    tu_server_stop(&srv);
    static const char *const args[] = {"sse", "--port", "0", "--ring", "2", NULL};
    assert_int_equal(start(args), 0);
    for (int i = 0; i < 5; i++)
        publish("g", "1");
    int fd = open_stream("/events?topic=g", "Last-Event-ID: 1\r\n");
    size_t len = 0;
    stream[0] = '\0';
    assert_true(read_until(fd, stream, sizeof(stream), &len, "id: 5\n", tu_ms(3000)));
    assert_non_null(strstr(stream, "id: 3\nevent: reset\ndata: {\"reset\":true,\"topic\":\"g\","
                                   "\"next\":3}\n\nid: 4\nevent: message\n"));
    close(fd);
}

/* A client that never reads: its queue fills, it is disconnected, and the
 * server's memory does not grow with what it failed to read. */
static void test_slow_reader_is_disconnected(void **state)
{
    (void)state;
    tu_server_stop(&srv);
    static const char *const args[] = {"sse", "--port", "0", "--send-queue", "262144", NULL};
    assert_int_equal(start(args), 0);
    int fd = tu_connect(srv.port);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    const char *req = "GET /events?topic=slow HTTP/1.1\r\nHost: x\r\n\r\n";
    tu_send(fd, req, strlen(req));
    while (tu_metric(srv.port, "sse", "held") != 1)
        usleep(10000);
    long rss0 = tu_rss_kib(srv.proc.pid);

    static char body[70000];
    body[0] = '"';
    memset(body + 1, 'x', 64 * 1024);
    body[64 * 1024 + 1] = '"';
    body[64 * 1024 + 2] = '\0';
    int sent = 0;
    while (tu_metric(srv.port, "sse", "overflows") == 0 && sent < 2000) {
        publish("slow", body); /* 64 KiB a message: 128 MiB after 2,000 */
        sent++;
    }
    long rss1 = tu_rss_kib(srv.proc.pid);
    print_message("      disconnected after %d messages of 64 KiB; RSS %ld -> %ld KiB\n", sent,
                  rss0, rss1);
    assert_int_equal(tu_metric(srv.port, "sse", "overflows"), 1);
    assert_true(sent < 2000);
    /* The ring keeps every message published (66 KiB each with its JSON);
     * beyond that the server may hold the send queue (256 KiB) and some
     * slack, not what the client failed to read. (Under AddressSanitizer
     * freed memory stays in quarantine, so RSS says nothing there.) */
#ifndef RTLAB_SANITIZED
    assert_true(rss1 - rss0 < (long)sent * 66 + 256 + 2048);
#endif
    assert_int_equal(tu_metric(srv.port, "sse", "held"), 0);
    close(fd);
}

/* A message larger than the send queue still reaches a client that reads. */
static void test_big_message_to_a_reading_client(void **state)
{
    (void)state;
    tu_server_stop(&srv);
    static const char *const args[] = {"sse", "--port", "0", "--send-queue", "4096", NULL};
    assert_int_equal(start(args), 0);
    int fd = open_stream("/events?topic=big", "");
    size_t len = 0;
    static char big[1 << 18];
    big[0] = '\0';
    assert_true(read_until(fd, big, sizeof(big), &len, "retry: ", tu_ms(3000)));
    static char body[100000];
    body[0] = '"';
    memset(body + 1, 'y', 90000);
    strcpy(body + 90001, "\"");
    publish("big", body);
    assert_true(read_until(fd, big, sizeof(big), &len, "}\n\n", tu_ms(5000))); /* whole event */
    assert_non_null(strstr(big, "yyy\",\"ts\":"));
    assert_int_equal(tu_metric(srv.port, "sse", "overflows"), 0);
    close(fd);
}

/* ---- rtlab client sse through a cutting proxy --------------------------- */

static void test_client_resumes_without_loss(void **state)
{
    (void)state;
    const char *failure = tu_resume_without_loss(rtlab, srv.port, "sse", 1000, 5);
    if (failure != NULL)
        fail_msg("%s", failure);
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_curl_sees_events_and_heartbeats), T(test_stream_headers),
        T(test_resume_from_last_event_id),       T(test_reset_when_resume_point_is_gone),
        T(test_slow_reader_is_disconnected),     T(test_big_message_to_a_reading_client),
        T(test_client_resumes_without_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
