/* bcast_log.c — segmented append-only log of one durable topic.
 *
 * LAYOUT ON DISK
 *   <log_dir>/<h>/            h = first 32 hex digits of SHA-256(topic name)
 *   <log_dir>/<h>/topic       the topic name, exactly (no newline)
 *   <log_dir>/<h>/floor       optional: 26-byte id of the newest event ever deleted by retention
 *                             or DeleteTopic (written to floor.tmp, fsync'ed, renamed)
 *   <log_dir>/<h>/<seq>.seg   segments; <seq> = 20 decimal digits, the seq of the first record
 *
 * SEGMENT FILE (all integers little-endian)
 *   offset 0, 8 bytes   magic "BCSEG001"
 *   then records, back to back:
 *     size  field
 *        4  body_len   u32: bytes of the body that follows (= 21 + idn + jlen)
 *        8  seq        u64: per-topic sequence number, strictly increasing across segments
 *        8  time_ms    u64: publish time, Unix ms
 *        1  idn        u8: length of the id (26)
 *      idn  id         event id (ULID text)
 *        4  jlen       u32: length of the envelope
 *     jlen  json       the CloudEvents envelope exactly as delivered
 *        4  crc        u32: CRC-32 (IEEE, as zlib) of the body (seq .. json)
 *
 * INVARIANTS AND RECOVERY: a record is valid when its body_len fits in the file, its inner
 * lengths add up to body_len, its crc matches and its seq is greater than the previous one. A
 * record is written (write(2), O_APPEND) before the publish is acknowledged and fdatasync'ed by the
 * broker's tick (once a second) and on every segment roll, so a process crash loses nothing
 * acknowledged and an OS crash at most the last second. On open every segment is read; the first
 * invalid record and everything after it (including later segments) are cut off (ftruncate /
 * unlink) and logged.
 * A segment rolls when it exceeds segment_bytes; retention deletes whole segments from the oldest,
 * never the active one, while the total exceeds retention_bytes or the segment's newest record is
 * older than retention_ms.
 */
#include "bcast_log.h"

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "BCSEG001"
#define MAGIC_LEN 8u
#define REC_FIXED 17u /* seq + time + idn, before the id */

struct seg {
    uint64_t first_seq;
    uint64_t bytes;
    uint64_t last_time;
    char last_id[BCAST_ID_LEN + 1];
};

struct bcast_log {
    char dir[1200];
    struct bcast_log_opts o;
    struct seg *segs;
    size_t nsegs, cap;
    int fd; /* active (last) segment, O_APPEND */
    int dirty;
    int failed;
    uint64_t last_seq;
    char floor[BCAST_ID_LEN + 1];
};

static uint32_t crc_table[256];

static void crc_init(void)
{
    if (crc_table[1]) return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void seg_path(const struct bcast_log *l, uint64_t first, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%020llu.seg", l->dir, (unsigned long long)first);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return BB_EIO;
        }
        c += w, n -= (size_t)w;
    }
    return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? BB_ENOTFOUND : BB_EIO;
    struct stat st;
    int rc = BB_EIO;
    uint8_t *b = NULL;
    if (fstat(fd, &st) != 0) goto out;
    b = malloc((size_t)st.st_size + 1);
    if (!b) {
        rc = BB_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    *out = b;
    *len = got;
    b = NULL;
    rc = 0;
out:
    free(b);
    close(fd);
    return rc;
}

static int segs_push(struct bcast_log *l, uint64_t first)
{
    if (l->nsegs == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        struct seg *n = realloc(l->segs, nc * sizeof *n);
        if (!n) return BB_ENOMEM;
        l->segs = n, l->cap = nc;
    }
    struct seg *s = &l->segs[l->nsegs++];
    memset(s, 0, sizeof *s);
    s->first_seq = first;
    s->bytes = MAGIC_LEN;
    return 0;
}

size_t bcast_log_decode(const uint8_t *buf, size_t len, uint64_t *last_seq, const char *after,
                        bcast_log_cb cb, void *arg, struct bcast_log_tail *tail)
{
    crc_init();
    if (len < MAGIC_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0) return 0;
    size_t o = MAGIC_LEN;
    char id[BCAST_ID_LEN + 1];
    while (len - o >= 4) {
        size_t bl = bb_get_le32(buf + o);
        if (bl < REC_FIXED + 4 || len - o - 4 < bl + 4) break;
        const uint8_t *b = buf + o + 4;
        uint64_t seq = bb_get_le64(b), t = bb_get_le64(b + 8);
        size_t idn = b[16];
        if (idn != BCAST_ID_LEN || REC_FIXED + idn + 4 > bl) break;
        size_t jl = bb_get_le32(b + REC_FIXED + idn);
        if (REC_FIXED + idn + 4 + jl != bl) break;
        if (crc32_ieee(b, bl) != bb_get_le32(b + bl)) break;
        if (seq <= *last_seq) break;
        *last_seq = seq;
        memcpy(id, b + REC_FIXED, idn);
        id[idn] = '\0';
        if (tail) {
            tail->last_time = t;
            memcpy(tail->last_id, id, sizeof id);
            tail->records++;
        }
        if (cb && (!after || strcmp(id, after) > 0)) {
            /* the json is followed by the crc: copy to NUL-terminate */
            char *j = malloc(jl + 1);
            if (j) {
                memcpy(j, b + REC_FIXED + idn + 4, jl);
                j[jl] = '\0';
                cb(arg, seq, t, id, j, jl);
                free(j);
            }
        }
        o += 4 + bl + 4;
    }
    return o;
}

/* bcast_log_decode into a struct seg. */
static size_t parse_records(struct seg *s, const uint8_t *buf, size_t len, uint64_t *last_seq,
                            const char *after, bcast_log_cb cb, void *arg)
{
    struct bcast_log_tail tail = {0};
    size_t valid = bcast_log_decode(buf, len, last_seq, after, cb, arg, &tail);
    if (s && tail.records) {
        s->last_time = tail.last_time;
        memcpy(s->last_id, tail.last_id, sizeof s->last_id);
    }
    return valid;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int open_active(struct bcast_log *l)
{
    char path[1300];
    seg_path(l, l->segs[l->nsegs - 1].first_seq, path, sizeof path);
    l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (l->fd < 0) return BB_EIO;
    struct stat st;
    if (fstat(l->fd, &st) != 0) return BB_EIO;
    if (st.st_size == 0) {
        if (write_all(l->fd, MAGIC, MAGIC_LEN) != 0) return BB_EIO;
        l->dirty = 1;
    }
    return 0;
}

static void topic_dir(const char *base, const char *topic, size_t tn, char *buf, size_t cap)
{
    uint8_t d[BB_SHA256_LEN];
    char hex[2 * BB_SHA256_LEN + 1];
    bb_sha256(topic, tn, d);
    bb_hex_encode(d, 16, hex, sizeof hex);
    snprintf(buf, cap, "%s/%s", base, hex);
}

int bcast_log_open(struct bcast_log **out, const char *dir, const char *topic, size_t tn,
                   const struct bcast_log_opts *o, bcast_log_cb cb, void *arg)
{
    crc_init();
    int rc = BB_ENOMEM;
    uint64_t *firsts = NULL;
    size_t nf = 0, fcap = 0;
    DIR *d = NULL;
    struct bcast_log *l = calloc(1, sizeof *l);
    if (!l) return BB_ENOMEM;
    l->fd = -1;
    l->o = *o;
    topic_dir(dir, topic, tn, l->dir, sizeof l->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = BB_EIO;
        goto out;
    }
    if (mkdir(l->dir, 0700) != 0 && errno != EEXIST) {
        rc = BB_EIO;
        goto out;
    }
    char path[1300];
    snprintf(path, sizeof path, "%s/topic", l->dir);
    {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || write_all(fd, topic, tn) != 0) {
            if (fd >= 0) close(fd);
            rc = BB_EIO;
            goto out;
        }
        close(fd);
    }
    snprintf(path, sizeof path, "%s/floor", l->dir);
    {
        uint8_t *fb = NULL;
        size_t fl = 0;
        if (read_file(path, &fb, &fl) == 0) {
            if (fl == BCAST_ID_LEN) memcpy(l->floor, fb, fl);
            free(fb);
        }
    }
    d = opendir(l->dir);
    if (!d) {
        rc = BB_EIO;
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n != 24 || strcmp(e->d_name + 20, ".seg") != 0) continue;
        uint64_t v = 0;
        int ok = 1;
        for (int i = 0; i < 20; i++) {
            if (e->d_name[i] < '0' || e->d_name[i] > '9') ok = 0;
            else v = v * 10 + (uint64_t)(e->d_name[i] - '0');
        }
        if (!ok) continue;
        if (nf == fcap) {
            size_t nc = fcap ? fcap * 2 : 16;
            uint64_t *nfs = realloc(firsts, nc * sizeof *nfs);
            if (!nfs) goto out;
            firsts = nfs, fcap = nc;
        }
        firsts[nf++] = v;
    }
    if (nf) qsort(firsts, nf, sizeof *firsts, cmp_u64);
    for (size_t i = 0; i < nf; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        seg_path(l, firsts[i], path, sizeof path);
        if ((rc = read_file(path, &buf, &len)) != 0) goto out;
        if ((rc = segs_push(l, firsts[i])) != 0) {
            free(buf);
            goto out;
        }
        struct seg *s = &l->segs[l->nsegs - 1];
        size_t valid = parse_records(s, buf, len, &l->last_seq, NULL, cb, arg);
        free(buf);
        if (valid < len || valid < MAGIC_LEN) {
            bb_warn("buncast", "log_truncated path=%s valid=%zu size=%zu", path, valid, len);
            if (valid < MAGIC_LEN || truncate(path, (off_t)valid) != 0) {
                /* unreadable header: drop the segment file and everything after it */
                unlink(path);
                l->nsegs--;
                for (size_t k = i + 1; k < nf; k++) {
                    seg_path(l, firsts[k], path, sizeof path);
                    unlink(path);
                }
                break;
            }
            s->bytes = valid;
            for (size_t k = i + 1; k < nf; k++) { /* records after a cut are not trusted */
                seg_path(l, firsts[k], path, sizeof path);
                unlink(path);
            }
            break;
        }
        s->bytes = len;
    }
    if (l->nsegs == 0 && (rc = segs_push(l, l->last_seq + 1)) != 0) goto out;
    if ((rc = open_active(l)) != 0) goto out;
    *out = l;
    l = NULL;
    rc = 0;
out:
    if (d) closedir(d);
    free(firsts);
    if (l) bcast_log_close(l);
    return rc;
}

int bcast_log_append(struct bcast_log *l, uint64_t seq, uint64_t time_ms, const char *id,
                     const char *json, size_t len)
{
    if (l->failed) return BB_EIO;
    size_t idn = strlen(id);
    size_t bl = REC_FIXED + idn + 4 + len;
    if (len > UINT32_MAX - 64 || idn > 255) return BB_ETOOBIG;
    struct seg *s = &l->segs[l->nsegs - 1];
    if (s->bytes > MAGIC_LEN && s->bytes + bl + 8 > l->o.segment_bytes) {
        /* roll */
        if (fdatasync(l->fd) != 0) goto fail;
        close(l->fd);
        l->fd = -1;
        l->dirty = 0;
        if (segs_push(l, seq) != 0 || open_active(l) != 0) goto fail;
        s = &l->segs[l->nsegs - 1];
    }
    uint8_t *b = malloc(bl + 8);
    if (!b) return BB_ENOMEM;
    bb_put_le32(b, (uint32_t)bl);
    bb_put_le64(b + 4, seq);
    bb_put_le64(b + 12, time_ms);
    b[20] = (uint8_t)idn;
    memcpy(b + 21, id, idn);
    bb_put_le32(b + 21 + idn, (uint32_t)len);
    memcpy(b + 25 + idn, json, len);
    bb_put_le32(b + 4 + bl, crc32_ieee(b + 4, bl));
    int rc = write_all(l->fd, b, bl + 8);
    free(b);
    if (rc) goto fail;
    s->bytes += bl + 8;
    s->last_time = time_ms;
    snprintf(s->last_id, sizeof s->last_id, "%s", id);
    l->last_seq = seq;
    l->dirty = 1;
    return 0;
fail:
    bb_error("buncast", "log_append_failed dir=%s errno=%d", l->dir, errno);
    l->failed = 1;
    return BB_EIO;
}

int bcast_log_scan(struct bcast_log *l, const char *after_id, bcast_log_cb cb, void *arg)
{
    char path[1300];
    for (size_t i = 0; i < l->nsegs; i++) {
        if (after_id && l->segs[i].last_id[0] && strcmp(l->segs[i].last_id, after_id) <= 0)
            continue;
        uint8_t *buf = NULL;
        size_t len = 0;
        seg_path(l, l->segs[i].first_seq, path, sizeof path);
        int rc = read_file(path, &buf, &len);
        if (rc) return rc;
        uint64_t ls = 0;
        parse_records(NULL, buf, len, &ls, after_id, cb, arg);
        free(buf);
    }
    return 0;
}

void bcast_log_sync(struct bcast_log *l)
{
    if (l->dirty && l->fd >= 0 && !l->failed) {
        if (fdatasync(l->fd) != 0) {
            bb_error("buncast", "log_sync_failed dir=%s errno=%d", l->dir, errno);
            l->failed = 1;
        }
        l->dirty = 0;
    }
}

static void write_floor(struct bcast_log *l)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/floor", l->dir);
    if (bb_fs_write_atomic(path, l->floor, strlen(l->floor), 0600) != 0)
        bb_warn("buncast", "log_floor_write_failed dir=%s errno=%d", l->dir, errno);
}

void bcast_log_retain(struct bcast_log *l, uint64_t now_ms)
{
    uint64_t total = 0;
    for (size_t i = 0; i < l->nsegs; i++)
        total += l->segs[i].bytes;
    size_t drop = 0;
    while (drop + 1 < l->nsegs) {
        const struct seg *s = &l->segs[drop];
        int old = l->o.retention_ms && s->last_time && s->last_time + l->o.retention_ms < now_ms;
        if (total <= l->o.retention_bytes && !old) break;
        total -= s->bytes;
        drop++;
    }
    if (!drop) return;
    char path[1300];
    for (size_t i = 0; i < drop; i++) {
        seg_path(l, l->segs[i].first_seq, path, sizeof path);
        unlink(path);
        if (l->segs[i].last_id[0]) memcpy(l->floor, l->segs[i].last_id, sizeof l->floor);
    }
    memmove(l->segs, l->segs + drop, (l->nsegs - drop) * sizeof *l->segs);
    l->nsegs -= drop;
    write_floor(l);
}

const char *bcast_log_floor(const struct bcast_log *l)
{
    return l->floor;
}

int bcast_log_clear(struct bcast_log *l, const char *last_id)
{
    char path[1300];
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    for (size_t i = 0; i < l->nsegs; i++) {
        seg_path(l, l->segs[i].first_seq, path, sizeof path);
        unlink(path);
    }
    l->nsegs = 0;
    if (last_id && last_id[0]) snprintf(l->floor, sizeof l->floor, "%s", last_id);
    write_floor(l);
    int rc = segs_push(l, l->last_seq + 1);
    if (rc == 0) rc = open_active(l);
    if (rc) l->failed = 1;
    return rc;
}

void bcast_log_close(struct bcast_log *l)
{
    if (!l) return;
    bcast_log_sync(l);
    if (l->fd >= 0) close(l->fd);
    free(l->segs);
    free(l);
}

int bcast_log_list(const char *dir, void (*cb)(void *arg, const char *topic, size_t tn), void *arg)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : BB_EIO;
    struct dirent *e;
    char path[1300];
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 32) continue;
        snprintf(path, sizeof path, "%s/%s/topic", dir, e->d_name);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (read_file(path, &buf, &len) != 0) continue;
        if (bcast_topic_valid((const char *)buf, len)) cb(arg, (const char *)buf, len);
        free(buf);
    }
    closedir(d);
    return 0;
}
