/* platform_auth.c — developer accounts over HTTP (/v1/auth/...), the self-hosted setup, the
 * instance status, rate limits, and the helpers the handlers share.
 *
 * Accounts, passwords and sessions are bun-auth's (bun_auth.h), called in-process on the worker
 * pool; this file parses bodies, maps errors to statuses, sets the session cookie and applies the
 * rate limits. Authorization is never decided here: the route table's matrix rows are checked by
 * the dispatcher (platform_authz.c).
 */
#include "platform_internal.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_pg.h"
#include "bb_service.h"
#include "bb_sse.h"
#include "bun_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- shared helpers */

void plat_reply_err(struct bb_http_response *res, int status, const char *code, const char *msg)
{
    bb_http_reply_error_status(res, status, code, msg);
}

struct bun_auth *plat_bun_auth(struct platform *p, struct bb_http_response *res)
{
    struct bun_auth *a = bb_host_service_state(p->rt->host, "bun-auth");
    if (!a) plat_reply_err(res, 503, "unavailable", "bun-auth is not running in this process");
    return a;
}

json_t *plat_body(struct bb_http_request *req, struct bb_http_response *res)
{
    json_t *j = NULL;
    char err[160] = "";
    if (req->body_len == 0) {
        plat_reply_err(res, 400, "invalid_body", "a JSON object body is required");
        return NULL;
    }
    int rc = bb_json_parse(req->body, req->body_len, 16, &j, err, sizeof err);
    if (rc) {
        char msg[220];
        snprintf(msg, sizeof msg, "invalid JSON body: %s", err[0] ? err : bb_strerror(rc));
        plat_reply_err(res, rc == BB_ETOOBIG ? 413 : 400,
                       rc == BB_ETOOBIG ? "payload_too_large" : "invalid_body", msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        plat_reply_err(res, 400, "invalid_body", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

PGconn *plat_pg(struct platform *p, struct bb_http_response *res)
{
    PGconn *c = NULL;
    if (bb_pg_pool_acquire(p->rt->pg, &c, 5000) != 0) {
        plat_reply_err(res, 503, "unavailable", "the control-plane database is not reachable");
        return NULL;
    }
    return c;
}

void plat_pg_release(struct platform *p, PGconn *c)
{
    bb_pg_pool_release(p->rt->pg, c);
}

PGresult *plat_q(PGconn *c, const char *sql, int n, const char *const *params)
{
    return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

int plat_cmd_ok(PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int plat_bump_version(PGconn *c)
{
    PGresult *r = PQexec(c, "UPDATE platform_version SET v = v + 1 WHERE id = 1");
    int ok = plat_cmd_ok(r);
    PQclear(r);
    return ok ? 0 : BB_EIO;
}

const char *plat_identity_sid(const struct bb_identity *id)
{
    if (!id->claims) return NULL;
    const char *s = bb_json_str(id->claims, "sid", NULL);
    return s && *s ? s : NULL;
}

int plat_is_admin(struct platform *p, PGconn *c, const char *uid)
{
    (void)p;
    const char *prm[1] = {uid};
    PGresult *r = plat_q(c, "SELECT 1 FROM platform_instance_admins WHERE user_id = $1", 1, prm);
    int yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return yes;
}

int plat_rate_check(struct platform *p, struct bb_http_request *req, struct bb_http_response *res,
                    const char *what, const char *account)
{
    if (!p->cfg.rate_limit) return 0;
    char ip[64];
    if (bb_http_client_ip(req, ip, sizeof ip) != 0) snprintf(ip, sizeof ip, "local");
    char key[400];
    uint64_t retry = 0, now = bb_time_wall_ms();
    snprintf(key, sizeof key, "%s|ip|%s", what, ip);
    int rc = bb_rl_take(p->rl, key, p->cfg.rate_ip_per_min, p->cfg.rate_ip_burst, now, &retry);
    if (rc == 0 && account && *account) {
        snprintf(key, sizeof key, "%s|acct|%.300s", what, account);
        rc = bb_rl_take(p->rl, key, p->cfg.rate_account_per_min, p->cfg.rate_account_burst, now,
                          &retry);
    }
    if (rc == 0) return 0;
    char ra[32];
    snprintf(ra, sizeof ra, "%llu", (unsigned long long)retry);
    plat_reply_err(res, 429, "rate_limited", "too many requests; retry later");
    bb_http_set_header(res, "Retry-After", ra);
    return BB_ELIMIT;
}

/* Lower-cased, trimmed copy of an email for the per-account limiter key. */
static void norm_email(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (!in) in = "";
    while (*in == ' ' || *in == '\t')
        in++;
    for (; *in && o + 1 < cap; in++)
        out[o++] = (char)((*in >= 'A' && *in <= 'Z') ? *in + 32 : *in);
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
    out[o] = '\0';
}

static json_t *user_json(const struct bun_auth_user *u)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:b}", "id", u->id, "email", u->email, "name", u->name,
                     "created_at", (json_int_t)u->created_at_ms, "email_verified",
                     u->email_verified);
}

static void set_cookie(struct platform *p, struct bb_http_response *res, const char *token,
                       uint64_t max_age)
{
    char c[600];
    snprintf(c, sizeof c, "session_token=%s; Path=/; Max-Age=%llu; HttpOnly; SameSite=Lax%s",
             token ? token : "", (unsigned long long)max_age,
             p->cfg.cookie_secure ? "; Secure" : "");
    bb_http_set_header(res, "Set-Cookie", c);
}

static void clear_cookie(struct platform *p, struct bb_http_response *res)
{
    char c[200];
    snprintf(c, sizeof c, "session_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax%s",
             p->cfg.cookie_secure ? "; Secure" : "");
    bb_http_set_header(res, "Set-Cookie", c);
}

/* A string member: absent → dflt; present but not a string → BB_EINVAL. */
static int str_field(const json_t *o, const char *k, const char *dflt, const char **out)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_string(v)) return BB_EINVAL;
    *out = json_string_value(v);
    return 0;
}

static int credentials(json_t *b, struct bb_http_response *res, const char **email,
                       const char **password, const char **name, int want_name)
{
    if (str_field(b, "email", NULL, email) || str_field(b, "password", NULL, password) ||
        (want_name && str_field(b, "name", "", name))) {
        plat_reply_err(res, 400, "invalid_body", "email, password and name must be strings");
        return BB_EINVAL;
    }
    if (!*email || !**email || !*password || !**password) {
        plat_reply_err(res, 400, "invalid_body", "email and password are required");
        return BB_EINVAL;
    }
    return 0;
}

static void client_of(struct bb_http_request *req, char *ip, size_t cap, struct bun_auth_client *cl)
{
    if (bb_http_client_ip(req, ip, cap) != 0) ip[0] = '\0';
    cl->ip = ip[0] ? ip : NULL;
    cl->user_agent = bb_http_header(req, "User-Agent");
}

static json_t *tokens_json(const struct bun_auth_tokens *t)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:s}", "access_token", t->access_token, "refresh_token",
                     t->refresh_token, "expires_at", (json_int_t)t->access_expires_at,
                     "refresh_expires_at", (json_int_t)t->refresh_expires_at, "session_id",
                     t->session_id);
}

/* Setup complete (self-hosted): the platform_setup row exists. -1 on a database error. */
static int setup_complete(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT 1 FROM platform_setup WHERE id = 1");
    int v = PQresultStatus(r) != PGRES_TUPLES_OK ? -1 : PQntuples(r) == 1;
    PQclear(r);
    return v;
}

/* ---------------------------------------------------------------- handlers */

void plat_h_status(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    struct bb_runtime *rt = p->rt;
    int done = 1;
    if (p->cfg.mode == MODE_SELF_HOSTED) {
        PGconn *c = plat_pg(p, res);
        if (!c) return;
        done = setup_complete(c);
        plat_pg_release(p, c);
        if (done < 0) {
            plat_reply_err(res, 503, "unavailable", "the control-plane database failed");
            return;
        }
    }
    json_t *services = bb_host_service_names(rt->host);
    json_t *body = json_pack(
        "{s:s,s:s,s:I,s:o,s:{s:b},s:s,s:s,s:b}", "version", BB_VERSION, "instance_id",
        p->instance_id, "uptime_seconds", (json_int_t)((bb_time_wall_ms() - rt->started_ms) / 1000),
        "services", services, "database", "embedded", rt->pg_embedded, "url",
        rt->public_url ? rt->public_url : "", "deployment_mode",
        p->cfg.mode == MODE_SELF_HOSTED ? "self_hosted" : "cloud", "setup_complete", done);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

void plat_h_register(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    json_t *b = plat_body(req, res);
    if (!b) return;
    const char *email = NULL, *password = NULL, *name = NULL;
    char acct[BUN_AUTH_EMAIL_MAX + 1];
    if (credentials(b, res, &email, &password, &name, 1)) goto out;
    norm_email(email, acct, sizeof acct);
    if (plat_rate_check(p, req, res, "register", acct)) goto out;
    if (p->cfg.mode == MODE_SELF_HOSTED) {
        PGconn *c = plat_pg(p, res);
        if (!c) goto out;
        int done = setup_complete(c);
        plat_pg_release(p, c);
        if (done != 0) {
            if (done < 0)
                plat_reply_err(res, 503, "unavailable", "the database failed");
            else
                plat_reply_err(res, 403, "signup_disabled",
                               "Sign up is disabled on this instance. Contact your administrator.");
            goto out;
        }
    }
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) goto out;
    struct bun_auth_user u;
    char err[200] = "";
    int rc = bun_auth_register(a, email, password, name, &u, err, sizeof err);
    if (rc == BB_EEXIST)
        plat_reply_err(res, 409, "email_taken", "this email is already registered");
    else if (rc == BB_EINVAL)
        plat_reply_err(res, 400, "invalid_body", err[0] ? err : "invalid input");
    else if (rc)
        bb_http_reply_error(res, rc, err[0] ? err : NULL);
    else {
        json_t *j = user_json(&u);
        bb_http_reply_json(res, 201, j);
        json_decref(j);
    }
out:
    json_decref(b);
}

static void reply_session(struct platform *p, struct bb_http_response *res, int status,
                          const struct bun_auth_user *u, struct bun_auth_tokens *t, int admin)
{
    json_t *j = tokens_json(t);
    if (u) json_object_set_new(j, "user", user_json(u));
    if (admin >= 0) json_object_set_new(j, "is_instance_admin", json_boolean(admin));
    if (t->session_token) /* login only: a refresh keeps the session's cookie */
        set_cookie(p, res, t->session_token, p->cfg.session_cookie_max_age_s);
    bb_http_reply_json(res, status, j);
    json_decref(j);
}

void plat_h_login(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    json_t *b = plat_body(req, res);
    if (!b) return;
    const char *email = NULL, *password = NULL;
    char acct[BUN_AUTH_EMAIL_MAX + 1], ip[64];
    if (credentials(b, res, &email, &password, NULL, 0)) goto out;
    norm_email(email, acct, sizeof acct);
    if (plat_rate_check(p, req, res, "login", acct)) goto out;
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) goto out;
    struct bun_auth_client cl;
    client_of(req, ip, sizeof ip, &cl);
    struct bun_auth_user u;
    struct bun_auth_tokens t;
    memset(&t, 0, sizeof t);
    int rc = bun_auth_login(a, email, password, &cl, &u, &t);
    if (rc == BB_EAUTH || rc == BB_ENOTFOUND || rc == BB_EINVAL)
        plat_reply_err(res, 401, "invalid_credentials", "invalid email or password");
    else if (rc)
        bb_http_reply_error(res, rc, NULL);
    else
        reply_session(p, res, 200, &u, &t, -1);
    bun_auth_tokens_release(&t);
out:
    json_decref(b);
}

void plat_h_refresh(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    json_t *b = plat_body(req, res);
    if (!b) return;
    const char *rt = NULL;
    char ip[64];
    if (str_field(b, "refresh_token", NULL, &rt) || !rt || !*rt) {
        plat_reply_err(res, 400, "invalid_body", "refresh_token (a string) is required");
        goto out;
    }
    if (plat_rate_check(p, req, res, "refresh", NULL)) goto out;
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) goto out;
    struct bun_auth_client cl;
    client_of(req, ip, sizeof ip, &cl);
    struct bun_auth_tokens t;
    memset(&t, 0, sizeof t);
    int rc = bun_auth_refresh(a, rt, &cl, &t);
    if (rc == BB_EAUTH || rc == BB_ENOTFOUND || rc == BB_EINVAL)
        plat_reply_err(res, 401, "invalid_refresh_token",
                       "the refresh token is invalid, expired, revoked or already used");
    else if (rc)
        bb_http_reply_error(res, rc, NULL);
    else
        reply_session(p, res, 200, NULL, &t, -1);
    bun_auth_tokens_release(&t);
out:
    json_decref(b);
}

void plat_h_logout(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *sid = plat_identity_sid(&req->identity);
    if (!sid) {
        plat_reply_err(res, 400, "no_session", "this credential is not a session");
        return;
    }
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) return;
    int rc = bun_auth_logout(a, sid);
    if (rc && rc != BB_ENOTFOUND) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    clear_cookie(p, res);
    json_t *j = json_pack("{s:s}", "message", "logged out");
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

void plat_h_logout_all(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) return;
    int rc = bun_auth_logout_all(a, req->identity.uid);
    if (rc && rc != BB_ENOTFOUND) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    clear_cookie(p, res);
    json_t *j = json_pack("{s:s}", "message", "logged out everywhere");
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

void plat_h_me(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) return;
    struct bun_auth_user u;
    int rc = bun_auth_user_get(a, req->identity.uid, &u);
    if (rc == BB_ENOTFOUND) {
        plat_reply_err(res, 401, "unauthenticated", "this account no longer exists");
        return;
    }
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    json_t *j = user_json(&u);
    json_object_set_new(j, "auth", json_string(bb_identity_kind_name(req->identity.kind)));
    if (p->cfg.mode == MODE_SELF_HOSTED) {
        PGconn *c = plat_pg(p, res);
        if (!c) {
            json_decref(j);
            return;
        }
        json_object_set_new(j, "is_instance_admin", json_boolean(plat_is_admin(p, c, u.id)));
        plat_pg_release(p, c);
    }
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

void plat_h_sessions(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) return;
    json_t *arr = NULL;
    int rc = bun_auth_sessions(a, req->identity.uid, &arr);
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    if (!arr) arr = json_array();
    const char *sid = plat_identity_sid(&req->identity);
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        const char *id = bb_json_str(s, "id", "");
        json_object_set_new(s, "current", json_boolean(sid && !strcmp(sid, id)));
    }
    bb_http_reply_json(res, 200, arr);
    json_decref(arr);
}

void plat_h_session_revoke(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *id = bb_http_param(req, "id");
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) return;
    int rc = bun_auth_session_revoke(a, req->identity.uid, id ? id : "");
    if (rc == BB_ENOTFOUND) {
        plat_reply_err(res, 404, "not_found", "no such session");
        return;
    }
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    json_t *j = json_pack("{s:s}", "message", "session revoked");
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

/* GET /v1/auth/stream: an "auth" event at once, then the server's heartbeats; when the
 * credential stops resolving (logout, session revoked, token expired, PAT revoked) a last "auth"
 * event {"status":"revoked"|"expired"} is sent and the stream ends.
 *
 * The watch is cheap: one thread re-runs the router's resolvers (in-memory, non-blocking) on a
 * copy of each stream's credential headers every BUNBASE_PLATFORM_SYNC_MS. */
struct stream_watch {
    struct stream_watch *next;
    struct bb_sse *sse;
    char uid[BUN_AUTH_ID_MAX + 1];
    struct bb_http_header hdr[2];
    size_t nhdr;
    const struct bb_route *route;
};

struct plat_streams {
    struct platform *p;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct stream_watch *list;
    int stop, started;
    pthread_t thread;
};

static void watch_free(struct stream_watch *w)
{
    for (size_t i = 0; i < w->nhdr; i++) {
        free(w->hdr[i].name);
        free(w->hdr[i].value);
    }
    bb_sse_unref(w->sse);
    free(w);
}

/* 0 while the stream's credential still resolves to its user; else the status to report. */
static const char *watch_check(struct plat_streams *ps, struct stream_watch *w)
{
    struct bb_http_request fake;
    memset(&fake, 0, sizeof fake);
    fake.method = "GET";
    fake.headers = w->hdr;
    fake.nheaders = w->nhdr;
    fake.route = w->route;
    size_t n = 0;
    const struct bb_identity_resolver *res = bb_router_resolvers(ps->p->rt->router, &n);
    for (size_t i = 0; i < n; i++) {
        struct bb_identity id;
        struct bb_identity_reject why = {NULL, NULL};
        memset(&id, 0, sizeof id);
        int rc = res[i].resolve(res[i].arg, &fake, &id, &why);
        if (rc == BB_ENOTFOUND) continue;
        if (rc == BB_ENOMEM) return NULL; /* try again next time */
        const char *st = NULL;
        if (rc == BB_EAUTH)
            st = why.code && strstr(why.code, "expired") ? "expired" : "revoked";
        else if (!id.uid || strcmp(id.uid, w->uid) != 0)
            st = "revoked";
        bb_identity_release(&id);
        return st;
    }
    return "revoked";
}

static void *streams_thread(void *arg)
{
    struct plat_streams *ps = arg;
    pthread_mutex_lock(&ps->mu);
    while (!ps->stop) {
        struct timespec ts;
        bb_time_deadline(CLOCK_REALTIME, ps->p->cfg.sync_ms, &ts);
        pthread_cond_timedwait(&ps->cond, &ps->mu, &ts);
        if (ps->stop) break;
        struct stream_watch *todo = ps->list, *keep = NULL;
        ps->list = NULL;
        pthread_mutex_unlock(&ps->mu);
        while (todo) {
            struct stream_watch *w = todo;
            todo = w->next;
            const char *st = bb_sse_is_closed(w->sse) ? "" : watch_check(ps, w);
            if (!st) {
                w->next = keep;
                keep = w;
                continue;
            }
            if (*st) {
                char data[64];
                snprintf(data, sizeof data, "{\"status\":\"%s\"}", st);
                bb_sse_send(w->sse, "auth", NULL, data, strlen(data));
                bb_sse_close(w->sse);
            }
            watch_free(w);
        }
        pthread_mutex_lock(&ps->mu);
        while (keep) {
            struct stream_watch *w = keep;
            keep = w->next;
            w->next = ps->list;
            ps->list = w;
        }
    }
    pthread_mutex_unlock(&ps->mu);
    return NULL;
}

int plat_streams_new(struct platform *p, struct plat_streams **out)
{
    struct plat_streams *ps = calloc(1, sizeof *ps);
    if (!ps) return BB_ENOMEM;
    ps->p = p;
    pthread_mutex_init(&ps->mu, NULL);
    pthread_cond_init(&ps->cond, NULL);
    if (pthread_create(&ps->thread, NULL, streams_thread, ps) != 0) {
        pthread_mutex_destroy(&ps->mu);
        pthread_cond_destroy(&ps->cond);
        free(ps);
        return BB_ENOMEM;
    }
    ps->started = 1;
    *out = ps;
    return 0;
}

void plat_streams_free(struct plat_streams *ps)
{
    if (!ps) return;
    pthread_mutex_lock(&ps->mu);
    ps->stop = 1;
    pthread_cond_signal(&ps->cond);
    pthread_mutex_unlock(&ps->mu);
    if (ps->started) pthread_join(ps->thread, NULL);
    while (ps->list) {
        struct stream_watch *w = ps->list;
        ps->list = w->next;
        watch_free(w);
    }
    pthread_mutex_destroy(&ps->mu);
    pthread_cond_destroy(&ps->cond);
    free(ps);
}

static void watch_add(struct platform *p, struct bb_http_request *req, struct bb_sse *sse)
{
    struct stream_watch *w = calloc(1, sizeof *w);
    if (!w || !req->identity.uid) {
        free(w);
        bb_sse_unref(sse);
        return;
    }
    w->sse = sse;
    w->route = req->route;
    snprintf(w->uid, sizeof w->uid, "%s", req->identity.uid);
    static const char *const names[2] = {"Authorization", "Cookie"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = bb_http_header(req, names[i]);
        if (!v) continue;
        w->hdr[w->nhdr].name = strdup(names[i]);
        w->hdr[w->nhdr].value = strdup(v);
        w->nhdr++;
        if (!w->hdr[w->nhdr - 1].name || !w->hdr[w->nhdr - 1].value) {
            watch_free(w); /* unwatched: the stream still ends on disconnect */
            return;
        }
    }
    pthread_mutex_lock(&p->streams->mu);
    w->next = p->streams->list;
    p->streams->list = w;
    pthread_mutex_unlock(&p->streams->mu);
}

void plat_h_stream(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    struct bb_sse *sse = NULL;
    if (bb_sse_start(req, res, NULL, NULL, &sse) != 0) {
        plat_reply_err(res, 503, "out_of_memory", "out of memory");
        return;
    }
    json_t *j = json_pack("{s:s,s:s,s:s}", "status", "ok", "userId",
                          req->identity.uid ? req->identity.uid : "", "auth",
                          bb_identity_kind_name(req->identity.kind));
    char *s = j ? bb_json_dumps(j, NULL) : NULL;
    if (s) bb_sse_send(sse, "auth", NULL, s, strlen(s));
    free(s);
    json_decref(j);
    watch_add(p, req, sse); /* takes the reference */
}

/* POST /v1/setup: the first instance admin, exactly once. The platform_setup row (id = 1) is
 * unique, and the whole setup runs under a transaction-level advisory lock taken with "try":
 * concurrent callers get 409 setup_in_progress at once instead of queueing on connections. */
#define SETUP_LOCK_KEY "7370726574757031" /* arbitrary, fixed */
void plat_h_setup(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    if (plat_rate_check(p, req, res, "setup", NULL)) return;
    if (p->cfg.mode != MODE_SELF_HOSTED) {
        plat_reply_err(res, 400, "setup_unavailable", "Setup is not available in cloud mode");
        return;
    }
    json_t *b = plat_body(req, res);
    if (!b) return;
    const char *email = NULL, *password = NULL, *name = NULL;
    PGconn *c = NULL;
    PGresult *r = NULL;
    struct bun_auth_tokens t;
    memset(&t, 0, sizeof t);
    if (credentials(b, res, &email, &password, &name, 1)) goto out;
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) goto out;
    c = plat_pg(p, res);
    if (!c) goto out;
    int done = setup_complete(c);
    if (done) {
        if (done < 0)
            plat_reply_err(res, 503, "unavailable", "the database failed");
        else
            plat_reply_err(res, 403, "setup_complete", "Setup already completed");
        goto out;
    }
    r = PQexec(c, "BEGIN");
    PQclear(r);
    r = PQexec(c, "SELECT pg_try_advisory_xact_lock(x'" SETUP_LOCK_KEY "'::bigint)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQgetvalue(r, 0, 0)[0] != 't') {
        plat_reply_err(res, 409, "setup_in_progress", "another setup is in progress; retry");
        goto rollback;
    }
    PQclear(r);
    r = NULL;
    done = setup_complete(c);
    if (done) {
        if (done < 0)
            plat_reply_err(res, 503, "unavailable", "the database failed");
        else
            plat_reply_err(res, 403, "setup_complete", "Setup already completed");
        goto rollback;
    }
    struct bun_auth_user u;
    char err[200] = "";
    int rc = bun_auth_register(a, email, password, name, &u, err, sizeof err);
    if (rc == BB_EEXIST) { /* an account made before setup: its owner may claim it */
        struct bun_auth_client cl = {NULL, NULL};
        rc = bun_auth_login(a, email, password, &cl, &u, &t);
        if (rc) {
            plat_reply_err(res, 409, "email_taken",
                           "this email is registered with another password");
            goto rollback;
        }
    } else if (rc == BB_EINVAL) {
        plat_reply_err(res, 400, "invalid_body", err[0] ? err : "invalid input");
        goto rollback;
    } else if (rc) {
        bb_http_reply_error(res, rc, err[0] ? err : NULL);
        goto rollback;
    }
    const char *prm[1] = {u.id};
    r = plat_q(c, "INSERT INTO platform_setup(id, user_id) VALUES (1, $1)", 1, prm);
    if (!plat_cmd_ok(r)) {
        plat_reply_err(res, 403, "setup_complete", "Setup already completed");
        goto rollback;
    }
    PQclear(r);
    r = plat_q(c,
               "INSERT INTO platform_instance_admins(user_id) VALUES ($1) ON CONFLICT DO NOTHING",
               1, prm);
    if (!plat_cmd_ok(r)) goto dberr;
    PQclear(r);
    r = PQexec(c, "COMMIT");
    if (!plat_cmd_ok(r)) goto dberr;
    PQclear(r);
    r = NULL;
    bb_info("platform", "setup complete: first instance admin %s", u.id);
    if (!t.access_token) {
        char ip[64];
        struct bun_auth_client cl;
        client_of(req, ip, sizeof ip, &cl);
        if (bun_auth_login(a, email, password, &cl, &u, &t) != 0) {
            json_t *j = user_json(&u);
            json_object_set_new(j, "is_instance_admin", json_true());
            bb_http_reply_json(res, 201, j);
            json_decref(j);
            goto out;
        }
    }
    reply_session(p, res, 201, &u, &t, 1);
    goto out;
dberr:
    bb_warn("platform", "setup failed: %s", PQerrorMessage(c));
    plat_reply_err(res, 503, "unavailable", "the control-plane database failed");
rollback:
    PQclear(r);
    r = PQexec(c, "ROLLBACK");
out:
    PQclear(r);
    if (c) plat_pg_release(p, c);
    bun_auth_tokens_release(&t);
    json_decref(b);
}
