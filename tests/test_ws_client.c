/*
 * test_ws_client.c - `rtlab client ws` and `rtlab load ws` end to end: against
 * a WebSocket server that is not ours (tests/peers/ws_server.py, on Debian's
 * python3-websockets), with and without compression, through dropped
 * connections, a server restart (reset) and chat mode; then against
 * `rtlab serve ws`; then `rtlab load ws --peer nchan` against nginx + nchan.
 *
 * The Python server is scripted through its stdin and says on stdout what
 * it did (see its docstring), so every step here waits for an event, never
 * for a fixed time. All processes are this program's children, started and
 * stopped by pid, on 127.0.0.1. Without python3-websockets (scripts/deps.sh
 * installs it) the Python cases are skipped, saying so; likewise the nchan
 * case without nginx and its nchan module (scripts/deps.sh --bench).
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define PYTHON "/usr/bin/python3"

static const char *rtlab;
static char peer_path[4096]; /* tests/peers/ws_server.py */
static bool have_websockets;

/* ---- Processes ----------------------------------------------------------- */

/* Every child a case starts, so that a case that fails half-way (cmocka
 * leaves it by longjmp) does not leave them running: teardown() kills what
 * is left, by pid. */
static pid_t children[16];
static int num_children;

static void track(pid_t pid)
{
    if (num_children < (int)(sizeof children / sizeof children[0]))
        children[num_children++] = pid;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < num_children; i++)
        if (waitpid(children[i], NULL, WNOHANG) == 0) { /* still running */
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
    num_children = 0;
    return 0;
}

/* tu_proc_start(), tracked. */
static void start(struct tu_proc *p, char *const argv[])
{
    assert_int_equal(tu_proc_start(p, argv), 0);
    track(p->pid);
}

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
    track(p->pid);
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
        start(&c, argv);
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
    start(&c, argv);
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
    start(&c, argv);
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
    start(&listener, listen_argv);
    expect_line(&s.proc, "subscribed room since=live", NULL, 0, 5000);
    start_with_stdin(&chat, chat_argv, &in);
    expect_line(&s.proc, "subscribed room since=0", NULL, 0, 5000); /* the default */
    say(in, "hel");
    expect_line(&s.proc, "signal room", NULL, 0, 5000);
    assert_true(tu_proc_wait_stderr(&listener, "ann \"the\" typist is typing...", tu_ms(5000)));
    say(in, "lo \"you\"\t\\\nsecond line\n");
    close(in); /* EOF: its publishes come back, then Close 1000, exit 0 */
    assert_int_equal(tu_proc_stop(&chat, 0, tu_ms(8000)), 0);
    if (strstr(chat.err, "error:"))
        fail_msg("chat client stderr: %s", chat.err);
    assert_int_equal(tu_proc_stop(&listener, 0, tu_ms(8000)), 0);
    const char *want1 = "\"data\":{\"from\":\"ann \\\"the\\\" typist\","
                        "\"text\":\"hello \\\"you\\\"\\t\\\\\"}";
    const char *want2 = "\"data\":{\"from\":\"ann \\\"the\\\" typist\",\"text\":\"second line\"}";
    assert_non_null(strstr(listener.out, want1));
    assert_non_null(strstr(listener.out, want2));
    assert_non_null(strstr(chat.out, want1)); /* its own publishes come back too */
    assert_non_null(strstr(chat.out, want2));
    expect_line(&s.proc, "published room 2", NULL, 0, 5000);
    peer_stop(&s);
}

/* ---- A scripted raw server: what the client does with bad frames ------ */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "rt_proto.h"

/* One accepted connection, its frames read with proto's decoder in server
 * mode (which refuses an unmasked frame: every client frame must be masked). */
struct raw {
    int fd;
    struct rt_ws_decoder dec;
    uint8_t in[1 << 16];
    size_t in_len, in_pos;
    uint8_t masks[64][4]; /* the masking key of each frame read */
    int frames;
    bool offered; /* the client offered permessage-deflate */
};

static int raw_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Accepts the client's next connection and answers its handshake: 101 with
 * the right accept value (or a wrong one when bad_accept), agreeing to
 * permessage-deflate when deflate. */
static void raw_accept(struct raw *r, int lfd, bool deflate, bool bad_accept)
{
    struct pollfd p = {lfd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, tu_ms(5000)), 1);
    memset(r, 0, sizeof *r);
    r->fd = accept(lfd, NULL, NULL);
    assert_true(r->fd >= 0);
    char req[4096] = "";
    size_t n = 0;
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        p = (struct pollfd){r->fd, POLLIN, 0};
        assert_int_equal(poll(&p, 1, tu_ms(5000)), 1);
        ssize_t got = read(r->fd, req + n, sizeof req - 1 - n);
        assert_true(got > 0);
        n += (size_t)got;
        req[n] = '\0';
    }
    assert_non_null(strstr(req, "GET /ws HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "Upgrade: websocket\r\n"));
    assert_non_null(strstr(req, "Sec-WebSocket-Version: 13\r\n"));
    r->offered = strstr(req, "Sec-WebSocket-Extensions: permessage-deflate; "
                             "server_no_context_takeover; client_no_context_takeover") != NULL;
    assert_true(r->offered || !deflate);
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    k += 19;
    char accept_value[RT_WS_ACCEPT_LEN + 1];
    rt_ws_accept(k, RT_WS_KEY_LEN, accept_value);
    if (bad_accept)
        accept_value[0] = accept_value[0] == 'A' ? 'B' : 'A';
    char resp[512];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                       accept_value,
                       deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                 "server_no_context_takeover; client_no_context_takeover\r\n"
                               : "");
    assert_true(tu_send(r->fd, resp, (size_t)len));
    rt_ws_decoder_init(&r->dec, true, deflate, 1 << 20);
}

/* Reads the client's next whole frame into out (NUL-terminated); returns
 * its opcode, or -1 on EOF or timeout. */
static int raw_frame(struct raw *r, char *out, size_t cap, size_t *out_len)
{
    size_t len = 0;
    int64_t end = tu_now_ms() + tu_ms(5000);
    for (;;) {
        while (r->in_pos < r->in_len) {
            struct rt_ws_event ev;
            int64_t used = rt_ws_decode(&r->dec, r->in + r->in_pos, r->in_len - r->in_pos, &ev);
            if (used <= 0 && used != RT_EMORE) /* masked, well formed */
                fail_msg("client frame %d: %s", r->frames, rt_strerror((int)used));
            if (used == RT_EMORE) {
                r->in_pos = r->in_len;
                break;
            }
            r->in_pos += (size_t)used;
            if (ev.kind == RT_WS_EV_HEADER && r->frames < 64)
                memcpy(r->masks[r->frames++], ev.frame.mask, 4);
            if (ev.kind == RT_WS_EV_DATA) {
                assert_true(len + ev.data_len < cap);
                memcpy(out + len, ev.data, ev.data_len);
                len += ev.data_len;
            }
            if (ev.frame_end) {
                out[len] = '\0';
                if (out_len)
                    *out_len = len;
                return ev.frame.opcode;
            }
        }
        struct pollfd p = {r->fd, POLLIN, 0};
        int left = (int)(end - tu_now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1)
            return -1;
        ssize_t got = read(r->fd, r->in, sizeof r->in);
        if (got <= 0)
            return -1;
        r->in_len = (size_t)got;
        r->in_pos = 0;
    }
}

/* Expects a frame of opcode whose payload starts with text (NULL: any). */
static void raw_expect(struct raw *r, int opcode, const char *text)
{
    char buf[1024];
    size_t len;
    int op = raw_frame(r, buf, sizeof buf, &len);
    assert_int_equal(op, opcode);
    if (text)
        assert_memory_equal(buf, text, strlen(text));
}

/* Expects the client's Close with code, then closes our side. */
static void raw_expect_close(struct raw *r, int code)
{
    char buf[256];
    size_t len = 0;
    int op;
    while ((op = raw_frame(r, buf, sizeof buf, &len)) == RT_WS_PONG)
        ;
    assert_int_equal(op, RT_WS_CLOSE);
    assert_true(len >= 2);
    assert_int_equal(((uint8_t)buf[0] << 8) | (uint8_t)buf[1], code);
    close(r->fd);
}

/* Sends one server frame (unmasked unless masked, for the violation). */
static void raw_send(struct raw *r, bool fin, bool rsv1, int opcode, const void *data, size_t len,
                     bool masked)
{
    struct rt_ws_frame f = {.fin = fin,
                            .rsv1 = rsv1,
                            .opcode = (uint8_t)opcode,
                            .masked = masked,
                            .mask = {1, 2, 3, 4},
                            .len = len};
    uint8_t head[RT_WS_HEADER_MAX], *body = malloc(len + 1);
    int hl = rt_ws_frame_header(head, sizeof head, &f);
    assert_true(hl > 0 && body != NULL);
    memcpy(body, data, len);
    if (masked)
        rt_ws_mask(body, len, f.mask, 0);
    assert_true(tu_send(r->fd, (const char *)head, (size_t)hl));
    assert_true(len == 0 || tu_send(r->fd, (const char *)body, len));
    free(body);
}

static void raw_text(struct raw *r, const char *text)
{
    raw_send(r, true, false, RT_WS_TEXT, text, strlen(text), false);
}

/* The opening of every connection: the client's subscribe and ping, our
 * pong (it is live: its next reconnect comes within 1 s). */
static void raw_open(struct raw *r, const char *subscribe)
{
    raw_expect(r, RT_WS_TEXT, subscribe);
    raw_expect(r, RT_WS_TEXT, "{\"type\":\"ping\"}");
    raw_text(r, "{\"type\":\"pong\"}");
}

static void raw_compressed(struct raw *r, const char *text, size_t len)
{
    struct rt_wsd d;
    struct rt_wsd_params p = {.server_no_context_takeover = true,
                              .client_no_context_takeover = true,
                              .server_max_window_bits = 15,
                              .client_max_window_bits = 15};
    assert_int_equal(rt_wsd_init(&d, &p, true, -1), 0);
    size_t cap = rt_wsd_compress_bound(len);
    uint8_t *out = malloc(cap);
    int64_t n = rt_wsd_compress(&d, (const uint8_t *)text, len, out, cap);
    assert_true(n > 0);
    raw_send(r, true, true, RT_WS_TEXT, out, (size_t)n, false);
    free(out);
    rt_wsd_close(&d);
}

#define MSG(id) "{\"id\":" #id ",\"topic\":\"t\",\"event\":\"message\",\"data\":" #id ",\"ts\":1}"

/* Frames we send are masked with fresh keys; pings are answered; messages
 * compressed or in fragments arrive; each RFC violation fails the
 * connection with its code, and the client comes back where it was. */
static void test_raw_protocol_failures(void **state)
{
    (void)state;
    int port, lfd = raw_listen(&port);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", port);
    char *argv[] = {(char *)rtlab, "client",  "ws", "--url",         url,    "--topic",
                    "t",           "--count", "4",  "--max-message", "1000", NULL};
    struct tu_proc c;
    struct raw r;
    start(&c, argv);

    /* 1: compression agreed. A ping, a compressed message, one in three
     * fragments with a ping between them, then a masked frame: 1002. */
    raw_accept(&r, lfd, true, false);
    assert_true(r.offered);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":0}");
    raw_send(&r, true, false, RT_WS_PING, "abc", 3, false);
    raw_expect(&r, RT_WS_PONG, "abc");
    assert_true(r.frames == 3 && memcmp(r.masks[0], r.masks[1], 4) != 0 &&
                memcmp(r.masks[1], r.masks[2], 4) != 0);
    raw_compressed(&r, MSG(1), strlen(MSG(1)));
    assert_int_equal(next_id(&c, 5000), 1);
    const char *m2 = MSG(2);
    raw_send(&r, false, false, RT_WS_TEXT, m2, 5, false);
    raw_send(&r, false, false, RT_WS_CONT, m2 + 5, 10, false);
    raw_send(&r, true, false, RT_WS_PING, "", 0, false);
    raw_send(&r, true, false, RT_WS_CONT, m2 + 15, strlen(m2) - 15, false);
    raw_expect(&r, RT_WS_PONG, "");
    assert_int_equal(next_id(&c, 5000), 2);
    raw_send(&r, true, false, RT_WS_TEXT, MSG(9), strlen(MSG(9)), true);
    raw_expect_close(&r, 1002);

    /* 2: text that is not UTF-8: 1007. The resubscribe names id 2. */
    raw_accept(&r, lfd, false, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":2}");
    raw_send(&r, true, false, RT_WS_TEXT, "{\"a\":\"\xc0\xaf\"}", 10, false);
    raw_expect_close(&r, 1007);

    /* 3: a frame longer than --max-message: 1009 before its payload. */
    raw_accept(&r, lfd, false, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":2}");
    static char big[2000];
    memset(big, ' ', sizeof big);
    raw_send(&r, true, false, RT_WS_TEXT, big, sizeof big, false);
    raw_expect_close(&r, 1009);

    /* 4: a small compressed message that inflates past it: 1009. */
    raw_accept(&r, lfd, true, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":2}");
    raw_compressed(&r, big, sizeof big);
    raw_expect_close(&r, 1009);

    /* 4b: compressed data that is not deflate (reserved block type): 1007. */
    raw_accept(&r, lfd, true, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":2}");
    raw_send(&r, true, true, RT_WS_TEXT, "\x07\x00\x00", 3, false);
    raw_expect_close(&r, 1007);

    /* 5: the server closes with 1001: the client answers with 1001. */
    raw_accept(&r, lfd, false, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":2}");
    raw_send(&r, true, false, RT_WS_CLOSE,
             "\x03\xe9"
             "bye",
             5, false);
    raw_expect_close(&r, 1001);

    /* 6: a wrong Sec-WebSocket-Accept: the client hangs up at once. */
    raw_accept(&r, lfd, false, true);
    char buf[64];
    assert_int_equal(raw_frame(&r, buf, sizeof buf, NULL), -1);
    close(r.fd);

    /* 7: a binary frame is skipped, the connection stays; at --count the
     * client closes with 1000 and waits for our answer. */
    raw_accept(&r, lfd, false, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":2}");
    raw_send(&r, true, false, RT_WS_BINARY, "\x01\x02", 2, false);
    raw_text(&r, "{\"type\":\"error\",\"reason\":\"already subscribed\"}");
    raw_text(&r, MSG(3));
    raw_text(&r, MSG(4));
    char close_frame[8];
    size_t len;
    assert_int_equal(raw_frame(&r, close_frame, sizeof close_frame, &len), RT_WS_CLOSE);
    assert_true(len == 2 && close_frame[0] == 0x03 && close_frame[1] == (char)0xe8);
    raw_send(&r, true, false, RT_WS_CLOSE, close_frame, 2, false);
    close(r.fd); /* the server closes TCP first (RFC 6455 section 7.1.1) */
    assert_int_equal(next_id(&c, 5000), 3);
    assert_int_equal(next_id(&c, 5000), 4);
    int64_t t0 = tu_now_ms();
    assert_int_equal(tu_proc_stop(&c, 0, tu_ms(8000)), 0);
    assert_true(tu_now_ms() - t0 < tu_ms(2000)); /* not the 5 s close deadline */
    close(lfd);
    const char *said[] = {
        "error: topic t: the server broke the protocol: WebSocket protocol error (closing with "
        "1002); reconnecting in",
        "error: topic t: the server broke the protocol: WebSocket text is not valid UTF-8 "
        "(closing with 1007)",
        "error: topic t: a message larger than 1000 bytes (--max-message; closing with 1009); "
        "reconnecting",
        "note: topic t: the server closed the connection (1001: bye); reconnecting in",
        "error: topic t: the server's 101 answer is not a valid handshake; reconnecting in",
        "error: ws: bad message: a binary frame (the protocol is JSON text); skipped",
        "error: ws: the server refused a frame: already subscribed",
        "error: topic t: cannot inflate a message: corrupt permessage-deflate data (closing "
        "with 1007); reconnecting",
        "8 streams, 8 connections, 7 reconnects, 4 messages, 0 duplicates dropped",
    };
    assert_null(strstr(c.err, "closing:"));
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        if (strstr(c.err, said[i]) == NULL)
            fail_msg("stderr lacks '%s': %s", said[i], c.err);
}

/* --heartbeat: a ping every interval; a connection silent for 2.5 of them
 * is dropped and reopened; one whose pings are answered stays. */
static void test_raw_heartbeat(void **state)
{
    (void)state;
    int port, lfd = raw_listen(&port);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", port);
    char *argv[] = {(char *)rtlab, "client",      "ws",  "--url",        url, "--topic",
                    "t",           "--heartbeat", "0.2", "--no-deflate", NULL};
    struct tu_proc c;
    struct raw r;
    char buf[64];
    size_t len;
    start(&c, argv);
    /* 1: we never answer its pings: after 0.5 s of silence it reconnects. */
    raw_accept(&r, lfd, false, false);
    assert_false(r.offered); /* --no-deflate */
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":0}");
    int64_t t0 = tu_now_ms();
    assert_int_equal(raw_frame(&r, buf, sizeof buf, &len), RT_WS_PING);
    assert_int_equal(len, 8);
    assert_int_equal(raw_frame(&r, buf, sizeof buf, &len), RT_WS_PING);
    int op;
    while ((op = raw_frame(&r, buf, sizeof buf, &len)) == RT_WS_PING)
        ;
    assert_int_equal(op, -1); /* it hung up */
    int64_t silent = tu_now_ms() - t0;
    assert_true(silent >= 450 && silent < 500 + tu_ms(1000));
    close(r.fd);
    /* 2: pongs come back: it stays for well over 2.5 intervals. */
    raw_accept(&r, lfd, false, false);
    raw_open(&r, "{\"type\":\"subscribe\",\"topic\":\"t\",\"since\":0}");
    int pings = 0;
    for (t0 = tu_now_ms(); tu_now_ms() - t0 < 1500;) {
        assert_int_equal(raw_frame(&r, buf, sizeof buf, &len), RT_WS_PING);
        raw_send(&r, true, false, RT_WS_PONG, buf, len, false);
        pings++;
    }
    assert_true(pings >= 5);
    struct pollfd p = {lfd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 0); /* no new connection */
    kill(c.pid, SIGTERM);                /* Close 1000, answered */
    raw_expect_close(&r, 1000);
    assert_int_equal(tu_proc_stop(&c, 0, tu_ms(8000)), 0);
    if (strstr(c.err, "error: topic t: nothing received for 0.5 s (heartbeat watchdog): the "
                      "connection looks dead; reconnecting in") == NULL)
        fail_msg("stderr: %s", c.err);
    assert_non_null(strstr(c.err, "2 streams, 2 connections, 1 reconnects"));
    close(lfd);
}

/* Against rtlab's own server: a message published over HTTP arrives, and
 * load ws delivers every message to every client. */
static void test_rtlab_server(void **state)
{
    (void)state;
    struct tu_server srv;
    const char *args[] = {"ws", "--port", "0", NULL};
    assert_true(tu_server_start(&srv, rtlab, args));
    track(srv.proc.pid);
    char url[64], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    char *argv[] = {(char *)rtlab, "client",  "ws", "--url",   url, "--topic",
                    "h",           "--since", "0",  "--count", "2", NULL};
    struct tu_proc c;
    start(&c, argv);
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

/* ---- nginx + nchan's WebSocket subscriber (load ws --peer nchan) -------- */

/* Debian's nginx and libnginx-mod-nchan (scripts/deps.sh --bench). */
#define NGINX "/usr/sbin/nginx"
#define NCHAN_SO "/usr/lib/nginx/modules/ngx_nchan_module.so"

static bool skip_without_nchan(void)
{
    bool have = access(NGINX, X_OK) == 0 && access(NCHAN_SO, R_OK) == 0;
    if (!have)
        fprintf(stderr,
                "SKIP: no %s with %s (scripts/deps.sh --bench installs nginx and "
                "libnginx-mod-nchan)\n",
                NGINX, NCHAN_SO);
    return !have;
}

/* Three publisher and subscriber pairs, as URL prefixes: "" plain, "/short"
 * whose subscribers nchan closes after 1 s without a message (so clients
 * reconnect and resume), "/z" whose messages nchan compresses. One process,
 * as scripts/bench-ws.sh runs it. */
static const char nchan_conf[] =
    "load_module " NCHAN_SO ";\n"
    "worker_processes 1;\ndaemon off;\nmaster_process off;\n"
    "pid %s/nginx.pid;\nerror_log %s/error.log;\n"
    "events { worker_connections 1024; }\n"
    "http {\n  access_log off;\n  server {\n    listen 127.0.0.1:%d;\n"
    "    location = /publish { nchan_publisher; nchan_channel_id $arg_topic; }\n"
    "    location = /ws { nchan_subscriber websocket; nchan_channel_id $arg_topic; }\n"
    "    location = /short/publish { nchan_publisher; nchan_channel_id $arg_topic; }\n"
    "    location = /short/ws { nchan_subscriber websocket; nchan_channel_id $arg_topic;\n"
    "                           nchan_subscriber_timeout 1; }\n"
    "    location = /z/publish { nchan_publisher; nchan_channel_id $arg_topic;\n"
    "                            nchan_deflate_message_for_websocket on; }\n"
    "    location = /z/ws { nchan_subscriber websocket; nchan_channel_id $arg_topic; }\n"
    "  }\n}\n";

struct nginx {
    struct tu_proc proc;
    char dir[64];
    int port;
};

/* Starts nginx + nchan on a free port in a directory of its own; returns
 * once it accepts connections. */
static void nginx_start(struct nginx *n)
{
    snprintf(n->dir, sizeof n->dir, "/tmp/rtlab-nchan-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    int lfd = raw_listen(&n->port); /* a port nobody holds, given to nginx */
    close(lfd);
    char conf[4096], path[128];
    snprintf(conf, sizeof conf, nchan_conf, n->dir, n->dir, n->port);
    snprintf(path, sizeof path, "%s/nginx.conf", n->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(conf, f);
    fclose(f);
    char *argv[] = {NGINX, "-c", path, "-p", n->dir, NULL};
    start(&n->proc, argv);
    int fd = -1;
    for (int64_t end = tu_now_ms() + tu_ms(10000); fd < 0 && tu_now_ms() < end;)
        if ((fd = tu_connect(n->port)) < 0)
            usleep(20000); /* nginx says nothing when it is ready */
    if (fd < 0)
        fail_msg("nginx did not start; stderr: %s", n->proc.err);
    close(fd);
}

/* Stops nginx; its exit status is not ours to judge (nchan 1.3.6 may abort
 * on the way out of a master-less nginx). */
static void nginx_stop(struct nginx *n)
{
    (void)tu_proc_stop(&n->proc, SIGTERM, tu_ms(5000));
    char *rm[] = {"/bin/rm", "-rf", n->dir, NULL};
    char out[64];
    (void)tu_run(rm, out, sizeof out, 10000);
}

static unsigned long long report_u64(const char *out, const char *key)
{
    long long v = tu_json_number(out, key);
    assert_true(v >= 0);
    return (unsigned long long)v;
}

/* Runs load ws --peer nchan against url; returns its JSON report in out,
 * having checked that every message reached every client once. */
static void nchan_load(const char *url, const char *rate, const char *secs, char *out, size_t cap)
{
    char *load[] = {(char *)rtlab, "load",      "ws",     "--url",      (char *)url,
                    "--peer",      "nchan",     "--rate", (char *)rate, "--duration",
                    (char *)secs,  "--clients", "20",     "--json",     NULL};
    assert_int_equal(tu_run(load, out, cap, tu_ms(30000)), 0);
    assert_non_null(strstr(out, "\"peer\":\"nchan\",\"clock\":\"publisher\""));
    unsigned long long published = report_u64(out, "published");
    assert_true(published >= 3);
    assert_int_equal(report_u64(out, "delivered"), published * 20);
    assert_int_equal(report_u64(out, "held_at_start"), 20);
    assert_int_equal(report_u64(out, "complete"), published);
    assert_int_equal(report_u64(out, "duplicates"), 0);
    assert_int_equal(report_u64(out, "errors"), 0);
}

/*
 * load ws --peer nchan against nginx + nchan: every message to every
 * client, and no reconnects (nchan closes with 1008 a client that sends a
 * text frame: we send none). With subscribers that nchan closes after 1 s
 * of quiet, the clients reconnect with Last-Event-ID and miss nothing
 * published while they were away, and get nothing twice (without an id,
 * nchan would replay the whole channel). With nchan compressing, the same.
 */
static void test_nchan(void **state)
{
    (void)state;
    if (skip_without_nchan())
        skip();
    struct nginx n;
    nginx_start(&n);
    char url[96], out[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", n.port);
    nchan_load(url, "20", "1", out, sizeof out);
    assert_int_equal(report_u64(out, "reconnects"), 0);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/short", n.port);
    nchan_load(url, "1", "4.5", out, sizeof out);
    assert_true(report_u64(out, "reconnects") >= 20);

    snprintf(url, sizeof url, "ws://127.0.0.1:%d/z/ws", n.port);
    nchan_load(url, "20", "1", out, sizeof out);
    assert_int_equal(report_u64(out, "reconnects"), 0);
    nginx_stop(&n);
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
        cmocka_unit_test_teardown(test_python_messages_in_order, teardown),
        cmocka_unit_test_teardown(test_python_resume_after_drop, teardown),
        cmocka_unit_test_teardown(test_python_reset, teardown),
        cmocka_unit_test_teardown(test_python_chat, teardown),
        cmocka_unit_test_teardown(test_raw_protocol_failures, teardown),
        cmocka_unit_test_teardown(test_raw_heartbeat, teardown),
        cmocka_unit_test_teardown(test_rtlab_server, teardown),
        cmocka_unit_test_teardown(test_nchan, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
