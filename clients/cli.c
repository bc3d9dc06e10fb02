/*
 * cli.c - the approach table and the small helpers the commands share:
 * option values, names, errors, and loop teardown.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- Approaches -------------------------------------------------------- */

/* Every approach rtlab will have; NULL: not implemented yet. A new client
 * approach is one line here and one file beside short_poll.c. */
static const struct {
    const char *name;
    const struct rt_approach *impl;
} approaches[] = {
    {"short", &rt_short_approach},
    {"long", &rt_long_approach},
    {"sse", &rt_sse_approach},
    {"ws", &rt_ws_approach},
};

const struct rt_approach *rt_cli_approach(const char *cmd, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr,
                "rtlab %s: name an approach: short, long, sse or ws (see rtlab %s --help)\n", cmd,
                cmd);
        return NULL;
    }
    for (size_t i = 0; i < sizeof approaches / sizeof approaches[0]; i++) {
        if (strcmp(argv[1], approaches[i].name) != 0)
            continue;
        if (approaches[i].impl == NULL)
            fprintf(stderr, "rtlab %s: approach '%s' is not available yet\n", cmd, argv[1]);
        return approaches[i].impl;
    }
    fprintf(stderr, "rtlab %s: unknown approach '%s' (expected short, long, sse or ws)\n", cmd,
            argv[1]);
    return NULL;
}

/* ---- Option values ----------------------------------------------------- */

int rt_cli_number(const char *cmd, const char *opt, const char *text, double min, double max,
                  double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    /* strtod also takes "inf", "nan" and hex floats: only plain decimals pass. */
    bool plain = text[0] != '\0' && strspn(text, "0123456789.") == strlen(text);
    if (!plain || *end != '\0' || errno != 0 || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "rtlab %s: %s wants a number from %g to %g, not '%s'\n", cmd, opt, min, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

int rt_cli_seconds(const char *cmd, const char *opt, const char *text, uint64_t *ms)
{
    double s;
    /* A week is far more than any run; the bound keeps ms in range. */
    if (rt_cli_number(cmd, opt, text, 0, 7 * 24 * 3600, &s) < 0)
        return -1;
    *ms = (uint64_t)llround(s * 1000.0);
    return 0;
}

int rt_cli_count(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
                 uint64_t *out)
{
    uint64_t v;
    if (rt_parse_u64(text, strlen(text), &v) != 0 || v < min || v > max) {
        fprintf(stderr, "rtlab %s: %s wants a whole number from %llu to %llu, not '%s'\n", cmd, opt,
                (unsigned long long)min, (unsigned long long)max, text);
        return -1;
    }
    *out = v;
    return 0;
}

void rt_cli_knobs_init(struct rt_cli_knobs *k, const struct rt_approach *ap)
{
    k->interval_ms = 1000;
    k->hold_ms = RT_LONG_POLL_DEFAULT_S * 1000;
    k->heartbeat_ms = ap->heartbeat_ms ? ap->heartbeat_ms : RT_SSE_HEARTBEAT_MS;
}

int rt_approach_endpoint(const struct rt_approach *ap, struct rt_endpoint *ep, const char *url)
{
    return ap->endpoint_init ? ap->endpoint_init(ep, url) : rt_endpoint_init(ep, url);
}

int rt_cli_knob(const char *cmd, const struct rt_approach *ap, int ch, const char *arg,
                struct rt_cli_knobs *k)
{
    unsigned opt = ch == 'i' ? RT_OPT_INTERVAL : ch == 'T' ? RT_OPT_TIMEOUT : RT_OPT_HEARTBEAT;
    const char *name = ch == 'i' ? "--interval" : ch == 'T' ? "--timeout" : "--heartbeat";
    if (!(ap->options & opt)) {
        const char *whom = ch == 'i' ? "short" : ch == 'T' ? "long" : "sse and ws";
        fprintf(stderr, "rtlab %s: %s is for %s only, not %s\n", cmd, name, whom, ap->name);
        return -1;
    }
    if (ch != 'T')
        return rt_cli_seconds(cmd, name, arg, ch == 'i' ? &k->interval_ms : &k->heartbeat_ms);
    uint64_t s;
    if (rt_cli_count(cmd, name, arg, 1, RT_LONG_POLL_MAX_S, &s) < 0)
        return -1;
    k->hold_ms = s * 1000;
    return 0;
}

int rt_cli_name(const char *cmd, const char *opt, const char *name)
{
    if (rt_name_valid(name, strlen(name)))
        return 0;
    fprintf(stderr, "rtlab %s: %s '%s' is not a valid name (1 to %d of A-Z a-z 0-9 _ . : / -)\n",
            cmd, opt, name, RT_NAME_MAX);
    return -1;
}

void rt_cli_bad_option(const char *cmd, int argc, char **argv, int ret)
{
    /* getopt leaves optind just past the word it stopped at, and optopt set
     * to the letter of an unknown short option (0 for a long one). */
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (ret == ':')
        fprintf(stderr, "rtlab %s: option '%s' needs a value", cmd, word);
    else if (optopt != 0)
        fprintf(stderr, "rtlab %s: unknown option '-%c'", cmd, optopt);
    else
        fprintf(stderr, "rtlab %s: unknown option '%s'", cmd, word);
    fprintf(stderr, " (see rtlab %s --help)\n", cmd);
}

bool rt_json_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v)) /* 2^53: exact in a double */
        return false;
    *out = (uint64_t)v;
    return true;
}

/* ---- Process and loop -------------------------------------------------- */

void rt_cli_prepare(void)
{
    signal(SIGPIPE, SIG_IGN);
}

uint64_t rt_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void rt_cli_loop_close(uv_loop_t *loop)
{
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}
