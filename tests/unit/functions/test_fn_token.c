/* The functions' project tokens (bun_auth_project_token_mint/verify, src/bun_auth/
 * ba_project_token.c): what one bunbased mints another with the same internal token accepts;
 * another internal token, a changed project, expiry, a flipped MAC character, truncation and
 * garbage are refused; never a dot (bun-auth's resolver would take it for a JWT). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bb_err.h"
#include "bun_auth.h"

#define TOK "internal-token-0123456789abcdef0123456789"

static void test_round_trip(void **state)
{
    (void)state;
    char t[BUN_AUTH_PROJECT_TOKEN_MAX], pid[80];
    int64_t exp = 0;
    assert_int_equal(bun_auth_project_token_mint(TOK, "p_01HXYZ-abc", 5000, t, sizeof t), 0);
    assert_memory_equal(t, "bbf_", 4);
    assert_null(strchr(t, '.'));
    assert_int_equal(bun_auth_project_token_verify(TOK, t, 4999, pid, sizeof pid, &exp), 0);
    assert_string_equal(pid, "p_01HXYZ-abc");
    assert_int_equal(exp, 5000);
    assert_int_equal(bun_auth_project_token_verify(TOK, t, 5000, pid, sizeof pid, &exp),
                     BB_ETIMEDOUT);
    assert_int_equal(bun_auth_project_token_verify("another-internal-token-xxxxxxxxxxxx", t, 1, pid,
                                                   sizeof pid, &exp),
                     BB_EAUTH);
}

static void test_refusals(void **state)
{
    (void)state;
    char t[BUN_AUTH_PROJECT_TOKEN_MAX], pid[80], bad[BUN_AUTH_PROJECT_TOKEN_MAX + 8];
    int64_t exp;
    assert_int_equal(bun_auth_project_token_mint(TOK, "proj1", 99999, t, sizeof t), 0);
    /* a flipped MAC character */
    strcpy(bad, t);
    char *mac = strchr(bad + 4, '_') + 1;
    *mac = *mac == '0' ? '1' : '0';
    assert_int_equal(bun_auth_project_token_verify(TOK, bad, 1, pid, sizeof pid, &exp), BB_EAUTH);
    /* another project under the same MAC, a later expiry */
    strcpy(bad, t);
    strcpy(strrchr(bad, '_') + 1, "proj2");
    assert_int_equal(bun_auth_project_token_verify(TOK, bad, 1, pid, sizeof pid, &exp), BB_EAUTH);
    strcpy(bad, "bbf_999999");
    strcat(bad, strchr(t + 4, '_'));
    assert_int_equal(bun_auth_project_token_verify(TOK, bad, 1, pid, sizeof pid, &exp), BB_EAUTH);
    /* truncated, garbage, not ours */
    strcpy(bad, t);
    bad[strlen(bad) - 1] = '\0';
    assert_int_equal(bun_auth_project_token_verify(TOK, bad, 1, pid, sizeof pid, &exp), BB_EAUTH);
    const char *junk[] = {"bbf_", "bbf__", "bbf_1_", "bbf_x_y_z", "bbf_12345678901234567890_a_b"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(bun_auth_project_token_verify(TOK, junk[i], 1, pid, sizeof pid, &exp),
                         BB_EAUTH);
    assert_int_equal(bun_auth_project_token_verify(TOK, "sk_abc", 1, pid, sizeof pid, &exp),
                     BB_ENOTFOUND);
    /* a project id the verifier's buffer cannot hold */
    assert_int_equal(bun_auth_project_token_verify(TOK, t, 1, pid, 3, &exp), BB_EAUTH);
    /* minting refuses what it cannot stand for */
    assert_int_equal(bun_auth_project_token_mint("", "proj1", 1, t, sizeof t), BB_EINVAL);
    assert_int_equal(bun_auth_project_token_mint(TOK, "bad id", 1, t, sizeof t), BB_EINVAL);
    assert_int_equal(bun_auth_project_token_mint(TOK, "proj1", 1, t, 20), BB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
