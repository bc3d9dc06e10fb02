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

/* Both directions' bytes per message delivered (0 when none was). */
static double bytes_per_message(const struct rt_sim_report *r)
{
    return r->delivered ? (double)(r->bytes_up + r->bytes_down) / (double)r->delivered : 0;
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
    put(&k,
        ",\"peak_requests_per_s\":%.1f,\"bytes_per_message\":%.1f,\"bytes\":{\"up\":%llu,"
        "\"down\":%llu,\"payload\":%llu,\"tcpip\":%llu},\"connects\":%llu,"
        "\"connect_failures\":%llu,\"peak_connects_per_s\":%.1f,\"drops\":%llu,"
        "\"heartbeats\":%llu,\"upstream\":%llu,\"server_memory_bytes\":%.0f",
        r->peak_requests_per_s, bytes_per_message(r), (unsigned long long)r->bytes_up,
        (unsigned long long)r->bytes_down, (unsigned long long)r->bytes_payload,
        (unsigned long long)r->bytes_tcpip, (unsigned long long)r->connects,
        (unsigned long long)r->connect_failures, r->peak_connects_per_s,
        (unsigned long long)r->drops, (unsigned long long)r->heartbeats,
        (unsigned long long)r->upstream, r->server_memory_bytes);
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
        "battery_pct_per_hour,published,delivered,lost,duplicated,in_flight,events,"
        "peak_requests_per_s,bytes_per_message,connects,peak_connects_per_s,drops%s\n",
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
    put(&k, ",%.1f,%.1f,%llu,%.1f,%llu", r->peak_requests_per_s, bytes_per_message(r),
        (unsigned long long)r->connects, r->peak_connects_per_s, (unsigned long long)r->drops);
    if (with_wall)
        put(&k, ",%.3f", r->wall_s);
    put(&k, "\n");
    return (int)k.used;
}

/* The four approaches' reports side by side (rtlab sim compare). */
void sim_compare_table(FILE *f, const struct rt_sim_report r[4])
{
    const struct rt_sim_config *c = &r[0].config;
    fprintf(f,
            "%llu clients, %g updates/s on each of %u topic(s), rtt %g ms, %g s simulated, "
            "radio %s, seed %llu\n"
            "(short polls every %g s; long polls held %g s)\n\n",
            (unsigned long long)c->clients, c->rate, c->topics, c->rtt_ms, c->duration_s, c->radio,
            (unsigned long long)c->seed, c->interval_s, c->timeout_s);
    fprintf(f, "%-26s %12s %12s %12s %12s\n", "", "short", "long", "sse", "ws");
#define ROW(label, fmt, expr)                                                                      \
    do {                                                                                           \
        fprintf(f, "%-26s", label);                                                                \
        for (int a = 0; a < 4; a++)                                                                \
            fprintf(f, " " fmt, (expr));                                                           \
        fputc('\n', f);                                                                            \
    } while (0)
    ROW("requests/s", "%12.1f", r[a].requests_per_s);
    ROW("empty answers %", "%12.1f", 100 * r[a].empty_fraction);
    ROW("latency p50 ms", "%12.1f", r[a].latency_ms_p50);
    ROW("latency p99 ms", "%12.1f", r[a].latency_ms_p99);
    ROW("bytes/client/s up+down", "%12.1f", r[a].up_per_client_s + r[a].down_per_client_s);
    ROW("bytes per message", "%12.1f", bytes_per_message(&r[a]));
    ROW("connections held", "%12.0f", r[a].connections);
    ROW("energy J/client-hour", "%12.1f", r[a].energy_j_per_client_hour);
    ROW("battery %/hour", "%12.3f", r[a].battery_pct_per_hour);
    ROW("messages delivered", "%12llu", (unsigned long long)r[a].delivered);
    ROW("messages lost", "%12llu", (unsigned long long)r[a].lost);
    ROW("messages duplicated", "%12llu", (unsigned long long)r[a].duplicated);
#undef ROW
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
    fprintf(f, "  requests/s                %14.1f  (peak %.0f)\n", r->requests_per_s,
            r->peak_requests_per_s);
    fprintf(f, "  requests per client-hour  %14.1f\n", r->requests_per_client_hour);
    fprintf(f, "  empty answers             %13.1f%%\n", 100 * r->empty_fraction);
    fprintf(f, "  latency ms  mean          %14.1f\n", r->latency_ms_mean);
    fprintf(f, "              p50           %14.1f\n", r->latency_ms_p50);
    fprintf(f, "              p99           %14.1f\n", r->latency_ms_p99);
    fprintf(f, "              max           %14.1f\n", r->latency_ms_max);
    fprintf(f, "  bytes/client/s  up        %14.1f\n", r->up_per_client_s);
    fprintf(f, "                  down      %14.1f\n", r->down_per_client_s);
    fprintf(f, "                  per message %12.1f  (payload %.1f%%, TCP/IP %.1f%%)\n",
            bytes_per_message(r),
            r->bytes_up + r->bytes_down
                ? 100.0 * (double)r->bytes_payload / (double)(r->bytes_up + r->bytes_down)
                : 0,
            r->bytes_up + r->bytes_down
                ? 100.0 * (double)r->bytes_tcpip / (double)(r->bytes_up + r->bytes_down)
                : 0);
    fprintf(f, "  connections held          %14.0f  (server memory ~%.0f MB)\n", r->connections,
            r->server_memory_bytes / 1e6);
    fprintf(f, "  connection attempts       %14llu  (refused %llu, peak %.0f/s)\n",
            (unsigned long long)r->connects, (unsigned long long)r->connect_failures,
            r->peak_connects_per_s);
    fprintf(f, "  connections lost          %14llu\n", (unsigned long long)r->drops);
    if (r->heartbeats)
        fprintf(f, "  heartbeats                %14llu\n", (unsigned long long)r->heartbeats);
    if (r->upstream)
        fprintf(f, "  messages sent up          %14llu\n", (unsigned long long)r->upstream);
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
