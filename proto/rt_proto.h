/*
 * rt_proto.h - rtlab's wire formats, without I/O.
 *
 * Everything here is pure: it reads the caller's bytes and writes into the
 * caller's buffers. Nothing allocates, prints, exits or touches a socket, so
 * the servers, the clients, the simulator, the fuzzers and the unit tests
 * all link it directly.
 *
 * Return convention (as in picohttpparser): a parser returns the number of
 * bytes it consumed (> 0) when it has a whole unit, RT_EMORE when the input
 * ends before the unit does (call again with more bytes), or a negative
 * RT_E* error. The RT_E* values sit far below libuv's error codes (which are
 * -errno values and UV_EOF = -4095), so both kinds can share one int.
 *
 * Views: parsed names and values are pointers into the caller's buffer, not
 * copies. They stay valid only while that buffer is unchanged.
 */
#ifndef RT_PROTO_H
#define RT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_limits.h"

/* ---- Errors ------------------------------------------------------------ */

enum {
    RT_EMORE = -30001,       /* input ends before the unit does: read more */
    RT_EBADREQ = -30002,     /* malformed HTTP message (400) */
    RT_EHEADTOOBIG = -30003, /* request line + headers over the limit (431) */
    RT_EBODYTOOBIG = -30004, /* body over the limit (413) */
    RT_ENOTIMPL = -30005,    /* a Transfer-Encoding we do not implement (501) */
    RT_EVERSION = -30006,    /* HTTP major version other than 1 (505) */
    RT_EBADRESP = -30007,    /* malformed HTTP response (client side) */
    RT_EBADURL = -30008,     /* URL we cannot use */
    RT_EBADJSON = -30009,    /* not a JSON value */
    RT_EBADNAME = -30010,    /* topic or event name outside RT_NAME rules */
    RT_ENOSPACE = -30011,    /* output buffer too small */
};

/* A short English description of an RT_E* code (or "unknown error"). */
const char *rt_strerror(int err);

/* ---- HTTP/1.1 requests (server side) ----------------------------------- */

struct rt_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* optional whitespace around it already trimmed */
    size_t value_len;
};

struct rt_http_request {
    const char *method;
    size_t method_len;
    const char *path; /* the request target up to '?' */
    size_t path_len;
    const char *query; /* after '?', without it; NULL when there is none */
    size_t query_len;
    int minor_version; /* HTTP/1.x */
    struct rt_http_header headers[RT_HTTP_MAX_HEADERS];
    size_t num_headers;

    /* Derived from the headers by the parser: */
    size_t head_len;         /* bytes of request line + headers + blank line */
    uint64_t content_length; /* 0 when absent; meaningless when chunked */
    bool chunked;            /* Transfer-Encoding: chunked */
    bool keep_alive;         /* HTTP/1.1 unless "close"; 1.0 only with "keep-alive" */
    bool expect_continue;    /* Expect: 100-continue */
};

/*
 * Parses a request head in buf[0..len).
 *
 * prev_len is how many bytes of this same buffer an earlier call already saw
 * and answered RT_EMORE for (0 on the first call): the search for the end of
 * the head resumes there, so feeding a head one byte at a time costs O(n).
 *
 * Returns req->head_len when the head is complete, RT_EMORE, or:
 *   RT_EHEADTOOBIG  no end of head within max_head bytes;
 *   RT_EBADREQ      malformed request line or header line, a bare CR, a
 *                   line folded with leading whitespace (obs-fold), a
 *                   header name with spaces, both Content-Length and
 *                   Transfer-Encoding, Content-Length values that differ or
 *                   are not digits, more than RT_HTTP_MAX_HEADERS headers;
 *   RT_EBODYTOOBIG  Content-Length over max_body;
 *   RT_ENOTIMPL     Transfer-Encoding other than exactly "chunked";
 *   RT_EVERSION     HTTP/2.0 and other majors than 1.
 * Lines may end in CRLF or a lone LF (RFC 9112 section 2.2 allows the latter).
 */
int rt_http_request_parse(struct rt_http_request *req, const char *buf, size_t len, size_t prev_len,
                          size_t max_head, uint64_t max_body);

/* The first header named name (case-insensitive), or NULL. */
const struct rt_http_header *rt_http_header_find(const struct rt_http_header *headers,
                                                 size_t num_headers, const char *name);

/* True when the comma-separated header value contains token (case-insensitive),
 * as in "Connection: keep-alive, Upgrade". */
bool rt_http_token_list_has(const char *value, size_t value_len, const char *token);

/* ---- Chunked bodies ----------------------------------------------------- */

/* Scanner state for a chunked body; zero it before the first call. */
struct rt_http_chunked {
    uint8_t state;
    uint64_t chunk_left; /* data bytes left in the current chunk */
    uint64_t body_len;   /* decoded bytes so far */
    size_t pos;          /* where the next call resumes in the caller's buffer */
};

/*
 * Scans a chunked body in buf[0..len) (buf starts at the body's first byte),
 * resuming at d->pos. Chunk extensions and trailers are accepted and ignored.
 * Returns the encoded length of the whole body (through the final CRLF)
 * when complete, RT_EMORE, RT_EBADREQ, or RT_EBODYTOOBIG when the decoded
 * size would pass max_body.
 */
int64_t rt_http_chunked_scan(struct rt_http_chunked *d, const char *buf, size_t len,
                             uint64_t max_body);

/* Decodes a body that rt_http_chunked_scan() reported complete, in place:
 * the data ends up at buf[0..return value). */
size_t rt_http_chunked_decode(char *buf, size_t len);

/* ---- HTTP/1.1 responses ------------------------------------------------ */

/* The reason phrase for a status code ("OK", "No Content", ...). */
const char *rt_http_reason(int status);

struct rt_http_head_out {
    int status;
    const char *content_type; /* NULL: no Content-Type */
    int64_t content_length;   /* < 0: no Content-Length (1xx, 101, 204, streams) */
    bool close;               /* "Connection: close" */
    const char *date;         /* an IMF-fixdate (29 chars), or NULL for none */
    const char *extra;        /* NULL, or whole header lines each ending in CRLF */
};

/* Writes a status line and headers (and the blank line) into out[0..cap).
 * Returns the bytes written, or RT_ENOSPACE. */
int rt_http_response_head(char *out, size_t cap, const struct rt_http_head_out *h);

/* Formats t (seconds since the epoch) as an IMF-fixdate, as the Date header
 * wants: "Sun, 06 Nov 1994 08:49:37 GMT" plus a NUL (out needs 30 bytes). */
void rt_http_date(char out[30], int64_t t);

/* ---- HTTP/1.1 responses (client side) ---------------------------------- */

struct rt_http_response {
    int minor_version;
    int status;
    struct rt_http_header headers[RT_HTTP_MAX_HEADERS];
    size_t num_headers;

    size_t head_len;
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;
};

/* Parses a response head in buf[0..len), like rt_http_request_parse() (the
 * same prev_len contract). Returns head_len, RT_EMORE, RT_EBADRESP or
 * RT_EHEADTOOBIG. */
int rt_http_response_parse(struct rt_http_response *resp, const char *buf, size_t len,
                           size_t prev_len, size_t max_head);

/* True when a response to method with this status has no body whatever its
 * headers say (HEAD, 1xx, 204, 304). */
bool rt_http_response_bodyless(const char *method, int status);

/* ---- URLs and query strings -------------------------------------------- */

struct rt_url {
    char scheme[8];  /* "http" or "ws" (lower case) */
    char host[256];  /* without brackets for IPv6 literals */
    uint16_t port;   /* explicit, or 80 */
    char path[1024]; /* path and query, "/" when absent */
};

/* Parses "http://host[:port][/path][?query]" or "ws://...". Returns 0 or
 * RT_EBADURL (https/wss are refused: rtlab speaks plain TCP). */
int rt_url_parse(struct rt_url *url, const char *text);

/*
 * Looks up key in an application/x-www-form-urlencoded query string and
 * percent-decodes its value ('+' becomes a space) into out[0..cap), NUL-
 * terminated. Returns the decoded length, -1 when the key is absent, or
 * RT_ENOSPACE / RT_EBADREQ (bad %-escape, or a decoded NUL).
 */
int rt_query_get(const char *query, size_t query_len, const char *key, char *out, size_t cap);

/* Parses all of s[0..len) as a decimal uint64 without sign or spaces.
 * Returns 0, or RT_EBADREQ on anything else, overflow included. */
int rt_parse_u64(const char *s, size_t len, uint64_t *out);

/* ---- The message model ------------------------------------------------- */

/* True when name is 1..RT_NAME_MAX characters of [A-Za-z0-9_.:/-]. Names are
 * restricted so that they never need escaping in JSON, in an SSE field or in
 * a trace line. */
bool rt_name_valid(const char *name, size_t len);

/*
 * True when data[0..len) is exactly one JSON value by RFC 8259, with only
 * JSON whitespace (space, tab, LF, CR) around it. Strict where browsers'
 * JSON.parse() is: numbers by the grammar (no "01", "1.", "-.5"; any
 * length), only the escapes \" \\ \/ \b \f \n \r \t \uXXXX (a lone
 * surrogate escape such as \ud800 passes, as the grammar allows), strings of
 * well-formed UTF-8 (no overlong forms, no encoded surrogates, nothing past
 * U+10FFFF) with no raw byte below 0x20, no byte order mark. Also refuses
 * arrays and objects nested more than RT_JSON_MAX_DEPTH deep. One pass;
 * allocates nothing and reads nothing past data[len - 1].
 */
bool rt_json_valid(const char *data, size_t len);

/*
 * Finds the member called key in the JSON object data[0..len) (top level
 * only) and points *val / *val_len at its value's text, exactly as written.
 * Keys are compared as written between the quotes, so a key spelled with
 * escapes does not match. With duplicate keys the last one wins, as in
 * JSON.parse(). Returns 1 (found), 0 (absent), or RT_EBADJSON when data is
 * not one valid JSON object (rt_json_valid() rules).
 */
int rt_json_get(const char *data, size_t len, const char *key, const char **val, size_t *val_len);

struct rt_msg_view {
    uint64_t id;
    const char *topic; /* NUL-terminated, rt_name_valid() */
    const char *event; /* NUL-terminated, rt_name_valid() */
    const char *data;  /* one JSON value */
    size_t data_len;
    uint64_t ts_us; /* publish time, microseconds since the epoch */
};

/* Bytes rt_msg_json() writes for m. */
size_t rt_msg_json_len(const struct rt_msg_view *m);

/* Writes {"id":N,"topic":"T","event":"E","data":D,"ts":N} into out[0..cap).
 * Returns the bytes written, or RT_ENOSPACE. */
int rt_msg_json(char *out, size_t cap, const struct rt_msg_view *m);

/* ---- Server-Sent Events (WHATWG HTML, "event stream") ------------------- */

/* One event.
 *
 * For the encoder: id and event are written when not NULL (an empty id is
 * written too: it resets the receiver's last event ID). data is split into
 * lines at each CRLF, LF or CR, and each line becomes a "data: " line; the
 * text after the last line break is a line as well, so "" is one empty line
 * (an event with empty data) and "a\n" is two lines (data "a\n"). NULL data
 * writes no data line at all: receivers then dispatch nothing, though an id
 * in the same event still sets their last event ID.
 *
 * For the parser: id is the stream's last event ID (it persists across
 * events, as the spec says; empty when none was set), event is the type
 * ("message" when the event named none), data the data lines joined with
 * LF. */
struct rt_sse_event {
    const char *id;
    size_t id_len;
    const char *event;
    size_t event_len;
    const char *data;
    size_t data_len;
};

/* Bytes rt_sse_encode() writes for ev. */
size_t rt_sse_encode_len(const struct rt_sse_event *ev);

/* Writes "id: ..\n", "event: ..\n", the "data: ..\n" lines (see struct
 * rt_sse_event) and the blank line that dispatches the event, with one space
 * after each colon. id and event should not hold line breaks: each break
 * would start another line of the same field (so nothing can be smuggled
 * into another field), and receivers keep the last. A receiver ignores an
 * id that holds a NUL. Returns bytes, or RT_ENOSPACE (writing nothing) when
 * they pass cap or INT_MAX. */
int rt_sse_encode(char *out, size_t cap, const struct rt_sse_event *ev);

/* Writes "retry: MS\n". Returns bytes or RT_ENOSPACE. */
int rt_sse_encode_retry(char *out, size_t cap, uint32_t ms);

/* Writes text as comment lines (":text\n", one per line of text, split as
 * data is; so empty text, NULL included, gives ":\n"). Returns bytes or
 * RT_ENOSPACE. */
int rt_sse_encode_comment(char *out, size_t cap, const char *text, size_t len);

#define RT_SSE_ID_MAX 256   /* longest event id the parser keeps */
#define RT_SSE_EVENT_MAX 64 /* longest event type the parser keeps */

/* Parser state; rt_sse_parser_init() sets it up. Data of the event being
 * read is collected in the caller's buffer. Only retry_ms is for the caller
 * to read; the other fields are private to proto/sse.c. */
struct rt_sse_parser {
    char *data; /* caller's storage for the current event's data */
    size_t data_len, data_cap;
    char event[RT_SSE_EVENT_MAX]; /* the event type buffer */
    size_t event_len;
    char id[RT_SSE_ID_MAX]; /* the last event ID buffer */
    size_t id_len;
    char value[RT_SSE_ID_MAX]; /* an id value while its line is read */
    size_t value_len;          /* its bytes (for retry: its digits) so far */
    int64_t retry_value;       /* a retry value while its line is read */
    char field[8];             /* the field name while it is read ("retry" is longest) */
    uint8_t field_len;         /* stops at sizeof field: longer than any we know */
    uint8_t state;
    uint8_t kind;     /* which field the line being read sets */
    uint8_t bom_seen; /* bytes of a leading UTF-8 BOM matched so far */
    bool after_cr;    /* the last byte was CR: a following LF ends nothing */
    bool has_data;    /* a data line came since the last dispatch */
    bool value_nul;   /* the id value holds a NUL: the line is ignored */
    bool value_bad;   /* the id value is too long, or retry's holds a non-digit */
    int64_t retry_ms; /* the reconnection time the stream set, -1 when none */
};

/* data_cap bytes at data hold the data of one event (data may be NULL when
 * data_cap is 0). */
void rt_sse_parser_init(struct rt_sse_parser *p, char *data, size_t data_cap);

/*
 * Parses buf[0..len) by the WHATWG event-stream rules: a UTF-8 BOM at the
 * very start is skipped; lines end in CRLF, LF or CR (even split across
 * calls); a line starting with ':' is a comment; a line without ':' is a
 * field with an empty value; one space after the colon is removed; "data"
 * appends the value and a LF to the data buffer; "event" sets the type;
 * "id" sets the last event ID unless the value holds a NUL; "retry" sets
 * retry_ms only when the value is one or more ASCII digits (saturating at
 * INT64_MAX); other fields are ignored; a blank line dispatches: when no
 * data line came since the last dispatch nothing is dispatched (the event
 * type is reset all the same), else the final LF is removed from data and
 * the event is handed out. So "data" alone dispatches an event with empty
 * data. Field names are compared byte for byte, and bytes are not checked
 * to be UTF-8. A stream that ends inside an event dispatches nothing more.
 *
 * Stops after the first event that dispatches: returns the bytes consumed
 * through its blank line with *got = true and *ev filled (views into the
 * parser and the data buffer, valid until the next call). Otherwise consumes
 * everything and *got = false. Any split of the input gives the same
 * events. Returns RT_EBODYTOOBIG when an event's data (without its final
 * LF) passes data_cap, an event type passes RT_SSE_EVENT_MAX, or an id
 * (without a NUL) passes RT_SSE_ID_MAX: the stream is then unusable, every
 * later call fails the same way, and the caller reconnects.
 */
int64_t rt_sse_parse(struct rt_sse_parser *p, const char *buf, size_t len, struct rt_sse_event *ev,
                     bool *got);

/* ---- WebSockets (RFC 6455) ---------------------------------------------- */

/* Errors of the WebSocket codec. Each maps to the close code (or, during the
 * handshake, the HTTP status) the server answers with: see
 * rt_ws_close_code_for() and rt_ws_handshake_status(). rt_strerror()
 * describes them. */
enum {
    RT_EWSPROTO = -30101,     /* RFC 6455 framing violated: close 1002 */
    RT_EWSUTF8 = -30102,      /* text or close reason not UTF-8: close 1007 */
    RT_EWSTOOBIG = -30103,    /* message over the size limit: close 1009 */
    RT_EWSVERSION = -30104,   /* handshake without Sec-WebSocket-Version: 13 (426) */
    RT_EWSHANDSHAKE = -30105, /* any other bad handshake (400; client: give up) */
};

/* The close code to send after a decoder error: 1002 for RT_EWSPROTO, 1007
 * for RT_EWSUTF8, 1009 for RT_EWSTOOBIG, 1011 (internal error) otherwise. */
uint16_t rt_ws_close_code_for(int err);

/* ---- SHA-1 and base64 (what the handshake needs) ---- */

/* SHA-1 of data[0..len) into out. Only for Sec-WebSocket-Accept: SHA-1 is
 * broken for anything that needs collision resistance. */
void rt_sha1(const void *data, size_t len, uint8_t out[20]);

/* Bytes rt_base64_encode() writes for len input bytes (no NUL). */
#define RT_BASE64_LEN(len) ((((len) + 2) / 3) * 4)

/* Writes the padded base64 (RFC 4648 section 4) of in[0..len) into out,
 * which holds RT_BASE64_LEN(len) + 1 bytes; NUL-terminates. Returns the
 * length without the NUL. */
size_t rt_base64_encode(char *out, const uint8_t *in, size_t len);

/* Decodes padded base64 in[0..len) into out[0..cap). Strict: the length is a
 * multiple of 4, '=' only as the last one or two characters, no whitespace,
 * and the unused bits of the last group are zero (so each byte string has
 * exactly one encoding). Returns the decoded length, RT_EBADREQ, or
 * RT_ENOSPACE. */
int rt_base64_decode(uint8_t *out, size_t cap, const char *in, size_t len);

/* ---- Opening handshake (RFC 6455 section 4) ---- */

#define RT_WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */
#define RT_WS_KEY_LEN 24    /* base64 of a 16-byte nonce */

/* The header line a 426 answer to RT_EWSVERSION carries (section 4.2.2). */
#define RT_WS_VERSION_HEADER "Sec-WebSocket-Version: 13\r\n"

/*
 * Server side: checks that a parsed request is a valid opening handshake
 * (section 4.2.1): method GET; HTTP/1.1 or later; a Host header; Upgrade
 * holds the token "websocket" and Connection the token "Upgrade" (both
 * case-insensitive); Sec-WebSocket-Key is base64 of exactly 16 bytes (by the
 * strict rt_base64_decode()); Sec-WebSocket-Version is exactly "13". Returns
 * 0 with *key / *key_len pointing at the key's value inside req's buffer,
 * RT_EWSVERSION when the version header is absent or not 13, or
 * RT_EWSHANDSHAKE. The checks run in that order, so a request that is no
 * upgrade at all gets 400 rather than 426.
 */
int rt_ws_handshake_check(const struct rt_http_request *req, const char **key, size_t *key_len);

/* The HTTP status for a handshake error: 426 for RT_EWSVERSION (send
 * RT_WS_VERSION_HEADER with it), 400 otherwise. */
int rt_ws_handshake_status(int err);

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + the RFC's GUID)), NUL-
 * terminated. */
void rt_ws_accept(const char *key, size_t key_len, char out[RT_WS_ACCEPT_LEN + 1]);

/* Writes the 101 answer head: status line, Upgrade, Connection,
 * Sec-WebSocket-Accept for key, then extra (NULL, or whole header lines each
 * ending in CRLF, e.g. Sec-WebSocket-Extensions), then the blank line.
 * Returns the bytes written, or RT_ENOSPACE. */
int rt_ws_handshake_response(char *out, size_t cap, const char *key, size_t key_len,
                             const char *extra);

/* Client side: the Sec-WebSocket-Key for a 16-byte nonce the caller drew
 * from a good random source (section 4.1 wants it fresh per connection). */
void rt_ws_client_key(const uint8_t nonce[16], char out[RT_WS_KEY_LEN + 1]);

/* Client side: checks the server's answer to a handshake sent with key:
 * status 101, Upgrade holds "websocket", Connection holds "Upgrade", and
 * Sec-WebSocket-Accept is exactly rt_ws_accept(key) (section 4.1, items
 * 1-4 of the client's checks). Extensions and subprotocols are the
 * caller's. Returns 0 or RT_EWSHANDSHAKE. */
int rt_ws_client_check(const struct rt_http_response *resp, const char *key, size_t key_len);

/* ---- Frames (section 5.2) ---- */

enum rt_ws_opcode {
    RT_WS_CONT = 0x0,
    RT_WS_TEXT = 0x1,
    RT_WS_BINARY = 0x2,
    RT_WS_CLOSE = 0x8,
    RT_WS_PING = 0x9,
    RT_WS_PONG = 0xA,
};

/* Longest frame header: 2 bytes, a 64-bit length, a masking key. */
#define RT_WS_HEADER_MAX 14
/* Longest control frame payload (section 5.5). */
#define RT_WS_CONTROL_MAX 125

struct rt_ws_frame {
    bool fin;
    bool rsv1; /* permessage-deflate: the message is compressed */
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len; /* payload bytes */
};

/* Writes the header for f (the shortest length form; the masking key when
 * f->masked; RSV2/RSV3 always 0) into out[0..cap). Returns 2..14 bytes, or
 * RT_ENOSPACE. The payload, masked by the caller with rt_ws_mask() when
 * f->masked, follows it. */
int rt_ws_frame_header(uint8_t *out, size_t cap, const struct rt_ws_frame *f);

/* XORs data[0..len) with key in place, as bytes offset.. of a payload
 * (masking and unmasking are the same operation). */
void rt_ws_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t offset);

/* ---- UTF-8 (section 8.1) ---- */

/* Validator state carried across chunks; zero it (or rt_ws_utf8_init()) to
 * start. need is how many continuation bytes are still due, lo..hi the
 * range the next one must be in. */
struct rt_ws_utf8 {
    uint8_t need, lo, hi;
};

void rt_ws_utf8_init(struct rt_ws_utf8 *u);

/* Feeds s[0..len). Returns 0, or RT_EWSUTF8 as soon as the bytes cannot
 * begin well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates
 * U+D800..DFFF, nothing past U+10FFFF). After an error the state is
 * meaningless. */
int rt_ws_utf8_feed(struct rt_ws_utf8 *u, const uint8_t *s, size_t len);

/* True when the bytes fed so far end on a character boundary: a message
 * that ends otherwise is invalid (1007). */
bool rt_ws_utf8_done(const struct rt_ws_utf8 *u);

/* ---- The incremental frame decoder ---- */

/*
 * Decoder state; rt_ws_decoder_init() sets it up. The fields are private to
 * proto/ws.c. It holds at most one partial frame header (14 bytes), so an
 * idle connection needs no read buffer of its own.
 */
struct rt_ws_decoder {
    uint64_t max_message; /* the size limit, summed over fragments */
    bool server;          /* we are the server: peer frames must be masked */
    bool deflate;         /* permessage-deflate negotiated: RSV1 allowed */
    uint8_t state;
    int err; /* the error once failed; every later call returns it */
    uint8_t hdr[RT_WS_HEADER_MAX];
    uint8_t hdr_len;
    struct rt_ws_frame frame; /* the frame whose payload is being read */
    uint64_t frame_pos;       /* its payload bytes handed out so far */
    uint8_t msg_opcode;       /* TEXT or BINARY while a message is open, else 0 */
    bool msg_compressed;      /* its first frame had RSV1 */
    uint64_t msg_len;         /* its payload bytes announced so far */
    struct rt_ws_utf8 utf8;   /* its text so far (when not compressed) */
};

/* What one rt_ws_decode() call produced. */
enum rt_ws_event_kind {
    RT_WS_EV_HEADER = 1, /* a frame header: ev->frame */
    RT_WS_EV_DATA = 2,   /* payload bytes, unmasked: ev->data[0..data_len) */
};

struct rt_ws_event {
    enum rt_ws_event_kind kind;
    struct rt_ws_frame frame; /* the current frame's header */
    uint8_t msg_opcode;       /* TEXT or BINARY for data frames (continuations
                                 included), the frame's opcode for control frames */
    bool compressed;          /* the data message's first frame had RSV1 */
    uint8_t *data;            /* a view into the caller's buffer (DATA only) */
    size_t data_len;
    bool frame_end;   /* the frame's payload is complete (also on a HEADER
                         event of an empty frame) */
    bool message_end; /* frame_end of a frame with FIN: a whole message, or a
                         whole control frame */
};

/* server: we are the server (client frames must be masked, section 5.1);
 * deflate: permessage-deflate was negotiated; max_message: the size limit
 * (RT_WS_MAX_MESSAGE unless the user set one). */
void rt_ws_decoder_init(struct rt_ws_decoder *d, bool server, bool deflate, uint64_t max_message);

/*
 * Decodes the next piece of buf[0..len), the bytes that follow whatever the
 * previous call consumed. Any split of the stream gives the same frames
 * (data may come in smaller pieces).
 *
 * Returns the bytes consumed (> 0) with *ev filled:
 *   - RT_WS_EV_HEADER when a frame header completed (the header's bytes,
 *     including any kept from earlier calls' input, count as consumed here
 *     only for their part in this buf);
 *   - RT_WS_EV_DATA with payload bytes: they are unmasked in place in buf
 *     and ev->data points at them (a control frame's payload may come in
 *     pieces too: the caller assembles its at most 125 bytes).
 * RT_EMORE when buf ends inside a frame header: the decoder has kept all
 * len bytes (at most 13), and the caller passes the next bytes only (so
 * it may reuse buf). Also RT_EMORE for len == 0.
 *
 * Errors (the connection must then be closed with rt_ws_close_code_for()):
 *   RT_EWSPROTO   RSV2 or RSV3 set; RSV1 set without deflate, or on a
 *                 continuation or control frame; a reserved opcode; an
 *                 unmasked frame at a server or a masked one at a client;
 *                 a control frame fragmented, over 125 bytes, or a Close
 *                 with a 1-byte payload; a continuation with no message
 *                 open; a new TEXT/BINARY while one is open; a 64-bit length
 *                 with its high bit set. Control frames may come between a
 *                 message's fragments. Non-minimal length forms are
 *                 accepted (the minimal-length rule binds the sender).
 *   RT_EWSTOOBIG  a data message's length, summed over its frames, passes
 *                 max_message (checked at each header, before its payload).
 *   RT_EWSUTF8    an uncompressed text message is not UTF-8: found at the
 *                 first bad byte, or at the end of a message that stops
 *                 inside a character. (Compressed messages are checked by
 *                 the caller after inflating. Close reasons: see
 *                 rt_ws_close_parse().)
 * Errors are sticky.
 */
int64_t rt_ws_decode(struct rt_ws_decoder *d, uint8_t *buf, size_t len, struct rt_ws_event *ev);

/* ---- Close frames (sections 5.5.1, 7.4) ---- */

/* 1005 "no status received": what rt_ws_close_parse() reports for an empty
 * Close. It is never sent on the wire. */
#define RT_WS_CLOSE_NO_STATUS 1005

/* True for the codes a Close frame may carry: 1000-1003, 1007-1011, the
 * IANA-registered 1012-1014 (service restart, try again later, bad gateway;
 * browsers send and accept them), and 3000-4999 (registered and private
 * use). Everything else (below 1000, 1004-1006, 1015, 1016-2999, 5000 and
 * up) is invalid on the wire. */
bool rt_ws_close_code_valid(uint16_t code);

/* Parses a whole Close payload (at most 125 bytes). Empty: *code =
 * RT_WS_CLOSE_NO_STATUS and an empty reason. Otherwise a 2-byte code
 * (network order) and a UTF-8 reason, viewed in payload. Returns 0,
 * RT_EWSPROTO (1 byte long, or an invalid code), or RT_EWSUTF8. */
int rt_ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const char **reason,
                      size_t *reason_len);

/* Writes a Close payload (code, then reason) into out[0..cap). code must be
 * rt_ws_close_code_valid(); reason (may be NULL when reason_len is 0) is
 * the caller's UTF-8, at most 123 bytes. Returns the payload length, or
 * RT_ENOSPACE (cap too small or reason too long), or RT_EWSPROTO (invalid
 * code). Frame it with rt_ws_frame_header() and opcode RT_WS_CLOSE. */
int rt_ws_close_build(uint8_t *out, size_t cap, uint16_t code, const char *reason,
                      size_t reason_len);

/* ---- permessage-deflate (RFC 7692) ------------------------------------- */

/* struct rt_wsd embeds zlib's streams, so this part needs zlib's header
 * (rt_proto links zlib publicly). */
#include <zlib.h>

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
 * client_no_context_takeover: we ask the client to reset too (it then
 * compresses each message alone; our inflater keeps its window all the
 * same); *_max_window_bits: the largest window we allow each side (a client
 * window is only limited when the client offered the parameter).
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

/* The agreed parameters; bits are 8..15, 15 when the response named none.
 * server_bits_named: the offer had server_max_window_bits, so the answer
 * must name it even at 15 (RFC 7692 section 7.1.2.1). */
struct rt_wsd_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
    bool server_bits_named;
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
