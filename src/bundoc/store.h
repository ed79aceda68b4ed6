/* store.h — bundoc's collection layer: metadata, secondary indexes, planner, schema, references
 * and rules on top of the engine (prefix bdoc_store_). This is the API bundoc-server calls.
 *
 * Layering: built only on the engine's public header bundoc.h plus the storage-independent
 * query.h / jschema.h / rules.h. Everything it keeps lives in the engine, transactionally:
 *   __meta        one document per collection: {_id: name, etag, schema, rules,
 *                 prevent_schema_override, indexes: [{name, fields, unique, state, multikey,
 *                 ecoll}]}
 *   __refs        one document per referenced collection: {_id: target, in: [[src, path, policy]]}
 *   __idx.<hex>   the entries of one index (a collection per index; its name is random so a
 *                 dropped index can never be confused with a new one)
 * Collection names starting with "__" are reserved: hidden from bdoc_store_collection_list and
 * rejected by bdoc_store_collection_create. Formats and the build protocol:
 * docs/internals/bundoc-store.md.
 *
 * Index keys: order-preserving encodings of the indexed values (bdoc_value_cmp order, one type
 * tag per class, exact int64/double order), hex-encoded, then '|' and the document id, so the
 * engine's _id byte order IS the index order. Multikey: an array contributes itself and each of its
 * elements; a missing field is indexed as null (every document has at least one entry, so a
 * non-multikey index can serve a sort). Fields may be descending ("-a.b").
 *
 * Transactions: every document operation runs inside a store transaction (a wrapper of an engine
 * transaction that the index builder can wait for). Document writes maintain every index of the
 * collection in the SAME transaction. After a write function fails with anything but
 * BB_EINVAL/BB_EPERM/BB_ENOTFOUND raised before any write (validation, rules, missing document),
 * the transaction may hold part of the operation: it is marked failed and bdoc_store_commit
 * refuses it (BB_EINVAL); roll it back. BB_ECONFLICT from commit means "retry the whole
 * transaction" as in the engine.
 *
 * Administrative functions (collections, schema, rules, indexes) take the store, run their own
 * short transactions (retrying engine conflicts) and must not be called by a thread that holds an
 * open store transaction (the index builder waits for older write transactions to finish).
 *
 * Rules: a struct bdoc_store_actor says who asks. admin bypasses every rule. Otherwise, with no
 * rule set or no rule for the operation, the operation is allowed (reference §2.6). A denied
 * get/insert/replace/patch/delete is BB_EPERM and the error carries the rule's evaluation trace.
 * find/list/count return only documents that pass BOTH the "list" and the "read" rule (each when
 * present), evaluated per document with resource.data = the document.
 *
 * Errors: int functions return 0 or a negative BB_E* code; a struct bdoc_store_error *e (may be
 * NULL) receives a message (and for rules the trace, for unique violations the index name, for
 * schemas the JSON Pointer and keyword). Notable codes: BB_EEXIST (409: duplicate _id, unique index
 * violation, reference target missing, restrict violation, schema override blocked, collection or
 * index exists), BB_EINVAL (400: schema violation, bad filter/spec), BB_EPERM (403: rule denied),
 * BB_ENOTFOUND, BB_ETOOBIG (indexed value over 64 KiB encoded, more than 1000 keys per document
 * and index, nesting over 32 inside an indexed value).
 *
 * Threads: a struct bdoc_store may be used by many threads; a struct bdoc_store_txn by one thread
 * at a time.
 */
#ifndef BDOC_STORE_H
#define BDOC_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "bundoc.h"
#include "query.h"

struct bdoc_store;
struct bdoc_store_txn;

#define BDOC_STORE_MAX_INDEXES 64       /* per collection */
#define BDOC_STORE_MAX_INDEX_FIELDS 8   /* fields of a compound index */
#define BDOC_STORE_MAX_INDEX_NAME 64    /* bytes of an index name: [A-Za-z0-9_-] */
#define BDOC_STORE_MAX_KEYS_PER_DOC 1000
#define BDOC_STORE_MAX_VALUE_ENC 65536  /* bytes of one encoded index tuple */
#define BDOC_STORE_MAX_CASCADE 10000    /* documents touched by one delete's on_delete policies */

struct bdoc_store_error {
    char message[768];
    char index[BDOC_STORE_MAX_INDEX_NAME + 1]; /* unique violation: the index */
    char path[256];                            /* schema violation: JSON Pointer */
    char keyword[32];                          /* schema violation: keyword */
    char *trace;                               /* rule denial: malloc'ed trace, else NULL */
};
/* Frees e->trace and clears e (NULL is a no-op). Call it after every failure that filled e. */
void bdoc_store_error_release(struct bdoc_store_error *e);

/* Who is asking. auth is borrowed: {"uid": "...", "claims": {...}} or NULL (unauthenticated).
 * A NULL actor pointer means admin. */
struct bdoc_store_actor {
    int admin;
    const json_t *auth;
};

/* Opens the layer on db (borrowed; must outlive the store): creates __meta and __refs if missing.
 * *out is freed with bdoc_store_close (before bdoc_close(db)). */
int bdoc_store_open(struct bdoc_db *db, struct bdoc_store **out);
void bdoc_store_close(struct bdoc_store *s);
/* Index entries written per transaction of an index build (default 4096, 1..10000); see
 * docs/internals/bundoc-store.md §4. */
void bdoc_store_set_build_batch(struct bdoc_store *s, size_t n);
/* Fill factor in percent (10..100, default 100) of the index leaves a build loads bottom-up;
 * less leaves room for later inserts without splits. Out of range: ignored. */
void bdoc_store_set_build_fill(struct bdoc_store *s, unsigned pct);
/* Memory an index build may use for its extracted entries (default 256 MiB, at least 1 byte);
 * past it the entries are sorted in runs spilled to temporary files (TMPDIR) and merged while
 * they are loaded (external sort; tmpfile(3), so in /tmp, removed when closed). */
void bdoc_store_set_build_mem(struct bdoc_store *s, size_t bytes);

/* ---- transactions ---- */
int bdoc_store_begin(struct bdoc_store *s, int flags /* BDOC_TXN_READONLY */,
                     struct bdoc_store_txn **out);
/* Commits and frees t (always). BB_EINVAL if a write operation failed part-way in t. */
int bdoc_store_commit(struct bdoc_store_txn *t);
void bdoc_store_rollback(struct bdoc_store_txn *t); /* NULL is a no-op */

/* ---- collections (administrative; own transactions) ---- */

/* Creates collection name with opts (borrowed, may be NULL): {"schema": object|null, "rules":
 * {op: rule}, "prevent_schema_override": bool, "update_if_exists": bool}. Everything is checked
 * before anything is written (a bad schema or rule creates nothing). Existing collection: with
 * update_if_exists the schema (if given) is applied as bdoc_store_set_schema would and *created is
 * 0 (prevent_schema_override is not changed on this path, as in the reference); else BB_EEXIST.
 * created may be NULL. */
int bdoc_store_collection_create(struct bdoc_store *s, const char *name, const json_t *opts,
                                 int *created, struct bdoc_store_error *e);
/* Drops the collection, its metadata and its indexes. BB_ENOTFOUND. */
int bdoc_store_collection_drop(struct bdoc_store *s, const char *name,
                               struct bdoc_store_error *e);
/* *out = new {"name","schema"(object|null),"rules"(object|null),"prevent_schema_override",
 * "indexes":[...]}; caller decrefs. */
int bdoc_store_collection_get(struct bdoc_store_txn *t, const char *name, json_t **out);
/* *out = new sorted array of user collection names starting with prefix (NULL: all). */
int bdoc_store_collection_list(struct bdoc_store_txn *t, const char *prefix, json_t **out);

/* Sets (schema object) or clears (NULL or JSON null) the schema. prevent_override: -1 keeps the
 * flag, 0/1 sets it (applied before the comparison, as the reference's PATCH does). With the flag
 * set and a schema present, an equal schema is a successful no-op and a different one is
 * BB_EEXIST "schema override is disabled for this collection". Every x-bundoc-ref field gets an
 * index (named "ref_<path>") when none starts with it, so deletes find dependents by index.
 * Existing documents are not re-validated. */
int bdoc_store_set_schema(struct bdoc_store *s, const char *coll, const json_t *schema,
                          int prevent_override, struct bdoc_store_error *e);
/* Sets (object, compiled first: a rule that does not parse is BB_EINVAL and nothing changes) or
 * clears (NULL or {}) the rule set. */
int bdoc_store_set_rules(struct bdoc_store *s, const char *coll, const json_t *rules,
                         struct bdoc_store_error *e);

/* ---- indexes (administrative) ---- */

/* Creates an index from spec {"name": "by_a", "fields": ["a", "-b.c"], "unique": bool} and builds
 * it over the existing documents in batches of short transactions (writers are never blocked
 * for the whole build; see docs/internals/bundoc-store.md for how concurrent writes are caught
 * up). BB_EEXIST: name taken, or (unique) existing documents already collide — the message names
 * the index and nothing is left behind. */
int bdoc_store_index_create(struct bdoc_store *s, const char *coll, const json_t *spec,
                            struct bdoc_store_error *e);
/* Drops the index and all its entries. BB_ENOTFOUND. */
int bdoc_store_index_drop(struct bdoc_store *s, const char *coll, const char *name,
                          struct bdoc_store_error *e);
/* *out = new array of {"name","fields","unique","state":"building"|"ready","multikey"}. */
int bdoc_store_index_list(struct bdoc_store_txn *t, const char *coll, json_t **out);
/* Verifies that the entries of index name are exactly those a rebuild from the documents would
 * produce (in t's snapshot). *problems = missing + extra entries. 0 when checked. */
int bdoc_store_index_check(struct bdoc_store_txn *t, const char *coll, const char *name,
                           size_t *problems);

/* ---- documents ----
 * doc/patch arguments are borrowed; *out results are new references (pass NULL to skip). */

/* Inserts: _id generated (ULID) when missing, empty or not a string; then schema, create rule,
 * references, unique indexes. BB_EEXIST duplicate _id / unique / missing reference target. */
int bdoc_store_insert(struct bdoc_store_txn *t, const char *coll, const json_t *doc,
                      const struct bdoc_store_actor *a, json_t **out,
                      struct bdoc_store_error *e);
/* BB_ENOTFOUND, BB_EPERM (read rule). */
int bdoc_store_get(struct bdoc_store_txn *t, const char *coll, const char *id,
                   const struct bdoc_store_actor *a, json_t **out, struct bdoc_store_error *e);
/* bdoc_store_get answering compact JSON text (*out malloc'ed, NUL-terminated, *len bytes; caller
 * frees): rendered straight from the encoding (bdoc_get_json) when no rule needs the document,
 * else bdoc_store_get (the read rule evaluated as always) and its document dumped. Same errors. */
int bdoc_store_get_json(struct bdoc_store_txn *t, const char *coll, const char *id,
                        const struct bdoc_store_actor *a, char **out, size_t *len,
                        struct bdoc_store_error *e);
/* bdoc_store_get of the newest commit as compact JSON text, for an event loop's thread: never
 * waits for a lock held over I/O, never reads from disk (bundoc.h bdoc_peek_*). It answers only
 * when no rule has to be evaluated: the actor is admin, or the collection's metadata is cached
 * and has no read rule; and only documents of at most max_bytes encoded. BB_EBUSY otherwise (use
 * bdoc_store_get in a transaction on a thread that may block: same answer). *out malloc'ed and
 * NUL-terminated (caller frees). BB_ENOTFOUND (collection or document), BB_EINVAL. */
int bdoc_store_get_json_nowait(struct bdoc_store *s, const char *coll, const char *id,
                               const struct bdoc_store_actor *a, size_t max_bytes, char **out,
                               size_t *len);
/* Whole-document replace (_id forced to id); update rule sees resource.data = old,
 * request.resource.data = new. */
int bdoc_store_replace(struct bdoc_store_txn *t, const char *coll, const char *id,
                       const json_t *doc, const struct bdoc_store_actor *a, json_t **out,
                       struct bdoc_store_error *e);
/* Patch with the engine's semantics (bundoc.h: "$unset" first, then dot paths set, intermediate
 * objects created, non-objects on the way replaced); the merged document is validated, checked
 * by the update rule and written. *out = merged document. */
int bdoc_store_patch(struct bdoc_store_txn *t, const char *coll, const char *id,
                     const json_t *patch, const struct bdoc_store_actor *a, json_t **out,
                     struct bdoc_store_error *e);
/* Deletes after the delete rule; then applies the on_delete policies of references pointing at
 * this collection (restrict → BB_EEXIST, set_null → patch as admin, cascade → delete as admin,
 * recursively, with a visited set as cycle guard) inside t. */
int bdoc_store_delete(struct bdoc_store_txn *t, const char *coll, const char *id,
                      const struct bdoc_store_actor *a, struct bdoc_store_error *e);
/* Lists up to limit (1..10000) permitted documents with _id > after in _id order. *next as in
 * bdoc_list (malloc'ed, caller frees; NULL at the end). Documents the rules hide are skipped. */
int bdoc_store_list(struct bdoc_store_txn *t, const char *coll, const char *after, size_t limit,
                    const struct bdoc_store_actor *a, json_t **out, char **next,
                    struct bdoc_store_error *e);

/* ---- find ---- */

enum bdoc_store_find_flags {
    BDOC_STORE_FORCE_SCAN = 1 << 0, /* ignore indexes, read every document (differential tests) */
    BDOC_STORE_EXACT_COUNT = 1 << 1 /* never stop early: res->matched is always exact */
};

struct bdoc_store_find_result {
    json_t *docs;     /* new array: the page */
    char *cursor;     /* malloc'ed next-page cursor or NULL */
    size_t matched;   /* matching permitted documents (exact unless explain.early_stop) */
    json_t *explain;  /* new object: {"plan": "COLLSCAN"|"IXSCAN", "index", "fields", "bounds",
                         "sort_from_index", "early_stop", "considered": [...],
                         "keys_examined", "docs_examined", "returned"} */
};
void bdoc_store_find_result_release(struct bdoc_store_find_result *r);

/* Runs a find request (query.h bdoc_find_compile format; "collection" and "explain" keys are
 * accepted and ignored) over coll. The planner picks an index for equality, range, $in and/or
 * sort where one applies (documents fetched through it are re-checked against the whole filter),
 * else scans. res is filled on success (release it). */
int bdoc_store_find(struct bdoc_store_txn *t, const char *coll, const json_t *req,
                    const struct bdoc_store_actor *a, int flags,
                    struct bdoc_store_find_result *res, struct bdoc_store_error *e);
/* As bdoc_store_find, under a work budget (lim copied; NULL: unlimited): more documents examined
 * (index candidates and scanned documents alike, before rules and filter) than lim->max_docs,
 * longer than lim->max_ms, or a regex over its match/depth limit fail the query with BB_ELIMIT
 * and a message saying which limit ("query too expensive: ..."). */
int bdoc_store_find_budget(struct bdoc_store_txn *t, const char *coll, const json_t *req,
                           const struct bdoc_store_actor *a, int flags,
                           const struct bdoc_budget_limits *lim,
                           struct bdoc_store_find_result *res, struct bdoc_store_error *e);
/* Counts permitted documents matching filter (NULL: all). */
int bdoc_store_count(struct bdoc_store_txn *t, const char *coll, const json_t *filter,
                     const struct bdoc_store_actor *a, size_t *n, struct bdoc_store_error *e);

#endif
