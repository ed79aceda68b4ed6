/* query.h — the bundoc query layer on plain jansson documents (prefix bdoc_).
 *
 * Storage-independent: everything here works on json_t documents handed in by the caller (the
 * engine's scan, later the planner's index candidates). Four parts:
 *
 *   1. The value order: ONE total order over JSON values, used by sorting, keyset cursors,
 *      comparison operators and (later) index keys:
 *          null < numbers < strings < objects < arrays < booleans      (MongoDB's order, on JSON)
 *      numbers by exact value (integer 1 == real 1.0, 2^63-1 vs 9.2e18 compared exactly), strings
 *      by bytes (= code-point order for UTF-8), objects by their keys sorted bytewise then values
 *      pairwise then size (so key order never matters), arrays lexicographically, false < true.
 *
 *   2. Filters: bdoc_query_compile() turns a MongoDB-style filter object into a compiled query;
 *      bdoc_query_match() evaluates it against a document. Operators: implicit equality, $eq $ne
 *      $gt $gte $lt $lte $in $nin $exists $regex (+$options) $not (field level or top level)
 *      $and $or $nor; dot paths; array element matching. Semantics: docs/internals/bundoc-query.md.
 *      Range operators ($gt...) use type bracketing: they only match values of the operand's
 *      type class ({"$gt": 5} never matches a string); ordering inside a class is the order above.
 *
 *   3. Find requests: filter + sort on several fields (ties broken by _id, ascending) + skip +
 *      limit + keyset cursor + projection, executed over documents fed one by one
 *      (bdoc_find_run_*), with a bounded top-k buffer when a limit is given.
 *
 *   4. Planner hooks: bdoc_query_preds() lists the (path, eq|range|in) predicates an index could
 *      serve and whether the whole filter is their conjunction.
 *
 * Limits (each violation is BB_EINVAL or BB_ETOOBIG with a message): filter nesting depth
 * BDOC_QUERY_MAX_DEPTH, total nodes BDOC_QUERY_MAX_NODES, path length/segments, $in size, regex
 * pattern length BDOC_QUERY_MAX_REGEX_LEN, PCRE2 match and depth limits at match time.
 *
 * Errors: int functions return 0 or a negative BB_E* code (bb_err.h). Functions that take
 * (char *err, size_t errcap) write a NUL-terminated message there on failure ("" on success);
 * err may be NULL.
 *
 * Ownership: compiled objects are immutable after compile and may be shared by threads (match
 * uses per-call PCRE2 match data). Documents are always borrowed unless stated otherwise.
 */
#ifndef BDOC_QUERY_H
#define BDOC_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BDOC_QUERY_MAX_DEPTH 32         /* nesting of $and/$or/$nor/$not and operator objects */
#define BDOC_QUERY_MAX_NODES 4096       /* compiled nodes, $in/$nin elements included */
#define BDOC_QUERY_MAX_PATH_LEN 1024    /* bytes of a dot path */
#define BDOC_QUERY_MAX_PATH_SEGS 32     /* segments of a dot path */
#define BDOC_QUERY_MAX_REGEX_LEN 1024   /* bytes of a $regex / pattern */
#define BDOC_QUERY_MAX_SORT_KEYS 16     /* fields in a sort */
#define BDOC_QUERY_MAX_FIELDS 256       /* paths in a projection */
#define BDOC_QUERY_MAX_CURSOR_LEN 8192  /* characters of an encoded cursor */
#define BDOC_QUERY_MAX_WINDOW 1000000   /* skip + limit */
#define BDOC_REGEX_MATCH_LIMIT 100000   /* PCRE2 match limit (backtracking steps) */
#define BDOC_REGEX_DEPTH_LIMIT 1000     /* PCRE2 depth limit */

/* ---- 1. Value order ------------------------------------------------------------------------ */

/* Type classes in order. Integers and reals are one class. */
enum bdoc_type_class {
    BDOC_TC_NULL = 0,
    BDOC_TC_NUMBER = 1,
    BDOC_TC_STRING = 2,
    BDOC_TC_OBJECT = 3,
    BDOC_TC_ARRAY = 4,
    BDOC_TC_BOOL = 5,
};

/* The class of v (v must not be NULL). */
enum bdoc_type_class bdoc_type_class(const json_t *v);

/* <0, 0, >0 as a sorts before, equal to, after b in the total order. NULL (a missing value) is
 * treated as JSON null. Recursion into nested values is bounded by jansson's parse depth. */
int bdoc_value_cmp(const json_t *a, const json_t *b);

/* 1 if a and b are equal in the order (so 1 == 1.0 and {"a":1,"b":2} == {"b":2,"a":1}). */
int bdoc_value_equal(const json_t *a, const json_t *b);
/* A 64-bit hash consistent with bdoc_value_equal: equal values (1 and 1.0, objects whose keys
 * come in another order) hash equally. Not stable across versions; never store it. NULL hashes as
 * JSON null. */
uint64_t bdoc_value_hash(const json_t *v);

/* ---- Regular expressions (PCRE2, shared by filters, schemas and rules) ---------------------- */

struct bdoc_regex;

/* Compiles pattern[0..len) (UTF-8, PCRE2 syntax, unanchored search) with options, a string of
 * the letters i (caseless) m (multiline) s (dotall) x (extended), or NULL. Patterns longer than
 * BDOC_QUERY_MAX_REGEX_LEN are BB_ETOOBIG; a syntax error is BB_EINVAL with PCRE2's message and
 * offset in err. New object, caller frees with bdoc_regex_free; thread-safe to match from many
 * threads. */
int bdoc_regex_compile(const char *pattern, size_t len, const char *options,
                       struct bdoc_regex **out, char *err, size_t errcap);
/* 1 if s[0..len) contains a match, 0 if not, also 0 if the match or depth limit was hit (the
 * limits make every match bounded), BB_ENOMEM. */
int bdoc_regex_match(const struct bdoc_regex *re, const char *s, size_t len);
void bdoc_regex_free(struct bdoc_regex *re);

/* ---- Work budgets --------------------------------------------------------------------------- */

/* What one query may cost. 0 means "no limit" for max_docs / max_ms and "the default"
 * (BDOC_REGEX_MATCH_LIMIT / BDOC_REGEX_DEPTH_LIMIT) for the regex limits. */
struct bdoc_budget_limits {
    uint64_t max_docs;          /* documents examined (fed to the filter) */
    uint64_t max_ms;            /* wall time from bdoc_budget_new */
    uint32_t regex_match_limit; /* PCRE2 match limit of every regex match */
    uint32_t regex_depth_limit; /* PCRE2 depth limit of every regex match */
};

/* A running budget: one per query, used by one thread at a time. Under a budget a regex that hits
 * its match/depth/heap limit fails the query (BB_ELIMIT) instead of counting as "no match". */
struct bdoc_budget;

/* lim is copied (NULL: defaults). New object; free with bdoc_budget_free. BB_ENOMEM. */
int bdoc_budget_new(const struct bdoc_budget_limits *lim, struct bdoc_budget **out);
void bdoc_budget_free(struct bdoc_budget *b); /* NULL is a no-op */
/* Counts one examined document and checks the clock: 0, or BB_ELIMIT (reason:
 * bdoc_budget_why). NULL b: always 0. */
int bdoc_budget_doc(struct bdoc_budget *b);
uint64_t bdoc_budget_docs(const struct bdoc_budget *b);
/* Why the budget was exceeded (static text inside b, valid until bdoc_budget_free). */
const char *bdoc_budget_why(const struct bdoc_budget *b);

/* ---- 2. Filters ---------------------------------------------------------------------------- */

struct bdoc_query;

/* Compiles filter (a JSON object; NULL or {} matches everything). Borrows filter: the compiled
 * query keeps its own references to the operand values it needs. On success *out is a new query
 * (caller frees with bdoc_query_free). BB_EINVAL for a malformed filter, BB_ETOOBIG over a limit,
 * BB_ENOMEM. */
int bdoc_query_compile(const json_t *filter, struct bdoc_query **out, char *err, size_t errcap);

/* 1 if doc matches, 0 if not. A regex that exceeds the PCRE2 limits counts as "no match" for
 * that value (never an error, never unbounded time). doc is borrowed. */
int bdoc_query_match(const struct bdoc_query *q, const json_t *doc);

/* As bdoc_query_match under budget b (not NULL): 1, 0, or BB_ELIMIT when a regex hit the
 * budget's match limits (BB_ENOMEM). */
int bdoc_query_match_budget(const struct bdoc_query *q, const json_t *doc,
                            struct bdoc_budget *b);

void bdoc_query_free(struct bdoc_query *q);

/* As bdoc_query_match_budget (b may be NULL: no budget, a regex limit is "no match"), but on a
 * document in the engine's binary encoding (doc[0..len), as bdoc_scan / bdoc_get_raw hand it out)
 * without decoding it: 1, 0, BB_ELIMIT, BB_EIO (malformed encoding), BB_ENOMEM. Same semantics
 * as bdoc_query_match on the decoded document. */
int bdoc_query_match_enc(const struct bdoc_query *q, const uint8_t *doc, size_t len,
                         struct bdoc_budget *b);

/* ---- 4. Planner hooks ---------------------------------------------------------------------- */

enum bdoc_pred_kind {
    BDOC_PRED_EQ,    /* value == eq (also matches an array containing eq, see below) */
    BDOC_PRED_RANGE, /* lo <(=) value <(=) hi within the type class of the bounds */
    BDOC_PRED_IN,    /* value equal to one element of in (a JSON array) */
};

/* One indexable predicate of the top-level conjunction. All pointers borrow from the query and
 * are valid until bdoc_query_free. Array semantics are multikey: the predicate holds if the value
 * at path, or any element of an array at path, satisfies it. matches_missing is 1 when the
 * predicate also holds for documents that lack the path (equality with null, $in with null): an
 * index that omits missing values cannot serve it alone. For RANGE, lo/hi are NULL when unbounded;
 * the range never leaves the type class of its bounds (tc). */
struct bdoc_pred {
    const char *path;
    enum bdoc_pred_kind kind;
    const json_t *eq;        /* EQ */
    const json_t *lo, *hi;   /* RANGE */
    int lo_incl, hi_incl;    /* RANGE: 1 for $gte / $lte */
    enum bdoc_type_class tc; /* RANGE */
    const json_t *in;        /* IN: array */
    int matches_missing;
};

/* Lists the indexable predicates of q's top-level conjunction (flattened $and; a $gt and $lt on
 * the same path and type class merge into one RANGE). *preds borrows from q (may be NULL when
 * *n == 0). *all_indexable is 1 when q is exactly the conjunction of these predicates (nothing
 * else to check), 0 when other conditions remain (the planner must re-check candidates with
 * bdoc_query_match; re-checking is always correct). */
void bdoc_query_preds(const struct bdoc_query *q, const struct bdoc_pred **preds, size_t *n,
                      int *all_indexable);

/* ---- 3. Sort, projection, find ------------------------------------------------------------- */

struct bdoc_sort;

/* Sort spec: a JSON array of keys, each "path" (ascending), "-path" (descending) or
 * {"field": "path", "desc": bool}; NULL or [] sorts by _id only. _id ascending is always the final
 * tie-breaker, so the order of distinct documents is total. Sort values are resolved without
 * array fan-out (digit segments index arrays); missing sorts as null; an array sorts as itself.
 * New object, caller frees with bdoc_sort_free. */
int bdoc_sort_compile(const json_t *spec, struct bdoc_sort **out, char *err, size_t errcap);
void bdoc_sort_free(struct bdoc_sort *s);
/* Compares two documents by s (<0, 0, >0). Borrows everything. */
int bdoc_sort_cmp(const struct bdoc_sort *s, const json_t *a, const json_t *b);

/* Projection: copies of doc holding only the listed dot paths (arrays of objects on the way are
 * projected element by element) plus _id. fields is a JSON array of path strings; NULL means "the
 * whole document". Returns a new reference in *out. */
int bdoc_project(const json_t *fields, const json_t *doc, json_t **out);

/* Keyset cursors: an opaque base64url string encoding the sort spec, the sort key of the last
 * document returned and its _id. bdoc_cursor_encode returns a malloc'ed string in *out (caller
 * free()s). */
int bdoc_cursor_encode(const struct bdoc_sort *s, const json_t *last_doc, char **out);

struct bdoc_find;

/* Compiles a find request (the body of POST .../documents/query):
 *   {"query"|"filter": {...}, "sort": [...] | "sortField": "p", "sortDesc": bool,
 *    "skip": n, "limit": n (0 = no limit), "fields": ["p", ...], "cursor": "...",
 *    "collection": "...", "explain": bool}     (collection and explain are ignored here)
 * Unknown keys are BB_EINVAL (typos must not silently widen a query). A cursor made for another
 * sort is BB_EINVAL. Borrows req. */
int bdoc_find_compile(const json_t *req, struct bdoc_find **out, char *err, size_t errcap);
void bdoc_find_free(struct bdoc_find *f);
/* Borrowed accessors, valid until bdoc_find_free. */
const struct bdoc_query *bdoc_find_query(const struct bdoc_find *f);
const struct bdoc_sort *bdoc_find_sort(const struct bdoc_find *f);

struct bdoc_find_run;

/* Executes f over documents fed in any order. f is borrowed for the run's lifetime. */
int bdoc_find_run_new(const struct bdoc_find *f, struct bdoc_find_run **out);
/* Matches every fed document under b (borrowed, must outlive the run; NULL: none). Feeding then
 * also returns BB_ELIMIT when a regex hits the budget's limits. */
void bdoc_find_run_set_budget(struct bdoc_find_run *r, struct bdoc_budget *b);
/* Feeds one document (borrowed; the run takes its own reference if it keeps it). Returns 1 if it
 * matched (and is after the cursor), 0 if not, BB_ENOMEM, BB_ELIMIT (budget exceeded). */
int bdoc_find_run_feed(struct bdoc_find_run *r, json_t *doc);
/* As bdoc_find_run_feed for a document in the engine's binary encoding (borrowed; doc[0..len)):
 * the filter, the cursor and the top-k window are evaluated on the encoding, and the document is
 * decoded only when the run keeps it. Also BB_EIO for a malformed encoding. */
int bdoc_find_run_feed_enc(struct bdoc_find_run *r, const uint8_t *doc, size_t len);
/* Finishes: *docs_out = new JSON array of the page (sorted, skip/limit applied, projected);
 * *cursor_out = malloc'ed cursor for the next page, or NULL when there is no further match
 * (cursor_out may be NULL); *matched = matching documents fed (after the cursor, before skip/
 * limit) if matched is not NULL. The run is still to be freed. */
int bdoc_find_run_finish(struct bdoc_find_run *r, json_t **docs_out, char **cursor_out,
                         size_t *matched);
void bdoc_find_run_free(struct bdoc_find_run *r);

/* Convenience: runs f over docs (a JSON array of documents) — a full scan. */
int bdoc_find_array(const struct bdoc_find *f, const json_t *docs, json_t **docs_out,
                    char **cursor_out, size_t *matched);

/* Counts documents of the array docs that match q (count without skip/limit). */
size_t bdoc_query_count(const struct bdoc_query *q, const json_t *docs);

#endif
