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

/* ---- A service's RPC listener (the scaffold every service with an internal RPC shares).
 *
 * One command (opts.command, "Call"), payload JSON
 *   {"method": "GET", "path": "/v1/…", "headers": {name: value}, "body": "<standard base64>"}
 * (with opts.project_path also "project_id": the URL becomes "/v1/projects/<project_id><path>").
 * Each call is parsed on the loop thread, run on rt->pool through bb_rpc_http_req_run on the
 * router the host holds for opts.service (bb_host_service_router), and counted in flight until
 * done. Errors (status 1, bb_rpc_http_reply_error): unknown_command ("unknown command N"),
 * invalid_payload ("invalid payload: …": not a JSON object, missing/ill-typed fields, a path
 * outside opts.path_prefix, too many headers, a body that is not base64), invalid_argument (an
 * invalid project id), overloaded (pool queue full), out_of_memory. The bound address is
 * published with bb_host_publish_addr(service, "rpc", "127.0.0.1:<port>"). */
struct bb_runtime;
struct bb_rpc_http_listener;

struct bb_rpc_http_listen_opts {
    const char *service;     /* the host's service name: its router and its address file */
    const char *addr_knob;   /* named in the start error ("BUNBASE_X_RPC_ADDR: cannot listen…") */
    unsigned char command;   /* the one command accepted */
    const char *path_prefix; /* paths must start with it (NULL: any absolute path) */
    int project_path;        /* 1: payload has project_id, URL "/v1/projects/<id><path>" */
    size_t max_headers;      /* headers per call */
    size_t max_body;         /* the dispatch body limit (the routes' own limits apply too) */
    size_t max_frame;        /* bb_rpc frame limit (0: bb_rpc's default) */
};

/* Starts listening on addr. 0 with *out (bb_rpc_http_stop), or a BB_E* code with a one-line
 * reason in err. Loop thread. */
int bb_rpc_http_listen(struct bb_runtime *rt, const char *addr,
                       const struct bb_rpc_http_listen_opts *opts,
                       struct bb_rpc_http_listener **out, char *err, size_t errcap);

/* Calls queued or running on the pool (loop thread). */
int bb_rpc_http_inflight(const struct bb_rpc_http_listener *l);

/* Stops listening (NULL: no-op) and returns the calls still in flight; the listener frees itself
 * when the last of them is done (at once when none). The service must then keep its router's
 * state alive while the count is not 0 (services leave it to the process exit). Loop thread. */
int bb_rpc_http_stop(struct bb_rpc_http_listener *l);

#endif
