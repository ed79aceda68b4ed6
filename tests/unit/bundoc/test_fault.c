/* Fault-injection tests through the faulty VFS:
 *  - power loss (torn write, or every write after the Nth dropped) at *every* write index of a
 *    workload that also checkpoints: reopening always yields a consistent prefix that contains
 *    every commit acknowledged before the fault;
 *  - short write, fsync failure, ENOSPC: the commit fails with a clear error and the database
 *    refuses every later write (sticky); reopening keeps every acknowledged commit;
 *  - a corrupted page in data.db is reported as BB_EIO, never returned as data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "bdoc_test_util.h"
#include "bundoc.h"
#include "vfs.h"

#define NCOMMITS 24

static struct bdoc_options opts(struct bdoc_vfs *vfs)
{
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.vfs = vfs;
    o.checkpoint_bytes = 48 * 1024;
    return o;
}

/* Runs the workload; returns the number of commits acknowledged (stops at the first error, whose
 * code goes to *err). acked_before_fault: commits acknowledged before the fault fired. */
static int workload(const char *dir, struct bdoc_vfs *vfs, int *err, int *acked_before_fault)
{
    struct bdoc_options o = opts(vfs);
    struct bdoc_db *db = NULL;
    *err = 0;
    *acked_before_fault = 0;
    int rc = bdoc_open(dir, &o, &db);
    if (rc) {
        *err = rc;
        return 0;
    }
    int acked = 0;
    struct bdoc_txn *t;
    rc = bdoc_begin(db, 0, &t);
    if (rc == 0) rc = bdoc_collection_create(t, "docs");
    if (rc == 0) rc = bdoc_commit(t);
    else bdoc_rollback(t);
    for (int i = 0; rc == 0 && i < NCOMMITS; i++) {
        int fired = 0;
        if (vfs) bdoc_vfs_faulty_stats(vfs, NULL, NULL, &fired);
        if (!fired) *acked_before_fault = acked;
        rc = bdoc_begin(db, 0, &t);
        if (rc) break;
        char id[32], pad[3000];
        snprintf(id, sizeof id, "d%04d", i);
        memset(pad, 'a' + i % 26, i % 4 == 0 ? 2999 : 100);
        pad[i % 4 == 0 ? 2999 : 100] = '\0';
        json_t *d = json_pack("{s:s, s:i, s:s}", "_id", id, "i", i, "pad", pad);
        rc = bdoc_insert(t, "docs", d, NULL);
        json_decref(d);
        json_t *c = json_pack("{s:s, s:i}", "_id", "count", "n", i + 1);
        if (rc == 0) rc = i == 0 ? bdoc_insert(t, "docs", c, NULL) : bdoc_replace(t, "docs", "count", c, NULL);
        json_decref(c);
        if (rc) {
            bdoc_rollback(t);
            break;
        }
        rc = bdoc_commit(t);
        if (rc == 0) acked++;
    }
    int fired = 0;
    if (vfs) bdoc_vfs_faulty_stats(vfs, NULL, NULL, &fired);
    if (!fired) *acked_before_fault = acked;
    *err = rc;
    bdoc_close(db);
    return acked;
}

/* Reopens with the real file system and checks a consistent prefix; returns its length. */
static int check_prefix(const char *dir)
{
    struct bdoc_options o = opts(NULL);
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    int n = 0;
    json_t *c = NULL;
    int rc = bdoc_get(t, "docs", "count", &c);
    if (rc == 0) {
        n = (int)json_integer_value(json_object_get(c, "n"));
        json_decref(c);
    } else {
        assert_true(rc == BB_ENOTFOUND);
    }
    json_t *arr = NULL;
    rc = bdoc_list(t, "docs", NULL, "d", 1000, &arr, NULL);
    if (rc == BB_ENOTFOUND) { /* the collection itself was lost: nothing was acknowledged */
        assert_int_equal(n, 0);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal((int)json_array_size(arr), n);
        for (int i = 0; i < n; i++) {
            json_t *d = json_array_get(arr, (size_t)i);
            assert_int_equal(json_integer_value(json_object_get(d, "i")), i);
        }
        json_decref(arr);
    }
    bdoc_rollback(t);
    assert_int_equal(bdoc_close(db), 0);
    return n;
}

static void power_loss_sweep(enum bdoc_fault_kind kind)
{
    /* dry run to count the writes of the workload */
    char *dir = tu_tmpdir();
    struct bdoc_fault_config none = {BDOC_FAULT_NONE, 0, NULL, 0};
    struct bdoc_vfs *v = bdoc_vfs_faulty_new(&none);
    int err, before;
    assert_int_equal(workload(dir, v, &err, &before), NCOMMITS);
    uint64_t total = 0;
    bdoc_vfs_faulty_stats(v, &total, NULL, NULL);
    v->destroy(v);
    tu_rmrf(dir);
    assert_true(total > NCOMMITS);
    for (uint64_t at = 1; at <= total; at++) {
        dir = tu_tmpdir();
        struct bdoc_fault_config cfg = {kind, at, NULL, 0};
        v = bdoc_vfs_faulty_new(&cfg);
        (void)workload(dir, v, &err, &before);
        v->destroy(v);
        int n = check_prefix(dir);
        if (n < before) {
            fprintf(stderr, "fault %d at write %llu: %d acknowledged before, %d recovered\n",
                    kind, (unsigned long long)at, before, n);
            fail();
        }
        tu_rmrf(dir);
    }
    fprintf(stderr, "# kind %d: power loss at each of %llu writes recovered a consistent prefix\n",
            kind, (unsigned long long)total);
}

static void test_torn_write_every_point(void **state)
{
    (void)state;
    power_loss_sweep(BDOC_FAULT_TORN_WRITE);
}

static void test_crash_every_point(void **state)
{
    (void)state;
    power_loss_sweep(BDOC_FAULT_CRASH);
}

/* A failing write or fsync: the commit reports it, later commits are refused, reads go on. */
static void sticky_case(enum bdoc_fault_kind kind, uint64_t after, int want)
{
    char *dir = tu_tmpdir();
    struct bdoc_fault_config cfg = {kind, after, "/wal", 0};
    struct bdoc_vfs *v = bdoc_vfs_faulty_new(&cfg);
    struct bdoc_options o = opts(v);
    o.checkpoint_bytes = 64u << 20;
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, "docs"), 0);
    int rc = bdoc_commit(t);
    int acked = 0, i = 0;
    for (; rc == 0 && i < 100; i++) {
        json_t *d = json_pack("{s:s, s:i}", "_id", "x", "i", i);
        char id[16];
        snprintf(id, sizeof id, "d%04d", i);
        json_object_set_new(d, "_id", json_string(id));
        rc = bdoc_insert1(db, "docs", d, NULL);
        json_decref(d);
        if (rc == 0) acked++;
    }
    assert_int_equal(rc, want);
    assert_true(acked > 0); /* the fault hit a document commit, not the collection's */
    struct bdoc_stats st;
    bdoc_stats_get(db, &st);
    assert_int_equal(st.error, want);
    /* sticky: later writes fail with the same error, even after the fault stopped */
    json_t *d = json_pack("{s:s}", "_id", "later");
    assert_int_equal(bdoc_insert1(db, "docs", d, NULL), want);
    json_decref(d);
    assert_int_equal(bdoc_checkpoint(db), want);
    /* reads still work */
    json_t *out = NULL;
    if (acked > 0) {
        assert_int_equal(bdoc_get1(db, "docs", "d0000", &out), 0);
        json_decref(out);
    }
    bdoc_close(db);
    v->destroy(v);
    /* reopen: every acknowledged commit is there */
    assert_int_equal(bdoc_open(dir, NULL, &db), 0);
    for (int k = 0; k < acked; k++) {
        char id[16];
        snprintf(id, sizeof id, "d%04d", k);
        assert_int_equal(bdoc_get1(db, "docs", id, &out), 0);
        json_decref(out);
    }
    assert_int_equal(bdoc_get1(db, "docs", "later", &out), BB_ENOTFOUND);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

static void test_short_write_sticky(void **state)
{
    (void)state;
    sticky_case(BDOC_FAULT_SHORT_WRITE, 30, BB_EIO); /* 1 header + 16 prealloc + ... */
}

static void test_fsync_failure_sticky(void **state)
{
    (void)state;
    sticky_case(BDOC_FAULT_FSYNC_FAIL, 10, BB_EIO);
}

static void test_enospc_sticky(void **state)
{
    (void)state;
    sticky_case(BDOC_FAULT_ENOSPC, 34, BB_ENOSPACE);
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void test_corrupt_page_detected(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    int err, before;
    assert_int_equal(workload(dir, NULL, &err, &before), NCOMMITS);
    char *data = tu_sub(dir, "data.db");
    /* a data page: some read reports BB_EIO, none returns wrong data */
    flip_byte(data, 8192 * 2 + 4000);
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, NULL, &db), 0);
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    int eio = 0;
    for (int i = 0; i < NCOMMITS; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%04d", i);
        json_t *out = NULL;
        int rc = bdoc_get(t, "docs", id, &out);
        if (rc == BB_EIO) eio++;
        else {
            assert_int_equal(rc, 0);
            assert_int_equal(json_integer_value(json_object_get(out, "i")), i);
            json_decref(out);
        }
    }
    json_t *arr = NULL;
    int rc = bdoc_list(t, "docs", NULL, NULL, 1000, &arr, NULL);
    if (rc == 0) json_decref(arr);
    else eio++;
    assert_true(eio > 0);
    bdoc_rollback(t);
    bdoc_close(db);
    /* the meta page: open refuses */
    flip_byte(data, 100);
    assert_int_equal(bdoc_open(dir, NULL, &db), BB_EIO);
    free(data);
    tu_rmrf(dir);
}

/* Writes to data.db silently dropped (power loss, but the process goes on reading): the pages a
 * checkpoint "wrote" past the real end of the file are not read through the mapping (that would
 * be SIGBUS past EOF); they are read and reported as BB_EIO, every other document as stored. */
static void test_dropped_writes_then_read(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_fault_config cfg = {BDOC_FAULT_CRASH, 1, "data.db", 0};
    struct bdoc_vfs *v = bdoc_vfs_faulty_new(&cfg);
    struct bdoc_options o = opts(v);
    o.cache_pages = 16;
    o.checkpoint_bytes = 64u << 20;
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, &o, &db), 0); /* write 1: page 0; later ones are dropped */
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, "docs"), 0);
    char pad[501];
    memset(pad, 'p', 500);
    pad[500] = 0;
    for (int i = 0; i < 400; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%04d", i);
        json_t *d = json_pack("{s:s,s:s}", "_id", id, "pad", pad);
        assert_int_equal(bdoc_insert(t, "docs", d, NULL), 0);
        json_decref(d);
    }
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_checkpoint(db), 0); /* "succeeds": the frames never reach data.db */
    /* new pages for another collection push docs' pages out of the small pool */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, "other"), 0);
    for (int i = 0; i < 400; i++) {
        json_t *d = json_pack("{s:i,s:s}", "i", i, "pad", pad);
        assert_int_equal(bdoc_insert(t, "other", d, NULL), 0);
        json_decref(d);
    }
    assert_int_equal(bdoc_commit(t), 0);
    for (int k = 0; k < 3; k++) { /* and reading them keeps the pool full of them */
        json_t *page = NULL;
        char *next = NULL;
        assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
        assert_int_equal(bdoc_list(t, "other", NULL, NULL, 400, &page, &next), 0);
        free(next);
        json_decref(page);
        bdoc_rollback(t);
    }
    int ok = 0, eio = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 400; i++) {
            char id[16];
            snprintf(id, sizeof id, "d%04d", i);
            json_t *d = NULL;
            int rc = bdoc_get1(db, "docs", id, &d);
            assert_true(rc == 0 || rc == BB_EIO);
            if (rc == 0) ok++;
            else eio++;
            json_decref(d);
        }
    fprintf(stderr, "# %d reads answered from the pool, %d BB_EIO\n", ok, eio);
    assert_true(eio > 0);
    bdoc_close(db);
    v->destroy(v);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torn_write_every_point),
        cmocka_unit_test(test_crash_every_point),
        cmocka_unit_test(test_short_write_sticky),
        cmocka_unit_test(test_fsync_failure_sticky),
        cmocka_unit_test(test_enospc_sticky),
        cmocka_unit_test(test_corrupt_page_detected),
        cmocka_unit_test(test_dropped_writes_then_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
