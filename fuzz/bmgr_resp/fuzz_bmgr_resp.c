/* fuzz_bmgr_resp.c — libFuzzer target for bunder-manager's pre-AUTH RESP parser
 * (bmgr_resp_parse in src/bunder_manager/bmgr_proto.c: core's bb_resp parser under the pre-AUTH
 * bounds): the only parser anyone on the network reaches before authenticating on the public
 * Redis endpoint. (The parser alone: fuzz/bb_resp.)
 *
 * The input is consumed the way bmgr_relay.c's process_pre consumes a connection's buffer (at most
 * BMGR_PREAUTH_MAX bytes, one command at a time, the consumed prefix dropped). Checked: every
 * argument lies inside the parsed command, argc <= BMGR_PREAUTH_ARGS, consumed is within the
 * buffer and non-zero, a command never exceeds BMGR_PREAUTH_MAX bytes, and parsing is
 * incremental: every strict prefix of a complete command asks for more bytes (0) — a command
 * split across reads is never run early, nor refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bmgr_internal.h"
#include "bb_err.h"
#include "bb_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > BMGR_PREAUTH_MAX) size = BMGR_PREAUTH_MAX;
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t len = size;
    const char *argv[BMGR_PREAUTH_ARGS];
    size_t lens[BMGR_PREAUTH_ARGS];
    struct bb_resp_parser p, p2;
    bb_resp_parser_init(&p, NULL, NULL);
    bb_resp_parser_init(&p2, NULL, NULL);
    while (len > 0) {
        size_t consumed, argc;
        int r = bmgr_resp_parse(&p, buf, len, &consumed, argv, lens, &argc, NULL);
        if (r == 0 || r == BB_EPROTO || r == BB_ETOOBIG) break;
        if (r != 1 || consumed == 0 || consumed > len || consumed > BMGR_PREAUTH_MAX ||
            argc > BMGR_PREAUTH_ARGS)
            abort();
        for (size_t i = 0; i < argc; i++) /* inside the command, or unescaped into the parser */
            if (p.inline_mode ? argv[i] < p.inline_buf || argv[i] + lens[i] > p.inline_buf + consumed
                              : argv[i] < buf || argv[i] + lens[i] > buf + consumed)
                abort();
        /* a prefix never parses as a complete command of its own (it would be executed early) */
        for (size_t cut = consumed > 64 ? consumed - 64 : 0; cut < consumed; cut++) {
            size_t c2, a2;
            const char *v2[BMGR_PREAUTH_ARGS];
            size_t l2[BMGR_PREAUTH_ARGS];
            if (bmgr_resp_parse(&p2, buf, cut, &c2, v2, l2, &a2, NULL) != 0)
                abort(); /* a split read must neither run a command early nor drop the client */
        }
        memmove(buf, buf + consumed, len - consumed);
        len -= consumed;
    }
    bb_resp_parser_release(&p);
    bb_resp_parser_release(&p2);
    free(buf);
    return 0;
}
