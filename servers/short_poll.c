/*
 * short_poll.c - Approach 1: short polling.
 *
 * THE IDEA
 *   The client asks "anything new since message N?" on a timer, say every
 *   5 seconds. The server looks at the topic's log and answers at once:
 *   the messages after N, or "nothing" (204 No Content). It keeps no state
 *   about its clients between requests: each request stands alone.
 *
 * ON THE WIRE
 *   client                                              server
 *     | GET /poll?topic=news&since=41 ------------------>  |  log: ..41
 *     | <----------------------------------- 204 No Content |
 *     |         (interval T passes; message 42 published)  |  log: ..42
 *     | GET /poll?topic=news&since=41 ------------------>  |
 *     | <-- 200 {"topic":"news","messages":[{"id":42,...}],"next":42}
 *     |         (interval T passes)                        |
 *     | GET /poll?topic=news&since=42 ------------------>  |
 *     | <----------------------------------- 204 No Content |
 *
 * COSTS
 *   Latency: a message waits for the next poll: T/2 on average, T at worst
 *     (plus one round trip).
 *   Requests: N clients make N/T requests per second whether or not anything
 *     happened: 1,000,000 clients at T = 5 s make 200,000 requests/s, and
 *     when updates are rare nearly all of them come back empty. One client
 *     makes 3,600 requests an hour at T = 1 s, 120 at T = 30 s.
 *   Bytes: every poll pays full HTTP headers both ways (hundreds of bytes
 *     from a browser) for a 204 that carries nothing.
 *   Sockets and memory: none between polls beyond an idle keep-alive socket.
 *   Battery: each poll wakes a phone's radio, which then stays in its
 *     high-power tail for seconds.
 *
 *   It is the right choice when updates are infrequent, a delay of a few
 *   seconds is fine, and simplicity matters most: it works through every
 *   proxy and with every HTTP client, and any server can answer any poll.
 *
 * WE SIMPLIFIED
 *   Production code adds authentication, caching headers (ETag and
 *   If-None-Match make an unchanged answer cheap), rate limiting of clients
 *   that poll too often, and server-suggested intervals (Retry-After) to shed
 *   load. Message ids here restart at 1 when the server restarts, so a
 *   client's `since` from before a restart gets a reset; a real system keeps
 *   the log in durable storage or tags ids with an epoch.
 *
 * COMPARE WITH
 *   long_poll.c: the same request, but the server holds it until a message
 *   arrives, so latency drops to one network trip and empty answers nearly
 *   vanish, at the cost of an open request per waiting client.
 */
#include "rt_harness.h"

/* ---- Data structures ------------------------------------------------------ */

/* None of its own: a short-polling server is a view of the topic logs that
 * the harness keeps. It holds nothing per client. */

/* ---- Subscribers ---------------------------------------------------------- */

/* None: a client is a subscriber only for the instant its request lasts. */

/* ---- Publishing ----------------------------------------------------------- */

/* Nothing to do when a message is published: it waits in the log until
 * some client's next poll asks for it. */

/* ---- Protocol plumbing ---------------------------------------------------- */

/* GET /poll?topic=T&since=N: answer at once from the log. */
static int handle_poll(struct rt_conn *c, const struct rt_http_request *req)
{
    char topic[RT_NAME_MAX + 1];
    uint64_t since;
    if (!rt_req_topic_since(c, req, topic, &since))
        return RT_DONE;
    /* The messages after `since`, or a reset when `since` is not in the log. */
    if (rt_poll_answer(c, topic, since) == RT_SINCE_EMPTY)
        rt_conn_respond(c, 204, NULL, NULL, 0, NULL, 0); /* the answer most polls get */
    return RT_DONE;
}

/* ---- Entry point ---------------------------------------------------------- */

const struct rt_approach rt_short_poll = {
    .name = "short",
    .route = "/poll",
    .handle = handle_poll,
    .on_close = NULL,
};
