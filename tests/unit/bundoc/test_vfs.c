/* Unit tests for the VFS layer: the real vfs (read/write/size/truncate/lock) and each fault of the
 * fault-injecting vfs, observed at the file level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bb_err.h"
#include "bdoc_test_util.h"
#include "vfs.h"

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_real(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_sub(dir, "f");
    struct bdoc_vfs *v = bdoc_vfs_real();
    struct bdoc_vfs_file *f = NULL, *g = NULL;
    assert_int_equal(v->open(v, path, 0, &f), BB_ENOTFOUND);
    assert_int_equal(v->open(v, path, BDOC_VFS_CREATE, &f), 0);
    assert_int_equal(v->write(f, "hello world", 11, 100), 0);
    uint64_t sz = 0;
    assert_int_equal(v->size(f, &sz), 0);
    assert_int_equal(sz, 111);
    char buf[32];
    size_t got = 0;
    assert_int_equal(v->read(f, buf, sizeof buf, 100, &got), 0);
    assert_int_equal(got, 11); /* short read at end of file is not an error */
    assert_memory_equal(buf, "hello world", 11);
    assert_int_equal(v->sync(f), 0);
    assert_int_equal(v->truncate(f, 10), 0);
    assert_int_equal(v->size(f, &sz), 0);
    assert_int_equal(sz, 10);
    /* exclusive lock: a second open file description is refused until the first closes */
    assert_int_equal(v->lock(f), 0);
    assert_int_equal(v->open(v, path, 0, &g), 0);
    assert_int_equal(v->lock(g), BB_EBUSY);
    v->close(f);
    assert_int_equal(v->lock(g), 0);
    v->close(g);
    assert_int_equal(v->sync_dir(v, dir), 0);
    free(path);
    tu_rmrf(dir);
}

/* Writes 4 blocks of 1000 bytes (values 1..4) through a faulty vfs; returns the return codes. */
static void four_writes(struct bdoc_vfs *v, const char *path, int rc[4], int *sync_rc)
{
    struct bdoc_vfs_file *f = NULL;
    assert_int_equal(v->open(v, path, BDOC_VFS_CREATE, &f), 0);
    char blk[1000];
    for (int i = 0; i < 4; i++) {
        memset(blk, i + 1, sizeof blk);
        rc[i] = v->write(f, blk, sizeof blk, (uint64_t)i * 1000);
    }
    *sync_rc = v->sync(f);
    v->close(f);
}

static int byte_at(const char *path, long off)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    int c = -1;
    if (fseek(fp, off, SEEK_SET) == 0) c = fgetc(fp);
    fclose(fp);
    return c;
}

static void test_faults(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = tu_sub(dir, "data");
    int rc[4], src;
    uint64_t w = 0, s = 0;
    int fired = 0;

    struct bdoc_fault_config torn = {BDOC_FAULT_TORN_WRITE, 3, NULL, 0};
    struct bdoc_vfs *v = bdoc_vfs_faulty_new(&torn);
    four_writes(v, path, rc, &src);
    for (int i = 0; i < 4; i++) assert_int_equal(rc[i], 0); /* the machine does not know */
    assert_int_equal(src, 0);
    assert_int_equal(file_size(path), 2500);                  /* half of write 3, none of 4 */
    assert_int_equal(byte_at(path, 2499), 3);
    bdoc_vfs_faulty_stats(v, &w, &s, &fired);
    assert_int_equal(w, 4);
    assert_true(fired);
    v->destroy(v);
    remove(path);

    struct bdoc_fault_config crash = {BDOC_FAULT_CRASH, 2, NULL, 0};
    v = bdoc_vfs_faulty_new(&crash);
    four_writes(v, path, rc, &src);
    assert_int_equal(rc[3], 0);
    assert_int_equal(file_size(path), 2000); /* writes after the 2nd are dropped */
    v->destroy(v);
    remove(path);

    struct bdoc_fault_config shortw = {BDOC_FAULT_SHORT_WRITE, 2, NULL, 0};
    v = bdoc_vfs_faulty_new(&shortw);
    four_writes(v, path, rc, &src);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], BB_EIO);
    assert_int_equal(rc[2], 0); /* a one-off */
    assert_int_equal(byte_at(path, 1500), 0);  /* second half of write 2 never landed */
    assert_int_equal(byte_at(path, 1499), 2);
    v->destroy(v);
    remove(path);

    struct bdoc_fault_config nospc = {BDOC_FAULT_ENOSPC, 3, NULL, 0};
    v = bdoc_vfs_faulty_new(&nospc);
    four_writes(v, path, rc, &src);
    assert_int_equal(rc[1], 0);
    assert_int_equal(rc[2], BB_ENOSPACE);
    assert_int_equal(rc[3], BB_ENOSPACE);
    assert_int_equal(file_size(path), 2000);
    v->destroy(v);
    remove(path);

    struct bdoc_fault_config fs = {BDOC_FAULT_FSYNC_FAIL, 1, NULL, 0};
    v = bdoc_vfs_faulty_new(&fs);
    four_writes(v, path, rc, &src);
    assert_int_equal(rc[3], 0);
    assert_int_equal(src, BB_EIO);
    v->destroy(v);
    remove(path);

    /* path filter: only matching files are faulted */
    struct bdoc_fault_config only = {BDOC_FAULT_ENOSPC, 1, "/other", 0};
    v = bdoc_vfs_faulty_new(&only);
    four_writes(v, path, rc, &src);
    for (int i = 0; i < 4; i++) assert_int_equal(rc[i], 0);
    bdoc_vfs_faulty_stats(v, &w, NULL, &fired);
    assert_int_equal(w, 0);
    assert_false(fired);
    v->destroy(v);
    remove(path);

    /* slow disk: syncs take at least the delay */
    struct bdoc_fault_config slow = {BDOC_FAULT_NONE, 0, NULL, 20000};
    v = bdoc_vfs_faulty_new(&slow);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    four_writes(v, path, rc, &src);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(src, 0);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000 >= 20000);
    v->destroy(v);
    free(path);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real),
        cmocka_unit_test(test_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
