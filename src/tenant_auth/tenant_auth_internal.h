/* tenant_auth_internal.h — what tenant-auth's files share (not a public API; see tenant_auth.h).
 *
 * Files:
 *   tenant_auth.c   lifecycle, the internal route table, the identity resolver's registration
 *   ta_config.c     BUNBASE_TENANT_AUTH_* knobs
 *   ta_store.c      users, sessions, one-time tokens and the per-project auth config, stored in the
 *                   project's bundoc database in reserved collections (_auth_*) through
 * bb_host_call ta_tokens.c     access tokens: signing with bun-kms (one EdDSA key per project), the
 * public-key cache, verification, the resolver ta_accounts.c   the end-user routes (register,
 * login, refresh, logout, me, password, reset, verification, anonymous) and the admin routes
 * (users, config, key rotation) ta_mail.c       the mailer (SMTP through libcurl, or the log)
 *   ta_oauth.c      OAuth 2.0 / OIDC sign-in (the "oauth" part; ta_oauth.h)
 *
 * Threads: handlers run on pool workers (they block on bundoc-server and bun-kms); the resolver
 * runs on the loop thread and only reads in-memory state under ta->mu.
 */
#ifndef TENANT_AUTH_INTERNAL_H
#define TENANT_AUTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bb_http.h"
#include "bb_identity.h"

struct json_t;
struct tenant_auth; /* service state */

#define TA_MOD "tenant-auth"

/* ---------------------------------------------------------------- contract with ta_oauth.c */

struct ta_provider {
    char name[32];
    char kind[16]; /* "github" | "google" | "oidc" */
    int enabled;
    char client_id[256];
    char *client_secret; /* heap, from bun-kms; wiped and freed by ta_provider_release */
    char issuer[512];    /* oidc: discovery at issuer/.well-known/openid-configuration */
    char authorize_url[512], token_url[512], userinfo_url[512]; /* github/google: fixed defaults,
                                                                 * overridable in the config */
    char scopes[256];
};

/* The project's provider `provider` with its client secret read from bun-kms. 0; BB_ENOTFOUND
 * (not configured), BB_EPERM (configured but disabled), BB_EUNAVAIL (bundoc-server or bun-kms
 * unreachable). Release with ta_provider_release. Blocks (pool worker). */
int ta_provider_get(struct tenant_auth *ta, const char *pid, const char *provider,
                    struct ta_provider *out, char *err, size_t errcap);
void ta_provider_release(struct ta_provider *p);

/* 1 when url is exactly one of the project's allowed redirect URLs, else 0. Blocks. */
int ta_redirect_allowed(struct tenant_auth *ta, const char *pid, const char *url);

/* The user linked to (provider, subject), else a new one linked to it (email from the provider;
 * when email_verified and a user with that email exists, that user is linked). uid (uidcap >=
 * TA_ID_MAX + 1) gets the user id. BB_EPERM when the user is disabled. Blocks. */
int ta_user_from_external(struct tenant_auth *ta, const char *pid, const char *provider,
                          const char *subject, const char *email, int email_verified, char *uid,
                          size_t uidcap, char *err, size_t errcap);

/* A new session for uid: *out a new JSON object {access_token, refresh_token, token_type,
 * expires_in, user:{...}}. Blocks. */
int ta_issue_tokens(struct tenant_auth *ta, const char *pid, const char *uid,
                    const struct bb_http_request *req, struct json_t **out, char *err,
                    size_t errcap);

/* The state, from a route's ctx (tenant-auth's own routes and ta_oauth_routes). */
struct tenant_auth *ta_from_request(const struct bb_http_request *req);

/* The project a tenant-auth route serves: its {projectId} path parameter (the gateway forwards
 * /v1/auth/project/... and /v1/projects/{projectId}/auth/... there), validated; NULL when
 * absent or invalid. */
const char *ta_request_project(struct bb_http_request *req);

/* ---------------------------------------------------------------- limits */

#define TA_ID_MAX 40     /* user and session ids (ULIDs) */
#define TA_EMAIL_MAX 254 /* RFC 5321 */
#define TA_NAME_MAX 200
#define TA_PROVIDERS_MAX 16 /* providers in one project's config */
#define TA_REDIRECTS_MAX 64 /* allowed redirect URLs */
#define TA_URL_MAX 2048

/* ---------------------------------------------------------------- configuration (ta_config.c) */

struct ta_conf {
    uint64_t argon2_opslimit, argon2_memlimit_kib;
    uint64_t access_ttl_s, refresh_ttl_s; /* defaults of a project's "tokens" config */
    uint64_t max_ttl_s;                   /* the most a project may configure */
    uint64_t key_grace_s, leeway_s;
    uint64_t key_refresh_ms; /* resolver: one key reload per project at most this often */
    uint64_t key_cache_projects;
    uint64_t rate_limit; /* 0: off (tests) */
    uint64_t rate_ip_per_min, rate_ip_burst, rate_account_per_min, rate_account_burst;
    uint64_t rate_max_entries;
    uint64_t reset_ttl_s, verify_ttl_s;
    uint64_t password_max_bytes;
    uint64_t revoked_max; /* revoked sessions / disabled users remembered in memory */
    uint64_t cookie_secure;
    char public_url[512]; /* issuer base and mail links; "": the gateway's */
    char mailer[16];      /* "log" | "smtp" */
    char smtp_url[512];   /* smtp://host:port or smtps://host:port */
    char smtp_from[256];
    char smtp_user[256];
    char smtp_password_file[512];
    uint64_t smtp_starttls; /* 1: require STARTTLS on smtp:// */
    uint64_t smtp_timeout_ms;
};
/* Loads the BUNBASE_TENANT_AUTH_* knobs (defaults, then the environment). 0 or BB_EINVAL (err
 * names the knob). */
int ta_config_load(struct ta_conf *c, char *err, size_t errcap);

/* ---------------------------------------------------------------- the service */

struct bb_runtime;
struct bun_kms;
struct ta_keys;
struct ta_mem;
struct bb_rl;

struct tenant_auth {
    struct bb_runtime *rt;
    struct bun_kms *kms;
    struct ta_conf c;
    char issuer_base[600]; /* <public url>/v1/projects/ — the issuer is issuer_base + pid + "/auth"
                            */
    char dummy_hash[160];  /* Argon2id of a random password: unknown emails cost the same */
    struct ta_keys *keys;  /* per-project public keys (ta_tokens.c) */
    struct ta_mem *mem;    /* revoked sessions, disabled users (ta_tokens.c) */
    struct bb_rl *rl;      /* login rate limits (bb_ratelimit.h) */
    char *smtp_password;   /* from smtp_password_file; wiped at stop */
};

/* ---------------------------------------------------------------- storage (ta_store.c)
 * One request to bundoc-server for the project's default database as the internal service
 * (bb_host_call): suffix is the path after /databases/(default) ("/documents/_auth_users/ID").
 * body (may be NULL) borrowed. *out (may be NULL) gets the parsed JSON answer (caller decrefs) or
 * NULL. Returns the HTTP status, or a negative BB_E* when bundoc-server is unreachable. */
int ta_db(struct tenant_auth *ta, const char *pid, const char *method, const char *suffix,
          const struct json_t *body, struct json_t **out);
/* GET one system document: 0 with *out, BB_ENOTFOUND, BB_EUNAVAIL. */
int ta_doc_get(struct tenant_auth *ta, const char *pid, const char *coll, const char *id,
               struct json_t **out);
/* Creates (BB_EEXIST when the id is taken), replaces or patches one document; deletes one
 * (BB_ENOTFOUND when it was not there: the first deleter wins). */
int ta_doc_create(struct tenant_auth *ta, const char *pid, const char *coll, struct json_t *doc);
int ta_doc_put(struct tenant_auth *ta, const char *pid, const char *coll, const char *id,
               struct json_t *doc);
int ta_doc_patch(struct tenant_auth *ta, const char *pid, const char *coll, const char *id,
                 struct json_t *patch);
int ta_doc_delete(struct tenant_auth *ta, const char *pid, const char *coll, const char *id);

/* The project's auth config, with every default filled in (a new object). BB_EUNAVAIL. */
int ta_config_get(struct tenant_auth *ta, const char *pid, struct json_t **out);

/* ---------------------------------------------------------------- tokens (ta_tokens.c) */

int ta_tokens_init(struct tenant_auth *ta);
void ta_tokens_release(struct tenant_auth *ta);
/* Signs the claims (borrowed; iss, aud, iat, exp, jti are set here) with the project's current
 * key in bun-kms (created on first use). *out heap string. */
int ta_jwt_sign(struct tenant_auth *ta, const char *pid, struct json_t *claims, int64_t ttl_s,
                char **out, char *err, size_t errcap);
/* {"keys":[...]}: the project's public keys still verifying (current first). */
int ta_jwks(struct tenant_auth *ta, const char *pid, struct json_t **out, char *err, size_t errcap);
/* Rotates the project's signing key; the previous one verifies for key_grace_s more. */
int ta_key_rotate(struct tenant_auth *ta, const char *pid, char *kid, size_t kidcap, char *err,
                  size_t errcap);
/* Sessions revoked and users disabled, seen by the resolver at once (this process). */
void ta_mem_revoke_session(struct tenant_auth *ta, const char *pid, const char *sid, int64_t until);
void ta_mem_disable_user(struct tenant_auth *ta, const char *pid, const char *uid, int disabled);
/* The identity resolver for tenant JWTs (bb_identity_resolve_fn; arg: the tenant_auth). */
int ta_resolve(void *arg, const struct bb_http_request *req, struct bb_identity *out,
               struct bb_identity_reject *why);
int64_t ta_now(void);

/* ---------------------------------------------------------------- rate limits */
/* 0 when allowed; BB_ELIMIT with *retry_after_s. key: "<pid>|ip|<ip>" etc. */
int ta_rl_take(struct tenant_auth *ta, const char *key, uint64_t per_min, uint64_t burst,
               uint64_t *retry_after_s);

/* ---------------------------------------------------------------- mail (ta_mail.c) */
/* Sends a text mail to `to` (kind: "password_reset" | "email_verification", for the log).
 * 0, BB_EUNAVAIL (the SMTP server refused or cannot be reached: err says why). Blocks. */
int ta_mail_send(struct tenant_auth *ta, const char *to, const char *kind, const char *subject,
                 const char *text, char *err, size_t errcap);

/* ---------------------------------------------------------------- routes (ta_accounts.c) */
extern const struct bb_route ta_routes[];
extern const size_t ta_nroutes;

#endif
