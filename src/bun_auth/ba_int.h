/* ba_int.h — bun-auth's private parts, shared by its files (and its unit tests).
 *
 *   bun_auth.c    service lifecycle (start/stop/health), the JWKS route, the sync thread
 *   ba_accounts.c users, passwords (Argon2id), sessions, refresh tokens (PostgreSQL)
 *   ba_jwt.c      signing keys (Ed25519 files + their public halves in PostgreSQL), JWT sign and
 *                 verify, the identity resolver
 *   ba_table.c    the in-memory session table the resolver reads
 *
 * Threads and locks: the loop thread runs the resolver and the JWKS route; pool workers run the
 * public functions; one background thread syncs the session table and the key ring from
 * PostgreSQL. a->klock (rwlock) guards the key ring, a->table.lock (rwlock) the session table;
 * neither is held across I/O, and they are never held together.
 */
#ifndef BA_INT_H
#define BA_INT_H

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bb_crypto.h"
#include "bb_http.h"
#include "bb_identity.h"
#include "bun_auth.h"

struct bb_config;
struct bb_pg_pool;

#define BA_MOD "bun-auth"
#define BA_MAX_KEYS 16 /* own current + retired in grace + other processes' */

/* Configuration, copied from the knobs at start. */
struct ba_conf {
    unsigned long long opslimit;
    size_t memlimit; /* bytes */
    size_t password_min, password_max;
    int64_t access_ttl, refresh_ttl, session_ttl, leeway, key_grace, key_rotate; /* seconds */
    uint64_t sync_ms;
    size_t max_sessions; /* live sessions per user */
    char issuer[128];
    char audience[128];
};

/* One signing key. pub is always set; priv only for this process's own keys (from files). */
struct ba_key {
    char kid[BUN_AUTH_KID_MAX + 1];
    char x[64]; /* base64url of the 32-byte public key */
    EVP_PKEY *pub;
    EVP_PKEY *priv;
    int64_t created_at; /* unix seconds */
    int64_t retired_at; /* 0: still signing (only keys[0] of the own ones) */
    int own;
};

/* An entry of the session table: what the resolver needs to accept a cookie or a sid. */
struct ba_sess {
    char id[BUN_AUTH_ID_MAX + 1];
    char user_id[BUN_AUTH_ID_MAX + 1];
    char email[BUN_AUTH_EMAIL_MAX + 1];
    uint8_t token_hash[BB_SHA256_LEN];
    int64_t expires_at; /* unix seconds */
    int revoked;
    uint64_t seen_gen; /* last sync that saw it */
    uint64_t added_ms; /* monotonic time it was added locally (kept by a sync started before) */
    struct ba_sess *next_id, *next_hash;
};

struct ba_table {
    pthread_rwlock_t lock;
    struct ba_sess **by_id, **by_hash;
    size_t nbuckets, count;
};

/* Tokens that verified recently (keyed by their SHA-256): a repeat skips the JSON parse and the
 * Ed25519 verification, not the expiry, key and session checks. Direct-mapped. */
#define BA_VCACHE_SLOTS 1024
struct ba_vslot {
    uint8_t hash[BB_SHA256_LEN];
    char sub[BUN_AUTH_ID_MAX + 1];
    char sid[BUN_AUTH_ID_MAX + 1];
    char kid[BUN_AUTH_KID_MAX + 1];
    int64_t exp;
    int used;
};

/* Sessions used since the last flush (for the sessions list's last_used_at): the resolver notes
 * the sid, the sync thread writes them to PostgreSQL about once a minute. Direct-mapped: a
 * collision loses a touch, which only makes last_used_at older. */
#define BA_TOUCH_SLOTS 1024
struct ba_touch {
    char sid[BUN_AUTH_ID_MAX + 1];
    int64_t at; /* unix seconds; 0: empty */
};

struct bun_auth {
    struct ba_conf c;
    struct bb_pg_pool *pg; /* borrowed */
    char dir[1100];        /* <data>/bun_auth */
    char dummy_hash[crypto_pwhash_STRBYTES];

    struct bun_kms *kms; /* borrowed; non-NULL: the signing keys live in bun-kms (ba_jwt.c) */
    pthread_rwlock_t klock;
    struct ba_key keys[BA_MAX_KEYS]; /* own current first, then older/foreign ones */
    size_t nkeys;
    pthread_mutex_t rotate_mu; /* one rotation at a time */

    struct ba_table table;

    pthread_mutex_t vmu;
    struct ba_vslot *vcache; /* BA_VCACHE_SLOTS */
    struct ba_touch *touch;  /* BA_TOUCH_SLOTS, under vmu */

    pthread_t sync_thread;
    int sync_running;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int sync_stop;
    uint64_t sync_gen;
    _Atomic uint64_t last_sync_ok_ms; /* wall clock; 0: never */
    _Atomic uint64_t sync_failures;
    _Atomic int64_t clock_offset; /* seconds; tests only */
};

/* ---- construction (bun_auth.c) ------------------------------------------------------------- */

/* bun-auth's knobs (BUNBASE_BUN_AUTH_*: the table in bun_auth.c) */
struct bun_auth_knobs {
    uint64_t argon2_opslimit;
    uint64_t argon2_memlimit_kib;
    uint64_t password_min;
    uint64_t password_max;
    uint64_t access_ttl_s;
    uint64_t refresh_ttl_s;
    uint64_t session_ttl_s;
    uint64_t leeway_s;
    uint64_t key_grace_s;
    uint64_t key_rotate_s;
    uint64_t sync_ms;
    uint64_t max_sessions;
    char issuer[128];
    char audience[128];
};

struct bun_auth_opts {
    const struct bb_config *cfg; /* borrowed: data_dir (our knobs come from the environment) */
    struct bb_pg_pool *pg;       /* borrowed; migrations already applied */
    int sync_thread;             /* 1: start the background sync thread */
    struct bun_kms *kms;         /* borrowed, may be NULL: bun-kms running in this process */
};
/* Loads (or generates) the signing keys, builds the dummy hash, loads the session table. */
int bun_auth_new(const struct bun_auth_opts *o, struct bun_auth **out, char *err, size_t errcap);
void bun_auth_free(struct bun_auth *a);
/* One sync of the session table and key ring from PostgreSQL (what the thread does). */
int bun_auth_sync_now(struct bun_auth *a);
/* Writes the noted session uses to last_used_at (what the sync thread does every minute). */
int bun_auth_touch_flush(struct bun_auth *a);
/* Tests: shift this instance's clock by s seconds. */
void bun_auth_test_clock_offset(struct bun_auth *a, int64_t s);
/* The identity resolver (arg: the struct bun_auth). */
int bun_auth_resolve(void *arg, const struct bb_http_request *req, struct bb_identity *out,
                     struct bb_identity_reject *why);

int64_t ba_now(const struct bun_auth *a); /* unix seconds, with the test offset */

/* ---- keys and tokens (ba_jwt.c) -------------------------------------------------------------- */

int ba_keys_load(struct bun_auth *a, char *err, size_t errcap);
void ba_keys_free(struct bun_auth *a);
/* Upserts the own keys' public halves into bun_auth_keys. */
int ba_keys_publish(struct bun_auth *a);
/* Reads other processes' keys from bun_auth_keys (conn borrowed); drops keys past their grace. */
int ba_keys_sync(struct bun_auth *a, void *pgconn);
/* Signs an access token for (user, session); *out heap string. */
int ba_jwt_issue(struct bun_auth *a, const char *user_id, const char *session_id,
                 int64_t session_expires, char **out, int64_t *exp_out);
/* Verifies; on success fills sub/sid. On BB_EAUTH why says what is wrong. BB_ENOTFOUND when tok
 * is not a JWT at all. */
int ba_jwt_verify(struct bun_auth *a, const char *tok, size_t len, char *sub, size_t subcap,
                  char *sid, size_t sidcap, struct bb_identity_reject *why);
const char *ba_current_kid(struct bun_auth *a, char *buf, size_t cap);

/* ---- session table (ba_table.c) ------------------------------------------------------------- */

int ba_table_init(struct ba_table *t);
void ba_table_release(struct ba_table *t);
/* Adds or updates (revoked is sticky). gen: the sync generation that saw it, 0 for local adds. */
int ba_table_put(struct ba_table *t, const struct ba_sess *s, uint64_t gen);
void ba_table_revoke(struct ba_table *t, const char *sid);
void ba_table_revoke_user(struct ba_table *t, const char *user_id);
/* Drops entries expired before `now` and entries a sync of generation gen did not see that
 * were added before since_ms (monotonic). */
void ba_table_sweep(struct ba_table *t, int64_t now, uint64_t gen, uint64_t since_ms);
/* Copies the entry (under the read lock) into *out; BB_ENOTFOUND when absent. */
int ba_table_get_by_hash(struct ba_table *t, const uint8_t hash[BB_SHA256_LEN],
                         struct ba_sess *out);
int ba_table_get_by_id(struct ba_table *t, const char *sid, struct ba_sess *out);
size_t ba_table_count(struct ba_table *t);

#endif
