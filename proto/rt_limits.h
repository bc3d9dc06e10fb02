/*
 * rt_limits.h - every size limit and timeout rtlab uses, in one place.
 *
 * Each value says why it has that value. Values a user may want to change
 * have a command-line option (named next to them); the rest are fixed.
 */
#ifndef RT_LIMITS_H
#define RT_LIMITS_H

/* ---- HTTP/1.1 ---------------------------------------------------------- */

/* Request line + headers. 8 KiB is what nginx and most proxies accept by
 * default (large_client_header_buffers); anything larger is an attack or a
 * bug and gets 431. */
#define RT_HTTP_MAX_HEAD (8 * 1024)

/* Request body (a published message). 1 MiB covers any real-time payload;
 * larger gets 413. Option: --max-body. */
#define RT_HTTP_MAX_BODY (1024 * 1024)

/* Header lines per request or response. Real browsers send about 15. */
#define RT_HTTP_MAX_HEADERS 64

/* A client must deliver a whole request head within this many ms from its
 * first byte (or from connecting): the defence against slow-header clients
 * that hold sockets open. Option: --header-timeout (seconds). */
#define RT_HEADER_TIMEOUT_MS 10000

/* An idle keep-alive connection is closed after this long without a new
 * request. nginx uses 75 s; 60 s is below common load-balancer idle limits.
 * Option: --idle-timeout (seconds). */
#define RT_IDLE_TIMEOUT_MS 60000

/* After an answer with "Connection: close" the server shuts down its side
 * and reads (and drops) what the client still sends for up to this long
 * before closing: closing a socket with unread input makes the kernel send
 * a reset, which can destroy the answer before the client reads it. */
#define RT_LINGER_MS 2000

/* Bytes queued for writing on one connection before the server stops
 * reading from it (a pipelining client that never reads its answers). */
#define RT_WRITE_QUEUE_HIGH (1024 * 1024)

/* listen(2) backlog: a burst of 1,000s of clients connecting at once (the
 * load generator, a reconnect storm) must not be dropped. The kernel caps
 * it at net.core.somaxconn. */
#define RT_LISTEN_BACKLOG 4096

/* ---- Topics and messages ----------------------------------------------- */

/* Messages kept per topic for replay. Option: --ring. */
#define RT_RING_DEFAULT 1024

/* Topics one server holds; a publish to a new topic beyond this gets 503
 * so a client cannot exhaust memory by inventing names. Option: --max-topics. */
#define RT_MAX_TOPICS 65536

/* Topic and event names: [A-Za-z0-9_.:/-], short enough for a log line. */
#define RT_NAME_MAX 64

/* Arrays and objects nested in a published payload; deeper gets 400. Real
 * payloads are a handful of levels deep. The limit is for the receivers:
 * many parse recursively (cJSON, which our clients use, stops at 1000
 * levels; serde_json at 128), and a 1 MiB body of "[[[[..." could otherwise
 * be relayed to all of them. The message object puts the payload one level
 * deeper, a poll answer three. rt_json_valid() itself needs one bit per
 * level. */
#define RT_JSON_MAX_DEPTH 128

/* One poll answer carries at most this many messages, and stops adding
 * messages once it passes RT_POLL_BATCH_BYTES (it always carries at least
 * one). A client far behind gets the oldest ones and `next`, and asks again
 * at once; one answer never grows without bound. */
#define RT_POLL_BATCH_MAX 256
#define RT_POLL_BATCH_BYTES (1024 * 1024)

/* ---- Long polling -------------------------------------------------------- */

/* How long a long poll is held when the client names no timeout, and the
 * most it may ask for. 30 s stays under the idle limits of common proxies
 * and load balancers (often 60 s); 120 s is a hard ceiling. */
#define RT_LONG_POLL_DEFAULT_S 30
#define RT_LONG_POLL_MAX_S 120

/* ---- Server-Sent Events ---------------------------------------------------- */

/* A comment line every this many ms keeps proxies from closing a quiet
 * stream and lets clients notice a dead one. Option: --heartbeat. */
#define RT_SSE_HEARTBEAT_MS 15000

/* The reconnection delay the stream suggests to clients (`retry:`).
 * Browsers default to about 3 s. Option: --retry. */
#define RT_SSE_RETRY_MS 3000

/* Bytes a stream (SSE, WebSocket) may have queued in the server beyond what
 * the kernel took. A client that reads slower than messages arrive fills
 * it; it is then disconnected rather than let the server's memory grow.
 * 256 KiB is over a thousand typical messages of slack. Option: --send-queue. */
#define RT_SEND_QUEUE_DEFAULT (256 * 1024)

/* ---- Clients ----------------------------------------------------------- */

/* Reconnect backoff: first delay, cap (full jitter below the cap). */
#define RT_BACKOFF_BASE_MS 1000
#define RT_BACKOFF_CAP_MS 30000

/* A client gives up on one request (connect + answer) after this long and
 * counts it as an error; it then backs off. Long polls add their hold time. */
#define RT_CLIENT_REQUEST_TIMEOUT_MS 10000

/* Largest response a client accepts (a poll answer of RT_POLL_BATCH_MAX
 * messages of up to RT_HTTP_MAX_BODY each would be larger; the client
 * treats such an answer as an error rather than buffer without bound). */
#define RT_CLIENT_MAX_RESPONSE (16 * 1024 * 1024)

/* Long polling: an empty answer sooner than this after the request means
 * the server did not hold it (a short-polling server, say); the client then
 * waits out the rest of this before the next poll, so it can never spin. */
#define RT_LONG_MIN_CYCLE_MS 1000

/* SSE clients: the longest `retry:` honoured (a longer silence is more
 * likely a mistake than a wish); the watchdog drops a stream after this many
 * heartbeat intervals without a byte (one late heartbeat is not a dead
 * connection, two and a half are). The stream's own reconnection time, until
 * it sets one, is RT_SSE_RETRY_MS, and its heartbeat RT_SSE_HEARTBEAT_MS. */
#define RT_SSE_RETRY_MAX_MS 600000
#define RT_SSE_WATCHDOG_FACTOR 2.5

/* SSE clients: the largest event data accepted (a message object around the
 * largest data a server takes), and the most raw bytes of one unfinished
 * event kept between reads (field names and line ends make an event longer
 * than its data; past four times the data limit it is junk). */
#define RT_SSE_DATA_MAX (RT_HTTP_MAX_BODY + 1024)
#define RT_SSE_TAIL_MAX (4 * RT_SSE_DATA_MAX)

/* ---- WebSockets ---------------------------------------------------------- */

/* Largest WebSocket message accepted, summed over its fragments (the decoder
 * checks it at each frame header, before any payload arrives). Larger gets
 * close code 1009. 1 MiB matches RT_HTTP_MAX_BODY: a message a client sends
 * over a WebSocket is the same kind of thing it could publish with a POST.
 * With permessage-deflate this bounds the compressed size; the inflater must
 * bound the inflated size itself. The WebSocket server takes --max-message. */
#define RT_WS_MAX_MESSAGE (1024 * 1024)

/* After sending a Close frame, wait this long for the peer's Close (and, on
 * the server, for the client to close TCP first, RFC 6455 section 7.1.1)
 * before closing the socket anyway: a peer that never answers must not hold
 * the connection. 5 s is several round trips even on a slow mobile link. */
#define RT_WS_CLOSE_TIMEOUT_MS 5000

/* A WebSocket server pings every connection this often (--heartbeat) and
 * drops one whose pong has not come back by the next ping: a dead link is
 * found within two intervals. 30 s stays under the idle timeouts of common
 * proxies and load balancers (60 s and up) without waking a phone's radio
 * more than twice a minute. */
#define RT_WS_HEARTBEAT_MS 30000

/* Outgoing WebSocket messages shorter than this are sent uncompressed:
 * deflate saves nothing on a few dozen bytes (a pong, an error) and the
 * receiver still pays for an inflate. */
#define RT_WS_COMPRESS_MIN 64

/* Topics one WebSocket connection may subscribe to at once. */
#define RT_WS_MAX_SUBS 64

/* Origins a WebSocket server can be told to allow (--allow-origin). */
#define RT_MAX_ORIGINS 16

/* The WebSocket client pings as often as the server does by default
 * (RT_WS_HEARTBEAT_MS, 30 s), and drops a connection on which nothing came
 * for RT_SSE_WATCHDOG_FACTOR times its interval. */
#define RT_WS_CLIENT_HEARTBEAT_MS RT_WS_HEARTBEAT_MS

/* Bytes a WebSocket client lets wait for the kernel before it takes the
 * server for stuck and drops the connection: a few largest messages. */
#define RT_WS_CLIENT_SEND_QUEUE (4 * RT_WS_MAX_MESSAGE)

/* Text messages (chat lines) kept while there is no connection, to send
 * once there is one; more is refused. */
#define RT_WS_CLIENT_PENDING_MAX (1024 * 1024)

/* At most one typing signal per this long: often enough for "is typing..."
 * to stay on while someone types, rare enough to cost nothing. */
#define RT_CHAT_TYPING_MS 2000

#endif
