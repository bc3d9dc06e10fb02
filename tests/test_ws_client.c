/*
 * test_ws_client.c - `rtlab client ws` and `rtlab load ws` end to end: against
 * a WebSocket server that is not ours (tests/peers/ws_server.py, on Debian's
 * python3-websockets), with and without compression, through dropped
 * connections, a server restart (reset) and chat mode; then against
 * `rtlab serve ws`.
 *
 * The Python server is scripted through its stdin and says on stdout what
 * it did (see its docstring), so every step here waits for an event, never
 * for a fixed time. All processes are this program's children, started and
 * stopped by pid, on 127.0.0.1. Without python3-websockets (scripts/deps.sh
 * installs it) the Python cases are skipped, saying so.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define PYTHON "/usr/bin/python3"

static const char *rtlab;
static char peer_path[4096]; /* tests/peers/ws_server.py */
static bool have_websockets;

/* ---- Processes with a stdin we write --------------------------------- */

/* Starts argv like tu_proc_start(), with its stdin a pipe whose write end
 * is returned in *in (close-on-exec, so no other child holds it: closing it
 * is the child's EOF). */
static void start_with_stdin(struct tu_proc *p, char *const argv[], int *in)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    int saved = dup(0);
    assert_true(saved >= 0);
    dup2(fds[0], 0); /* fd 0 without close-on-exec: the child's stdin */
    int r = tu_proc_start(p, argv);
    dup2(saved, 0);
    close(saved);
    close(fds[0]);
    assert_int_equal(r, 0);
    *in = fds[1];
}

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(int fd, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    assert_int_equal(write(fd, line, (size_t)n), n);
}

/* Reads stdout lines until one starts with prefix (copied to out when not
 * NULL). Fails the test at the timeout. */
static void expect_line(struct tu_proc *p, const char *prefix, char *out, size_t cap,
                        int timeout_ms)
{
    char line[4096];
    int64_t end = tu_now_ms() + tu_ms(timeout_ms);
    while (tu_now_ms() < end) {
        if (!tu_proc_line(p, line, sizeof line, (int)(end - tu_now_ms())))
            break;
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            if (out && cap > 0) {
                size_t n = strlen(line) < cap - 1 ? strlen(line) : cap - 1;
                memcpy(out, line, n);
                out[n] = '\0';
            }
            return;
        }
    }
    fail_msg("no line starting '%s' within %d ms; stderr: %s", prefix, timeout_ms, p->err);
}

/* ---- The Python server ------------------------------------------------- */

struct peer {
    struct tu_proc proc;
    int in; /* its command stdin */
    int port;
};

static void peer_start(struct peer *s, bool deflate)
{
    char *argv[] = {PYTHON, peer_path, "--port", "0", deflate ? NULL : "--no-deflate", NULL};
    start_with_stdin(&s->proc, argv, &s->in);
    char line[256];
    expect_line(&s->proc, "listening on ", line, sizeof line, 10000);
    s->port = atoi(strrchr(line, ':') + 1);
    assert_true(s->port > 0);
}

static void peer_stop(struct peer *s)
{
    close(s->in); /* EOF: it stops */
    int code = tu_proc_stop(&s->proc, 0, tu_ms(5000));
    if (code != 0)
        code = tu_proc_stop(&s->proc, SIGKILL, 1000);
}

/* The client's next message line: its id, and its data's text when asked. */
static int next_id(struct tu_proc *c, int timeout_ms)
{
    char line[4096];
    if (!tu_proc_line(c, line, sizeof line, tu_ms(timeout_ms)))
        fail_msg("no message within %d ms; client stderr: %s", timeout_ms, c->err);
    assert_true(strncmp(line, "{\"id\":", 6) == 0);
    return atoi(line + 6);
}

static bool skip_without_websockets(void)
{
    if (!have_websockets)
        fprintf(stderr,
                "SKIP: %s has no websockets module (scripts/deps.sh installs "
                "python3-websockets)\n",
                PYTHON);
    return !have_websockets;
}

/* ---- Cases ------------------------------------------------------------- */

/* Every message once, in order, with the server compressing, not
 * compressing, and with our client not offering compression. */
static void test_python_messages_in_order(void **state)
{
    (void)state;
    if (skip_without_websockets())
        skip();
    const struct {
        bool server_deflate, client_deflate;
        const char *agreed;
    } modes[] = {{true, true, "connected deflate"},
                 {false, true, "connected plain"},
                 {true, false, "connected plain"}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        struct peer s;
        peer_start(&s, modes[m].server_deflate);
        char url[64];
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", s.port);
        char *argv[] = {(char *)rtlab, "client",
                        "ws",          "--url",
                        url,           "--topic",
                        "a",           "--topic",
                        "b",           "--since",
                        "0",           "--count",
                        "6",           modes[m].client_deflate ? NULL : "--no-deflate",
                        NULL};
        struct tu_proc c;
        assert_int_equal(tu_proc_start(&c, argv), 0);
        expect_line(&s.proc, modes[m].agreed, NULL, 0, 5000);
        expect_line(&s.proc, "subscribed b since=0", NULL, 0, 5000);
        /* Small and large (compressed) messages, two topics interleaved. */
        for (int i = 1; i <= 3; i++) {
            say(s.in, "publish a {\"n\":%d,\"pad\":\"%0*d\"}\n", i, i * 100, 0);
            say(s.in, "publish b [%d, \"\\u00e9\\ud83d\\ude00\"]\n", i);
        }
        int next_a = 1, next_b = 1;
        char line[4096];
        for (int i = 0; i < 6; i++) {
            assert_true(tu_proc_line(&c, line, sizeof line, tu_ms(5000)));
            if (strstr(line, "\"topic\":\"a\"")) {
                assert_int_equal(atoi(line + 6), next_a++);
            } else {
                assert_int_equal(atoi(line + 6), next_b++);
                assert_non_null(strstr(line, "\"data\":[")); /* UTF-8 text intact */
                assert_non_null(strstr(line, "\xc3\xa9\xf0\x9f\x98\x80"));
            }
        }
        assert_int_equal(next_a, 4);
        assert_int_equal(next_b, 4);
        assert_int_equal(tu_proc_stop(&c, 0, tu_ms(8000)), 0);
        assert_non_null(strstr(c.err, "6 messages, 0 duplicates dropped, 0 errors"));
        peer_stop(&s);
    }
}

/* The server drops every connection (no Close frame) while messages keep
 * coming: the client resubscribes with since = the last id it had and
 * misses nothing, twice. */
static void test_python_resume_after_drop(void **state)
{
    (void)state;
    if (skip_without_websockets())
        skip();
    struct peer s;
    peer_start(&s, true);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port); /* /ws by default */
    char *argv[] = {(char *)rtlab, "client",  "ws", "--url",   url, "--topic",
                    "t",           "--since", "0",  "--count", "8", NULL};
    struct tu_proc c;
    assert_int_equal(tu_proc_start(&c, argv), 0);
    expect_line(&s.proc, "subscribed t since=0", NULL, 0, 5000);
    say(s.in, "publish t 1\npublish t 2\n");
    assert_int_equal(next_id(&c, 5000), 1);
    assert_int_equal(next_id(&c, 5000), 2);
    say(s.in, "drop\npublish t 3\npublish t 4\n"); /* while it is away */
    expect_line(&s.proc, "dropped 1", NULL, 0, 5000);
    expect_line(&s.proc, "subscribed t since=2", NULL, 0, 5000);
    say(s.in, "publish t 5\n");
    for (int id = 3; id <= 5; id++)
        assert_int_equal(next_id(&c, 5000), id);
    say(s.in, "drop\npublish t 6\n");
    expect_line(&s.proc, "subscribed t since=5", NULL, 0, 5000);
    say(s.in, "publish t 7\npublish t 8\n");
    for (int id = 6; id <= 8; id++)
        assert_int_equal(next_id(&c, 5000), id);
    assert_int_equal(tu_proc_stop(&c, 0, tu_ms(8000)), 0);
    assert_non_null(strstr(c.err, "the server closed the connection without a Close frame; "
                                  "reconnecting in"));
    assert_non_null(strstr(c.err, "3 streams, 3 connections, 2 reconnects, 8 messages, "
                                  "0 duplicates dropped"));
    peer_stop(&s);
}

/* The server forgets the topic (as a restart would) and closes with 1001:
 * the client resumes from id 3, is told the log restarts after 0, and
 * takes the new id 1. */
static void test_python_reset(void **state)
{
    (void)state;
    if (skip_without_websockets())
        skip();
    struct peer s;
    peer_start(&s, true);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", s.port);
    char *argv[] = {(char *)rtlab, "client",  "ws", "--url",   url, "--topic",
                    "r",           "--since", "0",  "--count", "4", NULL};
    struct tu_proc c;
    assert_int_equal(tu_proc_start(&c, argv), 0);
    expect_line(&s.proc, "subscribed r since=0", NULL, 0, 5000);
    say(s.in, "publish r 1\npublish r 2\npublish r 3\n");
    for (int id = 1; id <= 3; id++)
        assert_int_equal(next_id(&c, 5000), id);
    say(s.in, "clear r\nclose 1001\n");
    expect_line(&s.proc, "closed 1", NULL, 0, 5000);
    expect_line(&s.proc, "subscribed r since=0", NULL, 0, 5000); /* after the reset */
    say(s.in, "publish r {\"again\":true}\n");
    assert_int_equal(next_id(&c, 5000), 1);
    assert_int_equal(tu_proc_stop(&c, 0, tu_ms(8000)), 0);
    assert_non_null(strstr(c.err, "the server closed the connection (1001: bye); reconnecting"));
    assert_non_null(strstr(c.err, "reset: topic r restarts after id 0"));
    assert_non_null(strstr(c.err, "4 messages, 0 duplicates dropped, 0 errors, 1 resets"));
    peer_stop(&s);
}

/* Chat: stdin lines become publishes (escaped), a partial line a typing
 * signal that another client shows on stderr, and EOF a clean exit. */
static void test_python_chat(void **state)
{
    (void)state;
    if (skip_without_websockets())
        skip();
    struct peer s;
    peer_start(&s, true);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", s.port);
    char *listen_argv[] = {(char *)rtlab, "client", "ws",      "--url", url, "--topic",
                           "room",        "--live", "--count", "2",     NULL};
    char *chat_argv[] = {(char *)rtlab, "client", "ws",     "--url",  url,
                         "--topic",     "room",   "--chat", "--name", "ann \"the\" typist",
                         NULL};
    struct tu_proc listener, chat;
    int in;
    assert_int_equal(tu_proc_start(&listener, listen_argv), 0);
    expect_line(&s.proc, "subscribed room since=live", NULL, 0, 5000);
    start_with_stdin(&chat, chat_argv, &in);
    expect_line(&s.proc, "subscribed room since=0", NULL, 0, 5000); /* the default */
    say(in, "hel");
    expect_line(&s.proc, "signal room", NULL, 0, 5000);
    assert_true(tu_proc_wait_stderr(&listener, "ann \"the\" typist is typing...", tu_ms(5000)));
    say(in, "lo \"you\"\t\\\nsecond line\n");
    expect_line(&s.proc, "published room 2", NULL, 0, 5000);
    close(in); /* EOF: Close 1000, exit 0 */
    assert_int_equal(tu_proc_stop(&chat, 0, tu_ms(8000)), 0);
    if (strstr(chat.err, "error:"))
        fail_msg("chat client stderr: %s", chat.err);
    assert_int_equal(tu_proc_stop(&listener, 0, tu_ms(8000)), 0);
    const char *want1 = "\"data\":{\"from\":\"ann \\\"the\\\" typist\","
                        "\"text\":\"hello \\\"you\\\"\\t\\\\\"}";
    const char *want2 = "\"data\":{\"from\":\"ann \\\"the\\\" typist\",\"text\":\"second line\"}";
    assert_non_null(strstr(listener.out, want1));
    assert_non_null(strstr(listener.out, want2));
    assert_non_null(strstr(chat.out, want2)); /* its own publishes come back too */
    peer_stop(&s);
}

/* Against rtlab's own server: a message published over HTTP arrives, and
 * load ws delivers every message to every client. */
static void test_rtlab_server(void **state)
{
    (void)state;
    struct tu_server srv;
    const char *args[] = {"ws", "--port", "0", NULL};
    assert_true(tu_server_start(&srv, rtlab, args));
    char url[64], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    char *argv[] = {(char *)rtlab, "client",  "ws", "--url",   url, "--topic",
                    "h",           "--since", "0",  "--count", "2", NULL};
    struct tu_proc c;
    assert_int_equal(tu_proc_start(&c, argv), 0);
    char purl[128];
    snprintf(purl, sizeof purl, "%s/publish?topic=h", url);
    assert_int_equal(tu_curl("POST", purl, "{\"hello\":1}", body, sizeof body), 200);
    assert_int_equal(tu_curl("POST", purl,
                             "\"a long enough message to be compressed by the "
                             "server, which compresses from 64 bytes on\"",
                             body, sizeof body),
                     200);
    assert_int_equal(next_id(&c, 5000), 1);
    assert_int_equal(next_id(&c, 5000), 2);
    assert_int_equal(tu_proc_stop(&c, 0, tu_ms(8000)), 0);

    char out[8192];
    char *load[] = {(char *)rtlab, "load", "ws",     "--url", url,      "--clients", "200",
                    "--duration",  "1",    "--rate", "20",    "--json", NULL};
    assert_int_equal(tu_run(load, out, sizeof out, tu_ms(30000)), 0);
    const char *p = strstr(out, "\"delivered\":");
    assert_non_null(p);
    unsigned long long delivered = 0, expected = 1;
    assert_int_equal(sscanf(p, "\"delivered\":%llu,\"expected\":%llu", &delivered, &expected), 2);
    assert_true(expected >= 200 * 10);
    assert_int_equal(delivered, expected);
    assert_non_null(strstr(out, "\"held_at_start\":200,"));
    assert_non_null(strstr(out, "\"errors\":0,"));
    assert_int_equal(tu_server_stop(&srv), 0);
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
    /* This file's directory (CMake compiles it by its absolute path). */
    const char *slash = strrchr(__FILE__, '/');
    snprintf(peer_path, sizeof peer_path, "%.*s/peers/ws_server.py",
             slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
    char *check[] = {PYTHON, "-c", "import websockets", NULL};
    char out[64];
    have_websockets = access(PYTHON, X_OK) == 0 && tu_run(check, out, sizeof out, 10000) == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_messages_in_order),
        cmocka_unit_test(test_python_resume_after_drop),
        cmocka_unit_test(test_python_reset),
        cmocka_unit_test(test_python_chat),
        cmocka_unit_test(test_rtlab_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
