/*
 * http.c - HTTP/1.1 without I/O: request and response heads, chunked bodies,
 * the response head we write, URLs and query strings.
 *
 * Everything reads the caller's bytes and hands back views into them, in the
 * manner of picohttpparser: a parser answers "here is a whole head of N
 * bytes", "need more" (RT_EMORE) or an error, and never allocates. The
 * caller owns the buffer; it keeps reading into it and calls again.
 *
 * A head is parsed in two passes. The first finds the blank line that ends
 * it (and only that: it is the part that runs on every partial read, so it
 * resumes where the last call stopped). The second, which runs once per
 * head, splits the lines and checks them. Splitting work this way keeps a
 * head fed one byte at a time O(n) without any saved parser state.
 *
 * We follow RFC 9110 and RFC 9112 strictly where leniency would let two
 * parsers disagree about where a message ends (request smuggling): a bare
 * CR, obs-fold, whitespace before the colon, both Content-Length and
 * Transfer-Encoding, or several differing Content-Lengths are all errors.
 *
 * WE SIMPLIFIED: only origin-form request targets ("/path?query"), so no
 * proxy (absolute-form), CONNECT (authority-form) or "OPTIONS *"; no
 * transfer codings but chunked; no https.
 */
#include <assert.h>
#include <limits.h>
#include <string.h>

#include "rt_proto.h"

/* ======================================================================== */
/* Character classes                                                        */
/* ======================================================================== */

/* RFC 9110 section 5.6.2: tchar, the characters of a token (methods, header
 * names, transfer codings). */
static bool is_tchar(unsigned char c)
{
    switch (c) {
    // clang-format off
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    // clang-format on
    default:
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A byte allowed inside a header value or reason phrase: HTAB, SP, VCHAR
 * and obs-text (0x80-0xFF). Every other control byte, NUL included, is not. */
static bool is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ASCII-only lower case: header names are ASCII, and the C library's
 * tolower() depends on the locale. */
static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of s[0..len) with lit[0..lit_len). Lengths
 * first: most header names differ in length from the ones we look for. */
static bool ieq(const char *s, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (lower(s[i]) != lower(lit[i]))
            return false;
    }
    return true;
}

#define IEQ(s, len, lit) ieq((s), (len), (lit), sizeof(lit) - 1)

/* Narrows [*a, *b) past optional whitespace on both sides. */
static void trim_ows(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && is_ows(s[*a]))
        (*a)++;
    while (*b > *a && is_ows(s[*b - 1]))
        (*b)--;
}

/* ======================================================================== */
/* Heads: finding the end, then one pass over the lines                     */
/* ======================================================================== */

/*
 * Finds the blank line that ends a head in buf[0..len) and sets *end just
 * past it. Returns 0, RT_EMORE, RT_EHEADTOOBIG (no end within max_head
 * bytes although more than max_head arrived) or RT_EBADREQ (an LF followed
 * by a bare CR, which can never become a line end).
 *
 * It only hops from LF to LF (memchr is fast) and looks at the byte or two
 * after each. The scan resumes two bytes before prev_len: an LF there may
 * have been waiting for its follower. Bare CRs elsewhere are left to the
 * line parsers below, which allow no control byte but HTAB in any field, so
 * a CR anywhere but just before an LF fails there.
 */
static int find_head_end(const char *buf, size_t len, size_t prev_len, size_t max_head, size_t *end)
{
    size_t lim = len < max_head ? len : max_head;
    size_t i = prev_len > 2 ? prev_len - 2 : 0;
    while (i < lim) {
        const char *lf = memchr(buf + i, '\n', lim - i);
        if (lf == NULL)
            break;
        i = (size_t)(lf - buf) + 1; /* the byte after the LF */
        if (i < lim && buf[i] == '\n') {
            *end = i + 1;
            return 0;
        }
        if (i + 1 < lim && buf[i] == '\r') {
            if (buf[i + 1] != '\n')
                return RT_EBADREQ;
            *end = i + 2;
            return 0;
        }
    }
    return len > max_head ? RT_EHEADTOOBIG : RT_EMORE;
}

/*
 * The line parsers run once find_head_end() has found the end, so they know
 * the head ends in an LF. Every loop below stops at an LF at the latest (an
 * LF is no tchar, no field byte and no digit), and every multi-byte check
 * short-circuits at the first byte that differs. So they read nothing past
 * the head without checking a bound on each byte, as picohttpparser does.
 */

/* Expects a line end (CRLF or LF) at p and returns what follows, or NULL.
 * A CR is never the head's last byte (that is an LF), so p[1] is there. */
static const char *eat_eol(const char *p)
{
    if (*p == '\r')
        p++;
    return *p == '\n' ? p + 1 : NULL;
}

static bool is_blank_line(const char *p)
{
    return p[0] == '\n' || (p[0] == '\r' && p[1] == '\n');
}

/* Parses "HTTP/1.1" at p. Other 1.x minors are treated as 1.1, as RFC 9110
 * section 2.5 asks; another major is RT_EVERSION. */
static int parse_version(const char *p, int *minor)
{
    if (!(p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/' &&
          is_digit(p[5]) && p[6] == '.' && is_digit(p[7])))
        return RT_EBADREQ;
    if (p[5] != '1')
        return RT_EVERSION;
    *minor = p[7] == '0' ? 0 : 1;
    return 0;
}

/* "Name: value" CRLF, with no whitespace before the colon, and none at the
 * start of the line (that would be obs-fold, a continuation of the line
 * before). Returns the start of the next line, or NULL. */
static const char *parse_header_line(const char *p, struct rt_http_header *h)
{
    const char *name = p;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == name || *p != ':')
        return NULL;
    h->name = name;
    h->name_len = (size_t)(p - name);

    p++;
    while (is_ows(*p))
        p++;
    const char *value = p, *value_end = p;
    for (; is_field_byte((unsigned char)*p); p++) {
        if (!is_ows(*p))
            value_end = p + 1;
    }
    h->value = value;
    h->value_len = (size_t)(value_end - value);
    return eat_eol(p);
}

/* Parses header lines from p up to the blank line that ends the head. */
static int parse_headers(const char *p, struct rt_http_header *hs, size_t *num)
{
    size_t n = 0;
    while (!is_blank_line(p)) {
        if (n == RT_HTTP_MAX_HEADERS)
            return RT_EBADREQ;
        p = parse_header_line(p, &hs[n++]);
        if (p == NULL)
            return RT_EBADREQ;
    }
    *num = n;
    return 0;
}

/* ======================================================================== */
/* Framing: what the headers say about the body and the connection          */
/* ======================================================================== */

struct framing {
    bool has_cl;
    uint64_t cl;
    unsigned te_count; /* Transfer-Encoding fields seen */
    bool te_chunked;   /* the (only) one says exactly "chunked" */
    bool conn_close;
    bool conn_keep_alive;
    bool expect_continue;
};

/* Content-Length: 1*DIGIT, or a list of identical values ("5, 5"), which
 * RFC 9110 section 8.6 lets a recipient accept. Values must agree across
 * all Content-Length fields too. */
static int add_content_length(struct framing *f, const char *v, size_t len)
{
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && v[j] != ',')
            j++;
        size_t a = i, b = j;
        trim_ows(v, &a, &b);
        uint64_t x;
        if (rt_parse_u64(v + a, b - a, &x) != 0)
            return RT_EBADREQ;
        if (f->has_cl && x != f->cl)
            return RT_EBADREQ;
        f->has_cl = true;
        f->cl = x;
        i = j + 1;
    }
    return 0;
}

static int scan_framing(const struct rt_http_header *hs, size_t n, struct framing *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        const struct rt_http_header *h = &hs[i];
        if (IEQ(h->name, h->name_len, "content-length")) {
            if (add_content_length(f, h->value, h->value_len) != 0)
                return RT_EBADREQ;
        } else if (IEQ(h->name, h->name_len, "transfer-encoding")) {
            f->te_count++;
            f->te_chunked = IEQ(h->value, h->value_len, "chunked");
        } else if (IEQ(h->name, h->name_len, "connection")) {
            f->conn_close |= rt_http_token_list_has(h->value, h->value_len, "close");
            f->conn_keep_alive |= rt_http_token_list_has(h->value, h->value_len, "keep-alive");
        } else if (IEQ(h->name, h->name_len, "expect")) {
            f->expect_continue = IEQ(h->value, h->value_len, "100-continue");
        }
    }
    return 0;
}

/* RFC 9112 section 9.3: HTTP/1.1 is persistent unless "close"; HTTP/1.0
 * only when the peer asked for "keep-alive". */
static bool keep_alive(const struct framing *f, int minor)
{
    if (f->conn_close)
        return false;
    return minor >= 1 || f->conn_keep_alive;
}

/* ======================================================================== */
/* Requests                                                                 */
/* ======================================================================== */

/*
 * method SP request-target SP HTTP-version CRLF, single spaces, and an
 * origin-form target ("/path?query"). The version is checked before the
 * target's first byte so that an HTTP/2 client gets 505 rather than 400 for
 * its "PRI * HTTP/2.0" preface. Sets *next to the first header line.
 */
static int parse_request_line(const char *p, struct rt_http_request *req, const char **next)
{
    const char *method = p;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == method || *p != ' ')
        return RT_EBADREQ;
    req->method = method;
    req->method_len = (size_t)(p - method);

    const char *target = ++p, *q = NULL;
    for (; (unsigned char)*p > 0x20 && *p != 0x7f; p++) {
        if (*p == '?' && q == NULL)
            q = p;
    }
    if (p == target || *p != ' ')
        return RT_EBADREQ;
    const char *target_end = p++;

    int rc = parse_version(p, &req->minor_version);
    if (rc != 0)
        return rc;
    *next = eat_eol(p + 8);
    if (*next == NULL || *target != '/')
        return RT_EBADREQ;

    req->path = target;
    req->path_len = (size_t)((q != NULL ? q : target_end) - target);
    req->query = q != NULL ? q + 1 : NULL;
    req->query_len = q != NULL ? (size_t)(target_end - (q + 1)) : 0;
    return 0;
}

int rt_http_request_parse(struct rt_http_request *req, const char *buf, size_t len, size_t prev_len,
                          size_t max_head, uint64_t max_body)
{
    if (max_head > INT_MAX)
        max_head = INT_MAX; /* head_len is returned as an int */
    size_t end;
    int rc = find_head_end(buf, len, prev_len, max_head, &end);
    if (rc != 0)
        return rc;
    const char *p;
    rc = parse_request_line(buf, req, &p);
    if (rc != 0)
        return rc;
    rc = parse_headers(p, req->headers, &req->num_headers);
    if (rc != 0)
        return rc;

    struct framing f;
    if (scan_framing(req->headers, req->num_headers, &f) != 0)
        return RT_EBADREQ;
    if (f.has_cl && f.te_count > 0)
        return RT_EBADREQ;
    if (f.te_count > 0 && !(f.te_count == 1 && f.te_chunked))
        return RT_ENOTIMPL;
    if (f.has_cl && f.cl > max_body)
        return RT_EBODYTOOBIG;

    req->head_len = end;
    req->content_length = f.has_cl ? f.cl : 0;
    req->chunked = f.te_count > 0;
    req->keep_alive = keep_alive(&f, req->minor_version);
    /* RFC 9110 section 10.1.1: a server MUST ignore 100-continue in an
     * HTTP/1.0 request (a 1.0 client would not understand the 100). */
    req->expect_continue = f.expect_continue && req->minor_version >= 1;
    return (int)end;
}

const struct rt_http_header *rt_http_header_find(const struct rt_http_header *headers,
                                                 size_t num_headers, const char *name)
{
    size_t name_len = strlen(name);
    for (size_t i = 0; i < num_headers; i++) {
        if (ieq(headers[i].name, headers[i].name_len, name, name_len))
            return &headers[i];
    }
    return NULL;
}

bool rt_http_token_list_has(const char *value, size_t value_len, const char *token)
{
    size_t token_len = strlen(token), i = 0;
    while (i < value_len) {
        size_t j = i;
        while (j < value_len && value[j] != ',')
            j++;
        size_t a = i, b = j;
        trim_ows(value, &a, &b);
        if (b > a && ieq(value + a, b - a, token, token_len))
            return true;
        i = j + 1;
    }
    return false;
}

/* ======================================================================== */
/* Chunked bodies                                                           */
/* ======================================================================== */

/*
 * One byte at a time, except that chunk data is skipped in one step:
 *
 *   SIZE_FIRST --hex--> SIZE --hex--> SIZE
 *                        |  \--SP/HTAB--> SIZE_WS --';'--> EXT
 *                        |---';'------------------------> EXT --any--> EXT
 *                        |                                 |
 *                        +--CR--> SIZE_LF --LF--+  <--CR/LF+
 *                        +--LF------------------+
 *                                               | size > 0: DATA
 *                                               | size = 0: TRAILER_START
 *   DATA (size bytes) --> DATA_CR --CR--> DATA_LF --LF--> SIZE_FIRST
 *                                 --LF------------------> SIZE_FIRST
 *   TRAILER_START --CR--> END_LF --LF--> DONE
 *                 --LF--------------->  DONE
 *                 --other--> TRAILER --LF (or CRLF)--> TRAILER_START
 */
enum {
    CH_SIZE_FIRST = 0, /* the zeroed state: a chunk size begins */
    CH_SIZE,
    CH_SIZE_WS,
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,
    CH_TRAILER,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
};

/* The size line is over: start the chunk's data, or the trailers after the
 * last chunk. The data is counted against max_body before it arrives. */
static int chunk_begin(struct rt_http_chunked *d, uint64_t max_body)
{
    if (d->chunk_left == 0) {
        d->state = CH_TRAILER_START;
        return 0;
    }
    if (d->body_len > max_body || d->chunk_left > max_body - d->body_len)
        return RT_EBODYTOOBIG;
    d->state = CH_DATA;
    return 0;
}

/* CR or LF ends a size line; anything else is an error. */
static int size_line_end(struct rt_http_chunked *d, char c, uint64_t max_body)
{
    if (c == '\r') {
        d->state = CH_SIZE_LF;
        return 0;
    }
    return c == '\n' ? chunk_begin(d, max_body) : RT_EBADREQ;
}

static int chunk_size_byte(struct rt_http_chunked *d, char c, uint64_t max_body)
{
    int v = hex_value(c);
    if (v >= 0) {
        if (d->state == CH_SIZE_WS || d->chunk_left > (UINT64_MAX >> 4))
            return RT_EBADREQ;
        d->chunk_left = d->chunk_left << 4 | (uint64_t)v;
        d->state = CH_SIZE;
        return 0;
    }
    if (d->state == CH_SIZE_FIRST)
        return RT_EBADREQ;
    if (is_ows(c)) {
        d->state = CH_SIZE_WS;
        return 0;
    }
    if (c == ';') {
        d->state = CH_EXT;
        return 0;
    }
    return size_line_end(d, c, max_body);
}

/* Moves the state machine above one byte on (not for CH_DATA). */
static int chunked_step(struct rt_http_chunked *d, char c, uint64_t max_body)
{
    switch (d->state) {
    case CH_SIZE_FIRST:
    case CH_SIZE:
    case CH_SIZE_WS:
        return chunk_size_byte(d, c, max_body);
    case CH_EXT:
        return (c == '\r' || c == '\n') ? size_line_end(d, c, max_body) : 0;
    case CH_SIZE_LF:
        return c == '\n' ? chunk_begin(d, max_body) : RT_EBADREQ;
    case CH_DATA_CR:
        if (c != '\r' && c != '\n')
            return RT_EBADREQ;
        d->state = c == '\r' ? CH_DATA_LF : CH_SIZE_FIRST;
        return 0;
    case CH_DATA_LF:
    case CH_TRAILER_LF:
    case CH_END_LF:
        if (c != '\n')
            return RT_EBADREQ; /* a bare CR */
        d->state = d->state == CH_DATA_LF      ? CH_SIZE_FIRST
                   : d->state == CH_TRAILER_LF ? CH_TRAILER_START
                                               : CH_DONE;
        return 0;
    case CH_TRAILER_START:
        d->state = c == '\r' ? CH_END_LF : c == '\n' ? CH_DONE : CH_TRAILER;
        return 0;
    case CH_TRAILER:
        if (c == '\r')
            d->state = CH_TRAILER_LF;
        else if (c == '\n')
            d->state = CH_TRAILER_START;
        return 0;
    default:
        return RT_EBADREQ; /* not reached: CH_DATA and CH_DONE are handled by the caller */
    }
}

int64_t rt_http_chunked_scan(struct rt_http_chunked *d, const char *buf, size_t len,
                             uint64_t max_body)
{
    size_t i = d->pos;
    while (i < len && d->state != CH_DONE) {
        if (d->state == CH_DATA) {
            size_t take = len - i;
            if (d->chunk_left < take)
                take = (size_t)d->chunk_left;
            i += take;
            d->chunk_left -= take;
            d->body_len += take;
            if (d->chunk_left == 0)
                d->state = CH_DATA_CR;
            continue;
        }
        int rc = chunked_step(d, buf[i], max_body);
        if (rc != 0) {
            d->pos = i;
            return rc;
        }
        i++;
    }
    d->pos = i;
    return d->state == CH_DONE ? (int64_t)i : RT_EMORE;
}

/* The body was already validated by rt_http_chunked_scan(), so this only
 * walks it; it still never reads or writes outside buf[0..len). */
size_t rt_http_chunked_decode(char *buf, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        uint64_t size = 0;
        int v;
        while (r < len && (v = hex_value(buf[r])) >= 0) {
            size = size << 4 | (uint64_t)v;
            r++;
        }
        const char *lf = memchr(buf + r, '\n', len - r); /* past any extension */
        if (lf == NULL)
            break;
        r = (size_t)(lf - buf) + 1;
        if (size == 0 || size > len - r)
            break;
        memmove(buf + w, buf + r, (size_t)size);
        w += (size_t)size;
        r += (size_t)size;
        if (r < len && buf[r] == '\r')
            r++;
        if (r < len && buf[r] == '\n')
            r++;
    }
    return w;
}

/* ======================================================================== */
/* Responses we write                                                       */
/* ======================================================================== */

const char *rt_http_reason(int status)
{
    switch (status) {
    // clang-format off
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    // clang-format on
    default:
        return "Unknown";
    }
}

/* A write cursor that remembers running out of room, so the writer below
 * can append without checking after every piece. */
struct wbuf {
    char *p;
    char *end;
    bool full;
};

static void put(struct wbuf *w, const char *s, size_t n)
{
    if (w->full || (size_t)(w->end - w->p) < n) {
        w->full = true;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static void put_str(struct wbuf *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Decimal digits of v, without snprintf (this runs once per response). */
static void put_u64(struct wbuf *w, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, tmp + i, sizeof(tmp) - i);
}

int rt_http_response_head(char *out, size_t cap, const struct rt_http_head_out *h)
{
    assert(h->status >= 100 && h->status <= 999); /* our own code picks it */
    if (cap > INT_MAX)
        cap = INT_MAX;
    struct wbuf w = {out, out + cap, false};

    PUT_LIT(&w, "HTTP/1.1 ");
    put_u64(&w, (uint64_t)h->status);
    PUT_LIT(&w, " ");
    put_str(&w, rt_http_reason(h->status));
    PUT_LIT(&w, "\r\n");
    if (h->date != NULL) {
        PUT_LIT(&w, "Date: ");
        put_str(&w, h->date);
        PUT_LIT(&w, "\r\n");
    }
    PUT_LIT(&w, "Server: rtlab\r\n");
    if (h->content_type != NULL) {
        PUT_LIT(&w, "Content-Type: ");
        put_str(&w, h->content_type);
        PUT_LIT(&w, "\r\n");
    }
    if (h->content_length >= 0) {
        PUT_LIT(&w, "Content-Length: ");
        put_u64(&w, (uint64_t)h->content_length);
        PUT_LIT(&w, "\r\n");
    }
    if (h->close)
        PUT_LIT(&w, "Connection: close\r\n");
    if (h->extra != NULL)
        put_str(&w, h->extra);
    PUT_LIT(&w, "\r\n");
    return w.full ? RT_ENOSPACE : (int)(w.p - out);
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, for
 * the proleptic Gregorian calendar, as HTTP dates use). z >= 0 here. */
static void civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (*month <= 2));
}

static void two_digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void rt_http_date(char out[30], int64_t t)
{
    /* Day 0 (1970-01-01) was a Thursday. */
    static const char wdays[] = "ThuFriSatSunMonTueWed";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* The format has room for years 1970..9999 only. */
    if (t < 0)
        t = 0;
    if (t > 253402300799)
        t = 253402300799;
    int64_t days = t / 86400, secs = t % 86400;
    int year, month, day;
    civil_from_days(days, &year, &month, &day);

    memcpy(out, "Www, DD Mmm YYYY HH:MM:SS GMT", 30);
    memcpy(out, wdays + 3 * (days % 7), 3);
    two_digits(out + 5, day);
    memcpy(out + 8, months + 3 * (month - 1), 3);
    two_digits(out + 12, year / 100);
    two_digits(out + 14, year % 100);
    two_digits(out + 17, (int)(secs / 3600));
    two_digits(out + 20, (int)(secs / 60 % 60));
    two_digits(out + 23, (int)(secs % 60));
}

/* ======================================================================== */
/* Responses we read (client side)                                          */
/* ======================================================================== */

/* HTTP-version SP 3DIGIT [SP reason-phrase] CRLF. The reason may be empty,
 * and we accept a missing SP before an empty one, as deployed servers send
 * both. Sets *next to the first header line. */
static int parse_status_line(const char *p, struct rt_http_response *resp, const char **next)
{
    if (parse_version(p, &resp->minor_version) != 0)
        return RT_EBADRESP;
    p += 8;
    if (!(p[0] == ' ' && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3])))
        return RT_EBADRESP;
    int status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    if (status < 100)
        return RT_EBADRESP;
    p += 4;
    if (*p == ' ') {
        while (is_field_byte((unsigned char)*p))
            p++;
    }
    *next = eat_eol(p);
    if (*next == NULL)
        return RT_EBADRESP;
    resp->status = status;
    return 0;
}

int rt_http_response_parse(struct rt_http_response *resp, const char *buf, size_t len,
                           size_t prev_len, size_t max_head)
{
    if (max_head > INT_MAX)
        max_head = INT_MAX;
    size_t end;
    int rc = find_head_end(buf, len, prev_len, max_head, &end);
    if (rc != 0)
        return rc == RT_EBADREQ ? RT_EBADRESP : rc;
    const char *p;
    if (parse_status_line(buf, resp, &p) != 0)
        return RT_EBADRESP;
    if (parse_headers(p, resp->headers, &resp->num_headers) != 0)
        return RT_EBADRESP;

    /* A response with both Content-Length and Transfer-Encoding is legal
     * (TE wins) but a sign of trouble; a client of ours only ever talks to
     * our servers, so it refuses those, and codings other than chunked. */
    struct framing f;
    if (scan_framing(resp->headers, resp->num_headers, &f) != 0)
        return RT_EBADRESP;
    if (f.te_count > 0 && (f.has_cl || f.te_count != 1 || !f.te_chunked))
        return RT_EBADRESP;
    if (f.has_cl && f.cl > INT64_MAX)
        return RT_EBADRESP;

    resp->head_len = end;
    resp->content_length = f.has_cl ? (int64_t)f.cl : -1;
    resp->chunked = f.te_count > 0;
    resp->keep_alive = keep_alive(&f, resp->minor_version);
    return (int)end;
}

bool rt_http_response_bodyless(const char *method, int status)
{
    if (method != NULL && strcmp(method, "HEAD") == 0)
        return true;
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/* ======================================================================== */
/* URLs, query strings, numbers                                             */
/* ======================================================================== */

/* Characters of a registered host name: RFC 3986 unreserved. */
static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Sets url->scheme from text up to "://" and returns what follows, or NULL. */
static const char *parse_scheme(struct rt_url *url, const char *text)
{
    const char *sep = strstr(text, "://");
    if (sep == NULL || sep == text || (size_t)(sep - text) >= sizeof(url->scheme))
        return NULL;
    size_t n = (size_t)(sep - text);
    for (size_t i = 0; i < n; i++)
        url->scheme[i] = lower(text[i]);
    url->scheme[n] = '\0';
    if (strcmp(url->scheme, "http") != 0 && strcmp(url->scheme, "ws") != 0)
        return NULL;
    return sep + 3;
}

/* Sets url->host and url->port from "host[:port]" or "[v6][:port]" and
 * returns what follows, or NULL. No userinfo ("user@"). */
static const char *parse_authority(struct rt_url *url, const char *p)
{
    const char *h = p, *hend;
    if (*p == '[') {
        h = ++p;
        while (hex_value(*p) >= 0 || *p == ':' || *p == '.')
            p++;
        if (*p != ']')
            return NULL;
        hend = p++;
    } else {
        while (is_host_char(*p))
            p++;
        hend = p;
    }
    size_t n = (size_t)(hend - h);
    if (n == 0 || n >= sizeof(url->host))
        return NULL;
    memcpy(url->host, h, n);
    url->host[n] = '\0';

    url->port = 80;
    if (*p == ':') {
        uint32_t port = 0;
        const char *digits = ++p;
        while (*p >= '0' && *p <= '9' && p - digits < 5)
            port = port * 10 + (uint32_t)(*p++ - '0');
        if (p == digits || port == 0 || port > 65535)
            return NULL;
        url->port = (uint16_t)port;
    }
    return p;
}

int rt_url_parse(struct rt_url *url, const char *text)
{
    const char *p = parse_scheme(url, text);
    if (p != NULL)
        p = parse_authority(url, p);
    if (p == NULL || (*p != '\0' && *p != '/' && *p != '?' && *p != '#'))
        return RT_EBADURL;

    /* The path and query, without any fragment (it never goes on the wire). */
    size_t n = strcspn(p, "#"), at = 0;
    if (*p != '/')
        url->path[at++] = '/';
    if (at + n >= sizeof(url->path))
        return RT_EBADURL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f)
            return RT_EBADURL;
        url->path[at++] = (char)c;
    }
    url->path[at] = '\0';
    return 0;
}

/* Decodes one character of s[*i..len): "%XX", '+' (a space) or itself.
 * Returns it, or -1 for a bad %-escape. */
static int decode_char(const char *s, size_t len, size_t *i)
{
    char c = s[(*i)++];
    if (c == '+')
        return ' ';
    if (c != '%')
        return (unsigned char)c;
    if (len - *i < 2 || hex_value(s[*i]) < 0 || hex_value(s[*i + 1]) < 0)
        return -1;
    int v = hex_value(s[*i]) << 4 | hex_value(s[*i + 1]);
    *i += 2;
    return v;
}

/* True when the encoded s[0..len) decodes to exactly key. */
static bool key_matches(const char *s, size_t len, const char *key)
{
    size_t i = 0, k = 0;
    while (i < len) {
        int c = decode_char(s, len, &i);
        if (c < 0 || key[k] == '\0' || (unsigned char)key[k] != c)
            return false;
        k++;
    }
    return key[k] == '\0';
}

static int decode_value(const char *s, size_t len, char *out, size_t cap)
{
    size_t i = 0, n = 0;
    while (i < len) {
        int c = decode_char(s, len, &i);
        if (c <= 0)
            return RT_EBADREQ; /* a bad escape, or a NUL that C strings cannot hold */
        if (n + 1 >= cap)
            return RT_ENOSPACE;
        out[n++] = (char)c;
    }
    if (cap == 0 || n > INT_MAX)
        return RT_ENOSPACE;
    out[n] = '\0';
    return (int)n;
}

int rt_query_get(const char *query, size_t query_len, const char *key, char *out, size_t cap)
{
    size_t i = 0;
    while (i < query_len) {
        size_t j = i;
        while (j < query_len && query[j] != '&')
            j++;
        size_t eq = i;
        while (eq < j && query[eq] != '=')
            eq++;
        if (eq > i && key_matches(query + i, eq - i, key)) {
            size_t v = eq < j ? eq + 1 : j;
            return decode_value(query + v, j - v, out, cap);
        }
        i = j + 1;
    }
    return -1;
}

int rt_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0)
        return RT_EBADREQ;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return RT_EBADREQ;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return RT_EBADREQ;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
