/* bench/bundoc-query: equality, range and sorted top-k queries through the bundoc store layer
 * (store.h) without and with secondary indexes, side by side with SQLite (same documents as JSON
 * text, expression indexes on the same fields), same process, same disk.
 *   bench_query DIR NDOCS
 * Prints a table (mean microseconds per query, rows per query) and `ratio: X` = the worst row's
 * SQLite/bundoc (full scans included; > 1: bundoc faster); the indexed rows' worst and geometric
 * mean are printed too. */
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundoc.h"
#include "store.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of the process (the build runs on this thread; the WAL's background sync thread is
 * idle under NORMAL durability): less sensitive than wall time to other load on the machine. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rs = 0x1234567;
static uint64_t rnd(uint64_t n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs % n;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench: %s failed: %d\n", what, rc);
    exit(1);
}

static json_t *make_doc(long i, long n)
{
    char id[32], user[32], city[16], pad[201];
    snprintf(id, sizeof id, "d%09ld", i);
    snprintf(user, sizeof user, "u%06ld", (long)rnd((uint64_t)(n / 100 > 0 ? n / 100 : 1)));
    snprintf(city, sizeof city, "c%02d", (int)rnd(50));
    for (int k = 0; k < 200; k++) pad[k] = (char)('a' + rnd(26));
    pad[200] = 0;
    return json_pack("{s:s,s:s,s:I,s:f,s:s,s:[s,s],s:s}", "_id", id, "user", user, "age",
                     (json_int_t)rnd((uint64_t)n), "score", (double)rnd(1000000) / 7.0, "city",
                     city, "tags", "x", "y", "pad", pad);
}

enum { Q_EQ, Q_RANGE, Q_TOPK, NQ };
static const char *QNAME[NQ] = {"equality (user = ?)", "range (age in [x, x+100))",
                                "top-10 (city = ? order by age desc)"};

struct res {
    double us;
    double rows;
};

static json_t *bundoc_req(int q, long n)
{
    char v[32];
    if (q == Q_EQ) {
        snprintf(v, sizeof v, "u%06ld", (long)rnd((uint64_t)(n / 100 > 0 ? n / 100 : 1)));
        return json_pack("{s:{s:s}}", "query", "user", v);
    }
    if (q == Q_RANGE) {
        json_int_t x = (json_int_t)rnd((uint64_t)n);
        return json_pack("{s:{s:{s:I,s:I}}}", "query", "age", "$gte", x, "$lt", x + 100);
    }
    snprintf(v, sizeof v, "c%02d", (int)rnd(50));
    return json_pack("{s:{s:s},s:[s],s:i}", "query", "city", v, "sort", "-age", "limit", 10);
}

static struct res run_bundoc(struct bdoc_store *s, int q, long n, int reps, const char **plan)
{
    double rows = 0, t0 = now();
    for (int r = 0; r < reps; r++) {
        json_t *req = bundoc_req(q, n);
        struct bdoc_store_txn *t;
        if (bdoc_store_begin(s, BDOC_TXN_READONLY, &t)) die("begin", 1);
        struct bdoc_store_find_result res;
        struct bdoc_store_error e = {0};
        int rc = bdoc_store_find(t, "docs", req, NULL, 0, &res, &e);
        if (rc) {
            fprintf(stderr, "%s\n", e.message);
            die("find", rc);
        }
        rows += (double)json_array_size(res.docs);
        static char planbuf[64];
        snprintf(planbuf, sizeof planbuf, "%s%s%s",
                 json_string_value(json_object_get(res.explain, "plan")),
                 json_is_string(json_object_get(res.explain, "index")) ? " " : "",
                 json_is_string(json_object_get(res.explain, "index"))
                     ? json_string_value(json_object_get(res.explain, "index"))
                     : "");
        *plan = planbuf;
        bdoc_store_find_result_release(&res);
        bdoc_store_rollback(t);
        json_decref(req);
    }
    return (struct res){(now() - t0) / reps * 1e6, rows / reps};
}

static struct res run_sqlite(sqlite3 *db, int q, long n, int reps)
{
    static const char *sql[NQ] = {
        "SELECT body FROM docs WHERE json_extract(body,'$.user') = ?1",
        "SELECT body FROM docs WHERE json_extract(body,'$.age') >= ?1 AND "
        "json_extract(body,'$.age') < ?1 + 100",
        "SELECT body FROM docs WHERE json_extract(body,'$.city') = ?1 ORDER BY "
        "json_extract(body,'$.age') DESC LIMIT 10"};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql[q], -1, &st, NULL)) die(sqlite3_errmsg(db), 1);
    double rows = 0, t0 = now();
    for (int r = 0; r < reps; r++) {
        char v[32];
        if (q == Q_EQ) {
            snprintf(v, sizeof v, "u%06ld", (long)rnd((uint64_t)(n / 100 > 0 ? n / 100 : 1)));
            sqlite3_bind_text(st, 1, v, -1, SQLITE_TRANSIENT);
        } else if (q == Q_RANGE) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)rnd((uint64_t)n));
        } else {
            snprintf(v, sizeof v, "c%02d", (int)rnd(50));
            sqlite3_bind_text(st, 1, v, -1, SQLITE_TRANSIENT);
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            /* materialise the document, as bundoc does */
            json_t *d = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
            json_decref(d);
            rows++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return (struct res){(now() - t0) / reps * 1e6, rows / reps};
}

static void sqlx(sqlite3 *db, const char *s)
{
    char *err = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &err)) {
        fprintf(stderr, "sqlite: %s: %s\n", s, err);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    const char *dir = argv[1];
    long n = atol(argv[2]);
    if (n < 1000) n = 1000;
    char path[4096];
    snprintf(path, sizeof path, "%s/bundoc", dir);
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_NORMAL;
    o.cache_pages = 131072; /* 512 MiB of 4 KiB pages, as SQLite's cache_size below: both engines
                               get the same warm cache (65536 was 256 MiB, half of SQLite's) */
    struct bdoc_db *db;
    struct bdoc_store *s;
    int rc = bdoc_open(path, &o, &db);
    if (rc) die("bdoc_open", rc);
    if ((rc = bdoc_store_open(db, &s))) die("store_open", rc);
    if ((rc = bdoc_store_collection_create(s, "docs", NULL, NULL, NULL))) die("create", rc);
    snprintf(path, sizeof path, "%s/sqlite.db", dir);
    sqlite3 *sq;
    if (sqlite3_open(path, &sq)) die("sqlite3_open", 1);
    sqlx(sq, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-524288;");
    sqlx(sq, "CREATE TABLE docs(id TEXT PRIMARY KEY, body TEXT NOT NULL)");
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(sq, "INSERT INTO docs VALUES(?1, ?2)", -1, &ins, NULL);

    /* load the same documents into both */
    double tl = now(), tb = 0, ts = 0;
    for (long i = 0; i < n;) {
        struct bdoc_store_txn *t;
        if ((rc = bdoc_store_begin(s, 0, &t))) die("begin", rc);
        sqlx(sq, "BEGIN");
        for (long k = 0; k < 1000 && i < n; k++, i++) {
            json_t *d = make_doc(i, n);
            double a = now();
            if ((rc = bdoc_store_insert(t, "docs", d, NULL, NULL, NULL))) die("insert", rc);
            double b = now();
            char *txt = json_dumps(d, JSON_COMPACT);
            sqlite3_bind_text(ins, 1, json_string_value(json_object_get(d, "_id")), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, txt, -1, free);
            if (sqlite3_step(ins) != SQLITE_DONE) die("sqlite insert", 1);
            sqlite3_reset(ins);
            ts += now() - b;
            tb += b - a;
            json_decref(d);
        }
        double a = now();
        if ((rc = bdoc_store_commit(t))) die("commit", rc);
        double b = now();
        sqlx(sq, "COMMIT");
        ts += now() - b;
        tb += b - a;
    }
    sqlite3_finalize(ins);
    fprintf(stderr, "loaded %ld documents in %.1f s (bundoc %.1f s, sqlite %.1f s)\n", n, now() - tl, tb, ts);

    struct res rb[2][NQ], rq[2][NQ];
    const char *plan[2][NQ];
    int reps_scan = n > 200000 ? 3 : 10, reps_ix = 300;
    /* BENCH_BUILD_ONLY=1: load and index build only (for profiling the build) */
    int build_only = getenv("BENCH_BUILD_ONLY") && !strcmp(getenv("BENCH_BUILD_ONLY"), "1");
    for (int q = 0; q < NQ && !build_only; q++) {
        rs = 0x9999 + (uint64_t)q; /* same parameters for both engines */
        rb[0][q] = run_bundoc(s, q, n, reps_scan, &plan[0][q]);
        plan[0][q] = strdup(plan[0][q]);
        rs = 0x9999 + (uint64_t)q;
        rq[0][q] = run_sqlite(sq, q, n, reps_scan);
    }
    double a = now(), ca = cpu();
    const char *specs[] = {"{\"name\":\"by_user\",\"fields\":[\"user\"]}",
                           "{\"name\":\"by_age\",\"fields\":[\"age\"]}",
                           "{\"name\":\"city_age\",\"fields\":[\"city\",\"-age\"]}"};
    for (int i = 0; i < 3; i++) {
        json_t *sp = json_loads(specs[i], 0, NULL);
        struct bdoc_store_error e = {0};
        if ((rc = bdoc_store_index_create(s, "docs", sp, &e))) {
            fprintf(stderr, "%s\n", e.message);
            die("index", rc);
        }
        json_decref(sp);
    }
    double build_b = now() - a, cbuild_b = cpu() - ca;
    a = now();
    ca = cpu();
    sqlx(sq, "CREATE INDEX by_user ON docs(json_extract(body,'$.user'));"
             "CREATE INDEX by_age ON docs(json_extract(body,'$.age'));"
             "CREATE INDEX city_age ON docs(json_extract(body,'$.city'), json_extract(body,'$.age'));"
             "ANALYZE;");
    double build_s = now() - a, cbuild_s = cpu() - ca;
    if (build_only) {
        printf("index build: bundoc %.2f s (3 indexes), SQLite %.2f s; cpu %.2f s vs %.2f s\n",
               build_b, build_s, cbuild_b, cbuild_s);
        return 0;
    }
    for (int q = 0; q < NQ; q++) {
        rs = 0x7777 + (uint64_t)q;
        rb[1][q] = run_bundoc(s, q, n, reps_ix, &plan[1][q]);
        plan[1][q] = strdup(plan[1][q]);
        rs = 0x7777 + (uint64_t)q;
        rq[1][q] = run_sqlite(sq, q, n, reps_ix);
    }
    printf("bundoc-query: %ld documents (~330 B JSON each); mean time per query\n\n", n);
    printf("| query | index | bundoc µs | SQLite µs | rows | bundoc plan | SQLite/bundoc |\n");
    printf("|---|---|---:|---:|---:|---|---:|\n");
    double lsum = 0, worst = INFINITY, worst_ix = INFINITY;
    for (int ix = 0; ix < 2; ix++)
        for (int q = 0; q < NQ; q++) {
            double r = rq[ix][q].us / rb[ix][q].us;
            if (ix) lsum += log(r);
            if (r < worst) worst = r;
            if (ix && r < worst_ix) worst_ix = r;
            printf("| %s | %s | %.1f | %.1f | %.1f | %s | %.2f |\n", QNAME[q], ix ? "yes" : "no",
                   rb[ix][q].us, rq[ix][q].us, rb[ix][q].rows, plan[ix][q], r);
            if (fabs(rb[ix][q].rows - rq[ix][q].rows) > 1e-9)
                fprintf(stderr, "warning: row counts differ (%s): bundoc %.1f sqlite %.1f\n",
                        QNAME[q], rb[ix][q].rows, rq[ix][q].rows);
        }
    printf("\nindex build: bundoc %.2f s (3 indexes, online, bulk-loaded), SQLite %.2f s (+ANALYZE); "
           "cpu time bundoc %.2f s, SQLite %.2f s; SQLite/bundoc %.2f\n",
           build_b, build_s, cbuild_b, cbuild_s, build_s / build_b);
    printf("indexed rows: worst %.2f, geometric mean %.2f (SQLite/bundoc; > 1 = bundoc faster)\n",
           worst_ix, exp(lsum / NQ));
    printf("ratio: %.2f\n", worst); /* worst row of all, as every bench reports */
    sqlite3_close(sq);
    bdoc_store_close(s);
    bdoc_close(db);
    return 0;
}
