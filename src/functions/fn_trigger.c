/* fn_trigger.c — invocations that no HTTP request starts: cron schedules (and the queue their
 * invocations run on). docs/functions.md ("Triggers") is the user's view.
 *
 * Cron: a clock thread looks at the wall clock every BUNBASE_FUNCTIONS_CRON_INTERVAL_MS; when the
 * minute (the "slot": minutes since the epoch, UTC) changes it runs one pass: every schedule of
 * an active function whose expression matches the slot's local time in the schedule's zone
 * (fn_cron.c: the zone files are read here, never through the process-wide TZ) is claimed in
 * SQLite (last_slot moves to the slot only when it is older: fn_store_cron_claim) and only then
 * queued. So a schedule fires at most once per slot, across passes, threads and restarts (the
 * claim is written before the invocation starts: an invocation cut by a crash is not run again).
 * Only the current slot is ever considered: after downtime the slots that passed are not caught
 * up (no burst of missed runs at start), the next matching minute fires as usual.
 *
 * Queue: fired invocations wait in a bounded FIFO (BUNBASE_FUNCTIONS_TRIGGER_QUEUE; full: the
 * fire is dropped, counted and logged) served by BUNBASE_FUNCTIONS_TRIGGER_WORKERS threads, which
 * call the service's invoke callback (the same pools, limits, logs and metrics as HTTP
 * invocations; the invocation's log says trigger "cron").
 *
 * Documents: one buncast subscription "db.>" (bundoc-server publishes every change as
 * db.<projectId>.collection.<collection>, CloudEvents data {op, collection, docId, doc,
 * projectId}). The callback (buncast's I/O thread) matches each event against the in-memory copy
 * of the document triggers (collection, operations) and records it once per matching function in
 * SQLite — INSERT OR IGNORE keyed by (event id, project, function): the dedup id — in the same
 * transaction as the cursor (the event id), from which the subscription resumes after a restart.
 * A dispatcher thread claims due deliveries (state running, attempt counted) as far as the queue
 * has room and queues them; a 2xx answer marks one done, anything else schedules a retry after
 * DOC_RETRY_MS · 2^(attempt-1) (at most DOC_RETRY_MAX_MS) until DOC_MAX_ATTEMPTS, then it is a
 * dead letter (kept with its last status and error). At start, deliveries a crash left running
 * go back to pending, marked redelivered (at least once; the function gets the same event id).
 *
 * Locks: t->mu guards the queue, the zone cache, the trigger table and the counters; never held
 * while invoking, touching SQLite or calling buncast.
 */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_time.h"
#include "buncast_client.h"
#include "fn_cron.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tjob {
    struct tjob *next;
    char pid[BB_IDENTITY_MAX_PROJECT_ID + 1], name[FN_NAME_MAX + 1];
    char trigger[16];
    char *body;
    size_t len;
    /* document deliveries */
    char event_id[64];
    int64_t attempt; /* this one, from 1 */
};

struct doc_trigger {
    char pid[BB_IDENTITY_MAX_PROJECT_ID + 1], name[FN_NAME_MAX + 1];
    char collection[256];
    int ops;
};

struct zone {
    struct zone *next;
    char name[FN_TZ_NAME_MAX + 1];
    struct fn_tz *tz; /* NULL: UTC */
};

#define MAX_TRIGGER_THREADS 64

struct fn_triggers {
    struct fn_triggers_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* queue not empty, or stopping */
    pthread_cond_t tick; /* the clock thread's sleep (monotonic), or stopping */
    pthread_cond_t idle; /* a job finished */
    struct tjob *head, *tail;
    size_t queued, running;
    int stopping;
    pthread_t threads[MAX_TRIGGER_THREADS];
    size_t nthreads;
    pthread_t clock;
    int clock_started;
    int64_t last_pass_slot;
    struct zone *zones;
    uint64_t fired, dropped, failed;
    /* documents */
    struct bcast_client *bc;
    int subscribed;
    pthread_t dispatcher;
    int dispatcher_started;
    pthread_cond_t dcv; /* the dispatcher's sleep: new events, a finished job, stopping */
    struct doc_trigger *docs;
    size_t ndocs;
    uint64_t received, recorded, duplicates, resets, delivered, retried, dead;
};

/* ------------------------------------------------------------------ queue */

static void job_free(struct tjob *j)
{
    if (!j) return;
    free(j->body);
    free(j);
}

static void run_job(struct fn_triggers *t, struct tjob *j)
{
    int status = t->o.invoke(t->o.arg, j->pid, j->name, j->trigger, j->body, j->len);
    int ok = status >= 200 && status < 300;
    if (j->event_id[0]) { /* a document delivery: done, retry later, or a dead letter */
        const struct fn_config *cfg = t->o.cfg;
        int64_t now = (int64_t)bb_time_wall_ms();
        const char *state = ok                                              ? "done"
                            : (uint64_t)j->attempt >= cfg->doc_max_attempts ? "dead"
                                                                            : "pending";
        uint64_t delay = cfg->doc_retry_ms;
        for (int64_t k = 1; k < j->attempt && delay < cfg->doc_retry_max_ms; k++)
            delay *= 2;
        if (delay > cfg->doc_retry_max_ms) delay = cfg->doc_retry_max_ms;
        char err[48];
        snprintf(err, sizeof err, "the function answered %d", status);
        fn_store_doc_finish(t->o.store, j->event_id, j->pid, j->name, state, status,
                            ok ? NULL : err, now + (int64_t)delay, now);
        pthread_mutex_lock(&t->mu);
        if (ok)
            t->delivered++;
        else if (!strcmp(state, "dead"))
            t->dead++;
        else
            t->retried++;
        pthread_mutex_unlock(&t->mu);
        if (!strcmp(state, "dead"))
            bb_log(BB_LOG_WARN, "functions",
                   "document event %s for %s/%s is a dead letter after %lld attempts (last "
                   "status %d)",
                   j->event_id, j->pid, j->name, (long long)j->attempt, status);
    }
    pthread_mutex_lock(&t->mu);
    if (!ok) t->failed++;
    pthread_cond_signal(&t->dcv); /* room in the queue */
    pthread_mutex_unlock(&t->mu);
}

static void *worker_main(void *arg)
{
    struct fn_triggers *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->head && !t->stopping)
            pthread_cond_wait(&t->cv, &t->mu);
        if (!t->head) break; /* stopping, nothing left */
        struct tjob *j = t->head;
        t->head = j->next;
        if (!t->head) t->tail = NULL;
        t->queued--;
        t->running++;
        pthread_mutex_unlock(&t->mu);
        run_job(t, j);
        job_free(j);
        pthread_mutex_lock(&t->mu);
        t->running--;
        pthread_cond_broadcast(&t->idle);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Queues an invocation (body: borrowed, copied; event_id NULL but for a document delivery). 0,
 * BB_ELIMIT (queue full: counted), BB_ENOMEM. */
static int enqueue(struct fn_triggers *t, const char *pid, const char *name, const char *trigger,
                   const char *body, size_t len, const char *event_id, int64_t attempt)
{
    struct tjob *j = calloc(1, sizeof *j);
    if (j && event_id) {
        snprintf(j->event_id, sizeof j->event_id, "%s", event_id);
        j->attempt = attempt;
    }
    if (!j || !(j->body = malloc(len + 1))) {
        free(j);
        return BB_ENOMEM;
    }
    memcpy(j->body, body, len);
    j->body[len] = '\0';
    j->len = len;
    snprintf(j->pid, sizeof j->pid, "%s", pid);
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->trigger, sizeof j->trigger, "%s", trigger);
    pthread_mutex_lock(&t->mu);
    if (t->queued >= t->o.cfg->trigger_queue || t->stopping) {
        t->dropped++;
        pthread_mutex_unlock(&t->mu);
        job_free(j);
        return BB_ELIMIT;
    }
    if (t->tail)
        t->tail->next = j;
    else
        t->head = j;
    t->tail = j;
    t->queued++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* ------------------------------------------------------------------ cron */

/* The zone of name, loaded once (NULL *out: UTC). 0 or the load's error. */
static int zone_get(struct fn_triggers *t, const char *name, const struct fn_tz **out)
{
    pthread_mutex_lock(&t->mu);
    for (struct zone *z = t->zones; z; z = z->next)
        if (!strcmp(z->name, name)) {
            *out = z->tz;
            pthread_mutex_unlock(&t->mu);
            return 0;
        }
    pthread_mutex_unlock(&t->mu);
    char err[160];
    struct fn_tz *tz = NULL;
    int rc = fn_tz_load(t->o.cfg->zoneinfo_dir, name, &tz, err, sizeof err);
    if (rc) return rc;
    struct zone *z = calloc(1, sizeof *z);
    if (!z) {
        fn_tz_free(tz);
        return BB_ENOMEM;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    z->tz = tz;
    pthread_mutex_lock(&t->mu);
    z->next = t->zones; /* a concurrent load of the same zone adds a twin: harmless */
    t->zones = z;
    pthread_mutex_unlock(&t->mu);
    *out = tz;
    return 0;
}

int fn_triggers_cron_pass(struct fn_triggers *t, int64_t now_ms, int run_inline, json_t **fired)
{
    int64_t slot = now_ms >= 0 ? now_ms / 60000 : (now_ms - 59999) / 60000;
    json_t *rows = NULL;
    int rc = fn_store_cron_all(t->o.store, &rows);
    if (rc) return rc;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *pid = json_string_value(json_object_get(r, "project_id"));
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *sched = json_string_value(json_object_get(r, "schedule"));
        const char *tzn = json_string_value(json_object_get(r, "timezone"));
        int64_t idx = json_integer_value(json_object_get(r, "idx"));
        int64_t last = json_integer_value(json_object_get(r, "last_slot"));
        if (!pid || !name || !sched || !tzn || last >= slot) continue;
        struct fn_cron c;
        char err[200];
        const struct fn_tz *tz = NULL;
        struct tm lt;
        if (fn_cron_parse(sched, &c, err, sizeof err) != 0 || zone_get(t, tzn, &tz) != 0 ||
            fn_tz_local(tz, slot * 60, &lt) != 0 || !fn_cron_match(&c, &lt))
            continue;
        if (fn_store_cron_claim(t->o.store, pid, name, idx, slot) != 0) continue; /* fired */
        json_t *body = json_pack("{s:s,s:s,s:s,s:I}", "type", "cron", "schedule", sched, "timezone",
                                 tzn[0] ? tzn : "UTC", "scheduled_ms", (json_int_t)(slot * 60000));
        size_t blen = 0;
        char *b = body ? bb_json_dumps(body, &blen) : NULL;
        json_decref(body);
        if (!b) continue;
        pthread_mutex_lock(&t->mu);
        t->fired++;
        pthread_mutex_unlock(&t->mu);
        int st = 0;
        if (run_inline)
            st = t->o.invoke(t->o.arg, pid, name, "cron", b, blen);
        else if (enqueue(t, pid, name, "cron", b, blen, NULL, 0) != 0)
            bb_log(BB_LOG_WARN, "functions",
                   "cron %s/%s \"%s\" dropped: BUNBASE_FUNCTIONS_TRIGGER_QUEUE is full", pid, name,
                   sched);
        free(b);
        json_array_append_new(out, json_pack("{s:s,s:s,s:I,s:i}", "project_id", pid, "name", name,
                                             "idx", (json_int_t)idx, "status", st));
    }
    json_decref(rows);
    if (fired)
        *fired = out;
    else
        json_decref(out);
    return 0;
}

static void *clock_main(void *arg)
{
    struct fn_triggers *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        struct timespec ts;
        bb_time_deadline(CLOCK_MONOTONIC, t->o.cfg->cron_interval_ms, &ts);
        pthread_cond_timedwait(&t->tick, &t->mu, &ts);
        if (t->stopping) break;
        int64_t now = (int64_t)bb_time_wall_ms();
        int64_t slot = now / 60000;
        if (slot == t->last_pass_slot) continue;
        t->last_pass_slot = slot;
        pthread_mutex_unlock(&t->mu);
        fn_triggers_cron_pass(t, now, 0, NULL);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ------------------------------------------------------------------ documents */

int fn_triggers_reload(struct fn_triggers *t)
{
    json_t *rows = NULL;
    int rc = fn_store_doc_all(t->o.store, &rows);
    if (rc) return rc;
    size_t n = json_array_size(rows);
    struct doc_trigger *d = calloc(n ? n : 1, sizeof *d);
    if (!d) {
        json_decref(rows);
        return BB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, i);
        snprintf(d[i].pid, sizeof d[i].pid, "%s",
                 json_string_value(json_object_get(r, "project_id")));
        snprintf(d[i].name, sizeof d[i].name, "%s", json_string_value(json_object_get(r, "name")));
        snprintf(d[i].collection, sizeof d[i].collection, "%s",
                 json_string_value(json_object_get(r, "collection")));
        d[i].ops = (int)json_integer_value(json_object_get(r, "ops"));
    }
    json_decref(rows);
    pthread_mutex_lock(&t->mu);
    free(t->docs);
    t->docs = d;
    t->ndocs = n;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* buncast's callback (its I/O thread): record the event for every function it triggers. */
static void on_event(void *arg, const struct bcast_message *m)
{
    struct fn_triggers *t = arg;
    if (m->reset) { /* events after our cursor are gone (topic not durable, or past retention) */
        pthread_mutex_lock(&t->mu);
        t->resets++;
        pthread_mutex_unlock(&t->mu);
        bb_log(BB_LOG_WARN, "functions",
               "document events may have been missed: buncast reset %s (make db. durable: "
               "BUNBASE_BUNCAST_DURABLE_PREFIXES)",
               m->event);
        return;
    }
    json_t *ev = NULL;
    char jerr[80];
    if (!m->id[0] || bb_json_parse(m->event, m->event_len, 64, &ev, jerr, sizeof jerr) != 0) return;
    json_t *data = json_object_get(ev, "data");
    const char *pid = json_string_value(json_object_get(data, "projectId"));
    const char *coll = json_string_value(json_object_get(data, "collection"));
    const char *op = json_string_value(json_object_get(data, "op"));
    int bit = op ? fn_doc_op_bit(op) : 0;
    const char *pids[64], *names[64];
    char pbuf[64][BB_IDENTITY_MAX_PROJECT_ID + 1], nbuf[64][FN_NAME_MAX + 1];
    size_t n = 0;
    pthread_mutex_lock(&t->mu);
    t->received++;
    for (size_t i = 0; pid && coll && bit && i < t->ndocs && n < 64; i++) {
        const struct doc_trigger *d = &t->docs[i];
        if ((d->ops & bit) && !strcmp(d->pid, pid) && !strcmp(d->collection, coll)) {
            int dup = 0; /* two triggers of one function on the same event: one delivery */
            for (size_t k = 0; k < n; k++)
                dup |= !strcmp(nbuf[k], d->name);
            if (dup) continue;
            snprintf(pbuf[n], sizeof pbuf[n], "%s", d->pid);
            snprintf(nbuf[n], sizeof nbuf[n], "%s", d->name);
            pids[n] = pbuf[n], names[n] = nbuf[n];
            n++;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (n) {
        size_t blen = 0, added = 0;
        char *body = bb_json_dumps(data, &blen);
        if (body && fn_store_doc_record(t->o.store, m->id, pids, names, n, body, blen,
                                        (int64_t)bb_time_wall_ms(), &added) == 0) {
            pthread_mutex_lock(&t->mu);
            t->recorded += added;
            t->duplicates += n - added;
            pthread_cond_signal(&t->dcv);
            pthread_mutex_unlock(&t->mu);
        } else
            bb_log(BB_LOG_ERROR, "functions", "document event %s not recorded", m->id);
        free(body);
    }
    json_decref(ev);
}

/* Queues the due deliveries the queue has room for. */
static void dispatch_due(struct fn_triggers *t)
{
    pthread_mutex_lock(&t->mu);
    size_t room = t->o.cfg->trigger_queue > t->queued ? t->o.cfg->trigger_queue - t->queued : 0;
    pthread_mutex_unlock(&t->mu);
    if (room > 64) room = 64;
    if (!room) return;
    json_t *rows = NULL;
    if (fn_store_doc_claim(t->o.store, (int64_t)bb_time_wall_ms(), room, &rows) != 0) return;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "event_id"));
        const char *data = json_string_value(json_object_get(r, "body"));
        if (!id || !data) continue;
        int64_t attempt = json_integer_value(json_object_get(r, "attempts")) + 1;
        int redelivered = json_integer_value(json_object_get(r, "redelivered")) != 0;
        size_t cap = strlen(data) + strlen(id) + 160;
        char *body = malloc(cap);
        if (!body) continue;
        int n = snprintf(body, cap,
                         "{\"type\":\"document\",\"id\":\"%s\",\"attempt\":%lld,"
                         "\"redelivered\":%s,\"event\":%s}",
                         id, (long long)attempt, redelivered ? "true" : "false", data);
        if (enqueue(t, json_string_value(json_object_get(r, "project_id")),
                    json_string_value(json_object_get(r, "name")), "document", body, (size_t)n, id,
                    attempt) != 0) /* cannot happen (room), but never lose it: retry */
            fn_store_doc_finish(t->o.store, id, json_string_value(json_object_get(r, "project_id")),
                                json_string_value(json_object_get(r, "name")), "pending", 0,
                                "queue full", (int64_t)bb_time_wall_ms() + 1000,
                                (int64_t)bb_time_wall_ms());
        free(body);
    }
    json_decref(rows);
}

static void *dispatcher_main(void *arg)
{
    struct fn_triggers *t = arg;
    for (;;) {
        pthread_mutex_lock(&t->mu);
        if (t->stopping) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        int sub = t->subscribed;
        pthread_mutex_unlock(&t->mu);
        if (!sub && t->bc) { /* from the cursor: what came after the last recorded event */
            char cursor[64];
            fn_store_doc_cursor(t->o.store, cursor, sizeof cursor);
            if (bcast_client_subscribe(t->bc, "db.>", cursor[0] ? cursor : NULL, on_event, t, NULL,
                                       500) == 0) {
                pthread_mutex_lock(&t->mu);
                t->subscribed = 1;
                pthread_mutex_unlock(&t->mu);
            }
        }
        dispatch_due(t);
        pthread_mutex_lock(&t->mu);
        if (!t->stopping) {
            struct timespec ts;
            bb_time_deadline(CLOCK_MONOTONIC, 200, &ts);
            pthread_cond_timedwait(&t->dcv, &t->mu, &ts);
        }
        pthread_mutex_unlock(&t->mu);
    }
    return NULL;
}

/* ------------------------------------------------------------------ lifecycle */

int fn_triggers_new(const struct fn_triggers_opts *o, struct fn_triggers **out)
{
    struct fn_triggers *t = calloc(1, sizeof *t);
    if (!t) return BB_ENOMEM;
    t->o = *o;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->tick, &ca);
    pthread_cond_init(&t->dcv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&t->cv, NULL);
    pthread_cond_init(&t->idle, NULL);
    size_t n = o->cfg->trigger_workers;
    if (n > MAX_TRIGGER_THREADS) n = MAX_TRIGGER_THREADS;
    for (; t->nthreads < n; t->nthreads++)
        if (pthread_create(&t->threads[t->nthreads], NULL, worker_main, t) != 0) break;
    if (t->nthreads < n ||
        (o->cfg->cron_interval_ms &&
         !(t->clock_started = pthread_create(&t->clock, NULL, clock_main, t) == 0))) {
        fn_triggers_free(t);
        return BB_EIO;
    }
    /* documents: deliveries a crash left running are pending again, the triggers in memory,
     * then the subscription (by the dispatcher, which retries until buncast answers) */
    if (fn_store_doc_recover(o->store) != 0 || fn_triggers_reload(t) != 0) {
        fn_triggers_free(t);
        return BB_EIO;
    }
    if (o->buncast_addr && o->buncast_addr[0]) {
        struct bcast_client_opts bo = {
            .source = "functions", .reconnect_max_ms = 500, .token = o->token};
        if (bcast_client_new(&t->bc, o->buncast_addr, &bo) != 0) t->bc = NULL;
    }
    if (pthread_create(&t->dispatcher, NULL, dispatcher_main, t) != 0) {
        fn_triggers_free(t);
        return BB_EIO;
    }
    t->dispatcher_started = 1;
    *out = t;
    return 0;
}

void fn_triggers_free(struct fn_triggers *t)
{
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stopping = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_cond_broadcast(&t->tick);
    pthread_cond_broadcast(&t->dcv);
    pthread_mutex_unlock(&t->mu);
    if (t->dispatcher_started) pthread_join(t->dispatcher, NULL);
    bcast_client_free(t->bc); /* no callback runs after this */
    t->bc = NULL;
    if (t->clock_started) pthread_join(t->clock, NULL);
    for (size_t i = 0; i < t->nthreads; i++) /* they finish what is queued (bounded) */
        pthread_join(t->threads[i], NULL);
    while (t->head) {
        struct tjob *j = t->head;
        t->head = j->next;
        job_free(j);
    }
    while (t->zones) {
        struct zone *z = t->zones;
        t->zones = z->next;
        fn_tz_free(z->tz);
        free(z);
    }
    free(t->docs);
    pthread_cond_destroy(&t->idle);
    pthread_cond_destroy(&t->dcv);
    pthread_cond_destroy(&t->tick);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

json_t *fn_triggers_stats(struct fn_triggers *t)
{
    pthread_mutex_lock(&t->mu);
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "fired", (json_int_t)t->fired,
        "queued", (json_int_t)t->queued, "running", (json_int_t)t->running, "dropped",
        (json_int_t)t->dropped, "failed", (json_int_t)t->failed, "documents", "subscribed",
        t->subscribed, "received", (json_int_t)t->received, "recorded", (json_int_t)t->recorded,
        "duplicates", (json_int_t)t->duplicates, "resets", (json_int_t)t->resets, "delivered",
        (json_int_t)t->delivered, "retried", (json_int_t)t->retried, "dead", (json_int_t)t->dead);
    pthread_mutex_unlock(&t->mu);
    return o;
}
