#include "platform.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_id.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_pg.h"
#include "bb_pool.h"
#include "bb_sse.h"
#include "bb_host.h"
#include "bb_migrations.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct platform {
    struct bb_runtime *rt;
    char instance_id[BB_ID_LEN + 1];
};

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* ------------------------------------------------------------------ /v1/instance/status */

static void handle_status(struct bb_http_request *req, struct bb_http_response *res)
{
    struct platform *p = req->ctx;
    struct bb_runtime *rt = p->rt;
    json_t *services = bb_host_service_names(rt->host);
    json_t *body = json_pack("{s:s,s:s,s:I,s:o,s:{s:b},s:s}", "version", BB_VERSION, "instance_id",
                             p->instance_id, "uptime_seconds",
                             (json_int_t)((wall_ms() - rt->started_ms) / 1000), "services",
                             services, "database", "embedded", rt->pg_embedded, "url",
                             rt->public_url ? rt->public_url : "");
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

/* ------------------------------------------------------------------ debug routes (tests only) */

static void handle_debug_sleep(struct bb_http_request *req, struct bb_http_response *res)
{
    char buf[32];
    const char *v = bb_http_query(req, "ms", buf, sizeof buf);
    char *end = NULL;
    long ms = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || ms < 0 || ms > 60000) {
        bb_http_reply_error(res, BB_EINVAL, "ms must be an integer in [0, 60000]");
        return;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    json_t *body = json_pack("{s:I}", "slept", (json_int_t)ms);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

static void handle_debug_echo(struct bb_http_request *req, struct bb_http_response *res)
{
    uint8_t digest[BB_SHA256_LEN];
    char hex[2 * BB_SHA256_LEN + 1];
    bb_sha256(req->body, req->body_len, digest);
    bb_hex_encode(digest, sizeof digest, hex, sizeof hex);
    json_t *body = json_pack("{s:I,s:s}", "bytes", (json_int_t)req->body_len, "sha256", hex);
    bb_http_reply_json(res, 200, body);
    json_decref(body);
}

/* /v1/debug/sse?count=N&interval_ms=M: a thread pushes N events with multi-line data, then ends
 * the stream — exercises push-from-any-thread, framing, heartbeats and disconnects. */
struct sse_job {
    struct bb_sse *sse;
    long count, interval_ms;
};

static void *sse_pusher(void *arg)
{
    struct sse_job *j = arg;
    for (long i = 0; i < j->count && !bb_sse_is_closed(j->sse); i++) {
        char id[32], data[64];
        snprintf(id, sizeof id, "%ld", i + 1);
        snprintf(data, sizeof data, "line one %ld\nline two %ld", i + 1, i + 1);
        if (bb_sse_send(j->sse, "tick", id, data, strlen(data)) != 0) break;
        struct timespec ts = {j->interval_ms / 1000, (j->interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (j->count > 0) bb_sse_close(j->sse);
    bb_sse_unref(j->sse);
    free(j);
    return NULL;
}

static void handle_debug_sse(struct bb_http_request *req, struct bb_http_response *res)
{
    char b1[32], b2[32];
    const char *c = bb_http_query(req, "count", b1, sizeof b1);
    const char *iv = bb_http_query(req, "interval_ms", b2, sizeof b2);
    struct sse_job *j = calloc(1, sizeof *j);
    if (!j) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    j->count = c ? strtol(c, NULL, 10) : 3;
    j->interval_ms = iv ? strtol(iv, NULL, 10) : 10;
    if (j->count < 0 || j->count > 100000 || j->interval_ms < 0 || j->interval_ms > 60000) {
        free(j);
        bb_http_reply_error(res, BB_EINVAL, "count in [0,100000], interval_ms in [0,60000]");
        return;
    }
    if (bb_sse_start(req, res, NULL, NULL, &j->sse) != 0) {
        free(j);
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, sse_pusher, j) != 0) {
        bb_sse_close(j->sse);
        bb_sse_unref(j->sse);
        free(j);
        return;
    }
    pthread_detach(t);
}

/* ------------------------------------------------------------------ route tables */

static const struct bb_route routes[] = {
    {"GET", "/v1/instance/status", handle_status, BB_AUTH_NONE, 0, 0, NULL},
};

static const struct bb_route debug_routes[] = {
    {"GET", "/v1/debug/sleep", handle_debug_sleep, BB_AUTH_NONE, BB_ROUTE_POOL, 0, NULL},
    {"POST", "/v1/debug/echo", handle_debug_echo, BB_AUTH_NONE, BB_ROUTE_POOL, 0, NULL},
    {"GET", "/v1/debug/sse", handle_debug_sse, BB_AUTH_NONE, BB_ROUTE_STREAM, 0, NULL},
    {"GET", "/v1/debug/internal", handle_debug_echo, BB_AUTH_INTERNAL, 0, 0, NULL},
};

/* ------------------------------------------------------------------ lifecycle */

static int load_instance_id(struct platform *p, char *err, size_t errcap)
{
    PGconn *conn = NULL;
    int rc = bb_pg_pool_acquire(p->rt->pg, &conn, 10000);
    if (rc) {
        snprintf(err, errcap, "platform: cannot reach PostgreSQL: %s", bb_strerror(rc));
        return rc;
    }
    char id[BB_ID_LEN + 1];
    bb_id_new(id);
    const char *params[1] = {id};
    /* insert-if-empty then read back: concurrent starters agree on one id */
    PGresult *r = PQexecParams(conn,
                               "INSERT INTO instance(id) SELECT $1 WHERE NOT EXISTS "
                               "(SELECT 1 FROM instance)",
                               1, NULL, params, NULL, NULL, 0);
    PQclear(r);
    r = PQexec(conn, "SELECT id FROM instance ORDER BY created_at LIMIT 1");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(p->instance_id, sizeof p->instance_id, "%s", PQgetvalue(r, 0, 0));
    } else {
        snprintf(err, errcap, "platform: cannot read instance id: %s", PQerrorMessage(conn));
        rc = BB_EUNAVAIL;
    }
    PQclear(r);
    bb_pg_pool_release(p->rt->pg, conn);
    return rc;
}

static int platform_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    struct platform *p = calloc(1, sizeof *p);
    if (!p) return BB_ENOMEM;
    p->rt = rt;
    int rc = load_instance_id(p, err, errcap);
    if (rc == 0) rc = bb_router_add(rt->router, routes, sizeof routes / sizeof routes[0], p);
    if (rc == 0 && rt->cfg->debug_routes)
        rc = bb_router_add(rt->router, debug_routes, sizeof debug_routes / sizeof debug_routes[0], p);
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "platform: %s", bb_strerror(rc));
        free(p);
        return rc;
    }
    *state = p;
    return 0;
}

static void platform_stop(void *state)
{
    free(state);
}

const struct bb_service_def bb_platform_service = {
    .name = "platform",
    .start = platform_start,
    .stop = platform_stop,
    .health = NULL,
    .migrations = bb_migrations_platform,
    .nmigrations = &bb_migrations_platform_count,
};
