/* Unit tests for the bundoc JSON Schema validator: every keyword, the failing path and keyword in
 * the error, compile errors, x-bundoc-ref parsing (reference §2.5 cases), limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "jschema.h"
#include "query.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

static struct bdoc_schema *S(const char *text)
{
    json_t *j = J(text);
    struct bdoc_schema *s = NULL;
    char err[256];
    if (bdoc_schema_compile(j, &s, err, sizeof err)) fail_msg("compile %s: %s", text, err);
    json_decref(j);
    return s;
}

/* Validates doc against schema; want_kw NULL = valid, else the keyword and path expected. */
static void V(const char *schema, const char *doc, const char *want_kw, const char *want_path)
{
    struct bdoc_schema *s = S(schema);
    json_t *d = J(doc);
    struct bdoc_schema_error e;
    int rc = bdoc_schema_validate(s, d, &e);
    if (!want_kw) {
        if (rc) fail_msg("%s vs %s: unexpected error %s", schema, doc, e.message);
    } else {
        if (rc != BB_EINVAL) fail_msg("%s vs %s: accepted, want %s", schema, doc, want_kw);
        if (strcmp(e.keyword, want_kw) || strcmp(e.path, want_path))
            fail_msg("%s vs %s: got %s at '%s' (%s), want %s at '%s'", schema, doc, e.keyword,
                     e.path, e.message, want_kw, want_path);
        assert_non_null(strstr(e.message, want_kw));
    }
    json_decref(d);
    bdoc_schema_free(s);
}

static int compile_rc(const char *schema, char *err, size_t cap)
{
    json_t *j = J(schema);
    struct bdoc_schema *s = NULL;
    int rc = bdoc_schema_compile(j, &s, err, cap);
    bdoc_schema_free(s);
    json_decref(j);
    return rc;
}

static void test_type(void **state)
{
    (void)state;
    V("{\"type\":\"object\"}", "{}", NULL, NULL);
    V("{\"type\":\"object\"}", "[]", "type", "");
    V("{\"type\":\"string\"}", "\"x\"", NULL, NULL);
    V("{\"type\":\"string\"}", "1", "type", "");
    V("{\"type\":\"number\"}", "1.5", NULL, NULL);
    V("{\"type\":\"number\"}", "1", NULL, NULL);
    V("{\"type\":\"integer\"}", "1", NULL, NULL);
    V("{\"type\":\"integer\"}", "1.0", NULL, NULL);
    V("{\"type\":\"integer\"}", "1.5", "type", "");
    V("{\"type\":\"boolean\"}", "false", NULL, NULL);
    V("{\"type\":\"boolean\"}", "0", "type", "");
    V("{\"type\":\"null\"}", "null", NULL, NULL);
    V("{\"type\":\"array\"}", "{}", "type", "");
    V("{\"type\":[\"string\",\"null\"]}", "null", NULL, NULL);
    V("{\"type\":[\"string\",\"null\"]}", "2", "type", "");
    struct bdoc_schema *s = S("{\"properties\":{\"a\":{\"type\":[\"string\",\"integer\"]}}}");
    json_t *d = J("{\"a\":true}");
    struct bdoc_schema_error e;
    assert_int_equal(bdoc_schema_validate(s, d, &e), BB_EINVAL);
    assert_string_equal(e.message, "/a: type: expected string or integer, got boolean");
    json_decref(d);
    bdoc_schema_free(s);
}

static void test_properties_nested(void **state)
{
    (void)state;
    const char *sch = "{\"type\":\"object\",\"properties\":{"
                      "\"name\":{\"type\":\"string\",\"minLength\":1},"
                      "\"address\":{\"type\":\"object\",\"required\":[\"city\"],\"properties\":{"
                      "\"city\":{\"type\":\"string\"},\"zip\":{\"type\":\"string\",\"pattern\":"
                      "\"^[0-9]{4}$\"},\"geo\":{\"properties\":{\"lat\":{\"minimum\":-90}}}}}},"
                      "\"required\":[\"name\"]}";
    V(sch, "{\"name\":\"a\",\"address\":{\"city\":\"Oslo\",\"zip\":\"0150\"}}", NULL, NULL);
    V(sch, "{\"address\":{\"city\":\"Oslo\"}}", "required", "");
    V(sch, "{\"name\":\"\"}", "minLength", "/name");
    V(sch, "{\"name\":\"a\",\"address\":{}}", "required", "/address");
    V(sch, "{\"name\":\"a\",\"address\":{\"city\":5}}", "type", "/address/city");
    V(sch, "{\"name\":\"a\",\"address\":{\"city\":\"x\",\"zip\":\"150\"}}", "pattern",
      "/address/zip");
    V(sch, "{\"name\":\"a\",\"address\":{\"city\":\"x\",\"geo\":{\"lat\":-91}}}", "minimum",
      "/address/geo/lat");
    V(sch, "{\"name\":\"a\",\"extra\":[1,2]}", NULL, NULL);
    /* escaping of JSON Pointer tokens */
    V("{\"properties\":{\"a/b\":{\"properties\":{\"c~d\":{\"type\":\"string\"}}}}}",
      "{\"a/b\":{\"c~d\":1}}", "type", "/a~1b/c~0d");
}

static void test_required_message(void **state)
{
    (void)state;
    struct bdoc_schema *s = S("{\"required\":[\"a\",\"b\"]}");
    json_t *d = J("{\"a\":1}");
    struct bdoc_schema_error e;
    assert_int_equal(bdoc_schema_validate(s, d, &e), BB_EINVAL);
    assert_string_equal(e.keyword, "required");
    assert_string_equal(e.message, "(root): required: missing required property 'b'");
    json_decref(d);
    bdoc_schema_free(s);
    V("{\"required\":[\"a\"]}", "[1]", NULL, NULL); /* applies to objects only */
}

static void test_enum_const(void **state)
{
    (void)state;
    const char *sch = "{\"properties\":{\"r\":{\"enum\":[\"admin\",\"user\",1,null,{\"x\":[1]}]},"
                      "\"v\":{\"const\":2}}}";
    V(sch, "{\"r\":\"admin\"}", NULL, NULL);
    V(sch, "{\"r\":1.0}", NULL, NULL);
    V(sch, "{\"r\":null}", NULL, NULL);
    V(sch, "{\"r\":{\"x\":[1]}}", NULL, NULL);
    V(sch, "{\"r\":\"root\"}", "enum", "/r");
    V(sch, "{\"r\":\"1\"}", "enum", "/r");
    V(sch, "{\"v\":2}", NULL, NULL);
    V(sch, "{\"v\":2.0}", NULL, NULL);
    V(sch, "{\"v\":\"2\"}", "const", "/v");
}

static void test_numbers(void **state)
{
    (void)state;
    const char *sch = "{\"properties\":{\"n\":{\"minimum\":18,\"maximum\":65.5},"
                      "\"e\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":10},"
                      "\"m\":{\"multipleOf\":0.5},\"k\":{\"multipleOf\":3}}}";
    V(sch, "{\"n\":18}", NULL, NULL);
    V(sch, "{\"n\":65.5}", NULL, NULL);
    V(sch, "{\"n\":17.9}", "minimum", "/n");
    V(sch, "{\"n\":66}", "maximum", "/n");
    V(sch, "{\"n\":\"5\"}", NULL, NULL); /* number keywords ignore other types */
    V(sch, "{\"e\":0}", "exclusiveMinimum", "/e");
    V(sch, "{\"e\":0.001}", NULL, NULL);
    V(sch, "{\"e\":10}", "exclusiveMaximum", "/e");
    V(sch, "{\"m\":2.5}", NULL, NULL);
    V(sch, "{\"m\":2.3}", "multipleOf", "/m");
    V(sch, "{\"k\":9}", NULL, NULL);
    V(sch, "{\"k\":10}", "multipleOf", "/k");
    V("{\"maximum\":9007199254740992}", "9007199254740993", "maximum", "");
    struct bdoc_schema *s = S("{\"minimum\":18}");
    json_t *d = J("15");
    struct bdoc_schema_error e;
    assert_int_equal(bdoc_schema_validate(s, d, &e), BB_EINVAL);
    assert_string_equal(e.message, "(root): minimum: 15 is less than the minimum 18");
    json_decref(d);
    bdoc_schema_free(s);
}

static void test_strings(void **state)
{
    (void)state;
    const char *sch = "{\"properties\":{\"s\":{\"minLength\":2,\"maxLength\":3},"
                      "\"p\":{\"pattern\":\"[a-z]+@[a-z]+\\\\.com\"}}}";
    V(sch, "{\"s\":\"ab\"}", NULL, NULL);
    V(sch, "{\"s\":\"a\"}", "minLength", "/s");
    V(sch, "{\"s\":\"abcd\"}", "maxLength", "/s");
    /* code points, not bytes: "é€😀" is 3 code points, 9 bytes */
    V(sch, "{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}", NULL, NULL);
    V(sch, "{\"s\":\"\\u00e9\"}", "minLength", "/s");
    V(sch, "{\"p\":\"mail: bob@example.com!\"}", NULL, NULL); /* unanchored */
    V(sch, "{\"p\":\"bob@example.org\"}", "pattern", "/p");
    V("{\"pattern\":\"^\\\\p{Lu}\"}", "\"\\u00c9cole\"", NULL, NULL);
    V("{\"pattern\":\"^(a+)+$\"}", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"", "pattern", "");
}

static void test_items(void **state)
{
    (void)state;
    const char *sch = "{\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
                      "\"string\",\"maxLength\":3},\"minItems\":1,\"maxItems\":3,"
                      "\"uniqueItems\":true},\"pt\":{\"items\":[{\"type\":\"number\"},{\"type\":"
                      "\"string\"}]},\"objs\":{\"items\":{\"properties\":{\"q\":{\"type\":"
                      "\"integer\"}},\"additionalProperties\":false}}}}";
    V(sch, "{\"tags\":[\"a\",\"b\"]}", NULL, NULL);
    V(sch, "{\"tags\":[]}", "minItems", "/tags");
    V(sch, "{\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "maxItems", "/tags");
    V(sch, "{\"tags\":[\"a\",\"b\",\"a\"]}", "uniqueItems", "/tags");
    V(sch, "{\"tags\":[\"a\",5]}", "type", "/tags/1");
    V(sch, "{\"tags\":[\"a\",\"long\"]}", "maxLength", "/tags/1");
    V(sch, "{\"pt\":[1,\"x\",true]}", NULL, NULL);
    V(sch, "{\"pt\":[1,2]}", "type", "/pt/1");
    V(sch, "{\"objs\":[{\"q\":1},{\"q\":2.5}]}", "type", "/objs/1/q");
    V(sch, "{\"objs\":[{\"q\":1},{\"z\":1}]}", "additionalProperties", "/objs/1/z");
}

static void test_additional_properties(void **state)
{
    (void)state;
    const char *strict = "{\"properties\":{\"_id\":{},\"a\":{}},\"additionalProperties\":false}";
    V(strict, "{\"_id\":\"x\",\"a\":1}", NULL, NULL);
    V(strict, "{\"a\":1,\"b\":2}", "additionalProperties", "/b");
    const char *typed = "{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":"
                        "\"number\"}}";
    V(typed, "{\"a\":\"s\",\"b\":2,\"c\":3.5}", NULL, NULL);
    V(typed, "{\"a\":\"s\",\"b\":\"2\"}", "type", "/b");
    V("{\"additionalProperties\":true}", "{\"z\":1}", NULL, NULL);
    V("{\"minProperties\":1,\"maxProperties\":2}", "{}", "minProperties", "");
    V("{\"minProperties\":1,\"maxProperties\":2}", "{\"a\":1,\"b\":2,\"c\":3}", "maxProperties",
      "");
}

static void test_combinators_and_booleans(void **state)
{
    (void)state;
    V("true", "{\"a\":1}", NULL, NULL);
    V("false", "1", "false", "");
    V("{\"properties\":{\"x\":false}}", "{\"x\":1}", "false", "/x");
    V("{\"properties\":{\"x\":false}}", "{\"y\":1}", NULL, NULL);
    V("{\"allOf\":[{\"type\":\"number\"},{\"minimum\":3}]}", "2", "minimum", "");
    V("{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "4", NULL, NULL);
    V("{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "2", "anyOf", "");
    V("{\"oneOf\":[{\"type\":\"number\"},{\"minimum\":3}]}", "2", NULL, NULL);
    V("{\"oneOf\":[{\"type\":\"number\"},{\"minimum\":3}]}", "4", "oneOf", "");
    V("{\"not\":{\"type\":\"null\"}}", "null", "not", "");
    V("{\"not\":{\"type\":\"null\"}}", "0", NULL, NULL);
}

static void test_compile_errors(void **state)
{
    (void)state;
    char err[256];
    struct {
        const char *schema;
        const char *needle;
    } bad[] = {
        {"5", "object or a boolean"},
        {"{\"type\":\"str\"}", "type"},
        {"{\"type\":[\"string\",\"string\"]}", "type"},
        {"{\"type\":[]}", "type"},
        {"{\"minLength\":-1}", "minLength"},
        {"{\"maxLength\":\"3\"}", "maxLength"},
        {"{\"minimum\":\"3\"}", "minimum"},
        {"{\"exclusiveMinimum\":true}", "exclusiveMinimum"},
        {"{\"multipleOf\":0}", "multipleOf"},
        {"{\"pattern\":\"(\"}", "pattern"},
        {"{\"pattern\":5}", "pattern"},
        {"{\"required\":[\"a\",\"a\"]}", "required"},
        {"{\"required\":\"a\"}", "required"},
        {"{\"enum\":[]}", "enum"},
        {"{\"properties\":[]}", "properties"},
        {"{\"properties\":{\"a\":{\"properties\":{\"b\":{\"type\":7}}}}}",
         "/properties/a/properties/b"},
        {"{\"items\":[{\"type\":\"x\"}]}", "/items/0"},
        {"{\"$ref\":\"#/definitions/a\"}", "$ref"},
        {"{\"patternProperties\":{}}", "patternProperties"},
        {"{\"if\":{},\"then\":{}}", "if"},
        {"{\"allOf\":[]}", "allOf"},
        {"{\"additionalProperties\":3}", "additionalProperties"},
        {"{\"uniqueItems\":1}", "uniqueItems"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = compile_rc(bad[i].schema, err, sizeof err);
        if (rc != BB_EINVAL || !strstr(err, bad[i].needle))
            fail_msg("%s: rc %d err '%s'", bad[i].schema, rc, err);
    }
    /* annotations and unknown keywords are fine */
    assert_int_equal(compile_rc("{\"title\":\"t\",\"description\":\"d\",\"$schema\":\"x\","
                                "\"format\":\"email\",\"x-custom\":1,\"default\":3}",
                                err, sizeof err),
                     0);
    /* depth limit */
    char buf[4096];
    size_t n = 0;
    for (int i = 0; i < BDOC_SCHEMA_MAX_DEPTH + 2; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"items\":");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "true");
    for (int i = 0; i < BDOC_SCHEMA_MAX_DEPTH + 2; i++) buf[n++] = '}';
    buf[n] = 0;
    assert_int_equal(compile_rc(buf, err, sizeof err), BB_ETOOBIG);
}

static void test_refs(void **state)
{
    (void)state;
    struct bdoc_schema *s = S(
        "{\"properties\":{\"author_id\":{\"type\":\"string\",\"x-bundoc-ref\":{\"collection\":"
        "\"users\",\"field\":\"_id\",\"on_delete\":\"cascade\"}},\"editor\":{\"x-bundoc-ref\":"
        "{\"collection\":\"users\"}},\"meta\":{\"properties\":{\"org\":{\"x-bundoc-ref\":{"
        "\"collection\":\"orgs\",\"on_delete\":\"restrict\"}}}}}}");
    const struct bdoc_schema_ref *r = NULL;
    size_t n = 0;
    bdoc_schema_refs(s, &r, &n);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].path, "author_id");
    assert_string_equal(r[0].collection, "users");
    assert_string_equal(r[0].field, "_id");
    assert_int_equal(r[0].on_delete, BDOC_ON_DELETE_CASCADE);
    assert_string_equal(r[1].path, "editor");
    assert_int_equal(r[1].on_delete, BDOC_ON_DELETE_SET_NULL); /* default */
    assert_string_equal(r[2].path, "meta.org");
    assert_int_equal(r[2].on_delete, BDOC_ON_DELETE_RESTRICT);
    assert_string_equal(bdoc_on_delete_name(r[2].on_delete), "restrict");
    /* the keyword does not affect validation */
    json_t *d = J("{\"author_id\":\"u1\"}");
    assert_int_equal(bdoc_schema_validate(s, d, NULL), 0);
    json_decref(d);
    json_t *src = J("{\"type\":\"object\"}");
    bdoc_schema_free(s);
    s = S("{\"type\":\"object\"}");
    assert_true(json_equal(bdoc_schema_json(s), src));
    bdoc_schema_refs(s, &r, &n);
    assert_int_equal(n, 0);
    bdoc_schema_free(s);
    json_decref(src);

    char err[256];
    const char *bad[] = {
        "{\"properties\":{\"a\":{\"x-bundoc-ref\":\"users\"}}}",
        "{\"properties\":{\"a\":{\"x-bundoc-ref\":{}}}}",
        "{\"properties\":{\"a\":{\"x-bundoc-ref\":{\"collection\":\"\"}}}}",
        "{\"properties\":{\"a\":{\"x-bundoc-ref\":{\"collection\":\"u\",\"field\":\"email\"}}}}",
        "{\"properties\":{\"a\":{\"x-bundoc-ref\":{\"collection\":\"u\",\"on_delete\":\"nuke\"}}}}",
        "{\"items\":{\"properties\":{\"a\":{\"x-bundoc-ref\":{\"collection\":\"u\"}}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = compile_rc(bad[i], err, sizeof err);
        if (rc != BB_EINVAL || !strstr(err, "x-bundoc-ref")) fail_msg("%s: %d %s", bad[i], rc, err);
    }
}

static void test_reference_quirk_fixed(void **state)
{
    (void)state;
    /* reference §2.4: additionalProperties:false without _id rejected every update. Ours
     * validates exactly what it is given; the engine decides whether _id is part of it. */
    const char *sch = "{\"type\":\"object\",\"properties\":{\"_id\":{\"type\":\"string\"},"
                      "\"title\":{\"type\":\"string\"}},\"additionalProperties\":false}";
    V(sch, "{\"_id\":\"x\",\"title\":\"t\"}", NULL, NULL);
    V(sch, "{\"_id\":7,\"title\":\"t\"}", "type", "/_id");
}

/* A random small JSON value from a tiny domain, so that equal values (also 1 vs 1.0 and objects
 * with their keys in another order) are frequent. */
static json_t *rnd_value(unsigned *seed, int depth)
{
    int kind = rand_r(seed) % (depth > 2 ? 5 : 7);
    switch (kind) {
    case 0: return json_integer(rand_r(seed) % 4);
    case 1: return json_real((double)(rand_r(seed) % 4) + ((rand_r(seed) % 3) ? 0.0 : 0.5));
    case 2: {
        char s[2] = {(char)('a' + rand_r(seed) % 3), 0};
        return json_string(s);
    }
    case 3: return rand_r(seed) % 2 ? json_true() : json_null();
    case 4: return json_real(rand_r(seed) % 2 ? -0.0 : 0.0);
    case 5: {
        json_t *a = json_array();
        int n = rand_r(seed) % 3;
        for (int i = 0; i < n; i++) json_array_append_new(a, rnd_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        static const char *const keys[] = {"x", "y", "z"};
        int n = rand_r(seed) % 3, first = rand_r(seed) % 3;
        for (int i = 0; i < n; i++) /* insertion order varies with first */
            json_object_set_new(o, keys[(first + i) % 3], rnd_value(seed, depth + 1));
        return o;
    }
    }
}

/* Item 6 of issue 11: uniqueItems was quadratic. The hash-based check must give exactly the answer
 * (and the pair) of the pairwise definition on random arrays full of near-duplicates. */
static void test_unique_items_hash_matches_pairwise(void **state)
{
    (void)state;
    struct bdoc_schema *s = S("{\"type\":\"array\",\"uniqueItems\":true}");
    unsigned seed = 12345;
    int dup_seen = 0, uniq_seen = 0;
    for (int round = 0; round < 400; round++) {
        json_t *arr = json_array();
        int n = 17 + rand_r(&seed) % 60; /* over the pairwise cut-off of 16 */
        for (int i = 0; i < n; i++) json_array_append_new(arr, rnd_value(&seed, 0));
        if (round % 2) { /* make every other array distinct: keep the first of each value */
            json_t *u = json_array();
            size_t i, k;
            json_t *e;
            json_array_foreach(arr, i, e) {
                int dup = 0;
                for (k = 0; k < json_array_size(u) && !dup; k++)
                    dup = json_equal(e, json_array_get(u, k)) ||
                          (json_is_number(e) && json_is_number(json_array_get(u, k)) &&
                           json_number_value(e) == json_number_value(json_array_get(u, k)));
                if (!dup) json_array_append(u, e);
            }
            json_decref(arr);
            arr = u;
        }
        /* the pairwise answer */
        size_t wk = 0, wi = 0, sz = json_array_size(arr);
        int want_dup = 0;
        for (size_t i = 1; i < sz && !want_dup; i++)
            for (size_t k = 0; k < i; k++)
                if (bdoc_value_equal(json_array_get(arr, i), json_array_get(arr, k))) {
                    wk = k;
                    wi = i;
                    want_dup = 1;
                    break;
                }
        struct bdoc_schema_error e;
        int rc = bdoc_schema_validate(s, arr, &e);
        if (want_dup) {
            dup_seen++;
            char msg[96];
            snprintf(msg, sizeof msg, "items %zu and %zu are equal", wk, wi);
            if (rc != BB_EINVAL || strcmp(e.keyword, "uniqueItems") || !strstr(e.message, msg))
                fail_msg("round %d: want '%s', got rc %d %s", round, msg, rc,
                         rc ? e.message : "");
        } else {
            uniq_seen++;
            if (rc) fail_msg("round %d: unexpected %s", round, e.message);
        }
        json_decref(arr);
    }
    assert_true(dup_seen > 50);
    assert_true(uniq_seen > 20);
    /* equal under the schema's semantics, different to json_equal */
    V("{\"uniqueItems\":true}", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,1.0]", "uniqueItems",
      "");
    V("{\"uniqueItems\":true}",
      "[{\"a\":1,\"b\":[1,{\"c\":2,\"d\":3}]},0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,"
      "{\"b\":[1.0,{\"d\":3,\"c\":2}],\"a\":1}]",
      "uniqueItems", "");
    V("{\"uniqueItems\":true}", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,-0.0]", "uniqueItems",
      "");
    V("{\"uniqueItems\":true}",
      "[0.5,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,\"1\",[1],{\"1\":1},true,null,9223372036854775807,"
      "9223372036854775808.0]",
      NULL, NULL);
    bdoc_schema_free(s);
}

/* 100k distinct items (and then one duplicate at the very end): completes, correct answers. */
static void test_unique_items_large(void **state)
{
    (void)state;
    struct bdoc_schema *s = S("{\"uniqueItems\":true}");
    json_t *arr = json_array();
    for (int i = 0; i < 100000; i++) {
        if (i % 3 == 0) json_array_append_new(arr, json_integer(i));
        else if (i % 3 == 1) json_array_append_new(arr, json_pack("{s:i,s:s}", "k", i, "t", "x"));
        else json_array_append_new(arr, json_real(i + 0.25));
    }
    struct bdoc_schema_error e;
    assert_int_equal(bdoc_schema_validate(s, arr, &e), 0);
    json_array_append_new(arr, json_pack("{s:s,s:f}", "t", "x", "k", 50002.0)); /* == item 50002 */
    assert_int_equal(bdoc_schema_validate(s, arr, &e), BB_EINVAL);
    assert_non_null(strstr(e.message, "items 50002 and 100000 are equal"));
    json_decref(arr);
    bdoc_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_properties_nested),
        cmocka_unit_test(test_required_message),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_additional_properties),
        cmocka_unit_test(test_combinators_and_booleans),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_reference_quirk_fixed),
        cmocka_unit_test(test_unique_items_hash_matches_pairwise),
        cmocka_unit_test(test_unique_items_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
