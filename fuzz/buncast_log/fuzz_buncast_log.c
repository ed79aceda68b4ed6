/* fuzz_buncast_log.c — libFuzzer target for buncast's durable log segment decoder (bcast_log.c).
 *
 * Input: the bytes of one segment file ("BCSEG001" + records). Always: bcast_log_decode over the
 * input, with invariants — the valid prefix lies inside the input and is 0 or at least the magic;
 * decoding the valid prefix alone gives the same length and records (idempotent: what recovery
 * keeps is stable); records come with strictly increasing seqs, 26-byte ids and NUL-terminated
 * envelopes of the announced length; decoding "after" the first id yields exactly one record less.
 * When byte 8 (the first byte after the magic) is odd, the file-level path runs too: the input is
 * written as a segment of a topic directory and bcast_log_open recovers it (a corrupt tail is cut,
 * never a crash), after which the log must accept an append and scan it back.
 */
#include "bb_crypto.h"
#include "bb_err.h"
#include "bcast_log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int c)
{
    if (!c) abort();
}

struct seen {
    size_t n;
    uint64_t last_seq;
    char first_id[BCAST_ID_LEN + 1];
};

static void on_rec(void *arg, uint64_t seq, uint64_t time_ms, const char *id, const char *json,
                   size_t len)
{
    struct seen *s = arg;
    (void)time_ms;
    check(strlen(id) == BCAST_ID_LEN);
    check(json[len] == '\0');
    check(s->n == 0 || seq > s->last_seq);
    if (s->n == 0) memcpy(s->first_id, id, sizeof s->first_id);
    s->last_seq = seq;
    s->n++;
}

static void count_rec(void *arg, uint64_t seq, uint64_t time_ms, const char *id, const char *json,
                      size_t len)
{
    (void)seq, (void)time_ms, (void)id, (void)json, (void)len;
    (*(size_t *)arg)++;
}

static void file_level(const uint8_t *data, size_t size, size_t valid_records, uint64_t last_seq)
{
    char dir[] = "/tmp/fuzz-bcast-log-XXXXXX";
    if (!mkdtemp(dir)) return;
    struct bcast_log_opts o = {1u << 20, 1ull << 30, 0};
    struct bcast_log *l = NULL;
    /* first open creates the topic directory; close it, then plant the input as its segment */
    if (bcast_log_open(&l, dir, "fz.t", 4, &o, NULL, NULL) != 0) goto out;
    bcast_log_close(l);
    l = NULL;
    /* the topic directory is the first 32 hex digits of SHA-256(topic) (bcast_log.c) */
    uint8_t d[BB_SHA256_LEN];
    char hex[2 * BB_SHA256_LEN + 1];
    bb_sha256("fz.t", 4, d);
    bb_hex_encode(d, 16, hex, sizeof hex);
    char sub[400];
    snprintf(sub, sizeof sub, "%s/%s/", dir, hex);
    char seg[600];
    snprintf(seg, sizeof seg, "%s00000000000000000001.seg", sub);
    FILE *f = fopen(seg, "wb");
    if (!f) goto out;
    fwrite(data, 1, size, f);
    fclose(f);
    size_t replayed = 0;
    int rc = bcast_log_open(&l, dir, "fz.t", 4, &o, count_rec, &replayed);
    check(rc == 0 || rc == BB_EIO || rc == BB_ENOMEM);
    if (rc == 0 && last_seq == UINT64_MAX)
        bcast_log_close(l); /* no seq left to append */
    else if (rc == 0) {
        check(replayed == valid_records);
        /* recovered: usable */
        char id[BCAST_ID_LEN + 1] = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ";
        check(bcast_log_append(l, UINT64_MAX, 1, id, "{}", 2) == 0);
        size_t scanned = 0;
        check(bcast_log_scan(l, NULL, count_rec, &scanned) == 0);
        check(scanned == valid_records + 1);
        bcast_log_close(l);
    }
out:;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) { /* best effort */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t ls = 0;
    struct seen a = {0};
    struct bcast_log_tail tail = {0};
    size_t valid = bcast_log_decode(data, size, &ls, NULL, on_rec, &a, &tail);
    check(valid <= size);
    check(valid == 0 || valid >= 8);
    check(tail.records == a.n);
    check(a.n == 0 || ls == a.last_seq);
    /* idempotent on its own valid prefix */
    uint64_t ls2 = 0;
    struct seen b = {0};
    check(bcast_log_decode(data, valid, &ls2, NULL, on_rec, &b, NULL) == valid);
    check(b.n == a.n && ls2 == ls);
    /* "after" the first id: every later record (ids need not be ordered, so count those > it) */
    if (a.n) {
        uint64_t ls3 = 0;
        size_t after = 0;
        check(bcast_log_decode(data, size, &ls3, a.first_id, count_rec, &after, NULL) == valid);
        check(after < a.n);
    }
    /* a seq floor above everything: nothing is valid beyond the magic */
    uint64_t hi = UINT64_MAX;
    check(bcast_log_decode(data, size, &hi, NULL, NULL, NULL, NULL) == (valid ? 8u : 0u));
    if (size > 8 && (data[8] & 1)) file_level(data, size, a.n, ls);
    return 0;
}
