/* bdsrv_rpc.c — bundoc-server's internal RPC: the reference's ProxyDocument over the shared framing
 * (bb_rpc.h: u32 LE length, u64 LE id, u8 command|status, u32 LE payload length, payload).
 *
 * Command 1 (ProxyDocument), payload JSON:
 *   {"method": "GET", "project_id": "p1", "path": "/databases/(default)/documents/users?limit=5",
 *    "headers": {"Authorization": "Bearer …", "X-Bunbase-Identity": "admin"},   (optional)
 *    "body": "<standard base64, may be empty>"}                                 (optional)
 * The request becomes "/v1/projects/<project_id><path>" and goes through bb_http_dispatch_local:
 * the same route table, internal-token check, identity header, body limit and handlers as HTTP, so
 * the two transports cannot diverge. Unlike the reference, headers are carried (an RPC caller has
 * no more rights than the same HTTP request). Reply, status 0:
 *   {"status": <http status>, "headers": {"Content-Type": …}, "body": "<standard base64>"}
 * Status 1 with {"error": "…", "code": "…"}: unknown command, payload that is not a JSON object with the fields
 * above, invalid project id, worker pool full. Frames that cannot be decoded close the connection
 * (bb_rpc). Calls run on the worker pool; replies may complete out of order (ids match them). */
#include "bdsrv.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_id.h"
#include "bb_http.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_pool.h"
#include "bb_rpc.h"

#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "bundoc-server"
#define CMD_PROXY_DOCUMENT 1
#define MAX_HEADERS 64

/* Everything the worker needs, owned by the job (the call's payload is parsed and dropped on
 * the loop thread). */
struct rpc_job {
    struct bdsrv *s;
    struct bb_rpc_call *call;
    struct bb_http_local_request lr;
    char *method;
    char *url;
    struct bb_http_header hdrs[MAX_HEADERS];
    size_t nhdrs;
    unsigned char *body;
};

/* Status-1 reply {"error": msg, "code": code} (same shape as HTTP error bodies). */
static void reply_error(struct bb_rpc_call *call, const char *code, const char *msg)
{
    json_t *j = json_pack("{s:s,s:s}", "error", msg, "code", code);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    bb_rpc_call_reply(call, BB_RPC_STATUS_ERROR, s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    json_decref(j);
}

static void job_free(struct rpc_job *j)
{
    for (size_t i = 0; i < j->nhdrs; i++) {
        free(j->hdrs[i].name);
        free(j->hdrs[i].value);
    }
    free(j->method);
    free(j->url);
    free(j->body);
    free(j);
}

static void rpc_work(void *arg)
{
    struct rpc_job *j = arg;
    struct bdsrv *s = j->s;
    struct bb_router *router = bb_host_service_router(s->rt->host, "bundoc-server");
    struct bb_http_response *res = NULL;
    if (bb_http_dispatch_local(router, (size_t)s->k.max_request_bytes,
                               s->rt->internal_token, &j->lr, &res) != 0) {
        reply_error(j->call, "out_of_memory", "out of memory");
        return;
    }
    json_t *hdrs = json_object();
    for (size_t i = 0; i < res->nheaders; i++)
        json_object_set_new(hdrs, res->headers[i].name, json_string(res->headers[i].value));
    char *body = bb_base64_encode_alloc(res->body ? res->body : "", res->body_len);
    json_t *r = json_pack("{s:i,s:o,s:s}", "status", res->status, "headers", hdrs, "body",
                          body ? body : "");
    char *out = r ? json_dumps(r, JSON_COMPACT) : NULL;
    if (out) bb_rpc_call_reply(j->call, BB_RPC_STATUS_OK, out, strlen(out));
    else reply_error(j->call, "out_of_memory", "out of memory");
    free(out);
    free(body);
    json_decref(r);
    bb_http_response_free(res);
}

static void rpc_done(void *arg, int status)
{
    struct rpc_job *j = arg;
    (void)status;
    j->s->rpc_inflight--;
    job_free(j);
}

static void on_call(void *ctx, struct bb_rpc_call *call)
{
    struct bdsrv *s = ctx;
    uint8_t cmd = bb_rpc_call_command(call);
    if (cmd != CMD_PROXY_DOCUMENT) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown command %u", cmd);
        reply_error(call, "unknown_command", msg);
        return;
    }
    size_t len;
    const char *payload = bb_rpc_call_payload(call, &len);
    json_t *p = NULL;
    char perr[200], msg[300];
    const char *code = "invalid_payload";
    struct rpc_job *j = NULL;
    if (bb_json_parse(payload, len, 16, &p, perr, sizeof perr) != 0 || !json_is_object(p)) {
        snprintf(msg, sizeof msg, "invalid payload: %s", p ? "not an object" : perr);
        goto bad;
    }
    const char *method = json_string_value(json_object_get(p, "method"));
    const char *pid = json_string_value(json_object_get(p, "project_id"));
    const char *path = json_string_value(json_object_get(p, "path"));
    json_t *body = json_object_get(p, "body"), *headers = json_object_get(p, "headers");
    if (!method || !pid || !path || path[0] != '/' || (body && !json_is_string(body)) ||
        (headers && !json_is_object(headers))) {
        snprintf(msg, sizeof msg, "invalid payload: method, project_id and path (absolute) are "
                                  "required strings; body a base64 string; headers an object");
        goto bad;
    }
    if (!pid || !bb_project_id_valid(pid, strlen(pid))) {
        snprintf(msg, sizeof msg, "invalid project id");
        code = "invalid_argument";
        goto bad;
    }
    if (headers && json_object_size(headers) > MAX_HEADERS) {
        snprintf(msg, sizeof msg, "too many headers (max %d)", MAX_HEADERS);
        goto bad;
    }
    j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(msg, sizeof msg, "out of memory");
        goto bad;
    }
    j->s = s;
    j->call = call;
    size_t ulen = strlen("/v1/projects/") + strlen(pid) + strlen(path) + 1;
    j->url = malloc(ulen);
    if (!j->url) {
        snprintf(msg, sizeof msg, "out of memory");
        goto bad;
    }
    snprintf(j->url, ulen, "/v1/projects/%s%s", pid, path);
    size_t blen = 0;
    if (body && bb_base64_decode_alloc(json_string_value(body), json_string_length(body), &j->body, &blen) != 0) {
        snprintf(msg, sizeof msg, "invalid payload: body is not base64");
        goto bad;
    }
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v) {
        if (!json_is_string(v)) {
            snprintf(msg, sizeof msg, "invalid payload: header %.64s is not a string", k);
            goto bad;
        }
        struct bb_http_header *h = &j->hdrs[j->nhdrs++];
        h->name = strdup(k);
        h->value = strdup(json_string_value(v));
        if (!h->name || !h->value) {
            snprintf(msg, sizeof msg, "out of memory");
            goto bad;
        }
    }
    j->method = strdup(method);
    if (!j->method) {
        snprintf(msg, sizeof msg, "out of memory");
        goto bad;
    }
    j->lr.method = j->method;
    j->lr.url = j->url;
    j->lr.headers = j->hdrs;
    j->lr.nheaders = j->nhdrs;
    j->lr.body = j->body;
    j->lr.body_len = blen;
    json_decref(p);
    p = NULL;
    s->rpc_inflight++;
    if (bb_pool_submit(s->rt->pool, rpc_work, rpc_done, j) != 0) {
        s->rpc_inflight--;
        snprintf(msg, sizeof msg, "server busy: worker queue full, retry later");
        code = "overloaded";
        goto bad;
    }
    return;
bad:
    if (j) job_free(j);
    json_decref(p);
    reply_error(call, code, msg);
}

int bdsrv_rpc_start(struct bdsrv *s, char *err, size_t errcap)
{
    const char *addr = s->k.rpc_addr;
    if (!addr[0]) return 0;
    struct bb_rpc_server_opts o = {.max_frame = 0, .max_connections = 0};
    int rc = bb_rpc_server_start(&s->rpc, s->rt->loop, addr, &o, on_call, s);
    if (rc) {
        snprintf(err, errcap, "bundoc-server: cannot listen for RPC on %s: %s", addr,
                 bb_strerror(rc));
        return rc == BB_EBUSY ? BB_EBUSY : rc;
    }
    int port = bb_rpc_server_port(s->rpc);
    char bound[64];
    snprintf(bound, sizeof bound, "127.0.0.1:%d", port);
    bb_host_publish_addr(s->rt->host, "bundoc-server", "rpc", bound);
    bb_info(MOD, "rpc_listening port=%d", port);
    return 0;
}

static void on_rpc_stopped(void *ctx)
{
    (void)ctx;
}

void bdsrv_rpc_stop(struct bdsrv *s)
{
    if (s->rpc) bb_rpc_server_stop(s->rpc, on_rpc_stopped);
    s->rpc = NULL;
}
