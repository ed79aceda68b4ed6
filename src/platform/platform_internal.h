/* platform_internal.h — what the platform's files share (not a public API; see platform.h).
 *
 * Files:
 *   platform.c         lifecycle, the route table with its matrix rows, instance status, debug
 *   platform_authz.c   the authorization matrix and the router's authorizer
 *   platform_cache.c   in-memory snapshot of tokens, keys and memberships + the identity resolver
 *   platform_auth.c    /v1/auth/..., /v1/setup, rate limits
 *   platform_projects.c projects, members, keys, personal access tokens, project config
 *   platform_config.c  BUNBASE_PLATFORM_* knobs
 *   platform_audit.c   the audit log of key, member, project and CORS operations
 */
#ifndef BB_PLATFORM_INTERNAL_H
#define BB_PLATFORM_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bb_http.h"
#include "bb_time.h"
#include "bb_id.h"
#include "bb_identity.h"
#include "bb_ratelimit.h"
#include "bb_knobs.h"

#include <jansson.h>
#include <libpq-fe.h>

struct bb_runtime;
struct bun_auth;

/* ---------------------------------------------------------------- the matrix */

/* Resources of the authorization matrix. RES_PUBLIC: the route needs no authorization (it still
 * has its row: "public" is a decision, not an omission). RES_ACCOUNT: the caller's own account
 * (sessions, tokens, profile); the other resources are per project. */
enum plat_res {
    RES_NONE = 0, /* no row: a route with it fails platform_routes_check() and the matrix test */
    RES_PUBLIC,
    RES_ACCOUNT,
    RES_PROJECT,
    RES_MEMBERS,
    RES_KEYS,
    RES_DATABASE,
    RES_KV,
    RES_REALTIME,
    RES_CONFIG,
    RES_LOGS,
    RES_FUNCTIONS,
    RES_AUTH,     /* a project's end users and auth config (tenant-auth's admin routes) */
    RES_AUTH_APP, /* an app's own sign-in routes (pk_ and signed-in end users) */
    RES_AUDIT,    /* a project's audit log (platform_audit.c); last: PAT scope bits are stored */
    RES_COUNT_
};
enum plat_act { ACT_READ = 0, ACT_WRITE, ACT_ADMIN, ACT_COUNT_ };

/* Who asks, as the matrix sees it. */
enum plat_principal { PR_OWNER = 0, PR_ADMIN, PR_MEMBER, PR_VIEWER, PR_PK, PR_SK, PR_COUNT_ };

const char *plat_res_name(int res);
const char *plat_act_name(int act);
int plat_res_parse(const char *s, size_t n);
int plat_act_parse(const char *s, size_t n);
const char *plat_role_name(int role); /* PR_OWNER..PR_VIEWER */
int plat_role_parse(const char *s);   /* -1 when not a role */
/* 1 when principal may do act on res. */
int plat_matrix_allows(int principal, int res, int act);
/* PAT scope bit of (res, act): scopes are a uint64 mask with bit res*ACT_COUNT_+act. */
static inline uint64_t plat_scope_bit(int res, int act)
{
    return (uint64_t)1 << (res * ACT_COUNT_ + act);
}
/* Parses a JSON array of scope strings ("project:read", "database:*", "*") into a mask; NULL or
 * absent → every scope. BB_EINVAL with err on an unknown scope. */
int plat_scopes_parse(const json_t *arr, uint64_t *mask, char *err, size_t errcap);
/* New JSON array of the scope strings of mask (in matrix order; ["*"] when all). */
json_t *plat_scopes_json(uint64_t mask);
uint64_t plat_scopes_all(void);

/* One platform route: the router's row plus its matrix row. */
struct plat_route {
    const char *method;
    const char *pattern;
    bb_http_handler handler;
    unsigned auth;  /* accepted identity kinds (mask), like struct bb_route.auth */
    unsigned flags; /* BB_ROUTE_* */
    size_t max_body;
    int res, act; /* matrix row */
};

/* The authorizer installed on the gateway router (bb_router_set_authorizer). */
int platform_authorize(void *arg, const struct bb_http_request *req, const char **code,
                       const char **msg);

/* ---------------------------------------------------------------- config */

enum plat_mode { MODE_CLOUD = 0, MODE_SELF_HOSTED = 1 };

struct plat_config {
    char mode_name[16]; /* BUNBASE_PLATFORM_MODE: "cloud" | "self_hosted" */
    int mode;           /* from mode_name */
    uint64_t max_projects_per_user; /* cloud only; 0 = unlimited */
    uint64_t max_tokens_per_user;   /* cloud only; 0 = unlimited */
    int cookie_secure;
    uint64_t sync_ms; /* cache poll interval */
    int rate_limit;   /* 0: off */
    uint64_t rate_ip_per_min, rate_ip_burst;
    uint64_t rate_account_per_min, rate_account_burst;
    uint64_t rate_max_entries;
    uint64_t pat_default_ttl_s, pat_max_ttl_s;
    uint64_t max_keys_per_kind; /* active keys of one kind per project (rotation) */
    uint64_t max_name_bytes;
    uint64_t session_cookie_max_age_s;
    /* the gateway (platform_gateway.c) */
    uint64_t gw_max_response_bytes; /* answer of a remote data service */
    uint64_t gw_stream_wait_ms;     /* wait for a remote subscription's status */
    uint64_t gw_max_frame_bytes;    /* one relayed SSE frame */
    uint64_t gw_cors_max_origins;   /* allowed origins per project */
    uint64_t audit_max_limit;       /* records in one page of the audit log */
    char web_dir[1024];             /* BUNBASE_PLATFORM_WEB_DIR: the dashboard (platform_web.c) */
};
/* The platform's knob table (bb_knobs.h, ended by BB_KNOBS_END): bb_platform_service.knobs. */
extern const struct bb_knob plat_knobs[];
int plat_config_load(struct plat_config *c, char *err, size_t errcap);

/* ---------------------------------------------------------------- cache */

struct plat_cache;
/* Starts the cache: a first synchronous load, then a thread polling platform_version every
 * sync_ms and reloading on change. */
int plat_cache_new(struct bb_runtime *rt, uint64_t sync_ms, struct plat_cache **out, char *err,
                   size_t errcap);
void plat_cache_free(struct plat_cache *c);
/* Reloads now (blocking; call after a local change committed). _with: through conn (idle, not
 * in a transaction), so a handler never needs a second pool connection. */
int plat_cache_reload(struct plat_cache *c);
int plat_cache_reload_with(struct plat_cache *c, PGconn *conn);
/* Role (PR_OWNER..PR_VIEWER) of uid in project, or -1. Non-blocking. */
int plat_cache_role(struct plat_cache *c, const char *project_id, size_t plen, const char *uid);
/* Key lookup: 0 (active; project id and kind filled), BB_ENOTFOUND (unknown), BB_EAUTH (revoked).
 */
int plat_cache_key(struct plat_cache *c, const char *raw, char project_id[BB_ID_LEN + 1],
                   int *kind);
/* PAT lookup: 0, BB_ENOTFOUND, BB_EAUTH (revoked: *why_code "token_revoked"), BB_ETIMEDOUT
 * (expired). uid filled (BUN_AUTH_ID_MAX + 1). */
int plat_cache_pat(struct plat_cache *c, const char *raw, char *uid, size_t uidcap,
                   uint64_t *scopes);
uint64_t plat_cache_version(struct plat_cache *c);
/* Wall clock (ms) of the last successful poll or reload. */
uint64_t plat_cache_last_ok_ms(struct plat_cache *c);
/* The identity resolver (bb_identity_resolve_fn) for bbp_, pk_ and sk_ credentials. */
int plat_resolve(void *arg, const struct bb_http_request *req, struct bb_identity *out,
                 struct bb_identity_reject *why);

/* ---------------------------------------------------------------- rate limits: bb_ratelimit.h */

/* ---------------------------------------------------------------- auth streams */

struct platform;
struct plat_streams;
int plat_streams_new(struct platform *p, struct plat_streams **out);
void plat_streams_free(struct plat_streams *ps);

/* ---------------------------------------------------------------- the service */

struct platform {
    struct bb_runtime *rt;
    char instance_id[BB_ID_LEN + 1];
    struct plat_config cfg;
    struct plat_cache *cache;
    struct bb_rl *rl;
    struct plat_streams *streams;
    const struct bb_route *built; /* the router's rows of plat_routes, same order */
    size_t nbuilt;
    const struct bb_route *built_debug;
    size_t nbuilt_debug;
    struct bb_counter *gw_loop; /* gateway requests answered on the HTTP loop thread */
};

/* The dashboard (platform_web.c): its files as the router's fallback route. */
void plat_h_web(struct bb_http_request *req, struct bb_http_response *res);
void plat_web_install(struct platform *p);
void plat_web_uninstall(struct platform *p);

extern const struct plat_route plat_routes[];
extern const size_t plat_nroutes;
/* Every route has a matrix row (res != RES_NONE) and a sane one; 0 or BB_EINVAL with err. */
int platform_routes_check(const struct plat_route *r, size_t n, char *err, size_t errcap);

/* Helpers shared by the handlers. */
struct bun_auth *plat_bun_auth(struct platform *p, struct bb_http_response *res);
/* Parses the body as a JSON object (bounded); on failure answers 400 and returns NULL. */
json_t *plat_body(struct bb_http_request *req, struct bb_http_response *res);
void plat_reply_err(struct bb_http_response *res, int status, const char *code, const char *msg);
/* Acquires a PostgreSQL connection or answers 503 (returns NULL). */
PGconn *plat_pg(struct platform *p, struct bb_http_response *res);
void plat_pg_release(struct platform *p, PGconn *c);
/* Bumps platform_version in the current transaction. 0 or BB_EIO. */
int plat_bump_version(PGconn *c);
PGresult *plat_q(PGconn *c, const char *sql, int n, const char *const *params);
int plat_cmd_ok(PGresult *r);
/* The session id of a developer-session identity (claims.sid), or NULL. */
const char *plat_identity_sid(const struct bb_identity *id);
int plat_is_admin(struct platform *p, PGconn *c, const char *uid);
/* Rate limit for (what, req's IP) and, when account is not NULL, (what, account). On refusal it
 * answers 429 with Retry-After and returns BB_ELIMIT. */
int plat_rate_check(struct platform *p, struct bb_http_request *req, struct bb_http_response *res,
                    const char *what, const char *account);

/* Handlers (platform_auth.c). */
void plat_h_register(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_login(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_refresh(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_logout(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_logout_all(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_me(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_sessions(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_session_revoke(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_stream(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_setup(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_status(struct bb_http_request *req, struct bb_http_response *res);
/* Handlers (platform_projects.c). */
void plat_h_tokens_list(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_tokens_create(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_tokens_revoke(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_projects_list(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_projects_create(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_project_get(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_project_update(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_project_delete(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_project_config(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_key_project(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_members_list(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_members_add(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_member_update(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_member_remove(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_leave(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_transfer(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_keys_list(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_keys_create(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_key_regenerate(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_key_revoke(struct bb_http_request *req, struct bb_http_response *res);

/* ---------------------------------------------------------------- audit (platform_audit.c) */

/* Who did it: never a secret (a user id + email, or a key's visible prefix). */
struct plat_actor {
    char kind[32];   /* bb_identity_kind_name() */
    char id[64];     /* user id; "" for a key */
    char label[256]; /* the account's email, or the key's visible prefix */
};
/* Fills a from the request's identity. Call it before taking a PostgreSQL connection (it asks
 * bun-auth, which takes one of its own). */
void plat_audit_actor(struct platform *p, const struct bb_http_request *req, struct plat_actor *a);
/* Inserts one record in c's open transaction (before its COMMIT). project_id or account_id may be
 * NULL (not both); detail (stolen, may be NULL) holds no secret. 0 or BB_EIO. */
int plat_audit(PGconn *c, const struct plat_actor *a, const struct bb_http_request *req,
               const char *project_id, const char *account_id, const char *action,
               const char *target, json_t *detail);
void plat_h_audit_list(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_account_audit(struct bb_http_request *req, struct bb_http_response *res);

/* ---------------------------------------------------------------- the gateway (platform_gateway.c)
 * The data-plane route set, once per form: PFX "/v1/projects/{projectId}" with the developer
 * kinds (console) or "/v1" with the key kinds (key-based; the project is the key's). Reads are
 * read, document writes write, collection / index / rule management admin. */
/* A deleted project's data: its bundoc database (DELETE /v1/projects/{id}/databases) and its KV
 * (DELETE /kv/{id}) dropped by the data services, as the internal admin, in-process or over their
 * addresses. Worker thread. *db and *kv get "dropped", "in_use", "unavailable" or "failed". */
void plat_gw_drop_project(struct platform *p, const char *pid, const char *request_id,
                          const char **db, const char **kv);
void plat_h_gw_database(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_gw_kv(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_gw_subscribe(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_gw_preflight(struct bb_http_request *req, struct bb_http_response *res);
/* CORS headers of a key-based answer (the key's project's allowed origins; nothing for the console
 * form or a disallowed origin): GET /v1/project, the functions. */
void plat_gw_cors_answer(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_gw_cors_get(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_gw_cors_put(struct bb_http_request *req, struct bb_http_response *res);
/* /v1/auth/project/... and /v1/projects/{projectId}/auth/...: forwarded to tenant-auth. */
void plat_h_gw_tenant_auth(struct bb_http_request *req, struct bb_http_response *res);
void plat_h_gw_functions(struct bb_http_request *req, struct bb_http_response *res);
/* clang-format off */
#define PLAT_GW_DB(M, PATH, ACT, PFX, AUTH)                                                        \
    {M, PFX "/database" PATH, plat_h_gw_database, AUTH, BB_ROUTE_POOL, 0, RES_DATABASE, ACT}
/* tried on the loop thread first (plat_h_gw_database): bundoc-server's document GET is */
#define PLAT_GW_DB_LOOP(M, PATH, ACT, PFX, AUTH)                                                   \
    {M,   PFX "/database" PATH, plat_h_gw_database, AUTH, BB_ROUTE_POOL | BB_ROUTE_LOOP_FIRST,     \
     0,   RES_DATABASE,         ACT}
#define PLAT_GW_ROUTES(PFX, AUTH)                                                                  \
    PLAT_GW_DB("GET", "/collections", ACT_READ, PFX, AUTH),                                        \
    PLAT_GW_DB("POST", "/collections", ACT_ADMIN, PFX, AUTH),                                      \
    PLAT_GW_DB("GET", "/collections/{collection}", ACT_READ, PFX, AUTH),                           \
    PLAT_GW_DB("PATCH", "/collections/{collection}", ACT_ADMIN, PFX, AUTH),                        \
    PLAT_GW_DB("DELETE", "/collections/{collection}", ACT_ADMIN, PFX, AUTH),                       \
    PLAT_GW_DB("PATCH", "/collections/{collection}/rules", ACT_ADMIN, PFX, AUTH),                  \
    PLAT_GW_DB("GET", "/collections/{collection}/indexes", ACT_READ, PFX, AUTH),                   \
    PLAT_GW_DB("POST", "/collections/{collection}/indexes", ACT_ADMIN, PFX, AUTH),                 \
    PLAT_GW_DB("DELETE", "/collections/{collection}/indexes/{name}", ACT_ADMIN, PFX, AUTH),        \
    PLAT_GW_DB("GET", "/collections/{collection}/documents", ACT_READ, PFX, AUTH),                 \
    PLAT_GW_DB("POST", "/collections/{collection}/documents", ACT_WRITE, PFX, AUTH),               \
    PLAT_GW_DB_LOOP("GET", "/collections/{collection}/documents/{id}", ACT_READ, PFX, AUTH),       \
    PLAT_GW_DB("PUT", "/collections/{collection}/documents/{id}", ACT_WRITE, PFX, AUTH),           \
    PLAT_GW_DB("PATCH", "/collections/{collection}/documents/{id}", ACT_WRITE, PFX, AUTH),         \
    PLAT_GW_DB("DELETE", "/collections/{collection}/documents/{id}", ACT_WRITE, PFX, AUTH),        \
    PLAT_GW_DB("POST", "/documents/query", ACT_READ, PFX, AUTH),                                   \
    PLAT_GW_DB("GET", "/documents/{collection}", ACT_READ, PFX, AUTH),                             \
    PLAT_GW_DB("POST", "/documents/{collection}", ACT_WRITE, PFX, AUTH),                           \
    PLAT_GW_DB_LOOP("GET", "/documents/{collection}/{id}", ACT_READ, PFX, AUTH),                   \
    PLAT_GW_DB("PUT", "/documents/{collection}/{id}", ACT_WRITE, PFX, AUTH),                       \
    PLAT_GW_DB("PATCH", "/documents/{collection}/{id}", ACT_WRITE, PFX, AUTH),                     \
    PLAT_GW_DB("DELETE", "/documents/{collection}/{id}", ACT_WRITE, PFX, AUTH),                    \
    PLAT_GW_DB("POST", "/batch", ACT_WRITE, PFX, AUTH),                                            \
    {"GET", PFX "/database/collections/{collection}/subscribe", plat_h_gw_subscribe, AUTH,         \
     BB_ROUTE_POOL | BB_ROUTE_STREAM, 0, RES_REALTIME, ACT_READ},                                  \
    {"POST", PFX "/database/documents/query/subscribe", plat_h_gw_subscribe, AUTH,                 \
     BB_ROUTE_POOL | BB_ROUTE_STREAM, 0, RES_REALTIME, ACT_READ},                                  \
    {"GET", PFX "/kv", plat_h_gw_kv, AUTH, BB_ROUTE_POOL, 0, RES_KV, ACT_READ},                    \
    {"GET", PFX "/kv/{key}", plat_h_gw_kv, AUTH, BB_ROUTE_POOL, 0, RES_KV, ACT_READ},              \
    {"PUT", PFX "/kv/{key}", plat_h_gw_kv, AUTH, BB_ROUTE_POOL, 0, RES_KV, ACT_WRITE},             \
    {"POST", PFX "/kv/{key}", plat_h_gw_kv, AUTH, BB_ROUTE_POOL, 0, RES_KV, ACT_WRITE},            \
    {"POST", PFX "/kv/{key}/incr", plat_h_gw_kv, AUTH, BB_ROUTE_POOL, 0, RES_KV, ACT_WRITE},       \
    {"DELETE", PFX "/kv/{key}", plat_h_gw_kv, AUTH, BB_ROUTE_POOL, 0, RES_KV, ACT_WRITE}
/* CORS preflights of the key-based routes (public: a preflight carries no credential) */
#define PLAT_GW_OPT(PATH)                                                                          \
    {"OPTIONS", "/v1" PATH, plat_h_gw_preflight, 0, BB_ROUTE_POOL, 0, RES_PUBLIC, ACT_READ}
#define PLAT_GW_PREFLIGHTS                                                                         \
    PLAT_GW_OPT("/database/collections"), PLAT_GW_OPT("/database/collections/{collection}"),       \
    PLAT_GW_OPT("/database/collections/{collection}/rules"),                                       \
    PLAT_GW_OPT("/database/collections/{collection}/indexes"),                                     \
    PLAT_GW_OPT("/database/collections/{collection}/indexes/{name}"),                              \
    PLAT_GW_OPT("/database/collections/{collection}/subscribe"),                                   \
    PLAT_GW_OPT("/database/collections/{collection}/documents"),                                   \
    PLAT_GW_OPT("/database/collections/{collection}/documents/{id}"),                              \
    PLAT_GW_OPT("/database/documents/query"), PLAT_GW_OPT("/database/documents/query/subscribe"),  \
    PLAT_GW_OPT("/database/documents/{collection}"),                                               \
    PLAT_GW_OPT("/database/documents/{collection}/{id}"), PLAT_GW_OPT("/database/batch"),          \
    PLAT_GW_OPT("/kv"), PLAT_GW_OPT("/kv/{key}"), PLAT_GW_OPT("/kv/{key}/incr"),                   \
    /* the end users' routes (tenant-auth), which browser apps call with their pk_ too */          \
    PLAT_GW_OPT("/auth/project/register"), PLAT_GW_OPT("/auth/project/login"),                     \
    PLAT_GW_OPT("/auth/project/anonymous"), PLAT_GW_OPT("/auth/project/refresh"),                  \
    PLAT_GW_OPT("/auth/project/logout"), PLAT_GW_OPT("/auth/project/me"),                          \
    PLAT_GW_OPT("/auth/project/verify"), PLAT_GW_OPT("/auth/project/password"),                    \
    PLAT_GW_OPT("/auth/project/password-reset"),                                                   \
    PLAT_GW_OPT("/auth/project/password-reset/confirm"),                                           \
    PLAT_GW_OPT("/auth/project/verify-email"), PLAT_GW_OPT("/auth/project/verify-email/confirm"), \
    PLAT_GW_OPT("/auth/project/jwks.json"),                                                        \
    /* the key's project and its functions (the SDK's getProject() and functions.invoke) */         \
    PLAT_GW_OPT("/project"), PLAT_GW_OPT("/functions/{name}")
/* clang-format on */

#endif
