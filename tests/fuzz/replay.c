/*
 * replay.c - a plain main for a fuzz target, so that its corpus runs in the
 * ordinary test suite without libFuzzer (the cJSON model: the fuzzer finds
 * inputs, the replay keeps them as tests).
 *
 *     fuzz_NAME [--mutations=N] [DIR_OR_FILE...]
 *
 * Runs every file in the given corpus directories (or the files given, or
 * the target's own corpus when none is) through LLVMFuzzerTestOneInput(),
 * then N seeded mutations of each (bit flips, interesting bytes, insertions
 * of protocol tokens, deletions, duplications, splices with another corpus
 * file), so that an ordinary test run explores past the seeds. N is 2000
 * by default, or RTLAB_FUZZ_MUTATIONS. The same corpus gives the same
 * inputs on every run.
 *
 * A broken invariant aborts; AddressSanitizer and UBSan stop the program
 * on their own. Either way the input that did it is first written to
 * crash-NAME-HASH in the current directory (for ctest, the build's
 * tests/fuzz/), and rerunning the program with that file as its argument
 * replays just it, as does a libFuzzer build of the same target.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#define REPLAY_MAX_LEN 4096 /* libFuzzer's default -max_len */

/* ======================================================================== */
/* The corpus                                                               */
/* ======================================================================== */

struct file {
    char *path;
    uint8_t *data;
    size_t size;
};

struct corpus {
    struct file *files;
    size_t n, cap;
};

static bool read_file(const char *path, struct file *f)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return false;
    f->data = malloc(REPLAY_MAX_LEN);
    FUZZ_CHECK(f->data != NULL);
    f->size = fread(f->data, 1, REPLAY_MAX_LEN, fp);
    fclose(fp);
    f->path = strdup(path);
    FUZZ_CHECK(f->path != NULL);
    return true;
}

static void add_file(struct corpus *c, const char *path)
{
    if (c->n == c->cap) {
        c->cap = c->cap * 2 + 16;
        c->files = realloc(c->files, c->cap * sizeof *c->files);
        FUZZ_CHECK(c->files != NULL);
    }
    if (!read_file(path, &c->files[c->n])) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        exit(2);
    }
    c->n++;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's regular files (not dotfiles), in name order so that every
 * run mutates the same files the same way. */
static void add_dir(struct corpus *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        exit(2);
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        FUZZ_CHECK(names != NULL);
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        FUZZ_CHECK(names[n] != NULL);
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(names[n], &st) == 0 && S_ISREG(st.st_mode))
            n++;
        else
            free(names[n]);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        add_file(c, names[i]);
        free(names[i]);
    }
    free(names);
}

static void add_path(struct corpus *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        add_dir(c, path);
    else
        add_file(c, path);
}

/* ======================================================================== */
/* Saving the input that failed                                             */
/* ======================================================================== */

/* What is running now, for the handlers below. */
static const char *g_target = "fuzz";
static const uint8_t *g_input;
static size_t g_input_size;
static const char *g_from; /* the corpus file it came from */
static long g_mutation;    /* -1: the file itself */

static void put_str(int fd, const char *s)
{
    ssize_t rc = write(fd, s, strlen(s));
    (void)rc; /* nothing to do about a failed write while dying */
}

/* Writes crash-TARGET-HASH and says so; only async-signal-safe calls. */
static void save_input(void)
{
    static const char hex[] = "0123456789abcdef";
    char name[160] = "crash-", digits[24];
    size_t at = strlen(name);
    for (const char *t = g_target; *t != '\0' && at < 120; t++)
        name[at++] = *t;
    name[at++] = '-';
    uint64_t h = fuzz_hash(g_input, g_input_size);
    for (int i = 15; i >= 0; i--)
        name[at++] = hex[(h >> (4 * i)) & 15];
    name[at] = '\0';
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ssize_t rc = write(fd, g_input, g_input_size);
        (void)rc;
        close(fd);
    }
    put_str(2, "replay: the failing input is saved as ");
    put_str(2, name);
    put_str(2, " (from ");
    put_str(2, g_from);
    if (g_mutation >= 0) {
        put_str(2, ", mutation ");
        size_t k = sizeof digits - 1;
        digits[k] = '\0';
        long m = g_mutation;
        do {
            digits[--k] = (char)('0' + m % 10);
            m /= 10;
        } while (m > 0);
        put_str(2, digits + k);
    }
    put_str(2, ")\n");
}

static void on_fatal_signal(int sig)
{
    if (g_input != NULL)
        save_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sanitizers end the program through their own exit path, which calls
 * this hook when the runtime is linked in. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void on_sanitizer_death(void)
{
    if (g_input != NULL)
        save_input();
}

static void install_handlers(void)
{
    int sigs[] = {SIGABRT, SIGILL, SIGTRAP, SIGFPE, SIGSEGV, SIGBUS};
    size_t n = sizeof sigs / sizeof sigs[0];
    if (__sanitizer_set_death_callback != NULL) {
        __sanitizer_set_death_callback(on_sanitizer_death);
        n -= 2; /* SIGSEGV and SIGBUS are the sanitizer's to report */
    }
    for (size_t i = 0; i < n; i++)
        signal(sigs[i], on_fatal_signal);
}

/* ======================================================================== */
/* Mutations                                                                */
/* ======================================================================== */

/* Tokens of the formats under test, for insertions. */
static const char *const dict[] = {
    "\r\n",
    "\n",
    "\r\n\r\n",
    "\n\n",
    "\r",
    ": ",
    " ",
    "GET / HTTP/1.1\r\n",
    "HTTP/1.1 200 OK\r\n",
    "HTTP/1.0",
    "Content-Length: ",
    "Transfer-Encoding: chunked\r\n",
    "Connection: close",
    "keep-alive",
    "Expect: 100-continue",
    "0\r\n\r\n",
    "ffffffff",
    ";ext=1",
    "data: ",
    "data",
    "event: ",
    "id: ",
    "retry: ",
    "\xEF\xBB\xBF",
    "%",
    "%2",
    "%41",
    "%00",
    "+",
    "&",
    "=",
    "?",
    "http://",
    "ws://",
    "[::1]",
    ":8080",
    "#",
    "\\u00",
    "\\ud800\\udc00",
    "\\\"",
    "1e5",
    "-0.5",
    "00",
    "null",
    "true",
    "{\"a\":",
    "[",
    "]",
    "}",
    "\"",
    ",",
    "18446744073709551615",
};

/* Bytes that parsers treat specially. */
static const char specials[] = "\r\n\t :;,=&?%+#/\\\"{}[]0129aAfFxe-.\x7f\x80\xff";

struct buf {
    uint8_t data[REPLAY_MAX_LEN];
    size_t size;
};

/* Inserts n bytes from src at pos, as many as fit. */
static void insert(struct buf *b, size_t pos, const void *src, size_t n)
{
    if (n > REPLAY_MAX_LEN - b->size)
        n = REPLAY_MAX_LEN - b->size;
    memmove(b->data + pos + n, b->data + pos, b->size - pos);
    memcpy(b->data + pos, src, n);
    b->size += n;
}

static void mutate_once(struct buf *b, struct fuzz_rng *r, const struct corpus *c)
{
    size_t pos = fuzz_below(r, b->size + 1); /* an insertion point */
    size_t at = fuzz_below(r, b->size);      /* a byte, when there is one */
    switch (fuzz_below(r, 10)) {
    case 0: /* flip a bit */
        if (b->size > 0)
            b->data[at] ^= (uint8_t)(1u << fuzz_below(r, 8));
        break;
    case 1: /* a special byte */
        if (b->size > 0)
            b->data[at] = (uint8_t)specials[fuzz_below(r, sizeof specials - 1)];
        break;
    case 2: /* a byte up or down: digits become other digits */
        if (b->size > 0)
            b->data[at] = (uint8_t)(b->data[at] + (fuzz_below(r, 2) ? 1 : -1));
        break;
    case 3: { /* random bytes */
        uint8_t rnd[4];
        size_t n = 1 + fuzz_below(r, sizeof rnd);
        for (size_t i = 0; i < n; i++)
            rnd[i] = (uint8_t)fuzz_next(r);
        insert(b, pos, rnd, n);
        break;
    }
    case 4:
    case 5: { /* a token */
        const char *t = dict[fuzz_below(r, sizeof dict / sizeof dict[0])];
        insert(b, pos, t, strlen(t));
        break;
    }
    case 6: { /* delete a range */
        size_t n = 1 + fuzz_below(r, b->size - at < 16 ? b->size - at : 16);
        if (b->size > 0) {
            memmove(b->data + at, b->data + at + n, b->size - at - n);
            b->size -= n;
        }
        break;
    }
    case 7: { /* duplicate a range elsewhere */
        uint8_t tmp[64];
        size_t n = fuzz_below(r, b->size - at < sizeof tmp ? b->size - at : sizeof tmp);
        memcpy(tmp, b->data + at, n);
        insert(b, pos, tmp, n);
        break;
    }
    case 8: { /* splice: a piece of another corpus file */
        const struct file *f = &c->files[fuzz_below(r, c->n)];
        size_t from = fuzz_below(r, f->size), n = fuzz_below(r, f->size - from + 1);
        insert(b, pos, f->data + from, n);
        break;
    }
    default: /* cut the end off */
        b->size = pos;
        break;
    }
}

/* ======================================================================== */
/* Running                                                                  */
/* ======================================================================== */

/* Runs one input from an exactly sized heap copy, so that AddressSanitizer
 * catches a read past its end, as under libFuzzer. */
static void run_one(const uint8_t *data, size_t size)
{
    char *copy = fuzz_copy(data, size);
    g_input = (const uint8_t *)copy;
    g_input_size = size;
    LLVMFuzzerTestOneInput((const uint8_t *)copy, size);
    g_input = NULL;
    free(copy);
}

static unsigned long run_file(const struct corpus *c, const struct file *f, long mutations)
{
    static struct buf b;
    g_from = f->path;
    g_mutation = -1;
    run_one(f->data, f->size);
    uint64_t seed = fuzz_hash(f->data, f->size);
    for (long m = 0; m < mutations; m++) {
        struct fuzz_rng r = {(seed ^ (uint64_t)m * 0x9E3779B97F4A7C15u) | 1};
        memcpy(b.data, f->data, f->size);
        b.size = f->size;
        for (size_t k = 1 + fuzz_below(&r, 4); k > 0; k--)
            mutate_once(&b, &r, c);
        g_mutation = m;
        run_one(b.data, b.size);
    }
    return 1 + (unsigned long)mutations;
}

static long mutations_wanted(int *argi, int argc, char **argv)
{
    const char *env = getenv("RTLAB_FUZZ_MUTATIONS");
    long n = env != NULL ? strtol(env, NULL, 10) : 2000;
    if (*argi < argc && strncmp(argv[*argi], "--mutations=", 12) == 0)
        n = strtol(argv[(*argi)++] + 12, NULL, 10);
    return n < 0 ? 0 : n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    g_target = slash != NULL ? slash + 1 : argv[0];
    install_handlers();

    int argi = 1;
    long mutations = mutations_wanted(&argi, argc, argv);
    struct corpus c = {0};
    if (argi == argc)
        add_path(&c, FUZZ_DEFAULT_CORPUS);
    for (; argi < argc; argi++)
        add_path(&c, argv[argi]);
    if (c.n == 0) {
        fprintf(stderr, "%s: no corpus files\n", g_target);
        return 2;
    }

    double t0 = now_s();
    unsigned long inputs = 0;
    for (size_t i = 0; i < c.n; i++)
        inputs += run_file(&c, &c.files[i], mutations);
    double dt = now_s() - t0;
    printf("%s: %lu inputs (%zu corpus files + %ld mutations each) in %.2f s, %.0f/s\n", g_target,
           inputs, c.n, mutations, dt, dt > 0 ? (double)inputs / dt : 0.0);

    for (size_t i = 0; i < c.n; i++) {
        free(c.files[i].path);
        free(c.files[i].data);
    }
    free(c.files);
    return 0;
}
