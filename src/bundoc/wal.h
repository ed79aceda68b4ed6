/* wal.h — the write-ahead log of page images (private; layer 3, above pager.h).
 *
 * A commit appends one frame per page the transaction modified; the last frame is marked as the
 * commit frame. The WAL index (page -> newest committed frame) is the pager's source, so a page
 * evicted from the pool is re-read from the WAL until a checkpoint copies it into data.db.
 * Recovery on open scans the frames, keeps every transaction whose commit frame is valid and
 * truncates the first invalid frame and everything after it. Format: see wal.c.
 *
 * Group commit: wal_append() (serialized by the caller) only writes; wal_sync_to() waits until
 * an fsync covers the given LSN, and concurrent waiters share one fsync (a leader syncs for all).
 * Errors from a write or fsync are sticky: wal_error() returns them for the life of the handle.
 */
#ifndef BDOC_WAL_H
#define BDOC_WAL_H

#include <stdint.h>

#include "pager.h"

struct wal;

struct wal_open_info {
    uint64_t max_ts;       /* largest commit timestamp found in the WAL (0 if none) */
    uint64_t frames;       /* valid committed frames recovered */
    uint64_t truncated;    /* bytes of torn or uncommitted tail removed */
    uint32_t npages;       /* page count of the last committed transaction (0 if none) */
};

/* Opens dir/wal, recovers, installs the pager source and starts the pager (pager_start).
 * durability: enum bdoc_durability; sync_ms for NORMAL. */
int wal_open(struct bdoc_vfs *vfs, const char *dir, struct pager *p, int durability,
             uint32_t sync_ms, struct wal **out, struct wal_open_info *info);
void wal_close(struct wal *w);

/* Appends the current pager transaction's pages as one committed transaction with timestamp ts.
 * On success *lsn is the logical position to pass to wal_sync_to(). On failure the error is
 * sticky and the caller must roll the pager transaction back. */
int wal_append(struct wal *w, uint64_t ts, uint64_t *lsn);
/* Waits until lsn is durable according to the durability mode (FULL: fsync; NORMAL/OFF: no
 * wait). Returns the sticky error if the fsync failed. */
int wal_sync_to(struct wal *w, uint64_t lsn);
/* Checkpoint: fsync the WAL, copy committed pages into data.db (meta stamped with last_ts),
 * fsync data.db, reset the WAL. The caller guarantees no concurrent wal_append. */
int wal_checkpoint(struct wal *w, uint64_t last_ts);
/* Right after a successful checkpoint (at close): truncate the file to its header and fsync. */
int wal_shrink(struct wal *w);
uint64_t wal_size(struct wal *w);
int wal_error(struct wal *w);
/* Marks the WAL as failed (sticky), e.g. after an in-memory failure mid-commit. */
void wal_set_error(struct wal *w, int err);
void wal_counters(struct wal *w, uint64_t *syncs, uint64_t *checkpoints);

#endif
