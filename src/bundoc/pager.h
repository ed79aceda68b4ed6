/* pager.h — pages, their on-disk frames (checksum or AES-256-GCM), data.db and the buffer pool
 * (private; layer 2, above vfs.h).
 *
 * Page frame (BDOC_PAGE_SIZE = 4096 bytes, the unit of data.db and of WAL frames), little-endian:
 *   [0..4)     crc32c of bytes [4..4096)                       (plain mode; 0 when sealed)
 *   [4]        mode: 1 plain, 2 AES-256-GCM; 0 means never written (invalid)
 *   [5..8)     zero
 *   [8..16)    page number (u64): a frame read at the wrong place is rejected
 *   [16..28)   GCM nonce (random per write)                    (sealed mode; zero otherwise)
 *   [28..44)   GCM tag over the ciphertext, AAD = bytes [4..16) (sealed mode; zero otherwise)
 *   [44..48)   zero
 *   [48..4096) payload: BDOC_PAGE_PAYLOAD = 4048 bytes (ciphertext in sealed mode)
 *
 * Page 0 is the meta page (payload layout in pager.c). data.db holds page n at n * 4096.
 * 4 KiB, like SQLite's default: a single-document commit logs one or two small frames.
 *
 * Buffer pool: pages are cached by number with a clock policy around a target capacity. A page
 * modified by the current write transaction is pinned until the transaction ends (no-steal);
 * committed pages are clean because their image is in the WAL, so eviction never writes. On a
 * miss the page is read through the "source" hook (the WAL installs one: the newest committed
 * frame of that page) or else from data.db.
 *
 * Threads: the pool has its own mutex. Page *contents* are protected by the caller (bundoc's tree
 * lock: one writer with exclusive access, or many readers). One write transaction at a time.
 */
#ifndef BDOC_PAGER_H
#define BDOC_PAGER_H

#include <stddef.h>
#include <stdint.h>

#include "vfs.h"

#define BDOC_PAGE_SIZE 4096u
#define BDOC_PAGE_HDR 48u
#define BDOC_PAGE_PAYLOAD (BDOC_PAGE_SIZE - BDOC_PAGE_HDR)

/* Page types: byte 0 of every payload. */
enum bdoc_page_type {
    BDOC_PT_META = 0x4d,     /* 'M' */
    BDOC_PT_LEAF = 1,
    BDOC_PT_INTERNAL = 2,
    BDOC_PT_OVERFLOW = 3,
    BDOC_PT_FREE = 4,
};

struct pager;

struct page {
    uint32_t pgno;
    int pin;
    int ref;             /* clock bit */
    int txn_dirty;       /* modified by the current write transaction */
    int checked;         /* upper layer validated the content since it was loaded */
    int mapped;          /* data points into the read-only mapping of data.db (pager.c) */
    uint8_t *orig;       /* copy before the first modification (NULL: page is new) */
    struct page *hnext;  /* hash chain */
    struct page *tnext;  /* list of txn-dirty pages */
    uint8_t *data;       /* BDOC_PAGE_PAYLOAD bytes */
};

struct pager_meta {
    uint32_t root;        /* B+tree root page (0: empty tree) */
    uint32_t freelist;    /* first free page (0: none) */
    uint32_t npages;      /* pages in the database, including meta (kept in memory; page 0's
                             copy is stamped at checkpoints, commit frames carry it) */
    uint32_t nfree;
    uint64_t last_ts;     /* last commit timestamp as of the last checkpoint */
};

/* Source hook: copy the newest committed frame of pgno into frame (BDOC_PAGE_SIZE bytes) and
 * return 1; return 0 if the source does not have it; negative BB_E* on error. */
typedef int (*pager_source_fn)(void *ctx, uint32_t pgno, uint8_t *frame);

/* Opens or creates dir/data.db. key: BDOC_KEY_LEN bytes or NULL (copied). On creation writes the
 * meta page and fsyncs file and directory. BB_EAUTH on key mismatch, BB_EIO on a corrupt meta. */
int pager_open(struct bdoc_vfs *vfs, const char *dir, const uint8_t *key, uint32_t cache_pages,
               struct pager **out);
void pager_close(struct pager *p);
void pager_set_source(struct pager *p, pager_source_fn fn, void *ctx);
/* Loads and pins the meta page; call once after the source hook is installed (recovery done). */
int pager_start(struct pager *p);
/* Recovery: the page count of the last committed WAL transaction (kept if larger). */
void pager_note_npages(struct pager *p, uint32_t npages);

/* Frame codec. encode: payload -> frame (seals or checksums). decode: verifies and decrypts;
 * BB_EIO on checksum/tag mismatch, wrong page number or mode, BB_EAUTH for a mode mismatch. */
int pager_encode(struct pager *p, uint32_t pgno, const uint8_t *payload, uint8_t *frame);
int pager_decode(struct pager *p, uint32_t pgno, const uint8_t *frame, uint8_t *payload);
/* Verifies a frame without keeping the plaintext. */
int pager_verify(struct pager *p, uint32_t pgno, const uint8_t *frame);

/* Pinned page; release with pager_unpin. BB_EIO for a page past the end or a bad frame. */
int pager_get(struct pager *p, uint32_t pgno, struct page **out);
void pager_unpin(struct pager *p, struct page *pg);
/* For the calling thread only: with max_pages > 0, pager_get never waits for the pool's mutex nor
 * reads from disk, and gets at most max_pages pages (BB_EBUSY instead: a miss, another thread
 * holding the mutex — e.g. loading a page —, or the budget spent on a long read), and pager_unpin
 * never waits (a busy mutex: the unpin is applied by the next pager_get). 0: back to normal. */
void pager_set_nowait(unsigned max_pages);

/* Write transaction (one at a time; caller serializes). */
void pager_txn_begin(struct pager *p);
int pager_make_writable(struct pager *p, struct page *pg);
/* A new zeroed, writable, pinned page (from the free list or the end of the file). */
int pager_alloc(struct pager *p, struct page **out);
/* Puts pgno on the free list (inside the current transaction). */
int pager_free(struct pager *p, uint32_t pgno);
/* The pages modified by the current transaction (linked by tnext), meta included if changed. */
struct page *pager_txn_pages(struct pager *p);
/* commit=1 keeps the changes (their images must be in the WAL), 0 restores every page. */
void pager_txn_end(struct pager *p, int commit);

/* Meta fields as of the current state (including the current write transaction). */
int pager_meta_get(struct pager *p, struct pager_meta *m);
/* Sets root (inside the write transaction). */
int pager_set_root(struct pager *p, uint32_t root);

/* data.db access for checkpoints. */
int pager_write_frame(struct pager *p, uint32_t pgno, const uint8_t *frame);
/* Writes page 0 from the pool with last_ts stamped in. */
int pager_write_meta_ts(struct pager *p, uint64_t last_ts);
int pager_sync(struct pager *p);
int pager_is_encrypted(const struct pager *p);
/* Whole pages in data.db as stored (its size / BDOC_PAGE_SIZE; 0 on a size error). Recovery's
 * bound on how far the WAL may grow the database. */
uint64_t pager_file_pages(struct pager *p);
/* HMAC-SHA-256(key, label) truncated to 16 bytes; zeros when not encrypted. */
void pager_key_check(const struct pager *p, const uint8_t *salt, size_t n, uint8_t out[16]);
uint32_t pager_crc32c(uint32_t crc, const void *buf, size_t n);

#endif
