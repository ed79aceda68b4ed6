/* bmgr_child.c — one bunder process per project: the instances of core's per-project registry
 * (bb_instances), their processes supervised through core's bb_proc_child, readiness, crash
 * restart with backoff, shutdown and orphan cleanup.
 *
 * The registry (asynchronous owner mode) does what every per-project manager needs: single-flight
 * open (concurrent first requests of a project share one open, hence one process), references
 * (in-flight HTTP/RPC calls, relayed RESP connections), the limit (max_children, and never more
 * than the port pool), the least-recently-used victim when full, idle eviction (asked from our
 * tick), and refusing acquires at stop. We are its owner: open_start spawns a child and reports
 * bb_instances_opened once the child answers (or the start failed and its process is gone);
 * close_start stops a child and reports bb_instances_closed once it has been reaped; in_use keeps
 * a child with handed-off clients or a restart in progress from eviction.
 *
 * A slot is our record of one instance's child. States (bmgr_state):
 *
 *   open_start ─▶ STARTING ──probe ok──▶ READY ──eviction (close_start)──▶ STOPPING ─exit─▶ closed
 *                   │ exit before ready (port raced): new port, ≤3 times, then the open fails
 *                   │ readiness timeout: SIGKILL ─▶ STOPPING ─exit─▶ the open fails (or BACKOFF)
 *                   ▼                                                   ▲
 *   FAILED ◀── 5 consecutive failures ── BACKOFF ◀──── unexpected exit ── READY
 *
 * A crash does not end the instance: acquirers keep getting it (with a reference) and wait on the
 * slot until the restarted child is ready; a FAILED child is retried on the next acquire and
 * evicted when idle like any other.
 *
 * Capacity: when the registry is full and nothing is idle the acquire fails at once with
 * BB_ELIMIT, answered as BB_EBUSY (HTTP 503 no_capacity, RESP -ERR … no capacity).
 *
 * Processes (bb_proc_child): fork + execve of cfg.bin with redis-server style flags, in their own
 * process group, stdout/stderr to <dir>/bunder.log, PR_SET_PDEATHSIG(SIGTERM) so they follow a
 * SIGKILLed bunbased, a pid file <dir>/bunder.pid ("<pid> <starttime>\n") so a later bunbased
 * kills leftovers whose start time still matches (never an unrelated process that reused the
 * pid), the password in <dir>/bunder.conf (never on the command line). Exits are noticed with
 * SIGCHLD + bb_proc_child_poll per child (waitpid(pid), never waitpid(-1): other code of bunbased
 * owns its own children); a stop escalates to SIGKILL after BMGR_STOP_GRACE_MS there too.
 *
 * Readiness: a non-blocking socket polled from the manager tick: connect, send
 * AUTH <secret> + PING, wait for "+OK\r\n+PONG\r\n" (a -LOADING answer retries).
 */
#include "bmgr_internal.h"
#include "bb_fs.h"
#include "bb_id.h"
#include "bb_proc.h"
#include "bb_time.h"
#include "../bunder/bunder_tenant.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MOD "bunder-manager"

const char *bmgr_state_name(enum bmgr_state s)
{
    switch (s) {
    case BMGR_STARTING: return "starting";
    case BMGR_READY: return "ready";
    case BMGR_STOPPING: return "stopping";
    case BMGR_BACKOFF: return "restarting";
    case BMGR_FAILED: return "failed";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ completions */

/* Work found under m->mtx and done once it is dropped: waiter callbacks, and reports to the
 * registry (slots that are opened, failed to open or closed; the last two are unlinked already
 * and freed after their report). */
struct done_list {
    struct bmgr_waiter *head, *tail;
    struct bmgr_slot *reports;
};

static void done_add(struct done_list *dl, struct bmgr_waiter *w, int rc)
{
    w->rc = rc;
    w->next = NULL;
    if (dl->tail) dl->tail->next = w;
    else dl->head = w;
    dl->tail = w;
}

static void slot_free(struct bmgr_slot *s);

/* Runs completions and reports; must be called without m->mtx. */
static void done_run(struct bmgr *m, struct done_list *dl)
{
    struct bmgr_slot *s = dl->reports;
    dl->reports = NULL;
    while (s) {
        struct bmgr_slot *next = s->report_next;
        enum bmgr_report rep = s->report;
        s->report = BMGR_REP_NONE;
        if (rep == BMGR_REP_OPENED) {
            bb_instances_opened(m->insts, s->inst, 0, s);
        } else if (rep == BMGR_REP_OPEN_FAILED) {
            bb_instances_opened(m->insts, s->inst, s->open_rc, NULL);
            slot_free(s);
        } else if (rep == BMGR_REP_CLOSED) {
            bb_instances_closed(m->insts, s->inst);
            slot_free(s);
        }
        s = next;
    }
    struct bmgr_waiter *w = dl->head;
    dl->head = dl->tail = NULL;
    while (w) {
        struct bmgr_waiter *next = w->next; /* w may be gone once its callback ran */
        if (w->rc != 0 && w->lease.inst) { /* the reference it waited with */
            bb_instances_release(m->insts, w->lease.inst);
            w->lease.inst = NULL;
        }
        w->cb(w, w->rc);
        w = next;
    }
}

static void wq_push(struct bmgr_slot *s, struct bmgr_waiter *w)
{
    w->next = NULL;
    if (s->wq_tail) s->wq_tail->next = w;
    else s->wq_head = w;
    s->wq_tail = w;
}

static void fail_waiters(struct bmgr_slot *s, int rc, struct done_list *dl)
{
    struct bmgr_waiter *w = s->wq_head;
    s->wq_head = s->wq_tail = NULL;
    while (w) {
        struct bmgr_waiter *next = w->next;
        done_add(dl, w, rc);
        w = next;
    }
}

/* Under mtx, READY slot; w->lease.inst holds the reference. */
static void grant(struct bmgr_slot *s, struct bmgr_waiter *w, struct done_list *dl)
{
    w->lease.slot = s;
    w->lease.port = s->port;
    w->lease.gen = s->gen;
    memcpy(w->lease.secret, s->secret, sizeof w->lease.secret);
    done_add(dl, w, 0);
}

static void grant_all(struct bmgr_slot *s, struct done_list *dl)
{
    struct bmgr_waiter *w = s->wq_head;
    s->wq_head = s->wq_tail = NULL;
    while (w) {
        struct bmgr_waiter *next = w->next;
        grant(s, w, dl);
        w = next;
    }
}

/* ------------------------------------------------------------------ slots */

static void probe_close(struct bmgr_slot *s)
{
    if (s->probe_fd >= 0) close(s->probe_fd);
    s->probe_fd = -1;
    s->probe_phase = 0;
    s->probe_len = 0;
}

/* Under mtx: drops the handoff channel of the slot's current process (if any). */
static void ho_close(struct bmgr_slot *s)
{
    if (s->ho_fd >= 0) close(s->ho_fd);
    s->ho_fd = -1;
    s->ho_sent = s->ho_received = 0;
    s->ho_clients = 0;
}

/* Under mtx: reads the child's count reports (format in src/bunder/handoff.c), non-blocking. */
static void ho_drain(struct bmgr_slot *s)
{
    for (int i = 0; i < 256 && s->ho_fd >= 0; i++) {
        unsigned char b[17];
        ssize_t n = recv(s->ho_fd, b, sizeof b, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n != 16 || memcmp(b, "BHOC", 4) != 0) {
            /* EOF or garbage: the child no longer takes handoffs; its last report stays (and so
             * does its busy state) until the process exits */
            bb_warn(MOD, "handoff_channel_closed project=%s bytes=%zd", s->project, n);
            close(s->ho_fd);
            s->ho_fd = -1;
            return;
        }
        s->ho_clients = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
                        (uint32_t)b[7] << 24;
        uint64_t r = 0;
        for (int k = 15; k >= 8; k--) r = r << 8 | b[k];
        s->ho_received = r;
    }
}

/* Under mtx: 1 while the process serves handed-off clients, or has frames it has not reported
 * taking yet. Such a child is in use: never idle-evicted, never a capacity victim. */
static int ho_busy(struct bmgr_slot *s)
{
    return s->ho_clients > 0 || s->ho_sent > s->ho_received;
}

static void idle_conns_free(struct bmgr_slot *s)
{
    while (s->idle) {
        struct bmgr_rc *c = s->idle;
        s->idle = c->next;
        bmgr_rc_free(c);
    }
    s->nidle = 0;
}

static void port_release(struct bmgr *m, struct bmgr_slot *s)
{
    if (s->port > 0) {
        int i = s->port - m->cfg.port_base;
        if (i >= 0 && i < m->cfg.port_count) m->port_used[i] = 0;
    }
    s->port = 0;
}

/* Under mtx, loop thread: takes s out of the list (its port back); a report then frees it. */
static void slot_unlink(struct bmgr *m, struct bmgr_slot *s)
{
    struct bmgr_slot **pp = &m->slots;
    while (*pp && *pp != s) pp = &(*pp)->next;
    if (*pp) *pp = s->next;
    s->next = NULL;
    port_release(m, s);
}

/* s is unlinked and has no process, no references and no waiters. */
static void slot_free(struct bmgr_slot *s)
{
    probe_close(s);
    ho_close(s);
    idle_conns_free(s);
    explicit_bzero(s->secret, sizeof s->secret);
    free(s);
}

/* Under mtx: s's outcome goes to the registry once the lock is dropped; OPEN_FAILED and CLOSED
 * unlink it now (nobody finds it any more) and free it after the report. */
static void report(struct bmgr *m, struct bmgr_slot *s, enum bmgr_report rep, struct done_list *dl)
{
    if (rep != BMGR_REP_OPENED) slot_unlink(m, s);
    s->report = rep;
    s->report_next = dl->reports;
    dl->reports = s;
}

static void slot_dir(struct bmgr *m, const char *project, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", m->cfg.data_root, project);
}

/* ------------------------------------------------------------------ ports */

/* 1 if nothing listens on 127.0.0.1:port right now (bind test). */
static int port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Under mtx. Returns a port reserved for s, or BB_EBUSY. */
static int port_alloc(struct bmgr *m, struct bmgr_slot *s)
{
    for (int k = 0; k < m->cfg.port_count; k++) {
        int i = (m->port_cursor + k) % m->cfg.port_count;
        if (m->port_used[i]) continue;
        int port = m->cfg.port_base + i;
        if (!port_bindable(port)) continue;
        m->port_used[i] = 1;
        m->port_cursor = (i + 1) % m->cfg.port_count;
        s->port = port;
        return port;
    }
    return BB_EBUSY;
}

/* ------------------------------------------------------------------ pid files */

/* <dir>/bunder.pid: "<pid> <start time>", written and removed by core's supervised child
 * (bb_proc_child), so a pid reused by another process is never taken for our child. */

int bmgr_orphans_cleanup(const char *root)
{
    int killed = 0;
    DIR *d = opendir(root);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!bb_project_id_valid(e->d_name, strlen(e->d_name))) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s/bunder.pid", root, e->d_name);
        pid_t pid = 0;
        bb_proc_pidfile_read(path, &pid, NULL);
        if (bb_proc_pidfile_kill(path, 2000) == 1) {
            bb_warn(MOD, "orphan_kill project=%s pid=%d", e->d_name, (int)pid);
            killed++;
        }
    }
    closedir(d);
    return killed;
}

/* ------------------------------------------------------------------ spawn / stop */

/* <dir>/bunder.secret (0600): the child's requirepass, for operators who need to reach one child
 * directly (redis-cli -a) and for the benchmark; as protected as the data files next to it. */
static void secret_write(const char *dir, const char *secret)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/bunder.secret", dir);
    if (bb_fs_write_atomic(path, secret, strlen(secret), 0600) != 0)
        bb_warn(MOD, "secret_write_failed path=%s", path);
}

/* <dir>/bunder.conf (0600, written through a temporary file and a rename): the child's
 * requirepass, passed as its config file so the password never appears in /proc/<pid>/cmdline.
 * For a redis-server stand-in it also defines BUNDER_TENANT_USER, the user the relay logs in with,
 * with the command rows of the tenant policy (bunder_tenant.h) removed; redis' ACL cannot tell
 * CONFIG parameters apart, so the stand-in's tenants get no CONFIG at all. bunder applies the
 * whole table itself. */
static int conf_write(const struct bmgr *m, const char *dir, const char *secret, char *path,
                      size_t pathcap)
{
    char acl[1024] = "";
    size_t al = 0;
    if (!m->cfg.is_bunder) {
#define BMGR_X_ACL(kind, name, why)                                                                if (kind == BUNDER_TP_COMMAND && al < sizeof acl)                                                 al += (size_t)snprintf(acl + al, sizeof acl - al, " -%s", name);
        BUNDER_TENANT_POLICY(BMGR_X_ACL)
#undef BMGR_X_ACL
        if (al >= sizeof acl) return BB_ETOOBIG;
    }
    snprintf(path, pathcap, "%s/bunder.conf", dir);
    char buf[2048];
    int n = m->cfg.is_bunder
                ? snprintf(buf, sizeof buf, "requirepass \"%s\"\n", secret)
                : snprintf(buf, sizeof buf,
                           "requirepass \"%s\"\nuser %s on >%s ~* &* +@all -config%s\n", secret,
                           BUNDER_TENANT_USER, secret, acl);
    int rc = n > 0 && (size_t)n < sizeof buf ? bb_fs_write_atomic(path, buf, (size_t)n, 0600)
                                             : BB_ETOOBIG;
    explicit_bzero(buf, sizeof buf);
    return rc;
}

/* Under mtx; s has a port. Spawns the process: STARTING. */
static int spawn_child(struct bmgr *m, struct bmgr_slot *s)
{
    char dir[1200], logpath[1300], confpath[1300], portstr[16], mem[32];
    int rc = 0, sv[2] = {-1, -1};
    ho_close(s);
    slot_dir(m, s->project, dir, sizeof dir);
    if (bb_fs_mkdir_p(dir, 0700) != 0) {
        snprintf(s->last_error, sizeof s->last_error, "cannot create the project directory: %s",
                 strerror(errno));
        return BB_EIO;
    }
    if (bb_random_token(s->secret, sizeof s->secret, 24) != 0) return BB_EIO;
    secret_write(dir, s->secret);
    if (conf_write(m, dir, s->secret, confpath, sizeof confpath) != 0) {
        snprintf(s->last_error, sizeof s->last_error, "cannot write bunder.conf: %s",
                 strerror(errno));
        return BB_EIO;
    }
    snprintf(logpath, sizeof logpath, "%s/bunder.log", dir);
    struct stat st;
    if (stat(logpath, &st) == 0 && st.st_size > (4 << 20) && truncate(logpath, 0) != 0) {
        /* keep appending */
    }
    snprintf(portstr, sizeof portstr, "%d", s->port);
    snprintf(mem, sizeof mem, "%llumb", (unsigned long long)m->cfg.maxmemory_mb);
    /* the config file (first, as both bunder and redis-server expect) carries the password */
    char *argv[] = {m->cfg.bin, confpath,      "--port",      portstr, "--bind",
                    "127.0.0.1", "--dir",      dir,           "--appendonly", "yes",
                    "--appendfsync", "everysec", "--maxmemory", mem,   NULL,
                    NULL,       NULL};
    /* handoff channel: our end stays here, the other becomes the child's fd 3 */
    if (m->cfg.handoff) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
            argv[14] = "--handoff-fd";
            argv[15] = "3";
        } else {
            bb_warn(MOD, "handoff_socketpair_failed project=%s errno=%d", s->project, errno);
            sv[0] = sv[1] = -1;
        }
    }
    /* own process group, its output in bunder.log, the handoff end as fd 3, nothing else
     * inherited; SIGTERM when our loop thread dies */
    struct bb_proc_spec spec = {.argv = argv,
                                .envp = m->child_env,
                                .log_path = logpath,
                                .stdout_fd = -1,
                                .pass_fds = &sv[1],
                                .npass = sv[1] >= 0 ? 1 : 0,
                                .pdeath_signal = m->cfg.pdeathsig ? SIGTERM : 0,
                                .flags = BB_PROC_NEW_PGROUP};
    if (snprintf(s->proc.pidfile, sizeof s->proc.pidfile, "%s/bunder.pid", dir) >=
        (int)sizeof s->proc.pidfile) {
        snprintf(s->last_error, sizeof s->last_error, "project directory path too long");
        rc = BB_EINVAL;
        goto out;
    }
    s->proc.stable_ms = BMGR_STABLE_MS;
    s->proc.backoff.base_ms = BMGR_BACKOFF_BASE_MS;
    s->proc.backoff.max_ms = BMGR_BACKOFF_MAX_MS;
    if (bb_proc_child_spawn(&s->proc, &spec) != 0) {
        snprintf(s->last_error, sizeof s->last_error, "fork: %s", strerror(errno));
        rc = BB_EIO;
        goto out;
    }
    pid_t pid = s->proc.pid;
    s->ho_fd = sv[0];
    sv[0] = -1;
    s->gen++;
    s->state = BMGR_STARTING;
    s->deadline_ms = bb_time_mono_ms() + m->cfg.start_timeout_ms;
    s->spawns++;
    m->stat_spawns++;
    probe_close(s);
    bb_counter_inc(m->met.spawns);
    bb_gauge_inc(m->met.children_running);
    bb_info(MOD, "child_spawned project=%s pid=%d port=%d gen=%llu", s->project, (int)pid, s->port,
            (unsigned long long)s->gen);
out:
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    return rc;
}

static void begin_stop(struct bmgr *m, struct bmgr_slot *s, enum bmgr_stop_then then, int sig)
{
    s->state = BMGR_STOPPING;
    s->stop_then = then;
    s->deadline_ms = bb_time_mono_ms() + BMGR_STOP_GRACE_MS;
    probe_close(s);
    bb_proc_child_stop(&s->proc, sig, BMGR_STOP_GRACE_MS); /* SIGKILL after the grace (reap) */
}

/* After a failure: crashed (an unexpected exit of a ready child) or a failed start. The delay is
 * core's supervised-child backoff (bb_proc_child: doubling per consecutive failure, capped, from
 * the base again after a stable run); its attempts are the consecutive failures. */
static void enter_backoff(struct bmgr *m, struct bmgr_slot *s, int crashed, struct done_list *dl)
{
    uint64_t now = bb_time_mono_ms();
    uint64_t delay = crashed ? bb_proc_child_restart_delay(&s->proc)
                             : bb_proc_backoff_next(&s->proc.backoff);
    s->failures = s->proc.backoff.attempts;
    if (s->failures >= BMGR_MAX_FAILURES && !s->wq_head) {
        s->state = BMGR_FAILED;
        s->failed_at_ms = now;
        port_release(m, s);
        bb_error(MOD, "child_failed project=%s failures=%u last_error=\"%s\"", s->project,
                 s->failures, s->last_error);
        return;
    }
    s->state = BMGR_BACKOFF;
    s->backoff_until = now + delay;
    (void)dl;
}

static void kick(struct bmgr *m, uint64_t delay);

/* ------------------------------------------------------------------ the registry's owner */

/* Under mtx: a child for s now (a new instance, or a FAILED one acquired again). */
static int start_child(struct bmgr *m, struct bmgr_slot *s)
{
    s->start_attempts = 0;
    if (s->port <= 0 && port_alloc(m, s) < 0) {
        snprintf(s->last_error, sizeof s->last_error, "no free port in the pool");
        bb_warn(MOD, "no_capacity project=%s reason=ports ports=%d", s->project, m->cfg.port_count);
        bb_counter_inc(m->met.rejections);
        return BB_EBUSY;
    }
    int rc = spawn_child(m, s);
    if (rc != 0) {
        bb_error(MOD, "spawn_failed project=%s error=\"%s\"", s->project, s->last_error);
        bb_counter_inc(m->met.spawn_failures);
        port_release(m, s);
        return BB_EUNAVAIL;
    }
    return 0;
}

/* ops->open_start (loop thread): a slot and a child for key; the open is reported when the child
 * answers or its start has failed. */
static void inst_open_start(void *ctx, struct bb_instance *in, const char *key)
{
    struct bmgr *m = ctx;
    struct done_list dl = {0};
    struct bmgr_slot *s = calloc(1, sizeof *s);
    if (!s) {
        bb_instances_opened(m->insts, in, BB_ENOMEM, NULL);
        return;
    }
    snprintf(s->project, sizeof s->project, "%s", key);
    s->inst = in;
    s->opening = 1;
    s->state = BMGR_STARTING;
    s->probe_fd = -1;
    s->ho_fd = -1;
    pthread_mutex_lock(&m->mtx);
    s->next = m->slots;
    m->slots = s;
    int rc = m->stopping ? BB_ECLOSED : start_child(m, s);
    if (rc != 0) {
        s->open_rc = rc;
        report(m, s, BMGR_REP_OPEN_FAILED, &dl);
    }
    pthread_mutex_unlock(&m->mtx);
    done_run(m, &dl);
    if (rc == 0) kick(m, 5);
}

/* ops->close_start (loop thread): an idle or capacity eviction; closed once reaped. */
static void inst_close_start(void *ctx, struct bb_instance *in, void *obj, const char *why)
{
    struct bmgr *m = ctx;
    struct bmgr_slot *s = obj;
    struct done_list dl = {0};
    (void)in;
    pthread_mutex_lock(&m->mtx);
    bb_info(MOD, "child_evict project=%s reason=%s state=%s", s->project, why,
            bmgr_state_name(s->state));
    m->stat_evictions++;
    bb_counter_inc(m->met.evictions);
    s->closing = 1;
    if (s->proc.pid > 0) begin_stop(m, s, BMGR_THEN_FREE, SIGTERM);
    else report(m, s, BMGR_REP_CLOSED, &dl);
    pthread_mutex_unlock(&m->mtx);
    done_run(m, &dl);
    kick(m, 5);
}

/* ops->close (bb_instances_free at release, nothing running any more): frees the slot. */
static void inst_close(void *ctx, const char *key, void *obj, const char *why)
{
    struct bmgr *m = ctx;
    struct bmgr_slot *s = obj;
    (void)key;
    (void)why;
    pthread_mutex_lock(&m->mtx);
    slot_unlink(m, s);
    pthread_mutex_unlock(&m->mtx);
    slot_free(s);
}

/* ops->in_use (under the registry's lock): a child serving handed-off clients, with acquirers
 * waiting on it, or between a crash and its restart is never evicted. */
static int inst_in_use(void *ctx, void *obj)
{
    struct bmgr *m = ctx;
    struct bmgr_slot *s = obj;
    pthread_mutex_lock(&m->mtx);
    if (s->state == BMGR_READY) ho_drain(s);
    int busy = s->wq_head != NULL || (s->state != BMGR_READY && s->state != BMGR_FAILED) ||
               ho_busy(s);
    pthread_mutex_unlock(&m->mtx);
    return busy;
}

static const struct bb_instances_ops inst_ops = {.close = inst_close,
                                                 .in_use = inst_in_use,
                                                 .open_start = inst_open_start,
                                                 .close_start = inst_close_start};

/* ------------------------------------------------------------------ exits */

/* Under mtx: an open that waited for this (now gone) process fails with rc. */
static void open_failed(struct bmgr *m, struct bmgr_slot *s, int rc, struct done_list *dl)
{
    fail_waiters(s, rc, dl);
    s->opening = 0;
    s->open_rc = rc;
    report(m, s, BMGR_REP_OPEN_FAILED, dl);
}

/* s->proc has just been reaped (its pid file removed); pid was its process. */
static void on_exit_status(struct bmgr *m, struct bmgr_slot *s, pid_t pid, int status,
                           struct done_list *dl)
{
    enum bmgr_state was = s->state;
    probe_close(s);
    ho_close(s);
    bb_gauge_dec(m->met.children_running);
    char how[48];
    if (WIFSIGNALED(status)) snprintf(how, sizeof how, "signal=%d", WTERMSIG(status));
    else snprintf(how, sizeof how, "code=%d", WEXITSTATUS(status));
    if (m->stopping) {
        bb_info(MOD, "child_stopped project=%s pid=%d %s", s->project, (int)pid, how);
        s->state = BMGR_FAILED;
        port_release(m, s);
        if (s->opening) open_failed(m, s, BB_ECLOSED, dl);
        else if (s->closing) report(m, s, BMGR_REP_CLOSED, dl);
        return; /* an open instance: closed when the registry is freed */
    }
    uint64_t now = bb_time_mono_ms();
    switch (was) {
    case BMGR_STOPPING:
        bb_info(MOD, "child_stopped project=%s pid=%d %s", s->project, (int)pid, how);
        port_release(m, s);
        if (s->opening) { /* not ready in time */
            open_failed(m, s, s->open_rc ? s->open_rc : BB_ETIMEDOUT, dl);
        } else if (s->closing) {
            report(m, s, BMGR_REP_CLOSED, dl);
        } else {
            enter_backoff(m, s, 0, dl);
        }
        return;
    case BMGR_STARTING:
        s->start_attempts++;
        snprintf(s->last_error, sizeof s->last_error, "exited before ready (%s), see bunder.log",
                 how);
        bb_warn(MOD, "child_start_failed project=%s pid=%d port=%d %s attempt=%u", s->project,
                (int)pid, s->port, how, s->start_attempts);
        bb_counter_inc(m->met.spawn_failures);
        port_release(m, s);
        if (s->start_attempts < BMGR_MAX_START_ATTEMPTS) { /* e.g. the port was taken: retry */
            unsigned attempts = s->start_attempts;
            if (start_child(m, s) == 0) {
                s->start_attempts = attempts;
                return;
            }
        }
        if (s->opening) {
            open_failed(m, s, BB_EUNAVAIL, dl);
            return;
        }
        fail_waiters(s, BB_EUNAVAIL, dl);
        enter_backoff(m, s, 0, dl);
        return;
    case BMGR_READY:
    default:
        s->crashes++;
        m->stat_crashes++;
        bb_counter_inc(m->met.crashes);
        snprintf(s->last_error, sizeof s->last_error, "crashed (%s)", how);
        enter_backoff(m, s, 1, dl);
        bb_error(MOD, "child_crashed project=%s pid=%d %s failures=%u restart_in_ms=%llu",
                 s->project, (int)pid, how, s->failures,
                 (unsigned long long)(s->state == BMGR_BACKOFF ? s->backoff_until - now : 0));
        return;
    }
}

/* Under mtx: reaps every exited child of ours (and sends SIGKILL to stops past their grace). */
static void reap(struct bmgr *m, struct done_list *dl)
{
    struct bmgr_slot *s = m->slots, *next;
    for (; s; s = next) {
        next = s->next;
        pid_t pid = s->proc.pid;
        int status = 0;
        if (pid > 0 && bb_proc_child_poll(&s->proc, &status)) on_exit_status(m, s, pid, status, dl);
    }
}

/* ------------------------------------------------------------------ readiness probe */

static const char probe_cmd_fmt[] = "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n*1\r\n$4\r\nPING\r\n";

/* Under mtx; s is STARTING. Returns 1 when the child answered. */
static int probe_step(struct bmgr_slot *s)
{
    for (int guard = 0; guard < 4; guard++) {
        if (s->probe_phase == 0) {
            s->probe_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s->probe_fd < 0) return 0;
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (connect(s->probe_fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
                errno != EINPROGRESS) {
                probe_close(s);
                return 0;
            }
            s->probe_phase = 1;
        }
        if (s->probe_phase == 1) {
            struct pollfd p = {.fd = s->probe_fd, .events = POLLOUT};
            if (poll(&p, 1, 0) <= 0) return 0;
            int err = 0;
            socklen_t sl = sizeof err;
            if (getsockopt(s->probe_fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err) {
                probe_close(s);
                return 0;
            }
            char cmd[160];
            int n = snprintf(cmd, sizeof cmd, probe_cmd_fmt, strlen(s->secret), s->secret);
            if (send(s->probe_fd, cmd, (size_t)n, MSG_NOSIGNAL) != n) {
                probe_close(s);
                return 0;
            }
            s->probe_phase = 2;
            s->probe_len = 0;
        }
        if (s->probe_phase == 2) {
            ssize_t r = recv(s->probe_fd, s->probe_buf + s->probe_len,
                             sizeof s->probe_buf - 1 - s->probe_len, 0);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
            if (r <= 0) {
                probe_close(s);
                return 0;
            }
            s->probe_len += (size_t)r;
            s->probe_buf[s->probe_len] = '\0';
            static const char want[] = "+OK\r\n+PONG\r\n";
            if (s->probe_len >= sizeof want - 1) {
                int ok = memcmp(s->probe_buf, want, sizeof want - 1) == 0;
                probe_close(s);
                return ok;
            }
            /* two complete lines that are not the answer (e.g. -LOADING): retry later */
            char *l1 = strstr(s->probe_buf, "\r\n");
            if ((l1 && strstr(l1 + 2, "\r\n")) || s->probe_len >= sizeof s->probe_buf - 1) {
                probe_close(s);
                return 0;
            }
            return 0;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ the tick */
/* ------------------------------------------------------------------ the tick */

static void on_tick(uv_timer_t *t);

static void kick(struct bmgr *m, uint64_t delay)
{
    if (!m->handles_open || m->handles_closing) return;
    if (!uv_is_active((uv_handle_t *)&m->tick) || uv_timer_get_due_in(&m->tick) > delay)
        uv_timer_start(&m->tick, on_tick, delay, 0);
}

static void maybe_close_handles(struct bmgr *m);

/* Under mtx, loop thread: a FAILED or crashed child acquired again restarts now. */
static void restart_now(struct bmgr *m, struct bmgr_slot *s, struct done_list *dl)
{
    s->restarts++;
    m->stat_restarts++;
    bb_counter_inc(m->met.restarts);
    bb_info(MOD, "child_restart project=%s failures=%u", s->project, s->failures);
    if (start_child(m, s) != 0) {
        fail_waiters(s, BB_EUNAVAIL, dl);
        s->state = BMGR_FAILED;
        s->failed_at_ms = bb_time_mono_ms();
    }
}

#define TOUCH_MAX 64

static void on_tick(uv_timer_t *t)
{
    struct bmgr *m = t->data;
    struct done_list dl = {0};
    uint64_t now = bb_time_mono_ms();
    int slow = now - m->last_slow_tick >= (m->cfg.idle_ms / 2 < 1000 ? m->cfg.idle_ms / 2 : 1000);
    if (slow) m->last_slow_tick = now;
    uint64_t next = 1000, ho_total = 0;
    struct bb_instance *touch[TOUCH_MAX];
    unsigned ntouch = 0;
    pthread_mutex_lock(&m->mtx);
    reap(m, &dl);
    struct bmgr_slot *s = m->slots, *nx;
    for (; s; s = nx) {
        nx = s->next;
        switch (s->state) {
        case BMGR_STARTING:
            if (s->proc.pid <= 0) break; /* its start failed: reported already */
            if (probe_step(s)) {
                s->state = BMGR_READY;
                s->ready_since_ms = now;
                s->deadline_ms = 0;
                s->start_attempts = 0;
                bb_info(MOD, "child_ready project=%s pid=%d port=%d", s->project, (int)s->proc.pid,
                        s->port);
                if (s->opening) {
                    s->opening = 0;
                    report(m, s, BMGR_REP_OPENED, &dl);
                }
                grant_all(s, &dl);
            } else if (now >= s->deadline_ms) {
                snprintf(s->last_error, sizeof s->last_error, "not ready within %llu ms",
                         (unsigned long long)m->cfg.start_timeout_ms);
                bb_error(MOD, "child_start_timeout project=%s pid=%d", s->project,
                         (int)s->proc.pid);
                fail_waiters(s, BB_ETIMEDOUT, &dl);
                s->open_rc = BB_ETIMEDOUT;
                begin_stop(m, s, BMGR_THEN_BACKOFF, SIGKILL);
                next = 50;
            } else {
                next = 10;
            }
            break;
        case BMGR_STOPPING:
            if (now >= s->deadline_ms && s->proc.pid > 0) { /* reap sent SIGKILL */
                bb_warn(MOD, "child_kill project=%s pid=%d reason=stop_timeout", s->project,
                        (int)s->proc.pid);
                s->deadline_ms = now + 1000;
            }
            if (next > 50) next = 50;
            break;
        case BMGR_BACKOFF:
            if (m->stopping) break;
            if (now >= s->backoff_until) {
                restart_now(m, s, &dl);
                if (next > 10) next = 10;
            } else {
                uint64_t d = s->backoff_until - now;
                if (d < next) next = d;
            }
            break;
        case BMGR_READY:
            ho_drain(s);
            ho_total += s->ho_clients;
            /* idle time counts from the last handed-off client */
            if (ho_busy(s) && ntouch < TOUCH_MAX) touch[ntouch++] = s->inst;
            break;
        case BMGR_FAILED:
            break;
        }
    }
    int stopping = m->stopping;
    int alive = 0;
    for (s = m->slots; s; s = s->next) alive += s->proc.pid > 0;
    pthread_mutex_unlock(&m->mtx);
    bb_gauge_set(m->met.handoff_clients, (double)ho_total);
    done_run(m, &dl);
    for (unsigned i = 0; i < ntouch && !stopping; i++) { /* a reference taken and given back */
        bb_instances_ref(m->insts, touch[i]);
        bb_instances_release(m->insts, touch[i]);
    }
    if (slow && !stopping) {
        bb_instances_evict(m->insts, m->cfg.idle_ms); /* asks close_start: STOPPING */
        bmgr_relay_sweep(m, now);
    }
    if (stopping && !alive) {
        maybe_close_handles(m);
        return;
    }
    if (stopping && next > 50) next = 50;
    uint64_t idle_step = m->cfg.idle_ms / 2 < 1000 ? m->cfg.idle_ms / 2 : 1000;
    if (idle_step < 10) idle_step = 10;
    if (next > idle_step) next = idle_step;
    if (!uv_is_active((uv_handle_t *)&m->tick) || uv_timer_get_due_in(&m->tick) > next)
        uv_timer_start(&m->tick, on_tick, next, 0);
}

static void on_sigchld(uv_signal_t *h, int sig)
{
    (void)sig;
    struct bmgr *m = h->data;
    struct done_list dl = {0};
    pthread_mutex_lock(&m->mtx);
    reap(m, &dl);
    pthread_mutex_unlock(&m->mtx);
    done_run(m, &dl);
    kick(m, 1);
}

/* ------------------------------------------------------------------ acquire / release */

/* The registry's answer to bmgr_acquire (loop thread, no lock held). */
static void on_instance(struct bb_instances_waiter *iw, int rc, struct bb_instance *in)
{
    struct bmgr_waiter *w = iw->arg;
    struct bmgr *m = w->m;
    struct done_list dl = {0};
    if (rc != 0) {
        if (rc == BB_ELIMIT) {
            bb_warn(MOD, "no_capacity project=%s max_children=%u", w->project,
                    m->cfg.max_children);
            bb_counter_inc(m->met.rejections);
            rc = BB_EBUSY;
        } else if (rc == BB_EUNAVAIL && m->stopping) {
            rc = BB_ECLOSED;
        }
        done_add(&dl, w, rc);
        done_run(m, &dl);
        return;
    }
    w->lease.inst = in;
    int restarted = 0;
    pthread_mutex_lock(&m->mtx);
    struct bmgr_slot *s = bb_instance_obj(in);
    if (m->stopping) {
        done_add(&dl, w, BB_ECLOSED);
    } else if (s->state == BMGR_READY) {
        grant(s, w, &dl);
    } else { /* crashed, restarting or failed: wait (with the reference) for it to be ready */
        wq_push(s, w);
        if (s->state == BMGR_FAILED) {
            s->failures = 0;
            bb_proc_backoff_reset(&s->proc.backoff);
            restart_now(m, s, &dl);
            restarted = 1;
        }
    }
    pthread_mutex_unlock(&m->mtx);
    done_run(m, &dl);
    if (restarted) kick(m, 5);
}

void bmgr_acquire(struct bmgr *m, struct bmgr_waiter *w)
{
    memset(&w->lease, 0, sizeof w->lease);
    w->m = m;
    w->iw.cb = on_instance;
    w->iw.arg = w;
    bb_instances_acquire_async(m->insts, w->project, &w->iw);
}

static void blocking_cb(struct bmgr_waiter *w, int rc)
{
    (void)rc;
    uv_sem_post(&w->sem);
}

static void on_async(uv_async_t *h)
{
    struct bmgr *m = h->data;
    pthread_mutex_lock(&m->mtx);
    struct bmgr_waiter *w = m->req_head;
    m->req_head = m->req_tail = NULL;
    pthread_mutex_unlock(&m->mtx);
    while (w) {
        struct bmgr_waiter *next = w->next;
        bmgr_acquire(m, w);
        w = next;
    }
}

int bmgr_acquire_blocking(struct bmgr *m, const char *project, struct bmgr_lease *lease)
{
    struct bb_instance *in = NULL;
    if (bb_instances_try_acquire(m->insts, project, &in) == 0) { /* fast path: no loop trip */
        int ok = 0;
        pthread_mutex_lock(&m->mtx);
        struct bmgr_slot *s = bb_instance_obj(in);
        if (!m->stopping && s->state == BMGR_READY) {
            lease->inst = in;
            lease->slot = s;
            lease->port = s->port;
            lease->gen = s->gen;
            memcpy(lease->secret, s->secret, sizeof lease->secret);
            ok = 1;
        }
        pthread_mutex_unlock(&m->mtx);
        if (ok) return 0;
        bb_instances_release(m->insts, in);
    }
    struct bmgr_waiter w;
    memset(&w, 0, sizeof w);
    snprintf(w.project, sizeof w.project, "%s", project);
    w.cb = blocking_cb;
    if (uv_sem_init(&w.sem, 0) != 0) return BB_ENOMEM;
    pthread_mutex_lock(&m->mtx);
    if (m->stopping) {
        pthread_mutex_unlock(&m->mtx);
        uv_sem_destroy(&w.sem);
        return BB_ECLOSED;
    }
    if (m->req_tail) m->req_tail->next = &w;
    else m->req_head = &w;
    m->req_tail = &w;
    uv_async_send(&m->async); /* under mtx: the handle is closed only after stopping is set */
    pthread_mutex_unlock(&m->mtx);
    uv_sem_wait(&w.sem);
    uv_sem_destroy(&w.sem);
    if (w.rc == 0) *lease = w.lease;
    return w.rc;
}

int bmgr_handoff_send(struct bmgr *m, const struct bmgr_lease *lease, int client_fd,
                      unsigned flags, int resp, const char *name, size_t name_len,
                      const char *pending, size_t pending_len)
{
    if (name_len > BMGR_HO_MAX_NAME || pending_len > BMGR_HO_MAX_PENDING) return BB_ETOOBIG;
    unsigned char hdr[16] = {'B', 'H', 'O', '1', 1, (unsigned char)flags, (unsigned char)resp, 0};
    for (int i = 0; i < 4; i++) {
        hdr[8 + i] = (unsigned char)(name_len >> (8 * i));
        hdr[12 + i] = (unsigned char)(pending_len >> (8 * i));
    }
    struct iovec iov[3] = {{hdr, sizeof hdr}, {(void *)name, name_len},
                           {(void *)pending, pending_len}};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &client_fd, sizeof client_fd);
    int rc = 0;
    pthread_mutex_lock(&m->mtx);
    struct bmgr_slot *s = lease->slot;
    if (!s || s->ho_fd < 0 || s->gen != lease->gen || s->state != BMGR_READY) {
        rc = BB_EUNAVAIL;
        goto out;
    }
    ssize_t n = sendmsg(s->ho_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)(sizeof hdr + name_len + pending_len)) {
        s->ho_sent++;
        goto out;
    }
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
        rc = BB_EBUSY;
        goto out;
    }
    /* a seqpacket send is all or nothing: anything else means the channel is gone */
    bb_warn(MOD, "handoff_channel_broken project=%s errno=%d", s->project, n < 0 ? errno : 0);
    close(s->ho_fd);
    s->ho_fd = -1;
    rc = BB_EUNAVAIL;
out:
    pthread_mutex_unlock(&m->mtx);
    return rc;
}

void bmgr_release(struct bmgr *m, struct bmgr_lease *lease)
{
    if (lease->inst) bb_instances_release(m->insts, lease->inst);
    lease->inst = NULL;
    lease->slot = NULL;
}

int bmgr_conn_get(struct bmgr *m, const struct bmgr_lease *lease, struct bmgr_rc **out)
{
    struct bmgr_rc *stale = NULL, *got = NULL;
    pthread_mutex_lock(&m->mtx);
    struct bmgr_slot *s = lease->slot;
    while (s->idle && !got) {
        struct bmgr_rc *c = s->idle;
        s->idle = c->next;
        s->nidle--;
        if (c->gen == lease->gen) {
            got = c;
        } else {
            c->next = stale;
            stale = c;
        }
    }
    pthread_mutex_unlock(&m->mtx);
    while (stale) {
        struct bmgr_rc *c = stale;
        stale = c->next;
        bmgr_rc_free(c);
    }
    if (got) {
        got->next = NULL;
        *out = got;
        return 0;
    }
    return bmgr_rc_connect(lease->port, lease->secret, lease->gen, BMGR_IO_TIMEOUT_MS, out);
}

void bmgr_conn_put(struct bmgr *m, const struct bmgr_lease *lease, struct bmgr_rc *c, int broken)
{
    if (!c) return;
    if (!broken) {
        pthread_mutex_lock(&m->mtx);
        struct bmgr_slot *s = lease->slot;
        if (s && s->gen == c->gen && s->state == BMGR_READY && s->nidle < BMGR_CONN_CACHE) {
            c->next = s->idle;
            s->idle = c;
            s->nidle++;
            c = NULL;
        }
        pthread_mutex_unlock(&m->mtx);
    }
    bmgr_rc_free(c);
}

/* ------------------------------------------------------------------ health */

static json_t *slot_json(struct bmgr_slot *s, unsigned refs)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:i}", "project_id", s->project,
                          "state", bmgr_state_name(s->state), "pid", (int)s->proc.pid, "port",
                          s->port, "spawns", (json_int_t)s->spawns, "crashes",
                          (json_int_t)s->crashes, "restarts", (json_int_t)s->restarts, "in_use",
                          (json_int_t)refs, "failures", (int)s->failures);
    if (o && s->last_error[0]) json_object_set_new(o, "last_error", json_string(s->last_error));
    if (o) {
        json_object_set_new(o, "handoff", json_boolean(s->ho_fd >= 0));
        json_object_set_new(o, "handoff_clients", json_integer((json_int_t)s->ho_clients));
    }
    return o;
}

json_t *bmgr_slot_json(struct bmgr *m, const char *project)
{
    /* a reference keeps the slot while we look (the registry's lock is never taken under ours) */
    struct bb_instance *in = NULL;
    if (bb_instances_try_acquire(m->insts, project, &in) != 0) return NULL;
    unsigned refs = bb_instances_refs(m->insts, in);
    pthread_mutex_lock(&m->mtx);
    json_t *o = slot_json(bb_instance_obj(in), refs > 0 ? refs - 1 : 0);
    pthread_mutex_unlock(&m->mtx);
    bb_instances_release(m->insts, in);
    return o;
}

json_t *bmgr_children_json(struct bmgr *m, int *bad)
{
    unsigned counts[BMGR_FAILED + 1] = {0}, waiting = 0;
    json_t *problems = json_array();
    pthread_mutex_lock(&m->mtx);
    for (struct bmgr_slot *s = m->slots; s; s = s->next) {
        counts[s->state]++;
        waiting += s->wq_head != NULL;
        if ((s->state == BMGR_BACKOFF || s->state == BMGR_FAILED) &&
            json_array_size(problems) < 50)
            json_array_append_new(problems, slot_json(s, 0));
    }
    json_t *o = json_pack(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "running",
        (int)(counts[BMGR_READY] + counts[BMGR_STARTING] + counts[BMGR_STOPPING]), "ready",
        (int)counts[BMGR_READY], "starting", (int)counts[BMGR_STARTING], "restarting",
        (int)counts[BMGR_BACKOFF], "failed", (int)counts[BMGR_FAILED], "waiting", (int)waiting,
        "max_children", (int)m->cfg.max_children, "spawns", (json_int_t)m->stat_spawns, "crashes",
        (json_int_t)m->stat_crashes, "restarts", (json_int_t)m->stat_restarts, "evictions",
        (json_int_t)m->stat_evictions);
    pthread_mutex_unlock(&m->mtx);
    *bad = counts[BMGR_FAILED] > 0;
    if (o) json_object_set_new(o, "unhealthy", problems);
    else json_decref(problems);
    return o;
}

/* ------------------------------------------------------------------ init / stop */

extern char **environ;

static int build_child_env(struct bmgr *m)
{
    size_t n = 0;
    for (char **e = environ; *e; e++) n++;
    m->child_env = calloc(n + 1, sizeof *m->child_env);
    if (!m->child_env) return BB_ENOMEM;
    size_t o = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "BUNBASE_", 8) == 0 || strncmp(*e, "BUNDER_MANAGER_", 15) == 0) continue;
        m->child_env[o] = strdup(*e);
        if (!m->child_env[o]) return BB_ENOMEM;
        o++;
    }
    return 0;
}

int bmgr_children_init(struct bmgr *m, char *err, size_t errcap)
{
    if (bb_fs_mkdir_p(m->cfg.data_root, 0700) != 0) {
        snprintf(err, errcap, "bunder-manager: cannot create %s: %s", m->cfg.data_root,
                 strerror(errno));
        return BB_EIO;
    }
    int killed = bmgr_orphans_cleanup(m->cfg.data_root);
    if (killed) bb_warn(MOD, "orphans_killed count=%d", killed);
    m->port_used = calloc((size_t)m->cfg.port_count, 1);
    if (!m->port_used || build_child_env(m) != 0) return BB_ENOMEM;
    /* one instance per child: at most max_children, and never more than the port pool; idle
     * eviction is asked from our tick (close_start runs on the loop thread) */
    struct bb_instances_limits lim = {
        .max_instances = m->cfg.max_children < (unsigned)m->cfg.port_count
                             ? m->cfg.max_children
                             : (unsigned)m->cfg.port_count};
    int rc = bb_instances_new(&inst_ops, m, &lim, &m->insts);
    if (rc != 0) return rc;
    uv_timer_init(m->loop, &m->tick);
    m->tick.data = m;
    uv_signal_init(m->loop, &m->sigchld);
    m->sigchld.data = m;
    uv_signal_start(&m->sigchld, on_sigchld, SIGCHLD);
    uv_async_init(m->loop, &m->async, on_async);
    m->async.data = m;
    m->handles_open = 3;
    m->last_slow_tick = bb_time_mono_ms();
    uv_timer_start(&m->tick, on_tick, 1000, 0);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct bmgr *m = h->data;
    if (--m->handles_open == 0 && m->stop_done) m->stop_done(m);
}

static void maybe_close_handles(struct bmgr *m)
{
    if (m->handles_closing) return;
    m->handles_closing = 1;
    pthread_mutex_lock(&m->mtx); /* workers send on the async handle only under mtx */
    pthread_mutex_unlock(&m->mtx);
    uv_timer_stop(&m->tick);
    uv_signal_stop(&m->sigchld);
    uv_close((uv_handle_t *)&m->tick, on_handle_closed);
    uv_close((uv_handle_t *)&m->sigchld, on_handle_closed);
    uv_close((uv_handle_t *)&m->async, on_handle_closed);
}

void bmgr_children_stop(struct bmgr *m, void (*done)(struct bmgr *m))
{
    struct done_list dl = {0};
    m->stop_done = done;
    pthread_mutex_lock(&m->mtx);
    m->stopping = 1;
    struct bmgr_waiter *w = m->req_head;
    m->req_head = m->req_tail = NULL;
    while (w) {
        struct bmgr_waiter *next = w->next;
        done_add(&dl, w, BB_ECLOSED);
        w = next;
    }
    unsigned n = 0;
    for (struct bmgr_slot *s = m->slots; s; s = s->next) {
        fail_waiters(s, BB_ECLOSED, &dl);
        if (s->proc.pid > 0) {
            if (s->state != BMGR_STOPPING) begin_stop(m, s, BMGR_THEN_FREE, SIGTERM);
            n++;
        }
    }
    pthread_mutex_unlock(&m->mtx);
    bb_instances_shutdown(m->insts); /* its waiters: BB_EUNAVAIL, answered as shutting down */
    done_run(m, &dl);
    bb_info(MOD, "stopping children=%u", n);
    uv_timer_start(&m->tick, on_tick, 0, 0);
}

void bmgr_children_release(struct bmgr *m)
{
    /* every child has exited and every open and eviction was reported (the tick closes the
     * handles only then): the registry closes what is left (inst_close frees those slots); an
     * instance still referenced keeps the registry (left to the process exit) */
    if (m->insts && bb_instances_free(m->insts, 0) == 0) m->insts = NULL;
    while (m->slots) {
        struct bmgr_slot *s = m->slots;
        m->slots = s->next;
        slot_free(s);
    }
    free(m->port_used);
    m->port_used = NULL;
    if (m->child_env) {
        for (char **e = m->child_env; *e; e++) free(*e);
        free(m->child_env);
        m->child_env = NULL;
    }
}
