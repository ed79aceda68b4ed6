/* bdoc_gen.h — random documents and filters shared by the randomized bundoc tests
 * (test_query_random.c: matcher vs a reference evaluator; test_store_random.c: planner vs full
 * scan). Header-only (static functions); seed rng_state before use. */
#ifndef BDOC_GEN_H
#define BDOC_GEN_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>


static uint64_t rng_state;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* ---- generators ---- */

static json_t *gen_scalar(void)
{
    static const char *strs[] = {"", "a", "b", "ab", "A", "ba"};
    static const double reals[] = {-1.5, 0.5, 2.0, 1e300};
    switch (rnd(6)) {
    case 0: return json_null();
    case 1: return json_boolean(rnd(2));
    case 2: return json_integer((json_int_t)rnd(5) - 2);
    case 3: return json_real(reals[rnd(4)]);
    default: return json_string(strs[rnd(6)]);
    }
}

static json_t *gen_value(int depth)
{
    unsigned k = rnd(depth > 0 ? 10 : 7);
    if (k < 7) return gen_scalar();
    if (k == 7) { /* array of scalars */
        json_t *a = json_array();
        unsigned n = rnd(4);
        for (unsigned i = 0; i < n; i++) json_array_append_new(a, gen_scalar());
        return a;
    }
    if (k == 8) {
        json_t *o = json_object();
        if (rnd(2)) json_object_set_new(o, "k", gen_value(depth - 1));
        if (rnd(2)) json_object_set_new(o, "m", gen_scalar());
        return o;
    }
    json_t *a = json_array(); /* mixed array: maybe objects and nested arrays */
    unsigned n = rnd(3);
    for (unsigned i = 0; i < n; i++) json_array_append_new(a, gen_value(depth - 1));
    return a;
}

static json_t *gen_doc(int i)
{
    char id[16];
    snprintf(id, sizeof id, "id%03d", i);
    json_t *d = json_pack("{s:s}", "_id", id);
    if (rnd(5)) json_object_set_new(d, "a", gen_value(1));
    if (rnd(3)) json_object_set_new(d, "b", gen_scalar());
    if (rnd(2)) json_object_set_new(d, "c", gen_value(2));
    if (rnd(4)) {
        json_t *n = json_object();
        if (rnd(4)) json_object_set_new(n, "x", gen_value(1));
        if (rnd(2)) {
            json_t *y = json_object();
            if (rnd(3)) json_object_set_new(y, "z", gen_scalar());
            json_object_set_new(n, "y", rnd(5) ? y : json_pack("[o]", y));
        }
        json_object_set_new(d, "n", n);
    }
    if (rnd(3)) {
        json_t *arr = json_array();
        unsigned k = rnd(4);
        for (unsigned j = 0; j < k; j++) json_array_append_new(arr, gen_scalar());
        json_object_set_new(d, "arr", arr);
    }
    if (rnd(3)) {
        json_t *objs = json_array();
        unsigned k = rnd(4);
        for (unsigned j = 0; j < k; j++) {
            json_t *o = json_object();
            if (rnd(4)) json_object_set_new(o, "k", gen_scalar());
            if (rnd(2)) json_object_set_new(o, "m", gen_value(1));
            json_array_append_new(objs, rnd(8) ? o : (json_decref(o), gen_scalar()));
        }
        json_object_set_new(d, "objs", objs);
    }
    return d;
}

static const char *PATHS[] = {"a",      "b",      "c",        "c.k",    "n",     "n.x",
                              "n.y.z",  "n.y",    "arr",      "arr.0",  "arr.1", "objs.k",
                              "objs.m", "objs.0.k", "n.x.k",  "c.0",    "c.k.k", "zz",
                              "objs.m.k", "a.k"};
#define NPATHS (sizeof PATHS / sizeof PATHS[0])

static json_t *gen_ops(int depth)
{
    static const char *ops[] = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
                                "$exists", "$regex", "$not"};
    json_t *o = json_object();
    unsigned n = 1 + rnd(2);
    for (unsigned i = 0; i < n; i++) {
        const char *op = ops[rnd(depth > 0 ? 11 : 10)];
        json_t *v;
        if (!strcmp(op, "$in") || !strcmp(op, "$nin")) {
            v = json_array();
            unsigned k = rnd(4);
            for (unsigned j = 0; j < k; j++) json_array_append_new(v, gen_value(1));
        } else if (!strcmp(op, "$exists")) {
            v = json_boolean(rnd(2));
        } else if (!strcmp(op, "$regex")) {
            static const char *pats[] = {"a", "^a", "b", "^ab", "^", "A"};
            v = json_string(pats[rnd(6)]);
        } else if (!strcmp(op, "$not")) {
            v = gen_ops(depth - 1);
        } else {
            v = gen_value(1);
        }
        json_object_set_new(o, op, v);
    }
    return o;
}

static json_t *gen_filter(int depth)
{
    json_t *f = json_object();
    unsigned n = 1 + rnd(2);
    for (unsigned i = 0; i < n; i++) {
        unsigned k = rnd(depth > 0 ? 12 : 8);
        if (k < 4) {
            json_object_set_new(f, PATHS[rnd(NPATHS)], gen_value(1)); /* implicit eq */
        } else if (k < 8) {
            json_object_set_new(f, PATHS[rnd(NPATHS)], gen_ops(1));
        } else if (k < 11) {
            static const char *lg[] = {"$and", "$or", "$nor"};
            json_t *l = json_array();
            unsigned m = 1 + rnd(3);
            for (unsigned j = 0; j < m; j++) json_array_append_new(l, gen_filter(depth - 1));
            json_object_set_new(f, lg[rnd(3)], l);
        } else {
            json_object_set_new(f, "$not", gen_filter(depth - 1));
        }
    }
    return f;
}

#endif
