/* platform.h — the control-plane service: developer accounts over HTTP, self-hosted setup,
 * personal access tokens, projects, members, project keys and the one authorization matrix.
 *
 * Routes (all under /v1, /api is the router's alias), each with its matrix row, are in
 * platform.c (plat_routes); docs/platform.md describes them. With BUNBASE_DEBUG_ROUTES=1 there are
 * also the test routes /v1/debug/sleep, /v1/debug/echo, /v1/debug/sse, /v1/debug/internal and
 * /v1/debug/platform/routes. (/health and /metrics are the host's, on every listener: bb_host.h.)
 *
 * In-process clients get the running platform with bb_host_service_state(host, "platform").
 */
#ifndef BB_PLATFORM_H
#define BB_PLATFORM_H

#include "bb_id.h"
#include "bb_service.h"

extern const struct bb_service_def bb_platform_service;

struct platform;

/* Looks up a project key (pk_… or sk_…) in the platform's in-memory key table: never blocks, safe
 * from any thread (e.g. the gateway or a Redis AUTH). 0 with the key's project id and kind
 * (BB_IDENTITY_PROJECT_KEY_PUBLIC or BB_IDENTITY_PROJECT_KEY_SECRET); BB_ENOTFOUND for an unknown
 * key, BB_EAUTH for a revoked one. A revoke or regenerate is seen at once in the process that made
 * it and within BUNBASE_PLATFORM_SYNC_MS (+ one reload) in the others. */
int platform_key_lookup(struct platform *p, const char *raw_key, char project_id[BB_ID_LEN + 1],
                        int *kind);

#endif
