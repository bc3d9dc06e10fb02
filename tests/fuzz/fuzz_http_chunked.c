/*
 * fuzz_http_chunked.c - rt_http_chunked_scan() and rt_http_chunked_decode().
 *
 * The input is taken twice. First as a chunked body as it came off the
 * wire (with whatever follows it):
 *   - the scan fed whole, byte by byte and split at input-chosen points
 *     gives the same answer and the same decoded size; before the end,
 *     every call says RT_EMORE; a finished scan called again answers the
 *     same;
 *   - a complete body's encoded length lies within the input and is at
 *     least the decoded size plus the final "0" line; decoding it in an
 *     exactly sized copy gives exactly the decoded size the scan counted,
 *     and the very bytes the byte-by-byte scan saw counted as data (a byte
 *     is data when feeding it raised body_len);
 *   - max_body = the decoded size scans the same, one less is too big;
 *   - decoding bytes that were never scanned stays inside them.
 * Then as data to encode: chunks of input-chosen sizes, hex in either case
 * with leading zeros, extensions, trailers, CRLF or LF, and bytes of a next
 * request after it; the scan must find exactly the encoded length and the
 * decoder give the data back.
 */
#include "fuzz.h"
#include "rt_proto.h"

static bool scan_rc_ok(int64_t rc)
{
    return rc > 0 || rc == RT_EMORE || rc == RT_EBADREQ || rc == RT_EBODYTOOBIG;
}

/* Byte by byte, each call seeing one more byte. Writes the bytes the scan
 * counted as data to data_out (len bytes of room). Returns the answer and
 * the state. */
static int64_t scan_bytewise(const char *buf, size_t len, uint64_t max_body, char *data_out,
                             struct rt_http_chunked *d)
{
    memset(d, 0, sizeof *d);
    int64_t rc = RT_EMORE;
    for (size_t n = 1; n <= len && rc == RT_EMORE; n++) {
        uint64_t before = d->body_len;
        fuzz_expose(buf, n, len);
        rc = rt_http_chunked_scan(d, buf, n, max_body);
        fuzz_expose(buf, len, len);
        FUZZ_CHECK(scan_rc_ok(rc) && d->pos <= n);
        if (rc == RT_EMORE)
            FUZZ_CHECK(d->pos == n);
        FUZZ_CHECK(d->body_len == before || d->body_len == before + 1);
        if (d->body_len > before)
            data_out[before] = buf[n - 1];
        if (rc > 0)
            FUZZ_CHECK((size_t)rc == n); /* found when its last byte arrives */
    }
    return rc;
}

static int64_t scan_split(const char *buf, size_t len, uint64_t max_body, struct fuzz_rng *rng,
                          struct rt_http_chunked *d)
{
    size_t cuts[8];
    size_t k = fuzz_cuts(rng, len, cuts, sizeof cuts / sizeof cuts[0]);
    memset(d, 0, sizeof *d);
    int64_t rc = RT_EMORE;
    for (size_t i = 0; i <= k && rc == RT_EMORE; i++) {
        size_t n = i < k ? cuts[i] : len;
        fuzz_expose(buf, n, len);
        rc = rt_http_chunked_scan(d, buf, n, max_body);
        fuzz_expose(buf, len, len);
    }
    return rc;
}

/* A complete body: its decoding, and the limit at its decoded size. */
static void check_complete(const char *buf, size_t len, int64_t rc, const struct rt_http_chunked *d,
                           const char *data_seen)
{
    size_t n = (size_t)rc;
    FUZZ_CHECK(n <= len && d->pos == n);
    FUZZ_CHECK(d->body_len + 3 <= n); /* "0\n\n" at least, besides the data */
    struct rt_http_chunked again = *d;
    FUZZ_CHECK(rt_http_chunked_scan(&again, buf, len, RT_HTTP_MAX_BODY) == rc);

    char *copy = fuzz_copy(buf, n);
    size_t out = rt_http_chunked_decode(copy, n);
    FUZZ_CHECK(out == d->body_len);
    FUZZ_CHECK(memcmp(copy, data_seen, out) == 0);
    fuzz_free(copy, n);

    if (d->body_len > 0) {
        struct rt_http_chunked s = {0};
        FUZZ_CHECK(rt_http_chunked_scan(&s, buf, len, d->body_len) == rc);
        memset(&s, 0, sizeof s);
        FUZZ_CHECK(rt_http_chunked_scan(&s, buf, len, d->body_len - 1) == RT_EBODYTOOBIG);
    }
}

static void check_as_wire(const uint8_t *data, size_t size, struct fuzz_rng *rng)
{
    uint64_t max_body = RT_HTTP_MAX_BODY;
    if (fuzz_below(rng, 4) == 0)
        max_body = fuzz_below(rng, size + 1); /* so small inputs reach the limit */
    char *buf = fuzz_copy(data, size);
    char *seen = fuzz_copy(data, size);

    struct rt_http_chunked whole = {0};
    int64_t rc = rt_http_chunked_scan(&whole, buf, size, max_body);
    FUZZ_CHECK(scan_rc_ok(rc));
    struct rt_http_chunked d;
    FUZZ_CHECK(scan_bytewise(buf, size, max_body, seen, &d) == rc);
    FUZZ_CHECK(d.body_len == whole.body_len);
    FUZZ_CHECK(scan_split(buf, size, max_body, rng, &d) == rc);
    FUZZ_CHECK(d.body_len == whole.body_len);
    if (rc > 0)
        check_complete(buf, size, rc, &whole, seen);

    /* Decoding what was never scanned: anything, as long as it stays in. */
    memcpy(buf, data, size);
    FUZZ_CHECK(rt_http_chunked_decode(buf, size) <= size);
    fuzz_free(seen, size);
    fuzz_free(buf, size);
}

/* ---- Encoding input-chosen data ---------------------------------------- */

static size_t put(char *out, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(out + at, s, n);
    return at + n;
}

static size_t put_eol(char *out, size_t at, struct fuzz_rng *rng)
{
    return put(out, at, fuzz_below(rng, 3) == 0 ? "\n" : "\r\n");
}

/* A size line: hex in either case, maybe with leading zeros, maybe BWS and
 * an extension. */
static size_t put_size_line(char *out, size_t at, uint64_t size, struct fuzz_rng *rng)
{
    char hex[40];
    int n = snprintf(hex, sizeof hex, fuzz_below(rng, 2) ? "%0*llx" : "%0*llX",
                     (int)fuzz_below(rng, 20), (unsigned long long)size);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof hex);
    at = put(out, at, hex);
    static const char *const ext[] = {"", "", ";a=b", " ;x", "\t;q=\"a;b\"", ";e"};
    at = put(out, at, ext[fuzz_below(rng, sizeof ext / sizeof ext[0])]);
    return put_eol(out, at, rng);
}

static void check_roundtrip(const uint8_t *data, size_t size, struct fuzz_rng *rng)
{
    /* At worst one chunk per byte, each with a size line of under 40 bytes. */
    size_t cap = size * 48 + 128, at = 0;
    char *wire = malloc(cap);
    FUZZ_CHECK(wire != NULL);
    for (size_t i = 0; i < size;) {
        size_t chunk = 1 + fuzz_below(rng, fuzz_below(rng, 2) ? size - i : 8);
        if (chunk > size - i)
            chunk = size - i;
        at = put_size_line(wire, at, chunk, rng);
        memcpy(wire + at, data + i, chunk);
        at = put_eol(wire, at + chunk, rng);
        i += chunk;
    }
    at = put_size_line(wire, at, 0, rng);
    if (fuzz_below(rng, 2))
        at = put_eol(wire, put(wire, at, "X-Trailer: t"), rng);
    at = put_eol(wire, at, rng);
    size_t body_len = at;
    at = put(wire, at, "GET / HTTP/1.1\r\n"); /* the next request, not ours */

    char *buf = fuzz_copy(wire, at);
    struct rt_http_chunked d = {0};
    FUZZ_CHECK(rt_http_chunked_scan(&d, buf, at, size) == (int64_t)body_len);
    FUZZ_CHECK(d.body_len == size);
    FUZZ_CHECK(scan_split(buf, at, size, rng, &d) == (int64_t)body_len);
    fuzz_free(buf, at);

    buf = fuzz_copy(wire, body_len);
    FUZZ_CHECK(rt_http_chunked_decode(buf, body_len) == size);
    FUZZ_CHECK(size == 0 || memcmp(buf, data, size) == 0);
    fuzz_free(buf, body_len);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    check_as_wire(data, size, &rng);
    check_roundtrip(data, size, &rng);
    return 0;
}
