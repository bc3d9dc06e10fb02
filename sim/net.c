/*
 * net.c - the network every model shares: bytes with their TCP/IP overhead,
 * connections and their time-averaged count, the server's restarts, the
 * reconnect policies, per-client round trips, slow readers, and the
 * per-second series and the sampled trace the report carries.
 *
 * TCP/IP OVERHEAD. Each segment carries 52 bytes of headers (IPv4 20, TCP
 * 20, the timestamp option 12, as Linux sends by default) and at most 1448
 * bytes of data (a 1500-byte Ethernet MTU). A handshake is SYN (60 bytes:
 * MSS, SACK, timestamps and window scale take 20 bytes of options), SYN-ACK
 * (60) and ACK (52). Every write the other side receives is acknowledged by
 * one pure ACK (52) unless an answer carries it; delayed ACKs that would
 * merge two writes into one ACK are not modelled. TLS is not modelled (it
 * would add a 2-RTT handshake of a few kB and 22-29 bytes per record).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SYN_BYTES 60

/* ---- Bytes ------------------------------------------------------------------ */

/* ---- Connections -------------------------------------------------------------- */

uint64_t sim_handshake(struct sim *s, rt_sim_time t)
{
    s->r->connects++;
    sim_series_add(s, s->r->series_connects, t);
    if (!s->c->tcp_overhead)
        return 0;
    s->r->bytes_up += SYN_BYTES + TCPIP_HEADER;
    s->r->bytes_down += SYN_BYTES;
    s->r->bytes_tcpip += 2 * SYN_BYTES + TCPIP_HEADER;
    return SYN_BYTES + TCPIP_HEADER;
}

void sim_refused(struct sim *s, rt_sim_time t)
{
    s->r->connects++;
    s->r->connect_failures++;
    sim_series_add(s, s->r->series_connects, t);
    if (s->c->tcp_overhead) {
        s->r->bytes_up += SYN_BYTES;
        s->r->bytes_down += TCPIP_HEADER; /* RST */
        s->r->bytes_tcpip += SYN_BYTES + TCPIP_HEADER;
    }
}

static void conn_step(struct sim *s, rt_sim_time t)
{
    if (t > s->conn_since) {
        s->conn_area += (double)s->conns * (double)(t - s->conn_since);
        s->conn_since = t;
    }
}

void sim_conn_open(struct sim *s, rt_sim_time t)
{
    conn_step(s, t);
    s->conns++;
}

void sim_conn_close(struct sim *s, rt_sim_time t)
{
    if (t < s->conn_since) /* closed in the past (found out now): it was counted since */
        s->conn_area -= (double)(s->conn_since - t);
    conn_step(s, t);
    s->conns--;
}

void sim_conn_span(struct sim *s, rt_sim_time from, rt_sim_time to)
{
    if (to > s->end)
        to = s->end;
    if (to > from)
        s->conn_area += (double)(to - from);
}

/* ---- Restarts and reconnecting -------------------------------------------------- */

static const double steps[] = {1, 2, 5, 10, 30};

rt_sim_time sim_reconnect_delay(struct sim *s, unsigned k)
{
    const struct rt_sim_config *c = s->c;
    double base = c->reconnect_base_s, cap = c->reconnect_max_s;
    double ceiling = k >= 60 ? cap : fmin(cap, base * ldexp(1.0, (int)k));
    double d;
    switch (c->reconnect) {
    case RT_SIM_RC_IMMEDIATE:
        d = 0;
        break;
    case RT_SIM_RC_FIXED:
        d = base;
        break;
    case RT_SIM_RC_STEPPED:
        d = fmin(cap, base * steps[k < 4 ? k : 4]);
        break;
    case RT_SIM_RC_BACKOFF:
        d = ceiling;
        break;
    case RT_SIM_RC_HALF_JITTER:
        d = ceiling * (0.5 + rt_rng_unit(&s->rng));
        break;
    default: /* RT_SIM_RC_FULL_JITTER */
        d = ceiling * rt_rng_unit(&s->rng);
        break;
    }
    return (rt_sim_time)(d * 1e6);
}

rt_sim_time sim_exp_delay(struct rt_rng *rng, double rate)
{
    double u = rt_rng_unit(rng); /* [0, 1): 1 - u is never 0 */
    return (rt_sim_time)(-log(1.0 - u) / rate * 1e6);
}

/* ---- The trace -------------------------------------------------------------------- */

void sim_trace_line(struct sim *s, uint64_t i, rt_sim_time t, enum rt_sim_trace_kind kind, bool s2c,
                    uint64_t bytes, uint64_t msg)
{
    struct rt_sim_report *r = s->r;
    if (t >= s->end)
        return; /* after the run */
    if (r->trace_len == s->trace_cap) {
        if (s->trace_cap >= RT_SIM_TRACE_MAX) {
            r->trace_truncated = true;
            return;
        }
        size_t cap = s->trace_cap ? s->trace_cap * 2 : 4096;
        struct rt_sim_trace_line *v = realloc(r->trace, cap * sizeof *v);
        if (!v) {
            r->trace_truncated = true;
            return;
        }
        r->trace = v;
        s->trace_cap = cap;
    }
    r->trace[r->trace_len++] = (struct rt_sim_trace_line){
        .t = t,
        .client = (uint32_t)(i / s->trace_stride),
        .kind = (uint8_t)kind,
        .s2c = s2c,
        .bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes,
        .msg = msg,
    };
}

/* Lines are recorded when the engine handles an event, which can be before
 * the moment they describe (an answer is recorded when the server sends it,
 * with the time it arrives): a stable merge sort puts them in time order and
 * keeps the recording order among equal times. */
static void sort_trace(struct rt_sim_trace_line *v, struct rt_sim_trace_line *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_trace(v, tmp, h);
    sort_trace(v + h, tmp, n - h);
    size_t a = 0, b = h, k = 0;
    while (a < h && b < n)
        tmp[k++] = v[b].t < v[a].t ? v[b++] : v[a++];
    while (a < h)
        tmp[k++] = v[a++];
    memcpy(v, tmp, k * sizeof *v);
}

/* ---- Topics ---------------------------------------------------------------------- */

int sim_deal_topics(struct sim *s, uint32_t **out)
{
    uint64_t n = s->c->clients;
    *out = NULL;
    if (s->c->topics == 1)
        return 0;
    uint32_t *topic = malloc(n * sizeof *topic);
    if (!topic)
        return RT_SIM_ENOMEM;
    s->model_bytes += n * sizeof *topic;
    for (uint64_t i = 0; i < n; i++)
        topic[i] = (uint32_t)(i % s->c->topics);
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = rt_rng_below(&s->rng, i + 1);
        uint32_t t = topic[i];
        topic[i] = topic[j];
        topic[j] = t;
    }
    *out = topic;
    return 0;
}

/* ---- Set-up and the end ---------------------------------------------------------- */

int sim_net_init(struct sim *s)
{
    const struct rt_sim_config *c = s->c;
    struct rt_sim_report *r = s->r;
    if (c->rtt_sigma > 0) {
        s->rtt_of = malloc(c->clients * sizeof *s->rtt_of);
        if (!s->rtt_of)
            return RT_SIM_ENOMEM;
        /* lognormal: median rtt_ms; a normal from two uniforms (Box-Muller) */
        for (uint64_t i = 0; i < c->clients; i++) {
            double u1 = 1.0 - rt_rng_unit(&s->rng), u2 = rt_rng_unit(&s->rng);
            double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
            double us = c->rtt_ms * 1e3 * exp(c->rtt_sigma * z);
            s->rtt_of[i] = us < 6e7 ? (uint32_t)us : 60000000u;
        }
        s->model_bytes += c->clients * sizeof *s->rtt_of;
    }
    if (c->restart_at_s >= 0) {
        s->restart_at = (rt_sim_time)(c->restart_at_s * 1e6);
        s->restart_down = (rt_sim_time)(c->restart_down_s * 1e6);
        s->restart_every = (rt_sim_time)(c->restart_every_s * 1e6);
    } else {
        s->restart_at = UINT64_MAX;
    }
    if (c->slow_share > 0)
        s->slow_cut = (uint64_t)(c->slow_share * 4294967296.0);
    /* The series: one step per second, or coarser to stay within the cap. */
    double step_s = 1;
    while (c->duration_s / step_s > RT_SIM_SERIES_MAX)
        step_s *= 2;
    s->series_step = (rt_sim_time)(step_s * 1e6);
    s->series_k = 0;
    s->series_next = s->series_step;
    r->series_step_s = step_s;
    r->series_len = (size_t)ceil(c->duration_s / step_s);
    r->series_requests = calloc(r->series_len, sizeof *r->series_requests);
    r->series_connects = calloc(r->series_len, sizeof *r->series_connects);
    if (!r->series_requests || !r->series_connects)
        return RT_SIM_ENOMEM;
    if (c->trace_clients > 0) {
        s->trace_count = c->trace_clients < c->clients ? c->trace_clients : c->clients;
        s->trace_stride = c->clients / s->trace_count;
    }
    return 0;
}

void sim_net_finish(struct sim *s)
{
    struct rt_sim_report *r = s->r;
    conn_step(s, s->end);
    r->connections = s->conn_area / (double)s->end;
    uint32_t peak_req = 0, peak_conn = 0;
    for (size_t k = 0; k < r->series_len; k++) {
        if (r->series_requests[k] > peak_req)
            peak_req = r->series_requests[k];
        if (r->series_connects[k] > peak_conn)
            peak_conn = r->series_connects[k];
    }
    r->peak_requests_per_s = peak_req / r->series_step_s;
    r->peak_connects_per_s = peak_conn / r->series_step_s;
    if (r->trace_len > 1) {
        struct rt_sim_trace_line *tmp = malloc(r->trace_len * sizeof *tmp);
        if (tmp)
            sort_trace(r->trace, tmp, r->trace_len);
        else
            r->trace_len = 0; /* cannot sort: better none than out of order */
        free(tmp);
    }
}

void sim_net_free(struct sim *s)
{
    free(s->rtt_of);
    free(s->deferred);
    s->rtt_of = NULL;
    s->deferred = NULL;
}
