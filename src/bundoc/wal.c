/* wal.c — write-ahead log of page images with redo recovery and group commit.
 *
 * File dir/wal, little-endian:
 *
 *   Header, 64 bytes:
 *     [0..8)    magic "BDOCWAL1"
 *     [8..12)   version (1)
 *     [12..16)  page size (4096)
 *     [16..24)  salt: random, new at every reset (checkpoint); the file is then overwritten from
 *               offset 64 without being truncated, and frames carrying another salt are stale
 *     [24..32)  zero
 *     [32..48)  key check: HMAC-SHA-256(key, salt)[0..16) when encrypted, zeros otherwise
 *     [48]      1 if encrypted
 *     [49..60)  zero
 *     [60..64)  crc32c of [0..60)
 *
 *   Frames, each 32 + 4096 bytes, from offset 64:
 *     [0..4)    page number
 *     [4..8)    commit marker: 0 inside a transaction; on its last frame, the page count after the
 *               commit (always >= 1)
 *     [8..16)   salt (equal to the header's)
 *     [16..24)  commit timestamp (commit frames only, else 0)
 *     [24..28)  chained checksum: crc32c seeded with the previous frame's checksum (the first
 *               frame is seeded with the header crc) over frame bytes [0..24) and the first 48
 *               bytes of the page frame, which hold the page's own crc32c or GCM nonce and tag
 *     [28..32)  zero
 *     [32..)    the page frame exactly as it will be written to data.db (pager.h)
 *
 * Invariants: a frame is valid iff its salt matches, its chained checksum matches and its page
 * frame verifies (crc or GCM tag, page number); a transaction is valid iff its frames are, every
 * page number in it is below the page count of its commit frame, and that count exceeds the
 * previous one (or data.db's pages) by at most its number of frames. Recovery applies the frames of every transaction
 * up to the last valid commit frame and truncates the file there, so stale or torn frames can
 * never be chained after new ones. A checkpoint fsyncs the WAL before writing data.db (data.db
 * never holds an image the WAL could lose) and fsyncs data.db before resetting the WAL.
 */
#include "wal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bb_crypto.h"
#include "bb_bytes.h"
#include "bb_err.h"
#include "bb_time.h"
#include "bb_log.h"

#define WAL_HDR 64u
#define FRAME_HDR 32u
#define FRAME_SIZE (FRAME_HDR + BDOC_PAGE_SIZE)
#define BATCH_FRAMES 64u

struct wal {
    struct bdoc_vfs *vfs;
    struct bdoc_vfs_file *file;
    struct pager *pager;
    int durability;
    uint32_t sync_ms;
    uint64_t salt;
    uint32_t hdr_crc;
    uint32_t last_crc;      /* chain value of the last frame written */
    uint64_t end;           /* file offset where the next frame goes */
    uint64_t alloc;         /* file size: bytes [end, alloc) are zeros or stale frames */
    pthread_mutex_t idx_mu; /* guards idx and file layout against resets */
    uint64_t *idx;          /* pgno -> frame offset (0: not in the WAL) */
    size_t idx_cap;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    uint64_t written;       /* logical LSN written */
    uint64_t synced;        /* logical LSN known durable */
    uint64_t lsn_base;      /* logical LSN of file offset WAL_HDR */
    int syncing;
    int err;                /* sticky */
    uint64_t nsyncs, ncheckpoints;
    pthread_t flusher;
    int flusher_on, stop;
};


static uint32_t frame_crc(uint32_t prev, const uint8_t *fh, const uint8_t *page)
{
    uint32_t c = pager_crc32c(prev, fh, 24);
    return pager_crc32c(c, page, BDOC_PAGE_HDR);
}

static int idx_set(struct wal *w, uint32_t pgno, uint64_t off)
{
    if (pgno >= w->idx_cap) {
        size_t nc = w->idx_cap ? w->idx_cap : 1024;
        while (nc <= pgno) nc *= 2;
        uint64_t *ni = realloc(w->idx, nc * sizeof *ni);
        if (!ni) return BB_ENOMEM;
        memset(ni + w->idx_cap, 0, (nc - w->idx_cap) * sizeof *ni);
        w->idx = ni;
        w->idx_cap = nc;
    }
    w->idx[pgno] = off;
    return 0;
}

static int source(void *ctx, uint32_t pgno, uint8_t *frame)
{
    struct wal *w = ctx;
    pthread_mutex_lock(&w->idx_mu);
    int rc = 0;
    uint64_t off = pgno < w->idx_cap ? w->idx[pgno] : 0;
    if (off) {
        size_t got = 0;
        rc = w->vfs->read(w->file, frame, BDOC_PAGE_SIZE, off + FRAME_HDR, &got);
        if (rc == 0 && got != BDOC_PAGE_SIZE) rc = BB_EIO;
        if (rc == 0) rc = 1;
    }
    pthread_mutex_unlock(&w->idx_mu);
    return rc;
}

/* Writes a fresh header with a new salt; frames are then overwritten from the start. The file is
 * not truncated: overwriting blocks in place lets fdatasync skip the inode (the file size does not
 * change), and frames of the previous generation carry the old salt, so they end any scan.
 * truncate_all: also drop the old frames (used when the header itself was unreadable). Caller
 * holds idx_mu or is single-threaded. */
static int reset_file(struct wal *w, int truncate_all)
{
    uint8_t h[WAL_HDR];
    memset(h, 0, sizeof h);
    memcpy(h, "BDOCWAL1", 8);
    bb_put_le32(h + 8, 1);
    bb_put_le32(h + 12, BDOC_PAGE_SIZE);
    uint64_t salt = 0;
    int rc = bb_random_bytes(&salt, sizeof salt);
    if (rc) return rc;
    if (salt == w->salt) salt++;
    bb_put_le64(h + 16, salt);
    pager_key_check(w->pager, h + 16, 8, h + 32);
    h[48] = (uint8_t)pager_is_encrypted(w->pager);
    uint32_t crc = pager_crc32c(0, h, 60);
    bb_put_le32(h + 60, crc);
    if (truncate_all) rc = w->vfs->truncate(w->file, 0);
    if (rc == 0) rc = w->vfs->write(w->file, h, WAL_HDR, 0);
    if (rc == 0) rc = w->vfs->sync(w->file);
    if (rc) return rc;
    w->salt = salt;
    w->hdr_crc = crc;
    w->last_crc = crc;
    w->end = WAL_HDR;
    if (truncate_all) w->alloc = WAL_HDR;
    if (w->idx) memset(w->idx, 0, w->idx_cap * sizeof *w->idx);
    return 0;
}

struct pend {
    uint32_t pgno;
    uint64_t off;
};

static int recover(struct wal *w, struct wal_open_info *info)
{
    uint64_t size = 0;
    int rc = w->vfs->size(w->file, &size);
    if (rc) return rc;
    uint8_t h[WAL_HDR];
    size_t got = 0;
    if (size >= WAL_HDR) rc = w->vfs->read(w->file, h, WAL_HDR, 0, &got);
    if (rc) return rc;
    if (got != WAL_HDR || memcmp(h, "BDOCWAL1", 8) != 0 || bb_get_le32(h + 60) != pager_crc32c(0, h, 60) ||
        bb_get_le32(h + 8) != 1 || bb_get_le32(h + 12) != BDOC_PAGE_SIZE) {
        /* missing or torn header: nothing in this WAL was ever acknowledged (a header is written
         * and fsynced before any frame) */
        if (size > 0) info->truncated = size;
        return reset_file(w, 1);
    }
    if ((h[48] != 0) != (pager_is_encrypted(w->pager) != 0)) return BB_EAUTH;
    uint8_t kc[16];
    pager_key_check(w->pager, h + 16, 8, kc);
    if (!bb_ct_equal(kc, h + 32, 16)) {
        bb_error("bundoc", "wal: wrong encryption key");
        return BB_EAUTH;
    }
    w->salt = bb_get_le64(h + 16);
    w->hdr_crc = bb_get_le32(h + 60);
    uint32_t chain = w->hdr_crc;
    uint64_t off = WAL_HDR, good_end = WAL_HDR;
    uint32_t good_crc = chain;
    uint64_t grow_limit = pager_file_pages(w->pager); /* pages the database may have so far */
    struct pend *pend = NULL;
    size_t npend = 0, cappend = 0;
    uint8_t *buf = malloc(FRAME_SIZE);
    if (!buf) return BB_ENOMEM;
    while (off + FRAME_SIZE <= size) {
        rc = w->vfs->read(w->file, buf, FRAME_SIZE, off, &got);
        if (rc) goto out;
        if (got != FRAME_SIZE) break;
        if (bb_get_le64(buf + 8) != w->salt) break;
        uint32_t c = frame_crc(chain, buf, buf + FRAME_HDR);
        if (c != bb_get_le32(buf + 24)) break;
        uint32_t pgno = bb_get_le32(buf);
        if (pager_verify(w->pager, pgno, buf + FRAME_HDR) != 0) break;
        chain = c;
        if (npend == cappend) {
            size_t nc = cappend ? cappend * 2 : 64;
            struct pend *np = realloc(pend, nc * sizeof *np);
            if (!np) {
                rc = BB_ENOMEM;
                goto out;
            }
            pend = np;
            cappend = nc;
        }
        pend[npend].pgno = pgno;
        pend[npend].off = off;
        npend++;
        off += FRAME_SIZE;
        if (bb_get_le32(buf + 4) != 0) {
            /* every page of a transaction lies below the page count its commit frame records,
             * and a transaction grows the database by at most one page per frame (pages are
             * allocated at the end, and a new page always gets a frame): a transaction that
             * says otherwise is corrupt, and must not size the index */
            uint64_t np = bb_get_le32(buf + 4);
            int bad = np > grow_limit + npend;
            for (size_t i = 0; i < npend; i++) bad |= pend[i].pgno >= np;
            if (bad) break;
            if (np > grow_limit) grow_limit = np;
            for (size_t i = 0; i < npend; i++) {
                rc = idx_set(w, pend[i].pgno, pend[i].off);
                if (rc) goto out;
            }
            info->frames += npend;
            npend = 0;
            uint64_t ts = bb_get_le64(buf + 16);
            if (ts > info->max_ts) info->max_ts = ts;
            info->npages = bb_get_le32(buf + 4);
            good_end = off;
            good_crc = chain;
        }
    }
    if (good_end < size) {
        /* what follows the last commit: frames of an unfinished or torn transaction (current
         * salt), or zeros and frames of an older generation (stale, expected after a checkpoint) */
        int torn = 0;
        if (size - good_end >= FRAME_HDR) {
            rc = w->vfs->read(w->file, buf, FRAME_HDR, good_end, &got);
            if (rc) goto out;
            torn = got == FRAME_HDR && bb_get_le64(buf + 8) == w->salt;
        }
        if (torn) {
            info->truncated = size - good_end;
            bb_info("bundoc", "wal: recovery dropped %llu bytes of uncommitted or torn tail",
                    (unsigned long long)(size - good_end));
        }
        rc = w->vfs->truncate(w->file, good_end);
        if (rc == 0) rc = w->vfs->sync(w->file);
        if (rc) goto out;
    }
    w->end = good_end;
    w->alloc = good_end;
    w->last_crc = good_crc;
out:
    free(buf);
    free(pend);
    return rc;
}

static void *flusher_main(void *arg)
{
    struct wal *w = arg;
    pthread_mutex_lock(&w->sync_mu);
    while (!w->stop) {
        struct timespec ts;
        bb_time_deadline(CLOCK_REALTIME, (uint64_t)w->sync_ms, &ts);
        pthread_cond_timedwait(&w->sync_cv, &w->sync_mu, &ts);
        if (w->stop) break;
        if (w->written > w->synced && !w->syncing && !w->err) {
            uint64_t target = w->written;
            w->syncing = 1;
            pthread_mutex_unlock(&w->sync_mu);
            int rc = w->vfs->sync(w->file);
            pthread_mutex_lock(&w->sync_mu);
            w->syncing = 0;
            w->nsyncs++;
            if (rc) w->err = rc;
            else if (target > w->synced) w->synced = target;
            pthread_cond_broadcast(&w->sync_cv);
        }
    }
    pthread_mutex_unlock(&w->sync_mu);
    return NULL;
}

int wal_open(struct bdoc_vfs *vfs, const char *dir, struct pager *p, int durability,
             uint32_t sync_ms, struct wal **out, struct wal_open_info *info)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/wal", dir) >= sizeof path) return BB_EINVAL;
    struct wal *w = calloc(1, sizeof *w);
    if (!w) return BB_ENOMEM;
    w->vfs = vfs;
    w->pager = p;
    w->durability = durability;
    w->sync_ms = sync_ms ? sync_ms : 100;
    pthread_mutex_init(&w->idx_mu, NULL);
    pthread_mutex_init(&w->sync_mu, NULL);
    pthread_cond_init(&w->sync_cv, NULL);
    int rc = vfs->open(vfs, path, BDOC_VFS_CREATE, &w->file);
    if (rc == 0) rc = vfs->sync_dir(vfs, dir);
    if (rc == 0) rc = recover(w, info);
    if (rc) goto out;
    pager_set_source(p, source, w);
    pager_note_npages(p, info->npages);
    rc = pager_start(p);
    if (rc) goto out;
    if (durability == BDOC_DURABILITY_NORMAL) {
        if (pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
            rc = BB_ENOMEM;
            goto out;
        }
        w->flusher_on = 1;
    }
    *out = w;
    w = NULL;
out:
    if (w) {
        pager_set_source(p, NULL, NULL);
        wal_close(w);
    }
    return rc;
}

void wal_close(struct wal *w)
{
    if (!w) return;
    if (w->flusher_on) {
        pthread_mutex_lock(&w->sync_mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->sync_cv);
        pthread_mutex_unlock(&w->sync_mu);
        pthread_join(w->flusher, NULL);
    }
    if (w->file) {
        if (!w->err && w->durability != BDOC_DURABILITY_OFF && w->written > w->synced)
            (void)w->vfs->sync(w->file);
        w->vfs->close(w->file);
    }
    free(w->idx);
    pthread_mutex_destroy(&w->idx_mu);
    pthread_mutex_destroy(&w->sync_mu);
    pthread_cond_destroy(&w->sync_cv);
    free(w);
}

int wal_error(struct wal *w)
{
    pthread_mutex_lock(&w->sync_mu);
    int e = w->err;
    pthread_mutex_unlock(&w->sync_mu);
    return e;
}

void wal_set_error(struct wal *w, int err)
{
    pthread_mutex_lock(&w->sync_mu);
    if (!w->err) w->err = err;
    pthread_cond_broadcast(&w->sync_cv);
    pthread_mutex_unlock(&w->sync_mu);
}

/* Grows the file with zeros in 1 MiB steps ahead of the frames, so that commits overwrite blocks
 * that already exist: fdatasync then has no file size or block allocation to persist. Zeros never
 * pass the salt check, so they end a recovery scan like any stale frame. */
#define PREALLOC (1u << 20)
static int prealloc(struct wal *w, uint64_t need)
{
    if (need <= w->alloc) return 0;
    uint64_t target = (need + PREALLOC - 1) / PREALLOC * PREALLOC;
    static const uint8_t zeros[64 * 1024];
    while (w->alloc < target) {
        uint64_t n = target - w->alloc < sizeof zeros ? target - w->alloc : sizeof zeros;
        int rc = w->vfs->write(w->file, zeros, (size_t)n, w->alloc);
        if (rc) return rc;
        w->alloc += n;
    }
    return 0;
}

int wal_append(struct wal *w, uint64_t ts, uint64_t *lsn)
{
    int rc = wal_error(w);
    if (rc) return rc;
    /* pages made writable but left byte-for-byte unchanged need no frame */
    struct page *pages = pager_txn_pages(w->pager);
    size_t n = 0;
    for (struct page *g = pages; g; g = g->tnext)
        if (!g->orig || memcmp(g->orig, g->data, BDOC_PAGE_PAYLOAD) != 0) n++;
    if (n == 0) {
        *lsn = 0;
        return 0;
    }
    struct pager_meta m;
    pager_meta_get(w->pager, &m);
    size_t per = n < BATCH_FRAMES ? n : BATCH_FRAMES;
    uint8_t *buf = malloc(per * FRAME_SIZE);
    if (!buf) return BB_ENOMEM; /* not sticky: nothing written */
    uint64_t off = w->end;
    uint32_t chain = w->last_crc;
    size_t i = 0, inbuf = 0;
    struct pend *pend = malloc(n * sizeof *pend);
    if (!pend) {
        free(buf);
        return BB_ENOMEM;
    }
    rc = prealloc(w, off + n * FRAME_SIZE);
    if (rc) goto out;
    for (struct page *g = pages; g; g = g->tnext) {
        if (g->orig && memcmp(g->orig, g->data, BDOC_PAGE_PAYLOAD) == 0) continue;
        uint8_t *fh = buf + inbuf * FRAME_SIZE;
        memset(fh, 0, FRAME_HDR);
        bb_put_le32(fh, g->pgno);
        int last = i + 1 == n;
        bb_put_le32(fh + 4, last ? m.npages : 0);
        bb_put_le64(fh + 8, w->salt);
        bb_put_le64(fh + 16, last ? ts : 0);
        rc = pager_encode(w->pager, g->pgno, g->data, fh + FRAME_HDR);
        if (rc) goto out;
        chain = frame_crc(chain, fh, fh + FRAME_HDR);
        bb_put_le32(fh + 24, chain);
        pend[i].pgno = g->pgno;
        pend[i].off = off + i * FRAME_SIZE;
        inbuf++;
        i++;
        if (inbuf == per || last) {
            uint64_t at = off + (i - inbuf) * FRAME_SIZE;
            rc = w->vfs->write(w->file, buf, inbuf * FRAME_SIZE, at);
            if (rc) goto out;
            inbuf = 0;
        }
    }
    pthread_mutex_lock(&w->idx_mu);
    for (i = 0; i < n && rc == 0; i++) rc = idx_set(w, pend[i].pgno, pend[i].off);
    if (rc == 0) {
        w->end = off + n * FRAME_SIZE;
        w->last_crc = chain;
    }
    pthread_mutex_unlock(&w->idx_mu);
    if (rc) goto out;
    pthread_mutex_lock(&w->sync_mu);
    w->written += n * FRAME_SIZE;
    *lsn = w->written;
    pthread_mutex_unlock(&w->sync_mu);
out:
    if (rc) {
        bb_error("bundoc", "wal: append failed (%s); database now refuses writes",
                     bb_strerror(rc));
        wal_set_error(w, rc);
    }
    free(pend);
    free(buf);
    return rc;
}

static int sync_upto(struct wal *w, uint64_t lsn)
{
    pthread_mutex_lock(&w->sync_mu);
    while (w->synced < lsn && !w->err) {
        if (w->syncing) {
            pthread_cond_wait(&w->sync_cv, &w->sync_mu);
            continue;
        }
        uint64_t target = w->written;
        w->syncing = 1;
        pthread_mutex_unlock(&w->sync_mu);
        int rc = w->vfs->sync(w->file);
        pthread_mutex_lock(&w->sync_mu);
        w->syncing = 0;
        w->nsyncs++;
        if (rc) {
            bb_error("bundoc", "wal: fsync failed (%s); database now refuses writes",
                         bb_strerror(rc));
            w->err = rc;
        } else if (target > w->synced) {
            w->synced = target;
        }
        pthread_cond_broadcast(&w->sync_cv);
    }
    int rc = w->synced >= lsn ? 0 : w->err;
    pthread_mutex_unlock(&w->sync_mu);
    return rc;
}

int wal_sync_to(struct wal *w, uint64_t lsn)
{
    if (w->durability != BDOC_DURABILITY_FULL) return wal_error(w);
    return sync_upto(w, lsn);
}

int wal_checkpoint(struct wal *w, uint64_t last_ts)
{
    int rc = wal_error(w);
    if (rc) return rc;
    uint64_t target;
    pthread_mutex_lock(&w->sync_mu);
    target = w->written;
    pthread_mutex_unlock(&w->sync_mu);
    rc = sync_upto(w, target);
    if (rc) return rc;
    uint8_t *frame = malloc(BDOC_PAGE_SIZE);
    if (!frame) return BB_ENOMEM;
    for (size_t pg = 1; pg < w->idx_cap; pg++) {
        uint64_t off = w->idx[pg];
        if (!off) continue;
        size_t got = 0;
        rc = w->vfs->read(w->file, frame, BDOC_PAGE_SIZE, off + FRAME_HDR, &got);
        if (rc == 0 && got != BDOC_PAGE_SIZE) rc = BB_EIO;
        /* never copy a frame that does not verify: data.db keeps its old image instead */
        if (rc == 0) rc = pager_verify(w->pager, (uint32_t)pg, frame);
        if (rc == 0) rc = pager_write_frame(w->pager, (uint32_t)pg, frame);
        if (rc) goto out;
    }
    rc = pager_write_meta_ts(w->pager, last_ts);
    if (rc == 0) rc = pager_sync(w->pager);
    if (rc) goto out;
    pthread_mutex_lock(&w->idx_mu);
    rc = reset_file(w, 0);
    pthread_mutex_unlock(&w->idx_mu);
    if (rc == 0) w->ncheckpoints++;
out:
    if (rc) {
        bb_error("bundoc", "checkpoint failed (%s); database now refuses writes",
                     bb_strerror(rc));
        wal_set_error(w, rc);
    }
    free(frame);
    return rc;
}

int wal_shrink(struct wal *w)
{
    int rc = wal_error(w);
    if (rc) return rc;
    pthread_mutex_lock(&w->idx_mu);
    if (w->end == WAL_HDR) {
        rc = w->vfs->truncate(w->file, WAL_HDR);
        if (rc == 0) rc = w->vfs->sync(w->file);
        if (rc == 0) w->alloc = WAL_HDR;
    }
    pthread_mutex_unlock(&w->idx_mu);
    return rc;
}

uint64_t wal_size(struct wal *w)
{
    pthread_mutex_lock(&w->idx_mu);
    uint64_t e = w->end;
    pthread_mutex_unlock(&w->idx_mu);
    return e;
}

void wal_counters(struct wal *w, uint64_t *syncs, uint64_t *checkpoints)
{
    pthread_mutex_lock(&w->sync_mu);
    *syncs = w->nsyncs;
    *checkpoints = w->ncheckpoints;
    pthread_mutex_unlock(&w->sync_mu);
}
