/* bb_proc.c — see bb_proc.h.
 *
 * Between fork and execve the child runs only async-signal-safe calls (the parent has threads):
 * everything it needs — argv, envp, the user's ids and groups, paths — is prepared before fork.
 */
#include "bb_proc.h"

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_time.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PASS_FDS 16

int bb_proc_user_lookup(const char *name, struct bb_proc_user *out)
{
    if (!name || !out || strlen(name) >= sizeof out->name) return BB_EINVAL;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res) return BB_ENOTFOUND;
    if (pw.pw_uid == 0) return BB_EPERM;
    memset(out, 0, sizeof *out);
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    snprintf(out->name, sizeof out->name, "%s", name);
    int ng = BB_PROC_MAX_GROUPS;
    if (getgrouplist(name, pw.pw_gid, out->groups, &ng) < 0) {
        ng = 1;
        out->groups[0] = pw.pw_gid;
    }
    out->ngroups = ng;
    return 0;
}

int bb_proc_user_become(const struct bb_proc_user *u)
{
    if (!u) return 0;
    if (setgroups((size_t)u->ngroups, u->groups) != 0) return -1;
    if (setgid(u->gid) != 0) return -1;
    if (setuid(u->uid) != 0) return -1;
    if (getuid() != u->uid || geteuid() != u->uid) return -1;
    return 0;
}

static void child_say(int fd, const char *a, const char *b)
{
    ssize_t r = write(fd, a, strlen(a));
    if (b) r = write(fd, b, strlen(b));
    r = write(fd, "\n", 1);
    (void)r;
}

static void close_from(int first)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0U) == 0) return;
#endif
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
    for (int fd = first; fd < maxfd; fd++)
        close(fd);
}

/* The child after fork. Never returns. */
static void child_main(const struct bb_proc_spec *s, char *const *envp, pid_t parent)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
    if (s->flags & BB_PROC_NEW_SESSION) setsid();
    else if (s->flags & BB_PROC_NEW_PGROUP) setpgid(0, 0);

    /* an error sink until we are the child's user (O_NOFOLLOW: the log may live in a directory
     * that user owns while we are still root) */
    int logfd = open(s->log_path ? s->log_path : "/dev/null",
                     O_WRONLY | O_APPEND | O_CLOEXEC | (s->log_path ? O_NOFOLLOW : 0));
    if (s->user && bb_proc_user_become(s->user) != 0) {
        if (logfd >= 0) child_say(logfd, "bb_proc: cannot switch to user ", s->user->name);
        _exit(126);
    }
    if (s->log_path) { /* reopen as the child's user so a new log file gets its owner */
        if (logfd >= 0) close(logfd);
        logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (logfd < 0) logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (s->pdeath_signal > 0) {
        /* after the user switch: a credential change clears the parent-death signal */
        prctl(PR_SET_PDEATHSIG, s->pdeath_signal);
        if (getppid() != parent) _exit(1);
    }
    /* passed descriptors: first out of the way (above every target), then onto 3, 4, … */
    int tmp[MAX_PASS_FDS];
    for (int i = 0; i < s->npass; i++) {
        tmp[i] = fcntl(s->pass_fds[i], F_DUPFD_CLOEXEC, 3 + s->npass);
        if (tmp[i] < 0) _exit(127);
    }
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in >= 0) dup2(in, 0);
    if (logfd >= 0) {
        dup2(s->stdout_fd >= 0 ? s->stdout_fd : logfd, 1);
        dup2(logfd, 2);
    }
    for (int i = 0; i < s->npass; i++)
        if (dup2(tmp[i], 3 + i) != 3 + i) _exit(127); /* dup2 clears FD_CLOEXEC on the copy */
    close_from(3 + s->npass);
    execve(s->argv[0], s->argv, envp);
    child_say(2, "bb_proc: exec failed: ", s->argv[0]);
    _exit(127);
}

int bb_proc_spawn(const struct bb_proc_spec *s, pid_t *pid_out)
{
    static char *const default_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", NULL};
    if (!s || !s->argv || !s->argv[0] || s->argv[0][0] != '/' || !pid_out) return BB_EINVAL;
    if (s->npass < 0 || s->npass > MAX_PASS_FDS || (s->npass && !s->pass_fds)) return BB_EINVAL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return BB_EIO;
    if (pid == 0) child_main(s, s->envp ? s->envp : default_env, parent);
    *pid_out = pid;
    return 0;
}

int bb_proc_wait(pid_t pid, uint64_t timeout_ms, int *status)
{
    uint64_t deadline = bb_time_mono_ms() + timeout_ms;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status) *status = st;
            return 0;
        }
        if (r < 0 && errno != EINTR) return BB_EIO;
        if (bb_time_mono_ms() >= deadline) return BB_ETIMEDOUT;
        bb_time_sleep_ms(5);
    }
}

int bb_proc_stop(pid_t pid, int sig, uint64_t timeout_ms, int group)
{
    if (pid <= 1) return BB_EINVAL;
    if (kill(pid, sig) != 0 && errno == ESRCH) return bb_proc_wait(pid, 0, NULL);
    int rc = bb_proc_wait(pid, timeout_ms, NULL);
    if (rc != BB_ETIMEDOUT) return rc;
    if (group) kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    rc = bb_proc_wait(pid, 10000, NULL);
    return rc == 0 ? BB_ETIMEDOUT : rc;
}

int bb_proc_run(const struct bb_proc_spec *spec, uint64_t timeout_ms, char *out, size_t outcap,
                int *exit_code)
{
    if (exit_code) *exit_code = -1;
    if (!spec || (out && outcap == 0)) return BB_EINVAL;
    struct bb_proc_spec s = *spec;
    int fds[2] = {-1, -1};
    s.stdout_fd = -1;
    if (out) {
        if (pipe2(fds, O_CLOEXEC) != 0) return BB_EIO;
        s.stdout_fd = fds[1];
    }
    pid_t pid;
    int rc = bb_proc_spawn(&s, &pid);
    if (fds[1] >= 0) close(fds[1]);
    if (rc != 0) {
        if (fds[0] >= 0) close(fds[0]);
        return rc;
    }
    uint64_t deadline = bb_time_mono_ms() + timeout_ms;
    size_t o = 0;
    int timed_out = 0;
    if (out) {
        char sink[512];
        for (;;) {
            uint64_t now = bb_time_mono_ms();
            if (now >= deadline) {
                timed_out = 1;
                break;
            }
            struct pollfd pf = {.fd = fds[0], .events = POLLIN};
            int pr = poll(&pf, 1, (int)(deadline - now > 1000 ? 1000 : deadline - now));
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) continue;
            char *dst = o < outcap - 1 ? out + o : sink;
            size_t room = o < outcap - 1 ? outcap - 1 - o : sizeof sink;
            ssize_t n = read(fds[0], dst, room);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            if (dst != sink) o += (size_t)n;
        }
        close(fds[0]);
        out[o] = '\0';
    }
    int st = 0;
    uint64_t now = bb_time_mono_ms();
    rc = timed_out ? BB_ETIMEDOUT : bb_proc_wait(pid, deadline > now ? deadline - now : 0, &st);
    if (rc == BB_ETIMEDOUT) {
        bb_proc_stop(pid, SIGTERM, 2000, 0);
        return BB_ETIMEDOUT;
    }
    if (rc != 0) return rc;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (exit_code) *exit_code = code;
    return code == 0 ? 0 : BB_EIO;
}

uint64_t bb_proc_starttime(pid_t pid, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ') return 0;
    p += 2;
    if (state) *state = *p;
    /* fields after ')' start at 3 (state); starttime is field 22 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

int bb_proc_alive(pid_t pid, uint64_t start)
{
    char st = 0;
    uint64_t now = pid > 0 ? bb_proc_starttime(pid, &st) : 0;
    return now != 0 && now == start && st != 'Z';
}

int bb_proc_pidfile_write(const char *path, pid_t pid)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%d %llu\n", (int)pid,
                     (unsigned long long)bb_proc_starttime(pid, NULL));
    return bb_fs_write_atomic(path, buf, (size_t)n, 0600);
}

int bb_proc_pidfile_read(const char *path, pid_t *pid, uint64_t *start)
{
    char buf[64];
    int rc = bb_fs_read_small(path, buf, sizeof buf, NULL);
    if (rc != 0) return rc == BB_ETOOBIG ? BB_EINVAL : rc;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (end == buf || errno || v <= 1 || v > INT_MAX || (*end && *end != ' ')) return BB_EINVAL;
    unsigned long long st = 0;
    if (*end == ' ') {
        char *e2;
        st = strtoull(end + 1, &e2, 10);
        if (e2 == end + 1 || *e2) return BB_EINVAL;
    }
    *pid = (pid_t)v;
    if (start) *start = st;
    return 0;
}

uint64_t bb_proc_backoff_next(struct bb_proc_backoff *b)
{
    uint64_t d = b->base_ms ? b->base_ms : 1;
    for (unsigned i = 0; i < b->attempts && d < b->max_ms; i++)
        d *= 2;
    if (b->max_ms && d > b->max_ms) d = b->max_ms;
    b->attempts++;
    return d;
}

void bb_proc_backoff_reset(struct bb_proc_backoff *b)
{
    b->attempts = 0;
}

/* ------------------------------------------------------------------ supervised children */

int bb_proc_child_spawn(struct bb_proc_child *c, const struct bb_proc_spec *spec)
{
    if (!c || !spec) return BB_EINVAL;
    if (c->pid > 0) return BB_EBUSY;
    pid_t pid;
    int rc = bb_proc_spawn(spec, &pid);
    if (rc != 0) return rc;
    c->pid = pid;
    c->group = (spec->flags & (BB_PROC_NEW_PGROUP | BB_PROC_NEW_SESSION)) != 0;
    c->started_ms = bb_time_mono_ms();
    c->kill_at_ms = 0;
    /* the start time is read now, while the child cannot have been reaped yet */
    if (c->pidfile[0] && bb_proc_pidfile_write(c->pidfile, pid) != 0)
        child_say(2, "bb_proc: cannot write the pid file ", c->pidfile);
    return 0;
}

static void child_kill(struct bb_proc_child *c, int sig)
{
    if (c->group) kill(-c->pid, sig);
    kill(c->pid, sig);
}

int bb_proc_child_poll(struct bb_proc_child *c, int *status)
{
    if (!c || c->pid <= 0) return 0;
    int st = 0;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid || (r < 0 && errno == ECHILD)) {
        if (status) *status = r == c->pid ? st : 0;
        c->pid = 0;
        c->kill_at_ms = 0;
        if (c->pidfile[0]) unlink(c->pidfile);
        return 1;
    }
    uint64_t now = bb_time_mono_ms();
    if (c->kill_at_ms && now >= c->kill_at_ms) {
        child_kill(c, SIGKILL);
        c->kill_at_ms = now + 1000;
    }
    return 0;
}

void bb_proc_child_stop(struct bb_proc_child *c, int sig, uint64_t grace_ms)
{
    if (!c || c->pid <= 0) return;
    uint64_t at = bb_time_mono_ms() + (sig == SIGKILL ? 1000 : grace_ms);
    if (!c->kill_at_ms || at < c->kill_at_ms) c->kill_at_ms = at;
    kill(c->pid, sig);
    if (sig == SIGKILL && c->group) kill(-c->pid, SIGKILL);
}

uint64_t bb_proc_child_restart_delay(struct bb_proc_child *c)
{
    if (c->stable_ms && bb_time_mono_ms() - c->started_ms >= c->stable_ms)
        bb_proc_backoff_reset(&c->backoff);
    return bb_proc_backoff_next(&c->backoff);
}

int bb_proc_pidfile_kill(const char *path, uint64_t grace_ms)
{
    pid_t pid = 0;
    uint64_t start = 0;
    int rc = bb_proc_pidfile_read(path, &pid, &start);
    if (rc == BB_ENOTFOUND) return rc;
    int killed = 0;
    /* without a start time the pid may name anyone by now: never signalled */
    if (rc == 0 && start != 0 && pid != getpid() && bb_proc_alive(pid, start)) {
        kill(pid, SIGTERM);
        uint64_t deadline = bb_time_mono_ms() + grace_ms;
        while (bb_proc_alive(pid, start) && bb_time_mono_ms() < deadline) {
            waitpid(pid, NULL, WNOHANG); /* when it was our own child (tests) */
            bb_time_sleep_ms(10);
        }
        if (bb_proc_alive(pid, start)) kill(pid, SIGKILL);
        for (int i = 0; i < 100 && bb_proc_alive(pid, start); i++) {
            waitpid(pid, NULL, WNOHANG);
            bb_time_sleep_ms(10);
        }
        waitpid(pid, NULL, WNOHANG);
        killed = 1;
    }
    unlink(path);
    return killed;
}
