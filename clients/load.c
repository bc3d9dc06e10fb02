/*
 * load.c - `rtlab load APPROACH`: many subscribers and one publisher in one
 * process, on one libuv loop, and a report of what the server did for them.
 *
 * A run goes through these phases:
 *
 *   PROBE    find where the topic's log ends now, so that every subscriber
 *            starts there and "expected deliveries" is simply published x
 *            clients. A polling server is asked GET /poll with since=0,
 *            then since=next, until 204 (with timeout=0, so a long-polling
 *            server answers at once). An SSE or WebSocket server has no
 *            /poll: one subscriber replays the log from 0, and the end is
 *            where its stream has gone quiet for PROBE_QUIET_MS;
 *   CONNECT  (long polling, SSE, WebSockets: approaches that hold a request
 *            or stream; a WebSocket counts once its subscribe is live, or
 *            with nchan at its 101, see ws.c)
 *            the subscribers connect, CONNECT_BATCH every CONNECT_TICK_MS,
 *            until every one holds an open connection and a poll or stream,
 *            then SETTLE_MS more for the server to read the last requests.
 *            Not part of --duration: the run measures N clients all there;
 *   RUN      --duration seconds of the N subscribers (short polling: each
 *            starting at a random phase within the first interval, so they
 *            do not all ask in the same millisecond) plus a publisher
 *            POSTing R messages/s; a progress line on stderr each second;
 *   DRAIN    the publisher stops; the subscribers go on for up to DRAIN_MS
 *            (short polling: plus one interval) until every message
 *            published has reached every subscriber, so none is counted as
 *            lost merely for being in flight;
 *   STOP     everything closes; the report goes to stdout.
 *
 * Request rates in the report cover the RUN phase only (the counters are
 * snapshot when it starts and ends); deliveries, latency and fan-out
 * include the drain. With --rate 0 there is no publisher and no drain: the
 * run just holds its N connections for --duration (to measure a server's
 * memory per idle connection, say).
 *
 * --peer nchan drives nginx's nchan module instead (internal.h, "Peers";
 * scripts/bench-push.sh sets it up). The publisher's body is always
 * {"seq":N,"ts":MICROS}, its own count and its clock just before sending;
 * with nchan that body is all a subscriber gets, so seq is the message id
 * and latency counts from that ts. --clock publisher makes the same choice
 * of clock against rtlab (data.ts instead of the server's ts), so the two
 * are measured alike. PROBE against nchan only checks that the topic is
 * fresh: nchan's ids are not ours to count from.
 *
 * Why it scales: subscribers are laid out in one array, share one
 * endpoint, one stats struct and one latency histogram, and an idle
 * subscriber owns no read buffer (rt_clients.h, "Memory"), so 10,000 of
 * them cost about 10,000 x (sub_size) bytes plus the kernel's socket
 * buffers (an open SSE stream adds the pages its last event touched, see
 * sse.c). Each keeps a socket, so the file descriptor limit is raised to
 * its hard limit at start.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* The SSE probe's stream is caught up once it has been quiet this long. A
 * replay is one write on the server, so a pause of this length means the
 * replay is over (unless someone else is publishing: then the run's counts
 * are off anyway). */
#define PROBE_QUIET_MS 300

/* Connecting: 100 subscribers every 10 ms is 10,000 connections/s, which
 * a listen backlog of 4,096 takes without dropping SYNs (a dropped SYN costs
 * a client a 1 s retransmission). */
#define CONNECT_BATCH 100
#define CONNECT_TICK_MS 10
/* Once all have connected, time for the server to read their requests. */
#define SETTLE_MS 500
/* How long CONNECT waits for stragglers before the run starts without them. */
#define CONNECT_WAIT_MS 30000

/* After --duration, how long messages in flight may take to arrive. */
#define DRAIN_MS 2000

static const char usage[] =
    "usage: rtlab load APPROACH [options]\n"
    "\n"
    "Runs N subscribers and one publisher against a server from one process and\n"
    "reports requests, empty answers, connections, deliveries, delivery latency\n"
    "and fan-out (when the last client had each message). APPROACH is short, long,\n"
    "sse or ws.\n"
    "\n"
    "  --url URL        server (default http://127.0.0.1:8001 for short, :8002\n"
    "                   for long, :8003 for sse, :8004 for ws; ws also takes\n"
    "                   ws://host:port[/path], publishing beside it over HTTP)\n"
    "  --clients N      subscribers, each with its own connection (default 100)\n"
    "  --interval S     short: seconds between an answer and the next request,\n"
    "                   fractions allowed (default 1)\n"
    "  --timeout S      long: whole seconds the server may hold a poll, 1 to 120\n"
    "                   (default 30)\n"
    "  --heartbeat S    sse: the server's heartbeat interval; streams silent for\n"
    "                   2.5 times this are reopened (default 15; 0: never).\n"
    "                   ws: each client pings every S seconds (default 30) and\n"
    "                   reconnects after 2.5 times S without a byte\n"
    "  --no-deflate     ws: do not offer permessage-deflate compression\n"
    "  --duration S     seconds to run (default 10), then a drain of up to 2 s\n"
    "                   (short: plus one interval) for messages in flight\n"
    "  --rate R         messages published per second, fractions allowed\n"
    "                   (default 1; 0: no publisher, just hold the connections)\n"
    "  --topic T        topic (default: a fresh one, load-PID-TIME)\n"
    "  --seed N         seed for start phases and jitter (default: from the clock)\n"
    "  --peer P         rtlab (default), or nchan: nginx's nchan module, its\n"
    "                   long-poll, EventSource and WebSocket subscribers (long,\n"
    "                   sse and ws; --url names the server, whose publisher is at\n"
    "                   /publish and subscribers at /poll, /events and /ws, the\n"
    "                   channel ?topic=T; the topic must be new to it, as the\n"
    "                   default one is)\n"
    "  --clock C        where latency counts from: server (the message's ts, set\n"
    "                   on receipt; rtlab's default) or publisher (the ts the\n"
    "                   publisher puts in its body just before sending; nchan's\n"
    "                   only choice)\n"
    "  --json           print the report as one JSON object\n"
    "  --help           this text\n"
    "\n"
    "long, sse and ws connect all clients first (10,000 a second), then run for\n"
    "--duration. Progress goes to stderr each second; the report to stdout.\n"
    "Exit status: 0, 1 when the server cannot be reached at the start, 2 on a\n"
    "usage error.\n";

/* ---- Data structures --------------------------------------------------- */

struct load_opts {
    const char *url;
    uint64_t clients;
    struct rt_cli_knobs knobs; /* --interval, --timeout, --heartbeat */
    uint64_t duration_ms;
    double rate;
    const char *topic;
    uint64_t seed;
    enum rt_peer peer;
    enum rt_clock clock;
    bool json;
    bool no_deflate; /* ws */
};

enum phase { PHASE_PROBE, PHASE_CONNECT, PHASE_RUN, PHASE_DRAIN, PHASE_STOP };

/* Counters at one moment: the RUN phase's ends, and the last progress line. */
struct load_snapshot {
    uint64_t requests, empty, errors, at_ms;
};

struct load_run {
    uv_loop_t loop;
    struct load_opts opts;
    struct rt_endpoint ep;
    const struct rt_approach *approach;
    char topic[RT_NAME_MAX + 1];
    enum phase phase;
    bool interrupted; /* by SIGINT or SIGTERM */
    int exit_code;
    struct rt_rng rng;

    char *subs; /* opts.clients subscribers of approach->sub_size bytes */
    uint64_t subs_started;
    struct rt_sub_stats stats; /* all subscribers add to this */
    struct rt_fanout fanout;

    /* The probe of an SSE server: one subscriber replaying the topic. */
    void *probe_storage; /* approach->sub_size bytes */
    void *probe_sub;     /* probe_storage while the probe is open, else NULL */
    struct rt_sub_stats probe_stats;
    uint64_t probe_last_id, probe_quiet_from_ms, probe_deadline_ms;

    /* The publisher's connection also probes a polling server's topic. */
    struct rt_hclient pub;
    char pub_target[sizeof((struct rt_endpoint *)0)->prefix + RT_NAME_MAX + 32];
    char pub_body[64]; /* written from here: valid until the answer */
    uint64_t pub_sent, published, publish_errors;
    uint64_t pub_seq;     /* the seq of the message in flight (nchan: its id) */
    uint64_t pub_due;     /* what the schedule asked for by the end of the run */
    uint64_t pub_last_id; /* the id the server gave our latest message */
    uint64_t head;        /* the topic's last id when the subscribers began */

    uv_timer_t pub_timer, progress_timer, phase_timer;
    uv_signal_t sigint, sigterm;
    uint64_t t0_ms;          /* when the subscribers began: progress counts from here */
    uint64_t connect_end_ms; /* CONNECT: when all had started, then when they settle */
    uint64_t held_at_start;
    uint64_t drain_deadline_ms, drain_ms; /* drain_ms: how long it took */
    struct load_snapshot run_start, run_end, last;
};

/* ---- Options ----------------------------------------------------------- */

static int parse_peer(const char *text, enum rt_peer *out)
{
    if (strcmp(text, "rtlab") == 0)
        *out = RT_PEER_RTLAB;
    else if (strcmp(text, "nchan") == 0)
        *out = RT_PEER_NCHAN;
    else {
        fprintf(stderr, "rtlab load: --peer must be rtlab or nchan, not '%s'\n", text);
        return -1;
    }
    return 0;
}

static int parse_clock(const char *text, enum rt_clock *out)
{
    if (strcmp(text, "server") == 0)
        *out = RT_CLOCK_SERVER;
    else if (strcmp(text, "publisher") == 0)
        *out = RT_CLOCK_PUBLISHER;
    else {
        fprintf(stderr, "rtlab load: --clock must be server or publisher, not '%s'\n", text);
        return -1;
    }
    return 0;
}

/* nchan: long, sse and ws (it has no short polling), and the publisher's
 * clock, the only one its messages carry. */
static int check_peer(const struct rt_approach *ap, struct load_opts *o, bool clock_set)
{
    if (o->peer != RT_PEER_NCHAN)
        return 0;
    if (!ap->holds) { /* short */
        fprintf(stderr, "rtlab load: --peer nchan is for long, sse and ws, not %s\n", ap->name);
        return -1;
    }
    if (clock_set && o->clock == RT_CLOCK_SERVER) {
        fprintf(stderr, "rtlab load: --peer nchan has no server clock: its messages carry only "
                        "the publisher's (--clock publisher)\n");
        return -1;
    }
    o->clock = RT_CLOCK_PUBLISHER;
    return 0;
}

static int parse_options(int argc, char **argv, const struct rt_approach *ap, struct load_opts *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"clients", required_argument, NULL, 'n'},
        RT_CLI_KNOB_OPTIONS,
        {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},
        {"topic", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"peer", required_argument, NULL, 'p'},
        {"clock", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"no-deflate", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct load_opts){.url = ap->default_url,
                            .clients = 100,
                            .duration_ms = 10000,
                            .rate = 1,
                            .seed = rt_now_us() ^ ((uint64_t)getpid() << 32)};
    rt_cli_knobs_init(&o->knobs, ap);
    int ch, bad = 0;
    bool clock_set = false;
    optind = 0; /* glibc: start afresh */
    opterr = 0;
    while ((ch = getopt_long(argc - 1, argv + 1, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 'n':
            bad |= rt_cli_count("load", "--clients", optarg, 1, 1000000, &o->clients);
            break;
        case 'i':
        case 'T':
        case 'b':
            bad |= rt_cli_knob("load", ap, ch, optarg, &o->knobs);
            break;
        case 'd':
            bad |= rt_cli_seconds("load", "--duration", optarg, &o->duration_ms);
            break;
        case 'r':
            bad |= rt_cli_number("load", "--rate", optarg, 0, 1000000, &o->rate);
            break;
        case 't':
            o->topic = optarg;
            break;
        case 's':
            bad |= rt_cli_count("load", "--seed", optarg, 0, UINT64_MAX, &o->seed);
            break;
        case 'p':
            bad |= parse_peer(optarg, &o->peer);
            break;
        case 'c':
            bad |= parse_clock(optarg, &o->clock);
            clock_set = true;
            break;
        case 'j':
            o->json = true;
            break;
        case 'D':
            if (strcmp(ap->name, "ws") != 0) {
                fprintf(stderr, "rtlab load: --no-deflate is for ws only, not %s\n", ap->name);
                return -1;
            }
            o->no_deflate = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            rt_cli_bad_option("load", argc - 1, argv + 1, ch);
            return -1;
        }
    }
    if (bad)
        return -1;
    if (optind < argc - 1) {
        fprintf(stderr, "rtlab load: unexpected argument '%s'\n", argv[1 + optind]);
        return -1;
    }
    if (o->duration_ms == 0) {
        fprintf(stderr, "rtlab load: --duration must be more than 0\n");
        return -1;
    }
    if (check_peer(ap, o, clock_set) < 0)
        return -1;
    return o->topic ? rt_cli_name("load", "--topic", o->topic) : 0;
}

/* Lets this process open as many sockets as the hard limit allows. */
static void raise_fd_limit(uint64_t clients)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < clients + 32)
        fprintf(stderr,
                "rtlab load: warning: only %llu file descriptors for %" PRIu64
                " clients; expect errors (raise the hard limit: ulimit -Hn)\n",
                (unsigned long long)rl.rlim_cur, clients);
}

/* ---- Stopping and the report ------------------------------------------- */

static void take_snapshot(struct load_run *run, struct load_snapshot *s)
{
    s->requests = run->stats.requests;
    s->empty = run->stats.empty;
    s->errors = run->stats.errors;
    s->at_ms = uv_now(&run->loop);
}

static void on_sub_closed(void *sub)
{
    (void)sub; /* the array (and the probe's storage) is freed after the loop ends */
}

static void stop(struct load_run *run)
{
    if (run->phase == PHASE_STOP)
        return;
    if (run->phase == PHASE_RUN)
        take_snapshot(run, &run->run_end);
    if (run->phase == PHASE_DRAIN)
        run->drain_ms = uv_now(&run->loop) - run->run_end.at_ms;
    run->phase = PHASE_STOP;
    for (uint64_t i = 0; i < run->subs_started; i++)
        run->approach->close(run->subs + i * run->approach->sub_size, on_sub_closed);
    if (run->probe_sub)
        run->approach->close(run->probe_sub, on_sub_closed);
    rt_hclient_close(&run->pub, NULL);
    uv_close((uv_handle_t *)&run->pub_timer, NULL);
    uv_close((uv_handle_t *)&run->progress_timer, NULL);
    uv_close((uv_handle_t *)&run->phase_timer, NULL);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
}

/* The run cannot start: say why, and stop with exit status 1. */
static void fail_start(struct load_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_start(struct load_run *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rtlab load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    run->exit_code = RT_EXIT_FAIL;
    stop(run);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct load_run *run = h->data;
    (void)signum;
    run->interrupted = true;
    stop(run);
}

static double ms_of(uint64_t us)
{
    return (double)us / 1000.0;
}

/* Everything the report says, worked out once for both of its forms. */
struct report {
    double secs, connect_s, drain_s, rps, empty_share, rss_mib;
    double delivered_ps; /* deliveries per second over the run and its drain */
    uint64_t requests, empty, expected, fanout_complete, fanout_messages;
    double lat_p50, lat_p99, lat_max, lat_mean;
    double fan_p50, fan_p99, fan_max;
    char knob_json[64], knob_text[64]; /* the approach's own setting */
};

static void work_out(const struct load_run *run, struct report *r)
{
    const struct load_opts *o = &run->opts;
    const struct rt_hist *lat = &run->stats.latency;
    memset(r, 0, sizeof *r);
    r->secs = (double)(run->run_end.at_ms - run->run_start.at_ms) / 1000.0;
    r->connect_s = (double)(run->run_start.at_ms - run->t0_ms) / 1000.0;
    r->drain_s = (double)run->drain_ms / 1000.0;
    r->requests = run->run_end.requests - run->run_start.requests;
    r->empty = run->run_end.empty - run->run_start.empty;
    r->rps = r->secs > 0 ? (double)r->requests / r->secs : 0;
    double busy = r->secs + r->drain_s;
    r->delivered_ps = busy > 0 ? (double)run->stats.messages / busy : 0;
    r->empty_share = r->requests ? (double)r->empty / (double)r->requests : 0;
    r->expected = run->published * o->clients;
    r->lat_p50 = ms_of(rt_hist_percentile(lat, 50));
    r->lat_p99 = ms_of(rt_hist_percentile(lat, 99));
    r->lat_max = ms_of(lat->count ? lat->max : 0);
    r->lat_mean = ms_of((uint64_t)rt_hist_mean(lat));
    struct rt_hist *fan = malloc(sizeof *fan);
    if (fan) {
        rt_hist_init(fan);
        r->fanout_messages = run->pub_last_id > run->head ? run->pub_last_id - run->head : 0;
        r->fanout_complete = rt_fanout_result(&run->fanout, run->pub_last_id, o->clients, fan);
        r->fan_p50 = ms_of(rt_hist_percentile(fan, 50));
        r->fan_p99 = ms_of(rt_hist_percentile(fan, 99));
        r->fan_max = ms_of(fan->count ? fan->max : 0);
        free(fan);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        r->rss_mib = (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
    const char *name = "heartbeat";
    double secs = (double)o->knobs.heartbeat_ms / 1000.0;
    if (run->approach->options & RT_OPT_INTERVAL) {
        name = "interval";
        secs = (double)o->knobs.interval_ms / 1000.0;
    } else if (run->approach->options & RT_OPT_TIMEOUT) {
        name = "timeout";
        secs = (double)o->knobs.hold_ms / 1000.0;
    }
    snprintf(r->knob_json, sizeof r->knob_json, "\"%s_s\":%.3f", name, secs);
    snprintf(r->knob_text, sizeof r->knob_text, "%s %.3f s", name, secs);
}

static const char *peer_name(const struct load_run *run)
{
    return run->opts.peer == RT_PEER_NCHAN ? "nchan" : "rtlab";
}

static const char *clock_name(const struct load_run *run)
{
    return run->opts.clock == RT_CLOCK_PUBLISHER ? "publisher" : "server";
}

static void print_json(const struct load_run *run, const struct report *r)
{
    const struct rt_sub_stats *st = &run->stats;
    printf("{\"approach\":\"%s\",\"peer\":\"%s\",\"clock\":\"%s\",\"topic\":\"%s\","
           "\"clients\":%" PRIu64 ",%s,\"connect_s\":%.3f,\"held_at_start\":%" PRIu64
           ",\"duration_s\":%.3f"
           ",\"drain_s\":%.3f,\"requests\":%" PRIu64 ",\"requests_per_s\":%.1f,\"empty\":%" PRIu64
           ",\"empty_share\":%.4f,\"connections\":%" PRIu64 ",\"reconnects\":%" PRIu64
           ",\"published\":%" PRIu64 ",\"publish_due\":%" PRIu64 ",\"publish_errors\":%" PRIu64
           ",\"delivered\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"delivered_per_s\":%.1f"
           ",\"duplicates\":%" PRIu64
           ",\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}"
           ",\"fanout_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"complete\":%" PRIu64
           ",\"messages\":%" PRIu64 "},\"errors\":%" PRIu64 ",\"resets\":%" PRIu64
           ",\"max_rss_mib\":%.1f,\"interrupted\":%s}\n",
           run->approach->name, peer_name(run), clock_name(run), run->topic, run->opts.clients,
           r->knob_json, r->connect_s, run->held_at_start, r->secs, r->drain_s, r->requests, r->rps,
           r->empty, r->empty_share, st->connects, st->reconnects, run->published, run->pub_due,
           run->publish_errors, st->messages, r->expected, r->delivered_ps, st->duplicates,
           r->lat_p50, r->lat_p99, r->lat_max, r->lat_mean, r->fan_p50, r->fan_p99, r->fan_max,
           r->fanout_complete, r->fanout_messages, st->errors, st->resets, r->rss_mib,
           run->interrupted ? "true" : "false");
}

static void print_text(const struct load_run *run, const struct report *r)
{
    const struct load_opts *o = &run->opts;
    const struct rt_sub_stats *st = &run->stats;
    printf("load %s: %" PRIu64 " clients, %s, topic %s%s\n", run->approach->name, o->clients,
           r->knob_text, run->topic, o->peer == RT_PEER_NCHAN ? ", peer nchan" : "");
    if (run->approach->holds)
        printf("  connect     %.1f s; %" PRIu64 " of %" PRIu64 " holding a %s at the start\n",
               r->connect_s, run->held_at_start, o->clients,
               run->approach->streams ? "stream" : "poll");
    printf("  duration    %.1f s (then %.1f s drain)%s\n", r->secs, r->drain_s,
           run->interrupted ? ", interrupted" : "");
    printf("  requests    %" PRIu64 " (%.1f/s)\n", r->requests, r->rps);
    if (!run->approach->streams)
        printf("  empty       %" PRIu64 " (%.1f%%)\n", r->empty, 100.0 * r->empty_share);
    printf("  connections %" PRIu64 " opened, %" PRIu64 " of them reconnects\n", st->connects,
           st->reconnects);
    printf("  published   %" PRIu64 " (%" PRIu64 " failed; %" PRIu64 " due at %g/s)\n",
           run->published, run->publish_errors, run->pub_due, o->rate);
    printf("  delivered   %" PRIu64 " of %" PRIu64 " expected (%" PRIu64
           " duplicates dropped), %.0f/s\n",
           st->messages, r->expected, st->duplicates, r->delivered_ps);
    printf("  latency     p50 %.1f ms, p99 %.1f ms, max %.1f ms (from the %s's clock)\n",
           r->lat_p50, r->lat_p99, r->lat_max, clock_name(run));
    printf("  fan-out     p50 %.1f ms, p99 %.1f ms, max %.1f ms (%" PRIu64 " of %" PRIu64
           " messages reached every client)\n",
           r->fan_p50, r->fan_p99, r->fan_max, r->fanout_complete, r->fanout_messages);
    printf("  errors      %" PRIu64 "\n", st->errors);
    printf("  resets      %" PRIu64 "\n", st->resets);
    printf("  memory      %.1f MiB max RSS of this process\n", r->rss_mib);
}

static void print_report(const struct load_run *run)
{
    struct report r;
    work_out(run, &r);
    if (run->opts.json)
        print_json(run, &r);
    else
        print_text(run, &r);
    fflush(stdout);
}

/* ---- Progress ---------------------------------------------------------- */

static void on_progress(uv_timer_t *t)
{
    struct load_run *run = t->data;
    struct load_snapshot now;
    take_snapshot(run, &now);
    double secs = (double)(now.at_ms - run->last.at_ms) / 1000.0;
    uint64_t reqs = now.requests - run->last.requests;
    uint64_t empty = now.empty - run->last.empty;
    fprintf(stderr, "%6.1f s  %8.1f req/s  ", (double)(now.at_ms - run->t0_ms) / 1000.0,
            secs > 0 ? (double)reqs / secs : 0);
    if (!run->approach->streams)
        fprintf(stderr, "%5.1f%% empty  ", reqs ? 100.0 * (double)empty / (double)reqs : 0);
    fprintf(stderr, "%" PRIu64 " open  %" PRIu64 " errors  %" PRIu64 " delivered%s\n",
            run->stats.open, now.errors, run->stats.messages,
            run->phase == PHASE_CONNECT ? "  (connecting)"
            : run->phase == PHASE_DRAIN ? "  (draining)"
                                        : "");
    run->last = now;
}

/* ---- The publisher ----------------------------------------------------- */

static void publish_due(struct load_run *run);

/* Notes the id the server gave our message: fan-out is counted up to it.
 * (nchan's answer names no id we can use: there the id is our seq.) */
static void note_published_id(struct load_run *run, const struct rt_hanswer *ans)
{
    if (run->opts.peer == RT_PEER_NCHAN) {
        if (run->pub_seq > run->pub_last_id)
            run->pub_last_id = run->pub_seq;
        return;
    }
    cJSON *root = cJSON_ParseWithLength(ans->body, ans->body_len);
    uint64_t id;
    if (rt_json_u64(cJSON_GetObjectItemCaseSensitive(root, "id"), &id) && id > run->pub_last_id)
        run->pub_last_id = id;
    cJSON_Delete(root);
}

static void on_published(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct load_run *run = http->data;
    if (err == UV_ECANCELED)
        return;
    bool ok = err == 0 && ans->status / 100 == 2;
    if (ok) {
        run->published++;
        note_published_id(run, ans);
    } else {
        run->publish_errors++;
    }
    /* Behind schedule: catch up now. After a failure, wait for the next
     * tick instead of hammering a server that is down. */
    if (ok && run->phase == PHASE_RUN)
        publish_due(run);
}

/* Sends the next message if the schedule says one is due: message k
 * (from 1) is due k/R seconds into the run. One is in flight at a time. */
static void publish_due(struct load_run *run)
{
    uint64_t elapsed = uv_now(&run->loop) - run->run_start.at_ms;
    uint64_t due = (uint64_t)floor((double)elapsed * run->opts.rate / 1000.0);
    if (run->pub_sent >= due || rt_hclient_busy(&run->pub))
        return;
    run->pub_sent++;
    /* The body carries its own count and send time (see the top of the file);
     * ts is read as late as can be, just before the request is written. */
    run->pub_seq = run->head + run->pub_sent;
    int n = snprintf(run->pub_body, sizeof run->pub_body,
                     "{\"seq\":%" PRIu64 ",\"ts\":%" PRIu64 "}", run->pub_seq, rt_now_us());
    int r = rt_hclient_request(&run->pub, "POST", run->pub_target, "application/json",
                               run->pub_body, (size_t)n, 0, on_published);
    if (r < 0)
        run->publish_errors++;
}

static void on_pub_tick(uv_timer_t *t)
{
    publish_due(t->data);
}

/* ---- Phases: RUN and DRAIN --------------------------------------------- */

static void on_drain_check(uv_timer_t *t)
{
    struct load_run *run = t->data;
    bool all_in = run->stats.messages >= run->published * run->opts.clients;
    bool late = uv_now(&run->loop) >= run->drain_deadline_ms;
    if ((all_in && !rt_hclient_busy(&run->pub)) || late)
        stop(run);
}

/* --duration is over: stop publishing, and drain if anything was. */
static void on_run_end(uv_timer_t *t)
{
    struct load_run *run = t->data;
    take_snapshot(run, &run->run_end);
    uv_timer_stop(&run->pub_timer);
    /* A publisher that fell behind (the server, or this process, was
     * saturated) shows as published < due. */
    run->pub_due = (uint64_t)floor((double)(run->run_end.at_ms - run->run_start.at_ms) *
                                   run->opts.rate / 1000.0);
    if (run->opts.rate == 0) {
        stop(run);
        return;
    }
    run->phase = PHASE_DRAIN;
    run->drain_deadline_ms = run->run_end.at_ms + DRAIN_MS;
    if (run->approach->options & RT_OPT_INTERVAL)
        run->drain_deadline_ms += run->opts.knobs.interval_ms;
    uv_timer_start(&run->phase_timer, on_drain_check, 0, 20);
}

/* All subscribers are under way: the measured run begins. */
static void begin_run(struct load_run *run)
{
    run->phase = PHASE_RUN;
    take_snapshot(run, &run->run_start);
    run->held_at_start = run->stats.held;
    if (run->approach->holds && run->held_at_start < run->opts.clients)
        fprintf(stderr,
                "rtlab load: warning: only %" PRIu64 " of %" PRIu64
                " clients connected; running anyway\n",
                run->held_at_start, run->opts.clients);
    if (run->opts.rate > 0) {
        /* Tick often enough for the rate, within 1..100 ms. */
        double tick = fmin(100.0, fmax(1.0, 1000.0 / run->opts.rate));
        uv_timer_start(&run->pub_timer, on_pub_tick, (uint64_t)tick, (uint64_t)tick);
    }
    uv_timer_start(&run->phase_timer, on_run_end, run->opts.duration_ms, 0);
}

/* ---- Phase: CONNECT (and the subscribers' start) ----------------------- */

static void on_message(void *arg, const struct rt_sub_msg *m)
{
    struct load_run *run = arg;
    rt_fanout_record(&run->fanout, m);
}

/* Sets up and starts subscriber i after delay_ms. */
static int start_sub(struct load_run *run, uint64_t i, uint64_t delay_ms)
{
    const struct rt_approach *ap = run->approach;
    void *sub = run->subs + i * ap->sub_size;
    struct rt_sub_config cfg = {
        .ep = &run->ep,
        .topic = run->topic,
        .since = run->head,
        .interval_ms = run->opts.knobs.interval_ms,
        .hold_ms = run->opts.knobs.hold_ms,
        .heartbeat_ms = run->opts.knobs.heartbeat_ms,
        .peer = run->opts.peer,
        .clock = run->opts.clock,
        .no_deflate = run->opts.no_deflate,
        .seed = rt_rng_next(&run->rng),
        .stats = &run->stats,
        .on_message = on_message,
        .arg = run,
    };
    int r = ap->init(&run->loop, sub, &cfg);
    if (r < 0)
        return r;
    run->subs_started++;
    ap->start(sub, delay_ms);
    return 0;
}

/* Starts the next batch; once all are started and connected, and have
 * settled, the run begins (or after CONNECT_WAIT_MS without them all). */
static void on_connect_tick(uv_timer_t *t)
{
    struct load_run *run = t->data;
    uint64_t now = uv_now(&run->loop);
    for (int k = 0; k < CONNECT_BATCH && run->subs_started < run->opts.clients; k++) {
        int r = start_sub(run, run->subs_started, 0);
        if (r < 0) {
            fail_start(run, "cannot start the clients: %s", uv_strerror(r));
            return;
        }
        if (run->subs_started == run->opts.clients)
            run->connect_end_ms = now + CONNECT_WAIT_MS;
    }
    if (run->subs_started < run->opts.clients)
        return;
    bool all = run->stats.held >= run->opts.clients && run->stats.open >= run->opts.clients;
    if (all && run->connect_end_ms > now + SETTLE_MS)
        run->connect_end_ms = now + SETTLE_MS; /* everyone is in: settle, then go */
    if (now >= run->connect_end_ms) {
        uv_timer_stop(t);
        begin_run(run);
    }
}

/* The topic's head is known: start the subscribers. */
static void begin_subscribers(struct load_run *run)
{
    run->t0_ms = uv_now(&run->loop);
    run->last.at_ms = run->t0_ms;
    rt_fanout_init(&run->fanout, run->head);
    uv_timer_start(&run->progress_timer, on_progress, 1000, 1000);
    if (run->approach->holds) {
        run->phase = PHASE_CONNECT;
        uv_timer_start(&run->phase_timer, on_connect_tick, 0, CONNECT_TICK_MS);
        return;
    }
    /* Short polling: all at once, each at a random phase of its interval. */
    for (uint64_t i = 0; i < run->opts.clients; i++) {
        uint64_t phase =
            run->opts.knobs.interval_ms ? rt_rng_below(&run->rng, run->opts.knobs.interval_ms) : 0;
        int r = start_sub(run, i, phase);
        if (r < 0) {
            fail_start(run, "cannot start the clients: %s", uv_strerror(r));
            return;
        }
    }
    begin_run(run);
}

/* ---- Phase: PROBE ------------------------------------------------------ */

static void probe_poll(struct load_run *run, uint64_t since);

/* The answer to one probe poll: keep reading the topic until it says 204. */
static void on_probe(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct load_run *run = http->data;
    if (run->phase != PHASE_PROBE)
        return;
    cJSON *root = NULL;
    uint64_t next = 0;
    if (err == 0 && ans->status == 204) {
        begin_subscribers(run);
        return;
    }
    if (err == 0 && ans->status == 200)
        root = cJSON_ParseWithLength(ans->body, ans->body_len);
    if (rt_json_u64(cJSON_GetObjectItemCaseSensitive(root, "next"), &next) && next > run->head) {
        cJSON_Delete(root);
        probe_poll(run, next);
        return;
    }
    cJSON_Delete(root);
    if (err < 0)
        fail_start(run, "cannot reach %s: %s", run->opts.url, rt_hclient_strerror(err));
    else
        fail_start(run, "unexpected answer to GET /poll: %d %s: %.*s", ans->status,
                   rt_http_reason(ans->status), (int)(ans->body_len > 200 ? 200 : ans->body_len),
                   ans->body);
}

static void probe_poll(struct load_run *run, uint64_t since)
{
    char target[sizeof run->ep.prefix + RT_NAME_MAX + 80];
    run->head = since;
    /* timeout=0: a long-polling server answers at once (a short-polling
     * one is not sent it: it has no use for it). */
    bool holds = run->approach->options & RT_OPT_TIMEOUT;
    snprintf(target, sizeof target, "%s/poll?topic=%s&since=%" PRIu64 "%s", run->ep.prefix,
             run->topic, since, holds ? "&timeout=0" : "");
    int r = rt_hclient_request(&run->pub, "GET", target, NULL, NULL, 0, 0, on_probe);
    if (r < 0)
        fail_start(run, "%s", rt_hclient_strerror(r));
}

static void on_probe_message(void *arg, const struct rt_sub_msg *m)
{
    struct load_run *run = arg;
    if (m->id > run->probe_last_id)
        run->probe_last_id = m->id;
    run->probe_quiet_from_ms = uv_now(&run->loop);
}

/* Watches the SSE probe: done once its stream is open and quiet. */
static void on_probe_tick(uv_timer_t *t)
{
    struct load_run *run = t->data;
    uint64_t now = uv_now(&run->loop);
    if (run->probe_stats.errors > 0 || now >= run->probe_deadline_ms) {
        fail_start(run, "cannot open an event stream at %s", run->opts.url);
        return;
    }
    if (run->probe_stats.held == 0)
        run->probe_quiet_from_ms = now; /* quiet counts from the stream's opening */
    if (now - run->probe_quiet_from_ms < PROBE_QUIET_MS)
        return;
    uv_timer_stop(t);
    run->approach->close(run->probe_sub, on_sub_closed);
    run->probe_sub = NULL;
    run->head = run->probe_last_id;
    begin_subscribers(run);
}

/* A streaming server: replay the topic from 0 with one subscriber. */
static void probe_stream(struct load_run *run)
{
    struct rt_sub_config cfg = {
        .ep = &run->ep,
        .topic = run->topic,
        .heartbeat_ms = run->opts.knobs.heartbeat_ms,
        .no_deflate = run->opts.no_deflate,
        .seed = rt_rng_next(&run->rng),
        .verbose = true, /* its first error is the reason we give up */
        .stats = &run->probe_stats,
        .on_message = on_probe_message,
        .arg = run,
    };
    rt_hist_init(&run->probe_stats.latency);
    run->probe_sub = run->probe_storage;
    int r = run->approach->init(&run->loop, run->probe_sub, &cfg);
    if (r < 0) {
        run->probe_sub = NULL;
        fail_start(run, "%s", uv_strerror(r));
        return;
    }
    run->approach->start(run->probe_sub, 0);
    run->probe_deadline_ms = uv_now(&run->loop) + RT_CLIENT_REQUEST_TIMEOUT_MS;
    uv_timer_start(&run->phase_timer, on_probe_tick, 50, 50);
}

/* The answer to GET /publish?topic=T on nchan's publisher location: 404
 * when no such channel exists, else 200 and its state in text, "queued
 * messages: N" among it. A channel with messages would hand them to our
 * subscribers (nchan's first message is the oldest by default) with seqs
 * of another run's, so only a fresh or empty one will do. */
static void on_nchan_probe(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct load_run *run = http->data;
    if (run->phase != PHASE_PROBE)
        return;
    if (err < 0) {
        fail_start(run, "cannot reach %s: %s", run->opts.url, rt_hclient_strerror(err));
        return;
    }
    static const char queued[] = "queued messages: ";
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)(ans->body_len < 511 ? ans->body_len : 511),
             ans->body);
    const char *q = strstr(text, queued);
    if (ans->status == 404 ||
        (ans->status == 200 && q && strtoull(q + sizeof queued - 1, NULL, 10) == 0)) {
        run->head = 0;
        begin_subscribers(run);
    } else if (ans->status == 200) {
        fail_start(run,
                   "topic %s already holds messages on %s; --peer nchan needs a new topic "
                   "(leave out --topic for a fresh one)",
                   run->topic, run->opts.url);
    } else {
        fail_start(run, "unexpected answer to GET /publish (is %s nchan?): %d %s", run->opts.url,
                   ans->status, rt_http_reason(ans->status));
    }
}

static void probe_nchan(struct load_run *run)
{
    int r = rt_hclient_request(&run->pub, "GET", run->pub_target, NULL, NULL, 0, 0, on_nchan_probe);
    if (r < 0)
        fail_start(run, "%s", rt_hclient_strerror(r));
}

/* ---- Entry point ------------------------------------------------------- */

static int init_handles(struct load_run *run)
{
    int r = rt_hclient_init(&run->loop, &run->pub, &run->ep);
    if (r == 0)
        r = uv_timer_init(&run->loop, &run->pub_timer);
    if (r == 0)
        r = uv_timer_init(&run->loop, &run->progress_timer);
    if (r == 0)
        r = uv_timer_init(&run->loop, &run->phase_timer);
    if (r == 0)
        r = uv_signal_init(&run->loop, &run->sigint);
    if (r == 0)
        r = uv_signal_init(&run->loop, &run->sigterm);
    if (r == 0)
        r = uv_signal_start(&run->sigint, on_signal, SIGINT);
    if (r == 0)
        r = uv_signal_start(&run->sigterm, on_signal, SIGTERM);
    run->pub.data = run->pub_timer.data = run->progress_timer.data = run;
    run->phase_timer.data = run->sigint.data = run->sigterm.data = run;
    return r;
}

/* Runs the phases on run's loop; returns the exit code. */
static int run_load(struct load_run *run)
{
    rt_hist_init(&run->stats.latency);
    rt_rng_seed(&run->rng, run->opts.seed);
    if (run->opts.topic)
        snprintf(run->topic, sizeof run->topic, "%s", run->opts.topic);
    else
        snprintf(run->topic, sizeof run->topic, "load-%ld-%" PRIu64, (long)getpid(),
                 rt_now_us() / 1000000);
    snprintf(run->pub_target, sizeof run->pub_target, "%s/publish?topic=%s&event=load",
             run->ep.prefix, run->topic);
    raise_fd_limit(run->opts.clients);
    rt_cli_prepare();
    int r = uv_loop_init(&run->loop);
    if (r < 0) {
        fprintf(stderr, "rtlab load: %s\n", uv_strerror(r));
        return RT_EXIT_FAIL;
    }
    run->exit_code = RT_EXIT_OK;
    r = init_handles(run);
    if (r < 0) {
        fprintf(stderr, "rtlab load: %s\n", uv_strerror(r));
        run->exit_code = RT_EXIT_FAIL;
    } else {
        if (run->opts.peer == RT_PEER_NCHAN)
            probe_nchan(run);
        else if (run->approach->streams)
            probe_stream(run);
        else
            probe_poll(run, 0);
        uv_run(&run->loop, UV_RUN_DEFAULT);
    }
    rt_cli_loop_close(&run->loop);
    if (run->exit_code == RT_EXIT_OK)
        print_report(run);
    rt_fanout_close(&run->fanout);
    return run->exit_code;
}

int rt_cmd_load(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return RT_EXIT_OK;
    }
    const struct rt_approach *approach = rt_cli_approach("load", argc, argv);
    if (approach == NULL)
        return RT_EXIT_USAGE;
    struct load_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        fprintf(stderr, "rtlab load: out of memory\n");
        return RT_EXIT_FAIL;
    }
    run->approach = approach;
    int code = RT_EXIT_USAGE;
    int p = parse_options(argc, argv, approach, &run->opts);
    if (p != 0) {
        code = p > 0 ? RT_EXIT_OK : RT_EXIT_USAGE;
    } else if (rt_approach_endpoint(approach, &run->ep, run->opts.url) != 0) {
        fprintf(stderr, "rtlab load: cannot use URL '%s' (want http://host[:port]%s)\n",
                run->opts.url, approach->endpoint_init ? " or ws://host[:port][/path]" : "");
    } else if ((run->subs = calloc(run->opts.clients, approach->sub_size)) == NULL ||
               (run->probe_storage = calloc(1, approach->sub_size)) == NULL) {
        fprintf(stderr, "rtlab load: out of memory for %" PRIu64 " clients\n", run->opts.clients);
        code = RT_EXIT_FAIL;
    } else {
        code = run_load(run);
    }
    free(run->probe_storage);
    free(run->subs);
    free(run);
    return code;
}
