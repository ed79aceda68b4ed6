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
#include "bb_err.h"
#include "bb_rpc_http.h"

#include <stddef.h>

#define CMD_PROXY_DOCUMENT 1
#define MAX_HEADERS 64

int bdsrv_rpc_start(struct bdsrv *s, char *err, size_t errcap)
{
    if (!s->k.rpc_addr[0]) return 0;
    struct bb_rpc_http_listen_opts o = {.service = "bundoc-server",
                                        .addr_knob = "BUNBASE_BUNDOC_SERVER_RPC_ADDR",
                                        .command = CMD_PROXY_DOCUMENT,
                                        .project_path = 1,
                                        .max_headers = MAX_HEADERS,
                                        .max_body = (size_t)s->k.max_request_bytes};
    int rc = bb_rpc_http_listen(s->rt, s->k.rpc_addr, &o, &s->rpc, err, errcap);
    return rc == BB_EBUSY ? BB_EBUSY : rc;
}

int bdsrv_rpc_stop(struct bdsrv *s)
{
    int n = bb_rpc_http_stop(s->rpc);
    s->rpc = NULL;
    return n;
}
