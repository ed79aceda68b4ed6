/* bcast_broker.h — the broker core: topics, subscriptions, wildcard matching, per-topic ring
 * buffers with resume, durable topics. Private to buncast.
 *
 * THREADING: a broker lives on one thread (the service's loop thread). Every function below must
 * be called there; nothing here takes a lock. Ordering follows: a publish is fanned out to every
 * matching subscription before the next publish is looked at, and each sink keeps frames in FIFO
 * order, so every subscriber sees the events of a topic in publish order.
 *
 * SINKS: a subscription delivers into a sink (an IPC connection or an SSE stream) through struct
 * bcast_sink_ops. deliver() must never block: it queues the frame (bounded) and returns 0, or
 * BB_EBUSY when the sink's queue is over its bound — the broker then marks every subscription of
 * that sink dead, counts the sink as disconnected-slow and the event as dropped, and the sink
 * closes itself (asynchronously) and calls bcast_broker_unsubscribe for each of its subscriptions.
 * BB_ECLOSED means the sink is already going away (nothing is counted).
 */
#ifndef BCAST_BROKER_H
#define BCAST_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "bcast_proto.h"

struct json_t;
struct bb_metrics;

/* One published event. Immutable after publish; reference counted (rings and in-flight replays
 * hold references). One allocation holds the struct and, preformatted once, the IPC MESSAGE
 * payload of the event (bcast_proto.c): msg[0 .. msg_head) = u16 tlen | topic | u32 elen |
 * envelope, then a NUL (so json is NUL-terminated), then msg_tail[0 .. tail_len) = u8 idlen | id.
 * A sink writes head + tail (two copies) instead of re-encoding per subscriber. json is the
 * CloudEvents 1.0 envelope inside it; type is NUL-terminated, inside it too. */
struct bcast_event {
    unsigned refs;
    uint64_t seq;  /* per topic, from 1 */
    uint64_t time_ms;
    char id[BCAST_ID_LEN + 1];
    const char *type; /* the CloudEvents type (SSE event name) */
    char *json;
    size_t len;
    const uint8_t *msg; /* payload head (see above), msg_head bytes */
    size_t msg_head;
    const uint8_t *msg_tail;
    size_t tail_len;
    size_t fanout; /* subscriptions it is being delivered to now (a sink may copy when few) */
};
void bcast_event_unref(struct bcast_event *ev);
/* Takes a reference (a sink that keeps the event past deliver(), e.g. until it is written).
 * Broker thread only, like every reference count here. */
static inline struct bcast_event *bcast_event_ref(const struct bcast_event *ev)
{
    struct bcast_event *e = (struct bcast_event *)ev;
    e->refs++;
    return e;
}

struct bcast_sub;

struct bcast_sink_ops {
    int (*deliver)(void *sink, struct bcast_sub *sub, const char *topic, size_t tn,
                   const struct bcast_event *ev);
    /* json: {"topic","reason","last_event_id"} */
    int (*reset)(void *sink, struct bcast_sub *sub, const char *topic, size_t tn, const char *json,
                 size_t len);
};

struct bcast_broker_opts {
    size_t ring_size;          /* events kept per topic for resume */
    size_t max_topics;         /* beyond it, new topics are refused (BB_ELIMIT) */
    size_t max_event_bytes;    /* data bytes per event (BB_ETOOBIG) */
    uint64_t topic_idle_ms;    /* topics with no subscribers and no publish for this long go away */
    uint64_t created_idle_ms;  /* same for topics made by create_topic; 0 = topic_idle_ms */
    const char *durable_prefixes; /* comma-separated topic prefixes; borrowed */
    const char *log_dir;       /* where durable topics live (created); borrowed */
    uint64_t segment_bytes;    /* durable: roll to a new segment beyond this */
    uint64_t retention_bytes;  /* durable: per topic, oldest segments deleted beyond this */
    uint64_t retention_ms;     /* durable: segments whose newest event is older are deleted */
    struct bb_metrics *metrics; /* borrowed, may be NULL */
};

struct bcast_broker;

/* Creates a broker and loads every durable topic found under log_dir (a torn tail is truncated).
 * On failure writes a reason into err. Caller frees with bcast_broker_free. */
int bcast_broker_new(struct bcast_broker **out, const struct bcast_broker_opts *o, char *err,
                     size_t errcap);
/* Frees everything; every subscription must already be unsubscribed. Durable logs are synced. */
void bcast_broker_free(struct bcast_broker *b);

/* Publishes data (borrowed) to topic. type/source may be NULL (defaults). On success writes the
 * event id into id_out (may be NULL). Errors: BB_EINVAL (bad topic/type/source), BB_ETOOBIG,
 * BB_ELIMIT (too many topics), BB_EIO (durable append failed; the event is not published),
 * BB_ENOMEM. A failed publish is counted as dropped (stats, bunbase_buncast_dropped_total and
 * bunbase_buncast_publish_failed_total), never as published. */
int bcast_broker_publish(struct bcast_broker *b, const char *topic, size_t tn, const char *type,
                         size_t yn, const char *source, size_t sn, const char *data, size_t dn,
                         char id_out[BCAST_ID_LEN + 1]);

/* Subscribes sink to pattern (exact topic or wildcard). resume (may be NULL) is the id of the last
 * event the subscriber saw: events after it that are still retained are delivered first, in
 * order; if some may be gone, a reset is delivered instead. The caller must have queued whatever
 * must precede the first message (the OK reply) before calling. id is the caller's id for the
 * subscription (echoed in frames). On success *out is the subscription, owned by the broker until
 * bcast_broker_unsubscribe. Errors: BB_EINVAL (bad pattern or resume id), BB_ELIMIT, BB_ENOMEM. */
int bcast_broker_subscribe(struct bcast_broker *b, const char *pattern, size_t pn,
                           const char *resume, const struct bcast_sink_ops *ops, void *sink,
                           uint64_t id, struct bcast_sub **out);
/* Validates what bcast_broker_subscribe would refuse, without subscribing (so a caller can answer
 * the error before queuing an OK). */
int bcast_broker_check_subscribe(struct bcast_broker *b, const char *pattern, size_t pn,
                                 const char *resume);
void bcast_broker_unsubscribe(struct bcast_broker *b, struct bcast_sub *sub);
uint64_t bcast_sub_id(const struct bcast_sub *sub);
int bcast_sub_dead(const struct bcast_sub *sub);

/* Explicit topics: created (or found) and marked explicit; *created (may be NULL) is 1 when the
 * topic is new. They are removed after created_idle_ms with no exact subscriber and no publish.
 * touch_topic marks an existing topic explicit and active (BB_ENOTFOUND when it does not exist).
 * Delete drops the ring (and durable log); live subscribers get a reset (reason "deleted") and stay
 * subscribed. */
int bcast_broker_create_topic(struct bcast_broker *b, const char *topic, size_t tn, int *created);
int bcast_broker_touch_topic(struct bcast_broker *b, const char *topic, size_t tn);
int bcast_broker_delete_topic(struct bcast_broker *b, const char *topic, size_t tn);
/* New JSON array of topic names, sorted. */
struct json_t *bcast_broker_list_topics(struct bcast_broker *b);
/* New JSON array of {name, subscribers, published, retained, durable}. */
struct json_t *bcast_broker_topics_detail(struct bcast_broker *b);

/* Periodic work (call about once a second): idle topic removal, durable fsync and retention. */
void bcast_broker_tick(struct bcast_broker *b, uint64_t now_ms);

struct bcast_stats {
    uint64_t topics, subscribers, published, delivered, dropped, slow_disconnects, ring_evictions,
        resets, publish_failed;
};
void bcast_broker_stats(const struct bcast_broker *b, struct bcast_stats *st);

#endif
