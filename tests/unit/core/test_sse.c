/* SSE framing: ids, events, multi-line data (\n, \r\n, \r), empty data, invalid fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_sse.h"

static void check(const char *ev, const char *id, const char *data, const char *want)
{
    char *out;
    size_t n;
    assert_int_equal(bb_sse_format(ev, id, data, strlen(data), &out, &n), 0);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    free(out);
}

static void test_frames(void **state)
{
    (void)state;
    check(NULL, NULL, "x", "data: x\n\n");
    check("change", "42", "{\"a\":1}", "id: 42\nevent: change\ndata: {\"a\":1}\n\n");
    check(NULL, NULL, "a\nb\nc", "data: a\ndata: b\ndata: c\n\n");
    check(NULL, NULL, "a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n");
    check(NULL, NULL, "", "data: \n\n");
    check(NULL, NULL, "trailing\n", "data: trailing\ndata: \n\n");
}

static void test_invalid_fields(void **state)
{
    (void)state;
    char *out;
    size_t n;
    assert_int_equal(bb_sse_format("bad\nevent", NULL, "x", 1, &out, &n), BB_EINVAL);
    assert_int_equal(bb_sse_format(NULL, "1\r2", "x", 1, &out, &n), BB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_invalid_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
