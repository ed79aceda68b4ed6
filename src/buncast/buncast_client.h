/* buncast_client.h — the C client of buncast, used by every service that publishes or subscribes.
 *
 *   struct bcast_client *c;
 *   bcast_client_new(&c, "unix:/var/lib/bunbase/buncast.sock", NULL);
 *   bcast_client_publish(c, "db.p1.collection.todos", "db.change", json, len, NULL, 2000);
 *   bcast_client_subscribe(c, "db.p1.>", NULL, on_event, ctx, &sub, 2000);
 *
 * Addresses: "unix:/path" (also "unix:///path" or a bare absolute "/path"), "host:port",
 * "[::1]:port" or "tcp://host:port".
 *
 * One client = one connection, owned by a background I/O thread that connects, reads every frame,
 * and — when the connection drops (broker restart, network) — reconnects with exponential backoff
 * and re-sends every subscription with the id of the last event it delivered, so the broker replays
 * what was missed (or sends a reset if that is gone). Calls may be made from any thread; they are
 * serialised on the connection and each waits for its own reply (matched by request id). A call
 * made while disconnected waits for the reconnect up to its timeout.
 *
 * Callbacks run on the I/O thread, one at a time, in frame order (so in publish order per topic).
 * They may call bcast_client_publish / _publish_async / _unsubscribe on the same client: from the
 * I/O thread those do not wait for the reply (they return once the request is written), so nothing
 * deadlocks. They should return quickly: while a callback runs, nothing is read, and a subscriber
 * that falls too far behind is disconnected by the broker (it then reconnects and resumes).
 *
 * Authentication: every connection starts with an Auth frame carrying the internal token
 * (opts.token, or the contents of opts.token_file); the client counts as connected only once the
 * broker accepted it. A refused token is logged (auth_refused) and retried with the maximum backoff,
 * so calls meanwhile fail with BB_EUNAVAIL.
 *
 * Errors (negative BB_E*): BB_EINVAL (bad argument/topic), BB_EUNAVAIL (not connected within the
 * timeout), BB_ETIMEDOUT (no reply in time; the request may have been applied), BB_ECLOSED (the
 * connection dropped after the request was sent; it may have been applied), BB_EPROTO (the broker
 * answered with an error: the message is logged and, for list/topic calls, returned), BB_ENOMEM.
 */
#ifndef BUNCAST_CLIENT_H
#define BUNCAST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define BCAST_CLIENT_ID_LEN 26

struct bcast_client;
struct bb_counter;

struct bcast_client_opts {
    int connect_timeout_ms;  /* per attempt; 0 = 2000 */
    int reconnect_min_ms;    /* first backoff; 0 = 20 */
    int reconnect_max_ms;    /* backoff cap; 0 = 1000 */
    size_t max_frame;        /* largest frame accepted from the broker; 0 = 16 MiB */
    const char *source;      /* CloudEvents "source" of published events (copied); NULL = broker's */
    const char *token;       /* the internal token sent in the Auth frame (copied) */
    const char *token_file;  /* when token is NULL: a file holding it (read once by _new; one line,
                                trailing whitespace ignored; unreadable or empty: BB_EINVAL) */
    struct bb_counter *dropped; /* borrowed, may be NULL: incremented for every async publish the
                                   broker refused or that was never written (see _dropped) */
};

/* One delivered frame. Everything is borrowed for the duration of the callback. */
struct bcast_message {
    uint64_t sub;            /* subscription id */
    const char *topic;       /* NUL-terminated */
    size_t topic_len;
    const char *event;       /* CloudEvents 1.0 JSON, NUL-terminated; for a reset:
                                {"topic","reason","last_event_id"} */
    size_t event_len;
    const char *id;          /* event id, NUL-terminated ("" for a reset) */
    int reset;               /* 1: events after last_event_id were lost; resync from the source */
};

typedef void (*bcast_message_cb)(void *arg, const struct bcast_message *m);

/* Creates the client and starts its I/O thread (which connects in the background). addr and opts
 * are copied. Returns 0 (*out owned by the caller: bcast_client_free), BB_EINVAL, BB_ENOMEM. */
int bcast_client_new(struct bcast_client **out, const char *addr,
                     const struct bcast_client_opts *opts);
/* Writes what async publishes still have queued (at most 2 s), stops the I/O thread, closes the connection and frees the client. No call may be in progress in
 * another thread; must not be called from a callback. NULL is fine. */
void bcast_client_free(struct bcast_client *c);

/* Waits until connected (0) or timeout_ms (BB_EUNAVAIL). */
int bcast_client_wait_connected(struct bcast_client *c, int timeout_ms);
/* 1 when the connection is up right now. */
int bcast_client_connected(struct bcast_client *c);
/* Number of (re)connections made so far. */
uint64_t bcast_client_connects(struct bcast_client *c);
/* Async publishes lost so far: refused by the broker (its ERROR reply carries "command":"Publish")
 * or still queued when the connection failed. Synchronous calls report their own errors and are
 * not counted here. */
uint64_t bcast_client_dropped(struct bcast_client *c);

/* Publishes data (len bytes, borrowed; JSON becomes the event's "data", other bytes
 * "data_base64") with CloudEvents type (NULL = "buncast.message") and waits for the broker's OK;
 * the event id goes to id_out (may be NULL). timeout_ms <= 0 means 10 s. */
int bcast_client_publish(struct bcast_client *c, const char *topic, const char *type,
                         const void *data, size_t len, char id_out[BCAST_CLIENT_ID_LEN + 1],
                         int timeout_ms);
/* Same, but returns once the request is written (pipelined; errors are only logged). */
int bcast_client_publish_async(struct bcast_client *c, const char *topic, const char *type,
                               const void *data, size_t len, int timeout_ms);

/* Async publishes are acknowledged by the broker in batches (one ACK frame per batch it read,
 * not one reply each). bcast_client_flush writes what is queued and waits until every async
 * publish queued before the call is settled: acknowledged or refused (then counted in _dropped).
 * Returns 0; BB_ECLOSED when a connection died with some of them written but not acknowledged
 * (they may or may not have been applied); BB_ETIMEDOUT; BB_EINVAL from a callback (the I/O
 * thread reads the ACKs). _acked: async publishes acknowledged so far. */
int bcast_client_flush(struct bcast_client *c, int timeout_ms);
uint64_t bcast_client_acked(struct bcast_client *c);

/* Subscribes to an exact topic or a wildcard pattern ("a.*.c", "a.>"). resume_id (may be NULL):
 * the id of the last event already seen, to get what was missed. cb(arg, msg) runs on the I/O
 * thread for each event. On success *sub_out (may be NULL) identifies the subscription; it stays
 * active across reconnects until bcast_client_unsubscribe. */
int bcast_client_subscribe(struct bcast_client *c, const char *pattern, const char *resume_id,
                           bcast_message_cb cb, void *arg, uint64_t *sub_out, int timeout_ms);
/* Ends a subscription. After it returns (from another thread than the I/O thread) its callback is
 * not running and will not run again. */
int bcast_client_unsubscribe(struct bcast_client *c, uint64_t sub, int timeout_ms);

int bcast_client_create_topic(struct bcast_client *c, const char *topic, int timeout_ms);
int bcast_client_delete_topic(struct bcast_client *c, const char *topic, int timeout_ms);
/* *json_out: malloc'd JSON array of topic names (caller frees). */
int bcast_client_list_topics(struct bcast_client *c, char **json_out, int timeout_ms);

#endif
