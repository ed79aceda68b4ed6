/* bb_instances.c — see bb_instances.h.
 *
 * One mutex guards the list, every instance's state, references and use time, and the counters;
 * one condition variable wakes acquirers waiting for an open or a close to finish. Opening and
 * closing run with the mutex released, on the instance marked OPENING / CLOSING.
 *
 * Asynchronous acquires queue their waiters on the instance being opened or closed (in->wq), or,
 * at capacity, on the registry (pending) until an eviction they wait for has finished; waiters
 * are completed and re-acquired with the mutex released.
 */
#include "bb_instances.h"

#include "bb_err.h"
#include "bb_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum inst_state { INST_OPENING, INST_READY, INST_CLOSING };

struct bb_instance {
    char key[BB_INSTANCES_MAX_KEY + 1];
    void *obj;
    enum inst_state st;
    unsigned refs;
    uint64_t last_used_ms;
    struct bb_instance *next;
    struct bb_instances_waiter *wq; /* asynchronous acquirers waiting for an open or a close */
};

struct bb_instances {
    struct bb_instances_ops ops;
    void *ctx;
    struct bb_instances_limits lim;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bb_instance *list;
    size_t n;
    int stopping;
    uint64_t opens, closes, rejections;
    pthread_t evictor;
    int evictor_on;
    pthread_cond_t ev_cv;
    struct bb_instances_waiter *pending; /* asynchronous acquirers waiting for room */
    size_t pending_keys;                 /* distinct keys among them */
};

/* With r->mu held: waits for a release, an open or a close to finish (they broadcast r->cv), at
 * most 50 ms so the caller re-checks its own deadline. */
static void wait_change(struct bb_instances *r)
{
    struct timespec ts;
    bb_time_deadline(CLOCK_REALTIME, 50, &ts);
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

void *bb_instance_obj(const struct bb_instance *in)
{
    return in ? in->obj : NULL;
}

const char *bb_instance_key(const struct bb_instance *in)
{
    return in ? in->key : NULL;
}

static void unlink_inst(struct bb_instances *r, struct bb_instance *in)
{
    for (struct bb_instance **pp = &r->list; *pp; pp = &(*pp)->next)
        if (*pp == in) {
            *pp = in->next;
            r->n--;
            return;
        }
}

/* With r->mu held: the least recently used ready instance without references, idle at least
 * min_ms and not in use, marked CLOSING; NULL if none. in_use is asked under the lock (it must be
 * quick and must not call back into the registry). */
static struct bb_instance *pick_victim(struct bb_instances *r, uint64_t min_ms)
{
    uint64_t now = bb_time_mono_ms();
    struct bb_instance *best = NULL;
    for (struct bb_instance *in = r->list; in; in = in->next) {
        if (in->st != INST_READY || in->refs) continue;
        if (now - in->last_used_ms < min_ms) continue;
        if (r->ops.in_use && r->ops.in_use(r->ctx, in->obj)) continue;
        if (!best || in->last_used_ms < best->last_used_ms) best = in;
    }
    if (best) best->st = INST_CLOSING;
    return best;
}

/* Closes a CLOSING instance: called without r->mu. */
static void close_victim(struct bb_instances *r, struct bb_instance *v, const char *why)
{
    r->ops.close(r->ctx, v->key, v->obj, why);
    pthread_mutex_lock(&r->mu);
    unlink_inst(r, v);
    r->closes++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(v);
}

int bb_instances_acquire(struct bb_instances *r, const char *key, struct bb_instance **out)
{
    size_t klen = key ? strlen(key) : 0;
    if (!r || klen == 0 || klen > BB_INSTANCES_MAX_KEY || !out || !r->ops.open) return BB_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->stopping) {
            rc = BB_EUNAVAIL;
            break;
        }
        struct bb_instance *in = r->list;
        while (in && strcmp(in->key, key) != 0)
            in = in->next;
        if (in) {
            if (in->st != INST_READY) { /* being opened or closed: wait for the outcome */
                pthread_cond_wait(&r->cv, &r->mu);
                continue;
            }
            in->refs++;
            in->last_used_ms = bb_time_mono_ms();
            *out = in;
            break;
        }
        if (r->lim.max_instances && r->n >= r->lim.max_instances) {
            struct bb_instance *v = pick_victim(r, 0);
            if (!v) {
                r->rejections++;
                rc = BB_ELIMIT;
                break;
            }
            pthread_mutex_unlock(&r->mu);
            close_victim(r, v, "capacity");
            pthread_mutex_lock(&r->mu);
            continue;
        }
        in = calloc(1, sizeof *in);
        if (!in) {
            rc = BB_ENOMEM;
            break;
        }
        memcpy(in->key, key, klen + 1);
        in->st = INST_OPENING;
        in->next = r->list;
        r->list = in;
        r->n++;
        pthread_mutex_unlock(&r->mu);
        void *obj = NULL;
        rc = r->ops.open(r->ctx, in, key, &obj);
        pthread_mutex_lock(&r->mu);
        if (rc != 0) {
            unlink_inst(r, in);
            free(in);
        } else {
            in->obj = obj;
            in->st = INST_READY;
            in->refs = 1;
            in->last_used_ms = bb_time_mono_ms();
            r->opens++;
            *out = in;
        }
        pthread_cond_broadcast(&r->cv);
        break;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void bb_instances_ref(struct bb_instances *r, struct bb_instance *in)
{
    pthread_mutex_lock(&r->mu);
    in->refs++;
    pthread_mutex_unlock(&r->mu);
}

void bb_instances_release(struct bb_instances *r, struct bb_instance *in)
{
    if (!r || !in) return;
    pthread_mutex_lock(&r->mu);
    if (in->refs) in->refs--;
    in->last_used_ms = bb_time_mono_ms();
    if (!in->refs) pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

int bb_instances_remove(struct bb_instances *r, const char *key, uint64_t wait_ms,
                        int (*fn)(void *arg, const char *key), void *arg)
{
    size_t klen = key ? strlen(key) : 0;
    if (!r || klen == 0 || klen > BB_INSTANCES_MAX_KEY) return BB_EINVAL;
    uint64_t deadline = bb_time_mono_ms() + wait_ms;
    struct bb_instance *in = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        in = r->list;
        while (in && strcmp(in->key, key) != 0)
            in = in->next;
        if (!in || (in->st == INST_READY && in->refs == 0)) break;
        if (bb_time_mono_ms() >= deadline) {
            pthread_mutex_unlock(&r->mu);
            return BB_EBUSY;
        }
        wait_change(r);
    }
    if (!in) { /* not open: a placeholder keeps acquirers waiting while fn runs */
        in = calloc(1, sizeof *in);
        if (!in) {
            pthread_mutex_unlock(&r->mu);
            return BB_ENOMEM;
        }
        memcpy(in->key, key, klen + 1);
        in->next = r->list;
        r->list = in;
        r->n++;
    } else {
        void *obj = in->obj;
        in->st = INST_CLOSING;
        pthread_mutex_unlock(&r->mu);
        r->ops.close(r->ctx, in->key, obj, "removed");
        pthread_mutex_lock(&r->mu);
        in->obj = NULL;
        r->closes++;
    }
    in->st = INST_CLOSING;
    pthread_mutex_unlock(&r->mu);
    int rc = fn ? fn(arg, key) : 0;
    pthread_mutex_lock(&r->mu);
    unlink_inst(r, in);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(in);
    return rc;
}

size_t bb_instances_evict(struct bb_instances *r, uint64_t min_idle_ms)
{
    size_t n = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        struct bb_instance *v = pick_victim(r, min_idle_ms);
        pthread_mutex_unlock(&r->mu);
        if (!v) break;
        if (r->ops.close_start)
            r->ops.close_start(r->ctx, v, v->obj, "idle");
        else
            close_victim(r, v, "idle");
        n++;
    }
    return n;
}

void bb_instances_stats(struct bb_instances *r, struct bb_instances_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->mu);
    out->open = r->n;
    for (struct bb_instance *in = r->list; in; in = in->next)
        out->active += in->refs > 0;
    out->opens = r->opens;
    out->closes = r->closes;
    out->rejections = r->rejections;
    pthread_mutex_unlock(&r->mu);
}

static void *evictor_main(void *arg)
{
    struct bb_instances *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        struct timespec ts;
        bb_time_deadline(CLOCK_MONOTONIC, r->lim.evict_interval_ms, &ts);
        int w = pthread_cond_timedwait(&r->ev_cv, &r->mu, &ts);
        if (r->stopping) break;
        if (w != ETIMEDOUT) continue;
        pthread_mutex_unlock(&r->mu);
        bb_instances_evict(r, r->lim.idle_ms);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int bb_instances_new(const struct bb_instances_ops *ops, void *ctx,
                     const struct bb_instances_limits *limits, struct bb_instances **out)
{
    if (!ops || !ops->close || !out) return BB_EINVAL;
    if (!ops->open && !ops->open_start) return BB_EINVAL;
    if (!ops->open_start != !ops->close_start) return BB_EINVAL;
    struct bb_instances *r = calloc(1, sizeof *r);
    if (!r) return BB_ENOMEM;
    r->ops = *ops;
    r->ctx = ctx;
    if (limits) r->lim = *limits;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->ev_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (r->lim.idle_ms && r->lim.evict_interval_ms) {
        if (pthread_create(&r->evictor, NULL, evictor_main, r) != 0) {
            pthread_cond_destroy(&r->ev_cv);
            pthread_cond_destroy(&r->cv);
            pthread_mutex_destroy(&r->mu);
            free(r);
            return BB_ENOMEM;
        }
        r->evictor_on = 1;
    }
    *out = r;
    return 0;
}

size_t bb_instances_close_all(struct bb_instances *r, uint64_t wait_ms)
{
    if (!r) return 0;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->ev_cv);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->evictor_on) pthread_join(r->evictor, NULL);
    r->evictor_on = 0;
    /* wait for references (bounded) and for opens/closes in progress (always: their threads still
     * use the record) */
    uint64_t deadline = bb_time_mono_ms() + wait_ms;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        int held = 0, moving = 0;
        for (struct bb_instance *in = r->list; in; in = in->next) {
            held |= in->refs > 0;
            moving |= in->st != INST_READY;
        }
        if (!moving && (!held || bb_time_mono_ms() >= deadline)) break;
        wait_change(r);
    }
    pthread_mutex_unlock(&r->mu);
    size_t n = 0;
    for (;;) { /* every idle one, as a victim (so it leaves the list like any eviction) */
        pthread_mutex_lock(&r->mu);
        struct bb_instance *v = NULL;
        for (struct bb_instance *in = r->list; in && !v; in = in->next)
            if (in->st == INST_READY && in->refs == 0) v = in;
        if (v) v->st = INST_CLOSING;
        pthread_mutex_unlock(&r->mu);
        if (!v) break;
        close_victim(r, v, "stop");
    }
    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

size_t bb_instances_free(struct bb_instances *r, uint64_t wait_ms)
{
    if (!r) return 0;
    size_t held = bb_instances_close_all(r, wait_ms);
    if (held) return held;
    pthread_cond_destroy(&r->ev_cv);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return 0;
}

/* ------------------------------------------------------------------ asynchronous acquire */

static struct bb_instance *find_locked(struct bb_instances *r, const char *key)
{
    struct bb_instance *in = r->list;
    while (in && strcmp(in->key, key) != 0)
        in = in->next;
    return in;
}

static void wq_push(struct bb_instances_waiter **head, struct bb_instances_waiter *w)
{
    w->next = NULL;
    while (*head)
        head = &(*head)->next;
    *head = w;
}

/* Runs callbacks (without r->mu); each waiter may be gone once its callback ran. */
static void complete_all(struct bb_instances_waiter *w, int rc, struct bb_instance *in)
{
    while (w) {
        struct bb_instances_waiter *next = w->next;
        w->cb(w, rc, in);
        w = next;
    }
}

static void reacquire_all(struct bb_instances *r, struct bb_instances_waiter *w)
{
    while (w) {
        struct bb_instances_waiter *next = w->next;
        bb_instances_acquire_async(r, w->key, w);
        w = next;
    }
}

void bb_instances_acquire_async(struct bb_instances *r, const char *key,
                                struct bb_instances_waiter *w)
{
    if (!w || !w->cb) return;
    size_t klen = key ? strlen(key) : 0;
    if (!r || klen == 0 || klen > BB_INSTANCES_MAX_KEY || !r->ops.open_start) {
        w->cb(w, BB_EINVAL, NULL);
        return;
    }
    memmove(w->key, key, klen + 1); /* key may be w->key (a waiter acquiring again) */
    w->next = NULL;
    struct bb_instance *got = NULL, *victim = NULL, *opening = NULL;
    int rc = 1; /* 1: queued */
    pthread_mutex_lock(&r->mu);
    struct bb_instance *in = r->stopping ? NULL : find_locked(r, w->key);
    if (r->stopping) {
        rc = BB_EUNAVAIL;
    } else if (in && in->st == INST_READY) {
        in->refs++;
        in->last_used_ms = bb_time_mono_ms();
        got = in;
        rc = 0;
    } else if (in) { /* being opened or closed: wait for the outcome */
        wq_push(&in->wq, w);
    } else if (r->lim.max_instances && r->n >= r->lim.max_instances) {
        int known = 0;
        for (struct bb_instances_waiter *p = r->pending; p && !known; p = p->next)
            known = strcmp(p->key, w->key) == 0;
        size_t closing = 0;
        for (struct bb_instance *x = r->list; x; x = x->next)
            closing += x->st == INST_CLOSING;
        /* one eviction per distinct key waiting for room */
        if (!known && closing < r->pending_keys + 1) victim = pick_victim(r, 0);
        if (known || victim || closing > 0) {
            if (!known) r->pending_keys++;
            wq_push(&r->pending, w);
        } else {
            r->rejections++;
            rc = BB_ELIMIT;
        }
    } else if (!(in = calloc(1, sizeof *in))) {
        rc = BB_ENOMEM;
    } else {
        memcpy(in->key, w->key, klen + 1);
        in->st = INST_OPENING;
        in->next = r->list;
        r->list = in;
        r->n++;
        in->wq = w;
        opening = in;
    }
    pthread_mutex_unlock(&r->mu);
    if (victim) r->ops.close_start(r->ctx, victim, victim->obj, "capacity");
    if (opening) r->ops.open_start(r->ctx, opening, opening->key);
    if (rc != 1) w->cb(w, rc, got);
}

void bb_instances_opened(struct bb_instances *r, struct bb_instance *in, int rc, void *obj)
{
    struct bb_instances_waiter *retry = NULL;
    pthread_mutex_lock(&r->mu);
    struct bb_instances_waiter *wq = in->wq;
    in->wq = NULL;
    if (rc == 0) {
        in->obj = obj;
        in->st = INST_READY;
        for (struct bb_instances_waiter *w = wq; w; w = w->next)
            in->refs++;
        in->last_used_ms = bb_time_mono_ms();
        r->opens++;
    } else { /* its place is free again: whoever waits for room tries again */
        unlink_inst(r, in);
        retry = r->pending;
        r->pending = NULL;
        r->pending_keys = 0;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (rc == 0) {
        complete_all(wq, 0, in);
        return;
    }
    free(in);
    complete_all(wq, rc, NULL);
    reacquire_all(r, retry);
}

void bb_instances_closed(struct bb_instances *r, struct bb_instance *in)
{
    pthread_mutex_lock(&r->mu);
    unlink_inst(r, in);
    r->closes++;
    struct bb_instances_waiter *wq = in->wq, *pending = r->pending;
    r->pending = NULL;
    r->pending_keys = 0;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(in);
    reacquire_all(r, pending); /* first those that asked for the room it leaves */
    reacquire_all(r, wq);
}

int bb_instances_try_acquire(struct bb_instances *r, const char *key, struct bb_instance **out)
{
    if (!r || !key || !out) return BB_EINVAL;
    int rc = BB_ENOTFOUND;
    pthread_mutex_lock(&r->mu);
    struct bb_instance *in = r->stopping ? NULL : find_locked(r, key);
    if (in && in->st == INST_READY) {
        in->refs++;
        in->last_used_ms = bb_time_mono_ms();
        *out = in;
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void bb_instances_shutdown(struct bb_instances *r)
{
    if (!r) return;
    struct bb_instances_waiter *all = NULL;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->ev_cv);
    pthread_cond_broadcast(&r->cv);
    for (struct bb_instance *in = r->list; in; in = in->next) {
        while (in->wq) {
            struct bb_instances_waiter *w = in->wq;
            in->wq = w->next;
            w->next = all;
            all = w;
        }
    }
    while (r->pending) {
        struct bb_instances_waiter *w = r->pending;
        r->pending = w->next;
        w->next = all;
        all = w;
    }
    r->pending_keys = 0;
    pthread_mutex_unlock(&r->mu);
    complete_all(all, BB_EUNAVAIL, NULL);
}

unsigned bb_instances_refs(struct bb_instances *r, const struct bb_instance *in)
{
    pthread_mutex_lock(&r->mu);
    unsigned n = in->refs;
    pthread_mutex_unlock(&r->mu);
    return n;
}
