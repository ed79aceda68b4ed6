/* ba_jwt.c — bun-auth's signing keys, access tokens (JWS compact, EdDSA/Ed25519 through OpenSSL
 * EVP) and the identity resolver.
 *
 * Key files (until bun-kms exists), under <data>/bun_auth/ (mode 0700):
 *   keys.json    {"keys":[{"kid":K,"created_at":unix_s,"retired_at":unix_s|0},…]}, current first,
 *                mode 0600, replaced atomically
 *   key-<kid>.pem the Ed25519 private key, PKCS#8 PEM, mode 0600
 * kid is the RFC 7638 thumbprint of the public JWK (base64url SHA-256 of
 * {"crv":"Ed25519","kty":"OKP","x":…}), so it is checked against the key at load. A key rotated
 * out gets retired_at and keeps verifying for BUNBASE_BUN_AUTH_KEY_GRACE_S; after that its file
 * is deleted. The public halves also go to the table bun_auth_keys so that every bunbased on the
 * same database verifies tokens signed by any of them (the sync thread reads it).
 *
 * With bun-kms running in the process, the keys live there instead (see "keys in bun-kms" below).
 *
 * Token: base64url(header) "." base64url(payload) "." base64url(64-byte signature), with
 *   header  {"alg":"EdDSA","typ":"JWT","kid":K}
 *   payload {"iss","aud","sub","sid","iat","exp","jti"}
 * Verification accepts alg "EdDSA" only (never "none", HS*, RS*…: no algorithm confusion), a kid
 * of the ring within its grace, a valid signature, then iss, aud, exp/iat (with leeway), and a
 * session that is not revoked.
 */
#include "ba_int.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_id.h"
#include "bb_jwt.h"
#include "bb_log.h"
#include "bb_pg.h"
#include "bun_kms.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKEN 4096
#define MAX_HEADER 1024
#define MAX_PAYLOAD 2048

/* ------------------------------------------------------------------ keys */

static int key_from_priv(EVP_PKEY *priv, struct ba_key *k)
{
    uint8_t raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(priv, raw, &n) != 1 || n != 32) return BB_EINVAL;
    k->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    if (!k->pub) return BB_ENOMEM;
    bb_base64url_encode(raw, 32, k->x, sizeof k->x);
    char jwk[128];
    int jl = snprintf(jwk, sizeof jwk, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", k->x);
    uint8_t d[BB_SHA256_LEN];
    bb_sha256(jwk, (size_t)jl, d);
    bb_base64url_encode(d, sizeof d, k->kid, sizeof k->kid);
    k->priv = priv;
    k->own = 1;
    return 0;
}

static void key_clear(struct ba_key *k)
{
    EVP_PKEY_free(k->pub);
    EVP_PKEY_free(k->priv);
    memset(k, 0, sizeof *k);
}

static int key_path(const struct bun_auth *a, const char *kid, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/key-%s.pem", a->dir, kid);
    return n < 0 || (size_t)n >= cap ? BB_EINVAL : 0;
}

static int key_read(struct bun_auth *a, const char *kid, struct ba_key *k, char *err, size_t errcap)
{
    char path[1200];
    if (key_path(a, kid, path, sizeof path)) return BB_EINVAL;
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "bun-auth: signing key %s is missing", path);
        return BB_EIO;
    }
    if (st.st_mode & 077) {
        bb_warn(BA_MOD, "key_mode_fixed path=%s mode=%o", path, (unsigned)(st.st_mode & 0777));
        chmod(path, 0600);
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "bun-auth: cannot open %s: %s", path, strerror(errno));
        return BB_EIO;
    }
    EVP_PKEY *p = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!p || EVP_PKEY_get_id(p) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(p);
        snprintf(err, errcap, "bun-auth: %s is not an Ed25519 private key", path);
        return BB_EIO;
    }
    int rc = key_from_priv(p, k);
    if (rc) {
        EVP_PKEY_free(p);
        return rc;
    }
    if (strcmp(k->kid, kid) != 0) {
        snprintf(err, errcap, "bun-auth: %s does not hold key %s", path, kid);
        key_clear(k);
        return BB_EIO;
    }
    return 0;
}

/* A new key, written to its file. */
static int key_generate(struct bun_auth *a, struct ba_key *k, char *err, size_t errcap)
{
    memset(k, 0, sizeof *k);
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!p) {
        snprintf(err, errcap, "bun-auth: Ed25519 key generation failed");
        return BB_EIO;
    }
    int rc = key_from_priv(p, k);
    if (rc) {
        EVP_PKEY_free(p);
        return rc;
    }
    k->created_at = ba_now(a);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pl = 0;
    if (!b || PEM_write_bio_PrivateKey(b, p, NULL, NULL, 0, NULL, NULL) != 1 ||
        (pl = BIO_get_mem_data(b, &pem)) <= 0) {
        BIO_free(b);
        key_clear(k);
        snprintf(err, errcap, "bun-auth: cannot encode the signing key");
        return BB_EIO;
    }
    char path[1200];
    rc = key_path(a, k->kid, path, sizeof path);
    if (rc == 0) rc = bb_fs_write_atomic(path, pem, (size_t)pl, 0600);
    OPENSSL_cleanse(pem, (size_t)pl);
    BIO_free(b);
    if (rc) {
        snprintf(err, errcap, "bun-auth: cannot write %s: %s", path, strerror(errno));
        key_clear(k);
        return BB_EIO;
    }
    return 0;
}

/* Writes keys.json from the own keys of the ring (caller holds rotate_mu; reads under klock). */
static int manifest_write(struct bun_auth *a, const struct ba_key *keys, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!keys[i].own) continue;
        json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "kid", keys[i].kid, "created_at",
                                             (json_int_t)keys[i].created_at, "retired_at",
                                             (json_int_t)keys[i].retired_at));
    }
    json_t *o = json_pack("{s:o}", "keys", arr);
    char *s = o ? json_dumps(o, JSON_INDENT(1)) : NULL;
    json_decref(o);
    if (!s) return BB_ENOMEM;
    char path[1200];
    snprintf(path, sizeof path, "%s/keys.json", a->dir);
    int rc = bb_fs_write_atomic(path, s, strlen(s), 0600);
    free(s);
    return rc;
}

static int in_grace(const struct bun_auth *a, const struct ba_key *k, int64_t now)
{
    return k->retired_at == 0 || now <= k->retired_at + a->c.key_grace;
}

/* ------------------------------------------------------------------ keys in bun-kms
 *
 * When bun-kms runs in this process (a->kms), the signing key is its Ed25519 key
 * "_system/bun-auth-signing": tokens are signed through bun_kms_sign; the ring holds only the
 * public halves (from bun_kms_jwks), so the resolver still verifies in memory without blocking;
 * a rotation is bun_kms_key_rotate. On the first start with bun-kms the file keys still in grace
 * are imported once (oldest first, the signing one last, so it is current) — tokens they signed
 * keep verifying — and their PEM files are removed (keys.json then says "moved_to": "bun-kms").
 * A version stops signing when the next one is created: that is its retired_at for the grace.
 */
#define BA_KMS_NS BUN_KMS_SYSTEM_NS
#define BA_KMS_KEY "bun-auth-signing"

static int kms_import_files(struct bun_auth *a, char *err, size_t errcap)
{
    const struct bb_identity *sys = bun_kms_system_identity();
    char path[1200], *buf = malloc(65536);
    char *pems[BA_MAX_KEYS];
    char kids[BA_MAX_KEYS][BUN_AUTH_KID_MAX + 1];
    size_t n = 0, len = 0;
    if (!buf) return BB_ENOMEM;
    snprintf(path, sizeof path, "%s/keys.json", a->dir);
    int rc = bb_fs_read_small(path, buf, 65536, &len);
    int64_t now = ba_now(a);
    if (rc == 0) {
        json_error_t je;
        json_t *m = json_loadb(buf, len, 0, &je);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(m, "keys"), i, e)
        {
            const char *kid = json_string_value(json_object_get(e, "kid"));
            struct ba_key k = {.retired_at = json_integer_value(json_object_get(e, "retired_at"))};
            char kp[1200], pem[8192];
            size_t pl = 0;
            if (!kid || strlen(kid) > BUN_AUTH_KID_MAX || strchr(kid, '/') || kid[0] == '.' ||
                !in_grace(a, &k, now) || n == BA_MAX_KEYS || key_path(a, kid, kp, sizeof kp) ||
                bb_fs_read_small(kp, pem, sizeof pem - 1, &pl) != 0)
                continue;
            pem[pl] = '\0';
            if (!(pems[n] = strdup(pem))) continue;
            OPENSSL_cleanse(pem, sizeof pem);
            snprintf(kids[n], sizeof kids[n], "%s", kid);
            n++;
        }
        json_decref(m);
        rc = 0;
    } else if (rc == BB_ENOTFOUND) {
        rc = 0;
    }
    free(buf);
    if (rc == 0 && n == 0) {
        rc = bun_kms_key_create(a->kms, sys, BA_KMS_NS, BA_KMS_KEY, BUN_KMS_ED25519, err, errcap);
        if (rc == 0) bb_info(BA_MOD, "key_created_in_kms key=%s/%s", BA_KMS_NS, BA_KMS_KEY);
    } else if (rc == 0) {
        const char *order[BA_MAX_KEYS]; /* keys.json lists the signing key first */
        for (size_t i = 0; i < n; i++)
            order[i] = pems[n - 1 - i];
        rc = bun_kms_key_import(a->kms, sys, BA_KMS_NS, BA_KMS_KEY, BUN_KMS_ED25519, order, n,
                                err, errcap);
        if (rc == 0) {
            for (size_t i = 0; i < n; i++) {
                char kp[1200];
                if (key_path(a, kids[i], kp, sizeof kp) == 0) unlink(kp);
            }
            const char moved[] = "{\"keys\":[],\"moved_to\":\"bun-kms\"}\n";
            if (bb_fs_write_atomic(path, moved, sizeof moved - 1, 0600) != 0)
                bb_warn(BA_MOD, "keys_json_write_failed");
            bb_info(BA_MOD, "keys_moved_to_kms count=%zu key=%s/%s current=%s", n, BA_KMS_NS,
                    BA_KMS_KEY, kids[0]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        OPENSSL_cleanse(pems[i], strlen(pems[i]));
        free(pems[i]);
    }
    return rc;
}

/* (Re)builds the own part of the ring from bun-kms: public keys, newest first, in grace. */
static int kms_ring_load(struct bun_auth *a, char *err, size_t errcap)
{
    const struct bb_identity *sys = bun_kms_system_identity();
    json_t *jwks = NULL, *meta = NULL;
    int rc = bun_kms_jwks(a->kms, sys, BA_KMS_NS, BA_KMS_KEY, &jwks, err, errcap);
    if (rc == 0) rc = bun_kms_key_get(a->kms, sys, BA_KMS_NS, BA_KMS_KEY, &meta, err, errcap);
    struct ba_key ring[BA_MAX_KEYS];
    size_t n = 0;
    int64_t now = ba_now(a), newer = 0;
    size_t i;
    json_t *v;
    json_array_foreach(rc == 0 ? json_object_get(meta, "versions") : NULL, i, v)
    {
        const char *kid = json_string_value(json_object_get(v, "kid"));
        int64_t created = json_integer_value(json_object_get(v, "created_at_ms")) / 1000;
        struct ba_key k;
        memset(&k, 0, sizeof k);
        k.created_at = created;
        k.retired_at = i == 0 ? 0 : newer;
        newer = created;
        if (!kid || strlen(kid) > BUN_AUTH_KID_MAX || n == BA_MAX_KEYS / 2 ||
            (i > 0 && !in_grace(a, &k, now)))
            continue;
        size_t j;
        json_t *jwk;
        json_array_foreach(json_object_get(jwks, "keys"), j, jwk)
        {
            const char *x = json_string_value(json_object_get(jwk, "x"));
            uint8_t raw[32];
            size_t rl = 0;
            if (strcmp(kid, json_string_value(json_object_get(jwk, "kid")) ?: "") != 0 || !x ||
                strlen(x) >= sizeof k.x || bb_base64url_decode(x, strlen(x), raw, 32, &rl) != 0 ||
                rl != 32)
                continue;
            snprintf(k.kid, sizeof k.kid, "%s", kid);
            snprintf(k.x, sizeof k.x, "%s", x);
            k.pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
            k.own = 1;
            if (k.pub) ring[n++] = k;
            break;
        }
    }
    json_decref(jwks);
    json_decref(meta);
    if (rc == 0 && n == 0) {
        snprintf(err, errcap, "bun-auth: the key %s/%s in bun-kms has no usable version",
                 BA_KMS_NS, BA_KMS_KEY);
        rc = BB_EINTERNAL;
    }
    if (rc) {
        for (size_t k = 0; k < n; k++)
            key_clear(&ring[k]);
        return rc;
    }
    /* own keys replaced, other processes' kept */
    pthread_rwlock_wrlock(&a->klock);
    for (size_t k = 0; k < a->nkeys; k++) {
        int dup = 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = !strcmp(ring[j].kid, a->keys[k].kid);
        if (a->keys[k].own || dup || n == BA_MAX_KEYS)
            key_clear(&a->keys[k]);
        else
            ring[n++] = a->keys[k];
    }
    memcpy(a->keys, ring, n * sizeof ring[0]);
    a->nkeys = n;
    pthread_rwlock_unlock(&a->klock);
    return 0;
}

static int kms_keys_load(struct bun_auth *a, char *err, size_t errcap)
{
    json_t *meta = NULL;
    int rc = bun_kms_key_get(a->kms, bun_kms_system_identity(), BA_KMS_NS, BA_KMS_KEY, &meta,
                             err, errcap);
    json_decref(meta);
    if (rc == BB_ENOTFOUND) {
        err[0] = '\0';
        rc = kms_import_files(a, err, errcap);
    }
    if (rc == 0) rc = kms_ring_load(a, err, errcap);
    if (rc && !err[0]) snprintf(err, errcap, "bun-auth: signing key in bun-kms: %s", bb_strerror(rc));
    return rc;
}

static int kms_rotate(struct bun_auth *a, char *kid_out, size_t kidcap)
{
    char err[256] = "";
    pthread_mutex_lock(&a->rotate_mu);
    int rc = bun_kms_key_rotate(a->kms, bun_kms_system_identity(), BA_KMS_NS, BA_KMS_KEY, NULL,
                                err, sizeof err);
    if (rc == 0) rc = kms_ring_load(a, err, sizeof err);
    pthread_mutex_unlock(&a->rotate_mu);
    if (rc) {
        bb_error(BA_MOD, "key_rotate_failed reason=\"%s\"", err);
        return rc;
    }
    char kid[BUN_AUTH_KID_MAX + 1];
    ba_current_kid(a, kid, sizeof kid);
    if (ba_keys_publish(a) != 0) bb_warn(BA_MOD, "key_publish_failed kid=%s", kid);
    bb_info(BA_MOD, "key_rotated kid=%s (bun-kms)", kid);
    if (kid_out && kidcap) snprintf(kid_out, kidcap, "%s", kid);
    return 0;
}

int ba_keys_load(struct bun_auth *a, char *err, size_t errcap)
{
    if (a->kms) {
        if (bb_fs_mkdir_p(a->dir, 0700) != 0) {
            snprintf(err, errcap, "bun-auth: cannot create %s: %s", a->dir, strerror(errno));
            return BB_EIO;
        }
        return kms_keys_load(a, err, errcap);
    }
    if (bb_fs_mkdir_p(a->dir, 0700) != 0) {
        snprintf(err, errcap, "bun-auth: cannot create %s: %s", a->dir, strerror(errno));
        return BB_EIO;
    }
    chmod(a->dir, 0700);
    char path[1200], *buf = malloc(65536);
    if (!buf) return BB_ENOMEM;
    snprintf(path, sizeof path, "%s/keys.json", a->dir);
    size_t len = 0;
    int rc = bb_fs_read_small(path, buf, 65536, &len);
    int64_t now = ba_now(a);
    int dirty = 0;
    if (rc == 0) {
        json_error_t je;
        json_t *m = json_loadb(buf, len, 0, &je);
        json_t *arr = json_object_get(m, "keys");
        if (!json_is_array(arr)) {
            json_decref(m);
            free(buf);
            snprintf(err, errcap, "bun-auth: %s is malformed", path);
            return BB_EIO;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            const char *kid = json_string_value(json_object_get(e, "kid"));
            int64_t created = json_integer_value(json_object_get(e, "created_at"));
            int64_t retired = json_integer_value(json_object_get(e, "retired_at"));
            if (!kid || strlen(kid) > BUN_AUTH_KID_MAX || strchr(kid, '/') || kid[0] == '.') {
                dirty = 1;
                continue;
            }
            struct ba_key k = {.retired_at = retired};
            if (!in_grace(a, &k, now) || a->nkeys >= BA_MAX_KEYS) {
                char kp[1200];
                if (key_path(a, kid, kp, sizeof kp) == 0) unlink(kp);
                dirty = 1;
                continue;
            }
            if (key_read(a, kid, &k, err, errcap) != 0) {
                /* unreadable or missing: its tokens stop verifying; a new key is made if it was
                 * the signing one */
                bb_warn(BA_MOD, "key_skipped kid=%s reason=\"%s\"", kid, err);
                err[0] = '\0';
                dirty = 1;
                continue;
            }
            k.created_at = created;
            k.retired_at = retired;
            a->keys[a->nkeys++] = k;
        }
        json_decref(m);
    } else if (rc != BB_ENOTFOUND) {
        free(buf);
        snprintf(err, errcap, "bun-auth: cannot read %s: %s", path, bb_strerror(rc));
        return rc;
    }
    free(buf);
    if (a->nkeys == 0 || a->keys[0].retired_at != 0) {
        struct ba_key k;
        rc = key_generate(a, &k, err, errcap);
        if (rc) return rc;
        if (a->nkeys == BA_MAX_KEYS) key_clear(&a->keys[--a->nkeys]);
        memmove(&a->keys[1], &a->keys[0], a->nkeys * sizeof a->keys[0]);
        a->keys[0] = k;
        a->nkeys++;
        dirty = 1;
        bb_info(BA_MOD, "key_generated kid=%s", k.kid);
    }
    if (dirty && (rc = manifest_write(a, a->keys, a->nkeys)) != 0) {
        snprintf(err, errcap, "bun-auth: cannot write %s/keys.json", a->dir);
        return rc;
    }
    return 0;
}

void ba_keys_free(struct bun_auth *a)
{
    for (size_t i = 0; i < a->nkeys; i++)
        key_clear(&a->keys[i]);
    a->nkeys = 0;
}

static int exec_ok(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    int st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : BB_EIO;
}

int ba_keys_publish(struct bun_auth *a)
{
    PGconn *c = NULL;
    int rc = bb_pg_pool_acquire(a->pg, &c, 5000);
    if (rc) return rc;
    struct ba_key snap[BA_MAX_KEYS];
    size_t n = 0;
    pthread_rwlock_rdlock(&a->klock);
    for (size_t i = 0; i < a->nkeys; i++)
        if (a->keys[i].own) {
            snap[n] = a->keys[i];
            snap[n].pub = snap[n].priv = NULL; /* copies of the plain fields only */
            n++;
        }
    pthread_rwlock_unlock(&a->klock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char created[32], retired[32];
        snprintf(created, sizeof created, "%lld", (long long)snap[i].created_at);
        snprintf(retired, sizeof retired, "%lld", (long long)snap[i].retired_at);
        const char *p[4] = {snap[i].kid, snap[i].x, created, retired};
        rc = exec_ok(c,
                     "INSERT INTO bun_auth_keys(kid, public_key, created_at, retired_at) VALUES "
                     "($1, $2, to_timestamp($3::bigint), CASE WHEN $4::bigint = 0 THEN NULL ELSE "
                     "to_timestamp($4::bigint) END) ON CONFLICT (kid) DO UPDATE SET retired_at = "
                     "EXCLUDED.retired_at",
                     4, p);
    }
    bb_pg_pool_release(a->pg, c);
    return rc;
}

int ba_keys_sync(struct bun_auth *a, void *pgconn)
{
    PGconn *c = pgconn;
    char grace[32];
    snprintf(grace, sizeof grace, "%lld", (long long)a->c.key_grace);
    const char *p[1] = {grace};
    PGresult *r = PQexecParams(
        c,
        "SELECT kid, public_key, extract(epoch FROM created_at)::bigint, "
        "coalesce(extract(epoch FROM retired_at)::bigint, 0) FROM bun_auth_keys "
        "WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1::bigint) "
        "ORDER BY created_at DESC LIMIT 64",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return BB_EIO;
    }
    int rows = PQntuples(r);
    struct ba_key fresh[BA_MAX_KEYS];
    size_t nf = 0;
    for (int i = 0; i < rows && nf < BA_MAX_KEYS; i++) {
        const char *kid = PQgetvalue(r, i, 0), *x = PQgetvalue(r, i, 1);
        uint8_t raw[32];
        size_t rl = 0;
        if (strlen(kid) > BUN_AUTH_KID_MAX || strlen(x) >= sizeof fresh[0].x ||
            bb_base64url_decode(x, strlen(x), raw, sizeof raw, &rl) != 0 || rl != 32)
            continue;
        struct ba_key *k = &fresh[nf];
        memset(k, 0, sizeof *k);
        snprintf(k->kid, sizeof k->kid, "%s", kid);
        snprintf(k->x, sizeof k->x, "%s", x);
        k->created_at = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        k->retired_at = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        nf++;
    }
    PQclear(r);
    /* merge: own keys stay as they are; foreign keys are replaced by what the table says */
    pthread_rwlock_wrlock(&a->klock);
    size_t w = 0;
    for (size_t i = 0; i < a->nkeys; i++) {
        int keep = a->keys[i].own;
        for (size_t j = 0; !keep && j < nf; j++)
            if (!strcmp(fresh[j].kid, a->keys[i].kid)) {
                a->keys[i].retired_at = fresh[j].retired_at;
                fresh[j].kid[0] = '\0'; /* already known */
                keep = 1;
            }
        if (keep)
            a->keys[w++] = a->keys[i];
        else
            key_clear(&a->keys[i]);
    }
    a->nkeys = w;
    for (size_t j = 0; j < nf && a->nkeys < BA_MAX_KEYS; j++) {
        if (!fresh[j].kid[0]) continue;
        int own = 0;
        for (size_t i = 0; i < a->nkeys; i++)
            if (!strcmp(a->keys[i].kid, fresh[j].kid)) own = 1;
        if (own) continue;
        uint8_t raw[32];
        size_t rl = 0;
        bb_base64url_decode(fresh[j].x, strlen(fresh[j].x), raw, sizeof raw, &rl);
        fresh[j].pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
        if (!fresh[j].pub) continue;
        a->keys[a->nkeys++] = fresh[j];
    }
    pthread_rwlock_unlock(&a->klock);
    return 0;
}

const char *ba_current_kid(struct bun_auth *a, char *buf, size_t cap)
{
    pthread_rwlock_rdlock(&a->klock);
    snprintf(buf, cap, "%s", a->nkeys ? a->keys[0].kid : "");
    pthread_rwlock_unlock(&a->klock);
    return buf;
}

int bun_auth_rotate_key(struct bun_auth *a, char *kid_out, size_t kidcap)
{
    if (a->kms) return kms_rotate(a, kid_out, kidcap);
    char err[256] = "";
    pthread_mutex_lock(&a->rotate_mu);
    struct ba_key k;
    int rc = key_generate(a, &k, err, sizeof err);
    if (rc) {
        pthread_mutex_unlock(&a->rotate_mu);
        bb_error(BA_MOD, "key_rotate_failed reason=\"%s\"", err);
        return rc;
    }
    int64_t now = ba_now(a);
    /* keys.json first, without the ring lock (it fsyncs): the new key, then the own keys that
     * are still in grace once the signing one is retired now. Only rotations (serialized by
     * rotate_mu) change the own keys, so the ring cannot change under us meanwhile. */
    struct ba_key meta[BA_MAX_KEYS], ring[BA_MAX_KEYS], drop[BA_MAX_KEYS];
    size_t nm = 0, n = 0, nd = 0;
    meta[nm++] = k;
    pthread_rwlock_rdlock(&a->klock);
    for (size_t i = 0; i < a->nkeys && nm < BA_MAX_KEYS; i++) {
        struct ba_key o = a->keys[i];
        if (!o.own) continue;
        if (o.retired_at == 0) o.retired_at = now;
        if (in_grace(a, &o, now)) meta[nm++] = o;
    }
    pthread_rwlock_unlock(&a->klock);
    rc = manifest_write(a, meta, nm); /* reads only the plain fields */
    if (rc) {
        char path[1200];
        if (key_path(a, k.kid, path, sizeof path) == 0) unlink(path);
        key_clear(&k);
        pthread_mutex_unlock(&a->rotate_mu);
        bb_error(BA_MOD, "key_rotate_failed reason=\"cannot write keys.json\"");
        return BB_EIO;
    }
    /* the new ring: new key first, the others (retired now if they were signing) while in grace */
    pthread_rwlock_wrlock(&a->klock);
    ring[n++] = k;
    for (size_t i = 0; i < a->nkeys; i++) {
        struct ba_key o = a->keys[i];
        if (o.own && o.retired_at == 0) o.retired_at = now;
        if (in_grace(a, &o, now) && n < BA_MAX_KEYS)
            ring[n++] = o;
        else
            drop[nd++] = o;
    }
    memcpy(a->keys, ring, n * sizeof ring[0]);
    a->nkeys = n;
    pthread_rwlock_unlock(&a->klock);
    for (size_t i = 0; i < nd; i++) {
        char path[1200];
        if (drop[i].own && key_path(a, drop[i].kid, path, sizeof path) == 0) unlink(path);
        key_clear(&drop[i]);
    }
    pthread_mutex_unlock(&a->rotate_mu);
    if (ba_keys_publish(a) != 0) bb_warn(BA_MOD, "key_publish_failed kid=%s", k.kid);
    bb_info(BA_MOD, "key_rotated kid=%s", k.kid);
    if (kid_out && kidcap) snprintf(kid_out, kidcap, "%s", k.kid);
    return 0;
}

int bun_auth_jwks(struct bun_auth *a, json_t **out)
{
    json_t *keys = json_array();
    if (!keys) return BB_ENOMEM;
    int64_t now = ba_now(a);
    pthread_rwlock_rdlock(&a->klock);
    for (size_t i = 0; i < a->nkeys; i++) {
        if (!in_grace(a, &a->keys[i], now)) continue;
        json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "OKP", "crv",
                                              "Ed25519", "x", a->keys[i].x, "kid", a->keys[i].kid,
                                              "alg", "EdDSA", "use", "sig"));
    }
    pthread_rwlock_unlock(&a->klock);
    *out = json_pack("{s:o}", "keys", keys);
    return *out ? 0 : BB_ENOMEM;
}

/* ------------------------------------------------------------------ sign */

int ba_jwt_issue(struct bun_auth *a, const char *user_id, const char *session_id,
                 int64_t session_expires, char **out, int64_t *exp_out)
{
    int64_t now = ba_now(a), exp = now + a->c.access_ttl;
    if (session_expires > 0 && exp > session_expires) exp = session_expires;
    char kid[BUN_AUTH_KID_MAX + 1];
    int retried = 0;
    EVP_PKEY *priv = NULL;
again:
    pthread_rwlock_rdlock(&a->klock);
    priv = a->nkeys && a->keys[0].own ? a->keys[0].priv : NULL;
    if (priv) EVP_PKEY_up_ref(priv);
    snprintf(kid, sizeof kid, "%s", a->nkeys ? a->keys[0].kid : "");
    pthread_rwlock_unlock(&a->klock);
    if (!priv && !a->kms) return BB_EINTERNAL;
    char jti[BB_ID_LEN + 1];
    bb_id_new(jti);
    json_t *hd = json_pack("{s:s,s:s,s:s}", "alg", "EdDSA", "typ", "JWT", "kid", kid);
    json_t *pl = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "iss", a->c.issuer, "aud",
                           a->c.audience, "sub", user_id, "sid", session_id, "iat", (json_int_t)now,
                           "exp", (json_int_t)exp, "jti", jti);
    size_t o = 0;
    char *tok = hd && pl ? bb_jwt_signing_input(hd, pl, 64, &o) : NULL; /* core's JWS framing */
    json_decref(hd);
    json_decref(pl);
    int rc = BB_ENOMEM;
    EVP_MD_CTX *ctx = NULL;
    if (!tok) goto out;
    uint8_t sig[64];
    size_t sl = sizeof sig;
    if (a->kms) { /* the key never leaves bun-kms; a version it signs with is in our ring */
        unsigned char *ks = NULL;
        char used[BUN_KMS_KID_MAX + 1];
        rc = bun_kms_sign(a->kms, bun_kms_system_identity(), BA_KMS_NS, BA_KMS_KEY, "EdDSA", 0,
                          tok, o, &ks, &sl, used, NULL, 0);
        if (rc == 0 && (sl != 64 || strcmp(used, kid) != 0)) rc = BB_ECONFLICT;
        if (rc == 0) memcpy(sig, ks, 64);
        free(ks);
        if (rc == BB_ECONFLICT) { /* rotated meanwhile (another caller): reload, sign again */
            char e[200] = "";
            if (kms_ring_load(a, e, sizeof e) == 0 && !retried) {
                retried = 1;
                free(tok);
                tok = NULL;
                goto again;
            }
        }
        if (rc) {
            rc = rc == BB_ECONFLICT ? BB_EINTERNAL : rc;
            goto out;
        }
    } else if (!(ctx = EVP_MD_CTX_new()) ||
               EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv) != 1 ||
               EVP_DigestSign(ctx, sig, &sl, (const uint8_t *)tok, o) != 1 || sl != 64) {
        rc = BB_EINTERNAL;
        goto out;
    }
    bb_jwt_append_signature(tok, o, sig, sl);
    *out = tok;
    tok = NULL;
    if (exp_out) *exp_out = exp;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(priv);
    free(tok);
    return rc;
}

/* ------------------------------------------------------------------ verify */

static int is_b64url(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

static json_t *decode_obj(const char *s, size_t n, size_t max)
{
    uint8_t buf[MAX_PAYLOAD];
    size_t bl = 0;
    if (n > BB_BASE64URL_LEN(max) || bb_base64url_decode(s, n, buf, max, &bl) != 0) return NULL;
    json_error_t je;
    json_t *j = json_loadb((const char *)buf, bl, JSON_REJECT_DUPLICATES, &je);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

#define REJECT(c, m)                                                                               \
    do {                                                                                           \
        why->code = (c);                                                                           \
        why->msg = (m);                                                                            \
        rc = BB_EAUTH;                                                                             \
        goto out;                                                                                  \
    } while (0)

int ba_jwt_verify(struct bun_auth *a, const char *tok, size_t len, char *sub, size_t subcap,
                  char *sid, size_t sidcap, struct bb_identity_reject *why)
{
    /* shape: three base64url segments (the signature may not be empty for us, but the shape
     * claims the token anyway so that "alg":"none" tokens are refused, not passed on) */
    const char *d1 = NULL, *d2 = NULL;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '.') {
            if (!d1)
                d1 = tok + i;
            else if (!d2)
                d2 = tok + i;
            else
                return BB_ENOTFOUND;
        } else if (!is_b64url(tok[i]))
            return BB_ENOTFOUND;
    }
    if (!d2 || d1 == tok) return BB_ENOTFOUND;
    int rc = 0;
    json_t *h = NULL, *p = NULL;
    EVP_PKEY *pub = NULL;
    EVP_MD_CTX *ctx = NULL;
    if (len > MAX_TOKEN) REJECT("token_malformed", "access token too long");
    int64_t now = ba_now(a);
    uint8_t th[BB_SHA256_LEN];
    bb_sha256(tok, len, th);
    struct ba_vslot *slot = &a->vcache[(th[0] | (unsigned)th[1] << 8) % BA_VCACHE_SLOTS];
    struct ba_vslot hit;
    int cached = 0;
    pthread_mutex_lock(&a->vmu);
    if (slot->used && bb_ct_equal(slot->hash, th, sizeof th)) {
        hit = *slot;
        cached = 1;
    }
    pthread_mutex_unlock(&a->vmu);
    if (cached) { /* signature and claims checked before; what time can change is checked again */
        if (now > hit.exp + a->c.leeway) REJECT("token_expired", "access token expired");
        int known = 0;
        pthread_rwlock_rdlock(&a->klock);
        for (size_t i = 0; i < a->nkeys && !known; i++)
            known = !strcmp(a->keys[i].kid, hit.kid) && in_grace(a, &a->keys[i], now);
        pthread_rwlock_unlock(&a->klock);
        if (!known) REJECT("token_unknown_kid", "access token signed by an unknown key");
        if (strlen(hit.sub) >= subcap || strlen(hit.sid) >= sidcap)
            REJECT("token_malformed", "access token has no sub or sid");
        memcpy(sub, hit.sub, strlen(hit.sub) + 1);
        memcpy(sid, hit.sid, strlen(hit.sid) + 1);
        goto out;
    }
    h = decode_obj(tok, (size_t)(d1 - tok), MAX_HEADER);
    if (!h) REJECT("token_malformed", "access token header is not base64url JSON");
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (!alg || strcmp(alg, "EdDSA") != 0)
        REJECT("token_alg_not_allowed", "access token algorithm not allowed (EdDSA only)");
    if (json_object_get(h, "crit")) REJECT("token_malformed", "access token has crit headers");
    const char *kid = json_string_value(json_object_get(h, "kid"));
    if (kid) {
        pthread_rwlock_rdlock(&a->klock);
        for (size_t i = 0; i < a->nkeys; i++)
            if (!strcmp(a->keys[i].kid, kid) && in_grace(a, &a->keys[i], now)) {
                pub = a->keys[i].pub;
                EVP_PKEY_up_ref(pub);
                break;
            }
        pthread_rwlock_unlock(&a->klock);
    }
    if (!pub) REJECT("token_unknown_kid", "access token signed by an unknown key");
    uint8_t sig[72];
    size_t sl = 0;
    const char *s = d2 + 1;
    size_t sn = len - (size_t)(s - tok);
    if (bb_base64url_decode(s, sn, sig, sizeof sig, &sl) != 0 || sl != 64)
        REJECT("token_invalid_signature", "access token signature is invalid");
    ctx = EVP_MD_CTX_new();
    if (!ctx) {
        rc = BB_ENOMEM;
        goto out;
    }
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) != 1 ||
        EVP_DigestVerify(ctx, sig, 64, (const uint8_t *)tok, (size_t)(d2 - tok)) != 1)
        REJECT("token_invalid_signature", "access token signature is invalid");
    p = decode_obj(d1 + 1, (size_t)(d2 - d1 - 1), MAX_PAYLOAD);
    if (!p) REJECT("token_malformed", "access token payload is not base64url JSON");
    const char *iss = json_string_value(json_object_get(p, "iss"));
    if (!iss || strcmp(iss, a->c.issuer) != 0)
        REJECT("token_wrong_issuer", "access token issued by someone else");
    json_t *aud = json_object_get(p, "aud");
    int aud_ok = json_is_string(aud) && !strcmp(json_string_value(aud), a->c.audience);
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) if (json_is_string(v) &&
                                          !strcmp(json_string_value(v), a->c.audience)) aud_ok = 1;
    }
    if (!aud_ok) REJECT("token_wrong_audience", "access token is for another audience");
    json_t *exp = json_object_get(p, "exp"), *iat = json_object_get(p, "iat"),
           *nbf = json_object_get(p, "nbf");
    if (!json_is_integer(exp)) REJECT("token_malformed", "access token has no exp");
    if (now > json_integer_value(exp) + a->c.leeway)
        REJECT("token_expired", "access token expired");
    if ((iat && (!json_is_integer(iat) || json_integer_value(iat) > now + a->c.leeway)) ||
        (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now + a->c.leeway)))
        REJECT("token_not_yet_valid", "access token is not valid yet");
    const char *su = json_string_value(json_object_get(p, "sub"));
    const char *si = json_string_value(json_object_get(p, "sid"));
    if (!su || !si || !su[0] || !si[0] || strlen(su) >= subcap || strlen(si) >= sidcap)
        REJECT("token_malformed", "access token has no sub or sid");
    memcpy(sub, su, strlen(su) + 1);
    memcpy(sid, si, strlen(si) + 1);
    if (strlen(su) <= BUN_AUTH_ID_MAX && strlen(si) <= BUN_AUTH_ID_MAX &&
        strlen(kid) <= BUN_AUTH_KID_MAX) {
        pthread_mutex_lock(&a->vmu);
        memcpy(slot->hash, th, sizeof th);
        snprintf(slot->sub, sizeof slot->sub, "%s", su);
        snprintf(slot->sid, sizeof slot->sid, "%s", si);
        snprintf(slot->kid, sizeof slot->kid, "%s", kid);
        slot->exp = json_integer_value(exp);
        slot->used = 1;
        pthread_mutex_unlock(&a->vmu);
    }
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    json_decref(h);
    json_decref(p);
    return rc;
}

/* ------------------------------------------------------------------ resolver */

static uint64_t sid_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Notes that sid was used now (for last_used_at). O(1), never blocks for long. */
static void touch(struct bun_auth *a, const char *sid)
{
    if (strlen(sid) > BUN_AUTH_ID_MAX) return;
    struct ba_touch *t = &a->touch[sid_hash(sid) % BA_TOUCH_SLOTS];
    int64_t now = ba_now(a);
    pthread_mutex_lock(&a->vmu);
    memcpy(t->sid, sid, strlen(sid) + 1);
    t->at = now;
    pthread_mutex_unlock(&a->vmu);
}

static int fill_identity(struct bb_identity *out, const char *sub, const char *sid,
                         const char *email)
{
    out->kind = BB_IDENTITY_DEVELOPER_SESSION;
    out->uid = strdup(sub);
    out->claims = json_pack("{s:s,s:s}", "sub", sub, "sid", sid);
    if (out->claims && email && email[0])
        json_object_set_new(out->claims, "email", json_string(email));
    out->resolver = "bun-auth";
    if (!out->uid || !out->claims) {
        bb_identity_release(out);
        return BB_ENOMEM;
    }
    return 0;
}

/* 0 when tok is a JWT of someone else's — its (unverified) payload names another issuer than ours
 * and its kid is none of our keys (tenant-auth's end users): left to the next resolver. Anything
 * else is ours to judge (a token under one of our kids with a wrong iss is token_wrong_issuer). */
static int own_issuer(struct bun_auth *a, const char *tok, size_t len)
{
    json_t *p = bb_jwt_peek_payload(tok, len);
    const char *iss = json_string_value(json_object_get(p, "iss"));
    int own = !iss || strcmp(iss, a->c.issuer) == 0;
    json_decref(p);
    if (own) return 1;
    const char *d1 = memchr(tok, '.', len);
    json_t *h = d1 ? decode_obj(tok, (size_t)(d1 - tok), MAX_HEADER) : NULL;
    const char *kid = json_string_value(json_object_get(h, "kid"));
    pthread_rwlock_rdlock(&a->klock);
    for (size_t i = 0; kid && i < a->nkeys && !own; i++)
        own = !strcmp(a->keys[i].kid, kid);
    pthread_rwlock_unlock(&a->klock);
    json_decref(h);
    return own;
}

int bun_auth_resolve(void *arg, const struct bb_http_request *req, struct bb_identity *out,
                     struct bb_identity_reject *why)
{
    struct bun_auth *a = arg;
    const char *auth = bb_http_header(req, "Authorization");
    if (auth) {
        /* an explicit credential: ours when it is a JWT, else someone else's (PAT, key…) and
         * the cookie is not looked at */
        size_t tl = 0;
        const char *t = bb_jwt_bearer(auth, &tl);
        if (!t) return BB_ENOTFOUND;
        if (!own_issuer(a, t, tl)) return BB_ENOTFOUND; /* another issuer's (tenant-auth) */
        char sub[BUN_AUTH_ID_MAX + 1], sid[BUN_AUTH_ID_MAX + 1];
        int rc = ba_jwt_verify(a, t, tl, sub, sizeof sub, sid, sizeof sid, why);
        if (rc) return rc;
        struct ba_sess s;
        const char *email = NULL;
        if (ba_table_get_by_id(&a->table, sid, &s) == 0) {
            if (s.revoked) {
                why->code = "session_revoked";
                why->msg = "the session of this access token was revoked";
                return BB_EAUTH;
            }
            if (s.expires_at < ba_now(a)) {
                why->code = "session_expired";
                why->msg = "the session of this access token expired";
                return BB_EAUTH;
            }
            if (strcmp(s.user_id, sub) != 0) {
                why->code = "token_malformed";
                why->msg = "access token does not match its session";
                return BB_EAUTH;
            }
            email = s.email;
        }
        /* a sid not (yet) in the table: made by another process since the last sync; the
         * signature vouches for it, and a revocation reaches us within one sync */
        touch(a, sid);
        return fill_identity(out, sub, sid, email);
    }
    char tokbuf[256];
    const char *tok = bb_http_cookie(req, "session_token", tokbuf, sizeof tokbuf);
    if (!tok) return BB_ENOTFOUND;
    uint8_t hash[BB_SHA256_LEN];
    bb_sha256(tok, strlen(tok), hash);
    OPENSSL_cleanse(tokbuf, sizeof tokbuf);
    struct ba_sess s;
    /* An unknown, expired or revoked cookie is left anonymous rather than answered 401: a
     * browser still holding a stale cookie must be able to reach login and register. Routes
     * that need a developer answer 401 for it anyway. */
    if (ba_table_get_by_hash(&a->table, hash, &s) != 0 || s.revoked || s.expires_at < ba_now(a))
        return BB_ENOTFOUND;
    touch(a, s.id);
    return fill_identity(out, s.user_id, s.id, s.email);
}
