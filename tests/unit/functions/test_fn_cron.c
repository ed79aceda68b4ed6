/* fn_cron (src/functions/fn_cron.c): the five-field syntax (ranges, steps, lists, names, macros,
 * the day-of-month / day-of-week rule), clear refusals, and time zones read from the TZ database
 * compared with the C library's own conversion (done here under TZ in a single thread, which is
 * what the service cannot do). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fn_cron.h"

static struct tm at(int y, int mo, int d, int h, int mi)
{
    struct tm t = {0};
    t.tm_year = y - 1900, t.tm_mon = mo - 1, t.tm_mday = d, t.tm_hour = h, t.tm_min = mi;
    time_t x = timegm(&t);
    gmtime_r(&x, &t); /* fills tm_wday */
    return t;
}

static int m(const char *expr, struct tm t)
{
    struct fn_cron c;
    char err[200];
    assert_int_equal(fn_cron_parse(expr, &c, err, sizeof err), 0);
    return fn_cron_match(&c, &t);
}

static void test_syntax(void **state)
{
    (void)state;
    struct tm mon = at(2031, 3, 3, 9, 30); /* Monday 3 March 2031 09:30 */
    assert_true(m("* * * * *", mon));
    assert_true(m("30 9 * * *", mon));
    assert_false(m("31 9 * * *", mon));
    assert_true(m("*/15 * * * *", mon));
    assert_false(m("*/7 * * * *", mon));
    assert_true(m("0-59/10 8-10 * * *", mon));
    assert_true(m("10/20 * * * *", mon)); /* 10, 30, 50 */
    assert_false(m("20/20 * * * *", mon));
    assert_true(m("5,30,45 9 * * *", mon));
    assert_true(m("30 9 * MAR mon", mon));
    assert_true(m("30 9 * mar-may MON-FRI", mon));
    assert_false(m("30 9 * * sat,SUN", mon));
    assert_true(m("30 9 * * 1", mon));
    struct tm sun = at(2031, 3, 2, 0, 0);
    assert_true(m("0 0 * * 7", sun));
    assert_true(m("0 0 * * 0", sun));
    assert_true(m("@daily", sun));
    assert_true(m("@weekly", sun));
    assert_false(m("@monthly", sun));
    assert_true(m("@hourly", mon) == 0);
    /* both day fields restricted: either matches (Vixie cron); one is *: both */
    assert_true(m("30 9 15 * 1", mon));
    assert_false(m("30 9 15 * *", mon));
    assert_false(m("30 9 15 * */2", mon)); /* "*" first: both must match */
    assert_true(m("30 9 3 * 5", mon));
}

static void test_refusals(void **state)
{
    (void)state;
    const char *bad[] = {"",           "* * * *",         "* * * * * *",  "60 * * * *",
                         "* 24 * * *", "* * 0 * *",       "* * 32 * *",   "* * * 13 *",
                         "* * * * 8",  "5-1 * * * *",     "*/0 * * * *",  "*/61 * * * *",
                         "a * * * *",  "* * * foo *",     "1,,2 * * * *", "1- * * * *",
                         "@often",     "* * * JANUARY *", "1000 * * * *"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fn_cron c;
        char err[200] = "";
        assert_int_not_equal(fn_cron_parse(bad[i], &c, err, sizeof err), 0);
        assert_true(err[0] != '\0');
    }
    char big[400];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct fn_cron c;
    char err[200];
    assert_int_not_equal(fn_cron_parse(big, &c, err, sizeof err), 0);
}

/* Our zone reader against glibc (TZ set here, once, in this single-threaded test). */
static void compare_zone(const char *zone)
{
    struct fn_tz *z = NULL;
    char err[200];
    assert_int_equal(fn_tz_load("/usr/share/zoneinfo", zone, &z, err, sizeof err), 0);
    setenv("TZ", zone, 1);
    tzset();
    /* every 6 hours over 1960..2060 (past the files' last transitions: the footer rule) */
    for (int64_t t = -315619200; t < 2871763200; t += 6 * 3600 + 17 * 60) {
        struct tm lt;
        time_t tt = (time_t)t;
        localtime_r(&tt, &lt);
        if (fn_tz_offset(z, t) != lt.tm_gmtoff) {
            fprintf(stderr, "%s at %lld: ours %d, libc %ld\n", zone, (long long)t,
                    fn_tz_offset(z, t), lt.tm_gmtoff);
            fail();
        }
    }
    fn_tz_free(z);
}

static void test_zones(void **state)
{
    (void)state;
    compare_zone("Europe/Paris");
    compare_zone("America/New_York");
    compare_zone("Australia/Sydney");  /* southern hemisphere */
    compare_zone("Asia/Kolkata");      /* +05:30, no DST */
    compare_zone("America/Sao_Paulo"); /* DST abolished */
    struct fn_tz *z = (struct fn_tz *)1;
    char err[200];
    assert_int_equal(fn_tz_load("/usr/share/zoneinfo", "UTC", &z, err, sizeof err), 0);
    assert_null(z);
    assert_int_equal(fn_tz_offset(NULL, 12345), 0);
    const char *bad[] = {"../etc/passwd",
                         "/etc/passwd",
                         "Europe//Paris",
                         "Nowhere/City",
                         "Europe/Paris ",
                         "Europe",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        z = NULL;
        int rc = fn_tz_load("/usr/share/zoneinfo", bad[i], &z, err, sizeof err);
        if (bad[i][0]) assert_int_not_equal(rc, 0);
        fn_tz_free(z);
    }
    /* a local match: 09:00 in Paris on a summer day is 07:00 UTC */
    assert_int_equal(fn_tz_load("/usr/share/zoneinfo", "Europe/Paris", &z, err, sizeof err), 0);
    struct tm utc = at(2031, 7, 1, 7, 0), lt;
    time_t t = timegm(&utc);
    assert_int_equal(fn_tz_local(z, (int64_t)t, &lt), 0);
    assert_int_equal(lt.tm_hour, 9);
    assert_true(m("0 9 * * *", lt));
    fn_tz_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_zones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
