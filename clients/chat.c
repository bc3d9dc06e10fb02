/*
 * chat.c - `rtlab client ws --chat`: the other direction of a WebSocket.
 *
 * Each line typed on stdin is published on the same connection that
 * receives the topic, as {"type":"publish","topic":T,"data":{"from":NAME,
 * "text":LINE}}; the server sends it back to everyone subscribed, us
 * included, so it shows on stdout like any other message. While a line is
 * being typed (stdin has delivered bytes without a newline yet), a
 * {"type":"signal"} says NAME is typing, at most once per 2 s; the server
 * relays it to the topic's other subscribers and logs nothing.
 *
 * A terminal in its usual (canonical) mode hands over whole lines only, so
 * typing signals come from pipes and raw terminals; that is fine for a
 * lesson about what a second direction makes possible.
 *
 * stdin may be a terminal, a pipe or socket (read with libuv streams) or a
 * regular file (read with uv_fs_read(), which never blocks on a file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A line longer than this is sent in pieces of this size: a chat line is
 * not a file transfer, and each piece must fit in a message. */
#define CHAT_LINE_MAX (16 * 1024)

/* ---- JSON text --------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), 0 when there is
 * none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

int rt_json_quote(char *out, size_t cap, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    /* Each step writes at most 6 bytes; check room once per step. */
#define ROOM(n)                                                                                    \
    do {                                                                                           \
        if (o + (n) > cap)                                                                         \
            return -1;                                                                             \
    } while (0)
    ROOM(1);
    out[o++] = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = utf8_len(p + i, len - i);
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                                      : NULL;
        if (esc) {
            ROOM(2);
            memcpy(out + o, esc, 2);
            o += 2;
        } else if (c < 0x20) {
            ROOM(6);
            snprintf(out + o, 7, "\\u%04x", c);
            o += 6;
        } else if (n == 0) { /* not UTF-8: U+FFFD, the replacement character */
            ROOM(3);
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            n = 1;
        } else {
            ROOM(n);
            memcpy(out + o, p + i, n);
            o += n;
        }
        i += n ? n : 1;
    }
    ROOM(1);
    out[o++] = '"';
#undef ROOM
    return o > INT32_MAX ? -1 : (int)o;
}

int rt_chat_json(char *out, size_t cap, const char *topic, const char *name, const char *text,
                 size_t text_len)
{
    static const char *const parts[] = {
        "{\"type\":\"publish\",\"topic\":", ",\"data\":{\"from\":", ",\"text\":", "}}"};
    static const char *const sig[] = {
        "{\"type\":\"signal\",\"topic\":", ",\"data\":{\"typing\":", "}}"};
    size_t o = 0;
    int n;
#define PUT(str)                                                                                   \
    do {                                                                                           \
        size_t l_ = strlen(str);                                                                   \
        if (o + l_ > cap)                                                                          \
            return -1;                                                                             \
        memcpy(out + o, str, l_);                                                                  \
        o += l_;                                                                                   \
    } while (0)
#define QUOTE(p, len)                                                                              \
    do {                                                                                           \
        if ((n = rt_json_quote(out + o, cap - o, p, len)) < 0)                                     \
            return -1;                                                                             \
        o += (size_t)n;                                                                            \
    } while (0)
    const char *const *w = text ? parts : sig;
    PUT(w[0]);
    QUOTE(topic, strlen(topic));
    PUT(w[1]);
    QUOTE(name, strlen(name));
    if (text) {
        PUT(w[2]);
        QUOTE(text, text_len);
    }
    PUT(w[text ? 3 : 2]);
#undef PUT
#undef QUOTE
    return o > INT32_MAX ? -1 : (int)o;
}

/* ---- Reading stdin ----------------------------------------------------- */

struct rt_chat {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tty_t tty;
        uv_pipe_t pipe;
    } in;
    uv_fs_t read_req;
    bool is_file, reading, stopped, eof;
    int64_t file_pos;
    void *sub;
    const char *topic, *name;
    void (*on_eof)(void *arg);
    void *arg;
    uint64_t last_signal_ms;
    bool signalled; /* a typing signal has been sent (last_signal_ms is set) */
    uv_loop_t *loop;
    size_t line_len;
    char line[CHAT_LINE_MAX];
    char buf[CHAT_LINE_MAX]; /* reads land here */
};

/* Publishes line[0..len) (or, with line NULL, says we are typing). */
static void publish(struct rt_chat *c, const char *line, size_t len)
{
    size_t cap = 6 * len + 2 * strlen(c->name) * 3 + strlen(c->topic) * 6 + 128;
    char *json = malloc(cap);
    int n = json ? rt_chat_json(json, cap, c->topic, c->name, line, len) : -1;
    int r = n < 0 ? UV_ENOMEM : rt_ws_sub_send(c->sub, json, (size_t)n, line != NULL);
    if (r < 0 && line != NULL)
        fprintf(stderr, "error: chat: line not sent: %s\n",
                r == UV_ENOBUFS ? "too many lines wait for a connection" : uv_strerror(r));
    free(json);
}

/* New bytes from stdin: publish each whole line, keep the rest. */
static void take_input(struct rt_chat *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            c->line[c->line_len++] = p[i];
            if (c->line_len == sizeof c->line) { /* too long: send it in pieces */
                publish(c, c->line, c->line_len);
                c->line_len = 0;
            }
            continue;
        }
        size_t len = c->line_len;
        if (len > 0 && c->line[len - 1] == '\r')
            len--;
        publish(c, c->line, len);
        c->line_len = 0;
    }
    uint64_t now = uv_now(c->loop);
    if (c->line_len > 0 && (!c->signalled || now - c->last_signal_ms >= RT_CHAT_TYPING_MS)) {
        publish(c, NULL, 0);
        c->signalled = true;
        c->last_signal_ms = now;
    }
}

static void at_eof(struct rt_chat *c)
{
    if (c->eof)
        return;
    c->eof = true;
    if (c->line_len > 0) /* a last line without its newline */
        publish(c, c->line, c->line_len);
    c->line_len = 0;
    c->on_eof(c->arg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rt_chat *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_stdin(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct rt_chat *c = st->data;
    if (nread > 0) {
        take_input(c, buf->base, (size_t)nread);
    } else if (nread < 0) {
        if (nread != UV_EOF)
            fprintf(stderr, "error: chat: reading stdin: %s\n", uv_strerror((int)nread));
        uv_read_stop(st);
        at_eof(c);
    }
}

static void read_file(struct rt_chat *c);

static void on_file_read(uv_fs_t *req)
{
    struct rt_chat *c = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    c->reading = false;
    if (c->stopped) {
        free(c);
        return;
    }
    if (n > 0) {
        c->file_pos += n;
        take_input(c, c->buf, (size_t)n);
        read_file(c);
        return;
    }
    if (n < 0)
        fprintf(stderr, "error: chat: reading stdin: %s\n", uv_strerror((int)n));
    at_eof(c);
}

static void read_file(struct rt_chat *c)
{
    uv_buf_t b = uv_buf_init(c->buf, sizeof c->buf);
    c->read_req.data = c;
    int r = uv_fs_read(c->loop, &c->read_req, 0, &b, 1, c->file_pos, on_file_read);
    if (r < 0) {
        fprintf(stderr, "error: chat: reading stdin: %s\n", uv_strerror(r));
        at_eof(c);
        return;
    }
    c->reading = true;
}

struct rt_chat *rt_chat_start(uv_loop_t *loop, void *sub, const char *topic, const char *name,
                              void (*on_eof)(void *arg), void *arg)
{
    struct rt_chat *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fprintf(stderr, "rtlab client: out of memory\n");
        return NULL;
    }
    *c = (struct rt_chat){
        .sub = sub, .topic = topic, .name = name, .on_eof = on_eof, .arg = arg, .loop = loop};
    uv_handle_type t = uv_guess_handle(0);
    int r;
    if (t == UV_FILE) {
        c->is_file = true;
        read_file(c);
        return c;
    }
    if (t == UV_TTY)
        r = uv_tty_init(loop, &c->in.tty, 0, 0);
    else if (t == UV_NAMED_PIPE || t == UV_TCP)
        r = uv_pipe_init(loop, &c->in.pipe, 0);
    else
        r = UV_EINVAL;
    if (r < 0) { /* no handle to close */
        fprintf(stderr, "rtlab client: --chat cannot read stdin: %s\n", uv_strerror(r));
        free(c);
        return NULL;
    }
    c->in.handle.data = c;
    if (t != UV_TTY)
        r = uv_pipe_open(&c->in.pipe, 0);
    if (r == 0)
        r = uv_read_start(&c->in.stream, on_alloc, on_stdin);
    if (r < 0) {
        fprintf(stderr, "rtlab client: --chat cannot read stdin: %s\n", uv_strerror(r));
        rt_chat_stop(c);
        return NULL;
    }
    return c;
}

static void on_in_closed(uv_handle_t *h)
{
    free(h->data);
}

void rt_chat_stop(struct rt_chat *c)
{
    if (c == NULL || c->stopped)
        return;
    c->stopped = true;
    if (c->is_file) {
        if (!c->reading) /* else on_file_read() frees it */
            free(c);
        return;
    }
    uv_close(&c->in.handle, on_in_closed);
}
