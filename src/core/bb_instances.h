/* bb_instances.h — a registry of per-project instances (an open database, a child process, a
 * worker pool…), written once: single-flight open, reference counts, least-recently-used eviction
 * at capacity, idle eviction by a background thread, and an orderly close of everything at stop.
 *
 * The registry never holds its lock while calling ops: open and close may block (disk, spawning a
 * process). While one thread opens key K, other acquirers of K wait for that open's result
 * instead of opening again; a failed open is not remembered (the next acquire tries again).
 *
 * An instance is closed only when nobody holds a reference (requests in flight, subscribers…)
 * and ops->in_use (if given) says it is not busy in a way references do not show (e.g. clients
 * handed off to a child process).
 *
 * Asynchronous owners (an event loop that must not block: bunder-manager's child processes) give
 * ops->open_start / close_start instead and acquire with bb_instances_acquire_async: the registry
 * asks them to start an open or an eviction and they report the outcome later
 * (bb_instances_opened / bb_instances_closed); single flight, references, limits and eviction
 * stay the registry's.
 *
 * Threads: every function may be called from any thread except that bb_instances_free must not
 * race with the others. Errors follow bb_err.h.
 */
#ifndef BB_INSTANCES_H
#define BB_INSTANCES_H

#include <stddef.h>
#include <stdint.h>

#define BB_INSTANCES_MAX_KEY 128

struct bb_instances;
struct bb_instance;

struct bb_instances_ops {
    /* Opens key's instance: 0 with *obj, or a negative BB_E* code handed to the acquirers. in is
     * the registry's record (stable while the instance is open), for objects that release
     * themselves later (bb_instances_release needs it). */
    int (*open)(void *ctx, struct bb_instance *in, const char *key, void **obj);
    /* Closes it; why is "idle", "capacity" or "stop". */
    void (*close)(void *ctx, const char *key, void *obj, const char *why);
    /* Optional: nonzero while obj must stay open even without references. Asked under the
     * registry's lock: quick, and never calling back into the registry. */
    int (*in_use)(void *ctx, void *obj);
    /* Asynchronous registries (bb_instances_acquire_async) set both, open may then be NULL.
     * open_start begins opening key's instance and returns; the owner later calls
     * bb_instances_opened(in, …) exactly once. close_start begins closing an idle or capacity
     * victim (why: "idle" or "capacity"); the owner calls bb_instances_closed(in) once it is gone
     * — until then acquirers of its key wait. Both are called without the registry's lock, on the
     * thread that acquired or evicted. close is still what close_all and remove use (then it must
     * finish before it returns). */
    void (*open_start)(void *ctx, struct bb_instance *in, const char *key);
    void (*close_start)(void *ctx, struct bb_instance *in, void *obj, const char *why);
};

struct bb_instances_limits {
    size_t max_instances;       /* at it, the least recently used idle one is closed to make room;
                                   none idle: BB_ELIMIT. 0: no limit */
    uint64_t idle_ms;           /* close instances unused this long; 0: never */
    uint64_t evict_interval_ms; /* how often the background thread looks (with idle_ms) */
};

/* ops and ctx borrowed. Starts the background thread when idle_ms and evict_interval_ms are set. */
int bb_instances_new(const struct bb_instances_ops *ops, void *ctx,
                     const struct bb_instances_limits *limits, struct bb_instances **out);
/* Stops the background thread and refuses new acquires (BB_EUNAVAIL), waits up to wait_ms for
 * references to be released, then closes every instance nobody holds ("stop"). Returns how many
 * are still held: those are never closed under their holders, and the registry must then not be
 * freed (their releases still use it) — leave it to the process exit. */
size_t bb_instances_close_all(struct bb_instances *r, uint64_t wait_ms);
/* bb_instances_close_all, then frees the registry when nothing is held (else leaves it, see
 * above). Returns what close_all returned. */
size_t bb_instances_free(struct bb_instances *r, uint64_t wait_ms);

/* Finds or opens key's instance and takes a reference: 0 with *out. BB_EINVAL (empty or too long
 * key), BB_ELIMIT (at capacity, none idle), BB_EUNAVAIL (stopping), or open's error. */
int bb_instances_acquire(struct bb_instances *r, const char *key, struct bb_instance **out);
/* Takes one more reference on an instance already held (e.g. a stream outliving its request). */
void bb_instances_ref(struct bb_instances *r, struct bb_instance *in);
/* Drops a reference; the instance stays open (idle) until evicted. */
void bb_instances_release(struct bb_instances *r, struct bb_instance *in);

/* ------------------------------------------------------------------ asynchronous acquire */

struct bb_instances_waiter;
/* rc 0: in is open and one reference is held for the waiter; else in is NULL. */
typedef void (*bb_instances_cb)(struct bb_instances_waiter *w, int rc, struct bb_instance *in);

/* The caller's record of one asynchronous acquire, alive until its callback has run. */
struct bb_instances_waiter {
    bb_instances_cb cb;                 /* set by the caller */
    void *arg;                          /* the caller's */
    struct bb_instances_waiter *next;   /* the registry's */
    char key[BB_INSTANCES_MAX_KEY + 1]; /* the registry's */
};

/* Finds or opens key's instance without blocking. w->cb runs exactly once: before this returns
 * when the instance is ready or on an error, else on the thread that reports the open (or the
 * eviction it waited for) finished. At capacity the least recently used idle instance is asked to
 * close (close_start) and the acquire waits for it; with none idle and none closing: BB_ELIMIT.
 * Errors as bb_instances_acquire (BB_EINVAL also when ops has no open_start). */
void bb_instances_acquire_async(struct bb_instances *r, const char *key,
                                struct bb_instances_waiter *w);
/* An open started by open_start finished: rc 0 with obj (the waiters get references), or the
 * error every waiter gets (the record is dropped; nothing is remembered). */
void bb_instances_opened(struct bb_instances *r, struct bb_instance *in, int rc, void *obj);
/* An eviction started by close_start finished: the record goes, its waiters acquire again. */
void bb_instances_closed(struct bb_instances *r, struct bb_instance *in);
/* Takes a reference on key's instance only when it is open and ready: 0 with *out, else
 * BB_ENOTFOUND. Never opens, never waits (a fast path for other threads). */
int bb_instances_try_acquire(struct bb_instances *r, const char *key, struct bb_instance **out);
/* Refuses new acquires (BB_EUNAVAIL) and fails every waiting one with BB_EUNAVAIL; closes
 * nothing. An asynchronous owner then ends its objects, reports the opens and evictions in
 * progress, and frees the registry (bb_instances_free closes what is left with ops->close). */
void bb_instances_shutdown(struct bb_instances *r);
/* References held on in now. */
unsigned bb_instances_refs(struct bb_instances *r, const struct bb_instance *in);

void *bb_instance_obj(const struct bb_instance *in);
const char *bb_instance_key(const struct bb_instance *in);

/* Removes key for good (its project was deleted): acquirers of key wait meanwhile; the instance,
 * if open, is closed once its references are released (waiting up to wait_ms, else BB_EBUSY and
 * nothing changes), then fn(arg, key) runs (e.g. deletes its files) with no instance of key open
 * or opening; its result is returned. 0 also when key was not open. */
int bb_instances_remove(struct bb_instances *r, const char *key, uint64_t wait_ms,
                        int (*fn)(void *arg, const char *key), void *arg);

/* Closes instances idle for at least min_idle_ms (0: every unused one); with close_start, asks
 * for their close (they stay, closing, until bb_instances_closed). Returns how many. */
size_t bb_instances_evict(struct bb_instances *r, uint64_t min_idle_ms);

struct bb_instances_stats {
    size_t open;   /* instances open (or opening) */
    size_t active; /* of those, with references */
    uint64_t opens, closes, rejections;
};
void bb_instances_stats(struct bb_instances *r, struct bb_instances_stats *out);

#endif
