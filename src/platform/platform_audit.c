/* platform_audit.c — the audit log of a project's key and membership operations (table
 * platform_audit, migration 0060_audit.sql).
 *
 * Written: every handler of an audited operation (project keys create / regenerate / revoke,
 * members add / role change / remove / leave / transfer, project create / rename / delete, CORS
 * origins, personal access tokens create / revoke) calls plat_audit() inside the transaction of
 * the operation, before COMMIT: a record exists if and only if the operation committed, and it
 * is never updated or deleted (a trigger refuses both). The actor is resolved before the
 * handler takes its PostgreSQL connection (plat_audit_actor: bun-auth needs a connection of its
 * own): a user id and the account's email, or a project key's visible prefix — never a secret.
 *
 * Read: GET /v1/projects/{projectId}/audit (matrix row "audit": owner and admin read; members,
 * viewers and keys do not) and GET /v1/auth/audit (the caller's account-level records: personal
 * access tokens, which belong to no project). Newest first, filters action (exact, or a prefix
 * "key.*"), actor (user id or email), since / until (ISO 8601, until exclusive); a page is at
 * most BUNBASE_PLATFORM_AUDIT_MAX_LIMIT records, the next one asked with cursor=next_cursor.
 */
#include "platform_internal.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_log.h"
#include "bun_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define KEY_PREFIX_LEN 12 /* the visible prefix stored with every key (platform_projects.c) */
#define AUDIT_DEFAULT_LIMIT 50

void plat_audit_actor(struct platform *p, const struct bb_http_request *req, struct plat_actor *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->kind, sizeof a->kind, "%s", bb_identity_kind_name(req->identity.kind));
    if (req->identity.uid) {
        snprintf(a->id, sizeof a->id, "%s", req->identity.uid);
        struct bun_auth *ba = bb_host_service_state(p->rt->host, "bun-auth");
        struct bun_auth_user u;
        if (ba && bun_auth_user_get(ba, req->identity.uid, &u) == 0)
            snprintf(a->label, sizeof a->label, "%s", u.email);
        else
            snprintf(a->label, sizeof a->label, "%s", req->identity.uid);
        return;
    }
    /* a project key: its visible prefix, as the key list shows it */
    const char *k = bb_http_header(req, "X-Bunbase-Client-Key");
    const char *auth = bb_http_header(req, "Authorization");
    if (!k && auth && !strncasecmp(auth, "Bearer ", 7)) k = auth + 7;
    snprintf(a->label, sizeof a->label, "%.*s", KEY_PREFIX_LEN, k && *k ? k : "unknown");
}

int plat_audit(PGconn *c, const struct plat_actor *a, const struct bb_http_request *req,
               const char *project_id, const char *account_id, const char *action,
               const char *target, json_t *detail)
{
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    const char *prm[9] = {
        project_id, account_id,           a->kind,      a->id[0] ? a->id : NULL, a->label,
        action,     target ? target : "", d ? d : "{}", req->request_id};
    PGresult *r = plat_q(c,
                         "INSERT INTO platform_audit(project_id, account_id, actor_kind, actor_id, "
                         "actor_label, action, target, detail, request_id) VALUES ($1, $2, $3, $4, "
                         "$5, $6, $7, $8, $9)",
                         9, prm);
    int ok = plat_cmd_ok(r);
    PQclear(r);
    free(d);
    return ok ? 0 : BB_EIO;
}

/* 1 when the query string names parameter name (so an over-long value is not taken for none). */
static int query_has(const char *q, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = q; s && *s;) {
        if (!strncmp(s, name, n) && (s[n] == '=' || s[n] == '&' || s[n] == '\0')) return 1;
        s = strchr(s, '&');
        if (s) s++;
    }
    return 0;
}

/* Query parameter name into buf (NULL when absent or empty); *bad when given but too long. */
static const char *qparam(const struct bb_http_request *req, const char *name, char *buf,
                          size_t cap, int *bad)
{
    const char *v = bb_http_query(req, name, buf, cap);
    if (!v && query_has(req->query, name)) *bad = 1;
    return v && *v ? v : NULL;
}

static int all_digits(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Starts as an ISO 8601 date "YYYY-MM-DD" (PostgreSQL checks the rest; its words such as
 * "yesterday" or "epoch" are not filters). */
static int iso_date(const char *s)
{
    static const char shape[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i]) return 0;
    return 1;
}

static json_t *audit_row(PGresult *r, int i)
{
    json_t *detail = json_loads(PQgetvalue(r, i, 8), 0, NULL);
    if (!json_is_object(detail)) {
        json_decref(detail);
        detail = json_object();
    }
    json_t *j =
        json_pack("{s:I,s:s,s:{s:s,s:s},s:s,s:s,s:o,s:s,s:s}", "id",
                  (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "at", PQgetvalue(r, i, 11),
                  "actor", "kind", PQgetvalue(r, i, 3), "label", PQgetvalue(r, i, 5), "action",
                  PQgetvalue(r, i, 6), "target", PQgetvalue(r, i, 7), "detail", detail, "outcome",
                  PQgetvalue(r, i, 9), "request_id", PQgetvalue(r, i, 10));
    json_t *actor = json_object_get(j, "actor");
    json_object_set_new(actor, "id",
                        PQgetisnull(r, i, 4) ? json_null() : json_string(PQgetvalue(r, i, 4)));
    json_object_set_new(j, "project_id",
                        PQgetisnull(r, i, 1) ? json_null() : json_string(PQgetvalue(r, i, 1)));
    return j;
}

#define AUDIT_SQL(COL)                                                                             \
    "SELECT id, project_id, account_id, actor_kind, actor_id, actor_label, action, target, "       \
    "detail, outcome, request_id, " TS("at") " FROM platform_audit WHERE " COL " = $1 AND "        \
                                             "($2::text IS NULL OR action = $2) AND ($3::text IS " \
                                             "NULL OR left(action, length($3)) = $3) "             \
                                             "AND ($4::text IS NULL OR actor_id = $4 OR "          \
                                             "actor_label = $4 OR actor_label = lower($4)) "       \
                                             "AND ($5::timestamptz IS NULL OR at >= "              \
                                             "$5::timestamptz) AND ($6::timestamptz IS NULL OR "   \
                                             "at < $6::timestamptz) AND ($7::bigint IS NULL OR "   \
                                             "id < $7::bigint) ORDER BY id DESC "                  \
                                             "LIMIT $8::bigint"

/* The list, of the records whose column col ("project_id" or "account_id") is val. */
static void audit_list(struct bb_http_request *req, struct bb_http_response *res, int by_project,
                       const char *val)
{
    struct platform *p = req->ctx;
    char ab[80], actb[300], sb[64], ub[64], cb[32], lb[16];
    int bad = 0;
    const char *action = qparam(req, "action", ab, sizeof ab, &bad);
    const char *actor = qparam(req, "actor", actb, sizeof actb, &bad);
    const char *since = qparam(req, "since", sb, sizeof sb, &bad);
    const char *until = qparam(req, "until", ub, sizeof ub, &bad);
    const char *cursor = qparam(req, "cursor", cb, sizeof cb, &bad);
    const char *limit = qparam(req, "limit", lb, sizeof lb, &bad);
    if (bad) {
        plat_reply_err(res, 400, "invalid_query",
                       "a filter is too long (action 79, actor 299, since/until 63 bytes)");
        return;
    }
    if ((since && !iso_date(since)) || (until && !iso_date(until))) {
        plat_reply_err(res, 400, "invalid_query",
                       "since and until are ISO 8601 times (2026-01-31T12:00:00Z)");
        return;
    }
    if (cursor && !all_digits(cursor, 18)) {
        plat_reply_err(res, 400, "invalid_cursor", "cursor is the next_cursor of a previous page");
        return;
    }
    uint64_t n =
        AUDIT_DEFAULT_LIMIT < p->cfg.audit_max_limit ? AUDIT_DEFAULT_LIMIT : p->cfg.audit_max_limit;
    if (limit) {
        n = all_digits(limit, 9) ? strtoull(limit, NULL, 10) : 0;
        if (n < 1 || n > p->cfg.audit_max_limit) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "limit must be an integer in [1, %llu] (BUNBASE_PLATFORM_AUDIT_MAX_LIMIT)",
                     (unsigned long long)p->cfg.audit_max_limit);
            plat_reply_err(res, 400, "invalid_limit", msg);
            return;
        }
    }
    /* "key.*": every action starting with "key." */
    char prefix[80] = "";
    const char *exact = action;
    size_t al = action ? strlen(action) : 0;
    if (al >= 2 && !strcmp(action + al - 2, ".*")) {
        snprintf(prefix, sizeof prefix, "%.*s", (int)(al - 1), action);
        exact = NULL;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%llu", (unsigned long long)n + 1); /* one more: is there a next? */
    const char *prm[8] = {val, exact, prefix[0] ? prefix : NULL, actor, since, until, cursor, lim};
    PGconn *c = plat_pg(p, res);
    if (!c) return;
    PGresult *r = plat_q(c, by_project ? AUDIT_SQL("project_id") : AUDIT_SQL("account_id"), 8, prm);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && !strncmp(state, "22", 2)) { /* data exception: a bad since / until */
            plat_reply_err(res, 400, "invalid_query",
                           "since and until are ISO 8601 times (2026-01-31T12:00:00Z)");
        } else {
            bb_warn("platform", "audit list failed: %s", PQerrorMessage(c));
            plat_reply_err(res, 503, "unavailable", "the control-plane database failed");
        }
    } else {
        int rows = PQntuples(r);
        int more = (uint64_t)rows > n;
        if (more) rows = (int)n;
        json_t *arr = json_array();
        for (int i = 0; i < rows; i++)
            json_array_append_new(arr, audit_row(r, i));
        json_t *body = json_pack("{s:o}", "records", arr);
        json_object_set_new(body, "next_cursor",
                            more ? json_string(PQgetvalue(r, rows - 1, 0)) : json_null());
        bb_http_reply_json(res, 200, body);
        json_decref(body);
    }
    PQclear(r);
    plat_pg_release(p, c);
}

/* GET /v1/projects/{projectId}/audit */
void plat_h_audit_list(struct bb_http_request *req, struct bb_http_response *res)
{
    audit_list(req, res, 1, bb_http_param(req, "projectId"));
}

/* GET /v1/auth/audit: the caller's account-level records (personal access tokens). */
void plat_h_account_audit(struct bb_http_request *req, struct bb_http_response *res)
{
    audit_list(req, res, 0, req->identity.uid ? req->identity.uid : "");
}
