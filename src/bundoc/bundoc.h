/* bundoc.h — the embedded document database engine of BunBase (public API, prefix bdoc_).
 *
 * A database is a directory holding `LOCK` (flock'ed by the one process that has it open),
 * `data.db` (checksummed or AES-256-GCM sealed 4 KiB pages) and `wal` (a write-ahead log of
 * page images; redo recovery on open; checkpoints bound its size). Documents are JSON objects
 * stored in a binary encoding inside one B+tree; collections live in a catalog stored in the same
 * tree, so catalog changes are transactional. Concurrency is MVCC with snapshot isolation:
 * readers never block writers, write-write conflicts are detected at commit (first committer
 * wins) and reported as BB_ECONFLICT (retry the whole transaction). Formats, invariants and
 * recovery: docs/internals/bundoc.md.
 *
 * Errors (bb_err.h): every int function returns 0 or a negative BB_E* code. Common ones:
 *   BB_EINVAL    bad argument: NULL, bad collection name or _id, document not an object
 *   BB_ENOTFOUND no such document or collection
 *   BB_EEXIST    duplicate _id on insert / collection already exists (409, never an overwrite)
 *   BB_ECONFLICT a concurrent transaction committed a write to the same key first (retry)
 *   BB_ETOOBIG   a document larger than options.max_doc_size, an _id over BDOC_MAX_ID_LEN
 *   BB_EPERM     write on a read-only transaction
 *   BB_EBUSY     the directory is held by another bdoc_open (this or another process)
 *   BB_EAUTH     wrong or missing encryption key
 *   BB_EIO       an I/O error or checksum failure; after a failed write or fsync the database
 *                is in a sticky error state: every later commit fails with BB_EIO until it is
 *                closed and reopened (recovery then decides what was durable)
 *   BB_ENOSPACE  disk full (also sticky)
 *   BB_ENOMEM    allocation failure
 *
 * Threads: a struct bdoc_db may be used from many threads at once; a struct bdoc_txn by one
 * thread at a time.
 */
#ifndef BUNDOC_H
#define BUNDOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct bdoc_db;
struct bdoc_txn;
struct bdoc_vfs;

#define BDOC_KEY_LEN 32            /* AES-256 key bytes */
#define BDOC_MAX_ID_LEN 512        /* bytes of a document _id */
#define BDOC_MAX_COLLECTION_LEN 255
#define BDOC_DEFAULT_MAX_DOC_SIZE (16u * 1024 * 1024)

enum bdoc_durability {
    BDOC_DURABILITY_FULL = 0, /* commit returns after the WAL is fsynced (group commit) */
    BDOC_DURABILITY_NORMAL,   /* commit returns after the WAL write; fsync at most every
                                 normal_sync_ms by a background thread */
    BDOC_DURABILITY_OFF,      /* never fsync the WAL (checkpoints still order their writes) */
};

struct bdoc_options {
    enum bdoc_durability durability;
    uint32_t normal_sync_ms;      /* NORMAL mode fsync interval; default 100 */
    uint32_t max_doc_size;        /* bytes of an encoded document; default 16 MiB */
    uint32_t cache_pages;         /* buffer pool target in 4 KiB pages; default 8192 (32 MiB) */
    uint64_t checkpoint_bytes;    /* checkpoint when the WAL grows past this; default 8 MiB */
    const uint8_t *key;           /* BDOC_KEY_LEN bytes to encrypt at rest, or NULL; borrowed
                                     during bdoc_open only (copied) */
    struct bdoc_vfs *vfs;         /* NULL: the real file system; borrowed for the db lifetime */
};

/* Fills *o with the defaults above. */
void bdoc_options_init(struct bdoc_options *o);

/* Opens (creating if needed) the database in directory dir (created 0700 if missing; its parent
 * must exist; borrowed), runs redo
 * recovery, and stores the handle in *out (caller frees with bdoc_close()). opts may be NULL.
 * Errors: BB_EBUSY (locked by another opener), BB_EAUTH (encrypted database and wrong/missing
 * key, or a key given for a plaintext database), BB_EIO (unreadable or corrupt data file),
 * BB_EINVAL, BB_ENOMEM. */
int bdoc_open(const char *dir, const struct bdoc_options *opts, struct bdoc_db **out);

/* Checkpoints (unless in the error state), truncates the WAL, releases the lock and frees db.
 * Every transaction must have been committed or rolled back before (a transaction still open is
 * a caller bug: its handle dangles). Returns the first error met (db is freed regardless). */
int bdoc_close(struct bdoc_db *db);

/* Copies every committed page from the WAL into data.db and empties the WAL (also done
 * automatically past options.checkpoint_bytes). Blocks committers, not readers, meanwhile.
 * BB_EIO/BB_ENOSPACE: failed, and the database is now in its sticky error state. */
int bdoc_checkpoint(struct bdoc_db *db);

struct bdoc_stats {
    uint64_t wal_bytes;        /* current WAL file size */
    uint64_t checkpoints;      /* checkpoints since open */
    uint64_t commits;          /* write commits since open */
    uint64_t syncs;            /* WAL fsyncs since open (group commit: syncs < commits) */
    uint64_t versions;         /* old versions held for active snapshots */
    uint64_t pages;            /* pages in the database */
    uint64_t free_pages;       /* pages on the free list */
    int error;                 /* the sticky error, 0 if healthy */
};
/* Fills *out (owned by the caller). Never fails. */
void bdoc_stats_get(struct bdoc_db *db, struct bdoc_stats *out);

/* ---- transactions ----------------------------------------------------------------------------
 * A transaction sees the snapshot of committed data as of bdoc_begin plus its own writes.
 * Writes are buffered in the transaction and applied at commit. */
enum bdoc_txn_flags {
    BDOC_TXN_READONLY = 1 << 0,
};

/* Starts a transaction; *out is owned by the caller until bdoc_commit/bdoc_rollback.
 * BB_EINVAL, BB_ENOMEM. Beginning never waits for writers. */
int bdoc_begin(struct bdoc_db *db, int flags, struct bdoc_txn **out);
/* Commits and frees txn (always, even on error). BB_ECONFLICT: another transaction committed one
 * of the same keys after this one began; nothing was written. With durability FULL a 0 return
 * means the commit is on stable storage. BB_EIO/BB_ENOSPACE: the database entered its sticky
 * error state. A commit becomes visible to transactions that begin after it was applied, which
 * can be slightly before its fsync completes; recovery always keeps a prefix of the commit
 * order, so nothing built on a commit can survive a crash without it. */
int bdoc_commit(struct bdoc_txn *txn);
/* Discards the writes and frees txn. NULL is a no-op. */
void bdoc_rollback(struct bdoc_txn *txn);

/* ---- collections -----------------------------------------------------------------------------
 * Names: 1..BDOC_MAX_COLLECTION_LEN bytes of printable ASCII except '"' and '\\'; '/' is allowed
 * (nested names are plain names). */
int bdoc_collection_create(struct bdoc_txn *txn, const char *name); /* BB_EEXIST */
/* Deletes the collection and every document in it. BB_ENOTFOUND. */
int bdoc_collection_drop(struct bdoc_txn *txn, const char *name);
/* 0 if it exists, BB_ENOTFOUND otherwise. */
int bdoc_collection_exists(struct bdoc_txn *txn, const char *name);
/* New JSON array of names (sorted) whose name starts with prefix (NULL: all); caller decrefs. */
int bdoc_collection_list(struct bdoc_txn *txn, const char *prefix, json_t **out);

/* The collection's definition: a new object {"id", "name", "schema", "rules", "indexes"} (caller
 * decrefs). The engine stores it transactionally and does not interpret schema/rules/indexes;
 * the layers above (schema validation, rules, indexes) own their meaning. BB_ENOTFOUND. */
int bdoc_collection_get(struct bdoc_txn *txn, const char *name, json_t **out);
/* Replaces the definition with def (an object; borrowed). "id" and "name" are kept whatever def
 * says. Writers into the collection that run concurrently get BB_ECONFLICT at commit.
 * BB_ENOTFOUND, BB_EINVAL (not an object), BB_EPERM (read-only transaction). */
int bdoc_collection_set(struct bdoc_txn *txn, const char *name, const json_t *def);

/* ---- documents -------------------------------------------------------------------------------
 * _id: a non-empty string of at most BDOC_MAX_ID_LEN bytes without NUL. If a document to insert
 * has no _id, an empty one or a non-string one, a unique, time-sortable id (ULID) is generated.
 * Documents are JSON objects; the `doc` arguments are borrowed, the `*out` results are new
 * references the caller json_decref()s (pass NULL to skip them). */

/* Inserts; BB_EEXIST if the _id exists (visible to this transaction), BB_ECONFLICT at commit if a
 * concurrent transaction inserted it first. *out: the stored document including _id. */
int bdoc_insert(struct bdoc_txn *txn, const char *coll, const json_t *doc, json_t **out);
/* BB_ENOTFOUND if missing. */
int bdoc_get(struct bdoc_txn *txn, const char *coll, const char *id, json_t **out);
/* One field by dot path ("a.b.0.c"), read from the binary encoding without decoding the rest.
 * BB_ENOTFOUND if the document or the field is missing. */
int bdoc_get_field(struct bdoc_txn *txn, const char *coll, const char *id, const char *path,
                   json_t **out);
/* Same as bdoc_get, but the document comes back as compact JSON text rendered straight from the
 * binary encoding (no json_t is built): *out is malloc'ed and NUL-terminated, *len its length
 * (may be NULL). Caller frees. */
int bdoc_get_json(struct bdoc_txn *txn, const char *coll, const char *id, char **out, size_t *len);
/* Replaces the whole document (its _id forced to id). BB_ENOTFOUND if missing. */
int bdoc_replace(struct bdoc_txn *txn, const char *coll, const char *id, const json_t *doc,
                 json_t **out);
/* Patch: "$unset": {path: any, ...} is applied first (missing paths ignored), then every other
 * key is a dot path to set: missing intermediate objects are created, non-objects on the way are
 * replaced by objects, null is stored. _id cannot change. *out: the merged document. */
int bdoc_patch(struct bdoc_txn *txn, const char *coll, const char *id, const json_t *patch,
               json_t **out);
/* BB_ENOTFOUND if missing. */
int bdoc_delete(struct bdoc_txn *txn, const char *coll, const char *id);

/* Lists up to limit documents (1..10000) in _id byte order with _id > after (NULL: from the
 * start) and, if prefix is not NULL, starting with prefix. *out: new JSON array. *next (may be
 * NULL): malloc'ed _id of the last returned document when more may follow, else NULL; pass it
 * as `after` to continue. Caller frees it. */
int bdoc_list(struct bdoc_txn *txn, const char *coll, const char *after, const char *prefix,
              size_t limit, json_t **out, char **next);

/* Same as bdoc_list, but *out is the JSON text of the array (malloc'ed, NUL-terminated; caller
 * frees), rendered straight from the binary encoding; *count (may be NULL) is the number of
 * documents in it. */
int bdoc_list_json(struct bdoc_txn *txn, const char *coll, const char *after, const char *prefix,
                   size_t limit, char **out, size_t *len, size_t *count, char **next);

/* ---- raw documents: the binary encoding without building JSON -------------------------------
 * The encoding is the one documented in docs/internals/bundoc.md ("Document encoding"): the
 * query layer evaluates filters and sort keys on it (query.h bdoc_query_match_enc,
 * bdoc_find_run_feed_enc) and decodes only the documents it returns. */

/* Called for each document of a scan: id[0..idlen) (not NUL-terminated) and the encoded document
 * doc[0..len), both borrowed for the duration of the call only. Return 0 to go on, 1 to stop, or
 * a negative error that the scan returns. The callback runs with the engine's tree lock held in
 * shared mode: it must not call any bdoc_* function of this header (keep what it needs and act
 * after the scan), and should be quick (writers wait for at most one batch of 256 documents). */
typedef int (*bdoc_scan_fn)(void *ctx, const char *id, size_t idlen, const uint8_t *doc,
                            size_t len);
/* Visits the documents of coll in _id byte order with _id > after (NULL: from the start) and, if
 * prefix is not NULL, starting with prefix, until fn stops. Same snapshot rules as bdoc_list.
 * Returns 0 (also when fn stopped), fn's negative error, or BB_ENOTFOUND/BB_EINVAL. */
int bdoc_scan(struct bdoc_txn *txn, const char *coll, const char *after, const char *prefix,
              bdoc_scan_fn fn, void *ctx);
/* As bdoc_scan in descending _id order: documents with _id < before (NULL: no bound) and, if
 * prefix is not NULL, starting with prefix. Zero-copy like bdoc_scan unless the transaction has
 * writes or newer versions are held; then the range is read forward first (memory for all of
 * it) and handed out backwards. */
int bdoc_scan_rev(struct bdoc_txn *txn, const char *coll, const char *before, const char *prefix,
                  bdoc_scan_fn fn, void *ctx);
/* The encoded document: *out malloc'ed (caller frees), *len its length. BB_ENOTFOUND. */
int bdoc_get_raw(struct bdoc_txn *txn, const char *coll, const char *id, uint8_t **out,
                 size_t *len);
/* Decodes an encoded document into a new reference. BB_EIO if malformed. */
int bdoc_doc_decode(const uint8_t *doc, size_t len, json_t **out);
/* A top-level string field of an encoded document: *s points into doc (borrowed, not
 * NUL-terminated), *slen bytes. BB_ENOTFOUND when absent or not a string, BB_EIO if malformed. */
int bdoc_doc_get_str(const uint8_t *doc, size_t len, const char *key, const char **s,
                     size_t *slen);

/* ---- building derived data online (index builds) ---- */

/* An opaque stamp of txn's snapshot, for bdoc_watch. */
uint64_t bdoc_txn_stamp(const struct bdoc_txn *txn);
/* Makes txn's commit fail with BB_ECONFLICT if the document coll/id was inserted, replaced or
 * deleted by a commit newer than stamp (0: newer than txn's own snapshot). With a stamp, the
 * document must also still exist at commit (the caller saw it in the stamp's snapshot, so its
 * absence means it was deleted since). No-op in a read-only transaction. BB_ENOTFOUND (no such
 * collection), BB_EINVAL, BB_ENOMEM. */
int bdoc_watch(struct bdoc_txn *txn, const char *coll, const char *id, uint64_t stamp);
/* The stamp of the version of coll/id that txn sees: when it is <= bdoc_txn_stamp(T) of an
 * earlier transaction T, the document has not changed since T's snapshot. UINT64_MAX when it
 * cannot be told (txn's own write, or an old version). BB_ENOTFOUND when txn sees no such
 * document. */
int bdoc_get_stamp(struct bdoc_txn *txn, const char *coll, const char *id, uint64_t *stamp);
/* Writes doc (an object with a string _id; borrowed) whether or not coll already has that _id,
 * without reading it first: an insert or an overwrite. For derived data whose content is a
 * function of its _id (index entries). BB_EINVAL, BB_ETOOBIG, BB_EPERM. */
int bdoc_put(struct bdoc_txn *txn, const char *coll, const json_t *doc);
/* Bulk-load path for derived data: queues the encoded document doc[0..len) (bdoc_doc_encode
 * output, borrowed and copied; its top-level _id must equal id) to be written under id at commit
 * by the engine's bulk loader, which builds leaves left to right (filled to the transaction's
 * load fill factor) where the ids extend the tree at a leaf's right end. Calls in one
 * transaction must come in strictly ascending id byte order and for ids the transaction does not
 * otherwise write; queued documents are not visible to txn's own reads; an existing document
 * with that id is overwritten; first-committer-wins at commit as for bdoc_put. BB_EINVAL (order,
 * _id mismatch, not an encoding), BB_ETOOBIG, BB_EPERM, BB_ENOTFOUND (no such collection). */
int bdoc_put_sorted(struct bdoc_txn *txn, const char *coll, const char *id, const uint8_t *doc,
                    size_t len);
/* Fill factor (10..100 %) of the leaves bdoc_put_sorted's loads build in txn; default 100. */
int bdoc_txn_set_load_fill(struct bdoc_txn *txn, unsigned pct);
/* Encodes an object as a document (for bdoc_put_sorted): *out malloc'ed. BB_EINVAL,
 * BB_ETOOBIG (over the database's max_doc_size), BB_ENOMEM. */
int bdoc_doc_encode(struct bdoc_db *db, const json_t *doc, uint8_t **out, size_t *len);
/* Deletes coll/id if it exists; when it does not (in txn's snapshot), the deletion is still
 * recorded, so that txn conflicts with a concurrent transaction that commits that document first
 * (and nothing is deleted when the commit goes through with no such document). */
int bdoc_delete_blind(struct bdoc_txn *txn, const char *coll, const char *id);
/* Decodes only the top-level members names[0..n) of an encoded document (absent ones are left
 * out) into a new object. BB_EIO if malformed. */
int bdoc_doc_decode_fields(const uint8_t *doc, size_t len, const char *const *names, size_t n,
                           json_t **out);

/* Convenience wrappers that run one operation in its own transaction (one commit each). */
int bdoc_insert1(struct bdoc_db *db, const char *coll, const json_t *doc, json_t **out);
int bdoc_get1(struct bdoc_db *db, const char *coll, const char *id, json_t **out);

/* ---- reads that never wait (for an event loop's thread) ----
 * bdoc_peek_begin takes the engine's tree lock shared only if no commit holds or waits for it,
 * else BB_EBUSY; between it and bdoc_peek_end (same thread), bdoc_peek_raw reads a document of
 * the newest commit (what a transaction beginning now would see, fsynced or not) without reading
 * from disk and without waiting for a lock: BB_EBUSY when it would (a page not in the cache, the
 * cache busy loading one) or when the peek has visited 64 pages (documents over ~200 KB).
 * Commits wait meanwhile: keep to a few reads. Then read the usual way,
 * in a transaction, on a thread that may block. */
int bdoc_peek_begin(struct bdoc_db *db);
/* *out malloc'ed encoded document (caller frees), *len its length. BB_ENOTFOUND (collection or
 * document), BB_EINVAL/BB_ETOOBIG (bad name or _id), BB_EBUSY, BB_EIO. */
int bdoc_peek_raw(struct bdoc_db *db, const char *coll, const char *id, uint8_t **out,
                  size_t *len);
void bdoc_peek_end(struct bdoc_db *db);
/* An encoded document as compact JSON text (as bdoc_get_json renders it): *out malloc'ed and
 * NUL-terminated (caller frees), *len its length. BB_EIO if malformed, BB_ENOMEM. */
int bdoc_doc_render_json(const uint8_t *doc, size_t len, char **out, size_t *outlen);

#endif
