/* datadir.h — the data directory: creation, the single-owner lock, the internal token.
 *
 * Directories are created with mode 0711: other users (the postgres user running the embedded
 * cluster) may traverse but not list them; every file inside is created 0600.
 *
 * Layout: <data>/bunbased.lock (flock held for the process lifetime; holds our pid),
 * <data>/internal_token (mode 0600, written atomically: temp file, fsync, rename, fsync dir),
 * <data>/postgres/ (embedded cluster, see docs/internals/pg.md).
 */
#ifndef BB_DATADIR_H
#define BB_DATADIR_H

#include <stddef.h>

/* Creates the directory (and parents, mode 0700) and checks it is writable. BB_EIO + message. */
int bb_datadir_prepare(const char *dir, char *err, size_t errcap);
/* Takes the exclusive lock; BB_EBUSY + message naming the holder's pid when held. *fd_out stays
 * open (the lock) until bb_datadir_unlock. */
int bb_datadir_lock(const char *dir, int *fd_out, char *err, size_t errcap);
void bb_datadir_unlock(int fd);
/* The internal token is at least this long, whether it comes from BUNBASE_INTERNAL_TOKEN or the
 * token file. */
#define BB_INTERNAL_TOKEN_MIN 32
/* token (cap >= 64): from *configured if non-empty, else <dir>/internal_token, else a new random
 * token written there. A configured token or a file shorter than BB_INTERNAL_TOKEN_MIN gives
 * BB_EINVAL and a message (bunbased exits 2). */
int bb_datadir_internal_token(const char *dir, const char *configured, char *token, size_t cap,
                              char *err, size_t errcap);

#endif
