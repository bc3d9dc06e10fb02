/*
 * short_poll.c - the short-polling client.
 *
 * THE IDEA
 *   Ask the server "anything after message N?" every few seconds. It answers
 *   at once, with the messages or with "nothing" (204). Remember the last id
 *   and ask again with it after a fixed wait. Nothing stays open between
 *   questions but an idle keep-alive connection.
 *
 * ON THE WIRE (one keep-alive connection; interval T)
 *
 *   client                                      server
 *     |-- GET /poll?topic=a&since=7 ------------->|
 *     |<-------------------------- 204 No Content-|   nothing new
 *     |        ... wait T ...                      |
 *     |-- GET /poll?topic=a&since=7 ------------->|
 *     |<-- 200 {"messages":[{"id":8,...}],"next":8}|
 *     |        ... wait T ...                      |
 *     |-- GET /poll?topic=a&since=8 ------------->|
 *
 * COSTS
 *   One request per client per T whether or not anything happened: with
 *   rare updates nearly every answer is empty. A message waits on average
 *   T/2 (plus a round trip) before a client asks for it.
 *
 * WHEN THINGS GO WRONG
 *   A failed request (refused, timed out, 5xx, an answer we cannot read)
 *   is retried after a backoff with full jitter (rt_retry.h), so a fleet of
 *   clients does not hammer a server that just restarted. Retries can fetch
 *   a message twice; rt_seq drops what was already delivered. An answer
 *   {"reset":true,"next":N} says our `since` is not in the server's log (it
 *   restarted, or we fell behind its ring): we continue after N and say
 *   that messages may have been missed.
 *
 * A CHOICE: fixed delay, not fixed rate
 *   We wait T from the end of one answer to the next request, so the period
 *   is T plus a round trip. A fixed-rate schedule would keep exactly N/T
 *   requests/s, but a slow server would then find the next request queued
 *   before it had answered the last; waiting after the answer means a slow
 *   server is asked less, never more. On a LAN the round trip is well under
 *   a millisecond, so the rate stays N/T to within 0.1%. One exception: an
 *   answer with a full batch (RT_POLL_BATCH_MAX messages or
 *   RT_POLL_BATCH_BYTES) means more are waiting, so we ask again at once.
 *
 * WE SIMPLIFIED
 *   One topic per client; no conditional requests (ETag/If-None-Match),
 *   which would let a cache answer the empty polls.
 *
 * COMPARE WITH
 *   long_poll.c (later): the same loop, but the server holds the request
 *   until a message exists, so the wait moves from the client to the server.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* ---- Data structures --------------------------------------------------- */

struct short_sub {
    struct rt_hclient http; /* the keep-alive connection */
    uv_timer_t timer;       /* the wait before the next request */
    struct rt_sub_config cfg;
    struct rt_seq seq;         /* what was delivered: de-dup and order */
    struct rt_backoff backoff; /* how long to wait after a failure */
    uint64_t since;            /* what we ask for next */
    bool closing;
    int closes_left;
    void (*close_cb)(void *sub);
};

static void on_due(uv_timer_t *t);

static void wait_then_poll(struct short_sub *s, uint64_t ms)
{
    /* Fails only on a closing handle, and nothing schedules once closing. */
    (void)uv_timer_start(&s->timer, on_due, ms, 0);
}

/* ---- Answers ----------------------------------------------------------- */

/* A request failed: count it, say so, and try again after a backoff. */
static void retry_later(struct short_sub *s, const char *fmt, ...)
{
    uint64_t delay = rt_backoff_next(&s->backoff);
    s->cfg.stats->errors++;
    if (s->cfg.verbose) {
        char why[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        fprintf(stderr, "error: topic %s: %s; retrying in %.1f s\n", s->cfg.topic, why,
                (double)delay / 1000.0);
    }
    wait_then_poll(s, delay);
}

/* {"reset":true,"next":N}: our position is gone; carry on after N. */
static void take_reset(struct short_sub *s, uint64_t next)
{
    s->cfg.stats->resets++;
    rt_seq_reset(&s->seq, next);
    s->since = next;
    if (s->cfg.verbose)
        fprintf(stderr,
                "reset: topic %s restarts after id %" PRIu64 "; messages may have been missed\n",
                s->cfg.topic, next);
}

/*
 * Delivers each new message of the array, in order. cJSON gives us each
 * message's fields; body[] gives its text, which we step through alongside
 * (rt_json_next_element) so the message can be passed on as sent. Returns 0,
 * or -1 for a message without a valid id (the rest is not delivered).
 */
static int take_messages(struct short_sub *s, const cJSON *messages, const char *body, size_t len)
{
    struct rt_sub_stats *st = s->cfg.stats;
    uint64_t now = rt_now_us();
    size_t at = rt_json_member(body, len, "messages"), start = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        struct rt_sub_msg msg = {.raw_len = rt_json_next_element(body, len, &at, &start)};
        msg.raw = body + start;
        if (!rt_json_u64(cJSON_GetObjectItemCaseSensitive(m, "id"), &msg.id) || msg.id == 0)
            return -1;
        if (rt_seq_accept(&s->seq, msg.id) == RT_SEQ_DUP) {
            st->duplicates++;
            continue;
        }
        st->messages++;
        if (rt_json_u64(cJSON_GetObjectItemCaseSensitive(m, "ts"), &msg.ts_us))
            rt_hist_record(&st->latency, now > msg.ts_us ? now - msg.ts_us : 0);
        if (s->cfg.on_message)
            s->cfg.on_message(s->cfg.arg, &msg);
        if (s->closing) /* the callback had enough */
            return 0;
    }
    return 0;
}

/* A 200 answer: messages, or a reset. Returns NULL or what was wrong. */
static const char *take_batch(struct short_sub *s, const char *body, size_t len, bool *full)
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
        take_reset(s, next);
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

static void on_answer(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct short_sub *s = http->data;
    if (s->closing)
        return;
    if (err < 0) {
        retry_later(s, "%s", rt_hclient_strerror(err));
        return;
    }
    bool full = false;
    if (ans->status == 204) {
        s->cfg.stats->empty++;
    } else if (ans->status == 200) {
        const char *bad = take_batch(s, ans->body, ans->body_len, &full);
        if (s->closing)
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
    rt_backoff_reset(&s->backoff);
    wait_then_poll(s, full ? 0 : s->cfg.interval_ms);
}

/* ---- Requests ---------------------------------------------------------- */

static void poll_now(struct short_sub *s)
{
    char target[sizeof s->cfg.ep->prefix + RT_NAME_MAX + 64];
    snprintf(target, sizeof target, "%s/poll?topic=%s&since=%" PRIu64, s->cfg.ep->prefix,
             s->cfg.topic, s->since);
    s->cfg.stats->requests++;
    int r = rt_hclient_request(&s->http, "GET", target, NULL, NULL, 0, 0, on_answer);
    if (r < 0)
        retry_later(s, "cannot send the request: %s", rt_hclient_strerror(r));
}

static void on_due(uv_timer_t *t)
{
    poll_now(t->data);
}

/* ---- The subscriber interface ------------------------------------------ */

static int short_init(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg)
{
    struct short_sub *s = sub;
    /* uv_timer_init() cannot fail, so the first init never leaks the other. */
    int r = uv_timer_init(loop, &s->timer);
    if (r == 0)
        r = rt_hclient_init(loop, &s->http, cfg->ep);
    if (r < 0)
        return r;
    s->http.data = s;
    s->timer.data = s;
    s->cfg = *cfg;
    s->since = cfg->since;
    rt_seq_init(&s->seq, cfg->since);
    rt_backoff_init(&s->backoff, RT_BACKOFF_BASE_MS, RT_BACKOFF_CAP_MS, cfg->seed);
    s->closing = false;
    return 0;
}

static void short_start(void *sub, uint64_t delay_ms)
{
    wait_then_poll(sub, delay_ms);
}

static void on_part_closed(struct short_sub *s)
{
    if (--s->closes_left == 0 && s->close_cb)
        s->close_cb(s);
}

static void on_http_closed(struct rt_hclient *http)
{
    on_part_closed(http->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    on_part_closed(h->data);
}

static void short_close(void *sub, void (*cb)(void *sub))
{
    struct short_sub *s = sub;
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->closes_left = 2;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    rt_hclient_close(&s->http, on_http_closed);
}

const struct rt_approach rt_short_approach = {
    .name = "short",
    .sub_size = sizeof(struct short_sub),
    .init = short_init,
    .start = short_start,
    .close = short_close,
};
