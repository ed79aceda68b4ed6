/* vfs.c — the real POSIX vfs and the fault-injecting one (see vfs.h). */
#include "vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bb_err.h"

struct bdoc_vfs_file {
    struct bdoc_vfs *vfs;
    int fd;
    int faulty_match; /* faulty vfs: does this file match path_substr */
};

static int errno_to_bb(int e)
{
    if (e == ENOSPC || e == EDQUOT) return BB_ENOSPACE;
    if (e == ENOMEM) return BB_ENOMEM;
    if (e == ENOENT) return BB_ENOTFOUND;
    return BB_EIO;
}

static int real_open(struct bdoc_vfs *vfs, const char *path, int flags, struct bdoc_vfs_file **out)
{
    *out = NULL;
    int oflags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
    if (flags & BDOC_VFS_CREATE) oflags |= O_CREAT;
    int fd = open(path, oflags, 0600);
    if (fd < 0) return errno_to_bb(errno);
    struct bdoc_vfs_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return BB_ENOMEM;
    }
    f->vfs = vfs;
    f->fd = fd;
    *out = f;
    return 0;
}

static int real_close(struct bdoc_vfs_file *f)
{
    if (!f) return 0;
    int rc = close(f->fd) == 0 ? 0 : BB_EIO;
    free(f);
    return rc;
}

static int real_read(struct bdoc_vfs_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_to_bb(errno);
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int real_readv(struct bdoc_vfs_file *f, uint8_t *const *bufs, int cnt, size_t len,
                      uint64_t off, size_t *got)
{
    struct iovec iov[64];
    *got = 0;
    if (cnt < 0 || cnt > 64) return BB_EINVAL;
    for (int i = 0; i < cnt; i++) iov[i] = (struct iovec){bufs[i], len};
    for (;;) {
        ssize_t r = preadv(f->fd, iov, cnt, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_to_bb(errno);
        }
        *got = (size_t)r;
        return 0;
    }
}

static int real_map(struct bdoc_vfs_file *f, size_t len, void **addr)
{
    void *a = mmap(NULL, len, PROT_READ, MAP_SHARED, f->fd, 0);
    if (a == MAP_FAILED) return errno_to_bb(errno);
    *addr = a;
    return 0;
}

static void real_unmap(void *addr, size_t len)
{
    if (addr) munmap(addr, len);
}

static int real_write(struct bdoc_vfs_file *f, const void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(f->fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_to_bb(errno);
        }
        done += (size_t)r;
    }
    return 0;
}

static int real_sync(struct bdoc_vfs_file *f)
{
    return fdatasync(f->fd) == 0 ? 0 : errno_to_bb(errno);
}

static int real_truncate(struct bdoc_vfs_file *f, uint64_t size)
{
    return ftruncate(f->fd, (off_t)size) == 0 ? 0 : errno_to_bb(errno);
}

static int real_size(struct bdoc_vfs_file *f, uint64_t *out)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) return errno_to_bb(errno);
    *out = (uint64_t)st.st_size;
    return 0;
}

static int real_lock(struct bdoc_vfs_file *f)
{
    if (flock(f->fd, LOCK_EX | LOCK_NB) == 0) return 0;
    return errno == EWOULDBLOCK ? BB_EBUSY : errno_to_bb(errno);
}

static int real_sync_dir(struct bdoc_vfs *vfs, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_to_bb(errno);
    int rc = fsync(fd) == 0 ? 0 : errno_to_bb(errno);
    close(fd);
    return rc;
}

static struct bdoc_vfs g_real = {
    real_open, real_close, real_read, real_write, real_sync,
    real_truncate, real_size, real_lock, real_sync_dir, NULL, real_readv, real_map, real_unmap,
};

struct bdoc_vfs *bdoc_vfs_real(void) { return &g_real; }

/* ---- faulty vfs ------------------------------------------------------------------------------ */

struct faulty {
    struct bdoc_vfs base; /* first member: a struct bdoc_vfs * is a struct faulty * */
    struct bdoc_fault_config cfg;
    char substr[256];
    pthread_mutex_t mu;
    uint64_t writes, syncs;
    int fired;
    int dead; /* power-loss models: everything after the fault is dropped */
};

static struct faulty *F(struct bdoc_vfs_file *f) { return (struct faulty *)f->vfs; }

static int faulty_open(struct bdoc_vfs *vfs, const char *path, int flags,
                       struct bdoc_vfs_file **out)
{
    struct faulty *fv = (struct faulty *)vfs;
    int rc = real_open(vfs, path, flags, out);
    if (rc == 0) (*out)->faulty_match = fv->substr[0] == '\0' || strstr(path, fv->substr) != NULL;
    return rc;
}

static int faulty_write(struct bdoc_vfs_file *f, const void *buf, size_t n, uint64_t off)
{
    struct faulty *fv = F(f);
    if (!f->faulty_match) return real_write(f, buf, n, off);
    pthread_mutex_lock(&fv->mu);
    uint64_t k = ++fv->writes;
    int dead = fv->dead;
    enum bdoc_fault_kind kind = fv->cfg.kind;
    int hit = kind != BDOC_FAULT_NONE && kind != BDOC_FAULT_FSYNC_FAIL && k >= fv->cfg.after;
    if (hit && !fv->fired) fv->fired = 1;
    if (hit && (kind == BDOC_FAULT_TORN_WRITE || kind == BDOC_FAULT_CRASH)) fv->dead = 1;
    pthread_mutex_unlock(&fv->mu);
    if (dead) return 0;
    if (!hit) return real_write(f, buf, n, off);
    switch (kind) {
    case BDOC_FAULT_TORN_WRITE:
        if (k == fv->cfg.after) (void)real_write(f, buf, n / 2, off);
        return 0;
    case BDOC_FAULT_CRASH:
        return k == fv->cfg.after ? real_write(f, buf, n, off) : 0;
    case BDOC_FAULT_SHORT_WRITE:
        if (k == fv->cfg.after) {
            (void)real_write(f, buf, n / 2, off);
            return BB_EIO;
        }
        return real_write(f, buf, n, off);
    case BDOC_FAULT_ENOSPC: return BB_ENOSPACE;
    default: return real_write(f, buf, n, off);
    }
}

static int faulty_sync(struct bdoc_vfs_file *f)
{
    struct faulty *fv = F(f);
    if (!f->faulty_match) return real_sync(f);
    pthread_mutex_lock(&fv->mu);
    uint64_t k = ++fv->syncs;
    int dead = fv->dead;
    int fail = fv->cfg.kind == BDOC_FAULT_FSYNC_FAIL && k >= fv->cfg.after;
    if (fail) fv->fired = 1;
    uint32_t delay = fv->cfg.sync_delay_us;
    pthread_mutex_unlock(&fv->mu);
    if (delay) usleep(delay);
    if (dead) return 0;
    if (fail) return BB_EIO;
    return real_sync(f);
}

static int faulty_truncate(struct bdoc_vfs_file *f, uint64_t size)
{
    struct faulty *fv = F(f);
    if (f->faulty_match) {
        pthread_mutex_lock(&fv->mu);
        int dead = fv->dead;
        pthread_mutex_unlock(&fv->mu);
        if (dead) return 0;
    }
    return real_truncate(f, size);
}

static void faulty_destroy(struct bdoc_vfs *vfs)
{
    struct faulty *fv = (struct faulty *)vfs;
    pthread_mutex_destroy(&fv->mu);
    free(fv);
}

struct bdoc_vfs *bdoc_vfs_faulty_new(const struct bdoc_fault_config *cfg)
{
    struct faulty *fv = calloc(1, sizeof *fv);
    if (!fv) return NULL;
    fv->base = g_real;
    fv->base.open = faulty_open;
    fv->base.write = faulty_write;
    fv->base.sync = faulty_sync;
    fv->base.truncate = faulty_truncate;
    fv->base.destroy = faulty_destroy;
    fv->cfg = *cfg;
    if (cfg->path_substr) {
        size_t n = strnlen(cfg->path_substr, sizeof fv->substr - 1);
        memcpy(fv->substr, cfg->path_substr, n);
        fv->substr[n] = '\0';
    }
    fv->cfg.path_substr = NULL;
    pthread_mutex_init(&fv->mu, NULL);
    return &fv->base;
}

void bdoc_vfs_faulty_stats(struct bdoc_vfs *vfs, uint64_t *writes, uint64_t *syncs, int *fired)
{
    struct faulty *fv = (struct faulty *)vfs;
    pthread_mutex_lock(&fv->mu);
    if (writes) *writes = fv->writes;
    if (syncs) *syncs = fv->syncs;
    if (fired) *fired = fv->fired;
    pthread_mutex_unlock(&fv->mu);
}
