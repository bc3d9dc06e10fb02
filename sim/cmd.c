/*
 * cmd.c - `rtlab sim`: options in, one run, its report out; and
 * `rtlab sim --bench`, the engine's speed and memory on the reference runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "internal.h"
#include "rt_scenario.h"

static const char usage_text[] =
    "usage: rtlab sim [SCENARIO.json] [options]\n"
    "       rtlab sim --bench\n"
    "\n"
    "Simulates many clients of one approach for a stretch of simulated time and\n"
    "reports what it costs: requests/s, empty answers, delivery latency, bytes,\n"
    "connections, messages lost or duplicated. Deterministic: the same options\n"
    "and seed print the same report (wall time aside).\n"
    "\n"
    "  SCENARIO.json   start from a scenario file (sim/scenarios/: chat, ticker,\n"
    "                  ...; docs/sim.md, \"Scenarios\"); options given beside it\n"
    "                  override its fields, e.g. --approach short --duration 60\n"
    "  --approach A    short (long, sse and ws are not modelled yet)\n"
    "  --clients N     simulated clients (default 1000)\n"
    "  --interval S    short: seconds from an answer to the next request (default 5)\n"
    "  --rate R        updates per second on each topic, Poisson (default 0.1)\n"
    "  --topics K      topics; clients are spread evenly over them (default 1)\n"
    "  --duration S    simulated seconds (default 3600)\n"
    "  --rtt MS        network round trip in ms (default 50)\n"
    "  --sync          every client polls first at t = 0 (default: random phase)\n"
    "  --seed S        PRNG seed (default 1)\n"
    "  --ring N        messages a topic keeps, as the server's --ring (default 1024)\n"
    "  --payload B     bytes of data per message (default 16)\n"
    "  --request-bytes B, --empty-bytes B, --answer-bytes B\n"
    "                  a poll request, a 204 answer, a 200 answer's headers\n"
    "                  (defaults 83, 79, 124: measured from rtlab's own client\n"
    "                  and server; see docs/sim.md)\n"
    "  --radio R       the phones' radio for the energy figures: lte, 3g or wifi\n"
    "                  (default lte; docs/sim-radio.md)\n"
    "  --battery B     iphone15 (12.98 Wh, the default), android (19.4 Wh), or Wh\n"
    "  --json | --csv  machine-readable output instead of the table\n"
    "  --no-wall       leave wall_s out of --json/--csv (byte-identical reruns)\n"
    "  --bench         time the engine: events/s, and 1,000,000 clients polling\n"
    "                  every 5 s for an hour (wall time, peak RSS)\n";

enum output { OUT_TABLE, OUT_JSON, OUT_CSV };

/* Parses a number option's value into *v within [lo, hi]; false with a
 * message on stderr when it is not one. */
static bool parse_num(const char *name, const char *text, double lo, double hi, double *v)
{
    char *end;
    errno = 0;
    double x = text ? strtod(text, &end) : 0;
    if (!text || errno || end == text || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "rtlab sim: %s wants a number from %g to %g, not '%s'\n", name, lo, hi,
                text ? text : "(nothing)");
        return false;
    }
    *v = x;
    return true;
}

/* Whole numbers are read as integers, so every 64-bit seed is exact. */
static bool parse_uint(const char *name, const char *text, uint64_t lo, uint64_t hi, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = text && *text != '-' ? strtoull(text, &end, 10) : 0;
    if (!text || *text == '-' || errno || end == text || *end || x < lo || x > hi) {
        fprintf(stderr, "rtlab sim: %s wants a whole number from %llu to %llu, not '%s'\n", name,
                (unsigned long long)lo, (unsigned long long)hi, text ? text : "(nothing)");
        return false;
    }
    *v = x;
    return true;
}

/* Reads one option at argv[*i] (and its value); false on a usage error. */
static bool parse_option(int argc, char **argv, int *i, struct rt_sim_config *c, enum output *out,
                         bool *no_wall)
{
    const char *o = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t u;
    bool ok = true, takes = true;
    if (strcmp(o, "--approach") == 0) {
        int a = v ? rt_sim_approach_parse(v) : -1;
        if (a < 0) {
            fprintf(stderr, "rtlab sim: --approach is short, long, sse or ws, not '%s'\n",
                    v ? v : "(nothing)");
            return false;
        }
        c->approach = (enum rt_sim_approach)a;
    } else if (strcmp(o, "--clients") == 0) {
        ok = parse_uint(o, v, 1, UINT32_MAX, &c->clients);
    } else if (strcmp(o, "--interval") == 0) {
        ok = parse_num(o, v, 1e-6, 86400, &c->interval_s);
    } else if (strcmp(o, "--rate") == 0) {
        ok = parse_num(o, v, 0, 1e6, &c->rate);
    } else if (strcmp(o, "--topics") == 0) {
        ok = parse_uint(o, v, 1, UINT32_MAX, &u);
        c->topics = (uint32_t)u;
    } else if (strcmp(o, "--duration") == 0) {
        ok = parse_num(o, v, 1e-6, 365 * 86400.0, &c->duration_s);
    } else if (strcmp(o, "--rtt") == 0) {
        ok = parse_num(o, v, 0, 60000, &c->rtt_ms);
    } else if (strcmp(o, "--seed") == 0) {
        ok = parse_uint(o, v, 0, UINT64_MAX, &c->seed);
    } else if (strcmp(o, "--ring") == 0) {
        ok = parse_uint(o, v, 1, UINT32_MAX, &u);
        c->ring = (uint32_t)u;
    } else if (strcmp(o, "--radio") == 0) {
        if (!v || strlen(v) >= sizeof c->radio || !rt_radio_params_find(v)) {
            fprintf(stderr, "rtlab sim: --radio is lte, 3g or wifi, not '%s'\n",
                    v ? v : "(nothing)");
            return false;
        }
        memcpy(c->radio, v, strlen(v) + 1);
    } else if (strcmp(o, "--battery") == 0) {
        const struct rt_radio_battery *b = v ? rt_radio_battery_find(v) : NULL;
        if (b)
            c->battery_wh = b->wh;
        else
            ok = parse_num(o, v, 0.001, 10000, &c->battery_wh);
    } else if (strcmp(o, "--payload") == 0 || strcmp(o, "--request-bytes") == 0 ||
               strcmp(o, "--empty-bytes") == 0 || strcmp(o, "--answer-bytes") == 0) {
        ok = parse_uint(o, v, 0, 1u << 30, &u);
        uint32_t *field = o[2] == 'p'   ? &c->payload_bytes
                          : o[2] == 'r' ? &c->request_bytes
                          : o[2] == 'e' ? &c->empty_bytes
                                        : &c->answer_bytes;
        *field = (uint32_t)u;
    } else {
        takes = false;
        if (strcmp(o, "--sync") == 0)
            c->sync = true;
        else if (strcmp(o, "--json") == 0)
            *out = OUT_JSON;
        else if (strcmp(o, "--csv") == 0)
            *out = OUT_CSV;
        else if (strcmp(o, "--no-wall") == 0)
            *no_wall = true;
        else {
            fprintf(stderr, "rtlab sim: unknown option '%s' (rtlab sim --help)\n", o);
            return false;
        }
    }
    if (takes)
        (*i)++;
    return ok;
}

static int print_report(const struct rt_sim_report *r, enum output out, bool with_wall)
{
    if (out == OUT_TABLE) {
        sim_report_table(stdout, r);
        return 0;
    }
    char buf[4096];
    int n = out == OUT_JSON ? rt_sim_report_json(r, with_wall, buf, sizeof buf)
                            : rt_sim_report_csv(r, with_wall, buf, sizeof buf);
    fwrite(buf, 1, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, stdout);
    return 0;
}

/* ---- --bench ---------------------------------------------------------------- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The queue alone, in the "hold" model: n events waiting, each pop followed
 * by a push at a random delay in [0, 5 s). Returns events (pops) per second. */
static double bench_queue(uint64_t n, uint64_t ops)
{
    struct rt_simq q;
    struct rt_rng rng;
    rt_rng_seed(&rng, 42);
    if (rt_simq_init(&q, 12, 12) != 0)
        return 0;
    for (uint64_t i = 0; i < n; i++)
        rt_simq_push(&q, rt_rng_below(&rng, 5000000), i);
    double t0 = wall_now();
    struct rt_sim_event e;
    for (uint64_t i = 0; i < ops && rt_simq_pop(&q, &e); i++)
        rt_simq_push(&q, e.time + 1 + (rt_rng_next(&rng) >> 42) % 5000000, e.data);
    double dt = wall_now() - t0;
    rt_simq_close(&q);
    return (double)ops / dt;
}

/* The same hold model on the reference heap, for comparison. */
static double bench_heap(uint64_t n, uint64_t ops)
{
    struct rt_simheap h;
    struct rt_rng rng;
    rt_rng_seed(&rng, 42);
    rt_simheap_init(&h);
    for (uint64_t i = 0; i < n; i++)
        rt_simheap_push(&h, rt_rng_below(&rng, 5000000), i);
    double t0 = wall_now();
    struct rt_sim_event e;
    for (uint64_t i = 0; i < ops && rt_simheap_pop(&h, &e); i++)
        rt_simheap_push(&h, e.time + 1 + (rt_rng_next(&rng) >> 42) % 5000000, e.data);
    double dt = wall_now() - t0;
    rt_simheap_close(&h);
    return (double)ops / dt;
}

static int run_bench(void)
{
    struct rt_sim_config c;
    rt_sim_config_init(&c);
    c.clients = 1000000;
    c.interval_s = 5;
    c.duration_s = 3600;
    c.progress = true;
    struct rt_sim_report r;
    char err[256];
    printf("rtlab sim --bench (one core, one thread)\n\n");
    printf("1,000,000 clients short-polling every 5 s for one simulated hour\n"
           "(rate %g per s, %u topic, rtt %g ms):\n",
           c.rate, c.topics, c.rtt_ms);
    fflush(stdout);
    if (rt_sim_run(&c, &r, err, sizeof err) != 0) {
        fprintf(stderr, "rtlab sim: %s\n", err);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  wall time        %8.2f s\n", r.wall_s);
    printf("  events           %8.0f M   (%.1f M events/s)\n", (double)r.events / 1e6,
           (double)r.events / r.wall_s / 1e6);
    printf("  requests/s       %10.0f\n", r.requests_per_s);
    printf("  peak RSS         %8.1f MB  (the run's own allocations %.1f MB, %.0f B/client)\n",
           (double)ru.ru_maxrss / 1024.0, (double)r.memory_bytes / 1e6,
           (double)r.memory_bytes / (double)c.clients);
    fflush(stdout);
    printf("\nthe event queue alone, 1,000,000 events waiting, pop + push at 0-5 s:\n");
    printf("  timing wheel     %8.1f M events/s\n", bench_queue(1000000, 50000000) / 1e6);
    fflush(stdout);
    printf("  binary heap      %8.1f M events/s  (the reference)\n",
           bench_heap(1000000, 10000000) / 1e6);
    return 0;
}

/* ---- The command ------------------------------------------------------------- */

/* Starts c again from the scenario file, then applies the options over it
 * (a flag beats the file). The options were checked on the first pass. */
static bool load_scenario(const char *path, int argc, char **argv, struct rt_sim_config *c,
                          enum output *out, bool *no_wall)
{
    struct rt_sim_scenario s;
    char err[512];
    rt_sim_config_init(c);
    if (rt_sim_scenario_load(path, c, &s, err, sizeof err) != 0) {
        fprintf(stderr, "rtlab sim: %s\n", err);
        return false;
    }
    c->progress = true;
    if (s.pending[0])
        fprintf(stderr, "rtlab sim: %s: not modelled yet, so not applied: %s\n", path, s.pending);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && !parse_option(argc, argv, &i, c, out, no_wall))
            return false;
    return true;
}

int rt_cmd_sim(int argc, char **argv)
{
    struct rt_sim_config c;
    rt_sim_config_init(&c);
    c.progress = true;
    enum output out = OUT_TABLE;
    bool no_wall = false;
    const char *scenario = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--bench") == 0)
            return run_bench();
        if (argv[i][0] != '-' && !scenario) {
            scenario = argv[i];
            continue;
        }
        if (argv[i][0] != '-') {
            fprintf(stderr, "rtlab sim: one scenario file at most, not '%s' too\n", argv[i]);
            return 2;
        }
        if (!parse_option(argc, argv, &i, &c, &out, &no_wall))
            return 2;
    }
    if (scenario && !load_scenario(scenario, argc, argv, &c, &out, &no_wall))
        return 2;
    struct rt_sim_report r;
    char err[256];
    int rc = rt_sim_run(&c, &r, err, sizeof err);
    if (rc == RT_SIM_EINVAL || rc == RT_SIM_EUNMODELLED) {
        fprintf(stderr, "rtlab sim: %s\n", err);
        if (rc == RT_SIM_EUNMODELLED && scenario)
            fprintf(stderr, "rtlab sim: add --approach short to run %s as short polling\n",
                    scenario);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "rtlab sim: %s\n", err);
        return 1;
    }
    return print_report(&r, out, !no_wall);
}
