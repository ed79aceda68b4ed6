/* store_key.c — index key encoding for bundoc secondary indexes.
 *
 * Raw encoding E(v) of one JSON value (prefix-free, and memcmp order == bdoc_value_cmp order):
 *   null / missing   01
 *   number           02  D[8]  R[2]   D = the value rounded to a double, as big-endian bits with
 *                                     the sign bit flipped (negatives: all bits flipped), -0 as +0;
 *                                     R = exact int64 minus D (|R| <= 1024) + 32768, big-endian.
 *                                     Rounding is monotone, so (D, R) orders exactly, and an
 *                                     integer equal to a real encodes identically (1 == 1.0).
 *   string           03  bytes  00    byte 00 escaped as 01 01, byte 01 as 01 02
 *   object           04  (02 key-bytes 00 E(value))* 00   keys sorted bytewise, escaped as above
 *   array            05  E(elem)* 00
 *   boolean          06  00|01
 * The class tags follow the class order null < number < string < object < array < bool, the
 * terminators (00) sort before any continuation, so concatenations compare lexicographically
 * exactly as bdoc_value_cmp does. A descending field uses the bytewise complement (a prefix-free
 * set complemented is prefix-free with the order reversed).
 *
 * A key's value part is the concatenation of the fields' encodings; if longer than SK_RAW_MAX
 * bytes it is cut there and ff appended ("truncated"). Truncation is monotone (x < y implies
 * T(x) <= T(y)), so range scans stay correct supersets; equal truncated parts form one group.
 * The value part is lowercase hex, then '|' and a suffix:
 *   non-unique index, or a unique index tuple holding a null: the document id (ids over
 *       SK_ID_INLINE_MAX bytes: "#" + sha256(id) hex, the id in the body as "i")
 *   unique index: nothing when the value part is exact, "#" + sha256(full raw) hex when it was
 *       truncated; the body holds "i": id. Two documents with the same value therefore write the
 *       same entry _id: the engine reports BB_EEXIST (or BB_ECONFLICT at commit for concurrent
 *       inserts), which is the unique check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_bytes.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "doc.h"
#include "query_int.h"
#include "store_int.h"

enum { T_NULL = 1, T_NUM = 2, T_STR = 3, T_OBJ = 4, T_ARR = 5, T_BOOL = 6 };

void sk_buf_put(struct sk_buf *b, const void *p, size_t n)
{
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n + 1) nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sk_buf_byte(struct sk_buf *b, uint8_t c)
{
    sk_buf_put(b, &c, 1);
}

void sk_buf_release(struct sk_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

int sk_field_parse(const char *spec, struct sk_field *f)
{
    memset(f, 0, sizeof *f);
    if (!spec) return BB_EINVAL;
    if (*spec == '-') {
        f->desc = 1;
        spec++;
    }
    size_t len = strlen(spec);
    if (len == 0 || len > BDOC_QUERY_MAX_PATH_LEN) return BB_EINVAL;
    f->path = strdup(spec);
    if (!f->path) return BB_ENOMEM;
    size_t n = 1;
    for (const char *p = spec; *p; p++) n += *p == '.';
    if (n > BDOC_QUERY_MAX_PATH_SEGS) goto bad;
    f->segs = calloc(n, sizeof *f->segs);
    if (!f->segs) {
        sk_field_release(f);
        return BB_ENOMEM;
    }
    const char *p = spec;
    for (size_t i = 0; i < n; i++) {
        const char *d = strchr(p, '.');
        size_t sl = d ? (size_t)(d - p) : strlen(p);
        if (sl == 0) goto bad;
        f->segs[i] = strndup(p, sl);
        if (!f->segs[i]) {
            sk_field_release(f);
            return BB_ENOMEM;
        }
        f->nsegs++;
        p = d ? d + 1 : p + sl;
    }
    return 0;
bad:
    sk_field_release(f);
    return BB_EINVAL;
}

void sk_field_release(struct sk_field *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->nsegs; i++) free(f->segs[i]);
    free(f->segs);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static void put_escaped(struct sk_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && (uint8_t)s[j] > 1) j++;
        sk_buf_put(b, s + i, j - i);
        if (j < n) {
            uint8_t esc[2] = {1, (uint8_t)((uint8_t)s[j] + 1)};
            sk_buf_put(b, esc, 2);
            j++;
        }
        i = j;
    }
    sk_buf_byte(b, 0);
}

/* A number: an int64 (is_int) or a double */
static void put_num(struct sk_buf *b, int is_int, int64_t i, double d)
{
    int32_t res = 0;
    if (is_int) {
        d = (double)i;
        if (d >= 9223372036854775808.0) {
            res = (int32_t)((i - INT64_MAX) - 1); /* i - 2^63, exact */
        } else {
            res = (int32_t)(i - (int64_t)d);
        }
    }
    if (d == 0) d = 0.0; /* -0 == +0 */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    if (u >> 63) u = ~u;
    else u |= 1ull << 63;
    uint8_t o[11];
    o[0] = T_NUM;
    for (int k = 0; k < 8; k++) o[1 + k] = (uint8_t)(u >> (56 - 8 * k));
    uint32_t r = (uint32_t)(res + 32768);
    o[9] = (uint8_t)(r >> 8);
    o[10] = (uint8_t)r;
    sk_buf_put(b, o, sizeof o);
}

static void put_number(struct sk_buf *b, const json_t *v)
{
    if (json_is_integer(v)) put_num(b, 1, json_integer_value(v), 0);
    else put_num(b, 0, 0, json_real_value(v));
}

static int keyp_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int enc(struct sk_buf *b, const json_t *v, int depth)
{
    if (depth > SK_MAX_DEPTH) return BB_ETOOBIG;
    if (!v || json_is_null(v)) {
        sk_buf_byte(b, T_NULL);
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL: put_number(b, v); return 0;
    case JSON_STRING:
        sk_buf_byte(b, T_STR);
        put_escaped(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_TRUE:
    case JSON_FALSE: {
        uint8_t o[2] = {T_BOOL, (uint8_t)json_is_true(v)};
        sk_buf_put(b, o, 2);
        return 0;
    }
    case JSON_ARRAY: {
        sk_buf_byte(b, T_ARR);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            int rc = enc(b, e, depth + 1);
            if (rc) return rc;
            if (b->len > BDOC_STORE_MAX_VALUE_ENC) return BB_ETOOBIG;
        }
        sk_buf_byte(b, 0);
        return 0;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys) return BB_ENOMEM;
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            (void)e;
            keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, keyp_cmp);
        sk_buf_byte(b, T_OBJ);
        int rc = 0;
        for (i = 0; i < n && !rc; i++) {
            sk_buf_byte(b, 2);
            put_escaped(b, keys[i], strlen(keys[i]));
            rc = enc(b, json_object_get(v, keys[i]), depth + 1);
            if (!rc && b->len > BDOC_STORE_MAX_VALUE_ENC) rc = BB_ETOOBIG;
        }
        free(keys);
        if (rc) return rc;
        sk_buf_byte(b, 0);
        return 0;
    }
    default: break;
    }
    sk_buf_byte(b, T_NULL);
    return 0;
}

static int finish_value(struct sk_buf *b, size_t start, int rc, int desc)
{
    if (rc) return rc;
    if (b->oom) return BB_ENOMEM;
    if (b->len > BDOC_STORE_MAX_VALUE_ENC) return BB_ETOOBIG;
    if (desc)
        for (size_t i = start; i < b->len; i++) b->p[i] = (uint8_t)~b->p[i];
    return 0;
}

int sk_encode_value(struct sk_buf *b, const json_t *v, int desc)
{
    size_t start = b->len;
    return finish_value(b, start, enc(b, v, 0), desc);
}

/* ---- the same encoding read from the binary document encoding (doc.c) ---- */

struct ekey {
    const char *k;
    size_t kl;
    struct qenc_val v;
};

/* jansson's order of keys (strcmp; keys hold no NUL) */
static int ekey_cmp(const void *x, const void *y)
{
    const struct ekey *a = x, *b = y;
    int c = memcmp(a->k, b->k, a->kl < b->kl ? a->kl : b->kl);
    if (c) return c;
    return (a->kl > b->kl) - (a->kl < b->kl);
}

/* enc() on an encoded value (v.p NULL: missing); BB_EIO for a malformed encoding */
static int enc_e(struct sk_buf *b, struct qenc_val v, int depth)
{
    if (depth > SK_MAX_DEPTH) return BB_ETOOBIG;
    if (!v.p || v.p[0] == DOC_T_NULL) {
        sk_buf_byte(b, T_NULL);
        return 0;
    }
    switch (v.p[0]) {
    case DOC_T_INT: put_num(b, 1, (int64_t)bb_get_le64(v.p + 1), 0); return 0;
    case DOC_T_REAL: {
        uint64_t u = bb_get_le64(v.p + 1);
        double d;
        memcpy(&d, &u, sizeof d);
        put_num(b, 0, 0, d);
        return 0;
    }
    case DOC_T_STR:
        sk_buf_byte(b, T_STR);
        put_escaped(b, (const char *)v.p + 5, v.n - 5);
        return 0;
    case DOC_T_FALSE:
    case DOC_T_TRUE: {
        uint8_t o[2] = {T_BOOL, (uint8_t)(v.p[0] == DOC_T_TRUE)};
        sk_buf_put(b, o, 2);
        return 0;
    }
    case DOC_T_ARR: {
        struct qenc_it it;
        struct qenc_val e;
        int rc = qenc_it_init(&it, v);
        if (rc) return rc;
        sk_buf_byte(b, T_ARR);
        while ((rc = qenc_it_next(&it, &e, NULL, NULL)) == 1) {
            rc = enc_e(b, e, depth + 1);
            if (rc) return rc;
            if (b->len > BDOC_STORE_MAX_VALUE_ENC) return BB_ETOOBIG;
        }
        if (rc) return rc;
        sk_buf_byte(b, 0);
        return 0;
    }
    case DOC_T_OBJ: {
        struct qenc_it it;
        int rc = qenc_it_init(&it, v);
        if (rc) return rc;
        size_t n = it.left, i = 0;
        if (n > v.n) return BB_EIO;
        struct ekey *keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys) return BB_ENOMEM;
        while (i < n && (rc = qenc_it_next(&it, &keys[i].v, &keys[i].k, &keys[i].kl)) == 1) i++;
        if (rc < 0) {
            free(keys);
            return rc;
        }
        n = i;
        qsort(keys, n, sizeof *keys, ekey_cmp);
        sk_buf_byte(b, T_OBJ);
        rc = 0;
        for (i = 0; i < n && !rc; i++) {
            sk_buf_byte(b, 2);
            put_escaped(b, keys[i].k, keys[i].kl);
            rc = enc_e(b, keys[i].v, depth + 1);
            if (!rc && b->len > BDOC_STORE_MAX_VALUE_ENC) rc = BB_ETOOBIG;
        }
        free(keys);
        if (rc) return rc;
        sk_buf_byte(b, 0);
        return 0;
    }
    default: return BB_EIO;
    }
}

uint8_t sk_class_tag(enum bdoc_type_class tc, int desc)
{
    static const uint8_t tags[] = {T_NULL, T_NUM, T_STR, T_OBJ, T_ARR, T_BOOL};
    uint8_t t = tags[(int)tc < 6 ? (int)tc : 0];
    return desc ? (uint8_t)~t : t;
}

void sk_hex_value(struct sk_buf *out, const uint8_t *raw, size_t n, int *truncated)
{
    static const char hx[] = "0123456789abcdef";
    size_t m = n > SK_RAW_MAX ? SK_RAW_MAX : n;
    char tmp[2 * SK_RAW_MAX + 2];
    for (size_t i = 0; i < m; i++) {
        tmp[2 * i] = hx[raw[i] >> 4];
        tmp[2 * i + 1] = hx[raw[i] & 15];
    }
    size_t len = 2 * m;
    if (n > SK_RAW_MAX) {
        tmp[len++] = 'f';
        tmp[len++] = 'f';
    }
    if (truncated) *truncated = n > SK_RAW_MAX;
    sk_buf_put(out, tmp, len);
}

/* ---- component skipping (for sort groups) ---- */

/* core's hex digit, lowercase only: the key encoding writes lowercase, so an uppercase digit is
 * not one of ours */
static int hexval(char c)
{
    return c >= 'A' && c <= 'F' ? -1 : bb_hex_digit((unsigned char)c);
}

static int skip_str(const uint8_t *p, size_t n, size_t *pos, uint8_t x)
{
    for (;;) {
        if (*pos >= n) return -1;
        uint8_t c = p[(*pos)++] ^ x;
        if (c == 0) return 0;
        if (c == 1) (*pos)++;
    }
}

static int skip_val(const uint8_t *p, size_t n, size_t *pos, uint8_t x, int depth)
{
    if (depth > SK_MAX_DEPTH + 1 || *pos >= n) return -1;
    uint8_t t = p[(*pos)++] ^ x;
    switch (t) {
    case T_NULL: return 0;
    case T_NUM: *pos += 10; return *pos <= n ? 0 : -1;
    case T_STR: return skip_str(p, n, pos, x);
    case T_BOOL: *pos += 1; return *pos <= n ? 0 : -1;
    case T_ARR:
        for (;;) {
            if (*pos >= n) return -1;
            if ((p[*pos] ^ x) == 0) {
                (*pos)++;
                return 0;
            }
            if (skip_val(p, n, pos, x, depth + 1)) return -1;
        }
    case T_OBJ:
        for (;;) {
            if (*pos >= n) return -1;
            uint8_t c = p[*pos] ^ x;
            (*pos)++;
            if (c == 0) return 0;
            if (skip_str(p, n, pos, x) || skip_val(p, n, pos, x, depth + 1)) return -1;
        }
    default: return -1;
    }
}

size_t sk_group_len(const struct sk_index *ix, const char *key, size_t ncomp)
{
    const char *sep = strchr(key, SK_SEP);
    size_t hl = sep ? (size_t)(sep - key) : strlen(key);
    uint8_t raw[SK_RAW_MAX + 1];
    size_t n = hl / 2;
    if (n > sizeof raw) return hl;
    for (size_t i = 0; i < n; i++) {
        int a = hexval(key[2 * i]), b = hexval(key[2 * i + 1]);
        if (a < 0 || b < 0) return hl;
        raw[i] = (uint8_t)(a << 4 | b);
    }
    size_t pos = 0;
    for (size_t c = 0; c < ncomp && c < ix->nf; c++) {
        if (skip_val(raw, n, &pos, ix->f[c].desc ? 0xff : 0, 0) || pos > n) return hl;
    }
    /* a truncated value part ends with the ff marker: a boundary inside the cut region counts
     * as the whole part */
    if (n == SK_RAW_MAX + 1 && pos >= SK_RAW_MAX) return hl;
    return 2 * pos;
}

/* ---- extraction ---- */

/* A field's distinct values (struct fvals, store_int.h): raw encodings in v[0..n); the buffers of
 * v[0..cap) stay allocated and are reused by the next document of a build. */

/* The next value's buffer, emptied. */
static struct sk_buf *fv_slot(struct fvals *fv)
{
    if (fv->n == fv->cap) {
        size_t nc = fv->cap ? 2 * fv->cap : 4;
        struct sk_buf *nv = realloc(fv->v, nc * sizeof *nv);
        if (!nv) return NULL;
        memset(nv + fv->cap, 0, (nc - fv->cap) * sizeof *nv);
        fv->v = nv;
        int *nn = realloc(fv->isnull, nc * sizeof *nn);
        if (!nn) return NULL;
        fv->isnull = nn;
        fv->cap = nc;
    }
    struct sk_buf *b = &fv->v[fv->n];
    b->len = 0;
    b->oom = 0;
    return b;
}

/* Keeps the value just encoded into fv_slot's buffer unless it is already there. */
static int fv_commit(struct fvals *fv, int isnull)
{
    const struct sk_buf *b = &fv->v[fv->n];
    for (size_t i = 0; i < fv->n; i++)
        if (fv->v[i].len == b->len && !memcmp(fv->v[i].p, b->p, b->len)) return 0;
    if (fv->n == BDOC_STORE_MAX_KEYS_PER_DOC) return BB_ETOOBIG;
    fv->isnull[fv->n++] = isnull;
    return 0;
}

static int fv_add(struct fvals *fv, const json_t *v, int desc)
{
    struct sk_buf *b = fv_slot(fv);
    if (!b) return BB_ENOMEM;
    int rc = sk_encode_value(b, v, desc);
    return rc ? rc : fv_commit(fv, !v || json_is_null(v));
}

static int fv_add_e(struct fvals *fv, struct qenc_val v, int desc)
{
    struct sk_buf *b = fv_slot(fv);
    if (!b) return BB_ENOMEM;
    int rc = finish_value(b, 0, enc_e(b, v, 0), desc);
    return rc ? rc : fv_commit(fv, !v.p || v.p[0] == DOC_T_NULL);
}

static void fv_release(struct fvals *fv)
{
    for (size_t i = 0; i < fv->cap; i++) sk_buf_release(&fv->v[i]);
    free(fv->v);
    free(fv->isnull);
    memset(fv, 0, sizeof *fv);
}

void sk_scratch_release(struct sk_scratch *sc)
{
    if (!sc) return;
    for (size_t f = 0; f < BDOC_STORE_MAX_INDEX_FIELDS; f++) fv_release(&sc->fv[f]);
    sk_buf_release(&sc->raw);
    sk_buf_release(&sc->key);
}

static long seg_index(const char *s)
{
    if (!*s || strlen(s) > 9) return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* The leaf of a path walk: the candidate itself and, for an array, each element. */
static int leaf(struct fvals *fv, const json_t *v, int desc, int *mk)
{
    int rc = fv_add(fv, v, desc);
    if (rc || !json_is_array(v)) return rc;
    *mk = 1;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        rc = fv_add(fv, e, desc);
        if (rc) return rc;
    }
    return 0;
}

/* Mirrors query.c's walk: object steps, digit segments index arrays, other segments fan out over
 * an array's object elements; every way to "missing" contributes null. */
static int walk(struct fvals *fv, const struct sk_field *f, const json_t *v, size_t i, int *mk)
{
    if (i == f->nsegs) return leaf(fv, v, f->desc, mk);
    if (json_is_object(v)) {
        const json_t *c = json_object_get(v, f->segs[i]);
        return c ? walk(fv, f, c, i + 1, mk) : leaf(fv, NULL, f->desc, mk);
    }
    if (json_is_array(v)) {
        *mk = 1;
        long idx = seg_index(f->segs[i]);
        if (idx >= 0) {
            const json_t *c = json_array_get(v, (size_t)idx);
            return c ? walk(fv, f, c, i + 1, mk) : leaf(fv, NULL, f->desc, mk);
        }
        int any = 0;
        size_t k;
        json_t *e;
        json_array_foreach(v, k, e) {
            if (!json_is_object(e)) continue;
            any = 1;
            int rc = walk(fv, f, e, i, mk);
            if (rc) return rc;
        }
        return any ? 0 : leaf(fv, NULL, f->desc, mk);
    }
    return leaf(fv, NULL, f->desc, mk);
}

struct eleaf {
    struct fvals *fv;
    int desc, *mk;
};

/* leaf() on an encoded candidate */
static int leaf_e(void *vctx, struct qenc_val v)
{
    struct eleaf *l = vctx;
    int rc = fv_add_e(l->fv, v, l->desc);
    if (rc || !v.p || v.p[0] != DOC_T_ARR) return rc;
    *l->mk = 1;
    struct qenc_it it;
    struct qenc_val e;
    if ((rc = qenc_it_init(&it, v))) return rc;
    while ((rc = qenc_it_next(&it, &e, NULL, NULL)) == 1)
        if ((rc = fv_add_e(l->fv, e, l->desc))) return rc;
    return rc;
}

void sk_keys_free(struct sk_keys *k)
{
    if (!k) return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->keys[i]);
        if (k->bodies) json_decref(k->bodies[i]);
    }
    free(k->keys);
    free(k->bodies);
    free(k->with_i);
    memset(k, 0, sizeof *k);
}

/* bodies: build the entry documents too (else only with_i) */
static int keys_add(struct sk_keys *k, size_t *cap, char *key, int with_i, const char *id,
                    int bodies)
{
    for (size_t i = 0; i < k->n; i++) {
        if (!strcmp(k->keys[i], key)) {
            free(key);
            return 0;
        }
    }
    if (k->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 4;
        char **nk = realloc(k->keys, nc * sizeof *nk);
        if (!nk) goto oom;
        k->keys = nk;
        unsigned char *nw = realloc(k->with_i, nc);
        if (!nw) goto oom;
        k->with_i = nw;
        if (bodies) {
            json_t **nb = realloc(k->bodies, nc * sizeof *nb);
            if (!nb) goto oom;
            k->bodies = nb;
        }
        *cap = nc;
    }
    if (bodies) {
        json_t *body = with_i ? json_pack("{s:s}", "i", id) : json_object();
        if (!body) goto oom;
        k->bodies[k->n] = body;
    }
    k->keys[k->n] = key;
    k->with_i[k->n] = (unsigned char)with_i;
    k->n++;
    return 0;
oom:
    free(key);
    return BB_ENOMEM;
}

static void hex_sha(struct sk_buf *b, const void *p, size_t n)
{
    uint8_t h[BB_SHA256_LEN];
    char hx[2 * BB_SHA256_LEN + 1];
    bb_sha256(p, n, h);
    bb_hex_encode(h, sizeof h, hx, sizeof hx);
    sk_buf_byte(b, '#');
    sk_buf_put(b, hx, 2 * BB_SHA256_LEN);
}

/* The keys of one document from its fields' value lists fv (jdoc: the decoded document, else
 * enc[0..len) the encoded one). */
static int doc_keys(const struct sk_index *ix, const json_t *jdoc, const uint8_t *enc, size_t len,
                    const char *eid, struct sk_scratch *scr, struct sk_keys *out, char *err,
                    size_t errcap)
{
    struct sk_scratch local;
    if (!scr) {
        memset(&local, 0, sizeof local);
        scr = &local;
    }
    struct fvals *fv = scr->fv;
    for (size_t f = 0; f < ix->nf; f++) fv[f].n = 0;
    memset(out, 0, sizeof *out);
    struct sk_buf raw = scr->raw, key = scr->key;
    raw.len = key.len = 0;
    raw.oom = key.oom = 0;
    size_t cap = 0;
    int rc = 0;
    char *idbuf = NULL;
    const char *id = NULL;
    struct qenc_val root = {NULL, 0};
    if (jdoc) {
        id = json_string_value(json_object_get(jdoc, "_id"));
    } else if (eid) {
        id = eid;
        rc = qenc_root(enc, len, &root);
        if (rc) goto out;
    } else {
        const char *s = NULL;
        size_t sl = 0;
        rc = qenc_root(enc, len, &root);
        if (!rc) rc = doc_get_str(enc, len, "_id", &s, &sl);
        if (rc == BB_ENOTFOUND || (!rc && memchr(s, 0, sl))) rc = BB_EINVAL;
        if (rc) goto out;
        if (!(idbuf = strndup(s, sl))) {
            rc = BB_ENOMEM;
            goto out;
        }
        id = idbuf;
    }
    if (!id) {
        rc = BB_EINVAL;
        goto out;
    }
    size_t total = 1;
    for (size_t f = 0; f < ix->nf; f++) {
        if (jdoc) {
            rc = walk(&fv[f], &ix->f[f], jdoc, 0, &out->multikey);
        } else {
            struct eleaf l = {&fv[f], ix->f[f].desc, &out->multikey};
            rc = qenc_walk_path(ix->f[f].segs, ix->f[f].nsegs, seg_index, root, 0,
                                &out->multikey, leaf_e, &l);
        }
        if (rc) {
            if (err)
                snprintf(err, errcap, "index '%s': field '%s': %s", ix->name, ix->f[f].path,
                         rc == BB_ETOOBIG ? "value too large or too deep to index" : "error");
            goto out;
        }
        total *= fv[f].n;
        if (total > BDOC_STORE_MAX_KEYS_PER_DOC) {
            rc = BB_ETOOBIG;
            if (err)
                snprintf(err, errcap, "index '%s': more than %d keys for one document",
                         ix->name, BDOC_STORE_MAX_KEYS_PER_DOC);
            goto out;
        }
    }
    size_t idlen = strlen(id);
    size_t pick[BDOC_STORE_MAX_INDEX_FIELDS] = {0};
    for (size_t c = 0; c < total; c++) {
        /* mixed-radix counter over the fields' value lists */
        size_t rem = c;
        int anynull = 0;
        raw.len = 0;
        for (size_t f = ix->nf; f-- > 0;) {
            pick[f] = rem % fv[f].n;
            rem /= fv[f].n;
        }
        for (size_t f = 0; f < ix->nf; f++) {
            sk_buf_put(&raw, fv[f].v[pick[f]].p, fv[f].v[pick[f]].len);
            anynull |= fv[f].isnull[pick[f]];
        }
        if (raw.oom) {
            rc = BB_ENOMEM;
            goto out;
        }
        int trunc = 0, with_i = 1;
        key.len = 0;
        sk_hex_value(&key, raw.p, raw.len, &trunc);
        sk_buf_byte(&key, SK_SEP);
        if (ix->unique && !anynull) {
            if (trunc) hex_sha(&key, raw.p, raw.len);
        } else if (idlen > SK_ID_INLINE_MAX) {
            hex_sha(&key, id, idlen);
        } else {
            sk_buf_put(&key, id, idlen);
            with_i = 0;
        }
        char *ks = key.oom ? NULL : strndup((const char *)key.p, key.len);
        if (!ks) {
            rc = BB_ENOMEM;
            goto out;
        }
        rc = keys_add(out, &cap, ks, with_i, id, jdoc != NULL);
        if (rc) goto out;
    }
out:
    scr->raw = raw;
    scr->key = key;
    if (scr == &local) sk_scratch_release(&local);
    free(idbuf);
    if (rc) sk_keys_free(out);
    return rc;
}

int sk_doc_keys(const struct sk_index *ix, const json_t *doc, struct sk_keys *out, char *err,
                size_t errcap)
{
    if (!doc) return BB_EINVAL;
    return doc_keys(ix, doc, NULL, 0, NULL, NULL, out, err, errcap);
}

int sk_doc_keys_enc(const struct sk_index *ix, const uint8_t *doc, size_t len, const char *id,
                    struct sk_scratch *scratch, struct sk_keys *out, char *err, size_t errcap)
{
    return doc_keys(ix, NULL, doc, len, id, scratch, out, err, errcap);
}

const char *sk_entry_id(const json_t *entry)
{
    const char *i = json_string_value(json_object_get(entry, "i"));
    if (i) return i;
    const char *k = json_string_value(json_object_get(entry, "_id"));
    if (!k) return NULL;
    const char *sep = strchr(k, SK_SEP);
    return sep ? sep + 1 : NULL;
}
