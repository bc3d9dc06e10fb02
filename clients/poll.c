/*
 * poll.c - the polling loop that short and long polling share.
 *
 *          +------------------------------------------------------+
 *          v                                                      |
 *   wait ----> GET /poll?topic=T&since=N[&timeout=S] ----> answer ---+
 *     ^                                                    |
 *     |   200 messages: deliver the new ones, N = next     |
 *     |   200 reset:    N = next, say so                    |
 *     |   204:          nothing new                         |
 *     +--- failure (network, timeout, 5xx, bad JSON): backoff with jitter
 *
 * The wait after a good answer is what tells the two apart: short polling
 * waits its interval (the server answers at once); long polling asks again
 * at once (the server did the waiting, holding the request up to S seconds).
 * short_poll.c and long_poll.c hold the lessons and the approach entries;
 * this file is the machine.
 *
 * Against nginx's nchan module (`rtlab load long --peer nchan`, internal.h
 * "Peers") the loop is the same, but the position travels in headers
 * (nchan.c), each answer is one published body, and "nothing new" is a 304
 * or, when nchan's hold ends, a 408.
 *
 * WHEN THINGS GO WRONG
 *   A failed request (refused, timed out, 5xx, an answer we cannot read)
 *   is retried after a backoff with full jitter (rt_retry.h), so a fleet of
 *   clients does not hammer a server that just restarted. Retries can fetch
 *   a message twice; rt_seq drops what was already delivered. An answer
 *   {"reset":true,"next":N} says our `since` is not in the server's log (it
 *   restarted, or we fell behind its ring): we continue after N and say
 *   that messages may have been missed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static void on_due(uv_timer_t *t);

static void wait_then_poll(struct rt_poll_sub *s, uint64_t ms)
{
    /* Fails only on a closing handle, and nothing schedules once closing. */
    (void)uv_timer_start(&s->b.timer, on_due, ms, 0);
}

/* ---- Answers ----------------------------------------------------------- */

/* A request failed: count it, say so, and try again after a backoff. */
static void retry_later(struct rt_poll_sub *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void retry_later(struct rt_poll_sub *s, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    uint64_t delay = rt_backoff_next(&s->b.backoff);
    rt_sub_trouble(&s->b.cfg, true, "retrying", delay, "%s", why);
    wait_then_poll(s, delay);
}

/*
 * Delivers each new message of the array, in order. cJSON gives us each
 * message's fields; body[] gives its text, which we step through alongside
 * (rt_json_next_element) so the message can be passed on as sent. Returns 0,
 * or -1 for a message without a valid id (the rest is not delivered).
 */
static int take_messages(struct rt_poll_sub *s, const cJSON *messages, const char *body, size_t len)
{
    uint64_t now = rt_now_us();
    size_t at = rt_json_member(body, len, "messages"), start = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        size_t n = rt_json_next_element(body, len, &at, &start);
        if (rt_sub_take(&s->b.cfg, &s->b.seq, m, body + start, n, now) < 0)
            return -1;
        if (s->b.closing) /* the callback had enough */
            return 0;
    }
    return 0;
}

/* A 200 answer: messages, or a reset. Returns NULL or what was wrong. */
static const char *take_batch(struct rt_poll_sub *s, const char *body, size_t len, bool *full)
{
    const char *bad = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    uint64_t next;
    if (!cJSON_IsObject(root)) {
        bad = "the answer is not a JSON object";
    } else if (!rt_json_u64(cJSON_GetObjectItemCaseSensitive(root, "next"), &next)) {
        bad = "the answer has no valid \"next\"";
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "reset"))) {
        rt_sub_reset(&s->b.cfg, &s->b.seq, next);
        s->since = next;
    } else if (!cJSON_IsArray(messages)) {
        bad = "the answer has no \"messages\" array";
    } else if (take_messages(s, messages, body, len) < 0) {
        bad = "a message in the answer has no valid \"id\"";
    } else {
        s->since = next;
        *full = cJSON_GetArraySize(messages) >= RT_POLL_BATCH_MAX || len >= RT_POLL_BATCH_BYTES;
    }
    cJSON_Delete(root);
    return bad;
}

/* A 200 answer from nchan (--peer nchan): one message, the published body
 * itself, with where it stands in Last-Modified and Etag. The cursor moves
 * first, so a body we cannot read is skipped rather than fetched again.
 * Returns NULL or what was wrong. */
static const char *take_nchan(struct rt_poll_sub *s, const struct rt_hanswer *ans)
{
    uint64_t now = rt_now_us();
    const char *bad = NULL;
    if (!rt_nchan_cursor_from_head(&s->b.nchan, ans->head))
        bad = "the answer has no valid Last-Modified and Etag";
    cJSON *root = cJSON_ParseWithLength(ans->body, ans->body_len);
    if (bad == NULL && !cJSON_IsObject(root))
        bad = "the answer is not a JSON object";
    else if (bad == NULL &&
             rt_sub_take(&s->b.cfg, &s->b.seq, root, ans->body, ans->body_len, now) < 0)
        bad = "the body has no valid \"seq\"";
    cJSON_Delete(root);
    return bad;
}

/*
 * How long to wait before the next poll after a good answer. Short polling:
 * the interval, or nothing when the batch was full (more are waiting). Long
 * polling: nothing - except after an empty answer that came back sooner
 * than RT_LONG_MIN_CYCLE_MS, which means the server did not hold it.
 */
static uint64_t next_wait(const struct rt_poll_sub *s, bool empty, bool full)
{
    if (s->hold_ms == 0)
        return full ? 0 : s->b.cfg.interval_ms;
    uint64_t took = uv_now(s->b.timer.loop) - s->sent_ms;
    return empty && took < RT_LONG_MIN_CYCLE_MS ? RT_LONG_MIN_CYCLE_MS - took : 0;
}

static void on_answer(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct rt_poll_sub *s = http->data;
    s->b.cfg.stats->held--;
    rt_sub_count_connects(s->b.cfg.stats, http, &s->b.connects_seen);
    if (s->b.closing)
        return;
    if (err < 0) {
        retry_later(s, "%s", rt_hclient_strerror(err));
        return;
    }
    bool full = false, nchan = s->b.cfg.peer == RT_PEER_NCHAN;
    /* Nothing new: rtlab says 204; nchan 304, or 408 when its hold ends. */
    bool empty = ans->status == 204 || (nchan && (ans->status == 304 || ans->status == 408));
    if (empty) {
        s->b.cfg.stats->empty++;
    } else if (ans->status == 200 && nchan) {
        const char *bad = take_nchan(s, ans);
        if (s->b.closing)
            return;
        if (bad) {
            retry_later(s, "bad answer: %s", bad);
            return;
        }
    } else if (ans->status == 200) {
        const char *bad = take_batch(s, ans->body, ans->body_len, &full);
        if (s->b.closing)
            return;
        if (bad) {
            retry_later(s, "bad answer: %s", bad);
            return;
        }
    } else {
        int n = ans->body_len > 200 ? 200 : (int)ans->body_len;
        retry_later(s, "HTTP %d %s: %.*s", ans->status, rt_http_reason(ans->status), n, ans->body);
        return;
    }
    rt_backoff_reset(&s->b.backoff);
    wait_then_poll(s, next_wait(s, empty, full));
}

/* ---- Requests ---------------------------------------------------------- */

/* The request's target, and its header lines (NULL: none). rtlab takes our
 * position and hold in the query; nchan its cursor in headers, and the hold
 * from its own configuration (nchan_subscriber_timeout). */
static void make_request(const struct rt_poll_sub *s, char *target, size_t cap, char *headers,
                         size_t headers_cap, const char **extra)
{
    const struct rt_sub_config *cfg = &s->b.cfg;
    *extra = NULL;
    if (cfg->peer == RT_PEER_NCHAN) {
        snprintf(target, cap, "%s/poll?topic=%s", cfg->ep->prefix, cfg->topic);
        if (rt_nchan_cursor_poll_headers(&s->b.nchan, headers, headers_cap) > 0)
            *extra = headers;
        return;
    }
    int n = snprintf(target, cap, "%s/poll?topic=%s&since=%" PRIu64, cfg->ep->prefix, cfg->topic,
                     s->since);
    if (s->hold_ms > 0)
        snprintf(target + n, cap - (size_t)n, "&timeout=%" PRIu64, s->hold_ms / 1000);
}

static void poll_now(struct rt_poll_sub *s)
{
    char target[sizeof s->b.cfg.ep->prefix + RT_NAME_MAX + 96], headers[128];
    const char *extra;
    make_request(s, target, sizeof target, headers, sizeof headers, &extra);
    /* Long polling: the per-request deadline is the hold plus a margin for
     * the network and a busy server, so a held request is never given up
     * on just before its answer. */
    uint64_t timeout_ms = 0;
    if (s->hold_ms > 0)
        timeout_ms =
            s->hold_ms + (s->b.cfg.margin_ms ? s->b.cfg.margin_ms : RT_CLIENT_REQUEST_TIMEOUT_MS);
    s->b.cfg.stats->requests++;
    s->sent_ms = uv_now(s->b.timer.loop);
    s->b.cfg.stats->held++; /* before: on_answer() may run before the call returns */
    int r = rt_hclient_get(&s->b.http, target, extra, timeout_ms, on_answer);
    if (r < 0) {
        s->b.cfg.stats->held--;
        retry_later(s, "cannot send the request: %s", rt_hclient_strerror(r));
    }
}

static void on_due(uv_timer_t *t)
{
    poll_now(t->data);
}

/* ---- The subscriber interface ------------------------------------------ */

int rt_poll_init(uv_loop_t *loop, struct rt_poll_sub *s, const struct rt_sub_config *cfg,
                 uint64_t hold_ms)
{
    int r = rt_sub_base_init(loop, &s->b, cfg);
    s->since = cfg->since;
    s->hold_ms = hold_ms;
    return r;
}

void rt_poll_start(void *sub, uint64_t delay_ms)
{
    wait_then_poll(sub, delay_ms);
}
