/* bb_http_internal.h — private contract between bb_http.c (connections) and bb_sse.c (streams).
 * Not part of any public API. */
#ifndef BB_HTTP_INTERNAL_H
#define BB_HTTP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "bb_sse.h"

struct bb_http_conn;

struct bb_sse {
    pthread_mutex_t mu;
    int refs;          /* guarded by mu */
    int closed;        /* no more pushes accepted; guarded by mu */
    int close_pending; /* close after the queue is flushed; guarded by mu */
    char *buf;         /* unsent bytes; guarded by mu */
    size_t len, cap, max;
    struct bb_http_conn *conn; /* NULL until attached / after detach; guarded by mu */
    bb_sse_close_fn on_close;
    void *arg;
};

/* bb_http.c → bb_sse.c, loop thread only. */
void bb_sse_attach_(struct bb_sse *s, struct bb_http_conn *c);
void bb_sse_set_max_(struct bb_sse *s, size_t max_queue_bytes);
/* Swaps out the queued bytes (caller frees *buf). Returns 1 when the stream should be closed once
 * they are written. */
int bb_sse_take_(struct bb_sse *s, char **buf, size_t *len);
/* Connection going away: marks closed, runs on_close, drops the connection's reference. */
void bb_sse_detach_(struct bb_sse *s);

/* bb_sse.c → bb_http.c: wake the loop to flush (any thread, called with s->mu held). */
void bb_http_conn_wake_(struct bb_http_conn *c);

/* bb_identity.c → bb_http.c: the built-in internal resolver (contract of bb_identity_resolve_fn). */
struct bb_http_request;
struct bb_identity;
int bb_identity_resolve_internal_(const char *token, const struct bb_http_request *req,
                                  struct bb_identity *out, struct bb_identity_reject *why);

#endif
