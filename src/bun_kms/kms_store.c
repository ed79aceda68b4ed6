/* kms_store.c — bun-kms's store: SQLite file <data>/bun_kms/kms.db, the envelope, the master key
 * and its rotation, the audit log.
 *
 * Connection: journal_mode=WAL, synchronous=FULL for every change (a commit is fsynced before the
 * call returns); the audit row of a read-only operation (get, sign, verify, …) is committed with
 * synchronous=NORMAL (it survives a crash of the process; a power loss may lose the last ones).
 *
 * Tables (schema version 1, PRAGMA user_version):
 *   meta(k TEXT PRIMARY KEY, v BLOB)
 *     master_id   hex id of the master key the store is under (HMAC-SHA256(key, "bun-kms master
 *                 key id v1"), first 8 bytes): the key-check value — a different key is refused
 *     kcv         AES-256-GCM(master, aad "bun-kms kcv", "bun-kms") — proves the key, not only
 *                 its id
 *     rot_new_id, rot_new (new key sealed with the old), rot_old_id, rot_old (old key sealed with
 *                 the new): present only while a master-key rotation is in progress
 *   secrets(ns, name, version, created_at_ms, size, mk_id, wdek BLOB, ct BLOB,
 *           PRIMARY KEY(ns, name, version))
 *   keys(ns, name, type, current_version, created_at_ms, PRIMARY KEY(ns, name))
 *   key_versions(ns, name, version, created_at_ms, kid, pub BLOB (DER SubjectPublicKeyInfo; NULL
 *           for AES), mk_id, wdek BLOB, ct BLOB, PRIMARY KEY(ns, name, version))
 *   audit(id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms, kind, uid, project, op, ns, name, version,
 *         outcome)
 *
 * Envelope: ct = seal(dek, aad = ident, value) and wdek = seal(master, aad = "dek|" ident, dek),
 * seal = AES-256-GCM with a random 12-byte nonce, stored nonce || ciphertext || 16-byte tag; dek
 * is 32 random bytes per record; ident is "secret|ns|name|version" or "key|ns|name|version" (a
 * blob moved to another row does not open). mk_id names the master key wdek is sealed with.
 *
 * Master-key rotation (kms_rotate_master): 1) one transaction writes rot_* (each key sealed with
 * the other); 2) batches of BUNBASE_BUN_KMS_ROTATE_BATCH rows whose mk_id is not the new id are
 * re-wrapped (only wdek changes, never ct) and committed; 3) one transaction sets master_id/kcv
 * to the new key and removes rot_*. A crash anywhere is resumed at the next start with either
 * key (the other is recovered from rot_*).
 */
#include "kms_int.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_identity.h"
#include "bb_log.h"
#include "bb_time.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ AES-256-GCM */

int kms_gcm_seal(const uint8_t key[KMS_KEY_LEN], const void *aad, size_t aadlen, const void *pt,
                 size_t ptlen, uint8_t **out, size_t *outlen)
{
    if (ptlen > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX) return BB_ETOOBIG;
    uint8_t *b = malloc(ptlen + KMS_GCM_OVERHEAD);
    if (!b) return BB_ENOMEM;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c != NULL && bb_random_bytes(b, 12) == 0 &&
                      EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, b) == 1 &&
                      (aadlen == 0 || EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) == 1) &&
                      EVP_EncryptUpdate(c, b + 12, &len, pt, (int)ptlen) == 1 &&
                      EVP_EncryptFinal_ex(c, b + 12 + len, &len) == 1 &&
                      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, b + 12 + ptlen) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        free(b);
        return BB_EINTERNAL;
    }
    *out = b;
    *outlen = ptlen + KMS_GCM_OVERHEAD;
    return 0;
}

int kms_gcm_open(const uint8_t key[KMS_KEY_LEN], const void *aad, size_t aadlen, const void *blob,
                 size_t bloblen, uint8_t **out, size_t *outlen)
{
    if (bloblen < KMS_GCM_OVERHEAD) return BB_EAUTH;
    if (bloblen > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX) return BB_ETOOBIG;
    const uint8_t *in = blob;
    size_t n = bloblen - KMS_GCM_OVERHEAD;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return BB_ENOMEM;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c != NULL && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
                      (aadlen == 0 || EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) == 1) &&
                      EVP_DecryptUpdate(c, b, &len, in + 12, (int)n) == 1 &&
                      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 12 + n)) == 1;
    int fin = ok && EVP_DecryptFinal_ex(c, b + len, &len) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!fin) {
        OPENSSL_cleanse(b, n);
        free(b);
        return ok ? BB_EAUTH : BB_EINTERNAL;
    }
    *out = b;
    *outlen = n;
    return 0;
}

void kms_master_id(const uint8_t key[KMS_KEY_LEN], char id[KMS_MKID_LEN + 1])
{
    static const char label[] = "bun-kms master key id v1";
    uint8_t mac[BB_SHA256_LEN];
    bb_hmac_sha256(key, KMS_KEY_LEN, label, sizeof label - 1, mac);
    bb_hex_encode(mac, KMS_MKID_LEN / 2, id, KMS_MKID_LEN + 1);
}

int kms_parse_key(const char *text, size_t len, uint8_t key[KMS_KEY_LEN])
{
    while (len && (text[0] == ' ' || text[0] == '\n' || text[0] == '\r' || text[0] == '\t'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\n' || text[len - 1] == '\r' ||
                   text[len - 1] == '\t'))
        len--;
    uint8_t buf[64];
    size_t n = 0;
    if (len == 2 * KMS_KEY_LEN && bb_hex_decode(text, len, buf, sizeof buf, &n) == 0 &&
        n == KMS_KEY_LEN) {
        memcpy(key, buf, KMS_KEY_LEN);
        OPENSSL_cleanse(buf, sizeof buf);
        return 0;
    }
    if (len == 43 || len == 44) {
        char t[45];
        memcpy(t, text, len);
        t[len] = '\0';
        if (len == 44 && t[43] == '=') t[--len] = '\0';
        for (size_t i = 0; i < len; i++) {
            if (t[i] == '+') t[i] = '-';
            else if (t[i] == '/') t[i] = '_';
        }
        int rc = bb_base64url_decode(t, len, buf, sizeof buf, &n);
        OPENSSL_cleanse(t, sizeof t);
        if (rc == 0 && n == KMS_KEY_LEN) {
            memcpy(key, buf, KMS_KEY_LEN);
            OPENSSL_cleanse(buf, sizeof buf);
            return 0;
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return BB_EINVAL;
}

/* ------------------------------------------------------------------ sqlite helpers */

int kms_exec(struct bun_kms *k, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(k->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        bb_warn(KMS_MOD, "sqlite_error rc=%d msg=\"%s\"", rc, msg ? msg : "");
        sqlite3_free(msg);
        return rc == SQLITE_FULL ? BB_ENOSPACE : rc == SQLITE_BUSY ? BB_EBUSY : BB_EIO;
    }
    return 0;
}

int kms_begin(struct bun_kms *k, int durable)
{
    int rc = kms_exec(k, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    return rc ? rc : kms_exec(k, "BEGIN IMMEDIATE");
}

int kms_commit(struct bun_kms *k)
{
    int rc = kms_exec(k, "COMMIT");
    if (rc) kms_rollback(k);
    return rc;
}

void kms_rollback(struct bun_kms *k)
{
    if (!sqlite3_get_autocommit(k->db)) sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
}

static int meta_get(struct bun_kms *k, const char *key, uint8_t **v, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = BB_ENOTFOUND;
    if (sqlite3_prepare_v2(k->db, "SELECT v FROM meta WHERE k = ?1", -1, &st, NULL) != SQLITE_OK)
        return BB_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        *v = malloc(len + 1);
        if (!*v) rc = BB_ENOMEM;
        else {
            if (len) memcpy(*v, p, len);
            (*v)[len] = 0;
            *n = len;
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int meta_put(struct bun_kms *k, const char *key, const void *v, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(k->db, "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK)
        return BB_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, v, (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : BB_EIO;
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------ envelope */

int kms_envelope_seal(struct bun_kms *k, const char *ident, const void *pt, size_t ptlen,
                      uint8_t **wdek, size_t *wdeklen, uint8_t **ct, size_t *ctlen, char *mkid)
{
    uint8_t dek[KMS_KEY_LEN];
    char aad[600];
    int n = snprintf(aad, sizeof aad, "dek|%s", ident);
    if (n < 0 || (size_t)n >= sizeof aad) return BB_EINVAL;
    int rc = bb_random_bytes(dek, sizeof dek) == 0 ? 0 : BB_EINTERNAL;
    if (rc == 0) rc = kms_gcm_seal(dek, ident, strlen(ident), pt, ptlen, ct, ctlen);
    if (rc == 0) {
        rc = kms_gcm_seal(k->mk.key, aad, (size_t)n, dek, sizeof dek, wdek, wdeklen);
        if (rc) free(*ct);
    }
    OPENSSL_cleanse(dek, sizeof dek);
    if (rc == 0) memcpy(mkid, k->mk.id, KMS_MKID_LEN + 1);
    return rc;
}

static const struct kms_master *master_for(struct bun_kms *k, const char *mkid)
{
    if (strcmp(mkid, k->mk.id) == 0) return &k->mk;
    if (k->rotating && strcmp(mkid, k->old.id) == 0) return &k->old;
    return NULL;
}

static int unwrap_dek(struct bun_kms *k, const char *ident, const char *mkid, const void *wdek,
                      size_t wdeklen, uint8_t dek[KMS_KEY_LEN])
{
    const struct kms_master *m = master_for(k, mkid);
    if (!m) {
        bb_error(KMS_MOD, "record_under_unknown_master ident=%s mk=%s", ident, mkid);
        return BB_EINTERNAL;
    }
    char aad[600];
    int n = snprintf(aad, sizeof aad, "dek|%s", ident);
    if (n < 0 || (size_t)n >= sizeof aad) return BB_EINVAL;
    uint8_t *d = NULL;
    size_t dl = 0;
    int rc = kms_gcm_open(m->key, aad, (size_t)n, wdek, wdeklen, &d, &dl);
    if (rc == 0 && dl != KMS_KEY_LEN) rc = BB_EAUTH;
    if (rc == 0) memcpy(dek, d, KMS_KEY_LEN);
    if (d) {
        OPENSSL_cleanse(d, dl);
        free(d);
    }
    if (rc == BB_EAUTH) {
        bb_error(KMS_MOD, "record_corrupt ident=%s (data key does not open)", ident);
        rc = BB_EINTERNAL;
    }
    return rc;
}

int kms_envelope_open(struct bun_kms *k, const char *ident, const char *mkid, const void *wdek,
                      size_t wdeklen, const void *ct, size_t ctlen, uint8_t **pt, size_t *ptlen)
{
    uint8_t dek[KMS_KEY_LEN];
    int rc = unwrap_dek(k, ident, mkid, wdek, wdeklen, dek);
    if (rc == 0) {
        rc = kms_gcm_open(dek, ident, strlen(ident), ct, ctlen, pt, ptlen);
        if (rc == BB_EAUTH) {
            bb_error(KMS_MOD, "record_corrupt ident=%s (value does not open)", ident);
            rc = BB_EINTERNAL;
        }
    }
    OPENSSL_cleanse(dek, sizeof dek);
    return rc;
}

/* ------------------------------------------------------------------ master key */

static const char kcv_aad[] = "bun-kms kcv";
static const char kcv_pt[] = "bun-kms";

static int kcv_check(const uint8_t key[KMS_KEY_LEN], const uint8_t *kcv, size_t n)
{
    uint8_t *p = NULL;
    size_t pl = 0;
    int rc = kms_gcm_open(key, kcv_aad, sizeof kcv_aad - 1, kcv, n, &p, &pl);
    if (rc == 0 && (pl != sizeof kcv_pt - 1 || memcmp(p, kcv_pt, pl) != 0)) rc = BB_EAUTH;
    free(p);
    return rc;
}

static int kcv_write(struct bun_kms *k, const struct kms_master *m)
{
    uint8_t *b = NULL;
    size_t bl = 0;
    int rc = kms_gcm_seal(m->key, kcv_aad, sizeof kcv_aad - 1, kcv_pt, sizeof kcv_pt - 1, &b, &bl);
    if (rc == 0) rc = meta_put(k, "kcv", b, bl);
    if (rc == 0) rc = meta_put(k, "master_id", m->id, strlen(m->id));
    free(b);
    return rc;
}

/* Re-wraps up to batch rows of table still under another key than k->mk; *done = rows done. */
static int rewrap_batch(struct bun_kms *k, const char *table, const char *kind, int *done)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT rowid, ns, name, version, mk_id, wdek FROM %s WHERE mk_id != ?1 LIMIT ?2",
             table);
    sqlite3_stmt *st = NULL, *up = NULL;
    if (sqlite3_prepare_v2(k->db, sql, -1, &st, NULL) != SQLITE_OK) return BB_EIO;
    snprintf(sql, sizeof sql, "UPDATE %s SET mk_id = ?1, wdek = ?2 WHERE rowid = ?3", table);
    if (sqlite3_prepare_v2(k->db, sql, -1, &up, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return BB_EIO;
    }
    sqlite3_bind_text(st, 1, k->mk.id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)k->c.rotate_batch);
    int rc = 0, n = 0;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        char ident[600], mkid[KMS_MKID_LEN + 1];
        snprintf(ident, sizeof ident, "%s|%s|%s|%d", kind, sqlite3_column_text(st, 1),
                 sqlite3_column_text(st, 2), sqlite3_column_int(st, 3));
        snprintf(mkid, sizeof mkid, "%s", (const char *)sqlite3_column_text(st, 4));
        uint8_t dek[KMS_KEY_LEN], *w = NULL;
        size_t wl = 0;
        rc = unwrap_dek(k, ident, mkid, sqlite3_column_blob(st, 5),
                        (size_t)sqlite3_column_bytes(st, 5), dek);
        char aad[600];
        int an = snprintf(aad, sizeof aad, "dek|%s", ident);
        if (rc == 0) rc = kms_gcm_seal(k->mk.key, aad, (size_t)an, dek, sizeof dek, &w, &wl);
        OPENSSL_cleanse(dek, sizeof dek);
        if (rc == 0) {
            sqlite3_reset(up);
            sqlite3_bind_text(up, 1, k->mk.id, -1, SQLITE_STATIC);
            sqlite3_bind_blob(up, 2, w, (int)wl, SQLITE_STATIC);
            sqlite3_bind_int64(up, 3, sqlite3_column_int64(st, 0));
            if (sqlite3_step(up) != SQLITE_DONE) rc = BB_EIO;
            n++;
        }
        free(w);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    *done = n;
    return rc;
}

/* Re-wraps everything still under k->old, batch by batch, then finishes the rotation. mu is
 * taken per batch (operations go on in between). */
static int rotation_run(struct bun_kms *k)
{
    static const char *const tables[2][2] = {{"secrets", "secret"}, {"key_versions", "key"}};
    size_t total = 0;
    for (int t = 0; t < 2; t++) {
        for (;;) {
            pthread_mutex_lock(&k->mu);
            int n = 0, rc = kms_begin(k, 1);
            if (rc == 0) rc = rewrap_batch(k, tables[t][0], tables[t][1], &n);
            if (rc == 0) rc = kms_commit(k);
            else kms_rollback(k);
            pthread_mutex_unlock(&k->mu);
            if (rc) return rc;
            total += (size_t)n;
            if ((uint64_t)n < k->c.rotate_batch) break;
            if (k->c.rotate_pause_ms) usleep((useconds_t)(k->c.rotate_pause_ms * 1000));
        }
    }
    pthread_mutex_lock(&k->mu);
    int rc = kms_begin(k, 1);
    if (rc == 0) rc = kcv_write(k, &k->mk);
    if (rc == 0)
        rc = kms_exec(k, "DELETE FROM meta WHERE k IN ('rot_new_id','rot_new','rot_old_id','rot_old')");
    if (rc == 0) rc = kms_commit(k);
    else kms_rollback(k);
    if (rc == 0) {
        k->rotating = 0;
        OPENSSL_cleanse(&k->old, sizeof k->old);
    }
    pthread_mutex_unlock(&k->mu);
    if (rc == 0) bb_info(KMS_MOD, "master_rotation_done master_id=%s rewrapped=%zu", k->mk.id, total);
    return rc;
}

/* <dir>/master.key.new: the key a rotation of the generated key file moves to. 0 with key. */
static int read_new_key(struct bun_kms *k, uint8_t key[KMS_KEY_LEN])
{
    char path[1200], buf[128];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/master.key.new", k->dir);
    int rc = bb_fs_read_small(path, buf, sizeof buf, &n);
    if (rc == 0) rc = kms_parse_key(buf, n, key);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* The generated key file follows the store: master.key.new becomes master.key once the store is
 * under its key; a master.key.new of a rotation that never started (a crash before its first
 * transaction) is removed. */
static int promote_generated(struct bun_kms *k)
{
    if (!k->generated) return 0;
    char a[1200], b[1200], id[KMS_MKID_LEN + 1];
    uint8_t key[KMS_KEY_LEN];
    snprintf(a, sizeof a, "%s/master.key.new", k->dir);
    snprintf(b, sizeof b, "%s/master.key", k->dir);
    if (read_new_key(k, key) != 0) return 0;
    kms_master_id(key, id);
    OPENSSL_cleanse(key, sizeof key);
    if (strcmp(id, k->mk.id) != 0) {
        unlink(a);
        bb_warn(KMS_MOD, "master_key_new_discarded (a rotation that never started)");
        return 0;
    }
    int rc = rename(a, b) == 0 ? 0 : BB_EIO;
    if (rc == 0) {
        int fd = open(k->dir, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    return rc;
}

int kms_rotate_master(struct bun_kms *k, const uint8_t newkey[KMS_KEY_LEN], char *err,
                      size_t errcap)
{
    if (pthread_mutex_trylock(&k->rotate_mu) != 0) {
        snprintf(err, errcap, "a master-key rotation is already running");
        return BB_EBUSY;
    }
    struct kms_master nm;
    memcpy(nm.key, newkey, KMS_KEY_LEN);
    kms_master_id(nm.key, nm.id);
    int rc = 0;
    pthread_mutex_lock(&k->mu);
    if (k->rotating) rc = BB_EBUSY;
    else if (strcmp(nm.id, k->mk.id) == 0) rc = BB_EEXIST;
    pthread_mutex_unlock(&k->mu);
    if (rc) {
        snprintf(err, errcap, rc == BB_EBUSY ? "a master-key rotation is already running"
                                             : "the new master key is the current one");
        pthread_mutex_unlock(&k->rotate_mu);
        OPENSSL_cleanse(&nm, sizeof nm);
        return rc == BB_EEXIST ? BB_EINVAL : rc;
    }
    if (k->generated) {
        /* the new key reaches the disk before the store depends on it */
        char path[1200], *b64 = bb_base64_encode_alloc(nm.key, KMS_KEY_LEN);
        snprintf(path, sizeof path, "%s/master.key.new", k->dir);
        rc = b64 ? bb_fs_write_atomic(path, b64, strlen(b64), 0600) : BB_ENOMEM;
        if (b64) {
            OPENSSL_cleanse(b64, strlen(b64));
            free(b64);
        }
        if (rc) {
            snprintf(err, errcap, "cannot write %s", path);
            pthread_mutex_unlock(&k->rotate_mu);
            OPENSSL_cleanse(&nm, sizeof nm);
            return rc;
        }
    }
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    pthread_mutex_lock(&k->mu);
    rc = kms_gcm_seal(k->mk.key, "rot-new", 7, nm.key, KMS_KEY_LEN, &a, &al);
    if (rc == 0) rc = kms_gcm_seal(nm.key, "rot-old", 7, k->mk.key, KMS_KEY_LEN, &b, &bl);
    if (rc == 0) rc = kms_begin(k, 1);
    if (rc == 0) {
        rc = meta_put(k, "rot_new_id", nm.id, strlen(nm.id));
        if (rc == 0) rc = meta_put(k, "rot_new", a, al);
        if (rc == 0) rc = meta_put(k, "rot_old_id", k->mk.id, strlen(k->mk.id));
        if (rc == 0) rc = meta_put(k, "rot_old", b, bl);
        if (rc == 0) rc = kms_commit(k);
        else kms_rollback(k);
    }
    if (rc == 0) {
        k->old = k->mk;
        k->mk = nm;
        k->rotating = 1;
        bb_info(KMS_MOD, "master_rotation_started from=%s to=%s", k->old.id, k->mk.id);
    }
    pthread_mutex_unlock(&k->mu);
    free(a);
    free(b);
    OPENSSL_cleanse(&nm, sizeof nm);
    if (rc == 0) rc = rotation_run(k);
    if (rc == 0) rc = promote_generated(k);
    if (rc) snprintf(err, errcap, "master-key rotation failed (%s); it resumes at the next start",
                     bb_strerror(rc));
    pthread_mutex_unlock(&k->rotate_mu);
    return rc;
}

json_t *kms_master_status(struct bun_kms *k)
{
    pthread_mutex_lock(&k->mu);
    sqlite3_int64 pending = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(k->db,
                           "SELECT (SELECT count(*) FROM secrets WHERE mk_id != ?1) + (SELECT "
                           "count(*) FROM key_versions WHERE mk_id != ?1)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, k->mk.id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) pending = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    json_t *j = json_pack("{s:s,s:b,s:I,s:s}", "master_id", k->mk.id, "rotating", k->rotating,
                          "pending", (json_int_t)pending, "source", k->source);
    pthread_mutex_unlock(&k->mu);
    return j;
}

/* ------------------------------------------------------------------ open */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB);"
    "CREATE TABLE IF NOT EXISTS secrets(ns TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT "
    "NULL, created_at_ms INTEGER NOT NULL, size INTEGER NOT NULL, mk_id TEXT NOT NULL, wdek BLOB "
    "NOT NULL, ct BLOB NOT NULL, PRIMARY KEY(ns, name, version));"
    "CREATE TABLE IF NOT EXISTS keys(ns TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, "
    "current_version INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, PRIMARY KEY(ns, name));"
    "CREATE TABLE IF NOT EXISTS key_versions(ns TEXT NOT NULL, name TEXT NOT NULL, version "
    "INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, kid TEXT NOT NULL, pub BLOB, mk_id TEXT "
    "NOT NULL, wdek BLOB NOT NULL, ct BLOB NOT NULL, PRIMARY KEY(ns, name, version));"
    "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT "
    "NULL, kind TEXT NOT NULL, uid TEXT, project TEXT, op TEXT NOT NULL, ns TEXT, name TEXT, "
    "version INTEGER, outcome TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_ns ON audit(ns, id);"
    "PRAGMA user_version = 1;";

/* The master key from the environment, a file, or the generated file (created when missing). */
static int master_load(struct bun_kms *k, char *err, size_t errcap)
{
    const struct kms_config *c = &k->c;
    if (c->master_key[0] && c->master_key_file[0]) {
        snprintf(err, errcap, "set BUNBASE_BUN_KMS_MASTER_KEY or BUNBASE_BUN_KMS_MASTER_KEY_FILE, "
                              "not both");
        return BB_EINVAL;
    }
    if (c->master_key[0]) {
        if (kms_parse_key(c->master_key, strlen(c->master_key), k->mk.key) != 0) {
            snprintf(err, errcap, "BUNBASE_BUN_KMS_MASTER_KEY must be 32 bytes as base64 (44 "
                                  "characters) or hex (64 characters)");
            return BB_EINVAL;
        }
        k->source = "env";
        return 0;
    }
    char path[1200];
    if (c->master_key_file[0]) snprintf(path, sizeof path, "%s", c->master_key_file);
    else snprintf(path, sizeof path, "%s/master.key", k->dir);
    struct stat st;
    if (!c->master_key_file[0] && lstat(path, &st) != 0 && errno == ENOENT) {
        uint8_t key[KMS_KEY_LEN];
        bb_random_bytes(key, sizeof key);
        char *b64 = bb_base64_encode_alloc(key, sizeof key);
        int rc = b64 ? bb_fs_write_atomic(path, b64, strlen(b64), 0600) : BB_ENOMEM;
        if (b64) {
            OPENSSL_cleanse(b64, strlen(b64));
            free(b64);
        }
        OPENSSL_cleanse(key, sizeof key);
        if (rc) {
            snprintf(err, errcap, "bun-kms: cannot write %s: %s", path, strerror(errno));
            return BB_EIO;
        }
        bb_info(KMS_MOD, "master_key_generated path=%s (keep a copy: without it the store "
                         "cannot be read)", path);
    }
    const char *knob = c->master_key_file[0] ? "BUNBASE_BUN_KMS_MASTER_KEY_FILE" : "bun-kms";
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s: %s is not a readable regular file", knob, path);
        return BB_EINVAL;
    }
    if (st.st_mode & 077) {
        snprintf(err, errcap, "%s: %s has mode %03o; it must be 0600 or stricter", knob, path,
                 (unsigned)(st.st_mode & 0777));
        return BB_EINVAL;
    }
    char buf[256];
    size_t n = 0;
    if (bb_fs_read_small(path, buf, sizeof buf, &n) != 0 ||
        kms_parse_key(buf, n, k->mk.key) != 0) {
        OPENSSL_cleanse(buf, sizeof buf);
        snprintf(err, errcap, "%s: %s must hold 32 bytes as base64 or hex", knob, path);
        return BB_EINVAL;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    k->generated = !c->master_key_file[0];
    k->source = k->generated ? "generated" : "file";
    return 0;
}

/* Checks the configured key against the store; picks up a rotation left half-done. */
static int master_check(struct bun_kms *k, char *err, size_t errcap)
{
    uint8_t *sid = NULL, *kcv = NULL, *rnid = NULL, *roid = NULL, *wrapped = NULL;
    size_t sl = 0, kl = 0, l1 = 0, l2 = 0, wl = 0;
    int rc = meta_get(k, "master_id", &sid, &sl);
    if (rc == BB_ENOTFOUND) { /* a new store */
        rc = kms_begin(k, 1);
        if (rc == 0) rc = kcv_write(k, &k->mk);
        if (rc == 0) rc = kms_commit(k);
        else kms_rollback(k);
        return rc;
    }
    if (rc) return rc;
    if (meta_get(k, "rot_new_id", &rnid, &l1) == 0 && meta_get(k, "rot_old_id", &roid, &l2) == 0) {
        /* a rotation was interrupted: either key recovers the other */
        const char *rn = (const char *)rnid, *ro = (const char *)roid;
        struct kms_master other;
        int mine_is_new = strcmp(k->mk.id, rn) == 0, mine_is_old = strcmp(k->mk.id, ro) == 0;
        if (mine_is_new || mine_is_old) {
            uint8_t *key = NULL;
            size_t kn = 0;
            rc = meta_get(k, mine_is_new ? "rot_old" : "rot_new", &wrapped, &wl);
            if (rc == 0)
                rc = kms_gcm_open(k->mk.key, mine_is_new ? "rot-old" : "rot-new", 7, wrapped, wl,
                                  &key, &kn);
            if (rc == 0 && kn == KMS_KEY_LEN) {
                memcpy(other.key, key, KMS_KEY_LEN);
                kms_master_id(other.key, other.id);
                if (mine_is_new) k->old = other;
                else {
                    k->old = k->mk;
                    k->mk = other;
                }
                k->rotating = 1;
                bb_warn(KMS_MOD, "master_rotation_resuming from=%s to=%s", k->old.id, k->mk.id);
            } else {
                rc = BB_EINVAL;
            }
            if (key) {
                OPENSSL_cleanse(key, kn);
                free(key);
            }
            OPENSSL_cleanse(&other, sizeof other);
            goto out;
        }
    }
    if (strcmp((const char *)sid, k->mk.id) != 0) {
        snprintf(err, errcap,
                 "bun-kms: wrong master key: the store under %s/kms.db is encrypted with master "
                 "key id %s, the configured key has id %s (BUNBASE_BUN_KMS_MASTER_KEY / _FILE)",
                 k->dir, (const char *)sid, k->mk.id);
        rc = BB_EINVAL;
        goto out;
    }
    rc = meta_get(k, "kcv", &kcv, &kl);
    if (rc == 0 && kcv_check(k->mk.key, kcv, kl) != 0) {
        snprintf(err, errcap, "bun-kms: wrong master key: it does not open the store's key-check "
                              "value");
        rc = BB_EINVAL;
    }
out:
    free(sid);
    free(kcv);
    free(rnid);
    free(roid);
    free(wrapped);
    if (rc && !err[0]) snprintf(err, errcap, "bun-kms: cannot check the master key: %s", bb_strerror(rc));
    return rc;
}

int kms_store_open(struct bun_kms *k, char *err, size_t errcap)
{
    if (bb_fs_mkdir_p(k->dir, 0700) != 0) {
        snprintf(err, errcap, "bun-kms: cannot create %s: %s", k->dir, strerror(errno));
        return BB_EIO;
    }
    chmod(k->dir, 0700);
    int rc = master_load(k, err, errcap);
    if (rc) return rc;
    kms_master_id(k->mk.key, k->mk.id);
    char path[1200];
    snprintf(path, sizeof path, "%s/kms.db", k->dir);
    if (sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errcap, "bun-kms: cannot open %s: %s", path,
                 k->db ? sqlite3_errmsg(k->db) : "out of memory");
        kms_store_close(k);
        return BB_EIO;
    }
    chmod(path, 0600);
    sqlite3_busy_timeout(k->db, 5000);
    rc = kms_exec(k, "PRAGMA journal_mode=WAL");
    if (rc == 0) rc = kms_exec(k, "PRAGMA synchronous=FULL");
    if (rc == 0) rc = kms_exec(k, "PRAGMA secure_delete=ON");
    if (rc == 0) rc = kms_exec(k, schema);
    if (rc) {
        snprintf(err, errcap, "bun-kms: cannot initialise %s: %s", path, sqlite3_errmsg(k->db));
        kms_store_close(k);
        return rc;
    }
    rc = master_check(k, err, errcap);
    if (rc == BB_EINVAL && k->generated) {
        /* a crash after a rotation's last transaction, before master.key.new was renamed: the
         * store is under the new key */
        struct kms_master saved = k->mk;
        char first[300];
        snprintf(first, sizeof first, "%s", err);
        if (read_new_key(k, k->mk.key) == 0) {
            kms_master_id(k->mk.key, k->mk.id);
            err[0] = '\0';
            rc = master_check(k, err, errcap);
        }
        if (rc) {
            k->mk = saved;
            snprintf(err, errcap, "%s", first);
        }
        OPENSSL_cleanse(&saved, sizeof saved);
    }
    if (rc == 0 && k->rotating) {
        pthread_mutex_lock(&k->rotate_mu);
        rc = rotation_run(k);
        pthread_mutex_unlock(&k->rotate_mu);
        if (rc) snprintf(err, errcap, "bun-kms: cannot finish the master-key rotation: %s", bb_strerror(rc));
        if (rc == 0 && k->generated) rc = promote_generated(k);
        if (rc == 0 && !k->generated)
            bb_warn(KMS_MOD, "master_rotation_finished master_id=%s: configure the new master key "
                             "before the next start", k->mk.id);
    } else if (rc == 0 && k->generated) {
        promote_generated(k); /* a crash after the store moved on, before the file did */
    }
    if (rc) {
        kms_store_close(k);
        return rc;
    }
    return 0;
}

void kms_store_close(struct bun_kms *k)
{
    if (k->db) sqlite3_close_v2(k->db);
    k->db = NULL;
    OPENSSL_cleanse(&k->mk, sizeof k->mk);
    OPENSSL_cleanse(&k->old, sizeof k->old);
}

/* ------------------------------------------------------------------ audit */

void kms_audit(struct bun_kms *k, const struct bb_identity *who, const char *op, const char *ns,
               const char *name, int version, int rc, int lock)
{
    if (lock) pthread_mutex_lock(&k->mu);
    int own_txn = sqlite3_get_autocommit(k->db);
    if (own_txn) kms_exec(k, "PRAGMA synchronous=NORMAL");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(k->db,
                           "INSERT INTO audit(at_ms, kind, uid, project, op, ns, name, version, "
                           "outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)bb_time_wall_ms());
        sqlite3_bind_text(st, 2, who ? bb_identity_kind_name(who->kind) : "anonymous", -1,
                          SQLITE_STATIC);
        if (who && who->uid) sqlite3_bind_text(st, 3, who->uid, -1, SQLITE_STATIC);
        if (who && who->project_id[0]) sqlite3_bind_text(st, 4, who->project_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, op, -1, SQLITE_STATIC);
        if (ns) sqlite3_bind_text(st, 6, ns, (int)strnlen(ns, 200), SQLITE_STATIC);
        if (name) sqlite3_bind_text(st, 7, name, (int)strnlen(name, 200), SQLITE_STATIC);
        if (version > 0) sqlite3_bind_int(st, 8, version);
        sqlite3_bind_text(st, 9, rc == 0 ? "ok" : bb_err_code(rc), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            bb_error(KMS_MOD, "audit_write_failed op=%s msg=\"%s\"", op, sqlite3_errmsg(k->db));
    }
    sqlite3_finalize(st);
    if (own_txn && ++k->audit_writes % 256 == 0) {
        /* the bound: the oldest records beyond BUNBASE_BUN_KMS_AUDIT_MAX_ROWS go */
        sqlite3_stmt *del = NULL;
        if (sqlite3_prepare_v2(k->db, "DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?1",
                               -1, &del, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(del, 1, (sqlite3_int64)k->c.audit_max_rows);
            sqlite3_step(del);
        }
        sqlite3_finalize(del);
    }
    if (own_txn) kms_exec(k, "PRAGMA synchronous=FULL");
    if (lock) pthread_mutex_unlock(&k->mu);
}

int kms_audit_query(struct bun_kms *k, const char *ns, const char *op, const char *outcome,
                    int64_t since_ms, int64_t until_ms, int64_t cursor, int limit, json_t **out)
{
    pthread_mutex_lock(&k->mu);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
                 k->db,
                 "SELECT id, at_ms, kind, uid, project, op, ns, name, version, outcome FROM audit "
                 "WHERE (?1 IS NULL OR ns = ?1) AND (?2 IS NULL OR op = ?2) AND (?3 IS NULL OR "
                 "outcome = ?3) AND at_ms >= ?4 AND at_ms <= ?5 AND (?6 = 0 OR id < ?6) ORDER BY "
                 "id DESC LIMIT ?7",
                 -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : BB_EIO;
    json_t *arr = json_array();
    int64_t last = 0;
    int n = 0;
    if (rc == 0) {
        if (ns) sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        if (op) sqlite3_bind_text(st, 2, op, -1, SQLITE_STATIC);
        if (outcome) sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, since_ms);
        sqlite3_bind_int64(st, 5, until_ms > 0 ? until_ms : INT64_MAX);
        sqlite3_bind_int64(st, 6, cursor);
        sqlite3_bind_int(st, 7, limit + 1);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n == limit) {
                n++;
                break;
            }
            json_t *e = json_object();
            static const char *const cols[] = {"id", "at_ms", "kind", "uid", "project", "op",
                                               "ns", "name", "version", "outcome"};
            for (int i = 0; i < 10; i++) {
                int t = sqlite3_column_type(st, i);
                json_t *v = t == SQLITE_NULL      ? json_null()
                            : t == SQLITE_INTEGER ? json_integer(sqlite3_column_int64(st, i))
                                                  : json_string((const char *)sqlite3_column_text(st, i));
                json_object_set_new(e, cols[i], v ? v : json_null());
            }
            last = sqlite3_column_int64(st, 0);
            json_array_append_new(arr, e);
            n++;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&k->mu);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    char cur[32];
    snprintf(cur, sizeof cur, "%lld", (long long)last);
    *out = json_pack("{s:o,s:s?}", "records", arr, "next_cursor", n > limit ? cur : NULL);
    return *out ? 0 : BB_ENOMEM;
}
