/*
 * sse_replay.h - feeding an event stream to rt_sse_parse() in pieces and
 * writing down what comes out, for the two SSE targets (sse_replay.c).
 *
 * What a parse yields is kept as an event log: each event's type, id and
 * data, then an error mark if the stream failed, then the retry value.
 * Two ways of feeding the same stream must give byte-identical logs, and
 * so must the reference parser of fuzz_sse_parse.c and the expectations of
 * fuzz_sse_roundtrip.c, which write their logs with the same functions.
 */
#ifndef RT_FUZZ_SSE_REPLAY_H
#define RT_FUZZ_SSE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sse_log {
    char *b;
    size_t n, cap;
};

void sse_log_event(struct sse_log *l, const char *type, size_t type_len, const char *id,
                   size_t id_len, const char *data, size_t data_len);
void sse_log_error(struct sse_log *l);
void sse_log_retry(struct sse_log *l, int64_t retry_ms);
bool sse_log_equal(const struct sse_log *a, const struct sse_log *b);
void sse_log_free(struct sse_log *l);

/*
 * Parses in[0..len) with a data buffer of exactly data_cap bytes, in pieces
 * ending at the sorted offsets cuts[0..ncuts) (and at len), calling again
 * after each event. Each call sees only its piece (AddressSanitizer checks
 * that), and the whole input is poisoned while an event is read, so an
 * event that points into the input is caught. Checks each call's answer
 * and each event (types and ids hold no line break, data no CR, sizes
 * within the limits) and writes the log to *out.
 */
void sse_replay(const char *in, size_t len, size_t data_cap, const size_t *cuts, size_t ncuts,
                struct sse_log *out);

/* The same, fed one byte per call. */
void sse_replay_bytewise(const char *in, size_t len, size_t data_cap, struct sse_log *out);

#endif
