/*
 * ws_deflate.c - permessage-deflate (RFC 7692): negotiating it in the
 * handshake, and compressing and inflating one message at a time.
 *
 * THE IDEA: a WebSocket message is compressed as raw DEFLATE (no zlib or
 * gzip wrapper) and flushed with Z_SYNC_FLUSH, which ends the output on a
 * byte boundary with an empty stored block, always 00 00 ff ff. Those four
 * bytes are dropped on the wire and put back by the receiver (section
 * 7.2.1, 7.2.2). "Context takeover" means each side keeps its LZ77 window
 * between messages, so a message can point back into earlier ones: small
 * JSON messages that repeat each other's keys shrink several times more
 * that way. The price is a window per connection on each side; with
 * "no context takeover" a side resets per message instead.
 *
 * Negotiation (section 5-7): the client offers, in Sec-WebSocket-Extensions,
 * one or more "permessage-deflate; param; param=value" elements; the server
 * accepts at most one and echoes the parameters it agreed to.
 *
 *     client: permessage-deflate; client_max_window_bits, permessage-deflate
 *     server: permessage-deflate; server_no_context_takeover
 *
 * WE SIMPLIFIED: a message is inflated whole, not frame by frame (the frame
 * decoder bounds the compressed size first); a peer that ends its stream
 * with BFINAL loses its context (we start a fresh inflater); we never
 * compress with an 8-bit window because zlib cannot.
 */
#include <string.h>

#include "rt_proto.h"

/* ======================================================================== */
/* Reading an extension list (RFC 6455 section 9.1)                         */
/* ======================================================================== */

#define MAX_PARAMS 8

struct ext_param {
    const char *name;
    size_t name_len;
    char value[4]; /* the (unquoted) value, when short enough to matter */
    size_t value_len;
    bool has_value;
};

struct ext_elem {
    const char *name;
    size_t name_len;
    struct ext_param params[MAX_PARAMS];
    size_t num_params;
    bool too_many; /* more than MAX_PARAMS: no offer of ours has that many */
};

struct lex {
    const char *s;
    size_t len, pos;
};

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(struct lex *l)
{
    while (l->pos < l->len && (l->s[l->pos] == ' ' || l->s[l->pos] == '\t'))
        l->pos++;
}

static size_t read_token(struct lex *l)
{
    size_t start = l->pos;
    while (l->pos < l->len && is_tchar((unsigned char)l->s[l->pos]))
        l->pos++;
    return l->pos - start;
}

/* A value: token or quoted-string. Keeps the unquoted text in p->value when
 * it fits; a longer value gets value_len > sizeof value (never valid bits). */
static int read_value(struct lex *l, struct ext_param *p)
{
    p->has_value = true;
    p->value_len = 0;
    if (l->pos < l->len && l->s[l->pos] == '"') {
        l->pos++;
        for (;;) {
            if (l->pos >= l->len)
                return RT_EWSEXT;
            char c = l->s[l->pos++];
            if (c == '"')
                break;
            if (c == '\\') {
                if (l->pos >= l->len)
                    return RT_EWSEXT;
                c = l->s[l->pos++];
            }
            if (p->value_len < sizeof p->value)
                p->value[p->value_len] = c;
            p->value_len++;
        }
        return 0;
    }
    size_t start = l->pos, n = read_token(l);
    if (n == 0)
        return RT_EWSEXT;
    memcpy(p->value, l->s + start, n < sizeof p->value ? n : sizeof p->value);
    p->value_len = n;
    return 0;
}

/* One element: extension-token *( OWS ";" OWS param [ "=" value ] ). */
static int read_elem(struct lex *l, struct ext_elem *e)
{
    memset(e, 0, sizeof *e);
    skip_ows(l);
    e->name = l->s + l->pos;
    e->name_len = read_token(l);
    if (e->name_len == 0)
        return RT_EWSEXT;
    for (;;) {
        skip_ows(l);
        if (l->pos >= l->len || l->s[l->pos] != ';')
            return 0;
        l->pos++;
        skip_ows(l);
        struct ext_param p = {.name = l->s + l->pos};
        p.name_len = read_token(l);
        if (p.name_len == 0)
            return RT_EWSEXT;
        skip_ows(l);
        if (l->pos < l->len && l->s[l->pos] == '=') {
            l->pos++;
            skip_ows(l);
            if (read_value(l, &p) < 0)
                return RT_EWSEXT;
        }
        if (e->num_params < MAX_PARAMS)
            e->params[e->num_params++] = p;
        else
            e->too_many = true;
    }
}

/* Reads the next element of the list and the ',' after it. Returns 1 with
 * *e filled, 0 at the end of the list, RT_EWSEXT on bad syntax. Empty list
 * elements (", ,") are allowed, as RFC 9110's #rule says. */
static int next_elem(struct lex *l, struct ext_elem *e)
{
    for (;;) {
        skip_ows(l);
        if (l->pos >= l->len)
            return 0;
        if (l->s[l->pos] != ',')
            break;
        l->pos++;
    }
    if (read_elem(l, e) < 0)
        return RT_EWSEXT;
    skip_ows(l);
    if (l->pos < l->len) {
        if (l->s[l->pos] != ',')
            return RT_EWSEXT;
        l->pos++;
    }
    return 1;
}

static bool name_is(const char *s, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != name[i])
            return false;
    }
    return true;
}

/* ======================================================================== */
/* The four parameters                                                      */
/* ======================================================================== */

/* What an element says, checked against section 7.1's grammar. */
struct pmd {
    bool snct, cnct; /* the two no_context_takeover flags */
    bool has_smwb, has_cmwb;
    int smwb, cmwb; /* 0: the parameter came without a value */
};

/* "8".."15", no leading zeros, no sign (section 7.1.2.1). */
static int parse_bits(const struct ext_param *p)
{
    if (!p->has_value || p->value_len == 0 || p->value_len > 2)
        return -1;
    int v = 0;
    for (size_t i = 0; i < p->value_len; i++) {
        if (p->value[i] < '0' || p->value[i] > '9')
            return -1;
        v = v * 10 + (p->value[i] - '0');
    }
    if (p->value[0] == '0' || v < 8 || v > 15)
        return -1;
    return v;
}

/* Reads e's parameters into *m. Returns 0, or -1 for an unknown, repeated or
 * malformed one. value_required: client_max_window_bits needs a value
 * (in a response it does; in an offer it is optional). */
static int read_pmd(const struct ext_elem *e, struct pmd *m, bool cmwb_value_required)
{
    memset(m, 0, sizeof *m);
    if (e->too_many)
        return -1;
    for (size_t i = 0; i < e->num_params; i++) {
        const struct ext_param *p = &e->params[i];
        bool *seen;
        if (name_is(p->name, p->name_len, "server_no_context_takeover"))
            seen = &m->snct;
        else if (name_is(p->name, p->name_len, "client_no_context_takeover"))
            seen = &m->cnct;
        else if (name_is(p->name, p->name_len, "server_max_window_bits"))
            seen = &m->has_smwb;
        else if (name_is(p->name, p->name_len, "client_max_window_bits"))
            seen = &m->has_cmwb;
        else
            return -1;
        if (*seen)
            return -1;
        *seen = true;
        if (seen == &m->snct || seen == &m->cnct) {
            if (p->has_value)
                return -1;
        } else if (seen == &m->has_smwb) {
            if ((m->smwb = parse_bits(p)) < 0)
                return -1;
        } else if (p->has_value || cmwb_value_required) {
            if ((m->cmwb = parse_bits(p)) < 0)
                return -1;
        }
    }
    return 0;
}

static uint8_t clamp_bits(uint8_t bits)
{
    return bits < 9 || bits > 15 ? 15 : bits;
}

/* ======================================================================== */
/* Server side                                                              */
/* ======================================================================== */

/* Our answer to one valid offer m, or false to decline it. */
static bool answer_offer(const struct pmd *m, const struct rt_wsd_prefs *prefs,
                         struct rt_wsd_params *out)
{
    uint8_t our_smwb = clamp_bits(prefs->server_max_window_bits);
    uint8_t our_cmwb = clamp_bits(prefs->client_max_window_bits);

    out->server_no_context_takeover = m->snct || prefs->server_no_context_takeover;
    out->client_no_context_takeover = m->cnct || prefs->client_no_context_takeover;
    out->server_max_window_bits = our_smwb;
    out->server_bits_named = m->has_smwb;
    if (m->has_smwb) {
        if (m->smwb < 9)
            return false; /* zlib cannot compress with a 256-byte window */
        if (m->smwb < our_smwb)
            out->server_max_window_bits = (uint8_t)m->smwb;
    }
    /* Without client_max_window_bits in the offer we may not limit the
     * client (section 7.1.2.2): we inflate with 15 bits. */
    out->client_max_window_bits = 15;
    if (m->has_cmwb) {
        out->client_max_window_bits = our_cmwb;
        if (m->cmwb != 0 && m->cmwb < our_cmwb)
            out->client_max_window_bits = (uint8_t)m->cmwb;
    }
    return true;
}

int rt_wsd_server_negotiate(const char *value, size_t len, const struct rt_wsd_prefs *prefs,
                            struct rt_wsd_params *out)
{
    struct lex l = {value, len, 0};
    struct ext_elem e;
    bool accepted = false;
    int r;
    while ((r = next_elem(&l, &e)) == 1) {
        if (accepted || !name_is(e.name, e.name_len, "permessage-deflate"))
            continue; /* keep reading: the whole header must parse */
        struct pmd m;
        if (read_pmd(&e, &m, false) == 0 && answer_offer(&m, prefs, out))
            accepted = true;
    }
    if (r < 0)
        return RT_EWSEXT;
    return accepted ? 1 : 0;
}

/* Appends s to out[0..cap) at *pos, keeping room for the NUL. */
static bool put(char *out, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (cap == 0 || *pos + n >= cap)
        return false;
    memcpy(out + *pos, s, n + 1);
    *pos += n;
    return true;
}

static bool put_bits(char *out, size_t cap, size_t *pos, const char *name, int bits)
{
    char num[4] = {(char)('0' + bits / 10), (char)('0' + bits % 10), 0, 0};
    return put(out, cap, pos, name) && put(out, cap, pos, bits >= 10 ? num : num + 1);
}

int rt_wsd_response_write(char *out, size_t cap, const struct rt_wsd_params *p)
{
    size_t pos = 0;
    bool ok = put(out, cap, &pos, "Sec-WebSocket-Extensions: permessage-deflate");
    if (ok && p->server_no_context_takeover)
        ok = put(out, cap, &pos, "; server_no_context_takeover");
    if (ok && p->client_no_context_takeover)
        ok = put(out, cap, &pos, "; client_no_context_takeover");
    if (ok && (p->server_max_window_bits < 15 || p->server_bits_named))
        ok = put_bits(out, cap, &pos, "; server_max_window_bits=", p->server_max_window_bits);
    if (ok && p->client_max_window_bits < 15)
        ok = put_bits(out, cap, &pos, "; client_max_window_bits=", p->client_max_window_bits);
    if (ok)
        ok = put(out, cap, &pos, "\r\n");
    return ok ? (int)pos : RT_ENOSPACE;
}

/* ======================================================================== */
/* Client side                                                              */
/* ======================================================================== */

int rt_wsd_offer_write(char *out, size_t cap, const struct rt_wsd_prefs *prefs)
{
    uint8_t smwb = clamp_bits(prefs->server_max_window_bits);
    uint8_t cmwb = clamp_bits(prefs->client_max_window_bits);
    size_t pos = 0;
    bool ok = put(out, cap, &pos, "Sec-WebSocket-Extensions: permessage-deflate");
    if (ok && prefs->server_no_context_takeover)
        ok = put(out, cap, &pos, "; server_no_context_takeover");
    if (ok && prefs->client_no_context_takeover)
        ok = put(out, cap, &pos, "; client_no_context_takeover");
    if (ok && smwb < 15)
        ok = put_bits(out, cap, &pos, "; server_max_window_bits=", smwb);
    if (ok && cmwb < 15)
        ok = put_bits(out, cap, &pos, "; client_max_window_bits=", cmwb);
    else if (ok)
        ok = put(out, cap, &pos, "; client_max_window_bits");
    if (ok)
        ok = put(out, cap, &pos, "\r\n");
    return ok ? (int)pos : RT_ENOSPACE;
}

int rt_wsd_client_accept(const char *value, size_t len, const struct rt_wsd_prefs *prefs,
                         struct rt_wsd_params *out)
{
    struct lex l = {value, len, 0};
    struct ext_elem e, extra;
    struct pmd m;
    if (next_elem(&l, &e) != 1 || next_elem(&l, &extra) != 0)
        return RT_EWSEXT; /* exactly one element, and we offered only this */
    if (!name_is(e.name, e.name_len, "permessage-deflate") || read_pmd(&e, &m, true) < 0)
        return RT_EWSEXT;

    uint8_t asked_smwb = clamp_bits(prefs->server_max_window_bits);
    if (asked_smwb < 15 && (!m.has_smwb || m.smwb > asked_smwb))
        return RT_EWSEXT;
    if (prefs->server_no_context_takeover && !m.snct)
        return RT_EWSEXT;
    if (m.has_cmwb && m.cmwb < 9)
        return RT_EWSEXT; /* we cannot compress with 8 bits (section 7.1.2.2) */

    out->server_no_context_takeover = m.snct;
    out->client_no_context_takeover = m.cnct || prefs->client_no_context_takeover;
    out->server_max_window_bits = m.has_smwb ? (uint8_t)m.smwb : 15;
    out->client_max_window_bits = m.has_cmwb ? (uint8_t)m.cmwb : 15;
    uint8_t our_cmwb = clamp_bits(prefs->client_max_window_bits);
    if (our_cmwb < out->client_max_window_bits)
        out->client_max_window_bits = our_cmwb; /* we promised no more */
    return 0;
}

/* ======================================================================== */
/* Compressing and inflating                                                */
/* ======================================================================== */

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

int rt_wsd_init(struct rt_wsd *d, const struct rt_wsd_params *p, bool is_server, int level)
{
    memset(d, 0, sizeof *d);
    d->def_bits = is_server ? p->server_max_window_bits : p->client_max_window_bits;
    d->inf_bits = is_server ? p->client_max_window_bits : p->server_max_window_bits;
    d->def_reset = is_server ? p->server_no_context_takeover : p->client_no_context_takeover;
    d->inf_reset = is_server ? p->client_no_context_takeover : p->server_no_context_takeover;
    d->level = level;
    if (d->def_bits < 9 || d->def_bits > 15 || d->inf_bits < 8 || d->inf_bits > 15)
        return RT_EWSEXT;
    return 0;
}

void rt_wsd_close(struct rt_wsd *d)
{
    if (d->def_ready)
        deflateEnd(&d->def);
    if (d->inf_ready)
        inflateEnd(&d->inf);
    d->def_ready = d->inf_ready = false;
}

size_t rt_wsd_compress_bound(size_t in_len)
{
    /* Incompressible input costs 5 bytes per stored block, but zlib can
     * only store a block still inside its window: with a small window it
     * falls back to fixed Huffman codes, up to 9 bits per byte. This is
     * zlib's own conservative deflateBound() plus room for the flush. */
    return in_len + (in_len >> 3) + (in_len >> 8) + (in_len >> 9) + 64;
}

int64_t rt_wsd_compress(struct rt_wsd *d, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t cap)
{
    if (in_len == 0) {
        /* An empty message is one byte: the start of an empty stored block
         * that the receiver's 00 00 ff ff completes (section 7.2.3.6).
         * zlib would refuse a second flush with no input in between. */
        if (cap < 1)
            return RT_ENOSPACE;
        out[0] = 0x00;
        return 1;
    }
    if (!d->def_ready) {
        if (deflateInit2(&d->def, d->level, Z_DEFLATED, -d->def_bits, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return RT_EZLIB;
        d->def_ready = true;
    } else if (d->def_reset) {
        deflateReset(&d->def);
    }
    d->def.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const */
    d->def.next_out = out;
    int r = Z_OK;
    size_t left = in_len;
    /* avail_in and avail_out are uInt: feed a huge message in pieces. */
    do {
        uInt chunk = left > 0x40000000u ? 0x40000000u : (uInt)left;
        d->def.avail_in = chunk;
        size_t room = cap - (size_t)(d->def.next_out - out);
        d->def.avail_out = room > 0x40000000u ? 0x40000000u : (uInt)room;
        r = deflate(&d->def, left == chunk ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        left -= chunk - d->def.avail_in;
    } while (r == Z_OK && left > 0 && d->def.avail_out > 0);
    size_t n = (size_t)(d->def.next_out - out);
    /* A full buffer may hide more output: treat it as too small. */
    if (r != Z_OK || left > 0 || d->def.avail_out == 0 || n < 4 || memcmp(out + n - 4, tail, 4)) {
        deflateReset(&d->def);
        return r == Z_OK || r == Z_BUF_ERROR ? RT_ENOSPACE : RT_EZLIB;
    }
    return (int64_t)(n - 4);
}

/* Runs inflate over in[0..len) into what is left of the output. When the
 * output fills, inflation goes on into one spare byte: if that byte is
 * written, the message is longer than the caller's limit. Returns Z_OK,
 * Z_STREAM_END, a negative zlib result, or OVER_LIMIT. */
#define OVER_LIMIT 100 /* not a zlib result */

static int feed(struct rt_wsd *d, const uint8_t *in, size_t len, uint8_t *spare)
{
    d->inf.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const */
    d->inf.avail_in = (uInt)len;
    for (;;) {
        if (d->inf.avail_out == 0) {
            if (d->inf.next_out == spare + 1)
                return OVER_LIMIT;
            d->inf.next_out = spare;
            d->inf.avail_out = 1;
        }
        int r = inflate(&d->inf, Z_SYNC_FLUSH);
        if (r == Z_BUF_ERROR || (r == Z_OK && d->inf.avail_in == 0 && d->inf.avail_out > 0))
            return d->inf.next_out == spare + 1 ? OVER_LIMIT : Z_OK; /* all input used */
        if (r != Z_OK)
            return r;
    }
}

int64_t rt_wsd_decompress(struct rt_wsd *d, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t max_len)
{
    if (in_len > 0x40000000u || max_len > 0x40000000u)
        return RT_EWSTOOBIG;
    if (!d->inf_ready) {
        memset(&d->inf, 0, sizeof d->inf);
        if (inflateInit2(&d->inf, -d->inf_bits) != Z_OK)
            return RT_EZLIB;
        d->inf_ready = true;
    } else if (d->inf_reset) {
        inflateReset(&d->inf);
    }
    uint8_t spare;
    d->inf.next_out = out;
    d->inf.avail_out = (uInt)max_len;
    int r = feed(d, in, in_len, &spare);
    if (r == Z_OK)
        r = feed(d, tail, sizeof tail, &spare);
    if (r == Z_OK && d->inf.avail_out == 0 && d->inf.next_out != &spare + 1) {
        /* The output is exactly full: a match may still be half copied. */
        d->inf.next_out = &spare;
        d->inf.avail_out = 1;
        inflate(&d->inf, Z_SYNC_FLUSH);
    }
    if (r == OVER_LIMIT || d->inf.next_out == &spare + 1)
        return RT_EWSTOOBIG;
    size_t n = (size_t)((uint8_t *)d->inf.next_out - out);
    if (d->inf.next_out == &spare)
        n = max_len;
    if (r == Z_STREAM_END) {
        inflateReset(&d->inf); /* BFINAL: the peer's next message starts afresh */
        return (int64_t)n;
    }
    if (r == Z_MEM_ERROR)
        return RT_EZLIB;
    return r == Z_OK ? (int64_t)n : RT_EWSDEFLATE;
}
