/* bb_rpc_http.c — HTTP requests over bb_rpc, dispatched through a route table (bb_rpc_http.h). */
#include "bb_rpc_http.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_rpc.h"

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
