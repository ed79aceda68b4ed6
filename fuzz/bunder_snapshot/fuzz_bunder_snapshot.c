/* fuzz_bunder_snapshot.c — libFuzzer target for bunder's snapshot loader (bndr_snapshot_load in
 * src/bunder/snapshot.c; format byte by byte at the top of that file).
 *
 * The first input byte picks the mode: odd — the rest is used as is (the CRC-32 in the last four
 * bytes must match, so mostly the "refused as a whole" path); even — the last four bytes are
 * replaced by the correct CRC-32 of the bytes before them, so the record decoder itself is
 * reached with arbitrary lengths, counts, types and scores. A file is loaded into a fresh bare
 * server; it must be refused or loaded — never a crash, a leak or a hang. A loaded dataset is
 * saved again (SAVE's writer) and must reload with the same number of keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_log.h"
#include "bndr.h"

static char dir[64];

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_bunder_snapshot.XXXXXX");
        if (!mkdtemp(dir)) abort();
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1)); /* refusals are expected */
    }
    int fix_crc = !(data[0] & 1);
    data++;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    if (fix_crc && size >= 4) {
        uint32_t c = crc32_ieee(buf, size - 4);
        for (int i = 0; i < 4; i++)
            buf[size - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
    }
    char path[128], path2[128];
    snprintf(path, sizeof path, "%s/dump.bdb", dir);
    snprintf(path2, sizeof path2, "%s/again.bdb", dir);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(buf, 1, size, f) != size)) abort();
    fclose(f);
    free(buf);

    struct bunder_config cfg;
    bunder_config_default(&cfg);
    snprintf(cfg.dir, sizeof cfg.dir, "%s", dir);
    struct bndr_server *s = bndr_server_new(&cfg);
    if (bndr_snapshot_load(s, path) == 0) {
        uint64_t keys, x1, x2, x3, x4, again;
        bndr_db_totals(s, &keys, &x1, &x2, &x3, &x4);
        if (bndr_snapshot_save(s, path2) != 0) abort();
        bndr_server_free(s);
        s = bndr_server_new(&cfg);
        /* keys whose deadline passed in between are skipped: never more keys */
        if (bndr_snapshot_load(s, path2) != 0) abort();
        bndr_db_totals(s, &again, &x1, &x2, &x3, &x4);
        if (again > keys) abort();
    }
    bndr_server_free(s);
    unlink(path);
    unlink(path2);
    return 0;
}
