/*
 * test_sim.c - the simulator's engine and its short-polling model: the
 * timing wheel against the reference heap, determinism, and the closed
 * forms of short polling (N/T requests/s, T/2 added latency, 3,600 and 120
 * requests per client-hour, 200,000 requests/s for a million clients at 5 s),
 * and the bookkeeping of every message (none lost, none duplicated).
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
#include <stdio.h>
#include <string.h>

#include "rt_retry.h"
#include "rt_sim.h"

/* ---- The queue against the heap ------------------------------------------ */

/*
 * One random workload: rounds of a few pushes then a few pops, with delays
 * drawn from a mixture that reaches every part of the wheel: 0 and tiny
 * (the window being drained, "near"), ties on a coarse grid (many events at
 * the same microsecond), within the horizon, and beyond it ("far"). Each
 * event's data is its push number, so the FIFO tie-break is checked too.
 */
static void compare_workload(uint64_t seed, unsigned gran, unsigned slots, uint64_t rounds)
{
    struct rt_simq q;
    struct rt_simheap h;
    struct rt_rng rng;
    rt_rng_seed(&rng, seed);
    assert_int_equal(rt_simq_init(&q, gran, slots), 0);
    rt_simheap_init(&h);
    uint64_t horizon = (uint64_t)1 << (gran + slots);
    rt_sim_time now = 0;
    uint64_t pushed = 0, popped = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        uint64_t pushes = rt_rng_below(&rng, 8), pops = rt_rng_below(&rng, 8);
        for (uint64_t i = 0; i < pushes; i++) {
            uint64_t d;
            switch (rt_rng_below(&rng, 6)) {
            case 0:
                d = 0;
                break;
            case 1:
                d = rt_rng_below(&rng, (uint64_t)1 << gran);
                break;
            case 2:
                d = rt_rng_below(&rng, 8) * 1000;
                break;
            case 3:
                d = rt_rng_below(&rng, horizon);
                break;
            case 4:
                d = horizon + rt_rng_below(&rng, 4 * horizon);
                break;
            default:
                d = rt_rng_below(&rng, 100000);
                break;
            }
            assert_int_equal(rt_simq_push(&q, now + d, pushed), 0);
            assert_int_equal(rt_simheap_push(&h, now + d, pushed), 0);
            pushed++;
        }
        for (uint64_t i = 0; i < pops; i++) {
            struct rt_sim_event a, b;
            bool got_a = rt_simq_pop(&q, &a), got_b = rt_simheap_pop(&h, &b);
            assert_int_equal(got_a, got_b);
            if (!got_a)
                break;
            assert_int_equal(a.time, b.time);
            assert_int_equal(a.data, b.data);
            assert_true(a.time >= now);
            now = a.time;
            popped++;
        }
    }
    struct rt_sim_event a, b;
    while (rt_simheap_pop(&h, &b)) { /* drain what is left */
        assert_true(rt_simq_pop(&q, &a));
        assert_int_equal(a.time, b.time);
        assert_int_equal(a.data, b.data);
        popped++;
    }
    assert_false(rt_simq_pop(&q, &a));
    assert_int_equal(popped, pushed);
    rt_simq_close(&q);
    rt_simheap_close(&h);
}

static void test_queue_matches_heap(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        compare_workload(seed, 0, 6, 5000);   /* 1 us windows, tiny horizon */
        compare_workload(seed, 4, 8, 5000);   /* mostly near and far */
        compare_workload(seed, 12, 10, 5000); /* big windows: the radix sort */
        compare_workload(seed, 8, 14, 5000);
    }
}

/* Many events, all at one of two times: the radix sort keeps push order. */
static void test_queue_ties_keep_push_order(void **state)
{
    (void)state;
    struct rt_simq q;
    assert_int_equal(rt_simq_init(&q, 10, 8), 0);
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(rt_simq_push(&q, i % 2 ? 5000 : 4000, i), 0);
    struct rt_sim_event e;
    for (uint64_t i = 0; i < 1000; i++) {
        assert_true(rt_simq_pop(&q, &e));
        assert_int_equal(e.time, i < 500 ? 4000 : 5000);
        assert_int_equal(e.data, i < 500 ? 2 * i : 2 * (i - 500) + 1);
    }
    assert_false(rt_simq_pop(&q, &e));
    rt_simq_close(&q);
}

/* The hold model a simulation is: pop one, push it again later. */
static void test_queue_hold_model(void **state)
{
    (void)state;
    struct rt_simq q;
    struct rt_simheap h;
    struct rt_rng rng;
    rt_rng_seed(&rng, 7);
    assert_int_equal(rt_simq_init(&q, 6, 10), 0);
    rt_simheap_init(&h);
    for (uint64_t i = 0; i < 10000; i++) {
        rt_sim_time t = rt_rng_below(&rng, 1000000);
        rt_simq_push(&q, t, i);
        rt_simheap_push(&h, t, i);
    }
    for (int i = 0; i < 200000; i++) {
        struct rt_sim_event a, b;
        assert_true(rt_simq_pop(&q, &a));
        assert_true(rt_simheap_pop(&h, &b));
        assert_int_equal(a.time, b.time);
        assert_int_equal(a.data, b.data);
        rt_sim_time t = a.time + rt_rng_below(&rng, 1000000);
        rt_simq_push(&q, t, a.data);
        rt_simheap_push(&h, t, a.data);
    }
    rt_simq_close(&q);
    rt_simheap_close(&h);
}

/* ---- Runs --------------------------------------------------------------- */

static struct rt_sim_report run(const struct rt_sim_config *c)
{
    struct rt_sim_report r;
    char err[256] = "";
    int rc = rt_sim_run(c, &r, err, sizeof err);
    if (rc != 0)
        fail_msg("rt_sim_run: %d %s", rc, err);
    rt_sim_report_free(&r); /* the figures stay; the series and trace go */
    return r;
}

static void short_config(struct rt_sim_config *c, uint64_t clients, double interval)
{
    rt_sim_config_init(c);
    c->clients = clients;
    c->interval_s = interval;
    c->rtt_ms = 0;
}

static void assert_within(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want))
        fail_msg("%.6f is not within %.2f%% of %.6f", got, rel * 100, want);
}

static void test_same_seed_same_json(void **state)
{
    (void)state;
    struct rt_sim_config c;
    rt_sim_config_init(&c);
    c.clients = 5000;
    c.topics = 7;
    c.rate = 0.5;
    c.duration_s = 300;
    char a[4096], b[4096], other[4096];
    struct rt_sim_report r = run(&c);
    rt_sim_report_json(&r, false, a, sizeof a);
    r = run(&c);
    rt_sim_report_json(&r, false, b, sizeof b);
    assert_string_equal(a, b);
    char csv_a[4096], csv_b[4096];
    rt_sim_report_csv(&r, false, csv_a, sizeof csv_a);
    r = run(&c);
    rt_sim_report_csv(&r, false, csv_b, sizeof csv_b);
    assert_string_equal(csv_a, csv_b);
    c.seed = 2; /* and the seed matters */
    r = run(&c);
    rt_sim_report_json(&r, false, other, sizeof other);
    assert_string_not_equal(a, other);
}

/* N clients polling every T s make N/T requests/s, and an update waits T/2
 * for the next poll on average (rtt 0). */
static void test_short_closed_forms(void **state)
{
    (void)state;
    struct rt_sim_config c;
    short_config(&c, 10000, 5);
    c.rate = 1;
    c.duration_s = 600;
    struct rt_sim_report r = run(&c);
    assert_within(r.requests_per_s, 10000 / 5.0, 0.01);
    assert_within(r.latency_ms_mean, 5000 / 2.0, 0.02);
    assert_within(r.latency_ms_p50, 5000 / 2.0, 0.03);
    assert_true(r.latency_ms_max <= 5000);
    /* With a round trip, requests are T + rtt apart, and a message also
     * travels rtt/2 down: (T + rtt)/2 + rtt/2. */
    c.rtt_ms = 200;
    r = run(&c);
    assert_within(r.requests_per_s, 10000 / 5.2, 0.01);
    assert_within(r.latency_ms_mean, 5200 / 2.0 + 100, 0.02);
    /* Synchronized polls: the same rate and the same mean, all at once. */
    c.rtt_ms = 0;
    c.sync = true;
    r = run(&c);
    assert_within(r.requests_per_s, 10000 / 5.0, 0.01);
    assert_within(r.latency_ms_mean, 5000 / 2.0, 0.05);
}

static void test_short_requests_per_hour(void **state)
{
    (void)state;
    struct rt_sim_config c;
    short_config(&c, 100, 1);
    struct rt_sim_report r = run(&c);
    assert_int_equal(r.requests, 100 * 3600);
    assert_within(r.requests_per_client_hour, 3600, 1e-9);
    short_config(&c, 100, 30);
    r = run(&c);
    assert_int_equal(r.requests, 100 * 120);
    assert_within(r.requests_per_client_hour, 120, 1e-9);
}

/* The headline figure, over 20 simulated seconds: the rate is what counts. */
static void test_short_million_clients(void **state)
{
    (void)state;
    struct rt_sim_config c;
    short_config(&c, 1000000, 5);
    c.duration_s = 20;
    struct rt_sim_report r = run(&c);
    assert_within(r.requests_per_s, 200000, 0.01);
    assert_int_equal(r.requests, 4000000); /* exactly 4 polls each */
    assert_true(r.memory_bytes / c.clients < 100);
}

/* Every published message is delivered once to every subscriber of its
 * topic, or still waiting for the subscriber's next poll at the end. */
static void test_short_no_loss_no_duplicates(void **state)
{
    (void)state;
    struct rt_sim_config c;
    short_config(&c, 7000, 2);
    c.topics = 7;
    c.rate = 3;
    c.duration_s = 200;
    c.rtt_ms = 80;
    struct rt_sim_report r = run(&c);
    assert_true(r.published > 3000);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.duplicated, 0);
    assert_int_equal(r.delivered + r.in_flight, r.published * (c.clients / c.topics));
    assert_int_equal(r.clipped, 0);
}

/* A ring smaller than what arrives between polls: the server answers with a
 * reset, and the messages skipped are counted lost, not silently dropped. */
static void test_short_ring_overflow_counts_lost(void **state)
{
    (void)state;
    struct rt_sim_config c;
    short_config(&c, 100, 5);
    c.rate = 2;
    c.ring = 4;
    c.duration_s = 300;
    struct rt_sim_report r = run(&c);
    assert_true(r.lost > 0);
    assert_int_equal(r.duplicated, 0);
    /* About 10 messages come between polls: a reset answer is not empty. */
    assert_true(r.empty_fraction < 0.01);
    assert_int_equal(r.delivered + r.lost + r.in_flight, r.published * c.clients);
}

/*
 * The radio in the runs (docs/sim-radio.md, "Worked checks"): a poll is a
 * 600-byte request and a 1,300-byte answer 50 ms later. On LTE, every 60 s,
 * each poll finds the radio IDLE and pays 0.315 J promotion + 0.005 J bytes
 * + 0.053 J waiting + 12.271 J tail = 12.643 J; 60 an hour is 758.6 J, plus
 * 20 mW idle for the 3600 - 60 x 12.1 s the radio sleeps, 58 J: 816.3 J, or
 * 1.75% of an iPhone 15's 12.98 Wh. At 10 s the tail (11.576 s) never ends:
 * the radio is saturated, 3,817 J. WiFi pays 20 mW idle and little else.
 */
static struct rt_sim_report radio_run(const char *radio, double interval)
{
    struct rt_sim_config c;
    short_config(&c, 200, interval);
    c.rtt_ms = 50;
    c.rate = 0;
    c.request_bytes = 600;
    c.empty_bytes = 1300;
    snprintf(c.radio, sizeof c.radio, "%s", radio);
    return run(&c);
}

static void test_short_radio_energy(void **state)
{
    (void)state;
    struct rt_sim_report r = radio_run("lte", 60);
    assert_true(r.energy_modelled);
    assert_within(r.energy_j_per_client_hour, 816.3, 0.01);
    assert_within(r.battery_pct_per_hour, 1.75, 0.01);
    struct rt_sim_report wifi = radio_run("wifi", 60);
    assert_within(wifi.energy_j_per_client_hour, 74, 0.02);
    assert_true(wifi.energy_j_per_client_hour * 10 < r.energy_j_per_client_hour);
    struct rt_sim_report busy = radio_run("lte", 10);
    assert_within(busy.energy_j_per_client_hour, 3817, 0.01);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct rt_sim_config c;
    struct rt_sim_report r;
    char err[256];
    rt_sim_config_init(&c);
    c.topics = 5000; /* more topics than clients */
    assert_int_equal(rt_sim_run(&c, &r, err, sizeof err), RT_SIM_EINVAL);
    assert_non_null(strstr(err, "topics"));
    rt_sim_config_init(&c);
    c.interval_s = 0;
    assert_int_equal(rt_sim_run(&c, &r, err, sizeof err), RT_SIM_EINVAL);
    assert_non_null(strstr(err, "interval"));
    rt_sim_config_init(&c);
    memcpy(c.radio, "5g", 3);
    assert_int_equal(rt_sim_run(&c, &r, err, sizeof err), RT_SIM_EINVAL);
    assert_non_null(strstr(err, "radio"));
    rt_sim_config_init(&c);
    c.approach = RT_SIM_LONG;
    c.timeout_s = 121; /* more than the server allows */
    assert_int_equal(rt_sim_run(&c, &r, err, sizeof err), RT_SIM_EINVAL);
    assert_non_null(strstr(err, "timeout"));
    rt_sim_config_init(&c);
    c.restart_at_s = 10;
    c.restart_every_s = 3; /* not longer than restart_down_s (5) */
    assert_int_equal(rt_sim_run(&c, &r, err, sizeof err), RT_SIM_EINVAL);
    assert_non_null(strstr(err, "restart"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_matches_heap),
        cmocka_unit_test(test_queue_ties_keep_push_order),
        cmocka_unit_test(test_queue_hold_model),
        cmocka_unit_test(test_same_seed_same_json),
        cmocka_unit_test(test_short_closed_forms),
        cmocka_unit_test(test_short_requests_per_hour),
        cmocka_unit_test(test_short_million_clients),
        cmocka_unit_test(test_short_no_loss_no_duplicates),
        cmocka_unit_test(test_short_ring_overflow_counts_lost),
        cmocka_unit_test(test_short_radio_energy),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
