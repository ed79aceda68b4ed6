/* fn_pool.c — worker processes and the per-function pools.
 *
 * A pool per (project, function): its workers (each a bunbase-qjs-worker child with one socket),
 * the version new invocations run on, how many wait. An invocation takes an idle worker of the
 * active version (warm), else starts one when the function has fewer than max_workers (cold),
 * else waits (at most queue_max waiters per function, at most queue_wait_ms) and otherwise gets
 * 429 with Retry-After. A project's invocations in flight are capped by project_concurrency (the
 * same wait). A worker serves one invocation at a time.
 *
 * Failure handling: no answer by the deadline (timeout_ms, plus a grace for the worker's own
 * interrupt to report) → the worker is killed with SIGKILL and its slot freed: 504
 * function_timeout; the worker reporting the timeout itself → killed the same way. The socket
 * closing before an answer (the process died) → 502 function_crashed. Over the memory limit →
 * killed, 500 function_out_of_memory. A handler exception → 500 function_error, the worker stays.
 * The next invocation never sees a killed worker: it gets a new one.
 *
 * Versions: fn_pools_retire marks the pool's new version; idle workers of other versions are
 * killed at once, busy ones when their invocation ends (in-flight calls finish on the version they
 * started on: graceful drain).
 *
 * Processes: bb_proc_spawn, never a shell; the environment is only what the function is given
 * (BUNBASE_PROJECT_ID, BUNBASE_FUNCTION_NAME, BUNBASE_FUNCTION_VERSION), never the parent's; the
 * socket is the child's fd 3; its stdout/stderr go to <data>/functions/workers.log; it gets
 * SIGKILL when the spawning thread ends (PR_SET_PDEATHSIG: our threads live as long as the
 * service) and has its own process group.
 *
 * Locking: one mutex for every pool and counter; never held while talking to a worker or
 * spawning one (a slot is reserved first).
 */
#include "fn_internal.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_proc.h"
#include "bb_time.h"
#include "bb_httpc.h"
#include "fn_proto.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT_GRACE_MS 250 /* the worker's own interrupt reports first when it can */

struct fn_worker {
    struct fn_worker *next;
    pid_t pid;
    int fd;
    int64_t version;
    unsigned gen; /* the pool's generation when it was started (its environment) */
    int busy;
    uint64_t last_used_ms;
};

struct fn_fpool {
    struct fn_fpool *next;
    char pid[BB_IDENTITY_MAX_PROJECT_ID];
    char name[FN_NAME_MAX + 1];
    int64_t version; /* new invocations run on it */
    int runtime;     /* of that version */
    struct fn_worker *workers;
    size_t nworkers; /* in the list, plus slots reserved by spawns in progress */
    size_t waiting;
    int used;
    unsigned gen; /* bumped when the function's environment changes */
};

struct fn_proj {
    struct fn_proj *next;
    char pid[BB_IDENTITY_MAX_PROJECT_ID];
    size_t inflight;
};

struct fn_pools {
    const struct fn_config *cfg;
    struct fn_store *store;
    char data_dir[1100];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fn_fpool *pools;
    struct fn_proj *projects;
    uint64_t spawned, killed, crashed, timeouts, rejected;
};

int fn_bundle_path(const char *data_dir, const char *pid, const char *name, int64_t version,
                   char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s/%s/%lld/index.js", data_dir, pid, name, (long long)version);
    return n < 0 || (size_t)n >= cap ? BB_EINVAL : 0;
}

int fn_pools_new(const struct fn_pools_opts *o, struct fn_pools **out)
{
    struct fn_pools *p = calloc(1, sizeof *p);
    if (!p) return BB_ENOMEM;
    p->cfg = o->cfg;
    p->store = o->store;
    snprintf(p->data_dir, sizeof p->data_dir, "%s", o->data_dir);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return 0;
}

static void worker_kill(struct fn_pools *p, struct fn_worker *w)
{
    if (w->fd >= 0) close(w->fd);
    if (w->pid > 0) bb_proc_stop(w->pid, SIGKILL, 2000, 1);
    free(w);
}

void fn_pools_free(struct fn_pools *p)
{
    if (!p) return;
    struct fn_fpool *fp = p->pools;
    while (fp) {
        struct fn_fpool *n = fp->next;
        struct fn_worker *w = fp->workers;
        while (w) {
            struct fn_worker *wn = w->next;
            worker_kill(p, w);
            w = wn;
        }
        free(fp);
        fp = n;
    }
    struct fn_proj *pr = p->projects;
    while (pr) {
        struct fn_proj *n = pr->next;
        free(pr);
        pr = n;
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void fn_call_release(struct fn_call *c)
{
    for (size_t i = 0; i < c->nhdrs; i++) {
        free(c->hdr_names[i]);
        free(c->hdr_values[i]);
    }
    free(c->hdr_names);
    free(c->hdr_values);
    free(c->resp_body);
    free(c->error_msg);
    free(c->logs);
    c->hdr_names = c->hdr_values = NULL;
    c->nhdrs = 0;
    c->resp_body = c->error_msg = c->logs = NULL;
}

static void fail(struct fn_call *c, int status, const char *code, const char *msg)
{
    c->status = status;
    c->error_code = code;
    free(c->error_msg);
    c->error_msg = strdup(msg);
}

/* ------------------------------------------------------------------ frames with deadlines */

/* Waits until fd is ready for events, at most until deadline (monotonic ms, now < deadline; the
 * callers check the deadline again). 0, or -1 on a poll error. */
static int wait_ready(int fd, short events, uint64_t now, uint64_t deadline)
{
    struct pollfd pf = {fd, events, 0};
    uint64_t left = deadline - now;
    int r = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
    return r < 0 && errno != EINTR ? -1 : 0;
}

/* Reads exactly n bytes before deadline (monotonic ms). 0, 1 EOF, -1 error, -2 timeout. What has
 * arrived is read at once; poll only when nothing has. The deadline is checked on every pass, so
 * a worker that never stops talking is stopped too. */
static int read_until(int fd, uint8_t *buf, size_t n, uint64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        uint64_t now = bb_time_mono_ms();
        if (now >= deadline) return -2;
        ssize_t k = recv(fd, buf + off, n - off, MSG_DONTWAIT);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k == 0) return 1;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (wait_ready(fd, POLLIN, now, deadline) != 0) return -1;
    }
    return 0;
}

/* One frame: *type, *payload (malloc'd, caller frees), *len. Same returns as read_until, and -3
 * for a frame over max. */
static int read_frame(int fd, uint64_t deadline, size_t max, uint8_t *type, uint8_t **payload,
                      size_t *len)
{
    uint8_t h[FN_FRAME_HDR];
    int r = read_until(fd, h, sizeof h, deadline);
    if (r) return r;
    uint32_t n =
        (uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 24);
    if (n < 1 || n > max) return -3;
    uint8_t *p = malloc(n);
    if (!p) return -1;
    r = read_until(fd, p, n - 1, deadline);
    if (r) {
        free(p);
        return r;
    }
    *type = h[4];
    *payload = p;
    *len = n - 1;
    return 0;
}

/* Sends all of buf before deadline; 0, -1 (peer gone), -2 timeout. Polls only when the socket's
 * buffer is full. */
static int send_until(int fd, const uint8_t *buf, size_t n, uint64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k >= 0) {
            off += (size_t)k;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        uint64_t now = bb_time_mono_ms();
        if (now >= deadline) return -2;
        if (wait_ready(fd, POLLOUT, now, deadline) != 0) return -1;
    }
    return 0;
}

/* A Bun worker that closed its socket mid-invocation: 1 when it died the way Bun (JSC's CRASH())
 * dies when an allocation fails under its address-space bound: SIGSEGV, SIGBUS or SIGABRT
 * (directly, or as bubblewrap's exit code 128 + signal). Reaps it (w->pid becomes 0). */
static int bun_out_of_memory(struct fn_worker *w)
{
    int st = 0;
    if (w->pid <= 0 || bb_proc_wait(w->pid, 2000, &st) != 0) return 0;
    w->pid = 0;
    int sig = WIFSIGNALED(st)                          ? WTERMSIG(st)
              : WIFEXITED(st) && WEXITSTATUS(st) > 128 ? WEXITSTATUS(st) - 128
                                                       : 0;
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT;
}

/* ------------------------------------------------------------------ spawn */

/* Starts a worker for (pid, name, version) and waits for READY. 0 with *out; else the call c is
 * failed (load error: 500 function_load_failed; spawn/start failure: 503). */
static int spawn(struct fn_pools *p, const char *pid, const char *name, int64_t version,
                 int runtime, struct fn_worker **out, struct fn_call *c)
{
    const struct fn_config *cfg = p->cfg;
    char bundle[1500];
    if (fn_bundle_path(p->data_dir, pid, name, version, bundle, sizeof bundle)) {
        fail(c, 500, "function_load_failed", "bundle path too long");
        return BB_EINVAL;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        fail(c, 503, "worker_unavailable", "cannot create the worker's socket");
        return BB_EIO;
    }
    char mem[32], frame[32], tmo[32], vers[64], logp[1200];
    snprintf(mem, sizeof mem, "%llu", (unsigned long long)(cfg->memory_mb * 1024 * 1024));
    snprintf(frame, sizeof frame, "%llu", (unsigned long long)fn_config_max_frame(cfg));
    snprintf(tmo, sizeof tmo, "%llu", (unsigned long long)cfg->start_timeout_ms);
    snprintf(logp, sizeof logp, "%s/workers.log", p->data_dir);
    char *inner[] = {(char *)cfg->worker_path,
                     "--bundle",
                     bundle,
                     "--fd",
                     "3",
                     "--memory-limit",
                     mem,
                     "--max-frame",
                     frame,
                     "--timeout-ms",
                     tmo,
                     NULL};
    struct fn_sandbox_argv sa;
    char
        root[1500]; /* the version's directory, read-only: the bundle's modules import each other */
    snprintf(root, sizeof root, "%s", bundle);
    char *slash = strrchr(root, '/');
    if (slash) *slash = '\0';
    const char *files[] = {root, NULL};
    struct stat bst; /* a version deployed before the workers had their own user */
    if (cfg->switch_user && stat(bundle, &bst) == 0 && !(bst.st_mode & S_IROTH))
        fn_bundle_share(root);
    /* Bun has no hard heap limit of its own: an address-space rlimit (set by its launcher, the
     * QuickJS worker's --exec-confined, with the seccomp filter) is the bound, --smol and JSC's
     * RAM size make its collector work within MEMORY_MB first */
    char as[64], ram[64];
    /* rounded up to a whole GiB: Bun 1.4 aborts at start under some bounds that are not (e.g.
     * 1152-1279 MiB, measured) */
    uint64_t as_mb = (cfg->memory_mb * 2 + cfg->bun_base_mb + 1023) / 1024 * 1024;
    snprintf(as, sizeof as, "%llu", (unsigned long long)(as_mb * 1024 * 1024));
    snprintf(ram, sizeof ram, "BUN_JSC_forceRAMSize=%llu",
             (unsigned long long)(cfg->memory_mb * 1024 * 1024));
    char *bun_inner[] = {(char *)cfg->worker_path,
                         "--exec-confined",
                         as,
                         "--",
                         (char *)cfg->bun_path,
                         "--smol",
                         (char *)cfg->bun_worker,
                         "--bundle",
                         bundle,
                         "--max-frame",
                         frame,
                         NULL};
    const char *bun_files[] = {root, cfg->bun_worker, cfg->bun_path, NULL};
    if (runtime == FN_RUNTIME_BUN)
        fn_sandbox_command(cfg, runtime, bun_files, bun_inner, &sa);
    else
        fn_sandbox_command(cfg, runtime, files, inner, &sa);
    /* the function's environment: what it is given (its variables, decrypted here, and three of
     * ours), nothing of bunbased's */
    char e_pid[128], e_name[128];
    snprintf(e_pid, sizeof e_pid, "BUNBASE_PROJECT_ID=%s", pid);
    snprintf(e_name, sizeof e_name, "BUNBASE_FUNCTION_NAME=%s", name);
    snprintf(vers, sizeof vers, "BUNBASE_FUNCTION_VERSION=%lld", (long long)version);
    json_t *vars = NULL;
    if (p->store && fn_store_env_get(p->store, pid, name, &vars) != 0) {
        close(sv[0]), close(sv[1]);
        fail(c, 503, "worker_unavailable",
             "the function's environment variables cannot be read (kept in bun-kms, which is not "
             "running here?)");
        return BB_EUNAVAIL;
    }
    size_t nv = vars ? json_object_size(vars) : 0;
    char **envp = calloc(nv + 5, sizeof *envp);
    if (!envp) {
        json_decref(vars);
        close(sv[0]), close(sv[1]);
        fail(c, 503, "worker_unavailable", "out of memory");
        return BB_ENOMEM;
    }
    size_t ne = 0;
    envp[ne++] = e_pid, envp[ne++] = e_name, envp[ne++] = vers;
    size_t first_var = ne;                                           /* ours above are not freed */
    if (runtime == FN_RUNTIME_BUN) envp[ne++] = ram, first_var = ne; /* the worker unsets it */
    const char *vk;
    json_t *vv;
    json_object_foreach(vars, vk, vv)
    {
        const char *val = json_string_value(vv);
        size_t n = strlen(vk) + (val ? strlen(val) : 0) + 2;
        char *e = malloc(n);
        if (!e) continue;
        snprintf(e, n, "%s=%s", vk, val ? val : "");
        envp[ne++] = e;
    }
    struct bb_proc_spec spec = {
        .argv = sa.argv,
        .envp = envp,
        .log_path = logp,
        .stdout_fd = -1,
        .pass_fds = &sv[1],
        .npass = 1,
        .pdeath_signal = SIGKILL,
        .flags = BB_PROC_NEW_PGROUP,
    };
    pid_t child = -1;
    int rc = bb_proc_spawn(&spec, &child);
    for (size_t i = first_var; i < ne; i++) {
        sodium_memzero(envp[i], strlen(envp[i]));
        free(envp[i]);
    }
    free(envp);
    json_decref(vars);
    close(sv[1]);
    if (rc) {
        close(sv[0]);
        fail(c, 503, "worker_unavailable", "cannot start the function's worker");
        return rc;
    }
    uint8_t type = 0, *pl = NULL;
    size_t len = 0;
    int r = read_frame(sv[0], bb_time_mono_ms() + cfg->start_timeout_ms + TIMEOUT_GRACE_MS,
                       fn_config_max_frame(cfg), &type, &pl, &len);
    if (r == 0 && type == FN_FRAME_READY) {
        free(pl);
        struct fn_worker *w = calloc(1, sizeof *w);
        if (!w) {
            close(sv[0]);
            bb_proc_stop(child, SIGKILL, 2000, 1);
            fail(c, 503, "worker_unavailable", "out of memory");
            return BB_ENOMEM;
        }
        w->pid = child;
        w->fd = sv[0];
        w->version = version;
        *out = w;
        return 0;
    }
    if (r == 0 && type == FN_FRAME_LOAD_ERROR) {
        struct fn_rd rd = {pl, len, 0, 0};
        const uint8_t *m;
        size_t mn;
        char msg[2048] = "the bundle failed to load";
        if (fn_rd_str(&rd, &m, &mn) == 0)
            snprintf(msg, sizeof msg, "the bundle failed to load: %.*s", (int)mn, (const char *)m);
        fail(c, 500, "function_load_failed", msg);
    } else if (r == -2)
        fail(c, 504, "function_timeout",
             "the function's worker did not start in time "
             "(BUNBASE_FUNCTIONS_START_TIMEOUT_MS)");
    else
        fail(c, 502, "function_crashed", "the function's worker exited while starting");
    free(pl);
    close(sv[0]);
    bb_proc_stop(child, SIGKILL, 2000, 1);
    return BB_EIO;
}

/* ------------------------------------------------------------------ acquire / release */

static struct fn_fpool *find_pool(struct fn_pools *p, const char *pid, const char *name, int create)
{
    for (struct fn_fpool *fp = p->pools; fp; fp = fp->next)
        if (!strcmp(fp->pid, pid) && !strcmp(fp->name, name)) return fp;
    if (!create) return NULL;
    struct fn_fpool *fp = calloc(1, sizeof *fp);
    if (!fp) return NULL;
    snprintf(fp->pid, sizeof fp->pid, "%s", pid);
    snprintf(fp->name, sizeof fp->name, "%s", name);
    fp->next = p->pools;
    p->pools = fp;
    return fp;
}

static struct fn_proj *find_proj(struct fn_pools *p, const char *pid)
{
    for (struct fn_proj *pr = p->projects; pr; pr = pr->next)
        if (!strcmp(pr->pid, pid)) return pr;
    struct fn_proj *pr = calloc(1, sizeof *pr);
    if (!pr) return NULL;
    snprintf(pr->pid, sizeof pr->pid, "%s", pid);
    pr->next = p->projects;
    p->projects = pr;
    return pr;
}

/* Removes w from fp's list (p->mu held). */
static void unlink_worker(struct fn_fpool *fp, struct fn_worker *w)
{
    for (struct fn_worker **pp = &fp->workers; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            fp->nworkers--;
            return;
        }
}

/* Kills the idle workers of fp that are not of its version (p->mu held); returns them in a list
 * to kill after unlocking. */
static struct fn_worker *take_stale(struct fn_fpool *fp)
{
    struct fn_worker *dead = NULL;
    for (struct fn_worker **pp = &fp->workers; *pp;) {
        struct fn_worker *w = *pp;
        if (!w->busy && (w->version != fp->version || w->gen != fp->gen)) {
            *pp = w->next;
            fp->nworkers--;
            w->next = dead;
            dead = w;
        } else
            pp = &w->next;
    }
    return dead;
}

static void kill_list(struct fn_pools *p, struct fn_worker *w)
{
    while (w) {
        struct fn_worker *n = w->next;
        worker_kill(p, w);
        w = n;
    }
}

/* Gets a worker for c: 0 with *out (and *cold), or the call is failed. */
static int acquire(struct fn_pools *p, struct fn_call *c, struct fn_worker **out, int *cold)
{
    const struct fn_config *cfg = p->cfg;
    struct timespec until;
    bb_time_deadline(CLOCK_MONOTONIC, cfg->queue_wait_ms, &until);
    int waiting = 0;
    pthread_mutex_lock(&p->mu);
    struct fn_fpool *fp = find_pool(p, c->project_id, c->name, 1);
    struct fn_proj *pr = find_proj(p, c->project_id);
    if (!fp || !pr) {
        pthread_mutex_unlock(&p->mu);
        fail(c, 503, "worker_unavailable", "out of memory");
        return BB_ENOMEM;
    }
    /* the pool's version is set by fn_pools_retire (every activation goes through it); a new pool
     * takes the caller's. A caller that read an older version runs on a worker of that version,
     * which is dropped when it is released. */
    if (fp->version == 0) fp->version = c->version, fp->runtime = c->runtime;
    fp->used = 1;
    for (;;) {
        if (pr->inflight < cfg->project_concurrency) {
            for (struct fn_worker *w = fp->workers; w; w = w->next)
                if (!w->busy && w->version == c->version && w->gen == fp->gen) {
                    w->busy = 1;
                    pr->inflight++;
                    if (waiting) fp->waiting--;
                    pthread_mutex_unlock(&p->mu);
                    *out = w;
                    *cold = 0;
                    return 0;
                }
            if (fp->nworkers < cfg->max_workers) {
                fp->nworkers++; /* reserved */
                unsigned gen = fp->gen;
                pr->inflight++;
                if (waiting) fp->waiting--;
                p->spawned++;
                pthread_mutex_unlock(&p->mu);
                struct fn_worker *w = NULL;
                int rc = spawn(p, c->project_id, c->name, c->version, c->runtime, &w, c);
                pthread_mutex_lock(&p->mu);
                if (rc) {
                    fp->nworkers--;
                    pr->inflight--;
                    pthread_cond_broadcast(&p->cv);
                    pthread_mutex_unlock(&p->mu);
                    return rc;
                }
                w->busy = 1;
                w->gen = gen;
                w->next = fp->workers;
                fp->workers = w;
                pthread_mutex_unlock(&p->mu);
                *out = w;
                *cold = 1;
                return 0;
            }
        }
        if (!waiting) {
            if (fp->waiting >= cfg->queue_max) break;
            fp->waiting++;
            waiting = 1;
        }
        int r = pthread_cond_timedwait(&p->cv, &p->mu, &until);
        if (r == ETIMEDOUT) {
            fp->waiting--;
            break;
        }
    }
    p->rejected++;
    pthread_mutex_unlock(&p->mu);
    c->retry_after_s = (int)((cfg->queue_wait_ms + 999) / 1000);
    if (c->retry_after_s < 1) c->retry_after_s = 1;
    fail(c, 429, "too_many_invocations",
         "the function (or its project) is at its concurrency limit and its queue is full");
    return BB_ELIMIT;
}

static void release(struct fn_pools *p, struct fn_call *c, struct fn_worker *w, int kill_it)
{
    pthread_mutex_lock(&p->mu);
    struct fn_fpool *fp = find_pool(p, c->project_id, c->name, 0);
    struct fn_proj *pr = find_proj(p, c->project_id);
    if (pr && pr->inflight) pr->inflight--;
    w->busy = 0;
    w->last_used_ms = bb_time_mono_ms();
    int drop = kill_it || !fp || w->version != fp->version || w->gen != fp->gen;
    if (drop && fp) unlink_worker(fp, w);
    if (drop) p->killed++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (drop) worker_kill(p, w);
}

/* ------------------------------------------------------------------ invoke */

static void add_log(struct fn_call *c, size_t cap, uint8_t level, const uint8_t *s, size_t n)
{
    static const char *const lv[] = {"debug", "info", "warn", "error"};
    if (c->logs_len >= cap) return;
    const char *l = lv[level > 3 ? 3 : level];
    size_t need = strlen(l) + n + 4;
    if (c->logs_len + need > cap) {
        n = cap - c->logs_len > strlen(l) + 4 ? cap - c->logs_len - strlen(l) - 4 : 0;
        need = strlen(l) + n + 4;
    }
    char *nl = realloc(c->logs, c->logs_len + need + 1);
    if (!nl) return;
    c->logs = nl;
    int k = snprintf(c->logs + c->logs_len, need + 1, "[%s] %.*s\n", l, (int)n, (const char *)s);
    if (k > 0) c->logs_len += (size_t)k < need ? (size_t)k : need;
}

int fn_parse_response(struct fn_call *c, const uint8_t *pl, size_t len)
{
    struct fn_rd r = {pl, len, 0, 0};
    uint16_t status;
    uint32_t nh;
    if (fn_rd_u16(&r, &status) || fn_rd_u32(&r, &nh) || nh > len / 8) return -1;
    c->hdr_names = calloc(nh ? nh : 1, sizeof *c->hdr_names);
    c->hdr_values = calloc(nh ? nh : 1, sizeof *c->hdr_values);
    if (!c->hdr_names || !c->hdr_values) return -1;
    for (uint32_t i = 0; i < nh; i++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        if (fn_rd_str(&r, &k, &kn) || fn_rd_str(&r, &v, &vn)) return -1;
        c->hdr_names[c->nhdrs] = strndup((const char *)k, kn);
        c->hdr_values[c->nhdrs] = strndup((const char *)v, vn);
        if (!c->hdr_names[c->nhdrs] || !c->hdr_values[c->nhdrs]) {
            free(c->hdr_names[c->nhdrs]);
            free(c->hdr_values[c->nhdrs]);
            return -1;
        }
        c->nhdrs++;
    }
    const uint8_t *b;
    size_t bn;
    if (fn_rd_str(&r, &b, &bn)) return -1;
    c->resp_body = malloc(bn + 1);
    if (!c->resp_body) return -1;
    memcpy(c->resp_body, b, bn);
    c->resp_body[bn] = '\0';
    c->resp_len = bn;
    c->status = status;
    return 0;
}

/* ------------------------------------------------------------------ fetch proxy */

/* 1 when url's host (and port) is on the comma-separated allow list: "host" matches any port,
 * "host:port" that port (the scheme's default when the URL has none). Only http and https. */
int fn_fetch_allowed(const char *allow, const char *url)
{
    size_t sl;
    const char *dport;
    if (!strncasecmp(url, "http://", 7))
        sl = 7, dport = "80";
    else if (!strncasecmp(url, "https://", 8))
        sl = 8, dport = "443";
    else
        return 0;
    const char *a = url + sl;
    size_t alen = strcspn(a, "/?#");
    const char *at = memrchr(a, '@', alen);
    if (at) alen -= (size_t)(at + 1 - a), a = at + 1;
    /* host and port of the authority */
    const char *colon = NULL;
    if (alen && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb) return 0;
        if ((size_t)(rb + 1 - a) < alen && rb[1] == ':') colon = rb + 1;
    } else
        colon = memchr(a, ':', alen);
    size_t hlen = colon ? (size_t)(colon - a) : alen;
    const char *port = colon ? colon + 1 : dport;
    size_t plen = colon ? alen - hlen - 1 : strlen(dport);
    if (!hlen || !plen) return 0;
    for (const char *e = allow; *e;) {
        size_t n = strcspn(e, ",");
        const char *ent = e;
        while (n && *ent == ' ')
            ent++, n--;
        size_t m = n;
        while (m && ent[m - 1] == ' ')
            m--;
        const char *ec = NULL;
        if (m && ent[0] == '[') {
            const char *rb = memchr(ent, ']', m);
            if (rb && (size_t)(rb + 1 - ent) < m && rb[1] == ':') ec = rb + 1;
        } else
            ec = memchr(ent, ':', m);
        size_t eh = ec ? (size_t)(ec - ent) : m;
        if (eh == hlen && !strncasecmp(ent, a, hlen) &&
            (!ec || (m - eh - 1 == plen && !memcmp(ec + 1, port, plen))))
            return 1;
        e += n + (e[n] == ',');
    }
    return 0;
}

/* 1 when url is below the invocation's gateway URL ("<gateway>/…"): BunBase.admin()'s calls,
 * allowed whatever BUNBASE_FUNCTIONS_FETCH_ALLOW says (they carry the project token only). */
static int to_gateway(const struct fn_call *c, const char *url)
{
    size_t n = c->gateway_url ? strlen(c->gateway_url) : 0;
    return n && !strncmp(url, c->gateway_url, n) && url[n] == '/';
}

/* Answers one FETCH frame of the worker: refused (not allowed, too many), or made with bb_httpc
 * within the invocation's deadline. 0, or -1 when the worker cannot be answered. */
static int proxy_fetch(struct fn_pools *p, struct fn_call *c, int fd, const uint8_t *pl, size_t len,
                       uint64_t deadline, unsigned *count)
{
    const struct fn_config *cfg = p->cfg;
    struct fn_rd r = {pl, len, 0, 0};
    uint32_t id = 0, nh = 0;
    const uint8_t *m, *u, *b;
    size_t mn, un, bn;
    fn_rd_u32(&r, &id);
    fn_rd_str(&r, &m, &mn);
    fn_rd_str(&r, &u, &un);
    fn_rd_u32(&r, &nh);
    if (r.bad || nh > len / 8) return -1;
    char **lines = calloc(nh + 2, sizeof *lines);
    char *method = strndup((const char *)m, mn), *url = strndup((const char *)u, un);
    const char *err = NULL;
    char ebuf[256];
    for (uint32_t i = 0; lines && i < nh; i++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        if (fn_rd_str(&r, &k, &kn) || fn_rd_str(&r, &v, &vn)) break;
        lines[i] = malloc(kn + vn + 3);
        if (lines[i]) snprintf(lines[i], kn + vn + 3, "%.*s: %.*s", (int)kn, k, (int)vn, v);
    }
    if (fn_rd_str(&r, &b, &bn) || !lines || !method || !url) err = "malformed fetch";
    struct bb_httpc_response out = {0};
    int ok = 0;
    uint64_t now = bb_time_mono_ms();
    if (!err && ++*count > cfg->fetch_max) {
        snprintf(ebuf, sizeof ebuf,
                 "more than %llu fetches in one invocation "
                 "(BUNBASE_FUNCTIONS_FETCH_MAX)",
                 (unsigned long long)cfg->fetch_max);
        err = ebuf;
    } else if (!err && !to_gateway(c, url) && !fn_fetch_allowed(cfg->fetch_allow, url)) {
        snprintf(ebuf, sizeof ebuf, "%.120s is not on BUNBASE_FUNCTIONS_FETCH_ALLOW", url);
        err = ebuf;
    } else if (!err && now + 10 >= deadline) {
        err = "no time left in the invocation";
    } else if (!err) {
        lines[nh] = strdup("Expect:");
        struct bb_httpc_request hr = {
            .method = method,
            .url = url,
            .headers = (const char *const *)lines,
            .body = b,
            .body_len = bn,
            .timeout_ms = (long)(deadline - now),
            .max_response_bytes = (size_t)cfg->max_body_bytes,
            .request_id = c->request_id && *c->request_id ? c->request_id : c->invocation_id,
        };
        int rc = bb_httpc_do(&hr, &out);
        if (rc) {
            snprintf(ebuf, sizeof ebuf, "%s", bb_strerror(rc));
            err = ebuf;
        } else
            ok = 1;
    }
    struct fn_buf f = {0};
    fn_buf_begin(&f, FN_FRAME_FETCH_RESULT);
    fn_buf_u32(&f, id);
    fn_buf_u16(&f, ok ? (uint16_t)out.status : 0);
    fn_buf_u32(&f, ok ? (uint32_t)out.n_headers : 0);
    for (size_t i = 0; ok && i < out.n_headers; i++) {
        fn_buf_str(&f, out.headers[i].name, strlen(out.headers[i].name));
        fn_buf_str(&f, out.headers[i].value, strlen(out.headers[i].value));
    }
    fn_buf_str(&f, ok ? out.body : "", ok ? out.body_len : 0);
    fn_buf_str(&f, err ? err : "", err ? strlen(err) : 0);
    int rc = fn_buf_finish(&f) == 0 && f.len - 4 <= fn_config_max_frame(cfg)
                 ? send_until(fd, f.p, f.len, deadline)
                 : -1;
    fn_buf_release(&f);
    bb_httpc_response_release(&out);
    for (uint32_t i = 0; lines && i <= nh; i++)
        free(lines[i]);
    free(lines), free(method), free(url);
    return rc == 0 ? 0 : -1;
}

void fn_pools_invoke(struct fn_pools *p, struct fn_call *c)
{
    const struct fn_config *cfg = p->cfg;
    c->status = 0;
    struct fn_worker *w = NULL;
    int cold = 0;
    if (acquire(p, c, &w, &cold) != 0) return;
    c->cold = cold;

    struct fn_buf b = {0};
    fn_buf_begin(&b, FN_FRAME_INVOKE);
    fn_buf_u32(&b, (uint32_t)cfg->timeout_ms);
    fn_buf_str(&b, c->invocation_id, strlen(c->invocation_id));
    fn_buf_str(&b, c->method, strlen(c->method));
    fn_buf_str(&b, c->url, strlen(c->url));
    fn_buf_u32(&b, (uint32_t)c->nheaders);
    for (size_t i = 0; i < c->nheaders; i++) {
        fn_buf_str(&b, c->headers[i].name, strlen(c->headers[i].name));
        fn_buf_str(&b, c->headers[i].value, strlen(c->headers[i].value));
    }
    fn_buf_str(&b, c->body, c->body_len);
    const char *ctxs[3] = {c->request_id, c->gateway_url, c->token};
    for (int i = 0; i < 3; i++) /* the context: BunBase.admin() */
        fn_buf_str(&b, ctxs[i] ? ctxs[i] : "", ctxs[i] ? strlen(ctxs[i]) : 0);
    int kill_it = 0;
    unsigned fetches = 0;
    if (fn_buf_finish(&b) != 0 || b.len - 4 > fn_config_max_frame(cfg)) {
        fn_buf_release(&b);
        fail(c, 413, "payload_too_large", "the request is over the function's frame limit");
        release(p, c, w, 0);
        return;
    }
    uint64_t deadline = bb_time_mono_ms() + cfg->timeout_ms + TIMEOUT_GRACE_MS;
    int r = send_until(w->fd, b.p, b.len, deadline);
    fn_buf_release(&b);
    if (r == -1) {
        fail(c, 502, "function_crashed", "the function's worker exited");
        kill_it = 1;
    } else if (r == -2) {
        fail(c, 504, "function_timeout", "the function ran past its time limit");
        kill_it = 1;
    }
    while (!kill_it && !c->status) {
        uint8_t type = 0, *pl = NULL;
        size_t len = 0;
        r = read_frame(w->fd, deadline, fn_config_max_frame(cfg), &type, &pl, &len);
        if (r == -2) {
            fail(c, 504, "function_timeout",
                 "the function ran past its time limit "
                 "(BUNBASE_FUNCTIONS_TIMEOUT_MS)");
            kill_it = 1;
            break;
        }
        if (r == 1 && c->runtime == FN_RUNTIME_BUN && bun_out_of_memory(w)) { /* EOF */
            fail(c, 500, "function_out_of_memory",
                 "the function ran out of memory: the Bun worker reached its address-space bound "
                 "(2 x BUNBASE_FUNCTIONS_MEMORY_MB + BUNBASE_FUNCTIONS_BUN_BASE_MB) and was "
                 "stopped");
            kill_it = 1;
            break;
        }
        if (r != 0) {
            fail(c, 502, "function_crashed",
                 r == -3 ? "the function's worker sent an oversized frame"
                         : "the function's worker exited before answering");
            kill_it = 1;
            break;
        }
        struct fn_rd rd = {pl, len, 0, 0};
        if (type == FN_FRAME_LOG) {
            uint8_t lvl = 1;
            const uint8_t *s;
            size_t n;
            if (fn_rd_u8(&rd, &lvl) == 0 && fn_rd_str(&rd, &s, &n) == 0)
                add_log(c, cfg->max_log_bytes, lvl, s, n);
        } else if (type == FN_FRAME_FETCH) {
            if (proxy_fetch(p, c, w->fd, pl, len, deadline - TIMEOUT_GRACE_MS, &fetches) != 0) {
                fail(c, 502, "function_crashed", "the function's worker stopped reading");
                kill_it = 1;
            }
        } else if (type == FN_FRAME_RESPONSE) {
            if (fn_parse_response(c, pl, len) != 0) {
                fail(c, 502, "function_crashed", "the function's worker sent a malformed answer");
                kill_it = 1;
            }
        } else if (type == FN_FRAME_ERROR) {
            uint8_t kind = 0;
            const uint8_t *s = (const uint8_t *)"";
            size_t n = 0;
            fn_rd_u8(&rd, &kind);
            fn_rd_str(&rd, &s, &n);
            char *m = strndup((const char *)s, n);
            const char *msg = m ? m : "error";
            switch (kind) {
            case FN_ERR_TIMEOUT:
                fail(c, 504, "function_timeout",
                     "the function ran past its time limit "
                     "(BUNBASE_FUNCTIONS_TIMEOUT_MS)");
                kill_it = 1;
                break;
            case FN_ERR_MEMORY:
                fail(c, 500, "function_out_of_memory",
                     "the function ran out of memory (BUNBASE_FUNCTIONS_MEMORY_MB)");
                kill_it = 1;
                break;
            case FN_ERR_TOO_LARGE:
                fail(c, 502, "function_response_too_large", msg);
                break;
            case FN_ERR_BAD_RESPONSE:
                fail(c, 500, "function_bad_response", msg);
                break;
            default:
                fail(c, 500, "function_error", msg);
                add_log(c, cfg->max_log_bytes, 3, (const uint8_t *)msg, strlen(msg));
            }
            free(m);
        } else {
            fail(c, 502, "function_crashed", "the function's worker sent an unknown frame");
            kill_it = 1;
        }
        free(pl);
    }
    if (kill_it) {
        pthread_mutex_lock(&p->mu);
        if (c->status == 504)
            p->timeouts++;
        else if (c->status == 502)
            p->crashed++;
        pthread_mutex_unlock(&p->mu);
    }
    release(p, c, w, kill_it);
}

void fn_pools_retire(struct fn_pools *p, const char *pid, const char *name, int64_t keep_version,
                     int runtime)
{
    pthread_mutex_lock(&p->mu);
    struct fn_fpool *fp = find_pool(p, pid, name, 1); /* remembered even before the first call */
    struct fn_worker *dead = NULL;
    if (fp) {
        fp->version = keep_version;
        fp->runtime = runtime;
        dead = take_stale(fp);
        if (keep_version == 0) fp->used = 0;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    kill_list(p, dead);
}

void fn_pools_restart(struct fn_pools *p, const char *pid, const char *name)
{
    pthread_mutex_lock(&p->mu);
    struct fn_fpool *fp = find_pool(p, pid, name, 0);
    struct fn_worker *dead = NULL;
    if (fp) {
        fp->gen++;
        dead = take_stale(fp);
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    kill_list(p, dead);
}

int fn_pools_active(struct fn_pools *p, const char *pid, const char *name, int64_t *version,
                    int *runtime)
{
    pthread_mutex_lock(&p->mu);
    struct fn_fpool *fp = find_pool(p, pid, name, 0);
    int rc = fp && fp->version > 0 ? 0 : BB_ENOTFOUND;
    if (rc == 0) *version = fp->version, *runtime = fp->runtime;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void fn_pools_reap(struct fn_pools *p)
{
    const struct fn_config *cfg = p->cfg;
    uint64_t now = bb_time_mono_ms();
    struct fn_worker *dead = NULL;
    struct {
        char pid[BB_IDENTITY_MAX_PROJECT_ID], name[FN_NAME_MAX + 1];
        int64_t version;
        int runtime;
    } warm[16];
    size_t nwarm = 0;
    pthread_mutex_lock(&p->mu);
    for (struct fn_fpool *fp = p->pools; fp; fp = fp->next) {
        for (struct fn_worker **pp = &fp->workers; *pp;) {
            struct fn_worker *w = *pp;
            int exited = !w->busy && bb_proc_alive(w->pid, bb_proc_starttime(w->pid, NULL)) == 0;
            int old =
                !w->busy && now - w->last_used_ms > cfg->idle_ms && fp->nworkers > cfg->min_warm;
            if (exited || old) {
                *pp = w->next;
                fp->nworkers--;
                w->next = dead;
                dead = w;

            } else
                pp = &w->next;
        }
        if (fp->used && fp->version > 0 && fp->nworkers < cfg->min_warm && nwarm < 16) {
            snprintf(warm[nwarm].pid, sizeof warm[nwarm].pid, "%s", fp->pid);
            snprintf(warm[nwarm].name, sizeof warm[nwarm].name, "%s", fp->name);
            warm[nwarm].version = fp->version;
            warm[nwarm].runtime = fp->runtime;
            nwarm++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    kill_list(p, dead);
    /* keep min_warm idle workers for functions that have run */
    for (size_t i = 0; i < nwarm; i++) {
        pthread_mutex_lock(&p->mu);
        struct fn_fpool *fp = find_pool(p, warm[i].pid, warm[i].name, 0);
        int go = fp && fp->version == warm[i].version && fp->nworkers < cfg->min_warm;
        unsigned gen = fp ? fp->gen : 0;
        if (go) fp->nworkers++, p->spawned++;
        pthread_mutex_unlock(&p->mu);
        if (!go) continue;
        struct fn_call c = {0};
        struct fn_worker *w = NULL;
        int rc = spawn(p, warm[i].pid, warm[i].name, warm[i].version, warm[i].runtime, &w, &c);
        fn_call_release(&c);
        pthread_mutex_lock(&p->mu);
        fp = find_pool(p, warm[i].pid, warm[i].name, 0);
        if (rc == 0 && fp && fp->version == w->version && fp->gen == gen) {
            w->gen = gen;
            w->last_used_ms = bb_time_mono_ms();
            w->next = fp->workers;
            fp->workers = w;
            w = NULL;
        } else if (fp)
            fp->nworkers--;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (w) worker_kill(p, w);
    }
}

json_t *fn_pools_stats(struct fn_pools *p)
{
    pthread_mutex_lock(&p->mu);
    size_t workers = 0, busy = 0, pools = 0;
    for (struct fn_fpool *fp = p->pools; fp; fp = fp->next) {
        pools++;
        for (struct fn_worker *w = fp->workers; w; w = w->next) {
            workers++;
            busy += (size_t)w->busy;
        }
    }
    json_t *o =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "pools", (json_int_t)pools, "workers",
                  (json_int_t)workers, "busy", (json_int_t)busy, "spawned", (json_int_t)p->spawned,
                  "killed", (json_int_t)p->killed, "crashed", (json_int_t)p->crashed, "timeouts",
                  (json_int_t)p->timeouts, "rejected", (json_int_t)p->rejected);
    pthread_mutex_unlock(&p->mu);
    return o;
}
