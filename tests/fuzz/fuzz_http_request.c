/*
 * fuzz_http_request.c - rt_http_request_parse(), the server's request head
 * parser, with its prev_len contract.
 *
 * The input is a buffer as a server would read it: one request head, or
 * several pipelined requests with their bodies. Invariants, for each head
 * in the buffer (heads.c does the replays):
 *   - whole, byte by byte (prev_len = the last length), split at points
 *     derived from the input, and from scratch at each of those points:
 *     the same answer and the same views; a head is found exactly when its
 *     last byte arrives;
 *   - max_head = head_len parses the same and head_len - 1 is too big;
 *     max_body = Content-Length parses the same and one less is too big;
 *   - one call (below): the answer is a head length or a documented error;
 *     head_len <= len and <= max_head and the head ends in LF; every view
 *     lies inside the head; the method and header names are tokens, the
 *     path starts with '/', values hold no line break and no whitespace at
 *     either end; the framing fields agree with the headers.
 */
#include "fuzz.h"
#include "heads.h"

/* RFC 9110 section 5.6.2: VCHAR except the delimiters. */
static bool is_tchar(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

static bool all_tchar(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)s[i]))
            return false;
    }
    return n > 0;
}

/* Offsets into buf, so parses of one buffer at different times compare. */
static uint64_t off(const char *p, const char *buf)
{
    return p == NULL ? UINT64_MAX : (uint64_t)(p - buf);
}

/* The request target: no whitespace or control byte, and starts with '/'. */
static void check_target(const struct rt_http_request *r, const char *buf, size_t head_len)
{
    FUZZ_CHECK(r->path == r->method + r->method_len + 1);
    FUZZ_CHECK(fuzz_inside(r->path, r->path_len, buf, head_len));
    FUZZ_CHECK(r->path_len > 0 && r->path[0] == '/');
    FUZZ_CHECK(memchr(r->path, '?', r->path_len) == NULL);
    size_t target_len = r->path_len;
    if (r->query != NULL) {
        FUZZ_CHECK(r->query == r->path + r->path_len + 1 && r->query[-1] == '?');
        FUZZ_CHECK(fuzz_inside(r->query, r->query_len, buf, head_len));
        target_len += 1 + r->query_len;
    } else {
        FUZZ_CHECK(r->query_len == 0);
    }
    for (size_t i = 0; i < target_len; i++)
        FUZZ_CHECK((unsigned char)r->path[i] > 0x20 && r->path[i] != 0x7f);
    FUZZ_CHECK(r->path[target_len] == ' ');
}

static void check_header(const struct rt_http_request *r, size_t i, const char *buf,
                         size_t head_len)
{
    const struct rt_http_header *h = &r->headers[i];
    FUZZ_CHECK(fuzz_inside(h->name, h->name_len + 1, buf, head_len));
    FUZZ_CHECK(all_tchar(h->name, h->name_len) && h->name[h->name_len] == ':');
    FUZZ_CHECK(fuzz_inside(h->value, h->value_len, buf, head_len));
    FUZZ_CHECK(h->value > h->name + h->name_len);
    for (size_t j = 0; j < h->value_len; j++) {
        unsigned char c = (unsigned char)h->value[j];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    if (h->value_len > 0) {
        FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
        FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
    }
    /* rt_http_header_find() finds this header or an earlier one of its name. */
    char name[RT_HTTP_MAX_HEAD + 1];
    if (h->name_len < sizeof name) {
        memcpy(name, h->name, h->name_len);
        name[h->name_len] = '\0';
        const struct rt_http_header *f = rt_http_header_find(r->headers, r->num_headers, name);
        FUZZ_CHECK(f != NULL && f <= h && f->name_len == h->name_len);
    }
}

/* What the headers say about framing agrees with the derived fields. */
static void check_framing(const struct rt_http_request *r, uint64_t max_body)
{
    const struct rt_http_header *cl =
        rt_http_header_find(r->headers, r->num_headers, "Content-Length");
    const struct rt_http_header *te =
        rt_http_header_find(r->headers, r->num_headers, "Transfer-Encoding");
    FUZZ_CHECK(!(cl != NULL && te != NULL));
    FUZZ_CHECK(r->chunked == (te != NULL));
    if (cl == NULL)
        FUZZ_CHECK(r->content_length == 0);
    uint64_t v;
    if (cl != NULL && rt_parse_u64(cl->value, cl->value_len, &v) == 0)
        FUZZ_CHECK(r->content_length == v);
    FUZZ_CHECK(r->content_length <= max_body);
    FUZZ_CHECK(!r->expect_continue || r->minor_version == 1);
    if (rt_http_header_find(r->headers, r->num_headers, "Connection") == NULL)
        FUZZ_CHECK(r->keep_alive == (r->minor_version == 1));
}

static void summarize(const struct rt_http_request *r, const char *buf, struct head_sum *s)
{
    head_sum_add(s, off(r->method, buf));
    head_sum_add(s, r->method_len);
    head_sum_add(s, off(r->path, buf));
    head_sum_add(s, r->path_len);
    head_sum_add(s, off(r->query, buf));
    head_sum_add(s, r->query_len);
    head_sum_add(s, (uint64_t)r->minor_version);
    head_sum_add(s, r->head_len);
    head_sum_add(s, r->content_length);
    head_sum_add(s, (uint64_t)r->chunked << 2 | (uint64_t)r->keep_alive << 1 | r->expect_continue);
    head_sum_add(s, r->num_headers);
    for (size_t i = 0; i < r->num_headers; i++) {
        head_sum_add(s, off(r->headers[i].name, buf));
        head_sum_add(s, r->headers[i].name_len);
        head_sum_add(s, off(r->headers[i].value, buf));
        head_sum_add(s, r->headers[i].value_len);
    }
}

static void parse(const char *buf, size_t len, size_t prev_len, size_t max_head, uint64_t max_body,
                  struct head_sum *out)
{
    static struct rt_http_request r;
    memset(&r, 0xA5, sizeof r); /* the parser must not count on zeroed fields */
    int rc = rt_http_request_parse(&r, buf, len, prev_len, max_head, max_body);
    out->rc = rc;
    if (rc <= 0) {
        FUZZ_CHECK(rc == RT_EMORE || rc == RT_EBADREQ || rc == RT_EHEADTOOBIG ||
                   rc == RT_EBODYTOOBIG || rc == RT_ENOTIMPL || rc == RT_EVERSION);
        return;
    }
    size_t h = (size_t)rc;
    FUZZ_CHECK(r.head_len == h && h <= len && h <= max_head && buf[h - 1] == '\n');
    FUZZ_CHECK(r.method == buf && all_tchar(r.method, r.method_len));
    FUZZ_CHECK(r.method[r.method_len] == ' ');
    check_target(&r, buf, h);
    FUZZ_CHECK(r.minor_version == 0 || r.minor_version == 1);
    FUZZ_CHECK(r.num_headers <= RT_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < r.num_headers; i++)
        check_header(&r, i, buf, h);
    check_framing(&r, max_body);

    summarize(&r, buf, out);
    out->head_len = h;
    out->body = r.chunked ? BODY_CHUNKED : BODY_LENGTH;
    out->body_len = r.chunked ? 0 : r.content_length;
    out->has_cl = !r.chunked;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    heads_check(parse, data, size);
    return 0;
}
