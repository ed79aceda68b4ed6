/* bb_rpc.h — the internal length-prefixed RPC framing: decoder, libuv server, blocking client.
 *
 * Wire format (documented byte by byte at the top of bb_rpc.c and in docs/internals/rpc.md):
 *
 *   u32 LE frame_len | u64 LE id | u8 command-or-status | u32 LE payload_len | payload
 *                      \______________________ frame_len bytes ___________________/
 *
 * with frame_len == 13 + payload_len and frame_len <= max_frame (default 16 MiB). Payloads are
 * JSON by convention; the framing does not look at them. Response status: 0 ok, 1 error.
 *
 * Addresses: "127.0.0.1:7001", "[::1]:7001", "localhost:7001", "tcp://host:port" or
 * "unix:/path/to.sock" (also "unix:///path").
 */
#ifndef BB_RPC_H
#define BB_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define BB_RPC_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)
#define BB_RPC_PREFIX_LEN 4u  /* outer u32 length */
#define BB_RPC_HEADER_LEN 13u /* id + code + payload_len, inside the frame */
#define BB_RPC_MIN_FRAME BB_RPC_HEADER_LEN
#define BB_RPC_STATUS_OK 0
#define BB_RPC_STATUS_ERROR 1
#define BB_RPC_DEFAULT_TIMEOUT_MS 10000
#define BB_RPC_DEFAULT_MAX_CONNECTIONS 1024u
#define BB_RPC_DEFAULT_MAX_INFLIGHT 1024u

/* ---- frames and the incremental decoder ------------------------------------------------------ */

/* One decoded frame. payload is borrowed from the decoder: valid until the next call to
 * bb_rpc_decoder_feed() or bb_rpc_decoder_release(). */
struct bb_rpc_frame {
    uint64_t id;
    uint8_t code; /* command in requests, status in responses */
    const uint8_t *payload;
    size_t payload_len;
};

/* Pure, allocation-bounded decoder: it never buffers more than one frame (<= max_frame bytes).
 * Errors are sticky: after one, every feed returns the same error. Fields are private. */
struct bb_rpc_decoder {
    size_t max_frame;
    uint8_t *buf; /* owned */
    size_t len, cap;
    size_t need; /* total bytes of the current frame incl. prefix; 0 = unknown yet */
    int err;
};

/* max_frame 0 = BB_RPC_DEFAULT_MAX_FRAME; values below BB_RPC_MIN_FRAME are raised to it. */
void bb_rpc_decoder_init(struct bb_rpc_decoder *d, size_t max_frame);
/* Frees the buffer; the decoder may be init'ed again. */
void bb_rpc_decoder_release(struct bb_rpc_decoder *d);
/* Consumes bytes from data (borrowed) until one frame is complete or data runs out; *consumed
 * tells how many. Returns 1 with *out filled when a frame completed, 0 when all of data was
 * consumed without completing one, BB_ETOOBIG when the announced frame_len exceeds max_frame,
 * BB_EPROTO when frame_len < 13 or frame_len != 13 + payload_len, BB_ENOMEM. Callers loop until
 * len is exhausted. */
int bb_rpc_decoder_feed(struct bb_rpc_decoder *d, const void *data, size_t len, size_t *consumed,
                        struct bb_rpc_frame *out);
/* Bytes of a partial frame currently buffered (0 at a frame boundary). */
size_t bb_rpc_decoder_pending(const struct bb_rpc_decoder *d);

/* Writes the 4 + 13 byte prefix+header for a frame carrying payload_len bytes into hdr. */
void bb_rpc_frame_header(uint8_t hdr[BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN], uint64_t id,
                         uint8_t code, uint32_t payload_len);

/* ---- server (libuv) -------------------------------------------------------------------------- */

struct bb_rpc_server;
struct bb_rpc_call;

struct bb_rpc_server_opts {
    size_t max_frame;          /* 0 = BB_RPC_DEFAULT_MAX_FRAME; applies to requests and replies */
    unsigned max_connections;  /* 0 = BB_RPC_DEFAULT_MAX_CONNECTIONS; extra ones are closed */
    unsigned max_inflight;     /* per connection, 0 = BB_RPC_DEFAULT_MAX_INFLIGHT; calls over it
                                  get an immediate error reply {"error":"too many in-flight calls"} */
    int backlog;               /* listen backlog, 0 = 128 */
};

/* Called on the loop thread for every request frame. The handler must arrange for exactly one
 * bb_rpc_call_reply() on the call — now or later, from any thread. Until then the call (and the
 * payload it holds) stays valid even if the connection closes or the server stops. */
typedef void (*bb_rpc_handler)(void *ctx, struct bb_rpc_call *call);
/* Called on the loop thread once every handle of a stopping server is closed. */
typedef void (*bb_rpc_stopped_cb)(void *ctx);

/* Binds and listens on addr. loop, handler and ctx are borrowed for the server's lifetime; opts is
 * copied (NULL = defaults). Must be called on the loop thread (or before the loop runs). On
 * success *out owns the server until bb_rpc_server_stop(). Errors: BB_EINVAL (bad address),
 * BB_EEXIST (address in use), BB_EIO, BB_ENOMEM; the callback is never called and the caller has
 * nothing to clean up (a listener handle already created is closed and freed by the loop's next
 * iteration, so run the loop before uv_loop_close). A stale unix socket file at the path is removed
 * before binding. The first call sets SIGPIPE to SIG_IGN if it still has the default disposition
 * (libuv writes to sockets with write(2)). */
int bb_rpc_server_start(struct bb_rpc_server **out, uv_loop_t *loop, const char *addr,
                        const struct bb_rpc_server_opts *opts, bb_rpc_handler handler, void *ctx);
/* The bound TCP port (useful with port 0), or 0 for unix sockets. */
int bb_rpc_server_port(const struct bb_rpc_server *srv);
/* Number of open connections (loop thread only; for tests and metrics). */
unsigned bb_rpc_server_connections(const struct bb_rpc_server *srv);
/* Closes the listener and every connection; done (may be NULL) is called with the handler's ctx
 * once all handles are closed, after which the loop has no handles of the server left. Loop thread
 * only. The server memory is freed when the handles are closed and every outstanding call has been
 * replied to; replies arriving after stop are dropped. srv must not be used after this call. */
void bb_rpc_server_stop(struct bb_rpc_server *srv, bb_rpc_stopped_cb done);

/* Accessors, valid until the call is replied to. The payload is borrowed from the call and is
 * NUL-terminated (payload[len] == 0) for convenience. */
uint8_t bb_rpc_call_command(const struct bb_rpc_call *call);
uint64_t bb_rpc_call_id(const struct bb_rpc_call *call);
const void *bb_rpc_call_payload(const struct bb_rpc_call *call, size_t *len);

/* Sends the reply (status BB_RPC_STATUS_OK or BB_RPC_STATUS_ERROR; payload borrowed, copied before
 * return) and consumes the call: it must not be touched afterwards. Thread-safe; call exactly once
 * per call. Returns 0, or BB_EINVAL (bad status), BB_ETOOBIG (payload over the frame limit) or
 * BB_ENOMEM — in those cases the call is still consumed and the peer gets an error frame
 * {"error":"<reason>"} instead. If the connection is gone the reply is silently dropped. */
int bb_rpc_call_reply(struct bb_rpc_call *call, int status, const void *payload, size_t len);

/* ---- client (blocking, for worker threads) --------------------------------------------------- */

struct bb_rpc_client;

struct bb_rpc_client_opts {
    size_t max_frame;        /* 0 = BB_RPC_DEFAULT_MAX_FRAME */
    int connect_timeout_ms;  /* 0 = the call's timeout */
};

/* Creates a client for addr (copied). Connects lazily on the first call. opts may be NULL.
 * Returns 0 and *out (caller frees with bb_rpc_client_free), or BB_EINVAL / BB_ENOMEM. */
int bb_rpc_client_new(struct bb_rpc_client **out, const char *addr,
                      const struct bb_rpc_client_opts *opts);
/* Closes the connection and frees the client; NULL is fine. No call may be in progress. */
void bb_rpc_client_free(struct bb_rpc_client *c);

/* Sends one request and waits for its response, at most timeout_ms (<= 0 = 10 s) for the whole
 * call including connecting. Calls are serialised on one persistent connection by a mutex, so the
 * client may be shared by threads. On success returns 0, *status_out = the response status byte,
 * *reply_out = malloc'd NUL-terminated copy of the response payload (caller frees) and
 * *reply_len_out its length (reply_out / reply_len_out may be NULL to discard it).
 * Errors: BB_EINVAL, BB_ETOOBIG (request over max_frame; the connection is kept), BB_EUNAVAIL
 * (cannot connect), BB_ETIMEDOUT, BB_ECLOSED (server closed the connection mid-call), BB_EPROTO
 * (bad frame or mismatched id), BB_EIO, BB_ENOMEM. After any error except BB_EINVAL/BB_ETOOBIG the
 * connection is dropped and the next call reconnects. A connection found dead before the request
 * was sent (peer closed an idle connection, server restarted) is re-established and the call
 * retried once transparently. */
int bb_rpc_client_call(struct bb_rpc_client *c, uint8_t command, const void *payload, size_t len,
                       int *status_out, char **reply_out, size_t *reply_len_out, int timeout_ms);

#endif
