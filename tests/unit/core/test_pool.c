/* Worker pool: work runs off the loop thread, done runs on it, bound gives BB_EBUSY, free drains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_pool.h"

struct item {
    pthread_t loop_thread, work_thread, done_thread;
    int done_status;
    int done_calls;
    int sleep_ms;
    int *order;
    int *norder;
    int id;
};

static void work(void *arg)
{
    struct item *it = arg;
    it->work_thread = pthread_self();
    if (it->sleep_ms) usleep((useconds_t)it->sleep_ms * 1000);
}

static void done(void *arg, int status)
{
    struct item *it = arg;
    it->done_thread = pthread_self();
    it->done_status = status;
    it->done_calls++;
    if (it->order) it->order[(*it->norder)++] = it->id;
}

static void test_threads(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bb_pool *p;
    assert_int_equal(bb_pool_new(&loop, 4, 100, &p), 0);
    struct item items[50] = {0};
    for (int i = 0; i < 50; i++)
        assert_int_equal(bb_pool_submit(p, work, done, &items[i]), 0);
    while (bb_pool_pending(p) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(items[i].done_calls, 1);
        assert_int_equal(items[i].done_status, 0);
        assert_false(pthread_equal(items[i].work_thread, pthread_self()));
        assert_true(pthread_equal(items[i].done_thread, pthread_self()));
    }
    bb_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bound(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bb_pool *p;
    assert_int_equal(bb_pool_new(&loop, 1, 2, &p), 0);
    struct item slow = {.sleep_ms = 200}, a = {0}, b = {0}, c = {0};
    assert_int_equal(bb_pool_submit(p, work, done, &slow), 0);
    usleep(50000); /* the worker has taken `slow`; the queue is empty again */
    assert_int_equal(bb_pool_submit(p, work, done, &a), 0);
    assert_int_equal(bb_pool_submit(p, work, done, &b), 0);
    assert_int_equal(bb_pool_submit(p, work, done, &c), BB_EBUSY);
    /* free runs what was accepted to completion */
    bb_pool_free(p);
    assert_int_equal(slow.done_calls, 1);
    assert_int_equal(a.done_calls, 1);
    assert_int_equal(b.done_calls, 1);
    assert_int_equal(c.done_calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_fifo_single_thread(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bb_pool *p;
    assert_int_equal(bb_pool_new(&loop, 1, 100, &p), 0);
    int order[20], n = 0;
    struct item items[20] = {0};
    for (int i = 0; i < 20; i++) {
        items[i].id = i, items[i].order = order, items[i].norder = &n;
        assert_int_equal(bb_pool_submit(p, work, done, &items[i]), 0);
    }
    while (bb_pool_pending(p) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(order[i], i);
    bb_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void test_bad_args(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bb_pool *p;
    assert_int_equal(bb_pool_new(&loop, 0, 10, &p), BB_EINVAL);
    assert_int_equal(bb_pool_new(&loop, 1, 0, &p), BB_EINVAL);
    uv_loop_close(&loop);
}


/* One key with many slow jobs queued does not delay another key's single job beyond the job that
 * is already running; keys alternate; a key cannot hold more than max_per_key waiting jobs. */
static void test_fair_across_keys(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bb_pool *p;
    assert_int_equal(bb_pool_new(&loop, 1, 100, &p), 0);
    int order[16], norder = 0;
    struct item a[6], b = {.order = order, .norder = &norder, .id = 100};
    for (int i = 0; i < 6; i++)
        a[i] = (struct item){.sleep_ms = 60, .order = order, .norder = &norder, .id = i};
    assert_int_equal(bb_pool_submit_key(p, "projA", work, done, &a[0]), 0);
    usleep(20000); /* the worker runs a[0] */
    for (int i = 1; i < 6; i++)
        assert_int_equal(bb_pool_submit_key(p, "projA", work, done, &a[i]), 0);
    assert_int_equal(bb_pool_submit_key(p, "projB", work, done, &b), 0);
    while (bb_pool_pending(p) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(norder, 7);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 100); /* right after the job that was running */
    for (int i = 2; i < 7; i++)
        assert_int_equal(order[i], i - 1); /* projA's own order is kept */

    /* round-robin between two busy keys: a1 b1 a2 b2 ... */
    norder = 0;
    struct item x[4], y[4];
    struct item blocker = {.sleep_ms = 50};
    assert_int_equal(bb_pool_submit_key(p, "z", work, NULL, &blocker), 0);
    usleep(20000);
    for (int i = 0; i < 4; i++) {
        x[i] = (struct item){.order = order, .norder = &norder, .id = 10 + i};
        y[i] = (struct item){.order = order, .norder = &norder, .id = 20 + i};
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(bb_pool_submit_key(p, "x", work, done, &x[i]), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(bb_pool_submit_key(p, "y", work, done, &y[i]), 0);
    while (bb_pool_pending(p) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(norder, 8);
    int xs = 0, ys = 0;
    for (int i = 0; i < 8; i++) {
        if (order[i] < 20) xs++;
        else ys++;
        assert_true(xs - ys <= 1 && ys - xs <= 1); /* never two ahead */
    }

    /* per-key bound */
    bb_pool_set_max_per_key(p, 2);
    struct item s1 = {.sleep_ms = 80}, k[4] = {{0}};
    assert_int_equal(bb_pool_submit_key(p, "other", work, NULL, &s1), 0);
    usleep(20000);
    assert_int_equal(bb_pool_submit_key(p, "k", work, NULL, &k[0]), 0);
    assert_int_equal(bb_pool_submit_key(p, "k", work, NULL, &k[1]), 0);
    assert_int_equal(bb_pool_submit_key(p, "k", work, NULL, &k[2]), BB_EBUSY);
    assert_int_equal(bb_pool_submit_key(p, "k2", work, NULL, &k[3]), 0);
    char longkey[BB_POOL_MAX_KEY + 2];
    memset(longkey, 'q', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(bb_pool_submit_key(p, longkey, work, NULL, &k[2]), BB_EINVAL);
    bb_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_fair_across_keys),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_fifo_single_thread),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
