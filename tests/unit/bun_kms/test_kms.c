/* Unit tests of bun-kms's engine without transports (kms_new): key parsing, AES-GCM seal/open,
 * the in-process API (bun_kms.h) for every key type and algorithm, roles, audit records, the
 * key-check value and an in-process master-key rotation. */
#include "kms_int.h"
#include "bb_err.h"
#include "bb_identity.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];
static char err[300];

static struct kms_config config(const char *key)
{
    struct kms_config c;
    memset(&c, 0, sizeof c);
    if (key) snprintf(c.master_key, sizeof c.master_key, "%s", key);
    c.secret_max = 1024;
    c.data_max = 4096;
    c.page_max = 100;
    c.max_request = 65536;
    c.rotate_batch = 2;
    c.audit_max_rows = 1000000;
    c.max_versions = 1000;
    c.max_per_ns = 10000;
    return c;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/bb-kms-unit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static const char K1[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_parse_key(void **state)
{
    (void)state;
    uint8_t k[32];
    assert_int_equal(kms_parse_key(K1, strlen(K1), k), 0);
    assert_int_equal(k[31], 0x1f);
    const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    uint8_t k2[32];
    assert_int_equal(kms_parse_key(b64, strlen(b64), k2), 0);
    assert_memory_equal(k, k2, 32);
    assert_int_equal(kms_parse_key("  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", 46, k2), 0);
    assert_memory_equal(k, k2, 32);
    assert_int_equal(kms_parse_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 20, k2), BB_EINVAL);
    assert_int_equal(kms_parse_key(K1, 62, k2), BB_EINVAL);
    assert_int_equal(kms_parse_key("zz", 2, k2), BB_EINVAL);
    char bad[65];
    memcpy(bad, K1, 65);
    bad[3] = 'g';
    assert_int_equal(kms_parse_key(bad, 64, k2), BB_EINVAL);
    assert_int_equal(kms_parse_key("c2hvcnQ=", 8, k2), BB_EINVAL);
}

static void test_gcm(void **state)
{
    (void)state;
    uint8_t key[32] = {1}, *ct = NULL, *pt = NULL;
    size_t cl = 0, pl = 0;
    assert_int_equal(kms_gcm_seal(key, "aad", 3, "hello", 5, &ct, &cl), 0);
    assert_int_equal(cl, 5 + KMS_GCM_OVERHEAD);
    assert_int_equal(kms_gcm_open(key, "aad", 3, ct, cl, &pt, &pl), 0);
    assert_int_equal(pl, 5);
    assert_memory_equal(pt, "hello", 5);
    free(pt);
    assert_int_equal(kms_gcm_open(key, "aaX", 3, ct, cl, &pt, &pl), BB_EAUTH);
    ct[14] ^= 1;
    assert_int_equal(kms_gcm_open(key, "aad", 3, ct, cl, &pt, &pl), BB_EAUTH);
    assert_int_equal(kms_gcm_open(key, "aad", 3, ct, 10, &pt, &pl), BB_EAUTH);
    free(ct);
}

static struct bun_kms *open_kms(const char *key)
{
    struct kms_config c = config(key);
    struct bun_kms *k = NULL;
    err[0] = '\0';
    int rc = kms_new(&c, dir, &k, err, sizeof err);
    if (rc) fail_msg("kms_new: %s", err);
    return k;
}

static void test_keys_all_algorithms(void **state)
{
    (void)state;
    struct bun_kms *k = open_kms(K1);
    const struct bb_identity *sys = bun_kms_system_identity();
    static const struct {
        enum bun_kms_key_type t;
        const char *alg;
        int jose;
    } cases[] = {{BUN_KMS_ED25519, "EdDSA", 0},   {BUN_KMS_ECDSA_P256, "ES256", 0},
                 {BUN_KMS_ECDSA_P256, "ES256", 1}, {BUN_KMS_RSA_2048, "RS256", 0},
                 {BUN_KMS_RSA_2048, "PS256", 0}};
    const char msg[] = "the message";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%zu", i);
        assert_int_equal(bun_kms_key_create(k, sys, "p_unit", name, cases[i].t, err, sizeof err), 0);
        assert_int_equal(bun_kms_key_create(k, sys, "p_unit", name, cases[i].t, err, sizeof err), BB_EEXIST);
        unsigned char *sig = NULL;
        size_t sl = 0;
        char kid[BUN_KMS_KID_MAX + 1];
        assert_int_equal(bun_kms_sign(k, sys, "p_unit", name, cases[i].alg, cases[i].jose, msg,
                                      sizeof msg, &sig, &sl, kid, err, sizeof err),
                         0);
        if (cases[i].jose) assert_int_equal(sl, 64);
        assert_int_equal(strlen(kid), 43);
        assert_int_equal(bun_kms_verify(k, sys, "p_unit", name, cases[i].alg, cases[i].jose, kid,
                                        msg, sizeof msg, sig, sl, err, sizeof err),
                         0);
        assert_int_equal(bun_kms_verify(k, sys, "p_unit", name, cases[i].alg, cases[i].jose, NULL,
                                        msg, sizeof msg - 1, sig, sl, err, sizeof err),
                         BB_EAUTH);
        /* rotate: the old signature still verifies, the new current one differs */
        int v = 0;
        assert_int_equal(bun_kms_key_rotate(k, sys, "p_unit", name, &v, err, sizeof err), 0);
        assert_int_equal(v, 2);
        assert_int_equal(bun_kms_verify(k, sys, "p_unit", name, cases[i].alg, cases[i].jose, NULL,
                                        msg, sizeof msg, sig, sl, err, sizeof err),
                         0);
        json_t *jwks = NULL;
        assert_int_equal(bun_kms_jwks(k, sys, "p_unit", name, &jwks, err, sizeof err), 0);
        json_t *keys = json_object_get(jwks, "keys");
        assert_int_equal(json_array_size(keys), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "kid")), kid);
        json_decref(jwks);
        free(sig);
        assert_int_equal(bun_kms_sign(k, sys, "p_unit", name, "HS256", 0, msg, sizeof msg, &sig,
                                      &sl, kid, err, sizeof err),
                         BB_EINVAL);
    }
    /* AES */
    assert_int_equal(bun_kms_key_create(k, sys, "p_unit", "aes", BUN_KMS_AES256_GCM, err, sizeof err), 0);
    unsigned char *ct = NULL, *pt = NULL;
    size_t cl = 0, pl = 0;
    assert_int_equal(bun_kms_encrypt(k, sys, "p_unit", "aes", "data", 4, "ad", 2, &ct, &cl, err, sizeof err), 0);
    assert_int_equal(bun_kms_key_rotate(k, sys, "p_unit", "aes", NULL, err, sizeof err), 0);
    assert_int_equal(bun_kms_decrypt(k, sys, "p_unit", "aes", ct, cl, "ad", 2, &pt, &pl, err, sizeof err), 0);
    assert_memory_equal(pt, "data", 4);
    free(pt);
    assert_int_equal(bun_kms_decrypt(k, sys, "p_unit", "aes", ct, cl, "AD", 2, &pt, &pl, err, sizeof err), BB_EAUTH);
    ct[3] = 9; /* a version that does not exist */
    assert_int_equal(bun_kms_decrypt(k, sys, "p_unit", "aes", ct, cl, "ad", 2, &pt, &pl, err, sizeof err), BB_EAUTH);
    free(ct);
    unsigned char *sig = NULL;
    size_t sl = 0;
    assert_int_equal(bun_kms_sign(k, sys, "p_unit", "aes", "EdDSA", 0, "m", 1, &sig, &sl, NULL, err, sizeof err), BB_EINVAL);
    json_t *j = NULL;
    assert_int_equal(bun_kms_jwks(k, sys, "p_unit", "aes", &j, err, sizeof err), BB_EINVAL);
    kms_free(k);
}

static void test_import_kid(void **state)
{
    (void)state;
    struct bun_kms *k = open_kms(K1);
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, p, NULL, NULL, 0, NULL, NULL), 1);
    char *pem = NULL;
    long pl = BIO_get_mem_data(b, &pem);
    char *copy = strndup(pem, (size_t)pl);
    const char *pems[2] = {copy, copy};
    assert_int_equal(bun_kms_key_import(k, bun_kms_system_identity(), BUN_KMS_SYSTEM_NS, "imp",
                                        BUN_KMS_ED25519, pems, 2, err, sizeof err),
                     0);
    assert_int_equal(bun_kms_key_import(k, bun_kms_system_identity(), BUN_KMS_SYSTEM_NS, "imp2",
                                        BUN_KMS_ECDSA_P256, pems, 1, err, sizeof err),
                     BB_EINVAL);
    /* the kid is the RFC 7638 thumbprint (as bun-auth computes it) */
    uint8_t raw[32];
    size_t rl = sizeof raw;
    EVP_PKEY_get_raw_public_key(p, raw, &rl);
    char x[64], jwk[160], kid[64];
    EVP_EncodeBlock((unsigned char *)x, raw, 32); /* standard base64, made url-safe below */
    for (char *c = x; *c; c++) {
        if (*c == '+') *c = '-';
        else if (*c == '/') *c = '_';
        else if (*c == '=') *c = '\0';
    }
    int n = snprintf(jwk, sizeof jwk, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(jwk, (size_t)n, d, &dl, EVP_sha256(), NULL);
    EVP_EncodeBlock((unsigned char *)kid, d, 32);
    for (char *c = kid; *c; c++) {
        if (*c == '+') *c = '-';
        else if (*c == '/') *c = '_';
        else if (*c == '=') *c = '\0';
    }
    json_t *m = NULL;
    assert_int_equal(bun_kms_key_get(k, bun_kms_system_identity(), BUN_KMS_SYSTEM_NS, "imp", &m, err, sizeof err), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "current_version")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(m, "versions"), 0), "kid")), kid);
    json_decref(m);
    free(copy);
    BIO_free(b);
    EVP_PKEY_free(p);
    kms_free(k);
}

static void test_secrets_roles_audit(void **state)
{
    (void)state;
    struct bun_kms *k = open_kms(K1);
    struct bb_identity sk = {.kind = BB_IDENTITY_PROJECT_KEY_SECRET};
    struct bb_identity pk = {.kind = BB_IDENTITY_PROJECT_KEY_PUBLIC};
    struct bb_identity dev = {.kind = BB_IDENTITY_DEVELOPER_SESSION};
    snprintf(sk.project_id, sizeof sk.project_id, "p_a");
    snprintf(pk.project_id, sizeof pk.project_id, "p_a");
    int v = 0;
    assert_int_equal(bun_kms_secret_put(k, &sk, "p_a", "s", "v1", 2, &v, err, sizeof err), 0);
    assert_int_equal(bun_kms_secret_put(k, &sk, "p_a", "s", "v2", 2, &v, err, sizeof err), 0);
    assert_int_equal(v, 2);
    void *val = NULL;
    size_t len = 0;
    assert_int_equal(bun_kms_secret_get(k, &sk, "p_a", "s", 1, &val, &len, err, sizeof err), 0);
    assert_memory_equal(val, "v1", 2);
    free(val);
    assert_int_equal(bun_kms_secret_get(k, &sk, "p_b", "s", 0, &val, &len, err, sizeof err), BB_EPERM);
    assert_int_equal(bun_kms_secret_get(k, &pk, "p_a", "s", 0, &val, &len, err, sizeof err), BB_EPERM);
    assert_int_equal(bun_kms_secret_get(k, &dev, "p_a", "s", 0, &val, &len, err, sizeof err), BB_EPERM);
    assert_int_equal(bun_kms_secret_put(k, &sk, BUN_KMS_SYSTEM_NS, "s", "x", 1, NULL, err, sizeof err), BB_EPERM);
    assert_int_equal(bun_kms_secret_put(k, &sk, "_other", "s", "x", 1, NULL, err, sizeof err), BB_EINVAL);
    assert_int_equal(bun_kms_secret_put(k, &sk, "p_a", "../x", "x", 1, NULL, err, sizeof err), BB_EINVAL);
    static char big[1025];
    assert_int_equal(bun_kms_secret_put(k, &sk, "p_a", "big", big, sizeof big, NULL, err, sizeof err), BB_ETOOBIG);
    assert_int_equal(bun_kms_namespace_drop(k, &sk, "p_a", err, sizeof err), BB_EPERM);
    json_t *page = NULL;
    assert_int_equal(kms_secret_list(k, &pk, "p_a", "", 10, &page, err, sizeof err), 0);
    assert_int_equal(json_array_size(json_object_get(page, "secrets")), 1);
    json_decref(page);
    assert_int_equal(bun_kms_secret_delete(k, &sk, "p_a", "s", err, sizeof err), 0);
    assert_int_equal(bun_kms_secret_delete(k, &sk, "p_a", "s", err, sizeof err), BB_ENOTFOUND);
    assert_int_equal(bun_kms_namespace_drop(k, bun_kms_system_identity(), "p_a", err, sizeof err), 0);
    /* 14 operations on p_a / p_b / _system / invalid: one record each, never a value */
    json_t *a = NULL;
    assert_int_equal(kms_audit_query(k, NULL, NULL, NULL, 0, 0, 0, 100, &a), 0);
    json_t *recs = json_object_get(a, "records");
    assert_int_equal(json_array_size(recs), 15);
    char *dump = json_dumps(a, 0);
    assert_null(strstr(dump, "v1"));
    free(dump);
    json_decref(a);
    assert_int_equal(kms_audit_query(k, "p_a", "secret.get", "permission_denied", 0, 0, 0, 100, &a), 0);
    assert_int_equal(json_array_size(json_object_get(a, "records")), 2);
    json_decref(a);
    kms_free(k);
}

static void test_wrong_key_and_rotation(void **state)
{
    (void)state;
    struct bun_kms *k = open_kms(K1);
    const struct bb_identity *sys = bun_kms_system_identity();
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        assert_int_equal(bun_kms_secret_put(k, sys, "p_r", name, name, strlen(name), NULL, err, sizeof err), 0);
    }
    assert_int_equal(bun_kms_key_create(k, sys, "p_r", "e", BUN_KMS_ED25519, err, sizeof err), 0);
    uint8_t k2[32];
    memset(k2, 7, sizeof k2);
    assert_int_equal(kms_rotate_master(k, k2, err, sizeof err), 0);
    assert_int_equal(kms_rotate_master(k, k2, err, sizeof err), BB_EINVAL); /* the current one */
    json_t *st = kms_master_status(k);
    assert_int_equal(json_integer_value(json_object_get(st, "pending")), 0);
    json_decref(st);
    kms_free(k);

    struct kms_config c = config(K1);
    struct bun_kms *k3 = NULL;
    assert_int_equal(kms_new(&c, dir, &k3, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "wrong master key"));
    k = open_kms("0707070707070707070707070707070707070707070707070707070707070707");
    void *val = NULL;
    size_t len = 0;
    assert_int_equal(bun_kms_secret_get(k, sys, "p_r", "s3", 0, &val, &len, err, sizeof err), 0);
    assert_memory_equal(val, "s3", 2);
    free(val);
    kms_free(k);
}

/* the parsed-key cache never serves a deleted key's material to a new key of the same name */
static void test_key_cache_after_delete(void **state)
{
    (void)state;
    struct bun_kms *k = open_kms(K1);
    const struct bb_identity *sys = bun_kms_system_identity();
    char kid1[BUN_KMS_KID_MAX + 1], kid2[BUN_KMS_KID_MAX + 1];
    unsigned char *sig = NULL;
    size_t sl = 0;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(bun_kms_key_create(k, sys, "p_c", "cc", BUN_KMS_ED25519, err, sizeof err), 0);
        char *kid = round ? kid2 : kid1;
        for (int i = 0; i < 2; i++) { /* the second sign is served from the cache */
            assert_int_equal(bun_kms_sign(k, sys, "p_c", "cc", "EdDSA", 0, "m", 1, &sig, &sl, kid, err, sizeof err), 0);
            assert_int_equal(bun_kms_verify(k, sys, "p_c", "cc", "EdDSA", 0, kid, "m", 1, sig, sl, err, sizeof err), 0);
            free(sig);
        }
        if (round == 0) assert_int_equal(bun_kms_key_delete(k, sys, "p_c", "cc", err, sizeof err), 0);
    }
    assert_string_not_equal(kid1, kid2);
    assert_int_equal(bun_kms_namespace_drop(k, sys, "p_c", err, sizeof err), 0);
    assert_int_equal(bun_kms_sign(k, sys, "p_c", "cc", "EdDSA", 0, "m", 1, &sig, &sl, kid1, err, sizeof err), BB_ENOTFOUND);
    kms_free(k);
}

static void test_count_limits(void **state)
{
    (void)state;
    struct kms_config c = config(K1);
    c.max_versions = 3;
    c.max_per_ns = 3;
    struct bun_kms *k = NULL;
    assert_int_equal(kms_new(&c, dir, &k, err, sizeof err), 0);
    const struct bb_identity *sys = bun_kms_system_identity();
    for (int i = 0; i < 3; i++)
        assert_int_equal(bun_kms_secret_put(k, sys, "p_l", "s", "v", 1, NULL, err, sizeof err), 0);
    assert_int_equal(bun_kms_secret_put(k, sys, "p_l", "s", "v", 1, NULL, err, sizeof err), BB_ELIMIT);
    assert_non_null(strstr(err, "BUNBASE_BUN_KMS_MAX_VERSIONS"));
    assert_int_equal(bun_kms_key_create(k, sys, "p_l", "k", BUN_KMS_AES256_GCM, err, sizeof err), 0);
    assert_int_equal(bun_kms_key_rotate(k, sys, "p_l", "k", NULL, err, sizeof err), 0);
    assert_int_equal(bun_kms_key_rotate(k, sys, "p_l", "k", NULL, err, sizeof err), 0);
    assert_int_equal(bun_kms_key_rotate(k, sys, "p_l", "k", NULL, err, sizeof err), BB_ELIMIT);
    assert_int_equal(bun_kms_secret_put(k, sys, "p_l", "t", "v", 1, NULL, err, sizeof err), 0);
    assert_int_equal(bun_kms_secret_put(k, sys, "p_l", "u", "v", 1, NULL, err, sizeof err), BB_ELIMIT);
    assert_non_null(strstr(err, "BUNBASE_BUN_KMS_MAX_PER_NAMESPACE"));
    assert_int_equal(bun_kms_key_create(k, sys, "p_l", "k2", BUN_KMS_ED25519, err, sizeof err), BB_ELIMIT);
    assert_int_equal(bun_kms_secret_put(k, sys, "p_other", "u", "v", 1, NULL, err, sizeof err), 0);
    kms_free(k);
}

static void put_file(const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/bun_kms/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
}

static int has_file(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/bun_kms/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void read_file(const char *name, char *buf, size_t cap)
{
    char path[400];
    snprintf(path, sizeof path, "%s/bun_kms/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* The generated key file and crashes around a rotation's file steps. */
static void test_generated_key_crash_points(void **state)
{
    (void)state;
    const struct bb_identity *sys = bun_kms_system_identity();
    struct bun_kms *k = open_kms(NULL);
    assert_int_equal(bun_kms_secret_put(k, sys, "p_g", "s", "v", 1, NULL, err, sizeof err), 0);
    kms_free(k);
    char old[128], cur[128];
    read_file("master.key", old, sizeof old);
    /* 1. master.key.new written, then a crash before the rotation's first transaction */
    put_file("master.key.new", "0909090909090909090909090909090909090909090909090909090909090909");
    k = open_kms(NULL);
    assert_false(has_file("master.key.new"));
    read_file("master.key", cur, sizeof cur);
    assert_string_equal(cur, old);
    /* 2. a full rotation, then the state of a crash before the rename */
    uint8_t nk[32];
    memset(nk, 0x0a, sizeof nk);
    assert_int_equal(kms_rotate_master(k, nk, err, sizeof err), 0);
    kms_free(k);
    assert_false(has_file("master.key.new"));
    read_file("master.key", cur, sizeof cur);
    assert_string_not_equal(cur, old);
    put_file("master.key.new", cur);
    put_file("master.key", old);
    k = open_kms(NULL);
    assert_false(has_file("master.key.new"));
    read_file("master.key", old, sizeof old);
    assert_string_equal(old, cur);
    void *val = NULL;
    size_t len = 0;
    assert_int_equal(bun_kms_secret_get(k, sys, "p_g", "s", 0, &val, &len, err, sizeof err), 0);
    free(val);
    kms_free(k);
}

static void test_audit_bound(void **state)
{
    (void)state;
    struct kms_config c = config(K1);
    c.audit_max_rows = 100;
    struct bun_kms *k = NULL;
    assert_int_equal(kms_new(&c, dir, &k, err, sizeof err), 0);
    json_t *page = NULL;
    for (int i = 0; i < 600; i++) {
        assert_int_equal(kms_secret_list(k, bun_kms_system_identity(), "p_x", "", 1, &page, err, sizeof err), 0);
        json_decref(page);
    }
    json_t *a = NULL;
    assert_int_equal(kms_audit_query(k, NULL, NULL, NULL, 0, 0, 0, 1000, &a), 0);
    size_t n = json_array_size(json_object_get(a, "records"));
    assert_true(n >= 100 && n < 100 + 256);
    /* the newest are kept */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(a, "records"), 0), "id")), 600);
    json_decref(a);
    kms_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_key),
        cmocka_unit_test(test_gcm),
        cmocka_unit_test_setup_teardown(test_keys_all_algorithms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_kid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_roles_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_and_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_cache_after_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generated_key_crash_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_bound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
