/* platform: the route table's matrix rows, the matrix, PAT scopes and the rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bb_err.h"
#include "platform_internal.h"

static void h(struct bb_http_request *req, struct bb_http_response *res)
{
    (void)req, (void)res;
}

static void test_route_table_has_rows(void **st)
{
    (void)st;
    char err[200] = "";
    assert_int_equal(platform_routes_check(plat_routes, plat_nroutes, err, sizeof err), 0);
    assert_true(plat_nroutes >= 25);
    for (size_t i = 0; i < plat_nroutes; i++)
        assert_int_not_equal(plat_routes[i].res, RES_NONE);
}

static void test_route_without_row_refused(void **st)
{
    (void)st;
    char err[200] = "";
    const struct plat_route none[] = {
        {"GET", "/v1/new/thing", h, BB_IDENTITY_PAT, 0, 0, RES_NONE, 0}};
    assert_int_equal(platform_routes_check(none, 1, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "no authorization matrix row"));
    const struct plat_route noid[] = {
        {"GET", "/v1/things", h, BB_IDENTITY_PAT, 0, 0, RES_DATABASE, ACT_READ}};
    assert_int_equal(platform_routes_check(noid, 1, err, sizeof err), BB_EINVAL);
    const struct plat_route keyonly[] = {
        {"GET", "/v1/things", h, BB_IDENTITY_PROJECT_KEY_PUBLIC | BB_IDENTITY_PROJECT_KEY_SECRET, 0,
         0, RES_DATABASE, ACT_READ}};
    assert_int_equal(platform_routes_check(keyonly, 1, err, sizeof err), 0);
    const struct plat_route open[] = {
        {"GET", "/v1/projects/{projectId}/x", h, 0, 0, 0, RES_DATABASE, ACT_READ}};
    assert_int_equal(platform_routes_check(open, 1, err, sizeof err), BB_EINVAL);
    const struct plat_route pub_masked[] = {
        {"GET", "/v1/x", h, BB_IDENTITY_PAT, 0, 0, RES_PUBLIC, ACT_READ}};
    assert_int_equal(platform_routes_check(pub_masked, 1, err, sizeof err), BB_EINVAL);
    const struct plat_route ok[] = {
        {"GET", "/v1/projects/{projectId}/x", h, BB_IDENTITY_PAT, 0, 0, RES_DATABASE, ACT_READ}};
    assert_int_equal(platform_routes_check(ok, 1, err, sizeof err), 0);
}

static void test_matrix_invariants(void **st)
{
    (void)st;
    for (int r = RES_PROJECT; r < RES_COUNT_; r++) {
        assert_true(plat_matrix_allows(PR_OWNER, r, ACT_READ));
        assert_false(plat_matrix_allows(PR_VIEWER, r, ACT_WRITE));
        assert_false(plat_matrix_allows(PR_VIEWER, r, ACT_ADMIN));
        for (int a = 0; a < ACT_COUNT_; a++) /* a role never has more than the one above it */
            for (int pr = PR_ADMIN; pr <= PR_VIEWER; pr++)
                if (plat_matrix_allows(pr, r, a)) assert_true(plat_matrix_allows(pr - 1, r, a));
    }
    /* keys never manage members or keys; a publishable key never touches KV */
    for (int a = 0; a < ACT_COUNT_; a++) {
        assert_false(plat_matrix_allows(PR_PK, RES_KEYS, a));
        assert_false(plat_matrix_allows(PR_SK, RES_KEYS, a));
        assert_false(plat_matrix_allows(PR_PK, RES_MEMBERS, a));
        assert_false(plat_matrix_allows(PR_SK, RES_MEMBERS, a));
        assert_false(plat_matrix_allows(PR_PK, RES_KV, a));
    }
    assert_true(plat_matrix_allows(PR_OWNER, RES_PROJECT, ACT_ADMIN));
    assert_false(plat_matrix_allows(PR_ADMIN, RES_PROJECT, ACT_ADMIN));
    assert_false(plat_matrix_allows(PR_ADMIN, RES_MEMBERS, ACT_ADMIN));
    assert_false(plat_matrix_allows(99, RES_PROJECT, ACT_READ));
    assert_false(plat_matrix_allows(PR_OWNER, RES_COUNT_, ACT_READ));
}

static void test_scopes(void **st)
{
    (void)st;
    char err[200];
    uint64_t m = 0;
    assert_int_equal(plat_scopes_parse(NULL, &m, err, sizeof err), 0);
    assert_int_equal(m, plat_scopes_all());
    json_t *a = json_pack("[s]", "project:read");
    assert_int_equal(plat_scopes_parse(a, &m, err, sizeof err), 0);
    assert_int_equal(m, plat_scope_bit(RES_PROJECT, ACT_READ));
    json_decref(a);
    a = json_pack("[s,s]", "database:*", "keys:admin");
    assert_int_equal(plat_scopes_parse(a, &m, err, sizeof err), 0);
    assert_true(m & plat_scope_bit(RES_DATABASE, ACT_WRITE));
    assert_true(m & plat_scope_bit(RES_KEYS, ACT_ADMIN));
    assert_false(m & plat_scope_bit(RES_KEYS, ACT_READ));
    json_t *back = plat_scopes_json(m);
    assert_int_equal(json_array_size(back), 4);
    json_decref(back);
    json_decref(a);
    const char *bad[] = {"bogus", "project:delete", "nothing:read", ":read", "project:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = json_pack("[s]", bad[i]);
        assert_int_equal(plat_scopes_parse(a, &m, err, sizeof err), BB_EINVAL);
        json_decref(a);
    }
    a = json_string("project:read");
    assert_int_equal(plat_scopes_parse(a, &m, err, sizeof err), BB_EINVAL);
    json_decref(a);
    a = json_array();
    assert_int_equal(plat_scopes_parse(a, &m, err, sizeof err), BB_EINVAL);
    json_decref(a);
    a = json_pack("[i]", 3);
    assert_int_equal(plat_scopes_parse(a, &m, err, sizeof err), BB_EINVAL);
    json_decref(a);
    back = plat_scopes_json(plat_scopes_all());
    assert_string_equal(json_string_value(json_array_get(back, 0)), "*");
    json_decref(back);
}

static void test_rate_limiter(void **st)
{
    (void)st;
    struct bb_rl *rl;
    assert_int_equal(bb_rl_new(100, &rl), 0);
    uint64_t t = 1000000, retry = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(bb_rl_take(rl, "login|ip|1.2.3.4", 6, 3, t, &retry), 0);
    assert_int_equal(bb_rl_take(rl, "login|ip|1.2.3.4", 6, 3, t, &retry), BB_ELIMIT);
    assert_true(retry >= 1 && retry <= 10); /* 6/min: one token every 10 s */
    assert_int_equal(bb_rl_take(rl, "login|ip|5.6.7.8", 6, 3, t, &retry), 0); /* other key */
    assert_int_equal(bb_rl_take(rl, "login|ip|1.2.3.4", 6, 3, t + 5000, &retry), BB_ELIMIT);
    assert_true(retry >= 1 && retry <= 5);
    assert_int_equal(bb_rl_take(rl, "login|ip|1.2.3.4", 6, 3, t + 10001, &retry), 0);
    /* a flood of fresh keys stays bounded and keeps working */
    char key[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "register|ip|10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(bb_rl_take(rl, key, 6, 3, t + 20000 + (uint64_t)i, &retry), 0);
    }
    bb_rl_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table_has_rows),
        cmocka_unit_test(test_route_without_row_refused),
        cmocka_unit_test(test_matrix_invariants),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_rate_limiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
