/* bb_proc.h — child processes, done once: spawn with a clean environment, an optional user switch,
 * its own session or process group, a parent-death signal, log capture and inherited descriptors;
 * bounded waits, stop with escalation, pid files and restart backoff.
 *
 * Used by the embedded PostgreSQL (bb_pg), bunder-manager's children and the function workers.
 * Never through a shell, never with a PATH search: argv[0] is the absolute path executed.
 *
 * Threads: every function may be called from any thread. A spawned child gets its parent-death
 * signal when the *thread* that spawned it exits (Linux PR_SET_PDEATHSIG semantics), so spawn
 * long-lived children from a thread that lives as long as they should (the main or loop thread);
 * the child arms the signal after fork, so a spawning thread that exits before then goes
 * unnoticed.
 * Waiting: bb_proc_wait polls waitpid(pid) for that pid only (never waitpid(-1): other code owns
 * other children).
 *
 * Errors follow bb_err.h.
 */
#ifndef BB_PROC_H
#define BB_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BB_PROC_MAX_GROUPS 64

/* A system user to run a child as, resolved before fork (only async-signal-safe calls are allowed
 * between fork and exec in a threaded parent). */
struct bb_proc_user {
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[BB_PROC_MAX_GROUPS];
    char name[64];
};

/* Looks up name with getpwnam_r/getgrouplist. BB_ENOTFOUND (no such user), BB_EPERM (the user
 * is uid 0: running a child "as someone else" that is root would drop nothing). */
int bb_proc_user_lookup(const char *name, struct bb_proc_user *out);
/* In a forked child only: setgroups/setgid/setuid to u and check it stuck. Async-signal-safe.
 * 0 or -1. (For probes that fork without exec; bb_proc_spawn does this itself.) */
int bb_proc_user_become(const struct bb_proc_user *u);

enum bb_proc_flags {
    BB_PROC_NEW_SESSION = 1 << 0, /* setsid(): a terminal's ^C reaches us, not the child */
    BB_PROC_NEW_PGROUP = 1 << 1,  /* setpgid(0, 0): kill(-pid, sig) reaches its whole group */
};

struct bb_proc_spec {
    char *const *argv;               /* argv[0]: absolute path of the executable; borrowed */
    char *const *envp;               /* the whole environment; NULL: PATH and LC_ALL=C only */
    const struct bb_proc_user *user; /* run as this user; NULL: as we are */
    const char *log_path;            /* stdout+stderr appended here (created 0600 as the child's
                                        user, never following a symlink); NULL: /dev/null */
    int stdout_fd;                   /* >= 0: becomes the child's stdout instead of the log */
    const int *pass_fds;             /* become the child's fds 3, 4, … (in order); all other
                                        descriptors are closed in the child */
    int npass;
    int pdeath_signal; /* > 0: the child gets it when the spawning thread dies */
    unsigned flags;    /* enum bb_proc_flags */
};

/* Forks and execs. 0 with *pid_out; BB_EINVAL (no argv / relative path / too many fds), BB_EIO
 * (fork failed). A child that cannot switch user exits 126 and one whose exec fails 127, each
 * after writing one line to its log. stdin is /dev/null; signal mask and dispositions are reset. */
int bb_proc_spawn(const struct bb_proc_spec *spec, pid_t *pid_out);

/* Waits up to timeout_ms for pid to exit: 0 with *status (may be NULL), BB_ETIMEDOUT, or BB_EIO
 * (not our child, e.g. already reaped). */
int bb_proc_wait(pid_t pid, uint64_t timeout_ms, int *status);

/* Sends sig and waits up to timeout_ms; then SIGKILL (to the process group too when
 * group is set) and waits for it. 0 when it exited after sig, BB_ETIMEDOUT when SIGKILL was
 * needed, BB_EIO when pid is not our child. */
int bb_proc_stop(pid_t pid, int sig, uint64_t timeout_ms, int group);

/* Runs spec to completion, at most timeout_ms (then SIGTERM, 2 s, SIGKILL: BB_ETIMEDOUT).
 * With out != NULL the child's stdout is captured into out (NUL-terminated, at most outcap-1
 * bytes; the rest is read and dropped so the child never blocks). *exit_code (may be NULL) gets
 * the exit status or -1. 0 when it exited 0, BB_EIO otherwise. spec->stdout_fd is ignored. */
int bb_proc_run(const struct bb_proc_spec *spec, uint64_t timeout_ms, char *out, size_t outcap,
                int *exit_code);

/* A process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or 0 when there is
 * no such process; *state (may be NULL) gets its state letter ('Z' for a zombie). A pid and its
 * start time name one process: a pid reused later has another start time. */
uint64_t bb_proc_starttime(pid_t pid, char *state);
/* 1 while the process pid started at start is alive (and not a zombie), else 0. */
int bb_proc_alive(pid_t pid, uint64_t start);

/* Pid files: "<pid> <start time>\n", written atomically (mode 0600). read: *start (may be NULL)
 * gets the start time (0 in a file without one); BB_ENOTFOUND, BB_EINVAL (not a pid), BB_EIO. */
int bb_proc_pidfile_write(const char *path, pid_t pid);
int bb_proc_pidfile_read(const char *path, pid_t *pid, uint64_t *start);

/* Restart backoff: base_ms, doubling per attempt, capped at max_ms. */
struct bb_proc_backoff {
    uint64_t base_ms;
    uint64_t max_ms;
    unsigned attempts;
};
/* The delay before the next attempt (and counts it). */
uint64_t bb_proc_backoff_next(struct bb_proc_backoff *b);
/* After a child has run well: the next failure starts from base_ms again. */
void bb_proc_backoff_reset(struct bb_proc_backoff *b);

/* A supervised child, driven by its owner's loop and never blocking: spawn (with an optional pid
 * file), poll to reap it (waitpid on its pid, WNOHANG) and to escalate a stop, stop to begin an
 * orderly stop (sig now, SIGKILL after the grace), restart_delay for the backoff after an
 * unexpected exit. Zero-initialise it; the owner serialises calls on one child (its lock or its
 * loop). */
struct bb_proc_child {
    pid_t pid;           /* > 0 while running or stopping */
    int group;           /* signals also reach its process group (BB_PROC_NEW_PGROUP) */
    char pidfile[1024];  /* written at spawn, removed when it has exited; "": none */
    uint64_t started_ms; /* monotonic time of the last spawn */
    uint64_t kill_at_ms; /* stopping: when SIGKILL follows; 0: not stopping */
    uint64_t stable_ms;  /* up this long before exiting: the next restart starts from base_ms */
    struct bb_proc_backoff backoff;
};

/* Spawns spec (group when spec->flags has BB_PROC_NEW_PGROUP or BB_PROC_NEW_SESSION) and writes
 * the pid file. BB_EBUSY when c still has a process; bb_proc_spawn's errors. */
int bb_proc_child_spawn(struct bb_proc_child *c, const struct bb_proc_spec *spec);
/* Reaps c if it has exited: 1 with *status (may be NULL; 0 when someone else reaped it), its pid
 * file removed and c->pid 0. 0 while it runs (or when there is none); a stop whose grace has
 * passed gets SIGKILL here (to the group too), and the next SIGKILL a second later. */
int bb_proc_child_poll(struct bb_proc_child *c, int *status);
/* Begins a stop: sig now (SIGKILL: at once), SIGKILL after grace_ms (poll sends it). A stop in
 * progress keeps its earlier deadline. No-op without a process. */
void bb_proc_child_stop(struct bb_proc_child *c, int sig, uint64_t grace_ms);
/* After an unexpected exit: the delay before the restart (bb_proc_backoff_next; reset first when
 * the child had run stable_ms). c->backoff.attempts counts the consecutive failures. */
uint64_t bb_proc_child_restart_delay(struct bb_proc_child *c);

/* A leftover from a previous run recorded in a pid file: when the process it names is still alive
 * with the same start time, SIGTERM, then SIGKILL after grace_ms (blocking, at start-up). The pid
 * file is removed. 1 when something was killed, 0 when not, BB_ENOTFOUND without a pid file. */
int bb_proc_pidfile_kill(const char *path, uint64_t grace_ms);

#endif
