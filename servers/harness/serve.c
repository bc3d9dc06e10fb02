/*
 * serve.c - `rtlab serve`: options, start-up, run, shut down.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rt_harness.h"

/* The approaches, in the order of their default ports 8001, 8002, ... */
static const struct {
    const char *name;
    const struct rt_approach *ap;
} approaches[] = {
    {"short", &rt_short_poll},
    {"long", &rt_long_poll},
    {"sse", &rt_sse},
    {"ws", &rt_websocket},
};
#define NUM_APPROACHES (sizeof(approaches) / sizeof(approaches[0]))
#define FIRST_PORT 8001

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rtlab serve short|long|sse|ws|all [options]\n"
            "\n"
            "Runs one server (or all of them in one process, sharing one bus, on\n"
            "consecutive ports). The first line on stdout is `listening on HOST:PORT`\n"
            "(with `all`, one such line per server, followed by its approach).\n"
            "\n"
            "  --host HOST            address to listen on (default 127.0.0.1)\n"
            "  --port P               port (default 8001 short, 8002 long, 8003 sse, 8004 ws;\n"
            "                         0 picks a free one; with `all`, P, P+1, ... or free\n"
            "                         ones for 0)\n"
            "  --ring N               messages kept per topic for replay (default %d)\n"
            "  --max-topics N         topics one server holds (default %d)\n"
            "  --max-body BYTES       largest request body (default %d)\n"
            "  --header-timeout S     seconds a client has to send a request (default %d)\n"
            "  --idle-timeout S       seconds an idle keep-alive connection stays (default %d)\n"
            "  --heartbeat S          seconds between SSE heartbeat comments (default %d) and\n"
            "                         WebSocket pings (default %d; a connection whose pong\n"
            "                         has not come back by the next ping is dropped)\n"
            "  --retry MS             reconnection delay SSE streams suggest (default %d)\n"
            "  --send-queue BYTES     bytes a stream may queue before its slow client is\n"
            "                         disconnected (default %d)\n"
            "  --max-message BYTES    largest WebSocket message a client may send (default %d)\n"
            "  --deflate MODE         WebSocket permessage-deflate: shared (default: no context\n"
            "                         takeover, each publish compressed once for everyone),\n"
            "                         context (a compressor per connection: smaller messages,\n"
            "                         up to ~300 KB of zlib state per connection) or off\n"
            "  --allow-origin ORIGIN  accept WebSocket upgrades from pages of ORIGIN only\n"
            "                         (e.g. https://example.com; repeat for more; default any)\n"
            "  --trace FILE           write the JSONL trace of every request to FILE\n"
            "  -h, --help             this help\n",
            RT_RING_DEFAULT, RT_MAX_TOPICS, RT_HTTP_MAX_BODY, RT_HEADER_TIMEOUT_MS / 1000,
            RT_IDLE_TIMEOUT_MS / 1000, RT_SSE_HEARTBEAT_MS / 1000, RT_WS_HEARTBEAT_MS / 1000,
            RT_SSE_RETRY_MS, RT_SEND_QUEUE_DEFAULT, RT_WS_MAX_MESSAGE);
}

static bool parse_num(const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

/* Parses the options after the approach. Returns 0, or 2 after an error message. */
static int parse_opts(int argc, char **argv, struct rt_opts *o)
{
    static const struct option longs[] = {
        {"host", required_argument, 0, 'H'},
        {"port", required_argument, 0, 'p'},
        {"ring", required_argument, 0, 'r'},
        {"max-topics", required_argument, 0, 't'},
        {"max-body", required_argument, 0, 'b'},
        {"header-timeout", required_argument, 0, 'T'},
        {"idle-timeout", required_argument, 0, 'I'},
        {"heartbeat", required_argument, 0, 'B'},
        {"retry", required_argument, 0, 'R'},
        {"send-queue", required_argument, 0, 'Q'},
        {"trace", required_argument, 0, 'x'},
        {"max-message", required_argument, 0, 'M'},
        {"deflate", required_argument, 0, 'D'},
        {"allow-origin", required_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    double v;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        const char *bad = NULL;
        switch (ch) {
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            if (!parse_num(optarg, 0, 65535, &v))
                bad = "--port wants 0-65535";
            else
                o->port = (int)v;
            break;
        case 'r':
            if (!parse_num(optarg, 1, 1 << 24, &v))
                bad = "--ring wants 1-16777216";
            else
                o->ring = (uint32_t)v;
            break;
        case 't':
            if (!parse_num(optarg, 1, 1e9, &v))
                bad = "--max-topics wants a positive count";
            else
                o->max_topics = (size_t)v;
            break;
        case 'b':
            if (!parse_num(optarg, 0, 1 << 30, &v))
                bad = "--max-body wants 0-1073741824 bytes";
            else
                o->max_body = (uint64_t)v;
            break;
        case 'T':
            if (!parse_num(optarg, 0.01, 86400, &v))
                bad = "--header-timeout wants 0.01-86400 seconds";
            else
                o->header_timeout_ms = (uint64_t)(v * 1000);
            break;
        case 'I':
            if (!parse_num(optarg, 0.01, 86400, &v))
                bad = "--idle-timeout wants 0.01-86400 seconds";
            else
                o->idle_timeout_ms = (uint64_t)(v * 1000);
            break;
        case 'B':
            if (!parse_num(optarg, 0.01, 86400, &v))
                bad = "--heartbeat wants 0.01-86400 seconds";
            else
                o->heartbeat_ms = (uint64_t)(v * 1000);
            break;
        case 'R':
            if (!parse_num(optarg, 0, 86400000, &v))
                bad = "--retry wants 0-86400000 ms";
            else
                o->retry_ms = (uint32_t)v;
            break;
        case 'Q':
            if (!parse_num(optarg, 1, 1 << 30, &v))
                bad = "--send-queue wants 1-1073741824 bytes";
            else
                o->send_queue = (size_t)v;
            break;
        case 'x':
            o->trace_path = optarg;
            break;
        case 'M':
            if (!parse_num(optarg, 1, 1 << 30, &v))
                bad = "--max-message wants 1-1073741824 bytes";
            else
                o->max_message = (uint64_t)v;
            break;
        case 'D':
            if (strcmp(optarg, "shared") == 0)
                o->deflate = RT_DEFLATE_SHARED;
            else if (strcmp(optarg, "context") == 0)
                o->deflate = RT_DEFLATE_CONTEXT;
            else if (strcmp(optarg, "off") == 0)
                o->deflate = RT_DEFLATE_OFF;
            else
                bad = "--deflate wants shared, context or off";
            break;
        case 'O':
            if (o->num_origins == RT_MAX_ORIGINS)
                bad = "--allow-origin given too many times";
            else
                o->origins[o->num_origins++] = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "rtlab serve: %s (got '%s')\n", bad, optarg);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "rtlab serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* Lets one process hold as many sockets as the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int start_all(struct rt_ctx *ctx, size_t first, size_t last, bool all)
{
    for (size_t i = first; i <= last; i++) {
        int base = ctx->opts.port < 0 ? FIRST_PORT : ctx->opts.port;
        int port = ctx->opts.port == 0 ? 0 : base + (int)(all ? i : 0);
        struct rt_server *srv;
        int r = rt_server_start(ctx, approaches[i].ap, port, &srv);
        if (r != 0) {
            fprintf(stderr, "rtlab serve: cannot listen on %s:%d for %s: %s\n", ctx->opts.host,
                    port, approaches[i].name, uv_strerror(r));
            return 1;
        }
        const char *h = ctx->opts.host;
        bool v6 = strchr(h, ':') != NULL;
        printf("listening on %s%s%s:%d%s%s\n", v6 ? "[" : "", h, v6 ? "]" : "", srv->port,
               all ? " " : "", all ? approaches[i].name : "");
    }
    fflush(stdout);
    return 0;
}

int rt_cmd_serve(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bool all = strcmp(argv[1], "all") == 0;
    size_t which = 0;
    while (!all && which < NUM_APPROACHES && strcmp(approaches[which].name, argv[1]) != 0)
        which++;
    if (!all && which == NUM_APPROACHES) {
        fprintf(stderr, "rtlab serve: unknown approach '%s' (short, long, sse, ws or all)\n",
                argv[1]);
        return 2;
    }
    struct rt_opts o;
    rt_opts_default(&o);
    int r = parse_opts(argc - 1, argv + 1, &o);
    if (r != 0)
        return r;
    raise_fd_limit();

    const char *lanes[NUM_APPROACHES];
    size_t first = all ? 0 : which, last = all ? NUM_APPROACHES - 1 : which;
    for (size_t i = first; i <= last; i++)
        lanes[i - first] = approaches[i].name;
    static struct rt_ctx ctx; /* large (four servers); static keeps it off the stack */
    uv_loop_t *loop = uv_default_loop();
    if ((r = rt_ctx_init(&ctx, loop, &o, lanes, last - first + 1)) != 0) {
        if (o.trace_path != NULL)
            fprintf(stderr, "rtlab serve: cannot start (trace file %s): %s\n", o.trace_path,
                    uv_strerror(r));
        else
            fprintf(stderr, "rtlab serve: cannot start: %s\n", uv_strerror(r));
        return 1;
    }
    int status = start_all(&ctx, first, last, all);
    if (status != 0)
        rt_ctx_stop(&ctx);
    uv_run(loop, UV_RUN_DEFAULT);
    rt_ctx_close(&ctx);
    uv_loop_close(loop);
    return status;
}
