/* fn_proto (src/functions/fn_proto.c): the worker frames — the layout documented in
 * docs/internals/functions.md byte for byte, round trips with binary strings, and a reader that
 * never reads past a short or lying payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fn_proto.h"

/* The INVOKE example of docs/internals/functions.md. */
static void test_documented_invoke(void **state)
{
    (void)state;
    struct fn_buf b = {0};
    fn_buf_begin(&b, FN_FRAME_INVOKE);
    fn_buf_u32(&b, 1000);
    fn_buf_str(&b, "A", 1);
    fn_buf_str(&b, "GET", 3);
    fn_buf_str(&b, "/v1/functions/hi", 16);
    fn_buf_u32(&b, 0);
    fn_buf_str(&b, "", 0);
    assert_int_equal(fn_buf_finish(&b), 0);
    static const uint8_t want[] = {
        0x2d, 0,   0,   0,   0x01, 0xe8, 0x03, 0, 0,   1,   0,   0,   0,   'A', 3,   0,   0,
        0,    'G', 'E', 'T', 0x10, 0,    0,    0, '/', 'v', '1', '/', 'f', 'u', 'n', 'c', 't',
        'i',  'o', 'n', 's', '/',  'h',  'i',  0, 0,   0,   0,   0,   0,   0,   0};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.p, want, sizeof want);
    fn_buf_release(&b);
}

static void test_round_trip_binary(void **state)
{
    (void)state;
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 7);
    struct fn_buf b = {0};
    fn_buf_begin(&b, FN_FRAME_RESPONSE);
    fn_buf_u16(&b, 418);
    fn_buf_u32(&b, 1);
    fn_buf_str(&b, "set-cookie", 10);
    fn_buf_str(&b, "a=\0b", 4); /* NUL inside: lengths, not terminators */
    fn_buf_str(&b, bin, sizeof bin);
    assert_int_equal(fn_buf_finish(&b), 0);
    assert_int_equal(b.p[4], FN_FRAME_RESPONSE);
    struct fn_rd r = {b.p + FN_FRAME_HDR, b.len - FN_FRAME_HDR, 0, 0};
    uint16_t st;
    uint32_t nh;
    const uint8_t *s;
    size_t n;
    assert_int_equal(fn_rd_u16(&r, &st), 0);
    assert_int_equal(st, 418);
    assert_int_equal(fn_rd_u32(&r, &nh), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(fn_rd_str(&r, &s, &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(fn_rd_str(&r, &s, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "a=\0b", 4);
    assert_int_equal(fn_rd_str(&r, &s, &n), 0);
    assert_int_equal(n, sizeof bin);
    assert_memory_equal(s, bin, sizeof bin);
    assert_int_equal(r.off, r.len);
    fn_buf_release(&b);
}

static void test_short_and_lying_payloads(void **state)
{
    (void)state;
    /* a str whose length says more than is there */
    static const uint8_t lie[] = {0xff, 0xff, 0xff, 0x7f, 'x', 'y'};
    struct fn_rd r = {lie, sizeof lie, 0, 0};
    const uint8_t *s;
    size_t n;
    assert_int_equal(fn_rd_str(&r, &s, &n), -1);
    assert_true(r.bad);
    uint8_t v8;
    assert_int_equal(fn_rd_u8(&r, &v8), -1); /* sticky */
    /* every truncation of a valid payload fails somewhere and never reads past it */
    struct fn_buf b = {0};
    fn_buf_begin(&b, FN_FRAME_LOG);
    fn_buf_u8(&b, 2);
    fn_buf_str(&b, "hello", 5);
    assert_int_equal(fn_buf_finish(&b), 0);
    for (size_t cut = 0; cut < b.len - FN_FRAME_HDR; cut++) {
        struct fn_rd t = {b.p + FN_FRAME_HDR, cut, 0, 0};
        uint8_t lvl;
        int rc = fn_rd_u8(&t, &lvl);
        if (rc == 0) rc = fn_rd_str(&t, &s, &n);
        assert_int_equal(rc, -1);
        assert_true(t.off <= cut);
    }
    fn_buf_release(&b);
}

static void test_io_over_socketpair(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint8_t out[1000], in[1000];
    memset(out, 0xab, sizeof out);
    assert_int_equal(fn_write_all(sv[0], out, sizeof out), 0);
    assert_int_equal(fn_read_all(sv[1], in, sizeof in), 0);
    assert_memory_equal(in, out, sizeof out);
    close(sv[0]);
    assert_int_equal(fn_read_all(sv[1], in, 1), 1); /* EOF */
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_invoke),
        cmocka_unit_test(test_round_trip_binary),
        cmocka_unit_test(test_short_and_lying_payloads),
        cmocka_unit_test(test_io_over_socketpair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
