/* bb_pg.c — embedded PostgreSQL cluster, connections, pool, migration runner.
 * Design notes (layout, auth, stale recovery, migration semantics): docs/internals/pg.md.
 *
 * Child processes (pg_config, initdb, postgres) are started with bb_proc (fork + execve, never
 * through a shell, clean environment); the traversal probe forks without exec and only makes
 * async-signal-safe calls (the parent may have other threads).
 */
#include "bb_pg.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_id.h"
#include "bb_log.h"
#include "bb_proc.h"
#include "bb_time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_PORT "5432"
#define PG_SUPERUSER "postgres"
#define PG_DBNAME "bunbase"
#define PG_SOCKET_NAME ".s.PGSQL." PG_PORT

#define INITDB_TIMEOUT_MS 180000
#define READY_TIMEOUT_MS 60000
#define FAST_STOP_MS 30000
#define IMMEDIATE_STOP_MS 10000
#define KILL_STOP_MS 5000

/* ---- small helpers ----------------------------------------------------------------------- */

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Copies a libpq message (which ends in '\n' and may span lines) as one line. */
static void one_line(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    if (cap == 0) return;
    for (; src && *src && o + 1 < cap; src++)
        dst[o++] = (*src == '\n' || *src == '\r') ? ' ' : *src;
    while (o > 0 && dst[o - 1] == ' ')
        o--;
    dst[o] = '\0';
}

/* Appends key='value' (libpq conninfo quoting) to a heap string. */
static char *conninfo_for(const char *rundir, const char *dbname)
{
    size_t n = strlen(rundir);
    char *q = malloc(2 * n + 3);
    if (!q) return NULL;
    size_t o = 0;
    q[o++] = '\'';
    for (size_t i = 0; i < n; i++) {
        if (rundir[i] == '\'' || rundir[i] == '\\') q[o++] = '\\';
        q[o++] = rundir[i];
    }
    q[o++] = '\'';
    q[o] = '\0';
    char *s = xasprintf("host=%s port=" PG_PORT " dbname=%s user=" PG_SUPERUSER, q, dbname);
    free(q);
    return s;
}

/* Last two non-empty lines of a log file, joined with " | " (for error messages). */
static void log_tail(const char *path, char *buf, size_t cap)
{
    char tmp[2048];
    if (cap == 0) return;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)sizeof(tmp) - 1 ? end - ((off_t)sizeof(tmp) - 1) : 0;
    ssize_t n = pread(fd, tmp, sizeof(tmp) - 1, start);
    close(fd);
    if (n <= 0) return;
    tmp[n] = '\0';
    /* find the starts of the last two non-empty lines */
    char *lines[2] = {NULL, NULL};
    int found = 0;
    for (ssize_t i = n - 1; i >= 0 && found < 2; i--) {
        if (tmp[i] == '\n') {
            tmp[i] = '\0';
            if (tmp[i + 1] != '\0') lines[found++] = &tmp[i + 1];
        } else if (i == 0 && tmp[0] != '\0') {
            lines[found++] = &tmp[0];
        }
    }
    if (found == 2)
        snprintf(buf, cap, "%s | %s", lines[1], lines[0]);
    else if (found == 1)
        snprintf(buf, cap, "%s", lines[0]);
}

/* ---- child processes ----------------------------------------------------------------------- */

/* Who child processes run as. drop: switch to pu (we are root). */
struct runas {
    int drop;
    uid_t uid;
    char name[64];
    struct bb_proc_user pu;
};

static int runas_init(struct runas *ra, char *err, size_t cap)
{
    memset(ra, 0, sizeof(*ra));
    if (geteuid() != 0) {
        ra->uid = geteuid();
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(ra->uid, &pw, buf, sizeof(buf), &res) == 0 && res)
            snprintf(ra->name, sizeof(ra->name), "%s", pw.pw_name);
        else
            snprintf(ra->name, sizeof(ra->name), "uid %u", (unsigned)ra->uid);
        return 0;
    }
    int rc = bb_proc_user_lookup("postgres", &ra->pu);
    if (rc == BB_EPERM) {
        seterr(err, cap, "the 'postgres' user has uid 0; refusing to run PostgreSQL as root");
        return BB_EINVAL;
    }
    if (rc != 0) {
        seterr(err, cap,
               "running as root but there is no 'postgres' system user to run PostgreSQL as "
               "(install postgresql, or set BUNBASE_DATABASE_URL)");
        return BB_EINVAL;
    }
    ra->drop = 1;
    ra->uid = ra->pu.uid;
    snprintf(ra->name, sizeof(ra->name), "postgres");
    return 0;
}

static const struct bb_proc_user *runas_user(const struct runas *ra)
{
    return ra->drop ? &ra->pu : NULL;
}

/* Starts argv as the run-as user, its output appended to logpath (or into out_fd), in its own
 * session; pdeath: the server gets SIGINT (fast shutdown) when the starting thread dies. */
static int spawn(const struct runas *ra, char *const argv[], const char *logpath, int out_fd,
                 int pdeath, pid_t *out)
{
    struct bb_proc_spec spec = {.argv = argv,
                                .user = runas_user(ra),
                                .log_path = logpath,
                                .stdout_fd = out_fd,
                                .pdeath_signal = pdeath ? SIGINT : 0,
                                .flags = BB_PROC_NEW_SESSION};
    return bb_proc_spawn(&spec, out);
}

/* Runs argv to completion (bounded; on timeout SIGTERM, which initdb cleans up after). 0 when
 * it exited 0. */
static int run_wait(const struct runas *ra, char *const argv[], const char *logpath, int timeout_ms,
                    int *exit_code)
{
    struct bb_proc_spec spec = {.argv = argv,
                                .user = runas_user(ra),
                                .log_path = logpath,
                                .stdout_fd = -1,
                                .flags = BB_PROC_NEW_SESSION};
    return bb_proc_run(&spec, (uint64_t)timeout_ms, NULL, 0, exit_code);
}

/* ---- locating the binaries --------------------------------------------------------------- */

static int is_exec(const char *dir, const char *name)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p)) return 0;
    return access(p, X_OK) == 0;
}

static int bindir_ok(const char *dir)
{
    return is_exec(dir, "postgres") && is_exec(dir, "initdb");
}

/* `pg_config --bindir` (found on PATH), as the current user. */
static int bindir_from_pg_config(char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    char exe[PATH_MAX] = "";
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0 && len < sizeof(exe) - 16) {
            snprintf(exe, sizeof(exe), "%.*s/pg_config", (int)len, p);
            if (exe[0] == '/' && access(exe, X_OK) == 0) break;
        }
        exe[0] = '\0';
        if (!e) break;
        p = e + 1;
    }
    if (!exe[0]) return BB_ENOTFOUND;

    char *argv[] = {exe, "--bindir", NULL};
    struct bb_proc_spec spec = {.argv = argv, .stdout_fd = -1};
    int rc = bb_proc_run(&spec, 10000, buf, cap, NULL);
    if (rc != 0) return BB_EIO;
    size_t o = strlen(buf);
    while (o > 0 && (buf[o - 1] == '\n' || buf[o - 1] == '\r'))
        buf[--o] = '\0';
    return o == 0 ? BB_EIO : 0;
}

/* Picks the directory holding postgres and initdb: the major version PGDATA was made with if its
 * binaries are installed (Debian layout), else pg_config --bindir, else the newest
 * /usr/lib/postgresql/<N>/bin. */
static int find_bindir(const char *pgdata, char *buf, size_t cap)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/PG_VERSION", pgdata);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        char v[16] = "";
        ssize_t n = read(fd, v, sizeof(v) - 1);
        close(fd);
        if (n > 0) {
            v[n] = '\0';
            char *end;
            long major = strtol(v, &end, 10);
            if (end != v && major > 0 && major < 1000) {
                snprintf(buf, cap, "/usr/lib/postgresql/%ld/bin", major);
                if (bindir_ok(buf)) return 0;
            }
        }
    }
    if (bindir_from_pg_config(buf, cap) == 0 && bindir_ok(buf)) return 0;
    DIR *d = opendir("/usr/lib/postgresql");
    long best = -1;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end;
            long v = strtol(de->d_name, &end, 10);
            if (end == de->d_name || *end != '\0' || v <= best) continue;
            snprintf(p, sizeof(p), "/usr/lib/postgresql/%ld/bin", v);
            if (bindir_ok(p)) best = v;
        }
        closedir(d);
    }
    if (best < 0) return BB_ENOTFOUND;
    snprintf(buf, cap, "/usr/lib/postgresql/%ld/bin", best);
    return 0;
}

/* ---- directories ------------------------------------------------------------------------- */

/* As root: can the server user traverse every directory from / down to dir (absolute)? Checked
 * by a child that switches to that user and calls access(X_OK), so ACLs and groups count.
 * On failure names the first directory it cannot enter. */
static int check_traversable(const struct runas *ra, const char *dir, char *err, size_t cap)
{
    if (!ra->drop) return 0;
    size_t len = strlen(dir);
    char *path = strdup(dir);
    if (!path) return BB_ENOMEM;
    pid_t pid = fork();
    if (pid < 0) {
        free(path);
        return BB_EIO;
    }
    if (pid == 0) {
        if (bb_proc_user_become(runas_user(ra)) != 0) _exit(255);
        /* probe "/", then each prefix ending at a '/', then the full path; exit code = the byte
         * length of the failing prefix's component count */
        int k = 1;
        if (access("/", X_OK) != 0) _exit(k);
        for (size_t i = 1; i <= len; i++) {
            if (i == len || dir[i] == '/') {
                k++;
                char save = path[i];
                path[i] = '\0';
                int ok = access(path, X_OK) == 0;
                path[i] = save;
                if (!ok) _exit(k > 250 ? 250 : k);
            }
        }
        _exit(0);
    }
    int st = 0, rc = bb_proc_wait(pid, 10000, &st);
    if (rc != 0) {
        kill(pid, SIGKILL);
        bb_proc_wait(pid, 1000, &st);
        free(path);
        seterr(err, cap, "could not check access to %s", dir);
        return BB_EIO;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
    if (code == 0) {
        free(path);
        return 0;
    }
    if (code == 255) {
        free(path);
        seterr(err, cap, "could not switch to user %s to check access to %s", ra->name, dir);
        return BB_EIO;
    }
    /* rebuild the failing prefix */
    const char *bad = "/";
    int k = 1;
    for (size_t i = 1; i <= len && code > 1; i++) {
        if (i == len || dir[i] == '/') {
            k++;
            if (k == code) {
                path[i] = '\0';
                bad = path;
                break;
            }
        }
    }
    seterr(err, cap,
           "directory %s is not traversable by the PostgreSQL server user %s (uid %u); grant it "
           "execute permission (e.g. chmod o+x or an ACL) or put the data directory elsewhere",
           bad, ra->name, (unsigned)ra->uid);
    free(path);
    return BB_EPERM;
}

/* Makes dir (mode 0700) owned by the run-as user, or checks an existing one is. */
static int ensure_owned_dir(const struct runas *ra, const char *dir, char *err, size_t cap)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        seterr(err, cap, "cannot create %s: %s", dir, strerror(errno));
        return BB_EIO;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        seterr(err, cap, "cannot stat %s: %s", dir, strerror(errno));
        return BB_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        seterr(err, cap, "%s exists and is not a directory", dir);
        return BB_EINVAL;
    }
    if (ra->drop && st.st_uid == 0 && chown(dir, ra->pu.uid, ra->pu.gid) == 0) st.st_uid = ra->uid;
    if (st.st_uid != ra->uid) {
        seterr(err, cap, "%s is owned by uid %u, expected %s (uid %u)", dir, (unsigned)st.st_uid,
               ra->name, (unsigned)ra->uid);
        return BB_EPERM;
    }
    if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) != 0) {
        seterr(err, cap, "cannot chmod 0700 %s: %s", dir, strerror(errno));
        return BB_EIO;
    }
    return 0;
}

/* ---- where the cluster lives ------------------------------------------------------------- */

#define PG_LOCATION_FILE "postgres.location"
#define PG_OWNER_FILE "owner"
#define PG_ORPHAN_MIN_AGE_S 60

/* The fallback root must be ours alone: a directory owned by us, writable by nobody else (a local
 * user who could plant files there could swap a cluster directory under us). Created 0711. */
static int ensure_fallback_root(const char *root, char *err, size_t cap)
{
    int rc = bb_fs_mkdir_p(root, 0711);
    if (rc != 0) {
        seterr(err, cap, "cannot create %s: %s", root, strerror(errno));
        return rc;
    }
    struct stat st;
    if (lstat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        seterr(err, cap, "%s is not a directory", root);
        return BB_EINVAL;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 022)) {
        seterr(err, cap, "%s must be owned by uid %u and writable by nobody else", root,
               (unsigned)geteuid());
        return BB_EPERM;
    }
    if ((st.st_mode & 0711) != 0711 && chmod(root, (st.st_mode & 07777) | 0711) != 0) {
        seterr(err, cap, "cannot chmod %s: %s", root, strerror(errno));
        return BB_EIO;
    }
    return 0;
}

/* Removes cluster directories under root whose data directory no longer records them (the data
 * directory was deleted or moved to a new cluster). Directories younger than a minute are left
 * alone (another bunbased may be creating one right now), and so is any with a postmaster.pid. */
static void gc_orphans(const char *root)
{
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != BB_ID_LEN || !bb_id_is_valid(e->d_name)) continue;
        char dir[PATH_MAX], path[PATH_MAX + 64], owner[PATH_MAX], loc[PATH_MAX];
        struct stat st;
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || now - st.st_mtime < PG_ORPHAN_MIN_AGE_S)
            continue;
        snprintf(path, sizeof path, "%s/" PG_OWNER_FILE, dir);
        if (bb_fs_read_small(path, owner, sizeof owner, NULL) == 0) {
            snprintf(path, sizeof path, "%s/" PG_LOCATION_FILE, owner);
            if (bb_fs_read_small(path, loc, sizeof loc, NULL) == 0 && strcmp(loc, dir) == 0)
                continue; /* still in use */
        }
        snprintf(path, sizeof path, "%s/postgres/data/postmaster.pid", dir);
        if (access(path, F_OK) == 0) continue;
        if (bb_fs_remove_tree(dir) == 0) bb_info("pg", "orphan_cluster_removed dir=%s", dir);
    }
    closedir(d);
}

/* Chooses the directory that holds postgres/ for the data directory abs: the one recorded in
 * <abs>/postgres.location if any, else abs itself when the server user can reach it, else (as
 * root, with a fallback root) a new <fallback_root>/<id>, recorded in <abs>/postgres.location
 * and pointing back at abs in <id>/owner. *home: caller frees. */
static int pick_home(const struct runas *ra, const char *abs, const char *fallback_root,
                     char **home, char *err, size_t cap)
{
    char locpath[PATH_MAX], loc[PATH_MAX];
    snprintf(locpath, sizeof locpath, "%s/" PG_LOCATION_FILE, abs);
    int rc = bb_fs_read_small(locpath, loc, sizeof loc, NULL);
    if (rc == 0) {
        if (loc[0] != '/') {
            seterr(err, cap, "%s does not hold an absolute path", locpath);
            return BB_EINVAL;
        }
        rc = check_traversable(ra, loc, err, cap);
        if (rc != 0) return rc;
        *home = strdup(loc);
        return *home ? 0 : BB_ENOMEM;
    }
    if (rc != BB_ENOTFOUND) {
        seterr(err, cap, "cannot read %s: %s", locpath, bb_strerror(rc));
        return rc;
    }
    rc = check_traversable(ra, abs, err, cap);
    if (rc == 0) {
        *home = strdup(abs);
        return *home ? 0 : BB_ENOMEM;
    }
    if (rc != BB_EPERM || !fallback_root || !*fallback_root) return rc;

    char why[512];
    snprintf(why, sizeof why, "%s", err ? err : "");
    if (fallback_root[0] != '/') {
        seterr(err, cap, "the PostgreSQL fallback directory %s is not an absolute path",
               fallback_root);
        return BB_EINVAL;
    }
    rc = ensure_fallback_root(fallback_root, err, cap);
    if (rc != 0) return rc;
    gc_orphans(fallback_root);
    char id[BB_ID_LEN + 1];
    bb_id_new(id);
    char *dir = xasprintf("%s/%s", fallback_root, id);
    char owner[PATH_MAX];
    if (!dir) return BB_ENOMEM;
    if (mkdir(dir, 0711) != 0) {
        seterr(err, cap, "cannot create %s: %s", dir, strerror(errno));
        free(dir);
        return BB_EIO;
    }
    chmod(dir, 0711);
    snprintf(owner, sizeof owner, "%s/" PG_OWNER_FILE, dir);
    if (bb_fs_write_atomic(owner, abs, strlen(abs), 0600) != 0 ||
        bb_fs_write_atomic(locpath, dir, strlen(dir), 0600) != 0) {
        seterr(err, cap, "cannot record the cluster location %s: %s", dir, strerror(errno));
        bb_fs_remove_tree(dir);
        free(dir);
        return BB_EIO;
    }
    rc = check_traversable(ra, dir, err, cap);
    if (rc != 0) {
        free(dir);
        return rc;
    }
    bb_warn("pg",
            "cluster_relocated reason=\"%s\" dir=%s recorded_in=%s (the data directory stays "
            "where it is; only PostgreSQL's files live there)",
            why, dir, locpath);
    *home = dir;
    return 0;
}

/* ---- postmaster.pid and stale servers ---------------------------------------------------- */

enum pm_state { PM_DEAD, PM_ALIVE, PM_FOREIGN, PM_UNKNOWN };

static int read_pidfile(const char *path, pid_t *out)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? BB_ENOTFOUND : BB_EIO;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return BB_EINVAL;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (end == buf || v <= 1 || v > INT_MAX) return BB_EINVAL;
    *out = (pid_t)v;
    return 0;
}

/* Is pid a live postmaster of the PGDATA identified by (dev, ino)? A postmaster chdirs to its
 * data directory, so /proc/<pid>/cwd tells. Reaps pid if it is our exited child. */
static enum pm_state pm_probe(pid_t pid, dev_t dev, ino_t ino)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return PM_DEAD;
    if (kill(pid, 0) != 0) {
        if (errno == ESRCH) return PM_DEAD;
        /* EPERM: another user's process; our servers run as our run-as user, so not ours */
        if (errno == EPERM) return PM_FOREIGN;
    }
    char p[64], buf[512];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? PM_DEAD : PM_UNKNOWN;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X')) return PM_DEAD; /* zombie */
    }
    snprintf(p, sizeof(p), "/proc/%d/cwd", (int)pid);
    struct stat cs;
    if (stat(p, &cs) != 0) return errno == ENOENT ? PM_DEAD : PM_UNKNOWN;
    return (cs.st_dev == dev && cs.st_ino == ino) ? PM_ALIVE : PM_FOREIGN;
}

static int wait_pm_gone(pid_t pid, dev_t dev, ino_t ino, int timeout_ms)
{
    int64_t deadline = (int64_t)bb_time_mono_ms() + timeout_ms;
    for (;;) {
        if (pm_probe(pid, dev, ino) != PM_ALIVE) return 0;
        if ((int64_t)bb_time_mono_ms() >= deadline) return BB_ETIMEDOUT;
        bb_time_sleep_ms(20);
    }
}

/* Fast shutdown, then immediate, then SIGKILL. 0 clean, BB_ETIMEDOUT escalated (but gone),
 * BB_EBUSY still alive. */
static int pm_stop(pid_t pid, dev_t dev, ino_t ino)
{
    if (kill(pid, SIGINT) != 0 && errno == ESRCH) return 0;
    if (wait_pm_gone(pid, dev, ino, FAST_STOP_MS) == 0) return 0;
    bb_warn("pg", "stop_escalate pid=%d signal=SIGQUIT", (int)pid);
    kill(pid, SIGQUIT);
    if (wait_pm_gone(pid, dev, ino, IMMEDIATE_STOP_MS) == 0) return BB_ETIMEDOUT;
    bb_warn("pg", "stop_escalate pid=%d signal=SIGKILL", (int)pid);
    kill(pid, SIGKILL);
    if (wait_pm_gone(pid, dev, ino, KILL_STOP_MS) == 0) return BB_ETIMEDOUT;
    return BB_EBUSY;
}

/* Deals with a postmaster.pid left by a previous owner. A live server of this PGDATA is shut
 * down; a pid file naming a dead, zombie or unrelated process is removed (with the socket lock
 * file), because postgres itself refuses to start while the named pid exists at all. */
static int recover_stale(const char *pgdata, const char *rundir, const struct stat *dst, char *err,
                         size_t cap)
{
    char pidfile[PATH_MAX], socklock[PATH_MAX];
    snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", pgdata);
    snprintf(socklock, sizeof(socklock), "%s/" PG_SOCKET_NAME ".lock", rundir);
    pid_t pid = 0;
    int rc = read_pidfile(pidfile, &pid);
    if (rc == BB_ENOTFOUND) return 0;
    if (rc != 0) {
        /* empty or torn pid file: no server ever got far enough to own it */
        bb_warn("pg", "stale_pidfile_unreadable path=%s action=remove", pidfile);
        unlink(pidfile);
        unlink(socklock);
        return 0;
    }
    switch (pm_probe(pid, dst->st_dev, dst->st_ino)) {
    case PM_DEAD:
        bb_info("pg", "stale_pidfile pid=%d state=dead action=remove", (int)pid);
        break;
    case PM_FOREIGN:
        bb_info("pg", "stale_pidfile pid=%d state=reused action=remove", (int)pid);
        break;
    case PM_ALIVE:
        bb_warn("pg", "stale_server pid=%d action=fast_shutdown", (int)pid);
        rc = pm_stop(pid, dst->st_dev, dst->st_ino);
        if (rc == BB_EBUSY) {
            seterr(err, cap, "a PostgreSQL server (pid %d) left running on %s does not stop",
                   (int)pid, pgdata);
            return BB_EBUSY;
        }
        break;
    case PM_UNKNOWN:
        seterr(err, cap, "%s names process %d, which is alive and cannot be inspected", pidfile,
               (int)pid);
        return BB_EBUSY;
    }
    /* the server is gone: whatever lock files remain are stale */
    unlink(pidfile);
    unlink(socklock);
    return 0;
}

/* ---- the cluster ------------------------------------------------------------------------- */

struct bb_pg_cluster {
    char *pgdata;   /* <data_dir>/postgres/data */
    char *conninfo; /* dbname=bunbase */
    pid_t pid;      /* the postmaster, our child */
    dev_t dev;      /* PGDATA identity, to recognise the postmaster by its cwd */
    ino_t ino;
};

static int create_database(const char *admin_conninfo, char *err, size_t cap)
{
    PGconn *c = NULL;
    PGresult *res = NULL;
    int rc = bb_pg_connect(admin_conninfo, &c, err, cap);
    if (rc != 0) goto out;
    const char *params[1] = {PG_DBNAME};
    res = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params, NULL,
                       NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        one_line(msg, sizeof(msg), PQerrorMessage(c));
        seterr(err, cap, "cannot query pg_database: %s", msg);
        rc = BB_EIO;
        goto out;
    }
    if (PQntuples(res) > 0) goto out;
    PQclear(res);
    res = PQexec(c, "CREATE DATABASE " PG_DBNAME);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P04") == 0) goto out; /* duplicate_database: fine */
        char msg[512];
        one_line(msg, sizeof(msg), PQerrorMessage(c));
        seterr(err, cap, "cannot create database " PG_DBNAME ": %s", msg);
        rc = BB_EIO;
        goto out;
    }
    bb_info("pg", "database_created name=" PG_DBNAME);
out:
    PQclear(res);
    PQfinish(c);
    return rc;
}

int bb_pg_cluster_start(const char *data_dir, const char *fallback_root, struct bb_pg_cluster **out,
                        char *err, size_t errcap)
{
    struct runas ra;
    struct bb_pg_cluster *c = NULL;
    char *abs = NULL, *home = NULL, *root = NULL, *rundir = NULL, *logpath = NULL, *admin = NULL;
    char *pg_bin = NULL, *initdb_bin = NULL;
    char bindir[PATH_MAX];
    pid_t pid = -1;
    int rc;

    if (out) *out = NULL;
    if (!data_dir || !*data_dir || !out) {
        seterr(err, errcap, "no data directory given");
        return BB_EINVAL;
    }
    rc = runas_init(&ra, err, errcap);
    if (rc != 0) return rc;

    if (mkdir(data_dir, 0700) == 0) {
        /* as root, the server user must be able to pass through (not list) it */
        if (ra.drop) chmod(data_dir, 0711);
    } else if (errno != EEXIST) {
        seterr(err, errcap, "cannot create data directory %s: %s", data_dir, strerror(errno));
        rc = BB_EIO;
        goto out;
    }
    abs = realpath(data_dir, NULL);
    if (!abs) {
        seterr(err, errcap, "cannot resolve data directory %s: %s", data_dir, strerror(errno));
        rc = BB_EIO;
        goto out;
    }
    rc = pick_home(&ra, abs, fallback_root, &home, err, errcap);
    if (rc != 0) goto out;
    c = calloc(1, sizeof(*c));
    root = xasprintf("%s/postgres", home);
    rundir = xasprintf("%s/postgres/run", home);
    logpath = xasprintf("%s/postgres/postgres.log", home);
    if (c) c->pgdata = xasprintf("%s/postgres/data", home);
    if (!c || !root || !rundir || !logpath || !c->pgdata) {
        rc = BB_ENOMEM;
        goto out;
    }
    c->pid = -1;
    if (strlen(rundir) + 1 + strlen(PG_SOCKET_NAME) + 1 >
        sizeof(((struct sockaddr_un *)0)->sun_path)) {
        seterr(err, errcap,
               "data directory path %s is too long for a Unix socket path (%zu bytes max)", home,
               sizeof(((struct sockaddr_un *)0)->sun_path) -
                   strlen("/postgres/run/" PG_SOCKET_NAME) - 1);
        rc = BB_EINVAL;
        goto out;
    }
    if ((rc = ensure_owned_dir(&ra, root, err, errcap)) != 0 ||
        (rc = ensure_owned_dir(&ra, c->pgdata, err, errcap)) != 0 ||
        (rc = ensure_owned_dir(&ra, rundir, err, errcap)) != 0)
        goto out;
    struct stat dst;
    if (stat(c->pgdata, &dst) != 0) {
        seterr(err, errcap, "cannot stat %s: %s", c->pgdata, strerror(errno));
        rc = BB_EIO;
        goto out;
    }
    c->dev = dst.st_dev;
    c->ino = dst.st_ino;

    if (find_bindir(c->pgdata, bindir, sizeof(bindir)) != 0) {
        seterr(err, errcap,
               "PostgreSQL server binaries not found (tried pg_config --bindir and "
               "/usr/lib/postgresql/<version>/bin); install postgresql or set "
               "BUNBASE_DATABASE_URL");
        rc = BB_ENOTFOUND;
        goto out;
    }
    pg_bin = xasprintf("%s/postgres", bindir);
    initdb_bin = xasprintf("%s/initdb", bindir);
    admin = conninfo_for(rundir, "postgres");
    c->conninfo = conninfo_for(rundir, PG_DBNAME);
    if (!pg_bin || !initdb_bin || !admin || !c->conninfo) {
        rc = BB_ENOMEM;
        goto out;
    }

    /* initdb on first use */
    char verfile[PATH_MAX];
    snprintf(verfile, sizeof(verfile), "%s/PG_VERSION", c->pgdata);
    if (access(verfile, F_OK) != 0) {
        bb_info("pg", "initdb pgdata=%s bindir=%s user=%s", c->pgdata, bindir, ra.name);
        char *argv[] = {
            initdb_bin, "-D",         c->pgdata,           "-U", PG_SUPERUSER, "--auth=trust", "-E",
            "UTF8",     "--locale=C", "--no-instructions", NULL};
        int code;
        rc = run_wait(&ra, argv, logpath, INITDB_TIMEOUT_MS, &code);
        if (rc != 0) {
            char tail[512];
            log_tail(logpath, tail, sizeof(tail));
            seterr(err, errcap, "initdb failed (%s): %s (see %s)",
                   rc == BB_ETIMEDOUT ? "timed out" : "exit status", tail, logpath);
            rc = BB_EIO;
            goto out;
        }
    }

    rc = recover_stale(c->pgdata, rundir, &dst, err, errcap);
    if (rc != 0) goto out;

    /* start the server: Unix socket only, private directory, owner-only socket */
    char *argv[] = {pg_bin,
                    "-D",
                    c->pgdata,
                    "-k",
                    rundir,
                    "-p",
                    PG_PORT,
                    "-c",
                    "listen_addresses=",
                    "-c",
                    "unix_socket_permissions=0700",
                    NULL};
    rc = spawn(&ra, argv, logpath, -1, 1, &pid);
    if (rc != 0) {
        seterr(err, errcap, "cannot fork: %s", strerror(errno));
        goto out;
    }
    int64_t deadline = (int64_t)bb_time_mono_ms() + READY_TIMEOUT_MS;
    for (;;) {
        if (PQping(admin) == PQPING_OK) break;
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        /* (ECHILD: SIGCHLD is ignored in this process, children reap themselves) */
        if (r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) != 0 && errno == ESRCH)) {
            char tail[512];
            pid = -1;
            log_tail(logpath, tail, sizeof(tail));
            seterr(err, errcap, "PostgreSQL exited during startup: %s (see %s)", tail, logpath);
            rc = BB_EUNAVAIL;
            goto out;
        }
        if ((int64_t)bb_time_mono_ms() >= deadline) {
            seterr(err, errcap, "PostgreSQL did not accept connections within %d s (see %s)",
                   READY_TIMEOUT_MS / 1000, logpath);
            rc = BB_ETIMEDOUT;
            goto out;
        }
        bb_time_sleep_ms(20);
    }
    c->pid = pid;
    rc = create_database(admin, err, errcap);
    if (rc != 0) goto out;
    bb_info("pg", "cluster_started pid=%d pgdata=%s socket_dir=%s user=%s", (int)pid, c->pgdata,
            rundir, ra.name);
    *out = c;
    c = NULL;
    pid = -1;
out:
    if (pid > 0 && c) pm_stop(pid, c->dev, c->ino);
    if (c) {
        free(c->pgdata);
        free(c->conninfo);
        free(c);
    }
    free(abs);
    free(home);
    free(root);
    free(rundir);
    free(logpath);
    free(admin);
    free(pg_bin);
    free(initdb_bin);
    return rc;
}

const char *bb_pg_cluster_conninfo(const struct bb_pg_cluster *c)
{
    return c ? c->conninfo : NULL;
}

int bb_pg_cluster_stop(struct bb_pg_cluster *c)
{
    int rc = 0;
    if (!c) return 0;
    if (c->pid > 0 && pm_probe(c->pid, c->dev, c->ino) == PM_ALIVE) {
        rc = pm_stop(c->pid, c->dev, c->ino);
        bb_info("pg", "cluster_stopped pid=%d clean=%s", (int)c->pid, rc == 0 ? "yes" : "no");
    }
    free(c->pgdata);
    free(c->conninfo);
    free(c);
    return rc;
}

/* ---- connections ------------------------------------------------------------------------- */

int bb_pg_connect(const char *conninfo, PGconn **out, char *err, size_t cap)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (!conninfo) {
        seterr(err, cap, "no conninfo");
        return BB_EINVAL;
    }
    PGconn *c = PQconnectdb(conninfo);
    if (!c) {
        seterr(err, cap, "out of memory");
        return BB_ENOMEM;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        one_line(msg, sizeof(msg), PQerrorMessage(c));
        seterr(err, cap, "cannot connect to PostgreSQL: %s", msg);
        PQfinish(c);
        return BB_EUNAVAIL;
    }
    *out = c;
    return 0;
}

int bb_pg_ping(const char *conninfo)
{
    if (!conninfo) return BB_EINVAL;
    switch (PQping(conninfo)) {
    case PQPING_OK:
        return 0;
    case PQPING_REJECT:
        return BB_EBUSY;
    case PQPING_NO_ATTEMPT:
        return BB_EINVAL;
    default:
        return BB_EUNAVAIL;
    }
}

struct bb_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    int max;
    int total; /* open or being opened, idle or handed out */
    int nidle;
    PGconn **idle;
};

int bb_pg_pool_new(const char *conninfo, int max, struct bb_pg_pool **out)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (!conninfo || max < 1) return BB_EINVAL;
    struct bb_pg_pool *p = calloc(1, sizeof(*p));
    if (!p) return BB_ENOMEM;
    p->conninfo = strdup(conninfo);
    p->idle = calloc((size_t)max, sizeof(*p->idle));
    if (!p->conninfo || !p->idle) {
        free(p->conninfo);
        free(p->idle);
        free(p);
        return BB_ENOMEM;
    }
    p->max = max;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

int bb_pg_pool_acquire(struct bb_pg_pool *p, PGconn **out, int timeout_ms)
{
    if (!p || !out) return BB_EINVAL;
    *out = NULL;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms > 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    PGconn *conn = NULL;
    int slot = 0; /* we hold one of the max slots (counted in total) */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->nidle > 0) {
            conn = p->idle[--p->nidle];
            slot = 1;
            break;
        }
        if (p->total < p->max) {
            p->total++; /* reserve the slot, connect outside the lock */
            slot = 1;
            break;
        }
        if (timeout_ms <= 0) break;
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT && p->nidle == 0 &&
            p->total >= p->max)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    if (!slot) return BB_EBUSY;

    if (conn && PQstatus(conn) == CONNECTION_OK) {
        *out = conn;
        return 0;
    }
    PQfinish(conn); /* broke while idle (NULL-safe): keep the slot, open a fresh one */
    char msg[512];
    int rc = bb_pg_connect(p->conninfo, &conn, msg, sizeof(msg));
    if (rc != 0) {
        bb_warn("pg", "pool_connect_failed rc=%d", rc);
        pthread_mutex_lock(&p->mu);
        p->total--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    *out = conn;
    return 0;
}

void bb_pg_pool_release(struct bb_pg_pool *p, PGconn *conn)
{
    if (!p || !conn) return;
    int keep = PQstatus(conn) == CONNECTION_OK;
    if (keep) {
        PGTransactionStatusType ts = PQtransactionStatus(conn);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PGresult *res = PQexec(conn, "ROLLBACK");
            keep = PQresultStatus(res) == PGRES_COMMAND_OK;
            PQclear(res);
        }
        keep = keep && PQtransactionStatus(conn) == PQTRANS_IDLE;
    }
    if (!keep) {
        PQfinish(conn);
        conn = NULL;
    }
    pthread_mutex_lock(&p->mu);
    if (conn && p->nidle < p->max)
        p->idle[p->nidle++] = conn;
    else {
        p->total--;
        if (conn) PQfinish(conn); /* not ours (more released than acquired): drop it */
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void bb_pg_pool_free(struct bb_pg_pool *p)
{
    if (!p) return;
    if (p->total != p->nidle) bb_warn("pg", "pool_free_outstanding count=%d", p->total - p->nidle);
    for (int i = 0; i < p->nidle; i++)
        PQfinish(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->idle);
    free(p->conninfo);
    free(p);
}

/* ---- migrations -------------------------------------------------------------------------- */

#define LOCK_KEY_STR "7094698156812887345" /* BB_PG_MIGRATE_LOCK_KEY in decimal */

/* Runs sql; 0 if it produced an OK status. On failure writes "<sqlstate> <message>" to msg. */
static int exec_ok(PGconn *c, const char *sql, int nparams, const char *const *params, char *msg,
                   size_t cap)
{
    PGresult *res =
        nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char line[512];
        one_line(line, sizeof(line), prim ? prim : PQerrorMessage(c));
        if (state)
            snprintf(msg, cap, "%s (SQLSTATE %s)", line, state);
        else
            snprintf(msg, cap, "%s", line);
        rc = PQstatus(c) == CONNECTION_OK ? BB_EIO : BB_EUNAVAIL;
    }
    PQclear(res);
    return rc;
}

static void rollback_quiet(PGconn *c)
{
    if (PQtransactionStatus(c) == PQTRANS_IDLE) return;
    PGresult *res = PQexec(c, "ROLLBACK");
    PQclear(res);
}

int bb_pg_migrate(PGconn *c, const struct bb_migration *m, int n, char *err, size_t cap)
{
    char msg[600];
    PGresult *done = NULL;
    int locked = 0, applied = 0, rc = 0;

    _Static_assert(BB_PG_MIGRATE_LOCK_KEY == 7094698156812887345LL, "LOCK_KEY_STR out of sync");
    if (!c || n < 0 || (n > 0 && !m)) {
        seterr(err, cap, "bad migrate arguments");
        return BB_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        if (!m[i].name || !m[i].sql) {
            seterr(err, cap, "migration #%d has no name or SQL", i);
            return BB_EINVAL;
        }
        if (!strchr(m[i].name, '/')) {
            seterr(err, cap, "migration %s: names are <service>/NNNN_name", m[i].name);
            return BB_EINVAL;
        }
    }
    if (PQstatus(c) != CONNECTION_OK) {
        seterr(err, cap, "migrate: connection is not open");
        return BB_EUNAVAIL;
    }
    if (PQtransactionStatus(c) != PQTRANS_IDLE) {
        seterr(err, cap, "migrate: connection is inside a transaction");
        return BB_EINVAL;
    }

    rc = exec_ok(c, "SELECT pg_advisory_lock(" LOCK_KEY_STR ")", 0, NULL, msg, sizeof(msg));
    if (rc != 0) {
        seterr(err, cap, "migrate: cannot take the migration lock: %s", msg);
        goto out;
    }
    locked = 1;
    /* (not CREATE TABLE IF NOT EXISTS: its NOTICE would reach the caller's notice processor;
     * we hold the lock, so check-then-create cannot race with another migrator) */
    done = PQexec(c, "SELECT to_regclass('bunbase_migrations') IS NULL");
    if (PQresultStatus(done) != PGRES_TUPLES_OK || PQntuples(done) != 1) {
        one_line(msg, sizeof(msg), PQerrorMessage(c));
        seterr(err, cap, "migrate: cannot look for bunbase_migrations: %s", msg);
        rc = BB_EIO;
        goto out;
    }
    if (strcmp(PQgetvalue(done, 0, 0), "t") == 0)
        rc = exec_ok(c,
                     "CREATE TABLE bunbase_migrations ("
                     "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                     0, NULL, msg, sizeof(msg));
    PQclear(done);
    done = NULL;
    if (rc != 0) {
        seterr(err, cap, "migrate: cannot create bunbase_migrations: %s", msg);
        goto out;
    }
    /* names before services had their own migrations were the platform's, without a prefix */
    rc = exec_ok(c, "UPDATE bunbase_migrations SET name = 'platform/' || name "
                    "WHERE position('/' in name) = 0", 0, NULL, msg, sizeof(msg));
    if (rc != 0) {
        seterr(err, cap, "migrate: cannot update bunbase_migrations: %s", msg);
        goto out;
    }
    done = PQexec(c, "SELECT name FROM bunbase_migrations");
    if (PQresultStatus(done) != PGRES_TUPLES_OK) {
        one_line(msg, sizeof(msg), PQerrorMessage(c));
        seterr(err, cap, "migrate: cannot read bunbase_migrations: %s", msg);
        rc = BB_EIO;
        goto out;
    }
    int ndone = PQntuples(done);
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < ndone && !seen; j++)
            seen = strcmp(PQgetvalue(done, j, 0), m[i].name) == 0;
        if (seen) continue;
        const char *params[1] = {m[i].name};
        if ((rc = exec_ok(c, "BEGIN", 0, NULL, msg, sizeof(msg))) != 0 ||
            (rc = exec_ok(c, m[i].sql, 0, NULL, msg, sizeof(msg))) != 0 ||
            (rc = exec_ok(c, "INSERT INTO bunbase_migrations (name) VALUES ($1)", 1, params, msg,
                          sizeof(msg))) != 0 ||
            (rc = exec_ok(c, "COMMIT", 0, NULL, msg, sizeof(msg))) != 0) {
            rollback_quiet(c);
            seterr(err, cap, "migration %s failed: %s", m[i].name, msg);
            bb_error("pg", "migration_failed name=%s", m[i].name);
            goto out;
        }
        applied++;
        bb_info("pg", "migration_applied name=%s", m[i].name);
    }
    bb_info("pg", "migrate_done applied=%d known=%d", applied, n);
out:
    PQclear(done);
    if (locked) {
        rollback_quiet(c);
        if (exec_ok(c, "SELECT pg_advisory_unlock(" LOCK_KEY_STR ")", 0, NULL, msg, sizeof(msg)) !=
            0)
            bb_warn("pg", "migrate_unlock_failed"); /* the lock dies with the session anyway */
    }
    return rc;
}
