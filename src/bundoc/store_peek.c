/* store_peek.c — document reads that answer JSON text rendered from the encoding (no json_t
 * built and dumped when no rule needs the document): bdoc_store_get_json in a transaction, and
 * bdoc_store_get_json_nowait (store.h), a document read for an event loop's
 * thread. Same answer as bdoc_store_get in a transaction begun now, or BB_EBUSY when it cannot be
 * given without waiting (tree lock or page cache busy, a page not cached) or without evaluating a
 * rule (the caller then runs bdoc_store_get, where check_rule evaluates it as always).
 *
 * Rules: bdoc_store_get allows without evaluating anything when the actor is admin, or the
 * collection has no metadata document (no rules), or its compiled rule set has no read rule. The
 * compiled metadata is taken from the store's cache (st_meta_load fills it) when its etag equals
 * the __meta document's etag of the newest commit; not cached: BB_EBUSY. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "store_int.h"

int bdoc_store_get_json(struct bdoc_store_txn *t, const char *coll, const char *id,
                        const struct bdoc_store_actor *a, char **out, size_t *len,
                        struct bdoc_store_error *e)
{
    if (out) *out = NULL;
    if (!t || !coll || !id || !out || !len) return BB_EINVAL;
    struct sk_meta *m = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (rc) return rc;
    int rule = a && !a->admin && m->rules && bdoc_ruleset_get(m->rules, BDOC_RULE_READ);
    st_meta_put(t->s, m);
    if (!rule) return bdoc_get_json(t->tx, coll, id, out, len);
    /* the read rule needs the document: bdoc_store_get evaluates it, as always */
    json_t *doc = NULL;
    if ((rc = bdoc_store_get(t, coll, id, a, &doc, e)) != 0) return rc;
    *out = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!*out) return BB_ENOMEM;
    *len = strlen(*out);
    return 0;
}

/* 1: no rule to evaluate for a get by a; 0: there is one; BB_EBUSY: not known without waiting. */
static int read_rule_free(struct bdoc_store *s, const char *coll, const struct bdoc_store_actor *a)
{
    if (!a || a->admin) return 1;
    uint8_t *meta = NULL;
    size_t mlen = 0;
    int rc = bdoc_peek_raw(s->db, META_COLL, coll, &meta, &mlen);
    if (rc == BB_ENOTFOUND) return 1; /* no metadata document: no rules */
    if (rc) return rc;
    const char *etag = NULL;
    size_t elen = 0;
    rc = bdoc_doc_get_str(meta, mlen, "etag", &etag, &elen);
    int out = BB_EBUSY;
    if (rc == 0 && elen < sizeof s->cache[0]->etag && pthread_mutex_trylock(&s->mu) == 0) {
        for (size_t i = 0; i < s->ncache; i++) {
            const struct sk_meta *m = s->cache[i];
            if (strcmp(m->coll, coll) || strlen(m->etag) != elen || memcmp(m->etag, etag, elen))
                continue;
            out = !m->rules || !bdoc_ruleset_get(m->rules, BDOC_RULE_READ);
            break;
        }
        pthread_mutex_unlock(&s->mu);
    }
    free(meta);
    return out;
}

int bdoc_store_get_json_nowait(struct bdoc_store *s, const char *coll, const char *id,
                               const struct bdoc_store_actor *a, size_t max_bytes, char **out,
                               size_t *len)
{
    if (out) *out = NULL;
    if (!s || !coll || !id || !out || !len) return BB_EINVAL;
    int rc = bdoc_peek_begin(s->db);
    if (rc) return rc;
    uint8_t *doc = NULL;
    size_t dlen = 0;
    rc = read_rule_free(s, coll, a);
    if (rc == 1) rc = bdoc_peek_raw(s->db, coll, id, &doc, &dlen);
    else if (rc == 0) rc = BB_EBUSY; /* a read rule: evaluated by bdoc_store_get */
    bdoc_peek_end(s->db);
    if (rc == 0 && dlen > max_bytes) rc = BB_EBUSY;
    if (rc == 0) rc = bdoc_doc_render_json(doc, dlen, out, len);
    free(doc);
    return rc;
}
