/* test_pg.c — bb_pg against a real embedded PostgreSQL cluster in a temp dir under /tmp.
 *
 * One cluster (group setup) serves the connection, migration and pool tests, each migration test
 * in its own database. The stale-recovery tests start their own clusters in their own dirs. The
 * group teardown stops everything still running and removes the temp dir.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_err.h"
#include "bb_pg.h"

static char tmp_root[64];
static struct bb_pg_cluster *main_cluster;
static struct bb_pg_cluster *extra[4]; /* per-test clusters, stopped by teardown */

/* ---- helpers ----------------------------------------------------------------------------- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    assert_true(n >= 0);
    return s;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static pid_t pidfile_pid(const char *dir)
{
    char p[256], buf[64] = "";
    snprintf(p, sizeof(p), "%s/postgres/data/postmaster.pid", dir);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    return (pid_t)strtol(buf, NULL, 10);
}

/* Is pid gone (or a zombie: exited, waiting for a parent that is not us to reap it)? */
static int pid_dead_now(pid_t pid)
{
    waitpid(pid, NULL, WNOHANG); /* reap it if it is our exited child */
    if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
    char p[64], buf[256];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return 1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 1;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static int pid_gone(pid_t pid)
{
    return pid_dead_now(pid);
}

/* Kills whatever server still runs in dir (after a failed test) and waits a little. */
static void kill_leftover(const char *dir)
{
    pid_t pid = pidfile_pid(dir);
    if (pid <= 1 || pid_gone(pid)) return;
    kill(pid, SIGQUIT);
    for (int i = 0; i < 200 && !pid_gone(pid); i++)
        usleep(20000);
}

static char *one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        fprintf(stderr, "query failed: %s: %s\n", sql, PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void expect_one(PGconn *c, const char *sql, const char *want)
{
    char *v = one(c, sql);
    assert_non_null(v);
    if (strcmp(v, want) != 0) fprintf(stderr, "%s -> %s, want %s\n", sql, v, want);
    assert_string_equal(v, want);
    free(v);
}

/* Creates database name in the main cluster; returns a conninfo for it (caller frees). */
static char *make_db(const char *name)
{
    const char *base = bb_pg_cluster_conninfo(main_cluster);
    char *admin = fmt("%s dbname=postgres", base);
    PGconn *c = NULL;
    char err[256];
    assert_int_equal(bb_pg_connect(admin, &c, err, sizeof(err)), 0);
    char *sql = fmt("CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    free(sql);
    free(admin);
    return fmt("%s dbname=%s", base, name);
}

static PGconn *connect_ok(const char *conninfo)
{
    PGconn *c = NULL;
    char err[512] = "";
    int rc = bb_pg_connect(conninfo, &c, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "connect: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* ---- group setup / teardown -------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/bb_pg_test.XXXXXX");
    if (!mkdtemp(tmp_root)) return -1;
    chmod(tmp_root, 0711); /* the postgres user must traverse it when we run as root */
    char *dir = fmt("%s/main", tmp_root);
    char err[512] = "";
    int rc = bb_pg_cluster_start(dir, NULL, &main_cluster, err, sizeof(err));
    free(dir);
    if (rc != 0) {
        fprintf(stderr, "bb_pg_cluster_start: %s (%s)\n", err, bb_strerror(rc));
        rm_rf(tmp_root);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    bb_pg_cluster_stop(main_cluster);
    main_cluster = NULL;
    const char *dirs[] = {"main", "stale", "killed"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *d = fmt("%s/%s", tmp_root, dirs[i]);
        kill_leftover(d);
        free(d);
    }
    rm_rf(tmp_root);
    return 0;
}

static int extra_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        bb_pg_cluster_stop(extra[i]);
        extra[i] = NULL;
    }
    return 0;
}

/* ---- connections ------------------------------------------------------------------------- */

static void test_connect_select1(void **state)
{
    (void)state;
    const char *ci = bb_pg_cluster_conninfo(main_cluster);
    assert_non_null(ci);
    assert_non_null(strstr(ci, "dbname=bunbase"));
    assert_int_equal(bb_pg_ping(ci), 0);
    PGconn *c = connect_ok(ci);
    expect_one(c, "SELECT 1", "1");
    expect_one(c, "SELECT current_database()", "bunbase");
    /* no TCP listener: Unix socket only */
    expect_one(c, "SHOW listen_addresses", "");
    PQfinish(c);

    char *bad = fmt("host=%s/nonexistent port=5432 dbname=bunbase connect_timeout=2", tmp_root);
    assert_int_equal(bb_pg_ping(bad), BB_EUNAVAIL);
    PGconn *b = (PGconn *)1;
    char err[512] = "";
    assert_int_equal(bb_pg_connect(bad, &b, err, sizeof(err)), BB_EUNAVAIL);
    assert_null(b);
    assert_true(strlen(err) > 0);
    free(bad);
}

/* ---- migrations -------------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static const struct bb_migration order_migs[] = {
    {"t/0001_log", "CREATE TABLE mlog (seq serial PRIMARY KEY, name text NOT NULL);"
                 "INSERT INTO mlog (name) VALUES ('0001_log');"},
    {"t/0002_items", "CREATE TABLE items (id int PRIMARY KEY);"
                   "INSERT INTO mlog (name) VALUES ('0002_items');"},
    {"t/0003_items_name", "ALTER TABLE items ADD COLUMN name text;"
                        "INSERT INTO items VALUES (1, 'one');"
                        "INSERT INTO mlog (name) VALUES ('0003_items_name');"},
};

static void test_migrate_order_and_rerun(void **state)
{
    (void)state;
    char *ci = make_db("m_order");
    PGconn *c = connect_ok(ci);
    char err[512] = "";

    /* the platform's real first migration, from the source tree */
    const char *src = getenv("BB_SOURCE_DIR");
    char *path = fmt("%s/src/platform/migrations/0001_instance.sql", src ? src : ".");
    char *instance_sql = read_file(path);
    assert_non_null(instance_sql);
    struct bb_migration platform[1] = {{"platform/0001_instance", instance_sql}};
    assert_int_equal(bb_pg_migrate(c, platform, 1, err, sizeof(err)), 0);
    PGresult *r = PQexec(c, "INSERT INTO instance (id) VALUES ('inst-1')");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    expect_one(c, "SELECT count(*) FROM instance WHERE created_at IS NOT NULL", "1");

    int rc = bb_pg_migrate(c, order_migs, 3, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "migrate: %s\n", err);
    assert_int_equal(rc, 0);
    expect_one(c, "SELECT string_agg(name, ',' ORDER BY seq) FROM mlog",
               "0001_log,0002_items,0003_items_name");
    expect_one(c, "SELECT string_agg(name, ',' ORDER BY name) FROM bunbase_migrations",
               "platform/0001_instance,t/0001_log,t/0002_items,t/0003_items_name");
    expect_one(c, "SELECT count(*) FROM bunbase_migrations WHERE applied_at IS NOT NULL", "4");
    expect_one(c, "SELECT name FROM items WHERE id = 1", "one");

    /* re-running applies nothing (mlog would grow, CREATE TABLE would fail) */
    assert_int_equal(bb_pg_migrate(c, order_migs, 3, err, sizeof(err)), 0);
    assert_int_equal(bb_pg_migrate(c, platform, 1, err, sizeof(err)), 0);
    expect_one(c, "SELECT count(*) FROM mlog", "3");
    expect_one(c, "SELECT count(*) FROM bunbase_migrations", "4");
    /* zero migrations is fine too */
    assert_int_equal(bb_pg_migrate(c, NULL, 0, err, sizeof(err)), 0);
    /* the lock is free again: another session can take it */
    PGconn *o = connect_ok(ci);
    expect_one(o, "SELECT pg_try_advisory_lock(7094698156812887345)", "t");
    expect_one(o, "SELECT pg_advisory_unlock(7094698156812887345)", "t");
    PQfinish(o);

    PQfinish(c);
    free(instance_sql);
    free(path);
    free(ci);
}

static void test_migrate_failure(void **state)
{
    (void)state;
    char *ci = make_db("m_fail");
    PGconn *c = connect_ok(ci);
    char err[512] = "";
    const struct bb_migration migs[] = {
        {"t/0001_good", "CREATE TABLE good (x int);"},
        {"t/0002_bad", "CREATE TABLE half (x int); INSERT INTO good VALUES (1); SELEC oops;"},
        {"t/0003_after", "CREATE TABLE after (x int);"},
    };
    int rc = bb_pg_migrate(c, migs, 3, err, sizeof(err));
    fprintf(stderr, "expected failure: %s\n", err);
    assert_int_equal(rc, BB_EIO);
    assert_non_null(strstr(err, "0002_bad"));
    assert_non_null(strstr(err, "syntax error"));
    /* earlier one applied and recorded; nothing of the failing one; later one not attempted */
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    expect_one(c, "SELECT string_agg(name, ',') FROM bunbase_migrations", "t/0001_good");
    expect_one(c, "SELECT count(*) FROM good", "0");
    expect_one(c, "SELECT to_regclass('half') IS NULL", "t");
    expect_one(c, "SELECT to_regclass('after') IS NULL", "t");
    /* the lock was released on the error path */
    PGconn *o = connect_ok(ci);
    expect_one(o, "SELECT pg_try_advisory_lock(7094698156812887345)", "t");
    expect_one(o, "SELECT pg_advisory_unlock(7094698156812887345)", "t");
    PQfinish(o);

    /* a fixed version of the migration then applies, and the rest after it */
    const struct bb_migration fixed[] = {
        migs[0], {"t/0002_bad", "CREATE TABLE half (x int);"}, migs[2]};
    assert_int_equal(bb_pg_migrate(c, fixed, 3, err, sizeof(err)), 0);
    expect_one(c, "SELECT string_agg(name, ',' ORDER BY name) FROM bunbase_migrations",
               "t/0001_good,t/0002_bad,t/0003_after");

    /* bad arguments */
    const struct bb_migration noname[] = {{NULL, "SELECT 1"}};
    assert_int_equal(bb_pg_migrate(c, noname, 1, err, sizeof(err)), BB_EINVAL);
    const struct bb_migration noservice[] = {{"0009_x", "SELECT 1"}};
    assert_int_equal(bb_pg_migrate(c, noservice, 1, err, sizeof(err)), BB_EINVAL);

    /* a database migrated before services had their own migrations recorded the platform's
     * without a prefix: it is recognised as the platform's and not applied again */
    PQclear(PQexec(c, "INSERT INTO bunbase_migrations (name) VALUES ('0007_legacy')"));
    const struct bb_migration legacy[] = {{"platform/0007_legacy", "CREATE TABLE good (x int);"}};
    assert_int_equal(bb_pg_migrate(c, legacy, 1, err, sizeof(err)), 0);
    expect_one(c, "SELECT count(*) FROM bunbase_migrations WHERE name = 'platform/0007_legacy'",
               "1");
    assert_int_equal(bb_pg_migrate(NULL, migs, 1, err, sizeof(err)), BB_EINVAL);
    PQfinish(c);
    free(ci);
}

struct mig_thread {
    const char *conninfo;
    pthread_barrier_t *barrier;
    int rc;
    char err[512];
};

static const struct bb_migration conc_migs[] = {
    {"t/0001_a", "SELECT pg_sleep(0.3); CREATE TABLE a (x int);"
               "CREATE TABLE clog (name text NOT NULL); INSERT INTO clog VALUES ('0001_a');"},
    {"t/0002_b", "CREATE TABLE b (x int); INSERT INTO clog VALUES ('0002_b');"},
    {"t/0003_c", "SELECT pg_sleep(0.1); CREATE TABLE c (x int); INSERT INTO clog VALUES ('0003_c');"},
    {"t/0004_d", "CREATE TABLE d (x int); INSERT INTO clog VALUES ('0004_d');"},
};

static void *mig_main(void *arg)
{
    struct mig_thread *t = arg;
    PGconn *c = NULL;
    t->rc = bb_pg_connect(t->conninfo, &c, t->err, sizeof(t->err));
    pthread_barrier_wait(t->barrier);
    if (t->rc == 0) t->rc = bb_pg_migrate(c, conc_migs, 4, t->err, sizeof(t->err));
    PQfinish(c);
    return NULL;
}

static void test_migrate_concurrent(void **state)
{
    (void)state;
    char *ci = make_db("m_conc");
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct mig_thread t[2];
    pthread_t th[2];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 2; i++) {
        t[i].conninfo = ci;
        t[i].barrier = &barrier;
        assert_int_equal(pthread_create(&th[i], NULL, mig_main, &t[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < 2; i++) {
        if (t[i].rc != 0) fprintf(stderr, "thread %d: %s\n", i, t[i].err);
        assert_int_equal(t[i].rc, 0);
    }
    PGconn *c = connect_ok(ci);
    expect_one(c, "SELECT count(*) FROM clog", "4");
    expect_one(c, "SELECT count(DISTINCT name) FROM clog", "4");
    expect_one(c, "SELECT count(*) FROM bunbase_migrations", "4");
    PQfinish(c);
    free(ci);
}

/* ---- pool -------------------------------------------------------------------------------- */

struct waiter {
    struct bb_pg_pool *pool;
    int rc;
    PGconn *got;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->rc = bb_pg_pool_acquire(w->pool, &w->got, 5000);
    return NULL;
}

static void test_pool(void **state)
{
    (void)state;
    const char *ci = bb_pg_cluster_conninfo(main_cluster);
    struct bb_pg_pool *p = NULL;
    assert_int_equal(bb_pg_pool_new(ci, 0, &p), BB_EINVAL);
    assert_int_equal(bb_pg_pool_new(ci, 2, &p), 0);

    PGconn *a = NULL, *b = NULL, *x = NULL;
    assert_int_equal(bb_pg_pool_acquire(p, &a, 0), 0);
    assert_int_equal(bb_pg_pool_acquire(p, &b, 0), 0);
    assert_ptr_not_equal(a, b);
    /* exhausted: no wait, then a bounded wait */
    assert_int_equal(bb_pg_pool_acquire(p, &x, 0), BB_EBUSY);
    assert_null(x);
    int64_t t0 = now_ms();
    assert_int_equal(bb_pg_pool_acquire(p, &x, 200), BB_EBUSY);
    int64_t waited = now_ms() - t0;
    assert_true(waited >= 190 && waited < 3000);

    /* a waiter is woken by a release; an open transaction is rolled back on release */
    PGresult *r = PQexec(a, "BEGIN");
    PQclear(r);
    assert_int_equal(PQtransactionStatus(a), PQTRANS_INTRANS);
    struct waiter w = {p, -99, NULL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
    usleep(100000);
    bb_pg_pool_release(p, a);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_ptr_equal(w.got, a);
    assert_int_equal(PQtransactionStatus(a), PQTRANS_IDLE);

    /* a connection broken while out is dropped on release; the next acquire opens a fresh one */
    char *pidsql = fmt("SELECT pg_terminate_backend(%d)", PQbackendPID(b));
    expect_one(a, pidsql, "t");
    free(pidsql);
    r = PQexec(b, "SELECT 1");
    assert_int_not_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    bb_pg_pool_release(p, b);
    PGconn *c = NULL;
    assert_int_equal(bb_pg_pool_acquire(p, &c, 1000), 0);
    expect_one(c, "SELECT 1", "1");

    bb_pg_pool_release(p, a);
    bb_pg_pool_release(p, c);
    bb_pg_pool_release(p, NULL);
    bb_pg_pool_free(p);
    bb_pg_pool_free(NULL);

    /* an unreachable server: acquire fails without handing out anything, and frees its slot */
    char *bad = fmt("host=%s/nonexistent port=5432 dbname=bunbase", tmp_root);
    assert_int_equal(bb_pg_pool_new(bad, 1, &p), 0);
    assert_int_equal(bb_pg_pool_acquire(p, &x, 0), BB_EUNAVAIL);
    assert_null(x);
    assert_int_equal(bb_pg_pool_acquire(p, &x, 0), BB_EUNAVAIL);
    bb_pg_pool_free(p);
    free(bad);
}

/* ---- cluster lifecycle ------------------------------------------------------------------- */

/* A previous owner dropped its handle without stopping (as if SIGKILLed): its postgres still runs
 * on the dir. A new start shuts it down and starts a fresh server. */
static void test_stale_running_server(void **state)
{
    (void)state;
    char *dir = fmt("%s/stale", tmp_root);
    char err[512] = "";
    int rc = bb_pg_cluster_start(dir, NULL, &extra[0], err, sizeof(err));
    if (rc) fprintf(stderr, "start: %s\n", err);
    assert_int_equal(rc, 0);
    pid_t pid1 = pidfile_pid(dir);
    assert_true(pid1 > 1);
    assert_false(pid_gone(pid1));

    rc = bb_pg_cluster_start(dir, NULL, &extra[1], err, sizeof(err));
    if (rc) fprintf(stderr, "restart: %s\n", err);
    assert_int_equal(rc, 0);
    pid_t pid2 = pidfile_pid(dir);
    assert_true(pid2 > 1);
    assert_int_not_equal(pid1, pid2);
    assert_true(pid_gone(pid1));
    PGconn *c = connect_ok(bb_pg_cluster_conninfo(extra[1]));
    expect_one(c, "SELECT 1", "1");
    PQfinish(c);

    /* the stale handle's stop must not touch the new server */
    assert_int_equal(bb_pg_cluster_stop(extra[0]), 0);
    extra[0] = NULL;
    assert_false(pid_gone(pid2));
    assert_int_equal(bb_pg_ping(bb_pg_cluster_conninfo(extra[1])), 0);

    /* stop: the process is gone */
    assert_int_equal(bb_pg_cluster_stop(extra[1]), 0);
    extra[1] = NULL;
    assert_true(pid_gone(pid2));

    /* a postmaster.pid naming a live process that is not a server of this dir (pid reused after
     * a crash): postgres alone would refuse to start; we recognise it and remove the file */
    pid_t sleeper = fork();
    assert_true(sleeper >= 0);
    if (sleeper == 0) {
        pause();
        _exit(0);
    }
    char *pidfile = fmt("%s/postgres/data/postmaster.pid", dir);
    FILE *f = fopen(pidfile, "w");
    assert_non_null(f);
    fprintf(f, "%d\n%s/postgres/data\n", (int)sleeper, dir);
    fclose(f);
    rc = bb_pg_cluster_start(dir, NULL, &extra[0], err, sizeof(err));
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    if (rc) fprintf(stderr, "start over foreign pid file: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_not_equal(pidfile_pid(dir), sleeper);
    assert_int_equal(bb_pg_ping(bb_pg_cluster_conninfo(extra[0])), 0);
    assert_int_equal(bb_pg_cluster_stop(extra[0]), 0);
    extra[0] = NULL;
    free(pidfile);
    free(dir);
}

/* The real thing: a process that started the cluster is SIGKILLed. */
static void test_stale_after_sigkill(void **state)
{
    (void)state;
    char *dir = fmt("%s/killed", tmp_root);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct bb_pg_cluster *cl = NULL;
        char err[512] = "";
        close(fds[0]);
        int rc = bb_pg_cluster_start(dir, NULL, &cl, err, sizeof(err));
        if (rc != 0) fprintf(stderr, "child start: %s\n", err);
        pid_t pm = rc == 0 ? pidfile_pid(dir) : -1;
        ssize_t n = write(fds[1], &pm, sizeof(pm));
        (void)n;
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    close(fds[1]);
    pid_t pm = -1;
    assert_int_equal(read(fds[0], &pm, sizeof(pm)), (ssize_t)sizeof(pm));
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_true(pm > 1);

    /* the server noticed its owner died (parent-death signal) and shut itself down */
    int64_t t0 = now_ms();
    while (!pid_gone(pm) && now_ms() - t0 < 20000)
        usleep(20000);
    assert_true(pid_gone(pm));

    char err[512] = "";
    int rc = bb_pg_cluster_start(dir, NULL, &extra[0], err, sizeof(err));
    if (rc) fprintf(stderr, "restart: %s\n", err);
    assert_int_equal(rc, 0);
    PGconn *c = connect_ok(bb_pg_cluster_conninfo(extra[0]));
    expect_one(c, "SELECT 1", "1");
    PQfinish(c);
    pid_t pm2 = pidfile_pid(dir);
    assert_true(pm2 > 1);
    assert_true(pid_gone(pm));
    assert_int_equal(bb_pg_cluster_stop(extra[0]), 0);
    extra[0] = NULL;
    assert_true(pid_gone(pm2));
    free(dir);
}

/* As root the server runs as `postgres`, which must traverse every parent of the data dir. */
static void test_untraversable_parent(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    char *locked = fmt("%s/locked", tmp_root);
    char *dir = fmt("%s/locked/data", tmp_root);
    assert_int_equal(mkdir(locked, 0700), 0);
    char err[512] = "";
    struct bb_pg_cluster *cl = NULL;
    assert_int_equal(bb_pg_cluster_start(dir, NULL, &cl, err, sizeof(err)), BB_EPERM);
    assert_null(cl);
    fprintf(stderr, "expected failure: %s\n", err);
    char *needle = fmt("directory %s is not traversable", locked);
    assert_non_null(strstr(err, needle));
    free(needle);
    free(locked);
    free(dir);

    assert_int_equal(bb_pg_cluster_start(NULL, NULL, &cl, err, sizeof(err)), BB_EINVAL);
}

/* As root, a data directory postgres cannot reach (a clone in /root, mode 0700) still works: the
 * cluster lives under the fallback root, recorded in <data>/postgres.location; the next start uses
 * the same cluster (data kept); a deleted data directory leaves an orphan that a later relocation
 * removes, and a new data directory at the same path gets a fresh cluster. */
static void test_untraversable_parent_relocates(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    char *locked = fmt("%s/home0700", tmp_root);
    char *dir = fmt("%s/home0700/clone/.bunbase", tmp_root);
    char *fallback = fmt("%s/var/pg", tmp_root);
    char *locfile = fmt("%s/postgres.location", dir);
    assert_int_equal(mkdir(locked, 0700), 0);
    char *clone = fmt("%s/home0700/clone", tmp_root);
    assert_int_equal(mkdir(clone, 0755), 0);
    char err[512] = "";
    struct bb_pg_cluster *cl = NULL;
    int rc = bb_pg_cluster_start(dir, fallback, &cl, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "bb_pg_cluster_start: %s\n", err);
    assert_int_equal(rc, 0);
    extra[0] = cl;

    char loc[512];
    FILE *f = fopen(locfile, "r");
    assert_non_null(f);
    assert_non_null(fgets(loc, sizeof loc, f));
    fclose(f);
    assert_int_equal(strncmp(loc, fallback, strlen(fallback)), 0);
    struct stat st;
    assert_int_equal(stat(fallback, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0711);
    char *owner = fmt("%s/owner", loc);
    f = fopen(owner, "r");
    assert_non_null(f);
    char back[512];
    assert_non_null(fgets(back, sizeof back, f));
    fclose(f);
    char *abs = realpath(dir, NULL);
    assert_string_equal(back, abs);
    char *pgver = fmt("%s/postgres/data/PG_VERSION", loc);
    char *inside = fmt("%s/postgres", dir);
    assert_int_equal(access(pgver, F_OK), 0);
    assert_int_not_equal(access(inside, F_OK), 0); /* nothing under the data dir */
    free(pgver);
    free(inside);

    PGconn *c = connect_ok(bb_pg_cluster_conninfo(cl));
    PQclear(PQexec(c, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"));
    PQfinish(c);
    assert_int_equal(bb_pg_cluster_stop(cl), 0);
    extra[0] = NULL;

    /* second start: same cluster, data kept */
    assert_int_equal(bb_pg_cluster_start(dir, fallback, &cl, err, sizeof(err)), 0);
    extra[0] = cl;
    c = connect_ok(bb_pg_cluster_conninfo(cl));
    expect_one(c, "SELECT v FROM kept", "42");
    PQfinish(c);
    assert_int_equal(bb_pg_cluster_stop(cl), 0);
    extra[0] = NULL;

    /* the user deletes the data directory: the old cluster is an orphan (aged past the minute a
     * starting bunbased is given), removed when the next relocation happens; the new data
     * directory at the same path gets a fresh, empty cluster */
    rm_rf(dir);
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    assert_int_equal(utimensat(AT_FDCWD, loc, old, 0), 0);
    assert_int_equal(bb_pg_cluster_start(dir, fallback, &cl, err, sizeof(err)), 0);
    extra[0] = cl;
    assert_int_not_equal(access(loc, F_OK), 0);
    c = connect_ok(bb_pg_cluster_conninfo(cl));
    expect_one(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'", "0");
    PQfinish(c);
    assert_int_equal(bb_pg_cluster_stop(cl), 0);
    extra[0] = NULL;

    /* a fallback root someone else may write is refused */
    rm_rf(dir);
    char *bad = fmt("%s/var/open", tmp_root);
    assert_int_equal(mkdir(bad, 0777), 0);
    assert_int_equal(chmod(bad, 0777), 0);
    assert_int_equal(bb_pg_cluster_start(dir, bad, &cl, err, sizeof(err)), BB_EPERM);
    assert_non_null(strstr(err, "writable by nobody else"));
    free(bad);
    free(abs);
    free(owner);
    free(clone);
    free(locfile);
    free(fallback);
    free(locked);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_select1),
        cmocka_unit_test(test_migrate_order_and_rerun),
        cmocka_unit_test(test_migrate_failure),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_pool),
        cmocka_unit_test_teardown(test_stale_running_server, extra_teardown),
        cmocka_unit_test_teardown(test_stale_after_sigkill, extra_teardown),
        cmocka_unit_test(test_untraversable_parent),
        cmocka_unit_test_teardown(test_untraversable_parent_relocates, extra_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
