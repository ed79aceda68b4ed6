/* bb_identity.h — who is making a request, resolved once by the dispatcher.
 *
 * Every request gets exactly one identity, resolved when its headers are complete — before a byte
 * of its body is read — by the resolvers of the router it was matched on, tried in order:
 *
 *   1. the built-in internal resolver (when the server has an internal token):
 *        Authorization: Bearer <internal token>   (constant-time compare), then
 *        X-Bunbase-Identity absent or ""          → BB_IDENTITY_INTERNAL_SERVICE
 *        X-Bunbase-Identity: admin                → BB_IDENTITY_INTERNAL_ADMIN
 *        X-Bunbase-Identity: anonymous            → BB_IDENTITY_INTERNAL_END_USER, uid NULL
 *                                                    (an end user without auth: auth == null)
 *        X-Bunbase-Identity: {"uid":"…","claims":{…}}
 *                                                 → BB_IDENTITY_INTERNAL_END_USER, uid + claims
 *                                                    (claims {} when absent; must be an object)
 *        any other X-Bunbase-Identity value       → 401 (whatever the route)
 *        X-Bunbase-Identity without a valid token → 401 (whatever the route)
 *        a bearer that is not the internal token  → not this resolver's: the next one is asked
 *   2. resolvers added with bb_router_add_resolver, in the order they were added.
 *   No resolver claims the request → BB_IDENTITY_ANONYMOUS.
 *
 * Routes declare the identity kinds they accept in struct bb_route.auth (a mask of
 * enum bb_identity_kind; 0 = public, every kind). The dispatcher enforces it in one place:
 * 401 when the identity is anonymous (no or invalid credential), 403 when it is another kind the
 * route does not accept. Handlers read the result from req->identity (never from the headers):
 *
 *     const struct bb_identity *id = &req->identity;
 *     if (id->kind == BB_IDENTITY_INTERNAL_ADMIN) …           // rules bypassed
 *     else if (id->kind == BB_IDENTITY_INTERNAL_END_USER)
 *         auth = id->uid ? build({uid, claims}) : NULL;         // NULL: "anonymous" end user
 *
 * The same resolution runs for bb_http_dispatch_local (the internal RPC), so both transports
 * agree. Threading: resolvers run on the loop thread (HTTP) or the caller's thread (local
 * dispatch); they must not block and must be safe to call concurrently.
 */
#ifndef BB_IDENTITY_H
#define BB_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

struct json_t;
struct bb_http_request;

/* Bits, so that a route's accepted kinds are a mask. */
enum bb_identity_kind {
    BB_IDENTITY_ANONYMOUS = 1 << 0,         /* no credential (or none that a resolver accepted) */
    BB_IDENTITY_INTERNAL_SERVICE = 1 << 1,  /* internal token, no X-Bunbase-Identity */
    BB_IDENTITY_INTERNAL_ADMIN = 1 << 2,    /* internal token + X-Bunbase-Identity: admin */
    BB_IDENTITY_INTERNAL_END_USER = 1 << 3, /* internal token + an end user (or "anonymous") */
    /* Reserved for resolvers to come (no resolver produces them yet). */
    BB_IDENTITY_DEVELOPER_SESSION = 1 << 4,
    BB_IDENTITY_PAT = 1 << 5,
    BB_IDENTITY_PROJECT_KEY_PUBLIC = 1 << 6, /* pk_… */
    BB_IDENTITY_PROJECT_KEY_SECRET = 1 << 7, /* sk_… */
    BB_IDENTITY_END_USER_JWT = 1 << 8,
    BB_IDENTITY_PROJECT_TOKEN = 1 << 9, /* bbf_…: a function's short-lived project admin token
                                           (bun_auth.h); the platform's resolver */
};

/* Every kind the internal token yields. */
#define BB_IDENTITY_INTERNAL_ANY                                                                   \
    (BB_IDENTITY_INTERNAL_SERVICE | BB_IDENTITY_INTERNAL_ADMIN | BB_IDENTITY_INTERNAL_END_USER)

#define BB_IDENTITY_MAX_PROJECT_ID 72

struct bb_identity {
    enum bb_identity_kind kind;
    char project_id[BB_IDENTITY_MAX_PROJECT_ID]; /* "" when not bound to one project */
    char *uid;                 /* owned; NULL when the identity has no user */
    struct json_t *claims;     /* owned reference; NULL when none */
    uint64_t scopes;           /* reserved for PATs and keys; 0 today */
    const char *resolver;      /* static name of the resolver that produced it ("internal") */
};

/* Frees what id holds and resets it to anonymous. */
void bb_identity_release(struct bb_identity *id);

/* Static name of a kind ("anonymous", "internal-admin", …). */
const char *bb_identity_kind_name(enum bb_identity_kind kind);

/* Why a credential was refused: a machine code for the JSON error's "code" (e.g.
 * "token_expired"; NULL: "unauthenticated") and a human reason (NULL: "invalid credential").
 * Both static strings. */
struct bb_identity_reject {
    const char *code;
    const char *msg;
};

/* A resolver looks at the request's headers (req->body is not read yet: never use it) and
 * returns:
 *   0                  the credential is its own and valid: *out is filled (out starts zeroed)
 *   BB_ENOTFOUND       not its credential: the next resolver is asked
 *   BB_EAUTH           its credential, but invalid: the request is answered 401 at once with
 *                      *why (zeroed on entry) as code and message
 *   BB_ENOMEM          answered 503
 * It must leave *out empty unless it returns 0. */
typedef int (*bb_identity_resolve_fn)(void *arg, const struct bb_http_request *req,
                                      struct bb_identity *out, struct bb_identity_reject *why);

struct bb_identity_resolver {
    const char *name;
    bb_identity_resolve_fn resolve;
    void *arg;
};

#endif
