/* test_bun_auth.c — bun-auth against a real embedded PostgreSQL: accounts, login, refresh rotation
 * and reuse detection, logout, sessions, and the resolver through a router and
 * bb_http_dispatch_local, with hand-crafted tokens for each rejection (alg none, HS256 keyed with
 * the public key, unknown kid, tampered bytes, expired, wrong iss/aud), key rotation with its
 * grace window, the JWKS, a restart keeping the key, and a second instance seeing another's keys
 * and revocations through PostgreSQL.
 *
 * One cluster for the file (group setup); Argon2id at its lowest cost so the file runs in seconds.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ba_int.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_json.h"
#include "bb_migrations.h"
#include "bb_pg.h"
#include "bb_router.h"
#include "bun_auth.h"

static char tmp_root[64];
static char data_dir[128];
static struct bb_pg_cluster *cluster;
static struct bb_pg_pool *pool;
static struct bb_config cfg;
static struct bun_auth *A;
static struct bb_router *R;
static int email_seq;

/* ---- helpers ----------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void new_email(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "%s%d@Example.com", tag, ++email_seq);
}

/* GET /me: who the resolver said it is, as "uid sid email". */
static void h_me(struct bb_http_request *req, struct bb_http_response *res)
{
    const struct bb_identity *id = &req->identity;
    char out[512];
    int n = snprintf(out, sizeof out, "%s %s %s", id->uid ? id->uid : "-",
                     bb_json_str(id->claims, "sid", "-"), bb_json_str(id->claims, "email", "-"));
    bb_http_reply_copy(res, 200, "text/plain", out, (size_t)n);
}

static const struct bb_route routes[] = {
    {"GET", "/me", h_me, BB_IDENTITY_DEVELOPER_SESSION, 0, 0, NULL},
    {"GET", "/public", h_me, BB_AUTH_NONE, 0, 0, NULL},
};

/* Dispatches GET path on router r with an Authorization bearer and/or a Cookie; returns the
 * status, copies the JSON error code (or the body on 200) into out. */
static int call(struct bb_router *r, const char *path, const char *bearer, const char *cookie,
                char *out, size_t cap)
{
    struct bb_http_header h[2];
    size_t n = 0;
    char ab[8192], cb[512];
    if (bearer) {
        snprintf(ab, sizeof ab, "Bearer %s", bearer);
        h[n++] = (struct bb_http_header){"Authorization", ab};
    }
    if (cookie) {
        snprintf(cb, sizeof cb, "theme=dark; session_token=%s; x=y", cookie);
        h[n++] = (struct bb_http_header){"Cookie", cb};
    }
    struct bb_http_local_request lr = {"GET", path, h, n, NULL, 0};
    struct bb_http_response *res = NULL;
    assert_int_equal(bb_http_dispatch_local(r, 1000, "internal-tok", &lr, &res), 0);
    int st = res->status;
    if (out && cap) {
        out[0] = '\0';
        if (st == 200) {
            snprintf(out, cap, "%.*s", (int)res->body_len, res->body);
        } else {
            json_error_t je;
            json_t *j = json_loadb(res->body, res->body_len, 0, &je);
            snprintf(out, cap, "%s",
                     json_string_value(json_object_get(j, "code"))
                         ? json_string_value(json_object_get(j, "code"))
                         : "?");
            json_decref(j);
        }
    }
    bb_http_response_free(res);
    return st;
}

static void expect_reject(const char *tok, const char *code)
{
    char out[512];
    int st = call(R, "/me", tok, NULL, out, sizeof out);
    if (st != 401 || strcmp(out, code) != 0)
        fail_msg("token %.60s…: expected 401 %s, got %d %s", tok, code, st, out);
}

static void b64(const void *p, size_t n, char *out, size_t cap)
{
    assert_true(bb_base64url_encode(p, n, out, cap) > 0 || n == 0);
}

/* Builds "b64(header).b64(payload)" into out. */
static void signing_input(const char *header, const char *payload, char *out, size_t cap)
{
    char h[2048], p[4096];
    b64(header, strlen(header), h, sizeof h);
    b64(payload, strlen(payload), p, sizeof p);
    snprintf(out, cap, "%s.%s", h, p);
}

static EVP_PKEY *load_priv(const char *kid)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bun_auth/key-%s.pem", data_dir, kid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

/* A token for header/payload signed with Ed25519 key k (by this test, not by bun-auth). */
static char *sign_ed25519(EVP_PKEY *k, const char *header, const char *payload)
{
    char *tok = malloc(8192);
    signing_input(header, payload, tok, 8192);
    uint8_t sig[64];
    size_t sl = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (uint8_t *)tok, strlen(tok)), 1);
    EVP_MD_CTX_free(ctx);
    size_t o = strlen(tok);
    tok[o++] = '.';
    b64(sig, sl, tok + o, 8192 - o);
    return tok;
}

static void payload_for(char *out, size_t cap, const char *iss, const char *aud, const char *sub,
                        const char *sid, long long iat, long long exp)
{
    snprintf(out, cap,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,"
             "\"exp\":%lld,\"jti\":\"j1\"}",
             iss, aud, sub, sid, iat, exp);
}

/* The kid in a token's header. */
static void token_kid(const char *tok, char *kid, size_t cap)
{
    const char *dot = strchr(tok, '.');
    uint8_t h[512];
    size_t hl = 0;
    assert_int_equal(bb_base64url_decode(tok, (size_t)(dot - tok), h, sizeof h, &hl), 0);
    json_error_t je;
    json_t *j = json_loadb((char *)h, hl, 0, &je);
    assert_non_null(j);
    snprintf(kid, cap, "%s", json_string_value(json_object_get(j, "kid")));
    json_decref(j);
}

static void login_ok(const char *email, const char *pw, struct bun_auth_user *u,
                     struct bun_auth_tokens *t)
{
    struct bun_auth_client cl = {"127.0.0.1", "cmocka/1.0"};
    assert_int_equal(bun_auth_login(A, email, pw, &cl, u, t), 0);
    assert_non_null(t->access_token);
    assert_non_null(t->refresh_token);
    assert_non_null(t->session_token);
}

static void make_user(const char *tag, char *email, size_t cap, struct bun_auth_user *u)
{
    new_email(email, cap, tag);
    char err[200] = "";
    assert_int_equal(bun_auth_register(A, email, "correct horse", "Dev", u, err, sizeof err), 0);
}

static struct bun_auth *instance(const char *dir)
{
    struct bb_config c = cfg;
    snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    struct bun_auth_opts o = {.cfg = &c, .pg = pool, .sync_thread = 0};
    struct bun_auth *a = NULL;
    char err[256] = "";
    int rc = bun_auth_new(&o, &a, err, sizeof err);
    if (rc) fail_msg("bun_auth_new: %s (%s)", err, bb_strerror(rc));
    return a;
}

/* ---- setup ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/bb_auth_test.XXXXXX");
    if (!mkdtemp(tmp_root)) return -1;
    chmod(tmp_root, 0711);
    char dir[128], err[512] = "";
    snprintf(dir, sizeof dir, "%s/pg", tmp_root);
    if (bb_pg_cluster_start(dir, NULL, &cluster, err, sizeof err) != 0) {
        fprintf(stderr, "bb_pg_cluster_start: %s\n", err);
        return -1;
    }
    const char *ci = bb_pg_cluster_conninfo(cluster);
    PGconn *c = NULL;
    if (bb_pg_connect(ci, &c, err, sizeof err) != 0) return -1;
    int rc =
        bb_pg_migrate(c, bb_migrations_bun_auth, bb_migrations_bun_auth_count, err, sizeof err);
    PQfinish(c);
    if (rc) {
        fprintf(stderr, "migrate: %s\n", err);
        return -1;
    }
    if (bb_pg_pool_new(ci, 4, &pool) != 0) return -1;
    setenv("BUNBASE_BUN_AUTH_ARGON2_OPSLIMIT", "1", 1);
    setenv("BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB", "64", 1);
    setenv("BUNBASE_BUN_AUTH_KEY_GRACE_S", "600", 1);
    snprintf(data_dir, sizeof data_dir, "%s/data", tmp_root);
    setenv("BUNBASE_DATA", data_dir, 1);
    if (bb_config_load(&cfg, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    A = instance(data_dir);
    bb_router_new(&R);
    bb_router_add(R, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_identity_resolver res = {"bun-auth", bun_auth_resolve, A};
    bb_router_add_resolver(R, &res);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    bb_router_free(R);
    bun_auth_free(A);
    bb_pg_pool_free(pool);
    bb_pg_cluster_stop(cluster);
    nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- accounts ---------------------------------------------------------------------------- */

static void test_register(void **state)
{
    (void)state;
    char email[128], err[200] = "";
    struct bun_auth_user u, v;
    new_email(email, sizeof email, "reg");
    assert_int_equal(bun_auth_register(A, email, "correct horse", "Ada", &u, err, sizeof err), 0);
    assert_int_equal(strlen(u.id), 26);
    char lower[128];
    for (size_t i = 0; i <= strlen(email); i++)
        lower[i] = (char)tolower((unsigned char)email[i]);
    assert_string_equal(u.email, lower); /* normalized */
    assert_string_equal(u.name, "Ada");
    assert_true(u.created_at_ms > 1700000000000LL);

    /* the same address in another case, with spaces around: taken */
    char upper[140];
    snprintf(upper, sizeof upper, "  %s ", email);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    assert_int_equal(bun_auth_register(A, upper, "another pass", "Eve", NULL, err, sizeof err),
                     BB_EEXIST);
    assert_non_null(strstr(err, "exists"));

    /* lookups, case-insensitive */
    assert_int_equal(bun_auth_user_by_email(A, upper, &v), 0);
    assert_string_equal(v.id, u.id);
    assert_int_equal(bun_auth_user_get(A, u.id, &v), 0);
    assert_string_equal(v.email, lower);
    assert_int_equal(bun_auth_user_get(A, "01NOSUCHUSER0000000000000", &v), BB_ENOTFOUND);
    assert_int_equal(bun_auth_user_by_email(A, "nobody@example.com", &v), BB_ENOTFOUND);

    /* bad input: BB_EINVAL with a reason */
    const char *bad[] = {"",
                         "plain",
                         "a@b",
                         "two@@example.com",
                         "a b@x.com",
                         "@example.com",
                         "a@.example.com",
                         "a@example..com",
                         "a@example.",
                         "a@-example.com",
                         "a@exa_mple.com",
                         "é@example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (bun_auth_register(A, bad[i], "correct horse", "x", NULL, err, sizeof err) != BB_EINVAL)
            fail_msg("email \"%s\" accepted", bad[i]);
        assert_non_null(strstr(err, "email"));
    }
    char longmail[300];
    memset(longmail, 'a', 250);
    memcpy(longmail + 250, "@x.io", 6);
    assert_int_equal(bun_auth_register(A, longmail, "correct horse", "x", NULL, err, sizeof err),
                     BB_EINVAL);
    new_email(email, sizeof email, "pw");
    assert_int_equal(bun_auth_register(A, email, "short", "x", NULL, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "at least 8"));
    char longpw[300];
    memset(longpw, 'p', 257);
    longpw[257] = '\0';
    assert_int_equal(bun_auth_register(A, email, longpw, "x", NULL, err, sizeof err), BB_EINVAL);
    assert_non_null(strstr(err, "at most 256"));
    char longname[300];
    memset(longname, 'n', 201);
    longname[201] = '\0';
    assert_int_equal(bun_auth_register(A, email, "correct horse", longname, NULL, err, sizeof err),
                     BB_EINVAL);
    assert_int_equal(
        bun_auth_register(A, email, "correct horse", "bad\x01name", NULL, err, sizeof err),
        BB_EINVAL);
    assert_int_equal(
        bun_auth_register(A, email, "correct horse", "\xff\xfe", NULL, err, sizeof err), BB_EINVAL);
    /* none of those created the account */
    assert_int_equal(bun_auth_user_by_email(A, email, &v), BB_ENOTFOUND);
    /* a name of exactly the maximum, NULL name */
    longname[200] = '\0';
    assert_int_equal(bun_auth_register(A, email, "correct horse", longname, &v, err, sizeof err),
                     0);
    new_email(email, sizeof email, "noname");
    assert_int_equal(bun_auth_register(A, email, "correct horse", NULL, &v, err, sizeof err), 0);
    assert_string_equal(v.name, "");
}

static void test_login(void **state)
{
    (void)state;
    char email[128];
    struct bun_auth_user u, lu;
    struct bun_auth_tokens t;
    make_user("login", email, sizeof email, &u);
    login_ok(email, "correct horse", &lu, &t);
    assert_string_equal(lu.id, u.id);
    assert_string_equal(lu.email, u.email);
    assert_int_equal(strncmp(t.session_token, "bbs_", 4), 0);
    assert_int_equal(strncmp(t.refresh_token, "bbr_", 4), 0);
    assert_true(t.access_expires_at > time(NULL) + 800 && t.access_expires_at <= time(NULL) + 900);
    assert_true(t.refresh_expires_at > time(NULL) + 86400);
    bun_auth_tokens_release(&t);
    /* the upper-cased address logs in too */
    char upper[128];
    snprintf(upper, sizeof upper, "%s", email);
    for (char *p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    login_ok(upper, "correct horse", NULL, &t);
    bun_auth_tokens_release(&t);

    /* wrong password, unknown email, malformed email, empty: the same BB_EAUTH, nothing handed out
     */
    const char *cases[][2] = {{email, "wrong horse"},
                              {"nobody-here@example.com", "correct horse"},
                              {"not an email", "correct horse"},
                              {email, ""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&t, 0x5a, sizeof t);
        assert_int_equal(bun_auth_login(A, cases[i][0], cases[i][1], NULL, NULL, &t), BB_EAUTH);
        assert_null(t.access_token);
        assert_null(t.refresh_token);
        assert_null(t.session_token);
    }
}

/* A password hashed at an older cost is rehashed at its next login. */
static void test_rehash_on_cost_change(void **state)
{
    (void)state;
    char email[128];
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("rehash", email, sizeof email, &u);
    PGconn *c = NULL;
    assert_int_equal(bb_pg_pool_acquire(pool, &c, 1000), 0);
    const char *p[1] = {u.id};
    PGresult *r = PQexecParams(c, "SELECT password_hash FROM bun_auth_users WHERE id = $1", 1, NULL,
                               p, NULL, NULL, 0);
    char before[200];
    snprintf(before, sizeof before, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_non_null(strstr(before, "$argon2id$"));
    assert_non_null(strstr(before, "m=64,t=1"));
    size_t old = A->c.memlimit;
    A->c.memlimit = 128 * 1024;
    login_ok(email, "correct horse", NULL, &t);
    bun_auth_tokens_release(&t);
    A->c.memlimit = old;
    r = PQexecParams(c, "SELECT password_hash FROM bun_auth_users WHERE id = $1", 1, NULL, p, NULL,
                     NULL, 0);
    assert_non_null(strstr(PQgetvalue(r, 0, 0), "m=128,t=1"));
    PQclear(r);
    bb_pg_pool_release(pool, c);
    login_ok(email, "correct horse", NULL, &t); /* still the same password */
    bun_auth_tokens_release(&t);
}

/* ---- resolver ---------------------------------------------------------------------------- */

static void test_resolver_roundtrip(void **state)
{
    (void)state;
    char email[128], out[512], want[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("res", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t);
    snprintf(want, sizeof want, "%s %s %s", u.id, t.session_id, u.email);
    assert_int_equal(call(R, "/me", t.access_token, NULL, out, sizeof out), 200);
    assert_string_equal(out, want);
    assert_int_equal(call(R, "/me", NULL, t.session_token, out, sizeof out), 200);
    assert_string_equal(out, want);
    /* the bearer wins over the cookie and is checked as such */
    assert_int_equal(call(R, "/me", "bbp_notours", t.session_token, out, sizeof out), 401);
    assert_string_equal(out, "unauthenticated");
    /* a bearer that is not a JWT is not ours: anonymous, so 401 unauthenticated, not token_* */
    assert_int_equal(call(R, "/me", "sk_live_abc", NULL, out, sizeof out), 401);
    assert_string_equal(out, "unauthenticated");
    assert_int_equal(call(R, "/public", "sk_live_abc", NULL, out, sizeof out), 200);
    /* an unknown cookie is left anonymous: a public route still works (stale browser cookies
     * must not lock anyone out of login), a developer route is 401 */
    assert_int_equal(call(R, "/public", NULL, "bbs_unknown", out, sizeof out), 200);
    assert_int_equal(call(R, "/me", NULL, "bbs_unknown", out, sizeof out), 401);
    assert_string_equal(out, "unauthenticated");
    /* a token that verified before (now served from the cache) still expires */
    bun_auth_test_clock_offset(A, 900 + 31);
    assert_int_equal(call(R, "/me", t.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "token_expired");
    bun_auth_test_clock_offset(A, 0);
    assert_int_equal(call(R, "/me", t.access_token, NULL, out, sizeof out), 200);
    bun_auth_tokens_release(&t);
}

/* BUNBASE_BUN_AUTH_MAX_SESSIONS: a login past the cap revokes the oldest sessions. */
static void test_session_cap(void **state)
{
    (void)state;
    char email[128], out[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t[4];
    make_user("cap", email, sizeof email, &u);
    size_t old = A->c.max_sessions;
    A->c.max_sessions = 3;
    for (int i = 0; i < 4; i++)
        login_ok(email, "correct horse", NULL, &t[i]);
    A->c.max_sessions = old;
    assert_int_equal(call(R, "/me", t[0].access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    for (int i = 1; i < 4; i++)
        assert_int_equal(call(R, "/me", t[i].access_token, NULL, out, sizeof out), 200);
    json_t *list = NULL;
    assert_int_equal(bun_auth_sessions(A, u.id, &list), 0);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    struct bun_auth_tokens x;
    assert_int_equal(bun_auth_refresh(A, t[0].refresh_token, NULL, &x), BB_EAUTH);
    for (int i = 0; i < 4; i++)
        bun_auth_tokens_release(&t[i]);
}

static void test_jwt_rejections(void **state)
{
    (void)state;
    char email[128], kid[128], hdr[256], pl[1024], si[4096];
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("jwt", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t);
    token_kid(t.access_token, kid, sizeof kid);
    long long now = (long long)time(NULL);
    EVP_PKEY *priv = load_priv(kid);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);

    /* a token the test signs itself with the real key is accepted: the crafting is sound */
    payload_for(pl, sizeof pl, "bunbase", "bunbase-api", u.id, t.session_id, now, now + 300);
    char *good = sign_ed25519(priv, hdr, pl);
    char out[512];
    assert_int_equal(call(R, "/me", good, NULL, out, sizeof out), 200);
    free(good);

    /* alg none, unsigned */
    char h2[256];
    snprintf(h2, sizeof h2, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    signing_input(h2, pl, si, sizeof si);
    strcat(si, ".");
    expect_reject(si, "token_alg_not_allowed");
    /* "None", "", missing alg */
    snprintf(h2, sizeof h2, "{\"alg\":\"None\",\"kid\":\"%s\"}", kid);
    signing_input(h2, pl, si, sizeof si);
    strcat(si, ".");
    expect_reject(si, "token_alg_not_allowed");
    snprintf(h2, sizeof h2, "{\"kid\":\"%s\"}", kid);
    signing_input(h2, pl, si, sizeof si);
    strcat(si, ".AAAA");
    expect_reject(si, "token_alg_not_allowed");

    /* HS256 keyed with the public key (raw bytes, and its base64url text): alg confusion */
    json_t *jwks = NULL;
    assert_int_equal(bun_auth_jwks(A, &jwks), 0);
    const char *x =
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "x"));
    uint8_t raw[32];
    size_t rl = 0;
    assert_int_equal(bb_base64url_decode(x, strlen(x), raw, sizeof raw, &rl), 0);
    const char *algs[] = {"HS256", "HS384", "RS256", "ES256", "PS256", "EdDSA "};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        snprintf(h2, sizeof h2, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i], kid);
        for (int variant = 0; variant < 2; variant++) {
            signing_input(h2, pl, si, sizeof si);
            uint8_t mac[BB_SHA256_LEN];
            if (variant == 0)
                bb_hmac_sha256(raw, 32, si, strlen(si), mac);
            else
                bb_hmac_sha256(x, strlen(x), si, strlen(si), mac);
            size_t o = strlen(si);
            si[o++] = '.';
            b64(mac, sizeof mac, si + o, sizeof si - o);
            expect_reject(si, "token_alg_not_allowed");
        }
    }
    json_decref(jwks);

    /* unknown kid (signed by a stranger's key), and a stranger's key under our kid */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    snprintf(h2, sizeof h2, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"not-a-key-we-know\"}");
    char *tok = sign_ed25519(other, h2, pl);
    expect_reject(tok, "token_unknown_kid");
    free(tok);
    snprintf(h2, sizeof h2, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}");
    tok = sign_ed25519(priv, h2, pl);
    expect_reject(tok, "token_unknown_kid");
    free(tok);
    tok = sign_ed25519(other, hdr, pl);
    expect_reject(tok, "token_invalid_signature");
    free(tok);
    EVP_PKEY_free(other);

    /* tampering: a payload byte, a header byte (still valid base64url JSON), a signature byte */
    char *a = strdup(t.access_token);
    char *d1 = strchr(a, '.'), *d2 = strchr(d1 + 1, '.');
    size_t mid = (size_t)(d1 - a) + (size_t)(d2 - d1) / 2;
    a[mid] = a[mid] == 'A' ? 'B' : 'A';
    expect_reject(a, "token_invalid_signature");
    free(a);
    a = strdup(t.access_token);
    d1 = strchr(a, '.');
    d2 = strchr(d1 + 1, '.');
    d2[5] = d2[5] == 'A' ? 'B' : 'A';
    expect_reject(a, "token_invalid_signature");
    free(a);
    {
        /* same signature, header with an extra member */
        char h3[256], seg[512];
        snprintf(h3, sizeof h3, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\",\"x\":1}", kid);
        b64(h3, strlen(h3), seg, sizeof seg);
        const char *rest = strchr(t.access_token, '.');
        char *tampered = malloc(strlen(seg) + strlen(rest) + 1);
        sprintf(tampered, "%s%s", seg, rest);
        expect_reject(tampered, "token_invalid_signature");
        free(tampered);
    }
    /* a signature of the wrong length, an empty one */
    a = strdup(t.access_token);
    d2 = strrchr(a, '.');
    d2[20] = '\0';
    expect_reject(a, "token_invalid_signature");
    d2[1] = '\0';
    expect_reject(a, "token_invalid_signature");
    free(a);

    /* claims, each signed properly with the real key */
    struct {
        const char *iss, *aud;
        long long iat, exp;
        const char *code;
    } claims[] = {
        {"bunbase", "bunbase-api", now - 7200, now - 3600, "token_expired"},
        {"bunbase", "bunbase-api", now - 1000, now - 31, "token_expired"}, /* past the leeway */
        {"bunbase", "other-api", now, now + 300, "token_wrong_audience"},
        {"bun-auth", "bunbase-api", now, now + 300, "token_wrong_issuer"},
        {"bunbase", "bunbase-api", now + 3600, now + 7200, "token_not_yet_valid"},
    };
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        payload_for(pl, sizeof pl, claims[i].iss, claims[i].aud, u.id, t.session_id, claims[i].iat,
                    claims[i].exp);
        tok = sign_ed25519(priv, hdr, pl);
        expect_reject(tok, claims[i].code);
        free(tok);
    }
    /* within the leeway: accepted */
    payload_for(pl, sizeof pl, "bunbase", "bunbase-api", u.id, t.session_id, now - 1000, now - 5);
    tok = sign_ed25519(priv, hdr, pl);
    assert_int_equal(call(R, "/me", tok, NULL, out, sizeof out), 200);
    free(tok);
    /* aud as an array holding ours: accepted */
    snprintf(pl, sizeof pl,
             "{\"iss\":\"bunbase\",\"aud\":[\"x\",\"bunbase-api\"],\"sub\":\"%s\",\"sid\":\"%s\","
             "\"exp\":%lld}",
             u.id, t.session_id, now + 60);
    tok = sign_ed25519(priv, hdr, pl);
    assert_int_equal(call(R, "/me", tok, NULL, out, sizeof out), 200);
    free(tok);
    /* no exp, no sub, sub not matching the session's user, duplicate keys */
    snprintf(pl, sizeof pl,
             "{\"iss\":\"bunbase\",\"aud\":\"bunbase-api\",\"sub\":\"%s\",\"sid\":\"%s\"}", u.id,
             t.session_id);
    tok = sign_ed25519(priv, hdr, pl);
    expect_reject(tok, "token_malformed");
    free(tok);
    snprintf(pl, sizeof pl,
             "{\"iss\":\"bunbase\",\"aud\":\"bunbase-api\",\"sid\":\"%s\",\"exp\":%lld}",
             t.session_id, now + 60);
    tok = sign_ed25519(priv, hdr, pl);
    expect_reject(tok, "token_malformed");
    free(tok);
    payload_for(pl, sizeof pl, "bunbase", "bunbase-api", "01SOMEONEELSE000000000000", t.session_id,
                now, now + 60);
    tok = sign_ed25519(priv, hdr, pl);
    expect_reject(tok, "token_malformed");
    free(tok);
    snprintf(pl, sizeof pl,
             "{\"iss\":\"bunbase\",\"aud\":\"bunbase-api\",\"sub\":\"%s\",\"sid\":\"%s\","
             "\"exp\":%lld,\"exp\":%lld}",
             u.id, t.session_id, now - 100, now + 60);
    tok = sign_ed25519(priv, hdr, pl);
    expect_reject(tok, "token_malformed");
    free(tok);
    /* header not JSON */
    expect_reject("bm90IGpzb24.e30.AAAA", "token_malformed");
    /* bounds: a token over 4 KiB, a header over 1 KiB (both still JWT-shaped) */
    {
        char *big = malloc(5000);
        memset(big, 'A', 4999);
        big[4999] = '\0';
        big[100] = '.';
        big[200] = '.';
        expect_reject(big, "token_malformed");
        char hb[1200];
        int hn = snprintf(hb, sizeof hb, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"pad\":\"", kid);
        memset(hb + hn, 'p', 1100 - (size_t)hn);
        memcpy(hb + 1100, "\"}", 3);
        signing_input(hb, pl, big, 5000);
        strcat(big, ".AAAA");
        expect_reject(big, "token_malformed");
        free(big);
    }

    EVP_PKEY_free(priv);
    bun_auth_tokens_release(&t);
}

/* ---- refresh, logout, sessions ------------------------------------------------------------ */

static void test_refresh_rotation_and_reuse(void **state)
{
    (void)state;
    char email[128], out[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t, t2, t3, t4;
    make_user("refresh", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t);
    struct bun_auth_client cl = {"10.0.0.9", "agent\x01two"};
    assert_int_equal(bun_auth_refresh(A, t.refresh_token, &cl, &t2), 0);
    assert_string_equal(t2.session_id, t.session_id);
    assert_null(t2.session_token);
    assert_string_not_equal(t2.refresh_token, t.refresh_token);
    assert_string_not_equal(t2.access_token, t.access_token);
    assert_int_equal(call(R, "/me", t2.access_token, NULL, out, sizeof out), 200);
    /* the next one rotates again */
    assert_int_equal(bun_auth_refresh(A, t2.refresh_token, NULL, &t3), 0);
    /* the sessions list shows the client of the last refresh (cleaned) */
    json_t *list = NULL;
    assert_int_equal(bun_auth_sessions(A, u.id, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "ip")),
                        "10.0.0.9");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "user_agent")),
                        "agent?two");
    json_decref(list);

    /* garbage and unknown tokens */
    assert_int_equal(bun_auth_refresh(A, "bbr_nope", NULL, &t4), BB_EAUTH);
    assert_int_equal(bun_auth_refresh(A, "", NULL, &t4), BB_EAUTH);
    assert_int_equal(bun_auth_refresh(A, NULL, NULL, &t4), BB_EAUTH);
    assert_int_equal(bun_auth_refresh(A, t.session_token, NULL, &t4), BB_EAUTH);
    assert_int_equal(call(R, "/me", t3.access_token, NULL, out, sizeof out), 200);

    /* reuse of the first (already used) token: the whole family dies */
    assert_int_equal(bun_auth_refresh(A, t.refresh_token, NULL, &t4), BB_EAUTH);
    assert_null(t4.access_token);
    assert_int_equal(bun_auth_refresh(A, t3.refresh_token, NULL, &t4), BB_EAUTH); /* rotated-to */
    assert_int_equal(call(R, "/me", t3.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    assert_int_equal(call(R, "/me", t.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    assert_int_equal(call(R, "/me", NULL, t.session_token, out, sizeof out), 401);
    assert_string_equal(out, "unauthenticated");
    assert_int_equal(bun_auth_sessions(A, u.id, &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* a new login is a new family, unaffected */
    struct bun_auth_tokens n;
    login_ok(email, "correct horse", NULL, &n);
    assert_int_equal(bun_auth_refresh(A, n.refresh_token, NULL, &t4), 0);
    bun_auth_tokens_release(&t4);
    bun_auth_tokens_release(&n);
    bun_auth_tokens_release(&t);
    bun_auth_tokens_release(&t2);
    bun_auth_tokens_release(&t3);
}

/* An expired refresh token or session is refused (clock moved forward). */
static void test_refresh_expiry(void **state)
{
    (void)state;
    char email[128], out[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t, t2;
    make_user("rexp", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t);
    bun_auth_test_clock_offset(A, 2592000 + 10);
    assert_int_equal(bun_auth_refresh(A, t.refresh_token, NULL, &t2), BB_EAUTH);
    assert_int_equal(call(R, "/me", NULL, t.session_token, out, sizeof out), 401);
    bun_auth_test_clock_offset(A, 0);
    assert_int_equal(call(R, "/me", NULL, t.session_token, out, sizeof out), 200);
    assert_int_equal(bun_auth_refresh(A, t.refresh_token, NULL, &t2), 0); /* unused until now */
    bun_auth_tokens_release(&t2);
    bun_auth_tokens_release(&t);
}

static void test_logout_and_sessions(void **state)
{
    (void)state;
    char ea[128], eb[128], out[512];
    struct bun_auth_user ua, ub;
    struct bun_auth_tokens a1, a2, b1;
    make_user("la", ea, sizeof ea, &ua);
    make_user("lb", eb, sizeof eb, &ub);
    login_ok(ea, "correct horse", NULL, &a1);
    login_ok(ea, "correct horse", NULL, &a2);
    login_ok(eb, "correct horse", NULL, &b1);
    json_t *list = NULL;
    assert_int_equal(bun_auth_sessions(A, ua.id, &list), 0);
    assert_int_equal(json_array_size(list), 2);
    json_t *first = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), a2.session_id);
    assert_string_equal(json_string_value(json_object_get(first, "ip")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(first, "user_agent")), "cmocka/1.0");
    const char *ca = json_string_value(json_object_get(first, "created_at"));
    assert_non_null(ca);
    assert_int_equal(strlen(ca), 24); /* 2026-12-02T18:00:00.000Z */
    assert_int_equal(ca[23], 'Z');
    assert_non_null(json_object_get(first, "expires_at"));
    assert_non_null(json_object_get(first, "last_used_at"));
    json_decref(list);
    assert_int_equal(bun_auth_sessions(A, "01NOBODY00000000000000000", &list), 0);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);

    /* someone else's session cannot be revoked through my id */
    assert_int_equal(bun_auth_session_revoke(A, ua.id, b1.session_id), BB_ENOTFOUND);
    assert_int_equal(call(R, "/me", b1.access_token, NULL, out, sizeof out), 200);
    assert_int_equal(bun_auth_logout(A, "01NOSUCHSESSION0000000000"), BB_ENOTFOUND);

    /* logout of one session: that one stops at once, the other goes on */
    assert_int_equal(bun_auth_logout(A, a1.session_id), 0);
    assert_int_equal(call(R, "/me", a1.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    assert_int_equal(call(R, "/me", NULL, a1.session_token, out, sizeof out), 401);
    assert_int_equal(call(R, "/me", a2.access_token, NULL, out, sizeof out), 200);
    assert_int_equal(call(R, "/me", NULL, a2.session_token, out, sizeof out), 200);
    struct bun_auth_tokens x;
    assert_int_equal(bun_auth_refresh(A, a1.refresh_token, NULL, &x), BB_EAUTH);
    assert_int_equal(bun_auth_sessions(A, ua.id, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_int_equal(bun_auth_session_revoke(A, ua.id, a1.session_id), BB_ENOTFOUND); /* gone */

    /* logout everywhere: every session of A, none of B */
    struct bun_auth_tokens a3;
    login_ok(ea, "correct horse", NULL, &a3);
    assert_int_equal(bun_auth_logout_all(A, ua.id), 0);
    assert_int_equal(call(R, "/me", a2.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    assert_int_equal(call(R, "/me", a3.access_token, NULL, out, sizeof out), 401);
    assert_int_equal(call(R, "/me", NULL, a3.session_token, out, sizeof out), 401);
    assert_int_equal(bun_auth_refresh(A, a3.refresh_token, NULL, &x), BB_EAUTH);
    assert_int_equal(bun_auth_sessions(A, ua.id, &list), 0);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(call(R, "/me", b1.access_token, NULL, out, sizeof out), 200);
    assert_int_equal(call(R, "/me", NULL, b1.session_token, out, sizeof out), 200);

    /* a session revoked through session_revoke */
    assert_int_equal(bun_auth_session_revoke(A, ub.id, b1.session_id), 0);
    assert_int_equal(call(R, "/me", b1.access_token, NULL, out, sizeof out), 401);
    /* and a fresh login after logout-everywhere works */
    login_ok(ea, "correct horse", NULL, &x);
    assert_int_equal(call(R, "/me", x.access_token, NULL, out, sizeof out), 200);
    bun_auth_tokens_release(&x);
    bun_auth_tokens_release(&a1);
    bun_auth_tokens_release(&a2);
    bun_auth_tokens_release(&a3);
    bun_auth_tokens_release(&b1);
}

/* ---- keys -------------------------------------------------------------------------------- */

static void check_jwk(json_t *k)
{
    assert_string_equal(json_string_value(json_object_get(k, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(k, "crv")), "Ed25519");
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    const char *x = json_string_value(json_object_get(k, "x"));
    uint8_t raw[40];
    size_t rl = 0;
    assert_int_equal(bb_base64url_decode(x, strlen(x), raw, sizeof raw, &rl), 0);
    assert_int_equal(rl, 32);
    assert_null(json_object_get(k, "d")); /* never the private part */
    /* kid is the RFC 7638 thumbprint */
    char jwk[128], th[64];
    snprintf(jwk, sizeof jwk, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    uint8_t d[32];
    bb_sha256(jwk, strlen(jwk), d);
    b64(d, sizeof d, th, sizeof th);
    assert_string_equal(json_string_value(json_object_get(k, "kid")), th);
}

static void test_jwks_and_key_files(void **state)
{
    (void)state;
    json_t *j = NULL;
    assert_int_equal(bun_auth_jwks(A, &j), 0);
    json_t *keys = json_object_get(j, "keys");
    assert_true(json_array_size(keys) >= 1);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) check_jwk(k);
    char kid[128], path[512];
    ba_current_kid(A, kid, sizeof kid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), kid);
    json_decref(j);
    struct stat st;
    snprintf(path, sizeof path, "%s/bun_auth", data_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/bun_auth/key-%s.pem", data_dir, kid);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/bun_auth/keys.json", data_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the public half is in PostgreSQL for the other processes */
    PGconn *c = NULL;
    assert_int_equal(bb_pg_pool_acquire(pool, &c, 1000), 0);
    const char *p[1] = {kid};
    PGresult *r = PQexecParams(c, "SELECT count(*) FROM bun_auth_keys WHERE kid = $1", 1, NULL, p,
                               NULL, NULL, 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    bb_pg_pool_release(pool, c);
}

static void test_key_rotation_grace(void **state)
{
    (void)state;
    char email[128], out[512], k1[128], k2[128], tk[128], path[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t1, t2;
    make_user("rot", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t1);
    ba_current_kid(A, k1, sizeof k1);
    token_kid(t1.access_token, tk, sizeof tk);
    assert_string_equal(tk, k1);
    assert_int_equal(bun_auth_rotate_key(A, k2, sizeof k2), 0);
    assert_string_not_equal(k1, k2);
    ba_current_kid(A, tk, sizeof tk);
    assert_string_equal(tk, k2);
    /* new tokens carry the new kid; the old token still verifies (grace) */
    login_ok(email, "correct horse", NULL, &t2);
    token_kid(t2.access_token, tk, sizeof tk);
    assert_string_equal(tk, k2);
    assert_int_equal(call(R, "/me", t1.access_token, NULL, out, sizeof out), 200);
    assert_int_equal(call(R, "/me", t2.access_token, NULL, out, sizeof out), 200);
    json_t *j = NULL;
    assert_int_equal(bun_auth_jwks(A, &j), 0);
    json_t *keys = json_object_get(j, "keys");
    assert_int_equal(json_array_size(keys), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), k2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "kid")), k1);
    json_decref(j);
    /* past the grace window (600 s here), before the old token's own expiry (900 s): refused
     * because its key is gone, and the JWKS no longer lists it */
    bun_auth_test_clock_offset(A, 700);
    assert_int_equal(call(R, "/me", t1.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "token_unknown_kid");
    assert_int_equal(call(R, "/me", t2.access_token, NULL, out, sizeof out), 200);
    assert_int_equal(bun_auth_jwks(A, &j), 0);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 1);
    json_decref(j);
    /* a rotation then forgets the old key and deletes its file */
    char k3[128];
    assert_int_equal(bun_auth_rotate_key(A, k3, sizeof k3), 0);
    snprintf(path, sizeof path, "%s/bun_auth/key-%s.pem", data_dir, k1);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/bun_auth/key-%s.pem", data_dir, k2);
    assert_int_equal(access(path, F_OK), 0);
    bun_auth_test_clock_offset(A, 0);
    bun_auth_tokens_release(&t1);
    bun_auth_tokens_release(&t2);
}

/* A second instance on the same data dir (a restart) keeps the key: tokens stay valid. */
static void test_restart_keeps_key(void **state)
{
    (void)state;
    char kid[128], kid2[128], email[128], out[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("restart", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t);
    ba_current_kid(A, kid, sizeof kid);
    struct bun_auth *b = instance(data_dir);
    ba_current_kid(b, kid2, sizeof kid2);
    assert_string_equal(kid, kid2);
    struct bb_router *rb;
    bb_router_new(&rb);
    bb_router_add(rb, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_identity_resolver res = {"bun-auth", bun_auth_resolve, b};
    bb_router_add_resolver(rb, &res);
    assert_int_equal(call(rb, "/me", t.access_token, NULL, out, sizeof out), 200);
    /* the session table was loaded from PostgreSQL at start: the cookie works too */
    assert_int_equal(call(rb, "/me", NULL, t.session_token, out, sizeof out), 200);
    bb_router_free(rb);
    bun_auth_free(b);
    bun_auth_tokens_release(&t);
}

/* Another bunbased (own data dir, own key) on the same database: it verifies our tokens through
 * the published key and sees our revocations at its next sync. */
static void test_second_instance_sync(void **state)
{
    (void)state;
    char dir2[160], email[128], out[512];
    snprintf(dir2, sizeof dir2, "%s/data2", tmp_root);
    struct bun_auth *b = instance(dir2);
    struct bb_router *rb;
    bb_router_new(&rb);
    bb_router_add(rb, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_identity_resolver res = {"bun-auth", bun_auth_resolve, b};
    bb_router_add_resolver(rb, &res);
    char ka[128], kb[128];
    assert_string_not_equal(ba_current_kid(A, ka, sizeof ka), ba_current_kid(b, kb, sizeof kb));

    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("sync", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t); /* on A */
    /* A's key was published before b started: b verifies A's token */
    assert_int_equal(call(rb, "/me", t.access_token, NULL, out, sizeof out), 200);
    /* the cookie of a session b has not synced yet is unknown there, until the sync */
    assert_int_equal(call(rb, "/me", NULL, t.session_token, out, sizeof out), 401);
    assert_int_equal(bun_auth_sync_now(b), 0);
    assert_int_equal(call(rb, "/me", NULL, t.session_token, out, sizeof out), 200);
    /* logout on A: b sees it after its next sync */
    assert_int_equal(bun_auth_logout(A, t.session_id), 0);
    assert_int_equal(call(rb, "/me", t.access_token, NULL, out, sizeof out), 200);
    assert_int_equal(bun_auth_sync_now(b), 0);
    assert_int_equal(call(rb, "/me", t.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    assert_int_equal(call(rb, "/me", NULL, t.session_token, out, sizeof out), 401);
    /* b's own token verifies on A after A syncs b's key */
    struct bun_auth_tokens tb;
    assert_int_equal(bun_auth_login(b, email, "correct horse", NULL, NULL, &tb), 0);
    assert_int_equal(call(R, "/me", tb.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "token_unknown_kid");
    assert_int_equal(bun_auth_sync_now(A), 0);
    assert_int_equal(call(R, "/me", tb.access_token, NULL, out, sizeof out), 200);
    bun_auth_tokens_release(&tb);
    bb_router_free(rb);
    bun_auth_free(b);
    bun_auth_tokens_release(&t);
    /* b is gone but its key stays published: A keeps verifying until it is retired */
}

static struct bun_auth *instance_with(const char *dir, uint64_t sync_ms, uint64_t rotate_s)
{
    struct bb_config c = cfg;
    snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    char v[2][32]; /* bun-auth reads its knobs from the environment */
    snprintf(v[0], sizeof v[0], "%llu", (unsigned long long)sync_ms);
    snprintf(v[1], sizeof v[1], "%llu", (unsigned long long)rotate_s);
    setenv("BUNBASE_BUN_AUTH_SYNC_MS", v[0], 1);
    setenv("BUNBASE_BUN_AUTH_KEY_ROTATE_S", v[1], 1);
    struct bun_auth_opts o = {.cfg = &c, .pg = pool, .sync_thread = 1};
    struct bun_auth *a = NULL;
    char err[256] = "";
    int rc = bun_auth_new(&o, &a, err, sizeof err);
    unsetenv("BUNBASE_BUN_AUTH_SYNC_MS");
    unsetenv("BUNBASE_BUN_AUTH_KEY_ROTATE_S");
    if (rc) fail_msg("bun_auth_new: %s (%s)", err, bb_strerror(rc));
    return a;
}

/* Polls GET /me on r until it answers want (at most ~5 s). */
static int wait_status(struct bb_router *r, const char *bearer, const char *cookie, int want,
                       char *out, size_t cap)
{
    int st = 0;
    for (int i = 0; i < 250; i++) {
        st = call(r, "/me", bearer, cookie, out, cap);
        if (st == want) break;
        usleep(20000);
    }
    return st;
}

/* The background thread (BUNBASE_BUN_AUTH_SYNC_MS) brings other processes' sessions and
 * revocations in without anyone calling it. */
static void test_sync_thread(void **state)
{
    (void)state;
    char dir[160], email[128], out[512];
    snprintf(dir, sizeof dir, "%s/data3", tmp_root);
    struct bun_auth *b = instance_with(dir, 50, 0);
    struct bb_router *rb;
    bb_router_new(&rb);
    bb_router_add(rb, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_identity_resolver res = {"bun-auth", bun_auth_resolve, b};
    bb_router_add_resolver(rb, &res);
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("thread", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t); /* on A */
    assert_int_equal(wait_status(rb, NULL, t.session_token, 200, out, sizeof out), 200);
    assert_int_equal(bun_auth_logout_all(A, u.id), 0);
    assert_int_equal(wait_status(rb, t.access_token, NULL, 401, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    assert_int_equal(call(rb, "/me", NULL, t.session_token, out, sizeof out), 401);
    bb_router_free(rb);
    bun_auth_free(b);
    bun_auth_tokens_release(&t);
}

/* BUNBASE_BUN_AUTH_KEY_ROTATE_S: the sync thread rotates a key that reached that age. */
static void test_auto_rotation(void **state)
{
    (void)state;
    char dir[160], k1[128], k2[128];
    snprintf(dir, sizeof dir, "%s/data4", tmp_root);
    struct bun_auth *b = instance_with(dir, 50, 1);
    ba_current_kid(b, k1, sizeof k1);
    int changed = 0;
    for (int i = 0; i < 150 && !changed; i++) {
        usleep(20000);
        changed = strcmp(ba_current_kid(b, k2, sizeof k2), k1) != 0;
    }
    assert_true(changed);
    bun_auth_free(b);
    /* the manifest on disk names a newer key first and the old one as retired */
    char path[256];
    snprintf(path, sizeof path, "%s/bun_auth/keys.json", dir);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    json_t *keys = json_object_get(m, "keys");
    assert_true(json_array_size(keys) >= 2);
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), k1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(keys, 0), "retired_at")), 0);
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(keys, i, e) if (!strcmp(json_string_value(json_object_get(e, "kid")), k1))
    {
        found = 1;
        assert_true(json_integer_value(json_object_get(e, "retired_at")) > 0);
    }
    assert_true(found);
    json_decref(m);
}

/* A key file that went missing does not stop the start: a new key is made (and logged). */
static void test_missing_key_file(void **state)
{
    (void)state;
    char dir[160], kid[128], kid2[128], path[512];
    snprintf(dir, sizeof dir, "%s/data5", tmp_root);
    struct bun_auth *b = instance(dir);
    ba_current_kid(b, kid, sizeof kid);
    bun_auth_free(b);
    snprintf(path, sizeof path, "%s/bun_auth/key-%s.pem", dir, kid);
    assert_int_equal(unlink(path), 0);
    b = instance(dir);
    ba_current_kid(b, kid2, sizeof kid2);
    assert_string_not_equal(kid, kid2);
    bun_auth_free(b);
    /* a key file with loose permissions is tightened to 0600 at load */
    snprintf(path, sizeof path, "%s/bun_auth/key-%s.pem", dir, kid2);
    assert_int_equal(chmod(path, 0644), 0);
    b = instance(dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    bun_auth_free(b);
}

/* A revoked session leaves the table once every token of it has expired; its token is then
 * refused as expired, not accepted as "sid not in the table". */
static void test_revoked_pruned(void **state)
{
    (void)state;
    char dir[160], email[128], out[512];
    snprintf(dir, sizeof dir, "%s/data6", tmp_root);
    struct bb_config c = cfg;
    snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    setenv("BUNBASE_BUN_AUTH_ACCESS_TTL_S", "2", 1); /* bun-auth reads its knobs from the env */
    setenv("BUNBASE_BUN_AUTH_LEEWAY_S", "0", 1);
    struct bun_auth_opts o = {.cfg = &c, .pg = pool, .sync_thread = 0};
    struct bun_auth *b = NULL;
    char err[256];
    assert_int_equal(bun_auth_new(&o, &b, err, sizeof err), 0);
    unsetenv("BUNBASE_BUN_AUTH_ACCESS_TTL_S");
    unsetenv("BUNBASE_BUN_AUTH_LEEWAY_S");
    struct bb_router *rb;
    bb_router_new(&rb);
    bb_router_add(rb, routes, sizeof routes / sizeof routes[0], NULL);
    struct bb_identity_resolver res = {"bun-auth", bun_auth_resolve, b};
    bb_router_add_resolver(rb, &res);
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    make_user("prune", email, sizeof email, &u);
    assert_int_equal(bun_auth_login(b, email, "correct horse", NULL, NULL, &t), 0);
    assert_int_equal(bun_auth_logout(b, t.session_id), 0);
    assert_int_equal(bun_auth_sync_now(b), 0);
    struct ba_sess s;
    assert_int_equal(ba_table_get_by_id(&b->table, t.session_id, &s), 0); /* kept: revoked */
    assert_true(s.revoked);
    assert_int_equal(call(rb, "/me", t.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "session_revoked");
    usleep(3300 * 1000);
    assert_int_equal(bun_auth_sync_now(b), 0);
    assert_int_equal(ba_table_get_by_id(&b->table, t.session_id, &s), BB_ENOTFOUND);
    assert_int_equal(call(rb, "/me", t.access_token, NULL, out, sizeof out), 401);
    assert_string_equal(out, "token_expired");
    bb_router_free(rb);
    bun_auth_free(b);
    bun_auth_tokens_release(&t);
}

/* A session used through the resolver shows it in last_used_at once the uses are flushed. */
static void test_last_used(void **state)
{
    (void)state;
    char email[128], out[512];
    struct bun_auth_user u;
    struct bun_auth_tokens t, t2;
    make_user("used", email, sizeof email, &u);
    login_ok(email, "correct horse", NULL, &t);
    login_ok(email, "correct horse", NULL, &t2);
    bun_auth_test_clock_offset(A, 120);
    assert_int_equal(call(R, "/me", NULL, t.session_token, out, sizeof out), 200);
    bun_auth_test_clock_offset(A, 240);
    assert_int_equal(call(R, "/me", t2.access_token, NULL, out, sizeof out), 200);
    bun_auth_test_clock_offset(A, 0);
    assert_int_equal(bun_auth_touch_flush(A), 0);
    assert_int_equal(bun_auth_touch_flush(A), 0); /* nothing left: a no-op */
    json_t *list = NULL;
    assert_int_equal(bun_auth_sessions(A, u.id, &list), 0);
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *ca = json_string_value(json_object_get(e, "created_at"));
        const char *lu = json_string_value(json_object_get(e, "last_used_at"));
        assert_true(strcmp(lu, ca) > 0); /* same ISO format: later sorts after */
        /* about 120 s (cookie) and 240 s (token) after the login */
        long long d = (long long)(atoi(lu + 14) * 60 + atoi(lu + 17)) -
                      (long long)(atoi(ca + 14) * 60 + atoi(ca + 17));
        if (d < 0) d += 3600;
        long long want = !strcmp(id, t.session_id) ? 120 : 240;
        if (d < want - 5 || d > want + 5) fail_msg("last_used_at %s vs created_at %s", lu, ca);
    }
    json_decref(list);
    bun_auth_tokens_release(&t);
    bun_auth_tokens_release(&t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_rehash_on_cost_change),
        cmocka_unit_test(test_resolver_roundtrip),
        cmocka_unit_test(test_session_cap),
        cmocka_unit_test(test_last_used),
        cmocka_unit_test(test_jwt_rejections),
        cmocka_unit_test(test_refresh_rotation_and_reuse),
        cmocka_unit_test(test_refresh_expiry),
        cmocka_unit_test(test_logout_and_sessions),
        cmocka_unit_test(test_jwks_and_key_files),
        cmocka_unit_test(test_key_rotation_grace),
        cmocka_unit_test(test_restart_keeps_key),
        cmocka_unit_test(test_second_instance_sync),
        cmocka_unit_test(test_sync_thread),
        cmocka_unit_test(test_auto_rotation),
        cmocka_unit_test(test_missing_key_file),
        cmocka_unit_test(test_revoked_pruned),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
