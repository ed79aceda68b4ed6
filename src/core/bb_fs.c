/* bb_fs.c — see bb_fs.h. */
#include "bb_fs.h"

#include "bb_err.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fsync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return BB_ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) return BB_EIO;
    int rc = fsync(fd) == 0 ? 0 : BB_EIO;
    close(fd);
    return rc;
}

int bb_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    if (!path || !*path || (len && !data)) return BB_EINVAL;
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) return BB_EINVAL;
    unlink(tmp); /* a leftover of a crashed writer with our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return BB_EIO;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) goto fail;
        p += w;
        left -= (size_t)w;
    }
    /* the umask may have narrowed the mode at creation; make it exactly what was asked */
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    fsync_parent(path);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = saved;
    return BB_EIO;
}

int bb_fs_read_small(const char *path, char *buf, size_t cap, size_t *len_out)
{
    if (!path || !buf || cap == 0) return BB_EINVAL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? BB_ENOTFOUND : errno == ELOOP ? BB_EINVAL : BB_EIO;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = BB_EIO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = BB_EINVAL;
        goto out;
    }
    size_t have = 0;
    for (;;) {
        if (have == cap - 1) {
            char extra;
            ssize_t r = read(fd, &extra, 1);
            if (r < 0 && errno == EINTR) continue;
            if (r != 0) rc = r < 0 ? BB_EIO : BB_ETOOBIG;
            break;
        }
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = BB_EIO;
            break;
        }
        if (r == 0) break;
        have += (size_t)r;
    }
    if (rc != 0) goto out;
    if (have > 0 && buf[have - 1] == '\n') have--;
    if (have > 0 && buf[have - 1] == '\r') have--;
    buf[have] = '\0';
    if (len_out) *len_out = have;
out:
    close(fd);
    return rc;
}

int bb_fs_mkdir_p(const char *path, mode_t mode)
{
    if (!path || !*path) return BB_EINVAL;
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf) return BB_EINVAL;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && buf[i] != '/') continue;
        char save = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) return BB_EIO;
        struct stat st;
        if (stat(buf, &st) != 0) return BB_EIO;
        if (!S_ISDIR(st.st_mode)) return BB_EINVAL;
        buf[i] = save;
    }
    return 0;
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(p) : unlink(p);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

int bb_fs_remove_tree(const char *path)
{
    if (!path || !*path) return BB_EINVAL;
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : BB_EIO;
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : BB_EIO;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : BB_EIO;
}
