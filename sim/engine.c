/*
 * engine.c - the discrete-event engine: a clock, the event queue, the
 * update arrivals and the topic log every approach shares, and the run loop.
 *
 * The loop is the whole idea of a discrete-event simulator:
 *
 *     while the next event is before the end:
 *         pop it (the clock jumps to its time)
 *         let its model handle it (which may schedule more events)
 *
 * Nothing happens between events, so a simulated hour costs only as much as
 * the events in it. One thread, one PRNG, one queue with a fixed tie-break:
 * the same seed replays the same run exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "rt_limits.h"

/* ---- Configuration ------------------------------------------------------ */

void rt_sim_config_init(struct rt_sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->approach = RT_SIM_SHORT;
    c->clients = 1000;
    c->interval_s = 5;
    c->rate = 0.1;
    c->topics = 1;
    c->duration_s = 3600;
    c->rtt_ms = 50;
    c->seed = 1;
    c->ring = RT_RING_DEFAULT; /* the servers' default */
    /* Measured from rtlab's own clients and servers, 2-digit ids (docs/sim-wire.md). */
    c->request_bytes = 83;
    c->empty_bytes = 79;
    c->answer_bytes = 124;
    c->envelope_bytes = 40;
    c->message_bytes = 72;
    c->payload_bytes = 16;
    memcpy(c->radio, "lte", 4);
    c->battery_wh = rt_radio_battery_iphone15.wh;
    c->tcp_overhead = true;
    c->timeout_s = 30; /* the long-polling server's default */
    c->burst = 1;
    c->reconnect = RT_SIM_RC_FULL_JITTER;
    c->reconnect_base_s = RT_BACKOFF_BASE_MS / 1e3;
    c->reconnect_max_s = RT_BACKOFF_CAP_MS / 1e3;
    c->restart_at_s = -1;
    c->restart_down_s = 5;
    c->broker_at_s = -1;
    c->broker_down_s = 30;
    c->slow_bytes_per_s = 2000;
    c->send_queue = RT_SEND_QUEUE_DEFAULT;
}

static const char *const approach_names[] = {"short", "long", "sse", "ws"};

const char *rt_sim_approach_name(enum rt_sim_approach a)
{
    return (unsigned)a < 4 ? approach_names[a] : "?";
}

int rt_sim_approach_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, approach_names[i]) == 0)
            return i;
    return -1;
}

static const char *const reconnect_names[] = {"immediate", "fixed",       "stepped",
                                              "backoff",   "half_jitter", "full_jitter"};

const char *rt_sim_reconnect_name(enum rt_sim_reconnect p)
{
    return (unsigned)p < 6 ? reconnect_names[p] : "?";
}

int rt_sim_reconnect_parse(const char *name)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(name, reconnect_names[i]) == 0)
            return i;
    return -1;
}

/* Checks c; on a bad field, names it in err and returns RT_SIM_EINVAL. */
static int check_config(const struct rt_sim_config *c, char *err, size_t err_len)
{
    const char *bad = NULL;
    if (c->clients < 1 || c->clients > EV_CLIENT_MASK || c->clients > UINT32_MAX)
        bad = "clients: from 1 to 4294967295";
    else if (!(c->interval_s > 0 && c->interval_s <= 86400))
        bad = "interval: more than 0 and at most 86400 s";
    else if (!(c->rate >= 0 && c->rate <= 1e6))
        bad = "rate: from 0 to 1000000 per second per topic";
    else if (c->topics < 1 || c->topics > c->clients)
        bad = "topics: from 1 to the number of clients";
    else if (!(c->duration_s > 0 && c->duration_s <= RT_SIM_DURATION_MAX_S))
        bad = "duration: more than 0 s and at most 90 days (7776000 s)";
    else if (!(c->rtt_ms >= 0 && c->rtt_ms <= 60000))
        bad = "rtt: from 0 to 60000 ms";
    else if (c->ring < 1)
        bad = "ring: at least 1";
    else if ((rt_sim_time)(c->duration_s * 1e6) < 1)
        bad = "duration: at least 1 us";
    else if (c->rate * c->burst * c->duration_s > 4e9)
        bad = "rate x burst x duration: at most 4e9 messages per topic (the cursors are 32-bit)";
    else if ((unsigned)c->approach > RT_SIM_WS)
        bad = "approach: short, long, sse or ws";
    else if (!memchr(c->radio, 0, sizeof c->radio) || !rt_radio_params_find(c->radio))
        bad = "radio: lte, 3g or wifi";
    else if (!(c->battery_wh > 0 && c->battery_wh <= 1e4))
        bad = "battery: more than 0 and at most 10000 Wh";
    else if (!(c->timeout_s >= 0 && c->timeout_s <= RT_LONG_POLL_MAX_S))
        bad = "timeout: from 0 to 120 s, as the long-polling server allows";
    else if (!(c->gap_ms >= 0 && c->gap_ms <= 3.6e6))
        bad = "gap: from 0 to 3600000 ms";
    else if (c->approach == RT_SIM_LONG && c->timeout_s * 1e3 < 1 && c->rtt_ms + c->gap_ms < 1)
        bad = "timeout 0 with rtt + gap under 1 ms: the clients would poll without pause";
    else if (!(c->heartbeat_s <= 3600) || (c->heartbeat_s > 0 && c->heartbeat_s < 0.01))
        bad = "heartbeat: from 0.01 to 3600 s (0: the approach's default, < 0: none)";
    else if (!(c->upstream_rate >= 0 && c->upstream_rate <= 1000))
        bad = "upstream_rate: from 0 to 1000 messages per second per client";
    else if (c->burst < 1 || c->burst > 1000000)
        bad = "burst: from 1 to 1000000 messages per update";
    else if (!(c->rtt_sigma >= 0 && c->rtt_sigma <= 3))
        bad = "rtt_sigma: from 0 to 3";
    else if (!(c->drop_mean_s == 0 || (c->drop_mean_s >= 1 && c->drop_mean_s <= 365 * 86400.0)))
        bad = "drop_mean: 0 (no drops) or from 1 s to a year";
    else if ((unsigned)c->reconnect > RT_SIM_RC_FULL_JITTER)
        bad = "reconnect: immediate, fixed, stepped, backoff, half_jitter or full_jitter";
    else if (!(c->reconnect_base_s >= 0.001 && c->reconnect_base_s <= 3600 &&
               c->reconnect_max_s >= c->reconnect_base_s && c->reconnect_max_s <= 86400))
        bad = "reconnect_base / reconnect_max: base from 0.001 to 3600 s, max from base to 86400 s";
    else if (!(c->restart_down_s >= 0 && c->restart_down_s <= 86400) ||
             !(c->restart_every_s == 0 ||
               ((rt_sim_time)(c->restart_every_s * 1e6) > (rt_sim_time)(c->restart_down_s * 1e6) &&
                c->restart_every_s >= 0.001 && c->restart_every_s <= 365 * 86400.0)))
        bad = "restart: down from 0 to 86400 s, every 0 (once) or at least 1 ms and longer "
              "than down";
    else if (!(c->restart_at_s <= 365 * 86400.0))
        bad = "restart_at: at most a year (< 0: never)";
    else if (!(c->lb_idle_s == 0 || (c->lb_idle_s >= 1 && c->lb_idle_s <= 86400)))
        bad = "lb_idle: 0 (no load balancer) or from 1 to 86400 s";
    else if (!(c->broker_at_s <= 365 * 86400.0) ||
             !(c->broker_down_s >= 0 && c->broker_down_s <= 86400))
        bad = "broker: at most a year (< 0: never), down from 0 to 86400 s";
    else if (!(c->slow_share >= 0 && c->slow_share <= 1) ||
             !(c->slow_bytes_per_s >= 1 && c->slow_bytes_per_s <= 1e10))
        bad = "slow: share from 0 to 1, bytes_per_s from 1 to 1e10";
    else if (c->send_queue < 1)
        bad = "send_queue: at least 1 byte";
    else if (c->trace_clients > 100000)
        bad = "trace_clients: at most 100000";
    if (!bad)
        return 0;
    snprintf(err, err_len, "%s", bad);
    return RT_SIM_EINVAL;
}

/* ---- Scheduling and the update arrivals -------------------------------- */

void sim_at(struct sim *s, rt_sim_time t, uint64_t data)
{
    if (t >= s->end)
        return; /* after the run: never happens */
    if (rt_simq_push(&s->q, t, data) != 0) {
        fprintf(stderr, "rtlab sim: out of memory for the event queue\n");
        exit(1);
    }
}

/* Logs burst messages published on topic k at time published, and lets the
 * model push them (at now: later than published when a broker held them). */
static void publish(struct sim *s, uint32_t k, rt_sim_time published, rt_sim_time now,
                    bool notify)
{
    struct sim_topic *t = &s->topics[k];
    for (uint32_t m = 0; m < s->c->burst; m++) {
        uint64_t idx = s->log_len++;
        s->log[idx & s->log_mask] = (struct sim_log_entry){published, t->last_idx};
        t->last_idx = idx + 1;
        t->last_id++;
    }
    s->r->published += s->c->burst;
    if (notify && s->model->on_publish)
        s->model->on_publish(s, k, s->c->burst, now);
}

/*
 * K topics each updated as a Poisson process of rate r are, together, one
 * Poisson process of rate K r whose each arrival falls on a topic chosen
 * uniformly. So one event stands for all the topics, whatever K is. An
 * arrival is one message, or a burst of --burst messages at once.
 *
 * During a broker outage the publishes reach no server: they wait (the
 * publisher retries, or the broker keeps them) and go out together when it
 * is back, keeping their publish times, so their latency shows the wait.
 */
static void on_publish(struct sim *s, rt_sim_time now)
{
    uint32_t k = s->c->topics == 1 ? 0 : (uint32_t)rt_rng_below(&s->pub_rng, s->c->topics);
    sim_at(s, now + sim_exp_delay(&s->pub_rng, s->c->rate * s->c->topics), EV(EV_PUBLISH, 0));
    rt_sim_time at = (rt_sim_time)(s->c->broker_at_s * 1e6);
    if (s->c->broker_at_s >= 0 && now >= at && now < s->broker_back) {
        if (s->deferred_len == s->deferred_cap) {
            size_t cap = s->deferred_cap ? 2 * s->deferred_cap : 1024;
            struct sim_deferred *v = realloc(s->deferred, cap * sizeof *v);
            if (!v) {
                fprintf(stderr, "rtlab sim: out of memory for the broker's backlog\n");
                exit(1);
            }
            s->deferred = v;
            s->deferred_cap = cap;
        }
        s->deferred[s->deferred_len++] = (struct sim_deferred){now, k};
        return;
    }
    publish(s, k, now, now, true);
}

/* The broker is back at now (or, notify false, the run ends during the
 * outage: the waiting messages count as published and not yet fetched). */
static void on_broker_back(struct sim *s, rt_sim_time now, bool notify)
{
    for (size_t i = 0; i < s->deferred_len; i++)
        publish(s, s->deferred[i].topic, s->deferred[i].time, now, notify);
    s->deferred_len = 0;
}

static void on_restart(struct sim *s, rt_sim_time now)
{
    if (s->model->on_restart)
        s->model->on_restart(s, now);
    if (s->c->restart_every_s > 0)
        sim_at(s, now + (rt_sim_time)(s->c->restart_every_s * 1e6), EV(EV_RESTART, 0));
}

static void on_heartbeat(struct sim *s, rt_sim_time now)
{
    s->model->on_heartbeat(s, now);
    sim_at(s, now + s->heartbeat, EV(EV_HEARTBEAT, 0));
}

/* ---- Delivering ---------------------------------------------------------- */

uint64_t sim_deliver(struct sim *s, uint32_t topic, uint32_t *since, rt_sim_time at, bool *reset)
{
    const struct sim_topic *t = &s->topics[topic];
    uint64_t gap = t->last_id - *since;
    *since = (uint32_t)t->last_id;
    *reset = gap > s->c->ring;
    if (*reset) {
        s->r->lost += gap;
        return 0;
    }
    uint64_t idx = t->last_idx; /* + 1 */
    uint64_t oldest_kept = s->log_len > s->log_mask ? s->log_len - s->log_mask : 1;
    /* a message gone from the log was published before the oldest kept */
    rt_sim_time published = s->log[(oldest_kept - 1) & s->log_mask].time;
    for (uint64_t i = 0; i < gap; i++) {
        if (idx >= oldest_kept) {
            const struct sim_log_entry *e = &s->log[(idx - 1) & s->log_mask];
            published = e->time;
            idx = e->prev;
        } else {
            s->clipped++; /* gone from the log: the latency is a lower bound */
        }
        rt_hist_record(s->latency, at - published);
    }
    s->r->delivered += gap;
    s->r->bytes_payload += gap * s->c->payload_bytes;
    return gap;
}

void sim_deliver_many(struct sim *s, uint32_t topic, uint64_t n, rt_sim_time at,
                      uint64_t clients)
{
    uint64_t idx = s->topics[topic].last_idx; /* + 1 */
    uint64_t oldest_kept = s->log_len > s->log_mask ? s->log_len - s->log_mask : 1;
    rt_sim_time published = s->log[(oldest_kept - 1) & s->log_mask].time;
    for (uint64_t m = 0; m < n; m++) {
        if (idx >= oldest_kept) {
            const struct sim_log_entry *e = &s->log[(idx - 1) & s->log_mask];
            published = e->time;
            idx = e->prev;
        } else {
            s->clipped += clients; /* gone from the log: a lower bound */
        }
        rt_hist_record_n(s->latency, at - published, clients);
    }
    s->r->delivered += n * clients;
    s->r->bytes_payload += n * clients * s->c->payload_bytes;
}

/* ---- Progress ------------------------------------------------------------ */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Rewrites one line on stderr, once the run has gone on for a second, at
 * most four times a second. */
static void show_progress(const struct sim *s, rt_sim_time now, double started, double *shown)
{
    double t = wall_now();
    if (t - started < 1.0 || t - *shown < 0.25)
        return;
    *shown = t;
    fprintf(stderr, "\rsim: %5.1f%% of %.0f s simulated, %llu events, %.1f M events/s   ",
            100.0 * (double)now / (double)s->end, s->c->duration_s,
            (unsigned long long)s->r->events, (double)s->r->events / (t - started) / 1e6);
    fflush(stderr);
}

/* ---- The run --------------------------------------------------------------- */

/* About how often each client has an event of its own, in seconds: a poll
 * for short polling; for long polling an answer (a message or the timeout);
 * for the streams, whatever comes first of a message sent up, a drop, or a
 * load balancer's idle check (the pushes themselves are not events). */
static double period_s(const struct rt_sim_config *c)
{
    if (c->approach == RT_SIM_SHORT)
        return c->interval_s;
    double p = c->approach == RT_SIM_LONG ? c->timeout_s + 1e-3 : 3600;
    if (c->approach == RT_SIM_LONG && c->rate > 0)
        p = fmin(p, 1 / c->rate);
    if (c->upstream_rate > 0)
        p = fmin(p, 1 / c->upstream_rate);
    if (c->drop_mean_s > 0)
        p = fmin(p, c->drop_mean_s);
    if (c->lb_idle_s > 0)
        p = fmin(p, c->lb_idle_s);
    return fmax(p, 1e-3);
}

/* How far back a client may need the log: a poll interval or hold, or a
 * stream's dead time (a watchdog of 2.5 heartbeats) and its reconnect. */
static double lookback_s(const struct rt_sim_config *c)
{
    double w = c->approach == RT_SIM_SHORT  ? c->interval_s
               : c->approach == RT_SIM_LONG ? c->timeout_s + c->gap_ms / 1e3
                                            : 2.5 * 30;
    if (c->heartbeat_s > 0 && c->approach >= RT_SIM_SSE)
        w = 2.5 * c->heartbeat_s;
    /* a lost request's timeout, and the reconnect policy's longest wait */
    w += RT_CLIENT_REQUEST_TIMEOUT_MS / 1e3 + c->reconnect_max_s;
    if (c->restart_at_s >= 0) /* the clients come back after the server */
        w += c->restart_down_s;
    if (c->broker_at_s >= 0) /* the held publishes go out together */
        w += c->broker_down_s;
    return w + c->rtt_ms / 1e3 + 1.0;
}

/*
 * The queue's window: about 256 events per slot at the run's event rate
 * (each client has one event per interval), and enough slots that an
 * interval fits inside the horizon, so nearly nothing waits in the far heap.
 */
static void queue_shape(const struct rt_sim_config *c, unsigned *gran, unsigned *slots,
                        uint32_t *per_slot)
{
    double per_us = (double)c->clients / (period_s(c) * 1e6) + c->rate * c->topics / 1e6;
    unsigned g = 4;
    while (g < 20 && per_us * (double)(1u << g) < 256)
        g++;
    unsigned n = 10;
    while (n < 20 &&
           (double)((uint64_t)1 << (n + g)) < 2.5 * (period_s(c) * 1e6 + c->rtt_ms * 1e3))
        n++;
    *gran = g;
    *slots = n;
    double fill = per_us * (double)(1u << g);
    *per_slot = fill < 1e6 ? (uint32_t)fill : 1000000;
}

/* The log keeps a few intervals' worth of messages (at least 4096). */
static int log_init(struct sim *s)
{
    double per_s = s->c->rate * s->c->topics * s->c->burst;
    double keep = 4.0 * per_s * fmin(lookback_s(s->c), s->c->duration_s + 1.0);
    uint64_t n = 4096;
    while ((double)n < keep && n < ((uint64_t)1 << 34))
        n <<= 1;
    s->log = calloc(n, sizeof *s->log);
    s->log_mask = n - 1;
    s->topics = calloc(s->c->topics, sizeof *s->topics);
    return s->log && s->topics ? 0 : RT_SIM_ENOMEM;
}

static const struct sim_model *model_of(enum rt_sim_approach a)
{
    static const struct sim_model *const models[] = {&sim_short_poll, &sim_long_poll,
                                                     &sim_stream, &sim_stream};
    return (unsigned)a < 4 ? models[a] : NULL;
}

/* The server's heartbeat period, us: the configured one, or the approach's
 * default (the servers' RT_SSE_HEARTBEAT_MS and RT_WS_HEARTBEAT_MS). */
static rt_sim_time heartbeat_of(const struct rt_sim_config *c)
{
    if (c->approach != RT_SIM_SSE && c->approach != RT_SIM_WS)
        return 0;
    if (c->heartbeat_s < 0)
        return 0;
    if (c->heartbeat_s > 0)
        return (rt_sim_time)(c->heartbeat_s * 1e6);
    return (c->approach == RT_SIM_SSE ? RT_SSE_HEARTBEAT_MS : RT_WS_HEARTBEAT_MS) * 1000u;
}

/* The run's own allocations, sampled (every million events, and once all
 * the clients are scheduled): the peak goes in the report. */
static void note_memory(struct sim *s)
{
    size_t bytes = rt_simq_bytes(&s->q) + s->model_bytes + sizeof *s->latency +
                   (s->log_mask + 1) * sizeof *s->log + s->c->topics * sizeof *s->topics +
                   s->c->clients * sizeof *s->radio;
    if (bytes > s->r->memory_bytes)
        s->r->memory_bytes = bytes;
}

static void run_loop(struct sim *s)
{
    bool tty = s->c->progress && isatty(2);
    double shown = 0; /* when the line was last drawn (0: never) */
    double started = wall_now();
    struct rt_sim_event ev;
    while (rt_simq_pop(&s->q, &ev) && ev.time < s->end) {
        s->r->events++;
        switch (EV_KIND(ev.data)) {
        case EV_PUBLISH:
            on_publish(s, ev.time);
            break;
        case EV_RESTART:
            on_restart(s, ev.time);
            break;
        case EV_BROKER_BACK:
            on_broker_back(s, ev.time, true);
            break;
        case EV_HEARTBEAT:
            on_heartbeat(s, ev.time);
            break;
        default:
            s->model->on_event(s, ev.time, ev.data);
        }
        if ((s->r->events & ((1u << 20) - 1)) == 0) {
            note_memory(s);
            if (tty)
                show_progress(s, ev.time, started, &shown);
        }
    }
    if (shown > 0)
        fprintf(stderr, "\r%78s\r", "");
}

/* Closes every client's radio account at the end of the run: the energy per
 * client-hour and the battery it takes, averaged over the clients. */
static void close_radios(struct sim *s)
{
    struct rt_sim_report *r = s->r;
    double total_j = 0;
    for (uint64_t i = 0; i < s->c->clients; i++)
        total_j += (double)rt_radio_energy_pj(s->radio_p, &s->radio[i], s->end) * 1e-12;
    double per_client = total_j / (double)s->c->clients;
    r->energy_modelled = true;
    r->energy_j_per_client_hour = per_client / s->c->duration_s * 3600.0;
    r->battery_pct_per_hour =
        rt_radio_battery_pct_per_hour(per_client, s->c->duration_s, s->c->battery_wh);
}

/* A connection's memory on the server, bytes: our server's own RSS per idle
 * connection (short 391, long 597, SSE 439, WebSocket 643) and the kernel's
 * socket (about 4,300 bytes an end; an idle socket holds no buffers), both
 * measured with 5,000 connections by scripts/measure-wire.sh
 * (docs/sim-wire.md). */
static const double conn_memory[4] = {391 + 4300, 597 + 4300, 439 + 4300, 643 + 4300};

static void summarise(struct sim *s, double wall)
{
    struct rt_sim_report *r = s->r;
    const struct rt_sim_config *c = s->c;
    double n = (double)c->clients;
    r->requests_per_s = (double)r->requests / c->duration_s;
    r->requests_per_client_hour = r->requests_per_s / n * 3600.0;
    r->empty_fraction = r->requests ? (double)r->empty / (double)r->requests : 0;
    r->latency_ms_mean = rt_hist_mean(s->latency) / 1e3;
    r->latency_ms_p50 = (double)rt_hist_percentile(s->latency, 50) / 1e3;
    r->latency_ms_p99 = (double)rt_hist_percentile(s->latency, 99) / 1e3;
    r->latency_ms_max = (double)s->latency->max / 1e3;
    if (s->latency->count == 0)
        r->latency_ms_max = 0;
    r->up_per_client_s = (double)r->bytes_up / n / c->duration_s;
    r->down_per_client_s = (double)r->bytes_down / n / c->duration_s;
    r->server_memory_bytes = r->connections * conn_memory[c->approach];
    r->clipped = s->clipped;
    close_radios(s);
    r->wall_s = wall;
}

int rt_sim_run(const struct rt_sim_config *c, struct rt_sim_report *r, char *err, size_t err_len)
{
    memset(r, 0, sizeof *r);
    r->config = *c;
    int rc = check_config(c, err, err_len);
    if (rc != 0)
        return rc;
    struct sim s = {.c = c, .r = r, .model = model_of(c->approach)};
    s.radio_p = rt_radio_params_find(c->radio);
    double started = wall_now();
    s.end = (rt_sim_time)(c->duration_s * 1e6);
    s.rtt = (rt_sim_time)(c->rtt_ms * 1e3);
    s.heartbeat = heartbeat_of(c);
    rt_rng_seed(&s.rng, c->seed);
    rt_rng_seed(&s.pub_rng, c->seed ^ UINT64_C(0x5075626c69736821)); /* "Publish!" */
    unsigned gran, slots;
    uint32_t per_slot;
    queue_shape(c, &gran, &slots, &per_slot);
    s.latency = malloc(sizeof *s.latency);
    s.radio = calloc(c->clients, sizeof *s.radio); /* all zero: IDLE since 0 */
    rc =
        s.latency && s.radio && rt_simq_init(&s.q, gran, slots) == 0 ? log_init(&s) : RT_SIM_ENOMEM;
    if (rc == 0) {
        rt_simq_expect(&s.q, per_slot);
        rc = sim_net_init(&s);
    }
    if (rc == 0) {
        rt_hist_init(s.latency);
        if (c->rate > 0)
            sim_at(&s, sim_exp_delay(&s.pub_rng, c->rate * c->topics), EV(EV_PUBLISH, 0));
        if (c->restart_at_s >= 0)
            sim_at(&s, (rt_sim_time)(c->restart_at_s * 1e6), EV(EV_RESTART, 0));
        if (c->broker_at_s >= 0) {
            rt_sim_time back = (rt_sim_time)((c->broker_at_s + c->broker_down_s) * 1e6);
            s.broker_back = back;
            sim_at(&s, back, EV(EV_BROKER_BACK, 0));
        }
        if (s.heartbeat)
            sim_at(&s, s.heartbeat, EV(EV_HEARTBEAT, 0));
        rc = s.model->start(&s);
    }
    if (rc == 0) {
        note_memory(&s);
        run_loop(&s);
        on_broker_back(&s, s.end, false);
        s.model->finish(&s);
        sim_net_finish(&s);
        summarise(&s, wall_now() - started);
    } else {
        snprintf(err, err_len, "out of memory");
        rt_sim_report_free(r);
    }
    if (s.model->free)
        s.model->free(&s);
    sim_net_free(&s);
    rt_simq_close(&s.q);
    free(s.latency);
    free(s.radio);
    free(s.log);
    free(s.topics);
    return rc;
}
