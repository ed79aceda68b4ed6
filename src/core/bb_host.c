/* bb_host.c — see bb_host.h.
 *
 * Locking: h->mu guards every service's state and health reference count, the address files'
 * contents and the "refreshing" flag. The health snapshot in use (h->cur) is touched only on the
 * loop thread (handlers and the refresh job's done callback); the one being built (h->fresh) only
 * by the refresh job until its done callback runs.
 */
#include "bb_host.h"

#include "bb_config.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_http.h"
#include "bb_httpc.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pg.h"
#include "bb_pool.h"
#include "bb_service.h"
#include "bb_time.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "host"
#define MAX_SERVICES 16
#define MAX_CHECKS 4

enum svc_state { SVC_STARTING, SVC_RUNNING, SVC_STOPPING, SVC_STOPPED };

struct bb_host;

/* A listener the host serves /health and /metrics on: the gateway or a service's own. */
struct host_listener {
    struct bb_host *h;
    int svc;                      /* index into h->svcs, -1 for the gateway */
    struct bb_router *router;     /* own (bb_host_mount): owned; gateway: borrowed */
    const struct bb_router *listed; /* the router this listener serves (any kind), for listings */
    struct bb_http_server *http;  /* own listeners only */
    int port;
};

struct host_svc {
    const struct bb_service_def *def;
    void *state;
    enum svc_state st;
    int refs; /* health() calls in flight */
    int has_own;
    struct host_listener own;
    json_t *addrs; /* what <data>/<name>.addr holds */
};

struct snapshot {
    char *body; /* gateway answer */
    size_t len;
    int status;
    char *svc_body[MAX_SERVICES]; /* own listeners' answers */
    size_t svc_len[MAX_SERVICES];
    int svc_status[MAX_SERVICES];
};

struct host_check {
    const char *name;
    bb_host_check_fn fn;
    void *arg;
};

struct bb_host {
    struct bb_host_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct host_svc svcs[MAX_SERVICES];
    size_t nsvcs;
    struct host_check checks[MAX_CHECKS];
    size_t nchecks;
    struct host_listener gateway;
    int has_gateway;
    int metrics_public_gateway;
    uv_timer_t timer;
    int timer_on;
    int refreshing; /* a refresh job is queued or running (guarded by mu) */
    int closing;    /* bb_host_free called while a refresh was in flight */
    struct snapshot cur, fresh;
    uint64_t started_ms;
};

/* ------------------------------------------------------------------ metrics policy */

static int is_loopback(const char *host)
{
    return host && (!strncmp(host, "127.", 4) || !strcmp(host, "::1") ||
                    !strcmp(host, "localhost") || !strcmp(host, "[::1]"));
}

int bb_host_metrics_public(const char *policy, const char *bind_host)
{
    if (policy && !strcmp(policy, "public")) return 1;
    if (policy && !strcmp(policy, "internal")) return 0;
    return is_loopback(bind_host);
}

/* 1: /metrics public on a listener bound to host; 0: internal token. */
static int metrics_public(const struct bb_host *h, const char *host)
{
    return bb_host_metrics_public(h->o.cfg ? h->o.cfg->metrics_access : "auto", host);
}

/* ------------------------------------------------------------------ snapshot */

static void snapshot_release(struct snapshot *s)
{
    free(s->body);
    for (size_t i = 0; i < MAX_SERVICES; i++)
        free(s->svc_body[i]);
    memset(s, 0, sizeof *s);
}

static const char *status_of(json_t *d)
{
    const char *s = json_string_value(json_object_get(d, "status"));
    return s ? s : "ok";
}

char *bb_host_health_answer(int bad, json_t *checks, json_t *services, size_t *len, int *status)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "status", json_string(bad ? "degraded" : "ok"));
    if (checks) json_object_set(o, "checks", checks);
    json_object_set_new(o, "services", services ? json_incref(services) : json_object());
    char *s = bb_json_dumps(o, len);
    json_decref(o);
    if (status) *status = bad ? 503 : 200;
    return s;
}

/* The answer of one service's own listener: {"status", "services": {name: detail}}. */
static char *dump_answer(int bad, const char *name, json_t *detail, size_t *len, int *status)
{
    json_t *svcs = json_object();
    json_object_set(svcs, name, detail);
    char *s = bb_host_health_answer(bad, NULL, svcs, len, status);
    json_decref(svcs);
    return s;
}

/* Builds a full snapshot: every service's health (with a reference held) and every check. Any
 * thread; blocking. */
static void compute(struct bb_host *h, struct snapshot *out)
{
    json_t *services = json_object(), *checks = h->nchecks ? json_object() : NULL;
    int bad = 0;
    for (size_t i = 0; i < h->nchecks; i++) {
        json_t *d = NULL;
        int rc = h->checks[i].fn(h->checks[i].arg, &d);
        if (!d) d = json_pack("{s:s}", "status", rc ? "down" : "ok");
        if (rc) bad = 1;
        json_object_set_new(checks, h->checks[i].name, d);
    }
    pthread_mutex_lock(&h->mu);
    size_t n = h->nsvcs;
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        struct host_svc *s = &h->svcs[i];
        json_t *d = NULL;
        int sbad = 0;
        pthread_mutex_lock(&h->mu);
        enum svc_state st = s->st;
        if (st == SVC_RUNNING) s->refs++;
        pthread_mutex_unlock(&h->mu);
        if (st == SVC_RUNNING) {
            int rc = s->def->health ? s->def->health(s->state, &d) : 0;
            pthread_mutex_lock(&h->mu);
            s->refs--;
            pthread_cond_broadcast(&h->cv);
            pthread_mutex_unlock(&h->mu);
            if (!d) d = json_object();
            if (!json_object_get(d, "status"))
                json_object_set_new(d, "status", json_string(rc ? "degraded" : "ok"));
            sbad = rc != 0 || strcmp(status_of(d), "ok") != 0;
        } else {
            d = json_pack("{s:s}", "status", st == SVC_STARTING ? "starting" : "down");
            sbad = 1;
        }
        bad |= sbad;
        out->svc_body[i] = dump_answer(sbad, s->def->name, d, &out->svc_len[i], &out->svc_status[i]);
        json_object_set_new(services, s->def->name, d);
    }
    out->body = bb_host_health_answer(bad, checks, services, &out->len, &out->status);
    json_decref(checks);
    json_decref(services);
}

static void refresh_work(void *arg)
{
    struct bb_host *h = arg;
    compute(h, &h->fresh);
}

static void refresh_done(void *arg, int status)
{
    struct bb_host *h = arg;
    if (status == 0 && h->fresh.body) {
        snapshot_release(&h->cur);
        h->cur = h->fresh;
        memset(&h->fresh, 0, sizeof h->fresh);
    } else {
        snapshot_release(&h->fresh);
    }
    pthread_mutex_lock(&h->mu);
    h->refreshing = 0;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void on_timer(uv_timer_t *t)
{
    struct bb_host *h = t->data;
    pthread_mutex_lock(&h->mu);
    int busy = h->refreshing;
    if (!busy) h->refreshing = 1;
    pthread_mutex_unlock(&h->mu);
    if (busy) return;
    if (bb_pool_submit(h->o.pool, refresh_work, refresh_done, h) != 0) {
        pthread_mutex_lock(&h->mu);
        h->refreshing = 0; /* pool full: keep the last answer, try again next tick */
        pthread_mutex_unlock(&h->mu);
    }
}

int bb_host_health_start(struct bb_host *h)
{
    struct snapshot s = {0};
    compute(h, &s);
    snapshot_release(&h->cur);
    h->cur = s;
    uint64_t iv = h->o.cfg && h->o.cfg->health_interval_ms ? h->o.cfg->health_interval_ms : 1000;
    if (!h->timer_on) {
        uv_timer_init(h->o.loop, &h->timer);
        h->timer.data = h;
        h->timer_on = 1;
    }
    uv_timer_start(&h->timer, on_timer, iv, iv);
    return 0;
}

const char *bb_host_health_body(const struct bb_host *h, size_t *len, int *status)
{
    if (len) *len = h->cur.len;
    if (status) *status = h->cur.status;
    return h->cur.body;
}

/* ------------------------------------------------------------------ routes */

static void h_health(struct bb_http_request *req, struct bb_http_response *res)
{
    struct host_listener *l = req->ctx;
    struct bb_host *h = l->h;
    const char *body = l->svc < 0 ? h->cur.body : h->cur.svc_body[l->svc];
    if (!body) {
        static const char starting[] = "{\"status\":\"starting\",\"services\":{}}";
        bb_http_reply_copy(res, 503, "application/json", starting, sizeof starting - 1);
        return;
    }
    if (l->svc < 0) bb_http_reply_copy(res, h->cur.status, "application/json", body, h->cur.len);
    else
        bb_http_reply_copy(res, h->cur.svc_status[l->svc], "application/json", body,
                           h->cur.svc_len[l->svc]);
}

static void h_metrics(struct bb_http_request *req, struct bb_http_response *res)
{
    struct host_listener *l = req->ctx;
    struct bb_host *h = l->h;
    struct bb_metrics *m = h->o.metrics;
    if (!m) {
        bb_http_reply_error(res, BB_ENOTFOUND, "no metrics");
        return;
    }
    bb_gauge_set(bb_metrics_gauge(m, "bunbase_uptime_seconds", "seconds since start", NULL),
                 (double)(bb_time_mono_ms() - h->started_ms) / 1000.0);
    if (h->o.pool)
        bb_gauge_set(bb_metrics_gauge(m, "bunbase_worker_jobs_pending",
                                      "jobs queued or running on the worker pool", NULL),
                     (double)bb_pool_pending(h->o.pool));
    char *text = NULL;
    size_t len = 0;
    if (bb_metrics_render(m, &text, &len) != 0) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    bb_http_reply(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* GET /v1/debug/routes (BUNBASE_DEBUG_ROUTES=1 only): every route of this listener's router with
 * the identity kinds it accepts — what the generated identity-matrix test walks. */
static void h_debug_routes(struct bb_http_request *req, struct bb_http_response *res)
{
    struct host_listener *l = req->ctx;
    const struct bb_router *router = l->listed;
    json_t *a = json_array();
    for (size_t i = 0;; i++) {
        const struct bb_route *r = bb_router_route(router, i);
        if (!r) break;
        json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:b,s:b}", "method", r->method,
                                           "pattern", r->pattern, "auth", (json_int_t)r->auth,
                                           "stream", (r->flags & BB_ROUTE_STREAM) != 0, "pool",
                                           (r->flags & BB_ROUTE_POOL) != 0));
    }
    bb_http_reply_json(res, 200, a);
    json_decref(a);
}

static const struct bb_route routes_debug[] = {
    {"GET", "/v1/debug/routes", h_debug_routes, BB_AUTH_NONE, 0, 0, "debug_routes"},
};

static const struct bb_route routes_public[] = {
    {"GET", "/health", h_health, BB_AUTH_NONE, 0, 0, "health"},
    {"GET", "/metrics", h_metrics, BB_AUTH_NONE, 0, 0, "metrics"},
};
static const struct bb_route routes_internal[] = {
    {"GET", "/health", h_health, BB_AUTH_NONE, 0, 0, "health"},
    {"GET", "/metrics", h_metrics, BB_AUTH_INTERNAL, 0, 0, "metrics"},
};

/* /health and /metrics for listener l (their ctx) on router. */
static int add_host_routes(struct bb_host *h, struct bb_router *router, struct host_listener *l,
                           const char *bind_host)
{
    const struct bb_route *t = metrics_public(h, bind_host) ? routes_public : routes_internal;
    int rc = bb_router_add(router, t, 2, l);
    if (rc == 0 && h->o.cfg && h->o.cfg->debug_routes) rc = bb_router_add(router, routes_debug, 1, l);
    return rc;
}

/* ------------------------------------------------------------------ lifecycle */

int bb_host_new(const struct bb_host_opts *o, struct bb_host **out)
{
    if (!o || !o->loop || !out) return BB_EINVAL;
    struct bb_host *h = calloc(1, sizeof *h);
    if (!h) return BB_ENOMEM;
    h->o = *o;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->started_ms = bb_time_mono_ms();
    *out = h;
    return 0;
}

static void timer_closed(uv_handle_t *hd)
{
    (void)hd;
}

void bb_host_free(struct bb_host *h)
{
    if (!h) return;
    bb_host_services_stop(h);
    /* a refresh still queued or running uses h: the pool must have been drained (bunbased
     * joins it before freeing the host); wait for a job that is still computing */
    pthread_mutex_lock(&h->mu);
    uint64_t deadline = bb_time_mono_ms() + 10000;
    while (h->refreshing && bb_time_mono_ms() < deadline) {
        pthread_mutex_unlock(&h->mu);
        uv_run(h->o.loop, UV_RUN_NOWAIT);
        bb_time_sleep_ms(1);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    uv_run(h->o.loop, UV_RUN_NOWAIT); /* the timer's close callback */
    snapshot_release(&h->cur);
    snapshot_release(&h->fresh);
    for (size_t i = 0; i < h->nsvcs; i++)
        json_decref(h->svcs[i].addrs);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int bb_host_add_check(struct bb_host *h, const char *name, bb_host_check_fn fn, void *arg)
{
    if (!h || !name || !fn) return BB_EINVAL;
    if (h->nchecks == MAX_CHECKS) return BB_ELIMIT;
    h->checks[h->nchecks++] = (struct host_check){name, fn, arg};
    return 0;
}

int bb_host_set_gateway(struct bb_host *h, struct bb_router *router, const char *bind_host)
{
    if (!h || !router || h->has_gateway) return BB_EINVAL;
    h->gateway = (struct host_listener){.h = h, .svc = -1, .router = router, .listed = router};
    int rc = add_host_routes(h, router, &h->gateway, bind_host);
    if (rc == 0) h->has_gateway = 1;
    return rc;
}

struct bb_router *bb_host_gateway_router(const struct bb_host *h)
{
    return h && h->has_gateway ? h->gateway.router : NULL;
}

static int find_svc(struct bb_host *h, const char *name)
{
    for (size_t i = 0; i < h->nsvcs; i++)
        if (!strcmp(h->svcs[i].def->name, name)) return (int)i;
    return -1;
}

static void close_own(struct host_svc *s)
{
    if (s->own.http) bb_http_server_free(s->own.http);
    if (s->own.router) bb_router_free(s->own.router);
    s->own.http = NULL;
    s->own.router = NULL;
    s->has_own = 0;
}

int bb_host_service_start(struct bb_host *h, const struct bb_service_def *def,
                          struct bb_runtime *rt, char *err, size_t errcap)
{
    if (!h || !def || !rt) return BB_EINVAL;
    pthread_mutex_lock(&h->mu);
    if (h->nsvcs == MAX_SERVICES || find_svc(h, def->name) >= 0) {
        pthread_mutex_unlock(&h->mu);
        snprintf(err, errcap, "service %s: already started or too many services", def->name);
        return BB_ELIMIT;
    }
    size_t i = h->nsvcs++;
    h->svcs[i] = (struct host_svc){.def = def, .st = SVC_STARTING};
    pthread_mutex_unlock(&h->mu);
    void *state = NULL;
    int rc = 0;
    if (def->migrations && def->nmigrations && *def->nmigrations > 0) {
        PGconn *c = NULL;
        char msg[512] = "";
        rc = rt->pg_conninfo ? bb_pg_connect(rt->pg_conninfo, &c, msg, sizeof msg) : BB_EUNAVAIL;
        if (rc == 0) rc = bb_pg_migrate(c, def->migrations, *def->nmigrations, msg, sizeof msg);
        if (c) PQfinish(c);
        if (rc) snprintf(err, errcap, "%s: migrations failed: %s", def->name, msg[0] ? msg : "no database");
    }
    if (rc == 0) rc = def->start(rt, &state, err, errcap);
    pthread_mutex_lock(&h->mu);
    if (rc != 0) {
        close_own(&h->svcs[i]);
        json_decref(h->svcs[i].addrs);
        h->nsvcs--; /* it was the last one added */
        pthread_mutex_unlock(&h->mu);
        return rc;
    }
    h->svcs[i].state = state;
    h->svcs[i].st = SVC_RUNNING;
    pthread_mutex_unlock(&h->mu);
    bb_info(MOD, "service_started name=%s", def->name);
    return 0;
}

void *bb_host_service_state(struct bb_host *h, const char *name)
{
    void *st = NULL;
    if (!h || !name) return NULL;
    pthread_mutex_lock(&h->mu);
    int i = find_svc(h, name);
    if (i >= 0 && h->svcs[i].st == SVC_RUNNING) st = h->svcs[i].state;
    pthread_mutex_unlock(&h->mu);
    return st;
}

json_t *bb_host_service_names(struct bb_host *h)
{
    json_t *a = json_array();
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->nsvcs; i++)
        if (h->svcs[i].st == SVC_RUNNING) json_array_append_new(a, json_string(h->svcs[i].def->name));
    pthread_mutex_unlock(&h->mu);
    return a;
}

static void timer_closed(uv_handle_t *hd);

void bb_host_services_stop(struct bb_host *h)
{
    if (!h) return;
    if (h->timer_on) { /* nothing left to watch; and the loop must be free to end */
        uv_timer_stop(&h->timer);
        uv_close((uv_handle_t *)&h->timer, timer_closed);
        h->timer_on = 0;
    }
    for (size_t i = h->nsvcs; i-- > 0;) {
        struct host_svc *s = &h->svcs[i];
        pthread_mutex_lock(&h->mu);
        if (s->st != SVC_RUNNING) {
            pthread_mutex_unlock(&h->mu);
            continue;
        }
        s->st = SVC_STOPPING;
        while (s->refs > 0)
            pthread_cond_wait(&h->cv, &h->mu);
        pthread_mutex_unlock(&h->mu);
        close_own(s); /* no request reaches the service through its own listener any more */
        s->def->stop(s->state);
        pthread_mutex_lock(&h->mu);
        s->st = SVC_STOPPED;
        s->state = NULL;
        pthread_mutex_unlock(&h->mu);
        bb_info(MOD, "service_stopped name=%s", s->def->name);
    }
}

/* ------------------------------------------------------------------ listeners and addresses */

static int write_addrs(struct bb_host *h, struct host_svc *s)
{
    if (!h->o.cfg || !h->o.cfg->data_dir[0]) return 0;
    char path[1200];
    int n = snprintf(path, sizeof path, "%s/%s.addr", h->o.cfg->data_dir, s->def->name);
    if (n < 0 || (size_t)n >= sizeof path) return BB_EINVAL;
    size_t len = 0;
    char *text = bb_json_dumps(s->addrs, &len);
    if (!text) return BB_ENOMEM;
    int rc = bb_fs_write_atomic(path, text, len, 0600);
    free(text);
    if (rc != 0) bb_warn(MOD, "addr_file_failed path=%s", path);
    return rc;
}

struct bb_router *bb_host_service_router(struct bb_host *h, const char *service)
{
    if (!h || !service) return NULL;
    pthread_mutex_lock(&h->mu);
    int i = find_svc(h, service);
    struct bb_router *r = i < 0 ? NULL : h->svcs[i].has_own ? h->svcs[i].own.router
                                                           : (h->has_gateway ? h->gateway.router : NULL);
    pthread_mutex_unlock(&h->mu);
    return r;
}

struct bb_router *bb_host_locate(struct bb_host *h, const char *service, char *addr, size_t cap,
                                 const char **remote)
{
    struct bb_router *router =
        bb_host_service_state(h, service) ? bb_host_service_router(h, service) : NULL;
    *remote = router ? NULL : bb_config_service_addr(service, addr, cap);
    return router;
}

int bb_host_call(struct bb_host *h, const char *service, const struct bb_host_call *c, int *status,
                 char **reply, size_t *reply_len)
{
    *status = 0, *reply = NULL, *reply_len = 0;
    if (!h || !service || !c || !c->method || !c->url) return BB_EINVAL;
    size_t max = c->max_reply ? c->max_reply : (size_t)64 << 20;
    const char *tok = h->o.internal_token ? h->o.internal_token : "";
    char addr[256];
    const char *remote = NULL;
    struct bb_router *router = bb_host_locate(h, service, addr, sizeof addr, &remote);
    if (!router && !remote) return BB_EUNAVAIL;
    size_t bl = strlen(tok) + 8;
    char *bearer = malloc(bl);
    if (!bearer) return BB_ENOMEM;
    snprintf(bearer, bl, "Bearer %s", tok);
    int rc = 0;
    if (router) {
        struct bb_http_header hdrs[4];
        size_t nh = 0;
        hdrs[nh++] = (struct bb_http_header){"Authorization", bearer};
        if (c->identity)
            hdrs[nh++] = (struct bb_http_header){"X-Bunbase-Identity", (char *)c->identity};
        if (c->body) hdrs[nh++] = (struct bb_http_header){"Content-Type", "application/json"};
        if (c->request_id)
            hdrs[nh++] = (struct bb_http_header){"X-Request-Id", (char *)c->request_id};
        struct bb_http_local_request lr = {c->method, c->url, hdrs, nh, c->body, c->body_len};
        struct bb_http_response *out = NULL;
        size_t maxb = h->o.cfg ? (size_t)h->o.cfg->http_max_body_bytes : 0;
        if (c->body_len > maxb) maxb = c->body_len;
        if (bb_http_dispatch_local(router, maxb, tok, &lr, &out) != 0 || !out) {
            rc = BB_ENOMEM;
        } else if (out->body_len > max) {
            rc = BB_ETOOBIG;
        } else {
            *status = out->status;
            *reply = malloc(out->body_len + 1);
            if (!*reply) {
                rc = BB_ENOMEM;
            } else {
                if (out->body_len) memcpy(*reply, out->body, out->body_len);
                (*reply)[out->body_len] = '\0';
                *reply_len = out->body_len;
            }
        }
        bb_http_response_free(out);
        free(bearer);
        return rc;
    }
    size_t ul = strlen(remote) + strlen(c->url) + 8;
    char *full = malloc(ul);
    char l1[64], *l2 = NULL, *l3 = NULL;
    size_t l2n = bl + 16, l3n = c->identity ? strlen(c->identity) + 24 : 0;
    l2 = malloc(l2n);
    if (c->identity) l3 = malloc(l3n);
    if (!full || !l2 || (c->identity && !l3)) {
        free(full), free(l2), free(l3), free(bearer);
        return BB_ENOMEM;
    }
    snprintf(full, ul, "http://%s%s", remote, c->url);
    snprintf(l2, l2n, "Authorization: %s", bearer);
    if (l3) snprintf(l3, l3n, "X-Bunbase-Identity: %s", c->identity);
    snprintf(l1, sizeof l1, "Content-Type: application/json");
    const char *lines[5];
    size_t nl = 0;
    lines[nl++] = l2;
    if (l3) lines[nl++] = l3;
    if (c->body) lines[nl++] = l1;
    lines[nl++] = "Expect:";
    lines[nl] = NULL;
    struct bb_httpc_request hr = {.method = c->method,
                                  .url = full,
                                  .headers = lines,
                                  .body = c->body,
                                  .body_len = c->body_len,
                                  .request_id = c->request_id,
                                  .max_response_bytes = max,
                                  .timeout_ms = c->timeout_ms ? c->timeout_ms : 30000};
    struct bb_httpc_response out = {0};
    rc = bb_httpc_do(&hr, &out);
    OPENSSL_cleanse(l2, l2n);
    OPENSSL_cleanse(bearer, bl);
    free(full), free(l2), free(l3), free(bearer);
    if (rc == BB_EIO) rc = BB_EUNAVAIL;
    if (rc) return rc;
    *status = (int)out.status;
    *reply = out.body;
    *reply_len = out.body_len;
    out.body = NULL;
    bb_httpc_response_release(&out);
    return 0;
}

int bb_host_publish_addr(struct bb_host *h, const char *service, const char *key, const char *value)
{
    if (!h || !service || !key || !value) return BB_EINVAL;
    pthread_mutex_lock(&h->mu);
    int i = find_svc(h, service);
    int rc = BB_ENOTFOUND;
    if (i >= 0) {
        struct host_svc *s = &h->svcs[i];
        if (!s->addrs) s->addrs = json_object();
        json_object_set_new(s->addrs, key, json_string(value));
        rc = write_addrs(h, s);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* Starts a listener for service i at addr (knob names the setting in errors): routes + the host's
 * /health and /metrics. 0 with *router and *http (the caller's), *port the bound port. */
static int start_listener(struct bb_host *h, int i, const char *addr, const char *knob,
                          const struct bb_route *routes, size_t n, void *ctx,
                          const struct bb_http_limits *limits, struct bb_router **router,
                          struct bb_http_server **http, int *port, char *err, size_t errcap)
{
    struct host_svc *s = &h->svcs[i];
    const char *service = s->def->name;
    char host[256];
    int rc;
    if (bb_config_split_addr(addr, host, sizeof host, port) != 0) {
        snprintf(err, errcap, "%s: expected HOST:PORT, got \"%s\"", knob, addr);
        return BB_EINVAL;
    }
    s->own.h = h;
    s->own.svc = i;
    *router = NULL;
    *http = NULL;
    if ((rc = bb_router_new(router)) != 0) return rc;
    s->own.listed = *router;
    if ((rc = bb_router_add(*router, routes, n, ctx)) != 0 ||
        (rc = add_host_routes(h, *router, &s->own, host)) != 0) {
        snprintf(err, errcap, "%s: cannot add routes: %s", service, bb_strerror(rc));
        bb_router_free(*router);
        *router = NULL;
        return rc;
    }
    struct bb_http_server_opts so = {
        .router = *router,
        .pool = h->o.pool,
        .metrics = h->o.metrics,
        .internal_token = h->o.internal_token,
        .name = service,
    };
    if (limits) so.limits = *limits;
    else if (h->o.cfg) bb_config_http_limits(h->o.cfg, &so.limits);
    else bb_http_limits_default(&so.limits);
    rc = bb_http_server_start(h->o.loop, host, *port, &so, http, err, errcap);
    if (rc) {
        bb_router_free(*router);
        *router = NULL;
        *http = NULL;
        return rc;
    }
    *port = bb_http_server_port(*http);
    char bound[300];
    snprintf(bound, sizeof bound, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, *port);
    bb_host_publish_addr(h, service, "http", bound);
    bb_info(MOD, "listening service=%s http=%s", service, bound);
    return 0;
}

/* The index of a service being started (its start() calls us), or BB_ENOTFOUND with err set. */
static int starting_svc(struct bb_host *h, const char *service, char *err, size_t errcap)
{
    pthread_mutex_lock(&h->mu);
    int i = find_svc(h, service);
    pthread_mutex_unlock(&h->mu);
    if (i < 0) snprintf(err, errcap, "%s: not a starting service", service);
    return i < 0 ? BB_ENOTFOUND : i;
}

int bb_host_listen(struct bb_host *h, const char *service, const struct bb_route *routes, size_t n,
                   void *ctx, const struct bb_http_limits *limits, const char *default_addr,
                   struct bb_router **router_out, struct bb_http_server **http_out,
                   int *port_out, char *err, size_t errcap)
{
    if (!h || !service || !router_out || !http_out) return BB_EINVAL;
    int i = starting_svc(h, service, err, errcap);
    if (i < 0) return i;
    char addr[256], knob[128];
    bb_config_service_addr_knob(service, knob, sizeof knob);
    if (!bb_config_service_addr(service, addr, sizeof addr)) {
        if (!default_addr) {
            snprintf(err, errcap, "%s: no address (%s)", service, knob);
            return BB_EINVAL;
        }
        snprintf(addr, sizeof addr, "%s", default_addr);
    }
    int port = 0;
    int rc = start_listener(h, i, addr, knob, routes, n, ctx, limits, router_out, http_out, &port,
                            err, errcap);
    if (rc == 0 && port_out) *port_out = port;
    return rc;
}

int bb_host_mount(struct bb_host *h, const char *service, const struct bb_route *routes, size_t n,
                  void *ctx, const struct bb_http_limits *limits, int *port_out, char *err,
                  size_t errcap)
{
    if (port_out) *port_out = 0;
    if (!h || !service) return BB_EINVAL;
    int i = starting_svc(h, service, err, errcap);
    if (i < 0) return i;
    struct host_svc *s = &h->svcs[i];
    char addr[256];
    if (!bb_config_service_addr(service, addr, sizeof addr)) {
        if (!h->has_gateway) {
            snprintf(err, errcap, "%s: no gateway and no own address", service);
            return BB_EINVAL;
        }
        int rc = bb_router_add(h->gateway.router, routes, n, ctx);
        if (rc) snprintf(err, errcap, "%s: cannot add routes: %s", service, bb_strerror(rc));
        return rc;
    }
    if (s->has_own) {
        int rc = bb_router_add(s->own.router, routes, n, ctx);
        if (rc) snprintf(err, errcap, "%s: cannot add routes: %s", service, bb_strerror(rc));
        if (port_out) *port_out = s->own.port;
        return rc;
    }
    char knob[128];
    bb_config_service_addr_knob(service, knob, sizeof knob);
    int port = 0;
    int rc = start_listener(h, i, addr, knob, routes, n, ctx, limits, &s->own.router,
                            &s->own.http, &port, err, errcap);
    if (rc) return rc;
    s->has_own = 1;
    s->own.port = port;
    if (port_out) *port_out = port;
    return 0;
}
