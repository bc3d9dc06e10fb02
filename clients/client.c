/*
 * client.c - `rtlab client APPROACH`: one subscriber that prints each
 * message once, in order, as one JSON line on stdout, and a summary on
 * stderr when it stops (Ctrl-C, SIGTERM, --count or --duration).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char usage[] =
    "usage: rtlab client APPROACH [options]\n"
    "\n"
    "Subscribes to a topic and prints each message once, in order, as one JSON\n"
    "line on stdout. Errors, resets and a closing summary go to stderr.\n"
    "APPROACH is short, long, sse or ws.\n"
    "\n"
    "  --url URL        server (default http://127.0.0.1:8001 for short, :8002\n"
    "                   for long, :8003 for sse, :8004 for ws); ws also takes\n"
    "                   ws://host:port[/path] (path default /ws)\n"
    "  --topic T        topic to follow (required); ws: repeat it to follow\n"
    "                   several topics on one connection\n"
    "  --interval S     short: seconds from an answer to the next request,\n"
    "                   fractions allowed (default 1)\n"
    "  --timeout S      long: whole seconds the server may hold a poll, 1 to 120\n"
    "                   (default 30); a poll fails after S + 10 s\n"
    "  --heartbeat S    sse: the server's heartbeat interval (default 15); a\n"
    "                   stream silent for 2.5 times this is dropped and reopened\n"
    "                   (0: never). ws: send a ping every S seconds (default 30)\n"
    "                   and reconnect when nothing came for 2.5 times S\n"
    "  --since N        deliver messages after id N (default 0: all the server has)\n"
    "  --live           ws: new messages only (subscribe without since; a\n"
    "                   connection lost before the first message then resumes\n"
    "                   live only too)\n"
    "  --count N        stop after N messages\n"
    "  --duration S     stop after S seconds\n"
    "  --no-deflate     ws: do not offer permessage-deflate compression\n"
    "  --max-message B  ws: largest message accepted, in bytes, after inflating\n"
    "                   (default 1048576); a larger one fails the connection (1009)\n"
    "  --chat           ws: publish each stdin line to the first topic as\n"
    "                   {\"from\":NAME,\"text\":LINE}, say NAME is typing while a\n"
    "                   line is under way, show others typing on stderr; at the\n"
    "                   end of stdin send what waits for a connection, close the\n"
    "                   connection (1000) and exit\n"
    "  --name N         ws --chat: the name to chat as (default $USER)\n"
    "  --help           this text\n"
    "\n"
    "Failed requests are retried with exponential backoff (1 s doubling to 30 s,\n"
    "full jitter). sse reconnects after the server's retry time (3 s until it\n"
    "sends one) plus a random 0 to 1 s, that window doubling (up to 30 s) while\n"
    "attempts keep failing, and resumes with Last-Event-ID: the last id it\n"
    "delivered. ws reconnects after a random 0 to 1 s, doubling the same way,\n"
    "and subscribes each topic again with since = the last id delivered on it.\n"
    "Exit status: 0, or 1 when not one request succeeded.\n";

/* Topics one ws client follows at most: as many as the server lets one
 * connection subscribe to. */
#define CLIENT_MAX_TOPICS RT_WS_MAX_SUBS

struct client_opts {
    const char *url;
    const char *topic;
    const char *topics[CLIENT_MAX_TOPICS]; /* topics[0] == topic */
    size_t num_topics;
    struct rt_cli_knobs knobs; /* --interval, --timeout, --heartbeat */
    uint64_t since;
    bool live;            /* ws --live */
    uint64_t count;       /* 0: no limit */
    uint64_t duration_ms; /* 0: no limit */
    bool no_deflate;      /* ws */
    uint64_t max_message; /* ws; 0: the default */
    bool chat;            /* ws */
    const char *name;     /* ws --chat */
};

struct client_run {
    uv_loop_t loop;
    struct rt_endpoint ep;
    const struct rt_approach *approach;
    struct client_opts opts;
    void *sub;
    struct rt_sub_stats stats;
    uv_signal_t sigint, sigterm;
    uv_timer_t deadline;
    struct rt_chat *chat; /* --chat: stdin */
    bool stopping;
};

/* ---- Options ----------------------------------------------------------- */

/* Takes one of the options only ws has. Returns 0, or -1 after printing. */
static int ws_option(const struct rt_approach *ap, int ch, const char *arg, struct client_opts *o)
{
    const char *name = ch == 'L'   ? "--live"
                       : ch == 'D' ? "--no-deflate"
                       : ch == 'm' ? "--max-message"
                       : ch == 'C' ? "--chat"
                                   : "--name";
    if (strcmp(ap->name, "ws") != 0) {
        fprintf(stderr, "rtlab client: %s is for ws only, not %s\n", name, ap->name);
        return -1;
    }
    if (ch == 'D')
        o->no_deflate = true;
    else if (ch == 'C')
        o->chat = true;
    else if (ch == 'N')
        o->name = arg;
    else if (ch == 'L')
        o->live = true;
    else /* 64 bytes: the smallest useful; 1 GiB: what zlib's counters take */
        return rt_cli_count("client", name, arg, 64, 1u << 30, &o->max_message);
    return 0;
}

/* Fills o from argv (argv[1] is the approach ap). Returns -1 after
 * printing an error, 0 to run, 1 when --help was printed. */
static int parse_options(int argc, char **argv, const struct rt_approach *ap, struct client_opts *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"topic", required_argument, NULL, 't'},
        RT_CLI_KNOB_OPTIONS,
        {"since", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"no-deflate", no_argument, NULL, 'D'},
        {"max-message", required_argument, NULL, 'm'},
        {"chat", no_argument, NULL, 'C'},
        {"name", required_argument, NULL, 'N'},
        {"live", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct client_opts){.url = ap->default_url};
    rt_cli_knobs_init(&o->knobs, ap);
    int ch, bad = 0;
    optind = 0; /* glibc: start afresh (tests run commands more than once) */
    opterr = 0;
    /* argv + 1: getopt takes the approach for the program name and so
     * leaves it alone. */
    while ((ch = getopt_long(argc - 1, argv + 1, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 't':
            if (o->num_topics == CLIENT_MAX_TOPICS) {
                fprintf(stderr, "rtlab client: at most %d topics\n", CLIENT_MAX_TOPICS);
                return -1;
            }
            o->topics[o->num_topics++] = optarg;
            bad |= rt_cli_name("client", "--topic", optarg);
            break;
        case 'i':
        case 'T':
        case 'b':
            bad |= rt_cli_knob("client", ap, ch, optarg, &o->knobs);
            break;
        case 's':
            bad |= rt_cli_count("client", "--since", optarg, 0, UINT64_MAX, &o->since);
            break;
        case 'c':
            bad |= rt_cli_count("client", "--count", optarg, 1, UINT64_MAX, &o->count);
            break;
        case 'd':
            bad |= rt_cli_seconds("client", "--duration", optarg, &o->duration_ms);
            break;
        case 'D':
        case 'm':
        case 'C':
        case 'N':
        case 'L':
            bad |= ws_option(ap, ch, optarg, o);
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            rt_cli_bad_option("client", argc - 1, argv + 1, ch);
            return -1;
        }
    }
    if (bad)
        return -1;
    if (optind < argc - 1) {
        fprintf(stderr, "rtlab client: unexpected argument '%s'\n", argv[1 + optind]);
        return -1;
    }
    if (o->num_topics == 0) {
        fprintf(stderr, "rtlab client: --topic is required (see rtlab client --help)\n");
        return -1;
    }
    o->topic = o->topics[0];
    if (o->num_topics > 1 && strcmp(ap->name, "ws") != 0) {
        fprintf(stderr, "rtlab client: one --topic only for %s (ws follows several)\n", ap->name);
        return -1;
    }
    if (o->live && o->since > 0) {
        fprintf(stderr, "rtlab client: --live and --since exclude each other\n");
        return -1;
    }
    if (o->name && !o->chat) {
        fprintf(stderr, "rtlab client: --name is for --chat\n");
        return -1;
    }
    if (o->chat && o->name == NULL)
        o->name = getenv("USER") && *getenv("USER") ? getenv("USER") : "anonymous";
    return 0;
}

/* ---- Running ----------------------------------------------------------- */

static void on_sub_closed(void *sub)
{
    (void)sub; /* its storage is freed after the loop ends */
}

/* Stops everything; the loop then runs dry and rt_cmd_client() returns. */
static void stop(struct client_run *run)
{
    if (run->stopping)
        return;
    run->stopping = true;
    run->approach->close(run->sub, on_sub_closed);
    rt_chat_stop(run->chat);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
    uv_close((uv_handle_t *)&run->deadline, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    stop(h->data);
}

static void on_deadline(uv_timer_t *t)
{
    stop(t->data);
}

/* --chat: stdin has ended. What it said is sent, then the connection
 * closes (Close 1000) and the loop runs dry. */
static void on_chat_eof(void *arg)
{
    struct client_run *run = arg;
    if (run->stopping)
        return;
    run->stopping = true;
    rt_ws_sub_close_when_sent(run->sub, on_sub_closed);
    rt_chat_stop(run->chat);
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
    uv_close((uv_handle_t *)&run->deadline, NULL);
}

static void on_message(void *arg, const struct rt_sub_msg *m)
{
    struct client_run *run = arg;
    char *line = malloc(m->raw_len + 1);
    if (line) {
        size_t n = rt_json_minify(line, m->raw, m->raw_len);
        line[n++] = '\n';
        fwrite(line, 1, n, stdout);
        fflush(stdout); /* a pipe reader sees each message as it comes */
        free(line);
    }
    if (run->opts.count && run->stats.messages >= run->opts.count)
        stop(run);
}

static void print_summary(const struct rt_approach *ap, const struct rt_sub_stats *st)
{
    double empty = st->requests ? 100.0 * (double)st->empty / (double)st->requests : 0;
    fprintf(stderr, "summary: %" PRIu64 " %s, ", st->requests,
            ap->streams ? "streams" : "requests");
    if (!ap->streams)
        fprintf(stderr, "%" PRIu64 " empty (%.1f%%), ", st->empty, empty);
    fprintf(stderr,
            "%" PRIu64 " connections, %" PRIu64 " reconnects, %" PRIu64 " messages, %" PRIu64
            " duplicates dropped, %" PRIu64 " errors, %" PRIu64 " resets",
            st->connects, st->reconnects, st->messages, st->duplicates, st->errors, st->resets);
    if (st->latency.count)
        fprintf(stderr, ", latency p50 %.1f ms p99 %.1f ms\n",
                (double)rt_hist_percentile(&st->latency, 50) / 1000.0,
                (double)rt_hist_percentile(&st->latency, 99) / 1000.0);
    else
        fprintf(stderr, ", latency n/a\n");
}

/* Sets up the subscriber, the signals, the deadline and --chat's stdin, and
 * starts them. Returns 0, a libuv error, or 1 when a failure was reported. */
static int start(struct client_run *run)
{
    struct rt_sub_config cfg = {
        .ep = &run->ep,
        .topic = run->opts.topic,
        .since = run->opts.since,
        .interval_ms = run->opts.knobs.interval_ms,
        .hold_ms = run->opts.knobs.hold_ms,
        .heartbeat_ms = run->opts.knobs.heartbeat_ms,
        .topics = run->opts.topics,
        .num_topics = run->opts.num_topics,
        .live = run->opts.live,
        .no_deflate = run->opts.no_deflate,
        .max_message = run->opts.max_message,
        .seed = rt_now_us() ^ ((uint64_t)getpid() << 32),
        .verbose = true,
        .stats = &run->stats,
        .on_message = on_message,
        .arg = run,
    };
    int r = run->approach->init(&run->loop, run->sub, &cfg);
    if (r == 0)
        r = uv_signal_init(&run->loop, &run->sigint);
    if (r == 0)
        r = uv_signal_init(&run->loop, &run->sigterm);
    if (r == 0)
        r = uv_timer_init(&run->loop, &run->deadline);
    if (r < 0)
        return r;
    run->sigint.data = run->sigterm.data = run->deadline.data = run;
    r = uv_signal_start(&run->sigint, on_signal, SIGINT);
    if (r == 0)
        r = uv_signal_start(&run->sigterm, on_signal, SIGTERM);
    if (r == 0 && run->opts.duration_ms)
        r = uv_timer_start(&run->deadline, on_deadline, run->opts.duration_ms, 0);
    if (r < 0)
        return r;
    run->approach->start(run->sub, 0);
    if (run->opts.chat) {
        run->chat =
            rt_chat_start(&run->loop, run->sub, run->opts.topic, run->opts.name, on_chat_eof, run);
        if (run->chat == NULL) {
            stop(run);
            return 1; /* rt_chat_start() said why */
        }
    }
    return 0;
}

int rt_cmd_client(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return RT_EXIT_OK;
    }
    const struct rt_approach *approach = rt_cli_approach("client", argc, argv);
    if (approach == NULL)
        return RT_EXIT_USAGE;
    struct client_run *run = calloc(1, sizeof *run);
    void *sub = calloc(1, approach->sub_size);
    if (run == NULL || sub == NULL) {
        fprintf(stderr, "rtlab client: out of memory\n");
        free(run);
        free(sub);
        return RT_EXIT_FAIL;
    }
    int code = RT_EXIT_USAGE;
    int p = parse_options(argc, argv, approach, &run->opts);
    if (p != 0) {
        code = p > 0 ? RT_EXIT_OK : RT_EXIT_USAGE;
    } else if (rt_approach_endpoint(approach, &run->ep, run->opts.url) != 0) {
        fprintf(stderr, "rtlab client: cannot use URL '%s' (want http://host[:port]%s)\n",
                run->opts.url, approach->endpoint_init ? " or ws://host[:port][/path]" : "");
    } else {
        rt_cli_prepare();
        run->approach = approach;
        run->sub = sub;
        rt_hist_init(&run->stats.latency);
        int r = uv_loop_init(&run->loop);
        if (r == 0) {
            r = start(run);
            if (r == 0)
                uv_run(&run->loop, UV_RUN_DEFAULT);
            else if (r < 0)
                fprintf(stderr, "rtlab client: cannot start: %s\n", uv_strerror(r));
            rt_cli_loop_close(&run->loop);
        }
        print_summary(approach, &run->stats);
        /* Errors count refused frames and bad messages too (ws): a run that
         * delivered anything had a request that worked. */
        bool none_ok = run->stats.errors > 0 && run->stats.errors >= run->stats.requests &&
                       run->stats.messages == 0;
        code = r != 0 || none_ok ? RT_EXIT_FAIL : RT_EXIT_OK;
    }
    free(sub);
    free(run);
    return code;
}
