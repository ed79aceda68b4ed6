/* bb_pool.c — see bb_pool.h.
 *
 * Waiting jobs live in per-key FIFO queues (struct kq). A queue exists only while it holds jobs:
 * it is then in a hash table (lookup by key) and in a circular list of active queues. Workers
 * serve that circle round-robin, one job per queue per turn: `last` is the queue served last and
 * the next job comes from last->next. A queue that becomes active is linked right after `last`,
 * so it is served next — a key with one job waits for at most the jobs already running. */
#include "bb_pool.h"
#include "bb_err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
    bb_pool_work_fn work;
    bb_pool_done_fn done;
    void *arg;
    struct job *next;
};

struct kq {
    struct job *head, *tail;
    size_t n;
    struct kq *prev, *next; /* circle of active queues */
    struct kq *hnext;       /* hash chain */
    unsigned hash;
    char key[BB_POOL_MAX_KEY + 1];
};

#define KQ_BUCKETS 256

struct bb_pool {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct kq *last;                /* active queue served last; NULL when nothing waits */
    struct kq *buckets[KQ_BUCKETS]; /* active queues by key */
    struct job *done_head;          /* finished jobs, LIFO; reversed when drained */
    size_t queued, max_queue, max_per_key, pending;
    int stopping;
    int nthreads;
    pthread_t *threads;
};

static unsigned key_hash(const char *k)
{
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

/* Pops the next job round-robin; p->mu held, p->queued > 0. */
static struct job *take_job(struct bb_pool *p)
{
    struct kq *q = p->last->next;
    struct job *j = q->head;
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    q->n--;
    p->queued--;
    if (q->n > 0) {
        p->last = q;
        return j;
    }
    /* empty: unlink from the circle and the hash table, free */
    if (q->next == q) {
        p->last = NULL;
    } else {
        q->prev->next = q->next;
        q->next->prev = q->prev;
        p->last = q->prev;
    }
    struct kq **pp = &p->buckets[q->hash % KQ_BUCKETS];
    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
    free(q);
    return j;
}

static void *worker_main(void *arg)
{
    struct bb_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->queued && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->queued) { /* stopping and nothing left */
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        struct job *j = take_job(p);
        pthread_mutex_unlock(&p->mu);

        j->work(j->arg);

        pthread_mutex_lock(&p->mu);
        j->next = p->done_head;
        p->done_head = j;
        pthread_mutex_unlock(&p->mu);
        uv_async_send(&p->async);
    }
}

static void run_done(struct bb_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct job *list = p->done_head, *rev = NULL;
    p->done_head = NULL;
    pthread_mutex_unlock(&p->mu);
    while (list) { /* restore completion order */
        struct job *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct job *n = rev->next;
        p->pending--;
        if (rev->done) rev->done(rev->arg, 0);
        free(rev);
        rev = n;
    }
}

static void on_async(uv_async_t *h)
{
    run_done(h->data);
}

int bb_pool_new(uv_loop_t *loop, int nthreads, size_t max_queue, struct bb_pool **out)
{
    if (nthreads < 1 || max_queue < 1) return BB_EINVAL;
    struct bb_pool *p = calloc(1, sizeof *p);
    if (!p) return BB_ENOMEM;
    p->loop = loop;
    p->max_queue = max_queue;
    p->max_per_key = max_queue;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) goto fail;
    if (uv_async_init(loop, &p->async, on_async) != 0) goto fail;
    p->async.data = p;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            p->nthreads = i;
            bb_pool_free(p);
            return BB_ENOMEM;
        }
    }
    p->nthreads = nthreads;
    *out = p;
    return 0;
fail:
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    return BB_ENOMEM;
}

void bb_pool_set_max_per_key(struct bb_pool *p, size_t max_per_key)
{
    pthread_mutex_lock(&p->mu);
    p->max_per_key = max_per_key ? max_per_key : p->max_queue;
    pthread_mutex_unlock(&p->mu);
}

int bb_pool_submit_key(struct bb_pool *p, const char *key, bb_pool_work_fn work,
                       bb_pool_done_fn done, void *arg)
{
    if (!key) key = "";
    size_t klen = strnlen(key, BB_POOL_MAX_KEY + 1);
    if (klen > BB_POOL_MAX_KEY) return BB_EINVAL;
    struct job *j = malloc(sizeof *j);
    if (!j) return BB_ENOMEM;
    j->work = work, j->done = done, j->arg = arg, j->next = NULL;
    unsigned h = key_hash(key);
    struct kq *fresh = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = p->stopping ? BB_ECLOSED : p->queued >= p->max_queue ? BB_EBUSY : 0;
    struct kq *q = NULL;
    if (rc == 0) {
        for (q = p->buckets[h % KQ_BUCKETS]; q; q = q->hnext)
            if (q->hash == h && strcmp(q->key, key) == 0) break;
        if (q && q->n >= p->max_per_key) rc = BB_EBUSY;
    }
    if (rc == 0 && !q) {
        /* allocating under the lock keeps the bookkeeping simple; it is one small calloc */
        q = fresh = calloc(1, sizeof *q);
        if (!q) rc = BB_ENOMEM;
    }
    if (rc == 0) {
        if (fresh) {
            memcpy(q->key, key, klen + 1);
            q->hash = h;
            q->hnext = p->buckets[h % KQ_BUCKETS];
            p->buckets[h % KQ_BUCKETS] = q;
            if (!p->last) {
                q->next = q->prev = q;
                p->last = q; /* the next pick is last->next: q itself */
            } else { /* right after the queue served last: served next */
                q->prev = p->last;
                q->next = p->last->next;
                p->last->next->prev = q;
                p->last->next = q;
            }
        }
        if (q->tail) q->tail->next = j;
        else q->head = j;
        q->tail = j;
        q->n++;
        p->queued++;
        p->pending++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc) free(j);
    return rc;
}

int bb_pool_submit(struct bb_pool *p, bb_pool_work_fn work, bb_pool_done_fn done, void *arg)
{
    return bb_pool_submit_key(p, NULL, work, done, arg);
}

size_t bb_pool_pending(struct bb_pool *p)
{
    return p->pending;
}

static void on_close_free(uv_handle_t *h)
{
    free(h->data);
}

void bb_pool_free(struct bb_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    run_done(p);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    uv_close((uv_handle_t *)&p->async, on_close_free);
}
