/*
 * radio.c - a phone radio's energy, one client at a time, in O(1) per
 * transfer. The tables cite their sources as shared/reference/radio-energy.md
 * names them:
 *
 *   [Huang12] Huang et al., "A Close Examination of Performance and Power
 *             Characteristics of 4G LTE Networks", MobiSys 2012.
 *   [ARO]     AT&T Application Resource Optimizer, default radio profiles.
 *   [Qian10]  Qian et al., "Characterizing Radio Resource Allocation for 3G
 *             Networks", IMC 2010.
 *   [Bala09]  Balasubramanian et al., "Energy Consumption in Mobile Phones",
 *             IMC 2009: most of a small transfer's energy is its tail.
 *
 * WE SIMPLIFIED: one median throughput per direction; a transfer's upload
 * and download one after the other; transfers queue instead of sharing the
 * link; no DRX cycles inside the LTE tail (one average tail power); no 3G
 * FACH transfers (small packets that real networks send without going back
 * to DCH); promotions always take their average time.
 */
#include "rt_radio.h"

#include <string.h>

/* ---- The profiles -------------------------------------------------------- */

const struct rt_radio_params rt_radio_lte = {
    .name = "lte",
    .promo_us = 260000,          /* Huang12: 260 ms; ARO */
    .promo_uw = 1210000,         /* Huang12: 1210 mW; ARO */
    .beta_uw = 1288040,          /* Huang12: beta 1288.04 mW (ARO uses 1.2 W) */
    .alpha_up_uw_mbps = 438390,  /* Huang12: alpha_u 438.39 mW/Mbps */
    .alpha_down_uw_mbps = 51970, /* Huang12: alpha_d 51.97 mW/Mbps */
    .up_kbps = 6000,             /* Huang12: median uplink 6 Mbps */
    .down_kbps = 13000,          /* Huang12: median downlink 13 Mbps */
    .tail1_us = 11576000,        /* Huang12: 11.576 s (ARO's timers: 10.12 s) */
    .tail1_uw = 1060000,         /* Huang12: about 1.06 W (1.09 W with DRX wake-ups) */
    .idle_uw = 20000,            /* ARO: 43 ms at 594 mW every 1.28 s = 19.95 mW */
};

const struct rt_radio_params rt_radio_3g = {
    .name = "3g",
    .promo_us = 2000000,  /* ARO: IDLE -> DCH 2.0 s */
    .promo_uw = 530000,   /* ARO: at 0.53 W */
    .beta_uw = 800000,    /* Qian10, ARO: DCH about 0.8 W (devices 0.7-1.3 W) */
    .up_kbps = 500,       /* assumed (radio-energy.md gives no 3G throughput) */
    .down_kbps = 1000,    /* assumed, as above */
    .tail1_us = 5000000,  /* Qian10 (carrier 1), ARO: 5 s in DCH ... */
    .tail1_uw = 800000,   /* ... at DCH power */
    .tail2_us = 12000000, /* Qian10 (carrier 1), ARO: then 12 s in FACH ... */
    .tail2_uw = 460000,   /* ... at about 0.46 W */
    .promo2_us = 1500000, /* ARO: FACH -> DCH 1.5 s ... */
    .promo2_uw = 550000,  /* ... at 0.55 W */
    .idle_uw = 64000,     /* about 64 mW, the Nokia-era UMTS model radio-energy.md cites */
};

const struct rt_radio_params rt_radio_wifi = {
    .name = "wifi",
    .promo_us = 79000,  /* Huang12: 79 ms */
    .promo_uw = 124000, /* Huang12: 124 mW */
    .beta_uw = 403000,  /* ARO: 0.403 W */
    .up_kbps = 10000,   /* assumed (radio-energy.md gives no WiFi throughput) */
    .down_kbps = 20000, /* assumed, as above */
    .tail1_us = 250000, /* ARO: 0.25 s (Huang12: 238 ms) ... */
    .tail1_uw = 120000, /* ... at about 0.12 W (Huang12: 119 mW) */
    .idle_uw = 20000,   /* ARO: 0.02 W */
};

static const struct rt_radio_params *const profiles[] = {&rt_radio_lte, &rt_radio_3g,
                                                         &rt_radio_wifi};

const struct rt_radio_params *rt_radio_params_find(const char *name)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (strcmp(profiles[i]->name, name) == 0)
            return profiles[i];
    }
    return NULL;
}

uint64_t rt_radio_tail_us(const struct rt_radio_params *p)
{
    return (uint64_t)p->tail1_us + p->tail2_us;
}

/* ---- Energy arithmetic --------------------------------------------------- */

/* Power held for a while: uW x us = pJ, exactly. */
static uint64_t pj(uint32_t uw, uint64_t us)
{
    return (uint64_t)uw * us;
}

static uint64_t tail_pj(const struct rt_radio_params *p)
{
    return pj(p->tail1_uw, p->tail1_us) + pj(p->tail2_uw, p->tail2_us);
}

/* The energy of the last left_us of the tail: the part a transfer (or the end
 * of the run) cuts off when it comes left_us before the tail would end. The
 * tail's last stage is TAIL2, so that is where the cut-off part starts. */
static uint64_t tail_rest_pj(const struct rt_radio_params *p, uint64_t left_us)
{
    uint64_t in2 = left_us < p->tail2_us ? left_us : p->tail2_us;
    uint64_t in1 = left_us - in2 < p->tail1_us ? left_us - in2 : p->tail1_us;
    return pj(p->tail2_uw, in2) + pj(p->tail1_uw, in1);
}

/* How long the radio takes to move bytes at kbps: ceil(bits / kbit/s), in us.
 * Rounding up keeps a 1-byte transfer from taking no time at all. */
static uint64_t transfer_us(uint64_t bytes, uint32_t kbps)
{
    if (bytes == 0) /* half of a poll's two transfers: spare the division */
        return 0;
    uint64_t bit_ms = bytes * 8 * 1000; /* bits x 1000: us when divided by kbps */
    return (bit_ms + kbps - 1) / kbps;
}

/* Huang12's active power at a throughput: beta + alpha x Mbps. */
static uint32_t active_uw(uint32_t beta_uw, uint32_t alpha_uw_mbps, uint32_t kbps)
{
    return beta_uw + (uint32_t)((uint64_t)alpha_uw_mbps * kbps / 1000);
}

/* ---- The state machine --------------------------------------------------- */

/*
 *          promotion             last byte           timer           timer
 *   IDLE -------------> ACTIVE ---------------> TAIL1 -------> TAIL2 -------> IDLE
 *                        ^  ^                     |              |
 *                        |  +---- transfer -------+              |
 *                        +------- transfer, promotion2 first ----+
 *
 * Where a transfer at t finds the radio is read from the tail's end alone,
 * with left = tail_end - t, the part of the charged tail still ahead:
 *
 *   left <= 0                  IDLE (since tail_end): idle power, promotion
 *   0 < left <= tail2          TAIL2 (3G's FACH): promotion2
 *   tail2 < left <= tail       TAIL1: go at once
 *   left > tail                promoting or sending: queue behind it
 *
 * A timer that runs out at t has demoted the radio at t, hence the <=. The
 * energy already counts the current tail in full, so a transfer that cuts
 * it takes the unlived part back before paying for its own.
 */
uint64_t rt_radio_activity(const struct rt_radio_params *p, struct rt_radio_state *s, uint64_t t_us,
                           uint64_t bytes_up, uint64_t bytes_down)
{
    uint64_t tail = rt_radio_tail_us(p);
    uint64_t start; /* when the radio can start sending this transfer */

    if (t_us >= s->tail_end_us) {
        s->energy_pj += pj(p->idle_uw, t_us - s->tail_end_us) + pj(p->promo_uw, p->promo_us);
        start = t_us + p->promo_us;
    } else if (s->tail_end_us - t_us > tail) {
        s->energy_pj -= tail_pj(p);
        start = s->tail_end_us - tail;
    } else {
        uint64_t left = s->tail_end_us - t_us;
        s->energy_pj -= tail_rest_pj(p, left);
        start = t_us;
        if (left <= p->tail2_us) {
            s->energy_pj += pj(p->promo2_uw, p->promo2_us);
            start += p->promo2_us;
        }
    }

    uint64_t up_us = transfer_us(bytes_up, p->up_kbps);
    uint64_t down_us = transfer_us(bytes_down, p->down_kbps);
    s->energy_pj += pj(active_uw(p->beta_uw, p->alpha_up_uw_mbps, p->up_kbps), up_us) +
                    pj(active_uw(p->beta_uw, p->alpha_down_uw_mbps, p->down_kbps), down_us);
    uint64_t done = start + up_us + down_us;
    s->tail_end_us = done + tail;
    s->energy_pj += tail_pj(p);
    return done;
}

void rt_radio_init(struct rt_radio_state *s, uint64_t t0_us)
{
    s->tail_end_us = t0_us;
    s->energy_pj = 0;
}

uint64_t rt_radio_energy_pj(const struct rt_radio_params *p, const struct rt_radio_state *s,
                            uint64_t t_end_us)
{
    if (t_end_us >= s->tail_end_us)
        return s->energy_pj + pj(p->idle_uw, t_end_us - s->tail_end_us);
    uint64_t left = s->tail_end_us - t_end_us;
    if (left > rt_radio_tail_us(p))
        return s->energy_pj - tail_pj(p);
    return s->energy_pj - tail_rest_pj(p, left);
}

double rt_radio_energy_j(const struct rt_radio_params *p, const struct rt_radio_state *s,
                         uint64_t t_end_us)
{
    return (double)rt_radio_energy_pj(p, s, t_end_us) * 1e-12;
}

/* ---- Batteries ----------------------------------------------------------- */

/* radio-energy.md: iPhone 15, 12.98 Wh (46.7 kJ). */
const struct rt_radio_battery rt_radio_battery_iphone15 = {"iphone15", 12.98};
/* radio-energy.md: about 19.4 Wh (5,000 mAh x 3.87 V = 19.35 Wh, rounded). */
const struct rt_radio_battery rt_radio_battery_android = {"android", 19.4};

const struct rt_radio_battery *rt_radio_battery_find(const char *name)
{
    if (strcmp(name, rt_radio_battery_iphone15.name) == 0)
        return &rt_radio_battery_iphone15;
    if (strcmp(name, rt_radio_battery_android.name) == 0)
        return &rt_radio_battery_android;
    return NULL;
}

double rt_radio_battery_pct_per_hour(double energy_j, double duration_s, double capacity_wh)
{
    if (duration_s <= 0)
        return 0;
    double j_per_hour = energy_j * 3600.0 / duration_s;
    return 100.0 * j_per_hour / (capacity_wh * 3600.0);
}
