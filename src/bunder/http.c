/* http.c — bunder's HTTP API (--http-port), served by bb_http on bunder's own loop, so handlers
 * run inline between RESP commands and see the same data:
 *
 *   GET    /kv/{key}         raw value (application/octet-stream); 404 when missing; 409 when the
 *                            key holds a non-string type
 *   PUT    /kv/{key}         body = raw value; runs SET through the normal dispatcher (AOF,
 *   POST   /kv/{key}         WATCH, maxmemory, change events), 200 {"ok":true}; 507 on -OOM
 *   DELETE /kv/{key}         200 {"deleted":1}, 404 when missing
 *   GET    /keys?pattern=P   JSON array of key names matching the glob (default *)
 *   GET    /health           the host's shape: {"status":"ok"|"degraded","services":{"bunder":
 *                            {"status","keys":N,"aof":"ok"|"write_error"}}}, 200 / 503 (degraded
 *                            while AOF writes fail)
 *   GET    /metrics          Prometheus text; the host's access policy (metrics-access auto:
 *                            public on a loopback http-bind, else the requirepass bearer)
 *   GET    /subscribe        SSE: one "change" event per key change,
 *                            data {"op":"set|del|expired|evicted|...","key":"..."}; ?pattern= filters
 * Keys may contain '/' when percent-encoded (%2F). Bodies are bounded by proto-max-bulk-len. With
 * requirepass set every route but /health (and /metrics when public) needs "Authorization:
 * Bearer <requirepass>".
 * With appendfsync always the write is on disk before the HTTP response is queued.
 */
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_host.h"
#include "bb_identity.h"
#include "bb_router.h"
#include "bb_log.h"
#include "bb_sse.h"
#include "bndr.h"

struct sub {
    struct bb_sse *sse;
    char pattern[256];
    struct sub *next;
};

struct bndr_http {
    struct bb_router *router;
    struct bb_http_server *srv;
    struct sub *subs;
};

static struct bndr_server *S(struct bb_http_request *req)
{
    return req->ctx;
}

/* The HTTP API's credential, resolved by the dispatcher before a handler runs or a body is read:
 * `Authorization: Bearer <requirepass>` (constant-time compare) is the internal service identity
 * the /kv, /keys and /subscribe routes require. With no requirepass, every request is that
 * identity (an open server, like RESP without requirepass). Read per request, so CONFIG SET
 * requirepass applies at once. */
static int pass_resolver(void *arg, const struct bb_http_request *req, struct bb_identity *out,
                         struct bb_identity_reject *why)
{
    struct bndr_server *s = arg;
    const char *pass = s->cfg.requirepass;
    const char *h = bb_http_header(req, "Authorization");
    if (pass[0]) {
        if (!h || strncasecmp(h, "Bearer ", 7) != 0) return BB_ENOTFOUND;
        if (!bb_ct_streq(h + 7, pass)) {
            why->code = "unauthorized";
            why->msg = "missing or invalid bearer token";
            return BB_EAUTH;
        }
    }
    out->kind = BB_IDENTITY_INTERNAL_SERVICE;
    out->resolver = "bunder";
    return 0;
}

/* Runs one command through the dispatcher with a fake client; returns its raw reply (caller
 * frees with bndr_free) or NULL. */
static char *run(struct bndr_server *s, int argc, struct bndr_arg *argv, size_t *len)
{
    struct bndr_client *c = bndr_client_fake(s);
    c->argv = argv;
    c->argc = argc;
    bndr_process_command(c);
    c->argv = NULL;
    c->argc = 0;
    char *out = bndr_memdup(c->out.p ? c->out.p : "", c->out.len);
    *len = c->out.len;
    bndr_client_fake_free(c);
    bndr_aof_flush(s); /* durable (always) before the response goes out */
    return out;
}

static void h_get(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *key = bb_http_param(req, "key");
    struct bndr_client *c = bndr_client_fake(S(req));
    struct bndr_arg k = {(char *)key, strlen(key)};
    struct bndr_obj *o = bndr_lookup_read(c, &k);
    if (!o)
        bb_http_reply_error_status(res, 404, "not_found", "no such key");
    else if (o->type != BNDR_STRING)
        bb_http_reply_error_status(res, 409, "wrong_type", "the key holds a non-string value");
    else
        bb_http_reply_copy(res, 200, "application/octet-stream", o->s, o->len);
    bndr_client_fake_free(c);
}

static void h_put(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *key = bb_http_param(req, "key");
    struct bndr_arg argv[3] = {{(char *)"SET", 3}, {(char *)key, strlen(key)},
                               {req->body ? req->body : (char *)"", req->body_len}};
    size_t n;
    char *r = run(S(req), 3, argv, &n);
    if (n && r[0] == '+')
        bb_http_reply_copy(res, 200, "application/json", "{\"ok\":true}", 11);
    else if (n > 4 && !strncmp(r, "-OOM", 4))
        bb_http_reply_error_status(res, 507, "out_of_memory", "maxmemory reached");
    else {
        if (n >= 2)
            r[n - 2] = 0;
        bb_http_reply_error_status(res, 503, "unavailable", n > 1 ? r + 1 : "write refused");
    }
    bndr_free(r);
}

static void h_del(struct bb_http_request *req, struct bb_http_response *res)
{
    const char *key = bb_http_param(req, "key");
    struct bndr_arg argv[2] = {{(char *)"DEL", 3}, {(char *)key, strlen(key)}};
    size_t n;
    char *r = run(S(req), 2, argv, &n);
    if (n >= 2 && !strncmp(r, ":1", 2))
        bb_http_reply_copy(res, 200, "application/json", "{\"deleted\":1}", 13);
    else
        bb_http_reply_error_status(res, 404, "not_found", "no such key");
    bndr_free(r);
}

static void h_keys(struct bb_http_request *req, struct bb_http_response *res)
{
    char pat[1024];
    if (!bb_http_query(req, "pattern", pat, sizeof pat) || !pat[0])
        snprintf(pat, sizeof pat, "*");
    struct bndr_server *s = S(req);
    json_t *arr = json_array();
    uint64_t now = bndr_mstime();
    size_t plen = strlen(pat);
    BNDR_DICT_FOREACH(&s->db.keys, e)
    {
        int64_t when = bndr_db_expire(&s->db, e->v.p);
        if (when && (uint64_t)when <= now)
            continue;
        if (bndr_glob(pat, plen, e->key, e->klen, 0))
            json_array_append_new(arr, json_stringn(e->key, e->klen));
    }
    bb_http_reply_json(res, 200, arr);
    json_decref(arr);
}

/* The host's /health shape (bb_host_health_answer): {"status","services":{"bunder":{…}}}, 503
 * while AOF writes fail (writes are refused then). */
static void h_health(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bndr_server *s = S(req);
    int bad = s->aof.write_error != 0;
    json_t *svcs = json_pack("{s:{s:s,s:I,s:s}}", "bunder", "status", bad ? "degraded" : "ok",
                             "keys", (json_int_t)s->db.keys.n, "aof",
                             s->aof.write_error ? "write_error" : "ok");
    size_t len = 0;
    int status = 500;
    char *body = svcs ? bb_host_health_answer(bad, NULL, svcs, &len, &status) : NULL;
    json_decref(svcs);
    if (!body) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    bb_http_reply(res, status, "application/json", body, len);
}

static void h_metrics(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bndr_server *s = S(req);
    char buf[8192];
    int n = snprintf(
        buf, sizeof buf,
        "# HELP bunder_keys Keys in the database.\n# TYPE bunder_keys gauge\nbunder_keys %llu\n"
        "# HELP bunder_keys_with_ttl Keys with a TTL.\n# TYPE bunder_keys_with_ttl gauge\nbunder_keys_with_ttl %zu\n"
        "# HELP bunder_connected_clients RESP connections.\n# TYPE bunder_connected_clients gauge\nbunder_connected_clients %zu\n"
        "# HELP bunder_commands_total Commands processed.\n# TYPE bunder_commands_total counter\nbunder_commands_total %llu\n"
        "# HELP bunder_used_memory_bytes Memory allocated by bunder.\n# TYPE bunder_used_memory_bytes gauge\nbunder_used_memory_bytes %zu\n"
        "# HELP bunder_maxmemory_bytes Configured maxmemory (0 = none).\n# TYPE bunder_maxmemory_bytes gauge\nbunder_maxmemory_bytes %lld\n"
        "# HELP bunder_expired_keys_total Keys deleted by expiry.\n# TYPE bunder_expired_keys_total counter\nbunder_expired_keys_total %llu\n"
        "# HELP bunder_evicted_keys_total Keys evicted by maxmemory.\n# TYPE bunder_evicted_keys_total counter\nbunder_evicted_keys_total %llu\n"
        "# HELP bunder_keyspace_hits_total Successful key lookups.\n# TYPE bunder_keyspace_hits_total counter\nbunder_keyspace_hits_total %llu\n"
        "# HELP bunder_keyspace_misses_total Failed key lookups.\n# TYPE bunder_keyspace_misses_total counter\nbunder_keyspace_misses_total %llu\n"
        "# HELP bunder_aof_size_bytes Current AOF size.\n# TYPE bunder_aof_size_bytes gauge\nbunder_aof_size_bytes %lld\n"
        "# HELP bunder_aof_write_error 1 while AOF writes fail.\n# TYPE bunder_aof_write_error gauge\nbunder_aof_write_error %d\n",
        (unsigned long long)s->db.keys.n, s->db.xn, s->nclients, (unsigned long long)s->stat_commands,
        bndr_used_memory(), s->cfg.maxmemory, (unsigned long long)s->db.expired_keys,
        (unsigned long long)s->db.evicted_keys, (unsigned long long)s->db.hits,
        (unsigned long long)s->db.misses, (long long)s->aof.size, s->aof.write_error);
    struct bndr_bcast_stats bs;
    bndr_bcast_stats(s, &bs);
    if (n > 0 && (size_t)n < sizeof buf) {
        int m = snprintf(
            buf + n, sizeof buf - (size_t)n,
            "# HELP bunder_buncast_published_total Key-change events handed to buncast.\n# TYPE bunder_buncast_published_total counter\nbunder_buncast_published_total %llu\n"
            "# HELP bunder_buncast_dropped_total Key-change events dropped (queue full, buncast slow or down).\n# TYPE bunder_buncast_dropped_total counter\nbunder_buncast_dropped_total %llu\n"
            "# HELP bunder_buncast_errors_total Failed publishes.\n# TYPE bunder_buncast_errors_total counter\nbunder_buncast_errors_total %llu\n"
            "# HELP bunder_buncast_connected 1 while connected to buncast.\n# TYPE bunder_buncast_connected gauge\nbunder_buncast_connected %d\n",
            (unsigned long long)bs.published, (unsigned long long)bs.dropped,
            (unsigned long long)bs.errors, bs.connected);
        if (m > 0 && (size_t)m < sizeof buf - (size_t)n)
            n += m;
    }
    bb_http_reply_copy(res, 200, "text/plain; version=0.0.4", buf, (size_t)n);
}

static void sub_closed(struct bb_sse *sse, void *arg)
{
    struct bndr_server *s = arg;
    struct bndr_http *h = s->http;
    if (!h)
        return;
    for (struct sub **pp = &h->subs; *pp; pp = &(*pp)->next) {
        if ((*pp)->sse == sse) {
            struct sub *x = *pp;
            *pp = x->next;
            bb_sse_unref(x->sse);
            bndr_free(x);
            return;
        }
    }
}

static void h_subscribe(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bndr_server *s = S(req);
    struct bndr_http *h = s->http;
    struct sub *x = bndr_calloc(sizeof *x);
    if (!bb_http_query(req, "pattern", x->pattern, sizeof x->pattern) || !x->pattern[0])
        snprintf(x->pattern, sizeof x->pattern, "*");
    if (bb_sse_start(req, res, sub_closed, s, &x->sse) < 0) {
        bndr_free(x);
        bb_http_reply_error(res, -1, NULL);
        return;
    }
    x->next = h->subs;
    h->subs = x;
    bb_sse_send(x->sse, "connected", NULL, "{}", 2);
}

static void on_change(struct bndr_server *s, const char *op, const char *key, size_t klen)
{
    struct bndr_http *h = s->http;
    if (!h || !h->subs)
        return;
    json_t *j = json_pack("{s:s,s:s%}", "op", op, "key", key, klen);
    char *data = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!data)
        return;
    for (struct sub *x = h->subs; x; x = x->next)
        if (bndr_glob(x->pattern, strlen(x->pattern), key, klen, 0))
            bb_sse_send(x->sse, "change", NULL, data, strlen(data));
    free(data);
}

static const struct bb_route routes[] = {
    {"GET", "/kv/{key}", h_get, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "kv_get"},
    {"PUT", "/kv/{key}", h_put, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "kv_put"},
    {"POST", "/kv/{key}", h_put, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "kv_put"},
    {"DELETE", "/kv/{key}", h_del, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "kv_delete"},
    {"GET", "/keys", h_keys, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "keys"},
    {"GET", "/kv", h_keys, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "keys"},
    {"GET", "/health", h_health, BB_AUTH_NONE, 0, 0, "health"},
    {"GET", "/subscribe", h_subscribe, BB_IDENTITY_INTERNAL_SERVICE, BB_ROUTE_STREAM, 0,
     "subscribe"},
};
/* /metrics under the host's policy (bb_host_metrics_public, option metrics-access): public on a
 * loopback http-bind, else the internal identity (the requirepass bearer) */
static const struct bb_route route_metrics_public = {"GET", "/metrics", h_metrics, BB_AUTH_NONE,
                                                     0, 0, "metrics"};
static const struct bb_route route_metrics_internal = {
    "GET", "/metrics", h_metrics, BB_IDENTITY_INTERNAL_SERVICE, 0, 0, "metrics"};

int bndr_http_start(struct bndr_server *s, char *err, size_t errcap)
{
    struct bndr_http *h = bndr_calloc(sizeof *h);
    struct bb_identity_resolver pr = {"bunder", pass_resolver, s};
    if (bb_router_new(&h->router) < 0 ||
        bb_router_add(h->router, routes, sizeof routes / sizeof routes[0], s) < 0 ||
        bb_router_add(h->router,
                      bb_host_metrics_public(bndr_metrics_access_name(s->cfg.metrics_access),
                                             s->cfg.http_bind)
                          ? &route_metrics_public
                          : &route_metrics_internal,
                      1, s) < 0 ||
        bb_router_add_resolver(h->router, &pr) < 0) {
        snprintf(err, errcap, "router setup failed");
        goto fail;
    }
    struct bb_http_server_opts o = {0};
    bb_http_limits_default(&o.limits);
    o.limits.max_body_bytes = (size_t)s->cfg.proto_max_bulk_len;
    o.router = h->router;
    o.name = "bunder";
    int port = s->cfg.http_port < 0 ? 0 : s->cfg.http_port;
    if (bb_http_server_start(s->loop, s->cfg.http_bind, port, &o, &h->srv, err, errcap) < 0)
        goto fail;
    s->http = h;
    s->on_change = on_change;
    bb_info("bunder", "http_ready port=%d", bb_http_server_port(h->srv));
    return 0;
fail:
    if (h->router)
        bb_router_free(h->router);
    bndr_free(h);
    return -1;
}

void bndr_http_stop(struct bndr_server *s)
{
    struct bndr_http *h = s->http;
    if (!h)
        return;
    s->on_change = NULL;
    while (h->subs) {
        struct sub *x = h->subs;
        h->subs = x->next;
        bb_sse_unref(x->sse);
        bndr_free(x);
    }
    s->http = NULL;
    bb_http_server_free(h->srv);
    uv_run(s->loop, UV_RUN_NOWAIT);
    bb_router_free(h->router);
    bndr_free(h);
}
