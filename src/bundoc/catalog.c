/* catalog.c — the collection catalog inside the tree (layout in catalog.h). */
#include "catalog.h"

#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"
#include "bundoc.h"

#define MAX_KEY (5 + BDOC_MAX_COLLECTION_LEN)

int cat_valid_name(const char *name)
{
    if (!name) return 0;
    size_t n = strnlen(name, BDOC_MAX_COLLECTION_LEN + 1);
    if (n == 0 || n > BDOC_MAX_COLLECTION_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return 0;
    }
    return 1;
}

static size_t entry_key(const char *name, uint8_t *k)
{
    size_t n = strlen(name);
    memset(k, 0, 4);
    k[4] = 'C';
    memcpy(k + 5, name, n);
    return 5 + n;
}

void cat_doc_key(uint32_t coll, const char *id, size_t idlen, uint8_t *out, size_t *klen)
{
    out[0] = (uint8_t)(coll >> 24);
    out[1] = (uint8_t)(coll >> 16);
    out[2] = (uint8_t)(coll >> 8);
    out[3] = (uint8_t)coll;
    memcpy(out + 4, id, idlen);
    *klen = 4 + idlen;
}

void cat_coll_range(uint32_t coll, uint8_t lo[4], uint8_t hi[4])
{
    size_t kl;
    cat_doc_key(coll, "", 0, lo, &kl);
    cat_doc_key(coll + 1, "", 0, hi, &kl);
}

static int read_def(struct mtxn *t, const char *name, json_t **out)
{
    *out = NULL;
    if (!cat_valid_name(name)) return BB_EINVAL;
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = mvcc_get(t, k, kl, &v, &vl);
    if (rc) return rc;
    rc = vl < 4 ? BB_EIO : bb_json_parse((const char *)v + 4, vl - 4, 16, out, NULL, 0);
    free(v);
    if (rc || !json_is_object(*out) || !json_is_integer(json_object_get(*out, "id"))) {
        json_decref(*out);
        *out = NULL;
        return BB_EIO;
    }
    return 0;
}

/* The collection id at the head of an entry's value, as a getter (returning rc) read it; v is
 * freed. */
static int entry_id(int rc, uint8_t *v, size_t vl, uint32_t *id)
{
    if (rc) return rc;
    if (vl < 4)
        rc = BB_EIO;
    else
        *id = (uint32_t)v[0] | ((uint32_t)v[1] << 8) | ((uint32_t)v[2] << 16) |
              ((uint32_t)v[3] << 24);
    free(v);
    return rc;
}

int cat_lookup(struct mtxn *t, const char *name, uint32_t *id)
{
    if (!cat_valid_name(name)) return BB_EINVAL;
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = mvcc_get(t, k, kl, &v, &vl); /* before entry_id reads v, vl */
    return entry_id(rc, v, vl, id);
}

int cat_watch(struct mtxn *t, const char *name)
{
    if (!cat_valid_name(name)) return BB_EINVAL;
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    return mvcc_watch(t, k, kl);
}

int cat_lookup_for_write(struct mtxn *t, const char *name, uint32_t *id)
{
    int rc = cat_lookup(t, name, id);
    if (rc) return rc;
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    return mvcc_watch(t, k, kl);
}

static int write_def(struct mtxn *t, const char *name, const json_t *def)
{
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    size_t n = 0;
    char *s = bb_json_dumps(def, &n);
    if (!s) return BB_ENOMEM;
    uint8_t *v = malloc(n + 4);
    if (!v) {
        free(s);
        return BB_ENOMEM;
    }
    uint32_t id = (uint32_t)json_integer_value(json_object_get(def, "id"));
    v[0] = (uint8_t)id;
    v[1] = (uint8_t)(id >> 8);
    v[2] = (uint8_t)(id >> 16);
    v[3] = (uint8_t)(id >> 24);
    memcpy(v + 4, s, n);
    int rc = mvcc_put(t, k, kl, v, n + 4);
    free(v);
    free(s);
    return rc;
}

int cat_create(struct mtxn *t, const char *name, uint32_t *id)
{
    if (!cat_valid_name(name)) return BB_EINVAL;
    if (mvcc_readonly(t)) return BB_EPERM;
    uint32_t existing;
    int rc = cat_lookup(t, name, &existing);
    if (rc == 0) return BB_EEXIST;
    if (rc != BB_ENOTFOUND) return rc;
    uint8_t sk[5] = {0, 0, 0, 0, 'S'};
    uint8_t *v = NULL;
    size_t vl = 0;
    uint32_t next = 1;
    rc = mvcc_get(t, sk, sizeof sk, &v, &vl);
    if (rc == 0) {
        if (vl != 4)
            rc = BB_EIO;
        else
            next = (uint32_t)v[0] | ((uint32_t)v[1] << 8) | ((uint32_t)v[2] << 16) |
                   ((uint32_t)v[3] << 24);
        free(v);
        if (rc) return rc;
    } else if (rc != BB_ENOTFOUND) {
        return rc;
    }
    if (next == 0 || next == UINT32_MAX) return BB_ENOSPACE;
    uint8_t nv[4] = {(uint8_t)(next + 1), (uint8_t)((next + 1) >> 8), (uint8_t)((next + 1) >> 16),
                     (uint8_t)((next + 1) >> 24)};
    rc = mvcc_put(t, sk, sizeof sk, nv, 4);
    if (rc) return rc;
    json_t *def = json_pack("{s:I, s:s, s:n, s:{}, s:[]}", "id", (json_int_t)next, "name", name,
                            "schema", "rules", "indexes");
    if (!def) return BB_ENOMEM;
    rc = write_def(t, name, def);
    json_decref(def);
    if (rc == 0 && id) *id = next;
    return rc;
}

struct collect {
    uint8_t **keys;
    size_t *lens;
    size_t n, cap;
};

static int collect_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    struct collect *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        uint8_t **nk = realloc(c->keys, nc * sizeof *nk);
        if (!nk) return BB_ENOMEM;
        c->keys = nk;
        size_t *nl = realloc(c->lens, nc * sizeof *nl);
        if (!nl) return BB_ENOMEM;
        c->lens = nl;
        c->cap = nc;
    }
    c->keys[c->n] = malloc(klen);
    if (!c->keys[c->n]) return BB_ENOMEM;
    memcpy(c->keys[c->n], key, klen);
    c->lens[c->n++] = klen;
    return 0;
}

int cat_drop(struct mtxn *t, const char *name)
{
    if (mvcc_readonly(t)) return BB_EPERM;
    uint32_t id = 0;
    int rc = cat_lookup(t, name, &id);
    if (rc) return rc;
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    rc = mvcc_del(t, k, kl);
    if (rc) return rc;
    uint8_t lo[4], hi[4];
    cat_coll_range(id, lo, hi);
    struct collect c = {0};
    rc = mvcc_scan(t, lo, 4, hi, 4, collect_cb, &c);
    for (size_t i = 0; i < c.n; i++) {
        if (rc == 0) rc = mvcc_del(t, c.keys[i], c.lens[i]);
        free(c.keys[i]);
    }
    free(c.keys);
    free(c.lens);
    return rc;
}

struct listctx {
    json_t *arr;
};

static int list_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    struct listctx *l = ctx;
    json_t *s = json_stringn((const char *)key + 5, klen - 5);
    if (!s) return BB_EIO;
    return json_array_append_new(l->arr, s) ? BB_ENOMEM : 0;
}

int cat_list(struct mtxn *t, const char *prefix, json_t **out)
{
    *out = NULL;
    size_t pl = prefix ? strnlen(prefix, BDOC_MAX_COLLECTION_LEN + 1) : 0;
    if (pl > BDOC_MAX_COLLECTION_LEN) return BB_EINVAL;
    uint8_t lo[MAX_KEY], hi[MAX_KEY];
    memset(lo, 0, 4);
    lo[4] = 'C';
    memcpy(lo + 5, prefix ? prefix : "", pl);
    size_t lol = 5 + pl, hil = 0;
    /* upper bound: the prefix with its last byte below 0xff incremented */
    memcpy(hi, lo, lol);
    hil = lol;
    while (hil > 5 && hi[hil - 1] == 0xff)
        hil--;
    if (hil > 5)
        hi[hil - 1]++;
    else {
        hi[4] = 'C' + 1;
        hil = 5;
    }
    struct listctx l = {json_array()};
    if (!l.arr) return BB_ENOMEM;
    int rc = mvcc_scan(t, lo, lol, hi, hil, list_cb, &l);
    if (rc) {
        json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return 0;
}

int cat_get_def(struct mtxn *t, const char *name, json_t **out)
{
    return read_def(t, name, out);
}

int cat_set_def(struct mtxn *t, const char *name, const json_t *def)
{
    if (!json_is_object(def)) return BB_EINVAL;
    json_t *cur = NULL;
    int rc = read_def(t, name, &cur);
    if (rc) return rc;
    json_t *nd = json_deep_copy(def);
    if (!nd) {
        json_decref(cur);
        return BB_ENOMEM;
    }
    json_object_set(nd, "id", json_object_get(cur, "id"));
    json_object_set(nd, "name", json_object_get(cur, "name"));
    rc = write_def(t, name, nd);
    json_decref(nd);
    json_decref(cur);
    return rc;
}

int cat_lookup_peek(struct mvcc *m, const char *name, uint32_t *id)
{
    if (!cat_valid_name(name)) return BB_EINVAL;
    uint8_t k[MAX_KEY];
    size_t kl = entry_key(name, k);
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = mvcc_peek_get(m, k, kl, &v, &vl); /* before entry_id reads v, vl */
    return entry_id(rc, v, vl, id);
}
