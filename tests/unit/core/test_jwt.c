/* Unit tests for bb_jwt: tokens signed here with OpenSSL (RS256, ES256 in JOSE form, EdDSA) verify
 * against their JWKs; every refusal (alg none, HS256 with the public key as secret, an alg that is
 * not the key's, unknown kid, bad signature, tampered payload, wrong iss/aud, expired, crit,
 * malformed shapes) gives its machine code; JWK import refuses private, symmetric, short and
 * off-curve keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_jwt.h"

static const char *ALGS[] = {"RS256", "ES256", "EdDSA"};
static EVP_PKEY *keys[3];
static json_t *jwks_doc;
static struct bb_jwks set;

static char *b64(const void *p, size_t n)
{
    size_t cap = BB_BASE64URL_LEN(n) + 1;
    char *s = malloc(cap);
    bb_base64url_encode(p, n, s, cap);
    return s;
}

static json_t *bn_member(json_t *o, const char *name, EVP_PKEY *k, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    uint8_t buf[600];
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    assert_true(BN_bn2binpad(bn, buf, (int)n) > 0);
    char *s = b64(buf, n);
    json_object_set_new(o, name, json_string(s));
    free(s);
    BN_free(bn);
    return o;
}

static json_t *jwk_of(int i, const char *kid)
{
    json_t *o = json_object();
    EVP_PKEY *k = keys[i];
    if (i == 0) {
        json_object_set_new(o, "kty", json_string("RSA"));
        bn_member(o, "n", k, OSSL_PKEY_PARAM_RSA_N, 0);
        bn_member(o, "e", k, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (i == 1) {
        json_object_set_new(o, "kty", json_string("EC"));
        json_object_set_new(o, "crv", json_string("P-256"));
        bn_member(o, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        bn_member(o, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    } else {
        uint8_t raw[32];
        size_t n = sizeof raw;
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
        char *s = b64(raw, n);
        json_object_set_new(o, "kty", json_string("OKP"));
        json_object_set_new(o, "crv", json_string("Ed25519"));
        json_object_set_new(o, "x", json_string(s));
        free(s);
    }
    json_object_set_new(o, "kid", json_string(kid));
    json_object_set_new(o, "use", json_string("sig"));
    return o;
}

/* A compact token: header {"alg":alg,"kid":kid,…extra} and payload, signed with keys[ki] (ki < 0:
 * no signature bytes). */
static char *make_token(const char *alg, const char *kid, int ki, json_t *payload, int crit)
{
    json_t *h = json_pack("{s:s,s:s}", "alg", alg, "typ", "JWT");
    if (kid) json_object_set_new(h, "kid", json_string(kid));
    if (crit) json_object_set_new(h, "crit", json_pack("[s]", "exp"));
    char *hs = json_dumps(h, JSON_COMPACT), *ps = json_dumps(payload, JSON_COMPACT);
    char *h64 = b64(hs, strlen(hs)), *p64 = b64(ps, strlen(ps));
    size_t il = strlen(h64) + strlen(p64) + 1;
    char *input = malloc(il + 1);
    snprintf(input, il + 1, "%s.%s", h64, p64);
    uint8_t sig[600];
    size_t sl = 0;
    if (ki >= 0) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        sl = sizeof sig;
        assert_int_equal(EVP_DigestSignInit(c, NULL, ki == 2 ? NULL : EVP_sha256(), NULL, keys[ki]),
                         1);
        assert_int_equal(EVP_DigestSign(c, sig, &sl, (uint8_t *)input, il), 1);
        EVP_MD_CTX_free(c);
        if (ki == 1) { /* DER → JOSE r||s */
            const uint8_t *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
            assert_non_null(es);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            ECDSA_SIG_free(es);
            sl = 64;
        }
    }
    char *s64 = b64(sig, sl);
    size_t tl = il + 1 + strlen(s64) + 1;
    char *tok = malloc(tl);
    snprintf(tok, tl, "%s.%s", input, s64);
    free(hs), free(ps), free(h64), free(p64), free(input), free(s64);
    json_decref(h);
    return tok;
}

static json_t *claims(int64_t exp_delta)
{
    int64_t now = 1700000000;
    return json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", "https://idp.example", "aud", "client-1",
                     "sub", "u1", "iat", (json_int_t)now, "exp", (json_int_t)(now + exp_delta));
}

static int setup(void **state)
{
    (void)state;
    keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    keys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    jwks_doc = json_pack("{s:[o,o,o,{s:s,s:s}]}", "keys", jwk_of(0, "k-rsa"), jwk_of(1, "k-ec"),
                         jwk_of(2, "k-ed"), "kty", "oct", "k", "c2VjcmV0");
    char err[200];
    assert_int_equal(bb_jwks_import(jwks_doc, &set, err, sizeof err), 0);
    assert_int_equal(set.n, 3); /* the symmetric key was skipped */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bb_jwks_release(&set);
    json_decref(jwks_doc);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(keys[i]);
    return 0;
}

static const char *verify_code(const char *tok, unsigned allowed)
{
    struct bb_jwt t;
    struct bb_jwt_reject why = {0};
    int rc = bb_jwt_verify(tok, strlen(tok), &set, allowed, &t, &why);
    if (rc == 0) {
        rc = bb_jwt_check_claims(&t, "https://idp.example", "client-1", 1700000000, 60, &why);
        bb_jwt_release(&t);
    }
    return rc == 0 ? "ok" : why.code;
}

static void test_each_alg_verifies(void **state)
{
    (void)state;
    const char *kids[] = {"k-rsa", "k-ec", "k-ed"};
    for (int i = 0; i < 3; i++) {
        json_t *c = claims(300);
        char *tok = make_token(ALGS[i], kids[i], i, c, 0);
        assert_string_equal(verify_code(tok, BB_JWT_ASYMMETRIC), "ok");
        /* without a kid: the one key of that alg */
        char *tok2 = make_token(ALGS[i], NULL, i, c, 0);
        assert_string_equal(verify_code(tok2, BB_JWT_ASYMMETRIC), "ok");
        /* not in the allow-list */
        assert_string_equal(verify_code(tok, BB_JWT_ASYMMETRIC & ~(1u << i)),
                            "token_alg_not_allowed");
        /* tampered payload: flip one character of the payload segment */
        char *d = strchr(tok, '.') + 5;
        *d = *d == 'A' ? 'B' : 'A';
        assert_string_equal(verify_code(tok, BB_JWT_ASYMMETRIC), "token_invalid_signature");
        free(tok);
        free(tok2);
        json_decref(c);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    json_t *c = claims(300);
    char *t;
    t = make_token("none", "k-rsa", -1, c, 0);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_alg_not_allowed");
    free(t);
    t = make_token("HS256", "k-rsa", -1, c, 0);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_alg_not_allowed");
    free(t);
    t = make_token("RS256", "k-ec", 0, c, 0); /* an alg that is not its key's */
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_alg_not_allowed");
    free(t);
    t = make_token("RS256", "nope", 0, c, 0);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_unknown_kid");
    free(t);
    t = make_token("ES256", "k-ec", 2, c, 0); /* signed by another key */
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_invalid_signature");
    free(t);
    t = make_token("EdDSA", "k-ed", 2, c, 1);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_malformed");
    free(t);
    json_decref(c);

    c = claims(-3600);
    t = make_token("EdDSA", "k-ed", 2, c, 0);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_expired");
    free(t);
    json_decref(c);
    c = claims(300);
    json_object_set_new(c, "aud", json_pack("[s,s]", "x", "y"));
    t = make_token("EdDSA", "k-ed", 2, c, 0);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_wrong_audience");
    free(t);
    json_object_set_new(c, "aud", json_pack("[s,s]", "x", "client-1"));
    json_object_set_new(c, "iss", json_string("https://evil.example"));
    t = make_token("EdDSA", "k-ed", 2, c, 0);
    assert_string_equal(verify_code(t, BB_JWT_ASYMMETRIC), "token_wrong_issuer");
    free(t);
    json_decref(c);

    const char *nosig = "eyJhbGciOiJSUzI1NiJ9..";
    assert_string_equal(verify_code(nosig, BB_JWT_ASYMMETRIC), "token_invalid_signature");
    const char *bad[] = {"", "a.b", "a.b.c.d", "!!.!!.!!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal(verify_code(bad[i], BB_JWT_ASYMMETRIC), "token_malformed");
    char *big = malloc(BB_JWT_MAX_TOKEN + 2);
    memset(big, 'A', BB_JWT_MAX_TOKEN + 1);
    big[BB_JWT_MAX_TOKEN + 1] = '\0';
    assert_string_equal(verify_code(big, BB_JWT_ASYMMETRIC), "token_malformed");
    free(big);
}

static void test_jwk_import_refusals(void **state)
{
    (void)state;
    struct bb_jwk k;
    char err[200];
    json_t *j = jwk_of(1, "x");
    json_object_set_new(j, "d", json_string("AAAA"));
    assert_int_equal(bb_jwk_import(j, &k, err, sizeof err), BB_EINVAL);
    json_decref(j);
    j = jwk_of(1, "x");
    json_object_set_new(j, "alg", json_string("RS256")); /* alg of another key type */
    assert_int_equal(bb_jwk_import(j, &k, err, sizeof err), BB_EINVAL);
    json_object_set_new(j, "x", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    json_object_del(j, "alg");
    assert_int_equal(bb_jwk_import(j, &k, err, sizeof err), BB_EINVAL); /* off the curve */
    json_decref(j);
    j = jwk_of(0, "r");
    json_object_set_new(j, "use", json_string("enc"));
    assert_int_equal(bb_jwk_import(j, &k, err, sizeof err), BB_EINVAL);
    json_decref(j);
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *save = keys[0];
    keys[0] = small;
    j = jwk_of(0, "small");
    assert_int_equal(bb_jwk_import(j, &k, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "2048"));
    keys[0] = save;
    json_decref(j);
    EVP_PKEY_free(small);
    j = json_pack("{s:s,s:s}", "kty", "oct", "k", "c2VjcmV0");
    assert_int_equal(bb_jwk_import(j, &k, err, sizeof err), BB_EINVAL);
    json_decref(j);
    struct bb_jwks s;
    j = json_pack("{s:[]}", "keys");
    assert_int_equal(bb_jwks_import(j, &s, err, sizeof err), BB_EINVAL);
    json_decref(j);
}

/* our own tokens: core's framing (signing input + signature) verifies with core's verifier; the
 * Bearer value is found case-insensitively and trimmed, another scheme is not ours */
static void test_sign_own_and_bearer(void **state)
{
    (void)state;
    json_t *h = json_pack("{s:s,s:s,s:s}", "alg", "EdDSA", "typ", "JWT", "kid", "k-ed");
    json_t *p = claims(60);
    size_t il = 0;
    char *tok = bb_jwt_signing_input(h, p, 64, &il);
    assert_non_null(tok);
    assert_int_equal(strlen(tok), il);
    assert_non_null(memchr(tok, '.', il));
    uint8_t sig[64];
    size_t sl = sizeof sig;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(c, NULL, NULL, NULL, keys[2]), 1);
    assert_int_equal(EVP_DigestSign(c, sig, &sl, (uint8_t *)tok, il), 1);
    EVP_MD_CTX_free(c);
    bb_jwt_append_signature(tok, il, sig, sl);
    assert_int_equal(strlen(tok), il + 1 + BB_BASE64URL_LEN(64));
    struct bb_jwt t;
    struct bb_jwt_reject why = {0};
    assert_int_equal(bb_jwt_verify(tok, strlen(tok), &set, BB_JWT_EDDSA, &t, &why), 0);
    assert_string_equal(json_string_value(json_object_get(t.payload, "sub")), "u1");
    bb_jwt_release(&t);
    char auth[4096];
    snprintf(auth, sizeof auth, "bearer  %s \t", tok);
    size_t n = 0;
    const char *b = bb_jwt_bearer(auth, &n);
    assert_non_null(b);
    assert_int_equal(n, strlen(tok));
    assert_memory_equal(b, tok, n);
    assert_null(bb_jwt_bearer("Basic dTpw", &n));
    assert_null(bb_jwt_bearer("Bearer", &n));
    assert_null(bb_jwt_bearer(NULL, &n));
    free(tok);
    json_decref(h);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_alg_verifies),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_jwk_import_refusals),
        cmocka_unit_test(test_sign_own_and_bearer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
