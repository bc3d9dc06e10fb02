/*
 * cmd.c - `rtlab sim`: options in, one run, its report out; and
 * `rtlab sim --bench`, the engine's speed and memory on the reference runs.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "internal.h"
#include "rt_scenario.h"

static const char usage_text[] =
    "usage: rtlab sim [SCENARIO.json] [options]\n"
    "       rtlab sim compare SCENARIO.json [options]\n"
    "       rtlab sim --bench\n"
    "\n"
    "Simulates many clients of one approach for a stretch of simulated time and\n"
    "reports what it costs: requests/s, empty answers, delivery latency, bytes,\n"
    "connections, battery, messages lost or duplicated. Deterministic: the same\n"
    "options and seed print the same report (wall time aside). `compare` runs the\n"
    "four approaches on one scenario and prints them side by side.\n"
    "\n"
    "  SCENARIO.json      start from a scenario file (sim/scenarios/: chat, ticker,\n"
    "                     ...; docs/sim.md, \"Scenarios\"); options given beside it\n"
    "                     override its fields, e.g. --approach short --duration 60\n"
    "What and how many:\n"
    "  --approach A       short, long, sse or ws (default short)\n"
    "  --clients N        simulated clients (default 1000)\n"
    "  --rate R           updates per second on each topic, Poisson (default 0.1)\n"
    "  --burst N          messages per update: bursts of N at once (default 1)\n"
    "  --topics K         topics; clients are spread evenly over them (default 1)\n"
    "  --upstream-rate R  messages each client sends per second (default 0)\n"
    "  --duration S       simulated seconds (default 3600, at most 90 days)\n"
    "  --seed S           PRNG seed (default 1)\n"
    "The approaches:\n"
    "  --interval S       short: seconds from an answer to the next poll (default 5)\n"
    "  --sync             short: every client polls first at t = 0 (default: random)\n"
    "  --timeout S        long: the server holds a poll this long (default 30)\n"
    "  --gap MS           long: from an answer to the next poll (default 0)\n"
    "  --heartbeat S|none sse/ws: comment or ping period (default sse 15, ws 30)\n"
    "  --ring N           messages a topic keeps, as the servers' --ring (default 1024)\n"
    "  --send-queue B     bytes a stream may queue before the server closes it\n"
    "                     (default 262144, the servers' --send-queue)\n"
    "The network and failures:\n"
    "  --rtt MS           round trip in ms (default 50); --rtt-sigma X gives each\n"
    "                     client its own, lognormal with that median (default 0)\n"
    "  --drop-mean S      mean time between a client's silent link drops (default 0:\n"
    "                     none); found by the watchdog (2.5 heartbeats) or timeout\n"
    "  --reconnect P      immediate, fixed, stepped, backoff, half_jitter or\n"
    "                     full_jitter (default, as rtlab's clients)\n"
    "  --reconnect-base S, --reconnect-max S   the policy's base and cap (1, 30)\n"
    "  --restart-at S     the server restarts at S (every connection closes) ...\n"
    "  --restart-down S   ... and refuses connections for S seconds (default 5) ...\n"
    "  --restart-every S  ... and again every S seconds (default 0: once)\n"
    "  --lb-idle S        a load balancer closes connections idle for S seconds\n"
    "  --broker-at S, --broker-down S   the broker delivers nothing from S for\n"
    "                     (default 30) seconds; publishes wait, then go out\n"
    "  --slow-share F     this share of clients read slowly (default 0) ...\n"
    "  --slow-rate B      ... at B bytes/s (default 2000)\n"
    "Bytes and energy:\n"
    "  --payload B        bytes of data per message (default 16)\n"
    "  --request-bytes B, --empty-bytes B, --answer-bytes B\n"
    "                     a poll request, a 204 answer, a 200 answer's headers\n"
    "                     (defaults 83, 79, 124: measured from rtlab's own client\n"
    "                     and server; docs/sim-wire.md)\n"
    "  --header-extra B   bytes every HTTP request adds (a browser's User-Agent,\n"
    "                     cookies...; default 0)\n"
    "  --no-tcp           count application bytes only (default: with TCP/IP\n"
    "                     headers, ACKs and handshakes)\n"
    "  --radio R          the phones' radio: lte, 3g or wifi (default lte;\n"
    "                     docs/sim-radio.md)\n"
    "  --battery B        iphone15 (12.98 Wh, the default), android (19.4 Wh), or Wh\n"
    "Output:\n"
    "  --json | --csv     machine-readable output instead of the table\n"
    "  --no-wall          leave wall_s out of --json/--csv (byte-identical reruns)\n"
    "  --trace FILE       write the trace (DESIGN.md's format) of a sample of\n"
    "                     clients to FILE; --trace-clients K of them (default 16)\n"
    "  --bench            time the engine: events/s, and 1,000,000 clients polling\n"
    "                     every 5 s for an hour (wall time, peak RSS)\n";

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

/* The options that set one number of the configuration. */
struct num_option {
    const char *name;
    size_t offset;
    double lo, hi;
};

#define NUM(name, field, lo, hi) {name, offsetof(struct rt_sim_config, field), lo, hi}

static const struct num_option num_options[] = {
    NUM("--interval", interval_s, 1e-6, 86400),
    NUM("--rate", rate, 0, 1e6),
    NUM("--duration", duration_s, 1e-6, RT_SIM_DURATION_MAX_S),
    NUM("--rtt", rtt_ms, 0, 60000),
    NUM("--rtt-sigma", rtt_sigma, 0, 3),
    NUM("--timeout", timeout_s, 0, 120),
    NUM("--gap", gap_ms, 0, 3.6e6),
    NUM("--upstream-rate", upstream_rate, 0, 1000),
    NUM("--drop-mean", drop_mean_s, 1, 365 * 86400.0),
    NUM("--reconnect-base", reconnect_base_s, 0.001, 3600),
    NUM("--reconnect-max", reconnect_max_s, 0.001, 86400),
    NUM("--restart-at", restart_at_s, 0, 365 * 86400.0),
    NUM("--restart-down", restart_down_s, 0, 86400),
    NUM("--restart-every", restart_every_s, 0, 365 * 86400.0),
    NUM("--lb-idle", lb_idle_s, 1, 86400),
    NUM("--broker-at", broker_at_s, 0, 365 * 86400.0),
    NUM("--broker-down", broker_down_s, 0, 86400),
    NUM("--slow-share", slow_share, 0, 1),
    NUM("--slow-rate", slow_bytes_per_s, 1, 1e10),
};

/* The options that set one uint32 (bytes, counts). */
struct int_option {
    const char *name;
    size_t offset;
    uint64_t lo, hi;
};

#define INT(name, field, lo, hi) {name, offsetof(struct rt_sim_config, field), lo, hi}

static const struct int_option int_options[] = {
    INT("--topics", topics, 1, UINT32_MAX),
    INT("--ring", ring, 1, UINT32_MAX),
    INT("--burst", burst, 1, 1000000),
    INT("--payload", payload_bytes, 0, 1u << 30),
    INT("--request-bytes", request_bytes, 0, 1u << 30),
    INT("--empty-bytes", empty_bytes, 0, 1u << 30),
    INT("--answer-bytes", answer_bytes, 0, 1u << 30),
    INT("--header-extra", header_extra_bytes, 0, 1u << 20),
    INT("--send-queue", send_queue, 1, UINT32_MAX),
    INT("--trace-clients", trace_clients, 1, 100000),
};

/* What the command line asks beyond the configuration. */
struct cmd {
    enum output out;
    bool no_wall;
    const char *trace;
};

/* Reads one option at argv[*i] (and its value); false on a usage error. */
static bool parse_option(int argc, char **argv, int *i, struct rt_sim_config *c, struct cmd *m)
{
    const char *o = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    for (size_t k = 0; k < sizeof num_options / sizeof num_options[0]; k++) {
        const struct num_option *n = &num_options[k];
        if (strcmp(o, n->name) == 0) {
            (*i)++;
            return parse_num(o, v, n->lo, n->hi, (double *)(void *)((char *)c + n->offset));
        }
    }
    for (size_t k = 0; k < sizeof int_options / sizeof int_options[0]; k++) {
        const struct int_option *n = &int_options[k];
        uint64_t u;
        if (strcmp(o, n->name) == 0) {
            (*i)++;
            if (!parse_uint(o, v, n->lo, n->hi, &u))
                return false;
            *(uint32_t *)(void *)((char *)c + n->offset) = (uint32_t)u;
            return true;
        }
    }
    bool takes = true;
    if (strcmp(o, "--approach") == 0) {
        int a = v ? rt_sim_approach_parse(v) : -1;
        if (a < 0) {
            fprintf(stderr, "rtlab sim: --approach is short, long, sse or ws, not '%s'\n",
                    v ? v : "(nothing)");
            return false;
        }
        c->approach = (enum rt_sim_approach)a;
    } else if (strcmp(o, "--reconnect") == 0) {
        int a = v ? rt_sim_reconnect_parse(v) : -1;
        if (a < 0) {
            fprintf(stderr,
                    "rtlab sim: --reconnect is immediate, fixed, stepped, backoff, half_jitter "
                    "or full_jitter, not '%s'\n",
                    v ? v : "(nothing)");
            return false;
        }
        c->reconnect = (enum rt_sim_reconnect)a;
    } else if (strcmp(o, "--clients") == 0) {
        if (!parse_uint(o, v, 1, UINT32_MAX, &c->clients))
            return false;
    } else if (strcmp(o, "--seed") == 0) {
        if (!parse_uint(o, v, 0, UINT64_MAX, &c->seed))
            return false;
    } else if (strcmp(o, "--heartbeat") == 0) {
        if (v && strcmp(v, "none") == 0)
            c->heartbeat_s = -1;
        else if (!parse_num(o, v, 0.01, 3600, &c->heartbeat_s))
            return false;
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
        else if (!parse_num(o, v, 0.001, 10000, &c->battery_wh))
            return false;
    } else if (strcmp(o, "--trace") == 0) {
        if (!v) {
            fprintf(stderr, "rtlab sim: --trace wants a file name\n");
            return false;
        }
        m->trace = v;
        if (!c->trace_clients)
            c->trace_clients = 16;
    } else {
        takes = false;
        if (strcmp(o, "--sync") == 0)
            c->sync = true;
        else if (strcmp(o, "--no-tcp") == 0)
            c->tcp_overhead = false;
        else if (strcmp(o, "--json") == 0)
            m->out = OUT_JSON;
        else if (strcmp(o, "--csv") == 0)
            m->out = OUT_CSV;
        else if (strcmp(o, "--no-wall") == 0)
            m->no_wall = true;
        else {
            fprintf(stderr, "rtlab sim: unknown option '%s' (rtlab sim --help)\n", o);
            return false;
        }
    }
    if (takes)
        (*i)++;
    return true;
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
    rt_sim_report_free(&r);
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
                          struct cmd *m)
{
    struct rt_sim_scenario s;
    char err[512];
    rt_sim_config_init(c);
    if (rt_sim_scenario_load(path, c, &s, err, sizeof err) != 0) {
        fprintf(stderr, "rtlab sim: %s\n", err);
        return false;
    }
    c->progress = true;
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && !parse_option(argc, argv, &i, c, m))
            return false;
    return true;
}

/* Runs c; prints the error and returns the exit code when it fails. */
static int run(const struct rt_sim_config *c, struct rt_sim_report *r)
{
    char err[256];
    int rc = rt_sim_run(c, r, err, sizeof err);
    if (rc == 0)
        return 0;
    fprintf(stderr, "rtlab sim: %s\n", err);
    return rc == RT_SIM_EINVAL ? 2 : 1;
}

static int write_trace(const struct rt_sim_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "rtlab sim: cannot write the trace to %s: %s\n", path, strerror(errno));
        return 1;
    }
    int bad = rt_sim_trace_write(r, f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "rtlab sim: writing the trace to %s failed\n", path);
        return 1;
    }
    if (r->trace_truncated)
        fprintf(stderr, "rtlab sim: the trace stopped at %d lines; fewer --trace-clients or a "
                        "shorter --duration keeps it whole\n", RT_SIM_TRACE_MAX);
    return 0;
}

/* rtlab sim compare: the four approaches on one configuration. */
static int compare(const struct rt_sim_config *base, const struct cmd *m)
{
    struct rt_sim_report r[4];
    for (int a = 0; a < 4; a++) {
        struct rt_sim_config c = *base;
        c.approach = (enum rt_sim_approach)a;
        c.trace_clients = 0;
        int rc = run(&c, &r[a]);
        if (rc != 0) {
            while (a-- > 0)
                rt_sim_report_free(&r[a]);
            return rc;
        }
    }
    if (m->out == OUT_TABLE) {
        sim_compare_table(stdout, r);
    } else {
        for (int a = 0; a < 4; a++) {
            char buf[4096];
            int n = m->out == OUT_JSON ? rt_sim_report_json(&r[a], !m->no_wall, buf, sizeof buf)
                                       : rt_sim_report_csv(&r[a], !m->no_wall, buf, sizeof buf);
            /* CSV: one header line, then a row per approach */
            const char *row = buf;
            if (m->out == OUT_CSV && a > 0)
                row = strchr(buf, '\n') + 1;
            fwrite(row, 1, strlen(row), stdout);
            (void)n;
        }
    }
    for (int a = 0; a < 4; a++)
        rt_sim_report_free(&r[a]);
    return 0;
}

int rt_cmd_sim(int argc, char **argv)
{
    struct rt_sim_config c;
    rt_sim_config_init(&c);
    c.progress = true;
    struct cmd m = {OUT_TABLE, false, NULL};
    const char *scenario = NULL;
    bool comparing = argc > 1 && strcmp(argv[1], "compare") == 0;
    for (int i = comparing ? 2 : 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--bench") == 0 && !comparing)
            return run_bench();
        if (argv[i][0] != '-' && !scenario) {
            scenario = argv[i];
            continue;
        }
        if (argv[i][0] != '-') {
            fprintf(stderr, "rtlab sim: one scenario file at most, not '%s' too\n", argv[i]);
            return 2;
        }
        if (!parse_option(argc, argv, &i, &c, &m))
            return 2;
    }
    if (comparing && !scenario) {
        fprintf(stderr, "rtlab sim compare: which scenario? (rtlab sim compare "
                        "sim/scenarios/chat.json)\n");
        return 2;
    }
    if (scenario && !load_scenario(scenario, argc - comparing, argv + comparing, &c, &m))
        return 2;
    if (comparing && m.trace) {
        fprintf(stderr, "rtlab sim compare: --trace records one run; trace the approach you "
                        "want with rtlab sim FILE --approach A --trace FILE\n");
        return 2;
    }
    if (!m.trace && c.trace_clients) {
        fprintf(stderr, "rtlab sim: --trace-clients without --trace: where should the trace go?\n");
        return 2;
    }
    if (comparing)
        return compare(&c, &m);
    struct rt_sim_report r;
    int rc = run(&c, &r);
    if (rc != 0)
        return rc;
    if (m.out == OUT_TABLE) {
        sim_report_table(stdout, &r);
    } else {
        char buf[4096];
        int n = m.out == OUT_JSON ? rt_sim_report_json(&r, !m.no_wall, buf, sizeof buf)
                                  : rt_sim_report_csv(&r, !m.no_wall, buf, sizeof buf);
        fwrite(buf, 1, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, stdout);
    }
    if (m.trace)
        rc = write_trace(&r, m.trace);
    rt_sim_report_free(&r);
    return rc;
}
