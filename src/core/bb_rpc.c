/* bb_rpc.c — internal RPC framing: incremental decoder, libuv server, blocking client.
 *
 * WIRE FORMAT (all integers little-endian, no padding, no alignment):
 *
 *   offset  size  field
 *   ------  ----  -----------------------------------------------------------------------------
 *        0     4  frame_len   u32 LE: number of bytes that follow (the frame), 13 <= frame_len
 *                             <= max_frame (default 16 MiB = 16777216)
 *        4     8  id          u64 LE: request id chosen by the client; the response repeats it
 *       12     1  code        u8: in a request the command, in a response the status
 *                             (0 = ok, 1 = error)
 *       13     4  payload_len u32 LE: must equal frame_len - 13
 *       17     n  payload     payload_len bytes, JSON by convention (not inspected here)
 *
 *   Example: request id 7, command 1, payload "{}" =
 *     0f 00 00 00 | 07 00 00 00 00 00 00 00 | 01 | 02 00 00 00 | 7b 7d
 *
 * Invariants checked by the decoder, in this order, as soon as the bytes are available:
 *   frame_len > max_frame                    -> BB_ETOOBIG (checked after 4 bytes, before buffering)
 *   frame_len < 13                           -> BB_EPROTO  (zero-length / truncated header)
 *   payload_len != frame_len - 13            -> BB_EPROTO  (checked after 17 bytes)
 * The decoder buffers at most one frame, so memory per connection is bounded by max_frame plus the
 * read buffer. Errors are sticky.
 *
 * PROTOCOL ERRORS: the server answers a decoder error with one error frame (id = 0, status 1,
 * payload {"error":"frame too large"} or {"error":"malformed frame"}), stops reading and closes the
 * connection once that write completes. Other connections are not affected.
 *
 * SERVER THREADING: everything runs on the loop thread except bb_rpc_call_reply(), which may run on
 * any thread. A reply is queued on srv->queue under srv->mu and the loop is woken with a uv_async_t;
 * the async callback writes queued replies in FIFO order of reply (so responses may be out of
 * request order; ids match them up). Reference counts, also under srv->mu:
 *   conn->refs   1 for the open handle + 1 per call not yet freed; the conn struct outlives its
 *                handle while calls are outstanding, so a late reply to a closed connection is
 *                dropped safely.
 *   srv->pending calls not yet freed; the server struct is freed once every handle is closed
 *                after bb_rpc_server_stop() and pending == 0. Replies after stop are freed by the
 *                replying thread without touching the loop.
 *
 * CLIENT: one blocking socket per client guarded by a mutex; every call has a deadline enforced
 * with poll(). Any transport or protocol error drops the socket; the next call reconnects. Before
 * sending on a reused socket the client checks it with poll()+MSG_PEEK and, if the peer has closed
 * it, reconnects and sends there instead (the "retry once": the request was never sent).
 */
#include "bb_rpc.h"

#include "bb_err.h"
#include "bb_time.h"
#include "bb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FULL_HDR (BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN)
#define DECODER_KEEP_CAP (64u * 1024u)
#define READ_BUF_SIZE (64u * 1024u)

/* ---- little-endian helpers ------------------------------------------------------------------- */

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const uint8_t *p)
{
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

static void wr_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void wr_u64(uint8_t *p, uint64_t v)
{
    wr_u32(p, (uint32_t)v);
    wr_u32(p + 4, (uint32_t)(v >> 32));
}

void bb_rpc_frame_header(uint8_t hdr[BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN], uint64_t id,
                         uint8_t code, uint32_t payload_len)
{
    wr_u32(hdr, payload_len + BB_RPC_HEADER_LEN);
    wr_u64(hdr + 4, id);
    hdr[12] = code;
    wr_u32(hdr + 13, payload_len);
}

/* ---- decoder --------------------------------------------------------------------------------- */

void bb_rpc_decoder_init(struct bb_rpc_decoder *d, size_t max_frame)
{
    memset(d, 0, sizeof *d);
    if (max_frame == 0) max_frame = BB_RPC_DEFAULT_MAX_FRAME;
    if (max_frame < BB_RPC_MIN_FRAME) max_frame = BB_RPC_MIN_FRAME;
    if (max_frame > UINT32_MAX) max_frame = UINT32_MAX;
    d->max_frame = max_frame;
}

void bb_rpc_decoder_release(struct bb_rpc_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->len = d->cap = d->need = 0;
}

size_t bb_rpc_decoder_pending(const struct bb_rpc_decoder *d)
{
    if (d->need && d->len == d->need) return 0; /* last frame already handed out */
    return d->len;
}

static int dec_reserve(struct bb_rpc_decoder *d, size_t want)
{
    if (want <= d->cap) return 0;
    size_t ncap = d->cap ? d->cap * 2 : 256;
    if (ncap < want) ncap = want;
    size_t limit = d->need ? d->need : FULL_HDR;
    if (ncap > limit) ncap = limit;
    uint8_t *nb = realloc(d->buf, ncap);
    if (!nb) return BB_ENOMEM;
    d->buf = nb;
    d->cap = ncap;
    return 0;
}

int bb_rpc_decoder_feed(struct bb_rpc_decoder *d, const void *data, size_t len, size_t *consumed,
                        struct bb_rpc_frame *out)
{
    const uint8_t *p = data;
    size_t used = 0;
    int rc = 0;

    *consumed = 0;
    if (d->err) return d->err;
    if (d->need && d->len == d->need) {
        /* the previous frame was handed out: start a new one */
        d->len = 0;
        d->need = 0;
        if (d->cap > DECODER_KEEP_CAP) {
            free(d->buf);
            d->buf = NULL;
            d->cap = 0;
        }
    }
    while (used < len) {
        size_t want = (d->need ? d->need : FULL_HDR) - d->len;
        size_t take = len - used < want ? len - used : want;
        rc = dec_reserve(d, d->len + take);
        if (rc) goto out;
        memcpy(d->buf + d->len, p + used, take);
        d->len += take;
        used += take;
        if (!d->need) {
            if (d->len >= BB_RPC_PREFIX_LEN) {
                uint32_t flen = rd_u32(d->buf);
                if (flen > d->max_frame) {
                    rc = BB_ETOOBIG;
                    goto out;
                }
                if (flen < BB_RPC_HEADER_LEN) {
                    rc = BB_EPROTO;
                    goto out;
                }
            }
            if (d->len == FULL_HDR) {
                uint32_t flen = rd_u32(d->buf);
                uint32_t plen = rd_u32(d->buf + 13);
                if ((uint64_t)plen + BB_RPC_HEADER_LEN != flen) {
                    rc = BB_EPROTO;
                    goto out;
                }
                d->need = BB_RPC_PREFIX_LEN + (size_t)flen;
            }
        }
        if (d->need && d->len == d->need) {
            out->id = rd_u64(d->buf + 4);
            out->code = d->buf[12];
            out->payload = d->buf + FULL_HDR;
            out->payload_len = d->need - FULL_HDR;
            rc = 1;
            goto out;
        }
    }
out:
    *consumed = used;
    if (rc < 0) d->err = rc;
    return rc;
}

/* ---- addresses ------------------------------------------------------------------------------- */

struct rpc_addr {
    int is_unix;
    char host[256];
    char port[8];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int addr_parse(const char *s, struct rpc_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!s) return BB_EINVAL;
    if (strncmp(s, "unix:", 5) == 0) {
        const char *p = s + 5;
        if (strncmp(p, "//", 2) == 0) p += 2;
        size_t n = strlen(p);
        if (n == 0 || n >= sizeof a->path) return BB_EINVAL;
        memcpy(a->path, p, n + 1);
        a->is_unix = 1;
        return 0;
    }
    if (strncmp(s, "tcp://", 6) == 0) s += 6;
    const char *host = s, *hend, *port;
    if (*s == '[') {
        host = s + 1;
        hend = strchr(host, ']');
        if (!hend || hend[1] != ':') return BB_EINVAL;
        port = hend + 2;
    } else {
        hend = strrchr(s, ':');
        if (!hend) return BB_EINVAL;
        port = hend + 1;
    }
    size_t hl = (size_t)(hend - host), pl = strlen(port);
    if (hl == 0 || hl >= sizeof a->host || pl == 0 || pl > 5) return BB_EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (port[i] < '0' || port[i] > '9') return BB_EINVAL;
        v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v > 65535) return BB_EINVAL;
    memcpy(a->host, host, hl);
    a->host[hl] = '\0';
    snprintf(a->port, sizeof a->port, "%lu", v);
    return 0;
}

static int addr_resolve(const struct rpc_addr *a, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    int r = getaddrinfo(a->host, a->port, &hints, res);
    if (r == EAI_MEMORY) return BB_ENOMEM;
    if (r != 0) return BB_EUNAVAIL;
    return 0;
}

/* ---- server ---------------------------------------------------------------------------------- */

struct conn {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    struct bb_rpc_server *srv;
    struct conn *prev, *next; /* srv->conns, loop thread */
    struct bb_rpc_decoder dec;
    unsigned inflight; /* calls dispatched, reply not yet processed (loop thread) */
    unsigned refs;     /* under srv->mu */
    int closing;       /* loop thread */
};

struct bb_rpc_call {
    struct bb_rpc_server *srv;
    struct conn *conn;
    uint64_t id;
    uint8_t cmd;
    uint8_t *payload; /* request payload, owned, NUL-terminated */
    size_t payload_len;
    struct bb_rpc_call *next; /* reply queue */
    uv_write_t wreq;
    uint8_t hdr[FULL_HDR];
    char *reply; /* owned unless reply_static */
    size_t reply_len;
    int reply_static;
};

/* A frame the server writes on its own (protocol errors, overload), not tied to a call. */
struct raw_write {
    uv_write_t req;
    struct conn *conn;
    uint8_t hdr[FULL_HDR];
    int close_after;
};

struct bb_rpc_server {
    uv_loop_t *loop;
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } listener;
    uv_async_t async;
    int is_unix;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int port;
    size_t max_frame;
    unsigned max_connections, max_inflight;
    bb_rpc_handler handler;
    void *ctx;
    bb_rpc_stopped_cb stopped;
    struct conn *conns;
    unsigned nconns;
    unsigned handles; /* open handles: listener, async, conns (loop thread) */
    int stopping;     /* set on the loop thread under mu */
    int handles_done; /* under mu: all handles closed after stop */
    size_t pending;   /* under mu: calls not yet freed */
    pthread_mutex_t mu;
    struct bb_rpc_call *q_head, *q_tail; /* under mu */
    char readbuf[READ_BUF_SIZE];
};

static const char err_too_big[] = "{\"error\":\"frame too large\"}";
static const char err_malformed[] = "{\"error\":\"malformed frame\"}";
static const char err_inflight[] = "{\"error\":\"too many in-flight calls\"}";
static const char err_nomem[] = "{\"error\":\"out of memory\"}";
static const char err_status[] = "{\"error\":\"invalid reply status\"}";
static const char err_reply_big[] = "{\"error\":\"reply too large\"}";

static void srv_free(struct bb_rpc_server *srv)
{
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

/* Frees a call; any thread. Drops the conn and server references it holds. */
static void call_free(struct bb_rpc_call *call)
{
    struct bb_rpc_server *srv = call->srv;
    struct conn *conn = call->conn;
    pthread_mutex_lock(&srv->mu);
    bool free_conn = --conn->refs == 0;
    srv->pending--;
    bool free_srv = srv->handles_done && srv->pending == 0;
    pthread_mutex_unlock(&srv->mu);
    if (!call->reply_static) free(call->reply);
    free(call->payload);
    free(call);
    if (free_conn) free(conn);
    if (free_srv) srv_free(srv);
}

static void handle_closed(struct bb_rpc_server *srv)
{
    if (--srv->handles > 0 || !srv->stopping) return;
    if (srv->stopped) srv->stopped(srv->ctx);
    pthread_mutex_lock(&srv->mu);
    srv->handles_done = 1;
    bool free_srv = srv->pending == 0;
    pthread_mutex_unlock(&srv->mu);
    if (free_srv) srv_free(srv);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *conn = h->data;
    struct bb_rpc_server *srv = conn->srv;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    srv->nconns--;
    bb_rpc_decoder_release(&conn->dec);
    pthread_mutex_lock(&srv->mu);
    bool free_conn = --conn->refs == 0;
    pthread_mutex_unlock(&srv->mu);
    if (free_conn) free(conn);
    handle_closed(srv);
}

static void conn_close(struct conn *conn)
{
    if (conn->closing) return;
    conn->closing = 1;
    uv_close(&conn->u.h, on_conn_closed);
}

static void on_raw_written(uv_write_t *req, int status)
{
    struct raw_write *w = (struct raw_write *)req;
    if ((status < 0 || w->close_after) && status != UV_ECANCELED) conn_close(w->conn);
    free(w);
}

/* Writes a server-originated error frame with a static payload; closes the connection afterwards
 * when close_after. On failure closes the connection at once. */
static void send_raw(struct conn *conn, uint64_t id, const char *payload, int close_after)
{
    struct raw_write *w = malloc(sizeof *w);
    if (!w) {
        conn_close(conn);
        return;
    }
    size_t plen = strlen(payload);
    w->conn = conn;
    w->close_after = close_after;
    bb_rpc_frame_header(w->hdr, id, BB_RPC_STATUS_ERROR, (uint32_t)plen);
    uv_buf_t bufs[2] = {uv_buf_init((char *)w->hdr, FULL_HDR), uv_buf_init((char *)payload, plen)};
    if (uv_write(&w->req, &conn->u.s, bufs, 2, on_raw_written) != 0) {
        free(w);
        conn_close(conn);
    }
}

static void on_reply_written(uv_write_t *req, int status)
{
    struct bb_rpc_call *call = req->data;
    if (status < 0 && status != UV_ECANCELED) conn_close(call->conn);
    call_free(call);
}

/* Loop thread: writes every queued reply. */
static void on_async(uv_async_t *a)
{
    struct bb_rpc_server *srv = a->data;
    pthread_mutex_lock(&srv->mu);
    struct bb_rpc_call *call = srv->q_head;
    srv->q_head = srv->q_tail = NULL;
    pthread_mutex_unlock(&srv->mu);
    while (call) {
        struct bb_rpc_call *next = call->next;
        struct conn *conn = call->conn;
        conn->inflight--;
        if (conn->closing) {
            call_free(call);
        } else {
            uv_buf_t bufs[2] = {uv_buf_init((char *)call->hdr, FULL_HDR),
                                uv_buf_init(call->reply, call->reply_len)};
            call->wreq.data = call;
            if (uv_write(&call->wreq, &conn->u.s, bufs, call->reply_len ? 2 : 1,
                         on_reply_written) != 0) {
                conn_close(conn);
                call_free(call);
            } else if (uv_stream_get_write_queue_size(&conn->u.s) > 2 * srv->max_frame) {
                bb_warn("rpc", "slow_reader action=close queued=%zu",
                        uv_stream_get_write_queue_size(&conn->u.s));
                conn_close(conn);
            }
        }
        call = next;
    }
}

static void dispatch(struct conn *conn, const struct bb_rpc_frame *fr)
{
    struct bb_rpc_server *srv = conn->srv;
    if (conn->inflight >= srv->max_inflight) {
        send_raw(conn, fr->id, err_inflight, 0);
        return;
    }
    struct bb_rpc_call *call = calloc(1, sizeof *call);
    uint8_t *payload = malloc(fr->payload_len + 1);
    if (!call || !payload) {
        free(call);
        free(payload);
        send_raw(conn, fr->id, err_nomem, 0);
        return;
    }
    memcpy(payload, fr->payload, fr->payload_len);
    payload[fr->payload_len] = '\0';
    call->srv = srv;
    call->conn = conn;
    call->id = fr->id;
    call->cmd = fr->code;
    call->payload = payload;
    call->payload_len = fr->payload_len;
    conn->inflight++;
    pthread_mutex_lock(&srv->mu);
    conn->refs++;
    srv->pending++;
    pthread_mutex_unlock(&srv->mu);
    srv->handler(srv->ctx, call);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *conn = h->data;
    (void)suggested;
    *buf = uv_buf_init(conn->srv->readbuf, sizeof conn->srv->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *conn = s->data;
    if (nread < 0) {
        conn_close(conn);
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    while (n > 0 && !conn->closing) {
        struct bb_rpc_frame fr;
        size_t used;
        int r = bb_rpc_decoder_feed(&conn->dec, p, n, &used, &fr);
        p += used;
        n -= used;
        if (r == 1) {
            dispatch(conn, &fr);
        } else if (r < 0) {
            bb_warn("rpc", "protocol_error err=%s action=close", bb_err_code(r));
            uv_read_stop(s);
            send_raw(conn, 0, r == BB_ETOOBIG ? err_too_big : err_malformed, 1);
            return;
        }
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct bb_rpc_server *srv = server->data;
    if (status < 0 || srv->stopping) return;
    struct conn *conn = calloc(1, sizeof *conn);
    if (!conn) return;
    int r = srv->is_unix ? uv_pipe_init(srv->loop, &conn->u.pipe, 0)
                         : uv_tcp_init(srv->loop, &conn->u.tcp);
    if (r != 0) {
        free(conn);
        return;
    }
    conn->srv = srv;
    conn->refs = 1;
    conn->u.h.data = conn;
    bb_rpc_decoder_init(&conn->dec, srv->max_frame);
    conn->next = srv->conns;
    if (srv->conns) srv->conns->prev = conn;
    srv->conns = conn;
    srv->nconns++;
    srv->handles++;
    if (uv_accept(server, &conn->u.s) != 0) {
        conn_close(conn);
        return;
    }
    if (srv->nconns > srv->max_connections) {
        bb_warn("rpc", "connection_rejected reason=max_connections max=%u", srv->max_connections);
        conn_close(conn);
        return;
    }
    if (!srv->is_unix) uv_tcp_nodelay(&conn->u.tcp, 1);
    if (uv_read_start(&conn->u.s, on_alloc, on_read) != 0) conn_close(conn);
}

static void on_listener_closed_early(uv_handle_t *h)
{
    srv_free(h->data);
}

static void on_srv_handle_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static int uv_to_bb(int r)
{
    switch (r) {
    case UV_EADDRINUSE:
        return BB_EEXIST;
    case UV_ENOMEM:
        return BB_ENOMEM;
    case UV_EINVAL:
    case UV_EADDRNOTAVAIL:
    case UV_ENAMETOOLONG:
        return BB_EINVAL;
    default:
        return BB_EIO;
    }
}

/* libuv writes with write(2)/writev(2): a peer that has gone away would raise SIGPIPE. Ignore it
 * once, unless the program installed its own disposition. */
static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void ignore_sigpipe(void)
{
    struct sigaction cur;
    if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

int bb_rpc_server_start(struct bb_rpc_server **out, uv_loop_t *loop, const char *addr,
                        const struct bb_rpc_server_opts *opts, bb_rpc_handler handler, void *ctx)
{
    int rc = 0, r;
    struct rpc_addr a;
    struct addrinfo *ai = NULL;
    struct bb_rpc_server *srv = NULL;
    bool listener_open = false;

    if (!out || !loop || !handler) return BB_EINVAL;
    *out = NULL;
    pthread_once(&sigpipe_once, ignore_sigpipe);
    rc = addr_parse(addr, &a);
    if (rc) goto out;
    srv = calloc(1, sizeof *srv);
    if (!srv) {
        rc = BB_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&srv->mu, NULL);
    srv->loop = loop;
    srv->handler = handler;
    srv->ctx = ctx;
    srv->max_frame = opts && opts->max_frame ? opts->max_frame : BB_RPC_DEFAULT_MAX_FRAME;
    if (srv->max_frame < BB_RPC_MIN_FRAME) srv->max_frame = BB_RPC_MIN_FRAME;
    if (srv->max_frame > UINT32_MAX) srv->max_frame = UINT32_MAX;
    srv->max_connections =
        opts && opts->max_connections ? opts->max_connections : BB_RPC_DEFAULT_MAX_CONNECTIONS;
    srv->max_inflight = opts && opts->max_inflight ? opts->max_inflight : BB_RPC_DEFAULT_MAX_INFLIGHT;
    int backlog = opts && opts->backlog > 0 ? opts->backlog : 128;
    srv->is_unix = a.is_unix;

    if (a.is_unix) {
        struct stat st;
        if (lstat(a.path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(a.path);
        memcpy(srv->path, a.path, sizeof srv->path);
        r = uv_pipe_init(loop, &srv->listener.pipe, 0);
        if (r) {
            rc = uv_to_bb(r);
            goto out;
        }
        listener_open = true;
        srv->listener.h.data = srv;
        r = uv_pipe_bind(&srv->listener.pipe, a.path);
    } else {
        rc = addr_resolve(&a, &ai);
        if (rc) {
            if (rc == BB_EUNAVAIL) rc = BB_EINVAL;
            goto out;
        }
        r = uv_tcp_init(loop, &srv->listener.tcp);
        if (r) {
            rc = uv_to_bb(r);
            goto out;
        }
        listener_open = true;
        srv->listener.h.data = srv;
        r = uv_tcp_bind(&srv->listener.tcp, ai->ai_addr, 0);
    }
    if (r == 0) r = uv_listen(&srv->listener.s, backlog, on_connection);
    if (r) {
        rc = uv_to_bb(r);
        goto out;
    }
    if (!a.is_unix) {
        struct sockaddr_storage ss;
        int sl = sizeof ss;
        if (uv_tcp_getsockname(&srv->listener.tcp, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    r = uv_async_init(loop, &srv->async, on_async);
    if (r) {
        rc = uv_to_bb(r);
        goto out;
    }
    srv->async.data = srv;
    srv->handles = 2;
    bb_info("rpc", "listening addr=%s port=%d", addr, srv->port);
    *out = srv;
    srv = NULL;
out:
    if (ai) freeaddrinfo(ai);
    if (srv) {
        if (listener_open)
            uv_close(&srv->listener.h, on_listener_closed_early); /* frees srv */
        else
            srv_free(srv);
    }
    return rc;
}

int bb_rpc_server_port(const struct bb_rpc_server *srv)
{
    return srv->port;
}

unsigned bb_rpc_server_connections(const struct bb_rpc_server *srv)
{
    return srv->nconns;
}

void bb_rpc_server_stop(struct bb_rpc_server *srv, bb_rpc_stopped_cb done)
{
    if (!srv || srv->stopping) return;
    srv->stopped = done;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    struct bb_rpc_call *q = srv->q_head;
    srv->q_head = srv->q_tail = NULL;
    pthread_mutex_unlock(&srv->mu);
    while (q) { /* replies that were queued but not written: drop them */
        struct bb_rpc_call *next = q->next;
        q->conn->inflight--;
        call_free(q);
        q = next;
    }
    for (struct conn *c = srv->conns; c; c = c->next)
        conn_close(c);
    uv_close(&srv->listener.h, on_srv_handle_closed);
    uv_close((uv_handle_t *)&srv->async, on_srv_handle_closed);
    if (srv->is_unix) unlink(srv->path);
}

uint8_t bb_rpc_call_command(const struct bb_rpc_call *call)
{
    return call->cmd;
}

uint64_t bb_rpc_call_id(const struct bb_rpc_call *call)
{
    return call->id;
}

const void *bb_rpc_call_payload(const struct bb_rpc_call *call, size_t *len)
{
    if (len) *len = call->payload_len;
    return call->payload;
}

int bb_rpc_call_reply(struct bb_rpc_call *call, int status, const void *payload, size_t len)
{
    int rc = 0;
    struct bb_rpc_server *srv = call->srv;
    const char *static_reply = NULL;

    if (status != BB_RPC_STATUS_OK && status != BB_RPC_STATUS_ERROR) {
        rc = BB_EINVAL;
        static_reply = err_status;
    } else if (len > srv->max_frame - BB_RPC_HEADER_LEN) {
        rc = BB_ETOOBIG;
        static_reply = err_reply_big;
    } else if (len && !payload) {
        rc = BB_EINVAL;
        static_reply = err_status;
    } else if (len) {
        call->reply = malloc(len);
        if (!call->reply) {
            rc = BB_ENOMEM;
            static_reply = err_nomem;
        } else {
            memcpy(call->reply, payload, len);
            call->reply_len = len;
        }
    }
    if (static_reply) {
        call->reply = (char *)static_reply;
        call->reply_len = strlen(static_reply);
        call->reply_static = 1;
        status = BB_RPC_STATUS_ERROR;
    }
    free(call->payload);
    call->payload = NULL;
    bb_rpc_frame_header(call->hdr, call->id, (uint8_t)status, (uint32_t)call->reply_len);
    call->next = NULL;

    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->mu);
        call_free(call);
        return rc;
    }
    if (srv->q_tail)
        srv->q_tail->next = call;
    else
        srv->q_head = call;
    srv->q_tail = call;
    uv_async_send(&srv->async); /* under mu: stop cannot close the handle meanwhile */
    pthread_mutex_unlock(&srv->mu);
    return rc;
}

/* ---- client ---------------------------------------------------------------------------------- */

struct bb_rpc_client {
    pthread_mutex_t mu;
    struct rpc_addr addr;
    size_t max_frame;
    int connect_timeout_ms;
    int fd; /* -1 when not connected */
    uint64_t next_id;
    struct bb_rpc_decoder dec;
    uint8_t rbuf[READ_BUF_SIZE];
};

static int remaining_ms(int64_t deadline)
{
    int64_t r = deadline - ((int64_t)bb_time_mono_ms());
    return r < 0 ? 0 : (r > INT32_MAX ? INT32_MAX : (int)r);
}

int bb_rpc_client_new(struct bb_rpc_client **out, const char *addr,
                      const struct bb_rpc_client_opts *opts)
{
    int rc = 0;
    struct bb_rpc_client *c = NULL;
    if (!out) return BB_EINVAL;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c) return BB_ENOMEM;
    rc = addr_parse(addr, &c->addr);
    if (rc) goto out;
    c->max_frame = opts && opts->max_frame ? opts->max_frame : BB_RPC_DEFAULT_MAX_FRAME;
    if (c->max_frame < BB_RPC_MIN_FRAME) c->max_frame = BB_RPC_MIN_FRAME;
    if (c->max_frame > UINT32_MAX) c->max_frame = UINT32_MAX;
    c->connect_timeout_ms = opts ? opts->connect_timeout_ms : 0;
    c->fd = -1;
    c->next_id = 1;
    bb_rpc_decoder_init(&c->dec, c->max_frame);
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    c = NULL;
out:
    free(c);
    return rc;
}

static void client_drop(struct bb_rpc_client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    bb_rpc_decoder_release(&c->dec);
    bb_rpc_decoder_init(&c->dec, c->max_frame);
}

void bb_rpc_client_free(struct bb_rpc_client *c)
{
    if (!c) return;
    client_drop(c);
    bb_rpc_decoder_release(&c->dec);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int errno_to_bb(int e)
{
    switch (e) {
    case ECONNREFUSED:
    case ENOENT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EADDRNOTAVAIL:
        return BB_EUNAVAIL;
    case ETIMEDOUT:
        return BB_ETIMEDOUT;
    case EPIPE:
    case ECONNRESET:
        return BB_ECLOSED;
    case ENOMEM:
    case ENOBUFS:
        return BB_ENOMEM;
    default:
        return BB_EIO;
    }
}

/* Non-blocking connect to one address within deadline; returns a connected fd or a BB_E code. */
static int connect_one(int family, const struct sockaddr *sa, socklen_t sl, int64_t deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_to_bb(errno);
    if (connect(fd, sa, sl) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            int rc = errno_to_bb(errno);
            close(fd);
            return rc;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r;
        do {
            r = poll(&p, 1, remaining_ms(deadline));
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            close(fd);
            return BB_ETIMEDOUT;
        }
        int err = 0;
        socklen_t el = sizeof err;
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            int rc = errno_to_bb(r < 0 ? errno : err ? err : EIO);
            close(fd);
            return rc;
        }
    }
    if (family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int client_connect(struct bb_rpc_client *c, int64_t deadline)
{
    if (c->connect_timeout_ms > 0) {
        int64_t cd = ((int64_t)bb_time_mono_ms()) + c->connect_timeout_ms;
        if (cd < deadline) deadline = cd;
    }
    if (c->addr.is_unix) {
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        memcpy(su.sun_path, c->addr.path, sizeof su.sun_path);
        int fd = connect_one(AF_UNIX, (struct sockaddr *)&su, sizeof su, deadline);
        if (fd < 0) return fd;
        c->fd = fd;
        return 0;
    }
    struct addrinfo *ai = NULL;
    int rc = addr_resolve(&c->addr, &ai);
    if (rc) return rc;
    rc = BB_EUNAVAIL;
    for (struct addrinfo *p = ai; p; p = p->ai_next) {
        int fd = connect_one(p->ai_family, p->ai_addr, p->ai_addrlen, deadline);
        if (fd >= 0) {
            c->fd = fd;
            rc = 0;
            break;
        }
        rc = fd;
        if (rc == BB_ETIMEDOUT) break;
    }
    freeaddrinfo(ai);
    return rc;
}

/* True when the idle connection still looks usable: no EOF, no error, no unexpected bytes. */
static bool client_alive(struct bb_rpc_client *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, 0);
    if (r == 0) return true;
    if (r < 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
    uint8_t b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    return false; /* EOF, error, or stray bytes nobody asked for */
}

static int client_send(struct bb_rpc_client *c, const uint8_t *hdr, const void *payload,
                       size_t len, int64_t deadline, size_t *sent_out)
{
    struct iovec iov[2] = {{(void *)hdr, FULL_HDR}, {(void *)payload, len}};
    size_t total = FULL_HDR + len, sent = 0;
    int niov = len ? 2 : 1;
    *sent_out = 0;
    while (sent < total) {
        struct iovec cur[2];
        int nc = 0;
        size_t skip = sent;
        for (int i = 0; i < niov; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            cur[nc].iov_base = (uint8_t *)iov[i].iov_base + skip;
            cur[nc].iov_len = iov[i].iov_len - skip;
            skip = 0;
            nc++;
        }
        struct msghdr mh = {.msg_iov = cur, .msg_iovlen = (size_t)nc};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w >= 0) {
            sent += (size_t)w;
            *sent_out = sent;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_to_bb(errno);
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r == 0) return BB_ETIMEDOUT;
        if (r < 0 && errno != EINTR) return errno_to_bb(errno);
    }
    return 0;
}

static int client_recv(struct bb_rpc_client *c, uint64_t id, int64_t deadline,
                       struct bb_rpc_frame *fr)
{
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r == 0) return BB_ETIMEDOUT;
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_to_bb(errno);
        }
        ssize_t n = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
        if (n == 0) return BB_ECLOSED;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return errno_to_bb(errno);
        }
        size_t used;
        int d = bb_rpc_decoder_feed(&c->dec, c->rbuf, (size_t)n, &used, fr);
        if (d < 0) return d == BB_ENOMEM ? d : BB_EPROTO;
        if (d == 0) continue;
        /* one request in flight: bytes after its response are a protocol violation */
        if (used != (size_t)n || fr->id != id) return BB_EPROTO;
        return 0;
    }
}

int bb_rpc_client_call(struct bb_rpc_client *c, uint8_t command, const void *payload, size_t len,
                       int *status_out, char **reply_out, size_t *reply_len_out, int timeout_ms)
{
    int rc = 0;
    uint8_t hdr[FULL_HDR];
    struct bb_rpc_frame fr;
    char *copy = NULL;

    if (reply_out) *reply_out = NULL;
    if (reply_len_out) *reply_len_out = 0;
    if (!c || !status_out || (len && !payload)) return BB_EINVAL;
    if (len > c->max_frame - BB_RPC_HEADER_LEN) return BB_ETOOBIG;
    if (timeout_ms <= 0) timeout_ms = BB_RPC_DEFAULT_TIMEOUT_MS;
    int64_t deadline = ((int64_t)bb_time_mono_ms()) + timeout_ms;

    pthread_mutex_lock(&c->mu);
    for (int attempt = 0;; attempt++) {
        bool fresh = false;
        if (c->fd >= 0 && !client_alive(c)) client_drop(c);
        if (c->fd < 0) {
            rc = client_connect(c, deadline);
            if (rc) goto out;
            fresh = true;
        }
        uint64_t id = c->next_id++;
        bb_rpc_frame_header(hdr, id, command, (uint32_t)len);
        size_t sent = 0;
        rc = client_send(c, hdr, payload, len, deadline, &sent);
        if (rc) {
            client_drop(c);
            /* nothing reached the peer on a reused connection: it was dead, try a fresh one */
            if (!fresh && sent == 0 && attempt == 0 && rc != BB_ETIMEDOUT) continue;
            goto out;
        }
        rc = client_recv(c, id, deadline, &fr);
        if (rc) {
            client_drop(c);
            goto out;
        }
        break;
    }
    if (reply_out) {
        copy = malloc(fr.payload_len + 1);
        if (!copy) {
            rc = BB_ENOMEM;
            goto out;
        }
        memcpy(copy, fr.payload, fr.payload_len);
        copy[fr.payload_len] = '\0';
        *reply_out = copy;
        copy = NULL;
    }
    if (reply_len_out) *reply_len_out = fr.payload_len;
    *status_out = fr.code;
out:
    pthread_mutex_unlock(&c->mu);
    free(copy);
    return rc;
}
