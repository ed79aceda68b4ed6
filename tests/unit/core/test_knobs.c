/* bb_knobs: a service's knob table — defaults, environment, one-line errors naming the knob,
 * choices, int-sized booleans, JSON with secrets redacted, and the host's scratch check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_knobs.h"

struct svc_cfg {
    uint64_t max_things;
    uint64_t idle_ms;
    int flag;
    uint64_t flag64;
    char mode[16];
    char path[32];
    char token[32];
};

static const struct bb_knob tbl[] = {
    BB_KNOB_U64_ROW(struct svc_cfg, max_things, "BUNBASE_TESTSVC_MAX_THINGS", "10", 1, 100,
                    "things at most"),
    BB_KNOB_U64_ROW(struct svc_cfg, idle_ms, "BUNBASE_TESTSVC_IDLE_MS", "500", 0, 60000, "idle"),
    BB_KNOB_BOOL_ROW(struct svc_cfg, flag, "BUNBASE_TESTSVC_FLAG", "1", "an int-sized flag"),
    BB_KNOB_BOOL_ROW(struct svc_cfg, flag64, "BUNBASE_TESTSVC_FLAG64", "0", "a u64 flag"),
    BB_KNOB_CHOICE_ROW(struct svc_cfg, mode, "BUNBASE_TESTSVC_MODE", "full", "full|normal|off",
                       "durability"),
    BB_KNOB_PATH_ROW(struct svc_cfg, path, "BUNBASE_TESTSVC_PATH", "", "a file"),
    BB_KNOB_SECRET_ROW(struct svc_cfg, token, "BUNBASE_TESTSVC_TOKEN", "", "a secret"),
};
#define N (sizeof tbl / sizeof tbl[0])

static void clear_env(void)
{
    for (size_t i = 0; i < N; i++) unsetenv(tbl[i].env);
}

static void test_defaults_and_env(void **state)
{
    (void)state;
    clear_env();
    struct svc_cfg c;
    char err[256];
    memset(&c, 0xee, sizeof c);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), 0);
    assert_int_equal(c.max_things, 10);
    assert_int_equal(c.idle_ms, 500);
    assert_int_equal(c.flag, 1);
    assert_int_equal(c.flag64, 0);
    assert_string_equal(c.mode, "full");
    assert_string_equal(c.path, "");
    setenv("BUNBASE_TESTSVC_MAX_THINGS", "99", 1);
    setenv("BUNBASE_TESTSVC_IDLE_MS", "", 1); /* empty number: the default */
    setenv("BUNBASE_TESTSVC_FLAG", "false", 1);
    setenv("BUNBASE_TESTSVC_FLAG64", "on", 1);
    setenv("BUNBASE_TESTSVC_MODE", "off", 1);
    setenv("BUNBASE_TESTSVC_PATH", "/tmp/x", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), 0);
    assert_int_equal(c.max_things, 99);
    assert_int_equal(c.idle_ms, 500);
    assert_int_equal(c.flag, 0);
    assert_int_equal(c.flag64, 1);
    assert_string_equal(c.mode, "off");
    assert_string_equal(c.path, "/tmp/x");
    setenv("BUNBASE_TESTSVC_MODE", "", 1); /* empty choice: the default */
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), 0);
    assert_string_equal(c.mode, "full");
    clear_env();
}

static const struct bb_knob ended[] = {
    BB_KNOB_U64_ROW(struct svc_cfg, max_things, "BUNBASE_TESTSVC_MAX_THINGS", "10", 1, 100, "x"),
    BB_KNOB_U64_ROW(struct svc_cfg, idle_ms, "BUNBASE_TESTSVC_IDLE_MS", "500", 0, 60000, "y"),
    BB_KNOBS_END,
};

static void test_count(void **state)
{
    (void)state;
    assert_int_equal(bb_knobs_count(ended), 2);
    assert_int_equal(bb_knobs_count(NULL), 0);
}

static void test_errors_name_the_knob(void **state)
{
    (void)state;
    clear_env();
    struct svc_cfg c;
    char err[256];
    setenv("BUNBASE_TESTSVC_MAX_THINGS", "101", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), BB_EINVAL);
    assert_string_equal(err, "BUNBASE_TESTSVC_MAX_THINGS must be an integer in [1, 100] (got "
                             "\"101\", out of range)");
    setenv("BUNBASE_TESTSVC_MAX_THINGS", "-1", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), BB_EINVAL);
    assert_string_equal(err, "BUNBASE_TESTSVC_MAX_THINGS must be an integer in [1, 100] (got "
                             "\"-1\")");
    setenv("BUNBASE_TESTSVC_MAX_THINGS", "12abc", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), BB_EINVAL);
    unsetenv("BUNBASE_TESTSVC_MAX_THINGS");
    setenv("BUNBASE_TESTSVC_FLAG", "maybe", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), BB_EINVAL);
    assert_string_equal(err, "BUNBASE_TESTSVC_FLAG must be 0 or 1 (got \"maybe\")");
    unsetenv("BUNBASE_TESTSVC_FLAG");
    setenv("BUNBASE_TESTSVC_MODE", "fast", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), BB_EINVAL);
    assert_string_equal(err, "BUNBASE_TESTSVC_MODE must be full, normal or off (got \"fast\")");
    unsetenv("BUNBASE_TESTSVC_MODE");
    setenv("BUNBASE_TESTSVC_PATH", "/a/path/that/is/longer/than/the/field", 1);
    assert_int_equal(bb_knobs_load(tbl, N, &c, err, sizeof err), BB_EINVAL);
    assert_string_equal(err, "BUNBASE_TESTSVC_PATH: value too long (max 31 bytes)");
    clear_env();
}

static void test_json_and_check(void **state)
{
    (void)state;
    clear_env();
    setenv("BUNBASE_TESTSVC_TOKEN", "hunter2-secret", 1);
    setenv("BUNBASE_TESTSVC_MAX_THINGS", "42", 1);
    json_t *o = json_object();
    char err[256];
    assert_int_equal(bb_knobs_check(tbl, N, sizeof(struct svc_cfg), o, err, sizeof err), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "BUNBASE_TESTSVC_MAX_THINGS")), 42);
    assert_true(json_is_true(json_object_get(o, "BUNBASE_TESTSVC_FLAG")));
    assert_true(json_is_false(json_object_get(o, "BUNBASE_TESTSVC_FLAG64")));
    assert_string_equal(json_string_value(json_object_get(o, "BUNBASE_TESTSVC_TOKEN")), "<set>");
    char *s = json_dumps(o, 0);
    assert_null(strstr(s, "hunter2"));
    free(s);
    json_decref(o);
    setenv("BUNBASE_TESTSVC_MAX_THINGS", "0", 1);
    assert_int_equal(bb_knobs_check(tbl, N, sizeof(struct svc_cfg), NULL, err, sizeof err),
                     BB_EINVAL);
    assert_non_null(strstr(err, "BUNBASE_TESTSVC_MAX_THINGS"));
    clear_env();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_env),
        cmocka_unit_test(test_errors_name_the_knob),
        cmocka_unit_test(test_json_and_check),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
