/*
 * test_ws_interop.c - our WebSocket server and client against two WebSocket
 * stacks that are not ours: Python's `websockets` (Debian's
 * python3-websockets) and node's `ws` (tests/peers/package.json), each with
 * and without permessage-deflate.
 *
 *   their clients -> `rtlab serve ws`:
 *       an HTTP publish reaches both; a publish over the protocol from one
 *       reaches the other; a signal reaches the other subscribers, not its
 *       sender, and never the log; a ping frame gets its pong; compression
 *       is negotiated when offered (the response's header and the
 *       library's own view), and really shrinks what crosses the wire
 *   `rtlab client ws` / `rtlab load ws` -> node's ws server speaking our
 *       protocol (tests/peers/ws_server.js, deflate off, shared, context):
 *       replay and live messages, a reset, resuming through cut
 *       connections, a short load run
 *
 * The peers are scripted by their arguments (see tests/peers/ws_client.py)
 * and print what happens, one line each, so every step waits for a line,
 * never for a fixed time. Each test starts its processes and stops them by
 * pid; all on 127.0.0.1. ws is installed into BUILD_DIR/peers by
 * scripts/peer-deps.sh on the first run (that needs npm's registry once).
 * Without /usr/bin/python3 + websockets, or without node + ws, those cases
 * are skipped, saying why.
 *
 * Usage: test_ws_interop PATH_TO_RTLAB
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

#define PYTHON "/usr/bin/python3"

enum lib { PY, NODE };
static const char *const lib_name[] = {"python websockets", "node ws"};

static const char *rtlab;
static char peers[4096];   /* tests/peers */
static char scripts[4096]; /* scripts/ */
static bool have[2];       /* each library can run */
static struct tu_server srv;

/* ---- Scripted peer clients ---------------------------------------------- */

/* A peer client and every line it printed (tu_proc keeps only a window). */
struct client {
    struct tu_proc proc;
    char log[1 << 15];
    size_t log_len;
};

static struct client cl[3];

/* Starts a ws_client.{py,js} on url with the steps (NULL-terminated). */
static void client_start(struct client *c, enum lib lib, bool deflate, const char *url,
                         const char *const *steps)
{
    static char script[4200], timeout[16];
    char *argv[40];
    int n = 0;
    snprintf(script, sizeof(script), "%s/%s", peers, lib == PY ? "ws_client.py" : "ws_client.js");
    snprintf(timeout, sizeof(timeout), "%d", tu_ms(10000) / 1000);
    argv[n++] = lib == PY ? PYTHON : "node";
    argv[n++] = script;
    argv[n++] = deflate ? "--deflate" : "--no-deflate";
    argv[n++] = "--timeout";
    argv[n++] = timeout;
    argv[n++] = "--count-bytes";
    argv[n++] = (char *)url;
    while (*steps != NULL && n < 39)
        argv[n++] = (char *)*steps++;
    argv[n] = NULL;
    c->log_len = 0;
    c->log[0] = '\0';
    assert_int_equal(tu_proc_start(&c->proc, argv), 0);
}

/* Reads lines until one contains needle; copies it to out when asked. */
static void client_wait(struct client *c, const char *needle, char *out, size_t cap)
{
    char line[8192];
    int64_t end = tu_now_ms() + tu_ms(10000);
    while (tu_now_ms() < end && tu_proc_line(&c->proc, line, sizeof(line), tu_ms(10000))) {
        size_t n = strlen(line);
        if (c->log_len + n + 2 < sizeof(c->log)) {
            memcpy(c->log + c->log_len, line, n);
            c->log_len += n;
            c->log[c->log_len++] = '\n';
            c->log[c->log_len] = '\0';
        }
        if (strstr(line, needle) != NULL) {
            if (out != NULL) {
                size_t k = n < cap - 1 ? n : cap - 1;
                memcpy(out, line, k);
                out[k] = '\0';
            }
            return;
        }
    }
    fail_msg("no line with '%s'; so far:\n%s\nstderr: %s", needle, c->log, c->proc.err);
}

/* Waits for the client to finish its steps and exit 0 ("closed" is its
 * last line). */
static void client_end(struct client *c)
{
    client_wait(c, "closed ", NULL, 0);
    int st = tu_proc_stop(&c->proc, 0, tu_ms(10000));
    if (st != 0)
        fail_msg("client exited %d; its lines:\n%s\nstderr: %s", st, c->log, c->proc.err);
}

static void client_kill(struct client *c)
{
    if (c->proc.pid > 0 && kill(c->proc.pid, 0) == 0)
        tu_proc_stop(&c->proc, SIGKILL, 1000);
}

/* The "open EXT" and "extensions E" lines: whether compression was agreed,
 * by the server's answer and by the library. Both must say the same. */
static void check_negotiated(struct client *c, bool deflate)
{
    char open[512], ext[512];
    client_wait(c, "open ", open, sizeof(open));
    client_wait(c, "extensions ", ext, sizeof(ext));
    if (deflate) {
        assert_non_null(strstr(open, "permessage-deflate"));
        assert_non_null(strstr(ext, "permessage-deflate"));
    } else {
        assert_string_equal(open, "open -");
        assert_string_equal(ext, "extensions -");
    }
}

/* ---- Our server --------------------------------------------------------- */

static int server_up(void **state)
{
    (void)state;
    static const char *const args[] = {"ws", "--port", "0", NULL};
    return tu_server_start(&srv, rtlab, args) ? 0 : -1;
}

static int server_down(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cl) / sizeof(cl[0]); i++)
        client_kill(&cl[i]);
    return tu_server_stop(&srv) == 0 ? 0 : -1;
}

static void publish(int port, const char *topic, const char *data)
{
    char url[256], out[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/publish?topic=%s", port, topic);
    assert_int_equal(tu_curl("POST", url, data, out, sizeof(out)), 200);
}

static const char *ws_url(const char *query)
{
    static char url[256];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws%s", srv.port, query);
    return url;
}

static bool skip_unless(enum lib lib)
{
    if (!have[lib])
        print_message("skipped: %s is not available (see the first lines of the output)\n",
                      lib_name[lib]);
    return !have[lib];
}

/* An HTTP publish reaches a websockets client and a ws client. */
static void test_http_publish_reaches_both(void **state)
{
    (void)state;
    if (skip_unless(PY) || skip_unless(NODE))
        skip();
    for (int deflate = 0; deflate < 2; deflate++) {
        char topic[32], query[64], data[256], want[128];
        snprintf(topic, sizeof(topic), "http%d", deflate);
        snprintf(query, sizeof(query), "?topic=%s", topic);
        /* A message over the 64-byte threshold, so it goes out compressed. */
        snprintf(data, sizeof(data), "{\"n\":1,\"text\":\"%s\"}",
                 "the quick brown fox jumps over the lazy dog, twice: the quick brown fox");
        static const char *const steps[] = {"barrier", "say:ready", "expect:\"n\":1", NULL};
        for (enum lib l = PY; l <= NODE; l++) {
            client_start(&cl[l], l, deflate, ws_url(query), steps);
            check_negotiated(&cl[l], deflate);
            client_wait(&cl[l], "ready", NULL, 0);
        }
        publish(srv.port, topic, data);
        snprintf(want, sizeof(want), "< {\"id\":1,\"topic\":\"%s\",\"event\":\"message\"", topic);
        for (enum lib l = PY; l <= NODE; l++) {
            char line[1024];
            client_wait(&cl[l], "\"n\":1", line, sizeof(line));
            assert_true(strncmp(line, want, strlen(want)) == 0);
            assert_non_null(strstr(line, "the lazy dog"));
            client_end(&cl[l]);
        }
    }
}

/* One library's client publishes over the protocol; the other receives. */
static void test_ws_publish_reaches_the_other(void **state)
{
    (void)state;
    if (skip_unless(PY) || skip_unless(NODE))
        skip();
    for (int deflate = 0; deflate < 2; deflate++)
        for (enum lib from = PY; from <= NODE; from++) {
            enum lib to = from == PY ? NODE : PY;
            char topic[32], sub[128], pub[256];
            snprintf(topic, sizeof(topic), "pub%d%d", deflate, from);
            snprintf(sub, sizeof(sub), "send:{\"type\":\"subscribe\",\"topic\":\"%s\"}", topic);
            snprintf(pub, sizeof(pub),
                     "send:{\"type\":\"publish\",\"topic\":\"%s\",\"event\":\"chat\","
                     "\"data\":{\"from\":\"%s\",\"text\":\"%0100d\"}}",
                     topic, from == PY ? "py" : "node", 7);
            const char *const rsteps[] = {sub, "barrier", "say:ready", "expect:\"event\":\"chat\"",
                                          NULL};
            const char *const psteps[] = {pub, "barrier", NULL};
            client_start(&cl[to], to, deflate, ws_url(""), rsteps);
            check_negotiated(&cl[to], deflate);
            client_wait(&cl[to], "ready", NULL, 0);
            client_start(&cl[from], from, deflate, ws_url(""), psteps);
            check_negotiated(&cl[from], deflate);
            client_end(&cl[from]);
            char line[1024];
            client_wait(&cl[to], "\"event\":\"chat\"", line, sizeof(line));
            assert_non_null(strstr(line, from == PY ? "\"from\":\"py\"" : "\"from\":\"node\""));
            assert_non_null(strstr(line, "\"id\":1,"));
            client_end(&cl[to]);
        }
}

/* A signal reaches the topic's other subscribers (both libraries), not the
 * sender, and is never logged: a later subscribe with since=0 replays the
 * one real message only. */
static void test_signal_reaches_others_and_is_never_logged(void **state)
{
    (void)state;
    if (skip_unless(PY) || skip_unless(NODE))
        skip();
    for (int deflate = 0; deflate < 2; deflate++) {
        char topic[32], query[64], sig[160], sub0[128];
        snprintf(topic, sizeof(topic), "sig%d", deflate);
        snprintf(query, sizeof(query), "?topic=%s", topic);
        snprintf(sig, sizeof(sig),
                 "send:{\"type\":\"signal\",\"topic\":\"%s\",\"data\":{\"typing\":\"ann\"}}",
                 topic);
        publish(srv.port, topic, "{\"logged\":true}");
        static const char *const wsteps[] = {"barrier", "say:ready", "expect:\"type\":\"signal\"",
                                             NULL};
        for (enum lib l = PY; l <= NODE; l++) {
            client_start(&cl[l], l, deflate, ws_url(query), wsteps);
            client_wait(&cl[l], "ready", NULL, 0);
        }
        /* The sender is subscribed too; the barrier after the signal means
         * the server has relayed it, so nothing for the sender can follow. */
        const char *const ssteps[] = {"barrier", sig, "barrier", NULL};
        client_start(&cl[2], PY, deflate, ws_url(query), ssteps);
        client_end(&cl[2]);
        assert_null(strstr(cl[2].log, "signal"));
        for (enum lib l = PY; l <= NODE; l++) {
            char line[512];
            client_wait(&cl[l], "\"type\":\"signal\"", line, sizeof(line));
            assert_non_null(strstr(line, "\"topic\":\"sig"));
            assert_non_null(strstr(line, "\"typing\":\"ann\""));
            client_end(&cl[l]);
            assert_null(strstr(cl[l].log, "\"logged\"")); /* live only: no replay */
        }
        snprintf(sub0, sizeof(sub0), "send:{\"type\":\"subscribe\",\"topic\":\"%s\",\"since\":0}",
                 topic);
        const char *const rsteps[] = {sub0, "barrier", NULL};
        client_start(&cl[0], NODE, deflate, ws_url(""), rsteps);
        client_end(&cl[0]);
        assert_non_null(strstr(cl[0].log, "\"id\":1,"));
        assert_non_null(strstr(cl[0].log, "\"logged\":true"));
        assert_null(strstr(cl[0].log, "\"id\":2,"));
        assert_null(strstr(cl[0].log, "signal"));
        assert_null(strstr(cl[0].log, "typing"));
    }
}

/* RFC 6455 ping frames from the client get pongs with the same payload. */
static void test_ping_frame_gets_pong(void **state)
{
    (void)state;
    for (enum lib l = PY; l <= NODE; l++) {
        if (skip_unless(l))
            continue;
        for (int deflate = 0; deflate < 2; deflate++) {
            static const char *const steps[] = {"ping:rtlab-1", "ping:", "ping:0123456789abcdef",
                                                NULL};
            client_start(&cl[l], l, deflate, ws_url(""), steps);
            client_wait(&cl[l], "pong-frame rtlab-1", NULL, 0);
            client_wait(&cl[l], "pong-frame 0123456789abcdef", NULL, 0);
            client_end(&cl[l]);
        }
    }
}

/* The "bytes rx N tx M" line: what came over TCP. */
static long rx_bytes(struct client *c)
{
    const char *b = strstr(c->log, "bytes rx ");
    assert_non_null(b);
    return atol(b + 9);
}

/* Compression is not just agreed: a large, repetitive message crosses the
 * wire in a fraction of its size, and arrives whole. */
static void test_compression_shrinks_the_wire(void **state)
{
    (void)state;
    static char data[8192];
    size_t n = (size_t)snprintf(data, sizeof(data), "{\"rows\":[");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(data + n, sizeof(data) - n, "%s{\"user\":\"u%03d\",\"online\":true}",
                              i ? "," : "", i);
    snprintf(data + n, sizeof(data) - n, "]}");
    for (enum lib l = PY; l <= NODE; l++) {
        if (skip_unless(l))
            continue;
        long rx[2];
        for (int deflate = 0; deflate < 2; deflate++) {
            char topic[32], query[64];
            snprintf(topic, sizeof(topic), "big%d%d", l, deflate);
            snprintf(query, sizeof(query), "?topic=%s", topic);
            static const char *const steps[] = {"barrier", "say:ready", "expect:\"u099\"", NULL};
            client_start(&cl[l], l, deflate, ws_url(query), steps);
            check_negotiated(&cl[l], deflate);
            client_wait(&cl[l], "ready", NULL, 0);
            publish(srv.port, topic, data);
            client_end(&cl[l]);
            rx[deflate] = rx_bytes(&cl[l]);
        }
        print_message("%s: %zu-byte message, %ld bytes received without deflate, %ld with\n",
                      lib_name[l], strlen(data), rx[0], rx[1]);
        assert_true(rx[0] > (long)strlen(data));
        assert_true(rx[1] * 4 < rx[0]);
    }
}

/* ---- Our client against node's ws server ------------------------------- */

struct node_server {
    struct tu_proc proc;
    int port;
};

static struct node_server ns;

static void node_server_start(const char *deflate, const char *ring)
{
    static char script[4200];
    snprintf(script, sizeof(script), "%s/ws_server.js", peers);
    char *argv[] = {"node",          script,   "--port",     "0", "--deflate",
                    (char *)deflate, "--ring", (char *)ring, NULL};
    assert_int_equal(tu_proc_start(&ns.proc, argv), 0);
    char line[256];
    if (!tu_proc_line(&ns.proc, line, sizeof(line), tu_ms(10000)))
        fail_msg("ws_server.js did not start: %s", ns.proc.err);
    const char *colon = strrchr(line, ':');
    assert_non_null(colon);
    ns.port = atoi(colon + 1);
    assert_true(ns.port > 0);
}

static void node_server_stop(void)
{
    assert_int_equal(tu_proc_stop(&ns.proc, SIGTERM, tu_ms(5000)), 0);
}

/* `rtlab client ws` (offers deflate unless --no-deflate): replay, live
 * messages from HTTP and from a ws client, in order, and compression agreed
 * as the server was told. */
static void test_our_client_against_node_server(void **state)
{
    (void)state;
    if (skip_unless(NODE))
        skip();
    static const char *const modes[] = {"off", "shared", "context"};
    for (int m = 0; m < 3; m++)
        for (int offer = 0; offer < 2; offer++) {
            node_server_start(modes[m], "1024");
            publish(ns.port, "t", "{\"n\":1}");
            publish(ns.port, "t",
                    "{\"n\":2,\"text\":\"long enough to be compressed by the server\"}");
            char url[64];
            snprintf(url, sizeof(url), "ws://127.0.0.1:%d", ns.port);
            char *argv[] = {
                (char *)rtlab, "client", "ws",      "--url", url,
                "--topic",     "t",      "--count", "4",     offer ? NULL : "--no-deflate",
                NULL};
            static struct tu_proc c;
            assert_int_equal(tu_proc_start(&c, argv), 0);
            char line[1024];
            assert_true(tu_proc_line(&c, line, sizeof(line), tu_ms(10000)));
            assert_non_null(strstr(line, "\"id\":1,"));
            assert_true(tu_proc_line(&c, line, sizeof(line), tu_ms(10000)));
            assert_non_null(strstr(line, "\"id\":2,"));
            /* Replayed, so subscribed: live messages now, one each way. */
            publish(ns.port, "t", "{\"n\":3}");
            char wsurl[64], pub[160];
            snprintf(wsurl, sizeof(wsurl), "ws://127.0.0.1:%d/ws", ns.port);
            snprintf(pub, sizeof(pub),
                     "send:{\"type\":\"publish\",\"topic\":\"t\",\"data\":{\"n\":4,\"text\":"
                     "\"%080d\"}}",
                     4);
            const char *const steps[] = {pub, "barrier", NULL};
            client_start(&cl[0], NODE, false, wsurl, steps); /* not counted below */
            client_end(&cl[0]);
            for (int i = 3; i <= 4; i++) {
                char want[32];
                snprintf(want, sizeof(want), "\"id\":%d,", i);
                if (!tu_proc_line(&c, line, sizeof(line), tu_ms(10000)))
                    fail_msg("message %d never came; stderr: %s", i, c.err);
                assert_non_null(strstr(line, want));
            }
            assert_int_equal(tu_proc_stop(&c, 0, tu_ms(10000)), 0);
            long deflated = tu_metric(ns.port, "ws", "deflate");
            print_message("node ws --deflate %s, rtlab client %s: %ld of 2 connections "
                          "compressed\n",
                          modes[m], offer ? "offering deflate" : "--no-deflate", deflated);
            assert_int_equal(deflated, m > 0 && offer ? 1 : 0);
            node_server_stop();
        }
}

/* A resume point the node server no longer has: the client hears a reset
 * and goes on from where the log starts. */
static void test_our_client_reset_by_node_server(void **state)
{
    (void)state;
    if (skip_unless(NODE))
        skip();
    node_server_start("shared", "2");
    for (int i = 1; i <= 5; i++)
        publish(ns.port, "r", "{\"x\":1}");
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d", ns.port);
    char *argv[] = {(char *)rtlab, "client",  "ws", "--url",   url, "--topic",
                    "r",           "--since", "1",  "--count", "2", NULL};
    static struct tu_proc c;
    assert_int_equal(tu_proc_start(&c, argv), 0);
    char line[1024];
    assert_true(tu_proc_line(&c, line, sizeof(line), tu_ms(10000)));
    assert_non_null(strstr(line, "\"id\":4,"));
    assert_true(tu_proc_line(&c, line, sizeof(line), tu_ms(10000)));
    assert_non_null(strstr(line, "\"id\":5,"));
    assert_int_equal(tu_proc_stop(&c, 0, tu_ms(10000)), 0);
    assert_non_null(strstr(c.err, "reset"));
    node_server_stop();
}

/* Connections cut under the client: it resumes with since and loses
 * nothing, against someone else's server too. */
static void test_our_client_resumes_against_node_server(void **state)
{
    (void)state;
    if (skip_unless(NODE))
        skip();
    node_server_start("shared", "1024");
    const char *why = tu_resume_without_loss(rtlab, ns.port, "ws", 40, 2);
    if (why != NULL)
        fail_msg("%s", why);
    node_server_stop();
}

/* The load generator against the node server: what the benchmark runs. */
static void test_our_load_against_node_server(void **state)
{
    (void)state;
    if (skip_unless(NODE))
        skip();
    for (int deflate = 0; deflate < 2; deflate++) {
        node_server_start(deflate ? "shared" : "off", "1024");
        char url[64], out[8192];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ns.port);
        char *argv[] = {(char *)rtlab,
                        "load",
                        "ws",
                        "--url",
                        url,
                        "--clients",
                        "50",
                        "--rate",
                        "10",
                        "--duration",
                        "1",
                        "--json",
                        deflate ? NULL : "--no-deflate",
                        NULL};
        assert_int_equal(tu_run(argv, out, sizeof(out), tu_ms(60000)), 0);
        const char *d = strstr(out, "\"delivered\":"), *e = strstr(out, "\"expected\":");
        assert_non_null(d);
        assert_non_null(e);
        print_message("load ws against node ws (deflate %s): delivered %ld of %ld\n",
                      deflate ? "shared" : "off", atol(d + 12), atol(e + 11));
        assert_true(atol(e + 11) > 0);
        assert_int_equal(atol(d + 12), atol(e + 11));
        node_server_stop();
    }
}

/* ---- Setup: which libraries can run ------------------------------------- */

/* Finds tests/peers and scripts/ from this file's path (CMake compiles it by
 * its absolute path), installs ws for node, and sets NODE_PATH. */
static void find_peers(void)
{
    const char *slash = strrchr(__FILE__, '/');
    int dir = slash != NULL ? (int)(slash - __FILE__) : 1;
    const char *base = slash != NULL ? __FILE__ : ".";
    snprintf(peers, sizeof(peers), "%.*s/peers", dir, base);
    snprintf(scripts, sizeof(scripts), "%.*s/../scripts", dir, base);

    char out[4096];
    char *py[] = {PYTHON, "-c", "import websockets", NULL};
    have[PY] = access(PYTHON, X_OK) == 0 && tu_run(py, out, sizeof(out), tu_ms(10000)) == 0;
    if (!have[PY])
        fprintf(stderr,
                "test_ws_interop: no %s with websockets (scripts/deps.sh installs "
                "python3-websockets): its cases are skipped\n",
                PYTHON);

    /* ws goes beside the binary under test: BUILD_DIR/peers/node_modules. */
    char deps[4200], into[4200];
    const char *bslash = strrchr(rtlab, '/');
    snprintf(deps, sizeof(deps), "%s/peer-deps.sh", scripts);
    snprintf(into, sizeof(into), "%.*s/peers", bslash ? (int)(bslash - rtlab) : 1,
             bslash ? rtlab : ".");
    char *npm[] = {"bash", deps, into, NULL};
    static struct tu_proc p;
    char line[4096];
    if (tu_proc_start(&p, npm) == 0 && p.pid > 0) {
        have[NODE] = tu_proc_line(&p, line, sizeof(line), tu_ms(300000));
        have[NODE] = tu_proc_stop(&p, have[NODE] ? 0 : SIGKILL, tu_ms(10000)) == 0 && have[NODE];
    }
    if (have[NODE])
        setenv("NODE_PATH", line, 1);
    else
        fprintf(stderr,
                "%stest_ws_interop: node's ws could not be installed: its cases are "
                "skipped\n",
                p.err);
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
    find_peers();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_publish_reaches_both, server_up, server_down),
        cmocka_unit_test_setup_teardown(test_ws_publish_reaches_the_other, server_up, server_down),
        cmocka_unit_test_setup_teardown(test_signal_reaches_others_and_is_never_logged, server_up,
                                        server_down),
        cmocka_unit_test_setup_teardown(test_ping_frame_gets_pong, server_up, server_down),
        cmocka_unit_test_setup_teardown(test_compression_shrinks_the_wire, server_up, server_down),
        cmocka_unit_test(test_our_client_against_node_server),
        cmocka_unit_test(test_our_client_reset_by_node_server),
        cmocka_unit_test(test_our_client_resumes_against_node_server),
        cmocka_unit_test(test_our_load_against_node_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
