/*
 * rt_radio.h - the energy a phone's radio spends on a client's traffic: LTE,
 * 3G and WiFi state machines with promotion, active, tail and idle power.
 * See docs/sim-radio.md for the figures, their sources and worked checks.
 *
 * Why a model at all: a cellular radio does not sleep right after a packet.
 * Waking it costs a promotion (a delay at high power), and after the last
 * packet it stays in a high-power tail for seconds. A tiny poll or heartbeat
 * that finds the radio idle pays promotion + a whole tail, which dwarfs the
 * energy of its bytes. So the interval between transfers, not their size,
 * sets the battery cost of polling and of heartbeats.
 *
 * Pure C: no I/O, no allocation, no globals besides the const tables below.
 * Built for a discrete-event simulator with millions of clients: a client's
 * radio is 16 bytes (struct rt_radio_state), and each transfer updates it in
 * O(1) without looking at the past. Energy is kept exactly, in integers:
 * powers in microwatts (uW) times durations in microseconds (us) give
 * picojoules (pJ). The same schedule gives the same pJ on every machine.
 *
 * Ownership: everything here lives in the caller's storage; the parameter
 * tables are static and never freed. The functions touch only their
 * arguments, so different clients can be updated from different threads.
 */
#ifndef RT_RADIO_H
#define RT_RADIO_H

#include <stdint.h>

/* ---- Parameters per technology ------------------------------------------ */

/*
 * One radio technology as a state machine (radio.c draws it):
 *
 *   IDLE --promotion--> ACTIVE --(last byte)--> TAIL1 --> TAIL2 --> IDLE
 *
 * TAIL2 exists on 3G only (DCH tail, then FACH tail); elsewhere it lasts 0.
 * A transfer in TAIL1 starts at once; one in TAIL2 pays promotion2 (3G's
 * FACH -> DCH) first; one in IDLE pays the full promotion.
 *
 * Active power follows Huang12's LTE model, P = beta + alpha_u * up Mbps +
 * alpha_d * down Mbps, with the upload and the download of a transfer done
 * one after the other, each at the link's median throughput. 3G and WiFi
 * have a flat active power (the alphas are 0). Durations are in us, powers
 * in uW, throughputs in kbit/s.
 */
struct rt_radio_params {
    const char *name;              /* "lte", "3g", "wifi" */
    uint32_t promo_us, promo_uw;   /* IDLE -> connected (LTE), DCH (3G) */
    uint32_t beta_uw;              /* active power with no throughput */
    uint32_t alpha_up_uw_mbps;     /* extra uW per Mbps uploaded */
    uint32_t alpha_down_uw_mbps;   /* extra uW per Mbps downloaded */
    uint32_t up_kbps, down_kbps;   /* turn bytes into active time */
    uint32_t tail1_us, tail1_uw;   /* after the last byte (3G: in DCH) */
    uint32_t tail2_us, tail2_uw;   /* then (3G: in FACH); 0 elsewhere */
    uint32_t promo2_us, promo2_uw; /* TAIL2 -> active (3G: FACH -> DCH) */
    uint32_t idle_uw;              /* idle, paging included */
};

/* The default profiles of docs/sim-radio.md, each figure with its source. */
extern const struct rt_radio_params rt_radio_lte;
extern const struct rt_radio_params rt_radio_3g;
extern const struct rt_radio_params rt_radio_wifi;

/* The profile called name ("lte", "3g" or "wifi"), or NULL. The pointer is to
 * a static table: never freed. */
const struct rt_radio_params *rt_radio_params_find(const char *name);

/* The whole tail, from the last byte to IDLE, in us (LTE 11.576 s). A push
 * transport whose heartbeats are further apart than this pays a promotion
 * and a whole tail for every one of them. */
uint64_t rt_radio_tail_us(const struct rt_radio_params *p);

/* ---- One client's radio -------------------------------------------------- */

/*
 * What a client's radio needs to be remembered, 16 bytes:
 *
 * - tail_end_us: the moment the radio will be IDLE again if nothing more is
 *   sent (the end of its tail), or since which it has been IDLE;
 * - energy_pj: the energy spent from the start of the run up to tail_end_us,
 *   counting the current tail as if it will run its course. A transfer that
 *   cuts the tail short takes back the part of the tail it did not live.
 *
 * All-zero is a radio that has been IDLE since time 0 and has spent nothing.
 * uint64 pJ holds 1.8e7 J, more than 100 days of a radio at 2 W.
 */
struct rt_radio_state {
    uint64_t tail_end_us;
    uint64_t energy_pj;
};

/* A radio IDLE since t0_us, with nothing spent. */
void rt_radio_init(struct rt_radio_state *s, uint64_t t0_us);

/*
 * A transfer of bytes_up then bytes_down, handed to the radio at t_us (the
 * moment the client sends, or the moment the first byte of a push reaches
 * the phone). Call it for each transfer, in time order per client; a request
 * and its response are best two calls an RTT apart, so the wait between them
 * is charged at tail power. Zero bytes is allowed: a heartbeat pays the same
 * promotion and tail as a message does.
 *
 * - found IDLE: it pays idle power since the last tail ended, then the
 *   promotion, then the transfer, then a whole tail;
 * - found in TAIL1: the tail is cut where it stands, no promotion;
 * - found in TAIL2 (3G FACH): cut there, then promotion2 (FACH -> DCH);
 * - found busy (promoting, or sending an earlier transfer): it waits for
 *   the earlier one to finish, then goes (transfers do not share the link).
 *
 * Returns when its last byte goes: t_us plus any promotion and the time the
 * radio takes to move the bytes, so a caller can add the promotion delay to
 * its latency figures. O(1); transfers up to 2^50 bytes.
 */
uint64_t rt_radio_activity(const struct rt_radio_params *p, struct rt_radio_state *s, uint64_t t_us,
                           uint64_t bytes_up, uint64_t bytes_down);

/*
 * The energy spent from the start to t_end_us (the end of the run), without
 * changing the state: what is recorded, plus idle power if the radio went
 * IDLE before t_end_us, minus the part of a tail that t_end_us cuts off.
 * A run that ends during a promotion or a transfer counts that one whole.
 */
uint64_t rt_radio_energy_pj(const struct rt_radio_params *p, const struct rt_radio_state *s,
                            uint64_t t_end_us);
/* The same in joules. */
double rt_radio_energy_j(const struct rt_radio_params *p, const struct rt_radio_state *s,
                         uint64_t t_end_us);

/* ---- Batteries ----------------------------------------------------------- */

struct rt_radio_battery {
    const char *name; /* "iphone15", "android" */
    double wh;        /* capacity in watt-hours */
};

/* iPhone 15, 12.98 Wh (46.7 kJ): the default. */
extern const struct rt_radio_battery rt_radio_battery_iphone15;
/* A typical Android flagship, about 19.4 Wh (5,000 mAh at 3.87 V). */
extern const struct rt_radio_battery rt_radio_battery_android;

/* The battery called name, or NULL; a static table, never freed. */
const struct rt_radio_battery *rt_radio_battery_find(const char *name);

/* The share of a battery of capacity_wh that energy_j spent over duration_s
 * takes per hour, in percent (0 when duration_s is not positive). */
double rt_radio_battery_pct_per_hour(double energy_j, double duration_s, double capacity_wh);

#endif
