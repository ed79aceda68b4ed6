/* bb_host.h — the service host: the plumbing every service of bunbased stands on, written once.
 *
 * The host starts and stops services (struct bb_service_def, bb_service.h) and gives them:
 *   - listeners: bb_host_mount() puts a service's route table on the gateway, or — when
 *     BUNBASE_<SERVICE>_ADDR is set — on a listener of its own, with the same limits, pool,
 *     metrics and identity resolution;
 *   - GET /health on every listener (the gateway and each own listener, whatever --services
 *     says): one JSON shape {"status":"ok"|"degraded", "checks":{…}, "services":{name:{…}}}, 200
 *     when everything is ok and 503 otherwise. The gateway shows every service and the host's
 *     checks (e.g. the database); an own listener shows its service. Answers come from a snapshot
 *     refreshed every health_interval_ms on the worker pool, so a flood of /health costs no
 *     service anything; the first snapshot is taken before bb_host_health_start returns;
 *   - GET /metrics on every listener (Prometheus text, the process-wide registry): public on a
 *     listener bound to a loopback address, behind the internal token elsewhere, unless
 *     BUNBASE_METRICS_ACCESS says "public" or "internal" for all;
 *   - address files: <data>/<service>.addr, a JSON object of the service's bound addresses
 *     ("http" for its own listener, and whatever it publishes with bb_host_publish_addr),
 *     replaced atomically with fsync.
 *
 * Health never races with stop: a service's health() runs only while the host holds a reference
 * on the running service; bb_host_services_stop marks it stopping, waits for calls in flight,
 * then calls stop().
 *
 * Threads: everything here runs on the loop thread, except that services' health() and the
 * checks run on a pool worker (they must not block for long) and bb_host_publish_addr may be
 * called from any thread.
 */
#ifndef BB_HOST_H
#define BB_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bb_router.h"

struct json_t;
struct bb_config;
struct bb_pool;
struct bb_metrics;
struct bb_http_limits;
struct bb_runtime;
struct bb_service_def;
struct bb_host;
struct bb_http_server;

struct bb_host_opts {
    uv_loop_t *loop;
    const struct bb_config *cfg; /* borrowed; data_dir, health interval, http limits, metrics */
    struct bb_pool *pool;        /* borrowed */
    struct bb_metrics *metrics;  /* borrowed */
    const char *internal_token;  /* borrowed */
};

/* *out: caller frees with bb_host_free (after bb_host_services_stop and once the loop no longer
 * runs the host's listeners). */
int bb_host_new(const struct bb_host_opts *o, struct bb_host **out);
void bb_host_free(struct bb_host *h);

/* A check the host runs besides the services (shown under "checks"): 0 when healthy; *detail a
 * new JSON object ({"status": …, …}) or NULL. Runs on a pool worker. name and arg borrowed. */
typedef int (*bb_host_check_fn)(void *arg, struct json_t **detail);
int bb_host_add_check(struct bb_host *h, const char *name, bb_host_check_fn fn, void *arg);

/* The gateway: its router (borrowed) gets /health and /metrics; bind_host decides the /metrics
 * policy. Call once, before services start. */
int bb_host_set_gateway(struct bb_host *h, struct bb_router *router, const char *bind_host);
/* The gateway's router (the one services' routes go to when they have no listener of their own). */
struct bb_router *bb_host_gateway_router(const struct bb_host *h);

/* Applies def's migrations (when it has any: through rt->pg_conninfo, under the advisory lock),
 * then starts def (rt->host must be h): the service's start() may call bb_host_mount. On failure
 * the service is not registered and err says why. */
int bb_host_service_start(struct bb_host *h, const struct bb_service_def *def,
                          struct bb_runtime *rt, char *err, size_t errcap);
/* Stops every started service in reverse order (waiting for health calls in flight first) and
 * closes their own listeners. */
void bb_host_services_stop(struct bb_host *h);

/* From a service's start(): mounts n routes (table and ctx borrowed, must outlive the host) on
 * the service's own listener when BUNBASE_<SERVICE>_ADDR is set, else on the gateway. limits:
 * NULL for the configured HTTP limits. *port_out (may be NULL): the own listener's port, or 0 on
 * the gateway. A second call for the same service adds to the same router. BB_EINVAL (bad
 * address: err says which knob), BB_EBUSY (address in use), BB_ENOTFOUND (service not starting). */
int bb_host_mount(struct bb_host *h, const char *service, const struct bb_route *routes, size_t n,
                  void *ctx, const struct bb_http_limits *limits, int *port_out, char *err,
                  size_t errcap);

/* The state of a service running in this process (what its start() returned), or NULL when it
 * is not running here (e.g. another --services subset): then talk to it over its address. For
 * in-process clients: the pointer stays valid until bb_host_services_stop. */
void *bb_host_service_state(struct bb_host *h, const char *name);

/* A new JSON array of the names of the running services, in start order. */
struct json_t *bb_host_service_names(struct bb_host *h);

/* For a service that must own its listener (e.g. to drain it on its own schedule at stop): starts
 * a listener at BUNBASE_<SERVICE>_ADDR, or default_addr when that is unset (NULL: BB_EINVAL), with
 * routes (borrowed) plus the host's /health and /metrics for the service; publishes it as "http"
 * in the address file. *router_out and *http_out are the caller's: drain/free the server, then
 * free the router. Call from the service's start(). */
int bb_host_listen(struct bb_host *h, const char *service, const struct bb_route *routes, size_t n,
                   void *ctx, const struct bb_http_limits *limits, const char *default_addr,
                   struct bb_router **router_out, struct bb_http_server **http_out,
                   int *port_out, char *err, size_t errcap);

/* The router a service's bb_host_mount routes are on (its own listener's, else the gateway's):
 * for dispatching to them in-process (bb_http_dispatch_local). NULL for an unknown service. */
struct bb_router *bb_host_service_router(struct bb_host *h, const char *service);

/* Where a service runs, for a client of it: its router (bb_host_service_router) when it runs in
 * this process, else NULL with *remote its address (BUNBASE_<SERVICE>_ADDR, copied into addr) or
 * NULL when it has none. Any thread. */
struct bb_router *bb_host_locate(struct bb_host *h, const char *service, char *addr, size_t cap,
                                 const char **remote);

/* One request to a service wherever it runs (bb_host_locate): in-process through
 * bb_http_dispatch_local on its router, else over HTTP (bb_httpc) to its address; either way with
 * the internal token as `Authorization: Bearer` and, when identity is not NULL, `X-Bunbase-Identity:
 * <identity>` (NULL: the internal service itself, BB_IDENTITY_INTERNAL_SERVICE). url is the path
 * and query ("/v1/...?q"); body (may be NULL) is sent with Content-Type application/json.
 * request_id (may be NULL) goes as X-Request-Id. On 0, *status is the answer's HTTP status and
 * *reply (caller frees; NUL-terminated, never NULL) its body of *reply_len bytes. Errors:
 * BB_EUNAVAIL (the service is neither here nor at an address, or cannot be reached), BB_ETIMEDOUT,
 * BB_ETOOBIG (answer over max_reply bytes; 0: 64 MiB), BB_ENOMEM, BB_EINVAL. Blocks: a pool
 * worker, never the loop thread. */
struct bb_host_call {
    const char *method;
    const char *url;
    const char *identity;
    const void *body;
    size_t body_len;
    const char *request_id;
    size_t max_reply;
    long timeout_ms; /* remote only; 0: 30 s */
};
int bb_host_call(struct bb_host *h, const char *service, const struct bb_host_call *c,
                 int *status, char **reply, size_t *reply_len);

/* Records key=value (e.g. "rpc", "127.0.0.1:4100") in <data>/<service>.addr. Any thread. */
int bb_host_publish_addr(struct bb_host *h, const char *service, const char *key,
                         const char *value);

/* Takes the first health snapshot (synchronously) and starts refreshing it every
 * cfg->health_interval_ms. Call after the services have started. */
int bb_host_health_start(struct bb_host *h);

/* The one /health answer, for the host's listeners and for processes outside it (standalone
 * bunder): {"status":"ok"|"degraded"[,"checks":{…}],"services":{name:{"status":…,…}}} as JSON
 * text (caller frees; NULL on ENOMEM), *status 200 when ok, 503 when degraded. checks (may be
 * NULL) and services (NULL: {}) are borrowed. Any thread. */
char *bb_host_health_answer(int bad, struct json_t *checks, struct json_t *services, size_t *len,
                            int *status);
/* The one /metrics access policy (BUNBASE_METRICS_ACCESS): 1 if /metrics is public on a listener
 * bound to bind_host under policy "public" | "internal" | "auto" (public on a loopback address,
 * the internal credential elsewhere); 0 if it needs the internal credential. */
int bb_host_metrics_public(const char *policy, const char *bind_host);
/* The gateway's current health as JSON text (borrowed until the next refresh on the loop thread)
 * and its HTTP status; NULL before the first snapshot. Loop thread. */
const char *bb_host_health_body(const struct bb_host *h, size_t *len, int *status);

#endif
