/*
 * test_ws_server.c - the WebSocket server's own protocol end to end, over
 * raw sockets: the handshake's answers, subscribe/replay/reset, signals,
 * errors that keep the connection, heartbeats, slow readers, the close
 * handshake, and `rtlab client ws` through connections that keep getting
 * cut. (RFC 6455 framing itself: test_ws_conformance; other people's
 * clients and servers: test_ws_interop.)
 *
 * Usage: test_ws_server PATH_TO_RTLAB
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt_proto.h"
#include "testutil.h"

static const char *rtlab;
static struct tu_server srv;
static char resp[1 << 16];
static char msg[1 << 16];

static int start(const char *const *args)
{
    return tu_server_start(&srv, rtlab, args) ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {
        "ws", "--port", "0", "--ring", "10", "--allow-origin", "http://good.example", NULL};
    return start(args);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tu_server_stop(&srv), 0);
    return 0;
}

/* POST /publish; returns the id. */
static long publish(int port, const char *topic, const char *data)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "POST /publish?topic=%s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", topic,
                     strlen(data));
    int fd = tu_connect(port);
    assert_true(tu_send(fd, head, (size_t)n));
    assert_true(tu_send(fd, data, strlen(data)));
    assert_int_equal(tu_recv_response(fd, resp, sizeof(resp), tu_ms(3000)), 200);
    close(fd);
    const char *id = strstr(resp, "{\"id\":");
    assert_non_null(id);
    return atol(id + 6);
}

static int ws(const char *target)
{
    int fd = tu_ws_connect(srv.port, target, NULL, resp, sizeof(resp));
    if (fd < 0)
        fail_msg("no 101: %s", resp);
    return fd;
}

/* The next text message, which must contain want. */
static void expect(int fd, const char *want)
{
    long n = tu_ws_recv_text(fd, msg, sizeof(msg), tu_ms(3000));
    if (n < 0)
        fail_msg("wanted %s, got %s", want, n == -2 ? "a Close" : "nothing");
    if (strstr(msg, want) == NULL)
        fail_msg("wanted %s, got %s", want, msg);
}

/* Sends {"type":"ping"} and reads up to the pong: what the server had to
 * say before it is done. */
static void barrier(int fd)
{
    assert_true(tu_ws_text(fd, "{\"type\":\"ping\"}"));
    expect(fd, "{\"type\":\"pong\"}");
}

static void test_handshake_answers(void **state)
{
    (void)state;
    /* Wrong version: 426 naming the one we speak. */
    int fd = tu_connect(srv.port);
    const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 8\r\n\r\n";
    assert_true(tu_send(fd, req, strlen(req)));
    assert_int_equal(tu_recv_response(fd, resp, sizeof(resp), tu_ms(3000)), 426);
    assert_non_null(strstr(resp, "Sec-WebSocket-Version: 13\r\n"));
    close(fd);
    /* A key that is not base64 of 16 bytes: 400. */
    fd = tu_connect(srv.port);
    req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_true(tu_send(fd, req, strlen(req)));
    assert_int_equal(tu_recv_response(fd, resp, sizeof(resp), tu_ms(3000)), 400);
    close(fd);
    /* The RFC's example key gives the RFC's accept value. */
    fd = ws("/ws");
    assert_non_null(strstr(resp, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_null(strstr(resp, "Sec-WebSocket-Extensions")); /* none offered, none agreed */
    close(fd);
    /* --allow-origin: other pages are refused, the allowed one and
     * programs (no Origin) are not. */
    assert_int_equal(
        tu_ws_connect(srv.port, "/ws", "Origin: http://evil.example\r\n", resp, sizeof(resp)), -1);
    assert_non_null(strstr(resp, "HTTP/1.1 403 "));
    fd = tu_ws_connect(srv.port, "/ws", "Origin: http://good.example\r\n", resp, sizeof(resp));
    assert_true(fd >= 0);
    close(fd);
    /* Compression offered: agreed without context takeover (--deflate shared). */
    fd = tu_ws_connect(srv.port, "/ws",
                       "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
                       resp, sizeof(resp));
    assert_true(fd >= 0);
    assert_non_null(strstr(resp, "Sec-WebSocket-Extensions: permessage-deflate; "
                                 "server_no_context_takeover; client_no_context_takeover"));
    close(fd);
    /* A bad since is refused before the upgrade. */
    assert_int_equal(tu_ws_connect(srv.port, "/ws?topic=t&since=x", NULL, resp, sizeof(resp)), -1);
    assert_non_null(strstr(resp, "HTTP/1.1 400 "));
}

static void test_publish_reaches_subscribers(void **state)
{
    (void)state;
    int a = ws("/ws?topic=pub");
    int b = ws("/ws");
    assert_true(tu_ws_text(b, "{\"type\":\"subscribe\",\"topic\":\"pub\"}"));
    barrier(a);
    barrier(b);
    long id = publish(srv.port, "pub", "{\"n\":1}");
    char want[128];
    snprintf(want, sizeof(want),
             "{\"id\":%ld,\"topic\":\"pub\",\"event\":\"message\",\"data\":{\"n\":1}", id);
    expect(a, want);
    expect(b, want);
    /* A client publishes over its WebSocket; everyone subscribed gets it,
     * itself included, and the log has it. */
    assert_true(tu_ws_text(b, "{\"type\":\"publish\",\"topic\":\"pub\",\"event\":\"chat\","
                              "\"data\":[1, \"two\", {\"3\": null}]}"));
    snprintf(
        want, sizeof(want),
        "{\"id\":%ld,\"topic\":\"pub\",\"event\":\"chat\",\"data\":[1, \"two\", {\"3\": null}]",
        id + 1);
    expect(a, want);
    expect(b, want);
    /* After unsubscribing, b hears nothing more. */
    assert_true(tu_ws_text(b, "{\"type\":\"unsubscribe\",\"topic\":\"pub\"}"));
    barrier(b);
    publish(srv.port, "pub", "3");
    expect(a, "\"data\":3,");
    barrier(b); /* the pong, not the message */
    close(a);
    close(b);
}

/* Publishes over HTTP keep-alive as fast as it can. */
static void *publisher(void *arg)
{
    int n = *(int *)arg, fd = tu_connect(srv.port);
    char req[256], buf[4096];
    for (int i = 0; i < n; i++) {
        int len =
            snprintf(req, sizeof(req),
                     "POST /publish?topic=race HTTP/1.1\r\nContent-Length: 1\r\n\r\n%d", i % 10);
        if (!tu_send(fd, req, (size_t)len) || tu_recv_response(fd, buf, sizeof(buf), 3000) != 200)
            break;
    }
    close(fd);
    return NULL;
}

static void test_since_joins_live_without_gap(void **state)
{
    (void)state;
    /* A separate server with a ring large enough to hold the whole run. */
    struct tu_server big;
    static const char *const args[] = {"ws", "--port", "0", "--ring", "8192", NULL};
    assert_true(tu_server_start(&big, rtlab, args));
    struct tu_server keep = srv;
    srv = big;
    int n = 5000;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, publisher, &n), 0);
    /* Subscribe while the publisher is busy, resuming from message 100:
     * everything after it, replayed then live, each once. */
    int64_t t0 = tu_now_ms();
    while (tu_metric(srv.port, "bus", "published") < 200 && tu_now_ms() - t0 < tu_ms(5000))
        usleep(1000);
    int fd = ws("/ws?topic=race&since=100");
    pthread_join(th, NULL);
    for (long want = 101; want <= n; want++) {
        char id[32];
        snprintf(id, sizeof(id), "{\"id\":%ld,", want);
        expect(fd, id);
    }
    barrier(fd); /* and nothing after the last one */
    close(fd);
    assert_int_equal(tu_server_stop(&srv), 0);
    srv = keep;
}

static void test_reset_when_the_resume_point_is_gone(void **state)
{
    (void)state;
    for (int i = 1; i <= 30; i++)
        publish(srv.port, "old", "{}");
    /* The ring holds 10 (21..30): a client at 5 is told to go on from 20. */
    int fd = ws("/ws");
    assert_true(tu_ws_text(fd, "{\"type\":\"subscribe\",\"topic\":\"old\",\"since\":5}"));
    expect(fd, "{\"type\":\"reset\",\"topic\":\"old\",\"next\":20}");
    for (int i = 21; i <= 30; i++) {
        char id[32];
        snprintf(id, sizeof(id), "{\"id\":%d,", i);
        expect(fd, id);
    }
    barrier(fd);
    /* An id the log never issued is a reset too; since = last is nothing. */
    assert_true(tu_ws_text(fd, "{\"type\":\"unsubscribe\",\"topic\":\"old\"}"));
    assert_true(tu_ws_text(fd, "{\"type\":\"subscribe\",\"topic\":\"old\",\"since\":99}"));
    expect(fd, "{\"type\":\"reset\",\"topic\":\"old\",\"next\":20}");
    for (int i = 21; i <= 30; i++)
        expect(fd, "\"topic\":\"old\"");
    assert_true(tu_ws_text(fd, "{\"type\":\"unsubscribe\",\"topic\":\"old\"}"));
    assert_true(tu_ws_text(fd, "{\"type\":\"subscribe\",\"topic\":\"old\",\"since\":30}"));
    barrier(fd);
    close(fd);
}

static void test_signals_reach_others_and_are_not_logged(void **state)
{
    (void)state;
    int a = ws("/ws?topic=room"), b = ws("/ws?topic=room"), c = ws("/ws?topic=other");
    barrier(a);
    barrier(b);
    barrier(c);
    assert_true(
        tu_ws_text(a, "{\"type\":\"signal\",\"topic\":\"room\",\"data\":{\"typing\":\"ann\"}}"));
    expect(b, "{\"type\":\"signal\",\"topic\":\"room\",\"data\":{\"typing\":\"ann\"}}");
    barrier(a); /* not back to the sender */
    barrier(c); /* nor to another topic */
    publish(srv.port, "room", "\"hello\"");
    /* A latecomer replaying everything sees the message, not the signal. */
    int d = ws("/ws?topic=room&since=0");
    expect(d, "\"data\":\"hello\"");
    barrier(d);
    close(a);
    close(b);
    close(c);
    close(d);
}

static void test_bad_messages_get_errors_and_keep_the_connection(void **state)
{
    (void)state;
    int fd = ws("/ws");
    const char *bad[] = {
        "not json",
        "[1,2]",
        "{\"type\":\"dance\"}",
        "{\"type\":7}",
        "{\"topic\":\"t\"}",
        "{\"type\":\"subscribe\"}",
        "{\"type\":\"subscribe\",\"topic\":\"has space\"}",
        "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":-1}",
        "{\"type\":\"publish\",\"topic\":\"t\"}",
        "{\"type\":\"publish\",\"topic\":\"t\",\"event\":\"a b\",\"data\":1}",
        "{\"type\":\"unsubscribe\",\"topic\":\"never\"}",
        "{\"type\":\"ping\",",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(tu_ws_text(fd, bad[i]));
        expect(fd, "{\"type\":\"error\",\"reason\":\"");
    }
    assert_true(tu_ws_send(fd, RT_WS_BINARY, "\x01\x02", 2));
    expect(fd, "{\"type\":\"error\",\"reason\":\"binary frames");
    assert_true(tu_ws_text(fd, "{\"type\":\"subscribe\",\"topic\":\"twice\"}"));
    assert_true(tu_ws_text(fd, "{\"type\":\"subscribe\",\"topic\":\"twice\"}"));
    expect(fd, "already subscribed");
    barrier(fd); /* still open */
    close(fd);
}

static void test_protocol_ping_and_close_handshake(void **state)
{
    (void)state;
    int fd = ws("/ws");
    int op;
    assert_true(tu_ws_send(fd, RT_WS_PING, "abc", 3));
    assert_int_equal(tu_ws_recv(fd, &op, msg, sizeof(msg), tu_ms(3000)), 3);
    assert_int_equal(op, RT_WS_PONG);
    assert_string_equal(msg, "abc");
    /* The client closes: the server answers with the same code and then
     * closes the TCP connection itself. */
    uint8_t close_1000[] = {0x03, 0xe8, 'b', 'y', 'e'};
    assert_true(tu_ws_send(fd, RT_WS_CLOSE, close_1000, sizeof(close_1000)));
    assert_int_equal(tu_ws_close_code(fd, tu_ms(3000)), 1000);
    bool closed = false;
    tu_recv_all(fd, msg, sizeof(msg), tu_ms(3000), &closed);
    assert_true(closed);
    close(fd);
    /* A message over --max-message (1 MiB by default) is refused with 1009. */
    fd = ws("/ws");
    static char big[(1 << 20) + 1];
    memset(big, 'a', sizeof(big));
    assert_true(tu_ws_send(fd, RT_WS_TEXT, big, sizeof(big)));
    assert_int_equal(tu_ws_close_code(fd, tu_ms(3000)), 1009);
    close(fd);
    /* Invalid UTF-8: 1007; an unmasked client frame: 1002. */
    fd = ws("/ws");
    assert_true(tu_ws_send(fd, RT_WS_TEXT, "\"\xc0\xaf\"", 4));
    assert_int_equal(tu_ws_close_code(fd, tu_ms(3000)), 1007);
    close(fd);
    fd = ws("/ws");
    assert_true(tu_send(fd, "\x81\x02{}", 4));
    assert_int_equal(tu_ws_close_code(fd, tu_ms(3000)), 1002);
    close(fd);
}

static void test_heartbeat_drops_dead_links(void **state)
{
    (void)state;
    struct tu_server hb;
    static const char *const args[] = {"ws", "--port", "0", "--heartbeat", "0.2", NULL};
    assert_true(tu_server_start(&hb, rtlab, args));
    int live = tu_ws_connect(hb.port, "/ws", NULL, resp, sizeof(resp));
    int dead = tu_ws_connect(hb.port, "/ws", NULL, resp, sizeof(resp));
    assert_true(live >= 0 && dead >= 0);
    /* dead never reads, so never answers a ping: dropped within two
     * intervals; live answers (tu_ws_recv_text does) and stays. */
    int64_t t0 = tu_now_ms();
    while (tu_metric(hb.port, "ws", "timeouts") < 1 && tu_now_ms() - t0 < tu_ms(3000))
        tu_ws_recv_text(live, msg, sizeof(msg), 50);
    assert_int_equal(tu_metric(hb.port, "ws", "timeouts"), 1);
    for (int i = 0; i < 10; i++) /* a few more intervals */
        tu_ws_recv_text(live, msg, sizeof(msg), 50);
    assert_true(tu_ws_text(live, "{\"type\":\"ping\"}"));
    assert_true(tu_ws_recv_text(live, msg, sizeof(msg), tu_ms(3000)) > 0);
    assert_string_equal(msg, "{\"type\":\"pong\"}");
    assert_int_equal(tu_metric(hb.port, "ws", "timeouts"), 1);
    bool closed = false;
    tu_recv_all(dead, msg, sizeof(msg), tu_ms(1000), &closed);
    assert_true(closed);
    close(live);
    close(dead);
    /* Shutting down says goodbye with 1001 to the clients still there. */
    int last = tu_ws_connect(hb.port, "/ws", NULL, resp, sizeof(resp));
    assert_true(last >= 0);
    assert_true(tu_ws_text(last, "{\"type\":\"ping\"}"));
    assert_true(tu_ws_recv_text(last, msg, sizeof(msg), tu_ms(3000)) > 0);
    assert_int_equal(tu_server_stop(&hb), 0);
    assert_int_equal(tu_ws_close_code(last, tu_ms(3000)), 1001);
    close(last);
}

static void test_slow_reader_is_closed_with_1008(void **state)
{
    (void)state;
    struct tu_server sq;
    static const char *const args[] = {"ws", "--port", "0", "--send-queue", "65536", NULL};
    assert_true(tu_server_start(&sq, rtlab, args));
    int fd = tu_ws_connect(sq.port, "/ws?topic=flood", NULL, resp, sizeof(resp));
    assert_true(fd >= 0);
    static char data[65536];
    memset(data, 'x', sizeof(data));
    data[0] = '"';
    data[sizeof(data) - 2] = '"';
    data[sizeof(data) - 1] = '\0';
    /* Without compression (none offered), 64 KiB a message: the kernel's
     * buffers fill (a few MB on loopback), then the server's queue. */
    for (int i = 0; i < 1000 && tu_metric(sq.port, "ws", "overflows") < 1; i++)
        publish(sq.port, "flood", data);
    assert_int_equal(tu_metric(sq.port, "ws", "overflows"), 1);
    assert_int_equal(tu_ws_close_code(fd, tu_ms(10000)), 1008);
    close(fd);
    assert_int_equal(tu_server_stop(&sq), 0);
}

static void test_client_resumes_without_loss(void **state)
{
    (void)state;
    struct tu_server big;
    static const char *const args[] = {"ws", "--port", "0", "--ring", "2000", NULL};
    assert_true(tu_server_start(&big, rtlab, args));
    const char *failure = tu_resume_without_loss(rtlab, big.port, "ws", 1000, 5);
    if (failure != NULL)
        fail_msg("%s", failure);
    assert_int_equal(tu_server_stop(&big), 0);
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_answers),
        cmocka_unit_test(test_publish_reaches_subscribers),
        cmocka_unit_test(test_since_joins_live_without_gap),
        cmocka_unit_test(test_reset_when_the_resume_point_is_gone),
        cmocka_unit_test(test_signals_reach_others_and_are_not_logged),
        cmocka_unit_test(test_bad_messages_get_errors_and_keep_the_connection),
        cmocka_unit_test(test_protocol_ping_and_close_handshake),
        cmocka_unit_test(test_heartbeat_drops_dead_links),
        cmocka_unit_test(test_slow_reader_is_closed_with_1008),
        cmocka_unit_test(test_client_resumes_without_loss),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
