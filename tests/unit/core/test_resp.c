/* bb_resp: the one RESP request parser — multibulk and inline (quotes, escapes), incremental
 * resumption across reads, every bound with its error class, and a caller's allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_resp.h"

static const struct bb_resp_limits LIM = {.max_bulk = 64, .max_args = 4, .max_inline = 32};

static int parse(struct bb_resp_parser *p, const char *in, size_t n, size_t *pos, const char **err)
{
    size_t need;
    return bb_resp_parse(p, in, n, pos, &LIM, &need, err);
}

static void test_multibulk_incremental(void **state)
{
    (void)state;
    struct bb_resp_parser p;
    bb_resp_parser_init(&p, NULL, NULL);
    const char *in = "*2\r\n$3\r\nGET\r\n$5\r\nk\r\n y\r\n*1\r\n$4\r\nPING\r\n";
    size_t n = strlen(in), pos = 0;
    const char *err;
    /* one byte at a time: more until the last byte of the first command */
    size_t first = (size_t)(strstr(in, "*1") - in);
    for (size_t i = 1; i < first; i++) assert_int_equal(parse(&p, in, i, &pos, &err), BB_RESP_MORE);
    assert_int_equal(parse(&p, in, first, &pos, &err), BB_RESP_OK);
    assert_int_equal(pos, first);
    const char *argv[4];
    size_t lens[4];
    assert_int_equal(p.argc, 2);
    bb_resp_parser_args(&p, in, argv, lens);
    assert_int_equal(lens[1], 5);
    assert_memory_equal(argv[1], "k\r\n y", 5); /* binary-safe */
    assert_int_equal(parse(&p, in, n, &pos, &err), BB_RESP_OK);
    assert_int_equal(p.argc, 1);
    assert_int_equal(pos, n);
    assert_int_equal(parse(&p, in, n, &pos, &err), BB_RESP_MORE);
    bb_resp_parser_release(&p);
}

static void test_inline(void **state)
{
    (void)state;
    struct bb_resp_parser p;
    bb_resp_parser_init(&p, NULL, NULL);
    const char *in = "SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n";
    size_t pos = 0;
    const char *err;
    assert_int_equal(parse(&p, in, strlen(in), &pos, &err), BB_RESP_OK);
    assert_int_equal(pos, strlen(in));
    assert_int_equal(p.argc, 4);
    const char *argv[4];
    size_t lens[4];
    bb_resp_parser_args(&p, in, argv, lens);
    assert_memory_equal(argv[1], "a b", 3);
    assert_memory_equal(argv[2], "c'd", 3);
    assert_int_equal(lens[3], 2);
    assert_memory_equal(argv[3], "A\n", 2);
    pos = 0;
    assert_int_equal(parse(&p, "GET \"x\n", 7, &pos, &err), BB_EPROTO);
    assert_string_equal(err, "ERR Protocol error: unbalanced quotes in request");
    bb_resp_parser_release(&p);
}

static void test_bounds(void **state)
{
    (void)state;
    struct bb_resp_parser p;
    bb_resp_parser_init(&p, NULL, NULL);
    size_t pos;
    const char *err;
    struct {
        const char *in;
        int rc;
        const char *err;
    } cases[] = {
        {"*5\r\n", BB_ETOOBIG, "ERR Protocol error: invalid multibulk length"},
        {"*1\r\n$65\r\n", BB_ETOOBIG, "ERR Protocol error: invalid bulk length"},
        {"a b c d e\n", BB_ETOOBIG, "ERR Protocol error: invalid multibulk length"},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", BB_ETOOBIG,
         "ERR Protocol error: too big inline request"},
        {"*x\r\n", BB_EPROTO, "ERR Protocol error: invalid multibulk length"},
        {"*+1\r\n", BB_EPROTO, "ERR Protocol error: invalid multibulk length"},
        {"*99999999999999999999\r\n", BB_EPROTO, "ERR Protocol error: invalid multibulk length"},
        {"*1\r\n$-1\r\n", BB_EPROTO, "ERR Protocol error: invalid bulk length"},
        {"*1\r\n+OK\r\n", BB_EPROTO, "ERR Protocol error: expected '$', got '+'"},
        {"*1\r\n$2\r\nabc\r\n", BB_EPROTO, "ERR Protocol error: bulk not followed by CRLF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bb_resp_parser_reset(&p);
        pos = 0;
        err = NULL;
        int rc = parse(&p, cases[i].in, strlen(cases[i].in), &pos, &err);
        if (rc != cases[i].rc) fail_msg("%s: rc %d", cases[i].in, rc);
        assert_string_equal(err, cases[i].err);
    }
    /* "*0" and "*-1" are empty commands, an empty line an empty inline command */
    bb_resp_parser_reset(&p);
    pos = 0;
    assert_int_equal(parse(&p, "*0\r\n*-1\r\n\r\n", 11, &pos, &err), BB_RESP_OK);
    assert_int_equal(p.argc, 0);
    assert_int_equal(parse(&p, "*0\r\n*-1\r\n\r\n", 11, &pos, &err), BB_RESP_OK);
    assert_int_equal(parse(&p, "*0\r\n*-1\r\n\r\n", 11, &pos, &err), BB_RESP_OK);
    assert_int_equal(p.argc, 0);
    assert_int_equal(pos, 11);
    bb_resp_parser_release(&p);
}

static size_t live;
static void *count_realloc(void *old, size_t n)
{
    if (!old) live++;
    return realloc(old, n);
}
static void count_free(void *ptr)
{
    live--;
    free(ptr);
}

static void test_allocator(void **state)
{
    (void)state;
    struct bb_resp_parser p;
    bb_resp_parser_init(&p, count_realloc, count_free);
    size_t pos = 0;
    const char *err;
    assert_int_equal(parse(&p, "PING x\n*1\r\n$1\r\na\r\n", 18, &pos, &err), BB_RESP_OK);
    assert_int_equal(parse(&p, "PING x\n*1\r\n$1\r\na\r\n", 18, &pos, &err), BB_RESP_OK);
    assert_true(live > 0);
    bb_resp_parser_release(&p);
    assert_int_equal(live, 0);
}

/* the encoder writes what the parser reads back */
static void test_command_roundtrip(void **state)
{
    (void)state;
    const char *argv[] = {"SET", "k\r\n", ""};
    size_t lens[] = {3, 3, 0}, len = 0;
    char *b = bb_resp_command(3, argv, lens, &len);
    assert_non_null(b);
    assert_int_equal(len, strlen("*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n"));
    assert_memory_equal(b, "*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n", len);
    struct bb_resp_parser p;
    bb_resp_parser_init(&p, NULL, NULL);
    size_t pos = 0;
    const char *err, *out[4];
    size_t ol[4];
    assert_int_equal(parse(&p, b, len, &pos, &err), BB_RESP_OK);
    assert_int_equal(pos, len);
    bb_resp_parser_args(&p, b, out, ol);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ol[i], lens[i]);
        assert_memory_equal(out[i], argv[i], lens[i]);
    }
    bb_resp_parser_release(&p);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk_incremental),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_allocator),
        cmocka_unit_test(test_command_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
