/*
 * long_poll.c - Approach 2: long polling.
 *
 * THE IDEA
 *   The client asks the same question as in short polling, "anything new
 *   since message N?", but when there is nothing the server does not say
 *   so. It holds the request open until a message arrives, then answers at
 *   once. If nothing arrives for a while (the timeout, 30 s by default) it
 *   answers "nothing" (204) so that no proxy gives up on the request first.
 *   Either way the client asks again straight away.
 *
 * ON THE WIRE
 *   client                                              server
 *     | GET /poll?topic=news&since=41&timeout=30 -------> |  nothing after 41:
 *     |                                                   |  hold the request
 *     |                   (message 42 published) ------> |  wake this waiter
 *     | <-- 200 {"topic":"news","messages":[{"id":42,...}],"next":42}
 *     | GET /poll?topic=news&since=42&timeout=30 -------> |  hold again
 *     |                   (30 s pass, nothing published)  |
 *     | <----------------------------------- 204 No Content |
 *     | GET /poll?topic=news&since=42&timeout=30 -------> |  ...
 *
 * COSTS
 *   Latency: about one network trip after the publish, not half a polling
 *     interval. A message published while the client is between answer and
 *     next request waits for that request (one round trip), and is not lost:
 *     `since` picks it up from the log.
 *   Requests: one per message delivered (batched when several arrive at
 *     once), plus one per timeout when nothing happens: a quiet topic costs
 *     N/30 requests/s instead of N/T.
 *   Sockets and memory: every waiting client holds an open request, a
 *     subscription and a timer on the server: memory and file descriptors
 *     grow with clients, not with traffic.
 *   Bursts: after each answer the client must come back before it can
 *     receive again, so a burst of messages arrives in a few batches; many
 *     clients woken by one publish all return at the same moment.
 *
 * WE SIMPLIFIED
 *   Production code bounds the waiters per client and per server, spreads
 *   the timeouts with jitter so that clients woken together do not return
 *   together, and, across several machines, needs a shared bus so a publish
 *   reaches waiters held by any server. Proxies must be told not to buffer
 *   or time out held requests.
 *
 * COMPARE WITH
 *   short_poll.c: the same request answered at once, so no held state, but
 *   T/2 of latency and N/T requests/s. sse.c: one request that never ends,
 *   so no gap between answer and next request and no per-message headers.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_harness.h"

/* ---- Data structures ------------------------------------------------------ */

/* One held request: the client has seen everything up to `since` and waits
 * for what comes next, or for its timeout. */
struct waiter {
    struct rt_sub sub;    /* on the topic's subscriber list: a publish wakes it */
    uv_timer_t timer;     /* the hold's deadline */
    struct rt_conn *conn; /* where the answer goes */
    uint64_t since;
};

/* ---- Subscribers ---------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    free(rt_container_of(h, struct waiter, timer));
}

/* Forgets the waiter: off the topic, timer stopped, memory freed once libuv
 * lets go of the timer. The connection is then free to answer. */
static void waiter_end(struct waiter *w)
{
    rt_bus_unsubscribe(&w->sub);
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
    w->conn->app = NULL;
}

/* The timeout passed with nothing published: "nothing new" (204). */
static void on_timeout(uv_timer_t *t)
{
    struct waiter *w = rt_container_of(t, struct waiter, timer);
    struct rt_conn *c = w->conn;
    waiter_end(w);
    rt_conn_respond(c, 204, NULL, NULL, 0, NULL, 0);
    rt_conn_done(c);
}

/* The client went away while waiting: nothing to answer, just let go. */
static void on_close(struct rt_conn *c)
{
    waiter_end(c->app);
}

/* ---- Publishing ----------------------------------------------------------- */

/* A message was published on the waiter's topic: answer with everything
 * after `since` (the log has the new message by now). */
static void on_message(struct rt_sub *sub, const struct rt_topic *tp, const struct rt_msg *msg)
{
    (void)msg;
    struct waiter *w = rt_container_of(sub, struct waiter, sub);
    struct rt_conn *c = w->conn;
    uint64_t since = w->since;
    waiter_end(w);
    rt_poll_answer(c, tp->name, since);
    rt_conn_done(c);
}

/* ---- Protocol plumbing ---------------------------------------------------- */

/* The timeout query parameter in seconds (default 30, at most 120; 0 means
 * do not wait). Returns -1 after answering 400. */
static int timeout_param(struct rt_conn *c, const struct rt_http_request *req)
{
    char num[16];
    uint64_t s = RT_LONG_POLL_DEFAULT_S;
    int n = rt_query_get(req->query, req->query_len, "timeout", num, sizeof(num));
    if (n != -1 && (n < 0 || rt_parse_u64(num, (size_t)n, &s) != 0 || s > RT_LONG_POLL_MAX_S)) {
        rt_conn_error(c, 400, "timeout must be 0-120 seconds", NULL);
        return -1;
    }
    return (int)s;
}

/* GET /poll?topic=T&since=N&timeout=S: answer from the log, or wait. */
static int handle_poll(struct rt_conn *c, const struct rt_http_request *req)
{
    char topic[RT_NAME_MAX + 1];
    uint64_t since;
    int timeout;
    if (!rt_req_topic_since(c, req, topic, &since) || (timeout = timeout_param(c, req)) < 0)
        return RT_DONE;
    if (rt_poll_answer(c, topic, since) != RT_SINCE_EMPTY)
        return RT_DONE; /* messages waiting (or a reset): like a short poll */
    if (timeout == 0) {
        rt_conn_respond(c, 204, NULL, NULL, 0, NULL, 0);
        return RT_DONE;
    }
    struct waiter *w = malloc(sizeof(*w));
    if (w == NULL) {
        rt_conn_error(c, 503, "out of memory", NULL);
        return RT_DONE;
    }
    w->conn = c;
    w->since = since;
    w->sub.on_msg = on_message;
    if (rt_bus_subscribe(rt_conn_ctx(c), topic, &w->sub) != 0) {
        free(w);
        rt_conn_error(c, 503, "too many topics (see --max-topics)", NULL);
        return RT_DONE;
    }
    uv_timer_init(c->tcp.loop, &w->timer); /* cannot fail for timers */
    uv_timer_start(&w->timer, on_timeout, (uint64_t)timeout * 1000, 0);
    c->app = w;
    return RT_HELD;
}

/* ---- Entry point ---------------------------------------------------------- */

const struct rt_approach rt_long_poll = {
    .name = "long",
    .route = "/poll",
    .handle = handle_poll,
    .on_close = on_close,
};
