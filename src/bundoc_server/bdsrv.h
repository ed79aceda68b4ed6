/* bdsrv.h — private to bundoc-server (prefix bdsrv_): service state, project instances, change
 * feed. See docs/internals/bundoc-server.md.
 *
 * Locking order: (the instance registry's lock, never held across a call out) → inst stripe locks
 * (ascending index) → inst feed_mtx.
 * No lock is held across a call into another service except the buncast client's async publish
 * (which never waits for a reply) under feed_mtx, so the publish order is the feed order.
 */
#ifndef BDSRV_H
#define BDSRV_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bb_service.h"
#include "buncast.h"
#include "bundoc.h"
#include "query.h"
#include "store.h"

#define BDSRV_MAX_PROJECT_ID 64
#define BDSRV_STRIPES 64
#define BDSRV_MAX_COLLECTION_NAME 128

struct bb_http_server;
struct bb_router;
struct bcast_client;
struct bb_counter;
struct bb_gauge;
struct bdsrv_sub;
struct bdsrv_ring;

/* One open project database, an object of the core instance registry (bb_instances.h: single
 * flight open, references, LRU at capacity, idle eviction). Requests in flight and SSE subscribers
 * each hold one reference from bdsrv_acquire to bdsrv_release; it is closed only when none is
 * held (eviction, max-instances pressure, stop). */
struct bdsrv_inst {
    char pid[BDSRV_MAX_PROJECT_ID + 1];
    char dir[1200];
    struct bb_instance *handle; /* the registry's record of this instance */
    struct bdoc_db *db;
    struct bdoc_store *store;
    unsigned nsubs;  /* under feed_mtx */
    uint64_t epoch;  /* open time (ms): first part of every event id */
    pthread_mutex_t stripes[BDSRV_STRIPES];
    pthread_mutex_t feed_mtx;
    uint64_t seq;    /* last event sequence number, under feed_mtx */
    pthread_mutex_t docs_mtx;
    int64_t ndocs;   /* documents in the project incl. reservations; -1: not counted yet */
    struct bdsrv_sub *subs;
    struct bdsrv_ring *rings;
};

struct bdsrv_metrics {
    struct bb_counter *requests, *events, *publish_dropped, *evictions, *opens, *rejections;
    struct bb_counter *too_expensive; /* queries stopped by their work budget */
    struct bb_counter *too_large;     /* events delivered as a notice (too large for a stream) */
    struct bb_counter *reads_inline;  /* document GETs answered on the loop thread */
    struct bb_gauge *instances, *subscribers;
};

struct bb_rpc_http_listener;

/* bundoc-server's knobs (BUNBASE_BUNDOC_*: the table in bundoc_server.c) */
struct bdsrv_config {
    char durability[16];
    uint64_t idle_ms;
    uint64_t evict_interval_ms;
    uint64_t max_instances;
    uint64_t max_db_bytes;
    uint64_t max_documents;
    uint64_t max_request_bytes;
    uint64_t max_scan;
    uint64_t query_max_docs;
    uint64_t query_timeout_ms;
    uint64_t regex_match_limit;
    uint64_t regex_depth_limit;
    char rpc_addr[256];
    uint64_t ring_size;
    uint64_t inline_read_max; /* largest encoded document a GET answers on the loop thread */
    uint64_t build_memory_mb; /* index builds: extracted entries held before an external sort */
    uint64_t build_fill;      /* index builds: leaf fill factor, percent */
    uint64_t build_batch;     /* index builds: entries per transaction */
};

struct bdsrv {
    struct bb_runtime *rt;
    const struct bb_config *cfg;
    struct bdsrv_config k;           /* our knobs */
    struct buncast_config bcast_cfg; /* buncast's (its socket, its event limit) */
    char root[1100]; /* <data>/bundoc/projects */
    struct bdoc_options dbopts;
    uint64_t max_db_bytes, max_scan, ring_size;
    uint64_t max_docs; /* per project; 0: no limit */
    struct bdoc_budget_limits qlim; /* per-query work budget */
    size_t max_event_bytes;         /* realtime: larger event data is sent as a notice */

    struct bb_instances *insts; /* project databases */

    struct bcast_client *bcast;
    int http_port; /* own listener (BUNBASE_BUNDOC_SERVER_ADDR), 0 on the gateway */
    struct bb_rpc_http_listener *rpc; /* internal RPC, when BUNBASE_BUNDOC_SERVER_RPC_ADDR is set */
    struct bdsrv_metrics met;
};

/* ---- instances (bundoc_server.c) ---- */
/* Opens (single-flight) or finds the project's database and takes a reference. BB_EINVAL (bad
 * id: bb_project_id_valid), BB_ELIMIT (max instances, none idle), BB_EUNAVAIL (stopping, or the
 * directory is locked by another process), BB_EIO/... from bdoc_open. */
int bdsrv_acquire(struct bdsrv *s, const char *pid, struct bdsrv_inst **out);
void bdsrv_release(struct bdsrv *s, struct bdsrv_inst *inst);
/* 0, or BB_ENOSPACE when the project's files exceed the configured size. */
int bdsrv_check_size(struct bdsrv *s, struct bdsrv_inst *inst);
/* Documents limit: reserves n creates before a write transaction (BB_ENOSPACE when the project
 * would go over max_docs; the count is recounted exactly before refusing, so drift from side
 * effects such as cascade deletes never refuses wrongly). After the transaction, settle with
 * delta = -deleted on success, -n on failure (undo the reservation). */
int bdsrv_docs_reserve(struct bdsrv *s, struct bdsrv_inst *inst, size_t n);
void bdsrv_docs_settle(struct bdsrv *s, struct bdsrv_inst *inst, int64_t delta);

/* ---- change feed (bdsrv_feed.c) ---- */
/* Records one committed change (old/new borrowed, NULL when absent), pushes it to matching SSE
 * subscribers and publishes it to buncast. Call while holding the stripe lock of the document. */
void bdsrv_feed_emit(struct bdsrv *s, struct bdsrv_inst *inst, const char *coll, const char *op,
                     const char *id, const json_t *old_doc, const json_t *new_doc);
/* The rule set of coll changed (rules borrowed, may be NULL): subscribers re-evaluate with it. */
void bdsrv_feed_rules_changed(struct bdsrv_inst *inst, const char *coll, const json_t *rules);
/* Frees the rings and detaches subscribers (instance closing; none should remain). */
void bdsrv_feed_release(struct bdsrv_inst *inst);

struct bb_http_request;
struct bb_http_response;
/* Starts an SSE subscription on req/res (pool + stream route). filter_req: a find request
 * (filter only is used) or NULL; rules: the collection's rule set (borrowed) or NULL; auth:
 * end-user identity (borrowed) or NULL; admin: 1 to bypass rules. Takes over the inst reference
 * on success (released when the stream ends). */
int bdsrv_feed_subscribe(struct bdsrv *s, struct bdsrv_inst *inst, const char *coll,
                         const json_t *filter, const json_t *rules, int admin, const json_t *auth,
                         const char *last_event_id, struct bb_http_request *req,
                         struct bb_http_response *res, char *err, size_t errcap);

/* ---- API (bdsrv_api.c) ---- */
/* 1 if name is a valid collection name: [A-Za-z0-9_-]{1,128}, not starting with "__". */
int bdsrv_coll_name_valid(const char *name);
/* Collections whose names start with BDSRV_RESERVED_PREFIX belong to platform services (tenant-auth
 * keeps a project's end users there): only the internal service identity (the internal token
 * without X-Bunbase-Identity) sees them; to admin, end users and everyone the gateway forwards
 * they do not exist (404, left out of the collection list). */
#define BDSRV_RESERVED_PREFIX "_auth_"
int bdsrv_coll_reserved(const char *name);
int bdsrv_api_start(struct bdsrv *s, char *err, size_t errcap);
void bdsrv_api_stop(struct bdsrv *s);

/* ---- internal RPC (bdsrv_rpc.c) ---- */
/* Listens on k.rpc_addr if set (ProxyDocument, dispatched through the route table). */
int bdsrv_rpc_start(struct bdsrv *s, char *err, size_t errcap);
/* Stops listening; calls still running reply and are freed by the pool. Loop thread. */
int bdsrv_rpc_stop(struct bdsrv *s); /* returns the calls still in flight */

#endif
