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
 * Locks: t->mu guards the queue, the zone cache and the counters; never held while invoking or
 * touching SQLite.
 */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_time.h"
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
    pthread_mutex_lock(&t->mu);
    if (status < 200 || status >= 300) t->failed++;
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

/* Queues an invocation (body: borrowed, copied). 0, BB_ELIMIT (queue full: counted), BB_ENOMEM. */
static int enqueue(struct fn_triggers *t, const char *pid, const char *name, const char *trigger,
                   const char *body, size_t len)
{
    struct tjob *j = calloc(1, sizeof *j);
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
        else if (enqueue(t, pid, name, "cron", b, blen) != 0)
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
    pthread_mutex_unlock(&t->mu);
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
    pthread_cond_destroy(&t->idle);
    pthread_cond_destroy(&t->tick);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

json_t *fn_triggers_stats(struct fn_triggers *t)
{
    pthread_mutex_lock(&t->mu);
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I}", "fired", (json_int_t)t->fired, "queued",
                          (json_int_t)t->queued, "running", (json_int_t)t->running, "dropped",
                          (json_int_t)t->dropped, "failed", (json_int_t)t->failed);
    pthread_mutex_unlock(&t->mu);
    return o;
}
