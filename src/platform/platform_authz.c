/* platform_authz.c — the one authorization matrix and the check the dispatcher runs with it.
 *
 * Every platform route declares (resource, action) in plat_routes (platform.c). The router calls
 * platform_authorize() for every matched route after the identity was resolved and accepted by
 * the route's kind mask, before the body is read; handlers never check permissions. The check is
 * non-blocking: memberships, keys and tokens come from the in-memory cache (platform_cache.c).
 *
 *   route (res, act)      developer (session / PAT)                 pk_ / sk_
 *   public                anyone                                    anyone
 *   account               the caller's own account; PAT: scope      403 (the route's mask)
 *   project-scoped        member role × matrix; non-member → 404;   key's project = {projectId}
 *   ({projectId})         PAT: also its scope (403)                 (else 403) × matrix
 *   project, no id        (list / create) any developer; PAT scope  403 (the route's mask)
 *   key-only, no id       403 (the route's mask)                    the key's project × matrix
 * An end user signed in with tenant-auth (BB_IDENTITY_END_USER_JWT, project = the token's aud) is
 * the pk_ column, on the routes whose mask accepts end users.
 *
 * Internal identities (the internal token) pass: services vouch for themselves.
 * Cookie-authenticated state-changing requests must come from the same origin (CSRF): an Origin
 * (or Referer) naming another host than Host is 403 csrf.
 */
#include "platform_internal.h"
#include "bb_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define R (1u << ACT_READ)
#define W (1u << ACT_WRITE)
#define A (1u << ACT_ADMIN)

/* THE matrix: rows are resources, columns principals; cells are the allowed actions. */
static const unsigned char matrix[RES_COUNT_][PR_COUNT_] = {
    /*                 owner    admin    member   viewer   pk_      sk_ */
    [RES_PROJECT] = {R | W | A, R | W, R, R, R, R},
    [RES_MEMBERS] = {R | W | A, R | W, R, R, 0, 0},
    [RES_KEYS] = {R | W | A, R | W, 0, 0, 0, 0},
    [RES_DATABASE] = {R | W | A, R | W | A, R | W, R, R | W, R | W | A},
    [RES_KV] = {R | W | A, R | W | A, R | W, R, 0, R | W | A},
    [RES_REALTIME] = {R | W | A, R | W | A, R | W, R, R, R | W | A},
    [RES_CONFIG] = {R | W | A, R | W, R, R, R, R},
    [RES_LOGS] = {R | A, R, R, R, 0, R},
    [RES_FUNCTIONS] = {R | W | A, R | W | A, R | W, R, R, R | W | A},
    [RES_AUTH] = {R | W | A, R | W, R, R, 0, R | W},
    [RES_AUTH_APP] = {R, R, R, R, R | W, 0}, /* the routes take only pk_ and end users */
    [RES_AUDIT] = {R, R, 0, 0, 0, 0},        /* who may change keys and members reads who did */
};

static const char *const res_names[RES_COUNT_] = {
    [RES_NONE] = "none",         [RES_PUBLIC] = "public",   [RES_ACCOUNT] = "account",
    [RES_PROJECT] = "project",   [RES_MEMBERS] = "members", [RES_KEYS] = "keys",
    [RES_DATABASE] = "database", [RES_KV] = "kv",           [RES_REALTIME] = "realtime",
    [RES_CONFIG] = "config",     [RES_LOGS] = "logs",       [RES_FUNCTIONS] = "functions",
    [RES_AUTH] = "auth",         [RES_AUTH_APP] = "auth_app", [RES_AUDIT] = "audit",
};
static const char *const act_names[ACT_COUNT_] = {"read", "write", "admin"};
static const char *const role_names[] = {"owner", "admin", "member", "viewer"};

const char *plat_res_name(int res)
{
    return res >= 0 && res < RES_COUNT_ ? res_names[res] : "?";
}

const char *plat_act_name(int act)
{
    return act >= 0 && act < ACT_COUNT_ ? act_names[act] : "?";
}

int plat_res_parse(const char *s, size_t n)
{
    for (int i = RES_ACCOUNT; i < RES_COUNT_; i++)
        if (strlen(res_names[i]) == n && memcmp(res_names[i], s, n) == 0) return i;
    return -1;
}

int plat_act_parse(const char *s, size_t n)
{
    for (int i = 0; i < ACT_COUNT_; i++)
        if (strlen(act_names[i]) == n && memcmp(act_names[i], s, n) == 0) return i;
    return -1;
}

const char *plat_role_name(int role)
{
    return role >= PR_OWNER && role <= PR_VIEWER ? role_names[role] : "?";
}

int plat_role_parse(const char *s)
{
    for (int i = PR_OWNER; i <= PR_VIEWER; i++)
        if (s && strcmp(s, role_names[i]) == 0) return i;
    return -1;
}

int plat_matrix_allows(int principal, int res, int act)
{
    if (principal < 0 || principal >= PR_COUNT_ || res < 0 || res >= RES_COUNT_ || act < 0 ||
        act >= ACT_COUNT_)
        return 0;
    return (matrix[res][principal] >> act) & 1u;
}

uint64_t plat_scopes_all(void)
{
    uint64_t m = 0;
    for (int r = RES_ACCOUNT; r < RES_COUNT_; r++)
        for (int a = 0; a < ACT_COUNT_; a++)
            m |= plat_scope_bit(r, a);
    return m;
}

int plat_scopes_parse(const json_t *arr, uint64_t *mask, char *err, size_t errcap)
{
    if (!arr || json_is_null(arr)) {
        *mask = plat_scopes_all();
        return 0;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 64) {
        snprintf(err, errcap, "scopes must be a non-empty array of at most 64 strings");
        return BB_EINVAL;
    }
    uint64_t m = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (!s) {
            snprintf(err, errcap, "scopes must be strings");
            return BB_EINVAL;
        }
        if (strcmp(s, "*") == 0) {
            m |= plat_scopes_all();
            continue;
        }
        const char *colon = strchr(s, ':');
        int r = colon ? plat_res_parse(s, (size_t)(colon - s)) : -1;
        int a = -2; /* -1: every action; -2: unknown */
        if (colon && strcmp(colon + 1, "*") == 0)
            a = -1;
        else if (colon) {
            a = plat_act_parse(colon + 1, strlen(colon + 1));
            if (a < 0) a = -2;
        }
        if (r < 0 || a == -2) {
            snprintf(err, errcap,
                     "unknown scope \"%.64s\" (use <resource>:<read|write|admin|*> or \"*\")", s);
            return BB_EINVAL;
        }
        for (int k = 0; k < ACT_COUNT_; k++)
            if (a == -1 || a == k) m |= plat_scope_bit(r, k);
    }
    *mask = m;
    return 0;
}

json_t *plat_scopes_json(uint64_t mask)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    if ((mask & plat_scopes_all()) == plat_scopes_all()) {
        json_array_append_new(arr, json_string("*"));
        return arr;
    }
    for (int r = RES_ACCOUNT; r < RES_COUNT_; r++)
        for (int a = 0; a < ACT_COUNT_; a++)
            if (mask & plat_scope_bit(r, a)) {
                char s[64];
                snprintf(s, sizeof s, "%s:%s", res_names[r], act_names[a]);
                json_array_append_new(arr, json_string(s));
            }
    return arr;
}

int platform_routes_check(const struct plat_route *rt, size_t n, char *err, size_t errcap)
{
    for (size_t i = 0; i < n; i++) {
        const struct plat_route *r = &rt[i];
        int has_pid = strstr(r->pattern, "{projectId}") != NULL;
        const char *why = NULL;
        if (r->res <= RES_NONE || r->res >= RES_COUNT_)
            why = "has no authorization matrix row";
        else if (r->act < 0 || r->act >= ACT_COUNT_)
            why = "has no action";
        else if (r->res == RES_PUBLIC && r->auth != 0)
            why = "is public but has an identity mask";
        else if (r->res != RES_PUBLIC && r->auth == 0)
            why = "is not public but accepts anyone";
        else if (r->res > RES_ACCOUNT && !has_pid && r->res != RES_PROJECT &&
                 (r->auth &
                  ~(unsigned)(BB_IDENTITY_PROJECT_KEY_PUBLIC | BB_IDENTITY_PROJECT_KEY_SECRET |
                              BB_IDENTITY_END_USER_JWT | BB_IDENTITY_PROJECT_TOKEN)))
            why = "is project-scoped but has no {projectId} (only key-only routes take the "
                  "project from the key)";
        else if ((r->res == RES_ACCOUNT || r->res == RES_PUBLIC) && has_pid)
            why = "has a {projectId} but an account/public row";
        if (why) {
            snprintf(err, errcap, "platform route %s %s %s", r->method, r->pattern, why);
            return BB_EINVAL;
        }
    }
    return 0;
}

/* Same-origin check for cookie sessions: the Origin (or Referer) host must be the Host. */
static int csrf_ok(const struct bb_http_request *req)
{
    const char *m = req->method;
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS")) return 1;
    const char *authz = bb_http_header(req, "Authorization");
    if (authz && *authz) return 1; /* a bearer credential is not sent by browsers on their own */
    const char *host = bb_http_header(req, "Host");
    const char *origin = bb_http_header(req, "Origin");
    if (!origin || !*origin) origin = bb_http_header(req, "Referer");
    if (!origin || !*origin) {
        const char *site = bb_http_header(req, "Sec-Fetch-Site");
        return !site || strcmp(site, "cross-site") != 0;
    }
    const char *p = strstr(origin, "://");
    if (!p || !host) return 0;
    p += 3;
    size_t n = strcspn(p, "/?#");
    return strlen(host) == n && strncasecmp(p, host, n) == 0;
}

static int route_index(const struct platform *p, const struct bb_route *r)
{
    if (!p->built || r < p->built || r >= p->built + p->nbuilt) return -1;
    return (int)(r - p->built);
}

int platform_authorize(void *arg, const struct bb_http_request *req, const char **code,
                       const char **msg)
{
    struct platform *p = arg;
    int i = route_index(p, req->route);
    if (i < 0) return 0; /* another service's route: its own mask decided */
    const struct plat_route *pr = &plat_routes[i];
    if (pr->res == RES_PUBLIC) return 0;
    const struct bb_identity *id = &req->identity;
    if (id->kind & BB_IDENTITY_INTERNAL_ANY) return 0;

    const char *pid = NULL;
    size_t plen = 0;
    for (size_t k = 0; k < req->match.nparams; k++)
        if (req->match.params[k].name_len == 9 &&
            memcmp(req->match.params[k].name, "projectId", 9) == 0) {
            pid = req->match.params[k].value;
            plen = req->match.params[k].value_len;
        }

    /* an end user signed in with tenant-auth may do what the project's pk_ may, on the routes
     * that accept end users (data and the app's sign-in routes, never administration) */
    /* a function's project token (bbf_) is the sk_ row, on the data-plane routes that accept it */
    if (id->kind == BB_IDENTITY_PROJECT_KEY_PUBLIC || id->kind == BB_IDENTITY_PROJECT_KEY_SECRET ||
        id->kind == BB_IDENTITY_END_USER_JWT || id->kind == BB_IDENTITY_PROJECT_TOKEN) {
        if (!pid && pr->res == RES_ACCOUNT) {
            *code = "forbidden", *msg = "project keys cannot use this route";
            return 403;
        }
        /* no {projectId}: a key-only route, whose project is the key's */
        if (pid && (strlen(id->project_id) != plen || memcmp(id->project_id, pid, plen) != 0)) {
            *code = "key_wrong_project", *msg = "this key belongs to another project";
            return 403;
        }
        int pr_ =
            id->kind == BB_IDENTITY_PROJECT_KEY_SECRET || id->kind == BB_IDENTITY_PROJECT_TOKEN
                ? PR_SK
                : PR_PK;
        if (!plat_matrix_allows(pr_, pr->res, pr->act)) {
            *code = "forbidden";
            *msg = pr_ == PR_PK ? "a publishable key (pk_) may not do this"
                                : "a secret key (sk_) may not do this";
            return 403;
        }
        return 0;
    }
    if (id->kind != BB_IDENTITY_DEVELOPER_SESSION && id->kind != BB_IDENTITY_PAT) {
        *code = "forbidden", *msg = "this identity is not accepted by this route";
        return 403;
    }
    if (!id->uid) {
        *code = "unauthenticated", *msg = "no user";
        return 401;
    }
    if (id->kind == BB_IDENTITY_PAT && !(id->scopes & plat_scope_bit(pr->res, pr->act))) {
        *code = "insufficient_scope", *msg = "the token's scopes do not allow this";
        return 403;
    }
    if (id->kind == BB_IDENTITY_DEVELOPER_SESSION && !csrf_ok(req)) {
        *code = "csrf", *msg = "cross-site request refused (Origin does not match Host)";
        return 403;
    }
    if (!pid) return 0; /* the caller's own account, or the project list / create */
    int role = plat_cache_role(p->cache, pid, plen, id->uid);
    if (role < 0) {
        *code = "project_not_found", *msg = "no such project";
        return 404;
    }
    if (!plat_matrix_allows(role, pr->res, pr->act)) {
        *code = "forbidden", *msg = "your role in this project does not allow this";
        return 403;
    }
    return 0;
}
