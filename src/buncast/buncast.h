/* buncast.h — the buncast service of bunbased: the pub/sub broker.
 *
 * Started by bunbased (`--services=buncast`). It listens on:
 *   - an IPC unix socket, BUNBASE_BUNCAST_SOCKET (default <data>/buncast.sock), mode 0600;
 *   - IPC over TCP, BUNBASE_BUNCAST_IPC_ADDR (default "": off; IP:PORT, port 0 = a free one);
 *   every IPC connection must first authenticate with the internal token (bcast_proto.c);
 *   - HTTP, BUNBASE_BUNCAST_ADDR (default 127.0.0.1:0): /health (public), /metrics, GET /topics,
 *     POST /publish, GET /subscribe?topic= (SSE) — all but /health need
 *     Authorization: Bearer $BUNBASE_INTERNAL_TOKEN.
 * The addresses actually bound are logged and written to <data>/buncast.addr (mode 0600, JSON
 * {"http","ipc_tcp","ipc_unix"}), rewritten at every start; the public /health shows none of them.
 *
 * Services talk to it with the C client in buncast_client.h. Design: docs/internals/buncast.md;
 * user guide: docs/buncast.md.
 */
#ifndef BUNCAST_H
#define BUNCAST_H

#include "bb_service.h"

extern const struct bb_service_def bb_buncast_service;

#endif
