/* tenant_auth_internal.h — what tenant-auth's files share (not a public API; see tenant_auth.h).
 *
 * Files:
 *   tenant_auth.c   lifecycle, the internal route table, the identity resolver's registration
 *   ta_config.c     BUNBASE_TENANT_AUTH_* knobs
 *   ta_store.c      users, sessions, one-time tokens and the per-project auth config, stored in the
 *                   project's bundoc database in reserved collections (_auth_*) through bb_host_call
 *   ta_tokens.c     access tokens: signing with bun-kms (one EdDSA key per project), the public-key
 *                   cache, verification, the resolver
 *   ta_accounts.c   the end-user routes (register, login, refresh, logout, me, password, reset,
 *                   verification, anonymous) and the admin routes (users, config, key rotation)
 *   ta_mail.c       the mailer (SMTP through libcurl, or the log)
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

#define TA_ID_MAX 40         /* user and session ids (ULIDs) */
#define TA_EMAIL_MAX 254     /* RFC 5321 */
#define TA_NAME_MAX 200
#define TA_PROVIDERS_MAX 16  /* providers in one project's config */
#define TA_REDIRECTS_MAX 64  /* allowed redirect URLs */
#define TA_URL_MAX 2048

#endif
