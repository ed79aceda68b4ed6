/* fuzz_rpc.c — libFuzzer target for the RPC frame decoder (bb_rpc_decoder).
 *
 * Input layout: byte 0 picks the feed chunk size (1..256, so frames straddle chunk boundaries in
 * every possible way), byte 1 picks a small max_frame (0 = the 16 MiB default, otherwise
 * 13 + byte*16); the rest is the byte stream as it would arrive on a socket. Checked invariants:
 * the decoder never consumes more than it was given, makes progress unless it reports a frame or
 * an error, every frame it reports is internally consistent and within max_frame, errors are
 * sticky, and a frame re-encoded with bb_rpc_frame_header decodes to the same frame.
 */
#include "bb_err.h"
#include "bb_rpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond) abort();
}

static void roundtrip(const struct bb_rpc_frame *fr, size_t max_frame)
{
    size_t total = BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN + fr->payload_len;
    uint8_t *buf = malloc(total);
    if (!buf) return;
    bb_rpc_frame_header(buf, fr->id, fr->code, (uint32_t)fr->payload_len);
    memcpy(buf + BB_RPC_PREFIX_LEN + BB_RPC_HEADER_LEN, fr->payload, fr->payload_len);
    struct bb_rpc_decoder d;
    struct bb_rpc_frame f2;
    size_t used;
    bb_rpc_decoder_init(&d, max_frame);
    check(bb_rpc_decoder_feed(&d, buf, total, &used, &f2) == 1);
    check(used == total);
    check(f2.id == fr->id && f2.code == fr->code && f2.payload_len == fr->payload_len);
    check(memcmp(f2.payload, fr->payload, fr->payload_len) == 0);
    bb_rpc_decoder_release(&d);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t chunk = (size_t)data[0] + 1;
    size_t max_frame = data[1] ? BB_RPC_MIN_FRAME + (size_t)data[1] * 16 : 0;
    data += 2;
    size -= 2;

    struct bb_rpc_decoder d;
    bb_rpc_decoder_init(&d, max_frame);
    size_t eff_max = d.max_frame;
    size_t off = 0;
    int err = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        const uint8_t *p = data + off;
        while (n > 0) {
            struct bb_rpc_frame fr;
            size_t used = 0;
            int r = bb_rpc_decoder_feed(&d, p, n, &used, &fr);
            check(used <= n);
            if (r < 0) {
                check(r == BB_ETOOBIG || r == BB_EPROTO || r == BB_ENOMEM);
                err = r;
                break;
            }
            if (r == 1) {
                check(fr.payload_len + BB_RPC_HEADER_LEN <= eff_max);
                check(fr.payload_len == 0 || fr.payload != NULL);
                check(bb_rpc_decoder_pending(&d) == 0);
                roundtrip(&fr, eff_max);
            } else {
                check(r == 0 && used == n);
            }
            p += used;
            n -= used;
            off += used;
        }
        if (err) break;
    }
    if (err) {
        struct bb_rpc_frame fr;
        size_t used = 1;
        uint8_t z = 0;
        check(bb_rpc_decoder_feed(&d, &z, 1, &used, &fr) == err); /* sticky */
        check(used == 0);
    }
    bb_rpc_decoder_release(&d);
    return 0;
}
