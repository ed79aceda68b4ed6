/* fuzz_buncast.c — libFuzzer target for the buncast IPC parser: the frame decoder as the server
 * runs it (bb_rpc_decoder over arbitrary chunking) followed by the request-payload decoder and the
 * name validators on every frame (Auth included), plus the client-side MESSAGE/RESET decoder.
 *
 * Input: byte 0 = feed chunk size - 1; byte 1 = small max_frame selector (0: 16 MiB default, else
 * 13 + 16*byte); the rest is the byte stream. Invariants: decoded slices lie inside the payload and
 * add up to it exactly; a decoded request re-encodes to the same bytes; names accepted as topics
 * are also accepted as patterns; a topic always matches itself.
 */
#include "bb_err.h"
#include "bb_rpc.h"
#include "bcast_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int c)
{
    if (!c) abort();
}

static int inside(const struct bcast_slice *s, const uint8_t *p, size_t n)
{
    return s->n == 0 || ((const uint8_t *)s->p >= p && (const uint8_t *)s->p + s->n <= p + n);
}

static void on_frame(const struct bb_rpc_frame *f)
{
    struct bcast_req r;
    int rc = bcast_req_decode(f->code, f->payload, f->payload_len, &r);
    check(rc == 0 || rc == BB_EINVAL || rc == BB_EPROTO);
    if (rc == 0) {
        check(inside(&r.topic, f->payload, f->payload_len));
        check(inside(&r.body, f->payload, f->payload_len));
        check(inside(&r.type, f->payload, f->payload_len));
        check(inside(&r.source, f->payload, f->payload_len));
        check(inside(&r.resume, f->payload, f->payload_len));
        int wild = 0;
        if (r.topic.n && bcast_topic_valid(r.topic.p, r.topic.n)) {
            check(bcast_pattern_valid(r.topic.p, r.topic.n, &wild) && !wild);
            check(bcast_match(r.topic.p, r.topic.n, r.topic.p, r.topic.n));
        }
        if (f->code == BCAST_CMD_AUTH) /* the token is the whole payload, 1..1024 bytes */
            check(r.body.n == f->payload_len && r.body.n >= 1 && r.body.n <= BCAST_MAX_TOKEN);
        if (f->code == BCAST_CMD_PUBLISH && r.type.n == 0 && r.source.n == 0 &&
            f->payload_len == 6 + r.topic.n + r.body.n) {
            uint8_t *buf = malloc(f->payload_len + 1);
            if (buf) {
                size_t n = bcast_put_publish(buf, f->payload_len, r.topic.p, r.topic.n, r.body.p,
                                             r.body.n, NULL, NULL);
                check(n == f->payload_len && memcmp(buf, f->payload, n) == 0);
                free(buf);
            }
        }
        if (r.topic.n > 2) {
            size_t half = r.topic.n / 2;
            if (bcast_pattern_valid(r.topic.p, half, &wild) && bcast_topic_valid(r.topic.p, r.topic.n))
                (void)bcast_match(r.topic.p, half, r.topic.p, r.topic.n);
        }
    }
    struct bcast_msg m;
    rc = bcast_msg_decode(f->code & 1 ? BCAST_ST_RESET : BCAST_ST_MESSAGE, f->payload,
                          f->payload_len, &m);
    check(rc == 0 || rc == BB_EPROTO);
    if (rc == 0) {
        check(inside(&m.topic, f->payload, f->payload_len));
        check(inside(&m.body, f->payload, f->payload_len));
        check(inside(&m.id, f->payload, f->payload_len));
    }
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
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t used = 0;
        struct bb_rpc_frame f;
        int rc = bb_rpc_decoder_feed(&d, data + off, n, &used, &f);
        check(used <= n);
        if (rc < 0) break;
        if (rc == 1) on_frame(&f);
        off += used;
        if (rc == 0 && used == 0) break;
    }
    bb_rpc_decoder_release(&d);
    return 0;
}
