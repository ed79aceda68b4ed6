/* bmgr_child.c — one bunder process per project: slots, port pool, spawn, readiness, crash restart
 * with backoff, idle eviction, shutdown and orphan cleanup.
 *
 * A slot is the manager's record of one project's child. States (bmgr_state):
 *
 *   WAITING ──place──▶ STARTING ──probe ok──▶ READY ──idle / capacity──▶ STOPPING ──exit──▶ (freed)
 *      ▲                  │ exit before ready (port raced): new port, ≤3 times       │ waiters: WAITING
 *      │                  │ readiness timeout: SIGKILL ─▶ STOPPING ─exit─▶ BACKOFF ◀─┘
 *      │                  ▼                                                   ▲
 *   FAILED ◀── 5 consecutive failures ── BACKOFF ◀──── unexpected exit ───── READY
 *
 * Single flight: every acquire of a project that has no READY child queues a waiter on the one
 * slot of that project; only WAITING → STARTING spawns, so concurrent first requests share one
 * process. Waiters are completed when the child becomes READY (each gets a reference) or when the
 * attempt fails (each gets the error). A slot with references (in-flight HTTP/RPC calls, relayed
 * RESP connections) is never evicted.
 *
 * Capacity: processes (STARTING, READY, STOPPING, BACKOFF) are limited by max_children and by the
 * port pool [port_base, port_base + port_count) on 127.0.0.1. When full, the least recently used
 * idle READY child is stopped to make room and the new project waits for its exit; when nothing is
 * idle the acquire fails at once with BB_EBUSY (HTTP 503, RESP -ERR).
 *
 * Processes: fork + execve of cfg.bin with redis-server style flags, in their own process group,
 * stdout/stderr to <dir>/bunder.log, PR_SET_PDEATHSIG(SIGTERM) so they follow a SIGKILLed
 * bunbased, and a pid file <dir>/bunder.pid ("<pid> <starttime>\n", starttime = field 22 of
 * /proc/<pid>/stat) so a later bunbased kills leftovers whose start time still matches (never an
 * unrelated process that reused the pid). Exits are noticed with SIGCHLD + waitpid(pid) per child
 * (never waitpid(-1): other code of bunbased owns its own children).
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
    case BMGR_WAITING: return "waiting";
    case BMGR_STARTING: return "starting";
    case BMGR_READY: return "ready";
    case BMGR_STOPPING: return "stopping";
    case BMGR_BACKOFF: return "restarting";
    case BMGR_FAILED: return "failed";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ completions */

struct done_list {
    struct bmgr_waiter *head, *tail;
};

static void done_add(struct done_list *dl, struct bmgr_waiter *w, int rc)
{
    w->rc = rc;
    w->next = NULL;
    if (dl->tail) dl->tail->next = w;
    else dl->head = w;
    dl->tail = w;
}

/* Runs completions; must be called without m->mtx. */
static void done_run(struct done_list *dl)
{
    struct bmgr_waiter *w = dl->head;
    dl->head = dl->tail = NULL;
    while (w) {
        struct bmgr_waiter *next = w->next; /* w may be gone once its callback ran */
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

/* Under mtx, READY slot. */
static void grant(struct bmgr_slot *s, struct bmgr_waiter *w, struct done_list *dl)
{
    s->refs++;
    s->last_use_ms = bb_time_mono_ms();
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

static struct bmgr_slot *find_slot(struct bmgr *m, const char *project)
{
    for (struct bmgr_slot *s = m->slots; s; s = s->next)
        if (strcmp(s->project, project) == 0) return s;
    return NULL;
}

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

/* Under mtx; the slot must have no process, no refs and no waiters. */
static void slot_free(struct bmgr *m, struct bmgr_slot *s)
{
    struct bmgr_slot **pp = &m->slots;
    while (*pp && *pp != s) pp = &(*pp)->next;
    if (*pp) *pp = s->next;
    m->nslots--;
    port_release(m, s);
    probe_close(s);
    ho_close(s);
    idle_conns_free(s);
    explicit_bzero(s->secret, sizeof s->secret);
    free(s);
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

/* ------------------------------------------------------------------ placement */

static unsigned count_state(struct bmgr *m, enum bmgr_state st)
{
    unsigned n = 0;
    for (struct bmgr_slot *s = m->slots; s; s = s->next) n += s->state == st;
    return n;
}

static unsigned holders(struct bmgr *m)
{
    unsigned n = 0;
    for (struct bmgr_slot *s = m->slots; s; s = s->next)
        n += s->state != BMGR_WAITING && s->state != BMGR_FAILED;
    return n;
}

/* Under mtx; s is WAITING with waiters. */
static void try_place(struct bmgr *m, struct bmgr_slot *s, struct done_list *dl)
{
    if (holders(m) < m->cfg.max_children && port_alloc(m, s) > 0) {
        s->start_attempts = 0;
        int rc = spawn_child(m, s);
        if (rc == 0) return;
        bb_error(MOD, "spawn_failed project=%s error=\"%s\"", s->project, s->last_error);
        bb_counter_inc(m->met.spawn_failures);
        port_release(m, s);
        fail_waiters(s, BB_EUNAVAIL, dl);
        s->state = BMGR_FAILED;
        s->failed_at_ms = bb_time_mono_ms();
        return;
    }
    /* full: make room by stopping the least recently used idle child, unless enough are already
     * on their way out for every waiting project */
    unsigned waiting = count_state(m, BMGR_WAITING), leaving = 0;
    for (struct bmgr_slot *x = m->slots; x; x = x->next)
        leaving += x->state == BMGR_STOPPING && x->stop_then == BMGR_THEN_FREE && !x->wq_head;
    if (leaving < waiting) {
        struct bmgr_slot *victim = NULL;
        for (struct bmgr_slot *x = m->slots; x; x = x->next)
            if (x != s && x->state == BMGR_READY && x->refs == 0 && !x->wq_head &&
                (ho_drain(x), !ho_busy(x)) &&
                (!victim || x->last_use_ms < victim->last_use_ms))
                victim = x;
        if (victim) {
            bb_info(MOD, "child_evict project=%s reason=capacity for=%s", victim->project,
                    s->project);
            m->stat_evictions++;
            bb_counter_inc(m->met.evictions);
            begin_stop(m, victim, BMGR_THEN_FREE, SIGTERM);
            leaving++;
        }
    }
    if (leaving > 0) {
        if (!s->deadline_ms) s->deadline_ms = bb_time_mono_ms() + m->cfg.start_timeout_ms;
        return;
    }
    bb_warn(MOD, "no_capacity project=%s children=%u max_children=%u ports=%d", s->project,
            holders(m), m->cfg.max_children, m->cfg.port_count);
    bb_counter_inc(m->met.rejections);
    fail_waiters(s, BB_EBUSY, dl);
    if (s->refs == 0) slot_free(m, s);
}

static void place_waiting(struct bmgr *m, struct done_list *dl)
{
    struct bmgr_slot *s = m->slots, *next;
    for (; s; s = next) {
        next = s->next;
        if (s->state == BMGR_WAITING && s->wq_head && !m->stopping) try_place(m, s, dl);
    }
}

/* ------------------------------------------------------------------ exits */

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
        return;
    }
    uint64_t now = bb_time_mono_ms();
    switch (was) {
    case BMGR_STOPPING:
        bb_info(MOD, "child_stopped project=%s pid=%d %s", s->project, (int)pid, how);
        port_release(m, s);
        if (s->stop_then == BMGR_THEN_BACKOFF) {
            enter_backoff(m, s, 0, dl);
        } else if (s->wq_head) {
            s->state = BMGR_WAITING;
            s->deadline_ms = 0;
            try_place(m, s, dl);
        } else if (s->refs == 0) {
            slot_free(m, s);
        } else {
            s->state = BMGR_FAILED;
            s->failed_at_ms = now;
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
            s->state = BMGR_WAITING;
            s->deadline_ms = 0;
            if (holders(m) < m->cfg.max_children && port_alloc(m, s) > 0 &&
                spawn_child(m, s) == 0) {
                s->start_attempts = attempts;
                return;
            }
            port_release(m, s);
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

static void on_tick(uv_timer_t *t);

static void kick(struct bmgr *m, uint64_t delay)
{
    if (!m->handles_open || m->handles_closing) return;
    if (!uv_is_active((uv_handle_t *)&m->tick) || uv_timer_get_due_in(&m->tick) > delay)
        uv_timer_start(&m->tick, on_tick, delay, 0);
}

static void maybe_close_handles(struct bmgr *m);

static void on_tick(uv_timer_t *t)
{
    struct bmgr *m = t->data;
    struct done_list dl = {0};
    uint64_t now = bb_time_mono_ms();
    int slow = now - m->last_slow_tick >= (m->cfg.idle_ms / 2 < 1000 ? m->cfg.idle_ms / 2 : 1000);
    if (slow) m->last_slow_tick = now;
    uint64_t next = 1000, ho_total = 0;
    pthread_mutex_lock(&m->mtx);
    reap(m, &dl);
    struct bmgr_slot *s = m->slots, *nx;
    for (; s; s = nx) {
        nx = s->next;
        switch (s->state) {
        case BMGR_STARTING:
            if (probe_step(s)) {
                s->state = BMGR_READY;
                s->ready_since_ms = now;
                s->last_use_ms = now;
                s->deadline_ms = 0;
                s->start_attempts = 0;
                bb_info(MOD, "child_ready project=%s pid=%d port=%d", s->project, (int)s->proc.pid,
                        s->port);
                grant_all(s, &dl);
            } else if (now >= s->deadline_ms) {
                snprintf(s->last_error, sizeof s->last_error, "not ready within %llu ms",
                         (unsigned long long)m->cfg.start_timeout_ms);
                bb_error(MOD, "child_start_timeout project=%s pid=%d", s->project,
                         (int)s->proc.pid);
                fail_waiters(s, BB_ETIMEDOUT, &dl);
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
                s->restarts++;
                m->stat_restarts++;
                bb_counter_inc(m->met.restarts);
                bb_info(MOD, "child_restart project=%s failures=%u", s->project, s->failures);
                int rc = s->port > 0 ? 0 : port_alloc(m, s);
                s->start_attempts = 0;
                if (rc < 0 || spawn_child(m, s) != 0) {
                    if (rc < 0) snprintf(s->last_error, sizeof s->last_error, "no free port");
                    port_release(m, s);
                    fail_waiters(s, BB_EUNAVAIL, &dl);
                    s->state = BMGR_FAILED;
                    s->failed_at_ms = now;
                }
                if (next > 10) next = 10;
            } else {
                uint64_t d = s->backoff_until - now;
                if (d < next) next = d;
            }
            break;
        case BMGR_WAITING:
            if (s->deadline_ms && now >= s->deadline_ms) {
                bb_warn(MOD, "capacity_wait_timeout project=%s", s->project);
                bb_counter_inc(m->met.rejections);
                fail_waiters(s, BB_EBUSY, &dl);
                if (s->refs == 0) slot_free(m, s);
            } else if (next > 50) {
                next = 50;
            }
            break;
        case BMGR_READY:
            ho_drain(s);
            ho_total += s->ho_clients;
            if (ho_busy(s)) s->last_use_ms = now; /* idle time counts from the last client */
            if (slow && !m->stopping && s->refs == 0 && !s->wq_head && !ho_busy(s) &&
                now - s->last_use_ms >= m->cfg.idle_ms) {
                bb_info(MOD, "child_evict project=%s reason=idle idle_ms=%llu", s->project,
                        (unsigned long long)(now - s->last_use_ms));
                m->stat_evictions++;
                bb_counter_inc(m->met.evictions);
                begin_stop(m, s, BMGR_THEN_FREE, SIGTERM);
                if (next > 50) next = 50;
            }
            break;
        case BMGR_FAILED:
            if (slow && s->refs == 0 && !s->wq_head && s->proc.pid <= 0 &&
                now - s->failed_at_ms >= m->cfg.idle_ms && !m->stopping)
                slot_free(m, s);
            break;
        }
    }
    if (!m->stopping) place_waiting(m, &dl);
    int stopping = m->stopping;
    int alive = 0;
    for (s = m->slots; s; s = s->next) alive += s->proc.pid > 0;
    pthread_mutex_unlock(&m->mtx);
    bb_gauge_set(m->met.handoff_clients, (double)ho_total);
    done_run(&dl);
    if (slow && !stopping) bmgr_relay_sweep(m, now);
    if (stopping && !alive) {
        maybe_close_handles(m);
        return;
    }
    if (stopping && next > 50) next = 50;
    uint64_t idle_step = m->cfg.idle_ms / 2 < 1000 ? m->cfg.idle_ms / 2 : 1000;
    if (idle_step < 10) idle_step = 10;
    if (next > idle_step) next = idle_step;
    uv_timer_start(&m->tick, on_tick, next, 0);
}

static void on_sigchld(uv_signal_t *h, int sig)
{
    (void)sig;
    struct bmgr *m = h->data;
    struct done_list dl = {0};
    pthread_mutex_lock(&m->mtx);
    reap(m, &dl);
    if (!m->stopping) place_waiting(m, &dl);
    pthread_mutex_unlock(&m->mtx);
    done_run(&dl);
    kick(m, 1);
}

/* ------------------------------------------------------------------ acquire / release */

void bmgr_acquire(struct bmgr *m, struct bmgr_waiter *w)
{
    struct done_list dl = {0};
    int spawned = 0;
    pthread_mutex_lock(&m->mtx);
    if (m->stopping) {
        done_add(&dl, w, BB_ECLOSED);
        goto out;
    }
    struct bmgr_slot *s = find_slot(m, w->project);
    if (!s) {
        if (m->nslots >= m->cfg.max_children * 4 + 256) {
            bb_counter_inc(m->met.rejections);
            done_add(&dl, w, BB_EBUSY);
            goto out;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
            done_add(&dl, w, BB_ENOMEM);
            goto out;
        }
        snprintf(s->project, sizeof s->project, "%s", w->project);
        s->state = BMGR_WAITING;
        s->probe_fd = -1;
        s->ho_fd = -1;
        s->next = m->slots;
        m->slots = s;
        m->nslots++;
    }
    if (s->state == BMGR_READY) {
        grant(s, w, &dl);
        goto out;
    }
    wq_push(s, w);
    if (s->state == BMGR_FAILED) {
        s->state = BMGR_WAITING;
        s->failures = 0;
        bb_proc_backoff_reset(&s->proc.backoff);
        s->deadline_ms = 0;
    }
    if (s->state == BMGR_WAITING && s->wq_head == w) {
        try_place(m, s, &dl);
        spawned = 1;
    }
out:
    pthread_mutex_unlock(&m->mtx);
    done_run(&dl);
    if (spawned) kick(m, 5);
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
    struct bmgr_waiter w;
    memset(&w, 0, sizeof w);
    pthread_mutex_lock(&m->mtx);
    if (m->stopping) {
        pthread_mutex_unlock(&m->mtx);
        return BB_ECLOSED;
    }
    struct bmgr_slot *s = find_slot(m, project);
    if (s && s->state == BMGR_READY) { /* fast path: no loop round trip */
        s->refs++;
        s->last_use_ms = bb_time_mono_ms();
        lease->slot = s;
        lease->port = s->port;
        lease->gen = s->gen;
        memcpy(lease->secret, s->secret, sizeof lease->secret);
        pthread_mutex_unlock(&m->mtx);
        return 0;
    }
    snprintf(w.project, sizeof w.project, "%s", project);
    w.cb = blocking_cb;
    if (uv_sem_init(&w.sem, 0) != 0) {
        pthread_mutex_unlock(&m->mtx);
        return BB_ENOMEM;
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
    if (!lease->slot) return;
    pthread_mutex_lock(&m->mtx);
    if (lease->slot->refs > 0) lease->slot->refs--;
    lease->slot->last_use_ms = bb_time_mono_ms();
    pthread_mutex_unlock(&m->mtx);
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

static json_t *slot_json(struct bmgr_slot *s)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:i}", "project_id", s->project,
                          "state", bmgr_state_name(s->state), "pid", (int)s->proc.pid, "port", s->port,
                          "spawns", (json_int_t)s->spawns, "crashes", (json_int_t)s->crashes,
                          "restarts", (json_int_t)s->restarts, "in_use", (json_int_t)s->refs,
                          "failures", (int)s->failures);
    if (o && s->last_error[0]) json_object_set_new(o, "last_error", json_string(s->last_error));
    if (o) {
        json_object_set_new(o, "handoff", json_boolean(s->ho_fd >= 0));
        json_object_set_new(o, "handoff_clients", json_integer((json_int_t)s->ho_clients));
    }
    return o;
}

json_t *bmgr_slot_json(struct bmgr *m, const char *project)
{
    pthread_mutex_lock(&m->mtx);
    struct bmgr_slot *s = find_slot(m, project);
    json_t *o = s ? slot_json(s) : NULL;
    pthread_mutex_unlock(&m->mtx);
    return o;
}

json_t *bmgr_children_json(struct bmgr *m, int *bad)
{
    unsigned counts[BMGR_FAILED + 1] = {0};
    json_t *problems = json_array();
    pthread_mutex_lock(&m->mtx);
    for (struct bmgr_slot *s = m->slots; s; s = s->next) {
        counts[s->state]++;
        if ((s->state == BMGR_BACKOFF || s->state == BMGR_FAILED) &&
            json_array_size(problems) < 50)
            json_array_append_new(problems, slot_json(s));
    }
    json_t *o = json_pack(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "running",
        (int)(counts[BMGR_READY] + counts[BMGR_STARTING] + counts[BMGR_STOPPING]), "ready",
        (int)counts[BMGR_READY], "starting", (int)counts[BMGR_STARTING], "restarting",
        (int)counts[BMGR_BACKOFF], "failed", (int)counts[BMGR_FAILED], "waiting",
        (int)counts[BMGR_WAITING], "max_children", (int)m->cfg.max_children, "spawns",
        (json_int_t)m->stat_spawns, "crashes", (json_int_t)m->stat_crashes, "restarts",
        (json_int_t)m->stat_restarts, "evictions", (json_int_t)m->stat_evictions);
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
            begin_stop(m, s, BMGR_THEN_FREE, SIGTERM);
            n++;
        }
    }
    pthread_mutex_unlock(&m->mtx);
    done_run(&dl);
    bb_info(MOD, "stopping children=%u", n);
    uv_timer_start(&m->tick, on_tick, 0, 0);
}

void bmgr_children_release(struct bmgr *m)
{
    while (m->slots) {
        struct bmgr_slot *s = m->slots;
        m->slots = s->next;
        idle_conns_free(s);
        probe_close(s);
        free(s);
    }
    free(m->port_used);
    m->port_used = NULL;
    if (m->child_env) {
        for (char **e = m->child_env; *e; e++) free(*e);
        free(m->child_env);
        m->child_env = NULL;
    }
}
