/* cmd_dump.c — DUMP and RESTORE with Redis 7.0's payload, so a key moves between bunder and
 * redis-server in both directions:
 *
 *   payload = <RDB type byte> <RDB-encoded value> <RDB version: 2 bytes LE (10)> <CRC64: 8 bytes LE>
 *
 * the CRC64 (Jones polynomial, reflected, as Redis' crc64.c) covering everything before it.
 * Written with the plain RDB encodings every Redis version loads: STRING (0), LIST (1), SET (2),
 * ZSET_2 (5, binary scores), HASH (4); strings as raw length-prefixed bytes, or INT8/16/32 for the
 * canonical form of a 32-bit integer (as Redis). Read: those, plus what
 * redis-server writes for small or compact values — the old ZSET (3), SET_INTSET (11), the ziplist
 * forms (LIST_ZIPLIST 10, ZSET_ZIPLIST 12, HASH_ZIPLIST 13, LIST_QUICKLIST 14), the listpack forms
 * (HASH_LISTPACK 16, ZSET_LISTPACK 17, LIST_QUICKLIST_2 18, SET_LISTPACK 20), integer-encoded and
 * LZF-compressed strings. Every length is checked against the bytes left, a decompressed string is
 * bounded by proto-max-bulk-len, duplicates and empty values are refused like Redis ("Bad data
 * format"). Streams travel as STREAM_LISTPACKS_2 (19; 15 read too), see "streams" below.
 * fuzz/bunder_dump replays a corpus of payloads through RESTORE/DUMP. The same encoder and decoder
 * write and read the values of RDB files (rdb.c, through the bndr_rdb_* functions at the end). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

#define RDB_VERSION 10
enum {
    RDB_STRING = 0, RDB_LIST = 1, RDB_SET = 2, RDB_ZSET = 3, RDB_HASH = 4, RDB_ZSET_2 = 5,
    RDB_HASH_ZIPMAP = 9, RDB_LIST_ZIPLIST = 10, RDB_SET_INTSET = 11, RDB_ZSET_ZIPLIST = 12,
    RDB_HASH_ZIPLIST = 13, RDB_LIST_QUICKLIST = 14, RDB_STREAM_LISTPACKS = 15, RDB_HASH_LISTPACK = 16,
    RDB_ZSET_LISTPACK = 17, RDB_LIST_QUICKLIST_2 = 18, RDB_STREAM_LISTPACKS_2 = 19, RDB_SET_LISTPACK = 20,
};

/* ---------------------------------------------------------------- CRC64 (Jones, as Redis) */
/* Reflected, polynomial 0xad93d23594c935a9 (0x95ac9329ac4bc9b5 reversed), no final xor; eight bytes
 * at a time through eight tables (slicing-by-8, as Redis' crcspeed). */
static uint64_t crc_table[8][256];

uint64_t bndr_crc64(uint64_t crc, const void *p, size_t l)
{
    const unsigned char *s = p;
    if (!crc_table[0][1]) {
        for (int i = 0; i < 256; i++) {
            uint64_t c = (uint64_t)i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x95ac9329ac4bc9b5ULL : c >> 1;
            crc_table[0][i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int k = 1; k < 8; k++)
                crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xff] ^ (crc_table[k - 1][i] >> 8);
    }
    while (l >= 8) {
        uint64_t w = 0;
        for (int i = 0; i < 8; i++)
            w |= (uint64_t)s[i] << (8 * i);
        crc ^= w;
        crc = crc_table[7][crc & 0xff] ^ crc_table[6][(crc >> 8) & 0xff] ^
              crc_table[5][(crc >> 16) & 0xff] ^ crc_table[4][(crc >> 24) & 0xff] ^
              crc_table[3][(crc >> 32) & 0xff] ^ crc_table[2][(crc >> 40) & 0xff] ^
              crc_table[1][(crc >> 48) & 0xff] ^ crc_table[0][crc >> 56];
        s += 8;
        l -= 8;
    }
    while (l--)
        crc = crc_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* ---------------------------------------------------------------- writer */
/* The writer appends into space reserved up front (value_bound), without a capacity check per
 * element: DUMP of a 100-field hash was twice as slow with one through bndr_buf_add. */
static void raw_add(struct bndr_buf *b, const void *p, size_t n)
{
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_len(struct bndr_buf *b, uint64_t len)
{
    unsigned char buf[9];
    if (len < (1 << 6)) {
        buf[0] = (unsigned char)len;
        raw_add(b, buf, 1);
    } else if (len < (1 << 14)) {
        buf[0] = (unsigned char)(((len >> 8) & 0xff) | 0x40);
        buf[1] = (unsigned char)(len & 0xff);
        raw_add(b, buf, 2);
    } else if (len <= UINT32_MAX) {
        buf[0] = 0x80;
        for (int i = 0; i < 4; i++)
            buf[1 + i] = (unsigned char)(len >> (24 - 8 * i));
        raw_add(b, buf, 5);
    } else {
        buf[0] = 0x81;
        for (int i = 0; i < 8; i++)
            buf[1 + i] = (unsigned char)(len >> (56 - 8 * i));
        raw_add(b, buf, 9);
    }
}

static void put_raw_str(struct bndr_buf *b, const void *p, size_t n)
{
    put_len(b, n);
    raw_add(b, p, n);
}

/* A string as Redis' rdbSaveRawString writes it without compression: one that is the canonical
 * form of an integer in 32 bits (at most 11 characters) as the INT8/16/32 encodings, else raw. */
static void put_str(struct bndr_buf *b, const void *p, size_t n)
{
    long long v;
    char canon[24];
    const char *c = p;
    if (n > 0 && n <= 11 && (c[0] == '-' || (c[0] >= '0' && c[0] <= '9')) && /* cheap reject first */
        bndr_parse_ll(p, n, &v) == 0 && v >= INT32_MIN && v <= INT32_MAX &&
        (size_t)bndr_fmt_ll(canon, v) == n && memcmp(canon, p, n) == 0) {
        unsigned char e[5];
        int w = v >= INT8_MIN && v <= INT8_MAX ? 1 : v >= INT16_MIN && v <= INT16_MAX ? 2 : 4;
        e[0] = (unsigned char)(0xc0 | (w == 1 ? 0 : w == 2 ? 1 : 2));
        for (int i = 0; i < w; i++)
            e[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        raw_add(b, e, (size_t)(1 + w));
        return;
    }
    put_raw_str(b, p, n);
}

/* Bytes write_value may append for o (every length counted at its 9-byte maximum). */
static size_t value_bound(const struct bndr_obj *o)
{
    size_t n = 1 + 9 + 10;
    switch (o->type) {
    case BNDR_STRING: return n + o->len;
    case BNDR_LIST:
        for (size_t i = 0; i < o->u.l->n; i++)
            n += 9 + BNDR_LIST_AT(o->u.l, i)->len;
        return n;
    case BNDR_SET: BNDR_DICT_FOREACH(o->u.d, e) n += 9 + e->klen; return n;
    case BNDR_HASH: BNDR_DICT_FOREACH(o->u.d, e) n += 18 + e->klen + ((struct bndr_str *)e->v.p)->len; return n;
    case BNDR_ZSET:
        for (struct bndr_zsl_node *x = o->u.z->tail; x; x = x->backward)
            n += 17 + x->elen;
        return n;
    }
    return n;
}

/* Appends o's type byte and value; -1 if it cannot be written. */
static int write_stream(struct bndr_buf *b, const struct bndr_stream *x, const char *key, size_t klen);

/* Appends o's type byte, then (for an RDB file) the key when key is not NULL, then the value. */
static int write_value(struct bndr_buf *b, const struct bndr_obj *o, const char *key, size_t klen)
{
    unsigned char t;
    if (o->type == BNDR_STREAM)
        return write_stream(b, o->u.x, key, klen);
    bndr_buf_reserve(b, value_bound(o) + (key ? 9 + klen : 0));
#define PUT_KEY() do { if (key) put_str(b, key, klen); } while (0)
    switch (o->type) {
    case BNDR_STRING:
        t = RDB_STRING;
        raw_add(b, &t, 1);
        PUT_KEY();
        put_str(b, o->s, o->len);
        return 0;
    case BNDR_LIST:
        t = RDB_LIST;
        raw_add(b, &t, 1);
        PUT_KEY();
        put_len(b, o->u.l->n);
        for (size_t i = 0; i < o->u.l->n; i++) {
            struct bndr_str *s = BNDR_LIST_AT(o->u.l, i);
            put_str(b, s->buf, s->len);
        }
        return 0;
    case BNDR_SET:
        t = RDB_SET;
        raw_add(b, &t, 1);
        PUT_KEY();
        put_len(b, o->u.d->n);
        BNDR_DICT_FOREACH(o->u.d, e) put_str(b, e->key, e->klen);
        return 0;
    case BNDR_HASH:
        t = RDB_HASH;
        raw_add(b, &t, 1);
        PUT_KEY();
        put_len(b, o->u.d->n);
        BNDR_DICT_FOREACH(o->u.d, e)
        {
            struct bndr_str *v = e->v.p;
            put_str(b, e->key, e->klen);
            put_str(b, v->buf, v->len);
        }
        return 0;
    case BNDR_ZSET: {
        t = RDB_ZSET_2;
        raw_add(b, &t, 1);
        PUT_KEY();
        put_len(b, o->u.z->length);
        /* Redis writes from the tail so that loading appends in order */
        for (struct bndr_zsl_node *x = o->u.z->tail; x; x = x->backward) {
            put_str(b, x->ele, x->elen);
            unsigned char d[8];
            uint64_t bits;
            memcpy(&bits, &x->score, 8);
            for (int i = 0; i < 8; i++)
                d[i] = (unsigned char)(bits >> (8 * i));
            raw_add(b, d, 8);
        }
        return 0;
    }
    }
#undef PUT_KEY
    return -1;
}

/* ---------------------------------------------------------------- reader */

static int rd_bytes(struct bndr_rdb_rd *r, size_t n, const unsigned char **out)
{
    if (n > r->n - r->off)
        return -1;
    *out = r->p + r->off;
    r->off += n;
    return 0;
}

/* RDB length; *enc set (with the encoding in *len) for the 11xxxxxx special forms */
static int rd_len(struct bndr_rdb_rd *r, uint64_t *len, int *enc)
{
    const unsigned char *b;
    if (enc)
        *enc = 0;
    if (rd_bytes(r, 1, &b) < 0)
        return -1;
    int type = (b[0] & 0xc0) >> 6;
    if (type == 3) {
        if (!enc)
            return -1;
        *enc = 1;
        *len = b[0] & 0x3f;
        return 0;
    }
    if (type == 0) {
        *len = b[0] & 0x3f;
        return 0;
    }
    if (type == 1) {
        const unsigned char *c;
        if (rd_bytes(r, 1, &c) < 0)
            return -1;
        *len = ((uint64_t)(b[0] & 0x3f) << 8) | c[0];
        return 0;
    }
    const unsigned char *c;
    if (b[0] == 0x80) {
        if (rd_bytes(r, 4, &c) < 0)
            return -1;
        *len = ((uint64_t)c[0] << 24) | ((uint64_t)c[1] << 16) | ((uint64_t)c[2] << 8) | c[3];
        return 0;
    }
    if (b[0] == 0x81) {
        if (rd_bytes(r, 8, &c) < 0)
            return -1;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = (v << 8) | c[i];
        *len = v;
        return 0;
    }
    return -1;
}

/* Redis' lzf_decompress (liblzf): 0 on a malformed input or an output that would not fit. */
static size_t lzf_dec(const unsigned char *in, size_t in_len, unsigned char *out, size_t out_len)
{
    const unsigned char *ip = in, *in_end = in + in_len;
    unsigned char *op = out, *out_end = out + out_len;
    while (ip < in_end) {
        unsigned int ctrl = *ip++;
        if (ctrl < (1 << 5)) { /* literal run */
            ctrl++;
            if ((size_t)(out_end - op) < ctrl || (size_t)(in_end - ip) < ctrl)
                return 0;
            memcpy(op, ip, ctrl);
            op += ctrl;
            ip += ctrl;
        } else { /* back reference */
            unsigned int len = ctrl >> 5;
            unsigned char *ref = op - ((ctrl & 0x1f) << 8) - 1;
            if (ip >= in_end)
                return 0;
            if (len == 7) {
                len += *ip++;
                if (ip >= in_end)
                    return 0;
            }
            ref -= *ip++;
            len += 2;
            if ((size_t)(out_end - op) < len || ref < out)
                return 0;
            for (unsigned int i = 0; i < len; i++)
                *op++ = *ref++;
        }
    }
    return (size_t)(op - out);
}

/* A string: *owned is a bndr_malloc'ed copy when the bytes were decoded (ints, LZF), else
 * *s points into the payload. */
static int rd_str(struct bndr_rdb_rd *r, const char **s, size_t *n, char **owned, char *ibuf)
{
    uint64_t len;
    int enc;
    *owned = NULL;
    if (rd_len(r, &len, &enc) < 0)
        return -1;
    if (enc) {
        const unsigned char *b;
        long long v;
        if (len == 0) {
            if (rd_bytes(r, 1, &b) < 0)
                return -1;
            v = (int8_t)b[0];
        } else if (len == 1) {
            if (rd_bytes(r, 2, &b) < 0)
                return -1;
            v = (int16_t)(b[0] | (b[1] << 8));
        } else if (len == 2) {
            if (rd_bytes(r, 4, &b) < 0)
                return -1;
            v = (int32_t)((uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                          ((uint32_t)b[3] << 24));
        } else if (len == 3) {
            uint64_t clen, ulen;
            if (rd_len(r, &clen, NULL) < 0 || rd_len(r, &ulen, NULL) < 0)
                return -1;
            if (ulen == 0 || ulen > r->max_str || rd_bytes(r, (size_t)clen, &b) < 0)
                return -1;
            char *out = bndr_malloc((size_t)ulen + 1);
            if (lzf_dec(b, (size_t)clen, (unsigned char *)out, (size_t)ulen) != ulen) {
                bndr_free(out);
                return -1;
            }
            out[ulen] = 0;
            *owned = out;
            *s = out;
            *n = (size_t)ulen;
            return 0;
        } else {
            return -1;
        }
        *n = (size_t)bndr_fmt_ll(ibuf, v);
        *s = ibuf;
        return 0;
    }
    const unsigned char *b;
    if (rd_bytes(r, (size_t)len, &b) < 0 || len > r->max_str)
        return -1;
    *s = (const char *)b;
    *n = (size_t)len;
    return 0;
}

/* ---- ziplist / listpack / intset iterators: each entry as bytes or an integer */
struct entry {
    const char *s;
    size_t n;
    char ibuf[24];
};

static int lp_next(const unsigned char *lp, size_t lpn, size_t *pos, struct entry *e)
{
    size_t p = *pos;
    if (p >= lpn)
        return -1;
    unsigned char b = lp[p];
    if (b == 0xff)
        return 1;
    size_t hdr, dlen;
    long long v = 0;
    int isint = 1;
    size_t avail = lpn - p;
#define NEED(k) do { if (avail < (k)) return -1; } while (0)
    if ((b & 0x80) == 0) {
        hdr = 1; dlen = 0; v = b & 0x7f;
    } else if ((b & 0xc0) == 0x80) {
        hdr = 1; dlen = b & 0x3f; isint = 0;
    } else if ((b & 0xe0) == 0xc0) {
        NEED(2);
        hdr = 2; dlen = 0;
        v = ((b & 0x1f) << 8) | lp[p + 1];
        if (v >= 1 << 12)
            v -= 1 << 13;
    } else if ((b & 0xf0) == 0xe0) {
        NEED(2);
        hdr = 2; dlen = ((size_t)(b & 0x0f) << 8) | lp[p + 1]; isint = 0;
    } else if (b == 0xf0) {
        NEED(5);
        hdr = 5; isint = 0;
        dlen = (size_t)lp[p + 1] | ((size_t)lp[p + 2] << 8) | ((size_t)lp[p + 3] << 16) | ((size_t)lp[p + 4] << 24);
    } else if (b >= 0xf1 && b <= 0xf4) {
        int nb = b == 0xf1 ? 2 : b == 0xf2 ? 3 : b == 0xf3 ? 4 : 8;
        NEED((size_t)nb + 1);
        uint64_t u = 0;
        for (int i = 0; i < nb; i++)
            u |= (uint64_t)lp[p + 1 + i] << (8 * i);
        if (nb < 8 && (u >> (nb * 8 - 1)) & 1)
            u |= ~0ULL << (nb * 8); /* sign-extend */
        v = (long long)u;
        hdr = 1 + (size_t)nb; dlen = 0;
    } else {
        return -1;
    }
    size_t l = hdr + dlen;
    if (dlen > avail || l > avail)
        return -1;
    size_t bl = l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
    if (bl > avail - l)
        return -1;
    if (isint) {
        e->n = (size_t)bndr_fmt_ll(e->ibuf, v);
        e->s = e->ibuf;
    } else {
        e->s = (const char *)lp + p + hdr;
        e->n = dlen;
    }
    *pos = p + l + bl;
    return 0;
#undef NEED
}

static int lp_start(const unsigned char *lp, size_t lpn, size_t *pos)
{
    if (lpn < 7)
        return -1;
    uint32_t total = (uint32_t)lp[0] | ((uint32_t)lp[1] << 8) | ((uint32_t)lp[2] << 16) | ((uint32_t)lp[3] << 24);
    if (total != lpn || lp[lpn - 1] != 0xff)
        return -1;
    *pos = 6;
    return 0;
}

static int zl_next(const unsigned char *zl, size_t zln, size_t *pos, struct entry *e)
{
    size_t p = *pos;
    if (p >= zln)
        return -1;
    if (zl[p] == 0xff)
        return 1;
    size_t avail = zln - p;
    size_t prevlen = zl[p] == 0xfe ? 5 : 1;
    if (avail < prevlen + 1)
        return -1;
    p += prevlen;
    avail -= prevlen;
    unsigned char b = zl[p];
    size_t hdr, dlen = 0;
    int isint = 0;
    long long v = 0;
    switch (b >> 6) {
    case 0: hdr = 1; dlen = b & 0x3f; break;
    case 1:
        if (avail < 2) return -1;
        hdr = 2; dlen = ((size_t)(b & 0x3f) << 8) | zl[p + 1];
        break;
    case 2:
        if (avail < 5) return -1;
        hdr = 5;
        dlen = ((size_t)zl[p + 1] << 24) | ((size_t)zl[p + 2] << 16) | ((size_t)zl[p + 3] << 8) | zl[p + 4];
        break;
    default: {
        int nb;
        isint = 1;
        if (b == 0xc0) nb = 2;
        else if (b == 0xd0) nb = 4;
        else if (b == 0xe0) nb = 8;
        else if (b == 0xf0) nb = 3;
        else if (b == 0xfe) nb = 1;
        else if (b >= 0xf1 && b <= 0xfd) { nb = 0; v = (b & 0x0f) - 1; }
        else return -1;
        if (avail < (size_t)nb + 1)
            return -1;
        if (nb) {
            uint64_t u = 0;
            for (int i = 0; i < nb; i++)
                u |= (uint64_t)zl[p + 1 + i] << (8 * i);
            if (nb < 8 && (u >> (nb * 8 - 1)) & 1)
                u |= ~0ULL << (nb * 8);
            v = (long long)u;
        }
        hdr = 1 + (size_t)nb;
    }
    }
    if (hdr > avail || dlen > avail - hdr)
        return -1;
    if (isint) {
        e->n = (size_t)bndr_fmt_ll(e->ibuf, v);
        e->s = e->ibuf;
    } else {
        e->s = (const char *)zl + p + hdr;
        e->n = dlen;
    }
    *pos = p + hdr + dlen;
    return 0;
}

static int zl_start(const unsigned char *zl, size_t zln, size_t *pos)
{
    if (zln < 11)
        return -1;
    uint32_t total = (uint32_t)zl[0] | ((uint32_t)zl[1] << 8) | ((uint32_t)zl[2] << 16) | ((uint32_t)zl[3] << 24);
    if (total != zln || zl[zln - 1] != 0xff)
        return -1;
    *pos = 10;
    return 0;
}

/* Iterates a ziplist (zl=1) or listpack blob, calling fn for each entry; -1 if malformed. */
static int blob_each(const unsigned char *b, size_t n, int zl, int (*fn)(void *, struct entry *), void *arg)
{
    size_t pos;
    if ((zl ? zl_start(b, n, &pos) : lp_start(b, n, &pos)) < 0)
        return -1;
    for (;;) {
        struct entry e;
        int rc = zl ? zl_next(b, n, &pos, &e) : lp_next(b, n, &pos, &e);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return pos == n - 1 ? 0 : -1;
        if (fn(arg, &e) < 0)
            return -1;
    }
}

/* ---- building values */
struct build {
    struct bndr_obj *o;
    struct entry pend; /* field or member waiting for its value / score */
    char *pend_copy;
    int have;
};

static int push_list(void *arg, struct entry *e)
{
    struct build *b = arg;
    bndr_list_push(b->o->u.l, bndr_str_new(e->s, e->n), 0);
    return 0;
}

static int add_set(void *arg, struct entry *e)
{
    struct build *b = arg;
    int created;
    bndr_dict_upsert(b->o->u.d, e->s, e->n, &created);
    return created ? 0 : -1;
}

static int parse_score(const char *s, size_t n, double *d)
{
    return bndr_parse_double(s, n, d);
}

/* pairs: field/value (hash) or member/score (zset) */
static int add_pair(void *arg, struct entry *e)
{
    struct build *b = arg;
    if (!b->have) {
        b->pend_copy = bndr_memdup(e->s, e->n);
        b->pend.s = b->pend_copy;
        b->pend.n = e->n;
        b->have = 1;
        return 0;
    }
    b->have = 0;
    int rc = 0;
    if (b->o->type == BNDR_HASH) {
        int created;
        struct bndr_de *d = bndr_dict_upsert(b->o->u.d, b->pend.s, b->pend.n, &created);
        if (created)
            d->v.p = bndr_str_new(e->s, e->n);
        else
            rc = -1;
    } else {
        double score;
        if (parse_score(e->s, e->n, &score) < 0 || bndr_dict_find(&b->o->u.z->dict, b->pend.s, b->pend.n))
            rc = -1;
        else
            bndr_zset_set(b->o->u.z, b->pend.s, b->pend.n, score);
    }
    bndr_free(b->pend_copy);
    b->pend_copy = NULL;
    return rc;
}

static size_t obj_size(const struct bndr_obj *o)
{
    switch (o->type) {
    case BNDR_LIST: return o->u.l->n;
    case BNDR_SET:
    case BNDR_HASH: return o->u.d->n;
    case BNDR_ZSET: return o->u.z->length;
    }
    return 1;
}

#define STR_OR_FAIL(r, s, n, own, ib) \
    do { if (rd_str(r, &(s), &(n), &(own), ib) < 0) goto fail; } while (0)

static struct bndr_obj *read_stream(int t, struct bndr_rdb_rd *r);

/* Reads a value of RDB type t; NULL if malformed. */
static struct bndr_obj *read_value(int t, struct bndr_rdb_rd *r)
{
    struct build b = {0};
    const char *s;
    size_t n;
    char *own = NULL, ib[24];
    uint64_t len;
    switch (t) {
    case RDB_STRING:
        STR_OR_FAIL(r, s, n, own, ib);
        b.o = bndr_obj_string(s, n);
        bndr_free(own);
        return b.o;
    case RDB_LIST:
    case RDB_SET:
    case RDB_ZSET:
    case RDB_ZSET_2:
    case RDB_HASH: {
        if (rd_len(r, &len, NULL) < 0 || len == 0 || len > r->n - r->off)
            return NULL;
        b.o = bndr_obj_new(t == RDB_LIST ? BNDR_LIST : t == RDB_SET ? BNDR_SET : t == RDB_HASH ? BNDR_HASH : BNDR_ZSET);
        for (uint64_t i = 0; i < len; i++) {
            STR_OR_FAIL(r, s, n, own, ib);
            struct entry e = {.s = s, .n = n};
            if (t == RDB_LIST) {
                push_list(&b, &e);
            } else if (t == RDB_SET) {
                if (add_set(&b, &e) < 0)
                    goto fail;
            } else if (t == RDB_HASH) {
                char *vown = NULL, vib[24];
                const char *vs;
                size_t vn;
                if (rd_str(r, &vs, &vn, &vown, vib) < 0)
                    goto fail;
                int created;
                struct bndr_de *d = bndr_dict_upsert(b.o->u.d, s, n, &created);
                if (created)
                    d->v.p = bndr_str_new(vs, vn);
                bndr_free(vown);
                if (!created)
                    goto fail;
            } else {
                double score;
                const unsigned char *db;
                if (t == RDB_ZSET_2) {
                    if (rd_bytes(r, 8, &db) < 0)
                        goto fail;
                    uint64_t bits = 0;
                    for (int k = 0; k < 8; k++)
                        bits |= (uint64_t)db[k] << (8 * k);
                    memcpy(&score, &bits, 8);
                } else {
                    if (rd_bytes(r, 1, &db) < 0)
                        goto fail;
                    if (db[0] == 253)
                        score = NAN;
                    else if (db[0] == 254)
                        score = INFINITY;
                    else if (db[0] == 255)
                        score = -INFINITY;
                    else {
                        const unsigned char *num;
                        char buf[256];
                        if (rd_bytes(r, db[0], &num) < 0)
                            goto fail;
                        memcpy(buf, num, db[0]);
                        buf[db[0]] = 0;
                        char *end;
                        score = strtod(buf, &end);
                        if (*end)
                            goto fail;
                    }
                }
                if (isnan(score) || bndr_dict_find(&b.o->u.z->dict, s, n))
                    goto fail;
                bndr_zset_set(b.o->u.z, s, n, score);
            }
            bndr_free(own);
            own = NULL;
        }
        return b.o;
    }
    case RDB_SET_INTSET: {
        STR_OR_FAIL(r, s, n, own, ib);
        const unsigned char *p = (const unsigned char *)s;
        if (n < 8)
            goto fail;
        uint32_t enc = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        uint32_t cnt = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24);
        if ((enc != 2 && enc != 4 && enc != 8) || cnt == 0 || (uint64_t)cnt * enc != n - 8)
            goto fail;
        b.o = bndr_obj_new(BNDR_SET);
        for (uint32_t i = 0; i < cnt; i++) {
            uint64_t u = 0;
            for (uint32_t k = 0; k < enc; k++)
                u |= (uint64_t)p[8 + i * enc + k] << (8 * k);
            if (enc < 8 && (u >> (enc * 8 - 1)) & 1)
                u |= ~0ULL << (enc * 8);
            struct entry e;
            e.n = (size_t)bndr_fmt_ll(e.ibuf, (long long)u);
            e.s = e.ibuf;
            if (add_set(&b, &e) < 0)
                goto fail;
        }
        bndr_free(own);
        return b.o;
    }
    case RDB_LIST_ZIPLIST:
    case RDB_ZSET_ZIPLIST:
    case RDB_HASH_ZIPLIST:
    case RDB_HASH_LISTPACK:
    case RDB_ZSET_LISTPACK:
    case RDB_SET_LISTPACK: {
        STR_OR_FAIL(r, s, n, own, ib);
        int zl = t == RDB_LIST_ZIPLIST || t == RDB_ZSET_ZIPLIST || t == RDB_HASH_ZIPLIST;
        int type = t == RDB_LIST_ZIPLIST ? BNDR_LIST
                   : (t == RDB_ZSET_ZIPLIST || t == RDB_ZSET_LISTPACK) ? BNDR_ZSET
                   : t == RDB_SET_LISTPACK ? BNDR_SET : BNDR_HASH;
        b.o = bndr_obj_new(type);
        int (*fn)(void *, struct entry *) = type == BNDR_LIST ? push_list : type == BNDR_SET ? add_set : add_pair;
        if (blob_each((const unsigned char *)s, n, zl, fn, &b) < 0 || b.have)
            goto fail;
        bndr_free(own);
        own = NULL;
        if (obj_size(b.o) == 0)
            goto fail;
        return b.o;
    }
    case RDB_STREAM_LISTPACKS:
    case RDB_STREAM_LISTPACKS_2:
        return read_stream(t, r);
    case RDB_LIST_QUICKLIST:
    case RDB_LIST_QUICKLIST_2: {
        if (rd_len(r, &len, NULL) < 0 || len == 0 || len > r->n - r->off)
            return NULL;
        b.o = bndr_obj_new(BNDR_LIST);
        for (uint64_t i = 0; i < len; i++) {
            uint64_t container = 2;
            if (t == RDB_LIST_QUICKLIST_2 && (rd_len(r, &container, NULL) < 0 || (container != 1 && container != 2)))
                goto fail;
            STR_OR_FAIL(r, s, n, own, ib);
            if (container == 1) {
                struct entry e = {.s = s, .n = n};
                push_list(&b, &e);
            } else if (blob_each((const unsigned char *)s, n, t == RDB_LIST_QUICKLIST, push_list, &b) < 0) {
                goto fail;
            }
            bndr_free(own);
            own = NULL;
        }
        if (b.o->u.l->n == 0)
            goto fail;
        return b.o;
    }
    }
    return NULL;
fail:
    bndr_free(own);
    bndr_free(b.pend_copy);
    if (b.o)
        bndr_obj_free(b.o);
    return NULL;
}


/* ---------------------------------------------------------------- streams */
/* A stream travels as Redis 7.0's RDB_TYPE_STREAM_LISTPACKS_2: its nodes as listpacks in Redis'
 * stream layout (master entry: count, deleted, fields, 0; per entry: flags, ms and seq deltas to
 * the master id, [field count, fields] unless SAMEFIELDS, values, lp-count), then length, last,
 * first and max-deleted ids, entries-added, and the consumer groups with their PELs and
 * consumers. Both directions go through bunder's own stream snapshot payload (cmd_stream.c's
 * bndr_stream_dump/restore format), which restore validates. */
#define SF_DELETED 1
#define SF_SAMEFIELDS 2

/* a reader of the snapshot payload (little-endian) */
struct snap {
    const unsigned char *p;
    size_t n, off;
    int err;
};
static const unsigned char *snap_take(struct snap *r, size_t n)
{
    if (r->err || r->n - r->off < n) {
        r->err = 1;
        return NULL;
    }
    r->off += n;
    return r->p + r->off - n;
}
static uint64_t snap_u(struct snap *r, int n)
{
    const unsigned char *q = snap_take(r, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; q && i < n; i++)
        v |= (uint64_t)q[i] << (8 * i);
    return v;
}

static void buf_u(struct bndr_buf *b, uint64_t v, int n)
{
    unsigned char x[8];
    for (int i = 0; i < n; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    bndr_buf_add(b, x, (size_t)n);
}

/* listpack element writers (Redis' encodings; backlen as lpEncodeBacklen) */
static void lp_backlen(struct bndr_buf *b, size_t l)
{
    unsigned char x[5];
    int n;
    if (l <= 127) {
        x[0] = (unsigned char)l;
        n = 1;
    } else if (l < 16383) {
        x[0] = (unsigned char)(l >> 7);
        x[1] = (unsigned char)((l & 127) | 128);
        n = 2;
    } else if (l < 2097151) {
        x[0] = (unsigned char)(l >> 14);
        x[1] = (unsigned char)(((l >> 7) & 127) | 128);
        x[2] = (unsigned char)((l & 127) | 128);
        n = 3;
    } else if (l < 268435455) {
        x[0] = (unsigned char)(l >> 21);
        x[1] = (unsigned char)(((l >> 14) & 127) | 128);
        x[2] = (unsigned char)(((l >> 7) & 127) | 128);
        x[3] = (unsigned char)((l & 127) | 128);
        n = 4;
    } else {
        x[0] = (unsigned char)(l >> 28);
        x[1] = (unsigned char)(((l >> 21) & 127) | 128);
        x[2] = (unsigned char)(((l >> 14) & 127) | 128);
        x[3] = (unsigned char)(((l >> 7) & 127) | 128);
        x[4] = (unsigned char)((l & 127) | 128);
        n = 5;
    }
    bndr_buf_add(b, x, (size_t)n);
}

static void lp_int(struct bndr_buf *b, int64_t v)
{
    unsigned char x[9];
    size_t n;
    if (v >= 0 && v <= 127) {
        x[0] = (unsigned char)v;
        n = 1;
    } else if (v >= -4096 && v <= 4095) {
        uint64_t u = (uint64_t)v & 0x1fff;
        x[0] = (unsigned char)(0xc0 | (u >> 8));
        x[1] = (unsigned char)(u & 0xff);
        n = 2;
    } else {
        int nb = (v >= -32768 && v <= 32767) ? 2 : (v >= -8388608 && v <= 8388607) ? 3
                 : (v >= INT32_MIN && v <= INT32_MAX) ? 4 : 8;
        x[0] = nb == 2 ? 0xf1 : nb == 3 ? 0xf2 : nb == 4 ? 0xf3 : 0xf4;
        for (int i = 0; i < nb; i++)
            x[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        n = 1 + (size_t)nb;
    }
    bndr_buf_add(b, x, n);
    lp_backlen(b, n);
}

static void lp_strel(struct bndr_buf *b, const void *p, size_t len)
{
    unsigned char x[5];
    size_t h;
    if (len < 64) {
        x[0] = (unsigned char)(0x80 | len);
        h = 1;
    } else if (len < 4096) {
        x[0] = (unsigned char)(0xe0 | (len >> 8));
        x[1] = (unsigned char)(len & 0xff);
        h = 2;
    } else {
        x[0] = 0xf0;
        for (int i = 0; i < 4; i++)
            x[1 + i] = (unsigned char)(len >> (8 * i));
        h = 5;
    }
    bndr_buf_add(b, x, h);
    bndr_buf_add(b, p, len);
    lp_backlen(b, h + len);
}

/* i-th element (u32 len, bytes) of an entry's packed fields/values */
static const unsigned char *elem_at(const unsigned char *blob, uint32_t i, uint32_t *len)
{
    const unsigned char *q = blob;
    for (;;) {
        uint32_t l = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
        if (i-- == 0) {
            *len = l;
            return q + 4;
        }
        q += 4 + l;
    }
}

struct sent { /* one entry of the snapshot, borrowed */
    uint64_t ms, seq;
    int deleted;
    uint32_t nf;
    const unsigned char *blob;
};

/* Reads the snapshot entries of one node and writes its listpack; -1 if malformed. */
static int write_node(struct snap *r, uint32_t ne, uint64_t mms, uint64_t mseq, struct bndr_buf *lp)
{
    struct sent *e = bndr_malloc((size_t)ne * sizeof(*e));
    uint32_t live = 0, dead = 0;
    for (uint32_t i = 0; i < ne && !r->err; i++) {
        e[i].ms = snap_u(r, 8);
        e[i].seq = snap_u(r, 8);
        const unsigned char *d = snap_take(r, 1);
        e[i].nf = (uint32_t)snap_u(r, 4);
        e[i].deleted = d && *d;
        e[i].blob = r->p + r->off;
        for (uint32_t k = 0; k < 2 * e[i].nf && !r->err; k++)
            snap_take(r, (size_t)snap_u(r, 4));
        if (e[i].deleted)
            dead++;
        else
            live++;
    }
    if (r->err || ne == 0) {
        bndr_free(e);
        return -1;
    }
    lp->len = 0;
    bndr_buf_add(lp, "\0\0\0\0\0\0", 6);
    lp_int(lp, live);
    lp_int(lp, dead);
    lp_int(lp, e[0].nf);
    for (uint32_t k = 0; k < e[0].nf; k++) {
        uint32_t l;
        const unsigned char *q = elem_at(e[0].blob, 2 * k, &l);
        lp_strel(lp, q, l);
    }
    lp_int(lp, 0);
    size_t count = 4 + e[0].nf;
    for (uint32_t i = 0; i < ne; i++) {
        int same = e[i].nf == e[0].nf;
        for (uint32_t k = 0; same && k < e[i].nf; k++) {
            uint32_t l1, l2;
            const unsigned char *a = elem_at(e[i].blob, 2 * k, &l1), *b = elem_at(e[0].blob, 2 * k, &l2);
            same = l1 == l2 && !memcmp(a, b, l1);
        }
        lp_int(lp, (e[i].deleted ? SF_DELETED : 0) | (same ? SF_SAMEFIELDS : 0));
        lp_int(lp, (int64_t)(e[i].ms - mms));
        lp_int(lp, (int64_t)(e[i].seq - mseq));
        if (!same)
            lp_int(lp, e[i].nf);
        for (uint32_t k = 0; k < e[i].nf; k++) {
            uint32_t l;
            const unsigned char *q;
            if (!same) {
                q = elem_at(e[i].blob, 2 * k, &l);
                lp_strel(lp, q, l);
            }
            q = elem_at(e[i].blob, 2 * k + 1, &l);
            lp_strel(lp, q, l);
        }
        lp_int(lp, (int64_t)e[i].nf + 3 + (same ? 0 : e[i].nf + 1));
        count += 4 + (same ? 0 : 1 + e[i].nf) + e[i].nf;
    }
    bndr_free(e);
    bndr_buf_add(lp, "\xff", 1);
    uint32_t total = (uint32_t)lp->len;
    for (int i = 0; i < 4; i++)
        lp->p[i] = (char)(total >> (8 * i));
    uint16_t cnt = count < 65535 ? (uint16_t)count : 65535;
    lp->p[4] = (char)(cnt & 0xff);
    lp->p[5] = (char)(cnt >> 8);
    return 0;
}

static void out_len(struct bndr_buf *b, uint64_t v)
{
    bndr_buf_reserve(b, 9);
    put_len(b, v);
}
static void out_str(struct bndr_buf *b, const void *p, size_t n)
{
    bndr_buf_reserve(b, 9 + n);
    put_raw_str(b, p, n);
}
static void out_id(struct bndr_buf *b, uint64_t ms, uint64_t seq) /* 128-bit big-endian */
{
    unsigned char k[16];
    for (int i = 0; i < 8; i++) {
        k[i] = (unsigned char)(ms >> (56 - 8 * i));
        k[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
    }
    bndr_buf_add(b, k, 16);
}

static int write_stream(struct bndr_buf *b, const struct bndr_stream *x, const char *key, size_t klen)
{
    struct bndr_buf sp = {0}, lp = {0};
    bndr_stream_dump(x, &sp);
    struct snap r = {(const unsigned char *)sp.p, sp.len, 0, 0};
    uint64_t last_ms = snap_u(&r, 8), last_seq = snap_u(&r, 8), first_ms = snap_u(&r, 8),
             first_seq = snap_u(&r, 8), md_ms = snap_u(&r, 8), md_seq = snap_u(&r, 8),
             added = snap_u(&r, 8), length = snap_u(&r, 8), nn = snap_u(&r, 8);
    unsigned char t = RDB_STREAM_LISTPACKS_2;
    bndr_buf_add(b, &t, 1);
    if (key) {
        bndr_buf_reserve(b, 9 + klen);
        put_str(b, key, klen);
    }
    out_len(b, nn);
    for (uint64_t i = 0; i < nn && !r.err; i++) {
        uint64_t mms = snap_u(&r, 8), mseq = snap_u(&r, 8);
        uint32_t ne = (uint32_t)snap_u(&r, 4);
        if (r.err || write_node(&r, ne, mms, mseq, &lp) < 0)
            break;
        unsigned char key[16];
        for (int k = 0; k < 8; k++) {
            key[k] = (unsigned char)(mms >> (56 - 8 * k));
            key[8 + k] = (unsigned char)(mseq >> (56 - 8 * k));
        }
        out_str(b, key, 16);
        out_str(b, lp.p, lp.len);
    }
    out_len(b, length);
    out_len(b, last_ms);
    out_len(b, last_seq);
    out_len(b, first_ms);
    out_len(b, first_seq);
    out_len(b, md_ms);
    out_len(b, md_seq);
    out_len(b, added);
    uint64_t ng = snap_u(&r, 8);
    out_len(b, ng);
    for (uint64_t g = 0; g < ng && !r.err; g++) {
        uint32_t nl = (uint32_t)snap_u(&r, 4);
        const unsigned char *name = snap_take(&r, nl);
        uint64_t gms = snap_u(&r, 8), gseq = snap_u(&r, 8), er = snap_u(&r, 8), nc = snap_u(&r, 8);
        if (r.err || nc > r.n)
            break;
        out_str(b, name, nl);
        out_len(b, gms);
        out_len(b, gseq);
        out_len(b, er);
        struct snap cons = r; /* consumers come first in the snapshot, the PEL after them */
        for (uint64_t k = 0; k < nc && !r.err; k++) {
            snap_take(&r, (size_t)snap_u(&r, 4));
            snap_u(&r, 8);
        }
        uint64_t np = snap_u(&r, 8);
        if (r.err || np > r.n)
            break;
        struct snap pel = r;
        out_len(b, np);
        for (uint64_t i = 0; i < np && !r.err; i++) {
            uint64_t ms = snap_u(&r, 8), seq = snap_u(&r, 8), dt = snap_u(&r, 8), dc = snap_u(&r, 8);
            snap_u(&r, 8);
            out_id(b, ms, seq);
            buf_u(b, dt, 8);
            out_len(b, dc);
        }
        out_len(b, nc);
        for (uint64_t k = 0; k < nc && !cons.err; k++) {
            uint32_t cl = (uint32_t)snap_u(&cons, 4);
            const unsigned char *cn = snap_take(&cons, cl);
            uint64_t seen = snap_u(&cons, 8);
            if (cons.err)
                break;
            out_str(b, cn, cl);
            buf_u(b, seen, 8);
            uint64_t mine = 0;
            struct snap q = pel;
            for (uint64_t i = 0; i < np; i++) {
                q.off += 32;
                mine += snap_u(&q, 8) == k;
            }
            out_len(b, mine);
            q = pel;
            for (uint64_t i = 0; i < np; i++) {
                uint64_t ms = snap_u(&q, 8), seq = snap_u(&q, 8);
                q.off += 16;
                if (snap_u(&q, 8) == k)
                    out_id(b, ms, seq);
            }
        }
    }
    int err = r.err;
    bndr_free(sp.p);
    bndr_free(lp.p);
    return err ? -1 : 0;
}

/* ---- reading Redis' stream encoding into the snapshot payload */
static int lp_int_at(const unsigned char *lp, size_t n, size_t *pos, int64_t *v)
{
    struct entry e;
    long long x;
    if (lp_next(lp, n, pos, &e) != 0 || bndr_parse_ll(e.s, e.n, &x) < 0)
        return -1;
    *v = x;
    return 0;
}

/* One node: the listpack of master id (mms, mseq) appended to sp as snapshot entries. */
static int read_node(const unsigned char *lp, size_t n, uint64_t mms, uint64_t mseq, struct bndr_buf *sp,
                     uint64_t *length, uint64_t *lastms, uint64_t *lastseq, int *any)
{
    size_t pos;
    int64_t live, dead, mf, zero;
    if (lp_start(lp, n, &pos) < 0 || lp_int_at(lp, n, &pos, &live) < 0 || lp_int_at(lp, n, &pos, &dead) < 0 ||
        lp_int_at(lp, n, &pos, &mf) < 0 || mf <= 0 || (uint64_t)mf > n)
        return -1;
    size_t fields_at = pos; /* master field names */
    for (int64_t k = 0; k < mf; k++) {
        struct entry e;
        if (lp_next(lp, n, &pos, &e) != 0)
            return -1;
    }
    if (lp_int_at(lp, n, &pos, &zero) < 0 || zero != 0)
        return -1;
    size_t count_at = sp->len;
    buf_u(sp, mms, 8);
    buf_u(sp, mseq, 8);
    buf_u(sp, 0, 4); /* entries, patched below */
    uint32_t ne = 0;
    int64_t seen_live = 0, seen_dead = 0;
    while (pos < n && lp[pos] != 0xff) {
        int64_t flags, dms, dseq, nf, lpcount;
        if (lp_int_at(lp, n, &pos, &flags) < 0 || lp_int_at(lp, n, &pos, &dms) < 0 ||
            lp_int_at(lp, n, &pos, &dseq) < 0 || flags < 0 || flags > 3)
            return -1;
        int same = (flags & SF_SAMEFIELDS) != 0;
        if (same)
            nf = mf;
        else if (lp_int_at(lp, n, &pos, &nf) < 0 || nf <= 0 || (uint64_t)nf > n)
            return -1;
        uint64_t ms = mms + (uint64_t)dms, seq = mseq + (uint64_t)dseq;
        buf_u(sp, ms, 8);
        buf_u(sp, seq, 8);
        unsigned char del = (flags & SF_DELETED) ? 1 : 0;
        bndr_buf_add(sp, &del, 1);
        buf_u(sp, (uint64_t)nf, 4);
        size_t fpos = fields_at;
        for (int64_t k = 0; k < nf; k++) {
            struct entry f, v;
            if (same ? lp_next(lp, n, &fpos, &f) != 0 : lp_next(lp, n, &pos, &f) != 0)
                return -1;
            buf_u(sp, f.n, 4);
            bndr_buf_add(sp, f.s, f.n);
            if (lp_next(lp, n, &pos, &v) != 0)
                return -1;
            buf_u(sp, v.n, 4);
            bndr_buf_add(sp, v.s, v.n);
        }
        if (lp_int_at(lp, n, &pos, &lpcount) < 0 || lpcount != nf + 3 + (same ? 0 : nf + 1))
            return -1;
        if (del) {
            seen_dead++;
        } else {
            seen_live++;
            (*length)++;
        }
        *lastms = ms;
        *lastseq = seq;
        *any = 1;
        ne++;
    }
    if (pos != n - 1 || ne == 0 || seen_live != live || seen_dead != dead)
        return -1;
    for (int i = 0; i < 4; i++)
        sp->p[count_at + 16 + i] = (char)(ne >> (8 * i));
    return 0;
}

static int rd_u64le(struct bndr_rdb_rd *r, uint64_t *v)
{
    const unsigned char *q;
    if (rd_bytes(r, 8, &q) < 0)
        return -1;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)q[i] << (8 * i);
    return 0;
}
static int rd_id16(struct bndr_rdb_rd *r, uint64_t *ms, uint64_t *seq)
{
    const unsigned char *q;
    if (rd_bytes(r, 16, &q) < 0)
        return -1;
    *ms = *seq = 0;
    for (int i = 0; i < 8; i++) {
        *ms = (*ms << 8) | q[i];
        *seq = (*seq << 8) | q[8 + i];
    }
    return 0;
}

static struct bndr_obj *read_stream(int t, struct bndr_rdb_rd *r)
{
    struct bndr_buf sp = {0}, groups = {0};
    char *own = NULL, ib[24];
    const char *s;
    size_t n;
    uint64_t nn, length = 0, count_length = 0, lastms = 0, lastseq = 0, v[8] = {0};
    int any = 0;
    for (int i = 0; i < 8; i++) /* last, first, maxdel, added, length: patched below */
        buf_u(&sp, 0, 8);
    if (rd_len(r, &nn, NULL) < 0 || nn > r->n - r->off)
        goto fail;
    buf_u(&sp, nn, 8);
    for (uint64_t i = 0; i < nn; i++) {
        if (rd_str(r, &s, &n, &own, ib) < 0 || n != 16)
            goto fail;
        uint64_t mms = 0, mseq = 0;
        for (int k = 0; k < 8; k++) {
            mms = (mms << 8) | (unsigned char)s[k];
            mseq = (mseq << 8) | (unsigned char)s[8 + k];
        }
        bndr_free(own);
        own = NULL;
        if (rd_str(r, &s, &n, &own, ib) < 0 ||
            read_node((const unsigned char *)s, n, mms, mseq, &sp, &count_length, &lastms, &lastseq, &any) < 0)
            goto fail;
        bndr_free(own);
        own = NULL;
    }
    int nv = t == RDB_STREAM_LISTPACKS_2 ? 8 : 3; /* length, last ms/seq [, first, maxdel, added] */
    for (int i = 0; i < nv; i++)
        if (rd_len(r, &v[i], NULL) < 0)
            goto fail;
    length = v[0];
    if (length != count_length)
        goto fail;
    if (nv == 3) { /* Redis 6's format: first id and entries added derived as Redis 7 does */
        v[5] = v[6] = 0;
        v[7] = length;
    }
    uint64_t ng;
    if (rd_len(r, &ng, NULL) < 0 || ng > r->n - r->off)
        goto fail;
    buf_u(&groups, ng, 8);
    for (uint64_t g = 0; g < ng; g++) {
        uint64_t gms, gseq, er = (uint64_t)-1, np, nc;
        if (rd_str(r, &s, &n, &own, ib) < 0)
            goto fail;
        buf_u(&groups, n, 4);
        bndr_buf_add(&groups, s, n);
        bndr_free(own);
        own = NULL;
        if (rd_len(r, &gms, NULL) < 0 || rd_len(r, &gseq, NULL) < 0 ||
            (t == RDB_STREAM_LISTPACKS_2 && rd_len(r, &er, NULL) < 0) || rd_len(r, &np, NULL) < 0 ||
            np > (r->n - r->off) / 17)
            goto fail;
        buf_u(&groups, gms, 8);
        buf_u(&groups, gseq, 8);
        buf_u(&groups, er, 8);
        /* the group PEL: id, delivery time, count; owners come with the consumers */
        struct pe {
            uint64_t ms, seq, dt, dc, owner;
        } *pel = bndr_malloc((size_t)(np ? np : 1) * sizeof(*pel));
        for (uint64_t i = 0; i < np; i++) {
            if (rd_id16(r, &pel[i].ms, &pel[i].seq) < 0 || rd_u64le(r, &pel[i].dt) < 0 ||
                rd_len(r, &pel[i].dc, NULL) < 0) {
                bndr_free(pel);
                goto fail;
            }
            pel[i].owner = UINT64_MAX;
        }
        if (rd_len(r, &nc, NULL) < 0 || nc > r->n - r->off) {
            bndr_free(pel);
            goto fail;
        }
        buf_u(&groups, nc, 8);
        for (uint64_t k = 0; k < nc; k++) {
            uint64_t seen, cp;
            if (rd_str(r, &s, &n, &own, ib) < 0) {
                bndr_free(pel);
                goto fail;
            }
            buf_u(&groups, n, 4);
            bndr_buf_add(&groups, s, n);
            bndr_free(own);
            own = NULL;
            if (rd_u64le(r, &seen) < 0 || rd_len(r, &cp, NULL) < 0 || cp > np) {
                bndr_free(pel);
                goto fail;
            }
            buf_u(&groups, seen, 8);
            for (uint64_t j = 0; j < cp; j++) {
                uint64_t ms, seq, i;
                if (rd_id16(r, &ms, &seq) < 0) {
                    bndr_free(pel);
                    goto fail;
                }
                for (i = 0; i < np && (pel[i].ms != ms || pel[i].seq != seq); i++)
                    ;
                if (i == np || pel[i].owner != UINT64_MAX) { /* not in the group PEL, or owned twice */
                    bndr_free(pel);
                    goto fail;
                }
                pel[i].owner = k;
            }
        }
        buf_u(&groups, np, 8);
        for (uint64_t i = 0; i < np; i++) {
            if (pel[i].owner == UINT64_MAX) { /* a NACK without a consumer */
                bndr_free(pel);
                goto fail;
            }
            buf_u(&groups, pel[i].ms, 8);
            buf_u(&groups, pel[i].seq, 8);
            buf_u(&groups, pel[i].dt, 8);
            buf_u(&groups, pel[i].dc, 8);
            buf_u(&groups, pel[i].owner, 8);
        }
        bndr_free(pel);
    }
    if (nv == 3) { /* first id: the first live entry (Redis' streamGetEdgeID) */
        struct snap q = {(const unsigned char *)sp.p, sp.len, 72, 0};
        for (uint64_t i = 0; i < nn && !v[3] && !v[4]; i++) {
            q.off += 16;
            uint32_t ne = (uint32_t)snap_u(&q, 4);
            for (uint32_t e = 0; e < ne; e++) {
                uint64_t ms = snap_u(&q, 8), seq = snap_u(&q, 8);
                const unsigned char *d = snap_take(&q, 1);
                uint32_t nf = (uint32_t)snap_u(&q, 4);
                for (uint32_t k = 0; k < 2 * nf; k++)
                    snap_take(&q, (size_t)snap_u(&q, 4));
                if (d && !*d && !v[3] && !v[4]) {
                    v[3] = ms;
                    v[4] = seq;
                }
            }
        }
    }
    /* header: last, first, maxdel, entries_added, length */
    uint64_t hdr[8] = {v[1], v[2], v[3], v[4], v[5], v[6], v[7], length};
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 8; k++)
            sp.p[i * 8 + k] = (char)(hdr[i] >> (8 * k));
    (void)any;
    (void)lastms;
    (void)lastseq;
    bndr_buf_add(&sp, groups.p, groups.len);
    struct bndr_stream *x = bndr_stream_restore(sp.p, sp.len);
    bndr_free(sp.p);
    bndr_free(groups.p);
    if (!x)
        return NULL;
    struct bndr_obj *o = bndr_obj_new(BNDR_STREAM);
    bndr_stream_free(o->u.x);
    o->u.x = x;
    return o;
fail:
    bndr_free(own);
    bndr_free(sp.p);
    bndr_free(groups.p);
    return NULL;
}

/* ---------------------------------------------------------------- commands */
void bndr_cmd_dump(struct bndr_client *c)
{
    /* one buffer kept between calls (commands run on one thread), dropped when it grew past 1 MiB */
    static struct bndr_buf b;
    struct bndr_obj *o = bndr_lookup_read(c, &c->argv[1]);
    if (!o) {
        bndr_add_null(c);
        return;
    }
    b.len = 0;
    if (write_value(&b, o, NULL, 0) < 0) {
        bndr_add_error(c, "ERR the value could not be serialized");
        return;
    }
    unsigned char tail[10];
    tail[0] = RDB_VERSION & 0xff;
    tail[1] = (RDB_VERSION >> 8) & 0xff;
    raw_add(&b, tail, 2);
    uint64_t crc = bndr_crc64(0, (const unsigned char *)b.p, b.len);
    for (int i = 0; i < 8; i++)
        tail[i] = (unsigned char)(crc >> (8 * i));
    raw_add(&b, tail, 8);
    bndr_add_bulk(c, b.p, b.len);
    if (b.cap > (1 << 20)) {
        bndr_free(b.p);
        memset(&b, 0, sizeof b);
    }
}

static int verify_payload(const unsigned char *p, size_t n)
{
    if (n < 10)
        return -1;
    const unsigned char *footer = p + n - 10;
    unsigned version = (unsigned)footer[0] | ((unsigned)footer[1] << 8);
    if (version > RDB_VERSION)
        return -1;
    uint64_t crc = bndr_crc64(0, p, n - 8), want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)footer[2 + i] << (8 * i);
    return crc == want ? 0 : -1;
}

void bndr_cmd_restore(struct bndr_client *c)
{
    long long ttl, lfu_freq = -1, lru_idle = -1;
    int replace = 0, absttl = 0;
    for (int j = 4; j < c->argc; j++) {
        int additional = c->argc - j - 1;
        struct bndr_arg *a = &c->argv[j];
        if (bndr_argeq(a, "replace")) {
            replace = 1;
        } else if (bndr_argeq(a, "absttl")) {
            absttl = 1;
        } else if (bndr_argeq(a, "idletime") && additional >= 1 && lfu_freq == -1) {
            if (bndr_get_ll_or_reply(c, &c->argv[j + 1], &lru_idle, NULL) < 0)
                return;
            if (lru_idle < 0) {
                bndr_add_error(c, "ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
            j++;
        } else if (bndr_argeq(a, "freq") && additional >= 1 && lru_idle == -1) {
            if (bndr_get_ll_or_reply(c, &c->argv[j + 1], &lfu_freq, NULL) < 0)
                return;
            if (lfu_freq < 0 || lfu_freq > 255) {
                bndr_add_error(c, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            j++;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            return;
        }
    }
    struct bndr_arg *key = &c->argv[1];
    if (!replace && bndr_lookup_write(c, key)) {
        bndr_add_error(c, "BUSYKEY Target key name already exists.");
        return;
    }
    if (bndr_get_ll_or_reply(c, &c->argv[2], &ttl, NULL) < 0)
        return;
    if (ttl < 0) {
        bndr_add_error(c, "ERR Invalid TTL value, must be >= 0");
        return;
    }
    const unsigned char *p = (const unsigned char *)c->argv[3].p;
    size_t n = c->argv[3].n;
    if (verify_payload(p, n) < 0) {
        bndr_add_error(c, "ERR DUMP payload version or checksum are wrong");
        return;
    }
    struct bndr_rdb_rd r = {p, n - 10, 0, (size_t)c->srv->cfg.proto_max_bulk_len};
    const unsigned char *tb;
    struct bndr_obj *o = NULL;
    if (rd_bytes(&r, 1, &tb) == 0)
        o = read_value(tb[0], &r);
    if (!o) { /* bytes after the value are ignored, as Redis does */
        bndr_add_error(c, "ERR Bad data format");
        return;
    }
    struct bndr_db *db = &c->srv->db;
    int deleted = replace ? bndr_db_delete(db, key->p, key->n) : 0;
    uint64_t now = bndr_mstime();
    if (ttl && !absttl)
        ttl += (long long)now;
    if (ttl && ttl <= (long long)now && !c->srv->aof.loading) {
        if (deleted) {
            struct bndr_arg del[2] = {{(char *)"DEL", 3}, *key};
            bndr_rewrite_prop(c, 2, del);
            bndr_signal_key(c->srv, key->p, key->n);
            c->srv->dirty++;
        }
        bndr_obj_free(o);
        bndr_add_ok(c);
        return;
    }
    struct bndr_de *e = bndr_db_add(db, key->p, key->n, o);
    if (ttl) {
        bndr_db_set_expire(db, e, ttl);
        if (!absttl) { /* propagated with the absolute time, as Redis */
            struct bndr_arg *a = bndr_malloc((size_t)(c->argc + 1) * sizeof(*a));
            char tb2[24];
            memcpy(a, c->argv, (size_t)c->argc * sizeof(*a));
            a[2].p = tb2;
            a[2].n = (size_t)bndr_fmt_ll(tb2, ttl);
            a[c->argc].p = (char *)"ABSTTL";
            a[c->argc].n = 6;
            bndr_rewrite_prop(c, c->argc + 1, a);
            bndr_free(a);
        }
    }
    if (lru_idle >= 0) { /* FREQ is accepted and has no effect: bunder keeps no LFU counter */
        uint32_t clk = c->srv->lruclock;
        o->lru = (uint64_t)lru_idle >= clk ? 0 : clk - (uint32_t)lru_idle;
    }
    c->srv->dirty++;
    bndr_add_ok(c);
}

/* for FUNCTION RESTORE (cmd_script.c): Redis compresses library code in its payloads */
size_t bndr_lzf_decompress(const unsigned char *in, size_t in_len, unsigned char *out,
                           size_t out_len)
{
    return lzf_dec(in, in_len, out, out_len);
}

/* ---------------------------------------------------------------- for RDB files (rdb.c) */
int bndr_rdb_write_value(struct bndr_buf *b, const struct bndr_obj *o, const char *key, size_t klen)
{
    return write_value(b, o, key, klen);
}

void bndr_rdb_write_len(struct bndr_buf *b, uint64_t len)
{
    bndr_buf_reserve(b, 9);
    put_len(b, len);
}

void bndr_rdb_write_str(struct bndr_buf *b, const void *p, size_t n)
{
    bndr_buf_reserve(b, 9 + n);
    put_str(b, p, n);
}

int bndr_rdb_read_bytes(struct bndr_rdb_rd *r, size_t n, const unsigned char **out)
{
    return rd_bytes(r, n, out);
}

int bndr_rdb_read_len(struct bndr_rdb_rd *r, uint64_t *len)
{
    return rd_len(r, len, NULL);
}

int bndr_rdb_read_str(struct bndr_rdb_rd *r, const char **s, size_t *n, char **owned, char *ibuf)
{
    return rd_str(r, s, n, owned, ibuf);
}

struct bndr_obj *bndr_rdb_read_value(int type, struct bndr_rdb_rd *r)
{
    return read_value(type, r);
}
