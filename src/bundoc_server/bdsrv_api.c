/* bdsrv_api.c — bundoc-server's HTTP routes (one table, mounted on the gateway router or on the
 * service's own listener when BUNBASE_BUNDOC_SERVER_ADDR is set).
 *
 * Every route: BB_AUTH_INTERNAL — the host resolves the identity (bb_identity.h) from the internal
 * token and X-Bunbase-Identity before the body is read: admin (rules bypassed), an end user
 * without auth ("anonymous": request.auth == null) or with {uid, claims} (evaluated by the
 * collection's rules); a malformed header is 401 there. rq_begin only maps it to the store's
 * actor; the token without an identity header is 401 here.
 *
 * Writes: one store transaction per request (retried on BB_ECONFLICT), holding the stripe locks
 * of the documents it names from before begin until its change events are emitted, so events of
 * one document are emitted in commit order. The previous version is read in the same transaction
 * (as admin) so events can say whether a document left a subscriber's result set.
 */
#include "bdsrv.h"
#include "bundoc_server.h"

#include "bb_config.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_instances.h"
#include "bb_host.h"
#include "bb_http.h"
#include "bb_id.h"
#include "bb_identity.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH 1000
#define MAX_RETRIES 16
#define JSON_DEPTH 64

struct rq {
    struct bdsrv *s;
    struct bdsrv_inst *inst;
    struct bdoc_store_actor actor;
    json_t *auth; /* owned */
    json_t *body; /* owned */
    int sys;      /* the internal service itself: may use the reserved collections */
};

static void rq_end(struct rq *q)
{
    if (q->inst) bdsrv_release(q->s, q->inst);
    json_decref(q->auth);
    json_decref(q->body);
    memset(q, 0, sizeof *q);
}

static void reply_err(struct bb_http_response *res, int rc, const char *msg)
{
    if (rc == BB_ECONFLICT) msg = msg ? msg : "concurrent update, retry";
    bb_http_reply_error(res, rc, msg && *msg ? msg : NULL);
}

static void reply_store_err(struct bb_http_response *res, int rc, struct bdoc_store_error *e)
{
    if (rc == BB_EPERM && e && e->trace) {
        json_t *j = bb_json_error(e->message[0] ? e->message : "permission denied",
                                  bb_err_code(rc));
        if (j) json_object_set_new(j, "trace", json_string(e->trace));
        if (j) bb_http_reply_json(res, 403, j);
        else reply_err(res, BB_ENOMEM, NULL);
        json_decref(j);
    } else {
        reply_err(res, rc, e ? e->message : NULL);
    }
    bdoc_store_error_release(e);
}

static int check_coll(struct bb_http_response *res, const struct rq *q, const char *what,
                      const char *name);

/* Identity, project, instance and (want_body) the JSON body. Replies and returns nonzero on error. */
static int rq_begin(struct bb_http_request *req, struct bb_http_response *res, struct rq *q,
                    int want_body)
{
    memset(q, 0, sizeof *q);
    q->s = req->ctx;
    bb_counter_inc(q->s->met.requests);
    /* the identity the host resolved from the internal token + X-Bunbase-Identity */
    const struct bb_identity *id = &req->identity;
    if (id->kind == BB_IDENTITY_INTERNAL_SERVICE) { /* a platform service (tenant-auth) */
        q->actor.admin = 1;
        q->sys = 1;
    } else if (id->kind == BB_IDENTITY_INTERNAL_ADMIN) {
        q->actor.admin = 1;
    } else if (id->kind == BB_IDENTITY_INTERNAL_END_USER) {
        if (id->uid) { /* else "anonymous": an end user without auth */
            q->auth = json_pack("{s:s,s:O}", "uid", id->uid, "claims",
                                id->claims ? id->claims : json_object());
            if (!q->auth) {
                reply_err(res, BB_ENOMEM, NULL);
                return -1;
            }
            q->actor.auth = q->auth;
        }
    } else {
        reply_err(res, BB_EAUTH, "missing X-Bunbase-Identity");
        return -1;
    }
    if (want_body) {
        char msg[200];
        int rc = bb_json_parse(req->body ? req->body : "", req->body_len, JSON_DEPTH, &q->body,
                               msg, sizeof msg);
        if (rc || !json_is_object(q->body)) {
            char m2[260];
            snprintf(m2, sizeof m2, "invalid JSON body: %s",
                     rc ? msg : "expected an object");
            reply_err(res, rc == BB_ENOMEM ? rc : BB_EINVAL, m2);
            rq_end(q);
            return -1;
        }
    }
    const char *cparam = bb_http_param(req, "collection");
    if (cparam && check_coll(res, q, "collection", cparam)) {
        rq_end(q);
        return -1;
    }
    const char *pid = bb_http_param(req, "projectId");
    if (!pid || !bb_project_id_valid(pid, strlen(pid))) {
        reply_err(res, BB_EINVAL, "invalid project id: expected [A-Za-z0-9_-]{1,64}");
        rq_end(q);
        return -1;
    }
    int rc = bdsrv_acquire(q->s, pid, &q->inst);
    if (rc) {
        q->inst = NULL;
        reply_err(res, rc, rc == BB_ELIMIT ? "too many open project databases" : NULL);
        rq_end(q);
        return -1;
    }
    return 0;
}

static const struct bdoc_store_actor *actor(const struct rq *q)
{
    return q->actor.admin ? NULL : &q->actor;
}

/* ---------------------------------------------------------------- input rules */

/* Collection names: 1..BDSRV_MAX_COLLECTION_NAME bytes of [A-Za-z0-9_-], not starting with "__"
 * (reserved for the store's own collections). One rule for every path that takes a name (URL
 * segment, "collection" of a query / subscription / batch write, "name" of a create), so a name
 * is always one valid buncast topic segment and its events can never be dropped. */
int bdsrv_coll_name_valid(const char *name)
{
    if (!name || !*name || (name[0] == '_' && name[1] == '_')) return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n <= BDSRV_MAX_COLLECTION_NAME;
}

#define COLL_RULE "expected [A-Za-z0-9_-]{1,128} not starting with __"

int bdsrv_coll_reserved(const char *name)
{
    return name && !strncmp(name, BDSRV_RESERVED_PREFIX, sizeof BDSRV_RESERVED_PREFIX - 1);
}

/* 0, or replies 400 (invalid name) or 404 (a reserved name, for anyone but the internal service:
 * to every other identity those collections do not exist) and returns -1. */
static int check_coll(struct bb_http_response *res, const struct rq *q, const char *what,
                      const char *name)
{
    if (bdsrv_coll_name_valid(name) && bdsrv_coll_reserved(name) && !q->sys) {
        reply_err(res, BB_ENOTFOUND, "collection not found");
        return -1;
    }
    if (bdsrv_coll_name_valid(name)) return 0;
    char m[200];
    snprintf(m, sizeof m, "%s: invalid collection name: " COLL_RULE, what);
    reply_err(res, BB_EINVAL, m);
    return -1;
}

/* A document's _id, when present, must be a non-empty string (never silently replaced). 0, or
 * writes a message and returns BB_EINVAL. */
static int check_doc_id(const json_t *doc, char *msg, size_t cap)
{
    const json_t *idv = json_object_get(doc, "_id");
    if (!idv || (json_is_string(idv) && json_string_length(idv))) return 0;
    snprintf(msg, cap, "_id: expected a non-empty string");
    return BB_EINVAL;
}

/* Nesting depth as bb_json_parse counts it (scalar 0, {} 1), cut off above limit. */
static size_t json_depth(const json_t *v, size_t limit)
{
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (limit == 0) return 1;
    size_t max = 0, d;
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            if ((d = json_depth(e, limit - 1)) > max) max = d;
            if (max >= limit) break;
        }
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if ((d = json_depth(e, limit - 1)) > max) max = d;
            if (max >= limit) break;
        }
    }
    return max + 1;
}

/* ---------------------------------------------------------------- writes */

enum wkind { W_CREATE, W_REPLACE, W_PATCH, W_DELETE };

struct wop {
    enum wkind kind;
    const char *coll;
    const char *id;    /* NULL for a create without _id */
    const json_t *doc; /* document or patch (borrowed) */
    json_t *old, *out; /* owned results */
    int status;
};

static unsigned stripe_of(const char *coll, const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = coll; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % BDSRV_STRIPES;
}

static void wops_reset(struct wop *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(w[i].old);
        json_decref(w[i].out);
        w[i].old = w[i].out = NULL;
    }
}

/* Runs ops in one transaction (all or nothing), then emits their events. On error *failed is the
 * index of the failing op. */
static int run_writes(struct rq *q, struct wop *w, size_t n, size_t *failed,
                      struct bdoc_store_error *e)
{
    struct bdsrv_inst *inst = q->inst;
    unsigned char lock[BDSRV_STRIPES] = {0};
    int rc = 0;
    *failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].kind != W_DELETE && (rc = bdsrv_check_size(q->s, inst)) != 0) {
            snprintf(e->message, sizeof e->message,
                     "database size limit reached for this project");
            return rc;
        }
        if (w[i].id) lock[stripe_of(w[i].coll, w[i].id)] = 1;
    }
    size_t ncreate = 0, ndelete = 0;
    for (size_t i = 0; i < n; i++) {
        ncreate += w[i].kind == W_CREATE;
        ndelete += w[i].kind == W_DELETE;
    }
    if ((rc = bdsrv_docs_reserve(q->s, inst, ncreate)) != 0) {
        if (rc == BB_ENOSPACE)
            snprintf(e->message, sizeof e->message,
                     "document limit reached for this project (%llu)",
                     (unsigned long long)q->s->max_docs);
        return rc;
    }
    int committed = 0;
    for (int k = 0; k < BDSRV_STRIPES; k++)
        if (lock[k]) pthread_mutex_lock(&inst->stripes[k]);
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        struct bdoc_store_txn *t = NULL;
        wops_reset(w, n);
        if ((rc = bdoc_store_begin(inst->store, 0, &t)) != 0) goto out;
        for (size_t i = 0; i < n && rc == 0; i++) {
            *failed = i;
            if (w[i].kind != W_CREATE) {
                rc = bdoc_store_get(t, w[i].coll, w[i].id, NULL, &w[i].old, e);
                if (rc == BB_ENOTFOUND)
                    snprintf(e->message, sizeof e->message, "document %.200s not found in %.200s",
                             w[i].id, w[i].coll);
                if (rc) break;
            }
            switch (w[i].kind) {
            case W_CREATE:
                rc = bdoc_store_insert(t, w[i].coll, w[i].doc, actor(q), &w[i].out, e);
                w[i].status = 201;
                break;
            case W_REPLACE:
                rc = bdoc_store_replace(t, w[i].coll, w[i].id, w[i].doc, actor(q), &w[i].out, e);
                w[i].status = 200;
                break;
            case W_PATCH:
                rc = bdoc_store_patch(t, w[i].coll, w[i].id, w[i].doc, actor(q), &w[i].out, e);
                w[i].status = 200;
                /* what is stored must be readable back and writable again as a body */
                if (rc == 0 && json_depth(w[i].out, JSON_DEPTH) > JSON_DEPTH) {
                    snprintf(e->message, sizeof e->message,
                             "the patched document would nest deeper than %d levels",
                             JSON_DEPTH);
                    rc = BB_EINVAL;
                }
                break;
            case W_DELETE:
                rc = bdoc_store_delete(t, w[i].coll, w[i].id, actor(q), e);
                w[i].status = 204;
                break;
            }
        }
        if (rc) {
            bdoc_store_rollback(t);
            goto out;
        }
        rc = bdoc_store_commit(t);
        if (rc == BB_ECONFLICT) continue;
        if (rc) goto out;
        committed = 1;
        for (size_t i = 0; i < n; i++) {
            const json_t *d = w[i].out;
            const char *id = w[i].id ? w[i].id : bb_json_str(d, "_id", "");
            static const char *const ops[] = {"create", "update", "update", "delete"};
            bdsrv_feed_emit(q->s, inst, w[i].coll, ops[w[i].kind], id, w[i].old, d);
        }
        goto out;
    }
out:
    for (int k = BDSRV_STRIPES - 1; k >= 0; k--)
        if (lock[k]) pthread_mutex_unlock(&inst->stripes[k]);
    bdsrv_docs_settle(q->s, inst, committed ? -(int64_t)ndelete : -(int64_t)ncreate);
    return rc;
}

static void reply_one_write(struct bb_http_response *res, struct rq *q, struct wop *w)
{
    struct bdoc_store_error e = {0};
    size_t failed;
    int rc = run_writes(q, w, 1, &failed, &e);
    if (rc) reply_store_err(res, rc, &e);
    else if (w->kind == W_DELETE) bb_http_reply(res, 204, NULL, NULL, 0);
    else bb_http_reply_json(res, w->status, w->out);
    wops_reset(w, 1);
}

/* 200 {key: arr} taking ownership of arr; NULL arr answers [] (empty lists are never null). */
static void reply_list(struct bb_http_response *res, const char *key, json_t *arr)
{
    json_t *out = json_pack("{s:o}", key, arr ? arr : json_array());
    bb_http_reply_json(res, 200, out);
    json_decref(out);
}

/* ---------------------------------------------------------------- handlers: documents */

static const char *coll_param(struct bb_http_request *req)
{
    const char *c = bb_http_param(req, "collection");
    return c ? c : "";
}

static void h_doc_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    char m[80];
    if (check_doc_id(q.body, m, sizeof m)) {
        reply_err(res, BB_EINVAL, m);
        rq_end(&q);
        return;
    }
    const json_t *idv = json_object_get(q.body, "_id");
    struct wop w = {.kind = W_CREATE, .coll = coll_param(req), .doc = q.body,
                    .id = json_is_string(idv) && json_string_length(idv) ? json_string_value(idv)
                                                                          : NULL};
    /* the collection is created on first write, as in the reference */
    struct bdoc_store_error e = {0};
    int rc = bdoc_store_collection_create(q.inst->store, w.coll, NULL, NULL, &e);
    if (rc && rc != BB_EEXIST) {
        reply_store_err(res, rc, &e);
        rq_end(&q);
        return;
    }
    bdoc_store_error_release(&e);
    reply_one_write(res, &q, &w);
    rq_end(&q);
}

static void doc_write(struct bb_http_request *req, struct bb_http_response *res, enum wkind k)
{
    struct rq q;
    if (rq_begin(req, res, &q, k != W_DELETE)) return;
    char m[80];
    if (k == W_REPLACE && check_doc_id(q.body, m, sizeof m)) {
        reply_err(res, BB_EINVAL, m);
        rq_end(&q);
        return;
    }
    struct wop w = {.kind = k, .coll = coll_param(req), .id = bb_http_param(req, "id"),
                    .doc = q.body};
    reply_one_write(res, &q, &w);
    rq_end(&q);
}

static void h_doc_replace(struct bb_http_request *req, struct bb_http_response *res)
{
    doc_write(req, res, W_REPLACE);
}
static void h_doc_patch(struct bb_http_request *req, struct bb_http_response *res)
{
    doc_write(req, res, W_PATCH);
}
static void h_doc_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    doc_write(req, res, W_DELETE);
}

/* The loop thread's try at a GET (BB_ROUTE_LOOP_FIRST): answers 200 or 404 when the project is
 * open and the store can read without waiting and without a rule to evaluate
 * (bdoc_store_get_json_nowait: cached pages, no lock held by a commit; a committed write is seen
 * before its fsync, as by any transaction). Everything else — identity errors, bad names, a
 * project not open yet, a read rule, a large or uncached document — returns 0 untouched and runs
 * on the pool (h_doc_get below), which answers as it always has. 1: answered. */
static int doc_get_on_loop(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bdsrv *s = req->ctx;
    if (!s->k.inline_read_max) return 0;
    struct bdoc_store_actor a = {0};
    int sys = 0;
    switch (req->identity.kind) {
    case BB_IDENTITY_INTERNAL_SERVICE: sys = 1; /* fall through */
    case BB_IDENTITY_INTERNAL_ADMIN: a.admin = 1; break;
    case BB_IDENTITY_INTERNAL_END_USER: break; /* auth only matters to a rule: none is run here */
    default: return 0;
    }
    const char *coll = bb_http_param(req, "collection");
    const char *pid = bb_http_param(req, "projectId");
    const char *id = bb_http_param(req, "id");
    if (!coll || !bdsrv_coll_name_valid(coll) || (bdsrv_coll_reserved(coll) && !sys) || !id ||
        !pid || !bb_project_id_valid(pid, strlen(pid)))
        return 0;
    struct bb_instance *h = NULL;
    if (bb_instances_try_acquire(s->insts, pid, &h)) return 0; /* not open: the pool opens it */
    struct bdsrv_inst *inst = bb_instance_obj(h);
    char *json = NULL;
    size_t len = 0;
    int rc = bdoc_store_get_json_nowait(inst->store, coll, id, &a, (size_t)s->k.inline_read_max,
                                        &json, &len);
    bdsrv_release(s, inst);
    if (rc == 0) bb_http_reply(res, 200, "application/json", json, len);
    else if (rc == BB_ENOTFOUND) reply_err(res, rc, NULL);
    else return 0;
    bb_counter_inc(s->met.requests);
    bb_counter_inc(s->met.reads_inline);
    return 1;
}

static void h_doc_get(struct bb_http_request *req, struct bb_http_response *res)
{
    if (req->on_loop) {
        if (!doc_get_on_loop(req, res)) bb_http_defer(res);
        return;
    }
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    struct bdoc_store_txn *t = NULL;
    struct bdoc_store_error e = {0};
    char *json = NULL;
    size_t len = 0;
    int rc = bdoc_store_begin(q.inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0)
        rc = bdoc_store_get_json(t, coll_param(req), bb_http_param(req, "id"), actor(&q), &json,
                                 &len, &e);
    bdoc_store_rollback(t);
    if (rc) reply_store_err(res, rc, &e);
    else bb_http_reply(res, 200, "application/json", json, len); /* takes json */
    rq_end(&q);
}

/* Runs a find request (owned by the caller) and replies {"documents", "cursor"[, "count",
 * "explain"]}. */
static void run_find(struct bb_http_response *res, struct rq *q, const char *coll, json_t *fr,
                     int want_count, int want_explain)
{
    json_t *lim = json_object_get(fr, "limit");
    json_int_t l = json_is_integer(lim) ? json_integer_value(lim) : 0;
    if (lim && !json_is_integer(lim)) {
        reply_err(res, BB_EINVAL, "limit: expected an integer");
        return;
    }
    if (l <= 0 || (uint64_t)l > q->s->max_scan)
        json_object_set_new(fr, "limit", json_integer((json_int_t)q->s->max_scan));
    struct bdoc_store_txn *t = NULL;
    struct bdoc_store_error e = {0};
    struct bdoc_store_find_result r = {0};
    int rc = bdoc_store_begin(q->inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0) {
        /* a missing collection is 404, not an empty list */
        json_t *meta = NULL;
        rc = bdoc_store_collection_get(t, coll, &meta);
        json_decref(meta);
        if (rc == BB_ENOTFOUND)
            snprintf(e.message, sizeof e.message, "collection %.200s not found", coll);
    }
    if (rc == 0)
        rc = bdoc_store_find_budget(t, coll, fr, actor(q),
                                    want_count ? BDOC_STORE_EXACT_COUNT : 0, &q->s->qlim, &r, &e);
    bdoc_store_rollback(t);
    if (rc == BB_ELIMIT) { /* the work budget: 400, the same query will not get cheaper */
        bb_counter_inc(q->s->met.too_expensive);
        json_t *j = bb_json_error(e.message[0] ? e.message : "query too expensive",
                                  "query_too_expensive");
        if (j) bb_http_reply_json(res, 400, j);
        else reply_err(res, BB_ENOMEM, NULL);
        json_decref(j);
        bdoc_store_error_release(&e);
        return;
    }
    if (rc) {
        reply_store_err(res, rc, &e);
        return;
    }
    json_t *out = json_pack("{s:O,s:o}", "documents", r.docs ? r.docs : json_array(), "cursor",
                            r.cursor ? json_string(r.cursor) : json_null());
    if (out && want_count) json_object_set_new(out, "count", json_integer((json_int_t)r.matched));
    if (out && want_explain && r.explain) json_object_set(out, "explain", r.explain);
    if (out) bb_http_reply_json(res, 200, out);
    else reply_err(res, BB_ENOMEM, NULL);
    json_decref(out);
    bdoc_store_find_result_release(&r);
}

static size_t regex_escape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    if (o < cap) dst[o++] = '^';
    for (; *src && o + 3 < cap; src++) {
        if (strchr("\\^$.|?*+()[]{}", *src)) dst[o++] = '\\';
        dst[o++] = *src;
    }
    dst[o < cap ? o : cap - 1] = '\0';
    return o;
}

static void h_doc_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    char buf[1024], *end;
    json_t *fr = json_object();
    if (!fr) {
        reply_err(res, BB_ENOMEM, NULL);
        goto out;
    }
    static const char *const ints[] = {"skip", "limit"};
    for (size_t i = 0; i < 2; i++) {
        if (!bb_http_query(req, ints[i], buf, sizeof buf)) continue;
        long long v = strtoll(buf, &end, 10);
        if (!*buf || *end || v < 0 || v > 1000000) {
            char m[64];
            snprintf(m, sizeof m, "%s: expected a non-negative integer", ints[i]);
            reply_err(res, BB_EINVAL, m);
            goto out;
        }
        json_object_set_new(fr, ints[i], json_integer(v));
    }
    if (!json_object_get(fr, "limit")) json_object_set_new(fr, "limit", json_integer(100));
    if (bb_http_query(req, "cursor", buf, sizeof buf))
        json_object_set_new(fr, "cursor", json_string(buf));
    if (bb_http_query(req, "fields", buf, sizeof buf) && *buf) {
        json_t *f = json_array();
        for (char *tok = strtok_r(buf, ",", &end); tok; tok = strtok_r(NULL, ",", &end))
            json_array_append_new(f, json_string(tok));
        json_object_set_new(fr, "fields", f);
    }
    if (bb_http_query(req, "prefix", buf, sizeof buf) && *buf) {
        char re[2100];
        regex_escape(re, sizeof re, buf);
        json_object_set_new(fr, "filter", json_pack("{s:{s:s}}", "_id", "$regex", re));
    }
    run_find(res, &q, coll_param(req), fr, 0, 0);
out:
    json_decref(fr);
    rq_end(&q);
}

static void h_query(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    const char *coll = bb_json_str(q.body, "collection", NULL);
    if (!coll || !*coll) {
        reply_err(res, BB_EINVAL, "collection is required");
        rq_end(&q);
        return;
    }
    if (check_coll(res, &q, "collection", coll)) {
        rq_end(&q);
        return;
    }
    int want_count = bb_json_bool(q.body, "count", 0);
    int want_explain = bb_json_bool(q.body, "explain", 0);
    json_t *fr = json_deep_copy(q.body);
    if (fr) {
        json_object_del(fr, "count");
        json_object_del(fr, "explain");
        run_find(res, &q, coll, fr, want_count, want_explain);
    } else {
        reply_err(res, BB_ENOMEM, NULL);
    }
    json_decref(fr);
    rq_end(&q);
}

/* ---------------------------------------------------------------- batch */

static void h_batch(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    json_t *writes = json_object_get(q.body, "writes");
    struct wop *w = NULL;
    size_t n = json_array_size(writes);
    if (!json_is_array(writes) || n == 0) {
        reply_err(res, BB_EINVAL, "writes: expected a non-empty array");
        goto out;
    }
    if (n > MAX_BATCH) {
        reply_err(res, BB_ETOOBIG, "writes: at most 1000 operations per batch");
        goto out;
    }
    if (!(w = calloc(n, sizeof *w))) {
        reply_err(res, BB_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(writes, i);
        const char *op = bb_json_str(o, "op", "");
        char m[160];
        w[i].coll = bb_json_str(o, "collection", NULL);
        w[i].id = bb_json_str(o, "id", NULL);
        if (!strcmp(op, "create")) w[i].kind = W_CREATE, w[i].doc = json_object_get(o, "doc");
        else if (!strcmp(op, "replace")) w[i].kind = W_REPLACE, w[i].doc = json_object_get(o, "doc");
        else if (!strcmp(op, "patch")) w[i].kind = W_PATCH, w[i].doc = json_object_get(o, "patch");
        else if (!strcmp(op, "delete")) w[i].kind = W_DELETE;
        else {
            snprintf(m, sizeof m, "writes[%zu].op: expected create, replace, patch or delete", i);
            reply_err(res, BB_EINVAL, m);
            goto out;
        }
        if (!w[i].coll || !*w[i].coll || (w[i].kind != W_CREATE && (!w[i].id || !*w[i].id)) ||
            (w[i].kind != W_DELETE && !json_is_object(w[i].doc))) {
            snprintf(m, sizeof m, "writes[%zu]: collection%s%s required", i,
                     w[i].kind != W_CREATE ? ", id" : "",
                     w[i].kind == W_DELETE ? "" : w[i].kind == W_PATCH ? ", patch (object)"
                                                                       : ", doc (object)");
            reply_err(res, BB_EINVAL, m);
            goto out;
        }
        if (bdsrv_coll_reserved(w[i].coll) && !q.sys) {
            snprintf(m, sizeof m, "writes[%zu].collection: collection not found", i);
            reply_err(res, BB_ENOTFOUND, m);
            goto out;
        }
        if (!bdsrv_coll_name_valid(w[i].coll)) {
            snprintf(m, sizeof m, "writes[%zu].collection: invalid collection name: " COLL_RULE,
                     i);
            reply_err(res, BB_EINVAL, m);
            goto out;
        }
        if ((w[i].kind == W_CREATE || w[i].kind == W_REPLACE) &&
            check_doc_id(w[i].doc, m, sizeof m)) {
            char m2[200];
            snprintf(m2, sizeof m2, "writes[%zu].doc.%s", i, m);
            reply_err(res, BB_EINVAL, m2);
            goto out;
        }
        if (w[i].kind == W_CREATE) {
            const json_t *idv = json_object_get(w[i].doc, "_id");
            if (json_is_string(idv) && json_string_length(idv)) w[i].id = json_string_value(idv);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (w[i].kind == W_CREATE) {
            int rc = bdoc_store_collection_create(q.inst->store, w[i].coll, NULL, NULL, NULL);
            if (rc && rc != BB_EEXIST) {
                reply_err(res, rc, NULL);
                goto out;
            }
        }
    struct bdoc_store_error e = {0};
    size_t failed = 0;
    int rc = run_writes(&q, w, n, &failed, &e);
    if (rc) {
        int st = bb_err_status(rc);
        json_t *j = bb_json_error(e.message[0] ? e.message : bb_strerror(rc), bb_err_code(rc));
        if (j) json_object_set_new(j, "index", json_integer((json_int_t)failed));
        bb_http_reply_json(res, st, j);
        json_decref(j);
        bdoc_store_error_release(&e);
        goto out;
    }
    json_t *results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results, json_pack("{s:i,s:O}", "status", w[i].status, "doc",
                                                 w[i].out ? w[i].out : json_null()));
    json_t *body = json_pack("{s:o}", "results", results);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
out:
    if (w) wops_reset(w, n);
    free(w);
    rq_end(&q);
}

/* ---------------------------------------------------------------- collections */

static void reply_collection(struct bb_http_response *res, struct rq *q, const char *name,
                             int status)
{
    struct bdoc_store_txn *t = NULL;
    json_t *meta = NULL;
    int rc = bdoc_store_begin(q->inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0) rc = bdoc_store_collection_get(t, name, &meta);
    bdoc_store_rollback(t);
    if (rc) reply_err(res, rc, rc == BB_ENOTFOUND ? "collection not found" : NULL);
    else bb_http_reply_json(res, status, meta);
    json_decref(meta);
}

static void h_coll_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    char prefix[512];
    const char *p = bb_http_query(req, "prefix", prefix, sizeof prefix);
    struct bdoc_store_txn *t = NULL;
    json_t *names = NULL;
    int rc = bdoc_store_begin(q.inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0) rc = bdoc_store_collection_list(t, p && *p ? p : NULL, &names);
    bdoc_store_rollback(t);
    if (rc) {
        reply_err(res, rc, NULL);
    } else {
        for (size_t i = json_array_size(names); !q.sys && i-- > 0;)
            if (bdsrv_coll_reserved(json_string_value(json_array_get(names, i))))
                json_array_remove(names, i);
        reply_list(res, "collections", names);
    }
    rq_end(&q);
}

static void h_coll_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    const char *name = bb_json_str(q.body, "name", NULL);
    if (!q.actor.admin) {
        reply_err(res, BB_EPERM, "collection management needs the admin identity");
    } else if (!name || !*name) {
        reply_err(res, BB_EINVAL, "collection name is required");
    } else if (check_coll(res, &q, "name", name)) {
        /* replied */
    } else {
        json_t *opts = json_deep_copy(q.body);
        json_object_del(opts, "name");
        struct bdoc_store_error e = {0};
        int created = 0;
        int rc = bdoc_store_collection_create(q.inst->store, name, opts, &created, &e);
        json_decref(opts);
        if (rc) reply_store_err(res, rc, &e);
        else reply_collection(res, &q, name, created ? 201 : 200);
    }
    rq_end(&q);
}

static void h_coll_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    reply_collection(res, &q, coll_param(req), 200);
    rq_end(&q);
}

static void h_coll_update(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    struct bdoc_store_error e = {0};
    const char *c = coll_param(req);
    json_t *schema = json_object_get(q.body, "schema");
    json_t *pso = json_object_get(q.body, "prevent_schema_override");
    int rc = 0;
    if (!q.actor.admin) rc = BB_EPERM;
    else if (!schema && !pso) rc = BB_EINVAL;
    else if (schema && !json_is_object(schema) && !json_is_null(schema)) rc = BB_EINVAL;
    else if (pso && !json_is_boolean(pso)) rc = BB_EINVAL;
    if (rc) {
        reply_err(res, rc, rc == BB_EPERM ? "collection management needs the admin identity"
                                          : "expected {\"schema\": object|null, "
                                            "\"prevent_schema_override\": bool}");
        rq_end(&q);
        return;
    }
    if (!schema) {
        /* only the flag: keep the current schema */
        struct bdoc_store_txn *t = NULL;
        json_t *meta = NULL;
        rc = bdoc_store_begin(q.inst->store, BDOC_TXN_READONLY, &t);
        if (rc == 0) rc = bdoc_store_collection_get(t, c, &meta);
        bdoc_store_rollback(t);
        if (rc == 0)
            rc = bdoc_store_set_schema(q.inst->store, c, json_object_get(meta, "schema"),
                                       json_is_true(pso), &e);
        json_decref(meta);
    } else {
        rc = bdoc_store_set_schema(q.inst->store, c, schema, pso ? json_is_true(pso) : -1, &e);
    }
    if (rc) {
        if (rc == BB_ENOTFOUND && !e.message[0])
            snprintf(e.message, sizeof e.message, "collection not found");
        reply_store_err(res, rc, &e);
    } else {
        reply_collection(res, &q, c, 200);
    }
    rq_end(&q);
}

static void h_coll_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    struct bdoc_store_error e = {0};
    int rc = q.actor.admin ? bdoc_store_collection_drop(q.inst->store, coll_param(req), &e)
                           : BB_EPERM;
    if (rc == BB_ENOTFOUND && !e.message[0])
        snprintf(e.message, sizeof e.message, "collection not found");
    if (rc) reply_store_err(res, rc, &e);
    else bb_http_reply(res, 204, NULL, NULL, 0);
    rq_end(&q);
}

static void h_rules(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    struct bdoc_store_error e = {0};
    json_t *rules = json_object_get(q.body, "rules");
    int rc = 0;
    if (!q.actor.admin) rc = BB_EPERM;
    else if (!rules || !(json_is_object(rules) || json_is_null(rules))) rc = BB_EINVAL;
    if (rc) {
        reply_err(res, rc, rc == BB_EPERM ? "rules need the admin identity"
                                          : "expected {\"rules\": {op: expression}}");
        rq_end(&q);
        return;
    }
    const char *c = coll_param(req);
    rc = bdoc_store_set_rules(q.inst->store, c, rules, &e);
    if (rc) {
        if (rc == BB_ENOTFOUND && !e.message[0])
            snprintf(e.message, sizeof e.message, "collection not found");
        reply_store_err(res, rc, &e);
    } else {
        bdsrv_feed_rules_changed(q.inst, c, json_is_null(rules) ? NULL : rules);
        json_t *out = json_pack("{s:s,s:O}", "status", "rules updated", "rules", rules);
        bb_http_reply_json(res, 200, out);
        json_decref(out);
    }
    rq_end(&q);
}

/* ---------------------------------------------------------------- indexes */

static void h_idx_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    struct bdoc_store_txn *t = NULL;
    json_t *list = NULL;
    int rc = bdoc_store_begin(q.inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0) rc = bdoc_store_index_list(t, coll_param(req), &list);
    bdoc_store_rollback(t);
    if (rc) {
        reply_err(res, rc, rc == BB_ENOTFOUND ? "collection not found" : NULL);
    } else {
        reply_list(res, "indexes", list);
    }
    rq_end(&q);
}

static void h_idx_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    struct bdoc_store_error e = {0};
    json_t *spec = json_deep_copy(q.body);
    int rc = q.actor.admin ? 0 : BB_EPERM;
    if (rc == 0 && spec) {
        /* the reference's {"field": "a"} shape: one field, named after it */
        const char *f = bb_json_str(spec, "field", NULL);
        if (f && !json_object_get(spec, "fields")) {
            json_object_set_new(spec, "fields", json_pack("[s]", f));
            if (!json_object_get(spec, "name")) {
                char nm[BDOC_STORE_MAX_INDEX_NAME + 1];
                size_t o = 0;
                for (const char *p = f; *p && o < BDOC_STORE_MAX_INDEX_NAME; p++)
                    nm[o++] = (*p == '.' || *p == '-') ? '_' : *p;
                nm[o] = '\0';
                json_object_set_new(spec, "name", json_string(nm));
            }
        }
        json_object_del(spec, "field");
        json_object_del(spec, "collection");
        rc = bdoc_store_index_create(q.inst->store, coll_param(req), spec, &e);
    } else if (!spec) {
        rc = BB_ENOMEM;
    }
    if (rc) {
        if (rc == BB_ENOTFOUND && !e.message[0])
            snprintf(e.message, sizeof e.message, "collection not found");
        reply_store_err(res, rc, &e);
    } else {
        bb_http_reply_json(res, 201, spec);
    }
    json_decref(spec);
    rq_end(&q);
}

static void h_idx_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    struct bdoc_store_error e = {0};
    int rc = q.actor.admin ? bdoc_store_index_drop(q.inst->store, coll_param(req),
                                                   bb_http_param(req, "name"), &e)
                           : BB_EPERM;
    if (rc == BB_ENOTFOUND && !e.message[0])
        snprintf(e.message, sizeof e.message, "index or collection not found");
    if (rc) reply_store_err(res, rc, &e);
    else bb_http_reply(res, 204, NULL, NULL, 0);
    rq_end(&q);
}

/* ---------------------------------------------------------------- subscriptions */

static void subscribe(struct bb_http_request *req, struct bb_http_response *res, struct rq *q,
                      const char *coll, const json_t *filter)
{
    struct bdoc_store_txn *t = NULL;
    json_t *meta = NULL;
    int rc = bdoc_store_begin(q->inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0) rc = bdoc_store_collection_get(t, coll, &meta);
    bdoc_store_rollback(t);
    if (rc) {
        reply_err(res, rc, rc == BB_ENOTFOUND ? "collection not found" : NULL);
        rq_end(q);
        return;
    }
    char err[256] = "";
    rc = bdsrv_feed_subscribe(q->s, q->inst, coll, filter, json_object_get(meta, "rules"),
                              q->actor.admin, q->auth, bb_http_header(req, "Last-Event-ID"), req,
                              res, err, sizeof err);
    json_decref(meta);
    if (rc) {
        reply_err(res, rc, err);
        rq_end(q);
        return;
    }
    q->inst = NULL; /* the subscription holds the reference now */
    rq_end(q);
}

static void h_coll_subscribe(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 0)) return;
    subscribe(req, res, &q, coll_param(req), NULL);
}

static void h_query_subscribe(struct bb_http_request *req, struct bb_http_response *res)
{
    struct rq q;
    if (rq_begin(req, res, &q, 1)) return;
    const char *coll = bb_json_str(q.body, "collection", NULL);
    if (!coll || !*coll) {
        reply_err(res, BB_EINVAL, "collection is required");
        rq_end(&q);
        return;
    }
    if (check_coll(res, &q, "collection", coll)) {
        rq_end(&q);
        return;
    }
    json_t *f = json_object_get(q.body, "filter");
    if (!f) f = json_object_get(q.body, "query");
    if (f && !json_is_object(f)) {
        reply_err(res, BB_EINVAL, "filter: expected an object");
        rq_end(&q);
        return;
    }
    char name[BDOC_MAX_COLLECTION_LEN + 1];
    snprintf(name, sizeof name, "%s", coll);
    subscribe(req, res, &q, name, f);
}

/* ---------------------------------------------------------------- table */

/* DELETE /v1/projects/{projectId}/databases (internal admin): the project was deleted — its
 * database is closed (once no request or subscriber holds it, up to 5 s, else 409) and its
 * directory removed, with no open of it in between. */
static int rm_project_dir(void *arg, const char *pid)
{
    struct bdsrv *s = arg;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", s->root, pid);
    return bb_fs_remove_tree(dir);
}

static void h_project_drop(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bdsrv *s = req->ctx;
    const char *pid = bb_http_param(req, "projectId");
    if (!pid || !bb_project_id_valid(pid, strlen(pid))) {
        reply_err(res, BB_EINVAL, "invalid project id: expected [A-Za-z0-9_-]{1,64}");
        return;
    }
    int rc = bb_instances_remove(s->insts, pid, 5000, rm_project_dir, s);
    if (rc == BB_EBUSY) {
        bb_http_reply_error_status(res, 409, "in_use", "the project database is still in use");
        return;
    }
    if (rc) {
        reply_err(res, rc, "cannot remove the project database");
        return;
    }
    bb_info("bundoc-server", "project_dropped project=%s", pid);
    json_t *j = json_pack("{s:s,s:s}", "status", "dropped", "project_id", pid);
    bb_http_reply_json(res, 200, j);
    json_decref(j);
}

#define B "/v1/projects/{projectId}/databases/{db}"
#define P BB_ROUTE_POOL
#define S (BB_ROUTE_POOL | BB_ROUTE_STREAM)
#define I BB_AUTH_INTERNAL
#define L (BB_ROUTE_POOL | BB_ROUTE_LOOP_FIRST) /* h_doc_get: tried on the loop thread first */

static const struct bb_route routes_tpl[] = {
    {"DELETE", "/v1/projects/{projectId}/databases", h_project_drop, BB_AUTH_INTERNAL_ADMIN, P, 0,
     "bundoc_project_drop"},
    {"GET", B "/collections", h_coll_list, I, P, 0, "bundoc_collections"},
    {"POST", B "/collections", h_coll_create, I, P, 0, "bundoc_collections"},
    {"GET", B "/collections/{collection}", h_coll_get, I, P, 0, "bundoc_collection"},
    {"PATCH", B "/collections/{collection}", h_coll_update, I, P, 0, "bundoc_collection"},
    {"DELETE", B "/collections/{collection}", h_coll_delete, I, P, 0, "bundoc_collection"},
    {"PATCH", B "/collections/{collection}/rules", h_rules, I, P, 0, "bundoc_rules"},
    {"GET", B "/collections/{collection}/indexes", h_idx_list, I, P, 0, "bundoc_indexes"},
    {"POST", B "/collections/{collection}/indexes", h_idx_create, I, P, 0, "bundoc_indexes"},
    {"DELETE", B "/collections/{collection}/indexes/{name}", h_idx_delete, I, P, 0,
     "bundoc_index"},
    {"GET", B "/collections/{collection}/subscribe", h_coll_subscribe, I, S, 0,
     "bundoc_subscribe"},
    {"GET", B "/collections/{collection}/documents", h_doc_list, I, P, 0, "bundoc_documents"},
    {"POST", B "/collections/{collection}/documents", h_doc_create, I, P, 0, "bundoc_documents"},
    {"GET", B "/collections/{collection}/documents/{id}", h_doc_get, I, L, 0, "bundoc_document"},
    {"PUT", B "/collections/{collection}/documents/{id}", h_doc_replace, I, P, 0,
     "bundoc_document"},
    {"PATCH", B "/collections/{collection}/documents/{id}", h_doc_patch, I, P, 0,
     "bundoc_document"},
    {"DELETE", B "/collections/{collection}/documents/{id}", h_doc_delete, I, P, 0,
     "bundoc_document"},
    {"POST", B "/documents/query", h_query, I, P, 0, "bundoc_query"},
    {"POST", B "/documents/query/subscribe", h_query_subscribe, I, S, 0, "bundoc_subscribe"},
    {"GET", B "/documents/{collection}", h_doc_list, I, P, 0, "bundoc_documents"},
    {"POST", B "/documents/{collection}", h_doc_create, I, P, 0, "bundoc_documents"},
    {"GET", B "/documents/{collection}/{id}", h_doc_get, I, L, 0, "bundoc_document"},
    {"PUT", B "/documents/{collection}/{id}", h_doc_replace, I, P, 0, "bundoc_document"},
    {"PATCH", B "/documents/{collection}/{id}", h_doc_patch, I, P, 0, "bundoc_document"},
    {"DELETE", B "/documents/{collection}/{id}", h_doc_delete, I, P, 0, "bundoc_document"},
    {"POST", B "/batch", h_batch, I, P, 0, "bundoc_batch"},
};
#define NROUTES (sizeof routes_tpl / sizeof routes_tpl[0])

static struct bb_route routes[NROUTES];

int bdsrv_api_start(struct bdsrv *s, char *err, size_t errcap)
{
    memcpy(routes, routes_tpl, sizeof routes_tpl);
    for (size_t i = 0; i < NROUTES; i++)
        routes[i].max_body = (size_t)s->k.max_request_bytes;
    /* on the gateway, or on our own listener when BUNBASE_BUNDOC_SERVER_ADDR is set */
    struct bb_http_limits lim;
    bb_config_http_limits(s->cfg, &lim);
    lim.max_body_bytes = s->k.max_request_bytes;
    return bb_host_mount(s->rt->host, "bundoc-server", routes, NROUTES, s, &lim, &s->http_port,
                         err, errcap);
}

void bdsrv_api_stop(struct bdsrv *s)
{
    (void)s; /* the host closes our listener (if any) when it stops us */
}
