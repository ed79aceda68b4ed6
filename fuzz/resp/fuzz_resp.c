/* fuzz_resp.c — libFuzzer target for bunder's RESP request parser (resp.c).
 *
 * The input is fed to bndr_parse the way the server feeds a connection: in chunks (the first
 * byte picks the chunk size), resuming from the parser's saved position, with small limits so the
 * limit paths are exercised. Every parsed argument must lie inside the buffer. Parsed argument
 * pairs also drive the glob matcher (KEYS/SCAN MATCH patterns come from clients too). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bndr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)(data[0] % 64) + 1;
    data++;
    size--;
    struct bndr_limits lim = {4096, 64, 256, 1 << 20};
    struct bndr_parser p = {0};
    bndr_parser_reset(&p);
    char *buf = malloc(size + 1);
    size_t len = 0, pos = 0;
    struct bndr_arg args[65];
    while (len < size) {
        size_t n = size - len < chunk ? size - len : chunk;
        memcpy(buf + len, data + len, n);
        len += n;
        for (;;) {
            size_t need;
            const char *err = NULL;
            int r = bndr_parse(&p, buf, len, &pos, &lim, &need, &err);
            if (r == BNDR_PARSE_MORE)
                break;
            if (r == BNDR_PARSE_ERR) {
                if (!err || strncmp(err, "ERR Protocol error", 18) != 0)
                    abort();
                goto out;
            }
            if (p.argc > 64)
                abort();
            bndr_parser_args(&p, buf, args);
            for (size_t i = 0; i < p.argc; i++) {
                const char *base = p.inline_mode ? p.inline_buf : buf;
                if (args[i].p < base || args[i].n > 1u << 20)
                    abort();
                if (!p.inline_mode && (size_t)(args[i].p - buf) + args[i].n > len)
                    abort();
            }
            if (p.argc >= 2)
                (void)bndr_glob(args[0].p, args[0].n, args[1].p, args[1].n, p.argc > 2);
        }
    }
out:
    bndr_parser_release(&p);
    free(buf);
    return 0;
}
