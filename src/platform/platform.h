/* platform.h — the control-plane service: the public gateway's own routes.
 *
 * For now: GET /health (PostgreSQL check + every running service's health), GET /metrics
 * (Prometheus text), GET /v1/instance/status, and — only with BUNBASE_DEBUG_ROUTES=1 — test routes
 * /v1/debug/sleep, /v1/debug/echo and /v1/debug/sse used by the integration tests.
 */
#ifndef BB_PLATFORM_H
#define BB_PLATFORM_H

#include "bb_service.h"

extern const struct bb_service_def bb_platform_service;

#endif
