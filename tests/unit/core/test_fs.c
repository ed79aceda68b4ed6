/* bb_fs: atomic writes, bounded reads, mkdir -p, rm -rf without following symlinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bb_err.h"
#include "bb_fs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/bb_fs_test.XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return bb_fs_remove_tree(root) == 0 ? 0 : -1;
}

static void test_write_atomic_and_read(void **state)
{
    (void)state;
    char path[128], buf[16];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/f", root);
    assert_int_equal(bb_fs_write_atomic(path, "hello\r\n", 7, 0600), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(bb_fs_read_small(path, buf, sizeof buf, &n), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(n, 5);
    /* replacing keeps exactly the new bytes, the mode asked for, and leaves no temporary file */
    assert_int_equal(bb_fs_write_atomic(path, "0123456789abcdef", 16, 0640), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(bb_fs_read_small(path, buf, sizeof buf, &n), BB_ETOOBIG);
    char big[32];
    assert_int_equal(bb_fs_read_small(path, big, sizeof big, &n), 0);
    assert_string_equal(big, "0123456789abcdef");
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    snprintf(tmp, sizeof tmp, "%s/missing", root);
    assert_int_equal(bb_fs_read_small(tmp, buf, sizeof buf, NULL), BB_ENOTFOUND);
    /* a directory is not a regular file; a write into a missing directory fails cleanly */
    assert_int_equal(bb_fs_read_small(root, buf, sizeof buf, NULL), BB_EINVAL);
    snprintf(tmp, sizeof tmp, "%s/nodir/f", root);
    assert_int_equal(bb_fs_write_atomic(tmp, "x", 1, 0600), BB_EIO);
}

static void test_symlinks_not_followed(void **state)
{
    (void)state;
    char target[128], link[128], buf[16];
    snprintf(target, sizeof target, "%s/target", root);
    snprintf(link, sizeof link, "%s/link", root);
    assert_int_equal(bb_fs_write_atomic(target, "secret", 6, 0600), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(bb_fs_read_small(link, buf, sizeof buf, NULL), BB_EINVAL);
    /* replacing a symlink replaces the link, not its target */
    assert_int_equal(bb_fs_write_atomic(link, "new", 3, 0600), 0);
    assert_int_equal(bb_fs_read_small(target, buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "secret");
    /* removing a tree that holds a symlink to a directory outside leaves the outside alone */
    char outside[128], tree[128], in[160];
    snprintf(outside, sizeof outside, "%s/outside", root);
    snprintf(tree, sizeof tree, "%s/a/b/c", root);
    assert_int_equal(bb_fs_mkdir_p(outside, 0700), 0);
    assert_int_equal(bb_fs_mkdir_p(tree, 0700), 0);
    assert_int_equal(bb_fs_mkdir_p(tree, 0700), 0); /* existing: fine */
    snprintf(in, sizeof in, "%s/out", tree);
    assert_int_equal(symlink(outside, in), 0);
    snprintf(in, sizeof in, "%s/keep", outside);
    assert_int_equal(bb_fs_write_atomic(in, "k", 1, 0600), 0);
    snprintf(tree, sizeof tree, "%s/a", root);
    assert_int_equal(bb_fs_remove_tree(tree), 0);
    assert_int_not_equal(access(tree, F_OK), 0);
    assert_int_equal(access(in, F_OK), 0);
    assert_int_equal(bb_fs_remove_tree(tree), 0); /* missing: not an error */
    /* a file in the way of mkdir -p */
    snprintf(tree, sizeof tree, "%s/target/x", root);
    assert_int_equal(bb_fs_mkdir_p(tree, 0700), BB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_atomic_and_read),
        cmocka_unit_test(test_symlinks_not_followed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
