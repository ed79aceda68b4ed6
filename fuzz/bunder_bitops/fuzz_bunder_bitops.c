/* fuzz_bunder_bitops.c — libFuzzer target for bunder's bit commands (src/bunder/cmd_bitmap.c):
 * SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO with arbitrary arguments.
 *
 * Each input line is one command: space-separated arguments, the first byte of the line picks the
 * command (so every line is a bit command), run on a bare server with proto-max-bulk-len 64kb so
 * offsets stay small. Never a crash, UB, a leak or a string beyond proto-max-bulk-len + 8 bytes;
 * the reply is always one well-formed RESP value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_log.h"
#include "bndr.h"
#include "../bunder_cmdfuzz.h"

static struct bndr_server *srv;
static struct bndr_client *cl;

static const char *const cmds[] = {"setbit", "getbit",   "bitcount",    "bitpos",
                                   "bitop",  "bitfield", "bitfield_ro", "set"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv) {
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1));
        struct bunder_config cfg;
        bunder_config_default(&cfg);
        snprintf(cfg.dir, sizeof cfg.dir, "/tmp");
        cfg.proto_max_bulk_len = 1 << 16;
        srv = bndr_server_new(&cfg);
        cl = bndr_client_fake(srv);
    }
    cmdfuzz_run(cl, cmds, 8, 32, data, size);
    BNDR_DICT_FOREACH(&srv->db.keys, e)
    {
        if (BNDR_DE_OBJ(e)->type == BNDR_STRING &&
            BNDR_DE_OBJ(e)->len > srv->cfg.proto_max_bulk_len + 8)
            abort();
    }
    bndr_db_flush(&srv->db);
    return 0;
}
