/* bb_proc: clean environment, passed descriptors, log capture, bounded runs, stop with escalation,
 * user switch, parent-death signal, pid files, backoff. Children are /bin/sh scripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "bb_proc.h"
#include "bb_time.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/bb_proc_test.XXXXXX");
    if (!mkdtemp(root)) return -1;
    chmod(root, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_fs_remove_tree(root);
}

static void test_run_env_and_capture(void **state)
{
    (void)state;
    char out[256];
    int code = 0;
    setenv("BB_PROC_TEST_SECRET", "leak", 1);
    char *argv[] = {"/bin/sh", "-c", "echo \"[$BB_PROC_TEST_SECRET][$FOO]\"; exit 0", NULL};
    char *env[] = {"FOO=bar", NULL};
    struct bb_proc_spec s = {.argv = argv, .envp = env, .stdout_fd = -1};
    assert_int_equal(bb_proc_run(&s, 10000, out, sizeof out, &code), 0);
    assert_int_equal(code, 0);
    assert_string_equal(out, "[][bar]\n"); /* the parent's environment is not inherited */
    /* the default environment is PATH and LC_ALL only */
    char *argv2[] = {"/bin/sh", "-c", "env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort", NULL};
    s.argv = argv2;
    s.envp = NULL;
    assert_int_equal(bb_proc_run(&s, 10000, out, sizeof out, &code), 0);
    assert_string_equal(out, "LC_ALL=C\nPATH=/usr/local/bin:/usr/bin:/bin\n");
    /* a non-zero exit is BB_EIO with the code; output beyond the buffer is dropped, not blocking */
    char *argv3[] = {"/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; exit 3", NULL};
    s.argv = argv3;
    char small[16];
    assert_int_equal(bb_proc_run(&s, 10000, small, sizeof small, &code), BB_EIO);
    assert_int_equal(code, 3);
    assert_string_equal(small, "xxxxxxxxxxxxxxx");
    /* relative paths are refused: no PATH search */
    char *argv4[] = {"sh", "-c", "true", NULL};
    s.argv = argv4;
    assert_int_equal(bb_proc_run(&s, 1000, NULL, 0, &code), BB_EINVAL);
    /* a missing executable exits 127 */
    char *argv5[] = {"/nonexistent/bin", NULL};
    s.argv = argv5;
    assert_int_equal(bb_proc_run(&s, 10000, NULL, 0, &code), BB_EIO);
    assert_int_equal(code, 127);
}

static void test_run_timeout_kills(void **state)
{
    (void)state;
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; echo started; sleep 30", NULL};
    struct bb_proc_spec s = {.argv = argv, .stdout_fd = -1};
    char out[64];
    uint64_t t0 = bb_time_mono_ms();
    assert_int_equal(bb_proc_run(&s, 300, out, sizeof out, NULL), BB_ETIMEDOUT);
    assert_true(bb_time_mono_ms() - t0 < 10000);
    assert_string_equal(out, "started\n");
}

static void test_pass_fds_and_log(void **state)
{
    (void)state;
    char log[128];
    snprintf(log, sizeof log, "%s/child.log", root);
    int p1[2], p2[2];
    assert_int_equal(pipe2(p1, O_CLOEXEC), 0);
    assert_int_equal(pipe2(p2, O_CLOEXEC), 0);
    /* pass the write ends in swapped order: fd 3 = p2[1], fd 4 = p1[1]; nothing else survives */
    int pass[2] = {p2[1], p1[1]};
    char *argv[] = {"/bin/sh", "-c",
                    "echo three >&3; echo four >&4; echo to-log; echo err-log >&2; "
                    "ls /proc/self/fd | sort -n | tr '\\n' ' ' >&3",
                    NULL};
    struct bb_proc_spec s = {
        .argv = argv, .log_path = log, .stdout_fd = -1, .pass_fds = pass, .npass = 2};
    pid_t pid;
    assert_int_equal(bb_proc_spawn(&s, &pid), 0);
    close(p1[1]);
    close(p2[1]);
    int st;
    assert_int_equal(bb_proc_wait(pid, 10000, &st), 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char a[128] = "", b[128] = "";
    ssize_t n = read(p2[0], a, sizeof a - 1);
    assert_true(n > 0);
    n = read(p1[0], b, sizeof b - 1);
    assert_true(n > 0);
    /* fd 3 got "three" and the fd list: 0 1 2 3 4 and the one ls opened */
    assert_non_null(strstr(a, "three\n0 1 2 3 4 "));
    assert_null(strstr(a, " 5 6"));
    assert_string_equal(b, "four\n");
    close(p1[0]);
    close(p2[0]);
    char logged[128];
    assert_int_equal(bb_fs_read_small(log, logged, sizeof logged, NULL), 0);
    assert_string_equal(logged, "to-log\nerr-log");
    struct stat lst;
    assert_int_equal(stat(log, &lst), 0);
    assert_int_equal(lst.st_mode & 0777, 0600);
}

static void test_stop_escalates(void **state)
{
    (void)state;
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL};
    struct bb_proc_spec s = {.argv = argv, .stdout_fd = -1, .flags = BB_PROC_NEW_PGROUP};
    pid_t pid;
    assert_int_equal(bb_proc_spawn(&s, &pid), 0);
    bb_time_sleep_ms(100);
    assert_int_equal(getpgid(pid), pid); /* its own process group */
    assert_int_equal(bb_proc_stop(pid, SIGTERM, 200, 1), BB_ETIMEDOUT);
    assert_int_equal(kill(pid, 0), -1);
    /* a child that honours SIGTERM stops cleanly */
    char *argv2[] = {"/bin/sleep", "30", NULL};
    s.argv = argv2;
    assert_int_equal(bb_proc_spawn(&s, &pid), 0);
    assert_int_equal(bb_proc_stop(pid, SIGTERM, 5000, 1), 0);
    assert_int_equal(bb_proc_wait(pid, 0, NULL), BB_EIO); /* reaped */
}

static void test_user_switch(void **state)
{
    (void)state;
    struct bb_proc_user u;
    assert_int_equal(bb_proc_user_lookup("root", &u), BB_EPERM);
    assert_int_equal(bb_proc_user_lookup("no-such-user-bb", &u), BB_ENOTFOUND);
    if (geteuid() != 0 || bb_proc_user_lookup("nobody", &u) != 0) {
        skip();
    }
    char *argv[] = {"/bin/sh", "-c", "id -u; id -G", NULL};
    struct bb_proc_spec s = {.argv = argv, .user = &u, .stdout_fd = -1};
    char out[128], want[128];
    assert_int_equal(bb_proc_run(&s, 10000, out, sizeof out, NULL), 0);
    snprintf(want, sizeof want, "%u\n", (unsigned)u.uid);
    assert_int_equal(strncmp(out, want, strlen(want)), 0);
    assert_null(strstr(out + strlen(want), "\n0")); /* root's group is gone */
}

struct pdeath_arg {
    pid_t pid;
};

static void *spawn_and_exit(void *p)
{
    struct pdeath_arg *a = p;
    char *argv[] = {"/bin/sleep", "30", NULL};
    struct bb_proc_spec s = {.argv = argv, .stdout_fd = -1, .pdeath_signal = SIGTERM};
    if (bb_proc_spawn(&s, &a->pid) != 0) a->pid = -1;
    /* the child arms the signal after fork; a thread that dies before that is not noticed (the
     * child cannot tell a sibling thread from its parent), so live until it has exec'd */
    bb_time_sleep_ms(300);
    return NULL;
}

static void test_parent_death_signal(void **state)
{
    (void)state;
    struct pdeath_arg a = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spawn_and_exit, &a), 0);
    pthread_join(t, NULL); /* the spawning thread is gone: the child gets SIGTERM */
    assert_true(a.pid > 0);
    int st = 0;
    assert_int_equal(bb_proc_wait(a.pid, 10000, &st), 0);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

static void test_pidfile_and_backoff(void **state)
{
    (void)state;
    char path[128];
    pid_t pid = 0;
    snprintf(path, sizeof path, "%s/x.pid", root);
    uint64_t start = 0;
    assert_int_equal(bb_proc_pidfile_read(path, &pid, &start), BB_ENOTFOUND);
    /* our own pid: its start time is recorded, and names a live process */
    assert_int_equal(bb_proc_pidfile_write(path, getpid()), 0);
    assert_int_equal(bb_proc_pidfile_read(path, &pid, &start), 0);
    assert_int_equal(pid, getpid());
    assert_true(start > 0);
    assert_int_equal(start, bb_proc_starttime(getpid(), NULL));
    assert_true(bb_proc_alive(pid, start));
    assert_false(bb_proc_alive(pid, start + 1)); /* a reused pid has another start time */
    /* a child that exited (and was reaped) is not alive */
    char *argv[] = {"/bin/true", NULL};
    struct bb_proc_spec s = {.argv = argv, .stdout_fd = -1};
    pid_t c;
    assert_int_equal(bb_proc_spawn(&s, &c), 0);
    uint64_t cst = bb_proc_starttime(c, NULL);
    assert_int_equal(bb_proc_wait(c, 10000, NULL), 0);
    assert_false(bb_proc_alive(c, cst));
    /* old files without a start time, and malformed ones */
    assert_int_equal(bb_fs_write_atomic(path, "4242\n", 5, 0600), 0);
    assert_int_equal(bb_proc_pidfile_read(path, &pid, &start), 0);
    assert_int_equal(pid, 4242);
    assert_int_equal(start, 0);
    assert_int_equal(bb_fs_write_atomic(path, "12x\n", 4, 0600), 0);
    assert_int_equal(bb_proc_pidfile_read(path, &pid, NULL), BB_EINVAL);
    assert_int_equal(bb_fs_write_atomic(path, "12 9x\n", 6, 0600), 0);
    assert_int_equal(bb_proc_pidfile_read(path, &pid, NULL), BB_EINVAL);
    assert_int_equal(bb_fs_write_atomic(path, "1\n", 2, 0600), 0);
    assert_int_equal(bb_proc_pidfile_read(path, &pid, NULL), BB_EINVAL); /* never init */

    struct bb_proc_backoff b = {.base_ms = 100, .max_ms = 1000};
    assert_int_equal(bb_proc_backoff_next(&b), 100);
    assert_int_equal(bb_proc_backoff_next(&b), 200);
    assert_int_equal(bb_proc_backoff_next(&b), 400);
    assert_int_equal(bb_proc_backoff_next(&b), 800);
    assert_int_equal(bb_proc_backoff_next(&b), 1000);
    assert_int_equal(bb_proc_backoff_next(&b), 1000);
    bb_proc_backoff_reset(&b);
    assert_int_equal(bb_proc_backoff_next(&b), 100);
}

/* the supervised child: spawn writes the pid file, poll reaps without blocking and removes it, a
 * stop escalates to SIGKILL after its grace from poll, the restart backoff doubles and resets
 * after a stable run; a leftover named by a pid file is killed, a stale pid file only removed */
static void test_supervised_child(void **state)
{
    (void)state;
    struct bb_proc_child c;
    memset(&c, 0, sizeof c);
    c.backoff.base_ms = 100;
    c.backoff.max_ms = 1000;
    c.stable_ms = 60000;
    snprintf(c.pidfile, sizeof c.pidfile, "%s/child.pid", root);
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL};
    struct bb_proc_spec s = {.argv = argv, .stdout_fd = -1, .flags = BB_PROC_NEW_PGROUP};
    assert_int_equal(bb_proc_child_spawn(&c, &s), 0);
    assert_int_equal(bb_proc_child_spawn(&c, &s), BB_EBUSY); /* one process per child */
    pid_t pid = c.pid, fpid = 0;
    assert_int_equal(bb_proc_pidfile_read(c.pidfile, &fpid, NULL), 0);
    assert_int_equal(fpid, pid);
    int st = -1;
    assert_int_equal(bb_proc_child_poll(&c, &st), 0); /* running: returns at once */
    bb_time_sleep_ms(100);
    bb_proc_child_stop(&c, SIGTERM, 200); /* ignored by the child: SIGKILL from poll */
    uint64_t t0 = bb_time_mono_ms();
    while (bb_proc_child_poll(&c, &st) == 0 && bb_time_mono_ms() - t0 < 10000)
        bb_time_sleep_ms(10);
    assert_int_equal(c.pid, 0);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(bb_proc_pidfile_read(c.pidfile, &fpid, NULL), BB_ENOTFOUND);
    assert_int_equal(kill(pid, 0), -1);
    /* a crash: backoff doubles per consecutive failure */
    assert_int_equal(bb_proc_child_restart_delay(&c), 100);
    assert_int_equal(bb_proc_child_restart_delay(&c), 200);
    assert_int_equal(c.backoff.attempts, 2);
    c.started_ms -= 60000; /* as if it had run stable_ms: from base again */
    assert_int_equal(bb_proc_child_restart_delay(&c), 100);
    /* a child that exits by itself is reaped with its status */
    char *argv2[] = {"/bin/sh", "-c", "exit 3", NULL};
    s.argv = argv2;
    assert_int_equal(bb_proc_child_spawn(&c, &s), 0);
    t0 = bb_time_mono_ms();
    while (bb_proc_child_poll(&c, &st) == 0 && bb_time_mono_ms() - t0 < 10000)
        bb_time_sleep_ms(10);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);

    /* leftovers: a live process named with its start time is killed; one whose start time does
     * not match (a reused pid) is left alone */
    char path[128];
    snprintf(path, sizeof path, "%s/left.pid", root);
    assert_int_equal(bb_proc_pidfile_kill(path, 100), BB_ENOTFOUND);
    char *argv3[] = {"/bin/sleep", "30", NULL};
    s.argv = argv3;
    pid_t left;
    assert_int_equal(bb_proc_spawn(&s, &left), 0);
    bb_time_sleep_ms(50);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%d %llu\n", (int)left,
                     (unsigned long long)bb_proc_starttime(left, NULL) + 1);
    assert_int_equal(bb_fs_write_atomic(path, buf, (size_t)n, 0600), 0);
    assert_int_equal(bb_proc_pidfile_kill(path, 100), 0);
    assert_int_equal(kill(left, 0), 0);
    assert_int_equal(bb_proc_pidfile_write(path, left), 0);
    assert_int_equal(bb_proc_pidfile_kill(path, 2000), 1);
    assert_int_equal(bb_proc_wait(left, 0, NULL), BB_EIO); /* gone (reaped while waiting) */
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_env_and_capture), cmocka_unit_test(test_run_timeout_kills),
        cmocka_unit_test(test_pass_fds_and_log),    cmocka_unit_test(test_stop_escalates),
        cmocka_unit_test(test_user_switch),         cmocka_unit_test(test_parent_death_signal),
        cmocka_unit_test(test_pidfile_and_backoff), cmocka_unit_test(test_supervised_child),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
