/*
 * fuzz_url_query.c - rt_url_parse(), rt_query_get() and rt_parse_u64().
 *
 * The input is read three ways:
 *   - as URL text (up to its first NUL): the answer is 0 or RT_EBADURL; a
 *     parsed URL has scheme "http" or "ws", a non-empty host of allowed
 *     characters, a port from 1, and a path that starts with '/' and holds
 *     no space, control byte or '#'; written back out as text it parses to
 *     the same URL;
 *   - as "KEY\nQUERY": the answer is a length, -1, RT_ENOSPACE or
 *     RT_EBADREQ; a value is NUL-terminated, holds no NUL and is no longer
 *     than the query; with room for it exactly the same value comes back,
 *     with one byte less RT_ENOSPACE (both into exactly sized buffers, the
 *     query in one too); and QUERY's bytes, percent-encoded as the value of
 *     an encoded KEY behind a decoy key, decode back to themselves;
 *   - as a number: rt_parse_u64() accepts exactly the strings of 1 or more
 *     digits whose value fits, and gives that value.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "rt_proto.h"

/* ---- URLs ---------------------------------------------------------------- */

static bool host_char_ok(char c, bool v6)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.')
        return true;
    return v6 ? c == ':' : (c == '-' || c == '_' || c == '~');
}

static void check_url_fields(const struct rt_url *u)
{
    FUZZ_CHECK(strcmp(u->scheme, "http") == 0 || strcmp(u->scheme, "ws") == 0);
    size_t hn = strnlen(u->host, sizeof u->host);
    FUZZ_CHECK(hn > 0 && hn < sizeof u->host);
    bool v6 = memchr(u->host, ':', hn) != NULL;
    for (size_t i = 0; i < hn; i++)
        FUZZ_CHECK(host_char_ok(u->host[i], v6));
    FUZZ_CHECK(u->port > 0);
    size_t pn = strnlen(u->path, sizeof u->path);
    FUZZ_CHECK(pn < sizeof u->path && u->path[0] == '/');
    for (size_t i = 0; i < pn; i++) {
        unsigned char c = (unsigned char)u->path[i];
        FUZZ_CHECK(c > 0x20 && c != 0x7f && c != '#');
    }
}

static void check_url(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    struct rt_url u;
    memset(&u, 0x55, sizeof u);
    int rc = rt_url_parse(&u, text);
    free(text);
    FUZZ_CHECK(rc == 0 || rc == RT_EBADURL);
    if (rc != 0)
        return;
    check_url_fields(&u);

    /* Written back out, an IPv6 literal in brackets, it parses the same. */
    char again[sizeof u.scheme + sizeof u.host + sizeof u.path + 16];
    bool v6 = strchr(u.host, ':') != NULL;
    snprintf(again, sizeof again, "%s://%s%s%s:%u%s", u.scheme, v6 ? "[" : "", u.host,
             v6 ? "]" : "", (unsigned)u.port, u.path);
    struct rt_url u2;
    memset(&u2, 0xAA, sizeof u2);
    FUZZ_CHECK(rt_url_parse(&u2, again) == 0);
    FUZZ_CHECK(strcmp(u.scheme, u2.scheme) == 0 && strcmp(u.host, u2.host) == 0);
    FUZZ_CHECK(u.port == u2.port && strcmp(u.path, u2.path) == 0);
}

/* ---- Query strings ------------------------------------------------------- */

/* rt_query_get() into an exactly sized output buffer of cap bytes. */
static int query_get(const char *q, size_t qn, const char *key, size_t cap, char **out)
{
    *out = malloc(cap > 0 ? cap : 1);
    FUZZ_CHECK(*out != NULL);
    memset(*out, 0x5A, cap);
    return rt_query_get(q, qn, key, *out, cap);
}

static void check_query(const char *q, size_t qn, const char *key)
{
    char *out;
    int rc = query_get(q, qn, key, qn + 1, &out); /* room for any value */
    FUZZ_CHECK(rc >= -1 || rc == RT_EBADREQ);
    if (rc >= 0) {
        FUZZ_CHECK((size_t)rc <= qn && out[rc] == '\0' && strlen(out) == (size_t)rc);
        char *exact;
        FUZZ_CHECK(query_get(q, qn, key, (size_t)rc + 1, &exact) == rc);
        FUZZ_CHECK(memcmp(exact, out, (size_t)rc + 1) == 0);
        fuzz_free(exact, (size_t)rc + 1);
        FUZZ_CHECK(query_get(q, qn, key, (size_t)rc, &exact) == RT_ENOSPACE);
        fuzz_free(exact, (size_t)rc);
    }
    fuzz_free(out, qn + 1);
}

/* Percent-encodes s[0..n): unreserved bytes as they are (or escaped, as the
 * input decides), a space as '+' or "%20", the rest as %XX in either case. */
static size_t encode(char *out, const char *s, size_t n, struct fuzz_rng *rng)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (plain && fuzz_below(rng, 4) != 0)
            out[at++] = (char)c;
        else if (c == ' ' && fuzz_below(rng, 2))
            out[at++] = '+';
        else
            at += (size_t)sprintf(out + at, fuzz_below(rng, 2) ? "%%%02X" : "%%%02x", c);
    }
    return at;
}

/* "KEYx=1&" (a decoy: a longer key), then the encoded key and value. */
static void check_query_roundtrip(const char *key, const char *value, size_t vn,
                                  struct fuzz_rng *rng)
{
    size_t kn = strlen(key);
    if (kn == 0)
        return; /* an empty key is never found */
    char *q = malloc(3 * (kn + 1) * 2 + 3 * vn + 8);
    FUZZ_CHECK(q != NULL);
    size_t at = encode(q, key, kn, rng);
    at += encode(q + at, "x", 1, rng);
    memcpy(q + at, "=1&", 3);
    at += 3;
    at += encode(q + at, key, kn, rng);
    q[at++] = '=';
    at += encode(q + at, value, vn, rng);

    char *qc = fuzz_copy(q, at), *out;
    int rc = query_get(qc, at, key, vn + 1, &out);
    if (memchr(value, '\0', vn) != NULL) {
        FUZZ_CHECK(rc == RT_EBADREQ); /* a decoded NUL */
    } else {
        FUZZ_CHECK(rc >= 0 && (size_t)rc == vn && memcmp(out, value, vn) == 0);
    }
    fuzz_free(out, vn + 1);
    fuzz_free(qc, at);
    free(q);
}

static void check_queries(const uint8_t *data, size_t size, struct fuzz_rng *rng)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t kn = nl != NULL ? (size_t)(nl - data) : 0;
    size_t qoff = nl != NULL ? kn + 1 : 0;
    char *key = malloc(kn + 1);
    FUZZ_CHECK(key != NULL);
    memcpy(key, data, kn);
    key[kn] = '\0'; /* a NUL inside ends the key early, as a C string does */
    const char *k = nl != NULL ? key : "topic";

    char *q = fuzz_copy(data + qoff, size - qoff);
    check_query(q, size - qoff, k);
    check_query_roundtrip(k, q, size - qoff, rng);
    fuzz_free(q, size - qoff);
    free(key);
}

/* ---- Numbers ------------------------------------------------------------- */

static void check_u64(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    uint64_t v = 12345;
    int rc = rt_parse_u64(s, size, &v);
    bool digits = size > 0;
    for (size_t i = 0; i < size; i++)
        digits = digits && s[i] >= '0' && s[i] <= '9';
    size_t z = 0; /* leading zeros, keeping one digit */
    while (z + 1 < size && s[z] == '0')
        z++;
    size_t n = size - z;
    bool fits = digits && (n < 20 || (n == 20 && memcmp(s + z, "18446744073709551615", 20) <= 0));
    FUZZ_CHECK(rc == (fits ? 0 : RT_EBADREQ));
    if (fits) {
        char back[24];
        snprintf(back, sizeof back, "%" PRIu64, v);
        FUZZ_CHECK(strlen(back) == n && memcmp(back, s + z, n) == 0);
    } else {
        FUZZ_CHECK(v == 12345); /* untouched on failure */
    }
    fuzz_free(s, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng rng = fuzz_rng_of(data, size);
    check_url(data, size);
    check_queries(data, size, &rng);
    check_u64(data, size);
    return 0;
}
