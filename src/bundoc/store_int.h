/* store_int.h — private to store*.c: compiled collection metadata, index key encoding, the
 * transaction wrapper. Not a public header. */
#ifndef BDOC_STORE_INT_H
#define BDOC_STORE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bundoc.h"
#include "jschema.h"
#include "query.h"
#include "rules.h"
#include "store.h"

#define SK_RAW_MAX 150        /* raw bytes of a key's value part before truncation */
#define SK_ID_INLINE_MAX 180  /* ids longer than this are hashed into the key */
#define SK_MAX_DEPTH 32       /* nesting inside an indexed value */
#define SK_SEP '|'            /* between the value part and the suffix */
#define SK_HIGH "}"           /* sorts after every hex digit and SEP */

#define META_COLL "__meta"
#define REFS_COLL "__refs"

/* growable byte buffer; oom is sticky */
struct sk_buf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};
void sk_buf_put(struct sk_buf *b, const void *p, size_t n);
void sk_buf_byte(struct sk_buf *b, uint8_t c);
void sk_buf_release(struct sk_buf *b);

struct sk_field {
    char *path;      /* as given, without '-' */
    char **segs;     /* split segments */
    size_t nsegs;
    int desc;
};

struct sk_index {
    char *name;
    char *ecoll;     /* the entries collection */
    size_t nf;
    struct sk_field f[BDOC_STORE_MAX_INDEX_FIELDS];
    int unique, ready, multikey;
};

struct sk_meta {
    int refs;                /* guarded by the store's cache lock */
    char etag[40];
    char *coll;
    json_t *doc;             /* the __meta document (NULL: collection without metadata) */
    struct bdoc_schema *schema;
    int schema_sees_id;
    struct bdoc_ruleset *rules;
    int prevent_override;
    size_t nidx;
    struct sk_index *idx;
};

struct bdoc_store {
    struct bdoc_db *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next_seq;
    struct bdoc_store_txn *active; /* write transactions, linked */
    size_t build_batch;
    unsigned build_fill; /* fill factor of the leaves an index build loads (%) */
    size_t build_mem;    /* extracted entries held in memory before an external sort spills */
    /* metadata cache: latest compiled meta per collection */
    size_t ncache, capcache;
    struct sk_meta **cache;
};

struct bdoc_store_txn {
    struct bdoc_store *s;
    struct bdoc_txn *tx;
    uint64_t seq;
    int write, failed;
    struct bdoc_store_txn *prev, *next;
};

/* ---- keys (store_key.c) ---- */

/* Parses "a.b" / "-a.b" into f (owns its strings). BB_EINVAL. */
int sk_field_parse(const char *spec, struct sk_field *f);
void sk_field_release(struct sk_field *f);

/* Appends the order-preserving encoding of v (NULL = missing = null) to b, complemented when
 * desc. BB_ETOOBIG when nested over SK_MAX_DEPTH. */
int sk_encode_value(struct sk_buf *b, const json_t *v, int desc);

/* The raw class prefix (type tag) of class tc, complemented when desc. */
uint8_t sk_class_tag(enum bdoc_type_class tc, int desc);

/* Lowercase hex of the value part of raw[0..n): truncated to SK_RAW_MAX bytes + 0xff when
 * longer. Writes into b (NUL-terminated string). *truncated set when cut. */
void sk_hex_value(struct sk_buf *out, const uint8_t *raw, size_t n, int *truncated);

/* Length of the hex prefix of a key's value part holding the first ncomp components (desc flags
 * from ix), or the whole value part when the encoding was truncated before that point. */
size_t sk_group_len(const struct sk_index *ix, const char *key, size_t ncomp);

/* Index entries of doc for ix: *keys = malloc'ed array of malloc'ed key strings (deduplicated),
 * *bodies = parallel array of new json objects (the entry document without _id). *multikey set
 * when an array was met. Free with sk_keys_free. */
struct sk_keys {
    size_t n;
    char **keys;
    json_t **bodies;         /* NULL from sk_doc_keys_enc */
    unsigned char *with_i;   /* the entry carries the document id as "i" */
    int multikey;
};
int sk_doc_keys(const struct sk_index *ix, const json_t *doc, struct sk_keys *out,
                char *err, size_t errcap);
/* Working memory of an extraction, reused from one document to the next (zero it first; release
 * with sk_scratch_release). */
struct fvals {
    size_t n, cap;
    struct sk_buf *v; /* raw encodings of a field's distinct values */
    int *isnull;
};
struct sk_scratch {
    struct fvals fv[BDOC_STORE_MAX_INDEX_FIELDS];
    struct sk_buf raw, key;
};
void sk_scratch_release(struct sk_scratch *sc);
/* The same keys read from the encoded document doc[0..len) (doc.c) without decoding it: the
 * fields' values are reached by query_enc.c's path walk on the encoding; bodies is NULL (with_i
 * says which entries carry the id). id: the document's _id when the caller knows it (NULL: read
 * from the document). scratch may be NULL. BB_EIO for a malformed encoding. */
int sk_doc_keys_enc(const struct sk_index *ix, const uint8_t *doc, size_t len, const char *id,
                    struct sk_scratch *scratch, struct sk_keys *out, char *err, size_t errcap);
void sk_keys_free(struct sk_keys *k);

/* The document id an entry refers to (borrowed from entry). */
const char *sk_entry_id(const json_t *entry);

/* ---- metadata and txns (store.c) ---- */
int st_meta_load(struct bdoc_store_txn *t, const char *coll, struct sk_meta **out);
void st_meta_put(struct bdoc_store *s, struct sk_meta *m);
/* Rule check for a document read by an end user during find/list: 1 allow, 0 deny. */
int st_read_allowed(const struct sk_meta *m, const struct bdoc_store_actor *a, const json_t *doc);
/* 1 when st_read_allowed is 1 for every document (admin, or no list/read rule). */
int st_read_trivial(const struct sk_meta *m, const struct bdoc_store_actor *a);
void st_err(struct bdoc_store_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
