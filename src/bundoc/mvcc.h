/* mvcc.h — transactions with snapshot isolation over the B+tree (private; layer 5, above
 * btree.h).
 *
 * Model: the B+tree holds the newest committed value of every key, prefixed with its commit
 * timestamp. A transaction reads the snapshot "everything committed with ts <= snapshot" plus its
 * own buffered writes; writes are applied to the tree only at commit, under the tree write lock,
 * after first-committer-wins validation (any key written by the transaction whose newest commit
 * is newer than the snapshot -> BB_ECONFLICT). When a commit overwrites or deletes a key while
 * older snapshots are active, the previous state is kept in an in-memory version store (key ->
 * list of (valid-until ts, value or absent)); it is garbage-collected as soon as no active
 * snapshot is older than a version's end. Readers take the tree lock in shared mode only for the
 * duration of one read or one scan batch, never for a whole transaction, so a long reader never
 * blocks writers.
 */
#ifndef BDOC_MVCC_H
#define BDOC_MVCC_H

#include <stddef.h>
#include <stdint.h>

#include "btree.h"

struct mvcc;
struct mtxn;

struct mvcc_config {
    struct bdoc_vfs *vfs;
    const uint8_t *key;          /* or NULL */
    int durability;              /* enum bdoc_durability */
    uint32_t sync_ms;
    uint32_t cache_pages;
    uint64_t checkpoint_bytes;
};

int mvcc_open(const char *dir, const struct mvcc_config *cfg, struct mvcc **out);
/* Checkpoints if healthy, frees. Returns the first error. */
int mvcc_close(struct mvcc *m);
int mvcc_checkpoint(struct mvcc *m);

struct mvcc_stats {
    uint64_t wal_bytes, checkpoints, commits, syncs, versions, pages, free_pages;
    int error;
};
void mvcc_stats_get(struct mvcc *m, struct mvcc_stats *s);

int mvcc_begin(struct mvcc *m, int readonly, struct mtxn **out);
int mvcc_readonly(const struct mtxn *t);
/* Commits and frees t. */
int mvcc_commit(struct mtxn *t);
void mvcc_rollback(struct mtxn *t);

/* Value as seen by t: malloc'ed copy (caller frees) or BB_ENOTFOUND. */
int mvcc_get(struct mtxn *t, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen);
/* Buffered writes (copies key and value). BB_EPERM on a read-only transaction. */
int mvcc_put(struct mtxn *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
int mvcc_del(struct mtxn *t, const uint8_t *key, size_t klen);

/* Queues an insert of key for a bulk load at commit (bt_load: bottom-up where the keys extend
 * the tree at a leaf's right end). Keys must be strictly ascending across calls (BB_EINVAL
 * otherwise) and none may also be written with mvcc_put/mvcc_del (BB_EINVAL at commit). Loaded
 * keys are not visible to t's own reads. Validation at commit is first-committer-wins as for
 * mvcc_put (a loaded key committed after t's snapshot, or recorded deleted after it, is
 * BB_ECONFLICT); an existing key is overwritten. Key and value are copied into an arena (no
 * allocation per key). BB_EPERM on a read-only transaction. */
int mvcc_put_sorted(struct mtxn *t, const uint8_t *key, size_t klen, const uint8_t *val,
                    size_t vlen);
/* Fill factor (10..100 percent) of the leaves a bulk load builds; default 100. BB_EINVAL. */
int mvcc_set_load_fill(struct mtxn *t, unsigned pct);

/* Adds key to the transaction's validation set: the commit fails with BB_ECONFLICT if another
 * transaction committed a write to key after this one's snapshot (used for catalog entries, so
 * that writing into a collection conflicts with a concurrent drop). */
int mvcc_watch(struct mtxn *t, const uint8_t *key, size_t klen);
/* As mvcc_watch, but the commit fails if key was committed after the timestamp since (another
 * transaction's snapshot, mvcc_snapshot) instead of after t's own snapshot, or if key no longer
 * exists at commit (the caller saw it at since: it was deleted since then — caught even when no
 * transaction kept the deletion's history). since 0: as mvcc_watch. */
int mvcc_watch_since(struct mtxn *t, const uint8_t *key, size_t klen, uint64_t since);
/* The commit timestamp of the version of key t sees: 0 and *stamp set, BB_ENOTFOUND when t
 * sees no version. UINT64_MAX when it is not known (t's own write, or an old version kept in the
 * version store, whose commit time is not recorded). */
int mvcc_get_stamp(struct mtxn *t, const uint8_t *key, size_t klen, uint64_t *stamp);
/* The snapshot timestamp of t. */
uint64_t mvcc_snapshot(const struct mtxn *t);

/* Visits, in key order, every key visible to t with start <= key < end (end NULL: no bound).
 * cb borrows key and value for the duration of the call and returns 0 to go on, 1 to stop, or a
 * negative error that the scan returns. cb may run with the tree lock held in shared mode: it
 * must not call back into this layer. */
typedef int (*mvcc_scan_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                            size_t vlen);
int mvcc_scan(struct mtxn *t, const uint8_t *start, size_t slen, const uint8_t *end, size_t elen,
              mvcc_scan_fn cb, void *ctx);
/* As mvcc_scan, in descending key order: keys with lo <= key < hi (both bounds required). Zero-
 * copy from the leaves under the same condition as the forward fast path; otherwise the range is
 * collected forward and handed out backwards (copies, memory for the whole range). */
int mvcc_scan_rev(struct mtxn *t, const uint8_t *lo, size_t lol, const uint8_t *hi, size_t hil,
                  mvcc_scan_fn cb, void *ctx);

/* Reads of the latest commit that never wait (an event loop's thread): begin takes the tree lock
 * shared only if it is free now and puts the pager in nowait mode for this thread (BB_EBUSY: a
 * commit holds or waits for it); get is mvcc_get of the newest committed value, BB_EBUSY when a
 * page is not cached, the pool is busy, or the peek has visited 64 pages (a large value); end
 * releases. Commits wait meanwhile: a few gets only. */
int mvcc_peek_begin(struct mvcc *m);
int mvcc_peek_get(struct mvcc *m, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen);
void mvcc_peek_end(struct mvcc *m);

#endif
