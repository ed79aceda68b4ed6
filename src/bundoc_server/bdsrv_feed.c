/* bdsrv_feed.c — the per-project change feed: one sequence of committed changes per instance,
 * kept in a small ring per collection (for SSE resume), pushed to SSE subscribers and published
 * to buncast, all in the same order.
 *
 * Event ids are "<epoch>-<seq>": epoch = the instance's open time (ms since 1970), seq = 1, 2, …
 * per instance. A Last-Event-ID from another epoch (the database was closed and reopened in
 * between) or older than the ring cannot be resumed: the stream starts with a `reset` event.
 *
 * SSE event names: `added` (the document entered the subscriber's result set: created, or changed
 * so that it now matches / is readable), `modified` (in the set before and after), `removed` (left
 * the set: deleted, or changed so that it no longer matches / is no longer readable). data =
 * {"op": "create"|"update"|"delete", "collection", "docId", "doc": <document after, or null>}.
 *
 * Realtime size limit: when that data would be larger than s->max_event_bytes (buncast's
 * BUNBASE_BUNCAST_MAX_EVENT_BYTES, at most a quarter of BUNBASE_SSE_MAX_QUEUE_BYTES), subscribers
 * and buncast get a notice instead: the same event with "doc": null, "tooLarge": true and
 * "bytes": <size of the full data> — the client reads the document by docId. So a large document
 * never closes a stream (nor again on resume: the ring replays the notice too). Counted in
 * bunbase_bundoc_events_too_large_total.
 *
 * Ownership: ring entries own references to the old/new documents; a subscriber owns its compiled
 * filter, its rule set copy and its auth reference; all under inst->feed_mtx.
 */
#include "bdsrv.h"

#include "bb_err.h"
#include "bb_http.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_metrics.h"
#include "bb_sse.h"
#include "buncast_client.h"
#include "query.h"
#include "rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bdsrv_ev {
    uint64_t seq;
    char op[8];
    char *id;
    json_t *old_doc, *new_doc;
    size_t new_bytes; /* size of the event data with new_doc; 0: small enough */
};

struct bdsrv_ring {
    char *coll;
    struct bdsrv_ev *ev; /* cap slots, n used, oldest at head */
    size_t cap, head, n;
    uint64_t dropped_max; /* highest seq pushed out of the ring */
    struct bdsrv_ring *next;
};

struct bdsrv_sub {
    struct bdsrv *s;
    struct bdsrv_inst *inst;
    char *coll;
    struct bdoc_query *q;
    struct bdoc_ruleset *rules;
    int admin;
    json_t *auth;
    struct bb_sse *sse;
    struct bdsrv_sub *next;
};

static void ev_clear(struct bdsrv_ev *e)
{
    free(e->id);
    json_decref(e->old_doc);
    json_decref(e->new_doc);
    memset(e, 0, sizeof *e);
}

void bdsrv_feed_release(struct bdsrv_inst *inst)
{
    struct bdsrv_ring *r = inst->rings;
    while (r) {
        struct bdsrv_ring *n = r->next;
        for (size_t k = 0; k < r->n; k++)
            ev_clear(&r->ev[(r->head + k) % r->cap]);
        free(r->ev);
        free(r->coll);
        free(r);
        r = n;
    }
    inst->rings = NULL;
}

static struct bdsrv_ring *ring_get(struct bdsrv *s, struct bdsrv_inst *inst, const char *coll,
                                   int create)
{
    for (struct bdsrv_ring *r = inst->rings; r; r = r->next)
        if (!strcmp(r->coll, coll)) return r;
    if (!create || !s->ring_size) return NULL;
    struct bdsrv_ring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->coll = strdup(coll);
    r->cap = (size_t)s->ring_size;
    r->ev = calloc(r->cap, sizeof *r->ev);
    if (!r->coll || !r->ev) {
        free(r->coll);
        free(r->ev);
        free(r);
        return NULL;
    }
    r->next = inst->rings;
    inst->rings = r;
    return r;
}

static int rule_allows(const struct bdoc_ruleset *rs, enum bdoc_rule_op op, const json_t *auth,
                       const json_t *doc)
{
    const struct bdoc_rule *r = rs ? bdoc_ruleset_get(rs, op) : NULL;
    if (!r) return 1;
    struct bdoc_rule_input in = {.auth = auth, .resource_data = doc};
    int allow = 0;
    if (bdoc_rule_eval(r, &in, &allow, NULL) != 0) return 0;
    return allow;
}

static int visible(const struct bdsrv_sub *sub, const json_t *doc)
{
    if (!doc) return 0;
    if (sub->q && !bdoc_query_match(sub->q, doc)) return 0;
    if (sub->admin) return 1;
    return rule_allows(sub->rules, BDOC_RULE_LIST, sub->auth, doc) &&
           rule_allows(sub->rules, BDOC_RULE_READ, sub->auth, doc);
}

static json_t *event_data(const char *coll, const char *op, const char *id, const json_t *doc)
{
    json_t *d = json_object();
    if (!d) return NULL;
    json_object_set_new(d, "op", json_string(op));
    json_object_set_new(d, "collection", json_string(coll));
    json_object_set_new(d, "docId", json_string(id));
    json_object_set(d, "doc", doc ? (json_t *)doc : json_null());
    return d;
}

/* The event data of e as text (malloc'ed, *len): the document when it fits the realtime limit,
 * else the notice (doc null, tooLarge, bytes). with_doc 0: doc null (removed). */
static char *event_text(const char *coll, const struct bdsrv_ev *e, int with_doc,
                        const char *pid, size_t *len)
{
    int notice = with_doc && e->new_bytes;
    json_t *d = event_data(coll, e->op, e->id, with_doc && !notice ? e->new_doc : NULL);
    if (d && notice) {
        json_object_set_new(d, "tooLarge", json_true());
        json_object_set_new(d, "bytes", json_integer((json_int_t)e->new_bytes));
    }
    if (d && pid) json_object_set_new(d, "projectId", json_string(pid));
    char *txt = d ? bb_json_dumps(d, len) : NULL;
    json_decref(d);
    return txt;
}

/* With feed_mtx held. */
static void deliver(struct bdsrv_sub *sub, const char *coll, const struct bdsrv_ev *e)
{
    int in_old = visible(sub, e->old_doc), in_new = visible(sub, e->new_doc);
    if (!in_old && !in_new) return;
    const char *name = in_new ? (in_old ? "modified" : "added") : "removed";
    size_t len = 0;
    char *txt = event_text(coll, e, in_new, NULL, &len);
    if (!txt) return;
    char id[48];
    snprintf(id, sizeof id, "%" PRIu64 "-%" PRIu64, sub->inst->epoch, e->seq);
    int rc = bb_sse_send(sub->sse, name, id, txt, len);
    if (rc && rc != BB_ECLOSED)
        bb_debug("bundoc-server", "sse_send error=\"%s\"", bb_strerror(rc));
    free(txt);
}

void bdsrv_feed_emit(struct bdsrv *s, struct bdsrv_inst *inst, const char *coll, const char *op,
                     const char *id, const json_t *old_doc, const json_t *new_doc)
{
    pthread_mutex_lock(&inst->feed_mtx);
    struct bdsrv_ev e = {.seq = ++inst->seq};
    snprintf(e.op, sizeof e.op, "%s", op);
    e.id = strdup(id);
    e.old_doc = old_doc ? json_incref((json_t *)old_doc) : NULL;
    e.new_doc = new_doc ? json_incref((json_t *)new_doc) : NULL;
    if (!e.id) goto out;
    bb_counter_inc(s->met.events);
    /* the full data once (with projectId, as buncast gets it): measured against the limit and
     * published as is when it fits */
    size_t flen = 0;
    char *full = event_text(coll, &e, 1, inst->pid, &flen);
    if (full && new_doc && flen > s->max_event_bytes) {
        e.new_bytes = flen;
        bb_counter_inc(s->met.too_large);
        free(full);
        full = event_text(coll, &e, 1, inst->pid, &flen); /* the notice */
    }

    for (struct bdsrv_sub *sub = inst->subs; sub; sub = sub->next)
        if (!strcmp(sub->coll, coll)) deliver(sub, coll, &e);

    /* buncast: best effort, but in feed order (we hold feed_mtx) */
    if (s->bcast && bcast_client_connected(s->bcast)) {
        char topic[BDSRV_MAX_PROJECT_ID + BDOC_MAX_COLLECTION_LEN + 32];
        snprintf(topic, sizeof topic, "db.%s.collection.%s", inst->pid, coll);
        int rc = full ? bcast_client_publish_async(s->bcast, topic, "bundoc.change", full, flen,
                                                   200)
                      : BB_ENOMEM;
        if (rc) bb_counter_inc(s->met.publish_dropped);
    } else {
        bb_counter_inc(s->met.publish_dropped);
    }

    struct bdsrv_ring *r = ring_get(s, inst, coll, 1);
    if (r) {
        if (r->n == r->cap) {
            r->dropped_max = r->ev[r->head].seq;
            ev_clear(&r->ev[r->head]);
            r->head = (r->head + 1) % r->cap;
            r->n--;
        }
        r->ev[(r->head + r->n) % r->cap] = e;
        r->n++;
        memset(&e, 0, sizeof e);
    }
    free(full);
out:
    ev_clear(&e);
    pthread_mutex_unlock(&inst->feed_mtx);
}

void bdsrv_feed_rules_changed(struct bdsrv_inst *inst, const char *coll, const json_t *rules)
{
    pthread_mutex_lock(&inst->feed_mtx);
    for (struct bdsrv_sub *sub = inst->subs; sub; sub = sub->next) {
        if (strcmp(sub->coll, coll) != 0) continue;
        struct bdoc_ruleset *rs = NULL;
        if (rules && json_is_object(rules) && json_object_size(rules) &&
            bdoc_ruleset_compile(rules, &rs, NULL, 0) != 0) {
            /* cannot happen (the store compiled them first); fail closed */
            bb_sse_close(sub->sse);
            continue;
        }
        bdoc_ruleset_free(sub->rules);
        sub->rules = rs;
    }
    pthread_mutex_unlock(&inst->feed_mtx);
}

static void sub_free(struct bdsrv_sub *sub)
{
    free(sub->coll);
    bdoc_query_free(sub->q);
    bdoc_ruleset_free(sub->rules);
    json_decref(sub->auth);
    free(sub);
}

/* Loop thread (or the worker when the stream never started): unregister, release. */
static void on_sub_close(struct bb_sse *sse, void *arg)
{
    struct bdsrv_sub *sub = arg;
    struct bdsrv_inst *inst = sub->inst;
    pthread_mutex_lock(&inst->feed_mtx);
    for (struct bdsrv_sub **pp = &inst->subs; *pp; pp = &(*pp)->next)
        if (*pp == sub) {
            *pp = sub->next;
            inst->nsubs--;
            break;
        }
    pthread_mutex_unlock(&inst->feed_mtx);
    bb_gauge_dec(sub->s->met.subscribers);
    bdsrv_release(sub->s, inst);
    bb_sse_unref(sse);
    sub_free(sub);
}

/* "<epoch>-<seq>" → 0, or BB_EINVAL. */
static int parse_event_id(const char *s, uint64_t *epoch, uint64_t *seq)
{
    char *end;
    if (!s || !*s) return BB_EINVAL;
    unsigned long long a = strtoull(s, &end, 10);
    if (*end != '-') return BB_EINVAL;
    unsigned long long b = strtoull(end + 1, &end, 10);
    if (*end) return BB_EINVAL;
    *epoch = a;
    *seq = b;
    return 0;
}

int bdsrv_feed_subscribe(struct bdsrv *s, struct bdsrv_inst *inst, const char *coll,
                         const json_t *filter, const json_t *rules, int admin, const json_t *auth,
                         const char *last_event_id, struct bb_http_request *req,
                         struct bb_http_response *res, char *err, size_t errcap)
{
    int rc;
    struct bdsrv_sub *sub = calloc(1, sizeof *sub);
    if (!sub) return BB_ENOMEM;
    sub->s = s;
    sub->inst = inst;
    sub->admin = admin;
    sub->auth = auth ? json_incref((json_t *)auth) : NULL;
    sub->coll = strdup(coll);
    if (!sub->coll) {
        rc = BB_ENOMEM;
        goto fail;
    }
    if (filter && (rc = bdoc_query_compile(filter, &sub->q, err, errcap)) != 0) goto fail;
    if (rules && json_is_object(rules) && json_object_size(rules) &&
        (rc = bdoc_ruleset_compile(rules, &sub->rules, err, errcap)) != 0)
        goto fail;
    if ((rc = bb_sse_start(req, res, on_sub_close, sub, &sub->sse)) != 0) goto fail;
    /* from here on, on_sub_close owns sub and the inst reference */
    pthread_mutex_lock(&inst->feed_mtx);
    uint64_t epoch = 0, last = 0;
    if (last_event_id && *last_event_id) {
        struct bdsrv_ring *r = ring_get(s, inst, coll, 0);
        int ok = parse_event_id(last_event_id, &epoch, &last) == 0 && epoch == inst->epoch &&
                 last <= inst->seq && (!r || last >= r->dropped_max);
        if (ok && r) {
            for (size_t k = 0; k < r->n; k++) {
                const struct bdsrv_ev *e = &r->ev[(r->head + k) % r->cap];
                if (e->seq > last) deliver(sub, coll, e);
            }
        } else if (!ok) {
            char body[160];
            int n = snprintf(body, sizeof body,
                             "{\"reason\":\"events after %.48s are no longer available\"}",
                             last_event_id);
            bb_sse_send(sub->sse, "reset", NULL, body, (size_t)n);
        }
    }
    sub->next = inst->subs;
    inst->subs = sub;
    inst->nsubs++;
    pthread_mutex_unlock(&inst->feed_mtx);
    bb_gauge_inc(s->met.subscribers);
    return 0;
fail:
    sub_free(sub);
    return rc;
}
