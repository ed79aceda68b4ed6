/* query_enc.c — compiled filters and sort keys evaluated directly on the binary document encoding
 * (doc.c), so that a scan never builds a json_t for a document it does not return.
 *
 * Every function here mirrors its jansson counterpart in query.c step for step (walk ->
 * enc_walk, leaf_test -> enc_leaf, sort_cmp_impl -> qenc_sort_cmp): same path rules (object
 * steps, digit segments index arrays, other segments fan out over arrays of objects, a step
 * through a scalar is missing), same array-element matching, same total order. Scalars (null,
 * booleans, int64, double, strings) are compared in place; an object or array compared against
 * an operand is decoded first (rare: filters on whole sub-documents) and compared with
 * bdoc_value_cmp, so the order has one implementation for containers. The fuzz target
 * fuzz/bundoc_query_enc checks this file against bdoc_query_match on random documents.
 *
 * The input is never trusted: every length is checked against the bytes left; a malformed
 * encoding ends the evaluation with BB_EIO (never a read out of bounds).
 */
#include <string.h>

#include "bb_bytes.h"
#include "bb_err.h"
#include "doc.h"
#include "query_int.h"

#define ev qenc_val

static int tag_class(uint8_t t)
{
    switch (t) {
    case DOC_T_NULL: return BDOC_TC_NULL;
    case DOC_T_FALSE:
    case DOC_T_TRUE: return BDOC_TC_BOOL;
    case DOC_T_INT:
    case DOC_T_REAL: return BDOC_TC_NUMBER;
    case DOC_T_STR: return BDOC_TC_STRING;
    case DOC_T_ARR: return BDOC_TC_ARRAY;
    default: return BDOC_TC_OBJECT;
    }
}

static double get_real(const uint8_t *p)
{
    uint64_t u = bb_get_le64(p + 1);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* bdoc_value_cmp(decode(a), b) where a missing a (a.p NULL) is null and b NULL is null. */
static int ev_cmp(struct ev a, const json_t *b, int *err)
{
    int ta = a.p ? tag_class(a.p[0]) : BDOC_TC_NULL;
    int tb = b ? (int)bdoc_type_class(b) : BDOC_TC_NULL;
    if (ta != tb) return ta < tb ? -1 : 1;
    switch (ta) {
    case BDOC_TC_NULL: return 0;
    case BDOC_TC_BOOL: return (a.p[0] == DOC_T_TRUE) - json_is_true(b);
    case BDOC_TC_NUMBER:
        if (a.p[0] == DOC_T_INT) {
            json_int_t x = (json_int_t)bb_get_le64(a.p + 1);
            if (json_is_integer(b)) {
                json_int_t y = json_integer_value(b);
                return (x > y) - (x < y);
            }
            return q_cmp_int_real(x, json_real_value(b));
        } else {
            double x = get_real(a.p);
            if (json_is_real(b)) {
                double y = json_real_value(b);
                return (x > y) - (x < y);
            }
            return -q_cmp_int_real(json_integer_value(b), x);
        }
    case BDOC_TC_STRING: {
        size_t la = a.n - 5, lb = json_string_length(b);
        int c = memcmp(a.p + 5, json_string_value(b), la < lb ? la : lb);
        if (c) return c < 0 ? -1 : 1;
        return (la > lb) - (la < lb);
    }
    default: {
        json_t *d = NULL;
        int rc = doc_decode_value(a.p, a.n, &d);
        if (rc) {
            *err = rc;
            return 0;
        }
        int c = bdoc_value_cmp(d, b);
        json_decref(d);
        return c;
    }
    }
}

int qenc_it_init(struct qenc_it *it, struct ev v)
{
    if (v.n < 9) return BB_EIO;
    it->p = v.p;
    it->n = v.n;
    it->off = 9;
    it->left = bb_get_le32(v.p + 5);
    it->obj = v.p[0] == DOC_T_OBJ;
    return 0;
}

int qenc_it_next(struct qenc_it *it, struct ev *val, const char **key, size_t *kl)
{
    if (it->left == 0) return 0;
    it->left--;
    if (it->obj) {
        if (it->n - it->off < 2) return BB_EIO;
        size_t l = (size_t)it->p[it->off] | ((size_t)it->p[it->off + 1] << 8);
        it->off += 2;
        if (it->n - it->off < l) return BB_EIO;
        *key = (const char *)it->p + it->off;
        *kl = l;
        it->off += l;
    }
    size_t vs = doc_vsize(it->p + it->off, it->n - it->off);
    if (!vs) return BB_EIO;
    val->p = it->p + it->off;
    val->n = vs;
    it->off += vs;
    return 1;
}

#define it qenc_it
#define it_init qenc_it_init
#define it_next qenc_it_next

/* Member seg of object v: 1 found (*out), 0 missing, BB_EIO. */
static int obj_get(struct ev v, const char *seg, struct ev *out)
{
    struct it it;
    int rc = it_init(&it, v);
    if (rc) return rc;
    size_t sl = strlen(seg);
    struct ev e;
    const char *k = NULL;
    size_t kl = 0;
    while ((rc = it_next(&it, &e, &k, &kl)) == 1) {
        if (kl == sl && memcmp(k, seg, sl) == 0) {
            *out = e;
            return 1;
        }
    }
    return rc;
}

/* Element idx of array v: 1 found, 0 missing, BB_EIO. */
static int arr_get(struct ev v, long idx, struct ev *out)
{
    struct it it;
    int rc = it_init(&it, v);
    if (rc) return rc;
    if ((uint64_t)idx >= it.left) return 0;
    struct ev e;
    for (long i = 0; (rc = it_next(&it, &e, NULL, NULL)) == 1; i++) {
        if (i == idx) {
            *out = e;
            return 1;
        }
    }
    return rc;
}

/* ---- filters ---- */

static int ev_equal(struct ev v, const json_t *val, int *err)
{
    /* classes first: no decode of a container when the operand is a scalar */
    if (tag_class(v.p[0]) != (int)bdoc_type_class(val)) return 0;
    return ev_cmp(v, val, err) == 0;
}

static int test_eq(struct ev v, const json_t *val, struct mstate *ms)
{
    int err = 0;
    if (!v.p) return json_is_null(val);
    if (ev_equal(v, val, &err)) return 1;
    if (!err && v.p[0] == DOC_T_ARR) {
        struct it it;
        struct ev e;
        err = it_init(&it, v);
        int rc;
        while (!err && (rc = it_next(&it, &e, NULL, NULL)) != 0) {
            if (rc < 0) {
                err = rc;
                break;
            }
            if (ev_equal(e, val, &err)) return 1;
        }
    }
    if (err && !ms->hit) ms->hit = err;
    return 0;
}

static int range_ok(enum qop op, struct ev v, const json_t *val, int *err)
{
    if (tag_class(v.p[0]) != (int)bdoc_type_class(val)) return 0;
    int c = ev_cmp(v, val, err);
    switch (op) {
    case Q_GT: return c > 0;
    case Q_GTE: return c >= 0;
    case Q_LT: return c < 0;
    case Q_LTE: return c <= 0;
    default: return 0;
    }
}

static int regex_ok(const struct bdoc_regex *re, struct ev v, struct mstate *ms)
{
    if (v.p[0] != DOC_T_STR) return 0;
    const char *s = (const char *)v.p + 5;
    if (ms->b) return q_regex_match_budget(re, s, v.n - 5, ms);
    return bdoc_regex_match(re, s, v.n - 5) == 1;
}

/* One candidate against a ranged or regex leaf: the value itself, else any element. */
static int scalar_or_elements(const struct qnode *n, struct ev v, struct mstate *ms)
{
    int err = 0;
    int ok = n->op == Q_REGEX ? regex_ok(n->re, v, ms) : range_ok(n->op, v, n->val, &err);
    if (ok) return 1;
    if (!err && v.p[0] == DOC_T_ARR) {
        struct it it;
        struct ev e;
        int rc;
        err = it_init(&it, v);
        while (!err && (rc = it_next(&it, &e, NULL, NULL)) != 0) {
            if (rc < 0) {
                err = rc;
                break;
            }
            ok = n->op == Q_REGEX ? regex_ok(n->re, e, ms) : range_ok(n->op, e, n->val, &err);
            if (ok) return 1;
        }
    }
    if (err && !ms->hit) ms->hit = err;
    return 0;
}

static int enc_leaf(const struct qnode *n, struct ev v, struct mstate *ms)
{
    switch (n->op) {
    case Q_EXISTS: return v.p != NULL;
    case Q_EQ: return test_eq(v, n->val, ms);
    case Q_IN: {
        size_t i;
        json_t *e;
        json_array_foreach(n->val, i, e) {
            if (test_eq(v, e, ms)) return 1;
        }
        return 0;
    }
    case Q_GT:
    case Q_GTE:
    case Q_LT:
    case Q_LTE:
    case Q_REGEX:
        if (!v.p) return 0;
        return scalar_or_elements(n, v, ms);
    default: return 0;
    }
}

static const struct ev MISSING = {NULL, 0};

int qenc_walk_path(char *const *segs, size_t nsegs, long (*segidx)(const char *),
                   struct ev v, size_t i, int *arr, qenc_leaf_fn fn, void *ctx)
{
    if (i == nsegs) return fn(ctx, v);
    struct ev c;
    int rc;
    if (v.p[0] == DOC_T_OBJ) {
        rc = obj_get(v, segs[i], &c);
        if (rc < 0) return rc;
        return rc ? qenc_walk_path(segs, nsegs, segidx, c, i + 1, arr, fn, ctx) : fn(ctx, MISSING);
    }
    if (v.p[0] == DOC_T_ARR) {
        if (arr) *arr = 1;
        long idx = segidx(segs[i]);
        if (idx >= 0) {
            rc = arr_get(v, idx, &c);
            if (rc < 0) return rc;
            return rc ? qenc_walk_path(segs, nsegs, segidx, c, i + 1, arr, fn, ctx)
                      : fn(ctx, MISSING);
        }
        int any_obj = 0;
        struct it it;
        if ((rc = it_init(&it, v))) return rc;
        while ((rc = it_next(&it, &c, NULL, NULL)) == 1) {
            if (c.p[0] != DOC_T_OBJ) continue;
            any_obj = 1;
            int r = qenc_walk_path(segs, nsegs, segidx, c, i, arr, fn, ctx);
            if (r) return r;
        }
        if (rc < 0) return rc;
        return any_obj ? 0 : fn(ctx, MISSING);
    }
    return fn(ctx, MISSING);
}

struct leafctx {
    const struct qnode *n;
    struct mstate *ms;
};

/* 1 (a match: stop), 0, or the error the leaf recorded (stops the walk too) */
static int leaf_cb(void *vctx, struct ev v)
{
    struct leafctx *lc = vctx;
    if (enc_leaf(lc->n, v, lc->ms)) return 1;
    return lc->ms->hit < 0 ? lc->ms->hit : 0;
}

static int enc_walk(const struct qnode *n, struct ev v, struct mstate *ms)
{
    if (ms->hit) return 0;
    struct leafctx lc = {n, ms};
    int rc = qenc_walk_path(n->path->segs, n->path->n, q_seg_index, v, 0, NULL, leaf_cb, &lc);
    if (rc < 0) {
        if (!ms->hit) ms->hit = rc;
        return 0;
    }
    return rc > 0;
}

static int enc_node(const struct qnode *n, struct ev doc, struct mstate *ms)
{
    size_t i;
    switch (n->op) {
    case Q_TRUE: return 1;
    case Q_AND:
        for (i = 0; i < n->nkids; i++)
            if (!enc_node(n->kids[i], doc, ms)) return 0;
        return 1;
    case Q_OR:
        for (i = 0; i < n->nkids; i++)
            if (enc_node(n->kids[i], doc, ms)) return 1;
        return 0;
    case Q_NOR:
        for (i = 0; i < n->nkids; i++)
            if (enc_node(n->kids[i], doc, ms)) return 0;
        return 1;
    case Q_NOT: return !enc_node(n->kids[0], doc, ms);
    default: return enc_walk(n, doc, ms);
    }
}

/* The root value of an encoded document, or BB_EIO. */
int qenc_root(const uint8_t *doc, size_t len, struct ev *out)
{
    if (!doc || len < 3 || doc[0] != 0xBD || doc[1] != 0x01) return BB_EIO;
    size_t n = doc_vsize(doc + 2, len - 2);
    if (n != len - 2) return BB_EIO;
    out->p = doc + 2;
    out->n = n;
    return 0;
}

int qenc_match(const struct bdoc_query *q, const uint8_t *doc, size_t len, struct bdoc_budget *b)
{
    struct ev root;
    int rc = qenc_root(doc, len, &root);
    if (rc) return rc;
    if (!q || !q->root) return 1;
    struct mstate ms = {b, 0};
    int m = enc_node(q->root, root, &ms);
    if (ms.hit < 0) return ms.hit;
    return m;
}

int bdoc_query_match_enc(const struct bdoc_query *q, const uint8_t *doc, size_t len,
                         struct bdoc_budget *b)
{
    return qenc_match(q, doc, len, b);
}

/* ---- sort keys ---- */

/* The value at path p without fan-out (as q_qpath_get): 1 found, 0 missing, BB_EIO. */
static int enc_get(const struct bdoc_qpath *p, struct ev v, struct ev *out)
{
    for (size_t i = 0; i < p->n; i++) {
        int rc;
        if (v.p[0] == DOC_T_OBJ) {
            rc = obj_get(v, p->segs[i], &v);
        } else if (v.p[0] == DOC_T_ARR) {
            long idx = q_seg_index(p->segs[i]);
            rc = idx < 0 ? 0 : arr_get(v, idx, &v);
        } else {
            rc = 0;
        }
        if (rc <= 0) return rc;
    }
    *out = v;
    return 1;
}

int qenc_sort_cmp(const struct bdoc_sort *s, const uint8_t *a, size_t alen, const json_t *b,
                  const json_t *bkeys, const json_t *bid, int *err)
{
    struct ev root, va;
    int rc = qenc_root(a, alen, &root);
    if (rc) {
        *err = rc;
        return 0;
    }
    size_t n = s ? s->n : 0;
    for (size_t i = 0; i < n; i++) {
        rc = enc_get(s->keys[i].path, root, &va);
        if (rc < 0) {
            *err = rc;
            return 0;
        }
        const json_t *vb = b ? q_qpath_get(s->keys[i].path, b) : json_array_get(bkeys, i);
        int c = ev_cmp(rc ? va : MISSING, vb, err);
        if (*err) return 0;
        if (c) return s->keys[i].desc ? -c : c;
    }
    rc = enc_get(&q_id_path, root, &va);
    if (rc < 0) {
        *err = rc;
        return 0;
    }
    return ev_cmp(rc ? va : MISSING, b ? q_qpath_get(&q_id_path, b) : bid, err);
}
