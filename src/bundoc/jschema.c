/* jschema.c — JSON Schema draft 7 core: compile once, validate on every write. See jschema.h.
 *
 * Validation order inside one schema (the first failure is reported): boolean schema, type,
 * enum, const, number keywords (minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * multipleOf), string keywords (minLength, maxLength, pattern), array keywords (minItems,
 * maxItems, uniqueItems, items in index order), object keywords (minProperties, maxProperties,
 * required in schema order, properties in schema order, additionalProperties in document
 * order), then allOf, anyOf, oneOf, not. */
#include "jschema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "query.h"

enum {
    T_NULL = 1 << 0,
    T_BOOL = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_STRING = 1 << 5,
    T_INTEGER = 1 << 6,
};

struct sprop {
    char *name;
    struct snode *schema;
};

struct snode {
    int boolean; /* -1: a schema object; 0: false; 1: true */
    unsigned types;
    json_t *enum_, *const_;
    json_t *minimum, *maximum, *exmin, *exmax, *multiple;
    long long min_len, max_len, min_items, max_items, min_props, max_props; /* -1: unset */
    int unique;
    struct bdoc_regex *pattern;
    json_t *pattern_src;
    struct sprop *props;
    size_t nprops;
    json_t *required; /* array of strings */
    int addl_mode;    /* 0: any, 1: forbidden, 2: schema */
    struct snode *addl;
    struct snode *items; /* one schema for all items */
    struct snode **tuple;
    size_t ntuple;
    struct snode **all, **any, **one;
    size_t nall, nany, none;
    struct snode *not_;
};

struct ref_store {
    char *path, *collection;
};

struct bdoc_schema {
    json_t *src;
    struct snode *root;
    struct bdoc_schema_ref *refs;
    struct ref_store *ref_strs;
    size_t nrefs;
};

struct cctx {
    size_t nodes;
    char *err;
    size_t cap;
    char ptr[512]; /* JSON Pointer of the schema position, for compile errors */
    struct bdoc_schema *s;
};

static void cerr(struct cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cerr(struct cctx *c, const char *fmt, ...)
{
    if (!c->err || !c->cap) return;
    int n = snprintf(c->err, c->cap, "schema %s: ", c->ptr[0] ? c->ptr : "(root)");
    if (n < 0 || (size_t)n >= c->cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->cap - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Appends "/" + escaped token to a JSON Pointer buffer; returns the old length to restore. */
static size_t ptr_push(char *buf, size_t cap, const char *tok)
{
    size_t old = strlen(buf), n = old;
    if (n + 1 < cap) buf[n++] = '/';
    for (const char *t = tok; *t && n + 2 < cap; t++) {
        if (*t == '~' || *t == '/') {
            buf[n++] = '~';
            buf[n++] = *t == '~' ? '0' : '1';
        } else {
            buf[n++] = *t;
        }
    }
    buf[n < cap ? n : cap - 1] = 0;
    return old;
}

static size_t ptr_push_index(char *buf, size_t cap, size_t i)
{
    char t[32];
    snprintf(t, sizeof t, "%zu", i);
    return ptr_push(buf, cap, t);
}

static void node_free(struct snode *n);

static void nodes_free(struct snode **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) node_free(v[i]);
    free(v);
}

static void node_free(struct snode *n)
{
    if (!n) return;
    json_decref(n->enum_);
    json_decref(n->const_);
    json_decref(n->minimum);
    json_decref(n->maximum);
    json_decref(n->exmin);
    json_decref(n->exmax);
    json_decref(n->multiple);
    json_decref(n->pattern_src);
    json_decref(n->required);
    bdoc_regex_free(n->pattern);
    for (size_t i = 0; i < n->nprops; i++) {
        free(n->props[i].name);
        node_free(n->props[i].schema);
    }
    free(n->props);
    node_free(n->addl);
    node_free(n->items);
    nodes_free(n->tuple, n->ntuple);
    nodes_free(n->all, n->nall);
    nodes_free(n->any, n->nany);
    nodes_free(n->one, n->none);
    node_free(n->not_);
    free(n);
}

static int compile_node(struct cctx *c, const json_t *j, int depth, const char *dotpath,
                        struct snode **out);

static int type_bit(const char *name)
{
    static const struct {
        const char *n;
        int bit;
    } t[] = {{"null", T_NULL},     {"boolean", T_BOOL}, {"object", T_OBJECT},
             {"array", T_ARRAY},   {"number", T_NUMBER}, {"string", T_STRING},
             {"integer", T_INTEGER}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(name, t[i].n)) return t[i].bit;
    return 0;
}

static int get_count(struct cctx *c, const json_t *j, const char *kw, long long *out)
{
    const json_t *v = json_object_get(j, kw);
    *out = -1;
    if (!v) return 0;
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        json_real_value(v) >= 0 && json_real_value(v) < 9e15) {
        *out = (long long)json_real_value(v);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        size_t o = ptr_push(c->ptr, sizeof c->ptr, kw);
        cerr(c, "%s must be a non-negative integer", kw);
        c->ptr[o] = 0;
        return BB_EINVAL;
    }
    *out = (long long)json_integer_value(v);
    return 0;
}

static int get_number(struct cctx *c, const json_t *j, const char *kw, json_t **out)
{
    const json_t *v = json_object_get(j, kw);
    if (!v) return 0;
    if (!json_is_number(v)) {
        size_t o = ptr_push(c->ptr, sizeof c->ptr, kw);
        cerr(c, "%s must be a number", kw);
        c->ptr[o] = 0;
        return BB_EINVAL;
    }
    *out = json_incref((json_t *)v);
    return 0;
}

static int compile_list(struct cctx *c, const json_t *j, const char *kw, int depth,
                        struct snode ***out, size_t *n)
{
    const json_t *v = json_object_get(j, kw);
    if (!v) return 0;
    size_t o = ptr_push(c->ptr, sizeof c->ptr, kw);
    int rc = 0;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        cerr(c, "%s must be a non-empty array of schemas", kw);
        rc = BB_EINVAL;
        goto out;
    }
    *out = calloc(json_array_size(v), sizeof **out);
    if (!*out) {
        rc = BB_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t o2 = ptr_push_index(c->ptr, sizeof c->ptr, i);
        rc = compile_node(c, json_array_get(v, i), depth + 1, NULL, &(*out)[i]);
        c->ptr[o2] = 0;
        if (rc) goto out;
        *n = i + 1;
    }
out:
    c->ptr[o] = 0;
    return rc;
}

static int add_ref(struct cctx *c, const json_t *r, const char *dotpath)
{
    struct bdoc_schema *s = c->s;
    if (!json_is_object(r)) {
        cerr(c, "x-bundoc-ref must be an object");
        return BB_EINVAL;
    }
    if (!dotpath) {
        cerr(c, "x-bundoc-ref is only supported on properties (not inside items or combinators)");
        return BB_EINVAL;
    }
    const json_t *coll = json_object_get(r, "collection");
    const json_t *field = json_object_get(r, "field");
    const json_t *od = json_object_get(r, "on_delete");
    if (!json_is_string(coll) || json_string_length(coll) == 0) {
        cerr(c, "x-bundoc-ref.collection must be a non-empty string");
        return BB_EINVAL;
    }
    if (field && !(json_is_string(field) && !strcmp(json_string_value(field), "_id"))) {
        cerr(c, "x-bundoc-ref.field must be \"_id\"");
        return BB_EINVAL;
    }
    enum bdoc_on_delete d = BDOC_ON_DELETE_SET_NULL;
    if (od) {
        const char *v = json_is_string(od) ? json_string_value(od) : "";
        if (!strcmp(v, "restrict")) d = BDOC_ON_DELETE_RESTRICT;
        else if (!strcmp(v, "set_null")) d = BDOC_ON_DELETE_SET_NULL;
        else if (!strcmp(v, "cascade")) d = BDOC_ON_DELETE_CASCADE;
        else {
            cerr(c, "x-bundoc-ref.on_delete must be restrict, set_null or cascade");
            return BB_EINVAL;
        }
    }
    struct ref_store *st = realloc(s->ref_strs, (s->nrefs + 1) * sizeof *st);
    if (!st) return BB_ENOMEM;
    s->ref_strs = st;
    struct bdoc_schema_ref *rf = realloc(s->refs, (s->nrefs + 1) * sizeof *rf);
    if (!rf) return BB_ENOMEM;
    s->refs = rf;
    st[s->nrefs].path = strdup(dotpath);
    st[s->nrefs].collection = strdup(json_string_value(coll));
    if (!st[s->nrefs].path || !st[s->nrefs].collection) {
        free(st[s->nrefs].path);
        free(st[s->nrefs].collection);
        return BB_ENOMEM;
    }
    rf[s->nrefs] = (struct bdoc_schema_ref){st[s->nrefs].path, st[s->nrefs].collection, "_id", d};
    s->nrefs++;
    return 0;
}

static int compile_node(struct cctx *c, const json_t *j, int depth, const char *dotpath,
                        struct snode **out)
{
    static const char *const rejected[] = {"$ref", "patternProperties", "dependencies",
                                           "propertyNames", "contains", "additionalItems",
                                           "if", "then", "else"};
    int rc = 0;
    struct snode *n = NULL;
    *out = NULL;
    if (depth > BDOC_SCHEMA_MAX_DEPTH) {
        cerr(c, "schema nested deeper than %d", BDOC_SCHEMA_MAX_DEPTH);
        return BB_ETOOBIG;
    }
    if (++c->nodes > BDOC_SCHEMA_MAX_NODES) {
        cerr(c, "schema has more than %d subschemas", BDOC_SCHEMA_MAX_NODES);
        return BB_ETOOBIG;
    }
    n = calloc(1, sizeof *n);
    if (!n) return BB_ENOMEM;
    n->min_len = n->max_len = n->min_items = n->max_items = n->min_props = n->max_props = -1;
    if (json_is_boolean(j)) {
        n->boolean = json_is_true(j);
        goto done;
    }
    n->boolean = -1;
    if (!json_is_object(j)) {
        cerr(c, "a schema must be an object or a boolean");
        rc = BB_EINVAL;
        goto out;
    }
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        if (json_object_get(j, rejected[i])) {
            cerr(c, "keyword %s is not supported", rejected[i]);
            rc = BB_EINVAL;
            goto out;
        }
    }
    const json_t *v;
    if ((v = json_object_get(j, "type"))) {
        if (json_is_string(v)) {
            n->types = (unsigned)type_bit(json_string_value(v));
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                int b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
                if (!b || (n->types & (unsigned)b)) {
                    n->types = 0;
                    break;
                }
                n->types |= (unsigned)b;
            }
        }
        if (!n->types) {
            cerr(c, "type must be a type name or an array of distinct type names");
            rc = BB_EINVAL;
            goto out;
        }
    }
    if ((v = json_object_get(j, "enum"))) {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            cerr(c, "enum must be a non-empty array");
            rc = BB_EINVAL;
            goto out;
        }
        n->enum_ = json_incref((json_t *)v);
    }
    if ((v = json_object_get(j, "const"))) n->const_ = json_incref((json_t *)v);
    if ((rc = get_number(c, j, "minimum", &n->minimum)) ||
        (rc = get_number(c, j, "maximum", &n->maximum)) ||
        (rc = get_number(c, j, "exclusiveMinimum", &n->exmin)) ||
        (rc = get_number(c, j, "exclusiveMaximum", &n->exmax)) ||
        (rc = get_number(c, j, "multipleOf", &n->multiple)))
        goto out;
    if (n->multiple && json_number_value(n->multiple) <= 0) {
        cerr(c, "multipleOf must be greater than 0");
        rc = BB_EINVAL;
        goto out;
    }
    if ((rc = get_count(c, j, "minLength", &n->min_len)) ||
        (rc = get_count(c, j, "maxLength", &n->max_len)) ||
        (rc = get_count(c, j, "minItems", &n->min_items)) ||
        (rc = get_count(c, j, "maxItems", &n->max_items)) ||
        (rc = get_count(c, j, "minProperties", &n->min_props)) ||
        (rc = get_count(c, j, "maxProperties", &n->max_props)))
        goto out;
    if ((v = json_object_get(j, "uniqueItems"))) {
        if (!json_is_boolean(v)) {
            cerr(c, "uniqueItems must be a boolean");
            rc = BB_EINVAL;
            goto out;
        }
        n->unique = json_is_true(v);
    }
    if ((v = json_object_get(j, "pattern"))) {
        char rerr[256];
        if (!json_is_string(v)) {
            cerr(c, "pattern must be a string");
            rc = BB_EINVAL;
            goto out;
        }
        rc = bdoc_regex_compile(json_string_value(v), json_string_length(v), NULL, &n->pattern,
                                rerr, sizeof rerr);
        if (rc) {
            cerr(c, "pattern: %s", rerr);
            goto out;
        }
        n->pattern_src = json_incref((json_t *)v);
    }
    if ((v = json_object_get(j, "required"))) {
        int ok = json_is_array(v);
        size_t i, k;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) ok = 0;
            for (k = 0; ok && k < i; k++)
                if (json_equal(e, json_array_get(v, k))) ok = 0;
        }
        if (!ok) {
            cerr(c, "required must be an array of distinct strings");
            rc = BB_EINVAL;
            goto out;
        }
        n->required = json_incref((json_t *)v);
    }
    if ((v = json_object_get(j, "properties"))) {
        size_t o = ptr_push(c->ptr, sizeof c->ptr, "properties");
        if (!json_is_object(v)) {
            cerr(c, "properties must be an object");
            rc = BB_EINVAL;
            c->ptr[o] = 0;
            goto out;
        }
        n->props = calloc(json_object_size(v) + 1, sizeof *n->props);
        if (!n->props) {
            rc = BB_ENOMEM;
            c->ptr[o] = 0;
            goto out;
        }
        const char *k;
        json_t *ps;
        json_object_foreach((json_t *)v, k, ps) {
            size_t o2 = ptr_push(c->ptr, sizeof c->ptr, k);
            char dp[512];
            snprintf(dp, sizeof dp, "%s%s%s", dotpath && dotpath[0] ? dotpath : "",
                     dotpath && dotpath[0] ? "." : "", k);
            struct sprop *p = &n->props[n->nprops];
            p->name = strdup(k);
            rc = p->name ? compile_node(c, ps, depth + 1, dotpath ? dp : NULL, &p->schema)
                         : BB_ENOMEM;
            if (p->name) n->nprops++;
            if (!rc && json_is_object(ps) && json_object_get(ps, "x-bundoc-ref")) {
                size_t o3 = ptr_push(c->ptr, sizeof c->ptr, "x-bundoc-ref");
                rc = add_ref(c, json_object_get(ps, "x-bundoc-ref"), dotpath ? dp : NULL);
                c->ptr[o3] = 0;
            }
            c->ptr[o2] = 0;
            if (rc) {
                c->ptr[o] = 0;
                goto out;
            }
        }
        c->ptr[o] = 0;
    }
    if ((v = json_object_get(j, "additionalProperties"))) {
        if (json_is_false(v)) {
            n->addl_mode = 1;
        } else if (!json_is_true(v)) {
            size_t o = ptr_push(c->ptr, sizeof c->ptr, "additionalProperties");
            rc = compile_node(c, v, depth + 1, NULL, &n->addl);
            c->ptr[o] = 0;
            if (rc) goto out;
            n->addl_mode = 2;
        }
    }
    if ((v = json_object_get(j, "items"))) {
        size_t o = ptr_push(c->ptr, sizeof c->ptr, "items");
        if (json_is_array(v)) {
            n->tuple = calloc(json_array_size(v) + 1, sizeof *n->tuple);
            if (!n->tuple) rc = BB_ENOMEM;
            for (size_t i = 0; !rc && i < json_array_size(v); i++) {
                size_t o2 = ptr_push_index(c->ptr, sizeof c->ptr, i);
                rc = compile_node(c, json_array_get(v, i), depth + 1, NULL, &n->tuple[i]);
                c->ptr[o2] = 0;
                if (!rc) n->ntuple = i + 1;
            }
        } else {
            rc = compile_node(c, v, depth + 1, NULL, &n->items);
        }
        c->ptr[o] = 0;
        if (rc) goto out;
    }
    if ((rc = compile_list(c, j, "allOf", depth, &n->all, &n->nall)) ||
        (rc = compile_list(c, j, "anyOf", depth, &n->any, &n->nany)) ||
        (rc = compile_list(c, j, "oneOf", depth, &n->one, &n->none)))
        goto out;
    if ((v = json_object_get(j, "not"))) {
        size_t o = ptr_push(c->ptr, sizeof c->ptr, "not");
        rc = compile_node(c, v, depth + 1, NULL, &n->not_);
        c->ptr[o] = 0;
        if (rc) goto out;
    }
done:
    *out = n;
    n = NULL;
out:
    node_free(n);
    return rc;
}

/* ---- validation ---------------------------------------------------------------------------- */

struct vctx {
    char path[256];
    struct bdoc_schema_error *e;
    int quiet; /* inside anyOf/oneOf/not probes: do not record */
};

/* uniqueItems: finds the first item i equal to an earlier item k (the smallest such k), in
 * O(n) expected time with a hash table keyed by bdoc_value_hash (consistent with
 * bdoc_value_equal: 1 == 1.0, key order irrelevant). 1 found, 0 all distinct, BB_ENOMEM. */
static int first_duplicate(const json_t *arr, size_t *k_out, size_t *i_out)
{
    size_t n = json_array_size(arr);
    if (n <= 16) { /* small arrays: pairwise is cheaper than a table */
        for (size_t i = 1; i < n; i++)
            for (size_t k = 0; k < i; k++)
                if (bdoc_value_equal(json_array_get(arr, i), json_array_get(arr, k))) {
                    *k_out = k;
                    *i_out = i;
                    return 1;
                }
        return 0;
    }
    size_t cap = 32;
    while (cap < 2 * n) cap *= 2;
    struct slot {
        uint64_t h;
        size_t idx1; /* index + 1; 0: empty */
    } *t = calloc(cap, sizeof *t);
    if (!t) return BB_ENOMEM;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        const json_t *e = json_array_get(arr, i);
        uint64_t h = bdoc_value_hash(e);
        size_t p = (size_t)h & (cap - 1);
        /* the table holds one item per value seen (the first), so a hit is the smallest k */
        for (; t[p].idx1; p = (p + 1) & (cap - 1)) {
            if (t[p].h == h && bdoc_value_equal(json_array_get(arr, t[p].idx1 - 1), e)) {
                *k_out = t[p].idx1 - 1;
                *i_out = i;
                found = 1;
                break;
            }
        }
        if (!found) {
            t[p].h = h;
            t[p].idx1 = i + 1;
        }
    }
    free(t);
    return found;
}

static int fail(struct vctx *v, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct vctx *v, const char *kw, const char *fmt, ...)
{
    if (v->quiet || !v->e) return BB_EINVAL;
    struct bdoc_schema_error *e = v->e;
    snprintf(e->path, sizeof e->path, "%s", v->path);
    snprintf(e->keyword, sizeof e->keyword, "%s", kw);
    int n = snprintf(e->message, sizeof e->message, "%s: %s: ", v->path[0] ? v->path : "(root)",
                     kw);
    if (n >= 0 && (size_t)n < sizeof e->message) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message + n, sizeof e->message - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return BB_EINVAL;
}

static unsigned type_of(const json_t *d)
{
    switch (json_typeof(d)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_OBJECT: return T_OBJECT;
    case JSON_ARRAY: return T_ARRAY;
    case JSON_STRING: return T_STRING;
    case JSON_INTEGER: return T_NUMBER | T_INTEGER;
    case JSON_REAL: {
        double x = json_real_value(d);
        return T_NUMBER | (x == floor(x) ? T_INTEGER : 0);
    }
    }
    return 0;
}

static const char *type_name(const json_t *d)
{
    switch (json_typeof(d)) {
    case JSON_NULL: return "null";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    }
    return "?";
}

static void num_text(const json_t *n, char *buf, size_t cap)
{
    if (json_is_integer(n)) snprintf(buf, cap, "%lld", (long long)json_integer_value(n));
    else snprintf(buf, cap, "%.17g", json_real_value(n));
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++) cps += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cps;
}

static int validate(struct vctx *v, const struct snode *n, const json_t *d);

static int validate_child(struct vctx *v, const struct snode *n, const json_t *d,
                          const char *key, size_t index)
{
    size_t o = key ? ptr_push(v->path, sizeof v->path, key)
                   : ptr_push_index(v->path, sizeof v->path, index);
    int rc = validate(v, n, d); /* a failure has already copied the path into the report */
    v->path[o] = 0;
    return rc;
}

static int is_multiple(const json_t *d, const json_t *m)
{
    if (json_is_integer(d) && json_is_integer(m))
        return json_integer_value(d) % json_integer_value(m) == 0;
    double x = json_number_value(d), y = json_number_value(m);
    double q = x / y;
    if (!isfinite(q)) return 0;
    return fabs(q - nearbyint(q)) < 1e-9;
}

static int validate(struct vctx *v, const struct snode *n, const json_t *d)
{
    char a[64], b[64];
    if (n->boolean == 0) return fail(v, "false", "no value is allowed here");
    if (n->boolean == 1) return 0;
    unsigned t = type_of(d);
    if (n->types && !(n->types & t)) {
        char want[96] = "";
        static const char *names[] = {"null", "boolean", "object", "array", "number",
                                      "string", "integer"};
        for (int i = 0; i < 7; i++)
            if (n->types & (1u << i))
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s",
                         want[0] ? " or " : "", names[i]);
        return fail(v, "type", "expected %s, got %s", want, type_name(d));
    }
    if (n->enum_) {
        int found = 0;
        size_t i;
        json_t *e;
        json_array_foreach(n->enum_, i, e) found |= bdoc_value_equal(e, d);
        if (!found) return fail(v, "enum", "value is not one of the allowed values");
    }
    if (n->const_ && !bdoc_value_equal(n->const_, d))
        return fail(v, "const", "value is not the required constant");
    if (t & T_NUMBER) {
        num_text(d, a, sizeof a);
        if (n->minimum && bdoc_value_cmp(d, n->minimum) < 0)
            return num_text(n->minimum, b, sizeof b),
                   fail(v, "minimum", "%s is less than the minimum %s", a, b);
        if (n->maximum && bdoc_value_cmp(d, n->maximum) > 0)
            return num_text(n->maximum, b, sizeof b),
                   fail(v, "maximum", "%s is greater than the maximum %s", a, b);
        if (n->exmin && bdoc_value_cmp(d, n->exmin) <= 0)
            return num_text(n->exmin, b, sizeof b),
                   fail(v, "exclusiveMinimum", "%s is not greater than %s", a, b);
        if (n->exmax && bdoc_value_cmp(d, n->exmax) >= 0)
            return num_text(n->exmax, b, sizeof b),
                   fail(v, "exclusiveMaximum", "%s is not less than %s", a, b);
        if (n->multiple && !is_multiple(d, n->multiple))
            return num_text(n->multiple, b, sizeof b),
                   fail(v, "multipleOf", "%s is not a multiple of %s", a, b);
    }
    if (t & T_STRING) {
        size_t cps = utf8_len(json_string_value(d), json_string_length(d));
        if (n->min_len >= 0 && cps < (size_t)n->min_len)
            return fail(v, "minLength", "string of %zu characters is shorter than %lld", cps,
                        n->min_len);
        if (n->max_len >= 0 && cps > (size_t)n->max_len)
            return fail(v, "maxLength", "string of %zu characters is longer than %lld", cps,
                        n->max_len);
        if (n->pattern) {
            int m = bdoc_regex_match(n->pattern, json_string_value(d), json_string_length(d));
            if (m < 0) return m;
            if (!m)
                return fail(v, "pattern", "string does not match /%.200s/",
                            json_string_value(n->pattern_src));
        }
    }
    if (t & T_ARRAY) {
        size_t sz = json_array_size(d);
        if (n->min_items >= 0 && sz < (size_t)n->min_items)
            return fail(v, "minItems", "array of %zu items has fewer than %lld", sz, n->min_items);
        if (n->max_items >= 0 && sz > (size_t)n->max_items)
            return fail(v, "maxItems", "array of %zu items has more than %lld", sz, n->max_items);
        if (n->unique) {
            size_t k = 0, i = 0;
            int rc = first_duplicate(d, &k, &i);
            if (rc < 0) return rc;
            if (rc) return fail(v, "uniqueItems", "items %zu and %zu are equal", k, i);
        }
        for (size_t i = 0; i < sz; i++) {
            const struct snode *is = n->tuple ? (i < n->ntuple ? n->tuple[i] : NULL) : n->items;
            if (!is) continue;
            int rc = validate_child(v, is, json_array_get(d, i), NULL, i);
            if (rc) return rc;
        }
    }
    if (t & T_OBJECT) {
        size_t sz = json_object_size(d);
        if (n->min_props >= 0 && sz < (size_t)n->min_props)
            return fail(v, "minProperties", "object with %zu properties has fewer than %lld", sz,
                        n->min_props);
        if (n->max_props >= 0 && sz > (size_t)n->max_props)
            return fail(v, "maxProperties", "object with %zu properties has more than %lld", sz,
                        n->max_props);
        size_t i;
        json_t *e;
        json_array_foreach(n->required, i, e) {
            if (!json_object_get(d, json_string_value(e)))
                return fail(v, "required", "missing required property '%.100s'",
                            json_string_value(e));
        }
        for (i = 0; i < n->nprops; i++) {
            const json_t *pv = json_object_get(d, n->props[i].name);
            if (!pv) continue;
            int rc = validate_child(v, n->props[i].schema, pv, n->props[i].name, 0);
            if (rc) return rc;
        }
        if (n->addl_mode) {
            const char *k;
            json_t *pv;
            json_object_foreach((json_t *)d, k, pv) {
                size_t p = 0;
                while (p < n->nprops && strcmp(n->props[p].name, k)) p++;
                if (p < n->nprops) continue;
                if (n->addl_mode == 1) {
                    size_t o = ptr_push(v->path, sizeof v->path, k);
                    int rc = fail(v, "additionalProperties", "property '%.100s' is not allowed",
                                  k);
                    v->path[o] = 0;
                    return rc;
                }
                int rc = validate_child(v, n->addl, pv, k, 0);
                if (rc) return rc;
            }
        }
    }
    for (size_t i = 0; i < n->nall; i++) {
        int rc = validate(v, n->all[i], d);
        if (rc) return rc;
    }
    if (n->nany || n->none || n->not_) {
        int quiet = v->quiet, ok = 0;
        v->quiet = 1;
        for (size_t i = 0; i < n->nany && !ok; i++) ok = validate(v, n->any[i], d) == 0;
        size_t nok = 0;
        for (size_t i = 0; i < n->none; i++) nok += validate(v, n->one[i], d) == 0;
        int notok = n->not_ ? validate(v, n->not_, d) == 0 : 0;
        v->quiet = quiet;
        if (n->nany && !ok) return fail(v, "anyOf", "value matches none of the schemas");
        if (n->none && nok != 1)
            return fail(v, "oneOf", "value matches %zu of the schemas, not exactly one", nok);
        if (notok) return fail(v, "not", "value matches a schema it must not match");
    }
    return 0;
}

/* ---- public -------------------------------------------------------------------------------- */

void bdoc_schema_free(struct bdoc_schema *s)
{
    if (!s) return;
    node_free(s->root);
    for (size_t i = 0; i < s->nrefs; i++) {
        free(s->ref_strs[i].path);
        free(s->ref_strs[i].collection);
    }
    free(s->ref_strs);
    free(s->refs);
    json_decref(s->src);
    free(s);
}

int bdoc_schema_compile(const json_t *schema, struct bdoc_schema **out, char *err, size_t errcap)
{
    int rc;
    struct bdoc_schema *s = NULL;
    *out = NULL;
    if (err && errcap) err[0] = 0;
    if (!schema) {
        if (err && errcap) snprintf(err, errcap, "schema missing");
        return BB_EINVAL;
    }
    s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    struct cctx c = {0, err, errcap, "", s};
    rc = compile_node(&c, schema, 0, "", &s->root);
    if (rc) goto out;
    s->src = json_deep_copy(schema);
    if (!s->src) {
        rc = BB_ENOMEM;
        goto out;
    }
    *out = s;
    s = NULL;
out:
    bdoc_schema_free(s);
    return rc;
}

int bdoc_schema_validate(const struct bdoc_schema *s, const json_t *doc,
                         struct bdoc_schema_error *e)
{
    struct vctx v = {"", e, 0};
    if (e) memset(e, 0, sizeof *e);
    if (!s || !doc) return BB_EINVAL;
    return validate(&v, s->root, doc);
}

void bdoc_schema_refs(const struct bdoc_schema *s, const struct bdoc_schema_ref **refs,
                      size_t *n)
{
    *refs = s->refs;
    *n = s->nrefs;
}

const json_t *bdoc_schema_json(const struct bdoc_schema *s)
{
    return s->src;
}

const char *bdoc_on_delete_name(enum bdoc_on_delete d)
{
    switch (d) {
    case BDOC_ON_DELETE_RESTRICT: return "restrict";
    case BDOC_ON_DELETE_SET_NULL: return "set_null";
    case BDOC_ON_DELETE_CASCADE: return "cascade";
    }
    return "set_null";
}
