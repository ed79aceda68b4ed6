/* buncast_client.c — see buncast_client.h. Wire format: bcast_proto.c.
 *
 * Threads and locks (lock order xmu → wmu → mu):
 *   mu   guards the connection state (fd, gen, connected), the pending-call list, the
 *        subscription list and the callback-in-progress marker; cv signals every change.
 *        live_gen mirrors "connected ? gen : 0" (atomic) so that async publishes check the
 *        connection without taking mu.
 *   wmu  guards obuf (frames queued for the socket). Callers append under it and return; a
 *        flusher thread (woken only when it sleeps) writes what async calls queued, in batches.
 *   xmu  serialises writes on the socket: a writer swaps obuf with the idle buffer under wmu and
 *        writes it holding only xmu, so callers keep appending while a batch is in flight. The
 *        I/O thread takes it before it closes the socket (no write is in progress then).
 *
 * Async publishes are PublishPipelined frames: the broker acknowledges them with one ACK frame
 * per read batch (bcast_proto.c), not one OK each; acked counts them, bcast_client_flush waits for
 * sent == acked + dropped + lost (lost: written on a connection that died before its ACK), asking
 * the broker for the pending ACK with a Flush request.
 * The I/O thread is the only reader. It owns reconnecting: on a new connection it bumps gen and
 * re-sends Subscribe for every subscription not yet sent on this generation, with the last
 * delivered event id as resume point. A caller sending a request notes the generation it sent on;
 * when that connection drops its pending call fails with BB_ECLOSED (a Subscribe that was sent is
 * still resent by the I/O thread on the next connection, so subscribe reports success).
 *
 * Authentication: right after connect the I/O thread writes the Auth frame (id 0) and reads its
 * reply synchronously (bounded by connect_timeout_ms), before the connection is marked connected,
 * so nothing else is ever sent on an unauthenticated connection.
 *
 * Lost async publishes (bcast_client_dropped): a broker ERROR to a Publish nobody waits for (the
 * reply carries "command":"Publish"), and async Publish frames still in obuf when the write fails
 * or the connection is replaced (counted with oasync, under wmu).
 */
#include "buncast_client.h"
#include "bcast_proto.h"

#include "bb_err.h"
#include "bb_time.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HDR (BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN)
#define DEFAULT_TIMEOUT_MS 10000
#define RESUB_TIMEOUT_MS 5000

struct pending {
    struct pending *next;
    uint64_t id;
    uint64_t gen;
    int done;
    int status; /* frame status, or negative BB_E* */
    char *reply;
    size_t reply_len;
};

struct csub {
    struct csub *next;
    uint64_t id;
    char *pattern;
    bcast_message_cb cb;
    void *arg;
    uint64_t sent_gen;
    uint64_t acked_gen; /* generation whose Subscribe got its OK */
    char last_id[BCAST_ID_LEN + 1];
};

struct bcast_client {
    char addr[1100];
    int is_unix;
    char host[256], port[16];
    struct bcast_client_opts o;
    char *source;
    pthread_mutex_t mu, wmu, xmu;
    pthread_cond_t cv;
    pthread_cond_t fcv; /* with wmu: the flusher waits for bytes in obuf */
    pthread_t io, flusher;
    int io_started, flusher_started;
    uint8_t *obuf; /* frames not yet written, all for connection generation ogen; under wmu */
    size_t olen, ocap;
    size_t oasync; /* async Publish frames in obuf; under wmu */
    int fsleeping; /* the flusher waits on fcv; under wmu */
    int fstop;     /* the flusher must exit (set by bcast_client_free); under wmu, not mu */
    int64_t last_async_ns; /* when the last async frame was queued; under wmu */
    uint8_t *wbuf; /* the buffer being written; under xmu */
    size_t wcap;
    _Atomic uint64_t live_gen;   /* gen while connected, else 0 */
    _Atomic uint64_t next_id;    /* request / subscription ids */
    _Atomic uint64_t apub_sent;  /* async publishes queued */
    _Atomic uint64_t apub_acked; /* ... acknowledged by an ACK frame */
    _Atomic uint64_t apub_lost;  /* ... written on a connection that died before their ACK */
    int cb_waiters;  /* threads waiting for cb_sub to change; under mu */
    char *evbuf;     /* NUL-terminated copy of a reset for callbacks; I/O thread only */
    size_t evcap;
    char *token;   /* the Auth token (owned) */
    size_t token_len;
    int auth_refused; /* the last Auth was refused (log once per run of refusals) */
    _Atomic uint64_t dropped;
    uint64_t ogen;
    int stop;
    int draining; /* free(): no reconnect, read until the broker closes */
    int fd;
    int connected;
    uint64_t gen;
    uint64_t connects;
    struct pending *pending;
    struct csub *subs;
    uint64_t cb_sub; /* subscription whose callback is running (0: none) */
};

static void deadline_ts(int64_t deadline, struct timespec *ts)
{
    /* cv uses CLOCK_MONOTONIC (set in bcast_client_new) */
    ts->tv_sec = (time_t)(deadline / 1000);
    ts->tv_nsec = (long)(deadline % 1000) * 1000000L;
}

static int on_io_thread(struct bcast_client *c)
{
    return c->io_started && pthread_equal(pthread_self(), c->io);
}

/* ------------------------------------------------------------------ addresses, connect */

static int parse_addr(struct bcast_client *c, const char *addr)
{
    const char *p = addr;
    if (!strncmp(p, "unix://", 7)) p += 7, c->is_unix = 1;
    else if (!strncmp(p, "unix:", 5)) p += 5, c->is_unix = 1;
    else if (p[0] == '/') c->is_unix = 1;
    if (c->is_unix) {
        if (!p[0] || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return BB_EINVAL;
        snprintf(c->addr, sizeof c->addr, "%s", p);
        return 0;
    }
    if (!strncmp(p, "tcp://", 6)) p += 6;
    const char *colon;
    const char *h = p;
    size_t hl;
    if (p[0] == '[') {
        const char *rb = strchr(p, ']');
        if (!rb || rb[1] != ':') return BB_EINVAL;
        h = p + 1, hl = (size_t)(rb - h), colon = rb + 1;
    } else {
        colon = strrchr(p, ':');
        if (!colon) return BB_EINVAL;
        hl = (size_t)(colon - p);
    }
    size_t pl = strlen(colon + 1);
    if (!hl || hl >= sizeof c->host || !pl || pl >= sizeof c->port) return BB_EINVAL;
    memcpy(c->host, h, hl);
    c->host[hl] = '\0';
    memcpy(c->port, colon + 1, pl + 1);
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    return 0;
}

static int connect_fd(int fd, const struct sockaddr *sa, socklen_t sl, int timeout_ms)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int r = connect(fd, sa, sl);
    if (r != 0 && errno != EINPROGRESS) return -1;
    if (r != 0) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        if (poll(&pfd, 1, timeout_ms) != 1) return -1;
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e) return -1;
    }
    return 0;
}

static int do_connect(struct bcast_client *c)
{
    int to = c->o.connect_timeout_ms;
    if (c->is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        size_t l = strnlen(c->addr, sizeof un.sun_path - 1); /* checked by parse_addr */
        memcpy(un.sun_path, c->addr, l);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        if (connect_fd(fd, (struct sockaddr *)&un, sizeof un, to) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(c->host, c->port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        if (connect_fd(fd, ai->ai_addr, ai->ai_addrlen, to) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* ------------------------------------------------------------------ writing */

static void count_dropped(struct bcast_client *c, uint64_t n)
{
    if (!n) return;
    atomic_fetch_add(&c->dropped, n);
    if (c->o.dropped) bb_counter_add(c->o.dropped, (double)n);
}

/* Writes buf on fd (nonblocking) until done or deadline. Caller holds wmu. */
static int write_buf(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t w = send(fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - ((int64_t)bb_time_mono_ms());
            if (left <= 0) return BB_ETIMEDOUT;
            struct pollfd pfd = {fd, POLLOUT, 0};
            poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
            continue;
        }
        return BB_ECLOSED;
    }
    return 0;
}

#define OBUF_HIGH (1u << 20) /* queued bytes beyond which a caller writes them itself */
#define SELF_WRITE_GAP_NS 5000 /* an async frame this long after the previous one: see send_frame */

/* Writes everything queued so far. obuf is swapped with the idle buffer under wmu and written
 * holding xmu only, so other callers keep appending meanwhile. deadline 0: DEFAULT_TIMEOUT_MS. */
static int flush_out(struct bcast_client *c, int64_t deadline)
{
    pthread_mutex_lock(&c->xmu);
    pthread_mutex_lock(&c->wmu);
    if (c->olen == 0) {
        pthread_mutex_unlock(&c->wmu);
        pthread_mutex_unlock(&c->xmu);
        return 0;
    }
    uint8_t *p = c->wbuf;
    size_t cap = c->wcap, n = c->olen, nasync = c->oasync;
    uint64_t gen = c->ogen;
    c->wbuf = c->obuf, c->wcap = c->ocap;
    c->obuf = p, c->ocap = cap, c->olen = 0, c->oasync = 0;
    pthread_mutex_unlock(&c->wmu);
    pthread_mutex_lock(&c->mu);
    int fd = c->connected && c->gen == gen ? c->fd : -1;
    pthread_mutex_unlock(&c->mu);
    if (!deadline) deadline = ((int64_t)bb_time_mono_ms()) + DEFAULT_TIMEOUT_MS;
    int rc = fd < 0 ? BB_ECLOSED : write_buf(fd, c->wbuf, n, deadline);
    if (rc) {
        bb_warn("buncast_client", "write_failed bytes=%zu err=%s", n, bb_strerror(rc));
        if (fd >= 0) shutdown(fd, SHUT_RDWR); /* a half-written frame poisons the stream */
        count_dropped(c, nasync);
    }
    pthread_mutex_unlock(&c->xmu);
    return rc;
}

typedef void (*fill_fn)(uint8_t *dst, size_t len, const void *arg);

static void fill_copy(uint8_t *dst, size_t len, const void *arg)
{
    if (len) memcpy(dst, arg, len);
}

/* Queues one request of len payload bytes (written by fill) for the connection of generation gen.
 * now = 1: written before returning (together with everything queued before it); now = 0: the
 * flusher thread writes it soon, batched with whatever else is queued meanwhile (so pipelined
 * publishes cost one write(2) per batch). deadline 0: computed from DEFAULT_TIMEOUT_MS if needed. */
static int send_frame(struct bcast_client *c, uint64_t gen, uint64_t id, uint8_t cmd, size_t len,
                      fill_fn fill, const void *arg, int64_t deadline, int now)
{
    if (HDR + len - BB_RPC_PREFIX_LEN > c->o.max_frame) return BB_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&c->wmu);
    for (;;) {
        if (atomic_load(&c->live_gen) != gen) {
            pthread_mutex_unlock(&c->wmu);
            return BB_ECLOSED;
        }
        if (c->ogen != gen) { /* leftovers of a dead connection */
            count_dropped(c, c->oasync);
            c->olen = 0, c->oasync = 0, c->ogen = gen;
        }
        if (!c->olen || c->olen + HDR + len <= OBUF_HIGH) break;
        /* backpressure: this caller writes what is queued (waiting for a write in flight) */
        pthread_mutex_unlock(&c->wmu);
        if ((rc = flush_out(c, deadline)) != 0) return rc;
        pthread_mutex_lock(&c->wmu);
    }
    if (c->olen + HDR + len > c->ocap) {
        size_t nc = c->ocap ? c->ocap : 65536;
        while (nc < c->olen + HDR + len)
            nc *= 2;
        uint8_t *n = realloc(c->obuf, nc);
        if (!n) {
            pthread_mutex_unlock(&c->wmu);
            return BB_ENOMEM;
        }
        c->obuf = n, c->ocap = nc;
    }
    bb_rpc_frame_header(c->obuf + c->olen, id, cmd, (uint32_t)len);
    fill(c->obuf + c->olen + HDR, len, arg);
    c->olen += HDR + len;
    if (cmd == BCAST_CMD_PUBLISH_PIPELINED) {
        c->oasync++;
        atomic_fetch_add(&c->apub_sent, 1);
    }
    int self = 0;
    if (!now && c->fsleeping) {
        /* An async frame after a quiet spell, with nothing else queued or being written, is
         * written by the caller: waking the flusher would add a thread hand-off to its latency.
         * Frames that follow each other closely go to the flusher, which batches them. (The
         * clock is read only when the queue was empty: the gap is to the last such frame.) */
        if (c->olen == HDR + len) {
            int64_t t = ((int64_t)bb_time_mono_ns());
            self = t - c->last_async_ns > SELF_WRITE_GAP_NS;
            c->last_async_ns = t;
        }
        if (!self) pthread_cond_signal(&c->fcv);
    }
    pthread_mutex_unlock(&c->wmu);
    if (now) {
        rc = flush_out(c, deadline);
    } else if (self) {
        flush_out(c, deadline); /* a failure is counted as dropped, like the flusher's */
        /* the gap is measured from the end of this write: a frame queued while it was on the
         * wire, or right after, is part of a burst and goes to the flusher */
        pthread_mutex_lock(&c->wmu);
        c->last_async_ns = ((int64_t)bb_time_mono_ns());
        pthread_mutex_unlock(&c->wmu);
    }
    return rc;
}

static int send_request(struct bcast_client *c, uint64_t gen, uint64_t id, uint8_t cmd,
                        const void *payload, size_t len, int64_t deadline, int now)
{
    return send_frame(c, gen, id, cmd, len, fill_copy, payload, deadline, now);
}

static void *flusher_main(void *arg)
{
    struct bcast_client *c = arg;
    pthread_mutex_lock(&c->wmu);
    for (;;) {
        while (!c->fstop && c->olen == 0) {
            c->fsleeping = 1;
            pthread_cond_wait(&c->fcv, &c->wmu);
            c->fsleeping = 0;
        }
        if (c->fstop) break;
        pthread_mutex_unlock(&c->wmu);
        flush_out(c, 0);
        pthread_mutex_lock(&c->wmu);
    }
    pthread_mutex_unlock(&c->wmu);
    return NULL;
}

/* Waits (mu held) until connected or the deadline; returns 0 with *gen or BB_EUNAVAIL. */
static int wait_connected_locked(struct bcast_client *c, int64_t deadline, uint64_t *gen)
{
    struct timespec ts;
    deadline_ts(deadline, &ts);
    while (!c->connected && !c->stop) {
        if (on_io_thread(c)) return BB_EUNAVAIL;
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    }
    if (!c->connected) return BB_EUNAVAIL;
    *gen = c->gen;
    return 0;
}

/* One request/response. wait = 0: return once written. On success with wait, *status_out and
 * (optionally) *reply_out (caller frees). */
static int call_fill(struct bcast_client *c, uint8_t cmd, size_t len, fill_fn fill,
                     const void *arg, int wait, int timeout_ms, int *status_out, char **reply_out,
                     size_t *reply_len)
{
    if (timeout_ms <= 0) timeout_ms = DEFAULT_TIMEOUT_MS;
    if (on_io_thread(c)) wait = 0;
    uint64_t gen = atomic_load(&c->live_gen);
    if (!wait && gen) /* connected, nothing to wait for: no lock, no clock */
        return send_frame(c, gen, atomic_fetch_add(&c->next_id, 1) + 1, cmd, len, fill, arg, 0, 0);
    int64_t deadline = ((int64_t)bb_time_mono_ms()) + timeout_ms;
    struct pending p = {0};
    pthread_mutex_lock(&c->mu);
    int rc = wait_connected_locked(c, deadline, &gen);
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    p.id = atomic_fetch_add(&c->next_id, 1) + 1;
    p.gen = gen;
    if (wait) {
        p.next = c->pending;
        c->pending = &p;
    }
    pthread_mutex_unlock(&c->mu);
    rc = send_frame(c, gen, p.id, cmd, len, fill, arg, deadline, wait);
    pthread_mutex_lock(&c->mu);
    if (rc == 0 && wait) {
        struct timespec ts;
        deadline_ts(deadline, &ts);
        while (!p.done)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
        if (!p.done) rc = BB_ETIMEDOUT;
        else if (p.status < 0) rc = p.status;
    }
    if (wait) {
        for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
            if (*pp == &p) {
                *pp = p.next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && wait) {
        if (status_out) *status_out = p.status;
        if (reply_out) {
            *reply_out = p.reply;
            if (reply_len) *reply_len = p.reply_len;
            p.reply = NULL;
        }
    }
    free(p.reply);
    return rc;
}

static int call(struct bcast_client *c, uint8_t cmd, const void *payload, size_t len, int wait,
                int timeout_ms, int *status_out, char **reply_out, size_t *reply_len)
{
    return call_fill(c, cmd, len, fill_copy, payload, wait, timeout_ms, status_out, reply_out,
                     reply_len);
}

/* ------------------------------------------------------------------ the I/O thread */

static void fail_pending_locked(struct bcast_client *c, uint64_t gen)
{
    for (struct pending *p = c->pending; p; p = p->next) {
        if (p->gen == gen && !p->done) {
            p->done = 1;
            p->status = BB_ECLOSED;
        }
    }
}

static void handle_frame(struct bcast_client *c, const struct bb_rpc_frame *f)
{
    if (f->code == BCAST_ST_ACK) {
        struct bcast_ack a;
        if (bcast_ack_decode(f->payload, f->payload_len, &a) == 0)
            atomic_fetch_add(&c->apub_acked, a.count);
        else
            bb_warn("buncast_client", "bad_ack_frame id=%llu", (unsigned long long)f->id);
        return;
    }
    if (f->code == BCAST_ST_MESSAGE || f->code == BCAST_ST_RESET) {
        struct bcast_msg m;
        if (bcast_msg_decode(f->code, f->payload, f->payload_len, &m) != 0) {
            bb_warn("buncast_client", "bad_message_frame sub=%llu", (unsigned long long)f->id);
            return;
        }
        pthread_mutex_lock(&c->mu);
        struct csub *s = c->subs;
        while (s && s->id != f->id)
            s = s->next;
        if (!s) {
            pthread_mutex_unlock(&c->mu);
            return; /* unsubscribed meanwhile */
        }
        bcast_message_cb cb = s->cb;
        void *arg = s->arg;
        c->cb_sub = s->id;
        pthread_mutex_unlock(&c->mu);
        /* The callback gets NUL-terminated strings. A MESSAGE payload is u16 tlen | topic | u32
         * elen | envelope | u8 idlen | id: the byte after the topic and the one after the
         * envelope are length fields already decoded, so both are terminated in place (the frame
         * lies in this thread's read buffer or decoder buffer, both writable and done with those
         * bytes); the id is copied. A RESET's JSON ends the payload: it is copied. */
        char id[BCAST_ID_LEN + 1] = "";
        if (m.id.n == BCAST_ID_LEN) memcpy(id, m.id.p, BCAST_ID_LEN);
        char *topic = (char *)m.topic.p, *ev = (char *)m.body.p;
        size_t tn = m.topic.n;
        int ok = 1;
        if (f->code == BCAST_ST_MESSAGE) {
            topic[tn] = '\0';
            ev[m.body.n] = '\0';
        } else {
            size_t need = tn + 1 + m.body.n + 1;
            if (need > c->evcap) { /* one buffer reused for every reset */
                size_t nc = c->evcap ? c->evcap : 4096;
                while (nc < need)
                    nc *= 2;
                char *nb = realloc(c->evbuf, nc);
                if (nb) c->evbuf = nb, c->evcap = nc;
            }
            ok = need <= c->evcap;
            if (ok) {
                memcpy(c->evbuf, topic, tn);
                c->evbuf[tn] = '\0';
                memcpy(c->evbuf + tn + 1, ev, m.body.n);
                c->evbuf[tn + 1 + m.body.n] = '\0';
                topic = c->evbuf, ev = c->evbuf + tn + 1;
            }
        }
        if (ok) {
            struct bcast_message msg = {f->id, topic, tn, ev, m.body.n, id,
                                        f->code == BCAST_ST_RESET};
            cb(arg, &msg);
        }
        pthread_mutex_lock(&c->mu);
        if (id[0]) {
            for (s = c->subs; s; s = s->next)
                if (s->id == f->id) memcpy(s->last_id, id, sizeof id);
        }
        c->cb_sub = 0;
        if (c->cb_waiters) pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    pthread_mutex_lock(&c->mu);
    struct pending *p = c->pending;
    while (p && p->id != f->id)
        p = p->next;
    if (p && !p->done) {
        p->reply = malloc(f->payload_len + 1);
        if (p->reply) {
            memcpy(p->reply, f->payload, f->payload_len);
            p->reply[f->payload_len] = '\0';
            p->reply_len = f->payload_len;
        }
        p->status = p->reply ? f->code : BB_ENOMEM;
        p->done = 1;
        pthread_cond_broadcast(&c->cv);
    } else if (f->code == BCAST_ST_OK) {
        for (struct csub *s = c->subs; s; s = s->next)
            if (s->id == f->id) s->acked_gen = c->gen;
        pthread_cond_broadcast(&c->cv);
    } else if (f->code == BCAST_ST_ERROR) {
        bb_warn("buncast_client", "broker_error id=%llu msg=%.*s", (unsigned long long)f->id,
                (int)(f->payload_len > 200 ? 200 : f->payload_len), (const char *)f->payload);
        static const char tag[] = "\"command\":\"Publish\"";
        if (memmem(f->payload, f->payload_len, tag, sizeof tag - 1)) count_dropped(c, 1);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Re-sends Subscribe for every subscription not yet sent on gen. */
static void resubscribe(struct bcast_client *c, uint64_t gen)
{
    for (;;) {
        pthread_mutex_lock(&c->mu);
        struct csub *s = c->subs;
        while (s && s->sent_gen == gen)
            s = s->next;
        if (!s || c->gen != gen) {
            pthread_mutex_unlock(&c->mu);
            return;
        }
        s->sent_gen = gen;
        size_t pn = strlen(s->pattern);
        uint8_t buf[2 + BCAST_MAX_TOPIC + 1 + BCAST_ID_LEN];
        size_t n = bcast_put_subscribe(buf, sizeof buf, s->pattern, pn,
                                       s->last_id[0] ? s->last_id : NULL);
        uint64_t id = s->id;
        pthread_mutex_unlock(&c->mu);
        if (send_request(c, gen, id, BCAST_CMD_SUBSCRIBE, buf, n, ((int64_t)bb_time_mono_ms()) + RESUB_TIMEOUT_MS, 1) != 0)
            return;
    }
}

/* Reads exactly n bytes (fd is nonblocking) before deadline. */
static int read_exact(int fd, uint8_t *p, size_t n, int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        int64_t left = deadline - ((int64_t)bb_time_mono_ms());
        if (left <= 0) return BB_ETIMEDOUT;
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR) return BB_ECLOSED;
        if (pr <= 0) continue;
        ssize_t r = recv(fd, p + got, n - got, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (r <= 0) return BB_ECLOSED;
        got += (size_t)r;
    }
    return 0;
}

/* The Auth exchange on a fresh connection (I/O thread, before it counts as connected). Returns 0,
 * BB_EPERM (token refused), or a transport error. */
static int authenticate(struct bcast_client *c, int fd)
{
    int64_t deadline = ((int64_t)bb_time_mono_ms()) + c->o.connect_timeout_ms;
    uint8_t hdr[HDR], reply[HDR + 256];
    bb_rpc_frame_header(hdr, 0, BCAST_CMD_AUTH, (uint32_t)c->token_len);
    int rc = write_buf(fd, hdr, HDR, deadline);
    if (rc == 0 && c->token_len) rc = write_buf(fd, (const uint8_t *)c->token, c->token_len, deadline);
    if (rc == 0) rc = read_exact(fd, reply, BB_RPC_PREFIX_LEN, deadline);
    if (rc) return rc;
    size_t flen = bb_get_le32(reply);
    if (flen < BB_RPC_HEADER_LEN || flen > sizeof reply - BB_RPC_PREFIX_LEN) return BB_EPROTO;
    if ((rc = read_exact(fd, reply + BB_RPC_PREFIX_LEN, flen, deadline)) != 0) return rc;
    uint8_t code = reply[BB_RPC_PREFIX_LEN + 8];
    if (bb_get_le64(reply + BB_RPC_PREFIX_LEN) != 0 || code != BCAST_ST_OK) {
        size_t pl = flen - BB_RPC_HEADER_LEN;
        if (!c->auth_refused)
            bb_warn("buncast_client", "auth_refused addr=%s token=%s reply=%.*s", c->addr,
                    c->token_len ? "set" : "missing", (int)pl, (const char *)reply + HDR);
        c->auth_refused = 1;
        return BB_EPERM;
    }
    if (c->auth_refused) bb_info("buncast_client", "auth_accepted addr=%s", c->addr);
    c->auth_refused = 0;
    return 0;
}

static void backoff_wait(struct bcast_client *c, int ms)
{
    pthread_mutex_lock(&c->mu);
    struct timespec ts;
    deadline_ts(((int64_t)bb_time_mono_ms()) + ms, &ts);
    while (!c->stop)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&c->mu);
}

static void *io_main(void *arg)
{
    struct bcast_client *c = arg;
    int backoff = c->o.reconnect_min_ms;
    struct bb_rpc_decoder dec;
    uint8_t *buf = malloc(65536);
    if (!buf) return NULL;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int stop = c->stop || c->draining;
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
        int fd = do_connect(c);
        int arc = fd < 0 ? BB_EUNAVAIL : authenticate(c, fd);
        if (arc) {
            if (fd >= 0) close(fd);
            /* a refused token will not get better soon: wait the longest backoff */
            backoff_wait(c, arc == BB_EPERM ? c->o.reconnect_max_ms : backoff);
            backoff = backoff * 2 > c->o.reconnect_max_ms ? c->o.reconnect_max_ms : backoff * 2;
            continue;
        }
        backoff = c->o.reconnect_min_ms;
        bb_rpc_decoder_init(&dec, c->o.max_frame);
        pthread_mutex_lock(&c->mu);
        c->fd = fd;
        uint64_t gen = ++c->gen;
        c->connects++;
        pthread_mutex_unlock(&c->mu);
        /* resubscribe before anyone else may send on this connection: a caller waiting to
         * publish then follows the subscriptions */
        pthread_mutex_lock(&c->mu);
        c->connected = 1;
        atomic_store(&c->live_gen, gen);
        pthread_mutex_unlock(&c->mu);
        resubscribe(c, gen);
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        for (;;) {
            pthread_mutex_lock(&c->mu);
            stop = c->stop;
            pthread_mutex_unlock(&c->mu);
            if (stop) break;
            /* read first (the socket is nonblocking); poll only when there is nothing */
            ssize_t n = read(fd, buf, 65536);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                struct pollfd pfd = {fd, POLLIN, 0};
                poll(&pfd, 1, 100);
                continue;
            }
            if (n <= 0) break;
            size_t off = 0;
            int bad = 0;
            while (off < (size_t)n) {
                struct bb_rpc_frame f;
                size_t used = 0;
                int rc = bb_rpc_decoder_feed(&dec, buf + off, (size_t)n - off, &used, &f);
                off += used;
                if (rc < 0) {
                    bb_warn("buncast_client", "bad_frame err=%s", bb_strerror(rc));
                    bad = 1;
                    break;
                }
                if (rc == 1) handle_frame(c, &f);
            }
            if (bad) break;
        }
        bb_rpc_decoder_release(&dec);
        pthread_mutex_lock(&c->xmu); /* no write in flight on fd */
        pthread_mutex_lock(&c->wmu);
        pthread_mutex_lock(&c->mu);
        c->connected = 0;
        atomic_store(&c->live_gen, 0);
        c->fd = -1;
        close(fd);
        /* async publishes written on this connection and neither acknowledged nor refused are
         * lost to bcast_client_flush (they may or may not have been applied); those still queued
         * are counted as dropped by the next writer */
        uint64_t queued = c->oasync; /* whatever generation: all counted as dropped later */
        uint64_t settled = atomic_load(&c->apub_acked) + atomic_load(&c->dropped) +
                           atomic_load(&c->apub_lost) + queued;
        uint64_t sent = atomic_load(&c->apub_sent);
        if (sent > settled) atomic_fetch_add(&c->apub_lost, sent - settled);
        fail_pending_locked(c, gen);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->wmu);
        pthread_mutex_unlock(&c->xmu);
    }
    free(buf);
    return NULL;
}

/* ------------------------------------------------------------------ public API */

/* c->token from opts->token or opts->token_file. */
static int load_token(struct bcast_client *c, const struct bcast_client_opts *opts)
{
    char buf[BCAST_MAX_TOKEN + 2];
    size_t n = 0;
    if (opts && opts->token) {
        n = strlen(opts->token);
        if (n > BCAST_MAX_TOKEN) return BB_EINVAL;
        memcpy(buf, opts->token, n);
    } else if (opts && opts->token_file) {
        int fd = open(opts->token_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            bb_warn("buncast_client", "token_file_unreadable path=%s errno=%d", opts->token_file,
                    errno);
            return BB_EINVAL;
        }
        ssize_t r;
        while (n < sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) != 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) break;
            n += (size_t)r;
        }
        close(fd);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
            n--;
        if (n == 0 || n > BCAST_MAX_TOKEN || memchr(buf, '\n', n)) {
            bb_warn("buncast_client", "token_file_invalid path=%s", opts->token_file);
            explicit_bzero(buf, sizeof buf);
            return BB_EINVAL;
        }
    }
    if (n) {
        c->token = malloc(n + 1);
        if (!c->token) {
            explicit_bzero(buf, sizeof buf);
            return BB_ENOMEM;
        }
        memcpy(c->token, buf, n);
        c->token[n] = '\0';
        c->token_len = n;
    }
    explicit_bzero(buf, sizeof buf);
    return 0;
}

int bcast_client_new(struct bcast_client **out, const char *addr,
                     const struct bcast_client_opts *opts)
{
    if (!out || !addr) return BB_EINVAL;
    struct bcast_client *c = calloc(1, sizeof *c);
    if (!c) return BB_ENOMEM;
    if (opts) c->o = *opts;
    c->o.source = NULL;
    if (c->o.connect_timeout_ms <= 0) c->o.connect_timeout_ms = 2000;
    if (c->o.reconnect_min_ms <= 0) c->o.reconnect_min_ms = 20;
    if (c->o.reconnect_max_ms <= 0) c->o.reconnect_max_ms = 1000;
    if (c->o.reconnect_max_ms < c->o.reconnect_min_ms) c->o.reconnect_max_ms = c->o.reconnect_min_ms;
    if (!c->o.max_frame) c->o.max_frame = BB_RPC_DEFAULT_MAX_FRAME;
    c->fd = -1;
    if (parse_addr(c, addr) != 0) {
        free(c);
        return BB_EINVAL;
    }
    if (opts && opts->source) {
        if (!bcast_attr_valid(opts->source, strlen(opts->source)) ||
            !(c->source = strdup(opts->source))) {
            free(c);
            return opts->source ? BB_EINVAL : BB_ENOMEM;
        }
    }
    c->o.token = c->o.token_file = NULL;
    int trc = load_token(c, opts);
    if (trc) {
        free(c->source);
        free(c);
        return trc;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wmu, NULL);
    pthread_mutex_init(&c->xmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->io, NULL, io_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        pthread_mutex_destroy(&c->wmu);
        pthread_mutex_destroy(&c->xmu);
        free(c->source);
        free(c->token);
        free(c);
        return BB_ENOMEM;
    }
    c->io_started = 1;
    pthread_cond_init(&c->fcv, NULL);
    if (pthread_create(&c->flusher, NULL, flusher_main, c) != 0) {
        bcast_client_free(c);
        return BB_ENOMEM;
    }
    c->flusher_started = 1;
    *out = c;
    return 0;
}

void bcast_client_free(struct bcast_client *c)
{
    if (!c) return;
    /* what async publishes queued goes out first, then a graceful close: half-close our side and
     * let the I/O thread read until the broker, having processed everything, closes (bounded) */
    int64_t deadline = ((int64_t)bb_time_mono_ms()) + 2000;
    flush_out(c, deadline);
    pthread_mutex_lock(&c->xmu);
    pthread_mutex_lock(&c->mu);
    c->draining = 1;
    if (c->connected && c->fd >= 0) shutdown(c->fd, SHUT_WR);
    struct timespec ts;
    deadline_ts(deadline, &ts);
    pthread_mutex_unlock(&c->xmu);
    while (c->connected)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->wmu);
    c->fstop = 1;
    pthread_cond_signal(&c->fcv);
    pthread_mutex_unlock(&c->wmu);
    if (c->flusher_started) pthread_join(c->flusher, NULL);
    pthread_join(c->io, NULL);
    while (c->subs) {
        struct csub *s = c->subs;
        c->subs = s->next;
        free(s->pattern);
        free(s);
    }
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->fcv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wmu);
    pthread_mutex_destroy(&c->xmu);
    free(c->obuf);
    free(c->wbuf);
    free(c->evbuf);
    free(c->source);
    if (c->token) explicit_bzero(c->token, c->token_len);
    free(c->token);
    free(c);
}

int bcast_client_wait_connected(struct bcast_client *c, int timeout_ms)
{
    uint64_t gen;
    pthread_mutex_lock(&c->mu);
    int rc = wait_connected_locked(c, ((int64_t)bb_time_mono_ms()) + (timeout_ms > 0 ? timeout_ms : 0), &gen);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bcast_client_connected(struct bcast_client *c)
{
    pthread_mutex_lock(&c->mu);
    int v = c->connected;
    pthread_mutex_unlock(&c->mu);
    return v;
}

uint64_t bcast_client_connects(struct bcast_client *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t v = c->connects;
    pthread_mutex_unlock(&c->mu);
    return v;
}

uint64_t bcast_client_dropped(struct bcast_client *c)
{
    return atomic_load(&c->dropped);
}

static int broker_status(int status, const char *reply, const char *what)
{
    if (status == BCAST_ST_OK) return 0;
    bb_debug("buncast_client", "%s_refused reply=%s", what, reply ? reply : "");
    return BB_EPROTO;
}

struct pub_args {
    const char *topic;
    size_t tn;
    const void *data;
    size_t len;
    const char *type, *source;
};

static void fill_publish(uint8_t *dst, size_t n, const void *arg)
{
    const struct pub_args *a = arg;
    bcast_put_publish(dst, n, a->topic, a->tn, a->data, a->len, a->type, a->source);
}

static int do_publish(struct bcast_client *c, const char *topic, const char *type,
                      const void *data, size_t len, char *id_out, int wait, int timeout_ms)
{
    if (!c || !topic || (len && !data)) return BB_EINVAL;
    size_t tn = strlen(topic);
    if (!bcast_topic_valid(topic, tn) || (type && !bcast_attr_valid(type, strlen(type))))
        return BB_EINVAL;
    if (len > UINT32_MAX - 4096) return BB_EINVAL;
    /* the payload is written straight into the output buffer (no copy per publish) */
    struct pub_args a = {topic, tn, data, len, type ? type : "", c->source};
    size_t n = bcast_put_publish(NULL, 0, topic, tn, data, len, a.type, c->source);
    int status = 0;
    char *reply = NULL;
    int rc = call_fill(c, wait ? BCAST_CMD_PUBLISH : BCAST_CMD_PUBLISH_PIPELINED, n, fill_publish,
                       &a, wait, timeout_ms, &status, &reply, NULL);
    if (rc == 0 && wait && !on_io_thread(c)) {
        rc = broker_status(status, reply, "publish");
        if (rc == 0 && id_out) {
            const char *q = reply ? strstr(reply, "\"id\":\"") : NULL;
            id_out[0] = '\0';
            if (q && strlen(q + 6) >= BCAST_ID_LEN) {
                memcpy(id_out, q + 6, BCAST_ID_LEN);
                id_out[BCAST_ID_LEN] = '\0';
            }
        }
    } else if (rc == 0 && id_out) {
        id_out[0] = '\0';
    }
    free(reply);
    return rc;
}

int bcast_client_publish(struct bcast_client *c, const char *topic, const char *type,
                         const void *data, size_t len, char id_out[BCAST_CLIENT_ID_LEN + 1],
                         int timeout_ms)
{
    return do_publish(c, topic, type, data, len, id_out, 1, timeout_ms);
}

int bcast_client_publish_async(struct bcast_client *c, const char *topic, const char *type,
                               const void *data, size_t len, int timeout_ms)
{
    return do_publish(c, topic, type, data, len, NULL, 0, timeout_ms);
}

int bcast_client_subscribe(struct bcast_client *c, const char *pattern, const char *resume_id,
                           bcast_message_cb cb, void *arg, uint64_t *sub_out, int timeout_ms)
{
    if (!c || !pattern || !cb) return BB_EINVAL;
    size_t pn = strlen(pattern);
    int wild;
    if (!bcast_pattern_valid(pattern, pn, &wild)) return BB_EINVAL;
    if (resume_id && resume_id[0] && strlen(resume_id) != BCAST_ID_LEN) return BB_EINVAL;
    if (timeout_ms <= 0) timeout_ms = DEFAULT_TIMEOUT_MS;
    int64_t deadline = ((int64_t)bb_time_mono_ms()) + timeout_ms;
    struct csub *s = calloc(1, sizeof *s);
    if (!s || !(s->pattern = strdup(pattern))) {
        free(s);
        return BB_ENOMEM;
    }
    s->cb = cb;
    s->arg = arg;
    if (resume_id && resume_id[0]) memcpy(s->last_id, resume_id, BCAST_ID_LEN);
    struct pending p = {0};
    uint64_t gen = 0;
    int rc;
    pthread_mutex_lock(&c->mu);
    s->id = atomic_fetch_add(&c->next_id, 1) + 1;
    s->next = c->subs;
    c->subs = s;
    rc = wait_connected_locked(c, deadline, &gen);
    /* if the I/O thread already sent it on this connection, its OK sets acked_gen */
    int sent_by_us = 0;
    if (rc == 0 && s->sent_gen != gen) {
        s->sent_gen = gen;
        sent_by_us = 1;
    }
    p.id = s->id;
    p.gen = gen;
    int wait = !on_io_thread(c);
    if (rc == 0 && wait) {
        p.next = c->pending;
        c->pending = &p;
    }
    uint8_t buf[2 + BCAST_MAX_TOPIC + 1 + BCAST_ID_LEN];
    size_t n = bcast_put_subscribe(buf, sizeof buf, pattern, pn, s->last_id[0] ? s->last_id : NULL);
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && sent_by_us)
        rc = send_request(c, gen, s->id, BCAST_CMD_SUBSCRIBE, buf, n, deadline, 1);
    pthread_mutex_lock(&c->mu);
    if (wait && (rc == 0 || rc == BB_ECLOSED)) {
        struct timespec ts;
        deadline_ts(deadline, &ts);
        while (rc == 0 && !p.done && s->acked_gen != gen)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
        if (rc == 0 && !p.done && s->acked_gen == gen) p.done = 1, p.status = BCAST_ST_OK;
        if (rc == 0 && !p.done) rc = BB_ETIMEDOUT;
        else if (rc == 0 && p.status == BB_ECLOSED) rc = 0; /* resent on the next connection */
        else if (rc == 0 && p.status != BCAST_ST_OK) rc = p.status < 0 ? p.status : BB_EPROTO;
        if (rc == BB_ECLOSED) rc = 0;
    }
    if (wait) {
        for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
            if (*pp == &p) {
                *pp = p.next;
                break;
            }
        }
    }
    if (rc != 0) {
        for (struct csub **pp = &c->subs; *pp; pp = &(*pp)->next) {
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == BB_EPROTO)
        bb_warn("buncast_client", "subscribe_refused pattern=%s reply=%s", pattern,
                p.reply ? p.reply : "");
    free(p.reply);
    if (rc != 0) {
        free(s->pattern);
        free(s);
        return rc;
    }
    if (sub_out) *sub_out = s->id;
    return 0;
}

int bcast_client_unsubscribe(struct bcast_client *c, uint64_t sub, int timeout_ms)
{
    if (!c) return BB_EINVAL;
    pthread_mutex_lock(&c->mu);
    struct csub *s = NULL;
    for (struct csub **pp = &c->subs; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == sub) {
            s = *pp;
            *pp = s->next;
            break;
        }
    }
    if (!s) {
        pthread_mutex_unlock(&c->mu);
        return BB_ENOTFOUND;
    }
    /* from now on no new callback starts; wait for one in progress (unless we are it) */
    while (c->cb_sub == sub && !on_io_thread(c)) {
        c->cb_waiters++;
        pthread_cond_wait(&c->cv, &c->mu);
        c->cb_waiters--;
    }
    int connected = c->connected;
    pthread_mutex_unlock(&c->mu);
    free(s->pattern);
    free(s);
    if (!connected) return 0; /* nothing to tell the broker: the next connection won't resend it */
    uint8_t buf[8];
    bb_put_le64(buf, sub);
    int status = 0;
    int rc = call(c, BCAST_CMD_UNSUBSCRIBE, buf, sizeof buf, 1, timeout_ms, &status, NULL, NULL);
    if (rc == BB_ECLOSED || rc == BB_EUNAVAIL) rc = 0; /* the connection is gone, so is the sub */
    return rc;
}

static int topic_call(struct bcast_client *c, uint8_t cmd, const char *topic, int timeout_ms)
{
    if (!c || !topic || !bcast_topic_valid(topic, strlen(topic))) return BB_EINVAL;
    uint8_t buf[2 + BCAST_MAX_TOPIC];
    size_t n = bcast_put_topic(buf, sizeof buf, topic, strlen(topic));
    int status = 0;
    char *reply = NULL;
    int rc = call(c, cmd, buf, n, 1, timeout_ms, &status, &reply, NULL);
    if (rc == 0 && !on_io_thread(c)) {
        rc = broker_status(status, reply, "topic");
        if (rc && reply && strstr(reply, "no such topic")) rc = BB_ENOTFOUND;
    }
    free(reply);
    return rc;
}

int bcast_client_create_topic(struct bcast_client *c, const char *topic, int timeout_ms)
{
    return topic_call(c, BCAST_CMD_CREATE_TOPIC, topic, timeout_ms);
}

int bcast_client_delete_topic(struct bcast_client *c, const char *topic, int timeout_ms)
{
    return topic_call(c, BCAST_CMD_DELETE_TOPIC, topic, timeout_ms);
}

int bcast_client_list_topics(struct bcast_client *c, char **json_out, int timeout_ms)
{
    if (!c || !json_out) return BB_EINVAL;
    if (on_io_thread(c)) return BB_EINVAL; /* needs the reply */
    int status = 0;
    char *reply = NULL;
    int rc = call(c, BCAST_CMD_LIST_TOPICS, NULL, 0, 1, timeout_ms, &status, &reply, NULL);
    if (rc == 0) rc = broker_status(status, reply, "list");
    if (rc) {
        free(reply);
        return rc;
    }
    *json_out = reply;
    return 0;
}

uint64_t bcast_client_acked(struct bcast_client *c)
{
    return atomic_load(&c->apub_acked);
}

int bcast_client_flush(struct bcast_client *c, int timeout_ms)
{
    if (!c || on_io_thread(c)) return BB_EINVAL; /* the I/O thread reads the ACKs */
    uint64_t target = atomic_load(&c->apub_sent);
    uint64_t lost0 = atomic_load(&c->apub_lost);
    /* Always one round trip: the counts alone cannot tell (a refused publish made from a callback
     * counts as dropped too). Flush is answered after the ACK of everything before it on this
     * connection. */
    int status = 0;
    int rc = call(c, BCAST_CMD_FLUSH, NULL, 0, 1, timeout_ms, &status, NULL, NULL);
    if (rc == 0 && status != BCAST_ST_OK) rc = BB_EPROTO;
    if (rc == BB_ETIMEDOUT || rc == BB_EUNAVAIL || rc == BB_EPROTO) return rc;
    uint64_t lost = atomic_load(&c->apub_lost);
    if (rc == 0 && atomic_load(&c->apub_acked) + atomic_load(&c->dropped) + lost >= target)
        return lost != lost0 ? BB_ECLOSED : 0;
    return BB_ECLOSED;
}
