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

static struct bndr_server *srv;
static struct bndr_client *cl;

static const char *const cmds[] = {"setbit", "getbit",   "bitcount",    "bitpos",
                                   "bitop",  "bitfield", "bitfield_ro", "set"};

/* Length of the RESP value at p (bounded by end), or 0 if malformed. */
static size_t resp_len(const char *p, const char *end, int depth)
{
    if (p >= end || depth > 8) return 0;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || nl[-1] != '\r') return 0;
    const char *q = nl + 1;
    long long n = strtoll(p + 1, NULL, 10);
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
    case '_':
        return (size_t)(q - p);
    case '$':
        if (n < 0) return (size_t)(q - p);
        if (end - q < n + 2) return 0;
        return (size_t)(q + n + 2 - p);
    case '*':
        if (n < 0) return (size_t)(q - p);
        for (long long i = 0; i < n; i++) {
            size_t l = resp_len(q, end, depth + 1);
            if (!l) return 0;
            q += l;
        }
        return (size_t)(q - p);
    }
    return 0;
}

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
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct bndr_arg a[32];
        int argc = 0;
        a[argc].p = (char *)cmds[(unsigned char)line[0] % 8];
        a[argc].n = strlen(a[argc].p);
        argc++;
        char *s2 = NULL;
        for (char *t = strtok_r(line + 1, " ", &s2); t && argc < 32; t = strtok_r(NULL, " ", &s2)) {
            a[argc].p = t;
            a[argc].n = strlen(t);
            argc++;
        }
        cl->out.len = 0;
        cl->argv = a;
        cl->argc = argc;
        bndr_process_command(cl);
        cl->argv = NULL;
        cl->argc = 0;
        if (resp_len(cl->out.p, cl->out.p + cl->out.len, 0) != cl->out.len)
            abort(); /* not exactly one RESP value */
    }
    BNDR_DICT_FOREACH(&srv->db.keys, e)
    {
        if (BNDR_DE_OBJ(e)->type == BNDR_STRING &&
            BNDR_DE_OBJ(e)->len > srv->cfg.proto_max_bulk_len + 8)
            abort();
    }
    bndr_db_flush(&srv->db);
    free(buf);
    return 0;
}
