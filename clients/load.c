/*
 * load.c - `rtlab load APPROACH`: many subscribers and one publisher in one
 * process, on one libuv loop, and a report of what the server did for them.
 *
 * A run goes through four phases:
 *
 *   PROBE    find where the topic's log ends now (poll with since=0, then
 *            since=next, until 204), so that every subscriber starts there
 *            and "expected deliveries" is simply published x clients;
 *   RUN      N subscribers, each on its own keep-alive connection and
 *            starting at a random phase within the first interval (so they
 *            do not all ask in the same millisecond), plus a publisher
 *            POSTing R messages/s; a progress line on stderr each second;
 *   DRAIN    after --duration the publisher stops; the subscribers go on
 *            for up to one interval + 2 s, until every message published
 *            has reached every subscriber, so none is counted as lost
 *            merely for being in flight;
 *   STOP     everything closes; the report goes to stdout.
 *
 * Request rates in the report cover the RUN phase only (the counters are
 * snapshot when it ends); deliveries and latency include the drain.
 *
 * Why it scales: subscribers are laid out in one array, share one
 * endpoint, one stats struct and one latency histogram, and an idle
 * subscriber owns no read buffer (rt_clients.h, "Memory"), so 10,000 of
 * them cost about 10,000 x (sub_size) bytes plus the kernel's socket
 * buffers. Each keeps a socket, so the file descriptor limit is raised to
 * its hard limit at start.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

static const char usage[] =
    "usage: rtlab load APPROACH [options]\n"
    "\n"
    "Runs N subscribers and one publisher against a server from one process and\n"
    "reports requests, empty answers, deliveries and delivery latency.\n"
    "APPROACH is short (long, sse and ws are not available yet).\n"
    "\n"
    "  --url URL        server (default http://127.0.0.1:8001)\n"
    "  --clients N      subscribers, each with its own connection (default 100)\n"
    "  --interval S     short polling: seconds between an answer and the next\n"
    "                   request, fractions allowed (default 1)\n"
    "  --duration S     seconds to run (default 10), then a drain of up to one\n"
    "                   interval + 2 s for messages in flight\n"
    "  --rate R         messages published per second, fractions allowed\n"
    "                   (default 1; 0: no publisher)\n"
    "  --topic T        topic (default: a fresh one, load-PID-TIME)\n"
    "  --seed N         seed for start phases and jitter (default: from the clock)\n"
    "  --json           print the report as one JSON object\n"
    "  --help           this text\n"
    "\n"
    "Progress goes to stderr each second; the report to stdout. Exit status: 0,\n"
    "1 when the server cannot be reached at the start, 2 on a usage error.\n";

/* ---- Data structures --------------------------------------------------- */

struct load_opts {
    const char *url;
    uint64_t clients;
    uint64_t interval_ms;
    uint64_t duration_ms;
    double rate;
    const char *topic;
    uint64_t seed;
    bool json;
};

enum phase { PHASE_PROBE, PHASE_RUN, PHASE_DRAIN, PHASE_STOP };

/* The counters of the RUN phase, and those of the last progress line. */
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

    /* The publisher's connection also probes the topic before the run. */
    struct rt_hclient pub;
    char pub_target[sizeof((struct rt_endpoint *)0)->prefix + RT_NAME_MAX + 32];
    char pub_body[64]; /* written from here: valid until the answer */
    uint64_t pub_sent, published, publish_errors;
    uint64_t head; /* the topic's last id when the run began */

    uv_timer_t pub_timer, progress_timer, phase_timer;
    uv_signal_t sigint, sigterm;
    uint64_t start_ms;
    uint64_t drain_deadline_ms, drain_ms; /* drain_ms: how long it took */
    struct load_snapshot run_end, last;
};

/* ---- Options ----------------------------------------------------------- */

static int parse_options(int argc, char **argv, struct load_opts *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},      {"clients", required_argument, NULL, 'n'},
        {"interval", required_argument, NULL, 'i'}, {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},     {"topic", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},     {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (struct load_opts){.url = "http://127.0.0.1:8001",
                            .clients = 100,
                            .interval_ms = 1000,
                            .duration_ms = 10000,
                            .rate = 1,
                            .seed = rt_now_us() ^ ((uint64_t)getpid() << 32)};
    int ch, bad = 0;
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
            bad |= rt_cli_seconds("load", "--interval", optarg, &o->interval_ms);
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
        case 'j':
            o->json = true;
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
    (void)sub; /* the array is freed after the loop ends */
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
    rt_hclient_close(&run->pub, NULL);
    uv_close((uv_handle_t *)&run->pub_timer, NULL);
    uv_close((uv_handle_t *)&run->progress_timer, NULL);
    uv_close((uv_handle_t *)&run->phase_timer, NULL);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
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

static void print_report(const struct load_run *run)
{
    const struct load_opts *o = &run->opts;
    const struct load_snapshot *e = &run->run_end;
    const struct rt_hist *lat = &run->stats.latency;
    double secs = (double)(e->at_ms - run->start_ms) / 1000.0;
    double rps = secs > 0 ? (double)e->requests / secs : 0;
    double empty = e->requests ? (double)e->empty / (double)e->requests : 0;
    uint64_t expected = run->published * o->clients;
    double drain = (double)run->drain_ms / 1000.0;
    double p50 = ms_of(rt_hist_percentile(lat, 50)), p99 = ms_of(rt_hist_percentile(lat, 99));
    double max = ms_of(lat->count ? lat->max : 0);
    if (o->json) {
        printf("{\"approach\":\"%s\",\"topic\":\"%s\",\"clients\":%" PRIu64
               ",\"interval_s\":%.3f,\"duration_s\":%.3f,\"drain_s\":%.3f,\"requests\":%" PRIu64
               ",\"requests_per_s\":%.1f,\"empty\":%" PRIu64 ",\"empty_share\":%.4f"
               ",\"published\":%" PRIu64 ",\"publish_errors\":%" PRIu64 ",\"delivered\":%" PRIu64
               ",\"expected\":%" PRIu64 ",\"duplicates\":%" PRIu64
               ",\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}"
               ",\"errors\":%" PRIu64 ",\"resets\":%" PRIu64 ",\"interrupted\":%s}\n",
               run->approach->name, run->topic, o->clients, (double)o->interval_ms / 1000.0, secs,
               drain, e->requests, rps, e->empty, empty, run->published, run->publish_errors,
               run->stats.messages, expected, run->stats.duplicates, p50, p99, max,
               ms_of((uint64_t)rt_hist_mean(lat)), run->stats.errors, run->stats.resets,
               run->interrupted ? "true" : "false");
    } else {
        printf("load %s: %" PRIu64 " clients, interval %.3f s, topic %s\n", run->approach->name,
               o->clients, (double)o->interval_ms / 1000.0, run->topic);
        printf("  duration    %.1f s (then %.1f s drain)%s\n", secs, drain,
               run->interrupted ? ", interrupted" : "");
        printf("  requests    %" PRIu64 " (%.1f/s)\n", e->requests, rps);
        printf("  empty       %" PRIu64 " (%.1f%%)\n", e->empty, 100.0 * empty);
        printf("  published   %" PRIu64 " (%" PRIu64 " failed)\n", run->published,
               run->publish_errors);
        printf("  delivered   %" PRIu64 " of %" PRIu64 " expected (%" PRIu64
               " duplicates dropped)\n",
               run->stats.messages, expected, run->stats.duplicates);
        printf("  latency     p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", p50, p99, max);
        printf("  errors      %" PRIu64 "\n", run->stats.errors);
        printf("  resets      %" PRIu64 "\n", run->stats.resets);
    }
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
    fprintf(stderr,
            "%6.1f s  %8.1f req/s  %5.1f%% empty  %" PRIu64 " errors  %" PRIu64 " delivered%s\n",
            (double)(now.at_ms - run->start_ms) / 1000.0, secs > 0 ? (double)reqs / secs : 0,
            reqs ? 100.0 * (double)empty / (double)reqs : 0, now.errors, run->stats.messages,
            run->phase == PHASE_DRAIN ? "  (draining)" : "");
    run->last = now;
}

/* ---- The publisher ----------------------------------------------------- */

static void publish_due(struct load_run *run);

static void on_published(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct load_run *run = http->data;
    if (err == UV_ECANCELED)
        return;
    bool ok = err == 0 && ans->status / 100 == 2;
    if (ok)
        run->published++;
    else
        run->publish_errors++;
    /* Behind schedule: catch up now. After a failure, wait for the next
     * tick instead of hammering a server that is down. */
    if (ok && run->phase == PHASE_RUN)
        publish_due(run);
}

/* Sends the next message if the schedule says one is due: message k
 * (from 1) is due k/R seconds into the run. One is in flight at a time. */
static void publish_due(struct load_run *run)
{
    uint64_t elapsed = uv_now(&run->loop) - run->start_ms;
    uint64_t due = (uint64_t)floor((double)elapsed * run->opts.rate / 1000.0);
    if (run->pub_sent >= due || rt_hclient_busy(&run->pub))
        return;
    run->pub_sent++;
    int n = snprintf(run->pub_body, sizeof run->pub_body, "{\"n\":%" PRIu64 "}", run->pub_sent);
    int r = rt_hclient_request(&run->pub, "POST", run->pub_target, "application/json",
                               run->pub_body, (size_t)n, 0, on_published);
    if (r < 0)
        run->publish_errors++;
}

static void on_pub_tick(uv_timer_t *t)
{
    publish_due(t->data);
}

/* ---- Phases ------------------------------------------------------------ */

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
    if (run->opts.rate == 0) {
        stop(run);
        return;
    }
    run->phase = PHASE_DRAIN;
    run->drain_deadline_ms = run->run_end.at_ms + run->opts.interval_ms + 2000;
    uv_timer_start(&run->phase_timer, on_drain_check, 0, 20);
}

/* Starts the subscribers at random phases, the publisher and the timers. */
static int start_run(struct load_run *run)
{
    const struct rt_approach *ap = run->approach;
    run->phase = PHASE_RUN;
    run->start_ms = uv_now(&run->loop);
    run->last.at_ms = run->start_ms;
    for (uint64_t i = 0; i < run->opts.clients; i++) {
        void *sub = run->subs + i * ap->sub_size;
        struct rt_sub_config cfg = {
            .ep = &run->ep,
            .topic = run->topic,
            .since = run->head,
            .interval_ms = run->opts.interval_ms,
            .seed = rt_rng_next(&run->rng),
            .stats = &run->stats,
        };
        int r = ap->init(&run->loop, sub, &cfg);
        if (r < 0)
            return r;
        run->subs_started++;
        uint64_t phase = run->opts.interval_ms ? rt_rng_below(&run->rng, run->opts.interval_ms) : 0;
        ap->start(sub, phase);
    }
    if (run->opts.rate > 0) {
        /* Tick often enough for the rate, within 1..100 ms. */
        double tick = fmin(100.0, fmax(1.0, 1000.0 / run->opts.rate));
        uv_timer_start(&run->pub_timer, on_pub_tick, (uint64_t)tick, (uint64_t)tick);
    }
    uv_timer_start(&run->progress_timer, on_progress, 1000, 1000);
    uv_timer_start(&run->phase_timer, on_run_end, run->opts.duration_ms, 0);
    return 0;
}

static void probe(struct load_run *run, uint64_t since);

/* The answer to one probe poll: keep reading the topic until it says 204. */
static void on_probe(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct load_run *run = http->data;
    if (run->phase != PHASE_PROBE)
        return;
    cJSON *root = NULL;
    uint64_t next = 0;
    if (err == 0 && ans->status == 204) {
        int r = start_run(run);
        if (r < 0) {
            fprintf(stderr, "rtlab load: cannot start the clients: %s\n", uv_strerror(r));
            run->exit_code = RT_EXIT_FAIL;
            stop(run);
        }
        return;
    }
    if (err == 0 && ans->status == 200)
        root = cJSON_ParseWithLength(ans->body, ans->body_len);
    if (rt_json_u64(cJSON_GetObjectItemCaseSensitive(root, "next"), &next) && next > run->head) {
        cJSON_Delete(root);
        probe(run, next);
        return;
    }
    cJSON_Delete(root);
    if (err < 0)
        fprintf(stderr, "rtlab load: cannot reach %s: %s\n", run->opts.url,
                rt_hclient_strerror(err));
    else
        fprintf(stderr, "rtlab load: unexpected answer to GET /poll: %d %s: %.*s\n", ans->status,
                rt_http_reason(ans->status), (int)(ans->body_len > 200 ? 200 : ans->body_len),
                ans->body);
    run->exit_code = RT_EXIT_FAIL;
    stop(run);
}

static void probe(struct load_run *run, uint64_t since)
{
    char target[sizeof run->ep.prefix + RT_NAME_MAX + 64];
    run->head = since;
    snprintf(target, sizeof target, "%s/poll?topic=%s&since=%" PRIu64, run->ep.prefix, run->topic,
             since);
    int r = rt_hclient_request(&run->pub, "GET", target, NULL, NULL, 0, 0, on_probe);
    if (r < 0) {
        fprintf(stderr, "rtlab load: %s\n", rt_hclient_strerror(r));
        run->exit_code = RT_EXIT_FAIL;
        stop(run);
    }
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
        probe(run, 0);
        uv_run(&run->loop, UV_RUN_DEFAULT);
    }
    rt_cli_loop_close(&run->loop);
    if (run->exit_code == RT_EXIT_OK)
        print_report(run);
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
    int p = parse_options(argc, argv, &run->opts);
    if (p != 0) {
        code = p > 0 ? RT_EXIT_OK : RT_EXIT_USAGE;
    } else if (rt_endpoint_init(&run->ep, run->opts.url) != 0) {
        fprintf(stderr, "rtlab load: cannot use URL '%s' (want http://host[:port])\n",
                run->opts.url);
    } else if ((run->subs = calloc(run->opts.clients, approach->sub_size)) == NULL) {
        fprintf(stderr, "rtlab load: out of memory for %" PRIu64 " clients\n", run->opts.clients);
        code = RT_EXIT_FAIL;
    } else {
        code = run_load(run);
    }
    free(run->subs);
    free(run);
    return code;
}
