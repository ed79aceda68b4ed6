/* Unit tests for the public bundoc API: collections, documents, _id rules, patch, listing,
 * transactions, large documents, encryption, the lock file, reopen and checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bdoc_test_util.h"
#include "bundoc.h"

static json_t *J(const char *s)
{
    json_t *j = NULL;
    assert_int_equal(bb_json_parse(s, strlen(s), 64, &j, NULL, 0), 0);
    return j;
}

static void assert_json(const json_t *got, const char *want)
{
    json_t *w = J(want);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fprintf(stderr, "got  %s\nwant %s\n", g, want);
        free(g);
        fail();
    }
    json_decref(w);
}

static struct bdoc_db *open_db(const char *dir, const struct bdoc_options *o)
{
    struct bdoc_db *db = NULL;
    assert_int_equal(bdoc_open(dir, o, &db), 0);
    return db;
}

static void mkcoll(struct bdoc_db *db, const char *name)
{
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, name), 0);
    assert_int_equal(bdoc_commit(t), 0);
}

static void test_crud_and_ids(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "users");
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_create(t, "users"), BB_EEXIST);
    assert_int_equal(bdoc_collection_create(t, ""), BB_EINVAL);
    json_t *doc = J("{\"_id\":\"u1\",\"name\":\"ann\",\"age\":30,\"tags\":[\"a\",{\"x\":1.5}]}");
    json_t *out = NULL;
    assert_int_equal(bdoc_insert(t, "users", doc, &out), 0);
    assert_true(json_equal(out, doc));
    json_decref(out);
    /* duplicate _id is a conflict, never an overwrite */
    json_t *dup = J("{\"_id\":\"u1\",\"name\":\"bob\"}");
    assert_int_equal(bdoc_insert(t, "users", dup, NULL), BB_EEXIST);
    json_decref(dup);
    /* generated ids: missing, empty, non-string */
    const char *gens[] = {"{\"n\":1}", "{\"_id\":\"\",\"n\":2}", "{\"_id\":42,\"n\":3}"};
    char prev[64] = "";
    for (int i = 0; i < 3; i++) {
        json_t *g = J(gens[i]);
        assert_int_equal(bdoc_insert(t, "users", g, &out), 0);
        const char *id = json_string_value(json_object_get(out, "_id"));
        assert_non_null(id);
        assert_true(bb_id_is_valid(id));
        assert_true(strcmp(prev, id) < 0); /* time-sortable and unique */
        snprintf(prev, sizeof prev, "%s", id);
        json_decref(out);
        json_decref(g);
    }
    assert_int_equal(bdoc_insert(t, "nope", doc, NULL), BB_ENOTFOUND);
    json_t *arr = J("[1]");
    assert_int_equal(bdoc_insert(t, "users", arr, NULL), BB_EINVAL);
    json_decref(arr);
    assert_int_equal(bdoc_commit(t), 0);

    assert_int_equal(bdoc_get1(db, "users", "u1", &out), 0);
    assert_true(json_equal(out, doc));
    json_decref(out);
    assert_int_equal(bdoc_get1(db, "users", "missing", &out), BB_ENOTFOUND);
    json_decref(doc);

    /* one field without decoding the rest */
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    assert_int_equal(bdoc_get_field(t, "users", "u1", "tags.1.x", &out), 0);
    assert_json(out, "1.5");
    json_decref(out);
    assert_int_equal(bdoc_get_field(t, "users", "u1", "tags.7", &out), BB_ENOTFOUND);
    assert_int_equal(bdoc_get_field(t, "users", "u1", "name.x", &out), BB_ENOTFOUND);
    json_t *x = J("{\"a\":1}");
    assert_int_equal(bdoc_insert(t, "users", x, NULL), BB_EPERM);
    json_decref(x);
    bdoc_rollback(t);

    /* replace keeps _id; patch semantics; delete */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    json_t *r = J("{\"_id\":\"other\",\"name\":\"ann2\",\"settings\":5,\"keep\":{\"a\":1,\"b\":2}}");
    assert_int_equal(bdoc_replace(t, "users", "u1", r, &out), 0);
    assert_json(out, "{\"_id\":\"u1\",\"name\":\"ann2\",\"settings\":5,\"keep\":{\"a\":1,\"b\":2}}");
    json_decref(out);
    json_decref(r);
    json_t *p = J("{\"$unset\":{\"keep.a\":true,\"no.such.path\":1,\"name\":1},"
                  "\"settings.theme\":\"dark\",\"deep.x.y\":null,\"_id\":\"zzz\",\"keep.c\":3}");
    assert_int_equal(bdoc_patch(t, "users", "u1", p, &out), 0);
    assert_json(out, "{\"_id\":\"u1\",\"settings\":{\"theme\":\"dark\"},\"keep\":{\"b\":2,\"c\":3},"
                     "\"deep\":{\"x\":{\"y\":null}}}");
    json_decref(out);
    assert_int_equal(bdoc_patch(t, "users", "ghost", p, NULL), BB_ENOTFOUND);
    json_decref(p);
    p = J("{\"$unset\":5}");
    assert_int_equal(bdoc_patch(t, "users", "u1", p, NULL), BB_EINVAL);
    json_decref(p);
    p = J("{\"a..b\":1}");
    assert_int_equal(bdoc_patch(t, "users", "u1", p, NULL), BB_EINVAL);
    json_decref(p);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_get1(db, "users", "u1", &out), 0);
    assert_json(out, "{\"_id\":\"u1\",\"settings\":{\"theme\":\"dark\"},\"keep\":{\"b\":2,\"c\":3},"
                     "\"deep\":{\"x\":{\"y\":null}}}");
    json_decref(out);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_delete(t, "users", "u1"), 0);
    assert_int_equal(bdoc_get(t, "users", "u1", &out), BB_ENOTFOUND); /* own delete visible */
    assert_int_equal(bdoc_delete(t, "users", "u1"), BB_ENOTFOUND);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_get1(db, "users", "u1", &out), BB_ENOTFOUND);

    /* _id bounds */
    char big[BDOC_MAX_ID_LEN + 2];
    memset(big, 'i', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(bdoc_get1(db, "users", big, &out), BB_ETOOBIG);
    assert_int_equal(bdoc_get1(db, "users", "", &out), BB_EINVAL);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

static void test_list_cursor_prefix(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "a");
    mkcoll(db, "b");
    mkcoll(db, "a/nested");
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    for (int i = 0; i < 300; i++) {
        char buf[96];
        snprintf(buf, sizeof buf, "{\"_id\":\"%s%04d\",\"i\":%d}", i % 2 ? "odd-" : "even-", i, i);
        json_t *d = J(buf);
        assert_int_equal(bdoc_insert(t, "a", d, NULL), 0);
        assert_int_equal(bdoc_insert(t, "b", d, NULL), 0);
        json_decref(d);
    }
    /* the transaction's own writes are listed */
    json_t *arr = NULL;
    char *next = NULL;
    assert_int_equal(bdoc_list(t, "a", NULL, NULL, 10000, &arr, &next), 0);
    assert_int_equal(json_array_size(arr), 300);
    assert_null(next);
    json_decref(arr);
    assert_int_equal(bdoc_commit(t), 0);

    /* JSON text straight from the encoding equals jansson's dump of the decoded documents */
    json_t *odd = json_pack("{s:s, s:s, s:f, s:f, s:I, s:[s,n,b]}", "_id", "odd-9999", "s",
                            "quote\" back\\ nl\n tab\t \x01 \xc3\xa9", "r", 0.1, "big", 1e300,
                            "neg", (json_int_t)-42, "a", "x", 1);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_insert(t, "a", odd, NULL), 0);
    json_t *back = NULL;
    char *txt = NULL;
    size_t tl = 0;
    assert_int_equal(bdoc_get(t, "a", "odd-9999", &back), 0);
    assert_int_equal(bdoc_get_json(t, "a", "odd-9999", &txt, &tl), 0);
    char *dump = bb_json_dumps(back, NULL);
    assert_string_equal(txt, dump);
    assert_int_equal(tl, strlen(dump));
    free(dump);
    free(txt);
    json_decref(back);
    assert_int_equal(bdoc_list(t, "a", "odd-0200", "odd-", 50, &arr, NULL), 0);
    size_t cnt = 0;
    assert_int_equal(bdoc_list_json(t, "a", "odd-0200", "odd-", 50, &txt, &tl, &cnt, &next), 0);
    assert_int_equal(cnt, 50);
    dump = bb_json_dumps(arr, NULL);
    assert_string_equal(txt, dump);
    assert_int_equal(json_array_size(arr), 50);
    assert_string_equal(next, json_string_value(json_object_get(json_array_get(arr, 49), "_id")));
    free(next);
    free(dump);
    free(txt);
    json_decref(arr);
    assert_int_equal(bdoc_list_json(t, "a", NULL, "none", 5, &txt, &tl, &cnt, &next), 0);
    assert_int_equal(cnt, 0);
    assert_string_equal(txt, "[]");
    assert_null(next);
    free(txt);
    json_decref(odd);
    bdoc_rollback(t);

    /* page through with a cursor */
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    size_t total = 0;
    char *after = NULL;
    char last[64] = "";
    for (;;) {
        assert_int_equal(bdoc_list(t, "a", after, NULL, 7, &arr, &next), 0);
        size_t n = json_array_size(arr);
        for (size_t i = 0; i < n; i++) {
            const char *id = json_string_value(json_object_get(json_array_get(arr, i), "_id"));
            assert_true(strcmp(last, id) < 0);
            snprintf(last, sizeof last, "%s", id);
        }
        total += n;
        json_decref(arr);
        free(after);
        after = next;
        if (!after) break;
    }
    assert_int_equal(total, 300);
    /* by prefix, and prefix + cursor */
    assert_int_equal(bdoc_list(t, "a", NULL, "odd-", 10000, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 150);
    json_decref(arr);
    assert_int_equal(bdoc_list(t, "a", "odd-0100", "odd-", 10000, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 100);
    json_decref(arr);
    assert_int_equal(bdoc_list(t, "a", NULL, "zzz", 10, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    assert_int_equal(bdoc_list(t, "a", NULL, NULL, 0, &arr, NULL), BB_EINVAL);
    assert_int_equal(bdoc_collection_list(t, NULL, &arr), 0);
    assert_json(arr, "[\"a\",\"a/nested\",\"b\"]");
    json_decref(arr);
    assert_int_equal(bdoc_collection_list(t, "a", &arr), 0);
    assert_json(arr, "[\"a\",\"a/nested\"]");
    json_decref(arr);
    bdoc_rollback(t);

    /* drop removes the documents; re-create starts empty; pages are reused */
    struct bdoc_stats st0, st1;
    bdoc_stats_get(db, &st0);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_drop(t, "b"), 0);
    assert_int_equal(bdoc_collection_drop(t, "b"), BB_ENOTFOUND);
    assert_int_equal(bdoc_commit(t), 0);
    bdoc_stats_get(db, &st1);
    assert_true(st1.free_pages > st0.free_pages);
    mkcoll(db, "b");
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    assert_int_equal(bdoc_list(t, "b", NULL, NULL, 100, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    assert_int_equal(bdoc_list(t, "a", NULL, NULL, 1000, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 300);
    json_decref(arr);
    bdoc_rollback(t);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

static void test_transactions_atomic(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "x");
    mkcoll(db, "y");
    struct bdoc_txn *t;
    /* rollback leaves nothing, across collections */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    json_t *d = J("{\"_id\":\"k\",\"v\":1}");
    assert_int_equal(bdoc_insert(t, "x", d, NULL), 0);
    assert_int_equal(bdoc_insert(t, "y", d, NULL), 0);
    assert_int_equal(bdoc_collection_create(t, "z"), 0);
    bdoc_rollback(t);
    json_t *out;
    assert_int_equal(bdoc_get1(db, "x", "k", &out), BB_ENOTFOUND);
    assert_int_equal(bdoc_get1(db, "y", "k", &out), BB_ENOTFOUND);
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    assert_int_equal(bdoc_collection_exists(t, "z"), BB_ENOTFOUND);
    bdoc_rollback(t);
    /* commit makes all visible, and survives reopen (WAL redo) */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_insert(t, "x", d, NULL), 0);
    assert_int_equal(bdoc_insert(t, "y", d, NULL), 0);
    assert_int_equal(bdoc_collection_create(t, "z"), 0);
    assert_int_equal(bdoc_insert(t, "z", d, NULL), 0);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_close(db), 0);
    db = open_db(dir, NULL);
    const char *colls[] = {"x", "y", "z"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bdoc_get1(db, colls[i], "k", &out), 0);
        assert_true(json_equal(out, d));
        json_decref(out);
    }
    json_decref(d);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

static void test_large_documents(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "big");
    size_t n = 16u * 1024 * 1024 - 4096;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)('a' + i % 26);
    s[n] = '\0';
    json_t *d = json_pack("{s:s, s:s, s:i}", "_id", "huge", "blob", s, "n", 7);
    assert_int_equal(bdoc_insert1(db, "big", d, NULL), 0);
    json_t *out = NULL;
    assert_int_equal(bdoc_get1(db, "big", "huge", &out), 0);
    assert_true(json_equal(out, d));
    json_decref(out);
    json_decref(d);
    /* over the limit */
    s[n - 1] = '\0';
    json_t *d2 = json_pack("{s:s, s:s, s:s}", "_id", "huge2", "blob", s, "more", s);
    assert_int_equal(bdoc_insert1(db, "big", d2, NULL), BB_ETOOBIG);
    json_decref(d2);
    /* deleting frees the overflow pages; a new big doc reuses them */
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_delete(t, "big", "huge"), 0);
    assert_int_equal(bdoc_commit(t), 0);
    struct bdoc_stats st;
    bdoc_stats_get(db, &st);
    assert_true(st.free_pages > 2000);
    uint64_t pages = st.pages;
    s[1000000] = '\0';
    d = json_pack("{s:s, s:s}", "_id", "medium", "blob", s);
    assert_int_equal(bdoc_insert1(db, "big", d, NULL), 0);
    bdoc_stats_get(db, &st);
    assert_int_equal(st.pages, pages);
    assert_int_equal(bdoc_close(db), 0);
    /* configurable limit */
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.max_doc_size = 1000;
    db = open_db(dir, &o);
    json_t *d3 = json_pack("{s:s, s:s}", "_id", "medium2", "blob", s);
    assert_int_equal(bdoc_insert1(db, "big", d3, NULL), BB_ETOOBIG);
    json_decref(d3);
    assert_int_equal(bdoc_get1(db, "big", "medium", &out), 0);
    assert_true(json_equal(out, d));
    json_decref(out);
    json_decref(d);
    assert_int_equal(bdoc_close(db), 0);
    free(s);
    tu_rmrf(dir);
}

static void test_encryption_and_lock(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    uint8_t key[BDOC_KEY_LEN];
    for (int i = 0; i < BDOC_KEY_LEN; i++) key[i] = (uint8_t)(i * 3 + 1);
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.key = key;
    struct bdoc_db *db = open_db(dir, &o);
    /* a second opener is refused with a clear error */
    struct bdoc_db *db2 = NULL;
    assert_int_equal(bdoc_open(dir, &o, &db2), BB_EBUSY);
    assert_null(db2);
    mkcoll(db, "secret");
    json_t *d = J("{\"_id\":\"s1\",\"msg\":\"PLAINTEXT-MARKER-123\"}");
    assert_int_equal(bdoc_insert1(db, "secret", d, NULL), 0);
    /* the marker is not on disk in the clear, neither in the WAL nor after a checkpoint */
    char *walp = tu_sub(dir, "wal"), *datap = tu_sub(dir, "data.db");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -q PLAINTEXT-MARKER '%s' '%s'", walp, datap);
    assert_int_not_equal(system(cmd), 0);
    assert_int_equal(bdoc_checkpoint(db), 0);
    assert_int_not_equal(system(cmd), 0);
    assert_int_equal(bdoc_close(db), 0);
    /* wrong key, no key: clear errors */
    uint8_t bad[BDOC_KEY_LEN];
    memcpy(bad, key, sizeof bad);
    bad[5] ^= 0x40;
    o.key = bad;
    assert_int_equal(bdoc_open(dir, &o, &db), BB_EAUTH);
    assert_int_equal(bdoc_open(dir, NULL, &db), BB_EAUTH);
    o.key = key;
    db = open_db(dir, &o);
    json_t *out;
    assert_int_equal(bdoc_get1(db, "secret", "s1", &out), 0);
    assert_true(json_equal(out, d));
    json_decref(out);
    json_decref(d);
    assert_int_equal(bdoc_close(db), 0);
    free(walp);
    free(datap);
    tu_rmrf(dir);
}

static void test_collection_definitions(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "people");
    struct bdoc_txn *t;
    json_t *def = NULL;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_collection_get(t, "people", &def), 0);
    assert_string_equal(json_string_value(json_object_get(def, "name")), "people");
    assert_true(json_is_null(json_object_get(def, "schema")));
    json_t *nd = J("{\"id\":999,\"name\":\"x\",\"schema\":{\"type\":\"object\"},"
                   "\"rules\":{\"read\":\"true\"},\"indexes\":[{\"field\":\"age\"}]}");
    assert_int_equal(bdoc_collection_set(t, "people", nd), 0);
    assert_int_equal(bdoc_collection_set(t, "nobody", nd), BB_ENOTFOUND);
    json_decref(nd);
    bdoc_rollback(t); /* transactional: nothing changed */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    json_t *cur = NULL;
    assert_int_equal(bdoc_collection_get(t, "people", &cur), 0);
    assert_true(json_equal(cur, def));
    json_decref(cur);
    nd = J("{\"schema\":{\"type\":\"object\"},\"rules\":{},\"indexes\":[\"age\"]}");
    assert_int_equal(bdoc_collection_set(t, "people", nd), 0);
    json_decref(nd);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_close(db), 0);
    db = open_db(dir, NULL);
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    assert_int_equal(bdoc_collection_get(t, "people", &cur), 0);
    assert_json(cur, "{\"id\":1,\"name\":\"people\",\"schema\":{\"type\":\"object\"},"
                     "\"rules\":{},\"indexes\":[\"age\"]}");
    json_decref(cur);
    assert_int_equal(bdoc_collection_set(t, "people", def), BB_EPERM);
    json_decref(def);
    bdoc_rollback(t);
    /* a writer into the collection conflicts with a concurrent redefinition */
    struct bdoc_txn *a, *b;
    assert_int_equal(bdoc_begin(db, 0, &a), 0);
    assert_int_equal(bdoc_begin(db, 0, &b), 0);
    json_t *d = J("{\"_id\":\"p1\"}");
    assert_int_equal(bdoc_insert(a, "people", d, NULL), 0);
    json_decref(d);
    nd = J("{\"schema\":null}");
    assert_int_equal(bdoc_collection_set(b, "people", nd), 0);
    json_decref(nd);
    assert_int_equal(bdoc_commit(b), 0);
    assert_int_equal(bdoc_commit(a), BB_ECONFLICT);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

static void test_durability_modes(void **state)
{
    (void)state;
    const enum bdoc_durability modes[] = {BDOC_DURABILITY_FULL, BDOC_DURABILITY_NORMAL,
                                          BDOC_DURABILITY_OFF};
    for (int m = 0; m < 3; m++) {
        char *dir = tu_tmpdir();
        struct bdoc_options o;
        bdoc_options_init(&o);
        o.durability = modes[m];
        o.normal_sync_ms = 200;
        struct bdoc_db *db = open_db(dir, &o);
        mkcoll(db, "c");
        struct bdoc_stats s0, s1;
        bdoc_stats_get(db, &s0);
        for (int i = 0; i < 20; i++) {
            json_t *d = json_pack("{s:i}", "i", i);
            assert_int_equal(bdoc_insert1(db, "c", d, NULL), 0);
            json_decref(d);
        }
        bdoc_stats_get(db, &s1);
        uint64_t syncs = s1.syncs - s0.syncs;
        if (modes[m] == BDOC_DURABILITY_FULL) assert_int_equal(syncs, 20); /* one per commit */
        else assert_true(syncs < 20);
        if (modes[m] == BDOC_DURABILITY_NORMAL) {
            usleep(450 * 1000); /* the background flusher syncs within normal_sync_ms */
            bdoc_stats_get(db, &s1);
            assert_true(s1.syncs > s0.syncs);
        }
        if (modes[m] == BDOC_DURABILITY_OFF) assert_int_equal(syncs, 0);
        assert_int_equal(bdoc_close(db), 0);
        db = open_db(dir, &o);
        struct bdoc_txn *t;
        json_t *arr;
        assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
        assert_int_equal(bdoc_list(t, "c", NULL, NULL, 100, &arr, NULL), 0);
        assert_int_equal(json_array_size(arr), 20);
        json_decref(arr);
        bdoc_rollback(t);
        assert_int_equal(bdoc_close(db), 0);
        tu_rmrf(dir);
    }
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = (enum bdoc_durability)7;
    struct bdoc_db *db = NULL;
    char *dir = tu_tmpdir();
    assert_int_equal(bdoc_open(dir, &o, &db), BB_EINVAL);
    tu_rmrf(dir);
}

static void test_checkpoint_bounds_wal(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.checkpoint_bytes = 256 * 1024;
    o.durability = BDOC_DURABILITY_NORMAL;
    o.normal_sync_ms = 5;
    struct bdoc_db *db = open_db(dir, &o);
    mkcoll(db, "c");
    struct bdoc_stats st;
    for (int i = 0; i < 400; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "{\"_id\":\"d%05d\",\"pad\":\"%0100d\"}", i, i);
        json_t *d = J(buf);
        assert_int_equal(bdoc_insert1(db, "c", d, NULL), 0);
        json_decref(d);
        bdoc_stats_get(db, &st);
        assert_true(st.wal_bytes <= o.checkpoint_bytes + 4 * 8224 + 64);
    }
    assert_true(st.checkpoints >= 5);
    assert_int_equal(bdoc_close(db), 0);
    db = open_db(dir, &o);
    struct bdoc_txn *t;
    json_t *arr;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    assert_int_equal(bdoc_list(t, "c", NULL, NULL, 1000, &arr, NULL), 0);
    assert_int_equal(json_array_size(arr), 400);
    json_decref(arr);
    bdoc_rollback(t);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

/* ---- raw documents: bdoc_scan, bdoc_get_raw, decoding helpers ---- */

struct scan_seen {
    char ids[16][16];
    size_t n, stop_at;
};

static int scan_cb(void *ctx, const char *id, size_t idlen, const uint8_t *doc, size_t len)
{
    struct scan_seen *s = ctx;
    json_t *d = NULL;
    assert_int_equal(bdoc_doc_decode(doc, len, &d), 0);
    /* the id handed out is the document's _id */
    assert_int_equal(strlen(json_string_value(json_object_get(d, "_id"))), idlen);
    assert_memory_equal(json_string_value(json_object_get(d, "_id")), id, idlen);
    const char *v = NULL;
    size_t vl = 0;
    assert_int_equal(bdoc_doc_get_str(doc, len, "_id", &v, &vl), 0);
    assert_int_equal(vl, idlen);
    assert_int_equal(bdoc_doc_get_str(doc, len, "n", &v, &vl), BB_ENOTFOUND); /* a number */
    json_decref(d);
    assert_true(idlen < sizeof s->ids[0]);
    memcpy(s->ids[s->n], id, idlen);
    s->ids[s->n][idlen] = 0;
    s->n++;
    if (s->stop_at && s->n == s->stop_at) return 1;
    return 0;
}

static int scan_fail_cb(void *ctx, const char *id, size_t idlen, const uint8_t *doc, size_t len)
{
    (void)ctx, (void)id, (void)idlen, (void)doc, (void)len;
    return BB_EPERM;
}

static void test_raw_scan(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "c");
    mkcoll(db, "d");
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    const char *ids[] = {"b2", "a1", "b1", "c1", "a2"};
    for (int i = 0; i < 5; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "{\"_id\":\"%s\",\"n\":%d,\"s\":\"\\u00e9\"}", ids[i], i);
        json_t *d = J(buf);
        assert_int_equal(bdoc_insert(t, "c", d, NULL), 0);
        json_decref(d);
    }
    json_t *other = J("{\"_id\":\"zz\"}");
    assert_int_equal(bdoc_insert(t, "d", other, NULL), 0);
    json_decref(other);
    assert_int_equal(bdoc_commit(t), 0);

    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    struct scan_seen s = {0};
    assert_int_equal(bdoc_scan(t, "c", NULL, NULL, scan_cb, &s), 0);
    assert_int_equal(s.n, 5); /* only this collection, in _id order */
    assert_string_equal(s.ids[0], "a1");
    assert_string_equal(s.ids[4], "c1");
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan(t, "c", "a2", "b", scan_cb, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "b1");
    assert_string_equal(s.ids[1], "b2");
    memset(&s, 0, sizeof s);
    s.stop_at = 2; /* the callback stops the scan */
    assert_int_equal(bdoc_scan(t, "c", NULL, NULL, scan_cb, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(bdoc_scan(t, "c", NULL, NULL, scan_fail_cb, NULL), BB_EPERM);
    assert_int_equal(bdoc_scan(t, "nope", NULL, NULL, scan_cb, &s), BB_ENOTFOUND);
    assert_int_equal(bdoc_scan(t, "c", NULL, NULL, NULL, NULL), BB_EINVAL);

    /* descending */
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan_rev(t, "c", NULL, NULL, scan_cb, &s), 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.ids[0], "c1");
    assert_string_equal(s.ids[1], "b2");
    assert_string_equal(s.ids[4], "a1");
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan_rev(t, "c", "b2", NULL, scan_cb, &s), 0); /* _id < b2 */
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], "b1");
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan_rev(t, "c", "zz", "a", scan_cb, &s), 0); /* only prefix a */
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "a2");
    assert_string_equal(s.ids[1], "a1");
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan_rev(t, "c", NULL, "b", scan_cb, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "b2");
    memset(&s, 0, sizeof s);
    s.stop_at = 1;
    assert_int_equal(bdoc_scan_rev(t, "c", NULL, NULL, scan_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(bdoc_scan_rev(t, "d", NULL, NULL, scan_fail_cb, NULL), BB_EPERM);
    uint8_t *raw = NULL;
    size_t len = 0;
    assert_int_equal(bdoc_get_raw(t, "c", "b1", &raw, &len), 0);
    json_t *d = NULL;
    assert_int_equal(bdoc_doc_decode(raw, len, &d), 0);
    assert_json(d, "{\"_id\":\"b1\",\"n\":2,\"s\":\"\\u00e9\"}");
    json_decref(d);
    const char *names[] = {"s", "missing", "_id"};
    assert_int_equal(bdoc_doc_decode_fields(raw, len, names, 3, &d), 0);
    assert_json(d, "{\"_id\":\"b1\",\"s\":\"\\u00e9\"}");
    json_decref(d);
    assert_int_equal(bdoc_doc_decode(raw, len - 1, &d), BB_EIO);
    assert_int_equal(bdoc_doc_decode_fields(raw, len - 1, names, 3, &d), BB_EIO);
    free(raw);
    assert_int_equal(bdoc_get_raw(t, "c", "zz", &raw, &len), BB_ENOTFOUND);
    bdoc_rollback(t);

    /* the general reverse path: own writes, and an old snapshot while newer versions exist */
    struct bdoc_txn *old_snap;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &old_snap), 0);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_delete(t, "c", "b1"), 0);
    json_t *nd = J("{\"_id\":\"b3\"}");
    assert_int_equal(bdoc_insert(t, "c", nd, NULL), 0);
    json_decref(nd);
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan_rev(t, "c", NULL, NULL, scan_cb, &s), 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.ids[1], "b3");
    assert_string_equal(s.ids[2], "b2");
    assert_string_equal(s.ids[3], "a2");
    assert_int_equal(bdoc_commit(t), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(bdoc_scan_rev(old_snap, "c", NULL, NULL, scan_cb, &s), 0);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.ids[1], "b2");
    assert_string_equal(s.ids[2], "b1");
    bdoc_rollback(old_snap);

    /* the per-transaction collection id cache follows the transaction's own catalog writes */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_get_raw(t, "d", "zz", &raw, &len), 0);
    free(raw);
    assert_int_equal(bdoc_collection_drop(t, "d"), 0);
    assert_int_equal(bdoc_get_raw(t, "d", "zz", &raw, &len), BB_ENOTFOUND);
    assert_int_equal(bdoc_collection_create(t, "d"), 0);
    assert_int_equal(bdoc_get_raw(t, "d", "zz", &raw, &len), BB_ENOTFOUND);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

struct idlist {
    char (*ids)[16];
    size_t n, cap;
};

static int idlist_cb(void *ctx, const char *id, size_t idlen, const uint8_t *doc, size_t len)
{
    (void)doc, (void)len;
    struct idlist *l = ctx;
    assert_true(l->n < l->cap && idlen < 16);
    memcpy(l->ids[l->n], id, idlen);
    l->ids[l->n][idlen] = 0;
    l->n++;
    return 0;
}

/* Reverse scans across many leaves and levels (and batches of the fast path) return exactly the
 * forward order reversed, with and without a bound. */
static void test_scan_rev_many(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "a");
    mkcoll(db, "m");
    mkcoll(db, "z");
    struct bdoc_txn *t;
    unsigned x = 7;
    for (int b = 0; b < 6; b++) {
        assert_int_equal(bdoc_begin(db, 0, &t), 0);
        for (int i = 0; i < 500; i++) {
            x = x * 1103515245u + 12345u;
            char buf[192];
            snprintf(buf, sizeof buf, "{\"_id\":\"k%08u\",\"pad\":\"%0100d\"}", x % 100000000u, i);
            json_t *d = J(buf);
            int rc = bdoc_insert(t, "m", d, NULL);
            assert_true(rc == 0 || rc == BB_EEXIST);
            json_decref(d);
            if (i % 50 == 0) { /* neighbours in the collections around */
                json_t *o = J(buf);
                bdoc_insert(t, i % 100 ? "a" : "z", o, NULL);
                json_decref(o);
            }
        }
        assert_int_equal(bdoc_commit(t), 0);
    }
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    struct idlist f = {calloc(4000, 16), 0, 4000}, r = {calloc(4000, 16), 0, 4000};
    assert_int_equal(bdoc_scan(t, "m", NULL, NULL, idlist_cb, &f), 0);
    assert_int_equal(bdoc_scan_rev(t, "m", NULL, NULL, idlist_cb, &r), 0);
    assert_true(f.n > 2900);
    assert_int_equal(f.n, r.n);
    for (size_t i = 0; i < f.n; i++) assert_string_equal(f.ids[i], r.ids[f.n - 1 - i]);
    /* bounded: before the middle key */
    size_t mid = f.n / 2;
    r.n = 0;
    assert_int_equal(bdoc_scan_rev(t, "m", f.ids[mid], NULL, idlist_cb, &r), 0);
    assert_int_equal(r.n, mid);
    for (size_t i = 0; i < mid; i++) assert_string_equal(f.ids[i], r.ids[mid - 1 - i]);
    bdoc_rollback(t);
    free(f.ids);
    free(r.ids);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

/* bdoc_watch with another transaction's stamp, bdoc_delete_blind: the primitives of online index
 * builds (docs/internals/bundoc-store.md §4). */
/* bdoc_put_sorted: the bulk-load path of index builds. Order and _id checks, visibility to
 * older snapshots, first-committer-wins (a commit after the snapshot, a blind delete), overlap
 * with the write set, overwrite; and watches that the prefix clock answers without a lookup. */
static void put_sorted(struct bdoc_db *db, struct bdoc_txn *t, const char *coll, const char *json,
                       int want)
{
    json_t *d = J(json);
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(bdoc_doc_encode(db, d, &enc, &len), 0);
    assert_int_equal(bdoc_put_sorted(t, coll, json_string_value(json_object_get(d, "_id")), enc, len),
                     want);
    free(enc);
    json_decref(d);
}

static void test_put_sorted(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "c");
    mkcoll(db, "e");
    struct bdoc_txn *t, *r, *w;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &r), 0); /* an older snapshot */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    put_sorted(db, t, "e", "{\"_id\":\"a\",\"v\":1}", 0);
    put_sorted(db, t, "e", "{\"_id\":\"c\",\"v\":3}", 0);
    put_sorted(db, t, "e", "{\"_id\":\"b\",\"v\":2}", BB_EINVAL); /* not ascending */
    put_sorted(db, t, "e", "{\"_id\":\"c\",\"v\":3}", BB_EINVAL); /* not strictly */
    json_t *d = J("{\"_id\":\"z\"}");
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(bdoc_doc_encode(db, d, &enc, &len), 0);
    json_decref(d);
    assert_int_equal(bdoc_put_sorted(t, "e", "y", enc, len), BB_EINVAL); /* _id mismatch */
    assert_int_equal(bdoc_put_sorted(t, "e", "z", enc, 2), BB_EINVAL);   /* not an encoding */
    assert_int_equal(bdoc_put_sorted(t, "nope", "z", enc, len), BB_ENOTFOUND);
    free(enc);
    assert_int_equal(bdoc_txn_set_load_fill(t, 5), BB_EINVAL);
    assert_int_equal(bdoc_txn_set_load_fill(t, 80), 0);
    assert_int_equal(bdoc_get(t, "e", "a", &d), BB_ENOTFOUND); /* not visible to its own reads */
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_get(r, "e", "a", &d), BB_ENOTFOUND); /* the older snapshot */
    bdoc_rollback(r);
    assert_int_equal(bdoc_get1(db, "e", "c", &d), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "v")), 3);
    json_decref(d);
    /* overwrite of a key committed before the snapshot */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    put_sorted(db, t, "e", "{\"_id\":\"a\",\"v\":10}", 0);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_get1(db, "e", "a", &d), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "v")), 10);
    json_decref(d);
    /* a key committed after the snapshot: conflict */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    d = J("{\"_id\":\"d\"}");
    assert_int_equal(bdoc_insert1(db, "e", d, NULL), 0);
    json_decref(d);
    put_sorted(db, t, "e", "{\"_id\":\"d\",\"v\":4}", 0);
    assert_int_equal(bdoc_commit(t), BB_ECONFLICT);
    /* a blind delete committed first: conflict */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    assert_int_equal(bdoc_delete_blind(w, "e", "f"), 0);
    assert_int_equal(bdoc_commit(w), 0);
    put_sorted(db, t, "e", "{\"_id\":\"f\"}", 0);
    assert_int_equal(bdoc_commit(t), BB_ECONFLICT);
    /* the same key in the write set and the load: refused */
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    put_sorted(db, t, "e", "{\"_id\":\"g\"}", 0);
    d = J("{\"_id\":\"g\"}");
    assert_int_equal(bdoc_put(t, "e", d), 0);
    json_decref(d);
    assert_int_equal(bdoc_commit(t), BB_EINVAL);
    assert_int_equal(bdoc_get1(db, "e", "g", &d), BB_ENOTFOUND);

    /* prefix clock: a watch since an old stamp is answered without a lookup when nothing in the
     * document's collection changed; a write to another document of the collection sends it to
     * the lookup, which still finds the watched document unchanged; a change to it conflicts */
    d = J("{\"_id\":\"x\"}");
    assert_int_equal(bdoc_insert1(db, "c", d, NULL), 0);
    json_decref(d);
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &r), 0);
    uint64_t stamp = bdoc_txn_stamp(r);
    bdoc_rollback(r);
    d = J("{\"_id\":\"other\"}");
    assert_int_equal(bdoc_insert1(db, "e", d, NULL), 0); /* another collection */
    json_decref(d);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_watch(t, "c", "x", stamp), 0);
    put_sorted(db, t, "e", "{\"_id\":\"h\"}", 0);
    assert_int_equal(bdoc_commit(t), 0);
    d = J("{\"_id\":\"y\"}");
    assert_int_equal(bdoc_insert1(db, "c", d, NULL), 0); /* same collection, another document */
    json_decref(d);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_watch(t, "c", "x", stamp), 0);
    put_sorted(db, t, "e", "{\"_id\":\"i\"}", 0);
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    assert_int_equal(bdoc_delete(w, "c", "x"), 0);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    assert_int_equal(bdoc_watch(t, "c", "x", stamp), 0);
    put_sorted(db, t, "e", "{\"_id\":\"j\"}", 0);
    assert_int_equal(bdoc_commit(t), BB_ECONFLICT);
    /* everything survives a reopen */
    assert_int_equal(bdoc_close(db), 0);
    db = open_db(dir, NULL);
    assert_int_equal(bdoc_get1(db, "e", "h", &d), 0);
    json_decref(d);
    assert_int_equal(bdoc_get1(db, "e", "j", &d), BB_ENOTFOUND);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

/* Reads past a small cache: plaintext pages are read in place from the mapping of data.db
 * (verified once per page until a checkpoint rewrites it), sealed pages by the vectored
 * read-ahead straight into the pool's buffers. Either way a scan over a database larger than
 * the cache returns every document intact, a second scan too (pages re-enter the pool), and a
 * page corrupted on disk in the middle of the file is reported (BB_EIO), never returned as
 * data. */
static void readahead_scan(const uint8_t *key)
{
    char *dir = tu_tmpdir();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.cache_pages = 32;
    o.durability = BDOC_DURABILITY_OFF;
    o.key = key;
    struct bdoc_db *db = open_db(dir, &o);
    mkcoll(db, "c");
    char pad[600];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, 0, &t), 0);
    for (int i = 0; i < 3000; i++) {
        char id[16];
        snprintf(id, sizeof id, "k%05d", i);
        json_t *d = json_pack("{s:s,s:i,s:s}", "_id", id, "i", i, "pad", pad);
        assert_int_equal(bdoc_insert(t, "c", d, NULL), 0);
        json_decref(d);
    }
    assert_int_equal(bdoc_commit(t), 0);
    assert_int_equal(bdoc_close(db), 0); /* checkpoint: every page in data.db */
    for (int pass = 0; pass < 3; pass++) {
        db = open_db(dir, &o);
        assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
        char *after = NULL;
        int seen = 0, rc = 0;
        for (;;) {
            json_t *page = NULL;
            char *next = NULL;
            rc = bdoc_list(t, "c", after, NULL, 100, &page, &next);
            free(after);
            after = next;
            if (rc) break;
            size_t i;
            json_t *d;
            json_array_foreach(page, i, d) {
                assert_int_equal(json_integer_value(json_object_get(d, "i")), seen);
                assert_int_equal(strlen(json_string_value(json_object_get(d, "pad"))), 599);
                seen++;
            }
            json_decref(page);
            if (!after) break;
        }
        free(after);
        bdoc_rollback(t);
        assert_int_equal(bdoc_close(db), 0);
        if (pass < 2) {
            assert_int_equal(rc, 0);
            assert_int_equal(seen, 3000);
        }
        if (pass == 1) {
            /* flip a payload byte of a page in the middle of the file */
            char path[600];
            snprintf(path, sizeof path, "%s/data.db", dir);
            FILE *f = fopen(path, "r+b");
            assert_non_null(f);
            assert_int_equal(fseek(f, 0, SEEK_END), 0);
            long pages = ftell(f) / 4096;
            long off = (pages / 2) * 4096 + 1000;
            assert_int_equal(fseek(f, off, SEEK_SET), 0);
            int ch = fgetc(f);
            assert_int_equal(fseek(f, off, SEEK_SET), 0);
            fputc(ch ^ 0x55, f);
            fclose(f);
        } else if (pass == 2) {
            assert_int_equal(rc, BB_EIO);
            assert_true(seen > 0 && seen < 3000);
        }
    }
    tu_rmrf(dir);
}

/* Counts the documents of coll until an error; *rc the error (0 at the end). */
static int scan_count_in(struct bdoc_db *db, const char *coll, int *rc)
{
    struct bdoc_txn *t;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t), 0);
    char *after = NULL;
    int seen = 0;
    for (;;) {
        json_t *page = NULL;
        char *next = NULL;
        *rc = bdoc_list(t, coll, after, NULL, 100, &page, &next);
        free(after);
        after = next;
        if (*rc) break;
        seen += (int)json_array_size(page);
        json_decref(page);
        if (!after) break;
    }
    free(after);
    bdoc_rollback(t);
    return seen;
}

static int scan_count(struct bdoc_db *db, int *rc)
{
    return scan_count_in(db, "c", rc);
}

/* A page verified once through the mapping is verified again after a checkpoint rewrote it: a
 * scan verifies every page, every document is replaced and checkpointed (the pages rewritten in
 * data.db), a byte of a page in the middle is flipped on disk while the database stays open, and
 * the next scan (the page long evicted from the small pool, loaded from the mapping) reports
 * BB_EIO instead of trusting the old verification. */
static void test_mapped_reverify(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.cache_pages = 32;
    o.durability = BDOC_DURABILITY_OFF;
    struct bdoc_db *db = open_db(dir, &o);
    mkcoll(db, "c");
    mkcoll(db, "d");
    for (int round = 0; round < 2; round++) {
        struct bdoc_txn *t;
        assert_int_equal(bdoc_begin(db, 0, &t), 0);
        for (int i = 0; i < 2000; i++) {
            if (round == 0) { /* another collection, read later to push c's pages out */
                json_t *x = json_pack("{s:i,s:s}", "i", i, "pad",
                                      "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq");
                assert_int_equal(bdoc_insert(t, "d", x, NULL), 0);
                json_decref(x);
            }
            char id[16];
            snprintf(id, sizeof id, "k%05d", i);
            json_t *d = json_pack("{s:s,s:i,s:s}", "_id", id, "r", round,
                                  "pad", "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                                         "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
            if (round == 0) assert_int_equal(bdoc_insert(t, "c", d, NULL), 0);
            else assert_int_equal(bdoc_replace(t, "c", id, d, NULL), 0);
            json_decref(d);
        }
        assert_int_equal(bdoc_commit(t), 0);
        assert_int_equal(bdoc_checkpoint(db), 0);
        if (round == 0) { /* reopen: an empty pool, every page loaded from the mapping */
            assert_int_equal(bdoc_close(db), 0);
            db = open_db(dir, &o);
            int rc;
            assert_int_equal(scan_count(db, &rc), 2000); /* every page verified through the map */
            assert_int_equal(rc, 0);
        }
    }
    char path[600];
    snprintf(path, sizeof path, "%s/data.db", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    /* the page that holds c's document k01000 (its key is stored as is) */
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f), off = -1;
    char *all = malloc((size_t)size);
    assert_non_null(all);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    assert_int_equal(fread(all, 1, (size_t)size, f), (size_t)size);
    for (long k = 0; k + 6 <= size && off < 0; k++)
        if (!memcmp(all + k, "k01000", 6)) off = k;
    free(all);
    assert_true(off > 0);
    off += 90; /* inside that document's "pad" string: still a well-formed page, only the
                  checksum can tell */
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    int ch = fgetc(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    fputc(ch ^ 0x5a, f);
    fclose(f);
    int rc;
    for (int k = 0; k < 3; k++) { /* the small pool now holds d's pages only */
        assert_int_equal(scan_count_in(db, "d", &rc), 2000);
        assert_int_equal(rc, 0);
    }
    scan_count(db, &rc);
    assert_int_equal(rc, BB_EIO);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

static void test_readahead_scan(void **state)
{
    (void)state;
    readahead_scan(NULL);
    uint8_t key[BDOC_KEY_LEN];
    memset(key, 7, sizeof key);
    readahead_scan(key);
}

static void test_watch_and_blind_delete(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    struct bdoc_db *db = open_db(dir, NULL);
    mkcoll(db, "c");
    mkcoll(db, "e");
    json_t *d = J("{\"_id\":\"x\",\"v\":1}");
    assert_int_equal(bdoc_insert1(db, "c", d, NULL), 0);
    json_decref(d);

    /* t0 is the extraction snapshot; x is replaced after it; a later transaction watching x
     * "since t0" conflicts although its own snapshot already sees the replacement */
    struct bdoc_txn *t0, *w, *b;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t0), 0);
    uint64_t stamp = bdoc_txn_stamp(t0);
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    d = J("{\"v\":2}");
    assert_int_equal(bdoc_replace(w, "c", "x", d, NULL), 0);
    json_decref(d);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(bdoc_begin(db, 0, &b), 0);
    json_t *ent = J("{\"_id\":\"k1\"}");
    assert_int_equal(bdoc_insert(b, "e", ent, NULL), 0);
    assert_int_equal(bdoc_watch(b, "c", "x", stamp), 0);
    assert_int_equal(bdoc_commit(b), BB_ECONFLICT);
    /* watching since its own snapshot (stamp 0): no conflict */
    assert_int_equal(bdoc_begin(db, 0, &b), 0);
    assert_int_equal(bdoc_insert(b, "e", ent, NULL), 0);
    assert_int_equal(bdoc_watch(b, "c", "x", 0), 0);
    assert_int_equal(bdoc_commit(b), 0);
    /* a deletion after the stamp is seen as well (t0 keeps the history) */
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    assert_int_equal(bdoc_delete(w, "c", "x"), 0);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(bdoc_begin(db, 0, &b), 0);
    assert_int_equal(bdoc_watch(b, "c", "x", stamp), 0);
    json_t *ent2 = J("{\"_id\":\"k2\"}");
    assert_int_equal(bdoc_insert(b, "e", ent2, NULL), 0);
    assert_int_equal(bdoc_commit(b), BB_ECONFLICT);
    assert_int_equal(bdoc_watch(t0, "c", "x", stamp), 0); /* read-only: a no-op */
    bdoc_rollback(t0);
    /* a deletion nobody kept history for (no other transaction was open) still conflicts: the
     * watched document must exist at commit */
    d = J("{\"_id\":\"q\"}");
    assert_int_equal(bdoc_insert1(db, "c", d, NULL), 0);
    json_decref(d);
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &t0), 0);
    stamp = bdoc_txn_stamp(t0);
    bdoc_rollback(t0);
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    assert_int_equal(bdoc_delete(w, "c", "q"), 0);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(bdoc_begin(db, 0, &b), 0);
    assert_int_equal(bdoc_watch(b, "c", "q", stamp), 0);
    json_t *ent4 = J("{\"_id\":\"k4\"}");
    assert_int_equal(bdoc_put(b, "e", ent4), 0);
    assert_int_equal(bdoc_put(b, "e", ent4), 0); /* put twice: an overwrite, no error */
    json_decref(ent4);
    assert_int_equal(bdoc_commit(b), BB_ECONFLICT);

    /* blind delete of an entry another transaction inserts concurrently: the second committer
     * conflicts, in both orders */
    for (int order = 0; order < 2; order++) {
        struct bdoc_txn *ins, *del;
        assert_int_equal(bdoc_begin(db, 0, &del), 0);
        assert_int_equal(bdoc_begin(db, 0, &ins), 0);
        json_t *e3 = J("{\"_id\":\"k3\"}");
        assert_int_equal(bdoc_insert(ins, "e", e3, NULL), 0);
        json_decref(e3);
        assert_int_equal(bdoc_delete(del, "e", "k3"), BB_ENOTFOUND); /* not visible */
        assert_int_equal(bdoc_delete_blind(del, "e", "k3"), 0);
        if (order == 0) {
            assert_int_equal(bdoc_commit(ins), 0);
            assert_int_equal(bdoc_commit(del), BB_ECONFLICT);
        } else {
            assert_int_equal(bdoc_commit(del), 0); /* nothing to delete: a no-op write */
            assert_int_equal(bdoc_commit(ins), BB_ECONFLICT);
        }
        assert_int_equal(bdoc_begin(db, 0, &del), 0); /* clean up for the next round */
        int rc = bdoc_delete(del, "e", "k3");
        assert_true(rc == 0 || rc == BB_ENOTFOUND);
        assert_int_equal(bdoc_commit(del), 0);
    }
    struct bdoc_txn *ro;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &ro), 0);
    assert_int_equal(bdoc_delete_blind(ro, "e", "k1"), BB_EPERM);
    bdoc_rollback(ro);

    /* version stamps: not after the snapshot that saw the version; newer after a change;
     * unknown for the transaction's own write and for an old version; absent when deleted */
    json_t *y = J("{\"_id\":\"y\",\"v\":1}");
    assert_int_equal(bdoc_insert1(db, "c", y, NULL), 0);
    struct bdoc_txn *s1, *s2;
    uint64_t st1 = 0, st2 = 0;
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &s1), 0);
    assert_int_equal(bdoc_get_stamp(s1, "c", "y", &st1), 0);
    assert_true(st1 > 0 && st1 <= bdoc_txn_stamp(s1));
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    assert_int_equal(bdoc_replace(w, "c", "y", y, NULL), 0);
    assert_int_equal(bdoc_get_stamp(w, "c", "y", &st2), 0);
    assert_true(st2 == UINT64_MAX); /* own write */
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(bdoc_get_stamp(s1, "c", "y", &st2), 0);
    assert_true(st2 == UINT64_MAX); /* s1 sees an old version: its commit time is not kept */
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &s2), 0);
    assert_int_equal(bdoc_get_stamp(s2, "c", "y", &st2), 0);
    assert_true(st2 > bdoc_txn_stamp(s1) && st2 <= bdoc_txn_stamp(s2));
    bdoc_rollback(s2);
    assert_int_equal(bdoc_begin(db, 0, &w), 0);
    assert_int_equal(bdoc_delete(w, "c", "y"), 0);
    assert_int_equal(bdoc_get_stamp(w, "c", "y", &st2), BB_ENOTFOUND);
    assert_int_equal(bdoc_commit(w), 0);
    assert_int_equal(bdoc_get_stamp(s1, "c", "y", &st2), 0); /* still there for s1 */
    bdoc_rollback(s1);
    assert_int_equal(bdoc_begin(db, BDOC_TXN_READONLY, &s2), 0);
    assert_int_equal(bdoc_get_stamp(s2, "c", "y", &st2), BB_ENOTFOUND);
    bdoc_rollback(s2);
    json_decref(y);
    json_decref(ent);
    json_decref(ent2);
    assert_int_equal(bdoc_close(db), 0);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud_and_ids),
        cmocka_unit_test(test_list_cursor_prefix),
        cmocka_unit_test(test_transactions_atomic),
        cmocka_unit_test(test_large_documents),
        cmocka_unit_test(test_encryption_and_lock),
        cmocka_unit_test(test_checkpoint_bounds_wal),
        cmocka_unit_test(test_collection_definitions),
        cmocka_unit_test(test_durability_modes),
        cmocka_unit_test(test_raw_scan),
        cmocka_unit_test(test_scan_rev_many),
        cmocka_unit_test(test_watch_and_blind_delete),
        cmocka_unit_test(test_put_sorted),
        cmocka_unit_test(test_readahead_scan),
        cmocka_unit_test(test_mapped_reverify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
