/* Unit tests for bb_crypto: known-answer vectors (FIPS 180-2, RFC 4231, RFC 4648), codec edge
 * cases, random tokens, constant-time comparisons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_crypto.h"
#include "bb_err.h"

static void hex_of(const uint8_t *d, size_t n, char *out, size_t cap)
{
    assert_int_equal(bb_hex_encode(d, n, out, cap), 2 * n);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    uint8_t d[BB_SHA256_LEN];
    char hex[65];
    bb_sha256("abc", 3, d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    bb_sha256(NULL, 0, d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    bb_sha256_hex("abc", 3, hex); /* the text form, in one call */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    bb_sha256(m, strlen(m), d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t d[BB_SHA256_LEN];
    char hex[65];

    /* Test case 1 */
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    bb_hmac_sha256(k1, sizeof k1, "Hi There", 8, d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    /* Test case 2 */
    const char *data = "what do ya want for nothing?";
    bb_hmac_sha256("Jefe", 4, data, strlen(data), d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* Test case 6: key longer than the block size */
    uint8_t k6[131];
    memset(k6, 0xaa, sizeof k6);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    bb_hmac_sha256(k6, sizeof k6, d6, strlen(d6), d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    /* Empty key and empty message are valid. */
    bb_hmac_sha256(NULL, 0, NULL, 0, d);
    hex_of(d, sizeof d, hex, sizeof hex);
    assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_base64url_rfc4648(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *enc, *padded;
    } v[] = {
        {"", "", ""},
        {"f", "Zg", "Zg=="},
        {"fo", "Zm8", "Zm8="},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg", "Zm9vYg=="},
        {"fooba", "Zm9vYmE", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    };
    char enc[32];
    uint8_t dec[32];
    size_t n;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t rl = strlen(v[i].raw);
        assert_int_equal(bb_base64url_encode(v[i].raw, rl, enc, sizeof enc), strlen(v[i].enc));
        assert_string_equal(enc, v[i].enc);
        assert_int_equal(BB_BASE64URL_LEN(rl), strlen(v[i].enc));

        n = 99;
        assert_int_equal(bb_base64url_decode(v[i].enc, strlen(v[i].enc), dec, sizeof dec, &n), 0);
        assert_int_equal(n, rl);
        assert_memory_equal(dec, v[i].raw, rl);
        n = 99;
        assert_int_equal(
            bb_base64url_decode(v[i].padded, strlen(v[i].padded), dec, sizeof dec, &n), 0);
        assert_int_equal(n, rl);
        assert_memory_equal(dec, v[i].raw, rl);
    }

    /* The URL-safe alphabet: 0xfb 0xef 0xff is "++//" in standard base64. */
    const uint8_t raw[] = {0xfb, 0xef, 0xff, 0xfb, 0xff};
    assert_int_equal(bb_base64url_encode(raw, sizeof raw, enc, sizeof enc), 7);
    assert_string_equal(enc, "--__-_8");
    assert_int_equal(bb_base64url_decode("--__-_8", 7, dec, sizeof dec, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(dec, raw, 5);
}

static void test_base64url_rejects(void **state)
{
    (void)state;
    uint8_t dec[16];
    size_t n;
    const char *bad[] = {
        "++//", "Zm9v Yg", "Zm9v\n", "Zg=", "Zg===", "Z", "Z===", "Zm9vY", /* 1 char left over */
        "Zh",   /* non-zero unused bits (canonical is "Zg") */
        "Zm9=", /* non-zero unused bits */
        "Zg==Zg==", "=", "==", "Zm8==", "Zm 8", "Zm8\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 7;
        assert_int_equal(bb_base64url_decode(bad[i], strlen(bad[i]), dec, sizeof dec, &n),
                         BB_EINVAL);
        assert_int_equal(n, 0);
    }
    /* Embedded NUL counts as an invalid character. */
    assert_int_equal(bb_base64url_decode("Zm\0v", 4, dec, sizeof dec, &n), BB_EINVAL);
    /* Capacity is enforced exactly. */
    assert_int_equal(bb_base64url_decode("Zm9vYmFy", 8, dec, 5, &n), BB_ETOOBIG);
    assert_int_equal(bb_base64url_decode("Zm9vYmFy", 8, dec, 6, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(bb_base64url_decode("", 0, NULL, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bb_base64url_decode(NULL, 3, dec, sizeof dec, &n), BB_EINVAL);
}

static void test_base64url_encode_cap(void **state)
{
    (void)state;
    char out[9];
    memset(out, 'x', sizeof out);
    assert_int_equal(bb_base64url_encode("foobar", 6, out, 8), 0); /* needs 8 + NUL */
    assert_string_equal(out, "");
    assert_int_equal(bb_base64url_encode("foobar", 6, out, 9), 8);
    assert_int_equal(bb_base64url_encode("", 0, out, 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(bb_base64url_encode("f", 1, NULL, 10), 0);

    /* Round trip of every length 0..64 over all byte values. */
    uint8_t raw[64], back[64];
    char enc[100];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 37 + 250);
    for (size_t len = 0; len <= sizeof raw; len++) {
        size_t el = bb_base64url_encode(raw, len, enc, sizeof enc);
        assert_int_equal(el, BB_BASE64URL_LEN(len));
        size_t bl = 0;
        assert_int_equal(bb_base64url_decode(enc, el, back, sizeof back, &bl), 0);
        assert_int_equal(bl, len);
        assert_memory_equal(back, raw, len);
    }
}

static void test_hex(void **state)
{
    (void)state;
    char out[16];
    uint8_t b[8];
    size_t n;
    assert_int_equal(bb_hex_encode("\x00\xff\x10\xab", 4, out, sizeof out), 8);
    assert_string_equal(out, "00ff10ab");
    assert_int_equal(bb_hex_encode("\x00\xff\x10\xab", 4, out, 8), 0);
    assert_string_equal(out, "");
    assert_int_equal(bb_hex_decode("00FF10ab", 8, b, sizeof b, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(b, "\x00\xff\x10\xab", 4);
    assert_int_equal(bb_hex_decode("0", 1, b, sizeof b, &n), BB_EINVAL);
    assert_int_equal(bb_hex_decode("0g", 2, b, sizeof b, &n), BB_EINVAL);
    assert_int_equal(bb_hex_decode("001122", 6, b, 2, &n), BB_ETOOBIG);
}

static void test_random(void **state)
{
    (void)state;
    uint8_t a[32], b[32], zero[32] = {0};
    assert_int_equal(bb_random_bytes(a, sizeof a), 0);
    assert_int_equal(bb_random_bytes(b, sizeof b), 0);
    assert_false(bb_ct_equal(a, b, sizeof a));
    assert_false(bb_ct_equal(a, zero, sizeof a));
    assert_int_equal(bb_random_bytes(NULL, 0), 0);
    assert_int_equal(bb_random_bytes(NULL, 1), BB_EINVAL);

    char t1[64], t2[64];
    assert_int_equal(bb_random_token(t1, sizeof t1, 32), 0);
    assert_int_equal(strlen(t1), 43);
    assert_int_equal(bb_random_token(t2, sizeof t2, 32), 0);
    assert_string_not_equal(t1, t2);
    for (const char *p = t1; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    size_t n;
    uint8_t raw[32];
    assert_int_equal(bb_base64url_decode(t1, strlen(t1), raw, sizeof raw, &n), 0);
    assert_int_equal(n, 32);

    /* Capacity and bounds. */
    assert_int_equal(bb_random_token(t1, 43, 32), BB_EINVAL);
    assert_string_equal(t1, "");
    assert_int_equal(bb_random_token(t1, 44, 32), 0);
    assert_int_equal(bb_random_token(t1, sizeof t1, 0), BB_EINVAL);
    char big[1024];
    assert_int_equal(bb_random_token(big, sizeof big, BB_RANDOM_TOKEN_MAX_BYTES + 1), BB_EINVAL);
    assert_int_equal(bb_random_token(big, sizeof big, BB_RANDOM_TOKEN_MAX_BYTES), 0);
    assert_int_equal(strlen(big), BB_BASE64URL_LEN(BB_RANDOM_TOKEN_MAX_BYTES));
    assert_int_equal(bb_random_token(NULL, 10, 4), BB_EINVAL);
}

static void test_ct_compare(void **state)
{
    (void)state;
    assert_true(bb_ct_equal("abc", "abc", 3));
    assert_false(bb_ct_equal("abc", "abd", 3));
    assert_true(bb_ct_equal("abc", "abd", 2));
    assert_true(bb_ct_equal(NULL, NULL, 0));
    assert_false(bb_ct_equal(NULL, "a", 1));

    assert_true(bb_ct_streq("secret-token", "secret-token"));
    assert_false(bb_ct_streq("secret-token", "secret-tokeN"));
    assert_false(bb_ct_streq("secret-token", "secret-token2"));
    assert_false(bb_ct_streq("secret", "secret-token"));
    assert_false(bb_ct_streq("", "a"));
    assert_true(bb_ct_streq("", ""));
    assert_false(bb_ct_streq(NULL, ""));
    assert_false(bb_ct_streq("", NULL));
}

static void test_base64_std(void **state)
{
    (void)state;
    /* RFC 4648 §10 vectors, and binary bytes that use '+' and '/' */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = bb_base64_encode_alloc(plain[i], strlen(plain[i]));
        assert_string_equal(e, enc[i]);
        uint8_t *d = NULL;
        size_t dn = 99;
        assert_int_equal(bb_base64_decode_alloc(e, strlen(e), &d, &dn), 0);
        assert_int_equal(dn, strlen(plain[i]));
        assert_memory_equal(d, plain[i], dn);
        free(d);
        /* unpadded input decodes too */
        size_t un = strlen(e);
        while (un && e[un - 1] == '=') un--;
        assert_int_equal(bb_base64_decode_alloc(e, un, &d, &dn), 0);
        assert_int_equal(dn, strlen(plain[i]));
        free(d);
        free(e);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    char *ea = bb_base64_encode_alloc(all, sizeof all);
    uint8_t *da = NULL;
    size_t dan = 0;
    assert_int_equal(bb_base64_decode_alloc(ea, strlen(ea), &da, &dan), 0);
    assert_int_equal(dan, 256);
    assert_memory_equal(da, all, 256);
    free(da);
    free(ea);
    const uint8_t bin[] = {0xfb, 0xff, 0xbf, 0x00};
    char *e = bb_base64_encode_alloc(bin, sizeof bin);
    assert_string_equal(e, "+/+/AA==");
    free(e);
    uint8_t *d = NULL;
    size_t dn = 0;
    assert_int_equal(bb_base64_decode_alloc("Zm9v!", 5, &d, &dn), BB_EINVAL); /* alphabet */
    assert_int_equal(bb_base64_decode_alloc("Zm9vY", 5, &d, &dn), BB_EINVAL);  /* length */
    assert_int_equal(bb_base64_decode_alloc("Zh==", 4, &d, &dn), BB_EINVAL);   /* trailing bits */
    assert_int_equal(bb_base64_decode_alloc("Zm9v-_", 6, &d, &dn), BB_EINVAL); /* base64url */
    assert_null(d);
}

/* the one percent-decoder: flags for query strings ('+') and C strings (%00 refused, NUL written) */
static void test_pct_decode(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(bb_pct_decode("a+b%2B", 6, out, sizeof out, BB_PCT_PLUS | BB_PCT_CSTR), 4);
    assert_string_equal(out, "a b+");
    assert_int_equal(bb_pct_decode("a+b", 3, out, sizeof out, 0), 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(bb_pct_decode("x%00", 4, out, sizeof out, BB_PCT_CSTR), BB_EINVAL);
    assert_int_equal(bb_pct_decode("x%00", 4, out, sizeof out, 0), 2);
    assert_int_equal(bb_pct_decode("%e2%82%AC", 9, out, sizeof out, BB_PCT_CSTR), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    /* CSTR: cap counts the NUL */
    assert_int_equal(bb_pct_decode("12345678", 8, out, sizeof out, BB_PCT_CSTR), BB_ETOOBIG);
    assert_int_equal(bb_pct_decode("12345678", 8, out, sizeof out, 0), 8);
    assert_int_equal(bb_pct_decode("%g0", 3, out, sizeof out, 0), BB_EINVAL);
    assert_int_equal(bb_pct_decode("ab%", 3, out, sizeof out, 0), BB_EINVAL);
    assert_int_equal(bb_pct_decode("", 0, out, 1, BB_PCT_CSTR), 0);
    assert_string_equal(out, "");
    char b[8] = "xxxxxxx";
    assert_int_equal(bb_base64_encode("ab", 2, b), 4); /* in place, no NUL written */
    assert_memory_equal(b, "YWI=xxx", 7);
    assert_int_equal(BB_BASE64_LEN(4), 8);
    assert_int_equal(bb_hex_digit('F'), 15);
    assert_int_equal(bb_hex_digit('g'), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_std),          cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_sha256_vectors),      cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_base64url_rfc4648),   cmocka_unit_test(test_base64url_rejects),
        cmocka_unit_test(test_base64url_encode_cap), cmocka_unit_test(test_hex),
        cmocka_unit_test(test_random),              cmocka_unit_test(test_ct_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
