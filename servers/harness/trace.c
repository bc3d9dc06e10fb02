/*
 * trace.c - the live servers' side of the shared trace format (JSON Lines,
 * see DESIGN.md): a header line, then one line per event with the time in
 * seconds from the trace's start.
 *
 * The header carries the number of clients, known only at the end. It is
 * written first with the count padded by spaces (JSON allows them) and the
 * count is written over the padding when the trace closes.
 */
#include <errno.h>
#include <string.h>
#include <sys/time.h>

#include "rt_harness.h"

#define COUNT_WIDTH 20

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

int rt_trace_open(struct rt_trace *tr, const char *path, const char *const *lanes, size_t n)
{
    memset(tr, 0, sizeof(*tr));
    tr->f = fopen(path, "w");
    if (tr->f == NULL)
        return -errno;
    snprintf(tr->path, sizeof(tr->path), "%s", path);
    tr->t0_us = now_us();
    fputs("{\"trace\":1,\"source\":\"live\",\"lanes\":[", tr->f);
    for (size_t i = 0; i < n; i++)
        fprintf(tr->f, "%s\"%s\"", i ? "," : "", lanes[i]);
    fputs("],\"clients\":", tr->f);
    tr->clients_at = ftell(tr->f);
    fprintf(tr->f, "%*s}\n", COUNT_WIDTH, "0");
    return 0;
}

void rt_trace_event(struct rt_trace *tr, const char *lane, uint64_t client, const char *kind,
                    const char *dir, uint64_t bytes, uint64_t msg)
{
    double t = (double)(now_us() - tr->t0_us) / 1e6;
    fprintf(tr->f,
            "{\"t\":%.6f,\"lane\":\"%s\",\"client\":%llu,\"kind\":\"%s\",\"dir\":\"%s\","
            "\"bytes\":%llu",
            t, lane, (unsigned long long)client, kind, dir, (unsigned long long)bytes);
    if (msg != 0)
        fprintf(tr->f, ",\"msg\":%llu", (unsigned long long)msg);
    fputs("}\n", tr->f);
}

void rt_trace_flush(struct rt_trace *tr)
{
    fflush(tr->f);
}

void rt_trace_close(struct rt_trace *tr)
{
    if (tr->f == NULL)
        return;
    if (fseek(tr->f, tr->clients_at, SEEK_SET) == 0)
        fprintf(tr->f, "%-*llu", COUNT_WIDTH, (unsigned long long)tr->clients);
    fclose(tr->f);
    tr->f = NULL;
}
