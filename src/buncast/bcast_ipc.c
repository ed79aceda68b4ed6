/* bcast_ipc.c — IPC server: unix socket + TCP, frames of bcast_proto.h, commands from a table.
 *
 * Per connection: an incremental bb_rpc_decoder (one frame buffered at most, max_frame bound);
 * requests are handled inline on the loop, in arrival order. Everything the server sends (replies,
 * MESSAGE and RESET frames) is appended to the connection's output buffer, so the bytes leave in
 * the order they were produced: the OK of a Subscribe is appended before the subscription exists
 * in the broker, hence before any of its messages. Output buffers are flushed once per loop
 * iteration (uv_check + uv_prepare), so a burst of events to one subscriber costs one write(2).
 * A MESSAGE of an event fanned out to many subscribers is not copied: the buffer gets its 17-byte
 * header and the connection a reference to the event at that offset (struct oev); the write is a
 * writev of buffer pieces and the event's preformatted payload, shared by every subscriber, and
 * the reference is dropped once written. With few subscribers the payload is copied (cheaper).
 *
 * Bounds: unsent bytes (buffered + in flight) over queue_bytes when a message is to be queued →
 * the subscriber is cut off: an ERROR frame with its subscription id explains why, reading stops,
 * and the connection is closed once that frame is written or after slow_close_ms, whichever comes
 * first. The broker counts it (disconnected-slow, dropped). A connection whose unsent replies pass
 * queue_bytes / 2 (a publisher not reading its acks) is not read from until they drain.
 * SIGPIPE is set to SIG_IGN at start if it still has its default disposition.
 * Malformed frames get one ERROR frame (id 0) and the connection is closed; malformed payloads get
 * an ERROR reply with the request id and the connection is closed; unknown commands get an ERROR
 * reply and the connection carries on.
 *
 * Authentication: a new connection accepts frames of at most PREAUTH_MAX_FRAME bytes and only
 * AUTH; the token is compared in constant time (bb_ct_equal) with the internal token. A wrong token
 * or any other command first gets one ERROR frame and the connection is closed (nothing of the
 * broker is reachable before); the right one gets OK and the frame limit becomes max_frame. A
 * connection still unauthenticated after auth_timeout_ms is closed by the tick. Refusals are
 * logged (ipc_auth_refused). CreateTopic that makes a new topic is counted per connection and
 * refused beyond max_created (the broker expires such topics when idle).
 */
#include "bcast_ipc.h"
#include "bcast_broker.h"
#include "bcast_proto.h"

#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_rpc.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR (BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN)
#define READ_BUF 65536u
#define TICK_MS 100u
/* An event fanned out to at least REF_MIN_FANOUT subscriptions is referenced by each connection
 * instead of copied (its payload is written from the event by writev); at most REF_MAX_PER_WRITE
 * references per write (3 iovecs each, under IOV_MAX), later ones are copied. */
#define REF_MIN_FANOUT 8u
#define REF_MAX_PER_WRITE 320u
#define PREAUTH_MAX_FRAME (64u + BCAST_MAX_TOKEN) /* frame_len bound until Auth succeeded */

struct ipc_conn {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    struct bcast_ipc *srv;
    struct ipc_conn *prev, *next;
    struct ipc_conn *dnext;
    int dirty, writing, closing, reading, paused, slow, close_after_write;
    int wdead; /* a write failed: output is dropped, input is still read until EOF */
    int authed;
    uint64_t kill_at;
    uint64_t auth_deadline; /* loop ms; 0 once authenticated */
    size_t created;         /* topics this connection made with CreateTopic */
    struct bb_rpc_decoder dec;
    char *out, *wbuf;
    size_t olen, ocap, wlen, wcap;
    /* events whose payload goes after byte `pos` of out (oevs) / of wbuf (wevs, being written),
     * in order; each holds a reference. oevb/wevb: their payload bytes. */
    struct oev {
        size_t pos;
        struct bcast_event *ev;
    } *oevs, *wevs;
    size_t noev, coev, nwev, cwev, oevb, wevb;
    uv_buf_t *iov;
    size_t ciov;
    uv_write_t wreq;
    struct bcast_sub **subs;
    size_t nsubs, scap;
    /* pipelined publishes accepted since the last ACK frame (sent after each read) */
    uint32_t ack_n;
    uint64_t ack_req;
    char ack_evid[BCAST_ID_LEN + 1];
};

struct bcast_ipc {
    uv_loop_t *loop;
    struct bcast_broker *b;
    struct bcast_ipc_opts o;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
    int have_pipe, have_tcp;
    uv_check_t check;
    uv_prepare_t prepare;
    uv_timer_t timer;
    struct ipc_conn *conns;
    size_t nconns;
    struct ipc_conn *dirty, **dirty_tail; /* FIFO: flushed in the order they got output */
    int handles; /* open server-level handles + connections */
    int stopping;
    void (*done)(void *);
    void *done_arg;
    char unix_path[1024];
    uint64_t refused_log_at; /* loop ms of the last ipc_auth_refused line */
    uint64_t refused_quiet;  /* refusals not logged since (at most one line a second) */
    struct bb_counter *m_refused;
    char readbuf[READ_BUF];
    int readbuf_busy;
};

/* ------------------------------------------------------------------ output */

static void conn_close(struct ipc_conn *c);
static void conn_resume(struct ipc_conn *c);
static void flush(struct ipc_conn *c);

static int out_reserve(struct ipc_conn *c, size_t n)
{
    if (c->olen + n <= c->ocap) return 0;
    size_t nc = c->ocap ? c->ocap : 4096;
    while (nc < c->olen + n)
        nc *= 2;
    char *p = realloc(c->out, nc);
    if (!p) return BB_ENOMEM;
    c->out = p, c->ocap = nc;
    return 0;
}

static void drop_evs(struct oev *v, size_t *n, size_t *bytes)
{
    for (size_t i = 0; i < *n; i++)
        bcast_event_unref(v[i].ev);
    *n = 0;
    *bytes = 0;
}

/* Drops whatever is queued and not yet being written. */
static void drop_out(struct ipc_conn *c)
{
    c->olen = 0;
    drop_evs(c->oevs, &c->noev, &c->oevb);
}

static void mark_dirty(struct ipc_conn *c)
{
    if (c->dirty || c->closing) return;
    c->dirty = 1;
    c->dnext = NULL;
    *c->srv->dirty_tail = c;
    c->srv->dirty_tail = &c->dnext;
}

/* Appends one frame: header + payload pieces. */
static int append_frame(struct ipc_conn *c, uint64_t id, uint8_t code, const void *payload,
                        size_t len)
{
    if (c->closing) return BB_ECLOSED;
    if (out_reserve(c, HDR + len) != 0) return BB_ENOMEM;
    bb_rpc_frame_header((uint8_t *)c->out + c->olen, id, code, (uint32_t)len);
    if (len) memcpy(c->out + c->olen + HDR, payload, len);
    c->olen += HDR + len;
    mark_dirty(c);
    return 0;
}

static void reply_ok(struct ipc_conn *c, uint64_t id, const char *json)
{
    append_frame(c, id, BCAST_ST_OK, json, strlen(json));
}

static void reply_err(struct ipc_conn *c, uint64_t id, const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    size_t n = 0;
    char *s = j ? bb_json_dumps(j, &n) : NULL;
    json_decref(j);
    if (s) append_frame(c, id, BCAST_ST_ERROR, s, n);
    free(s);
}

static void on_written(uv_write_t *w, int status)
{
    struct ipc_conn *c = w->data;
    c->writing = 0;
    c->wlen = 0;
    drop_evs(c->wevs, &c->nwev, &c->wevb);
    if (c->closing) return;
    if (status < 0) {
        /* the peer stopped reading (closed or half-closed): requests it sent before are still
         * handled — a publisher that writes and closes must not lose its last publishes — but
         * nothing more is written; EOF on the read side closes the connection */
        c->wdead = 1;
        drop_out(c);
        if (c->slow || c->close_after_write || !c->reading) conn_close(c);
        else if (c->paused) {
            c->paused = 0;
            conn_resume(c);
        }
        return;
    }
    if (c->olen) {
        flush(c);
        return;
    }
    if (c->close_after_write || c->slow) {
        conn_close(c);
        return;
    }
    if (c->paused && !c->reading) {
        c->paused = 0;
        conn_resume(c);
    }
}

static void flush(struct ipc_conn *c)
{
    if (c->wdead) drop_out(c);
    if (c->closing || c->writing || c->olen == 0) return;
    /* swap buffers: out becomes the in-flight buffer, the old in-flight one is reused */
    char *p = c->wbuf;
    size_t cap = c->wcap;
    c->wbuf = c->out, c->wcap = c->ocap, c->wlen = c->olen;
    c->out = p, c->ocap = cap, c->olen = 0;
    struct oev *v = c->wevs;
    size_t vc = c->cwev;
    c->wevs = c->oevs, c->cwev = c->coev, c->nwev = c->noev, c->wevb = c->oevb;
    c->oevs = v, c->coev = vc, c->noev = 0, c->oevb = 0;
    /* one writev: the buffer cut at each event's offset, with the event's payload in between */
    size_t need = 2 * c->nwev + c->nwev + 1;
    if (need > c->ciov) {
        uv_buf_t *n = realloc(c->iov, need * sizeof *n);
        if (!n) {
            conn_close(c);
            return;
        }
        c->iov = n, c->ciov = need;
    }
    size_t k = 0, pos = 0;
    for (size_t i = 0; i < c->nwev; i++) {
        const struct oev *e = &c->wevs[i];
        if (e->pos > pos) c->iov[k++] = uv_buf_init(c->wbuf + pos, (unsigned)(e->pos - pos));
        c->iov[k++] = uv_buf_init((char *)e->ev->msg, (unsigned)e->ev->msg_head);
        c->iov[k++] = uv_buf_init((char *)e->ev->msg_tail, (unsigned)e->ev->tail_len);
        pos = e->pos;
    }
    if (c->wlen > pos) c->iov[k++] = uv_buf_init(c->wbuf + pos, (unsigned)(c->wlen - pos));
    c->wreq.data = c;
    if (uv_write(&c->wreq, &c->u.s, c->iov, (unsigned)k, on_written) != 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
}

static void flush_dirty(struct bcast_ipc *s)
{
    while (s->dirty) {
        struct ipc_conn *c = s->dirty;
        s->dirty = c->dnext;
        if (!s->dirty) s->dirty_tail = &s->dirty;
        c->dirty = 0;
        flush(c);
    }
}

static void on_check(uv_check_t *h)
{
    flush_dirty(h->data);
}

static void on_prepare(uv_prepare_t *h)
{
    flush_dirty(h->data);
}

/* ------------------------------------------------------------------ sink */

static size_t unsent(const struct ipc_conn *c)
{
    return c->olen + c->wlen + c->oevb + c->wevb;
}

static int cut_off(struct ipc_conn *c, struct bcast_sub *sub)
{
    c->slow = 1;
    char msg[160];
    snprintf(msg, sizeof msg, "slow subscriber: more than %zu bytes unsent, disconnected",
             c->srv->o.queue_bytes);
    reply_err(c, bcast_sub_id(sub), msg);
    if (c->reading) {
        uv_read_stop(&c->u.s);
        c->reading = 0;
    }
    c->kill_at = uv_now(c->srv->loop) + c->srv->o.slow_close_ms;
    return BB_EBUSY;
}

static int sink_deliver(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                        const struct bcast_event *ev)
{
    struct ipc_conn *c = sink;
    (void)topic, (void)tn; /* the event's preformatted payload names its topic */
    if (c->closing || c->slow || c->wdead) return BB_ECLOSED;
    size_t plen = ev->msg_head + ev->tail_len;
    if (unsent(c) + HDR + plen > c->srv->o.queue_bytes) return cut_off(c, sub);
    if (ev->fanout < REF_MIN_FANOUT || c->noev >= REF_MAX_PER_WRITE) {
        /* few subscribers (or many references queued already): one contiguous copy is cheaper
         * than a piece of a writev */
        if (out_reserve(c, HDR + plen) != 0) return cut_off(c, sub);
        uint8_t *p = (uint8_t *)c->out + c->olen;
        bb_rpc_frame_header(p, bcast_sub_id(sub), BCAST_ST_MESSAGE, (uint32_t)plen);
        memcpy(p + HDR, ev->msg, ev->msg_head);
        memcpy(p + HDR + ev->msg_head, ev->msg_tail, ev->tail_len);
        c->olen += HDR + plen;
        mark_dirty(c);
        return 0;
    }
    if (out_reserve(c, HDR) != 0) return cut_off(c, sub);
    if (c->noev == c->coev) {
        size_t nc = c->coev ? c->coev * 2 : 64;
        struct oev *n = realloc(c->oevs, nc * sizeof *n);
        if (!n) return cut_off(c, sub);
        c->oevs = n, c->coev = nc;
    }
    bb_rpc_frame_header((uint8_t *)c->out + c->olen, bcast_sub_id(sub), BCAST_ST_MESSAGE,
                        (uint32_t)plen);
    c->olen += HDR;
    /* the payload itself is not copied: the write takes it from the event */
    c->oevs[c->noev++] = (struct oev){c->olen, bcast_event_ref(ev)};
    c->oevb += plen;
    mark_dirty(c);
    return 0;
}

static int sink_reset(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                      const char *json, size_t len)
{
    struct ipc_conn *c = sink;
    if (c->closing || c->slow || c->wdead) return BB_ECLOSED;
    size_t plen = bcast_put_msg(NULL, 0, topic, tn, json, len, NULL, 0);
    if (unsent(c) + HDR + plen > c->srv->o.queue_bytes) return cut_off(c, sub);
    if (out_reserve(c, HDR + plen) != 0) return cut_off(c, sub);
    uint8_t *p = (uint8_t *)c->out + c->olen;
    bb_rpc_frame_header(p, bcast_sub_id(sub), BCAST_ST_RESET, (uint32_t)plen);
    bcast_put_msg(p + HDR, plen, topic, tn, json, len, NULL, 0);
    c->olen += HDR + plen;
    mark_dirty(c);
    return 0;
}

static const struct bcast_sink_ops ipc_sink = {sink_deliver, sink_reset};

/* ------------------------------------------------------------------ commands */

static const char *errmsg(int rc, const char *what)
{
    switch (rc) {
    case BB_EINVAL: return what;
    case BB_ETOOBIG: return "event data too large";
    case BB_ELIMIT: return "too many topics";
    case BB_ENOTFOUND: return "no such topic";
    case BB_EIO: return "durable log write failed";
    default: return bb_strerror(rc);
    }
}

static void cmd_create(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    int created = 0;
    int rc = c->created >= c->srv->o.max_created
                 ? bcast_broker_touch_topic(c->srv->b, r->topic.p, r->topic.n)
                 : bcast_broker_create_topic(c->srv->b, r->topic.p, r->topic.n, &created);
    if (rc == BB_ENOTFOUND) {
        /* only existing topics may be re-created once the connection used up its bound */
        bb_warn("buncast", "ipc_create_refused reason=max_created_topics limit=%zu",
                c->srv->o.max_created);
        reply_err(c, id, "too many topics created on this connection");
        return;
    }
    if (rc) {
        reply_err(c, id, errmsg(rc, "invalid topic name"));
        return;
    }
    c->created += (size_t)created;
    reply_ok(c, id, "{}");
}

static void cmd_delete(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    int rc = bcast_broker_delete_topic(c->srv->b, r->topic.p, r->topic.n);
    if (rc) reply_err(c, id, errmsg(rc, "invalid topic name"));
    else reply_ok(c, id, "{}");
}

static void cmd_list(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    json_t *a = bcast_broker_list_topics(c->srv->b);
    size_t n = 0;
    char *s = a ? bb_json_dumps(a, &n) : NULL;
    json_decref(a);
    if (!s) {
        reply_err(c, id, "out of memory");
        return;
    }
    append_frame(c, id, BCAST_ST_OK, s, n);
    free(s);
}

static void cmd_publish(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    char evid[BCAST_ID_LEN + 1];
    int rc = bcast_broker_publish(c->srv->b, r->topic.p, r->topic.n, r->type.p, r->type.n,
                                  r->source.p, r->source.n, r->body.p, r->body.n, evid);
    if (rc == 0 && r->cmd == BCAST_CMD_PUBLISH_PIPELINED) {
        /* acknowledged with the others of this read by one ACK frame (ack_flush) */
        c->ack_n++;
        c->ack_req = id;
        memcpy(c->ack_evid, evid, sizeof evid);
        return;
    }
    if (rc) {
        /* tagged so a pipelining client can count refused publishes (buncast_client.c) */
        json_t *j = json_pack("{s:s,s:s}", "error", errmsg(rc, "invalid topic, type or source"),
                              "command", "Publish");
        size_t n = 0;
        char *txt = j ? bb_json_dumps(j, &n) : NULL;
        json_decref(j);
        if (txt) append_frame(c, id, BCAST_ST_ERROR, txt, n);
        free(txt);
        return;
    }
    char ok[8 + BCAST_ID_LEN + 2];
    memcpy(ok, "{\"id\":\"", 7);
    memcpy(ok + 7, evid, BCAST_ID_LEN);
    memcpy(ok + 7 + BCAST_ID_LEN, "\"}", 2);
    append_frame(c, id, BCAST_ST_OK, ok, 7 + BCAST_ID_LEN + 2);
}

static void cmd_subscribe(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    char resume[BCAST_ID_LEN + 1];
    const char *rp = NULL;
    if (r->resume.n) {
        if (r->resume.n != BCAST_ID_LEN) {
            reply_err(c, id, "invalid resume id");
            return;
        }
        memcpy(resume, r->resume.p, BCAST_ID_LEN);
        resume[BCAST_ID_LEN] = '\0';
        rp = resume;
    }
    if (c->nsubs >= c->srv->o.max_subs) {
        reply_err(c, id, "too many subscriptions on this connection");
        return;
    }
    for (size_t i = 0; i < c->nsubs; i++) {
        if (bcast_sub_id(c->subs[i]) == id) {
            reply_err(c, id, "subscription id already in use on this connection");
            return;
        }
    }
    int rc = bcast_broker_check_subscribe(c->srv->b, r->topic.p, r->topic.n, rp);
    if (rc) {
        reply_err(c, id, errmsg(rc, "invalid topic pattern or resume id"));
        return;
    }
    if (c->nsubs == c->scap) {
        size_t nc = c->scap ? c->scap * 2 : 4;
        struct bcast_sub **n = realloc(c->subs, nc * sizeof *n);
        if (!n) {
            reply_err(c, id, "out of memory");
            return;
        }
        c->subs = n, c->scap = nc;
    }
    reply_ok(c, id, "{}"); /* before any message of the subscription */
    struct bcast_sub *sub = NULL;
    rc = bcast_broker_subscribe(c->srv->b, r->topic.p, r->topic.n, rp, &ipc_sink, c, id, &sub);
    if (rc) {
        /* only ENOMEM/ELIMIT races can get here after the check: tell the client and drop it */
        reply_err(c, id, errmsg(rc, "subscribe failed"));
        c->close_after_write = 1;
        return;
    }
    c->subs[c->nsubs++] = sub;
}

static void cmd_unsubscribe(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (bcast_sub_id(c->subs[i]) != r->sub_id) continue;
        bcast_broker_unsubscribe(c->srv->b, c->subs[i]);
        c->subs[i] = c->subs[--c->nsubs];
        reply_ok(c, id, "{}");
        return;
    }
    reply_err(c, id, "no such subscription");
}

/* the pending ACK went out before (dispatch) */
static void cmd_flush(struct ipc_conn *c, uint64_t id, const struct bcast_req *r)
{
    (void)r;
    reply_ok(c, id, "{}");
}

static const struct {
    uint8_t cmd;
    const char *name;
    void (*fn)(struct ipc_conn *, uint64_t, const struct bcast_req *);
} commands[] = {
    {BCAST_CMD_CREATE_TOPIC, "CreateTopic", cmd_create},
    {BCAST_CMD_DELETE_TOPIC, "DeleteTopic", cmd_delete},
    {BCAST_CMD_LIST_TOPICS, "ListTopics", cmd_list},
    {BCAST_CMD_PUBLISH, "Publish", cmd_publish},
    {BCAST_CMD_PUBLISH_PIPELINED, "PublishPipelined", cmd_publish},
    {BCAST_CMD_SUBSCRIBE, "Subscribe", cmd_subscribe},
    {BCAST_CMD_UNSUBSCRIBE, "Unsubscribe", cmd_unsubscribe},
    {BCAST_CMD_FLUSH, "Flush", cmd_flush},
};

/* One ACK frame for the pipelined publishes accepted since the last one. Sent when ACK_BATCH have
 * accumulated by the end of a read, before the reply to any other request (Flush asks for it), and
 * by the tick; so a publisher streaming events, or sending one now and then, is not woken by a
 * frame per event (nor per read). */
#define ACK_BATCH 256u
static void ack_flush(struct ipc_conn *c)
{
    if (!c->ack_n) return;
    uint8_t p[5 + BCAST_ID_LEN];
    size_t n = bcast_put_ack(p, sizeof p, c->ack_n, c->ack_evid, BCAST_ID_LEN);
    append_frame(c, c->ack_req, BCAST_ST_ACK, p, n);
    c->ack_n = 0;
}

static void stop_reading(struct ipc_conn *c)
{
    if (c->reading) uv_read_stop(&c->u.s);
    c->reading = 0;
}

/* One log line a second at most, so that a flood of bad connections cannot flood the log. */
static void log_refused(struct bcast_ipc *s, const char *why)
{
    bb_counter_inc(s->m_refused);
    uint64_t now = uv_now(s->loop);
    if (s->refused_log_at && now - s->refused_log_at < 1000) {
        s->refused_quiet++;
        return;
    }
    bb_warn("buncast", "ipc_auth_refused reason=%s suppressed=%llu", why,
            (unsigned long long)s->refused_quiet);
    s->refused_log_at = now;
    s->refused_quiet = 0;
}

static void refuse(struct ipc_conn *c, uint64_t id, const char *msg, const char *why)
{
    log_refused(c->srv, why);
    reply_err(c, id, msg);
    c->close_after_write = 1;
    stop_reading(c);
}

/* The first frame of a connection. Returns 0 when authenticated, 1 when refused (closing). */
static int authenticate(struct ipc_conn *c, const struct bb_rpc_frame *f)
{
    struct bcast_req r;
    if (f->code != BCAST_CMD_AUTH) {
        refuse(c, f->id, "authentication required", "no_auth_frame");
        return 1;
    }
    const char *tok = c->srv->o.token;
    size_t tn = tok ? strlen(tok) : 0;
    if (bcast_req_decode(f->code, f->payload, f->payload_len, &r) != 0 || tn == 0 ||
        r.body.n != tn || !bb_ct_equal(r.body.p, tok, tn)) {
        refuse(c, f->id, "authentication failed", "bad_token");
        return 1;
    }
    c->authed = 1;
    c->auth_deadline = 0;
    /* the Auth frame is handled (nothing borrows the decoder's buffer any more): from now on the
     * connection may send frames up to max_frame */
    bb_rpc_decoder_release(&c->dec);
    bb_rpc_decoder_init(&c->dec, c->srv->o.max_frame);
    reply_ok(c, f->id, "{}");
    return 0;
}

/* Returns 0 to go on reading, nonzero when the connection is done. */
static int dispatch(struct ipc_conn *c, const struct bb_rpc_frame *f)
{
    if (!c->authed) return authenticate(c, f);
    if (f->code != BCAST_CMD_PUBLISH_PIPELINED) ack_flush(c); /* replies follow earlier ACKs */
    if (f->code == BCAST_CMD_AUTH) {
        reply_ok(c, f->id, "{}"); /* already authenticated: harmless */
        return 0;
    }
    struct bcast_req r;
    int rc = bcast_req_decode(f->code, f->payload, f->payload_len, &r);
    if (rc == BB_EINVAL) {
        reply_err(c, f->id, "unknown command");
        return 0;
    }
    if (rc) {
        reply_err(c, f->id, "invalid frame format");
        c->close_after_write = 1;
        stop_reading(c);
        return 1;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (commands[i].cmd == f->code) {
            commands[i].fn(c, f->id, &r);
            break;
        }
    }
    return c->close_after_write;
}

/* ------------------------------------------------------------------ connections */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ipc_conn *c = h->data;
    (void)hint;
    if (c->srv->readbuf_busy) { /* never nested, but be safe */
        b->base = NULL;
        b->len = 0;
        return;
    }
    c->srv->readbuf_busy = 1;
    *b = uv_buf_init(c->srv->readbuf, READ_BUF);
}

static void protocol_error(struct ipc_conn *c, int rc)
{
    if (!c->authed) log_refused(c->srv, "bad_frame_before_auth");
    reply_err(c, 0, rc == BB_ETOOBIG ? "frame too large" : "malformed frame");
    c->close_after_write = 1;
    stop_reading(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct ipc_conn *c = st->data;
    c->srv->readbuf_busy = 0;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    size_t off = 0, len = (size_t)nread;
    while (off < len && !c->closing && !c->close_after_write && !c->slow) {
        struct bb_rpc_frame f;
        size_t used = 0;
        int rc = bb_rpc_decoder_feed(&c->dec, buf->base + off, len - off, &used, &f);
        off += used;
        if (rc < 0) {
            protocol_error(c, rc);
            break;
        }
        if (rc == 1 && dispatch(c, &f)) break;
    }
    if (c->ack_n >= ACK_BATCH) ack_flush(c);
    if (!c->closing && c->reading && !c->wdead && unsent(c) > c->srv->o.queue_bytes / 2) {
        stop_reading(c); /* backpressure: resume when the output drains */
        c->paused = 1;
    }
    if (!c->closing && c->close_after_write && !c->writing && c->olen == 0) conn_close(c);
}

static void conn_resume(struct ipc_conn *c)
{
    if (c->closing || c->reading || c->slow || c->close_after_write) return;
    if (uv_read_start(&c->u.s, on_alloc, on_read) == 0) c->reading = 1;
}

static void srv_handle_closed(struct bcast_ipc *s)
{
    if (--s->handles > 0) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done) done(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct ipc_conn *c = h->data;
    struct bcast_ipc *s = c->srv;
    bb_rpc_decoder_release(&c->dec);
    drop_evs(c->oevs, &c->noev, &c->oevb);
    drop_evs(c->wevs, &c->nwev, &c->wevb);
    free(c->oevs);
    free(c->wevs);
    free(c->iov);
    free(c->out);
    free(c->wbuf);
    free(c->subs);
    free(c);
    srv_handle_closed(s);
}

static void conn_close(struct ipc_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    struct bcast_ipc *s = c->srv;
    for (size_t i = 0; i < c->nsubs; i++)
        bcast_broker_unsubscribe(s->b, c->subs[i]);
    c->nsubs = 0;
    if (c->dirty) {
        for (struct ipc_conn **pp = &s->dirty; *pp; pp = &(*pp)->dnext) {
            if (*pp == c) {
                *pp = c->dnext;
                if (s->dirty_tail == &c->dnext) s->dirty_tail = pp;
                break;
            }
        }
        c->dirty = 0;
    }
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    uv_close(&c->u.h, on_conn_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct bcast_ipc *s = server->data;
    if (status < 0 || s->stopping) return;
    struct ipc_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = s;
    int rc = server == (uv_stream_t *)&s->pipe ? uv_pipe_init(s->loop, &c->u.pipe, 0)
                                               : uv_tcp_init(s->loop, &c->u.tcp);
    if (rc) {
        free(c);
        return;
    }
    c->u.h.data = c;
    s->handles++;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    bb_rpc_decoder_init(&c->dec, s->o.max_frame < PREAUTH_MAX_FRAME ? s->o.max_frame
                                                                     : PREAUTH_MAX_FRAME);
    c->auth_deadline = uv_now(s->loop) + s->o.auth_timeout_ms;
    if (uv_accept(server, &c->u.s) != 0 || s->nconns > s->o.max_connections) {
        if (s->nconns > s->o.max_connections)
            bb_warn("buncast", "ipc_connection_refused reason=max_connections limit=%zu",
                    s->o.max_connections);
        conn_close(c);
        return;
    }
    if (server != (uv_stream_t *)&s->pipe) uv_tcp_nodelay(&c->u.tcp, 1);
    conn_resume(c);
}

static void on_tick(uv_timer_t *t)
{
    struct bcast_ipc *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (struct ipc_conn *c = s->conns, *n; c; c = n) {
        n = c->next;
        if (c->ack_n) ack_flush(c);
        if (c->slow && c->kill_at && now >= c->kill_at) conn_close(c);
        else if (!c->authed && c->auth_deadline && now >= c->auth_deadline) {
            log_refused(s, "timeout");
            conn_close(c);
        }
    }
}

static void on_srv_handle_closed(uv_handle_t *h)
{
    srv_handle_closed(h->data);
}

int bcast_ipc_start(struct bcast_ipc **out, uv_loop_t *loop, struct bcast_broker *b,
                    const struct bcast_ipc_opts *o, const char *unix_path, const char *tcp_addr,
                    char *err, size_t errcap)
{
    /* libuv writes with write(2): a peer that went away must not kill the process */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    struct bcast_ipc *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    s->loop = loop;
    s->b = b;
    s->o = *o;
    s->dirty_tail = &s->dirty;
    if (!s->o.auth_timeout_ms) s->o.auth_timeout_ms = 5000;
    if (o->metrics)
        s->m_refused = bb_metrics_counter(o->metrics, "bunbase_buncast_ipc_auth_refused_total",
                                          "IPC connections closed before authenticating (no or "
                                          "wrong token, bad frame, timeout)",
                                          NULL);
    int rc = 0;
    uv_check_init(loop, &s->check);
    uv_prepare_init(loop, &s->prepare);
    uv_timer_init(loop, &s->timer);
    s->check.data = s->prepare.data = s->timer.data = s;
    s->handles = 3;
    uv_check_start(&s->check, on_check);
    uv_prepare_start(&s->prepare, on_prepare);
    uv_timer_start(&s->timer, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&s->check);
    uv_unref((uv_handle_t *)&s->prepare);
    if (unix_path && unix_path[0]) {
        if (strlen(unix_path) >= sizeof s->unix_path || strlen(unix_path) >= 108) {
            snprintf(err, errcap, "buncast: socket path too long: %s", unix_path);
            rc = BB_EINVAL;
            goto fail;
        }
        snprintf(s->unix_path, sizeof s->unix_path, "%s", unix_path);
        uv_pipe_init(loop, &s->pipe, 0);
        s->pipe.data = s;
        s->have_pipe = 1;
        s->handles++;
        struct stat st;
        if (lstat(unix_path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(unix_path);
        /* created under umask 0177 so that the file is never, even briefly, connectable by
         * others; chmod'ed again in case the file system ignores the umask */
        mode_t old = umask(0177);
        int r = uv_pipe_bind(&s->pipe, unix_path);
        umask(old);
        if (r == 0 && chmod(unix_path, 0600) != 0) r = UV_EPERM;
        if (r == 0) r = uv_listen((uv_stream_t *)&s->pipe, 511, on_connection);
        if (r) {
            snprintf(err, errcap, "buncast: cannot listen on %s: %s", unix_path, uv_strerror(r));
            rc = r == UV_EADDRINUSE ? BB_EBUSY : BB_EIO;
            goto fail;
        }
    }
    if (tcp_addr && tcp_addr[0]) {
        char host[256];
        int port;
        struct sockaddr_storage ss;
        if (bb_config_split_addr(tcp_addr, host, sizeof host, &port) != 0 ||
            (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
             uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
            snprintf(err, errcap, "buncast: bad IPC TCP address \"%s\" (want IP:PORT)", tcp_addr);
            rc = BB_EINVAL;
            goto fail;
        }
        uv_tcp_init(loop, &s->tcp);
        s->tcp.data = s;
        s->have_tcp = 1;
        s->handles++;
        int r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
        if (r == 0) r = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection);
        if (r) {
            snprintf(err, errcap, "buncast: cannot listen on %s: %s", tcp_addr, uv_strerror(r));
            rc = r == UV_EADDRINUSE ? BB_EBUSY : BB_EIO;
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    bcast_ipc_stop(s, NULL, NULL);
    return rc;
}

int bcast_ipc_tcp_port(const struct bcast_ipc *s)
{
    if (!s->have_tcp) return 0;
    struct sockaddr_storage ss;
    int n = sizeof ss;
    if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &n) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

size_t bcast_ipc_connections(const struct bcast_ipc *s)
{
    return s->nconns;
}

void bcast_ipc_stop(struct bcast_ipc *s, void (*done)(void *arg), void *arg)
{
    s->stopping = 1;
    s->done = done;
    s->done_arg = arg;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->check, on_srv_handle_closed);
    uv_close((uv_handle_t *)&s->prepare, on_srv_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_srv_handle_closed);
    if (s->have_pipe) {
        uv_close((uv_handle_t *)&s->pipe, on_srv_handle_closed);
        if (s->unix_path[0]) unlink(s->unix_path);
    }
    if (s->have_tcp) uv_close((uv_handle_t *)&s->tcp, on_srv_handle_closed);
}
