#include "bb_config.h"
#include "bb_knobs.h"
#include "bb_err.h"
#include "bb_http.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR(field) BB_KNOB_STR, offsetof(struct bb_config, field), sizeof(((struct bb_config *)0)->field)
#define SECRET(field) BB_KNOB_SECRET, offsetof(struct bb_config, field), sizeof(((struct bb_config *)0)->field)
#define U64(field) BB_KNOB_U64, offsetof(struct bb_config, field), sizeof(uint64_t)
#define BOOL(field) BB_KNOB_BOOL, offsetof(struct bb_config, field), sizeof(uint64_t)

static const struct bb_knob knobs[] = {
    {"BUNBASE_DATA", "--data", STR(data_dir), "./.bunbase", 0, 0,
     "data directory (PostgreSQL cluster, project data, internal token, lock file)", NULL},
    {"BUNBASE_LISTEN", "--listen", STR(listen), "0.0.0.0:3001", 0, 0,
     "address of the public gateway (platform); port 0 picks a free port", NULL},
    {"BUNBASE_SERVICES", "--services", STR(services), "all", 0, 0,
     "comma-separated services to run in this process, or \"all\"", NULL},
    {"BUNBASE_DATABASE_URL", "--database-url", SECRET(database_url), "", 0, 0,
     "external PostgreSQL conninfo/URL; empty: provision an embedded cluster under <data>/postgres", NULL},
    {"BUNBASE_INTERNAL_TOKEN", NULL, SECRET(internal_token), "", 0, 0,
     "service-to-service credential; empty: generated into <data>/internal_token (mode 0600)", NULL},
    {"BUNBASE_LOG_LEVEL", "--log-level", STR(log_level), "info", 0, 0,
     "debug | info | warn | error", NULL},
    {"BUNBASE_HTTP_MAX_HEADER_BYTES", NULL, U64(http_max_header_bytes), "16384", 256, 1u << 20,
     "request line + headers limit; over it: 431", NULL},
    {"BUNBASE_HTTP_MAX_BODY_BYTES", NULL, U64(http_max_body_bytes), "1048576", 0, 1ull << 32,
     "default request body limit (routes may set their own); over it: 413", NULL},
    {"BUNBASE_HTTP_IDLE_TIMEOUT_MS", NULL, U64(http_idle_timeout_ms), "60000", 10, 86400000,
     "idle keep-alive connections are closed after this", NULL},
    {"BUNBASE_HTTP_REQUEST_TIMEOUT_MS", NULL, U64(http_request_timeout_ms), "30000", 10, 86400000,
     "a request not fully received this long after its first byte gets 408 and a close", NULL},
    {"BUNBASE_HTTP_DRAIN_TIMEOUT_MS", NULL, U64(http_drain_timeout_ms), "10000", 0, 3600000,
     "on SIGTERM/SIGINT, in-flight requests get this long to finish", NULL},
    {"BUNBASE_HTTP_MAX_CONNECTIONS", NULL, U64(http_max_connections), "10000", 1, 1000000,
     "connections beyond this are closed on accept", NULL},
    {"BUNBASE_HTTP_MAX_CONNECTIONS_PER_IP", NULL, U64(http_max_connections_per_ip), "256", 0,
     1000000, "connections from one IP address to the public gateway; more are closed on accept "
     "(logged); 0: no limit", NULL},
    {"BUNBASE_HTTP_MAX_INFLIGHT_BODY_BYTES", NULL, U64(http_max_inflight_body_bytes), "268435456",
     0, 1ull << 40, "request body bytes all listeners together hold in memory; a request over it "
     "gets 503 before its body is read; 0: no limit", NULL},
    {"BUNBASE_JSON_MAX_VALUES", NULL, U64(json_max_values), "1000000", 0, 1ull << 32,
     "JSON values (scalars, arrays, objects, members) one parsed document may hold; more: 400 "
     "before any is built (bounds parse memory); 0: no limit", NULL},
    {"BUNBASE_WORKERS", NULL, U64(workers), "8", 1, 256,
     "worker threads for blocking handlers (storage, PostgreSQL, upstream calls)", NULL},
    {"BUNBASE_WORKER_QUEUE", NULL, U64(worker_queue), "4096", 1, 1000000,
     "jobs waiting for a worker; beyond it requests get 503", NULL},
    {"BUNBASE_WORKER_QUEUE_PER_PROJECT", NULL, U64(worker_queue_per_project), "1024", 0, 1000000,
     "jobs one project (or all routes without a project, together) may have waiting; beyond it "
     "503; projects are served round-robin; 0: BUNBASE_WORKER_QUEUE", NULL},
    {"BUNBASE_SSE_HEARTBEAT_MS", NULL, U64(sse_heartbeat_ms), "15000", 10, 3600000,
     "SSE heartbeat comment interval", NULL},
    {"BUNBASE_SSE_MAX_QUEUE_BYTES", NULL, U64(sse_max_queue_bytes), "4194304", 1024, 1ull << 32,
     "unsent bytes per SSE stream before the stream is closed as too slow", NULL},
    {"BUNBASE_PG_POOL_SIZE", NULL, U64(pg_pool_size), "8", 1, 1000,
     "PostgreSQL connections per process", NULL},
    {"BUNBASE_PG_FALLBACK_DIR", NULL, STR(pg_fallback_dir), "/var/lib/bunbase/postgres", 0, 0,
     "as root, where the embedded cluster lives when the postgres user cannot reach the data "
     "directory (recorded in <data>/postgres.location); empty: refuse to start instead", NULL},
    {"BUNBASE_METRICS_ACCESS", NULL, STR(metrics_access), "auto", 0, 0,
     "who may read /metrics on every listener: auto (anyone on a loopback listener, the internal "
     "token elsewhere), public, internal", "auto|public|internal"},
    {"BUNBASE_HEALTH_INTERVAL_MS", NULL, U64(health_interval_ms), "1000", 50, 3600000,
     "how often /health's snapshot (PostgreSQL probe, services) is refreshed", NULL},
    {"BUNBASE_DEBUG_ROUTES", NULL, BOOL(debug_routes), "0", 0, 1,
     "1 enables test-only routes /v1/debug/sleep and /v1/debug/echo (never in production)", NULL},
};

const struct bb_knob *bb_config_knobs(size_t *n)
{
    *n = sizeof knobs / sizeof knobs[0];
    return knobs;
}

int bb_config_load(struct bb_config *c, int argc, char **argv, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    size_t n = sizeof knobs / sizeof knobs[0];
    int rc0 = bb_knobs_load(knobs, n, c, err, errcap);
    if (rc0) return rc0;
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--print-config")) {
            c->print_config = 1;
            continue;
        }
        const struct bb_knob *k = NULL;
        const char *val = NULL;
        for (size_t i = 0; i < n && !k; i++) {
            if (!knobs[i].flag) continue;
            size_t fl = strlen(knobs[i].flag);
            if (strncmp(arg, knobs[i].flag, fl) != 0) continue;
            if (arg[fl] == '=') k = &knobs[i], val = arg + fl + 1;
            else if (arg[fl] == '\0') {
                if (a + 1 >= argc) {
                    snprintf(err, errcap, "%s needs a value", knobs[i].flag);
                    return BB_EINVAL;
                }
                k = &knobs[i], val = argv[++a];
            }
        }
        if (!k) {
            snprintf(err, errcap, "unknown option \"%s\"", arg);
            return BB_EINVAL;
        }
        int rc = bb_knob_set(k, c, val, k->flag, err, errcap);
        if (rc) return rc;
    }
    char host[256];
    int port;
    if (bb_config_split_addr(c->listen, host, sizeof host, &port) != 0) {
        snprintf(err, errcap, "--listen: expected HOST:PORT, got \"%s\"", c->listen);
        return BB_EINVAL;
    }
    if (!c->data_dir[0]) {
        snprintf(err, errcap, "--data: must not be empty");
        return BB_EINVAL;
    }
    return 0;
}

struct json_t *bb_config_to_json(const struct bb_config *c)
{
    json_t *o = json_object();
    if (o && bb_knobs_to_json(knobs, sizeof knobs / sizeof knobs[0], c, o) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

const char *bb_config_service_addr_knob(const char *service, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "BUNBASE_");
    for (const char *s = service; *s && o + 6 < cap; s++)
        buf[o++] = *s == '-' ? '_' : (char)toupper((unsigned char)*s);
    snprintf(buf + o, cap - o, "_ADDR");
    return buf;
}

const char *bb_config_service_addr(const char *service, char *buf, size_t cap)
{
    char env[128];
    const char *v = getenv(bb_config_service_addr_knob(service, env, sizeof env));
    if (!v || !v[0] || strlen(v) >= cap) return NULL;
    memcpy(buf, v, strlen(v) + 1);
    return buf;
}

int bb_config_split_addr(const char *addr, char *host, size_t hostcap, int *port)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':') return BB_EINVAL;
        h = addr + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return BB_EINVAL;
        hlen = (size_t)(colon - addr);
    }
    if (hlen == 0 || hlen >= hostcap) return BB_EINVAL;
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)colon[1])) return BB_EINVAL;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535) return BB_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

void bb_config_http_limits(const struct bb_config *c, struct bb_http_limits *out)
{
    bb_http_limits_default(out);
    out->max_header_bytes = c->http_max_header_bytes;
    out->max_body_bytes = c->http_max_body_bytes;
    out->idle_timeout_ms = c->http_idle_timeout_ms;
    out->request_timeout_ms = c->http_request_timeout_ms;
    out->drain_timeout_ms = c->http_drain_timeout_ms;
    out->max_connections = c->http_max_connections;
    out->max_inflight_body_bytes = c->http_max_inflight_body_bytes;
    out->max_connections_per_ip = 0; /* public listeners set it: bb_config_http_public_limits */
    out->sse_heartbeat_ms = c->sse_heartbeat_ms;
    out->sse_max_queue_bytes = c->sse_max_queue_bytes;
}

void bb_config_http_public_limits(const struct bb_config *c, struct bb_http_limits *out)
{
    bb_config_http_limits(c, out);
    out->max_connections_per_ip = c->http_max_connections_per_ip;
}
