/* Unit tests for the binary document encoding: round trips, the byte layout, single-field reads,
 * limits, and rejection of malformed encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"
#include "doc.h"

static json_t *J(const char *s)
{
    json_t *j = NULL;
    assert_int_equal(bb_json_parse(s, strlen(s), 64, &j, NULL, 0), 0);
    return j;
}

static void test_roundtrip(void **state)
{
    (void)state;
    const char *docs[] = {
        "{}",
        "{\"a\":null,\"b\":true,\"c\":false,\"d\":-9223372036854775807,\"e\":1.25,\"f\":\"\"}",
        "{\"nested\":{\"x\":[1,[2,[3,{}]],{\"y\":\"\\u00e9\\u4e2d\"}]},\"z\":[]}",
        "{\"k\":\"" "0123456789012345678901234567890123456789" "\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        json_t *d = J(docs[i]);
        uint8_t *enc = NULL;
        size_t n = 0;
        assert_int_equal(doc_encode(d, 1 << 20, &enc, &n), 0);
        json_t *back = NULL;
        assert_int_equal(doc_decode(enc, n, &back), 0);
        assert_true(json_equal(d, back));
        json_decref(back);
        free(enc);
        json_decref(d);
    }
}

static void test_layout(void **state)
{
    (void)state;
    json_t *d = J("{\"a\":1,\"b\":\"hi\"}");
    uint8_t *enc = NULL;
    size_t n = 0;
    assert_int_equal(doc_encode(d, 1 << 20, &enc, &n), 0);
    const uint8_t want[] = {
        0xBD, 0x01,                    /* magic, version */
        0x07, 26, 0, 0, 0, 2, 0, 0, 0, /* object, body 26 bytes, 2 entries */
        1, 0, 'a', 0x03, 1, 0, 0, 0, 0, 0, 0, 0, /* "a": int 1 */
        1, 0, 'b', 0x05, 2, 0, 0, 0, 'h', 'i',   /* "b": string "hi" */
    };
    assert_int_equal(n, sizeof want);
    assert_memory_equal(enc, want, sizeof want);
    free(enc);
    json_decref(d);
}

static void test_get_path(void **state)
{
    (void)state;
    json_t *d = J("{\"a\":{\"b\":[10,{\"c\":\"x\"}]},\"big\":\"" "yyyyyyyyyyyyyyyyyyyy" "\",\"n\":null}");
    uint8_t *enc = NULL;
    size_t n = 0;
    assert_int_equal(doc_encode(d, 1 << 20, &enc, &n), 0);
    json_t *v = NULL;
    assert_int_equal(doc_get_path(enc, n, "a.b.1.c", &v), 0);
    assert_string_equal(json_string_value(v), "x");
    json_decref(v);
    assert_int_equal(doc_get_path(enc, n, "a.b.0", &v), 0);
    assert_int_equal(json_integer_value(v), 10);
    json_decref(v);
    assert_int_equal(doc_get_path(enc, n, "n", &v), 0);
    assert_true(json_is_null(v));
    json_decref(v);
    assert_int_equal(doc_get_path(enc, n, "a.b.2", &v), BB_ENOTFOUND);
    assert_int_equal(doc_get_path(enc, n, "a.b.x", &v), BB_ENOTFOUND);
    assert_int_equal(doc_get_path(enc, n, "a.zz", &v), BB_ENOTFOUND);
    assert_int_equal(doc_get_path(enc, n, "n.x", &v), BB_ENOTFOUND);
    assert_int_equal(doc_get_path(enc, n, "a..b", &v), BB_EINVAL);
    assert_int_equal(doc_get_path(enc, n, "", &v), BB_EINVAL);
    free(enc);
    json_decref(d);
}

static void test_limits_and_malformed(void **state)
{
    (void)state;
    json_t *d = J("{\"s\":\"0123456789\"}");
    uint8_t *enc = NULL;
    size_t n = 0;
    assert_int_equal(doc_encode(d, 10, &enc, &n), BB_ETOOBIG);
    assert_null(enc);
    assert_int_equal(doc_encode(d, 1000, &enc, &n), 0);
    json_t *v = NULL;
    /* every truncation and every single-byte corruption is either rejected or decodes to some
     * document; none crashes (ASan checks the reads) */
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(doc_decode(enc, k, &v), BB_EIO);
        assert_null(v);
    }
    for (size_t k = 0; k < n; k++) {
        for (int bit = 0; bit < 8; bit++) {
            enc[k] ^= (uint8_t)(1 << bit);
            if (doc_decode(enc, n, &v) == 0) json_decref(v);
            if (doc_get_path(enc, n, "s", &v) == 0) json_decref(v);
            enc[k] ^= (uint8_t)(1 << bit);
        }
    }
    /* a count larger than the body, a duplicate key */
    const uint8_t bad1[] = {0xBD, 1, 0x07, 4, 0, 0, 0, 200, 0, 0, 0};
    assert_int_equal(doc_decode(bad1, sizeof bad1, &v), BB_EIO);
    const uint8_t bad2[] = {0xBD, 1, 0x07, 10, 0, 0, 0, 2, 0, 0, 0, 1, 0, 'a', 0, 1, 0, 'a', 0};
    assert_int_equal(doc_decode(bad2, sizeof bad2, &v), BB_EIO);
    free(enc);
    json_decref(d);
    /* nesting deeper than DOC_MAX_DEPTH does not encode */
    json_t *deep = json_object();
    json_t *cur = deep;
    for (int i = 0; i < DOC_MAX_DEPTH + 2; i++) {
        json_t *nx = json_object();
        json_object_set_new(cur, "a", nx);
        cur = nx;
    }
    assert_int_equal(doc_encode(deep, 1 << 20, &enc, &n), BB_EINVAL);
    json_decref(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_get_path),
        cmocka_unit_test(test_limits_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
