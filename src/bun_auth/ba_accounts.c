/* ba_accounts.c — developer accounts and sessions in PostgreSQL.
 *
 * Passwords: Argon2id through libsodium's crypto_pwhash_str (the PHC string keeps its own salt and
 * cost, so a cost change applies to new hashes and to each password at its next login). Unknown
 * emails are verified against a dummy hash of the same cost: login does the same work whether the
 * account exists or not.
 *
 * A session (bun_auth_sessions) is one login: a dashboard session token (stored as SHA-256), an
 * expiry, and a family of refresh tokens (bun_auth_refresh_tokens, SHA-256, single use). A refresh
 * marks its token used and adds the next one, in one transaction holding the row lock, so two
 * concurrent refreshes of the same token cannot both succeed; a used token presented again
 * revokes the session (reuse detection: whoever holds a stolen copy and the owner cannot both go
 * on). Revocations reach the in-memory table at once (ba_table.c), other processes' at their next
 * sync.
 */
#include "ba_int.h"
#include "bb_err.h"
#include "bb_id.h"
#include "bb_log.h"
#include "bb_pg.h"

#include <ctype.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_PREFIX "bbs_"
#define REFRESH_PREFIX "bbr_"
#define TOKEN_BYTES 32
#define TOKEN_LEN (4 + BB_BASE64URL_LEN(TOKEN_BYTES))
#define PG_WAIT_MS 5000

#define SET_ERR(...)                                                                               \
    do {                                                                                           \
        if (err && errcap) snprintf(err, errcap, __VA_ARGS__);                                     \
    } while (0)

/* ------------------------------------------------------------------ helpers */

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    int st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (!state || strcmp(state, "23505") != 0) /* unique violations are expected */
            bb_warn(BA_MOD, "pg_error sqlstate=%s", state ? state : "-");
    }
    return r;
}

static int ok(PGresult *r)
{
    int st = PQresultStatus(r);
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

static int exec1(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int rc = ok(r) ? 0 : BB_EIO;
    PQclear(r);
    return rc;
}

/* Normalized email (trimmed, ASCII lower-cased) into out, or BB_EINVAL with a reason. A
 * plausibility check, not RFC 5322: local@domain, printable ASCII without spaces, a dotted
 * domain of letters, digits and hyphens. */
static int normalize_email(const char *in, char *out, size_t cap, const char **why)
{
    *why = "email is not a valid address";
    if (!in) return BB_EINVAL;
    while (*in == ' ' || *in == '\t' || *in == '\r' || *in == '\n')
        in++;
    size_t n = strlen(in);
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\r' || in[n - 1] == '\n'))
        n--;
    if (n == 0 || n > BUN_AUTH_EMAIL_MAX || n >= cap) {
        if (n > BUN_AUTH_EMAIL_MAX) *why = "email is too long";
        return BB_EINVAL;
    }
    const char *at = NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),:;<>[\\]", ch)) return BB_EINVAL;
        if (ch == '@') {
            if (at) return BB_EINVAL;
            at = in + i;
        }
        out[i] = (char)tolower(ch);
    }
    out[n] = '\0';
    if (!at) return BB_EINVAL;
    size_t local = (size_t)(at - in);
    if (local == 0 || local > 64) return BB_EINVAL;
    const char *d = out + local + 1;
    size_t dl = strlen(d), label = 0;
    int dots = 0;
    if (dl < 3 || d[0] == '.' || d[dl - 1] == '.' || d[0] == '-') return BB_EINVAL;
    for (size_t i = 0; i < dl; i++) {
        char ch = d[i];
        if (ch == '.') {
            if (label == 0 || d[i - 1] == '-') return BB_EINVAL;
            dots++;
            label = 0;
        } else if (isalnum((unsigned char)ch) || ch == '-') {
            if (++label > 63) return BB_EINVAL;
        } else {
            return BB_EINVAL;
        }
    }
    return dots ? 0 : BB_EINVAL;
}

/* A name: valid UTF-8, no control characters, at most BUN_AUTH_NAME_MAX bytes. */
static int valid_name(const char *s)
{
    if (strlen(s) > BUN_AUTH_NAME_MAX) return 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int extra;
        if (c < 0x20 || c == 0x7f) return 0;
        if (c < 0x80)
            extra = 0;
        else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
            extra = 1;
        else if ((c & 0xf0) == 0xe0)
            extra = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
            extra = 3;
        else
            return 0;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xc0) != 0x80) return 0;
    }
    return 1;
}

/* Printable ASCII copy of a client-supplied string, bounded (for the sessions list). */
static void clean(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; in && *in && o + 1 < cap; in++)
        out[o++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
    out[o] = '\0';
}

static void user_from_row(PGresult *r, int row, struct bun_auth_user *u)
{
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", PQgetvalue(r, row, 0));
    snprintf(u->email, sizeof u->email, "%s", PQgetvalue(r, row, 1));
    snprintf(u->name, sizeof u->name, "%s", PQgetvalue(r, row, 2));
    u->created_at_ms = strtoll(PQgetvalue(r, row, 3), NULL, 10);
    u->email_verified = PQgetvalue(r, row, 4)[0] == 't';
}

#define USER_COLS "id, email, name, (extract(epoch FROM created_at) * 1000)::bigint, email_verified"

static int acquire(struct bun_auth *a, PGconn **c)
{
    int rc = bb_pg_pool_acquire(a->pg, c, PG_WAIT_MS);
    return rc == BB_EBUSY ? BB_EUNAVAIL : rc;
}

void bun_auth_tokens_release(struct bun_auth_tokens *t)
{
    if (!t) return;
    if (t->access_token) sodium_memzero(t->access_token, strlen(t->access_token));
    if (t->refresh_token) sodium_memzero(t->refresh_token, strlen(t->refresh_token));
    if (t->session_token) sodium_memzero(t->session_token, strlen(t->session_token));
    free(t->access_token);
    free(t->refresh_token);
    free(t->session_token);
    memset(t, 0, sizeof *t);
}

static char *new_token(const char *prefix, uint8_t hash[BB_SHA256_LEN])
{
    char *t = malloc(TOKEN_LEN + 1);
    if (!t) return NULL;
    memcpy(t, prefix, 4);
    if (bb_random_token(t + 4, TOKEN_LEN + 1 - 4, TOKEN_BYTES) != 0) {
        free(t);
        return NULL;
    }
    bb_sha256(t, strlen(t), hash);
    return t;
}

static void hexhash(const uint8_t h[BB_SHA256_LEN], char out[2 * BB_SHA256_LEN + 3])
{
    out[0] = '\\';
    out[1] = 'x';
    bb_hex_encode(h, BB_SHA256_LEN, out + 2, 2 * BB_SHA256_LEN + 1);
}

/* ------------------------------------------------------------------ register */

int bun_auth_register(struct bun_auth *a, const char *email, const char *password, const char *name,
                      struct bun_auth_user *out, char *err, size_t errcap)
{
    char em[BUN_AUTH_EMAIL_MAX + 1];
    const char *why;
    if (normalize_email(email, em, sizeof em, &why) != 0) {
        SET_ERR("%s", why);
        return BB_EINVAL;
    }
    size_t pl = password ? strlen(password) : 0;
    if (pl < a->c.password_min) {
        SET_ERR("password must be at least %zu characters", a->c.password_min);
        return BB_EINVAL;
    }
    if (pl > a->c.password_max) {
        SET_ERR("password must be at most %zu characters", a->c.password_max);
        return BB_EINVAL;
    }
    if (!name) name = "";
    if (!valid_name(name)) {
        SET_ERR("name must be at most %d bytes of UTF-8 text", BUN_AUTH_NAME_MAX);
        return BB_EINVAL;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(hash, password, pl, a->c.opslimit, a->c.memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        SET_ERR("password hashing failed");
        return BB_ENOMEM;
    }
    char id[BB_ID_LEN + 1];
    bb_id_new(id);
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) {
        SET_ERR("database unavailable");
        return rc;
    }
    const char *p[4] = {id, em, hash, name};
    PGresult *r = q(c,
                    "INSERT INTO bun_auth_users(id, email, password_hash, name) VALUES ($1, $2, "
                    "$3, $4) ON CONFLICT DO NOTHING RETURNING " USER_COLS,
                    4, p);
    if (!ok(r)) {
        rc = BB_EIO;
        SET_ERR("database error");
    } else if (PQntuples(r) == 0) {
        rc = BB_EEXIST;
        SET_ERR("an account with this email already exists");
    } else if (out) {
        user_from_row(r, 0, out);
    }
    PQclear(r);
    bb_pg_pool_release(a->pg, c);
    sodium_memzero(hash, sizeof hash);
    if (rc == 0) bb_info(BA_MOD, "user_registered id=%s", id);
    return rc;
}

/* ------------------------------------------------------------------ sessions */

/* Inserts a session and its first refresh token; fills out (tokens) and puts the session in the
 * table. c: an idle connection. */
static int session_create(struct bun_auth *a, PGconn *c, const struct bun_auth_user *u,
                          const struct bun_auth_client *client, struct bun_auth_tokens *out)
{
    memset(out, 0, sizeof *out);
    struct ba_sess s;
    memset(&s, 0, sizeof s);
    bb_id_new(s.id);
    snprintf(s.user_id, sizeof s.user_id, "%s", u->id);
    snprintf(s.email, sizeof s.email, "%s", u->email);
    uint8_t rh[BB_SHA256_LEN];
    out->session_token = new_token(SESSION_PREFIX, s.token_hash);
    out->refresh_token = new_token(REFRESH_PREFIX, rh);
    if (!out->session_token || !out->refresh_token) {
        bun_auth_tokens_release(out);
        return BB_ENOMEM;
    }
    int64_t now = ba_now(a);
    s.expires_at = now + a->c.session_ttl;
    int64_t rexp = now + a->c.refresh_ttl;
    if (rexp > s.expires_at) rexp = s.expires_at;
    char sh[2 * BB_SHA256_LEN + 3], rhh[2 * BB_SHA256_LEN + 3], sexp[24], rexps[24], nows[24];
    char ip[65], ua[513];
    hexhash(s.token_hash, sh);
    hexhash(rh, rhh);
    snprintf(sexp, sizeof sexp, "%lld", (long long)s.expires_at);
    snprintf(rexps, sizeof rexps, "%lld", (long long)rexp);
    snprintf(nows, sizeof nows, "%lld", (long long)now);
    clean(client ? client->ip : NULL, ip, sizeof ip);
    clean(client ? client->user_agent : NULL, ua, sizeof ua);
    int rc = exec1(c, "BEGIN");
    if (rc == 0) {
        const char *p[7] = {s.id, u->id, sh, sexp, ip, ua, nows};
        PGresult *r = q(c,
                        "INSERT INTO bun_auth_sessions(id, user_id, token_hash, expires_at, ip, "
                        "user_agent, created_at, last_used_at) VALUES ($1, $2, $3::bytea, "
                        "to_timestamp($4::bigint), $5, $6, to_timestamp($7::bigint), "
                        "to_timestamp($7::bigint))",
                        7, p);
        rc = ok(r) ? 0 : BB_EIO;
        PQclear(r);
    }
    if (rc == 0) {
        const char *p[3] = {rhh, s.id, rexps};
        PGresult *r = q(c,
                        "INSERT INTO bun_auth_refresh_tokens(token_hash, session_id, expires_at) "
                        "VALUES ($1::bytea, $2, to_timestamp($3::bigint))",
                        3, p);
        rc = ok(r) ? 0 : BB_EIO;
        PQclear(r);
    }
    /* past the per-user cap, the oldest live sessions go (bounds the session table) */
    PGresult *cap = NULL;
    if (rc == 0) {
        char maxs[24];
        snprintf(maxs, sizeof maxs, "%zu", a->c.max_sessions);
        const char *p[3] = {u->id, nows, maxs};
        cap = q(c,
                "UPDATE bun_auth_sessions SET revoked_at = now(), revoked_reason = "
                "'session_limit' WHERE id IN (SELECT id FROM bun_auth_sessions WHERE user_id = "
                "$1 AND revoked_at IS NULL AND expires_at > to_timestamp($2::bigint) ORDER BY "
                "created_at DESC, id DESC OFFSET $3::bigint) RETURNING id",
                3, p);
        rc = ok(cap) ? 0 : BB_EIO;
    }
    if (rc == 0)
        rc = exec1(c, "COMMIT");
    else
        exec1(c, "ROLLBACK");
    for (int i = 0; rc == 0 && cap && i < PQntuples(cap); i++)
        ba_table_revoke(&a->table, PQgetvalue(cap, i, 0));
    PQclear(cap);
    if (rc == 0) rc = ba_table_put(&a->table, &s, 0);
    if (rc == 0)
        rc =
            ba_jwt_issue(a, u->id, s.id, s.expires_at, &out->access_token, &out->access_expires_at);
    if (rc) {
        bun_auth_tokens_release(out);
        return rc;
    }
    out->refresh_expires_at = rexp;
    snprintf(out->session_id, sizeof out->session_id, "%s", s.id);
    return 0;
}

int bun_auth_login(struct bun_auth *a, const char *email, const char *password,
                   const struct bun_auth_client *client, struct bun_auth_user *user,
                   struct bun_auth_tokens *out)
{
    memset(out, 0, sizeof *out);
    if (!password) password = "";
    size_t pl = strlen(password);
    if (pl > a->c.password_max) pl = a->c.password_max; /* bounded work; never matches anyway */
    char em[BUN_AUTH_EMAIL_MAX + 1];
    const char *why;
    struct bun_auth_user u;
    char hash[crypto_pwhash_STRBYTES] = "";
    int found = 0, rc = 0;
    PGconn *c = NULL;
    if (normalize_email(email, em, sizeof em, &why) == 0) {
        rc = acquire(a, &c);
        if (rc) return rc;
        const char *p[1] = {em};
        PGresult *r = q(c,
                        "SELECT " USER_COLS ", password_hash FROM bun_auth_users WHERE "
                        "lower(email) = $1",
                        1, p);
        if (!ok(r)) {
            PQclear(r);
            bb_pg_pool_release(a->pg, c);
            return BB_EIO;
        }
        if (PQntuples(r) == 1 && strlen(PQgetvalue(r, 0, 5)) < sizeof hash) {
            user_from_row(r, 0, &u);
            snprintf(hash, sizeof hash, "%s", PQgetvalue(r, 0, 5));
            found = 1;
        }
        PQclear(r);
    }
    /* the same Argon2id work whether or not the account exists */
    int good = crypto_pwhash_str_verify(found ? hash : a->dummy_hash, password, pl) == 0 && found &&
               strlen(password) <= a->c.password_max;
    if (!good) {
        if (c) bb_pg_pool_release(a->pg, c);
        sodium_memzero(hash, sizeof hash);
        bb_info(BA_MOD, "login_failed");
        return BB_EAUTH;
    }
    if (crypto_pwhash_str_needs_rehash(hash, a->c.opslimit, a->c.memlimit) != 0) {
        char nh[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str_alg(nh, password, pl, a->c.opslimit, a->c.memlimit,
                                  crypto_pwhash_ALG_ARGON2ID13) == 0) {
            const char *p[2] = {u.id, nh};
            PQclear(q(c,
                      "UPDATE bun_auth_users SET password_hash = $2, updated_at = now() WHERE "
                      "id = $1",
                      2, p));
        }
        sodium_memzero(nh, sizeof nh);
    }
    sodium_memzero(hash, sizeof hash);
    rc = session_create(a, c, &u, client, out);
    bb_pg_pool_release(a->pg, c);
    if (rc) return rc;
    if (user) *user = u;
    bb_info(BA_MOD, "login user=%s sid=%s", u.id, out->session_id);
    return 0;
}

static int revoke_session(PGconn *c, const char *sid, const char *reason)
{
    const char *p[2] = {sid, reason};
    PGresult *r = q(c,
                    "UPDATE bun_auth_sessions SET revoked_at = coalesce(revoked_at, now()), "
                    "revoked_reason = coalesce(revoked_reason, $2) WHERE id = $1",
                    2, p);
    int rc = !ok(r) ? BB_EIO : atoi(PQcmdTuples(r)) == 0 ? BB_ENOTFOUND : 0;
    PQclear(r);
    return rc;
}

int bun_auth_refresh(struct bun_auth *a, const char *refresh_token,
                     const struct bun_auth_client *client, struct bun_auth_tokens *out)
{
    memset(out, 0, sizeof *out);
    if (!refresh_token || strlen(refresh_token) != TOKEN_LEN ||
        strncmp(refresh_token, REFRESH_PREFIX, 4) != 0)
        return BB_EAUTH;
    uint8_t h[BB_SHA256_LEN];
    char hh[2 * BB_SHA256_LEN + 3];
    bb_sha256(refresh_token, strlen(refresh_token), h);
    hexhash(h, hh);
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) return rc;
    char sid[BUN_AUTH_ID_MAX + 1] = "", uid[BUN_AUTH_ID_MAX + 1] = "";
    int64_t now = ba_now(a), sexp = 0;
    int reuse = 0;
    if ((rc = exec1(c, "BEGIN")) != 0) goto out;
    const char *p[1] = {hh};
    PGresult *r = q(c,
                    "SELECT r.session_id, r.used_at IS NOT NULL, extract(epoch FROM "
                    "r.expires_at)::bigint, s.revoked_at IS NOT NULL, extract(epoch FROM "
                    "s.expires_at)::bigint, s.user_id FROM bun_auth_refresh_tokens r JOIN "
                    "bun_auth_sessions s ON s.id = r.session_id WHERE r.token_hash = $1::bytea "
                    "FOR UPDATE OF r, s",
                    1, p);
    if (!ok(r)) {
        PQclear(r);
        rc = BB_EIO;
        goto rollback;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        rc = BB_EAUTH;
        goto rollback;
    }
    snprintf(sid, sizeof sid, "%s", PQgetvalue(r, 0, 0));
    int used = PQgetvalue(r, 0, 1)[0] == 't', revoked = PQgetvalue(r, 0, 3)[0] == 't';
    int64_t rexp = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    sexp = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    snprintf(uid, sizeof uid, "%s", PQgetvalue(r, 0, 5));
    PQclear(r);
    if (used) {
        reuse = !revoked;
        rc = revoke_session(c, sid, "refresh_token_reuse");
        if (rc == 0) rc = exec1(c, "COMMIT");
        if (rc) goto rollback;
        ba_table_revoke(&a->table, sid);
        if (reuse)
            bb_warn(BA_MOD, "refresh_token_reuse sid=%s user=%s action=session_revoked", sid, uid);
        rc = BB_EAUTH;
        goto out;
    }
    if (revoked || rexp <= now || sexp <= now) {
        rc = BB_EAUTH;
        goto rollback;
    }
    uint8_t nh[BB_SHA256_LEN];
    char nhh[2 * BB_SHA256_LEN + 3], nexp[24], ip[65], ua[513];
    out->refresh_token = new_token(REFRESH_PREFIX, nh);
    if (!out->refresh_token) {
        rc = BB_ENOMEM;
        goto rollback;
    }
    hexhash(nh, nhh);
    int64_t nrexp = now + a->c.refresh_ttl;
    if (nrexp > sexp) nrexp = sexp;
    snprintf(nexp, sizeof nexp, "%lld", (long long)nrexp);
    clean(client ? client->ip : NULL, ip, sizeof ip);
    clean(client ? client->user_agent : NULL, ua, sizeof ua);
    {
        const char *p2[1] = {hh};
        r = q(c, "UPDATE bun_auth_refresh_tokens SET used_at = now() WHERE token_hash = $1::bytea",
              1, p2);
        rc = ok(r) ? 0 : BB_EIO;
        PQclear(r);
    }
    if (rc == 0) {
        const char *p3[3] = {nhh, sid, nexp};
        r = q(c,
              "INSERT INTO bun_auth_refresh_tokens(token_hash, session_id, expires_at) VALUES "
              "($1::bytea, $2, to_timestamp($3::bigint))",
              3, p3);
        rc = ok(r) ? 0 : BB_EIO;
        PQclear(r);
    }
    if (rc == 0) {
        const char *p4[3] = {sid, client && client->ip ? ip : NULL,
                             client && client->user_agent ? ua : NULL};
        r = q(c,
              "UPDATE bun_auth_sessions SET last_used_at = now(), ip = coalesce($2, ip), "
              "user_agent = coalesce($3, user_agent) WHERE id = $1",
              3, p4);
        rc = ok(r) ? 0 : BB_EIO;
        PQclear(r);
    }
    if (rc == 0) rc = exec1(c, "COMMIT");
    if (rc) goto rollback;
    rc = ba_jwt_issue(a, uid, sid, sexp, &out->access_token, &out->access_expires_at);
    if (rc) goto out;
    out->refresh_expires_at = nrexp;
    snprintf(out->session_id, sizeof out->session_id, "%s", sid);
    goto out;
rollback:
    exec1(c, "ROLLBACK");
out:
    bb_pg_pool_release(a->pg, c);
    if (rc) bun_auth_tokens_release(out);
    return rc;
}

int bun_auth_logout(struct bun_auth *a, const char *session_id)
{
    if (!session_id || strlen(session_id) > BUN_AUTH_ID_MAX) return BB_ENOTFOUND;
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) return rc;
    rc = revoke_session(c, session_id, "logout");
    bb_pg_pool_release(a->pg, c);
    if (rc == 0) ba_table_revoke(&a->table, session_id);
    return rc;
}

int bun_auth_logout_all(struct bun_auth *a, const char *user_id)
{
    if (!user_id || strlen(user_id) > BUN_AUTH_ID_MAX) return BB_ENOTFOUND;
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) return rc;
    const char *p[1] = {user_id};
    PGresult *r = q(c,
                    "UPDATE bun_auth_sessions SET revoked_at = now(), revoked_reason = "
                    "'logout_all' WHERE user_id = $1 AND revoked_at IS NULL",
                    1, p);
    rc = ok(r) ? 0 : BB_EIO;
    PQclear(r);
    bb_pg_pool_release(a->pg, c);
    if (rc == 0) {
        ba_table_revoke_user(&a->table, user_id);
        bb_info(BA_MOD, "logout_all user=%s", user_id);
    }
    return rc;
}

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

int bun_auth_sessions(struct bun_auth *a, const char *user_id, json_t **out)
{
    *out = NULL;
    if (!user_id) return BB_EINVAL;
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) return rc;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)ba_now(a));
    const char *p[2] = {user_id, now};
    PGresult *r = q(c,
                    "SELECT id, " TS("created_at") ", " TS("last_used_at") ", " TS(
                        "expires_at") ", ip, user_agent FROM bun_auth_sessions WHERE user_id = "
                                      "$1 AND revoked_at IS NULL AND expires_at > "
                                      "to_timestamp($2::bigint) ORDER BY created_at DESC, id "
                                      "DESC LIMIT 1000",
                    2, p);
    if (!ok(r)) {
        rc = BB_EIO;
    } else {
        json_t *arr = json_array();
        for (int i = 0; arr && i < PQntuples(r); i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", PQgetvalue(r, i, 0), "created_at",
                               PQgetvalue(r, i, 1), "last_used_at", PQgetvalue(r, i, 2),
                               "expires_at", PQgetvalue(r, i, 3), "ip", PQgetvalue(r, i, 4),
                               "user_agent", PQgetvalue(r, i, 5)));
        *out = arr;
        rc = arr ? 0 : BB_ENOMEM;
    }
    PQclear(r);
    bb_pg_pool_release(a->pg, c);
    return rc;
}

int bun_auth_session_revoke(struct bun_auth *a, const char *user_id, const char *session_id)
{
    if (!user_id || !session_id || strlen(session_id) > BUN_AUTH_ID_MAX) return BB_ENOTFOUND;
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) return rc;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)ba_now(a));
    const char *p[3] = {session_id, user_id, now};
    PGresult *r = q(c,
                    "UPDATE bun_auth_sessions SET revoked_at = now(), revoked_reason = 'revoked' "
                    "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > "
                    "to_timestamp($3::bigint)",
                    3, p);
    rc = !ok(r) ? BB_EIO : atoi(PQcmdTuples(r)) == 0 ? BB_ENOTFOUND : 0;
    PQclear(r);
    bb_pg_pool_release(a->pg, c);
    if (rc == 0) ba_table_revoke(&a->table, session_id);
    return rc;
}

/* ------------------------------------------------------------------ users */

static int user_query(struct bun_auth *a, const char *sql, const char *arg,
                      struct bun_auth_user *out)
{
    PGconn *c = NULL;
    int rc = acquire(a, &c);
    if (rc) return rc;
    const char *p[1] = {arg};
    PGresult *r = q(c, sql, 1, p);
    if (!ok(r))
        rc = BB_EIO;
    else if (PQntuples(r) != 1)
        rc = BB_ENOTFOUND;
    else if (out)
        user_from_row(r, 0, out);
    PQclear(r);
    bb_pg_pool_release(a->pg, c);
    return rc;
}

int bun_auth_user_get(struct bun_auth *a, const char *user_id, struct bun_auth_user *out)
{
    if (!user_id || strlen(user_id) > BUN_AUTH_ID_MAX) return BB_ENOTFOUND;
    return user_query(a, "SELECT " USER_COLS " FROM bun_auth_users WHERE id = $1", user_id, out);
}

int bun_auth_user_by_email(struct bun_auth *a, const char *email, struct bun_auth_user *out)
{
    char em[BUN_AUTH_EMAIL_MAX + 1];
    const char *why;
    if (normalize_email(email, em, sizeof em, &why) != 0) return BB_ENOTFOUND;
    return user_query(a, "SELECT " USER_COLS " FROM bun_auth_users WHERE lower(email) = $1", em,
                      out);
}
