/* bundoc.c — the public API: databases, transactions, collections, documents (top layer, above
 * catalog.h and doc.h). See bundoc.h for the contract and docs/internals/bundoc.md for the
 * design. */
#include "bundoc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bb_err.h"
#include "bb_id.h"
#include "bb_json.h"
#include "bb_log.h"
#include "catalog.h"
#include "doc.h"

struct bdoc_db {
    struct mvcc *m;
    struct bdoc_vfs *vfs;
    struct bdoc_vfs_file *lock;
    uint32_t max_doc_size;
};

#define TXN_CAT_CACHE 4
#define TXN_CAT_NAME 64 /* longer names are not cached */

struct bdoc_txn {
    struct bdoc_db *db;
    struct mtxn *t;
    /* collection name -> id as this transaction sees them (its snapshot plus its own catalog
     * writes): read lookups repeat for every document a query fetches. Cleared by every catalog
     * write of the transaction. */
    struct {
        char name[TXN_CAT_NAME + 1];
        uint32_t id;
    } cat[TXN_CAT_CACHE];
    unsigned ncat, catnext;
};

/* Read lookup of a collection id through the transaction's small cache. */
static int txn_cat_lookup(struct bdoc_txn *txn, const char *name, uint32_t *id)
{
    if (!name) return BB_EINVAL;
    for (unsigned i = 0; i < txn->ncat; i++)
        if (!strcmp(txn->cat[i].name, name)) {
            *id = txn->cat[i].id;
            return 0;
        }
    int rc = cat_lookup(txn->t, name, id);
    if (rc) return rc;
    size_t n = strlen(name);
    if (n <= TXN_CAT_NAME) {
        unsigned slot = txn->ncat < TXN_CAT_CACHE ? txn->ncat++ : (txn->catnext++ % TXN_CAT_CACHE);
        memcpy(txn->cat[slot].name, name, n + 1);
        txn->cat[slot].id = *id;
    }
    return 0;
}

static void txn_cat_clear(struct bdoc_txn *txn)
{
    txn->ncat = 0;
}

void bdoc_options_init(struct bdoc_options *o)
{
    memset(o, 0, sizeof *o);
    o->durability = BDOC_DURABILITY_FULL;
    o->normal_sync_ms = 100;
    o->max_doc_size = BDOC_DEFAULT_MAX_DOC_SIZE;
    o->cache_pages = 8192;
    o->checkpoint_bytes = 8u * 1024 * 1024;
}

int bdoc_open(const char *dir, const struct bdoc_options *opts, struct bdoc_db **out)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (!dir || !*dir) return BB_EINVAL;
    struct bdoc_options o;
    if (opts) o = *opts;
    else bdoc_options_init(&o);
    if (o.durability > BDOC_DURABILITY_OFF) return BB_EINVAL;
    if (o.max_doc_size == 0) o.max_doc_size = BDOC_DEFAULT_MAX_DOC_SIZE;
    if (o.checkpoint_bytes == 0) o.checkpoint_bytes = 8u * 1024 * 1024;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        bb_error("bundoc", "cannot create %s: %s", dir, strerror(errno));
        return BB_EIO;
    }
    struct bdoc_db *db = calloc(1, sizeof *db);
    if (!db) return BB_ENOMEM;
    db->vfs = o.vfs ? o.vfs : bdoc_vfs_real();
    db->max_doc_size = o.max_doc_size;
    char path[4096];
    int rc = BB_EINVAL;
    if ((size_t)snprintf(path, sizeof path, "%s/LOCK", dir) >= sizeof path) goto out;
    rc = db->vfs->open(db->vfs, path, BDOC_VFS_CREATE, &db->lock);
    if (rc) goto out;
    rc = db->vfs->lock(db->lock);
    if (rc == BB_EBUSY) {
        bb_error("bundoc", "%s is already open (locked by another process or handle)", dir);
        goto out;
    }
    if (rc) goto out;
    struct mvcc_config cfg = {db->vfs, o.key, (int)o.durability, o.normal_sync_ms, o.cache_pages,
                              o.checkpoint_bytes};
    rc = mvcc_open(dir, &cfg, &db->m);
    if (rc) goto out;
    *out = db;
    db = NULL;
out:
    if (db) {
        if (db->lock) db->vfs->close(db->lock);
        free(db);
    }
    return rc;
}

int bdoc_close(struct bdoc_db *db)
{
    if (!db) return 0;
    int rc = mvcc_close(db->m);
    if (db->lock) db->vfs->close(db->lock);
    free(db);
    return rc;
}

int bdoc_checkpoint(struct bdoc_db *db) { return db ? mvcc_checkpoint(db->m) : BB_EINVAL; }

void bdoc_stats_get(struct bdoc_db *db, struct bdoc_stats *out)
{
    struct mvcc_stats s;
    mvcc_stats_get(db->m, &s);
    out->wal_bytes = s.wal_bytes;
    out->checkpoints = s.checkpoints;
    out->commits = s.commits;
    out->syncs = s.syncs;
    out->versions = s.versions;
    out->pages = s.pages;
    out->free_pages = s.free_pages;
    out->error = s.error;
}

int bdoc_begin(struct bdoc_db *db, int flags, struct bdoc_txn **out)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (!db) return BB_EINVAL;
    struct bdoc_txn *x = calloc(1, sizeof *x);
    if (!x) return BB_ENOMEM;
    x->db = db;
    int rc = mvcc_begin(db->m, (flags & BDOC_TXN_READONLY) != 0, &x->t);
    if (rc) {
        free(x);
        return rc;
    }
    *out = x;
    return 0;
}

int bdoc_commit(struct bdoc_txn *txn)
{
    if (!txn) return BB_EINVAL;
    int rc = mvcc_commit(txn->t);
    free(txn);
    return rc;
}

void bdoc_rollback(struct bdoc_txn *txn)
{
    if (!txn) return;
    mvcc_rollback(txn->t);
    free(txn);
}

/* ---- collections ---- */
int bdoc_collection_create(struct bdoc_txn *txn, const char *name)
{
    if (!txn) return BB_EINVAL;
    txn_cat_clear(txn);
    return cat_create(txn->t, name, NULL);
}

int bdoc_collection_drop(struct bdoc_txn *txn, const char *name)
{
    if (!txn) return BB_EINVAL;
    txn_cat_clear(txn);
    return cat_drop(txn->t, name);
}

int bdoc_collection_exists(struct bdoc_txn *txn, const char *name)
{
    if (!txn) return BB_EINVAL;
    uint32_t id;
    return cat_lookup(txn->t, name, &id);
}

int bdoc_collection_list(struct bdoc_txn *txn, const char *prefix, json_t **out)
{
    if (!txn || !out) return BB_EINVAL;
    return cat_list(txn->t, prefix, out);
}

int bdoc_collection_get(struct bdoc_txn *txn, const char *name, json_t **out)
{
    if (!txn || !out) return BB_EINVAL;
    *out = NULL;
    return cat_get_def(txn->t, name, out);
}

int bdoc_collection_set(struct bdoc_txn *txn, const char *name, const json_t *def)
{
    if (!txn || !json_is_object(def)) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    txn_cat_clear(txn);
    return cat_set_def(txn->t, name, def);
}

/* ---- documents ---- */
static int valid_id(const char *id, size_t *len)
{
    if (!id) return BB_EINVAL;
    size_t n = strnlen(id, BDOC_MAX_ID_LEN + 1);
    if (n == 0) return BB_EINVAL;
    if (n > BDOC_MAX_ID_LEN) return BB_ETOOBIG;
    *len = n;
    return 0;
}

/* Resolves coll and id to a tree key. write: watch the catalog entry. */
static int doc_key(struct bdoc_txn *txn, const char *coll, const char *id, int write, uint8_t *key,
                   size_t *klen)
{
    if (!txn || !coll) return BB_EINVAL;
    size_t idlen;
    int rc = valid_id(id, &idlen);
    if (rc) return rc;
    uint32_t cid;
    rc = txn_cat_lookup(txn, coll, &cid);
    if (!rc && write) rc = cat_watch(txn->t, coll); /* a write conflicts with a drop */
    if (rc) return rc;
    cat_doc_key(cid, id, idlen, key, klen);
    return 0;
}

static int store(struct bdoc_txn *txn, const uint8_t *key, size_t klen, const json_t *doc)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    int rc = doc_encode(doc, txn->db->max_doc_size, &enc, &n);
    if (rc) return rc;
    rc = mvcc_put(txn->t, key, klen, enc, n);
    free(enc);
    return rc;
}

static int load(struct bdoc_txn *txn, const uint8_t *key, size_t klen, json_t **out)
{
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = mvcc_get(txn->t, key, klen, &v, &vl);
    if (rc) return rc;
    rc = doc_decode(v, vl, out);
    free(v);
    return rc;
}

static void give(json_t *doc, json_t **out)
{
    if (out) *out = doc;
    else json_decref(doc);
}

int bdoc_insert(struct bdoc_txn *txn, const char *coll, const json_t *doc, json_t **out)
{
    if (out) *out = NULL;
    if (!txn || !json_is_object(doc)) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    json_t *d = json_copy((json_t *)doc);
    if (!d) return BB_ENOMEM;
    int rc = 0;
    json_t *idv = json_object_get(d, "_id");
    if (!json_is_string(idv) || json_string_length(idv) == 0) {
        char id[BB_ID_LEN + 1];
        bb_id_new(id);
        if (json_object_set_new(d, "_id", json_string(id))) {
            rc = BB_ENOMEM;
            goto out;
        }
        idv = json_object_get(d, "_id");
    }
    const char *id = json_string_value(idv);
    if (strlen(id) != json_string_length(idv)) {
        rc = BB_EINVAL;
        goto out;
    }
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) goto out;
    uint8_t *v = NULL;
    size_t vl;
    rc = mvcc_get(txn->t, key, klen, &v, &vl);
    free(v);
    if (rc == 0) {
        rc = BB_EEXIST;
        goto out;
    }
    if (rc != BB_ENOTFOUND) goto out;
    rc = store(txn, key, klen, d);
out:
    if (rc == 0) give(d, out);
    else json_decref(d);
    return rc;
}

int bdoc_get(struct bdoc_txn *txn, const char *coll, const char *id, json_t **out)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 0, key, &klen);
    if (rc) return rc;
    return load(txn, key, klen, out);
}

int bdoc_get_field(struct bdoc_txn *txn, const char *coll, const char *id, const char *path,
                   json_t **out)
{
    if (!out || !path) return BB_EINVAL;
    *out = NULL;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 0, key, &klen);
    if (rc) return rc;
    uint8_t *v = NULL;
    size_t vl = 0;
    rc = mvcc_get(txn->t, key, klen, &v, &vl);
    if (rc) return rc;
    rc = doc_get_path(v, vl, path, out);
    free(v);
    return rc;
}

int bdoc_get_json(struct bdoc_txn *txn, const char *coll, const char *id, char **out, size_t *len)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 0, key, &klen);
    if (rc) return rc;
    uint8_t *v = NULL;
    size_t vl = 0;
    rc = mvcc_get(txn->t, key, klen, &v, &vl);
    if (rc) return rc;
    rc = bdoc_doc_render_json(v, vl, out, len);
    free(v);
    return rc;
}

static int exists(struct bdoc_txn *txn, const uint8_t *key, size_t klen)
{
    uint8_t *v = NULL;
    size_t vl;
    int rc = mvcc_get(txn->t, key, klen, &v, &vl);
    free(v);
    return rc;
}

int bdoc_replace(struct bdoc_txn *txn, const char *coll, const char *id, const json_t *doc,
                 json_t **out)
{
    if (out) *out = NULL;
    if (!txn || !json_is_object(doc)) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) return rc;
    rc = exists(txn, key, klen);
    if (rc) return rc;
    json_t *d = json_copy((json_t *)doc);
    if (!d) return BB_ENOMEM;
    if (json_object_set_new(d, "_id", json_string(id))) rc = BB_ENOMEM;
    if (rc == 0) rc = store(txn, key, klen, d);
    if (rc == 0) give(d, out);
    else json_decref(d);
    return rc;
}

/* Splits path at dots into the caller's buffer; BB_EINVAL for empty segments. */
static int split_path(const char *path, char *buf, size_t cap, char **segs, size_t *nseg)
{
    size_t n = strlen(path);
    if (n == 0 || n >= cap) return BB_EINVAL;
    memcpy(buf, path, n + 1);
    size_t k = 0;
    char *s = buf;
    for (;;) {
        char *dot = strchr(s, '.');
        if (dot) *dot = '\0';
        if (*s == '\0' || k == 64) return BB_EINVAL;
        segs[k++] = s;
        if (!dot) break;
        s = dot + 1;
    }
    *nseg = k;
    return 0;
}

static int unset_path(json_t *doc, const char *path)
{
    char buf[1024], *segs[64];
    size_t n;
    int rc = split_path(path, buf, sizeof buf, segs, &n);
    if (rc) return rc;
    json_t *cur = doc;
    for (size_t i = 0; i + 1 < n; i++) {
        cur = json_object_get(cur, segs[i]);
        if (!json_is_object(cur)) return 0; /* missing intermediate: ignored */
    }
    json_object_del(cur, segs[n - 1]);
    return 0;
}

static int set_path(json_t *doc, const char *path, json_t *val)
{
    char buf[1024], *segs[64];
    size_t n;
    int rc = split_path(path, buf, sizeof buf, segs, &n);
    if (rc) return rc;
    json_t *cur = doc;
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *next = json_object_get(cur, segs[i]);
        if (!json_is_object(next)) {
            next = json_object();
            if (!next || json_object_set_new(cur, segs[i], next)) return BB_ENOMEM;
        }
        cur = next;
    }
    return json_object_set(cur, segs[n - 1], val) ? BB_ENOMEM : 0;
}

int bdoc_patch(struct bdoc_txn *txn, const char *coll, const char *id, const json_t *patch,
               json_t **out)
{
    if (out) *out = NULL;
    if (!txn || !json_is_object(patch)) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) return rc;
    json_t *d = NULL;
    rc = load(txn, key, klen, &d);
    if (rc) return rc;
    json_t *unset = json_object_get(patch, "$unset");
    if (unset && !json_is_object(unset)) rc = BB_EINVAL;
    const char *k;
    json_t *v;
    if (rc == 0 && unset) {
        json_object_foreach(unset, k, v) {
            rc = unset_path(d, k);
            if (rc) break;
        }
    }
    if (rc == 0) {
        json_object_foreach((json_t *)patch, k, v) {
            if (strcmp(k, "$unset") == 0 || strcmp(k, "_id") == 0) continue;
            rc = set_path(d, k, v);
            if (rc) break;
        }
    }
    if (rc == 0 && json_object_set_new(d, "_id", json_string(id))) rc = BB_ENOMEM;
    if (rc == 0) rc = store(txn, key, klen, d);
    if (rc == 0) give(d, out);
    else json_decref(d);
    return rc;
}

int bdoc_delete(struct bdoc_txn *txn, const char *coll, const char *id)
{
    if (!txn) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) return rc;
    rc = exists(txn, key, klen);
    if (rc) return rc;
    return mvcc_del(txn->t, key, klen);
}

struct listctx {
    json_t *arr;
    size_t limit;
    const uint8_t *prefix;
    size_t plen;
    int text;        /* render JSON text instead of building json_t */
    size_t count;
    char *s;
    size_t n, cap;
    char lastid[BDOC_MAX_ID_LEN + 1];
    bdoc_scan_fn fn; /* bdoc_scan: hand the raw documents out */
    void *fnctx;
};

static int list_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct listctx *l = ctx;
    if (klen < 4 + l->plen || memcmp(key + 4, l->prefix, l->plen) != 0) return 1;
    if (l->fn) return l->fn(l->fnctx, (const char *)key + 4, klen - 4, val, vlen);
    if (l->text) {
        if (l->count) {
            if (l->cap - l->n < 1) {
                size_t nc = l->cap ? l->cap * 2 : 1024;
                char *ns = realloc(l->s, nc);
                if (!ns) return BB_ENOMEM;
                l->s = ns;
                l->cap = nc;
            }
            l->s[l->n++] = ',';
        }
        int rc = doc_render(val, vlen, &l->s, &l->n, &l->cap);
        if (rc) return rc;
        size_t il = klen - 4 < BDOC_MAX_ID_LEN ? klen - 4 : BDOC_MAX_ID_LEN;
        memcpy(l->lastid, key + 4, il);
        l->lastid[il] = '\0';
        return ++l->count >= l->limit ? 1 : 0;
    }
    json_t *d = NULL;
    int rc = doc_decode(val, vlen, &d);
    if (rc) return rc;
    if (json_array_append_new(l->arr, d)) return BB_ENOMEM;
    return json_array_size(l->arr) >= l->limit ? 1 : 0;
}

static int list_common(struct bdoc_txn *txn, const char *coll, const char *after,
                       const char *prefix, size_t limit, struct listctx *l)
{
    if (!txn || (!l->fn && (limit == 0 || limit > 10000))) return BB_EINVAL;
    uint32_t cid;
    int rc = txn_cat_lookup(txn, coll, &cid);
    if (rc) return rc;
    size_t plen = prefix ? strnlen(prefix, BDOC_MAX_ID_LEN + 1) : 0;
    size_t alen = after ? strnlen(after, BDOC_MAX_ID_LEN + 1) : 0;
    if (plen > BDOC_MAX_ID_LEN || alen > BDOC_MAX_ID_LEN) return BB_EINVAL;
    uint8_t lo[CAT_DOC_KEY_MAX + 1], hi[4], tmp[4];
    size_t lol;
    cat_coll_range(cid, tmp, hi);
    cat_doc_key(cid, prefix ? prefix : "", plen, lo, &lol);
    if (after) {
        uint8_t ak[CAT_DOC_KEY_MAX + 1];
        size_t akl;
        cat_doc_key(cid, after, alen, ak, &akl);
        ak[akl++] = 0; /* smallest key greater than after */
        size_t m = akl < lol ? akl : lol;
        int c = memcmp(ak, lo, m);
        if (c > 0 || (c == 0 && akl > lol)) {
            memcpy(lo, ak, akl);
            lol = akl;
        }
    }
    l->limit = limit;
    l->prefix = (const uint8_t *)(prefix ? prefix : "");
    l->plen = plen;
    return mvcc_scan(txn->t, lo, lol, hi, 4, list_cb, l);
}

int bdoc_list(struct bdoc_txn *txn, const char *coll, const char *after, const char *prefix,
              size_t limit, json_t **out, char **next)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (next) *next = NULL;
    struct listctx l;
    memset(&l, 0, sizeof l);
    l.arr = json_array();
    if (!l.arr) return BB_ENOMEM;
    int rc = list_common(txn, coll, after, prefix, limit, &l);
    if (rc) {
        json_decref(l.arr);
        return rc;
    }
    if (next && json_array_size(l.arr) == limit) {
        const char *last = json_string_value(json_object_get(json_array_get(l.arr, limit - 1), "_id"));
        if (last && !(*next = strdup(last))) {
            json_decref(l.arr);
            return BB_ENOMEM;
        }
    }
    *out = l.arr;
    return 0;
}

int bdoc_list_json(struct bdoc_txn *txn, const char *coll, const char *after, const char *prefix,
                   size_t limit, char **out, size_t *len, size_t *count, char **next)
{
    if (!out) return BB_EINVAL;
    *out = NULL;
    if (next) *next = NULL;
    struct listctx l;
    memset(&l, 0, sizeof l);
    l.text = 1;
    l.s = malloc(1024);
    if (!l.s) return BB_ENOMEM;
    l.cap = 1024;
    l.s[l.n++] = '[';
    int rc = list_common(txn, coll, after, prefix, limit, &l);
    if (rc == 0 && l.cap - l.n < 2) {
        char *ns = realloc(l.s, l.n + 2);
        if (!ns) rc = BB_ENOMEM;
        else l.s = ns;
    }
    if (rc == 0 && next && l.count == limit && !(*next = strdup(l.lastid))) rc = BB_ENOMEM;
    if (rc) {
        free(l.s);
        return rc;
    }
    l.s[l.n++] = ']';
    l.s[l.n] = '\0';
    *out = l.s;
    if (len) *len = l.n;
    if (count) *count = l.count;
    return 0;
}

int bdoc_scan(struct bdoc_txn *txn, const char *coll, const char *after, const char *prefix,
              bdoc_scan_fn fn, void *ctx)
{
    if (!fn) return BB_EINVAL;
    struct listctx l;
    memset(&l, 0, sizeof l);
    l.fn = fn;
    l.fnctx = ctx;
    return list_common(txn, coll, after, prefix, SIZE_MAX, &l);
}

struct revctx {
    bdoc_scan_fn fn;
    void *ctx;
    const char *prefix;
    size_t plen;
};

static int rev_cb(void *vctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct revctx *r = vctx;
    const char *id = (const char *)key + 4;
    size_t idl = klen - 4;
    if (idl < r->plen || memcmp(id, r->prefix, r->plen)) {
        /* descending: past the prefix's keys (below them) ends the scan */
        size_t m = idl < r->plen ? idl : r->plen;
        int c = memcmp(id, r->prefix, m);
        return c < 0 || (c == 0 && idl < r->plen) ? 1 : 0;
    }
    return r->fn(r->ctx, id, idl, val, vlen);
}

int bdoc_scan_rev(struct bdoc_txn *txn, const char *coll, const char *before, const char *prefix,
                  bdoc_scan_fn fn, void *ctx)
{
    if (!txn || !fn) return BB_EINVAL;
    uint32_t cid;
    int rc = txn_cat_lookup(txn, coll, &cid);
    if (rc) return rc;
    size_t plen = prefix ? strnlen(prefix, BDOC_MAX_ID_LEN + 1) : 0;
    size_t blen = before ? strnlen(before, BDOC_MAX_ID_LEN + 1) : 0;
    if (plen > BDOC_MAX_ID_LEN || blen > BDOC_MAX_ID_LEN) return BB_EINVAL;
    uint8_t lo[CAT_DOC_KEY_MAX + 1], hi[CAT_DOC_KEY_MAX + 1], clo[4], chi[4];
    size_t lol, hil = 4;
    cat_coll_range(cid, clo, chi);
    cat_doc_key(cid, prefix ? prefix : "", plen, lo, &lol);
    memcpy(hi, chi, 4);
    if (before) cat_doc_key(cid, before, blen, hi, &hil);
    struct revctx r = {fn, ctx, prefix ? prefix : "", plen};
    return mvcc_scan_rev(txn->t, lo, lol, hi, hil, rev_cb, &r);
}

int bdoc_get_raw(struct bdoc_txn *txn, const char *coll, const char *id, uint8_t **out,
                 size_t *len)
{
    if (!out || !len) return BB_EINVAL;
    *out = NULL;
    *len = 0;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 0, key, &klen);
    if (rc) return rc;
    return mvcc_get(txn->t, key, klen, out, len);
}

int bdoc_doc_decode(const uint8_t *doc, size_t len, json_t **out)
{
    if (!out) return BB_EINVAL;
    return doc_decode(doc, len, out);
}

int bdoc_doc_get_str(const uint8_t *doc, size_t len, const char *key, const char **s,
                     size_t *slen)
{
    if (!key || !s || !slen) return BB_EINVAL;
    return doc_get_str(doc, len, key, s, slen);
}

uint64_t bdoc_txn_stamp(const struct bdoc_txn *txn)
{
    return txn ? mvcc_snapshot(txn->t) : 0;
}

int bdoc_watch(struct bdoc_txn *txn, const char *coll, const char *id, uint64_t stamp)
{
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 0, key, &klen);
    if (rc) return rc;
    return mvcc_watch_since(txn->t, key, klen, stamp);
}

int bdoc_get_stamp(struct bdoc_txn *txn, const char *coll, const char *id, uint64_t *stamp)
{
    if (!stamp) return BB_EINVAL;
    *stamp = 0;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 0, key, &klen);
    if (rc) return rc;
    return mvcc_get_stamp(txn->t, key, klen, stamp);
}

int bdoc_put(struct bdoc_txn *txn, const char *coll, const json_t *doc)
{
    if (!txn || !json_is_object(doc)) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    const json_t *idv = json_object_get(doc, "_id");
    const char *id = json_string_value(idv);
    if (!id || strlen(id) != json_string_length(idv)) return BB_EINVAL;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) return rc;
    return store(txn, key, klen, doc);
}

int bdoc_put_sorted(struct bdoc_txn *txn, const char *coll, const char *id, const uint8_t *doc,
                    size_t len)
{
    if (!txn || !doc || !id) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    if (len > txn->db->max_doc_size) return BB_ETOOBIG;
    const char *did;
    size_t dlen;
    if (len < 3 || doc[0] != 0xBD || doc[1] != 0x01 || doc_get_str(doc, len, "_id", &did, &dlen) ||
        dlen != strlen(id) || memcmp(did, id, dlen))
        return BB_EINVAL;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) return rc;
    return mvcc_put_sorted(txn->t, key, klen, doc, len);
}

int bdoc_txn_set_load_fill(struct bdoc_txn *txn, unsigned pct)
{
    if (!txn) return BB_EINVAL;
    return mvcc_set_load_fill(txn->t, pct);
}

int bdoc_doc_encode(struct bdoc_db *db, const json_t *doc, uint8_t **out, size_t *len)
{
    if (!db || !json_is_object(doc) || !out || !len) return BB_EINVAL;
    return doc_encode(doc, db->max_doc_size, out, len);
}

int bdoc_delete_blind(struct bdoc_txn *txn, const char *coll, const char *id)
{
    if (!txn) return BB_EINVAL;
    if (mvcc_readonly(txn->t)) return BB_EPERM;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    int rc = doc_key(txn, coll, id, 1, key, &klen);
    if (rc) return rc;
    return mvcc_del(txn->t, key, klen);
}

int bdoc_doc_decode_fields(const uint8_t *doc, size_t len, const char *const *names, size_t n,
                           json_t **out)
{
    if (!out) return BB_EINVAL;
    return doc_decode_fields(doc, len, names, n, out);
}

int bdoc_insert1(struct bdoc_db *db, const char *coll, const json_t *doc, json_t **out)
{
    struct bdoc_txn *t = NULL;
    int rc = bdoc_begin(db, 0, &t);
    if (rc) return rc;
    json_t *stored = NULL;
    rc = bdoc_insert(t, coll, doc, &stored);
    if (rc) {
        bdoc_rollback(t);
        return rc;
    }
    rc = bdoc_commit(t);
    if (rc) json_decref(stored);
    else give(stored, out);
    return rc;
}

int bdoc_get1(struct bdoc_db *db, const char *coll, const char *id, json_t **out)
{
    struct bdoc_txn *t = NULL;
    int rc = bdoc_begin(db, BDOC_TXN_READONLY, &t);
    if (rc) return rc;
    rc = bdoc_get(t, coll, id, out);
    bdoc_rollback(t);
    return rc;
}

/* ---- reads that never wait (bundoc.h) ---- */
int bdoc_peek_begin(struct bdoc_db *db)
{
    return db ? mvcc_peek_begin(db->m) : BB_EINVAL;
}

void bdoc_peek_end(struct bdoc_db *db)
{
    if (db) mvcc_peek_end(db->m);
}

int bdoc_peek_raw(struct bdoc_db *db, const char *coll, const char *id, uint8_t **out,
                  size_t *len)
{
    if (!db || !coll || !out || !len) return BB_EINVAL;
    *out = NULL;
    size_t idlen;
    int rc = valid_id(id, &idlen);
    if (rc) return rc;
    uint32_t cid;
    if ((rc = cat_lookup_peek(db->m, coll, &cid)) != 0) return rc;
    uint8_t key[CAT_DOC_KEY_MAX];
    size_t klen;
    cat_doc_key(cid, id, idlen, key, &klen);
    return mvcc_peek_get(db->m, key, klen, out, len);
}

int bdoc_doc_render_json(const uint8_t *doc, size_t len, char **out, size_t *outlen)
{
    if (!doc || !out) return BB_EINVAL;
    *out = NULL;
    char *s = NULL;
    size_t n = 0, cap = 0;
    int rc = doc_render(doc, len, &s, &n, &cap);
    if (rc == 0 && n == cap) {
        char *ns = realloc(s, n + 1);
        if (!ns) rc = BB_ENOMEM;
        else s = ns;
    }
    if (rc) {
        free(s);
        return rc;
    }
    s[n] = '\0';
    *out = s;
    if (outlen) *outlen = n;
    return 0;
}
