/*
 * short_poll.c - the short-polling model.
 *
 * THE IDEA. Every client asks "anything after id N?" on a timer, and the
 * server answers at once, with the messages or with 204 No Content. As in
 * `rtlab client short`, the timer starts when the answer arrives:
 *
 *     client                         server
 *       |---- GET /poll?since=N ------>|   one-way delay rtt/2
 *       |<--- 200 [msgs] or 204 -------|   rtt/2
 *       |  ... interval T ...          |
 *       |---- GET /poll?since=N' ----->|
 *
 * so a client's requests are T + rtt apart. The model keeps one event per
 * client: its next request reaching the server. The server reads the topic
 * there and then; the answer, and its messages, reach the client rtt/2
 * later. A message published just after a request waits a whole T + rtt for
 * the next one, one published just before waits nothing: T/2 on average
 * (plus rtt/2 on the way down, and rtt/2 more from the spacing), the closed
 * form the tests check.
 *
 * CLIENT STATE. A uint32 per client, its cursor (the `since` it sends), and
 * with more than one topic a uint32 for its topic; the next request's time
 * lives in the event queue. 4 or 8 bytes a client, plus its one event (16
 * bytes) in the queue.
 *
 * CONNECTIONS. As in the push models, the run starts in the steady state:
 * each client has polled before, so its first poll of the run finds its
 * connection open. The client keeps its connection alive between polls, as
 * ours does, while the interval is shorter than the server's idle timeout
 * (60 s) and any load balancer's (--lb-idle); otherwise the connection is
 * closed while it waits and every poll pays a TCP handshake. A server
 * restart closes every connection, and polls while it is down are refused:
 * the client then waits as its reconnect policy says before it tries again.
 * A silent link drop (--drop-mean) is found by the next poll, which hangs
 * until the client's request timeout (10 s, RT_CLIENT_REQUEST_TIMEOUT_MS)
 * and is retried on a new connection after the policy's delay.
 *
 * WE SIMPLIFIED. A client's requests all take its rtt; a handshake's extra
 * round trip is counted in bytes and energy but not added to the latency.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "rt_limits.h"

enum { EV_POLL = EV_MODEL };

/* A client's link, one byte: */
#define SP_OPEN 0x80u /* it has a keep-alive connection open */
#define SP_DEAD 0x40u /* which a drop has silently broken */
#define SP_FAILS 0x3fu /* failures in a row, for the reconnect policy */

struct short_poll {
    uint32_t *since;     /* per client: the id of the last message it has */
    uint32_t *topic;     /* per client: the topic it follows (NULL: only one) */
    uint8_t *link;       /* per client: SP_ flags */
    rt_sim_time interval; /* T */
    bool keep_alive;     /* the connection outlives the interval */
    rt_sim_time idle_limit; /* how long an idle connection lives (server, LB) */
};

enum { EV_DROP = EV_POLL + 1, EV_UP };

/*
 * Random phases, numbered in order. Each client's first request leaves at a
 * phase drawn uniformly from [0, T), independently (or at 0 for everyone
 * with --sync). Which client gets which phase does not matter, as long as
 * the topics are dealt at random too, so we number the clients in phase
 * order: then the clients due in one window of the event queue are
 * neighbours in memory, and a million-client run reads its arrays in order
 * instead of missing the cache on every event (it runs about twice as fast).
 *
 * Sorted uniforms come out without sorting: if E_0 .. E_N are independent
 * exponentials and S_k = E_0 + .. + E_k, then S_0/S_N, .., S_(N-1)/S_N are
 * distributed as N sorted independent uniforms (Devroye, "Non-Uniform
 * Random Variate Generation", 1986, section V.2). We draw the E_k twice from
 * the same PRNG state: once for S_N, once to place the clients.
 *
 * The topics are dealt at random (sim_deal_topics): every topic has its share
 * of the clients, at phases as independent as if each client had been drawn
 * on its own.
 */
static int sp_place(struct sim *s, struct short_poll *sp, rt_sim_time interval)
{
    uint64_t n = s->c->clients;
    if (sim_deal_topics(s, &sp->topic) != 0)
        return RT_SIM_ENOMEM;
    if (s->c->sync) {
        for (uint64_t i = 0; i < n; i++)
            sim_at(s, sim_rtt(s, i) / 2, EV(EV_POLL, i));
        return 0;
    }
    struct rt_rng replay = s->rng;
    double total = 0;
    for (uint64_t i = 0; i <= n; i++)
        total += -log(1.0 - rt_rng_unit(&s->rng));
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += -log(1.0 - rt_rng_unit(&replay));
        rt_sim_time phase = (rt_sim_time)(sum / total * (double)interval);
        sim_at(s, (phase < interval ? phase : interval - 1) + sim_rtt(s, i) / 2, EV(EV_POLL, i));
    }
    return 0;
}

static int sp_start(struct sim *s)
{
    struct short_poll *sp = calloc(1, sizeof *sp);
    if (!sp)
        return RT_SIM_ENOMEM;
    s->state = sp;
    sp->since = calloc(s->c->clients, sizeof *sp->since);
    if (!sp->since)
        return RT_SIM_ENOMEM;
    sp->link = calloc(s->c->clients, sizeof *sp->link);
    if (!sp->link)
        return RT_SIM_ENOMEM;
    s->model_bytes = s->c->clients * (sizeof *sp->since + sizeof *sp->link);
    rt_sim_time interval = (rt_sim_time)(s->c->interval_s * 1e6);
    if (interval == 0)
        interval = 1;
    sp->interval = interval;
    double idle = RT_IDLE_TIMEOUT_MS / 1e3;
    if (s->c->lb_idle_s > 0 && s->c->lb_idle_s < idle)
        idle = s->c->lb_idle_s;
    sp->idle_limit = (rt_sim_time)(idle * 1e6);
    sp->keep_alive = interval < sp->idle_limit;
    for (uint64_t i = 0; i < s->c->clients; i++) {
        if (sp->keep_alive) { /* the steady state: connected before the run */
            sp->link[i] = SP_OPEN;
            sim_conn_open(s, 0);
        }
        if (s->c->drop_mean_s > 0)
            sim_at(s, sim_exp_delay(&s->rng, 1 / s->c->drop_mean_s), EV(EV_DROP, i));
        if (s->c->upstream_rate > 0)
            sim_at(s, sim_exp_delay(&s->rng, s->c->upstream_rate), EV(EV_UP, i));
    }
    return sp_place(s, sp, interval);
}

static uint32_t topic_of(const struct short_poll *sp, uint64_t i)
{
    return sp->topic ? sp->topic[i] : 0;
}

/* Client i's connection before a request leaves at t: opens one if it has
 * none (a handshake). Returns the bytes the client sends for it. */
static uint64_t sp_connect(struct sim *s, struct short_poll *sp, uint64_t i, rt_sim_time t)
{
    if (sp->link[i] & SP_OPEN)
        return 0;
    uint64_t bytes = sim_handshake(s, t);
    sim_trace(s, i, t, RT_TR_CONNECT, false, bytes, 0);
    if (sp->keep_alive) {
        sp->link[i] |= SP_OPEN;
        sim_conn_open(s, t);
    }
    return bytes;
}

/* The poll reaching the server at now failed (refused, or lost on a dead
 * link and timed out at `noticed`): try again after the policy's delay. */
static void sp_retry(struct sim *s, struct short_poll *sp, uint64_t i, rt_sim_time noticed,
                     uint64_t data)
{
    unsigned k = sp->link[i] & SP_FAILS;
    if (k < SP_FAILS)
        sp->link[i]++;
    sim_trace(s, i, noticed, RT_TR_DISCONNECT, true, 0, 0);
    sim_at(s, noticed + sim_reconnect_delay(s, k) + sim_rtt(s, i) / 2, data);
}

/* A request reaches the server: answer it, and send the next one. */
static void sp_poll(struct sim *s, struct short_poll *sp, rt_sim_time now, uint64_t data)
{
    uint64_t i = EV_CLIENT(data);
    const struct rt_sim_config *c = s->c;
    rt_sim_time rtt = sim_rtt(s, i), sent = now - rtt / 2;
    if (sp->link[i] & SP_DEAD) { /* hangs until the client gives up */
        sp->link[i] &= (uint8_t)~(SP_DEAD | SP_OPEN);
        sim_conn_close(s, now);
        s->r->drops++;
        sim_radio(s, i, sent, sim_write(s, false, c->request_bytes + c->header_extra_bytes, false),
                  0);
        sp_retry(s, sp, i, sent + RT_CLIENT_REQUEST_TIMEOUT_MS * 1000u, data);
        return;
    }
    if (!sim_server_up(s, now)) {
        sim_refused(s, sent);
        sim_radio(s, i, sent, 0, 0);
        rt_sim_time back = rtt - rtt / 2; /* the refusal's way back */
        sp_retry(s, sp, i, now + (back > SIM_REFUSED_MIN ? back : SIM_REFUSED_MIN), data);
        return;
    }
    uint32_t topic = topic_of(sp, i);
    struct rt_sim_report *r = s->r;
    uint64_t up = sp_connect(s, sp, i, sent);
    sim_count_request(s, now);
    uint64_t req = c->request_bytes + c->header_extra_bytes;
    up += sim_write(s, false, req, false);
    sim_trace(s, i, sent, RT_TR_REQUEST, false, req, 0);
    uint64_t gap = s->topics[topic].last_id - sp->since[i];
    uint64_t down = sim_poll_answer(c, gap);
    rt_sim_time back = now + (rtt - rtt / 2);
    if (sim_slow(s, i)) /* the answer takes its size / slow_bytes_per_s to arrive */
        back += (rt_sim_time)((double)down / c->slow_bytes_per_s * 1e6);
    bool reset;
    uint64_t n = sim_deliver(s, topic, &sp->since[i], back, &reset);
    if (n == 0 && !reset)
        r->empty++;
    sp->link[i] &= (uint8_t)~SP_FAILS;
    uint64_t wire = sim_write(s, true, down, true);
    sim_trace(s, i, back, n ? RT_TR_RESPONSE : RT_TR_EMPTY, true, down, n ? sp->since[i] : 0);
    /* The phone's radio: the request left rtt/2 ago, the answer lands rtt/2
     * from now; two transfers, so the wait between them is at tail power. */
    sim_radio(s, i, sent, up, 0);
    sim_radio(s, i, back, 0, wire);
    if (!sp->keep_alive) /* this poll's own connection, closed when idle */
        sim_conn_span(s, sent, back + sp->idle_limit);
    sim_at(s, back + sp->interval + rtt / 2, data);
}

/* A client sends a message up: POST /publish on its connection. */
static void sp_upstream(struct sim *s, struct short_poll *sp, rt_sim_time now, uint64_t i)
{
    const struct rt_sim_config *c = s->c;
    sim_at(s, now + sim_exp_delay(&s->rng, c->upstream_rate), EV(EV_UP, i));
    if (!sim_server_up(s, now) || (sp->link[i] & SP_DEAD))
        return; /* refused or lost: the client's own retry is not modelled */
    rt_sim_time rtt = sim_rtt(s, i);
    uint64_t up = sp_connect(s, sp, i, now);
    uint64_t req = POST_REQUEST_BYTES + c->header_extra_bytes + c->payload_bytes;
    up += sim_write(s, false, req, false);
    uint64_t down = sim_write(s, true, POST_ANSWER_BYTES, true);
    sim_count_request(s, now + rtt / 2);
    s->r->upstream++;
    sim_trace(s, i, now, RT_TR_PUBLISH, false, req, 0);
    sim_radio(s, i, now, up, 0);
    sim_radio(s, i, now + rtt, 0, down);
    if (!sp->keep_alive)
        sim_conn_span(s, now, now + rtt + sp->idle_limit);
}

static void sp_on_event(struct sim *s, rt_sim_time now, uint64_t data)
{
    struct short_poll *sp = s->state;
    uint64_t i = EV_CLIENT(data);
    switch (EV_KIND(data)) {
    case EV_POLL:
        sp_poll(s, sp, now, data);
        break;
    case EV_DROP: /* the link dies; the client finds out at its next poll */
        if (sp->link[i] & SP_OPEN)
            sp->link[i] |= SP_DEAD;
        sim_at(s, now + sim_exp_delay(&s->rng, 1 / s->c->drop_mean_s), data);
        break;
    default:
        sp_upstream(s, sp, now, i);
    }
}

/* The server goes down: every kept-alive connection closes. */
static void sp_restart(struct sim *s, rt_sim_time now)
{
    struct short_poll *sp = s->state;
    for (uint64_t i = 0; i < s->c->clients; i++) {
        if (sp->link[i] & SP_OPEN) {
            sp->link[i] &= (uint8_t)~(SP_OPEN | SP_DEAD);
            sim_conn_close(s, now);
            s->r->drops++;
        }
    }
}

/* What is still on the server unfetched at the end. */
static void sp_finish(struct sim *s)
{
    struct short_poll *sp = s->state;
    for (uint64_t i = 0; i < s->c->clients; i++)
        s->r->in_flight += s->topics[topic_of(sp, i)].last_id - sp->since[i];
}

static void sp_free(struct sim *s)
{
    struct short_poll *sp = s->state;
    if (sp) {
        free(sp->since);
        free(sp->topic);
        free(sp->link);
    }
    free(sp);
    s->state = NULL;
}

const struct sim_model sim_short_poll = {
    .start = sp_start,
    .on_event = sp_on_event,
    .on_restart = sp_restart,
    .finish = sp_finish,
    .free = sp_free,
};
