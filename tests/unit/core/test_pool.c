/* Worker pool: work runs off the loop thread, done runs on it, bound gives BB_EBUSY, free drains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_fifo_single_thread),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
