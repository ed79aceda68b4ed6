/* bb_pool.h — bounded worker pool for blocking work, results handed back to a libuv loop.
 *
 * A fixed set of threads runs queued jobs. work(arg) runs on a worker thread; once it returns,
 * done(arg, status) runs on the loop thread (status 0). The queue bound makes overload visible:
 * bb_pool_submit returns BB_EBUSY instead of queueing without limit, and a caller (the HTTP
 * server) answers 503.
 *
 * Fairness: every job is queued under a key (bb_pool_submit_key; bb_pool_submit uses the key "").
 * Jobs of one key run in FIFO order; keys are served round-robin, one job each per turn, and a key
 * that had nothing queued is served next. So a key with many slow jobs queued (one project
 * running expensive scans) delays another key's job by at most the jobs already running. A key
 * may hold at most max_per_key waiting jobs (bb_pool_set_max_per_key), so one key cannot fill the
 * whole queue either. The HTTP dispatcher uses the route's {projectId} as the key.
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

/* Longest key accepted by bb_pool_submit_key. */
#define BB_POOL_MAX_KEY 128

/* Waiting jobs one key may hold (0: max_queue, the default). Any thread. */
void bb_pool_set_max_per_key(struct bb_pool *p, size_t max_per_key);

/* Queues a job under key (copied; NULL is ""). Same contract as bb_pool_submit; BB_EBUSY also when
 * the key already holds max_per_key waiting jobs, BB_EINVAL when key is longer than
 * BB_POOL_MAX_KEY. */
int bb_pool_submit_key(struct bb_pool *p, const char *key, bb_pool_work_fn work,
                       bb_pool_done_fn done, void *arg);

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
