/* bench_bundoc — bundoc vs SQLite, same machine, same run, same durability.
 *
 * Both engines store N ~1 KB JSON documents keyed by a string id, one transaction per operation:
 *   bundoc:  durability FULL (fsync before a commit is acknowledged; group commit)
 *   SQLite:  journal_mode=WAL, synchronous=FULL, table docs(id TEXT PRIMARY KEY, body TEXT)
 * Both start from JSON text and hand back JSON text: ours parses it and stores the binary encoding,
 * reads render JSON text straight from it (bdoc_get_json, bdoc_list_json); SQLite stores the text.
 * Rows: insert (1 writer), insert (8 writers), point get (1 reader), replace (1 writer),
 * replace (8 writers), full scan in id order. Each row alternates the engines over 10 slices of
 * its work so that both see the same disk conditions. Prints ops/s for both, the per-row ratio, and
 * `ratio: X` = the worst per-row ratio (ours / SQLite; > 1 means faster), as every bench reports;
 * the geometric mean is printed on the line before.
 *
 * usage: bench_bundoc DIR [N]   (DIR: a scratch directory on the disk to measure) */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bb_json.h"
#include "bundoc.h"

static long N = 100000;
static char **g_body; /* JSON text of doc i (includes its _id) */
static size_t *g_blen;
static char **g_body2; /* replacement bodies */
static size_t *g_blen2;
static struct bdoc_db *g_db;
static char g_sqlite_path[4096];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of the process: the scans run on the main thread while nothing else runs, so this is
 * their CPU cost, less sensitive than wall time to other load on a shared machine. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_bundoc: %s failed (%d)\n", what, rc);
    exit(1);
}

static void make_docs(void)
{
    g_body = calloc((size_t)N, sizeof *g_body);
    g_blen = calloc((size_t)N, sizeof *g_blen);
    g_body2 = calloc((size_t)N, sizeof *g_body2);
    g_blen2 = calloc((size_t)N, sizeof *g_blen2);
    char pad[900];
    for (long i = 0; i < N; i++) {
        for (int k = 0; k < (int)sizeof pad - 1; k++) pad[k] = (char)('a' + (i * 7 + k) % 26);
        pad[sizeof pad - 1] = '\0';
        char buf[1200];
        int n = snprintf(buf, sizeof buf,
                         "{\"_id\":\"doc%08ld\",\"name\":\"user %ld\",\"age\":%ld,\"active\":true,"
                         "\"tags\":[\"a\",\"b\",\"c\"],\"address\":{\"city\":\"Paris\",\"zip\":\"75001\"},"
                         "\"bio\":\"%s\"}", i, i, i % 90, pad);
        g_body[i] = strdup(buf);
        g_blen[i] = (size_t)n;
        n = snprintf(buf, sizeof buf,
                     "{\"_id\":\"doc%08ld\",\"name\":\"user %ld v2\",\"age\":%ld,\"active\":false,"
                     "\"tags\":[\"x\"],\"address\":{\"city\":\"Lyon\",\"zip\":\"69001\"},\"bio\":\"%s\"}",
                     i, i, i % 90 + 1, pad);
        g_body2[i] = strdup(buf);
        g_blen2[i] = (size_t)n;
    }
}

/* ---- bundoc ---- */
static void ours_insert(long from, long to)
{
    for (long i = from; i < to; i++) {
        json_t *d = NULL;
        int rc = bb_json_parse(g_body[i], g_blen[i], 64, &d, NULL, 0);
        if (rc) die("parse", rc);
        struct bdoc_txn *t;
        if ((rc = bdoc_begin(g_db, 0, &t))) die("begin", rc);
        if ((rc = bdoc_insert(t, "docs", d, NULL))) die("insert", rc);
        if ((rc = bdoc_commit(t))) die("commit", rc);
        json_decref(d);
    }
}

static void ours_replace(long from, long to)
{
    for (long i = from; i < to; i++) {
        json_t *d = NULL;
        int rc = bb_json_parse(g_body2[i], g_blen2[i], 64, &d, NULL, 0);
        if (rc) die("parse", rc);
        char id[32];
        snprintf(id, sizeof id, "doc%08ld", i);
        for (;;) {
            struct bdoc_txn *t;
            if ((rc = bdoc_begin(g_db, 0, &t))) die("begin", rc);
            if ((rc = bdoc_replace(t, "docs", id, d, NULL))) die("replace", rc);
            rc = bdoc_commit(t);
            if (rc == 0) break;
            if (rc != -19) die("commit", rc); /* BB_ECONFLICT: retry */
        }
        json_decref(d);
    }
}

static void ours_get(long from, long to, unsigned seed)
{
    for (long k = from; k < to; k++) {
        long i = (long)(rand_r(&seed) % (unsigned)N);
        char id[32];
        snprintf(id, sizeof id, "doc%08ld", i);
        struct bdoc_txn *t;
        int rc = bdoc_begin(g_db, BDOC_TXN_READONLY, &t);
        if (rc) die("begin", rc);
        char *s = NULL;
        size_t n = 0;
        if ((rc = bdoc_get_json(t, "docs", id, &s, &n))) die("get", rc);
        bdoc_rollback(t);
        if (n < 100) die("get len", (int)n);
        free(s);
    }
}

static long ours_scan(void)
{
    struct bdoc_txn *t;
    int rc = bdoc_begin(g_db, BDOC_TXN_READONLY, &t);
    if (rc) die("begin", rc);
    long count = 0;
    char *after = NULL, *next = NULL;
    for (;;) {
        char *s = NULL;
        size_t n = 0, got = 0;
        if ((rc = bdoc_list_json(t, "docs", after, NULL, 1000, &s, &n, &got, &next))) die("list", rc);
        if (n < got * 100) die("list len", (int)n);
        count += (long)got;
        free(s);
        free(after);
        after = next;
        if (!after) break;
    }
    bdoc_rollback(t);
    return count;
}

/* ---- SQLite ---- */
static sqlite3 *sq_open(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(g_sqlite_path, &db) != SQLITE_OK) die("sqlite open", 0);
    sqlite3_busy_timeout(db, 60000);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;",
                 NULL, NULL, NULL);
    return db;
}

static void sq_write(long from, long to, int replace)
{
    sqlite3 *db = sq_open();
    sqlite3_stmt *st = NULL;
    const char *sql = replace ? "UPDATE docs SET body=?2 WHERE id=?1" : "INSERT INTO docs(id, body) VALUES(?1, ?2)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("prepare", 0);
    for (long i = from; i < to; i++) {
        char id[32];
        snprintf(id, sizeof id, "doc%08ld", i);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (replace) sqlite3_bind_text(st, 2, g_body2[i], (int)g_blen2[i], SQLITE_STATIC);
        else sqlite3_bind_text(st, 2, g_body[i], (int)g_blen[i], SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_BUSY) sqlite3_reset(st);
        if (rc != SQLITE_DONE) die("sqlite step", rc);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void sq_get(long from, long to, unsigned seed)
{
    sqlite3 *db = sq_open();
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT body FROM docs WHERE id=?1", -1, &st, NULL) != SQLITE_OK) die("prepare", 0);
    for (long k = from; k < to; k++) {
        long i = (long)(rand_r(&seed) % (unsigned)N);
        char id[32];
        snprintf(id, sizeof id, "doc%08ld", i);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_ROW) die("sqlite get", 0);
        int n = sqlite3_column_bytes(st, 0);
        char *s = malloc((size_t)n + 1);
        memcpy(s, sqlite3_column_text(st, 0), (size_t)n + 1);
        if (n < 100) die("sqlite get len", n);
        free(s);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static long sq_scan(void)
{
    sqlite3 *db = sq_open();
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, body FROM docs ORDER BY id", -1, &st, NULL) != SQLITE_OK) die("prepare", 0);
    long count = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 1);
        char *s = malloc((size_t)n + 1);
        memcpy(s, sqlite3_column_text(st, 1), (size_t)n + 1);
        free(s);
        count++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return count;
}

/* ---- driver ---- */
enum op { OP_INSERT, OP_REPLACE, OP_GET };
struct job {
    int ours;
    enum op op;
    long from, to;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    if (j->ours) {
        if (j->op == OP_INSERT) ours_insert(j->from, j->to);
        else if (j->op == OP_REPLACE) ours_replace(j->from, j->to);
        else ours_get(j->from, j->to, (unsigned)j->from + 1);
    } else {
        if (j->op == OP_GET) sq_get(j->from, j->to, (unsigned)j->from + 1);
        else sq_write(j->from, j->to, j->op == OP_REPLACE);
    }
    return NULL;
}

/* Runs op over [from, to) split across nthreads; returns the seconds taken. */
static double phase(int ours, enum op op, long from, long to, int nthreads)
{
    pthread_t th[16];
    struct job jobs[16];
    long per = (to - from) / nthreads;
    double t0 = now();
    for (int k = 0; k < nthreads; k++) {
        jobs[k] = (struct job){ours, op, from + k * per, k == nthreads - 1 ? to : from + (k + 1) * per};
        pthread_create(&th[k], NULL, run_job, &jobs[k]);
    }
    for (int k = 0; k < nthreads; k++) pthread_join(th[k], NULL);
    return now() - t0;
}

/* The disk's fsync latency drifts a lot on shared machines, so each row alternates the two
 * engines over CHUNKS slices of the work (ours, SQLite, ours, SQLite, ...): both see the same
 * conditions. Returns ops/s of each. */
#define CHUNKS 10
static void paired(enum op op, long from, long to, int nthreads, double *ours, double *peer)
{
    double t_ours = 0, t_peer = 0;
    long step = (to - from) / CHUNKS;
    for (int c = 0; c < CHUNKS; c++) {
        long a = from + c * step, b = c == CHUNKS - 1 ? to : a + step;
        t_ours += phase(1, op, a, b, nthreads);
        t_peer += phase(0, op, a, b, nthreads);
    }
    *ours = (double)(to - from) / t_ours;
    *peer = (double)(to - from) / t_peer;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_bundoc DIR [N]\n");
        return 2;
    }
    if (argc > 2) N = strtol(argv[2], NULL, 10);
    if (N < 1000) N = 1000;
    make_docs();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bundoc", argv[1]);
    snprintf(g_sqlite_path, sizeof g_sqlite_path, "%s/sqlite.db", argv[1]);
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_FULL;
    o.cache_pages = 16384; /* 64 MiB of 4 KiB pages, like the SQLite cache below */
    int rc = bdoc_open(dir, &o, &g_db);
    if (rc) die("bdoc_open", rc);
    struct bdoc_txn *t;
    bdoc_begin(g_db, 0, &t);
    bdoc_collection_create(t, "docs");
    if ((rc = bdoc_commit(t))) die("create", rc);
    sqlite3 *sq = sq_open();
    sqlite3_exec(sq, "CREATE TABLE docs(id TEXT PRIMARY KEY, body TEXT NOT NULL)", NULL, NULL, NULL);
    sqlite3_close(sq);

    long half = N / 2;
    struct row {
        const char *name;
        double ours, peer;
    } rows[6];
    int nr = 0;
    /* BENCH_SCAN_ONLY=1: load both engines in transactions of 1000 documents and measure only the
     * full scan (for profiling it) */
    const char *so = getenv("BENCH_SCAN_ONLY");
    int scan_only = so && !strcmp(so, "1");
    if (scan_only) {
        for (long i = 0; i < N;) {
            struct bdoc_txn *tx;
            if ((rc = bdoc_begin(g_db, 0, &tx))) die("begin", rc);
            for (long k = 0; k < 1000 && i < N; k++, i++) {
                json_t *d = NULL;
                if ((rc = bb_json_parse(g_body[i], g_blen[i], 64, &d, NULL, 0))) die("parse", rc);
                if ((rc = bdoc_insert(tx, "docs", d, NULL))) die("insert", rc);
                json_decref(d);
            }
            if ((rc = bdoc_commit(tx))) die("commit", rc);
        }
        /* as the replace rows do: the first half rewritten once */
        for (long i = 0; i < N / 2;) {
            struct bdoc_txn *tx;
            if ((rc = bdoc_begin(g_db, 0, &tx))) die("begin", rc);
            for (long k = 0; k < 1000 && i < N / 2; k++, i++) {
                json_t *d = NULL;
                char id[32];
                snprintf(id, sizeof id, "doc%08ld", i);
                if ((rc = bb_json_parse(g_body2[i], g_blen2[i], 64, &d, NULL, 0))) die("parse", rc);
                if ((rc = bdoc_replace(tx, "docs", id, d, NULL))) die("replace", rc);
                json_decref(d);
            }
            if ((rc = bdoc_commit(tx))) die("commit", rc);
        }
        sq = sq_open();
        sqlite3_stmt *ins = NULL;
        sqlite3_prepare_v2(sq, "INSERT INTO docs VALUES(?1, ?2)", -1, &ins, NULL);
        sqlite3_exec(sq, "BEGIN", NULL, NULL, NULL);
        for (long i = 0; i < N; i++) {
            char id[32];
            snprintf(id, sizeof id, "doc%08ld", i);
            sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, g_body[i], (int)g_blen[i], SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE) die("sqlite insert", 0);
            sqlite3_reset(ins);
        }
        sqlite3_finalize(ins);
        sqlite3_prepare_v2(sq, "UPDATE docs SET body = ?2 WHERE id = ?1", -1, &ins, NULL);
        for (long i = 0; i < N / 2; i++) {
            char id[32];
            snprintf(id, sizeof id, "doc%08ld", i);
            sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, g_body2[i], (int)g_blen2[i], SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE) die("sqlite update", 0);
            sqlite3_reset(ins);
        }
        sqlite3_exec(sq, "COMMIT", NULL, NULL, NULL);
        sqlite3_finalize(ins);
        sqlite3_close(sq);
    }
    /* insert: first half with 1 writer, second half with 8 */
    if (!scan_only) {
        rows[nr].name = "insert, 1 writer";
        paired(OP_INSERT, 0, half, 1, &rows[nr].ours, &rows[nr].peer);
        nr++;

        rows[nr].name = "insert, 8 writers";
        paired(OP_INSERT, half, N, 8, &rows[nr].ours, &rows[nr].peer);
        nr++;
        long ng = N < 100000 ? N : 100000;
        rows[nr].name = "point get, 1 reader";
        paired(OP_GET, 0, ng, 1, &rows[nr].ours, &rows[nr].peer);
        nr++;
        long nu = N / 4;
        rows[nr].name = "replace, 1 writer";
        paired(OP_REPLACE, 0, nu, 1, &rows[nr].ours, &rows[nr].peer);
        nr++;
        rows[nr].name = "replace, 8 writers";
        paired(OP_REPLACE, nu, 2 * nu, 8, &rows[nr].ours, &rows[nr].peer);
        nr++;
    }
    /* 3 alternating rounds (ours, SQLite, ours, ...); the median of each */
    double s1v[3], s2v[3], c1v[3], c2v[3];
    for (int r = 0; r < 3; r++) {
        double t0 = now(), u0 = cpu();
        long c1 = ours_scan();
        s1v[r] = (double)c1 / (now() - t0);
        c1v[r] = (double)c1 / (cpu() - u0);
        t0 = now();
        u0 = cpu();
        long c2 = sq_scan();
        s2v[r] = (double)c2 / (now() - t0);
        c2v[r] = (double)c2 / (cpu() - u0);
        if (c1 != N || c2 != N) die("scan count", (int)(c1 - c2));
    }
    double *vs[4] = {s1v, s2v, c1v, c2v};
    for (int v = 0; v < 4; v++)
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                if (vs[v][b] < vs[v][a]) {
                    double x = vs[v][a];
                    vs[v][a] = vs[v][b];
                    vs[v][b] = x;
                }
    rows[nr++] = (struct row){"full scan (docs/s)", s1v[1], s2v[1]};
    printf("full scan per CPU second (median of 3): bundoc %.0f, SQLite %.0f, ratio %.2f\n", c1v[1],
           c2v[1], c1v[1] / c2v[1]);

    struct bdoc_stats st;
    bdoc_stats_get(g_db, &st);
    printf("bundoc vs SQLite %s: %ld docs of ~1 KB, one transaction per operation, fsync on commit\n",
           sqlite3_libversion(), N);
    printf("%-22s %14s %14s %8s\n", "operation", "bundoc ops/s", "sqlite ops/s", "ratio");
    double logsum = 0, worst = INFINITY;
    for (int i = 0; i < nr; i++) {
        double r = rows[i].ours / rows[i].peer;
        logsum += log(r);
        if (r < worst) worst = r;
        printf("%-22s %14.0f %14.0f %8.2f\n", rows[i].name, rows[i].ours, rows[i].peer, r);
    }
    printf("bundoc: %llu commits, %llu WAL fsyncs (group commit), %llu checkpoints\n",
           (unsigned long long)st.commits, (unsigned long long)st.syncs,
           (unsigned long long)st.checkpoints);
    printf("geometric mean of the rows: %.2f\n", exp(logsum / nr));
    printf("ratio: %.2f\n", worst);
    bdoc_close(g_db);
    return 0;
}
