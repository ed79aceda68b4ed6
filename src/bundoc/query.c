/* query.c — value order, regexes, filter compilation and matching, planner predicates.
 * Then sort, projection, cursors and find runs. Semantics and grammar:
 * docs/internals/bundoc-query.md. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "query.h"

#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_time.h"
#include "bb_json.h"
#include "doc.h"
#include "query_int.h"


static void qerr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- value order --------------------------------------------------------------------------- */

enum bdoc_type_class bdoc_type_class(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return BDOC_TC_NULL;
    case JSON_INTEGER:
    case JSON_REAL: return BDOC_TC_NUMBER;
    case JSON_STRING: return BDOC_TC_STRING;
    case JSON_OBJECT: return BDOC_TC_OBJECT;
    case JSON_ARRAY: return BDOC_TC_ARRAY;
    case JSON_TRUE:
    case JSON_FALSE: return BDOC_TC_BOOL;
    }
    return BDOC_TC_NULL;
}

/* Exact comparison of an int64 with a finite double. */
int q_cmp_int_real(json_int_t i, double d)
{
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    double t = trunc(d);
    int64_t ti = (int64_t)t;
    if (i < ti) return -1;
    if (i > ti) return 1;
    double frac = d - t;
    return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

static int cmp_num(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_real(a) && json_is_real(b)) {
        double x = json_real_value(a), y = json_real_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_integer(a)) return q_cmp_int_real(json_integer_value(a), json_real_value(b));
    return -q_cmp_int_real(json_integer_value(b), json_real_value(a));
}

static int cmp_str(const json_t *a, const json_t *b)
{
    size_t la = json_string_length(a), lb = json_string_length(b);
    int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    if (c) return c < 0 ? -1 : 1;
    return (la > lb) - (la < lb);
}

static int cmp_keyp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Sorted key list of an object: into stack buffer when small, else malloc'ed (NULL on ENOMEM). */
static const char **sorted_keys(const json_t *o, const char **stackbuf, size_t cap)
{
    size_t n = json_object_size(o);
    const char **k = n <= cap ? stackbuf : malloc(n * sizeof *k);
    if (!k) return NULL;
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        (void)v;
        k[i++] = key;
    }
    qsort(k, n, sizeof *k, cmp_keyp);
    return k;
}

static int cmp_obj(const json_t *a, const json_t *b)
{
    const char *sa[16], *sb[16];
    size_t na = json_object_size(a), nb = json_object_size(b);
    const char **ka = sorted_keys(a, sa, 16);
    const char **kb = sorted_keys(b, sb, 16);
    int c = 0;
    if (!ka || !kb) { /* ENOMEM: degrade to a size comparison (still deterministic) */
        c = (na > nb) - (na < nb);
        goto out;
    }
    for (size_t i = 0; i < na && i < nb; i++) {
        c = strcmp(ka[i], kb[i]);
        if (c) {
            c = c < 0 ? -1 : 1;
            goto out;
        }
        c = bdoc_value_cmp(json_object_get(a, ka[i]), json_object_get(b, kb[i]));
        if (c) goto out;
    }
    c = (na > nb) - (na < nb);
out:
    if (ka && ka != sa) free(ka);
    if (kb && kb != sb) free(kb);
    return c;
}

int bdoc_value_cmp(const json_t *a, const json_t *b)
{
    int ta = a ? (int)bdoc_type_class(a) : BDOC_TC_NULL;
    int tb = b ? (int)bdoc_type_class(b) : BDOC_TC_NULL;
    if (ta != tb) return ta < tb ? -1 : 1;
    switch (ta) {
    case BDOC_TC_NULL: return 0;
    case BDOC_TC_NUMBER: return cmp_num(a, b);
    case BDOC_TC_STRING: return cmp_str(a, b);
    case BDOC_TC_OBJECT: return cmp_obj(a, b);
    case BDOC_TC_ARRAY: {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na && i < nb; i++) {
            int c = bdoc_value_cmp(json_array_get(a, i), json_array_get(b, i));
            if (c) return c;
        }
        return (na > nb) - (na < nb);
    }
    case BDOC_TC_BOOL: return json_is_true(a) - json_is_true(b);
    }
    return 0;
}

int bdoc_value_equal(const json_t *a, const json_t *b)
{
    return bdoc_value_cmp(a, b) == 0;
}

/* ---- value hash ---------------------------------------------------------------------------- */

static uint64_t hmix(uint64_t x)
{
    /* splitmix64 finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hbytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return hmix(h ^ n);
}

uint64_t bdoc_value_hash(const json_t *v)
{
    int tc = v ? (int)bdoc_type_class(v) : BDOC_TC_NULL;
    uint64_t h = hmix((uint64_t)tc + 1);
    switch (tc) {
    case BDOC_TC_NULL: return h;
    case BDOC_TC_BOOL: return hmix(h ^ (uint64_t)json_is_true(v));
    case BDOC_TC_NUMBER: {
        /* equal numbers hash equally: an integral real inside int64 hashes as that integer
         * (1 == 1.0, -0.0 == 0), any other real by its bits */
        if (json_is_integer(v)) return hmix(h ^ (uint64_t)json_integer_value(v));
        double d = json_real_value(v);
        if (d == trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return hmix(h ^ (uint64_t)(int64_t)d);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return hmix(h ^ hmix(bits ^ 0x9e3779b97f4a7c15ull));
    }
    case BDOC_TC_STRING: return hbytes(json_string_value(v), json_string_length(v), h);
    case BDOC_TC_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) h = hmix(h * 31 + bdoc_value_hash(e));
        return hmix(h ^ json_array_size(v));
    }
    case BDOC_TC_OBJECT: {
        /* key order must not matter: a commutative sum of per-member hashes */
        uint64_t sum = 0;
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            uint64_t kh = hbytes(k, strlen(k), 0x51ed270b27f3a6c5ull);
            sum += hmix(kh ^ (bdoc_value_hash(e) * 0x9e3779b97f4a7c15ull));
        }
        return hmix(h ^ sum ^ json_object_size(v));
    }
    }
    return h;
}

/* ---- regex --------------------------------------------------------------------------------- */

struct bdoc_regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

void bdoc_regex_free(struct bdoc_regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

int bdoc_regex_compile(const char *pattern, size_t len, const char *options,
                       struct bdoc_regex **out, char *err, size_t errcap)
{
    int rc = 0;
    struct bdoc_regex *re = NULL;
    *out = NULL;
    if (err && errcap) err[0] = 0;
    if (!pattern) {
        qerr(err, errcap, "regex: missing pattern");
        return BB_EINVAL;
    }
    if (len > BDOC_QUERY_MAX_REGEX_LEN) {
        qerr(err, errcap, "regex: pattern longer than %d bytes", BDOC_QUERY_MAX_REGEX_LEN);
        return BB_ETOOBIG;
    }
    uint32_t flags = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_MATCH_INVALID_UTF;
    for (const char *o = options ? options : ""; *o; o++) {
        switch (*o) {
        case 'i': flags |= PCRE2_CASELESS; break;
        case 'm': flags |= PCRE2_MULTILINE; break;
        case 's': flags |= PCRE2_DOTALL; break;
        case 'x': flags |= PCRE2_EXTENDED; break;
        default:
            qerr(err, errcap, "regex: unknown option '%c' (allowed: i m s x)", *o);
            return BB_EINVAL;
        }
    }
    re = calloc(1, sizeof *re);
    if (!re) return BB_ENOMEM;
    int ecode = 0;
    PCRE2_SIZE eoff = 0;
    re->code = pcre2_compile((PCRE2_SPTR)pattern, len, flags, &ecode, &eoff, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(ecode, msg, sizeof msg) < 0) msg[0] = 0;
        qerr(err, errcap, "regex: %s at offset %zu", (const char *)msg, (size_t)eoff);
        rc = ecode == PCRE2_ERROR_NOMEMORY ? BB_ENOMEM : BB_EINVAL;
        goto out;
    }
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->mctx) {
        rc = BB_ENOMEM;
        goto out;
    }
    pcre2_set_match_limit(re->mctx, BDOC_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, BDOC_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, 4096); /* KiB */
    *out = re;
    re = NULL;
out:
    bdoc_regex_free(re);
    return rc;
}

int bdoc_regex_match(const struct bdoc_regex *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return BB_ENOMEM;
    int r = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, re->mctx);
    pcre2_match_data_free(md);
    if (r >= 0) return 1;
    if (r == PCRE2_ERROR_NOMEMORY) return BB_ENOMEM;
    return 0; /* no match, limits hit, bad UTF: no match */
}

/* ---- work budgets -------------------------------------------------------------------------- */

struct bdoc_budget {
    struct bdoc_budget_limits lim;
    uint64_t start_ms;
    uint64_t docs;
    pcre2_match_context *mctx; /* the budget's regex limits */
    pcre2_match_data *md;      /* reused by every match under this budget (one thread) */
    char why[160];
};

int bdoc_budget_new(const struct bdoc_budget_limits *lim, struct bdoc_budget **out)
{
    *out = NULL;
    struct bdoc_budget *b = calloc(1, sizeof *b);
    if (!b) return BB_ENOMEM;
    if (lim) b->lim = *lim;
    if (!b->lim.regex_match_limit) b->lim.regex_match_limit = BDOC_REGEX_MATCH_LIMIT;
    if (!b->lim.regex_depth_limit) b->lim.regex_depth_limit = BDOC_REGEX_DEPTH_LIMIT;
    b->mctx = pcre2_match_context_create(NULL);
    b->md = pcre2_match_data_create(1, NULL);
    if (!b->mctx || !b->md) {
        bdoc_budget_free(b);
        return BB_ENOMEM;
    }
    pcre2_set_match_limit(b->mctx, b->lim.regex_match_limit);
    pcre2_set_depth_limit(b->mctx, b->lim.regex_depth_limit);
    pcre2_set_heap_limit(b->mctx, 4096); /* KiB */
    b->start_ms = bb_time_mono_ms();
    *out = b;
    return 0;
}

void bdoc_budget_free(struct bdoc_budget *b)
{
    if (!b) return;
    pcre2_match_context_free(b->mctx);
    pcre2_match_data_free(b->md);
    free(b);
}

int bdoc_budget_doc(struct bdoc_budget *b)
{
    if (!b) return 0;
    b->docs++;
    if (b->lim.max_docs && b->docs > b->lim.max_docs) {
        snprintf(b->why, sizeof b->why, "examined more than %llu documents",
                 (unsigned long long)b->lim.max_docs);
        return BB_ELIMIT;
    }
    if (b->lim.max_ms && bb_time_mono_ms() - b->start_ms > b->lim.max_ms) {
        snprintf(b->why, sizeof b->why, "ran longer than %llu ms",
                 (unsigned long long)b->lim.max_ms);
        return BB_ELIMIT;
    }
    return 0;
}

uint64_t bdoc_budget_docs(const struct bdoc_budget *b)
{
    return b ? b->docs : 0;
}

const char *bdoc_budget_why(const struct bdoc_budget *b)
{
    return b && b->why[0] ? b->why : "work budget exceeded";
}


/* 1 match, 0 no match; a limit hit sets ms->hit (BB_ELIMIT, or BB_ENOMEM) and answers 0. */
int q_regex_match_budget(const struct bdoc_regex *re, const char *s, size_t len,
                              struct mstate *ms)
{
    struct bdoc_budget *b = ms->b;
    if (ms->hit) return 0;
    int r = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, b->md, b->mctx);
    if (r >= 0) return 1;
    switch (r) {
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
        snprintf(b->why, sizeof b->why,
                 "a regular expression exceeded its match limit (%u steps, depth %u)",
                 (unsigned)b->lim.regex_match_limit, (unsigned)b->lim.regex_depth_limit);
        ms->hit = BB_ELIMIT;
        return 0;
    case PCRE2_ERROR_NOMEMORY: ms->hit = BB_ENOMEM; return 0;
    default: return 0; /* no match, bad UTF */
    }
}

/* ---- shared helpers ------------------------------------------------------------------------ */

static void qerr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static void qpath_free(struct bdoc_qpath *p)
{
    if (!p) return;
    free(p->buf);
    free(p->segs);
    free(p);
}

static int qpath_parse(const char *s, struct bdoc_qpath **out, char *err, size_t cap)
{
    *out = NULL;
    size_t len = s ? strlen(s) : 0;
    if (len == 0) {
        qerr(err, cap, "empty field path");
        return BB_EINVAL;
    }
    if (len > BDOC_QUERY_MAX_PATH_LEN) {
        qerr(err, cap, "field path longer than %d bytes", BDOC_QUERY_MAX_PATH_LEN);
        return BB_ETOOBIG;
    }
    size_t nseg = 1;
    for (size_t i = 0; i < len; i++) nseg += s[i] == '.';
    if (nseg > BDOC_QUERY_MAX_PATH_SEGS) {
        qerr(err, cap, "field path '%.64s' has more than %d segments", s,
                   BDOC_QUERY_MAX_PATH_SEGS);
        return BB_ETOOBIG;
    }
    struct bdoc_qpath *p = calloc(1, sizeof *p);
    if (!p) return BB_ENOMEM;
    p->buf = malloc(2 * len + 2);
    p->segs = calloc(nseg, sizeof *p->segs);
    if (!p->buf || !p->segs) {
        qpath_free(p);
        return BB_ENOMEM;
    }
    memcpy(p->buf, s, len + 1); /* the whole path */
    p->str = p->buf;
    char *segbuf = p->buf + len + 1;
    memcpy(segbuf, s, len + 1);
    char *start = segbuf;
    for (size_t i = 0; i <= len; i++) {
        if (segbuf[i] == '.' || segbuf[i] == 0) {
            segbuf[i] = 0;
            if (*start == 0) {
                qerr(err, cap, "field path '%.64s' has an empty segment", s);
                qpath_free(p);
                return BB_EINVAL;
            }
            p->segs[p->n++] = start;
            start = segbuf + i + 1;
        }
    }
    *out = p;
    return 0;
}

/* Array index of a segment made only of digits (no leading zeros except "0"), or -1. */
long q_seg_index(const char *seg)
{
    if (!seg[0] || (seg[0] == '0' && seg[1])) return -1;
    long v = 0;
    for (const char *c = seg; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000000) return -1;
        v = v * 10 + (*c - '0');
    }
    return v;
}

const json_t *q_qpath_get(const struct bdoc_qpath *p, const json_t *doc)
{
    const json_t *v = doc;
    for (size_t i = 0; i < p->n && v; i++) {
        if (json_is_object(v)) {
            v = json_object_get(v, p->segs[i]);
        } else if (json_is_array(v)) {
            long idx = q_seg_index(p->segs[i]);
            v = idx < 0 ? NULL : json_array_get(v, (size_t)idx);
        } else {
            v = NULL;
        }
    }
    return v;
}

/* ---- compiled filters ---------------------------------------------------------------------- */




struct cctx {
    size_t nodes;
    char *err;
    size_t cap;
};

static void node_free(struct qnode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) node_free(n->kids[i]);
    free(n->kids);
    qpath_free(n->path);
    json_decref(n->val);
    bdoc_regex_free(n->re);
    free(n);
}

static int node_new(struct cctx *c, enum qop op, struct qnode **out)
{
    *out = NULL;
    if (++c->nodes > BDOC_QUERY_MAX_NODES) {
        qerr(c->err, c->cap, "query has more than %d nodes", BDOC_QUERY_MAX_NODES);
        return BB_ETOOBIG;
    }
    struct qnode *n = calloc(1, sizeof *n);
    if (!n) return BB_ENOMEM;
    n->op = op;
    *out = n;
    return 0;
}

/* Appends kid (ownership taken, also on failure). */
static int node_add(struct qnode *n, struct qnode *kid)
{
    struct qnode **k = realloc(n->kids, (n->nkids + 1) * sizeof *k);
    if (!k) {
        node_free(kid);
        return BB_ENOMEM;
    }
    n->kids = k;
    n->kids[n->nkids++] = kid;
    return 0;
}

static int parse_filter(struct cctx *c, const json_t *f, int depth, struct qnode **out);

static int parse_logical_list(struct cctx *c, const char *name, enum qop op, const json_t *v,
                              int depth, struct qnode **out)
{
    int rc;
    struct qnode *n = NULL;
    *out = NULL;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        qerr(c->err, c->cap, "value for %s must be a non-empty array of filters", name);
        return BB_EINVAL;
    }
    rc = node_new(c, op, &n);
    if (rc) return rc;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_object(e)) {
            qerr(c->err, c->cap, "element %zu of %s must be an object", i, name);
            rc = BB_EINVAL;
            goto out;
        }
        struct qnode *k = NULL;
        rc = parse_filter(c, e, depth + 1, &k);
        if (rc) goto out;
        rc = node_add(n, k);
        if (rc) goto out;
    }
    *out = n;
    n = NULL;
out:
    node_free(n);
    return rc;
}

static int is_operator_object(const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0) return 0;
    void *it = json_object_iter((json_t *)v);
    return json_object_iter_key(it)[0] == '$';
}

static int leaf_new(struct cctx *c, enum qop op, const char *path, const json_t *val,
                    struct qnode **out)
{
    struct qnode *n = NULL;
    int rc = node_new(c, op, &n);
    if (rc) return rc;
    rc = qpath_parse(path, &n->path, c->err, c->cap);
    if (rc) {
        node_free(n);
        return rc;
    }
    if (val) n->val = json_incref((json_t *)val);
    *out = n;
    return 0;
}

static int wrap_not(struct cctx *c, struct qnode *kid, struct qnode **out)
{
    struct qnode *n = NULL;
    int rc = node_new(c, Q_NOT, &n);
    if (!rc) rc = node_add(n, kid);
    else node_free(kid);
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int parse_ops(struct cctx *c, const char *path, const json_t *ops, int depth,
                     struct qnode **out);

/* One operator of a field's operator object. */
static int parse_op(struct cctx *c, const char *path, const char *op, const json_t *v,
                    const json_t *ops, int depth, struct qnode **out)
{
    int rc;
    struct qnode *n = NULL;
    *out = NULL;
    static const struct {
        const char *name;
        enum qop op;
        int negate;
    } simple[] = {
        {"$eq", Q_EQ, 0}, {"$ne", Q_EQ, 1}, {"$gt", Q_GT, 0},   {"$gte", Q_GTE, 0},
        {"$lt", Q_LT, 0}, {"$lte", Q_LTE, 0}, {"$in", Q_IN, 0}, {"$nin", Q_IN, 1},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcmp(op, simple[i].name) != 0) continue;
        if (simple[i].op == Q_IN) {
            if (!json_is_array(v)) {
                qerr(c->err, c->cap, "%s of '%.64s' needs an array", op, path);
                return BB_EINVAL;
            }
            c->nodes += json_array_size(v);
        }
        rc = leaf_new(c, simple[i].op, path, v, &n);
        if (rc) return rc;
        if (simple[i].negate) return wrap_not(c, n, out);
        *out = n;
        return 0;
    }
    if (strcmp(op, "$exists") == 0) {
        if (!json_is_boolean(v)) {
            qerr(c->err, c->cap, "$exists of '%.64s' needs true or false", path);
            return BB_EINVAL;
        }
        rc = leaf_new(c, Q_EXISTS, path, NULL, &n);
        if (rc) return rc;
        if (json_is_false(v)) return wrap_not(c, n, out);
        *out = n;
        return 0;
    }
    if (strcmp(op, "$regex") == 0) {
        const json_t *o = json_object_get(ops, "$options");
        if (!json_is_string(v) || (o && !json_is_string(o))) {
            qerr(c->err, c->cap, "$regex and $options of '%.64s' must be strings", path);
            return BB_EINVAL;
        }
        rc = leaf_new(c, Q_REGEX, path, NULL, &n);
        if (rc) return rc;
        rc = bdoc_regex_compile(json_string_value(v), json_string_length(v),
                                o ? json_string_value(o) : NULL, &n->re, c->err, c->cap);
        if (rc) {
            node_free(n);
            return rc;
        }
        *out = n;
        return 0;
    }
    if (strcmp(op, "$options") == 0) {
        if (!json_object_get(ops, "$regex")) {
            qerr(c->err, c->cap, "$options of '%.64s' without $regex", path);
            return BB_EINVAL;
        }
        return 0; /* consumed by $regex: *out stays NULL */
    }
    if (strcmp(op, "$not") == 0) {
        if (!is_operator_object(v)) {
            qerr(c->err, c->cap, "$not of '%.64s' needs an operator object", path);
            return BB_EINVAL;
        }
        rc = parse_ops(c, path, v, depth + 1, &n);
        if (rc) return rc;
        return wrap_not(c, n, out);
    }
    qerr(c->err, c->cap, "unknown operator %.32s on '%.64s'", op, path);
    return BB_EINVAL;
}

static int parse_ops(struct cctx *c, const char *path, const json_t *ops, int depth,
                     struct qnode **out)
{
    int rc;
    struct qnode *n = NULL;
    *out = NULL;
    if (depth > BDOC_QUERY_MAX_DEPTH) {
        qerr(c->err, c->cap, "query nested deeper than %d", BDOC_QUERY_MAX_DEPTH);
        return BB_ETOOBIG;
    }
    rc = node_new(c, Q_AND, &n);
    if (rc) return rc;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ops, k, v) {
        if (k[0] != '$') {
            qerr(c->err, c->cap,
                       "'%.64s': cannot mix operators and field names ('%.32s') in one object",
                       path, k);
            rc = BB_EINVAL;
            goto out;
        }
        struct qnode *kid = NULL;
        rc = parse_op(c, path, k, v, ops, depth, &kid);
        if (rc) goto out;
        if (kid && (rc = node_add(n, kid))) goto out;
    }
    if (n->nkids == 1) { /* unwrap single-operator objects */
        struct qnode *only = n->kids[0];
        n->nkids = 0;
        node_free(n);
        n = only;
    }
    *out = n;
    n = NULL;
out:
    node_free(n);
    return rc;
}

static int parse_filter(struct cctx *c, const json_t *f, int depth, struct qnode **out)
{
    int rc;
    struct qnode *n = NULL;
    *out = NULL;
    if (depth > BDOC_QUERY_MAX_DEPTH) {
        qerr(c->err, c->cap, "query nested deeper than %d", BDOC_QUERY_MAX_DEPTH);
        return BB_ETOOBIG;
    }
    rc = node_new(c, Q_AND, &n);
    if (rc) return rc;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)f, k, v) {
        struct qnode *kid = NULL;
        if (k[0] == '$') {
            if (strcmp(k, "$and") == 0) rc = parse_logical_list(c, k, Q_AND, v, depth, &kid);
            else if (strcmp(k, "$or") == 0) rc = parse_logical_list(c, k, Q_OR, v, depth, &kid);
            else if (strcmp(k, "$nor") == 0) rc = parse_logical_list(c, k, Q_NOR, v, depth, &kid);
            else if (strcmp(k, "$not") == 0) {
                if (!json_is_object(v)) {
                    qerr(c->err, c->cap, "value for $not must be a filter object");
                    rc = BB_EINVAL;
                } else {
                    struct qnode *inner = NULL;
                    rc = parse_filter(c, v, depth + 1, &inner);
                    if (!rc) rc = wrap_not(c, inner, &kid);
                }
            } else {
                qerr(c->err, c->cap, "unknown top-level operator %.32s", k);
                rc = BB_EINVAL;
            }
        } else if (is_operator_object(v)) {
            rc = parse_ops(c, k, v, depth + 1, &kid);
        } else {
            rc = leaf_new(c, Q_EQ, k, v, &kid);
        }
        if (rc) goto out;
        if ((rc = node_add(n, kid))) goto out;
    }
    *out = n;
    n = NULL;
out:
    node_free(n);
    return rc;
}

/* ---- matching ------------------------------------------------------------------------------ */

static int test_eq(const json_t *v, const json_t *val)
{
    if (!v) return json_is_null(val);
    if (bdoc_value_equal(v, val)) return 1;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (bdoc_value_equal(e, val)) return 1;
        }
    }
    return 0;
}

static int range_ok(enum qop op, const json_t *v, const json_t *val)
{
    if (bdoc_type_class(v) != bdoc_type_class(val)) return 0;
    int c = bdoc_value_cmp(v, val);
    switch (op) {
    case Q_GT: return c > 0;
    case Q_GTE: return c >= 0;
    case Q_LT: return c < 0;
    case Q_LTE: return c <= 0;
    default: return 0;
    }
}

static int regex_ok(const struct bdoc_regex *re, const json_t *v, struct mstate *ms)
{
    if (!json_is_string(v)) return 0;
    if (ms->b) return q_regex_match_budget(re, json_string_value(v), json_string_length(v), ms);
    return bdoc_regex_match(re, json_string_value(v), json_string_length(v)) == 1;
}

/* The predicate of a leaf on one candidate value (NULL = the path is missing there). */
static int leaf_test(const struct qnode *n, const json_t *v, struct mstate *ms)
{
    size_t i;
    json_t *e;
    switch (n->op) {
    case Q_EXISTS: return v != NULL;
    case Q_EQ: return test_eq(v, n->val);
    case Q_IN:
        json_array_foreach(n->val, i, e) {
            if (test_eq(v, e)) return 1;
        }
        return 0;
    case Q_GT:
    case Q_GTE:
    case Q_LT:
    case Q_LTE:
        if (!v) return 0;
        if (range_ok(n->op, v, n->val)) return 1;
        if (json_is_array(v)) {
            json_array_foreach(v, i, e) {
                if (range_ok(n->op, e, n->val)) return 1;
            }
        }
        return 0;
    case Q_REGEX:
        if (!v) return 0;
        if (regex_ok(n->re, v, ms)) return 1;
        if (json_is_array(v)) {
            json_array_foreach(v, i, e) {
                if (regex_ok(n->re, e, ms)) return 1;
            }
        }
        return 0;
    default: return 0;
    }
}

/* Walks the path from segment i, fanning out over arrays of objects; 1 if any candidate passes. */
static int walk(const struct qnode *n, const json_t *v, size_t i, struct mstate *ms)
{
    const struct bdoc_qpath *p = n->path;
    if (i == p->n) return leaf_test(n, v, ms);
    if (json_is_object(v)) {
        const json_t *c = json_object_get(v, p->segs[i]);
        return c ? walk(n, c, i + 1, ms) : leaf_test(n, NULL, ms);
    }
    if (json_is_array(v)) {
        long idx = q_seg_index(p->segs[i]);
        if (idx >= 0) {
            const json_t *c = json_array_get(v, (size_t)idx);
            return c ? walk(n, c, i + 1, ms) : leaf_test(n, NULL, ms);
        }
        int any_obj = 0;
        size_t k;
        json_t *e;
        json_array_foreach(v, k, e) {
            if (!json_is_object(e)) continue;
            any_obj = 1;
            if (walk(n, e, i, ms)) return 1;
        }
        return any_obj ? 0 : leaf_test(n, NULL, ms);
    }
    return leaf_test(n, NULL, ms);
}

static int node_match(const struct qnode *n, const json_t *doc, struct mstate *ms)
{
    size_t i;
    switch (n->op) {
    case Q_TRUE: return 1;
    case Q_AND:
        for (i = 0; i < n->nkids; i++)
            if (!node_match(n->kids[i], doc, ms)) return 0;
        return 1;
    case Q_OR:
        for (i = 0; i < n->nkids; i++)
            if (node_match(n->kids[i], doc, ms)) return 1;
        return 0;
    case Q_NOR:
        for (i = 0; i < n->nkids; i++)
            if (node_match(n->kids[i], doc, ms)) return 0;
        return 1;
    case Q_NOT: return !node_match(n->kids[0], doc, ms);
    default: return walk(n, doc, 0, ms);
    }
}

int bdoc_query_match(const struct bdoc_query *q, const json_t *doc)
{
    if (!q || !q->root) return 1;
    struct mstate ms = {NULL, 0};
    return node_match(q->root, doc, &ms);
}

int bdoc_query_match_budget(const struct bdoc_query *q, const json_t *doc,
                            struct bdoc_budget *b)
{
    if (!q || !q->root) return 1;
    struct mstate ms = {b, 0};
    int m = node_match(q->root, doc, &ms);
    if (ms.hit < 0) return ms.hit;
    return m;
}

/* ---- planner predicates -------------------------------------------------------------------- */

static int preds_add(struct bdoc_query *q, const struct qnode *n)
{
    if (n->op == Q_AND) {
        for (size_t i = 0; i < n->nkids; i++) {
            int rc = preds_add(q, n->kids[i]);
            if (rc) return rc;
        }
        return 0;
    }
    int is_range = n->op == Q_GT || n->op == Q_GTE || n->op == Q_LT || n->op == Q_LTE;
    if (n->op != Q_EQ && n->op != Q_IN && !is_range) {
        q->all_indexable = 0;
        return 0;
    }
    if (is_range) { /* merge with an open side of an existing range on the same path/class */
        int lower = n->op == Q_GT || n->op == Q_GTE;
        enum bdoc_type_class tc = bdoc_type_class(n->val);
        for (size_t i = 0; i < q->npreds; i++) {
            struct bdoc_pred *p = &q->preds[i];
            if (p->kind != BDOC_PRED_RANGE || p->tc != tc || strcmp(p->path, n->path->str))
                continue;
            if (lower && !p->lo) {
                p->lo = n->val;
                p->lo_incl = n->op == Q_GTE;
                return 0;
            }
            if (!lower && !p->hi) {
                p->hi = n->val;
                p->hi_incl = n->op == Q_LTE;
                return 0;
            }
        }
    }
    struct bdoc_pred *np = realloc(q->preds, (q->npreds + 1) * sizeof *np);
    if (!np) return BB_ENOMEM;
    q->preds = np;
    struct bdoc_pred *p = &q->preds[q->npreds++];
    memset(p, 0, sizeof *p);
    p->path = n->path->str;
    if (n->op == Q_EQ) {
        p->kind = BDOC_PRED_EQ;
        p->eq = n->val;
        p->matches_missing = json_is_null(n->val);
    } else if (n->op == Q_IN) {
        p->kind = BDOC_PRED_IN;
        p->in = n->val;
        size_t i;
        json_t *e;
        json_array_foreach(n->val, i, e) {
            if (json_is_null(e)) p->matches_missing = 1;
        }
    } else {
        p->kind = BDOC_PRED_RANGE;
        p->tc = bdoc_type_class(n->val);
        if (n->op == Q_GT || n->op == Q_GTE) {
            p->lo = n->val;
            p->lo_incl = n->op == Q_GTE;
        } else {
            p->hi = n->val;
            p->hi_incl = n->op == Q_LTE;
        }
    }
    return 0;
}

void bdoc_query_preds(const struct bdoc_query *q, const struct bdoc_pred **preds, size_t *n,
                      int *all_indexable)
{
    *preds = q ? q->preds : NULL;
    *n = q ? q->npreds : 0;
    if (all_indexable) *all_indexable = q ? q->all_indexable : 1;
}

/* ---- compile / free ------------------------------------------------------------------------ */

void bdoc_query_free(struct bdoc_query *q)
{
    if (!q) return;
    node_free(q->root);
    free(q->preds);
    free(q);
}

int bdoc_query_compile(const json_t *filter, struct bdoc_query **out, char *err, size_t errcap)
{
    int rc = 0;
    struct bdoc_query *q = NULL;
    struct cctx c = {0, err, errcap};
    if (err && errcap) err[0] = 0;
    *out = NULL;
    if (filter && !json_is_object(filter)) {
        qerr(err, errcap, "query must be a JSON object");
        return BB_EINVAL;
    }
    q = calloc(1, sizeof *q);
    if (!q) return BB_ENOMEM;
    q->all_indexable = 1;
    if (filter) {
        rc = parse_filter(&c, filter, 0, &q->root);
        if (rc) goto out;
        rc = preds_add(q, q->root);
        if (rc) goto out;
    }
    *out = q;
    q = NULL;
out:
    bdoc_query_free(q);
    return rc;
}

size_t bdoc_query_count(const struct bdoc_query *q, const json_t *docs)
{
    size_t n = 0, i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        n += bdoc_query_match(q, d) ? 1 : 0;
    }
    return n;
}

/* ---- sort ---------------------------------------------------------------------------------- */



static const char *const ID_SEGS[] = {"_id"};
const struct bdoc_qpath q_id_path = {NULL, "_id", (char **)ID_SEGS, 1};

void bdoc_sort_free(struct bdoc_sort *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) qpath_free(s->keys[i].path);
    free(s->keys);
    json_decref(s->canon);
    free(s);
}

int bdoc_sort_compile(const json_t *spec, struct bdoc_sort **out, char *err, size_t errcap)
{
    int rc = 0;
    struct bdoc_sort *s = NULL;
    if (err && errcap) err[0] = 0;
    *out = NULL;
    if (spec && !json_is_array(spec)) {
        qerr(err, errcap, "sort must be an array of fields");
        return BB_EINVAL;
    }
    size_t n = spec ? json_array_size(spec) : 0;
    if (n > BDOC_QUERY_MAX_SORT_KEYS) {
        qerr(err, errcap, "sort has more than %d fields", BDOC_QUERY_MAX_SORT_KEYS);
        return BB_ETOOBIG;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->canon = json_array()) || (n && !(s->keys = calloc(n, sizeof *s->keys)))) {
        rc = BB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(spec, i);
        const char *path = NULL;
        int desc = 0;
        if (json_is_string(e)) {
            path = json_string_value(e);
            if (path[0] == '-') {
                desc = 1;
                path++;
            } else if (path[0] == '+') {
                path++;
            }
        } else if (json_is_object(e)) {
            const json_t *f = json_object_get(e, "field");
            const json_t *d = json_object_get(e, "desc");
            if (!json_is_string(f) || (d && !json_is_boolean(d)) ||
                json_object_size(e) != 1u + (d != NULL)) {
                qerr(err, errcap, "sort element %zu must be {\"field\": string, \"desc\": bool}",
                     i);
                rc = BB_EINVAL;
                goto out;
            }
            path = json_string_value(f);
            desc = json_is_true(d);
        } else {
            qerr(err, errcap, "sort element %zu must be a string or an object", i);
            rc = BB_EINVAL;
            goto out;
        }
        rc = qpath_parse(path, &s->keys[i].path, err, errcap);
        if (rc) goto out;
        s->keys[i].desc = desc;
        s->n = i + 1;
        char buf[BDOC_QUERY_MAX_PATH_LEN + 2];
        snprintf(buf, sizeof buf, "%s%s", desc ? "-" : "", path);
        if (json_array_append_new(s->canon, json_string(buf))) {
            rc = BB_ENOMEM;
            goto out;
        }
    }
    *out = s;
    s = NULL;
out:
    bdoc_sort_free(s);
    return rc;
}

/* Compares doc a with either doc b or a cursor position (bkeys array + bid). */
static int sort_cmp_impl(const struct bdoc_sort *s, const json_t *a, const json_t *b,
                         const json_t *bkeys, const json_t *bid)
{
    size_t n = s ? s->n : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *va = q_qpath_get(s->keys[i].path, a);
        const json_t *vb = b ? q_qpath_get(s->keys[i].path, b) : json_array_get(bkeys, i);
        int c = bdoc_value_cmp(va, vb);
        if (c) return s->keys[i].desc ? -c : c;
    }
    return bdoc_value_cmp(q_qpath_get(&q_id_path, a), b ? q_qpath_get(&q_id_path, b) : bid);
}

int bdoc_sort_cmp(const struct bdoc_sort *s, const json_t *a, const json_t *b)
{
    return sort_cmp_impl(s, a, b, NULL, NULL);
}

/* ---- cursors ------------------------------------------------------------------------------- */

int bdoc_cursor_encode(const struct bdoc_sort *s, const json_t *last_doc, char **out)
{
    int rc = 0;
    json_t *c = NULL, *keys = NULL;
    char *dump = NULL, *enc = NULL;
    *out = NULL;
    if (!s || !last_doc) return BB_EINVAL;
    keys = json_array();
    if (!keys) return BB_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        const json_t *v = q_qpath_get(s->keys[i].path, last_doc);
        if (json_array_append_new(keys, v ? json_deep_copy(v) : json_null())) {
            rc = BB_ENOMEM;
            goto out;
        }
    }
    const json_t *id = q_qpath_get(&q_id_path, last_doc);
    c = json_pack("{s:O,s:O,s:O}", "s", s->canon, "k", keys, "id", id ? id : json_null());
    if (!c) {
        rc = BB_ENOMEM;
        goto out;
    }
    size_t len = 0;
    dump = json_dumps(c, JSON_COMPACT);
    if (!dump) {
        rc = BB_ENOMEM;
        goto out;
    }
    len = strlen(dump);
    size_t cap = BB_BASE64URL_LEN(len) + 1;
    enc = malloc(cap);
    if (!enc) {
        rc = BB_ENOMEM;
        goto out;
    }
    bb_base64url_encode(dump, len, enc, cap);
    if (strlen(enc) > BDOC_QUERY_MAX_CURSOR_LEN) { /* keys too large to page by */
        rc = BB_ETOOBIG;
        goto out;
    }
    *out = enc;
    enc = NULL;
out:
    json_decref(keys);
    json_decref(c);
    free(dump);
    free(enc);
    return rc;
}

/* Decodes a cursor made for sort s into (*keys, *id), new references. */
static int cursor_decode(const struct bdoc_sort *s, const char *cur, json_t **keys, json_t **id,
                         char *err, size_t errcap)
{
    int rc = BB_EINVAL;
    json_t *c = NULL;
    uint8_t *raw = NULL;
    size_t n = strlen(cur), rawlen = 0;
    *keys = *id = NULL;
    if (n == 0 || n > BDOC_QUERY_MAX_CURSOR_LEN) {
        qerr(err, errcap, "invalid cursor");
        return BB_EINVAL;
    }
    raw = malloc(n);
    if (!raw) return BB_ENOMEM;
    if (bb_base64url_decode(cur, n, raw, n, &rawlen) != 0 ||
        bb_json_parse((const char *)raw, rawlen, 32, &c, NULL, 0) != 0 || !json_is_object(c)) {
        qerr(err, errcap, "invalid cursor");
        goto out;
    }
    json_t *cs = json_object_get(c, "s"), *ck = json_object_get(c, "k");
    json_t *cid = json_object_get(c, "id");
    if (!json_is_array(cs) || !json_is_array(ck) || !cid || json_object_size(c) != 3 ||
        json_array_size(ck) != s->n) {
        qerr(err, errcap, "invalid cursor");
        goto out;
    }
    if (!json_equal(cs, s->canon)) {
        qerr(err, errcap, "cursor was made for a different sort");
        goto out;
    }
    *keys = json_incref(ck);
    *id = json_incref(cid);
    rc = 0;
out:
    json_decref(c);
    free(raw);
    return rc;
}

/* ---- projection ---------------------------------------------------------------------------- */

static int project_into(json_t *dst, const json_t *src, const struct bdoc_qpath *p, size_t i)
{
    const json_t *v = json_object_get(src, p->segs[i]);
    if (!v) return 0;
    const char *seg = p->segs[i];
    if (i + 1 == p->n) {
        json_t *copy = json_deep_copy(v);
        return (!copy || json_object_set_new(dst, seg, copy)) ? BB_ENOMEM : 0;
    }
    if (json_is_object(v)) {
        json_t *d = json_object_get(dst, seg);
        if (!json_is_object(d)) {
            d = json_object();
            if (!d || json_object_set_new(dst, seg, d)) return BB_ENOMEM;
        }
        return project_into(d, v, p, i + 1);
    }
    if (json_is_array(v)) { /* arrays of objects: project each object element */
        size_t nobj = 0, k;
        json_t *e;
        json_array_foreach(v, k, e) nobj += json_is_object(e);
        json_t *d = json_object_get(dst, seg);
        if (!json_is_array(d) || json_array_size(d) != nobj) {
            d = json_array();
            if (!d || json_object_set_new(dst, seg, d)) return BB_ENOMEM;
            for (k = 0; k < nobj; k++)
                if (json_array_append_new(d, json_object())) return BB_ENOMEM;
        }
        size_t j = 0;
        json_array_foreach(v, k, e) {
            if (!json_is_object(e)) continue;
            json_t *de = json_array_get(d, j++);
            if (!json_is_object(de)) continue;
            int rc = project_into(de, e, p, i + 1);
            if (rc) return rc;
        }
    }
    return 0;
}

static int project_paths(struct bdoc_qpath *const *paths, size_t n, const json_t *doc,
                         json_t **out)
{
    *out = NULL;
    json_t *o = json_object();
    if (!o) return BB_ENOMEM;
    const json_t *id = json_object_get(doc, "_id");
    int rc = id ? (json_object_set_new(o, "_id", json_deep_copy(id)) ? BB_ENOMEM : 0) : 0;
    for (size_t i = 0; !rc && i < n; i++) rc = project_into(o, doc, paths[i], 0);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

static void paths_free(struct bdoc_qpath **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++) qpath_free(paths[i]);
    free(paths);
}

static int paths_parse(const json_t *fields, struct bdoc_qpath ***out, size_t *nout, char *err,
                       size_t errcap)
{
    *out = NULL;
    *nout = 0;
    if (!json_is_array(fields)) {
        qerr(err, errcap, "fields must be an array of field paths");
        return BB_EINVAL;
    }
    size_t n = json_array_size(fields);
    if (n > BDOC_QUERY_MAX_FIELDS) {
        qerr(err, errcap, "more than %d fields", BDOC_QUERY_MAX_FIELDS);
        return BB_ETOOBIG;
    }
    struct bdoc_qpath **p = calloc(n ? n : 1, sizeof *p);
    if (!p) return BB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(fields, i);
        int rc = json_is_string(e) ? qpath_parse(json_string_value(e), &p[i], err, errcap)
                                   : BB_EINVAL;
        if (rc) {
            if (rc == BB_EINVAL && !json_is_string(e)) qerr(err, errcap, "fields[%zu] must be a string", i);
            paths_free(p, n);
            return rc;
        }
    }
    *out = p;
    *nout = n;
    return 0;
}

int bdoc_project(const json_t *fields, const json_t *doc, json_t **out)
{
    *out = NULL;
    if (!fields) {
        *out = json_incref((json_t *)doc);
        return 0;
    }
    struct bdoc_qpath **p = NULL;
    size_t n = 0;
    int rc = paths_parse(fields, &p, &n, NULL, 0);
    if (rc) return rc;
    rc = project_paths(p, n, doc, out);
    paths_free(p, n);
    return rc;
}

/* ---- find ---------------------------------------------------------------------------------- */

struct bdoc_find {
    struct bdoc_query *query;
    struct bdoc_sort *sort;
    size_t skip, limit;
    struct bdoc_qpath **fields; /* NULL: whole documents */
    size_t nfields;
    int project;
    json_t *cur_keys, *cur_id; /* keyset position, or NULL */
};

void bdoc_find_free(struct bdoc_find *f)
{
    if (!f) return;
    bdoc_query_free(f->query);
    bdoc_sort_free(f->sort);
    paths_free(f->fields, f->nfields);
    json_decref(f->cur_keys);
    json_decref(f->cur_id);
    free(f);
}

const struct bdoc_query *bdoc_find_query(const struct bdoc_find *f) { return f->query; }
const struct bdoc_sort *bdoc_find_sort(const struct bdoc_find *f) { return f->sort; }

static int get_count(const json_t *req, const char *key, size_t *out, char *err, size_t errcap)
{
    const json_t *v = json_object_get(req, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > BDOC_QUERY_MAX_WINDOW) {
        qerr(err, errcap, "%s must be an integer between 0 and %d", key, BDOC_QUERY_MAX_WINDOW);
        return BB_EINVAL;
    }
    *out = (size_t)json_integer_value(v);
    return 0;
}

int bdoc_find_compile(const json_t *req, struct bdoc_find **out, char *err, size_t errcap)
{
    static const char *const known[] = {"query", "filter", "sort", "sortField", "sortDesc",
                                        "skip",  "limit",  "fields", "cursor", "collection",
                                        "explain"};
    int rc = 0;
    struct bdoc_find *f = NULL;
    json_t *spec = NULL;
    if (err && errcap) err[0] = 0;
    *out = NULL;
    if (!json_is_object(req)) {
        qerr(err, errcap, "find request must be a JSON object");
        return BB_EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(k, known[i])) i++;
        if (i == sizeof known / sizeof known[0]) {
            qerr(err, errcap, "unknown find option '%.64s'", k);
            return BB_EINVAL;
        }
    }
    f = calloc(1, sizeof *f);
    if (!f) return BB_ENOMEM;
    const json_t *q = json_object_get(req, "query");
    const json_t *qf = json_object_get(req, "filter");
    if (q && qf) {
        qerr(err, errcap, "give either query or filter, not both");
        rc = BB_EINVAL;
        goto out;
    }
    if (!q) q = qf;
    if (json_is_null(q)) q = NULL;
    if ((rc = bdoc_query_compile(q, &f->query, err, errcap))) goto out;

    const json_t *sort = json_object_get(req, "sort");
    const json_t *sf = json_object_get(req, "sortField");
    const json_t *sd = json_object_get(req, "sortDesc");
    if (sort && sf) {
        qerr(err, errcap, "give either sort or sortField, not both");
        rc = BB_EINVAL;
        goto out;
    }
    if (sf && !json_is_null(sf) && !(json_is_string(sf) && json_string_length(sf) == 0)) {
        if (!json_is_string(sf) || (sd && !json_is_boolean(sd) && !json_is_null(sd))) {
            qerr(err, errcap, "sortField must be a string and sortDesc a boolean");
            rc = BB_EINVAL;
            goto out;
        }
        spec = json_pack("[{s:O,s:b}]", "field", sf, "desc", json_is_true(sd));
        if (!spec) {
            rc = BB_ENOMEM;
            goto out;
        }
        sort = spec;
    }
    if (json_is_null(sort)) sort = NULL;
    if ((rc = bdoc_sort_compile(sort, &f->sort, err, errcap))) goto out;
    if ((rc = get_count(req, "skip", &f->skip, err, errcap))) goto out;
    if ((rc = get_count(req, "limit", &f->limit, err, errcap))) goto out;
    if (f->skip + f->limit > BDOC_QUERY_MAX_WINDOW) {
        qerr(err, errcap, "skip + limit must not exceed %d", BDOC_QUERY_MAX_WINDOW);
        rc = BB_EINVAL;
        goto out;
    }
    const json_t *fields = json_object_get(req, "fields");
    if (fields && !json_is_null(fields)) {
        if ((rc = paths_parse(fields, &f->fields, &f->nfields, err, errcap))) goto out;
        f->project = 1;
    }
    const json_t *cur = json_object_get(req, "cursor");
    if (cur && !json_is_null(cur)) {
        if (!json_is_string(cur)) {
            qerr(err, errcap, "cursor must be a string");
            rc = BB_EINVAL;
            goto out;
        }
        if (json_string_length(cur)) {
            rc = cursor_decode(f->sort, json_string_value(cur), &f->cur_keys, &f->cur_id, err,
                               errcap);
            if (rc) goto out;
        }
    }
    *out = f;
    f = NULL;
out:
    json_decref(spec);
    bdoc_find_free(f);
    return rc;
}

struct bdoc_find_run {
    const struct bdoc_find *f;
    struct bdoc_budget *budget; /* borrowed, may be NULL */
    json_t **buf; /* kept documents; a max-heap (worst on top) while a window is set */
    size_t n, cap;
    size_t window; /* skip + limit, or 0 = unbounded */
    size_t matched;
};

int bdoc_find_run_new(const struct bdoc_find *f, struct bdoc_find_run **out)
{
    *out = NULL;
    struct bdoc_find_run *r = calloc(1, sizeof *r);
    if (!r) return BB_ENOMEM;
    r->f = f;
    r->window = f->limit ? f->skip + f->limit : 0;
    *out = r;
    return 0;
}

void bdoc_find_run_set_budget(struct bdoc_find_run *r, struct bdoc_budget *b)
{
    r->budget = b;
}

void bdoc_find_run_free(struct bdoc_find_run *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) json_decref(r->buf[i]);
    free(r->buf);
    free(r);
}

static int run_cmp(const struct bdoc_find_run *r, const json_t *a, const json_t *b)
{
    return bdoc_sort_cmp(r->f->sort, a, b);
}

static void heap_down(struct bdoc_find_run *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->n && run_cmp(r, r->buf[l], r->buf[m]) > 0) m = l;
        if (l + 1 < r->n && run_cmp(r, r->buf[l + 1], r->buf[m]) > 0) m = l + 1;
        if (m == i) return;
        json_t *t = r->buf[i];
        r->buf[i] = r->buf[m];
        r->buf[m] = t;
        i = m;
    }
}

static void heap_up(struct bdoc_find_run *r, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (run_cmp(r, r->buf[i], r->buf[p]) <= 0) return;
        json_t *t = r->buf[i];
        r->buf[i] = r->buf[p];
        r->buf[p] = t;
        i = p;
    }
}

static int run_keep(struct bdoc_find_run *r, json_t *doc);

int bdoc_find_run_feed(struct bdoc_find_run *r, json_t *doc)
{
    const struct bdoc_find *f = r->f;
    int m = r->budget ? bdoc_query_match_budget(f->query, doc, r->budget)
                      : bdoc_query_match(f->query, doc);
    if (m <= 0) return m;
    if (f->cur_keys && sort_cmp_impl(f->sort, doc, NULL, f->cur_keys, f->cur_id) <= 0) return 0;
    return run_keep(r, doc);
}

int bdoc_find_run_feed_enc(struct bdoc_find_run *r, const uint8_t *doc, size_t len)
{
    const struct bdoc_find *f = r->f;
    int m = qenc_match(f->query, doc, len, r->budget);
    if (m <= 0) return m;
    int err = 0;
    if (f->cur_keys) {
        int c = qenc_sort_cmp(f->sort, doc, len, NULL, f->cur_keys, f->cur_id, &err);
        if (err) return err;
        if (c <= 0) return 0;
    }
    if (r->window && r->n == r->window) {
        int c = qenc_sort_cmp(f->sort, doc, len, r->buf[0], NULL, NULL, &err);
        if (err) return err;
        if (c >= 0) { /* not in the top window: never decoded */
            r->matched++;
            return 1;
        }
    }
    json_t *d = NULL;
    int rc = doc_decode(doc, len, &d);
    if (rc) return rc;
    rc = run_keep(r, d);
    json_decref(d);
    return rc;
}

/* Counts a matching document after the cursor and keeps it if it belongs to the window. */
static int run_keep(struct bdoc_find_run *r, json_t *doc)
{
    r->matched++;
    if (r->window && r->n == r->window) {
        if (run_cmp(r, doc, r->buf[0]) >= 0) return 1; /* not in the top window */
        json_decref(r->buf[0]);
        r->buf[0] = json_incref(doc);
        heap_down(r, 0);
        return 1;
    }
    if (!r->window && r->n >= BDOC_QUERY_MAX_WINDOW) return BB_ETOOBIG;
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 16;
        if (r->window && nc > r->window) nc = r->window;
        json_t **nb = realloc(r->buf, nc * sizeof *nb);
        if (!nb) return BB_ENOMEM;
        r->buf = nb;
        r->cap = nc;
    }
    r->buf[r->n++] = json_incref(doc);
    if (r->window) heap_up(r, r->n - 1);
    return 1;
}

struct id_item {
    const char *id;
    size_t len;
    size_t pos; /* keeps the sort stable for equal ids */
    json_t *doc;
};

static int id_item_cmp(const void *x, const void *y)
{
    const struct id_item *a = x, *b = y;
    int c = memcmp(a->id, b->id, a->len < b->len ? a->len : b->len);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Sorts by _id alone when every kept document has a string _id (equal ids keep their order):
 * the ids are looked up once instead of twice per comparison. 1 when done. */
static int run_sort_ids(struct bdoc_find_run *r)
{
    if (r->f->sort && r->f->sort->n) return 0;
    struct id_item *it = malloc(r->n * sizeof *it);
    if (!it) return 0;
    for (size_t i = 0; i < r->n; i++) {
        const json_t *id = json_object_get(r->buf[i], "_id");
        if (!json_is_string(id)) {
            free(it);
            return 0;
        }
        it[i] = (struct id_item){json_string_value(id), json_string_length(id), i, r->buf[i]};
    }
    qsort(it, r->n, sizeof *it, id_item_cmp);
    for (size_t i = 0; i < r->n; i++) r->buf[i] = it[i].doc;
    free(it);
    return 1;
}

/* Stable merge sort of r->buf by the run's order. */
static int run_sort(struct bdoc_find_run *r)
{
    if (r->n < 2) return 0;
    if (run_sort_ids(r)) return 0;
    json_t **tmp = malloc(r->n * sizeof *tmp);
    if (!tmp) return BB_ENOMEM;
    for (size_t w = 1; w < r->n; w *= 2) {
        for (size_t lo = 0; lo < r->n; lo += 2 * w) {
            size_t mid = lo + w < r->n ? lo + w : r->n;
            size_t hi = lo + 2 * w < r->n ? lo + 2 * w : r->n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = run_cmp(r, r->buf[j], r->buf[i]) < 0 ? r->buf[j++] : r->buf[i++];
            while (i < mid) tmp[k++] = r->buf[i++];
            while (j < hi) tmp[k++] = r->buf[j++];
        }
        memcpy(r->buf, tmp, r->n * sizeof *tmp);
    }
    free(tmp);
    return 0;
}

int bdoc_find_run_finish(struct bdoc_find_run *r, json_t **docs_out, char **cursor_out,
                         size_t *matched)
{
    int rc;
    json_t *arr = NULL;
    char *cur = NULL;
    const struct bdoc_find *f = r->f;
    *docs_out = NULL;
    if (cursor_out) *cursor_out = NULL;
    if ((rc = run_sort(r))) goto out;
    arr = json_array();
    if (!arr) {
        rc = BB_ENOMEM;
        goto out;
    }
    size_t end = f->limit ? f->skip + f->limit : r->n;
    if (end > r->n) end = r->n;
    for (size_t i = f->skip; i < end; i++) {
        json_t *d = NULL;
        if (f->project) {
            if ((rc = project_paths(f->fields, f->nfields, r->buf[i], &d))) goto out;
        } else {
            d = json_incref(r->buf[i]);
        }
        if (json_array_append_new(arr, d)) {
            rc = BB_ENOMEM;
            goto out;
        }
    }
    if (cursor_out && f->limit && r->matched > f->skip + f->limit && end > f->skip) {
        if ((rc = bdoc_cursor_encode(f->sort, r->buf[end - 1], &cur))) goto out;
    }
    if (matched) *matched = r->matched;
    *docs_out = arr;
    arr = NULL;
    if (cursor_out) *cursor_out = cur;
    cur = NULL;
out:
    json_decref(arr);
    free(cur);
    return rc;
}

int bdoc_find_array(const struct bdoc_find *f, const json_t *docs, json_t **docs_out,
                    char **cursor_out, size_t *matched)
{
    struct bdoc_find_run *r = NULL;
    *docs_out = NULL;
    if (cursor_out) *cursor_out = NULL;
    if (!json_is_array(docs)) return BB_EINVAL;
    int rc = bdoc_find_run_new(f, &r);
    if (rc) return rc;
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        rc = bdoc_find_run_feed(r, d);
        if (rc < 0) goto out;
    }
    rc = bdoc_find_run_finish(r, docs_out, cursor_out, matched);
out:
    bdoc_find_run_free(r);
    return rc < 0 ? rc : 0;
}
