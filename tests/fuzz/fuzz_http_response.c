/*
 * fuzz_http_response.c - rt_http_response_parse(), the clients' response
 * head parser, which keeps the request parser's prev_len contract.
 *
 * The input is what a client reads: one response head, or several with
 * their bodies (Content-Length or chunked). Invariants, for each head:
 *   - the replays of heads.c (whole, byte by byte, split, from scratch at
 *     each split, max_head at and just under head_len): the same answer
 *     and views each time;
 *   - one call: a head length, RT_EMORE, RT_EBADRESP or RT_EHEADTOOBIG;
 *     head_len <= len and <= max_head, the head ends in LF, the status is
 *     three digits from 100, header views lie inside the head, and the
 *     framing fields agree with the headers;
 *   - the request parser, sharing the search for the end of a head, finds
 *     the same end: it needs more exactly when this one does, finds the
 *     head too big exactly when this one does, and when both succeed their
 *     head lengths are equal.
 */
#include "fuzz.h"
#include "heads.h"

static bool all_tchar(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL))
            return false;
    }
    return n > 0;
}

static void check_header(const struct rt_http_header *h, const char *buf, size_t head_len)
{
    FUZZ_CHECK(fuzz_inside(h->name, h->name_len + 1, buf, head_len));
    FUZZ_CHECK(all_tchar(h->name, h->name_len) && h->name[h->name_len] == ':');
    FUZZ_CHECK(fuzz_inside(h->value, h->value_len, buf, head_len));
    for (size_t j = 0; j < h->value_len; j++) {
        unsigned char c = (unsigned char)h->value[j];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    if (h->value_len > 0) {
        FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
        FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
    }
}

static void check_framing(const struct rt_http_response *r)
{
    const struct rt_http_header *cl =
        rt_http_header_find(r->headers, r->num_headers, "Content-Length");
    const struct rt_http_header *te =
        rt_http_header_find(r->headers, r->num_headers, "Transfer-Encoding");
    FUZZ_CHECK(!(cl != NULL && te != NULL));
    FUZZ_CHECK(r->chunked == (te != NULL));
    FUZZ_CHECK((cl == NULL) == (r->content_length == -1));
    uint64_t v;
    if (cl != NULL && rt_parse_u64(cl->value, cl->value_len, &v) == 0)
        FUZZ_CHECK(r->content_length >= 0 && (uint64_t)r->content_length == v);
    if (rt_http_header_find(r->headers, r->num_headers, "Connection") == NULL)
        FUZZ_CHECK(r->keep_alive == (r->minor_version == 1));
}

/* The request parser's answer on the same bytes, as far as the shared
 * search for the end of the head decides it. */
static void check_same_end(const char *buf, size_t len, size_t max_head, int rc)
{
    static struct rt_http_request req;
    int req_rc = rt_http_request_parse(&req, buf, len, 0, max_head, RT_HTTP_MAX_BODY);
    FUZZ_CHECK((req_rc == RT_EMORE) == (rc == RT_EMORE));
    FUZZ_CHECK((req_rc == RT_EHEADTOOBIG) == (rc == RT_EHEADTOOBIG));
    if (req_rc > 0 && rc > 0)
        FUZZ_CHECK(req_rc == rc);
}

static void summarize(const struct rt_http_response *r, const char *buf, struct head_sum *s)
{
    head_sum_add(s, (uint64_t)r->minor_version);
    head_sum_add(s, (uint64_t)r->status);
    head_sum_add(s, r->head_len);
    head_sum_add(s, (uint64_t)r->content_length);
    head_sum_add(s, (uint64_t)r->chunked << 1 | r->keep_alive);
    head_sum_add(s, r->num_headers);
    for (size_t i = 0; i < r->num_headers; i++) {
        head_sum_add(s, (uint64_t)(r->headers[i].name - buf));
        head_sum_add(s, r->headers[i].name_len);
        head_sum_add(s, (uint64_t)(r->headers[i].value - buf));
        head_sum_add(s, r->headers[i].value_len);
    }
}

static void parse(const char *buf, size_t len, size_t prev_len, size_t max_head, uint64_t max_body,
                  struct head_sum *out)
{
    (void)max_body; /* a client checks the body's size itself */
    static struct rt_http_response r;
    memset(&r, 0xA5, sizeof r);
    int rc = rt_http_response_parse(&r, buf, len, prev_len, max_head);
    out->rc = rc;
    if (prev_len == 0)
        check_same_end(buf, len, max_head, rc);
    if (rc <= 0) {
        FUZZ_CHECK(rc == RT_EMORE || rc == RT_EBADRESP || rc == RT_EHEADTOOBIG);
        return;
    }
    size_t h = (size_t)rc;
    FUZZ_CHECK(r.head_len == h && h <= len && h <= max_head && buf[h - 1] == '\n');
    FUZZ_CHECK(memcmp(buf, "HTTP/1.", 7) == 0);
    FUZZ_CHECK(r.minor_version == 0 || r.minor_version == 1);
    FUZZ_CHECK(r.status >= 100 && r.status <= 999);
    FUZZ_CHECK(r.status == (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
    FUZZ_CHECK(r.num_headers <= RT_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < r.num_headers; i++)
        check_header(&r.headers[i], buf, h);
    check_framing(&r);

    summarize(&r, buf, out);
    out->head_len = h;
    if (rt_http_response_bodyless(NULL, r.status)) {
        out->body = BODY_LENGTH; /* no body whatever the headers say */
    } else if (r.chunked) {
        out->body = BODY_CHUNKED;
    } else if (r.content_length >= 0) {
        out->body = BODY_LENGTH;
        out->body_len = (uint64_t)r.content_length;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    heads_check(parse, data, size);
    return 0;
}
