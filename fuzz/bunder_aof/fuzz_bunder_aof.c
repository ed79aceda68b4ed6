/* fuzz_bunder_aof.c — libFuzzer target for bunder's AOF loader (bndr_aof_load in src/bunder/aof.c),
 * the decoder that runs at every start of a project's process on a file on disk.
 *
 * The input is written as the AOF of a fresh bare server (bndr_server_new, small protocol limits)
 * and loaded; a torn tail is cut back, anything else malformed is refused — never a crash, a
 * leak or a hang. When the load succeeds, the loaded dataset is written back as an AOF (what
 * BGREWRITEAOF does) and that file must load into a second server with the same number of keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_log.h"
#include "bndr.h"

static char dir[64];

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_bunder_aof.XXXXXX");
        if (!mkdtemp(dir)) abort();
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1)); /* refusals are expected */
    }
    struct bunder_config cfg;
    bunder_config_default(&cfg);
    snprintf(cfg.dir, sizeof cfg.dir, "%s", dir);
    cfg.proto_max_bulk_len = 1 << 16;
    cfg.proto_max_multibulk_len = 1024;
    char path[128], path2[128];
    snprintf(path, sizeof path, "%s/appendonly.aof", dir);
    snprintf(path2, sizeof path2, "%s/rewrite.aof", dir);
    write_file(path, data, size);

    struct bndr_server *s = bndr_server_new(&cfg);
    int rc = bndr_aof_load(s, path);
    if (rc == 0) {
        uint64_t keys, again, x1, x2, x3, x4; /* every database */
        bndr_db_totals(s, &keys, &x1, &x2, &x3, &x4);
        FILE *f = fopen(path2, "wb");
        if (!f || bndr_aof_write_dataset(s, f) < 0) abort();
        fclose(f);
        bndr_server_free(s);
        s = bndr_server_new(&cfg);
        if (bndr_aof_load(s, path2) != 0) abort();
        bndr_db_totals(s, &again, &x1, &x2, &x3, &x4);
        if (again != keys) abort();
    }
    bndr_server_free(s);
    unlink(path);
    unlink(path2);
    return 0;
}
