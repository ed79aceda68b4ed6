/* bdoc_store_get_json_nowait, the read bundoc-server's loop thread runs for a document GET (and
 * bdoc_store_get_json, the pool's):
 *  - it answers while a durable commit is blocked in its WAL fsync (the faulty VFS's slow sync),
 *    and already sees that commit (as a transaction begun then would); so does an ordinary
 *    read transaction — reads never wait for the fsync group;
 *  - it never reads from disk: with a cold cache it says BB_EBUSY, after an ordinary read has
 *    loaded the pages it answers the same bytes as bdoc_get_json;
 *  - it never evaluates a rule: a read rule for a non-admin actor (or metadata not cached yet)
 *    is BB_EBUSY, admin is answered; documents over max_bytes are BB_EBUSY; a missing document
 *    or collection is BB_ENOTFOUND;
 *  - it visits at most 64 pages: a long document is BB_EBUSY even when cached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bundoc/bdoc_test_util.h"
#include "bb_err.h"
#include "bundoc.h"
#include "store.h"
#include "vfs.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    if (!j) abort();
    return j;
}

static const struct bdoc_store_actor USER = {0, NULL};
static const struct bdoc_store_actor ADMIN = {1, NULL};

static void put(struct bdoc_store *st, const char *coll, const char *doc)
{
    struct bdoc_store_txn *t = NULL;
    assert_int_equal(bdoc_store_begin(st, 0, &t), 0);
    json_t *d = J(doc);
    assert_int_equal(bdoc_store_insert(t, coll, d, NULL, NULL, NULL), 0);
    json_decref(d);
    assert_int_equal(bdoc_store_commit(t), 0);
}

/* bdoc_store_get in a read transaction (what the pool runs); returns its rc. */
static int txn_get(struct bdoc_store *st, const char *coll, const char *id,
                   const struct bdoc_store_actor *a, json_t **out)
{
    struct bdoc_store_txn *t = NULL;
    assert_int_equal(bdoc_store_begin(st, BDOC_TXN_READONLY, &t), 0);
    json_t *d = NULL;
    int rc = bdoc_store_get(t, coll, id, a, &d, NULL);
    bdoc_store_rollback(t);
    if (out) *out = d;
    else json_decref(d);
    return rc;
}

struct writer {
    struct bdoc_store *st;
    atomic_int done;
    int rc;
};

static void *write_v2(void *arg)
{
    struct writer *w = arg;
    struct bdoc_store_txn *t = NULL;
    w->rc = bdoc_store_begin(w->st, 0, &t);
    json_t *d = J("{\"_id\":\"d1\",\"v\":2}");
    if (!w->rc) w->rc = bdoc_store_replace(t, "c", "d1", d, NULL, NULL, NULL);
    json_decref(d);
    if (!w->rc) w->rc = bdoc_store_commit(t); /* blocks in the slow WAL fsync */
    else bdoc_store_rollback(t);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_reads_answer_during_fsync(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = NULL;
    struct bdoc_store *st = NULL;
    /* set up with the real file system */
    assert_int_equal(bdoc_open(dir, NULL, &db), 0);
    assert_int_equal(bdoc_store_open(db, &st), 0);
    assert_int_equal(bdoc_store_collection_create(st, "c", NULL, NULL, NULL), 0);
    put(st, "c", "{\"_id\":\"d1\",\"v\":1}");
    bdoc_store_close(st);
    assert_int_equal(bdoc_close(db), 0);

    /* every WAL fsync now takes 0.8 s: a commit with durability full waits that long */
    struct bdoc_fault_config fc = {.kind = BDOC_FAULT_NONE, .path_substr = "/wal",
                                   .sync_delay_us = 800000};
    struct bdoc_vfs *vfs = bdoc_vfs_faulty_new(&fc);
    assert_non_null(vfs);
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.vfs = vfs;
    o.durability = BDOC_DURABILITY_FULL;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    assert_int_equal(bdoc_store_open(db, &st), 0);
    assert_int_equal(txn_get(st, "c", "d1", &ADMIN, NULL), 0); /* pages cached */

    struct writer w = {.st = st};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_v2, &w), 0);
    /* until the commit is applied the old version is read; then the new one, while the commit
     * still waits for its fsync */
    int seen = 0, reads = 0;
    for (int i = 0; i < 5000 && !seen; i++) {
        char *js = NULL;
        size_t n = 0;
        int rc = bdoc_store_get_json_nowait(st, "c", "d1", &ADMIN, 1 << 20, &js, &n);
        if (rc == 0) {
            reads++;
            json_t *d = J(js);
            seen = json_integer_value(json_object_get(d, "v")) == 2;
            json_decref(d);
            free(js);
        } else {
            assert_int_equal(rc, BB_EBUSY); /* the commit holds the tree for a moment */
        }
        if (!seen) usleep(1000);
    }
    assert_true(seen);
    assert_true(reads > 0);
    assert_int_equal(atomic_load(&w.done), 0); /* the writer is still in its fsync */
    /* an ordinary read transaction does not wait for the fsync either */
    json_t *d = NULL;
    assert_int_equal(txn_get(st, "c", "d1", &USER, &d), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "v")), 2);
    json_decref(d);
    assert_int_equal(atomic_load(&w.done), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);

    bdoc_store_close(st);
    assert_int_equal(bdoc_close(db), 0);
    vfs->destroy(vfs);
    tu_rmrf(dir);
}

static void test_cold_cache_rules_and_limits(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = NULL;
    struct bdoc_store *st = NULL;
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_OFF;
    o.cache_pages = 16;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    assert_int_equal(bdoc_store_open(db, &st), 0);
    json_t *ropts = J("{\"rules\":{\"read\":\"request.auth != null\"}}");
    assert_int_equal(bdoc_store_collection_create(st, "ruled", ropts, NULL, NULL), 0);
    json_decref(ropts);
    assert_int_equal(bdoc_store_collection_create(st, "open", NULL, NULL, NULL), 0);
    char pad[401];
    memset(pad, 'p', 400);
    pad[400] = '\0';
    for (int i = 0; i < 600; i++) {
        char doc[600];
        snprintf(doc, sizeof doc, "{\"_id\":\"k%04d\",\"i\":%d,\"pad\":\"%s\"}", i, i, pad);
        put(st, "open", doc);
    }
    put(st, "ruled", "{\"_id\":\"r\",\"x\":1}");
    bdoc_store_close(st);
    assert_int_equal(bdoc_close(db), 0);

    /* reopened: a cold cache, so the first read of k0300 would need the disk */
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    assert_int_equal(bdoc_store_open(db, &st), 0);
    char *js = NULL;
    size_t n = 0;
    assert_int_equal(bdoc_store_get_json_nowait(st, "open", "k0300", &ADMIN, 1 << 20, &js, &n),
                     BB_EBUSY);
    assert_null(js);
    assert_int_equal(txn_get(st, "open", "k0300", &ADMIN, NULL), 0); /* the pool's read loads it */
    assert_int_equal(bdoc_store_get_json_nowait(st, "open", "k0300", &ADMIN, 1 << 20, &js, &n), 0);
    struct bdoc_txn *tx = NULL;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &tx), 0);
    char *ref = NULL;
    size_t rn = 0;
    assert_int_equal(bdoc_get_json(tx, "open", "k0300", &ref, &rn), 0);
    bdoc_rollback(tx);
    assert_int_equal(n, rn);
    assert_string_equal(js, ref);
    free(ref);
    free(js);
    js = NULL;
    /* larger than max_bytes: the pool's */
    assert_int_equal(bdoc_store_get_json_nowait(st, "open", "k0300", &ADMIN, 100, &js, &n),
                     BB_EBUSY);
    /* missing document / collection (their pages are cached now) */
    assert_int_equal(bdoc_store_get_json_nowait(st, "open", "k0300x", &ADMIN, 1 << 20, &js, &n),
                     BB_ENOTFOUND);
    assert_int_equal(bdoc_store_get_json_nowait(st, "nope", "k0300", &ADMIN, 1 << 20, &js, &n),
                     BB_ENOTFOUND);

    /* rules: a non-admin actor on a collection with a read rule is never answered here */
    assert_int_equal(txn_get(st, "ruled", "r", &ADMIN, NULL), 0);
    assert_int_equal(txn_get(st, "ruled", "r", &USER, NULL), BB_EPERM); /* evaluated: denied */
    assert_int_equal(bdoc_store_get_json_nowait(st, "ruled", "r", &USER, 1 << 20, &js, &n),
                     BB_EBUSY);
    assert_int_equal(bdoc_store_get_json_nowait(st, "ruled", "r", &ADMIN, 1 << 20, &js, &n), 0);
    assert_string_equal(js, "{\"_id\":\"r\",\"x\":1}");
    free(js);
    js = NULL;
    /* the rule removed: once the new metadata is cached (by a transaction's read), end users
     * are answered here; before, BB_EBUSY (not known without compiling) */
    assert_int_equal(bdoc_store_set_rules(st, "ruled", NULL, NULL), 0);
    assert_int_equal(bdoc_store_get_json_nowait(st, "ruled", "r", &USER, 1 << 20, &js, &n),
                     BB_EBUSY);
    assert_int_equal(txn_get(st, "ruled", "r", &USER, NULL), 0);
    assert_int_equal(bdoc_store_get_json_nowait(st, "ruled", "r", &USER, 1 << 20, &js, &n), 0);
    free(js);
    /* a collection without metadata has no rules */
    assert_int_equal(bdoc_store_get_json_nowait(st, "open", "k0300", &USER, 1 << 20, &js, &n), 0);
    free(js);

    bdoc_store_close(st);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

/* A long value is BB_EBUSY even when every page is cached: one peek visits at most 64 pages, so
 * the loop thread never copies a large document only to find it over max_bytes. */
static void test_page_budget(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = NULL;
    struct bdoc_store *st = NULL;
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_OFF;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    assert_int_equal(bdoc_store_open(db, &st), 0);
    assert_int_equal(bdoc_store_collection_create(st, "c", NULL, NULL, NULL), 0);
    static const size_t sizes[] = {100000, 400000};
    for (size_t i = 0; i < 2; i++) {
        char *doc = malloc(sizes[i] + 64);
        assert_non_null(doc);
        int n = snprintf(doc, 64, "{\"_id\":\"d%zu\",\"pad\":\"", i);
        memset(doc + n, 'z', sizes[i]);
        strcpy(doc + n + sizes[i], "\"}");
        put(st, "c", doc);
        free(doc);
        assert_int_equal(txn_get(st, "c", i ? "d1" : "d0", &ADMIN, NULL), 0); /* all cached */
    }
    char *js = NULL;
    size_t n = 0;
    assert_int_equal(bdoc_store_get_json_nowait(st, "c", "d0", &ADMIN, 1 << 24, &js, &n), 0);
    assert_true(n > 100000);
    free(js);
    js = NULL;
    assert_int_equal(bdoc_store_get_json_nowait(st, "c", "d1", &ADMIN, 1 << 24, &js, &n),
                     BB_EBUSY);
    assert_null(js);
    /* and the thread's reads are back to normal afterwards */
    assert_int_equal(txn_get(st, "c", "d1", &ADMIN, NULL), 0);
    bdoc_store_close(st);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

/* bdoc_store_get_json, the pool's read: the bytes json_dumps gives for bdoc_store_get's document,
 * rendered from the encoding when no rule applies; a read rule is evaluated (denied: BB_EPERM
 * with the trace; allowed: the document); missing document or collection: BB_ENOTFOUND. */
static void test_get_json_in_txn(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = NULL;
    struct bdoc_store *st = NULL;
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_OFF;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    assert_int_equal(bdoc_store_open(db, &st), 0);
    json_t *ropts = J("{\"rules\":{\"read\":\"resource.data.public == true\"}}");
    assert_int_equal(bdoc_store_collection_create(st, "r", ropts, NULL, NULL), 0);
    json_decref(ropts);
    const char *doc = "{\"_id\":\"a\",\"public\":true,\"s\":\"\\u0001\\\"\\u00e9\",\"f\":0.1,"
                      "\"n\":[1,{\"x\":null}]}";
    put(st, "r", doc);
    put(st, "r", "{\"_id\":\"b\",\"public\":false}");
    const struct bdoc_store_actor *who[] = {&ADMIN, &USER};
    for (size_t i = 0; i < 2; i++) {
        struct bdoc_store_txn *t = NULL;
        assert_int_equal(bdoc_store_begin(st, BDOC_TXN_READONLY, &t), 0);
        json_t *d = NULL;
        assert_int_equal(bdoc_store_get(t, "r", "a", who[i], &d, NULL), 0);
        char *want = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(d);
        char *js = NULL;
        size_t n = 0;
        assert_int_equal(bdoc_store_get_json(t, "r", "a", who[i], &js, &n, NULL), 0);
        assert_string_equal(js, want);
        assert_int_equal(n, strlen(want));
        free(js);
        free(want);
        struct bdoc_store_error e = {0};
        js = NULL;
        int rc = bdoc_store_get_json(t, "r", "b", who[i], &js, &n, &e);
        if (who[i] == &ADMIN) {
            assert_int_equal(rc, 0);
            free(js);
        } else {
            assert_int_equal(rc, BB_EPERM);
            assert_null(js);
            assert_non_null(e.trace);
        }
        bdoc_store_error_release(&e);
        assert_int_equal(bdoc_store_get_json(t, "r", "zz", who[i], &js, &n, NULL), BB_ENOTFOUND);
        assert_int_equal(bdoc_store_get_json(t, "nope", "a", who[i], &js, &n, NULL), BB_ENOTFOUND);
        bdoc_store_rollback(t);
    }
    bdoc_store_close(st);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_answer_during_fsync),
        cmocka_unit_test(test_cold_cache_rules_and_limits),
        cmocka_unit_test(test_page_budget),
        cmocka_unit_test(test_get_json_in_txn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
