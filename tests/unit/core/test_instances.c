/* bb_instances: single-flight open under concurrency, failed opens not cached, LRU eviction at
 * capacity, BB_ELIMIT when everything is in use, in_use pins, idle eviction by the background
 * thread, references across eviction, everything closed at stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_instances.h"
#include "bb_time.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct obj {
    char key[32];
    int pinned;
};

static atomic_int opens, closes, fail_next, open_sleep_ms;
static char last_closed[32], last_why[16];

static int t_open(void *ctx, struct bb_instance *in, const char *key, void **out)
{
    (void)ctx;
    (void)in;
    if (open_sleep_ms) bb_time_sleep_ms((uint64_t)open_sleep_ms);
    if (atomic_exchange(&fail_next, 0)) return BB_EIO;
    struct obj *o = calloc(1, sizeof *o);
    snprintf(o->key, sizeof o->key, "%s", key);
    atomic_fetch_add(&opens, 1);
    *out = o;
    return 0;
}

static void t_close(void *ctx, const char *key, void *obj, const char *why)
{
    (void)ctx;
    struct obj *o = obj;
    assert_string_equal(o->key, key);
    snprintf(last_closed, sizeof last_closed, "%s", key);
    snprintf(last_why, sizeof last_why, "%s", why);
    atomic_fetch_add(&closes, 1);
    free(o);
}

static int t_in_use(void *ctx, void *obj)
{
    (void)ctx;
    return ((struct obj *)obj)->pinned;
}

static const struct bb_instances_ops ops = {.open = t_open, .close = t_close, .in_use = t_in_use};

static void reset(void)
{
    opens = closes = fail_next = open_sleep_ms = 0;
}

struct racer {
    struct bb_instances *r;
    struct bb_instance *got;
    int rc;
};

static void *race(void *p)
{
    struct racer *x = p;
    x->rc = bb_instances_acquire(x->r, "p1", &x->got);
    return NULL;
}

static void test_single_flight(void **state)
{
    (void)state;
    reset();
    struct bb_instances *r;
    assert_int_equal(bb_instances_new(&ops, NULL, NULL, &r), 0);
    open_sleep_ms = 50;
    struct racer x[24];
    pthread_t t[24];
    for (int i = 0; i < 24; i++) {
        x[i] = (struct racer){.r = r};
        pthread_create(&t[i], NULL, race, &x[i]);
    }
    for (int i = 0; i < 24; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(opens, 1);
    for (int i = 0; i < 24; i++) {
        assert_int_equal(x[i].rc, 0);
        assert_ptr_equal(x[i].got, x[0].got);
    }
    struct bb_instances_stats st;
    bb_instances_stats(r, &st);
    assert_int_equal(st.open, 1);
    assert_int_equal(st.active, 1);
    for (int i = 0; i < 24; i++)
        bb_instances_release(r, x[i].got);
    bb_instances_stats(r, &st);
    assert_int_equal(st.active, 0);
    bb_instances_free(r, 1000);
    assert_int_equal(closes, 1);
    assert_string_equal(last_why, "stop");
}

static void test_failed_open_not_cached(void **state)
{
    (void)state;
    reset();
    struct bb_instances *r;
    struct bb_instance *in;
    assert_int_equal(bb_instances_new(&ops, NULL, NULL, &r), 0);
    fail_next = 1;
    assert_int_equal(bb_instances_acquire(r, "p1", &in), BB_EIO);
    assert_int_equal(bb_instances_acquire(r, "p1", &in), 0);
    assert_string_equal(bb_instance_key(in), "p1");
    assert_string_equal(((struct obj *)bb_instance_obj(in))->key, "p1");
    bb_instances_release(r, in);
    char big[BB_INSTANCES_MAX_KEY + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(bb_instances_acquire(r, big, &in), BB_EINVAL);
    assert_int_equal(bb_instances_acquire(r, "", &in), BB_EINVAL);
    bb_instances_free(r, 1000);
}

static void test_capacity_lru_and_limit(void **state)
{
    (void)state;
    reset();
    struct bb_instances *r;
    struct bb_instances_limits lim = {.max_instances = 2};
    struct bb_instance *a, *b, *c, *d;
    assert_int_equal(bb_instances_new(&ops, NULL, &lim, &r), 0);
    assert_int_equal(bb_instances_acquire(r, "a", &a), 0);
    bb_time_sleep_ms(2);
    assert_int_equal(bb_instances_acquire(r, "b", &b), 0);
    /* both in use: a third is refused */
    assert_int_equal(bb_instances_acquire(r, "c", &c), BB_ELIMIT);
    bb_instances_release(r, a);
    bb_time_sleep_ms(2);
    bb_instances_release(r, b);
    /* a is the least recently used: closed to make room */
    assert_int_equal(bb_instances_acquire(r, "c", &c), 0);
    assert_string_equal(last_closed, "a");
    assert_string_equal(last_why, "capacity");
    /* an idle but pinned instance is not a victim */
    ((struct obj *)bb_instance_obj(c))->pinned = 1;
    bb_instances_release(r, c);
    assert_int_equal(bb_instances_acquire(r, "d", &d), 0);
    assert_string_equal(last_closed, "b");
    struct bb_instance *e;
    assert_int_equal(bb_instances_acquire(r, "e", &e), BB_ELIMIT); /* c pinned, d held */
    struct bb_instances_stats st;
    bb_instances_stats(r, &st);
    assert_int_equal(st.rejections, 2);
    ((struct obj *)bb_instance_obj(c))->pinned = 0;
    bb_instances_release(r, d);
    bb_instances_free(r, 1000);
    assert_int_equal(opens, closes);
}

static void test_idle_eviction_thread(void **state)
{
    (void)state;
    reset();
    struct bb_instances *r;
    struct bb_instances_limits lim = {.idle_ms = 50, .evict_interval_ms = 20};
    struct bb_instance *a, *b;
    assert_int_equal(bb_instances_new(&ops, NULL, &lim, &r), 0);
    assert_int_equal(bb_instances_acquire(r, "a", &a), 0);
    assert_int_equal(bb_instances_acquire(r, "b", &b), 0);
    bb_instances_release(r, a);
    /* b keeps its reference: only a goes */
    for (int i = 0; i < 200 && closes < 1; i++)
        bb_time_sleep_ms(10);
    assert_int_equal(closes, 1);
    assert_string_equal(last_closed, "a");
    assert_string_equal(last_why, "idle");
    bb_time_sleep_ms(150);
    assert_int_equal(closes, 1);
    /* a second reference outlives the first */
    bb_instances_ref(r, b);
    bb_instances_release(r, b);
    bb_time_sleep_ms(150);
    assert_int_equal(closes, 1);
    bb_instances_release(r, b);
    for (int i = 0; i < 200 && closes < 2; i++)
        bb_time_sleep_ms(10);
    assert_int_equal(closes, 2);
    /* reopened on demand */
    assert_int_equal(bb_instances_acquire(r, "a", &a), 0);
    assert_int_equal(opens, 3);
    bb_instances_release(r, a);
    assert_int_equal(bb_instances_evict(r, 0), 1);
    bb_instances_free(r, 1000);
}

static void *hold_then_release(void *p)
{
    struct racer *x = p;
    bb_time_sleep_ms(100);
    bb_instances_release(x->r, x->got);
    return NULL;
}

static void test_stop_waits_for_references(void **state)
{
    (void)state;
    reset();
    struct bb_instances *r;
    assert_int_equal(bb_instances_new(&ops, NULL, NULL, &r), 0);
    struct racer x = {.r = r};
    assert_int_equal(bb_instances_acquire(r, "p1", &x.got), 0);
    pthread_t t;
    pthread_create(&t, NULL, hold_then_release, &x);
    uint64_t t0 = bb_time_mono_ms();
    assert_int_equal(bb_instances_free(r, 5000), 0); /* returns once the holder let go */
    assert_true(bb_time_mono_ms() - t0 >= 90);
    pthread_join(t, NULL);
    assert_int_equal(closes, 1);
}

/* A holder that never lets go: stop closes the idle ones, never the held one, and says so. */
static void test_stop_never_closes_a_held_instance(void **state)
{
    (void)state;
    reset();
    struct bb_instances *r;
    struct bb_instance *held, *idle;
    assert_int_equal(bb_instances_new(&ops, NULL, NULL, &r), 0);
    assert_int_equal(bb_instances_acquire(r, "held", &held), 0);
    assert_int_equal(bb_instances_acquire(r, "idle", &idle), 0);
    bb_instances_release(r, idle);
    assert_int_equal(bb_instances_close_all(r, 50), 1);
    assert_int_equal(closes, 1);
    assert_string_equal(last_closed, "idle");
    struct bb_instance *again;
    assert_int_equal(bb_instances_acquire(r, "idle", &again), BB_EUNAVAIL);
    /* the holder finishes later: then everything can go */
    bb_instances_release(r, held);
    assert_int_equal(bb_instances_free(r, 1000), 0);
    assert_int_equal(closes, 2);
}

static int removed_calls;
static int remove_files(void *arg, const char *key)
{
    (void)arg;
    assert_string_equal(key, "gone");
    removed_calls++;
    return 0;
}

static void test_remove(void **state)
{
    (void)state;
    reset();
    removed_calls = 0;
    struct bb_instances *r;
    struct bb_instance *in;
    assert_int_equal(bb_instances_new(&ops, NULL, NULL, &r), 0);
    /* held: BB_EBUSY after the wait, nothing changes */
    assert_int_equal(bb_instances_acquire(r, "gone", &in), 0);
    assert_int_equal(bb_instances_remove(r, "gone", 30, remove_files, NULL), BB_EBUSY);
    assert_int_equal(removed_calls, 0);
    assert_int_equal(closes, 0);
    /* released: closed, then the files go */
    bb_instances_release(r, in);
    assert_int_equal(bb_instances_remove(r, "gone", 1000, remove_files, NULL), 0);
    assert_int_equal(closes, 1);
    assert_string_equal(last_why, "removed");
    assert_int_equal(removed_calls, 1);
    struct bb_instances_stats st;
    bb_instances_stats(r, &st);
    assert_int_equal(st.open, 0);
    /* not open at all: the files still go; a later acquire opens afresh */
    assert_int_equal(bb_instances_remove(r, "gone", 0, remove_files, NULL), 0);
    assert_int_equal(removed_calls, 2);
    assert_int_equal(bb_instances_acquire(r, "gone", &in), 0);
    assert_int_equal(opens, 2);
    bb_instances_release(r, in);
    bb_instances_free(r, 1000);
}

/* ------------------------------------------------------------------ asynchronous owners */

/* The owner records what it was asked to start; the test plays the loop and reports outcomes. */
struct a_owner {
    struct bb_instance *opening[8];
    int nopening;
    struct bb_instance *closing[8];
    void *closing_obj[8];
    char closing_why[8][16];
    int nclosing;
};

static void a_open_start(void *ctx, struct bb_instance *in, const char *key)
{
    struct a_owner *o = ctx;
    (void)key;
    o->opening[o->nopening++] = in;
}

static void a_close_start(void *ctx, struct bb_instance *in, void *obj, const char *why)
{
    struct a_owner *o = ctx;
    o->closing_obj[o->nclosing] = obj;
    snprintf(o->closing_why[o->nclosing], sizeof o->closing_why[0], "%s", why);
    o->closing[o->nclosing++] = in;
}

static void a_close(void *ctx, const char *key, void *obj, const char *why)
{
    (void)ctx;
    (void)why;
    assert_string_equal(((struct obj *)obj)->key, key);
    free(obj);
}

static const struct bb_instances_ops a_ops = {.close = a_close,
                                              .in_use = t_in_use,
                                              .open_start = a_open_start,
                                              .close_start = a_close_start};

struct a_wait {
    struct bb_instances_waiter w;
    int done, rc;
    struct bb_instance *in;
};

static void a_cb(struct bb_instances_waiter *w, int rc, struct bb_instance *in)
{
    struct a_wait *a = (struct a_wait *)w;
    a->done++;
    a->rc = rc;
    a->in = in;
}

static void *a_obj(const char *key)
{
    struct obj *o = calloc(1, sizeof *o);
    snprintf(o->key, sizeof o->key, "%s", key);
    return o;
}

/* single flight: 20 acquires of one key start one open and all complete when it is reported;
 * a failed open completes everyone with its error and is not remembered; at capacity the least
 * recently used idle instance is asked to close and the acquire waits for it (one eviction for
 * any number of waiters of one key); with everything held: BB_ELIMIT; shutdown fails waiters */
static void test_async_owner(void **state)
{
    (void)state;
    struct a_owner o;
    memset(&o, 0, sizeof o);
    struct bb_instances *r;
    struct bb_instances_limits lim = {.max_instances = 2};
    assert_int_equal(bb_instances_new(&a_ops, &o, &lim, &r), 0);
    struct bb_instance *dummy;
    assert_int_equal(bb_instances_acquire(r, "a", &dummy), BB_EINVAL); /* no blocking open */

    struct a_wait w[20];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 20; i++) {
        w[i].w.cb = a_cb;
        bb_instances_acquire_async(r, "a", &w[i].w);
    }
    assert_int_equal(o.nopening, 1);
    for (int i = 0; i < 20; i++) assert_int_equal(w[i].done, 0);
    assert_int_equal(bb_instances_try_acquire(r, "a", &dummy), BB_ENOTFOUND); /* not ready */
    bb_instances_opened(r, o.opening[0], 0, a_obj("a"));
    for (int i = 0; i < 20; i++) {
        assert_int_equal(w[i].done, 1);
        assert_int_equal(w[i].rc, 0);
        assert_ptr_equal(w[i].in, o.opening[0]);
    }
    struct bb_instance *a = o.opening[0];
    assert_int_equal(bb_instances_refs(r, a), 20);
    for (int i = 0; i < 20; i++) bb_instances_release(r, a);
    /* ready: completes at once; try_acquire takes a reference too */
    memset(w, 0, sizeof w);
    w[0].w.cb = a_cb;
    bb_instances_acquire_async(r, "a", &w[0].w);
    assert_int_equal(w[0].done, 1);
    assert_int_equal(bb_instances_try_acquire(r, "a", &dummy), 0);
    bb_instances_release(r, dummy);
    bb_instances_release(r, a);

    /* a failed open: every waiter gets the error, the next acquire opens again */
    w[0].w.cb = w[1].w.cb = a_cb;
    w[0].done = 0;
    bb_instances_acquire_async(r, "b", &w[0].w);
    bb_instances_acquire_async(r, "b", &w[1].w);
    assert_int_equal(o.nopening, 2);
    bb_instances_opened(r, o.opening[1], BB_EIO, NULL);
    assert_int_equal(w[0].rc, BB_EIO);
    assert_int_equal(w[1].rc, BB_EIO);
    assert_null(w[0].in);
    memset(w, 0, sizeof w);
    w[0].w.cb = a_cb;
    bb_instances_acquire_async(r, "b", &w[0].w);
    assert_int_equal(o.nopening, 3);
    bb_instances_opened(r, o.opening[2], 0, a_obj("b"));
    struct bb_instance *b = w[0].in;
    /* full (a idle, b held): three waiters of c ask for one eviction, of a (the idle one) */
    for (int i = 1; i <= 3; i++) {
        w[i].w.cb = a_cb;
        bb_instances_acquire_async(r, "c", &w[i].w);
    }
    assert_int_equal(o.nclosing, 1);
    assert_ptr_equal(o.closing[0], a);
    assert_string_equal(o.closing_why[0], "capacity");
    /* an acquire of the key being closed waits for the close, then opens it again */
    w[4].w.cb = a_cb;
    bb_instances_acquire_async(r, "a", &w[4].w);
    assert_int_equal(w[4].done, 0);
    free(o.closing_obj[0]);
    bb_instances_closed(r, a); /* c gets the room first (its waiters were first) */
    assert_int_equal(o.nopening, 4);
    bb_instances_opened(r, o.opening[3], 0, a_obj("c"));
    for (int i = 1; i <= 3; i++) assert_int_equal(w[i].rc, 0);
    /* a waits for room: b and c are held, nothing idle, nothing closing → BB_ELIMIT */
    assert_int_equal(w[4].done, 1);
    assert_int_equal(w[4].rc, BB_ELIMIT);
    struct bb_instances_stats st;
    bb_instances_stats(r, &st);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.rejections, 1);
    /* idle eviction asks the owner too */
    for (int i = 1; i <= 3; i++) bb_instances_release(r, w[i].in);
    assert_int_equal(bb_instances_evict(r, 0), 1);
    assert_int_equal(o.nclosing, 2);
    assert_string_equal(o.closing_why[1], "idle");
    free(o.closing_obj[1]);
    bb_instances_closed(r, o.closing[1]);
    /* shutdown: waiters fail with BB_EUNAVAIL, new acquires too */
    memset(&w[5], 0, sizeof w[5]);
    w[5].w.cb = a_cb;
    bb_instances_acquire_async(r, "d", &w[5].w);
    bb_instances_shutdown(r);
    assert_int_equal(w[5].rc, BB_EUNAVAIL);
    bb_instances_opened(r, o.opening[o.nopening - 1], BB_ECLOSED, NULL);
    bb_instances_release(r, b);
    assert_int_equal(bb_instances_free(r, 0), 0); /* b closed with ops->close */
}

/* other threads take the fast path (try_acquire, refs, release) while the owner's thread opens,
 * evicts and closes: references keep an instance from eviction, nothing races (run under TSan) */
static atomic_int a_stop;
static void *a_worker(void *p)
{
    struct bb_instances *r = p;
    unsigned got = 0;
    while (!atomic_load(&a_stop)) {
        struct bb_instance *in;
        if (bb_instances_try_acquire(r, "a", &in) == 0) {
            assert_true(bb_instances_refs(r, in) >= 1);
            assert_string_equal(((struct obj *)bb_instance_obj(in))->key, "a");
            bb_instances_release(r, in);
            got++;
        }
    }
    return (void *)(uintptr_t)got;
}

static void test_async_owner_threads(void **state)
{
    (void)state;
    struct a_owner o;
    memset(&o, 0, sizeof o);
    struct bb_instances *r;
    assert_int_equal(bb_instances_new(&a_ops, &o, NULL, &r), 0);
    atomic_store(&a_stop, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, a_worker, r), 0);
    for (int round = 0; round < 200; round++) {
        o.nopening = o.nclosing = 0;
        struct a_wait w;
        memset(&w, 0, sizeof w);
        w.w.cb = a_cb;
        bb_instances_acquire_async(r, "a", &w.w);
        assert_int_equal(o.nopening, 1);
        bb_instances_opened(r, o.opening[0], 0, a_obj("a"));
        assert_int_equal(w.rc, 0);
        bb_instances_release(r, w.in);
        /* evict until the workers leave it unreferenced for a moment */
        while (bb_instances_evict(r, 0) == 0) {
        }
        assert_int_equal(o.nclosing, 1);
        free(o.closing_obj[0]);
        bb_instances_closed(r, o.closing[0]);
    }
    atomic_store(&a_stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(bb_instances_free(r, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_failed_open_not_cached),
        cmocka_unit_test(test_capacity_lru_and_limit),
        cmocka_unit_test(test_idle_eviction_thread),
        cmocka_unit_test(test_stop_waits_for_references),
        cmocka_unit_test(test_stop_never_closes_a_held_instance),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_async_owner),
        cmocka_unit_test(test_async_owner_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
