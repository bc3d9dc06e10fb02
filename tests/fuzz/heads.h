/*
 * heads.h - the replays that the request and the response head parsers
 * share (heads.c): both find the end of a head, both keep the same prev_len
 * contract, both hand out views into the caller's buffer.
 *
 * A target wraps its parser in a head_parse_fn that checks what a single
 * call must satisfy and writes what the call found into a struct head_sum,
 * with every view as an offset into the buffer. heads.c then checks that
 * every way of feeding the same bytes gives the same summary.
 */
#ifndef RT_FUZZ_HEADS_H
#define RT_FUZZ_HEADS_H

#include <stddef.h>
#include <stdint.h>

#include "rt_proto.h"

/* How the body after a head is framed, for walking a pipelined buffer. */
enum head_body { BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };

/* Numbers per summary: a few for the start line and framing, four per header. */
#define HEAD_SUM_MAX (16 + 4 * RT_HTTP_MAX_HEADERS)

struct head_sum {
    int rc;
    size_t nv;
    uint64_t v[HEAD_SUM_MAX]; /* offsets, lengths and flags, compared as they are */
    /* Set when rc > 0: */
    size_t head_len;
    enum head_body body;
    uint64_t body_len; /* BODY_LENGTH: bytes of body (Content-Length, or 0) */
    bool has_cl;       /* a Content-Length limit applies (requests: max_body) */
};

/* Appends one number to a summary. */
void head_sum_add(struct head_sum *s, uint64_t v);

/* Parses buf[0..len) with the given limits, checks the invariants of one
 * call, and fills *out (zeroed first by the caller's head_parse_fn). */
typedef void (*head_parse_fn)(const char *buf, size_t len, size_t prev_len, size_t max_head,
                              uint64_t max_body, struct head_sum *out);

/*
 * Runs every replay on data[0..size): whole; one byte at a time with
 * prev_len; split at points derived from the input; from scratch at those
 * points; with max_head and max_body just at and just under what the head
 * needs. Then walks on past the body to the next head in the buffer (a
 * pipelined request or response) and does the same there.
 */
void heads_check(head_parse_fn parse, const uint8_t *data, size_t size);

#endif
