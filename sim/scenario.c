/*
 * scenario.c - a scenario file (one of sim/scenarios/) into a struct
 * rt_sim_config, every field checked.
 *
 * The fields are one table: name, JSON type, range, and where the value
 * goes (the run's configuration, or the scenario's own text: its
 * description and why). Checking and storing walk the table, so a field is
 * one line here.
 *
 * Names follow the report's --json keys (clients, interval_s, rtt_ms...), so
 * a report's configuration reads back as a scenario. The bytes options take
 * a _bytes suffix (payload_bytes for --payload).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rt_scenario.h"

/* A scenario is a screenful of JSON; anything far larger is a mistake. */
#define SCENARIO_FILE_MAX (64 * 1024)

enum kind {
    K_INT,      /* a JSON number with no fraction, stored as uint32 or uint64 */
    K_NUM,      /* any JSON number, stored as double */
    K_BOOL,     /* true or false */
    K_TEXT,     /* a non-empty string, stored in a char array */
    K_CHOICE,   /* one of a list of strings, stored in a char array */
    K_APPROACH, /* short|long|sse|ws, stored as enum rt_sim_approach */
    K_RECONNECT, /* a reconnect policy's name, stored as enum rt_sim_reconnect */
};

enum where { IN_CONFIG, IN_SCENARIO };

struct field {
    const char *name;
    enum kind kind;
    enum where where;
    size_t offset, size; /* in the struct; size: the int's width, the array's length */
    double lo, hi;       /* the range, both ends included... */
    bool lo_open;        /* ...but lo excluded when this is set */
    const char *const *choices;
    bool required;
};

static const char *const radios[] = {"lte", "3g", "wifi", NULL};
static const char *const reconnects[] = {"immediate",   "fixed",       "stepped", "backoff",
                                         "half_jitter", "full_jitter", NULL};

#define CFG(m) IN_CONFIG, offsetof(struct rt_sim_config, m), sizeof(((struct rt_sim_config *)0)->m)
#define SCN(m)                                                                                     \
    IN_SCENARIO, offsetof(struct rt_sim_scenario, m), sizeof(((struct rt_sim_scenario *)0)->m)

/* The ranges are the command's (cmd.c) and the engine's (check_config). */
static const struct field fields[] = {
    {"description", K_TEXT, SCN(description), 0, 0, false, NULL, true},
    {"why", K_TEXT, SCN(why), 0, 0, false, NULL, true},
    {"approach", K_APPROACH, CFG(approach), 0, 0, false, NULL, false},
    {"clients", K_INT, CFG(clients), 1, UINT32_MAX, false, NULL, false},
    {"interval_s", K_NUM, CFG(interval_s), 0, 86400, true, NULL, false},
    {"rate", K_NUM, CFG(rate), 0, 1e6, false, NULL, false},
    {"topics", K_INT, CFG(topics), 1, UINT32_MAX, false, NULL, false},
    {"duration_s", K_NUM, CFG(duration_s), 1e-6, RT_SIM_DURATION_MAX_S, false, NULL, false},
    {"rtt_ms", K_NUM, CFG(rtt_ms), 0, 60000, false, NULL, false},
    /* 2^53: the largest a JSON number carries exactly (--seed takes any). */
    {"seed", K_INT, CFG(seed), 0, 9007199254740992.0, false, NULL, false},
    {"sync", K_BOOL, CFG(sync), 0, 0, false, NULL, false},
    {"ring", K_INT, CFG(ring), 1, UINT32_MAX, false, NULL, false},
    {"payload_bytes", K_INT, CFG(payload_bytes), 0, 1 << 30, false, NULL, false},
    {"request_bytes", K_INT, CFG(request_bytes), 0, 1 << 30, false, NULL, false},
    {"empty_bytes", K_INT, CFG(empty_bytes), 0, 1 << 30, false, NULL, false},
    {"answer_bytes", K_INT, CFG(answer_bytes), 0, 1 << 30, false, NULL, false},
    {"header_extra_bytes", K_INT, CFG(header_extra_bytes), 0, 1 << 20, false, NULL, false},
    {"tcp_overhead", K_BOOL, CFG(tcp_overhead), 0, 0, false, NULL, false},
    {"timeout_s", K_NUM, CFG(timeout_s), 0, 120, false, NULL, false},
    {"gap_ms", K_NUM, CFG(gap_ms), 0, 3.6e6, false, NULL, false},
    {"heartbeat_s", K_NUM, CFG(heartbeat_s), 0.01, 3600, false, NULL, false},
    {"upstream_rate", K_NUM, CFG(upstream_rate), 0, 1000, false, NULL, false},
    {"burst", K_INT, CFG(burst), 1, 1000000, false, NULL, false},
    {"rtt_sigma", K_NUM, CFG(rtt_sigma), 0, 3, false, NULL, false},
    {"drop_mean_s", K_NUM, CFG(drop_mean_s), 1, 365 * 86400.0, false, NULL, false},
    {"reconnect", K_RECONNECT, CFG(reconnect), 0, 0, false, reconnects, false},
    {"reconnect_base_s", K_NUM, CFG(reconnect_base_s), 0.001, 3600, false, NULL, false},
    {"reconnect_max_s", K_NUM, CFG(reconnect_max_s), 0.001, 86400, false, NULL, false},
    {"restart_at_s", K_NUM, CFG(restart_at_s), 0, 365 * 86400.0, false, NULL, false},
    {"restart_down_s", K_NUM, CFG(restart_down_s), 0, 86400, false, NULL, false},
    {"restart_every_s", K_NUM, CFG(restart_every_s), 0, 365 * 86400.0, false, NULL, false},
    {"lb_idle_s", K_NUM, CFG(lb_idle_s), 1, 86400, false, NULL, false},
    {"broker_at_s", K_NUM, CFG(broker_at_s), 0, 365 * 86400.0, false, NULL, false},
    {"broker_down_s", K_NUM, CFG(broker_down_s), 0, 86400, false, NULL, false},
    {"slow_share", K_NUM, CFG(slow_share), 0, 1, false, NULL, false},
    {"slow_bytes_per_s", K_NUM, CFG(slow_bytes_per_s), 1, 1e10, false, NULL, false},
    {"send_queue", K_INT, CFG(send_queue), 1, UINT32_MAX, false, NULL, false},
    {"radio", K_CHOICE, CFG(radio), 0, 0, false, radios, false},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* ---- Messages --------------------------------------------------------------- */

/* Writes "name: ..." into err and returns code. */
static int fail(char *err, size_t err_len, int code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t err_len, int code, const char *name, const char *fmt, ...)
{
    int n = snprintf(err, err_len, "%s: ", name);
    if (n >= 0 && (size_t)n < err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

static const char *json_type(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return v->type & cJSON_True ? "true" : "false";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

/* "an integer from 1 to 4294967295", "a number more than 0 and at most 86400"... */
static void describe(const struct field *f, char *out, size_t len)
{
    switch (f->kind) {
    case K_INT:
        snprintf(out, len, "an integer from %.0f to %.0f", f->lo, f->hi);
        break;
    case K_NUM:
        snprintf(out, len, "a number %s %g and at most %g", f->lo_open ? "more than" : "from",
                 f->lo, f->hi);
        break;
    case K_BOOL:
        snprintf(out, len, "true or false");
        break;
    case K_TEXT:
        snprintf(out, len, "a non-empty string of at most %zu bytes", f->size - 1);
        break;
    case K_APPROACH:
        snprintf(out, len, "one of \"short\", \"long\", \"sse\", \"ws\"");
        break;
    case K_CHOICE:
    case K_RECONNECT: {
        size_t used = (size_t)snprintf(out, len, "one of");
        for (size_t i = 0; f->choices[i] && used < len; i++)
            used +=
                (size_t)snprintf(out + used, len - used, "%s \"%s\"", i ? "," : "", f->choices[i]);
        break;
    }
    }
}

/* ---- One field ---------------------------------------------------------------- */

static bool is_type_ok(const struct field *f, const cJSON *v)
{
    switch (f->kind) {
    case K_INT:
        return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    case K_NUM:
        return cJSON_IsNumber(v);
    case K_BOOL:
        return cJSON_IsBool(v);
    default:
        return cJSON_IsString(v);
    }
}

/* Index of text in choices, or -1. */
static int choice_of(const char *const *choices, const char *text)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], text) == 0)
            return i;
    return -1;
}

static bool is_in_range(const struct field *f, const cJSON *v)
{
    double x = v->valuedouble;
    switch (f->kind) {
    case K_INT:
    case K_NUM:
        return (f->lo_open ? x > f->lo : x >= f->lo) && x <= f->hi;
    case K_TEXT:
        return v->valuestring[0] && strlen(v->valuestring) < f->size;
    case K_APPROACH:
        return rt_sim_approach_parse(v->valuestring) >= 0;
    case K_CHOICE:
    case K_RECONNECT:
        return choice_of(f->choices, v->valuestring) >= 0;
    default:
        return true;
    }
}

/* Stores a checked value at its place in c or s. */
static void store(const struct field *f, const cJSON *v, struct rt_sim_config *c,
                  struct rt_sim_scenario *s)
{
    char *p = (f->where == IN_CONFIG ? (char *)c : (char *)s) + f->offset;
    switch (f->kind) {
    case K_INT:
        if (f->size == sizeof(uint64_t))
            *(uint64_t *)(void *)p = (uint64_t)v->valuedouble;
        else
            *(uint32_t *)(void *)p = (uint32_t)v->valuedouble;
        break;
    case K_NUM:
        *(double *)(void *)p = v->valuedouble;
        break;
    case K_BOOL:
        *(bool *)(void *)p = cJSON_IsTrue(v);
        break;
    case K_APPROACH:
        *(enum rt_sim_approach *)(void *)p =
            (enum rt_sim_approach)rt_sim_approach_parse(v->valuestring);
        break;
    case K_RECONNECT:
        *(enum rt_sim_reconnect *)(void *)p =
            (enum rt_sim_reconnect)rt_sim_reconnect_parse(v->valuestring);
        break;
    default:
        snprintf(p, f->size, "%s", v->valuestring);
        break;
    }
}

/* Checks one value against its field and stores it; 0 or an error code. */
static int apply(const char *name, const struct field *f, const cJSON *v, struct rt_sim_config *c,
                 struct rt_sim_scenario *s, char *err, size_t err_len)
{
    char want[128];
    describe(f, want, sizeof want);
    if (!is_type_ok(f, v)) {
        if (cJSON_IsNumber(v))
            return fail(err, err_len, RT_SIM_SCENARIO_ETYPE, name, "%s must be %s, not %g", f->name,
                        want, v->valuedouble);
        return fail(err, err_len, RT_SIM_SCENARIO_ETYPE, name, "%s must be %s, not %s", f->name,
                    want, json_type(v));
    }
    if (!is_in_range(f, v)) {
        if (cJSON_IsNumber(v))
            return fail(err, err_len, RT_SIM_SCENARIO_ERANGE, name, "%s must be %s, not %.17g",
                        f->name, want, v->valuedouble);
        return fail(err, err_len, RT_SIM_SCENARIO_ERANGE, name, "%s must be %s, not \"%.40s\"",
                    f->name, want, v->valuestring);
    }
    store(f, v, c, s);
    return 0;
}

/* ---- The whole object ------------------------------------------------------- */

static const struct field *field_named(const char *key, size_t *index)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, key) == 0) {
            *index = i;
            return &fields[i];
        }
    return NULL;
}

/* Walks the object's members: each must be a known field, given once. */
static int apply_object(const char *name, const cJSON *root, struct rt_sim_config *c,
                        struct rt_sim_scenario *s, char *err, size_t err_len)
{
    bool seen[NFIELDS] = {false};
    for (const cJSON *v = root->child; v; v = v->next) {
        size_t i;
        const struct field *f = field_named(v->string, &i);
        if (!f)
            return fail(err, err_len, RT_SIM_SCENARIO_EFIELD, name,
                        "unknown field \"%.40s\" (docs/sim.md, \"Scenarios\", lists the fields)",
                        v->string);
        if (seen[i])
            return fail(err, err_len, RT_SIM_SCENARIO_EFIELD, name, "%s is given twice", f->name);
        seen[i] = true;
        int rc = apply(name, f, v, c, s, err, err_len);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].required && !seen[i])
            return fail(err, err_len, RT_SIM_SCENARIO_EFIELD, name, "%s is missing",
                        fields[i].name);
    if (c->topics > c->clients)
        return fail(err, err_len, RT_SIM_SCENARIO_ERANGE, name,
                    "topics must be at most clients (%llu), not %u", (unsigned long long)c->clients,
                    c->topics);
    return 0;
}

/* Line and column (from 1) of offset in text, for a JSON error. */
static void line_col(const char *text, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int rt_sim_scenario_parse(const char *name, const char *text, size_t len, struct rt_sim_config *c,
                          struct rt_sim_scenario *s, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    if (len > SCENARIO_FILE_MAX)
        return fail(err, err_len, RT_SIM_SCENARIO_EJSON, name,
                    "larger than %d bytes: not a scenario", SCENARIO_FILE_MAX);
    if (memchr(text, '\0', len))
        return fail(err, err_len, RT_SIM_SCENARIO_EJSON, name, "not valid JSON: a NUL byte");
    /* cJSON wants a NUL-terminated text, and checks nothing follows the value. */
    char *copy = malloc(len + 1);
    if (!copy)
        return fail(err, err_len, RT_SIM_SCENARIO_EREAD, name, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(copy, &end, 1);
    int rc;
    if (!root) {
        int line, col;
        line_col(copy, end ? (size_t)(end - copy) : 0, &line, &col);
        rc = fail(err, err_len, RT_SIM_SCENARIO_EJSON, name,
                  "not valid JSON near line %d, column %d", line, col);
    } else if (!cJSON_IsObject(root)) {
        rc = fail(err, err_len, RT_SIM_SCENARIO_EJSON, name, "must be one JSON object, not %s",
                  json_type(root));
    } else {
        rc = apply_object(name, root, c, s, err, err_len);
    }
    cJSON_Delete(root);
    free(copy);
    return rc;
}

int rt_sim_scenario_load(const char *path, struct rt_sim_config *c, struct rt_sim_scenario *s,
                         char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, err_len, RT_SIM_SCENARIO_EREAD, path, "cannot read: %s", strerror(errno));
    /* One byte more than the limit, so a larger file is seen to be larger. */
    char *buf = malloc(SCENARIO_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, SCENARIO_FILE_MAX + 1, f) : 0;
    int rc;
    if (!buf)
        rc = fail(err, err_len, RT_SIM_SCENARIO_EREAD, path, "out of memory");
    else if (ferror(f))
        rc = fail(err, err_len, RT_SIM_SCENARIO_EREAD, path, "cannot read: %s", strerror(errno));
    else
        rc = rt_sim_scenario_parse(path, buf, len, c, s, err, err_len);
    free(buf);
    fclose(f);
    return rc;
}
