/* Unit tests for the bundoc rules language: the reference's rule examples (§2.6, §7
 * TestRulesIntegration) and more, every operator and function, CEL error absorption, parse errors
 * with positions, traces, bounds, rule sets with the write fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_err.h"
#include "rules.h"

static json_t *J(const char *text)
{
    if (!text) return NULL;
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

/* Evaluates rule with auth / resource.data / request.resource.data given as JSON text (NULL =
 * null); returns allow; stores the trace in *trace if given. */
static int E(const char *rule, const char *auth, const char *res, const char *req, char **trace)
{
    struct bdoc_rule *r = NULL;
    struct bdoc_rule_error err;
    if (bdoc_rule_compile(rule, strlen(rule), &r, &err))
        fail_msg("compile '%s': %s", rule, err.message);
    json_t *a = J(auth), *rd = J(res), *qd = J(req);
    struct bdoc_rule_input in = {a, rd, qd};
    int allow = -1;
    char *t = NULL;
    assert_int_equal(bdoc_rule_eval(r, &in, &allow, &t), 0);
    assert_non_null(t);
    if (trace) *trace = t;
    else free(t);
    json_decref(a);
    json_decref(rd);
    json_decref(qd);
    bdoc_rule_free(r);
    return allow;
}

#define ALICE "{\"uid\":\"alice\",\"claims\":{\"role\":\"admin\",\"teams\":[\"red\",\"blue\"],\"level\":3}}"
#define BOB "{\"uid\":\"bob\",\"claims\":{}}"

static void test_reference_examples(void **state)
{
    (void)state;
    /* create: "request.auth != null" */
    assert_false(E("request.auth != null", NULL, "{\"title\":\"x\"}", NULL, NULL));
    assert_true(E("request.auth != null", ALICE, "{\"title\":\"x\"}", NULL, NULL));
    /* update: "resource.data.owner == request.auth.uid" */
    const char *doc = "{\"owner\":\"alice\",\"n\":1}";
    assert_true(E("resource.data.owner == request.auth.uid", ALICE, doc, "{\"owner\":\"alice\"}",
                  NULL));
    assert_false(E("resource.data.owner == request.auth.uid", BOB, doc, NULL, NULL));
    /* unauthenticated: reading request.auth.uid is an error, hence deny */
    char *t = NULL;
    assert_false(E("resource.data.owner == request.auth.uid", NULL, doc, NULL, &t));
    assert_non_null(strstr(t, "deny: error: cannot select 'uid' on null"));
    free(t);
    /* the guarded form */
    assert_false(E("request.auth != null && resource.data.owner == request.auth.uid", NULL, doc,
                   NULL, NULL));
    assert_true(E("true", NULL, NULL, NULL, NULL));
    assert_false(E("false", ALICE, NULL, NULL, NULL));
}

static void test_comparisons(void **state)
{
    (void)state;
    const char *d = "{\"n\":10,\"f\":2.5,\"s\":\"abc\",\"b\":true,\"z\":null,\"l\":[1,2],"
                    "\"o\":{\"k\":1}}";
    assert_true(E("resource.data.n == 10", NULL, d, NULL, NULL));
    assert_true(E("resource.data.n == 10.0", NULL, d, NULL, NULL));
    assert_false(E("resource.data.n == '10'", NULL, d, NULL, NULL)); /* typed */
    assert_true(E("resource.data.n != '10'", NULL, d, NULL, NULL));
    assert_true(E("resource.data.n > 9 && resource.data.n >= 10 && resource.data.n < 11 && "
                  "resource.data.n <= 10",
                  NULL, d, NULL, NULL));
    assert_true(E("resource.data.n > 9.5", NULL, d, NULL, NULL));
    assert_true(E("resource.data.n < 100", NULL, d, NULL, NULL)); /* never "10" < "100" */
    assert_true(E("resource.data.f < 3 && resource.data.f > -1", NULL, d, NULL, NULL));
    assert_true(E("resource.data.s < 'abd' && resource.data.s >= \"abc\"", NULL, d, NULL, NULL));
    assert_true(E("resource.data.b == true && resource.data.z == null", NULL, d, NULL, NULL));
    assert_true(E("resource.data.l == [1, 2.0] && resource.data.l != [2, 1]", NULL, d, NULL,
                  NULL));
    assert_true(E("resource.data.o.k == 1 && resource.data.o != null", NULL, d, NULL, NULL));
}

static void test_ordering_type_errors(void **state)
{
    (void)state;
    char *t = NULL;
    assert_false(E("resource.data.n > '5'", NULL, "{\"n\":10}", NULL, &t));
    assert_non_null(strstr(t, "cannot order number and string"));
    free(t);
    assert_false(E("resource.data.l < [3]", NULL, "{\"l\":[1]}", NULL, NULL));
    assert_false(E("resource.data.n", NULL, "{\"n\":10}", NULL, &t));
    assert_non_null(strstr(t, "not a boolean"));
    free(t);
}

static void test_logic_and_absorption(void **state)
{
    (void)state;
    assert_true(E("!(1 == 2)", NULL, NULL, NULL, NULL));
    assert_true(E("!false && (true || false)", NULL, NULL, NULL, NULL));
    assert_true(E("false || 1 == 1", NULL, NULL, NULL, NULL));
    /* false && error == false, error && false == false, true || error == true */
    char *t = NULL;
    assert_false(E("false && request.auth.uid == 'x'", NULL, NULL, NULL, &t));
    assert_null(strstr(t, "\n  request.auth.uid")); /* short-circuit: never evaluated */
    free(t);
    assert_true(E("request.auth.uid == 'x' || true", NULL, NULL, NULL, NULL));
    assert_true(E("true || request.auth.uid == 'x'", NULL, NULL, NULL, NULL));
    assert_false(E("request.auth.uid == 'x' && false", NULL, NULL, NULL, &t));
    assert_non_null(strstr(t, "deny: rule evaluated to false"));
    free(t);
    assert_false(E("request.auth.uid == 'x' || false", NULL, NULL, NULL, &t));
    assert_non_null(strstr(t, "deny: error:"));
    free(t);
    assert_false(E("1 && true", NULL, NULL, NULL, &t));
    assert_non_null(strstr(t, "&& needs booleans"));
    free(t);
    assert_false(E("!'x'", NULL, NULL, NULL, NULL));
    assert_true(E("-resource.data.n == -3 && -1.5 < 0", NULL, "{\"n\":3}", NULL, NULL));
}

static void test_in(void **state)
{
    (void)state;
    assert_true(E("'red' in request.auth.claims.teams", ALICE, NULL, NULL, NULL));
    assert_false(E("'green' in request.auth.claims.teams", ALICE, NULL, NULL, NULL));
    assert_true(E("request.auth.uid in ['alice', 'carol']", ALICE, NULL, NULL, NULL));
    assert_true(E("'role' in request.auth.claims", ALICE, NULL, NULL, NULL));
    assert_false(E("'role' in request.auth.claims", BOB, NULL, NULL, NULL));
    assert_true(E("3 in [1, 2, 3.0]", NULL, NULL, NULL, NULL));
    assert_false(E("'3' in [1, 2, 3]", NULL, NULL, NULL, NULL));
    char *t = NULL;
    assert_false(E("1 in 'abc'", NULL, NULL, NULL, &t));
    assert_non_null(strstr(t, "'in' needs a list or a map"));
    free(t);
}

static void test_functions(void **state)
{
    (void)state;
    const char *d = "{\"title\":\"h\\u00e9llo\",\"tags\":[1,2,3],\"m\":{\"a\":1},\"e\":"
                    "\"bob@example.com\",\"z\":null}";
    assert_true(E("has(resource.data.title)", NULL, d, NULL, NULL));
    assert_false(E("has(resource.data.nope)", NULL, d, NULL, NULL));
    assert_true(E("has(resource.data.z)", NULL, d, NULL, NULL));
    assert_true(E("has(resource.data.m.a) && !has(resource.data.m.b)", NULL, d, NULL, NULL));
    assert_true(E("has(resource.data['title'])", NULL, d, NULL, NULL));
    assert_false(E("has(resource.data.nope.x)", NULL, d, NULL, NULL)); /* error: deny */
    assert_true(E("has(request.auth.uid)", ALICE, NULL, NULL, NULL));
    assert_true(E("size(resource.data.title) == 5", NULL, d, NULL, NULL)); /* code points */
    assert_true(E("resource.data.title.size() == 5", NULL, d, NULL, NULL));
    assert_true(E("size(resource.data.tags) == 3 && resource.data.m.size() == 1", NULL, d, NULL,
                  NULL));
    assert_false(E("size(5) == 1", NULL, d, NULL, NULL));
    assert_true(E("resource.data.title.startsWith('h\\u00e9')", NULL, d, NULL, NULL));
    assert_false(E("resource.data.title.startsWith('e')", NULL, d, NULL, NULL));
    assert_true(E("resource.data.e.endsWith('@example.com')", NULL, d, NULL, NULL));
    assert_false(E("resource.data.e.endsWith('.org')", NULL, d, NULL, NULL));
    assert_true(E("resource.data.e.matches('^[a-z]+@[a-z]+\\\\.com$')", NULL, d, NULL, NULL));
    assert_true(E("matches(resource.data.e, 'EXAMPLE') == false", NULL, d, NULL, NULL));
    assert_true(E("resource.data.e.matches(request.resource.data.p)", NULL, d, "{\"p\":\"b.b\"}",
                  NULL));
    assert_false(E("resource.data.e.matches(request.resource.data.p)", NULL, d, "{\"p\":\"(\"}",
                   NULL));
    assert_false(E("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab'.matches('^(a+)+$')", NULL,
                   NULL, NULL, NULL));
    assert_true(E("resource.data.tags[0] == 1 && resource.data.m['a'] == 1", NULL, d, NULL, NULL));
    assert_false(E("resource.data.tags[5] == 1", NULL, d, NULL, NULL));
    assert_true(E("request.resource.data.owner == request.auth.uid && "
                  "request.resource.data.owner == resource.data.owner",
                  ALICE, "{\"owner\":\"alice\"}", "{\"owner\":\"alice\"}", NULL));
    assert_true(E("request.auth.claims.role == 'admin' || request.auth.claims.level > 5", ALICE,
                  NULL, NULL, NULL));
    assert_false(E("request.resource.data.x == 1", NULL, NULL, NULL, NULL)); /* data is null */
}

static void expect_parse_error(const char *rule, int want_rc, unsigned line, unsigned col,
                               const char *needle)
{
    struct bdoc_rule *r = NULL;
    struct bdoc_rule_error err;
    int rc = bdoc_rule_compile(rule, strlen(rule), &r, &err);
    if (rc != want_rc || r || err.line != line || err.col != col || !strstr(err.message, needle))
        fail_msg("'%s': rc %d at %u:%u '%s', want %d at %u:%u '%s'", rule, rc, err.line, err.col,
                 err.message, want_rc, line, col, needle);
    assert_int_equal(err.offset + 1 >= col ? 1 : 0, 1);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("", BB_EINVAL, 1, 1, "empty rule");
    expect_parse_error("   ", BB_EINVAL, 1, 1, "empty rule");
    expect_parse_error("request.auth = null", BB_EINVAL, 1, 14, "use ==");
    expect_parse_error("request.auth != null &", BB_EINVAL, 1, 22, "use &&");
    expect_parse_error("request.auth != null &&", BB_EINVAL, 1, 24, "end of rule");
    expect_parse_error("(request.auth != null", BB_EINVAL, 1, 22, "expected ')'");
    expect_parse_error("resource.data.x == 'abc", BB_EINVAL, 1, 20, "unterminated string");
    expect_parse_error("user.id == 1", BB_EINVAL, 1, 1, "unknown variable 'user'");
    expect_parse_error("resource.data.x.lower() == 'a'", BB_EINVAL, 1, 17, "unknown function");
    expect_parse_error("foo(1)", BB_EINVAL, 1, 1, "unknown function 'foo'");
    expect_parse_error("has(1)", BB_EINVAL, 1, 5, "has() needs a field selection");
    expect_parse_error("size(1, 2) == 1", BB_EINVAL, 1, 1, "takes 1 argument");
    expect_parse_error("'a'.startsWith() ", BB_EINVAL, 1, 5, "takes 1 argument");
    expect_parse_error("startsWith('a', 'b')", BB_EINVAL, 1, 1, "as a method");
    expect_parse_error("resource.data.x.has()", BB_EINVAL, 1, 17, "as a function");
    expect_parse_error("'x'.matches('(')", BB_EINVAL, 1, 13, "regex");
    expect_parse_error("1 == 1 == 1", BB_EINVAL, 1, 8, "do not chain");
    expect_parse_error("true false", BB_EINVAL, 1, 6, "unexpected token");
    expect_parse_error("resource.\n  data.x == #", BB_EINVAL, 2, 13, "unexpected character '#'");
    expect_parse_error("resource. == 1", BB_EINVAL, 1, 11, "field name");
    expect_parse_error("[1, 2 == 1", BB_EINVAL, 1, 11, "expected ',' or ']'");
    expect_parse_error("99999999999999999999 == 1", BB_EINVAL, 1, 1, "out of range");
    expect_parse_error("'\\", BB_EINVAL, 1, 1, "unterminated string"); /* found by fuzzing */
    expect_parse_error("'\\q' == 'a'", BB_EINVAL, 1, 2, "unknown escape");
    expect_parse_error("'\\u12' == 'a'", BB_EINVAL, 1, 6, "\\u escape");
    /* bounds */
    char *big = malloc(BDOC_RULE_MAX_LEN + 2);
    memset(big, ' ', BDOC_RULE_MAX_LEN + 1);
    big[0] = 't';
    big[1] = 'r';
    big[2] = 'u';
    big[3] = 'e';
    big[BDOC_RULE_MAX_LEN + 1] = 0;
    struct bdoc_rule *r = NULL;
    struct bdoc_rule_error err;
    assert_int_equal(bdoc_rule_compile(big, strlen(big), &r, &err), BB_ETOOBIG);
    assert_non_null(strstr(err.message, "longer than"));
    assert_int_equal(bdoc_rule_compile(big, BDOC_RULE_MAX_LEN, &r, &err), 0);
    bdoc_rule_free(r);
    free(big);
    char deep[512];
    size_t n = 0;
    for (int i = 0; i < 150; i++) deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 150; i++) deep[n++] = ')';
    deep[n] = 0;
    assert_int_equal(bdoc_rule_compile(deep, n, &r, &err), BB_ETOOBIG);
    assert_non_null(strstr(err.message, "deeper"));
    n = 0;
    for (int i = 0; i < 300; i++) deep[n++] = '!';
    deep[n++] = '1';
    deep[n] = 0;
    assert_int_equal(bdoc_rule_compile(deep, n, &r, &err), BB_ETOOBIG);
    char many[4096];
    n = 0;
    for (int i = 0; i < 700; i++) n += (size_t)snprintf(many + n, sizeof many - n, "%s1", i ? "||" : "");
    assert_int_equal(bdoc_rule_compile(many, n, &r, &err), BB_ETOOBIG);
    const char nul[] = "true\0 || false";
    assert_int_equal(bdoc_rule_compile(nul, sizeof nul - 1, &r, &err), BB_EINVAL);
    assert_int_equal(err.offset, 4);
}

static void test_trace(void **state)
{
    (void)state;
    char *t = NULL;
    assert_false(E("request.auth != null && resource.data.owner == request.auth.uid", BOB,
                   "{\"owner\":\"alice\"}", NULL, &t));
    const char *want =
        "request.auth != null && resource.data.owner == request.auth.uid => false\n"
        "  request.auth != null => true\n"
        "    request.auth => {\"uid\":\"bob\",\"claims\":{}}\n"
        "  resource.data.owner == request.auth.uid => false\n"
        "    resource.data.owner => \"alice\"\n"
        "      resource.data => {\"owner\":\"alice\"}\n"
        "        resource => {\"data\":{\"owner\":\"alice\"}}\n"
        "    request.auth.uid => \"bob\"\n"
        "      request.auth => {\"uid\":\"bob\",\"claims\":{}}\n"
        "deny: rule evaluated to false";
    /* the trace lists "request" under request.auth too; compare the informative lines */
    const char *lines[] = {"request.auth != null && resource.data.owner == request.auth.uid => false\n",
                           "\n  request.auth != null => true\n",
                           "\n  resource.data.owner == request.auth.uid => false\n",
                           "\n    resource.data.owner => \"alice\"\n",
                           "\n    request.auth.uid => \"bob\"\n",
                           "\ndeny: rule evaluated to false"};
    (void)want;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(t, lines[i])) fail_msg("trace lacks '%s':\n%s", lines[i], t);
    assert_int_equal(strncmp(t, lines[0], strlen(lines[0])), 0);
    free(t);
    assert_true(E("'red' in request.auth.claims.teams", ALICE, NULL, NULL, &t));
    assert_non_null(strstr(t, "'red' in request.auth.claims.teams => true\n"));
    assert_non_null(strstr(t, "  request.auth.claims.teams => [\"red\",\"blue\"]\n"));
    assert_non_null(strstr(t, "\nallow"));
    free(t);
    /* an error is shown where it happens */
    assert_false(E("resource.data.a.b == 1", NULL, "{\"a\":{}}", NULL, &t));
    assert_non_null(strstr(t, "resource.data.a.b => error: no such key 'b'"));
    free(t);
    /* long values are truncated, the trace is bounded */
    json_t *big = json_object();
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(big, key, json_integer(i));
    }
    char *bigs = json_dumps(big, JSON_COMPACT);
    char rule[4096];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(rule + n, sizeof rule - n, "%sresource.data.k%d == -1",
                              i ? " || " : "", i);
    assert_false(E(rule, NULL, bigs, NULL, &t));
    assert_true(strlen(t) < BDOC_RULE_TRACE_MAX);
    assert_non_null(strstr(t, "..."));
    assert_non_null(strstr(t, "deny: rule evaluated to false"));
    free(t);
    free(bigs);
    json_decref(big);
    /* no trace requested */
    struct bdoc_rule *r = NULL;
    assert_int_equal(bdoc_rule_compile("true", 4, &r, NULL), 0);
    int allow = 0;
    assert_int_equal(bdoc_rule_eval(r, NULL, &allow, NULL), 0);
    assert_true(allow);
    assert_string_equal(bdoc_rule_source(r), "true");
    bdoc_rule_free(r);
}

static void test_ruleset(void **state)
{
    (void)state;
    json_t *rules = J("{\"read\":\"true\",\"write\":\"request.auth != null\","
                      "\"update\":\"resource.data.owner == request.auth.uid\"}");
    struct bdoc_ruleset *rs = NULL;
    char err[256];
    assert_int_equal(bdoc_ruleset_compile(rules, &rs, err, sizeof err), 0);
    assert_string_equal(bdoc_rule_source(bdoc_ruleset_get(rs, BDOC_RULE_READ)), "true");
    assert_null(bdoc_ruleset_get(rs, BDOC_RULE_LIST)); /* no fallback for list */
    assert_string_equal(bdoc_rule_source(bdoc_ruleset_get(rs, BDOC_RULE_CREATE)),
                        "request.auth != null");
    assert_string_equal(bdoc_rule_source(bdoc_ruleset_get(rs, BDOC_RULE_DELETE)),
                        "request.auth != null");
    assert_string_equal(bdoc_rule_source(bdoc_ruleset_get(rs, BDOC_RULE_UPDATE)),
                        "resource.data.owner == request.auth.uid");
    bdoc_ruleset_free(rs);
    json_decref(rules);

    const char *bad[][2] = {{"{\"update\":\"resource.data.owner = 1\"}", "update: line 1, col 21"},
                            {"{\"erase\":\"true\"}", "unknown rule operation"},
                            {"{\"read\":true}", "read: rule must be a string"},
                            {"[]", "object"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rules = J(bad[i][0]);
        assert_int_equal(bdoc_ruleset_compile(rules, &rs, err, sizeof err), BB_EINVAL);
        assert_null(rs);
        if (!strstr(err, bad[i][1])) fail_msg("%s: %s", bad[i][0], err);
        json_decref(rules);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_examples),
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_ordering_type_errors),
        cmocka_unit_test(test_logic_and_absorption),
        cmocka_unit_test(test_in),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_ruleset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
