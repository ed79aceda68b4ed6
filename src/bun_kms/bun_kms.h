/* bun_kms.h — secrets and keys, envelope-encrypted at rest, behind the host's identities.
 *
 * The service "bun-kms" (bb_bun_kms_service) keeps its store in SQLite (WAL, synchronous=FULL)
 * under <data>/bun_kms/kms.db. Every value and every private key is encrypted with its own random
 * data key (AES-256-GCM, random 12-byte nonce, the record's identity as associated data); each
 * data key is wrapped by the master key (AES-256-GCM). The master key comes from
 * BUNBASE_BUN_KMS_MASTER_KEY (32 bytes, base64 or hex), BUNBASE_BUN_KMS_MASTER_KEY_FILE (mode 0600
 * or stricter), or is generated into <data>/bun_kms/master.key on first start. Design, routes,
 * roles and the storage format: docs/bun-kms.md.
 *
 * Namespaces: a project id ("p_..." as validated by bb_project_id_valid) or "_system"
 * (platform-internal: bun-auth). who: the caller's identity (struct bb_identity, bb_identity.h).
 * In-process callers that act as the platform pass an identity of kind
 * BB_IDENTITY_INTERNAL_SERVICE (bun_kms_system_identity() returns a static one). Roles:
 *   admin         internal identities (service, admin): every namespace, every operation;
 *   project       BB_IDENTITY_PROJECT_KEY_SECRET (sk_ of project P): namespace P only;
 *   read-only     BB_IDENTITY_PROJECT_KEY_PUBLIC (pk_ of project P): namespace P, only list,
 *                 metadata, verify and public keys;
 * anything else, or another namespace: BB_EPERM.
 * Every call is audited (who, op, ns, name, version, outcome, time — never a value). All functions
 * may block (SQLite): call them from a pool worker, never the loop thread. Errors: bb_err.h codes;
 * err (may be NULL) gets a one-line reason safe to show to the caller (never a value or a key).
 */
#ifndef BUN_KMS_H
#define BUN_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "bb_service.h"

struct json_t;
struct bb_identity;

struct bun_kms; /* the service state: bb_host_service_state(host, "bun-kms") (NULL when not
                 * running in-process) */
extern const struct bb_service_def bb_bun_kms_service; /* service name "bun-kms" */

#define BUN_KMS_SYSTEM_NS "_system"

/* A static identity of kind BB_IDENTITY_INTERNAL_SERVICE (admin role) for in-process callers
 * acting as the platform. */
const struct bb_identity *bun_kms_system_identity(void);

enum bun_kms_key_type {
    BUN_KMS_AES256_GCM,
    BUN_KMS_ED25519,
    BUN_KMS_ECDSA_P256,
    BUN_KMS_RSA_2048,
    BUN_KMS_RSA_3072
};
#define BUN_KMS_NAME_MAX 128
#define BUN_KMS_KID_MAX 64

/* "aes256-gcm", "ed25519", "ecdsa-p256", "rsa-2048", "rsa-3072" (static), and back (BB_EINVAL). */
const char *bun_kms_key_type_name(enum bun_kms_key_type t);
int bun_kms_key_type_parse(const char *s, enum bun_kms_key_type *out);

/* BB_EEXIST when the key exists. */
int bun_kms_key_create(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, enum bun_kms_key_type type, char *err, size_t errcap);
/* Creates the key from existing private key material (PEM PKCS#8, as written by OpenSSL; for
 * aes256-gcm the 32 raw bytes as base64 or hex) as its version 1: for moving keys in (bun-auth's
 * file keys, bring-your-own-key). BB_EEXIST when the key exists. Further entries (npem > 1)
 * become versions 2..n (the last one is current). */
int bun_kms_key_import(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, enum bun_kms_key_type type, const char *const *pem,
                       size_t npem, char *err, size_t errcap);
/* New version becomes current; older versions only decrypt/verify. *version (may be NULL) gets
 * the new version. */
int bun_kms_key_rotate(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, int *version, char *err, size_t errcap);
/* A new JSON object: {name, type, current_version, created_at, versions:[{version, kid,
 * created_at}]}. */
int bun_kms_key_get(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, struct json_t **out, char *err, size_t errcap);
int bun_kms_key_delete(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, char *err, size_t errcap);
/* Signs msg with the current version. alg: "EdDSA" (Ed25519), "ES256" (ECDSA P-256 SHA-256; sig
 * in JOSE r||s form when jose=1, DER otherwise), "RS256" (PKCS#1 v1.5 with DigestInfo, SHA-256),
 * "PS256" (PSS, SHA-256, salt = hash len). *sig is malloc'ed (caller frees). kid gets the RFC 7638
 * JWK thumbprint (base64url) of the version used. */
int bun_kms_sign(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *name, const char *alg, int jose, const void *msg, size_t len,
                 unsigned char **sig, size_t *siglen, char kid[BUN_KMS_KID_MAX + 1], char *err,
                 size_t errcap);
/* Verifies with the version whose kid is given (NULL: try every non-destroyed version). 0 valid,
 * BB_EAUTH invalid. */
int bun_kms_verify(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                   const char *name, const char *alg, int jose, const char *kid, const void *msg,
                   size_t len, const void *sig, size_t siglen, char *err, size_t errcap);
/* AES-256-GCM with the key's current version (encrypt) or the version named in the ciphertext
 * (decrypt). Ciphertext layout: u32 BE version || 12-byte nonce || ciphertext || 16-byte tag.
 * aad may be NULL/0. *out malloc'ed (caller frees). Decrypt: BB_EAUTH when the tag does not
 * verify. */
int bun_kms_encrypt(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, const void *pt, size_t ptlen, const void *aad,
                    size_t aadlen, unsigned char **out, size_t *outlen, char *err, size_t errcap);
int bun_kms_decrypt(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, const void *ct, size_t ctlen, const void *aad,
                    size_t aadlen, unsigned char **out, size_t *outlen, char *err,
                    size_t errcap);
/* A new JSON object {"keys":[JWK...]} of the key's public versions (kid, alg, use "sig",
 * kty/crv/x/y or n/e), current first. */
int bun_kms_jwks(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *name, struct json_t **out, char *err, size_t errcap);
/* Secrets: put stores a new version (values up to BUNBASE_BUN_KMS_SECRET_MAX bytes); get (version
 * 0 = latest) returns a malloc'ed copy (caller frees, wipe after use); delete removes every
 * version (BB_ENOTFOUND when none). */
int bun_kms_secret_put(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, const void *value, size_t len, int *version, char *err,
                       size_t errcap);
int bun_kms_secret_get(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, int version, void **value, size_t *len, char *err,
                       size_t errcap);
int bun_kms_secret_delete(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                          const char *name, char *err, size_t errcap);
/* Removes a whole namespace (project deleted). */
int bun_kms_namespace_drop(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                           char *err, size_t errcap);

#endif
