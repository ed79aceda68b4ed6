/* Seed corpus generator for fuzz_bundoc_wal and fuzz_bundoc_page (not part of the build; run by
 * hand when the formats change):
 *   cc -Isrc/core -Isrc/bundoc fuzz/bundoc_wal/gen_corpus.c <build>/libbb_bundoc.a
 *      <build>/libbb_core.a -ljansson -lpcre2-8 -lcrypto -lpthread -o /tmp/gen && /tmp/gen
 * Builds real databases (a tiny one, and one with a multi-level tree and overflow values), copies
 * the WAL while the database is open (before the close-time checkpoint empties it) and data.db
 * after close, and writes each as a raw seed (mode 0) and as a repaired seed (mode 1: the
 * payloads, plus frame records for the WAL) into fuzz/bundoc_{wal,page}/corpus/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundoc.h"
#include "pager.h"

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(l > 0 ? (size_t)l : 1);
    if (fread(b, 1, (size_t)l, f) != (size_t)l) abort();
    fclose(f);
    *n = (size_t)l;
    return b;
}

static void out(const char *path, uint8_t mode, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputc(mode, f);
    fwrite(b, 1, n, f);
    fclose(f);
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void build(const char *name, int ndocs, int big)
{
    char dir[] = "/tmp/bdoc-gen-XXXXXX", path[256];
    if (!mkdtemp(dir)) abort();
    struct bdoc_options o;
    bdoc_options_init(&o);
    o.checkpoint_bytes = 1u << 30; /* keep everything in the WAL until close */
    struct bdoc_db *db = NULL;
    if (bdoc_open(dir, &o, &db)) abort();
    struct bdoc_txn *t = NULL;
    bdoc_begin(db, 0, &t);
    bdoc_collection_create(t, "todos");
    bdoc_collection_create(t, "notes");
    bdoc_commit(t);
    for (int i = 0; i < ndocs; i++) {
        bdoc_begin(db, 0, &t);
        char id[32];
        snprintf(id, sizeof id, "d%04d", i);
        json_t *d = json_pack("{s:s,s:i,s:f,s:b,s:n,s:[i,s],s:{s:s}}", "_id", id, "n", i, "x",
                              i / 3.0, "done", i % 2, "none", "tags", i, "t", "o", "k", "v");
        if (big && i % 10 == 0) {
            char *s = malloc(6000);
            memset(s, 'a' + i % 26, 5999);
            s[5999] = 0;
            json_object_set_new(d, "blob", json_string(s));
            free(s);
        }
        bdoc_insert(t, i % 3 ? "todos" : "notes", d, NULL);
        json_decref(d);
        if (i % 7 == 6) bdoc_delete(t, "todos", "d0001");
        bdoc_commit(t);
    }
    /* the WAL as it is now */
    size_t n = 0;
    snprintf(path, sizeof path, "%s/wal", dir);
    uint8_t *wal = slurp(path, &n);
    /* frames of the current salt only (the rest is preallocated zeros), at most 48 */
    size_t fs = 32 + BDOC_PAGE_SIZE, nf = 0;
    while (nf < 48 && 64 + (nf + 1) * fs <= n && !memcmp(wal + 64 + nf * fs + 8, wal + 16, 8))
        nf++;
    snprintf(path, sizeof path, "fuzz/bundoc_wal/corpus/%s_raw", name);
    out(path, 0, wal, 64 + nf * fs);
    /* repaired: records {pgno, flags, npages u16, payload} */
    uint8_t *rec = malloc(nf * (4 + BDOC_PAGE_PAYLOAD) + 1);
    size_t rl = 0;
    for (size_t i = 0; i < nf; i++) {
        const uint8_t *fh = wal + 64 + i * fs;
        uint32_t commit = get32(fh + 4);
        rec[rl++] = (uint8_t)get32(fh);
        rec[rl++] = commit ? 1 : 0;
        rec[rl++] = (uint8_t)commit;
        rec[rl++] = (uint8_t)(commit >> 8);
        memcpy(rec + rl, fh + 32 + BDOC_PAGE_HDR, BDOC_PAGE_PAYLOAD);
        rl += BDOC_PAGE_PAYLOAD;
    }
    snprintf(path, sizeof path, "fuzz/bundoc_wal/corpus/%s_repaired", name);
    out(path, 1, rec, rl);
    free(rec);
    free(wal);
    if (bdoc_close(db)) abort();
    snprintf(path, sizeof path, "%s/data.db", dir);
    uint8_t *data = slurp(path, &n);
    snprintf(path, sizeof path, "fuzz/bundoc_page/corpus/%s_raw", name);
    out(path, 0, data, n);
    size_t np = n / BDOC_PAGE_SIZE;
    uint8_t *pl = malloc(np * BDOC_PAGE_PAYLOAD + 1);
    for (size_t i = 0; i < np; i++)
        memcpy(pl + i * BDOC_PAGE_PAYLOAD, data + i * BDOC_PAGE_SIZE + BDOC_PAGE_HDR,
               BDOC_PAGE_PAYLOAD);
    snprintf(path, sizeof path, "fuzz/bundoc_page/corpus/%s_repaired", name);
    out(path, 1, pl, np * BDOC_PAGE_PAYLOAD);
    free(pl);
    free(data);
    printf("%s: wal %zu frames, data.db %zu pages\n", name, nf, np);
}

int main(void)
{
    build("tiny", 3, 0);
    build("tree", 40, 1);
    return 0;
}
