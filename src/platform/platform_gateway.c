/* platform_gateway.c — the public gateway to the data plane.
 *
 * Routes (rows in plat_routes, platform.c, one block; the dispatcher and the matrix have already
 * decided who may call them when a handler here runs):
 *
 *   console (session or PAT; the caller's role × the matrix)   key-based (pk_ / sk_; the project
 *                                                               is the key's)
 *   /v1/projects/{projectId}/database/<rest>                    /v1/database/<rest>
 *   /v1/projects/{projectId}/kv[/{key}]                         /v1/kv[/{key}]
 *
 * Documents: <rest> is bundoc-server's route set below /v1/projects/{pid}/databases/(default)
 * (collections, documents in both path forms, query, batch, indexes, rules); the request goes
 * there unchanged (method, query string, body, Content-Type, Last-Event-ID) with
 *   Authorization: Bearer <internal token>
 *   X-Bunbase-Identity: admin       for sk_, and for console callers (developers manage their
 *                                   project's data: the matrix already limited what their role
 *                                   may do — viewer read, member read/write, admin/owner also
 *                                   collections, indexes and rules)
 *   X-Bunbase-Identity: anonymous   for pk_ (an end user without auth: the collection rules apply)
 *   X-Request-Id: <this request's id>
 * KV: /kv/{pid}/kv/{key} (key still percent-encoded as the client sent it: "/" as %2F, any byte)
 * and /kv/{pid}/keys for the key list, on bunder-manager, with the internal token alone.
 *
 * Where the downstream runs: in this process (bb_host_service_state != NULL) → in-process with
 * bb_http_dispatch_local on the service's router (same identity resolution as HTTP); else over
 * HTTP to BUNBASE_<SERVICE>_ADDR with bb_httpc (same headers); neither → 503 unavailable. The
 * answer is the downstream's status, Content-Type and body (and its other headers, but for
 * hop-by-hop ones and X-Request-Id, which is ours and the same).
 */
#include "platform_internal.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_http.h"
#include "bb_httpc.h"
#include "bb_log.h"
#include "bb_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GW_URL_MAX 8192

enum gw_svc { GW_BUNDOC, GW_BUNDER };
static const char *const svc_names[] = {"bundoc-server", "bunder-manager"};

/* The path after the first n segments of path ("" when it has no more). */
static const char *skip_segments(const char *path, int n)
{
    const char *p = path;
    for (int i = 0; i < n; i++) {
        if (*p != '/') return "";
        p = strchr(p + 1, '/');
        if (!p) return "";
    }
    return p;
}

/* The raw (still percent-encoded) projectId of the route, or the key's project. */
static int project_of(const struct bb_http_request *req, const char **pid, size_t *plen,
                      int *console)
{
    for (size_t k = 0; k < req->match.nparams; k++)
        if (req->match.params[k].name_len == 9 &&
            memcmp(req->match.params[k].name, "projectId", 9) == 0) {
            *pid = req->match.params[k].value;
            *plen = req->match.params[k].value_len;
            *console = 1;
            return 0;
        }
    *console = 0;
    *pid = req->identity.project_id;
    *plen = strlen(req->identity.project_id);
    return *plen ? 0 : BB_EAUTH;
}

static int skip_response_header(const char *name)
{
    static const char *const skip[] = {"Content-Length", "Connection",   "Transfer-Encoding",
                                       "Keep-Alive",     "X-Request-Id", "Content-Type"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (!strcasecmp(name, skip[i])) return 1;
    return 0;
}

/* Copies one request header (when present) into the local header list. */
static void pass_header(const struct bb_http_request *req, const char *name,
                        struct bb_http_header *h, size_t *n)
{
    const char *v = bb_http_header(req, name);
    if (v) h[(*n)++] = (struct bb_http_header){(char *)name, (char *)v};
}

static void forward_local(struct platform *p, struct bb_router *router, struct bb_http_request *req,
                          struct bb_http_response *res, const char *url,
                          const struct bb_http_header *hdrs, size_t nh)
{
    struct bb_http_local_request lr = {req->method, url, hdrs, nh, req->body, req->body_len};
    struct bb_http_response *out = NULL;
    if (bb_http_dispatch_local(router, p->rt->cfg->http_max_body_bytes, p->rt->internal_token, &lr,
                               &out) != 0 ||
        !out) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    const char *ctype = NULL;
    for (size_t i = 0; i < out->nheaders; i++) {
        if (!strcasecmp(out->headers[i].name, "Content-Type"))
            ctype = out->headers[i].value;
        else if (!skip_response_header(out->headers[i].name))
            bb_http_set_header(res, out->headers[i].name, out->headers[i].value);
    }
    bb_http_reply(res, out->status, ctype, out->body, out->body_len);
    out->body = NULL, out->body_len = 0;
    bb_http_response_free(out);
}

static void forward_remote(struct bb_http_request *req, struct bb_http_response *res,
                           const char *addr, const char *url, const struct bb_http_header *hdrs,
                           size_t nh)
{
    char full[GW_URL_MAX + 300];
    snprintf(full, sizeof full, "http://%s%s", addr, url);
    char *lines[8] = {0};
    size_t nl = 0;
    for (size_t i = 0; i < nh && nl < 7; i++) {
        if (!strcasecmp(hdrs[i].name, "X-Request-Id")) continue; /* request_id below */
        size_t n = strlen(hdrs[i].name) + strlen(hdrs[i].value) + 3;
        lines[nl] = malloc(n);
        if (!lines[nl]) break;
        snprintf(lines[nl], n, "%s: %s", hdrs[i].name, hdrs[i].value);
        nl++;
    }
    /* curl adds "Expect: 100-continue" to large bodies; the downstream is ours: no round trip */
    lines[nl++] = strdup("Expect:");
    struct bb_httpc_request hr = {
        .method = req->method,
        .url = full,
        .headers = (const char *const *)lines,
        .body = req->body,
        .body_len = req->body_len,
        .request_id = req->request_id,
        .max_response_bytes = (size_t)64 << 20,
    };
    struct bb_httpc_response out = {0};
    int rc = bb_httpc_do(&hr, &out);
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    if (rc) {
        bb_log(BB_LOG_WARN, "platform", "gateway rid=%s downstream %s: %s", req->request_id, addr,
               bb_strerror(rc));
        if (rc == BB_ETIMEDOUT)
            bb_http_reply_error_status(res, 504, "upstream_timeout",
                                       "the data service did not answer in time");
        else
            bb_http_reply_error_status(res, 502, "upstream_unavailable",
                                       "the data service cannot be reached");
        return;
    }
    const char *ctype = NULL;
    for (size_t i = 0; i < out.n_headers; i++) {
        if (!strcasecmp(out.headers[i].name, "Content-Type"))
            ctype = out.headers[i].value;
        else if (!skip_response_header(out.headers[i].name))
            bb_http_set_header(res, out.headers[i].name, out.headers[i].value);
    }
    if (ctype) bb_http_set_header(res, "Content-Type", ctype);
    bb_http_reply(res, (int)out.status, NULL, out.body, out.body_len);
    out.body = NULL, out.body_len = 0;
    bb_httpc_response_release(&out);
}

/* Sends req to service at url (path + query) as identity (NULL: the internal service itself). */
static void forward(struct bb_http_request *req, struct bb_http_response *res, enum gw_svc svc,
                    const char *url, const char *identity)
{
    struct platform *p = req->ctx;
    struct bb_http_header hdrs[8];
    size_t nh = 0;
    char bearer[300];
    snprintf(bearer, sizeof bearer, "Bearer %s",
             p->rt->internal_token ? p->rt->internal_token : "");
    hdrs[nh++] = (struct bb_http_header){"Authorization", bearer};
    if (identity) hdrs[nh++] = (struct bb_http_header){"X-Bunbase-Identity", (char *)identity};
    hdrs[nh++] = (struct bb_http_header){"X-Request-Id", req->request_id};
    pass_header(req, "Content-Type", hdrs, &nh);
    pass_header(req, "Accept", hdrs, &nh);
    pass_header(req, "Last-Event-ID", hdrs, &nh);

    const char *name = svc_names[svc];
    char addr[256];
    const char *remote = bb_config_service_addr(name, addr, sizeof addr);
    struct bb_router *router = NULL;
    if (bb_host_service_state(p->rt->host, name)) {
        /* bunder-manager on its own listener adds its routes to its own router, not the host's */
        if (!(svc == GW_BUNDER && remote)) router = bb_host_service_router(p->rt->host, name);
    }
    if (router)
        forward_local(p, router, req, res, url, hdrs, nh);
    else if (remote)
        forward_remote(req, res, remote, url, hdrs, nh);
    else
        bb_http_reply_error_status(res, 503, "service_unavailable",
                                   svc == GW_BUNDOC ? "bundoc-server is not running here and "
                                                      "BUNBASE_BUNDOC_SERVER_ADDR is not set"
                                                    : "bunder-manager is not running here and "
                                                      "BUNBASE_BUNDER_MANAGER_ADDR is not set");
}

static const char *identity_for(const struct bb_http_request *req)
{
    return req->identity.kind == BB_IDENTITY_PROJECT_KEY_PUBLIC ? "anonymous" : "admin";
}

/* /v1/projects/{projectId}/database/<rest> and /v1/database/<rest> */
void plat_h_gw_database(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *pid;
    size_t plen;
    int console;
    if (project_of(req, &pid, &plen, &console)) {
        plat_reply_err(res, 403, "forbidden", "no project for this credential");
        return;
    }
    const char *rest = skip_segments(req->path, console ? 4 : 2);
    char url[GW_URL_MAX];
    int n = snprintf(url, sizeof url, "/v1/projects/%.*s/databases/(default)%s%s%s", (int)plen, pid,
                     rest, req->query ? "?" : "", req->query ? req->query : "");
    if (n < 0 || (size_t)n >= sizeof url) {
        plat_reply_err(res, 414, "uri_too_long", "request target too long");
        return;
    }
    forward(req, res, GW_BUNDOC, url, identity_for(req));
}

/* /v1/projects/{projectId}/kv[/{key}] and /v1/kv[/{key}] */
void plat_h_gw_kv(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *pid;
    size_t plen;
    int console;
    if (project_of(req, &pid, &plen, &console)) {
        plat_reply_err(res, 403, "forbidden", "no project for this credential");
        return;
    }
    const char *rest = skip_segments(req->path, console ? 4 : 2);
    char url[GW_URL_MAX];
    int n = snprintf(url, sizeof url, "/kv/%.*s/%s%s%s%s", (int)plen, pid, *rest ? "kv" : "keys",
                     rest, req->query ? "?" : "", req->query ? req->query : "");
    if (n < 0 || (size_t)n >= sizeof url) {
        plat_reply_err(res, 414, "uri_too_long", "request target too long");
        return;
    }
    forward(req, res, GW_BUNDER, url, NULL);
}

/* The query string without the key= parameter (a pk_ sent by a browser stays at the gateway). */
static void query_without_key(const char *q, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    while (q && *q) {
        size_t n = strcspn(q, "&");
        if (!(n >= 4 && !strncmp(q, "key=", 4)) && !(n == 3 && !strncmp(q, "key", 3)) && n &&
            o + n + 2 < cap) {
            o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? "&" : "?", (int)n, q);
        }
        q += n;
        if (*q == '&') q++;
    }
}

/* GET …/database/collections/{collection}/subscribe and POST …/database/documents/query/subscribe:
 * the request is handed to bundoc-server's stream route on this connection
 * (bb_http_redispatch), with the identity the key or role gives (as for the other routes);
 * Last-Event-ID and the body go along as they are. */
void plat_h_gw_subscribe(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid;
    size_t plen;
    int console;
    if (project_of(req, &pid, &plen, &console)) {
        plat_reply_err(res, 403, "forbidden", "no project for this credential");
        return;
    }
    struct bb_router *router = NULL;
    if (bb_host_service_state(p->rt->host, svc_names[GW_BUNDOC]))
        router = bb_host_service_router(p->rt->host, svc_names[GW_BUNDOC]);
    if (!router) {
        plat_reply_err(res, 501, "not_implemented",
                       "realtime through the gateway needs bundoc-server in this process");
        return;
    }
    char q[2048];
    query_without_key(req->query, q, sizeof q);
    char url[GW_URL_MAX];
    int n = snprintf(url, sizeof url, "/v1/projects/%.*s/databases/(default)%s%s", (int)plen, pid,
                     skip_segments(req->path, console ? 4 : 2), q);
    if (n < 0 || (size_t)n >= sizeof url) {
        plat_reply_err(res, 414, "uri_too_long", "request target too long");
        return;
    }
    struct bb_identity as = {0};
    as.kind = req->identity.kind == BB_IDENTITY_PROJECT_KEY_PUBLIC ? BB_IDENTITY_INTERNAL_END_USER
                                                                   : BB_IDENTITY_INTERNAL_ADMIN;
    as.resolver = "gateway";
    bb_http_redispatch(req, res, router, url, &as);
}
