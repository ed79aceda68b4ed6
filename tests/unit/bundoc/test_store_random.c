/* Planner-vs-scan differential test for the bundoc store layer, plus index maintenance under
 * update/delete-heavy workloads. Thousands of generated find requests (random operators, nested
 * paths, arrays, mixed types, sorts, skip/limit, cursor paging) run over the same documents twice:
 * through the planner with many single-field, compound, descending and multikey indexes, and
 * through a forced full scan. Pages, cursors and (when the plan did not stop early) match counts
 * must be identical. Between queries, random inserts/replaces/patches/deletes change the data;
 * after each round every index must equal a rebuild (bdoc_store_index_check).
 * Generators adapted from test_query_random.c. BB_TEST_SEED=<n> replays a seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "bdoc_test_util.h"
#include "bundoc.h"
#include "query.h"
#include "store.h"

#define N_QUERIES 10500
#define N_ROUNDS 21
#define N_DOCS 64
#include "bdoc_gen.h"

/* ---- indexable-biased filters (so the planner has something to do) ---- */

static json_t *gen_pred_filter(void)
{
    json_t *f = json_object();
    unsigned n = 1 + rnd(3);
    for (unsigned i = 0; i < n; i++) {
        const char *p = PATHS[rnd(NPATHS)];
        unsigned k = rnd(10);
        if (k < 4) {
            json_object_set_new(f, p, gen_scalar());
        } else if (k < 7) {
            static const char *lo[] = {"$gt", "$gte"}, *hi[] = {"$lt", "$lte"};
            json_t *o = json_object();
            json_t *a = gen_scalar(), *b = rnd(2) ? gen_scalar() : NULL;
            if (rnd(3)) json_object_set_new(o, lo[rnd(2)], a);
            else json_object_set_new(o, hi[rnd(2)], a);
            if (b) json_object_set_new(o, hi[rnd(2)], b);
            json_object_set_new(f, p, o);
        } else if (k < 9) {
            json_t *in = json_array();
            unsigned m = 1 + rnd(4);
            for (unsigned j = 0; j < m; j++) json_array_append_new(in, rnd(6) ? gen_scalar() : gen_value(1));
            json_object_set_new(f, p, json_pack("{s:o}", "$in", in));
        } else {
            json_object_set_new(f, p, gen_ops(1));
        }
    }
    if (rnd(4) == 0) { /* extra non-indexable residue */
        json_t *g = gen_filter(1);
        json_object_set_new(f, "$and", json_pack("[o]", g));
    }
    return f;
}

/* ---- harness ---- */

static uint64_t seed_from_env(void)
{
    const char *s = getenv("BB_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 10) : 0x5eed5eedull;
}

static const char *INDEXES[] = {
    "{\"name\":\"i_a\",\"fields\":[\"a\"]}",
    "{\"name\":\"i_b\",\"fields\":[\"b\"]}",
    "{\"name\":\"i_bd\",\"fields\":[\"-b\"]}",
    "{\"name\":\"i_c\",\"fields\":[\"c\"]}",
    "{\"name\":\"i_ck\",\"fields\":[\"c.k\"]}",
    "{\"name\":\"i_nx\",\"fields\":[\"n.x\"]}",
    "{\"name\":\"i_nyz\",\"fields\":[\"n.y.z\"]}",
    "{\"name\":\"i_arr\",\"fields\":[\"arr\"]}",
    "{\"name\":\"i_arr0\",\"fields\":[\"arr.0\"]}",
    "{\"name\":\"i_objsk\",\"fields\":[\"objs.k\"]}",
    "{\"name\":\"i_objsm\",\"fields\":[\"-objs.m\"]}",
    "{\"name\":\"i_ab\",\"fields\":[\"a\",\"b\"]}",
    "{\"name\":\"i_ba\",\"fields\":[\"b\",\"-a\"]}",
    "{\"name\":\"i_bnx\",\"fields\":[\"b\",\"n.x\",\"-n.y.z\"]}",
    "{\"name\":\"i_o0k\",\"fields\":[\"objs.0.k\",\"b\"]}",
    "{\"name\":\"i_zz\",\"fields\":[\"zz\"]}",
};
#define NIDX (sizeof INDEXES / sizeof INDEXES[0])

static struct bdoc_store *g_s;

static void must(int rc, const char *what)
{
    if (rc) fail_msg("%s: %d", what, rc);
}

static void put_doc(const char *coll, json_t *d)
{
    struct bdoc_store_txn *t;
    must(bdoc_store_begin(g_s, 0, &t), "begin");
    must(bdoc_store_insert(t, coll, d, NULL, NULL, NULL), "insert");
    must(bdoc_store_commit(t), "commit");
}

/* one random mutation: replace / patch / delete / re-insert */
static void mutate(const char *coll)
{
    char id[16];
    snprintf(id, sizeof id, "id%03u", rnd(N_DOCS));
    struct bdoc_store_txn *t;
    must(bdoc_store_begin(g_s, 0, &t), "begin");
    unsigned op = rnd(4);
    int rc;
    if (op == 0) {
        json_t *d = gen_doc(0);
        json_object_del(d, "_id");
        rc = bdoc_store_replace(t, coll, id, d, NULL, NULL, NULL);
        json_decref(d);
    } else if (op == 1) {
        static const char *pp[] = {"a", "b", "n.x", "n.y", "arr", "c.k", "objs", "zz"};
        json_t *p = json_object();
        json_object_set_new(p, pp[rnd(8)], gen_value(1));
        if (rnd(3) == 0) json_object_set_new(p, "$unset", json_pack("{s:b}", pp[rnd(8)], 1));
        rc = bdoc_store_patch(t, coll, id, p, NULL, NULL, NULL);
        json_decref(p);
    } else if (op == 2) {
        rc = bdoc_store_delete(t, coll, id, NULL, NULL);
    } else {
        json_t *d = gen_doc(0);
        json_object_set_new(d, "_id", json_string(id));
        rc = bdoc_store_insert(t, coll, d, NULL, NULL, NULL);
        json_decref(d);
    }
    if (rc == 0) must(bdoc_store_commit(t), "commit");
    else if (rc == BB_ENOTFOUND || rc == BB_EEXIST) bdoc_store_rollback(t);
    else fail_msg("mutation %u on %s: %d", op, id, rc);
}

static void test_differential(void **state)
{
    (void)state;
    uint64_t seed = seed_from_env();
    rng_state = seed;
    char *dir = tu_tmpdir();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_OFF;
    o.checkpoint_bytes = 1ull << 30; /* no checkpoint fsyncs during the test */
    struct bdoc_db *db;
    must(bdoc_open(dir, &o, &db), "open");
    must(bdoc_store_open(db, &g_s), "store");
    static const char *spaths[] = {"a", "b", "n.x", "arr", "arr.0", "n.y.z", "objs.0.k", "c", "_id"};
    size_t ix_used = 0, sorted_by_ix = 0, early = 0, nonempty = 0, pages = 0, checks = 0;
    int q = 0;
    for (int round = 0; round < N_ROUNDS; round++) {
        char coll[32];
        snprintf(coll, sizeof coll, "r%d", round);
        struct bdoc_store_error e = {0};
        must(bdoc_store_collection_create(g_s, coll, NULL, NULL, &e), "coll");
        /* half the documents before the indexes (build), half after (maintenance) */
        for (int i = 0; i < N_DOCS; i += 2) {
            json_t *d = gen_doc(i);
            put_doc(coll, d);
            json_decref(d);
        }
        for (size_t i = 0; i < NIDX; i++) {
            json_t *spec = json_loads(INDEXES[i], 0, NULL);
            int rc = bdoc_store_index_create(g_s, coll, spec, &e);
            if (rc) fail_msg("index %s: %d %s", INDEXES[i], rc, e.message);
            json_decref(spec);
        }
        for (int i = 1; i < N_DOCS; i += 2) {
            json_t *d = gen_doc(i);
            put_doc(coll, d);
            json_decref(d);
        }
        for (int k = 0; k < N_QUERIES / N_ROUNDS; k++, q++) {
            if (k % 10 == 9) mutate(coll);
            json_t *f = rnd(5) ? gen_pred_filter() : gen_filter(2);
            json_t *sort = json_array();
            unsigned ns = rnd(3);
            for (unsigned i = 0; i < ns; i++) {
                char buf[64];
                snprintf(buf, sizeof buf, "%s%s", rnd(2) ? "-" : "", spaths[rnd(9)]);
                json_array_append_new(sort, json_string(buf));
            }
            size_t skip = rnd(3) ? 0 : rnd(10), limit = rnd(4) ? 1 + rnd(12) : 0;
            json_t *req = json_pack("{s:o,s:o,s:i,s:i}", "query", f, "sort", sort, "skip",
                                    (int)skip, "limit", (int)limit);
            if (rnd(8) == 0) json_object_set_new(req, "fields", json_pack("[s,s]", "a", "n.x"));
            struct bdoc_store_txn *t;
            must(bdoc_store_begin(g_s, BDOC_TXN_READONLY, &t), "begin");
            for (int page = 0; page < 6; page++) {
                struct bdoc_store_find_result a, b;
                int ra = bdoc_store_find(t, coll, req, NULL, 0, &a, &e);
                int rb = bdoc_store_find(t, coll, req, NULL, BDOC_STORE_FORCE_SCAN, &b, NULL);
                char *rs = json_dumps(req, JSON_COMPACT);
                if (ra || rb) fail_msg("seed %llu q %d: %s: rc %d/%d %s", (unsigned long long)seed, q, rs, ra, rb, e.message);
                int same = json_equal(a.docs, b.docs) &&
                           ((!a.cursor && !b.cursor) || (a.cursor && b.cursor && !strcmp(a.cursor, b.cursor)));
                int stopped = json_is_true(json_object_get(a.explain, "early_stop"));
                if (!stopped && a.matched != b.matched) same = 0;
                if (!same) {
                    char *x = json_dumps(a.docs, JSON_COMPACT), *y = json_dumps(b.docs, JSON_COMPACT);
                    char *z = json_dumps(a.explain, JSON_COMPACT);
                    fail_msg("seed %llu q %d page %d: %s\nplanner %s\nscan    %s\nexplain %s\nmatched %zu/%zu",
                             (unsigned long long)seed, q, page, rs, x, y, z, a.matched, b.matched);
                }
                free(rs);
                const char *plan = json_string_value(json_object_get(a.explain, "plan"));
                if (page == 0) {
                    ix_used += plan && !strcmp(plan, "IXSCAN");
                    sorted_by_ix += json_is_true(json_object_get(a.explain, "sort_from_index"));
                    early += (size_t)stopped;
                    nonempty += json_array_size(a.docs) > 0;
                } else {
                    pages++;
                }
                char *cur = a.cursor ? strdup(a.cursor) : NULL;
                bdoc_store_find_result_release(&a);
                bdoc_store_find_result_release(&b);
                if (!cur) break;
                json_object_del(req, "skip");
                json_object_set_new(req, "cursor", json_string(cur));
                free(cur);
            }
            bdoc_store_rollback(t);
            json_decref(req);
        }
        /* maintenance: a burst of update/delete-heavy mutations, then every index == rebuild */
        for (int i = 0; i < 150; i++) mutate(coll);
        struct bdoc_store_txn *t;
        must(bdoc_store_begin(g_s, BDOC_TXN_READONLY, &t), "begin");
        for (size_t i = 0; i < NIDX; i++) {
            json_t *spec = json_loads(INDEXES[i], 0, NULL);
            const char *name = json_string_value(json_object_get(spec, "name"));
            size_t bad = 0;
            must(bdoc_store_index_check(t, coll, name, &bad), "check");
            if (bad) fail_msg("seed %llu round %d: index %s has %zu bad entries", (unsigned long long)seed, round, name, bad);
            checks++;
            json_decref(spec);
        }
        bdoc_store_rollback(t);
        /* drop half the collections' indexes cleanly; the other half go with the collection */
        if (round % 2) {
            must(bdoc_store_index_drop(g_s, coll, "i_a", &e), "drop index");
        } else {
            must(bdoc_store_collection_drop(g_s, coll, &e), "drop coll");
        }
    }
    print_message("%d queries (+%zu cursor pages): %zu via an index, %zu sorted by an index, %zu "
                  "stopped early, %zu non-empty; %zu index checks\n",
                  q, pages, ix_used, sorted_by_ix, early, nonempty, checks);
    assert_true(q >= 10000);
    assert_true(ix_used > (size_t)q / 3);
    assert_true(sorted_by_ix > 50);
    assert_true(early > 50);
    assert_true(nonempty > (size_t)q / 10);
    bdoc_store_close(g_s);
    must(bdoc_close(db), "close");
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
