/* bb_pg.h — PostgreSQL for the control plane: an embedded cluster, connections, a small pool and
 * the migration runner. Layout, auth choice and recovery rules: docs/internals/pg.md.
 *
 * Errors follow bb_err.h. Functions taking (char *err, size_t cap) write a one-line human message
 * there on failure (always NUL-terminated; err may be NULL when cap is 0); on success they leave
 * it untouched. Codes used: BB_EINVAL (bad argument / unusable directory), BB_ENOMEM,
 * BB_EIO (file system or PostgreSQL error), BB_EPERM (the server user cannot reach the data
 * directory), BB_ENOTFOUND (no PostgreSQL server binaries installed), BB_EUNAVAIL (server not
 * reachable / did not start), BB_ETIMEDOUT, BB_EBUSY.
 */
#ifndef BB_PG_H
#define BB_PG_H

#include <stddef.h>
#include <libpq-fe.h>

/* ---- Embedded cluster -------------------------------------------------------------------- */

struct bb_pg_cluster;

/* Starts (initialising on first use) a private PostgreSQL cluster under <data_dir>/postgres:
 *   <data_dir>/postgres/data          PGDATA (initdb'd when it has no PG_VERSION)
 *   <data_dir>/postgres/run           Unix socket directory (the server listens on no TCP port)
 *   <data_dir>/postgres/postgres.log  server (and initdb) output, appended
 * When the process runs as root, those are owned by the `postgres` system user (mode 0700) and the
 * server runs as that user; otherwise everything runs as the current user. data_dir is created
 * (0700, or 0711 as root) if missing; every directory on its path must be traversable by the
 * server user. When it is not (as root, e.g. a data directory under /root, mode 0700) and
 * fallback_root is an absolute path, the cluster lives instead in a new directory
 * <fallback_root>/<id>/postgres/… (fallback_root created 0711, owned by us, writable by nobody
 * else), recorded in <data_dir>/postgres.location so later starts find it, with a warning in the
 * log; cluster directories there whose data directory no longer records them are removed. With
 * no fallback_root (NULL or ""), BB_EPERM naming the first directory the server user cannot enter. A server left running by a previous owner of
 * this directory (e.g. a SIGKILLed bunbased) is shut down (fast) and a fresh one started. The
 * database `bunbase` is created on first start.
 * The caller must make sure no other live process manages the same data_dir (bunbased holds the
 * data-dir lock). Call from a thread that lives as long as the cluster (the main thread): the
 * server gets SIGINT (fast shutdown) when that thread dies, so a killed owner leaves no orphan.
 * data_dir: borrowed. *out: caller owns, release with bb_pg_cluster_stop(). */
int bb_pg_cluster_start(const char *data_dir, const char *fallback_root, struct bb_pg_cluster **out,
                        char *err, size_t errcap);

/* libpq conninfo for the `bunbase` database ("host='<socket dir>' port=5432 dbname=bunbase
 * user=postgres"). Owned by the cluster, valid until bb_pg_cluster_stop(). Later keywords
 * override earlier ones, so callers may append e.g. " dbname=other". */
const char *bb_pg_cluster_conninfo(const struct bb_pg_cluster *c);

/* Fast shutdown (SIGINT), waiting up to 30 s; then immediate shutdown (SIGQUIT, 10 s); then
 * SIGKILL. Always frees c (NULL is a no-op). Returns 0 on a clean fast shutdown, BB_ETIMEDOUT if
 * it had to escalate. Not async-signal-safe: call it from the main thread after the event loop
 * has stopped, never from a signal handler. All connections should be closed first (a fast
 * shutdown disconnects them anyway). */
int bb_pg_cluster_stop(struct bb_pg_cluster *c);

/* ---- Connections ------------------------------------------------------------------------- */

/* Opens a connection. On success *out is the caller's (PQfinish it); on failure *out is NULL,
 * the libpq message is in err and the result is BB_EUNAVAIL (or BB_ENOMEM/BB_EINVAL). */
int bb_pg_connect(const char *conninfo, PGconn **out, char *err, size_t cap);

/* 0 when a server accepts connections at conninfo; BB_EBUSY when it answers but refuses (e.g.
 * starting up), BB_EUNAVAIL when nothing answers, BB_EINVAL for a bad conninfo. */
int bb_pg_ping(const char *conninfo);

/* A thread-safe pool of at most max connections, opened lazily. */
struct bb_pg_pool;

/* conninfo: copied. *out: caller owns, free with bb_pg_pool_free(). max must be >= 1. */
int bb_pg_pool_new(const char *conninfo, int max, struct bb_pg_pool **out);

/* Hands out an idle connection, or opens one while fewer than max exist, or waits up to
 * timeout_ms (0 = do not wait) for one to be released: BB_EBUSY when none came. BB_EUNAVAIL (with
 * nothing handed out) when a new connection could not be opened. *out is borrowed from the pool
 * until bb_pg_pool_release(). */
int bb_pg_pool_acquire(struct bb_pg_pool *p, PGconn **out, int timeout_ms);

/* Gives conn back (takes it; NULL is a no-op). An open transaction is rolled back; a broken
 * connection, or one still busy with a query, is closed and its slot freed, so the next acquire
 * opens a fresh one. Session state (SET, prepared statements, LISTEN) is NOT reset: don't leave
 * any behind. */
void bb_pg_pool_release(struct bb_pg_pool *p, PGconn *conn);

/* Closes the idle connections and frees p (NULL is a no-op). Every acquired connection must have
 * been released before. */
void bb_pg_pool_free(struct bb_pg_pool *p);

/* ---- Migrations -------------------------------------------------------------------------- */

/* One migration: name (unique, "<service>/NNNN_name", e.g. "platform/0001_instance") and SQL (may
 * hold several statements, must not contain transaction control or statements that cannot run in
 * a transaction block). Each service's are generated into bb_migrations.h from
 * src/<service>/migrations/ (see cmake/embed_migrations.cmake). */
struct bb_migration {
    const char *name;
    const char *sql;
};

/* Applies, in array order, each of m[0..n) not yet recorded in table bunbase_migrations (created
 * if missing), each in its own transaction together with its record row, all under a session
 * advisory lock (BB_PG_MIGRATE_LOCK_KEY) so concurrent migrators apply nothing twice; the lock is
 * released on every path. A failing migration is rolled back (earlier ones stay applied) and the
 * result is BB_EIO with err naming the migration and the PostgreSQL error. c is borrowed and must
 * be idle (not in a transaction). */
int bb_pg_migrate(PGconn *c, const struct bb_migration *m, int n, char *err, size_t cap);

/* The advisory lock key bb_pg_migrate() holds ("bunbase1" in ASCII). */
#define BB_PG_MIGRATE_LOCK_KEY 0x62756e6261736531LL

#endif
