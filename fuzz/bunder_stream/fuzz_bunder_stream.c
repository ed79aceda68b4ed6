/* fuzz_bunder_stream.c — libFuzzer target for bunder's stream commands (src/bunder/cmd_stream.c):
 * XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XREAD, XREADGROUP, XACK, XPENDING, XCLAIM,
 * XAUTOCLAIM, XGROUP, XINFO, XSETID (and DEL, SET for type changes) with arbitrary arguments.
 *
 * Each input line is one command: space-separated arguments, the first byte of the line picks the
 * command (byte % 17 indexes cmds[]: '3' xadd, '4' xrange … '?' xgroup, '@' xinfo, 'A' xsetid). Run
 * on a bare server (a fake client: BLOCK never blocks). Never a crash, UB or a leak; the reply is
 * always one well-formed RESP value; after every input each stream survives the snapshot payload
 * round trip byte for byte (dump, restore, dump) and keeps its invariants. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_log.h"
#include "bndr.h"
#include "../bunder_cmdfuzz.h"

static struct bndr_server *srv;
static struct bndr_client *cl;

#define NCMDS 17
static const char *const cmds[NCMDS] = {
    "xadd",     "xrange", "xrevrange",  "xlen",   "xdel",  "xtrim",  "xread", "xreadgroup", "xack",
    "xpending", "xclaim", "xautoclaim", "xgroup", "xinfo", "xsetid", "del",   "xadd"};

static void check_streams(void)
{
    BNDR_DICT_FOREACH(&srv->db.keys, e)
    {
        struct bndr_obj *o = BNDR_DE_OBJ(e);
        if (o->type != BNDR_STREAM) continue;
        struct bndr_buf a = {0}, b = {0};
        bndr_stream_dump(o->u.x, &a);
        struct bndr_stream *r = bndr_stream_restore(a.p, a.len);
        if (!r) abort(); /* what we wrote must load */
        bndr_stream_dump(r, &b);
        if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) abort();
        bndr_stream_free(r);
        bndr_free(a.p);
        bndr_free(b.p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv) {
        bb_log_set_level((enum bb_log_level)(BB_LOG_ERROR + 1));
        struct bunder_config cfg;
        bunder_config_default(&cfg);
        snprintf(cfg.dir, sizeof cfg.dir, "/tmp");
        cfg.stream_node_max_entries = 5; /* small nodes: many node boundaries, trims, removals */
        cfg.stream_node_max_bytes = 256;
        srv = bndr_server_new(&cfg);
        cl = bndr_client_fake(srv);
    }
    cmdfuzz_run(cl, cmds, NCMDS, 48, data, size);
    check_streams();
    bndr_db_flush(&srv->db);
    return 0;
}
