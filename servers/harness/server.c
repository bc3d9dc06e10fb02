/*
 * server.c - listeners, the routes every server shares, and the context
 * that the servers of one process share (topics, bus, trace, timers).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_harness.h"

void rt_opts_default(struct rt_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = -1; /* each approach's own default */
    o->ring = RT_RING_DEFAULT;
    o->max_topics = RT_MAX_TOPICS;
    o->max_body = RT_HTTP_MAX_BODY;
    o->header_timeout_ms = RT_HEADER_TIMEOUT_MS;
    o->idle_timeout_ms = RT_IDLE_TIMEOUT_MS;
    o->max_message = RT_WS_MAX_MESSAGE;
    o->retry_ms = RT_SSE_RETRY_MS;
    o->send_queue = RT_SEND_QUEUE_DEFAULT;
}

/* ---- Shared context -------------------------------------------------------- */

const char *rt_ctx_date(struct rt_ctx *ctx)
{
    int64_t now = (int64_t)time(NULL);
    if (now != ctx->date_sec) {
        rt_http_date(ctx->date, now);
        ctx->date_sec = now;
    }
    return ctx->date;
}

char *rt_ctx_scratch(struct rt_ctx *ctx, size_t cap)
{
    if (cap > ctx->scratch_cap) {
        char *p = realloc(ctx->scratch, cap);
        if (p == NULL)
            return NULL;
        ctx->scratch = p;
        ctx->scratch_cap = cap;
    }
    return ctx->scratch;
}

static void on_sweep(uv_timer_t *t)
{
    struct rt_ctx *ctx = t->data;
    uint64_t now = uv_now(t->loop);
    for (size_t i = 0; i < ctx->num_servers; i++)
        rt_server_sweep(&ctx->servers[i], now);
    if (ctx->tracing)
        rt_trace_flush(&ctx->trace);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    rt_ctx_stop(s->data);
}

/* The sweep looks for expired deadlines often enough that no timeout runs
 * late by more than an eighth of the shortest one. */
static uint64_t sweep_interval(const struct rt_opts *o)
{
    uint64_t shortest = o->header_timeout_ms;
    if (o->idle_timeout_ms < shortest)
        shortest = o->idle_timeout_ms;
    if (RT_LINGER_MS < shortest)
        shortest = RT_LINGER_MS;
    uint64_t t = shortest / 8;
    return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

int rt_ctx_init(struct rt_ctx *ctx, uv_loop_t *loop, const struct rt_opts *opts,
                const char *const *lanes, size_t num_lanes)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loop = loop;
    ctx->opts = *opts;
    ctx->bus = &rt_bus_inproc;
    int r = rt_topics_init(&ctx->topics, opts->ring, opts->max_topics);
    if (r != 0)
        return r;
    if (opts->trace_path != NULL) {
        r = rt_trace_open(&ctx->trace, opts->trace_path, lanes, num_lanes);
        if (r != 0)
            return r;
        ctx->tracing = true;
    }
    uint64_t every = sweep_interval(opts);
    if ((r = uv_timer_init(loop, &ctx->sweep)) != 0 ||
        (r = uv_timer_start(&ctx->sweep, on_sweep, every, every)) != 0)
        return r;
    ctx->sweep.data = ctx;
    rt_list_init(&ctx->resuming);
    if ((r = uv_idle_init(loop, &ctx->resume)) != 0)
        return r;
    ctx->resume.data = ctx;
    uv_signal_t *sigs[] = {&ctx->sigint, &ctx->sigterm};
    int nums[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        if ((r = uv_signal_init(loop, sigs[i])) != 0 ||
            (r = uv_signal_start(sigs[i], on_signal, nums[i])) != 0)
            return r;
        sigs[i]->data = ctx;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void rt_ctx_stop(struct rt_ctx *ctx)
{
    if (ctx->stopping)
        return;
    ctx->stopping = true;
    for (size_t i = 0; i < ctx->num_servers; i++) {
        struct rt_server *srv = &ctx->servers[i];
        if (srv->listening)
            uv_close((uv_handle_t *)&srv->listener, NULL);
        srv->listening = false;
        while (!rt_list_empty(&srv->conns))
            rt_conn_close(rt_container_of(srv->conns.next, struct rt_conn, all));
        if (srv->ap->stop != NULL)
            srv->ap->stop(srv);
    }
    uv_close((uv_handle_t *)&ctx->sweep, NULL);
    uv_close((uv_handle_t *)&ctx->resume, NULL);
    uv_close((uv_handle_t *)&ctx->sigint, NULL);
    uv_close((uv_handle_t *)&ctx->sigterm, NULL);
    if (ctx->tracing)
        rt_trace_flush(&ctx->trace);
}

void rt_ctx_close(struct rt_ctx *ctx)
{
    if (ctx->tracing)
        rt_trace_close(&ctx->trace);
    rt_topics_close(&ctx->topics);
    free(ctx->scratch);
    ctx->scratch = NULL;
}

/* ---- Listening ------------------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status)
{
    struct rt_server *srv = rt_container_of(listener, struct rt_server, listener);
    if (status == 0)
        rt_conn_accept(srv);
}

int rt_server_start(struct rt_ctx *ctx, const struct rt_approach *ap, int port,
                    struct rt_server **out)
{
    if (ctx->num_servers == RT_MAX_SERVERS)
        return UV_EINVAL;
    struct rt_server *srv = &ctx->servers[ctx->num_servers];
    memset(srv, 0, sizeof(*srv));
    srv->ctx = ctx;
    srv->ap = ap;
    rt_list_init(&srv->conns);
    for (int k = 0; k < RT_WAIT_KINDS; k++)
        rt_list_init(&srv->waits[k]);

    struct sockaddr_storage ss;
    int r = strchr(ctx->opts.host, ':') != NULL
                ? uv_ip6_addr(ctx->opts.host, port, (struct sockaddr_in6 *)&ss)
                : uv_ip4_addr(ctx->opts.host, port, (struct sockaddr_in *)&ss);
    if (r != 0)
        return r;
    if ((r = uv_tcp_init(ctx->loop, &srv->listener)) != 0)
        return r;
    ctx->num_servers++; /* from here on rt_ctx_stop closes the handle */
    srv->listening = true;
    if ((r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&srv->listener, RT_LISTEN_BACKLOG, on_connection)) != 0)
        return r;
    int len = sizeof(ss);
    if ((r = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len)) != 0)
        return r;
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    if (ap->start != NULL && (r = ap->start(srv)) != 0)
        return r;
    *out = srv;
    return 0;
}

/* ---- Routes every server answers ------------------------------------------- */

static bool path_is(const struct rt_http_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

static bool method_is(const struct rt_http_request *req, const char *m)
{
    return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

bool rt_req_topic_since(struct rt_conn *c, const struct rt_http_request *req, char *topic,
                        uint64_t *since)
{
    char num[32];
    int n = rt_query_get(req->query, req->query_len, "topic", topic, RT_NAME_MAX + 1);
    if (n < 0 || !rt_name_valid(topic, (size_t)n)) {
        rt_conn_error(c, 400, "topic must be 1-64 characters of A-Z a-z 0-9 _ . : / -", NULL);
        return false;
    }
    *since = 0;
    n = rt_query_get(req->query, req->query_len, "since", num, sizeof(num));
    if (n != -1 && (n < 0 || rt_parse_u64(num, (size_t)n, since) != 0)) {
        rt_conn_error(c, 400, "since must be a message id (a non-negative integer)", NULL);
        return false;
    }
    return true;
}

enum rt_since rt_poll_answer(struct rt_conn *c, const char *topic, uint64_t since)
{
    struct rt_ctx *ctx = rt_conn_ctx(c);
    const struct rt_topic *tp = rt_topics_find(&ctx->topics, topic);
    uint64_t next;
    enum rt_since where = rt_topic_since(&ctx->topics, tp, since, &next);
    if (where == RT_SINCE_RESET) { /* `since` is not in the log: say where to go on */
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"reset\":true,\"next\":%llu}",
                         (unsigned long long)next);
        rt_conn_respond(c, 200, "application/json", body, (size_t)n, NULL, 0);
    } else if (where == RT_SINCE_NEW) {
        size_t len, count;
        const char *body = rt_poll_json(ctx, tp, since, &len, &count);
        if (body == NULL) {
            rt_conn_error(c, 500, "out of memory", NULL);
        } else {
            c->srv->m.delivered += count;
            rt_conn_respond(c, 200, "application/json", body, len, NULL, since + count);
        }
    }
    return where;
}

static void on_published(void *arg, int status, const struct rt_msg *msg)
{
    struct rt_conn *c = arg;
    if (status == RT_EBUSY_TOPICS) {
        rt_conn_error(c, 503, "too many topics (see --max-topics)", NULL);
        return;
    }
    if (status < 0) {
        rt_conn_error(c, 500, "out of memory", NULL);
        return;
    }
    struct rt_ctx *ctx = rt_conn_ctx(c);
    if (ctx->tracing)
        rt_trace_event(&ctx->trace, c->srv->ap->name, c->client, "publish", "c2s", msg->json_len,
                       msg->id);
    char body[48];
    int n = snprintf(body, sizeof(body), "{\"id\":%llu}", (unsigned long long)msg->id);
    rt_conn_respond(c, 200, "application/json", body, (size_t)n, NULL, 0);
}

/* Trims JSON whitespace from both ends of s[0..*len). */
static char *trim_json_space(char *s, size_t *len)
{
    while (*len > 0 && strchr(" \t\r\n", s[0]) != NULL)
        s++, (*len)--;
    while (*len > 0 && strchr(" \t\r\n", s[*len - 1]) != NULL)
        (*len)--;
    return s;
}

/* POST /publish?topic=T&event=E with the JSON value as the body. */
static void handle_publish(struct rt_conn *c, const struct rt_http_request *req, char *body,
                           size_t body_len)
{
    char topic[RT_NAME_MAX + 1], event[RT_NAME_MAX + 1];
    uint64_t unused;
    if (!rt_req_topic_since(c, req, topic, &unused))
        return;
    int n = rt_query_get(req->query, req->query_len, "event", event, sizeof(event));
    if (n == -1)
        n = (int)strlen(strcpy(event, "message"));
    if (n < 0 || !rt_name_valid(event, (size_t)n)) {
        rt_conn_error(c, 400, "event must be 1-64 characters of A-Z a-z 0-9 _ . : / -", NULL);
        return;
    }
    body = trim_json_space(body, &body_len);
    if (!rt_json_valid(body, body_len)) {
        rt_conn_error(c, 400, "the body must be one JSON value", NULL);
        return;
    }
    rt_bus_publish(rt_conn_ctx(c), topic, event, body, body_len, on_published, c);
}

static void handle_metrics(struct rt_conn *c)
{
    char body[4096];
    size_t n = rt_metrics_json(rt_conn_ctx(c), body, sizeof(body));
    rt_conn_respond(c, 200, "application/json", body, n, NULL, 0);
}

int rt_route(struct rt_conn *c, const struct rt_http_request *req, char *body, size_t body_len)
{
    const struct rt_approach *ap = c->srv->ap;
    const char *allow = "Allow: GET\r\n";
    if (path_is(req, "/publish")) {
        if (!method_is(req, "POST"))
            return rt_conn_error(c, 405, "use POST", "Allow: POST\r\n"), RT_DONE;
        handle_publish(c, req, body, body_len);
    } else if (path_is(req, "/metrics") || path_is(req, "/healthz") || path_is(req, ap->route)) {
        if (!method_is(req, "GET"))
            return rt_conn_error(c, 405, "use GET", allow), RT_DONE;
        if (path_is(req, ap->route))
            return ap->handle(c, req);
        if (path_is(req, "/metrics"))
            handle_metrics(c);
        else
            rt_conn_respond(c, 200, "text/plain; charset=utf-8", "ok\n", 3, NULL, 0);
    } else {
        rt_conn_error(c, 404, "no such path", NULL);
    }
    return RT_DONE;
}
