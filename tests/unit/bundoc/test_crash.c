/* Crash test: a child process commits in a loop (durability FULL) and reports every acknowledged
 * commit through a pipe; the parent SIGKILLs it at a random moment, reopens the database and
 * checks that every acknowledged commit is present and that no transaction is partly visible.
 *
 * Each transaction i inserts docs/d<i> (every 7th one ~20 KB, so overflow chains are in play),
 * deletes docs/d<i-5> for every i divisible by 3, and sets meta/counter to {n: i+1, live: <live
 * documents>} — so a torn transaction shows up as a counter that disagrees with the documents.
 * A small checkpoint threshold makes checkpoints happen inside the kill window too.
 * Cycles: 50 by default, BDOC_CRASH_CYCLES to change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bb_err.h"
#include "bdoc_test_util.h"
#include "bundoc.h"

static struct bdoc_options opts(void)
{
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.checkpoint_bytes = 512 * 1024;
    o.cache_pages = 64;
    return o;
}

static int deleted(long i) { return i >= 0 && (i + 5) % 3 == 0; } /* d<i> deleted by txn i+5 */

static json_t *make_doc(long i)
{
    char id[32];
    snprintf(id, sizeof id, "d%08ld", i);
    json_t *d = json_pack("{s:s, s:I}", "_id", id, "i", (json_int_t)i);
    if (i % 7 == 0) {
        char *pad = malloc(20001);
        memset(pad, 'p', 20000);
        pad[20000] = '\0';
        json_object_set_new(d, "pad", json_string(pad));
        free(pad);
    }
    return d;
}

static long live_after(long n) /* live docs after n committed transactions */
{
    long live = 0;
    for (long i = 0; i < n; i++) live += !(deleted(i) && i + 5 < n);
    return live;
}

static void child(const char *dir, int wfd)
{
    struct bdoc_options o = opts();
    struct bdoc_db *db = NULL;
    if (bdoc_open(dir, &o, &db)) _exit(10);
    struct bdoc_txn *t = NULL;
    if (bdoc_begin(db, 0, &t)) _exit(11);
    long n = 0;
    json_t *c = NULL;
    if (bdoc_get(t, "meta", "counter", &c) == 0) {
        n = (long)json_integer_value(json_object_get(c, "n"));
        json_decref(c);
        bdoc_rollback(t);
    } else {
        bdoc_collection_create(t, "docs");
        bdoc_collection_create(t, "meta");
        json_t *z = json_pack("{s:s, s:i, s:i}", "_id", "counter", "n", 0, "live", 0);
        bdoc_insert(t, "meta", z, NULL);
        json_decref(z);
        if (bdoc_commit(t)) _exit(12);
    }
    for (long i = n;; i++) {
        if (bdoc_begin(db, 0, &t)) _exit(13);
        json_t *d = make_doc(i);
        if (bdoc_insert(t, "docs", d, NULL)) _exit(14);
        json_decref(d);
        if (i >= 5 && deleted(i - 5)) {
            char id[32];
            snprintf(id, sizeof id, "d%08ld", i - 5);
            if (bdoc_delete(t, "docs", id)) _exit(15);
        }
        json_t *cnt = json_pack("{s:I, s:I}", "n", (json_int_t)(i + 1),
                                "live", (json_int_t)live_after(i + 1));
        if (bdoc_replace(t, "meta", "counter", cnt, NULL)) _exit(16);
        json_decref(cnt);
        if (bdoc_commit(t)) _exit(17);
        /* acknowledged: report it */
        if (write(wfd, &i, sizeof i) != (ssize_t)sizeof i) _exit(18);
    }
}

static void verify(const char *dir, long acked, long *n_out)
{
    struct bdoc_options o = opts();
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    json_t *c = NULL;
    long n = 0, live = 0;
    int rc = bdoc_get(t, "meta", "counter", &c);
    if (rc == 0) {
        n = (long)json_integer_value(json_object_get(c, "n"));
        live = (long)json_integer_value(json_object_get(c, "live"));
        json_decref(c);
    } else {
        assert_int_equal(rc, BB_ENOTFOUND); /* only before the first commit */
        assert_true(acked < 0);
    }
    /* every acknowledged commit is there; at most the one in flight beyond it */
    if (n < acked + 1 || n > acked + 2) {
        fprintf(stderr, "counter n=%ld but acked=%ld\n", n, acked);
        fail();
    }
    assert_int_equal(live, live_after(n));
    /* the documents agree exactly with the counter: no partial transaction */
    long count = 0;
    char *after = NULL, *next = NULL;
    for (;;) {
        json_t *arr = NULL;
        assert_int_equal(bdoc_list(t, "docs", after, NULL, 500, &arr, &next), 0);
        for (size_t k = 0; k < json_array_size(arr); k++) {
            json_t *d = json_array_get(arr, k);
            long i = (long)json_integer_value(json_object_get(d, "i"));
            assert_true(i < n);
            assert_false(deleted(i) && i + 5 < n);
            if (i % 7 == 0) assert_int_equal(json_string_length(json_object_get(d, "pad")), 20000);
            count++;
        }
        json_decref(arr);
        free(after);
        after = next;
        if (!after) break;
    }
    assert_int_equal(count, live);
    bdoc_rollback(t);
    assert_int_equal(bdoc_close(db), 0);
    *n_out = n;
}

static void test_sigkill_cycles(void **state)
{
    (void)state;
    int cycles = 50;
    const char *env = getenv("BDOC_CRASH_CYCLES");
    if (env) cycles = (int)strtol(env, NULL, 10);
    char *dir = tu_tmpdir();
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "# seed %u, %d cycles\n", seed, cycles);
    srand(seed);
    long acked = -1, n = 0;
    for (int cyc = 0; cyc < cycles; cyc++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(dir, p[1]);
            _exit(0);
        }
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        /* let it run 2..40 ms after its first ack of this cycle (or at most 2 s) */
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        long window_us = 2000 + rand() % 38000;
        int started = 0;
        for (;;) {
            long v;
            ssize_t r = read(p[0], &v, sizeof v);
            if (r == (ssize_t)sizeof v) {
                assert_int_equal(v, acked + 1);
                acked = v;
                if (!started) {
                    started = 1;
                    clock_gettime(CLOCK_MONOTONIC, &start);
                }
                continue;
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            long el = (now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000;
            if ((started && el >= window_us) || el > 2000000) break;
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                fprintf(stderr, "child exited early: status %d\n", status);
                fail();
            }
            usleep(200);
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        /* acks written before the kill are still in the pipe */
        long v;
        while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v) {
            assert_int_equal(v, acked + 1);
            acked = v;
        }
        close(p[0]);
        verify(dir, acked, &n);
        acked = n - 1; /* a durable but unacknowledged commit counts from now on */
    }
    fprintf(stderr, "# %d cycles, %ld transactions survived\n", cycles, n);
    assert_true(n > cycles);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
