/* Router: literals, params, precedence, 405 + Allow, /api alias, fallback, malformed patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bb_err.h"
#include "bb_router.h"

static void h(struct bb_http_request *req, struct bb_http_response *res)
{
    (void)req, (void)res;
}

static const struct bb_route table[] = {
    {"GET", "/health", h, BB_AUTH_NONE, 0, 0, "health"},
    {"GET", "/v1/projects/{projectId}", h, BB_AUTH_NONE, 0, 0, NULL},
    {"DELETE", "/v1/projects/{projectId}", h, BB_AUTH_INTERNAL, 0, 0, NULL},
    {"GET", "/v1/projects/new", h, BB_AUTH_NONE, 0, 0, NULL},
    {"POST", "/v1/projects/{p}/docs/{c}/{id}", h, BB_AUTH_NONE, BB_ROUTE_POOL, 123, NULL},
    {"GET", "/", h, BB_AUTH_NONE, 0, 0, NULL},
};

static struct bb_router *mk(void)
{
    struct bb_router *r;
    assert_int_equal(bb_router_new(&r), 0);
    assert_int_equal(bb_router_add(r, table, sizeof table / sizeof table[0], (void *)0x1234), 0);
    return r;
}

static int match(struct bb_router *r, const char *m, const char *p, struct bb_route_match *out)
{
    return bb_router_match(r, m, p, strlen(p), out);
}

static void test_literal_and_params(void **state)
{
    (void)state;
    struct bb_router *r = mk();
    struct bb_route_match m;
    assert_int_equal(match(r, "GET", "/health", &m), 0);
    assert_ptr_equal(m.route, &table[0]);
    assert_ptr_equal(m.ctx, (void *)0x1234);
    assert_int_equal(match(r, "GET", "/v1/projects/abc", &m), 0);
    assert_ptr_equal(m.route, &table[1]);
    assert_int_equal(m.nparams, 1);
    assert_int_equal(m.params[0].name_len, strlen("projectId"));
    assert_memory_equal(m.params[0].value, "abc", 3);
    assert_int_equal(m.params[0].value_len, 3);
    assert_int_equal(match(r, "POST", "/v1/projects/p1/docs/users/u%2F1", &m), 0);
    assert_int_equal(m.nparams, 3);
    assert_memory_equal(m.params[2].value, "u%2F1", 5);
    assert_int_equal(m.route->max_body, 123);
    assert_int_equal(match(r, "GET", "/", &m), 0);
    assert_ptr_equal(m.route, &table[5]);
    bb_router_free(r);
}

static void test_literal_beats_param(void **state)
{
    (void)state;
    struct bb_router *r = mk();
    struct bb_route_match m;
    assert_int_equal(match(r, "GET", "/v1/projects/new", &m), 0);
    assert_ptr_equal(m.route, &table[3]);
    assert_int_equal(m.nparams, 0);
    bb_router_free(r);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    struct bb_router *r = mk();
    struct bb_route_match m;
    assert_int_equal(match(r, "GET", "/nope", &m), BB_ENOTFOUND);
    assert_int_equal(match(r, "GET", "/v1/projects", &m), BB_ENOTFOUND);
    assert_int_equal(match(r, "GET", "/v1/projects/a/b", &m), BB_ENOTFOUND);
    assert_int_equal(match(r, "GET", "relative", &m), BB_ENOTFOUND);
    assert_int_equal(match(r, "PUT", "/v1/projects/x", &m), BB_EMETHOD);
    assert_string_equal(m.allow, "GET, DELETE");
    assert_int_equal(match(r, "POST", "/health", &m), BB_EMETHOD);
    assert_string_equal(m.allow, "GET");
    /* HEAD is served by GET routes */
    assert_int_equal(match(r, "HEAD", "/health", &m), 0);
    bb_router_free(r);
}

/* The fallback (the platform's console files) answers only paths no route knows, for its method
 * (GET, and HEAD through it): never a declared route, never a 405 path, and it is not listed. */
static void test_fallback(void **state)
{
    (void)state;
    static const struct bb_route fb = {"GET", "/", h, BB_AUTH_NONE, BB_ROUTE_POOL, 0, "web"};
    struct bb_router *r = mk();
    struct bb_route_match m;
    bb_router_set_fallback(r, &fb, (void *)0x5678);
    assert_int_equal(match(r, "GET", "/nope/deeper/page", &m), 0);
    assert_ptr_equal(m.route, &fb);
    assert_ptr_equal(m.ctx, (void *)0x5678);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match(r, "HEAD", "/nope", &m), 0);
    assert_ptr_equal(m.route, &fb);
    assert_int_equal(match(r, "GET", "/v1/projects", &m), 0); /* unknown: the handler says 404 */
    /* declared routes win, whatever their precedence */
    assert_int_equal(match(r, "GET", "/health", &m), 0);
    assert_ptr_equal(m.route, &table[0]);
    assert_int_equal(match(r, "GET", "/", &m), 0);
    assert_ptr_equal(m.route, &table[5]);
    assert_int_equal(match(r, "GET", "/v1/projects/x", &m), 0);
    assert_ptr_equal(m.route, &table[1]);
    /* a known path with another method stays 405; other methods on unknown paths stay 404 */
    assert_int_equal(match(r, "PUT", "/v1/projects/x", &m), BB_EMETHOD);
    assert_string_equal(m.allow, "GET, DELETE");
    assert_int_equal(match(r, "POST", "/nope", &m), BB_ENOTFOUND);
    for (size_t i = 0; bb_router_route(r, i); i++)
        assert_ptr_not_equal(bb_router_route(r, i), &fb);
    bb_router_set_fallback(r, NULL, NULL);
    assert_int_equal(match(r, "GET", "/nope", &m), BB_ENOTFOUND);
    bb_router_free(r);
}

static void test_api_alias(void **state)
{
    (void)state;
    struct bb_router *r = mk();
    struct bb_route_match m;
    assert_int_equal(match(r, "GET", "/api/projects/abc", &m), 0);
    assert_ptr_equal(m.route, &table[1]);
    assert_memory_equal(m.params[0].value, "abc", 3);
    assert_int_equal(match(r, "DELETE", "/api/projects/abc", &m), 0);
    assert_ptr_equal(m.route, &table[2]);
    /* /api is only an alias of /v1, not of unversioned paths */
    assert_int_equal(match(r, "GET", "/api/health", &m), BB_ENOTFOUND);
    bb_router_free(r);
}

static void test_trailing_slash_and_empty_param(void **state)
{
    (void)state;
    struct bb_router *r = mk();
    struct bb_route_match m;
    assert_int_equal(match(r, "GET", "/health/", &m), 0);
    /* an empty segment never matches a parameter */
    assert_int_equal(match(r, "POST", "/v1/projects//docs/c/i", &m), BB_ENOTFOUND);
    bb_router_free(r);
}

static void test_bad_patterns(void **state)
{
    (void)state;
    struct bb_router *r;
    assert_int_equal(bb_router_new(&r), 0);
    static const struct bb_route bad1[] = {{"GET", "nope", h, 0, 0, 0, NULL}};
    static const struct bb_route bad2[] = {{"GET", "/a/{x", h, 0, 0, 0, NULL}};
    static const struct bb_route bad3[] = {{"GET", "/a/{}", h, 0, 0, 0, NULL}};
    static const struct bb_route bad4[] = {{"GET", "/a/b{x}", h, 0, 0, 0, NULL}};
    static const struct bb_route bad5[] = {
        {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", h, 0, 0, 0, NULL}};
    assert_int_equal(bb_router_add(r, bad1, 1, NULL), BB_EINVAL);
    assert_int_equal(bb_router_add(r, bad2, 1, NULL), BB_EINVAL);
    assert_int_equal(bb_router_add(r, bad3, 1, NULL), BB_EINVAL);
    assert_int_equal(bb_router_add(r, bad4, 1, NULL), BB_EINVAL);
    assert_int_equal(bb_router_add(r, bad5, 1, NULL), BB_EINVAL);
    bb_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_params),
        cmocka_unit_test(test_literal_beats_param),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_api_alias),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_trailing_slash_and_empty_param),
        cmocka_unit_test(test_bad_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
