/* catalog.h — collections, stored transactionally in the engine's own tree (private; layer 6,
 * above mvcc.h).
 *
 * Key space of the one B+tree (keys compare as bytes):
 *   00 00 00 00 'C' <name>   -> u32 LE id N, then JSON text {"id":N,"name":...,"schema":...,
 *                               "rules":...,"indexes":[...]}   (one per collection; the binary id
 *                               lets every document operation resolve its collection without
 *                               parsing JSON)
 *   00 00 00 00 'S'          -> u32 LE: the next collection id (ids are never reused)
 *   <u32 BE id> <_id bytes>  -> a document of collection id (doc.h encoding)
 * Big-endian ids keep each collection's documents contiguous and in _id byte order.
 * Every write into a collection watches its catalog entry, so it conflicts with a concurrent
 * drop or redefinition instead of leaving orphans.
 */
#ifndef BDOC_CATALOG_H
#define BDOC_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mvcc.h"

#define CAT_DOC_KEY_MAX (4 + 512)

int cat_valid_name(const char *name);
/* Collection id of name as seen by t. BB_ENOTFOUND, BB_EINVAL (bad name). */
int cat_lookup(struct mtxn *t, const char *name, uint32_t *id);
/* Like cat_lookup, and watches the entry (for writers). */
int cat_lookup_for_write(struct mtxn *t, const char *name, uint32_t *id);
/* Only the watch part of cat_lookup_for_write (the id known already). */
int cat_watch(struct mtxn *t, const char *name);
int cat_create(struct mtxn *t, const char *name, uint32_t *id);
/* Deletes the entry and every document of the collection. */
int cat_drop(struct mtxn *t, const char *name);
/* New array of names with the prefix (NULL: all), sorted. */
int cat_list(struct mtxn *t, const char *prefix, json_t **out);
/* The definition object (new reference) / replace it (id and name are kept). */
int cat_get_def(struct mtxn *t, const char *name, json_t **out);
int cat_set_def(struct mtxn *t, const char *name, const json_t *def);
/* Tree key of a document: writes 4 + idlen bytes. */
void cat_doc_key(uint32_t coll, const char *id, size_t idlen, uint8_t *out, size_t *klen);
/* Range of a collection's keys: [coll 00..] .. [coll+1]. */
void cat_coll_range(uint32_t coll, uint8_t lo[4], uint8_t hi[4]);

/* cat_lookup on the latest commit, between mvcc_peek_begin and mvcc_peek_end (BB_EBUSY too). */
int cat_lookup_peek(struct mvcc *m, const char *name, uint32_t *id);

#endif
