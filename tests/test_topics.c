/* test_topics.c - the topic logs: ids, the ring, `since`, resets, poll answers, the bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rt_harness.h"

static struct rt_ctx ctx;

static int setup(void **state)
{
    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.bus = &rt_bus_inproc;
    return rt_topics_init(&ctx.topics, 4, 3);
}

static int teardown(void **state)
{
    (void)state;
    rt_topics_close(&ctx.topics);
    free(ctx.scratch);
    return 0;
}

static const struct rt_msg *append(struct rt_topic *tp, const char *data)
{
    return rt_topic_append(&ctx.topics, tp, "message", data, strlen(data), 1000);
}

static void test_ids_start_at_one_and_increase(void **state)
{
    (void)state;
    struct rt_topic *tp = rt_topics_get(&ctx.topics, "a");
    assert_non_null(tp);
    assert_int_equal(rt_topic_last(tp), 0);
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(append(tp, "1")->id, i);
    assert_int_equal(rt_topic_last(tp), 10);
    /* Ids are per topic. */
    struct rt_topic *b = rt_topics_get(&ctx.topics, "b");
    assert_int_equal(append(b, "1")->id, 1);
}

static void test_message_json_and_offsets(void **state)
{
    (void)state;
    struct rt_topic *tp = rt_topics_get(&ctx.topics, "news");
    const struct rt_msg *m = rt_topic_append(&ctx.topics, tp, "score", "{\"x\":[1,2]}", 11, 42);
    assert_string_equal(m->json,
                        "{\"id\":1,\"topic\":\"news\",\"event\":\"score\",\"data\":{\"x\":[1,2]},"
                        "\"ts\":42}");
    assert_int_equal(m->json_len, strlen(m->json));
    assert_memory_equal(m->json + m->event_off, "score", m->event_len);
    assert_int_equal(m->data_len, 11);
    assert_memory_equal(m->json + m->data_off, "{\"x\":[1,2]}", 11);
}

static void test_ring_keeps_the_newest(void **state)
{
    (void)state;
    struct rt_topic *tp = rt_topics_get(&ctx.topics, "r");
    for (int i = 0; i < 10; i++)
        append(tp, "1");
    /* ring of 4: ids 7..10 remain */
    assert_int_equal(rt_topic_oldest(&ctx.topics, tp), 7);
    assert_null(rt_topic_msg(&ctx.topics, tp, 6));
    assert_int_equal(rt_topic_msg(&ctx.topics, tp, 7)->id, 7);
    assert_int_equal(rt_topic_msg(&ctx.topics, tp, 10)->id, 10);
    assert_null(rt_topic_msg(&ctx.topics, tp, 11));
}

static void test_since_semantics(void **state)
{
    (void)state;
    uint64_t next = 99;
    /* A topic nobody published to: since=0 is empty, anything else a reset to 0. */
    assert_int_equal(rt_topic_since(&ctx.topics, NULL, 0, &next), RT_SINCE_EMPTY);
    assert_int_equal(rt_topic_since(&ctx.topics, NULL, 5, &next), RT_SINCE_RESET);
    assert_int_equal(next, 0);

    struct rt_topic *tp = rt_topics_get(&ctx.topics, "s");
    for (int i = 0; i < 3; i++)
        append(tp, "1");
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 0, &next), RT_SINCE_NEW);
    assert_int_equal(next, 3);
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 2, &next), RT_SINCE_NEW);
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 3, &next), RT_SINCE_EMPTY);
    /* An id never issued (a client from before a restart). */
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 4, &next), RT_SINCE_RESET);
    assert_int_equal(next, 0);

    for (int i = 0; i < 5; i++)
        append(tp, "1"); /* ids 1..8, ring holds 5..8 */
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 4, &next), RT_SINCE_NEW);   /* no gap */
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 3, &next), RT_SINCE_RESET); /* 4 is gone */
    assert_int_equal(next, 4);
    assert_int_equal(rt_topic_since(&ctx.topics, tp, 0, &next), RT_SINCE_RESET);
    assert_int_equal(next, 4);
}

static void test_poll_json(void **state)
{
    (void)state;
    struct rt_topic *tp = rt_topics_get(&ctx.topics, "p");
    rt_topic_append(&ctx.topics, tp, "message", "1", 1, 7);
    rt_topic_append(&ctx.topics, tp, "e", "\"two\"", 5, 8);
    size_t len, count;
    const char *j = rt_poll_json(&ctx, tp, 0, &len, &count);
    const char *want = "{\"topic\":\"p\",\"messages\":["
                       "{\"id\":1,\"topic\":\"p\",\"event\":\"message\",\"data\":1,\"ts\":7},"
                       "{\"id\":2,\"topic\":\"p\",\"event\":\"e\",\"data\":\"two\",\"ts\":8}"
                       "],\"next\":2}";
    assert_int_equal(count, 2);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(j, want, len);
    j = rt_poll_json(&ctx, tp, 1, &len, &count);
    assert_int_equal(count, 1);
    assert_non_null(strstr(j, "\"next\":2}"));
}

static void test_poll_batches_are_bounded(void **state)
{
    (void)state;
    rt_topics_close(&ctx.topics);
    rt_topics_init(&ctx.topics, 4096, 10);
    struct rt_topic *tp = rt_topics_get(&ctx.topics, "big");
    for (int i = 0; i < RT_POLL_BATCH_MAX + 10; i++)
        append(tp, "1");
    size_t len, count;
    const char *j = rt_poll_json(&ctx, tp, 0, &len, &count);
    assert_int_equal(count, RT_POLL_BATCH_MAX);
    char want[32];
    snprintf(want, sizeof(want), "\"next\":%d}", RT_POLL_BATCH_MAX);
    assert_non_null(strstr(j, want));
}

static void test_topic_limit(void **state)
{
    (void)state;
    assert_non_null(rt_topics_get(&ctx.topics, "t1"));
    assert_non_null(rt_topics_get(&ctx.topics, "t2"));
    assert_non_null(rt_topics_get(&ctx.topics, "t3"));
    assert_null(rt_topics_get(&ctx.topics, "t4"));     /* max_topics = 3 */
    assert_non_null(rt_topics_get(&ctx.topics, "t2")); /* existing ones still found */
}

static void test_many_topics_grow_the_table(void **state)
{
    (void)state;
    rt_topics_close(&ctx.topics);
    rt_topics_init(&ctx.topics, 2, 100000);
    char name[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        assert_non_null(rt_topics_get(&ctx.topics, name));
    }
    assert_int_equal(ctx.topics.count, 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        assert_string_equal(rt_topics_find(&ctx.topics, name)->name, name);
    }
    assert_null(rt_topics_find(&ctx.topics, "t5000"));
}

/* ---- The in-process bus ---- */

struct waiter {
    struct rt_sub sub;
    int calls;
    uint64_t last;
    struct waiter *drop; /* unsubscribes this one when called */
};

static void on_msg(struct rt_sub *sub, const struct rt_topic *tp, const struct rt_msg *msg)
{
    (void)tp;
    struct waiter *w = rt_container_of(sub, struct waiter, sub);
    w->calls++;
    w->last = msg->id;
    if (w->drop != NULL) {
        rt_bus_unsubscribe(&w->drop->sub);
        rt_bus_unsubscribe(&w->sub);
    }
}

static uint64_t published_id;
static void on_published(void *arg, int status, const struct rt_msg *msg)
{
    (void)arg;
    published_id = status == 0 ? msg->id : 0;
}

static void test_bus_delivers_to_the_topic_only(void **state)
{
    (void)state;
    struct waiter a = {.sub.on_msg = on_msg}, b = {.sub.on_msg = on_msg};
    assert_int_equal(rt_bus_subscribe(&ctx, "x", &a.sub), 0);
    assert_int_equal(rt_bus_subscribe(&ctx, "y", &b.sub), 0);
    rt_bus_publish(&ctx, "x", "message", "1", 1, on_published, NULL);
    assert_int_equal(published_id, 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.last, 1);
    assert_int_equal(b.calls, 0);
    rt_bus_unsubscribe(&a.sub);
    rt_bus_publish(&ctx, "x", "message", "2", 1, on_published, NULL);
    assert_int_equal(a.calls, 1);
    assert_int_equal(ctx.published, 2);
    rt_bus_unsubscribe(&b.sub);
}

static void test_bus_survives_unsubscribe_during_delivery(void **state)
{
    (void)state;
    struct waiter a = {.sub.on_msg = on_msg}, b = {.sub.on_msg = on_msg},
                  c = {.sub.on_msg = on_msg};
    rt_bus_subscribe(&ctx, "z", &a.sub);
    rt_bus_subscribe(&ctx, "z", &b.sub);
    rt_bus_subscribe(&ctx, "z", &c.sub);
    a.drop = &b; /* a removes itself and b, which has not been called yet */
    rt_bus_publish(&ctx, "z", "message", "1", 1, on_published, NULL);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);
    assert_int_equal(c.calls, 1);
    rt_bus_publish(&ctx, "z", "message", "2", 1, on_published, NULL);
    assert_int_equal(a.calls, 1);
    assert_int_equal(c.calls, 2);
    rt_bus_unsubscribe(&c.sub);
}

static void test_bus_reports_full_topic_table(void **state)
{
    (void)state;
    rt_bus_publish(&ctx, "a", "message", "1", 1, on_published, NULL);
    rt_bus_publish(&ctx, "b", "message", "1", 1, on_published, NULL);
    rt_bus_publish(&ctx, "c", "message", "1", 1, on_published, NULL);
    published_id = 99;
    rt_bus_publish(&ctx, "d", "message", "1", 1, on_published, NULL);
    assert_int_equal(published_id, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids_start_at_one_and_increase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_json_and_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_keeps_the_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_batches_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_topics_grow_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_delivers_to_the_topic_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_survives_unsubscribe_during_delivery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_reports_full_topic_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
