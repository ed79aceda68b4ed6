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
#include "bb_rpc_http.h"

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

/* The request (bb_rpc_http.h: headers, body and the reply are core's) and who runs it. */
struct rpc_job {
    struct bdsrv *s;
    struct bb_rpc_http_req *req;
};

static void rpc_work(void *arg)
{
    struct rpc_job *j = arg;
    bb_rpc_http_req_run(j->req, bb_host_service_router(j->s->rt->host, "bundoc-server"),
                        (size_t)j->s->k.max_request_bytes, j->s->rt->internal_token);
}

static void rpc_done(void *arg, int status)
{
    struct rpc_job *j = arg;
    (void)status;
    j->s->rpc_inflight--;
    bb_rpc_http_req_free(j->req);
    free(j);
}

static void on_call(void *ctx, struct bb_rpc_call *call)
{
    struct bdsrv *s = ctx;
    uint8_t cmd = bb_rpc_call_command(call);
    if (cmd != CMD_PROXY_DOCUMENT) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown command %u", cmd);
        bb_rpc_http_reply_error(call, "unknown_command", msg);
        return;
    }
    size_t len;
    const char *payload = bb_rpc_call_payload(call, &len);
    json_t *p = NULL;
    char perr[200], msg[300];
    const char *code = "invalid_payload";
    struct rpc_job *j = NULL;
    char *url = NULL;
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
    size_t ulen = strlen("/v1/projects/") + strlen(pid) + strlen(path) + 1;
    url = malloc(ulen);
    j = calloc(1, sizeof *j);
    if (!url || !j) {
        snprintf(msg, sizeof msg, "out of memory");
        goto bad;
    }
    snprintf(url, ulen, "/v1/projects/%s%s", pid, path);
    j->s = s;
    if (bb_rpc_http_req_new(call, method, url, headers, body, MAX_HEADERS, &j->req, msg,
                            sizeof msg) != 0)
        goto bad;
    free(url);
    url = NULL;
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
    if (j) bb_rpc_http_req_free(j->req);
    free(j);
    free(url);
    json_decref(p);
    bb_rpc_http_reply_error(call, code, msg);
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
