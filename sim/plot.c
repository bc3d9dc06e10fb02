/*
 * plot.c - `rtlab plot`: the figures of the article, drawn from simulated
 * runs. Each plot is a sweep of `rtlab sim` runs made in-process with
 * rt_sim_run(); its figures go into DIR/NAME.dat (a commented header says
 * what each column is, in which unit, and the runs as `rtlab sim`
 * commands), a gnuplot script DIR/NAME.gp that reads it, and the pictures
 * DIR/NAME.png and DIR/NAME.svg that gnuplot draws from the two.
 *
 *   sweep: runs ---> table ---> NAME.dat --+
 *                         \                 +--> gnuplot NAME.gp --> NAME.png, NAME.svg
 *                          +--> NAME.gp ----+
 *
 * The .gp script is written after the runs, so it can say what they found
 * (a reference line's value in its legend, two approaches that coincide
 * drawn as one line). `gnuplot NAME.gp`, run in DIR, redraws both pictures
 * from the .dat without simulating again.
 *
 * WE SIMPLIFIED. The runs are made one after the other on one core. Where
 * a figure per client does not depend on the number of clients (latency,
 * battery, bytes per message: every client of a topic sees the same
 * stream), a plot simulates fewer clients than it speaks for, and its .dat
 * header says so.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_sim.h"

/* ---- A plot's table ------------------------------------------------------------- */

#define MAX_COLS 12

/* Rows of numbers, one column per quantity; NAN marks a value not computed
 * (written "?"). Column 0 is the x axis; a row may carry a label instead
 * (a bar chart's names). */
struct table {
    size_t rows, cols;
    double *v; /* rows x cols */
    char **label;
    const char *name[MAX_COLS];
    char what[MAX_COLS][160]; /* what the column holds, with its unit */
};

static double *cell(struct table *t, size_t row, size_t col)
{
    return &t->v[row * t->cols + col];
}

static double at(const struct table *t, size_t row, size_t col)
{
    return t->v[row * t->cols + col];
}

/* ---- The context of one plot being made --------------------------------------- */

struct plot_def;

struct plot_ctx {
    const char *dir;
    bool quick, tty;
    const struct plot_def *def;
    int plot_k, plot_n; /* this plot's place among those being made */
    int run_k, run_n;   /* runs of this plot made, and to make */
    uint64_t clients;   /* the clients the plot speaks for (its title) */
    struct table t;
    FILE *notes; /* lines for the .dat header (a memory stream) */
    char *notes_buf;
    size_t notes_len;
    FILE *runs; /* each run as a command, for the .dat's tail */
    char *runs_buf;
    size_t runs_len;
};

/* One plot: its file name, a line for --help, its runs (which fill the
 * table and the notes) and its gnuplot commands. */
struct plot_def {
    const char *name;
    const char *what;
    int (*make)(struct plot_ctx *x);
    void (*gp)(FILE *f, const struct plot_ctx *x);
};

static void note(struct plot_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds a line to the notes the .dat header opens with. */
static void note(struct plot_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", x->notes);
    vfprintf(x->notes, fmt, ap);
    fputc('\n', x->notes);
    va_end(ap);
}

/* Sets up the table: rows x cols of NAN, and x values in column 0.
 * Returns 0, or -1 when out of memory. */
static int table_init(struct table *t, size_t rows, size_t cols, const double *xs)
{
    t->rows = rows;
    t->cols = cols;
    t->v = malloc(rows * cols * sizeof *t->v);
    t->label = calloc(rows, sizeof *t->label);
    if (!t->v || !t->label)
        return -1;
    for (size_t i = 0; i < rows * cols; i++)
        t->v[i] = NAN;
    for (size_t i = 0; xs && i < rows; i++)
        *cell(t, i, 0) = xs[i];
    return 0;
}

static void column(struct table *t, size_t col, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Names column col and says what it holds. */
static void column(struct table *t, size_t col, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    t->name[col] = name;
    vsnprintf(t->what[col], sizeof t->what[col], fmt, ap);
    va_end(ap);
}

/* ---- Runs ---------------------------------------------------------------------- */

/* A run as the `rtlab sim` command that repeats it: the approach, clients,
 * duration (and a short poll's interval) always, then the options for the
 * fields the plots change, where they differ from rt_sim_config_init's. */
static void write_command(FILE *f, const struct rt_sim_config *c)
{
    struct rt_sim_config d;
    rt_sim_config_init(&d);
    fprintf(f, "rtlab sim --approach %s --clients %llu --duration %.10g",
            rt_sim_approach_name(c->approach), (unsigned long long)c->clients, c->duration_s);
    if (c->approach == RT_SIM_SHORT)
        fprintf(f, " --interval %.10g", c->interval_s);
    if (c->rate != d.rate)
        fprintf(f, " --rate %.10g", c->rate);
    if (c->topics != d.topics)
        fprintf(f, " --topics %u", c->topics);
    if (c->rtt_ms != d.rtt_ms)
        fprintf(f, " --rtt %.10g", c->rtt_ms);
    if (c->heartbeat_s != d.heartbeat_s && c->heartbeat_s < 0)
        fprintf(f, " --heartbeat none");
    else if (c->heartbeat_s != d.heartbeat_s)
        fprintf(f, " --heartbeat %.10g", c->heartbeat_s);
    if (c->timeout_s != d.timeout_s)
        fprintf(f, " --timeout %.10g", c->timeout_s);
    if (strcmp(c->radio, d.radio) != 0)
        fprintf(f, " --radio %s", c->radio);
    if (c->reconnect != d.reconnect)
        fprintf(f, " --reconnect %s", rt_sim_reconnect_name(c->reconnect));
    if (c->restart_at_s != d.restart_at_s)
        fprintf(f, " --restart-at %.10g", c->restart_at_s);
    if (c->restart_down_s != d.restart_down_s)
        fprintf(f, " --restart-down %.10g", c->restart_down_s);
    if (c->seed != d.seed)
        fprintf(f, " --seed %llu", (unsigned long long)c->seed);
}

/* The progress line: which plot, which run. Redrawn in place on a
 * terminal, one line per run otherwise (a log). */
static void progress(const struct plot_ctx *x, const char *label)
{
    if (x->tty)
        fprintf(stderr, "\rrtlab plot [%d/%d] %s: run %d/%d, %-40.40s", x->plot_k, x->plot_n,
                x->def->name, x->run_k, x->run_n, label);
    else
        fprintf(stderr, "rtlab plot [%d/%d] %s: run %d/%d, %s\n", x->plot_k, x->plot_n,
                x->def->name, x->run_k, x->run_n, label);
}

static void progress_clear(const struct plot_ctx *x)
{
    if (x->tty)
        fprintf(stderr, "\r%100s\r", "");
}

/*
 * Runs one simulation and lists it among the runs. Returns 0 with the
 * report in r (the caller gives it to rt_sim_report_free), or -1 with a
 * message.
 */
static int plot_run(struct plot_ctx *x, const char *label, const struct rt_sim_config *c,
                    struct rt_sim_report *r)
{
    char err[256] = "";
    x->run_k++;
    progress(x, label);
    fputs("#   ", x->runs);
    write_command(x->runs, c);
    fputc('\n', x->runs);
    if (rt_sim_run(c, r, err, sizeof err) == 0)
        return 0;
    progress_clear(x);
    fprintf(stderr, "rtlab plot: %s: %s: %s\n", x->def->name, label, err);
    return -1;
}

/* What a curve reads from each report. */
typedef double (*metric_fn)(const struct rt_sim_report *r);

/*
 * One curve of a sweep: a configuration, what changes with x (set; NULL for
 * a reference that does not depend on x, run once and repeated on every
 * row), and up to two figures read from each run into columns col, col + 1.
 */
struct curve {
    const char *label; /* for the progress line and the notes */
    struct rt_sim_config c;
    void (*set)(const struct plot_ctx *x, struct rt_sim_config *c, double v);
    metric_fn metric[2];
    size_t col;
};

/* Runs a curve at every x of the table (a reference once). Returns 0, or
 * -1 after a message. */
static int sweep(struct plot_ctx *x, const struct curve *cv)
{
    size_t n = cv->set ? x->t.rows : 1;
    for (size_t i = 0; i < n; i++) {
        struct rt_sim_config c = cv->c;
        char label[96];
        if (cv->set) {
            cv->set(x, &c, at(&x->t, i, 0));
            snprintf(label, sizeof label, "%s at %g", cv->label, at(&x->t, i, 0));
        } else {
            snprintf(label, sizeof label, "%s", cv->label);
        }
        struct rt_sim_report r;
        if (plot_run(x, label, &c, &r) != 0)
            return -1;
        size_t from = cv->set ? i : 0, to = cv->set ? i + 1 : x->t.rows; /* a reference: all */
        for (size_t m = 0; m < 2 && cv->metric[m]; m++)
            for (size_t row = from; row < to; row++)
                *cell(&x->t, row, cv->col + m) = cv->metric[m](&r);
        rt_sim_report_free(&r);
    }
    return 0;
}

static int sweep_all(struct plot_ctx *x, const struct curve *cv, size_t n)
{
    x->run_n = 0;
    for (size_t i = 0; i < n; i++)
        x->run_n += cv[i].set ? (int)x->t.rows : 1;
    for (size_t i = 0; i < n; i++) {
        int rc = sweep(x, &cv[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A configuration with the defaults, then the approach and clients. */
static struct rt_sim_config config(enum rt_sim_approach a, uint64_t clients)
{
    struct rt_sim_config c;
    rt_sim_config_init(&c);
    c.approach = a;
    c.clients = clients;
    c.progress = false; /* ours is the progress line */
    return c;
}

/* ---- The figures read from a report --------------------------------------------- */

static double m_requests_per_s(const struct rt_sim_report *r)
{
    return r->requests_per_s;
}

static double m_latency_mean(const struct rt_sim_report *r)
{
    return r->delivered ? r->latency_ms_mean : NAN;
}

static double m_latency_p99(const struct rt_sim_report *r)
{
    return r->delivered ? r->latency_ms_p99 : NAN;
}

static double m_battery(const struct rt_sim_report *r)
{
    return r->energy_modelled ? r->battery_pct_per_hour : NAN;
}

/* Both directions' bytes, TCP/IP included, per message delivered. */
static double m_bytes_per_message(const struct rt_sim_report *r)
{
    return r->delivered ? (double)(r->bytes_up + r->bytes_down) / (double)r->delivered : NAN;
}

static double m_connections(const struct rt_sim_report *r)
{
    return r->connections;
}

static double m_server_mib(const struct rt_sim_report *r)
{
    return r->server_memory_bytes > 0 ? r->server_memory_bytes / (1024.0 * 1024.0) : NAN;
}

/* 1234567 -> "1,234,567" (whole numbers; buf of at least 32 bytes). */
static const char *thousands(double v, char *buf, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%.0f", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        buf[o++] = digits[i];
        if (digits[i] != '-' && (n - i - 1) % 3 == 0 && i < n - 1)
            buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

/* ---- gnuplot: what every script shares ------------------------------------------ */

/* One colour and point per approach, the same in every plot (style 9: the
 * closed forms and references, grey and dashed). */
static const char gp_styles[] =
    "set style line 1 lc rgb '#d95f02' lw 2 pt 7 ps 1.3   # short polling\n"
    "set style line 2 lc rgb '#7570b3' lw 2 pt 5 ps 1.2   # long polling\n"
    "set style line 3 lc rgb '#1b9e77' lw 2 pt 9 ps 1.5   # SSE\n"
    "set style line 4 lc rgb '#1f78b4' lw 2 pt 11 ps 1.5  # WebSocket\n"
    "set style line 9 lc rgb '#606060' lw 1.5 dt 2        # closed forms, references\n";

static const unsigned approach_rgb[] = {0xd95f02, 0x7570b3, 0x1b9e77, 0x1f78b4};

/* The script's head: what it is, the settings every plot shares. */
static void gp_begin(FILE *f, const char *name)
{
    fprintf(f,
            "# %s.gp, written by `rtlab plot` (sim/plot.c). Run `gnuplot %s.gp` in this\n"
            "# folder to redraw %s.png and %s.svg from %s.dat.\n"
            "set encoding utf8\n"
            "set datafile missing '?'\n"
            "set grid lc rgb '#e0e0e0' lw 1 dt 1\n"
            "set key box lc rgb '#c0c0c0' opaque samplen 3 spacing 1.2\n"
            "set tics nomirror\n"
            "%s",
            name, name, name, name, name, gp_styles);
}

/* The same drawing twice, once per picture: the body (the plot's own
 * settings and plot commands, multiplot included) inside a loop over the
 * two terminals, indented. */
static void gp_draw_twice(FILE *f, const char *name, const char *body, size_t len)
{
    fprintf(f, "do for [out in 'png svg'] {\n"
               "    if (out eq 'png') {\n"
               "        set terminal pngcairo size 1000,650 noenhanced font 'Sans,12'\n"
               "    } else {\n"
               "        set terminal svg size 1000,650 noenhanced font 'Sans,12' "
               "background rgb 'white'\n"
               "    }\n");
    fprintf(f, "    set output '%s.'.out\n", name);
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(body + i, "\n");
        fprintf(f, "    %.*s\n", (int)n, body + i);
        i += n + 1;
    }
    fprintf(f, "    unset output\n}\n");
}

/* Builds one `plot` command clause by clause, each on its own line. */
struct gp_plot {
    FILE *f;
    const char *dat;
    int n;
};

static void gp_add(struct gp_plot *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void gp_add(struct gp_plot *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(p->f, p->n++ ? ", \\\n     '%s.dat' " : "plot '%s.dat' ", p->dat);
    vfprintf(p->f, fmt, ap);
    va_end(ap);
}

static void gp_finish(struct gp_plot *p)
{
    fputc('\n', p->f);
}

/* "25 ms" style figures for legends: 3 significant digits, whole above 100. */
static const char *fig(double v, char *buf, size_t len)
{
    if (v >= 100)
        thousands(v, buf, len);
    else
        snprintf(buf, len, "%.3g", v);
    return buf;
}

static const char *const approach_title[] = {"short polling", "long polling", "SSE", "WebSocket"};

/* ---- 1. requests/s vs polling interval, 1,000,000 clients -------------------------- */

static const double req_intervals[] = {1, 2, 5, 10, 30, 60, 120, 300};
#define REQ_ROWS (sizeof req_intervals / sizeof req_intervals[0])

/* Ten requests per client are plenty: every client makes exactly one every
 * T + rtt, so requests/s needs no long run to settle. */
static void set_req_interval(const struct plot_ctx *x, struct rt_sim_config *c, double t)
{
    c->interval_s = t;
    c->duration_s = (x->quick ? 3 : 10) * (t + c->rtt_ms / 1e3);
}

static int make_requests(struct plot_ctx *x)
{
    uint64_t n = x->clients = x->quick ? 10000 : 1000000;
    struct table *t = &x->t;
    if (table_init(t, REQ_ROWS, 4, req_intervals) != 0)
        return -1;
    column(t, 0, "interval_s", "the polling interval T, s (from an answer to the next request)");
    column(t, 1, "short_req_per_s", "short polling, simulated: requests/s at the server");
    column(t, 2, "closed_form_req_per_s", "N / (T + rtt), requests/s");
    column(t, 3, "long_req_per_s", "long polling (30 s hold), requests/s: the same at every T");
    struct curve cv[] = {
        {.label = "short polling",
         .c = config(RT_SIM_SHORT, n),
         .set = set_req_interval,
         .metric = {m_requests_per_s},
         .col = 1},
        {.label = "long polling",
         .c = config(RT_SIM_LONG, n),
         .metric = {m_requests_per_s},
         .col = 3},
    };
    cv[1].c.duration_s = x->quick ? 60 : 300;
    int rc = sweep_all(x, cv, 2);
    for (size_t i = 0; i < t->rows; i++)
        *cell(t, i, 2) = (double)n / (at(t, i, 0) + cv[0].c.rtt_ms / 1e3);
    char nb[32];
    note(x, "Requests per second at the server, %s clients, by polling interval T.",
         thousands((double)n, nb, sizeof nb));
    note(x, "Short polling: each point runs 10 (T + rtt) simulated seconds (--quick: 3);");
    note(x, "every client makes one request per T + rtt from a random phase, so the");
    note(x, "rate is steady from the start and needs no longer run.");
    note(x, "Long polling: one run of %g s at 0.1 updates/s on one topic; its rate does",
         cv[1].c.duration_s);
    note(x, "not depend on T (its requests follow the updates and the 30 s hold).");
    note(x, "SSE and WebSocket make no requests once connected.");
    note(x, "rtt 50 ms; other settings rtlab sim's defaults (the runs are listed at the end).");
    return rc;
}

static void gp_requests(FILE *f, const struct plot_ctx *x)
{
    char nb[32], vb[32];
    fprintf(f,
            "set title 'Short polling: requests/s at the server for %s clients'\n"
            "set xlabel 'polling interval T (s)'\n"
            "set ylabel 'requests per second at the server'\n"
            "set logscale xy\n"
            "set format y '%%.0s%%c'\n"
            "set xtics (1, 2, 5, 10, 30, 60, 120, 300)\n"
            "set xrange [0.8:380]\n"
            "set key bottom left\n"
            "set label 1 'SSE and WebSocket: no requests once connected' at graph 0.97, graph 0.93 "
            "right\n",
            thousands((double)x->clients, nb, sizeof nb));
    struct gp_plot p = {f, x->def->name, 0};
    gp_add(&p, "using 1:3 with lines ls 9 title 'N / (T + rtt): the closed form'");
    gp_add(&p, "using 1:2 with points ls 1 title 'short polling, simulated'");
    gp_add(&p,
           "using 1:4 with lines ls 2 title 'long polling (30 s hold, 0.1 updates/s): "
           "%s requests/s at any T'",
           thousands(at(&x->t, 0, 3), vb, sizeof vb));
    gp_finish(&p);
}

/* ---- 2. delivery latency vs polling interval --------------------------------------- */

static const double lat_intervals[] = {0.5, 1, 2, 5, 10, 30, 60, 120};
#define LAT_ROWS (sizeof lat_intervals / sizeof lat_intervals[0])

/* At least 100 polls per client and 60 updates. The messages published in
 * the last T of a run are delivered only to the clients that poll before
 * the end, at a latency below the average: a run of 100 T keeps that bias
 * under 1%. */
static void set_lat_interval(const struct plot_ctx *x, struct rt_sim_config *c, double t)
{
    c->interval_s = t;
    c->duration_s = x->quick ? fmax(60, 4 * t) : fmax(600, 100 * t);
}

static int make_latency(struct plot_ctx *x)
{
    uint64_t n = x->clients = x->quick ? 200 : 10000;
    struct table *t = &x->t;
    if (table_init(t, LAT_ROWS, 11, lat_intervals) != 0)
        return -1;
    column(t, 0, "interval_s", "the polling interval T, s (short polling)");
    column(t, 1, "short_mean_ms", "short polling: mean latency, ms (publish to client)");
    column(t, 2, "short_p99_ms", "short polling: 99th percentile latency, ms");
    column(t, 3, "closed_mean_ms", "closed form of the mean: (T + rtt)/2 + rtt/2, ms");
    column(t, 4, "closed_p99_ms", "closed form of p99: 0.99 (T + rtt) + rtt/2, ms");
    static const char *const names[] = {"long_mean_ms", "long_p99_ms", "sse_mean_ms",
                                        "sse_p99_ms",   "ws_mean_ms",  "ws_p99_ms"};
    struct curve cv[4] = {
        {.label = "short polling",
         .c = config(RT_SIM_SHORT, n),
         .set = set_lat_interval,
         .metric = {m_latency_mean, m_latency_p99},
         .col = 1},
    };
    for (int a = RT_SIM_LONG; a <= RT_SIM_WS; a++) {
        size_t col = 5 + 2 * (size_t)(a - RT_SIM_LONG);
        column(t, col, names[col - 5], "%s: mean latency, ms (the same at every T)",
               approach_title[a]);
        column(t, col + 1, names[col - 4], "%s: p99 latency, ms", approach_title[a]);
        cv[a] = (struct curve){.label = approach_title[a],
                               .c = config((enum rt_sim_approach)a, n),
                               .metric = {m_latency_mean, m_latency_p99},
                               .col = col};
        cv[a].c.duration_s = x->quick ? 60 : 600;
    }
    int rc = sweep_all(x, cv, 4);
    double rtt = cv[0].c.rtt_ms;
    for (size_t i = 0; i < t->rows; i++) {
        double tt = at(t, i, 0) * 1e3;
        *cell(t, i, 3) = (tt + rtt) / 2 + rtt / 2;
        *cell(t, i, 4) = 0.99 * (tt + rtt) + rtt / 2;
    }
    char nb[32];
    note(x, "Delivery latency (publish to the client having the message) by polling interval.");
    note(x, "%s clients on one topic, 0.1 updates/s, rtt 50 ms. Latency per client does not",
         thousands((double)n, nb, sizeof nb));
    note(x, "depend on the number of clients, so this many give thousands of deliveries.");
    note(x, "Short polling: each point runs max(600 s, 100 T) (--quick: max(60 s, 4 T)).");
    note(x, "Long polling, SSE, WebSocket: one run of %g s each; the polling interval does",
         cv[1].c.duration_s);
    note(x, "not apply to them, so their figures are repeated on every row.");
    return rc;
}

/* True when columns a and b agree within 2% on every row. */
static bool same_column(const struct table *t, size_t a, size_t b)
{
    for (size_t i = 0; i < t->rows; i++) {
        double u = at(t, i, a), v = at(t, i, b);
        if (isnan(u) || isnan(v) || fabs(u - v) > 0.02 * fmax(u, v))
            return false;
    }
    return true;
}

/* The push approaches' reference lines: approaches whose mean and p99
 * agree share a line (one title naming them all); a line whose mean and
 * p99 agree is drawn once. */
static void gp_latency_refs(struct gp_plot *p, const struct table *t)
{
    bool done[4] = {false};
    for (int a = RT_SIM_LONG; a <= RT_SIM_WS; a++) {
        size_t col = 5 + 2 * (size_t)(a - RT_SIM_LONG);
        if (done[a])
            continue;
        char who[64], mb[32], pb[32];
        snprintf(who, sizeof who, "%s", approach_title[a]);
        for (int b = a + 1; b <= RT_SIM_WS; b++) {
            if (!done[b] && same_column(t, col, 5 + 2 * (size_t)(b - RT_SIM_LONG)) &&
                same_column(t, col + 1, 6 + 2 * (size_t)(b - RT_SIM_LONG))) {
                done[b] = true;
                snprintf(who + strlen(who), sizeof who - strlen(who), ", %s", approach_title[b]);
            }
        }
        double mean = at(t, 0, col), p99 = at(t, 0, col + 1);
        if (fabs(mean - p99) <= 0.02 * p99) {
            gp_add(p, "using 1:%zu with lines ls %d dt 1 title '%s: %s ms (mean and p99)'", col + 1,
                   a + 1, who, fig(mean, mb, sizeof mb));
            continue;
        }
        gp_add(p, "using 1:%zu with lines ls %d dt 1 title '%s: mean %s ms'", col + 1, a + 1, who,
               fig(mean, mb, sizeof mb));
        gp_add(p, "using 1:%zu with lines ls %d dt 3 title '%s: p99 %s ms'", col + 2, a + 1, who,
               fig(p99, pb, sizeof pb));
    }
}

static void gp_latency(FILE *f, const struct plot_ctx *x)
{
    fprintf(f, "set title 'Delivery latency: short polling by interval, and the push approaches'\n"
               "set xlabel 'polling interval T (s)'\n"
               "set ylabel 'latency, publish to client'\n"
               "set logscale xy\n"
               "set ytics ('10 ms' 10, '100 ms' 100, '1 s' 1000, '10 s' 10000, '100 s' 100000)\n"
               "set yrange [8:400000]\n"
               "set xtics (0.5, 1, 2, 5, 10, 30, 60, 120)\n"
               "set xrange [0.4:150]\n"
               "set key top left\n");
    struct gp_plot p = {f, x->def->name, 0};
    gp_add(&p, "using 1:3 with linespoints ls 1 dt 2 pt 6 title 'short polling: p99'");
    gp_add(&p, "using 1:2 with linespoints ls 1 title 'short polling: mean'");
    gp_add(&p, "using 1:4 with lines ls 9 title 'closed forms: (T+rtt)/2 + rtt/2, "
               "0.99 (T+rtt) + rtt/2'");
    gp_add(&p, "using 1:5 with lines ls 9 notitle");
    gp_latency_refs(&p, &x->t);
    gp_finish(&p);
}

/* ---- 3. battery vs polling or heartbeat interval, LTE and WiFi ------------------------ */

static const double bat_intervals[] = {5, 10, 15, 30, 60, 120, 300, 600};
#define BAT_ROWS (sizeof bat_intervals / sizeof bat_intervals[0])
#define BAT_RATE 0.001 /* updates/s: one every ~17 minutes, a notifications app */

static void set_bat_interval(const struct plot_ctx *x, struct rt_sim_config *c, double v)
{
    (void)x;
    c->interval_s = v;
}

static void set_bat_heartbeat(const struct plot_ctx *x, struct rt_sim_config *c, double v)
{
    (void)x;
    c->heartbeat_s = v;
}

static int make_battery(struct plot_ctx *x)
{
    uint64_t n = x->clients = x->quick ? 50 : 1000;
    struct table *t = &x->t;
    if (table_init(t, BAT_ROWS, 7, bat_intervals) != 0)
        return -1;
    column(t, 0, "interval_s", "short: polling interval; SSE, WebSocket: heartbeat interval; s");
    static const char *const names[] = {"short_lte", "short_wifi", "sse_lte",
                                        "sse_wifi",  "ws_lte",     "ws_wifi"};
    static const enum rt_sim_approach ap[] = {RT_SIM_SHORT, RT_SIM_SSE, RT_SIM_WS};
    static const char *const labels[] = {"short polling, LTE", "short polling, WiFi",
                                         "SSE, LTE",           "SSE, WiFi",
                                         "WebSocket, LTE",     "WebSocket, WiFi"};
    struct curve cv[6];
    for (size_t i = 0; i < 6; i++) {
        const char *radio = i % 2 ? "wifi" : "lte";
        column(t, i + 1, names[i], "%s: battery %%/hour (iPhone 15, 12.98 Wh)", labels[i]);
        cv[i] = (struct curve){.label = labels[i],
                               .c = config(ap[i / 2], n),
                               .set = i < 2 ? set_bat_interval : set_bat_heartbeat,
                               .metric = {m_battery},
                               .col = i + 1};
        memcpy(cv[i].c.radio, radio, strlen(radio) + 1);
        cv[i].c.rate = BAT_RATE;
        cv[i].c.duration_s = x->quick ? 1800 : 7200;
    }
    int rc = sweep_all(x, cv, 6);
    char nb[32];
    note(x, "Battery used per hour by a phone kept up to date, by polling interval (short");
    note(x, "polling) or heartbeat interval (SSE comments, WebSocket pings), on LTE and WiFi");
    note(x, "(the radio model of docs/sim-radio.md; battery: iPhone 15, 12.98 Wh).");
    note(x, "%s clients, %g simulated s per point, %g updates/s on one topic (one every",
         thousands((double)n, nb, sizeof nb), cv[0].c.duration_s, BAT_RATE);
    note(x, "~17 min); energy per client does not depend on the number of clients.");
    return rc;
}

/* One panel: one radio's curves (col 1 + radio, 3 + radio, 5 + radio);
 * SSE and WebSocket drawn as one curve when they agree. */
static void gp_battery_panel(FILE *f, const struct plot_ctx *x, size_t radio)
{
    fprintf(f, "set title '%s'\n", radio ? "WiFi" : "LTE");
    if (radio)
        fprintf(f, "set ylabel ''\n");
    struct gp_plot p = {f, x->def->name, 0};
    gp_add(&p, "using 1:%zu with linespoints ls 1 title 'short polling'", 2 + radio);
    if (same_column(&x->t, 3 + radio, 5 + radio)) {
        gp_add(&p, "using 1:%zu with linespoints ls 3 title 'SSE, WebSocket (within 2%%)'",
               4 + radio);
    } else {
        gp_add(&p, "using 1:%zu with linespoints ls 3 title 'SSE'", 4 + radio);
        gp_add(&p, "using 1:%zu with linespoints ls 4 title 'WebSocket'", 6 + radio);
    }
    gp_finish(&p);
}

/* Two panels, LTE and WiFi, on the same axes: the contrast between the
 * radios is the point. */
static void gp_battery(FILE *f, const struct plot_ctx *x)
{
    fprintf(f, "set multiplot layout 1,2 title 'Battery used to stay up to date: short "
               "polling by interval, SSE and WebSocket by heartbeat'\n"
               "set xlabel 'polling (short) or heartbeat (SSE, WS) interval (s)'\n"
               "set ylabel 'battery used (%% per hour, iPhone 15: 12.98 Wh)'\n"
               "set logscale xy\n"
               "set format y '%%g'\n"
               "set xtics (5, 10, 15, 30, 60, 120, 300, 600)\n"
               "set xrange [4:750]\n"
               "set yrange [0.1:20]\n"
               "set key top right\n");
    gp_battery_panel(f, x, 0);
    gp_battery_panel(f, x, 1);
    fprintf(f, "unset multiplot\n");
}

/* ---- 4. bytes per delivered message vs update rate ---------------------------------- */

static const double byte_rates[] = {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10};
#define BYTE_ROWS (sizeof byte_rates / sizeof byte_rates[0])

/* At least 200 updates per point (20 with --quick), and 600 s (60 s). */
static void set_byte_rate(const struct plot_ctx *x, struct rt_sim_config *c, double r)
{
    c->rate = r;
    c->duration_s = x->quick ? fmin(20000, fmax(60, 20 / r)) : fmin(200000, fmax(600, 200 / r));
}

static int make_bytes(struct plot_ctx *x)
{
    uint64_t n = x->clients = x->quick ? 20 : 100;
    struct table *t = &x->t;
    if (table_init(t, BYTE_ROWS, 6, byte_rates) != 0)
        return -1;
    column(t, 0, "rate", "updates per second on the topic");
    static const char *const names[] = {"short_bytes", "long_bytes", "sse_bytes", "ws_bytes"};
    static const char *const how[] = {"polling every 5 s", "30 s hold", "comment every 15 s",
                                      "ping every 30 s"};
    struct curve cv[4];
    for (int a = 0; a < 4; a++) {
        column(t, (size_t)a + 1, names[a], "%s (%s): bytes up + down per message delivered",
               approach_title[a], how[a]);
        cv[a] = (struct curve){.label = approach_title[a],
                               .c = config((enum rt_sim_approach)a, n),
                               .set = set_byte_rate,
                               .metric = {m_bytes_per_message},
                               .col = (size_t)a + 1};
    }
    column(t, 5, "payload_bytes", "the message's data alone, bytes");
    int rc = sweep_all(x, cv, 4);
    for (size_t i = 0; i < t->rows; i++)
        *cell(t, i, 5) = cv[0].c.payload_bytes;
    char nb[32];
    note(x, "Bytes on the wire (both directions, HTTP and TCP/IP headers, ACKs, heartbeats)");
    note(x, "per message delivered, by update rate. %s clients on one topic; every client",
         thousands((double)n, nb, sizeof nb));
    note(x, "sees the same stream, so bytes per message do not depend on their number.");
    note(x, "Each point runs max(600 s, 200 updates) up to 200,000 s (--quick: max(60 s, 20");
    note(x, "updates) up to 20,000 s). Defaults otherwise: short polling every 5 s, long");
    note(x, "polling's 30 s hold, SSE's comment every 15 s, WebSocket's ping every 30 s,");
    note(x, "a 16-byte payload, rtt 50 ms.");
    return rc;
}

static void gp_bytes(FILE *f, const struct plot_ctx *x)
{
    fprintf(f, "set title 'Bytes on the wire per message delivered, by update rate'\n"
               "set xlabel 'updates per second on the topic'\n"
               "set ylabel 'bytes per message delivered (up + down, TCP/IP included)'\n"
               "set logscale xy\n"
               "set format x '%%g'\n"
               "set format y '%%.0s%%c'\n"
               "set xrange [0.0007:14]\n"
               "set key top right\n");
    struct gp_plot p = {f, x->def->name, 0};
    static const char *const titles[] = {"short polling (every 5 s)", "long polling (30 s hold)",
                                         "SSE (comment every 15 s)", "WebSocket (ping every 30 s)"};
    for (size_t a = 0; a < 4; a++)
        gp_add(&p, "using 1:%zu with linespoints ls %zu title '%s'", a + 2, a + 1, titles[a]);
    gp_add(&p, "using 1:6 with lines ls 9 title 'the message data alone (%g bytes)'",
           at(&x->t, 0, 5));
    gp_finish(&p);
}

/* ---- 5. reconnects/s after a server restart ------------------------------------------ */

static const enum rt_sim_reconnect storm_policies[] = {
    RT_SIM_RC_IMMEDIATE, RT_SIM_RC_BACKOFF, RT_SIM_RC_HALF_JITTER, RT_SIM_RC_FULL_JITTER};
#define STORM_CURVES (sizeof storm_policies / sizeof storm_policies[0])

/* The restart's settings, the same for every policy. */
static struct rt_sim_config storm_config(const struct plot_ctx *x, enum rt_sim_reconnect p)
{
    struct rt_sim_config c = config(RT_SIM_SSE, x->clients);
    c.reconnect = p;
    c.restart_at_s = x->quick ? 10 : 60;
    c.restart_down_s = 5;
    c.duration_s = x->quick ? 40 : 180;
    return c;
}

/* Copies a run's connection attempts per step into column col, as attempts/s. */
static void storm_fill(struct table *t, size_t col, const struct rt_sim_report *r)
{
    for (size_t k = 0; k < t->rows; k++)
        *cell(t, k, col) = k < r->series_len && r->series_connects
                               ? r->series_connects[k] / r->series_step_s
                               : NAN;
}

static int make_storm(struct plot_ctx *x)
{
    x->clients = x->quick ? 2000 : 100000;
    struct rt_sim_config c0 = storm_config(x, RT_SIM_RC_IMMEDIATE);
    size_t steps = (size_t)ceil(c0.duration_s); /* one-second steps (RT_SIM_SERIES_MAX > this) */
    struct table *t = &x->t;
    if (table_init(t, steps, 1 + STORM_CURVES, NULL) != 0)
        return -1;
    for (size_t k = 0; k < steps; k++)
        *cell(t, k, 0) = (double)k;
    column(t, 0, "t_s", "simulated time at the start of the step, s (1 s steps)");
    x->run_n = (int)STORM_CURVES;
    for (size_t i = 0; i < STORM_CURVES; i++) {
        const char *name = rt_sim_reconnect_name(storm_policies[i]);
        column(t, i + 1, name, "reconnect policy %s: connection attempts/s (refused ones too)",
               name);
        struct rt_sim_config c = storm_config(x, storm_policies[i]);
        struct rt_sim_report r;
        char label[64];
        snprintf(label, sizeof label, "SSE, reconnect %s", name);
        if (plot_run(x, label, &c, &r) != 0)
            return -1;
        storm_fill(t, i + 1, &r);
        rt_sim_report_free(&r);
    }
    char nb[32];
    note(x, "Connection attempts per second (refused ones included) around a server restart:");
    note(x, "%s SSE clients; at t = %g s every connection closes and the server refuses",
         thousands((double)x->clients, nb, sizeof nb), c0.restart_at_s);
    note(x, "connections for %g s. Reconnect delays after the k-th failure in a row, with",
         c0.restart_down_s);
    note(x, "b = %g s and cap m = %g s: immediate 0; backoff min(m, b 2^k); half_jitter",
         c0.reconnect_base_s, c0.reconnect_max_s);
    note(x, "min(m, b 2^k) x U[0.5, 1.5]; full_jitter U[0, min(m, b 2^k)] (rtlab's clients).");
    note(x, "A refused attempt costs one rtt (50 ms). 0.1 updates/s on one topic.");
    return 0;
}

/* The last second in which any policy made an attempt (0: none). */
static double storm_last(const struct table *t)
{
    double last = 0;
    for (size_t i = 0; i < t->rows; i++)
        for (size_t j = 1; j < t->cols; j++)
            if (at(t, i, j) > 0)
                last = at(t, i, 0);
    return last;
}

/* Points at backoff's first burst after the server is back: without
 * jitter every client waits the same delays, so all of them come back in
 * the same instant, which a one-second step cannot show by its height. */
static void gp_storm_herd(FILE *f, const struct plot_ctx *x, const struct rt_sim_config *c)
{
    const struct table *t = &x->t;
    for (size_t i = 0; i < t->rows; i++) {
        double v = at(t, i, 2);
        if (at(t, i, 0) < c->restart_at_s + c->restart_down_s || !(v > 0))
            continue;
        char nb[32];
        fprintf(f,
                "set label 2 \"no jitter: all %s clients try\\nin the same instant, "
                "each time\" at %g, %g left offset 1, 0.5 tc rgb '#c05000'\n",
                thousands(v, nb, sizeof nb), at(t, i, 0) + 1, v);
        return;
    }
}

/* Attempts/s on a log axis, each second drawn as a step; a second with no
 * attempt is drawn below the axis (0 has no place on a log scale), so a
 * curve drops out of sight between its bursts. */
static void gp_storm(FILE *f, const struct plot_ctx *x)
{
    char nb[32];
    struct rt_sim_config c = storm_config(x, RT_SIM_RC_IMMEDIATE);
    double from = c.restart_at_s - 5, to = fmax(c.restart_at_s + 20, storm_last(&x->t) + 6);
    fprintf(f,
            "set title 'Reconnects after a server restart: %s SSE clients, server down %g s "
            "from t = %g s'\n"
            "set xlabel 'simulated time (s)'\n"
            "set ylabel 'connection attempts per second (refused ones included)'\n"
            "set logscale y\n"
            "set format y '%%.0s%%c'\n"
            "set xrange [%g:%g]\n"
            "set yrange [1:*]\n"
            "set key top right\n"
            "set object 1 rect from %g, graph 0 to %g, graph 1 fc rgb '#ececec' fs solid "
            "noborder behind\n"
            "set label 1 'server down' at %g, graph 0.97 center\n",
            thousands((double)x->clients, nb, sizeof nb), c.restart_down_s, c.restart_at_s, from,
            to, c.restart_at_s, c.restart_at_s + c.restart_down_s,
            c.restart_at_s + c.restart_down_s / 2);
    gp_storm_herd(f, x, &c);
    static const char *const titles[] = {"immediate", "backoff, no jitter", "half jitter",
                                         "full jitter"};
    static const char *const colours[] = {"#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"};
    struct gp_plot p = {f, x->def->name, 0};
    for (size_t i = 0; i < STORM_CURVES; i++)
        gp_add(&p, "using 1:($%zu > 0 ? $%zu : 0.01) with steps lw 2 lc rgb '%s' title '%s'", i + 2,
               i + 2, colours[i], titles[i]);
    gp_finish(&p);
}

/* ---- 6. connections held per approach --------------------------------------------- */

/* The bars: short polling at four intervals (either side of the server's
 * 60 s keep-alive timeout), then the three push approaches. */
static const struct {
    enum rt_sim_approach a;
    double interval_s;
    const char *label, *tic; /* tic: the x axis's, on two lines */
} conn_bars[] = {
    {RT_SIM_SHORT, 5, "short, every 5 s", "short polling\\nevery 5 s"},
    {RT_SIM_SHORT, 30, "short, every 30 s", "short polling\\nevery 30 s"},
    {RT_SIM_SHORT, 120, "short, every 120 s", "short polling\\nevery 120 s"},
    {RT_SIM_SHORT, 600, "short, every 600 s", "short polling\\nevery 600 s"},
    {RT_SIM_LONG, 0, "long polling", "long polling"},
    {RT_SIM_SSE, 0, "SSE", "SSE"},
    {RT_SIM_WS, 0, "WebSocket", "WebSocket"},
};
#define CONN_ROWS (sizeof conn_bars / sizeof conn_bars[0])

static int make_connections(struct plot_ctx *x)
{
    uint64_t n = x->clients = x->quick ? 1000 : 100000;
    struct table *t = &x->t;
    if (table_init(t, CONN_ROWS, 4, NULL) != 0)
        return -1;
    column(t, 0, "bar", "the bar's place on the x axis");
    column(t, 1, "connections", "connections open at the server, time-averaged");
    column(t, 2, "server_mib", "server memory for them, MiB (docs/sim.md, \"Server cost\")");
    column(t, 3, "rgb", "the bar's colour (the approach's), as an integer");
    x->run_n = (int)CONN_ROWS;
    for (size_t i = 0; i < CONN_ROWS; i++) {
        struct rt_sim_config c = config(conn_bars[i].a, n);
        c.duration_s = x->quick ? 120 : 1200;
        if (conn_bars[i].interval_s > 0)
            c.interval_s = conn_bars[i].interval_s;
        *cell(t, i, 0) = (double)i;
        *cell(t, i, 3) = approach_rgb[conn_bars[i].a];
        t->label[i] = strdup(conn_bars[i].label);
        if (!t->label[i])
            return -1;
        struct rt_sim_report r;
        if (plot_run(x, conn_bars[i].label, &c, &r) != 0)
            return -1;
        *cell(t, i, 1) = m_connections(&r);
        *cell(t, i, 2) = m_server_mib(&r);
        rt_sim_report_free(&r);
    }
    char nb[32];
    note(x, "Connections the server holds open (time-averaged) for %s clients, per approach.",
         thousands((double)n, nb, sizeof nb));
    note(x, "Short polling keeps its connection alive between polls while the interval is");
    note(x, "under the server's 60 s idle timeout, and opens one per poll above it; the push");
    note(x, "approaches hold one per client all the time. %g simulated s per bar, rtt 50 ms,",
         x->quick ? 120.0 : 1200.0);
    note(x, "0.1 updates/s on one topic.");
    return 0;
}

static void gp_connections(FILE *f, const struct plot_ctx *x)
{
    const struct table *t = &x->t;
    char nb[32];
    double top = 0;
    for (size_t i = 0; i < t->rows; i++)
        top = fmax(top, at(t, i, 1));
    fprintf(f,
            "set title 'Connections the server holds for %s clients (on each bar: "
            "connections, and the server memory they take)'\n"
            "set xlabel ''\n"
            "set bmargin 4.5\n"
            "set ylabel 'connections open at the server (time-averaged)'\n"
            "set style fill solid 0.85 noborder\n"
            "set boxwidth 0.6\n"
            "set xrange [-0.6:%zu.6]\n"
            "set yrange [0:%g]\n"
            "set format y '%%.0s%%c'\n"
            "set grid noxtics\n"
            "unset key\n"
            "set xtics (",
            thousands((double)x->clients, nb, sizeof nb), t->rows - 1, top * 1.18);
    for (size_t i = 0; i < t->rows; i++)
        fprintf(f, "%s\"%s\" %zu", i ? ", " : "", conn_bars[i].tic, i);
    fprintf(f, ")\n");
    for (size_t i = 0; i < t->rows; i++) {
        double v = at(t, i, 1), mib = at(t, i, 2);
        char vb[32], mb[64] = "";
        if (!isnan(mib))
            snprintf(mb, sizeof mb, "\\n%.3g MiB", mib);
        fprintf(f, "set label %zu \"%s%s\" at %zu, %g center offset 0, 1.6\n", i + 1,
                thousands(v, vb, sizeof vb), mb, i, v);
    }
    fprintf(f, "plot '%s.dat' using 1:2:4 with boxes lc rgb variable\n", x->def->name);
}

/* ---- The plots ------------------------------------------------------------------- */

static const struct plot_def plots[] = {
    {"requests_vs_interval", "short polling's requests/s at 1,000,000 clients by polling interval",
     make_requests, gp_requests},
    {"latency_vs_interval",
     "mean and p99 delivery latency by polling interval; long polling, SSE, WebSocket as lines",
     make_latency, gp_latency},
    {"battery_vs_interval",
     "battery %/hour by polling (short) or heartbeat (SSE, WebSocket) interval, LTE and WiFi",
     make_battery, gp_battery},
    {"bytes_per_message", "bytes on the wire per delivered message, per approach, by update rate",
     make_bytes, gp_bytes},
    {"reconnect_storm",
     "reconnects/s after a server restart: immediate, backoff, half and full jitter", make_storm,
     gp_storm},
    {"connections", "connections the server holds per approach (a bar chart)", make_connections,
     gp_connections},
};
#define PLOT_COUNT (sizeof plots / sizeof plots[0])

/* ---- Files ----------------------------------------------------------------------- */

/* Opens DIR/NAME.EXT for writing; NULL with a message. */
static FILE *open_out(const struct plot_ctx *x, const char *ext)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", x->dir, x->def->name, ext);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "rtlab plot: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

/* Closes f; false with a message when anything written to it was lost. */
static bool close_out(const struct plot_ctx *x, FILE *f, const char *ext)
{
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok)
        fprintf(stderr, "rtlab plot: writing %s/%s.%s failed\n", x->dir, x->def->name, ext);
    return ok;
}

static void write_rows(FILE *f, const struct table *t)
{
    for (size_t i = 0; i < t->rows; i++) {
        for (size_t j = 0; j < t->cols; j++) {
            double v = at(t, i, j);
            fprintf(f, isnan(v) ? "%s?" : "%s%.8g", j ? " " : "", v);
        }
        if (t->label[i])
            fprintf(f, " \"%s\"", t->label[i]);
        fputc('\n', f);
    }
}

/* NAME.dat: the notes, the columns with their units, the rows, and at the
 * end each run as the `rtlab sim` command that repeats it. */
static bool write_dat(struct plot_ctx *x)
{
    FILE *f = open_out(x, "dat");
    if (!f)
        return false;
    const struct table *t = &x->t;
    fflush(x->notes);
    fflush(x->runs);
    fprintf(f, "# %s.dat, written by `rtlab plot%s` (sim/plot.c); %s.gp draws it.\n", x->def->name,
            x->quick ? " --quick" : "", x->def->name);
    fwrite(x->notes_buf, 1, x->notes_len, f);
    fprintf(f, "#\n# columns (\"?\": not computed):\n");
    for (size_t j = 0; j < t->cols; j++)
        fprintf(f, "#   %2zu %-22s %s\n", j + 1, t->name[j], t->what[j]);
    if (t->label[0])
        fprintf(f, "#   %2zu %-22s %s\n", t->cols + 1, "label", "the bar's name");
    write_rows(f, t);
    fprintf(f, "#\n# the runs, as rtlab sim commands (seed 1 unless given):\n");
    fwrite(x->runs_buf, 1, x->runs_len, f);
    return close_out(x, f, "dat");
}

static bool write_gp(const struct plot_ctx *x)
{
    char *body = NULL;
    size_t len = 0;
    FILE *b = open_memstream(&body, &len);
    if (!b)
        return false;
    x->def->gp(b, x);
    fclose(b);
    FILE *f = open_out(x, "gp");
    if (f) {
        gp_begin(f, x->def->name);
        gp_draw_twice(f, x->def->name, body, len);
    }
    free(body);
    return f && close_out(x, f, "gp");
}

/* Creates dir and its parents, as mkdir -p does. */
static bool make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return false;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(path, 0777) == 0 || errno == EEXIST;
}

/* ---- gnuplot --------------------------------------------------------------------- */

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        char file[4096];
        snprintf(file, sizeof file, "%.*s/%s", (int)len, len ? path : ".", prog);
        if (access(file, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

static const char gnuplot_missing[] =
    "rtlab plot: gnuplot not found on PATH: install gnuplot-nox (scripts/deps.sh)\n";

/* Runs `gnuplot NAME.gp` in DIR and waits for it. gnuplot's own messages
 * go to our stderr. */
static bool render(const struct plot_ctx *x)
{
    char gp[512];
    snprintf(gp, sizeof gp, "%s.gp", x->def->name);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rtlab plot: cannot start gnuplot: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0) {
        if (chdir(x->dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", gp, (char *)NULL);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        fputs(gnuplot_missing, stderr);
    else
        fprintf(stderr, "rtlab plot: `gnuplot %s` in %s failed (%s %d)\n", gp, x->dir,
                WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return false;
}

/* ---- One plot, start to end ----------------------------------------------------------- */

static void ctx_free(struct plot_ctx *x)
{
    if (x->notes)
        fclose(x->notes);
    if (x->runs)
        fclose(x->runs);
    free(x->notes_buf);
    free(x->runs_buf);
    for (size_t i = 0; x->t.label && i < x->t.rows; i++)
        free(x->t.label[i]);
    free(x->t.label);
    free(x->t.v);
}

/* Runs the plot's sweeps, writes NAME.dat and NAME.gp, and draws them.
 * Returns 0, or 1 after a message. */
static int make_plot(struct plot_ctx *x)
{
    x->notes = open_memstream(&x->notes_buf, &x->notes_len);
    x->runs = open_memstream(&x->runs_buf, &x->runs_len);
    int rc = x->notes && x->runs ? x->def->make(x) : -1;
    progress_clear(x);
    if (rc != 0) {
        fprintf(stderr, "rtlab plot: %s: failed\n", x->def->name);
        return 1;
    }
    if (!write_dat(x) || !write_gp(x) || !render(x))
        return 1;
    fprintf(stderr, "rtlab plot: wrote %s/%s.png and .svg\n", x->dir, x->def->name);
    return 0;
}

/* ---- The command ------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: rtlab plot [--out DIR] [--quick] [--only NAME]...\n"
               "\n"
               "Runs the simulator's sweeps and draws the figures with gnuplot. For each plot\n"
               "NAME it writes DIR/NAME.dat (the figures, with a header naming the columns,\n"
               "their units and the runs as rtlab sim commands), DIR/NAME.gp (a gnuplot\n"
               "script: `gnuplot NAME.gp` in DIR redraws), DIR/NAME.png and DIR/NAME.svg.\n"
               "Needs gnuplot (scripts/deps.sh installs gnuplot-nox). docs/sim-plots.md says\n"
               "what each plot shows.\n"
               "\n"
               "  --out DIR     where the files go (default plots; created if missing)\n"
               "  --quick       fewer clients and shorter runs: a smoke test in seconds\n"
               "  --only NAME   make only this plot (may be given more than once)\n"
               "\n"
               "The plots:\n");
    for (size_t i = 0; i < PLOT_COUNT; i++)
        fprintf(f, "  %-21s %s\n", plots[i].name, plots[i].what);
}

static int plot_find(const char *name)
{
    for (size_t i = 0; i < PLOT_COUNT; i++)
        if (strcmp(plots[i].name, name) == 0)
            return (int)i;
    return -1;
}

struct plot_opts {
    const char *dir;
    bool quick;
    bool only[PLOT_COUNT];
    bool any_only;
};

/* Returns -1 to go on, or the exit code (0 after --help, 2 on a mistake). */
static int parse_args(int argc, char **argv, struct plot_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "--only") == 0) {
            bool only = strcmp(a, "--only") == 0;
            int k = v ? plot_find(v) : -1;
            if (!v || !*v || (only && k < 0)) {
                fprintf(stderr, "rtlab plot: %s wants %s, not '%s' (rtlab plot --help)\n", a,
                        only ? "a plot's name" : "a folder", v ? v : "(nothing)");
                return 2;
            }
            if (only)
                o->only[k] = o->any_only = true;
            else
                o->dir = v;
            i++;
        } else {
            fprintf(stderr, "rtlab plot: unknown option '%s' (rtlab plot --help)\n", a);
            return 2;
        }
    }
    return -1;
}

int rt_cmd_plot(int argc, char **argv)
{
    struct plot_opts o = {.dir = "plots"};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (!on_path("gnuplot")) {
        fputs(gnuplot_missing, stderr);
        return 1;
    }
    if (!make_dirs(o.dir)) {
        fprintf(stderr, "rtlab plot: cannot create %s: %s\n", o.dir, strerror(errno));
        return 1;
    }
    int n = 0, k = 0, failed = 0;
    for (size_t i = 0; i < PLOT_COUNT; i++)
        n += !o.any_only || o.only[i];
    for (size_t i = 0; i < PLOT_COUNT; i++) {
        if (o.any_only && !o.only[i])
            continue;
        struct plot_ctx x = {.dir = o.dir,
                             .quick = o.quick,
                             .tty = isatty(2),
                             .def = &plots[i],
                             .plot_k = ++k,
                             .plot_n = n};
        failed += make_plot(&x);
        ctx_free(&x);
    }
    return failed ? 1 : 0;
}
