/* bundoc_server.c — the bundoc-server service: configuration, the project instance manager,
 * the idle evictor thread, start/stop/health.
 *
 * Instances: a table (linked list under s->mtx) of struct bdsrv_inst. bdsrv_acquire finds the
 * project's instance or inserts a placeholder in state OPENING and opens the database outside the
 * lock; concurrent acquirers of the same project wait on s->cv (single flight). A failed open
 * removes the placeholder (the next request tries again). Closing (eviction, capacity, stop) sets
 * CLOSING first so an acquirer waits for the directory lock to be released before reopening.
 * An instance is closed only with refs == 0: no request (hence no transaction) in flight and no
 * SSE subscriber.
 */
#include "bundoc_server.h"
#include "bdsrv.h"

#include "bb_config.h"
#include "bb_err.h"
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
#include <sys/time.h>
#include <time.h>

#define MOD "bundoc-server"

uint64_t bdsrv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

int bdsrv_project_id_valid(const char *id)
{
    size_t n = 0;
    if (!id) return 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (n >= BDSRV_MAX_PROJECT_ID) return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

static int mkdir_p(const char *path)
{
    char tmp[1200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s", path) >= sizeof tmp) return BB_EINVAL;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return BB_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return BB_EIO;
    return 0;
}

static struct bdsrv_inst *inst_new(const char *pid)
{
    struct bdsrv_inst *i = calloc(1, sizeof *i);
    if (!i) return NULL;
    snprintf(i->pid, sizeof i->pid, "%s", pid);
    for (int k = 0; k < BDSRV_STRIPES; k++)
        pthread_mutex_init(&i->stripes[k], NULL);
    pthread_mutex_init(&i->feed_mtx, NULL);
    pthread_mutex_init(&i->docs_mtx, NULL);
    i->ndocs = -1;
    i->state = BDSRV_OPENING;
    return i;
}

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

/* Closes the database of i (no lock held). */
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

static void unlink_inst(struct bdsrv *s, struct bdsrv_inst *i)
{
    for (struct bdsrv_inst **pp = &s->insts; *pp; pp = &(*pp)->next)
        if (*pp == i) {
            *pp = i->next;
            s->ninst--;
            return;
        }
}

/* With s->mtx held: the ready, unused instance used least recently (idle for at least min_ms),
 * marked CLOSING; NULL if none. */
static struct bdsrv_inst *pick_victim(struct bdsrv *s, uint64_t now, uint64_t min_ms)
{
    struct bdsrv_inst *best = NULL;
    for (struct bdsrv_inst *i = s->insts; i; i = i->next) {
        if (i->state != BDSRV_READY || i->refs) continue;
        if (now - i->last_used_ms < min_ms) continue;
        if (!best || i->last_used_ms < best->last_used_ms) best = i;
    }
    if (best) best->state = BDSRV_CLOSING;
    return best;
}

/* Closes a CLOSING victim: called without s->mtx; takes it to unlink. */
static void close_victim(struct bdsrv *s, struct bdsrv_inst *v, const char *why)
{
    inst_close_db(v);
    pthread_mutex_lock(&s->mtx);
    unlink_inst(s, v);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mtx);
    bb_gauge_dec(s->met.instances);
    bb_counter_inc(s->met.evictions);
    bb_info(MOD, "closed project=%s reason=%s", v->pid, why);
    inst_free(v);
}

int bdsrv_acquire(struct bdsrv *s, const char *pid, struct bdsrv_inst **out)
{
    int rc = 0;
    if (!bdsrv_project_id_valid(pid)) return BB_EINVAL;
    pthread_mutex_lock(&s->mtx);
    for (;;) {
        if (s->stopping) {
            rc = BB_EUNAVAIL;
            goto out;
        }
        struct bdsrv_inst *i = s->insts;
        while (i && strcmp(i->pid, pid) != 0)
            i = i->next;
        if (i) {
            if (i->state == BDSRV_OPENING || i->state == BDSRV_CLOSING) {
                pthread_cond_wait(&s->cv, &s->mtx);
                continue; /* look again: it may be gone or failed */
            }
            if (i->state == BDSRV_READY) {
                i->refs++;
                i->last_used_ms = bdsrv_now_ms();
                *out = i;
                goto out;
            }
            /* FAILED and not yet unlinked by its opener: wait for that */
            pthread_cond_wait(&s->cv, &s->mtx);
            continue;
        }
        if (s->ninst >= s->max_instances) {
            struct bdsrv_inst *v = pick_victim(s, bdsrv_now_ms(), 0);
            if (!v) {
                bb_counter_inc(s->met.rejections);
                rc = BB_ELIMIT;
                goto out;
            }
            pthread_mutex_unlock(&s->mtx);
            close_victim(s, v, "capacity");
            pthread_mutex_lock(&s->mtx);
            continue;
        }
        i = inst_new(pid);
        if (!i) {
            rc = BB_ENOMEM;
            goto out;
        }
        i->next = s->insts;
        s->insts = i;
        s->ninst++;
        pthread_mutex_unlock(&s->mtx);

        snprintf(i->dir, sizeof i->dir, "%s/%s", s->root, pid);
        rc = mkdir_p(i->dir);
        if (rc == 0) rc = bdoc_open(i->dir, &s->dbopts, &i->db);
        if (rc == 0) rc = bdoc_store_open(i->db, &i->store);
        if (rc) {
            bb_warn(MOD, "open project=%s dir=%s error=\"%s\"", pid, i->dir, bb_strerror(rc));
            inst_close_db(i);
        }
        pthread_mutex_lock(&s->mtx);
        if (rc) {
            unlink_inst(s, i);
            pthread_cond_broadcast(&s->cv);
            inst_free(i);
            if (rc == BB_EBUSY) rc = BB_EUNAVAIL; /* held by another process: 503 */
            goto out;
        }
        i->state = BDSRV_READY;
        i->epoch = wall_ms();
        i->refs = 1;
        i->last_used_ms = bdsrv_now_ms();
        pthread_cond_broadcast(&s->cv);
        bb_counter_inc(s->met.opens);
        bb_gauge_inc(s->met.instances);
        bb_info(MOD, "opened project=%s", pid);
        *out = i;
        goto out;
    }
out:
    pthread_mutex_unlock(&s->mtx);
    return rc;
}

void bdsrv_release(struct bdsrv *s, struct bdsrv_inst *inst)
{
    if (!inst) return;
    pthread_mutex_lock(&s->mtx);
    inst->refs--;
    inst->last_used_ms = bdsrv_now_ms();
    pthread_mutex_unlock(&s->mtx);
}

size_t bdsrv_evict_idle(struct bdsrv *s, uint64_t min_idle_ms)
{
    size_t n = 0;
    for (;;) {
        pthread_mutex_lock(&s->mtx);
        struct bdsrv_inst *v = pick_victim(s, bdsrv_now_ms(), min_idle_ms);
        pthread_mutex_unlock(&s->mtx);
        if (!v) break;
        close_victim(s, v, "idle");
        n++;
    }
    return n;
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

static void *evictor_main(void *arg)
{
    struct bdsrv *s = arg;
    pthread_mutex_lock(&s->ev_mtx);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (s->evict_interval_ms % 1000) * 1000000u;
        ts.tv_sec += (time_t)(s->evict_interval_ms / 1000 + ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&s->ev_cv, &s->ev_mtx, &ts);
        if (s->stopping) break;
        pthread_mutex_unlock(&s->ev_mtx);
        bdsrv_evict_idle(s, s->idle_ms);
        pthread_mutex_lock(&s->ev_mtx);
    }
    pthread_mutex_unlock(&s->ev_mtx);
    return NULL;
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
    s->met.instances = bb_metrics_gauge(r, "bunbase_bundoc_instances",
                                        "project databases open", NULL);
    s->met.subscribers = bb_metrics_gauge(r, "bunbase_bundoc_subscribers",
                                          "SSE change subscribers", NULL);
}

static int load_config(struct bdsrv *s, const struct bb_config *c, char *err, size_t errcap)
{
    char data[PATH_MAX];
    if (!realpath(c->data_dir, data)) snprintf(data, sizeof data, "%s", c->data_dir);
    if ((size_t)snprintf(s->root, sizeof s->root, "%s/bundoc/projects", data) >= sizeof s->root) {
        snprintf(err, errcap, "bundoc-server: data directory path too long");
        return BB_EINVAL;
    }
    bdoc_options_init(&s->dbopts);
    if (!strcmp(c->bundoc_durability, "full")) s->dbopts.durability = BDOC_DURABILITY_FULL;
    else if (!strcmp(c->bundoc_durability, "normal")) s->dbopts.durability = BDOC_DURABILITY_NORMAL;
    else if (!strcmp(c->bundoc_durability, "off")) s->dbopts.durability = BDOC_DURABILITY_OFF;
    else {
        snprintf(err, errcap, "BUNBASE_BUNDOC_DURABILITY: expected full, normal or off, got \"%s\"",
                 c->bundoc_durability);
        return BB_EINVAL;
    }
    if (c->bundoc_max_request_bytes < s->dbopts.max_doc_size)
        s->dbopts.max_doc_size = (uint32_t)c->bundoc_max_request_bytes;
    s->idle_ms = c->bundoc_idle_ms;
    s->evict_interval_ms = c->bundoc_evict_interval_ms;
    s->max_instances = c->bundoc_max_instances;
    s->max_db_bytes = c->bundoc_max_db_bytes;
    s->max_docs = c->bundoc_max_documents;
    s->max_scan = c->bundoc_max_scan;
    s->ring_size = c->bundoc_ring_size;
    s->qlim.max_docs = c->bundoc_query_max_docs;
    s->qlim.max_ms = c->bundoc_query_timeout_ms;
    s->qlim.regex_match_limit = (uint32_t)c->bundoc_regex_match_limit;
    s->qlim.regex_depth_limit = (uint32_t)c->bundoc_regex_depth_limit;
    /* realtime events: buncast's event limit, and never more than a quarter of an SSE stream's
     * queue (so one event can never get a healthy subscriber closed as slow) */
    uint64_t ev = c->buncast_max_event_bytes;
    if (!ev || ev > c->sse_max_queue_bytes / 4) ev = c->sse_max_queue_bytes / 4;
    s->max_event_bytes = (size_t)ev;
    return 0;
}

static void bdsrv_free(struct bdsrv *s)
{
    if (!s) return;
    if (s->bcast) bcast_client_free(s->bcast);
    if (s->router) bb_router_free(s->router);
    pthread_mutex_destroy(&s->mtx);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->ev_mtx);
    pthread_cond_destroy(&s->ev_cv);
    free(s);
}

static void bundoc_server_stop(void *state)
{
    struct bdsrv *s = state;
    pthread_mutex_lock(&s->ev_mtx);
    s->stopping = 1;
    pthread_cond_broadcast(&s->ev_cv);
    pthread_mutex_unlock(&s->ev_mtx);
    if (s->evictor_on) pthread_join(s->evictor, NULL);
    s->evictor_on = 0;
    bdsrv_rpc_stop(s);
    bdsrv_api_stop(s);
    pthread_mutex_lock(&s->mtx);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mtx);
    bdsrv_evict_idle(s, 0);
    pthread_mutex_lock(&s->mtx);
    size_t left = s->ninst;
    pthread_mutex_unlock(&s->mtx);
    if (left || s->rpc_inflight) {
        /* still referenced (a request outlived the drain): leave them to the process exit
         * rather than closing a database under a running transaction */
        bb_warn(MOD, "stop instances_in_use=%zu", left);
        return;
    }
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
    pthread_mutex_init(&s->mtx, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->ev_mtx, NULL);
    pthread_cond_init(&s->ev_cv, NULL);
    if ((rc = load_config(s, rt->cfg, err, errcap)) != 0) goto fail;
    if ((rc = mkdir_p(s->root)) != 0) {
        snprintf(err, errcap, "bundoc-server: cannot create %s", s->root);
        goto fail;
    }
    register_metrics(s);

    char sock[1100];
    if (rt->cfg->buncast_socket[0]) snprintf(sock, sizeof sock, "unix:%s", rt->cfg->buncast_socket);
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
    if (pthread_create(&s->evictor, NULL, evictor_main, s) != 0) {
        snprintf(err, errcap, "bundoc-server: cannot start the evictor thread");
        rc = BB_EIO;
        bdsrv_rpc_stop(s);
        bdsrv_api_stop(s);
        goto fail;
    }
    s->evictor_on = 1;
    char http[32] = "gateway";
    if (s->http) snprintf(http, sizeof http, "%d", s->http_port);
    bb_info(MOD, "ready root=%s http_port=%s durability=%s idle_ms=%llu max_instances=%llu", s->root,
            http, rt->cfg->bundoc_durability, (unsigned long long)s->idle_ms,
            (unsigned long long)s->max_instances);
    *state = s;
    return 0;
fail:
    if (!err[0]) snprintf(err, errcap, "bundoc-server: %s", bb_strerror(rc));
    bdsrv_free(s);
    return rc;
}

static int bundoc_server_health(void *state, json_t **detail)
{
    struct bdsrv *s = state;
    size_t n = 0, active = 0;
    pthread_mutex_lock(&s->mtx);
    for (struct bdsrv_inst *i = s->insts; i; i = i->next) {
        n++;
        if (i->refs) active++;
    }
    pthread_mutex_unlock(&s->mtx);
    *detail = json_pack("{s:s,s:I,s:I,s:b}", "status", "ok", "instances", (json_int_t)n, "active",
                        (json_int_t)active, "buncast", bcast_client_connected(s->bcast));
    return *detail ? 0 : BB_ENOMEM;
}

const struct bb_service_def bb_bundoc_server_service = {
    .name = "bundoc-server",
    .start = bundoc_server_start,
    .stop = bundoc_server_stop,
    .health = bundoc_server_health,
};
