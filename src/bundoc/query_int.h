/* query_int.h — private to query*.c: the compiled forms of filters, paths and sorts, shared by
 * the jansson evaluator (query.c) and the evaluator on the binary encoding (query_enc.c). */
#ifndef BDOC_QUERY_INT_H
#define BDOC_QUERY_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "query.h"

/* A parsed dot path: str is the whole path, segs its segments (both point into buf). */
struct bdoc_qpath {
    char *buf;
    const char *str;
    char **segs;
    size_t n;
};

/* Per-match state: the budget (may be NULL) and whether a regex hit its limits under it. */
struct mstate {
    struct bdoc_budget *b;
    int hit;
};

enum qop { Q_TRUE, Q_AND, Q_OR, Q_NOR, Q_NOT, Q_EQ, Q_GT, Q_GTE, Q_LT, Q_LTE, Q_IN, Q_EXISTS,
           Q_REGEX };

struct qnode {
    enum qop op;
    struct qnode **kids;
    size_t nkids;
    struct bdoc_qpath *path; /* leaves */
    json_t *val;             /* EQ, ranges: operand; IN: array */
    struct bdoc_regex *re;   /* REGEX */
};

struct bdoc_query {
    struct qnode *root;
    struct bdoc_pred *preds;
    size_t npreds;
    int all_indexable;
};

struct sort_key {
    struct bdoc_qpath *path;
    int desc;
};

struct bdoc_sort {
    struct sort_key *keys;
    size_t n;
    json_t *canon; /* ["a", "-b"]: identifies the sort inside cursors */
};

/* _id as a path (sort tie-breaker). */
extern const struct bdoc_qpath q_id_path;

/* Exact comparison of an int64 with a finite double (<0, 0, >0). */
int q_cmp_int_real(json_int_t i, double d);

/* Array index of a segment made only of digits (no leading zeros except "0"), or -1. */
long q_seg_index(const char *seg);
/* The value at p without array fan-out (digit segments index arrays); NULL when missing. */
const json_t *q_qpath_get(const struct bdoc_qpath *p, const json_t *doc);
/* 1 match, 0 no match; a limit hit sets ms->hit (BB_ELIMIT, or BB_ENOMEM) and answers 0. */
int q_regex_match_budget(const struct bdoc_regex *re, const char *s, size_t len,
                         struct mstate *ms);

/* ---- query_enc.c: evaluation on the binary document encoding (doc.c) ---- */

/* Filter q on the encoded document doc[0..len): 1, 0, or a negative error (BB_ELIMIT under a
 * budget, BB_EIO for a malformed encoding, BB_ENOMEM). b may be NULL. Same semantics as
 * bdoc_query_match on the decoded document. */
int qenc_match(const struct bdoc_query *q, const uint8_t *doc, size_t len, struct bdoc_budget *b);

/* Sort order of the encoded document a against either the decoded document b or a cursor
 * position (bkeys array + bid): as sort_cmp_impl in query.c. *err set on a malformed a. */
int qenc_sort_cmp(const struct bdoc_sort *s, const uint8_t *a, size_t alen, const json_t *b,
                  const json_t *bkeys, const json_t *bid, int *err);

/* ---- encoded value access, shared with the index key extraction (store_key.c) ---- */

/* An encoded value: p[0..n) is exactly one value (n = doc_vsize). p NULL: missing. */
struct qenc_val {
    const uint8_t *p;
    size_t n;
};
/* The root value of an encoded document (header checked), or BB_EIO. */
int qenc_root(const uint8_t *doc, size_t len, struct qenc_val *out);
/* Iterator over the elements (arrays) or members (objects) of a container value. */
struct qenc_it {
    const uint8_t *p;
    size_t n, off;
    uint32_t left;
    int obj;
};
int qenc_it_init(struct qenc_it *it, struct qenc_val v);
/* Next member: 1 with *val (and *key, *kl for objects), 0 at the end, BB_EIO if malformed. */
int qenc_it_next(struct qenc_it *it, struct qenc_val *val, const char **key, size_t *kl);
/* Called for every value a path walk reaches (v.p NULL: missing); nonzero stops the walk and
 * is returned (a negative value is an error). */
typedef int (*qenc_leaf_fn)(void *ctx, struct qenc_val v);
/* The path walk of filters and index keys on the encoding, from segment i of segs[0..nsegs):
 * object steps; segidx(seg) >= 0 indexes an array; other segments fan out over an array's
 * object elements; every way to "missing" (absent member or element, a step through a scalar,
 * an array without objects) calls fn with a missing value. *arr (may be NULL) set when an array
 * was stepped through. 0, fn's nonzero answer, or BB_EIO for a malformed encoding. */
int qenc_walk_path(char *const *segs, size_t nsegs, long (*segidx)(const char *),
                   struct qenc_val v, size_t i, int *arr, qenc_leaf_fn fn, void *ctx);

#endif
