/* fuzz_bunder_rdb.c — libFuzzer target for bunder's RDB file loader (bndr_rdb_load in
 * src/bunder/rdb.c, layout at the top of that file; the values go through cmd_dump.c's decoder):
 * a file in dbfilename may come from anywhere (a redis-server, a copy, a disk error), so every
 * malformed one must be refused with a reason — never a crash, a leak, an out-of-bounds read or an
 * unbounded allocation.
 *
 * The first input byte picks the mode: odd — the rest is the whole file as is (mostly the magic,
 * version and checksum refusals); even — the rest is the body after the header: "REDIS0010" is
 * put in front and a correct CRC64 after it, so the record and value decoders are reached. A
 * file that loads is saved again (SAVE's writer) and must reload with no more keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_log.h"
#include "bndr.h"

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 200000) return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_bunder_rdb.XXXXXX");
        if (!mkdtemp(dir)) abort();
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1)); /* refusals are expected */
    }
    int wrap = !(data[0] & 1);
    data++;
    size--;
    size_t n = wrap ? 9 + size + 8 : size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) abort();
    if (wrap) {
        memcpy(buf, "REDIS0010", 9);
        memcpy(buf + 9, data, size);
        uint64_t crc = bndr_crc64(0, buf, 9 + size);
        for (int i = 0; i < 8; i++)
            buf[9 + size + (size_t)i] = (uint8_t)(crc >> (8 * i));
    } else if (size) {
        memcpy(buf, data, size);
    }
    char path[128], path2[128];
    snprintf(path, sizeof path, "%s/dump.rdb", dir);
    snprintf(path2, sizeof path2, "%s/again.rdb", dir);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(buf, 1, n, f) != n)) abort();
    fclose(f);
    free(buf);

    struct bunder_config cfg;
    bunder_config_default(&cfg);
    snprintf(cfg.dir, sizeof cfg.dir, "%s", dir);
    cfg.proto_max_bulk_len = 1 << 20; /* bounds LZF output in the fuzzer */
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
