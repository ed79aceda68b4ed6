/* bb_config.h — effective configuration from embedded defaults, environment and flags.
 *
 * Every knob is one row of a table (bb_config_knobs): its environment variable, optional flag,
 * type, default and help text. Precedence: default < environment < flag. docs/configuration.md
 * lists the same table (a unit test checks that every knob is documented there).
 * `bunbased serve --print-config` prints bb_config_to_json (secrets redacted).
 *
 * Service addresses: every service NAME may be given an address with BUNBASE_<NAME>_ADDR (NAME
 * upper-cased, '-' as '_'), e.g. BUNBASE_BUNCAST_ADDR=127.0.0.1:3106; bb_config_service_addr looks
 * it up. The platform's address is the --listen address.
 */
#ifndef BB_CONFIG_H
#define BB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "bb_knobs.h"

struct json_t;
struct bb_http_limits;

struct bb_config {
    char data_dir[1024];
    char listen[256];
    char services[512];
    char database_url[1024];
    char internal_token[256];
    char log_level[16];
    uint64_t http_max_header_bytes;
    uint64_t http_max_body_bytes;
    uint64_t http_idle_timeout_ms;
    uint64_t http_request_timeout_ms;
    uint64_t http_drain_timeout_ms;
    uint64_t http_max_connections;
    uint64_t http_max_connections_per_ip;
    uint64_t http_max_inflight_body_bytes;
    uint64_t json_max_values;
    uint64_t workers;
    uint64_t worker_queue;
    uint64_t worker_queue_per_project;
    uint64_t sse_heartbeat_ms;
    uint64_t sse_max_queue_bytes;
    uint64_t pg_pool_size;
    char pg_fallback_dir[512];
    char metrics_access[16];
    uint64_t debug_routes;
    uint64_t health_interval_ms;
    /* buncast */
    char buncast_socket[1024];
    char buncast_ipc_addr[256];
    char buncast_durable_prefixes[1024];
    uint64_t buncast_ring_size;
    uint64_t buncast_queue_bytes;
    uint64_t buncast_max_frame_bytes;
    uint64_t buncast_max_event_bytes;
    uint64_t buncast_max_topics;
    uint64_t buncast_max_connections;
    uint64_t buncast_max_subscriptions;
    uint64_t buncast_topic_idle_ms;
    uint64_t buncast_segment_bytes;
    uint64_t buncast_retention_bytes;
    uint64_t buncast_retention_ms;
    uint64_t buncast_shutdown_ms;
    uint64_t buncast_auth_timeout_ms;
    uint64_t buncast_max_created_topics;
    uint64_t buncast_created_topic_idle_ms;
    /* bunder-manager */
    char bunder_bin[1024];
    char bunder_manager_resp_addr[256];
    char bunder_manager_rpc_addr[256];
    char bunder_manager_keys_file[1024];
    uint64_t bunder_manager_port_base;
    uint64_t bunder_manager_port_count;
    uint64_t bunder_manager_max_children;
    uint64_t bunder_manager_maxmemory_mb;
    uint64_t bunder_manager_idle_ms;
    uint64_t bunder_manager_start_timeout_ms;
    uint64_t bunder_manager_max_connections;
    uint64_t bunder_manager_max_value_bytes;
    uint64_t bunder_manager_handoff;
    /* bundoc-server */
    char bundoc_durability[16];
    uint64_t bundoc_idle_ms;
    uint64_t bundoc_evict_interval_ms;
    uint64_t bundoc_max_instances;
    uint64_t bundoc_max_db_bytes;
    uint64_t bundoc_max_documents;
    uint64_t bundoc_max_request_bytes;
    char bundoc_rpc_addr[256];
    uint64_t bundoc_max_scan;
    uint64_t bundoc_ring_size;
    uint64_t bundoc_query_max_docs, bundoc_query_timeout_ms; /* per-query work budget */
    uint64_t bundoc_regex_match_limit, bundoc_regex_depth_limit;
    /* bun-auth */
    uint64_t bun_auth_argon2_opslimit, bun_auth_argon2_memlimit_kib;
    uint64_t bun_auth_password_min, bun_auth_password_max;
    uint64_t bun_auth_access_ttl_s, bun_auth_refresh_ttl_s, bun_auth_session_ttl_s;
    uint64_t bun_auth_leeway_s, bun_auth_key_grace_s, bun_auth_key_rotate_s, bun_auth_sync_ms;
    uint64_t bun_auth_max_sessions;
    char bun_auth_issuer[128];
    char bun_auth_audience[128];
    int print_config; /* --print-config given */
};

/* The table of core's own knobs (struct bb_knob: bb_knobs.h). */
const struct bb_knob *bb_config_knobs(size_t *n);

/* Fills c from defaults, then getenv, then argv (argv[0] is not skipped: pass argc/argv after the
 * subcommand). Unknown flags, values out of range or too long give BB_EINVAL with a one-line
 * message in err. */
int bb_config_load(struct bb_config *c, int argc, char **argv, char *err, size_t errcap);

/* New JSON object with every knob by env name (secrets as "<set>" or ""). Caller owns it. */
struct json_t *bb_config_to_json(const struct bb_config *c);

/* Address of a service from BUNBASE_<NAME>_ADDR into buf; returns buf, or NULL when unset. */
const char *bb_config_service_addr(const char *service, char *buf, size_t cap);
/* The name of that variable ("BUNBASE_BUNDOC_SERVER_ADDR" for "bundoc-server") into buf; returns
 * buf. */
const char *bb_config_service_addr_knob(const char *service, char *buf, size_t cap);

/* The HTTP server limits every listener starts from: bb_http_limits_default overridden by the
 * BUNBASE_HTTP_* and BUNBASE_SSE_* knobs. A service may then adjust its own fields. */
void bb_config_http_limits(const struct bb_config *c, struct bb_http_limits *out);
/* The same for a public listener (the gateway): adds the per-IP connection cap. */
void bb_config_http_public_limits(const struct bb_config *c, struct bb_http_limits *out);

/* Splits "host:port" ("[::1]:80" too); port 0 allowed. Returns 0 or BB_EINVAL. */
int bb_config_split_addr(const char *addr, char *host, size_t hostcap, int *port);

#endif
