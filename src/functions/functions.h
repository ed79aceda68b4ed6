/* functions.h — the functions service: deploy JavaScript functions per project and run them on
 * warm QuickJS worker processes (bunbase-qjs-worker). Routes, handler shape and limits:
 * docs/functions.md; the worker protocol: docs/internals/functions.md. */
#ifndef BB_FUNCTIONS_H
#define BB_FUNCTIONS_H

#include "bb_service.h"

extern const struct bb_service_def bb_functions_service;

#endif
