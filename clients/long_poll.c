/*
 * long_poll.c - the long-polling client.
 *
 * THE IDEA
 *   Ask the same question as a short-polling client, "anything after message
 *   N?", but let the server hold the question until the answer is yes (or
 *   until S seconds pass, then it says "nothing", 204). Whatever the answer,
 *   ask again at once with the id it ended on. The client never waits on its
 *   own: the waiting happens on the server, inside the held request.
 *
 * ON THE WIRE (one keep-alive connection; hold S = 30 s)
 *
 *   client                                               server
 *     |-- GET /poll?topic=a&since=7&timeout=30 ----------->|  nothing after 7:
 *     |                                                    |  held ...
 *     |                          (message 8 published) --->|
 *     |<------ 200 {"messages":[{"id":8,...}],"next":8} ---|  at once
 *     |-- GET /poll?topic=a&since=8&timeout=30 ----------->|  held again
 *     |                          (30 s, nothing)           |
 *     |<------------------------------- 204 No Content ----|
 *     |-- GET /poll?topic=a&since=8&timeout=30 ----------->|  ...
 *
 * COSTS
 *   A message reaches the client about one round trip after it is
 *   published - unless it comes while the client is between an answer and
 *   its next request; then it waits for that request (one more round trip),
 *   and `since` makes sure it is not lost. One request per delivery (or
 *   batch), plus one per S seconds of quiet. Each waiting client holds an
 *   open request, and so a socket, on the server.
 *
 * WHEN THINGS GO WRONG
 *   As for short polling (poll.c): backoff with full jitter, de-dup by id,
 *   resets. Two things are particular to holding:
 *   - the request's own deadline must outlast the hold, or the client would
 *     give up on every quiet poll just before the server's 204. It is the
 *     hold plus RT_CLIENT_REQUEST_TIMEOUT_MS (10 s) for the network and a
 *     busy server: a poll that has not come back by then is dead;
 *   - a server that does not hold (point this client at a short-polling
 *     server and every answer is an immediate 204) would turn "ask again at
 *     once" into a tight loop: an empty answer sooner than
 *     RT_LONG_MIN_CYCLE_MS (1 s) is followed by a wait of the rest of it.
 *
 * WE SIMPLIFIED
 *   One topic per client. Browsers and proxies may cut a request that has
 *   been silent for a while (often 30-60 s); the default hold stays under
 *   that, but we do not detect it and shorten the hold.
 *
 * COMPARE WITH
 *   short_poll.c: the same loop, but the client waits between questions
 *   and the server answers at once. sse.c: one request that never ends, so
 *   no round trip to lose between answer and next question.
 */
#include "internal.h"

/* A long-polling subscriber is the polling loop with a hold: no wait
 * between answer and request, and each request may be held hold_ms. */
static int long_init(uv_loop_t *loop, void *sub, const struct rt_sub_config *cfg)
{
    uint64_t hold = cfg->hold_ms ? cfg->hold_ms : RT_LONG_POLL_DEFAULT_S * 1000;
    return rt_poll_init(loop, sub, cfg, hold);
}

const struct rt_approach rt_long_approach = {
    .name = "long",
    .default_url = "http://127.0.0.1:8002",
    .options = RT_OPT_TIMEOUT,
    .holds = true,
    .streams = false,
    .sub_size = sizeof(struct rt_poll_sub),
    .init = long_init,
    .start = rt_poll_start,
    .close = rt_sub_base_close,
};
