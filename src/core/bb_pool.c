#include "bb_pool.h"
#include "bb_err.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
    bb_pool_work_fn work;
    bb_pool_done_fn done;
    void *arg;
    struct job *next;
};

struct bb_pool {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail; /* waiting jobs */
    struct job *done_head;   /* finished jobs, LIFO; reversed when drained */
    size_t queued, max_queue, pending;
    int stopping;
    int nthreads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    struct bb_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct job *j = p->head;
        if (!j) { /* stopping and nothing left */
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        p->queued--;
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

int bb_pool_submit(struct bb_pool *p, bb_pool_work_fn work, bb_pool_done_fn done, void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (!j) return BB_ENOMEM;
    j->work = work, j->done = done, j->arg = arg, j->next = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = p->stopping ? BB_ECLOSED : p->queued >= p->max_queue ? BB_EBUSY : 0;
    if (rc == 0) {
        if (p->tail) p->tail->next = j;
        else p->head = j;
        p->tail = j;
        p->queued++;
        p->pending++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc) free(j);
    return rc;
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
