/*
 * fuzz_ws_decode.c - rt_ws_decode(), the incremental WebSocket frame
 * decoder, with the UTF-8 validator and the Close payload parser.
 *
 * Byte 0 of the input picks the message limit (bits 0-1: the default, 0..63
 * from byte 1, 1 MiB, UINT64_MAX); the rest is a byte stream as a peer
 * sends it. For each of the four decoders (server or client, deflate
 * allowed or not) the event log (each frame's opcode, FIN, RSV1, message
 * opcode, length and unmasked payload at its end, then an error's code)
 * must be the same
 *   - fed whole, one byte per call, and in input-chosen pieces (some
 *     empty), each piece an exactly sized heap copy;
 * and each call consumes no more than it was given, a DATA event points at
 * the bytes it consumed, and an error maps to 1002, 1007 or 1009 and sticks.
 * Then, on the same stream:
 *   - a frame chosen from the input, written with rt_ws_frame_header() and
 *     rt_ws_mask(), decodes back to the same header and payload;
 *   - rt_ws_utf8_feed() over input-chosen pieces agrees with one call over
 *     the whole, and both with a plain RFC 3629 validator;
 *   - rt_ws_close_parse() accepts exactly the payloads that are empty or
 *     hold a rt_ws_close_code_valid() code and a UTF-8 reason, and
 *     rt_ws_close_build() writes an accepted one back byte for byte.
 */
#include "fuzz.h"
#include "rt_proto.h"

/* ======================================================================== */
/* The event log                                                            */
/* ======================================================================== */

struct ws_log {
    uint8_t *b;
    size_t n, cap;
};

static void log_put(struct ws_log *l, const void *p, size_t n)
{
    if (l->n + n > l->cap) {
        l->cap = (l->n + n) * 2 + 64;
        l->b = realloc(l->b, l->cap);
        FUZZ_CHECK(l->b != NULL);
    }
    if (n > 0)
        memcpy(l->b + l->n, p, n);
    l->n += n;
}

static bool log_equal(const struct ws_log *a, const struct ws_log *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->b, b->b, a->n) == 0);
}

/* One decoder being fed, with the payload of the frame it is in. */
struct ws_run {
    struct rt_ws_decoder d;
    struct ws_log *log;
    uint8_t *frame; /* as long as the input */
    size_t frame_len;
    bool failed;
};

static void frame_done(struct ws_run *r, const struct rt_ws_event *ev)
{
    uint8_t rec[8] = {'F',
                      ev->frame.opcode,
                      ev->frame.fin,
                      ev->frame.rsv1,
                      ev->msg_opcode,
                      ev->compressed,
                      ev->message_end,
                      ev->frame.masked};
    FUZZ_CHECK(ev->frame.len == r->frame_len);
    FUZZ_CHECK(ev->message_end == (ev->frame_end && ev->frame.fin));
    log_put(r->log, rec, sizeof rec);
    log_put(r->log, &ev->frame.len, sizeof ev->frame.len);
    log_put(r->log, r->frame, r->frame_len);
    r->frame_len = 0;
}

/* Feeds bytes[0..len) as one piece, from an exactly sized heap copy. */
static void feed(struct ws_run *r, const uint8_t *bytes, size_t len)
{
    if (r->failed)
        return;
    uint8_t *buf = (uint8_t *)fuzz_copy(bytes, len);
    size_t off = 0;
    while (off < len) {
        struct rt_ws_event ev;
        int64_t n = rt_ws_decode(&r->d, buf + off, len - off, &ev);
        if (n == RT_EMORE) /* the decoder kept the rest */
            break;
        if (n < 0) {
            uint16_t code = rt_ws_close_code_for((int)n);
            FUZZ_CHECK(code == 1002 || code == 1007 || code == 1009);
            uint8_t rec[3] = {'E', (uint8_t)(code >> 8), (uint8_t)code};
            log_put(r->log, rec, sizeof rec);
            struct rt_ws_event ev2;
            FUZZ_CHECK(rt_ws_decode(&r->d, buf, len, &ev2) == n); /* sticky */
            r->failed = true;
            break;
        }
        FUZZ_CHECK(n > 0 && (uint64_t)n <= len - off);
        if (ev.kind == RT_WS_EV_DATA) {
            FUZZ_CHECK(ev.data == buf + off && ev.data_len <= (size_t)n);
            memcpy(r->frame + r->frame_len, ev.data, ev.data_len);
            r->frame_len += ev.data_len;
        } else {
            FUZZ_CHECK(ev.kind == RT_WS_EV_HEADER);
            r->frame_len = 0;
        }
        if (ev.frame_end)
            frame_done(r, &ev);
        off += (size_t)n;
    }
    if (!r->failed) {
        struct rt_ws_event ev;
        FUZZ_CHECK(rt_ws_decode(&r->d, buf, 0, &ev) == RT_EMORE);
    }
    fuzz_free((char *)buf, len);
}

/* Feeds the stream at cuts[0..k) (NULL, 0: whole; k == SIZE_MAX: byte by
 * byte) into a fresh decoder; the log goes to *log. */
static void replay(const uint8_t *in, size_t len, bool server, bool deflate, uint64_t max,
                   const size_t *cuts, size_t k, struct ws_log *log)
{
    struct ws_run r = {.log = log};
    rt_ws_decoder_init(&r.d, server, deflate, max);
    r.frame = malloc(len + 1);
    FUZZ_CHECK(r.frame != NULL);
    log->n = 0;
    if (k == SIZE_MAX) {
        for (size_t i = 0; i < len; i++)
            feed(&r, in + i, 1);
    } else {
        size_t at = 0;
        for (size_t i = 0; i < k; i++) {
            feed(&r, in + at, cuts[i] - at);
            at = cuts[i];
        }
        feed(&r, in + at, len - at);
    }
    free(r.frame);
}

/* ======================================================================== */
/* UTF-8: a plain RFC 3629 validator                                        */
/* ======================================================================== */

/* 1: valid and complete; 0: a valid prefix cut inside a character; -1:
 * invalid. */
static int ref_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t need;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return -1;
        }
        for (size_t j = 1; j <= need; j++) {
            if (i + j == n) { /* cut short: is what came so far a prefix? */
                /* The prefix can still be completed only if the bounds on
                 * the value hold for some continuation. */
                uint32_t lo = cp, hi = cp;
                for (size_t k = j; k <= need; k++) {
                    lo = lo << 6;
                    hi = (hi << 6) | 0x3F;
                }
                if (hi < min || lo > 0x10FFFF)
                    return -1;
                if (lo >= 0xD800 && hi <= 0xDFFF)
                    return -1;
                return 0;
            }
            if ((s[i + j] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += need + 1;
    }
    return 1;
}

/* rt_ws_utf8_feed over the pieces at cuts[0..k): 1, 0 or -1 as above. */
static int utf8_split(const uint8_t *s, size_t n, const size_t *cuts, size_t k)
{
    struct rt_ws_utf8 u;
    rt_ws_utf8_init(&u);
    size_t at = 0;
    for (size_t i = 0; i <= k; i++) {
        size_t end = i < k ? cuts[i] : n;
        char *piece = fuzz_copy(s + at, end - at);
        int rc = rt_ws_utf8_feed(&u, (const uint8_t *)piece, end - at);
        fuzz_free(piece, end - at);
        if (rc != 0) {
            FUZZ_CHECK(rc == RT_EWSUTF8);
            return -1;
        }
        at = end;
    }
    return rt_ws_utf8_done(&u) ? 1 : 0;
}

/* ======================================================================== */
/* The checks                                                               */
/* ======================================================================== */

static void check_splits(const uint8_t *in, size_t len, uint64_t max, struct fuzz_rng *rng)
{
    struct ws_log want = {0}, got = {0};
    for (int cfg = 0; cfg < 4; cfg++) {
        bool server = cfg & 1, deflate = cfg & 2;
        replay(in, len, server, deflate, max, NULL, 0, &want);
        replay(in, len, server, deflate, max, NULL, SIZE_MAX, &got);
        FUZZ_CHECK(log_equal(&got, &want));
        for (int round = 0; round < 2; round++) {
            size_t cuts[16];
            size_t k = fuzz_cuts(rng, len, cuts, sizeof cuts / sizeof cuts[0]);
            replay(in, len, server, deflate, max, cuts, k, &got);
            FUZZ_CHECK(log_equal(&got, &want));
        }
    }
    free(want.b);
    free(got.b);
}

/* A frame chosen from the input, encoded and decoded back. */
static void check_round_trip(const uint8_t *in, size_t len, struct fuzz_rng *rng)
{
    static const uint8_t ops[] = {RT_WS_TEXT, RT_WS_BINARY, RT_WS_CLOSE, RT_WS_PING, RT_WS_PONG};
    struct rt_ws_frame f = {0};
    f.opcode = ops[fuzz_below(rng, sizeof ops)];
    bool control = f.opcode >= RT_WS_CLOSE;
    size_t plen = fuzz_below(rng, len + 1);
    if (control && plen > RT_WS_CONTROL_MAX)
        plen = RT_WS_CONTROL_MAX;
    if (f.opcode == RT_WS_CLOSE && plen == 1)
        plen = 0;
    if (f.opcode == RT_WS_TEXT && ref_utf8(in, plen) != 1)
        f.opcode = RT_WS_BINARY;
    bool server = fuzz_below(rng, 2), deflate = fuzz_below(rng, 2);
    f.fin = control || fuzz_below(rng, 2);
    f.rsv1 = deflate && !control && fuzz_below(rng, 2);
    f.masked = server;
    if (f.masked)
        for (int i = 0; i < 4; i++)
            f.mask[i] = (uint8_t)fuzz_next(rng);
    f.len = plen;

    uint8_t *wire = malloc(RT_WS_HEADER_MAX + plen);
    FUZZ_CHECK(wire != NULL);
    int h = rt_ws_frame_header(wire, RT_WS_HEADER_MAX, &f);
    FUZZ_CHECK(h >= 2 && h <= RT_WS_HEADER_MAX);
    /* One byte less room writes nothing. */
    uint8_t small[RT_WS_HEADER_MAX];
    FUZZ_CHECK(rt_ws_frame_header(small, (size_t)h - 1, &f) == RT_ENOSPACE);
    if (plen > 0)
        memcpy(wire + h, in, plen);
    if (f.masked)
        rt_ws_mask(wire + h, plen, f.mask, 0);

    struct ws_log want = {0}, got = {0};
    struct ws_run r = {.log = &want};
    r.frame = malloc(plen + 1);
    FUZZ_CHECK(r.frame != NULL);
    rt_ws_decoder_init(&r.d, server, deflate, RT_WS_MAX_MESSAGE);
    size_t total = (size_t)h + plen;
    uint8_t *buf = (uint8_t *)fuzz_copy(wire, total);
    struct rt_ws_event ev;
    int64_t n = rt_ws_decode(&r.d, buf, total, &ev);
    FUZZ_CHECK(n == h && ev.kind == RT_WS_EV_HEADER);
    FUZZ_CHECK(ev.frame.fin == f.fin && ev.frame.rsv1 == f.rsv1 && ev.frame.opcode == f.opcode);
    FUZZ_CHECK(ev.frame.masked == f.masked && ev.frame.len == f.len);
    FUZZ_CHECK(!f.masked || memcmp(ev.frame.mask, f.mask, 4) == 0);
    FUZZ_CHECK(ev.frame_end == (plen == 0));
    size_t off = (size_t)n;
    while (off < total) {
        n = rt_ws_decode(&r.d, buf + off, total - off, &ev);
        FUZZ_CHECK(n > 0 && (size_t)n <= total - off && ev.kind == RT_WS_EV_DATA);
        memcpy(r.frame + r.frame_len, ev.data, ev.data_len);
        r.frame_len += ev.data_len;
        off += (size_t)n;
        FUZZ_CHECK(ev.frame_end == (off == total));
    }
    FUZZ_CHECK(r.frame_len == plen && (plen == 0 || memcmp(r.frame, in, plen) == 0));
    fuzz_free((char *)buf, total);
    /* And the same bytes in pieces give the same log. */
    replay(wire, total, server, deflate, RT_WS_MAX_MESSAGE, NULL, 0, &want);
    replay(wire, total, server, deflate, RT_WS_MAX_MESSAGE, NULL, SIZE_MAX, &got);
    FUZZ_CHECK(log_equal(&got, &want));
    FUZZ_CHECK(want.n > 0 && want.b[0] == 'F');
    free(want.b);
    free(got.b);
    free(r.frame);
    free(wire);
}

static void check_utf8(const uint8_t *in, size_t len, struct fuzz_rng *rng)
{
    int want = ref_utf8(in, len);
    FUZZ_CHECK(utf8_split(in, len, NULL, 0) == want);
    size_t cuts[16];
    size_t k = fuzz_cuts(rng, len, cuts, sizeof cuts / sizeof cuts[0]);
    FUZZ_CHECK(utf8_split(in, len, cuts, k) == want);
}

static void check_close(const uint8_t *in, size_t len)
{
    if (len > RT_WS_CONTROL_MAX)
        len = RT_WS_CONTROL_MAX;
    char *p = fuzz_copy(in, len);
    uint16_t code = 0;
    const char *reason = NULL;
    size_t reason_len = 99;
    int rc = rt_ws_close_parse((const uint8_t *)p, len, &code, &reason, &reason_len);
    if (len == 0) {
        FUZZ_CHECK(rc == 0 && code == RT_WS_CLOSE_NO_STATUS && reason_len == 0);
    } else if (len == 1) {
        FUZZ_CHECK(rc == RT_EWSPROTO);
    } else {
        uint16_t c = (uint16_t)(in[0] << 8 | in[1]);
        if (!rt_ws_close_code_valid(c)) {
            FUZZ_CHECK(rc == RT_EWSPROTO);
        } else if (ref_utf8(in + 2, len - 2) != 1) {
            FUZZ_CHECK(rc == RT_EWSUTF8);
        } else {
            FUZZ_CHECK(rc == 0 && code == c && reason_len == len - 2);
            FUZZ_CHECK(reason_len == 0 || reason == p + 2);
            uint8_t out[RT_WS_CONTROL_MAX];
            int b = rt_ws_close_build(out, sizeof out, code, reason, reason_len);
            FUZZ_CHECK(b == (int)len && memcmp(out, in, len) == 0);
            FUZZ_CHECK(rt_ws_close_build(out, len - 1, code, reason, reason_len) == RT_ENOSPACE);
        }
    }
    fuzz_free(p, len);
}

/* ======================================================================== */
/* The target                                                               */
/* ======================================================================== */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    uint64_t max = RT_WS_MAX_MESSAGE;
    size_t skip = 0;
    if (size > 0) {
        skip = 1;
        switch (data[0] & 3) {
        case 1:
            max = size > 1 ? data[1] & 63 : 0;
            break;
        case 2:
            max = 1u << 20;
            break;
        case 3:
            max = UINT64_MAX;
            break;
        }
    }
    const uint8_t *in = data + skip;
    size_t len = size - skip;

    check_splits(in, len, max, &rng);
    check_round_trip(in, len, &rng);
    check_utf8(in, len, &rng);
    check_close(in, len);
    return 0;
}
