/* platform_projects.c — personal access tokens, projects, members, project keys and the project
 * config. Every handler runs on the worker pool after the dispatcher applied the route's matrix
 * row (platform_authz.c): what is checked here is data (does the row exist, is the role valid,
 * is this the owner), never permissions.
 *
 * Secrets (bbp_…, pk_…, sk_…) are 32 random bytes in base64url after the prefix; only their
 * SHA-256 (hex) and a visible prefix (the first 12 characters) are stored; the value is shown
 * once, in the answer that created it. Every change to tokens, keys or members bumps
 * platform_version in its transaction and reloads the in-memory cache before answering.
 */
#include "platform_internal.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_json.h"
#include "bb_host.h"
#include "bb_log.h"
#include "bb_service.h"
#include "bun_auth.h"
#include "bun_kms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define PREFIX_LEN 12

/* ---------------------------------------------------------------- small helpers */

static void reply_msg(struct bb_http_response *res, int status, const char *msg)
{
    json_t *j = json_pack("{s:s}", "message", msg);
    bb_http_reply_json(res, status, j);
    json_decref(j);
}

static void db_fail(struct bb_http_response *res, PGconn *c, const char *what)
{
    bb_warn("platform", "%s failed: %s", what, c ? PQerrorMessage(c) : "no connection");
    plat_reply_err(res, 503, "unavailable", "the control-plane database failed");
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = plat_cmd_ok(r);
    PQclear(r);
    return ok;
}

/* Commits (bumping the version first) and reloads the cache. 0 or BB_EIO. */
static int commit_changed(struct platform *p, PGconn *c)
{
    if (plat_bump_version(c) || !exec_ok(c, "COMMIT")) return BB_EIO;
    plat_cache_reload_with(p->cache, c);
    return 0;
}

static void rollback(PGconn *c)
{
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
}

/* A new secret "<prefix><43 chars>" with its hash and visible prefix. */
static int new_secret(const char *prefix, char *out, size_t cap, char hash[65],
                      char vis[PREFIX_LEN + 1])
{
    char rnd[BB_BASE64URL_LEN(32) + 1];
    int rc = bb_random_token(rnd, sizeof rnd, 32);
    if (rc) return rc;
    snprintf(out, cap, "%s%s", prefix, rnd);
    bb_sha256_hex(out, strlen(out), hash);
    memcpy(vis, out, PREFIX_LEN);
    vis[PREFIX_LEN] = '\0';
    return 0;
}

/* name: a non-empty string of at most max bytes without control characters. */
static const char *check_name(struct platform *p, const json_t *v, const char **why)
{
    const char *s = json_string_value(v);
    if (!s) {
        *why = "name must be a string";
        return NULL;
    }
    size_t n = strlen(s);
    if (n == 0 || n > p->cfg.max_name_bytes) {
        *why = "name must be 1 to BUNBASE_PLATFORM_MAX_NAME_BYTES bytes";
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            *why = "name must not contain control characters";
            return NULL;
        }
    return s;
}

/* ---------------------------------------------------------------- personal access tokens */

static json_t *token_row(PGresult *r, int i)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:s}", "id", PQgetvalue(r, i, 0), "name",
                          PQgetvalue(r, i, 1), "prefix", PQgetvalue(r, i, 2), "scopes",
                          plat_scopes_json((uint64_t)strtoll(PQgetvalue(r, i, 3), NULL, 10)),
                          "created_at", PQgetvalue(r, i, 4));
    json_object_set_new(j, "expires_at",
                        PQgetisnull(r, i, 5) ? json_null() : json_string(PQgetvalue(r, i, 5)));
    json_object_set_new(j, "expired", json_boolean(PQgetvalue(r, i, 6)[0] == 't'));
    json_object_set_new(j, "last_used_at",
                        PQgetisnull(r, i, 7) ? json_null() : json_string(PQgetvalue(r, i, 7)));
    return j;
}

#define TOKEN_COLS                                                                                 \
    "id, name, prefix, scopes, " TS("created_at") ", " TS(                                         \
        "expires_at") ", "                                                                         \
                      "(expires_at IS NOT NULL AND expires_at <= now()), " TS("last_used_at")

void plat_h_tokens_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[1] = {req->identity.uid};
    PGresult *r = plat_q(c,
                         "SELECT " TOKEN_COLS " FROM platform_tokens WHERE user_id = $1 AND "
                         "revoked_at IS NULL ORDER BY created_at DESC, id DESC",
                         1, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(res, c, "token list");
    } else {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(arr, token_row(r, i));
        bb_http_reply_json(res, 200, arr);
        json_decref(arr);
    }
    PQclear(r);
    plat_pg_release(p, c);
}

void plat_h_tokens_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    json_t *b = plat_body(req, res);
    if (!b) return;
    PGconn *c = NULL;
    PGresult *r = NULL;
    const char *why = NULL;
    const char *name = check_name(p, json_object_get(b, "name"), &why);
    char err[160];
    uint64_t scopes = 0;
    if (!name) {
        plat_reply_err(res, 400, "invalid_body", why);
        goto out;
    }
    if (plat_scopes_parse(json_object_get(b, "scopes"), &scopes, err, sizeof err)) {
        plat_reply_err(res, 400, "invalid_scope", err);
        goto out;
    }
    uint64_t ttl = p->cfg.pat_default_ttl_s;
    json_t *tv = json_object_get(b, "ttl_seconds");
    if (tv && !json_is_null(tv)) {
        if (!json_is_integer(tv) || json_integer_value(tv) < 1 ||
            (uint64_t)json_integer_value(tv) > p->cfg.pat_max_ttl_s) {
            snprintf(err, sizeof err, "ttl_seconds must be an integer in [1, %llu]",
                     (unsigned long long)p->cfg.pat_max_ttl_s);
            plat_reply_err(res, 400, "invalid_body", err);
            goto out;
        }
        ttl = (uint64_t)json_integer_value(tv);
    }
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    c = plat_pg(p, res);
    if (!c) goto out;
    const char *uid = req->identity.uid;
    if (!exec_ok(c, "BEGIN")) goto dberr;
    if (p->cfg.mode == MODE_CLOUD && p->cfg.max_tokens_per_user) {
        const char *prm[1] = {uid};
        /* serialise this user's creations so the count is exact */
        r = plat_q(c, "SELECT pg_advisory_xact_lock(hashtext('platform_tokens:' || $1))", 1, prm);
        PQclear(r);
        r = plat_q(c,
                   "SELECT count(*) FROM platform_tokens WHERE user_id = $1 AND revoked_at IS NULL "
                   "AND (expires_at IS NULL OR expires_at > now())",
                   1, prm);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
        uint64_t n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        r = NULL;
        if (n >= p->cfg.max_tokens_per_user) {
            snprintf(err, sizeof err,
                     "API token limit reached (max %llu per user). Delete a token or contact "
                     "support.",
                     (unsigned long long)p->cfg.max_tokens_per_user);
            plat_reply_err(res, 403, "limit_reached", err);
            rollback(c);
            goto out;
        }
    }
    char id[BB_ID_LEN + 1], tok[64], hash[65], vis[PREFIX_LEN + 1], sc[32], ttls[32];
    bb_id_new(id);
    if (new_secret("bbp_", tok, sizeof tok, hash, vis)) goto dberr;
    snprintf(sc, sizeof sc, "%lld", (long long)scopes);
    snprintf(ttls, sizeof ttls, "%llu", (unsigned long long)ttl);
    const char *prm[7] = {id, uid, name, vis, hash, sc, ttls};
    r = plat_q(c,
               "INSERT INTO platform_tokens(id, user_id, name, prefix, token_hash, scopes, "
               "expires_at) VALUES ($1, $2, $3, $4, $5, $6::bigint, now() + $7::bigint * "
               "interval '1 second') RETURNING " TOKEN_COLS,
               7, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) goto dberr;
    json_t *j = token_row(r, 0);
    PQclear(r);
    r = NULL;
    if (plat_audit(c, &who, req, NULL, uid, "token.create", id,
                   json_pack("{s:s,s:s}", "name", name, "prefix", vis)) ||
        commit_changed(p, c)) {
        json_decref(j);
        goto dberr;
    }
    json_object_set_new(j, "token", json_string(tok));
    bb_http_reply_json(res, 201, j);
    json_decref(j);
    goto out;
dberr:
    db_fail(res, c, "token create");
    if (c) rollback(c);
out:
    PQclear(r);
    if (c) plat_pg_release(p, c);
    json_decref(b);
}

void plat_h_tokens_revoke(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *id = bb_http_param(req, "id");
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[2] = {id ? id : "", req->identity.uid};
    PGresult *r = NULL;
    if (!exec_ok(c, "BEGIN")) goto dberr;
    r = plat_q(c,
               "UPDATE platform_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND "
               "revoked_at IS NULL RETURNING name, prefix",
               2, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
    if (PQntuples(r) != 1) {
        rollback(c);
        plat_reply_err(res, 404, "not_found", "token not found");
        goto out;
    }
    if (plat_audit(
            c, &who, req, NULL, req->identity.uid, "token.revoke", prm[0],
            json_pack("{s:s,s:s}", "name", PQgetvalue(r, 0, 0), "prefix", PQgetvalue(r, 0, 1))) ||
        commit_changed(p, c))
        goto dberr;
    reply_msg(res, 200, "token revoked");
    goto out;
dberr:
    db_fail(res, c, "token revoke");
    rollback(c);
out:
    PQclear(r);
    plat_pg_release(p, c);
}

/* ---------------------------------------------------------------- projects */

#define PROJECT_COLS "p.id, p.name, p.slug, p.owner_id, " TS("p.created_at") ", " TS("p.updated_at")

static json_t *project_row(PGresult *r, int i)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", PQgetvalue(r, i, 0), "name",
                     PQgetvalue(r, i, 1), "slug", PQgetvalue(r, i, 2), "owner_id",
                     PQgetvalue(r, i, 3), "created_at", PQgetvalue(r, i, 4), "updated_at",
                     PQgetvalue(r, i, 5));
}

/* slug from a name: lower-case [a-z0-9], other runs → '-', trimmed, at most 40 chars. */
static void slugify(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    int dash = 0;
    for (const unsigned char *s = (const unsigned char *)name; *s && o + 1 < cap && o < 40; s++) {
        unsigned char ch = *s;
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash && o > 0) out[o++] = '-';
            dash = 0;
            if (o + 1 < cap) out[o++] = (char)ch;
        } else {
            dash = 1;
        }
    }
    out[o] = '\0';
    if (o == 0) snprintf(out, cap, "project");
}

static int slug_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 48 || s[0] == '-' || s[n - 1] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

void plat_h_projects_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[1] = {req->identity.uid};
    PGresult *r = plat_q(c,
                         "SELECT " PROJECT_COLS ", m.role FROM platform_projects p JOIN "
                         "platform_members m ON m.project_id = p.id WHERE m.user_id = $1 "
                         "ORDER BY p.created_at DESC, p.id DESC",
                         1, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(res, c, "project list");
    } else {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(r); i++) {
            json_t *j = project_row(r, i);
            json_object_set_new(j, "role", json_string(PQgetvalue(r, i, 6)));
            json_array_append_new(arr, j);
        }
        bb_http_reply_json(res, 200, arr);
        json_decref(arr);
    }
    PQclear(r);
    plat_pg_release(p, c);
}

/* Inserts a new active key of kind ("pk"/"sk") for project; returns its JSON (with the value). */
static json_t *insert_key(PGconn *c, const char *project, const char *kind)
{
    char id[BB_ID_LEN + 1], val[64], hash[65], vis[PREFIX_LEN + 1];
    char pre[4];
    snprintf(pre, sizeof pre, "%s_", kind);
    bb_id_new(id);
    if (new_secret(pre, val, sizeof val, hash, vis)) return NULL;
    const char *prm[5] = {id, project, kind, vis, hash};
    PGresult *r = plat_q(c,
                         "INSERT INTO platform_keys(id, project_id, kind, prefix, key_hash) VALUES "
                         "($1, $2, $3, $4, $5) RETURNING " TS("created_at"),
                         5, prm);
    json_t *j = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "kind", kind, "prefix", vis, "key", val,
                      "created_at", PQgetvalue(r, 0, 0));
    PQclear(r);
    return j;
}

void plat_h_projects_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    json_t *b = plat_body(req, res);
    if (!b) return;
    PGconn *c = NULL;
    PGresult *r = NULL;
    json_t *out = NULL;
    const char *why = NULL;
    char err[200], slug[64];
    const char *uid = req->identity.uid;
    const char *name = check_name(p, json_object_get(b, "name"), &why);
    if (!name) {
        plat_reply_err(res, 400, "invalid_body", why);
        goto done;
    }
    const json_t *sv = json_object_get(b, "slug");
    int slug_given = sv && !json_is_null(sv);
    if (slug_given) {
        if (!json_is_string(sv) || !slug_valid(json_string_value(sv))) {
            plat_reply_err(res, 400, "invalid_slug",
                           "slug must be 1 to 48 characters of [a-z0-9-], not starting or ending "
                           "with '-'");
            goto done;
        }
        snprintf(slug, sizeof slug, "%s", json_string_value(sv));
    } else {
        slugify(name, slug, sizeof slug);
    }
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    c = plat_pg(p, res);
    if (!c) goto done;
    if (p->cfg.mode == MODE_SELF_HOSTED && !plat_is_admin(p, c, uid)) {
        /* an instance-level rule of the deployment mode (not a project permission) */
        plat_reply_err(res, 403, "forbidden", "You do not have permission to create projects");
        goto done;
    }
    if (!exec_ok(c, "BEGIN")) goto dberr;
    const char *uprm[1] = {uid};
    if (p->cfg.mode == MODE_CLOUD && p->cfg.max_projects_per_user) {
        r = plat_q(c, "SELECT pg_advisory_xact_lock(hashtext('platform_projects:' || $1))", 1,
                   uprm);
        PQclear(r);
        r = plat_q(c, "SELECT count(*) FROM platform_projects WHERE owner_id = $1", 1, uprm);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
        uint64_t n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        r = NULL;
        if (n >= p->cfg.max_projects_per_user) {
            snprintf(err, sizeof err,
                     "Project limit reached (max %llu per user). Delete a project or contact "
                     "support.",
                     (unsigned long long)p->cfg.max_projects_per_user);
            plat_reply_err(res, 403, "limit_reached", err);
            rollback(c);
            goto done;
        }
    }
    char id[BB_ID_LEN + 1];
    bb_id_new(id);
    for (int attempt = 0;; attempt++) {
        char try_slug[80];
        if (attempt == 0) {
            snprintf(try_slug, sizeof try_slug, "%s", slug);
        } else {
            char rnd[16];
            bb_random_token(rnd, sizeof rnd, 6);
            for (char *q = rnd; *q; q++)
                if (*q >= 'A' && *q <= 'Z')
                    *q = (char)(*q + 32);
                else if (*q == '_' || *q == '-')
                    *q = 'x';
            snprintf(try_slug, sizeof try_slug, "%s-%.6s", slug, rnd);
        }
        const char *prm[4] = {id, name, try_slug, uid};
        if (!exec_ok(c, "SAVEPOINT s")) goto dberr;
        r = plat_q(c,
                   "INSERT INTO platform_projects(id, name, slug, owner_id) VALUES ($1, $2, $3, "
                   "$4) ON CONFLICT (slug) DO NOTHING",
                   4, prm);
        if (!plat_cmd_ok(r)) goto dberr;
        int inserted = strcmp(PQcmdTuples(r), "1") == 0;
        PQclear(r);
        r = NULL;
        if (inserted) break;
        if (slug_given) {
            plat_reply_err(res, 409, "slug_taken", "this slug is taken");
            rollback(c);
            goto done;
        }
        if (attempt >= 8) goto dberr;
    }
    const char *mprm[2] = {id, uid};
    r = plat_q(c,
               "INSERT INTO platform_members(project_id, user_id, role) VALUES ($1, $2, 'owner')",
               2, mprm);
    if (!plat_cmd_ok(r)) goto dberr;
    PQclear(r);
    const char *gprm[1] = {id};
    r = plat_q(c, "SELECT " PROJECT_COLS " FROM platform_projects p WHERE p.id = $1", 1, gprm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) goto dberr;
    out = project_row(r, 0);
    PQclear(r);
    r = NULL;
    json_t *pk = insert_key(c, id, "pk");
    json_t *sk = pk ? insert_key(c, id, "sk") : NULL;
    if (!sk) {
        json_decref(pk);
        goto dberr;
    }
    json_object_set_new(out, "role", json_string("owner"));
    json_object_set_new(out, "keys", json_pack("[o,o]", pk, sk));
    if (plat_audit(c, &who, req, id, NULL, "project.create", id,
                   json_pack("{s:O,s:O}", "name", json_object_get(out, "name"), "slug",
                             json_object_get(out, "slug"))) ||
        commit_changed(p, c))
        goto dberr;
    bb_http_reply_json(res, 201, out);
    goto done;
dberr:
    db_fail(res, c, "project create");
    if (c) rollback(c);
done:
    json_decref(out);
    PQclear(r);
    if (c) plat_pg_release(p, c);
    json_decref(b);
}

void plat_h_project_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[2] = {pid, req->identity.uid ? req->identity.uid : ""};
    PGresult *r = plat_q(c,
                         "SELECT " PROJECT_COLS ", (SELECT role FROM platform_members m WHERE "
                         "m.project_id = p.id AND m.user_id = $2) FROM platform_projects p WHERE "
                         "p.id = $1",
                         2, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(res, c, "project get");
    } else if (PQntuples(r) != 1) {
        plat_reply_err(res, 404, "project_not_found", "no such project");
    } else {
        json_t *j = project_row(r, 0);
        if (!PQgetisnull(r, 0, 6)) json_object_set_new(j, "role", json_string(PQgetvalue(r, 0, 6)));
        bb_http_reply_json(res, 200, j);
        json_decref(j);
    }
    PQclear(r);
    plat_pg_release(p, c);
}

void plat_h_project_update(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    json_t *b = plat_body(req, res);
    if (!b) return;
    const json_t *nv = json_object_get(b, "name"), *sv = json_object_get(b, "slug");
    const char *name = NULL, *slug = NULL, *why = NULL;
    if (nv && !json_is_null(nv) && !(name = check_name(p, nv, &why))) {
        plat_reply_err(res, 400, "invalid_body", why);
        json_decref(b);
        return;
    }
    if (sv && !json_is_null(sv)) {
        slug = json_string_value(sv);
        if (!slug || !slug_valid(slug)) {
            plat_reply_err(res, 400, "invalid_slug",
                           "slug must be 1 to 48 characters of [a-z0-9-], not starting or ending "
                           "with '-'");
            json_decref(b);
            return;
        }
    }
    if (!name && !slug) {
        plat_reply_err(res, 400, "invalid_body", "nothing to change: give name and/or slug");
        json_decref(b);
        return;
    }
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = plat_pg(p, res);
    if (!c) {
        json_decref(b);
        return;
    }
    const char *prm[3] = {pid, name, slug};
    PGresult *r = NULL;
    if (!exec_ok(c, "BEGIN")) {
        db_fail(res, c, "project update");
        goto out;
    }
    r = plat_q(c,
               "UPDATE platform_projects p SET name = COALESCE($2, name), slug = "
               "COALESCE($3, slug), updated_at = now() WHERE id = $1 RETURNING " PROJECT_COLS,
               3, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "23505"))
            plat_reply_err(res, 409, "slug_taken", "this slug is taken");
        else
            db_fail(res, c, "project update");
        rollback(c);
    } else if (PQntuples(r) != 1) {
        plat_reply_err(res, 404, "project_not_found", "no such project");
        rollback(c);
    } else {
        json_t *j = project_row(r, 0);
        if (plat_audit(c, &who, req, pid, NULL, "project.rename", pid,
                       json_pack("{s:O,s:O}", "name", json_object_get(j, "name"), "slug",
                                 json_object_get(j, "slug"))) ||
            !exec_ok(c, "COMMIT")) {
            db_fail(res, c, "project update");
            rollback(c);
        } else {
            bb_http_reply_json(res, 200, j);
        }
        json_decref(j);
    }
out:
    PQclear(r);
    plat_pg_release(p, c);
    json_decref(b);
}

void plat_h_project_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[1] = {pid};
    PGresult *r = NULL;
    if (!exec_ok(c, "BEGIN")) goto dberr;
    r = plat_q(
        c,
        "SELECT (SELECT count(*) FROM platform_keys WHERE project_id = $1), (SELECT count(*) "
        "FROM platform_members WHERE project_id = $1)",
        1, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
    long long nkeys = atoll(PQgetvalue(r, 0, 0)), nmem = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    r = plat_q(c, "DELETE FROM platform_projects WHERE id = $1", 1, prm);
    if (!plat_cmd_ok(r)) goto dberr;
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        rollback(c);
        plat_reply_err(res, 404, "project_not_found", "no such project");
        goto out;
    }
    if (plat_audit(
            c, &who, req, pid, NULL, "project.delete", pid,
            json_pack("{s:I,s:I}", "keys", (json_int_t)nkeys, "members", (json_int_t)nmem)) ||
        commit_changed(p, c))
        goto dberr;
    /* the project (and with it every key) is gone from the control plane; now its data */
    plat_pg_release(p, c);
    c = NULL;
    const char *db = "unavailable", *kv = "unavailable";
    plat_gw_drop_project(p, pid, req->request_id, &db, &kv);
    /* its secrets and keys, when bun-kms runs in this process */
    struct bun_kms *kms = bb_host_service_state(p->rt->host, "bun-kms");
    char kerr[160];
    if (kms && bun_kms_namespace_drop(kms, bun_kms_system_identity(), pid, kerr, sizeof kerr) != 0)
        bb_warn("platform", "project %s: bun-kms namespace not dropped: %s", pid, kerr);
    bb_info("platform", "project %s deleted (%lld keys, %lld members, database %s, kv %s)", pid,
            nkeys, nmem, db, kv);
    json_t *j = json_pack("{s:s,s:s,s:{s:I,s:I,s:s,s:s}}", "message", "project deleted", "id", pid,
                          "removed", "keys", (json_int_t)nkeys, "members", (json_int_t)nmem,
                          "database", db, "kv", kv);
    bb_http_reply_json(res, 200, j);
    json_decref(j);
    goto out;
dberr:
    db_fail(res, c, "project delete");
    rollback(c);
out:
    PQclear(r);
    if (c) plat_pg_release(p, c);
}

/* The project config: the URLs this platform really serves for the project, generated from the
 * route table itself (so it cannot advertise a route that does not exist). Key-only routes (no
 * {projectId}: the project is the key's) are listed as they are. */
static json_t *config_json(struct platform *p, const char *pid)
{
    const char *g = p->rt->public_url ? p->rt->public_url : "";
    json_t *routes = json_array();
    const unsigned keys = BB_IDENTITY_PROJECT_KEY_PUBLIC | BB_IDENTITY_PROJECT_KEY_SECRET;
    for (size_t i = 0; i < plat_nroutes; i++) {
        const struct plat_route *r = &plat_routes[i];
        const char *at = strstr(r->pattern, "{projectId}");
        int key_only = r->auth && !(r->auth & ~keys);
        if (!at && !key_only) continue;
        char path[300];
        if (at)
            snprintf(path, sizeof path, "%.*s%s%s", (int)(at - r->pattern), r->pattern, pid,
                     at + strlen("{projectId}"));
        else
            snprintf(path, sizeof path, "%s", r->pattern);
        json_array_append_new(routes, json_pack("{s:s,s:s,s:s,s:s,s:b}", "method", r->method,
                                                "path", path, "resource", plat_res_name(r->res),
                                                "action", plat_act_name(r->act), "stream",
                                                (r->flags & BB_ROUTE_STREAM) != 0));
    }
    char purl[400];
    snprintf(purl, sizeof purl, "%s/v1/projects/%s", g, pid);
    return json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "project_id", pid, "gateway_url", g,
                     "project_url", purl, "routes", routes, "auth", "publishable_key_header",
                     "X-Bunbase-Client-Key", "secret_key_header", "Authorization: Bearer sk_...");
}

/* GET /v1/projects/{projectId}/config */
void plat_h_project_config(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    json_t *j = config_json(p, bb_http_param(req, "projectId"));
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

/* GET /v1/project (keys only): the key's project and its config. */
void plat_h_key_project(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = req->identity.project_id;
    plat_gw_cors_answer(req, res); /* a browser app on an allowed origin may ask */
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[1] = {pid};
    PGresult *r =
        plat_q(c, "SELECT " PROJECT_COLS " FROM platform_projects p WHERE p.id = $1", 1, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(res, c, "key project");
    } else if (PQntuples(r) != 1) {
        plat_reply_err(res, 404, "project_not_found", "no such project");
    } else {
        json_t *j = json_pack("{s:o,s:s,s:o}", "project", project_row(r, 0), "key",
                              req->identity.kind == BB_IDENTITY_PROJECT_KEY_SECRET ? "sk" : "pk",
                              "config", config_json(p, pid));
        bb_http_reply_json(res, 200, j);
        json_decref(j);
    }
    PQclear(r);
    plat_pg_release(p, c);
}

/* ---------------------------------------------------------------- members */

static json_t *member_json(struct bun_auth *a, const char *uid, const char *role,
                           const char *created)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "user_id", uid, "role", role, "created_at", created);
    struct bun_auth_user u;
    if (a && bun_auth_user_get(a, uid, &u) == 0) {
        json_object_set_new(j, "email", json_string(u.email));
        json_object_set_new(j, "name", json_string(u.name));
    }
    return j;
}

void plat_h_members_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    struct bun_auth *a = bb_host_service_state(p->rt->host, "bun-auth");
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[1] = {pid};
    PGresult *r = plat_q(
        c,
        "SELECT user_id, role, " TS("created_at") " FROM platform_members WHERE "
                                                  "project_id = $1 ORDER BY created_at, user_id",
        1, prm);
    /* give the connection back before asking bun-auth (which needs one of its own) */
    int failed = PQresultStatus(r) != PGRES_TUPLES_OK;
    if (failed) db_fail(res, c, "member list");
    plat_pg_release(p, c);
    if (!failed) {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(
                arr, member_json(a, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)));
        bb_http_reply_json(res, 200, arr);
        json_decref(arr);
    }
    PQclear(r);
}

/* role for add / change: admin, member or viewer (owner only by transfer). */
static const char *assignable_role(const json_t *b, struct bb_http_response *res)
{
    const char *role = bb_json_str(b, "role", NULL);
    int rr = plat_role_parse(role);
    if (rr == PR_OWNER) {
        plat_reply_err(res, 400, "invalid_role",
                       "ownership is given with POST /v1/projects/{projectId}/transfer");
        return NULL;
    }
    if (rr < 0) {
        plat_reply_err(res, 400, "invalid_role", "role must be admin, member or viewer");
        return NULL;
    }
    return role;
}

void plat_h_members_add(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    json_t *b = plat_body(req, res);
    if (!b) return;
    PGconn *c = NULL;
    PGresult *r = NULL;
    const char *email = bb_json_str(b, "email", NULL);
    const char *role = json_object_get(b, "role") ? assignable_role(b, res) : "member";
    if (!role) goto out;
    if (!email || !*email) {
        plat_reply_err(res, 400, "invalid_body", "email (a string) is required");
        goto out;
    }
    struct bun_auth *a = plat_bun_auth(p, res);
    if (!a) goto out;
    struct bun_auth_user u;
    int rc = bun_auth_user_by_email(a, email, &u);
    if (rc == BB_ENOTFOUND || rc == BB_EINVAL) {
        plat_reply_err(res, 404, "user_not_found", "no account with this email");
        goto out;
    }
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        goto out;
    }
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    c = plat_pg(p, res);
    if (!c) goto out;
    if (!exec_ok(c, "BEGIN")) goto dberr;
    const char *prm[3] = {pid, u.id, role};
    r = plat_q(c,
               "INSERT INTO platform_members(project_id, user_id, role) SELECT $1, $2, $3 WHERE "
               "EXISTS (SELECT 1 FROM platform_projects WHERE id = $1) ON CONFLICT DO NOTHING "
               "RETURNING " TS("created_at"),
               3, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
    if (PQntuples(r) != 1) {
        rollback(c);
        plat_reply_err(res, 409, "already_member", "this user is already a member");
        goto out;
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "user_id", u.id, "email", u.email, "name",
                          u.name, "role", role, "created_at", PQgetvalue(r, 0, 0));
    if (plat_audit(c, &who, req, pid, NULL, "member.add", u.id,
                   json_pack("{s:s,s:s}", "email", u.email, "role", role)) ||
        commit_changed(p, c)) {
        json_decref(j);
        goto dberr;
    }
    bb_http_reply_json(res, 201, j);
    json_decref(j);
    goto out;
dberr:
    db_fail(res, c, "member add");
    if (c) rollback(c);
out:
    PQclear(r);
    if (c) plat_pg_release(p, c);
    json_decref(b);
}

/* Locks the member row and returns its role (PR_*), -1 when absent, -2 on a database error. */
static int locked_role(PGconn *c, const char *pid, const char *uid)
{
    const char *prm[2] = {pid, uid};
    PGresult *r = plat_q(c,
                         "SELECT role FROM platform_members WHERE project_id = $1 AND user_id = $2 "
                         "FOR UPDATE",
                         2, prm);
    int role = PQresultStatus(r) != PGRES_TUPLES_OK ? -2
               : PQntuples(r) == 1                  ? plat_role_parse(PQgetvalue(r, 0, 0))
                                                    : -1;
    PQclear(r);
    return role;
}

/* Shared by change-role, remove and leave: role NULL deletes the member; action is the audit
 * record's. */
static void member_change(struct bb_http_request *req, struct bb_http_response *res,
                          const char *uid, const char *role, const char *action)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    PGresult *r = NULL;
    if (!exec_ok(c, "BEGIN")) goto dberr;
    int cur = locked_role(c, pid, uid);
    if (cur == -2) goto dberr;
    if (cur == -1) {
        rollback(c);
        plat_reply_err(res, 404, "not_found", "no such member");
        goto out;
    }
    if (cur == PR_OWNER) {
        rollback(c);
        plat_reply_err(res, 409, "last_owner",
                       "the project's owner cannot leave, be removed or be demoted; transfer "
                       "ownership first");
        goto out;
    }
    const char *prm[3] = {pid, uid, role};
    r = role
            ? plat_q(c,
                     "UPDATE platform_members SET role = $3 WHERE project_id = $1 AND user_id = $2",
                     3, prm)
            : plat_q(c, "DELETE FROM platform_members WHERE project_id = $1 AND user_id = $2", 2,
                     prm);
    if (!plat_cmd_ok(r)) goto dberr;
    json_t *detail = json_pack("{s:s}", "previous_role", plat_role_name(cur));
    if (role) json_object_set_new(detail, "role", json_string(role));
    if (plat_audit(c, &who, req, pid, NULL, action, uid, detail) || commit_changed(p, c))
        goto dberr;
    if (role) {
        json_t *j = json_pack("{s:s,s:s}", "user_id", uid, "role", role);
        bb_http_reply_json(res, 200, j);
        json_decref(j);
    } else {
        reply_msg(res, 200, "member removed");
    }
    goto out;
dberr:
    db_fail(res, c, "member change");
    rollback(c);
out:
    PQclear(r);
    plat_pg_release(p, c);
}

void plat_h_member_update(struct bb_http_request *req, struct bb_http_response *res)
{
    json_t *b = plat_body(req, res);
    if (!b) return;
    const char *role = assignable_role(b, res);
    const char *uid = bb_http_param(req, "userId");
    if (role) member_change(req, res, uid ? uid : "", role, "member.role_change");
    json_decref(b);
}

void plat_h_member_remove(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *uid = bb_http_param(req, "userId");
    member_change(req, res, uid ? uid : "", NULL, "member.remove");
}

void plat_h_leave(struct bb_http_request *req, struct bb_http_response *res)
{
    member_change(req, res, req->identity.uid ? req->identity.uid : "", NULL, "member.leave");
}

/* POST /v1/projects/{projectId}/transfer {"user_id"} or {"email"}: the target (a member) becomes
 * the owner, the caller (the owner: the matrix row members/admin) becomes admin. */
void plat_h_transfer(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    json_t *b = plat_body(req, res);
    if (!b) return;
    PGconn *c = NULL;
    PGresult *r = NULL;
    char target[BUN_AUTH_ID_MAX + 1];
    const char *tid = bb_json_str(b, "user_id", NULL), *email = bb_json_str(b, "email", NULL);
    if (tid && *tid) {
        snprintf(target, sizeof target, "%s", tid);
    } else if (email && *email) {
        struct bun_auth *a = plat_bun_auth(p, res);
        if (!a) goto out;
        struct bun_auth_user u;
        if (bun_auth_user_by_email(a, email, &u) != 0) {
            plat_reply_err(res, 404, "user_not_found", "no account with this email");
            goto out;
        }
        snprintf(target, sizeof target, "%s", u.id);
    } else {
        plat_reply_err(res, 400, "invalid_body", "user_id or email is required");
        goto out;
    }
    const char *me = req->identity.uid;
    if (!strcmp(target, me)) {
        plat_reply_err(res, 400, "invalid_body", "you already own this project");
        goto out;
    }
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    c = plat_pg(p, res);
    if (!c) goto out;
    if (!exec_ok(c, "BEGIN")) goto dberr;
    int mine = locked_role(c, pid, me), theirs = locked_role(c, pid, target);
    if (mine == -2 || theirs == -2) goto dberr;
    if (mine != PR_OWNER) { /* changed since the check: answer like the matrix would */
        rollback(c);
        plat_reply_err(res, 403, "forbidden", "only the owner can transfer ownership");
        goto out;
    }
    if (theirs < 0) {
        rollback(c);
        plat_reply_err(res, 404, "not_found", "the new owner must be a member of the project");
        goto out;
    }
    const char *prm[3] = {pid, target, me};
    r = plat_q(c,
               "UPDATE platform_members SET role = CASE WHEN user_id = $2 THEN 'owner' ELSE "
               "'admin' END WHERE project_id = $1 AND user_id IN ($2, $3)",
               3, prm);
    if (!plat_cmd_ok(r)) goto dberr;
    PQclear(r);
    r = plat_q(c, "UPDATE platform_projects SET owner_id = $2, updated_at = now() WHERE id = $1", 2,
               prm);
    if (!plat_cmd_ok(r)) goto dberr;
    if (plat_audit(c, &who, req, pid, NULL, "member.transfer", target,
                   json_pack("{s:s,s:s}", "role", "owner", "previous_owner", me)) ||
        commit_changed(p, c))
        goto dberr;
    {
        json_t *j = json_pack("{s:s,s:s,s:s}", "message", "ownership transferred", "owner_id",
                              target, "previous_owner_role", "admin");
        bb_http_reply_json(res, 200, j);
        json_decref(j);
    }
    goto out;
dberr:
    db_fail(res, c, "transfer");
    if (c) rollback(c);
out:
    PQclear(r);
    if (c) plat_pg_release(p, c);
    json_decref(b);
}

/* ---------------------------------------------------------------- project keys */

void plat_h_keys_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    const char *prm[1] = {pid};
    PGresult *r = plat_q(
        c,
        "SELECT id, kind, prefix, " TS(
            "created_at") " FROM platform_keys WHERE "
                          "project_id = $1 AND revoked_at IS NULL ORDER BY kind, created_at, id",
        1, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(res, c, "key list");
    } else {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(arr,
                                  json_pack("{s:s,s:s,s:s,s:s}", "id", PQgetvalue(r, i, 0), "kind",
                                            PQgetvalue(r, i, 1), "prefix", PQgetvalue(r, i, 2),
                                            "created_at", PQgetvalue(r, i, 3)));
        bb_http_reply_json(res, 200, arr);
        json_decref(arr);
    }
    PQclear(r);
    plat_pg_release(p, c);
}

/* Creates a key of kind, first revoking old_id (regenerate) when given. */
static void key_make(struct bb_http_request *req, struct bb_http_response *res, const char *kind,
                     const char *old_id)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    PGresult *r = NULL;
    json_t *j = NULL;
    char kbuf[4];
    if (!exec_ok(c, "BEGIN")) goto dberr;
    const char *pprm[1] = {pid};
    /* one key change per project at a time, so the active count is exact */
    r = plat_q(c, "SELECT 1 FROM platform_projects WHERE id = $1 FOR UPDATE", 1, pprm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
    if (PQntuples(r) != 1) {
        rollback(c);
        plat_reply_err(res, 404, "project_not_found", "no such project");
        goto out;
    }
    PQclear(r);
    r = NULL;
    if (old_id) {
        const char *prm[2] = {old_id, pid};
        r = plat_q(c,
                   "UPDATE platform_keys SET revoked_at = now() WHERE id = $1 AND project_id = $2 "
                   "AND revoked_at IS NULL RETURNING kind",
                   2, prm);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
        if (PQntuples(r) != 1) {
            rollback(c);
            plat_reply_err(res, 404, "not_found", "no such active key");
            goto out;
        }
        snprintf(kbuf, sizeof kbuf, "%s", PQgetvalue(r, 0, 0));
        kind = kbuf;
        PQclear(r);
        r = NULL;
    } else {
        const char *prm[2] = {pid, kind};
        r = plat_q(c,
                   "SELECT count(*) FROM platform_keys WHERE project_id = $1 AND kind = $2 AND "
                   "revoked_at IS NULL",
                   2, prm);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
        uint64_t n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        r = NULL;
        if (n >= p->cfg.max_keys_per_kind) {
            char msg[160];
            snprintf(
                msg, sizeof msg,
                "at most %llu active %s keys per project (BUNBASE_PLATFORM_MAX_KEYS_PER_KIND); "
                "revoke one first",
                (unsigned long long)p->cfg.max_keys_per_kind, kind);
            rollback(c);
            plat_reply_err(res, 409, "key_limit", msg);
            goto out;
        }
    }
    j = insert_key(c, pid, kind);
    if (!j) goto dberr;
    if (old_id) json_object_set_new(j, "replaces", json_string(old_id));
    json_t *detail = json_pack("{s:s,s:O}", "kind", kind, "prefix", json_object_get(j, "prefix"));
    if (old_id) json_object_set_new(detail, "replaces", json_string(old_id));
    if (plat_audit(c, &who, req, pid, NULL, old_id ? "key.regenerate" : "key.create",
                   json_string_value(json_object_get(j, "id")), detail) ||
        commit_changed(p, c))
        goto dberr;
    bb_http_reply_json(res, 201, j);
    goto out;
dberr:
    db_fail(res, c, "key change");
    rollback(c);
out:
    json_decref(j);
    PQclear(r);
    plat_pg_release(p, c);
}

void plat_h_keys_create(struct bb_http_request *req, struct bb_http_response *res)
{
    json_t *b = plat_body(req, res);
    if (!b) return;
    const char *kind = bb_json_str(b, "kind", NULL);
    if (!kind || (strcmp(kind, "pk") && strcmp(kind, "sk")))
        plat_reply_err(res, 400, "invalid_body", "kind must be \"pk\" or \"sk\"");
    else
        key_make(req, res, kind, NULL);
    json_decref(b);
}

void plat_h_key_regenerate(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *kid = bb_http_param(req, "keyId");
    key_make(req, res, NULL, kid ? kid : "");
}

void plat_h_key_revoke(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    const char *pid = bb_http_param(req, "projectId"), *kid = bb_http_param(req, "keyId");
    struct plat_actor who;
    plat_audit_actor(p, req, &who);
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    PGresult *r = NULL;
    const char *prm[2] = {kid ? kid : "", pid};
    if (!exec_ok(c, "BEGIN")) goto dberr;
    r = plat_q(c,
               "UPDATE platform_keys SET revoked_at = now() WHERE id = $1 AND project_id = $2 AND "
               "revoked_at IS NULL RETURNING kind, prefix",
               2, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto dberr;
    if (PQntuples(r) != 1) {
        rollback(c);
        plat_reply_err(res, 404, "not_found", "no such active key");
        goto out;
    }
    if (plat_audit(
            c, &who, req, pid, NULL, "key.revoke", prm[0],
            json_pack("{s:s,s:s}", "kind", PQgetvalue(r, 0, 0), "prefix", PQgetvalue(r, 0, 1))) ||
        commit_changed(p, c))
        goto dberr;
    reply_msg(res, 200, "key revoked");
    goto out;
dberr:
    db_fail(res, c, "key revoke");
    rollback(c);
out:
    PQclear(r);
    plat_pg_release(p, c);
}
