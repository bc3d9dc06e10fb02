/*
 * report.c - a run's report as JSON, CSV or a table for people.
 *
 * Every figure but wall_s is a pure function of the configuration, and is
 * printed with fixed formats, so the same seed prints the same bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Appends to out with snprintf, keeping count even when out is full. */
struct sink {
    char *out;
    size_t len, used;
};

static void put(struct sink *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct sink *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = k->used < k->len ? k->len - k->used : 0;
    int n = vsnprintf(room ? k->out + k->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        k->used += (size_t)n;
}

int rt_sim_report_json(const struct rt_sim_report *r, bool with_wall, char *out, size_t out_len)
{
    const struct rt_sim_config *c = &r->config;
    struct sink k = {out, out_len, 0};
    put(&k,
        "{\"approach\":\"%s\",\"clients\":%llu,\"interval_s\":%.6g,\"rate\":%.6g,"
        "\"topics\":%u,\"duration_s\":%.6g,\"rtt_ms\":%.6g,\"seed\":%llu,\"sync\":%s,",
        rt_sim_approach_name(c->approach), (unsigned long long)c->clients, c->interval_s, c->rate,
        c->topics, c->duration_s, c->rtt_ms, (unsigned long long)c->seed,
        c->sync ? "true" : "false");
    put(&k,
        "\"requests_per_s\":%.3f,\"requests_per_client_hour\":%.3f,\"empty_fraction\":%.6f,"
        "\"latency_ms\":{\"mean\":%.3f,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
        "\"bytes_per_client_s\":{\"up\":%.3f,\"down\":%.3f},\"connections\":%.1f,",
        r->requests_per_s, r->requests_per_client_hour, r->empty_fraction, r->latency_ms_mean,
        r->latency_ms_p50, r->latency_ms_p99, r->latency_ms_max, r->up_per_client_s,
        r->down_per_client_s, r->connections);
    put(&k,
        "\"energy_modelled\":%s,\"energy_j_per_client_hour\":%.3f,\"battery_pct_per_hour\":%.4f,"
        "\"messages\":{\"published\":%llu,\"delivered\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
        "\"in_flight\":%llu,\"latency_clipped\":%llu},\"requests\":%llu,\"empty\":%llu,"
        "\"events\":%llu,\"memory_bytes\":%zu",
        r->energy_modelled ? "true" : "false", r->energy_j_per_client_hour, r->battery_pct_per_hour,
        (unsigned long long)r->published, (unsigned long long)r->delivered,
        (unsigned long long)r->lost, (unsigned long long)r->duplicated,
        (unsigned long long)r->in_flight, (unsigned long long)r->clipped,
        (unsigned long long)r->requests, (unsigned long long)r->empty,
        (unsigned long long)r->events, r->memory_bytes);
    if (with_wall)
        put(&k, ",\"wall_s\":%.3f", r->wall_s);
    put(&k, "}\n");
    return (int)k.used;
}

int rt_sim_report_csv(const struct rt_sim_report *r, bool with_wall, char *out, size_t out_len)
{
    const struct rt_sim_config *c = &r->config;
    struct sink k = {out, out_len, 0};
    put(&k,
        "approach,clients,interval_s,rate,topics,duration_s,rtt_ms,seed,sync,"
        "requests_per_s,requests_per_client_hour,empty_fraction,latency_ms_mean,"
        "latency_ms_p50,latency_ms_p99,latency_ms_max,up_bytes_per_client_s,"
        "down_bytes_per_client_s,connections,energy_modelled,energy_j_per_client_hour,"
        "battery_pct_per_hour,published,delivered,lost,duplicated,in_flight,events%s\n",
        with_wall ? ",wall_s" : "");
    put(&k, "%s,%llu,%.6g,%.6g,%u,%.6g,%.6g,%llu,%d,", rt_sim_approach_name(c->approach),
        (unsigned long long)c->clients, c->interval_s, c->rate, c->topics, c->duration_s, c->rtt_ms,
        (unsigned long long)c->seed, c->sync ? 1 : 0);
    put(&k, "%.3f,%.3f,%.6f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,%d,%.3f,%.4f,", r->requests_per_s,
        r->requests_per_client_hour, r->empty_fraction, r->latency_ms_mean, r->latency_ms_p50,
        r->latency_ms_p99, r->latency_ms_max, r->up_per_client_s, r->down_per_client_s,
        r->connections, r->energy_modelled ? 1 : 0, r->energy_j_per_client_hour,
        r->battery_pct_per_hour);
    put(&k, "%llu,%llu,%llu,%llu,%llu,%llu", (unsigned long long)r->published,
        (unsigned long long)r->delivered, (unsigned long long)r->lost,
        (unsigned long long)r->duplicated, (unsigned long long)r->in_flight,
        (unsigned long long)r->events);
    if (with_wall)
        put(&k, ",%.3f", r->wall_s);
    put(&k, "\n");
    return (int)k.used;
}

/* Prints the report as a table (cmd.c's default output). */
void sim_report_table(FILE *f, const struct rt_sim_report *r)
{
    const struct rt_sim_config *c = &r->config;
    fprintf(f,
            "approach %s: %llu clients, interval %g s, %g updates/s on each of %u "
            "topic(s), rtt %g ms, %g s simulated, seed %llu%s\n\n",
            rt_sim_approach_name(c->approach), (unsigned long long)c->clients, c->interval_s,
            c->rate, c->topics, c->rtt_ms, c->duration_s, (unsigned long long)c->seed,
            c->sync ? ", synchronized" : "");
    fprintf(f, "  requests/s                %14.1f\n", r->requests_per_s);
    fprintf(f, "  requests per client-hour  %14.1f\n", r->requests_per_client_hour);
    fprintf(f, "  empty answers             %13.1f%%\n", 100 * r->empty_fraction);
    fprintf(f, "  latency ms  mean          %14.1f\n", r->latency_ms_mean);
    fprintf(f, "              p50           %14.1f\n", r->latency_ms_p50);
    fprintf(f, "              p99           %14.1f\n", r->latency_ms_p99);
    fprintf(f, "              max           %14.1f\n", r->latency_ms_max);
    fprintf(f, "  bytes/client/s  up        %14.1f\n", r->up_per_client_s);
    fprintf(f, "                  down      %14.1f\n", r->down_per_client_s);
    fprintf(f, "  connections held          %14.0f\n", r->connections);
    fprintf(f, "  energy J/client-hour %-4s %14.2f\n", r->config.radio,
            r->energy_j_per_client_hour);
    fprintf(f, "  battery %%/hour (%5.2f Wh) %14.3f\n", r->config.battery_wh,
            r->battery_pct_per_hour);
    fprintf(f, "  messages  published       %14llu\n", (unsigned long long)r->published);
    fprintf(f, "            delivered       %14llu\n", (unsigned long long)r->delivered);
    fprintf(f, "            lost            %14llu\n", (unsigned long long)r->lost);
    fprintf(f, "            duplicated      %14llu\n", (unsigned long long)r->duplicated);
    fprintf(f, "            not yet fetched %14llu\n", (unsigned long long)r->in_flight);
    fprintf(f, "  events                    %14llu\n", (unsigned long long)r->events);
    fprintf(f, "  wall time s               %14.2f  (%.1f M events/s)\n", r->wall_s,
            r->wall_s > 0 ? (double)r->events / r->wall_s / 1e6 : 0);
}

void rt_sim_report_free(struct rt_sim_report *r)
{
    free(r->series_requests);
    free(r->series_connects);
    free(r->trace);
    r->series_requests = r->series_connects = NULL;
    r->trace = NULL;
    r->series_len = r->trace_len = 0;
}

/* ---- The trace ------------------------------------------------------------- */

static const char *const trace_kinds[] = {
    "connect", "request", "response", "empty",   "event",     "publish",
    "ping",    "pong",    "timeout",  "disconnect", "reconnect",
};

int rt_sim_trace_write(const struct rt_sim_report *r, FILE *f)
{
    const struct rt_sim_config *c = &r->config;
    const char *lane = rt_sim_approach_name(c->approach);
    fprintf(f, "{\"trace\":1,\"source\":\"sim\",\"lanes\":[\"%s\"],\"clients\":%u,\"seed\":%llu}\n",
            lane, c->trace_clients < c->clients ? c->trace_clients : (uint32_t)c->clients,
            (unsigned long long)c->seed);
    for (size_t i = 0; i < r->trace_len; i++) {
        const struct rt_sim_trace_line *l = &r->trace[i];
        fprintf(f, "{\"t\":%llu.%06llu,\"lane\":\"%s\",\"client\":%u,\"kind\":\"%s\",\"dir\":\"%s\"",
                (unsigned long long)(l->t / 1000000), (unsigned long long)(l->t % 1000000), lane,
                l->client, trace_kinds[l->kind], l->s2c ? "s2c" : "c2s");
        if (l->bytes)
            fprintf(f, ",\"bytes\":%u", l->bytes);
        if (l->msg)
            fprintf(f, ",\"msg\":%llu", (unsigned long long)l->msg);
        fputs("}\n", f);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
