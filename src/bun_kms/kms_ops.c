/* kms_ops.c — bun-kms's operations (bun_kms.h): roles, validation, secrets, keys, signatures,
 * AES-GCM, JWKS — every one through OpenSSL EVP, every one audited exactly once.
 *
 * Private keys are stored as PKCS#8 PEM (inside the envelope, kms_store.c), public keys as DER
 * SubjectPublicKeyInfo in clear. A key's kid is the RFC 7638 thumbprint of its public JWK (a
 * random id for AES keys, which have no public half).
 */
#include "kms_int.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_id.h"
#include "bb_identity.h"
#include "bb_log.h"
#include "bb_time.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETERR(...)                                                                                \
    do {                                                                                           \
        if (err && errcap) snprintf(err, errcap, __VA_ARGS__);                                     \
    } while (0)

static const struct bb_identity system_identity = {.kind = BB_IDENTITY_INTERNAL_SERVICE,
                                                   .resolver = "bun-kms"};

const struct bb_identity *bun_kms_system_identity(void)
{
    return &system_identity;
}

static const char *const type_names[] = {"aes256-gcm", "ed25519", "ecdsa-p256", "rsa-2048",
                                         "rsa-3072"};

const char *bun_kms_key_type_name(enum bun_kms_key_type t)
{
    return (unsigned)t < 5 ? type_names[t] : "?";
}

int bun_kms_key_type_parse(const char *s, enum bun_kms_key_type *out)
{
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum bun_kms_key_type)i;
            return 0;
        }
    return BB_EINVAL;
}

/* ------------------------------------------------------------------ checks */

enum need { NEED_READ, NEED_USE, NEED_WRITE, NEED_ADMIN };

static int ns_valid(const char *ns)
{
    if (!ns) return 0;
    if (strcmp(ns, BUN_KMS_SYSTEM_NS) == 0) return 1;
    return ns[0] != '_' && bb_project_id_valid(ns, strlen(ns));
}

static int name_valid(const char *s)
{
    if (!s || !*s || s[0] == '.') return 0;
    size_t n = strlen(s);
    if (n > BUN_KMS_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Roles (bun_kms.h). 0 or BB_EPERM / BB_EINVAL with err. */
static int check(const struct bb_identity *who, const char *ns, const char *name, int need_name,
                 enum need need, char *err, size_t errcap)
{
    if (!ns_valid(ns)) {
        SETERR("invalid namespace: a project id ([A-Za-z0-9_-], 1 to %d characters, not starting "
               "with '_') or \"_system\"",
               BB_PROJECT_ID_MAX);
        return BB_EINVAL;
    }
    if (need_name && !name_valid(name)) {
        SETERR("invalid name: 1 to %d characters of [A-Za-z0-9_.-], not starting with '.'",
               BUN_KMS_NAME_MAX);
        return BB_EINVAL;
    }
    if (!who) {
        SETERR("no identity");
        return BB_EPERM;
    }
    if (who->kind == BB_IDENTITY_INTERNAL_SERVICE || who->kind == BB_IDENTITY_INTERNAL_ADMIN)
        return 0;
    int own = who->project_id[0] && strcmp(who->project_id, ns) == 0;
    if (who->kind == BB_IDENTITY_PROJECT_KEY_SECRET && own && need != NEED_ADMIN) return 0;
    if (who->kind == BB_IDENTITY_PROJECT_KEY_PUBLIC && own && need == NEED_READ) return 0;
    if (who->kind == BB_IDENTITY_PROJECT_KEY_SECRET || who->kind == BB_IDENTITY_PROJECT_KEY_PUBLIC)
        SETERR(own ? "this key's role may not do that (read-only: list, metadata, verify, public "
                     "keys)"
                   : "a project's key may only use its own project's namespace");
    else SETERR("identity %s has no role in bun-kms", bb_identity_kind_name(who->kind));
    return BB_EPERM;
}

static void ident_of(char *buf, size_t cap, const char *kind, const char *ns, const char *name,
                     int version)
{
    snprintf(buf, cap, "%s|%s|%s|%d", kind, ns, name, version);
}

static void wipe_free(void *p, size_t n)
{
    if (!p) return;
    OPENSSL_cleanse(p, n);
    free(p);
}

/* ------------------------------------------------------------------ private-key cache */

/* A shared parsed key. Its references are counted here (C11 atomics) rather than with
 * EVP_PKEY_up_ref, whose atomics inside libcrypto no race detector can see. */
struct pkref {
    atomic_int refs;
    EVP_PKEY *p;
};

static struct pkref *pkref_new(EVP_PKEY *p)
{
    struct pkref *r = malloc(sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    r->p = p;
    return r;
}

static void pkref_put(struct pkref *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        EVP_PKEY_free(r->p);
        free(r);
    }
}

struct kms_pkslot {
    char ident[600]; /* "key|ns|name|version"; "" = empty */
    struct pkref *r;
};

int kms_pkcache_init(struct bun_kms *k)
{
    k->pk = calloc(KMS_PK_SLOTS, sizeof *k->pk);
    if (!k->pk) return BB_ENOMEM;
    pthread_mutex_init(&k->pkmu, NULL);
    return 0;
}

static void pkcache_clear(struct bun_kms *k)
{
    pthread_mutex_lock(&k->pkmu);
    for (size_t i = 0; i < KMS_PK_SLOTS; i++) {
        pkref_put(k->pk[i].r);
        memset(&k->pk[i], 0, sizeof k->pk[i]);
    }
    pthread_mutex_unlock(&k->pkmu);
}

void kms_pkcache_release(struct bun_kms *k)
{
    if (!k->pk) return;
    pkcache_clear(k);
    pthread_mutex_destroy(&k->pkmu);
    free(k->pk);
    k->pk = NULL;
}

static size_t pk_slot(const char *ident)
{
    uint8_t d[BB_SHA256_LEN];
    bb_sha256(ident, strlen(ident), d);
    return ((size_t)d[0] << 8 | d[1]) % KMS_PK_SLOTS;
}

/* A new reference to the cached key (pkref_put it), or NULL. */
static struct pkref *pkcache_get(struct bun_kms *k, const char *ident)
{
    struct kms_pkslot *s = &k->pk[pk_slot(ident)];
    struct pkref *r = NULL;
    pthread_mutex_lock(&k->pkmu);
    if (s->r && strcmp(s->ident, ident) == 0) {
        r = s->r;
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&k->pkmu);
    return r;
}

/* The cache takes a reference of its own to r. */
static void pkcache_put(struct bun_kms *k, const char *ident, struct pkref *r)
{
    struct kms_pkslot *s = &k->pk[pk_slot(ident)];
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    pthread_mutex_lock(&k->pkmu);
    struct pkref *old = s->r;
    snprintf(s->ident, sizeof s->ident, "%s", ident);
    s->r = r;
    pthread_mutex_unlock(&k->pkmu);
    pkref_put(old);
}

/* ------------------------------------------------------------------ secrets */

/* Secrets (by name) and keys of ns together (mu held). */
static int64_t ns_items(struct bun_kms *k, const char *ns)
{
    sqlite3_stmt *st = NULL;
    int64_t n = INT64_MAX; /* unknown: refuse rather than grow without a bound */
    if (sqlite3_prepare_v2(k->db,
                           "SELECT (SELECT count(DISTINCT name) FROM secrets WHERE ns = ?1) + "
                           "(SELECT count(*) FROM keys WHERE ns = ?1)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static int secret_put(struct bun_kms *k, const char *ns, const char *name, const void *value,
                      size_t len, int *version, char *err, size_t errcap)
{
    if (len > k->c.secret_max) {
        SETERR("secret value too large: %zu bytes (max %llu, BUNBASE_BUN_KMS_SECRET_MAX)", len,
               (unsigned long long)k->c.secret_max);
        return BB_ETOOBIG;
    }
    pthread_mutex_lock(&k->mu);
    int rc = kms_begin(k, 1), v = 0;
    sqlite3_stmt *st = NULL;
    uint8_t *wdek = NULL, *ct = NULL;
    size_t wl = 0, cl = 0;
    char mkid[KMS_MKID_LEN + 1], ident[600];
    if (rc) goto out;
    rc = BB_EIO;
    if (sqlite3_prepare_v2(k->db, "SELECT coalesce(max(version), 0) FROM secrets WHERE ns = ?1 AND name = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) goto out;
    v = sqlite3_column_int(st, 0) + 1;
    sqlite3_finalize(st);
    st = NULL;
    if ((uint64_t)v > k->c.max_versions) {
        SETERR("secret %s has %d versions (max %llu, BUNBASE_BUN_KMS_MAX_VERSIONS): delete it to "
               "start over", name, v - 1, (unsigned long long)k->c.max_versions);
        rc = BB_ELIMIT;
        goto out;
    }
    if (v == 1 && ns_items(k, ns) >= (int64_t)k->c.max_per_ns) {
        SETERR("namespace %s holds %llu secrets and keys (max, BUNBASE_BUN_KMS_MAX_PER_NAMESPACE)",
               ns, (unsigned long long)k->c.max_per_ns);
        rc = BB_ELIMIT;
        goto out;
    }
    ident_of(ident, sizeof ident, "secret", ns, name, v);
    rc = kms_envelope_seal(k, ident, value, len, &wdek, &wl, &ct, &cl, mkid);
    if (rc) goto out;
    rc = BB_EIO;
    if (sqlite3_prepare_v2(k->db,
                           "INSERT INTO secrets(ns, name, version, created_at_ms, size, mk_id, "
                           "wdek, ct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, v);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)bb_time_wall_ms());
    sqlite3_bind_int64(st, 5, (sqlite3_int64)len);
    sqlite3_bind_text(st, 6, mkid, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, wdek, (int)wl, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, ct, (int)cl, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto out;
    rc = kms_commit(k);
out:
    sqlite3_finalize(st);
    if (rc) kms_rollback(k);
    pthread_mutex_unlock(&k->mu);
    free(wdek);
    free(ct);
    if (rc == 0 && version) *version = v;
    if (rc && err && !err[0]) SETERR("cannot store the secret: %s", bb_strerror(rc));
    return rc;
}

int bun_kms_secret_put(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, const void *value, size_t len, int *version, char *err,
                       size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int v = 0, rc = check(who, ns, name, 1, NEED_WRITE, err, errcap);
    if (rc == 0) rc = secret_put(k, ns, name, value, len, &v, err, errcap);
    kms_audit(k, who, "secret.put", ns, name, v, rc, 1);
    if (rc == 0 && version) *version = v;
    return rc;
}

static int secret_get(struct bun_kms *k, const char *ns, const char *name, int *version,
                      void **value, size_t *len, char *err, size_t errcap)
{
    sqlite3_stmt *st = NULL;
    int rc = BB_EIO;
    pthread_mutex_lock(&k->mu);
    if (sqlite3_prepare_v2(k->db,
                           "SELECT version, mk_id, wdek, ct FROM secrets WHERE ns = ?1 AND name = "
                           "?2 AND (?3 = 0 OR version = ?3) ORDER BY version DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, *version);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            int v = sqlite3_column_int(st, 0);
            char ident[600], mkid[KMS_MKID_LEN + 1];
            ident_of(ident, sizeof ident, "secret", ns, name, v);
            snprintf(mkid, sizeof mkid, "%s", (const char *)sqlite3_column_text(st, 1));
            uint8_t *pt = NULL;
            size_t pl = 0;
            rc = kms_envelope_open(k, ident, mkid, sqlite3_column_blob(st, 2),
                                   (size_t)sqlite3_column_bytes(st, 2), sqlite3_column_blob(st, 3),
                                   (size_t)sqlite3_column_bytes(st, 3), &pt, &pl);
            if (rc == 0) {
                *value = pt;
                *len = pl;
                *version = v;
            }
        } else if (s == SQLITE_DONE) {
            rc = BB_ENOTFOUND;
            if (*version) SETERR("secret %s has no version %d", name, *version);
            else SETERR("no secret %s", name);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&k->mu);
    return rc;
}

int kms_secret_get_version(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                           const char *name, int version, int *read, void **value, size_t *len,
                           char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int v = version, rc = check(who, ns, name, 1, NEED_USE, err, errcap);
    if (rc == 0 && version < 0) {
        SETERR("version must be 0 (latest) or a positive integer");
        rc = BB_EINVAL;
    }
    if (rc == 0) rc = secret_get(k, ns, name, &v, value, len, err, errcap);
    kms_audit(k, who, "secret.get", ns, name, v, rc, 1);
    if (rc == 0 && read) *read = v;
    return rc;
}

int bun_kms_secret_get(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, int version, void **value, size_t *len, char *err,
                       size_t errcap)
{
    return kms_secret_get_version(k, who, ns, name, version, NULL, value, len, err, errcap);
}

static int delete_rows(struct bun_kms *k, const char *const *sql, size_t nsql, const char *ns,
                       const char *name, int *changed)
{
    pthread_mutex_lock(&k->mu);
    int rc = kms_begin(k, 1);
    *changed = 0;
    for (size_t i = 0; rc == 0 && i < nsql; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(k->db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            rc = BB_EIO;
            break;
        }
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        if (name) sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        else *changed += sqlite3_changes(k->db);
        sqlite3_finalize(st);
    }
    if (rc == 0) rc = kms_commit(k);
    else kms_rollback(k);
    pthread_mutex_unlock(&k->mu);
    return rc;
}

int bun_kms_secret_delete(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                          const char *name, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_WRITE, err, errcap), n = 0;
    if (rc == 0) {
        static const char *const sql[] = {"DELETE FROM secrets WHERE ns = ?1 AND name = ?2"};
        rc = delete_rows(k, sql, 1, ns, name, &n);
        if (rc == 0 && n == 0) {
            rc = BB_ENOTFOUND;
            SETERR("no secret %s", name);
        }
    }
    kms_audit(k, who, "secret.delete", ns, name, 0, rc, 1);
    return rc;
}

int bun_kms_namespace_drop(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                           char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, NULL, 0, NEED_ADMIN, err, errcap), n = 0;
    if (rc == 0) {
        static const char *const sql[] = {"DELETE FROM secrets WHERE ns = ?1",
                                          "DELETE FROM key_versions WHERE ns = ?1",
                                          "DELETE FROM keys WHERE ns = ?1"};
        rc = delete_rows(k, sql, 3, ns, NULL, &n);
        pkcache_clear(k);
    }
    kms_audit(k, who, "namespace.drop", ns, NULL, 0, rc, 1);
    return rc;
}

static int list_page(struct bun_kms *k, const char *sql, const char *ns, const char *cursor,
                     int limit, const char *field, json_t **out)
{
    pthread_mutex_lock(&k->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(k->db, sql, -1, &st, NULL) == SQLITE_OK ? 0 : BB_EIO;
    json_t *arr = json_array();
    char last[BUN_KMS_NAME_MAX + 1] = "";
    int n = 0;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, cursor ? cursor : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, limit + 1);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n++ == limit) break;
            json_t *e = json_object();
            int nc = sqlite3_column_count(st);
            for (int i = 0; i < nc; i++) {
                int t = sqlite3_column_type(st, i);
                json_object_set_new(e, sqlite3_column_name(st, i),
                                    t == SQLITE_INTEGER
                                        ? json_integer(sqlite3_column_int64(st, i))
                                        : json_string((const char *)sqlite3_column_text(st, i)));
            }
            snprintf(last, sizeof last, "%s", (const char *)sqlite3_column_text(st, 0));
            json_array_append_new(arr, e);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&k->mu);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = json_pack("{s:o,s:s?}", field, arr, "next_cursor", n > limit ? last : NULL);
    return *out ? 0 : BB_ENOMEM;
}

int kms_secret_list(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *cursor, int limit, json_t **out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, NULL, 0, NEED_READ, err, errcap);
    if (rc == 0)
        rc = list_page(k,
                       "SELECT name, max(version) AS latest_version, count(*) AS versions, "
                       "min(created_at_ms) AS created_at_ms, max(created_at_ms) AS updated_at_ms, "
                       "(SELECT size FROM secrets s2 WHERE s2.ns = s.ns AND s2.name = s.name ORDER "
                       "BY version DESC LIMIT 1) AS size FROM secrets s WHERE ns = ?1 AND name > "
                       "?2 GROUP BY name ORDER BY name LIMIT ?3",
                       ns, cursor, limit, "secrets", out);
    kms_audit(k, who, "secret.list", ns, NULL, 0, rc, 1);
    return rc;
}

int kms_key_list(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *cursor, int limit, json_t **out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, NULL, 0, NEED_READ, err, errcap);
    if (rc == 0)
        rc = list_page(k,
                       "SELECT name, type, current_version, created_at_ms FROM keys WHERE ns = ?1 "
                       "AND name > ?2 ORDER BY name LIMIT ?3",
                       ns, cursor, limit, "keys", out);
    kms_audit(k, who, "key.list", ns, NULL, 0, rc, 1);
    return rc;
}

/* ------------------------------------------------------------------ key material */

static EVP_PKEY *keygen(enum bun_kms_key_type t)
{
    switch (t) {
    case BUN_KMS_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case BUN_KMS_ECDSA_P256: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case BUN_KMS_RSA_2048: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case BUN_KMS_RSA_3072: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    default: return NULL;
    }
}

static int pkey_matches(EVP_PKEY *p, enum bun_kms_key_type t)
{
    switch (t) {
    case BUN_KMS_ED25519: return EVP_PKEY_get_id(p) == EVP_PKEY_ED25519;
    case BUN_KMS_ECDSA_P256: {
        char g[32] = "";
        size_t gl = 0;
        return EVP_PKEY_get_id(p) == EVP_PKEY_EC &&
               EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &gl) == 1 &&
               strcmp(g, "prime256v1") == 0;
    }
    case BUN_KMS_RSA_2048: return EVP_PKEY_get_id(p) == EVP_PKEY_RSA && EVP_PKEY_get_bits(p) == 2048;
    case BUN_KMS_RSA_3072: return EVP_PKEY_get_id(p) == EVP_PKEY_RSA && EVP_PKEY_get_bits(p) == 3072;
    default: return 0;
    }
}

static void b64u_bn(EVP_PKEY *p, const char *param, size_t pad, char *out, size_t cap)
{
    BIGNUM *bn = NULL;
    out[0] = '\0';
    if (EVP_PKEY_get_bn_param(p, param, &bn) != 1) return;
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    if (n > 0) bb_base64url_encode(buf, (size_t)n, out, cap);
    BN_free(bn);
}

/* The public JWK of p (no kid/alg/use) and its RFC 7638 thumbprint. */
static json_t *public_jwk(EVP_PKEY *p, char kid[BUN_KMS_KID_MAX + 1])
{
    char x[700], y[100], buf[900];
    int n = -1;
    json_t *j = NULL;
    if (EVP_PKEY_get_id(p) == EVP_PKEY_ED25519) {
        uint8_t raw[32];
        size_t rl = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(p, raw, &rl) != 1) return NULL;
        bb_base64url_encode(raw, rl, x, sizeof x);
        n = snprintf(buf, sizeof buf, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
        j = json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
    } else if (EVP_PKEY_get_id(p) == EVP_PKEY_EC) {
        b64u_bn(p, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof x);
        b64u_bn(p, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof y);
        n = snprintf(buf, sizeof buf, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                     x, y);
        j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
    } else if (EVP_PKEY_get_id(p) == EVP_PKEY_RSA) {
        b64u_bn(p, OSSL_PKEY_PARAM_RSA_N, 0, x, sizeof x);
        b64u_bn(p, OSSL_PKEY_PARAM_RSA_E, 0, y, sizeof y);
        n = snprintf(buf, sizeof buf, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", y, x);
        j = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", x, "e", y);
    }
    if (!j || n < 0 || (size_t)n >= sizeof buf) {
        json_decref(j);
        return NULL;
    }
    uint8_t d[BB_SHA256_LEN];
    bb_sha256(buf, (size_t)n, d);
    bb_base64url_encode(d, sizeof d, kid, BUN_KMS_KID_MAX + 1);
    return j;
}

/* Secret material of a new version: PKCS#8 PEM (or 32 raw bytes for AES), public DER, kid. */
struct material {
    uint8_t *priv;
    size_t privlen;
    uint8_t *pub;
    size_t publen;
    char kid[BUN_KMS_KID_MAX + 1];
};

static void material_release(struct material *m)
{
    wipe_free(m->priv, m->privlen);
    free(m->pub);
    memset(m, 0, sizeof *m);
}

static int material_from_pkey(EVP_PKEY *p, struct material *m)
{
    json_t *jwk = public_jwk(p, m->kid);
    if (!jwk) return BB_EINTERNAL;
    json_decref(jwk);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pl = 0;
    int rc = BB_EINTERNAL;
    if (b && PEM_write_bio_PrivateKey(b, p, NULL, NULL, 0, NULL, NULL) == 1 &&
        (pl = BIO_get_mem_data(b, &pem)) > 0 && (m->priv = malloc((size_t)pl))) {
        memcpy(m->priv, pem, (size_t)pl);
        m->privlen = (size_t)pl;
        OPENSSL_cleanse(pem, (size_t)pl);
        unsigned char *der = NULL;
        int dl = i2d_PUBKEY(p, &der);
        if (dl > 0) {
            m->pub = malloc((size_t)dl);
            if (m->pub) {
                memcpy(m->pub, der, (size_t)dl);
                m->publen = (size_t)dl;
                rc = 0;
            }
            OPENSSL_free(der);
        }
    }
    BIO_free(b);
    if (rc) material_release(m);
    return rc;
}

static int material_new(enum bun_kms_key_type t, const char *pem, struct material *m, char *err,
                        size_t errcap)
{
    memset(m, 0, sizeof *m);
    if (t == BUN_KMS_AES256_GCM) {
        m->priv = malloc(KMS_KEY_LEN);
        if (!m->priv) return BB_ENOMEM;
        m->privlen = KMS_KEY_LEN;
        if (pem && kms_parse_key(pem, strlen(pem), m->priv) != 0) {
            material_release(m);
            SETERR("an imported aes256-gcm key is 32 bytes as base64 or hex");
            return BB_EINVAL;
        }
        uint8_t id[16];
        if ((!pem && bb_random_bytes(m->priv, KMS_KEY_LEN) != 0) ||
            bb_random_bytes(id, sizeof id) != 0) {
            material_release(m);
            return BB_EINTERNAL;
        }
        bb_base64url_encode(id, sizeof id, m->kid, sizeof m->kid);
        return 0;
    }
    EVP_PKEY *p = NULL;
    if (pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        p = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        if (!p || !pkey_matches(p, t)) {
            EVP_PKEY_free(p);
            SETERR("the imported key is not a %s private key (PKCS#8 PEM)", bun_kms_key_type_name(t));
            return BB_EINVAL;
        }
    } else {
        p = keygen(t);
        if (!p) {
            SETERR("key generation failed");
            return BB_EINTERNAL;
        }
    }
    int rc = material_from_pkey(p, m);
    EVP_PKEY_free(p);
    return rc;
}

/* Inserts version v of (ns, name) (mu held, in a transaction). */
static int version_insert(struct bun_kms *k, const char *ns, const char *name, int v,
                          const struct material *m)
{
    char ident[600], mkid[KMS_MKID_LEN + 1];
    uint8_t *wdek = NULL, *ct = NULL;
    size_t wl = 0, cl = 0;
    ident_of(ident, sizeof ident, "key", ns, name, v);
    int rc = kms_envelope_seal(k, ident, m->priv, m->privlen, &wdek, &wl, &ct, &cl, mkid);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    rc = BB_EIO;
    if (sqlite3_prepare_v2(k->db,
                           "INSERT INTO key_versions(ns, name, version, created_at_ms, kid, pub, "
                           "mk_id, wdek, ct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, v);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)bb_time_wall_ms());
        sqlite3_bind_text(st, 5, m->kid, -1, SQLITE_STATIC);
        if (m->pub) sqlite3_bind_blob(st, 6, m->pub, (int)m->publen, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, mkid, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 8, wdek, (int)wl, SQLITE_STATIC);
        sqlite3_bind_blob(st, 9, ct, (int)cl, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
    }
    sqlite3_finalize(st);
    free(wdek);
    free(ct);
    return rc;
}

/* The key's type and current version (mu held). BB_ENOTFOUND. */
static int key_head(struct bun_kms *k, const char *ns, const char *name,
                    enum bun_kms_key_type *type, int *current)
{
    sqlite3_stmt *st = NULL;
    int rc = BB_EIO;
    if (sqlite3_prepare_v2(k->db, "SELECT type, current_version FROM keys WHERE ns = ?1 AND name = ?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            rc = bun_kms_key_type_parse((const char *)sqlite3_column_text(st, 0), type);
            if (rc) rc = BB_EINTERNAL;
            *current = sqlite3_column_int(st, 1);
        } else if (s == SQLITE_DONE) {
            rc = BB_ENOTFOUND;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int key_create(struct bun_kms *k, const char *ns, const char *name,
                      enum bun_kms_key_type type, const char *const *pem, size_t npem, char *err,
                      size_t errcap)
{
    if ((unsigned)type > BUN_KMS_RSA_3072) {
        SETERR("unknown key type");
        return BB_EINVAL;
    }
    size_t nv = pem ? npem : 1;
    if (nv == 0 || nv > 64) {
        SETERR("import 1 to 64 versions");
        return BB_EINVAL;
    }
    /* generation (RSA: up to a second) happens outside the lock */
    struct material *m = calloc(nv, sizeof *m);
    if (!m) return BB_ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nv; i++)
        rc = material_new(type, pem ? pem[i] : NULL, &m[i], err, errcap);
    if (rc == 0) {
        pthread_mutex_lock(&k->mu);
        enum bun_kms_key_type t0;
        int cur = 0;
        rc = kms_begin(k, 1);
        if (rc == 0) {
            rc = key_head(k, ns, name, &t0, &cur);
            if (rc == 0) {
                rc = BB_EEXIST;
                SETERR("key %s already exists", name);
            } else if (rc == BB_ENOTFOUND && ns_items(k, ns) >= (int64_t)k->c.max_per_ns) {
                rc = BB_ELIMIT;
                SETERR("namespace %s holds %llu secrets and keys (max, "
                       "BUNBASE_BUN_KMS_MAX_PER_NAMESPACE)",
                       ns, (unsigned long long)k->c.max_per_ns);
            } else if (rc == BB_ENOTFOUND && nv > k->c.max_versions) {
                rc = BB_ELIMIT;
                SETERR("more versions than BUNBASE_BUN_KMS_MAX_VERSIONS");
            } else if (rc == BB_ENOTFOUND) {
                sqlite3_stmt *st = NULL;
                rc = BB_EIO;
                if (sqlite3_prepare_v2(k->db,
                                       "INSERT INTO keys(ns, name, type, current_version, "
                                       "created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                                       -1, &st, NULL) == SQLITE_OK) {
                    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
                    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
                    sqlite3_bind_text(st, 3, bun_kms_key_type_name(type), -1, SQLITE_STATIC);
                    sqlite3_bind_int(st, 4, (int)nv);
                    sqlite3_bind_int64(st, 5, (sqlite3_int64)bb_time_wall_ms());
                    if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
                }
                sqlite3_finalize(st);
                for (size_t i = 0; rc == 0 && i < nv; i++)
                    rc = version_insert(k, ns, name, (int)i + 1, &m[i]);
            }
            if (rc == 0) rc = kms_commit(k);
            else kms_rollback(k);
        }
        pthread_mutex_unlock(&k->mu);
    }
    for (size_t i = 0; i < nv; i++)
        material_release(&m[i]);
    free(m);
    return rc;
}

int bun_kms_key_create(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, enum bun_kms_key_type type, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_WRITE, err, errcap);
    if (rc == 0) rc = key_create(k, ns, name, type, NULL, 0, err, errcap);
    kms_audit(k, who, "key.create", ns, name, rc == 0 ? 1 : 0, rc, 1);
    return rc;
}

int bun_kms_key_import(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, enum bun_kms_key_type type, const char *const *pem,
                       size_t npem, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_WRITE, err, errcap);
    if (rc == 0 && !pem) rc = BB_EINVAL;
    if (rc == 0) rc = key_create(k, ns, name, type, pem, npem, err, errcap);
    kms_audit(k, who, "key.import", ns, name, rc == 0 ? (int)npem : 0, rc, 1);
    return rc;
}

int bun_kms_key_rotate(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, int *version, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_WRITE, err, errcap), cur = 0;
    enum bun_kms_key_type type = BUN_KMS_AES256_GCM;
    if (rc == 0) {
        pthread_mutex_lock(&k->mu);
        rc = key_head(k, ns, name, &type, &cur);
        pthread_mutex_unlock(&k->mu);
        if (rc == BB_ENOTFOUND) SETERR("no key %s", name);
    }
    struct material m;
    memset(&m, 0, sizeof m);
    if (rc == 0) rc = material_new(type, NULL, &m, err, errcap);
    if (rc == 0) {
        pthread_mutex_lock(&k->mu);
        enum bun_kms_key_type t2;
        rc = kms_begin(k, 1);
        if (rc == 0) rc = key_head(k, ns, name, &t2, &cur); /* a concurrent rotation: next one */
        if (rc == 0 && (uint64_t)cur >= k->c.max_versions) {
            rc = BB_ELIMIT;
            SETERR("key %s has %d versions (max %llu, BUNBASE_BUN_KMS_MAX_VERSIONS)", name, cur,
                   (unsigned long long)k->c.max_versions);
        }
        if (rc == 0) rc = version_insert(k, ns, name, cur + 1, &m);
        if (rc == 0) {
            sqlite3_stmt *st = NULL;
            rc = BB_EIO;
            if (sqlite3_prepare_v2(k->db, "UPDATE keys SET current_version = ?3 WHERE ns = ?1 AND name = ?2",
                                   -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 3, cur + 1);
                if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
            }
            sqlite3_finalize(st);
        }
        if (rc == 0) rc = kms_commit(k);
        else kms_rollback(k);
        pthread_mutex_unlock(&k->mu);
        if (rc == 0) cur++;
    }
    material_release(&m);
    kms_audit(k, who, "key.rotate", ns, name, rc == 0 ? cur : 0, rc, 1);
    if (rc == 0 && version) *version = cur;
    return rc;
}

int bun_kms_key_delete(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_WRITE, err, errcap), n = 0;
    if (rc == 0) {
        static const char *const sql[] = {
            "DELETE FROM key_versions WHERE ns = ?1 AND name = ?2",
            "DELETE FROM keys WHERE ns = ?1 AND name = ?2"};
        rc = delete_rows(k, sql, 2, ns, name, &n);
        pkcache_clear(k);
        if (rc == 0 && n == 0) {
            rc = BB_ENOTFOUND;
            SETERR("no key %s", name);
        }
    }
    kms_audit(k, who, "key.delete", ns, name, 0, rc, 1);
    return rc;
}

struct version_row {
    int version;
    char kid[BUN_KMS_KID_MAX + 1];
    int64_t created_at_ms;
    uint8_t *pub;
    size_t publen;
    uint8_t *priv; /* only when asked for */
    size_t privlen;
};

static void rows_free(struct version_row *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].pub);
        wipe_free(r[i].priv, r[i].privlen);
    }
    free(r);
}

/* Versions of a key, newest first. which: 0 every version, -1 the current one, else that
 * version. priv: also open the private material. BB_ENOTFOUND (err set). */
static int versions_load(struct bun_kms *k, const char *ns, const char *name, int which, int priv,
                         enum bun_kms_key_type *type, int *current, struct version_row **out,
                         size_t *nout, char *err, size_t errcap)
{
    pthread_mutex_lock(&k->mu);
    int rc = key_head(k, ns, name, type, current);
    struct version_row *rows = NULL;
    size_t n = 0, cap = 0;
    if (rc == BB_ENOTFOUND) SETERR("no key %s", name);
    sqlite3_stmt *st = NULL;
    if (rc == 0) {
        int v = which < 0 ? *current : which;
        rc = sqlite3_prepare_v2(k->db,
                                "SELECT version, kid, created_at_ms, pub, mk_id, wdek, ct FROM "
                                "key_versions WHERE ns = ?1 AND name = ?2 AND (?3 = 0 OR version = "
                                "?3) ORDER BY version DESC",
                                -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : BB_EIO;
        if (rc == 0) {
            sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, v);
        }
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? 2 * cap : 4;
                struct version_row *nr = realloc(rows, cap * sizeof *rows);
                if (!nr) {
                    rc = BB_ENOMEM;
                    break;
                }
                rows = nr;
            }
            struct version_row *r = &rows[n];
            memset(r, 0, sizeof *r);
            n++;
            r->version = sqlite3_column_int(st, 0);
            snprintf(r->kid, sizeof r->kid, "%s", (const char *)sqlite3_column_text(st, 1));
            r->created_at_ms = sqlite3_column_int64(st, 2);
            int pl = sqlite3_column_bytes(st, 3);
            if (pl > 0 && (r->pub = malloc((size_t)pl))) {
                memcpy(r->pub, sqlite3_column_blob(st, 3), (size_t)pl);
                r->publen = (size_t)pl;
            }
            if (priv) {
                char ident[600], mkid[KMS_MKID_LEN + 1];
                ident_of(ident, sizeof ident, "key", ns, name, r->version);
                snprintf(mkid, sizeof mkid, "%s", (const char *)sqlite3_column_text(st, 4));
                rc = kms_envelope_open(k, ident, mkid, sqlite3_column_blob(st, 5),
                                       (size_t)sqlite3_column_bytes(st, 5),
                                       sqlite3_column_blob(st, 6),
                                       (size_t)sqlite3_column_bytes(st, 6), &r->priv, &r->privlen);
            }
        }
        if (rc == 0 && n == 0) {
            rc = BB_ENOTFOUND;
            SETERR("key %s has no version %d", name, v);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&k->mu);
    if (rc) {
        rows_free(rows, n);
        return rc;
    }
    *out = rows;
    *nout = n;
    return 0;
}

int kms_key_meta(struct bun_kms *k, const char *ns, const char *name, json_t **out, char *err,
                 size_t errcap)
{
    int cur = 0;
    enum bun_kms_key_type type;
    struct version_row *rows = NULL;
    size_t n = 0;
    int rc = versions_load(k, ns, name, 0, 0, &type, &cur, &rows, &n, err, errcap);
    if (rc) return rc;
    json_t *vs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(vs, json_pack("{s:i,s:s,s:I,s:b}", "version", rows[i].version, "kid",
                                            rows[i].kid, "created_at_ms",
                                            (json_int_t)rows[i].created_at_ms, "current",
                                            rows[i].version == cur));
    *out = json_pack("{s:s,s:s,s:s,s:i,s:o}", "namespace", ns, "name", name, "type",
                     bun_kms_key_type_name(type), "current_version", cur, "versions", vs);
    rows_free(rows, n);
    return *out ? 0 : BB_ENOMEM;
}

int bun_kms_key_get(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, json_t **out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_READ, err, errcap);
    if (rc == 0) rc = kms_key_meta(k, ns, name, out, err, errcap);
    kms_audit(k, who, "key.get", ns, name, 0, rc, 1);
    return rc;
}

/* ------------------------------------------------------------------ signatures */

static int alg_fits(const char *alg, enum bun_kms_key_type t)
{
    if (!alg) return 0;
    if (!strcmp(alg, "EdDSA")) return t == BUN_KMS_ED25519;
    if (!strcmp(alg, "ES256")) return t == BUN_KMS_ECDSA_P256;
    if (!strcmp(alg, "RS256") || !strcmp(alg, "PS256"))
        return t == BUN_KMS_RSA_2048 || t == BUN_KMS_RSA_3072;
    return 0;
}

static const char *default_alg(enum bun_kms_key_type t)
{
    switch (t) {
    case BUN_KMS_ED25519: return "EdDSA";
    case BUN_KMS_ECDSA_P256: return "ES256";
    case BUN_KMS_RSA_2048:
    case BUN_KMS_RSA_3072: return "RS256";
    default: return NULL;
    }
}

static int check_alg(const char *alg, enum bun_kms_key_type t, char *err, size_t errcap)
{
    if (alg_fits(alg, t)) return 0;
    if (t == BUN_KMS_AES256_GCM) SETERR("an aes256-gcm key cannot sign or verify");
    else SETERR("alg %.16s does not fit a %s key (use %s%s)", alg ? alg : "(none)",
                bun_kms_key_type_name(t), default_alg(t),
                t == BUN_KMS_RSA_2048 || t == BUN_KMS_RSA_3072 ? " or PS256" : "");
    return BB_EINVAL;
}

static int md_ctx_init(EVP_MD_CTX *mc, EVP_PKEY *p, const char *alg, int sign)
{
    EVP_PKEY_CTX *pc = NULL;
    const EVP_MD *md = strcmp(alg, "EdDSA") == 0 ? NULL : EVP_sha256();
    int ok = sign ? EVP_DigestSignInit(mc, &pc, md, NULL, p) : EVP_DigestVerifyInit(mc, &pc, md, NULL, p);
    if (ok != 1) return BB_EINTERNAL;
    if (strcmp(alg, "PS256") == 0 &&
        (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) != 1))
        return BB_EINTERNAL;
    if (strcmp(alg, "RS256") == 0 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1)
        return BB_EINTERNAL;
    return 0;
}

/* ECDSA DER <-> JOSE r||s (32 + 32 bytes). */
static int der_to_jose(const unsigned char *der, size_t dl, unsigned char out[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    if (!s) return BB_EINTERNAL;
    const BIGNUM *r, *ss;
    ECDSA_SIG_get0(s, &r, &ss);
    int ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(ss, out + 32, 32) == 32;
    ECDSA_SIG_free(s);
    return ok ? 0 : BB_EINTERNAL;
}

static int jose_to_der(const unsigned char *in, size_t n, unsigned char **der, size_t *dl)
{
    if (n != 64) return BB_EAUTH;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(in, 32, NULL), *ss = BN_bin2bn(in + 32, 32, NULL);
    if (!s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
        ECDSA_SIG_free(s);
        BN_free(r);
        BN_free(ss);
        return BB_ENOMEM;
    }
    unsigned char *o = NULL;
    int l = i2d_ECDSA_SIG(s, &o);
    ECDSA_SIG_free(s);
    if (l <= 0) return BB_ENOMEM;
    *der = o;
    *dl = (size_t)l;
    return 0;
}

int bun_kms_sign(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *name, const char *alg, int jose, const void *msg, size_t len,
                 unsigned char **sig, size_t *siglen, char kid[BUN_KMS_KID_MAX + 1], char *err,
                 size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_USE, err, errcap), cur = 0, ver = 0;
    enum bun_kms_key_type type;
    struct version_row *rows = NULL;
    size_t n = 0;
    if (rc == 0 && len > k->c.data_max) {
        SETERR("message too large: %zu bytes (max %llu, BUNBASE_BUN_KMS_DATA_MAX)", len,
               (unsigned long long)k->c.data_max);
        rc = BB_ETOOBIG;
    }
    /* the current version's metadata; its parsed private key from the cache, else opened */
    if (rc == 0) rc = versions_load(k, ns, name, -1, 0, &type, &cur, &rows, &n, err, errcap);
    if (rc == 0) rc = check_alg(alg, type, err, errcap);
    if (rc == 0) {
        ver = rows[0].version;
        char ident[600];
        ident_of(ident, sizeof ident, "key", ns, name, ver);
        struct pkref *ref = pkcache_get(k, ident);
        if (!ref) {
            struct version_row *pr = NULL;
            size_t pn = 0;
            int c2 = 0;
            enum bun_kms_key_type t2;
            rc = versions_load(k, ns, name, ver, 1, &t2, &c2, &pr, &pn, err, errcap);
            BIO *b = rc == 0 ? BIO_new_mem_buf(pr[0].priv, (int)pr[0].privlen) : NULL;
            EVP_PKEY *np = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
            BIO_free(b);
            rows_free(pr, pn);
            if (np && !(ref = pkref_new(np))) EVP_PKEY_free(np);
            if (ref) pkcache_put(k, ident, ref);
        }
        EVP_PKEY *p = ref ? ref->p : NULL;
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        size_t sl = 0;
        unsigned char *s = NULL;
        if (rc == 0) rc = p && mc ? md_ctx_init(mc, p, alg, 1) : BB_EINTERNAL;
        if (rc == 0 && (EVP_DigestSign(mc, NULL, &sl, msg, len) != 1 || !(s = malloc(sl ? sl : 1)) ||
                        EVP_DigestSign(mc, s, &sl, msg, len) != 1))
            rc = BB_EINTERNAL;
        if (rc == 0 && jose && strcmp(alg, "ES256") == 0) {
            unsigned char j[64];
            rc = der_to_jose(s, sl, j);
            unsigned char *s2 = rc == 0 ? malloc(64) : NULL;
            if (rc == 0 && !s2) rc = BB_ENOMEM;
            if (rc == 0) {
                memcpy(s2, j, 64);
                free(s);
                s = s2;
                sl = 64;
            }
        }
        EVP_MD_CTX_free(mc);
        pkref_put(ref);
        if (rc == 0) {
            *sig = s;
            *siglen = sl;
            if (kid) snprintf(kid, BUN_KMS_KID_MAX + 1, "%s", rows[0].kid);
        } else {
            free(s);
            if (err && errcap && !err[0]) SETERR("signing failed");
        }
    }
    rows_free(rows, n);
    kms_audit(k, who, "key.sign", ns, name, ver, rc, 1);
    return rc;
}

static int verify_one(const struct version_row *r, const char *alg, int jose, const void *msg,
                      size_t len, const unsigned char *sig, size_t siglen)
{
    const unsigned char *pp = r->pub;
    EVP_PKEY *p = r->pub ? d2i_PUBKEY(NULL, &pp, (long)r->publen) : NULL;
    if (!p) return BB_EINTERNAL;
    unsigned char *der = NULL;
    size_t dl = 0;
    int rc = 0;
    if (jose && strcmp(alg, "ES256") == 0) {
        rc = jose_to_der(sig, siglen, &der, &dl);
        sig = der;
        siglen = dl;
    }
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    if (rc == 0) rc = mc ? md_ctx_init(mc, p, alg, 0) : BB_ENOMEM;
    if (rc == 0) rc = EVP_DigestVerify(mc, sig, siglen, msg, len) == 1 ? 0 : BB_EAUTH;
    EVP_MD_CTX_free(mc);
    EVP_PKEY_free(p);
    OPENSSL_free(der);
    return rc;
}

int bun_kms_verify(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                   const char *name, const char *alg, int jose, const char *kid, const void *msg,
                   size_t len, const void *sig, size_t siglen, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_READ, err, errcap), cur = 0, ver = 0;
    enum bun_kms_key_type type;
    struct version_row *rows = NULL;
    size_t n = 0;
    if (rc == 0 && (len > k->c.data_max || siglen > 4096)) {
        SETERR("message or signature too large (max %llu bytes, BUNBASE_BUN_KMS_DATA_MAX; "
               "signature 4096)",
               (unsigned long long)k->c.data_max);
        rc = BB_ETOOBIG;
    }
    if (rc == 0) rc = versions_load(k, ns, name, 0, 0, &type, &cur, &rows, &n, err, errcap);
    if (rc == 0) rc = check_alg(alg, type, err, errcap);
    if (rc == 0) {
        rc = BB_EAUTH;
        int matched = 0;
        for (size_t i = 0; i < n && rc == BB_EAUTH; i++) {
            if (kid && strcmp(kid, rows[i].kid) != 0) continue;
            matched = 1;
            rc = verify_one(&rows[i], alg, jose, msg, len, sig, siglen);
            if (rc == 0) ver = rows[i].version;
        }
        if (rc == BB_EAUTH) SETERR(kid && !matched ? "no version with that kid" : "invalid signature");
        else if (rc) SETERR("verification failed");
    }
    rows_free(rows, n);
    kms_audit(k, who, "key.verify", ns, name, ver, rc, 1);
    return rc;
}

int bun_kms_jwks(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *name, json_t **out, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_READ, err, errcap), cur = 0;
    enum bun_kms_key_type type;
    struct version_row *rows = NULL;
    size_t n = 0;
    if (rc == 0) rc = versions_load(k, ns, name, 0, 0, &type, &cur, &rows, &n, err, errcap);
    if (rc == 0 && type == BUN_KMS_AES256_GCM) {
        SETERR("an aes256-gcm key has no public key");
        rc = BB_EINVAL;
    }
    if (rc == 0) {
        json_t *keys = json_array();
        for (size_t i = 0; i < n; i++) {
            const unsigned char *pp = rows[i].pub;
            EVP_PKEY *p = rows[i].pub ? d2i_PUBKEY(NULL, &pp, (long)rows[i].publen) : NULL;
            char kid[BUN_KMS_KID_MAX + 1];
            json_t *j = p ? public_jwk(p, kid) : NULL;
            EVP_PKEY_free(p);
            if (!j) continue;
            json_object_set_new(j, "kid", json_string(rows[i].kid));
            json_object_set_new(j, "alg", json_string(default_alg(type)));
            json_object_set_new(j, "use", json_string("sig"));
            json_array_append_new(keys, j);
        }
        *out = json_pack("{s:o}", "keys", keys);
        rc = *out ? 0 : BB_ENOMEM;
    }
    rows_free(rows, n);
    kms_audit(k, who, "key.jwks", ns, name, 0, rc, 1);
    return rc;
}

/* ------------------------------------------------------------------ AES-GCM */

int bun_kms_encrypt(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, const void *pt, size_t ptlen, const void *aad,
                    size_t aadlen, unsigned char **out, size_t *outlen, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_USE, err, errcap), cur = 0, ver = 0;
    enum bun_kms_key_type type;
    struct version_row *rows = NULL;
    size_t n = 0;
    if (rc == 0 && (ptlen > k->c.data_max || aadlen > k->c.data_max)) {
        SETERR("plaintext or aad too large (max %llu bytes, BUNBASE_BUN_KMS_DATA_MAX)",
               (unsigned long long)k->c.data_max);
        rc = BB_ETOOBIG;
    }
    if (rc == 0) rc = versions_load(k, ns, name, -1, 1, &type, &cur, &rows, &n, err, errcap);
    if (rc == 0 && (type != BUN_KMS_AES256_GCM || rows[0].privlen != KMS_KEY_LEN)) {
        SETERR("only an aes256-gcm key encrypts (this one is %s)", bun_kms_key_type_name(type));
        rc = BB_EINVAL;
    }
    if (rc == 0) {
        uint8_t *b = NULL;
        size_t bl = 0;
        ver = rows[0].version;
        rc = kms_gcm_seal(rows[0].priv, aad, aadlen, pt, ptlen, &b, &bl);
        unsigned char *o = rc == 0 ? malloc(bl + 4) : NULL;
        if (rc == 0 && !o) rc = BB_ENOMEM;
        if (rc == 0) {
            o[0] = (unsigned char)(ver >> 24), o[1] = (unsigned char)(ver >> 16);
            o[2] = (unsigned char)(ver >> 8), o[3] = (unsigned char)ver;
            memcpy(o + 4, b, bl);
            *out = o;
            *outlen = bl + 4;
        }
        free(b);
    }
    rows_free(rows, n);
    kms_audit(k, who, "key.encrypt", ns, name, ver, rc, 1);
    return rc;
}

int bun_kms_decrypt(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, const void *ct, size_t ctlen, const void *aad,
                    size_t aadlen, unsigned char **out, size_t *outlen, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    int rc = check(who, ns, name, 1, NEED_USE, err, errcap), cur = 0, ver = 0;
    enum bun_kms_key_type type;
    struct version_row *rows = NULL;
    size_t n = 0;
    const unsigned char *c = ct;
    if (rc == 0 && (ctlen > k->c.data_max + 4 + KMS_GCM_OVERHEAD || aadlen > k->c.data_max)) {
        SETERR("ciphertext or aad too large (max %llu bytes, BUNBASE_BUN_KMS_DATA_MAX)",
               (unsigned long long)k->c.data_max);
        rc = BB_ETOOBIG;
    }
    if (rc == 0 && ctlen < 4 + KMS_GCM_OVERHEAD) {
        SETERR("ciphertext too short (version, nonce and tag: at least %d bytes)",
               4 + KMS_GCM_OVERHEAD);
        rc = BB_EINVAL;
    }
    if (rc == 0) {
        ver = (int)(((uint32_t)c[0] << 24) | ((uint32_t)c[1] << 16) | ((uint32_t)c[2] << 8) | c[3]);
        if (ver <= 0) {
            SETERR("ciphertext names no valid key version");
            rc = BB_EINVAL;
        }
    }
    if (rc == 0) rc = versions_load(k, ns, name, ver, 1, &type, &cur, &rows, &n, err, errcap);
    if (rc == BB_ENOTFOUND && err && strstr(err, "no version")) rc = BB_EAUTH;
    if (rc == 0 && (type != BUN_KMS_AES256_GCM || rows[0].privlen != KMS_KEY_LEN)) {
        SETERR("only an aes256-gcm key decrypts (this one is %s)", bun_kms_key_type_name(type));
        rc = BB_EINVAL;
    }
    if (rc == 0) {
        uint8_t *p = NULL;
        size_t pl = 0;
        rc = kms_gcm_open(rows[0].priv, aad, aadlen, c + 4, ctlen - 4, &p, &pl);
        if (rc == 0) {
            *out = p;
            *outlen = pl;
        } else if (rc == BB_EAUTH) {
            SETERR("decryption failed: wrong key, aad or a modified ciphertext");
        }
    }
    rows_free(rows, n);
    kms_audit(k, who, "key.decrypt", ns, name, ver, rc, 1);
    return rc;
}
