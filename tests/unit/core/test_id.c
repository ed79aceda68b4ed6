/* Unit tests for bb_id: uniqueness across threads, strict monotonicity, timestamp round trip,
 * validation, fork behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_id.h"

#define THREADS 4
#define PER_THREAD 25000

struct worker {
    char (*ids)[BB_ID_LEN + 1];
    size_t n;
    int ordered; /* 1 if this thread's own sequence was strictly increasing */
};

static void *gen(void *arg)
{
    struct worker *w = arg;
    w->ordered = 1;
    for (size_t i = 0; i < w->n; i++) {
        bb_id_new(w->ids[i]);
        if (i > 0 && strcmp(w->ids[i - 1], w->ids[i]) >= 0) w->ordered = 0;
    }
    return NULL;
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_unique_across_threads(void **state)
{
    (void)state;
    char(*all)[BB_ID_LEN + 1] = calloc(THREADS * PER_THREAD, sizeof *all);
    assert_non_null(all);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.ids = all + (size_t)i * PER_THREAD, .n = PER_THREAD};
        assert_int_equal(pthread_create(&t[i], NULL, gen, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_true(w[i].ordered);
    }
    for (size_t i = 0; i < THREADS * PER_THREAD; i++) {
        assert_int_equal(strlen(all[i]), BB_ID_LEN);
        assert_true(bb_id_is_valid(all[i]));
    }
    qsort(all, THREADS * PER_THREAD, sizeof *all, cmp_ids);
    for (size_t i = 1; i < THREADS * PER_THREAD; i++)
        assert_true(strcmp(all[i - 1], all[i]) < 0);
    free(all);
}

static void test_strictly_increasing(void **state)
{
    (void)state;
    char prev[BB_ID_LEN + 1], cur[BB_ID_LEN + 1];
    bb_id_new(prev);
    for (int i = 0; i < 200000; i++) {
        bb_id_new(cur);
        if (strcmp(prev, cur) >= 0) fail_msg("not increasing: %s then %s", prev, cur);
        memcpy(prev, cur, sizeof cur);
    }
}

static void test_timestamp_round_trip(void **state)
{
    (void)state;
    char id[BB_ID_LEN + 1];
    uint64_t before = wall_ms();
    bb_id_new(id);
    uint64_t after = wall_ms();
    uint64_t ms = 0;
    assert_int_equal(bb_id_timestamp_ms(id, &ms), 0);
    /* The generator may have reused a slightly later previous timestamp; allow a little slack. */
    assert_true(ms >= before);
    assert_true(ms <= after + 1000);
    assert_true(id[0] >= '0' && id[0] <= '7');

    /* Known value: the ULID specification's example id. */
    assert_int_equal(bb_id_timestamp_ms("01ARZ3NDEKTSV4RRFFQ69G5FAV", &ms), 0);
    assert_true(ms == UINT64_C(1469922850259));
    assert_int_equal(bb_id_timestamp_ms("01arz3ndektsv4rrffq69g5fav", &ms), 0);
    assert_true(ms == UINT64_C(1469922850259));
    /* Extremes. */
    assert_int_equal(bb_id_timestamp_ms("00000000000000000000000000", &ms), 0);
    assert_true(ms == 0);
    assert_int_equal(bb_id_timestamp_ms("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", &ms), 0);
    assert_true(ms == (UINT64_C(1) << 48) - 1);
}

static void test_invalid(void **state)
{
    (void)state;
    uint64_t ms;
    const char *bad[] = {
        "",
        "01ARZ3NDEKTSV4RRFFQ69G5FA",   /* 25 */
        "01ARZ3NDEKTSV4RRFFQ69G5FAVX", /* 27 */
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",  /* > 128 bits */
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",  /* U */
        "01ARZ3NDEKTSV4RRFFQ69G5FAI",  /* I */
        "01ARZ3NDEKTSV4RRFFQ69G5FAL",  /* L */
        "01ARZ3NDEKTSV4RRFFQ69G5FAO",  /* O */
        "01ARZ3NDEK-SV4RRFFQ69G5FAV",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(bb_id_timestamp_ms(bad[i], &ms), BB_EINVAL);
        assert_false(bb_id_is_valid(bad[i]));
    }
    assert_int_equal(bb_id_timestamp_ms(NULL, &ms), BB_EINVAL);
}

static void test_fork_child_diverges(void **state)
{
    (void)state;
    char before[BB_ID_LEN + 1], parent_next[BB_ID_LEN + 1], child_next[BB_ID_LEN + 1];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    bb_id_new(before);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[BB_ID_LEN + 1];
        bb_id_new(id);
        ssize_t w = write(fds[1], id, BB_ID_LEN);
        _exit(w == BB_ID_LEN ? 0 : 1);
    }
    bb_id_new(parent_next);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(read(fds[0], child_next, BB_ID_LEN), BB_ID_LEN);
    child_next[BB_ID_LEN] = '\0';
    close(fds[0]);
    close(fds[1]);
    assert_true(bb_id_is_valid(child_next));
    assert_true(strcmp(before, parent_next) < 0);
    assert_true(strcmp(before, child_next) < 0);
    assert_string_not_equal(parent_next, child_next);
}

static void test_project_id_rule(void **state)
{
    (void)state;
    assert_int_equal(bb_project_id_valid("proj_1-A", 8), 1);
    assert_int_equal(bb_project_id_valid("", 0), 0);
    assert_int_equal(bb_project_id_valid("..", 2), 0);
    assert_int_equal(bb_project_id_valid(".", 1), 0);
    assert_int_equal(bb_project_id_valid("a/b", 3), 0);
    assert_int_equal(bb_project_id_valid("a b", 3), 0);
    assert_int_equal(bb_project_id_valid("a\0b", 3), 0);
    assert_int_equal(bb_project_id_valid("caf\xc3\xa9", 5), 0);
    char max[BB_PROJECT_ID_MAX + 2];
    memset(max, 'x', sizeof max);
    assert_int_equal(bb_project_id_valid(max, BB_PROJECT_ID_MAX), 1);
    assert_int_equal(bb_project_id_valid(max, BB_PROJECT_ID_MAX + 1), 0);
    assert_int_equal(bb_project_id_valid(NULL, 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_across_threads), cmocka_unit_test(test_strictly_increasing),
        cmocka_unit_test(test_timestamp_round_trip),  cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_fork_child_diverges),   cmocka_unit_test(test_project_id_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
