#include "platform.h"
#include "platform_internal.h"
#include "bun_auth.h"
#include "bb_router.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_id.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pg.h"
#include "bb_pool.h"
#include "bb_sse.h"
#include "bb_host.h"
#include "bb_migrations.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ debug routes (tests only) */

static void handle_debug_sleep(struct bb_http_request *req, struct bb_http_response *res)
{
    char buf[32];
    const char *v = bb_http_query(req, "ms", buf, sizeof buf);
    char *end = NULL;
    long ms = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || ms < 0 || ms > 60000) {
        bb_http_reply_error(res, BB_EINVAL, "ms must be an integer in [0, 60000]");
        return;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    json_t *body = json_pack("{s:I}", "slept", (json_int_t)ms);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

static void handle_debug_echo(struct bb_http_request *req, struct bb_http_response *res)
{
    uint8_t digest[BB_SHA256_LEN];
    char hex[2 * BB_SHA256_LEN + 1];
    bb_sha256(req->body, req->body_len, digest);
    bb_hex_encode(digest, sizeof digest, hex, sizeof hex);
    json_t *body = json_pack("{s:I,s:s}", "bytes", (json_int_t)req->body_len, "sha256", hex);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

/* /v1/debug/sse?count=N&interval_ms=M: a thread pushes N events with multi-line data, then ends
 * the stream — exercises push-from-any-thread, framing, heartbeats and disconnects. */
struct sse_job {
    struct bb_sse *sse;
    long count, interval_ms;
};

static void *sse_pusher(void *arg)
{
    struct sse_job *j = arg;
    for (long i = 0; i < j->count && !bb_sse_is_closed(j->sse); i++) {
        char id[32], data[64];
        snprintf(id, sizeof id, "%ld", i + 1);
        snprintf(data, sizeof data, "line one %ld\nline two %ld", i + 1, i + 1);
        if (bb_sse_send(j->sse, "tick", id, data, strlen(data)) != 0) break;
        struct timespec ts = {j->interval_ms / 1000, (j->interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (j->count > 0) bb_sse_close(j->sse);
    bb_sse_unref(j->sse);
    free(j);
    return NULL;
}

static void handle_debug_sse(struct bb_http_request *req, struct bb_http_response *res)
{
    char b1[32], b2[32];
    const char *c = bb_http_query(req, "count", b1, sizeof b1);
    const char *iv = bb_http_query(req, "interval_ms", b2, sizeof b2);
    struct sse_job *j = calloc(1, sizeof *j);
    if (!j) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    j->count = c ? strtol(c, NULL, 10) : 3;
    j->interval_ms = iv ? strtol(iv, NULL, 10) : 10;
    if (j->count < 0 || j->count > 100000 || j->interval_ms < 0 || j->interval_ms > 60000) {
        free(j);
        bb_http_reply_error(res, BB_EINVAL, "count in [0,100000], interval_ms in [0,60000]");
        return;
    }
    if (bb_sse_start(req, res, NULL, NULL, &j->sse) != 0) {
        free(j);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, sse_pusher, j) != 0) {
        bb_sse_close(j->sse);
        bb_sse_unref(j->sse);
        free(j);
        return;
    }
    pthread_detach(t);
}

/* ------------------------------------------------------------------ route table + matrix rows */

/* Who may call a route at all (the dispatcher's first gate; the matrix decides the rest). */
#define SESSION BB_IDENTITY_DEVELOPER_SESSION
#define DEV (BB_IDENTITY_DEVELOPER_SESSION | BB_IDENTITY_PAT)
#define KEYS (BB_IDENTITY_PROJECT_KEY_PUBLIC | BB_IDENTITY_PROJECT_KEY_SECRET)
#define DEVKEY (DEV | KEYS)
#define ENDUSER (BB_IDENTITY_PROJECT_KEY_PUBLIC | BB_IDENTITY_END_USER_JWT)
#define DEVSK (DEV | BB_IDENTITY_PROJECT_KEY_SECRET)
#define TA plat_h_gw_tenant_auth
#define POOL BB_ROUTE_POOL
#define SMALL 16384 /* bodies of control-plane requests */
#define FN plat_h_gw_functions
#define FNS "/v1/projects/{projectId}/functions"
#define FN_BODY (32u << 20) /* the functions service's own limits are at most this */

/* Every platform route and its row of the authorization matrix (platform_authz.c): the
 * dispatcher checks (resource, action) for the caller before the handler runs, for every route.
 * A route without a row (RES_NONE) refuses to start and fails the matrix test. */
const struct plat_route plat_routes[] = {
    /* instance */
    {"GET", "/v1/instance/status", plat_h_status, 0, POOL, 0, RES_PUBLIC, ACT_READ},
    {"POST", "/v1/setup", plat_h_setup, 0, POOL, SMALL, RES_PUBLIC, ACT_WRITE},
    /* developer accounts */
    {"POST", "/v1/auth/register", plat_h_register, 0, POOL, SMALL, RES_PUBLIC, ACT_WRITE},
    {"POST", "/v1/auth/login", plat_h_login, 0, POOL, SMALL, RES_PUBLIC, ACT_WRITE},
    {"POST", "/v1/auth/refresh", plat_h_refresh, 0, POOL, SMALL, RES_PUBLIC, ACT_WRITE},
    {"POST", "/v1/auth/logout", plat_h_logout, SESSION, POOL, SMALL, RES_ACCOUNT, ACT_WRITE},
    {"POST", "/v1/auth/logout-all", plat_h_logout_all, SESSION, POOL, SMALL, RES_ACCOUNT,
     ACT_WRITE},
    {"GET", "/v1/auth/me", plat_h_me, DEV, POOL, 0, RES_ACCOUNT, ACT_READ},
    {"GET", "/v1/auth/sessions", plat_h_sessions, SESSION, POOL, 0, RES_ACCOUNT, ACT_READ},
    {"DELETE", "/v1/auth/sessions/{id}", plat_h_session_revoke, SESSION, POOL, 0, RES_ACCOUNT,
     ACT_WRITE},
    {"GET", "/v1/auth/stream", plat_h_stream, DEV, BB_ROUTE_STREAM, 0, RES_ACCOUNT, ACT_READ},
    /* personal access tokens: managed with a session only (a token cannot mint tokens) */
    {"GET", "/v1/auth/tokens", plat_h_tokens_list, SESSION, POOL, 0, RES_ACCOUNT, ACT_READ},
    {"POST", "/v1/auth/tokens", plat_h_tokens_create, SESSION, POOL, SMALL, RES_ACCOUNT, ACT_WRITE},
    {"DELETE", "/v1/auth/tokens/{id}", plat_h_tokens_revoke, SESSION, POOL, 0, RES_ACCOUNT,
     ACT_WRITE},
    /* the account's own audit records (personal access tokens: platform_audit.c) */
    {"GET", "/v1/auth/audit", plat_h_account_audit, DEV, POOL, 0, RES_ACCOUNT, ACT_READ},
    /* projects */
    {"GET", "/v1/projects", plat_h_projects_list, DEV, POOL, 0, RES_PROJECT, ACT_READ},
    {"POST", "/v1/projects", plat_h_projects_create, DEV, POOL, SMALL, RES_PROJECT, ACT_WRITE},
    {"GET", "/v1/projects/{projectId}", plat_h_project_get, DEVKEY, POOL, 0, RES_PROJECT, ACT_READ},
    {"PATCH", "/v1/projects/{projectId}", plat_h_project_update, DEVKEY, POOL, SMALL, RES_PROJECT,
     ACT_WRITE},
    {"PUT", "/v1/projects/{projectId}", plat_h_project_update, DEVKEY, POOL, SMALL, RES_PROJECT,
     ACT_WRITE}, /* the reference's verb */
    {"DELETE", "/v1/projects/{projectId}", plat_h_project_delete, DEVKEY, POOL, 0, RES_PROJECT,
     ACT_ADMIN},
    /* key-only: the project is the key's (the reference's GET /v1/project) */
    {"GET", "/v1/project", plat_h_key_project, KEYS, POOL, 0, RES_PROJECT, ACT_READ},
    {"GET", "/v1/projects/{projectId}/config", plat_h_project_config, DEVKEY, 0, 0, RES_CONFIG,
     ACT_READ},
    /* members */
    {"GET", "/v1/projects/{projectId}/members", plat_h_members_list, DEVKEY, POOL, 0, RES_MEMBERS,
     ACT_READ},
    {"POST", "/v1/projects/{projectId}/members", plat_h_members_add, DEVKEY, POOL, SMALL,
     RES_MEMBERS, ACT_WRITE},
    {"PATCH", "/v1/projects/{projectId}/members/{userId}", plat_h_member_update, DEVKEY, POOL,
     SMALL, RES_MEMBERS, ACT_WRITE},
    {"DELETE", "/v1/projects/{projectId}/members/{userId}", plat_h_member_remove, DEVKEY, POOL, 0,
     RES_MEMBERS, ACT_WRITE},
    {"POST", "/v1/projects/{projectId}/leave", plat_h_leave, DEV, POOL, SMALL, RES_PROJECT,
     ACT_READ},
    {"POST", "/v1/projects/{projectId}/transfer", plat_h_transfer, DEV, POOL, SMALL, RES_MEMBERS,
     ACT_ADMIN},
    /* project keys */
    {"GET", "/v1/projects/{projectId}/keys", plat_h_keys_list, DEVKEY, POOL, 0, RES_KEYS, ACT_READ},
    {"POST", "/v1/projects/{projectId}/keys", plat_h_keys_create, DEVKEY, POOL, SMALL, RES_KEYS,
     ACT_WRITE},
    {"POST", "/v1/projects/{projectId}/keys/{keyId}/regenerate", plat_h_key_regenerate, DEVKEY,
     POOL, SMALL, RES_KEYS, ACT_WRITE},
    {"DELETE", "/v1/projects/{projectId}/keys/{keyId}", plat_h_key_revoke, DEVKEY, POOL, 0,
     RES_KEYS, ACT_WRITE},
    /* the audit log of key, member, project and CORS operations (platform_audit.c) */
    {"GET", "/v1/projects/{projectId}/audit", plat_h_audit_list, DEVKEY, POOL, 0, RES_AUDIT,
     ACT_READ},
    /* the gateway to the data plane (platform_gateway.c): documents and KV, console form
     * (session or PAT, the caller's role) and key-based form (pk_ / sk_, the key's project) */
    PLAT_GW_ROUTES("/v1/projects/{projectId}", DEV),
    PLAT_GW_ROUTES("/v1", KEYS | BB_IDENTITY_END_USER_JWT | BB_IDENTITY_PROJECT_TOKEN),
    PLAT_GW_PREFLIGHTS,
    {"GET", "/v1/projects/{projectId}/cors", plat_h_gw_cors_get, DEV, POOL, 0, RES_CONFIG,
     ACT_READ},
    {"PUT", "/v1/projects/{projectId}/cors", plat_h_gw_cors_put, DEV, POOL, SMALL, RES_CONFIG,
     ACT_WRITE},
    /* a project's end users (tenant-auth, forwarded by platform_gateway.c): the app's routes with
     * its pk_ or a signed-in end user's token (the developer accounts are /v1/auth/...) */
    {"POST", "/v1/auth/project/register", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"POST", "/v1/auth/project/login", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"POST", "/v1/auth/project/anonymous", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"POST", "/v1/auth/project/refresh", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"POST", "/v1/auth/project/logout", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"GET", "/v1/auth/project/me", TA, ENDUSER, POOL, 0, RES_AUTH_APP, ACT_READ},
    {"GET", "/v1/auth/project/verify", TA, ENDUSER, POOL, 0, RES_AUTH_APP, ACT_READ},
    {"POST", "/v1/auth/project/password", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"POST", "/v1/auth/project/password-reset", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP,
     ACT_WRITE},
    {"POST", "/v1/auth/project/password-reset/confirm", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP,
     ACT_WRITE},
    {"POST", "/v1/auth/project/verify-email", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP, ACT_WRITE},
    {"POST", "/v1/auth/project/verify-email/confirm", TA, ENDUSER, POOL, SMALL, RES_AUTH_APP,
     ACT_WRITE},
    {"GET", "/v1/auth/project/jwks.json", TA, ENDUSER, POOL, 0, RES_AUTH_APP, ACT_READ},
    /* ... and their administration: developers by role, sk_ */
    {"GET", "/v1/projects/{projectId}/auth/users", TA, DEVSK, POOL, 0, RES_AUTH, ACT_READ},
    {"POST", "/v1/projects/{projectId}/auth/users", TA, DEVSK, POOL, SMALL, RES_AUTH, ACT_WRITE},
    {"GET", "/v1/projects/{projectId}/auth/users/{userId}", TA, DEVSK, POOL, 0, RES_AUTH,
     ACT_READ},
    {"DELETE", "/v1/projects/{projectId}/auth/users/{userId}", TA, DEVSK, POOL, 0, RES_AUTH,
     ACT_WRITE},
    {"POST", "/v1/projects/{projectId}/auth/users/{userId}/disable", TA, DEVSK, POOL, SMALL,
     RES_AUTH, ACT_WRITE},
    {"POST", "/v1/projects/{projectId}/auth/users/{userId}/enable", TA, DEVSK, POOL, SMALL,
     RES_AUTH, ACT_WRITE},
    {"GET", "/v1/projects/{projectId}/auth/config", TA, DEVSK, POOL, 0, RES_AUTH, ACT_READ},
    {"PUT", "/v1/projects/{projectId}/auth/config", TA, DEVSK, POOL, SMALL, RES_AUTH, ACT_WRITE},
    {"POST", "/v1/projects/{projectId}/auth/keys/rotate", TA, DEVSK, POOL, SMALL, RES_AUTH,
     ACT_WRITE},
    /* functions (forwarded by platform_gateway.c to src/functions/): the console manages and
     * invokes by role; keys invoke (reading the resource is enough: pk_ may call a function). The
     * bodies are bounded here by the largest value of the functions' own limits (32 MiB), which
     * the service applies. */
    {"GET", FNS, FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"PUT", FNS "/{name}", FN, DEV, POOL, FN_BODY, RES_FUNCTIONS, ACT_WRITE}, /* deploy */
    {"GET", FNS "/{name}", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"DELETE", FNS "/{name}", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_WRITE},
    {"GET", FNS "/{name}/versions", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"POST", FNS "/{name}/activate", FN, DEV, POOL, SMALL, RES_FUNCTIONS, ACT_WRITE},
    {"POST", FNS "/{name}/rollback", FN, DEV, POOL, SMALL, RES_FUNCTIONS, ACT_WRITE},
    {"GET", FNS "/{name}/logs", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"GET", FNS "/{name}/metrics", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"GET", FNS "/{name}/env", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ}, /* names only */
    {"PUT", FNS "/{name}/env", FN, DEV, POOL, FN_BODY, RES_FUNCTIONS, ACT_ADMIN},
    {"GET", FNS "/{name}/triggers", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"PUT", FNS "/{name}/triggers", FN, DEV, POOL, SMALL, RES_FUNCTIONS, ACT_WRITE},
    {"GET", FNS "/{name}/invoke", FN, DEV, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"POST", FNS "/{name}/invoke", FN, DEV, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"PUT", FNS "/{name}/invoke", FN, DEV, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"PATCH", FNS "/{name}/invoke", FN, DEV, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"DELETE", FNS "/{name}/invoke", FN, DEV, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"GET", "/v1/functions/{name}", FN, KEYS, POOL, 0, RES_FUNCTIONS, ACT_READ},
    {"POST", "/v1/functions/{name}", FN, KEYS, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"PUT", "/v1/functions/{name}", FN, KEYS, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"PATCH", "/v1/functions/{name}", FN, KEYS, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
    {"DELETE", "/v1/functions/{name}", FN, KEYS, POOL, FN_BODY, RES_FUNCTIONS, ACT_READ},
};
const size_t plat_nroutes = sizeof plat_routes / sizeof plat_routes[0];

static struct bb_route built_routes[sizeof plat_routes / sizeof plat_routes[0]];

static void kinds_json(json_t *arr, unsigned mask)
{
    static const struct {
        unsigned bit;
        const char *name;
    } k[] = {{BB_IDENTITY_DEVELOPER_SESSION, "session"},
             {BB_IDENTITY_PAT, "pat"},
             {BB_IDENTITY_PROJECT_KEY_PUBLIC, "pk"},
             {BB_IDENTITY_PROJECT_KEY_SECRET, "sk"},
             {BB_IDENTITY_END_USER_JWT, "end_user"},
             {BB_IDENTITY_PROJECT_TOKEN, "project_token"},
             {BB_IDENTITY_INTERNAL_SERVICE, "internal"}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (mask & k[i].bit) json_array_append_new(arr, json_string(k[i].name));
}

/* GET /v1/debug/platform/routes (debug routes only): the route table with its matrix rows, and
 * the matrix — what the generated authorization test walks. */
static void handle_debug_routes(struct bb_http_request *req, struct bb_http_response *res)
{
    (void)req;
    json_t *routes = json_array();
    for (size_t i = 0; i < plat_nroutes; i++) {
        const struct plat_route *r = &plat_routes[i];
        json_t *acc = json_array();
        kinds_json(acc, r->auth);
        json_array_append_new(routes,
                              json_pack("{s:s,s:s,s:s,s:s,s:o,s:b}", "method", r->method, "pattern",
                                        r->pattern, "resource", plat_res_name(r->res), "action",
                                        plat_act_name(r->act), "accepts", acc, "stream",
                                        (r->flags & BB_ROUTE_STREAM) != 0));
    }
    static const char *const prn[PR_COUNT_] = {"owner", "admin", "member", "viewer", "pk", "sk"};
    json_t *m = json_object();
    for (int res_ = RES_PROJECT; res_ < RES_COUNT_; res_++) {
        json_t *row = json_object();
        for (int pr = 0; pr < PR_COUNT_; pr++) {
            json_t *acts = json_array();
            for (int a = 0; a < ACT_COUNT_; a++)
                if (plat_matrix_allows(pr, res_, a))
                    json_array_append_new(acts, json_string(plat_act_name(a)));
            json_object_set_new(row, prn[pr], acts);
        }
        json_object_set_new(m, plat_res_name(res_), row);
    }
    json_t *body = json_pack("{s:o,s:o}", "routes", routes, "matrix", m);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

static const struct bb_route debug_routes[] = {
    {"GET", "/v1/debug/sleep", handle_debug_sleep, BB_AUTH_NONE, BB_ROUTE_POOL, 0, NULL},
    {"POST", "/v1/debug/echo", handle_debug_echo, BB_AUTH_NONE, BB_ROUTE_POOL, 0, NULL},
    {"GET", "/v1/debug/sse", handle_debug_sse, BB_AUTH_NONE, BB_ROUTE_STREAM, 0, NULL},
    {"GET", "/v1/debug/internal", handle_debug_echo, BB_AUTH_INTERNAL, 0, 0, NULL},
    {"GET", "/v1/debug/platform/routes", handle_debug_routes, BB_AUTH_NONE, 0, 0, NULL},
};

/* ------------------------------------------------------------------ lifecycle */

static int load_instance_id(struct platform *p, char *err, size_t errcap)
{
    PGconn *conn = NULL;
    int rc = bb_pg_pool_acquire(p->rt->pg, &conn, 10000);
    if (rc) {
        snprintf(err, errcap, "platform: cannot reach PostgreSQL: %s", bb_strerror(rc));
        return rc;
    }
    char id[BB_ID_LEN + 1];
    bb_id_new(id);
    const char *params[1] = {id};
    /* insert-if-empty then read back: concurrent starters agree on one id */
    PGresult *r = PQexecParams(conn,
                               "INSERT INTO instance(id) SELECT $1 WHERE NOT EXISTS "
                               "(SELECT 1 FROM instance)",
                               1, NULL, params, NULL, NULL, 0);
    PQclear(r);
    r = PQexec(conn, "SELECT id FROM instance ORDER BY created_at LIMIT 1");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(p->instance_id, sizeof p->instance_id, "%s", PQgetvalue(r, 0, 0));
    } else {
        snprintf(err, errcap, "platform: cannot read instance id: %s", PQerrorMessage(conn));
        rc = BB_EUNAVAIL;
    }
    PQclear(r);
    bb_pg_pool_release(p->rt->pg, conn);
    return rc;
}

static void platform_free(struct platform *p)
{
    if (!p) return;
    plat_streams_free(p->streams);
    plat_cache_free(p->cache);
    bb_rl_free(p->rl);
    free(p);
}

static int platform_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    struct platform *p = calloc(1, sizeof *p);
    if (!p) return BB_ENOMEM;
    p->rt = rt;
    int rc = plat_config_load(&p->cfg, err, errcap);
    if (rc == 0) rc = platform_routes_check(plat_routes, plat_nroutes, err, errcap);
    if (rc == 0) rc = load_instance_id(p, err, errcap);
    if (rc == 0) rc = bb_rl_new(p->cfg.rate_max_entries, &p->rl);
    if (rc == 0) rc = plat_cache_new(rt, p->cfg.sync_ms, &p->cache, err, errcap);
    if (rc == 0) rc = plat_streams_new(p, &p->streams);
    if (rc == 0)
        p->gw_loop = bb_metrics_counter(rt->metrics, "bunbase_platform_gateway_loop_total",
                                        "gateway requests answered on the HTTP loop thread "
                                        "(the rest run on the worker pool)",
                                        NULL);
    if (rc == 0) {
        for (size_t i = 0; i < plat_nroutes; i++) {
            const struct plat_route *r = &plat_routes[i];
            built_routes[i] = (struct bb_route){r->method, r->pattern,  r->handler, r->auth,
                                                r->flags,  r->max_body, NULL};
        }
        p->built = built_routes;
        p->nbuilt = plat_nroutes;
        rc = bb_router_add(rt->router, built_routes, plat_nroutes, p);
    }
    if (rc == 0) {
        struct bb_identity_resolver res = {"platform", plat_resolve, p};
        rc = bb_router_add_resolver(rt->router, &res);
    }
    if (rc == 0) bb_router_set_authorizer(rt->router, platform_authorize, p);
    if (rc == 0 && rt->cfg->debug_routes)
        rc = bb_router_add(rt->router, debug_routes, sizeof debug_routes / sizeof debug_routes[0],
                           p);
    if (rc == 0) plat_web_install(p); /* the dashboard at "/": the router's fallback */
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "platform: %s", bb_strerror(rc));
        platform_free(p);
        return rc;
    }
    *state = p;
    return 0;
}

static void platform_stop(void *state)
{
    struct platform *p = state;
    if (p && p->rt && p->rt->router) bb_router_set_authorizer(p->rt->router, NULL, NULL);
    plat_web_uninstall(p);
    platform_free(p);
}

int platform_key_lookup(struct platform *p, const char *raw_key, char project_id[BB_ID_LEN + 1],
                        int *kind)
{
    if (!p || !raw_key || strlen(raw_key) > 128) return BB_ENOTFOUND;
    return plat_cache_key(p->cache, raw_key, project_id, kind);
}

/* Health: degraded when the key/token/member view has not been refreshed from PostgreSQL for
 * 20 poll intervals (at least 10 s): revocations made elsewhere would not be seen. */
static int platform_health(void *state, json_t **detail)
{
    struct platform *p = state;
    uint64_t now = bb_time_wall_ms(), last = plat_cache_last_ok_ms(p->cache);
    uint64_t age = now > last ? now - last : 0;
    uint64_t bound = p->cfg.sync_ms * 20 < 10000 ? 10000 : p->cfg.sync_ms * 20;
    int ok = age <= bound;
    *detail = json_pack("{s:s,s:I,s:I,s:s}", "status", ok ? "ok" : "degraded", "cache_version",
                        (json_int_t)plat_cache_version(p->cache), "cache_age_ms", (json_int_t)age,
                        "mode", p->cfg.mode == MODE_SELF_HOSTED ? "self_hosted" : "cloud");
    return ok ? 0 : BB_EUNAVAIL;
}

const struct bb_service_def bb_platform_service = {
    .name = "platform",
    .start = platform_start,
    .stop = platform_stop,
    .health = platform_health,
    .migrations = bb_migrations_platform,
    .nmigrations = &bb_migrations_platform_count,
    .knobs = plat_knobs,
    .config_size = sizeof(struct plat_config),
};
