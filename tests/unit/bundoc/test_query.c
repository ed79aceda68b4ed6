/* Unit tests for the bundoc query layer: value order, every filter operator on nested paths and
 * arrays, mixed types, sort/skip/limit/cursor, projection, planner predicates, limits. The
 * randomized self-consistency test is in test_query_random.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bb_err.h"
#include "doc.h"
#include "query.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

/* Compiles filter text, matches document text. */
static int M(const char *filter, const char *doc)
{
    json_t *f = J(filter), *d = J(doc);
    struct bdoc_query *q = NULL;
    char err[256];
    int rc = bdoc_query_compile(f, &q, err, sizeof err);
    if (rc) fail_msg("compile %s: %s", filter, err);
    int m = bdoc_query_match(q, d);
    /* the evaluator on the binary encoding gives the same answer for every case of this file */
    if (json_is_object(d)) {
        uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(doc_encode(d, 1u << 20, &enc, &len), 0);
        int me = bdoc_query_match_enc(q, enc, len, NULL);
        if (me != m) fail_msg("filter %s on %s: %d on the tree, %d on the encoding", filter, doc, m, me);
        free(enc);
    }
    bdoc_query_free(q);
    json_decref(f);
    json_decref(d);
    return m;
}

/* bdoc_find_array, but every document is fed in the binary encoding (bdoc_find_run_feed_enc). */
static int find_array_enc(const struct bdoc_find *f, const json_t *docs, json_t **out,
                          char **cursor, size_t *matched)
{
    struct bdoc_find_run *r = NULL;
    int rc = bdoc_find_run_new(f, &r);
    if (rc) return rc;
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(doc_encode(d, 1u << 20, &enc, &len), 0);
        rc = bdoc_find_run_feed_enc(r, enc, len);
        free(enc);
        if (rc < 0) goto out;
    }
    rc = bdoc_find_run_finish(r, out, cursor, matched);
out:
    bdoc_find_run_free(r);
    return rc < 0 ? rc : 0;
}

static int compile_err(const char *filter, char *err, size_t cap)
{
    json_t *f = J(filter);
    struct bdoc_query *q = NULL;
    int rc = bdoc_query_compile(f, &q, err, cap);
    assert_true(rc != 0 || q != NULL);
    bdoc_query_free(q);
    json_decref(f);
    return rc;
}

static int CMP(const char *a, const char *b)
{
    json_t *x = J(a), *y = J(b);
    int c = bdoc_value_cmp(x, y);
    json_decref(x);
    json_decref(y);
    return c;
}

/* ---- value order ---- */

static void test_type_order(void **state)
{
    (void)state;
    /* null < numbers < strings < objects < arrays < booleans */
    const char *chain[] = {"null", "-5",      "0",     "1.5",    "2",       "10",      "\"\"",
                           "\"10\"", "\"9\"", "\"a\"", "{}",     "{\"a\":1}", "[]",     "[1]",
                           "[1,2]", "[2]",    "false", "true"};
    size_t n = sizeof chain / sizeof chain[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = CMP(chain[i], chain[j]);
            int want = (i > j) - (i < j);
            if ((c > 0) - (c < 0) != want) fail_msg("cmp(%s, %s) = %d", chain[i], chain[j], c);
        }
}

static void test_number_order(void **state)
{
    (void)state;
    assert_int_equal(CMP("1", "1.0"), 0);
    assert_true(CMP("2", "10") < 0); /* never as strings */
    assert_true(CMP("100", "25") > 0);
    assert_true(CMP("-0.5", "0") < 0);
    assert_true(CMP("9007199254740993", "9007199254740992.0") > 0); /* 2^53+1 exactly */
    assert_true(CMP("9223372036854775807", "9.3e18") < 0);
    assert_true(CMP("-9223372036854775808", "-9.3e18") > 0);
    assert_true(CMP("3", "2.999999") > 0);
    assert_true(CMP("-3", "-2.5") < 0);
    assert_int_equal(CMP("0", "-0.0"), 0);
}

static void test_object_array_order(void **state)
{
    (void)state;
    assert_int_equal(CMP("{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1.0}"), 0);
    assert_true(CMP("{\"a\":1}", "{\"a\":2}") < 0);
    assert_true(CMP("{\"a\":1}", "{\"b\":0}") < 0);
    assert_true(CMP("{\"a\":1}", "{\"a\":1,\"b\":0}") < 0);
    assert_true(CMP("[1,2]", "[1,3]") < 0);
    assert_true(CMP("[1,2]", "[1,2,0]") < 0);
    assert_true(CMP("[\"a\"]", "[1,2]") > 0);
    assert_true(CMP("\"ab\"", "\"b\"") < 0);
    assert_true(CMP("\"\\u00e9\"", "\"z\"") > 0); /* code point order */
    json_t *a = J("{\"x\":1}");
    assert_int_equal(bdoc_value_cmp(NULL, json_null()), 0); /* missing == null */
    assert_true(bdoc_value_cmp(NULL, a) < 0);
    json_decref(a);
}

/* ---- operators ---- */

static void test_implicit_eq(void **state)
{
    (void)state;
    assert_true(M("{\"age\":30}", "{\"age\":30}"));
    assert_true(M("{\"age\":30}", "{\"age\":30.0}"));
    assert_false(M("{\"age\":30}", "{\"age\":\"30\"}")); /* typed */
    assert_false(M("{\"ok\":true}", "{\"ok\":\"true\"}"));
    assert_true(M("{\"a\":1,\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\",\"c\":0}"));
    assert_false(M("{\"a\":1,\"b\":\"x\"}", "{\"a\":1,\"b\":\"y\"}"));
    assert_true(M("{}", "{\"a\":1}"));
    assert_true(M("{\"o\":{\"x\":1,\"y\":2}}", "{\"o\":{\"y\":2,\"x\":1}}"));
    assert_false(M("{\"o\":{\"x\":1}}", "{\"o\":{\"x\":1,\"y\":2}}"));
    /* null matches null and missing */
    assert_true(M("{\"a\":null}", "{\"a\":null}"));
    assert_true(M("{\"a\":null}", "{\"b\":1}"));
    assert_false(M("{\"a\":null}", "{\"a\":0}"));
}

static void test_eq_ne_nested(void **state)
{
    (void)state;
    const char *d = "{\"user\":{\"name\":\"ann\",\"addr\":{\"city\":\"Oslo\",\"zip\":150}}}";
    assert_true(M("{\"user.name\":\"ann\"}", d));
    assert_true(M("{\"user.addr.city\":{\"$eq\":\"Oslo\"}}", d));
    assert_true(M("{\"user.addr.zip\":{\"$eq\":150.0}}", d));
    assert_false(M("{\"user.addr.zip\":\"150\"}", d));
    assert_true(M("{\"user.addr.city\":{\"$ne\":\"Bergen\"}}", d));
    assert_false(M("{\"user.addr.city\":{\"$ne\":\"Oslo\"}}", d));
    assert_true(M("{\"user.nope.x\":{\"$ne\":1}}", d)); /* $ne matches missing */
    assert_false(M("{\"user.name.x\":\"ann\"}", d));    /* through a scalar */
    assert_true(M("{\"user.addr\":{\"city\":\"Oslo\",\"zip\":150}}", d));
    assert_false(M("{\"user.addr.zip\":{\"$ne\":null}}", "{\"user\":{}}"));
    assert_true(M("{\"user.addr.zip\":{\"$ne\":null}}", d));
}

static void test_ranges(void **state)
{
    (void)state;
    const char *d = "{\"n\":{\"v\":25},\"s\":\"m\",\"b\":true,\"z\":null}";
    assert_true(M("{\"n.v\":{\"$gt\":24}}", d));
    assert_false(M("{\"n.v\":{\"$gt\":25}}", d));
    assert_true(M("{\"n.v\":{\"$gte\":25}}", d));
    assert_true(M("{\"n.v\":{\"$gte\":24.5}}", d));
    assert_true(M("{\"n.v\":{\"$lt\":100}}", d)); /* 25 < 100, not "25" < "100" */
    assert_false(M("{\"n.v\":{\"$lt\":25}}", d));
    assert_true(M("{\"n.v\":{\"$lte\":25}}", d));
    assert_true(M("{\"n.v\":{\"$gt\":20,\"$lt\":30}}", d));
    assert_false(M("{\"n.v\":{\"$gt\":20,\"$lt\":25}}", d));
    /* type bracketing */
    assert_false(M("{\"n.v\":{\"$gt\":\"1\"}}", d));
    assert_false(M("{\"s\":{\"$gt\":5}}", d));
    assert_true(M("{\"s\":{\"$gt\":\"a\",\"$lte\":\"m\"}}", d));
    assert_true(M("{\"b\":{\"$gt\":false}}", d));
    assert_true(M("{\"z\":{\"$gte\":null}}", d));
    assert_false(M("{\"z\":{\"$gt\":null}}", d));
    assert_false(M("{\"missing\":{\"$lt\":1}}", d));
    assert_false(M("{\"missing\":{\"$gte\":null}}", d));
    assert_true(M("{\"n\":{\"$gt\":{\"v\":1}}}", d)); /* objects in their own class */
}

static void test_in_nin(void **state)
{
    (void)state;
    const char *d = "{\"a\":{\"b\":2},\"t\":[\"x\",\"y\"]}";
    assert_true(M("{\"a.b\":{\"$in\":[1,2,3]}}", d));
    assert_true(M("{\"a.b\":{\"$in\":[2.0]}}", d));
    assert_false(M("{\"a.b\":{\"$in\":[\"2\"]}}", d));
    assert_false(M("{\"a.b\":{\"$in\":[]}}", d));
    assert_true(M("{\"a.b\":{\"$nin\":[1,3]}}", d));
    assert_false(M("{\"a.b\":{\"$nin\":[2]}}", d));
    assert_true(M("{\"a.c\":{\"$nin\":[2]}}", d));  /* missing */
    assert_true(M("{\"a.c\":{\"$in\":[null]}}", d)); /* missing ~ null */
    assert_true(M("{\"t\":{\"$in\":[\"y\",\"q\"]}}", d));
    assert_false(M("{\"t\":{\"$nin\":[\"y\"]}}", d));
    assert_true(M("{\"t\":{\"$in\":[[\"x\",\"y\"]]}}", d));
}

static void test_exists(void **state)
{
    (void)state;
    const char *d = "{\"a\":{\"b\":null},\"l\":[{\"k\":1},{\"j\":2}]}";
    assert_true(M("{\"a.b\":{\"$exists\":true}}", d));
    assert_false(M("{\"a.b\":{\"$exists\":false}}", d));
    assert_true(M("{\"a.c\":{\"$exists\":false}}", d));
    assert_true(M("{\"l.k\":{\"$exists\":true}}", d));
    assert_false(M("{\"l.k\":{\"$exists\":false}}", d));
    assert_true(M("{\"l.z\":{\"$exists\":false}}", d));
    assert_true(M("{\"l.1.j\":{\"$exists\":true}}", d));
    assert_false(M("{\"l.0.j\":{\"$exists\":true}}", d));
}

static void test_regex(void **state)
{
    (void)state;
    const char *d = "{\"p\":{\"name\":\"Alice Smith\"},\"tags\":[\"red\",\"Green\"],\"n\":5}";
    assert_true(M("{\"p.name\":{\"$regex\":\"^Ali\"}}", d));
    assert_false(M("{\"p.name\":{\"$regex\":\"^ali\"}}", d));
    assert_true(M("{\"p.name\":{\"$regex\":\"^ali\",\"$options\":\"i\"}}", d));
    assert_true(M("{\"p.name\":{\"$regex\":\"Smith$\"}}", d));
    assert_true(M("{\"tags\":{\"$regex\":\"^gr\",\"$options\":\"i\"}}", d));
    assert_false(M("{\"n\":{\"$regex\":\"5\"}}", d)); /* numbers are not strings */
    assert_true(M("{\"p.name\":{\"$not\":{\"$regex\":\"^Bob\"}}}", d));
    assert_true(M("{\"u\":{\"$regex\":\"^\\\\p{L}+$\"}}", "{\"u\":\"\\u00e9t\\u00e9\"}"));
    /* catastrophic backtracking is bounded: no match, returns quickly */
    assert_false(M("{\"s\":{\"$regex\":\"^(a+)+$\"}}",
                   "{\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"}"));
    char err[256];
    assert_int_equal(compile_err("{\"a\":{\"$regex\":\"(\"}}", err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "regex"));
    assert_int_equal(compile_err("{\"a\":{\"$regex\":\"a\",\"$options\":\"q\"}}", err, sizeof err),
                     BB_EINVAL);
    assert_int_equal(compile_err("{\"a\":{\"$options\":\"i\"}}", err, sizeof err), BB_EINVAL);
    assert_int_equal(compile_err("{\"a\":{\"$regex\":5}}", err, sizeof err), BB_EINVAL);
    char big[BDOC_QUERY_MAX_REGEX_LEN + 64];
    snprintf(big, sizeof big, "{\"a\":{\"$regex\":\"%0*d\"}}", BDOC_QUERY_MAX_REGEX_LEN + 1, 0);
    assert_int_equal(compile_err(big, err, sizeof err), BB_ETOOBIG);
}

static void test_logical(void **state)
{
    (void)state;
    const char *d = "{\"a\":1,\"b\":{\"c\":\"x\"}}";
    assert_true(M("{\"$and\":[{\"a\":1},{\"b.c\":\"x\"}]}", d));
    assert_false(M("{\"$and\":[{\"a\":1},{\"b.c\":\"y\"}]}", d));
    assert_true(M("{\"$or\":[{\"a\":2},{\"b.c\":\"x\"}]}", d));
    assert_false(M("{\"$or\":[{\"a\":2},{\"b.c\":\"y\"}]}", d));
    assert_true(M("{\"$nor\":[{\"a\":2},{\"b.c\":\"y\"}]}", d));
    assert_true(M("{\"$not\":{\"a\":2}}", d));
    assert_false(M("{\"$not\":{\"a\":1,\"b.c\":\"x\"}}", d));
    assert_true(M("{\"a\":{\"$not\":{\"$gt\":5}}}", d));
    assert_false(M("{\"a\":{\"$not\":{\"$lt\":5}}}", d));
    assert_true(M("{\"zz\":{\"$not\":{\"$gt\":5}}}", d)); /* missing */
    assert_true(M("{\"a\":1,\"$or\":[{\"a\":{\"$in\":[0,1]}},{\"q\":1}]}", d));
    assert_true(M("{\"$and\":[{\"$or\":[{\"a\":5},{\"$not\":{\"b.c\":\"z\"}}]}]}", d));
}

static void test_arrays(void **state)
{
    (void)state;
    const char *d = "{\"tags\":[\"a\",\"b\"],\"scores\":[3,9,27],"
                    "\"items\":[{\"sku\":\"x\",\"qty\":1},{\"sku\":\"y\",\"qty\":5,"
                    "\"dims\":{\"w\":2}}],\"m\":[[1,2],[3]],\"mix\":[1,\"1\",null]}";
    assert_true(M("{\"tags\":\"a\"}", d));
    assert_true(M("{\"tags\":[\"a\",\"b\"]}", d));
    assert_false(M("{\"tags\":[\"b\",\"a\"]}", d));
    assert_false(M("{\"tags\":\"c\"}", d));
    assert_true(M("{\"tags\":{\"$ne\":\"c\"}}", d));
    assert_false(M("{\"tags\":{\"$ne\":\"a\"}}", d));
    assert_true(M("{\"scores\":{\"$gt\":20}}", d));
    assert_false(M("{\"scores\":{\"$gt\":30}}", d));
    assert_true(M("{\"scores\":{\"$gt\":10,\"$lt\":5}}", d)); /* per-operator, as MongoDB */
    assert_true(M("{\"scores.1\":9}", d));
    assert_false(M("{\"scores.1\":3}", d));
    assert_true(M("{\"items.sku\":\"y\"}", d));
    assert_true(M("{\"items.qty\":{\"$gte\":5}}", d));
    assert_false(M("{\"items.qty\":{\"$gt\":5}}", d));
    assert_true(M("{\"items.dims.w\":2}", d));
    assert_true(M("{\"items.dims.w\":null}", d)); /* missing in the first element */
    assert_true(M("{\"items.1.sku\":\"y\"}", d));
    assert_false(M("{\"items.0.sku\":\"y\"}", d));
    assert_true(M("{\"items.sku\":{\"$in\":[\"q\",\"x\"]}}", d));
    assert_false(M("{\"items.sku\":{\"$nin\":[\"q\",\"x\"]}}", d));
    assert_true(M("{\"m\":[3]}", d)); /* element of an array of arrays */
    assert_false(M("{\"m\":3}", d));  /* only one level of elements */
    assert_true(M("{\"mix\":null}", d));
    assert_true(M("{\"mix\":\"1\"}", d));
    assert_true(M("{\"mix\":{\"$lt\":2}}", d));
    assert_true(M("{\"items\":{\"sku\":\"x\",\"qty\":1}}", d));
    assert_true(M("{\"tags.5\":{\"$exists\":false}}", d));
    assert_true(M("{\"tags.x\":{\"$exists\":false}}", d));
}

static void test_compile_errors(void **state)
{
    (void)state;
    char err[256];
    struct {
        const char *f;
        int rc;
        const char *needle;
    } cases[] = {
        {"{\"a\":{\"$foo\":1}}", BB_EINVAL, "unknown operator"},
        {"{\"$foo\":[]}", BB_EINVAL, "unknown top-level"},
        {"{\"$and\":{}}", BB_EINVAL, "$and"},
        {"{\"$or\":[]}", BB_EINVAL, "$or"},
        {"{\"$or\":[1]}", BB_EINVAL, "element 0"},
        {"{\"a\":{\"$in\":1}}", BB_EINVAL, "$in"},
        {"{\"a\":{\"$nin\":{}}}", BB_EINVAL, "$nin"},
        {"{\"a\":{\"$exists\":1}}", BB_EINVAL, "$exists"},
        {"{\"a\":{\"$gt\":1,\"b\":2}}", BB_EINVAL, "mix"},
        {"{\"a..b\":1}", BB_EINVAL, "empty segment"},
        {"{\"\":1}", BB_EINVAL, "empty field"},
        {"{\"a\":{\"$not\":5}}", BB_EINVAL, "$not"},
        {"{\"$not\":5}", BB_EINVAL, "$not"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = compile_err(cases[i].f, err, sizeof err);
        if (rc != cases[i].rc || !strstr(err, cases[i].needle))
            fail_msg("%s: rc %d err '%s'", cases[i].f, rc, err);
    }
    struct bdoc_query *q = NULL;
    json_t *arr = J("[1]");
    assert_int_equal(bdoc_query_compile(arr, &q, err, sizeof err), BB_EINVAL);
    json_decref(arr);
    assert_int_equal(bdoc_query_compile(NULL, &q, err, sizeof err), 0);
    json_t *d = J("{\"x\":1}");
    assert_true(bdoc_query_match(q, d));
    json_decref(d);
    bdoc_query_free(q);
}

static void test_limits(void **state)
{
    (void)state;
    char err[256];
    /* depth */
    char buf[4096];
    size_t n = 0;
    for (int i = 0; i < BDOC_QUERY_MAX_DEPTH + 2; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"$and\":[");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"a\":1}");
    for (int i = 0; i < BDOC_QUERY_MAX_DEPTH + 2; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "]}");
    assert_int_equal(compile_err(buf, err, sizeof err), BB_ETOOBIG);
    assert_non_null(strstr(err, "deeper"));
    /* nodes */
    json_t *in = json_array();
    for (int i = 0; i < BDOC_QUERY_MAX_NODES + 1; i++) json_array_append_new(in, json_integer(i));
    json_t *f = json_pack("{s:{s:o}}", "a", "$in", in);
    struct bdoc_query *q = NULL;
    assert_int_equal(bdoc_query_compile(f, &q, err, sizeof err), BB_ETOOBIG);
    json_decref(f);
    /* path segments and length */
    n = 0;
    buf[n++] = '{';
    buf[n++] = '"';
    for (int i = 0; i < BDOC_QUERY_MAX_PATH_SEGS + 1; i++) {
        if (i) buf[n++] = '.';
        buf[n++] = 'a';
    }
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\":1}");
    assert_int_equal(compile_err(buf, err, sizeof err), BB_ETOOBIG);
    char *longp = malloc(BDOC_QUERY_MAX_PATH_LEN + 2);
    memset(longp, 'k', BDOC_QUERY_MAX_PATH_LEN + 1);
    longp[BDOC_QUERY_MAX_PATH_LEN + 1] = 0;
    f = json_pack("{s:i}", longp, 1);
    assert_int_equal(bdoc_query_compile(f, &q, err, sizeof err), BB_ETOOBIG);
    json_decref(f);
    free(longp);
}

static void test_preds(void **state)
{
    (void)state;
    json_t *f = J("{\"a\":1,\"b.c\":{\"$gt\":2,\"$lte\":9},\"t\":{\"$in\":[\"x\",null]},"
                  "\"$and\":[{\"d\":{\"$lt\":\"q\"}}]}");
    struct bdoc_query *q = NULL;
    assert_int_equal(bdoc_query_compile(f, &q, NULL, 0), 0);
    const struct bdoc_pred *p = NULL;
    size_t n = 0;
    int all = -1;
    bdoc_query_preds(q, &p, &n, &all);
    assert_int_equal(n, 4);
    assert_int_equal(all, 1);
    assert_string_equal(p[0].path, "a");
    assert_int_equal(p[0].kind, BDOC_PRED_EQ);
    assert_int_equal(json_integer_value(p[0].eq), 1);
    assert_int_equal(p[0].matches_missing, 0);
    assert_string_equal(p[1].path, "b.c");
    assert_int_equal(p[1].kind, BDOC_PRED_RANGE);
    assert_int_equal(p[1].tc, BDOC_TC_NUMBER);
    assert_int_equal(json_integer_value(p[1].lo), 2);
    assert_int_equal(p[1].lo_incl, 0);
    assert_int_equal(json_integer_value(p[1].hi), 9);
    assert_int_equal(p[1].hi_incl, 1);
    assert_int_equal(p[2].kind, BDOC_PRED_IN);
    assert_int_equal(p[2].matches_missing, 1);
    assert_int_equal(p[3].kind, BDOC_PRED_RANGE);
    assert_null(p[3].lo);
    assert_string_equal(json_string_value(p[3].hi), "q");
    bdoc_query_free(q);
    json_decref(f);

    const char *partial[] = {"{\"a\":1,\"b\":{\"$ne\":2}}", "{\"a\":1,\"$or\":[{\"b\":1}]}",
                             "{\"a\":{\"$regex\":\"x\"}}", "{\"a\":{\"$exists\":true}}"};
    for (size_t i = 0; i < 4; i++) {
        f = J(partial[i]);
        assert_int_equal(bdoc_query_compile(f, &q, NULL, 0), 0);
        bdoc_query_preds(q, &p, &n, &all);
        assert_int_equal(all, 0);
        assert_int_equal(n, i == 0 ? 1 : (i == 1 ? 1 : 0));
        bdoc_query_free(q);
        json_decref(f);
    }
    /* ranges of different classes do not merge */
    f = J("{\"a\":{\"$gt\":1,\"$lt\":\"z\"}}");
    assert_int_equal(bdoc_query_compile(f, &q, NULL, 0), 0);
    bdoc_query_preds(q, &p, &n, &all);
    assert_int_equal(n, 2);
    bdoc_query_free(q);
    json_decref(f);
}

/* ---- find: sort, skip, limit, cursor, projection ---- */

static json_t *people(void)
{
    return J("["
             "{\"_id\":\"p1\",\"name\":\"ann\",\"age\":30,\"addr\":{\"city\":\"Oslo\"}},"
             "{\"_id\":\"p2\",\"name\":\"bob\",\"age\":25,\"addr\":{\"city\":\"Bergen\"}},"
             "{\"_id\":\"p3\",\"name\":\"cid\",\"age\":100,\"addr\":{\"city\":\"Oslo\"}},"
             "{\"_id\":\"p4\",\"name\":\"dan\",\"age\":25.5},"
             "{\"_id\":\"p5\",\"name\":\"eve\",\"age\":\"40\",\"addr\":{\"city\":\"Bergen\"}},"
             "{\"_id\":\"p6\",\"name\":\"fay\",\"addr\":{\"city\":\"Oslo\"}},"
             "{\"_id\":\"p7\",\"name\":\"gus\",\"age\":25}"
             "]");
}

static char *ids_of(const json_t *docs)
{
    static char buf[512];
    size_t n = 0, i;
    json_t *d;
    buf[0] = 0;
    json_array_foreach(docs, i, d) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(d, "_id")));
    }
    return buf;
}

static void run_find(const char *req, const char *want_ids, size_t want_matched, char **cursor)
{
    json_t *r = J(req), *docs = people(), *out = NULL;
    struct bdoc_find *f = NULL;
    char err[256];
    size_t matched = 0;
    if (bdoc_find_compile(r, &f, err, sizeof err)) fail_msg("%s: %s", req, err);
    assert_int_equal(bdoc_find_array(f, docs, &out, cursor, &matched), 0);
    if (strcmp(ids_of(out), want_ids)) fail_msg("%s: got %s want %s", req, ids_of(out), want_ids);
    assert_int_equal(matched, want_matched);
    /* the same on the encoding: same page (projection included), same count, same cursor */
    json_t *eout = NULL;
    char *ecur = NULL;
    size_t ematched = 0;
    assert_int_equal(find_array_enc(f, docs, &eout, cursor ? &ecur : NULL, &ematched), 0);
    if (!json_equal(out, eout)) fail_msg("%s: encoding gave %s", req, ids_of(eout));
    assert_int_equal(ematched, want_matched);
    if (cursor) {
        assert_true((*cursor == NULL) == (ecur == NULL));
        if (ecur) assert_string_equal(*cursor, ecur);
    }
    free(ecur);
    json_decref(eout);
    json_decref(out);
    json_decref(docs);
    json_decref(r);
    bdoc_find_free(f);
}

static void test_find_sort(void **state)
{
    (void)state;
    run_find("{}", "p1,p2,p3,p4,p5,p6,p7", 7, NULL);
    /* numbers by value (100 after 30), missing (null) first, string "40" after numbers */
    run_find("{\"sort\":[\"age\"]}", "p6,p2,p7,p4,p1,p3,p5", 7, NULL);
    run_find("{\"sort\":[\"-age\"]}", "p5,p3,p1,p4,p2,p7,p6", 7, NULL);
    run_find("{\"sortField\":\"age\",\"sortDesc\":true}", "p5,p3,p1,p4,p2,p7,p6", 7, NULL);
    run_find("{\"sort\":[{\"field\":\"addr.city\",\"desc\":false},\"-age\"]}",
             "p4,p7,p5,p2,p3,p1,p6", 7, NULL);
    run_find("{\"query\":{\"age\":{\"$gte\":25,\"$lt\":100}},\"sort\":[\"age\",\"-name\"]}",
             "p7,p2,p4,p1", 4, NULL);
    run_find("{\"query\":{\"addr.city\":\"Oslo\"},\"sort\":[\"-age\"],\"skip\":1,\"limit\":1}",
             "p1", 3, NULL);
    run_find("{\"sort\":[\"age\"],\"skip\":5}", "p3,p5", 7, NULL);
    run_find("{\"sort\":[\"age\"],\"skip\":9}", "", 7, NULL);
    run_find("{\"filter\":{\"age\":25},\"limit\":10}", "p2,p7", 2, NULL);
}

static void test_find_errors(void **state)
{
    (void)state;
    const char *bad[] = {"{\"limit\":-1}", "{\"skip\":\"1\"}", "{\"sort\":\"age\"}",
                         "{\"sort\":[1]}", "{\"sort\":[{\"field\":\"a\",\"x\":1}]}",
                         "{\"fields\":\"a\"}", "{\"fields\":[1]}", "{\"cursor\":\"!!\"}",
                         "{\"cursor\":\"e30\"}", "{\"query\":[]}", "{\"bogus\":1}",
                         "{\"query\":{},\"filter\":{}}", "{\"limit\":1000001}",
                         "{\"skip\":600000,\"limit\":600000}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *r = J(bad[i]);
        struct bdoc_find *f = NULL;
        char err[256] = "";
        int rc = bdoc_find_compile(r, &f, err, sizeof err);
        if (rc == 0 || err[0] == 0) fail_msg("%s accepted (%s)", bad[i], err);
        assert_null(f);
        json_decref(r);
    }
}

static void test_cursor_pages(void **state)
{
    (void)state;
    const char *sorts[] = {"[\"age\"]", "[\"-age\"]", "[\"addr.city\",\"-name\"]", "[]",
                           "[\"-addr.city\",\"age\"]"};
    for (size_t s = 0; s < sizeof sorts / sizeof sorts[0]; s++) {
        for (int lim = 1; lim <= 4; lim++) {
            char req[256];
            snprintf(req, sizeof req, "{\"sort\":%s}", sorts[s]);
            json_t *r = J(req), *docs = people(), *all = NULL;
            struct bdoc_find *f = NULL;
            assert_int_equal(bdoc_find_compile(r, &f, NULL, 0), 0);
            assert_int_equal(bdoc_find_array(f, docs, &all, NULL, NULL), 0);
            char want[512];
            snprintf(want, sizeof want, "%s", ids_of(all));
            bdoc_find_free(f);
            json_decref(r);
            /* page through with cursors */
            char got[512] = "";
            size_t gn = 0;
            char *cur = NULL;
            int pages = 0;
            do {
                json_t *pr = json_pack("{s:o,s:i}", "sort", J(sorts[s]), "limit", lim);
                if (cur) json_object_set_new(pr, "cursor", json_string(cur));
                free(cur);
                cur = NULL;
                char err[256];
                if (bdoc_find_compile(pr, &f, err, sizeof err)) fail_msg("%s", err);
                json_t *page = NULL;
                assert_int_equal(bdoc_find_array(f, docs, &page, &cur, NULL), 0);
                assert_true(json_array_size(page) <= (size_t)lim);
                if (json_array_size(page))
                    gn += (size_t)snprintf(got + gn, sizeof got - gn, "%s%s", gn ? "," : "",
                                           ids_of(page));
                json_decref(page);
                json_decref(pr);
                bdoc_find_free(f);
                pages++;
            } while (cur && pages < 20);
            free(cur);
            if (strcmp(got, want)) fail_msg("sort %s limit %d: %s vs %s", sorts[s], lim, got, want);
            assert_int_equal(pages, (7 + lim - 1) / lim);
            json_decref(docs);
            json_decref(all);
        }
    }
    /* a cursor made for another sort is rejected; a tampered one too */
    json_t *r = J("{\"sort\":[\"age\"],\"limit\":2}"), *docs = people(), *page = NULL;
    struct bdoc_find *f = NULL;
    char *cur = NULL, err[256];
    assert_int_equal(bdoc_find_compile(r, &f, NULL, 0), 0);
    assert_int_equal(bdoc_find_array(f, docs, &page, &cur, NULL), 0);
    assert_non_null(cur);
    for (const char *c = cur; *c; c++)
        assert_true((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_');
    bdoc_find_free(f);
    json_t *r2 = json_pack("{s:[s],s:s}", "sort", "-age", "cursor", cur);
    assert_int_equal(bdoc_find_compile(r2, &f, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "different sort"));
    json_decref(r2);
    cur[3] = cur[3] == 'A' ? 'B' : 'A';
    r2 = json_pack("{s:[s],s:s}", "sort", "age", "cursor", cur);
    int rc = bdoc_find_compile(r2, &f, err, sizeof err);
    if (rc == 0) bdoc_find_free(f); /* a flipped byte may still decode to valid JSON; no crash */
    json_decref(r2);
    free(cur);
    json_decref(page);
    json_decref(docs);
    json_decref(r);
}

static void test_topk_window(void **state)
{
    (void)state;
    /* 1000 docs fed in pseudo-random order; limit keeps a bounded heap */
    json_t *docs = json_array();
    unsigned x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 1103515245u + 12345u;
        char id[16];
        snprintf(id, sizeof id, "d%04d", i);
        json_array_append_new(docs, json_pack("{s:s,s:i}", "_id", id, "v", (int)(x % 100)));
    }
    json_t *r = J("{\"sort\":[\"-v\"],\"skip\":10,\"limit\":5}"), *out = NULL;
    json_t *rall = J("{\"sort\":[\"-v\"]}"), *all = NULL;
    struct bdoc_find *f = NULL, *fall = NULL;
    assert_int_equal(bdoc_find_compile(r, &f, NULL, 0), 0);
    assert_int_equal(bdoc_find_compile(rall, &fall, NULL, 0), 0);
    size_t matched = 0;
    assert_int_equal(bdoc_find_array(f, docs, &out, NULL, &matched), 0);
    assert_int_equal(bdoc_find_array(fall, docs, &all, NULL, NULL), 0);
    assert_int_equal(matched, 1000);
    assert_int_equal(json_array_size(out), 5);
    for (size_t i = 0; i < 5; i++)
        assert_ptr_equal(json_array_get(out, i), json_array_get(all, 10 + i));
    json_decref(out);
    json_decref(all);
    json_decref(r);
    json_decref(rall);
    bdoc_find_free(f);
    bdoc_find_free(fall);
    json_decref(docs);
}

static void test_projection(void **state)
{
    (void)state;
    json_t *d = J("{\"_id\":\"x\",\"a\":1,\"b\":{\"c\":2,\"d\":3},\"l\":[{\"k\":1,\"j\":2},5,"
                  "{\"j\":3}],\"s\":\"t\"}");
    struct {
        const char *fields, *want;
    } cases[] = {
        {"[\"a\"]", "{\"_id\":\"x\",\"a\":1}"},
        {"[]", "{\"_id\":\"x\"}"},
        {"[\"b.c\"]", "{\"_id\":\"x\",\"b\":{\"c\":2}}"},
        {"[\"b.c\",\"b.d\",\"a\"]", "{\"_id\":\"x\",\"b\":{\"c\":2,\"d\":3},\"a\":1}"},
        {"[\"l.j\"]", "{\"_id\":\"x\",\"l\":[{\"j\":2},{\"j\":3}]}"},
        {"[\"l.k\",\"l.j\"]", "{\"_id\":\"x\",\"l\":[{\"k\":1,\"j\":2},{\"j\":3}]}"},
        {"[\"nope\",\"s.x\",\"b.zz\"]", "{\"_id\":\"x\",\"b\":{}}"},
        {"[\"b\",\"b.c\"]", "{\"_id\":\"x\",\"b\":{\"c\":2,\"d\":3}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *f = J(cases[i].fields), *want = J(cases[i].want), *out = NULL;
        assert_int_equal(bdoc_project(f, d, &out), 0);
        if (!json_equal(out, want)) {
            char *s = json_dumps(out, JSON_COMPACT);
            fail_msg("fields %s: got %s", cases[i].fields, s);
        }
        json_decref(out);
        json_decref(f);
        json_decref(want);
    }
    json_t *out = NULL;
    assert_int_equal(bdoc_project(NULL, d, &out), 0);
    assert_ptr_equal(out, d);
    json_decref(out);
    /* projection through find: the source is not modified */
    json_t *docs = json_pack("[O]", d), *req = J("{\"fields\":[\"b.c\"]}"), *page = NULL;
    struct bdoc_find *f = NULL;
    assert_int_equal(bdoc_find_compile(req, &f, NULL, 0), 0);
    assert_int_equal(bdoc_find_array(f, docs, &page, NULL, NULL), 0);
    json_t *want = J("[{\"_id\":\"x\",\"b\":{\"c\":2}}]");
    assert_true(json_equal(page, want));
    assert_int_equal(json_object_size(json_object_get(d, "b")), 2);
    json_decref(want);
    json_decref(page);
    json_decref(req);
    json_decref(docs);
    bdoc_find_free(f);
    json_decref(d);
}

static void test_count(void **state)
{
    (void)state;
    json_t *docs = people(), *f = J("{\"addr.city\":\"Oslo\"}");
    struct bdoc_query *q = NULL;
    assert_int_equal(bdoc_query_compile(f, &q, NULL, 0), 0);
    assert_int_equal(bdoc_query_count(q, docs), 3);
    bdoc_query_free(q);
    json_decref(f);
    json_decref(docs);
}

/* Issue 11 item 7: under a work budget a regex that hits its PCRE2 match or depth limit fails the
 * match (BB_ELIMIT) instead of silently not matching; each limit is the budget's own; documents
 * examined and wall time are counted by bdoc_budget_doc. */
static void test_budget(void **state)
{
    (void)state;
    char err[256];
    struct bdoc_query *q = NULL;
    json_t *f = J("{\"s\":{\"$regex\":\"^(a+)+$\"}}");
    assert_int_equal(bdoc_query_compile(f, &q, err, sizeof err), 0);
    json_t *evil = json_pack("{s:s}", "s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"); /* 30 a's */
    json_t *good = json_pack("{s:s}", "s", "aaaa");
    /* without a budget: bounded, "no match" */
    assert_int_equal(bdoc_query_match(q, evil), 0);
    struct bdoc_budget *b = NULL;
    assert_int_equal(bdoc_budget_new(NULL, &b), 0);
    assert_int_equal(bdoc_query_match_budget(q, good, b), 1);
    assert_int_equal(bdoc_query_match_budget(q, evil, b), BB_ELIMIT);
    assert_non_null(strstr(bdoc_budget_why(b), "match limit"));
    bdoc_budget_free(b);
    /* inside $not the limit is still an error, not a match */
    struct bdoc_query *qn = NULL;
    json_t *fn = J("{\"s\":{\"$not\":{\"$regex\":\"^(a+)+$\"}}}");
    assert_int_equal(bdoc_query_compile(fn, &qn, err, sizeof err), 0);
    assert_int_equal(bdoc_budget_new(NULL, &b), 0);
    assert_int_equal(bdoc_query_match_budget(qn, evil, b), BB_ELIMIT);
    bdoc_budget_free(b);
    /* the match limit is the budget's: a tiny one stops even a linear pattern on a long string,
     * a large one lets 12 a's through */
    struct bdoc_budget_limits lim = {.regex_match_limit = 5};
    struct bdoc_query *ql = NULL;
    json_t *fl = J("{\"s\":{\"$regex\":\"x.*y.*z\"}}");
    assert_int_equal(bdoc_query_compile(fl, &ql, err, sizeof err), 0);
    json_t *longs = json_pack("{s:s}", "s", "x-------------------------------------y----------z");
    assert_int_equal(bdoc_budget_new(&lim, &b), 0);
    assert_int_equal(bdoc_query_match_budget(ql, longs, b), BB_ELIMIT);
    bdoc_budget_free(b);
    assert_int_equal(bdoc_budget_new(NULL, &b), 0);
    assert_int_equal(bdoc_query_match_budget(ql, longs, b), 1);
    bdoc_budget_free(b);
    json_t *twelve = json_pack("{s:s}", "s", "aaaaaaaaaaaa!");
    lim = (struct bdoc_budget_limits){.regex_match_limit = 10000000};
    assert_int_equal(bdoc_budget_new(&lim, &b), 0);
    assert_int_equal(bdoc_query_match_budget(q, twelve, b), 0);
    bdoc_budget_free(b);
    /* the depth limit is the budget's too */
    struct bdoc_query *qd = NULL;
    json_t *fd = J("{\"s\":{\"$regex\":\"^(?:(a)|b)*$\"}}");
    assert_int_equal(bdoc_query_compile(fd, &qd, err, sizeof err), 0);
    json_t *ab = json_pack("{s:s}", "s", "abababababababababababababababababababab");
    lim = (struct bdoc_budget_limits){.regex_depth_limit = 2};
    assert_int_equal(bdoc_budget_new(&lim, &b), 0);
    assert_int_equal(bdoc_query_match_budget(qd, ab, b), BB_ELIMIT);
    bdoc_budget_free(b);
    assert_int_equal(bdoc_budget_new(NULL, &b), 0);
    assert_int_equal(bdoc_query_match_budget(qd, ab, b), 1);
    bdoc_budget_free(b);
    /* documents examined */
    lim = (struct bdoc_budget_limits){.max_docs = 3};
    assert_int_equal(bdoc_budget_new(&lim, &b), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(bdoc_budget_doc(b), 0);
    assert_int_equal(bdoc_budget_doc(b), BB_ELIMIT);
    assert_non_null(strstr(bdoc_budget_why(b), "more than 3 documents"));
    bdoc_budget_free(b);
    /* wall time */
    lim = (struct bdoc_budget_limits){.max_ms = 1};
    assert_int_equal(bdoc_budget_new(&lim, &b), 0);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(bdoc_budget_doc(b), BB_ELIMIT);
    assert_non_null(strstr(bdoc_budget_why(b), "longer than 1 ms"));
    bdoc_budget_free(b);
    assert_int_equal(bdoc_budget_doc(NULL), 0);
    json_decref(f); json_decref(fn); json_decref(fl); json_decref(fd);
    json_decref(evil); json_decref(good); json_decref(longs); json_decref(twelve); json_decref(ab);
    bdoc_query_free(q); bdoc_query_free(qn); bdoc_query_free(ql); bdoc_query_free(qd);
}

/* Keyset pages and top-k windows fed through the encoding equal those of the tree evaluator,
 * for mixed-type sort keys (null/missing < numbers < strings < objects < arrays < booleans). */
static void test_enc_pages(void **state)
{
    (void)state;
    json_t *docs = J("["
                     "{\"_id\":\"m1\",\"v\":3},{\"_id\":\"m2\",\"v\":\"3\"},{\"_id\":\"m3\"},"
                     "{\"_id\":\"m4\",\"v\":null},{\"_id\":\"m5\",\"v\":2.5},{\"_id\":\"m6\",\"v\":true},"
                     "{\"_id\":\"m7\",\"v\":[1,2]},{\"_id\":\"m8\",\"v\":{\"b\":1,\"a\":2}},"
                     "{\"_id\":\"m9\",\"v\":{\"a\":2,\"b\":1}},{\"_id\":\"m10\",\"v\":false},"
                     "{\"_id\":\"m11\",\"v\":9007199254740993},{\"_id\":\"m12\",\"v\":9007199254740992.0},"
                     "{\"_id\":\"m13\",\"v\":\"\\u00e9\"},{\"_id\":\"m14\",\"v\":\"z\"},{\"_id\":\"m15\",\"v\":[1]},"
                     "{\"_id\":\"m16\",\"v\":-0.0},{\"_id\":\"m17\",\"v\":0}]");
    const char *sorts[] = {"[\"v\"]", "[\"-v\"]", "[\"v.a\",\"-v\"]", "[]", "[\"-v.0\"]"};
    for (size_t s = 0; s < sizeof sorts / sizeof sorts[0]; s++) {
        for (int lim = 1; lim <= 5; lim += 2) {
            char *cur = NULL, *ecur = NULL;
            int pages = 0;
            do {
                json_t *pr = json_pack("{s:o,s:i}", "sort", J(sorts[s]), "limit", lim);
                if (cur) json_object_set_new(pr, "cursor", json_string(cur));
                struct bdoc_find *f = NULL;
                char err[256];
                if (bdoc_find_compile(pr, &f, err, sizeof err)) fail_msg("%s", err);
                json_t *page = NULL, *epage = NULL;
                size_t m = 0, em = 0;
                free(cur);
                cur = NULL;
                assert_int_equal(bdoc_find_array(f, docs, &page, &cur, &m), 0);
                assert_int_equal(find_array_enc(f, docs, &epage, &ecur, &em), 0);
                if (!json_equal(page, epage))
                    fail_msg("sort %s limit %d page %d: %s vs encoding", sorts[s], lim, pages,
                             ids_of(page));
                assert_int_equal(m, em);
                assert_true((cur == NULL) == (ecur == NULL));
                if (cur) assert_string_equal(cur, ecur);
                free(ecur);
                ecur = NULL;
                json_decref(page);
                json_decref(epage);
                json_decref(pr);
                bdoc_find_free(f);
                pages++;
            } while (cur && pages < 40);
            free(cur);
            assert_true(pages < 40);
        }
    }
    json_decref(docs);
}

/* A malformed encoding is BB_EIO, never a read out of bounds (every truncation and a few byte
 * flips of a real document); the run reports it too. */
static void test_enc_malformed(void **state)
{
    (void)state;
    json_t *d = J("{\"_id\":\"x\",\"a\":{\"b\":[1,\"s\",{\"c\":2.5}]},\"t\":\"text\"}");
    json_t *fj = J("{\"a.b.c\":{\"$gte\":2},\"t\":{\"$regex\":\"^te\"}}");
    struct bdoc_query *q = NULL;
    assert_int_equal(bdoc_query_compile(fj, &q, NULL, 0), 0);
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(doc_encode(d, 1u << 20, &enc, &len), 0);
    assert_int_equal(bdoc_query_match_enc(q, enc, len, NULL), 1);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, enc, n);
        assert_int_equal(bdoc_query_match_enc(q, cut, n, NULL), BB_EIO);
        free(cut);
    }
    for (size_t i = 2; i < len; i++) {
        uint8_t saved = enc[i];
        enc[i] ^= 0x5a;
        int r = bdoc_query_match_enc(q, enc, len, NULL);
        json_t *back = NULL;
        if (doc_decode(enc, len, &back) == 0) assert_int_equal(r, bdoc_query_match(q, back));
        else assert_true(r == 0 || r == 1 || r == BB_EIO);
        json_decref(back);
        enc[i] = saved;
    }
    json_t *req = J("{\"sort\":[\"a\"],\"limit\":1}");
    struct bdoc_find *f = NULL;
    struct bdoc_find_run *r = NULL;
    assert_int_equal(bdoc_find_compile(req, &f, NULL, 0), 0);
    assert_int_equal(bdoc_find_run_new(f, &r), 0);
    assert_int_equal(bdoc_find_run_feed_enc(r, enc, len - 1), BB_EIO);
    bdoc_find_run_free(r);
    bdoc_find_free(f);
    json_decref(req);
    free(enc);
    bdoc_query_free(q);
    json_decref(fj);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_order),     cmocka_unit_test(test_number_order),
        cmocka_unit_test(test_object_array_order), cmocka_unit_test(test_implicit_eq),
        cmocka_unit_test(test_eq_ne_nested),   cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_in_nin),         cmocka_unit_test(test_exists),
        cmocka_unit_test(test_regex),          cmocka_unit_test(test_logical),
        cmocka_unit_test(test_arrays),         cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_preds),
        cmocka_unit_test(test_find_sort),      cmocka_unit_test(test_find_errors),
        cmocka_unit_test(test_cursor_pages),   cmocka_unit_test(test_topk_window),
        cmocka_unit_test(test_projection),     cmocka_unit_test(test_count),
        cmocka_unit_test(test_budget),         cmocka_unit_test(test_enc_pages),
        cmocka_unit_test(test_enc_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
