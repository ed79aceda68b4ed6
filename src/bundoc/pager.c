/* pager.c — page frames, data.db, buffer pool (see pager.h for the frame layout).
 *
 * Meta page payload (page 0), little-endian:
 *   [0]       type 'M'
 *   [1..8)    "BUNDOC1"
 *   [8..12)   format version (1)
 *   [12..16)  page size (4096)
 *   [16..20)  B+tree root page (0: empty)
 *   [20..24)  free list head (0: none); a free page holds type 4 at [0] and the next free page
 *             number at [4..8)
 *   [24..28)  page count (pages 0..count-1 exist in data.db or in the WAL)
 *   [28..32)  free page count
 *   [32..40)  last commit timestamp as of the last checkpoint (stamped by the checkpoint only)
 *   [40]      1 if the database is encrypted
 */
#include "pager.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_crypto.h"
#include "bb_bytes.h"
#include "bb_err.h"
#include "bb_log.h"

#define MODE_PLAIN 1
#define MODE_GCM 2

struct pager {
    struct bdoc_vfs *vfs;
    struct bdoc_vfs_file *file;
    int encrypted;
    uint8_t key[BDOC_KEY_LEN];
    pthread_mutex_t mu;
    struct page **hash;
    size_t hcap;             /* power of two */
    struct page **all;       /* every cached page, for the clock */
    size_t nall, capall, hand;
    size_t target;
    struct page *txn;        /* txn-dirty list */
    struct page *meta;       /* page 0, pinned for the pager's life */
    pager_source_fn src;
    void *src_ctx;
    uint32_t npages;         /* page count including the current write transaction; the meta
                                page's copy is only stamped by checkpoints (commit frames carry
                                the count, recovery takes the larger) */
    uint32_t npages0;        /* at the start of the write transaction */
    uint8_t *scratch;        /* BDOC_PAGE_SIZE, used under mu */
    struct page *spare;      /* evicted pages kept for reuse (linked by hnext) */
    size_t nspare;
    uint32_t last_miss;      /* sequential detection for read-ahead */
    uint32_t ra_next;        /* first page after the last read-ahead window */
    uint8_t *ra_buf;         /* READAHEAD frames, used under mu */
    uint8_t *map;            /* read-only shared mapping of data.db (plaintext only), or NULL */
    size_t map_len;
    _Atomic uint64_t file_pages; /* pages data.db holds (the mapping is read below it only) */
    _Atomic uint64_t *verified;  /* bit per page: its mapped frame verified since the last write */
    struct pager_unpin_note *_Atomic deferred; /* nowait unpins that found mu busy */
};

/* Non-waiting reads (pager_set_nowait): a pin released while mu is busy is noted here and applied
 * by the next thread that takes mu (pager_get), so the releasing thread never waits. */
struct pager_unpin_note {
    struct pager_unpin_note *next;
    struct page *pg;
};
static _Thread_local int pager_nowait_;
static _Thread_local unsigned pager_nowait_budget_; /* pages this thread may still get */

void pager_set_nowait(unsigned max_pages)
{
    pager_nowait_ = max_pages > 0;
    pager_nowait_budget_ = max_pages;
}

/* Applies the deferred unpins; mu held. */
static void unpins_apply(struct pager *p)
{
    struct pager_unpin_note *d = atomic_exchange(&p->deferred, NULL);
    while (d) {
        struct pager_unpin_note *next = d->next;
        d->pg->pin--;
        free(d);
        d = next;
    }
}

/* Read-ahead: a miss on the page right after the previous miss (or right after the previous
 * read-ahead window) reads the next READAHEAD pages of data.db with one pread, as a scan over
 * leaves written in order does. Pages already cached or newer in the WAL are skipped; a page
 * that does not verify is simply not cached (its own load reports it). */
#define READAHEAD 16
/* Address space reserved for the mapping of data.db (16 GiB; a process can hold thousands of
 * databases); pages beyond it are read with pread. */
#define MAP_RESERVE ((size_t)1 << 34)

/* ---- little-endian helpers ---- */

/* ---- crc32c ---- */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw_ok;

/* Hardware CRC32C runs three independent streams at once (the instruction's latency is three
 * times its throughput, so one stream uses a third of the unit): a block of 3 * CRC_LANE bytes is
 * checksummed as three lanes, lane 1 and 2 starting from a zero register, and the registers are
 * combined with the linear "append CRC_LANE zero bytes" operator, crc_shift (a 32x32 GF(2) matrix
 * applied by bytes: crc_shift_tab). A page's 4092 checksummed bytes are one block plus 12. Before
 * this the per-page check was a fifth of a full scan that misses the cache on every page. */
#define CRC_LANE 1360u
#if defined(__x86_64__)
static uint32_t crc_shift_tab[4][256];

__attribute__((target("sse4.2"))) static uint32_t crc_zeros_hw(uint32_t reg, size_t n)
{
    uint64_t c = reg;
    for (size_t i = 0; i < n / 8; i++) c = __builtin_ia32_crc32di(c, 0);
    return (uint32_t)c;
}

static uint32_t crc_shift(uint32_t r)
{
    return crc_shift_tab[0][r & 0xff] ^ crc_shift_tab[1][(r >> 8) & 0xff] ^
           crc_shift_tab[2][(r >> 16) & 0xff] ^ crc_shift_tab[3][r >> 24];
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw_ok = __builtin_cpu_supports("sse4.2");
    if (crc_hw_ok)
        for (int k = 0; k < 4; k++)
            for (uint32_t v = 0; v < 256; v++) crc_shift_tab[k][v] = crc_zeros_hw(v << (8 * k), CRC_LANE);
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 3 * CRC_LANE) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < CRC_LANE; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + CRC_LANE + i, 8);
            memcpy(&v2, p + 2 * CRC_LANE + i, 8);
            c = __builtin_ia32_crc32di(c, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c = crc_shift((uint32_t)c) ^ (uint32_t)c1;
        c = crc_shift((uint32_t)c) ^ (uint32_t)c2;
        p += 3 * CRC_LANE;
        n -= 3 * CRC_LANE;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t pager_crc32c(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw_ok) return ~crc_hw(crc, p, n);
#endif
    while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- codec ---- */
static int gcm(const uint8_t *key, int enc, const uint8_t *nonce, const uint8_t *aad, size_t aadn,
               const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
    int rc = BB_EIO, len = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return BB_ENOMEM;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1) goto out;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) goto out;
    if (EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1) goto out;
    if (EVP_CipherUpdate(c, NULL, &len, aad, (int)aadn) != 1) goto out;
    if (EVP_CipherUpdate(c, out, &len, in, (int)n) != 1) goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) goto out;
    if (EVP_CipherFinal_ex(c, out + len, &len) != 1) goto out;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

int pager_encode(struct pager *p, uint32_t pgno, const uint8_t *payload, uint8_t *frame)
{
    memset(frame, 0, BDOC_PAGE_HDR);
    bb_put_le64(frame + 8, pgno);
    if (!p->encrypted) {
        frame[4] = MODE_PLAIN;
        memcpy(frame + BDOC_PAGE_HDR, payload, BDOC_PAGE_PAYLOAD);
        bb_put_le32(frame, pager_crc32c(0, frame + 4, BDOC_PAGE_SIZE - 4));
        return 0;
    }
    frame[4] = MODE_GCM;
    int rc = bb_random_bytes(frame + 16, 12);
    if (rc) return rc;
    return gcm(p->key, 1, frame + 16, frame + 4, 12, payload, BDOC_PAGE_PAYLOAD,
               frame + BDOC_PAGE_HDR, frame + 28);
}

static int decode_impl(struct pager *p, uint32_t pgno, const uint8_t *frame, uint8_t *payload)
{
    if (bb_get_le64(frame + 8) != pgno) return BB_EIO;
    if (frame[4] == MODE_PLAIN) {
        if (p->encrypted) return BB_EAUTH;
        if (bb_get_le32(frame) != pager_crc32c(0, frame + 4, BDOC_PAGE_SIZE - 4)) return BB_EIO;
        if (payload && payload != frame + BDOC_PAGE_HDR)
            memcpy(payload, frame + BDOC_PAGE_HDR, BDOC_PAGE_PAYLOAD);
        return 0;
    }
    if (frame[4] == MODE_GCM) {
        if (!p->encrypted) return BB_EAUTH;
        uint8_t tag[16];
        memcpy(tag, frame + 28, 16);
        uint8_t *tmp = payload ? payload : malloc(BDOC_PAGE_PAYLOAD);
        if (!tmp) return BB_ENOMEM;
        int rc = gcm(p->key, 0, frame + 16, frame + 4, 12, frame + BDOC_PAGE_HDR,
                     BDOC_PAGE_PAYLOAD, tmp, tag);
        if (!payload) free(tmp);
        return rc;
    }
    return BB_EIO;
}

int pager_decode(struct pager *p, uint32_t pgno, const uint8_t *frame, uint8_t *payload)
{
    return decode_impl(p, pgno, frame, payload);
}

int pager_verify(struct pager *p, uint32_t pgno, const uint8_t *frame)
{
    return decode_impl(p, pgno, frame, NULL);
}

int pager_is_encrypted(const struct pager *p) { return p->encrypted; }

void pager_key_check(const struct pager *p, const uint8_t *salt, size_t n, uint8_t out[16])
{
    memset(out, 0, 16);
    if (!p->encrypted) return;
    uint8_t mac[BB_SHA256_LEN];
    bb_hmac_sha256(p->key, BDOC_KEY_LEN, salt, n, mac);
    memcpy(out, mac, 16);
}

/* ---- pool ---- */
static size_t hslot(const struct pager *p, uint32_t pgno)
{
    return (size_t)((pgno * 2654435761u) & (p->hcap - 1));
}

static struct page *hfind(struct pager *p, uint32_t pgno)
{
    for (struct page *g = p->hash[hslot(p, pgno)]; g; g = g->hnext)
        if (g->pgno == pgno) return g;
    return NULL;
}

static void page_free_mem(struct page *g)
{
    if (!g) return;
    free(g->orig);
    free(g);
}

static void premove(struct pager *p, struct page *g)
{
    struct page **pp = &p->hash[hslot(p, g->pgno)];
    while (*pp && *pp != g) pp = &(*pp)->hnext;
    if (*pp) *pp = g->hnext;
    for (size_t i = 0; i < p->nall; i++) {
        if (p->all[i] == g) {
            p->all[i] = p->all[--p->nall];
            break;
        }
    }
    page_free_mem(g);
}

/* Clock with second chance. The sweep per call is bounded: when most cached pages are pinned or
 * dirty (a large write transaction), the pool grows past its target instead of rescanning the
 * whole pool on every miss. */
#define EVICT_SWEEP 512
static void evict_some(struct pager *p)
{
    size_t scanned = 0;
    while (p->nall > p->target && scanned < EVICT_SWEEP) {
        if (p->hand >= p->nall) p->hand = 0;
        struct page *g = p->all[p->hand];
        scanned++;
        if (g->pin > 0 || g->txn_dirty) {
            p->hand++;
            continue;
        }
        if (g->ref) {
            g->ref = 0;
            p->hand++;
            continue;
        }
        struct page **pp = &p->hash[hslot(p, g->pgno)];
        while (*pp && *pp != g) pp = &(*pp)->hnext;
        if (*pp) *pp = g->hnext;
        p->all[p->hand] = p->all[--p->nall];
        if (p->nspare < 64 && !g->orig) {
            g->hnext = p->spare;
            p->spare = g;
            p->nspare++;
        } else {
            page_free_mem(g);
        }
    }
}

static int pinsert(struct pager *p, uint32_t pgno, struct page **out)
{
    evict_some(p);
    if (p->nall == p->capall) {
        size_t nc = p->capall ? p->capall * 2 : 64;
        struct page **na = realloc(p->all, nc * sizeof *na);
        if (!na) return BB_ENOMEM;
        p->all = na;
        p->capall = nc;
    }
    if (p->nall * 2 >= p->hcap) {
        size_t nc = p->hcap * 2;
        struct page **nh = calloc(nc, sizeof *nh);
        if (!nh) return BB_ENOMEM;
        struct page **old = p->hash;
        size_t oc = p->hcap;
        p->hash = nh;
        p->hcap = nc;
        for (size_t i = 0; i < oc; i++) {
            struct page *g = old[i];
            while (g) {
                struct page *n = g->hnext;
                size_t s = hslot(p, g->pgno);
                g->hnext = p->hash[s];
                p->hash[s] = g;
                g = n;
            }
        }
        free(old);
    }
    /* the buffer is a whole frame so that a load verifies it in place; data is its payload part.
     * It is not zeroed: a load overwrites it, pager_alloc clears it. Evicted pages are recycled. */
    struct page *g = p->spare;
    if (g) {
        p->spare = g->hnext;
        p->nspare--;
    } else {
        g = malloc(sizeof *g + BDOC_PAGE_SIZE);
        if (!g) return BB_ENOMEM;
    }
    memset(g, 0, sizeof *g);
    g->data = (uint8_t *)(g + 1) + BDOC_PAGE_HDR;
    g->pgno = pgno;
    size_t s = hslot(p, pgno);
    g->hnext = p->hash[s];
    p->hash[s] = g;
    p->all[p->nall++] = g;
    *out = g;
    return 0;
}

/* Reads the newest committed image of pgno into payload. Called with mu held. */
/* Reads the frame of pgno into frame (BDOC_PAGE_SIZE bytes: the page's own buffer, whose payload
 * part is the page data) and verifies/decrypts it in place, so a miss copies nothing. */
static int load(struct pager *p, uint32_t pgno, struct page *g)
{
    uint8_t *frame = g->data - BDOC_PAGE_HDR;
    uint8_t *payload = frame + BDOC_PAGE_HDR;
    int rc = 0;
    int have = 0;
    if (p->src) {
        have = p->src(p->src_ctx, pgno, frame);
        if (have < 0) return have;
    }
    if (!have && p->map && pgno > 0 && pgno < atomic_load(&p->file_pages) &&
        ((size_t)pgno + 1) * BDOC_PAGE_SIZE <= p->map_len) {
        /* read in place: the page's data is the mapped frame's payload, verified here once per
         * load (no copy out of the OS page cache); a write makes it private first */
        const uint8_t *mf = p->map + (size_t)pgno * BDOC_PAGE_SIZE;
        uint64_t bit = (uint64_t)1 << (pgno % 64);
        if (!(atomic_load(&p->verified[pgno / 64]) & bit)) {
            rc = pager_verify(p, pgno, mf);
            if (rc) {
                bb_error("bundoc", "page %u: bad frame (%s)", pgno, bb_strerror(rc));
                return rc;
            }
            atomic_fetch_or(&p->verified[pgno / 64], bit);
        }
        g->data = (uint8_t *)mf + BDOC_PAGE_HDR;
        g->mapped = 1;
        return 0;
    }
    if (!have) {
        size_t got = 0;
        rc = p->vfs->read(p->file, frame, BDOC_PAGE_SIZE, (uint64_t)pgno * BDOC_PAGE_SIZE, &got);
        if (rc) return rc;
        if (got != BDOC_PAGE_SIZE) return BB_EIO;
    }
    rc = pager_decode(p, pgno, frame, payload);
    if (rc) bb_error("bundoc", "page %u: bad frame (%s)", pgno, bb_strerror(rc));
    return rc;
}

static uint32_t meta_npages(struct pager *p) { return p->npages; }

/* Read-ahead straight into the pool's page buffers with one vectored read (pages already cached
 * read into the scratch frame and are left as they are): the window is copied once, by the
 * kernel, instead of into a staging buffer and again into each page. */
static void readahead_v(struct pager *p, uint32_t from, uint32_t n)
{
    struct page *pg[READAHEAD];
    uint8_t *bufs[READAHEAD];
    for (uint32_t i = 0; i < n; i++) {
        pg[i] = NULL;
        bufs[i] = p->scratch;
        if (hfind(p, from + i)) continue;
        if (pinsert(p, from + i, &pg[i])) {
            pg[i] = NULL;
            n = i; /* out of memory: read what was set up */
            break;
        }
        pg[i]->pin = 1; /* not evicted while the window is being set up */
        bufs[i] = pg[i]->data - BDOC_PAGE_HDR;
    }
    size_t got = 0;
    if (n == 0 || p->vfs->readv(p->file, bufs, (int)n, BDOC_PAGE_SIZE, (uint64_t)from * BDOC_PAGE_SIZE,
                                &got) != 0)
        got = 0;
    uint32_t ok = (uint32_t)(got / BDOC_PAGE_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        struct page *g = pg[i];
        if (!g) continue;
        uint8_t *frame = bufs[i];
        int have = 0;
        if (i < ok && p->src) have = p->src(p->src_ctx, from + i, frame);
        if (i >= ok || have < 0 || pager_decode(p, from + i, frame, g->data) != 0) {
            premove(p, g);
            continue;
        }
        g->pin = 0;
        g->ref = 1; /* one sweep of the clock, as a page just read */
    }
    p->ra_next = from + ok;
}

static void readahead(struct pager *p, uint32_t from)
{
    uint32_t end = meta_npages(p);
    if (from >= end || p->map) return; /* mapped: the kernel reads ahead, pages load in place */
    uint32_t n = end - from < READAHEAD ? end - from : READAHEAD;
    if (p->vfs->readv) {
        readahead_v(p, from, n);
        return;
    }
    if (!p->ra_buf && !(p->ra_buf = malloc((size_t)READAHEAD * BDOC_PAGE_SIZE))) return;
    size_t got = 0;
    if (p->vfs->read(p->file, p->ra_buf, (size_t)n * BDOC_PAGE_SIZE,
                     (uint64_t)from * BDOC_PAGE_SIZE, &got) != 0)
        return;
    n = (uint32_t)(got / BDOC_PAGE_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pg = from + i;
        if (hfind(p, pg)) continue;
        struct page *g = NULL;
        if (pinsert(p, pg, &g)) return;
        uint8_t *frame = g->data - BDOC_PAGE_HDR;
        int have = 0;
        if (p->src) have = p->src(p->src_ctx, pg, frame);
        if (have == 0) memcpy(frame, p->ra_buf + (size_t)i * BDOC_PAGE_SIZE, BDOC_PAGE_SIZE);
        if (have < 0 || pager_decode(p, pg, frame, g->data) != 0) {
            premove(p, g);
            continue;
        }
        g->pin = 0;
        g->ref = 1; /* one sweep of the clock, as a page just read */
    }
    p->ra_next = from + n;
}

int pager_get(struct pager *p, uint32_t pgno, struct page **out)
{
    *out = NULL;
    if (!pager_nowait_) pthread_mutex_lock(&p->mu);
    else if (pager_nowait_budget_ == 0 || pthread_mutex_trylock(&p->mu) != 0)
        return BB_EBUSY; /* a long read (large value), or a load holds the mutex */
    else pager_nowait_budget_--;
    unpins_apply(p);
    int rc = 0;
    struct page *g = hfind(p, pgno);
    if (g) {
        g->pin++;
        g->ref = 1;
        *out = g;
        goto out;
    }
    if (pager_nowait_) { /* would read from disk */
        rc = BB_EBUSY;
        goto out;
    }
    if (p->meta && pgno >= meta_npages(p)) {
        rc = BB_EIO;
        goto out;
    }
    rc = pinsert(p, pgno, &g);
    if (rc) goto out;
    rc = load(p, pgno, g);
    if (rc) {
        premove(p, g);
        goto out;
    }
    g->pin = 1;
    g->ref = 1;
    *out = g;
    if (pgno > 1 && (pgno == p->last_miss + 1 || pgno == p->ra_next)) readahead(p, pgno + 1);
    p->last_miss = pgno;
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pager_unpin(struct pager *p, struct page *pg)
{
    if (!pg) return;
    if (pager_nowait_ && pthread_mutex_trylock(&p->mu) != 0) {
        struct pager_unpin_note *d = malloc(sizeof *d);
        if (d) {
            d->pg = pg;
            d->next = atomic_load(&p->deferred);
            while (!atomic_compare_exchange_weak(&p->deferred, &d->next, d)) {
            }
            return;
        }
        pthread_mutex_lock(&p->mu); /* out of memory: wait after all */
    } else if (!pager_nowait_) {
        pthread_mutex_lock(&p->mu);
    }
    pg->pin--;
    pthread_mutex_unlock(&p->mu);
}

void pager_txn_begin(struct pager *p)
{
    p->txn = NULL;
    p->npages0 = p->npages;
}

int pager_make_writable(struct pager *p, struct page *pg)
{
    if (pg->txn_dirty) return 0;
    if (pg->mapped) { /* into the page's own buffer (writers run alone: no reader sees the swap) */
        uint8_t *own = (uint8_t *)(pg + 1) + BDOC_PAGE_HDR;
        memcpy(own, pg->data, BDOC_PAGE_PAYLOAD);
        pg->data = own;
        pg->mapped = 0;
    }
    pg->orig = malloc(BDOC_PAGE_PAYLOAD);
    if (!pg->orig) return BB_ENOMEM;
    memcpy(pg->orig, pg->data, BDOC_PAGE_PAYLOAD);
    pthread_mutex_lock(&p->mu);
    pg->txn_dirty = 1;
    pg->pin++;
    pg->tnext = p->txn;
    p->txn = pg;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int pager_alloc(struct pager *p, struct page **out)
{
    *out = NULL;
    int rc = pager_make_writable(p, p->meta);
    if (rc) return rc;
    uint8_t *m = p->meta->data;
    uint32_t head = bb_get_le32(m + 20);
    struct page *g = NULL;
    if (head) {
        rc = pager_get(p, head, &g);
        if (rc) return rc;
        if (g->data[0] != BDOC_PT_FREE) {
            pager_unpin(p, g);
            bb_error("bundoc", "free list page %u is not free", head);
            return BB_EIO;
        }
        rc = pager_make_writable(p, g);
        if (rc) {
            pager_unpin(p, g);
            return rc;
        }
        bb_put_le32(m + 20, bb_get_le32(g->data + 4));
        bb_put_le32(m + 28, bb_get_le32(m + 28) - 1);
        memset(g->data, 0, BDOC_PAGE_PAYLOAD);
        g->checked = 0;
        *out = g;
        return 0;
    }
    uint32_t pgno = p->npages;
    if (pgno == UINT32_MAX) return BB_ENOSPACE;
    pthread_mutex_lock(&p->mu);
    rc = pinsert(p, pgno, &g);
    if (rc == 0) {
        memset(g->data, 0, BDOC_PAGE_PAYLOAD);
        g->pin = 2; /* caller + txn */
        g->txn_dirty = 1;
        g->orig = NULL;
        g->tnext = p->txn;
        p->txn = g;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc) return rc;
    p->npages = pgno + 1;
    *out = g;
    return 0;
}

int pager_free(struct pager *p, uint32_t pgno)
{
    if (pgno == 0) return BB_EINVAL;
    struct page *g = NULL;
    int rc = pager_make_writable(p, p->meta);
    if (rc) return rc;
    rc = pager_get(p, pgno, &g);
    if (rc) return rc;
    rc = pager_make_writable(p, g);
    if (rc == 0) {
        uint8_t *m = p->meta->data;
        memset(g->data, 0, BDOC_PAGE_PAYLOAD);
        g->checked = 0;
        g->data[0] = BDOC_PT_FREE;
        bb_put_le32(g->data + 4, bb_get_le32(m + 20));
        bb_put_le32(m + 20, pgno);
        bb_put_le32(m + 28, bb_get_le32(m + 28) + 1);
    }
    pager_unpin(p, g);
    return rc;
}

struct page *pager_txn_pages(struct pager *p) { return p->txn; }

void pager_txn_end(struct pager *p, int commit)
{
    pthread_mutex_lock(&p->mu);
    struct page *g = p->txn;
    p->txn = NULL;
    if (!commit) p->npages = p->npages0;
    while (g) {
        struct page *n = g->tnext;
        g->tnext = NULL;
        g->txn_dirty = 0;
        g->pin--;
        if (commit) {
            free(g->orig);
            g->orig = NULL;
        } else if (g->orig) {
            memcpy(g->data, g->orig, BDOC_PAGE_PAYLOAD);
            g->checked = 0;
            free(g->orig);
            g->orig = NULL;
        } else {
            /* a page that did not exist before the transaction: forget it; pins held by the
             * aborted writer were already released */
            if (g->pin <= 0) premove(p, g);
        }
        g = n;
    }
    pthread_mutex_unlock(&p->mu);
}

int pager_meta_get(struct pager *p, struct pager_meta *mm)
{
    const uint8_t *m = p->meta->data;
    mm->root = bb_get_le32(m + 16);
    mm->freelist = bb_get_le32(m + 20);
    mm->npages = p->npages;
    mm->nfree = bb_get_le32(m + 28);
    mm->last_ts = bb_get_le64(m + 32);
    return 0;
}

int pager_set_root(struct pager *p, uint32_t root)
{
    int rc = pager_make_writable(p, p->meta);
    if (rc) return rc;
    bb_put_le32(p->meta->data + 16, root);
    return 0;
}

int pager_write_frame(struct pager *p, uint32_t pgno, const uint8_t *frame)
{
    int rc = p->vfs->write(p->file, frame, BDOC_PAGE_SIZE, (uint64_t)pgno * BDOC_PAGE_SIZE);
    /* new bytes under the mapping: verified again when next loaded (a failed write too) */
    if (p->verified && (size_t)pgno < p->map_len / BDOC_PAGE_SIZE)
        atomic_fetch_and(&p->verified[pgno / 64], ~((uint64_t)1 << (pgno % 64)));
    if (rc == 0 && (uint64_t)pgno + 1 > atomic_load(&p->file_pages)) {
        /* the file's real size, not the write's promise (a VFS that drops writes, as the fault
         * VFS does after a simulated power loss, must not make the mapping read past EOF) */
        uint64_t size = 0;
        if (p->vfs->size(p->file, &size) == 0 && size / BDOC_PAGE_SIZE > atomic_load(&p->file_pages))
            atomic_store(&p->file_pages, size / BDOC_PAGE_SIZE);
    }
    return rc;
}

int pager_write_meta_ts(struct pager *p, uint64_t last_ts)
{
    uint8_t *tmp = malloc(BDOC_PAGE_PAYLOAD + BDOC_PAGE_SIZE);
    if (!tmp) return BB_ENOMEM;
    memcpy(tmp, p->meta->data, BDOC_PAGE_PAYLOAD);
    bb_put_le64(tmp + 32, last_ts);
    bb_put_le32(tmp + 24, p->npages);
    uint8_t *frame = tmp + BDOC_PAGE_PAYLOAD;
    int rc = pager_encode(p, 0, tmp, frame);
    if (rc == 0) rc = pager_write_frame(p, 0, frame);
    free(tmp);
    return rc;
}

int pager_sync(struct pager *p) { return p->vfs->sync(p->file); }

static void meta_init(uint8_t *m, int encrypted)
{
    memset(m, 0, BDOC_PAGE_PAYLOAD);
    m[0] = BDOC_PT_META;
    memcpy(m + 1, "BUNDOC1", 7);
    bb_put_le32(m + 8, 1);
    bb_put_le32(m + 12, BDOC_PAGE_SIZE);
    bb_put_le32(m + 24, 1);
    m[40] = (uint8_t)encrypted;
}

static int meta_check(const uint8_t *m)
{
    if (m[0] != BDOC_PT_META || memcmp(m + 1, "BUNDOC1", 7) != 0) return BB_EIO;
    if (bb_get_le32(m + 8) != 1 || bb_get_le32(m + 12) != BDOC_PAGE_SIZE) return BB_EIO;
    return 0;
}

int pager_open(struct bdoc_vfs *vfs, const char *dir, const uint8_t *key, uint32_t cache_pages,
               struct pager **out)
{
    *out = NULL;
    char path[4096];
    int rc = 0;
    struct pager *p = calloc(1, sizeof *p);
    if (!p) return BB_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->vfs = vfs;
    p->target = cache_pages < 16 ? 16 : cache_pages;
    p->hcap = 1024;
    p->hash = calloc(p->hcap, sizeof *p->hash);
    p->scratch = malloc(BDOC_PAGE_SIZE);
    if (!p->hash || !p->scratch) {
        rc = BB_ENOMEM;
        goto out;
    }
    if (key) {
        p->encrypted = 1;
        memcpy(p->key, key, BDOC_KEY_LEN);
    }
    if ((size_t)snprintf(path, sizeof path, "%s/data.db", dir) >= sizeof path) {
        rc = BB_EINVAL;
        goto out;
    }
    rc = vfs->open(vfs, path, BDOC_VFS_CREATE, &p->file);
    if (rc) goto out;
    uint64_t size = 0;
    rc = vfs->size(p->file, &size);
    if (rc) goto out;
    atomic_store(&p->file_pages, size / BDOC_PAGE_SIZE);
    uint8_t *payload = malloc(BDOC_PAGE_PAYLOAD);
    if (!payload) {
        rc = BB_ENOMEM;
        goto out;
    }
    if (size < BDOC_PAGE_SIZE) {
        /* new database: page 0 goes straight to data.db, durably, before anything else */
        meta_init(payload, p->encrypted);
        rc = pager_encode(p, 0, payload, p->scratch);
        if (rc == 0) rc = pager_write_frame(p, 0, p->scratch);
        if (rc == 0) rc = vfs->sync(p->file);
        if (rc == 0) rc = vfs->sync_dir(vfs, dir);
    } else {
        size_t got = 0;
        rc = vfs->read(p->file, p->scratch, BDOC_PAGE_SIZE, 0, &got);
        if (rc == 0 && got != BDOC_PAGE_SIZE) rc = BB_EIO;
        if (rc == 0) {
            int mode = p->scratch[4];
            if ((mode == MODE_GCM) != (p->encrypted != 0) && (mode == MODE_GCM || mode == MODE_PLAIN)) {
                bb_error("bundoc", "%s: database is %s but %s", dir,
                             mode == MODE_GCM ? "encrypted" : "not encrypted",
                             p->encrypted ? "a key was given" : "no key was given");
                rc = BB_EAUTH;
            } else {
                rc = pager_decode(p, 0, p->scratch, payload);
                if (rc == BB_EIO && p->encrypted) {
                    bb_error("bundoc", "%s: wrong encryption key", dir);
                    rc = BB_EAUTH;
                }
                if (rc == 0) rc = meta_check(payload);
            }
        }
    }
    free(payload);
    if (rc) goto out;
    /* plaintext pages are read in place from a shared read-only mapping of data.db (reserved
     * large: the file grows under it at checkpoints; only pages below file_pages are touched).
     * Sealed pages must be decrypted into a buffer anyway, so they keep pread. */
    if (!p->encrypted && vfs->map && vfs->unmap) {
        void *a = NULL;
        p->map_len = MAP_RESERVE;
        p->verified = calloc(MAP_RESERVE / BDOC_PAGE_SIZE / 64, sizeof *p->verified);
        if (p->verified && vfs->map(p->file, p->map_len, &a) == 0) {
            p->map = a;
        } else {
            free(p->verified);
            p->verified = NULL;
            p->map_len = 0;
        }
    }
    *out = p;
    p = NULL;
out:
    if (p) pager_close(p);
    return rc;
}

void pager_set_source(struct pager *p, pager_source_fn fn, void *ctx)
{
    p->src = fn;
    p->src_ctx = ctx;
}

int pager_start(struct pager *p)
{
    struct page *g = NULL;
    int rc = pager_get(p, 0, &g);
    if (rc) return rc;
    rc = meta_check(g->data);
    if (rc) {
        pager_unpin(p, g);
        return rc;
    }
    /* the page count on page 0 is stamped by a checkpoint after every page below it reached
     * data.db; recovery noted the WAL's count. A count beyond both is corruption (it would also
     * make the next allocation size the WAL index for a page that cannot exist). */
    uint32_t np = bb_get_le32(g->data + 24);
    if (np > p->npages && np > pager_file_pages(p)) {
        bb_error("bundoc", "meta page: page count %u beyond data.db (%llu pages) and the WAL (%u)",
                 np, (unsigned long long)pager_file_pages(p), p->npages);
        pager_unpin(p, g);
        return BB_EIO;
    }
    p->meta = g;
    if (np > p->npages) p->npages = np;
    return 0;
}

uint64_t pager_file_pages(struct pager *p)
{
    uint64_t size = 0;
    if (p->vfs->size(p->file, &size) != 0) return 0;
    return size / BDOC_PAGE_SIZE;
}

void pager_note_npages(struct pager *p, uint32_t npages)
{
    if (npages > p->npages) p->npages = npages;
}

void pager_close(struct pager *p)
{
    if (!p) return;
    if (p->map) p->vfs->unmap(p->map, p->map_len);
    p->map = NULL;
    free(p->verified);
    unpins_apply(p);
    for (size_t i = 0; i < p->nall; i++) page_free_mem(p->all[i]);
    while (p->spare) {
        struct page *g = p->spare;
        p->spare = g->hnext;
        page_free_mem(g);
    }
    free(p->all);
    free(p->hash);
    free(p->scratch);
    free(p->ra_buf);
    if (p->file) p->vfs->close(p->file);
    OPENSSL_cleanse(p->key, sizeof p->key);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
