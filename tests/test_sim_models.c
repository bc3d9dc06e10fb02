/*
 * test_sim_models.c - the simulator's long-polling, SSE and WebSocket models
 * (sim/push.c) and the network they share with short polling (sim/net.c),
 * held to what a user reads off a report:
 *
 *   - long polling's closed forms: N lambda / (1 - e^(-lambda T)) requests/s,
 *     e^(-lambda T) of them empty, a held poll answered at the publish;
 *   - SSE and WebSocket deliver every message rtt/2 after its publish, and
 *     send N x floor(D / H) heartbeats;
 *   - the books balance across drops, restarts and load balancer kills, for
 *     all four approaches: nothing lost while the ring holds it, nothing
 *     twice; a tiny ring loses messages, and says so;
 *   - heartbeats are what finds a dead link;
 *   - a restart's reconnect storm: one step of N without jitter, spread
 *     with full jitter;
 *   - the energy of a heartbeat-only SSE client, by hand from rt_radio_lte;
 *   - determinism, messages sent up, bursts, a broker outage, the trace
 *     format, and `rtlab sim compare`.
 *
 * Every expectation is derived here, from a closed form, a hand calculation
 * from the published parameters, or an invariant; none is copied from a run.
 * Client counts and durations are small where the figure per client does
 * not depend on N.
 *
 * The section "Known simulator bugs" at the end holds tests that fail on
 * the simulator as committed (774cf6d); each says what goes wrong and what
 * should happen instead.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rt_radio.h"
#include "rt_sim.h"
#include "testutil.h"

#ifndef RTLAB_SCENARIO_DIR
#error "tests/CMakeLists.txt defines RTLAB_SCENARIO_DIR"
#endif

static const enum rt_sim_approach all_approaches[] = {RT_SIM_SHORT, RT_SIM_LONG, RT_SIM_SSE,
                                                      RT_SIM_WS};

/* ---- Helpers ---------------------------------------------------------------- */

/* A configuration with the defaults, for approach a, with no progress line. */
static void config(struct rt_sim_config *c, enum rt_sim_approach a, uint64_t clients,
                   double duration_s)
{
    rt_sim_config_init(c);
    c->approach = a;
    c->clients = clients;
    c->duration_s = duration_s;
    c->progress = false;
}

/* Runs c into *r; the caller gives *r to rt_sim_report_free. */
static void run_keep(const struct rt_sim_config *c, struct rt_sim_report *r)
{
    char err[256] = "";
    int rc = rt_sim_run(c, r, err, sizeof err);
    if (rc != 0)
        fail_msg("rt_sim_run(%s): %d %s", rt_sim_approach_name(c->approach), rc, err);
}

/* Runs c and keeps only the figures (the series and trace are freed). */
static struct rt_sim_report run(const struct rt_sim_config *c)
{
    struct rt_sim_report r;
    run_keep(c, &r);
    rt_sim_report_free(&r);
    return r;
}

static void assert_within(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: %.6f is not within %.2f%% of %.6f", what, got, rel * 100, want);
}

/* With one topic every client subscribes to every message: each one is
 * delivered, skipped by a reset (lost), or still unfetched at the end. */
static void assert_books_balance(const struct rt_sim_report *r, const char *what)
{
    uint64_t want = r->published * r->config.clients;
    uint64_t got = r->delivered + r->lost + r->in_flight;
    if (got != want)
        fail_msg("%s (%s): delivered %llu + lost %llu + in_flight %llu = %llu, not published "
                 "%llu x clients %llu = %llu",
                 what, rt_sim_approach_name(r->config.approach), (unsigned long long)r->delivered,
                 (unsigned long long)r->lost, (unsigned long long)r->in_flight,
                 (unsigned long long)got, (unsigned long long)r->published,
                 (unsigned long long)r->config.clients, (unsigned long long)want);
    if (r->duplicated != 0)
        fail_msg("%s (%s): %llu duplicated", what, rt_sim_approach_name(r->config.approach),
                 (unsigned long long)r->duplicated);
}

/* ---- 1. Long polling's closed forms ------------------------------------------ */

/*
 * With gap 0 and a round trip of almost nothing, a client always has a poll
 * held. A hold ends at the next publish (Exp(lambda)) or at the timeout T,
 * whichever comes first, so a poll lasts E[min(X, T)] = (1 - e^(-lambda T)) /
 * lambda on average, and ends empty with probability P(X > T) = e^(-lambda T).
 * A held poll is answered at the publish: latency rtt/2.
 *
 * One topic synchronises the clients (a publish answers them all), so the
 * run is one sample path whatever N is: a few clients and a long run give
 * tens of thousands of polls each.
 */
static void check_long_closed_form(double lambda, double timeout_s, double duration_s)
{
    struct rt_sim_config c;
    config(&c, RT_SIM_LONG, 10, duration_s);
    c.rate = lambda;
    c.timeout_s = timeout_s;
    c.rtt_ms = 2;
    c.gap_ms = 0;
    struct rt_sim_report r = run(&c);
    double p_empty = exp(-lambda * timeout_s);
    double hold = (1 - p_empty) / lambda + c.rtt_ms / 1e3;
    assert_within(r.requests_per_s, (double)c.clients / hold, 0.03, "long requests/s");
    assert_within(r.empty_fraction, p_empty, 0.03, "long empty_fraction");
    assert_within(r.latency_ms_mean, c.rtt_ms / 2, 0.05, "long latency mean");
    assert_within(r.latency_ms_p50, c.rtt_ms / 2, 0.01, "long latency p50");
    assert_int_equal(r.lost, 0);
    assert_books_balance(&r, "long closed form");
}

static void test_long_poll_closed_forms(void **state)
{
    (void)state;
    check_long_closed_form(0.1, 10, 400000);   /* lambda T = 1: 36.8% empty */
    check_long_closed_form(0.02, 30, 1000000); /* lambda T = 0.6: 54.9% empty */
}

/* ---- 2. SSE and WebSocket: latency and heartbeats ------------------------------ */

/*
 * A connected stream gets each message rtt/2 after its publish, every time:
 * mean, p50, p99 and max all rtt/2 (p50 and p99 within the histogram's
 * 0.8%). The heartbeat timer fires at H, 2H, ... before the end: floor(D/H)
 * times with D not a multiple of H, once per live stream.
 */
static void test_stream_latency_and_heartbeats(void **state)
{
    (void)state;
    const enum rt_sim_approach streams[] = {RT_SIM_SSE, RT_SIM_WS};
    const double default_h[] = {15, 30}; /* the servers' RT_SSE/WS_HEARTBEAT_MS */
    for (int k = 0; k < 2; k++) {
        struct rt_sim_config c;
        config(&c, streams[k], 50, 100);
        c.rate = 2;
        c.rtt_ms = 100;
        struct rt_sim_report r = run(&c);
        assert_true(r.published > 100);
        assert_int_equal(r.delivered, r.published * c.clients);
        assert_int_equal(r.in_flight, 0);
        assert_within(r.latency_ms_mean, 50, 1e-6, "stream latency mean");
        assert_within(r.latency_ms_p50, 50, 0.008, "stream latency p50");
        assert_within(r.latency_ms_p99, 50, 0.008, "stream latency p99");
        assert_within(r.latency_ms_max, 50, 1e-6, "stream latency max");
        assert_int_equal(r.heartbeats, c.clients * (uint64_t)floor(100 / default_h[k]));

        c.heartbeat_s = 7; /* overrides the default */
        r = run(&c);
        assert_int_equal(r.heartbeats, c.clients * (uint64_t)floor(100 / 7.0));
        c.heartbeat_s = -1; /* none */
        r = run(&c);
        assert_int_equal(r.heartbeats, 0);
        assert_int_equal(r.delivered, r.published * c.clients);
    }
}

/* ---- 3. The books balance across disconnections --------------------------------- */

enum failure { F_DROPS, F_RESTART, F_LB, F_ALL };
static const char *const failure_names[] = {"drops", "restart", "lb idle", "all"};

/* 200 clients on one topic for 1200 s, with failure f; a ring large enough
 * to replay anything a client missed. */
static void failure_config(struct rt_sim_config *c, enum rt_sim_approach a, enum failure f)
{
    config(c, a, 200, 1200);
    c->rate = 0.2;
    c->ring = 100000;
    c->timeout_s = 30;
    if (f == F_DROPS || f == F_ALL)
        c->drop_mean_s = 120;
    if (f == F_RESTART || f == F_ALL) {
        c->restart_at_s = 100;
        c->restart_down_s = 20;
        c->restart_every_s = 300;
    }
    if (f == F_LB || f == F_ALL) {
        c->lb_idle_s = 10;   /* shorter than the long poll's 30 s hold */
        c->heartbeat_s = -1; /* so nothing keeps an idle stream busy */
        c->interval_s = 15;  /* short polls: the connection dies between polls */
    }
}

static void test_conservation_across_failures(void **state)
{
    (void)state;
    for (int a = 0; a < 4; a++) {
        for (int f = F_DROPS; f <= F_ALL; f++) {
            struct rt_sim_config c;
            failure_config(&c, all_approaches[a], (enum failure)f);
            struct rt_sim_report r = run(&c);
            assert_true(r.published > 100);
            assert_books_balance(&r, failure_names[f]);
            if (r.lost != 0 || r.clipped != 0)
                fail_msg("%s, %s: lost %llu, clipped %llu (the ring holds everything)",
                         rt_sim_approach_name(c.approach), failure_names[f],
                         (unsigned long long)r.lost, (unsigned long long)r.clipped);
            /* the failure did happen */
            if (f == F_RESTART)
                assert_true(r.connect_failures > 0);
            /* a short poll keeps no connection past the LB's idle limit: a
             * handshake for every poll, and no idle connection to drop */
            if (c.approach == RT_SIM_SHORT && (f == F_LB || f == F_ALL))
                assert_true(r.connects >= r.requests);
            else if (r.drops == 0)
                fail_msg("%s, %s: no connection dropped", rt_sim_approach_name(c.approach),
                         failure_names[f]);
        }
    }
}

/* A ring of 2 and a server down for 60 s at 1 update/s: whoever comes back
 * finds its cursor gone, is reset, and the skipped messages count as lost. */
static void test_tiny_ring_loses_and_says_so(void **state)
{
    (void)state;
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 100, 600);
        c.rate = 1;
        c.ring = 2;
        c.interval_s = 1;
        c.restart_at_s = 100;
        c.restart_down_s = 60;
        c.restart_every_s = 200;
        struct rt_sim_report r = run(&c);
        if (r.lost == 0)
            fail_msg("%s: nothing lost after 60 s down with a ring of 2",
                     rt_sim_approach_name(c.approach));
        assert_books_balance(&r, "tiny ring");
    }
}

/* ---- 4. Heartbeats find dead links ----------------------------------------------- */

/*
 * Links drop silently every 100 s on average. Without a heartbeat a client
 * never learns: by the end of 1000 s nearly all are dead, and a message
 * published at t misses the 1 - e^(-t/100) already gone; on average over
 * the run that is 1 - 100/1000 (1 - e^-10) = 90% of all deliveries, left
 * in flight. With the default heartbeat the watchdog (2.5 heartbeats) finds
 * a drop within 37.5 s (SSE) or 75 s (WS) and the client resumes from its
 * cursor: only the few dead at the end hold anything, a few % at most.
 */
static void test_heartbeats_find_dead_links(void **state)
{
    (void)state;
    const enum rt_sim_approach streams[] = {RT_SIM_SSE, RT_SIM_WS};
    for (int k = 0; k < 2; k++) {
        struct rt_sim_config c;
        config(&c, streams[k], 200, 1000);
        c.rate = 1;
        c.drop_mean_s = 100;
        c.heartbeat_s = -1;
        struct rt_sim_report none = run(&c);
        double all = (double)none.published * (double)c.clients;
        assert_books_balance(&none, "no heartbeat");
        if (!((double)none.in_flight > 0.5 * all))
            fail_msg("%s, no heartbeat: in flight %.3f of all deliveries, expected about 0.9",
                     rt_sim_approach_name(c.approach), (double)none.in_flight / all);
        c.heartbeat_s = 0; /* the approach's default */
        struct rt_sim_report beat = run(&c);
        all = (double)beat.published * (double)c.clients;
        assert_books_balance(&beat, "default heartbeat");
        assert_int_equal(beat.lost, 0);
        assert_true(beat.drops > 0);
        if (!((double)beat.in_flight < 0.05 * all))
            fail_msg("%s, heartbeat: in flight %.3f of all deliveries, expected a few %%",
                     rt_sim_approach_name(c.approach), (double)beat.in_flight / all);
    }
}

/* ---- 5. The reconnect storm after a restart --------------------------------------- */

/*
 * 20,000 WebSocket clients hear the server close at 60 s (+ rtt/2), and it
 * refuses connections until 65 s. Without jitter they all act in lockstep:
 * backoff tries at +1 s (refused), +2 s (refused), +4 s: all N in one step,
 * at 67 s; immediate retries every rtt, N attempts per rtt while down.
 * Full jitter draws each wait from U[0, min(30, 2^k)], spreading the
 * returns over many seconds. Every client reconnects exactly once, and by
 * the end (30 s after the latest possible return) all are back.
 */
#define STORM_N 20000

static void storm(enum rt_sim_reconnect policy, struct rt_sim_report *r)
{
    struct rt_sim_config c;
    config(&c, RT_SIM_WS, STORM_N, 100);
    c.rate = 0.5;
    c.reconnect = policy;
    c.restart_at_s = 60;
    c.restart_down_s = 5;
    run_keep(&c, r);
    assert_int_equal(r->connects - r->connect_failures, STORM_N);
    assert_int_equal(r->in_flight, 0); /* everyone is back and caught up */
    assert_books_balance(r, rt_sim_reconnect_name(policy));
    assert_int_equal(r->lost, 0);
}

/* The busiest step from the one in which the server comes back (less one
 * step: a SYN leaves rtt/2 before the server sees it). */
static double busiest_after_return(const struct rt_sim_report *r, double back_s)
{
    uint32_t most = 0;
    for (size_t k = (size_t)(back_s / r->series_step_s) - 1; k < r->series_len; k++)
        if (r->series_connects[k] > most)
            most = r->series_connects[k];
    return most;
}

static void test_reconnect_storm(void **state)
{
    (void)state;
    struct rt_sim_report r;
    storm(RT_SIM_RC_BACKOFF, &r);
    double backoff = busiest_after_return(&r, 65);
    rt_sim_report_free(&r);
    if (!(backoff >= 0.95 * STORM_N))
        fail_msg("backoff without jitter: busiest step %.0f, expected about all %d", backoff,
                 STORM_N);

    storm(RT_SIM_RC_IMMEDIATE, &r);
    assert_true(r.peak_connects_per_s >= STORM_N);
    assert_true(busiest_after_return(&r, 65) >= STORM_N);
    rt_sim_report_free(&r);

    storm(RT_SIM_RC_FULL_JITTER, &r);
    double jitter = busiest_after_return(&r, 65);
    rt_sim_report_free(&r);
    if (!(jitter < 0.5 * STORM_N))
        fail_msg("full jitter: busiest step %.0f, expected well under half of %d", jitter, STORM_N);
}

/* ---- 6. The energy of heartbeats, by hand ------------------------------------------ */

/*
 * One SSE client, no messages, a heartbeat every 60 s for an hour on LTE.
 * 60 s is longer than the radio's whole tail (promotion 0.26 s + 11.576 s),
 * so each heartbeat finds the radio IDLE and pays, from rt_radio_lte:
 * a promotion, its bytes at the downlink's active power, a whole tail; and
 * idle power runs between. The bytes are what push.c's on_heartbeat gives
 * the radio: the ":\n\n" comment (3 bytes) in one TCP segment (52 bytes of
 * headers), 55 bytes down, nothing up. It reaches the phone rtt/2 after the
 * timer, at 60k + 0.025 s, k = 1 .. 59 (3600 itself is the end).
 */
static void test_sse_heartbeat_energy_by_hand(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_lte;
    assert_true(60e6 > (double)(p->promo_us + rt_radio_tail_us(p)));
    struct rt_sim_config c;
    config(&c, RT_SIM_SSE, 1, 3600);
    c.rate = 0;
    c.heartbeat_s = 60;
    struct rt_sim_report r = run(&c);
    assert_int_equal(r.heartbeats, 59);

    const double bytes = 3 + 52;
    double down_s = ceil(bytes * 8 * 1000 / p->down_kbps) * 1e-6; /* radio.c rounds up to us */
    double active_w = (p->beta_uw + (double)p->alpha_down_uw_mbps * p->down_kbps / 1000) * 1e-6;
    double promo_s = p->promo_us * 1e-6, tail_s = p->tail1_us * 1e-6 + p->tail2_us * 1e-6;
    double per_beat = promo_s * p->promo_uw * 1e-6 + down_s * active_w +
                      p->tail1_us * 1e-6 * p->tail1_uw * 1e-6 +
                      p->tail2_us * 1e-6 * p->tail2_uw * 1e-6;
    double busy_s = 59 * (promo_s + down_s + tail_s);
    double want = 59 * per_beat + (3600 - busy_s) * p->idle_uw * 1e-6;
    assert_within(r.energy_j_per_client_hour, want, 0.01, "SSE heartbeat energy");

    c.heartbeat_s = -1; /* no heartbeat: an idle radio for an hour */
    r = run(&c);
    assert_within(r.energy_j_per_client_hour, 3600 * p->idle_uw * 1e-6, 0.01, "idle energy");
}

/* ---- 7. Determinism -------------------------------------------------------------------- */

static void json_of(const struct rt_sim_config *c, char *out, size_t len)
{
    struct rt_sim_report r = run(c);
    int n = rt_sim_report_json(&r, false, out, len);
    assert_true(n > 0 && (size_t)n < len);
}

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 300, 300);
        c.rate = 0.5;
        c.topics = 3;
        c.drop_mean_s = 60;
        c.restart_at_s = 100;
        c.rtt_sigma = 0.5;
        c.upstream_rate = 0.05;
        char one[8192], two[8192], other[8192];
        json_of(&c, one, sizeof one);
        json_of(&c, two, sizeof two);
        assert_string_equal(one, two);
        c.seed = 2;
        json_of(&c, other, sizeof other);
        assert_string_not_equal(one, other);
    }
}

/* ---- 8. Messages sent up --------------------------------------------------------------- */

/*
 * Each client sends a Poisson stream of rate u: N u D messages (sd
 * sqrt(N u D), 0.7% here). On WebSocket they are frames; with SSE and long
 * polling each is a POST, a request of its own. SSE without failures sends
 * no other request (its streams were open before the run); a long poll with
 * no updates times out every T + rtt, about D / (T + rtt) polls a client.
 */
static void test_upstream(void **state)
{
    (void)state;
    const enum rt_sim_approach up[] = {RT_SIM_WS, RT_SIM_SSE, RT_SIM_LONG};
    for (int k = 0; k < 3; k++) {
        struct rt_sim_config c;
        config(&c, up[k], 200, 200);
        c.rate = 0;
        c.upstream_rate = 0.5;
        c.timeout_s = 10;
        struct rt_sim_report r = run(&c);
        double want = (double)c.clients * c.upstream_rate * c.duration_s;
        assert_within((double)r.upstream, want, 0.05, "upstream messages");
        if (c.approach == RT_SIM_SSE)
            assert_int_equal(r.requests, r.upstream);
        if (c.approach == RT_SIM_LONG) {
            double polls = (double)(r.requests - r.upstream);
            double per_client = c.duration_s / (c.timeout_s + c.rtt_ms / 1e3);
            if (fabs(polls - per_client * c.clients) > c.clients)
                fail_msg("long polls beside the POSTs: %.0f, expected %.0f +- %llu", polls,
                         per_client * c.clients, (unsigned long long)c.clients);
        }
    }
}

/* ---- 9. Bursts and a broker outage ------------------------------------------------------ */

/* The updates draw from their own PRNG, so a burst of B changes only how
 * many messages each arrival carries: B times the messages, B times the
 * deliveries, on every approach. */
static void test_burst_multiplies(void **state)
{
    (void)state;
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 100, 300);
        c.rate = 0.5;
        struct rt_sim_report one = run(&c);
        c.burst = 5;
        struct rt_sim_report five = run(&c);
        assert_true(one.delivered > 1000);
        assert_int_equal(five.published, 5 * one.published);
        assert_int_equal(five.delivered, 5 * one.delivered);
        assert_books_balance(&five, "burst");
    }
}

/* The broker delivers nothing from 50 s for d = 30 s. At 10 updates/s the
 * first one held comes within 1 s of its start (but for e^-10 = 5e-5) and
 * waits the rest, so the worst latency is at least d - 1 s; nothing is lost
 * and the books balance once it is back. A push reaches a stream rtt/2
 * after the release: at most d + rtt/2. */
static void test_broker_outage(void **state)
{
    (void)state;
    const double d = 30;
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 20, 200);
        c.rate = 10;
        c.broker_at_s = 50;
        c.broker_down_s = d;
        struct rt_sim_report r = run(&c);
        if (!(r.latency_ms_max >= (d - 1) * 1e3))
            fail_msg("%s: latency max %.0f ms after a %g s broker outage",
                     rt_sim_approach_name(c.approach), r.latency_ms_max, d);
        if (c.approach >= RT_SIM_SSE)
            assert_true(r.latency_ms_max <= (d + c.rtt_ms / 2e3) * 1e3 + 1);
        assert_int_equal(r.lost, 0);
        assert_books_balance(&r, "broker outage");
    }
}

/* ---- 10. The trace ---------------------------------------------------------------------- */

static bool is_kind(const char *k)
{
    static const char *const kinds[] = {"connect", "request",    "response", "empty",
                                        "event",   "publish",    "ping",     "pong",
                                        "timeout", "disconnect", "reconnect"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(k, kinds[i]) == 0)
            return true;
    return false;
}

/* Checks one trace file: the header, then every line against the format
 * (DESIGN.md, "The trace format"). Returns the lines after the header. */
static size_t check_trace_file(FILE *f, const char *lane, unsigned k)
{
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    cJSON *h = cJSON_Parse(line);
    assert_non_null(h);
    assert_int_equal(cJSON_GetObjectItem(h, "trace")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItem(h, "source")->valuestring, "sim");
    cJSON *lanes = cJSON_GetObjectItem(h, "lanes");
    assert_true(cJSON_IsArray(lanes) && cJSON_GetArraySize(lanes) == 1);
    assert_string_equal(cJSON_GetArrayItem(lanes, 0)->valuestring, lane);
    assert_int_equal(cJSON_GetObjectItem(h, "clients")->valuedouble, k);
    cJSON_Delete(h);
    double last_t = 0;
    size_t n = 0;
    bool seen[64] = {false};
    while (fgets(line, sizeof line, f)) {
        cJSON *l = cJSON_Parse(line);
        if (!l)
            fail_msg("line %zu is not JSON: %s", n + 2, line);
        cJSON *t = cJSON_GetObjectItem(l, "t"), *ln = cJSON_GetObjectItem(l, "lane");
        cJSON *cl = cJSON_GetObjectItem(l, "client"), *kind = cJSON_GetObjectItem(l, "kind");
        cJSON *dir = cJSON_GetObjectItem(l, "dir");
        if (!cJSON_IsNumber(t) || !cJSON_IsString(ln) || !cJSON_IsNumber(cl) ||
            !cJSON_IsString(kind) || !cJSON_IsString(dir))
            fail_msg("line %zu lacks a field: %s", n + 2, line);
        if (t->valuedouble < last_t)
            fail_msg("line %zu goes back in time: %s", n + 2, line);
        last_t = t->valuedouble;
        assert_string_equal(ln->valuestring, lane);
        if (!(cl->valuedouble >= 0 && cl->valuedouble < k))
            fail_msg("line %zu: client out of 0..%u: %s", n + 2, k - 1, line);
        seen[(int)cl->valuedouble] = true;
        if (!is_kind(kind->valuestring))
            fail_msg("line %zu: kind not in the format: %s", n + 2, line);
        if (strcmp(dir->valuestring, "c2s") != 0 && strcmp(dir->valuestring, "s2c") != 0)
            fail_msg("line %zu: dir: %s", n + 2, line);
        cJSON_Delete(l);
        n++;
    }
    for (unsigned i = 0; i < k; i++)
        if (!seen[i])
            fail_msg("%s: sampled client %u never appears", lane, i);
    return n;
}

static void test_trace_format(void **state)
{
    (void)state;
    const unsigned k = 5;
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 100, 120);
        c.rate = 0.5;
        c.drop_mean_s = 30;
        c.restart_at_s = 60;
        c.upstream_rate = 0.05;
        c.trace_clients = k;
        struct rt_sim_report r;
        run_keep(&c, &r);
        assert_true(r.trace_len > 0);
        assert_false(r.trace_truncated);
        FILE *f = tmpfile();
        assert_non_null(f);
        assert_int_equal(rt_sim_trace_write(&r, f), 0);
        rewind(f);
        size_t lines = check_trace_file(f, rt_sim_approach_name(c.approach), k);
        assert_int_equal(lines, r.trace_len);
        fclose(f);
        rt_sim_report_free(&r);
    }
}

/* ---- 11. rtlab sim compare ---------------------------------------------------------------- */

/* Runs rt_cmd_sim with stdout into out (NUL-terminated); returns its code. */
static int run_cmd(int argc, char **argv, char *out, size_t cap)
{
    int rc = tu_run_captured(rt_cmd_sim, argc, argv, out, cap);
    assert_int_not_equal(rc, -1);
    return rc;
}

static void test_compare_command(void **state)
{
    (void)state;
    char path[1024], out[16384];
    snprintf(path, sizeof path, "%s/dashboard_metrics.json", RTLAB_SCENARIO_DIR);
    char *args[] = {"sim", "compare", path, "--duration", "2"};
    assert_int_equal(run_cmd(5, args, out, sizeof out), 0);
    const char *names[] = {"short", "long", "sse", "ws"};
    for (int a = 0; a < 4; a++)
        if (!strstr(out, names[a]))
            fail_msg("\"%s\" not in the comparison:\n%s", names[a], out);
    assert_non_null(strstr(out, "requests/s"));
    assert_non_null(strstr(out, "messages lost"));
    char *none[] = {"sim", "compare", "--duration", "2"};
    assert_int_equal(run_cmd(4, none, out, sizeof out), 2);
}

/* ---- Regressions: both failed on 774cf6d ------------------------------------------------- */

/*
 * rtt 0 with the immediate reconnect policy must end. A refused attempt was
 * retried at now + rtt + 0, which is now itself: the run looped at one
 * microsecond for as long as the server was down. A refusal now takes at
 * least SIM_REFUSED_MIN. Each run goes in a child with an alarm, so the test
 * fails instead of hanging.
 */
static void test_immediate_at_rtt0_terminates(void **state)
{
    (void)state;
    const enum rt_sim_approach a[] = {RT_SIM_SHORT, RT_SIM_WS};
    pid_t pid[2];
    for (int k = 0; k < 2; k++) {
        fflush(NULL);
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0) {
            alarm(3); /* the run itself takes a millisecond */
            struct rt_sim_config c;
            struct rt_sim_report r;
            char err[256];
            config(&c, a[k], 1, 20);
            c.rtt_ms = 0;
            c.reconnect = RT_SIM_RC_IMMEDIATE;
            c.restart_at_s = 10;
            int rc = rt_sim_run(&c, &r, err, sizeof err);
            if (rc == 0)
                rt_sim_report_free(&r);
            _exit(rc == 0 || rc == RT_SIM_EINVAL ? 0 : 1);
        }
    }
    char bad[256] = "";
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
        if (WIFSIGNALED(status)) {
            size_t n = strlen(bad);
            snprintf(bad + n, sizeof bad - n, " %s (killed by signal %d)",
                     rt_sim_approach_name(a[k]), WTERMSIG(status));
        } else {
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    if (bad[0])
        fail_msg("rtt 0 + immediate + restart does not finish:%s", bad);
}

/*
 * A broker outage that lasts past the end: the publishes it still holds are
 * published and not yet fetched by any subscriber, so the books balance.
 * Found failing on a1e0f39 (in_flight gained the held messages once each,
 * published none of them); fixed in 9505771 while this file was written,
 * kept as a regression test.
 */
static void test_broker_outage_past_the_end_balances(void **state)
{
    (void)state;
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 10, 200);
        c.rate = 1;
        c.broker_at_s = 150;
        c.broker_down_s = 100;
        struct rt_sim_report r = run(&c);
        assert_books_balance(&r, "broker outage past the end");
    }
}

/*
 * After a long server restart the latency figures must stay exact. The
 * topic log was sized from the poll interval, the hold or the heartbeat and
 * the reconnect cap only, never restart_down_s: clients back from 600 s down
 * needed 12,000 messages the log had dropped, their latencies were recorded
 * as lower bounds (latency_clipped > 0) and the worst read about 200 s
 * instead of 600 s. A long broker outage did the same. The log now covers
 * restart_down_s and broker_down_s.
 */
static void test_long_restart_latency_not_clipped(void **state)
{
    (void)state;
    const double d = 600;
    char bad[1024] = "";
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c;
        config(&c, all_approaches[a], 10, 1000);
        c.rate = 20;
        c.ring = 100000;
        c.restart_at_s = 100;
        c.restart_down_s = d;
        struct rt_sim_report r = run(&c);
        assert_int_equal(r.lost, 0);
        assert_books_balance(&r, "long restart");
        if (r.clipped != 0 || !(r.latency_ms_max >= (d - 1) * 1e3)) {
            size_t n = strlen(bad);
            snprintf(bad + n, sizeof bad - n, " %s: clipped %llu, max %.0f ms;",
                     rt_sim_approach_name(c.approach), (unsigned long long)r.clipped,
                     r.latency_ms_max);
        }
    }
    if (bad[0])
        fail_msg("after %g s down (want clipped 0 and max >= %.0f ms):%s", d, (d - 1) * 1e3,
                 bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_poll_closed_forms),
        cmocka_unit_test(test_stream_latency_and_heartbeats),
        cmocka_unit_test(test_conservation_across_failures),
        cmocka_unit_test(test_tiny_ring_loses_and_says_so),
        cmocka_unit_test(test_heartbeats_find_dead_links),
        cmocka_unit_test(test_reconnect_storm),
        cmocka_unit_test(test_sse_heartbeat_energy_by_hand),
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_upstream),
        cmocka_unit_test(test_burst_multiplies),
        cmocka_unit_test(test_broker_outage),
        cmocka_unit_test(test_trace_format),
        cmocka_unit_test(test_compare_command),
        cmocka_unit_test(test_broker_outage_past_the_end_balances),
        /* known simulator bugs: fail until fixed */
        cmocka_unit_test(test_immediate_at_rtt0_terminates),
        cmocka_unit_test(test_long_restart_latency_not_clipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
