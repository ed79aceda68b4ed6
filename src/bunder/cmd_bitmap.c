/* cmd_bitmap.c — bit operations on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
 * BITFIELD, BITFIELD_RO, with Redis 7.0's replies and errors.
 *
 * Bit numbering is Redis': bit 0 is the most significant bit of byte 0. Writing past the end grows
 * the string with zero bytes; offsets are bounded like Redis by proto-max-bulk-len (offset / 8 must
 * be below it), so SETBIT can never make a string larger than a client could have sent.
 * Ranges (BITCOUNT, BITPOS) are inclusive, negative values count from the end, BYTE (default) or
 * BIT units. BITFIELD integers are big-endian bit fields of 1..64 bits (u1..u63, i1..i64); overflow
 * of SET/INCRBY is WRAP (two's complement), SAT (clamp) or FAIL (nil, nothing written), computed
 * exactly in 128-bit arithmetic.
 */
#include <string.h>
#include <strings.h>

#include "bndr.h"
#include "cmds.h"

#define ERR_BITOFF "ERR bit offset is not an integer or out of range"
#define ERR_BFTYPE                                                                                 \
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but "    \
    "i64 is."

/* The live entry of key (lazy expiry and hit/miss stats applied), or NULL. */
static struct bndr_de *live_entry(struct bndr_client *c, const struct bndr_arg *k, int write)
{
    struct bndr_obj *o = write ? bndr_lookup_write(c, k) : bndr_lookup_read(c, k);
    return o ? bndr_db_find(&c->srv->db, k->p, k->n) : NULL;
}

/* Parses a bit offset ("#N" = N * bits when hash_bits > 0). 0, or -1 after replying. */
static int parse_bit_offset(struct bndr_client *c, const struct bndr_arg *a, int hash_bits,
                            uint64_t *out)
{
    long long v;
    int usehash = hash_bits > 0 && a->n > 0 && a->p[0] == '#';
    if (bndr_parse_ll(a->p + usehash, a->n - (size_t)usehash, &v) < 0) {
        bndr_add_error(c, ERR_BITOFF);
        return -1;
    }
    if (usehash && __builtin_mul_overflow(v, (long long)hash_bits, &v)) {
        bndr_add_error(c, ERR_BITOFF);
        return -1;
    }
    if (v < 0 || (v >> 3) >= c->srv->cfg.proto_max_bulk_len) {
        bndr_add_error(c, ERR_BITOFF);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* The string entry for a write reaching bit maxbit: created or zero-extended. NULL after
 * replying WRONGTYPE. *grew is set when the key was created or extended. */
static struct bndr_de *string_for_bits(struct bndr_client *c, const struct bndr_arg *k,
                                       uint64_t maxbit, int *grew)
{
    size_t need = (size_t)(maxbit >> 3) + 1;
    struct bndr_de *e = live_entry(c, k, 1);
    *grew = 0;
    if (e && BNDR_DE_OBJ(e)->type != BNDR_STRING) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return NULL;
    }
    if (!e) {
        e = bndr_db_add(&c->srv->db, k->p, k->n, bndr_obj_string(NULL, 0));
        *grew = 1;
    }
    struct bndr_obj *o = BNDR_DE_OBJ(e);
    o->big = 1; /* Redis unshares the string for a bit write: "raw" from now on */
    if (need > o->len) {
        o = bndr_obj_string_reserve(e, need);
        memset(o->s + o->len, 0, need - o->len);
        o->len = (uint32_t)need;
        o->s[need] = 0;
        *grew = 1;
    }
    return e;
}

/* ---------------------------------------------------------------- SETBIT / GETBIT */
void bndr_cmd_setbit(struct bndr_client *c)
{
    uint64_t off;
    if (parse_bit_offset(c, &c->argv[2], 0, &off) < 0) return;
    struct bndr_arg *v = &c->argv[3];
    if (v->n != 1 || (v->p[0] != '0' && v->p[0] != '1')) {
        bndr_add_error(c, "ERR bit is not an integer or out of range");
        return;
    }
    int on = v->p[0] == '1';
    int grew;
    struct bndr_de *e = string_for_bits(c, &c->argv[1], off, &grew);
    if (!e) return;
    unsigned char *p = (unsigned char *)BNDR_DE_OBJ(e)->s;
    size_t byte = (size_t)(off >> 3);
    int bit = 7 - (int)(off & 7);
    int old = (p[byte] >> bit) & 1;
    if (on)
        p[byte] |= (unsigned char)(1u << bit);
    else
        p[byte] &= (unsigned char)~(1u << bit);
    c->srv->dirty++;
    bndr_add_ll(c, old);
}

void bndr_cmd_getbit(struct bndr_client *c)
{
    uint64_t off;
    if (parse_bit_offset(c, &c->argv[2], 0, &off) < 0) return;
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STRING, 0, &wrong);
    if (wrong) return;
    size_t byte = (size_t)(off >> 3);
    if (!o || byte >= o->len) {
        bndr_add_ll(c, 0);
        return;
    }
    bndr_add_ll(c, (((unsigned char)o->s[byte]) >> (7 - (off & 7))) & 1);
}

/* ---------------------------------------------------------------- BITCOUNT / BITPOS */
static long long popcount(const unsigned char *p, size_t n)
{
    long long cnt = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        cnt += __builtin_popcountll(w);
    }
    for (; i < n; i++)
        cnt += __builtin_popcount(p[i]);
    return cnt;
}

/* Parses the optional unit argument at index i: 1 BIT, 0 BYTE, -1 after replying. */
static int parse_unit(struct bndr_client *c, int i)
{
    if (bndr_argeq(&c->argv[i], "bit")) return 1;
    if (bndr_argeq(&c->argv[i], "byte")) return 0;
    bndr_add_error(c, BNDR_ERR_SYNTAX);
    return -1;
}

void bndr_cmd_bitcount(struct bndr_client *c)
{
    int wrong;
    struct bndr_obj *o = bndr_lookup_type(c, &c->argv[1], BNDR_STRING, 0, &wrong);
    if (wrong) return;
    if (!o) { /* Redis 7.0 answers 0 for a missing key before looking at the range */
        bndr_add_ll(c, 0);
        return;
    }
    long long start = 0, end = 0;
    int isbit = 0;
    if (c->argc == 4 || c->argc == 5) {
        if (bndr_get_ll_or_reply(c, &c->argv[2], &start, NULL) < 0 ||
            bndr_get_ll_or_reply(c, &c->argv[3], &end, NULL) < 0)
            return;
        if (c->argc == 5 && (isbit = parse_unit(c, 4)) < 0) return;
    } else if (c->argc != 2) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    const unsigned char *p = (const unsigned char *)o->s;
    long long len = o->len;
    if (c->argc == 2) {
        bndr_add_ll(c, popcount(p, (size_t)len));
        return;
    }
    long long tot = isbit ? len * 8 : len;
    if (start < 0 && end < 0 && start > end) {
        bndr_add_ll(c, 0);
        return;
    }
    if (start < 0) start += tot;
    if (end < 0) end += tot;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= tot) end = tot - 1;
    if (start > end) {
        bndr_add_ll(c, 0);
        return;
    }
    if (!isbit) {
        bndr_add_ll(c, popcount(p + start, (size_t)(end - start + 1)));
        return;
    }
    long long sb = start >> 3, eb = end >> 3;
    long long n = popcount(p + sb, (size_t)(eb - sb + 1));
    unsigned char first_out = (unsigned char)(0xff00u >> (start & 7));     /* bits before start */
    unsigned char last_out = (unsigned char)((1u << (7 - (end & 7))) - 1); /* bits after end */
    n -= __builtin_popcount(p[sb] & first_out);
    n -= __builtin_popcount(p[eb] & last_out);
    bndr_add_ll(c, n);
}

void bndr_cmd_bitpos(struct bndr_client *c)
{
    long long bit;
    if (bndr_get_ll_or_reply(c, &c->argv[2], &bit, NULL) < 0) return;
    if (bit != 0 && bit != 1) {
        bndr_add_error(c, "ERR The bit argument must be 1 or 0.");
        return;
    }
    struct bndr_de *e = live_entry(c, &c->argv[1], 0);
    if (!e) {
        bndr_add_ll(c, bit ? -1 : 0);
        return;
    }
    struct bndr_obj *o = BNDR_DE_OBJ(e);
    if (o->type != BNDR_STRING) {
        bndr_add_error(c, BNDR_ERR_WRONGTYPE);
        return;
    }
    const unsigned char *p = (const unsigned char *)o->s;
    long long len = o->len, start = 0, end = len - 1;
    int isbit = 0, end_given = 0;
    if (c->argc >= 4 && c->argc <= 6) {
        if (bndr_get_ll_or_reply(c, &c->argv[3], &start, NULL) < 0) return;
        if (c->argc == 6 && (isbit = parse_unit(c, 5)) < 0) return;
        if (c->argc >= 5) {
            if (bndr_get_ll_or_reply(c, &c->argv[4], &end, NULL) < 0) return;
            end_given = 1;
        } else {
            end = isbit ? len * 8 + 7 : len - 1;
        }
        long long tot = isbit ? len * 8 : len;
        if (start < 0) start += tot;
        if (end < 0) end += tot;
        if (start < 0) start = 0;
        if (end < 0) end = 0;
        if (end >= tot) end = tot - 1;
    } else if (c->argc != 3) {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (start > end) {
        bndr_add_ll(c, -1);
        return;
    }
    /* the range in bits, inclusive */
    long long sbit = isbit ? start : start * 8, ebit = isbit ? end : end * 8 + 7;
    long long i = sbit;
    unsigned char skip = bit ? 0x00 : 0xff; /* a byte with no bit of interest */
    while (i <= ebit) {
        if ((i & 7) == 0 && i + 7 <= ebit && p[i >> 3] == skip) {
            i += 8;
            continue;
        }
        if (((p[i >> 3] >> (7 - (i & 7))) & 1) == bit) {
            bndr_add_ll(c, i);
            return;
        }
        i++;
    }
    /* not found: looking for 0 without an explicit end, the string continues with zeros */
    if (bit == 0 && !end_given)
        bndr_add_ll(c, (ebit | 7) + 1);
    else
        bndr_add_ll(c, -1);
}

/* ---------------------------------------------------------------- BITOP */
void bndr_cmd_bitop(struct bndr_client *c)
{
    struct bndr_arg *opa = &c->argv[1];
    int op;
    if (bndr_argeq(opa, "and"))
        op = 0;
    else if (bndr_argeq(opa, "or"))
        op = 1;
    else if (bndr_argeq(opa, "xor"))
        op = 2;
    else if (bndr_argeq(opa, "not"))
        op = 3;
    else {
        bndr_add_error(c, BNDR_ERR_SYNTAX);
        return;
    }
    if (op == 3 && c->argc != 4) {
        bndr_add_error(c, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    int n = c->argc - 3;
    const unsigned char **src = bndr_malloc((size_t)n * sizeof(*src));
    size_t *len = bndr_malloc((size_t)n * sizeof(*len));
    size_t maxlen = 0;
    for (int j = 0; j < n; j++) {
        int wrong;
        struct bndr_obj *o = bndr_lookup_type(c, &c->argv[3 + j], BNDR_STRING, 0, &wrong);
        if (wrong) {
            bndr_free(src);
            bndr_free(len);
            return;
        }
        src[j] = o ? (const unsigned char *)o->s : NULL;
        len[j] = o ? o->len : 0;
        if (len[j] > maxlen) maxlen = len[j];
    }
    struct bndr_server *s = c->srv;
    if (maxlen) {
        unsigned char *r = bndr_malloc(maxlen);
        for (size_t i = 0; i < maxlen; i++) {
            unsigned char out = i < len[0] ? src[0][i] : 0;
            if (op == 3) out = (unsigned char)~out;
            for (int j = 1; j < n; j++) {
                unsigned char b = i < len[j] ? src[j][i] : 0;
                if (op == 0)
                    out &= b;
                else if (op == 1)
                    out |= b;
                else
                    out ^= b;
            }
            r[i] = out;
        }
        struct bndr_obj *res = bndr_obj_string(r, maxlen); /* sources stay valid until here */
        res->big = 1; /* Redis' BITOP result is a raw string */
        bndr_free(r);
        bndr_db_set(&s->db, c->argv[2].p, c->argv[2].n, res, 0);
        s->dirty++;
    } else {
        bndr_expire_if_needed(&s->db, c->argv[2].p, c->argv[2].n);
        if (bndr_db_delete(&s->db, c->argv[2].p, c->argv[2].n)) s->dirty++;
    }
    bndr_free(src);
    bndr_free(len);
    bndr_add_ll(c, (long long)maxlen);
}

/* ---------------------------------------------------------------- BITFIELD */
enum { BF_GET, BF_SET, BF_INCRBY };
enum { OW_WRAP, OW_SAT, OW_FAIL };

struct bf_op {
    uint64_t off;
    int64_t v;
    int op, sign, bits, ow;
};

static uint64_t bf_get(const unsigned char *p, size_t len, uint64_t off, int bits)
{
    uint64_t v = 0;
    for (int i = 0; i < bits; i++) {
        uint64_t b = off + (uint64_t)i;
        size_t byte = (size_t)(b >> 3);
        unsigned bitv = byte < len ? (p[byte] >> (7 - (b & 7))) & 1u : 0;
        v = (v << 1) | bitv;
    }
    return v;
}

static void bf_set(unsigned char *p, uint64_t off, int bits, uint64_t v)
{
    for (int i = 0; i < bits; i++) {
        uint64_t b = off + (uint64_t)i;
        unsigned bitv = (unsigned)(v >> (bits - 1 - i)) & 1u;
        unsigned char m = (unsigned char)(1u << (7 - (b & 7)));
        if (bitv)
            p[b >> 3] |= m;
        else
            p[b >> 3] &= (unsigned char)~m;
    }
}

/* The field read as a number of its type. */
static __int128 bf_value(uint64_t raw, int sign, int bits)
{
    if (!sign) return (__int128)raw;
    if (bits < 64 && (raw >> (bits - 1)) & 1) raw |= ~(uint64_t)0 << bits; /* sign-extend */
    return (__int128)(int64_t)raw;
}

/* Applies the overflow rule to want; returns 0 (fits), 1 (handled: *out set) or -1 (FAIL). */
static int bf_overflow(__int128 want, int sign, int bits, int ow, __int128 *out)
{
    __int128 min, max;
    if (sign) {
        max = ((__int128)1 << (bits - 1)) - 1;
        min = -max - 1;
    } else {
        max = ((__int128)1 << bits) - 1;
        min = 0;
    }
    if (want >= min && want <= max) {
        *out = want;
        return 0;
    }
    if (ow == OW_FAIL) return -1;
    if (ow == OW_SAT) {
        *out = want > max ? max : min;
        return 1;
    }
    /* WRAP: keep the low bits, as a two's complement value of the type */
    unsigned __int128 mod = (unsigned __int128)1 << bits;
    unsigned __int128 u = (unsigned __int128)want & (mod - 1);
    __int128 r = (__int128)u;
    if (sign && (u >> (bits - 1)) & 1) r -= (__int128)mod;
    *out = r;
    return 1;
}

static void bitfield_generic(struct bndr_client *c, int ro)
{
    struct bf_op *ops = NULL;
    int nops = 0, cap = 0, ow = OW_WRAP, readonly = 1;
    uint64_t highest = 0;
    for (int j = 2; j < c->argc; j++) {
        int rem = c->argc - j - 1;
        struct bndr_arg *sub = &c->argv[j];
        int op;
        if (bndr_argeq(sub, "get") && rem >= 2)
            op = BF_GET;
        else if (bndr_argeq(sub, "set") && rem >= 3)
            op = BF_SET;
        else if (bndr_argeq(sub, "incrby") && rem >= 3)
            op = BF_INCRBY;
        else if (bndr_argeq(sub, "overflow") && rem >= 1) {
            struct bndr_arg *t = &c->argv[++j];
            if (bndr_argeq(t, "wrap"))
                ow = OW_WRAP;
            else if (bndr_argeq(t, "sat"))
                ow = OW_SAT;
            else if (bndr_argeq(t, "fail"))
                ow = OW_FAIL;
            else {
                bndr_add_error(c, "ERR Invalid OVERFLOW type specified");
                goto out;
            }
            continue;
        } else {
            bndr_add_error(c, BNDR_ERR_SYNTAX);
            goto out;
        }
        struct bndr_arg *ty = &c->argv[j + 1];
        int sign;
        long long bits;
        if (ty->n < 2 ||
            (ty->p[0] != 'i' && ty->p[0] != 'I' && ty->p[0] != 'u' && ty->p[0] != 'U')) {
            bndr_add_error(c, ERR_BFTYPE);
            goto out;
        }
        sign = ty->p[0] == 'i' || ty->p[0] == 'I';
        if (bndr_parse_ll(ty->p + 1, ty->n - 1, &bits) < 0 || bits < 1 || (sign && bits > 64) ||
            (!sign && bits > 63)) {
            bndr_add_error(c, ERR_BFTYPE);
            goto out;
        }
        uint64_t off;
        if (parse_bit_offset(c, &c->argv[j + 2], (int)bits, &off) < 0) goto out;
        long long v = 0;
        if (op != BF_GET) {
            readonly = 0;
            if (highest < off + (uint64_t)bits - 1) highest = off + (uint64_t)bits - 1;
            if (bndr_get_ll_or_reply(c, &c->argv[j + 3], &v, NULL) < 0) goto out;
        }
        if (nops == cap) {
            cap = cap ? cap * 2 : 8;
            ops = bndr_realloc(ops, (size_t)cap * sizeof(*ops));
        }
        ops[nops++] = (struct bf_op){off, v, op, sign, (int)bits, ow};
        j += op == BF_GET ? 2 : 3;
    }
    struct bndr_de *e = NULL;
    int grew = 0;
    if (readonly) {
        e = live_entry(c, &c->argv[1], 0);
        if (e && BNDR_DE_OBJ(e)->type != BNDR_STRING) {
            bndr_add_error(c, BNDR_ERR_WRONGTYPE);
            goto out;
        }
    } else {
        if (ro) {
            bndr_add_error(c, "ERR BITFIELD_RO only supports the GET subcommand");
            goto out;
        }
        e = string_for_bits(c, &c->argv[1], highest, &grew);
        if (!e) goto out;
    }
    long changes = 0;
    bndr_add_array(c, nops);
    for (int i = 0; i < nops; i++) {
        struct bf_op *o = &ops[i];
        struct bndr_obj *obj = e ? BNDR_DE_OBJ(e) : NULL;
        unsigned char *p = obj ? (unsigned char *)obj->s : NULL;
        size_t len = obj ? obj->len : 0;
        __int128 old = bf_value(bf_get(p, len, o->off, o->bits), o->sign, o->bits);
        if (o->op == BF_GET) {
            bndr_add_ll(c, (long long)old);
            continue;
        }
        __int128 want;
        if (o->op == BF_INCRBY)
            want = old + o->v;
        else /* SET: an unsigned field takes the value's 64 bits as unsigned, as Redis */
            want = o->sign ? (__int128)o->v : (__int128)(uint64_t)o->v;
        __int128 nv;
        if (bf_overflow(want, o->sign, o->bits, o->ow, &nv) < 0) {
            bndr_add_null(c);
            continue;
        }
        bndr_add_ll(c, (long long)(o->op == BF_INCRBY ? nv : old));
        bf_set(p, o->off, o->bits, (uint64_t)nv);
        if (grew || nv != old) changes++;
    }
    if (changes || grew) c->srv->dirty++;
out:
    bndr_free(ops);
}

void bndr_cmd_bitfield(struct bndr_client *c)
{
    bitfield_generic(c, 0);
}

void bndr_cmd_bitfield_ro(struct bndr_client *c)
{
    bitfield_generic(c, 1);
}
