/* snapshot.c — point-in-time snapshot of the dataset (SAVE, BGSAVE, SHUTDOWN SAVE, DEBUG RELOAD),
 * loaded at start when appendonly is off (or when it is on but no AOF exists yet).
 *
 * Written as an RDB file, Redis 7.0's format (version 10, rdb.c), so redis-server loads it and
 * bunder loads redis-server's. A file starting with "REDIS" is loaded by rdb.c; one starting with
 * "BNDRSNP" is bunder's own earlier snapshot format, still loaded (never written any more) so data
 * directories of earlier versions keep working; its layout follows.
 *
 * Earlier format (dbfilename, default dump.bdb). All integers little-endian.
 *
 *   offset 0   8 bytes   magic "BNDRSNP3" ("BNDRSNP2", the same without database
 *                        selectors, and "BNDRSNP1", also without streams)
 *   offset 8   u64       creation time, unix ms
 *   then (v3) one record per FUNCTION library:
 *     u8   0xFD           function library
 *     u32  length, the library's code ("#!lua name=…"), loaded as FUNCTION LOAD REPLACE
 *   then, per non-empty database (v3):
 *     u8   0xFE           database selector
 *     u32  database id    the key records that follow belong to it (before any selector: 0);
 *                         an id >= the `databases` setting refuses the file
 *   and one record per key:
 *     u8   type           0 string, 1 list, 2 set, 3 sorted set, 4 hash, 5 stream (v2)
 *     i64  expire         absolute unix ms, 0 = no TTL
 *     u32  key length, key bytes
 *     payload:
 *       string   u32 length, bytes
 *       list     u64 count, count x (u32 length, bytes)          head to tail
 *       set      u64 count, count x (u32 length, bytes)
 *       zset     u64 count, count x (u32 length, member, f64 score (IEEE 754 bits))  by rank
 *       hash     u64 count, count x (u32 flen, field, u32 vlen, value)
 *       stream   u32 length, payload (bndr_stream_dump: layout at the top of cmd_stream.c)
 *   trailer:
 *     u8   0xFF           end marker
 *     u64  number of key records
 *     u32  CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320) of every byte before it
 *
 * Invariants (both formats): a loader verifies the CRC over the whole file before touching the
 * dataset, so a torn or corrupted snapshot is refused as a whole (the server does not start on a
 * half dataset). The file is written to <dbfilename>.temp-<pid>, fsynced, then rename(2)d over
 * dbfilename and the directory fsynced, so a crash leaves either the old or the new snapshot.
 * Keys already past their deadline are skipped on load, as are empty collections; a NaN score
 * refuses the file. fuzz/bunder_snapshot (earlier format) and fuzz/bunder_rdb (RDB) load random
 * files (with and without a valid CRC) through this.
 *
 * BGSAVE forks; the child writes the file from its copy-on-write view of the dataset and exits 0
 * on success; the parent keeps serving and learns the outcome from waitpid in the cron.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_log.h"
#include "bndr.h"

static uint32_t crc_table[256];

static void crc_init(void)
{
    if (crc_table[1])
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *s++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

int bndr_snapshot_save(struct bndr_server *s, const char *path)
{
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s.temp-%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        bb_error("bunder", "snapshot_failed path=%s errno=%d", tmp, errno);
        return -1;
    }
    static char iobuf[1 << 16];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    int rc = bndr_rdb_write(s, f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -1;
    fclose(f);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0) {
        bb_error("bunder", "snapshot_failed path=%s errno=%d", path, errno);
        unlink(tmp);
        return -1;
    }
    /* fsync the directory so the rename survives a crash */
    char dir[2100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

struct rd {
    const unsigned char *p;
    size_t n, pos;
    int err;
};

static const unsigned char *r(struct rd *o, size_t n)
{
    if (o->err || o->n - o->pos < n) {
        o->err = 1;
        return NULL;
    }
    const unsigned char *q = o->p + o->pos;
    o->pos += n;
    return q;
}

static uint64_t r_u(struct rd *o, int bytes)
{
    const unsigned char *q = r(o, (size_t)bytes);
    uint64_t v = 0;
    if (!q)
        return 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)q[i] << (8 * i);
    return v;
}

static const char *r_bytes(struct rd *o, uint32_t *len)
{
    *len = (uint32_t)r_u(o, 4);
    return (const char *)r(o, *len);
}

static int obj_empty(const struct bndr_obj *o)
{
    switch (o->type) {
    case BNDR_LIST: return o->u.l->n == 0;
    case BNDR_SET:
    case BNDR_HASH: return o->u.d->n == 0;
    case BNDR_ZSET: return o->u.z->length == 0;
    default: return 0;
    }
}

int bndr_snapshot_load(struct bndr_server *s, const char *path)
{
    crc_init();
    FILE *f = fopen(path, "rb");
    if (!f) {
        bb_error("bunder", "snapshot_load_failed path=%s errno=%d", path, errno);
        return -1;
    }
    struct stat st;
    fstat(fileno(f), &st);
    size_t n = (size_t)st.st_size;
    unsigned char *buf = bndr_malloc(n ? n : 1);
    if (n && fread(buf, 1, n, f) != n) {
        fclose(f);
        bndr_free(buf);
        return -1;
    }
    fclose(f);
    int rc = -1;
    const char *why = "truncated";
    if (n >= 5 && memcmp(buf, "REDIS", 5) == 0) {
        rc = bndr_rdb_load(s, buf, n, &why);
        goto out;
    }
    int version = n >= 8 && memcmp(buf, "BNDRSNP3", 8) == 0   ? 3
                  : n >= 8 && memcmp(buf, "BNDRSNP2", 8) == 0 ? 2
                                                              : 1;
    struct bndr_db *db = bndr_db_get(s, 0);
    if (n < 8 + 8 + 1 + 8 + 4 || (version == 1 && memcmp(buf, "BNDRSNP1", 8) != 0)) {
        why = "bad magic or too short";
        goto out;
    }
    uint32_t want = (uint32_t)buf[n - 4] | (uint32_t)buf[n - 3] << 8 |
                    (uint32_t)buf[n - 2] << 16 | (uint32_t)buf[n - 1] << 24;
    if (crc_update(0, buf, n - 4) != want) {
        why = "checksum mismatch";
        goto out;
    }
    struct rd o = {buf, n - 4, 16, 0};
    uint64_t now = bndr_mstime(), loaded = 0, records = 0;
    for (;;) {
        uint8_t type = (uint8_t)r_u(&o, 1);
        if (o.err)
            goto out;
        if (type == 0xFF)
            break;
        if (type == 0xFD && version >= 3) {
            uint32_t cl;
            const char *code = r_bytes(&o, &cl);
            char ferr[512];
            if (o.err || bndr_function_load_code(code, cl, ferr, sizeof ferr) < 0) {
                why = "bad function library";
                goto out;
            }
            continue;
        }
        if (type == 0xFE && version >= 3) {
            uint32_t id = (uint32_t)r_u(&o, 4);
            if (o.err || id >= (uint32_t)s->ndb) {
                why = "database id out of range (see the databases setting)";
                goto out;
            }
            db = bndr_db_get(s, (int)id);
            continue;
        }
        int64_t exp = (int64_t)r_u(&o, 8);
        uint32_t kl;
        const char *k = r_bytes(&o, &kl);
        if (o.err || type > (version >= 2 ? BNDR_STREAM : BNDR_HASH)) {
            why = "bad record";
            goto out;
        }
        struct bndr_obj *ob;
        if (type == BNDR_STRING) {
            uint32_t vl;
            const char *v = r_bytes(&o, &vl);
            if (o.err)
                goto out;
            ob = bndr_obj_string(v, vl);
        } else if (type == BNDR_STREAM) {
            uint32_t vl;
            const char *v = r_bytes(&o, &vl);
            struct bndr_stream *x = o.err ? NULL : bndr_stream_restore(v, vl);
            if (!x) {
                why = "bad stream record";
                goto out;
            }
            ob = bndr_obj_new(BNDR_STRING);
            ob->type = BNDR_STREAM;
            ob->u.x = x;
        } else {
            ob = bndr_obj_new(type);
            uint64_t cnt = r_u(&o, 8);
            for (uint64_t i = 0; i < cnt && !o.err; i++) {
                uint32_t ml;
                const char *m = r_bytes(&o, &ml);
                if (o.err)
                    break;
                if (type == BNDR_LIST) {
                    bndr_list_push(ob->u.l, bndr_str_new(m, ml), 0);
                } else if (type == BNDR_SET) {
                    bndr_dict_upsert(ob->u.d, m, ml, NULL);
                } else if (type == BNDR_HASH) {
                    uint32_t vl;
                    const char *v = r_bytes(&o, &vl);
                    if (o.err)
                        break;
                    int created;
                    struct bndr_de *e = bndr_dict_upsert(ob->u.d, m, ml, &created);
                    if (!created)
                        bndr_str_free(e->v.p);
                    e->v.p = bndr_str_new(v, vl);
                } else {
                    uint64_t bits = r_u(&o, 8);
                    double d;
                    memcpy(&d, &bits, 8);
                    if (isnan(d)) { /* no ordering: the skiplist's invariants would break */
                        o.err = 1;
                        break;
                    }
                    bndr_zset_set(ob->u.z, m, ml, d);
                }
            }
            if (o.err) {
                bndr_obj_free(ob);
                why = "bad record";
                goto out;
            }
        }
        records++;
        /* an empty list/set/hash/zset cannot exist (the last removal deletes the key): skip it,
         * as Redis does, rather than create one; expired keys are skipped too */
        if ((exp && (uint64_t)exp <= now) || obj_empty(ob)) {
            bndr_obj_free(ob);
            continue;
        }
        bndr_db_set(db, k, kl, ob, 0);
        if (exp)
            bndr_db_set_expire(db, bndr_db_find(db, k, kl), exp);
        loaded++;
    }
    if (r_u(&o, 8) != records || o.err) {
        why = "record count mismatch";
        goto out;
    }
    bb_info("bunder", "snapshot_loaded path=%s keys=%llu", path, (unsigned long long)loaded);
    rc = 0;
out:
    if (rc < 0)
        bb_error("bunder", "snapshot_load_failed path=%s reason=\"%s\"", path, why);
    bndr_free(buf);
    return rc;
}

static long long dirty_at_fork;

int bndr_snapshot_bgsave(struct bndr_server *s)
{
    char path[2048];
    bndr_path(s, s->cfg.dbfilename, path, sizeof path);
    pid_t pid = fork();
    if (pid < 0) {
        bb_error("bunder", "bgsave_fork_failed errno=%d", errno);
        return -1;
    }
    if (pid == 0)
        _exit(bndr_snapshot_save(s, path) == 0 ? 0 : 1);
    s->aof.save_pid = pid;
    dirty_at_fork = s->dirty;
    bb_info("bunder", "bgsave_started pid=%d", (int)pid);
    return 0;
}

void bndr_snapshot_child_done(struct bndr_server *s, pid_t pid, int ok)
{
    s->aof.save_pid = 0;
    s->last_bgsave_ok = ok;
    if (ok) {
        s->lastsave = bndr_mstime() / 1000;
        s->dirty -= dirty_at_fork;
        bb_info("bunder", "bgsave_done pid=%d", (int)pid);
    } else {
        bb_error("bunder", "bgsave_failed pid=%d", (int)pid);
    }
}
