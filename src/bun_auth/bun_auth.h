/* bun_auth.h — developer identity: accounts, passwords, sessions, signed access tokens.
 *
 * The service "bun-auth" (bb_bun_auth_service) owns its PostgreSQL tables (src/bun_auth/migrations,
 * names prefixed bun_auth_), its signing keys (Ed25519, "EdDSA"; generated on first start, kept in
 * <data>/bun_auth/ with mode 0600, or in bun-kms when it runs in the process; rotation with a
 * grace window) and its
 * public route GET /.well-known/jwks.json. It registers an identity resolver on the gateway:
 *   Authorization: Bearer <access JWT>   → BB_IDENTITY_DEVELOPER_SESSION (uid = user id)
 *   Cookie: session_token=<token>        → BB_IDENTITY_DEVELOPER_SESSION (uid = user id)
 * rejecting alg "none", HS*, unknown kid, bad signature, expired, wrong iss/aud, and sessions that
 * were revoked (logout, logout-everywhere, refresh-token reuse) with 401 and a machine code. The
 * resolver never blocks: revocations are seen through an in-memory session table kept in step with
 * PostgreSQL (local changes at once, other processes' within BUNBASE_BUN_AUTH_SYNC_MS).
 *
 * The platform service serves the /v1/auth/... routes and calls the functions below in-process
 * (bb_host_service_state(host, "bun-auth")). Every function blocks (PostgreSQL, Argon2id): call it
 * from a pool worker, never from the loop thread. Errors follow bb_err.h; err (when given) gets a
 * one-line reason safe to show to the client (never a password, hash or token).
 */
#ifndef BUN_AUTH_H
#define BUN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "bb_service.h"

struct json_t;
struct bun_auth;

extern const struct bb_service_def bb_bun_auth_service;

#define BUN_AUTH_ID_MAX 40     /* user and session ids (ULIDs today) */
#define BUN_AUTH_EMAIL_MAX 254 /* RFC 5321 path limit */
#define BUN_AUTH_NAME_MAX 200

struct bun_auth_user {
    char id[BUN_AUTH_ID_MAX + 1];
    char email[BUN_AUTH_EMAIL_MAX + 1]; /* normalized: trimmed, lower-cased */
    char name[BUN_AUTH_NAME_MAX + 1];
    int64_t created_at_ms;
    int email_verified;
};

/* Where a login or refresh comes from (shown in the sessions list). Borrowed strings, may be NULL.
 */
struct bun_auth_client {
    const char *ip;
    const char *user_agent;
};

/* What login and refresh hand out. The strings are heap-allocated: bun_auth_tokens_release. */
struct bun_auth_tokens {
    char *access_token;        /* JWT (EdDSA): iss, aud, sub, sid, iat, exp, jti; header kid */
    int64_t access_expires_at; /* unix seconds */
    char *refresh_token;       /* opaque, single use, rotated on every refresh */
    int64_t refresh_expires_at;
    char *session_token; /* opaque, for the dashboard cookie session_token; stable per session.
                          * Only login hands it out (it is stored hashed): NULL after refresh */
    char session_id[BUN_AUTH_ID_MAX + 1];
};
void bun_auth_tokens_release(struct bun_auth_tokens *t);

/* New account. BB_EINVAL (email malformed, password shorter than the minimum or longer than the
 * maximum, name too long: err says which), BB_EEXIST (email taken, compared case-insensitively). */
int bun_auth_register(struct bun_auth *a, const char *email, const char *password, const char *name,
                      struct bun_auth_user *out, char *err, size_t errcap);

/* Password login: a new session. BB_EAUTH for an unknown email or a wrong password alike (same
 * work either way, so timing does not tell which). A login past BUNBASE_BUN_AUTH_MAX_SESSIONS live
 * sessions of the user revokes the oldest ones. */
int bun_auth_login(struct bun_auth *a, const char *email, const char *password,
                   const struct bun_auth_client *client, struct bun_auth_user *user,
                   struct bun_auth_tokens *out);

/* Rotates a refresh token. BB_EAUTH when unknown, expired or revoked; a token that was already
 * used revokes its whole session (reuse detection) and is BB_EAUTH too — so two concurrent
 * refreshes with the same token kill the session: clients must serialize refreshes. out gets a new
 * access and refresh token for the same session (session_token NULL). */
int bun_auth_refresh(struct bun_auth *a, const char *refresh_token,
                     const struct bun_auth_client *client, struct bun_auth_tokens *out);

/* Revokes one session (logout) / every session of a user (logout everywhere). Access tokens of a
 * revoked session stop resolving at once in this process. */
int bun_auth_logout(struct bun_auth *a, const char *session_id);
int bun_auth_logout_all(struct bun_auth *a, const char *user_id);

/* A new JSON array of the user's live sessions: [{id, created_at, last_used_at, expires_at, ip,
 * user_agent}], newest first ([] when none). */
int bun_auth_sessions(struct bun_auth *a, const char *user_id, struct json_t **out);
/* BB_ENOTFOUND when the session is not the user's or not live. */
int bun_auth_session_revoke(struct bun_auth *a, const char *user_id, const char *session_id);

/* BB_ENOTFOUND when there is no such user. */
int bun_auth_user_get(struct bun_auth *a, const char *user_id, struct bun_auth_user *out);
int bun_auth_user_by_email(struct bun_auth *a, const char *email, struct bun_auth_user *out);

/* Generates a new signing key and makes it the current one; the previous key keeps verifying
 * tokens (and stays in the JWKS) for BUNBASE_BUN_AUTH_KEY_GRACE_S. kid_out (may be NULL) gets the
 * new key id (RFC 7638 thumbprint, at most BUN_AUTH_KID_MAX). BB_EIO when the key cannot be
 * written. Blocks (file system, PostgreSQL): any thread but the loop. */
#define BUN_AUTH_KID_MAX 64
int bun_auth_rotate_key(struct bun_auth *a, char *kid_out, size_t kidcap);

/* A new JSON object {"keys":[JWK…]}: the public keys tokens may be signed with (OKP, Ed25519,
 * kid, alg EdDSA, use sig), current first. Served at GET /.well-known/jwks.json. Any thread. */
int bun_auth_jwks(struct bun_auth *a, struct json_t **out);

/* ------------------------------------------------------------------ project tokens
 * Short-lived tokens that stand for one project's admin on the data plane (documents, KV), handed
 * to a function for the length of an invocation (BunBase.admin(); src/functions/). Stateless:
 *
 *     bbf_<expires_ms>_<mac>_<projectId>    mac = hex(HMAC-SHA-256(K, "<expires_ms>_<projectId>"))
 *     K = HMAC-SHA-256(internal token, "bunbase project token v1")
 *
 * (no dots: never mistaken for a JWT by bun-auth's resolver, which comes first), so any bunbased holding the internal token mints and verifies them without a shared table (a
 * new internal token invalidates every one). Never a project key: revoking or rotating the
 * project's sk_ does not touch them, the short expiry does. The platform's resolver accepts them
 * (BB_IDENTITY_PROJECT_TOKEN, the matrix's sk_ row, data-plane routes only). Pure functions, any
 * thread, no blocking. */
#define BUN_AUTH_PROJECT_TOKEN_MAX 192 /* bytes, NUL included */
/* 0, or BB_EINVAL (no token, invalid project id, out too small). */
int bun_auth_project_token_mint(const char *internal_token, const char *project_id,
                                int64_t expires_ms, char *out, size_t cap);
/* 0 with pid (cap >= 73) and *expires_ms filled; BB_ENOTFOUND (not a bbf_ token), BB_EAUTH
 * (malformed or bad MAC; constant-time compare), BB_ETIMEDOUT (valid but expired at now_ms). */
int bun_auth_project_token_verify(const char *internal_token, const char *token, int64_t now_ms,
                                  char *pid, size_t pidcap, int64_t *expires_ms);

#endif
