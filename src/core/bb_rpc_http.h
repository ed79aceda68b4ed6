/* bb_rpc_http.h — an HTTP request carried in a bb_rpc call, answered by a route table through
 * bb_http_dispatch_local: a service's internal RPC is its HTTP routes (same identity resolution,
 * route masks, body limit and handlers), never a second implementation.
 *
 * The caller (the service's bb_rpc handler, on the loop thread) reads its own payload shape,
 * forms the URL and builds the request with bb_rpc_http_req_new; a pool worker then runs it with
 * bb_rpc_http_req_run, which replies to the call:
 *   status BB_RPC_STATUS_OK     {"status": <http status>, "headers": {name: value}, "body": "<std base64>"}
 *   status BB_RPC_STATUS_ERROR  {"error": "<message>", "code": "<code>"}   (bb_rpc_http_reply_error)
 * Ownership: the request owns copies of everything it was given; the call stays the caller's
 * until the reply (bb_rpc.h). Threads: _new and _reply_error on any thread; _run on a worker.
 */
#ifndef BB_RPC_HTTP_H
#define BB_RPC_HTTP_H

#include <stddef.h>

struct json_t;
struct bb_rpc_call;
struct bb_router;
struct bb_rpc_http_req;

/* Replies status 1 with {"error": msg, "code": code} (the shape of HTTP error bodies). */
void bb_rpc_http_reply_error(struct bb_rpc_call *call, const char *code, const char *msg);

/* A request for call: method and url copied; headers a JSON object of strings (NULL: none; more
 * than max_headers: BB_EINVAL); body a JSON string of standard base64 (NULL: empty). 0 with
 * *out, or BB_EINVAL with a one-line reason in msg ("invalid payload: …"), or BB_ENOMEM. */
int bb_rpc_http_req_new(struct bb_rpc_call *call, const char *method, const char *url,
                        const struct json_t *headers, const struct json_t *body,
                        size_t max_headers, struct bb_rpc_http_req **out, char *msg,
                        size_t msgcap);

/* Dispatches the request on router (bb_http_dispatch_local with max_body and the internal
 * token; blocks: a pool worker) and replies to its call (an error reply when router is NULL or
 * memory runs out). The request stays the caller's to free. */
void bb_rpc_http_req_run(struct bb_rpc_http_req *r, struct bb_router *router, size_t max_body,
                         const char *internal_token);

void bb_rpc_http_req_free(struct bb_rpc_http_req *r);

#endif
