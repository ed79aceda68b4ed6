/* bcast_ipc.h — the IPC server of buncast: unix socket and TCP listeners speaking the frame format
 * of bcast_proto.h, on the broker's loop. Private to buncast. */
#ifndef BCAST_IPC_H
#define BCAST_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct bb_metrics;
struct bcast_broker;
struct bcast_ipc;

struct bcast_ipc_opts {
    size_t max_frame;        /* request frames beyond it: error frame + close */
    size_t queue_bytes;      /* unsent bytes per connection before a subscriber is cut off */
    size_t max_connections;  /* extra connections are closed on accept */
    size_t max_subs;         /* subscriptions per connection */
    uint64_t slow_close_ms;  /* a cut-off subscriber gets this long to read its error frame */
    const char *token;       /* the internal token every connection must send first (Auth);
                                borrowed for the server's lifetime; NULL/"": every Auth fails */
    uint64_t auth_timeout_ms; /* a connection not authenticated by then is closed; 0 = 5000 */
    size_t max_created;      /* new topics one connection may make with CreateTopic */
    struct bb_metrics *metrics; /* borrowed, may be NULL: bunbase_buncast_ipc_auth_refused_total */
};

/* Starts listening on unix_path (NULL/"" = none; a stale file is replaced; the socket is created
 * under umask 0177 and chmod'ed 0600, so only the owner can connect) and tcp_addr
 * ("host:port", NULL/"" = none). loop and broker are borrowed for the server's lifetime. On
 * failure writes a reason into err and returns BB_EBUSY (address in use), BB_EINVAL or BB_EIO. */
int bcast_ipc_start(struct bcast_ipc **out, uv_loop_t *loop, struct bcast_broker *b,
                    const struct bcast_ipc_opts *o, const char *unix_path, const char *tcp_addr,
                    char *err, size_t errcap);
int bcast_ipc_tcp_port(const struct bcast_ipc *s);
size_t bcast_ipc_connections(const struct bcast_ipc *s);
/* Closes the listeners and every connection at once (their subscriptions are removed from the
 * broker before this returns; queued frames are dropped, so a stuck peer cannot delay shutdown).
 * done(arg) runs on the loop once every handle is closed; the server is then freed. */
void bcast_ipc_stop(struct bcast_ipc *s, void (*done)(void *arg), void *arg);

#endif
