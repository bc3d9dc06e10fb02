/*
 * test_plot.c - `rtlab plot`: the quick sweeps write, for every plot its
 * help lists, NAME.dat (with its expected rows), NAME.gp, and the pictures
 * gnuplot draws from them (NAME.png with PNG's signature, NAME.svg with an
 * <svg element); usage mistakes exit 2; without gnuplot the command says
 * how to install it.
 *
 * Run as `test_plot PATH_TO_RTLAB`. Exits 77 (ctest's SKIP_RETURN_CODE)
 * when gnuplot is not installed: the pictures cannot be drawn then.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static const char *rtlab;

/* The plots and the data rows each .dat has under --quick. */
static const struct {
    const char *name;
    int rows;
} plots[] = {
    {"requests_vs_interval", 8}, /* 1, 2, 5, 10, 30, 60, 120, 300 s */
    {"latency_vs_interval", 8},  /* 0.5 to 120 s */
    {"battery_vs_interval", 8},  /* 5 to 600 s */
    {"bytes_per_message", 9},    /* 0.001 to 10 updates/s */
    {"reconnect_storm", 40},     /* one per second of a 40 s run */
    {"connections", 7},          /* four short-polling intervals, long, SSE, WebSocket */
};
#define PLOT_COUNT (sizeof plots / sizeof plots[0])

static char dir[64];

/* Runs rtlab with args (NULL-terminated) to its exit; p holds its output. */
static int run(struct tu_proc *p, const char *const *args, int timeout_ms)
{
    char *argv[16] = {(char *)rtlab};
    int n = 1;
    while (*args && n < 15)
        argv[n++] = (char *)*args++;
    argv[n] = NULL;
    assert_int_equal(tu_proc_start(p, argv), 0);
    return tu_proc_stop(p, 0, tu_ms(timeout_ms));
}

/* The whole file (NUL-terminated, *len its size), or NULL. Caller frees. */
static char *slurp(const char *name, const char *ext, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 4096 + 1 > cap) {
            cap = 2 * cap + 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Data rows: lines that are neither comments nor blank. */
static int data_rows(const char *text)
{
    int rows = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0 && line[0] != '#')
            rows++;
        line += len + (end != NULL);
    }
    return rows;
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rtlab-plot-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    remove_dir();
    return 0;
}

/* Every plot --help lists is one this test knows, and the other way round. */
static void test_help_lists_the_plots(void **state)
{
    (void)state;
    static struct tu_proc p;
    assert_int_equal(run(&p, (const char *const[]){"plot", "--help", NULL}, 5000), 0);
    for (size_t i = 0; i < PLOT_COUNT; i++)
        assert_non_null(strstr(p.out, plots[i].name));
    const char *list = strstr(p.out, "The plots:\n");
    assert_non_null(list);
    int listed = 0;
    for (const char *c = list; (c = strstr(c, "\n  ")) != NULL; c++)
        listed++;
    assert_int_equal(listed, (int)PLOT_COUNT);
}

static void check_files(const char *name, int rows)
{
    size_t len;
    char *dat = slurp(name, "dat", &len);
    assert_non_null(dat);
    assert_true(len > 0);
    assert_int_equal(data_rows(dat), rows);
    assert_non_null(strstr(dat, "# columns"));
    assert_non_null(strstr(dat, "rtlab sim --approach"));
    free(dat);
    char *gp = slurp(name, "gp", &len);
    assert_non_null(gp);
    char want[128];
    snprintf(want, sizeof want, "'%s.dat'", name);
    assert_non_null(strstr(gp, want));
    free(gp);
    char *png = slurp(name, "png", &len);
    assert_non_null(png);
    assert_true(len > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    free(png);
    char *svg = slurp(name, "svg", &len);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<svg"));
    free(svg);
}

static void test_quick_writes_every_plot(void **state)
{
    (void)state;
    static struct tu_proc p;
    int rc = run(&p, (const char *const[]){"plot", "--quick", "--out", dir, NULL}, 120000);
    if (rc != 0)
        fprintf(stderr, "rtlab plot --quick: exit %d\n%s\n", rc, p.err);
    assert_int_equal(rc, 0);
    /* The progress line names each plot and its runs. */
    assert_non_null(strstr(p.err, "[1/6] requests_vs_interval: run 1/"));
    for (size_t i = 0; i < PLOT_COUNT; i++)
        check_files(plots[i].name, plots[i].rows);
}

/* --only makes one plot and nothing else; a nested --out is created. */
static void test_only_one(void **state)
{
    (void)state;
    static struct tu_proc p;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    const char *args[] = {"plot", "--quick", "--only", "connections", "--out", sub, NULL};
    assert_int_equal(run(&p, args, 60000), 0);
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/connections.png", sub);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/latency_vs_interval.dat", sub);
    assert_int_not_equal(stat(path, &st), 0);
    const char *const files[] = {"connections.dat", "connections.gp", "connections.png",
                                 "connections.svg"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", sub, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/a/b", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a", dir);
    rmdir(path);
}

static void test_mistakes(void **state)
{
    (void)state;
    static struct tu_proc p;
    assert_int_equal(run(&p, (const char *const[]){"plot", "--bogus", NULL}, 5000), 2);
    assert_non_null(strstr(p.err, "--bogus"));
    assert_int_equal(run(&p, (const char *const[]){"plot", "--only", "nosuch", NULL}, 5000), 2);
    assert_non_null(strstr(p.err, "nosuch"));
    assert_int_equal(run(&p, (const char *const[]){"plot", "--out", NULL}, 5000), 2);
}

/* With no gnuplot on PATH the command stops before simulating anything,
 * and says what to install. */
static void test_without_gnuplot(void **state)
{
    (void)state;
    static struct tu_proc p;
    char *path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    assert_non_null(path);
    setenv("PATH", "/nonexistent", 1);
    int rc = run(&p, (const char *const[]){"plot", "--quick", "--out", dir, NULL}, 5000);
    setenv("PATH", path, 1);
    free(path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(p.err, "install gnuplot-nox (scripts/deps.sh)"));
}

/* True when gnuplot is an executable file on PATH. */
static bool have_gnuplot(void)
{
    const char *path = getenv("PATH");
    char file[1024];
    for (const char *d = path ? path : ""; *d;) {
        size_t len = strcspn(d, ":");
        snprintf(file, sizeof file, "%.*s/gnuplot", (int)len, d);
        if (len > 0 && access(file, X_OK) == 0)
            return true;
        d += len + (d[len] == ':');
    }
    return false;
}

int main(int argc, char **argv)
{
    rtlab = tu_rtlab_arg(argc, argv);
    if (!have_gnuplot()) {
        printf("SKIP: gnuplot is not installed (scripts/deps.sh installs gnuplot-nox)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_the_plots),
        cmocka_unit_test_setup_teardown(test_quick_writes_every_plot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_one, setup, teardown),
        cmocka_unit_test(test_mistakes),
        cmocka_unit_test_setup_teardown(test_without_gnuplot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
