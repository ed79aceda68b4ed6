/* vfs.h — bundoc's file-system abstraction (private; the lowest layer).
 *
 * Every byte bundoc reads or writes goes through a struct bdoc_vfs, a small vtable in the style of
 * SQLite's VFS. Two implementations exist:
 *   - bdoc_vfs_real(): POSIX pread/pwrite/fdatasync/ftruncate/flock, process-wide singleton;
 *   - bdoc_vfs_faulty_new(): wraps the real one and injects one fault chosen by the test: a torn
 *     write, a short write, an fsync failure, ENOSPC, or a "crash" (power loss) after the Nth write.
 *
 * Error codes: every function returns 0 or a negative BB_E* code: BB_EIO for an I/O error,
 * BB_ENOSPACE for a full disk, BB_EBUSY when lock() finds the file locked, BB_ENOTFOUND when open()
 * without BDOC_VFS_CREATE finds no file. Short reads past the end of file are not errors: read()
 * reports the bytes it got in *got. write() either writes all n bytes or fails.
 */
#ifndef BDOC_VFS_H
#define BDOC_VFS_H

#include <stddef.h>
#include <stdint.h>

#include "bundoc.h"

enum bdoc_vfs_open_flags {
    BDOC_VFS_CREATE = 1 << 0, /* create the file (mode 0600) if missing */
};

struct bdoc_vfs_file; /* opaque, owned by the vfs that opened it; freed by close() */

struct bdoc_vfs {
    int (*open)(struct bdoc_vfs *vfs, const char *path, int flags, struct bdoc_vfs_file **out);
    /* Closes and frees f (also releases its lock). Returns an error only for information. */
    int (*close)(struct bdoc_vfs_file *f);
    int (*read)(struct bdoc_vfs_file *f, void *buf, size_t n, uint64_t off, size_t *got);
    int (*write)(struct bdoc_vfs_file *f, const void *buf, size_t n, uint64_t off);
    int (*sync)(struct bdoc_vfs_file *f);
    int (*truncate)(struct bdoc_vfs_file *f, uint64_t size);
    int (*size)(struct bdoc_vfs_file *f, uint64_t *out);
    /* Exclusive, non-blocking lock held until close(); BB_EBUSY if another holder exists. */
    int (*lock)(struct bdoc_vfs_file *f);
    /* fsync of a directory, so that created or renamed entries are durable. */
    int (*sync_dir)(struct bdoc_vfs *vfs, const char *dir);
    /* Frees the vfs itself (NULL for the real singleton). */
    void (*destroy)(struct bdoc_vfs *vfs);
    /* Optional (NULL: callers use read): reads consecutive bytes from off into cnt buffers of
     * len bytes each (bufs[i]), one system call; *got as read (a short count only at the end). */
    int (*readv)(struct bdoc_vfs_file *f, uint8_t *const *bufs, int cnt, size_t len, uint64_t off,
                 size_t *got);
    /* Optional (NULL: not supported): a read-only shared mapping of len bytes of the file from
     * offset 0 (bytes past the end of the file must not be touched), released with unmap. */
    int (*map)(struct bdoc_vfs_file *f, size_t len, void **addr);
    void (*unmap)(void *addr, size_t len);
};

/* The real POSIX vfs: a static singleton, never freed. */
struct bdoc_vfs *bdoc_vfs_real(void);

enum bdoc_fault_kind {
    BDOC_FAULT_NONE = 0,
    BDOC_FAULT_TORN_WRITE,  /* the Nth write stores only its first half, then the "machine dies":
                               that write and every later write/sync/truncate silently succeed
                               without touching the disk (power-loss model) */
    BDOC_FAULT_SHORT_WRITE, /* the Nth write stores its first half and returns BB_EIO */
    BDOC_FAULT_FSYNC_FAIL,  /* the Nth sync (counted separately from writes) fails with BB_EIO,
                               and every later one too */
    BDOC_FAULT_ENOSPC,      /* the Nth write and all later writes fail with BB_ENOSPACE */
    BDOC_FAULT_CRASH,       /* writes after the Nth are silently dropped (power loss) */
};

struct bdoc_fault_config {
    enum bdoc_fault_kind kind;
    uint64_t after;           /* N: 1-based count of the write (or sync) that faults */
    const char *path_substr;  /* only files whose path contains this (NULL: all files) */
    uint32_t sync_delay_us;   /* every sync of a matching file first sleeps this long (a slow
                                 disk), with or without a fault */
};

/* A fault-injecting vfs over the real one. Caller frees with vfs->destroy(vfs) after every file
 * opened through it is closed. Returns NULL on ENOMEM. */
struct bdoc_vfs *bdoc_vfs_faulty_new(const struct bdoc_fault_config *cfg);
/* Counters of a faulty vfs: writes and syncs seen (matching path_substr), and whether the fault
 * fired. */
void bdoc_vfs_faulty_stats(struct bdoc_vfs *vfs, uint64_t *writes, uint64_t *syncs, int *fired);

#endif
