/*
 * publish.c - `rtlab publish`: one POST /publish, its answer on stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char usage[] =
    "usage: rtlab publish [--url URL] --topic T [--event E] JSON\n"
    "\n"
    "Publishes one message whose data is JSON (any JSON value) and prints the\n"
    "server's answer, {\"id\":N}, on stdout.\n"
    "\n"
    "  --url URL     server (default http://127.0.0.1:8001)\n"
    "  --topic T     topic to publish to (required)\n"
    "  --event E     event name (default: the server's, \"message\")\n"
    "  --help        this text\n"
    "\n"
    "Exit status: 0 on a 2xx answer, 1 on any other answer or a network error,\n"
    "2 on a usage error. Use -- before JSON that starts with '-'.\n";

struct publish_opts {
    const char *url;
    const char *topic;
    const char *event; /* NULL: let the server choose */
    const char *json;
};

/* Returns -1 after printing an error, 0 to run, 1 when --help was printed. */
static int parse_options(int argc, char **argv, struct publish_opts *o)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"topic", required_argument, NULL, 't'},
        {"event", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct publish_opts){.url = "http://127.0.0.1:8001"};
    int ch;
    optind = 0; /* glibc: start afresh */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'e':
            o->event = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            rt_cli_bad_option("publish", argc, argv, ch);
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr,
                "rtlab publish: give exactly one JSON argument (see rtlab publish --help)\n");
        return -1;
    }
    o->json = argv[optind];
    if (o->topic == NULL) {
        fprintf(stderr, "rtlab publish: --topic is required (see rtlab publish --help)\n");
        return -1;
    }
    if (rt_cli_name("publish", "--topic", o->topic) < 0 ||
        (o->event && rt_cli_name("publish", "--event", o->event) < 0))
        return -1;
    if (!rt_json_valid(o->json, strlen(o->json))) {
        fprintf(stderr, "rtlab publish: the message is not valid JSON: %s\n", o->json);
        return -1;
    }
    return 0;
}

struct publish_run {
    struct rt_hclient http;
    const char *url;
    int code;
};

static void on_answer(struct rt_hclient *http, int err, const struct rt_hanswer *ans)
{
    struct publish_run *run = http->data;
    if (err < 0) {
        fprintf(stderr, "rtlab publish: %s: %s\n", run->url, rt_hclient_strerror(err));
        run->code = RT_EXIT_FAIL;
    } else if (ans->status / 100 == 2) {
        fwrite(ans->body, 1, ans->body_len, stdout);
        if (ans->body_len == 0 || ans->body[ans->body_len - 1] != '\n')
            putchar('\n');
        run->code = RT_EXIT_OK;
    } else {
        fprintf(stderr, "rtlab publish: the server answered %d %s: %.*s\n", ans->status,
                rt_http_reason(ans->status), (int)ans->body_len, ans->body);
        run->code = RT_EXIT_FAIL;
    }
    rt_hclient_close(http, NULL);
}

/* Sends the request and runs the loop until the answer is in. */
static int publish(const struct publish_opts *o, struct rt_endpoint *ep)
{
    char target[sizeof ep->prefix + 2 * RT_NAME_MAX + 32];
    snprintf(target, sizeof target, "%s/publish?topic=%s%s%s", ep->prefix, o->topic,
             o->event ? "&event=" : "", o->event ? o->event : "");
    uv_loop_t loop;
    struct publish_run run = {.url = o->url, .code = RT_EXIT_FAIL};
    int r = uv_loop_init(&loop);
    if (r < 0) {
        fprintf(stderr, "rtlab publish: %s\n", uv_strerror(r));
        return RT_EXIT_FAIL;
    }
    r = rt_hclient_init(&loop, &run.http, ep);
    if (r == 0) {
        run.http.data = &run;
        r = rt_hclient_request(&run.http, "POST", target, "application/json", o->json,
                               strlen(o->json), 0, on_answer);
        if (r < 0) {
            fprintf(stderr, "rtlab publish: %s\n", rt_hclient_strerror(r));
            rt_hclient_close(&run.http, NULL);
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rt_cli_loop_close(&loop);
    return r < 0 ? RT_EXIT_FAIL : run.code;
}

int rt_cmd_publish(int argc, char **argv)
{
    struct publish_opts o;
    int p = parse_options(argc, argv, &o);
    if (p != 0)
        return p > 0 ? RT_EXIT_OK : RT_EXIT_USAGE;
    struct rt_endpoint *ep = malloc(sizeof *ep);
    if (ep == NULL) {
        fprintf(stderr, "rtlab publish: out of memory\n");
        return RT_EXIT_FAIL;
    }
    int code = RT_EXIT_USAGE;
    if (rt_endpoint_init(ep, o.url) != 0)
        fprintf(stderr, "rtlab publish: cannot use URL '%s' (want http://host[:port])\n", o.url);
    else {
        rt_cli_prepare();
        code = publish(&o, ep);
    }
    free(ep);
    return code;
}
