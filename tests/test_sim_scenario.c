/*
 * test_sim_scenario.c - the scenario files (the .json files in
 * sim/scenarios/) and their reader: every file loads, names the approach
 * the article recommends, and runs; options given beside a file override
 * it; each kind of mistake in a file (missing, not JSON, an unknown field,
 * a wrong type, a value out of range) is refused with its own code and a
 * message naming file and field.
 *
 * Each file runs in its own approach, with no message lost or duplicated.
 *
 * RTLAB_SCENARIO_DIR, the scenarios' folder in the source tree, comes from
 * tests/CMakeLists.txt.
 */
/* cmocka.h needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_scenario.h"
#include "rt_sim.h"
#include "testutil.h"

#ifndef RTLAB_SCENARIO_DIR
#error "tests/CMakeLists.txt defines RTLAB_SCENARIO_DIR"
#endif

/* Every use case of the article's design space, and the approach its
 * "Recommendations by Use Case" table (or decision tree) gives. */
static const struct {
    const char *file;
    enum rt_sim_approach approach;
} expected[] = {
    {"chat.json", RT_SIM_WS},
    {"ride_hailing.json", RT_SIM_SSE},
    {"trading_ticker.json", RT_SIM_SSE},
    {"collab_editor.json", RT_SIM_WS},
    {"notifications.json", RT_SIM_SSE},
    {"sports_scores.json", RT_SIM_SSE},
    {"email_inbox.json", RT_SIM_SHORT},
    {"dashboard_metrics.json", RT_SIM_SHORT},
    {"ci_progress.json", RT_SIM_SSE},
    {"multiplayer_game.json", RT_SIM_WS},
};
#define NEXPECTED (sizeof expected / sizeof expected[0])

/* Simulated seconds per scenario in the test: enough for every client's
 * first polls at the scenarios' intervals, short enough to stay fast. */
#define TEST_DURATION_S 2.0

static void scenario_path(const char *file, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", RTLAB_SCENARIO_DIR, file);
}

/* Runs c, in its own approach, for TEST_DURATION_S and checks the books:
 * something happened, and no message was lost or delivered twice. */
static void run_check(const char *file, struct rt_sim_config *c)
{
    struct rt_sim_report r;
    char err[256];
    c->duration_s = TEST_DURATION_S;
    c->progress = false;
    if (rt_sim_run(c, &r, err, sizeof err) != 0)
        fail_msg("%s: rt_sim_run: %s", file, err);
    assert_true(r.events > 0);
    if (c->approach == RT_SIM_SHORT)
        assert_true(r.requests > 0);
    else
        assert_true(r.connections > 0);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.duplicated, 0);
    rt_sim_report_free(&r);
}

static void test_expected_scenarios_load_and_run(void **state)
{
    (void)state;
    for (size_t i = 0; i < NEXPECTED; i++) {
        char path[1024], err[512];
        scenario_path(expected[i].file, path, sizeof path);
        struct rt_sim_config c;
        struct rt_sim_scenario s;
        rt_sim_config_init(&c);
        int rc = rt_sim_scenario_load(path, &c, &s, err, sizeof err);
        if (rc != 0)
            fail_msg("%s", err);
        assert_int_equal(c.approach, expected[i].approach);
        assert_true(strlen(s.description) > 20);
        assert_true(strlen(s.why) > 40);
        assert_true(c.clients >= 1000);
        assert_true(c.rate > 0);
        run_check(expected[i].file, &c);
    }
}

/* A file added to the folder later is held to the same standard. */
static void test_every_file_in_the_folder_loads_and_runs(void **state)
{
    (void)state;
    DIR *d = opendir(RTLAB_SCENARIO_DIR);
    assert_non_null(d);
    size_t files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[1024], err[512];
        scenario_path(e->d_name, path, sizeof path);
        struct rt_sim_config c;
        struct rt_sim_scenario s;
        rt_sim_config_init(&c);
        if (rt_sim_scenario_load(path, &c, &s, err, sizeof err) != 0)
            fail_msg("%s", err);
        run_check(e->d_name, &c);
        files++;
    }
    closedir(d);
    assert_true(files >= NEXPECTED);
}

/* ---- The command: a positional file, options over it ------------------------ */

/* Runs rt_cmd_sim with stdout into out (NUL-terminated); returns its code. */
static int run_cmd(int argc, char **argv, char *out, size_t cap)
{
    int rc = tu_run_captured(rt_cmd_sim, argc, argv, out, cap);
    assert_int_not_equal(rc, -1);
    return rc;
}

static void test_command_flags_override_the_file(void **state)
{
    (void)state;
    char path[1024], out[8192];
    scenario_path("email_inbox.json", path, sizeof path);
    char *args[] = {"sim", "--duration", "3", path, "--interval", "30", "--json", "--no-wall"};
    assert_int_equal(run_cmd(8, args, out, sizeof out), 0);
    /* The file's clients, topics and rtt, the options' duration and interval
     * (key by key: the report may gain fields between them). */
    const char *want[] = {"\"approach\":\"short\"", "\"clients\":100000,", "\"topics\":100000,",
                          "\"rtt_ms\":100,",        "\"interval_s\":30,",  "\"duration_s\":3,"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i]))
            fail_msg("%s not in %s", want[i], out);

    /* The chat scenario runs as WebSocket, its own approach, and as short
     * polling when asked to. */
    scenario_path("chat.json", path, sizeof path);
    char *ws[] = {"sim", path, "--duration", "1", "--json"};
    assert_int_equal(run_cmd(5, ws, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"approach\":\"ws\""));
    char *as_short[] = {"sim", path, "--duration", "1", "--approach", "short", "--json"};
    assert_int_equal(run_cmd(7, as_short, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"clients\":100000,"));
    assert_non_null(strstr(out, "\"rate\":0.05,"));

    char *missing[] = {"sim", "/nonexistent/scenario.json"};
    assert_int_equal(run_cmd(2, missing, out, sizeof out), 2);
    char *two[] = {"sim", path, path};
    assert_int_equal(run_cmd(3, two, out, sizeof out), 2);
}

/* ---- Mistakes ------------------------------------------------------------------ */

#define OK_HEAD "{\"description\":\"d\",\"why\":\"w\","

static const struct {
    const char *text;
    int code;
    const char *message; /* after "bad.json: " */
} mistakes[] = {
    {"", RT_SIM_SCENARIO_EJSON, "not valid JSON near line 1, column 1"},
    {"{\"description\":\"d\",\n\"why\":\"w\" \"x\"}", RT_SIM_SCENARIO_EJSON,
     "not valid JSON near line 2, column 11"},
    {OK_HEAD "\"clients\":10,}", RT_SIM_SCENARIO_EJSON, "not valid JSON"},
    {OK_HEAD "\"clients\":10} {}", RT_SIM_SCENARIO_EJSON, "not valid JSON"},
    {"[1, 2]", RT_SIM_SCENARIO_EJSON, "must be one JSON object, not an array"},
    {OK_HEAD "\"clinets\":10}", RT_SIM_SCENARIO_EFIELD, "unknown field \"clinets\""},
    {OK_HEAD "\"requests_per_s\":10}", RT_SIM_SCENARIO_EFIELD, "unknown field \"requests_per_s\""},
    {OK_HEAD "\"clients\":10,\"clients\":20}", RT_SIM_SCENARIO_EFIELD, "clients is given twice"},
    {"{\"why\":\"w\"}", RT_SIM_SCENARIO_EFIELD, "description is missing"},
    {"{\"description\":\"d\"}", RT_SIM_SCENARIO_EFIELD, "why is missing"},
    {OK_HEAD "\"clients\":\"many\"}", RT_SIM_SCENARIO_ETYPE,
     "clients must be an integer from 1 to 4294967295, not a string"},
    {OK_HEAD "\"clients\":2.5}", RT_SIM_SCENARIO_ETYPE,
     "clients must be an integer from 1 to 4294967295, not 2.5"},
    {OK_HEAD "\"rate\":null}", RT_SIM_SCENARIO_ETYPE,
     "rate must be a number from 0 and at most 1e+06, not null"},
    {OK_HEAD "\"sync\":\"yes\"}", RT_SIM_SCENARIO_ETYPE,
     "sync must be true or false, not a string"},
    {OK_HEAD "\"approach\":3}", RT_SIM_SCENARIO_ETYPE, "approach must be one of"},
    {"{\"description\":[\"d\"],\"why\":\"w\"}", RT_SIM_SCENARIO_ETYPE,
     "description must be a non-empty string"},
    {OK_HEAD "\"heartbeat_s\":true}", RT_SIM_SCENARIO_ETYPE, "heartbeat_s must be a number"},
    {OK_HEAD "\"clients\":0}", RT_SIM_SCENARIO_ERANGE,
     "clients must be an integer from 1 to 4294967295, not 0"},
    {OK_HEAD "\"clients\":-3}", RT_SIM_SCENARIO_ERANGE, "clients must be an integer"},
    {OK_HEAD "\"clients\":1e12}", RT_SIM_SCENARIO_ERANGE,
     "clients must be an integer from 1 to 4294967295, not 1000000000000"},
    {OK_HEAD "\"interval_s\":0}", RT_SIM_SCENARIO_ERANGE,
     "interval_s must be a number more than 0 and at most 86400, not 0"},
    {OK_HEAD "\"rate\":-1}", RT_SIM_SCENARIO_ERANGE, "rate must be a number from 0"},
    {OK_HEAD "\"duration_s\":1e999}", RT_SIM_SCENARIO_ERANGE, "duration_s must be a number"},
    {OK_HEAD "\"approach\":\"pigeon\"}", RT_SIM_SCENARIO_ERANGE,
     "approach must be one of \"short\", \"long\", \"sse\", \"ws\", not \"pigeon\""},
    {OK_HEAD "\"radio\":\"5g\"}", RT_SIM_SCENARIO_ERANGE,
     "radio must be one of \"lte\", \"3g\", \"wifi\", not \"5g\""},
    {"{\"description\":\"\",\"why\":\"w\"}", RT_SIM_SCENARIO_ERANGE,
     "description must be a non-empty string"},
    {OK_HEAD "\"clients\":10,\"topics\":11}", RT_SIM_SCENARIO_ERANGE,
     "topics must be at most clients (10), not 11"},
};

static void test_each_mistake_has_its_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof mistakes / sizeof mistakes[0]; i++) {
        struct rt_sim_config c;
        struct rt_sim_scenario s;
        char err[512], want[512];
        rt_sim_config_init(&c);
        int rc = rt_sim_scenario_parse("bad.json", mistakes[i].text, strlen(mistakes[i].text), &c,
                                       &s, err, sizeof err);
        snprintf(want, sizeof want, "bad.json: %s", mistakes[i].message);
        if (rc != mistakes[i].code || strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: got %d \"%s\", want %d \"%s...\"", i, rc, rc ? err : "",
                     mistakes[i].code, want);
    }
}

static void test_files_missing_or_bad(void **state)
{
    (void)state;
    struct rt_sim_config c;
    struct rt_sim_scenario s;
    char err[512];
    rt_sim_config_init(&c);
    assert_int_equal(rt_sim_scenario_load("/nonexistent/chat.json", &c, &s, err, sizeof err),
                     RT_SIM_SCENARIO_EREAD);
    assert_string_equal(err, "/nonexistent/chat.json: cannot read: No such file or directory");
    /* A folder opens but does not read. */
    assert_int_equal(rt_sim_scenario_load(RTLAB_SCENARIO_DIR, &c, &s, err, sizeof err),
                     RT_SIM_SCENARIO_EREAD);

    char tmpl[] = "/tmp/rtlab-bad-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    const char text[] = "{\"description\": \"d\", \"why\": \"w\", \"clients\": 10,,}\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    int rc = rt_sim_scenario_load(tmpl, &c, &s, err, sizeof err);
    unlink(tmpl);
    assert_int_equal(rc, RT_SIM_SCENARIO_EJSON);
    assert_non_null(strstr(err, tmpl));
    assert_non_null(strstr(err, "not valid JSON near line 1, column 49"));
}

/* The behaviour fields reach the run's configuration, and nothing else
 * changes. */
static void test_behaviour_fields_reach_the_config(void **state)
{
    (void)state;
    const char text[] =
        OK_HEAD "\"clients\":7,\"heartbeat_s\":30,\"radio\":\"wifi\","
                "\"reconnect\":\"half_jitter\",\"upstream_rate\":0.5,\"restart_at_s\":60,"
                "\"lb_idle_s\":45,\"timeout_s\":20}";
    struct rt_sim_config c, want;
    struct rt_sim_scenario s;
    char err[512];
    rt_sim_config_init(&c);
    rt_sim_config_init(&want);
    assert_int_equal(rt_sim_scenario_parse("p.json", text, strlen(text), &c, &s, err, sizeof err),
                     0);
    want.clients = 7;
    want.heartbeat_s = 30;
    memcpy(want.radio, "wifi", 5);
    want.reconnect = RT_SIM_RC_HALF_JITTER;
    want.upstream_rate = 0.5;
    want.restart_at_s = 60;
    want.lb_idle_s = 45;
    want.timeout_s = 20;
    assert_memory_equal(&c, &want, sizeof c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_scenarios_load_and_run),
        cmocka_unit_test(test_every_file_in_the_folder_loads_and_runs),
        cmocka_unit_test(test_command_flags_override_the_file),
        cmocka_unit_test(test_each_mistake_has_its_error),
        cmocka_unit_test(test_files_missing_or_bad),
        cmocka_unit_test(test_behaviour_fields_reach_the_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
