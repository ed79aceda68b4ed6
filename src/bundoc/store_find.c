/* store_find.c — the bundoc query planner and executor over secondary indexes.
 *
 * For a compiled find (query.h) the planner looks at the indexable predicates of the filter's
 * top-level conjunction (bdoc_query_preds) and at the sort:
 *   - per ready index, the longest usable run of leading fields: equality (not null), $in (not
 *     null; the key ranges multiply, at most MAX_RANGES) and finally one range on the next field;
 *     each gives a set of key ranges over the index's entries;
 *   - the index also "serves the sort" when it is not multikey, the plan is one key range, the
 *     fields before the sort fields are all equality-bound and the next fields are the sort keys
 *     with the same directions; then entries come out in sort order and, with a limit, the scan
 *     stops after skip+limit+1 matches once the current group of equal sort keys is complete;
 *   - an index with no usable predicate can still serve the sort alone (when there is a limit).
 * Candidate key ranges are probed (keys counted up to PROBE_CAP). The plan with the fewest keys
 * wins if under the cap; else a sort-serving plan when there is a limit; else the plan with the
 * most bound fields; else a collection scan (in _id order, stopping early when the sort is by _id
 * only). Documents fetched through an index are deduplicated (multikey, $in) and always re-checked
 * against the whole filter by the find run (residual filter), so the index only has to return a
 * superset — which the key encoding guarantees (store_key.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "store_int.h"

#define MAX_RANGES 256
#define PROBE_CAP 1000
#define SCAN_BATCH 1000

struct sortkey {
    const char *path;
    int desc;
};

struct plan {
    const struct sk_index *ix;
    size_t nr;
    char **lo, **hi;       /* scan keys > lo[i] and < hi[i] */
    size_t nbound;         /* fields bound by predicates */
    int sort_served;
    int reverse;           /* the sort is served by scanning the index backwards */
    size_t group_comps;    /* components that make one sort group */
    size_t est;            /* probed keys (capped) */
    json_t *bounds;        /* explain */
};

static void plan_release(struct plan *p)
{
    for (size_t i = 0; i < p->nr; i++) {
        free(p->lo[i]);
        free(p->hi[i]);
    }
    free(p->lo);
    free(p->hi);
    json_decref(p->bounds);
    memset(p, 0, sizeof *p);
}

static char *hexs(const uint8_t *raw, size_t n, const char *suffix)
{
    struct sk_buf b = {0};
    sk_hex_value(&b, raw, n, NULL);
    if (suffix) sk_buf_put(&b, suffix, strlen(suffix));
    if (b.oom) {
        sk_buf_release(&b);
        return NULL;
    }
    if (!b.p) return strdup("");
    return (char *)b.p;
}

static int plan_add_range(struct plan *p, char *lo, char *hi)
{
    if (!lo || !hi) goto oom;
    char **nl = realloc(p->lo, (p->nr + 1) * sizeof *nl);
    if (!nl) goto oom;
    p->lo = nl;
    char **nh = realloc(p->hi, (p->nr + 1) * sizeof *nh);
    if (!nh) goto oom;
    p->hi = nh;
    p->lo[p->nr] = lo;
    p->hi[p->nr] = hi;
    p->nr++;
    return 0;
oom:
    free(lo);
    free(hi);
    return BB_ENOMEM;
}

static const struct bdoc_pred *pred_for(const struct bdoc_pred *preds, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(preds[i].path, path)) continue;
        if ((preds[i].kind == BDOC_PRED_EQ || preds[i].kind == BDOC_PRED_IN) &&
            preds[i].matches_missing)
            continue;
        if (preds[i].kind == BDOC_PRED_IN && json_array_size(preds[i].in) == 0) continue;
        return &preds[i];
    }
    return NULL;
}

/* Builds p's key ranges for ix from the predicates. p->nbound = 0 when nothing applies. */
static int plan_build(struct plan *p, const struct sk_index *ix, const struct bdoc_pred *preds,
                      size_t npreds)
{
    memset(p, 0, sizeof *p);
    p->ix = ix;
    p->bounds = json_array();
    struct sk_buf *pre = calloc(1, sizeof *pre);
    size_t npre = 1;
    int rc = BB_ENOMEM;
    if (!pre || !p->bounds) goto out;
    rc = 0;
    const struct bdoc_pred *range = NULL;
    size_t f;
    for (f = 0; f < ix->nf; f++) {
        const struct sk_field *fd = &ix->f[f];
        const struct bdoc_pred *pr = pred_for(preds, npreds, fd->path);
        if (!pr) break;
        if (pr->kind == BDOC_PRED_EQ) {
            for (size_t i = 0; i < npre && !rc; i++) rc = sk_encode_value(&pre[i], pr->eq, fd->desc);
            if (rc) goto out;
            json_array_append_new(p->bounds, json_pack("{s:s,s:O}", "field", fd->path, "eq", pr->eq));
        } else if (pr->kind == BDOC_PRED_IN) {
            size_t k = json_array_size(pr->in);
            if (npre * k > MAX_RANGES) break;
            struct sk_buf *np = calloc(npre * k + 1, sizeof *np);
            if (!np) {
                rc = BB_ENOMEM;
                goto out;
            }
            size_t nn = 0;
            for (size_t i = 0; i < npre && !rc; i++)
                for (size_t j = 0; j < k && !rc; j++) {
                    sk_buf_put(&np[nn], pre[i].p, pre[i].len);
                    rc = sk_encode_value(&np[nn], json_array_get(pr->in, j), fd->desc);
                    nn++;
                }
            for (size_t i = 0; i < npre; i++) sk_buf_release(&pre[i]);
            free(pre);
            pre = np;
            npre = nn;
            if (rc) goto out;
            json_array_append_new(p->bounds, json_pack("{s:s,s:O}", "field", fd->path, "in", pr->in));
        } else {
            range = pr;
            f++;
            break;
        }
    }
    p->nbound = f;
    if (f == 0) goto out;
    for (size_t i = 0; i < npre && !rc; i++) {
        if (pre[i].oom) {
            rc = BB_ENOMEM;
            break;
        }
        if (!range) {
            rc = plan_add_range(p, hexs(pre[i].p, pre[i].len, NULL),
                                hexs(pre[i].p, pre[i].len, SK_HIGH));
            continue;
        }
        const struct sk_field *fd = &ix->f[f - 1];
        /* On a multikey index the two bounds of a merged range may be met by two different
         * elements of one array ({"$gte":"a","$lte":""} matches ["b",""]): only the lower bound
         * is a valid restriction there (the residual filter checks the rest). */
        const json_t *rlo = range->lo, *rhi = ix->multikey && range->lo ? NULL : range->hi;
        /* in key order: the low side comes from lo (asc) or hi (desc) */
        const json_t *bl = fd->desc ? rhi : rlo;
        const json_t *bh = fd->desc ? rlo : rhi;
        int il = fd->desc ? range->hi_incl : range->lo_incl;
        int ih = fd->desc ? range->lo_incl : range->hi_incl;
        uint8_t tag = sk_class_tag(range->tc, fd->desc);
        struct sk_buf a = {0}, b = {0};
        sk_buf_put(&a, pre[i].p, pre[i].len);
        sk_buf_put(&b, pre[i].p, pre[i].len);
        int ta = 0, tb = 0;
        if (bl) rc = sk_encode_value(&a, bl, fd->desc);
        else sk_buf_byte(&a, tag);
        if (!rc && bh) rc = sk_encode_value(&b, bh, fd->desc);
        else if (!rc) sk_buf_byte(&b, tag);
        if (!rc && (a.oom || b.oom)) rc = BB_ENOMEM;
        if (!rc) {
            ta = a.len > SK_RAW_MAX;
            tb = b.len > SK_RAW_MAX;
            /* exclusive bounds skip the bound's own group when it is exact */
            char *lo = hexs(a.p, a.len, bl && !il && !ta ? SK_HIGH : NULL);
            char *hi = hexs(b.p, b.len, bh && !ih && !tb ? NULL : SK_HIGH);
            rc = plan_add_range(p, lo, hi);
        }
        sk_buf_release(&a);
        sk_buf_release(&b);
    }
    if (!rc && range) {
        json_t *r = json_pack("{s:s}", "field", range->path);
        if (range->lo) json_object_set(r, range->lo_incl ? "gte" : "gt", (json_t *)range->lo);
        if (range->hi) json_object_set(r, range->hi_incl ? "lte" : "lt", (json_t *)range->hi);
        json_array_append_new(p->bounds, r);
    }
out:
    if (pre)
        for (size_t i = 0; i < npre; i++) sk_buf_release(&pre[i]);
    free(pre);
    return rc;
}

/* Sort service: entries of ix in one range come out in the order of sk[0..ns) when every field
 * before the sort fields is equality-bound. Returns the number of components of a sort group,
 * or 0 when ix cannot serve the sort. */
static size_t sort_fit(const struct sk_index *ix, const struct bdoc_pred *preds, size_t npreds,
                       const struct sortkey *sk, size_t ns, int *rev)
{
    *rev = 0;
    if (ns == 0 || ix->multikey) return 0;
    for (size_t j = 0; j + ns <= ix->nf; j++) {
        int ok = 1, okrev = 1;
        for (size_t i = 0; i < ns; i++) {
            int same = !strcmp(ix->f[j + i].path, sk[i].path);
            ok &= same && ix->f[j + i].desc == sk[i].desc;
            okrev &= same && ix->f[j + i].desc != sk[i].desc; /* every direction flipped */
        }
        if (!ok && !okrev) goto next;
        *rev = !ok;
        for (size_t i = 0; i < j; i++) {
            const struct bdoc_pred *pr = pred_for(preds, npreds, ix->f[i].path);
            if (!pr || pr->kind != BDOC_PRED_EQ) goto next;
        }
        return j + ns;
    next:;
    }
    return 0;
}

/* ---- scanning ---- */

static size_t lcp(const char *a, const char *b)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i]) i++;
    return i;
}

/* Called per index entry: its key (NUL-terminated) and the id of the document it refers to
 * (NULL for a malformed entry). Returns 0 to go on, 1 to stop, <0 for an error. */
typedef int (*entry_fn)(void *ctx, const char *key, const char *id);

struct ent {
    char *key, *id;
};

/* One batch of entries collected by a scan callback (which must not call the engine). */
struct range_batch {
    const char *hi;
    const char *lo; /* reverse scans: the exclusive lower bound */
    int rev;
    size_t max, n;
    struct ent *v;
    int end; /* reached hi or the end of the collection */
    int err;
};

static char *memdup0(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static int range_cb(void *vctx, const char *key, size_t klen, const uint8_t *doc, size_t len)
{
    struct range_batch *b = vctx;
    const char *bound = b->rev ? b->lo : b->hi;
    size_t hl = strlen(bound);
    int c = memcmp(key, bound, klen < hl ? klen : hl);
    if (!b->rev && (c > 0 || (c == 0 && klen >= hl))) { /* key >= hi */
        b->end = 1;
        return 1;
    }
    if (b->rev && (c < 0 || (c == 0 && klen <= hl))) { /* key <= lo */
        b->end = 1;
        return 1;
    }
    const char *id = NULL;
    size_t idl = 0;
    if (bdoc_doc_get_str(doc, len, "i", &id, &idl) != 0) {
        const char *sep = memchr(key, SK_SEP, klen);
        if (sep) {
            id = sep + 1;
            idl = klen - (size_t)(sep + 1 - key);
        }
    }
    struct ent *e = &b->v[b->n];
    e->key = memdup0(key, klen);
    e->id = id ? memdup0(id, idl) : NULL;
    if (!e->key || (id && !e->id)) {
        free(e->key);
        free(e->id);
        return BB_ENOMEM;
    }
    return ++b->n == b->max ? 1 : 0;
}

static void batch_clear(struct range_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].key);
        free(b->v[i].id);
    }
    b->n = 0;
}

/* Calls fn for entries with lo < key < hi in order until fn returns nonzero (1 = stop, <0 =
 * error). Entries are read straight from the encoding in batches (growing up to SCAN_BATCH);
 * the documents are fetched by fn between batches. *keys counts entries examined. */
static int scan_range(struct bdoc_txn *tx, const char *ecoll, const char *lo, const char *hi,
                      int rev, size_t batch, entry_fn fn, void *ctx, size_t *keys)
{
    size_t pl = lcp(lo, hi);
    char *prefix = strndup(lo, pl);
    /* the scan's start: after lo going up, before hi going down (both exclusive) */
    char *after = rev ? strdup(hi) : *lo ? strdup(lo) : NULL;
    struct range_batch b = {hi, lo, rev, 0, 0, NULL, 0, 0};
    int rc = 0;
    struct ent v[SCAN_BATCH]; /* on the stack: a large malloc per query costs more than it seems
                                 (glibc consolidates its fast bins for every large request) */
    b.v = v;
    if (batch > SCAN_BATCH) batch = SCAN_BATCH;
    if (!prefix || ((rev || *lo) && !after)) {
        rc = BB_ENOMEM;
        goto out;
    }
    for (;;) {
        b.max = batch;
        b.n = 0;
        rc = rev ? bdoc_scan_rev(tx, ecoll, after, pl ? prefix : NULL, range_cb, &b)
                 : bdoc_scan(tx, ecoll, after, pl ? prefix : NULL, range_cb, &b);
        if (rc) break;
        int full = b.n == b.max && !b.end;
        for (size_t i = 0; i < b.n && !rc; i++) {
            (*keys)++;
            rc = fn(ctx, b.v[i].key, b.v[i].id);
        }
        if (rc || !full) break;
        free(after);
        after = b.v[b.n - 1].key;
        b.v[b.n - 1].key = NULL;
        batch_clear(&b);
        if (batch < SCAN_BATCH) batch *= 4;
        if (batch > SCAN_BATCH) batch = SCAN_BATCH;
    }
out:
    batch_clear(&b);
    free(prefix);
    free(after);
    return rc < 0 ? rc : 0;
}

struct probe_ctx {
    size_t n, cap;
};

static int probe_fn(void *vctx, const char *key, const char *id)
{
    (void)key;
    (void)id;
    struct probe_ctx *c = vctx;
    return ++c->n >= c->cap ? 1 : 0;
}

static int plan_probe(struct bdoc_txn *tx, struct plan *p)
{
    struct probe_ctx c = {0, PROBE_CAP};
    size_t keys = 0;
    for (size_t i = 0; i < p->nr && c.n < c.cap; i++) {
        int rc = scan_range(tx, p->ix->ecoll, p->lo[i], p->hi[i], 0, 64, probe_fn, &c, &keys);
        if (rc) return rc;
    }
    p->est = c.n;
    return 0;
}

/* ---- execution ---- */

struct exec {
    struct bdoc_txn *tx;
    const char *coll;
    const struct sk_meta *m;
    const struct bdoc_store_actor *a;
    struct bdoc_find_run *run;
    json_t *seen;          /* doc ids already fed (index plans) */
    size_t docs, matched_fed;
    size_t need;           /* stop after this many matches (0: never) */
    const struct sk_index *ix;
    size_t group_comps;
    char *group;           /* hex prefix of the group being finished */
    int stopped;
    int err;
    struct bdoc_budget *budget; /* NULL: unlimited */
    int fast;              /* no rules to apply: evaluate on the encoding */
    int dedup;             /* a document may be met twice: multikey, or several ranges ($in
                              with equal values) */
};

/* Feeds one encoded document (borrowed). Without rules to apply, the filter, cursor and top-k
 * window run on the encoding and only kept documents are decoded; otherwise the document is
 * decoded for the rules first. */
static int feed(struct exec *x, const uint8_t *doc, size_t len)
{
    x->docs++;
    int rc = bdoc_budget_doc(x->budget);
    if (rc) return rc;
    int r;
    if (x->fast) {
        r = bdoc_find_run_feed_enc(x->run, doc, len);
    } else {
        json_t *d = NULL;
        rc = bdoc_doc_decode(doc, len, &d);
        if (rc) return rc;
        r = st_read_allowed(x->m, x->a, d) ? bdoc_find_run_feed(x->run, d) : 0;
        json_decref(d);
    }
    if (r < 0) return r;
    x->matched_fed += (size_t)r;
    return 0;
}

static int ix_entry_fn(void *vctx, const char *key, const char *id)
{
    struct exec *x = vctx;
    if (x->group) { /* finishing the group of equal sort keys */
        if (strncmp(key, x->group, strlen(x->group))) {
            x->stopped = 1;
            return 1;
        }
    }
    if (!id) return 0;
    if (x->dedup) { /* several entries per document: feed it once */
        if (json_object_get(x->seen, id)) return 0;
        if (json_object_set_new(x->seen, id, json_true())) return BB_ENOMEM;
    }
    uint8_t *doc = NULL;
    size_t len = 0;
    int rc = bdoc_get_raw(x->tx, x->coll, id, &doc, &len);
    if (rc == BB_ENOTFOUND) return 0; /* cannot happen in one snapshot; tolerated */
    if (rc) return rc;
    rc = feed(x, doc, len);
    free(doc);
    if (rc) return rc;
    if (x->need && !x->group && x->matched_fed >= x->need) {
        size_t gl = sk_group_len(x->ix, key, x->group_comps);
        x->group = strndup(key, gl);
        if (!x->group) return BB_ENOMEM;
    }
    return 0;
}

static int coll_cb(void *vctx, const char *id, size_t idlen, const uint8_t *doc, size_t len)
{
    (void)id;
    (void)idlen;
    struct exec *x = vctx;
    int rc = feed(x, doc, len);
    if (rc) return rc;
    if (x->need && x->matched_fed >= x->need) {
        x->stopped = 1;
        return 1;
    }
    return 0;
}

/* The collection in _id order, documents evaluated in place (bdoc_scan). */
static int collscan(struct exec *x)
{
    return bdoc_scan(x->tx, x->coll, NULL, NULL, coll_cb, x);
}

/* The sort keys of a request (validated by bdoc_find_compile already). */
static size_t parse_sort(const json_t *req, struct sortkey *sk)
{
    const json_t *s = json_object_get(req, "sort");
    size_t n = 0;
    if (json_is_array(s)) {
        size_t i;
        json_t *k;
        json_array_foreach(s, i, k) {
            if (n == BDOC_QUERY_MAX_SORT_KEYS) break;
            if (json_is_string(k)) {
                const char *p = json_string_value(k);
                sk[n].desc = p[0] == '-';
                sk[n].path = p + (p[0] == '-' || p[0] == '+');
            } else {
                sk[n].path = json_string_value(json_object_get(k, "field"));
                sk[n].desc = json_is_true(json_object_get(k, "desc"));
                if (!sk[n].path) continue;
            }
            n++;
        }
    } else if (json_is_string(json_object_get(req, "sortField"))) {
        sk[0].path = json_string_value(json_object_get(req, "sortField"));
        sk[0].desc = json_is_true(json_object_get(req, "sortDesc"));
        n = sk[0].path[0] ? 1 : 0;
    }
    /* a trailing "_id" ascending is the implicit tie-breaker: drop it */
    while (n && !strcmp(sk[n - 1].path, "_id") && !sk[n - 1].desc) n--;
    return n;
}

void bdoc_store_find_result_release(struct bdoc_store_find_result *r)
{
    if (!r) return;
    json_decref(r->docs);
    free(r->cursor);
    json_decref(r->explain);
    memset(r, 0, sizeof *r);
}

static json_t *fields_json(const struct sk_index *ix)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ix->nf; i++) {
        char buf[BDOC_QUERY_MAX_PATH_LEN + 2];
        snprintf(buf, sizeof buf, "%s%s", ix->f[i].desc ? "-" : "", ix->f[i].path);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

int bdoc_store_find(struct bdoc_store_txn *t, const char *coll, const json_t *req,
                    const struct bdoc_store_actor *a, int flags,
                    struct bdoc_store_find_result *res, struct bdoc_store_error *e)
{
    return bdoc_store_find_budget(t, coll, req, a, flags, NULL, res, e);
}

int bdoc_store_find_budget(struct bdoc_store_txn *t, const char *coll, const json_t *req,
                           const struct bdoc_store_actor *a, int flags,
                           const struct bdoc_budget_limits *lim,
                           struct bdoc_store_find_result *res, struct bdoc_store_error *e)
{
    if (!res) return BB_EINVAL;
    memset(res, 0, sizeof *res);
    if (!t || !coll || !json_is_object(req)) return BB_EINVAL;
    struct sk_meta *m = NULL;
    struct bdoc_find *f = NULL;
    struct plan *plans = NULL;
    size_t nplans = 0;
    struct exec x;
    memset(&x, 0, sizeof x);
    json_t *considered = json_array();
    char err[512];
    int rc = st_meta_load(t, coll, &m);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "collection '%s' not found", coll);
        goto out;
    }
    rc = bdoc_find_compile(req, &f, err, sizeof err);
    if (rc) {
        st_err(e, "invalid query: %s", err);
        goto out;
    }
    const struct bdoc_pred *preds = NULL;
    size_t npreds = 0;
    int all_ix = 0;
    bdoc_query_preds(bdoc_find_query(f), &preds, &npreds, &all_ix);
    struct sortkey sk[BDOC_QUERY_MAX_SORT_KEYS];
    size_t ns = parse_sort(req, sk);
    size_t skip = (size_t)json_number_value(json_object_get(req, "skip"));
    size_t limit = (size_t)json_number_value(json_object_get(req, "limit"));
    int may_stop = limit > 0 && !(flags & BDOC_STORE_EXACT_COUNT);

    /* candidate plans */
    int force = flags & BDOC_STORE_FORCE_SCAN;
    plans = calloc(m->nidx ? m->nidx : 1, sizeof *plans);
    if (!plans) {
        rc = BB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m->nidx && !force; i++) {
        const struct sk_index *ix = &m->idx[i];
        json_t *c = json_pack("{s:s,s:o}", "index", ix->name, "fields", fields_json(ix));
        json_array_append_new(considered, c);
        if (!ix->ready) {
            json_object_set_new(c, "usable", json_false());
            json_object_set_new(c, "reason", json_string("building"));
            continue;
        }
        struct plan *p = &plans[nplans];
        rc = plan_build(p, ix, preds, npreds);
        if (rc) goto out;
        int rev = 0;
        size_t g = sort_fit(ix, preds, npreds, sk, ns, &rev);
        if (g && (p->nr == 1 || p->nbound == 0)) {
            p->sort_served = 1;
            p->reverse = rev;
            p->group_comps = g;
        }
        if (p->nbound == 0) {
            if (p->sort_served && may_stop) {
                /* the whole index in sort order */
                rc = plan_add_range(p, strdup(""), strdup(SK_HIGH));
                if (rc) goto out;
                p->est = PROBE_CAP;
                json_object_set_new(c, "usable", json_true());
                json_object_set_new(c, "serves_sort", json_true());
                nplans++;
            } else {
                json_object_set_new(c, "usable", json_false());
                json_object_set_new(c, "reason",
                                    json_string(ix->multikey && ns ? "no predicate on the leading field; multikey (cannot sort)" : "no predicate on the leading field"));
                plan_release(p);
            }
            continue;
        }
        json_object_set_new(c, "usable", json_true());
        json_object_set_new(c, "bound_fields", json_integer((json_int_t)p->nbound));
        json_object_set_new(c, "serves_sort", json_boolean(p->sort_served));
        p->est = SIZE_MAX; /* not probed */
        nplans++;
    }
    /* choose: a plan that binds fields AND serves the sort reads about skip+limit entries; a
     * single candidate needs no comparison; otherwise probe the candidates' key counts */
    struct plan *best = NULL;
    size_t nbound_plans = 0;
    int any_sort = 0;
    for (size_t i = 0; i < nplans; i++) {
        struct plan *p = &plans[i];
        any_sort |= p->sort_served;
        if (p->nbound == 0) continue;
        nbound_plans++;
        if (may_stop && p->sort_served && (!best || p->nbound > best->nbound)) best = p;
    }
    for (size_t i = 0; !best && (nbound_plans > 1 || (may_stop && any_sort)) && i < nplans; i++) {
        struct plan *p = &plans[i];
        if (p->nbound == 0) continue;
        rc = plan_probe(t->tx, p);
        if (rc) goto out;
        json_t *c = NULL;
        size_t k;
        json_t *cc;
        json_array_foreach(considered, k, cc) {
            if (!strcmp(json_string_value(json_object_get(cc, "index")), p->ix->name)) c = cc;
        }
        json_object_set_new(c, "estimated_keys", json_integer((json_int_t)p->est));
        json_object_set_new(c, "estimate_capped", json_boolean(p->est >= PROBE_CAP));
    }
    for (size_t i = 0; !best && i < nplans; i++) {
        struct plan *p = &plans[i];
        if (p->nbound == 0) continue;
        if (p->est >= PROBE_CAP) continue;
        if (!best || p->est < best->est ||
            (p->est == best->est && (p->sort_served > best->sort_served ||
                                     (p->sort_served == best->sort_served &&
                                      p->nbound > best->nbound))))
            best = p;
    }
    if (!best && may_stop) {
        for (size_t i = 0; i < nplans; i++) {
            struct plan *p = &plans[i];
            if (!p->sort_served) continue;
            if (!best || p->nbound > best->nbound) best = p;
        }
    }
    if (!best) {
        for (size_t i = 0; i < nplans; i++) {
            struct plan *p = &plans[i];
            if (p->nbound == 0) continue;
            if (!best || p->nbound > best->nbound) best = p;
        }
    }

    /* execute */
    rc = bdoc_find_run_new(f, &x.run);
    if (rc) goto out;
    if (lim) {
        rc = bdoc_budget_new(lim, &x.budget);
        if (rc) goto out;
        bdoc_find_run_set_budget(x.run, x.budget);
    }
    x.tx = t->tx;
    x.coll = coll;
    x.m = m;
    x.a = a;
    x.fast = st_read_trivial(m, a);
    size_t keys = 0;
    if (best) {
        x.seen = json_object();
        x.ix = best->ix;
        x.dedup = best->ix->multikey || best->nr > 1;
        x.group_comps = best->group_comps;
        if (best->sort_served && may_stop) x.need = skip + limit + 1;
        /* with an early stop in sight, start with a batch of about what is needed */
        size_t batch = x.need ? (x.need * 2 + 8 < 256 ? x.need * 2 + 8 : 256) : 256;
        for (size_t k = 0; k < best->nr && !rc && !x.stopped; k++) {
            size_t i = best->reverse ? best->nr - 1 - k : k;
            rc = scan_range(t->tx, best->ix->ecoll, best->lo[i], best->hi[i], best->reverse,
                            batch, ix_entry_fn, &x, &keys);
        }
    } else {
        if (may_stop && ns == 0 && !force) x.need = skip + limit + 1;
        rc = collscan(&x);
    }
    if (rc == BB_ELIMIT) st_err(e, "query too expensive: %s", bdoc_budget_why(x.budget));
    if (rc) goto out;
    rc = bdoc_find_run_finish(x.run, &res->docs, &res->cursor, &res->matched);
    if (rc) goto out;
    json_t *ex = json_pack("{s:s,s:o,s:b,s:b,s:o,s:I,s:I,s:I}", "plan", best ? "IXSCAN" : "COLLSCAN",
                           "index", best ? json_string(best->ix->name) : json_null(),
                           "sort_from_index", best && best->sort_served, "early_stop",
                           x.stopped, "considered", considered, "keys_examined",
                           (json_int_t)keys, "docs_examined", (json_int_t)x.docs, "returned",
                           (json_int_t)json_array_size(res->docs));
    considered = NULL;
    if (ex && best) {
        json_object_set_new(ex, "fields", fields_json(best->ix));
        json_object_set(ex, "bounds", best->bounds);
        json_object_set_new(ex, "ranges", json_integer((json_int_t)best->nr));
    }
    if (ex && best && best->reverse) json_object_set_new(ex, "reverse_scan", json_true());
    if (ex && force) json_object_set_new(ex, "forced_scan", json_true());
    res->explain = ex;
    if (!ex) rc = BB_ENOMEM;
out:
    if (rc) bdoc_store_find_result_release(res);
    for (size_t i = 0; i < nplans; i++) plan_release(&plans[i]);
    free(plans);
    json_decref(considered);
    json_decref(x.seen);
    free(x.group);
    bdoc_find_run_free(x.run);
    bdoc_budget_free(x.budget);
    bdoc_find_free(f);
    st_meta_put(t->s, m);
    return rc;
}

int bdoc_store_count(struct bdoc_store_txn *t, const char *coll, const json_t *filter,
                     const struct bdoc_store_actor *a, size_t *n, struct bdoc_store_error *e)
{
    if (!n) return BB_EINVAL;
    *n = 0;
    json_t *req = filter ? json_pack("{s:O,s:i}", "query", filter, "limit", 1)
                         : json_pack("{s:{},s:i}", "query", "limit", 1);
    if (!req) return BB_ENOMEM;
    struct bdoc_store_find_result r;
    int rc = bdoc_store_find(t, coll, req, a, BDOC_STORE_EXACT_COUNT, &r, e);
    json_decref(req);
    if (!rc) *n = r.matched;
    bdoc_store_find_result_release(&r);
    return rc;
}
