/* bb_config.h — the process's own configuration (data directory, gateway address, HTTP limits,
 * workers, PostgreSQL, health and metrics) from embedded defaults, environment and flags.
 *
 * Every knob is one row of a table (bb_config_knobs, rows of bb_knobs.h): its environment
 * variable, optional flag, type, default and help text. Precedence: default < environment < flag.
 * Services' knobs are not here: each service owns its table (struct bb_service_def.knobs).
 * docs/configuration.md lists every table (tests check that every knob is documented there).
 * `bunbased serve --print-config` prints bb_config_to_json plus the selected services' tables
 * (secrets redacted).
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
    /* each service's own knobs are in its own table (bb_service_def.knobs, bb_knobs.h) */
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
