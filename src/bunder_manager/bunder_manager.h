/* bunder_manager.h — the bunder-manager service: one isolated `bunder` process per project,
 * spawned on first use, behind one public Redis (RESP) endpoint, an HTTP API and the internal RPC.
 *
 * Started by bunbased's registry. Configuration knobs: BUNBASE_BUNDER_BIN and
 * BUNBASE_BUNDER_MANAGER_* (docs/configuration.md); the user guide is docs/bunder-manager.md and
 * the design docs/internals/bunder-manager.md.
 */
#ifndef BB_BUNDER_MANAGER_H
#define BB_BUNDER_MANAGER_H

#include "bb_service.h"

extern const struct bb_service_def bb_bunder_manager_service;

#endif
