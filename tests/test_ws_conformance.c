/*
 * test_ws_conformance.c - `rtlab serve ws` through the cases of the Autobahn
 * TestSuite, over raw sockets.
 *
 * Usage: test_ws_conformance PATH_TO_RTLAB
 *
 * Autobahn (crossbario/autobahn-testsuite) is the usual conformance check
 * for WebSocket servers. Its cases expect an echo server; ours publishes and
 * subscribes, so the echo goes through our own protocol: a connection
 * subscribes to a topic of its own (a {"type":"ping"} answered by
 * {"type":"pong"} says the subscription is live), then a text frame
 * {"type":"publish","topic":T,"data":"..."} must come back as the message
 * object whose data is exactly the bytes we sent. That checks reassembly,
 * UTF-8 and sizes end to end. Frames that are good WebSocket but not our
 * protocol (binary frames, text that is not JSON) must get
 * {"type":"error",...} and leave the connection open.
 *
 * Categories keep Autobahn's numbers: 1 framing, 2 ping/pong, 3 reserved
 * bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 closing, 9 large messages and
 * limits, 12/13 permessage-deflate (RFC 7692). Where our server differs from
 * an echo server the case is adapted and says so; Autobahn's message sizes
 * past our 1 MiB default limit run on a server started with a 16 MiB one
 * (9.10). Cases numbered past Autobahn's in a category (1.3, 2.12, 5.21 on,
 * 7.1.7, 7.14, 9.9, 9.10, 12.4 on, 13.9 on) are our own. Each case prints
 * one line; each category is one cmocka test that fails when any of its
 * cases failed; a summary comes last.
 *
 * The client side is written here: each frame gets proto's header encoder,
 * then whatever first byte (FIN, RSV bits, opcode) a case wants, a fresh
 * mask, and goes out whole or in chops.
 * What the server sends is read with proto's frame decoder in client mode,
 * so its framing is checked on every read, and what it compresses is
 * inflated here with zlib under the negotiated window. To check the window
 * itself a message is inflated one output byte per call: zlib checks a
 * back-reference against the window only when it reaches past the output of
 * the current call.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "rt_proto.h"
#include "testutil.h"

/* ======================================================================== */
/* Servers, cases and their report                                          */
/* ======================================================================== */

static const char *rtlab;
static struct tu_server srv;       /* defaults: --deflate shared, --max-message 1 MiB */
static struct tu_server srv_ctx;   /* --deflate context */
static struct tu_server srv_small; /* --deflate off --max-message 65536 */

static int cases_run, cases_failed, category_failed;
static char failed_ids[4096]; /* "1.1.2 6.5.3 ..." for the summary */
static char why[1024];        /* what the failing check saw */

/* Records why a check failed; returns false so checks read `return flunk(..)`. */
static bool flunk(const char *fmt, ...)
{
    if (why[0] != '\0') /* keep the first reason: it is the cause */
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return false;
}

/* Puts context in front of the recorded reason ("split at 3: ..."). */
static void why_prefix(const char *fmt, ...)
{
    char pre[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    size_t n = strlen(pre) + 2;
    memmove(why + n, why, sizeof(why) - n - 1);
    why[sizeof(why) - 1] = '\0';
    memcpy(why, pre, n - 2);
    memcpy(why + n - 2, ": ", 2);
}

/* Forgets a failure that was expected: a send to a server that had
 * already closed the connection, in a case that made it close. */
static void forgive(void)
{
    why[0] = '\0';
}

/* True when the process has exited (a zombie we have not reaped yet: the
 * reaping is tu_server_stop's). */
static bool exited(pid_t pid)
{
    char path[64], stat[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ..." */
    return paren == NULL || paren[1] == '\0' || paren[2] == 'Z';
}

/* After a failure: a server that died explains every case after it, so say
 * so once, with what it printed. */
static void check_servers(void)
{
    static bool told[3];
    struct tu_server *all[3] = {&srv, &srv_ctx, &srv_small};
    static const char *const names[3] = {"default", "--deflate context", "--deflate off"};
    for (int i = 0; i < 3; i++) {
        if (told[i] || all[i]->proc.pid <= 0 || !exited(all[i]->proc.pid))
            continue;
        told[i] = true;
        tu_proc_wait_stderr(&all[i]->proc, "\n\n\n", 200); /* collects its last words */
        printf("*** the %s server (pid %d) has exited; its stderr:\n%s\n", names[i],
               (int)all[i]->proc.pid, all[i]->proc.err);
    }
}

/* Prints a case's line and counts it. */
static void report(const char *id, const char *what, bool ok)
{
    cases_run++;
    if (ok) {
        printf("case %-8s %s ... ok\n", id, what);
    } else {
        cases_failed++;
        category_failed++;
        printf("case %-8s %s ... FAIL: %s\n", id, what, why[0] ? why : "(no reason)");
        size_t n = strlen(failed_ids);
        snprintf(failed_ids + n, sizeof(failed_ids) - n, "%s%s", n ? " " : "", id);
        check_servers();
    }
    fflush(stdout);
    why[0] = '\0';
}

/* Ends a category's cmocka test: it fails when any of its cases did. */
static void category_done(void)
{
    if (category_failed > 0)
        fail_msg("%d case(s) failed", category_failed);
}

/* Seeded, so a failing case sends the same bytes next time. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static const uint8_t *find_bytes(const uint8_t *h, size_t h_len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= h_len && i <= h_len - n; i++)
        if (h[i] == (uint8_t)needle[0] && memcmp(h + i, needle, n) == 0)
            return h + i;
    return NULL;
}

static bool json_space(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* Where the value of "key" starts in the JSON object text m[0..len), past
 * the colon and any whitespace, or NULL. Enough for the server's flat
 * objects, whose strings never hold our keys in quotes. */
static const uint8_t *json_value(const uint8_t *m, size_t len, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "\"%s\"", key);
    const uint8_t *end = m + len, *p = m;
    while ((p = find_bytes(p, (size_t)(end - p), needle)) != NULL) {
        p += strlen(needle);
        while (p < end && json_space(*p))
            p++;
        if (p < end && *p == ':') {
            for (p++; p < end && json_space(*p);)
                p++;
            return p;
        }
    }
    return NULL;
}

/* True when the value of "key" in m is exactly value[0..n) (JSON text). */
static bool json_is(const uint8_t *m, size_t len, const char *key, const char *value, size_t n)
{
    const uint8_t *v = json_value(m, len, key), *end = m + len;
    if (v == NULL || (size_t)(end - v) <= n || memcmp(v, value, n) != 0)
        return false;
    for (v += n; v < end && json_space(*v);)
        v++;
    return v < end && (*v == ',' || *v == '}');
}

/* Fills s[0..n) with JSON-safe text: kind 0 repeats a short phrase, 1 draws
 * words from a small vocabulary, 2 is random base64 characters (deflate
 * gains little on it). */
static void fill_text(char *s, size_t n, int kind)
{
    static const char *const words[] = {"push ",  "poll ",   "stream ", "socket ",
                                        "frame ", "server ", "client ", "event "};
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    while (i < n) {
        const char *w = kind == 0 ? "real-time " : kind == 1 ? words[rnd() % 8] : NULL;
        if (w == NULL) {
            s[i++] = b64[rnd() % 64];
            continue;
        }
        for (; *w != '\0' && i < n; w++)
            s[i++] = *w;
    }
}

/* ======================================================================== */
/* A raw WebSocket client                                                   */
/* ======================================================================== */

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10
#define OP_TEXT RT_WS_TEXT
#define OP_BIN RT_WS_BINARY
#define OP_CONT RT_WS_CONT
#define OP_CLOSE RT_WS_CLOSE
#define OP_PING RT_WS_PING
#define OP_PONG RT_WS_PONG

#define CLIENT_MAX_IN (64u << 20) /* what our decoder accepts from the server */
#define INFLATE_CAP (8u << 20)    /* the largest message we inflate */

struct wsc {
    int fd;
    char topic[16]; /* this connection's own topic, once subscribed */
    struct rt_ws_decoder dec;
    uint8_t rbuf[65536]; /* bytes read, rpos..rlen not yet decoded */
    size_t rpos, rlen;
    bool eof;
    uint8_t *msg; /* the data message being assembled */
    size_t msg_len, msg_cap;
    uint8_t msg_op;
    bool msg_rsv1;
    size_t wire_len; /* payload bytes of the last data message as sent */
    uint8_t ctl[RT_WS_CONTROL_MAX];
    size_t ctl_len;
    uint8_t *out; /* frames queued by qf(), sent by flush() */
    size_t out_len, out_cap;
    /* permessage-deflate, when the server accepted it */
    bool deflate;
    char ext[256]; /* the server's Sec-WebSocket-Extensions value */
    struct rt_wsd_params params;
    struct rt_wsd wsd; /* our deflater (proto's, client side) */
    z_stream inf;      /* our inflater for the server's messages */
    bool inf_ready;
    bool strict;   /* inflate one byte per call: checks the window */
    uint8_t *infl; /* the inflated message */
};

/* A whole message or control frame as received. */
struct wmsg {
    uint8_t op;
    bool rsv1;
    const uint8_t *data;
    size_t len;
};

static void ws_free(struct wsc *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    if (c->inf_ready)
        inflateEnd(&c->inf);
    rt_wsd_close(&c->wsd);
    free(c->msg);
    free(c->out);
    free(c->infl);
    free(c);
}

/* Queues one client frame: b0 is its first byte as it goes on the wire (FIN,
 * RSV bits, opcode: anything a case wants), the payload is masked with a
 * fresh key. */
static void qf(struct wsc *c, uint8_t b0, const void *payload, size_t len)
{
    if (c->out_len + len + RT_WS_HEADER_MAX > c->out_cap) {
        c->out_cap = (c->out_len + len + RT_WS_HEADER_MAX) * 2;
        c->out = realloc(c->out, c->out_cap);
        assert_non_null(c->out);
    }
    struct rt_ws_frame f = {.fin = true, .masked = true, .len = len};
    for (int i = 0; i < 4; i++)
        f.mask[i] = (uint8_t)rnd();
    uint8_t *p = c->out + c->out_len;
    int h = rt_ws_frame_header(p, RT_WS_HEADER_MAX, &f);
    assert_true(h > 0);
    p[0] = b0;
    if (len > 0)
        memcpy(p + h, payload, len);
    rt_ws_mask(p + h, len, f.mask, 0);
    c->out_len += (size_t)h + len;
}

/* A short pause between chops, so the server reads them apart: there is no
 * event that says it has read a piece, and loopback may merge pieces sent
 * back to back. Only used for byte-sized chops (a few hundred at most). */
static void chop_pause(void)
{
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
}

/* Sends the queued frames, in pieces of chop bytes (0: all at once). A
 * send to a peer that has closed fails; the cases that expect that ignore
 * the result. */
static bool flush(struct wsc *c, size_t chop)
{
    bool ok = true;
    size_t step = chop ? chop : c->out_len;
    for (size_t off = 0; off < c->out_len && ok; off += step) {
        size_t n = c->out_len - off < step ? c->out_len - off : step;
        ok = tu_send(c->fd, (const char *)c->out + off, n);
        if (chop > 0 && chop <= 16 && off + n < c->out_len)
            chop_pause();
    }
    c->out_len = 0;
    return ok ? true : flunk("send failed: the server closed the connection");
}

static bool sendf(struct wsc *c, uint8_t b0, const void *payload, size_t len)
{
    qf(c, b0, payload, len);
    return flush(c, 0);
}

static bool send_text(struct wsc *c, const char *s)
{
    return sendf(c, FIN | OP_TEXT, s, strlen(s));
}

#define NO_CODE (-1)

/* A close frame with code (NO_CODE: an empty payload) and reason. */
static void q_close(struct wsc *c, int code, const char *reason, size_t reason_len)
{
    uint8_t p[2 + 200];
    size_t n = 0;
    if (code != NO_CODE) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        if (reason_len > 0)
            memcpy(p + 2, reason, reason_len);
        n = 2 + reason_len;
    }
    qf(c, FIN | OP_CLOSE, p, n);
}

/* Compresses s for one message (RSV1 on its first frame) with our deflater. */
static uint8_t *compress_msg(struct wsc *c, const void *s, size_t len, size_t *out_len)
{
    size_t cap = rt_wsd_compress_bound(len);
    uint8_t *z = malloc(cap);
    assert_non_null(z);
    int64_t n = rt_wsd_compress(&c->wsd, s, len, z, cap);
    assert_true(n >= 0);
    *out_len = (size_t)n;
    return z;
}

/* Sends one data message with opcode op in fragments of frag bytes (0: one
 * frame), compressed when asked to (the fragments are then of the
 * compressed bytes), in chops of chop bytes. */
static bool send_msg(struct wsc *c, uint8_t op, const void *s, size_t len, size_t frag, size_t chop,
                     bool compress)
{
    uint8_t *z = NULL;
    const uint8_t *p = s;
    if (compress) {
        z = compress_msg(c, s, len, &len);
        p = z;
    }
    if (frag == 0 || frag >= len) {
        qf(c, (uint8_t)(FIN | (compress ? RSV1 : 0) | op), p, len);
    } else {
        for (size_t off = 0; off < len; off += frag) {
            size_t n = len - off < frag ? len - off : frag;
            uint8_t b0 = off == 0 ? (uint8_t)(op | (compress ? RSV1 : 0)) : OP_CONT;
            qf(c, (uint8_t)(b0 | (off + n == len ? FIN : 0)), p + off, n);
        }
    }
    free(z);
    return flush(c, chop);
}

/* ---- Reading ---- */

static void msg_append(struct wsc *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (c->msg_len + n > c->msg_cap) {
        c->msg_cap = (c->msg_len + n) * 2;
        c->msg = realloc(c->msg, c->msg_cap);
        assert_non_null(c->msg);
    }
    memcpy(c->msg + c->msg_len, p, n);
    c->msg_len += n;
}

/* Inflates a compressed message from the server into c->infl under the
 * negotiated window, freshly when the server takes no context over. */
static int64_t inflate_msg(struct wsc *c, const uint8_t *in, size_t len)
{
    z_stream *z = &c->inf;
    if (!c->inf_ready) {
        memset(z, 0, sizeof(*z));
        assert_int_equal(inflateInit2(z, -(int)c->params.server_max_window_bits), Z_OK);
        c->inf_ready = true;
        if (c->infl == NULL)
            c->infl = malloc(INFLATE_CAP);
    } else if (c->params.server_no_context_takeover) {
        inflateReset(z);
    }
    uint8_t *buf = malloc(len + 4);
    if (len > 0)
        memcpy(buf, in, len);
    memcpy(buf + len, "\x00\x00\xff\xff", 4); /* RFC 7692 section 7.2.2 */
    z->next_in = buf;
    z->avail_in = (uInt)(len + 4);
    size_t total = 0;
    int64_t result = 0;
    for (;;) {
        size_t room = INFLATE_CAP - total, step = c->strict ? 1 : room;
        if (room == 0) {
            result = flunk("inflated message over %u bytes", INFLATE_CAP);
            break;
        }
        z->next_out = c->infl + total;
        z->avail_out = (uInt)step;
        int r = inflate(z, Z_SYNC_FLUSH);
        total += step - z->avail_out;
        if (r == Z_STREAM_END) { /* BFINAL: the rest is our 00 00 ff ff */
            inflateReset(z);
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            result = flunk("server's compressed message does not inflate with %d window bits: %s",
                           c->params.server_max_window_bits, z->msg ? z->msg : "?");
            break;
        }
        if (z->avail_in == 0 && z->avail_out > 0)
            break;
        if (r == Z_BUF_ERROR && z->avail_out == step)
            break;
    }
    free(buf);
    return result < 0 ? -1 : (int64_t)total;
}

static int finish_data(struct wsc *c, struct wmsg *m)
{
    *m = (struct wmsg){c->msg_op, c->msg_rsv1, c->msg, c->msg_len};
    c->wire_len = c->msg_len;
    if (c->msg_rsv1) {
        int64_t n = inflate_msg(c, c->msg, c->msg_len);
        if (n < 0)
            return -1;
        m->data = c->infl;
        m->len = (size_t)n;
        struct rt_ws_utf8 u;
        rt_ws_utf8_init(&u);
        if (m->op == OP_TEXT && (rt_ws_utf8_feed(&u, m->data, m->len) < 0 || !rt_ws_utf8_done(&u)))
            return flunk("server sent a compressed text message that is not UTF-8"), -1;
    }
    return 1;
}

/* One decoder event. Returns 1 when it completed a message (*m), 0 to go
 * on, -1 on failure. Pings from the server are answered here. */
static int on_event(struct wsc *c, const struct rt_ws_event *ev, struct wmsg *m)
{
    bool control = ev->frame.opcode >= 8;
    if (ev->kind == RT_WS_EV_HEADER) {
        if (control) {
            c->ctl_len = 0;
        } else if (ev->frame.opcode != OP_CONT) {
            c->msg_len = 0;
            c->msg_op = ev->frame.opcode;
            c->msg_rsv1 = ev->frame.rsv1;
        }
    } else if (control) {
        if (ev->data_len > 0) /* the decoder keeps a control payload <= 125 bytes */
            memcpy(c->ctl + c->ctl_len, ev->data, ev->data_len);
        c->ctl_len += ev->data_len;
    } else {
        msg_append(c, ev->data, ev->data_len);
    }
    if (!ev->message_end)
        return 0;
    if (!control)
        return finish_data(c, m);
    if (ev->frame.opcode == OP_PING) { /* the server's heartbeat */
        qf(c, FIN | OP_PONG, c->ctl, c->ctl_len);
        flush(c, 0);
        return 0;
    }
    *m = (struct wmsg){ev->frame.opcode, false, c->ctl, c->ctl_len};
    return 1;
}

/* The next message or control frame within timeout_ms: 1, 0 on timeout, -1
 * when the connection ended (c->eof) or the server's bytes were bad. */
static int ws_recv(struct wsc *c, struct wmsg *m, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        while (c->rpos < c->rlen) {
            struct rt_ws_event ev;
            int64_t n = rt_ws_decode(&c->dec, c->rbuf + c->rpos, c->rlen - c->rpos, &ev);
            if (n == RT_EMORE) {
                c->rpos = c->rlen;
                break;
            }
            if (n < 0)
                return flunk("the server's frames do not decode: %s", rt_strerror((int)n)), -1;
            c->rpos += (size_t)n;
            int r = on_event(c, &ev, m);
            if (r != 0)
                return r;
        }
        int64_t left = end - tu_now_ms();
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0) /* timeout 0: what is there */
            return 0;
        ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
        if (n <= 0) {
            c->eof = true;
            return -1;
        }
        c->rpos = 0;
        c->rlen = (size_t)n;
    }
}

/* ---- Opening ---- */

static int topic_seq;

/* Frames a case wants sent in the same write as the upgrade request, before
 * the 101 comes back (the next ws_open_ext() takes and frees them). */
static uint8_t *behind_request;
static size_t behind_len;

/* Sends the upgrade request for key (with the offer, and whatever frames a
 * case put behind it) and reads the answer's head into head. Returns its
 * status, 0 when none came. */
static int handshake(struct wsc *c, int port, const char *key, const char *offer, char *head,
                     size_t cap)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     port, key, offer ? "Sec-WebSocket-Extensions: " : "", offer ? offer : "",
                     offer ? "\r\n" : "");
    char *both = malloc((size_t)n + behind_len); /* one write: request and what follows */
    memcpy(both, req, (size_t)n);
    if (behind_len > 0)
        memcpy(both + n, behind_request, behind_len);
    bool sent = tu_send(c->fd, both, (size_t)n + behind_len);
    free(both);
    free(behind_request);
    behind_request = NULL;
    behind_len = 0;
    return sent ? tu_recv_response(c->fd, head, cap, tu_ms(5000)) : 0;
}

/* The server's Sec-WebSocket-Extensions answer h (NULL: none) to offer,
 * checked by RFC 7692's client rules for what the offer asked (prefs); sets
 * up compression when one was agreed. */
static bool take_extensions(struct wsc *c, const struct rt_http_header *h, const char *offer,
                            const struct rt_wsd_prefs *prefs)
{
    static const struct rt_wsd_prefs none = {0};
    if (h == NULL)
        return true;
    snprintf(c->ext, sizeof(c->ext), "%.*s", (int)h->value_len, h->value);
    if (offer == NULL)
        return flunk("extension '%s' answers no offer", c->ext);
    if (rt_wsd_client_accept(h->value, h->value_len, prefs ? prefs : &none, &c->params) != 0)
        return flunk("extension answer '%s' breaks RFC 7692 for offer '%s'", c->ext, offer);
    c->deflate = rt_wsd_init(&c->wsd, &c->params, false, -1) == 0;
    return c->deflate || flunk("cannot compress as '%s' asks", c->ext);
}

/* Connects and shakes hands. offer: a Sec-WebSocket-Extensions value or
 * NULL; prefs: what that offer asked for, to check the answer with. */
static struct wsc *ws_open_ext(int port, const char *offer, const struct rt_wsd_prefs *prefs)
{
    struct wsc *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fd = tu_connect(port);
    /* A send never blocks for long, even to a server that stopped reading. */
    struct timeval tv = {tu_ms(10000) / 1000, 0};
    if (c->fd >= 0)
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    uint8_t nonce[16];
    for (int i = 0; i < 16; i++)
        nonce[i] = (uint8_t)rnd();
    char key[RT_WS_KEY_LEN + 1];
    rt_ws_client_key(nonce, key);
    static char head[8192];
    struct rt_http_response resp;
    int status = c->fd < 0 ? 0 : handshake(c, port, key, offer, head, sizeof(head));
    bool ok = c->fd >= 0 || flunk("cannot connect to port %d", port);
    ok = ok && (status == 101 || flunk("handshake answered %d", status));
    ok = ok && (rt_http_response_parse(&resp, head, strlen(head), 0, sizeof(head)) > 0 ||
                flunk("handshake answer does not parse"));
    ok = ok && (rt_ws_client_check(&resp, key, strlen(key)) == 0 ||
                flunk("101 answer fails RFC 6455 section 4.1 checks"));
    ok = ok &&
         take_extensions(
             c, rt_http_header_find(resp.headers, resp.num_headers, "Sec-WebSocket-Extensions"),
             offer, prefs);
    if (!ok) {
        ws_free(c);
        return NULL;
    }
    rt_ws_decoder_init(&c->dec, false, c->deflate, CLIENT_MAX_IN);
    return c;
}

static struct wsc *ws_open(int port)
{
    return ws_open_ext(port, NULL, NULL);
}

/* ---- Expectations ---- */

static void close_describe(const struct wmsg *m, char *out, size_t cap)
{
    uint16_t code;
    const char *reason;
    size_t rlen;
    if (rt_ws_close_parse(m->data, m->len, &code, &reason, &rlen) != 0)
        snprintf(out, cap, "(malformed close payload, %zu bytes)", m->len);
    else
        snprintf(out, cap, "%u '%.*s'", code, (int)rlen, reason);
}

/* A message that must be a text frame holding JSON (all the server ever
 * sends), compressed when long enough. A pong or a Close is a failure. */
static bool text_ok(const struct wsc *c, const struct wmsg *m)
{
    if (m->op == OP_CLOSE) {
        char d[200];
        close_describe(m, d, sizeof(d));
        return flunk("got Close %s where a message was due", d);
    }
    if (m->op == OP_PONG)
        return flunk("unexpected pong (%zu bytes)", m->len);
    if (m->op != OP_TEXT)
        return flunk("server sent a non-text message (opcode %u)", m->op);
    if (!rt_json_valid((const char *)m->data, m->len))
        return flunk("server's text is not JSON: %.*s", (int)(m->len < 100 ? m->len : 100),
                     m->data);
    if (c->deflate && m->len >= 64 && !m->rsv1)
        return flunk("server sent %zu bytes uncompressed (it compresses 64 and up)", m->len);
    return true;
}

/* The next data message, checked by text_ok(). */
static bool next_text(struct wsc *c, struct wmsg *m)
{
    int r = ws_recv(c, m, tu_ms(5000));
    if (r == 0)
        return flunk("no message within %d ms", tu_ms(5000));
    if (r < 0)
        return flunk("connection closed by the server");
    return text_ok(c, m);
}

/* The next message must be {"type":TYPE,...}. */
static bool expect_type(struct wsc *c, const char *type)
{
    struct wmsg m;
    if (!next_text(c, &m))
        return false;
    char want[64];
    int n = snprintf(want, sizeof(want), "\"%s\"", type);
    if (!json_is(m.data, m.len, "type", want, (size_t)n))
        return flunk("want a %s, got %.*s", type, (int)(m.len < 120 ? m.len : 120), m.data);
    return true;
}

/* A protocol round trip: everything sent before it has been handled. */
static bool sync_ping(struct wsc *c)
{
    return send_text(c, "{\"type\":\"ping\"}") && expect_type(c, "pong");
}

/* An error frame, and the connection still answers. */
static bool expect_error(struct wsc *c)
{
    return expect_type(c, "error") && sync_ping(c);
}

static bool expect_pong(struct wsc *c, const void *payload, size_t len)
{
    struct wmsg m;
    int r = ws_recv(c, &m, tu_ms(5000));
    if (r <= 0)
        return flunk(r == 0 ? "no pong within 5 s" : "connection ended before the pong");
    if (m.op != OP_PONG)
        return flunk("want a pong, got opcode %u", m.op);
    if (m.len != len || (len > 0 && memcmp(m.data, payload, len) != 0))
        return flunk("pong payload differs (%zu bytes, want %zu)", m.len, len);
    return true;
}

/* Waits for the server to close TCP; any byte before that is a failure. */
static bool expect_eof(struct wsc *c, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    if (c->rpos < c->rlen)
        return flunk("%zu bytes after the server's Close", c->rlen - c->rpos);
    while (!c->eof) {
        struct pollfd p = {c->fd, POLLIN, 0};
        int64_t left = end - tu_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return flunk("server did not close TCP within %d ms of the closing handshake",
                         timeout_ms);
        uint8_t b[256];
        ssize_t n = recv(c->fd, b, sizeof(b), 0);
        if (n > 0)
            return flunk("%zd bytes after the server's Close", n);
        c->eof = true;
    }
    return true;
}

/*
 * The server's Close with code want (0: an empty Close or 1000), then our
 * answering Close, then the server closes TCP (RFC 6455 section 7.1.1: the
 * server closes first). allow_data: data messages may come first (frames
 * sent together with the one that fails the connection may or may not have
 * been delivered). Pongs before the Close are always a failure: every case
 * that uses this sent its pings after something that ends the connection.
 */
static bool expect_close_ex(struct wsc *c, uint16_t want, bool allow_data)
{
    struct wmsg m;
    for (;;) {
        int r = ws_recv(c, &m, tu_ms(5000));
        if (r == 0)
            return flunk("no Close within %d ms (want %u)", tu_ms(5000), want);
        if (r < 0)
            return flunk("connection ended without a Close (want %u)", want);
        if (m.op == OP_CLOSE)
            break;
        if (m.op == OP_PONG)
            return flunk("pong before the Close (want Close %u)", want);
        if (!allow_data)
            return flunk("message before the Close (want %u): %.*s", want,
                         (int)(m.len < 100 ? m.len : 100), m.data);
    }
    uint16_t code;
    const char *reason;
    size_t rlen;
    int e = rt_ws_close_parse(m.data, m.len, &code, &reason, &rlen);
    if (e != 0)
        return flunk("server's Close payload is invalid (%zu bytes): %s", m.len, rt_strerror(e));
    bool ok = want == 0 ? code == 1000 || code == RT_WS_CLOSE_NO_STATUS : code == want;
    if (!ok)
        return flunk("Close %u '%.*s', want %u", code, (int)rlen, reason, want ? want : 1000);
    q_close(c, code == RT_WS_CLOSE_NO_STATUS ? NO_CODE : code, NULL, 0);
    if (!flush(c, 0))
        forgive(); /* the server may already have closed: that is allowed */
    return expect_eof(c, tu_ms(3000));
}

static bool expect_close(struct wsc *c, uint16_t want)
{
    return expect_close_ex(c, want, false);
}

/* The normal end: our Close 1000, its echo, then the server closes TCP. */
static bool ws_finish(struct wsc *c)
{
    q_close(c, 1000, "bye", 3);
    return flush(c, 0) && expect_close(c, 1000);
}

/* ---- Our protocol over it ---- */

/* Subscribes c to a topic of its own, live once the pong comes. */
static bool subscribe(struct wsc *c)
{
    char s[128];
    snprintf(c->topic, sizeof(c->topic), "t%d", ++topic_seq);
    snprintf(s, sizeof(s), "{\"type\":\"subscribe\",\"topic\":\"%s\"}", c->topic);
    return send_text(c, s) && sync_ping(c);
}

/* Subscribes c to topic, which other connections use too. */
static bool subscribe_to(struct wsc *c, const char *topic)
{
    char s[128];
    snprintf(c->topic, sizeof(c->topic), "%s", topic);
    snprintf(s, sizeof(s), "{\"type\":\"subscribe\",\"topic\":\"%s\"}", c->topic);
    return send_text(c, s) && sync_ping(c);
}

/* Opens and subscribes, or NULL. */
static struct wsc *open_sub(int port)
{
    struct wsc *c = ws_open(port);
    if (c != NULL && !subscribe(c)) {
        ws_free(c);
        return NULL;
    }
    return c;
}

/* The offer every compression case starts from, and what it asks for. */
#define OFFER_DEFAULT "permessage-deflate; client_max_window_bits"
static const struct rt_wsd_prefs prefs_default = {false, false, 15, 15};

/* Opens with an offer and requires it accepted; subscribes. */
static struct wsc *open_deflate(int port, const char *offer, const struct rt_wsd_prefs *prefs)
{
    struct wsc *c = ws_open_ext(port, offer, prefs);
    if (c == NULL)
        return NULL;
    if (!c->deflate || !subscribe(c)) {
        if (!c->deflate)
            flunk("offer '%s' declined", offer);
        ws_free(c);
        return NULL;
    }
    return c;
}

/* A publish to c's topic: json[0..len) is the frame's text; data[0..data_len)
 * (inside json) is the JSON value that must come back. */
struct pub {
    char *json;
    size_t len;
    const char *data;
    size_t data_len;
};

static void pub_free(struct pub *p)
{
    free(p->json);
}

/* Publishes the JSON value value[0..n). */
static struct pub pub_value(const struct wsc *c, const void *value, size_t n)
{
    struct pub p;
    char head[128];
    int h =
        snprintf(head, sizeof(head), "{\"type\":\"publish\",\"topic\":\"%s\",\"data\":", c->topic);
    p.len = (size_t)h + n + 1;
    p.json = malloc(p.len + 1);
    assert_non_null(p.json);
    memcpy(p.json, head, (size_t)h);
    memcpy(p.json + h, value, n);
    p.json[p.len - 1] = '}';
    p.json[p.len] = '\0';
    p.data = p.json + h;
    p.data_len = n;
    return p;
}

/* A publish of a string of n characters of filler text of the given kind. */
static struct pub pub_text(const struct wsc *c, size_t n, int kind)
{
    char *v = malloc(n + 2);
    assert_non_null(v);
    v[0] = v[n + 1] = '"';
    fill_text(v + 1, n, kind);
    struct pub p = pub_value(c, v, n + 2);
    free(v);
    return p;
}

/* A publish whose frame is exactly total bytes (at least 64). */
static struct pub pub_sized(const struct wsc *c, size_t total, int kind)
{
    size_t over = strlen("{\"type\":\"publish\",\"topic\":\"\",\"data\":\"\"}") + strlen(c->topic);
    assert_true(total >= over);
    struct pub p = pub_text(c, total - over, kind);
    assert_int_equal(p.len, total);
    return p;
}

/* The next message must be the message object carrying p's data. */
/* m must be the message object carrying p's data on c's topic. */
static bool echo_ok(const struct wsc *c, const struct wmsg *m, const struct pub *p)
{
    char topic[64];
    int n = snprintf(topic, sizeof(topic), "\"%s\"", c->topic);
    if (!json_is(m->data, m->len, "topic", topic, (size_t)n) ||
        json_value(m->data, m->len, "data") == NULL)
        return flunk("want the message object, got %.*s", (int)(m->len < 120 ? m->len : 120),
                     m->data);
    if (!json_is(m->data, m->len, "data", p->data, p->data_len))
        return flunk("echoed data differs from the %zu bytes published (message %zu bytes)",
                     p->data_len, m->len);
    return true;
}

static bool expect_echo(struct wsc *c, const struct pub *p)
{
    struct wmsg m;
    return next_text(c, &m) && echo_ok(c, &m, p);
}

/* Publishes p as one message (frag/chop as in send_msg) and waits for it. */
static bool round_trip(struct wsc *c, const struct pub *p, size_t frag, size_t chop, bool compress)
{
    return send_msg(c, OP_TEXT, p->json, p->len, frag, chop, compress) && expect_echo(c, p);
}

/* ======================================================================== */
/* 1 Framing                                                                */
/* ======================================================================== */

/* Text of exactly n bytes: a publish, echoed (n = 0 is not JSON: an error). */
static bool text_case(size_t n, size_t chop)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    bool ok;
    if (n == 0) {
        ok = send_msg(c, OP_TEXT, "", 0, 0, chop, false) && expect_error(c);
    } else {
        struct pub p = pub_sized(c, n, 1);
        ok = round_trip(c, &p, 0, chop, false);
        pub_free(&p);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

/* A binary message of n bytes: read whole, answered with an error. */
static bool binary_case(size_t n, size_t frag, size_t chop)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    uint8_t *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd();
    bool ok = send_msg(c, OP_BIN, b, n, frag, chop, false) && expect_error(c) && ws_finish(c);
    free(b);
    ws_free(c);
    return ok;
}

/* Frames right behind the upgrade request, in the same write: the server
 * must keep the bytes that came with the request and handle them once the
 * connection is a WebSocket. (A browser waits for the 101, as RFC 6455
 * section 4.1 asks of clients; a server must not lose bytes all the same.) */
static bool frames_behind_request(void)
{
    struct wsc *q = calloc(1, sizeof(*q)); /* only to build masked frames */
    char topic[16], s[128];
    snprintf(topic, sizeof(topic), "t%d", ++topic_seq);
    snprintf(s, sizeof(s), "{\"type\":\"subscribe\",\"topic\":\"%s\"}", topic);
    qf(q, FIN | OP_TEXT, s, strlen(s));
    qf(q, FIN | OP_TEXT, "{\"type\":\"ping\"}", 15);
    qf(q, FIN | OP_PING, "early", 5);
    behind_request = q->out;
    behind_len = q->out_len;
    q->out = NULL;
    q->fd = -1;
    ws_free(q);
    struct wsc *c = ws_open(srv.port);
    free(behind_request); /* still ours if the connection failed */
    behind_request = NULL;
    behind_len = 0;
    if (c == NULL)
        return false;
    snprintf(c->topic, sizeof(c->topic), "%s", topic);
    struct pub p = pub_sized(c, 200, 1);
    bool ok = expect_type(c, "pong") && expect_pong(c, "early", 5) &&
              round_trip(c, &p, 0, 0, false) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* Raw bytes on an open connection: a frame the helpers would not build. */
static bool raw_frame(const uint8_t *bytes, size_t n, uint16_t want_close)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    bool ok = tu_send(c->fd, (const char *)bytes, n) || flunk("send failed");
    ok = ok && (want_close ? expect_close(c, want_close) : expect_type(c, "pong") && ws_finish(c));
    ws_free(c);
    return ok;
}

static void test_1_framing(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 125, 126, 127, 128, 65535, 65536, 65536};
    char id[16], what[96];
    for (int i = 0; i < 8; i++) {
        size_t chop = i == 7 ? 997 : 0;
        snprintf(id, sizeof(id), "1.1.%d", i + 1);
        snprintf(what, sizeof(what), "text, %zu bytes%s", sizes[i],
                 chop ? ", in chops of 997" : (sizes[i] ? ", echoed" : ", not JSON: error"));
        report(id, what, text_case(sizes[i], chop));
    }
    for (int i = 0; i < 8; i++) {
        size_t chop = i == 7 ? 997 : 0;
        snprintf(id, sizeof(id), "1.2.%d", i + 1);
        snprintf(what, sizeof(what), "binary, %zu bytes%s: error frame", sizes[i],
                 chop ? " in chops of 997" : "");
        report(id, what, binary_case(sizes[i], 0, chop));
    }
    report("1.3.1", "frames in the same write as the upgrade request", frames_behind_request());
    /* {"type":"ping"} with its 15-byte length in the 16-bit and 64-bit forms
     * (allowed: RFC 6455's minimal-length rule binds the sender), mask 0. */
    static const uint8_t len16[] = {0x81, 0xfe, 0,   15,  0,   0,   0,   0,   '{', '"', 't', 'y',
                                    'p',  'e',  '"', ':', '"', 'p', 'i', 'n', 'g', '"', '}'};
    static const uint8_t len64[] = {0x81, 0xff, 0,   0,   0,   0,   0,   0,   0,   15,
                                    0,    0,    0,   0,   '{', '"', 't', 'y', 'p', 'e',
                                    '"',  ':',  '"', 'p', 'i', 'n', 'g', '"', '}'};
    report("1.3.2", "length in a longer form than needed (16-bit): handled",
           raw_frame(len16, sizeof(len16), 0));
    report("1.3.3", "length in a longer form than needed (64-bit): handled",
           raw_frame(len64, sizeof(len64), 0));
    static const uint8_t unmasked[] = {0x81, 15,  '{', '"', 't', 'y', 'p', 'e', '"',
                                       ':',  '"', 'p', 'i', 'n', 'g', '"', '}'};
    report("1.3.4", "unmasked client frame: 1002 (RFC 6455 section 5.1)",
           raw_frame(unmasked, sizeof(unmasked), 1002));
    category_done();
}

/* ======================================================================== */
/* 2 Pings and pongs                                                        */
/* ======================================================================== */

static bool ping_case(const void *payload, size_t len, size_t chop)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    qf(c, FIN | OP_PING, payload, len);
    bool ok = flush(c, chop) && expect_pong(c, payload, len) && ws_finish(c);
    ws_free(c);
    return ok;
}

/* A ping over 125 bytes fails the connection. */
static bool ping_too_long(void)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    uint8_t b[126];
    memset(b, 0xfe, sizeof(b));
    bool ok = sendf(c, FIN | OP_PING, b, sizeof(b)) && expect_close(c, 1002);
    ws_free(c);
    return ok;
}

/* An unsolicited pong is ignored: nothing comes back, the next ping (and a
 * protocol ping) are answered as if it had not been there. */
static bool unsolicited_pong(const char *payload, bool then_ping)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    qf(c, FIN | OP_PONG, payload, strlen(payload));
    if (then_ping)
        qf(c, FIN | OP_PING, "ping payload", 12);
    bool ok = flush(c, 0) && (!then_ping || expect_pong(c, "ping payload", 12)) && sync_ping(c) &&
              ws_finish(c);
    ws_free(c);
    return ok;
}

/* Ten pings sent together: ten pongs with their payloads, in order. */
static bool ten_pings(size_t chop)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    char p[32];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(p, sizeof(p), "payload-%d", i);
        qf(c, FIN | OP_PING, p, (size_t)n);
    }
    bool ok = flush(c, chop);
    for (int i = 0; i < 10 && ok; i++) {
        int n = snprintf(p, sizeof(p), "payload-%d", i);
        ok = expect_pong(c, p, (size_t)n);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

/* Every payload length 0..125 on one connection, each echoed exactly. */
static bool ping_all_lengths(void)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    uint8_t b[125];
    bool ok = true;
    for (size_t n = 0; n <= 125 && ok; n++) {
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)rnd();
        ok = sendf(c, FIN | OP_PING, b, n) && expect_pong(c, b, n);
        if (!ok)
            why_prefix("length %zu", n);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

static void test_2_pings(void **state)
{
    (void)state;
    uint8_t bin[125];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(0xfe - i);
    report("2.1", "ping, no payload: empty pong", ping_case("", 0, 0));
    report("2.2", "ping with a text payload: same pong", ping_case("Hello, world!", 13, 0));
    report("2.3", "ping with a binary payload: same pong", ping_case("\x00\xff\xfe\xfd\xfc", 5, 0));
    report("2.4", "ping, 125-byte binary payload", ping_case(bin, 125, 0));
    report("2.5", "ping, 126 bytes: close 1002", ping_too_long());
    report("2.6", "ping, 125 bytes, in chops of 1", ping_case(bin, 125, 1));
    report("2.7", "unsolicited pong, no payload: ignored", unsolicited_pong("", false));
    report("2.8", "unsolicited pong with payload: ignored",
           unsolicited_pong("unsolicited pong payload", false));
    report("2.9", "unsolicited pong, then ping: one pong", unsolicited_pong("pong", true));
    report("2.10", "10 pings at once: 10 pongs in order", ten_pings(0));
    report("2.11", "10 pings in chops of 1: 10 pongs", ten_pings(1));
    report("2.12", "pings of every length 0..125: identical pongs", ping_all_lengths());
    category_done();
}

/* ======================================================================== */
/* 3 Reserved bits, 4 reserved opcodes                                      */
/* ======================================================================== */

/*
 * A frame (first byte b0, payload) that must fail the connection with 1002.
 * echo_first: publish first and wait for its echo, so the server is known
 * to be past a good message. then_ping: a ping after the bad frame, which
 * must not be answered. chop: how the bad frame and ping are sent.
 */
static bool bad_frame_case(uint8_t b0, const char *payload, bool echo_first, bool then_ping,
                           bool together, size_t chop)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, 100, 0);
    bool ok = true;
    if (echo_first && !together)
        ok = round_trip(c, &p, 0, 0, false);
    else if (together)
        qf(c, FIN | OP_TEXT, p.json, p.len);
    qf(c, b0, payload, strlen(payload));
    if (then_ping)
        qf(c, FIN | OP_PING, "no answer", 9);
    if (!flush(c, chop))
        forgive(); /* the server may close before it has read everything */
    /* Sent together with the bad frame, the publish may or may not come
     * back before the Close: the bus may deliver it after the server has
     * read the next frame. */
    ok = ok && expect_close_ex(c, 1002, together);
    pub_free(&p);
    ws_free(c);
    return ok;
}

static void test_3_reserved_bits(void **state)
{
    (void)state;
    report("3.1", "text with RSV3: close 1002",
           bad_frame_case(FIN | RSV3 | OP_TEXT, "{\"type\":\"ping\"}", false, false, false, 0));
    report("3.2", "echo, text with RSV2, ping: 1002, no pong",
           bad_frame_case(FIN | RSV2 | OP_TEXT, "{\"type\":\"ping\"}", true, true, false, 0));
    report("3.3", "echo + RSV2|RSV3 text + ping at once: 1002",
           bad_frame_case(FIN | RSV2 | RSV3 | OP_TEXT, "{\"type\":\"ping\"}", true, true, true, 0));
    report("3.4", "same with RSV1 (no deflate), in chops of 1",
           bad_frame_case(FIN | RSV1 | OP_TEXT, "{\"type\":\"ping\"}", true, true, true, 1));
    report("3.5", "binary with RSV1|RSV3: close 1002",
           bad_frame_case(FIN | RSV1 | RSV3 | OP_BIN, "\x01\x02", false, false, false, 0));
    report("3.6", "ping with RSV1|RSV2: close 1002, no pong",
           bad_frame_case(FIN | RSV1 | RSV2 | OP_PING, "ping", false, false, false, 0));
    report("3.7", "close with all RSV bits: close 1002",
           bad_frame_case(FIN | RSV1 | RSV2 | RSV3 | OP_CLOSE, "\x03\xe8", false, false, false, 0));
    category_done();
}

static void test_4_opcodes(void **state)
{
    (void)state;
    static const uint8_t ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    char id[16], what[96];
    for (int i = 0; i < 10; i++) {
        int k = i % 5; /* Autobahn's five shapes per group */
        snprintf(id, sizeof(id), "4.%d.%d", i < 5 ? 1 : 2, k + 1);
        snprintf(what, sizeof(what), "reserved opcode %u%s: close 1002", ops[i],
                 k == 0   ? ""
                 : k == 1 ? " with payload"
                          : " after an echo, then ping (no pong)");
        const char *payload = k == 0 ? "" : "reserved payload";
        report(id, what,
               bad_frame_case((uint8_t)(FIN | ops[i]), payload, k >= 2, k >= 2, false, 0));
    }
    category_done();
}

/* ======================================================================== */
/* 5 Fragmentation                                                          */
/* ======================================================================== */

/* Frames queued by the caller must fail the connection with 1002. */
static bool queued_fail_case(struct wsc *c, size_t chop, uint16_t code)
{
    if (!flush(c, chop))
        forgive(); /* the server may close before it has read everything */
    bool ok = expect_close(c, code);
    ws_free(c);
    return ok;
}

/* A fragmented control frame: 1002. */
static bool fragmented_control(uint8_t op)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    qf(c, op, "frag", 4);
    qf(c, FIN | OP_CONT, "ment", 4);
    return queued_fail_case(c, 0, 1002);
}

/*
 * A publish in nfrag fragments. ping_between: a ping after each fragment
 * but the last; each pong must come before the message ends (the server
 * answers control frames in the middle of a message). per_frame: each frame
 * sent by itself (and each pong awaited before the next fragment).
 */
static bool fragmented_publish(size_t total, size_t nfrag, bool ping_between, bool per_frame,
                               size_t chop)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, total, 1);
    size_t frag = (p.len + nfrag - 1) / nfrag;
    bool ok = true;
    for (size_t off = 0, i = 0; off < p.len && ok; off += frag, i++) {
        size_t n = p.len - off < frag ? p.len - off : frag;
        bool last = off + n == p.len;
        qf(c, (uint8_t)((off == 0 ? OP_TEXT : OP_CONT) | (last ? FIN : 0)), p.json + off, n);
        char ping[16];
        int pl = snprintf(ping, sizeof(ping), "p%zu", i);
        if (ping_between && !last)
            qf(c, FIN | OP_PING, ping, (size_t)pl);
        if (per_frame) {
            ok = flush(c, chop) && (!ping_between || last || expect_pong(c, ping, (size_t)pl));
        }
    }
    ok = ok && flush(c, chop);
    for (size_t i = 0; ping_between && !per_frame && ok && i + 1 < nfrag; i++) {
        char ping[16];
        int pl = snprintf(ping, sizeof(ping), "p%zu", i);
        ok = expect_pong(c, ping, (size_t)pl);
    }
    ok = ok && expect_echo(c, &p) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* A continuation with nothing to continue (fin or not), then a good text. */
static bool orphan_continuation(bool fin, bool per_frame, size_t chop)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    qf(c, (uint8_t)((fin ? FIN : 0) | OP_CONT), "fragment1", 9);
    if (per_frame)
        flush(c, chop);
    qf(c, OP_TEXT, "fragment2", 9);
    qf(c, FIN | OP_CONT, "fragment3", 9);
    return queued_fail_case(c, chop, 1002);
}

/* A whole fragmented publish, then stray continuations: echo, then 1002. */
static bool stray_after_message(void)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, 100, 0);
    bool ok = round_trip(c, &p, 50, 0, false);
    qf(c, OP_CONT, "fragment3", 9);
    qf(c, FIN | OP_CONT, "fragment4", 9);
    pub_free(&p);
    if (!ok) {
        ws_free(c);
        return false;
    }
    return queued_fail_case(c, 0, 1002);
}

/* Autobahn 5.16/5.17: twice (continuation, text start, continuation end). */
static bool repeated_bad_sequence(bool first_fin)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    for (int i = 0; i < 2; i++) {
        qf(c, (uint8_t)((first_fin ? FIN : 0) | OP_CONT), "fragment1", 9);
        qf(c, OP_TEXT, "fragment2", 9);
        qf(c, FIN | OP_CONT, "fragment3", 9);
    }
    return queued_fail_case(c, 0, 1002);
}

/* A new data message while one is fragmented: 1002. */
static bool new_message_while_fragmented(uint8_t second_op)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    qf(c, OP_TEXT, "{\"type\":", 8);
    qf(c, (uint8_t)(FIN | second_op), "\"ping\"}", 7);
    return queued_fail_case(c, 0, 1002);
}

/* Many fragments, some of them empty. */
static bool empty_fragments_between(void)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, 300, 1);
    qf(c, OP_TEXT, "", 0);
    for (size_t off = 0; off < p.len; off += 37) {
        size_t n = p.len - off < 37 ? p.len - off : 37;
        qf(c, OP_CONT, p.json + off, n);
        qf(c, OP_CONT, "", 0);
    }
    qf(c, FIN | OP_CONT, "", 0);
    bool ok = flush(c, 0) && expect_echo(c, &p) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* What a random session expects back, in order. */
struct want {
    enum { WANT_ECHO, WANT_PONG, WANT_JSON_PONG } kind;
    struct pub pub;
    uint8_t ping[RT_WS_CONTROL_MAX];
    size_t ping_len;
};

static bool want_ok(struct wsc *c, const struct wmsg *m, const struct want *w)
{
    if (w->kind == WANT_PONG) {
        if (m->op != OP_PONG)
            return flunk("want a pong, got opcode %u", m->op);
        if (m->len != w->ping_len || (m->len > 0 && memcmp(m->data, w->ping, m->len) != 0))
            return flunk("pong payload differs (%zu bytes, want %zu)", m->len, w->ping_len);
        return true;
    }
    if (!text_ok(c, m))
        return false;
    if (w->kind == WANT_ECHO)
        return echo_ok(c, m, &w->pub);
    return json_is(m->data, m->len, "type", "\"pong\"", 6) ||
           flunk("want {\"type\":\"pong\"}, got %.*s", (int)(m->len < 100 ? m->len : 100), m->data);
}

/* Reads what has come (timeout_ms 0) or everything still due, checking it
 * against w[*k..n). */
static bool drain(struct wsc *c, const struct want *w, size_t n, size_t *k, int timeout_ms)
{
    while (*k < n) {
        struct wmsg m;
        int r = ws_recv(c, &m, timeout_ms);
        if (r == 0)
            return timeout_ms == 0 ||
                   flunk("answer %zu of %zu not in %d ms", *k + 1, n, timeout_ms);
        if (r < 0)
            return flunk("connection ended after %zu of %zu answers", *k, n);
        if (!want_ok(c, &m, &w[*k])) {
            why_prefix("answer %zu of %zu", *k + 1, n);
            return false;
        }
        (*k)++;
    }
    return true;
}

/* Queues one publish of random size and framing (compressed at random when
 * agreed), with pings between some fragments; notes what must come back. */
static size_t queue_random_publish(struct wsc *c, struct want *w)
{
    size_t n = 0, zn;
    struct pub p = pub_text(c, 1 + rnd() % 3000, (int)(rnd() % 3));
    bool z = c->deflate && rnd() % 2;
    uint8_t *bytes = z ? compress_msg(c, p.json, p.len, &zn) : (uint8_t *)p.json;
    if (!z)
        zn = p.len;
    size_t frags = 1 + rnd() % 4, frag = (zn + frags - 1) / frags;
    for (size_t off = 0; off < zn; off += frag) {
        size_t k = zn - off < frag ? zn - off : frag;
        bool last = off + k == zn;
        uint8_t b0 = off == 0 ? (uint8_t)(OP_TEXT | (z ? RSV1 : 0)) : OP_CONT;
        qf(c, (uint8_t)(b0 | (last ? FIN : 0)), bytes + off, k);
        if (!last && rnd() % 2) {
            w[n] = (struct want){.kind = WANT_PONG, .ping_len = rnd() % 126};
            for (size_t i = 0; i < w[n].ping_len; i++)
                w[n].ping[i] = (uint8_t)rnd();
            qf(c, FIN | OP_PING, w[n].ping, w[n].ping_len);
            n++;
        }
    }
    if (z)
        free(bytes);
    w[n++] = (struct want){.kind = WANT_ECHO, .pub = p};
    return n;
}

/*
 * A session of random traffic: publishes of random sizes in random
 * fragments (compressed or not, when agreed), pings with random payloads
 * between fragments and between messages, protocol pings, all sent as one
 * stream cut in random chops (1 to 512 bytes) while the answers are read
 * and checked in order. Exercises every way a frame can straddle reads.
 */
static bool random_session(int port, bool deflate, int items)
{
    struct wsc *c = deflate ? open_deflate(port, OFFER_DEFAULT, &prefs_default) : open_sub(port);
    if (c == NULL)
        return false;
    struct want *w = calloc((size_t)items * 4, sizeof(*w));
    size_t n = 0, k = 0;
    for (int i = 0; i < items; i++) {
        uint32_t r = rnd() % 4;
        if (r < 2) {
            n += queue_random_publish(c, w + n);
        } else if (r == 2) {
            w[n] = (struct want){.kind = WANT_PONG, .ping_len = rnd() % 126};
            for (size_t j = 0; j < w[n].ping_len; j++)
                w[n].ping[j] = (uint8_t)rnd();
            qf(c, FIN | OP_PING, w[n].ping, w[n].ping_len);
            n++;
        } else {
            qf(c, FIN | OP_TEXT, "{\"type\":\"ping\"}", 15);
            w[n++] = (struct want){.kind = WANT_JSON_PONG};
        }
    }
    bool ok = true;
    for (size_t off = 0; off < c->out_len && ok;) {
        size_t chop = rnd() % 4 == 0 ? 1 + rnd() % 8 : 1 + rnd() % 512;
        chop = chop < c->out_len - off ? chop : c->out_len - off;
        ok = tu_send(c->fd, (const char *)c->out + off, chop) || flunk("send failed");
        off += chop;
        if (chop <= 8)
            chop_pause();
        ok = ok && drain(c, w, n, &k, 0);
    }
    c->out_len = 0;
    ok = ok && drain(c, w, n, &k, tu_ms(5000)) && ws_finish(c);
    for (size_t i = 0; i < n; i++)
        if (w[i].kind == WANT_ECHO)
            pub_free(&w[i].pub);
    free(w);
    ws_free(c);
    return ok;
}

static void test_5_fragmentation(void **state)
{
    (void)state;
    report("5.1", "ping in 2 fragments: close 1002", fragmented_control(OP_PING));
    report("5.2", "pong in 2 fragments: close 1002", fragmented_control(OP_PONG));
    report("5.3", "text in 2 fragments: echoed", fragmented_publish(200, 2, false, false, 0));
    report("5.4", "text in 2 fragments, in chops of 1",
           fragmented_publish(200, 2, false, false, 1));
    report("5.5", "text in 2 fragments, sent frame by frame",
           fragmented_publish(200, 2, false, true, 0));
    report("5.6", "text in 2 fragments, ping between: pong, echo",
           fragmented_publish(200, 2, true, false, 0));
    report("5.7", "same, in chops of 1", fragmented_publish(200, 2, true, false, 1));
    report("5.8", "same, frame by frame, each pong awaited",
           fragmented_publish(200, 2, true, true, 0));
    report("5.9", "continuation (FIN) with nothing to continue: 1002",
           orphan_continuation(true, false, 0));
    report("5.10", "same, frame by frame", orphan_continuation(true, true, 0));
    report("5.11", "same, in chops of 1", orphan_continuation(true, false, 1));
    report("5.12", "continuation (no FIN) with nothing to continue: 1002",
           orphan_continuation(false, false, 0));
    report("5.13", "same, frame by frame", orphan_continuation(false, true, 0));
    report("5.14", "same, in chops of 1", orphan_continuation(false, false, 1));
    report("5.15", "whole fragmented message, then stray continuations: echo, 1002",
           stray_after_message());
    report("5.16", "twice (continuation, text, continuation FIN): 1002",
           repeated_bad_sequence(false));
    report("5.17", "twice (continuation FIN, text, continuation FIN): 1002",
           repeated_bad_sequence(true));
    report("5.18", "text start, then text (not continuation): 1002",
           new_message_while_fragmented(OP_TEXT));
    report("5.19", "text in 5 fragments, pings between, pongs awaited",
           fragmented_publish(500, 5, true, true, 0));
    report("5.20", "same, in chops of 1", fragmented_publish(500, 5, true, true, 1));
    report("5.21", "text start, then binary: 1002", new_message_while_fragmented(OP_BIN));
    report("5.22", "close in 2 fragments: 1002", fragmented_control(OP_CLOSE));
    report("5.23", "2,000-byte text in 1-byte fragments: echoed",
           fragmented_publish(2000, 2000, false, false, 0));
    report("5.24", "fragments of 37 with empty ones between: echoed", empty_fragments_between());
    report("5.25", "binary in 5 fragments: one error frame", binary_case(1000, 200, 0));
    report("5.26", "64 KiB text in 16 fragments, pings between",
           fragmented_publish(65536, 16, true, false, 0));
    report("5.27", "300 random publishes and pings in random chops, answers in order",
           random_session(srv.port, false, 300));
    category_done();
}

/* ======================================================================== */
/* 6 UTF-8                                                                  */
/* ======================================================================== */

#define KOSME "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

/* A publish of the string "s", in fragments of frag bytes (0: one frame),
 * echoed byte for byte. empty_around: an empty fragment first and last. */
static bool utf8_publish(const char *s, size_t frag, bool empty_around)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    size_t n = strlen(s);
    char *v = malloc(n + 2);
    v[0] = v[n + 1] = '"';
    memcpy(v + 1, s, n);
    struct pub p = pub_value(c, v, n + 2);
    free(v);
    bool ok;
    if (empty_around) {
        qf(c, OP_TEXT, "", 0);
        qf(c, OP_CONT, p.json, p.len);
        qf(c, FIN | OP_CONT, "", 0);
        ok = flush(c, 0) && expect_echo(c, &p);
    } else {
        ok = round_trip(c, &p, frag, 0, false);
    }
    ok = ok && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* A text message of three empty fragments: not JSON, an error frame. */
static bool empty_fragments_only(void)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    qf(c, OP_TEXT, "", 0);
    qf(c, OP_CONT, "", 0);
    qf(c, FIN | OP_CONT, "", 0);
    bool ok = flush(c, 0) && expect_error(c) && ws_finish(c);
    ws_free(c);
    return ok;
}

/* Text that is not UTF-8: 1007, in fragments of frag (0: one frame). */
static bool utf8_bad(const char *s, size_t n, size_t frag, size_t chop)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    if (!send_msg(c, OP_TEXT, s, n, frag, chop, false))
        forgive();
    bool ok = expect_close(c, 1007);
    ws_free(c);
    return ok;
}

/*
 * Fail fast: the first two parts go out one after the other, the last never:
 * the Close 1007 must come without it (RFC 6455 section 8.1: invalid UTF-8
 * fails the connection as soon as it is seen, not at the end of the
 * message). frames: each part is a fragment; otherwise the parts are chops
 * of one frame.
 */
static bool utf8_fail_fast(const char *const parts[3], bool frames)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    size_t len[3], total = 0;
    for (int i = 0; i < 3; i++)
        total += len[i] = strlen(parts[i]);
    if (frames) {
        qf(c, OP_TEXT, parts[0], len[0]);
        qf(c, OP_CONT, parts[1], len[1]);
        flush(c, 0);
    } else {
        char *all = malloc(total);
        memcpy(all, parts[0], len[0]);
        memcpy(all + len[0], parts[1], len[1]);
        memcpy(all + len[0] + len[1], parts[2], len[2]);
        qf(c, FIN | OP_TEXT, all, total);
        free(all);
        size_t head = c->out_len - total; /* the frame header goes with part 0 */
        tu_send(c->fd, (const char *)c->out, head + len[0]);
        chop_pause();
        tu_send(c->fd, (const char *)c->out + head + len[0], len[1]);
        c->out_len = 0;
    }
    bool ok = expect_close(c, 1007);
    ws_free(c);
    return ok;
}

/* The Autobahn 6.5+ sequences, from Markus Kuhn's UTF-8 decoder test. */
struct seq {
    bool valid;
    const char *s;
    size_t n; /* 0: strlen(s) */
};

static char seq_3_1_all[64], seq_3_2[5][65], seq_3_4[64];

static const struct seq seq_groups[][12] = {
    /* 6.5 Some valid UTF-8 sequences */
    {{true, "hello\x24world", 0},
     {true, "hello\xc2\xa2world", 0},
     {true, "hello\xe2\x82\xacworld", 0},
     {true, "hello\xf0\xa4\xad\xa2world", 0},
     {true, KOSME, 0}},
    /* 6.6 All prefixes of kosme: valid where they end on a character */
    {{false, "\xce", 0},
     {true, "\xce\xba", 0},
     {false, "\xce\xba\xe1", 0},
     {false, "\xce\xba\xe1\xbd", 0},
     {true, "\xce\xba\xe1\xbd\xb9", 0},
     {false, "\xce\xba\xe1\xbd\xb9\xcf", 0},
     {true, "\xce\xba\xe1\xbd\xb9\xcf\x83", 0},
     {false, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce", 0},
     {true, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc", 0},
     {false, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce", 0},
     {true, KOSME, 0}},
    /* 6.7 First possible sequence of a certain length */
    {{true, "\x00", 1},
     {true, "\xc2\x80", 0},
     {true, "\xe0\xa0\x80", 0},
     {true, "\xf0\x90\x80\x80", 0}},
    /* 6.8 First possible sequence of length 5/6 (past U+10FFFF) */
    {{false, "\xf8\x88\x80\x80\x80", 0}, {false, "\xfc\x84\x80\x80\x80\x80", 0}},
    /* 6.9 Last possible sequence of a certain length */
    {{true, "\x7f", 0},
     {true, "\xdf\xbf", 0},
     {true, "\xef\xbf\xbf", 0},
     {true, "\xf4\x8f\xbf\xbf", 0}},
    /* 6.10 Last possible sequence of length 4/5/6 (past U+10FFFF) */
    {{false, "\xf7\xbf\xbf\xbf", 0},
     {false, "\xfb\xbf\xbf\xbf\xbf", 0},
     {false, "\xfd\xbf\xbf\xbf\xbf\xbf", 0}},
    /* 6.11 Other boundary conditions */
    {{true, "\xed\x9f\xbf", 0},
     {true, "\xee\x80\x80", 0},
     {true, "\xef\xbf\xbd", 0},
     {true, "\xf4\x8f\xbf\xbf", 0},
     {false, "\xf4\x90\x80\x80", 0}},
    /* 6.12 Unexpected continuation bytes */
    {{false, "\x80", 0},
     {false, "\xbf", 0},
     {false, "\x80\xbf", 0},
     {false, "\x80\xbf\x80", 0},
     {false, "\x80\xbf\x80\xbf", 0},
     {false, "\x80\xbf\x80\xbf\x80", 0},
     {false, "\x80\xbf\x80\xbf\x80\xbf", 0},
     {false, seq_3_1_all, 0}},
    /* 6.13 Lonely start characters, each followed by a space */
    {{false, seq_3_2[0], 0},
     {false, seq_3_2[1], 0},
     {false, seq_3_2[2], 0},
     {false, seq_3_2[3], 0},
     {false, seq_3_2[4], 0}},
    /* 6.14 Sequences with the last continuation byte missing */
    {{false, "\xc0", 0},
     {false, "\xe0\x80", 0},
     {false, "\xf0\x80\x80", 0},
     {false, "\xf8\x80\x80\x80", 0},
     {false, "\xfc\x80\x80\x80\x80", 0},
     {false, "\xdf", 0},
     {false, "\xef\xbf", 0},
     {false, "\xf7\xbf\xbf", 0},
     {false, "\xfb\xbf\xbf\xbf", 0},
     {false, "\xfd\xbf\xbf\xbf\xbf", 0}},
    /* 6.15 Concatenation of incomplete sequences */
    {{false, seq_3_4, 0}},
    /* 6.16 Impossible bytes */
    {{false, "\xfe", 0}, {false, "\xff", 0}, {false, "\xfe\xfe\xff\xff", 0}},
    /* 6.17 Overlong ASCII character */
    {{false, "\xc0\xaf", 0},
     {false, "\xe0\x80\xaf", 0},
     {false, "\xf0\x80\x80\xaf", 0},
     {false, "\xf8\x80\x80\x80\xaf", 0},
     {false, "\xfc\x80\x80\x80\x80\xaf", 0}},
    /* 6.18 Maximum overlong sequences */
    {{false, "\xc1\xbf", 0},
     {false, "\xe0\x9f\xbf", 0},
     {false, "\xf0\x8f\xbf\xbf", 0},
     {false, "\xf8\x87\xbf\xbf\xbf", 0},
     {false, "\xfc\x83\xbf\xbf\xbf\xbf", 0}},
    /* 6.19 Overlong NUL */
    {{false, "\xc0\x80", 0},
     {false, "\xe0\x80\x80", 0},
     {false, "\xf0\x80\x80\x80", 0},
     {false, "\xf8\x80\x80\x80\x80", 0},
     {false, "\xfc\x80\x80\x80\x80\x80", 0}},
    /* 6.20 Single UTF-16 surrogates */
    {{false, "\xed\xa0\x80", 0},
     {false, "\xed\xad\xbf", 0},
     {false, "\xed\xae\x80", 0},
     {false, "\xed\xaf\xbf", 0},
     {false, "\xed\xb0\x80", 0},
     {false, "\xed\xbe\x80", 0},
     {false, "\xed\xbf\xbf", 0}},
    /* 6.21 Paired UTF-16 surrogates */
    {{false, "\xed\xa0\x80\xed\xb0\x80", 0},
     {false, "\xed\xa0\x80\xed\xbf\xbf", 0},
     {false, "\xed\xad\xbf\xed\xb0\x80", 0},
     {false, "\xed\xad\xbf\xed\xbf\xbf", 0},
     {false, "\xed\xae\x80\xed\xb0\x80", 0},
     {false, "\xed\xae\x80\xed\xbf\xbf", 0},
     {false, "\xed\xaf\xbf\xed\xb0\x80", 0},
     {false, "\xed\xaf\xbf\xed\xbf\xbf", 0}},
    /* 6.22 Non-characters (valid UTF-8): filled in by seq_init() */
    {{false, NULL, 0}},
    /* 6.23 Unicode specials */
    {{true, "\xef\xbf\xb9", 0},
     {true, "\xef\xbf\xba", 0},
     {true, "\xef\xbf\xbb", 0},
     {true, "\xef\xbf\xbc", 0},
     {true, "\xef\xbf\xbd", 0},
     {true, "\xef\xbf\xbe", 0},
     {true, "\xef\xbf\xbf", 0}},
};
#define SEQ_GROUPS (sizeof(seq_groups) / sizeof(seq_groups[0]))
#define SEQ_NONCHAR_GROUP 17 /* 6.22 */

/* 6.22: EF BF BE/BF, and F0..F4 xF BF BE/BF up to U+10FFFF, no overlongs. */
static char nonchars[40][5];
static int num_nonchars;

static void seq_init(void)
{
    for (int i = 0; i < 0x3f; i++)
        seq_3_1_all[i] = (char)(0x80 + i);
    static const uint8_t lonely[5][2] = {
        {0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}};
    for (int g = 0; g < 5; g++) {
        int n = 0;
        for (int b = lonely[g][0]; b < lonely[g][1]; b++) {
            seq_3_2[g][n++] = (char)b;
            seq_3_2[g][n++] = ' ';
        }
    }
    strcpy(seq_3_4, "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
                    "\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf");
    strcpy(nonchars[num_nonchars++], "\xef\xbf\xbe");
    strcpy(nonchars[num_nonchars++], "\xef\xbf\xbf");
    static const uint8_t z2[] = {0x8f, 0x9f, 0xaf, 0xbf};
    for (int a = 0xf0; a <= 0xf4; a++)
        for (int b = 0; b < 4; b++)
            for (int e = 0xbe; e <= 0xbf; e++) {
                if ((a == 0xf4 && z2[b] != 0x8f) || (a == 0xf0 && z2[b] == 0x8f))
                    continue; /* past U+10FFFF, or overlong */
                char *s = nonchars[num_nonchars++];
                s[0] = (char)a, s[1] = (char)z2[b], s[2] = (char)0xbf, s[3] = (char)e, s[4] = 0;
            }
}

/* One sequence as a text message: in one frame, then split into two
 * fragments at every byte (k = 0..n). Valid text that is not JSON gets an
 * error frame (all on one connection); invalid text gets 1007 each time,
 * on a connection of its own. A valid sequence without control characters
 * also goes out inside a publish and must come back byte for byte. */
static bool seq_case(const char *s, size_t n, bool valid)
{
    if (!valid) {
        if (!utf8_bad(s, n, 0, 0)) {
            why_prefix("one frame");
            return false;
        }
        for (size_t k = 0; k <= n; k++) {
            struct wsc *c = ws_open(srv.port);
            if (c == NULL)
                return false;
            qf(c, OP_TEXT, s, k);
            qf(c, FIN | OP_CONT, s + k, n - k);
            if (!queued_fail_case(c, 0, 1007)) {
                why_prefix("split at %zu", k);
                return false;
            }
        }
        return true;
    }
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    bool ok = send_msg(c, OP_TEXT, s, n, 0, 0, false) && expect_error(c);
    for (size_t k = 0; k <= n && ok; k++) {
        qf(c, OP_TEXT, s, k);
        qf(c, FIN | OP_CONT, s + k, n - k);
        ok = flush(c, 0) && expect_error(c);
        if (!ok)
            why_prefix("split at %zu", k);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    bool ctl = false;
    for (size_t i = 0; i < n; i++)
        ctl |= (uint8_t)s[i] < 0x20;
    return ok && (ctl || utf8_publish(s, 0, false));
}

static void hex(const char *s, size_t n, char *out, size_t cap)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 4 < cap; i++)
        w += (size_t)snprintf(out + w, cap - w, "%02x", (uint8_t)s[i]);
    if (w + 4 >= cap)
        strcpy(out + cap - 4, "..");
}

static void test_6_utf8(void **state)
{
    (void)state;
    seq_init();
    report("6.1.1", "empty text: not JSON, error frame", text_case(0, 0));
    report("6.1.2", "3 empty fragments: not JSON, error frame", empty_fragments_only());
    report("6.1.3", "empty fragment, publish, empty fragment: echoed",
           utf8_publish("empty around", 0, true));
    static const char hello[] =
        "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
    report("6.2.1", "valid UTF-8 publish, one frame: same bytes back",
           utf8_publish(hello, 0, false));
    report("6.2.2", "same in 2 fragments at a code point boundary", utf8_publish(hello, 41, false));
    report("6.2.3", "same, one byte per fragment", utf8_publish(hello, 1, false));
    report("6.2.4", "kosme, one byte per fragment", utf8_publish(KOSME, 1, false));
    static const char bad[] = KOSME "\xed\xa0\x80"
                                    "edited";
    report("6.3.1", "invalid UTF-8 text, one frame: close 1007",
           utf8_bad(bad, sizeof(bad) - 1, 0, 0));
    report("6.3.2", "same, one byte per fragment: 1007", utf8_bad(bad, sizeof(bad) - 1, 1, 0));
    static const char *const ff1[3] = {KOSME, "\xed\xa0\x80", "edited"};
    static const char *const ff2[3] = {KOSME "\xed", "\xa0\x80", "edited"};
    static const char *const ff4[3] = {KOSME "\xed", "\xa0",
                                       "\x80"
                                       "edited"};
    report("6.4.1", "fail fast: 1007 before the message's last fragment",
           utf8_fail_fast(ff1, true));
    report("6.4.2", "fail fast, bad sequence split over fragments", utf8_fail_fast(ff2, true));
    report("6.4.3", "fail fast inside one frame (chops)", utf8_fail_fast(ff1, false));
    report("6.4.4", "fail fast inside one frame, sequence split over chops",
           utf8_fail_fast(ff4, false));
    char id[16], what[160], h[64];
    for (size_t g = 0; g < SEQ_GROUPS; g++) {
        int count = g == SEQ_NONCHAR_GROUP ? num_nonchars : 12;
        for (int j = 0; j < count; j++) {
            struct seq q =
                g == SEQ_NONCHAR_GROUP ? (struct seq){true, nonchars[j], 0} : seq_groups[g][j];
            if (q.s == NULL)
                break;
            size_t n = q.n ? q.n : strlen(q.s);
            hex(q.s, n, h, sizeof(h));
            snprintf(id, sizeof(id), "6.%zu.%d", g + 5, j + 1);
            snprintf(what, sizeof(what), "%s %s, whole and split at each of %zu points",
                     q.valid ? "valid" : "invalid", h, n + 1);
            report(id, what, seq_case(q.s, n, q.valid));
        }
    }
    category_done();
}

/* ======================================================================== */
/* 7 Closing                                                                */
/* ======================================================================== */

/* After our Close: what we send next is ignored, the Close is echoed. */
static bool after_close(int variant)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, variant == 5 ? 256 * 1024 : 100, 1);
    bool ok = true, allow_data = false;
    switch (variant) {
    case 0: /* 7.1.1: a message, then Close: echo then Close */
        ok = round_trip(c, &p, 0, 0, false);
        q_close(c, 1000, NULL, 0);
        break;
    case 1: /* 7.1.2: two Closes */
        q_close(c, 1000, NULL, 0);
        q_close(c, 1000, NULL, 0);
        break;
    case 2: /* 7.1.3: Close, then ping: no pong */
        q_close(c, 1000, NULL, 0);
        qf(c, FIN | OP_PING, "late", 4);
        break;
    case 3: /* 7.1.4: Close, then a publish: not delivered */
        q_close(c, 1000, NULL, 0);
        qf(c, FIN | OP_TEXT, p.json, p.len);
        break;
    case 4: /* 7.1.5: first fragment, Close, last fragment */
        qf(c, OP_TEXT, p.json, 50);
        q_close(c, 1000, NULL, 0);
        qf(c, FIN | OP_CONT, p.json + 50, p.len - 50);
        break;
    default: /* 7.1.6: 256 KiB publish, Close, ping */
        qf(c, FIN | OP_TEXT, p.json, p.len);
        q_close(c, 1000, NULL, 0);
        qf(c, FIN | OP_PING, "late", 4);
        allow_data = true; /* its echo may come before the Close, or not */
        break;
    }
    ok = ok && flush(c, 0) && expect_close_ex(c, 1000, allow_data);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* Our Close with this payload; the answer must be Close want. */
static bool close_payload(int code, const char *reason, size_t reason_len, size_t raw_len,
                          uint16_t want)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    if (raw_len == 1)
        qf(c, FIN | OP_CLOSE, "\x03", 1);
    else
        q_close(c, code, reason, reason_len);
    bool ok = flush(c, 0) && expect_close(c, want);
    ws_free(c);
    return ok;
}

/* The server fails the connection and we never answer its Close: it must
 * still close TCP (at once, or after waiting for our Close at most
 * RT_WS_CLOSE_TIMEOUT_MS), not hold the connection open. */
static bool close_timeout(void)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    struct wmsg m;
    bool ok = sendf(c, FIN | 0x3, "", 0);
    int r = ok ? ws_recv(c, &m, tu_ms(5000)) : -1;
    ok = ok && (r == 1 && m.op == OP_CLOSE ? true : flunk("no Close for a bad frame"));
    ok = ok && expect_eof(c, RT_WS_CLOSE_TIMEOUT_MS + tu_ms(3000));
    ws_free(c);
    return ok;
}

/* Our Close, then we shut down our sending side at once: the server has
 * read the Close before the end of input, so it still answers it. */
static bool close_then_half_close(void)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    q_close(c, 1000, NULL, 0);
    bool ok = flush(c, 0);
    shutdown(c->fd, SHUT_WR);
    ok = ok && expect_close(c, 1000);
    ws_free(c);
    return ok;
}

/* A server told to stop says goodbye: Close 1001 (going away), then it
 * closes TCP, and exits 0. */
static bool server_going_away(void)
{
    static const char *const args[] = {"ws", "--port", "0", NULL};
    struct tu_server s;
    if (!tu_server_start(&s, rtlab, args))
        return flunk("cannot start a server");
    struct wsc *c = open_sub(s.port);
    int status = tu_server_stop(&s);
    bool ok = c != NULL && expect_close(c, 1001);
    if (ok && status != 0)
        ok = flunk("server exited %d after SIGTERM", status);
    ws_free(c);
    return ok;
}

static void test_7_close(void **state)
{
    (void)state;
    report("7.1.1", "publish, then Close: echo, then Close 1000", after_close(0));
    report("7.1.2", "two Closes: one answer, the second ignored", after_close(1));
    report("7.1.3", "Close, then ping: no pong", after_close(2));
    report("7.1.4", "Close, then publish: not delivered", after_close(3));
    report("7.1.5", "first fragment, Close, last fragment: not delivered", after_close(4));
    report("7.1.6", "256 KiB publish, Close, ping: Close 1000, no pong", after_close(5));
    report("7.1.7", "Close, then our TCP half-close: Close still answered",
           close_then_half_close());
    report("7.3.1", "empty Close: answered (empty or 1000)", close_payload(NO_CODE, NULL, 0, 0, 0));
    report("7.3.2", "1-byte Close payload: 1002", close_payload(NO_CODE, NULL, 0, 1, 1002));
    report("7.3.3", "Close 1000: echoed", close_payload(1000, NULL, 0, 0, 1000));
    report("7.3.4", "Close 1000 with a reason: 1000",
           close_payload(1000, "Hello World!", 12, 0, 1000));
    char reason[124];
    memset(reason, '*', sizeof(reason));
    report("7.3.5", "Close 1000, 123-byte reason (125 bytes): 1000",
           close_payload(1000, reason, 123, 0, 1000));
    report("7.3.6", "Close 1000, 124-byte reason (126 bytes): 1002",
           close_payload(1000, reason, 124, 0, 1002));
    report("7.5.1", "Close with a reason that is not UTF-8: 1007",
           close_payload(1000,
                         KOSME "\xed\xa0\x80"
                               "edited",
                         20, 0, 1007));
    static const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const uint16_t invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999};
    char id[16], what[96];
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        snprintf(id, sizeof(id), "7.7.%zu", i + 1);
        snprintf(what, sizeof(what), "Close %u: echoed", valid[i]);
        report(id, what, close_payload(valid[i], NULL, 0, 0, valid[i]));
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        snprintf(id, sizeof(id), "7.9.%zu", i + 1);
        snprintf(what, sizeof(what), "Close %u (invalid on the wire): 1002", invalid[i]);
        report(id, what, close_payload(invalid[i], NULL, 0, 0, 1002));
    }
    report("7.13.1", "Close 5000: 1002", close_payload(5000, NULL, 0, 0, 1002));
    report("7.13.2", "Close 65535: 1002", close_payload(65535, NULL, 0, 0, 1002));
    report("7.14.1", "server's Close left unanswered: it still closes TCP", close_timeout());
    report("7.14.2", "server stopped (SIGTERM): Close 1001 to its clients", server_going_away());
    category_done();
}

/* ======================================================================== */
/* 9 Large messages and the size limit                                      */
/* ======================================================================== */

/* The default limit is RT_WS_MAX_MESSAGE (1 MiB), where Autobahn goes to
 * 16 MiB: 9.1-9.9 go up to it exactly, then past it; 9.10 runs Autobahn's
 * sizes on a server with a 16 MiB limit. */

static bool big_text_at(int port, size_t total, size_t frag, size_t chop)
{
    struct wsc *c = open_sub(port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, total, 2);
    bool ok = round_trip(c, &p, frag, chop, false) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

static bool big_text(size_t total, size_t frag, size_t chop)
{
    return big_text_at(srv.port, total, frag, chop);
}

/* n round trips of size bytes each on one connection. */
static bool many_round_trips(int n, size_t size)
{
    struct wsc *c = open_sub(srv.port);
    if (c == NULL)
        return false;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        struct pub p = pub_text(c, size, i % 3);
        ok = round_trip(c, &p, 0, 0, false);
        pub_free(&p);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

/* A message over the limit (whole, or by its fragments): 1009. */
static bool too_big(int port, uint8_t op, size_t total, size_t frag)
{
    struct wsc *c = ws_open(port);
    if (c == NULL)
        return false;
    char *b = malloc(total);
    memset(b, 'x', total);
    if (!send_msg(c, op, b, total, frag, 0, false))
        forgive();
    free(b);
    bool ok = expect_close(c, 1009);
    ws_free(c);
    return ok;
}

/* A header announcing len bytes, and no payload at all: the decoder judges
 * the size at the header. */
static bool announced_length(uint64_t len, uint16_t want)
{
    struct wsc *c = ws_open(srv.port);
    if (c == NULL)
        return false;
    uint8_t h[14] = {FIN | OP_TEXT, 0x80 | 127};
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    memcpy(h + 10, "\x11\x22\x33\x44", 4);
    tu_send(c->fd, (const char *)h, sizeof(h));
    bool ok = expect_close(c, want);
    ws_free(c);
    return ok;
}

/* Exactly at the limit of a server started with --max-message 65536. */
static bool at_small_limit(void)
{
    struct wsc *c = open_sub(srv_small.port);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, 65536, 1);
    bool ok = round_trip(c, &p, 1000, 0, false) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* Autobahn's own sizes (4 to 16 MiB) on a server started with
 * --max-message 16777216: single frames, and 4 MiB in fragments of 64
 * bytes to 4 MiB; then one byte over. */
static void beyond_one_mib(void)
{
    static const char *const args[] = {"ws",       "--port",    "0",   "--max-message",
                                       "16777216", "--deflate", "off", NULL};
    struct tu_server big;
    if (!tu_server_start(&big, rtlab, args)) {
        flunk("cannot start a server with --max-message 16777216");
        report("9.10.0", "a server with --max-message 16777216", false);
        return;
    }
    char id[16], what[96];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "9.10.%d", i + 1);
        snprintf(what, sizeof(what), "text of %d MiB in one frame (limit 16 MiB): echoed", 4 << i);
        report(id, what, big_text_at(big.port, (size_t)4 << (20 + i), 0, 0));
    }
    for (int i = 0; i < 9; i++) {
        size_t frag = (size_t)64 << (2 * i);
        snprintf(id, sizeof(id), "9.10.%d", i + 4);
        snprintf(what, sizeof(what), "4 MiB text in fragments of %zu: echoed", frag);
        report(id, what, big_text_at(big.port, 4 << 20, frag, 0));
    }
    report("9.10.13", "16 MiB + 1: 1009", too_big(big.port, OP_TEXT, (16 << 20) + 1, 0));
    int status = tu_server_stop(&big);
    if (status != 0) {
        flunk("the --max-message 16777216 server exited %d: %s", status, big.proc.err);
        report("9.10.14", "that server stops cleanly", false);
    }
}

static void test_9_limits(void **state)
{
    (void)state;
    int64_t t0 = tu_now_ms();
    const size_t mib = 1 << 20;
    static const size_t single[] = {65536, 262144, 1 << 20};
    static const size_t frags[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20};
    static const size_t chops[] = {64, 128, 256, 512, 1024, 2048};
    static const size_t rt_sizes[] = {16, 64, 256, 1024, 4096, 16384};
    char id[16], what[96];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "9.1.%d", i + 1);
        snprintf(what, sizeof(what), "text of %zu KiB in one frame: echoed", single[i] >> 10);
        report(id, what, big_text(single[i], 0, 0));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "9.2.%d", i + 1);
        snprintf(what, sizeof(what), "binary of %zu KiB in one frame: error", single[i] >> 10);
        report(id, what, binary_case(single[i], 0, 0));
    }
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "9.3.%d", i + 1);
        snprintf(what, sizeof(what), "1 MiB text in fragments of %zu: echoed", frags[i]);
        report(id, what, big_text(mib, frags[i], 0));
    }
    for (int i = 0; i < 8; i += 3) {
        snprintf(id, sizeof(id), "9.4.%d", i + 1);
        snprintf(what, sizeof(what), "1 MiB binary in fragments of %zu: error", frags[i]);
        report(id, what, binary_case(mib, frags[i], 0));
    }
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "9.5.%d", i + 1);
        snprintf(what, sizeof(what), "1 MiB text frame in chops of %zu: echoed", chops[i]);
        report(id, what, big_text(mib, 0, chops[i]));
    }
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "9.7.%d", i + 1);
        snprintf(what, sizeof(what), "1,000 round trips of %zu bytes of data", rt_sizes[i]);
        report(id, what, many_round_trips(1000, rt_sizes[i]));
    }
    report("9.9.1", "text of 1 MiB + 1 in one frame: 1009", too_big(srv.port, OP_TEXT, mib + 1, 0));
    report("9.9.2", "text of 1 MiB + 1 in 64 KiB fragments: 1009",
           too_big(srv.port, OP_TEXT, mib + 1, 65536));
    report("9.9.3", "binary of 1 MiB + 1: 1009", too_big(srv.port, OP_BIN, mib + 1, 0));
    report("9.9.4", "header announcing 1 TiB, no payload: 1009",
           announced_length(1ull << 40, 1009));
    report("9.9.5", "64-bit length with the top bit set: 1002",
           announced_length(1ull << 63 | 10, 1002));
    report("9.9.6", "--max-message 65536: a 65536-byte message is echoed", at_small_limit());
    report("9.9.7", "--max-message 65536: 65537 bytes get 1009",
           too_big(srv_small.port, OP_TEXT, 65537, 0));
    beyond_one_mib();
    printf("category 9 took %lld ms\n", (long long)(tu_now_ms() - t0));
    category_done();
}

/* ======================================================================== */
/* 12, 13 permessage-deflate                                                */
/* ======================================================================== */

/* 12.x: n compressed publishes of size bytes each, echoed (the echoes
 * inflated with the negotiated settings). */
static bool deflate_round_trips(int port, int n, size_t size, int kind)
{
    struct wsc *c = open_deflate(port, OFFER_DEFAULT, &prefs_default);
    if (c == NULL)
        return false;
    bool ok = true, shared = port == srv.port;
    if (shared != (strstr(c->ext, "server_no_context_takeover") != NULL))
        ok = flunk("--deflate %s answered '%s'", shared ? "shared" : "context", c->ext);
    if (ok && !shared && strstr(c->ext, "client_no_context_takeover") != NULL)
        ok = flunk("--deflate context asks the client not to keep context: '%s'", c->ext);
    for (int i = 0; i < n && ok; i++) {
        struct pub p = pub_text(c, size, kind);
        ok = round_trip(c, &p, 0, 0, true);
        pub_free(&p);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

/* A parameter named in the server's answer? */
static bool ext_has(const struct wsc *c, const char *param)
{
    return strstr(c->ext, param) != NULL;
}

/*
 * 13.x: one offer. want_smwb: the server_max_window_bits the answer must
 * carry (0: must not carry one). The server's compressed echoes are
 * inflated one byte per call so a back-reference past the window fails;
 * the payload repeats a random block after more than 2^bits bytes, which a
 * deflater with a larger window would point back to.
 */
static bool offer_case(int port, const char *offer, const struct rt_wsd_prefs *prefs, int want_smwb,
                       bool want_snct, bool cmwb_offered)
{
    struct wsc *c = open_deflate(port, offer, prefs);
    if (c == NULL)
        return false;
    bool ok = true;
    if (want_smwb > 0 && c->params.server_max_window_bits > want_smwb)
        ok = flunk("answer '%s' allows the server %d window bits, over the %d offered", c->ext,
                   c->params.server_max_window_bits, want_smwb);
    if (ok && want_smwb > 0 && !ext_has(c, "server_max_window_bits"))
        ok = flunk("answer '%s' accepts server_max_window_bits=%d without naming it (RFC 7692 "
                   "section 7.1.2.1)",
                   c->ext, want_smwb);
    if (ok && want_snct && !ext_has(c, "server_no_context_takeover"))
        ok = flunk("answer '%s' lacks the server_no_context_takeover asked for", c->ext);
    if (ok && !cmwb_offered && ext_has(c, "client_max_window_bits"))
        ok = flunk("answer '%s' names client_max_window_bits, which the offer did not", c->ext);
    c->strict = true;
    int bits = c->params.server_max_window_bits;
    size_t gap = ((size_t)1 << (want_smwb > 0 ? want_smwb : bits)) + 64;
    for (int round = 0; round < 3 && ok; round++) {
        /* block, gap, block again; then a short one; then the same again */
        size_t n = 200 + gap + 200 + 2;
        char *v = malloc(n);
        v[0] = v[n - 1] = '"';
        fill_text(v + 1, 200, 2);
        fill_text(v + 201, gap, 2);
        memcpy(v + 201 + gap, v + 1, 200);
        struct pub p = pub_value(c, v, n);
        struct pub q = pub_sized(c, 80 + (size_t)round * 100, 1);
        ok = round_trip(c, &p, 0, 0, true) && round_trip(c, &q, 0, 0, true) &&
             round_trip(c, &q, 0, 0, round == 1);
        pub_free(&p);
        pub_free(&q);
        free(v);
    }
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

/* One publish reaches three subscribers of a topic that agreed to different
 * things: the default offer, a 2^9 server window, no compression. Each copy
 * must inflate under its own connection's terms (with --deflate shared the
 * server compresses once for those it can and must not send that copy to
 * the one with the smaller window). */
static bool fan_out(int port)
{
    static const struct rt_wsd_prefs p9 = {false, false, 9, 15};
    struct wsc *c[3] = {open_deflate(port, OFFER_DEFAULT, &prefs_default),
                        ws_open_ext(port, "permessage-deflate; server_max_window_bits=9", &p9),
                        ws_open(port)};
    bool ok = c[0] != NULL && c[1] != NULL && c[2] != NULL;
    ok = ok && (c[1]->deflate || flunk("server_max_window_bits=9 declined"));
    for (int i = 1; i < 3 && ok; i++)
        ok = subscribe_to(c[i], c[0]->topic);
    for (int round = 0; round < 3 && ok; round++) {
        size_t gap = 600 + (size_t)round * 1000, n = 100 + gap + 100 + 2;
        char *v = malloc(n);
        v[0] = v[n - 1] = '"';
        fill_text(v + 1, 100, 2);
        fill_text(v + 101, gap, 2);
        memcpy(v + 101 + gap, v + 1, 100);
        struct pub p = pub_value(c[0], v, n);
        free(v);
        c[0]->strict = c[1]->strict = true;
        ok = send_msg(c[0], OP_TEXT, p.json, p.len, 0, 0, round != 1);
        for (int i = 0; i < 3 && ok; i++) {
            ok = expect_echo(c[i], &p);
            if (!ok)
                why_prefix("subscriber %d", i);
        }
        pub_free(&p);
    }
    for (int i = 0; i < 3 && ok; i++)
        ok = ws_finish(c[i]);
    for (int i = 0; i < 3; i++)
        ws_free(c[i]);
    return ok;
}

/* Compresses in[0..n) with z (context kept from earlier calls), the
 * trailing 00 00 ff ff removed. Returns a malloc'd buffer. */
static uint8_t *deflate_more(z_stream *z, const char *in, size_t n, size_t *out_len)
{
    size_t cap = n + 1024;
    uint8_t *out = malloc(cap);
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    assert_int_equal(deflate(z, Z_SYNC_FLUSH), Z_OK);
    *out_len = cap - z->avail_out - 4;
    return out;
}

/* A's message could only inflate with another connection's bytes: it must
 * be refused with 1007, and those bytes must not come back. */
static bool expect_no_leak(struct wsc *a, const char *secret, size_t n)
{
    struct wmsg m;
    int r = ws_recv(a, &m, tu_ms(5000));
    uint16_t code = 0;
    const char *reason;
    size_t rl;
    char needle[600];
    snprintf(needle, sizeof(needle), "%.*s", (int)n, secret);
    if (r == 1 && m.op == OP_TEXT && find_bytes(m.data, m.len, needle) != NULL)
        return flunk("another connection's data came back: the inflater kept its context");
    if (r == 1 && m.op == OP_CLOSE && rt_ws_close_parse(m.data, m.len, &code, &reason, &rl) == 0 &&
        code == 1007)
        return true;
    return flunk("want Close 1007 for a message that cannot inflate; got %s (opcode %u, code %u)",
                 r == 0  ? "nothing"
                 : r < 0 ? "the connection's end"
                         : "a frame",
                 r == 1 ? m.op : 0, code);
}

/*
 * No data crosses connections through the server's inflaters. B publishes
 * a compressed message; A then sends a message compressed as if it
 * followed B's in the same stream: back-references into B's bytes. With
 * --deflate shared one inflater serves every connection (each message
 * inflated afresh); if it kept B's bytes as context, A's message would
 * inflate, B's secret would be published on A's topic and come back to A.
 * It must fail instead (1007: cannot inflate).
 */
static bool no_context_across_connections(int port)
{
    struct wsc *b = open_deflate(port, OFFER_DEFAULT, &prefs_default);
    struct wsc *a = open_deflate(port, OFFER_DEFAULT, &prefs_default);
    bool ok = a != NULL && b != NULL;
    char secret[514];
    fill_text(secret + 1, 512, 2);
    secret[0] = secret[513] = '"';
    struct pub pb = {0}, pa = {0};
    uint8_t *zb = NULL, *za = NULL;
    size_t nb = 0, na = 0;
    if (ok) {
        pb = pub_value(b, secret, sizeof(secret));
        pa = pub_value(a, secret, sizeof(secret));
        z_stream z = {0};
        deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
        zb = deflate_more(&z, pb.json, pb.len, &nb);
        za = deflate_more(&z, pa.json, pa.len, &na); /* leans on B's bytes */
        deflateEnd(&z);
        if (na * 4 > pa.len)
            ok = flunk("test setup: A's message (%zu bytes) does not lean on B's", na);
    }
    if (ok) { /* B's message goes through an inflater first */
        qf(b, FIN | RSV1 | OP_TEXT, zb, nb);
        ok = flush(b, 0) && expect_echo(b, &pb);
    }
    if (ok) {
        qf(a, FIN | RSV1 | OP_TEXT, za, na);
        if (!flush(a, 0))
            forgive();
        ok = expect_no_leak(a, secret, sizeof(secret));
    }
    ok = ok && ws_finish(b);
    pub_free(&pb);
    pub_free(&pa);
    free(zb);
    free(za);
    ws_free(a);
    ws_free(b);
    return ok;
}

/* --deflate context: the server keeps its context (unless asked not to):
 * the same data twice compresses far better the second time. */
static bool context_takeover(bool ask_snct)
{
    static const struct rt_wsd_prefs snct = {true, false, 15, 15};
    const char *offer = ask_snct ? "permessage-deflate; server_no_context_takeover; "
                                   "client_max_window_bits"
                                 : OFFER_DEFAULT;
    struct wsc *c = open_deflate(srv_ctx.port, offer, ask_snct ? &snct : &prefs_default);
    if (c == NULL)
        return false;
    bool ok = true;
    if (ask_snct != ext_has(c, "server_no_context_takeover"))
        ok = flunk("--deflate context answered '%s' to '%s'", c->ext, offer);
    struct pub p = pub_sized(c, 2000, 2);
    size_t first = 0;
    for (int i = 0; i < 3 && ok; i++) {
        ok = round_trip(c, &p, 0, 0, true);
        if (i == 0)
            first = c->wire_len;
    }
    if (ok && !ask_snct && c->wire_len * 3 > first)
        ok = flunk("third copy took %zu compressed bytes, the first %zu: no context kept",
                   c->wire_len, first);
    if (ok && ask_snct && c->wire_len * 3 < first)
        ok =
            flunk("shrank from %zu to %zu bytes: context kept though declined", first, c->wire_len);
    pub_free(&p);
    ok = ok && ws_finish(c);
    ws_free(c);
    return ok;
}

/* Offers the server must decline (it then goes on without compression),
 * or pick the second of. */
static bool offer_declined(const char *offer, bool want_accept)
{
    struct wsc *c = ws_open_ext(srv.port, offer, &prefs_default);
    if (c == NULL)
        return false;
    bool ok = c->deflate == want_accept ||
              flunk("offer '%s' %s ('%s')", offer, c->deflate ? "accepted" : "declined", c->ext);
    ok = ok && subscribe(c);
    struct pub p = pub_sized(c, 300, 1);
    ok = ok && round_trip(c, &p, 0, 0, c->deflate) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* Compressed frames the server must refuse, queued by kind. */
static bool deflate_bad(int kind, uint16_t want)
{
    struct wsc *c = open_deflate(srv.port, OFFER_DEFAULT, &prefs_default);
    if (c == NULL)
        return false;
    size_t zn;
    uint8_t *z = NULL;
    switch (kind) {
    case 0: { /* RSV1 on a continuation frame */
        struct pub p = pub_sized(c, 100, 1);
        qf(c, OP_TEXT, p.json, 50);
        qf(c, FIN | RSV1 | OP_CONT, p.json + 50, p.len - 50);
        pub_free(&p);
        break;
    }
    case 1: /* RSV1 on a ping */
        qf(c, FIN | RSV1 | OP_PING, "\x02\x00", 2);
        break;
    case 2: /* compressed text that inflates to bad UTF-8 */
        z = compress_msg(c, KOSME "\xed\xa0\x80", 14, &zn);
        qf(c, FIN | RSV1 | OP_TEXT, z, zn);
        break;
    case 3: /* not deflate at all (reserved block type 3) */
        qf(c, FIN | RSV1 | OP_TEXT, "\xff\xff\xff\xff\xff\xff", 6);
        break;
    default: { /* 2 MiB inflated from a few KiB: over the limit */
        size_t n = 2u << 20;
        struct pub p;
        char *v = malloc(n);
        memset(v, 'a', n);
        v[0] = v[n - 1] = '"';
        p = pub_value(c, v, n);
        free(v);
        z = compress_msg(c, p.json, p.len, &zn);
        qf(c, FIN | RSV1 | OP_TEXT, z, zn);
        pub_free(&p);
        break;
    }
    }
    free(z);
    return queued_fail_case(c, 0, want);
}

/* Compressed edge cases that must work. */
static bool deflate_good(int kind)
{
    struct wsc *c = open_deflate(srv.port, OFFER_DEFAULT, &prefs_default);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, 5000, 1);
    bool ok = true;
    switch (kind) {
    case 0: /* compressed, in fragments of 7 bytes, RSV1 on the first only */
        ok = round_trip(c, &p, 7, 0, true);
        break;
    case 1: /* uncompressed messages still allowed */
        ok = round_trip(c, &p, 0, 0, false) && round_trip(c, &p, 0, 0, true) &&
             round_trip(c, &p, 100, 0, false);
        break;
    case 2: /* a compressed empty message: not JSON, an error */
        ok = send_msg(c, OP_TEXT, "", 0, 0, 0, true) && expect_error(c);
        break;
    case 3: { /* ended with a BFINAL block (Z_FINISH): valid, one of
               RFC 7692 section 7.2.3's examples */
        z_stream zs = {0};
        uint8_t buf[8192];
        deflateInit2(&zs, 6, Z_DEFLATED, -(int)c->params.client_max_window_bits, 8,
                     Z_DEFAULT_STRATEGY);
        zs.next_in = (Bytef *)p.json;
        zs.avail_in = (uInt)p.len;
        zs.next_out = buf;
        zs.avail_out = sizeof(buf);
        deflate(&zs, Z_FINISH);
        size_t n = sizeof(buf) - zs.avail_out;
        deflateEnd(&zs);
        qf(c, FIN | RSV1 | OP_TEXT, buf, n);
        ok = flush(c, 0) && expect_echo(c, &p) && round_trip(c, &p, 0, 0, true);
        break;
    }
    case 4: /* our context kept: the same message three times, the later
               copies mostly back-references into the first */
        for (int i = 0; i < 3 && ok; i++)
            ok = round_trip(c, &p, 0, 0, true);
        break;
    case 5: /* a compressed frame in chops of 1 byte */
        ok = send_msg(c, OP_TEXT, p.json, p.len, 0, 1, true) && expect_echo(c, &p);
        break;
    default: { /* compressed, 5 fragments, a ping after each but the last */
        size_t zn, pings = 0;
        uint8_t *z = compress_msg(c, p.json, p.len, &zn);
        size_t frag = (zn + 4) / 5;
        for (size_t off = 0; off < zn; off += frag) {
            size_t n = zn - off < frag ? zn - off : frag;
            bool last = off + n == zn;
            qf(c, (uint8_t)((off == 0 ? OP_TEXT | RSV1 : OP_CONT) | (last ? FIN : 0)), z + off, n);
            if (!last && ++pings)
                qf(c, FIN | OP_PING, "mid", 3);
        }
        free(z);
        ok = flush(c, 0);
        for (size_t i = 0; i < pings && ok; i++)
            ok = expect_pong(c, "mid", 3);
        ok = ok && expect_echo(c, &p);
        break;
    }
    }
    ok = ok && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* A server started with --deflate off declines every offer; RSV1 is then
 * a protocol error. */
static bool deflate_off(void)
{
    struct wsc *c = ws_open_ext(srv_small.port, OFFER_DEFAULT, &prefs_default);
    if (c == NULL)
        return false;
    if (c->deflate) {
        flunk("offer accepted: '%s'", c->ext);
        ws_free(c);
        return false;
    }
    qf(c, FIN | RSV1 | OP_TEXT, "\x02\x00", 2);
    return queued_fail_case(c, 0, 1002);
}

/* A compressed publish that inflates to exactly total bytes, a few KiB on
 * the wire: the limit bounds the inflated size, so at 1 MiB it is echoed
 * and one byte more gets 1009. */
static bool deflate_at_limit(size_t total)
{
    struct wsc *c = open_deflate(srv.port, OFFER_DEFAULT, &prefs_default);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, total, 0);
    bool ok;
    if (total <= RT_WS_MAX_MESSAGE) {
        ok = round_trip(c, &p, 0, 0, true) && ws_finish(c);
    } else {
        if (!send_msg(c, OP_TEXT, p.json, p.len, 0, 0, true))
            forgive();
        ok = expect_close(c, 1009);
    }
    pub_free(&p);
    ws_free(c);
    return ok;
}

/* 1 MiB publishes of text that compresses well or hardly at all, in one
 * frame and in 64 KiB fragments of the compressed bytes. */
static bool deflate_big(int port, int kind)
{
    struct wsc *c = open_deflate(port, OFFER_DEFAULT, &prefs_default);
    if (c == NULL)
        return false;
    struct pub p = pub_sized(c, RT_WS_MAX_MESSAGE, kind);
    bool ok = round_trip(c, &p, 0, 0, true) && round_trip(c, &p, 65536, 0, true) && ws_finish(c);
    pub_free(&p);
    ws_free(c);
    return ok;
}

static void test_12_deflate(void **state)
{
    (void)state;
    int64_t t0 = tu_now_ms();
    static const size_t sizes[] = {16, 64, 128, 256, 1024, 4096, 16384, 65536};
    static const char *const kinds[] = {"repetitive", "word", "random base64"};
    char id[16], what[96];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 8; i++) {
            snprintf(id, sizeof(id), "12.%d.%d", k + 1, i + 1);
            snprintf(what, sizeof(what), "20 compressed publishes of %zu bytes of %s text",
                     sizes[i], kinds[k]);
            report(id, what, deflate_round_trips(srv.port, 20, sizes[i], k));
        }
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "12.6.%d", i + 1);
        snprintf(what, sizeof(what),
                 "--deflate context (both sides keep context): 20 publishes of %zu bytes",
                 sizes[i]);
        report(id, what, deflate_round_trips(srv_ctx.port, 20, sizes[i], i % 3));
    }
    report("12.4.1", "compressed in 7-byte fragments: echoed", deflate_good(0));
    report("12.4.2", "uncompressed messages after negotiating: echoed", deflate_good(1));
    report("12.4.3", "compressed empty message: error frame", deflate_good(2));
    report("12.4.4", "compressed message ending in a BFINAL block", deflate_good(3));
    report("12.4.5", "client context takeover: same message 3 times", deflate_good(4));
    report("12.4.6", "compressed frame in chops of 1 byte", deflate_good(5));
    report("12.4.7", "compressed in 5 fragments, pings between: pongs, echo", deflate_good(6));
    report("12.5.1", "RSV1 on a continuation frame: 1002", deflate_bad(0, 1002));
    report("12.5.2", "RSV1 on a ping: 1002", deflate_bad(1, 1002));
    report("12.5.3", "compressed invalid UTF-8: 1007", deflate_bad(2, 1007));
    report("12.5.4", "RSV1 payload that is not deflate: 1007", deflate_bad(3, 1007));
    report("12.5.5", "2 MiB inflated from a few KiB: 1009", deflate_bad(4, 1009));
    report("12.5.6", "inflates to exactly 1 MiB: echoed", deflate_at_limit(RT_WS_MAX_MESSAGE));
    report("12.5.7", "inflates to 1 MiB + 1: 1009", deflate_at_limit(RT_WS_MAX_MESSAGE + 1));
    report("12.8.1", "random session, compressed and not, in random chops (shared)",
           random_session(srv.port, true, 300));
    report("12.8.2", "random session, compressed and not, in random chops (context)",
           random_session(srv_ctx.port, true, 300));
    report("12.7.1", "1 MiB compressed publishes (word text), shared", deflate_big(srv.port, 1));
    report("12.7.2", "1 MiB compressed publishes (random text), shared", deflate_big(srv.port, 2));
    report("12.7.3", "1 MiB compressed publishes (word text), context",
           deflate_big(srv_ctx.port, 1));
    report("12.7.4", "1 MiB compressed publishes (random text), context",
           deflate_big(srv_ctx.port, 2));
    printf("category 12 took %lld ms\n", (long long)(tu_now_ms() - t0));
    category_done();
}

static void test_13_deflate_params(void **state)
{
    (void)state;
    char id[16], what[256], offer[160];
    struct {
        const char *offer;
        struct rt_wsd_prefs prefs;
        bool cmwb;
    } offers[] = {
        {"permessage-deflate", {false, false, 15, 15}, false},
        {"permessage-deflate; client_no_context_takeover", {false, true, 15, 15}, false},
        {"permessage-deflate; client_max_window_bits=9", {false, false, 15, 9}, true},
        {"permessage-deflate; client_max_window_bits=15", {false, false, 15, 15}, true},
        {"permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
         {false, true, 15, 9},
         true},
        {"permessage-deflate; client_no_context_takeover; client_max_window_bits=15",
         {false, true, 15, 15},
         true},
        {"permessage-deflate; client_no_context_takeover; client_max_window_bits=9, "
         "permessage-deflate; client_no_context_takeover, permessage-deflate",
         {false, true, 15, 9},
         true},
        {"permessage-deflate; server_no_context_takeover", {true, false, 15, 15}, false},
    };
    for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
        snprintf(id, sizeof(id), "13.%zu.1", i + 1);
        snprintf(what, sizeof(what), "offer '%s'", offers[i].offer);
        report(id, what,
               offer_case(srv.port, offers[i].offer, &offers[i].prefs, 0,
                          offers[i].prefs.server_no_context_takeover, offers[i].cmwb));
    }
    for (int bits = 9; bits <= 15; bits++) {
        struct rt_wsd_prefs prefs = {false, false, (uint8_t)bits, 15};
        snprintf(offer, sizeof(offer), "permessage-deflate; server_max_window_bits=%d", bits);
        snprintf(id, sizeof(id), "13.9.%d", bits - 8);
        snprintf(what, sizeof(what), "offer '%s': echoes inflate within 2^%d", offer, bits);
        report(id, what, offer_case(srv.port, offer, &prefs, bits, false, false));
        snprintf(offer, sizeof(offer),
                 "permessage-deflate; server_no_context_takeover; server_max_window_bits=%d; "
                 "client_max_window_bits=%d",
                 bits, bits);
        prefs = (struct rt_wsd_prefs){true, false, (uint8_t)bits, (uint8_t)bits};
        snprintf(id, sizeof(id), "13.10.%d", bits - 8);
        snprintf(what, sizeof(what), "offer both windows %d, server_no_context_takeover", bits);
        report(id, what, offer_case(srv.port, offer, &prefs, bits, true, true));
        prefs = (struct rt_wsd_prefs){false, false, (uint8_t)bits, 15};
        snprintf(offer, sizeof(offer), "permessage-deflate; server_max_window_bits=%d", bits);
        snprintf(id, sizeof(id), "13.11.%d", bits - 8);
        snprintf(what, sizeof(what), "--deflate context, server_max_window_bits=%d", bits);
        report(id, what, offer_case(srv_ctx.port, offer, &prefs, bits, false, false));
    }
    report("13.12.1", "--deflate context: context kept across messages", context_takeover(false));
    report("13.14.1", "one publish to subscribers with different windows (shared)",
           fan_out(srv.port));
    report("13.14.2", "one publish to subscribers with different windows (context)",
           fan_out(srv_ctx.port));
    report("13.15.1", "no context crosses connections through the shared inflater",
           no_context_across_connections(srv.port));
    report("13.15.2", "no context crosses connections (--deflate context)",
           no_context_across_connections(srv_ctx.port));
    report("13.12.2", "--deflate context honours server_no_context_takeover",
           context_takeover(true));
    report("13.13.1", "server_max_window_bits=8: declined",
           offer_declined("permessage-deflate; server_max_window_bits=8", false));
    report("13.13.2", "unknown parameter: declined",
           offer_declined("permessage-deflate; foo", false));
    report("13.13.3", "window bits 16: declined",
           offer_declined("permessage-deflate; client_max_window_bits=16", false));
    report("13.13.4", "first offer unacceptable: the second is taken",
           offer_declined("permessage-deflate; server_max_window_bits=7, permessage-deflate; "
                          "client_max_window_bits",
                          true));
    report("13.13.5", "unknown extension only: no compression",
           offer_declined("x-webkit-deflate-frame", false));
    report("13.13.6", "--deflate off: offer declined, RSV1 then 1002", deflate_off());
    category_done();
}

/* ======================================================================== */
/* main                                                                     */
/* ======================================================================== */

static int setup(void **state)
{
    (void)state;
    static const char *const a[] = {"ws", "--port", "0", NULL};
    static const char *const b[] = {"ws", "--port", "0", "--deflate", "context", NULL};
    static const char *const c[] = {"ws",  "--port",        "0",     "--deflate",
                                    "off", "--max-message", "65536", NULL};
    if (!tu_server_start(&srv, rtlab, a))
        return -1;
    if (!tu_server_start(&srv_ctx, rtlab, b)) {
        tu_server_stop(&srv);
        return -1;
    }
    if (!tu_server_start(&srv_small, rtlab, c)) {
        tu_server_stop(&srv);
        tu_server_stop(&srv_ctx);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int r1 = tu_server_stop(&srv), r2 = tu_server_stop(&srv_ctx), r3 = tu_server_stop(&srv_small);
    if (r1 != 0 || r2 != 0 || r3 != 0)
        fprintf(stderr, "servers exited %d %d %d (0 wanted after SIGTERM)\n", r1, r2, r3);
    printf("summary: %d cases, %d passed, %d failed%s%s\n", cases_run, cases_run - cases_failed,
           cases_failed, cases_failed ? ": " : "", failed_ids);
    return r1 == 0 && r2 == 0 && r3 == 0 ? 0 : -1;
}

/* Each category starts its own failure count. */
static int category_setup(void **state)
{
    (void)state;
    category_failed = 0;
    return 0;
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
#define T(f) cmocka_unit_test_setup(f, category_setup)
    const struct CMUnitTest tests[] = {
        T(test_1_framing),         T(test_2_pings),         T(test_3_reserved_bits),
        T(test_4_opcodes),         T(test_5_fragmentation), T(test_6_utf8),
        T(test_7_close),           T(test_9_limits),        T(test_12_deflate),
        T(test_13_deflate_params),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
