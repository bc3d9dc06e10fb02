/*
 * ws.c - RFC 6455 WebSockets without I/O: the opening handshake (with the
 * SHA-1 and base64 it needs), frame headers, an incremental frame decoder,
 * UTF-8 validation and Close frames.
 *
 * Like picohttpparser and wslay, nothing here allocates or touches a socket.
 * The decoder is fed whatever bytes arrived, in any split, unmasks payload in
 * the caller's own buffer and keeps at most one partial frame header.
 *
 * WE SIMPLIFIED: no subprotocol negotiation (rtlab speaks one protocol), no
 * extension negotiation here (permessage-deflate is its own section: this
 * file only lets RSV1 through when the caller says it was negotiated).
 */
#include <stdio.h>
#include <string.h>

#include "rt_proto.h"

/* ======================================================================== */
/* Errors                                                                   */
/* ======================================================================== */

uint16_t rt_ws_close_code_for(int err)
{
    switch (err) {
    case RT_EWSPROTO:
        return 1002;
    case RT_EWSUTF8:
    case RT_EWSDEFLATE: /* compressed data that does not inflate: bad payload */
        return 1007;
    case RT_EWSTOOBIG:
        return 1009;
    default:
        return 1011;
    }
}

/* ======================================================================== */
/* SHA-1 (FIPS 180-4), just enough for Sec-WebSocket-Accept                 */
/* ======================================================================== */

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

/* One 64-byte block into the five state words. */
static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void rt_sha1(const void *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const uint8_t *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64)
        sha1_block(h, p);
    /* The tail, a 0x80 byte, zeros, and the bit length: one or two blocks. */
    uint8_t tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tail_len = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < tail_len; off += 64)
        sha1_block(h, tail + off);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

/* ======================================================================== */
/* Base64 (RFC 4648 section 4)                                              */
/* ======================================================================== */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rt_base64_encode(char *out, const uint8_t *in, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64_chars[v >> 18];
        out[o++] = b64_chars[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_chars[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_chars[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int rt_base64_decode(uint8_t *out, size_t cap, const char *in, size_t len)
{
    if (len % 4 != 0)
        return RT_EBADREQ;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = 0;
        if (last && in[i + 3] == '=')
            pad = in[i + 2] == '=' ? 2 : 1;
        uint32_t v = 0;
        for (int j = 0; j < 4 - pad; j++) {
            int x = b64_value(in[i + j]);
            if (x < 0)
                return RT_EBADREQ;
            v = v << 6 | (uint32_t)x;
        }
        v <<= 6 * pad;
        /* The bits the padding leaves unused must be zero (RFC 4648 3.5). */
        if ((pad == 1 && (v & 0xFF)) || (pad == 2 && (v & 0xFFFF)))
            return RT_EBADREQ;
        size_t n = 3 - (size_t)pad;
        if (o + n > cap)
            return RT_ENOSPACE;
        for (size_t j = 0; j < n; j++)
            out[o++] = (uint8_t)(v >> (16 - 8 * j));
    }
    return (int)o;
}

/* ======================================================================== */
/* Opening handshake (section 4)                                            */
/* ======================================================================== */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* True when headers hold name with token in its comma-separated value. */
static bool has_token(const struct rt_http_header *headers, size_t n, const char *name,
                      const char *token)
{
    const struct rt_http_header *h = rt_http_header_find(headers, n, name);
    return h && rt_http_token_list_has(h->value, h->value_len, token);
}

int rt_ws_handshake_check(const struct rt_http_request *req, const char **key, size_t *key_len)
{
    const struct rt_http_header *hs = req->headers;
    size_t n = req->num_headers;
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0 || req->minor_version < 1)
        return RT_EWSHANDSHAKE;
    if (!rt_http_header_find(hs, n, "Host"))
        return RT_EWSHANDSHAKE;
    if (!has_token(hs, n, "Upgrade", "websocket") || !has_token(hs, n, "Connection", "Upgrade"))
        return RT_EWSHANDSHAKE;
    const struct rt_http_header *v = rt_http_header_find(hs, n, "Sec-WebSocket-Version");
    if (!v || v->value_len != 2 || memcmp(v->value, "13", 2) != 0)
        return RT_EWSVERSION;
    const struct rt_http_header *k = rt_http_header_find(hs, n, "Sec-WebSocket-Key");
    uint8_t nonce[16];
    if (!k || rt_base64_decode(nonce, sizeof nonce, k->value, k->value_len) != 16)
        return RT_EWSHANDSHAKE;
    *key = k->value;
    *key_len = k->value_len;
    return 0;
}

int rt_ws_handshake_status(int err)
{
    return err == RT_EWSVERSION ? 426 : 400;
}

void rt_ws_accept(const char *key, size_t key_len, char out[RT_WS_ACCEPT_LEN + 1])
{
    /* Keys of other lengths than 24 fail the handshake check; a longer one
     * here is cut so the buffer below stays fixed. */
    char buf[64 + sizeof ws_guid];
    if (key_len > 64)
        key_len = 64;
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, ws_guid, sizeof ws_guid - 1);
    uint8_t digest[20];
    rt_sha1(buf, key_len + sizeof ws_guid - 1, digest);
    rt_base64_encode(out, digest, sizeof digest);
}

int rt_ws_handshake_response(char *out, size_t cap, const char *key, size_t key_len,
                             const char *extra)
{
    char accept[RT_WS_ACCEPT_LEN + 1];
    rt_ws_accept(key, key_len, accept);
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s\r\n",
                     accept, extra ? extra : "");
    if (n < 0 || (size_t)n >= cap)
        return RT_ENOSPACE;
    return n;
}

void rt_ws_client_key(const uint8_t nonce[16], char out[RT_WS_KEY_LEN + 1])
{
    rt_base64_encode(out, nonce, 16);
}

int rt_ws_client_check(const struct rt_http_response *resp, const char *key, size_t key_len)
{
    const struct rt_http_header *hs = resp->headers;
    size_t n = resp->num_headers;
    if (resp->status != 101)
        return RT_EWSHANDSHAKE;
    if (!has_token(hs, n, "Upgrade", "websocket") || !has_token(hs, n, "Connection", "Upgrade"))
        return RT_EWSHANDSHAKE;
    const struct rt_http_header *a = rt_http_header_find(hs, n, "Sec-WebSocket-Accept");
    char want[RT_WS_ACCEPT_LEN + 1];
    rt_ws_accept(key, key_len, want);
    if (!a || a->value_len != RT_WS_ACCEPT_LEN || memcmp(a->value, want, RT_WS_ACCEPT_LEN) != 0)
        return RT_EWSHANDSHAKE;
    return 0;
}

/* ======================================================================== */
/* Frame headers (section 5.2)                                              */
/* ======================================================================== */

int rt_ws_frame_header(uint8_t *out, size_t cap, const struct rt_ws_frame *f)
{
    uint8_t h[RT_WS_HEADER_MAX];
    size_t n = 2;
    h[0] = (uint8_t)((f->fin ? 0x80 : 0) | (f->rsv1 ? 0x40 : 0) | (f->opcode & 0x0F));
    h[1] = f->masked ? 0x80 : 0;
    if (f->len <= 125) {
        h[1] |= (uint8_t)f->len;
    } else if (f->len <= 0xFFFF) {
        h[1] |= 126;
        h[n++] = (uint8_t)(f->len >> 8);
        h[n++] = (uint8_t)f->len;
    } else {
        h[1] |= 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)(f->len >> (8 * i));
    }
    if (f->masked) {
        memcpy(h + n, f->mask, 4);
        n += 4;
    }
    if (n > cap)
        return RT_ENOSPACE;
    memcpy(out, h, n);
    return (int)n;
}

void rt_ws_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= key[(offset + i) & 3];
}

/* ======================================================================== */
/* UTF-8 (RFC 3629 section 4, the table of well-formed byte sequences)      */
/* ======================================================================== */

void rt_ws_utf8_init(struct rt_ws_utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xBF;
}

/* Sets up u for the continuation bytes after lead byte c; false when c
 * cannot start a sequence (a continuation byte, C0/C1 which would only
 * give overlong forms, F5..FF which would pass U+10FFFF). The narrowed
 * second-byte ranges exclude overlong forms (E0, F0), surrogates (ED) and
 * code points past U+10FFFF (F4). */
static bool utf8_lead(struct rt_ws_utf8 *u, uint8_t c)
{
    u->lo = 0x80;
    u->hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        u->need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        u->need = 2;
        if (c == 0xE0)
            u->lo = 0xA0;
        if (c == 0xED)
            u->hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        u->need = 3;
        if (c == 0xF0)
            u->lo = 0x90;
        if (c == 0xF4)
            u->hi = 0x8F;
    } else {
        return false;
    }
    return true;
}

int rt_ws_utf8_feed(struct rt_ws_utf8 *u, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (u->need == 0) {
            if (c < 0x80)
                continue;
            if (!utf8_lead(u, c))
                return RT_EWSUTF8;
        } else {
            if (c < u->lo || c > u->hi)
                return RT_EWSUTF8;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xBF;
        }
    }
    return 0;
}

bool rt_ws_utf8_done(const struct rt_ws_utf8 *u)
{
    return u->need == 0;
}

/* ======================================================================== */
/* The frame decoder                                                        */
/* ======================================================================== */

/*
 *        rt_ws_decoder_init()
 *               |
 *               v         header complete, len > 0
 *    +----> S_HEADER -----------------------------> S_PAYLOAD
 *    |          |  \                                    |
 *    |          |   `-- len == 0: frame ends at once    | payload all handed out
 *    |          |                                       |
 *    +----------+<--------------------------------------+
 *               |
 *               `-- any violation --> S_FAILED (sticky: every call returns d->err)
 *
 * Message state (msg_opcode) lives beside this: set by a TEXT/BINARY header,
 * cleared when a frame with FIN ends it. Control frames leave it alone.
 */
enum { S_HEADER, S_PAYLOAD, S_FAILED };

void rt_ws_decoder_init(struct rt_ws_decoder *d, bool server, bool deflate, uint64_t max_message)
{
    memset(d, 0, sizeof *d);
    d->server = server;
    d->deflate = deflate;
    d->max_message = max_message;
    d->state = S_HEADER;
    rt_ws_utf8_init(&d->utf8);
}

static int64_t fail(struct rt_ws_decoder *d, int err)
{
    d->state = S_FAILED;
    d->err = err;
    return err;
}

static bool is_control(uint8_t op)
{
    return op & 0x08;
}

/* Checks the first two header bytes (everything they can tell) and returns
 * the header's whole length, or RT_EWSPROTO. */
static int check_first_two(const struct rt_ws_decoder *d, uint8_t b0, uint8_t b1)
{
    bool fin = b0 & 0x80, rsv1 = b0 & 0x40, masked = b1 & 0x80;
    uint8_t op = b0 & 0x0F, len7 = b1 & 0x7F;
    if (op != RT_WS_CONT && op != RT_WS_TEXT && op != RT_WS_BINARY && op != RT_WS_CLOSE &&
        op != RT_WS_PING && op != RT_WS_PONG)
        return RT_EWSPROTO;
    if (b0 & 0x30)
        return RT_EWSPROTO; /* RSV2, RSV3: no extension we know uses them */
    /* permessage-deflate (RFC 7692 section 6) sets RSV1 on a message's first
     * frame only, and never on control frames. */
    if (rsv1 && (!d->deflate || (op != RT_WS_TEXT && op != RT_WS_BINARY)))
        return RT_EWSPROTO;
    if (is_control(op) && (!fin || len7 > RT_WS_CONTROL_MAX || (op == RT_WS_CLOSE && len7 == 1)))
        return RT_EWSPROTO;
    if (op == RT_WS_CONT && d->msg_opcode == 0)
        return RT_EWSPROTO;
    if ((op == RT_WS_TEXT || op == RT_WS_BINARY) && d->msg_opcode != 0)
        return RT_EWSPROTO;
    if (masked != d->server)
        return RT_EWSPROTO; /* section 5.1: clients mask, servers do not */
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
}

/* Fills ev for the end of the current frame (if it has ended) and closes the
 * message when the frame had FIN. Returns 0 or RT_EWSUTF8. */
static int end_frame_if_done(struct rt_ws_decoder *d, struct rt_ws_event *ev)
{
    ev->frame_end = d->frame_pos == d->frame.len;
    ev->message_end = ev->frame_end && d->frame.fin;
    if (!ev->frame_end) {
        d->state = S_PAYLOAD;
        return 0;
    }
    d->state = S_HEADER;
    if (!is_control(d->frame.opcode) && d->frame.fin) {
        bool text_ok =
            d->msg_opcode != RT_WS_TEXT || d->msg_compressed || rt_ws_utf8_done(&d->utf8);
        d->msg_opcode = 0;
        if (!text_ok)
            return RT_EWSUTF8;
    }
    return 0;
}

/* The header in d->hdr is complete: check the length, open a message. */
static int take_header(struct rt_ws_decoder *d, struct rt_ws_event *ev)
{
    const uint8_t *h = d->hdr;
    struct rt_ws_frame *f = &d->frame;
    f->fin = h[0] & 0x80;
    f->rsv1 = h[0] & 0x40;
    f->opcode = h[0] & 0x0F;
    f->masked = h[1] & 0x80;
    size_t n = 2;
    uint8_t len7 = h[1] & 0x7F;
    f->len = len7;
    if (len7 >= 126) {
        size_t bytes = len7 == 126 ? 2 : 8;
        f->len = 0;
        for (size_t i = 0; i < bytes; i++)
            f->len = f->len << 8 | h[n++];
        if (f->len >> 63)
            return RT_EWSPROTO; /* section 5.2: the most significant bit must be 0 */
    }
    if (f->masked)
        memcpy(f->mask, h + n, 4);
    if (!is_control(f->opcode)) {
        if (f->opcode != RT_WS_CONT) {
            d->msg_opcode = f->opcode;
            d->msg_compressed = f->rsv1;
            d->msg_len = 0;
            rt_ws_utf8_init(&d->utf8);
        }
        if (f->len > d->max_message - d->msg_len)
            return RT_EWSTOOBIG;
        d->msg_len += f->len;
    }
    d->frame_pos = 0;
    d->hdr_len = 0;
    ev->kind = RT_WS_EV_HEADER;
    ev->frame = *f;
    ev->msg_opcode = is_control(f->opcode) ? f->opcode : d->msg_opcode;
    ev->compressed = !is_control(f->opcode) && d->msg_compressed;
    ev->data = NULL;
    ev->data_len = 0;
    return end_frame_if_done(d, ev);
}

/* Collects header bytes from buf; returns bytes taken (the header is then
 * complete), RT_EMORE (all taken, header still incomplete) or an error. The
 * first two bytes are checked as soon as they are in, so most violations
 * fail before the rest of the header arrives. */
static int64_t decode_header(struct rt_ws_decoder *d, const uint8_t *buf, size_t len,
                             struct rt_ws_event *ev)
{
    size_t used = 0;
    for (;;) {
        int need = 2;
        if (d->hdr_len >= 2) {
            need = check_first_two(d, d->hdr[0], d->hdr[1]);
            if (need < 0)
                return fail(d, need);
            if (d->hdr_len == need) {
                int r = take_header(d, ev);
                return r < 0 ? fail(d, r) : (int64_t)used;
            }
        }
        if (used == len)
            return RT_EMORE;
        size_t take = (size_t)need - d->hdr_len;
        if (take > len - used)
            take = len - used;
        memcpy(d->hdr + d->hdr_len, buf + used, take);
        d->hdr_len = (uint8_t)(d->hdr_len + take);
        used += take;
    }
}

int64_t rt_ws_decode(struct rt_ws_decoder *d, uint8_t *buf, size_t len, struct rt_ws_event *ev)
{
    if (d->state == S_FAILED)
        return d->err;
    if (len == 0)
        return RT_EMORE;
    if (d->state == S_HEADER)
        return decode_header(d, buf, len, ev);

    uint64_t left = d->frame.len - d->frame_pos;
    size_t n = left < len ? (size_t)left : len;
    if (n > INT64_MAX)
        n = INT64_MAX;
    if (d->frame.masked)
        rt_ws_mask(buf, n, d->frame.mask, d->frame_pos);
    if (!is_control(d->frame.opcode) && d->msg_opcode == RT_WS_TEXT && !d->msg_compressed &&
        rt_ws_utf8_feed(&d->utf8, buf, n) < 0)
        return fail(d, RT_EWSUTF8);
    d->frame_pos += n;
    ev->kind = RT_WS_EV_DATA;
    ev->frame = d->frame;
    ev->msg_opcode = is_control(d->frame.opcode) ? d->frame.opcode : d->msg_opcode;
    ev->compressed = !is_control(d->frame.opcode) && d->msg_compressed;
    ev->data = buf;
    ev->data_len = n;
    int r = end_frame_if_done(d, ev);
    if (r < 0)
        return fail(d, r);
    return (int64_t)n;
}

/* ======================================================================== */
/* Close frames (sections 5.5.1 and 7.4)                                    */
/* ======================================================================== */

bool rt_ws_close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int rt_ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const char **reason,
                      size_t *reason_len)
{
    *reason = (const char *)payload;
    *reason_len = 0;
    if (len == 0) {
        *code = RT_WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1 || len > RT_WS_CONTROL_MAX)
        return RT_EWSPROTO;
    *code = (uint16_t)(payload[0] << 8 | payload[1]);
    if (!rt_ws_close_code_valid(*code))
        return RT_EWSPROTO;
    struct rt_ws_utf8 u;
    rt_ws_utf8_init(&u);
    if (rt_ws_utf8_feed(&u, payload + 2, len - 2) < 0 || !rt_ws_utf8_done(&u))
        return RT_EWSUTF8;
    *reason = (const char *)payload + 2;
    *reason_len = len - 2;
    return 0;
}

int rt_ws_close_build(uint8_t *out, size_t cap, uint16_t code, const char *reason,
                      size_t reason_len)
{
    if (!rt_ws_close_code_valid(code))
        return RT_EWSPROTO;
    if (reason_len > RT_WS_CONTROL_MAX - 2 || 2 + reason_len > cap)
        return RT_ENOSPACE;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len)
        memcpy(out + 2, reason, reason_len);
    return (int)(2 + reason_len);
}
