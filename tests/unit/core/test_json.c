/* Unit tests for bb_json: bounded parsing, dumping, error bodies, getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "bb_json.h"

static int parse_str(const char *s, size_t depth, json_t **out, char *err, size_t cap)
{
    return bb_json_parse(s, strlen(s), depth, out, err, cap);
}

/* "[[[...]]]" with n levels, malloc'ed. */
static char *nested(size_t n, char open, char close)
{
    char *s = malloc(2 * n + 1);
    assert_non_null(s);
    memset(s, open, n);
    memset(s + n, close, n);
    s[2 * n] = '\0';
    return s;
}

static void test_depth_at_limit_ok(void **state)
{
    (void)state;
    char err[128];
    json_t *j = NULL;
    char *s = nested(64, '[', ']');
    assert_int_equal(parse_str(s, 64, &j, err, sizeof err), 0);
    assert_non_null(j);
    assert_string_equal(err, "");
    json_decref(j);
    free(s);
}

static void test_depth_exceeded(void **state)
{
    (void)state;
    char err[128];
    json_t *j = (json_t *)0x1;
    char *s = nested(65, '[', ']');
    assert_int_equal(parse_str(s, 64, &j, err, sizeof err), BB_ETOOBIG);
    assert_null(j);
    assert_non_null(strstr(err, "64"));
    assert_non_null(strstr(err, "offset 64"));
    free(s);

    /* Objects count too. */
    assert_int_equal(parse_str("{\"a\":{\"b\":{}}}", 2, &j, err, sizeof err), BB_ETOOBIG);
    assert_int_equal(parse_str("{\"a\":{\"b\":{}}}", 3, &j, err, sizeof err), 0);
    json_decref(j);

    /* Scalars have depth 0. */
    assert_int_equal(parse_str("1", 0, &j, err, sizeof err), 0);
    json_decref(j);
    assert_int_equal(parse_str("[]", 0, &j, err, sizeof err), BB_ETOOBIG);
}

static void test_depth_hostile(void **state)
{
    (void)state;
    char err[128];
    json_t *j = NULL;
    /* 4 MiB of '[' with no closers: must be rejected quickly, without recursion. */
    size_t n = 4u << 20;
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, '[', n);
    assert_int_equal(bb_json_parse(s, n, 64, &j, err, sizeof err), BB_ETOOBIG);
    assert_null(j);
    /* A huge max_depth is clamped to jansson's own ceiling, still BB_ETOOBIG. */
    assert_int_equal(bb_json_parse(s, n, SIZE_MAX, &j, err, sizeof err), BB_ETOOBIG);
    assert_non_null(strstr(err, "2048"));
    free(s);

    /* Depth 2048 exactly with an unlimited request parses (jansson's limit is inclusive). */
    s = nested(BB_JSON_DEPTH_CEILING, '[', ']');
    assert_int_equal(parse_str(s, SIZE_MAX, &j, err, sizeof err), 0);
    json_decref(j);
    free(s);
}

static void test_brackets_in_strings_not_counted(void **state)
{
    (void)state;
    char err[128];
    json_t *j = NULL;
    const char *s = "[\"[[[[[[[[[[\\\"[[[[{{{{\", \"\\\\\", {\"k\": \"]]]]\"}]";
    assert_int_equal(parse_str(s, 2, &j, err, sizeof err), 0);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(json_string_value(json_array_get(j, 0)), "[[[[[[[[[[\"[[[[{{{{");
    assert_string_equal(json_string_value(json_array_get(j, 1)), "\\");
    json_decref(j);
}

static void test_malformed(void **state)
{
    (void)state;
    char err[128];
    json_t *j = (json_t *)0x1;
    assert_int_equal(parse_str("{\"a\": }", 64, &j, err, sizeof err), BB_EINVAL);
    assert_null(j);
    assert_non_null(strstr(err, "line 1, column 7"));

    assert_int_equal(parse_str("{\n  \"a\": 1,\n  \"b\" 2\n}", 64, &j, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "line 3"));

    const char *bad[] = {"{", "[1,]", "{'a':1}", "nul", "\"unterminated", "01", "[1 2]",
                         "{\"a\":1,\"a\":2}", /* duplicate key */
                         "\"\\u0000\"",       /* NUL escape */
                         "\"\\ud800\"",       /* lone surrogate */
                         "\"\xff\xfe\"",      /* invalid UTF-8 */
                         "99999999999999999999", "1e999", "NaN", "   "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(parse_str(bad[i], 64, &j, err, sizeof err), BB_EINVAL);
        assert_null(j);
        assert_non_null(strstr(err, "line "));
    }

    /* Empty input and raw NUL bytes. */
    assert_int_equal(bb_json_parse("", 0, 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(bb_json_parse(NULL, 0, 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(bb_json_parse(NULL, 3, 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(bb_json_parse("[1]\0", 4, 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(bb_json_parse("[\"a\0b\"]", 7, 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(bb_json_parse("[1]", 3, 64, NULL, err, sizeof err), BB_EINVAL);

    /* errbuf may be NULL or tiny; always terminated. */
    assert_int_equal(parse_str("{", 64, &j, NULL, 0), BB_EINVAL);
    char tiny[5];
    memset(tiny, 'x', sizeof tiny);
    assert_int_equal(parse_str("{", 64, &j, tiny, sizeof tiny), BB_EINVAL);
    assert_int_equal(strlen(tiny), 4);
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    char err[128];
    json_t *j = NULL;
    assert_int_equal(parse_str("{} x", 64, &j, err, sizeof err), BB_EINVAL);
    assert_null(j);
    assert_int_equal(parse_str("1 2", 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(parse_str("[]]", 64, &j, err, sizeof err), BB_EINVAL);
    assert_int_equal(parse_str("{}{}", 64, &j, err, sizeof err), BB_EINVAL);
    /* Trailing whitespace is fine; the buffer need not be NUL-terminated. */
    assert_int_equal(parse_str(" {\"a\":1} \r\n\t", 64, &j, err, sizeof err), 0);
    json_decref(j);
    assert_int_equal(bb_json_parse("[1]garbage", 3, 64, &j, err, sizeof err), 0);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
}

static void test_top_level_scalars(void **state)
{
    (void)state;
    json_t *j = NULL;
    assert_int_equal(parse_str("42", 8, &j, NULL, 0), 0);
    assert_true(json_is_integer(j) && json_integer_value(j) == 42);
    json_decref(j);
    assert_int_equal(parse_str("\"x\"", 8, &j, NULL, 0), 0);
    assert_string_equal(json_string_value(j), "x");
    json_decref(j);
    assert_int_equal(parse_str("null", 8, &j, NULL, 0), 0);
    assert_true(json_is_null(j));
    json_decref(j);
}

static void test_error_body_shape(void **state)
{
    (void)state;
    json_t *e = bb_json_error("no such collection", "not_found");
    assert_non_null(e);
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 2);
    assert_string_equal(bb_json_str(e, "error", NULL), "no such collection");
    assert_string_equal(bb_json_str(e, "code", NULL), "not_found");
    char *s = bb_json_dumps(e, NULL);
    assert_string_equal(s, "{\"error\":\"no such collection\",\"code\":\"not_found\"}");
    free(s);
    json_decref(e);

    e = bb_json_error_from(BB_ENOTFOUND, NULL);
    assert_string_equal(bb_json_str(e, "error", NULL), bb_strerror(BB_ENOTFOUND));
    assert_string_equal(bb_json_str(e, "code", NULL), "not_found");
    json_decref(e);

    e = bb_json_error_from(BB_ETOOBIG, "body over 1 MiB");
    assert_string_equal(bb_json_str(e, "error", NULL), "body over 1 MiB");
    assert_string_equal(bb_json_str(e, "code", NULL), bb_err_code(BB_ETOOBIG));
    json_decref(e);

    /* Invalid UTF-8 and NULLs still give a well-formed body. */
    e = bb_json_error("bad \xff byte", NULL);
    assert_non_null(e);
    assert_string_equal(bb_json_str(e, "error", NULL), "bad ? byte");
    assert_string_equal(bb_json_str(e, "code", NULL), "unknown");
    json_decref(e);
    e = bb_json_error(NULL, "x");
    assert_string_equal(bb_json_str(e, "error", NULL), "unknown error");
    json_decref(e);
}

static void test_getters(void **state)
{
    (void)state;
    json_t *j = NULL;
    assert_int_equal(parse_str("{\"s\":\"v\",\"i\":-9007199254740993,\"r\":1.5,\"t\":true,"
                               "\"f\":false,\"n\":null}",
                               8, &j, NULL, 0),
                     0);
    assert_string_equal(bb_json_str(j, "s", "d"), "v");
    assert_string_equal(bb_json_str(j, "i", "d"), "d");
    assert_string_equal(bb_json_str(j, "missing", "d"), "d");
    assert_null(bb_json_str(j, "missing", NULL));
    assert_true(bb_json_int(j, "i", 0) == INT64_C(-9007199254740993));
    assert_int_equal(bb_json_int(j, "r", 7), 7);
    assert_int_equal(bb_json_int(j, "s", 7), 7);
    assert_int_equal(bb_json_bool(j, "t", -1), 1);
    assert_int_equal(bb_json_bool(j, "f", -1), 0);
    assert_int_equal(bb_json_bool(j, "n", -1), -1);
    assert_int_equal(bb_json_bool(j, "missing", 1), 1);
    /* Non-objects and NULLs give the default. */
    assert_string_equal(bb_json_str(NULL, "s", "d"), "d");
    assert_int_equal(bb_json_int(json_object_get(j, "s"), "x", 3), 3);
    assert_int_equal(bb_json_bool(j, NULL, 2), 2);
    json_decref(j);
}

static void test_path(void **state)
{
    (void)state;
    json_t *j = NULL, *v = NULL;
    assert_int_equal(parse_str("{\"a\":{\"b\":{\"c\":42}},\"items\":[{\"id\":\"x\"},{\"id\":\"y\"}],"
                               "\"0\":{\"k\":1},\"e\":{\"\":2}}",
                               8, &j, NULL, 0),
                     0);
    assert_int_equal(bb_json_get_path(j, "a.b.c", &v), 0);
    assert_int_equal(json_integer_value(v), 42);
    assert_int_equal(bb_json_get_path(j, "a", &v), 0);
    assert_true(json_is_object(v));
    assert_int_equal(bb_json_get_path(j, "items.1.id", &v), 0);
    assert_string_equal(json_string_value(v), "y");
    assert_int_equal(bb_json_get_path(j, "0.k", &v), 0); /* digits as object key */
    assert_int_equal(json_integer_value(v), 1);

    v = (json_t *)0x1;
    assert_int_equal(bb_json_get_path(j, "a.b.x", &v), BB_ENOTFOUND);
    assert_null(v);
    assert_int_equal(bb_json_get_path(j, "a.b.c.d", &v), BB_ENOTFOUND);
    assert_int_equal(bb_json_get_path(j, "items.2.id", &v), BB_ENOTFOUND);
    assert_int_equal(bb_json_get_path(j, "items.x", &v), BB_ENOTFOUND);
    assert_int_equal(bb_json_get_path(j, "items.-1", &v), BB_ENOTFOUND);
    assert_int_equal(bb_json_get_path(j, "items.99999999999999999999999", &v), BB_ENOTFOUND);
    assert_int_equal(bb_json_get_path(j, "nope", &v), BB_ENOTFOUND);

    assert_int_equal(bb_json_get_path(j, "", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(j, "a..b", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(j, ".a", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(j, "a.", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(j, "e.", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(j, NULL, &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(NULL, "a", &v), BB_EINVAL);
    assert_int_equal(bb_json_get_path(j, "a", NULL), BB_EINVAL);
    json_decref(j);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *in = "{ \"b\" : [1, 2.5, -3e2, true, false, null, \"s\\n\\t\\\"\"],\n"
                     "  \"a\": {\"x\": {}, \"y\": []}, \"u\": \"\\u00e9\\ud83d\\ude00\" }";
    json_t *j = NULL, *j2 = NULL;
    assert_int_equal(parse_str(in, 8, &j, NULL, 0), 0);
    size_t len = 0;
    char *s = bb_json_dumps(j, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    assert_string_equal(s, "{\"b\":[1,2.5,-300.0,true,false,null,\"s\\n\\t\\\"\"],"
                           "\"a\":{\"x\":{},\"y\":[]},\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\"}");
    assert_int_equal(bb_json_parse(s, len, 8, &j2, NULL, 0), 0);
    assert_true(json_equal(j, j2));
    free(s);
    json_decref(j);
    json_decref(j2);

    /* Scalars dump too (JSON_ENCODE_ANY); NULL gives NULL. */
    json_t *n = json_integer(7);
    s = bb_json_dumps(n, &len);
    assert_string_equal(s, "7");
    assert_int_equal(len, 1);
    free(s);
    json_decref(n);
    len = 99;
    assert_null(bb_json_dumps(NULL, &len));
    assert_int_equal(len, 0);

    /* A string built with an embedded NUL is escaped, so strlen matches len. */
    json_t *z = json_stringn("a\0b", 3);
    s = bb_json_dumps(z, &len);
    assert_string_equal(s, "\"a\\u0000b\"");
    assert_int_equal(len, strlen(s));
    free(s);
    json_decref(z);
}

static void test_huge_and_unicode_strings(void **state)
{
    (void)state;
    /* 2 MiB string made of 4 kinds of characters: ASCII, escaped BMP, escaped astral, raw UTF-8. */
    const char *unit_in = "a\\u00e9\\ud83d\\ude00\xe2\x82\xac";   /* a é 😀 € */
    const char *unit_out = "a\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac"; /* same, as UTF-8 */
    size_t reps = 100000;
    size_t ulen = strlen(unit_in), olen = strlen(unit_out);
    char *buf = malloc(reps * ulen + 3);
    assert_non_null(buf);
    size_t p = 0;
    buf[p++] = '"';
    for (size_t i = 0; i < reps; i++, p += ulen)
        memcpy(buf + p, unit_in, ulen);
    buf[p++] = '"';

    json_t *j = NULL, *j2 = NULL;
    char err[128];
    assert_int_equal(bb_json_parse(buf, p, 0, &j, err, sizeof err), 0);
    assert_int_equal(json_string_length(j), reps * olen);
    const char *v = json_string_value(j);
    assert_memory_equal(v, unit_out, olen);
    assert_memory_equal(v + (reps - 1) * olen, unit_out, olen);

    size_t len = 0;
    char *s = bb_json_dumps(j, &len);
    assert_non_null(s);
    assert_int_equal(len, reps * olen + 2); /* dumped as raw UTF-8, not escaped */
    assert_int_equal(bb_json_parse(s, len, 0, &j2, err, sizeof err), 0);
    assert_true(json_equal(j, j2));
    free(s);
    free(buf);
    json_decref(j);
    json_decref(j2);
}


/* bb_json_validate: the grammar and jansson's extra rules, and agreement with jansson over many
 * mutated documents. */
static void test_validate(void **state)
{
    (void)state;
    static const char *ok[] = {"0", "-0.5e+3", " {\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\ud83d\\ude00\"} ",
                               "\"caf\xc3\xa9\"", "[]", "{}", "true", "9223372036854775807", "1e-400",
                               "{\"a\":1,\"a\":2}"};
    static const char *bad[] = {"", " ", "01", "1.", ".5", "-", "1e", "[1,]", "{\"a\"}", "{a:1}",
                                "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\x01\"", "\"\xc0\xaf\"",
                                "\"\xed\xa0\x80\"", "[1] [2]", "nul", "tru", "9223372036854775808",
                                "1e400", "\"\\x\"", "{\"a\":1,}", "\"abc"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (bb_json_validate(ok[i], strlen(ok[i]), 64) != 0) fail_msg("rejected %s", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (bb_json_validate(bad[i], strlen(bad[i]), 64) != BB_EINVAL) fail_msg("accepted %s", bad[i]);
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(bb_json_validate(deep, 200, 64), BB_ETOOBIG);
    assert_int_equal(bb_json_validate(deep, 200, 100), 0);
    /* differential against jansson over byte-level mutations of a valid document */
    const char *base = "{\"k\":[1,-2.5e3,\"s\\n\\u00e9\",true,null,{\"x\":{}}],\"u\":\"\xe2\x82\xac\"}";
    size_t n = strlen(base);
    char buf[256];
    const char alphabet[] = "{}[]\",:\\u0e-+.1 \x80\xc3\xa9tfn";
    uint32_t seed = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, base, n);
        size_t len = n;
        for (int m = 0; m < 1 + iter % 3; m++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[pos] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        int v = bb_json_validate(buf, len, 64);
        json_error_t e;
        json_t *j = json_loadb(buf, len, JSON_DECODE_ANY, &e);
        if ((v == 0) != (j != NULL)) fail_msg("disagree on %.*s: validate %d, jansson %s", (int)len, buf, v, j ? "ok" : e.text);
        json_decref(j);
    }
}


/* The value bound refuses a huge flat array before jansson allocates anything. */
static void test_max_values(void **state)
{
    (void)state;
    size_t n = 2001;
    char *buf = malloc(n * 2 + 2);
    size_t o = 0;
    buf[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        buf[o++] = '0';
        buf[o++] = i + 1 < n ? ',' : ']';
    }
    json_t *j = NULL;
    char err[200];
    bb_json_set_max_values(1000);
    assert_int_equal(bb_json_parse(buf, o, 64, &j, err, sizeof err), BB_ETOOBIG);
    assert_null(j);
    assert_non_null(strstr(err, "too many JSON values"));
    /* 999 elements fit (1000 values with the array) */
    o = 0;
    buf[o++] = '[';
    for (size_t i = 0; i < 999; i++) {
        buf[o++] = '0';
        buf[o++] = i + 1 < 999 ? ',' : ']';
    }
    assert_int_equal(bb_json_parse(buf, o, 64, &j, err, sizeof err), 0);
    assert_int_equal(json_array_size(j), 999);
    json_decref(j);
    /* commas inside strings are not values */
    const char *s = "{\"a\":\",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\"}";
    bb_json_set_max_values(5);
    assert_int_equal(bb_json_parse(s, strlen(s), 64, &j, err, sizeof err), 0);
    json_decref(j);
    bb_json_set_max_values(0);
    o = 0;
    buf[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        buf[o++] = '0';
        buf[o++] = i + 1 < n ? ',' : ']';
    }
    assert_int_equal(bb_json_parse(buf, o, 64, &j, err, sizeof err), 0);
    json_decref(j);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_values),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_depth_at_limit_ok),
        cmocka_unit_test(test_depth_exceeded),
        cmocka_unit_test(test_depth_hostile),
        cmocka_unit_test(test_brackets_in_strings_not_counted),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_error_body_shape),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_huge_and_unicode_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
