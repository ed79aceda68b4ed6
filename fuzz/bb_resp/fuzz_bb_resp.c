/* fuzz_bb_resp.c — libFuzzer target for core's RESP request parser (src/core/bb_resp.c), the one
 * parser behind bunder's connections and AOF loading and bunder-manager's pre-AUTH endpoint.
 *
 * The first byte picks the read size (1..64) and whether the limits are tiny (so the limit paths
 * are reached); the rest is fed the way a server feeds a connection: in chunks, resuming from the
 * parser's saved position. Checked for every command: arguments lie inside the buffer (or, for
 * inline commands, inside the parser's unescape buffer), argc is within the limit, errors are
 * BB_EPROTO/BB_ETOOBIG with a Redis-worded text, and the parse is incremental: parsed again from
 * its start with a fresh parser, every strict prefix of the command answers BB_RESP_MORE (a
 * command split across reads never runs early) and the whole gives the same arguments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_resp.h"

#define MAXARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t chunk = (size_t)(data[0] % 64) + 1;
    struct bb_resp_limits lim = {4096, MAXARGS, 256};
    if (data[0] & 0x80) lim = (struct bb_resp_limits){16, 4, 16};
    data++;
    size--;
    struct bb_resp_parser p, q;
    bb_resp_parser_init(&p, NULL, NULL);
    bb_resp_parser_init(&q, NULL, NULL);
    char *buf = malloc(size + 1);
    size_t len = 0, pos = 0, cmd_begin = 0;
    const char *argv[MAXARGS + 1], *argv2[MAXARGS + 1];
    size_t lens[MAXARGS + 1], lens2[MAXARGS + 1];
    while (len < size) {
        size_t n = size - len < chunk ? size - len : chunk;
        memcpy(buf + len, data + len, n);
        len += n;
        for (;;) {
            size_t start = pos, need;
            if (p.reqtype == 0) cmd_begin = pos; /* idle: the next command starts here */
            const char *err = NULL;
            int r = bb_resp_parse(&p, buf, len, &pos, &lim, &need, &err);
            if (r == BB_RESP_MORE) break;
            if (r < 0) {
                if ((r != BB_EPROTO && r != BB_ETOOBIG) || !err ||
                    strncmp(err, "ERR Protocol error", 18) != 0)
                    abort();
                goto out;
            }
            if (r != BB_RESP_OK || (long long)p.argc > lim.max_args || pos <= start || pos > len)
                abort();
            bb_resp_parser_args(&p, buf, argv, lens);
            for (size_t i = 0; i < p.argc; i++) {
                if (lens[i] > 4096) abort();
                if (p.inline_mode ? argv[i] < p.inline_buf || argv[i] + lens[i] > p.inline_buf + len
                                  : argv[i] < buf || argv[i] + lens[i] > buf + pos)
                    abort();
            }
            /* the same command parsed in one go from a fresh parser, and its strict prefixes */
            size_t cmd_start = cmd_begin;
            size_t p2 = cmd_start, need2;
            const char *e2;
            bb_resp_parser_reset(&q);
            if (bb_resp_parse(&q, buf, pos, &p2, &lim, &need2, &e2) == BB_RESP_OK && p2 == pos) {
                if (q.argc != p.argc) abort();
                bb_resp_parser_args(&q, buf, argv2, lens2);
                for (size_t i = 0; i < q.argc; i++)
                    if (lens2[i] != lens[i] || memcmp(argv2[i], argv[i], lens[i]) != 0) abort();
                for (size_t cut = pos > cmd_start + 64 ? pos - 64 : cmd_start; cut < pos; cut++) {
                    size_t p3 = cmd_start;
                    bb_resp_parser_reset(&q);
                    if (bb_resp_parse(&q, buf, cut, &p3, &lim, &need2, &e2) == BB_RESP_OK) abort();
                }
            }
        }
    }
out:
    bb_resp_parser_release(&p);
    bb_resp_parser_release(&q);
    free(buf);
    return 0;
}
