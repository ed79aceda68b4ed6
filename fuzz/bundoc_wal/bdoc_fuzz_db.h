/* bdoc_fuzz_db.h — shared by the bundoc on-disk fuzz targets (fuzz_bundoc_wal, fuzz_bundoc_page):
 * an in-memory VFS (so every input is a fresh database without touching the disk), the frame
 * layouts written with valid checksums (so inputs can reach the decoders behind them), and one
 * workload that opens the database and reads and writes through every layer.
 *
 * Input modes (first byte, bit 0):
 *   0  raw: the rest of the input is the file exactly as stored (checksums included), so the
 *      checksum and header checks themselves are fuzzed;
 *   1  repaired: the rest is page payloads (and for the WAL, frame headers) that the harness wraps
 *      in frames with correct checksums, page numbers and salts, so the fuzzer reaches the meta
 *      page, B+tree node, overflow chain, catalog and document decoders as read from disk.
 * Whatever the bytes, opening, reading, writing and closing must end in 0 or an error code:
 * never a crash, a leak, an abort or a hang. */
#ifndef BDOC_FUZZ_DB_H
#define BDOC_FUZZ_DB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_err.h"
#include "bb_log.h"
#include "bundoc.h"
#include "pager.h"
#include "vfs.h"

#define FZ_MAX_FILE (8u << 20) /* bytes per in-memory file: beyond it writes are ENOSPACE */
#define FZ_NFILES 4

struct fz_mem {
    char path[512];
    uint8_t *buf;
    size_t len;
    int used;
};

static struct fz_mem fz_files[FZ_NFILES];

struct bdoc_vfs_file {
    struct fz_mem *m;
};

static struct fz_mem *fz_find(const char *path, int create)
{
    for (int i = 0; i < FZ_NFILES; i++)
        if (fz_files[i].used && !strcmp(fz_files[i].path, path)) return &fz_files[i];
    if (!create) return NULL;
    for (int i = 0; i < FZ_NFILES; i++)
        if (!fz_files[i].used) {
            fz_files[i].used = 1;
            snprintf(fz_files[i].path, sizeof fz_files[i].path, "%s", path);
            return &fz_files[i];
        }
    return NULL;
}

static int fz_resize(struct fz_mem *m, size_t n)
{
    if (n > FZ_MAX_FILE) return BB_ENOSPACE;
    if (n > m->len) {
        uint8_t *nb = realloc(m->buf, n);
        if (!nb) return BB_ENOMEM;
        memset(nb + m->len, 0, n - m->len);
        m->buf = nb;
    }
    m->len = n;
    return 0;
}

static int fz_open(struct bdoc_vfs *vfs, const char *path, int flags, struct bdoc_vfs_file **out)
{
    (void)vfs;
    struct fz_mem *m = fz_find(path, flags & BDOC_VFS_CREATE);
    if (!m) return BB_ENOTFOUND;
    struct bdoc_vfs_file *f = calloc(1, sizeof *f);
    if (!f) return BB_ENOMEM;
    f->m = m;
    *out = f;
    return 0;
}
static int fz_close(struct bdoc_vfs_file *f)
{
    free(f);
    return 0;
}
static int fz_read(struct bdoc_vfs_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
    *got = 0;
    if (off >= f->m->len) return 0;
    size_t k = f->m->len - (size_t)off < n ? f->m->len - (size_t)off : n;
    memcpy(buf, f->m->buf + off, k);
    *got = k;
    return 0;
}
static int fz_write(struct bdoc_vfs_file *f, const void *buf, size_t n, uint64_t off)
{
    if (off > FZ_MAX_FILE || n > FZ_MAX_FILE - off) return BB_ENOSPACE;
    if (off + n > f->m->len) {
        int rc = fz_resize(f->m, (size_t)(off + n));
        if (rc) return rc;
    }
    memcpy(f->m->buf + off, buf, n);
    return 0;
}
static int fz_sync(struct bdoc_vfs_file *f)
{
    (void)f;
    return 0;
}
static int fz_truncate(struct bdoc_vfs_file *f, uint64_t size)
{
    if (size > FZ_MAX_FILE) return BB_ENOSPACE;
    if (size < f->m->len) {
        f->m->len = (size_t)size;
        return 0;
    }
    return fz_resize(f->m, (size_t)size);
}
static int fz_size(struct bdoc_vfs_file *f, uint64_t *out)
{
    *out = f->m->len;
    return 0;
}
static int fz_lock(struct bdoc_vfs_file *f)
{
    (void)f;
    return 0;
}
static int fz_sync_dir(struct bdoc_vfs *vfs, const char *dir)
{
    (void)vfs;
    (void)dir;
    return 0;
}

static struct bdoc_vfs fz_vfs = {fz_open, fz_close, fz_read, fz_write, fz_sync,
                                 fz_truncate, fz_size, fz_lock, fz_sync_dir, NULL, NULL, NULL, NULL};

static void fz_reset(void)
{
    for (int i = 0; i < FZ_NFILES; i++) {
        free(fz_files[i].buf);
        memset(&fz_files[i], 0, sizeof fz_files[i]);
    }
}

/* bdoc_open mkdirs its directory on the real file system: one empty directory per process. */
static const char *fz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/bdoc-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1)); /* corrupt inputs log errors by design */
    }
    return dir;
}

static void fz_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void fz_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A plain page frame (pager.h layout) for payload (BDOC_PAGE_PAYLOAD bytes, or fewer: zero
 * padded) at page pgno, with a correct crc32c. */
static void fz_frame(uint32_t pgno, const uint8_t *payload, size_t n, uint8_t *frame)
{
    memset(frame, 0, BDOC_PAGE_SIZE);
    frame[4] = 1;
    fz_put64(frame + 8, pgno);
    memcpy(frame + BDOC_PAGE_HDR, payload, n < BDOC_PAGE_PAYLOAD ? n : BDOC_PAGE_PAYLOAD);
    fz_put32(frame, pager_crc32c(0, frame + 4, BDOC_PAGE_SIZE - 4));
}

/* Stores bytes as the file dir/name. */
static void fz_store(const char *name, const uint8_t *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    struct fz_mem *m = fz_find(path, 1);
    if (!m || n > FZ_MAX_FILE || fz_resize(m, n) != 0) abort();
    if (n) memcpy(m->buf, data, n);
}

/* every error is acceptable; only the codes that mean "bug" are not */
#define fz_expect(rc) fz_expect_at((rc), __LINE__)
static void fz_expect_at(int rc, int line)
{
    if (rc == BB_EINTERNAL) {
        fprintf(stderr, "bdoc_fuzz_db.h:%d: BB_EINTERNAL\n", line);
        abort();
    }
}

/* Opens the database built from the in-memory files, reads everything reachable (bounded) and
 * writes a little, then closes. */
static void fz_workload(void)
{
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.durability = BDOC_DURABILITY_OFF;
    o.vfs = &fz_vfs;
    o.cache_pages = 64;
    o.max_doc_size = 1u << 20;
    struct bdoc_db *db = NULL;
    int rc = bdoc_open(fz_dir(), &o, &db);
    int verbose = getenv("BDOC_FUZZ_VERBOSE") != NULL; /* for checking what a seed reaches */
    if (verbose) fprintf(stderr, "open: %d\n", rc);
    fz_expect(rc);
    if (rc) {
        if (db) abort();
        return;
    }
    struct bdoc_txn *t = NULL;
    json_t *names = NULL;
    if (bdoc_begin(db, BDOC_TXN_READONLY, &t) == 0) {
        fz_expect(rc = bdoc_collection_list(t, NULL, &names));
        size_t i;
        json_t *nm;
        json_array_foreach(names, i, nm) {
            if (i >= 4) break;
            const char *c = json_string_value(nm);
            json_t *def = NULL, *docs = NULL;
            char *next = NULL, *txt = NULL;
            fz_expect(bdoc_collection_get(t, c, &def));
            json_decref(def);
            fz_expect(rc = bdoc_list(t, c, NULL, NULL, 50, &docs, &next));
            if (verbose) fprintf(stderr, "collection %s: list %d, %zu documents\n", c, rc,
                                 json_array_size(docs));
            size_t k;
            json_t *d;
            json_array_foreach(docs, k, d) {
                const char *id = json_string_value(json_object_get(d, "_id"));
                json_t *g = NULL;
                char *gt = NULL;
                if (!id) continue;
                fz_expect(bdoc_get(t, c, id, &g));
                json_decref(g);
                fz_expect(bdoc_get_json(t, c, id, &gt, NULL));
                free(gt);
            }
            json_decref(docs);
            free(next);
            next = NULL;
            size_t len = 0, cnt = 0;
            fz_expect(bdoc_list_json(t, c, NULL, NULL, 50, &txt, &len, &cnt, &next));
            free(txt);
            free(next);
        }
        bdoc_rollback(t);
    }
    /* a write: through a possibly corrupt tree, the catalog and the WAL */
    if (bdoc_begin(db, 0, &t) == 0) {
        const char *c = json_is_string(json_array_get(names, 0))
                            ? json_string_value(json_array_get(names, 0))
                            : "fz";
        if (!json_array_size(names)) fz_expect(bdoc_collection_create(t, c));
        json_t *doc = json_pack("{s:s,s:i,s:s}", "_id", "fz-new", "n", 1, "s", "payload");
        json_t *out = NULL;
        if (doc) fz_expect(bdoc_insert(t, c, doc, &out));
        json_decref(out);
        json_decref(doc);
        fz_expect(bdoc_delete(t, c, "fz-absent"));
        rc = bdoc_commit(t);
        if (verbose) fprintf(stderr, "write: %d\n", rc);
        fz_expect(rc);
    }
    json_decref(names);
    fz_expect(bdoc_close(db));
}

#endif
