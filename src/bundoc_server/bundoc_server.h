/* bundoc_server.h — the bundoc-server service of bunbased: the multi-tenant document API over
 * bundoc (one database directory per project under <data>/bundoc/projects/<projectId>/), with
 * realtime change events on buncast and SSE. Routes, identity, limits and realtime:
 * docs/bundoc-server.md; design: docs/internals/bundoc-server.md.
 */
#ifndef BUNDOC_SERVER_H
#define BUNDOC_SERVER_H

#include "bb_service.h"

extern const struct bb_service_def bb_bundoc_server_service;

#endif
