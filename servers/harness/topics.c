/*
 * topics.c - the topic logs: a hash table of topics, each a bounded ring of
 * messages with ids 1, 2, 3, ...
 *
 * A message with id i lives in ring[i % ring_cap] until message
 * i + ring_cap takes its slot. So the ring holds ids oldest..last with
 *
 *     last   = next_id - 1
 *     oldest = last >= ring_cap ? last - ring_cap + 1 : 1
 *
 * and a lookup by id is one index operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_harness.h"

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int rt_topics_init(struct rt_topics *t, uint32_t ring_cap, size_t max_topics)
{
    memset(t, 0, sizeof(*t));
    t->num_buckets = 64;
    t->buckets = calloc(t->num_buckets, sizeof(*t->buckets));
    if (t->buckets == NULL)
        return UV_ENOMEM;
    t->ring_cap = ring_cap ? ring_cap : 1;
    t->max_topics = max_topics;
    return 0;
}

static void topic_free(const struct rt_topics *t, struct rt_topic *tp)
{
    if (tp->ring != NULL) {
        for (uint32_t i = 0; i < t->ring_cap; i++)
            free(tp->ring[i]);
        free(tp->ring);
    }
    free(tp);
}

void rt_topics_close(struct rt_topics *t)
{
    for (size_t b = 0; b < t->num_buckets; b++) {
        struct rt_topic *tp = t->buckets[b];
        while (tp != NULL) {
            struct rt_topic *next = tp->hash_next;
            topic_free(t, tp);
            tp = next;
        }
    }
    free(t->buckets);
    t->buckets = NULL;
}

struct rt_topic *rt_topics_find(const struct rt_topics *t, const char *name)
{
    struct rt_topic *tp = t->buckets[hash_name(name) & (t->num_buckets - 1)];
    while (tp != NULL && strcmp(tp->name, name) != 0)
        tp = tp->hash_next;
    return tp;
}

/* Doubles the bucket array when the table is as full as it is wide. Failing
 * to grow only makes chains longer, so it is not an error. */
static void maybe_grow(struct rt_topics *t)
{
    if (t->count < t->num_buckets)
        return;
    size_t n = t->num_buckets * 2;
    struct rt_topic **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->num_buckets; i++) {
        struct rt_topic *tp = t->buckets[i];
        while (tp != NULL) {
            struct rt_topic *next = tp->hash_next;
            size_t j = hash_name(tp->name) & (n - 1);
            tp->hash_next = b[j];
            b[j] = tp;
            tp = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->num_buckets = n;
}

struct rt_topic *rt_topics_get(struct rt_topics *t, const char *name)
{
    struct rt_topic *tp = rt_topics_find(t, name);
    if (tp != NULL)
        return tp;
    if (t->count >= t->max_topics || strlen(name) > RT_NAME_MAX)
        return NULL;
    tp = calloc(1, sizeof(*tp));
    if (tp == NULL)
        return NULL;
    strcpy(tp->name, name);
    tp->next_id = 1;
    rt_list_init(&tp->subs);
    maybe_grow(t);
    size_t b = hash_name(name) & (t->num_buckets - 1);
    tp->hash_next = t->buckets[b];
    t->buckets[b] = tp;
    t->count++;
    return tp;
}

/* Builds the message in one allocation: the struct and its JSON. */
static struct rt_msg *msg_new(const struct rt_topic *tp, uint64_t id, const char *event,
                              const char *data, size_t data_len, uint64_t ts_us)
{
    struct rt_msg_view v = {id, tp->name, event, data, data_len, ts_us};
    size_t n = rt_msg_json_len(&v);
    struct rt_msg *m = malloc(sizeof(*m) + n + 1);
    if (m == NULL)
        return NULL;
    m->id = id;
    m->ts_us = ts_us;
    m->json_len = (uint32_t)n;
    rt_msg_json(m->json, n, &v);
    m->json[n] = '\0';
    /* rt_msg_json writes {"id":N,"topic":"T","event":"E","data":D,"ts":N} */
    char idbuf[24];
    size_t id_len = (size_t)snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)id);
    m->event_off =
        (uint16_t)(sizeof("{\"id\":,\"topic\":\"\",\"event\":\"") - 1 + id_len + strlen(tp->name));
    m->event_len = (uint16_t)strlen(event);
    m->data_off = m->event_off + m->event_len + (uint32_t)sizeof("\",\"data\":") - 1;
    m->data_len = (uint32_t)data_len;
    return m;
}

const struct rt_msg *rt_topic_append(struct rt_topics *t, struct rt_topic *tp, const char *event,
                                     const char *data, size_t data_len, uint64_t ts_us)
{
    if (tp->ring == NULL) {
        tp->ring = calloc(t->ring_cap, sizeof(*tp->ring));
        if (tp->ring == NULL)
            return NULL;
    }
    struct rt_msg *m = msg_new(tp, tp->next_id, event, data, data_len, ts_us);
    if (m == NULL)
        return NULL;
    struct rt_msg **slot = &tp->ring[m->id % t->ring_cap];
    free(*slot); /* the message ring_cap ids older, if any */
    *slot = m;
    tp->next_id++;
    return m;
}

uint64_t rt_topic_last(const struct rt_topic *tp)
{
    return tp == NULL ? 0 : tp->next_id - 1;
}

uint64_t rt_topic_oldest(const struct rt_topics *t, const struct rt_topic *tp)
{
    uint64_t last = rt_topic_last(tp);
    return last >= t->ring_cap ? last - t->ring_cap + 1 : 1;
}

const struct rt_msg *rt_topic_msg(const struct rt_topics *t, const struct rt_topic *tp, uint64_t id)
{
    if (tp == NULL || id < rt_topic_oldest(t, tp) || id > rt_topic_last(tp))
        return NULL;
    return tp->ring[id % t->ring_cap];
}

enum rt_since rt_topic_since(const struct rt_topics *t, const struct rt_topic *tp, uint64_t since,
                             uint64_t *next)
{
    uint64_t last = rt_topic_last(tp), oldest = rt_topic_oldest(t, tp);
    if (since > last || since + 1 < oldest) {
        *next = oldest - 1;
        return RT_SINCE_RESET;
    }
    *next = last;
    return since == last ? RT_SINCE_EMPTY : RT_SINCE_NEW;
}

const char *rt_poll_json(struct rt_ctx *ctx, const struct rt_topic *tp, uint64_t since, size_t *len,
                         size_t *count)
{
    const struct rt_topics *t = &ctx->topics;
    uint64_t last = tp->next_id - 1;
    size_t n = 0, need = 64 + strlen(tp->name);
    uint64_t id = since + 1;
    /* First pass: how many messages, and how many bytes. */
    for (; id <= last && n < RT_POLL_BATCH_MAX; id++, n++) {
        if (n > 0 && need > RT_POLL_BATCH_BYTES)
            break;
        need += rt_topic_msg(t, tp, id)->json_len + 1;
    }
    char *out = rt_ctx_scratch(ctx, need);
    if (out == NULL)
        return NULL;
    size_t o = (size_t)sprintf(out, "{\"topic\":\"%s\",\"messages\":[", tp->name);
    for (uint64_t i = since + 1; i < since + 1 + n; i++) {
        const struct rt_msg *m = rt_topic_msg(t, tp, i);
        if (i > since + 1)
            out[o++] = ',';
        memcpy(out + o, m->json, m->json_len);
        o += m->json_len;
    }
    o += (size_t)sprintf(out + o, "],\"next\":%llu}", (unsigned long long)(since + n));
    *len = o;
    *count = n;
    return out;
}
