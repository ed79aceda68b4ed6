/* bb_router.h — routes declared in tables, matched by path segments.
 *
 * A service declares a static table of struct bb_route and adds it with bb_router_add. Patterns are
 * absolute paths whose segments are literals or parameters in braces: "/v1/projects/{projectId}".
 * When several routes match a path, the one with more literal segments wins (so "/v1/a/new" beats
 * "/v1/a/{id}"). "/api/..." is an alias of "/v1/...": the router matches it against the same table,
 * so no route is ever declared twice. HEAD matches GET routes.
 *
 * bb_router_match returns 0 with the route, BB_ENOTFOUND when no pattern matches the path, or
 * BB_EMETHOD when the path is known but not for that method; then m->allow lists the methods
 * ("GET, POST") for the Allow header. The dispatcher (bb_http) applies the route's auth kind, body
 * identity check, body limit and execution flags in one place; handlers never repeat those checks.
 */
#ifndef BB_ROUTER_H
#define BB_ROUTER_H

#include <stddef.h>

#include "bb_identity.h"

struct bb_http_request;
struct bb_http_response;

typedef void (*bb_http_handler)(struct bb_http_request *req, struct bb_http_response *res);

/* What a route accepts: a mask of enum bb_identity_kind (bb_identity.h). 0 is public: every
 * identity, anonymous included. The dispatcher checks it when the headers are complete, before the
 * body is read: anonymous → 401, another kind not in the mask → 403. */
enum bb_auth_kind {
    BB_AUTH_NONE = 0,                            /* public */
    BB_AUTH_INTERNAL = BB_IDENTITY_INTERNAL_ANY, /* Authorization: Bearer $BUNBASE_INTERNAL_TOKEN */
    BB_AUTH_INTERNAL_ADMIN = BB_IDENTITY_INTERNAL_ADMIN, /* … + X-Bunbase-Identity: admin */
};

enum bb_route_flags {
    BB_ROUTE_POOL = 1 << 0,   /* handler may block: runs on the worker pool */
    BB_ROUTE_STREAM = 1 << 1, /* long-lived response (SSE); runs on the loop thread */
    /* a publishable key may come as ?key=pk_… (a browser navigation, like EventSource for
     * streams, cannot send headers); the platform's resolver honours it for these and streams */
    BB_ROUTE_QUERY_KEY = 1 << 2,
    /* with BB_ROUTE_POOL: the handler first runs on the loop thread (req->on_loop = 1) and either
     * answers there (a read that cannot block) or calls bb_http_defer, and then runs again on the
     * worker pool as any BB_ROUTE_POOL route (bb_http.h) */
    BB_ROUTE_LOOP_FIRST = 1 << 3,
};

struct bb_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/things/{id}" */
    bb_http_handler handler;
    unsigned auth;     /* accepted identity kinds: BB_AUTH_* or a mask of BB_IDENTITY_* */
    unsigned flags;    /* enum bb_route_flags */
    size_t max_body;   /* 0: the server's limit */
    const char *name;  /* metrics label; NULL: the pattern */
};

#define BB_ROUTE_MAX_PARAMS 8
#define BB_ROUTE_MAX_SEGMENTS 32

struct bb_route_param {
    const char *name; /* borrowed from the pattern (not NUL-terminated at name_len) */
    size_t name_len;
    const char *value; /* borrowed from the matched path, still percent-encoded */
    size_t value_len;
};

struct bb_route_match {
    const struct bb_route *route;
    void *ctx; /* the ctx given to bb_router_add with the route's table */
    size_t nparams;
    struct bb_route_param params[BB_ROUTE_MAX_PARAMS];
    char allow[128]; /* set on BB_EMETHOD */
};

struct bb_router;

int bb_router_new(struct bb_router **out);
void bb_router_free(struct bb_router *r);
/* Adds n routes. The table and ctx are borrowed and must outlive the router. A pattern that is
 * malformed (not starting with '/', unbalanced braces, too many params) gives BB_EINVAL. */
int bb_router_add(struct bb_router *r, const struct bb_route *table, size_t n, void *ctx);
/* The route for a path that no table knows under any method (a path known with another method
 * stays 405): with its method (GET also answers HEAD). Never listed by bb_router_route; NULL
 * removes it. The platform serves the console's files with it (platform_web.c), so it can never
 * shadow a declared route. route and ctx are borrowed. */
void bb_router_set_fallback(struct bb_router *r, const struct bb_route *route, void *ctx);
/* Appends an identity resolver (copied; arg borrowed) to the router's table, tried after the
 * built-in internal one, in the order added; see bb_identity.h. At most BB_ROUTER_MAX_RESOLVERS:
 * then BB_ELIMIT. Call before serving. */
#define BB_ROUTER_MAX_RESOLVERS 8
int bb_router_add_resolver(struct bb_router *r, const struct bb_identity_resolver *res);
/* The added resolvers (borrowed) and their count. */
const struct bb_identity_resolver *bb_router_resolvers(const struct bb_router *r, size_t *n);
/* The router's authorizer (optional, at most one): called by the dispatcher for every matched
 * route once the identity is resolved and accepted by the route's mask, before the body is read
 * (loop thread for HTTP, the caller's thread for bb_http_dispatch_local). It sees req->route,
 * req->match (path parameters) and req->identity and must not block. Returns 0 to let the request
 * through, or the HTTP status to answer (401/403/404/503) with *code and *msg (static strings).
 * The platform uses it to apply its authorization matrix (src/platform/platform_authz.c). */
typedef int (*bb_router_authorize_fn)(void *arg, const struct bb_http_request *req,
                                      const char **code, const char **msg);
void bb_router_set_authorizer(struct bb_router *r, bb_router_authorize_fn fn, void *arg);
bb_router_authorize_fn bb_router_authorizer(const struct bb_router *r, void **arg);
/* The routes added, in order (the i-th, or NULL past the end): for generated tests and listings. */
const struct bb_route *bb_router_route(const struct bb_router *r, size_t i);

/* path is the URL path without query (borrowed; m's params point into it). */
int bb_router_match(const struct bb_router *r, const char *method, const char *path, size_t len,
                    struct bb_route_match *m);

#endif
