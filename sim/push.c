/*
 * push.c - the three approaches in which the server answers the moment a
 * message is published: long polling, Server-Sent Events and WebSocket.
 *
 * THE IDEA. The client leaves something open on the server, and a publish
 * on its topic walks the topic's list of open things and writes to each:
 *
 *   long polling   a held GET /poll: the publish answers it (the client
 *                  sends the next poll gap ms after the answer), or the
 *                  timeout answers 204 after timeout_s
 *   SSE            an open GET /events stream: each message is an event,
 *                  and one server-wide timer writes a ":" comment to every
 *                  stream each heartbeat (15 s)
 *   WebSocket      an upgraded connection subscribed to the topic: each
 *                  message is a frame; the server pings every heartbeat
 *                  (30 s) and the client answers pong
 *
 * So a message reaches a connected client rtt/2 after it is published, and
 * the cost is what is held open and the bytes around each message.
 *
 * A CLIENT'S LIFE (one state per client; the engine drives the clock):
 *
 *   OFF --send--> SENT --arrive--> HELD (long) / LIVE (sse, ws)
 *    ^                               |  publish: long answers, then WAIT --send--> SENT
 *    |                               |  timeout (long): 204, then WAIT
 *    +--- reconnect policy delay ----+  restart, load balancer idle kill, send
 *    |                                  queue overflow: the client is told
 *    +------ DEAD <-- silent link drop: the client is not told; it finds out
 *                     by its watchdog (2.5 heartbeats of silence; long
 *                     polling: its request timeout, hold + 10 s)
 *
 * After a loss the client comes back with its cursor (since / Last-Event-ID),
 * so it gets what it missed: nothing lost while the topic's ring holds it,
 * nothing twice.
 *
 * The run starts in the steady state: every client is connected (its
 * handshake before the run), and a long poll is held with a random part of
 * its timeout left, so the figures are not those of a crowd arriving.
 *
 * Events are cancelled by generation (EVG in internal.h): leaving HELD or
 * LIVE, or losing the connection, moves the client's generation on, and the
 * events it had pending (a timeout, an idle check) are ignored when they
 * come up.
 *
 * WE SIMPLIFIED. The server forgets a dead connection at once (a real one
 * keeps writing to it until TCP gives up); a message sent up while the
 * client is not connected is not sent (a real client would queue it); the
 * 101 and the SSE answer head are charged to the radio when the subscription
 * starts.
 */
#include <stdlib.h>

#include "internal.h"
#include "rt_limits.h"

enum { EV_SEND = EV_MODEL, EV_ARRIVE, EV_TIMEOUT, EV_DETECT, EV_DROP, EV_UP, EV_IDLE, EV_CPING };

enum { ST_OFF, ST_SENT, ST_HELD, ST_WAIT, ST_LIVE, ST_DEAD };

#define NONE UINT32_MAX
#define PC_CONN 0x80u  /* a TCP connection is open */
#define PC_FAILS 0x3fu /* failures in a row, for the reconnect policy */

/* One client: 16 bytes, read together on every push. */
struct pc {
    uint32_t since;      /* the id of the last message it has */
    uint32_t next, prev; /* its place in its topic's list (held polls, live streams) */
    uint16_t gen;        /* pending events carry it; a change cancels them */
    uint8_t state;       /* ST_ */
    uint8_t flags;       /* PC_ */
};

struct push {
    struct pc *c;
    uint32_t *topic;       /* per client (NULL: one topic) */
    uint32_t *head;        /* per topic: the first client of its list */
    rt_sim_time *last;     /* per client: its last byte sent or received */
    rt_sim_time *busy;     /* per client: a slow reader's download is busy until (or NULL) */
    rt_sim_time *last_post; /* per client: its last POST /publish (or NULL) */
    rt_sim_time timeout, gap, lb_idle, idle_limit;
    rt_sim_time watchdog; /* how long a client waits in silence (0: forever) */
};

static uint32_t topic_of(const struct push *p, uint64_t i)
{
    return p->topic ? p->topic[i] : 0;
}

/* ---- The topic lists ---------------------------------------------------------- */

static void list_add(struct push *p, uint64_t i)
{
    uint32_t *head = &p->head[topic_of(p, i)];
    p->c[i].prev = NONE;
    p->c[i].next = *head;
    if (*head != NONE)
        p->c[*head].prev = (uint32_t)i;
    *head = (uint32_t)i;
}

static void list_remove(struct push *p, uint64_t i)
{
    struct pc *c = &p->c[i];
    if (c->prev != NONE)
        p->c[c->prev].next = c->next;
    else
        p->head[topic_of(p, i)] = c->next;
    if (c->next != NONE)
        p->c[c->next].prev = c->prev;
    c->next = c->prev = NONE;
}

/* ---- Sizes ------------------------------------------------------------------------ */

/* The request that opens a subscription or a poll, as the client sends it. */
static uint64_t request_bytes(const struct sim *s, const struct pc *c)
{
    switch (s->c->approach) {
    case RT_SIM_LONG:
        return s->c->request_bytes + LONG_REQUEST_EXTRA + s->c->header_extra_bytes;
    case RT_SIM_SSE:
        return SSE_REQUEST_BYTES + (c->since ? SSE_RESUME_EXTRA : 0) + s->c->header_extra_bytes;
    default:
        return WS_UPGRADE_BYTES + s->c->header_extra_bytes;
    }
}

/* One message pushed on a stream. */
static uint64_t push_bytes(const struct sim *s)
{
    uint64_t json = s->c->message_bytes + s->c->payload_bytes;
    return s->c->approach == RT_SIM_SSE ? json + SSE_EVENT_EXTRA
                                        : ws_frame(json + WS_MESSAGE_EXTRA, false);
}


/* ---- Connecting and losing the connection ---------------------------------------- */

/* Client i goes: its next request leaves at t (gen is already current). */
static void send_at(struct sim *s, struct push *p, uint64_t i, rt_sim_time t)
{
    struct pc *c = &p->c[i];
    c->state = ST_OFF;
    sim_at(s, t, EVG(EV_SEND, i, c->gen));
}

/* Client i has lost its connection at now and knows it at `known`: it
 * reconnects after its policy's delay. */
static void lost(struct sim *s, struct push *p, uint64_t i, rt_sim_time now, rt_sim_time known)
{
    struct pc *c = &p->c[i];
    if (c->state == ST_HELD || c->state == ST_LIVE)
        list_remove(p, i);
    if (c->flags & PC_CONN) {
        c->flags &= (uint8_t)~PC_CONN;
        sim_conn_close(s, now);
    }
    c->gen++;
    s->r->drops++;
    sim_trace(s, i, known, RT_TR_DISCONNECT, true, 0, 0);
    unsigned k = c->flags & PC_FAILS;
    if (k < PC_FAILS)
        c->flags++;
    send_at(s, p, i, known + sim_reconnect_delay(s, k));
}

/* The request (or handshake, upgrade) leaves client i at now. */
static void on_send(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    struct pc *c = &p->c[i];
    const struct rt_sim_config *cf = s->c;
    rt_sim_time rtt = sim_rtt(s, i), arrive = now + rtt / 2;
    uint64_t up = 0, down = 0;
    if ((c->flags & PC_CONN) && now - p->last[i] >= p->idle_limit) {
        /* kept alive between polls, but idle long enough for the server or
         * the load balancer to have closed it */
        c->flags &= (uint8_t)~PC_CONN;
        sim_conn_close(s, p->last[i] + p->idle_limit);
    }
    if (!(c->flags & PC_CONN)) {
        if (!sim_server_up(s, now + rtt / 2)) {
            sim_refused(s, now);
            sim_radio(s, i, now, 0, 0);
            unsigned k = c->flags & PC_FAILS;
            if (k < PC_FAILS)
                c->flags++;
            rt_sim_time refused = rtt > SIM_REFUSED_MIN ? rtt : SIM_REFUSED_MIN;
            send_at(s, p, i, now + refused + sim_reconnect_delay(s, k));
            return;
        }
        up += sim_handshake(s, now);
        sim_trace(s, i, now, (c->flags & PC_FAILS) ? RT_TR_RECONNECT : RT_TR_CONNECT, false, 0,
                  0);
        c->flags |= PC_CONN;
        sim_conn_open(s, now);
        arrive += rtt; /* the request goes after the handshake's round trip */
    }
    uint64_t req = request_bytes(s, c);
    up += sim_write(s, false, req, false);
    sim_trace(s, i, arrive - rtt / 2, RT_TR_REQUEST, false, req, 0);
    if (cf->approach == RT_SIM_WS) { /* 101, then the subscribe frame */
        down = sim_write(s, true, WS_ACCEPT_BYTES, true);
        uint64_t sub = ws_frame(WS_SUBSCRIBE_BYTES, true);
        up += sim_write(s, false, sub, true);
        arrive += rtt;
    }
    sim_radio(s, i, now, up, 0);
    if (down)
        sim_radio(s, i, arrive - rtt / 2, 0, down);
    sim_count_request(s, now + rtt / 2);
    p->last[i] = now;
    c->state = ST_SENT;
    sim_at(s, arrive, EVG(EV_ARRIVE, i, c->gen));
}

/* ---- Delivering -------------------------------------------------------------------- */

/* A long poll answered at now (the server's time): what it carries, the
 * radio, and the next poll gap after it lands. */
static void answer(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    struct pc *c = &p->c[i];
    rt_sim_time rtt = sim_rtt(s, i), back = now + (rtt - rtt / 2);
    uint32_t topic = topic_of(p, i);
    uint64_t gap = s->topics[topic].last_id - c->since;
    uint64_t bytes = sim_poll_answer(s->c, gap);
    if (p->busy && sim_slow(s, i))
        back += (rt_sim_time)((double)bytes / s->c->slow_bytes_per_s * 1e6);
    bool reset;
    uint64_t n = sim_deliver(s, topic, &c->since, back, &reset);
    if (n == 0 && !reset) {
        s->r->empty++;
        sim_trace(s, i, back, RT_TR_TIMEOUT, true, bytes, 0);
    } else {
        sim_trace(s, i, back, RT_TR_RESPONSE, true, bytes, c->since);
    }
    uint64_t wire = sim_write(s, true, bytes, true);
    sim_radio(s, i, back, 0, wire);
    c->flags &= (uint8_t)~PC_FAILS;
    c->gen++; /* cancels the timeout and the idle check */
    c->state = ST_WAIT;
    p->last[i] = back;
    sim_at(s, back + p->gap, EVG(EV_SEND, i, c->gen));
}

/* When bytes written on client i's stream, arriving from `at` at full
 * speed, have all arrived: a slow reader's download queues behind what it
 * has not read yet. */
static rt_sim_time arrival(struct sim *s, struct push *p, uint64_t i, rt_sim_time at,
                           uint64_t bytes)
{
    if (!p->busy || !sim_slow(s, i))
        return at;
    rt_sim_time start = p->busy[i] > at ? p->busy[i] : at;
    p->busy[i] = start + (rt_sim_time)((double)bytes / s->c->slow_bytes_per_s * 1e6);
    return p->busy[i];
}

/* n messages (the newest of client i's topic) pushed on its stream at now. */
static void push(struct sim *s, struct push *p, uint64_t i, uint64_t n, rt_sim_time now)
{
    struct pc *c = &p->c[i];
    rt_sim_time at = now + sim_rtt(s, i) / 2;
    uint64_t bytes = n * push_bytes(s);
    if (p->busy && sim_slow(s, i) && p->busy[i] > at &&
        (double)(p->busy[i] - at) * s->c->slow_bytes_per_s / 1e6 + (double)bytes >
            s->c->send_queue) {
        /* the server closes the stream; the client sees the close when what
         * was queued has drained, then resumes from its cursor */
        list_remove(p, i);
        c->state = ST_DEAD;
        c->gen++;
        c->flags &= (uint8_t)~PC_CONN;
        sim_conn_close(s, now);
        sim_at(s, p->busy[i], EVG(EV_DETECT, i, c->gen));
        return;
    }
    at = arrival(s, p, i, at, bytes);
    /* a live stream gets each message as it is published: no ring to fall
     * out of, however large the burst */
    uint32_t topic = topic_of(p, i);
    c->since = (uint32_t)s->topics[topic].last_id;
    sim_deliver_many(s, topic, n, at, 1);
    uint64_t wire = 0;
    for (uint64_t m = 0; m < n; m++)
        wire += sim_write(s, true, bytes / n, true);
    sim_trace(s, i, at, RT_TR_EVENT, true, bytes, c->since);
    sim_radio(s, i, at, 0, wire);
    p->last[i] = now;
}

/* The subscription or poll reaches the server at now. */
static void on_arrive(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    struct pc *c = &p->c[i];
    const struct rt_sim_config *cf = s->c;
    uint32_t topic = topic_of(p, i);
    p->last[i] = now;
    if (cf->approach == RT_SIM_LONG) {
        if (s->topics[topic].last_id != c->since || p->timeout == 0) {
            answer(s, p, i, now);
            return;
        }
        c->state = ST_HELD;
        list_add(p, i);
        sim_at(s, now + p->timeout, EVG(EV_TIMEOUT, i, c->gen));
    } else {
        /* the answer head (SSE) and what the client missed, then live */
        rt_sim_time at = now + sim_rtt(s, i) / 2;
        uint64_t head = cf->approach == RT_SIM_SSE ? SSE_HEAD_BYTES : 0;
        uint64_t wire = head ? sim_write(s, true, head, true) : 0;
        uint64_t gap = s->topics[topic].last_id - c->since;
        if (p->busy)
            p->busy[i] = 0; /* a new connection: nothing queued on it yet */
        if (gap && gap <= cf->ring)
            at = arrival(s, p, i, at, head + gap * push_bytes(s));
        bool reset;
        uint64_t n = gap ? sim_deliver(s, topic, &c->since, at, &reset) : 0;
        for (uint64_t m = 0; m < n; m++)
            wire += sim_write(s, true, push_bytes(s), true);
        if (wire)
            sim_radio(s, i, at, 0, wire);
        if (n)
            sim_trace(s, i, at, RT_TR_EVENT, true, n * push_bytes(s), c->since);
        c->flags &= (uint8_t)~PC_FAILS;
        c->state = ST_LIVE;
        list_add(p, i);
        if (cf->approach == RT_SIM_WS && s->heartbeat) /* the client's ping timer */
            sim_at(s, at + s->heartbeat, EVG(EV_CPING, i, c->gen));
    }
    if (p->lb_idle)
        sim_at(s, now + p->lb_idle, EVG(EV_IDLE, i, c->gen));
}

static void lp_on_publish(struct sim *s, uint32_t topic, uint32_t n, rt_sim_time now)
{
    struct push *p = s->state;
    (void)n;
    uint32_t i = p->head[topic];
    p->head[topic] = NONE;
    while (i != NONE) {
        uint32_t next = p->c[i].next;
        p->c[i].next = p->c[i].prev = NONE;
        answer(s, p, i, now);
        i = next;
    }
}

/*
 * A publish on a topic with many streams is the simulator's busiest moment,
 * so the clients that share the run's rtt and read at full speed are served
 * together: each one's cursor and radio, then their latencies and bytes
 * counted once for all of them. The others go one by one (push).
 */
static void stream_on_publish(struct sim *s, uint32_t topic, uint32_t n, rt_sim_time now)
{
    struct push *p = s->state;
    uint64_t each = push_bytes(s);
    uint64_t wire = n * (each + (s->c->tcp_overhead
                                     ? TCPIP_HEADER * ((each + SEGMENT_DATA - 1) / SEGMENT_DATA)
                                     : 0));
    uint32_t last_id = (uint32_t)s->topics[topic].last_id;
    rt_sim_time at = now + s->rtt / 2;
    uint64_t together = 0;
    uint32_t i = p->head[topic];
    while (i != NONE) {
        uint32_t next = p->c[i].next; /* push may take i off the list */
        if (s->rtt_of || (p->busy && sim_slow(s, i))) {
            push(s, p, i, n, now);
        } else {
            p->c[i].since = last_id;
            sim_radio(s, i, at, 0, wire);
            sim_trace(s, i, at, RT_TR_EVENT, true, n * each, last_id);
            p->last[i] = now;
            together++;
        }
        i = next;
    }
    if (together) {
        sim_deliver_many(s, topic, n, at, together);
        sim_writes(s, true, each, true, n * together);
    }
}

/* The server's heartbeat: a comment (SSE) or a ping and its pong (WS) on
 * every live stream. */
static void on_heartbeat(struct sim *s, rt_sim_time now)
{
    struct push *p = s->state;
    bool ws = s->c->approach == RT_SIM_WS;
    for (uint64_t i = 0; i < s->c->clients; i++) {
        if (p->c[i].state != ST_LIVE)
            continue;
        uint64_t beat = ws ? WS_PING_BYTES : SSE_COMMENT_BYTES;
        rt_sim_time at = arrival(s, p, i, now + sim_rtt(s, i) / 2, beat);
        uint64_t down = sim_write(s, true, beat, !ws);
        uint64_t up = ws ? sim_write(s, false, WS_PONG_BYTES, true) : 0;
        s->r->heartbeats++;
        sim_trace(s, i, at, RT_TR_PING, true, ws ? WS_PING_BYTES : SSE_COMMENT_BYTES, 0);
        if (ws)
            sim_trace(s, i, at, RT_TR_PONG, false, WS_PONG_BYTES, 0);
        sim_radio(s, i, at, up, down);
        p->last[i] = now;
    }
}

/* A WebSocket client pings too, on its own timer from when it connected
 * (rtlab's client does, every --heartbeat): 14 bytes up, a 10-byte pong
 * down a round trip later. Its timer is not in step with the server's, so
 * on a phone it is a wake-up of its own. */
static void on_client_ping(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    sim_at(s, now + s->heartbeat, EVG(EV_CPING, i, p->c[i].gen));
    if (p->c[i].state != ST_LIVE)
        return;
    rt_sim_time rtt = sim_rtt(s, i);
    uint64_t up = sim_write(s, false, WS_PONG_BYTES, false);
    uint64_t down = sim_write(s, true, WS_PING_BYTES, true);
    sim_trace(s, i, now, RT_TR_PING, false, WS_PONG_BYTES, 0);
    sim_trace(s, i, now + rtt, RT_TR_PONG, true, WS_PING_BYTES, 0);
    sim_radio(s, i, now, up, 0);
    sim_radio(s, i, now + rtt, 0, down);
    p->last[i] = now;
}

/* ---- Failures ------------------------------------------------------------------------ */

/* Client i's link dies without a word at now: it finds out later. */
static void on_drop(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    struct pc *c = &p->c[i];
    sim_at(s, now + sim_exp_delay(&s->rng, 1 / s->c->drop_mean_s), EV(EV_DROP, i));
    if (!(c->flags & PC_CONN) || c->state == ST_DEAD)
        return;
    rt_sim_time known;
    if (s->c->approach == RT_SIM_LONG) /* its request timeout: hold + 10 s */
        known = (c->state == ST_WAIT ? now + p->gap : p->last[i]) + p->timeout +
                RT_CLIENT_REQUEST_TIMEOUT_MS * 1000u;
    else if (c->state == ST_SENT)
        known = p->last[i] + RT_CLIENT_REQUEST_TIMEOUT_MS * 1000u;
    else if (p->watchdog)
        known = p->last[i] + p->watchdog;
    else
        known = UINT64_MAX; /* no heartbeat: it waits forever */
    if (known < now)
        known = now;
    if (c->state == ST_HELD || c->state == ST_LIVE)
        list_remove(p, i);
    c->state = ST_DEAD;
    c->gen++;
    c->flags &= (uint8_t)~PC_CONN;
    sim_conn_close(s, now);
    if (known < s->end)
        sim_at(s, known, EVG(EV_DETECT, i, c->gen));
}

/* The server goes down: every connection closes, and the clients hear it
 * (a FIN) rtt/2 later. Dead links hear nothing; their watchdogs will. */
static void on_restart(struct sim *s, rt_sim_time now)
{
    struct push *p = s->state;
    for (uint64_t i = 0; i < s->c->clients; i++) {
        struct pc *c = &p->c[i];
        if ((c->flags & PC_CONN) && c->state != ST_DEAD)
            lost(s, p, i, now, now + sim_rtt(s, i) / 2);
    }
}

/* A load balancer's idle check: a connection with no byte either way for
 * lb_idle is closed (both ends hear it). */
static void on_idle(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    struct pc *c = &p->c[i];
    if (now - p->last[i] >= p->lb_idle) {
        c->flags &= (uint8_t)~PC_FAILS; /* it was working: the policy starts over */
        lost(s, p, i, now, now + sim_rtt(s, i) / 2);
    } else {
        sim_at(s, p->last[i] + p->lb_idle, EVG(EV_IDLE, i, c->gen));
    }
}

/* A client sends a message up: a frame on its WebSocket, or a POST /publish
 * on a second connection, kept alive between POSTs while the server's (or
 * load balancer's) idle timeout allows. */
static void on_up(struct sim *s, struct push *p, uint64_t i, rt_sim_time now)
{
    const struct rt_sim_config *cf = s->c;
    sim_at(s, now + sim_exp_delay(&s->rng, cf->upstream_rate), EV(EV_UP, i));
    rt_sim_time rtt = sim_rtt(s, i);
    if (p->c[i].state == ST_DEAD)
        return; /* the phone's link is down */
    if (cf->approach == RT_SIM_WS) {
        if (p->c[i].state != ST_LIVE)
            return;
        uint64_t frame = ws_frame(WS_PUBLISH_BYTES + cf->payload_bytes, true);
        uint64_t up = sim_write(s, false, frame, true);
        s->r->upstream++;
        sim_trace(s, i, now, RT_TR_PUBLISH, false, frame, 0);
        sim_radio(s, i, now, up, 0);
        p->last[i] = now;
        return;
    }
    if (!sim_server_up(s, now + rtt / 2))
        return;
    uint64_t up = 0;
    rt_sim_time prev = p->last_post[i];
    if (prev == 0 || now - prev >= p->idle_limit) {
        up += sim_handshake(s, now);
        sim_conn_span(s, now, now + rtt + p->idle_limit);
    } else {
        sim_conn_span(s, prev + rtt + p->idle_limit, now + rtt + p->idle_limit);
    }
    p->last_post[i] = now;
    uint64_t req = POST_REQUEST_BYTES + cf->header_extra_bytes + cf->payload_bytes;
    up += sim_write(s, false, req, false);
    uint64_t down = sim_write(s, true, POST_ANSWER_BYTES, true);
    sim_count_request(s, now + rtt / 2);
    s->r->upstream++;
    sim_trace(s, i, now, RT_TR_PUBLISH, false, req, 0);
    sim_radio(s, i, now, up, 0);
    sim_radio(s, i, now + rtt, 0, down);
}

static void push_on_event(struct sim *s, rt_sim_time now, uint64_t data)
{
    struct push *p = s->state;
    uint64_t i = EV_CLIENT(data);
    struct pc *c = &p->c[i];
    unsigned kind = EV_KIND(data);
    if (kind == EV_DROP) {
        on_drop(s, p, i, now);
        return;
    }
    if (kind == EV_UP) {
        on_up(s, p, i, now);
        return;
    }
    if (EV_GEN(data) != c->gen)
        return; /* cancelled */
    switch (kind) {
    case EV_SEND:
        on_send(s, p, i, now);
        break;
    case EV_ARRIVE:
        on_arrive(s, p, i, now);
        break;
    case EV_TIMEOUT: /* the hold began at last[i] (0: before the run), so a
                        generation that wrapped around cannot end a later
                        hold early */
        if (c->state == ST_HELD && (p->last[i] == 0 || now - p->last[i] >= p->timeout)) {
            list_remove(p, i);
            answer(s, p, i, now);
        }
        break;
    case EV_DETECT: /* the watchdog, the request timeout, or the overflow's close */
        c->state = ST_OFF;
        lost(s, p, i, now, now);
        break;
    case EV_IDLE:
        if (c->state == ST_HELD || c->state == ST_LIVE)
            on_idle(s, p, i, now);
        break;
    case EV_CPING:
        on_client_ping(s, p, i, now);
        break;
    }
}

/* ---- Set-up ---------------------------------------------------------------------------- */

static int push_start(struct sim *s)
{
    const struct rt_sim_config *cf = s->c;
    uint64_t n = cf->clients;
    struct push *p = calloc(1, sizeof *p);
    if (!p)
        return RT_SIM_ENOMEM;
    s->state = p;
    p->c = calloc(n, sizeof *p->c);
    p->head = malloc(cf->topics * sizeof *p->head);
    p->last = calloc(n, sizeof *p->last);
    if (!p->c || !p->head || !p->last)
        return RT_SIM_ENOMEM;
    s->model_bytes += n * (sizeof *p->c + sizeof *p->last) + cf->topics * sizeof *p->head;
    if (cf->slow_share > 0) {
        if (!(p->busy = calloc(n, sizeof *p->busy)))
            return RT_SIM_ENOMEM;
        s->model_bytes += n * sizeof *p->busy;
    }
    if (cf->upstream_rate > 0 && cf->approach != RT_SIM_WS) {
        if (!(p->last_post = calloc(n, sizeof *p->last_post)))
            return RT_SIM_ENOMEM;
        s->model_bytes += n * sizeof *p->last_post;
    }
    /* Clients of a topic are neighbours (client i follows topic i K / N):
     * the clients are alike, so which follows which does not matter, and a
     * publish's walk over its topic's list then reads memory in order. */
    if (cf->topics > 1) {
        if (!(p->topic = malloc(n * sizeof *p->topic)))
            return RT_SIM_ENOMEM;
        s->model_bytes += n * sizeof *p->topic;
        for (uint64_t i = 0; i < n; i++)
            p->topic[i] = (uint32_t)(i * cf->topics / n);
    }
    for (uint32_t t = 0; t < cf->topics; t++)
        p->head[t] = NONE;
    p->timeout = (rt_sim_time)(cf->timeout_s * 1e6);
    p->gap = (rt_sim_time)(cf->gap_ms * 1e3);
    /* A load balancer's idle checks are needed only where a connection can
     * stay silent that long: a stream whose heartbeat is no more frequent,
     * or a poll held at least that long. */
    p->lb_idle = (rt_sim_time)(cf->lb_idle_s * 1e6);
    if (cf->approach == RT_SIM_LONG ? p->lb_idle > (rt_sim_time)(cf->timeout_s * 1e6)
                                    : s->heartbeat && s->heartbeat < p->lb_idle)
        p->lb_idle = 0;
    double idle = RT_IDLE_TIMEOUT_MS / 1e3;
    if (cf->lb_idle_s > 0 && cf->lb_idle_s < idle)
        idle = cf->lb_idle_s;
    p->idle_limit = (rt_sim_time)(idle * 1e6);
    p->watchdog = (rt_sim_time)((double)s->heartbeat * RT_SSE_WATCHDOG_FACTOR);
    /* The steady state at t = 0: connected, subscribed, polls held. The
     * lists are built backwards, so that they start in memory order. */
    for (uint64_t i = n; i-- > 0;) {
        struct pc *c = &p->c[i];
        c->flags = PC_CONN;
        sim_conn_open(s, 0);
        c->state = cf->approach == RT_SIM_LONG ? ST_HELD : ST_LIVE;
        list_add(p, i);
        sim_trace(s, i, 0, RT_TR_CONNECT, false, 0, 0); /* connected before the run */
        sim_trace(s, i, 0, RT_TR_REQUEST, false, request_bytes(s, c), 0);
        if (cf->approach == RT_SIM_LONG)
            sim_at(s, (rt_sim_time)(rt_rng_unit(&s->rng) * (double)p->timeout),
                   EVG(EV_TIMEOUT, i, 0));
        if (p->lb_idle)
            sim_at(s, p->lb_idle, EVG(EV_IDLE, i, 0));
        if (cf->approach == RT_SIM_WS && s->heartbeat) /* its timer, at a random phase */
            sim_at(s, (rt_sim_time)(rt_rng_unit(&s->rng) * (double)s->heartbeat),
                   EVG(EV_CPING, i, 0));
        if (cf->drop_mean_s > 0)
            sim_at(s, sim_exp_delay(&s->rng, 1 / cf->drop_mean_s), EV(EV_DROP, i));
        if (cf->upstream_rate > 0)
            sim_at(s, sim_exp_delay(&s->rng, cf->upstream_rate), EV(EV_UP, i));
    }
    return 0;
}

/* What is still unfetched at the end. */
static void push_finish(struct sim *s)
{
    struct push *p = s->state;
    for (uint64_t i = 0; i < s->c->clients; i++)
        s->r->in_flight += s->topics[topic_of(p, i)].last_id - p->c[i].since;
}

static void push_free(struct sim *s)
{
    struct push *p = s->state;
    if (p) {
        free(p->c);
        free(p->topic);
        free(p->head);
        free(p->last);
        free(p->busy);
        free(p->last_post);
    }
    free(p);
    s->state = NULL;
}

const struct sim_model sim_long_poll = {
    .start = push_start,
    .on_event = push_on_event,
    .on_publish = lp_on_publish,
    .on_restart = on_restart,
    .finish = push_finish,
    .free = push_free,
};

/* SSE and WebSocket differ only in their bytes (push_bytes, on_heartbeat)
 * and the WebSocket client's own pings. */
const struct sim_model sim_stream = {
    .start = push_start,
    .on_event = push_on_event,
    .on_publish = stream_on_publish,
    .on_restart = on_restart,
    .on_heartbeat = on_heartbeat,
    .finish = push_finish,
    .free = push_free,
};
