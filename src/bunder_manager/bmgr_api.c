/* bmgr_api.c — the KV operations behind HTTP and the internal RPC, and SSE subscriptions.
 *
 * HTTP (all BB_AUTH_INTERNAL; served on the gateway's router, or on our own listener when
 * BUNBASE_BUNDER_MANAGER_ADDR is set):
 *   GET|PUT|POST|DELETE /kv/{projectId}/kv/{key}   raw bytes; key percent-decoded (any bytes);
 *                                                   PUT/POST ?ttl=<seconds> sets an expiry;
 *                                                   GET ?meta=1: {"key","type","ttl_ms"}
 *   POST /kv/{projectId}/kv/{key}/incr              INCRBY, body {"by":n} optional: {"value"}
 *   GET /kv/{projectId}/keys?pattern=  (and /kv/{projectId}/kv)   JSON array of keys;
 *                                                   &meta=1: [{"key","type","ttl_ms"}]
 *   GET /kv/{projectId}/health                      starts the child if needed, PINGs it
 *   GET /kv/{projectId}/subscribe                   SSE: event "connected", then "change"
 *                                                   {"op":"set"|"delete","key","value"(base64)}
 *
 * RPC (reference §2.4 framing, bb_rpc): command 1 = ProxyKV, payload
 *   {"method":"GET","project_id":"p","path":"/kv/<pct-encoded key>?x=y","body":"<base64>",
 *    "token":"<internal token>"}
 * answered with frame status 0 and {"status":<http status>,"body":"<base64>","content_type":...}
 * — the same statuses and bodies as HTTP. Frame status 1 with {"error":...} for an unknown command,
 * a malformed payload or an overloaded worker pool. A missing or wrong token is status 401.
 *
 * Every operation runs on a worker thread: acquire the child (bmgr_acquire_blocking), take a
 * cached blocking connection, one command, release. A connection error (the child just died) is
 * retried twice after a short pause, which waits for the restarted child; all operations are
 * idempotent (GET, SET of the same value, DEL, KEYS, PING) — but INCRBY, which is retried only
 * when it was never sent.
 */
#include "bmgr_internal.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_host.h"
#include "bb_id.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pool.h"
#include "bb_router.h"
#include "bb_rpc.h"
#include "bb_sse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MOD "bunder-manager"
#define RPC_PROXY_KV 1

/* ------------------------------------------------------------------ results */

static void res_json(struct bmgr_result *res, int status, json_t *j)
{
    res->status = status;
    res->ctype = "application/json";
    res->body = j ? bb_json_dumps(j, &res->len) : NULL;
    if (!res->body) res->len = 0;
    json_decref(j);
}

static void res_error(struct bmgr_result *res, int status, const char *code, const char *msg)
{
    res_json(res, status, bb_json_error(msg, code));
}

static void res_from_err(struct bmgr_result *res, int err)
{
    switch (err) {
    case BB_EBUSY:
        res_error(res, 503, "no_capacity",
                  "no capacity for this project now (max children or port pool exhausted)");
        break;
    case BB_ETIMEDOUT:
        res_error(res, 503, "unavailable", "the project's store did not answer in time");
        break;
    case BB_ECLOSED: res_error(res, 503, "unavailable", "shutting down"); break;
    case BB_ENOMEM: res_error(res, 503, "overloaded", "out of memory"); break;
    case BB_ETOOBIG:
        res_error(res, 413, "too_large", "answer over the limit (use a narrower pattern)");
        break;
    default: res_error(res, 503, "unavailable", "the project's store is unavailable"); break;
    }
}

static void res_child_error(struct bmgr_result *res, const char *msg)
{
    if (strncmp(msg, "OOM", 3) == 0)
        res_error(res, 507, "insufficient_storage", "project memory limit reached");
    else if (strncmp(msg, "WRONGTYPE", 9) == 0)
        res_error(res, 409, "wrong_type", "the key holds another type of value");
    else if (strstr(msg, "not an integer"))
        res_error(res, 409, "not_integer", msg); /* INCR of a value that is no integer */
    else if (strstr(msg, "would overflow"))
        res_error(res, 400, "overflow", msg);
    else
        res_error(res, 502, "upstream_error", msg);
}

/* ------------------------------------------------------------------ SSE subscribers */

struct bmgr_sub {
    struct bmgr_sub *prev, *next;
    struct bmgr *m;
    struct bb_sse *sse;
    char project[BMGR_MAX_PROJECT + 1];
};

static json_t *key_json(const char *key, size_t len)
{
    json_t *s = json_stringn(key, len);
    if (s) return s;
    /* not UTF-8: replace invalid bytes so the document stays valid */
    char *tmp = malloc(len * 3 + 1);
    if (!tmp) return json_string("");
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x80) tmp[o++] = (char)c;
        else tmp[o++] = (char)0xEF, tmp[o++] = (char)0xBF, tmp[o++] = (char)0xBD;
    }
    s = json_stringn(tmp, o);
    free(tmp);
    return s ? s : json_string("");
}

static void publish(struct bmgr *m, const char *project, const char *op, const char *key,
                    size_t klen, const char *val, size_t vlen)
{
    pthread_mutex_lock(&m->sub_mtx);
    int any = 0;
    for (struct bmgr_sub *s = m->subs; s; s = s->next) any |= strcmp(s->project, project) == 0;
    if (any) {
        json_t *j = json_pack("{s:s,s:o}", "op", op, "key", key_json(key, klen));
        if (j && val && vlen > 0) {
            char *b = bb_base64_encode_alloc(val, vlen);
            if (b) json_object_set_new(j, "value", json_string(b));
            free(b);
        }
        size_t len = 0;
        char *txt = j ? bb_json_dumps(j, &len) : NULL;
        for (struct bmgr_sub *s = m->subs; s && txt; s = s->next)
            if (strcmp(s->project, project) == 0) bb_sse_send(s->sse, "change", NULL, txt, len);
        free(txt);
        json_decref(j);
    }
    pthread_mutex_unlock(&m->sub_mtx);
}

static void on_sub_close(struct bb_sse *sse, void *arg)
{
    struct bmgr_sub *s = arg;
    struct bmgr *m = s->m;
    pthread_mutex_lock(&m->sub_mtx);
    if (s->prev) s->prev->next = s->next;
    else m->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    m->nsubs--;
    pthread_mutex_unlock(&m->sub_mtx);
    bb_sse_unref(sse);
    free(s);
    bmgr_unref(m);
}

/* ------------------------------------------------------------------ operations */

/* META and KEYS_META run in the child as one script (atomic: no key expires between its TYPE and
 * its PTTL): flat arrays of type, pttl (META) or key, type, pttl per key (KEYS_META). */
static const char meta_script[] =
    "return {redis.call('TYPE', KEYS[1]).ok, redis.call('PTTL', KEYS[1])}";
static const char keys_meta_script[] =
    "local ks = redis.call('KEYS', ARGV[1]) local o = {} "
    "for i = 1, #ks do local k = ks[i] o[#o+1] = k "
    "o[#o+1] = redis.call('TYPE', k).ok o[#o+1] = redis.call('PTTL', k) end return o";

/* {"key","type","ttl_ms"} from a TYPE and a PTTL reply (-1: no expiry, null) */
static json_t *meta_json(const struct bmgr_reply *k, const struct bmgr_reply *t,
                         const struct bmgr_reply *pttl)
{
    json_t *ttl = pttl->type == BMGR_R_INT && pttl->integer >= 0 ? json_integer(pttl->integer)
                                                                 : json_null();
    return json_pack("{s:o,s:s%,s:o}", "key", key_json(k->str, k->len), "type",
                     t->str ? t->str : "", t->str ? t->len : 0, "ttl_ms", ttl);
}

void bmgr_op_run(struct bmgr *m, const struct bmgr_op *op, struct bmgr_result *res)
{
    memset(res, 0, sizeof *res);
    struct bmgr_lease lease = {0};
    struct bmgr_reply r = {0};
    const char *argv[5] = {"PING", NULL, NULL, NULL, NULL};
    size_t lens[5] = {0, 0, 0, 0, 0}, argc = 1, max_elems = BMGR_MAX_LIST;
    char ttl[24];
    switch (op->kind) {
    case BMGR_OP_GET:
        argv[0] = "GET", argv[1] = op->key, lens[1] = op->key_len, argc = 2;
        break;
    case BMGR_OP_SET:
        argv[0] = "SET", argv[1] = op->key, lens[1] = op->key_len;
        argv[2] = op->value ? op->value : "", lens[2] = op->value_len, argc = 3;
        if (op->ttl_s > 0) {
            snprintf(ttl, sizeof ttl, "%lld", op->ttl_s);
            argv[3] = "EX", lens[3] = 2, argv[4] = ttl, lens[4] = strlen(ttl), argc = 5;
        }
        break;
    case BMGR_OP_DEL:
        argv[0] = "DEL", argv[1] = op->key, lens[1] = op->key_len, argc = 2;
        break;
    case BMGR_OP_KEYS:
        argv[0] = "KEYS", argv[1] = op->pattern ? op->pattern : "*";
        lens[1] = op->pattern ? op->pattern_len : 1, argc = 2;
        break;
    case BMGR_OP_HEALTH: argv[0] = "PING", argc = 1; break;
    case BMGR_OP_DROP: argv[0] = "FLUSHALL", argc = 1; break;
    case BMGR_OP_INCR:
        snprintf(ttl, sizeof ttl, "%lld", op->by);
        argv[0] = "INCRBY", argv[1] = op->key, lens[1] = op->key_len;
        argv[2] = ttl, lens[2] = strlen(ttl), argc = 3;
        break;
    case BMGR_OP_META:
        argv[0] = "EVAL", argv[1] = meta_script, lens[1] = sizeof meta_script - 1;
        argv[2] = "1", lens[2] = 1, argv[3] = op->key, lens[3] = op->key_len, argc = 4;
        break;
    case BMGR_OP_KEYS_META:
        argv[0] = "EVAL", argv[1] = keys_meta_script, lens[1] = sizeof keys_meta_script - 1;
        argv[2] = "0", lens[2] = 1, argv[3] = op->pattern ? op->pattern : "*";
        lens[3] = op->pattern ? op->pattern_len : 1, argc = 4;
        max_elems = 3 * (size_t)BMGR_MAX_LIST; /* the same bound on keys as KEYS */
        break;
    }
    lens[0] = strlen(argv[0]);
    int rc = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) {
            struct timespec ts = {0, (attempt == 1 ? 30 : 200) * 1000000L};
            nanosleep(&ts, NULL);
        }
        rc = bmgr_acquire_blocking(m, op->project, &lease);
        if (rc) break;
        struct bmgr_rc *c = NULL;
        int sent = 0;
        rc = bmgr_conn_get(m, &lease, &c);
        if (rc == 0) {
            sent = 1;
            rc = bmgr_rc_command(c, argc, argv, lens, m->cfg.max_value + 1024, max_elems, &r);
            if (rc == 0 && op->kind == BMGR_OP_DROP && r.type != BMGR_R_ERROR) {
                /* FLUSHALL is logged; the rewrite leaves no old value in the AOF */
                const char *a2[1] = {"BGREWRITEAOF"};
                size_t l2[1] = {12};
                struct bmgr_reply r2 = {0};
                if (bmgr_rc_command(c, 1, a2, l2, 4096, 4, &r2) != 0 || r2.type == BMGR_R_ERROR)
                    bb_warn(MOD, "drop_rewrite_failed project=%s", op->project);
                bmgr_reply_release(&r2);
            }
            bmgr_conn_put(m, &lease, c, rc != 0);
        }
        if (rc == 0 || rc == BB_ETOOBIG || rc == BB_ENOMEM) break;
        /* INCRBY is not idempotent: once sent, the child may have applied it — never twice */
        if (sent && op->kind == BMGR_OP_INCR) break;
        bmgr_release(m, &lease);
        bb_warn(MOD, "child_io_failed project=%s error=\"%s\" attempt=%d", op->project,
                bb_strerror(rc), attempt + 1);
    }
    if (rc) {
        if (lease.slot) bmgr_release(m, &lease);
        res_from_err(res, rc);
        return;
    }
    if (r.type == BMGR_R_ERROR) {
        res_child_error(res, r.str);
        goto out;
    }
    switch (op->kind) {
    case BMGR_OP_GET:
        if (r.type == BMGR_R_NIL) {
            res_error(res, 404, "not_found", "key not found");
        } else if (r.type == BMGR_R_BULK) {
            res->status = 200;
            res->ctype = "application/octet-stream";
            res->body = r.str;
            res->len = r.len;
            r.str = NULL;
        } else {
            res_error(res, 502, "upstream_error", "unexpected answer to GET");
        }
        break;
    case BMGR_OP_SET:
        res->status = 200;
        publish(m, op->project, "set", op->key, op->key_len, op->value, op->value_len);
        break;
    case BMGR_OP_DEL:
        if (r.type == BMGR_R_INT && r.integer > 0) {
            res->status = 200;
            publish(m, op->project, "delete", op->key, op->key_len, NULL, 0);
        } else {
            res_error(res, 404, "not_found", "key not found");
        }
        break;
    case BMGR_OP_KEYS: {
        json_t *a = json_array();
        for (size_t i = 0; a && r.type == BMGR_R_ARRAY && i < r.n; i++)
            if (r.elems[i].type == BMGR_R_BULK)
                json_array_append_new(a, key_json(r.elems[i].str, r.elems[i].len));
        res_json(res, 200, a);
        break;
    }
    case BMGR_OP_DROP:
        res_json(res, 200, json_pack("{s:s,s:s}", "status", "dropped", "project_id", op->project));
        bb_info(MOD, "project_dropped project=%s", op->project);
        break;
    case BMGR_OP_INCR:
        if (r.type == BMGR_R_INT) {
            char num[24];
            int n = snprintf(num, sizeof num, "%lld", r.integer);
            res_json(res, 200, json_pack("{s:I}", "value", (json_int_t)r.integer));
            publish(m, op->project, "set", op->key, op->key_len, num, (size_t)n);
        } else {
            res_error(res, 502, "upstream_error", "unexpected answer to INCRBY");
        }
        break;
    case BMGR_OP_META:
        if (r.type != BMGR_R_ARRAY || r.n != 2 || r.elems[0].type != BMGR_R_BULK) {
            res_error(res, 502, "upstream_error", "unexpected answer to the metadata script");
        } else if (!strcmp(r.elems[0].str, "none") ||
                   (r.elems[1].type == BMGR_R_INT && r.elems[1].integer == -2)) {
            res_error(res, 404, "not_found", "key not found");
        } else {
            struct bmgr_reply k = {.type = BMGR_R_BULK, .str = (char *)op->key, .len = op->key_len};
            res_json(res, 200, meta_json(&k, &r.elems[0], &r.elems[1]));
        }
        break;
    case BMGR_OP_KEYS_META: {
        json_t *a = json_array();
        for (size_t i = 0; a && r.type == BMGR_R_ARRAY && i + 2 < r.n; i += 3)
            if (r.elems[i].type == BMGR_R_BULK && r.elems[i + 1].type == BMGR_R_BULK &&
                strcmp(r.elems[i + 1].str, "none") != 0)
                json_array_append_new(a, meta_json(&r.elems[i], &r.elems[i + 1], &r.elems[i + 2]));
        res_json(res, 200, a);
        break;
    }
    case BMGR_OP_HEALTH: {
        json_t *child = bmgr_slot_json(m, op->project);
        res_json(res, 200,
                 json_pack("{s:s,s:s,s:o*}", "status", "ok", "project_id", op->project, "child",
                           child));
        break;
    }
    }
out:
    bmgr_reply_release(&r);
    bmgr_release(m, &lease);
}

/* ------------------------------------------------------------------ HTTP */

static void send_result(struct bb_http_response *res, struct bmgr_result *r)
{
    if (r->body || r->ctype) {
        bb_http_reply(res, r->status, r->ctype ? r->ctype : "application/octet-stream", r->body,
                      r->len);
    } else {
        bb_http_reply(res, r->status, "application/octet-stream", NULL, 0);
    }
}

/* Runs op on its project's child (holding a manager reference) and replies with the result. */
static void run_and_reply(struct bmgr *m, const struct bmgr_op *op, struct bb_http_response *res)
{
    struct bmgr_result r;
    bmgr_ref(m);
    bmgr_op_run(m, op, &r);
    bmgr_unref(m);
    send_result(res, &r);
}

static const struct bb_route_param *raw_param(struct bb_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->match.nparams; i++) {
        const struct bb_route_param *p = &req->match.params[i];
        if (p->name_len == strlen(name) && strncmp(p->name, name, p->name_len) == 0) return p;
    }
    return NULL;
}

/* Validated project id of the request, or NULL after answering 400. */
static const char *req_project(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *p = bb_http_param(req, "projectId");
    if (!p || !bb_project_id_valid(p, strlen(p))) {
        bb_http_reply_error_status(res, 400, "invalid_project_id",
                                   "project id must match [A-Za-z0-9_-]{1,64}");
        return NULL;
    }
    return p;
}

#define BMGR_MAX_TTL_S 3153600000LL /* 100 years */
#define BMGR_MAX_INCR_BODY 1024 /* {"by": <integer>}: fixed, not a knob (413 beyond) */

/* The request's decoded key (malloc'd, caller frees) and its length, or NULL after answering. */
static char *req_key(struct bb_http_request *req, struct bb_http_response *res, size_t *len)
{
    const struct bb_route_param *kp = raw_param(req, "key");
    char *key = malloc(BMGR_MAX_KEY);
    if (!key) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return NULL;
    }
    long klen = kp ? bb_pct_decode(kp->value, kp->value_len, key, BMGR_MAX_KEY, 0) : BB_EINVAL;
    if (klen <= 0) {
        bb_http_reply_error_status(res, 400, "invalid_key",
                                   klen == BB_ETOOBIG ? "key longer than 8192 bytes"
                                                      : "key must be non-empty and percent-encoded");
        free(key);
        return NULL;
    }
    *len = (size_t)klen;
    return key;
}

/* ?meta=1 (or true): the answer is the key's metadata instead of its value */
static int want_meta(struct bb_http_request *req)
{
    char v[8];
    const char *q = bb_http_query(req, "meta", v, sizeof v);
    return q && (!strcmp(q, "1") || !strcmp(q, "true"));
}

static void handle_kv(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bmgr *m = req->ctx;
    const char *project = req_project(req, res);
    if (!project) return;
    size_t klen;
    char *key = req_key(req, res, &klen);
    if (!key) return;
    struct bmgr_op op = {.project = project, .key = key, .key_len = klen};
    if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
        op.kind = want_meta(req) ? BMGR_OP_META : BMGR_OP_GET;
    else if (!strcmp(req->method, "DELETE")) op.kind = BMGR_OP_DEL;
    else {
        op.kind = BMGR_OP_SET;
        op.value = req->body;
        op.value_len = req->body_len;
        char tbuf[24];
        const char *tq = bb_http_query(req, "ttl", tbuf, sizeof tbuf);
        if (tq || (req->query && strstr(req->query, "ttl="))) {
            if (!tq) tbuf[0] = 0; /* present but too long */
            char *end;
            long long t = strtoll(tbuf, &end, 10);
            if (*end || t < 1 || t > BMGR_MAX_TTL_S) {
                bb_http_reply_error_status(res, 400, "invalid_ttl",
                                           "ttl: whole seconds, 1 to 3153600000");
                free(key);
                return;
            }
            op.ttl_s = t;
        }
    }
    run_and_reply(m, &op, res);
    free(key);
}

/* POST /kv/{projectId}/kv/{key}/incr, body empty or {"by": <integer>} (default 1) */
static void handle_incr(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bmgr *m = req->ctx;
    const char *project = req_project(req, res);
    if (!project) return;
    long long by = 1;
    if (req->body_len > 0) {
        json_t *j = NULL;
        char err[160];
        json_t *b = NULL;
        if (bb_json_parse((const char *)req->body, req->body_len, 4, &j, err, sizeof err) != 0 ||
            !json_is_object(j) ||
            ((b = json_object_get(j, "by")) && !json_is_integer(b))) {
            json_decref(j);
            bb_http_reply_error_status(res, 400, "invalid_body",
                                       "body: empty or {\"by\": <integer>}");
            return;
        }
        if (b) by = (long long)json_integer_value(b);
        json_decref(j);
    }
    size_t klen;
    char *key = req_key(req, res, &klen);
    if (!key) return;
    struct bmgr_op op = {.kind = BMGR_OP_INCR, .project = project, .key = key, .key_len = klen,
                         .by = by};
    run_and_reply(m, &op, res);
    free(key);
}

static void handle_keys(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bmgr *m = req->ctx;
    const char *project = req_project(req, res);
    if (!project) return;
    char pat[BMGR_MAX_PATTERN + 1];
    const char *p = bb_http_query(req, "pattern", pat, sizeof pat);
    if (!p && req->query && strstr(req->query, "pattern=")) {
        bb_http_reply_error_status(res, 400, "invalid_pattern",
                                   "pattern must be percent-encoded and at most 1024 bytes");
        return;
    }
    struct bmgr_op op = {.kind = want_meta(req) ? BMGR_OP_KEYS_META : BMGR_OP_KEYS,
                         .project = project};
    if (p && p[0]) op.pattern = p, op.pattern_len = strlen(p);
    run_and_reply(m, &op, res);
}

static void handle_project_health(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bmgr *m = req->ctx;
    const char *project = req_project(req, res);
    if (!project) return;
    struct bmgr_op op = {.kind = BMGR_OP_HEALTH, .project = project};
    run_and_reply(m, &op, res);
}

/* DELETE /kv/{projectId} (internal admin): the project was deleted — its keys go, on disk too. */
static void handle_drop(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bmgr *m = req->ctx;
    const char *project = req_project(req, res);
    if (!project) return;
    struct bmgr_op op = {.kind = BMGR_OP_DROP, .project = project};
    run_and_reply(m, &op, res);
}

static void handle_subscribe(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bmgr *m = req->ctx;
    const char *project = req_project(req, res);
    if (!project) return;
    struct bmgr_sub *s = calloc(1, sizeof *s);
    if (!s) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_mutex_lock(&m->sub_mtx);
    int full = m->nsubs >= BMGR_MAX_SUBSCRIBERS;
    if (!full) m->nsubs++;
    pthread_mutex_unlock(&m->sub_mtx);
    if (full) {
        free(s);
        bb_http_reply_error_status(res, 503, "too_many_subscribers", "too many subscribers");
        return;
    }
    s->m = m;
    snprintf(s->project, sizeof s->project, "%s", project);
    bmgr_ref(m);
    if (bb_sse_start(req, res, on_sub_close, s, &s->sse) != 0) {
        pthread_mutex_lock(&m->sub_mtx);
        m->nsubs--;
        pthread_mutex_unlock(&m->sub_mtx);
        free(s);
        bmgr_unref(m);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_mutex_lock(&m->sub_mtx);
    s->next = m->subs;
    if (m->subs) m->subs->prev = s;
    m->subs = s;
    pthread_mutex_unlock(&m->sub_mtx);
    char data[128];
    int n = snprintf(data, sizeof data, "{\"project_id\":\"%s\"}", project);
    bb_sse_send(s->sse, "connected", NULL, data, (size_t)n);
}

#define KV_PATTERN "/kv/{projectId}/kv/{key}"
static const struct bb_route kv_routes_tpl[] = {
    {"GET", KV_PATTERN, handle_kv, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, KV_PATTERN},
    {"PUT", KV_PATTERN, handle_kv, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, KV_PATTERN},
    {"POST", KV_PATTERN, handle_kv, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, KV_PATTERN},
    {"DELETE", KV_PATTERN, handle_kv, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, KV_PATTERN},
    {"POST", KV_PATTERN "/incr", handle_incr, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0,
     KV_PATTERN "/incr"},
    {"GET", "/kv/{projectId}/keys", handle_keys, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, NULL},
    {"GET", "/kv/{projectId}/kv", handle_keys, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0, NULL},
    {"GET", "/kv/{projectId}/health", handle_project_health, BB_AUTH_INTERNAL, BB_ROUTE_POOL, 0,
     NULL},
    {"GET", "/kv/{projectId}/subscribe", handle_subscribe, BB_AUTH_INTERNAL, BB_ROUTE_STREAM, 0,
     NULL},
    {"DELETE", "/kv/{projectId}", handle_drop, BB_AUTH_INTERNAL_ADMIN, BB_ROUTE_POOL, 0, NULL},
};
#define NKV (sizeof kv_routes_tpl / sizeof kv_routes_tpl[0])


/* ------------------------------------------------------------------ RPC */

struct rpc_job {
    struct bmgr *m;
    struct bb_rpc_call *call;
};

static void rpc_reply_error(struct bb_rpc_call *call, const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    size_t len = 0;
    char *s = j ? bb_json_dumps(j, &len) : NULL;
    bb_rpc_call_reply(call, BB_RPC_STATUS_ERROR, s ? s : "{}", s ? len : 2);
    free(s);
    json_decref(j);
}

static void rpc_reply_result(struct bb_rpc_call *call, struct bmgr_result *r)
{
    char *b = bb_base64_encode_alloc(r->body ? r->body : "", r->len);
    json_t *j = b ? json_pack("{s:i,s:s,s:s}", "status", r->status, "body", b, "content_type",
                              r->ctype ? r->ctype : "application/octet-stream")
                  : NULL;
    free(b);
    size_t len = 0;
    char *s = j ? bb_json_dumps(j, &len) : NULL;
    json_decref(j);
    if (s) bb_rpc_call_reply(call, BB_RPC_STATUS_OK, s, len);
    else rpc_reply_error(call, "out of memory");
    free(s);
}

/* ProxyKV: the payload {method, project_id, path, token, body?} becomes a request to the HTTP
 * routes ("/kv/<project>" + path) dispatched in-process through the same router, identity check
 * (the token is the Authorization bearer) and handlers as HTTP: one implementation, two
 * transports. */
static void rpc_work(void *arg)
{
    struct rpc_job *job = arg;
    struct bmgr *m = job->m;
    struct bb_rpc_call *call = job->call;
    size_t plen;
    const char *payload = bb_rpc_call_payload(call, &plen);
    json_t *j = NULL;
    char err[160];
    struct bmgr_result r = {0};
    uint8_t *body = NULL;
    size_t body_len = 0;
    char *url = NULL, *auth = NULL;
    struct bb_http_response *res = NULL;
    if (bb_json_parse(payload, plen, 8, &j, err, sizeof err) != 0 || !json_is_object(j)) {
        char msg[220];
        snprintf(msg, sizeof msg, "invalid payload: %s", err[0] ? err : "expected an object");
        rpc_reply_error(call, msg);
        goto out;
    }
    const char *method = json_string_value(json_object_get(j, "method"));
    const char *project = json_string_value(json_object_get(j, "project_id"));
    const char *path = json_string_value(json_object_get(j, "path"));
    const char *b64 = json_string_value(json_object_get(j, "body"));
    const char *token = json_string_value(json_object_get(j, "token"));
    if (!method || !project || !path || path[0] != '/') {
        rpc_reply_error(call, "invalid payload: method, project_id and path (/…) are required");
        goto out;
    }
    if (!bb_project_id_valid(project, strlen(project))) {
        res_error(&r, 400, "invalid_project_id", "project id must match [A-Za-z0-9_-]{1,64}");
        rpc_reply_result(call, &r);
        goto out;
    }
    if (b64 && b64[0] && bb_base64_decode_alloc(b64, strlen(b64), &body, &body_len) != 0) {
        rpc_reply_error(call, "invalid payload: body is not base64");
        goto out;
    }
    /* the RPC's paths (/kv/<key>, /kv, /keys, /health, /subscribe) are the HTTP routes' tails */
    const char *sub = path;
    size_t ulen = strlen("/kv/") + strlen(project) + strlen(sub) + 1;
    url = malloc(ulen);
    size_t alen = strlen("Bearer ") + (token ? strlen(token) : 0) + 1;
    auth = malloc(alen);
    if (!url || !auth) {
        rpc_reply_error(call, "out of memory");
        goto out;
    }
    snprintf(url, ulen, "/kv/%s%s", project, sub);
    snprintf(auth, alen, "Bearer %s", token ? token : "");
    struct bb_http_header hdr = {.name = "Authorization", .value = auth};
    struct bb_http_local_request lr = {.method = method,
                                       .url = url,
                                       .headers = &hdr,
                                       .nheaders = token ? 1 : 0,
                                       .body = body,
                                       .body_len = body_len};
    struct bb_router *router = bb_host_service_router(m->rt->host, "bunder-manager");
    if (!router || bb_http_dispatch_local(router, (size_t)m->cfg.max_value, m->rt->internal_token,
                                          &lr, &res) != 0) {
        rpc_reply_error(call, "out of memory");
        goto out;
    }
    r.status = res->status;
    r.body = res->body; /* borrowed from res until the reply is built */
    r.len = res->body_len;
    for (size_t i = 0; i < res->nheaders; i++)
        if (!strcasecmp(res->headers[i].name, "Content-Type")) r.ctype = res->headers[i].value;
    rpc_reply_result(call, &r);
    r.body = NULL;
out:
    bb_http_response_free(res);
    free(r.body);
    free(url);
    free(auth);
    free(body);
    json_decref(j);
}

static void rpc_done(void *arg, int status)
{
    (void)status;
    struct rpc_job *job = arg;
    struct bmgr *m = job->m;
    free(job);
    bmgr_unref(m);
}

static void rpc_handler(void *ctx, struct bb_rpc_call *call)
{
    struct bmgr *m = ctx;
    uint8_t cmd = bb_rpc_call_command(call);
    if (cmd != RPC_PROXY_KV) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown command %u", (unsigned)cmd);
        rpc_reply_error(call, msg);
        return;
    }
    struct rpc_job *job = malloc(sizeof *job);
    if (!job) {
        rpc_reply_error(call, "out of memory");
        return;
    }
    job->m = m;
    job->call = call;
    bmgr_ref(m);
    if (bb_pool_submit(m->rt->pool, rpc_work, rpc_done, job) != 0) {
        free(job);
        bmgr_unref(m);
        rpc_reply_error(call, "overloaded");
    }
}

/* ------------------------------------------------------------------ start / stop */

int bmgr_api_start(struct bmgr *m, char *err, size_t errcap)
{
    int rc;
    /* routes need the configured body limit: a per-manager copy of the template */
    struct bb_route *kv = calloc(NKV, sizeof *kv);
    if (!kv) return BB_ENOMEM;
    memcpy(kv, kv_routes_tpl, sizeof kv_routes_tpl);
    for (size_t i = 0; i < NKV; i++)
        if (kv[i].handler == handle_incr)
            kv[i].max_body = BMGR_MAX_INCR_BODY;
        else if (!strcmp(kv[i].method, "PUT") || !strcmp(kv[i].method, "POST"))
            kv[i].max_body = (size_t)m->cfg.max_value;
    m->routes = kv;
    /* on the gateway, or on our own listener when BUNBASE_BUNDER_MANAGER_ADDR is set */
    struct bb_http_limits lim;
    bb_config_http_limits(m->rt->cfg, &lim);
    if ((rc = bb_host_mount(m->rt->host, "bunder-manager", kv, NKV, m, &lim, &m->http_port, err,
                            errcap)) != 0)
        return rc;
    if (m->k.rpc_addr[0]) {
        rc = bb_rpc_server_start(&m->rpc, m->loop, m->k.rpc_addr, NULL,
                                 rpc_handler, m);
        if (rc) {
            snprintf(err, errcap, "bunder-manager RPC %s: %s",
                     m->k.rpc_addr, bb_strerror(rc));
            return rc == BB_EEXIST ? BB_EBUSY : rc;
        }
        m->rpc_port = bb_rpc_server_port(m->rpc);
    }
    return 0;
}

void bmgr_api_stop(struct bmgr *m)
{
    if (m->rpc) bb_rpc_server_stop(m->rpc, NULL);
    m->rpc = NULL;
    /* end SSE streams (their on_close drops the references) */
    pthread_mutex_lock(&m->sub_mtx);
    for (struct bmgr_sub *s = m->subs; s; s = s->next) bb_sse_close(s->sse);
    pthread_mutex_unlock(&m->sub_mtx);
}
