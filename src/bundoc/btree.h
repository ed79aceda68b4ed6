/* btree.h — one B+tree of variable-length keys and values over the pager (private; layer 4,
 * above wal.h, whose API it re-exports to the transaction layer).
 *
 * Keys: 1..BT_MAX_KEY bytes, ordered by memcmp (shorter first on a common prefix). Values:
 * (BT_INLINE_MAX is chosen so that any split of a full page yields two halves that fit: with
 * cells of at most c bytes, a half holds at most (capacity + c) / 2 + c <= capacity.)
 * 0..UINT32_MAX bytes; a value that does not fit inline (key + value > BT_INLINE_MAX) is stored
 * in a chain of overflow pages. Freed pages (overflow chains, emptied leaves and internal nodes)
 * go to the pager's free list and are reused. Modifications must happen inside a pager write
 * transaction (pager_txn_begin .. wal_append .. pager_txn_end); reads need only that no writer
 * runs concurrently (the caller's tree lock). Page layouts: btree.c.
 */
#ifndef BDOC_BTREE_H
#define BDOC_BTREE_H

#include <stddef.h>
#include <stdint.h>

#include "wal.h"

#define BT_MAX_KEY 1024u
#define BT_INLINE_MAX 1300u
#define BT_MAX_DEPTH 24

/* Returns 0 and a malloc'ed copy of the value (caller frees; *val is non-NULL even for an empty
 * value), or BB_ENOTFOUND, BB_EIO (corrupt page), BB_ENOMEM. */
int bt_get(struct pager *p, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen);
/* As bt_get, but copies only the first min(n, value length) bytes of the value into head (no
 * allocation; the commit stamp of an mvcc value); *vlen the whole value's length. */
int bt_get_head(struct pager *p, const uint8_t *key, size_t klen, uint8_t *head, size_t n,
                size_t *vlen);
/* Inserts or replaces. BB_EINVAL for a bad key length. */
int bt_put(struct pager *p, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
/* BB_ENOTFOUND if absent. */
int bt_delete(struct pager *p, const uint8_t *key, size_t klen);

struct bt_cursor {
    struct pager *p;
    int depth;                 /* levels in path; 0 = invalid / end */
    uint32_t pg[BT_MAX_DEPTH];
    int idx[BT_MAX_DEPTH];     /* internal: child index (-1 = leftmost); leaf: slot */
    struct page *leaf;         /* pinned while the cursor is valid */
};

/* Positions at the first key >= key (klen 0: the first key). */
int bt_seek(struct pager *p, struct bt_cursor *c, const uint8_t *key, size_t klen);
int bt_valid(const struct bt_cursor *c);
/* Borrowed pointer into the pinned leaf, valid until the cursor moves or closes. */
void bt_key(const struct bt_cursor *c, const uint8_t **key, size_t *klen);
/* malloc'ed copy of the current value. */
int bt_value(const struct bt_cursor *c, uint8_t **val, size_t *vlen);
/* Borrowed value when it is stored inline (valid until the cursor moves; *owned = NULL), else a
 * malloc'ed copy of an overflow value that the caller frees (*owned = *val). */
int bt_value_ref(const struct bt_cursor *c, const uint8_t **val, size_t *vlen, uint8_t **owned);
int bt_next(struct bt_cursor *c);
/* Positions at the last key < key (key NULL: the last key of the tree); the cursor is invalid
 * when there is none. */
int bt_seek_before(struct pager *p, struct bt_cursor *c, const uint8_t *key, size_t klen);
/* Moves to the previous key (invalid before the first). */
int bt_prev(struct bt_cursor *c);
void bt_close(struct bt_cursor *c);

/* Bulk load (bottom-up where it can be): inserts items[0..n), whose keys must be strictly
 * ascending (else BB_EINVAL, nothing written), each value stored as vprefix[0..plen) followed by
 * val. Where a run of keys extends a leaf at its right end (every key after the leaf's last key
 * and before the leaf's upper fence, the next separator of its nearest ancestor), the leaf is
 * filled to fill_pct percent (10..100) and further leaves are built left to right, filled the
 * same way, each linked into its parent by its first key (an append into an internal node splits
 * it the append way, so interior levels fill up too): one descent per new leaf instead of one per
 * key. A key that lands inside a leaf's range or already exists, or a value that needs an
 * overflow chain, goes through bt_put. Same transaction rules as bt_put. */
struct bt_item {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
};
int bt_load(struct pager *p, const struct bt_item *items, size_t n, const uint8_t *vprefix,
            size_t plen, unsigned fill_pct);

/* Consistency check of the whole tree (ordering, page types, no cycles); 0 or BB_EIO. */
int bt_check(struct pager *p, uint64_t *nkeys);

#endif
