/* btree.c — B+tree with variable-length keys, overflow chains and page reuse.
 *
 * Node page payload (leaf type 1, internal type 2), little-endian:
 *   [0]       type
 *   [1]       zero
 *   [2..4)    number of cells n
 *   [4..6)    start of the cell area (cells fill [start, BDOC_PAGE_PAYLOAD) from the end down)
 *   [6..8)    fragmented bytes inside the cell area (reclaimed by compaction)
 *   [8..12)   internal: leftmost child P0; leaf: zero
 *   [12..16)  zero
 *   [16..)    n u16 cell offsets, sorted by key
 * Leaf cell:     u16 klen | u8 flags (bit 0: overflow) | u32 vlen | key | value
 *                (overflow: the value is replaced by the u32 first overflow page)
 * Internal cell: u16 klen | u32 child | key. Keys >= key(i) and < key(i+1) live under child(i);
 *                keys < key(0) under P0.
 * Overflow page: [0] type 3 | [4..8) next page (0: last) | [8..12) bytes used | data from 12.
 *
 * Invariants: leaves are never empty except a root leaf; an internal node with no cell has one
 * child (P0) and is collapsed when it is the root; every page reachable from the root is a node or
 * overflow page, every other allocated page is on the free list.
 */
#include "btree.h"

#include <stdlib.h>
#include <string.h>

#include "bb_bytes.h"
#include "bb_err.h"
#include "bb_log.h"

#define HDR 16u
#define CAP BDOC_PAGE_PAYLOAD
#define OVF_HDR 12u
#define OVF_CAP (CAP - OVF_HDR)
#define FILL_PCT 90u


static unsigned nslots(const uint8_t *d) { return bb_get_le16(d + 2); }
static unsigned slot(const uint8_t *d, unsigned i) { return bb_get_le16(d + HDR + 2 * i); }

static int cmpk(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static size_t cell_size(const uint8_t *d, const uint8_t *c)
{
    if (d[0] == BDOC_PT_LEAF) {
        size_t kl = bb_get_le16(c);
        return 7 + kl + ((c[2] & 1) ? 4 : bb_get_le32(c + 3));
    }
    return 6 + (size_t)bb_get_le16(c);
}

static void cell_key(const uint8_t *d, unsigned i, const uint8_t **k, size_t *kl)
{
    const uint8_t *c = d + slot(d, i);
    *kl = bb_get_le16(c);
    *k = c + (d[0] == BDOC_PT_LEAF ? 7 : 6);
}

static uint32_t child_at(const uint8_t *d, int ci)
{
    if (ci < 0) return bb_get_le32(d + 8);
    return bb_get_le32(d + slot(d, (unsigned)ci) + 2);
}

/* Sanity of a node read from disk: cheap bounds so a corrupt page cannot make us read out of it. */
static int node_ok(const uint8_t *d)
{
    if (d[0] != BDOC_PT_LEAF && d[0] != BDOC_PT_INTERNAL) return 0;
    unsigned n = nslots(d);
    unsigned heap = bb_get_le16(d + 4);
    if (HDR + 2 * n > heap || heap > CAP) return 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned o = slot(d, i);
        if (o < heap || o + 7 > CAP) return 0;
        if (o + cell_size(d, d + o) > CAP) return 0;
    }
    return 1;
}

static void node_init(uint8_t *d, int type)
{
    memset(d, 0, CAP);
    d[0] = (uint8_t)type;
    bb_put_le16(d + 4, (uint16_t)CAP);
}

static size_t free_space(const uint8_t *d) { return bb_get_le16(d + 4) - (HDR + 2 * nslots(d)); }

static int compact(uint8_t *d)
{
    uint8_t *tmp = malloc(CAP);
    if (!tmp) return BB_ENOMEM;
    memcpy(tmp, d, CAP);
    unsigned n = nslots(d);
    unsigned heap = CAP;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *c = tmp + slot(tmp, i);
        size_t sz = cell_size(tmp, c);
        heap -= (unsigned)sz;
        memcpy(d + heap, c, sz);
        bb_put_le16(d + HDR + 2 * i, (uint16_t)heap);
    }
    bb_put_le16(d + 4, (uint16_t)heap);
    bb_put_le16(d + 6, 0);
    free(tmp);
    return 0;
}

/* Inserts cell at position pos if it fits (compacting if needed); 1 if it did not fit. */
static int insert_cell(uint8_t *d, unsigned pos, const uint8_t *cell, size_t sz)
{
    if (free_space(d) < sz + 2) {
        if (free_space(d) + bb_get_le16(d + 6) < sz + 2) return 1;
        int rc = compact(d);
        if (rc) return rc;
    }
    unsigned n = nslots(d);
    unsigned heap = bb_get_le16(d + 4) - (unsigned)sz;
    memcpy(d + heap, cell, sz);
    bb_put_le16(d + 4, (uint16_t)heap);
    memmove(d + HDR + 2 * (pos + 1), d + HDR + 2 * pos, 2 * (n - pos));
    bb_put_le16(d + HDR + 2 * pos, (uint16_t)heap);
    bb_put_le16(d + 2, (uint16_t)(n + 1));
    return 0;
}

static void remove_cell(uint8_t *d, unsigned pos)
{
    unsigned n = nslots(d);
    size_t sz = cell_size(d, d + slot(d, pos));
    memmove(d + HDR + 2 * pos, d + HDR + 2 * (pos + 1), 2 * (n - pos - 1));
    bb_put_le16(d + 2, (uint16_t)(n - 1));
    if (n - 1 == 0) {
        bb_put_le16(d + 4, (uint16_t)CAP);
        bb_put_le16(d + 6, 0);
    } else {
        bb_put_le16(d + 6, (uint16_t)(bb_get_le16(d + 6) + sz));
    }
}

/* First slot with key >= k; *found if equal. */
static unsigned lower_bound(const uint8_t *d, const uint8_t *k, size_t kl, int *found)
{
    unsigned lo = 0, hi = nslots(d);
    *found = 0;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        const uint8_t *mk;
        size_t ml;
        cell_key(d, mid, &mk, &ml);
        int c = cmpk(mk, ml, k, kl);
        if (c < 0) lo = mid + 1;
        else {
            if (c == 0) *found = 1;
            hi = mid;
        }
    }
    return lo;
}

/* First slot with key > k. */
static unsigned upper_bound(const uint8_t *d, const uint8_t *k, size_t kl)
{
    unsigned lo = 0, hi = nslots(d);
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        const uint8_t *mk;
        size_t ml;
        cell_key(d, mid, &mk, &ml);
        if (cmpk(mk, ml, k, kl) <= 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int get_node(struct pager *p, uint32_t pgno, struct page **out)
{
    int rc = pager_get(p, pgno, out);
    if (rc) return rc;
    if (__atomic_load_n(&(*out)->checked, __ATOMIC_RELAXED)) return 0;
    /* validated once per load from disk; our own modifications keep nodes valid */
    if (node_ok((*out)->data)) {
        __atomic_store_n(&(*out)->checked, 1, __ATOMIC_RELAXED);
    } else {
        bb_error("bundoc", "btree: page %u is not a valid node", pgno);
        pager_unpin(p, *out);
        *out = NULL;
        return BB_EIO;
    }
    return 0;
}

struct path {
    int depth;
    uint32_t pg[BT_MAX_DEPTH];
    int idx[BT_MAX_DEPTH];
};

/* Descends to the leaf that would hold key; path->pg[depth-1] is the leaf. With fence not NULL,
 * also the leaf's upper fence: the separator right of the path at the deepest level that has one
 * (every key of the leaf is below it); *has_fence 0: no bound. */
static int descend_fence(struct pager *p, uint32_t root, const uint8_t *k, size_t kl,
                         struct path *path, uint8_t *fence, size_t *flen, int *has_fence)
{
    uint32_t cur = root;
    path->depth = 0;
    if (fence) *has_fence = 0;
    for (;;) {
        if (path->depth >= BT_MAX_DEPTH) return BB_EIO;
        struct page *g = NULL;
        int rc = get_node(p, cur, &g);
        if (rc) return rc;
        path->pg[path->depth] = cur;
        if (g->data[0] == BDOC_PT_LEAF) {
            path->idx[path->depth] = 0;
            path->depth++;
            pager_unpin(p, g);
            return 0;
        }
        int ci = (int)upper_bound(g->data, k, kl) - 1;
        if (fence && ci + 1 < (int)nslots(g->data)) {
            const uint8_t *fk;
            size_t fl;
            cell_key(g->data, (unsigned)(ci + 1), &fk, &fl);
            memcpy(fence, fk, fl);
            *flen = fl;
            *has_fence = 1;
        }
        path->idx[path->depth] = ci;
        path->depth++;
        cur = child_at(g->data, ci);
        pager_unpin(p, g);
        if (cur == 0) return BB_EIO;
    }
}

static int descend(struct pager *p, uint32_t root, const uint8_t *k, size_t kl, struct path *path)
{
    return descend_fence(p, root, k, kl, path, NULL, NULL, NULL);
}

/* ---- overflow ---- */
static int ovf_write(struct pager *p, const uint8_t *val, size_t vlen, uint32_t *first)
{
    size_t count = (vlen + OVF_CAP - 1) / OVF_CAP;
    uint32_t head = 0;
    for (size_t i = count; i-- > 0;) {
        struct page *g = NULL;
        int rc = pager_alloc(p, &g);
        if (rc) return rc;
        size_t off = i * OVF_CAP;
        size_t n = vlen - off < OVF_CAP ? vlen - off : OVF_CAP;
        g->data[0] = BDOC_PT_OVERFLOW;
        bb_put_le32(g->data + 4, head);
        bb_put_le32(g->data + 8, (uint32_t)n);
        memcpy(g->data + OVF_HDR, val + off, n);
        head = g->pgno;
        pager_unpin(p, g);
    }
    *first = head;
    return 0;
}

static int ovf_read(struct pager *p, uint32_t pg, size_t vlen, uint8_t *out)
{
    size_t done = 0;
    size_t limit = (vlen + OVF_CAP - 1) / OVF_CAP;
    for (size_t k = 0; k < limit; k++) {
        struct page *g = NULL;
        if (pg == 0) return BB_EIO;
        int rc = pager_get(p, pg, &g);
        if (rc) return rc;
        uint32_t n = bb_get_le32(g->data + 8);
        if (g->data[0] != BDOC_PT_OVERFLOW || n > OVF_CAP || n > vlen - done) {
            pager_unpin(p, g);
            return BB_EIO;
        }
        memcpy(out + done, g->data + OVF_HDR, n);
        done += n;
        pg = bb_get_le32(g->data + 4);
        pager_unpin(p, g);
    }
    return done == vlen ? 0 : BB_EIO;
}

static int ovf_free(struct pager *p, uint32_t pg, size_t vlen)
{
    size_t limit = (vlen + OVF_CAP - 1) / OVF_CAP;
    for (size_t k = 0; k < limit && pg; k++) {
        struct page *g = NULL;
        int rc = pager_get(p, pg, &g);
        if (rc) return rc;
        uint32_t next = bb_get_le32(g->data + 4);
        int ok = g->data[0] == BDOC_PT_OVERFLOW;
        pager_unpin(p, g);
        if (!ok) return BB_EIO;
        rc = pager_free(p, pg);
        if (rc) return rc;
        pg = next;
    }
    return 0;
}

static int cell_value(struct pager *p, const uint8_t *c, uint8_t **val, size_t *vlen)
{
    size_t kl = bb_get_le16(c);
    size_t n = bb_get_le32(c + 3);
    uint8_t *v = malloc(n ? n : 1);
    if (!v) return BB_ENOMEM;
    int rc = 0;
    if (c[2] & 1) rc = ovf_read(p, bb_get_le32(c + 7 + kl), n, v);
    else memcpy(v, c + 7 + kl, n);
    if (rc) {
        free(v);
        return rc;
    }
    *val = v;
    *vlen = n;
    return 0;
}

static uint32_t root_of(struct pager *p)
{
    struct pager_meta m;
    pager_meta_get(p, &m);
    return m.root;
}

/* The leaf holding key (pinned in *leaf; the caller unpins it) and key's slot in it; BB_ENOTFOUND
 * (nothing pinned) when the tree does not hold key. */
static int find_cell(struct pager *p, const uint8_t *key, size_t klen, struct path *path,
                     struct page **leaf, unsigned *pos)
{
    uint32_t root = root_of(p);
    if (root == 0) return BB_ENOTFOUND;
    int rc = descend(p, root, key, klen, path);
    if (rc) return rc;
    rc = get_node(p, path->pg[path->depth - 1], leaf);
    if (rc) return rc;
    int found = 0;
    *pos = lower_bound((*leaf)->data, key, klen, &found);
    if (found) return 0;
    pager_unpin(p, *leaf);
    *leaf = NULL;
    return BB_ENOTFOUND;
}

int bt_get(struct pager *p, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    struct path path;
    struct page *g = NULL;
    unsigned pos = 0;
    int rc = find_cell(p, key, klen, &path, &g, &pos);
    if (rc) return rc;
    rc = cell_value(p, g->data + slot(g->data, pos), val, vlen);
    pager_unpin(p, g);
    return rc;
}

int bt_get_head(struct pager *p, const uint8_t *key, size_t klen, uint8_t *head, size_t n,
                size_t *vlen)
{
    *vlen = 0;
    struct path path;
    struct page *g = NULL;
    unsigned pos = 0;
    int rc = find_cell(p, key, klen, &path, &g, &pos);
    if (rc) return rc;
    const uint8_t *c = g->data + slot(g->data, pos);
    size_t kl = bb_get_le16(c), vl = bb_get_le32(c + 3);
    size_t m = n < vl ? n : vl;
    *vlen = vl;
    if (!(c[2] & 1)) {
        memcpy(head, c + 7 + kl, m);
        pager_unpin(p, g);
        return 0;
    }
    uint32_t first = bb_get_le32(c + 7 + kl);
    pager_unpin(p, g);
    if (m == 0) return 0;
    struct page *o = NULL;
    if (first == 0) return BB_EIO;
    rc = pager_get(p, first, &o);
    if (rc) return rc;
    if (o->data[0] != BDOC_PT_OVERFLOW || bb_get_le32(o->data + 8) < m) rc = BB_EIO;
    else memcpy(head, o->data + OVF_HDR, m);
    pager_unpin(p, o);
    return rc;
}

struct cellref {
    const uint8_t *c;
    size_t sz;
};

static int get_writable(struct pager *p, uint32_t pgno, struct page **out)
{
    int rc = get_node(p, pgno, out);
    if (rc) return rc;
    rc = pager_make_writable(p, *out);
    if (rc) {
        pager_unpin(p, *out);
        *out = NULL;
    }
    return rc;
}

static int insert_into_parent(struct pager *p, struct path *path, int level, const uint8_t *sep,
                              size_t seplen, uint32_t right)
{
    uint8_t cell[6 + BT_MAX_KEY];
    bb_put_le16(cell, (uint16_t)seplen);
    bb_put_le32(cell + 2, right);
    memcpy(cell + 6, sep, seplen);
    size_t csz = 6 + seplen;
    int rc;
    if (level < 0) {
        struct page *r = NULL;
        rc = pager_alloc(p, &r);
        if (rc) return rc;
        node_init(r->data, BDOC_PT_INTERNAL);
        bb_put_le32(r->data + 8, path->pg[0]);
        rc = insert_cell(r->data, 0, cell, csz);
        if (rc == 0) rc = pager_set_root(p, r->pgno);
        pager_unpin(p, r);
        return rc;
    }
    struct page *g = NULL;
    rc = get_writable(p, path->pg[level], &g);
    if (rc) return rc;
    uint8_t *d = g->data;
    unsigned pos = upper_bound(d, sep, seplen);
    rc = insert_cell(d, pos, cell, csz);
    if (rc != 1) {
        pager_unpin(p, g);
        return rc;
    }
    /* split the internal node: the middle key moves up */
    unsigned n = nslots(d);
    uint8_t *tmp = malloc(CAP);
    struct cellref *cs = malloc((n + 1) * sizeof *cs);
    struct page *r = NULL;
    if (!tmp || !cs) {
        rc = BB_ENOMEM;
        goto out;
    }
    memcpy(tmp, d, CAP);
    size_t total = 0;
    for (unsigned i = 0, j = 0; i <= n; i++) {
        if (i == pos) cs[i] = (struct cellref){cell, csz};
        else {
            const uint8_t *c = tmp + slot(tmp, j++);
            cs[i] = (struct cellref){c, cell_size(tmp, c)};
        }
        total += cs[i].sz + 2;
    }
    unsigned m = 1;
    size_t acc = cs[0].sz + 2;
    while (m < n - 1 && acc + cs[m].sz + 2 <= total / 2) acc += cs[m++].sz + 2;
    /* append split: the new last separator moves up, the right node starts with its child only */
    if (pos == n) m = n;
    rc = pager_alloc(p, &r);
    if (rc) goto out;
    uint32_t oldp0 = bb_get_le32(tmp + 8);
    node_init(d, BDOC_PT_INTERNAL);
    bb_put_le32(d + 8, oldp0);
    for (unsigned i = 0; i < m; i++) insert_cell(d, i, cs[i].c, cs[i].sz);
    node_init(r->data, BDOC_PT_INTERNAL);
    bb_put_le32(r->data + 8, bb_get_le32(cs[m].c + 2));
    for (unsigned i = m + 1; i <= n; i++) insert_cell(r->data, i - m - 1, cs[i].c, cs[i].sz);
    uint8_t up[BT_MAX_KEY];
    size_t uplen = bb_get_le16(cs[m].c);
    memcpy(up, cs[m].c + 6, uplen);
    uint32_t rpg = r->pgno;
    pager_unpin(p, r);
    r = NULL;
    pager_unpin(p, g);
    g = NULL;
    rc = insert_into_parent(p, path, level - 1, up, uplen, rpg);
out:
    if (g) pager_unpin(p, g);
    free(tmp);
    free(cs);
    return rc;
}

int bt_put(struct pager *p, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (klen == 0 || klen > BT_MAX_KEY || vlen > UINT32_MAX) return BB_EINVAL;
    int ovf = klen + vlen > BT_INLINE_MAX;
    size_t csz = 7 + klen + (ovf ? 4 : vlen);
    uint8_t *cell = malloc(csz);
    if (!cell) return BB_ENOMEM;
    int rc = 0;
    struct page *g = NULL, *r = NULL;
    uint8_t *tmp = NULL;
    struct cellref *cs = NULL;
    bb_put_le16(cell, (uint16_t)klen);
    cell[2] = (uint8_t)ovf;
    bb_put_le32(cell + 3, (uint32_t)vlen);
    memcpy(cell + 7, key, klen);
    if (ovf) {
        uint32_t first = 0;
        rc = ovf_write(p, val, vlen, &first);
        if (rc) goto out;
        bb_put_le32(cell + 7 + klen, first);
    } else if (vlen) {
        memcpy(cell + 7 + klen, val, vlen);
    }
    uint32_t root = root_of(p);
    if (root == 0) {
        rc = pager_alloc(p, &g);
        if (rc) goto out;
        node_init(g->data, BDOC_PT_LEAF);
        rc = insert_cell(g->data, 0, cell, csz);
        if (rc == 0) rc = pager_set_root(p, g->pgno);
        goto out;
    }
    struct path path;
    rc = descend(p, root, key, klen, &path);
    if (rc) goto out;
    rc = get_writable(p, path.pg[path.depth - 1], &g);
    if (rc) goto out;
    uint8_t *d = g->data;
    int found = 0;
    unsigned pos = lower_bound(d, key, klen, &found);
    if (found) {
        const uint8_t *old = d + slot(d, pos);
        if (old[2] & 1) {
            rc = ovf_free(p, bb_get_le32(old + 7 + bb_get_le16(old)), bb_get_le32(old + 3));
            if (rc) goto out;
        }
        remove_cell(d, pos);
    }
    /* fill factor for ascending inserts: appending to the rightmost leaf starts a new leaf once
     * the old one is FILL_PCT full, leaving room for documents that later grow in place */
    int force = 0;
    if (!found && pos == nslots(d) && pos > 0 &&
        (CAP - HDR - free_space(d) - bb_get_le16(d + 6)) + csz + 2 > (CAP - HDR) * FILL_PCT / 100) {
        force = 1;
        for (int l = 0; l + 1 < path.depth && force; l++) {
            struct page *a = NULL;
            rc = get_node(p, path.pg[l], &a);
            if (rc) goto out;
            force = path.idx[l] == (int)nslots(a->data) - 1;
            pager_unpin(p, a);
        }
    }
    rc = force ? 1 : insert_cell(d, pos, cell, csz);
    if (rc != 1) goto out;
    /* split the leaf by bytes */
    unsigned n = nslots(d);
    tmp = malloc(CAP);
    cs = malloc((n + 1) * sizeof *cs);
    if (!tmp || !cs) {
        rc = BB_ENOMEM;
        goto out;
    }
    memcpy(tmp, d, CAP);
    size_t total = 0;
    for (unsigned i = 0, j = 0; i <= n; i++) {
        if (i == pos) cs[i] = (struct cellref){cell, csz};
        else {
            const uint8_t *c = tmp + slot(tmp, j++);
            cs[i] = (struct cellref){c, cell_size(tmp, c)};
        }
        total += cs[i].sz + 2;
    }
    unsigned k = 1;
    size_t acc = cs[0].sz + 2;
    while (k < n && acc + cs[k].sz + 2 <= total / 2) acc += cs[k++].sz + 2;
    /* append split (like SQLite's quick balance): a key that sorts after every key of the leaf
     * (sequential ids, ULIDs) leaves the old leaf as it is and starts a new one with just that
     * key, so ascending inserts fill leaves (to FILL_PCT on the right edge) instead of half */
    if (pos == n) k = n;
    rc = pager_alloc(p, &r);
    if (rc) goto out;
    if (k < n) { /* an append split leaves the old leaf byte-for-byte as it was */
        node_init(d, BDOC_PT_LEAF);
        for (unsigned i = 0; i < k; i++) insert_cell(d, i, cs[i].c, cs[i].sz);
    }
    node_init(r->data, BDOC_PT_LEAF);
    for (unsigned i = k; i <= n; i++) insert_cell(r->data, i - k, cs[i].c, cs[i].sz);
    uint8_t sep[BT_MAX_KEY];
    size_t seplen = bb_get_le16(cs[k].c);
    memcpy(sep, cs[k].c + 7, seplen);
    uint32_t rpg = r->pgno;
    pager_unpin(p, r);
    r = NULL;
    pager_unpin(p, g);
    g = NULL;
    rc = insert_into_parent(p, &path, path.depth - 2, sep, seplen, rpg);
out:
    if (g) pager_unpin(p, g);
    if (r) pager_unpin(p, r);
    free(tmp);
    free(cs);
    free(cell);
    return rc;
}

/* ---- bulk load ---- */

static size_t used_bytes(const uint8_t *d)
{
    return CAP - HDR - free_space(d) - bb_get_le16(d + 6);
}

/* Leaf cell of an inline item into cell; its size. */
static size_t load_cell(uint8_t *cell, const struct bt_item *it, const uint8_t *pre, size_t plen)
{
    size_t vlen = plen + it->vlen;
    bb_put_le16(cell, (uint16_t)it->klen);
    cell[2] = 0;
    bb_put_le32(cell + 3, (uint32_t)vlen);
    memcpy(cell + 7, it->key, it->klen);
    if (plen) memcpy(cell + 7 + it->klen, pre, plen);
    if (it->vlen) memcpy(cell + 7 + it->klen + plen, it->val, it->vlen);
    return 7 + it->klen + vlen;
}

static int load_put(struct pager *p, const struct bt_item *it, const uint8_t *pre, size_t plen)
{
    if (!plen) return bt_put(p, it->key, it->klen, it->val, it->vlen);
    uint8_t *v = malloc(plen + it->vlen);
    if (!v) return BB_ENOMEM;
    memcpy(v, pre, plen);
    if (it->vlen) memcpy(v + plen, it->val, it->vlen);
    int rc = bt_put(p, it->key, it->klen, v, plen + it->vlen);
    free(v);
    return rc;
}

int bt_load(struct pager *p, const struct bt_item *items, size_t n, const uint8_t *vprefix,
            size_t plen, unsigned fill_pct)
{
    if (n && !items) return BB_EINVAL;
    if (fill_pct < 10 || fill_pct > 100) return BB_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (items[i].klen == 0 || items[i].klen > BT_MAX_KEY || items[i].vlen > UINT32_MAX - plen)
            return BB_EINVAL;
        if (i && cmpk(items[i - 1].key, items[i - 1].klen, items[i].key, items[i].klen) >= 0)
            return BB_EINVAL;
    }
    size_t limit = (size_t)(CAP - HDR) * fill_pct / 100;
    uint8_t *cell = malloc(7 + BT_INLINE_MAX);
    uint8_t *fence = malloc(BT_MAX_KEY);
    if (!cell || !fence) {
        free(cell);
        free(fence);
        return BB_ENOMEM;
    }
    int rc = 0;
    size_t i = 0;
#define LOAD_INLINE(it) ((it)->klen + plen + (it)->vlen <= BT_INLINE_MAX)
#define LOAD_BELOW(it) (!has_fence || cmpk((it)->key, (it)->klen, fence, flen) < 0)
    while (i < n && rc == 0) {
        const struct bt_item *it = &items[i];
        uint32_t root = root_of(p);
        if (!LOAD_INLINE(it) || root == 0) { /* overflow chain, or the first leaf of a tree */
            rc = load_put(p, it, vprefix, plen);
            i++;
            continue;
        }
        struct path path;
        size_t flen = 0;
        int has_fence = 0;
        rc = descend_fence(p, root, it->key, it->klen, &path, fence, &flen, &has_fence);
        if (rc) break;
        struct page *g = NULL;
        rc = get_writable(p, path.pg[path.depth - 1], &g);
        if (rc) break;
        uint8_t *d = g->data;
        int found = 0;
        unsigned pos = lower_bound(d, it->key, it->klen, &found);
        if (found || pos < nslots(d)) { /* inside the leaf's keys: an ordinary insert */
            pager_unpin(p, g);
            rc = load_put(p, it, vprefix, plen);
            i++;
            continue;
        }
        /* extend the leaf at its right end up to the fill factor */
        while (i < n && LOAD_INLINE(&items[i]) && LOAD_BELOW(&items[i])) {
            size_t csz = load_cell(cell, &items[i], vprefix, plen);
            if (used_bytes(d) + csz + 2 > limit) break;
            int r = insert_cell(d, nslots(d), cell, csz);
            if (r == 1) break;
            if (r) {
                rc = r;
                break;
            }
            i++;
        }
        if (rc || i == n || !LOAD_INLINE(&items[i]) || !LOAD_BELOW(&items[i])) {
            pager_unpin(p, g);
            continue;
        }
        /* the leaf is full: a new leaf right of it, filled left to right, linked into the parent
         * by its first key (the next round descends to it and goes on from there) */
        struct page *r = NULL;
        rc = pager_alloc(p, &r);
        if (rc) {
            pager_unpin(p, g);
            break;
        }
        node_init(r->data, BDOC_PT_LEAF);
        const struct bt_item *first = &items[i];
        do {
            size_t csz = load_cell(cell, &items[i], vprefix, plen);
            if (nslots(r->data) && used_bytes(r->data) + csz + 2 > limit) break;
            if (insert_cell(r->data, nslots(r->data), cell, csz)) break; /* cannot happen */
            i++;
        } while (i < n && LOAD_INLINE(&items[i]) && LOAD_BELOW(&items[i]));
        uint32_t rpg = r->pgno;
        pager_unpin(p, r);
        pager_unpin(p, g);
        rc = insert_into_parent(p, &path, path.depth - 2, first->key, first->klen, rpg);
    }
#undef LOAD_INLINE
#undef LOAD_BELOW
    free(cell);
    free(fence);
    return rc;
}

/* Removes child ci of the internal node at level; frees nodes that become childless. */
static int remove_child(struct pager *p, struct path *path, int level, int ci)
{
    struct page *g = NULL;
    int rc = get_writable(p, path->pg[level], &g);
    if (rc) return rc;
    uint8_t *d = g->data;
    unsigned n = nslots(d);
    if (n == 0) {
        uint32_t pg = g->pgno;
        pager_unpin(p, g);
        rc = pager_free(p, pg);
        if (rc) return rc;
        if (level == 0) return pager_set_root(p, 0);
        return remove_child(p, path, level - 1, path->idx[level - 1]);
    }
    if (ci < 0) {
        bb_put_le32(d + 8, child_at(d, 0));
        remove_cell(d, 0);
    } else {
        remove_cell(d, (unsigned)ci);
    }
    pager_unpin(p, g);
    return 0;
}

int bt_delete(struct pager *p, const uint8_t *key, size_t klen)
{
    struct path path;
    struct page *g = NULL;
    unsigned pos = 0;
    int rc = find_cell(p, key, klen, &path, &g, &pos);
    if (rc) return rc;
    rc = pager_make_writable(p, g);
    if (rc) goto out;
    uint8_t *d = g->data;
    const uint8_t *c = d + slot(d, pos);
    if (c[2] & 1) {
        rc = ovf_free(p, bb_get_le32(c + 7 + bb_get_le16(c)), bb_get_le32(c + 3));
        if (rc) goto out;
    }
    remove_cell(d, pos);
    if (nslots(d) == 0) {
        uint32_t pg = g->pgno;
        pager_unpin(p, g);
        g = NULL;
        rc = pager_free(p, pg);
        if (rc) goto out;
        if (path.depth == 1) rc = pager_set_root(p, 0);
        else rc = remove_child(p, &path, path.depth - 2, path.idx[path.depth - 2]);
        if (rc) goto out;
    }
    /* collapse a root that is an internal node with a single child */
    for (;;) {
        uint32_t r = root_of(p);
        if (r == 0) break;
        struct page *rg = NULL;
        rc = get_node(p, r, &rg);
        if (rc) goto out;
        int collapse = rg->data[0] == BDOC_PT_INTERNAL && nslots(rg->data) == 0;
        uint32_t child = collapse ? bb_get_le32(rg->data + 8) : 0;
        pager_unpin(p, rg);
        if (!collapse) break;
        rc = pager_free(p, r);
        if (rc == 0) rc = pager_set_root(p, child);
        if (rc) goto out;
    }
out:
    if (g) pager_unpin(p, g);
    return rc;
}

/* ---- cursor ---- */
static int descend_leftmost(struct bt_cursor *c, uint32_t pg)
{
    for (;;) {
        if (c->depth >= BT_MAX_DEPTH) return BB_EIO;
        struct page *g = NULL;
        int rc = get_node(c->p, pg, &g);
        if (rc) return rc;
        c->pg[c->depth] = pg;
        if (g->data[0] == BDOC_PT_LEAF) {
            c->idx[c->depth++] = 0;
            c->leaf = g;
            return 0;
        }
        c->idx[c->depth++] = -1;
        pg = bb_get_le32(g->data + 8);
        pager_unpin(c->p, g);
    }
}

/* Moves to the next leaf whose first slot exists, or to the end. */
static int next_leaf(struct bt_cursor *c)
{
    for (;;) {
        if (c->leaf) {
            pager_unpin(c->p, c->leaf);
            c->leaf = NULL;
        }
        int level = c->depth - 2;
        while (level >= 0) {
            struct page *g = NULL;
            int rc = get_node(c->p, c->pg[level], &g);
            if (rc) {
                c->depth = 0;
                return rc;
            }
            if (c->idx[level] + 1 < (int)nslots(g->data)) {
                c->idx[level]++;
                uint32_t child = child_at(g->data, c->idx[level]);
                pager_unpin(c->p, g);
                c->depth = level + 1;
                rc = descend_leftmost(c, child);
                if (rc) {
                    c->depth = 0;
                    return rc;
                }
                break;
            }
            pager_unpin(c->p, g);
            level--;
        }
        if (level < 0) {
            c->depth = 0;
            return 0;
        }
        if (nslots(c->leaf->data) > 0) return 0;
    }
}

int bt_seek(struct pager *p, struct bt_cursor *c, const uint8_t *key, size_t klen)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    uint32_t root = root_of(p);
    if (root == 0) return 0;
    struct path path;
    int rc = descend(p, root, key, klen, &path);
    if (rc) return rc;
    c->depth = path.depth;
    memcpy(c->pg, path.pg, sizeof path.pg);
    memcpy(c->idx, path.idx, sizeof path.idx);
    rc = get_node(p, path.pg[path.depth - 1], &c->leaf);
    if (rc) {
        c->depth = 0;
        return rc;
    }
    int found;
    unsigned pos = lower_bound(c->leaf->data, key, klen, &found);
    c->idx[c->depth - 1] = (int)pos;
    if (pos >= nslots(c->leaf->data)) return next_leaf(c);
    return 0;
}

/* Descends to the last slot of the rightmost leaf under pg (an empty root leaf: slot -1). */
static int descend_rightmost(struct bt_cursor *c, uint32_t pg)
{
    for (;;) {
        if (c->depth >= BT_MAX_DEPTH) return BB_EIO;
        struct page *g = NULL;
        int rc = get_node(c->p, pg, &g);
        if (rc) return rc;
        c->pg[c->depth] = pg;
        int n = (int)nslots(g->data);
        if (g->data[0] == BDOC_PT_LEAF) {
            c->idx[c->depth++] = n - 1;
            c->leaf = g;
            return 0;
        }
        c->idx[c->depth++] = n - 1; /* -1: the leftmost child */
        pg = child_at(g->data, n - 1);
        pager_unpin(c->p, g);
        if (pg == 0) return BB_EIO;
    }
}

/* Moves to the last slot of the previous leaf that has one, or to the end. */
static int prev_leaf(struct bt_cursor *c)
{
    for (;;) {
        if (c->leaf) {
            pager_unpin(c->p, c->leaf);
            c->leaf = NULL;
        }
        int level = c->depth - 2;
        while (level >= 0) {
            if (c->idx[level] >= 0) { /* a child to the left: idx - 1 (-1 = leftmost) */
                struct page *g = NULL;
                int rc = get_node(c->p, c->pg[level], &g);
                if (rc) {
                    c->depth = 0;
                    return rc;
                }
                c->idx[level]--;
                uint32_t child = child_at(g->data, c->idx[level]);
                pager_unpin(c->p, g);
                c->depth = level + 1;
                rc = child ? descend_rightmost(c, child) : BB_EIO;
                if (rc) {
                    c->depth = 0;
                    return rc;
                }
                break;
            }
            level--;
        }
        if (level < 0) {
            c->depth = 0;
            return 0;
        }
        if (c->idx[c->depth - 1] >= 0) return 0;
    }
}

int bt_seek_before(struct pager *p, struct bt_cursor *c, const uint8_t *key, size_t klen)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    uint32_t root = root_of(p);
    if (root == 0) return 0;
    int rc;
    if (!key) {
        rc = descend_rightmost(c, root);
        if (rc) {
            if (c->leaf) pager_unpin(p, c->leaf);
            c->leaf = NULL;
            c->depth = 0;
            return rc;
        }
        if (c->idx[c->depth - 1] < 0) return prev_leaf(c);
        return 0;
    }
    struct path path;
    rc = descend(p, root, key, klen, &path);
    if (rc) return rc;
    c->depth = path.depth;
    memcpy(c->pg, path.pg, sizeof path.pg);
    memcpy(c->idx, path.idx, sizeof path.idx);
    rc = get_node(p, path.pg[path.depth - 1], &c->leaf);
    if (rc) {
        c->depth = 0;
        return rc;
    }
    int found;
    unsigned pos = lower_bound(c->leaf->data, key, klen, &found);
    c->idx[c->depth - 1] = (int)pos - 1; /* the last key < key */
    if (c->idx[c->depth - 1] < 0) return prev_leaf(c);
    return 0;
}

int bt_prev(struct bt_cursor *c)
{
    if (!bt_valid(c)) return 0;
    c->idx[c->depth - 1]--;
    if (c->idx[c->depth - 1] >= 0) return 0;
    return prev_leaf(c);
}

int bt_valid(const struct bt_cursor *c) { return c->depth > 0 && c->leaf != NULL; }

void bt_key(const struct bt_cursor *c, const uint8_t **key, size_t *klen)
{
    cell_key(c->leaf->data, (unsigned)c->idx[c->depth - 1], key, klen);
}

int bt_value(const struct bt_cursor *c, uint8_t **val, size_t *vlen)
{
    const uint8_t *d = c->leaf->data;
    return cell_value(c->p, d + slot(d, (unsigned)c->idx[c->depth - 1]), val, vlen);
}

int bt_value_ref(const struct bt_cursor *c, const uint8_t **val, size_t *vlen, uint8_t **owned)
{
    const uint8_t *d = c->leaf->data;
    const uint8_t *cell = d + slot(d, (unsigned)c->idx[c->depth - 1]);
    *owned = NULL;
    if (!(cell[2] & 1)) {
        *val = cell + 7 + bb_get_le16(cell);
        *vlen = bb_get_le32(cell + 3);
        return 0;
    }
    int rc = cell_value(c->p, cell, owned, vlen);
    *val = *owned;
    return rc;
}

int bt_next(struct bt_cursor *c)
{
    if (!bt_valid(c)) return 0;
    c->idx[c->depth - 1]++;
    if (c->idx[c->depth - 1] < (int)nslots(c->leaf->data)) return 0;
    return next_leaf(c);
}

void bt_close(struct bt_cursor *c)
{
    if (c->leaf) pager_unpin(c->p, c->leaf);
    c->leaf = NULL;
    c->depth = 0;
}

static int check_node(struct pager *p, uint32_t pg, int depth, const uint8_t *lo, size_t lol,
                      int has_lo, uint64_t *nkeys, int *leaf_depth)
{
    if (depth >= BT_MAX_DEPTH) return BB_EIO;
    struct page *g = NULL;
    int rc = get_node(p, pg, &g);
    if (rc) return rc;
    uint8_t *d = malloc(CAP);
    if (!d) {
        pager_unpin(p, g);
        return BB_ENOMEM;
    }
    memcpy(d, g->data, CAP);
    pager_unpin(p, g);
    unsigned n = nslots(d);
    const uint8_t *pk = lo;
    size_t pkl = lol;
    int have_prev = has_lo;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *k;
        size_t kl;
        cell_key(d, i, &k, &kl);
        if (have_prev && cmpk(pk, pkl, k, kl) > 0) rc = BB_EIO;
        if (have_prev && i > 0 && cmpk(pk, pkl, k, kl) == 0) rc = BB_EIO;
        pk = k;
        pkl = kl;
        have_prev = 1;
    }
    if (rc == 0 && d[0] == BDOC_PT_LEAF) {
        *nkeys += n;
        if (*leaf_depth < 0) *leaf_depth = depth;
        else if (*leaf_depth != depth) rc = BB_EIO;
    } else if (rc == 0) {
        rc = check_node(p, bb_get_le32(d + 8), depth + 1, lo, lol, has_lo, nkeys, leaf_depth);
        for (unsigned i = 0; i < n && rc == 0; i++) {
            const uint8_t *k;
            size_t kl;
            cell_key(d, i, &k, &kl);
            rc = check_node(p, child_at(d, (int)i), depth + 1, k, kl, 1, nkeys, leaf_depth);
        }
    }
    free(d);
    return rc;
}

int bt_check(struct pager *p, uint64_t *nkeys)
{
    *nkeys = 0;
    uint32_t root = root_of(p);
    if (root == 0) return 0;
    int leaf_depth = -1;
    return check_node(p, root, 0, NULL, 0, 0, nkeys, &leaf_depth);
}
