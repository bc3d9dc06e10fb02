/*
 * short_poll.c - the short-polling client.
 *
 * THE IDEA
 *   Ask the server "anything after message N?" every few seconds. It answers
 *   at once, with the messages or with "nothing" (204). Remember the last id
 *   and ask again with it after a fixed wait. Nothing stays open between
 *   questions but an idle keep-alive connection.
 *
 * ON THE WIRE (one keep-alive connection; interval T)
 *
 *   client                                      server
 *     |-- GET /poll?topic=a&since=7 ------------->|
 *     |<-------------------------- 204 No Content-|   nothing new
 *     |        ... wait T ...                      |
 *     |-- GET /poll?topic=a&since=7 ------------->|
 *     |<-- 200 {"messages":[{"id":8,...}],"next":8}|
 *     |        ... wait T ...                      |
 *     |-- GET /poll?topic=a&since=8 ------------->|
 *
 * COSTS
 *   One request per client per T whether or not anything happened: with
 *   rare updates nearly every answer is empty. A message waits on average
 *   T/2 (plus a round trip) before a client asks for it.
 *
 * WHEN THINGS GO WRONG
 *   Backoff with jitter, de-duplication and resets: see poll.c, the loop
 *   this file shares with long polling.
 *
 * A CHOICE: fixed delay, not fixed rate
 *   We wait T from the end of one answer to the next request, so the period
 *   is T plus a round trip. A fixed-rate schedule would keep exactly N/T
 *   requests/s, but a slow server would then find the next request queued
 *   before it had answered the last; waiting after the answer means a slow
 *   server is asked less, never more. On a LAN the round trip is well under
 *   a millisecond, so the rate stays N/T to within 0.1%. One exception: an
 *   answer with a full batch (RT_POLL_BATCH_MAX messages or
 *   RT_POLL_BATCH_BYTES) means more are waiting, so we ask again at once.
 *
 * WE SIMPLIFIED
 *   One topic per client; no conditional requests (ETag/If-None-Match),
 *   which would let a cache answer the empty polls.
 *
 * COMPARE WITH
 *   long_poll.c: the same loop, but the server holds the request until a
 *   message exists, so the wait moves from the client to the server.
 */
#include "internal.h"

/* A short-polling subscriber is the polling loop with no hold: the server
 * answers at once, and we wait cfg->interval_ms between answer and request. */
static int short_init(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg)
{
    return rt_poll_init(loop, sub, cfg, 0);
}

const struct rt_approach rt_short_approach = {
    .name = "short",
    .default_url = "http://127.0.0.1:8001",
    .options = RT_OPT_INTERVAL,
    .holds = false,
    .streams = false,
    .sub_size = sizeof(struct rt_poll_sub),
    .init = short_init,
    .start = rt_poll_start,
    .close = rt_sub_base_close,
};
