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
    {"BUNBASE_BUNCAST_SOCKET", NULL, STR(buncast_socket), "", 0, 0,
     "buncast IPC unix socket; empty: <data>/buncast.sock", NULL},
    {"BUNBASE_BUNCAST_IPC_ADDR", NULL, STR(buncast_ipc_addr), "", 0, 0,
     "buncast IPC over TCP (IP:PORT, port 0 = a free one); empty (default): off", NULL},
    {"BUNBASE_BUNCAST_AUTH_TIMEOUT_MS", NULL, U64(buncast_auth_timeout_ms), "5000", 10, 600000,
     "an IPC connection that has not authenticated (internal token) within this is closed", NULL},
    {"BUNBASE_BUNCAST_MAX_CREATED_TOPICS", NULL, U64(buncast_max_created_topics), "1000", 0,
     100000000, "new topics one IPC connection may make with CreateTopic; beyond: error reply", NULL},
    {"BUNBASE_BUNCAST_CREATED_TOPIC_IDLE_MS", NULL, U64(buncast_created_topic_idle_ms), "3600000",
     1, 86400000ull * 365, "a CreateTopic topic with no subscriber and no publish this long is removed", NULL},
    {"BUNBASE_BUNCAST_DURABLE_PREFIXES", NULL, STR(buncast_durable_prefixes), "", 0, 0,
     "comma-separated topic prefixes whose events are kept in an on-disk log", NULL},
    {"BUNBASE_BUNCAST_RING_SIZE", NULL, U64(buncast_ring_size), "1024", 0, 1000000,
     "events kept in memory per topic for resume (Last-Event-ID)", NULL},
    {"BUNBASE_BUNCAST_QUEUE_BYTES", NULL, U64(buncast_queue_bytes), "4194304", 4096, 1ull << 32,
     "unsent bytes per buncast subscriber before it is disconnected as too slow", NULL},
    {"BUNBASE_BUNCAST_MAX_FRAME_BYTES", NULL, U64(buncast_max_frame_bytes), "16777216", 64,
     1ull << 31, "largest IPC frame accepted; bigger: error frame and close", NULL},
    {"BUNBASE_BUNCAST_MAX_EVENT_BYTES", NULL, U64(buncast_max_event_bytes), "1048576", 0,
     1ull << 30, "largest event data (IPC and HTTP)", NULL},
    {"BUNBASE_BUNCAST_MAX_TOPICS", NULL, U64(buncast_max_topics), "100000", 1, 100000000,
     "topics in memory; creating more is refused", NULL},
    {"BUNBASE_BUNCAST_MAX_CONNECTIONS", NULL, U64(buncast_max_connections), "10000", 1, 1000000,
     "IPC connections; extra ones are closed on accept", NULL},
    {"BUNBASE_BUNCAST_MAX_SUBSCRIPTIONS", NULL, U64(buncast_max_subscriptions), "1024", 1, 1000000,
     "subscriptions per IPC connection", NULL},
    {"BUNBASE_BUNCAST_TOPIC_IDLE_MS", NULL, U64(buncast_topic_idle_ms), "300000", 0, 86400000ull * 365,
     "a topic with no subscribers and no publish for this long is removed (with its ring)", NULL},
    {"BUNBASE_BUNCAST_SEGMENT_BYTES", NULL, U64(buncast_segment_bytes), "8388608", 4096, 1ull << 32,
     "durable topics: log segment size before rolling", NULL},
    {"BUNBASE_BUNCAST_RETENTION_BYTES", NULL, U64(buncast_retention_bytes), "268435456", 4096,
     1ull << 40, "durable topics: log bytes kept per topic (oldest segments deleted)", NULL},
    {"BUNBASE_BUNCAST_RETENTION_MS", NULL, U64(buncast_retention_ms), "604800000", 0,
     86400000ull * 3650, "durable topics: segments older than this are deleted; 0 = no age limit", NULL},
    {"BUNBASE_BUNCAST_SHUTDOWN_MS", NULL, U64(buncast_shutdown_ms), "2000", 0, 600000,
     "buncast stop: SSE streams get this long to flush before they are closed", NULL},
    {"BUNBASE_BUNDER_BIN", NULL, STR(bunder_bin), "", 0, 0,
     "bunder executable spawned per project; empty: `bunder` next to the bunbased executable", NULL},
    {"BUNBASE_BUNDER_MANAGER_RESP_ADDR", NULL, STR(bunder_manager_resp_addr), "0.0.0.0:6379", 0, 0,
     "public Redis (RESP) endpoint of bunder-manager; empty disables it; port 0 picks a free port", NULL},
    {"BUNBASE_BUNDER_MANAGER_RPC_ADDR", NULL, STR(bunder_manager_rpc_addr), "", 0, 0,
     "internal RPC (ProxyKV) address of bunder-manager, e.g. 127.0.0.1:9091; empty disables it", NULL},
    {"BUNBASE_BUNDER_MANAGER_KEYS_FILE", NULL, STR(bunder_manager_keys_file), "", 0, 0,
     "file of \"<projectId> <key>\" lines accepted by RESP AUTH; empty: every AUTH is refused", NULL},
    {"BUNBASE_BUNDER_MANAGER_PORT_BASE", NULL, U64(bunder_manager_port_base), "16400", 1, 65535,
     "first loopback port of the children's port pool", NULL},
    {"BUNBASE_BUNDER_MANAGER_PORT_COUNT", NULL, U64(bunder_manager_port_count), "1000", 1, 65535,
     "size of the children's port pool", NULL},
    {"BUNBASE_BUNDER_MANAGER_MAX_CHILDREN", NULL, U64(bunder_manager_max_children), "100", 1, 10000,
     "bunder processes at most; beyond it the least recently used idle one is stopped, else 503", NULL},
    {"BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB", NULL, U64(bunder_manager_maxmemory_mb), "100", 1,
     1048576, "maxmemory of each project's bunder (MiB); writes beyond it fail (507 / -OOM)", NULL},
    {"BUNBASE_BUNDER_MANAGER_IDLE_MS", NULL, U64(bunder_manager_idle_ms), "600000", 100,
     86400000ull * 30, "a child with nothing in flight for this long is stopped (data stays on disk)", NULL},
    {"BUNBASE_BUNDER_MANAGER_START_TIMEOUT_MS", NULL, U64(bunder_manager_start_timeout_ms), "10000",
     100, 600000, "a child must answer AUTH + PING within this after spawn", NULL},
    {"BUNBASE_BUNDER_MANAGER_MAX_CONNECTIONS", NULL, U64(bunder_manager_max_connections), "10000",
     1, 1000000, "RESP client connections; extra ones are closed on accept", NULL},
    {"BUNBASE_BUNDER_MANAGER_MAX_VALUE_BYTES", NULL, U64(bunder_manager_max_value_bytes), "8388608",
     1, 512ull << 20, "largest value accepted by HTTP PUT / RPC; over it: 413", NULL},
    {"BUNBASE_BUNDER_MANAGER_HANDOFF", NULL, BOOL(bunder_manager_handoff), "1", 0, 1,
     "hand an authenticated RESP client's socket to its project's bunder (0: relay every client)", NULL},
    {"BUNBASE_BUNDOC_DURABILITY", NULL, STR(bundoc_durability), "full", 0, 0,
     "bundoc-server commit durability: full (fsync before the reply) | normal | off", NULL},
    {"BUNBASE_BUNDOC_IDLE_MS", NULL, U64(bundoc_idle_ms), "600000", 100, 86400000ull * 30,
     "a project database unused this long (and without subscribers) is closed", NULL},
    {"BUNBASE_BUNDOC_EVICT_INTERVAL_MS", NULL, U64(bundoc_evict_interval_ms), "60000", 50,
     3600000, "how often bundoc-server looks for idle project databases", NULL},
    {"BUNBASE_BUNDOC_LIMITS_MAX_INSTANCES", NULL, U64(bundoc_max_instances), "1000", 1, 1000000,
     "open project databases at most; beyond it the idlest unused one is closed, else 429", NULL},
    {"BUNBASE_BUNDOC_LIMITS_MAX_DATABASE_SIZE_BYTES", NULL, U64(bundoc_max_db_bytes), "0", 0,
     1ull << 50, "bytes on disk per project database before creates and updates get 507; 0: none", NULL},
    {"BUNBASE_BUNDOC_LIMITS_MAX_DOCUMENTS", NULL, U64(bundoc_max_documents), "0", 0, 1ull << 50,
     "documents per project (all collections) before creates get 507; 0: none", NULL},
    {"BUNBASE_BUNDOC_LIMITS_MAX_REQUEST_BYTES", NULL, U64(bundoc_max_request_bytes), "16777216",
     1024, 1ull << 30, "largest bundoc-server request body; over it: 413", NULL},
    {"BUNBASE_BUNDOC_LIMITS_MAX_SCAN_DOCS", NULL, U64(bundoc_max_scan), "10000", 1, 10000,
     "largest page (limit) of a document list or query", NULL},
    {"BUNBASE_BUNDOC_LIMITS_QUERY_MAX_DOCS_EXAMINED", NULL, U64(bundoc_query_max_docs), "100000", 0,
     1ull << 40, "documents one query may examine before it fails with 400 query_too_expensive; 0: none", NULL},
    {"BUNBASE_BUNDOC_LIMITS_QUERY_TIMEOUT_MS", NULL, U64(bundoc_query_timeout_ms), "5000", 0,
     3600000, "wall time one query may run before it fails with 400 query_too_expensive; 0: none", NULL},
    {"BUNBASE_BUNDOC_LIMITS_REGEX_MATCH_LIMIT", NULL, U64(bundoc_regex_match_limit), "100000", 1,
     100000000, "PCRE2 match limit of a query's $regex; over it the query fails with 400 query_too_expensive", NULL},
    {"BUNBASE_BUNDOC_LIMITS_REGEX_DEPTH_LIMIT", NULL, U64(bundoc_regex_depth_limit), "1000", 1,
     1000000, "PCRE2 depth limit of a query's $regex; over it the query fails with 400 query_too_expensive", NULL},
    {"BUNBASE_BUNDOC_SERVER_RPC_ADDR", NULL, STR(bundoc_rpc_addr), "", 0, 0,
     "bundoc-server internal RPC (ProxyDocument) listen address; empty: off; the bound address is written to <data>/bundoc-server.addr", NULL},
    {"BUNBASE_BUNDOC_RING_SIZE", NULL, U64(bundoc_ring_size), "1024", 0, 1000000,
     "change events kept per collection for SSE resume with Last-Event-ID", NULL},
    {"BUNBASE_BUN_AUTH_ARGON2_OPSLIMIT", NULL, U64(bun_auth_argon2_opslimit), "2", 1, 64,
     "bun-auth: Argon2id passes per password hash (libsodium opslimit)", NULL},
    {"BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB", NULL, U64(bun_auth_argon2_memlimit_kib), "65536", 8,
     4194304, "bun-auth: Argon2id memory per password hash, KiB", NULL},
    {"BUNBASE_BUN_AUTH_PASSWORD_MIN", NULL, U64(bun_auth_password_min), "8", 1, 1024,
     "bun-auth: shortest accepted password, bytes", NULL},
    {"BUNBASE_BUN_AUTH_PASSWORD_MAX", NULL, U64(bun_auth_password_max), "256", 8, 4096,
     "bun-auth: longest accepted password, bytes", NULL},
    {"BUNBASE_BUN_AUTH_ACCESS_TTL_S", NULL, U64(bun_auth_access_ttl_s), "900", 1, 86400,
     "bun-auth: lifetime of an access token (JWT), seconds", NULL},
    {"BUNBASE_BUN_AUTH_REFRESH_TTL_S", NULL, U64(bun_auth_refresh_ttl_s), "2592000", 1,
     31536000, "bun-auth: lifetime of a refresh token, seconds (never past its session)", NULL},
    {"BUNBASE_BUN_AUTH_SESSION_TTL_S", NULL, U64(bun_auth_session_ttl_s), "2592000", 1, 31536000,
     "bun-auth: lifetime of a session and its dashboard session token, seconds", NULL},
    {"BUNBASE_BUN_AUTH_LEEWAY_S", NULL, U64(bun_auth_leeway_s), "30", 0, 600,
     "bun-auth: clock skew tolerated on a token's exp/iat, seconds", NULL},
    {"BUNBASE_BUN_AUTH_KEY_GRACE_S", NULL, U64(bun_auth_key_grace_s), "3600", 0, 31536000,
     "bun-auth: how long a rotated-out signing key still verifies tokens, seconds", NULL},
    {"BUNBASE_BUN_AUTH_KEY_ROTATE_S", NULL, U64(bun_auth_key_rotate_s), "0", 0, 31536000,
     "bun-auth: rotate the signing key automatically at this age, seconds; 0: only on request", NULL},
    {"BUNBASE_BUN_AUTH_SYNC_MS", NULL, U64(bun_auth_sync_ms), "1000", 10, 3600000,
     "bun-auth: how often the in-memory session table is refreshed from PostgreSQL", NULL},
    {"BUNBASE_BUN_AUTH_MAX_SESSIONS", NULL, U64(bun_auth_max_sessions), "50", 1, 100000,
     "bun-auth: live sessions per developer; a login past it revokes the oldest", NULL},
    {"BUNBASE_BUN_AUTH_ISSUER", NULL, STR(bun_auth_issuer), "bunbase", 0, 0,
     "bun-auth: the iss claim of access tokens", NULL},
    {"BUNBASE_BUN_AUTH_AUDIENCE", NULL, STR(bun_auth_audience), "bunbase-api", 0, 0,
     "bun-auth: the aud claim of access tokens", NULL},
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
