/* doc.c — binary document encoding.
 *
 * Document := 0xBD 0x01 Value            (magic, format version; the top value is an object)
 * Value    := tag u8, then by tag (all integers little-endian):
 *   0x00 null        (nothing)
 *   0x01 false       (nothing)
 *   0x02 true        (nothing)
 *   0x03 integer     i64
 *   0x04 real        f64 (IEEE 754 binary64)
 *   0x05 string      u32 n | n bytes of UTF-8 (no NUL)
 *   0x06 array       u32 body | u32 count | count Values
 *   0x07 object      u32 body | u32 count | count × (u16 klen | klen bytes of key | Value)
 * `body` is the number of bytes after the body field itself (count included), so a reader skips
 * any value in O(1): 1, 1, 1, 9, 9, 5 + n, 5 + body, 5 + body bytes. Object keys keep their JSON
 * order; a key appears at most once; keys are at most 65535 bytes.
 *
 * Reading one field (doc_get_path) walks the path: in an object it compares each key and skips
 * non-matching values by their length; in an array it skips index values; only the final value
 * is decoded.
 */
#include "doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bb_bytes.h"
#include "bb_err.h"

enum { T_NULL = 0, T_FALSE, T_TRUE, T_INT, T_REAL, T_STR, T_ARR, T_OBJ };

struct buf {
    uint8_t *p;
    size_t n, cap, max;
};

static int reserve(struct buf *b, size_t more)
{
    if (more > b->max || b->n > b->max - more) return BB_ETOOBIG;
    if (b->n + more <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + more) nc *= 2;
    if (nc > b->max) nc = b->max;
    uint8_t *np = realloc(b->p, nc);
    if (!np) return BB_ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}


static int enc(struct buf *b, const json_t *v, int depth)
{
    int rc;
    if (depth > DOC_MAX_DEPTH) return BB_EINVAL;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
    case JSON_TRUE:
        if ((rc = reserve(b, 1))) return rc;
        b->p[b->n++] = json_is_null(v) ? T_NULL : json_is_false(v) ? T_FALSE : T_TRUE;
        return 0;
    case JSON_INTEGER:
        if ((rc = reserve(b, 9))) return rc;
        b->p[b->n] = T_INT;
        bb_put_le64(b->p + b->n + 1, (uint64_t)json_integer_value(v));
        b->n += 9;
        return 0;
    case JSON_REAL: {
        double d = json_real_value(v);
        uint64_t u;
        memcpy(&u, &d, 8);
        if ((rc = reserve(b, 9))) return rc;
        b->p[b->n] = T_REAL;
        bb_put_le64(b->p + b->n + 1, u);
        b->n += 9;
        return 0;
    }
    case JSON_STRING: {
        size_t n = json_string_length(v);
        if (n > UINT32_MAX) return BB_ETOOBIG;
        if ((rc = reserve(b, 5 + n))) return rc;
        b->p[b->n] = T_STR;
        bb_put_le32(b->p + b->n + 1, (uint32_t)n);
        memcpy(b->p + b->n + 5, json_string_value(v), n);
        b->n += 5 + n;
        return 0;
    }
    case JSON_ARRAY:
    case JSON_OBJECT: {
        if ((rc = reserve(b, 9))) return rc;
        size_t at = b->n;
        b->p[at] = json_is_array(v) ? T_ARR : T_OBJ;
        b->n += 9;
        uint32_t count = 0;
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                if ((rc = enc(b, e, depth + 1))) return rc;
                count++;
            }
        } else {
            const char *k;
            json_t *e;
            json_object_foreach((json_t *)v, k, e) {
                size_t kl = strlen(k);
                if (kl > 65535) return BB_ETOOBIG;
                if ((rc = reserve(b, 2 + kl))) return rc;
                b->p[b->n] = (uint8_t)kl;
                b->p[b->n + 1] = (uint8_t)(kl >> 8);
                memcpy(b->p + b->n + 2, k, kl);
                b->n += 2 + kl;
                if ((rc = enc(b, e, depth + 1))) return rc;
                count++;
            }
        }
        size_t body = b->n - at - 5;
        if (body > UINT32_MAX) return BB_ETOOBIG;
        bb_put_le32(b->p + at + 1, (uint32_t)body);
        bb_put_le32(b->p + at + 5, count);
        return 0;
    }
    default: return BB_EINVAL;
    }
}

int doc_encode(const json_t *v, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!v) return BB_EINVAL;
    struct buf b = {NULL, 0, 0, max};
    int rc = reserve(&b, 2);
    if (rc == 0) {
        b.p[0] = 0xBD;
        b.p[1] = 0x01;
        b.n = 2;
        rc = enc(&b, v, 0);
    }
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}

/* Size of the value at p (n bytes available); 0 if malformed. */
static size_t vsize(const uint8_t *p, size_t n)
{
    if (n < 1) return 0;
    switch (p[0]) {
    case T_NULL:
    case T_FALSE:
    case T_TRUE: return 1;
    case T_INT:
    case T_REAL: return n >= 9 ? 9 : 0;
    case T_STR:
    case T_ARR:
    case T_OBJ: {
        if (n < 5) return 0;
        uint64_t s = 5 + (uint64_t)bb_get_le32(p + 1);
        return s <= n ? (size_t)s : 0;
    }
    default: return 0;
    }
}

/* 1 if s[0..n) is plain ASCII (then it is valid UTF-8 and jansson's own check can be skipped). */
static int is_ascii(const uint8_t *s, size_t n)
{
    size_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= s[i];
    return (acc & 0x8080808080808080ull) == 0;
}

static int dec(const uint8_t *p, size_t n, int depth, json_t **out)
{
    *out = NULL;
    if (depth > DOC_MAX_DEPTH) return BB_EIO;
    size_t sz = vsize(p, n);
    if (!sz) return BB_EIO;
    json_t *v = NULL;
    switch (p[0]) {
    case T_NULL: v = json_null(); break;
    case T_FALSE: v = json_false(); break;
    case T_TRUE: v = json_true(); break;
    case T_INT: v = json_integer((json_int_t)bb_get_le64(p + 1)); break;
    case T_REAL: {
        uint64_t u = bb_get_le64(p + 1);
        double d;
        memcpy(&d, &u, 8);
        if (!isfinite(d)) return BB_EIO;
        v = json_real(d);
        break;
    }
    case T_STR:
        if (memchr(p + 5, 0, sz - 5)) return BB_EIO;
        v = is_ascii(p + 5, sz - 5) ? json_stringn_nocheck((const char *)p + 5, sz - 5)
                                    : json_stringn((const char *)p + 5, sz - 5);
        if (!v) return BB_EIO; /* invalid UTF-8 */
        break;
    case T_ARR:
    case T_OBJ: {
        if (sz < 9) return BB_EIO;
        uint32_t count = bb_get_le32(p + 5);
        size_t off = 9;
        int arr = p[0] == T_ARR;
        if (count > sz - 9) return BB_EIO; /* every element takes at least one byte */
        v = arr ? json_array() : json_object();
        if (!v) return BB_ENOMEM;
        for (uint32_t i = 0; i < count; i++) {
            const char *key = NULL;
            size_t kl = 0;
            if (!arr) {
                if (sz - off < 2) goto bad;
                kl = (size_t)p[off] | ((size_t)p[off + 1] << 8);
                off += 2;
                if (sz - off < kl || memchr(p + off, 0, kl)) goto bad;
                key = (const char *)p + off;
                off += kl;
            }
            json_t *e = NULL;
            int rc = dec(p + off, sz - off, depth + 1, &e);
            if (rc) {
                json_decref(v);
                return rc;
            }
            off += vsize(p + off, sz - off);
            rc = arr                                ? json_array_append_new(v, e)
                 : is_ascii((const uint8_t *)key, kl) ? json_object_setn_new_nocheck(v, key, kl, e)
                                                      : json_object_setn_new(v, key, kl, e);
            if (rc) goto bad; /* also invalid UTF-8 in a key */
        }
        if (off != sz) goto bad;
        /* a duplicate key replaced the earlier member: the object came out smaller */
        if (!arr && json_object_size(v) != count) goto bad;
        break;
    bad:
        json_decref(v);
        return BB_EIO;
    }
    default: return BB_EIO;
    }
    if (!v) return BB_ENOMEM;
    *out = v;
    return 0;
}

int doc_decode(const uint8_t *buf, size_t len, json_t **out)
{
    *out = NULL;
    if (!buf || len < 3 || buf[0] != 0xBD || buf[1] != 0x01) return BB_EIO;
    if (vsize(buf + 2, len - 2) != len - 2) return BB_EIO;
    return dec(buf + 2, len - 2, 0, out);
}

size_t doc_vsize(const uint8_t *p, size_t n)
{
    return vsize(p, n);
}

int doc_decode_value(const uint8_t *p, size_t n, json_t **out)
{
    *out = NULL;
    if (!p || vsize(p, n) != n) return BB_EIO;
    return dec(p, n, 0, out);
}

int doc_get_str(const uint8_t *buf, size_t len, const char *key, const char **s, size_t *slen)
{
    *s = NULL;
    *slen = 0;
    if (!buf || len < 3 || buf[0] != 0xBD || buf[1] != 0x01) return BB_EIO;
    const uint8_t *p = buf + 2;
    size_t n = vsize(p, len - 2);
    if (n != len - 2 || p[0] != T_OBJ || n < 9) return BB_EIO;
    size_t want = strlen(key);
    uint32_t count = bb_get_le32(p + 5);
    size_t off = 9;
    for (uint32_t i = 0; i < count; i++) {
        if (n - off < 2) return BB_EIO;
        size_t kl = (size_t)p[off] | ((size_t)p[off + 1] << 8);
        off += 2;
        if (n - off < kl) return BB_EIO;
        int match = kl == want && memcmp(p + off, key, kl) == 0;
        off += kl;
        size_t vs = vsize(p + off, n - off);
        if (!vs) return BB_EIO;
        if (match) {
            if (p[off] != T_STR) return BB_ENOTFOUND;
            *s = (const char *)p + off + 5;
            *slen = vs - 5;
            return 0;
        }
        off += vs;
    }
    return BB_ENOTFOUND;
}

int doc_decode_fields(const uint8_t *buf, size_t len, const char *const *names, size_t nn,
                      json_t **out)
{
    *out = NULL;
    if (!buf || len < 3 || buf[0] != 0xBD || buf[1] != 0x01) return BB_EIO;
    const uint8_t *p = buf + 2;
    size_t n = vsize(p, len - 2);
    if (n != len - 2 || p[0] != T_OBJ || n < 9) return BB_EIO;
    json_t *o = json_object();
    if (!o) return BB_ENOMEM;
    uint32_t count = bb_get_le32(p + 5);
    size_t off = 9;
    int rc = 0;
    for (uint32_t i = 0; i < count && !rc; i++) {
        if (n - off < 2) goto bad;
        size_t kl = (size_t)p[off] | ((size_t)p[off + 1] << 8);
        off += 2;
        if (n - off < kl) goto bad;
        const char *key = (const char *)p + off;
        off += kl;
        size_t vs = vsize(p + off, n - off);
        if (!vs) goto bad;
        for (size_t j = 0; j < nn; j++) {
            if (strlen(names[j]) != kl || memcmp(names[j], key, kl)) continue;
            if (json_object_get(o, names[j])) break; /* a name listed twice */
            json_t *v = NULL;
            rc = dec(p + off, vs, 0, &v);
            if (!rc && json_object_set_new(o, names[j], v)) rc = BB_ENOMEM;
            break;
        }
        off += vs;
    }
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
bad:
    json_decref(o);
    return BB_EIO;
}

int doc_get_path(const uint8_t *buf, size_t len, const char *path, json_t **out)
{
    *out = NULL;
    if (!path || !*path) return BB_EINVAL;
    if (!buf || len < 3 || buf[0] != 0xBD || buf[1] != 0x01) return BB_EIO;
    const uint8_t *p = buf + 2;
    size_t n = vsize(p, len - 2);
    if (n != len - 2) return BB_EIO;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t sl = dot ? (size_t)(dot - seg) : strlen(seg);
        if (sl == 0) return BB_EINVAL;
        if (p[0] != T_OBJ && p[0] != T_ARR) return BB_ENOTFOUND;
        if (n < 9) return BB_EIO; /* a container too short to hold its count */
        uint32_t count = bb_get_le32(p + 5);
        size_t off = 9;
        const uint8_t *hit = NULL;
        size_t hitn = 0;
        if (p[0] == T_OBJ) {
            for (uint32_t i = 0; i < count; i++) {
                if (n - off < 2) return BB_EIO;
                size_t kl = (size_t)p[off] | ((size_t)p[off + 1] << 8);
                off += 2;
                if (n - off < kl) return BB_EIO;
                int match = kl == sl && memcmp(p + off, seg, sl) == 0;
                off += kl;
                size_t vs = vsize(p + off, n - off);
                if (!vs) return BB_EIO;
                if (match) {
                    hit = p + off;
                    hitn = vs;
                    break;
                }
                off += vs;
            }
        } else {
            uint64_t idx = 0;
            for (size_t i = 0; i < sl; i++) {
                if (seg[i] < '0' || seg[i] > '9' || idx > 100000000) return BB_ENOTFOUND;
                idx = idx * 10 + (uint64_t)(seg[i] - '0');
            }
            if (idx >= count) return BB_ENOTFOUND;
            for (uint32_t i = 0;; i++) {
                size_t vs = vsize(p + off, n - off);
                if (!vs) return BB_EIO;
                if (i == idx) {
                    hit = p + off;
                    hitn = vs;
                    break;
                }
                off += vs;
            }
        }
        if (!hit) return BB_ENOTFOUND;
        if (!dot) return dec(hit, hitn, 0, out);
        p = hit;
        n = hitn;
        seg = dot + 1;
    }
}

/* ---- direct rendering to JSON text ---- */
struct sbuf {
    char *p;
    size_t n, cap;
};

static int sb_grow(struct sbuf *b, size_t more)
{
    if (b->cap - b->n >= more) return 0;
    size_t nc = b->cap ? b->cap : 1024;
    while (nc - b->n < more) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) return BB_ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}

static inline int sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->cap - b->n < n) {
        int rc = sb_grow(b, n);
        if (rc) return rc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

static inline int sb_ch(struct sbuf *b, char c)
{
    if (b->cap == b->n) {
        int rc = sb_grow(b, 1);
        if (rc) return rc;
    }
    b->p[b->n++] = c;
    return 0;
}

#if !defined(__SSE2__)
/* Index of the first byte at or after i that needs escaping ('"', '\\', < 0x20), or n. */
static size_t next_special(const uint8_t *s, size_t i, size_t n)
{
    for (; i < n; i++)
        if (s[i] < 0x20 || s[i] == '"' || s[i] == '\\') return i;
    return n;
}
#endif

/* The escape of byte c ('"', '\\' or a control character) into esc: its length. */
static size_t escape_of(uint8_t c, char esc[8])
{
    static const char hx[] = "0123456789ABCDEF";
    esc[0] = '\\';
    switch (c) {
    case '"': esc[1] = '"'; return 2;
    case '\\': esc[1] = '\\'; return 2;
    case '\b': esc[1] = 'b'; return 2;
    case '\f': esc[1] = 'f'; return 2;
    case '\n': esc[1] = 'n'; return 2;
    case '\r': esc[1] = 'r'; return 2;
    case '\t': esc[1] = 't'; return 2;
    default: /* \u%04X, as jansson */
        memcpy(esc + 1, "u00", 3);
        esc[4] = hx[c >> 4];
        esc[5] = hx[c & 15];
        return 6;
    }
}

#if defined(__SSE2__)
#define SPECIAL16(x, q, bs, ctl) \
    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)), \
                 _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl))

/* Copies the bytes of s[0..n) that need no escape to out, up to the first that does: their
 * count. out has room for n bytes (whole vectors are stored, never past n). */
static size_t plain_run_sse2(const uint8_t *s, size_t n, char *out)
{
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    size_t i = 0;
    while (n - i >= 64) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16));
        __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 32));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 48));
        __m128i m = _mm_or_si128(_mm_or_si128(SPECIAL16(x0, q, bs, ctl), SPECIAL16(x1, q, bs, ctl)),
                                 _mm_or_si128(SPECIAL16(x2, q, bs, ctl), SPECIAL16(x3, q, bs, ctl)));
        if (_mm_movemask_epi8(m)) break;
        _mm_storeu_si128((__m128i *)(void *)(out + i), x0);
        _mm_storeu_si128((__m128i *)(void *)(out + i + 16), x1);
        _mm_storeu_si128((__m128i *)(void *)(out + i + 32), x2);
        _mm_storeu_si128((__m128i *)(void *)(out + i + 48), x3);
        i += 64;
    }
    while (n - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        int mask = _mm_movemask_epi8(SPECIAL16(x, q, bs, ctl));
        _mm_storeu_si128((__m128i *)(void *)(out + i), x);
        if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
        i += 16;
    }
    while (i < n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') out[i] = (char)s[i], i++;
    return i;
}
#endif

/* (An AVX2 variant chosen at run time measured slower on the bench/bundoc scan: 1.25M vs 1.52M
 * documents per CPU second.) */
static size_t plain_run(const uint8_t *s, size_t n, char *out)
{
#if defined(__SSE2__)
    return plain_run_sse2(s, n, out);
#else
    size_t i = next_special(s, 0, n);
    memcpy(out, s, i);
    return i;
#endif
}

/* The string s[0..n) quoted and escaped. The runs that need no escape are copied while they are
 * scanned (vectors stored straight into room reserved up front), not scanned and then copied. */
static int render_str(struct sbuf *b, const uint8_t *s, size_t n)
{
    /* room for the whole string unescaped and its quotes */
    int rc = sb_grow(b, n + 2);
    if (rc) return rc;
    b->p[b->n++] = '"';
    size_t i = 0;
    for (;;) {
        size_t k = plain_run(s + i, n - i, b->p + b->n);
        b->n += k;
        i += k;
        if (i == n) break;
        char esc[8];
        size_t el = escape_of(s[i], esc);
        i++;
        /* the escape, then room again for the rest unescaped and the closing quote */
        if ((rc = sb_grow(b, el + (n - i) + 1))) return rc;
        memcpy(b->p + b->n, esc, el);
        b->n += el;
    }
    b->p[b->n++] = '"';
    return 0;
}

/* Decimal of v (no snprintf: this is on the scan path). */
static int render_int(struct sbuf *b, int64_t v)
{
    char tmp[24];
    size_t k = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--k] = '-';
    return sb_put(b, tmp + k, sizeof tmp - k);
}

static int render(struct sbuf *b, const uint8_t *p, size_t n, int depth)
{
    if (depth > DOC_MAX_DEPTH) return BB_EIO;
    size_t sz = vsize(p, n);
    if (!sz) return BB_EIO;
    char num[40];
    int k;
    switch (p[0]) {
    case T_NULL: return sb_put(b, "null", 4);
    case T_FALSE: return sb_put(b, "false", 5);
    case T_TRUE: return sb_put(b, "true", 4);
    case T_INT: return render_int(b, (int64_t)bb_get_le64(p + 1));
    case T_REAL: {
        uint64_t u = bb_get_le64(p + 1);
        double d;
        memcpy(&d, &u, 8);
        if (!isfinite(d)) return BB_EIO;
        k = snprintf(num, sizeof num, "%.17g", d);
        char *e = strchr(num, 'e');
        if (e) { /* like jansson: no '+' and no leading zeros in the exponent */
            char *q = e + 1, *w = e + 1;
            if (*q == '-') *w++ = *q++;
            else if (*q == '+') q++;
            while (*q == '0' && q[1]) q++;
            while (*q) *w++ = *q++;
            *w = '\0';
            k = (int)strlen(num);
        }
        if (!strpbrk(num, ".eE")) {
            num[k++] = '.';
            num[k++] = '0';
            num[k] = '\0';
        }
        return sb_put(b, num, (size_t)k);
    }
    case T_STR: /* a NUL (only in corrupt data) would be escaped as \u0000 */
        return render_str(b, p + 5, sz - 5);
    case T_ARR:
    case T_OBJ: {
        if (sz < 9) return BB_EIO;
        int arr = p[0] == T_ARR;
        uint32_t count = bb_get_le32(p + 5);
        if (count > sz - 9) return BB_EIO;
        size_t off = 9;
        int rc = sb_ch(b, arr ? '[' : '{');
        for (uint32_t i = 0; i < count && rc == 0; i++) {
            if (i && (rc = sb_ch(b, ','))) break;
            if (!arr) {
                if (sz - off < 2) return BB_EIO;
                size_t kl = (size_t)p[off] | ((size_t)p[off + 1] << 8);
                off += 2;
                if (sz - off < kl) return BB_EIO;
                if ((rc = render_str(b, p + off, kl))) break;
                off += kl;
                if ((rc = sb_ch(b, ':'))) break;
            }
            size_t vs = vsize(p + off, sz - off);
            if (!vs) return BB_EIO;
            rc = render(b, p + off, vs, depth + 1);
            off += vs;
        }
        if (rc) return rc;
        if (off != sz) return BB_EIO;
        return sb_ch(b, arr ? ']' : '}');
    }
    default: return BB_EIO;
    }
}

int doc_render(const uint8_t *buf, size_t len, char **out, size_t *olen, size_t *cap)
{
    if (!buf || len < 3 || buf[0] != 0xBD || buf[1] != 0x01) return BB_EIO;
    if (vsize(buf + 2, len - 2) != len - 2) return BB_EIO;
    struct sbuf b = {*out, *olen, *cap};
    size_t start = b.n;
    int rc = render(&b, buf + 2, len - 2, 0);
    if (rc) b.n = start;
    *out = b.p;
    *olen = b.n;
    *cap = b.cap;
    return rc;
}
