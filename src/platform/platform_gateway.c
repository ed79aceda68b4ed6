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
 *
 * Realtime (…/collections/{collection}/subscribe, …/documents/query/subscribe): in-process the
 * request is handed to bundoc-server's stream route on this connection (bb_http_redispatch);
 * remote, a thread relays the downstream SSE stream with libcurl (see "remote streams").
 */
#include "platform_internal.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_http.h"
#include "bb_httpc.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pg.h"
#include "bb_service.h"
#include "bb_sse.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define GW_URL_MAX 8192

enum gw_svc { GW_BUNDOC, GW_BUNDER, GW_TENANT_AUTH, GW_FUNCTIONS };
static const char *const svc_names[] = {"bundoc-server", "bunder-manager", "tenant-auth",
                                        "functions"};

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

/* A downstream's Access-Control-* headers are dropped: CORS is the gateway's (cors_answer, the
 * project's allowed origins), so a function's own Access-Control-Allow-Origin neither widens it
 * nor doubles the header (two values make a browser refuse the answer). */
static int skip_response_header(const char *name)
{
    static const char *const skip[] = {"Content-Length", "Connection",   "Transfer-Encoding",
                                       "Keep-Alive",     "X-Request-Id", "Content-Type"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (!strcasecmp(name, skip[i])) return 1;
    return !strncasecmp(name, "Access-Control-", 15);
}

/* Copies one request header (when present) into the local header list. */
static void pass_header(const struct bb_http_request *req, const char *name,
                        struct bb_http_header *h, size_t *n)
{
    const char *v = bb_http_header(req, name);
    if (v) h[(*n)++] = (struct bb_http_header){(char *)name, (char *)v};
}

static void cors_answer(struct bb_http_request *req, struct bb_http_response *res);

/* relay_all: every downstream header line as it came (repeated ones too: a function's
 * Set-Cookie lines); else one value per name. cors: the key-based form's CORS headers go first
 * (cors_answer). On the loop thread (req->on_loop) only a loop-first target route runs, on the
 * loop too; 1 when it did not answer there: res is untouched and the caller defers. Else 0. */
static int forward_local(struct platform *p, struct bb_router *router, struct bb_http_request *req,
                         struct bb_http_response *res, const char *url,
                         const struct bb_http_header *hdrs, size_t nh, int relay_all, int cors)
{
    struct bb_http_local_request lr = {req->method, url, hdrs, nh, req->body, req->body_len};
    struct bb_http_response *out = NULL;
    if ((req->on_loop ? bb_http_dispatch_local_on_loop
                      : bb_http_dispatch_local)(router, p->rt->cfg->http_max_body_bytes,
                                                p->rt->internal_token, &lr, &out) != 0 ||
        !out) {
        if (req->on_loop) return 1; /* the pool answers what it can */
        if (cors) cors_answer(req, res);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return 0;
    }
    if (out->deferred) {
        bb_http_response_free(out);
        return 1;
    }
    if (req->on_loop) bb_counter_inc(p->gw_loop);
    if (cors) cors_answer(req, res);
    const char *ctype = NULL;
    for (size_t i = 0; i < out->nheaders; i++) {
        if (!strcasecmp(out->headers[i].name, "Content-Type"))
            ctype = out->headers[i].value;
        else if (!skip_response_header(out->headers[i].name))
            (relay_all ? bb_http_add_header : bb_http_set_header)(res, out->headers[i].name,
                                                                  out->headers[i].value);
    }
    bb_http_reply(res, out->status, ctype, out->body, out->body_len);
    out->body = NULL, out->body_len = 0;
    bb_http_response_free(out);
    return 0;
}

static void forward_remote(struct bb_http_request *req, struct bb_http_response *res,
                           const char *addr, const char *url, const struct bb_http_header *hdrs,
                           size_t nh, int relay_all)
{
    char full[GW_URL_MAX + 300];
    snprintf(full, sizeof full, "http://%s%s", addr, url);
    char **lines = calloc(nh + 2, sizeof *lines);
    if (!lines) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    size_t nl = 0;
    for (size_t i = 0; i < nh; i++) {
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
        .max_response_bytes = (size_t)((struct platform *)req->ctx)->cfg.gw_max_response_bytes,
    };
    struct bb_httpc_response out = {0};
    int rc = bb_httpc_do(&hr, &out);
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    if (rc) {
        bb_log(BB_LOG_WARN, "platform", "gateway rid=%s downstream %s: %s", req->request_id, addr,
               bb_strerror(rc));
        if (rc == BB_ETOOBIG)
            bb_http_reply_error_status(res, 502, "upstream_too_large",
                                       "the data service's answer is over "
                                       "BUNBASE_PLATFORM_GATEWAY_MAX_RESPONSE_BYTES");
        else if (rc == BB_ETIMEDOUT)
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
            (relay_all ? bb_http_add_header : bb_http_set_header)(res, out.headers[i].name,
                                                                  out.headers[i].value);
    }
    if (ctype) bb_http_set_header(res, "Content-Type", ctype);
    bb_http_reply(res, (int)out.status, NULL, out.body, out.body_len);
    out.body = NULL, out.body_len = 0;
    bb_httpc_response_release(&out);
}

/* Where svc runs: its router when it runs in this process (its routes: bb_host_mount), else NULL
 * with *remote its address (BUNBASE_<SERVICE>_ADDR, into addr) or NULL when it has none. */
static struct bb_router *locate(struct platform *p, enum gw_svc svc, char *addr, size_t cap,
                                const char **remote)
{
    return bb_host_locate(p->rt->host, svc_names[svc], addr, cap, remote);
}

/* Sends req to service at url (path + query) as identity (NULL: the internal service itself);
 * cors: with the key-based form's CORS headers. On the loop thread (req->on_loop, a loop-first
 * gateway route) it answers only when the service runs in this process and its route answered on
 * the loop too; else it defers (bb_http_defer), untouched, and runs again on the pool. */
static void forward(struct bb_http_request *req, struct bb_http_response *res, enum gw_svc svc,
                    const char *url, const char *identity, int cors)
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
    char ip[64];
    if (svc == GW_TENANT_AUTH && bb_http_client_ip(req, ip, sizeof ip) == 0) /* rate limits */
        hdrs[nh++] = (struct bb_http_header){"X-Bunbase-Client-Ip", ip};

    char addr[256];
    const char *remote;
    struct bb_router *router = locate(p, svc, addr, sizeof addr, &remote);
    if (router) {
        if (forward_local(p, router, req, res, url, hdrs, nh, 0, cors)) bb_http_defer(res);
        return;
    }
    if (req->on_loop) { /* a remote call blocks */
        bb_http_defer(res);
        return;
    }
    if (cors) cors_answer(req, res);
    if (remote)
        forward_remote(req, res, remote, url, hdrs, nh, 0);
    else {
        char knob[128], msg[300];
        snprintf(msg, sizeof msg, "%s is not running here and %s is not set", svc_names[svc],
                 bb_config_service_addr_knob(svc_names[svc], knob, sizeof knob));
        bb_http_reply_error_status(res, 503, "service_unavailable", msg);
    }
}

/* One internal-admin call without a client request behind it; returns the HTTP status, or 0 when
 * the service is neither here nor at an address, -1 when it cannot be reached. */
static int call_admin(struct platform *p, enum gw_svc svc, const char *method, const char *url,
                      const char *request_id)
{
    struct bb_host_call c = {
        .method = method, .url = url, .identity = "admin", .request_id = request_id};
    int st = 0;
    char *reply = NULL;
    size_t rl = 0;
    char addr[256];
    const char *remote;
    if (!locate(p, svc, addr, sizeof addr, &remote) && !remote) return 0;
    if (bb_host_call(p->rt->host, svc_names[svc], &c, &st, &reply, &rl) != 0) return -1;
    free(reply);
    return st;
}

static const char *drop_outcome(int st)
{
    return st == 200 ? "dropped" : st == 409 ? "in_use" : st == 0 ? "unavailable" : "failed";
}

void plat_gw_drop_project(struct platform *p, const char *pid, const char *request_id,
                          const char **db, const char **kv)
{
    char url[GW_URL_MAX];
    snprintf(url, sizeof url, "/v1/projects/%s/databases", pid);
    *db = drop_outcome(call_admin(p, GW_BUNDOC, "DELETE", url, request_id));
    snprintf(url, sizeof url, "/kv/%s", pid);
    *kv = drop_outcome(call_admin(p, GW_BUNDER, "DELETE", url, request_id));
}

/* X-Bunbase-Identity for the caller (a new string, caller frees; NULL when out of memory):
 * "anonymous" for a pk_, {"uid","claims"} for an end user signed in with tenant-auth, "admin"
 * for sk_ and developers. */
static char *identity_for(const struct bb_http_request *req)
{
    if (req->identity.kind == BB_IDENTITY_END_USER_JWT && req->identity.uid) {
        json_t *o = json_pack("{s:s,s:O}", "uid", req->identity.uid, "claims",
                              req->identity.claims ? req->identity.claims : json_object());
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return s;
    }
    return strdup(req->identity.kind == BB_IDENTITY_PROJECT_KEY_PUBLIC ? "anonymous" : "admin");
}

/* The caller's project (*console: named by the route's {projectId}, else the key's or the end
 * user's); 0, or answers 403. */
static int caller_project(struct bb_http_request *req, struct bb_http_response *res,
                          const char **pid, size_t *plen, int *console)
{
    if (project_of(req, pid, plen, console) == 0) return 0;
    plat_reply_err(res, 403, "forbidden", "no project for this credential");
    return -1;
}

/* n (snprintf's result) fits a URL buffer of cap bytes; else answers 414. */
static int url_fits(struct bb_http_response *res, int n, size_t cap)
{
    if (n >= 0 && (size_t)n < cap) return 1;
    plat_reply_err(res, 414, "uri_too_long", "request target too long");
    return 0;
}

/* Sends req to svc at url as the caller (identity_for), with CORS for the key-based form. */
static void forward_as_caller(struct bb_http_request *req, struct bb_http_response *res,
                              enum gw_svc svc, const char *url)
{
    char *who = identity_for(req);
    if (!who) {
        if (req->on_loop) bb_http_defer(res);
        else bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    forward(req, res, svc, url, who, 1);
    free(who);
}

static int cors_ready(struct bb_http_request *req);

/* /v1/projects/{projectId}/database/<rest> and /v1/database/<rest>. The document GETs are
 * loop-first routes (PLAT_GW_DB_LOOP): on the loop thread the identity is already resolved and
 * authorized (the dispatcher did it from the cached view, as for every request), and the request
 * goes on only when nothing on the way can block — the CORS view is loaded, bundoc-server runs in
 * this process and answers on the loop (its open project, cached pages, no read rule); else the
 * whole request defers to the pool, which forwards it as before. */
void plat_h_gw_database(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *pid;
    size_t plen;
    int console;
    if (req->on_loop && !cors_ready(req)) {
        bb_http_defer(res);
        return;
    }
    if (caller_project(req, res, &pid, &plen, &console)) return;
    const char *rest = skip_segments(req->path, console ? 4 : 2);
    char url[GW_URL_MAX];
    int n = snprintf(url, sizeof url, "/v1/projects/%.*s/databases/(default)%s%s%s", (int)plen, pid,
                     rest, req->query ? "?" : "", req->query ? req->query : "");
    if (url_fits(res, n, sizeof url)) forward_as_caller(req, res, GW_BUNDOC, url);
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
    forward(req, res, GW_BUNDER, url, NULL, 1);
}

/* /v1/auth/project/<rest> (pk_ or an end user's token; the project is theirs) and
 * /v1/projects/{projectId}/auth/<rest> (developers by role, sk_): to tenant-auth's
 * /v1/tenant-auth/<project>/app<rest> and /admin<rest>, as the caller's identity (pk_ "anonymous",
 * an end user {"uid","claims"}, sk_ and developers "admin"), with the client's IP for its rate
 * limits. */
void plat_h_gw_tenant_auth(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *pid;
    size_t plen;
    int console;
    if (caller_project(req, res, &pid, &plen, &console)) return;
    const char *rest = skip_segments(req->path, console ? 4 : 3);
    char url[GW_URL_MAX];
    int n = snprintf(url, sizeof url, "/v1/tenant-auth/%.*s/%s%s%s%s", (int)plen, pid,
                     console ? "admin" : "app", rest, req->query ? "?" : "",
                     req->query ? req->query : "");
    if (url_fits(res, n, sizeof url)) forward_as_caller(req, res, GW_TENANT_AUTH, url);
}

/* Functions (src/functions/): /v1/projects/{projectId}/functions[/{name}[/…]] (console: list,
 * deploy, get, delete, versions, activate, rollback, logs, metrics, invoke) → /fn/{pid}/…, and
 * /v1/functions/{name} (keys) and …/functions/{name}/invoke → /fn/{pid}/invoke/{name}. An
 * invocation carries every client header but the credentials (Authorization, Cookie,
 * X-Bunbase-Client-Key: never shown to user code) and the public target in
 * X-Bunbase-Forwarded-Path; the answer is relayed with repeated header lines kept. */
static int gw_fn_hidden(const char *n)
{
    static const char *const hide[] = {"Authorization", "Cookie", "X-Bunbase-Identity",
                                       "X-Bunbase-Client-Key", "X-Bunbase-Forwarded-Path",
                                       "X-Request-Id", "Content-Length", "Transfer-Encoding",
                                       "Connection", "Expect", "Keep-Alive", "Upgrade", "TE"};
    for (size_t i = 0; i < sizeof hide / sizeof hide[0]; i++)
        if (!strcasecmp(n, hide[i])) return 1;
    return 0;
}

void plat_h_gw_functions(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid, *name = NULL;
    size_t plen, nlen = 0;
    int console;
    if (project_of(req, &pid, &plen, &console)) {
        plat_reply_err(res, 403, "forbidden", "no project for this credential");
        return;
    }
    for (size_t k = 0; k < req->match.nparams; k++)
        if (req->match.params[k].name_len == 4 && !memcmp(req->match.params[k].name, "name", 4))
            name = req->match.params[k].value, nlen = req->match.params[k].value_len;
    size_t pl = strlen(req->path);
    int invoke = !console || (pl > 7 && !strcmp(req->path + pl - 7, "/invoke"));
    char url[GW_URL_MAX];
    int n = invoke && name
                ? snprintf(url, sizeof url, "/fn/%.*s/invoke/%.*s%s%s", (int)plen, pid,
                           (int)nlen, name, req->query ? "?" : "", req->query ? req->query : "")
                : snprintf(url, sizeof url, "/fn/%.*s%s%s%s", (int)plen, pid,
                           skip_segments(req->path, 3), req->query ? "?" : "",
                           req->query ? req->query : "");
    if (n < 0 || (size_t)n >= sizeof url) {
        plat_reply_err(res, 414, "uri_too_long", "request target too long");
        return;
    }
    struct bb_http_header *hdrs = calloc(req->nheaders + 4, sizeof *hdrs);
    if (!hdrs) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    size_t nh = 0;
    cors_answer(req, res); /* the key-based form: the project's origins */
    char bearer[300];
    snprintf(bearer, sizeof bearer, "Bearer %s",
             p->rt->internal_token ? p->rt->internal_token : "");
    hdrs[nh++] = (struct bb_http_header){"Authorization", bearer};
    hdrs[nh++] = (struct bb_http_header){"X-Request-Id", req->request_id};
    if (invoke) hdrs[nh++] = (struct bb_http_header){"X-Bunbase-Forwarded-Path", req->url};
    for (size_t i = 0; i < req->nheaders; i++)
        if (!gw_fn_hidden(req->headers[i].name)) hdrs[nh++] = req->headers[i];
    char addr[256];
    const char *remote;
    struct bb_router *router = locate(p, GW_FUNCTIONS, addr, sizeof addr, &remote);
    if (router)
        forward_local(p, router, req, res, url, hdrs, nh, 1, 0);
    else if (remote)
        forward_remote(req, res, remote, url, hdrs, nh, 1);
    else
        bb_http_reply_error_status(res, 503, "service_unavailable",
                                   "functions is not running here and BUNBASE_FUNCTIONS_ADDR is "
                                   "not set");
    free(hdrs);
}

/* ---------------------------------------------------------------- remote streams
 * bundoc-server in another process: a thread runs the subscription request with libcurl. The
 * handler waits (at most BUNBASE_PLATFORM_GATEWAY_STREAM_WAIT_MS) for the downstream's status: a
 * 200 event stream turns this response into an SSE stream and the thread pushes every downstream
 * frame into it (event, id and data kept; comments — the downstream's heartbeats — dropped: ours
 * keep the client alive); any other answer is returned as it is. The thread ends when either side
 * ends: a closed client is noticed within a second through curl's progress callback, a downstream
 * end closes our stream. */

#define GW_STREAM_MAX_ERROR_BODY (64u * 1024u)

struct gw_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;      /* handler + thread */
    int phase;     /* 0: waiting for the status, 1: status known, 2: downstream done */
    int go;        /* handler's decision for a stream: 1 relay, -1 give up */
    int streaming; /* the downstream answered 200 text/event-stream */
    long status;
    char ctype[128];
    char *body; /* error answer (bounded) or SSE frame buffer */
    size_t len;
    int rc; /* curl result (phase 2) */
    struct bb_sse *sse;
    CURL *curl;
    struct curl_slist *hdrs;
    char *url, *method, *reqbody;
    size_t reqlen;
    size_t max_frame; /* BUNBASE_PLATFORM_GATEWAY_MAX_FRAME_BYTES */
};

static void gw_stream_unref(struct gw_stream *st)
{
    pthread_mutex_lock(&st->mu);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last) return;
    if (st->sse) bb_sse_unref(st->sse);
    if (st->curl) curl_easy_cleanup(st->curl);
    curl_slist_free_all(st->hdrs);
    free(st->body), free(st->url), free(st->method), free(st->reqbody);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Pushes the complete frames in st->body to the client; 0 or nonzero to stop. */
static int relay_frames(struct gw_stream *st)
{
    size_t off = 0;
    for (;;) {
        char *start = st->body + off;
        char *end = memmem(start, st->len - off, "\n\n", 2);
        if (!end) break;
        *end = '\0';
        const char *id = NULL, *event = NULL;
        char *data = NULL;
        size_t dlen = 0;
        for (char *line = start, *next; line && line < end; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            size_t n = strlen(line);
            if (n && line[n - 1] == '\r') line[--n] = '\0';
            char *colon = strchr(line, ':');
            if (!colon || colon == line) continue; /* comments and bare fields */
            *colon = '\0';
            char *v = colon + 1;
            if (*v == ' ') v++;
            if (!strcmp(line, "id"))
                id = v;
            else if (!strcmp(line, "event"))
                event = v;
            else if (!strcmp(line, "data")) {
                /* joined in place with '\n' (the data lines are in order in the buffer) */
                if (!data)
                    data = v, dlen = strlen(v);
                else {
                    data[dlen++] = '\n';
                    size_t vl = strlen(v);
                    memmove(data + dlen, v, vl);
                    dlen += vl;
                }
            }
        }
        off = (size_t)(end - st->body) + 2;
        if ((data || event) && bb_sse_send(st->sse, event, id, data ? data : "", dlen) != 0)
            return -1;
    }
    memmove(st->body, st->body + off, st->len - off);
    st->len -= off;
    return 0;
}

static size_t on_stream_header(char *b, size_t size, size_t n, void *arg)
{
    struct gw_stream *st = arg;
    size_t len = size * n;
    if (len > 13 && !strncasecmp(b, "Content-Type:", 13)) {
        size_t v = 13;
        while (v < len && b[v] == ' ')
            v++;
        size_t e = len;
        while (e > v && (b[e - 1] == '\r' || b[e - 1] == '\n' || b[e - 1] == ' '))
            e--;
        snprintf(st->ctype, sizeof st->ctype, "%.*s", (int)(e - v), b + v);
    }
    if (!(len <= 2 && (b[0] == '\r' || b[0] == '\n'))) return len;
    long code = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200) { /* an interim answer: its headers end here */
        st->ctype[0] = '\0';
        return len;
    }
    pthread_mutex_lock(&st->mu);
    st->status = code;
    st->streaming = code == 200 && !strncasecmp(st->ctype, "text/event-stream", 17);
    st->phase = 1;
    pthread_cond_broadcast(&st->cv);
    int ok = 1;
    if (st->streaming) {
        while (!st->go)
            pthread_cond_wait(&st->cv, &st->mu);
        ok = st->go > 0;
    }
    pthread_mutex_unlock(&st->mu);
    return ok ? len : 0;
}

static size_t on_stream_data(char *b, size_t size, size_t n, void *arg)
{
    struct gw_stream *st = arg;
    size_t len = size * n;
    size_t max = st->streaming ? st->max_frame : GW_STREAM_MAX_ERROR_BODY;
    if (st->len + len > max) return st->streaming ? 0 : len; /* a frame over the bound ends it */
    char *nb = realloc(st->body, st->len + len + 1);
    if (!nb) return 0;
    st->body = nb;
    memcpy(st->body + st->len, b, len);
    st->len += len;
    st->body[st->len] = '\0';
    if (st->streaming && relay_frames(st) != 0) return 0;
    return len;
}

static int on_stream_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct gw_stream *st = arg;
    return st->streaming && st->sse && bb_sse_is_closed(st->sse);
}

static void *stream_thread(void *arg)
{
    struct gw_stream *st = arg;
    int rc = curl_easy_perform(st->curl);
    pthread_mutex_lock(&st->mu);
    st->rc = rc;
    st->phase = 2;
    if (st->streaming && st->go > 0) bb_sse_close(st->sse); /* the downstream ended it */
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    gw_stream_unref(st);
    return NULL;
}

static void stream_remote(struct bb_http_request *req, struct bb_http_response *res,
                          const char *addr, const char *url, const char *identity)
{
    struct platform *p = req->ctx;
    struct gw_stream *st = calloc(1, sizeof *st);
    if (!st) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->refs = 1;
    st->max_frame = (size_t)p->cfg.gw_max_frame_bytes;
    size_t ulen = strlen(addr) + strlen(url) + 16;
    st->url = malloc(ulen);
    st->method = strdup(req->method);
    st->curl = curl_easy_init();
    if (req->body_len) {
        st->reqbody = malloc(req->body_len);
        if (st->reqbody) memcpy(st->reqbody, req->body, req->body_len), st->reqlen = req->body_len;
    }
    char line[400];
    snprintf(line, sizeof line, "Authorization: Bearer %s",
             p->rt->internal_token ? p->rt->internal_token : "");
    struct curl_slist *h = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "X-Bunbase-Identity: %s", identity);
    if (h) h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Request-Id: %s", req->request_id);
    if (h) h = curl_slist_append(h, line);
    if (h) h = curl_slist_append(h, "Accept: text/event-stream");
    if (h) h = curl_slist_append(h, "Expect:");
    static const char *const pass[] = {"Last-Event-ID", "Content-Type"};
    for (size_t i = 0; h && i < sizeof pass / sizeof pass[0]; i++) {
        const char *v = bb_http_header(req, pass[i]);
        if (v && !strpbrk(v, "\r\n") && strlen(v) < 300) {
            snprintf(line, sizeof line, "%s: %s", pass[i], v);
            h = curl_slist_append(h, line);
        }
    }
    st->hdrs = h;
    if (!st->url || !st->method || !st->curl || !h || (req->body_len && !st->reqbody)) {
        gw_stream_unref(st);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    snprintf(st->url, ulen, "http://%s%s", addr, url);
    CURL *c = st->curl;
    curl_easy_setopt(c, CURLOPT_URL, st->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, st->method);
    if (!strcmp(st->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, st->reqbody ? st->reqbody : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st->reqlen);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, st->hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_stream_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, st);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_stream_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, st);

    st->refs = 2;
    pthread_t t;
    if (pthread_create(&t, NULL, stream_thread, st) != 0) {
        st->refs = 1;
        gw_stream_unref(st);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_detach(t);

    struct timespec dl;
    bb_time_deadline(CLOCK_REALTIME, p->cfg.gw_stream_wait_ms, &dl);
    pthread_mutex_lock(&st->mu);
    while (st->phase == 0 && pthread_cond_timedwait(&st->cv, &st->mu, &dl) != ETIMEDOUT) {
    }
    if (st->phase >= 1 && st->streaming) {
        struct bb_sse *sse = NULL;
        if (bb_sse_start(req, res, NULL, NULL, &sse) == 0) {
            st->sse = sse; /* the thread's from now on (released with st) */
            st->go = 1;
        } else {
            st->go = -1;
            bb_http_reply_error(res, BB_ENOMEM, NULL);
        }
        pthread_cond_broadcast(&st->cv);
    } else if (st->phase >= 1) { /* an answer that is not a stream: wait for its body */
        while (st->phase == 1 && pthread_cond_timedwait(&st->cv, &st->mu, &dl) != ETIMEDOUT) {
        }
        if (st->phase == 2 && st->rc == CURLE_OK) {
            bb_http_reply_copy(res, (int)st->status, st->ctype[0] ? st->ctype : NULL,
                               st->body ? st->body : "", st->len);
        } else {
            bb_http_reply_error_status(res, 502, "upstream_unavailable",
                                       "the data service's answer did not arrive");
        }
    } else {
        st->go = -1; /* never signalled with phase 0, but a late status must not wait for us */
        pthread_cond_broadcast(&st->cv);
        if (st->phase == 2)
            bb_http_reply_error_status(res, 502, "upstream_unavailable",
                                       "the data service cannot be reached");
        else
            bb_http_reply_error_status(res, 504, "upstream_timeout",
                                       "the data service did not answer in time");
    }
    pthread_mutex_unlock(&st->mu);
    gw_stream_unref(st);
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
    char addr[256];
    const char *remote;
    struct bb_router *router = locate(p, GW_BUNDOC, addr, sizeof addr, &remote);
    if (!router && !remote) {
        plat_reply_err(
            res, 503, "service_unavailable",
            "bundoc-server is not running here and BUNBASE_BUNDOC_SERVER_ADDR is not set");
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
    cors_answer(req, res);
    if (!router) {
        char *who = identity_for(req);
        if (!who) {
            bb_http_reply_error(res, BB_ENOMEM, NULL);
            return;
        }
        stream_remote(req, res, remote, url, who);
        free(who);
        return;
    }
    struct bb_identity as = {0};
    int eu = req->identity.kind == BB_IDENTITY_PROJECT_KEY_PUBLIC ||
             req->identity.kind == BB_IDENTITY_END_USER_JWT;
    as.kind = eu ? BB_IDENTITY_INTERNAL_END_USER : BB_IDENTITY_INTERNAL_ADMIN;
    as.resolver = "gateway";
    if (req->identity.kind == BB_IDENTITY_END_USER_JWT && req->identity.uid) {
        as.uid = strdup(req->identity.uid);
        as.claims = req->identity.claims ? json_incref(req->identity.claims) : json_object();
        if (!as.uid || !as.claims) {
            bb_identity_release(&as);
            bb_http_reply_error(res, BB_ENOMEM, NULL);
            return;
        }
    }
    bb_http_redispatch(req, res, router, url, &as);
}

/* ---------------------------------------------------------------- CORS (key-based routes)
 * Each project lists the origins its browsers may call the key-based routes from
 * (GET/PUT /v1/projects/{projectId}/cors; platform_gateway_cors). A preflight carries no
 * credential, so it cannot name its project: it is answered 204 with the CORS headers when the
 * Origin is allowed by some project, else 403 without them. The real request names its project
 * by its key: its answer carries Access-Control-Allow-Origin only when that project allows the
 * Origin, so a browser page of another project's origin cannot read it. No
 * Access-Control-Allow-Credentials: keys travel in headers, never in cookies.
 *
 * The view is per process: reloaded from PostgreSQL when the platform's version (bumped by every
 * change, polled by platform_cache.c) differs from the one it was loaded at. */

#define GW_CORS_MAX_ORIGIN_BYTES 255

static pthread_mutex_t cors_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *cors_map; /* project id → array of origins */
static uint64_t cors_version = UINT64_MAX;

/* 1 when cors_answer would not block for req: no Origin, no project, or the view is loaded at
 * the platform's current version. Any thread. */
static int cors_ready(struct bb_http_request *req)
{
    struct platform *p = req->ctx;
    const char *origin = bb_http_header(req, "Origin");
    if (!origin || !*origin || req->identity.project_id[0] == '\0') return 1;
    uint64_t v = plat_cache_version(p->cache);
    pthread_mutex_lock(&cors_mu);
    int fresh = cors_map && cors_version == v;
    pthread_mutex_unlock(&cors_mu);
    return fresh;
}

/* Reloads the view when the platform's version moved. Worker thread (blocks on PostgreSQL). */
static void cors_refresh(struct platform *p)
{
    uint64_t v = plat_cache_version(p->cache);
    pthread_mutex_lock(&cors_mu);
    int fresh = cors_map && cors_version == v;
    pthread_mutex_unlock(&cors_mu);
    if (fresh) return;
    PGconn *c = NULL;
    if (bb_pg_pool_acquire(p->rt->pg, &c, 5000) != 0) return; /* keep the old view */
    PGresult *r = PQexec(c, "SELECT project_id, origins FROM platform_gateway_cors");
    json_t *m = plat_cmd_ok(r) ? json_object() : NULL;
    for (int i = 0; m && i < PQntuples(r); i++) {
        json_t *o = json_loads(PQgetvalue(r, i, 1), 0, NULL);
        if (json_is_array(o))
            json_object_set_new(m, PQgetvalue(r, i, 0), o);
        else
            json_decref(o);
    }
    PQclear(r);
    bb_pg_pool_release(p->rt->pg, c);
    if (!m) return;
    pthread_mutex_lock(&cors_mu);
    json_decref(cors_map);
    cors_map = m;
    cors_version = v;
    pthread_mutex_unlock(&cors_mu);
}

static int origin_in(const json_t *arr, const char *origin)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s && (!strcmp(s, "*") || !strcasecmp(s, origin))) return 1;
    }
    return 0;
}

/* 1 when project (NULL: any project) allows origin. refresh: reload a stale view first (a worker
 * thread); 0 on the loop thread, which cors_ready let through with the view as it was then (a
 * change that lands meanwhile is ordered after this request). */
static int cors_allows(struct platform *p, const char *project, const char *origin, int refresh)
{
    if (refresh) cors_refresh(p);
    int ok = 0;
    pthread_mutex_lock(&cors_mu);
    if (cors_map && project) {
        ok = origin_in(json_object_get(cors_map, project), origin);
    } else if (cors_map) {
        const char *k;
        json_t *v;
        json_object_foreach(cors_map, k, v)
        {
            if ((ok = origin_in(v, origin))) break;
        }
    }
    pthread_mutex_unlock(&cors_mu);
    return ok;
}

void plat_gw_cors_answer(struct bb_http_request *req, struct bb_http_response *res)
{
    cors_answer(req, res);
}

static void cors_answer(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *origin = bb_http_header(req, "Origin");
    if (!origin || !*origin || req->identity.project_id[0] == '\0') return;
    /* key-based form only: the console is the dashboard's, same-origin */
    for (size_t k = 0; k < req->match.nparams; k++)
        if (req->match.params[k].name_len == 9 &&
            !memcmp(req->match.params[k].name, "projectId", 9))
            return;
    bb_http_set_header(res, "Vary", "Origin");
    if (!cors_allows(p, req->identity.project_id, origin, !req->on_loop)) return;
    bb_http_set_header(res, "Access-Control-Allow-Origin", origin);
    bb_http_set_header(res, "Access-Control-Expose-Headers", "X-Request-Id");
}

#define GW_CORS_MAX_ASKED_HEADERS 1024

/* "name, name, ..." of header-name characters, at most GW_CORS_MAX_ASKED_HEADERS bytes. */
static int header_list_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GW_CORS_MAX_ASKED_HEADERS) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == ',' ||
              s[i] == ' '))
            return 0;
    return 1;
}

/* OPTIONS on the key-based routes. */
void plat_h_gw_preflight(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *origin = bb_http_header(req, "Origin");
    const char *method = bb_http_header(req, "Access-Control-Request-Method");
    bb_http_set_header(res, "Allow", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    if (!origin || !*origin || !method) { /* not a preflight */
        bb_http_reply(res, 204, NULL, NULL, 0);
        return;
    }
    bb_http_set_header(res, "Vary", "Origin");
    if (!cors_allows(p, NULL, origin, 1)) {
        plat_reply_err(res, 403, "cors_origin_not_allowed",
                       "no project allows this origin (PUT /v1/projects/{projectId}/cors)");
        return;
    }
    bb_http_set_header(res, "Access-Control-Allow-Origin", origin);
    bb_http_set_header(res, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
    static const char base_headers[] = "X-Bunbase-Client-Key, Authorization, Content-Type, "
                                       "Last-Event-ID, X-Request-Id";
    /* a function reads any header its page sends: the requested ones are allowed too (names
     * only: a bounded list of header-name characters, else the fixed list) */
    const char *asked = bb_http_header(req, "Access-Control-Request-Headers");
    char allow[sizeof base_headers + GW_CORS_MAX_ASKED_HEADERS + 2];
    snprintf(allow, sizeof allow, "%s", base_headers);
    if (asked && !strncmp(req->path, "/v1/functions/", 14) && header_list_valid(asked))
        snprintf(allow, sizeof allow, "%s, %s", base_headers, asked);
    bb_http_set_header(res, "Access-Control-Allow-Headers", allow);
    bb_http_set_header(res, "Access-Control-Max-Age", "600");
    bb_http_reply(res, 204, NULL, NULL, 0);
}

/* "scheme://host[:port]" with nothing after, or "*". */
static int origin_valid(const char *s)
{
    if (!strcmp(s, "*")) return 1;
    size_t n = strlen(s);
    if (n > GW_CORS_MAX_ORIGIN_BYTES) return 0;
    const char *h = NULL;
    if (!strncasecmp(s, "https://", 8))
        h = s + 8;
    else if (!strncasecmp(s, "http://", 7))
        h = s + 7;
    if (!h || !*h) return 0;
    for (const char *c = h; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == ':' || *c == '[' ||
              *c == ']'))
            return 0;
    return 1;
}

static void cors_reply(struct bb_http_response *res, const char *origins)
{
    json_t *o = origins ? json_loads(origins, 0, NULL) : NULL;
    json_t *body = json_pack("{s:o}", "allowed_origins", json_is_array(o) ? o : json_array());
    if (!json_is_array(o)) json_decref(o);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

/* GET /v1/projects/{projectId}/cors */
void plat_h_gw_cors_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *params[1] = {pid};
    PGresult *r =
        plat_q(c, "SELECT origins FROM platform_gateway_cors WHERE project_id = $1", 1, params);
    if (!plat_cmd_ok(r))
        plat_reply_err(res, 503, "unavailable", "cannot read the CORS origins");
    else
        cors_reply(res, PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL);
    PQclear(r);
    plat_pg_release(p, c);
}

/* PUT /v1/projects/{projectId}/cors {"allowed_origins": [...]} */
void plat_h_gw_cors_put(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    json_t *body = plat_body(req, res);
    if (!body) return;
    json_t *arr = json_object_get(body, "allowed_origins");
    if (!json_is_array(arr) || json_array_size(arr) > p->cfg.gw_cors_max_origins) {
        json_decref(body);
        char msg[160];
        snprintf(msg, sizeof msg,
                 "allowed_origins must be an array of at most %llu origins "
                 "(BUNBASE_PLATFORM_GATEWAY_CORS_MAX_ORIGINS)",
                 (unsigned long long)p->cfg.gw_cors_max_origins);
        plat_reply_err(res, 400, "invalid_origins", msg);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !origin_valid(json_string_value(v))) {
            json_decref(body);
            plat_reply_err(res, 400, "invalid_origin",
                           "each origin is \"*\" or scheme://host[:port] (http or https, no path)");
            return;
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_t *detail = json_pack("{s:O}", "allowed_origins", arr);
    json_decref(body);
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = text ? plat_pg(p, res) : NULL;
    if (!c) {
        if (!text) bb_http_reply_error(res, BB_ENOMEM, NULL);
        free(text);
        json_decref(detail);
        return;
    }
    const char *params[2] = {pid, text};
    PGresult *r = PQexec(c, "BEGIN");
    int ok = plat_cmd_ok(r);
    PQclear(r);
    if (ok) {
        r = plat_q(c,
                   "INSERT INTO platform_gateway_cors(project_id, origins) VALUES ($1, $2) "
                   "ON CONFLICT (project_id) DO UPDATE SET origins = $2, updated_at = now()",
                   2, params);
        ok = plat_cmd_ok(r);
        PQclear(r);
    }
    if (ok)
        ok = plat_audit(c, &who, req, pid, NULL, "cors.update", pid, detail) == 0;
    else
        json_decref(detail);
    if (ok) ok = plat_bump_version(c) == 0;
    r = PQexec(c, ok ? "COMMIT" : "ROLLBACK");
    ok = ok && plat_cmd_ok(r);
    PQclear(r);
    if (ok) plat_cache_reload_with(p->cache, c);
    plat_pg_release(p, c);
    if (ok)
        cors_reply(res, text);
    else
        plat_reply_err(res, 503, "unavailable", "cannot store the CORS origins");
    free(text);
}
