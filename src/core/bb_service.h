/* bb_service.h — what a service of bunbased is, and the runtime it is started with.
 *
 * Each service (platform, buncast, bundoc-server, …) exports one `const struct bb_service_def`
 * from its public header. bunbased's registry (src/bunbased/registry.c) lists them; `serve
 * --services=a,b` selects some; the host (bb_host.h) applies each one's migrations, starts them in
 * table order and stops them in reverse.
 *
 * Threading: start/stop run on the main (loop) thread before/after the loop runs; health may run
 * on a worker thread and must not block for long.
 */
#ifndef BB_SERVICE_H
#define BB_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bb_knobs.h"

struct json_t;
struct bb_config;
struct bb_router;
struct bb_pool;
struct bb_metrics;
struct bb_pg_pool;
struct bb_host;
struct bb_migration;

struct bb_runtime {
    uv_loop_t *loop;
    const struct bb_config *cfg;
    struct bb_router *router;   /* routes of the public gateway listener */
    struct bb_pool *pool;       /* blocking work */
    struct bb_metrics *metrics; /* process-wide registry */
    struct bb_pg_pool *pg;      /* control-plane PostgreSQL */
    const char *pg_conninfo;
    int pg_embedded;                /* 1: our own cluster under <data>/postgres */
    const char *internal_token;     /* BUNBASE_INTERNAL_TOKEN */
    const char *public_url;         /* http://host:port of the gateway */
    uint64_t started_ms;            /* wall clock at start */
    struct bb_host *host;           /* listeners, /health, /metrics, address files (bb_host.h) */
};

struct bb_service_def {
    const char *name;
    /* Starts the service; *state is handed back to stop/health. On failure writes a one-line
     * reason into err and returns a negative BB_E* code (start-up then fails with exit code 2
     * for configuration errors, 1 otherwise). */
    int (*start)(struct bb_runtime *rt, void **state, char *err, size_t errcap);
    void (*stop)(void *state);
    /* Sets *detail to a new JSON object ({"status":"ok"|"degraded"|"down", …}); returns 0 when
     * healthy. */
    int (*health)(void *state, struct json_t **detail);
    /* The service's own PostgreSQL migrations (src/<service>/migrations, generated into
     * bb_migrations.h), applied by the host under the advisory lock before start(); NULL: none.
     * Table names are the service's own: no two services share a table. */
    const struct bb_migration *migrations;
    const int *nmigrations;
    /* The service's knobs (bb_knobs.h): rows filling the service's own config struct of
     * config_size bytes, the table ended by BB_KNOBS_END (so it may live in another file of the
     * service). start() reads them with bb_knobs_load; bunbased validates the selected services'
     * tables before anything starts (a bad value: exit 2 with a line naming the knob) and prints
     * them with --print-config. NULL: none. */
    const struct bb_knob *knobs;
    size_t config_size;
};

#endif
