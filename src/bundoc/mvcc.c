/* mvcc.c — snapshot isolation, first-committer-wins, version store, group-committed commits.
 *
 * Tree value layout: u64 LE commit timestamp | payload.
 *
 * Locks, always taken in this order: commit_mu (one committer at a time) -> tree (rwlock; shared
 * for reads and scan batches, exclusive while a commit applies) -> mgr_mu (timestamps and the
 * list of active transactions). A commit holds mgr_mu while it applies, so a transaction that
 * begins concurrently either is registered before the commit decides whether to keep old versions
 * or takes a snapshot that already includes the commit.
 *
 * Visibility for snapshot S and key K: if the version store has K and its newest commit is > S,
 * the answer is the first stored version whose valid-until is > S; otherwise it is the tree (whose
 * timestamp is then <= S). Versions are appended in commit order, so their valid-until values
 * increase. GC drops versions whose valid-until is <= the oldest active snapshot; with no other
 * active transaction at commit time the whole store is dropped.
 */
#include "mvcc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bb_bytes.h"
#include "bb_err.h"
#include "bb_log.h"

#define SCAN_BATCH 256
#define VS_BUCKETS 4096

struct ver {
    uint64_t until;
    uint8_t *val; /* NULL: absent */
    size_t vlen;
};

struct vchain {
    struct vchain *next;
    uint8_t *key;
    size_t klen;
    uint64_t latest;
    struct ver *v;
    size_t n, cap;
};

struct wentry {
    uint8_t *key;
    size_t klen;
    uint8_t *val; /* NULL: delete */
    size_t vlen;
    uint64_t since; /* watches: conflict with commits newer than this (0: the snapshot) */
};

struct arena {
    struct arena *next;
    size_t used, cap;
    uint8_t data[];
};

struct mtxn {
    struct mvcc *m;
    uint64_t snap;
    int readonly;
    struct wentry *ws;
    size_t nws, capws;
    struct bt_item *load;       /* mvcc_put_sorted: ascending keys, bulk-loaded at commit */
    size_t nload, capload;
    struct arena *arena;        /* their bytes */
    unsigned load_fill;
    struct wentry *watch;       /* keys validated at commit (val unused) */
    size_t nwatch, capwatch;
    struct mtxn *prev, *next; /* active list */
};

struct mvcc {
    struct pager *pager;
    struct wal *wal;
    uint64_t checkpoint_bytes;
    pthread_mutex_t commit_mu;
    pthread_rwlock_t tree;
    pthread_mutex_t mgr_mu;
    uint64_t last_ts;
    struct mtxn *active;
    size_t nactive;
    struct vchain **vs;
    size_t nversions, nchains;
    uint64_t vs_latest;       /* newest valid-until pushed to the version store (an upper bound of
                                 every chain's latest; versions are pushed in commit order) */
    uint64_t commits;
    unsigned gc_tick;
    /* prefix clock: for the first 4 bytes of written keys (a collection's documents share
     * them), the newest commit that wrote such a key; absent = open_ts (no write since open,
     * and every snapshot is at least that). Lets a watch on a key skip the tree lookup when
     * nothing under its prefix was committed after the watch's bound. Commit locks held. */
    struct pclock {
        uint32_t pfx;
        uint64_t ts; /* 0: empty slot */
    } *pc;
    size_t npc, cappc;
    uint64_t open_ts;
};


static int cmpk(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static uint8_t *dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

/* ---- version store ---- */
static size_t vs_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 1099511628211ull;
    return (size_t)(h % VS_BUCKETS);
}

static struct vchain *vs_find(struct mvcc *m, const uint8_t *k, size_t kl)
{
    if (m->nchains == 0) return NULL;
    for (struct vchain *c = m->vs[vs_hash(k, kl)]; c; c = c->next)
        if (c->klen == kl && memcmp(c->key, k, kl) == 0) return c;
    return NULL;
}

static void chain_free(struct vchain *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->v[i].val);
    free(c->v);
    free(c->key);
    free(c);
}

static void vs_clear(struct mvcc *m)
{
    if (m->nchains == 0) return;
    for (size_t b = 0; b < VS_BUCKETS; b++) {
        struct vchain *c = m->vs[b];
        while (c) {
            struct vchain *n = c->next;
            chain_free(c);
            c = n;
        }
        m->vs[b] = NULL;
    }
    m->nchains = 0;
    m->nversions = 0;
}

/* Records that commit ts until replaced the state (val or absent) of k. Takes ownership of val. */
static int vs_push(struct mvcc *m, const uint8_t *k, size_t kl, uint64_t until, uint8_t *val,
                   size_t vlen)
{
    struct vchain *c = vs_find(m, k, kl);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->key = dup(k, kl))) {
            free(c);
            free(val);
            return BB_ENOMEM;
        }
        c->klen = kl;
        size_t b = vs_hash(k, kl);
        c->next = m->vs[b];
        m->vs[b] = c;
        m->nchains++;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 2;
        struct ver *nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) {
            free(val);
            return BB_ENOMEM;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = (struct ver){until, val, vlen};
    c->latest = until;
    if (until > m->vs_latest) m->vs_latest = until;
    m->nversions++;
    return 0;
}

static void vs_gc(struct mvcc *m, uint64_t oldest)
{
    for (size_t b = 0; b < VS_BUCKETS; b++) {
        struct vchain **pp = &m->vs[b];
        while (*pp) {
            struct vchain *c = *pp;
            size_t drop = 0;
            while (drop < c->n && c->v[drop].until <= oldest) free(c->v[drop++].val);
            if (drop) {
                memmove(c->v, c->v + drop, (c->n - drop) * sizeof *c->v);
                c->n -= drop;
                m->nversions -= drop;
            }
            if (c->n == 0 && c->latest <= oldest) {
                *pp = c->next;
                chain_free(c);
                m->nchains--;
            } else {
                pp = &c->next;
            }
        }
    }
}

/* Newest commit timestamp of k (0 if unknown/absent for every snapshot). Tree lock held. */
static int latest_ts(struct mvcc *m, const uint8_t *k, size_t kl, uint64_t *out)
{
    struct vchain *c = vs_find(m, k, kl);
    uint64_t ts = c ? c->latest : 0;
    uint8_t v[8];
    size_t vl = 0;
    int rc = bt_get_head(m->pager, k, kl, v, 8, &vl);
    if (rc == 0) {
        if (vl >= 8 && bb_get_le64(v) > ts) ts = bb_get_le64(v);
    } else if (rc != BB_ENOTFOUND) {
        return rc;
    }
    *out = ts;
    return 0;
}

/* Resolves k for snapshot snap; tree lock held (shared is enough). With have_tree, tree_val is the
 * tree value already read (NULL: absent from the tree), and resolve takes ownership of it.
 * Result: *val malloc'ed payload or NULL (absent). */
static int resolve(struct mvcc *m, uint64_t snap, const uint8_t *k, size_t kl, uint8_t *tree_val,
                   size_t tree_vlen, int have_tree, uint8_t **val, size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    struct vchain *c = vs_find(m, k, kl);
    if (c && c->latest > snap) {
        free(tree_val);
        for (size_t i = 0; i < c->n; i++) {
            if (c->v[i].until > snap) {
                if (c->v[i].val) {
                    *val = dup(c->v[i].val, c->v[i].vlen);
                    if (!*val) return BB_ENOMEM;
                    *vlen = c->v[i].vlen;
                }
                return 0;
            }
        }
        bb_error("bundoc", "mvcc: no version of a key for snapshot %llu", (unsigned long long)snap);
        return BB_EINTERNAL;
    }
    uint8_t *tv = NULL;
    size_t tl = 0;
    if (have_tree) {
        if (!tree_val) return 0;
        tv = tree_val;
        tl = tree_vlen;
    } else {
        int rc = bt_get(m->pager, k, kl, &tv, &tl);
        if (rc == BB_ENOTFOUND) return 0;
        if (rc) return rc;
    }
    if (tl < 8 || bb_get_le64(tv) > snap) {
        /* what the tree holds comes from disk: a value without its 8-byte commit stamp, or
         * stamped after every commit recovery found, is corruption (BB_EIO), not a bug */
        free(tv);
        bb_error("bundoc", "mvcc: corrupt tree value (%s)",
                 tl < 8 ? "shorter than its commit stamp" : "stamped after the last commit");
        return BB_EIO;
    }
    memmove(tv, tv + 8, tl - 8);
    *val = tv;
    *vlen = tl - 8;
    return 0;
}

/* ---- prefix clock ---- */
static uint32_t pc_key(const uint8_t *k, size_t kl)
{
    uint8_t b[4] = {0, 0, 0, 0};
    memcpy(b, k, kl < 4 ? kl : 4);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static size_t pc_slot(const struct mvcc *m, uint32_t pfx)
{
    size_t i = (size_t)(pfx * 2654435761u) & (m->cappc - 1);
    while (m->pc[i].ts && m->pc[i].pfx != pfx) i = (i + 1) & (m->cappc - 1);
    return i;
}

static uint64_t pc_get(const struct mvcc *m, const uint8_t *k, size_t kl)
{
    if (!m->cappc) return m->open_ts;
    size_t i = pc_slot(m, pc_key(k, kl));
    return m->pc[i].ts ? m->pc[i].ts : m->open_ts;
}

/* Records a commit at ts under k's prefix. On allocation failure the clock is switched off
 * (every prefix then reads as "written at the newest commit": watches take the lookup). */
static void pc_set(struct mvcc *m, const uint8_t *k, size_t kl, uint64_t ts)
{
    if (m->open_ts == UINT64_MAX) return;
    if (2 * (m->npc + 1) > m->cappc) {
        size_t nc = m->cappc ? 2 * m->cappc : 64;
        struct pclock *old = m->pc, *nw = calloc(nc, sizeof *nw);
        if (!nw) {
            free(m->pc);
            m->pc = NULL;
            m->npc = m->cappc = 0;
            m->open_ts = UINT64_MAX;
            return;
        }
        size_t oc = m->cappc;
        m->pc = nw;
        m->cappc = nc;
        for (size_t i = 0; i < oc; i++)
            if (old[i].ts) m->pc[pc_slot(m, old[i].pfx)] = old[i];
        free(old);
    }
    uint32_t pfx = pc_key(k, kl);
    size_t i = pc_slot(m, pfx);
    if (!m->pc[i].ts) m->npc++;
    m->pc[i] = (struct pclock){pfx, ts};
}

/* ---- write set ---- */
static size_t ws_find(const struct mtxn *t, const uint8_t *k, size_t kl, int *found)
{
    size_t lo = 0, hi = t->nws;
    *found = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmpk(t->ws[mid].key, t->ws[mid].klen, k, kl);
        if (c < 0) lo = mid + 1;
        else {
            if (c == 0) *found = 1;
            hi = mid;
        }
    }
    return lo;
}

static int ws_set(struct mtxn *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int del)
{
    if (t->readonly) return BB_EPERM;
    if (kl == 0 || kl > BT_MAX_KEY) return BB_EINVAL;
    uint8_t *nv = NULL;
    if (!del) {
        nv = dup(v, vl);
        if (!nv) return BB_ENOMEM;
    }
    int found;
    size_t pos = ws_find(t, k, kl, &found);
    if (found) {
        free(t->ws[pos].val);
        t->ws[pos].val = nv;
        t->ws[pos].vlen = vl;
        return 0;
    }
    if (t->nws == t->capws) {
        size_t nc = t->capws ? t->capws * 2 : 8;
        struct wentry *nw = realloc(t->ws, nc * sizeof *nw);
        if (!nw) {
            free(nv);
            return BB_ENOMEM;
        }
        t->ws = nw;
        t->capws = nc;
    }
    uint8_t *nk = dup(k, kl);
    if (!nk) {
        free(nv);
        return BB_ENOMEM;
    }
    memmove(t->ws + pos + 1, t->ws + pos, (t->nws - pos) * sizeof *t->ws);
    t->ws[pos] = (struct wentry){nk, kl, nv, vl, 0};
    t->nws++;
    return 0;
}

int mvcc_put(struct mtxn *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    return ws_set(t, key, klen, val, vlen, 0);
}

int mvcc_del(struct mtxn *t, const uint8_t *key, size_t klen)
{
    return ws_set(t, key, klen, NULL, 0, 1);
}

static uint8_t *arena_copy(struct mtxn *t, const uint8_t *p, size_t n)
{
    struct arena *a = t->arena;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        a = malloc(sizeof *a + cap);
        if (!a) return NULL;
        a->next = t->arena;
        a->used = 0;
        a->cap = cap;
        t->arena = a;
    }
    uint8_t *d = a->data + a->used;
    if (n) memcpy(d, p, n);
    a->used += n;
    return d;
}

int mvcc_put_sorted(struct mtxn *t, const uint8_t *key, size_t klen, const uint8_t *val,
                    size_t vlen)
{
    if (t->readonly) return BB_EPERM;
    if (klen == 0 || klen > BT_MAX_KEY || vlen > UINT32_MAX - 8 || (vlen && !val)) return BB_EINVAL;
    if (t->nload) {
        const struct bt_item *l = &t->load[t->nload - 1];
        if (cmpk(l->key, l->klen, key, klen) >= 0) return BB_EINVAL;
    }
    if (t->nload == t->capload) {
        size_t nc = t->capload ? t->capload * 2 : 256;
        struct bt_item *nl = realloc(t->load, nc * sizeof *nl);
        if (!nl) return BB_ENOMEM;
        t->load = nl;
        t->capload = nc;
    }
    uint8_t *k = arena_copy(t, key, klen);
    uint8_t *v = k ? arena_copy(t, val, vlen) : NULL;
    if (!v) return BB_ENOMEM;
    t->load[t->nload++] = (struct bt_item){k, klen, v, vlen};
    return 0;
}

int mvcc_set_load_fill(struct mtxn *t, unsigned pct)
{
    if (pct < 10 || pct > 100) return BB_EINVAL;
    t->load_fill = pct;
    return 0;
}

/* Index of key among t's loaded keys, or -1. */
static long load_find(const struct mtxn *t, const uint8_t *k, size_t kl)
{
    size_t lo = 0, hi = t->nload;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmpk(t->load[mid].key, t->load[mid].klen, k, kl);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* First-committer-wins for the loaded keys (tree lock held exclusively): the version store by
 * hash, the tree by one walk over the keys that exist between the first and last loaded key (an
 * index build loads into a range that only concurrent writers have touched). BB_EINVAL when a
 * loaded key is also in the write set. */
static int load_validate(struct mvcc *m, const struct mtxn *t)
{
    for (size_t i = 0; i < t->nws; i++)
        if (load_find(t, t->ws[i].key, t->ws[i].klen) >= 0) return BB_EINVAL;
    if (m->nchains)
        for (size_t i = 0; i < t->nload; i++) {
            struct vchain *c = vs_find(m, t->load[i].key, t->load[i].klen);
            if (c && c->latest > t->snap) return BB_ECONFLICT;
        }
    const struct bt_item *last = &t->load[t->nload - 1];
    struct bt_cursor cur;
    int rc = bt_seek(m->pager, &cur, t->load[0].key, t->load[0].klen);
    while (rc == 0 && bt_valid(&cur)) {
        const uint8_t *k;
        size_t kl;
        bt_key(&cur, &k, &kl);
        if (cmpk(k, kl, last->key, last->klen) > 0) break;
        if (load_find(t, k, kl) >= 0) {
            const uint8_t *v;
            size_t vl;
            uint8_t *owned = NULL;
            rc = bt_value_ref(&cur, &v, &vl, &owned);
            if (rc) break;
            int newer = vl < 8 || bb_get_le64(v) > t->snap;
            free(owned);
            if (vl < 8) rc = BB_EIO;
            else if (newer) rc = BB_ECONFLICT;
            if (rc) break;
        }
        rc = bt_next(&cur);
    }
    bt_close(&cur);
    return rc;
}

/* Applies the loaded keys with commit timestamp ts (recording their previous state for older
 * snapshots when record). */
static int load_apply(struct mvcc *m, struct mtxn *t, uint64_t ts, int record)
{
    int rc = 0;
    for (size_t i = 0; record && i < t->nload && rc == 0; i++) {
        uint8_t *old = NULL;
        size_t ol = 0;
        rc = bt_get(m->pager, t->load[i].key, t->load[i].klen, &old, &ol);
        if (rc == BB_ENOTFOUND) rc = vs_push(m, t->load[i].key, t->load[i].klen, ts, NULL, 0);
        else if (rc == 0 && ol < 8) {
            free(old);
            rc = BB_EIO;
        } else if (rc == 0) {
            memmove(old, old + 8, ol - 8);
            rc = vs_push(m, t->load[i].key, t->load[i].klen, ts, old, ol - 8);
        }
    }
    if (rc) return rc;
    for (size_t i = 0; i < t->nload; i++)
        if (i == 0 || pc_key(t->load[i].key, t->load[i].klen) !=
                          pc_key(t->load[i - 1].key, t->load[i - 1].klen))
            pc_set(m, t->load[i].key, t->load[i].klen, ts);
    uint8_t pre[8];
    bb_put_le64(pre, ts);
    return bt_load(m->pager, t->load, t->nload, pre, 8, t->load_fill ? t->load_fill : 100);
}

int mvcc_watch(struct mtxn *t, const uint8_t *key, size_t klen)
{
    return mvcc_watch_since(t, key, klen, 0);
}

/* Validation of one watch: conflict when the key was committed after since (0: the snapshot),
 * and, for a watch since an older stamp (must_exist), when the key is gone: it existed at that
 * stamp, so it was deleted since, even if no transaction kept the deletion's history. */
static int watch_check(struct mvcc *m, const struct mtxn *t, const struct wentry *w)
{
    /* nothing under the key's prefix was committed after the bound: the key is as it was then
     * (and a key seen at since still exists) */
    if (pc_get(m, w->key, w->klen) <= (w->since ? w->since : t->snap)) return 0;
    uint64_t ts = 0;
    struct vchain *c = vs_find(m, w->key, w->klen);
    if (c) ts = c->latest;
    uint8_t v[8];
    size_t vl = 0;
    int rc = bt_get_head(m->pager, w->key, w->klen, v, 8, &vl);
    if (rc == 0) {
        if (vl >= 8 && bb_get_le64(v) > ts) ts = bb_get_le64(v);
    } else if (rc == BB_ENOTFOUND) {
        if (w->since) return BB_ECONFLICT;
        rc = 0;
    } else {
        return rc;
    }
    return ts > (w->since ? w->since : t->snap) ? BB_ECONFLICT : 0;
}

uint64_t mvcc_snapshot(const struct mtxn *t)
{
    return t->snap;
}

int mvcc_watch_since(struct mtxn *t, const uint8_t *key, size_t klen, uint64_t since)
{
    if (t->readonly) return 0;
    /* duplicates are harmless (validated twice); only recent ones are skipped, so that watching
     * many keys stays linear (a writer watches its collection's catalog entry per write) */
    for (size_t i = t->nwatch > 8 ? t->nwatch - 8 : 0; i < t->nwatch; i++)
        if (t->watch[i].since == since && cmpk(t->watch[i].key, t->watch[i].klen, key, klen) == 0)
            return 0;
    if (t->nwatch == t->capwatch) {
        size_t nc = t->capwatch ? t->capwatch * 2 : 4;
        struct wentry *nw = realloc(t->watch, nc * sizeof *nw);
        if (!nw) return BB_ENOMEM;
        t->watch = nw;
        t->capwatch = nc;
    }
    uint8_t *k = dup(key, klen);
    if (!k) return BB_ENOMEM;
    t->watch[t->nwatch++] = (struct wentry){k, klen, NULL, 0, since};
    return 0;
}

/* ---- open / close ---- */
int mvcc_open(const char *dir, const struct mvcc_config *cfg, struct mvcc **out)
{
    *out = NULL;
    struct mvcc *m = calloc(1, sizeof *m);
    if (!m) return BB_ENOMEM;
    m->vs = calloc(VS_BUCKETS, sizeof *m->vs);
    if (!m->vs) {
        free(m);
        return BB_ENOMEM;
    }
    pthread_mutex_init(&m->commit_mu, NULL);
    /* writer-preferring: a steady stream of readers (each holding the lock for one read or one
     * scan batch) must not starve a committer. No code path takes the read lock recursively. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->tree, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&m->mgr_mu, NULL);
    m->checkpoint_bytes = cfg->checkpoint_bytes;
    int rc = pager_open(cfg->vfs, dir, cfg->key, cfg->cache_pages, &m->pager);
    struct wal_open_info info;
    if (rc == 0)
        rc = wal_open(cfg->vfs, dir, m->pager, cfg->durability, cfg->sync_ms, &m->wal, &info);
    if (rc) {
        if (m->pager) pager_close(m->pager);
        m->pager = NULL;
        mvcc_close(m);
        return rc;
    }
    struct pager_meta pm;
    pager_meta_get(m->pager, &pm);
    m->last_ts = info.max_ts > pm.last_ts ? info.max_ts : pm.last_ts;
    m->open_ts = m->last_ts;
    if (info.frames || info.truncated)
        bb_info("bundoc", "recovery: %llu committed frames redone, %llu bytes of tail dropped",
                (unsigned long long)info.frames, (unsigned long long)info.truncated);
    *out = m;
    return 0;
}

int mvcc_checkpoint(struct mvcc *m)
{
    pthread_mutex_lock(&m->commit_mu);
    pthread_mutex_lock(&m->mgr_mu);
    uint64_t ts = m->last_ts;
    pthread_mutex_unlock(&m->mgr_mu);
    int rc = wal_checkpoint(m->wal, ts);
    pthread_mutex_unlock(&m->commit_mu);
    return rc;
}

int mvcc_close(struct mvcc *m)
{
    if (!m) return 0;
    int rc = 0;
    if (m->wal) {
        if (!wal_error(m->wal)) rc = mvcc_checkpoint(m);
        if (rc == 0 && !wal_error(m->wal)) rc = wal_shrink(m->wal);
        wal_close(m->wal);
    }
    if (m->pager) pager_close(m->pager);
    while (m->active) {
        struct mtxn *t = m->active;
        bb_warn("bundoc", "closing with an open transaction");
        m->active = t->next;
    }
    vs_clear(m);
    free(m->vs);
    free(m->pc);
    pthread_mutex_destroy(&m->commit_mu);
    pthread_rwlock_destroy(&m->tree);
    pthread_mutex_destroy(&m->mgr_mu);
    free(m);
    return rc;
}

void mvcc_stats_get(struct mvcc *m, struct mvcc_stats *s)
{
    memset(s, 0, sizeof *s);
    s->wal_bytes = wal_size(m->wal);
    wal_counters(m->wal, &s->syncs, &s->checkpoints);
    s->error = wal_error(m->wal);
    pthread_rwlock_rdlock(&m->tree);
    struct pager_meta pm;
    pager_meta_get(m->pager, &pm);
    s->pages = pm.npages;
    s->free_pages = pm.nfree;
    s->versions = m->nversions;
    pthread_rwlock_unlock(&m->tree);
    pthread_mutex_lock(&m->mgr_mu);
    s->commits = m->commits;
    pthread_mutex_unlock(&m->mgr_mu);
}

/* ---- transactions ---- */
int mvcc_begin(struct mvcc *m, int readonly, struct mtxn **out)
{
    *out = NULL;
    struct mtxn *t = calloc(1, sizeof *t);
    if (!t) return BB_ENOMEM;
    t->m = m;
    t->readonly = readonly;
    pthread_mutex_lock(&m->mgr_mu);
    t->snap = m->last_ts;
    t->next = m->active;
    if (m->active) m->active->prev = t;
    m->active = t;
    m->nactive++;
    pthread_mutex_unlock(&m->mgr_mu);
    *out = t;
    return 0;
}

int mvcc_readonly(const struct mtxn *t) { return t->readonly; }

static void txn_free(struct mtxn *t)
{
    struct mvcc *m = t->m;
    pthread_mutex_lock(&m->mgr_mu);
    if (t->prev) t->prev->next = t->next;
    else m->active = t->next;
    if (t->next) t->next->prev = t->prev;
    m->nactive--;
    pthread_mutex_unlock(&m->mgr_mu);
    for (size_t i = 0; i < t->nws; i++) {
        free(t->ws[i].key);
        free(t->ws[i].val);
    }
    free(t->ws);
    for (size_t i = 0; i < t->nwatch; i++) free(t->watch[i].key);
    free(t->watch);
    free(t->load);
    while (t->arena) {
        struct arena *a = t->arena;
        t->arena = a->next;
        free(a);
    }
    free(t);
}

void mvcc_rollback(struct mtxn *t)
{
    if (t) txn_free(t);
}

int mvcc_get(struct mtxn *t, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    int found;
    size_t pos = ws_find(t, key, klen, &found);
    if (found) {
        if (!t->ws[pos].val) return BB_ENOTFOUND;
        *val = dup(t->ws[pos].val, t->ws[pos].vlen);
        if (!*val) return BB_ENOMEM;
        *vlen = t->ws[pos].vlen;
        return 0;
    }
    pthread_rwlock_rdlock(&t->m->tree);
    int rc = resolve(t->m, t->snap, key, klen, NULL, 0, 0, val, vlen);
    pthread_rwlock_unlock(&t->m->tree);
    if (rc == 0 && !*val) rc = BB_ENOTFOUND;
    return rc;
}

int mvcc_get_stamp(struct mtxn *t, const uint8_t *key, size_t klen, uint64_t *stamp)
{
    *stamp = 0;
    int found;
    size_t pos = ws_find(t, key, klen, &found);
    if (found) {
        if (!t->ws[pos].val) return BB_ENOTFOUND;
        *stamp = UINT64_MAX; /* the transaction's own write */
        return 0;
    }
    struct mvcc *m = t->m;
    pthread_rwlock_rdlock(&m->tree);
    int rc = 0;
    struct vchain *c = vs_find(m, key, klen);
    if (c && c->latest > t->snap) {
        /* the visible version is an old one whose commit time is not kept: say "unknown" (or
         * absent, when the snapshot sees no version) */
        for (size_t i = 0; i < c->n; i++) {
            if (c->v[i].until > t->snap) {
                if (!c->v[i].val) rc = BB_ENOTFOUND;
                break;
            }
        }
        *stamp = UINT64_MAX;
    } else {
        uint8_t *v = NULL;
        size_t vl = 0;
        rc = bt_get(m->pager, key, klen, &v, &vl);
        if (rc == 0) {
            if (vl < 8) rc = BB_EIO;
            else *stamp = bb_get_le64(v);
            free(v);
        }
    }
    pthread_rwlock_unlock(&m->tree);
    if (rc) *stamp = 0;
    return rc;
}

static int apply(struct mvcc *m, struct mtxn *t, uint64_t ts, int record)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < t->nws && rc == 0; i++) {
        struct wentry *e = &t->ws[i];
        if (i == 0 || pc_key(e->key, e->klen) != pc_key(t->ws[i - 1].key, t->ws[i - 1].klen))
            pc_set(m, e->key, e->klen, ts);
        if (record) {
            uint8_t *old = NULL;
            size_t ol = 0;
            rc = bt_get(m->pager, e->key, e->klen, &old, &ol);
            if (rc == BB_ENOTFOUND) rc = vs_push(m, e->key, e->klen, ts, NULL, 0);
            else if (rc == 0 && ol < 8) {
                free(old);
                rc = BB_EIO;
            } else if (rc == 0) {
                memmove(old, old + 8, ol - 8);
                rc = vs_push(m, e->key, e->klen, ts, old, ol - 8);
            }
            if (rc) break;
        }
        if (e->val) {
            if (e->vlen + 8 > cap) {
                free(buf);
                cap = e->vlen + 8;
                buf = malloc(cap);
                if (!buf) {
                    rc = BB_ENOMEM;
                    break;
                }
            }
            bb_put_le64(buf, ts);
            memcpy(buf + 8, e->val, e->vlen);
            rc = bt_put(m->pager, e->key, e->klen, buf, e->vlen + 8);
        } else {
            rc = bt_delete(m->pager, e->key, e->klen);
            if (rc == BB_ENOTFOUND) rc = 0;
        }
    }
    free(buf);
    return rc;
}

int mvcc_commit(struct mtxn *t)
{
    struct mvcc *m = t->m;
    int rc = 0;
    uint64_t lsn = 0;
    if (t->readonly || (t->nws == 0 && t->nload == 0)) goto out;
    rc = wal_error(m->wal);
    if (rc) goto out;
    pthread_mutex_lock(&m->commit_mu);
    pthread_rwlock_wrlock(&m->tree);
    for (size_t i = 0; i < t->nws && rc == 0; i++) {
        uint64_t ts = 0;
        rc = latest_ts(m, t->ws[i].key, t->ws[i].klen, &ts);
        if (rc == 0 && ts > t->snap) rc = BB_ECONFLICT;
    }
    for (size_t i = 0; i < t->nwatch && rc == 0; i++) rc = watch_check(m, t, &t->watch[i]);
    if (rc == 0 && t->nload) rc = load_validate(m, t);
    if (rc == 0) {
        pthread_mutex_lock(&m->mgr_mu);
        uint64_t ts = m->last_ts + 1;
        int record = m->nactive > 1;
        uint64_t oldest = UINT64_MAX;
        for (struct mtxn *a = m->active; a; a = a->next)
            if (a != t && a->snap < oldest) oldest = a->snap;
        if (!record) vs_clear(m);
        pager_txn_begin(m->pager);
        rc = apply(m, t, ts, record);
        if (rc == 0 && t->nload) rc = load_apply(m, t, ts, record);
        if (rc == 0) rc = wal_append(m->wal, ts, &lsn);
        pager_txn_end(m->pager, rc == 0);
        if (rc == 0) {
            m->last_ts = ts;
            m->commits++;
            if (record && (++m->gc_tick % 32 == 0 || m->nversions > 4096)) vs_gc(m, oldest);
        } else if (rc != BB_ENOMEM) {
            wal_set_error(m->wal, rc);
        }
        pthread_mutex_unlock(&m->mgr_mu);
    }
    pthread_rwlock_unlock(&m->tree);
    if (rc == 0 && wal_size(m->wal) > m->checkpoint_bytes) {
        pthread_mutex_lock(&m->mgr_mu);
        uint64_t ts = m->last_ts;
        pthread_mutex_unlock(&m->mgr_mu);
        (void)wal_checkpoint(m->wal, ts); /* failure is sticky and reported by later commits */
    }
    pthread_mutex_unlock(&m->commit_mu);
    if (rc == 0 && lsn) rc = wal_sync_to(m->wal, lsn);
out:
    txn_free(t);
    return rc;
}

/* ---- scans ---- */
struct item {
    uint8_t *key;
    size_t klen;
    uint8_t *val; /* NULL: absent */
    size_t vlen;
};

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return cmpk(x->key, x->klen, y->key, y->klen);
}

static void items_free(struct item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(it[i].key);
        free(it[i].val);
    }
}

static int in_range(const uint8_t *k, size_t kl, const uint8_t *lo, size_t lol, int lo_excl,
                    const uint8_t *hi, size_t hil, int has_hi)
{
    int c = cmpk(k, kl, lo, lol);
    if (c < 0 || (c == 0 && lo_excl)) return 0;
    if (has_hi && cmpk(k, kl, hi, hil) >= 0) return 0;
    return 1;
}

/* Fast path for the common case: the transaction has no writes and no version newer than its
 * snapshot is held (vs_latest), so
 * the tree is exactly the snapshot. Values are handed to cb straight from the leaf pages, in
 * batches of SCAN_BATCH keys under the shared tree lock; between batches the lock is released
 * (a writer may commit) and the check is redone. Returns 1 if the fast path cannot continue (the
 * caller then finishes with the general path from *resume). */
static int scan_fast(struct mtxn *t, uint8_t **lo, size_t *lol, int *lo_excl, const uint8_t *end,
                     size_t elen, mvcc_scan_fn cb, void *ctx, int *done)
{
    struct mvcc *m = t->m;
    *done = 0;
    for (;;) {
        pthread_rwlock_rdlock(&m->tree);
        /* versions newer than the snapshot exist: take the general path. Older ones (kept for
         * a transaction that ended, or for an older snapshot) do not change what t sees. */
        if (m->nchains && m->vs_latest > t->snap) {
            pthread_rwlock_unlock(&m->tree);
            return 1;
        }
        struct bt_cursor c;
        int rc = bt_seek(m->pager, &c, *lo, *lol);
        size_t got = 0;
        int stop = 0;
        while (rc == 0 && bt_valid(&c) && !stop) {
            const uint8_t *k;
            size_t kl;
            bt_key(&c, &k, &kl);
            if (end && cmpk(k, kl, end, elen) >= 0) {
                stop = 1;
                break;
            }
            int excl = *lo_excl && cmpk(k, kl, *lo, *lol) == 0;
            if (!excl) {
                if (got == SCAN_BATCH) {
                    uint8_t *nl = dup(k, kl); /* resume at this key, inclusive */
                    if (!nl) rc = BB_ENOMEM;
                    else {
                        free(*lo);
                        *lo = nl;
                        *lol = kl;
                        *lo_excl = 0;
                    }
                    break;
                }
                const uint8_t *v;
                size_t vl;
                uint8_t *owned = NULL;
                rc = bt_value_ref(&c, &v, &vl, &owned);
                if (rc == 0 && (vl < 8 || bb_get_le64(v) > t->snap)) rc = BB_EIO; /* corrupt */
                if (rc == 0) {
                    int r = cb(ctx, k, kl, v + 8, vl - 8);
                    if (r < 0) rc = r;
                    else if (r > 0) stop = 1;
                }
                free(owned);
                got++;
                if (rc || stop) break;
            }
            rc = bt_next(&c);
        }
        int more = rc == 0 && !stop && bt_valid(&c);
        bt_close(&c);
        pthread_rwlock_unlock(&m->tree);
        if (rc) return rc;
        if (!more) {
            *done = 1;
            return 0;
        }
    }
}

int mvcc_scan(struct mtxn *t, const uint8_t *start, size_t slen, const uint8_t *end, size_t elen,
              mvcc_scan_fn cb, void *ctx)
{
    struct mvcc *m = t->m;
    uint8_t *lo = dup(start, slen);
    size_t lol = slen;
    int lo_excl = 0;
    int rc = 0;
    struct item *items = NULL;
    size_t n = 0, cap = 0;
    if (!lo) return BB_ENOMEM;
    if (t->nws == 0) {
        int done = 0;
        rc = scan_fast(t, &lo, &lol, &lo_excl, end, elen, cb, ctx, &done);
        if (rc <= 0) {
            free(lo);
            return rc;
        }
        rc = 0; /* versions appeared: continue from lo with the general path */
    }
    for (;;) {
        n = 0;
        int more = 0;
        uint8_t *ub = NULL; /* upper bound of this batch (inclusive), NULL: the range end */
        size_t ubl = 0;
        pthread_rwlock_rdlock(&m->tree);
        struct bt_cursor c;
        rc = bt_seek(m->pager, &c, lo, lol);
        size_t got = 0;
        while (rc == 0 && bt_valid(&c)) {
            const uint8_t *k;
            size_t kl;
            bt_key(&c, &k, &kl);
            if (!in_range(k, kl, lo, lol, lo_excl, end, elen, end != NULL)) {
                if (end && cmpk(k, kl, end, elen) >= 0) break;
                rc = bt_next(&c);
                continue;
            }
            if (got == SCAN_BATCH) {
                more = 1;
                break;
            }
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 2 * SCAN_BATCH;
                struct item *ni = realloc(items, nc * sizeof *ni);
                if (!ni) {
                    rc = BB_ENOMEM;
                    break;
                }
                items = ni;
                cap = nc;
            }
            uint8_t *tv = NULL;
            size_t tl = 0;
            rc = bt_value(&c, &tv, &tl);
            if (rc) break;
            struct item *it = &items[n];
            it->key = dup(k, kl);
            it->klen = kl;
            it->val = NULL;
            if (!it->key) {
                free(tv);
                rc = BB_ENOMEM;
                break;
            }
            rc = resolve(m, t->snap, k, kl, tv, tl, 1, &it->val, &it->vlen);
            n++;
            got++;
            if (rc) break;
            rc = bt_next(&c);
        }
        bt_close(&c);
        if (rc == 0 && more) {
            ub = items[n - 1].key;
            ubl = items[n - 1].klen;
        }
        /* keys deleted from the tree but visible to this snapshot */
        if (rc == 0 && m->nchains) {
            for (size_t b = 0; b < VS_BUCKETS && rc == 0; b++) {
                for (struct vchain *vc = m->vs[b]; vc && rc == 0; vc = vc->next) {
                    if (vc->latest <= t->snap) continue;
                    if (!in_range(vc->key, vc->klen, lo, lol, lo_excl, end, elen, end != NULL)) continue;
                    if (ub && cmpk(vc->key, vc->klen, ub, ubl) > 0) continue;
                    int dupe = 0;
                    for (size_t i = 0; i < got && !dupe; i++)
                        dupe = cmpk(items[i].key, items[i].klen, vc->key, vc->klen) == 0;
                    if (dupe) continue;
                    if (n == cap) {
                        size_t nc = cap ? cap * 2 : 2 * SCAN_BATCH;
                        struct item *ni = realloc(items, nc * sizeof *ni);
                        if (!ni) {
                            rc = BB_ENOMEM;
                            break;
                        }
                        items = ni;
                        cap = nc;
                    }
                    struct item *it = &items[n];
                    it->key = dup(vc->key, vc->klen);
                    it->klen = vc->klen;
                    it->val = NULL;
                    if (!it->key) {
                        rc = BB_ENOMEM;
                        break;
                    }
                    rc = resolve(m, t->snap, vc->key, vc->klen, NULL, 0, 1, &it->val, &it->vlen);
                    n++;
                }
            }
        }
        pthread_rwlock_unlock(&m->tree);
        if (rc) break;
        /* the transaction's own writes override */
        int found;
        size_t wi = ws_find(t, lo, lol, &found);
        for (; wi < t->nws && rc == 0; wi++) {
            struct wentry *e = &t->ws[wi];
            if (!in_range(e->key, e->klen, lo, lol, lo_excl, end, elen, end != NULL)) {
                if (end && cmpk(e->key, e->klen, end, elen) >= 0) break;
                continue;
            }
            if (ub && cmpk(e->key, e->klen, ub, ubl) > 0) break;
            size_t j;
            for (j = 0; j < n; j++)
                if (cmpk(items[j].key, items[j].klen, e->key, e->klen) == 0) break;
            if (j == n) {
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 2 * SCAN_BATCH;
                    struct item *ni = realloc(items, nc * sizeof *ni);
                    if (!ni) {
                        rc = BB_ENOMEM;
                        break;
                    }
                    items = ni;
                    cap = nc;
                }
                items[n].key = dup(e->key, e->klen);
                items[n].klen = e->klen;
                items[n].val = NULL;
                if (!items[n].key) {
                    rc = BB_ENOMEM;
                    break;
                }
                n++;
            }
            free(items[j].val);
            items[j].val = NULL;
            items[j].vlen = 0;
            if (e->val) {
                items[j].val = dup(e->val, e->vlen);
                if (!items[j].val) rc = BB_ENOMEM;
                items[j].vlen = e->vlen;
            }
        }
        if (rc) break;
        if (n > 1) qsort(items, n, sizeof *items, item_cmp);
        int stop = 0;
        for (size_t i = 0; i < n && !stop; i++) {
            if (!items[i].val) continue;
            int r = cb(ctx, items[i].key, items[i].klen, items[i].val, items[i].vlen);
            if (r < 0) rc = r;
            if (r != 0) stop = 1;
        }
        if (rc || stop || !more) break;
        /* next batch starts after the batch's upper bound (ub points into items) */
        uint8_t *nl = dup(ub, ubl);
        if (!nl) {
            rc = BB_ENOMEM;
            break;
        }
        free(lo);
        lo = nl;
        lol = ubl;
        lo_excl = 1;
        items_free(items, n);
        n = 0;
    }
    items_free(items, n);
    free(items);
    free(lo);
    return rc;
}

/* ---- reverse scans ---- */

struct rev_item {
    uint8_t *key, *val;
    size_t klen, vlen;
};

struct rev_collect {
    struct rev_item *v;
    size_t n, cap;
};

static int rev_collect_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                          size_t vlen)
{
    struct rev_collect *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct rev_item *nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) return BB_ENOMEM;
        c->v = nv;
        c->cap = nc;
    }
    struct rev_item *it = &c->v[c->n];
    it->key = dup(key, klen);
    it->val = dup(val, vlen ? vlen : 1);
    if (!it->key || !it->val) {
        free(it->key);
        free(it->val);
        return BB_ENOMEM;
    }
    it->klen = klen;
    it->vlen = vlen;
    c->n++;
    return 0;
}

/* The general reverse path: the range collected forward (copies), handed out backwards. */
static int scan_rev_general(struct mtxn *t, const uint8_t *lo, size_t lol, const uint8_t *hi,
                            size_t hil, mvcc_scan_fn cb, void *ctx)
{
    struct rev_collect c = {NULL, 0, 0};
    int rc = mvcc_scan(t, lo, lol, hi, hil, rev_collect_cb, &c);
    for (size_t i = c.n; rc == 0 && i-- > 0;) {
        int r = cb(ctx, c.v[i].key, c.v[i].klen, c.v[i].val, c.v[i].vlen);
        if (r < 0) rc = r;
        if (r != 0) break;
    }
    for (size_t i = 0; i < c.n; i++) {
        free(c.v[i].key);
        free(c.v[i].val);
    }
    free(c.v);
    return rc;
}

int mvcc_scan_rev(struct mtxn *t, const uint8_t *lo, size_t lol, const uint8_t *hi, size_t hil,
                  mvcc_scan_fn cb, void *ctx)
{
    struct mvcc *m = t->m;
    if (t->nws) return scan_rev_general(t, lo, lol, hi, hil, cb, ctx);
    uint8_t *ub = dup(hi, hil); /* exclusive upper bound of what is left */
    size_t ubl = hil;
    if (!ub) return BB_ENOMEM;
    int rc = 0;
    for (;;) {
        pthread_rwlock_rdlock(&m->tree);
        if (m->nchains && m->vs_latest > t->snap) { /* versions newer than the snapshot */
            pthread_rwlock_unlock(&m->tree);
            rc = scan_rev_general(t, lo, lol, ub, ubl, cb, ctx);
            break;
        }
        struct bt_cursor c;
        rc = bt_seek_before(m->pager, &c, ub, ubl);
        size_t got = 0;
        int stop = 0, more = 0;
        while (rc == 0 && bt_valid(&c)) {
            const uint8_t *k;
            size_t kl;
            bt_key(&c, &k, &kl);
            if (cmpk(k, kl, lo, lol) < 0) break;
            if (got == SCAN_BATCH) {
                /* the next batch resumes at k itself: the last key < k + "\0" */
                uint8_t *nb = malloc(kl + 1);
                if (!nb) {
                    rc = BB_ENOMEM;
                    break;
                }
                memcpy(nb, k, kl);
                nb[kl] = 0;
                free(ub);
                ub = nb;
                ubl = kl + 1;
                more = 1;
                break;
            }
            const uint8_t *v;
            size_t vl;
            uint8_t *owned = NULL;
            rc = bt_value_ref(&c, &v, &vl, &owned);
            if (rc == 0 && (vl < 8 || bb_get_le64(v) > t->snap)) rc = BB_EIO; /* corrupt */
            if (rc == 0) {
                int r = cb(ctx, k, kl, v + 8, vl - 8);
                if (r < 0) rc = r;
                else if (r > 0) stop = 1;
            }
            free(owned);
            got++;
            if (rc || stop) break;
            rc = bt_prev(&c);
        }
        bt_close(&c);
        pthread_rwlock_unlock(&m->tree);
        if (rc || stop || !more) break;
    }
    free(ub);
    return rc;
}

/* ---- reads that never wait (mvcc.h) ---- */
/* Pages one peek may visit: a few short lookups (catalog, metadata, a document of up to ~200 KB);
 * a longer read is BB_EBUSY rather than holding the caller's thread. */
#define PEEK_MAX_PAGES 64

int mvcc_peek_begin(struct mvcc *m)
{
    if (pthread_rwlock_tryrdlock(&m->tree) != 0) return BB_EBUSY;
    pager_set_nowait(PEEK_MAX_PAGES);
    return 0;
}

int mvcc_peek_get(struct mvcc *m, const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen)
{
    /* under the shared tree lock the tree holds exactly the newest applied commit */
    uint8_t *tv = NULL;
    size_t tl = 0;
    int rc = bt_get(m->pager, key, klen, &tv, &tl);
    if (rc) return rc;
    if (tl < 8) {
        free(tv);
        return BB_EIO;
    }
    memmove(tv, tv + 8, tl - 8);
    *val = tv;
    *vlen = tl - 8;
    return 0;
}

void mvcc_peek_end(struct mvcc *m)
{
    pager_set_nowait(0);
    pthread_rwlock_unlock(&m->tree);
}
