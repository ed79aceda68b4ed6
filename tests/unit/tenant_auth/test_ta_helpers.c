/* Unit tests for the pieces tenant-auth's resolver stands on: bb_jwt_peek_payload (whose token is
 * it, before verifying), bb_http_cookie (the tenant_session_token cookie), and tenant-auth's knob
 * table (defaults; a bad value names its knob). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_jwt.h"
#include "tenant_auth_internal.h"

static char *jwt(const char *header, const char *payload, const char *sig)
{
    static char out[2048];
    char h[512], p[1024];
    bb_base64url_encode(header, strlen(header), h, sizeof h);
    bb_base64url_encode(payload, strlen(payload), p, sizeof p);
    snprintf(out, sizeof out, "%s.%s.%s", h, p, sig);
    return out;
}

static void test_peek(void **state)
{
    (void)state;
    char *t = jwt("{\"alg\":\"EdDSA\"}", "{\"iss\":\"https://x/v1/projects/p1/auth\",\"aud\":\"p1\"}",
                  "c2ln");
    json_t *p = bb_jwt_peek_payload(t, strlen(t));
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "aud")), "p1");
    json_decref(p);
    /* an empty signature is still the shape (alg none): the verifier refuses it later */
    t = jwt("{\"alg\":\"none\"}", "{\"iss\":\"a\"}", "");
    p = bb_jwt_peek_payload(t, strlen(t));
    assert_non_null(p);
    json_decref(p);
    const char *bad[] = {
        "", "abc", "a.b", "a.b.c.d", ".e30.", "bbp_0123456789", "pk_live.x.y",
        "eyJhIjoxfQ.WzFd.c2ln",     /* payload not an object */
        "eyJhIjoxfQ.eyJhIjox.c2ln", /* payload not JSON */
        "eyJhIjoxfQ.e30.c2=ln",     /* signature not base64url */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = bb_jwt_peek_payload(bad[i], strlen(bad[i]));
        if (p) fail_msg("\"%s\" peeked", bad[i]);
    }
    assert_null(bb_jwt_peek_payload(NULL, 0));
}

static const char *cookie(const char *hdr, const char *name, char *buf, size_t cap)
{
    struct bb_http_header h = {"Cookie", (char *)hdr};
    struct bb_http_request req;
    memset(&req, 0, sizeof req);
    req.headers = &h;
    req.nheaders = hdr ? 1 : 0;
    return bb_http_cookie(&req, name, buf, cap);
}

static void test_cookie(void **state)
{
    (void)state;
    char buf[16];
    assert_string_equal(cookie("a=1; tenant_session_token=abc; b=2", "tenant_session_token", buf,
                               sizeof buf),
                        "abc");
    assert_string_equal(cookie("tenant_session_token=\"q\"", "tenant_session_token", buf,
                               sizeof buf),
                        "q");
    assert_string_equal(cookie("session_token=s;tenant_session_token=t", "session_token", buf,
                               sizeof buf),
                        "s");
    assert_null(cookie("tenant_session_token_x=1; x_tenant_session_token=2",
                       "tenant_session_token", buf, sizeof buf));
    assert_null(cookie("tenant_session_token=", "tenant_session_token", buf, sizeof buf));
    assert_null(cookie("tenant_session_token=0123456789abcdef", "tenant_session_token", buf,
                       sizeof buf)); /* does not fit */
    assert_null(cookie(NULL, "tenant_session_token", buf, sizeof buf));
}

static void test_knobs(void **state)
{
    (void)state;
    struct ta_conf c;
    char err[256] = "";
    unsetenv("BUNBASE_TENANT_AUTH_MAILER");
    assert_int_equal(ta_config_load(&c, err, sizeof err), 0);
    assert_string_equal(c.mailer, "log");
    assert_int_equal(c.access_ttl_s, 900);
    assert_int_equal(c.rate_limit, 1);
    setenv("BUNBASE_TENANT_AUTH_MAILER", "pigeon", 1);
    assert_int_equal(ta_config_load(&c, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "BUNBASE_TENANT_AUTH_MAILER"));
    unsetenv("BUNBASE_TENANT_AUTH_MAILER");
    setenv("BUNBASE_TENANT_AUTH_ACCESS_TTL_S", "5", 1);
    assert_int_equal(ta_config_load(&c, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "BUNBASE_TENANT_AUTH_ACCESS_TTL_S"));
    unsetenv("BUNBASE_TENANT_AUTH_ACCESS_TTL_S");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_knobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
