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

/* buncast's knobs (BUNBASE_BUNCAST_*: bb_buncast_service.knobs, docs/configuration.md). Other
 * services read them too: where the IPC socket is, how large an event may be. */
struct buncast_config {
    char socket[1024];
    char ipc_addr[256];
    uint64_t auth_timeout_ms;
    uint64_t max_created_topics;
    uint64_t created_topic_idle_ms;
    char durable_prefixes[1024];
    uint64_t ring_size;
    uint64_t queue_bytes;
    uint64_t max_frame_bytes;
    uint64_t max_event_bytes;
    uint64_t max_topics;
    uint64_t max_connections;
    uint64_t max_subscriptions;
    uint64_t topic_idle_ms;
    uint64_t segment_bytes;
    uint64_t retention_bytes;
    uint64_t retention_ms;
    uint64_t shutdown_ms;
};
/* Defaults, then the environment; BB_EINVAL with a line naming the bad knob. */
int buncast_config_load(struct buncast_config *c, char *err, size_t errcap);

#endif
