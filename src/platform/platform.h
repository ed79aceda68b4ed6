/* platform.h — the control-plane service: the public gateway's own routes.
 *
 * For now: GET /v1/instance/status, and — only with BUNBASE_DEBUG_ROUTES=1 — test routes
 * /v1/debug/sleep, /v1/debug/echo and /v1/debug/sse used by the integration tests. (/health and
 * /metrics are the host's, on every listener: bb_host.h.)
 */
#ifndef BB_PLATFORM_H
#define BB_PLATFORM_H

#include "bb_service.h"

extern const struct bb_service_def bb_platform_service;

#endif
