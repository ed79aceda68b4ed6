/* Randomized self-consistency test for the bundoc query layer: thousands of generated filters
 * (random operators, nested paths, arrays, mixed types) and find requests (sorts, skip, limit,
 * cursors) over generated documents, checked against an independent, deliberately naive
 * reference evaluator written here from the documented semantics (docs/internals/bundoc-query.md).
 * Once indexes exist, the same generator drives the planner-vs-scan differential test.
 * BB_TEST_SEED=<n> replays a seed; the seed is printed on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

#define N_QUERIES 12000
#define N_DOCS 48
#define N_FINDS 2500
#include "bdoc_gen.h"

/* ---- the reference evaluator ---- */

static int rank(const json_t *v)
{
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) return 1;
    if (json_is_string(v)) return 2;
    if (json_is_object(v)) return 3;
    if (json_is_array(v)) return 4;
    return 5;
}

static int ref_cmp(const json_t *a, const json_t *b);

static int strp_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int ref_cmp(const json_t *a, const json_t *b)
{
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) return 0;
    if (ra == 1) {
        long double x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
        long double y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
        return (x > y) - (x < y);
    }
    if (ra == 2) {
        int c = strcmp(json_string_value(a), json_string_value(b));
        return (c > 0) - (c < 0);
    }
    if (ra == 5) return (int)json_is_true(a) - (int)json_is_true(b);
    if (ra == 4) {
        for (size_t i = 0;; i++) {
            if (i == json_array_size(a) || i == json_array_size(b))
                return (json_array_size(a) > i) - (json_array_size(b) > i);
            int c = ref_cmp(json_array_get(a, i), json_array_get(b, i));
            if (c) return c;
        }
    }
    const char *ka[64], *kb[64];
    size_t na = 0, nb = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v) ka[na++] = k;
    json_object_foreach((json_t *)b, k, v) kb[nb++] = k;
    qsort(ka, na, sizeof *ka, strp_cmp);
    qsort(kb, nb, sizeof *kb, strp_cmp);
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = strcmp(ka[i], kb[i]);
        if (c) return (c > 0) - (c < 0);
        c = ref_cmp(json_object_get(a, ka[i]), json_object_get(b, kb[i]));
        if (c) return c;
    }
    return (na > nb) - (na < nb);
}

/* Candidate values for a path: NULL entries mean "missing here". */
struct cands {
    const json_t *v[256];
    size_t n;
};

static int is_index(const char *s)
{
    if (!*s || (s[0] == '0' && s[1])) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static void collect(const json_t *v, char **segs, size_t nseg, size_t i, struct cands *c)
{
    if (c->n >= 256) fail_msg("too many candidates");
    if (i == nseg) {
        c->v[c->n++] = v;
        return;
    }
    if (json_is_object(v)) {
        json_t *ch = json_object_get(v, segs[i]);
        if (ch) collect(ch, segs, nseg, i + 1, c);
        else c->v[c->n++] = NULL;
    } else if (json_is_array(v) && is_index(segs[i])) {
        json_t *ch = json_array_get(v, (size_t)atoi(segs[i]));
        if (ch) collect(ch, segs, nseg, i + 1, c);
        else c->v[c->n++] = NULL;
    } else if (json_is_array(v)) {
        size_t before = c->n, j;
        int objs = 0;
        json_t *e;
        json_array_foreach(v, j, e) {
            if (json_is_object(e)) {
                objs = 1;
                collect(e, segs, nseg, i, c);
            }
        }
        if (!objs && c->n == before) c->v[c->n++] = NULL;
    } else {
        c->v[c->n++] = NULL;
    }
}

static void cands_of(const json_t *doc, const char *path, struct cands *c)
{
    char buf[256], *segs[32];
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok(buf, "."); t; t = strtok(NULL, ".")) segs[n++] = t;
    c->n = 0;
    collect(doc, segs, n, 0, c);
}

/* Does predicate (op, operand) hold for value x (never NULL, never expanded)? */
static int scalar_pred(const char *op, const json_t *arg, const json_t *x)
{
    if (!strcmp(op, "$eq")) return ref_cmp(x, arg) == 0;
    if (!strcmp(op, "$regex")) {
        if (!json_is_string(x)) return 0;
        const char *p = json_string_value(arg), *s = json_string_value(x);
        if (p[0] == '^') return strncmp(s, p + 1, strlen(p + 1)) == 0;
        return strstr(s, p) != NULL;
    }
    if (rank(x) != rank(arg)) return 0;
    int c = ref_cmp(x, arg);
    if (!strcmp(op, "$gt")) return c > 0;
    if (!strcmp(op, "$gte")) return c >= 0;
    if (!strcmp(op, "$lt")) return c < 0;
    if (!strcmp(op, "$lte")) return c <= 0;
    fail_msg("bad op %s", op);
    return 0;
}

/* Positive predicate over all candidates, with one level of array element expansion. */
static int any_cand(const struct cands *c, const char *op, const json_t *arg)
{
    for (size_t i = 0; i < c->n; i++) {
        const json_t *x = c->v[i];
        if (!x) {
            if (!strcmp(op, "$eq") && json_is_null(arg)) return 1;
            continue;
        }
        if (scalar_pred(op, arg, x)) return 1;
        if (json_is_array(x)) {
            size_t j;
            json_t *e;
            json_array_foreach(x, j, e) {
                if (scalar_pred(op, arg, e)) return 1;
            }
        }
    }
    return 0;
}

static int ref_ops(const json_t *doc, const char *path, const json_t *ops)
{
    struct cands c;
    cands_of(doc, path, &c);
    const char *op;
    json_t *arg;
    json_object_foreach((json_t *)ops, op, arg) {
        int r;
        if (!strcmp(op, "$ne")) r = !any_cand(&c, "$eq", arg);
        else if (!strcmp(op, "$in") || !strcmp(op, "$nin")) {
            r = 0;
            size_t j;
            json_t *e;
            json_array_foreach(arg, j, e) r |= any_cand(&c, "$eq", e);
            if (op[1] == 'n') r = !r;
        } else if (!strcmp(op, "$exists")) {
            int ex = 0;
            for (size_t i = 0; i < c.n; i++) ex |= c.v[i] != NULL;
            r = ex == json_is_true(arg);
        } else if (!strcmp(op, "$not")) r = !ref_ops(doc, path, arg);
        else r = any_cand(&c, op, arg);
        if (!r) return 0;
    }
    return 1;
}

static int ref_match(const json_t *doc, const json_t *f)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)f, k, v) {
        int r;
        if (!strcmp(k, "$and") || !strcmp(k, "$or") || !strcmp(k, "$nor")) {
            int any = 0, all = 1;
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                int m = ref_match(doc, e);
                any |= m;
                all &= m;
            }
            r = k[1] == 'a' ? all : (k[1] == 'o' ? any : !any);
        } else if (!strcmp(k, "$not")) {
            r = !ref_match(doc, v);
        } else if (json_is_object(v) && json_object_size(v) &&
                   json_object_iter_key(json_object_iter(v))[0] == '$') {
            r = ref_ops(doc, k, v);
        } else {
            json_t *ops = json_pack("{s:O}", "$eq", v);
            r = ref_ops(doc, k, ops);
            json_decref(ops);
        }
        if (!r) return 0;
    }
    return 1;
}

/* Sort-path lookup without fan-out. */
static const json_t *ref_get(const json_t *doc, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = doc;
    for (char *t = strtok(buf, "."); t && v; t = strtok(NULL, ".")) {
        if (json_is_object(v)) v = json_object_get(v, t);
        else if (json_is_array(v) && is_index(t)) v = json_array_get(v, (size_t)atoi(t));
        else v = NULL;
    }
    return v;
}

static const char *g_sort_paths[4];
static int g_sort_desc[4];
static size_t g_nsort;

static int ref_sort_cmp(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    for (size_t i = 0; i < g_nsort; i++) {
        int c = ref_cmp(ref_get(a, g_sort_paths[i]), ref_get(b, g_sort_paths[i]));
        if (c) return g_sort_desc[i] ? -c : c;
    }
    return strcmp(json_string_value(json_object_get(a, "_id")),
                  json_string_value(json_object_get(b, "_id")));
}

/* ---- tests ---- */

static uint64_t seed_from_env(void)
{
    const char *s = getenv("BB_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 10) : 0x9e3779b97f4a7c15ull;
}

static json_t *gen_docs(void)
{
    json_t *docs = json_array();
    for (int i = 0; i < N_DOCS; i++) json_array_append_new(docs, gen_doc(i));
    return docs;
}

static void test_random_filters(void **state)
{
    (void)state;
    uint64_t seed = seed_from_env();
    rng_state = seed;
    size_t evals = 0, hits = 0;
    json_t *docs = NULL;
    for (int q = 0; q < N_QUERIES; q++) {
        if (q % 500 == 0) {
            json_decref(docs);
            docs = gen_docs();
        }
        json_t *f = gen_filter(2);
        struct bdoc_query *cq = NULL;
        char err[256];
        if (bdoc_query_compile(f, &cq, err, sizeof err)) {
            char *s = json_dumps(f, JSON_COMPACT);
            fail_msg("seed %llu: compile %s: %s", (unsigned long long)seed, s, err);
        }
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d) {
            int got = bdoc_query_match(cq, d), want = ref_match(d, f);
            evals++;
            hits += (size_t)want;
            if (got != want) {
                char *fs = json_dumps(f, JSON_COMPACT), *ds = json_dumps(d, JSON_COMPACT);
                fail_msg("seed %llu query %d: filter %s doc %s: got %d want %d",
                         (unsigned long long)seed, q, fs, ds, got, want);
            }
        }
        bdoc_query_free(cq);
        json_decref(f);
    }
    json_decref(docs);
    /* the generator must exercise both outcomes substantially */
    assert_true(hits > evals / 20);
    assert_true(hits < evals - evals / 20);
    print_message("%zu evaluations over %d queries, %zu matches\n", evals, N_QUERIES, hits);
}

static void test_random_finds(void **state)
{
    (void)state;
    uint64_t seed = seed_from_env() ^ 0xabcdefull;
    rng_state = seed;
    json_t *docs = NULL;
    static const char *spaths[] = {"a", "b", "n.x", "arr", "arr.0", "n.y.z", "objs.0.k", "c"};
    size_t total_pages = 0;
    for (int it = 0; it < N_FINDS; it++) {
        if (it % 250 == 0) {
            json_decref(docs);
            docs = gen_docs();
        }
        json_t *f = rnd(4) ? gen_filter(1) : json_object();
        g_nsort = rnd(4);
        json_t *sort = json_array();
        for (size_t i = 0; i < g_nsort; i++) {
            g_sort_paths[i] = spaths[rnd(8)];
            g_sort_desc[i] = (int)rnd(2);
            char buf[64];
            snprintf(buf, sizeof buf, "%s%s", g_sort_desc[i] ? "-" : "", g_sort_paths[i]);
            json_array_append_new(sort, json_string(buf));
        }
        size_t skip = rnd(3) ? 0 : rnd(10), limit = rnd(4) ? 1 + rnd(12) : 0;
        /* the reference answer */
        json_t *want[N_DOCS];
        size_t nw = 0, i;
        json_t *d;
        json_array_foreach(docs, i, d) {
            if (ref_match(d, f)) want[nw++] = d;
        }
        qsort(want, nw, sizeof *want, ref_sort_cmp);
        size_t end = limit ? skip + limit : nw;
        if (end > nw) end = nw;

        json_t *req = json_pack("{s:O,s:O,s:i,s:i}", "query", f, "sort", sort, "skip", (int)skip,
                                "limit", (int)limit);
        struct bdoc_find *fc = NULL;
        char err[256];
        if (bdoc_find_compile(req, &fc, err, sizeof err)) fail_msg("compile: %s", err);
        json_t *page = NULL;
        char *cur = NULL;
        size_t matched = 0;
        assert_int_equal(bdoc_find_array(fc, docs, &page, &cur, &matched), 0);
        assert_int_equal(matched, nw);
        assert_int_equal(json_array_size(page), end > skip ? end - skip : 0);
        for (i = skip; i < end; i++) {
            if (json_array_get(page, i - skip) != want[i]) {
                char *rs = json_dumps(req, JSON_COMPACT);
                fail_msg("seed %llu find %d: %s: position %zu differs",
                         (unsigned long long)seed, it, rs, i);
            }
        }
        assert_int_equal(cur != NULL, limit && nw > skip + limit);
        bdoc_find_free(fc);
        json_decref(page);
        /* follow the cursors to the end: pages concatenate to the reference order */
        size_t pos = end;
        while (cur) {
            json_t *r2 = json_pack("{s:O,s:O,s:i,s:s}", "query", f, "sort", sort, "limit",
                                   (int)limit, "cursor", cur);
            free(cur);
            cur = NULL;
            if (bdoc_find_compile(r2, &fc, err, sizeof err)) fail_msg("cursor: %s", err);
            assert_int_equal(bdoc_find_array(fc, docs, &page, &cur, NULL), 0);
            for (i = 0; i < json_array_size(page); i++) {
                if (pos >= nw || json_array_get(page, i) != want[pos])
                    fail_msg("seed %llu find %d: cursor page differs at %zu",
                             (unsigned long long)seed, it, pos);
                pos++;
            }
            total_pages++;
            json_decref(page);
            json_decref(r2);
            bdoc_find_free(fc);
        }
        if (limit) assert_int_equal(pos, nw);
        json_decref(req);
        json_decref(sort);
        json_decref(f);
    }
    json_decref(docs);
    assert_true(total_pages > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_filters),
        cmocka_unit_test(test_random_finds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
