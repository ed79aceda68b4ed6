/* bb_fs.h — small file-system helpers every service needs, written once.
 *
 * Errors follow bb_err.h; errno is left as the failing call set it.
 */
#ifndef BB_FS_H
#define BB_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with exactly len bytes of data, atomically: written to "<path>.tmp.<pid>" (created
 * with mode, O_EXCL, never following a symlink), fsynced, rename(2)d over path, then the parent
 * directory is fsynced, so after a crash path holds either the old or the new content, never a
 * mix. 0, or BB_EIO (the temporary file is removed) / BB_EINVAL (bad argument). data: borrowed. */
int bb_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a regular file of at most cap-1 bytes into buf and NUL-terminates it; one trailing
 * "\n" or "\r\n" is dropped. *len_out (may be NULL) gets the length. BB_ENOTFOUND when the file
 * does not exist, BB_ETOOBIG when it is larger, BB_EINVAL when it is not a regular file (symlinks
 * are not followed), BB_EIO otherwise. */
int bb_fs_read_small(const char *path, char *buf, size_t cap, size_t *len_out);

/* mkdir -p with mode for every directory it creates (existing ones are left as they are).
 * BB_EINVAL when a component exists and is not a directory, BB_EIO otherwise. */
int bb_fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf: removes path and everything below it without following symlinks (a symlink is removed,
 * not its target). A missing path is not an error. BB_EIO on the first failure. */
int bb_fs_remove_tree(const char *path);

#endif
