/* bb_http.h — HTTP/1.1 server on libuv and http_parser (Debian's libhttp-parser).
 *
 * Flow: the loop thread accepts a connection, feeds bytes to http_parser, and when the headers are
 * complete matches the route (bb_router), resolves the request's identity (bb_identity.h) and
 * checks it against the route — 401/403 are answered there, before any body byte is read — and
 * reserves the body against the process-wide in-flight budget (503); `Expect: 100-continue` is
 * answered with 100 only after all of that passed. The route's body limit applies while the body
 * streams in; a body for no route is discarded, not kept. When the message is complete the
 * handler runs inline (loop thread) or on the worker pool (BB_ROUTE_POOL; requests of a route
 * with a {projectId} parameter are queued per project and served round-robin, so one project
 * cannot starve the others); the filled response is written back on the loop thread. One request
 * per connection is processed at a time, so pipelined requests are answered in order.
 *
 * Strictness (RFC 9112): fields of a chunked trailer are never merged into the request headers;
 * obsolete line folding and whitespace between a field name and its colon are 400.
 *
 * Limits (struct bb_http_limits, all configurable): header bytes (431), body bytes (413, also for
 * chunked bodies), request time from the first byte to a complete request (408 then close), idle
 * time of a keep-alive connection (silent close), connection count (new ones closed; also capped
 * by the process's file descriptor budget, bb_http_set_fd_budget), connections per client IP,
 * in-flight body bytes of the whole process (503). Refused connections are logged. Every error
 * answer is JSON {"error","code"}. Malformed requests get 400 and close.
 *
 * Every response carries X-Request-Id: the request's own if it sent a sane one, else a new id.
 *
 * Drain (SIGTERM): bb_http_server_drain stops accepting, closes idle connections, lets in-flight
 * requests finish (answered with Connection: close), ends SSE streams, and calls done when no
 * connection is left or after limits.drain_timeout_ms (then it closes what is left).
 */
#ifndef BB_HTTP_H
#define BB_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bb_identity.h"
#include "bb_router.h"

struct bb_pool;
struct bb_metrics;
struct bb_sse;

struct bb_http_limits {
    size_t max_header_bytes;     /* request line + headers; 431 */
    size_t max_body_bytes;       /* default per-route body limit; 413 */
    uint64_t idle_timeout_ms;    /* keep-alive idle close */
    uint64_t request_timeout_ms; /* first byte to complete request; 408 */
    uint64_t drain_timeout_ms;   /* graceful drain bound */
    size_t max_connections;
    uint64_t sse_heartbeat_ms;   /* comment line on idle SSE streams */
    size_t sse_max_queue_bytes;  /* unsent bytes per SSE stream before it is closed as slow */
    /* Request body bytes held in memory by every listener of the process together (bodies being
     * received or handled); a request that would go over it gets 503 and a close. 0: no limit. */
    size_t max_inflight_body_bytes;
    /* Connections from one IP address to this listener; more are closed on accept. 0: no limit.
     * Meant for public listeners (the gateway). */
    size_t max_connections_per_ip;
};

/* Defaults: 16 KiB headers, 1 MiB body, 60 s idle, 30 s request, 10 s drain, 10000 connections,
 * 15 s heartbeat, 4 MiB SSE queue, 256 MiB of in-flight bodies, no per-IP limit. */
void bb_http_limits_default(struct bb_http_limits *l);

struct bb_http_header {
    char *name;
    char *value;
};

struct bb_http_request {
    const char *method; /* static string */
    char *url;          /* raw request target */
    char *path;         /* url up to '?' (still percent-encoded) */
    char *query;        /* after '?', or NULL */
    struct bb_http_header *headers;
    size_t nheaders;
    char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    char request_id[64];
    const struct bb_route *route;
    void *ctx; /* the route table's ctx */
    struct bb_route_match match;
    char *decoded_params[BB_ROUTE_MAX_PARAMS]; /* lazily decoded by bb_http_param; owned */
    uint64_t start_ns;
    void *user; /* free for the handler's use; never touched by the server */
    /* Who sent it: resolved when the headers were complete and already checked against the
     * route's accepted kinds (bb_identity.h). Owned by the request. */
    struct bb_identity identity;
    struct bb_http_conn *conn; /* private */
    size_t body_reserved_;     /* private: bytes counted against max_inflight_body_bytes */
    /* 1 while a BB_ROUTE_LOOP_FIRST handler runs on the loop thread: it must not block; it answers
     * or calls bb_http_defer (then it runs again on a worker with on_loop 0) */
    int on_loop;
};

struct bb_http_response {
    int status;
    struct bb_http_header *headers;
    size_t nheaders, cap;
    char *body; /* owned (free()) */
    size_t body_len;
    struct bb_sse *sse; /* set by bb_sse_start: the response becomes a stream */
    int deferred;       /* set by bb_http_defer */
};

/* Request accessors. All returned strings are borrowed and valid until the response is sent. */
const char *bb_http_header(const struct bb_http_request *req, const char *name);
/* The value of cookie `name` of the Cookie header (surrounding quotes removed), copied into buf;
 * NULL when absent, empty or not shorter than cap. */
const char *bb_http_cookie(const struct bb_http_request *req, const char *name, char *buf,
                           size_t cap);
/* Path parameter by name, percent-decoded into a request-owned string; NULL if absent. */
const char *bb_http_param(struct bb_http_request *req, const char *name);
/* Query parameter by name, percent-decoded ('+' is a space) into buf; NULL if absent or longer than
 * cap - 1. */
const char *bb_http_query(const struct bb_http_request *req, const char *name, char *buf,
                          size_t cap);

/* The client's IP address (text, taken at accept) of a request received over HTTP, into buf;
 * BB_ENOTFOUND (buf "") for in-process requests. Any thread while the request is alive. */
int bb_http_client_ip(const struct bb_http_request *req, char *buf, size_t cap);
/* Response builders (handler side). Each replaces any previous body. They return 0 or BB_ENOMEM;
 * on BB_ENOMEM the server answers 503. */
int bb_http_set_header(struct bb_http_response *res, const char *name, const char *value);
/* Adds one more header line even when name is already set (repeated fields such as Set-Cookie,
 * relayed as they came); BB_EINVAL for a name or value that cannot be sent. */
int bb_http_add_header(struct bb_http_response *res, const char *name, const char *value);
/* Takes ownership of body (free()). */
int bb_http_reply(struct bb_http_response *res, int status, const char *content_type, char *body,
                  size_t len);
int bb_http_reply_copy(struct bb_http_response *res, int status, const char *content_type,
                       const void *body, size_t len);
/* From a BB_ROUTE_LOOP_FIRST handler running on the loop thread (req->on_loop): do not answer
 * here, run the handler again on the worker pool. The handler must not have touched res (nor left
 * anything on req) before; it returns right after. */
void bb_http_defer(struct bb_http_response *res);
/* Serializes j (borrowed) compactly as application/json. */
struct json_t;
int bb_http_reply_json(struct bb_http_response *res, int status, const struct json_t *j);
/* {"error": message, "code": code}; message NULL → bb_strerror(err); status from bb_err_status. */
int bb_http_reply_error(struct bb_http_response *res, int err, const char *message);
/* Same with an explicit status and code. */
int bb_http_reply_error_status(struct bb_http_response *res, int status, const char *code,
                               const char *message);

struct bb_http_server_opts {
    struct bb_http_limits limits;
    struct bb_router *router;      /* borrowed */
    struct bb_pool *pool;          /* borrowed; needed for BB_ROUTE_POOL routes */
    struct bb_metrics *metrics;    /* borrowed; may be NULL */
    const char *internal_token;    /* borrowed; BB_AUTH_INTERNAL routes need it */
    const char *name;              /* service name for logs */
};

struct bb_http_server;

/* Binds host:port (port 0: a free one) and starts accepting. opts is copied; what it points to is
 * borrowed. On failure returns BB_EBUSY (address in use), BB_EINVAL (bad address) or BB_EIO and
 * writes a one-line reason into err. */
int bb_http_server_start(uv_loop_t *loop, const char *host, int port,
                         const struct bb_http_server_opts *opts, struct bb_http_server **out,
                         char *err, size_t errcap);
int bb_http_server_port(const struct bb_http_server *s);
/* File descriptors the process may spend on HTTP connections (all listeners together); each
 * listener gets at most half of it, so one flooded listener leaves room for the others. Set once at
 * start-up (bunbased: the soft RLIMIT_NOFILE minus headroom), before servers start; 0: no budget. */
void bb_http_set_fd_budget(size_t fds);
/* The max_connections a listener with `configured` really gets under the budget. */
size_t bb_http_effective_max_connections(size_t configured);
size_t bb_http_server_connections(const struct bb_http_server *s);
/* See the header comment. done(arg) runs once on the loop thread. */
void bb_http_server_drain(struct bb_http_server *s, void (*done)(void *arg), void *arg);
/* Closes everything at once (if not drained) and frees the server once its handles are closed
 * (run the loop afterwards). */
void bb_http_server_free(struct bb_http_server *s);

/* In-process dispatch through the same route table, identity resolution (the internal resolver
 * with internal_token, then the router's resolvers) and body limit as the server, for transports
 * that are not HTTP (the internal RPC): `headers` (nheaders name/value pairs, borrowed) carry
 * Authorization and X-Bunbase-Identity exactly as over HTTP, so both paths cannot diverge. Blocking:
 * the handler runs in the calling thread, so call it from a worker thread (on the loop thread:
 * bb_http_dispatch_local_on_loop below). Stream routes are
 * refused with 400. Always fills *out with a response (an error answer when the request is
 * refused); free it with bb_http_response_free. Returns 0, or BB_ENOMEM (then *out is NULL). */
struct bb_http_local_request {
    const char *method; /* "GET", ... */
    const char *url;    /* "/v1/...?query" */
    const struct bb_http_header *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
};
int bb_http_dispatch_local(struct bb_router *router, size_t max_body_bytes,
                           const char *internal_token, const struct bb_http_local_request *in,
                           struct bb_http_response **out);
/* The same from a BB_ROUTE_LOOP_FIRST handler running on the loop thread (req->on_loop), for a
 * front that hands its request to another router (the gateway): the target's handler runs only
 * when its route is BB_ROUTE_LOOP_FIRST too, with on_loop set; when it is not, or when the handler
 * calls bb_http_defer, *out comes back with deferred set and nothing else, and the caller defers
 * in turn (the whole request then runs again on the pool, which calls bb_http_dispatch_local).
 * Answers decided before any handler (404, 405, 401/403, 413) are given as on the pool. */
int bb_http_dispatch_local_on_loop(struct bb_router *router, size_t max_body_bytes,
                                   const char *internal_token,
                                   const struct bb_http_local_request *in,
                                   struct bb_http_response **out);
void bb_http_response_free(struct bb_http_response *res);

/* Resolves the identity a request carrying only these headers would get on router (the internal
 * resolver with internal_token, then the router's resolvers): for credentials that arrive outside
 * HTTP, e.g. a Redis AUTH checked against the platform's project keys, so they are resolved from
 * the same tables as every request. Never blocks (resolvers must not). 0 with *out (anonymous when
 * no resolver claims the headers; bb_identity_release it), BB_EAUTH (a resolver refused them),
 * BB_ENOMEM. */
int bb_http_resolve_identity(const struct bb_router *router, const char *internal_token,
                             const struct bb_http_header *headers, size_t nheaders,
                             struct bb_identity *out);

/* Hands the request being handled to a route of another router, on the same connection: for a
 * handler of a stream route that is a front for another service's stream route (the gateway's
 * subscriptions, where bb_http_dispatch_local cannot serve: it has no connection to stream on).
 * Rewrites req's target to url ("/v1/...?query"; headers and body are kept), matches it on router
 * (404/405), gives the request the identity *as (moved out of *as, which is left anonymous; the
 * caller has authorized it: the target router's resolvers and authorizer are not run) — 403 when
 * the target route does not accept its kind — and runs the target's handler with req and res, in
 * the calling thread, so it may bb_sse_start. Returns 0 once the handler ran; else BB_EINVAL,
 * BB_ENOTFOUND, BB_EMETHOD, BB_EPERM or BB_ENOMEM with an error answer in res (and *as released).
 * Call only from the handler that owns req. */
int bb_http_redispatch(struct bb_http_request *req, struct bb_http_response *res,
                       struct bb_router *router, const char *url, struct bb_identity *as);

/* One-time parse of an HTTP request held in buf through the same parser callbacks and router the
 * server uses, without sockets. For fuzzing and unit tests: returns the status the server would
 * answer with for that input (200 when it would dispatch to a handler). */
int bb_http_parse_for_test(const char *buf, size_t len, const struct bb_http_limits *limits,
                           struct bb_router *router);

#endif
