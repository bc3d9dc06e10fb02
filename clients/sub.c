/*
 * sub.c - what every subscriber does with what it receives, whatever the
 * approach: take a message once and in order, follow a reset, say what went
 * wrong, count connections, and the base every subscriber is built on
 * (its connection and timer, set up and closed). The approaches (poll.c,
 * sse.c) differ in how messages reach them; from here on they are alike.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

int rt_sub_take(const struct rt_sub_config *cfg, struct rt_seq *seq, const cJSON *item,
                const char *raw, size_t raw_len, uint64_t recv_us)
{
    struct rt_sub_stats *st = cfg->stats;
    struct rt_sub_msg msg = {.recv_us = recv_us, .raw = raw, .raw_len = raw_len};
    bool nchan = cfg->peer == RT_PEER_NCHAN;
    /* Where id and ts are (internal.h): nchan hands on the publisher's body,
     * {"seq","ts"}; rtlab wraps it in a message, as data. */
    const cJSON *stamped = item;
    if (!nchan && cfg->clock == RT_CLOCK_PUBLISHER)
        stamped = cJSON_GetObjectItemCaseSensitive(item, "data");
    if (!rt_json_u64(cJSON_GetObjectItemCaseSensitive(item, nchan ? "seq" : "id"), &msg.id) ||
        msg.id == 0)
        return -1;
    enum rt_seq_verdict v = rt_seq_accept(seq, msg.id);
    if (v == RT_SEQ_DUP) {
        st->duplicates++;
        return v;
    }
    st->messages++;
    if (rt_json_u64(cJSON_GetObjectItemCaseSensitive(stamped, "ts"), &msg.ts_us))
        rt_hist_record(&st->latency, recv_us > msg.ts_us ? recv_us - msg.ts_us : 0);
    if (cfg->on_message)
        cfg->on_message(cfg->arg, &msg);
    return v;
}

void rt_sub_reset(const struct rt_sub_config *cfg, struct rt_seq *seq, uint64_t next)
{
    cfg->stats->resets++;
    rt_seq_reset(seq, next);
    if (cfg->verbose)
        fprintf(stderr,
                "reset: topic %s restarts after id %" PRIu64 "; messages may have been missed\n",
                cfg->topic, next);
}

void rt_sub_trouble(const struct rt_sub_config *cfg, bool error, const char *verb,
                    uint64_t delay_ms, const char *fmt, ...)
{
    if (error)
        cfg->stats->errors++;
    if (!cfg->verbose)
        return;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: topic %s: %s; %s in %.1f s\n", error ? "error" : "note", cfg->topic, why,
            verb, (double)delay_ms / 1000.0);
}

void rt_sub_count_connects(struct rt_sub_stats *st, const struct rt_hclient *c, uint64_t *seen)
{
    uint64_t n = c->connects - *seen;
    if (n == 0)
        return;
    st->connects += n;
    st->reconnects += *seen == 0 ? n - 1 : n;
    *seen = c->connects;
}

/* ---- The base every subscriber starts with ----------------------------- */

int rt_sub_base_init(uv_loop_t *loop, struct rt_sub_base *b, const struct rt_sub_config *cfg)
{
    /* uv_timer_init() cannot fail, so the first init never leaks the other. */
    int r = uv_timer_init(loop, &b->timer);
    if (r == 0)
        r = rt_hclient_init(loop, &b->http, cfg->ep);
    if (r < 0)
        return r;
    b->http.data = b;
    b->http.open_conns = &cfg->stats->open;
    b->timer.data = b;
    b->cfg = *cfg;
    rt_seq_init(&b->seq, cfg->since);
    rt_backoff_init(&b->backoff, RT_BACKOFF_BASE_MS, RT_BACKOFF_CAP_MS, cfg->seed);
    b->nchan = (struct rt_nchan_cursor){0};
    b->connects_seen = 0;
    b->closing = false;
    return 0;
}

static void on_part_closed(struct rt_sub_base *b)
{
    if (--b->closes_left == 0 && b->close_cb)
        b->close_cb(b);
}

static void on_http_closed(struct rt_hclient *http)
{
    on_part_closed(http->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    on_part_closed(h->data);
}

void rt_sub_base_close(void *sub, void (*cb)(void *sub))
{
    struct rt_sub_base *b = sub;
    if (b->closing)
        return;
    b->closing = true;
    b->close_cb = cb;
    b->closes_left = 2;
    uv_close((uv_handle_t *)&b->timer, on_timer_closed);
    rt_hclient_close(&b->http, on_http_closed);
}
