/* rdb.c — RDB files in Redis 7.0's format (version 10): what SAVE, BGSAVE, SHUTDOWN SAVE and
 * DEBUG RELOAD write to dbfilename, and what bunder loads at start (snapshot.c picks this loader
 * when a file starts with "REDIS"), so a dataset moves between bunder and redis-server both ways.
 *
 * File layout (Redis' rdb.c; lengths are RDB lengths: 00xxxxxx 6 bits, 01xxxxxx+1 byte 14 bits,
 * 0x80 + 4 bytes big-endian, 0x81 + 8 bytes big-endian; strings are a length and the bytes, or
 * 11xxxxxx for INT8/16/32 (little-endian) and LZF):
 *
 *   "REDIS0010"                      magic and 4-digit version (written: 10; loaded: 1..11)
 *   0xFA <str> <str>                 AUX field (written: redis-ver, redis-bits, ctime, used-mem,
 *                                    aof-base); loaded: skipped
 *   0xF5 <str>                       FUNCTION2: one library's code, loaded as FUNCTION LOAD REPLACE
 *   0xFE <len>                       SELECTDB: the records that follow belong to this database
 *                                    (an id >= the `databases` setting refuses the file)
 *   0xFB <len> <len>                 RESIZEDB: keys and keys-with-TTL of that database (a hint)
 *   per key:
 *     [0xFC <u64 LE>]                EXPIRETIME_MS, absolute unix ms (0xFD <u32 LE> seconds: read)
 *     [0xF8 <len>] [0xF9 <u8>]       IDLE (sets what OBJECT IDLETIME reports) / FREQ (ignored):
 * read <type> <key str> <value>       the value in DUMP's encoding (cmd_dump.c — one encoder and
 * one decoder per type for both): written as STRING 0, LIST 1, SET 2, HASH 4, ZSET_2 5,
 * STREAM_LISTPACKS_2 19; read also every compact form Redis 7.0 writes (intset, listpacks,
 *                                    quicklist 2, ziplists of older versions, LZF strings)
 *   0xFF                             EOF
 *   <u64 LE>                         CRC64 (Jones, bndr_crc64) of every byte before it (version
 *                                    >= 5; 0 means "not computed", Redis' rdbchecksum no)
 *
 * Invariants: the loader verifies the magic, version and CRC over the whole file before it
 * touches the dataset, so a corrupted file is refused as a whole; a record that is malformed
 * anyway (or a module value, a pre-release FUNCTION record, a duplicate key, an unknown type)
 * refuses the file with its offset, never a crash — fuzz/bunder_rdb feeds it arbitrary files.
 * Keys past their deadline are skipped on load, as Redis does on a master. Strings are written
 * without LZF compression (Redis' rdbcompression only saves space; redis-server loads either).
 * The writer goes through a 64 KiB buffer per batch of keys, the CRC running over what it wrote. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_log.h"
#include "bndr.h"

#define RDB_VERSION 10
enum {
    OP_FUNCTION2 = 245,
    OP_FUNCTION_PRE_GA = 246,
    OP_MODULE_AUX = 247,
    OP_IDLE = 248,
    OP_FREQ = 249,
    OP_AUX = 250,
    OP_RESIZEDB = 251,
    OP_EXPIRETIME_MS = 252,
    OP_EXPIRETIME = 253,
    OP_SELECTDB = 254,
    OP_EOF = 255,
    TYPE_MODULE = 6,
    TYPE_MODULE_2 = 7,
};

/* ---------------------------------------------------------------- writer */
struct out {
    FILE *f;
    uint64_t crc;
    int err;
    struct bndr_buf b;
};

static void out_flush(struct out *o)
{
    if (!o->b.len) return;
    if (!o->err && fwrite(o->b.p, 1, o->b.len, o->f) != o->b.len) o->err = 1;
    o->crc = bndr_crc64(o->crc, o->b.p, o->b.len);
    o->b.len = 0;
}

static void out_op(struct out *o, unsigned char op)
{
    bndr_buf_add(&o->b, &op, 1);
}

static void out_aux(struct out *o, const char *k, const char *v)
{
    out_op(o, OP_AUX);
    bndr_rdb_write_str(&o->b, k, strlen(k));
    bndr_rdb_write_str(&o->b, v, strlen(v));
}

static int out_function(void *arg, const char *code, size_t n)
{
    struct out *o = arg;
    out_op(o, OP_FUNCTION2);
    bndr_rdb_write_str(&o->b, code, n);
    out_flush(o);
    return 0;
}

int bndr_rdb_write(struct bndr_server *s, FILE *f)
{
    struct out o = {.f = f};
    char v[32];
    bndr_buf_add(&o.b, "REDIS0010", 9);
    out_aux(&o, "redis-ver", "7.0.15");
    out_aux(&o, "redis-bits", sizeof(void *) == 8 ? "64" : "32");
    snprintf(v, sizeof v, "%llu", (unsigned long long)(bndr_mstime() / 1000));
    out_aux(&o, "ctime", v);
    snprintf(v, sizeof v, "%zu", bndr_used_memory());
    out_aux(&o, "used-mem", v);
    out_aux(&o, "aof-base", "0");
    bndr_functions_each(out_function, &o);
    for (int id = 0; id < s->ndb && !o.err; id++) {
        struct bndr_db *db = bndr_db_get(s, id);
        if (db->keys.n == 0) continue;
        out_op(&o, OP_SELECTDB);
        bndr_rdb_write_len(&o.b, (uint64_t)id);
        out_op(&o, OP_RESIZEDB);
        bndr_rdb_write_len(&o.b, db->keys.n);
        bndr_rdb_write_len(&o.b, db->xn);
        BNDR_DICT_FOREACH(&db->keys, e)
        {
            struct bndr_obj *ob = e->v.p;
            int64_t when = bndr_db_expire(db, ob);
            if (when) {
                unsigned char t[9] = {OP_EXPIRETIME_MS};
                for (int i = 0; i < 8; i++)
                    t[1 + i] = (unsigned char)((uint64_t)when >> (8 * i));
                bndr_buf_add(&o.b, t, 9);
            }
            if (bndr_rdb_write_value(&o.b, ob, e->key, e->klen) < 0) o.err = 1;
            if (o.b.len >= (1 << 16)) out_flush(&o);
        }
    }
    out_op(&o, OP_EOF);
    out_flush(&o);
    unsigned char t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (unsigned char)(o.crc >> (8 * i));
    if (!o.err && fwrite(t, 1, 8, f) != 8) o.err = 1;
    bndr_free(o.b.p);
    return o.err ? -1 : 0;
}

/* ---------------------------------------------------------------- loader */
static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Skips one string (AUX fields); -1 if malformed. */
static int skip_str(struct bndr_rdb_rd *r)
{
    const char *s;
    size_t n;
    char *own, ib[24];
    if (bndr_rdb_read_str(r, &s, &n, &own, ib) < 0) return -1;
    bndr_free(own);
    return 0;
}

int bndr_rdb_load(struct bndr_server *s, const unsigned char *buf, size_t n, const char **why)
{
    static char reason[160];
    int ver = 0;
    *why = "bad magic or too short";
    if (n < 9 + 1 || memcmp(buf, "REDIS", 5) != 0) return -1;
    for (int i = 5; i < 9; i++) {
        if (buf[i] < '0' || buf[i] > '9') return -1;
        ver = ver * 10 + (buf[i] - '0');
    }
    if (ver < 1 || ver > 11) {
        snprintf(reason, sizeof reason, "unsupported RDB version %d (1 to 11 load)", ver);
        *why = reason;
        return -1;
    }
    size_t end = n;
    if (ver >= 5) {
        if (n < 9 + 1 + 8) {
            *why = "truncated";
            return -1;
        }
        end = n - 8;
        uint64_t want = le(buf + end, 8);
        if (want != 0 && bndr_crc64(0, buf, end) != want) {
            *why = "checksum mismatch";
            return -1;
        }
    }
    struct bndr_rdb_rd r = {buf, end, 9, (size_t)s->cfg.proto_max_bulk_len};
    struct bndr_db *db = bndr_db_get(s, 0);
    int64_t expire = -1;
    long long idle = -1;
    uint64_t now = bndr_mstime(), loaded = 0, skipped = 0;
    const unsigned char *b;
    uint64_t len, len2;
    for (;;) {
        size_t at = r.off;
        if (bndr_rdb_read_bytes(&r, 1, &b) < 0) {
            *why = "truncated (no EOF marker)";
            return -1;
        }
        int type = b[0];
        const char *fail = NULL;
        switch (type) {
        case OP_EOF:
            bb_info("bunder", "rdb_loaded version=%d keys=%llu expired_skipped=%llu", ver,
                    (unsigned long long)loaded, (unsigned long long)skipped);
            *why = NULL;
            return 0;
        case OP_EXPIRETIME_MS:
            if (bndr_rdb_read_bytes(&r, 8, &b) < 0)
                fail = "truncated expire time";
            else
                expire = (int64_t)le(b, 8);
            break;
        case OP_EXPIRETIME:
            if (bndr_rdb_read_bytes(&r, 4, &b) < 0)
                fail = "truncated expire time";
            else
                expire = (int64_t)le(b, 4) * 1000;
            break;
        case OP_IDLE:
            if (bndr_rdb_read_len(&r, &len) < 0)
                fail = "bad IDLE record";
            else
                idle = len > UINT32_MAX ? UINT32_MAX : (long long)len;
            break;
        case OP_FREQ:
            if (bndr_rdb_read_bytes(&r, 1, &b) < 0) fail = "bad FREQ record";
            break;
        case OP_AUX:
            if (skip_str(&r) < 0 || skip_str(&r) < 0) fail = "bad AUX field";
            break;
        case OP_RESIZEDB:
            if (bndr_rdb_read_len(&r, &len) < 0 || bndr_rdb_read_len(&r, &len2) < 0)
                fail = "bad RESIZEDB record";
            break;
        case OP_SELECTDB:
            if (bndr_rdb_read_len(&r, &len) < 0)
                fail = "bad SELECTDB record";
            else if (len >= (uint64_t)s->ndb)
                fail = "database id out of range (see the databases setting)";
            else
                db = bndr_db_get(s, (int)len);
            break;
        case OP_FUNCTION2: {
            const char *code;
            size_t cl;
            char *own, ib[24], ferr[512];
            if (bndr_rdb_read_str(&r, &code, &cl, &own, ib) < 0) {
                fail = "bad function library";
                break;
            }
            if (bndr_function_load_code(code, cl, ferr, sizeof ferr) < 0) {
                snprintf(reason, sizeof reason, "function library refused: %.100s", ferr);
                fail = reason;
            }
            bndr_free(own);
            break;
        }
        case OP_FUNCTION_PRE_GA:
            fail = "function record of a pre-release Redis 7.0 (not supported)";
            break;
        case OP_MODULE_AUX:
        case TYPE_MODULE:
        case TYPE_MODULE_2:
            fail = "module data (bunder has no modules)";
            break;
        default: {
            const char *k;
            size_t kn;
            char *kown, kib[24];
            if (bndr_rdb_read_str(&r, &k, &kn, &kown, kib) < 0) {
                fail = "bad key";
                break;
            }
            struct bndr_obj *o = bndr_rdb_read_value(type, &r);
            if (!o) {
                snprintf(reason, sizeof reason, "unknown or malformed value of RDB type %d", type);
                fail = reason;
            } else if (bndr_db_find(db, k, kn)) {
                bndr_obj_free(o);
                fail = "duplicate key";
            } else if (expire != -1 && (uint64_t)expire <= now) {
                bndr_obj_free(o);
                skipped++;
            } else {
                struct bndr_de *e = bndr_db_add(db, k, kn, o);
                if (expire != -1) bndr_db_set_expire(db, e, expire);
                if (idle >= 0)
                    o->lru = (uint64_t)idle >= s->lruclock ? 0 : s->lruclock - (uint32_t)idle;
                loaded++;
            }
            bndr_free(kown);
            expire = -1;
            idle = -1;
        }
        }
        if (fail) {
            static char msg[200];
            snprintf(msg, sizeof msg, "%.150s at offset %zu", fail, at);
            *why = msg;
            return -1;
        }
    }
}
