/* fn_store.c — the functions service's metadata, invocation logs and per-minute metrics in SQLite
 * (Debian's libsqlite3, WAL): <data>/functions/functions.db. One connection behind a mutex (the
 * writes are small; invocations record one row each).
 *
 * Tables:
 *   functions(project_id, name, active_version, created_ms, updated_ms)      PK (project_id, name)
 *   versions(project_id, name, version, sha256, size, created_ms)   PK (project_id, name, version)
 *   invocations(id, project_id, name, version, started_ms, duration_ms, status, cold, error, logs)
 *   metrics(project_id, name, minute, count, errors, cold, total_ms)   PK (project_id, name,
 * minute) Retention: fn_store_retention deletes invocations and metrics older than the cutoff.
 *
 *   env(project_id, name, nonce, sealed, names)                                PK (project_id,
 * name) a function's variables (one JSON object): sealed here with libsodium (nonce and sealed
 *     set), or kept in bun-kms (nonce and sealed empty: the secret fn.<name>.env in the
 *     project's namespace) when bun-kms runs in this process; names in clear for GET …/env.
 *
 * Invocation records are queued (fn_store_record, bounded: a full queue drops and counts) and
 * written by the store's writer thread, many per transaction, off the request path;
 * fn_store_flush waits until what was queued before it is written (the logs and metrics routes
 * call it, so a caller reads its own invocations).
 */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_time.h"

#include "bb_crypto.h"
#include "bb_fs.h"
#include "bb_json.h"
#include "bun_kms.h"

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
    struct rec *next;
    struct fn_invocation inv; /* its strings point into the allocations below */
    char *pid, *name, *error, *logs;
};

struct fn_store {
    sqlite3 *db;
    uint8_t key[crypto_secretbox_KEYBYTES]; /* seals the environments (<dir>/env.key, hex) */
    pthread_mutex_t mu;                     /* the connection */
    struct bun_kms *kms; /* bun-kms in this process (the variables' home), or NULL */
    /* the record queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcv, donecv;
    struct rec *head, *tail;
    size_t queued, max_queued;
    uint64_t enqueued, written, dropped;
    int stopping, writer_started;
    int flushing; /* fn_store_flush callers waiting: the writer does not linger */
    pthread_t writer;
};

/* The writer lingers this long after the first record of a batch, so that a busy function's
 * invocations are written many per transaction (one each, they cost more than the invocation's
 * own work on the service side); a flush, a half-full queue or stopping cuts it short. */
#define FN_STORE_LINGER_MS 5

static int write_records(struct fn_store *s, struct rec *list);

static void rec_free(struct rec *r)
{
    free(r->pid), free(r->name), free(r->error), free(r->logs);
    free(r);
}

static void *writer_main(void *arg)
{
    struct fn_store *s = arg;
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->qcv, &s->qmu);
        if (!s->head && s->stopping) break;
        struct timespec until;
        bb_time_deadline(CLOCK_REALTIME, FN_STORE_LINGER_MS, &until);
        while (!s->stopping && !s->flushing && s->queued < s->max_queued / 2 &&
               pthread_cond_timedwait(&s->qcv, &s->qmu, &until) == 0) {
        }
        struct rec *list = s->head;
        size_t n = s->queued;
        s->head = s->tail = NULL;
        s->queued = 0;
        pthread_mutex_unlock(&s->qmu);
        write_records(s, list);
        while (list) {
            struct rec *nx = list->next;
            rec_free(list);
            list = nx;
        }
        pthread_mutex_lock(&s->qmu);
        s->written += n;
        pthread_cond_broadcast(&s->donecv);
    }
    pthread_mutex_unlock(&s->qmu);
    return NULL;
}

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS functions(project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " active_version INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL, PRIMARY KEY(project_id, name));"
    "CREATE TABLE IF NOT EXISTS versions(project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " version INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, runtime TEXT NOT NULL DEFAULT 'quickjs',"
    " PRIMARY KEY(project_id, name, version));"
    "CREATE TABLE IF NOT EXISTS invocations(id TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
    " name TEXT NOT NULL, version INTEGER NOT NULL, started_ms INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL, status INTEGER NOT NULL, cold INTEGER NOT NULL,"
    " error TEXT, logs TEXT);"
    "CREATE INDEX IF NOT EXISTS invocations_fn ON invocations(project_id, name, started_ms);"
    "CREATE INDEX IF NOT EXISTS invocations_time ON invocations(started_ms);"
    "CREATE TABLE IF NOT EXISTS env(project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " nonce BLOB NOT NULL, sealed BLOB NOT NULL, names TEXT NOT NULL,"
    " PRIMARY KEY(project_id, name));"
    "CREATE TABLE IF NOT EXISTS cron(project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " idx INTEGER NOT NULL, schedule TEXT NOT NULL, timezone TEXT NOT NULL,"
    " last_slot INTEGER NOT NULL, PRIMARY KEY(project_id, name, idx));"
    "CREATE TABLE IF NOT EXISTS doc_triggers(project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " idx INTEGER NOT NULL, collection TEXT NOT NULL, ops INTEGER NOT NULL,"
    " PRIMARY KEY(project_id, name, idx));"
    "CREATE TABLE IF NOT EXISTS doc_deliveries(event_id TEXT NOT NULL, project_id TEXT NOT NULL,"
    " name TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " next_ms INTEGER NOT NULL, redelivered INTEGER NOT NULL DEFAULT 0, last_status INTEGER,"
    " last_error TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(event_id, project_id, name));"
    "CREATE INDEX IF NOT EXISTS doc_deliveries_due ON doc_deliveries(state, next_ms);"
    "CREATE INDEX IF NOT EXISTS doc_deliveries_open ON doc_deliveries(project_id, name)"
    " WHERE state IN ('pending','running');"
    "CREATE TABLE IF NOT EXISTS state(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS metrics(project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " minute INTEGER NOT NULL, count INTEGER NOT NULL, errors INTEGER NOT NULL,"
    " cold INTEGER NOT NULL, total_ms INTEGER NOT NULL, PRIMARY KEY(project_id, name, minute));";

int fn_store_open(const char *dir, size_t max_queued, struct fn_store **out, char *err,
                  size_t errcap)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/functions.db", dir);
    struct fn_store *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    pthread_cond_init(&s->donecv, NULL);
    s->max_queued = max_queued;
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(s->db, 5000);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, schema, NULL, NULL, &msg);
    if (rc == SQLITE_OK) /* a database of before the runtime column (fails when it is there) */
        sqlite3_exec(s->db,
                     "ALTER TABLE versions ADD COLUMN runtime TEXT NOT NULL DEFAULT 'quickjs'",
                     NULL, NULL, NULL);
    if (rc == SQLITE_OK) /* before the trigger column (fails when it is there) */
        sqlite3_exec(s->db, "ALTER TABLE invocations ADD COLUMN trigger TEXT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errcap, "functions: cannot open %s: %s", path,
                 msg     ? msg
                 : s->db ? sqlite3_errmsg(s->db)
                         : "?");
        sqlite3_free(msg);
        fn_store_close(s);
        return BB_EIO;
    }
    /* the environments' key: created once (0600, hex), never leaves this file and memory */
    char kpath[1200], khex[2 * sizeof s->key + 2];
    snprintf(kpath, sizeof kpath, "%s/env.key", dir);
    size_t klen = 0, kbin = 0;
    if (sodium_init() < 0) {
        snprintf(err, errcap, "functions: libsodium failed to initialise");
        fn_store_close(s);
        return BB_EIO;
    }
    int kr = bb_fs_read_small(kpath, khex, sizeof khex, &klen);
    if (kr == 0) {
        if (bb_hex_decode(khex, klen, s->key, sizeof s->key, &kbin) != 0 || kbin != sizeof s->key) {
            snprintf(err, errcap, "functions: %s is not a %zu-byte hex key", kpath, sizeof s->key);
            fn_store_close(s);
            return BB_EIO;
        }
    } else {
        randombytes_buf(s->key, sizeof s->key);
        bb_hex_encode(s->key, sizeof s->key, khex, sizeof khex);
        if (bb_fs_write_atomic(kpath, khex, strlen(khex), 0600) != 0) {
            snprintf(err, errcap, "functions: cannot write %s", kpath);
            fn_store_close(s);
            return BB_EIO;
        }
    }
    sodium_memzero(khex, sizeof khex);
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        snprintf(err, errcap, "functions: cannot start the log writer");
        fn_store_close(s);
        return BB_EIO;
    }
    s->writer_started = 1;
    *out = s;
    return 0;
}

void fn_store_close(struct fn_store *s)
{
    if (!s) return;
    if (s->writer_started) { /* writes what is queued, then ends */
        pthread_mutex_lock(&s->qmu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->qcv);
        pthread_mutex_unlock(&s->qmu);
        pthread_join(s->writer, NULL);
    }
    if (s->db) sqlite3_close(s->db);
    sodium_memzero(s->key, sizeof s->key);
    pthread_cond_destroy(&s->qcv);
    pthread_cond_destroy(&s->donecv);
    pthread_mutex_destroy(&s->qmu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static char *dup_or_null(const char *p, size_t n)
{
    return p ? strndup(p, n) : NULL;
}

int fn_store_record(struct fn_store *s, const struct fn_invocation *inv)
{
    struct rec *r = calloc(1, sizeof *r);
    if (!r) return BB_ENOMEM;
    r->inv = *inv;
    r->pid = strdup(inv->project_id);
    r->name = strdup(inv->name);
    r->error = inv->error ? strdup(inv->error) : NULL;
    r->logs = dup_or_null(inv->logs, inv->logs_len);
    if (!r->pid || !r->name || (inv->error && !r->error) || (inv->logs && !r->logs)) {
        rec_free(r);
        return BB_ENOMEM;
    }
    r->inv.project_id = r->pid, r->inv.name = r->name, r->inv.error = r->error;
    r->inv.logs = r->logs;
    pthread_mutex_lock(&s->qmu);
    if (s->queued >= s->max_queued) {
        s->dropped++;
        pthread_mutex_unlock(&s->qmu);
        rec_free(r);
        return BB_ELIMIT;
    }
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->queued++;
    s->enqueued++;
    if (s->queued == 1 || s->queued == s->max_queued / 2) /* the writer sleeps, or lingers */
        pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    return 0;
}

void fn_store_flush(struct fn_store *s)
{
    pthread_mutex_lock(&s->qmu);
    uint64_t target = s->enqueued;
    s->flushing++;
    pthread_cond_signal(&s->qcv);
    while (s->written < target && !s->stopping)
        pthread_cond_wait(&s->donecv, &s->qmu);
    s->flushing--;
    pthread_mutex_unlock(&s->qmu);
}

uint64_t fn_store_dropped(struct fn_store *s)
{
    pthread_mutex_lock(&s->qmu);
    uint64_t d = s->dropped;
    pthread_mutex_unlock(&s->qmu);
    return d;
}

/* Prepares sql and binds text parameters (NULL-terminated list of strings). */
static sqlite3_stmt *prep(struct fn_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    return st;
}

static int exec_simple(struct fn_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : BB_EIO;
}

int fn_store_add_version(struct fn_store *s, const char *pid, const char *name, const char *sha,
                         int64_t size, int runtime, uint64_t max_functions, int activate,
                         int64_t *version, int *created)
{
    const char *rt = fn_runtime_name(runtime);
    int rc = BB_EIO;
    int64_t now = (int64_t)bb_time_wall_ms();
    pthread_mutex_lock(&s->mu);
    if (exec_simple(s, "BEGIN IMMEDIATE")) goto out_unlocked_tx;
    sqlite3_stmt *st = prep(s, "SELECT 1 FROM functions WHERE project_id=?1 AND name=?2");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!exists) {
        st = prep(s, "SELECT count(*) FROM functions WHERE project_id=?1");
        if (!st) goto out;
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if ((uint64_t)n >= max_functions) {
            rc = BB_ELIMIT;
            goto out;
        }
        st = prep(s, "INSERT INTO functions(project_id, name, active_version, created_ms, "
                     "updated_ms) VALUES(?1, ?2, 0, ?3, ?3)");
        if (!st) goto out;
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!ok) goto out;
    }
    /* the same content as an existing version: that version (content-hashed deploys) */
    st = prep(s, "SELECT version FROM versions WHERE project_id=?1 AND name=?2 AND sha256=?3 "
                 "AND runtime=?4 ORDER BY version DESC LIMIT 1");
    if (!st) goto out;
    sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rt, -1, SQLITE_STATIC);
    int64_t v = 0;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    *created = v == 0;
    if (!v) {
        st = prep(s, "SELECT coalesce(max(version), 0) + 1 FROM versions WHERE project_id=?1 AND "
                     "name=?2");
        if (!st) goto out;
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
        sqlite3_finalize(st);
        st = prep(s, "INSERT INTO versions(project_id, name, version, sha256, size, created_ms, "
                     "runtime) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        if (!st) goto out;
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, v);
        sqlite3_bind_text(st, 4, sha, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, size);
        sqlite3_bind_int64(st, 6, now);
        sqlite3_bind_text(st, 7, rt, -1, SQLITE_STATIC);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!ok) goto out;
    }
    if (activate) {
        st = prep(s, "UPDATE functions SET active_version=?3, updated_ms=?4 WHERE project_id=?1 "
                     "AND name=?2");
        if (!st) goto out;
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, v);
        sqlite3_bind_int64(st, 4, now);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!ok) goto out;
    }
    *version = v;
    rc = 0;
out:
    exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
out_unlocked_tx:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_active(struct fn_store *s, const char *pid, const char *name, int64_t *version,
                    int *runtime)
{
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "SELECT f.active_version, v.runtime FROM functions f LEFT JOIN "
                               "versions v ON v.project_id=f.project_id AND v.name=f.name AND "
                               "v.version=f.active_version WHERE f.project_id=?1 AND f.name=?2");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            *version = sqlite3_column_int64(st, 0);
            const unsigned char *rt = sqlite3_column_text(st, 1);
            if (runtime)
                *runtime =
                    rt && !strcmp((const char *)rt, "bun") ? FN_RUNTIME_BUN : FN_RUNTIME_QUICKJS;
            rc = 0;
        } else if (r == SQLITE_DONE)
            rc = BB_ENOTFOUND;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_activate(struct fn_store *s, const char *pid, const char *name, int64_t version)
{
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "UPDATE functions SET active_version=?3, updated_ms=?4 WHERE "
                               "project_id=?1 AND name=?2 AND EXISTS (SELECT 1 FROM versions "
                               "WHERE project_id=?1 AND name=?2 AND version=?3)");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, version);
        sqlite3_bind_int64(st, 4, (int64_t)bb_time_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = sqlite3_changes(s->db) ? 0 : BB_ENOTFOUND;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_previous(struct fn_store *s, const char *pid, const char *name, int64_t *version)
{
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "SELECT max(v.version) FROM versions v JOIN functions f ON "
                               "f.project_id=v.project_id AND f.name=v.name WHERE "
                               "v.project_id=?1 AND v.name=?2 AND v.version < f.active_version");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) == SQLITE_NULL)
                rc = BB_ENOTFOUND;
            else {
                *version = sqlite3_column_int64(st, 0);
                rc = 0;
            }
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Rows of st as an array of objects, column names as keys (integers, text, NULL). */
static json_t *rows_json(sqlite3_stmt *st)
{
    json_t *arr = json_array();
    while (arr && sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object();
        int nc = sqlite3_column_count(st);
        for (int i = 0; i < nc; i++) {
            const char *k = sqlite3_column_name(st, i);
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                json_object_set_new(o, k, json_integer(sqlite3_column_int64(st, i)));
                break;
            case SQLITE_NULL:
                json_object_set_new(o, k, json_null());
                break;
            default:
                json_object_set_new(o, k,
                                    json_stringn((const char *)sqlite3_column_text(st, i),
                                                 (size_t)sqlite3_column_bytes(st, i)));
            }
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The rows of sql as [{column: value}], binding ?1 = pid and ?2 = name when not NULL and ?3 = n
 * when the statement has it. */
static int query_json(struct fn_store *s, const char *sql, const char *pid, const char *name,
                      int64_t n, json_t **out)
{
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, sql);
    if (st) {
        if (pid) sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        if (name) sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= 3) sqlite3_bind_int64(st, 3, n);
        *out = rows_json(st);
        rc = *out ? 0 : BB_ENOMEM;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

#define FN_COLS                                                                                    \
    "f.name AS name, f.active_version AS active_version, f.created_ms AS created_ms, "             \
    "f.updated_ms AS updated_ms, v.runtime AS runtime, v.sha256 AS sha256, v.size AS size, "       \
    "(SELECT count(*) FROM versions x WHERE x.project_id=f.project_id AND x.name=f.name) AS "      \
    "versions"

int fn_store_get(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    json_t *arr = NULL;
    int rc = query_json(s,
                        "SELECT " FN_COLS " FROM functions f LEFT JOIN versions v ON "
                        "v.project_id=f.project_id AND v.name=f.name AND "
                        "v.version=f.active_version WHERE f.project_id=?1 AND f.name=?2",
                        pid, name, 0, &arr);
    if (rc) return rc;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return BB_ENOTFOUND;
    }
    *out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return 0;
}

int fn_store_list(struct fn_store *s, const char *pid, json_t **out)
{
    return query_json(s,
                      "SELECT " FN_COLS " FROM functions f LEFT JOIN versions v ON "
                      "v.project_id=f.project_id AND v.name=f.name AND "
                      "v.version=f.active_version WHERE f.project_id=?1 ORDER BY f.name",
                      pid, NULL, 0, out);
}

int fn_store_versions(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    return query_json(s,
                      "SELECT v.version AS version, v.runtime AS runtime, v.sha256 AS sha256, "
                      "v.size AS size, v.created_ms AS created_ms, "
                      "(v.version = f.active_version) AS active "
                      "FROM versions v JOIN functions f ON f.project_id=v.project_id AND "
                      "f.name=v.name WHERE v.project_id=?1 AND v.name=?2 ORDER BY v.version DESC",
                      pid, name, 0, out);
}

int fn_store_logs(struct fn_store *s, const char *pid, const char *name, int64_t limit,
                  json_t **out)
{
    return query_json(s,
                      "SELECT id, version, started_ms, duration_ms, status, cold, error, logs, "
                      "coalesce(trigger, 'http') AS trigger FROM invocations WHERE project_id=?1 "
                      "AND name=?2 ORDER BY started_ms "
                      "DESC, id DESC LIMIT ?3",
                      pid, name, limit, out);
}

int fn_store_metrics(struct fn_store *s, const char *pid, const char *name, int64_t minutes,
                     json_t **out)
{
    return query_json(s,
                      "SELECT minute * 60000 AS minute_ms, count, errors, cold, total_ms FROM "
                      "metrics WHERE project_id=?1 AND name=?2 ORDER BY minute DESC LIMIT ?3",
                      pid, name, minutes, out);
}

int fn_store_delete(struct fn_store *s, const char *pid, const char *name)
{
    static const char *const sql[] = {
        "DELETE FROM functions WHERE project_id=?1 AND name=?2",
        "DELETE FROM versions WHERE project_id=?1 AND name=?2",
        "DELETE FROM invocations WHERE project_id=?1 AND name=?2",
        "DELETE FROM metrics WHERE project_id=?1 AND name=?2",
        "DELETE FROM env WHERE project_id=?1 AND name=?2",
        "DELETE FROM cron WHERE project_id=?1 AND name=?2",
        "DELETE FROM doc_triggers WHERE project_id=?1 AND name=?2",
        "DELETE FROM doc_deliveries WHERE project_id=?1 AND name=?2",
    };
    pthread_mutex_lock(&s->mu);
    int rc = exec_simple(s, "BEGIN IMMEDIATE");
    int found = 0;
    for (size_t i = 0; rc == 0 && i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st = prep(s, sql[i]);
        if (!st) {
            rc = BB_EIO;
            break;
        }
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        if (i == 0) found = sqlite3_changes(s->db) > 0;
        sqlite3_finalize(st);
    }
    if (rc == 0 && !found) rc = BB_ENOTFOUND;
    exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_prune_versions(struct fn_store *s, const char *pid, const char *name, uint64_t keep,
                            int64_t *out, size_t cap, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "SELECT v.version FROM versions v JOIN functions f ON "
                               "f.project_id=v.project_id AND f.name=v.name WHERE "
                               "v.project_id=?1 AND v.name=?2 AND v.version <> f.active_version "
                               "ORDER BY v.version DESC LIMIT -1 OFFSET ?3");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, keep ? (int64_t)keep - 1 : 0);
        while (*n < cap && sqlite3_step(st) == SQLITE_ROW)
            out[(*n)++] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        rc = 0;
        for (size_t i = 0; i < *n; i++) {
            st = prep(s, "DELETE FROM versions WHERE project_id=?1 AND name=?2 AND version=?3");
            if (!st) break;
            sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, out[i]);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* One invocation into the batch's two prepared statements (reset after each row). */
static int write_one(sqlite3_stmt *ins, sqlite3_stmt *met, const struct fn_invocation *inv)
{
    int rc = 0;
    sqlite3_bind_text(ins, 1, inv->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, inv->project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, inv->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, inv->version);
    sqlite3_bind_int64(ins, 5, inv->started_ms);
    sqlite3_bind_int64(ins, 6, inv->duration_ms);
    sqlite3_bind_int(ins, 7, inv->status);
    sqlite3_bind_int(ins, 8, inv->cold);
    if (inv->error)
        sqlite3_bind_text(ins, 9, inv->error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(ins, 9);
    if (inv->logs)
        sqlite3_bind_text(ins, 10, inv->logs, (int)inv->logs_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(ins, 10);
    sqlite3_bind_text(ins, 11, inv->trigger[0] ? inv->trigger : "http", -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) rc = BB_EIO;
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    sqlite3_bind_text(met, 1, inv->project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(met, 2, inv->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(met, 3, inv->started_ms / 60000);
    sqlite3_bind_int(met, 4, inv->error || inv->status >= 500 ? 1 : 0);
    sqlite3_bind_int(met, 5, inv->cold);
    sqlite3_bind_int64(met, 6, inv->duration_ms);
    if (sqlite3_step(met) != SQLITE_DONE) rc = BB_EIO;
    sqlite3_reset(met);
    return rc;
}

/* One transaction for the whole list (the writer thread), the statements prepared once. */
static int write_records(struct fn_store *s, struct rec *list)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *ins = prep(s, "INSERT INTO invocations(id, project_id, name, version, "
                                "started_ms, duration_ms, status, cold, error, logs, trigger) "
                                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    sqlite3_stmt *met =
        prep(s, "INSERT INTO metrics(project_id, name, minute, count, errors, cold, "
                "total_ms) VALUES(?1, ?2, ?3, 1, ?4, ?5, ?6) ON CONFLICT(project_id, "
                "name, minute) DO UPDATE SET count=count+1, "
                "errors=errors+excluded.errors, cold=cold+excluded.cold, "
                "total_ms=total_ms+excluded.total_ms");
    int rc = ins && met ? exec_simple(s, "BEGIN IMMEDIATE") : BB_EIO;
    for (struct rec *r = list; rc == 0 && r; r = r->next)
        if (write_one(ins, met, &r->inv) != 0) rc = BB_EIO;
    if (ins && met) exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
    sqlite3_finalize(ins);
    sqlite3_finalize(met);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_retention(struct fn_store *s, int64_t cutoff_ms)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    sqlite3_stmt *st = prep(s, "DELETE FROM invocations WHERE started_ms < ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, cutoff_ms);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    st = prep(s, "DELETE FROM doc_deliveries WHERE state='done' AND updated_ms < ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, cutoff_ms);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    st = prep(s, "DELETE FROM metrics WHERE minute < ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, cutoff_ms / 60000);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void fn_store_set_kms(struct fn_store *s, struct bun_kms *kms)
{
    s->kms = kms;
}

/* The bun-kms secret holding a function's variables: fn.<name>.env in the project's namespace. */
static void kms_name(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "fn.%s.env", name);
}

/* Writes the env row: sealed (nonce + sealed) or in bun-kms (both empty). */
static int env_row(struct fn_store *s, const char *pid, const char *name, const uint8_t *nonce,
                   size_t nn, const uint8_t *sealed, size_t sn, const char *ntext)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st =
        prep(s, ntext ? "INSERT INTO env(project_id, name, nonce, sealed, names) "
                        "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(project_id, name) DO "
                        "UPDATE SET nonce=excluded.nonce, sealed=excluded.sealed, "
                        "names=excluded.names"
                      : "UPDATE env SET nonce=?3, sealed=?4 WHERE project_id=?1 "
                        "AND name=?2");
    int rc = BB_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, nn ? (const void *)nonce : "", (int)nn, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, sn ? (const void *)sealed : "", (int)sn, SQLITE_STATIC);
        if (ntext) sqlite3_bind_text(st, 5, ntext, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_env_set(struct fn_store *s, const char *pid, const char *name, const json_t *env,
                     char *err, size_t errcap)
{
    size_t plen = 0;
    char *plain = bb_json_dumps(env, &plen);
    json_t *names = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)env, k, v) json_array_append_new(names, json_string(k));
    char *ntext = names ? bb_json_dumps(names, NULL) : NULL;
    json_decref(names);
    uint8_t nonce[crypto_secretbox_NONCEBYTES];
    uint8_t *sealed = plain && !s->kms ? malloc(plen + crypto_secretbox_MACBYTES) : NULL;
    int rc = BB_ENOMEM;
    if (plain && ntext && s->kms) { /* in bun-kms (a new version of the secret), then the row */
        char kn[BUN_KMS_NAME_MAX + 1];
        kms_name(name, kn, sizeof kn);
        rc = bun_kms_secret_put(s->kms, bun_kms_system_identity(), pid, kn, plain, plen, NULL, err,
                                errcap);
        if (rc == 0) rc = env_row(s, pid, name, NULL, 0, NULL, 0, ntext);
    } else if (plain && sealed && ntext) {
        randombytes_buf(nonce, sizeof nonce);
        crypto_secretbox_easy(sealed, (const uint8_t *)plain, plen, nonce, s->key);
        rc = env_row(s, pid, name, nonce, sizeof nonce, sealed, plen + crypto_secretbox_MACBYTES,
                     ntext);
    }
    if (plain) sodium_memzero(plain, plen);
    free(plain), free(sealed), free(ntext);
    return rc;
}

/* The variables of a row in bun-kms: 0 with *out, BB_EUNAVAIL without bun-kms here. */
static int env_from_kms(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    if (!s->kms) return BB_EUNAVAIL;
    char kn[BUN_KMS_NAME_MAX + 1], e[160];
    kms_name(name, kn, sizeof kn);
    void *v = NULL;
    size_t vl = 0;
    int rc =
        bun_kms_secret_get(s->kms, bun_kms_system_identity(), pid, kn, 0, &v, &vl, e, sizeof e);
    if (rc == BB_ENOTFOUND) {
        *out = json_object();
        return *out ? 0 : BB_ENOMEM;
    }
    if (rc) return rc;
    rc = bb_json_parse(v, vl, 4, out, e, sizeof e) == 0 && json_is_object(*out) ? 0 : BB_EIO;
    sodium_memzero(v, vl);
    free(v);
    return rc;
}

int fn_store_env_get(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    *out = NULL;
    int in_kms = 0;
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "SELECT nonce, sealed FROM env WHERE project_id=?1 AND name=?2");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE) {
            *out = json_object();
            rc = *out ? 0 : BB_ENOMEM;
        } else if (r == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 0) {
            in_kms = 1;
        } else if (r == SQLITE_ROW && sqlite3_column_bytes(st, 0) == crypto_secretbox_NONCEBYTES &&
                   sqlite3_column_bytes(st, 1) >= (int)crypto_secretbox_MACBYTES) {
            size_t clen = (size_t)sqlite3_column_bytes(st, 1);
            size_t plen = clen - crypto_secretbox_MACBYTES;
            char *plain = malloc(plen + 1);
            if (plain &&
                crypto_secretbox_open_easy((uint8_t *)plain, sqlite3_column_blob(st, 1), clen,
                                           sqlite3_column_blob(st, 0), s->key) == 0) {
                char e[64];
                rc = bb_json_parse(plain, plen, 4, out, e, sizeof e) == 0 && json_is_object(*out)
                         ? 0
                         : BB_EIO;
                sodium_memzero(plain, plen);
            }
            free(plain);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    if (in_kms) rc = env_from_kms(s, pid, name, out); /* outside the connection's mutex */
    if (rc && *out) json_decref(*out), *out = NULL;
    return rc;
}

int fn_store_env_migrate(struct fn_store *s, size_t *moved, char *err, size_t errcap)
{
    *moved = 0;
    if (!s->kms) return 0;
    for (;;) { /* one sealed row at a time: read it, put it in bun-kms, mark the row */
        char pid[BB_IDENTITY_MAX_PROJECT_ID + 1], name[FN_NAME_MAX + 1];
        pthread_mutex_lock(&s->mu);
        sqlite3_stmt *st = prep(s, "SELECT project_id, name FROM env WHERE length(nonce) > 0 "
                                   "LIMIT 1");
        int r = st ? sqlite3_step(st) : SQLITE_ERROR;
        if (r == SQLITE_ROW) {
            snprintf(pid, sizeof pid, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 1));
        }
        if (st) sqlite3_finalize(st);
        pthread_mutex_unlock(&s->mu);
        if (r == SQLITE_DONE) return 0;
        if (r != SQLITE_ROW) {
            snprintf(err, errcap, "functions: cannot read the sealed variables");
            return BB_EIO;
        }
        json_t *env = NULL;
        struct bun_kms *kms = s->kms;
        int rc = fn_store_env_get(s, pid, name, &env); /* the row is sealed: opened here */
        size_t plen = 0;
        char *plain = rc == 0 ? bb_json_dumps(env, &plen) : NULL;
        json_decref(env);
        char kn[BUN_KMS_NAME_MAX + 1];
        kms_name(name, kn, sizeof kn);
        if (rc == 0 && !plain) rc = BB_ENOMEM;
        if (rc == 0)
            rc = bun_kms_secret_put(kms, bun_kms_system_identity(), pid, kn, plain, plen, NULL, err,
                                    errcap);
        if (plain) sodium_memzero(plain, plen);
        free(plain);
        if (rc == 0) rc = env_row(s, pid, name, NULL, 0, NULL, 0, NULL);
        if (rc) {
            if (!err[0])
                snprintf(err, errcap, "functions: cannot move %s/%s's variables to bun-kms: %s",
                         pid, name, bb_strerror(rc));
            return rc;
        }
        (*moved)++;
    }
}

int fn_store_env_drop(struct fn_store *s, const char *pid, const char *name)
{
    if (!s->kms) return 0;
    char kn[BUN_KMS_NAME_MAX + 1];
    kms_name(name, kn, sizeof kn);
    int rc = bun_kms_secret_delete(s->kms, bun_kms_system_identity(), pid, kn, NULL, 0);
    return rc == BB_ENOTFOUND ? 0 : rc;
}

int fn_store_env_names(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "SELECT names FROM env WHERE project_id=?1 AND name=?2");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        char e[64];
        if (r == SQLITE_DONE)
            *out = json_array(), rc = *out ? 0 : BB_ENOMEM;
        else if (r == SQLITE_ROW)
            rc = bb_json_parse((const char *)sqlite3_column_text(st, 0),
                               (size_t)sqlite3_column_bytes(st, 0), 4, out, e, sizeof e) == 0
                     ? 0
                     : BB_EIO;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ------------------------------------------------------------------ cron schedules */

int fn_store_cron_set(struct fn_store *s, const char *pid, const char *name, const json_t *list,
                      int64_t now_slot)
{
    pthread_mutex_lock(&s->mu);
    int rc = exec_simple(s, "BEGIN IMMEDIATE");
    /* a schedule kept as it was keeps its last fired slot; a new one starts after this minute */
    sqlite3_stmt *st = rc ? NULL
                          : prep(s, "CREATE TEMP TABLE IF NOT EXISTS old_cron(schedule TEXT, "
                                    "timezone TEXT, last_slot INTEGER)");
    if (st) sqlite3_step(st), sqlite3_finalize(st);
    static const char *const pre[] = {
        "DELETE FROM old_cron",
        "INSERT INTO old_cron SELECT schedule, timezone, last_slot FROM cron WHERE "
        "project_id=?1 AND name=?2",
        "DELETE FROM cron WHERE project_id=?1 AND name=?2"};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        st = prep(s, pre[i]);
        if (!st) {
            rc = BB_EIO;
            break;
        }
        if (i) {
            sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        st = prep(s, "INSERT INTO cron(project_id, name, idx, schedule, timezone, last_slot) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, coalesce((SELECT max(last_slot) FROM old_cron "
                     "WHERE schedule=?4 AND timezone=?5), ?6))");
        if (!st) {
            rc = BB_EIO;
            break;
        }
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)i);
        sqlite3_bind_text(st, 4, json_string_value(json_object_get(e, "schedule")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 5, json_string_value(json_object_get(e, "timezone")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now_slot);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_cron_list(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    return query_json(s,
                      "SELECT schedule, timezone, last_slot * 60000 AS last_fired_ms FROM cron "
                      "WHERE project_id=?1 AND name=?2 ORDER BY idx",
                      pid, name, 0, out);
}

int fn_store_cron_all(struct fn_store *s, json_t **out)
{
    return query_json(s,
                      "SELECT project_id, name, idx, schedule, timezone, last_slot FROM cron c "
                      "WHERE EXISTS (SELECT 1 FROM functions f WHERE f.project_id=c.project_id "
                      "AND f.name=c.name AND f.active_version > 0)",
                      NULL, NULL, 0, out);
}

int fn_store_cron_claim(struct fn_store *s, const char *pid, const char *name, int64_t idx,
                        int64_t slot)
{
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "UPDATE cron SET last_slot=?4 WHERE project_id=?1 AND name=?2 "
                               "AND idx=?3 AND last_slot < ?4");
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, idx);
        sqlite3_bind_int64(st, 4, slot);
        if (sqlite3_step(st) == SQLITE_DONE) rc = sqlite3_changes(s->db) > 0 ? 0 : BB_EEXIST;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ------------------------------------------------------------------ document triggers */

static const char *const doc_op_names[] = {"create", "update", "delete"};

int fn_doc_op_bit(const char *op)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(op, doc_op_names[i])) return 1 << i;
    return 0;
}

static json_t *ops_json(int mask)
{
    json_t *a = json_array();
    for (int i = 0; i < 3; i++)
        if (mask & (1 << i)) json_array_append_new(a, json_string(doc_op_names[i]));
    return a;
}

int fn_store_doc_set(struct fn_store *s, const char *pid, const char *name, const json_t *list)
{
    pthread_mutex_lock(&s->mu);
    int rc = exec_simple(s, "BEGIN IMMEDIATE");
    sqlite3_stmt *st =
        rc ? NULL : prep(s, "DELETE FROM doc_triggers WHERE project_id=?1 AND name=?2");
    if (!rc && !st) rc = BB_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        st = prep(s, "INSERT INTO doc_triggers(project_id, name, idx, collection, ops) "
                     "VALUES(?1, ?2, ?3, ?4, ?5)");
        if (!st) {
            rc = BB_EIO;
            break;
        }
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)i);
        sqlite3_bind_text(st, 4, json_string_value(json_object_get(e, "collection")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, json_integer_value(json_object_get(e, "ops")));
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_doc_list(struct fn_store *s, const char *pid, const char *name, json_t **out)
{
    json_t *rows = NULL;
    int rc = query_json(s,
                        "SELECT collection, ops FROM doc_triggers WHERE project_id=?1 AND "
                        "name=?2 ORDER BY idx",
                        pid, name, 0, &rows);
    if (rc) return rc;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        int mask = (int)json_integer_value(json_object_get(r, "ops"));
        json_object_del(r, "ops");
        json_object_set_new(r, "operations", ops_json(mask));
    }
    json_t *counts = NULL, *dead = NULL;
    rc = query_json(s,
                    "SELECT coalesce(sum(state='pending' OR state='running'), 0) AS pending, "
                    "coalesce(sum(state='done'), 0) AS delivered, coalesce(sum(state='dead'), 0) "
                    "AS dead FROM doc_deliveries WHERE project_id=?1 AND name=?2",
                    pid, name, 0, &counts);
    if (rc == 0)
        rc = query_json(s,
                        "SELECT event_id, attempts, last_status, last_error, updated_ms, "
                        "body FROM doc_deliveries WHERE project_id=?1 AND name=?2 "
                        "AND state='dead' ORDER BY updated_ms DESC LIMIT ?3",
                        pid, name, 20, &dead);
    if (rc) {
        json_decref(rows), json_decref(counts), json_decref(dead);
        return rc;
    }
    *out = json_pack("{s:o,s:O,s:o}", "triggers", rows, "deliveries",
                     json_array_get(counts, 0) ? json_array_get(counts, 0) : json_null(),
                     "dead_letters", dead);
    json_decref(counts);
    return *out ? 0 : BB_ENOMEM;
}

int fn_store_doc_all(struct fn_store *s, json_t **out)
{
    return query_json(s,
                      "SELECT project_id, name, collection, ops FROM doc_triggers d WHERE EXISTS "
                      "(SELECT 1 FROM functions f WHERE f.project_id=d.project_id AND "
                      "f.name=d.name AND f.active_version > 0)",
                      NULL, NULL, 0, out);
}

int fn_store_doc_record(struct fn_store *s, const char *event_id, const char *const *pids,
                        const char *const *names, size_t n, const char *body, size_t len,
                        int64_t now_ms, size_t *added)
{
    *added = 0;
    pthread_mutex_lock(&s->mu);
    int rc = exec_simple(s, "BEGIN IMMEDIATE");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *st =
            prep(s, "INSERT OR IGNORE INTO doc_deliveries(event_id, project_id, name, body, "
                    "state, attempts, next_ms, created_ms, updated_ms) VALUES(?1, ?2, ?3, ?4, "
                    "'pending', 0, ?5, ?5, ?5)");
        if (!st) {
            rc = BB_EIO;
            break;
        }
        sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, names[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, body, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now_ms);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = BB_EIO;
        else
            *added += (size_t)sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    sqlite3_stmt *st = rc ? NULL
                          : prep(s, "INSERT INTO state(k, v) VALUES('doc_cursor', ?1) ON "
                                    "CONFLICT(k) DO UPDATE SET v=excluded.v");
    if (!rc && !st) rc = BB_EIO;
    if (st) {
        sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_doc_cursor(struct fn_store *s, char *out, size_t cap)
{
    out[0] = '\0';
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT v FROM state WHERE k='doc_cursor'");
    int rc = st ? 0 : BB_EIO;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    if (st) sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_doc_recover(struct fn_store *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = exec_simple(s, "UPDATE doc_deliveries SET state='pending', redelivered=1 WHERE "
                            "state='running'");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fn_store_doc_claim(struct fn_store *s, int64_t now_ms, size_t max, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = exec_simple(s, "BEGIN IMMEDIATE");
    sqlite3_stmt *st = rc ? NULL
                          : prep(s, "SELECT event_id, project_id, name, body, attempts, "
                                    "redelivered FROM doc_deliveries d WHERE state='pending' AND "
                                    "next_ms <= ?1 AND NOT EXISTS (SELECT 1 FROM doc_deliveries "
                                    "e WHERE e.project_id=d.project_id AND e.name=d.name AND "
                                    "e.state IN ('pending','running') AND e.rowid < d.rowid) "
                                    "ORDER BY next_ms, created_ms LIMIT ?2");
    if (!rc && !st) rc = BB_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_int64(st, 2, (int64_t)max);
        *out = rows_json(st);
        sqlite3_finalize(st);
        if (!*out) rc = BB_ENOMEM;
    }
    size_t i;
    json_t *r;
    json_array_foreach(rc ? NULL : *out, i, r)
    {
        st = prep(s, "UPDATE doc_deliveries SET state='running', attempts=attempts+1, "
                     "updated_ms=?4 WHERE event_id=?1 AND project_id=?2 AND name=?3");
        if (!st) {
            rc = BB_EIO;
            break;
        }
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(r, "event_id")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(r, "project_id")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(r, "name")), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now_ms);
        if (sqlite3_step(st) != SQLITE_DONE) rc = BB_EIO;
        sqlite3_finalize(st);
    }
    exec_simple(s, rc ? "ROLLBACK" : "COMMIT");
    pthread_mutex_unlock(&s->mu);
    if (rc) json_decref(*out), *out = NULL;
    return rc;
}

int fn_store_doc_finish(struct fn_store *s, const char *event_id, const char *pid, const char *name,
                        const char *state, int status, const char *error, int64_t next_ms,
                        int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    int rc = BB_EIO;
    sqlite3_stmt *st = prep(s, "UPDATE doc_deliveries SET state=?4, last_status=?5, "
                               "last_error=?6, next_ms=?7, updated_ms=?8 WHERE event_id=?1 AND "
                               "project_id=?2 AND name=?3");
    if (st) {
        sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, status);
        if (error)
            sqlite3_bind_text(st, 6, error, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, next_ms);
        sqlite3_bind_int64(st, 8, now_ms);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : BB_EIO;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
