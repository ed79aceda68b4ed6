/* cmd_hll.c — HyperLogLog: PFADD, PFCOUNT, PFMERGE, byte-compatible with Redis 7.0.
 *
 * A HyperLogLog is an ordinary string value in Redis' format, so GET/SET/DUMP of it move between
 * bunder and Redis unchanged and PFCOUNT gives the same number on the same input.
 *
 * Layout (all bytes):
 *   0..3   "HYLL"
 *   4      encoding: 0 dense, 1 sparse (2 "raw" exists only inside PFCOUNT of several keys)
 *   5..7   zero
 *   8..15  cached cardinality, little endian; bit 7 of byte 15 set = cache invalid
 *   16..   registers: 16384 registers (P = 14) of 6 bits each.
 * Dense: 12288 bytes, register i at bit 6*i counted from the least significant bit of byte 0
 *   (a register may straddle two bytes). Total 12304 bytes.
 * Sparse: run-length opcodes covering the 16384 registers in order:
 *   00xxxxxx           ZERO:  xxxxxx + 1 (1..64) registers at 0
 *   01xxxxxx yyyyyyyy  XZERO: 14-bit x..y + 1 (1..16384) registers at 0
 *   1vvvvvxx           VAL:   xx + 1 (1..4) registers at value vvvvv + 1 (1..32)
 *   A new key is the 18-byte "HYLL",1,0,0,0,<8 zero bytes>,XZERO(16384). Setting a register
 *   splits the opcode that covers it into at most ZERO/XZERO|VAL - VAL - ZERO/XZERO|VAL and
 *   then merges adjacent equal VALs (up to 5 opcodes from the one before), exactly as Redis
 *   does so the bytes stay identical. A value above 32, or a sparse string that would grow past
 *   hll-sparse-max-bytes (3000), converts the key to dense (the header, cache included, is kept).
 *
 * Element → register: MurmurHash64A(element, seed 0xadc83b19); the low 14 bits pick the
 * register, the value is 1 + the number of zero bits above them (stopping at bit 50).
 * Estimator: Otmar Ertl's improved estimator over the register histogram ("New cardinality
 * estimation algorithms for HyperLogLog sketches", arXiv:1702.01284), as Redis 5+ computes it.
 */
#include <math.h>
#include <string.h>

#include "bndr.h"
#include "cmds.h"

#define HLL_P 14
#define HLL_Q (64 - HLL_P)
#define HLL_REGISTERS (1 << HLL_P)
#define HLL_BITS 6
#define HLL_REG_MAX 63
#define HLL_HDR 16
#define HLL_DENSE_BYTES ((HLL_REGISTERS * HLL_BITS + 7) / 8)
#define HLL_DENSE_SIZE (HLL_HDR + HLL_DENSE_BYTES)
#define HLL_ENC_DENSE 0
#define HLL_ENC_SPARSE 1
#define HLL_SPARSE_VAL_MAX 32
#define HLL_SPARSE_VAL_MAXLEN 4
#define HLL_SPARSE_ZERO_MAXLEN 64
#define HLL_SPARSE_XZERO_MAXLEN 16384

#define ERR_NOT_HLL "WRONGTYPE Key is not a valid HyperLogLog string value."
#define ERR_CORRUPT "INVALIDOBJ Corrupted HLL object detected"

/* ---------------------------------------------------------------- hashing */
static uint64_t murmur64a(const unsigned char *data, size_t len, uint64_t seed)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    const int r = 47;
    uint64_t h = seed ^ ((uint64_t)len * m);
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++) {
        uint64_t k = 0;
        for (int b = 7; b >= 0; b--) /* little endian on every host */
            k = (k << 8) | data[i * 8 + (size_t)b];
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }
    const unsigned char *tail = data + blocks * 8;
    size_t rest = len & 7;
    if (rest) {
        for (size_t b = rest; b-- > 0;)
            h ^= (uint64_t)tail[b] << (8 * b);
        h *= m;
    }
    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

/* Register index and value for an element. */
static int hll_pattern(const char *ele, size_t n, long *reg)
{
    uint64_t hash = murmur64a((const unsigned char *)ele, n, 0xadc83b19ULL);
    *reg = (long)(hash & (HLL_REGISTERS - 1));
    hash >>= HLL_P;
    hash |= (uint64_t)1 << HLL_Q; /* the count stops at Q + 1 */
    int count = 1;
    while (!(hash & 1)) {
        count++;
        hash >>= 1;
    }
    return count;
}

/* ---------------------------------------------------------------- dense registers */
static unsigned dense_get(const uint8_t *r, long i)
{
    unsigned long bit = (unsigned long)i * HLL_BITS;
    unsigned long byte = bit / 8, fb = bit & 7;
    unsigned v = r[byte] >> fb;
    if (fb > 8 - HLL_BITS) v |= (unsigned)r[byte + 1] << (8 - fb);
    return v & HLL_REG_MAX;
}

static void dense_put(uint8_t *r, long i, unsigned v)
{
    unsigned long bit = (unsigned long)i * HLL_BITS;
    unsigned long byte = bit / 8, fb = bit & 7;
    r[byte] = (uint8_t)((r[byte] & ~(HLL_REG_MAX << fb)) | (v << fb));
    if (fb > 8 - HLL_BITS) {
        unsigned long fb8 = 8 - fb;
        r[byte + 1] = (uint8_t)((r[byte + 1] & ~(HLL_REG_MAX >> fb8)) | (v >> fb8));
    }
}

static int dense_set(uint8_t *r, long i, int count)
{
    if ((unsigned)count > dense_get(r, i)) {
        dense_put(r, i, (unsigned)count);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- sparse opcodes */
#define OP_IS_ZERO(p) (((*(p)) & 0xc0) == 0x00)
#define OP_IS_XZERO(p) (((*(p)) & 0xc0) == 0x40)
#define OP_IS_VAL(p) (((*(p)) & 0x80) != 0)
#define OP_ZERO_LEN(p) (((*(p)) & 0x3f) + 1)
#define OP_XZERO_LEN(p) (((((p)[0]) & 0x3f) << 8 | (p)[1]) + 1)
#define OP_VAL_VALUE(p) ((((*(p)) >> 2) & 0x1f) + 1)
#define OP_VAL_LEN(p) (((*(p)) & 0x3) + 1)

static uint8_t op_val(int value, int len)
{
    return (uint8_t)(0x80 | ((value - 1) << 2) | (len - 1));
}

/* Writes a ZERO or XZERO run of len registers at n; returns the bytes written. */
static int op_zeros(uint8_t *n, int len)
{
    if (len > HLL_SPARSE_ZERO_MAXLEN) {
        n[0] = (uint8_t)(((len - 1) >> 8) | 0x40);
        n[1] = (uint8_t)((len - 1) & 0xff);
        return 2;
    }
    n[0] = (uint8_t)(len - 1);
    return 1;
}

/* Registers of a sparse body into regs (16384 bytes). -1 if the opcodes do not cover exactly
 * 16384 registers. */
static int sparse_decode(const uint8_t *p, const uint8_t *end, uint8_t *regs)
{
    long idx = 0;
    while (p < end) {
        long run;
        if (OP_IS_ZERO(p)) {
            run = OP_ZERO_LEN(p);
            if (idx + run > HLL_REGISTERS) return -1;
            memset(regs + idx, 0, (size_t)run);
            p++;
        } else if (OP_IS_XZERO(p)) {
            if (p + 1 >= end) return -1;
            run = OP_XZERO_LEN(p);
            if (idx + run > HLL_REGISTERS) return -1;
            memset(regs + idx, 0, (size_t)run);
            p += 2;
        } else {
            run = OP_VAL_LEN(p);
            if (idx + run > HLL_REGISTERS) return -1;
            memset(regs + idx, OP_VAL_VALUE(p), (size_t)run);
            p++;
        }
        idx += run;
    }
    return idx == HLL_REGISTERS ? 0 : -1;
}

/* ---------------------------------------------------------------- objects */
/* 0 if o is a HyperLogLog string, else replies (WRONGTYPE either way) and returns -1. */
static int check_hll(struct bndr_client *c, const struct bndr_obj *o)
{
    if (o->type != BNDR_STRING) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return -1;
    }
    const uint8_t *s = (const uint8_t *)o->s;
    if (o->len < HLL_HDR || memcmp(s, "HYLL", 4) || s[4] > HLL_ENC_SPARSE ||
        (s[4] == HLL_ENC_DENSE && o->len != HLL_DENSE_SIZE)) {
        bndr_add_error(c, ERR_NOT_HLL);
        return -1;
    }
    return 0;
}

static struct bndr_obj *hll_new(void)
{
    uint8_t b[HLL_HDR + 2] = {'H', 'Y', 'L', 'L', HLL_ENC_SPARSE};
    op_zeros(b + HLL_HDR, HLL_SPARSE_XZERO_MAXLEN);
    struct bndr_obj *o = bndr_obj_string(b, sizeof b);
    o->big = 1; /* raw, as Redis' createHLLObject */
    return o;
}

static void invalidate_cache(struct bndr_obj *o)
{
    ((uint8_t *)o->s)[15] |= 0x80;
}

/* Converts the key's HLL to dense in place. -1 if the sparse body is corrupt. */
static int to_dense(struct bndr_de *e)
{
    struct bndr_obj *o = BNDR_DE_OBJ(e);
    uint8_t *s = (uint8_t *)o->s;
    if (s[4] == HLL_ENC_DENSE) return 0;
    static uint8_t regs[HLL_REGISTERS];
    if (sparse_decode(s + HLL_HDR, s + o->len, regs) < 0) return -1;
    o = bndr_obj_string_reserve(e, HLL_DENSE_SIZE);
    s = (uint8_t *)o->s;
    s[4] = HLL_ENC_DENSE; /* the rest of the header (cache included) stays */
    memset(s + HLL_HDR, 0, HLL_DENSE_BYTES);
    for (long i = 0; i < HLL_REGISTERS; i++)
        if (regs[i]) dense_put(s + HLL_HDR, i, regs[i]);
    o->len = HLL_DENSE_SIZE;
    s[o->len] = 0;
    return 0;
}

/* Sets register index to count if larger, in the key's sparse HLL (converting to dense when
 * needed). Returns 1 changed, 0 not, -1 corrupt. */
static int sparse_set(struct bndr_de *e, long index, int count, long long max_bytes)
{
    struct bndr_obj *o;
    if (count > HLL_SPARSE_VAL_MAX) goto promote;
    o = bndr_obj_string_reserve(e, (size_t)BNDR_DE_OBJ(e)->len + 3);
    uint8_t *sparse = (uint8_t *)o->s + HLL_HDR, *p = sparse, *end = (uint8_t *)o->s + o->len;
    uint8_t *prev = NULL, *next;
    long first = 0, span = 0;
    while (p < end) {
        long oplen = 1;
        if (OP_IS_ZERO(p))
            span = OP_ZERO_LEN(p);
        else if (OP_IS_VAL(p))
            span = OP_VAL_LEN(p);
        else {
            span = OP_XZERO_LEN(p);
            oplen = 2;
        }
        if (index <= first + span - 1) break;
        prev = p;
        p += oplen;
        first += span;
    }
    if (span == 0 || p >= end) return -1;
    int is_zero = OP_IS_ZERO(p), is_xzero = OP_IS_XZERO(p), is_val = OP_IS_VAL(p);
    next = is_xzero ? p + 2 : p + 1;
    if (next >= end) next = NULL;
    long runlen = is_zero ? OP_ZERO_LEN(p) : is_xzero ? OP_XZERO_LEN(p) : OP_VAL_LEN(p);
    if (is_val) {
        if (OP_VAL_VALUE(p) >= count) return 0;
        if (runlen == 1) {
            *p = op_val(count, 1);
            goto updated;
        }
    }
    if (is_zero && runlen == 1) {
        *p = op_val(count, 1);
        goto updated;
    }
    /* split the opcode around index */
    uint8_t seq[5], *n = seq;
    long last = first + span - 1;
    if (is_zero || is_xzero) {
        if (index != first) n += op_zeros(n, (int)(index - first));
        *n++ = op_val(count, 1);
        if (index != last) n += op_zeros(n, (int)(last - index));
    } else {
        int cur = OP_VAL_VALUE(p);
        if (index != first) *n++ = op_val(cur, (int)(index - first));
        *n++ = op_val(count, 1);
        if (index != last) *n++ = op_val(cur, (int)(last - index));
    }
    long seqlen = n - seq, oldlen = is_xzero ? 2 : 1, delta = seqlen - oldlen;
    if (delta > 0 && (long long)o->len + delta > max_bytes) goto promote;
    if (delta && next) memmove(next + delta, next, (size_t)(end - next));
    o->len = (uint32_t)((long)o->len + delta);
    o->s[o->len] = 0;
    memcpy(p, seq, (size_t)seqlen);
    end += delta;
updated:
    /* merge adjacent VALs of equal value, scanning up to 5 opcodes from the one before */
    p = prev ? prev : sparse;
    int scan = 5;
    while (p < end && scan--) {
        if (OP_IS_XZERO(p)) {
            p += 2;
            continue;
        } else if (OP_IS_ZERO(p)) {
            p++;
            continue;
        }
        if (p + 1 < end && OP_IS_VAL(p + 1)) {
            int v1 = OP_VAL_VALUE(p), v2 = OP_VAL_VALUE(p + 1);
            if (v1 == v2) {
                int len = OP_VAL_LEN(p) + OP_VAL_LEN(p + 1);
                if (len <= HLL_SPARSE_VAL_MAXLEN) {
                    p[1] = op_val(v1, len);
                    memmove(p, p + 1, (size_t)(end - p));
                    o->len--;
                    end--;
                    continue;
                }
            }
        }
        p++;
    }
    invalidate_cache(o);
    return 1;
promote:
    if (to_dense(e) < 0) return -1;
    o = BNDR_DE_OBJ(e);
    dense_set((uint8_t *)o->s + HLL_HDR, index, count);
    return 1;
}

static int hll_set(struct bndr_de *e, long index, int count, long long max_bytes)
{
    struct bndr_obj *o = BNDR_DE_OBJ(e);
    if (((uint8_t *)o->s)[4] == HLL_ENC_DENSE)
        return dense_set((uint8_t *)o->s + HLL_HDR, index, count);
    return sparse_set(e, index, count, max_bytes);
}

/* max[i] = MAX(max[i], register i of o). -1 if corrupt. */
static int hll_merge_into(uint8_t *max, const struct bndr_obj *o)
{
    const uint8_t *s = (const uint8_t *)o->s;
    if (s[4] == HLL_ENC_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = dense_get(s + HLL_HDR, i);
            if (v > max[i]) max[i] = (uint8_t)v;
        }
        return 0;
    }
    const uint8_t *p = s + HLL_HDR, *end = s + o->len;
    long idx = 0;
    while (p < end) {
        long run;
        if (OP_IS_ZERO(p)) {
            run = OP_ZERO_LEN(p);
            p++;
        } else if (OP_IS_XZERO(p)) {
            if (p + 1 >= end) return -1;
            run = OP_XZERO_LEN(p);
            p += 2;
        } else {
            run = OP_VAL_LEN(p);
            int v = OP_VAL_VALUE(p);
            if (idx + run > HLL_REGISTERS) return -1;
            for (long k = 0; k < run; k++)
                if (v > max[idx + k]) max[idx + k] = (uint8_t)v;
            p++;
        }
        idx += run;
        if (idx > HLL_REGISTERS) return -1;
    }
    return idx == HLL_REGISTERS ? 0 : -1;
}

/* ---------------------------------------------------------------- estimator */
static double hll_tau(double x)
{
    if (x == 0. || x == 1.) return 0.;
    double zp, y = 1.0, z = 1 - x;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
    } while (zp != z);
    return z / 3;
}

static double hll_sigma(double x)
{
    if (x == 1.) return INFINITY;
    double zp, y = 1, z = x;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (zp != z);
    return z;
}

static uint64_t hll_estimate(const int *histo)
{
    double m = HLL_REGISTERS;
    double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);
    for (int j = HLL_Q; j >= 1; --j) {
        z += histo[j];
        z *= 0.5;
    }
    z += m * hll_sigma(histo[0] / m);
    return (uint64_t)llround(0.721347520444481703680 * m * m / z);
}

/* Histogram of the register values of o. -1 if corrupt. */
static int hll_histogram(const struct bndr_obj *o, int *histo)
{
    const uint8_t *s = (const uint8_t *)o->s;
    memset(histo, 0, 64 * sizeof(int));
    if (s[4] == HLL_ENC_DENSE) {
        for (long i = 0; i < HLL_REGISTERS; i++)
            histo[dense_get(s + HLL_HDR, i)]++;
        return 0;
    }
    const uint8_t *p = s + HLL_HDR, *end = s + o->len;
    long idx = 0;
    while (p < end) {
        if (OP_IS_ZERO(p)) {
            histo[0] += OP_ZERO_LEN(p);
            idx += OP_ZERO_LEN(p);
            p++;
        } else if (OP_IS_XZERO(p)) {
            if (p + 1 >= end) return -1;
            histo[0] += OP_XZERO_LEN(p);
            idx += OP_XZERO_LEN(p);
            p += 2;
        } else {
            histo[OP_VAL_VALUE(p)] += OP_VAL_LEN(p);
            idx += OP_VAL_LEN(p);
            p++;
        }
    }
    return idx == HLL_REGISTERS ? 0 : -1;
}

/* ---------------------------------------------------------------- commands */
void bndr_cmd_pfadd(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    struct bndr_obj *o = bndr_lookup_write(c, &c->argv[1]);
    struct bndr_de *e;
    long long updated = 0;
    if (!o) {
        e = bndr_db_add(&s->db, c->argv[1].p, c->argv[1].n, hll_new());
        updated++;
    } else {
        if (check_hll(c, o) < 0) return;
        e = bndr_db_find(&s->db, c->argv[1].p, c->argv[1].n);
    }
    for (int j = 2; j < c->argc; j++) {
        long reg;
        int count = hll_pattern(c->argv[j].p, c->argv[j].n, &reg);
        int r = hll_set(e, reg, count, s->cfg.hll_sparse_max_bytes);
        if (r < 0) {
            s->dirty += updated;
            bndr_add_error(c, ERR_CORRUPT);
            return;
        }
        updated += r;
    }
    if (updated) {
        invalidate_cache(BNDR_DE_OBJ(e));
        s->dirty += updated;
    }
    bndr_add_ll(c, updated ? 1 : 0);
}

void bndr_cmd_pfcount(struct bndr_client *c)
{
    int histo[64];
    if (c->argc > 2) {
        static uint8_t max[HLL_REGISTERS];
        memset(max, 0, sizeof max);
        for (int j = 1; j < c->argc; j++) {
            struct bndr_obj *o = bndr_lookup_read(c, &c->argv[j]);
            if (!o) continue;
            if (check_hll(c, o) < 0) return;
            if (hll_merge_into(max, o) < 0) {
                bndr_add_error(c, ERR_CORRUPT);
                return;
            }
        }
        memset(histo, 0, sizeof histo);
        for (long i = 0; i < HLL_REGISTERS; i++)
            histo[max[i]]++;
        bndr_add_ll(c, (long long)hll_estimate(histo));
        return;
    }
    struct bndr_obj *o = bndr_lookup_read(c, &c->argv[1]);
    if (!o) {
        bndr_add_ll(c, 0);
        return;
    }
    if (check_hll(c, o) < 0) return;
    uint8_t *h = (uint8_t *)o->s;
    uint64_t card = 0;
    if (!(h[15] & 0x80)) {
        for (int i = 7; i >= 0; i--)
            card = (card << 8) | h[8 + i];
    } else {
        if (hll_histogram(o, histo) < 0) {
            bndr_add_error(c, ERR_CORRUPT);
            return;
        }
        card = hll_estimate(histo);
        for (int i = 0; i < 8; i++)
            h[8 + i] = (uint8_t)(card >> (8 * i));
        /* The cache is part of the value (GET shows it): like Redis, the read-only PFCOUNT
         * propagates itself when it wrote the cache, so the AOF replays the same bytes, and
         * it counts as a modification for WATCH. */
        c->srv->dirty++;
        bndr_propagate(c->srv, 2, c->argv);
        bndr_signal_key(c->srv, c->argv[1].p, c->argv[1].n);
    }
    bndr_add_ll(c, (long long)card);
}

void bndr_cmd_pfmerge(struct bndr_client *c)
{
    struct bndr_server *s = c->srv;
    static uint8_t max[HLL_REGISTERS];
    memset(max, 0, sizeof max);
    int use_dense = 0;
    for (int j = 1; j < c->argc; j++) {
        struct bndr_obj *o = bndr_lookup_read(c, &c->argv[j]);
        if (!o) continue;
        if (check_hll(c, o) < 0) return;
        if (((uint8_t *)o->s)[4] == HLL_ENC_DENSE) use_dense = 1;
        if (hll_merge_into(max, o) < 0) {
            bndr_add_error(c, ERR_CORRUPT);
            return;
        }
    }
    struct bndr_obj *o = bndr_lookup_write(c, &c->argv[1]);
    struct bndr_de *e = o ? bndr_db_find(&s->db, c->argv[1].p, c->argv[1].n)
                          : bndr_db_add(&s->db, c->argv[1].p, c->argv[1].n, hll_new());
    if (use_dense && to_dense(e) < 0) {
        bndr_add_error(c, ERR_CORRUPT);
        return;
    }
    for (long i = 0; i < HLL_REGISTERS; i++) {
        if (max[i] == 0) continue;
        if (hll_set(e, i, max[i], s->cfg.hll_sparse_max_bytes) < 0) {
            s->dirty++;
            bndr_add_error(c, ERR_CORRUPT);
            return;
        }
    }
    invalidate_cache(BNDR_DE_OBJ(e));
    s->dirty++;
    bndr_add_ok(c);
}

/* ---------------------------------------------------------------- PFDEBUG / PFSELFTEST */
void bndr_cmd_pfdebug(struct bndr_client *c)
{
    struct bndr_arg *sub = &c->argv[1];
    struct bndr_obj *o = bndr_lookup_write(c, &c->argv[2]);
    if (!o) {
        bndr_add_error(c, "ERR The specified key does not exist");
        return;
    }
    if (check_hll(c, o) < 0) return;
    struct bndr_de *e = bndr_db_find(&c->srv->db, c->argv[2].p, c->argv[2].n);
    uint8_t *s = (uint8_t *)o->s;
    if (bndr_argeq(sub, "getreg") || bndr_argeq(sub, "todense")) {
        int conv = 0;
        if (s[4] == HLL_ENC_SPARSE) {
            if (to_dense(e) < 0) {
                bndr_add_error(c, ERR_CORRUPT);
                return;
            }
            conv = 1;
            c->srv->dirty++; /* the encoding change is propagated, as in Redis */
        }
        if (bndr_argeq(sub, "todense")) {
            bndr_add_ll(c, conv);
            return;
        }
        s = (uint8_t *)BNDR_DE_OBJ(e)->s;
        bndr_add_array(c, HLL_REGISTERS);
        for (long i = 0; i < HLL_REGISTERS; i++)
            bndr_add_ll(c, dense_get(s + HLL_HDR, i));
    } else if (bndr_argeq(sub, "decode")) {
        if (s[4] != HLL_ENC_SPARSE) {
            bndr_add_error(c, "ERR HLL encoding is not sparse");
            return;
        }
        struct bndr_buf b = {0};
        const uint8_t *p = s + HLL_HDR, *end = s + o->len;
        while (p < end) {
            char tmp[32];
            int m;
            if (OP_IS_ZERO(p)) {
                m = snprintf(tmp, sizeof tmp, "z:%d ", OP_ZERO_LEN(p));
                p++;
            } else if (OP_IS_XZERO(p)) {
                m = snprintf(tmp, sizeof tmp, "Z:%d ", OP_XZERO_LEN(p)); /* p[1] may be the NUL */
                p += 2;
            } else {
                m = snprintf(tmp, sizeof tmp, "v:%d,%d ", OP_VAL_VALUE(p), OP_VAL_LEN(p));
                p++;
            }
            bndr_buf_add(&b, tmp, (size_t)m);
        }
        while (b.len && b.p[b.len - 1] == ' ')
            b.len--;
        bndr_add_bulk(c, b.len ? b.p : "", b.len);
        bndr_free(b.p);
    } else if (bndr_argeq(sub, "encoding")) {
        bndr_add_status(c, s[4] == HLL_ENC_DENSE ? "dense" : "sparse");
    } else {
        bndr_add_errorf(c, "ERR Unknown PFDEBUG subcommand '%.*s'",
                        (int)(sub->n > 128 ? 128 : sub->n), sub->p);
    }
}

/* Checks the register accessors and that sparse and dense HLLs count the same, within the
 * estimator's expected error (Redis' PFSELFTEST checks the same properties). */
void bndr_cmd_pfselftest(struct bndr_client *c)
{
    static uint8_t dense[HLL_DENSE_BYTES + 1];
    for (int round = 0; round < 4; round++) {
        uint8_t want[64];
        memset(dense, 0, sizeof dense);
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = (unsigned)((i * 7 + round * 13) & HLL_REG_MAX);
            dense_put(dense, i, v);
            if (i < 64) want[i] = (uint8_t)v;
        }
        for (long i = 0; i < HLL_REGISTERS; i++) {
            unsigned v = (unsigned)((i * 7 + round * 13) & HLL_REG_MAX);
            if (dense_get(dense, i) != v) {
                bndr_add_errorf(c, "TESTFAILED Register error at %ld", i);
                return;
            }
        }
        (void)want;
    }
    /* sparse (never promoted) vs dense: identical registers, identical counts */
    static uint8_t regs_s[HLL_REGISTERS];
    memset(dense, 0, sizeof dense);
    memset(regs_s, 0, sizeof regs_s);
    int histo[64];
    for (long j = 1; j <= 100000; j++) {
        char ele[24];
        int n = snprintf(ele, sizeof ele, "%ld", j);
        long reg;
        int count = hll_pattern(ele, (size_t)n, &reg);
        dense_set(dense, reg, count);
        if (count > regs_s[reg]) regs_s[reg] = (uint8_t)count;
        if (j % 10000 == 0) {
            memset(histo, 0, sizeof histo);
            for (long i = 0; i < HLL_REGISTERS; i++) {
                if (dense_get(dense, i) != regs_s[i]) {
                    bndr_add_errorf(c, "TESTFAILED dense/raw mismatch at register %ld", i);
                    return;
                }
                histo[regs_s[i]]++;
            }
            double est = (double)hll_estimate(histo);
            double err = fabs(est - (double)j) / (double)j;
            if (err > 5 * 1.04 / sqrt((double)HLL_REGISTERS)) {
                bndr_add_errorf(c, "TESTFAILED Too big error. card:%ld abserr:%.0f", j,
                                fabs(est - (double)j));
                return;
            }
        }
    }
    bndr_add_ok(c);
}
