/* Crash test of online index builds: a child process builds and drops two indexes in a loop over
 * a collection (bulk-loaded entries, batches of 64 entries per transaction) while a writer
 * thread patches, inserts and deletes documents; the parent SIGKILLs it at a random moment of a
 * build, then reopens. Half of the children build with a 64 KiB memory bound (external sort:
 * sorted runs merged while loading). Every index must be either gone (an unfinished build is dropped when the
 * store opens, entries and all: no __idx collection is left over) or complete: its entries equal
 * a rebuild from the documents (bdoc_store_index_check) and queries through it return what a
 * forced scan returns (the planner-vs-scan differential). Cycles: 12, BDOC_CRASH_CYCLES to
 * change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include "store.h"

#define NDOCS 3000

static struct bdoc_options opts(void)
{
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_NORMAL;
    o.checkpoint_bytes = 1024 * 1024;
    o.cache_pages = 256;
    return o;
}

static json_t *make_doc(long i, unsigned r)
{
    char id[32];
    snprintf(id, sizeof id, "d%06ld", i);
    json_t *tags = json_array();
    for (unsigned k = 0; k < r % 3; k++) {
        char t[8];
        snprintf(t, sizeof t, "t%u", (r >> (4 * k)) % 7);
        json_array_append_new(tags, json_string(t));
    }
    char b[16];
    snprintf(b, sizeof b, "b%u", (r >> 8) % 20);
    return json_pack("{s:s, s:i, s:s, s:o}", "_id", id, "a", (int)(r % 50), "b", b, "tags", tags);
}

static volatile int stop_writer;

static void *writer(void *arg)
{
    struct bdoc_store *s = arg;
    unsigned r = 12345;
    long next = NDOCS;
    while (!stop_writer) {
        r = r * 1103515245u + 12345u;
        struct bdoc_store_txn *t = NULL;
        if (bdoc_store_begin(s, 0, &t)) _exit(30);
        char id[32];
        snprintf(id, sizeof id, "d%06ld", (long)(r >> 8) % NDOCS);
        int rc;
        if (r % 5 == 0) {
            json_t *d = make_doc(next++, r >> 3);
            rc = bdoc_store_insert(t, "c", d, NULL, NULL, NULL);
            json_decref(d);
        } else if (r % 7 == 0) {
            rc = bdoc_store_delete(t, "c", id, NULL, NULL);
        } else {
            json_t *p = json_pack("{s:i}", "a", (int)((r >> 4) % 50));
            rc = bdoc_store_patch(t, "c", id, p, NULL, NULL, NULL);
            json_decref(p);
        }
        if (rc) bdoc_store_rollback(t);
        else (void)bdoc_store_commit(t); /* conflicts with a build batch are fine */
        usleep(200);
    }
    return NULL;
}

static void child(const char *dir, int wfd)
{
    struct bdoc_options o = opts();
    struct bdoc_db *db = NULL;
    struct bdoc_store *s = NULL;
    if (bdoc_open(dir, &o, &db)) _exit(10);
    if (bdoc_store_open(db, &s)) _exit(11);
    bdoc_store_set_build_batch(s, 64);
    if (getpid() % 2) bdoc_store_set_build_mem(s, 64 * 1024); /* half the runs: external sort */
    int rc = bdoc_store_collection_create(s, "c", NULL, NULL, NULL);
    if (rc == 0) {
        for (long i = 0; i < NDOCS;) {
            struct bdoc_store_txn *t = NULL;
            if (bdoc_store_begin(s, 0, &t)) _exit(12);
            for (int k = 0; k < 500 && i < NDOCS; k++, i++) {
                json_t *d = make_doc(i, (unsigned)(i * 2654435761u));
                if (bdoc_store_insert(t, "c", d, NULL, NULL, NULL)) _exit(13);
                json_decref(d);
            }
            if (bdoc_store_commit(t)) _exit(14);
        }
    } else if (rc != BB_EEXIST) {
        _exit(15);
    }
    pthread_t th;
    if (pthread_create(&th, NULL, writer, s)) _exit(16);
    const char *spec[2] = {"{\"name\":\"ix_a\",\"fields\":[\"a\"]}",
                           "{\"name\":\"ix_tb\",\"fields\":[\"tags\",\"-b\"]}"};
    for (unsigned k = 0;; k++) {
        json_t *sp = json_loads(spec[k % 2], 0, NULL);
        const char *name = k % 2 ? "ix_tb" : "ix_a";
        struct bdoc_store_error e = {0};
        if (write(wfd, &k, sizeof k) != (ssize_t)sizeof k) _exit(17); /* a build starts */
        rc = bdoc_store_index_create(s, "c", sp, &e);
        if (rc == BB_EEXIST) rc = bdoc_store_index_drop(s, "c", name, &e);
        json_decref(sp);
        if (rc) {
            fprintf(stderr, "child: %s: %s\n", bb_strerror(rc), e.message);
            _exit(18);
        }
        /* half of the time the index stays while the other one builds */
        if (k % 4 == 3) {
            rc = bdoc_store_index_drop(s, "c", "ix_a", &e);
            if (rc && rc != BB_ENOTFOUND) _exit(19);
            rc = bdoc_store_index_drop(s, "c", "ix_tb", &e);
            if (rc && rc != BB_ENOTFOUND) _exit(19);
        }
    }
}

static const char *queries[] = {
    "{\"query\":{\"a\":7}}",
    "{\"query\":{\"a\":{\"$gte\":10,\"$lt\":13}},\"sort\":[\"-a\"],\"limit\":20}",
    "{\"query\":{\"tags\":\"t3\"},\"sort\":[\"-b\"]}",
    "{\"query\":{\"tags\":{\"$in\":[\"t1\",\"t5\"]},\"b\":\"b4\"}}",
    "{\"sort\":[\"a\"],\"limit\":50}",
};

/* Returns the number of unfinished indexes the store dropped; checks what is left. */
static int verify(const char *dir, int *complete)
{
    struct bdoc_options o = opts();
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, &o, &db), 0);
    int building = 0;
    json_t *meta = NULL;
    if (bdoc_get1(db, "__meta", "c", &meta) == 0) {
        size_t i;
        json_t *ix;
        json_array_foreach(json_object_get(meta, "indexes"), i, ix)
            building += !strcmp(json_string_value(json_object_get(ix, "state")), "building");
        json_decref(meta);
    }
    struct bdoc_store *s = NULL;
    assert_int_equal(bdoc_store_open(db, &s), 0);
    struct bdoc_store_txn *t = NULL;
    assert_int_equal(bdoc_store_begin(s, BDOC_TXN_READONLY, &t), 0);
    json_t *list = NULL;
    int rc = bdoc_store_index_list(t, "c", &list);
    if (rc == BB_ENOTFOUND) { /* killed while loading the documents */
        bdoc_store_rollback(t);
        bdoc_store_close(s);
        assert_int_equal(bdoc_close(db), 0);
        return building;
    }
    assert_int_equal(rc, 0);
    size_t i;
    json_t *ix;
    json_array_foreach(list, i, ix) {
        assert_string_equal(json_string_value(json_object_get(ix, "state")), "ready");
        size_t problems = 99;
        assert_int_equal(bdoc_store_index_check(t, "c", json_string_value(json_object_get(ix, "name")),
                                                &problems),
                         0);
        assert_int_equal(problems, 0);
        (*complete)++;
    }
    /* no entries collection without its index */
    json_t *colls = NULL;
    struct bdoc_txn *tx = NULL;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &tx), 0);
    assert_int_equal(bdoc_collection_list(tx, "__idx.", &colls), 0);
    bdoc_rollback(tx);
    assert_int_equal(json_array_size(colls), json_array_size(list));
    json_decref(colls);
    json_decref(list);
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        json_t *req = json_loads(queries[q], 0, NULL);
        struct bdoc_store_find_result a = {0}, b = {0};
        assert_int_equal(bdoc_store_find(t, "c", req, NULL, 0, &a, NULL), 0);
        assert_int_equal(bdoc_store_find(t, "c", req, NULL, BDOC_STORE_FORCE_SCAN, &b, NULL), 0);
        assert_true(json_equal(a.docs, b.docs));
        bdoc_store_find_result_release(&a);
        bdoc_store_find_result_release(&b);
        json_decref(req);
    }
    bdoc_store_rollback(t);
    bdoc_store_close(s);
    /* the store dropped what was unfinished: nothing is left in state building */
    assert_int_equal(bdoc_get1(db, "__meta", "c", &meta), 0);
    json_array_foreach(json_object_get(meta, "indexes"), i, ix)
        assert_string_equal(json_string_value(json_object_get(ix, "state")), "ready");
    json_decref(meta);
    assert_int_equal(bdoc_close(db), 0);
    return building;
}

static void test_build_sigkill(void **state)
{
    (void)state;
    int cycles = 12;
    const char *env = getenv("BDOC_CRASH_CYCLES");
    if (env) cycles = (int)strtol(env, NULL, 10);
    char *dir = tu_tmpdir();
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "# seed %u, %d cycles\n", seed, cycles);
    srand(seed);
    int dropped = 0, complete = 0;
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
        /* kill 0..30 ms after the start of the 1st..3rd build of this run */
        unsigned want = 1 + (unsigned)(rand() % 3), got = 0, k;
        while (got < want) {
            ssize_t r = read(p[0], &k, sizeof k);
            if (r == (ssize_t)sizeof k) got++;
            else if (r == 0) {
                int status;
                waitpid(pid, &status, 0);
                fprintf(stderr, "child exited early: status %d\n", status);
                fail();
            } else if (r < 0 && errno != EINTR) {
                fail();
            }
        }
        usleep((useconds_t)(rand() % 30000));
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status)) fprintf(stderr, "child exited with %d\n", WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status));
        close(p[0]);
        dropped += verify(dir, &complete);
    }
    fprintf(stderr, "# %d cycles: %d unfinished builds dropped, %d complete indexes checked\n",
            cycles, dropped, complete);
    assert_true(dropped > 0); /* the kills did land inside builds */
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
