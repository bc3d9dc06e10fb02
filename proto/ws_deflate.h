/*
 * ws_deflate.h - permessage-deflate (RFC 7692), private until it moves into
 * rt_proto.h. See proto/ws_deflate.c for the story.
 */
#ifndef RT_WS_DEFLATE_H
#define RT_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "rt_proto.h"

/* ---- permessage-deflate (RFC 7692) ------------------------------------- */

enum {
    RT_EWSDEFLATE = -30060, /* compressed data we cannot inflate: fail (1007) */
    RT_EWSEXT = -30062,     /* extension header malformed or not acceptable */
    RT_EZLIB = -30063,      /* zlib failed (out of memory): close 1011 */
};

/*
 * What one side asks for (struct rt_wsd_prefs) or what was agreed (struct
 * rt_wsd_params), in the RFC's own four parameters. Window bits are 9..15
 * (15: the default, 32 KiB); 8 is valid on the wire but zlib cannot
 * compress raw deflate with a 256-byte window, so we never agree to use it
 * ourselves (we inflate 8 fine).
 *
 * As prefs of a server: server_no_context_takeover: we reset our deflater
 * per message (lets one compressed copy go to many subscribers);
 * client_no_context_takeover: we ask the client to reset too (saves our
 * inflater's memory between messages only with a zlib that frees it; we
 * still keep it); *_max_window_bits: the largest window we allow each side
 * (a client window is only limited when the client offered the parameter).
 *
 * As prefs of a client: the same four, put in the offer (a bits value of 15
 * is not written, except that "client_max_window_bits" is always offered
 * without a value to say we accept a limit).
 */
struct rt_wsd_prefs {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
};

/* The agreed parameters; bits are 8..15, 15 when the response named none. */
struct rt_wsd_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
};

/*
 * Server side. value[0..len) is one Sec-WebSocket-Extensions header value: a
 * comma-separated list of offers in the client's order of preference, each
 * "name; param; param=value; param=\"value\"". Picks the first
 * permessage-deflate offer we can accept under prefs and fills *out.
 * Offers with an unknown parameter, a duplicate one, a value where none
 * belongs, a missing value, or window bits other than "8".."15" are declined
 * (RFC 7692 section 5: a server MUST decline such an offer), as is one that
 * wants server_max_window_bits=8. Returns 1 (accepted), 0 (nothing
 * acceptable: go on without compression), or RT_EWSEXT when the header is
 * not extension-list syntax (RFC 6455 section 9.1); the caller may then
 * answer 400 or simply go on without compression. With several header
 * lines, call once per line until one returns 1.
 */
int rt_wsd_server_negotiate(const char *value, size_t len, const struct rt_wsd_prefs *prefs,
                            struct rt_wsd_params *out);

/* Writes "Sec-WebSocket-Extensions: permessage-deflate[; ...]\r\n" for the
 * agreed params p (a server's response), into out[0..cap), NUL-terminated,
 * so it can go in rt_http_head_out.extra. Returns the bytes written (without
 * the NUL) or RT_ENOSPACE. */
int rt_wsd_response_write(char *out, size_t cap, const struct rt_wsd_params *p);

/* Client side: writes "Sec-WebSocket-Extensions: permessage-deflate; ...\r\n"
 * for prefs into out[0..cap), NUL-terminated. Returns bytes or RT_ENOSPACE. */
int rt_wsd_offer_write(char *out, size_t cap, const struct rt_wsd_prefs *prefs);

/*
 * Client side: checks the server's Sec-WebSocket-Extensions value against
 * the offer made from prefs and fills *out. The value must be exactly one
 * permessage-deflate element with known, unrepeated, well-formed
 * parameters; server_max_window_bits must be present and no larger than
 * ours when we offered one, server_no_context_takeover present when we
 * asked for it, client_max_window_bits only when we offered it (always, in
 * our offers) and not 8. Returns 0, or RT_EWSEXT: the client must then
 * _Fail the WebSocket Connection_ (RFC 7692 section 5).
 */
int rt_wsd_client_accept(const char *value, size_t len, const struct rt_wsd_prefs *prefs,
                         struct rt_wsd_params *out);

/*
 * One connection's compression state: a deflater for what we send and an
 * inflater for what we receive. The caller owns the struct (embed it in the
 * connection); zlib allocates the windows and tables inside with malloc
 * (about 2^(bits+2) + 2^(memLevel+9) bytes for the deflater, 2^bits + 7 KiB
 * for the inflater, allocated on first use), and rt_wsd_close() frees them.
 * Private fields.
 */
struct rt_wsd {
    z_stream def, inf;
    bool def_ready, inf_ready;
    bool def_reset, inf_reset; /* no context takeover in that direction */
    int def_bits, inf_bits;
    int level;
};

/* Sets up d for params p as the server (is_server) or the client, with a
 * zlib level (0..9, or -1 for zlib's default 6). Allocates nothing yet.
 * Returns 0, or RT_EWSEXT when p asks us to compress with 8 window bits. */
int rt_wsd_init(struct rt_wsd *d, const struct rt_wsd_params *p, bool is_server, int level);

/* Frees what zlib allocated. d may be zeroed or initialised; idempotent. */
void rt_wsd_close(struct rt_wsd *d);

/* The most bytes rt_wsd_compress() writes for in_len bytes of input: give it
 * at least this much room. */
size_t rt_wsd_compress_bound(size_t in_len); /* about in_len * 1.14 + 64 */

/*
 * Compresses one whole message in[0..in_len) for a frame with RSV1 set:
 * raw deflate, Z_SYNC_FLUSH, the trailing 00 00 ff ff removed (RFC 7692
 * section 7.2.1). Without context takeover the deflater is reset first, so
 * the bytes depend on nothing but the message, the level and the window:
 * a server can compress a publish once and send the same bytes to every
 * subscriber that agreed to server_no_context_takeover with no smaller
 * window. Returns the bytes written to out, RT_ENOSPACE when cap is below
 * what was needed (the deflater is then reset, which is safe: a fresh
 * deflater's output is valid for any inflater), or RT_EZLIB.
 */
int64_t rt_wsd_compress(struct rt_wsd *d, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t cap);

/*
 * Inflates one whole message: in[0..in_len) is the payload of all its
 * frames joined (this API does not stream; the frame decoder already
 * bounds the compressed size), to which 00 00 ff ff is appended as section
 * 7.2.2 says. Writes at most max_len bytes to out (out holds max_len).
 * Returns the message length, RT_EWSTOOBIG when it would pass max_len (a
 * zip bomb stops there, having cost max_len bytes of work: close with
 * 1009), RT_EWSDEFLATE when the data is not deflate (close 1007), or
 * RT_EZLIB. After an error d is only good for rt_wsd_close(). A block with
 * BFINAL set ends the peer's stream: the inflater starts afresh after it.
 */
int64_t rt_wsd_decompress(struct rt_wsd *d, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t max_len);

#endif
