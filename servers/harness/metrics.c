/*
 * metrics.c - the /metrics answer: one object per running approach, plus the
 * bus. Counters only grow, except `connections`, which is the number open now.
 */
#include <stdio.h>

#include "rt_harness.h"

size_t rt_metrics_json(struct rt_ctx *ctx, char *out, size_t cap)
{
    size_t o = 0;
#define PUT(...) o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, __VA_ARGS__)
    PUT("{");
    for (size_t i = 0; i < ctx->num_servers; i++) {
        const struct rt_server *s = &ctx->servers[i];
        const struct rt_metrics *m = &s->m;
        PUT("\"%s\":{\"port\":%d,\"connections\":%llu,\"accepted\":%llu,\"requests\":%llu,"
            "\"empty\":%llu,\"delivered\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
            "\"errors\":%llu,\"timeouts\":%llu,\"held\":%llu,\"overflows\":%llu},",
            s->ap->name, s->port, (unsigned long long)m->connections,
            (unsigned long long)m->accepted, (unsigned long long)m->requests,
            (unsigned long long)m->empty, (unsigned long long)m->delivered,
            (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out,
            (unsigned long long)m->errors, (unsigned long long)m->timeouts,
            (unsigned long long)m->held, (unsigned long long)m->overflows);
    }
    PUT("\"bus\":{\"published\":%llu,\"topics\":%zu}}", (unsigned long long)ctx->published,
        ctx->topics.count);
#undef PUT
    return o < cap ? o : cap - 1;
}
