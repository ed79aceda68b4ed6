/* bmgr_relay.c — the public RESP endpoint of bunder-manager.
 *
 * A client connection goes through these states:
 *
 *   PRE      bytes are buffered (at most BMGR_PREAUTH_MAX) and parsed as RESP commands; only
 *            PING, QUIT, AUTH <projectId> <key> and HELLO <2|3> [AUTH <projectId> <key>]
 *            [SETNAME <name>] are answered, anything else gets -NOAUTH. Closed after
 *            BMGR_PREAUTH_TIMEOUT_MS or BMGR_PREAUTH_MAX_FAILS wrong keys.
 *   ACQUIRE  the key was accepted; the project's child is being acquired (maybe spawned); client
 *            reading is paused. Never freed in this state (the waiter lives in the connection).
 *            When the child was acquired and has a handoff channel, the client's socket is sent to
 *            it with the connection state (try_handoff, frame in src/bunder/handoff.c) and the
 *            connection is closed here — only our copy of the descriptor; the child now serves
 *            the client directly. Otherwise (no channel, channel full, …) the relay below:
 *   CONNECT  TCP connect to the child on 127.0.0.1:<port>.
 *   UPAUTH   "AUTH <internal secret>" sent to the child; waiting for its +OK, which is swallowed.
 *   RELAY    +OK goes to the client (for AUTH; for HELLO the child's own HELLO answer does), any
 *            bytes the client pipelined after its AUTH go to the child, then bytes are copied
 *            both ways untouched.
 *
 * Relay and backpressure: all reads land in one 64 KiB buffer of the manager (single loop
 * thread) and are written on with uv_try_write. Whatever the destination does not take at once is
 * copied into one pending write and the source stops reading until that write completes, so a
 * connection never buffers more than one read (64 KiB) per direction, whatever the peer's speed.
 *
 * While relaying the connection holds a reference on the child (bmgr_lease), so the child is never
 * evicted under an open connection. A child that dies closes its relayed connections (EOF).
 */
#include "bmgr_internal.h"
#include "bb_time.h"
#include "bb_resp.h"
#include "bb_id.h"
#include "../bunder/bunder_tenant.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOD "bunder-manager"

enum rstate { RS_PRE, RS_ACQUIRE, RS_CONNECT, RS_UPAUTH, RS_RELAY, RS_CLOSING };

struct pend {
    uv_write_t wr;
    char *data;
    int busy;
    uv_stream_t *src; /* stopped while busy */
    struct bmgr_rconn *rc;
};

struct bmgr_rconn {
    struct bmgr *m;
    struct bmgr_rconn *prev, *next;
    uv_tcp_t cli, up;
    enum rstate state;
    int handles;
    int up_inited;
    int close_pending;
    int close_after_flush;
    int relaying;
    uint64_t created_ms;
    char *in; /* pre-AUTH buffer, BMGR_PREAUTH_MAX bytes */
    size_t in_len;
    unsigned auth_fails;
    struct bmgr_waiter w;
    struct bmgr_lease lease;
    int has_lease;
    char *hello; /* HELLO command forwarded to the child after AUTH, or NULL */
    size_t hello_len;
    int hello_resp; /* with hello: its protocol version (2|3), for a handoff */
    char *hello_name; /* with hello: its SETNAME value (malloc'd) or NULL */
    size_t hello_name_len;
    int reply_ok;
    uv_connect_t creq;
    uv_write_t authwr;
    char authbuf[192];
    char upbuf[64];
    size_t uplen;
    struct pend to_cli, to_up;
};

struct wreq {
    uv_write_t wr;
    struct bmgr_rconn *rc;
    int close_after;
    size_t len;
    char data[];
};

static void rconn_close(struct bmgr_rconn *rc);
static void process_pre(struct bmgr_rconn *rc);

/* ------------------------------------------------------------------ small writes */

static void on_wreq_done(uv_write_t *wr, int status)
{
    struct wreq *q = (struct wreq *)wr;
    struct bmgr_rconn *rc = q->rc;
    int close_after = q->close_after;
    free(q);
    if (status < 0 || close_after) rconn_close(rc);
}

static void reply(struct bmgr_rconn *rc, const char *s, size_t n, int close_after)
{
    if (rc->state == RS_CLOSING) return;
    struct wreq *q = malloc(sizeof *q + n);
    if (!q) {
        rconn_close(rc);
        return;
    }
    q->rc = rc;
    q->close_after = close_after;
    q->len = n;
    memcpy(q->data, s, n);
    uv_buf_t b = uv_buf_init(q->data, (unsigned)n);
    if (uv_write(&q->wr, (uv_stream_t *)&rc->cli, &b, 1, on_wreq_done) != 0) {
        free(q);
        rconn_close(rc);
    }
}

static void replys(struct bmgr_rconn *rc, const char *s)
{
    reply(rc, s, strlen(s), 0);
}

/* ------------------------------------------------------------------ close */

static void on_closed(uv_handle_t *h)
{
    struct bmgr_rconn *rc = h->data;
    if (--rc->handles > 0) return;
    struct bmgr *m = rc->m;
    if (rc->has_lease) bmgr_release(m, &rc->lease);
    if (rc->relaying) bb_gauge_dec(m->met.relay_conns);
    if (rc->prev) rc->prev->next = rc->next;
    else m->rconns = rc->next;
    if (rc->next) rc->next->prev = rc->prev;
    m->nrconns--;
    free(rc->in);
    free(rc->hello);
    free(rc->hello_name);
    free(rc->to_cli.data);
    free(rc->to_up.data);
    free(rc);
    bmgr_unref(m);
}

static void rconn_close(struct bmgr_rconn *rc)
{
    if (rc->state == RS_ACQUIRE) { /* the waiter is queued: finish when it completes */
        rc->close_pending = 1;
        return;
    }
    if (rc->state == RS_CLOSING) return;
    rc->state = RS_CLOSING;
    uv_close((uv_handle_t *)&rc->cli, on_closed);
    if (rc->up_inited) uv_close((uv_handle_t *)&rc->up, on_closed);
}

/* ------------------------------------------------------------------ relay */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct bmgr_rconn *rc = h->data;
    if (rc->state == RS_PRE && h == (uv_handle_t *)&rc->cli) {
        /* before AUTH: straight into the free tail of the pre-AUTH buffer, never more. What the
         * client pipelined beyond it stays in the socket and is read after AUTH by whoever
         * serves the connection then (the child after a handoff, or the relay). A full buffer
         * (len 0: libuv reports UV_ENOBUFS) means one command over BMGR_PREAUTH_MAX. */
        *buf = uv_buf_init(rc->in + rc->in_len, (unsigned)(BMGR_PREAUTH_MAX - rc->in_len));
        return;
    }
    *buf = uv_buf_init(rc->m->relay_buf, sizeof rc->m->relay_buf);
}

static void on_cli_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_pend_written(uv_write_t *wr, int status)
{
    struct pend *p = (struct pend *)wr;
    struct bmgr_rconn *rc = p->rc;
    free(p->data);
    p->data = NULL;
    p->busy = 0;
    if (rc->state == RS_CLOSING) return;
    if (status < 0 || rc->close_after_flush) {
        rconn_close(rc);
        return;
    }
    uv_read_start(p->src, on_alloc,
                  p->src == (uv_stream_t *)&rc->cli ? on_cli_read : on_up_read);
}

/* Sends data (borrowed, n bytes) from src to dst; on a partial write keeps a copy and pauses src. */
static void forward(struct bmgr_rconn *rc, uv_stream_t *src, uv_stream_t *dst, struct pend *p,
                    const char *data, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
    int w = p->busy ? UV_EAGAIN : uv_try_write(dst, &b, 1);
    if (w == (int)n) return;
    if (w < 0 && w != UV_EAGAIN) {
        rconn_close(rc);
        return;
    }
    if (w < 0) w = 0;
    if (p->busy) { /* cannot happen: src is paused while p is busy */
        rconn_close(rc);
        return;
    }
    p->data = malloc(n - (size_t)w);
    if (!p->data) {
        rconn_close(rc);
        return;
    }
    memcpy(p->data, data + w, n - (size_t)w);
    p->busy = 1;
    p->src = src;
    p->rc = rc;
    uv_read_stop(src);
    b = uv_buf_init(p->data, (unsigned)(n - (size_t)w));
    if (uv_write(&p->wr, dst, &b, 1, on_pend_written) != 0) {
        free(p->data);
        p->data = NULL;
        p->busy = 0;
        rconn_close(rc);
    }
}

static void on_eof(struct bmgr_rconn *rc)
{
    if (rc->to_cli.busy || rc->to_up.busy) {
        rc->close_after_flush = 1;
        uv_read_stop((uv_stream_t *)&rc->cli);
        if (rc->up_inited) uv_read_stop((uv_stream_t *)&rc->up);
        return;
    }
    rconn_close(rc);
}

static void on_cli_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bmgr_rconn *rc = s->data;
    if (n == 0) return;
    if (n == UV_ENOBUFS && rc->state == RS_PRE) {
        reply(rc, "-ERR Protocol error: too much data before AUTH\r\n", 48, 1);
        uv_read_stop(s);
        rc->in_len = 0;
        return;
    }
    if (n < 0) {
        on_eof(rc);
        return;
    }
    if (rc->state == RS_RELAY) {
        bb_counter_add(rc->m->met.relay_bytes_in, (double)n);
        forward(rc, s, (uv_stream_t *)&rc->up, &rc->to_up, buf->base, (size_t)n);
        return;
    }
    if (rc->state != RS_PRE) return;
    if (buf->base != rc->in + rc->in_len || rc->in_len + (size_t)n > BMGR_PREAUTH_MAX) {
        rconn_close(rc); /* cannot happen: on_alloc gave the pre-AUTH buffer's tail */
        return;
    }
    rc->in_len += (size_t)n;
    process_pre(rc);
}

static void begin_relay(struct bmgr_rconn *rc, const char *extra, size_t extra_len)
{
    struct bmgr *m = rc->m;
    rc->state = RS_RELAY;
    rc->relaying = 1;
    bb_counter_inc(m->met.relay_conns_total);
    bb_gauge_inc(m->met.relay_conns);
    if (rc->reply_ok) reply(rc, "+OK\r\n", 5, 0);
    if (extra_len) forward(rc, (uv_stream_t *)&rc->up, (uv_stream_t *)&rc->cli, &rc->to_cli, extra,
                           extra_len);
    if (rc->state != RS_RELAY) return;
    /* the HELLO to forward and whatever the client pipelined after AUTH go first, in order */
    size_t n = rc->hello_len + rc->in_len;
    if (n > 0) {
        char *buf = malloc(n);
        if (!buf) {
            rconn_close(rc);
            return;
        }
        if (rc->hello_len) memcpy(buf, rc->hello, rc->hello_len);
        if (rc->in_len) memcpy(buf + rc->hello_len, rc->in, rc->in_len);
        bb_counter_add(m->met.relay_bytes_in, (double)rc->in_len);
        rc->in_len = 0;
        forward(rc, (uv_stream_t *)&rc->cli, (uv_stream_t *)&rc->up, &rc->to_up, buf, n);
        free(buf);
        if (rc->state != RS_RELAY) return;
    }
    if (!rc->to_up.busy) uv_read_start((uv_stream_t *)&rc->cli, on_alloc, on_cli_read);
    /* else on_pend_written restarts it */
}

static void up_failed(struct bmgr_rconn *rc, const char *why)
{
    bb_warn(MOD, "relay_upstream_failed project=%s reason=\"%s\"", rc->w.project, why);
    reply(rc, "-ERR bunder-manager: project store unavailable, retry\r\n", 55, 1);
}

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct bmgr_rconn *rc = s->data;
    if (n == 0) return;
    if (rc->state == RS_RELAY) {
        if (n < 0) {
            on_eof(rc);
            return;
        }
        bb_counter_add(rc->m->met.relay_bytes_out, (double)n);
        forward(rc, s, (uv_stream_t *)&rc->cli, &rc->to_cli, buf->base, (size_t)n);
        return;
    }
    if (rc->state != RS_UPAUTH) return;
    if (n < 0) {
        up_failed(rc, "closed during AUTH");
        return;
    }
    size_t take = (size_t)n;
    if (take > sizeof rc->upbuf - 1 - rc->uplen) take = sizeof rc->upbuf - 1 - rc->uplen;
    memcpy(rc->upbuf + rc->uplen, buf->base, take);
    rc->uplen += take;
    rc->upbuf[rc->uplen] = '\0';
    char *crlf = strstr(rc->upbuf, "\r\n");
    if (!crlf) {
        if (rc->uplen >= sizeof rc->upbuf - 1) up_failed(rc, "bad AUTH answer");
        return;
    }
    if (strncmp(rc->upbuf, "+OK\r\n", 5) != 0) {
        up_failed(rc, "AUTH refused by the child");
        return;
    }
    /* bytes after +OK (none expected) are relayed as they are */
    size_t used = 5 - (rc->uplen - take);
    begin_relay(rc, buf->base + used, (size_t)n - used);
}

static void on_up_connect(uv_connect_t *req, int status)
{
    struct bmgr_rconn *rc = req->data;
    if (rc->state != RS_CONNECT) return;
    if (status < 0) {
        up_failed(rc, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&rc->up, 1);
    /* as the tenant user: the child applies the tenant policy (bunder_tenant.h) to this
     * connection, as it does to handed-off ones */
    int n = snprintf(rc->authbuf, sizeof rc->authbuf,
                     "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                     strlen(BUNDER_TENANT_USER), BUNDER_TENANT_USER, strlen(rc->lease.secret),
                     rc->lease.secret);
    uv_buf_t b = uv_buf_init(rc->authbuf, (unsigned)n);
    rc->state = RS_UPAUTH;
    rc->uplen = 0;
    if (uv_write(&rc->authwr, (uv_stream_t *)&rc->up, &b, 1, NULL) != 0 ||
        uv_read_start((uv_stream_t *)&rc->up, on_alloc, on_up_read) != 0)
        up_failed(rc, "write");
}

static const char *acquire_error(int rc)
{
    switch (rc) {
    case BB_EBUSY:
        return "-ERR bunder-manager: no capacity for this project now (max children or port pool "
               "exhausted), retry later\r\n";
    case BB_ETIMEDOUT: return "-ERR bunder-manager: project store did not start in time\r\n";
    case BB_ECLOSED: return "-ERR bunder-manager: shutting down\r\n";
    default: return "-ERR bunder-manager: project store unavailable\r\n";
    }
}

static void hello_clear(struct bmgr_rconn *rc)
{
    free(rc->hello);
    rc->hello = NULL;
    rc->hello_len = 0;
    free(rc->hello_name);
    rc->hello_name = NULL;
    rc->hello_name_len = 0;
}

/* Hands the client's socket to the leased child (src/bunder/handoff.c). 0: the child owns the
 * connection now and rc is closing (our copy of the fd with it); otherwise nothing was sent and
 * the caller relays. */
static int try_handoff(struct bmgr_rconn *rc)
{
    struct bmgr *m = rc->m;
    uv_os_fd_t fd;
    if (!m->cfg.handoff) return BB_EUNAVAIL;
    /* an earlier pre-AUTH reply still queued in user space would arrive after the child's */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&rc->cli) > 0 ||
        uv_fileno((uv_handle_t *)&rc->cli, &fd) != 0) {
        bb_counter_inc(m->met.handoff_fallbacks);
        return BB_EBUSY;
    }
    unsigned flags = rc->hello ? BMGR_HO_HELLO : BMGR_HO_REPLY_OK;
    int resp = rc->hello ? rc->hello_resp : 2;
    int r = bmgr_handoff_send(m, &rc->lease, fd, flags, resp, rc->hello_name, rc->hello_name_len,
                              rc->in, rc->in_len);
    if (r != 0) {
        if (r != BB_EUNAVAIL || rc->lease.slot) bb_counter_inc(m->met.handoff_fallbacks);
        return r;
    }
    bb_counter_inc(m->met.handoffs);
    rc->in_len = 0;
    bmgr_release(m, &rc->lease);
    rc->has_lease = 0;
    rc->state = RS_PRE; /* not ACQUIRE any more: rconn_close closes at once */
    rconn_close(rc);
    return 0;
}

static void on_acquired(struct bmgr_waiter *w, int status)
{
    struct bmgr_rconn *rc = w->arg;
    if (status == 0) {
        rc->lease = w->lease;
        rc->has_lease = 1;
    }
    if (rc->close_pending) {
        rc->state = RS_PRE;
        rconn_close(rc);
        return;
    }
    if (status != 0) {
        rc->state = RS_PRE;
        hello_clear(rc);
        replys(rc, acquire_error(status));
        uv_read_start((uv_stream_t *)&rc->cli, on_alloc, on_cli_read);
        process_pre(rc);
        return;
    }
    if (try_handoff(rc) == 0) return;
    rc->state = RS_CONNECT;
    if (uv_tcp_init(rc->m->loop, &rc->up) != 0) {
        up_failed(rc, "tcp init");
        return;
    }
    rc->up.data = rc;
    rc->up_inited = 1;
    rc->handles++;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", rc->lease.port, &sa);
    rc->creq.data = rc;
    if (uv_tcp_connect(&rc->creq, &rc->up, (struct sockaddr *)&sa, on_up_connect) != 0)
        up_failed(rc, "connect");
}

/* ------------------------------------------------------------------ pre-AUTH commands */

static int arg_is(const char *a, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(a, word, n) == 0;
}

/* Verifies project/key and starts the acquire. The command's bytes are already consumed. */
static void start_auth(struct bmgr_rconn *rc, const char *proj, size_t plen, const char *key,
                       size_t klen)
{
    struct bmgr *m = rc->m;
    char project[BMGR_MAX_PROJECT + 1];
    int ok = bb_project_id_valid(proj, plen);
    if (ok) {
        memcpy(project, proj, plen);
        project[plen] = '\0';
        ok = m->verifier.verify(m->verifier.ctx, project, key, klen) == 0;
    }
    if (!ok) {
        hello_clear(rc);
        rc->auth_fails++;
        bb_counter_inc(m->met.auth_failures);
        int last = rc->auth_fails >= BMGR_PREAUTH_MAX_FAILS;
        reply(rc, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", 64, last);
        if (last) { /* closed once that reply is out: nothing pipelined behind it is looked at */
            bb_warn(MOD, "auth_failures_limit peer_fails=%u", rc->auth_fails);
            rc->in_len = 0;
            uv_read_stop((uv_stream_t *)&rc->cli);
        }
        return;
    }
    memset(&rc->w, 0, sizeof rc->w);
    memcpy(rc->w.project, project, plen + 1);
    rc->w.cb = on_acquired;
    rc->w.arg = rc;
    rc->state = RS_ACQUIRE;
    uv_read_stop((uv_stream_t *)&rc->cli);
    bmgr_acquire(m, &rc->w);
}

static void process_pre_with(struct bmgr_rconn *rc, struct bb_resp_parser *parser);

/* Pre-AUTH commands through core's RESP parser; its memory lives for this call. */
static void process_pre(struct bmgr_rconn *rc)
{
    struct bb_resp_parser parser;
    bb_resp_parser_init(&parser, NULL, NULL);
    process_pre_with(rc, &parser);
    bb_resp_parser_release(&parser);
}

static void process_pre_with(struct bmgr_rconn *rc, struct bb_resp_parser *parser)
{
    const char *argv[BMGR_PREAUTH_ARGS];
    size_t lens[BMGR_PREAUTH_ARGS];
    while (rc->state == RS_PRE && rc->in_len > 0) {
        size_t argc, consumed;
        const char *perr = NULL;
        int r = bmgr_resp_parse(parser, rc->in, rc->in_len, &consumed, argv, lens, &argc, &perr);
        if (r == 0) return;
        if (r < 0) {
            char msg[128];
            if (r == BB_ETOOBIG)
                snprintf(msg, sizeof msg, "-ERR Protocol error: command too large before AUTH\r\n");
            else
                snprintf(msg, sizeof msg, "-%s\r\n", perr ? perr : "ERR Protocol error: invalid request");
            reply(rc, msg, strlen(msg), 1);
            uv_read_stop((uv_stream_t *)&rc->cli);
            rc->in_len = 0;
            return;
        }
        /* copy what AUTH/HELLO need before the bytes are consumed */
        char a1[BMGR_MAX_PROJECT + 1], key[1024];
        size_t a1n = 0, keyn = 0;
        int auth = 0, bad_auth_len = 0;
        char *hello = NULL;
        size_t hello_len = 0;
        const char *hname = NULL;
        size_t hname_len = 0;
        char *hname_copy = NULL; /* argv points into rc->in, which moves below */
        int hresp = 2;
        const char *err = NULL;
        char errbuf[160];
        if (argc == 0) {
            /* empty: nothing */
        } else if (arg_is(argv[0], lens[0], "PING")) {
            if (argc == 1) {
                err = "+PONG\r\n";
            } else if (argc == 2) {
                char *b = bb_resp_command(1, &argv[1], &lens[1], &hello_len); /* "*1\r\n$n\r\n..." */
                if (b) reply(rc, b + 4, hello_len - 4, 0);
                free(b);
                hello_len = 0;
            } else {
                err = "-ERR wrong number of arguments for 'ping' command\r\n";
            }
        } else if (arg_is(argv[0], lens[0], "QUIT")) {
            rc->in_len = 0;
            reply(rc, "+OK\r\n", 5, 1);
            uv_read_stop((uv_stream_t *)&rc->cli);
            return;
        } else if (arg_is(argv[0], lens[0], "AUTH")) {
            if (argc == 3) {
                auth = 1;
                rc->reply_ok = 1;
                if (lens[1] > BMGR_MAX_PROJECT || lens[2] >= sizeof key) bad_auth_len = 1;
                else {
                    memcpy(a1, argv[1], lens[1]), a1n = lens[1];
                    memcpy(key, argv[2], lens[2]), keyn = lens[2];
                }
            } else if (argc == 2) {
                err = "-ERR bunder-manager needs AUTH <projectId> <key>\r\n";
            } else {
                err = "-ERR wrong number of arguments for 'auth' command\r\n";
            }
        } else if (arg_is(argv[0], lens[0], "HELLO")) {
            if (argc == 1) {
                err = "-NOAUTH HELLO must be called with the client already authenticated, "
                      "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                      "authenticate the client and select the RESP protocol version at the same "
                      "time\r\n";
            } else if (!arg_is(argv[1], lens[1], "2") && !arg_is(argv[1], lens[1], "3")) {
                err = "-NOPROTO unsupported protocol version\r\n";
            } else {
                const char *fwd[4] = {argv[0], argv[1]};
                size_t fl[4] = {lens[0], lens[1]};
                size_t nf = 2;
                for (size_t i = 2; i < argc && !err;) {
                    if (arg_is(argv[i], lens[i], "AUTH") && i + 2 < argc) {
                        if (lens[i + 1] > BMGR_MAX_PROJECT || lens[i + 2] >= sizeof key)
                            bad_auth_len = 1;
                        else {
                            memcpy(a1, argv[i + 1], lens[i + 1]), a1n = lens[i + 1];
                            memcpy(key, argv[i + 2], lens[i + 2]), keyn = lens[i + 2];
                        }
                        auth = 1;
                        i += 3;
                    } else if (arg_is(argv[i], lens[i], "SETNAME") && i + 1 < argc) {
                        fwd[nf] = argv[i], fl[nf++] = lens[i];
                        fwd[nf] = argv[i + 1], fl[nf++] = lens[i + 1];
                        hname = argv[i + 1], hname_len = lens[i + 1];
                        i += 2;
                    } else {
                        snprintf(errbuf, sizeof errbuf,
                                 "-ERR Syntax error in HELLO option '%.*s'\r\n",
                                 (int)(lens[i] > 64 ? 64 : lens[i]), argv[i]);
                        err = errbuf;
                    }
                }
                if (!err && !auth)
                    err = "-NOAUTH HELLO must be called with the client already authenticated, "
                          "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                          "authenticate the client and select the RESP protocol version at the "
                          "same time\r\n";
                if (!err) {
                    hello = bb_resp_command(nf, fwd, fl, &hello_len);
                    hresp = arg_is(argv[1], lens[1], "3") ? 3 : 2;
                    if (hname_len && (hname_copy = malloc(hname_len)) != NULL)
                        memcpy(hname_copy, hname, hname_len);
                    if (!hello || (hname_len && !hname_copy)) err = "-ERR out of memory\r\n";
                    rc->reply_ok = 0;
                }
            }
        } else {
            err = "-NOAUTH Authentication required.\r\n";
        }
        memmove(rc->in, rc->in + consumed, rc->in_len - consumed);
        rc->in_len -= consumed;
        if (err) {
            free(hello);
            free(hname_copy);
            replys(rc, err);
            continue;
        }
        if (auth) {
            hello_clear(rc);
            rc->hello = hello;
            rc->hello_len = hello_len;
            rc->hello_resp = hresp;
            rc->hello_name = hname_copy; /* NULL unless HELLO … SETNAME */
            rc->hello_name_len = hname_copy ? hname_len : 0;
            if (bad_auth_len) start_auth(rc, "", 0, "", 0);
            else start_auth(rc, a1, a1n, key, keyn);
            explicit_bzero(key, sizeof key);
        }
    }
}

/* ------------------------------------------------------------------ listener */

static void on_reject_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct bmgr *m = server->data;
    if (status < 0) return;
    if (m->nrconns >= m->cfg.max_connections) {
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t) return;
        uv_tcp_init(m->loop, t);
        uv_accept(server, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, on_reject_closed);
        bb_counter_inc(m->met.rejections);
        return;
    }
    struct bmgr_rconn *rc = calloc(1, sizeof *rc);
    if (!rc) return;
    rc->in = malloc(BMGR_PREAUTH_MAX);
    if (!rc->in || uv_tcp_init(m->loop, &rc->cli) != 0) {
        free(rc->in);
        free(rc);
        return;
    }
    rc->m = m;
    rc->cli.data = rc;
    rc->handles = 1;
    rc->created_ms = bb_time_mono_ms();
    rc->state = RS_PRE;
    rc->next = m->rconns;
    if (m->rconns) m->rconns->prev = rc;
    m->rconns = rc;
    m->nrconns++;
    bmgr_ref(m);
    if (uv_accept(server, (uv_stream_t *)&rc->cli) != 0) {
        rconn_close(rc);
        return;
    }
    uv_tcp_nodelay(&rc->cli, 1);
    uv_read_start((uv_stream_t *)&rc->cli, on_alloc, on_cli_read);
}

int bmgr_relay_start(struct bmgr *m, char *err, size_t errcap)
{
    char host[256];
    int port, rc;
    if (bb_config_split_addr(m->resp_addr, host, sizeof host, &port) != 0) {
        snprintf(err, errcap, "BUNBASE_BUNDER_MANAGER_RESP_ADDR: expected HOST:PORT, got \"%s\"",
                 m->resp_addr);
        return BB_EINVAL;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errcap, "BUNBASE_BUNDER_MANAGER_RESP_ADDR: bad host \"%s\"", host);
        return BB_EINVAL;
    }
    uv_tcp_init(m->loop, &m->resp);
    m->resp.data = m;
    bmgr_ref(m); /* released when the listener is closed */
    m->resp_on = 1;
    rc = uv_tcp_bind(&m->resp, (struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&m->resp, 511, on_connection);
    if (rc != 0) {
        snprintf(err, errcap, "RESP endpoint %s: %s", m->resp_addr, uv_strerror(rc));
        bmgr_relay_stop(m);
        return rc == UV_EADDRINUSE ? BB_EBUSY : BB_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&m->resp, (struct sockaddr *)&bound, &len);
    m->resp_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    bmgr_unref(h->data);
}

void bmgr_relay_stop(struct bmgr *m)
{
    if (m->resp_on) {
        m->resp_on = 0;
        uv_close((uv_handle_t *)&m->resp, on_listener_closed);
    }
    for (struct bmgr_rconn *rc = m->rconns, *next; rc; rc = next) {
        next = rc->next;
        rconn_close(rc);
    }
}

void bmgr_relay_sweep(struct bmgr *m, uint64_t now)
{
    for (struct bmgr_rconn *rc = m->rconns, *next; rc; rc = next) {
        next = rc->next;
        if (rc->state == RS_PRE && now - rc->created_ms >= BMGR_PREAUTH_TIMEOUT_MS) {
            reply(rc, "-ERR authentication timeout\r\n", 29, 1);
            uv_read_stop((uv_stream_t *)&rc->cli);
            rc->created_ms = now; /* do not reply twice */
        }
    }
}
