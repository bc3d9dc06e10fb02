/*
 * bus.c - how a publish reaches the topic logs and the waiting subscribers.
 *
 * The in-process bus is the whole story on one machine: a publish is logged
 * at once (the log assigns the id) and handed to the topic's subscribers in
 * the same call, before the publisher hears back. A bus over a broker keeps
 * rt_bus_deliver() and replaces only the publish step.
 */
#include <sys/time.h>

#include "rt_harness.h"

static uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void inproc_publish(struct rt_ctx *ctx, const char *topic, const char *event,
                           const char *data, size_t data_len, rt_published_cb cb, void *arg)
{
    struct rt_topic *tp = rt_topics_get(&ctx->topics, topic);
    if (tp == NULL) {
        cb(arg, RT_EBUSY_TOPICS, NULL);
        return;
    }
    const struct rt_msg *m = rt_topic_append(&ctx->topics, tp, event, data, data_len, now_us());
    if (m == NULL) {
        cb(arg, UV_ENOMEM, NULL);
        return;
    }
    ctx->published++;
    rt_bus_deliver(tp, m);
    cb(arg, 0, m);
}

const struct rt_bus_ops rt_bus_inproc = {inproc_publish};

void rt_bus_publish(struct rt_ctx *ctx, const char *topic, const char *event, const char *data,
                    size_t data_len, rt_published_cb cb, void *arg)
{
    ctx->bus->publish(ctx, topic, event, data, data_len, cb, arg);
}

int rt_bus_subscribe(struct rt_ctx *ctx, const char *topic, struct rt_sub *sub)
{
    struct rt_topic *tp = rt_topics_get(&ctx->topics, topic);
    if (tp == NULL)
        return RT_EBUSY_TOPICS;
    rt_list_push(&tp->subs, &sub->link);
    return 0;
}

void rt_bus_unsubscribe(struct rt_sub *sub)
{
    rt_list_remove(&sub->link);
}

/* A subscriber may unsubscribe itself (or a later one) from its callback,
 * so the walk first moves the whole list aside and puts each subscriber
 * back before calling it. */
void rt_bus_deliver(struct rt_topic *tp, const struct rt_msg *msg)
{
    struct rt_link pending;
    struct rt_link *subs = &tp->subs;
    if (rt_list_empty(subs))
        return;
    pending = *subs;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    rt_list_init(subs);
    while (!rt_list_empty(&pending)) {
        struct rt_link *l = pending.next;
        rt_list_remove(l);
        rt_list_push(subs, l);
        struct rt_sub *s = rt_container_of(l, struct rt_sub, link);
        s->on_msg(s, tp, msg);
    }
}
