/* bundoc_server.c — the bundoc-server service: configuration, project instances, start/stop/health.
 *
 * Instances: the core registry (bb_instances.h) with our open/close: single-flight open, a failed
 * open not remembered, LRU eviction at BUNBASE_BUNDOC_LIMITS_MAX_INSTANCES, idle eviction by the
 * registry's thread. An instance is closed only when no reference is held: no request (hence no
 * transaction) in flight and no SSE subscriber; a close finishes (directory lock released) before
 * the next open of the same project.
 */
#include "bundoc_server.h"
#include "bdsrv.h"

#include "bb_config.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_id.h"
#include "bb_instances.h"
#include "bb_time.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_router.h"
#include "buncast_client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MOD "bundoc-server"

static void inst_free(struct bdsrv_inst *i)
{
    if (!i) return;
    bdsrv_feed_release(i);
    for (int k = 0; k < BDSRV_STRIPES; k++)
        pthread_mutex_destroy(&i->stripes[k]);
    pthread_mutex_destroy(&i->feed_mtx);
    pthread_mutex_destroy(&i->docs_mtx);
    free(i);
}

/* Closes the database of i. */
static void inst_close_db(struct bdsrv_inst *i)
{
    if (i->store) bdoc_store_close(i->store);
    i->store = NULL;
    if (i->db) {
        int rc = bdoc_close(i->db);
        if (rc) bb_warn(MOD, "close project=%s error=\"%s\"", i->pid, bb_strerror(rc));
    }
    i->db = NULL;
}

/* bb_instances ops: open and close one project's database (no registry lock held). */
static int inst_open(void *ctx, struct bb_instance *handle, const char *pid, void **out)
{
    struct bdsrv *s = ctx;
    struct bdsrv_inst *i = calloc(1, sizeof *i);
    if (!i) return BB_ENOMEM;
    snprintf(i->pid, sizeof i->pid, "%s", pid);
    i->handle = handle;
    for (int k = 0; k < BDSRV_STRIPES; k++)
        pthread_mutex_init(&i->stripes[k], NULL);
    pthread_mutex_init(&i->feed_mtx, NULL);
    pthread_mutex_init(&i->docs_mtx, NULL);
    i->ndocs = -1;
    snprintf(i->dir, sizeof i->dir, "%s/%s", s->root, pid);
    int rc = bb_fs_mkdir_p(i->dir, 0700);
    if (rc == 0) rc = bdoc_open(i->dir, &s->dbopts, &i->db);
    if (rc == 0) rc = bdoc_store_open(i->db, &i->store);
    if (rc == 0) {
        bdoc_store_set_build_mem(i->store, (size_t)s->k.build_memory_mb << 20);
        bdoc_store_set_build_fill(i->store, (unsigned)s->k.build_fill);
        bdoc_store_set_build_batch(i->store, (size_t)s->k.build_batch);
    }
    if (rc) {
        bb_warn(MOD, "open project=%s dir=%s error=\"%s\"", pid, i->dir, bb_strerror(rc));
        inst_close_db(i);
        inst_free(i);
        return rc == BB_EBUSY ? BB_EUNAVAIL : rc; /* held by another process: 503 */
    }
    i->epoch = bb_time_wall_ms();
    bb_counter_inc(s->met.opens);
    bb_gauge_inc(s->met.instances);
    bb_info(MOD, "opened project=%s", pid);
    *out = i;
    return 0;
}

static void inst_close(void *ctx, const char *pid, void *obj, const char *why)
{
    struct bdsrv *s = ctx;
    inst_close_db(obj);
    inst_free(obj);
    bb_gauge_dec(s->met.instances);
    bb_counter_inc(s->met.evictions);
    bb_info(MOD, "closed project=%s reason=%s", pid, why);
}

static const struct bb_instances_ops inst_ops = {.open = inst_open, .close = inst_close};

int bdsrv_acquire(struct bdsrv *s, const char *pid, struct bdsrv_inst **out)
{
    if (!pid || !bb_project_id_valid(pid, strlen(pid))) return BB_EINVAL;
    struct bb_instance *h = NULL;
    int rc = bb_instances_acquire(s->insts, pid, &h);
    if (rc == BB_ELIMIT) bb_counter_inc(s->met.rejections);
    if (rc) return rc;
    *out = bb_instance_obj(h);
    return 0;
}

void bdsrv_release(struct bdsrv *s, struct bdsrv_inst *inst)
{
    if (inst) bb_instances_release(s->insts, inst->handle);
}

static uint64_t file_size(const char *dir, const char *name)
{
    char p[1300];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int bdsrv_check_size(struct bdsrv *s, struct bdsrv_inst *inst)
{
    if (!s->max_db_bytes) return 0;
    uint64_t n = file_size(inst->dir, "data.db") + file_size(inst->dir, "wal");
    return n >= s->max_db_bytes ? BB_ENOSPACE : 0;
}

/* Exact count of the project's documents (all user collections) in one read snapshot. */
static int count_docs(struct bdsrv_inst *inst, int64_t *out)
{
    struct bdoc_store_txn *t = NULL;
    json_t *names = NULL;
    int64_t total = 0;
    int rc = bdoc_store_begin(inst->store, BDOC_TXN_READONLY, &t);
    if (rc == 0) rc = bdoc_store_collection_list(t, NULL, &names);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        if (rc) break;
        size_t n = 0;
        struct bdoc_store_error e = {0};
        rc = bdoc_store_count(t, json_string_value(v), NULL, NULL, &n, &e);
        total += (int64_t)n;
    }
    if (t) bdoc_store_rollback(t);
    json_decref(names);
    if (rc == 0) *out = total;
    return rc;
}

int bdsrv_docs_reserve(struct bdsrv *s, struct bdsrv_inst *inst, size_t n)
{
    if (!s->max_docs || n == 0) return 0;
    int rc = 0;
    pthread_mutex_lock(&inst->docs_mtx);
    if (inst->ndocs < 0 || (uint64_t)inst->ndocs + n > s->max_docs) {
        /* first use, or at the limit: count exactly (the running count only ever errs high) */
        int64_t exact;
        if ((rc = count_docs(inst, &exact)) != 0) goto out;
        inst->ndocs = exact;
    }
    if ((uint64_t)inst->ndocs + n > s->max_docs) {
        rc = BB_ENOSPACE;
        goto out;
    }
    inst->ndocs += (int64_t)n;
out:
    pthread_mutex_unlock(&inst->docs_mtx);
    return rc;
}

void bdsrv_docs_settle(struct bdsrv *s, struct bdsrv_inst *inst, int64_t delta)
{
    if (!s->max_docs || delta == 0) return;
    pthread_mutex_lock(&inst->docs_mtx);
    if (inst->ndocs >= 0) inst->ndocs += delta;
    if (inst->ndocs < -1) inst->ndocs = -1;
    pthread_mutex_unlock(&inst->docs_mtx);
}

static void register_metrics(struct bdsrv *s)
{
    struct bb_metrics *r = s->rt->metrics;
    s->met.requests = bb_metrics_counter(r, "bunbase_bundoc_requests_total",
                                         "bundoc-server API requests handled", NULL);
    s->met.events = bb_metrics_counter(r, "bunbase_bundoc_events_published_total",
                                       "change events recorded (SSE + buncast)", NULL);
    s->met.publish_dropped = bb_metrics_counter(r, "bunbase_bundoc_events_dropped_total",
                                                "change events not published to buncast "
                                                "(broker unreachable)", NULL);
    s->met.evictions = bb_metrics_counter(r, "bunbase_bundoc_evictions_total",
                                          "project databases closed (idle or capacity)", NULL);
    s->met.opens = bb_metrics_counter(r, "bunbase_bundoc_opens_total",
                                      "project databases opened", NULL);
    s->met.rejections = bb_metrics_counter(r, "bunbase_bundoc_rejections_total",
                                           "requests refused by a limit", NULL);
    s->met.too_expensive = bb_metrics_counter(r, "bunbase_bundoc_queries_too_expensive_total",
                                              "lists and queries stopped by their work budget "
                                              "(400 query_too_expensive)", NULL);
    s->met.too_large = bb_metrics_counter(r, "bunbase_bundoc_events_too_large_total",
                                          "change events too large for realtime, delivered as a "
                                          "notice with the document id", NULL);
    s->met.reads_inline = bb_metrics_counter(r, "bunbase_bundoc_reads_inline_total",
                                             "document GETs answered on the loop thread (cached "
                                             "pages, no rule to evaluate, no wait)", NULL);
    s->met.instances = bb_metrics_gauge(r, "bunbase_bundoc_instances",
                                        "project databases open", NULL);
    s->met.subscribers = bb_metrics_gauge(r, "bunbase_bundoc_subscribers",
                                          "SSE change subscribers", NULL);
}

#define ROW(F, ENV, T, DFLT, MIN, MAX, HELP, CH)                                                   \
    BB_KNOB_ROW(struct bdsrv_config, F, ENV, NULL, T, DFLT, MIN, MAX, HELP, CH)
static const struct bb_knob bdsrv_knobs[] = {
    ROW(durability, "BUNBASE_BUNDOC_DURABILITY", BB_KNOB_STR, "full", 0, 0,
     "bundoc-server commit durability: full (fsync before the reply) | normal | off",
     "full|normal|off"),
    ROW(idle_ms, "BUNBASE_BUNDOC_IDLE_MS", BB_KNOB_U64, "600000", 100, 86400000ull * 30,
     "a project database unused this long (and without subscribers) is closed", NULL),
    ROW(evict_interval_ms, "BUNBASE_BUNDOC_EVICT_INTERVAL_MS", BB_KNOB_U64, "60000", 50,
     3600000, "how often bundoc-server looks for idle project databases", NULL),
    ROW(max_instances, "BUNBASE_BUNDOC_LIMITS_MAX_INSTANCES", BB_KNOB_U64, "1000", 1, 1000000,
     "open project databases at most; beyond it the idlest unused one is closed, else 429", NULL),
    ROW(max_db_bytes, "BUNBASE_BUNDOC_LIMITS_MAX_DATABASE_SIZE_BYTES", BB_KNOB_U64, "0", 0,
     1ull << 50, "bytes on disk per project database before creates and updates get 507; 0: none", NULL),
    ROW(max_documents, "BUNBASE_BUNDOC_LIMITS_MAX_DOCUMENTS", BB_KNOB_U64, "0", 0, 1ull << 50,
     "documents per project (all collections) before creates get 507; 0: none", NULL),
    ROW(max_request_bytes, "BUNBASE_BUNDOC_LIMITS_MAX_REQUEST_BYTES", BB_KNOB_U64, "16777216",
     1024, 1ull << 30, "largest bundoc-server request body; over it: 413", NULL),
    ROW(max_scan, "BUNBASE_BUNDOC_LIMITS_MAX_SCAN_DOCS", BB_KNOB_U64, "10000", 1, 10000,
     "largest page (limit) of a document list or query", NULL),
    ROW(query_max_docs, "BUNBASE_BUNDOC_LIMITS_QUERY_MAX_DOCS_EXAMINED", BB_KNOB_U64, "100000", 0,
     1ull << 40, "documents one query may examine before it fails with 400 query_too_expensive; 0: none", NULL),
    ROW(query_timeout_ms, "BUNBASE_BUNDOC_LIMITS_QUERY_TIMEOUT_MS", BB_KNOB_U64, "5000", 0,
     3600000, "wall time one query may run before it fails with 400 query_too_expensive; 0: none", NULL),
    ROW(regex_match_limit, "BUNBASE_BUNDOC_LIMITS_REGEX_MATCH_LIMIT", BB_KNOB_U64, "100000", 1,
     100000000, "PCRE2 match limit of a query's $regex; over it the query fails with 400 query_too_expensive", NULL),
    ROW(regex_depth_limit, "BUNBASE_BUNDOC_LIMITS_REGEX_DEPTH_LIMIT", BB_KNOB_U64, "1000", 1,
     1000000, "PCRE2 depth limit of a query's $regex; over it the query fails with 400 query_too_expensive", NULL),
    ROW(rpc_addr, "BUNBASE_BUNDOC_SERVER_RPC_ADDR", BB_KNOB_STR, "", 0, 0,
     "bundoc-server internal RPC (ProxyDocument) listen address; empty: off; the bound address is written to <data>/bundoc-server.addr", NULL),
    ROW(ring_size, "BUNBASE_BUNDOC_RING_SIZE", BB_KNOB_U64, "1024", 0, 1000000,
     "change events kept per collection for SSE resume with Last-Event-ID", NULL),
    ROW(inline_read_max, "BUNBASE_BUNDOC_INLINE_READ_MAX_BYTES", BB_KNOB_U64, "65536", 0,
     16777216, "a document GET is answered on the HTTP loop thread when the document (encoded) is "
     "at most this large, its pages are cached and no read rule applies; else on the worker pool; 0: always the pool", NULL),
    ROW(build_memory_mb, "BUNBASE_BUNDOC_INDEX_BUILD_MEMORY_MB", BB_KNOB_U64, "256", 1, 65536,
     "memory an index build may hold its extracted entries in; past it they are sorted in runs "
     "spilled to unlinked temporary files in /tmp (tmpfile(3)) and merged while loading", NULL),
    ROW(build_fill, "BUNBASE_BUNDOC_INDEX_BUILD_FILL_PERCENT", BB_KNOB_U64, "100", 10, 100,
     "how full an index build loads the index's leaves (bottom-up); less leaves room for later "
     "inserts without splits", NULL),
    ROW(build_batch, "BUNBASE_BUNDOC_INDEX_BUILD_BATCH", BB_KNOB_U64, "4096", 1, 10000,
     "index entries an online build writes per transaction (between them writers go on)", NULL),
    BB_KNOBS_END,
};
#undef ROW

static int load_config(struct bdsrv *s, const struct bb_config *c, char *err, size_t errcap)
{
    struct bdsrv_config *k = &s->k;
    int rc = bb_knobs_load(bdsrv_knobs, bb_knobs_count(bdsrv_knobs), k, err, errcap);
    if (rc) return rc;
    /* buncast's knobs: where its socket is, how large an event may be */
    if ((rc = buncast_config_load(&s->bcast_cfg, err, errcap)) != 0) return rc;
    char data[PATH_MAX];
    if (!realpath(c->data_dir, data)) snprintf(data, sizeof data, "%s", c->data_dir);
    if ((size_t)snprintf(s->root, sizeof s->root, "%s/bundoc/projects", data) >= sizeof s->root) {
        snprintf(err, errcap, "bundoc-server: data directory path too long");
        return BB_EINVAL;
    }
    bdoc_options_init(&s->dbopts);
    if (!strcmp(k->durability, "normal")) s->dbopts.durability = BDOC_DURABILITY_NORMAL;
    else if (!strcmp(k->durability, "off")) s->dbopts.durability = BDOC_DURABILITY_OFF;
    else s->dbopts.durability = BDOC_DURABILITY_FULL; /* the table allows nothing else */
    if (k->max_request_bytes < s->dbopts.max_doc_size)
        s->dbopts.max_doc_size = (uint32_t)k->max_request_bytes;
    s->max_db_bytes = k->max_db_bytes;
    s->max_docs = k->max_documents;
    s->max_scan = k->max_scan;
    s->ring_size = k->ring_size;
    s->qlim.max_docs = k->query_max_docs;
    s->qlim.max_ms = k->query_timeout_ms;
    s->qlim.regex_match_limit = (uint32_t)k->regex_match_limit;
    s->qlim.regex_depth_limit = (uint32_t)k->regex_depth_limit;
    /* realtime events: buncast's event limit, and never more than a quarter of an SSE stream's
     * queue (so one event can never get a healthy subscriber closed as slow) */
    uint64_t ev = s->bcast_cfg.max_event_bytes;
    if (!ev || ev > c->sse_max_queue_bytes / 4) ev = c->sse_max_queue_bytes / 4;
    s->max_event_bytes = (size_t)ev;
    return 0;
}

static void bdsrv_free(struct bdsrv *s)
{
    if (!s) return;
    if (s->bcast) bcast_client_free(s->bcast);
    free(s);
}

static void bundoc_server_stop(void *state)
{
    struct bdsrv *s = state;
    int rpc_left = bdsrv_rpc_stop(s);
    bdsrv_api_stop(s);
    /* no new request reaches us; a request that outlived the drain keeps its instance (never
     * closed under a running transaction): then leave it all to the process exit */
    size_t left = bb_instances_free(s->insts, 0);
    if (left || rpc_left) {
        bb_warn(MOD, "stop instances_in_use=%zu", left);
        return;
    }
    s->insts = NULL;
    bb_info(MOD, "stopped");
    bdsrv_free(s);
}

static int bundoc_server_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    int rc;
    struct bdsrv *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    s->rt = rt;
    s->cfg = rt->cfg;
    if ((rc = load_config(s, rt->cfg, err, errcap)) != 0) goto fail;
    if ((rc = bb_fs_mkdir_p(s->root, 0700)) != 0) {
        snprintf(err, errcap, "bundoc-server: cannot create %s", s->root);
        goto fail;
    }
    register_metrics(s);
    struct bb_instances_limits lim = {.max_instances = s->k.max_instances,
                                      .idle_ms = s->k.idle_ms,
                                      .evict_interval_ms = s->k.evict_interval_ms};
    if ((rc = bb_instances_new(&inst_ops, s, &lim, &s->insts)) != 0) goto fail;

    char sock[1100];
    if (s->bcast_cfg.socket[0]) snprintf(sock, sizeof sock, "unix:%s", s->bcast_cfg.socket);
    else snprintf(sock, sizeof sock, "unix:%s/buncast.sock", rt->cfg->data_dir);
    struct bcast_client_opts bo = {.source = "bundoc-server", .reconnect_max_ms = 500, .token = rt->internal_token, .dropped = s->met.publish_dropped};
    if ((rc = bcast_client_new(&s->bcast, sock, &bo)) != 0) {
        snprintf(err, errcap, "bundoc-server: buncast client: %s", bb_strerror(rc));
        goto fail;
    }
    if ((rc = bdsrv_api_start(s, err, errcap)) != 0) goto fail;
    if ((rc = bdsrv_rpc_start(s, err, errcap)) != 0) {
        bdsrv_api_stop(s);
        goto fail;
    }
    char http[32] = "gateway";
    if (s->http_port) snprintf(http, sizeof http, "%d", s->http_port);
    bb_info(MOD, "ready root=%s http_port=%s durability=%s idle_ms=%llu max_instances=%llu", s->root,
            http, s->k.durability, (unsigned long long)s->k.idle_ms,
            (unsigned long long)s->k.max_instances);
    *state = s;
    return 0;
fail:
    if (!err[0]) snprintf(err, errcap, "bundoc-server: %s", bb_strerror(rc));
    bb_instances_free(s->insts, 0);
    bdsrv_free(s);
    return rc;
}

static int bundoc_server_health(void *state, json_t **detail)
{
    struct bdsrv *s = state;
    struct bb_instances_stats st;
    bb_instances_stats(s->insts, &st);
    *detail = json_pack("{s:s,s:I,s:I,s:b}", "status", "ok", "instances", (json_int_t)st.open,
                        "active", (json_int_t)st.active, "buncast",
                        bcast_client_connected(s->bcast));
    return *detail ? 0 : BB_ENOMEM;
}

const struct bb_service_def bb_bundoc_server_service = {
    .name = "bundoc-server",
    .start = bundoc_server_start,
    .stop = bundoc_server_stop,
    .health = bundoc_server_health,
    .knobs = bdsrv_knobs,
    .config_size = sizeof(struct bdsrv_config),
};
