/* The router's authorizer hook (bb_router_set_authorizer) as the dispatcher applies it: called
 * after the identity is resolved and accepted by the route's mask, before the handler; its status
 * is the answer. Exercised through bb_http_dispatch_local, which shares the HTTP server's path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_http.h"
#include "bb_router.h"

static int handler_calls, authorizer_calls;

static void h(struct bb_http_request *req, struct bb_http_response *res)
{
    (void)req;
    handler_calls++;
    bb_http_reply_copy(res, 200, "text/plain", "ok", 2);
}

static const struct bb_route table[] = {
    {"GET", "/v1/projects/{projectId}", h, BB_AUTH_NONE, 0, 0, NULL},
    {"GET", "/v1/internal", h, BB_AUTH_INTERNAL, 0, 0, NULL},
};

static int authz(void *arg, const struct bb_http_request *req, const char **code, const char **msg)
{
    authorizer_calls++;
    assert_ptr_equal(arg, (void *)0x42);
    assert_non_null(req->route);
    const char *pid = NULL;
    size_t n = 0;
    for (size_t i = 0; i < req->match.nparams; i++)
        if (req->match.params[i].name_len == 9) {
            pid = req->match.params[i].value;
            n = req->match.params[i].value_len;
        }
    if (pid && n == 6 && !memcmp(pid, "hidden", 6)) {
        *code = "project_not_found", *msg = "no such project";
        return 404;
    }
    if (pid && n == 6 && !memcmp(pid, "denied", 6)) {
        *code = "forbidden", *msg = "no";
        return 403;
    }
    return 0;
}

static int call(struct bb_router *r, const char *url, const char *auth)
{
    struct bb_http_header hd[1] = {{(char *)"Authorization", (char *)auth}};
    struct bb_http_local_request in = {"GET", url, hd, auth ? 1 : 0, NULL, 0};
    struct bb_http_response *res = NULL;
    assert_int_equal(
        bb_http_dispatch_local(r, 1024, "tok-0123456789abcdef0123456789abcdef", &in, &res), 0);
    int st = res->status;
    bb_http_response_free(res);
    return st;
}

static void test_hook(void **st)
{
    (void)st;
    struct bb_router *r;
    assert_int_equal(bb_router_new(&r), 0);
    assert_int_equal(bb_router_add(r, table, 2, NULL), 0);
    assert_int_equal(call(r, "/v1/projects/open", NULL), 200); /* no authorizer yet */
    bb_router_set_authorizer(r, authz, (void *)0x42);
    void *arg = NULL;
    assert_ptr_equal(bb_router_authorizer(r, &arg), authz);
    assert_ptr_equal(arg, (void *)0x42);
    handler_calls = authorizer_calls = 0;
    assert_int_equal(call(r, "/v1/projects/open", NULL), 200);
    assert_int_equal(call(r, "/v1/projects/hidden", NULL), 404);
    assert_int_equal(call(r, "/api/projects/denied", NULL), 403); /* the alias too */
    assert_int_equal(handler_calls, 1);
    assert_int_equal(authorizer_calls, 3);
    /* the route's mask answers first: the authorizer is not asked for a refused identity */
    assert_int_equal(call(r, "/v1/internal", NULL), 401);
    assert_int_equal(authorizer_calls, 3);
    assert_int_equal(call(r, "/v1/internal", "Bearer tok-0123456789abcdef0123456789abcdef"), 200);
    assert_int_equal(authorizer_calls, 4);
    bb_router_set_authorizer(r, NULL, NULL);
    assert_int_equal(call(r, "/v1/projects/hidden", NULL), 200);
    bb_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hook)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
