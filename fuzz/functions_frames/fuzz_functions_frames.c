/* fuzz_functions_frames.c — libFuzzer target for what the functions service parses from a worker
 * (untrusted: the worker runs user code): RESPONSE payloads (fn_parse_response), the payload
 * readers (fn_rd_*), and the fetch allow-list's URL parsing (fn_fetch_allowed).
 *
 * Input: byte 0 picks the case (0 response, 1 allow-list: allow and URL split at the first NUL,
 * 2 a LOG/ERROR/FETCH-shaped walk with the readers); the rest is the payload. Invariants: a parsed
 * response never claims more bytes than it was given, its header count is bounded by the payload,
 * the readers never move past the end, everything is released. */
#include "fn_internal.h"
#include "fn_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        struct fn_call c;
        memset(&c, 0, sizeof c);
        if (fn_parse_response(&c, p, n) == 0) {
            check(c.resp_len <= n);
            check(c.nhdrs <= n / 8);
            check(c.status <= 65535);
            size_t hb = 0;
            for (size_t i = 0; i < c.nhdrs; i++)
                hb += strlen(c.hdr_names[i]) + strlen(c.hdr_values[i]);
            check(hb + c.resp_len <= n);
        }
        fn_call_release(&c);
        break;
    }
    case 1: {
        const uint8_t *z = memchr(p, 0, n);
        if (!z) break;
        char *allow = strndup((const char *)p, (size_t)(z - p));
        char *url = strndup((const char *)z + 1, n - (size_t)(z - p) - 1);
        if (allow && url) {
            int ok = fn_fetch_allowed(allow, url);
            check(ok == 0 || ok == 1);
            if (!allow[0]) check(ok == 0);
        }
        free(allow);
        free(url);
        break;
    }
    default: {
        struct fn_rd r = {p, n, 0, 0};
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        const uint8_t *s;
        size_t sl;
        while (!r.bad) {
            switch (r.off % 4) {
            case 0:
                fn_rd_u8(&r, &u8);
                break;
            case 1:
                fn_rd_u16(&r, &u16);
                break;
            case 2:
                fn_rd_u32(&r, &u32);
                break;
            default:
                if (fn_rd_str(&r, &s, &sl) == 0) check(s >= p && s + sl <= p + n);
            }
            check(r.off <= r.len);
        }
    }
    }
    return 0;
}
