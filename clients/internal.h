/*
 * internal.h - what the files of the clients module share and nobody else
 * needs: the interface every approach's subscriber implements, and the
 * command-line helpers of the three commands.
 *
 * The commands are written once, against struct rt_approach; an approach
 * (short_poll.c now; long polling, SSE and WebSocket later) is one table
 * entry. `rtlab client X` runs one subscriber and prints what it receives;
 * `rtlab load X` runs thousands of the same subscribers and counts.
 */
#ifndef RT_CLIENTS_INTERNAL_H
#define RT_CLIENTS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "rt_clients.h"
#include "rt_retry.h"

/* ---- Subscribers ------------------------------------------------------- */

/* Counters a subscriber adds to. The load generator points all of its
 * subscribers at one of these, so the totals need no summing up. */
struct rt_sub_stats {
    uint64_t requests;      /* requests sent (or connections opened, for streams) */
    uint64_t empty;         /* answers without messages (short polling: 204) */
    uint64_t messages;      /* messages delivered: new, in order, once */
    uint64_t duplicates;    /* messages dropped as already delivered */
    uint64_t errors;        /* failed requests: network, timeout, 5xx, bad answer */
    uint64_t resets;        /* the server said our position is gone */
    struct rt_hist latency; /* delivery latency, microseconds: now - ts */
};

/* A delivered message. raw is the message object's JSON text as the server
 * sent it (it may hold whitespace: rt_json_minify() removes it), valid only
 * during the call. */
struct rt_sub_msg {
    uint64_t id;
    uint64_t ts_us;
    const char *raw;
    size_t raw_len;
};

struct rt_sub_config {
    struct rt_endpoint *ep; /* shared; outlives the subscriber */
    const char *topic;      /* rt_name_valid(); outlives the subscriber */
    uint64_t since;         /* deliver messages after this id */
    uint64_t interval_ms;   /* short polling: wait between an answer and the next request */
    uint64_t seed;          /* for backoff jitter */
    bool verbose;           /* print errors and resets to stderr */
    struct rt_sub_stats *stats;
    /* Called for each message delivered (NULL: only count). It may close
     * the subscriber. */
    void (*on_message)(void *arg, const struct rt_sub_msg *m);
    void *arg;
};

/*
 * One approach, as the commands see it. sub_size = 0 marks an approach that
 * is not available yet. A subscriber lives in sub_size bytes of the
 * caller's storage (the load generator allocates one array for all):
 *   init(loop, sub, cfg)    set up; no I/O. Returns 0 or a libuv error.
 *   start(sub, delay_ms)    begin receiving after delay_ms.
 *   close(sub, cb)          stop; cb(sub) runs when the storage may go.
 */
struct rt_approach {
    const char *name;
    size_t sub_size;
    int (*init)(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg);
    void (*start)(void *sub, uint64_t delay_ms);
    void (*close)(void *sub, void (*cb)(void *sub));
};

extern const struct rt_approach rt_short_approach; /* short_poll.c */

/* ---- JSON text (json.c) ------------------------------------------------ */

/* These read text already known to be valid JSON (cJSON parsed it); they
 * find values in it without copying or reformatting it. */

/* Offset of the value of key in the top-level object of p[0..len), or len
 * when there is none. Keys are compared as raw text (no escapes). */
size_t rt_json_member(const char *p, size_t len, const char *key);

/* Steps through an array: *at is the offset of its '[' (first call) or the
 * end of the previous element. Sets *start to the next element's offset,
 * moves *at past it and returns its length; returns 0 after the last. */
size_t rt_json_next_element(const char *p, size_t len, size_t *at, size_t *start);

/* Copies p[0..len) to out without whitespace outside strings; returns the
 * bytes written (<= len). out must not overlap p. */
size_t rt_json_minify(char *out, const char *p, size_t len);

/* ---- Command-line helpers (cli.c) -------------------------------------- */

/* Exit codes of the commands. */
enum { RT_EXIT_OK = 0, RT_EXIT_FAIL = 1, RT_EXIT_USAGE = 2 };

/* Finds the approach named argv[1] of `rtlab CMD APPROACH ...`. On failure
 * prints why to stderr and returns NULL. */
const struct rt_approach *rt_cli_approach(const char *cmd, int argc, char **argv);

/* Parses a duration in seconds ("1", "0.25") into milliseconds; printing
 * "rtlab CMD: OPTION ..." to stderr on error. Returns 0 or -1. */
int rt_cli_seconds(const char *cmd, const char *opt, const char *text, uint64_t *ms);

/* Parses a decimal number in [min, max] (rates: "0.5"); same handling. */
int rt_cli_number(const char *cmd, const char *opt, const char *text, double min, double max,
                  double *out);

/* Parses a decimal count in [min, max]; same error handling. */
int rt_cli_count(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
                 uint64_t *out);

/* Checks a topic or event name, same error handling. */
int rt_cli_name(const char *cmd, const char *opt, const char *name);

/* Reports what getopt_long() (with an optstring starting with ':') refused:
 * ret is its answer, '?' for an unknown option or ':' for a missing value. */
void rt_cli_bad_option(const char *cmd, int argc, char **argv, int ret);

/* Sets up what every command needs: SIGPIPE ignored (a write to a closed
 * socket must return EPIPE, not kill the process). */
void rt_cli_prepare(void);

/* Reads a JSON number that is a whole number in [0, 2^53] (ids, ts). */
bool rt_json_u64(const cJSON *item, uint64_t *out);

/* Wall-clock microseconds since the epoch (what a message's ts uses). */
uint64_t rt_now_us(void);

/* Closes every handle still open on loop, runs it until they are gone and
 * closes it. */
void rt_cli_loop_close(uv_loop_t *loop);

#endif
