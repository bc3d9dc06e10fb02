/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt_proto.h"

const char *tu_rtlab_arg(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_TO_RTLAB\n", argv[0]);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    return argv[1];
}

int tu_ms(int ms)
{
    const char *s = getenv("RTLAB_TEST_TIMEOUT_SCALE");
    double k = s != NULL ? atof(s) : 1.0;
    return (int)(ms * (k > 0 ? k : 1.0));
}

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Processes ------------------------------------------------------------ */

int tu_proc_start(struct tu_proc *p, char *const argv[])
{
    int out[2], err[2];
    memset(p, 0, sizeof(*p));
    if (pipe(out) != 0 || pipe(err) != 0)
        return -1;
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        /* A test that crashes must not leave its servers running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        execv(argv[0], argv);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    p->out_fd = out[0];
    p->err_fd = err[0];
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* Reads whatever the pipes have, waiting at most timeout_ms for something.
 * Keeps a NUL after the data. Returns false when both pipes are closed. */
static bool proc_pump(struct tu_proc *p, int timeout_ms)
{
    struct pollfd fds[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
    if (p->out_fd < 0 && p->err_fd < 0)
        return false;
    if (poll(fds, 2, timeout_ms) <= 0)
        return true;
    int *fd[2] = {&p->out_fd, &p->err_fd};
    char *buf[2] = {p->out, p->err};
    size_t *len[2] = {&p->out_len, &p->err_len};
    for (int i = 0; i < 2; i++) {
        if (*fd[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        size_t room = sizeof(p->out) - 1 - *len[i];
        ssize_t n = room > 0 ? read(*fd[i], buf[i] + *len[i], room) : 0;
        if (n > 0)
            *len[i] += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            close(*fd[i]);
            *fd[i] = -1;
        }
        buf[i][*len[i]] = '\0';
    }
    return true;
}

bool tu_proc_line(struct tu_proc *p, char *line, size_t cap, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(p->out + p->out_pos, '\n', p->out_len - p->out_pos);
        if (nl != NULL) {
            size_t n = (size_t)(nl - (p->out + p->out_pos));
            if (n >= cap)
                n = cap - 1;
            memcpy(line, p->out + p->out_pos, n);
            line[n] = '\0';
            p->out_pos = (size_t)(nl - p->out) + 1;
            if (p->out_pos > sizeof(p->out) / 2) { /* make room for more output */
                memmove(p->out, p->out + p->out_pos, p->out_len - p->out_pos + 1);
                p->out_len -= p->out_pos;
                p->out_pos = 0;
            }
            return true;
        }
        int64_t left = end - tu_now_ms();
        if (left <= 0 || !proc_pump(p, (int)left))
            return false;
    }
}

bool tu_proc_wait_stderr(struct tu_proc *p, const char *needle, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    while (strstr(p->err, needle) == NULL) {
        int64_t left = end - tu_now_ms();
        if (left <= 0 || !proc_pump(p, (int)left))
            return strstr(p->err, needle) != NULL;
    }
    return true;
}

int tu_proc_stop(struct tu_proc *p, int sig, int timeout_ms)
{
    if (sig != 0)
        kill(p->pid, sig);
    int64_t end = tu_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid)
            break;
        if (tu_now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            break;
        }
        proc_pump(p, 20); /* keeps the pipes drained so the child can exit */
    }
    while (proc_pump(p, 0) && (p->out_fd >= 0 || p->err_fd >= 0))
        ;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return p->status;
}

int tu_run(char *const argv[], char *out, size_t cap, int timeout_ms)
{
    static struct tu_proc p; /* large; tests are single-threaded */
    if (tu_proc_start(&p, argv) != 0)
        return -1;
    int64_t end = tu_now_ms() + timeout_ms;
    while (p.out_fd >= 0 && tu_now_ms() < end)
        proc_pump(&p, 50);
    int st = tu_proc_stop(&p, p.out_fd >= 0 ? SIGKILL : 0, 1000);
    size_t n = p.out_len < cap - 1 ? p.out_len : cap - 1;
    memcpy(out, p.out, n);
    out[n] = '\0';
    return st;
}

bool tu_server_start(struct tu_server *s, const char *rtlab, const char *const *args)
{
    char *argv[32] = {(char *)rtlab, "serve"};
    int n = 2;
    while (*args != NULL && n < 31)
        argv[n++] = (char *)*args++;
    argv[n] = NULL;
    if (tu_proc_start(&s->proc, argv) != 0)
        return false;
    char line[256];
    if (!tu_proc_line(&s->proc, line, sizeof(line), tu_ms(5000))) {
        fprintf(stderr, "server did not start: %s\n", s->proc.err);
        tu_proc_stop(&s->proc, SIGKILL, 1000);
        return false;
    }
    char *colon = strrchr(line, ':');
    if (strncmp(line, "listening on ", 13) != 0 || colon == NULL)
        return false;
    s->port = atoi(colon + 1);
    return s->port > 0;
}

int tu_server_stop(struct tu_server *s)
{
    return tu_proc_stop(&s->proc, SIGTERM, tu_ms(5000));
}

/* ---- Sockets --------------------------------------------------------------- */

int tu_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

bool tu_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

size_t tu_recv_all(int fd, char *buf, size_t cap, int timeout_ms, bool *closed)
{
    size_t len = 0;
    int64_t end = tu_now_ms() + timeout_ms;
    *closed = false;
    while (len < cap - 1) {
        int64_t left = end - tu_now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0) {
            *closed = true; /* EOF, or a reset: either way the server closed */
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

int tu_recv_response(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    int64_t end = tu_now_ms() + timeout_ms;
    struct rt_http_response r;
    while (len < cap - 1) {
        int h = rt_http_response_parse(&r, buf, len, 0, RT_HTTP_MAX_HEAD);
        if (h > 0) {
            size_t body = r.content_length > 0 ? (size_t)r.content_length : 0;
            if (len >= (size_t)h + body) {
                buf[len] = '\0';
                return r.status;
            }
        } else if (h != RT_EMORE) {
            return 0;
        }
        int64_t left = end - tu_now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return 0;
        /* One byte at a time, so bytes of a following (pipelined) response
         * stay in the socket for the next call. */
        ssize_t n = recv(fd, buf + len, 1, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
    return 0;
}

int tu_curl(const char *method, const char *url, const char *body, char *out, size_t cap)
{
    char *argv[16] = {"curl",         "-sS", "--max-time",     "10", "-X",
                      (char *)method, "-w",  "\n%{http_code}", "-o", "-"};
    int n = 10;
    if (body != NULL) {
        argv[n++] = "--data-binary";
        argv[n++] = (char *)body;
    }
    argv[n++] = (char *)url;
    argv[n] = NULL;
    if (tu_run(argv, out, cap, tu_ms(15000)) != 0)
        return 0;
    char *nl = strrchr(out, '\n');
    if (nl == NULL)
        return 0;
    *nl = '\0';
    return atoi(nl + 1);
}

/* ---- Cutting proxy ------------------------------------------------------- */

#define PROXY_MAX 64

struct tu_proxy {
    pthread_t thread;
    int listen_fd, to_port, wake[2];
    int pairs[PROXY_MAX][2]; /* client side, server side; -1 when free */
    pthread_mutex_t lock;
    int cut_requested, cut_done;
    bool stop;
};

static void proxy_close_pair(struct tu_proxy *p, int i)
{
    close(p->pairs[i][0]);
    close(p->pairs[i][1]);
    p->pairs[i][0] = p->pairs[i][1] = -1;
}

static void proxy_accept(struct tu_proxy *p)
{
    int c = accept(p->listen_fd, NULL, NULL);
    if (c < 0)
        return;
    int s = tu_connect(p->to_port);
    for (int i = 0; i < PROXY_MAX && s >= 0; i++) {
        if (p->pairs[i][0] < 0) {
            p->pairs[i][0] = c;
            p->pairs[i][1] = s;
            return;
        }
    }
    close(c);
    if (s >= 0)
        close(s);
}

/* Moves what is readable on side `from` of pair i to the other side.
 * Returns false when either side is done. */
static bool proxy_pump(struct tu_proxy *p, int i, int from)
{
    char buf[65536];
    ssize_t n = recv(p->pairs[i][from], buf, sizeof(buf), 0);
    return n > 0 && tu_send(p->pairs[i][!from], buf, (size_t)n);
}

static void *proxy_main(void *arg)
{
    struct tu_proxy *p = arg;
    for (;;) {
        struct pollfd fds[2 + 2 * PROXY_MAX];
        int map[2 + 2 * PROXY_MAX], n = 0;
        fds[n++] = (struct pollfd){p->listen_fd, POLLIN, 0};
        fds[n++] = (struct pollfd){p->wake[0], POLLIN, 0};
        for (int i = 0; i < PROXY_MAX; i++)
            for (int side = 0; side < 2 && p->pairs[i][0] >= 0; side++) {
                map[n] = i * 2 + side;
                fds[n++] = (struct pollfd){p->pairs[i][side], POLLIN, 0};
            }
        poll(fds, (nfds_t)n, 1000);
        pthread_mutex_lock(&p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        if (p->cut_requested) {
            int cut = 0;
            for (int i = 0; i < PROXY_MAX; i++)
                if (p->pairs[i][0] >= 0) {
                    proxy_close_pair(p, i);
                    cut++;
                }
            p->cut_requested = 0;
            p->cut_done = cut;
            char b;
            while (read(p->wake[0], &b, 1) == 1)
                ;
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        if (fds[0].revents & POLLIN)
            proxy_accept(p);
        for (int k = 2; k < n; k++) {
            int i = map[k] / 2, side = map[k] % 2;
            if (fds[k].revents && p->pairs[i][0] >= 0 && !proxy_pump(p, i, side))
                proxy_close_pair(p, i);
        }
    }
    for (int i = 0; i < PROXY_MAX; i++)
        if (p->pairs[i][0] >= 0)
            proxy_close_pair(p, i);
    return NULL;
}

struct tu_proxy *tu_proxy_start(int to_port, int *port)
{
    struct tu_proxy *p = calloc(1, sizeof(*p));
    p->to_port = to_port;
    for (int i = 0; i < PROXY_MAX; i++)
        p->pairs[i][0] = p->pairs[i][1] = -1;
    pthread_mutex_init(&p->lock, NULL);
    if (pipe(p->wake) != 0)
        return NULL;
    fcntl(p->wake[0], F_SETFL, O_NONBLOCK);
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->listen_fd, 64) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0)
        return NULL;
    *port = ntohs(a.sin_port);
    pthread_create(&p->thread, NULL, proxy_main, p);
    return p;
}

int tu_proxy_cut(struct tu_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    p->cut_requested = 1;
    p->cut_done = -1;
    pthread_mutex_unlock(&p->lock);
    if (write(p->wake[1], "x", 1) != 1)
        return -1;
    for (int64_t end = tu_now_ms() + 5000; tu_now_ms() < end;) {
        pthread_mutex_lock(&p->lock);
        int done = p->cut_done;
        pthread_mutex_unlock(&p->lock);
        if (done >= 0)
            return done;
        usleep(1000);
    }
    return -1;
}

int tu_proxy_cut_wait(struct tu_proxy *p, int timeout_ms)
{
    int n = 0;
    for (int64_t end = tu_now_ms() + timeout_ms; n == 0 && tu_now_ms() < end;)
        if ((n = tu_proxy_cut(p)) == 0)
            usleep(10000);
    return n;
}

void tu_proxy_stop(struct tu_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    if (write(p->wake[1], "x", 1) != 1)
        return;
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- Process figures ---------------------------------------------------- */

long tu_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f != NULL)
        fclose(f);
    return kib;
}

long tu_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

long long tu_json_number(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(json, k);
    return p != NULL && p[strlen(k)] >= '0' && p[strlen(k)] <= '9'
               ? strtoll(p + strlen(k), NULL, 10)
               : -1;
}

long tu_metric(int port, const char *ap, const char *key)
{
    int fd = tu_connect(port);
    if (fd < 0)
        return -1;
    static char buf[8192];
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    long v = -1;
    if (tu_send(fd, req, strlen(req)) && tu_recv_response(fd, buf, sizeof(buf), 5000) == 200) {
        char want[64];
        snprintf(want, sizeof(want), "\"%s\":{", ap);
        const char *o = strstr(buf, want);
        snprintf(want, sizeof(want), "\"%s\":", key);
        const char *k = o != NULL ? strstr(o, want) : NULL;
        if (k != NULL)
            v = atol(k + strlen(want));
    }
    close(fd);
    return v;
}

/* ---- Resume without loss ---------------------------------------------------- */

/* Publishes message i ({"n":i}) to topic "cut" on a keep-alive socket. */
static bool publish_numbered(int fd, int i)
{
    char req[256], body[32], resp[1024];
    int bl = snprintf(body, sizeof(body), "{\"n\":%d}", i);
    int n = snprintf(req, sizeof(req),
                     "POST /publish?topic=cut HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", bl, body);
    return tu_send(fd, req, (size_t)n) &&
           tu_recv_response(fd, resp, sizeof(resp), tu_ms(3000)) == 200;
}

const char *tu_resume_without_loss(const char *rtlab, int port, const char *approach, int n,
                                   int cuts)
{
    static char why[1024];
    static struct tu_proc cl;
    int proxy_port, cut = 0;
    struct tu_proxy *proxy = tu_proxy_start(port, &proxy_port);
    char url[64], count[16], line[1024], want[32];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", proxy_port);
    snprintf(count, sizeof(count), "%d", n);
    char *argv[] = {(char *)rtlab, "client", (char *)approach, "--url", url,
                    "--topic",     "cut",    "--count",        count,   NULL};
    if (proxy == NULL || tu_proc_start(&cl, argv) != 0)
        return "cannot start the proxy or the client";
    int pub = tu_connect(port);
    for (int i = 1; i <= n; i++) {
        if (!publish_numbered(pub, i)) {
            snprintf(why, sizeof(why), "publishing message %d failed", i);
            goto out;
        }
        if (i % (n / cuts) == n / cuts / 2) /* mid-way between cuts */
            cut += tu_proxy_cut_wait(proxy, tu_ms(5000)) > 0;
        usleep(500);
    }
    for (int i = 1; i <= n; i++) {
        snprintf(want, sizeof(want), "\"id\":%d,", i);
        if (!tu_proc_line(&cl, line, sizeof(line), tu_ms(10000))) {
            snprintf(why, sizeof(why), "message %d never came; stderr: %.900s", i, cl.err);
            goto out;
        }
        if (strstr(line, want) == NULL) {
            snprintf(why, sizeof(why), "line %d is %.900s", i, line);
            goto out;
        }
    }
    if (tu_proc_stop(&cl, 0, tu_ms(10000)) != 0)
        snprintf(why, sizeof(why), "the client exited with %d", cl.status);
    else if (strchr(cl.out + cl.out_pos, '{') != NULL)
        snprintf(why, sizeof(why), "the client printed more than %d messages", n);
    else if (cut != cuts)
        snprintf(why, sizeof(why), "only %d of %d cuts happened", cut, cuts);
    else
        why[0] = '\0';
out:
    if (cl.pid > 0 && kill(cl.pid, 0) == 0)
        tu_proc_stop(&cl, SIGKILL, 1000);
    close(pub);
    tu_proxy_stop(proxy);
    return why[0] ? why : NULL;
}

/* ---- WebSocket, raw --------------------------------------------------------- */

int tu_ws_connect(int port, const char *target, const char *headers, char *resp, size_t cap)
{
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     target, key, headers ? headers : "");
    int fd = tu_connect(port);
    if (fd < 0 || !tu_send(fd, req, (size_t)n)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* Byte by byte up to the blank line, so no frame is read by mistake. */
    size_t len = 0;
    int64_t end = tu_now_ms() + tu_ms(3000);
    while (len + 1 < cap && (len < 4 || memcmp(resp + len - 4, "\r\n\r\n", 4) != 0)) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(end - tu_now_ms() > 0 ? end - tu_now_ms() : 0)) <= 0 ||
            read(fd, resp + len, 1) != 1)
            break;
        len++;
    }
    resp[len] = '\0';
    if (len < 13 || memcmp(resp, "HTTP/1.1 101 ", 13) != 0) {
        /* the rest of an error answer, for the caller to look at */
        bool closed;
        if (len + 1 < cap)
            tu_recv_all(fd, resp + len, cap - len, tu_ms(500), &closed);
        close(fd);
        return -1;
    }
    return fd;
}

bool tu_ws_send(int fd, int opcode, const void *data, size_t len)
{
    uint8_t head[RT_WS_HEADER_MAX];
    struct rt_ws_frame f = {.fin = true,
                            .opcode = (uint8_t)opcode,
                            .masked = true,
                            .mask = {0x12, 0x34, 0x56, 0x78},
                            .len = len};
    int n = rt_ws_frame_header(head, sizeof(head), &f);
    uint8_t *buf = malloc((size_t)n + len);
    if (buf == NULL)
        return false;
    memcpy(buf, head, (size_t)n);
    if (len > 0)
        memcpy(buf + n, data, len);
    rt_ws_mask(buf + n, len, f.mask, 0);
    bool ok = tu_send(fd, (const char *)buf, (size_t)n + len);
    free(buf);
    return ok;
}

bool tu_ws_text(int fd, const char *text)
{
    return tu_ws_send(fd, RT_WS_TEXT, text, strlen(text));
}

/* Reads exactly len bytes before deadline end. */
static bool read_exact(int fd, void *buf, size_t len, int64_t end)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - tu_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

long tu_ws_recv(int fd, int *opcode, char *buf, size_t cap, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    uint8_t h[8];
    if (!read_exact(fd, h, 2, end))
        return -1;
    uint64_t len = h[1] & 0x7f;
    size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    if ((h[1] & 0x80) || !read_exact(fd, h, ext, end))
        return -1; /* a server never masks */
    if (ext > 0) {
        len = 0;
        for (size_t i = 0; i < ext; i++)
            len = len << 8 | h[i];
    }
    *opcode = h[0] & 0x0f;
    if (len + 1 > cap)
        return -1;
    if (!read_exact(fd, buf, (size_t)len, end))
        return -1;
    buf[len] = '\0';
    return (long)len;
}

long tu_ws_recv_text(int fd, char *buf, size_t cap, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        int op;
        int64_t left = end - tu_now_ms();
        long n = tu_ws_recv(fd, &op, buf, cap, left > 0 ? (int)left : 0);
        if (n < 0 || op == RT_WS_TEXT || op == RT_WS_CLOSE)
            return op == RT_WS_CLOSE ? -2 : n;
        if (op == RT_WS_PING && !tu_ws_send(fd, RT_WS_PONG, buf, (size_t)n))
            return -1;
    }
}

int tu_ws_close_code(int fd, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    static char buf[1 << 21];
    for (;;) {
        int op;
        int64_t left = end - tu_now_ms();
        long n = tu_ws_recv(fd, &op, buf, sizeof(buf), left > 0 ? (int)left : 0);
        if (n < 0)
            return -1;
        if (op == RT_WS_CLOSE)
            return n >= 2 ? ((uint8_t)buf[0] << 8 | (uint8_t)buf[1]) : 1005;
    }
}

int tu_run_captured(int (*cmd)(int, char **), int argc, char **argv, char *out, size_t cap)
{
    char tmpl[] = "/tmp/rtlab-stdout-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    unlink(tmpl);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    if (saved < 0 || dup2(fd, STDOUT_FILENO) < 0) {
        close(fd);
        return -1;
    }
    int rc = cmd(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    return rc;
}
