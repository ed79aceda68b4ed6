/* bb_pool.h — bounded worker pool for blocking work, results handed back to a libuv loop.
 *
 * A fixed set of threads pops jobs from a bounded FIFO. work(arg) runs on a worker thread; once it
 * returns, done(arg, status) runs on the loop thread (status 0). The queue bound makes overload
 * visible: bb_pool_submit returns BB_EBUSY instead of queueing without limit, and a caller (the
 * HTTP server) answers 503.
 *
 * Threading: bb_pool_new, bb_pool_submit and bb_pool_free must be called on the loop thread.
 * bb_pool_free runs every job already queued to completion (work then done) before it returns, so
 * a drain never loses accepted work.
 */
#ifndef BB_POOL_H
#define BB_POOL_H

#include <stddef.h>
#include <uv.h>

struct bb_pool;

typedef void (*bb_pool_work_fn)(void *arg);
typedef void (*bb_pool_done_fn)(void *arg, int status);

/* Creates a pool of nthreads (>= 1) threads with at most max_queue jobs waiting (>= 1).
 * *out is owned by the caller (bb_pool_free). Returns 0, BB_EINVAL or BB_ENOMEM. */
int bb_pool_new(uv_loop_t *loop, int nthreads, size_t max_queue, struct bb_pool **out);

/* Queues a job. done may be NULL. Returns 0, or BB_EBUSY when the queue is full, or BB_ECLOSED
 * when the pool is shutting down; on failure neither callback is ever called. arg is borrowed by
 * the pool until done runs. */
int bb_pool_submit(struct bb_pool *p, bb_pool_work_fn work, bb_pool_done_fn done, void *arg);

/* Number of jobs queued or running (approximate outside the loop thread). */
size_t bb_pool_pending(struct bb_pool *p);

/* Finishes queued and running jobs (calling their done callbacks), joins the threads and frees
 * the pool. Its uv handle is closed; run the loop once more afterwards to release it. */
void bb_pool_free(struct bb_pool *p);

#endif
