/* Config: defaults, env < flags precedence, range/format errors, addresses, and the knob table
 * being documented in docs/configuration.md (so the doc cannot drift from the code). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_config.h"
#include "bb_err.h"

static void test_defaults(void **state)
{
    (void)state;
    unsetenv("BUNBASE_LISTEN");
    unsetenv("BUNBASE_HTTP_MAX_BODY_BYTES");
    struct bb_config c;
    char err[256];
    assert_int_equal(bb_config_load(&c, 0, NULL, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "./.bunbase");
    assert_string_equal(c.listen, "0.0.0.0:3001");
    assert_string_equal(c.services, "all");
    assert_int_equal(c.http_max_body_bytes, 1048576);
    assert_int_equal(c.http_max_header_bytes, 16384);
    assert_int_equal(c.debug_routes, 0);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    setenv("BUNBASE_LISTEN", "127.0.0.1:4000", 1);
    setenv("BUNBASE_HTTP_MAX_BODY_BYTES", "2048", 1);
    setenv("BUNBASE_DEBUG_ROUTES", "true", 1);
    struct bb_config c;
    char err[256];
    assert_int_equal(bb_config_load(&c, 0, NULL, err, sizeof err), 0);
    assert_string_equal(c.listen, "127.0.0.1:4000");
    assert_int_equal(c.http_max_body_bytes, 2048);
    assert_int_equal(c.debug_routes, 1);
    char *argv[] = {"--listen", "127.0.0.1:5000", "--data=/tmp/x", "--print-config"};
    assert_int_equal(bb_config_load(&c, 4, argv, err, sizeof err), 0);
    assert_string_equal(c.listen, "127.0.0.1:5000");
    assert_string_equal(c.data_dir, "/tmp/x");
    assert_true(c.print_config);
    json_t *j = bb_config_to_json(&c);
    assert_int_equal(json_integer_value(json_object_get(j, "BUNBASE_HTTP_MAX_BODY_BYTES")), 2048);
    assert_string_equal(json_string_value(json_object_get(j, "BUNBASE_LISTEN")), "127.0.0.1:5000");
    json_decref(j);
    unsetenv("BUNBASE_LISTEN");
    unsetenv("BUNBASE_HTTP_MAX_BODY_BYTES");
    unsetenv("BUNBASE_DEBUG_ROUTES");
}

static void test_secrets_redacted(void **state)
{
    (void)state;
    setenv("BUNBASE_INTERNAL_TOKEN", "supersecret-value", 1);
    setenv("BUNBASE_DATABASE_URL", "postgres://u:pw@h/db", 1);
    struct bb_config c;
    char err[256];
    assert_int_equal(bb_config_load(&c, 0, NULL, err, sizeof err), 0);
    assert_string_equal(c.internal_token, "supersecret-value");
    json_t *j = bb_config_to_json(&c);
    char *s = json_dumps(j, 0);
    assert_null(strstr(s, "supersecret"));
    assert_null(strstr(s, "pw@"));
    assert_non_null(strstr(s, "\"BUNBASE_INTERNAL_TOKEN\": \"<set>\""));
    free(s);
    json_decref(j);
    unsetenv("BUNBASE_INTERNAL_TOKEN");
    unsetenv("BUNBASE_DATABASE_URL");
}

static void test_errors(void **state)
{
    (void)state;
    struct bb_config c;
    char err[256];
    setenv("BUNBASE_HTTP_MAX_HEADER_BYTES", "12abc", 1);
    assert_int_equal(bb_config_load(&c, 0, NULL, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "BUNBASE_HTTP_MAX_HEADER_BYTES"));
    setenv("BUNBASE_HTTP_MAX_HEADER_BYTES", "10", 1); /* below the minimum */
    assert_int_equal(bb_config_load(&c, 0, NULL, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "out of range"));
    setenv("BUNBASE_HTTP_MAX_HEADER_BYTES", "-5", 1);
    assert_int_equal(bb_config_load(&c, 0, NULL, err, sizeof err), BB_EINVAL);
    unsetenv("BUNBASE_HTTP_MAX_HEADER_BYTES");
    char *a1[] = {"--nope"};
    assert_int_equal(bb_config_load(&c, 1, a1, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "--nope"));
    char *a2[] = {"--listen"};
    assert_int_equal(bb_config_load(&c, 1, a2, err, sizeof err), BB_EINVAL);
    char *a3[] = {"--listen", "nohostport"};
    assert_int_equal(bb_config_load(&c, 2, a3, err, sizeof err), BB_EINVAL);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char flag[2100];
    snprintf(flag, sizeof flag, "--data=%s", big);
    char *a4[] = {flag};
    assert_int_equal(bb_config_load(&c, 1, a4, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "too long"));
}

static void test_addresses(void **state)
{
    (void)state;
    char host[64];
    int port;
    assert_int_equal(bb_config_split_addr("127.0.0.1:3106", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 3106);
    assert_int_equal(bb_config_split_addr("[::1]:0", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(bb_config_split_addr("host:99999", host, sizeof host, &port), BB_EINVAL);
    assert_int_equal(bb_config_split_addr(":80", host, sizeof host, &port), BB_EINVAL);
    assert_int_equal(bb_config_split_addr("h:", host, sizeof host, &port), BB_EINVAL);
    char buf[128];
    setenv("BUNBASE_BUNDER_MANAGER_ADDR", "127.0.0.1:6390", 1);
    assert_string_equal(bb_config_service_addr("bunder-manager", buf, sizeof buf), "127.0.0.1:6390");
    assert_null(bb_config_service_addr("buncast", buf, sizeof buf));
    unsetenv("BUNBASE_BUNDER_MANAGER_ADDR");
}

static void test_every_knob_documented(void **state)
{
    (void)state;
    const char *src = getenv("BB_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/configuration.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    size_t nk;
    const struct bb_knob *k = bb_config_knobs(&nk);
    assert_true(nk > 10);
    for (size_t i = 0; i < nk; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "`%s`", k[i].env);
        if (!strstr(doc, needle)) fail_msg("%s is not documented in docs/configuration.md", k[i].env);
        if (k[i].flag) {
            snprintf(needle, sizeof needle, "`%s`", k[i].flag);
            if (!strstr(doc, needle)) fail_msg("%s is not documented", k[i].flag);
        }
    }
}

/* Every BUNBASE_* name the sources read (the knob table, services' own tables, tools' getenv) is
 * documented: scans every .c file under src/ for complete "BUNBASE_NAME" string literals. */
static void scan_dir(const char *dir, const char *doc, int *missing)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            scan_dir(path, doc, missing);
            continue;
        }
        size_t nl = strlen(e->d_name);
        if (nl < 3 || strcmp(e->d_name + nl - 2, ".c")) continue;
        FILE *f = fopen(path, "r");
        if (!f) continue;
        static char src[1 << 20];
        size_t n = fread(src, 1, sizeof src - 1, f);
        src[n] = '\0';
        fclose(f);
        for (const char *p = strstr(src, "\"BUNBASE_"); p; p = strstr(p + 1, "\"BUNBASE_")) {
            size_t k = 1;
            while ((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= '0' && p[k] <= '9') || p[k] == '_') k++;
            if (p[k] != '"' || p[k - 1] == '_') continue; /* a prefix that names are built from */
            char needle[160];
            snprintf(needle, sizeof needle, "`%.*s`", (int)(k - 1), p + 1);
            if (!strstr(doc, needle)) {
                fprintf(stderr, "%s: %s is not documented in docs/configuration.md\n", path, needle);
                (*missing)++;
            }
        }
    }
    closedir(d);
}

static void test_every_env_read_documented(void **state)
{
    (void)state;
    const char *src = getenv("BB_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/configuration.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    int missing = 0;
    snprintf(path, sizeof path, "%s/src", src);
    scan_dir(path, doc, &missing);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_env_then_flags),
        cmocka_unit_test(test_secrets_redacted), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_addresses),      cmocka_unit_test(test_every_knob_documented),
        cmocka_unit_test(test_every_env_read_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
