/* bb_rpc_http.c — HTTP requests over bb_rpc, dispatched through a route table (bb_rpc_http.h). */
#include "bb_rpc_http.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_host.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_pool.h"
#include "bb_rpc.h"
#include "bb_service.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bb_rpc_http_req {
    struct bb_rpc_call *call;
    struct bb_http_local_request lr;
    char *method;
    char *url;
    struct bb_http_header *hdrs;
    size_t nhdrs;
    uint8_t *body;
};

void bb_rpc_http_reply_error(struct bb_rpc_call *call, const char *code, const char *msg)
{
    json_t *j = json_pack("{s:s,s:s}", "error", msg, "code", code);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    bb_rpc_call_reply(call, BB_RPC_STATUS_ERROR, s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    json_decref(j);
}

void bb_rpc_http_req_free(struct bb_rpc_http_req *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    free(r->hdrs);
    free(r->method);
    free(r->url);
    free(r->body);
    free(r);
}

int bb_rpc_http_req_new(struct bb_rpc_call *call, const char *method, const char *url,
                        const json_t *headers, const json_t *body, size_t max_headers,
                        struct bb_rpc_http_req **out, char *msg, size_t msgcap)
{
    if (headers && json_object_size(headers) > max_headers) {
        snprintf(msg, msgcap, "too many headers (max %zu)", max_headers);
        return BB_EINVAL;
    }
    struct bb_rpc_http_req *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->call = call;
    r->method = strdup(method);
    r->url = strdup(url);
    size_t nh = headers ? json_object_size(headers) : 0;
    r->hdrs = calloc(nh ? nh : 1, sizeof *r->hdrs);
    if (!r->method || !r->url || !r->hdrs) goto oom;
    size_t blen = 0;
    if (body && bb_base64_decode_alloc(json_string_value(body), json_string_length(body), &r->body,
                                       &blen) != 0) {
        snprintf(msg, msgcap, "invalid payload: body is not base64");
        bb_rpc_http_req_free(r);
        return BB_EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v)
    {
        if (!json_is_string(v)) {
            snprintf(msg, msgcap, "invalid payload: header %.64s is not a string", k);
            bb_rpc_http_req_free(r);
            return BB_EINVAL;
        }
        struct bb_http_header *h = &r->hdrs[r->nhdrs++];
        h->name = strdup(k);
        h->value = strdup(json_string_value(v));
        if (!h->name || !h->value) goto oom;
    }
    r->lr = (struct bb_http_local_request){.method = r->method, .url = r->url, .headers = r->hdrs,
                                           .nheaders = r->nhdrs, .body = r->body,
                                           .body_len = blen};
    *out = r;
    return 0;
oom:
    bb_rpc_http_req_free(r);
    snprintf(msg, msgcap, "out of memory");
    return BB_ENOMEM;
}

void bb_rpc_http_req_run(struct bb_rpc_http_req *r, struct bb_router *router, size_t max_body,
                         const char *internal_token)
{
    struct bb_http_response *res = NULL;
    if (!router || bb_http_dispatch_local(router, max_body, internal_token, &r->lr, &res) != 0) {
        bb_rpc_http_reply_error(r->call, router ? "out_of_memory" : "unavailable",
                                router ? "out of memory" : "the service has no routes");
        return;
    }
    json_t *h = json_object();
    for (size_t i = 0; h && i < res->nheaders; i++)
        json_object_set_new(h, res->headers[i].name, json_string(res->headers[i].value));
    char *body = bb_base64_encode_alloc(res->body ? res->body : "", res->body_len);
    json_t *j = NULL;
    if (h && body) /* steals h */
        j = json_pack("{s:i,s:o,s:s}", "status", res->status, "headers", h, "body", body);
    else
        json_decref(h);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s) bb_rpc_call_reply(r->call, BB_RPC_STATUS_OK, s, strlen(s));
    else bb_rpc_http_reply_error(r->call, "out_of_memory", "out of memory");
    free(s);
    free(body);
    json_decref(j);
    bb_http_response_free(res);
}

/* ---- the shared listener */

struct bb_rpc_http_listener {
    struct bb_runtime *rt;
    struct bb_rpc_server *srv;
    struct bb_rpc_http_listen_opts o;
    char service[64];
    char prefix[128];
    int inflight;
    int stopping;
};

struct rpc_job {
    struct bb_rpc_http_listener *l;
    struct bb_rpc_http_req *req;
};

static void listener_free(struct bb_rpc_http_listener *l)
{
    free(l);
}

static void rpc_work(void *arg)
{
    struct rpc_job *j = arg;
    struct bb_rpc_http_listener *l = j->l;
    bb_rpc_http_req_run(j->req, bb_host_service_router(l->rt->host, l->service), l->o.max_body,
                        l->rt->internal_token);
}

static void rpc_done(void *arg, int status)
{
    struct rpc_job *j = arg;
    struct bb_rpc_http_listener *l = j->l;
    (void)status;
    bb_rpc_http_req_free(j->req);
    free(j);
    if (--l->inflight == 0 && l->stopping) listener_free(l);
}

static void on_call(void *ctx, struct bb_rpc_call *call)
{
    struct bb_rpc_http_listener *l = ctx;
    uint8_t cmd = bb_rpc_call_command(call);
    char msg[300], perr[200];
    if (cmd != l->o.command) {
        snprintf(msg, sizeof msg, "unknown command %u (%u: Call)", cmd, l->o.command);
        bb_rpc_http_reply_error(call, "unknown_command", msg);
        return;
    }
    size_t len;
    const char *payload = bb_rpc_call_payload(call, &len);
    json_t *p = NULL;
    const char *code = "invalid_payload";
    struct rpc_job *j = NULL;
    char *url = NULL;
    if (bb_json_parse(payload, len, 16, &p, perr, sizeof perr) != 0 || !json_is_object(p)) {
        snprintf(msg, sizeof msg, "invalid payload: %s", p ? "not a JSON object" : perr);
        goto bad;
    }
    const char *method = json_string_value(json_object_get(p, "method"));
    const char *path = json_string_value(json_object_get(p, "path"));
    const char *pid = json_string_value(json_object_get(p, "project_id"));
    json_t *body = json_object_get(p, "body"), *headers = json_object_get(p, "headers");
    if (!method || !path || path[0] != '/' || (l->o.project_path && !pid) ||
        strncmp(path, l->prefix, strlen(l->prefix)) != 0 || (body && !json_is_string(body)) ||
        (headers && !json_is_object(headers))) {
        snprintf(msg, sizeof msg,
                 "invalid payload: method%s and path (%s...) are required strings; body a "
                 "base64 string; headers an object",
                 l->o.project_path ? ", project_id" : "", l->prefix);
        goto bad;
    }
    if (l->o.project_path && !bb_project_id_valid(pid, strlen(pid))) {
        snprintf(msg, sizeof msg, "invalid project id");
        code = "invalid_argument";
        goto bad;
    }
    size_t ulen = strlen(path) + 1 + (l->o.project_path ? strlen("/v1/projects/") + strlen(pid) : 0);
    url = malloc(ulen);
    j = calloc(1, sizeof *j);
    if (!url || !j) {
        snprintf(msg, sizeof msg, "out of memory");
        code = "out_of_memory";
        goto bad;
    }
    if (l->o.project_path) snprintf(url, ulen, "/v1/projects/%s%s", pid, path);
    else snprintf(url, ulen, "%s", path);
    j->l = l;
    int rc = bb_rpc_http_req_new(call, method, url, headers, body, l->o.max_headers, &j->req, msg,
                                 sizeof msg);
    if (rc) {
        if (rc == BB_ENOMEM) code = "out_of_memory";
        goto bad;
    }
    free(url);
    url = NULL;
    json_decref(p);
    p = NULL;
    l->inflight++;
    if (bb_pool_submit(l->rt->pool, rpc_work, rpc_done, j) != 0) {
        l->inflight--;
        snprintf(msg, sizeof msg, "server busy: worker queue full, retry later");
        code = "overloaded";
        goto bad;
    }
    return;
bad:
    if (j) bb_rpc_http_req_free(j->req);
    free(j);
    free(url);
    json_decref(p);
    bb_rpc_http_reply_error(call, code, msg);
}

int bb_rpc_http_listen(struct bb_runtime *rt, const char *addr,
                       const struct bb_rpc_http_listen_opts *opts,
                       struct bb_rpc_http_listener **out, char *err, size_t errcap)
{
    *out = NULL;
    struct bb_rpc_http_listener *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errcap, "%s: out of memory", opts->service);
        return BB_ENOMEM;
    }
    l->rt = rt;
    l->o = *opts;
    snprintf(l->service, sizeof l->service, "%s", opts->service);
    snprintf(l->prefix, sizeof l->prefix, "%s", opts->path_prefix ? opts->path_prefix : "/");
    l->o.service = l->service;
    l->o.path_prefix = l->prefix;
    l->o.addr_knob = NULL;
    struct bb_rpc_server_opts so = {.max_frame = opts->max_frame, .max_connections = 0};
    int rc = bb_rpc_server_start(&l->srv, rt->loop, addr, &so, on_call, l);
    if (rc) {
        snprintf(err, errcap, "%s: cannot listen on %s: %s",
                 opts->addr_knob ? opts->addr_knob : opts->service, addr, bb_strerror(rc));
        free(l);
        return rc;
    }
    char bound[64];
    snprintf(bound, sizeof bound, "127.0.0.1:%d", bb_rpc_server_port(l->srv));
    bb_host_publish_addr(rt->host, l->service, "rpc", bound);
    bb_info(l->service, "rpc_listening addr=%s", bound);
    *out = l;
    return 0;
}

int bb_rpc_http_inflight(const struct bb_rpc_http_listener *l)
{
    return l ? l->inflight : 0;
}

static void on_rpc_stopped(void *ctx)
{
    (void)ctx; /* the listener may be gone: nothing here touches it */
}

int bb_rpc_http_stop(struct bb_rpc_http_listener *l)
{
    if (!l) return 0;
    bb_rpc_server_stop(l->srv, on_rpc_stopped);
    l->srv = NULL;
    int n = l->inflight;
    if (n == 0) listener_free(l);
    else l->stopping = 1;
    return n;
}
