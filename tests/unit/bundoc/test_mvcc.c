/* Isolation tests: no dirty reads, repeatable reads, snapshot scans, lost updates detected as
 * conflicts (also with many threads), a long reader never blocks writers, version GC, and
 * group commit sharing fsyncs among concurrent committers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bb_err.h"
#include "bdoc_test_util.h"
#include "bundoc.h"
#include "vfs.h"

static struct bdoc_db *g_db;
static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = tu_tmpdir();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_NORMAL;
    o.normal_sync_ms = 5;
    if (bdoc_open(g_dir, &o, &g_db)) return -1;
    struct bdoc_txn *t;
    if (bdoc_begin(g_db, 0, &t)) return -1;
    bdoc_collection_create(t, "c");
    bdoc_collection_create(t, "acct");
    return bdoc_commit(t);
}

static int teardown(void **state)
{
    (void)state;
    int rc = bdoc_close(g_db);
    tu_rmrf(g_dir);
    return rc;
}

static void put(const char *coll, const char *id, int v)
{
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(g_db, 0, &t), 0);
    json_t *d = json_pack("{s:s, s:i}", "_id", id, "v", v);
    int rc = bdoc_replace(t, coll, id, d, NULL);
    if (rc == BB_ENOTFOUND) rc = bdoc_insert(t, coll, d, NULL);
    assert_int_equal(rc, 0);
    json_decref(d);
    assert_int_equal(bdoc_commit(t), 0);
}

static int getv(struct bdoc_txn *t, const char *coll, const char *id)
{
    json_t *d = NULL;
    int rc = bdoc_get(t, coll, id, &d);
    if (rc == BB_ENOTFOUND) return -1;
    assert_int_equal(rc, 0);
    int v = (int)json_integer_value(json_object_get(d, "v"));
    json_decref(d);
    return v;
}

static void setv(struct bdoc_txn *t, const char *coll, const char *id, int v)
{
    json_t *d = json_pack("{s:i}", "v", v);
    assert_int_equal(bdoc_replace(t, coll, id, d, NULL), 0);
    json_decref(d);
}

static void test_no_dirty_reads_repeatable(void **state)
{
    (void)state;
    put("c", "k", 1);
    struct bdoc_txn *w, *r;
    assert_int_equal(bdoc_begin(g_db, 0, &w), 0);
    assert_int_equal(bdoc_begin(g_db, BDOC_TXN_READONLY, &r), 0);
    setv(w, "c", "k", 2);
    json_t *nd = json_pack("{s:s, s:i}", "_id", "new", "v", 9);
    assert_int_equal(bdoc_insert(w, "c", nd, NULL), 0);
    json_decref(nd);
    assert_int_equal(getv(w, "c", "k"), 2); /* own write */
    assert_int_equal(getv(r, "c", "k"), 1); /* no dirty read */
    assert_int_equal(getv(r, "c", "new"), -1);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(getv(r, "c", "k"), 1); /* repeatable */
    assert_int_equal(getv(r, "c", "new"), -1);
    struct bdoc_txn *r2;
    assert_int_equal(bdoc_begin(g_db, BDOC_TXN_READONLY, &r2), 0);
    assert_int_equal(getv(r2, "c", "k"), 2);
    assert_int_equal(getv(r2, "c", "new"), 9);
    bdoc_rollback(r2);
    /* deletes after the snapshot stay invisible to it, in gets and in scans */
    assert_int_equal(bdoc_begin(g_db, 0, &w), 0);
    assert_int_equal(bdoc_delete(w, "c", "k"), 0);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(getv(r, "c", "k"), 1);
    json_t *arr;
    assert_int_equal(bdoc_list(r, "c", NULL, NULL, 100, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "_id")), "k");
    json_decref(arr);
    bdoc_rollback(r);
    /* once no snapshot needs them, old versions are collected */
    put("c", "gc", 1);
    put("c", "gc", 2);
    struct bdoc_stats st;
    bdoc_stats_get(g_db, &st);
    assert_int_equal(st.versions, 0);
}

static void test_lost_update_is_conflict(void **state)
{
    (void)state;
    put("c", "n", 10);
    struct bdoc_txn *a, *b;
    assert_int_equal(bdoc_begin(g_db, 0, &a), 0);
    assert_int_equal(bdoc_begin(g_db, 0, &b), 0);
    setv(a, "c", "n", getv(a, "c", "n") + 1);
    setv(b, "c", "n", getv(b, "c", "n") + 1);
    assert_int_equal(bdoc_commit(a), 0);
    assert_int_equal(bdoc_commit(b), BB_ECONFLICT); /* first committer wins */
    struct bdoc_txn *r;
    assert_int_equal(bdoc_begin(g_db, BDOC_TXN_READONLY, &r), 0);
    assert_int_equal(getv(r, "c", "n"), 11);
    bdoc_rollback(r);
    /* concurrent inserts of the same _id: one wins, the other conflicts */
    assert_int_equal(bdoc_begin(g_db, 0, &a), 0);
    assert_int_equal(bdoc_begin(g_db, 0, &b), 0);
    json_t *d = json_pack("{s:s}", "_id", "same");
    assert_int_equal(bdoc_insert(a, "c", d, NULL), 0);
    assert_int_equal(bdoc_insert(b, "c", d, NULL), 0);
    json_decref(d);
    assert_int_equal(bdoc_commit(b), 0);
    assert_int_equal(bdoc_commit(a), BB_ECONFLICT);
    /* writing into a collection that a concurrent transaction drops conflicts */
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(g_db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, "tmp"), 0);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_begin(g_db, 0, &a), 0);
    assert_int_equal(bdoc_begin(g_db, 0, &b), 0);
    d = json_pack("{s:s}", "_id", "orphan?");
    assert_int_equal(bdoc_insert(a, "tmp", d, NULL), 0);
    json_decref(d);
    assert_int_equal(bdoc_collection_drop(b, "tmp"), 0);
    assert_int_equal(bdoc_commit(b), 0);
    assert_int_equal(bdoc_commit(a), BB_ECONFLICT);
}

/* ---- many threads: transfers between accounts keep the total; readers check snapshots ---- */
#define NACCT 8
#define NTHREADS 8
#define NTRANSFERS 150
static _Atomic int g_stop;
static int g_conflicts;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void *writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    int done = 0, conflicts = 0;
    while (done < NTRANSFERS) {
        int from = rand_r(&seed) % NACCT, to = rand_r(&seed) % NACCT;
        if (from == to) continue;
        char a[16], b[16];
        snprintf(a, sizeof a, "a%d", from);
        snprintf(b, sizeof b, "a%d", to);
        struct bdoc_txn *t;
        if (bdoc_begin(g_db, 0, &t)) abort();
        int va = getv(t, "acct", a), vb = getv(t, "acct", b);
        if (done % 8 == 0) usleep(200); /* widen the read-modify-write window: collisions happen
                                            whatever the scheduler does */
        setv(t, "acct", a, va - 1);
        setv(t, "acct", b, vb + 1);
        int rc = bdoc_commit(t);
        if (rc == BB_ECONFLICT) conflicts++;
        else if (rc == 0) done++;
        else abort();
    }
    pthread_mutex_lock(&g_mu);
    g_conflicts += conflicts;
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static void *reader(void *arg)
{
    long *bad = arg;
    while (!g_stop) {
        struct bdoc_txn *t;
        if (bdoc_begin(g_db, BDOC_TXN_READONLY, &t)) abort();
        int sum = 0;
        for (int i = 0; i < NACCT; i++) {
            char a[16];
            snprintf(a, sizeof a, "a%d", i);
            sum += getv(t, "acct", a);
        }
        json_t *arr = NULL;
        if (bdoc_list(t, "acct", NULL, NULL, 100, &arr, NULL)) abort();
        int sum2 = 0;
        for (size_t i = 0; i < json_array_size(arr); i++)
            sum2 += (int)json_integer_value(json_object_get(json_array_get(arr, i), "v"));
        json_decref(arr);
        if (sum != NACCT * 100 || sum2 != NACCT * 100) (*bad)++;
        bdoc_rollback(t);
    }
    return NULL;
}

static void test_threads_snapshot_invariant(void **state)
{
    (void)state;
    for (int i = 0; i < NACCT; i++) {
        char a[16];
        snprintf(a, sizeof a, "a%d", i);
        put("acct", a, 100);
    }
    pthread_t w[NTHREADS], r[2];
    long bad[2] = {0, 0};
    g_stop = 0;
    for (int i = 0; i < 2; i++) pthread_create(&r[i], NULL, reader, &bad[i]);
    for (int i = 0; i < NTHREADS; i++) pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < NTHREADS; i++) pthread_join(w[i], NULL);
    g_stop = 1;
    for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
    assert_int_equal(bad[0] + bad[1], 0);
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(g_db, BDOC_TXN_READONLY, &t), 0);
    int sum = 0;
    for (int i = 0; i < NACCT; i++) {
        char a[16];
        snprintf(a, sizeof a, "a%d", i);
        sum += getv(t, "acct", a);
    }
    bdoc_rollback(t);
    assert_int_equal(sum, NACCT * 100);
    fprintf(stderr, "# %d transfers, %d conflicts retried\n", NTHREADS * NTRANSFERS, g_conflicts);
    assert_true(g_conflicts > 0); /* 8 threads on 8 accounts do collide */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_long_reader_does_not_block(void **state)
{
    (void)state;
    put("c", "long", 0);
    struct bdoc_txn *r;
    assert_int_equal(bdoc_begin(g_db, BDOC_TXN_READONLY, &r), 0);
    assert_int_equal(getv(r, "c", "long"), 0);
    double t0 = now_s();
    for (int i = 1; i <= 500; i++) put("c", "long", i);
    double dt = now_s() - t0;
    assert_true(dt < 20.0);
    assert_int_equal(getv(r, "c", "long"), 0); /* still its snapshot */
    struct bdoc_stats st;
    bdoc_stats_get(g_db, &st);
    assert_true(st.versions > 0);
    bdoc_rollback(r);
    put("c", "long", 501);
    bdoc_stats_get(g_db, &st);
    assert_int_equal(st.versions, 0);
}

/* durability FULL with concurrent committers: group commit shares fsyncs */
static void *gc_writer(void *arg)
{
    struct bdoc_db *db = arg;
    for (int i = 0; i < 40; i++) {
        json_t *d = json_pack("{s:i}", "i", i);
        if (bdoc_insert1(db, "g", d, NULL)) abort();
        json_decref(d);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    /* a disk whose fsync takes 2 ms, so that the result does not depend on the machine's disk */
    struct bdoc_fault_config slow = {BDOC_FAULT_NONE, 0, "/wal", 2000};
    struct bdoc_vfs *vfs = bdoc_vfs_faulty_new(&slow);
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.vfs = vfs;
    struct bdoc_db *db;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, "g"), 0);
    assert_int_equal(bdoc_commit(t), 0);
    struct bdoc_stats s0, s1;
    bdoc_stats_get(db, &s0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, gc_writer, db);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    bdoc_stats_get(db, &s1);
    uint64_t commits = s1.commits - s0.commits, syncs = s1.syncs - s0.syncs;
    fprintf(stderr, "# group commit: %llu commits, %llu fsyncs\n", (unsigned long long)commits,
            (unsigned long long)syncs);
    assert_int_equal(commits, 320);
    assert_true(syncs * 2 < commits); /* 8 committers share fsyncs */
    assert_int_equal(bdoc_close(db), 0);
    vfs->destroy(vfs);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_dirty_reads_repeatable),
        cmocka_unit_test(test_lost_update_is_conflict),
        cmocka_unit_test(test_threads_snapshot_invariant),
        cmocka_unit_test(test_long_reader_does_not_block),
        cmocka_unit_test(test_group_commit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
