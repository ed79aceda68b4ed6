/* bb_sse.h — Server-Sent Events streams on top of bb_http.
 *
 * A handler of a BB_ROUTE_STREAM route calls bb_sse_start; once the handler returns, the server
 * sends the stream's headers (text/event-stream, no-cache) and keeps the connection open. Events
 * can then be pushed from ANY thread: bytes go into the stream's queue and a uv_async wakes the
 * loop to write them. Frames follow the SSE spec: optional "id: …", optional "event: …", one
 * "data: …" line per line of data (so multi-line data survives), a blank line. Heartbeats (a
 * ": heartbeat" comment) go out every limits.sse_heartbeat_ms. A stream whose unsent bytes exceed
 * limits.sse_max_queue_bytes is closed (slow consumer) rather than buffering without bound.
 *
 * Lifetime: a stream is reference counted. bb_sse_start hands the caller one reference; the
 * connection holds its own. When the client disconnects (or the stream is closed, or the server
 * drains), the on_close callback runs once on the loop thread; pushes afterwards return
 * BB_ECLOSED. The caller drops its reference with bb_sse_unref from any thread.
 */
#ifndef BB_SSE_H
#define BB_SSE_H

#include <stddef.h>

struct bb_http_request;
struct bb_http_response;
struct bb_sse;

typedef void (*bb_sse_close_fn)(struct bb_sse *s, void *arg);

/* Turns res into a stream. on_close (may be NULL) runs on the loop thread when the stream ends.
 * *out receives a reference owned by the caller. Returns 0 or BB_ENOMEM / BB_EINVAL (not a
 * stream route). */
int bb_sse_start(struct bb_http_request *req, struct bb_http_response *res,
                 bb_sse_close_fn on_close, void *arg, struct bb_sse **out);

/* Queues one event (thread-safe). event and id may be NULL; data (len bytes) may contain '\n'
 * (and "\r\n"), each line becoming its own data: line. Returns 0, BB_ECLOSED, BB_EINVAL (an id or
 * event containing a newline) or BB_EBUSY (queue over its bound: the stream is closed). */
int bb_sse_send(struct bb_sse *s, const char *event, const char *id, const char *data, size_t len);
/* Queues a comment line (": text"), e.g. for custom keep-alives. */
int bb_sse_comment(struct bb_sse *s, const char *text);
/* Ends the stream from any thread (the connection is closed after queued bytes are written). */
void bb_sse_close(struct bb_sse *s);
int bb_sse_is_closed(struct bb_sse *s);
void bb_sse_ref(struct bb_sse *s);
void bb_sse_unref(struct bb_sse *s);

/* Formats one SSE frame into a malloc'd buffer (caller frees). For tests and fuzzing. */
int bb_sse_format(const char *event, const char *id, const char *data, size_t len, char **out,
                  size_t *out_len);

#endif
