/* Unit tests for the binary document encoding: round trips, the byte layout, single-field reads,
 * limits, and rejection of malformed encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
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

/* doc_render prints exactly jansson's compact dump (the oracle) of random documents: strings of
 * random length mixing plain runs (longer than the 64-byte vector steps), quotes, backslashes,
 * every control character, multi-byte UTF-8; random finite doubles (every bit pattern's %.17g),
 * integers at the extremes; nesting down to DOC_MAX_DEPTH. Rendered after other text, into a
 * buffer grown from empty. */
static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint64_t r64(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static json_t *rand_str(void)
{
    static const char *pieces[] = {"\"", "\\", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                   "/", "\x7f",
                                   "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"};
    char buf[1024];
    size_t n = 0, want = r64() % 400;
    while (n < want) {
        unsigned k = (unsigned)(r64() % 12);
        const char *p;
        char c1[2] = {0, 0};
        if (k >= 8) {
            c1[0] = (char)(1 + r64() % 31); /* control characters (NUL is not a valid jansson string) */
            if (k == 11) c1[0] = 'x';
            p = c1;
        } else {
            p = pieces[k];
        }
        size_t l = strlen(p);
        if (k == 7) l = 1 + r64() % l;
        if (n + l >= sizeof buf) break;
        memcpy(buf + n, p, l);
        n += l;
    }
    return json_stringn(buf, n);
}

static json_t *rand_val(int depth)
{
    switch (r64() % (depth > 0 ? 9 : 6)) {
    case 0: return json_null();
    case 1: return json_boolean(r64() & 1);
    case 2: {
        static const json_int_t ext[] = {0, -1, 1, INT64_MAX, INT64_MIN, 9007199254740993LL};
        return json_integer(r64() & 1 ? ext[r64() % 6] : (json_int_t)r64());
    }
    case 3: {
        double d;
        uint64_t u = r64();
        if (r64() & 1) d = (double)(int64_t)(r64() % 2000001) / 1000.0 - 1000.0;
        else memcpy(&d, &u, sizeof d);
        if (!isfinite(d)) d = 0.1;
        return json_real(d);
    }
    case 4:
    case 5: return rand_str();
    case 6:
    case 7: {
        json_t *o = json_object();
        unsigned n = (unsigned)(r64() % 5);
        for (unsigned i = 0; i < n; i++) {
            json_t *k = rand_str();
            json_object_set_new(o, json_string_value(k), rand_val(depth - 1));
            json_decref(k);
        }
        return o;
    }
    default: {
        json_t *a = json_array();
        unsigned n = (unsigned)(r64() % 5);
        for (unsigned i = 0; i < n; i++) json_array_append_new(a, rand_val(depth - 1));
        return a;
    }
    }
}

static void render_same(const json_t *d)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(doc_encode(d, 1u << 26, &enc, &len), 0);
    char *out = NULL;
    size_t olen = 0, cap = 0;
    assert_int_equal(doc_render(enc, len, &out, &olen, &cap), 0); /* grown from empty */
    size_t first = olen;
    assert_int_equal(doc_render(enc, len, &out, &olen, &cap), 0); /* appended */
    char *want = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(want);
    assert_int_equal(first, strlen(want));
    assert_int_equal(olen, 2 * first);
    assert_memory_equal(out, want, first);
    assert_memory_equal(out + first, want, first);
    free(want);
    free(out);
    free(enc);
}

static void test_render_oracle(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        json_t *d = json_object();
        unsigned n = (unsigned)(r64() % 6);
        for (unsigned k = 0; k < n; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%u", k);
            json_object_set_new(d, key, rand_val(4));
        }
        render_same(d);
        json_decref(d);
    }
    /* nesting down to the limit, alternating arrays and objects */
    json_t *v = rand_str();
    for (int i = 0; i < DOC_MAX_DEPTH - 1; i++) v = i & 1 ? json_pack("[o]", v) : json_pack("{s:o}", "\n", v);
    json_t *d = json_pack("{s:o}", "deep", v);
    render_same(d);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_get_path),
        cmocka_unit_test(test_limits_and_malformed),
        cmocka_unit_test(test_render_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
