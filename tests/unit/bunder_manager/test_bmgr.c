/* Unit tests of bunder-manager's small parts: project ids, percent-decoding, base64, the pre-AUTH
 * RESP parser (bounds and malformed input), the keys-file verifier (reload on change) and the
 * pid-file orphan cleanup (kills a leftover whose start time matches, never a reused pid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_crypto.h"
#include "bmgr_internal.h"
#include "bb_resp.h"

/* (project ids and base64 are core's: tests/unit/core/test_id.c, test_crypto.c) */

static void test_pct_decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(bb_pct_decode("a%2Fb%20c", 9, out, sizeof out, 0), 5);
    assert_memory_equal(out, "a/b c", 5);
    assert_int_equal(bb_pct_decode("%00%ff+", 7, out, sizeof out, 0), 3);
    assert_int_equal((unsigned char)out[0], 0);
    assert_int_equal((unsigned char)out[1], 255);
    assert_int_equal(out[2], '+'); /* '+' is not a space in paths */
    assert_int_equal(bb_pct_decode("%", 1, out, sizeof out, 0), BB_EINVAL);
    assert_int_equal(bb_pct_decode("%4", 2, out, sizeof out, 0), BB_EINVAL);
    assert_int_equal(bb_pct_decode("%zz", 3, out, sizeof out, 0), BB_EINVAL);
    assert_int_equal(bb_pct_decode("0123456789abcdefg", 17, out, sizeof out, 0), BB_ETOOBIG);
}

/* the pre-AUTH bounds on core's RESP parser (the parser itself: tests/unit/core/test_resp.c) */
static void test_resp_parse(void **state)
{
    (void)state;
    struct bb_resp_parser P;
    bb_resp_parser_init(&P, NULL, NULL);
    const char *argv[BMGR_PREAUTH_ARGS];
    size_t lens[BMGR_PREAUTH_ARGS], argc, used;
    const char *cmd = "*3\r\n$4\r\nAUTH\r\n$2\r\np1\r\n$3\r\nk y\r\n*1\r\n$4\r\nPING\r\n";
    size_t len = strlen(cmd);
    assert_int_equal(bmgr_resp_parse(&P, cmd, len, &used, argv, lens, &argc, NULL), 1);
    assert_int_equal(argc, 3);
    assert_memory_equal(argv[2], "k y", 3);
    assert_int_equal(used, 31);
    /* every strict prefix of the first command is incomplete */
    for (size_t i = 0; i < 31; i++)
        assert_int_equal(bmgr_resp_parse(&P, cmd, i, &used, argv, lens, &argc, NULL), 0);
    assert_int_equal(bmgr_resp_parse(&P, cmd + 31, len - 31, &used, argv, lens, &argc, NULL), 1);
    assert_int_equal(argc, 1);
    /* inline, with and without CR, extra spaces */
    assert_int_equal(bmgr_resp_parse(&P, "  AUTH  p1 key\r\nX", 17, &used, argv, lens, &argc, NULL), 1);
    assert_int_equal(argc, 3);
    assert_int_equal(used, 16);
    assert_memory_equal(argv[1], "p1", 2);
    assert_int_equal(bmgr_resp_parse(&P, "PING\n", 5, &used, argv, lens, &argc, NULL), 1);
    assert_int_equal(argc, 1);
    assert_int_equal(bmgr_resp_parse(&P, "\r\n", 2, &used, argv, lens, &argc, NULL), 1);
    assert_int_equal(argc, 0);
    /* malformed */
    assert_int_equal(bmgr_resp_parse(&P, "*1\r\n+PING\r\n", 11, &used, argv, lens, &argc, NULL), BB_EPROTO);
    assert_int_equal(bmgr_resp_parse(&P, "*x\r\n", 4, &used, argv, lens, &argc, NULL), BB_EPROTO);
    /* "*1\n": no CR yet, so not a complete header (as Redis): more bytes wanted */
    assert_int_equal(bmgr_resp_parse(&P, "*1\n", 3, &used, argv, lens, &argc, NULL), 0);
    assert_int_equal(bmgr_resp_parse(&P, "*1\r\n$2\r\nabc\r\n", 13, &used, argv, lens, &argc, NULL),
                     BB_EPROTO);
    assert_int_equal(bmgr_resp_parse(&P, "*1\r\n$-5\r\n", 9, &used, argv, lens, &argc, NULL), BB_EPROTO);
    /* bounds: too many arguments, a bulk over the pre-AUTH limit, an endless inline line */
    assert_int_equal(bmgr_resp_parse(&P, "*17\r\n", 5, &used, argv, lens, &argc, NULL), BB_ETOOBIG);
    assert_int_equal(bmgr_resp_parse(&P, "*1\r\n$100000\r\n", 13, &used, argv, lens, &argc, NULL),
                     BB_ETOOBIG);
    char *big = malloc(BMGR_PREAUTH_MAX + 10);
    memset(big, 'a', BMGR_PREAUTH_MAX + 10);
    assert_int_equal(bmgr_resp_parse(&P, big, BMGR_PREAUTH_MAX + 10, &used, argv, lens, &argc, NULL),
                     BB_ETOOBIG);
    free(big);
    assert_int_equal(bmgr_resp_parse(&P, "*99999999999999999999\r\n", 24, &used, argv, lens, &argc, NULL),
                     BB_EPROTO);
    /* inline commands follow Redis' quoting: arguments are unescaped into the parser */
    const char *q = "AUTH \"p 1\" k\n";
    assert_int_equal(bmgr_resp_parse(&P, q, strlen(q), &used, argv, lens, &argc, NULL), 1);
    assert_int_equal(argc, 3);
    assert_memory_equal(argv[1], "p 1", 3);
    const char *why = NULL;
    q = "AUTH \"p1\n";
    assert_int_equal(bmgr_resp_parse(&P, q, strlen(q), &used, argv, lens, &argc, &why), BB_EPROTO);
    assert_string_equal(why, "ERR Protocol error: unbalanced quotes in request");
    bb_resp_parser_release(&P);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_keys_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/bb-bmgr-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/keys", dir);
    write_file(path, "# comment\n\np1 secret-one\np2   secret-two\nbad..id k\np3 too many words\n"
                     "p1 second-key-of-p1\n");
    struct bmgr_verifier v;
    char err[256] = "";
    assert_int_equal(bmgr_keys_file_verifier(path, &v, err, sizeof err), 0);
    assert_int_equal(v.verify(v.ctx, "p1", "secret-one", 10), 0);
    assert_int_equal(v.verify(v.ctx, "p1", "second-key-of-p1", 16), 0);
    assert_int_equal(v.verify(v.ctx, "p2", "secret-two", 10), 0);
    assert_int_equal(v.verify(v.ctx, "p2", "secret-one", 10), BB_EAUTH);
    assert_int_equal(v.verify(v.ctx, "p1", "secret-on", 9), BB_EAUTH);
    assert_int_equal(v.verify(v.ctx, "p3", "too", 3), BB_EAUTH);
    assert_int_equal(v.verify(v.ctx, "p9", "", 0), BB_EAUTH);
    /* changed file: re-read (checked at most once a second) */
    struct timespec ts = {1, 100000000L};
    nanosleep(&ts, NULL);
    write_file(path, "p1 rotated\n");
    assert_int_equal(v.verify(v.ctx, "p1", "rotated", 7), 0);
    assert_int_equal(v.verify(v.ctx, "p1", "secret-one", 10), BB_EAUTH);
    v.free(v.ctx);
    /* no file configured: everything refused */
    assert_int_equal(bmgr_keys_file_verifier("", &v, err, sizeof err), 0);
    assert_int_equal(v.verify(v.ctx, "p1", "rotated", 7), BB_EAUTH);
    v.free(v.ctx);
    /* unreadable file: error with a message */
    unlink(path);
    assert_int_equal(bmgr_keys_file_verifier(path, &v, err, sizeof err), BB_EIO);
    assert_non_null(strstr(err, "keys file"));
    rmdir(dir);
}

static unsigned long long starttime(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')') + 2;
    for (int field = 3; field < 22; field++) s = strchr(s, ' ') + 1;
    return strtoull(s, NULL, 10);
}

static pid_t spawn_sleeper(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"sleep", "30", NULL};
        execv("/bin/sleep", argv);
        _exit(127);
    }
    return pid;
}

static void test_orphans(void **state)
{
    (void)state;
    char root[] = "/tmp/bb-bmgr-orph-XXXXXX";
    assert_non_null(mkdtemp(root));
    char d1[256], d2[256], f[300];
    snprintf(d1, sizeof d1, "%s/proj1", root);
    snprintf(d2, sizeof d2, "%s/proj2", root);
    mkdir(d1, 0700);
    mkdir(d2, 0700);
    pid_t a = spawn_sleeper(), b = spawn_sleeper();
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);
    char line[64];
    /* proj1: a leftover whose start time matches: killed */
    snprintf(f, sizeof f, "%s/bunder.pid", d1);
    snprintf(line, sizeof line, "%d %llu\n", (int)a, starttime(a));
    write_file(f, line);
    /* proj2: the pid was reused by an unrelated process (other start time): left alone */
    snprintf(f, sizeof f, "%s/bunder.pid", d2);
    snprintf(line, sizeof line, "%d %llu\n", (int)b, starttime(b) + 12345);
    write_file(f, line);
    assert_int_equal(bmgr_orphans_cleanup(root), 1);
    int st;
    waitpid(a, &st, WNOHANG);        /* (cleanup already reaped it: it was our own child) */
    assert_int_not_equal(kill(a, 0), 0); /* gone */
    assert_int_equal(kill(b, 0), 0); /* still alive */
    snprintf(f, sizeof f, "%s/bunder.pid", d1);
    assert_int_not_equal(access(f, F_OK), 0); /* pid files removed */
    snprintf(f, sizeof f, "%s/bunder.pid", d2);
    assert_int_not_equal(access(f, F_OK), 0);
    kill(b, SIGKILL);
    waitpid(b, &st, 0);
    rmdir(d1);
    rmdir(d2);
    rmdir(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_pct_decode),      cmocka_unit_test(test_resp_parse),
        cmocka_unit_test(test_keys_file),   cmocka_unit_test(test_orphans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
