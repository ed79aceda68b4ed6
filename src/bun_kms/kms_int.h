/* kms_int.h — bun-kms's private declarations: configuration, the store (kms_store.c), the
 * operations (kms_ops.c) and the transports (kms_http.c).
 *
 * Threading: struct kms_store serializes every SQLite statement under mu (one connection);
 * cryptography on values runs outside it. The master key(s) are read under mu too (rotation
 * swaps them).
 */
#ifndef KMS_INT_H
#define KMS_INT_H

#include "bun_kms.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_MOD "bun-kms"
#define KMS_KEY_LEN 32
#define KMS_MKID_LEN 16 /* hex chars of a master key id */

struct bb_runtime;
struct bb_rpc_http_listener;
struct bb_route;

/* Knobs (kms_config.c), BUNBASE_BUN_KMS_*. */
struct kms_config {
    char master_key[256];       /* MASTER_KEY (secret): 32 bytes as base64 or hex */
    char master_key_file[1024]; /* MASTER_KEY_FILE */
    uint64_t secret_max;        /* SECRET_MAX: bytes of one secret value */
    uint64_t data_max;          /* DATA_MAX: bytes of a plaintext/message to encrypt or sign */
    uint64_t page_max;          /* PAGE_MAX: items of one list/audit page */
    uint64_t max_request;       /* MAX_REQUEST_BYTES: body of one HTTP/RPC request */
    char rpc_addr[128];         /* RPC_ADDR: "" = no RPC listener */
    uint64_t rotate_batch;      /* ROTATE_BATCH: rows re-wrapped per transaction */
    uint64_t rotate_pause_ms;   /* ROTATE_PAUSE_MS: sleep between batches (tests, throttling) */
    uint64_t audit_max_rows;    /* AUDIT_MAX_ROWS: the oldest audit records beyond it go */
    uint64_t max_versions;      /* MAX_VERSIONS: of one secret or key */
    uint64_t max_per_ns;        /* MAX_PER_NAMESPACE: secrets + keys of one namespace */
};
int kms_config_load(struct kms_config *c, char *err, size_t errcap);

/* A bun-kms without transports over <data_dir>/bun_kms (what start() builds on; unit tests use it
 * directly). c is copied. kms_free closes it. */
int kms_new(const struct kms_config *c, const char *data_dir, struct bun_kms **out, char *err,
            size_t errcap);
void kms_free(struct bun_kms *k);

struct kms_master {
    uint8_t key[KMS_KEY_LEN];
    char id[KMS_MKID_LEN + 1];
};

struct bun_kms {
    struct kms_config c;
    char dir[1100];      /* <data>/bun_kms */
    int generated;       /* the master key is <dir>/master.key (we made it) */
    const char *source;  /* "env", "file" or "generated" (static) */
    sqlite3 *db;
    pthread_mutex_t mu;  /* db, mk, rot */
    struct kms_master mk; /* current */
    struct kms_master old; /* during a rotation: the key rows may still be wrapped with */
    int rotating;
    uint64_t audit_writes; /* under mu: every 256th write prunes the audit table */
    pthread_mutex_t rotate_mu; /* one master rotation at a time */
    /* parsed private keys of recent versions (kms_ops.c): a version's material never changes;
     * deleting a key or a namespace empties it */
    pthread_mutex_t pkmu;
    struct kms_pkslot *pk; /* KMS_PK_SLOTS, direct-mapped by ident */
    /* transports */
    struct bb_runtime *rt;
    struct bb_route *routes; /* our copy of the route table (body limit from the config) */
    struct bb_rpc_http_listener *rpc; /* NULL: no RPC listener */
};

/* kms_crypto (kms_store.c): AES-256-GCM seal/open. Blob layout: nonce(12) || ct || tag(16).
 * *out malloc'ed. open: BB_EAUTH when the tag does not verify. */
#define KMS_GCM_OVERHEAD 28
int kms_gcm_seal(const uint8_t key[KMS_KEY_LEN], const void *aad, size_t aadlen, const void *pt,
                 size_t ptlen, uint8_t **out, size_t *outlen);
int kms_gcm_open(const uint8_t key[KMS_KEY_LEN], const void *aad, size_t aadlen, const void *blob,
                 size_t bloblen, uint8_t **out, size_t *outlen);
void kms_master_id(const uint8_t key[KMS_KEY_LEN], char id[KMS_MKID_LEN + 1]);
/* Parses 32 bytes from base64 (standard or url, padded or not) or hex text (whitespace around
 * ignored). BB_EINVAL otherwise. */
int kms_parse_key(const char *text, size_t len, uint8_t key[KMS_KEY_LEN]);

/* Store: opens <dir>/kms.db, checks the master key against it (finishes a rotation left
 * half-done). */
int kms_store_open(struct bun_kms *k, char *err, size_t errcap);
void kms_store_close(struct bun_kms *k);
/* Envelope: a fresh data key seals pt with aad = ident; the data key is sealed with the current
 * master key (aad "dek|" ident). Call with mu held (reads mk). */
int kms_envelope_seal(struct bun_kms *k, const char *ident, const void *pt, size_t ptlen,
                      uint8_t **wdek, size_t *wdeklen, uint8_t **ct, size_t *ctlen, char *mkid);
/* Opens a record sealed under master key mkid (the current one or, mid-rotation, the old). Call
 * with mu held. */
int kms_envelope_open(struct bun_kms *k, const char *ident, const char *mkid, const void *wdek,
                      size_t wdeklen, const void *ct, size_t ctlen, uint8_t **pt, size_t *ptlen);
/* Master-key rotation to newkey: re-wraps every data key, resumable (docs/bun-kms.md). */
int kms_rotate_master(struct bun_kms *k, const uint8_t newkey[KMS_KEY_LEN], char *err,
                      size_t errcap);
/* Status JSON {"master_id", "rotating", "pending":n}. */
struct json_t *kms_master_status(struct bun_kms *k);

/* sqlite helpers (mu held) */
int kms_exec(struct bun_kms *k, const char *sql);
int kms_begin(struct bun_kms *k, int durable);
int kms_commit(struct bun_kms *k);
void kms_rollback(struct bun_kms *k);

/* Audit: one row per operation (mu held or not: takes it when lock is 1). */
void kms_audit(struct bun_kms *k, const struct bb_identity *who, const char *op, const char *ns,
               const char *name, int version, int rc, int lock);
/* Audit query: filters may be NULL / 0; cursor = last id seen (0: from newest). */
int kms_audit_query(struct bun_kms *k, const char *ns, const char *op, const char *outcome,
                    int64_t since_ms, int64_t until_ms, int64_t cursor, int limit,
                    struct json_t **out);
/* bun_kms_secret_get that also tells which version it read (*read, may be NULL). */
int kms_secret_get_version(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                           const char *name, int version, int *read, void **value, size_t *len,
                           char *err, size_t errcap);
/* Lists (paginated by name; cursor = last name seen, "" = start). */
int kms_secret_list(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *cursor, int limit, struct json_t **out, char *err, size_t errcap);
int kms_key_list(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *cursor, int limit, struct json_t **out, char *err, size_t errcap);

/* A key's metadata without a role check or an audit record: for answering an operation that was
 * already checked and audited (create, rotate). */
int kms_key_meta(struct bun_kms *k, const char *ns, const char *name, struct json_t **out,
                 char *err, size_t errcap);

/* The private-key cache (kms_ops.c). */
#define KMS_PK_SLOTS 256
int kms_pkcache_init(struct bun_kms *k);
void kms_pkcache_release(struct bun_kms *k);

/* Transports (kms_http.c). */
int kms_http_start(struct bun_kms *k, char *err, size_t errcap);
/* Stops the RPC listener; returns the RPC calls still in flight. */
int kms_http_stop(struct bun_kms *k);

#endif
