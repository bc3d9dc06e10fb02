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
 * CLIENT STATE. One uint32 per client, its cursor (the `since` it sends):
 * the topic is the client number modulo the topic count, and the next
 * request time lives in the event queue. 4 bytes a client, plus its one
 * event in the queue.
 *
 * WE SIMPLIFIED. Every request takes the same rtt; no request fails; the
 * connection is kept alive between polls (our client does, and the server's
 * idle timeout, 60 s, is longer than the usual interval).
 */
#include <stdlib.h>

#include "internal.h"

enum { EV_POLL = EV_MODEL };

struct short_poll {
    uint32_t *since;     /* per client: the id of the last message it has */
    rt_sim_time spacing; /* from one request to the next: T + rtt */
};

static int sp_start(struct sim *s)
{
    struct short_poll *sp = calloc(1, sizeof *sp);
    if (!sp)
        return RT_SIM_ENOMEM;
    s->state = sp;
    sp->since = calloc(s->c->clients, sizeof *sp->since);
    if (!sp->since)
        return RT_SIM_ENOMEM;
    s->model_bytes = s->c->clients * sizeof *sp->since;
    rt_sim_time interval = (rt_sim_time)(s->c->interval_s * 1e6);
    sp->spacing = interval + s->rtt;
    /* Each client's first request leaves at a random phase in [0, T), or at
     * 0 for all of them with --sync, and reaches the server rtt/2 later. */
    for (uint64_t i = 0; i < s->c->clients; i++) {
        rt_sim_time phase = s->c->sync ? 0 : rt_rng_below(&s->rng, interval);
        sim_at(s, phase + s->rtt / 2, EV(EV_POLL, i));
    }
    return 0;
}

/* A request reaches the server: answer it, and send the next one. */
static void sp_on_event(struct sim *s, rt_sim_time now, uint64_t data)
{
    struct short_poll *sp = s->state;
    uint64_t i = EV_CLIENT(data);
    const struct rt_sim_config *c = s->c;
    uint32_t topic = (uint32_t)(i % c->topics);
    struct rt_sim_report *r = s->r;
    r->requests++;
    r->bytes_up += c->request_bytes;
    uint64_t n = sim_deliver(s, topic, &sp->since[i], now + (s->rtt - s->rtt / 2));
    if (n == 0) {
        r->empty++;
        r->bytes_down += c->empty_bytes;
    } else {
        r->bytes_down += c->answer_bytes + c->envelope_bytes +
                         n * (uint64_t)(c->message_bytes + c->payload_bytes);
    }
    sim_at(s, now + sp->spacing, data);
}

/* What is still on the server unfetched at the end, and the connections. */
static void sp_finish(struct sim *s)
{
    struct short_poll *sp = s->state;
    for (uint64_t i = 0; i < s->c->clients; i++)
        s->r->in_flight += s->topics[i % s->c->topics].last_id - sp->since[i];
    /* Keep-alive: each client holds its connection between polls while the
     * server's idle timeout (60 s) outlasts the interval; past that, it
     * reconnects for every poll and holds one only for a round trip. */
    double spacing = (double)sp->spacing / 1e6;
    s->r->connections = s->c->interval_s < 60
                            ? (double)s->c->clients
                            : (double)s->c->clients * (s->c->rtt_ms / 1e3) / spacing;
}

static void sp_free(struct sim *s)
{
    struct short_poll *sp = s->state;
    if (sp)
        free(sp->since);
    free(sp);
    s->state = NULL;
}

const struct sim_model sim_short_poll = {sp_start, sp_on_event, sp_finish, sp_free};
