/* Tests for the bundoc store layer (store.h): key encoding order, index maintenance, unique
 * indexes, multikey, compound/sort plans with explain, online builds under concurrent writes,
 * schema (prevent_schema_override, update_if_exists), references (reference §2.5/§7) and rules
 * (reference §2.6/§7). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#define rnd gen_rnd /* test_store.c has its own rnd */
#define rng_state gen_rng_state
#include "bdoc_gen.h"
#undef rnd
#undef rng_state
#include "bdoc_test_util.h"
#include "doc.h"
#include "bundoc.h"
#include "query.h"
#include "store.h"
#include "store_int.h"

struct env {
    char *dir;
    struct bdoc_db *db;
    struct bdoc_store *s;
};

static struct env *env_new(void)
{
    struct env *v = calloc(1, sizeof *v);
    v->dir = tu_tmpdir();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_OFF;
    o.checkpoint_bytes = 1ull << 30; /* no checkpoint fsyncs during the test */
    assert_int_equal(bdoc_open(v->dir, &o, &v->db), 0);
    assert_int_equal(bdoc_store_open(v->db, &v->s), 0);
    return v;
}

static void env_free(struct env *v)
{
    bdoc_store_close(v->s);
    assert_int_equal(bdoc_close(v->db), 0);
    tu_rmrf(v->dir);
    free(v);
}

static json_t *J(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    if (!j) fail_msg("bad test json %s: %s", s, je.text);
    return j;
}

static void mkcoll(struct env *v, const char *name, const char *opts)
{
    json_t *o = opts ? J(opts) : NULL;
    struct bdoc_store_error e = {0};
    int rc = bdoc_store_collection_create(v->s, name, o, NULL, &e);
    if (rc) fail_msg("create %s: %d %s", name, rc, e.message);
    json_decref(o);
}

static void mkindex(struct env *v, const char *coll, const char *spec)
{
    json_t *j = J(spec);
    struct bdoc_store_error e = {0};
    int rc = bdoc_store_index_create(v->s, coll, j, &e);
    if (rc) fail_msg("index %s: %d %s", spec, rc, e.message);
    json_decref(j);
}

/* Runs one write op in its own transaction; returns rc of the op (commit must succeed on 0). */
static int ins(struct env *v, const char *coll, const char *doc, const struct bdoc_store_actor *a,
               struct bdoc_store_error *e)
{
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, 0, &t), 0);
    json_t *d = J(doc);
    int rc = bdoc_store_insert(t, coll, d, a, NULL, e);
    json_decref(d);
    if (rc) {
        bdoc_store_rollback(t);
        return rc;
    }
    return bdoc_store_commit(t);
}

static int ins0(struct env *v, const char *coll, const char *doc)
{
    struct bdoc_store_error e = {0};
    int rc = ins(v, coll, doc, NULL, &e);
    bdoc_store_error_release(&e);
    return rc;
}

static int patch(struct env *v, const char *coll, const char *id, const char *p,
                 const struct bdoc_store_actor *a, struct bdoc_store_error *e)
{
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, 0, &t), 0);
    json_t *d = J(p);
    int rc = bdoc_store_patch(t, coll, id, d, a, NULL, e);
    json_decref(d);
    if (rc) {
        bdoc_store_rollback(t);
        return rc;
    }
    return bdoc_store_commit(t);
}

static int del(struct env *v, const char *coll, const char *id, const struct bdoc_store_actor *a,
               struct bdoc_store_error *e)
{
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, 0, &t), 0);
    int rc = bdoc_store_delete(t, coll, id, a, e);
    if (rc) {
        bdoc_store_rollback(t);
        return rc;
    }
    return bdoc_store_commit(t);
}

static json_t *getdoc(struct env *v, const char *coll, const char *id)
{
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *d = NULL;
    if (bdoc_store_get(t, coll, id, NULL, &d, NULL)) d = NULL;
    bdoc_store_rollback(t);
    return d;
}

/* find through the planner and through a forced scan; results must agree. */
static json_t *find(struct env *v, const char *coll, const char *req, json_t **explain)
{
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *r = J(req);
    struct bdoc_store_find_result a, b;
    struct bdoc_store_error e = {0};
    int rc = bdoc_store_find(t, coll, r, NULL, 0, &a, &e);
    if (rc) fail_msg("find %s: %d %s", req, rc, e.message);
    assert_int_equal(bdoc_store_find(t, coll, r, NULL, BDOC_STORE_FORCE_SCAN, &b, NULL), 0);
    if (!json_equal(a.docs, b.docs)) {
        char *x = json_dumps(a.docs, JSON_COMPACT), *y = json_dumps(b.docs, JSON_COMPACT);
        char *z = json_dumps(a.explain, JSON_COMPACT);
        fail_msg("planner/scan differ for %s:\n%s\n%s\n%s", req, x, y, z);
    }
    bdoc_store_rollback(t);
    json_decref(r);
    json_t *docs = json_incref(a.docs);
    if (explain) *explain = json_incref(a.explain);
    bdoc_store_find_result_release(&a);
    bdoc_store_find_result_release(&b);
    return docs;
}

static size_t check_index(struct env *v, const char *coll, const char *name)
{
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    size_t bad = 99;
    assert_int_equal(bdoc_store_index_check(t, coll, name, &bad), 0);
    bdoc_store_rollback(t);
    return bad;
}

static const char *ex_str(const json_t *ex, const char *k)
{
    return json_string_value(json_object_get(ex, k));
}

/* ---- key encoding ---- */

static uint64_t rs = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (unsigned)(rs % n);
}

static json_t *gen_val(int depth)
{
    static const char *strs[] = {"", "a", "b", "ab", "a\x01", "\xc3\xa9", "aa", "ba", "a\x01z"};
    static const double reals[] = {-1.5, 0.5, 2.0, 1e300, -0.0, 9007199254740993.0,
                                   9.2233720368547758e18, -9.2233720368547758e18, 1e-300};
    static const json_int_t ints[] = {0, 1, -1, 2, 9007199254740993LL, INT64_MAX, INT64_MIN,
                                      INT64_MAX - 1, 9007199254740992LL};
    switch (rnd(depth > 0 ? 9 : 6)) {
    case 0: return json_null();
    case 1: return json_boolean(rnd(2));
    case 2: return json_integer(ints[rnd(9)]);
    case 3: return json_real(reals[rnd(9)]);
    case 4:
    case 5: {
        if (rnd(6) == 0) { /* long strings exercise truncation */
            char buf[400];
            size_t n = 100 + rnd(250);
            for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + rnd(2));
            return json_stringn(buf, n);
        }
        return json_string(strs[rnd(9)]);
    }
    case 6:
    case 7: {
        json_t *a = json_array();
        unsigned n = rnd(4);
        for (unsigned i = 0; i < n; i++) json_array_append_new(a, gen_val(depth - 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        static const char *keys[] = {"", "a", "b", "ab"};
        unsigned n = rnd(3);
        for (unsigned i = 0; i < n; i++) json_object_set_new(o, keys[rnd(4)], gen_val(depth - 1));
        return o;
    }
    }
}

static int sgn(int x)
{
    return (x > 0) - (x < 0);
}

static void test_key_order(void **state)
{
    (void)state;
    for (int it = 0; it < 20000; it++) {
        json_t *a = gen_val(2), *b = gen_val(2);
        int want = sgn(bdoc_value_cmp(a, b));
        for (int desc = 0; desc < 2; desc++) {
            struct sk_buf x = {0}, y = {0};
            assert_int_equal(sk_encode_value(&x, a, desc), 0);
            assert_int_equal(sk_encode_value(&y, b, desc), 0);
            size_t n = x.len < y.len ? x.len : y.len;
            int c = memcmp(x.p, y.p, n);
            c = c ? sgn(c) : sgn((int)(x.len > y.len) - (int)(x.len < y.len));
            /* exact raw encodings: identical order (reversed for desc) */
            if (c != (desc ? -want : want)) {
                char *sa = json_dumps(a, JSON_ENCODE_ANY), *sb = json_dumps(b, JSON_ENCODE_ANY);
                fail_msg("order of %s vs %s (desc %d): got %d want %d", sa, sb, desc, c, want);
            }
            /* hex value parts (possibly truncated): monotone */
            struct sk_buf hx = {0}, hy = {0};
            sk_hex_value(&hx, x.p, x.len, NULL);
            sk_hex_value(&hy, y.p, y.len, NULL);
            int h = sgn(strcmp((char *)hx.p, (char *)hy.p));
            if (want) assert_true(h == 0 || h == (desc ? -want : want));
            else assert_int_equal(h, 0);
            sk_buf_release(&x);
            sk_buf_release(&y);
            sk_buf_release(&hx);
            sk_buf_release(&hy);
        }
        json_decref(a);
        json_decref(b);
    }
}

/* ---- indexes, planner, explain ---- */

static void test_index_basic(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "people", NULL);
    char buf[256];
    static const char *cities[] = {"oslo", "rome", "lima", "kyiv"};
    for (int i = 0; i < 300; i++) {
        snprintf(buf, sizeof buf,
                 "{\"_id\":\"p%03d\",\"age\":%d,\"city\":\"%s\",\"addr\":{\"zip\":%d},"
                 "\"tags\":[\"t%d\",\"t%d\"]}",
                 i, i % 90, cities[i % 4], 1000 + i % 50, i % 7, i % 5);
        assert_int_equal(ins0(v, "people", buf), 0);
    }
    /* some odd types on the same fields */
    assert_int_equal(ins0(v, "people", "{\"_id\":\"x1\",\"age\":\"30\"}"), 0);
    assert_int_equal(ins0(v, "people", "{\"_id\":\"x2\",\"age\":30.0}"), 0);
    assert_int_equal(ins0(v, "people", "{\"_id\":\"x3\",\"age\":null}"), 0);
    assert_int_equal(ins0(v, "people", "{\"_id\":\"x4\"}"), 0);
    mkindex(v, "people", "{\"name\":\"by_age\",\"fields\":[\"age\"]}");
    mkindex(v, "people", "{\"name\":\"by_zip\",\"fields\":[\"addr.zip\"]}");
    mkindex(v, "people", "{\"name\":\"by_tags\",\"fields\":[\"tags\"]}");
    mkindex(v, "people", "{\"name\":\"city_age\",\"fields\":[\"city\",\"-age\"]}");
    assert_int_equal(check_index(v, "people", "by_age"), 0);
    assert_int_equal(check_index(v, "people", "city_age"), 0);

    json_t *ex = NULL, *docs;
    docs = find(v, "people", "{\"query\":{\"age\":30}}", &ex);
    assert_string_equal(ex_str(ex, "plan"), "IXSCAN");
    assert_string_equal(ex_str(ex, "index"), "by_age");
    /* 30 and 30.0 are equal in the order, "30" is not */
    assert_int_equal(json_array_size(docs), 3 + 1); /* i%90==30 three times, plus 30.0 */
    assert_true(json_integer_value(json_object_get(ex, "docs_examined")) <=
                (json_int_t)json_array_size(docs));
    json_decref(ex);
    json_decref(docs);

    docs = find(v, "people", "{\"query\":{\"age\":{\"$gte\":85,\"$lt\":88}},\"sort\":[\"age\"]}", &ex);
    assert_string_equal(ex_str(ex, "index"), "by_age");
    assert_true(json_is_true(json_object_get(ex, "sort_from_index")));
    assert_int_equal(json_array_size(docs), 3 * 3);
    json_decref(ex);
    json_decref(docs);

    docs = find(v, "people", "{\"query\":{\"age\":{\"$gt\":85}}}", &ex);
    assert_int_equal(json_array_size(docs), 4 * 3);
    json_decref(ex);
    json_decref(docs);

    docs = find(v, "people", "{\"query\":{\"addr.zip\":{\"$in\":[1003,1007,9999]}}}", &ex);
    assert_string_equal(ex_str(ex, "index"), "by_zip");
    assert_int_equal(json_array_size(docs), 12);
    json_decref(ex);
    json_decref(docs);

    /* multikey: element match, no duplicates */
    docs = find(v, "people", "{\"query\":{\"tags\":{\"$in\":[\"t1\",\"t3\"]}}}", &ex);
    assert_string_equal(ex_str(ex, "index"), "by_tags");
    json_decref(ex);
    json_decref(docs);

    /* compound + sort served by the index, early stop with a limit */
    docs = find(v, "people", "{\"query\":{\"city\":\"rome\"},\"sort\":[\"-age\"],\"limit\":3}",
                &ex);
    assert_string_equal(ex_str(ex, "index"), "city_age");
    assert_true(json_is_true(json_object_get(ex, "sort_from_index")));
    assert_true(json_is_true(json_object_get(ex, "early_stop")));
    assert_true(json_integer_value(json_object_get(ex, "docs_examined")) < 20);
    assert_int_equal(json_array_size(docs), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(docs, 0), "age")), 89);
    json_decref(ex);
    json_decref(docs);

    /* reverse index scans: the opposite direction of every sort key, compound and single
     * (same pages as the forced scan, checked by find()) */
    docs = find(v, "people", "{\"query\":{\"city\":\"rome\"},\"sort\":[\"age\"],\"limit\":3}",
                &ex);
    assert_string_equal(ex_str(ex, "index"), "city_age");
    assert_true(json_is_true(json_object_get(ex, "sort_from_index")));
    assert_true(json_is_true(json_object_get(ex, "reverse_scan")));
    assert_true(json_is_true(json_object_get(ex, "early_stop")));
    assert_true(json_integer_value(json_object_get(ex, "docs_examined")) < 20);
    assert_int_equal(json_array_size(docs), 3);
    json_decref(ex);
    json_decref(docs);
    docs = find(v, "people", "{\"sort\":[\"-age\"],\"limit\":4,\"skip\":1}", &ex);
    assert_string_equal(ex_str(ex, "plan"), "IXSCAN");
    assert_true(json_is_true(json_object_get(ex, "reverse_scan")));
    assert_true(json_integer_value(json_object_get(ex, "docs_examined")) < 30);
    assert_int_equal(json_array_size(docs), 4);
    json_decref(ex);
    json_decref(docs);
    docs = find(v, "people", "{\"query\":{\"age\":{\"$gte\":80,\"$lt\":88}},\"sort\":[\"-age\"],\"limit\":5}", &ex);
    assert_string_equal(ex_str(ex, "index"), "by_age");
    assert_true(json_is_true(json_object_get(ex, "reverse_scan")));
    assert_int_equal(json_array_size(docs), 5);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(docs, 0), "age")), 87);
    json_decref(ex);
    json_decref(docs);

    /* sort-only plan: top-k by the index without a predicate */
    docs = find(v, "people", "{\"sort\":[\"age\"],\"limit\":5,\"skip\":2}", &ex);
    assert_string_equal(ex_str(ex, "plan"), "IXSCAN");
    assert_true(json_integer_value(json_object_get(ex, "docs_examined")) < 40);
    json_decref(ex);
    json_decref(docs);

    /* no index applies: full scan; the explain says why */
    docs = find(v, "people", "{\"query\":{\"$or\":[{\"age\":1},{\"city\":\"oslo\"}]}}", &ex);
    assert_string_equal(ex_str(ex, "plan"), "COLLSCAN");
    assert_true(json_array_size(json_object_get(ex, "considered")) == 4);
    json_decref(ex);
    json_decref(docs);

    /* updates and deletes keep the entries exact */
    struct bdoc_store_error e = {0};
    assert_int_equal(patch(v, "people", "p001", "{\"age\":77,\"tags\":[\"zz\"]}", NULL, &e), 0);
    assert_int_equal(del(v, "people", "p002", NULL, &e), 0);
    assert_int_equal(patch(v, "people", "p003", "{\"$unset\":{\"age\":1}}", NULL, &e), 0);
    assert_int_equal(check_index(v, "people", "by_age"), 0);
    assert_int_equal(check_index(v, "people", "by_tags"), 0);
    assert_int_equal(check_index(v, "people", "city_age"), 0);
    docs = find(v, "people", "{\"query\":{\"tags\":\"zz\"}}", NULL);
    assert_int_equal(json_array_size(docs), 1);
    json_decref(docs);

    /* drop: gone from the listing and from plans; hidden collections stay hidden */
    assert_int_equal(bdoc_store_index_drop(v->s, "people", "by_age", &e), 0);
    assert_int_equal(bdoc_store_index_drop(v->s, "people", "by_age", &e), BB_ENOTFOUND);
    docs = find(v, "people", "{\"query\":{\"age\":30}}", &ex);
    assert_string_equal(ex_str(ex, "plan"), "COLLSCAN");
    json_decref(ex);
    json_decref(docs);
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *names = NULL;
    assert_int_equal(bdoc_store_collection_list(t, NULL, &names), 0);
    assert_int_equal(json_array_size(names), 1);
    json_decref(names);
    bdoc_store_rollback(t);
    env_free(v);
}

static void test_unique(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "u", NULL);
    assert_int_equal(ins0(v, "u", "{\"_id\":\"a\",\"email\":\"x@y\"}"), 0);
    assert_int_equal(ins0(v, "u", "{\"_id\":\"b\",\"email\":\"x@y\"}"), 0);
    /* building a unique index over duplicates fails, naming the index, leaving nothing */
    json_t *spec = J("{\"name\":\"by_email\",\"fields\":[\"email\"],\"unique\":true}");
    struct bdoc_store_error e = {0};
    assert_int_equal(bdoc_store_index_create(v->s, "u", spec, &e), BB_EEXIST);
    assert_non_null(strstr(e.message, "by_email"));
    bdoc_store_error_release(&e);
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *il = NULL;
    assert_int_equal(bdoc_store_index_list(t, "u", &il), 0);
    assert_int_equal(json_array_size(il), 0);
    json_decref(il);
    bdoc_store_rollback(t);
    assert_int_equal(del(v, "u", "b", NULL, &e), 0);
    assert_int_equal(bdoc_store_index_create(v->s, "u", spec, &e), 0);
    json_decref(spec);

    assert_int_equal(ins(v, "u", "{\"_id\":\"c\",\"email\":\"x@y\"}", NULL, &e), BB_EEXIST);
    assert_string_equal(e.index, "by_email");
    assert_non_null(strstr(e.message, "'a'"));
    bdoc_store_error_release(&e);
    /* 1 and 1.0 are the same value */
    assert_int_equal(ins0(v, "u", "{\"_id\":\"n1\",\"email\":1}"), 0);
    assert_int_equal(ins0(v, "u", "{\"_id\":\"n2\",\"email\":1.0}"), BB_EEXIST);
    /* missing / null are not constrained */
    assert_int_equal(ins0(v, "u", "{\"_id\":\"m1\"}"), 0);
    assert_int_equal(ins0(v, "u", "{\"_id\":\"m2\"}"), 0);
    assert_int_equal(ins0(v, "u", "{\"_id\":\"m3\",\"email\":null}"), 0);
    /* update into a duplicate, then a value freed by an update is reusable */
    assert_int_equal(patch(v, "u", "m1", "{\"email\":\"x@y\"}", NULL, &e), BB_EEXIST);
    bdoc_store_error_release(&e);
    assert_int_equal(patch(v, "u", "a", "{\"email\":\"new@y\"}", NULL, &e), 0);
    assert_int_equal(patch(v, "u", "m1", "{\"email\":\"x@y\"}", NULL, &e), 0);
    /* long values (truncated keys) stay exact for uniqueness */
    char big1[600], big2[600];
    memset(big1, 'q', 400);
    big1[400] = 0;
    memcpy(big2, big1, 401);
    big2[399] = 'r';
    char d1[700], d2[700];
    snprintf(d1, sizeof d1, "{\"_id\":\"L1\",\"email\":\"%s\"}", big1);
    snprintf(d2, sizeof d2, "{\"_id\":\"L2\",\"email\":\"%s\"}", big2);
    assert_int_equal(ins0(v, "u", d1), 0);
    assert_int_equal(ins0(v, "u", d2), 0);
    snprintf(d2, sizeof d2, "{\"_id\":\"L3\",\"email\":\"%s\"}", big1);
    assert_int_equal(ins0(v, "u", d2), BB_EEXIST);
    /* two concurrent transactions inserting the same value: one wins */
    struct bdoc_store_txn *t1, *t2;
    assert_int_equal(bdoc_store_begin(v->s, 0, &t1), 0);
    assert_int_equal(bdoc_store_begin(v->s, 0, &t2), 0);
    json_t *a1 = J("{\"_id\":\"c1\",\"email\":\"race\"}"), *a2 = J("{\"_id\":\"c2\",\"email\":\"race\"}");
    assert_int_equal(bdoc_store_insert(t1, "u", a1, NULL, NULL, NULL), 0);
    assert_int_equal(bdoc_store_insert(t2, "u", a2, NULL, NULL, NULL), 0);
    assert_int_equal(bdoc_store_commit(t1), 0);
    int rc2 = bdoc_store_commit(t2);
    assert_true(rc2 == BB_ECONFLICT || rc2 == BB_EEXIST);
    json_decref(a1);
    json_decref(a2);
    assert_int_equal(check_index(v, "u", "by_email"), 0);
    env_free(v);
}

/* ---- online build with concurrent writers ---- */

struct writer {
    struct env *v;
    int stop;
    int ops;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    unsigned seed = 7;
    char buf[128];
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % 2000, op = (seed >> 20) % 3;
        char id[16];
        snprintf(id, sizeof id, "d%04u", k);
        struct bdoc_store_txn *t;
        if (bdoc_store_begin(w->v->s, 0, &t)) continue;
        int rc;
        if (op == 0) {
            snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"v\":%u,\"w\":[%u,%u]}", id, seed % 100,
                     seed % 7, seed % 5);
            json_t *d = J(buf);
            rc = bdoc_store_insert(t, "c", d, NULL, NULL, NULL);
            json_decref(d);
        } else if (op == 1) {
            snprintf(buf, sizeof buf, "{\"v\":%u}", seed % 100);
            json_t *d = J(buf);
            rc = bdoc_store_patch(t, "c", id, d, NULL, NULL, NULL);
            json_decref(d);
        } else {
            rc = bdoc_store_delete(t, "c", id, NULL, NULL);
        }
        if (rc) bdoc_store_rollback(t);
        else if (bdoc_store_commit(t) == 0) __atomic_add_fetch(&w->ops, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_online_build(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "c", NULL);
    char buf[128];
    for (int i = 0; i < 2000; i += 2) {
        snprintf(buf, sizeof buf, "{\"_id\":\"d%04d\",\"v\":%d,\"w\":[1,2]}", i, i % 100);
        assert_int_equal(ins0(v, "c", buf), 0);
    }
    bdoc_store_set_build_batch(v->s, 50);
    struct writer w = {v, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    /* build two indexes while the writer runs */
    struct bdoc_store_error e = {0};
    json_t *s1 = J("{\"name\":\"by_v\",\"fields\":[\"v\"]}");
    json_t *s2 = J("{\"name\":\"by_w\",\"fields\":[\"w\",\"-v\"]}");
    int rc = 0;
    for (int tries = 0; tries < 20; tries++) {
        rc = bdoc_store_index_create(v->s, "c", s1, &e);
        if (rc != BB_ECONFLICT) break;
    }
    assert_int_equal(rc, 0);
    for (int tries = 0; tries < 20; tries++) {
        rc = bdoc_store_index_create(v->s, "c", s2, &e);
        if (rc != BB_ECONFLICT) break;
    }
    assert_int_equal(rc, 0);
    json_decref(s1);
    json_decref(s2);
    /* let the writer continue on the ready indexes a bit (on a loaded machine the builds can be
     * over before its thread got the CPU: wait for its first commit, bounded) */
    for (int i = 0; i < 200 || (__atomic_load_n(&w.ops, __ATOMIC_RELAXED) == 0 && i < 20000); i++) {
        json_t *docs = find(v, "c", "{\"query\":{\"v\":{\"$lt\":10}}}", NULL);
        json_decref(docs);
        if (i > 20 && __atomic_load_n(&w.ops, __ATOMIC_RELAXED) > 400) break;
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    assert_true(w.ops > 0);
    assert_int_equal(check_index(v, "c", "by_v"), 0);
    assert_int_equal(check_index(v, "c", "by_w"), 0);
    env_free(v);
}

/* ---- schema ---- */

/* A bulk-loaded build over documents whose ids are too long for the key (the entry carries the
 * id as "i") and values long enough to be truncated: entries equal a rebuild, and queries through
 * the index (which read "i" from the entries) equal a scan. */
static void test_build_long_ids(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "c", NULL);
    char doc[1200], id[260], val[400];
    for (int i = 0; i < 300; i++) {
        memset(id, 'x', 250);
        snprintf(id + 250, 10, "%05d", i);
        memset(val, 'v', 300);
        snprintf(val + 300, 10, "%03d", i % 7);
        snprintf(doc, sizeof doc, "{\"_id\":\"%s\",\"a\":%d,\"s\":\"%s\"}", i % 2 ? id : id + 240,
                 i % 10, val);
        assert_int_equal(ins0(v, "c", doc), 0);
    }
    bdoc_store_set_build_batch(v->s, 50);
    bdoc_store_set_build_fill(v->s, 70);
    mkindex(v, "c", "{\"name\":\"ia\",\"fields\":[\"a\"]}");
    mkindex(v, "c", "{\"name\":\"is\",\"fields\":[\"s\",\"-a\"]}");
    assert_int_equal(check_index(v, "c", "ia"), 0);
    assert_int_equal(check_index(v, "c", "is"), 0);
    json_t *ex = NULL;
    json_t *d = find(v, "c", "{\"query\":{\"a\":3}}", &ex);
    assert_int_equal(json_array_size(d), 30);
    assert_string_equal(ex_str(ex, "plan"), "IXSCAN");
    json_decref(d);
    json_decref(ex);
    memset(val, 'v', 300);
    snprintf(val + 300, 10, "%03d", 4);
    snprintf(doc, sizeof doc, "{\"query\":{\"s\":\"%s\"},\"sort\":[\"-a\"]}", val);
    d = find(v, "c", doc, &ex);
    assert_true(json_array_size(d) > 0);
    assert_string_equal(ex_str(ex, "plan"), "IXSCAN");
    json_decref(d);
    json_decref(ex);
    env_free(v);
}

/* External sort: with a memory bound of 2000 bytes every few documents spill a sorted run to a temporary file and the load merges the runs; non-unique (multikey, compound,
 * descending) and unique indexes come out equal to a rebuild and serve queries like a scan. */
static void test_build_external_sort(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "c", NULL);
    char doc[256];
    for (int i = 0; i < 600; i++) {
        snprintf(doc, sizeof doc, "{\"_id\":\"e%04d\",\"a\":%d,\"u\":%d,\"t\":[\"x%d\",\"y%d\"],\"s\":\"%c\"}",
                 (i * 7919) % 600, i % 13, i, i % 5, i % 3, 'a' + i % 26);
        assert_int_equal(ins0(v, "c", doc), 0);
    }
    bdoc_store_set_build_mem(v->s, 2000);
    bdoc_store_set_build_batch(v->s, 37);
    mkindex(v, "c", "{\"name\":\"ia\",\"fields\":[\"a\",\"-s\"]}");
    mkindex(v, "c", "{\"name\":\"it\",\"fields\":[\"t\"]}");
    mkindex(v, "c", "{\"name\":\"iu\",\"fields\":[\"u\"],\"unique\":true}");
    assert_int_equal(check_index(v, "c", "ia"), 0);
    assert_int_equal(check_index(v, "c", "it"), 0);
    assert_int_equal(check_index(v, "c", "iu"), 0);
    const char *qs[] = {"{\"query\":{\"a\":4},\"sort\":[\"-s\"]}", "{\"query\":{\"t\":\"y1\"}}",
                        "{\"query\":{\"u\":{\"$gte\":100,\"$lt\":140}}}"};
    for (int q = 0; q < 3; q++) {
        json_t *ex = NULL;
        json_t *d = find(v, "c", qs[q], &ex);
        assert_true(json_array_size(d) > 0);
        assert_string_equal(ex_str(ex, "plan"), "IXSCAN");
        json_decref(d);
        json_decref(ex);
    }
    /* the unique index enforces uniqueness after a merged build */
    assert_int_equal(ins0(v, "c", "{\"_id\":\"dup\",\"u\":5}"), BB_EEXIST);
    env_free(v);
}

static void test_schema(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "s",
           "{\"schema\":{\"type\":\"object\",\"additionalProperties\":false,"
           "\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2},"
           "\"address\":{\"type\":\"object\",\"properties\":{\"zip\":{\"type\":\"string\","
           "\"pattern\":\"^[0-9]{4}$\"}}}}},\"prevent_schema_override\":true}");
    struct bdoc_store_error e = {0};
    /* _id is not subject to additionalProperties: false (not declared by the schema) */
    assert_int_equal(ins(v, "s", "{\"_id\":\"a\",\"name\":\"ann\"}", NULL, &e), 0);
    assert_int_equal(ins(v, "s", "{\"name\":\"bob\",\"address\":{\"zip\":\"12a4\"}}", NULL, &e),
                     BB_EINVAL);
    assert_string_equal(e.path, "/address/zip");
    assert_string_equal(e.keyword, "pattern");
    bdoc_store_error_release(&e);
    assert_int_equal(ins(v, "s", "{\"nom\":\"x\"}", NULL, &e), BB_EINVAL);
    assert_string_equal(e.keyword, "required");
    bdoc_store_error_release(&e);
    /* every write path validates */
    assert_int_equal(patch(v, "s", "a", "{\"name\":\"x\"}", NULL, &e), BB_EINVAL);
    assert_string_equal(e.keyword, "minLength");
    bdoc_store_error_release(&e);
    assert_int_equal(patch(v, "s", "a", "{\"extra\":1}", NULL, &e), BB_EINVAL);
    assert_string_equal(e.keyword, "additionalProperties");
    bdoc_store_error_release(&e);
    /* prevent_schema_override: equal is a no-op success, different is a conflict */
    json_t *same = J("{\"type\":\"object\",\"additionalProperties\":false,"
                     "\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2},"
                     "\"address\":{\"type\":\"object\",\"properties\":{\"zip\":{\"type\":\"string\","
                     "\"pattern\":\"^[0-9]{4}$\"}}}}}");
    assert_int_equal(bdoc_store_set_schema(v->s, "s", same, -1, &e), 0);
    json_t *other = J("{\"type\":\"object\"}");
    assert_int_equal(bdoc_store_set_schema(v->s, "s", other, -1, &e), BB_EEXIST);
    assert_non_null(strstr(e.message, "override"));
    /* update_if_exists goes through the same check */
    json_t *opts = json_pack("{s:O,s:b}", "schema", other, "update_if_exists", 1);
    int created = 7;
    assert_int_equal(bdoc_store_collection_create(v->s, "s", opts, &created, &e), BB_EEXIST);
    json_decref(opts);
    /* lifting the flag allows the change */
    assert_int_equal(bdoc_store_set_schema(v->s, "s", other, 0, &e), 0);
    assert_int_equal(ins(v, "s", "{\"anything\":1}", NULL, &e), 0);
    /* update_if_exists on an existing collection without the flag: 0, not created */
    opts = json_pack("{s:O,s:b}", "schema", same, "update_if_exists", 1);
    assert_int_equal(bdoc_store_collection_create(v->s, "s", opts, &created, &e), 0);
    assert_int_equal(created, 0);
    json_decref(opts);
    opts = J("{}");
    assert_int_equal(bdoc_store_collection_create(v->s, "s", opts, &created, &e), BB_EEXIST);
    json_decref(opts);
    /* a bad schema or a rule that does not parse is rejected before anything exists */
    opts = J("{\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}}");
    assert_int_equal(bdoc_store_collection_create(v->s, "bad", opts, NULL, &e), BB_EINVAL);
    json_decref(opts);
    opts = J("{\"rules\":{\"read\":\"request.auth ==\"}}");
    assert_int_equal(bdoc_store_collection_create(v->s, "bad", opts, NULL, &e), BB_EINVAL);
    json_decref(opts);
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *info = NULL;
    assert_int_equal(bdoc_store_collection_get(t, "bad", &info), BB_ENOTFOUND);
    assert_int_equal(bdoc_store_collection_get(t, "s", &info), 0);
    assert_true(json_is_object(json_object_get(info, "schema")));
    json_decref(info);
    bdoc_store_rollback(t);
    /* reserved names */
    assert_int_equal(bdoc_store_collection_create(v->s, "__meta", NULL, NULL, &e), BB_EINVAL);
    json_decref(same);
    json_decref(other);
    env_free(v);
}

/* ---- references (reference §2.5, §7 TestReference_*) ---- */

static void mkref(struct env *v, const char *coll, const char *policy)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"schema\":{\"type\":\"object\",\"properties\":{\"author_id\":{\"type\":[\"string\",\"null\"],"
             "\"x-bundoc-ref\":{\"collection\":\"users\",\"field\":\"_id\",\"on_delete\":\"%s\"}}}}}",
             policy);
    mkcoll(v, coll, buf);
}

static void test_references(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "users", NULL);
    mkref(v, "posts_r", "restrict");
    mkref(v, "posts_n", "set_null");
    mkref(v, "posts_c", "cascade");
    struct bdoc_store_error e = {0};
    assert_int_equal(ins0(v, "users", "{\"_id\":\"u1\"}"), 0);
    assert_int_equal(ins0(v, "users", "{\"_id\":\"u2\"}"), 0);
    assert_int_equal(ins0(v, "users", "{\"_id\":\"u3\"}"), 0);
    /* insert/update/patch fail when the target is missing */
    assert_int_equal(ins(v, "posts_r", "{\"_id\":\"p\",\"author_id\":\"nobody\"}", NULL, &e),
                     BB_EEXIST);
    assert_non_null(strstr(e.message, "reference target not found"));
    assert_int_equal(ins(v, "posts_r", "{\"_id\":\"p\",\"author_id\":\"\"}", NULL, &e), BB_EEXIST);
    assert_int_equal(ins(v, "posts_r", "{\"_id\":\"p\",\"author_id\":{\"x\":1}}", NULL, &e),
                     BB_EINVAL); /* schema type */
    assert_int_equal(ins0(v, "posts_r", "{\"_id\":\"r1\",\"author_id\":\"u1\"}"), 0);
    assert_int_equal(ins0(v, "posts_r", "{\"_id\":\"r0\"}"), 0); /* missing: skipped */
    assert_int_equal(patch(v, "posts_r", "r1", "{\"author_id\":\"ghost\"}", NULL, &e), BB_EEXIST);
    /* a target inserted earlier in the same transaction is found */
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, 0, &t), 0);
    json_t *u = J("{\"_id\":\"u9\"}"), *p = J("{\"_id\":\"r9\",\"author_id\":\"u9\"}");
    assert_int_equal(bdoc_store_insert(t, "users", u, NULL, NULL, NULL), 0);
    assert_int_equal(bdoc_store_insert(t, "posts_r", p, NULL, NULL, NULL), 0);
    assert_int_equal(bdoc_store_commit(t), 0);
    json_decref(u);
    json_decref(p);
    /* restrict blocks, and the transaction stays usable */
    assert_int_equal(del(v, "users", "u1", NULL, &e), BB_EEXIST);
    assert_non_null(strstr(e.message, "restrict"));
    json_t *u1 = getdoc(v, "users", "u1");
    assert_non_null(u1);
    json_decref(u1);
    /* set_null nulls the field, keeps the rest */
    assert_int_equal(ins0(v, "posts_n", "{\"_id\":\"n1\",\"author_id\":\"u2\",\"title\":\"t\"}"), 0);
    assert_int_equal(ins0(v, "posts_n", "{\"_id\":\"n2\",\"author_id\":\"u3\"}"), 0);
    assert_int_equal(del(v, "users", "u2", NULL, &e), 0);
    json_t *d = getdoc(v, "posts_n", "n1");
    assert_true(json_is_null(json_object_get(d, "author_id")));
    assert_string_equal(json_string_value(json_object_get(d, "title")), "t");
    json_decref(d);
    d = getdoc(v, "posts_n", "n2");
    assert_string_equal(json_string_value(json_object_get(d, "author_id")), "u3");
    json_decref(d);
    /* cascade deletes dependents (and their index entries) */
    assert_int_equal(ins0(v, "posts_c", "{\"_id\":\"c1\",\"author_id\":\"u3\"}"), 0);
    assert_int_equal(ins0(v, "posts_c", "{\"_id\":\"c2\",\"author_id\":\"u3\"}"), 0);
    assert_int_equal(del(v, "users", "u3", NULL, &e), 0);
    assert_null(getdoc(v, "posts_c", "c1"));
    assert_null(getdoc(v, "posts_c", "c2"));
    d = getdoc(v, "posts_n", "n2");
    assert_true(json_is_null(json_object_get(d, "author_id")));
    json_decref(d);
    assert_int_equal(check_index(v, "posts_c", "ref_author_id"), 0);
    /* the reference field got an index and the delete used it */
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *il = NULL;
    assert_int_equal(bdoc_store_index_list(t, "posts_c", &il), 0);
    assert_int_equal(json_array_size(il), 1);
    json_decref(il);
    bdoc_store_rollback(t);
    env_free(v);
}

static void test_reference_cycle(void **state)
{
    (void)state;
    struct env *v = env_new();
    /* nodes reference nodes (self-collection), cascading: a cycle a -> b -> c -> a */
    mkcoll(v, "nodes",
           "{\"schema\":{\"properties\":{\"next\":{\"x-bundoc-ref\":{\"collection\":\"nodes\","
           "\"on_delete\":\"cascade\"}}}}}");
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, 0, &t), 0);
    const char *docs[] = {"{\"_id\":\"a\"}", "{\"_id\":\"b\",\"next\":\"a\"}",
                          "{\"_id\":\"c\",\"next\":\"b\"}", "{\"_id\":\"z\"}"};
    for (int i = 0; i < 4; i++) {
        json_t *d = J(docs[i]);
        assert_int_equal(bdoc_store_insert(t, "nodes", d, NULL, NULL, NULL), 0);
        json_decref(d);
    }
    json_t *pa = J("{\"next\":\"c\"}");
    assert_int_equal(bdoc_store_patch(t, "nodes", "a", pa, NULL, NULL, NULL), 0);
    json_decref(pa);
    assert_int_equal(bdoc_store_commit(t), 0);
    struct bdoc_store_error e = {0};
    assert_int_equal(del(v, "nodes", "a", NULL, &e), 0);
    assert_null(getdoc(v, "nodes", "a"));
    assert_null(getdoc(v, "nodes", "b"));
    assert_null(getdoc(v, "nodes", "c"));
    json_t *z = getdoc(v, "nodes", "z");
    assert_non_null(z);
    json_decref(z);
    /* self reference with restrict: deleting the document itself is allowed */
    mkcoll(v, "selfr",
           "{\"schema\":{\"properties\":{\"me\":{\"x-bundoc-ref\":{\"collection\":\"selfr\","
           "\"on_delete\":\"restrict\"}}}}}");
    assert_int_equal(bdoc_store_begin(v->s, 0, &t), 0);
    json_t *s1 = J("{\"_id\":\"s\"}"), *s2 = J("{\"me\":\"s\"}");
    assert_int_equal(bdoc_store_insert(t, "selfr", s1, NULL, NULL, NULL), 0);
    assert_int_equal(bdoc_store_patch(t, "selfr", "s", s2, NULL, NULL, NULL), 0);
    assert_int_equal(bdoc_store_commit(t), 0);
    json_decref(s1);
    json_decref(s2);
    assert_int_equal(del(v, "selfr", "s", NULL, &e), 0);
    env_free(v);
}

/* ---- rules (reference §2.6, §7 TestRulesIntegration) ---- */

static void test_rules(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "notes",
           "{\"rules\":{\"create\":\"request.auth != null\","
           "\"update\":\"resource.data.owner == request.auth.uid\","
           "\"delete\":\"resource.data.owner == request.auth.uid\","
           "\"read\":\"resource.data.public == true || (request.auth != null && "
           "resource.data.owner == request.auth.uid)\"}}");
    json_t *alice = J("{\"uid\":\"alice\",\"claims\":{}}"), *bob = J("{\"uid\":\"bob\",\"claims\":{}}");
    struct bdoc_store_actor anon = {0, NULL}, A = {0, alice}, B = {0, bob}, admin = {1, NULL};
    struct bdoc_store_error e = {0};
    assert_int_equal(ins(v, "notes", "{\"_id\":\"n1\",\"owner\":\"alice\",\"public\":false}", &anon,
                         &e),
                     BB_EPERM);
    assert_non_null(e.trace);
    assert_non_null(strstr(e.trace, "deny"));
    assert_non_null(strstr(e.message, "create"));
    bdoc_store_error_release(&e);
    assert_int_equal(ins(v, "notes", "{\"_id\":\"n1\",\"owner\":\"alice\",\"public\":false}", &A, &e), 0);
    assert_int_equal(ins(v, "notes", "{\"_id\":\"n2\",\"owner\":\"bob\",\"public\":true}", &B, &e), 0);
    assert_int_equal(ins(v, "notes", "{\"_id\":\"n3\",\"owner\":\"bob\",\"public\":false}", &B, &e), 0);
    /* non-owner patch denied with a trace; owner allowed; admin bypasses */
    assert_int_equal(patch(v, "notes", "n1", "{\"x\":1}", &B, &e), BB_EPERM);
    assert_non_null(strstr(e.trace, "resource.data.owner == request.auth.uid => false"));
    bdoc_store_error_release(&e);
    assert_int_equal(patch(v, "notes", "n1", "{\"x\":1}", &A, &e), 0);
    assert_int_equal(patch(v, "notes", "n1", "{\"y\":1}", &admin, &e), 0);
    /* get: denied is BB_EPERM */
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    json_t *d = NULL;
    assert_int_equal(bdoc_store_get(t, "notes", "n1", &B, &d, &e), BB_EPERM);
    assert_non_null(e.trace);
    bdoc_store_error_release(&e);
    assert_int_equal(bdoc_store_get(t, "notes", "n1", &A, &d, &e), 0);
    json_decref(d);
    /* list/find/count return only permitted documents */
    json_t *docs = NULL;
    assert_int_equal(bdoc_store_list(t, "notes", NULL, 100, &anon, &docs, NULL, &e), 0);
    assert_int_equal(json_array_size(docs), 1);
    json_decref(docs);
    assert_int_equal(bdoc_store_list(t, "notes", NULL, 100, &B, &docs, NULL, &e), 0);
    assert_int_equal(json_array_size(docs), 2);
    json_decref(docs);
    json_t *req = J("{\"query\":{},\"sort\":[\"-_id\"],\"limit\":1}");
    struct bdoc_store_find_result r;
    assert_int_equal(bdoc_store_find(t, "notes", req, &A, 0, &r, &e), 0);
    assert_int_equal(json_array_size(r.docs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.docs, 0), "_id")), "n2");
    bdoc_store_find_result_release(&r);
    json_decref(req);
    size_t n = 0;
    assert_int_equal(bdoc_store_count(t, "notes", NULL, &admin, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_int_equal(bdoc_store_count(t, "notes", NULL, &anon, &n, &e), 0);
    assert_int_equal(n, 1);
    bdoc_store_rollback(t);
    /* delete: owner only; admin bypass */
    assert_int_equal(del(v, "notes", "n3", &A, &e), BB_EPERM);
    bdoc_store_error_release(&e);
    assert_int_equal(del(v, "notes", "n3", &admin, &e), 0);
    /* rules that do not parse are rejected when saved; clearing allows everything */
    json_t *bad = J("{\"read\":\"resource.data.x = 1\"}");
    assert_int_equal(bdoc_store_set_rules(v->s, "notes", bad, &e), BB_EINVAL);
    assert_non_null(strstr(e.message, "read"));
    json_decref(bad);
    assert_int_equal(bdoc_store_set_rules(v->s, "notes", NULL, &e), 0);
    assert_int_equal(patch(v, "notes", "n1", "{\"z\":1}", &anon, &e), 0);
    json_decref(alice);
    json_decref(bob);
    env_free(v);
}

/* bdoc_store_find_budget: documents examined count index candidates and scanned documents alike;
 * over the budget, or a regex over its limits, the find fails with BB_ELIMIT and says which limit;
 * within it, the answer equals the unbudgeted find. */
static void test_find_budget(void **state)
{
    (void)state;
    struct env *v = env_new();
    mkcoll(v, "b", NULL);
    mkindex(v, "b", "{\"name\":\"by_g\",\"fields\":[\"g\"]}");
    for (int i = 0; i < 40; i++) {
        char d[128];
        snprintf(d, sizeof d, "{\"_id\":\"d%02d\",\"g\":%d,\"s\":\"%s\"}", i, i % 2,
                 i == 30 ? "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" : "aaaa");
        assert_int_equal(ins0(v, "b", d), 0);
    }
    struct bdoc_store_txn *t;
    assert_int_equal(bdoc_store_begin(v->s, BDOC_TXN_READONLY, &t), 0);
    struct bdoc_store_find_result r;
    struct bdoc_store_error e = {0};
    struct bdoc_budget_limits lim = {.max_docs = 25};
    /* an index plan: 20 candidates fit, the scan of 40 does not */
    json_t *q = J("{\"filter\":{\"g\":1}}");
    assert_int_equal(bdoc_store_find_budget(t, "b", q, NULL, 0, &lim, &r, &e), 0);
    assert_string_equal(json_string_value(json_object_get(r.explain, "plan")), "IXSCAN");
    assert_int_equal(json_array_size(r.docs), 20);
    bdoc_store_find_result_release(&r);
    lim.max_docs = 19;
    assert_int_equal(bdoc_store_find_budget(t, "b", q, NULL, 0, &lim, &r, &e), BB_ELIMIT);
    assert_non_null(strstr(e.message, "query too expensive: examined more than 19 documents"));
    json_decref(q);
    lim.max_docs = 25;
    q = J("{\"filter\":{\"s\":\"aaaa\"}}");
    assert_int_equal(bdoc_store_find_budget(t, "b", q, NULL, 0, &lim, &r, &e), BB_ELIMIT);
    json_decref(q);
    /* a page that stops early stays inside the budget */
    q = J("{\"filter\":{\"s\":\"aaaa\"},\"limit\":5}");
    assert_int_equal(bdoc_store_find_budget(t, "b", q, NULL, 0, &lim, &r, &e), 0);
    assert_int_equal(json_array_size(r.docs), 5);
    bdoc_store_find_result_release(&r);
    json_decref(q);
    /* a catastrophic regex: the unbudgeted find says "no match" for d30, the budgeted one fails */
    q = J("{\"filter\":{\"s\":{\"$regex\":\"^(a+)+$\"}}}");
    assert_int_equal(bdoc_store_find(t, "b", q, NULL, 0, &r, &e), 0);
    assert_int_equal(json_array_size(r.docs), 39);
    bdoc_store_find_result_release(&r);
    lim.max_docs = 0;
    assert_int_equal(bdoc_store_find_budget(t, "b", q, NULL, 0, &lim, &r, &e), BB_ELIMIT);
    assert_non_null(strstr(e.message, "match limit"));
    json_decref(q);
    bdoc_store_rollback(t);
    env_free(v);
}

/* Index keys read from the encoding (sk_doc_keys_enc, what builds use) are byte-identical to the
 * jansson extraction (sk_doc_keys, the oracle) on random documents and random single, compound,
 * descending, unique, nested, positional and fan-out indexes; same answer on a value too deep to
 * index, same multikey flag, same entries carrying the id. */
static void keys_same(const struct sk_index *ix, const json_t *doc)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(doc_encode(doc, 1u << 24, &enc, &len), 0);
    struct sk_keys a, b;
    char ea[256] = "", eb[256] = "";
    int ra = sk_doc_keys(ix, doc, &a, ea, sizeof ea);
    int rb = sk_doc_keys_enc(ix, enc, len, NULL, NULL, &b, eb, sizeof eb);
    /* as a build calls it: the id given, the working memory reused across documents */
    static struct sk_scratch scr;
    struct sk_keys c;
    char ec[256] = "";
    int rc = sk_doc_keys_enc(ix, enc, len, json_string_value(json_object_get(doc, "_id")), &scr,
                             &c, ec, sizeof ec);
    free(enc);
    assert_int_equal(ra, rb);
    assert_string_equal(ea, eb);
    assert_int_equal(ra, rc);
    assert_string_equal(ea, ec);
    if (ra) return;
    assert_int_equal(a.n, c.n);
    for (size_t i = 0; i < a.n; i++) assert_string_equal(a.keys[i], c.keys[i]);
    sk_keys_free(&c);
    assert_int_equal(a.n, b.n);
    assert_int_equal(a.multikey, b.multikey);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.keys[i], b.keys[i]);
        assert_int_equal(a.with_i[i], b.with_i[i]);
        assert_int_equal(json_object_get(a.bodies[i], "i") != NULL, b.with_i[i]);
    }
    sk_keys_free(&a);
    sk_keys_free(&b);
}

static void test_index_keys_enc_oracle(void **state)
{
    (void)state;
    (void)gen_filter;
    gen_rng_state = 0x5eed1234abcdull;
    for (int round = 0; round < 300; round++) {
        struct sk_index ix;
        memset(&ix, 0, sizeof ix);
        ix.name = (char *)"ix";
        ix.unique = (int)gen_rnd(2);
        ix.nf = 1 + gen_rnd(3);
        for (size_t f = 0; f < ix.nf; f++) {
            char spec[40];
            snprintf(spec, sizeof spec, "%s%s", gen_rnd(3) ? "" : "-", PATHS[gen_rnd(NPATHS)]);
            assert_int_equal(sk_field_parse(spec, &ix.f[f]), 0);
        }
        for (int i = 0; i < 16; i++) {
            json_t *d = gen_doc(i);
            keys_same(&ix, d);
            json_decref(d);
        }
        for (size_t f = 0; f < ix.nf; f++) sk_field_release(&ix.f[f]);
    }
    /* fixed cases: too deep, a long id (hashed), truncation, a missing field, "01" segments */
    json_t *deep = json_integer(1);
    for (int i = 0; i < 40; i++) deep = json_pack("{s:[o]}", "a", deep);
    json_object_set_new(deep, "_id", json_string("d"));
    char longid[301];
    memset(longid, 'i', 300);
    longid[300] = 0;
    char longstr[3001];
    memset(longstr, 'x', 3000);
    longstr[3000] = 0;
    json_t *docs[] = {deep, json_pack("{s:s,s:s,s:[s,s]}", "_id", longid, "a", longstr, "b", "y", "z"),
                      json_pack("{s:s,s:[i,i,i]}", "_id", "e", "a", 7, 8, 9)};
    const char *specs[][2] = {{"a", NULL}, {"a", "-b"}, {"a.01", NULL}, {"zz", "-a.0"}};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        for (int u = 0; u < 2; u++) {
            struct sk_index ix;
            memset(&ix, 0, sizeof ix);
            ix.name = (char *)"fx";
            ix.unique = u;
            for (size_t f = 0; f < 2 && specs[k][f]; f++, ix.nf++)
                assert_int_equal(sk_field_parse(specs[k][f], &ix.f[f]), 0);
            for (size_t i = 0; i < 3; i++) keys_same(&ix, docs[i]);
            for (size_t f = 0; f < ix.nf; f++) sk_field_release(&ix.f[f]);
        }
    }
    for (size_t i = 0; i < 3; i++) json_decref(docs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order),    cmocka_unit_test(test_index_basic),
        cmocka_unit_test(test_unique),       cmocka_unit_test(test_online_build),
        cmocka_unit_test(test_schema),       cmocka_unit_test(test_references),
        cmocka_unit_test(test_reference_cycle), cmocka_unit_test(test_rules),
        cmocka_unit_test(test_find_budget),
        cmocka_unit_test(test_build_long_ids),
        cmocka_unit_test(test_build_external_sort),
        cmocka_unit_test(test_index_keys_enc_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
