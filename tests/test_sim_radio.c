/*
 * test_sim_radio.c - the radio energy model in sim/radio.c against hand
 * calculations: the worked checks of shared/reference/radio-energy.md, 3G's
 * two-stage tail, transfers inside a tail, idle time, heartbeats, and the
 * shape of the cost as the polling interval grows.
 *
 * Energies are compared exactly in picojoules (uW x us), so every expected
 * figure below is worked out by hand in its comment.
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

#include "rt_radio.h"

#define S 1000000ULL       /* us in a second */
#define J 1000000000000ULL /* pJ in a joule */
#define HOUR (3600 * S)

/* One poll as the simulator would report it: a 600-byte request, then the
 * 1300-byte response an RTT after the request's last byte left. On LTE they
 * take 4,800 bits / 6 Mbps = 800 us and 10,400 bits / 13 Mbps = 800 us. */
#define REQ_BYTES 600
#define RESP_BYTES 1300
#define RTT (50 * S / 1000)

static void poll_once(const struct rt_radio_params *p, struct rt_radio_state *s, uint64_t t)
{
    uint64_t sent = rt_radio_activity(p, s, t, REQ_BYTES, 0);
    rt_radio_activity(p, s, sent + RTT, 0, RESP_BYTES);
}

/* A client polling every interval_us from time 0, for duration_us. */
static uint64_t polling_pj(const struct rt_radio_params *p, uint64_t interval_us,
                           uint64_t duration_us)
{
    struct rt_radio_state s = {0};
    for (uint64_t t = 0; t < duration_us; t += interval_us)
        poll_once(p, &s, t);
    return rt_radio_energy_pj(p, &s, duration_us);
}

/* The pieces of an LTE poll, from rt_radio_lte's figures:
 *   promotion        260,000 us x 1,210,000 uW            =    314,600,000,000 pJ
 *   request          800 us x (1,288,040 + 438,390 x 6)   =      3,134,704,000
 *   response         800 us x (1,288,040 + 51,970 x 13)   =      1,570,920,000
 *   tail in the RTT  50,000 us x 1,060,000 uW             =     53,000,000,000
 *   whole tail       11,576,000 us x 1,060,000 uW         = 12,270,560,000,000 */
#define LTE_PROMO 314600000000ULL
#define LTE_REQ 3134704000ULL
#define LTE_RESP 1570920000ULL
#define LTE_RTT_TAIL 53000000000ULL
#define LTE_TAIL 12270560000000ULL
#define LTE_POLL (LTE_PROMO + LTE_REQ + LTE_RTT_TAIL + LTE_RESP + LTE_TAIL)

static uint64_t pj_of(uint32_t uw, uint64_t us)
{
    return (uint64_t)uw * us;
}

static double battery_pct(uint64_t e_pj, uint64_t duration_us)
{
    return rt_radio_battery_pct_per_hour((double)e_pj / J, (double)duration_us / S,
                                         rt_radio_battery_iphone15.wh);
}

/* ---- radio-energy.md's worked checks (LTE) -------------------------------- */

static void test_lte_isolated_poll(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_lte;
    struct rt_radio_state s = {0};
    /* The request waits for the promotion, then takes 800 us; the response
     * comes an RTT later and takes 800 us more. */
    assert_int_equal(rt_radio_activity(p, &s, 0, REQ_BYTES, 0), 260800);
    assert_int_equal(rt_radio_activity(p, &s, 310800, 0, RESP_BYTES), 311600);
    uint64_t tail_end = 311600 + 11576000;
    assert_int_equal(s.tail_end_us, tail_end);
    /* 12,642,865,624,000 pJ: 12.64 J, within radio-energy.md's 12.6-13 J. */
    assert_int_equal(LTE_POLL, 12642865624000ULL);
    assert_int_equal(rt_radio_energy_pj(p, &s, tail_end), LTE_POLL);
    double j = rt_radio_energy_j(p, &s, tail_end);
    assert_true(j >= 12.6 && j <= 13.0);
    /* The tail is 97% of it (Bala09's point: small transfers are all tail). */
    assert_true((double)(LTE_TAIL + LTE_RTT_TAIL) / (double)LTE_POLL > 0.97);
}

static void test_lte_poll_every_60s(void **state)
{
    (void)state;
    /* Each minute: one poll (above), then IDLE from the tail's end at
     * 11,887,600 us to the next poll at 60 s: 48,112,400 us x 20,000 uW =
     * 962,248,000,000 pJ. 60 such minutes: 816,306,817,440,000 pJ. */
    uint64_t minute = LTE_POLL + 48112400ULL * 20000;
    uint64_t e = polling_pj(&rt_radio_lte, 60 * S, HOUR);
    assert_int_equal(e, 60 * minute);
    assert_int_equal(e, 816306817440000ULL);
    /* radio-energy.md: "~0.77 kJ per hour" from 60 x 12.9 J with no idle
     * power; the radio's 58 J of paging brings ours to 0.82 kJ. */
    double kj = (double)e / J / 1000;
    assert_true(kj >= 0.75 && kj <= 0.85);
    /* "about 1.7% of a 12.98 Wh battery per hour (about 40% a day)": 1.75%. */
    double pct = battery_pct(e, HOUR);
    assert_true(pct >= 1.65 && pct <= 1.80);
    assert_true(pct * 24 >= 38 && pct * 24 <= 44);
    /* The bigger battery: 816.3 J of 69,840 J, 1.17% an hour. */
    double big = rt_radio_battery_pct_per_hour((double)e / J, 3600, rt_radio_battery_android.wh);
    assert_true(big >= 1.16 && big <= 1.18);
}

static void test_lte_poll_every_10s_tail_never_ends(void **state)
{
    (void)state;
    /* Every poll finds the radio in its tail: one promotion in the hour, 360
     * requests and responses, and the rest of the hour at tail power:
     * 3,600 s - 0.26 s - 360 x 1,600 us = 3,599,164,000 us x 1,060,000 uW. */
    uint64_t expect = LTE_PROMO + 360 * (LTE_REQ + LTE_RESP) + 3599164000ULL * 1060000;
    uint64_t e = polling_pj(&rt_radio_lte, 10 * S, HOUR);
    assert_int_equal(e, expect);
    assert_int_equal(e, 3817122464640000ULL); /* 3.82 kJ */
    /* radio-energy.md: "about 3.8-4.6 kJ per hour, roughly 8-10% of the
     * battery per hour", and so for any interval shorter than the tail. */
    static const uint64_t faster[] = {10 * S, 5 * S, 2 * S, 1 * S, S / 2};
    for (size_t i = 0; i < sizeof(faster) / sizeof(faster[0]); i++) {
        uint64_t ei = polling_pj(&rt_radio_lte, faster[i], HOUR);
        double kj = (double)ei / J / 1000, pct = battery_pct(ei, HOUR);
        if (kj < 3.8 || kj > 4.6 || pct < 8 || pct > 10)
            fail_msg("every %llu us: %.3f kJ, %.2f%%/h", (unsigned long long)faster[i], kj, pct);
    }
}

static void test_wifi_about_100_times_less(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_wifi;
    struct rt_radio_state s = {0};
    /* promotion 79,000 us x 124,000 uW            =  9,796,000,000 pJ
     * request   4,800 bits / 10 Mbps = 480 us x 403,000 uW =   193,440,000
     * RTT       50,000 us x 120,000 uW (in the tail)   =  6,000,000,000
     * response  10,400 bits / 20 Mbps = 520 us x 403,000   =   209,560,000
     * tail      250,000 us x 120,000 uW                 = 30,000,000,000
     * total 46,199,000,000 pJ: 0.046 J. */
    poll_once(p, &s, 0);
    assert_int_equal(s.tail_end_us, 79480 + 50000 + 520 + 250000);
    uint64_t wifi = rt_radio_energy_pj(p, &s, s.tail_end_us);
    assert_int_equal(wifi, 46199000000ULL);
    /* radio-energy.md: "about 100 times less". With these tables it is 274
     * times less: at least 100 is what we hold the model to. */
    double ratio = (double)LTE_POLL / (double)wifi;
    assert_true(ratio >= 100 && ratio <= 300);
    /* Over an hour of polling every 60 s, the 20 mW both radios spend idle
     * narrows that to 11 times: 816.3 J against 74.3 J (each minute, one
     * poll then 59,620,000 us idle). */
    uint64_t hour = polling_pj(p, 60 * S, HOUR);
    assert_int_equal(hour, 60 * (46199000000ULL + 59620000ULL * 20000));
    double hourly = (double)polling_pj(&rt_radio_lte, 60 * S, HOUR) / (double)hour;
    assert_true(hourly >= 10 && hourly <= 12);
}

/* ---- The state machine --------------------------------------------------- */

static void test_3g_two_stage_tail(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_3g;
    struct rt_radio_state s = {0};
    /* One heartbeat at 0: promotion 2 s x 0.53 W = 1.06 J until 2 s, DCH tail
     * 5 s x 0.8 W = 4 J until 7 s, FACH tail 12 s x 0.46 W = 5.52 J until 19 s. */
    assert_int_equal(rt_radio_activity(p, &s, 0, 0, 0), 2 * S);
    assert_int_equal(rt_radio_tail_us(p), 17 * S);
    assert_int_equal(rt_radio_energy_pj(p, &s, 19 * S), 10580000000000ULL);
    /* Closed early: 2 s into the DCH tail, 1.06 + 1.6 J; 3 s into FACH,
     * 1.06 + 4 + 1.38 J; 10 s after the tail, 64 mW idle adds 0.64 J. */
    assert_int_equal(rt_radio_energy_pj(p, &s, 4 * S), 2660000000000ULL);
    assert_int_equal(rt_radio_energy_pj(p, &s, 10 * S), 6440000000000ULL);
    assert_int_equal(rt_radio_energy_pj(p, &s, 29 * S), 11220000000000ULL);

    /* A second heartbeat 3 s into the DCH tail goes at once: 1.06 J, 3 s x
     * 0.8 W of tail, then a whole new tail of 9.52 J. */
    struct rt_radio_state dch = {0};
    rt_radio_activity(p, &dch, 0, 0, 0);
    assert_int_equal(rt_radio_activity(p, &dch, 5 * S, 0, 0), 5 * S);
    assert_int_equal(rt_radio_energy_pj(p, &dch, 22 * S), 12980000000000ULL);

    /* One 4 s into the FACH tail goes back to DCH first: 1.5 s at 0.55 W.
     * 1.06 + 4 + 4 x 0.46 + 0.825 + 9.52 = 17.245 J, idle again at 29.5 s. */
    struct rt_radio_state fach = {0};
    rt_radio_activity(p, &fach, 0, 0, 0);
    assert_int_equal(rt_radio_activity(p, &fach, 11 * S, 0, 0), 12500000);
    assert_int_equal(fach.tail_end_us, 29500000);
    assert_int_equal(rt_radio_energy_pj(p, &fach, 29500000), 17245000000000ULL);

    /* The DCH timer runs out at 7 s: a heartbeat at that very moment finds
     * FACH and pays promotion2; one a microsecond earlier does not. */
    struct rt_radio_state edge = {0};
    rt_radio_activity(p, &edge, 0, 0, 0);
    assert_int_equal(rt_radio_activity(p, &edge, 7 * S, 0, 0), 8500000);
    edge = (struct rt_radio_state){0};
    rt_radio_activity(p, &edge, 0, 0, 0);
    assert_int_equal(rt_radio_activity(p, &edge, 7 * S - 1, 0, 0), 7 * S - 1);

    /* 3G turns bytes into time at the assumed 0.5 and 1 Mbps: 600 bytes up,
     * 9,600 us; 1,300 down, 10,400 us; both at DCH's 0.8 W. */
    struct rt_radio_state b = {0};
    assert_int_equal(rt_radio_activity(p, &b, 0, REQ_BYTES, RESP_BYTES), 2 * S + 20000);
    assert_int_equal(rt_radio_energy_pj(p, &b, b.tail_end_us),
                     10580000000000ULL + 20000ULL * 800000);
}

static void test_transfer_in_tail_pays_no_promotion(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_lte;
    struct rt_radio_state s = {0};
    assert_int_equal(rt_radio_activity(p, &s, 0, 0, 0), 260000);
    /* 4.74 s into the tail: it goes at once, no promotion delay ... */
    assert_int_equal(rt_radio_activity(p, &s, 5 * S, 0, 0), 5 * S);
    /* ... and no promotion energy: 0.3146 + 4.74 x 1.06 + 12.27056 J. */
    uint64_t expect = LTE_PROMO + 4740000ULL * 1060000 + LTE_TAIL;
    assert_int_equal(expect, 17609560000000ULL);
    assert_int_equal(rt_radio_energy_pj(p, &s, s.tail_end_us), expect);
    /* The tail runs out at 16,576,000 us: a heartbeat then finds the radio
     * IDLE and waits for a promotion; a microsecond earlier it does not. */
    struct rt_radio_state edge = s;
    assert_int_equal(rt_radio_activity(p, &edge, s.tail_end_us, 0, 0), s.tail_end_us + 260000);
    edge = s;
    assert_int_equal(rt_radio_activity(p, &edge, s.tail_end_us - 1, 0, 0), s.tail_end_us - 1);
    /* Two isolated heartbeats would have cost 25.17 J. */
    assert_true(expect < 2 * (LTE_PROMO + LTE_TAIL));

    /* One that comes during the promotion waits for it and for the request
     * before it: both requests after 0.26 s, one promotion, one tail. */
    struct rt_radio_state q = {0};
    assert_int_equal(rt_radio_activity(p, &q, 0, REQ_BYTES, 0), 260800);
    assert_int_equal(rt_radio_activity(p, &q, 100000, REQ_BYTES, 0), 261600);
    assert_int_equal(rt_radio_energy_pj(p, &q, q.tail_end_us), LTE_PROMO + 2 * LTE_REQ + LTE_TAIL);
}

static void test_idle_only(void **state)
{
    (void)state;
    /* A radio that never sends pays its idle (paging) power: an hour at
     * 20 mW is 72 J (LTE, WiFi); at 64 mW, 230.4 J (3G). */
    struct rt_radio_state s = {0};
    assert_int_equal(rt_radio_energy_pj(&rt_radio_lte, &s, HOUR), 72 * J);
    assert_int_equal(rt_radio_energy_pj(&rt_radio_wifi, &s, HOUR), 72 * J);
    assert_int_equal(rt_radio_energy_pj(&rt_radio_3g, &s, HOUR), 230400000000000ULL);
    /* A client that joins at 1,000 s pays from then on: 2,600 s x 20 mW. */
    rt_radio_init(&s, 1000 * S);
    assert_int_equal(rt_radio_energy_pj(&rt_radio_lte, &s, HOUR), 52 * J);
    assert_int_equal(rt_radio_energy_pj(&rt_radio_lte, &s, 1000 * S), 0);
    /* Idle time before a poll is paid when the poll comes: 100 s idle, then
     * promotion and tail. */
    rt_radio_init(&s, 0);
    rt_radio_activity(&rt_radio_lte, &s, 100 * S, 0, 0);
    assert_int_equal(rt_radio_energy_pj(&rt_radio_lte, &s, s.tail_end_us),
                     2 * J + LTE_PROMO + LTE_TAIL);
}

static void test_heartbeat_zero_bytes_same_tail(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_lte;
    /* A zero-byte heartbeat pays promotion and the whole tail: 12.58516 J. */
    struct rt_radio_state zero = {0};
    assert_int_equal(rt_radio_activity(p, &zero, 0, 0, 0), 260000);
    assert_int_equal(rt_radio_energy_pj(p, &zero, zero.tail_end_us), LTE_PROMO + LTE_TAIL);
    /* A 6-byte WebSocket ping adds only its bytes: 48 bits / 6 Mbps = 8 us at
     * 3,918,380 uW, 31,347,040 pJ; its tail is the same 11.576 s. */
    struct rt_radio_state ping = {0};
    uint64_t done = rt_radio_activity(p, &ping, 0, 6, 0);
    assert_int_equal(done, 260008);
    assert_int_equal(ping.tail_end_us - done, rt_radio_tail_us(p));
    assert_int_equal(rt_radio_energy_pj(p, &ping, ping.tail_end_us),
                     LTE_PROMO + 31347040ULL + LTE_TAIL);
    /* A single byte still takes time: 8 bits at 6 Mbps round up to 2 us. */
    struct rt_radio_state one = {0};
    assert_int_equal(rt_radio_activity(p, &one, 0, 1, 0), 260002);
}

static void test_end_of_run_mid_transfer(void **state)
{
    (void)state;
    const struct rt_radio_params *p = &rt_radio_lte;
    struct rt_radio_state s = {0};
    rt_radio_activity(p, &s, 0, REQ_BYTES, 0);
    /* A run that ends during the promotion counts it and the request whole,
     * and no tail; one that ends 1 s into the tail counts 1 s of it. */
    assert_int_equal(rt_radio_energy_pj(p, &s, 100000), LTE_PROMO + LTE_REQ);
    assert_int_equal(rt_radio_energy_pj(p, &s, 1260800),
                     LTE_PROMO + LTE_REQ + 1000000ULL * 1060000);
    /* Reading the energy changes nothing. */
    assert_int_equal(rt_radio_energy_pj(p, &s, s.tail_end_us), LTE_PROMO + LTE_REQ + LTE_TAIL);
}

/* ---- The cost as the polling interval grows ------------------------------ */

/*
 * More frequent polls never cost less, over whole seconds from 1 s to 5 min
 * on every radio. Between whole seconds there is one band where they do, and
 * the model shows it on purpose. A poll that finds the radio in its tail goes
 * at once, so its tail ends a promotion earlier than one that had to wake the
 * radio. Just past the tail's length, polls alternate: one wakes the radio,
 * the next finds it in its tail. A little slower, and every poll wakes it and
 * pays a promotion: LTE every 11.89 s costs 1.2% more than every 11.88 s,
 * WiFi every 380 ms 9% more than every 370 ms. So the fine sweep holds any
 * rise to the promotions the slower schedule pays, and no more.
 */
static void test_more_frequent_polls_never_cost_less(void **state)
{
    (void)state;
    const struct rt_radio_params *radios[] = {&rt_radio_lte, &rt_radio_3g, &rt_radio_wifi};
    for (size_t r = 0; r < 3; r++) {
        const struct rt_radio_params *p = radios[r];
        uint64_t prev = UINT64_MAX;
        for (uint64_t sec = 1; sec <= 300; sec++) {
            uint64_t e = polling_pj(p, sec * S, HOUR);
            if (e > prev)
                fail_msg("%s: every %llu s costs more than every %llu s", p->name,
                         (unsigned long long)sec, (unsigned long long)sec - 1);
            prev = e;
        }
        prev = UINT64_MAX;
        for (uint64_t ms = 100; ms <= 30000; ms += 10) {
            uint64_t e = polling_pj(p, ms * 1000, HOUR);
            uint64_t polls = (HOUR + ms * 1000 - 1) / (ms * 1000);
            if (prev != UINT64_MAX && e > prev &&
                e - prev > polls * pj_of(p->promo_uw, p->promo_us))
                fail_msg("%s: every %llu ms costs more than 10 ms less, beyond its promotions",
                         p->name, (unsigned long long)ms);
            prev = e;
        }
    }
    uint64_t below = polling_pj(&rt_radio_lte, 11880 * 1000, HOUR);
    uint64_t above = polling_pj(&rt_radio_lte, 11890 * 1000, HOUR);
    assert_true(above > below && (double)above < (double)below * 1.015);
    below = polling_pj(&rt_radio_wifi, 370 * 1000, HOUR);
    above = polling_pj(&rt_radio_wifi, 380 * 1000, HOUR);
    assert_true(above > below && (double)above < (double)below * 1.10);
}

/* ---- Against a timeline ---------------------------------------------------- */

/*
 * A second model written the slow, obvious way, to check the O(1) one on
 * random schedules: it keeps the radio's whole timeline as segments (from,
 * to, power, what) and, when a transfer comes, cuts the timeline where the
 * transfer finds it and appends what follows. The energy is then the sum of
 * the segments up to the end of the run.
 */
enum seg_kind { SEG_IDLE, SEG_BUSY, SEG_TAIL1, SEG_TAIL2 };

struct seg {
    uint64_t from, to;
    uint32_t uw;
    enum seg_kind kind;
};

struct timeline {
    struct seg v[4096];
    size_t len;
};

static void seg_add(struct timeline *tl, uint64_t from, uint64_t len, uint32_t uw,
                    enum seg_kind kind)
{
    assert_true(tl->len < sizeof(tl->v) / sizeof(tl->v[0]));
    tl->v[tl->len++] = (struct seg){from, from + len, uw, kind};
}

static uint64_t timeline_end(const struct timeline *tl)
{
    return tl->len ? tl->v[tl->len - 1].to : 0;
}

/* Where the transfer at t can start, after cutting the timeline there. A
 * segment holds [from, to): a timer that runs out at t has demoted the radio
 * at t, so a transfer at that very moment finds the next state. */
static uint64_t timeline_cut(const struct rt_radio_params *p, struct timeline *tl, uint64_t t)
{
    if (t >= timeline_end(tl)) {
        seg_add(tl, timeline_end(tl), t - timeline_end(tl), p->idle_uw, SEG_IDLE);
        seg_add(tl, t, p->promo_us, p->promo_uw, SEG_BUSY);
        return t + p->promo_us;
    }
    size_t i = tl->len - 1;
    while (tl->v[i].kind >= SEG_TAIL1 && tl->v[i].from > t)
        i--; /* tail segments the transfer comes before: never lived */
    tl->len = i + 1;
    struct seg *at = &tl->v[i];
    if (at->kind == SEG_BUSY)
        return at->to; /* still promoting or sending: queue behind */
    at->to = t;
    if (at->kind == SEG_TAIL2) {
        seg_add(tl, t, p->promo2_us, p->promo2_uw, SEG_BUSY);
        return t + p->promo2_us;
    }
    return t;
}

static uint64_t timeline_transfer(const struct rt_radio_params *p, struct timeline *tl, uint64_t t,
                                  uint64_t up, uint64_t down)
{
    uint64_t start = timeline_cut(p, tl, t);
    double up_us = ceil((double)up * 8 * 1000 / p->up_kbps);
    double down_us = ceil((double)down * 8 * 1000 / p->down_kbps);
    uint32_t up_uw = p->beta_uw + (uint32_t)((uint64_t)p->alpha_up_uw_mbps * p->up_kbps / 1000);
    uint32_t down_uw =
        p->beta_uw + (uint32_t)((uint64_t)p->alpha_down_uw_mbps * p->down_kbps / 1000);
    seg_add(tl, start, (uint64_t)up_us, up_uw, SEG_BUSY);
    seg_add(tl, timeline_end(tl), (uint64_t)down_us, down_uw, SEG_BUSY);
    uint64_t done = timeline_end(tl);
    seg_add(tl, done, p->tail1_us, p->tail1_uw, SEG_TAIL1);
    if (p->tail2_us)
        seg_add(tl, timeline_end(tl), p->tail2_us, p->tail2_uw, SEG_TAIL2);
    return done;
}

static uint64_t timeline_energy(const struct rt_radio_params *p, const struct timeline *tl,
                                uint64_t t_end)
{
    uint64_t e = 0;
    for (size_t i = 0; i < tl->len; i++) {
        uint64_t to = tl->v[i].to < t_end ? tl->v[i].to : t_end;
        if (to > tl->v[i].from)
            e += pj_of(tl->v[i].uw, to - tl->v[i].from);
    }
    if (t_end > timeline_end(tl))
        e += pj_of(p->idle_uw, t_end - timeline_end(tl));
    return e;
}

/* A small deterministic PRNG (xorshift64*) for the schedules. */
static uint64_t rnd(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ULL;
}

static void test_random_schedules_match_timeline(void **state)
{
    (void)state;
    const struct rt_radio_params *radios[] = {&rt_radio_lte, &rt_radio_3g, &rt_radio_wifi};
    uint64_t x = 42;
    for (int run = 0; run < 300; run++) {
        const struct rt_radio_params *p = radios[run % 3];
        static struct timeline tl;
        tl.len = 0;
        struct rt_radio_state s = {0};
        uint64_t t = 0, done = 0;
        for (int i = 0; i < 500; i++) {
            /* Gaps from 0 to 30 s, mostly short, so every state gets hit:
             * busy, both tails, idle. */
            uint64_t range = rnd(&x) % 2 ? 30 * S : 3 * S;
            uint64_t gap = rnd(&x) % range;
            t += rnd(&x) % 8 == 0 ? 0 : gap;
            uint64_t up = rnd(&x) % 4 == 0 ? 0 : rnd(&x) % 20000;
            uint64_t down = rnd(&x) % 4 == 0 ? 0 : rnd(&x) % 200000;
            done = rt_radio_activity(p, &s, t, up, down);
            assert_int_equal(done, timeline_transfer(p, &tl, t, up, down));
            assert_int_equal(s.tail_end_us, timeline_end(&tl));
        }
        /* Any end of the run from the last byte to 30 s after its tail. */
        for (int k = 0; k < 20; k++) {
            uint64_t end = done + rnd(&x) % (rt_radio_tail_us(p) + 30 * S);
            if (rt_radio_energy_pj(p, &s, end) != timeline_energy(p, &tl, end))
                fail_msg("%s run %d: at %llu us, %llu pJ, the timeline says %llu", p->name, run,
                         (unsigned long long)end,
                         (unsigned long long)rt_radio_energy_pj(p, &s, end),
                         (unsigned long long)timeline_energy(p, &tl, end));
        }
    }
}

/* ---- Tables and batteries ------------------------------------------------ */

static void test_lookup(void **state)
{
    (void)state;
    assert_ptr_equal(rt_radio_params_find("lte"), &rt_radio_lte);
    assert_ptr_equal(rt_radio_params_find("3g"), &rt_radio_3g);
    assert_ptr_equal(rt_radio_params_find("wifi"), &rt_radio_wifi);
    assert_null(rt_radio_params_find("5g"));
    assert_null(rt_radio_params_find(""));
    assert_ptr_equal(rt_radio_battery_find("iphone15"), &rt_radio_battery_iphone15);
    assert_ptr_equal(rt_radio_battery_find("android"), &rt_radio_battery_android);
    assert_null(rt_radio_battery_find("nokia"));
    /* 12.98 Wh is 46,728 J: spending all of it in an hour is 100%/h, and
     * half of it in two hours 25%/h. */
    assert_true(rt_radio_battery_pct_per_hour(46728, 3600, 12.98) > 99.999);
    assert_true(rt_radio_battery_pct_per_hour(46728, 3600, 12.98) < 100.001);
    assert_true(rt_radio_battery_pct_per_hour(23364, 7200, 12.98) > 24.999);
    assert_true(rt_radio_battery_pct_per_hour(23364, 7200, 12.98) < 25.001);
    assert_true(rt_radio_battery_pct_per_hour(1, 0, 12.98) == 0);
    /* A client's radio fits the simulator's budget of bytes per client. */
    assert_int_equal(sizeof(struct rt_radio_state), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lte_isolated_poll),
        cmocka_unit_test(test_lte_poll_every_60s),
        cmocka_unit_test(test_lte_poll_every_10s_tail_never_ends),
        cmocka_unit_test(test_wifi_about_100_times_less),
        cmocka_unit_test(test_3g_two_stage_tail),
        cmocka_unit_test(test_transfer_in_tail_pays_no_promotion),
        cmocka_unit_test(test_idle_only),
        cmocka_unit_test(test_heartbeat_zero_bytes_same_tail),
        cmocka_unit_test(test_end_of_run_mid_transfer),
        cmocka_unit_test(test_more_frequent_polls_never_cost_less),
        cmocka_unit_test(test_random_schedules_match_timeline),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
