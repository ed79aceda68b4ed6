/* registry.h — the services bunbased knows and which of them run; the host (bb_host.h) starts,
 * stops and watches them. */
#ifndef BB_REGISTRY_H
#define BB_REGISTRY_H

#include <stddef.h>

#include "bb_service.h"

struct bb_registry;

/* Comma-separated names, or "all". Unknown name or empty selection: BB_EINVAL with a one-line
 * message naming the known services. *out is caller-owned (bb_registry_free). */
int bb_registry_select(const char *list, struct bb_registry **out, char *err, size_t errcap);
/* Starts the selected services in table order through rt->host; on failure stops those already
 * started. */
int bb_registry_start(struct bb_registry *r, struct bb_runtime *rt, char *err, size_t errcap);
void bb_registry_free(struct bb_registry *r);
/* Number of selected services and the name of the i-th. */
size_t bb_registry_count(const struct bb_registry *r);
const char *bb_registry_name(const struct bb_registry *r, size_t i);
/* The definition of the i-th selected service (its knobs: bunbased validates and prints them). */
const struct bb_service_def *bb_registry_def(const struct bb_registry *r, size_t i);

#endif
