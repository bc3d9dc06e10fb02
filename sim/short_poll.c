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
 * WE SIMPLIFIED. Every request takes the same rtt; no request fails; the
 * connection is kept alive between polls (our client does, and the server's
 * idle timeout, 60 s, is longer than the usual interval).
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

enum { EV_POLL = EV_MODEL };

/* The body of a reset answer, {"reset":true,"next":N}, with a two-digit N
 * (servers/harness/server.c writes it). */
#define RESET_BODY_BYTES 24

struct short_poll {
    uint32_t *since;     /* per client: the id of the last message it has */
    uint32_t *topic;     /* per client: the topic it follows (NULL: only one) */
    rt_sim_time spacing; /* from one request to the next: T + rtt */
};

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
 * The topics are the round-robin deal i mod K, shuffled (Fisher-Yates): every
 * topic has its share of the clients, at phases as independent as if each
 * client had been drawn on its own.
 */
static int sp_place(struct sim *s, struct short_poll *sp, rt_sim_time interval)
{
    uint64_t n = s->c->clients;
    if (s->c->topics > 1) {
        sp->topic = malloc(n * sizeof *sp->topic);
        if (!sp->topic)
            return RT_SIM_ENOMEM;
        s->model_bytes += n * sizeof *sp->topic;
        for (uint64_t i = 0; i < n; i++)
            sp->topic[i] = (uint32_t)(i % s->c->topics);
        for (uint64_t i = n - 1; i > 0; i--) {
            uint64_t j = rt_rng_below(&s->rng, i + 1);
            uint32_t t = sp->topic[i];
            sp->topic[i] = sp->topic[j];
            sp->topic[j] = t;
        }
    }
    if (s->c->sync) {
        for (uint64_t i = 0; i < n; i++)
            sim_at(s, s->rtt / 2, EV(EV_POLL, i));
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
        sim_at(s, (phase < interval ? phase : interval - 1) + s->rtt / 2, EV(EV_POLL, i));
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
    s->model_bytes = s->c->clients * sizeof *sp->since;
    rt_sim_time interval = (rt_sim_time)(s->c->interval_s * 1e6);
    if (interval == 0)
        interval = 1;
    sp->spacing = interval + s->rtt;
    return sp_place(s, sp, interval);
}

static uint32_t topic_of(const struct short_poll *sp, uint64_t i)
{
    return sp->topic ? sp->topic[i] : 0;
}

/* A request reaches the server: answer it, and send the next one. */
static void sp_on_event(struct sim *s, rt_sim_time now, uint64_t data)
{
    struct short_poll *sp = s->state;
    uint64_t i = EV_CLIENT(data);
    const struct rt_sim_config *c = s->c;
    uint32_t topic = topic_of(sp, i);
    struct rt_sim_report *r = s->r;
    r->requests++;
    r->bytes_up += c->request_bytes;
    bool reset;
    rt_sim_time back = now + (s->rtt - s->rtt / 2);
    uint64_t n = sim_deliver(s, topic, &sp->since[i], back, &reset);
    uint64_t down;
    if (reset) {
        down = c->answer_bytes + RESET_BODY_BYTES;
    } else if (n == 0) {
        r->empty++;
        down = c->empty_bytes;
    } else {
        down = c->answer_bytes + c->envelope_bytes +
               n * (uint64_t)(c->message_bytes + c->payload_bytes);
    }
    r->bytes_down += down;
    /* The phone's radio: the request left rtt/2 ago, the answer lands rtt/2
     * from now; two transfers, so the wait between them is at tail power. */
    sim_radio(s, i, now - s->rtt / 2, c->request_bytes, 0);
    sim_radio(s, i, back, 0, down);
    sim_at(s, now + sp->spacing, data);
}

/* What is still on the server unfetched at the end, and the connections. */
static void sp_finish(struct sim *s)
{
    struct short_poll *sp = s->state;
    for (uint64_t i = 0; i < s->c->clients; i++)
        s->r->in_flight += s->topics[topic_of(sp, i)].last_id - sp->since[i];
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
    if (sp) {
        free(sp->since);
        free(sp->topic);
    }
    free(sp);
    s->state = NULL;
}

const struct sim_model sim_short_poll = {sp_start, sp_on_event, sp_finish, sp_free};
