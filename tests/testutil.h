/*
 * testutil.h - what the test programs share: timeouts that scale, child
 * processes (our rtlab binary, curl) with their output, raw sockets.
 *
 * Every wait here has a deadline. Timeouts are multiplied by the
 * RTLAB_TEST_TIMEOUT_SCALE environment variable (default 1) for slow
 * machines and sanitizer builds.
 */
#ifndef RT_TESTUTIL_H
#define RT_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* For integration test programs, run as `PROGRAM PATH_TO_RTLAB`: returns
 * the rtlab path (exits 2 with a usage line without it) and ignores SIGPIPE,
 * so a server closing a socket fails an assertion, not the program. */
const char *tu_rtlab_arg(int argc, char **argv);

/* ms scaled by RTLAB_TEST_TIMEOUT_SCALE. */
int tu_ms(int ms);

/* Milliseconds on a monotonic clock. */
int64_t tu_now_ms(void);

/* A child process with its stdout (and optionally stderr) on pipes. */
struct tu_proc {
    pid_t pid;
    int out_fd, err_fd;
    char out[1 << 16], err[1 << 16];  /* what has been read so far */
    size_t out_len, err_len, out_pos; /* out_pos: lines handed out */
    int status;                       /* after tu_proc_wait: exit code, or 128 + signal */
};

/* Starts argv (argv[0] is a path) with stdout and stderr piped. */
int tu_proc_start(struct tu_proc *p, char *const argv[]);
/* Reads the next stdout line (without the newline) within timeout_ms. */
bool tu_proc_line(struct tu_proc *p, char *line, size_t cap, int timeout_ms);
/* Collects output until stderr contains needle or the timeout passes. */
bool tu_proc_wait_stderr(struct tu_proc *p, const char *needle, int timeout_ms);
/* Sends sig (0: none) and waits up to timeout_ms for the exit, then
 * SIGKILLs. Returns the exit code (128 + signal when killed). */
int tu_proc_stop(struct tu_proc *p, int sig, int timeout_ms);

/* Runs argv to completion (at most timeout_ms) and captures its stdout,
 * NUL-terminated. Returns the exit code, or -1. */
int tu_run(char *const argv[], char *out, size_t cap, int timeout_ms);

/* `rtlab serve ...` started from a test: the port it printed. */
struct tu_server {
    struct tu_proc proc;
    int port;
};
/* Starts `rtlab serve` with the extra arguments (NULL-terminated list) and
 * reads `listening on HOST:PORT`. */
bool tu_server_start(struct tu_server *s, const char *rtlab, const char *const *args);
/* SIGTERM, wait; returns the exit code. */
int tu_server_stop(struct tu_server *s);

/* Raw sockets on 127.0.0.1. */
int tu_connect(int port);
bool tu_send(int fd, const char *data, size_t len);
/* Reads until the peer closes, cap is full or timeout_ms passes. Returns
 * the bytes read (NUL-terminated in buf); *closed says whether EOF came. */
size_t tu_recv_all(int fd, char *buf, size_t cap, int timeout_ms, bool *closed);
/* Reads one whole HTTP response (head + Content-Length body) within
 * timeout_ms. Returns its status (0 on failure); buf holds it, NUL-terminated. */
int tu_recv_response(int fd, char *buf, size_t cap, int timeout_ms);

/* curl helpers: returns the HTTP status, body in out. */
int tu_curl(const char *method, const char *url, const char *body, char *out, size_t cap);

/* A TCP proxy on 127.0.0.1 (its own thread) in front of a server, that can
 * cut every connection through it at once: the test's stand-in for a
 * network that drops connections. */
struct tu_proxy;
/* Starts a proxy to 127.0.0.1:to_port; *port is where it listens. */
struct tu_proxy *tu_proxy_start(int to_port, int *port);
/* Closes every connection passing through now (both sides). Returns how many. */
int tu_proxy_cut(struct tu_proxy *p);
/* Like tu_proxy_cut, but when nothing is connected (a client backing off
 * after the last cut) waits up to timeout_ms for something to cut. */
int tu_proxy_cut_wait(struct tu_proxy *p, int timeout_ms);
void tu_proxy_stop(struct tu_proxy *p);

/*
 * Resume without loss: runs `rtlab client APPROACH --topic cut --count N`
 * through a cutting proxy in front of the server on port, publishes N
 * messages straight to the server and cuts the client's connection `cuts`
 * times on the way. Returns NULL when the client printed exactly messages
 * 1..N in order and exited 0, else what went wrong (a static string).
 */
const char *tu_resume_without_loss(const char *rtlab, int port, const char *approach, int n,
                                   int cuts);

/* Resident memory of a process in KiB (from /proc), or -1. */
long tu_rss_kib(pid_t pid);

/* Raises this process's open-file limit to the hard limit; returns it. */
long tu_raise_nofile(void);

/* Reads /metrics from a server and returns the number after "key": in the
 * object of approach ap ("short", "long", ...), or -1. */
long tu_metric(int port, const char *ap, const char *key);

/* The whole number after the first "key": in json (a report of `rtlab load
 * --json`, say), or -1 when there is none. */
long long tu_json_number(const char *json, const char *key);

/* Runs an in-process command (rt_cmd_sim, say) with its stdout caught into
 * out (NUL-terminated, at most cap - 1 bytes); returns the command's exit
 * code, or -1 when stdout could not be redirected. */
int tu_run_captured(int (*cmd)(int, char **), int argc, char **argv, char *out, size_t cap);

/* ---- WebSocket, raw (for tests of the server's behaviour) ---- */

/* Opens a WebSocket to target ("/ws?topic=t") with extra header lines
 * (each ending in CRLF, may be NULL). Returns the socket once 101 came, or
 * -1 with the server's answer (or what arrived) in resp. */
int tu_ws_connect(int port, const char *target, const char *headers, char *resp, size_t cap);
/* Sends one masked, final frame. */
bool tu_ws_send(int fd, int opcode, const void *data, size_t len);
bool tu_ws_text(int fd, const char *text);
/* Reads one frame (unfragmented, uncompressed) into buf, NUL-terminated.
 * Returns its payload length and sets *opcode, or -1 (timeout, EOF, too
 * big for cap). */
long tu_ws_recv(int fd, int *opcode, char *buf, size_t cap, int timeout_ms);
/* The next text message, answering pings on the way. -2 when a Close came
 * instead, -1 on timeout or EOF. */
long tu_ws_recv_text(int fd, char *buf, size_t cap, int timeout_ms);
/* Reads frames until a Close; returns its code (1005 when empty), or -1. */
int tu_ws_close_code(int fd, int timeout_ms);

#endif
