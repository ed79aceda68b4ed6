/* ta_accounts.c — tenant-auth's routes: a project's end users and its auth administration.
 *
 * Internal routes (BB_AUTH_INTERNAL), under /v1/tenant-auth/{projectId}/: the gateway (platform)
 * answers the public paths under its authorization matrix and forwards them here with the
 * internal token and an X-Bunbase-Identity that says who asks (docs/tenant-auth.md):
 *
 *   public (gateway)                                   here                          as
 *   POST /v1/auth/project/register|login|refresh|...   .../app/register|...          end user
 *                                                      (pk_: "anonymous"; an end-user JWT:
 *                                                      {"uid","claims"})
 *   /v1/projects/{projectId}/auth/users|config|keys…   .../admin/users|config|...    admin
 *                                                      (sk_ and developers by role)
 *
 * The client's IP comes from the gateway as X-Bunbase-Client-Ip (trusted: only the internal token
 * reaches these routes). Handlers run on the pool: they call bundoc-server (ta_store.c), bun-kms
 * (ta_tokens.c) and Argon2id.
 *
 * Refresh tokens are "<session id>.<secret>": the session stores the SHA-256 of the current
 * secret and of the last rotated-out ones. A refresh with the current secret rotates it (single
 * use); one with a rotated-out secret is a reuse: the whole session (the token family) is revoked.
 * A session's refreshes and its revocation are serialized in this process (striped locks).
 */
#include "tenant_auth_internal.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_router.h"
#include "bb_service.h"
#include "bb_time.h"
#include "bun_kms.h"
#include "ta_oauth.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USED_MAX 32 /* rotated-out refresh secrets remembered per session */
#define SMALL_BODY 16384

static pthread_mutex_t refresh_mu[64] = {
#define M PTHREAD_MUTEX_INITIALIZER
    M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
    M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
#undef M
};

/* ---------------------------------------------------------------- helpers */

struct tenant_auth *ta_from_request(const struct bb_http_request *req)
{
    return req->ctx;
}

const char *ta_request_project(struct bb_http_request *req)
{
    const char *pid = bb_http_param(req, "projectId");
    if (!pid || !bb_project_id_valid(pid, strlen(pid)) || strlen(pid) >= BB_IDENTITY_MAX_PROJECT_ID)
        return NULL;
    return pid;
}

static void err_reply(struct bb_http_response *res, int status, const char *code, const char *msg)
{
    bb_http_reply_error_status(res, status, code, msg);
}

static void rc_reply(struct bb_http_response *res, int rc, const char *msg)
{
    if (rc == BB_EUNAVAIL)
        err_reply(res, 503, "unavailable",
                  msg ? msg : "a service tenant-auth needs is unavailable");
    else
        bb_http_reply_error(res, rc, msg);
}

static json_t *body_obj(struct bb_http_request *req, struct bb_http_response *res)
{
    json_t *j = NULL;
    char err[160] = "";
    if (!req->body_len) {
        err_reply(res, 400, "invalid_body", "a JSON object body is required");
        return NULL;
    }
    int rc = bb_json_parse(req->body, req->body_len, 16, &j, err, sizeof err);
    if (rc || !json_is_object(j)) {
        char m[240];
        snprintf(m, sizeof m, "invalid JSON body: %s", rc ? err : "expected an object");
        json_decref(j);
        err_reply(res, rc == BB_ETOOBIG ? 413 : 400, "invalid_body", m);
        return NULL;
    }
    return j;
}

/* A string member: absent/null → NULL (0); present but not a string → -1 (400 sent). */
static int str_member(json_t *b, const char *k, const char **out, struct bb_http_response *res)
{
    json_t *v = json_object_get(b, k);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        char m[120];
        snprintf(m, sizeof m, "%s must be a string", k);
        err_reply(res, 400, "invalid_body", m);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Trimmed, lower-cased; 0 when it looks like an address, else BB_EINVAL. */
static int norm_email(const char *in, char *out, size_t cap)
{
    if (!in) return BB_EINVAL;
    while (*in == ' ' || *in == '\t')
        in++;
    size_t n = strlen(in);
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    if (n == 0 || n > TA_EMAIL_MAX || n >= cap) return BB_EINVAL;
    int at = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' || c == ',' || c == ';')
            return BB_EINVAL;
        if (c == '@') at++;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    const char *a = strchr(out, '@');
    if (at != 1 || a == out || !a[1] || !strchr(a + 1, '.')) return BB_EINVAL;
    return 0;
}

static void client_ip(struct bb_http_request *req, char *ip, size_t cap)
{
    const char *h = bb_http_header(req, "X-Bunbase-Client-Ip");
    if (h && *h && strlen(h) < cap)
        snprintf(ip, cap, "%s", h);
    else if (bb_http_client_ip(req, ip, cap) != 0)
        snprintf(ip, cap, "local");
}

/* Rate limit of what for the project: per client IP and, when account is set, per account. On
 * refusal answers 429 with Retry-After and returns BB_ELIMIT. */
static int rate_check(struct tenant_auth *ta, struct bb_http_request *req,
                      struct bb_http_response *res, const char *pid, const json_t *cfg,
                      const char *what, const char *account)
{
    if (!ta->c.rate_limit) return 0;
    const json_t *rl = json_object_get(cfg, "rate_limits");
    uint64_t ipm = (uint64_t)bb_json_int(rl, "ip_per_min", (int64_t)ta->c.rate_ip_per_min);
    uint64_t ipb = (uint64_t)bb_json_int(rl, "ip_burst", (int64_t)ta->c.rate_ip_burst);
    uint64_t acm =
        (uint64_t)bb_json_int(rl, "account_per_min", (int64_t)ta->c.rate_account_per_min);
    uint64_t acb = (uint64_t)bb_json_int(rl, "account_burst", (int64_t)ta->c.rate_account_burst);
    char ip[64], key[512];
    client_ip(req, ip, sizeof ip);
    uint64_t retry = 0;
    snprintf(key, sizeof key, "%s|%s|ip|%s", pid, what, ip);
    int rc = ta_rl_take(ta, key, ipm ? ipm : 1, ipb ? ipb : 1, &retry);
    if (rc == 0 && account && *account) {
        snprintf(key, sizeof key, "%s|%s|acct|%.300s", pid, what, account);
        rc = ta_rl_take(ta, key, acm ? acm : 1, acb ? acb : 1, &retry);
    }
    if (rc == 0) return 0;
    char ra[32];
    snprintf(ra, sizeof ra, "%llu", (unsigned long long)retry);
    bb_http_set_header(res, "Retry-After", ra);
    err_reply(res, 429, "rate_limited", "too many attempts; retry later");
    return BB_ELIMIT;
}

static int provider_enabled(const json_t *cfg, const char *name)
{
    return bb_json_bool(json_object_get(json_object_get(cfg, "providers"), name), "enabled", 0);
}

/* 0, or BB_EINVAL with a message in m. */
static int password_ok(struct tenant_auth *ta, const json_t *cfg, const char *pw, char *m,
                       size_t mc)
{
    const json_t *pp = json_object_get(cfg, "password_policy");
    size_t chars = 0, bytes = strlen(pw);
    int lo = 0, up = 0, dg = 0, sy = 0;
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
        if ((*p & 0xC0) != 0x80) chars++;
        if (islower(*p))
            lo = 1;
        else if (isupper(*p))
            up = 1;
        else if (isdigit(*p))
            dg = 1;
        else
            sy = 1;
    }
    int64_t min = bb_json_int(pp, "min_length", 8);
    if ((int64_t)chars < min) {
        snprintf(m, mc, "the password must have at least %lld characters", (long long)min);
        return BB_EINVAL;
    }
    if (bytes > ta->c.password_max_bytes) {
        snprintf(m, mc, "the password is longer than %llu bytes",
                 (unsigned long long)ta->c.password_max_bytes);
        return BB_EINVAL;
    }
    static const char *const need[4] = {"require_lowercase", "require_uppercase", "require_digit",
                                        "require_symbol"};
    static const char *const what[4] = {"a lower-case letter", "an upper-case letter", "a digit",
                                        "a symbol"};
    int have[4] = {lo, up, dg, sy};
    for (int i = 0; i < 4; i++)
        if (bb_json_bool(pp, need[i], 0) && !have[i]) {
            snprintf(m, mc, "the password must contain %s", what[i]);
            return BB_EINVAL;
        }
    return 0;
}

static int hash_password(struct tenant_auth *ta, const char *pw, char out[crypto_pwhash_STRBYTES])
{
    return crypto_pwhash_str_alg(out, pw, strlen(pw), ta->c.argon2_opslimit,
                                 (size_t)ta->c.argon2_memlimit_kib * 1024,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : BB_ENOMEM;
}

static json_t *user_public(const json_t *u)
{
    json_t *o =
        json_pack("{s:s?,s:s?,s:s?,s:b,s:b,s:b,s:I}", "id", bb_json_str(u, "_id", NULL), "email",
                  bb_json_str(u, "email", NULL), "name", bb_json_str(u, "name", NULL),
                  "email_verified", bb_json_bool(u, "email_verified", 0), "anonymous",
                  bb_json_bool(u, "anonymous", 0), "disabled", bb_json_bool(u, "disabled", 0),
                  "created_at", (json_int_t)bb_json_int(u, "created_at", 0));
    json_t *prov = json_object_get(u, "providers");
    if (o && json_is_object(prov)) {
        json_t *names = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(prov, k, v) json_array_append_new(names, json_string(k));
        json_object_set_new(o, "providers", names);
    }
    return o;
}

static int user_get(struct tenant_auth *ta, const char *pid, const char *uid, json_t **out)
{
    if (!uid || !*uid || strlen(uid) > TA_ID_MAX || strchr(uid, '/')) return BB_ENOTFOUND;
    return ta_doc_get(ta, pid, "_auth_users", uid, out);
}

static int user_by_email(struct tenant_auth *ta, const char *pid, const char *email, json_t **out)
{
    char h[65];
    bb_sha256_hex(email, strlen(email), h);
    json_t *e = NULL;
    *out = NULL;
    int rc = ta_doc_get(ta, pid, "_auth_emails", h, &e);
    if (rc) return rc;
    rc = user_get(ta, pid, bb_json_str(e, "uid", ""), out);
    json_decref(e);
    return rc;
}

/* Creates the user doc u (its _id set here) and, when it has an email, claims that email first.
 * BB_EEXIST: the email is taken. */
static int user_create(struct tenant_auth *ta, const char *pid, json_t *u, char uid[BB_ID_LEN + 1])
{
    bb_id_new(uid);
    json_object_set_new(u, "_id", json_string(uid));
    json_object_set_new(u, "created_at", json_integer(ta_now()));
    const char *email = bb_json_str(u, "email", NULL);
    char h[65] = "";
    if (email) {
        bb_sha256_hex(email, strlen(email), h);
        json_t *e = json_pack("{s:s,s:s}", "_id", h, "uid", uid);
        int rc = e ? ta_doc_create(ta, pid, "_auth_emails", e) : BB_ENOMEM;
        json_decref(e);
        if (rc) return rc;
    }
    int rc = ta_doc_create(ta, pid, "_auth_users", u);
    if (rc && h[0]) ta_doc_delete(ta, pid, "_auth_emails", h);
    return rc;
}

/* ---------------------------------------------------------------- sessions and tokens */

static int64_t cfg_ttl(struct tenant_auth *ta, const json_t *cfg, const char *k, uint64_t dflt)
{
    int64_t v = bb_json_int(json_object_get(cfg, "tokens"), k, (int64_t)dflt);
    if (v < 30) v = 30;
    if ((uint64_t)v > ta->c.max_ttl_s) v = (int64_t)ta->c.max_ttl_s;
    return v;
}

/* Signs an access token for user u in session sid. */
static int access_token(struct tenant_auth *ta, const char *pid, const json_t *u, const char *sid,
                        int64_t ttl, char **tok, char *err, size_t errcap)
{
    json_t *claims = json_pack("{s:s,s:s,s:b,s:b}", "sub", bb_json_str(u, "_id", ""), "sid", sid,
                               "email_verified", bb_json_bool(u, "email_verified", 0), "anonymous",
                               bb_json_bool(u, "anonymous", 0));
    if (!claims) return BB_ENOMEM;
    const char *email = bb_json_str(u, "email", NULL);
    if (email) json_object_set_new(claims, "email", json_string(email));
    int rc = ta_jwt_sign(ta, pid, claims, ttl, tok, err, errcap);
    json_decref(claims);
    return rc;
}

static json_t *token_reply(const char *access, int64_t access_ttl, const char *refresh,
                           int64_t refresh_ttl, const char *sid, const json_t *u)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:I,s:s,s:o}", "access_token", access, "token_type",
                     "Bearer", "expires_in", (json_int_t)access_ttl, "refresh_token", refresh,
                     "refresh_expires_in", (json_int_t)refresh_ttl, "session_id", sid, "user",
                     user_public(u));
}

/* A new session for user u: *out the token reply. */
static int session_new(struct tenant_auth *ta, const char *pid, const json_t *u, const json_t *cfg,
                       json_t **out, char *err, size_t errcap)
{
    char sid[BB_ID_LEN + 1], secret[64], refresh[128], h[65];
    bb_id_new(sid);
    if (bb_random_token(secret, sizeof secret, 32) != 0) return BB_EIO;
    snprintf(refresh, sizeof refresh, "%s.%s", sid, secret);
    bb_sha256_hex(secret, strlen(secret), h);
    int64_t rttl = cfg_ttl(ta, cfg, "refresh_ttl_s", ta->c.refresh_ttl_s);
    int64_t attl = cfg_ttl(ta, cfg, "access_ttl_s", ta->c.access_ttl_s);
    int64_t now = ta_now();
    json_t *s =
        json_pack("{s:s,s:s,s:s,s:I,s:[],s:I,s:b,s:I}", "_id", sid, "uid",
                  bb_json_str(u, "_id", ""), "hash", h, "gen", (json_int_t)1, "used", "expires_at",
                  (json_int_t)(now + rttl), "revoked", 0, "created_at", (json_int_t)now);
    int rc = s ? ta_doc_create(ta, pid, "_auth_sessions", s) : BB_ENOMEM;
    json_decref(s);
    char *tok = NULL;
    if (rc == 0) rc = access_token(ta, pid, u, sid, attl, &tok, err, errcap);
    if (rc == 0) {
        *out = token_reply(tok, attl, refresh, rttl, sid, u);
        if (!*out) rc = BB_ENOMEM;
    }
    free(tok);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(refresh, sizeof refresh);
    return rc;
}

static void set_cookie(struct tenant_auth *ta, struct bb_http_response *res, const json_t *reply)
{
    const char *tok = bb_json_str(reply, "access_token", "");
    int64_t age = tok[0] ? bb_json_int(reply, "expires_in", 0) : 0;
    size_t n = strlen(tok) + 200;
    char *c = malloc(n);
    if (!c) return;
    snprintf(c, n, "tenant_session_token=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax%s", tok,
             (long long)age, ta->c.cookie_secure ? "; Secure" : "");
    bb_http_set_header(res, "Set-Cookie", c);
    free(c);
}

static void reply_tokens(struct tenant_auth *ta, struct bb_http_response *res, int status,
                         json_t *reply)
{
    set_cookie(ta, res, reply);
    bb_http_set_header(res, "Cache-Control", "no-store");
    bb_http_reply_json(res, status, reply);
}

/* The lock of a session: its refreshes and its revocation never interleave (a refresh rewrites
 * the session document: without it, a concurrent revocation could be overwritten). */
static pthread_mutex_t *session_lock(const char *sid)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = sid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return &refresh_mu[h % 64];
}

/* Revokes session sid; the caller holds its session_lock. */
static int revoke_session_locked(struct tenant_auth *ta, const char *pid, const char *sid)
{
    json_t *s = NULL;
    int rc = ta_doc_get(ta, pid, "_auth_sessions", sid, &s);
    if (rc) return rc;
    int64_t exp = bb_json_int(s, "expires_at", ta_now() + 86400);
    json_decref(s);
    ta_mem_revoke_session(ta, pid, sid, exp);
    json_t *p = json_pack("{s:b}", "revoked", 1);
    rc = ta_doc_patch(ta, pid, "_auth_sessions", sid, p);
    json_decref(p);
    return rc;
}

static int revoke_session(struct tenant_auth *ta, const char *pid, const char *sid)
{
    pthread_mutex_t *mu = session_lock(sid);
    pthread_mutex_lock(mu);
    int rc = revoke_session_locked(ta, pid, sid);
    pthread_mutex_unlock(mu);
    return rc;
}

/* Revokes every live session of uid (password change / reset, user disabled or deleted). */
static void revoke_user_sessions(struct tenant_auth *ta, const char *pid, const char *uid,
                                 const char *except)
{
    json_t *q = json_pack("{s:s,s:{s:s,s:b},s:I}", "collection", "_auth_sessions", "filter", "uid",
                          uid, "revoked", 0, "limit", (json_int_t)1000);
    json_t *out = NULL;
    int st = q ? ta_db(ta, pid, "POST", "/documents/query", q, &out) : BB_ENOMEM;
    json_decref(q);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(out, "documents"), i, d)
    {
        const char *sid = bb_json_str(d, "_id", NULL);
        if (sid && (!except || strcmp(sid, except) != 0)) revoke_session(ta, pid, sid);
    }
    if (st != 200) bb_warn(TA_MOD, "revoke_sessions_failed project=%s status=%d", pid, st);
    json_decref(out);
}

int ta_issue_tokens(struct tenant_auth *ta, const char *pid, const char *uid,
                    const struct bb_http_request *req, json_t **out, char *err, size_t errcap)
{
    (void)req;
    *out = NULL;
    json_t *u = NULL, *cfg = NULL;
    int rc = user_get(ta, pid, uid, &u);
    if (rc == 0 && bb_json_bool(u, "disabled", 0)) {
        snprintf(err, errcap, "this user is disabled");
        rc = BB_EPERM;
    }
    if (rc == 0) rc = ta_config_get(ta, pid, &cfg);
    if (rc == 0) rc = session_new(ta, pid, u, cfg, out, err, errcap);
    json_decref(u);
    json_decref(cfg);
    return rc;
}

int ta_user_from_external(struct tenant_auth *ta, const char *pid, const char *provider,
                          const char *subject, const char *email, int email_verified, char *uid,
                          size_t uidcap, char *err, size_t errcap)
{
    char key[600], h[65];
    snprintf(key, sizeof key, "%s\n%s", provider, subject);
    bb_sha256_hex(key, strlen(key), h);
    json_t *link = NULL, *u = NULL;
    int rc = ta_doc_get(ta, pid, "_auth_links", h, &link);
    if (rc && rc != BB_ENOTFOUND) return rc;
    if (rc == 0) {
        snprintf(uid, uidcap, "%s", bb_json_str(link, "uid", ""));
        json_decref(link);
        rc = user_get(ta, pid, uid, &u);
    } else {
        char em[TA_EMAIL_MAX + 1] = "";
        int have_email = email && norm_email(email, em, sizeof em) == 0;
        if (have_email && email_verified && user_by_email(ta, pid, em, &u) == 0) {
            snprintf(uid, uidcap, "%s", bb_json_str(u, "_id", ""));
            json_t *pt = json_pack("{s:{s:s}}", "providers", provider, subject);
            ta_doc_patch(ta, pid, "_auth_users", uid, pt);
            json_decref(pt);
        } else {
            json_decref(u);
            u = json_pack("{s:b,s:b,s:{s:s}}", "email_verified", have_email && email_verified,
                          "anonymous", 0, "providers", provider, subject);
            char nid[BB_ID_LEN + 1];
            if (have_email) json_object_set_new(u, "email", json_string(em));
            rc = u ? user_create(ta, pid, u, nid) : BB_ENOMEM;
            if (rc == BB_EEXIST) { /* the email belongs to an account not verified by this
                                    * provider: a new user without the email */
                json_object_del(u, "email");
                rc = user_create(ta, pid, u, nid);
            }
            if (rc) {
                json_decref(u);
                snprintf(err, errcap, "the user cannot be created");
                return rc;
            }
            snprintf(uid, uidcap, "%s", nid);
        }
        link = json_pack("{s:s,s:s}", "_id", h, "uid", uid);
        rc = link ? ta_doc_create(ta, pid, "_auth_links", link) : BB_ENOMEM;
        json_decref(link);
        if (rc == BB_EEXIST) rc = 0; /* a concurrent first sign-in linked it */
    }
    if (rc == 0 && bb_json_bool(u, "disabled", 0)) {
        snprintf(err, errcap, "this user is disabled");
        rc = BB_EPERM;
    }
    json_decref(u);
    return rc;
}

/* ---------------------------------------------------------------- request context */

struct ctx {
    struct tenant_auth *ta;
    const char *pid;
    const char *uid; /* the end user (an end-user JWT), or NULL */
    const char *sid;
    json_t *cfg;
};

/* Project + identity check + config. want: 'a' app (end user or service), 'u' app with a signed-in
 * user, 'd' admin. Replies and returns -1 on error. */
static int begin(struct bb_http_request *req, struct bb_http_response *res, struct ctx *c,
                 char want)
{
    memset(c, 0, sizeof *c);
    c->ta = req->ctx;
    c->pid = ta_request_project(req);
    if (!c->pid) {
        err_reply(res, 400, "invalid_project", "invalid project id");
        return -1;
    }
    const struct bb_identity *id = &req->identity;
    int svc = id->kind == BB_IDENTITY_INTERNAL_SERVICE;
    if (want == 'd' && !svc && id->kind != BB_IDENTITY_INTERNAL_ADMIN) {
        err_reply(res, 403, "forbidden", "administration needs a secret key or a developer");
        return -1;
    }
    if (want != 'd' && !svc && id->kind != BB_IDENTITY_INTERNAL_END_USER) {
        err_reply(res, 403, "forbidden", "this route is for a project's end users");
        return -1;
    }
    if (id->kind == BB_IDENTITY_INTERNAL_END_USER && id->uid) {
        c->uid = id->uid;
        c->sid = bb_json_str(id->claims, "sid", NULL);
    }
    if (want == 'u' && (!c->uid || !c->sid)) {
        err_reply(res, 401, "sign_in_required", "sign in first: send the access token");
        return -1;
    }
    int rc = ta_config_get(c->ta, c->pid, &c->cfg);
    if (rc) {
        rc_reply(res, rc, "the project's auth config cannot be read");
        return -1;
    }
    return 0;
}

static void end(struct ctx *c)
{
    json_decref(c->cfg);
}

/* ---------------------------------------------------------------- app routes */

static void h_register(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL, *u = NULL, *reply = NULL;
    const char *email, *pw, *name;
    char em[TA_EMAIL_MAX + 1], m[200] = "", hash[crypto_pwhash_STRBYTES], uid[BB_ID_LEN + 1];
    if (!provider_enabled(c.cfg, "email_password")) {
        err_reply(res, 403, "provider_disabled",
                  "email/password sign-up is not enabled for this "
                  "project");
        goto out;
    }
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "email", &email, res) || str_member(b, "password", &pw, res) ||
        str_member(b, "name", &name, res))
        goto out;
    if (!email || !pw) {
        err_reply(res, 400, "invalid_body", "email and password are required");
        goto out;
    }
    if (norm_email(email, em, sizeof em)) {
        err_reply(res, 400, "invalid_email", "email is not a valid address");
        goto out;
    }
    if (name && strlen(name) > TA_NAME_MAX) {
        err_reply(res, 400, "invalid_body", "name is too long");
        goto out;
    }
    if (password_ok(c.ta, c.cfg, pw, m, sizeof m)) {
        err_reply(res, 400, "weak_password", m);
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "register", NULL)) goto out;
    if (hash_password(c.ta, pw, hash)) {
        rc_reply(res, BB_ENOMEM, NULL);
        goto out;
    }
    u = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b}", "email", em, "name", name ? name : "",
                  "password_hash", hash, "email_verified", 0, "anonymous", 0, "disabled", 0);
    int rc = u ? user_create(c.ta, c.pid, u, uid) : BB_ENOMEM;
    if (rc == BB_EEXIST) {
        err_reply(res, 409, "email_taken", "an account with this email exists");
        goto out;
    }
    if (rc == 0) rc = session_new(c.ta, c.pid, u, c.cfg, &reply, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m[0] ? m : NULL);
        goto out;
    }
    bb_info(TA_MOD, "user_registered project=%s uid=%s", c.pid, uid);
    reply_tokens(c.ta, res, 201, reply);
out:
    OPENSSL_cleanse(hash, sizeof hash);
    json_decref(reply);
    json_decref(u);
    json_decref(b);
    end(&c);
}

static void h_login(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL, *u = NULL, *reply = NULL;
    const char *email, *pw;
    char em[TA_EMAIL_MAX + 1], m[200] = "";
    if (!provider_enabled(c.cfg, "email_password")) {
        err_reply(res, 403, "provider_disabled",
                  "email/password sign-in is not enabled for this project");
        goto out;
    }
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "email", &email, res) || str_member(b, "password", &pw, res)) goto out;
    if (!email || !pw) {
        err_reply(res, 400, "invalid_body", "email and password are required");
        goto out;
    }
    if (norm_email(email, em, sizeof em)) {
        err_reply(res, 400, "invalid_email", "email is not a valid address");
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "login", em)) goto out;
    int rc = user_by_email(c.ta, c.pid, em, &u);
    if (rc && rc != BB_ENOTFOUND) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    const char *h = u ? bb_json_str(u, "password_hash", NULL) : NULL;
    size_t pl = strlen(pw);
    /* the same Argon2id work whether or not the account exists */
    int good = pl <= c.ta->c.password_max_bytes &&
               crypto_pwhash_str_verify(h ? h : c.ta->dummy_hash, pw, pl) == 0 && h;
    if (!good) {
        err_reply(res, 401, "invalid_credentials", "wrong email or password");
        goto out;
    }
    if (bb_json_bool(u, "disabled", 0)) {
        err_reply(res, 403, "user_disabled", "this user is disabled");
        goto out;
    }
    if (bb_json_bool(c.cfg, "require_email_verification", 0) &&
        !bb_json_bool(u, "email_verified", 0)) {
        err_reply(res, 403, "email_not_verified", "verify your email address first");
        goto out;
    }
    rc = session_new(c.ta, c.pid, u, c.cfg, &reply, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m[0] ? m : NULL);
        goto out;
    }
    reply_tokens(c.ta, res, 200, reply);
out:
    json_decref(reply);
    json_decref(u);
    json_decref(b);
    end(&c);
}

static void h_anonymous(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *u = NULL, *reply = NULL;
    char uid[BB_ID_LEN + 1], m[200] = "";
    if (!provider_enabled(c.cfg, "anonymous")) {
        err_reply(res, 403, "provider_disabled",
                  "anonymous sign-in is not enabled for this "
                  "project");
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "anonymous", NULL)) goto out;
    u = json_pack("{s:b,s:b,s:b}", "anonymous", 1, "email_verified", 0, "disabled", 0);
    int rc = u ? user_create(c.ta, c.pid, u, uid) : BB_ENOMEM;
    if (rc == 0) rc = session_new(c.ta, c.pid, u, c.cfg, &reply, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m[0] ? m : NULL);
        goto out;
    }
    reply_tokens(c.ta, res, 201, reply);
out:
    json_decref(reply);
    json_decref(u);
    end(&c);
}

/* Splits "<sid>.<secret>" into sid (validated) and the secret's hash. */
static int parse_refresh(const char *rt, char sid[TA_ID_MAX + 1], char h[65])
{
    const char *dot = rt ? strchr(rt, '.') : NULL;
    if (!dot || dot == rt || (size_t)(dot - rt) > TA_ID_MAX || strlen(dot + 1) > 128 || !dot[1])
        return BB_EINVAL;
    for (const char *p = rt; p < dot; p++)
        if (!isalnum((unsigned char)*p)) return BB_EINVAL;
    memcpy(sid, rt, (size_t)(dot - rt));
    sid[dot - rt] = '\0';
    bb_sha256_hex(dot + 1, strlen(dot + 1), h);
    return 0;
}

static int in_used(const json_t *s, const char *h)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(s, "used"), i,
                       v) if (json_is_string(v) && bb_ct_streq(json_string_value(v), h)) return 1;
    return 0;
}

static void h_refresh(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL, *s = NULL, *u = NULL, *reply = NULL;
    const char *rt;
    char sid[TA_ID_MAX + 1], h[65], m[200] = "", secret[64] = "", refresh[128] = "";
    char *tok = NULL;
    pthread_mutex_t *mu = NULL;
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "refresh_token", &rt, res)) goto out;
    if (!rt || parse_refresh(rt, sid, h)) {
        err_reply(res, 400, "invalid_body", "refresh_token is required (as login returned it)");
        goto out;
    }
    mu = session_lock(sid);
    pthread_mutex_lock(mu);
    int rc = ta_doc_get(c.ta, c.pid, "_auth_sessions", sid, &s);
    if (rc && rc != BB_ENOTFOUND) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    int64_t now = ta_now();
    if (rc || bb_json_bool(s, "revoked", 0) || bb_json_int(s, "expires_at", 0) < now) {
        err_reply(res, 401, "invalid_refresh_token",
                  "the refresh token is unknown, expired or "
                  "revoked");
        goto out;
    }
    if (!bb_ct_streq(bb_json_str(s, "hash", ""), h)) {
        if (in_used(s, h)) { /* a rotated-out token came back: the family is compromised */
            revoke_session_locked(c.ta, c.pid, sid);
            bb_warn(TA_MOD, "refresh_reuse project=%s sid=%s: session revoked", c.pid, sid);
            err_reply(res, 401, "refresh_token_reused",
                      "this refresh token was already used: the session is revoked");
        } else {
            err_reply(res, 401, "invalid_refresh_token", "the refresh token is not valid");
        }
        goto out;
    }
    rc = user_get(c.ta, c.pid, bb_json_str(s, "uid", ""), &u);
    if (rc || bb_json_bool(u, "disabled", 0)) {
        err_reply(res, 403, "user_disabled", "this user is disabled or deleted");
        goto out;
    }
    /* rotate: the presented secret joins "used", a new one becomes current */
    if (bb_random_token(secret, sizeof secret, 32) != 0) {
        rc_reply(res, BB_EIO, NULL);
        goto out;
    }
    char nh[65];
    bb_sha256_hex(secret, strlen(secret), nh);
    json_t *used = json_object_get(s, "used");
    if (!json_is_array(used)) json_object_set_new(s, "used", used = json_array());
    json_array_append_new(used, json_string(h));
    while (json_array_size(used) > USED_MAX)
        json_array_remove(used, 0);
    json_object_set_new(s, "hash", json_string(nh));
    json_object_set_new(s, "gen", json_integer(bb_json_int(s, "gen", 1) + 1));
    rc = ta_doc_put(c.ta, c.pid, "_auth_sessions", sid, s);
    int64_t attl = cfg_ttl(c.ta, c.cfg, "access_ttl_s", c.ta->c.access_ttl_s);
    int64_t left = bb_json_int(s, "expires_at", now) - now;
    if (attl > left) attl = left > 1 ? left : 1;
    if (rc == 0) rc = access_token(c.ta, c.pid, u, sid, attl, &tok, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m[0] ? m : NULL);
        goto out;
    }
    snprintf(refresh, sizeof refresh, "%s.%s", sid, secret);
    reply = token_reply(tok, attl, refresh, left, sid, u);
    if (!reply)
        rc_reply(res, BB_ENOMEM, NULL);
    else
        reply_tokens(c.ta, res, 200, reply);
out:
    if (mu) pthread_mutex_unlock(mu);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(refresh, sizeof refresh);
    free(tok);
    json_decref(reply);
    json_decref(u);
    json_decref(s);
    json_decref(b);
    end(&c);
}

static void h_logout(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL, *s = NULL;
    char sid[TA_ID_MAX + 1] = "", h[65];
    if (c.sid && strlen(c.sid) <= TA_ID_MAX) {
        snprintf(sid, sizeof sid, "%s", c.sid);
    } else {
        const char *rt = NULL;
        if (!(b = body_obj(req, res))) goto out;
        if (str_member(b, "refresh_token", &rt, res)) goto out;
        if (!rt || parse_refresh(rt, sid, h)) {
            err_reply(res, 401, "sign_in_required", "send the access token or a refresh_token");
            goto out;
        }
        if (ta_doc_get(c.ta, c.pid, "_auth_sessions", sid, &s) != 0 ||
            (!bb_ct_streq(bb_json_str(s, "hash", ""), h) && !in_used(s, h))) {
            err_reply(res, 401, "invalid_refresh_token", "the refresh token is not valid");
            goto out;
        }
    }
    int rc = revoke_session(c.ta, c.pid, sid);
    if (rc && rc != BB_ENOTFOUND) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    json_t *empty = json_object();
    set_cookie(c.ta, res, empty);
    json_decref(empty);
    bb_http_reply(res, 204, NULL, NULL, 0);
out:
    json_decref(s);
    json_decref(b);
    end(&c);
}

static void h_me(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'u')) return;
    json_t *u = NULL;
    int rc = user_get(c.ta, c.pid, c.uid, &u);
    if (rc == BB_ENOTFOUND)
        err_reply(res, 401, "user_deleted", "this user no longer exists");
    else if (rc)
        rc_reply(res, rc, NULL);
    else if (bb_json_bool(u, "disabled", 0))
        err_reply(res, 401, "user_disabled", "this user is disabled");
    else {
        json_t *o = user_public(u);
        bb_http_reply_json(res, 200, o);
        json_decref(o);
    }
    json_decref(u);
    end(&c);
}

/* GET .../verify: the caller's access token, as the gateway verified it. */
static void h_verify(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'u')) return;
    json_t *o = json_pack("{s:b,s:s,s:s,s:O}", "valid", 1, "uid", c.uid, "project_id", c.pid,
                          "claims", req->identity.claims);
    bb_http_reply_json(res, 200, o);
    json_decref(o);
    end(&c);
}

static void h_password(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'u')) return;
    json_t *b = NULL, *u = NULL;
    const char *cur, *nw;
    char m[200], hash[crypto_pwhash_STRBYTES] = "";
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "current_password", &cur, res) || str_member(b, "new_password", &nw, res))
        goto out;
    if (!cur || !nw) {
        err_reply(res, 400, "invalid_body", "current_password and new_password are required");
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "password", c.uid)) goto out;
    int rc = user_get(c.ta, c.pid, c.uid, &u);
    if (rc) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    const char *h = bb_json_str(u, "password_hash", NULL);
    if (!h || strlen(cur) > c.ta->c.password_max_bytes ||
        crypto_pwhash_str_verify(h, cur, strlen(cur)) != 0) {
        err_reply(res, 401, "invalid_credentials", "the current password is wrong");
        goto out;
    }
    if (password_ok(c.ta, c.cfg, nw, m, sizeof m)) {
        err_reply(res, 400, "weak_password", m);
        goto out;
    }
    if (hash_password(c.ta, nw, hash)) {
        rc_reply(res, BB_ENOMEM, NULL);
        goto out;
    }
    json_t *p = json_pack("{s:s}", "password_hash", hash);
    rc = ta_doc_patch(c.ta, c.pid, "_auth_users", c.uid, p);
    json_decref(p);
    if (rc) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    revoke_user_sessions(c.ta, c.pid, c.uid, c.sid); /* other devices sign in again */
    bb_http_reply(res, 204, NULL, NULL, 0);
out:
    OPENSSL_cleanse(hash, sizeof hash);
    json_decref(u);
    json_decref(b);
    end(&c);
}

/* A one-time token of kind for uid, stored hashed; *tok gets it (64 bytes). */
static int onetime_new(struct tenant_auth *ta, const char *pid, const char *kind, const char *uid,
                       uint64_t ttl, char tok[64])
{
    if (bb_random_token(tok, 64, 32) != 0) return BB_EIO;
    char h[65];
    bb_sha256_hex(tok, strlen(tok), h);
    json_t *d = json_pack("{s:s,s:s,s:s,s:I}", "_id", h, "kind", kind, "uid", uid, "expires_at",
                          (json_int_t)(ta_now() + (int64_t)ttl));
    int rc = d ? ta_doc_create(ta, pid, "_auth_tokens", d) : BB_ENOMEM;
    json_decref(d);
    return rc;
}

/* Uses a one-time token: 0 with its uid; BB_EINVAL (unknown, used or of another kind),
 * BB_ETIMEDOUT (expired). Only one caller can use a token: the one whose DELETE removed it. */
static int onetime_use(struct tenant_auth *ta, const char *pid, const char *kind, const char *tok,
                       char uid[TA_ID_MAX + 1])
{
    if (!tok || strlen(tok) > 128) return BB_EINVAL;
    for (const char *p = tok; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return BB_EINVAL;
    char h[65];
    bb_sha256_hex(tok, strlen(tok), h);
    json_t *d = NULL;
    int rc = ta_doc_get(ta, pid, "_auth_tokens", h, &d);
    if (rc) return rc == BB_ENOTFOUND ? BB_EINVAL : rc;
    int ok_kind = !strcmp(bb_json_str(d, "kind", ""), kind);
    int64_t exp = bb_json_int(d, "expires_at", 0);
    snprintf(uid, TA_ID_MAX + 1, "%s", bb_json_str(d, "uid", ""));
    json_decref(d);
    if (!ok_kind) return BB_EINVAL;
    rc = ta_doc_delete(ta, pid, "_auth_tokens", h);
    if (rc) return rc == BB_ENOTFOUND ? BB_EINVAL : rc;
    return exp < ta_now() ? BB_ETIMEDOUT : 0;
}

/* The link a mail carries: redirect?token=… when the app gave an allowed redirect URL, else the
 * token alone for the app to post. */
static void mail_text(char *buf, size_t cap, const char *intro, const char *redirect,
                      const char *tok, uint64_t ttl)
{
    if (redirect)
        snprintf(buf, cap, "%s\n\n%s%stoken=%s\n\nThe link expires in %llu minutes.\n", intro,
                 redirect, strchr(redirect, '?') ? "&" : "?", tok, (unsigned long long)(ttl / 60));
    else
        snprintf(buf, cap, "%s\n\nYour code: token=%s\n\nIt expires in %llu minutes.\n", intro, tok,
                 (unsigned long long)(ttl / 60));
}

static int redirect_param(struct ctx *c, json_t *b, struct bb_http_response *res,
                          const char **redirect)
{
    if (str_member(b, "redirect_url", redirect, res)) return -1;
    if (*redirect && !ta_redirect_allowed(c->ta, c->pid, *redirect)) {
        err_reply(res, 400, "redirect_not_allowed",
                  "redirect_url is not one of the project's allowed redirect URLs");
        return -1;
    }
    return 0;
}

/* Mails uid (at address to) a new one-time token: a password reset (verify 0) or an address
 * verification (verify 1). 0, or a BB_E* with a reason in m. */
static int mail_token(struct ctx *c, const char *uid, const char *to, int verify,
                      const char *redirect, char *m, size_t mc)
{
    uint64_t ttl = verify ? c->ta->c.verify_ttl_s : c->ta->c.reset_ttl_s;
    char tok[64] = "", text[4096] = "";
    int rc = onetime_new(c->ta, c->pid, verify ? "verify" : "reset", uid, ttl, tok);
    if (rc == 0) {
        mail_text(text, sizeof text,
                  verify ? "Confirm that this is your email address:"
                         : "Someone asked to reset the password of your account. If it was you, "
                           "follow this link to choose a new one:",
                  redirect, tok, ttl);
        rc = ta_mail_send(c->ta, to, verify ? "email_verification" : "password_reset",
                          verify ? "Confirm your email address" : "Reset your password", text, m,
                          mc);
    }
    OPENSSL_cleanse(tok, sizeof tok);
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

static void reply_sent(struct bb_http_response *res)
{
    json_t *o = json_pack("{s:s}", "status", "sent");
    bb_http_reply_json(res, 202, o);
    json_decref(o);
}

/* Uses the one-time token of kind; 0 with its uid, or answers 400 (unknown, used, expired) or
 * 503 and returns -1. */
static int use_token(struct ctx *c, struct bb_http_response *res, const char *kind, const char *tok,
                     char uid[TA_ID_MAX + 1])
{
    int rc = onetime_use(c->ta, c->pid, kind, tok, uid);
    if (rc == 0) return 0;
    if (rc == BB_ETIMEDOUT)
        err_reply(res, 400, "token_expired", "the token expired: ask for a new one");
    else if (rc == BB_EINVAL)
        err_reply(res, 400, "invalid_token", "the token is unknown or was already used");
    else
        rc_reply(res, rc, NULL);
    return -1;
}

static void h_reset_request(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL, *u = NULL;
    const char *email, *redirect;
    char em[TA_EMAIL_MAX + 1], m[200] = "";
    if (!provider_enabled(c.cfg, "email_password")) {
        err_reply(res, 403, "provider_disabled", "email/password is not enabled for this project");
        goto out;
    }
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "email", &email, res) || redirect_param(&c, b, res, &redirect)) goto out;
    if (!email || norm_email(email, em, sizeof em)) {
        err_reply(res, 400, "invalid_email", "email is required and must be a valid address");
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "reset", em)) goto out;
    /* the same answer whether or not the account exists */
    if (user_by_email(c.ta, c.pid, em, &u) == 0 && !bb_json_bool(u, "disabled", 0) &&
        mail_token(&c, bb_json_str(u, "_id", ""), em, 0, redirect, m, sizeof m) != 0) {
        rc_reply(res, BB_EUNAVAIL, m[0] ? m : NULL);
        goto out;
    }
    reply_sent(res);
out:
    json_decref(u);
    json_decref(b);
    end(&c);
}

static void h_reset_confirm(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL;
    const char *tok, *pw;
    char uid[TA_ID_MAX + 1], m[200], hash[crypto_pwhash_STRBYTES] = "";
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "token", &tok, res) || str_member(b, "password", &pw, res)) goto out;
    if (!tok || !pw) {
        err_reply(res, 400, "invalid_body", "token and password are required");
        goto out;
    }
    if (password_ok(c.ta, c.cfg, pw, m, sizeof m)) { /* before the token is used up */
        err_reply(res, 400, "weak_password", m);
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "reset_confirm", NULL)) goto out;
    if (use_token(&c, res, "reset", tok, uid)) goto out;
    int rc = hash_password(c.ta, pw, hash);
    if (rc == 0) {
        json_t *p = json_pack("{s:s,s:b}", "password_hash", hash, "email_verified", 1);
        rc = ta_doc_patch(c.ta, c.pid, "_auth_users", uid, p);
        json_decref(p);
    }
    if (rc) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    revoke_user_sessions(c.ta, c.pid, uid, NULL);
    bb_http_reply(res, 204, NULL, NULL, 0);
out:
    OPENSSL_cleanse(hash, sizeof hash);
    json_decref(b);
    end(&c);
}

static void h_verify_send(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'u')) return;
    json_t *b = NULL, *u = NULL;
    const char *redirect = NULL;
    char m[200] = "";
    if (req->body_len) {
        if (!(b = body_obj(req, res))) goto out;
        if (redirect_param(&c, b, res, &redirect)) goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "verify", c.uid)) goto out;
    int rc = user_get(c.ta, c.pid, c.uid, &u);
    const char *em = u ? bb_json_str(u, "email", NULL) : NULL;
    if (rc == 0 && !em) {
        err_reply(res, 400, "no_email", "this user has no email address");
        goto out;
    }
    if (rc == 0 && bb_json_bool(u, "email_verified", 0)) {
        err_reply(res, 409, "already_verified", "the email address is verified already");
        goto out;
    }
    if (rc == 0) rc = mail_token(&c, c.uid, em, 1, redirect, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m[0] ? m : NULL);
        goto out;
    }
    reply_sent(res);
out:
    json_decref(u);
    json_decref(b);
    end(&c);
}

static void h_verify_confirm(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'a')) return;
    json_t *b = NULL;
    const char *tok;
    char uid[TA_ID_MAX + 1];
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "token", &tok, res)) goto out;
    if (!tok) {
        err_reply(res, 400, "invalid_body", "token is required");
        goto out;
    }
    if (rate_check(c.ta, req, res, c.pid, c.cfg, "verify_confirm", NULL)) goto out;
    if (use_token(&c, res, "verify", tok, uid)) goto out;
    json_t *p = json_pack("{s:b}", "email_verified", 1);
    int rc = ta_doc_patch(c.ta, c.pid, "_auth_users", uid, p);
    json_decref(p);
    if (rc)
        rc_reply(res, rc, NULL);
    else
        bb_http_reply(res, 204, NULL, NULL, 0);
out:
    json_decref(b);
    end(&c);
}

static void h_jwks(struct bb_http_request *req, struct bb_http_response *res)
{
    struct tenant_auth *ta = req->ctx;
    const char *pid = ta_request_project(req);
    if (!pid) {
        err_reply(res, 400, "invalid_project", "invalid project id");
        return;
    }
    json_t *j = NULL;
    char m[200] = "";
    int rc = ta_jwks(ta, pid, &j, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m);
        return;
    }
    bb_http_set_header(res, "Cache-Control", "public, max-age=60");
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

/* ---------------------------------------------------------------- admin routes */

static void h_users_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    char lim[32], cur[512], url[1200];
    const char *l = bb_http_query(req, "limit", lim, sizeof lim);
    const char *k = bb_http_query(req, "cursor", cur, sizeof cur);
    char *end_ = NULL;
    long n = l ? strtol(l, &end_, 10) : 50;
    if ((l && (!*l || *end_)) || n < 1 || n > 1000) {
        err_reply(res, 400, "invalid_limit", "limit must be an integer in [1, 1000]");
        end(&c);
        return;
    }
    size_t o = (size_t)snprintf(url, sizeof url, "/collections/_auth_users/documents?limit=%ld", n);
    if (k && *k) {
        o += (size_t)snprintf(url + o, sizeof url - o, "&cursor=");
        for (const char *p = k; *p && o + 4 < sizeof url; p++)
            o += (size_t)(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'
                              ? snprintf(url + o, sizeof url - o, "%c", *p)
                              : snprintf(url + o, sizeof url - o, "%%%02X", (unsigned char)*p));
    }
    json_t *out = NULL;
    int st = ta_db(c.ta, c.pid, "GET", url, NULL, &out);
    if (st == 404) { /* no user has signed up yet: the collection does not exist */
        json_decref(out);
        out = json_pack("{s:[]}", "documents");
        st = 200;
    }
    if (st == 400) {
        err_reply(res, 400, "invalid_cursor", "cursor is not one this list returned");
    } else if (st != 200 || !out) {
        rc_reply(res, BB_EUNAVAIL, NULL);
    } else {
        json_t *users = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(out, "documents"), i, d)
            json_array_append_new(users, user_public(d));
        json_t *next = json_object_get(out, "cursor");
        json_t *r = json_pack("{s:o,s:O}", "users", users, "cursor",
                              json_is_string(next) ? next : json_null());
        bb_http_reply_json(res, 200, r);
        json_decref(r);
    }
    json_decref(out);
    end(&c);
}

static void h_user_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    json_t *b = NULL, *u = NULL;
    const char *email, *pw, *name;
    char em[TA_EMAIL_MAX + 1], m[200], hash[crypto_pwhash_STRBYTES] = "", uid[BB_ID_LEN + 1];
    if (!(b = body_obj(req, res))) goto out;
    if (str_member(b, "email", &email, res) || str_member(b, "password", &pw, res) ||
        str_member(b, "name", &name, res))
        goto out;
    if (!email || norm_email(email, em, sizeof em)) {
        err_reply(res, 400, "invalid_email", "email is required and must be a valid address");
        goto out;
    }
    if (name && strlen(name) > TA_NAME_MAX) {
        err_reply(res, 400, "invalid_body", "name is too long");
        goto out;
    }
    if (pw && password_ok(c.ta, c.cfg, pw, m, sizeof m)) {
        err_reply(res, 400, "weak_password", m);
        goto out;
    }
    if (pw && hash_password(c.ta, pw, hash)) {
        rc_reply(res, BB_ENOMEM, NULL);
        goto out;
    }
    u = json_pack("{s:s,s:s,s:b,s:b,s:b}", "email", em, "name", name ? name : "", "email_verified",
                  bb_json_bool(b, "email_verified", 0), "anonymous", 0, "disabled", 0);
    if (u && pw) json_object_set_new(u, "password_hash", json_string(hash));
    int rc = u ? user_create(c.ta, c.pid, u, uid) : BB_ENOMEM;
    if (rc == BB_EEXIST)
        err_reply(res, 409, "email_taken", "an account with this email exists");
    else if (rc)
        rc_reply(res, rc, NULL);
    else {
        json_t *o = user_public(u);
        bb_http_reply_json(res, 201, o);
        json_decref(o);
    }
out:
    OPENSSL_cleanse(hash, sizeof hash);
    json_decref(u);
    json_decref(b);
    end(&c);
}

static void h_user_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    json_t *u = NULL;
    int rc = user_get(c.ta, c.pid, bb_http_param(req, "userId"), &u);
    if (rc == BB_ENOTFOUND)
        err_reply(res, 404, "user_not_found", "no such user");
    else if (rc)
        rc_reply(res, rc, NULL);
    else {
        json_t *o = user_public(u);
        bb_http_reply_json(res, 200, o);
        json_decref(o);
    }
    json_decref(u);
    end(&c);
}

static void set_disabled(struct bb_http_request *req, struct bb_http_response *res, int disabled)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    const char *uid = bb_http_param(req, "userId");
    json_t *u = NULL;
    int rc = user_get(c.ta, c.pid, uid, &u);
    if (rc == 0) {
        json_t *p = json_pack("{s:b}", "disabled", disabled);
        rc = ta_doc_patch(c.ta, c.pid, "_auth_users", uid, p);
        json_decref(p);
        json_object_set_new(u, "disabled", json_boolean(disabled));
    }
    if (rc == BB_ENOTFOUND) {
        err_reply(res, 404, "user_not_found", "no such user");
    } else if (rc) {
        rc_reply(res, rc, NULL);
    } else {
        ta_mem_disable_user(c.ta, c.pid, uid, disabled);
        if (disabled) revoke_user_sessions(c.ta, c.pid, uid, NULL);
        bb_info(TA_MOD, "user_%s project=%s uid=%s", disabled ? "disabled" : "enabled", c.pid, uid);
        json_t *o = user_public(u);
        bb_http_reply_json(res, 200, o);
        json_decref(o);
    }
    json_decref(u);
    end(&c);
}

static void h_user_disable(struct bb_http_request *req, struct bb_http_response *res)
{
    set_disabled(req, res, 1);
}

static void h_user_enable(struct bb_http_request *req, struct bb_http_response *res)
{
    set_disabled(req, res, 0);
}

static void h_user_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    const char *uid = bb_http_param(req, "userId");
    json_t *u = NULL;
    int rc = user_get(c.ta, c.pid, uid, &u);
    if (rc == 0) {
        ta_mem_disable_user(c.ta, c.pid, uid, 1); /* its tokens stop now */
        revoke_user_sessions(c.ta, c.pid, uid, NULL);
        const char *em = bb_json_str(u, "email", NULL);
        if (em) {
            char h[65];
            bb_sha256_hex(em, strlen(em), h);
            ta_doc_delete(c.ta, c.pid, "_auth_emails", h);
        }
        rc = ta_doc_delete(c.ta, c.pid, "_auth_users", uid);
    }
    if (rc == BB_ENOTFOUND)
        err_reply(res, 404, "user_not_found", "no such user");
    else if (rc)
        rc_reply(res, rc, NULL);
    else
        bb_http_reply(res, 204, NULL, NULL, 0);
    json_decref(u);
    end(&c);
}

/* The config as shown: client secrets only as "client_secret_set". */
static json_t *config_view(const json_t *cfg)
{
    json_t *v = json_deep_copy(cfg);
    const char *k;
    json_t *p;
    json_object_foreach(json_object_get(v, "providers"), k, p)
    {
        if (!json_is_object(p)) continue;
        int set = json_object_get(p, "client_secret_ref") != NULL;
        json_object_del(p, "client_secret_ref");
        json_object_del(p, "client_secret");
        if (strcmp(k, "email_password") && strcmp(k, "anonymous"))
            json_object_set_new(p, "client_secret_set", json_boolean(set));
    }
    json_object_del(v, "_id");
    return v;
}

static void h_config_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    json_t *v = config_view(c.cfg);
    bb_http_reply_json(res, 200, v);
    json_decref(v);
    end(&c);
}

static int url_ok(const char *s, size_t max)
{
    return s && strlen(s) <= max && (!strncmp(s, "https://", 8) || !strncmp(s, "http://", 7)) &&
           !strpbrk(s, " \t\r\n\"<>");
}

static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!(islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '_' ||
              s[n] == '-'))
            return 0;
    return n > 0 && n < 32;
}

#define BAD(msg)                                                                                   \
    do {                                                                                           \
        snprintf(m, mc, "%s", msg);                                                                \
        return BB_EINVAL;                                                                          \
    } while (0)

/* Validates one provider entry (in place: the secret moves to bun-kms, the entry keeps its name).
 */
static int provider_check(struct tenant_auth *ta, const char *pid, const char *name, json_t *p,
                          const json_t *old, char *m, size_t mc)
{
    if (!json_is_object(p)) BAD("each provider must be an object");
    json_t *en = json_object_get(p, "enabled");
    if (en && !json_is_boolean(en)) BAD("providers.*.enabled must be a boolean");
    int builtin = !strcmp(name, "email_password") || !strcmp(name, "anonymous");
    const char *k;
    json_t *v;
    static const char *const strs[] = {"kind",      "client_id",    "issuer", "authorize_url",
                                       "token_url", "userinfo_url", "scopes", "client_secret"};
    json_object_foreach(p, k, v)
    {
        int known = !strcmp(k, "enabled");
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            if (!strcmp(k, strs[i])) known = 1;
        if (!known || (builtin && strcmp(k, "enabled"))) {
            snprintf(m, mc, "providers.%s: unknown setting \"%.40s\"", name, k);
            return BB_EINVAL;
        }
        if (strcmp(k, "enabled") && !json_is_string(v) &&
            !(json_is_null(v) && !strcmp(k, "client_secret"))) {
            snprintf(m, mc, "providers.%s.%s must be a string", name, k);
            return BB_EINVAL;
        }
    }
    if (builtin) return 0;
    const char *kind = bb_json_str(p, "kind", name);
    if (strcmp(kind, "github") && strcmp(kind, "google") && strcmp(kind, "oidc"))
        BAD("providers.*.kind must be github, google or oidc");
    /* a static copy: p's "kind" (which kind may point into) is replaced just below */
    kind = !strcmp(kind, "github") ? "github" : !strcmp(kind, "google") ? "google" : "oidc";
    json_object_set_new(p, "kind", json_string(kind));
    if (strlen(bb_json_str(p, "client_id", "")) > 255 || strlen(bb_json_str(p, "scopes", "")) > 255)
        BAD("client_id and scopes have at most 255 bytes");
    static const char *const urls[] = {"issuer", "authorize_url", "token_url", "userinfo_url"};
    for (size_t i = 0; i < 4; i++) {
        const char *u = bb_json_str(p, urls[i], NULL);
        if (u && !url_ok(u, 511)) {
            snprintf(m, mc, "providers.%s.%s must be an http(s) URL of at most 511 bytes", name,
                     urls[i]);
            return BB_EINVAL;
        }
    }
    if (!strcmp(kind, "oidc") && !bb_json_str(p, "issuer", NULL))
        BAD("an oidc provider needs its issuer");
    char ref[BUN_KMS_NAME_MAX + 1];
    snprintf(ref, sizeof ref, "tenant-auth.provider.%s.client_secret", name);
    json_t *sec = json_object_get(p, "client_secret");
    if (json_is_string(sec)) {
        const char *s = json_string_value(sec);
        if (!*s || strlen(s) > 4096) BAD("client_secret must have 1 to 4096 bytes");
        if (!ta->kms) BAD("client secrets need bun-kms, which is not running in this process");
        char e[200] = "";
        if (bun_kms_secret_put(ta->kms, bun_kms_system_identity(), pid, ref, s, strlen(s), NULL, e,
                               sizeof e) != 0) {
            snprintf(m, mc, "the client secret cannot be stored: %s", e);
            return BB_EUNAVAIL;
        }
        json_object_del(p, "client_secret");
        json_object_set_new(p, "client_secret_ref", json_string(ref));
    } else if (json_is_null(sec)) { /* explicit null: forget the secret */
        json_object_del(p, "client_secret");
        if (ta->kms) bun_kms_secret_delete(ta->kms, bun_kms_system_identity(), pid, ref, NULL, 0);
    } else if (json_object_get(old, "client_secret_ref")) { /* absent: keep it */
        json_object_set(p, "client_secret_ref", json_object_get(old, "client_secret_ref"));
    }
    return 0;
}

static int int_in(const json_t *o, const char *k, int64_t lo, int64_t hi, char *m, size_t mc,
                  const char *where)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(m, mc, "%s.%s must be an integer in [%lld, %lld]", where, k, (long long)lo,
                 (long long)hi);
        return BB_EINVAL;
    }
    return 0;
}

static int only_keys(const json_t *o, const char *const *keys, size_t n, const char *where, char *m,
                     size_t mc)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (i < n && strcmp(keys[i], k))
            i++;
        if (i == n) {
            snprintf(m, mc, "%s: unknown setting \"%.40s\"", where, k);
            return BB_EINVAL;
        }
    }
    return 0;
}

/* Validates a config body (in place) against the stored one. 0 or BB_EINVAL/BB_EUNAVAIL + m. */
static int config_check(struct tenant_auth *ta, const char *pid, json_t *b, const json_t *old,
                        char *m, size_t mc)
{
    static const char *const top[] = {"providers",   "password_policy",
                                      "tokens",      "redirect_urls",
                                      "rate_limits", "require_email_verification"};
    if (only_keys(b, top, 6, "config", m, mc)) return BB_EINVAL;
    json_t *v = json_object_get(b, "providers");
    if (v) {
        if (!json_is_object(v) || json_object_size(v) > TA_PROVIDERS_MAX)
            BAD("providers must be an object of at most 16 providers");
        const char *k;
        json_t *p;
        json_object_foreach(v, k, p)
        {
            if (!name_ok(k)) BAD("provider names are [a-z0-9_-]{1,31}");
            int rc = provider_check(ta, pid, k, p,
                                    json_object_get(json_object_get(old, "providers"), k), m, mc);
            if (rc) return rc;
        }
    }
    if ((v = json_object_get(b, "password_policy"))) {
        static const char *const pk[] = {"min_length", "require_lowercase", "require_uppercase",
                                         "require_digit", "require_symbol"};
        if (!json_is_object(v)) BAD("password_policy must be an object");
        if (only_keys(v, pk, 5, "password_policy", m, mc)) return BB_EINVAL;
        if (int_in(v, "min_length", 1, 128, m, mc, "password_policy")) return BB_EINVAL;
        for (size_t i = 1; i < 5; i++) {
            json_t *x = json_object_get(v, pk[i]);
            if (x && !json_is_boolean(x)) BAD("password_policy.require_* must be booleans");
        }
    }
    if ((v = json_object_get(b, "tokens"))) {
        static const char *const tk[] = {"access_ttl_s", "refresh_ttl_s"};
        if (!json_is_object(v)) BAD("tokens must be an object");
        if (only_keys(v, tk, 2, "tokens", m, mc) ||
            int_in(v, "access_ttl_s", 30, (int64_t)ta->c.max_ttl_s, m, mc, "tokens") ||
            int_in(v, "refresh_ttl_s", 60, (int64_t)ta->c.max_ttl_s, m, mc, "tokens"))
            return BB_EINVAL;
    }
    if ((v = json_object_get(b, "redirect_urls"))) {
        if (!json_is_array(v) || json_array_size(v) > TA_REDIRECTS_MAX)
            BAD("redirect_urls must be an array of at most 64 URLs");
        size_t i;
        json_t *u;
        json_array_foreach(v, i, u) if (!url_ok(json_string_value(u), TA_URL_MAX))
            BAD("each redirect URL must be an http(s) URL of at most 2048 bytes");
    }
    if ((v = json_object_get(b, "rate_limits"))) {
        static const char *const rk[] = {"ip_per_min", "ip_burst", "account_per_min",
                                         "account_burst"};
        if (!json_is_object(v)) BAD("rate_limits must be an object");
        if (only_keys(v, rk, 4, "rate_limits", m, mc)) return BB_EINVAL;
        for (size_t i = 0; i < 4; i++)
            if (int_in(v, rk[i], 1, 1000000, m, mc, "rate_limits")) return BB_EINVAL;
    }
    v = json_object_get(b, "require_email_verification");
    if (v && !json_is_boolean(v)) BAD("require_email_verification must be a boolean");
    return 0;
}
#undef BAD

/* PUT .../config: the given sections replace the stored ones (sections not sent are kept). */
static void h_config_put(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    json_t *b = NULL, *stored = NULL;
    char m[300] = "";
    if (!(b = body_obj(req, res))) goto out;
    int rc = config_check(c.ta, c.pid, b, c.cfg, m, sizeof m);
    if (rc) {
        if (rc == BB_EINVAL)
            err_reply(res, 400, "invalid_config", m);
        else
            rc_reply(res, rc, m);
        goto out;
    }
    rc = ta_doc_get(c.ta, c.pid, "_auth_config", "config", &stored);
    int fresh = rc == BB_ENOTFOUND;
    if (fresh) stored = json_object(), rc = stored ? 0 : BB_ENOMEM;
    if (rc == 0) {
        json_object_update(stored, b);
        json_object_set_new(stored, "_id", json_string("config"));
        rc = fresh ? ta_doc_create(c.ta, c.pid, "_auth_config", stored)
                   : ta_doc_put(c.ta, c.pid, "_auth_config", "config", stored);
        if (rc == BB_EEXIST) rc = BB_ECONFLICT; /* a concurrent first PUT: retry */
    }
    json_t *now = NULL;
    if (rc == 0) rc = ta_config_get(c.ta, c.pid, &now);
    if (rc) {
        rc_reply(res, rc, NULL);
        goto out;
    }
    json_t *v = config_view(now);
    bb_http_reply_json(res, 200, v);
    json_decref(v);
    json_decref(now);
out:
    json_decref(stored);
    json_decref(b);
    end(&c);
}

static void h_keys_rotate(struct bb_http_request *req, struct bb_http_response *res)
{
    struct ctx c;
    if (begin(req, res, &c, 'd')) return;
    char kid[BUN_KMS_KID_MAX + 1] = "", m[200] = "";
    int rc = ta_key_rotate(c.ta, c.pid, kid, sizeof kid, m, sizeof m);
    if (rc) {
        rc_reply(res, rc, m[0] ? m : NULL);
    } else {
        json_t *o = json_pack("{s:s,s:I}", "kid", kid, "grace_s", (json_int_t)c.ta->c.key_grace_s);
        bb_http_reply_json(res, 200, o);
        json_decref(o);
    }
    end(&c);
}

/* ---------------------------------------------------------------- the table */

#define A "/v1/tenant-auth/{projectId}/app"
#define D "/v1/tenant-auth/{projectId}/admin"
#define I BB_AUTH_INTERNAL
#define P BB_ROUTE_POOL
#define S SMALL_BODY

const struct bb_route ta_routes[] = {
    {"POST", A "/register", h_register, I, P, S, "tenant_auth_register"},
    {"POST", A "/login", h_login, I, P, S, "tenant_auth_login"},
    {"POST", A "/anonymous", h_anonymous, I, P, S, "tenant_auth_anonymous"},
    {"POST", A "/refresh", h_refresh, I, P, S, "tenant_auth_refresh"},
    {"POST", A "/logout", h_logout, I, P, S, "tenant_auth_logout"},
    {"GET", A "/me", h_me, I, P, 0, "tenant_auth_me"},
    {"GET", A "/verify", h_verify, I, P, 0, "tenant_auth_verify"},
    {"POST", A "/password", h_password, I, P, S, "tenant_auth_password"},
    {"POST", A "/password-reset", h_reset_request, I, P, S, "tenant_auth_reset"},
    {"POST", A "/password-reset/confirm", h_reset_confirm, I, P, S, "tenant_auth_reset"},
    {"POST", A "/verify-email", h_verify_send, I, P, S, "tenant_auth_verify_email"},
    {"POST", A "/verify-email/confirm", h_verify_confirm, I, P, S, "tenant_auth_verify_email"},
    {"GET", A "/jwks.json", h_jwks, I, P, 0, "tenant_auth_jwks"},
    {"GET", D "/users", h_users_list, I, P, 0, "tenant_auth_users"},
    {"POST", D "/users", h_user_create, I, P, S, "tenant_auth_users"},
    {"GET", D "/users/{userId}", h_user_get, I, P, 0, "tenant_auth_user"},
    {"DELETE", D "/users/{userId}", h_user_delete, I, P, 0, "tenant_auth_user"},
    {"POST", D "/users/{userId}/disable", h_user_disable, I, P, S, "tenant_auth_user"},
    {"POST", D "/users/{userId}/enable", h_user_enable, I, P, S, "tenant_auth_user"},
    {"GET", D "/config", h_config_get, I, P, 0, "tenant_auth_config"},
    {"PUT", D "/config", h_config_put, I, P, S, "tenant_auth_config"},
    {"POST", D "/keys/rotate", h_keys_rotate, I, P, S, "tenant_auth_keys"},
    {"GET", D "/jwks.json", h_jwks, I, P, 0, "tenant_auth_jwks"},
    /* public: a project's keys, for anyone verifying its tokens */
    {"GET", "/v1/projects/{projectId}/auth/jwks.json", h_jwks, BB_AUTH_NONE, P, 0,
     "tenant_auth_jwks"},
};
const size_t ta_nroutes = sizeof ta_routes / sizeof ta_routes[0];
