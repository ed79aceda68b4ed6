/* test_bunder_core.c — unit tests for bunder's building blocks: the RESP parser (incremental
 * resume, limits, inline quoting), number parsing/formatting, glob, the dict (growth, SCAN
 * cursor coverage across a resize), the list deque, the sorted-set skiplist ranks and the compact
 * keyspace entries (object header, TTL vector). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bndr.h"

static const struct bndr_limits lim = {1024, 16, 128, 1 << 20};

static void test_parse_incremental(void **st)
{
    (void)st;
    const char *in = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n";
    size_t n = strlen(in);
    for (size_t split = 1; split < n; split++) {
        struct bndr_parser p = {0};
        bndr_parser_reset(&p);
        size_t pos = 0, need;
        const char *err;
        assert_int_equal(bndr_parse(&p, in, split, &pos, &lim, &need, &err), BNDR_PARSE_MORE);
        assert_int_equal(bndr_parse(&p, in, n, &pos, &lim, &need, &err), BNDR_PARSE_OK);
        assert_int_equal(p.argc, 3);
        assert_int_equal(pos, n);
        struct bndr_arg a[3];
        bndr_parser_args(&p, (char *)in, a);
        assert_memory_equal(a[2].p, "0123456789", 10);
        bndr_parser_release(&p);
    }
}

static void test_parse_limits(void **st)
{
    (void)st;
    struct {
        const char *in, *err;
    } cases[] = {
        {"*17\r\n", "ERR Protocol error: invalid multibulk length"},
        {"*1\r\n$1025\r\n", "ERR Protocol error: invalid bulk length"},
        {"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"},
        {"*1\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"},
        {"SET \"abc\r\n", "ERR Protocol error: unbalanced quotes in request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bndr_parser p = {0};
        bndr_parser_reset(&p);
        size_t pos = 0, need;
        const char *err = NULL;
        assert_int_equal(bndr_parse(&p, cases[i].in, strlen(cases[i].in), &pos, &lim, &need, &err),
                         BNDR_PARSE_ERR);
        assert_string_equal(err, cases[i].err);
        bndr_parser_release(&p);
    }
    /* inline over the limit without a newline */
    char big[200];
    memset(big, 'x', sizeof big);
    struct bndr_parser p = {0};
    bndr_parser_reset(&p);
    size_t pos = 0, need;
    const char *err = NULL;
    assert_int_equal(bndr_parse(&p, big, sizeof big, &pos, &lim, &need, &err), BNDR_PARSE_ERR);
    assert_string_equal(err, "ERR Protocol error: too big inline request");
    bndr_parser_release(&p);
}

static void test_parse_inline(void **st)
{
    (void)st;
    const char *in = "SET k \"a b\\x41\\n\" 'it''s'\r\n";
    struct bndr_parser p = {0};
    bndr_parser_reset(&p);
    size_t pos = 0, need;
    const char *err;
    /* 'it''s' is unbalanced in Redis' splitter (a quote must be followed by a space) */
    assert_int_equal(bndr_parse(&p, in, strlen(in), &pos, &lim, &need, &err), BNDR_PARSE_ERR);
    bndr_parser_release(&p);
    bndr_parser_reset(&p);
    const char *in2 = "SET k \"a b\\x41\\n\"\n";
    pos = 0;
    assert_int_equal(bndr_parse(&p, in2, strlen(in2), &pos, &lim, &need, &err), BNDR_PARSE_OK);
    struct bndr_arg a[3];
    assert_int_equal(p.argc, 3);
    bndr_parser_args(&p, (char *)in2, a);
    assert_int_equal(a[2].n, 5);
    assert_memory_equal(a[2].p, "a bA\n", 5);
    bndr_parser_release(&p);
}

static void test_numbers(void **st)
{
    (void)st;
    long long v;
    assert_int_equal(bndr_parse_ll("9223372036854775807", 19, &v), 0);
    assert_true(v == 9223372036854775807LL);
    assert_int_equal(bndr_parse_ll("-9223372036854775808", 20, &v), 0);
    assert_int_equal(bndr_parse_ll("9223372036854775808", 19, &v), -1);
    assert_int_equal(bndr_parse_ll("01", 2, &v), -1);
    assert_int_equal(bndr_parse_ll("+1", 2, &v), -1);
    assert_int_equal(bndr_parse_ll(" 1", 2, &v), -1);
    assert_int_equal(bndr_parse_ll("-0", 2, &v), -1);
    double d;
    assert_int_equal(bndr_parse_double("nan", 3, &d), -1);
    assert_int_equal(bndr_parse_double("-inf", 4, &d), 0);
    char buf[64];
    bndr_fmt_double(buf, sizeof buf, 1.5);
    assert_string_equal(buf, "1.5");
    bndr_fmt_double(buf, sizeof buf, 3);
    assert_string_equal(buf, "3");
    long double ld = 10.6L;
    bndr_fmt_ld(buf, sizeof buf, ld);
    assert_string_equal(buf, "10.6");
}

static void test_glob(void **st)
{
    (void)st;
    assert_true(bndr_glob("h?llo", 5, "hello", 5, 0));
    assert_true(bndr_glob("h*o", 3, "heeeello", 8, 0));
    assert_true(bndr_glob("h[ae]llo", 8, "hallo", 5, 0));
    assert_false(bndr_glob("h[^e]llo", 8, "hello", 5, 0));
    assert_true(bndr_glob("h[a-b]llo", 9, "hbllo", 5, 0));
    assert_true(bndr_glob("a\\*", 3, "a*", 2, 0));
    assert_false(bndr_glob("a\\*", 3, "ab", 2, 0));
    assert_true(bndr_glob("*", 1, "", 0, 0));
    assert_true(bndr_glob("MAX*", 4, "maxmemory", 9, 1));
}

/* Plain backtracking matcher for * ? and literals (exponential, fine on short inputs). */
static int naive_glob(const char *p, size_t pn, const char *s, size_t sn)
{
    if (pn == 0)
        return sn == 0;
    if (p[0] == '*') {
        for (size_t i = 0; i <= sn; i++)
            if (naive_glob(p + 1, pn - 1, s + i, sn - i))
                return 1;
        return 0;
    }
    if (sn == 0)
        return 0;
    if (p[0] == '?' || p[0] == s[0])
        return naive_glob(p + 1, pn - 1, s + 1, sn - 1);
    return 0;
}

/* CVE-2022-36021: "a*a*a*…b" against a long string of 'a' was exponential (the server pinned at
 * 100 %). The bounded matcher gives up longer matches once the tail cannot match; it must still
 * agree with the plain definition everywhere. A regression hangs this test (ctest timeout). */
static void test_glob_bounded(void **st)
{
    (void)st;
    static const char alpha[] = "ab*?";
    unsigned seed = 12345;
    for (int t = 0; t < 50000; t++) {
        char p[10], s[12];
        seed = seed * 1103515245u + 12345u;
        size_t pn = (seed >> 16) % 9, sn = (seed >> 8) % 12;
        for (size_t i = 0; i < pn; i++) {
            seed = seed * 1103515245u + 12345u;
            p[i] = alpha[(seed >> 16) % 4];
        }
        for (size_t i = 0; i < sn; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alpha[(seed >> 16) % 2];
        }
        if (bndr_glob(p, pn, s, sn, 0) != naive_glob(p, pn, s, sn))
            fail_msg("pattern '%.*s' string '%.*s'", (int)pn, p, (int)sn, s);
    }
    char pat[128];
    size_t pl = 0;
    for (int i = 0; i < 30; i++) {
        pat[pl++] = 'a';
        pat[pl++] = '*';
    }
    pat[pl++] = 'b';
    static char str[20000];
    memset(str, 'a', sizeof str);
    assert_false(bndr_glob(pat, pl, str, sizeof str, 0));
    assert_false(bndr_glob(pat, pl, str, sizeof str, 1));
    str[sizeof str - 1] = 'b';
    assert_true(bndr_glob(pat, pl, str, sizeof str, 0));
    assert_false(bndr_glob("*a*a*a*a*a*a*a*a*c*", 19, str, sizeof str, 0));
}

static void scan_count(struct bndr_de *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
}

static void test_dict_scan_across_resize(void **st)
{
    (void)st;
    struct bndr_dict d;
    bndr_dict_init(&d);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof k, "k%d", i);
        bndr_dict_upsert(&d, k, (size_t)n, NULL);
    }
    assert_int_equal(d.n, 1000);
    int seen = 0, rounds = 0;
    uint64_t cur = 0;
    do {
        cur = bndr_dict_scan(&d, cur, scan_count, &seen);
        if (++rounds == 50) /* grow in the middle of a scan */
            for (int i = 1000; i < 3000; i++) {
                int n = snprintf(k, sizeof k, "k%d", i);
                bndr_dict_upsert(&d, k, (size_t)n, NULL);
            }
    } while (cur);
    assert_true(seen >= 1000); /* every original key reported at least once */
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(k, sizeof k, "k%d", i);
        bndr_free(bndr_dict_unlink(&d, k, (size_t)n));
    }
    assert_int_equal(d.n, 0);
    bndr_dict_release(&d, NULL);
}

static void test_list_and_zset(void **st)
{
    (void)st;
    struct bndr_list *l = bndr_list_new();
    for (int i = 0; i < 100; i++)
        bndr_list_push(l, bndr_str_new(&"abcdefghij"[i % 10], 1), i % 2);
    assert_int_equal(l->n, 100);
    bndr_list_insert(l, 50, bndr_str_new("X", 1));
    assert_memory_equal(BNDR_LIST_AT(l, 50)->buf, "X", 1);
    bndr_list_remove(l, 50);
    for (int i = 0; i < 100; i++)
        bndr_str_free(bndr_list_pop(l, i % 3 == 0));
    assert_int_equal(l->n, 0);
    bndr_list_free(l);

    struct bndr_zset *z = bndr_zset_new();
    char m[16];
    for (int i = 0; i < 500; i++) {
        int n = snprintf(m, sizeof m, "m%03d", i);
        assert_int_equal(bndr_zset_set(z, m, (size_t)n, (double)((i * 37) % 500)), 1);
    }
    for (int i = 0; i < 500; i++) {
        int n = snprintf(m, sizeof m, "m%03d", i);
        long r = bndr_zset_rank(z, m, (size_t)n, 0);
        assert_int_equal(r, (i * 37) % 500);
        struct bndr_zsl_node *x = bndr_zsl_by_rank(z, (unsigned long)r + 1);
        assert_memory_equal(x->ele, m, (size_t)n);
    }
    struct bndr_zrange_spec r = {10, 20, 1, 0};
    struct bndr_zsl_node *x = bndr_zsl_first_in_range(z, &r);
    assert_true(x->score == 11);
    x = bndr_zsl_last_in_range(z, &r);
    assert_true(x->score == 20);
    assert_int_equal(bndr_zset_set(z, "m000", 4, 1000), 0);
    assert_int_equal(bndr_zset_rank(z, "m000", 4, 0), 499);
    assert_int_equal(bndr_zset_del(z, "m000", 4), 1);
    assert_int_equal(z->length, 499);
    bndr_zset_free(z);
}

/* The compact value layout (bndr.h): an 18-byte object header with len/cap overlaying the
 * collection pointer, the TTL only in the db's TTL vector, dict entries without tail padding. */
static void test_compact_entries(void **st)
{
    (void)st;
    assert_int_equal(BNDR_OBJ_HDR, 18);
    assert_true(BNDR_OBJ_HDR + 5 + 1 <= 24); /* a <= 5-byte string fits glibc's smallest chunk */
    assert_int_equal(offsetof(struct bndr_de, key), 20);
    /* string lengths around the header/chunk boundaries: bytes, NUL, len and cap */
    char big[100];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    for (size_t n = 0; n <= 64; n++) {
        struct bndr_obj *o = bndr_obj_string(big, n);
        assert_int_equal(o->type, BNDR_STRING);
        assert_int_equal(o->len, n);
        assert_int_equal(o->cap, n);
        assert_int_equal(o->xidx, UINT32_MAX);
        assert_memory_equal(o->s, big, n);
        assert_int_equal(o->s[n], 0);
        bndr_obj_free(o);
    }
    /* a collection's pointer overlays len/cap: the string fields of a fresh string are intact and
     * a new collection has its pointer */
    struct bndr_obj *l = bndr_obj_new(BNDR_LIST);
    assert_non_null(l->u.l);
    assert_int_equal(l->u.l->n, 0);
    bndr_obj_free(l);

    struct bndr_db db;
    bndr_db_init(&db);
    /* keys without and with a TTL; the deadline is read through the TTL vector */
    char k[32];
    for (int i = 0; i < 8; i++) {
        int kn = snprintf(k, sizeof k, "key:%012d", i);
        bndr_db_set(&db, k, (size_t)kn, bndr_obj_string("xxx", 3), 0);
        struct bndr_de *e = bndr_db_find(&db, k, (size_t)kn);
        assert_non_null(e);
        assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e)), 0);
        if (i % 2)
            bndr_db_set_expire(&db, e, 1000000 + i);
    }
    assert_int_equal(db.xn, 4);
    for (int i = 0; i < 8; i++) {
        int kn = snprintf(k, sizeof k, "key:%012d", i);
        struct bndr_de *e = bndr_db_find(&db, k, (size_t)kn);
        assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e)), i % 2 ? 1000000 + i : 0);
    }
    /* changing a deadline updates it in place */
    struct bndr_de *e1 = bndr_db_find(&db, "key:000000000001", 16);
    bndr_db_set_expire(&db, e1, 2000001);
    assert_int_equal(db.xn, 4);
    assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e1)), 2000001);
    /* overwrite growing (KEEPTTL keeps the deadline), then shrinking (clears it) */
    bndr_db_set(&db, "key:000000000001", 16, bndr_obj_string(big, 64), 1);
    e1 = bndr_db_find(&db, "key:000000000001", 16);
    assert_int_equal(BNDR_DE_OBJ(e1)->len, 64);
    assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e1)), 2000001);
    bndr_db_set(&db, "key:000000000001", 16, bndr_obj_string("y", 1), 0);
    e1 = bndr_db_find(&db, "key:000000000001", 16);
    assert_int_equal(BNDR_DE_OBJ(e1)->len, 1);
    assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e1)), 0);
    assert_int_equal(db.xn, 3);
    /* growing in place (APPEND/INCR path) keeps bytes and TTL */
    struct bndr_de *e3 = bndr_db_find(&db, "key:000000000003", 16);
    struct bndr_obj *o3 = bndr_obj_string_reserve(e3, 40);
    assert_ptr_equal(o3, BNDR_DE_OBJ(e3));
    assert_true(o3->cap >= 40);
    assert_memory_equal(o3->s, "xxx", 3);
    assert_int_equal(bndr_db_expire(&db, o3), 1000003);
    /* removal from the middle of the TTL vector keeps the others' deadlines (swap with last) */
    assert_int_equal(bndr_db_delete(&db, "key:000000000003", 16), 1);
    int64_t when = -1;
    struct bndr_obj *t = bndr_db_take(&db, "key:000000000005", 16, &when);
    assert_int_equal(when, 1000005);
    assert_int_equal(t->xidx, UINT32_MAX);
    bndr_obj_free(t);
    t = bndr_db_take(&db, "key:000000000002", 16, &when);
    assert_int_equal(when, 0);
    bndr_obj_free(t);
    assert_int_equal(db.xn, 1);
    struct bndr_de *e7 = bndr_db_find(&db, "key:000000000007", 16);
    assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e7)), 1000007);
    bndr_db_persist(&db, e7);
    assert_int_equal(bndr_db_expire(&db, BNDR_DE_OBJ(e7)), 0);
    assert_int_equal(db.xn, 0);
    bndr_db_release(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_incremental), cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_inline),      cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_glob),              cmocka_unit_test(test_glob_bounded),
        cmocka_unit_test(test_dict_scan_across_resize),
        cmocka_unit_test(test_list_and_zset),
        cmocka_unit_test(test_compact_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
