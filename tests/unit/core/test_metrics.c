/* Unit tests for bb_metrics: the rendered exposition text is parsed back and checked line by
 * line; concurrent updates from 4 threads must add up exactly; histogram bucket math; label
 * validation and escaping; limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "bb_err.h"
#include "bb_metrics.h"

/* ---- a tiny exposition parser ------------------------------------------------------------ */

static char *render(struct bb_metrics *m)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(bb_metrics_render(m, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    /* Every line ends with '\n' and is a comment or "<series> <value>". */
    if (len > 0) assert_int_equal(out[len - 1], '\n');
    return out;
}

/* Value of the sample line whose series part (everything before the last space) equals key.
 * Fails the test if the series is absent or present twice. */
static double sample(const char *text, const char *key)
{
    size_t kl = strlen(key);
    int found = 0;
    double v = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (line[0] != '#' && (size_t)(nl - line) > kl && memcmp(line, key, kl) == 0 &&
            line[kl] == ' ') {
            char tmp[64];
            size_t vl = (size_t)(nl - line) - kl - 1;
            assert_true(vl < sizeof tmp);
            memcpy(tmp, line + kl + 1, vl);
            tmp[vl] = '\0';
            char *end = NULL;
            v = strtod(tmp, &end);
            assert_true(end && *end == '\0');
            found++;
        }
        line = nl + 1;
    }
    if (found != 1) fail_msg("series %s found %d times in:\n%s", key, found, text);
    return v;
}

static int count_lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, pl) == 0) n++;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : line + strlen(line);
    }
    return n;
}

static long offset_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    return p ? p - text : -1;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_empty_render(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    assert_non_null(m);
    char *out = render(m);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(bb_metrics_render(NULL, &out, NULL), BB_EINVAL);
    assert_int_equal(bb_metrics_render(m, NULL, NULL), BB_EINVAL);
    bb_metrics_free(m);
    bb_metrics_free(NULL);
}

static void test_get_or_create_and_grouping(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    struct bb_counter *a = bb_metrics_counter(m, "http_requests_total", "Requests served.",
                                              "route=\"/health\",method=\"GET\"");
    struct bb_gauge *g = bb_metrics_gauge(m, "connections", "Open connections.", NULL);
    struct bb_counter *b =
        bb_metrics_counter(m, "http_requests_total", "ignored", "route=\"/x\",method=\"POST\"");
    struct bb_counter *plain = bb_metrics_counter(m, "events_total", NULL, "");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(g);
    assert_non_null(plain);
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(a, bb_metrics_counter(m, "http_requests_total", NULL,
                                           "route=\"/health\",method=\"GET\""));
    assert_ptr_equal(plain, bb_metrics_counter(m, "events_total", NULL, NULL));
    /* Same name, other type: refused. */
    assert_null(bb_metrics_gauge(m, "http_requests_total", NULL, NULL));
    assert_null(bb_metrics_histogram(m, "connections", NULL, NULL, NULL, 0));

    bb_counter_inc(a);
    bb_counter_inc(a);
    bb_counter_add(b, 2.5);
    bb_counter_add(b, -1);  /* ignored */
    bb_counter_add(b, NAN); /* ignored */
    bb_gauge_set(g, 10);
    bb_gauge_dec(g);
    bb_gauge_add(g, -0.5);
    bb_gauge_inc(g);
    bb_counter_add(plain, 1e21);

    char *out = render(m);
    assert_int_equal(count_lines_starting(out, "# HELP http_requests_total "), 1);
    assert_int_equal(count_lines_starting(out, "# TYPE http_requests_total counter\n"), 1);
    assert_int_equal(count_lines_starting(out, "# TYPE connections gauge\n"), 1);
    assert_int_equal(count_lines_starting(out, "# TYPE events_total counter\n"), 1);
    assert_int_equal(count_lines_starting(out, "# HELP http_requests_total Requests served.\n"), 1);
    assert_int_equal(count_lines_starting(out, "# HELP events_total \n"), 1);
    assert_true(sample(out, "http_requests_total{route=\"/health\",method=\"GET\"}") == 2);
    assert_true(sample(out, "http_requests_total{route=\"/x\",method=\"POST\"}") == 2.5);
    assert_true(sample(out, "connections") == 9.5);
    assert_true(sample(out, "events_total") == 1e21);
    assert_non_null(strstr(out, "\nevents_total 1e+21\n"));

    /* Families are grouped in registration order even though registration interleaved. */
    long t1 = offset_of(out, "# TYPE http_requests_total");
    long s1 = offset_of(out, "http_requests_total{route=\"/health\"");
    long s2 = offset_of(out, "http_requests_total{route=\"/x\"");
    long t2 = offset_of(out, "# TYPE connections");
    long t3 = offset_of(out, "# TYPE events_total");
    assert_true(t1 >= 0 && t1 < s1 && s1 < s2 && s2 < t2 && t2 < t3);
    /* HELP precedes TYPE. */
    assert_true(offset_of(out, "# HELP connections") < t2);
    free(out);
    bb_metrics_free(m);
}

static void test_validation(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    assert_null(bb_metrics_counter(NULL, "a", NULL, NULL));
    assert_null(bb_metrics_counter(m, NULL, NULL, NULL));
    assert_null(bb_metrics_counter(m, "", NULL, NULL));
    assert_null(bb_metrics_counter(m, "1abc", NULL, NULL));
    assert_null(bb_metrics_counter(m, "a-b", NULL, NULL));
    assert_null(bb_metrics_counter(m, "a b", NULL, NULL));
    assert_non_null(bb_metrics_counter(m, "ns:sub_name_total", NULL, NULL));

    const char *bad_labels[] = {
        "route",           "route=",          "route=\"x",      "route=x",
        "route=\"x\",",    ",route=\"x\"",    "1a=\"x\"",       "a=\"x\"b=\"y\"",
        "a=\"x\ny\"",      "a=\"\\t\"",       "a=\"x\\\"",      "a=\"x\" ",
        "a-b=\"x\"",
    };
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++)
        if (bb_metrics_counter(m, "c_total", NULL, bad_labels[i]))
            fail_msg("accepted labels %s", bad_labels[i]);
    assert_non_null(bb_metrics_counter(m, "c_total", NULL, "a=\"\",b=\"\\\\ \\\" \\n\""));

    /* Name, help and label length limits. */
    char big[BB_METRICS_MAX_LABELS + 16];
    memset(big, 'n', sizeof big);
    big[BB_METRICS_MAX_NAME + 1] = '\0';
    assert_null(bb_metrics_counter(m, big, NULL, NULL));
    big[BB_METRICS_MAX_NAME] = '\0';
    assert_non_null(bb_metrics_counter(m, big, NULL, NULL));
    memset(big, 'h', sizeof big);
    big[BB_METRICS_MAX_HELP + 1] = '\0';
    assert_null(bb_metrics_counter(m, "h_total", big, NULL));
    size_t n = (size_t)snprintf(big, sizeof big, "a=\"");
    memset(big + n, 'v', BB_METRICS_MAX_LABELS - n);
    big[BB_METRICS_MAX_LABELS] = '"';
    big[BB_METRICS_MAX_LABELS + 1] = '\0';
    assert_null(bb_metrics_counter(m, "l_total", NULL, big));
    big[BB_METRICS_MAX_LABELS - 1] = '"';
    big[BB_METRICS_MAX_LABELS] = '\0';
    assert_non_null(bb_metrics_counter(m, "l_total", NULL, big));

    /* Histogram rules. */
    const double dup[] = {1, 1};
    const double desc[] = {2, 1};
    const double nan_b[] = {1, NAN};
    const double inf_end[] = {1, 2, INFINITY};
    const double ninf[] = {-INFINITY, 1};
    assert_null(bb_metrics_histogram(m, "h1", NULL, NULL, dup, 2));
    assert_null(bb_metrics_histogram(m, "h1", NULL, NULL, desc, 2));
    assert_null(bb_metrics_histogram(m, "h1", NULL, NULL, nan_b, 2));
    assert_null(bb_metrics_histogram(m, "h1", NULL, NULL, ninf, 2));
    assert_null(bb_metrics_histogram(m, "h1", NULL, "le=\"1\"", NULL, 0));
    struct bb_histogram *h = bb_metrics_histogram(m, "h1", NULL, NULL, inf_end, 3);
    assert_non_null(h);
    const double same[] = {1, 2};
    assert_ptr_equal(h, bb_metrics_histogram(m, "h1", NULL, NULL, same, 2));
    assert_null(bb_metrics_histogram(m, "h1", NULL, "x=\"y\"", NULL, 0)); /* other buckets */
    double many[BB_METRICS_MAX_BUCKETS + 1];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = (double)i;
    assert_null(bb_metrics_histogram(m, "h2", NULL, NULL, many, BB_METRICS_MAX_BUCKETS + 1));
    assert_non_null(bb_metrics_histogram(m, "h2", NULL, NULL, many, BB_METRICS_MAX_BUCKETS));

    /* Updates on refused (NULL) metrics are no-ops. */
    bb_counter_inc(NULL);
    bb_counter_add(NULL, 1);
    bb_gauge_set(NULL, 1);
    bb_gauge_add(NULL, 1);
    bb_gauge_inc(NULL);
    bb_gauge_dec(NULL);
    bb_histogram_observe(NULL, 1);

    char *out = render(m);
    /* The escaped label set renders verbatim. */
    assert_true(sample(out, "c_total{a=\"\",b=\"\\\\ \\\" \\n\"}") == 0);
    free(out);
    bb_metrics_free(m);
}

static void test_series_limit(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    char labels[32];
    for (int i = 0; i < BB_METRICS_MAX_SERIES; i++) {
        snprintf(labels, sizeof labels, "id=\"%d\"", i);
        assert_non_null(bb_metrics_counter(m, "per_id_total", NULL, labels));
    }
    assert_null(bb_metrics_counter(m, "per_id_total", NULL, "id=\"new\""));
    assert_null(bb_metrics_gauge(m, "other", NULL, NULL));
    /* Existing series are still found. */
    assert_non_null(bb_metrics_counter(m, "per_id_total", NULL, "id=\"7\""));
    char *out = render(m);
    assert_int_equal(count_lines_starting(out, "per_id_total{"), BB_METRICS_MAX_SERIES);
    free(out);
    bb_metrics_free(m);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    const double b[] = {1, 2, 5};
    struct bb_histogram *h =
        bb_metrics_histogram(m, "job_seconds", "Job time.", "queue=\"q1\"", b, 3);
    assert_non_null(h);
    const double obs[] = {0.5, 1, 1.5, 2, 3, 10, -4, INFINITY};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        bb_histogram_observe(h, obs[i]);
    bb_histogram_observe(h, NAN); /* ignored */

    struct bb_histogram *e = bb_metrics_histogram(m, "job_seconds", NULL, "queue=\"q2\"", b, 3);
    struct bb_histogram *d = bb_metrics_histogram(m, "latency_seconds", NULL, NULL, NULL, 0);
    bb_histogram_observe(d, 0.0005); /* boundary: le is inclusive */
    bb_histogram_observe(d, 0.003);
    bb_histogram_observe(d, 11);

    char *out = render(m);
    assert_int_equal(count_lines_starting(out, "# TYPE job_seconds histogram\n"), 1);
    assert_true(sample(out, "job_seconds_bucket{queue=\"q1\",le=\"1\"}") == 3); /* -4 .5 1 */
    assert_true(sample(out, "job_seconds_bucket{queue=\"q1\",le=\"2\"}") == 5);
    assert_true(sample(out, "job_seconds_bucket{queue=\"q1\",le=\"5\"}") == 6);
    assert_true(sample(out, "job_seconds_bucket{queue=\"q1\",le=\"+Inf\"}") == 8);
    assert_true(sample(out, "job_seconds_count{queue=\"q1\"}") == 8);
    assert_true(isinf(sample(out, "job_seconds_sum{queue=\"q1\"}")));
    assert_non_null(strstr(out, "job_seconds_sum{queue=\"q1\"} +Inf\n"));
    assert_true(sample(out, "job_seconds_bucket{queue=\"q2\",le=\"+Inf\"}") == 0);
    assert_true(sample(out, "job_seconds_sum{queue=\"q2\"}") == 0);
    assert_non_null(e);

    /* Default buckets: 14 bounds + Inf, no labels -> only le. */
    assert_int_equal(count_lines_starting(out, "latency_seconds_bucket{le="), 15);
    assert_true(sample(out, "latency_seconds_bucket{le=\"0.0005\"}") == 1);
    assert_true(sample(out, "latency_seconds_bucket{le=\"0.0025\"}") == 1);
    assert_true(sample(out, "latency_seconds_bucket{le=\"0.005\"}") == 2);
    assert_true(sample(out, "latency_seconds_bucket{le=\"10\"}") == 2);
    assert_true(sample(out, "latency_seconds_bucket{le=\"+Inf\"}") == 3);
    assert_true(sample(out, "latency_seconds_count") == 3);
    assert_true(fabs(sample(out, "latency_seconds_sum") - 11.0035) < 1e-12);

    /* Buckets are cumulative and non-decreasing in output order. */
    const char *p = strstr(out, "latency_seconds_bucket");
    double prev = -1;
    while (p && strncmp(p, "latency_seconds_bucket", 22) == 0) {
        const char *sp = strchr(p, ' ');
        double v = strtod(sp + 1, NULL);
        assert_true(v >= prev);
        prev = v;
        p = strchr(p, '\n') + 1;
    }
    free(out);
    bb_metrics_free(m);
}

static void test_value_format(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    struct bb_gauge *g[6];
    const char *names[] = {"g_a", "g_b", "g_c", "g_d", "g_e", "g_f"};
    for (int i = 0; i < 6; i++)
        g[i] = bb_metrics_gauge(m, names[i], "line1\nline2 \\ end", NULL);
    bb_gauge_set(g[0], 0.1);
    bb_gauge_set(g[1], NAN);
    bb_gauge_set(g[2], -INFINITY);
    bb_gauge_set(g[3], 1.0 / 3.0);
    bb_gauge_set(g[4], -42);
    bb_gauge_set(g[5], 123456789012.0);
    char *out = render(m);
    assert_non_null(strstr(out, "\ng_a 0.1\n"));
    assert_non_null(strstr(out, "\ng_b NaN\n"));
    assert_non_null(strstr(out, "\ng_c -Inf\n"));
    assert_true(sample(out, "g_d") == 1.0 / 3.0); /* exact round trip */
    assert_non_null(strstr(out, "\ng_e -42\n"));
    assert_non_null(strstr(out, "\ng_f 123456789012\n"));
    assert_non_null(strstr(out, "# HELP g_a line1\\nline2 \\\\ end\n"));
    free(out);
    bb_metrics_free(m);
}

/* ---- concurrency ------------------------------------------------------------------------- */

#define THREADS 4
#define ITERS 100000

struct worker {
    struct bb_metrics *m;
    int id;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    /* Every thread also races on get-or-create. */
    struct bb_counter *c = bb_metrics_counter(w->m, "hits_total", "Hits.", "shared=\"yes\"");
    struct bb_counter *half = bb_metrics_counter(w->m, "half_total", "Halves.", NULL);
    struct bb_gauge *g = bb_metrics_gauge(w->m, "inflight", "In flight.", NULL);
    struct bb_histogram *h = bb_metrics_histogram(w->m, "work_seconds", "Work.", NULL, NULL, 0);
    char labels[32];
    snprintf(labels, sizeof labels, "thread=\"%d\"", w->id);
    struct bb_counter *own = bb_metrics_counter(w->m, "hits_total", NULL, labels);
    for (int i = 0; i < ITERS; i++) {
        bb_counter_inc(c);
        bb_counter_add(half, 0.5);
        bb_gauge_inc(g);
        bb_histogram_observe(h, (i % 4) == 0 ? 0.0001 : 20.0);
        bb_counter_inc(own);
        bb_gauge_dec(g);
        if (i % 20000 == 0) { /* concurrent renders must be safe */
            char *out = NULL;
            if (bb_metrics_render(w->m, &out, NULL) == 0) free(out);
        }
    }
    return NULL;
}

static void test_concurrency_exact(void **state)
{
    (void)state;
    struct bb_metrics *m = bb_metrics_new();
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.m = m, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    char *out = render(m);
    assert_true(sample(out, "hits_total{shared=\"yes\"}") == THREADS * ITERS);
    assert_true(sample(out, "half_total") == THREADS * ITERS * 0.5);
    assert_true(sample(out, "inflight") == 0);
    for (int i = 0; i < THREADS; i++) {
        char key[64];
        snprintf(key, sizeof key, "hits_total{thread=\"%d\"}", i);
        assert_true(sample(out, key) == ITERS);
    }
    assert_true(sample(out, "work_seconds_count") == THREADS * ITERS);
    assert_true(sample(out, "work_seconds_bucket{le=\"0.0005\"}") == THREADS * ITERS / 4);
    assert_true(sample(out, "work_seconds_bucket{le=\"10\"}") == THREADS * ITERS / 4);
    assert_true(sample(out, "work_seconds_bucket{le=\"+Inf\"}") == THREADS * ITERS);
    double expect_sum = THREADS * (ITERS / 4 * 0.0001 + ITERS * 3 / 4 * 20.0);
    /* 0.0001 is not exact in binary and the summation order varies: relative tolerance. */
    assert_true(fabs(sample(out, "work_seconds_sum") - expect_sum) < expect_sum * 1e-9);
    assert_int_equal(count_lines_starting(out, "# TYPE hits_total counter\n"), 1);
    assert_int_equal(count_lines_starting(out, "hits_total{"), THREADS + 1);
    free(out);
    bb_metrics_free(m);
}

/* ---- label escaping ---------------------------------------------------------------------- */

static void test_escape_label(void **state)
{
    (void)state;
    char buf[64];
    bb_metrics_escape_label(buf, sizeof buf, "a\\b\"c\nd");
    assert_string_equal(buf, "a\\\\b\\\"c\\nd");
    bb_metrics_escape_label(buf, sizeof buf, "/api/v1/users/:id");
    assert_string_equal(buf, "/api/v1/users/:id");
    bb_metrics_escape_label(buf, sizeof buf, NULL);
    assert_string_equal(buf, "");

    /* The escaped value makes a valid label set that renders verbatim. */
    char labels[96];
    bb_metrics_escape_label(buf, sizeof buf, "we\"ird\\path\n");
    snprintf(labels, sizeof labels, "route=\"%s\"", buf);
    struct bb_metrics *m = bb_metrics_new();
    struct bb_counter *c = bb_metrics_counter(m, "r_total", NULL, labels);
    assert_non_null(c);
    bb_counter_inc(c);
    char *out = render(m);
    assert_true(sample(out, "r_total{route=\"we\\\"ird\\\\path\\n\"}") == 1);
    free(out);
    bb_metrics_free(m);

    /* Truncation never splits an escape or a UTF-8 sequence. */
    char small[4];
    bb_metrics_escape_label(small, sizeof small, "ab\"c");
    assert_string_equal(small, "ab"); /* \" would need 2 bytes, only 1 left */
    bb_metrics_escape_label(small, sizeof small, "a\xc3\xa9");
    assert_string_equal(small, "a\xc3\xa9");
    bb_metrics_escape_label(small, sizeof small, "ab\xc3\xa9");
    assert_string_equal(small, "ab");
    bb_metrics_escape_label(small, sizeof small, "\xf0\x9f\x98\x80");
    assert_string_equal(small, "");
    bb_metrics_escape_label(small, 1, "abc");
    assert_string_equal(small, "");
    bb_metrics_escape_label(NULL, 10, "abc"); /* no crash */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_render),
        cmocka_unit_test(test_get_or_create_and_grouping),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_value_format),
        cmocka_unit_test(test_concurrency_exact),
        cmocka_unit_test(test_escape_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
