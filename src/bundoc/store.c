/* store.c — bundoc collection layer: store transactions, metadata (schema, rules, options, index
 * definitions) kept in the hidden collection __meta, document writes with index maintenance in
 * the same transaction, online index builds, references and rules. See store.h and
 * docs/internals/bundoc-store.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_bytes.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_id.h"
#include "bb_log.h"
#include "store_int.h"

#define ADMIN_RETRIES 16

void st_err(struct bdoc_store_error *e, const char *fmt, ...)
{
    if (!e) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void bdoc_store_error_release(struct bdoc_store_error *e)
{
    if (!e) return;
    free(e->trace);
    memset(e, 0, sizeof *e);
}

static int is_admin(const struct bdoc_store_actor *a)
{
    return !a || a->admin;
}

/* ---- compiled metadata ---- */

static void meta_free(struct sk_meta *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nidx; i++) {
        struct sk_index *ix = &m->idx[i];
        free(ix->name);
        free(ix->ecoll);
        for (size_t f = 0; f < ix->nf; f++) sk_field_release(&ix->f[f]);
    }
    free(m->idx);
    free(m->coll);
    json_decref(m->doc);
    bdoc_schema_free(m->schema);
    bdoc_ruleset_free(m->rules);
    free(m);
}

static int index_def_compile(const json_t *def, struct sk_index *ix)
{
    memset(ix, 0, sizeof *ix);
    const char *name = json_string_value(json_object_get(def, "name"));
    const char *ecoll = json_string_value(json_object_get(def, "ecoll"));
    const json_t *fields = json_object_get(def, "fields");
    if (!name || !json_is_array(fields) || json_array_size(fields) == 0 ||
        json_array_size(fields) > BDOC_STORE_MAX_INDEX_FIELDS)
        return BB_EINVAL;
    ix->name = strdup(name);
    ix->ecoll = strdup(ecoll ? ecoll : "");
    if (!ix->name || !ix->ecoll) return BB_ENOMEM;
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        int rc = sk_field_parse(json_string_value(f), &ix->f[i]);
        if (rc) return rc;
        ix->nf++;
    }
    ix->unique = json_is_true(json_object_get(def, "unique"));
    const char *state = json_string_value(json_object_get(def, "state"));
    ix->ready = state && !strcmp(state, "ready");
    ix->multikey = json_is_true(json_object_get(def, "multikey"));
    return 0;
}

/* Builds the compiled form of a __meta document (doc may be NULL: no metadata). Takes a new
 * reference to doc. */
static int meta_compile(const char *coll, json_t *doc, struct sk_meta **out)
{
    struct sk_meta *m = calloc(1, sizeof *m);
    if (!m) return BB_ENOMEM;
    m->refs = 1;
    int rc = BB_ENOMEM;
    m->coll = strdup(coll);
    if (!m->coll) goto out;
    rc = 0;
    if (!doc) goto out;
    m->doc = json_incref(doc);
    const char *etag = json_string_value(json_object_get(doc, "etag"));
    snprintf(m->etag, sizeof m->etag, "%s", etag ? etag : "");
    const json_t *schema = json_object_get(doc, "schema");
    char err[256];
    if (json_is_object(schema)) {
        rc = bdoc_schema_compile(schema, &m->schema, err, sizeof err);
        if (rc) goto out;
        const json_t *props = json_object_get(schema, "properties");
        m->schema_sees_id = json_object_get(props, "_id") != NULL;
    }
    const json_t *rules = json_object_get(doc, "rules");
    if (json_is_object(rules) && json_object_size(rules)) {
        rc = bdoc_ruleset_compile(rules, &m->rules, err, sizeof err);
        if (rc) goto out;
    }
    m->prevent_override = json_is_true(json_object_get(doc, "prevent_schema_override"));
    const json_t *idx = json_object_get(doc, "indexes");
    size_t n = json_array_size(idx);
    if (n) {
        m->idx = calloc(n, sizeof *m->idx);
        if (!m->idx) {
            rc = BB_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            rc = index_def_compile(json_array_get(idx, i), &m->idx[i]);
            m->nidx++;
            if (rc) goto out;
        }
    }
out:
    if (rc) {
        meta_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void st_meta_put(struct bdoc_store *s, struct sk_meta *m)
{
    if (!m) return;
    pthread_mutex_lock(&s->mu);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last) meta_free(m);
}

/* Loads the metadata of coll as seen by t. BB_ENOTFOUND when the collection does not exist.
 * The result is shared (cache) and released with st_meta_put. */
int st_meta_load(struct bdoc_store_txn *t, const char *coll, struct sk_meta **out)
{
    struct bdoc_store *s = t->s;
    json_t *ej = NULL, *doc = NULL;
    int rc = bdoc_get_field(t->tx, META_COLL, coll, "etag", &ej);
    if (rc == BB_ENOTFOUND) {
        rc = bdoc_collection_exists(t->tx, coll);
        if (rc) return rc;
        return meta_compile(coll, NULL, out);
    }
    if (rc) return rc;
    const char *etag = json_string_value(ej);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ncache; i++) {
        struct sk_meta *m = s->cache[i];
        if (!strcmp(m->coll, coll) && etag && !strcmp(m->etag, etag)) {
            m->refs++;
            pthread_mutex_unlock(&s->mu);
            json_decref(ej);
            *out = m;
            return 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    json_decref(ej);
    rc = bdoc_get(t->tx, META_COLL, coll, &doc);
    if (rc) return rc;
    struct sk_meta *m = NULL;
    rc = meta_compile(coll, doc, &m);
    json_decref(doc);
    if (rc) return rc;
    /* publish in the cache (replacing this collection's older entry) */
    struct sk_meta *old = NULL;
    pthread_mutex_lock(&s->mu);
    size_t i;
    for (i = 0; i < s->ncache; i++)
        if (!strcmp(s->cache[i]->coll, coll)) break;
    if (i < s->ncache) {
        old = s->cache[i];
        s->cache[i] = m;
        m->refs++;
    } else {
        if (s->ncache == s->capcache) {
            size_t nc = s->capcache ? 2 * s->capcache : 16;
            struct sk_meta **nm = realloc(s->cache, nc * sizeof *nm);
            if (nm) {
                s->cache = nm;
                s->capcache = nc;
            }
        }
        if (s->ncache < s->capcache) {
            s->cache[s->ncache++] = m;
            m->refs++;
        }
    }
    int last = old && --old->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last) meta_free(old);
    *out = m;
    return 0;
}

static void new_etag(char out[40])
{
    uint8_t r[16];
    if (bb_random_bytes(r, sizeof r)) {
        char id[BB_ID_LEN + 1];
        bb_id_new(id);
        snprintf(out, 40, "%s", id);
        return;
    }
    bb_hex_encode(r, sizeof r, out, 40);
}

/* Writes doc (a __meta document for coll; borrowed) with a fresh etag. */
static int meta_write(struct bdoc_txn *tx, const char *coll, json_t *doc)
{
    char etag[40];
    new_etag(etag);
    json_object_set_new(doc, "etag", json_string(etag));
    json_object_set_new(doc, "_id", json_string(coll));
    int rc = bdoc_replace(tx, META_COLL, coll, doc, NULL);
    if (rc == BB_ENOTFOUND) rc = bdoc_insert(tx, META_COLL, doc, NULL);
    return rc;
}

/* A copy of coll's __meta document, or a fresh one. */
static int meta_doc_get(struct bdoc_txn *tx, const char *coll, json_t **out)
{
    json_t *doc = NULL;
    int rc = bdoc_get(tx, META_COLL, coll, &doc);
    if (rc == BB_ENOTFOUND) {
        rc = bdoc_collection_exists(tx, coll);
        if (rc) return rc;
        doc = json_pack("{s:s,s:n,s:n,s:b,s:[]}", "_id", coll, "schema", "rules",
                        "prevent_schema_override", 0, "indexes");
        if (!doc) return BB_ENOMEM;
    } else if (rc) {
        return rc;
    }
    if (!json_is_array(json_object_get(doc, "indexes")))
        json_object_set_new(doc, "indexes", json_array());
    *out = doc;
    return 0;
}

/* ---- store and transactions ---- */

/* Indexes still in state "building" when the store opens were left by a process that died during
 * their build (no build can run before the store is open): they are dropped, entries and all, so
 * that a crash leaves either no index or a complete one (docs/internals/bundoc-store.md §4). */
static int drop_unfinished(struct bdoc_store *s)
{
    json_t *todo = json_array(), *keep = json_object(), *orphans = NULL;
    if (!todo || !keep) {
        json_decref(todo);
        json_decref(keep);
        return BB_ENOMEM;
    }
    struct bdoc_txn *tx = NULL;
    int rc = bdoc_begin(s->db, BDOC_TXN_READONLY, &tx);
    char *after = NULL;
    while (!rc) {
        json_t *page = NULL;
        char *next = NULL;
        rc = bdoc_list(tx, META_COLL, after, NULL, 1000, &page, &next);
        free(after);
        after = next;
        if (rc) break;
        size_t i, j;
        json_t *d, *ix;
        json_array_foreach(page, i, d) {
            json_array_foreach(json_object_get(d, "indexes"), j, ix) {
                const char *st = json_string_value(json_object_get(ix, "state"));
                const char *ec = json_string_value(json_object_get(ix, "ecoll"));
                if (ec && (!st || strcmp(st, "building"))) json_object_set_new(keep, ec, json_true());
                if (st && !strcmp(st, "building"))
                    json_array_append_new(todo, json_pack("[O,O]", json_object_get(d, "_id"),
                                                          json_object_get(ix, "name")));
            }
        }
        json_decref(page);
        if (!after) break;
    }
    free(after);
    /* entries collections that no finished index names: a drop that died after removing the
     * definition, or a build that died (its own is dropped with it below) */
    if (!rc) rc = bdoc_collection_list(tx, "__idx.", &orphans);
    bdoc_rollback(tx);
    size_t i;
    json_t *p;
    json_array_foreach(todo, i, p) {
        const char *coll = json_string_value(json_array_get(p, 0));
        const char *name = json_string_value(json_array_get(p, 1));
        if (rc || !coll || !name) continue;
        struct bdoc_store_error e = {0};
        rc = bdoc_store_index_drop(s, coll, name, &e);
        if (rc == BB_ENOTFOUND) rc = 0;
        if (rc) bb_error("bundoc", "dropping the unfinished index '%s' of '%s': %s", name, coll,
                         e.message[0] ? e.message : bb_strerror(rc));
        else bb_warn("bundoc", "dropped index '%s' of '%s': its build did not finish", name, coll);
        bdoc_store_error_release(&e);
    }
    json_array_foreach(orphans, i, p) {
        const char *ec = json_string_value(p);
        if (rc || !ec || json_object_get(keep, ec)) continue;
        for (int tries = 0; tries < ADMIN_RETRIES; tries++) {
            rc = bdoc_begin(s->db, 0, &tx);
            if (rc) break;
            rc = bdoc_collection_drop(tx, ec);
            if (rc) {
                bdoc_rollback(tx);
                if (rc == BB_ENOTFOUND) rc = 0;
                break;
            }
            rc = bdoc_commit(tx);
            if (rc != BB_ECONFLICT) break;
        }
        if (rc) bb_error("bundoc", "dropping the orphaned index entries '%s': %s", ec, bb_strerror(rc));
    }
    json_decref(orphans);
    json_decref(keep);
    json_decref(todo);
    return rc;
}

int bdoc_store_open(struct bdoc_db *db, struct bdoc_store **out)
{
    if (!db || !out) return BB_EINVAL;
    struct bdoc_store *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    s->db = db;
    s->build_batch = 4096;
    s->build_fill = 100;
    s->build_mem = (size_t)256 << 20;
    s->next_seq = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = 0;
    for (int tries = 0; tries < ADMIN_RETRIES; tries++) {
        struct bdoc_txn *tx = NULL;
        rc = bdoc_begin(db, 0, &tx);
        if (rc) break;
        static const char *hidden[] = {META_COLL, REFS_COLL};
        for (size_t i = 0; i < 2 && !rc; i++) {
            rc = bdoc_collection_create(tx, hidden[i]);
            if (rc == BB_EEXIST) rc = 0;
        }
        if (rc) {
            bdoc_rollback(tx);
            break;
        }
        rc = bdoc_commit(tx);
        if (rc != BB_ECONFLICT) break;
    }
    if (!rc) rc = drop_unfinished(s);
    if (rc) {
        bdoc_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void bdoc_store_close(struct bdoc_store *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->ncache; i++)
        if (--s->cache[i]->refs == 0) meta_free(s->cache[i]);
    free(s->cache);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

void bdoc_store_set_build_mem(struct bdoc_store *s, size_t bytes)
{
    if (s && bytes >= 1) s->build_mem = bytes;
}

void bdoc_store_set_build_fill(struct bdoc_store *s, unsigned pct)
{
    if (s && pct >= 10 && pct <= 100) s->build_fill = pct;
}

void bdoc_store_set_build_batch(struct bdoc_store *s, size_t n)
{
    if (s && n >= 1 && n <= 10000) s->build_batch = n;
}

int bdoc_store_begin(struct bdoc_store *s, int flags, struct bdoc_store_txn **out)
{
    if (!s || !out) return BB_EINVAL;
    struct bdoc_store_txn *t = calloc(1, sizeof *t);
    if (!t) return BB_ENOMEM;
    t->s = s;
    t->write = !(flags & BDOC_TXN_READONLY);
    if (t->write) { /* registered before the engine snapshot is taken (see the build fence) */
        pthread_mutex_lock(&s->mu);
        t->seq = s->next_seq++;
        t->next = s->active;
        if (s->active) s->active->prev = t;
        s->active = t;
        pthread_mutex_unlock(&s->mu);
    }
    int rc = bdoc_begin(s->db, flags, &t->tx);
    if (rc) {
        t->tx = NULL;
        bdoc_store_rollback(t);
        return rc;
    }
    *out = t;
    return 0;
}

static void txn_unregister(struct bdoc_store_txn *t)
{
    if (!t->write) return;
    struct bdoc_store *s = t->s;
    pthread_mutex_lock(&s->mu);
    if (t->prev) t->prev->next = t->next;
    else s->active = t->next;
    if (t->next) t->next->prev = t->prev;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int bdoc_store_commit(struct bdoc_store_txn *t)
{
    if (!t) return BB_EINVAL;
    int rc;
    if (t->failed) {
        bdoc_rollback(t->tx);
        rc = BB_EINVAL;
    } else {
        rc = bdoc_commit(t->tx);
    }
    txn_unregister(t);
    free(t);
    return rc;
}

void bdoc_store_rollback(struct bdoc_store_txn *t)
{
    if (!t) return;
    bdoc_rollback(t->tx);
    txn_unregister(t);
    free(t);
}

/* Waits until every write transaction that began before this call has finished. */
static void fence_wait(struct bdoc_store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t fence = s->next_seq++;
    for (;;) {
        int older = 0;
        for (struct bdoc_store_txn *t = s->active; t; t = t->next)
            if (t->seq < fence) older = 1;
        if (!older) break;
        pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Runs fn in its own write transaction, retrying engine conflicts. */
typedef int (*admin_fn)(struct bdoc_store_txn *t, void *ctx, struct bdoc_store_error *e);
static int admin_run(struct bdoc_store *s, admin_fn fn, void *ctx, struct bdoc_store_error *e)
{
    int rc = 0;
    for (int tries = 0; tries < ADMIN_RETRIES; tries++) {
        struct bdoc_store_txn *t = NULL;
        rc = bdoc_store_begin(s, 0, &t);
        if (rc) return rc;
        rc = fn(t, ctx, e);
        if (rc) {
            bdoc_store_rollback(t);
            return rc;
        }
        rc = bdoc_store_commit(t);
        if (rc != BB_ECONFLICT) return rc;
    }
    st_err(e, "too many conflicts");
    return rc;
}

/* ---- helpers ---- */

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > BDOC_MAX_COLLECTION_LEN) return 0;
    if (name[0] == '_' && name[1] == '_') return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '"' || name[i] == '\\') return 0;
    return 1;
}

/* Value at a dot path without array fan-out (digit segments index arrays); NULL if missing. */
static const json_t *get_path(const json_t *doc, const char *path)
{
    const json_t *v = doc;
    const char *p = path;
    while (v && *p) {
        const char *d = strchr(p, '.');
        size_t sl = d ? (size_t)(d - p) : strlen(p);
        char seg[256];
        if (sl >= sizeof seg) return NULL;
        memcpy(seg, p, sl);
        seg[sl] = 0;
        if (json_is_object(v)) {
            v = json_object_get(v, seg);
        } else if (json_is_array(v) && sl > 0 && sl < 10 && strspn(seg, "0123456789") == sl) {
            v = json_array_get(v, strtoul(seg, NULL, 10));
        } else {
            return NULL;
        }
        p = d ? d + 1 : p + sl;
    }
    return v;
}

/* ---- schema, rules, references ---- */

static int check_schema(const struct sk_meta *m, const json_t *doc, struct bdoc_store_error *e)
{
    if (!m->schema) return 0;
    json_t *copy = NULL;
    const json_t *v = doc;
    if (!m->schema_sees_id) { /* _id belongs to the engine unless the schema declares it */
        copy = json_copy((json_t *)doc);
        if (!copy) return BB_ENOMEM;
        json_object_del(copy, "_id");
        v = copy;
    }
    struct bdoc_schema_error se;
    int rc = bdoc_schema_validate(m->schema, v, &se);
    json_decref(copy);
    if (rc == BB_EINVAL && e) {
        st_err(e, "document invalid against schema: %s", se.message);
        snprintf(e->path, sizeof e->path, "%s", se.path);
        snprintf(e->keyword, sizeof e->keyword, "%s", se.keyword);
    }
    return rc;
}

static const char *op_name(enum bdoc_rule_op op)
{
    static const char *names[] = {"read", "list", "create", "update", "delete"};
    return names[op];
}

static int check_rule(const struct sk_meta *m, const struct bdoc_store_actor *a,
                      enum bdoc_rule_op op, const json_t *resource, const json_t *request,
                      struct bdoc_store_error *e)
{
    if (is_admin(a) || !m->rules) return 0;
    const struct bdoc_rule *r = bdoc_ruleset_get(m->rules, op);
    if (!r) return 0;
    struct bdoc_rule_input in = {a->auth, resource, request};
    int allow = 0;
    char *trace = NULL;
    int rc = bdoc_rule_eval(r, &in, &allow, e ? &trace : NULL);
    if (rc) {
        free(trace);
        return rc;
    }
    if (allow) {
        free(trace);
        return 0;
    }
    st_err(e, "permission denied: rule '%s' denied the request", op_name(op));
    if (e) {
        free(e->trace);
        e->trace = trace;
    }
    return BB_EPERM;
}

int st_read_trivial(const struct sk_meta *m, const struct bdoc_store_actor *a)
{
    return is_admin(a) || !m->rules ||
           (!bdoc_ruleset_get(m->rules, BDOC_RULE_LIST) && !bdoc_ruleset_get(m->rules, BDOC_RULE_READ));
}

int st_read_allowed(const struct sk_meta *m, const struct bdoc_store_actor *a, const json_t *doc)
{
    if (is_admin(a) || !m->rules) return 1;
    enum bdoc_rule_op ops[2] = {BDOC_RULE_LIST, BDOC_RULE_READ};
    for (int i = 0; i < 2; i++) {
        const struct bdoc_rule *r = bdoc_ruleset_get(m->rules, ops[i]);
        if (!r) continue;
        struct bdoc_rule_input in = {a->auth, doc, NULL};
        int allow = 0;
        if (bdoc_rule_eval(r, &in, &allow, NULL) || !allow) return 0;
    }
    return 1;
}

/* The target id a reference value names: strings as is, numbers and booleans as text. 0, or
 * BB_EINVAL (object/array), or BB_EEXIST (empty string). *skip when missing/null. */
static int ref_id(const json_t *v, char *buf, size_t cap, int *skip)
{
    *skip = 0;
    if (!v || json_is_null(v)) {
        *skip = 1;
        return 0;
    }
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return BB_EEXIST;
        if (json_string_length(v) >= cap) return BB_EEXIST;
        snprintf(buf, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, cap, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else {
        return BB_EINVAL;
    }
    return 0;
}

static int check_refs(struct bdoc_store_txn *t, const struct sk_meta *m, const json_t *doc,
                      struct bdoc_store_error *e)
{
    if (!m->schema) return 0;
    const struct bdoc_schema_ref *refs;
    size_t n;
    bdoc_schema_refs(m->schema, &refs, &n);
    for (size_t i = 0; i < n; i++) {
        char id[BDOC_MAX_ID_LEN + 1];
        int skip;
        int rc = ref_id(get_path(doc, refs[i].path), id, sizeof id, &skip);
        if (rc == BB_EINVAL) {
            st_err(e, "reference field '%s' must be a scalar", refs[i].path);
            return rc;
        }
        if (rc) {
            st_err(e, "reference target not found: %s: empty reference value", refs[i].path);
            return rc;
        }
        if (skip) continue;
        json_t *target = NULL;
        rc = bdoc_get(t->tx, refs[i].collection, id, &target); /* the engine wants out */
        json_decref(target);
        if (rc == BB_ENOTFOUND) {
            st_err(e, "reference target not found: %s -> %s/%s", refs[i].path,
                   refs[i].collection, id);
            return BB_EEXIST;
        }
        if (rc) return rc;
    }
    return 0;
}

/* ---- index maintenance ---- */

struct ixplan {
    size_t n;
    struct sk_keys *oldk, *newk;
};

static void ixplan_release(struct ixplan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->oldk) sk_keys_free(&p->oldk[i]);
        if (p->newk) sk_keys_free(&p->newk[i]);
    }
    free(p->oldk);
    free(p->newk);
    memset(p, 0, sizeof *p);
}

static int has_key(const struct sk_keys *k, const char *key)
{
    for (size_t i = 0; k && i < k->n; i++)
        if (!strcmp(k->keys[i], key)) return 1;
    return 0;
}

static void unique_msg(struct bdoc_store_error *e, const struct sk_meta *m,
                       const struct sk_index *ix, const char *other)
{
    st_err(e, "unique index '%s' on '%s' violated: the value is already used by document '%s'",
           ix->name, m->coll, other ? other : "?");
    if (e) snprintf(e->index, sizeof e->index, "%s", ix->name);
}

/* Phase 1 (no writes): keys of the old and new versions for every index; unique pre-check. */
static int ix_prepare(struct bdoc_store_txn *t, const struct sk_meta *m, const json_t *old,
                      const json_t *nw, struct ixplan *p, struct bdoc_store_error *e)
{
    memset(p, 0, sizeof *p);
    if (!m->nidx) return 0;
    p->oldk = calloc(m->nidx, sizeof *p->oldk);
    p->newk = calloc(m->nidx, sizeof *p->newk);
    if (!p->oldk || !p->newk) return BB_ENOMEM;
    p->n = m->nidx;
    char err[256] = "";
    for (size_t i = 0; i < m->nidx; i++) {
        const struct sk_index *ix = &m->idx[i];
        int rc = 0;
        if (old) rc = sk_doc_keys(ix, old, &p->oldk[i], err, sizeof err);
        if (!rc && nw) rc = sk_doc_keys(ix, nw, &p->newk[i], err, sizeof err);
        if (rc) {
            st_err(e, "%s", err[0] ? err : "cannot index document");
            return rc;
        }
        if (!ix->unique || !nw) continue;
        const char *id = json_string_value(json_object_get(nw, "_id"));
        for (size_t k = 0; k < p->newk[i].n; k++) {
            const char *key = p->newk[i].keys[k];
            if (has_key(old ? &p->oldk[i] : NULL, key)) continue;
            json_t *ent = NULL;
            rc = bdoc_get(t->tx, ix->ecoll, key, &ent);
            if (rc == BB_ENOTFOUND) continue;
            if (rc) return rc;
            const char *other = sk_entry_id(ent);
            if (other && id && strcmp(other, id)) {
                unique_msg(e, m, ix, other);
                json_decref(ent);
                return BB_EEXIST;
            }
            json_decref(ent);
        }
    }
    return 0;
}

static int set_multikey(struct bdoc_txn *tx, const char *coll, const char *ixname)
{
    json_t *doc = NULL;
    int rc = meta_doc_get(tx, coll, &doc);
    if (rc) return rc;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "indexes"), i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && !strcmp(n, ixname)) json_object_set_new(d, "multikey", json_true());
    }
    rc = meta_write(tx, coll, doc);
    json_decref(doc);
    return rc;
}

/* Inserts one entry; a unique collision names the index. */
static int entry_put(struct bdoc_txn *tx, const struct sk_meta *m, const struct sk_index *ix,
                     const char *key, json_t *body, const char *id, struct bdoc_store_error *e)
{
    json_object_set_new(body, "_id", json_string(key));
    int rc = bdoc_insert(tx, ix->ecoll, body, NULL);
    json_object_del(body, "_id");
    if (rc != BB_EEXIST) return rc;
    json_t *ent = NULL;
    if (bdoc_get(tx, ix->ecoll, key, &ent) == 0) {
        const char *other = sk_entry_id(ent);
        if (other && id && !strcmp(other, id)) {
            json_decref(ent);
            return 0; /* already there for this document */
        }
        unique_msg(e, m, ix, other);
        json_decref(ent);
        return BB_EEXIST;
    }
    unique_msg(e, m, ix, NULL);
    return BB_EEXIST;
}

/* Phase 2 (after the document write): apply the entry differences. */
static int ix_apply(struct bdoc_store_txn *t, const struct sk_meta *m, const char *id,
                    struct ixplan *p, struct bdoc_store_error *e)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct sk_index *ix = &m->idx[i];
        struct sk_keys *o = &p->oldk[i], *n = &p->newk[i];
        for (size_t k = 0; k < o->n; k++) {
            if (has_key(n, o->keys[k])) continue;
            /* while the index builds, a missing entry may be one a build batch is inserting
             * right now: delete blind, so that the two conflict (store.c build protocol) */
            int rc = ix->ready ? bdoc_delete(t->tx, ix->ecoll, o->keys[k])
                               : bdoc_delete_blind(t->tx, ix->ecoll, o->keys[k]);
            if (rc && rc != BB_ENOTFOUND) return rc;
        }
        for (size_t k = 0; k < n->n; k++) {
            if (has_key(o, n->keys[k])) continue;
            int rc = entry_put(t->tx, m, ix, n->keys[k], n->bodies[k], id, e);
            if (rc) return rc;
        }
        if (n->multikey && !ix->multikey) {
            int rc = set_multikey(t->tx, m->coll, ix->name);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- documents ---- */

static int write_doc(struct bdoc_store_txn *t, const struct sk_meta *m, const char *coll,
                     const char *id, const json_t *old, json_t *nw, json_t **out,
                     struct bdoc_store_error *e)
{
    struct ixplan p;
    int rc = ix_prepare(t, m, old, nw, &p, e);
    if (rc) goto out;
    t->failed = 1; /* from here a failure leaves part of the operation behind */
    if (!nw) rc = bdoc_delete(t->tx, coll, id);
    else if (old) rc = bdoc_replace(t->tx, coll, id, nw, out);
    else rc = bdoc_insert(t->tx, coll, nw, out);
    if (rc == BB_EEXIST) st_err(e, "document '%s' already exists", id);
    if (rc) goto out;
    rc = ix_apply(t, m, id, &p, e);
    if (rc) goto out;
    t->failed = 0;
out:
    if (rc == BB_EEXIST && out && *out) {
        json_decref(*out);
        *out = NULL;
    }
    ixplan_release(&p);
    return rc;
}

int bdoc_store_insert(struct bdoc_store_txn *t, const char *coll, const json_t *doc,
                      const struct bdoc_store_actor *a, json_t **out,
                      struct bdoc_store_error *e)
{
    if (out) *out = NULL;
    if (!t || !coll || !json_is_object(doc)) return BB_EINVAL;
    struct sk_meta *m = NULL;
    json_t *nw = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "collection '%s' not found", coll);
        goto out;
    }
    nw = json_copy((json_t *)doc);
    if (!nw) {
        rc = BB_ENOMEM;
        goto out;
    }
    const json_t *idv = json_object_get(nw, "_id");
    if (!json_is_string(idv) || json_string_length(idv) == 0) {
        char id[BB_ID_LEN + 1];
        bb_id_new(id);
        json_object_set_new(nw, "_id", json_string(id));
    }
    const char *id = json_string_value(json_object_get(nw, "_id"));
    if (strlen(id) > BDOC_MAX_ID_LEN) {
        rc = BB_ETOOBIG;
        goto out;
    }
    rc = check_schema(m, nw, e);
    if (!rc) rc = check_rule(m, a, BDOC_RULE_CREATE, nw, nw, e);
    if (!rc) rc = check_refs(t, m, nw, e);
    if (!rc) rc = write_doc(t, m, coll, id, NULL, nw, out, e);
out:
    json_decref(nw);
    st_meta_put(t->s, m);
    return rc;
}

int bdoc_store_get(struct bdoc_store_txn *t, const char *coll, const char *id,
                   const struct bdoc_store_actor *a, json_t **out, struct bdoc_store_error *e)
{
    if (out) *out = NULL;
    if (!t || !coll || !id) return BB_EINVAL;
    struct sk_meta *m = NULL;
    json_t *doc = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (!rc) rc = bdoc_get(t->tx, coll, id, &doc);
    if (!rc) rc = check_rule(m, a, BDOC_RULE_READ, doc, NULL, e);
    if (!rc && out) {
        *out = doc;
        doc = NULL;
    }
    json_decref(doc);
    st_meta_put(t->s, m);
    return rc;
}

static int update_common(struct bdoc_store_txn *t, const char *coll, const char *id,
                         const json_t *doc, const json_t *patch, const struct bdoc_store_actor *a,
                         json_t **out, struct bdoc_store_error *e);

int bdoc_store_replace(struct bdoc_store_txn *t, const char *coll, const char *id,
                       const json_t *doc, const struct bdoc_store_actor *a, json_t **out,
                       struct bdoc_store_error *e)
{
    if (!json_is_object(doc)) return BB_EINVAL;
    return update_common(t, coll, id, doc, NULL, a, out, e);
}

int bdoc_store_patch(struct bdoc_store_txn *t, const char *coll, const char *id,
                     const json_t *patch, const struct bdoc_store_actor *a, json_t **out,
                     struct bdoc_store_error *e)
{
    if (!json_is_object(patch)) return BB_EINVAL;
    return update_common(t, coll, id, NULL, patch, a, out, e);
}

/* Splits path into segments in buf; 0 or BB_EINVAL (empty segment, too many/long). */
static int split_path(const char *path, char segs[][256], size_t *n)
{
    *n = 0;
    const char *p = path;
    if (!*p) return BB_EINVAL;
    for (;;) {
        const char *d = strchr(p, '.');
        size_t sl = d ? (size_t)(d - p) : strlen(p);
        if (sl == 0 || sl >= 256 || *n == BDOC_QUERY_MAX_PATH_SEGS) return BB_EINVAL;
        memcpy(segs[*n], p, sl);
        segs[*n][sl] = 0;
        (*n)++;
        if (!d) return 0;
        p = d + 1;
    }
}

/* The engine's patch semantics (bundoc.h) on a copy of old. */
static int apply_patch(const json_t *old, const json_t *patch, json_t **out,
                       struct bdoc_store_error *e)
{
    char (*sg)[256] = malloc(BDOC_QUERY_MAX_PATH_SEGS * 256);
    json_t *doc = json_deep_copy(old);
    int rc = BB_ENOMEM;
    if (!sg || !doc) goto out;
    rc = 0;
    const json_t *unset = json_object_get(patch, "$unset");
    if (unset && !json_is_object(unset)) {
        st_err(e, "$unset must be an object");
        rc = BB_EINVAL;
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)unset, k, v) {
        size_t n;
        if (split_path(k, sg, &n)) {
            st_err(e, "bad path '%s'", k);
            rc = BB_EINVAL;
            goto out;
        }
        json_t *cur = doc;
        for (size_t i = 0; i + 1 < n && cur; i++) cur = json_object_get(cur, sg[i]);
        if (json_is_object(cur) && strcmp(sg[0], "_id")) json_object_del(cur, sg[n - 1]);
    }
    json_object_foreach((json_t *)patch, k, v) {
        if (!strcmp(k, "$unset") || !strcmp(k, "_id")) continue;
        size_t n;
        if (k[0] == '$' || split_path(k, sg, &n)) {
            st_err(e, "bad patch path '%s'", k);
            rc = BB_EINVAL;
            goto out;
        }
        if (!strcmp(sg[0], "_id")) continue;
        json_t *cur = doc;
        for (size_t i = 0; i + 1 < n; i++) {
            json_t *c = json_object_get(cur, sg[i]);
            if (!json_is_object(c)) {
                c = json_object();
                if (!c || json_object_set_new(cur, sg[i], c)) {
                    rc = BB_ENOMEM;
                    goto out;
                }
            }
            cur = c;
        }
        if (json_object_set_new(cur, sg[n - 1], json_deep_copy(v))) {
            rc = BB_ENOMEM;
            goto out;
        }
    }
    *out = doc;
    doc = NULL;
out:
    free(sg);
    json_decref(doc);
    return rc;
}

static int update_common(struct bdoc_store_txn *t, const char *coll, const char *id,
                         const json_t *doc, const json_t *patch, const struct bdoc_store_actor *a,
                         json_t **out, struct bdoc_store_error *e)
{
    if (out) *out = NULL;
    if (!t || !coll || !id) return BB_EINVAL;
    struct sk_meta *m = NULL;
    json_t *old = NULL, *nw = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (!rc) rc = bdoc_get(t->tx, coll, id, &old);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "document '%s' not found in '%s'", id, coll);
        goto out;
    }
    if (patch) {
        rc = apply_patch(old, patch, &nw, e);
        if (rc) goto out;
    } else {
        nw = json_copy((json_t *)doc);
        if (!nw) {
            rc = BB_ENOMEM;
            goto out;
        }
    }
    json_object_set_new(nw, "_id", json_string(id));
    rc = check_schema(m, nw, e);
    if (!rc) rc = check_rule(m, a, BDOC_RULE_UPDATE, old, nw, e);
    if (!rc) rc = check_refs(t, m, nw, e);
    if (!rc) rc = write_doc(t, m, coll, id, old, nw, out, e);
out:
    json_decref(old);
    json_decref(nw);
    st_meta_put(t->s, m);
    return rc;
}

/* ---- delete with on_delete policies ---- */

static int find_dependents(struct bdoc_store_txn *t, const char *src, const char *path,
                           const char *id, json_t **out)
{
    /* candidate stored forms of the id: the string, and numbers/booleans whose text it is */
    json_t *in = json_array();
    json_array_append_new(in, json_string(id));
    char *end = NULL;
    long long ll = strtoll(id, &end, 10);
    char buf[64];
    if (end && !*end && *id) {
        snprintf(buf, sizeof buf, "%lld", ll);
        if (!strcmp(buf, id)) json_array_append_new(in, json_integer(ll));
    }
    double d = strtod(id, &end);
    if (end && !*end && *id) json_array_append_new(in, json_real(d));
    if (!strcmp(id, "true") || !strcmp(id, "false"))
        json_array_append_new(in, json_boolean(!strcmp(id, "true")));
    json_t *req = json_pack("{s:{s:{s:o}}}", "query", path, "$in", in);
    if (!req) return BB_ENOMEM;
    struct bdoc_store_find_result res;
    int rc = bdoc_store_find(t, src, req, NULL, BDOC_STORE_EXACT_COUNT, &res, NULL);
    json_decref(req);
    if (rc == BB_ENOTFOUND) { /* the source collection is gone */
        *out = json_array();
        return 0;
    }
    if (rc) return rc;
    json_t *deps = json_array();
    size_t i;
    json_t *doc;
    json_array_foreach(res.docs, i, doc) {
        char rid[BDOC_MAX_ID_LEN + 1];
        int skip;
        if (ref_id(get_path(doc, path), rid, sizeof rid, &skip) || skip || strcmp(rid, id))
            continue;
        json_array_append(deps, doc);
    }
    bdoc_store_find_result_release(&res);
    *out = deps;
    return 0;
}

static int visited_add(json_t *visited, const char *coll, const char *id, int *already)
{
    size_t n = strlen(coll) + strlen(id) + 2;
    char *k = malloc(n);
    if (!k) return BB_ENOMEM;
    snprintf(k, n, "%s\x1f%s", coll, id);
    *already = json_object_get(visited, k) != NULL;
    int rc = 0;
    if (!*already) {
        if (json_object_size(visited) >= BDOC_STORE_MAX_CASCADE) rc = BB_ETOOBIG;
        else json_object_set_new(visited, k, json_true());
    }
    free(k);
    return rc;
}

static int visited_has(json_t *visited, const char *coll, const char *id)
{
    size_t n = strlen(coll) + strlen(id) + 2;
    char *k = malloc(n);
    if (!k) return 0;
    snprintf(k, n, "%s\x1f%s", coll, id);
    int r = json_object_get(visited, k) != NULL;
    free(k);
    return r;
}

static int delete_rec(struct bdoc_store_txn *t, const char *coll, const char *id,
                      json_t *visited, int depth, struct bdoc_store_error *e);

static int apply_policies(struct bdoc_store_txn *t, const char *coll, const char *id,
                          json_t *visited, int depth, struct bdoc_store_error *e)
{
    json_t *refs = NULL;
    int rc = bdoc_get(t->tx, REFS_COLL, coll, &refs);
    if (rc == BB_ENOTFOUND) return 0;
    if (rc) return rc;
    const json_t *in = json_object_get(refs, "in");
    /* pass 0: restrict, before anything is written; pass 1: set_null and cascade */
    int writes = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        size_t i;
        json_t *r;
        json_array_foreach(in, i, r) {
            const char *src = json_string_value(json_array_get(r, 0));
            const char *path = json_string_value(json_array_get(r, 1));
            const char *pol = json_string_value(json_array_get(r, 2));
            if (!src || !path || !pol) continue;
            int restrict_ = !strcmp(pol, "restrict"), cascade = !strcmp(pol, "cascade");
            if (pass == 0 && !restrict_) continue;
            if (pass == 1 && restrict_) continue;
            json_t *deps = NULL;
            rc = find_dependents(t, src, path, id, &deps);
            if (rc) break;
            size_t j;
            json_t *d;
            json_array_foreach(deps, j, d) {
                const char *did = json_string_value(json_object_get(d, "_id"));
                if (!did || visited_has(visited, src, did)) continue;
                if (restrict_) {
                    st_err(e, "reference restrict violation: %s.%s -> %s/%s", src, path, coll,
                           id);
                    rc = BB_EEXIST;
                } else if (cascade) {
                    writes++;
                    rc = delete_rec(t, src, did, visited, depth + 1, e);
                } else {
                    writes++;
                    json_t *p = json_pack("{s:n}", path);
                    rc = p ? update_common(t, src, did, NULL, p, NULL, NULL, e) : BB_ENOMEM;
                    json_decref(p);
                }
                if (rc) break;
            }
            json_decref(deps);
            if (rc) break;
        }
    }
    json_decref(refs);
    if (rc && writes) t->failed = 1;
    return rc;
}

static int delete_rec(struct bdoc_store_txn *t, const char *coll, const char *id,
                      json_t *visited, int depth, struct bdoc_store_error *e)
{
    int already = 0;
    int rc = visited_add(visited, coll, id, &already);
    if (rc) {
        st_err(e, "on_delete policies touch more than %d documents", BDOC_STORE_MAX_CASCADE);
        return rc;
    }
    if (already) return 0;
    if (depth > 64) {
        st_err(e, "cascade deeper than 64 levels");
        return BB_ETOOBIG;
    }
    struct sk_meta *m = NULL;
    json_t *old = NULL;
    rc = st_meta_load(t, coll, &m);
    if (!rc) rc = bdoc_get(t->tx, coll, id, &old);
    if (rc == BB_ENOTFOUND && depth > 0) rc = 0; /* a dependent already gone */
    if (rc || !old) goto out;
    rc = apply_policies(t, coll, id, visited, depth, e);
    if (rc) goto out;
    rc = write_doc(t, m, coll, id, old, NULL, NULL, e);
out:
    json_decref(old);
    st_meta_put(t->s, m);
    return rc;
}

int bdoc_store_delete(struct bdoc_store_txn *t, const char *coll, const char *id,
                      const struct bdoc_store_actor *a, struct bdoc_store_error *e)
{
    if (!t || !coll || !id) return BB_EINVAL;
    struct sk_meta *m = NULL;
    json_t *old = NULL, *visited = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (!rc) rc = bdoc_get(t->tx, coll, id, &old);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "document '%s' not found in '%s'", id, coll);
        goto out;
    }
    rc = check_rule(m, a, BDOC_RULE_DELETE, old, NULL, e);
    if (rc) goto out;
    visited = json_object();
    if (!visited) {
        rc = BB_ENOMEM;
        goto out;
    }
    rc = delete_rec(t, coll, id, visited, 0, e);
out:
    json_decref(old);
    json_decref(visited);
    st_meta_put(t->s, m);
    return rc;
}

int bdoc_store_list(struct bdoc_store_txn *t, const char *coll, const char *after, size_t limit,
                    const struct bdoc_store_actor *a, json_t **out, char **next,
                    struct bdoc_store_error *e)
{
    (void)e;
    if (next) *next = NULL;
    if (!t || !coll || !out || limit < 1 || limit > 10000) return BB_EINVAL;
    struct sk_meta *m = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (rc) return rc;
    json_t *res = json_array();
    char *cur = after ? strdup(after) : NULL;
    if (!res || (after && !cur)) {
        rc = BB_ENOMEM;
        goto out;
    }
    for (;;) {
        json_t *batch = NULL;
        char *nx = NULL;
        size_t want = limit - json_array_size(res);
        rc = bdoc_list(t->tx, coll, cur, NULL, want, &batch, &nx);
        if (rc) goto out;
        size_t i;
        json_t *d;
        json_array_foreach(batch, i, d) {
            if (st_read_allowed(m, a, d)) json_array_append(res, d);
        }
        json_decref(batch);
        free(cur);
        cur = nx;
        if (!cur || json_array_size(res) == limit) break;
    }
    *out = res;
    res = NULL;
    if (next) {
        *next = cur;
        cur = NULL;
    }
out:
    free(cur);
    json_decref(res);
    st_meta_put(t->s, m);
    return rc;
}

/* ---- collections ---- */

struct create_ctx {
    const char *name;
    const json_t *opts;
    int created;
};

static int refs_sync(struct bdoc_txn *tx, const char *src, const struct bdoc_schema *old,
                     const struct bdoc_schema *nw);

static int create_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct create_ctx *c = vctx;
    int rc = bdoc_collection_create(t->tx, c->name);
    if (rc == BB_EEXIST) {
        st_err(e, "collection '%s' already exists", c->name);
        return rc;
    }
    if (rc) return rc;
    const json_t *schema = json_object_get(c->opts, "schema");
    const json_t *rules = json_object_get(c->opts, "rules");
    json_t *doc = json_pack("{s:s,s:O,s:O,s:b,s:[]}", "_id", c->name, "schema",
                            json_is_object(schema) ? schema : json_null(), "rules",
                            json_is_object(rules) ? rules : json_null(),
                            "prevent_schema_override",
                            json_is_true(json_object_get(c->opts, "prevent_schema_override")),
                            "indexes");
    if (!doc) return BB_ENOMEM;
    rc = meta_write(t->tx, c->name, doc);
    json_decref(doc);
    if (rc) return rc;
    if (json_is_object(schema)) {
        struct bdoc_schema *cs = NULL;
        rc = bdoc_schema_compile(schema, &cs, NULL, 0);
        if (!rc) rc = refs_sync(t->tx, c->name, NULL, cs);
        bdoc_schema_free(cs);
    }
    c->created = 1;
    return rc;
}

static int ensure_ref_indexes(struct bdoc_store *s, const char *coll, const json_t *schema,
                              struct bdoc_store_error *e);

int bdoc_store_collection_create(struct bdoc_store *s, const char *name, const json_t *opts,
                                 int *created, struct bdoc_store_error *e)
{
    if (created) *created = 0;
    if (!s || !name_ok(name) || (opts && !json_is_object(opts))) {
        st_err(e, "invalid collection name");
        return BB_EINVAL;
    }
    const json_t *schema = json_object_get(opts, "schema");
    const json_t *rules = json_object_get(opts, "rules");
    char err[512];
    if (schema && !json_is_null(schema)) {
        struct bdoc_schema *cs = NULL;
        if (!json_is_object(schema)) {
            st_err(e, "invalid schema format");
            return BB_EINVAL;
        }
        int rc = bdoc_schema_compile(schema, &cs, err, sizeof err);
        bdoc_schema_free(cs);
        if (rc) {
            st_err(e, "invalid json schema: %s", err);
            return rc;
        }
    }
    if (rules && !json_is_null(rules)) {
        struct bdoc_ruleset *rs = NULL;
        int rc = bdoc_ruleset_compile(rules, &rs, err, sizeof err);
        bdoc_ruleset_free(rs);
        if (rc) {
            st_err(e, "invalid rules: %s", err);
            return rc;
        }
    }
    struct create_ctx c = {name, opts, 0};
    int rc = admin_run(s, create_fn, &c, e);
    if (rc == BB_EEXIST && json_is_true(json_object_get(opts, "update_if_exists"))) {
        if (e) e->message[0] = 0;
        rc = schema ? bdoc_store_set_schema(s, name, schema, -1, e) : 0;
        return rc;
    }
    if (rc) return rc;
    if (created) *created = 1;
    if (json_is_object(schema)) rc = ensure_ref_indexes(s, name, schema, e);
    return rc;
}

struct drop_ctx {
    const char *name;
    json_t *ecolls;
};

static int drop_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct drop_ctx *c = vctx;
    struct sk_meta *m = NULL;
    int rc = st_meta_load(t, c->name, &m);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "collection '%s' does not exist", c->name);
        return rc;
    }
    json_array_clear(c->ecolls);
    for (size_t i = 0; i < m->nidx; i++) json_array_append_new(c->ecolls, json_string(m->idx[i].ecoll));
    rc = refs_sync(t->tx, c->name, m->schema, NULL);
    if (!rc) rc = bdoc_collection_drop(t->tx, c->name);
    if (!rc && m->doc) rc = bdoc_delete(t->tx, META_COLL, c->name);
    st_meta_put(t->s, m);
    return rc;
}

static int drop_colls_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    (void)e;
    json_t *names = vctx;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        int rc = bdoc_collection_drop(t->tx, json_string_value(n));
        if (rc && rc != BB_ENOTFOUND) return rc;
    }
    return 0;
}

int bdoc_store_collection_drop(struct bdoc_store *s, const char *name,
                               struct bdoc_store_error *e)
{
    if (!s || !name_ok(name)) return BB_EINVAL;
    struct drop_ctx c = {name, json_array()};
    if (!c.ecolls) return BB_ENOMEM;
    int rc = admin_run(s, drop_fn, &c, e);
    if (!rc && json_array_size(c.ecolls)) {
        fence_wait(s); /* writers that still saw the indexes are done before entries go */
        rc = admin_run(s, drop_colls_fn, c.ecolls, e);
    }
    json_decref(c.ecolls);
    return rc;
}

static json_t *index_public(const json_t *def)
{
    return json_pack("{s:O,s:O,s:b,s:O,s:b}", "name", json_object_get(def, "name"), "fields",
                     json_object_get(def, "fields"), "unique",
                     json_is_true(json_object_get(def, "unique")), "state",
                     json_object_get(def, "state"), "multikey",
                     json_is_true(json_object_get(def, "multikey")));
}

int bdoc_store_index_list(struct bdoc_store_txn *t, const char *coll, json_t **out)
{
    if (!t || !coll || !out) return BB_EINVAL;
    struct sk_meta *m = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (rc) return rc;
    json_t *arr = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(m->doc, "indexes"), i, d) {
        json_array_append_new(arr, index_public(d));
    }
    st_meta_put(t->s, m);
    *out = arr;
    return arr ? 0 : BB_ENOMEM;
}

int bdoc_store_collection_get(struct bdoc_store_txn *t, const char *name, json_t **out)
{
    if (!t || !name || !out) return BB_EINVAL;
    struct sk_meta *m = NULL;
    int rc = st_meta_load(t, name, &m);
    if (rc) return rc;
    json_t *idx = NULL;
    rc = bdoc_store_index_list(t, name, &idx);
    if (!rc) {
        const json_t *schema = json_object_get(m->doc, "schema");
        const json_t *rules = json_object_get(m->doc, "rules");
        *out = json_pack("{s:s,s:O,s:O,s:b,s:o}", "name", name, "schema",
                         schema ? schema : json_null(), "rules", rules ? rules : json_null(),
                         "prevent_schema_override", m->prevent_override, "indexes", idx);
        if (!*out) rc = BB_ENOMEM;
    }
    st_meta_put(t->s, m);
    return rc;
}

int bdoc_store_collection_list(struct bdoc_store_txn *t, const char *prefix, json_t **out)
{
    if (!t || !out) return BB_EINVAL;
    json_t *all = NULL;
    int rc = bdoc_collection_list(t->tx, prefix, &all);
    if (rc) return rc;
    json_t *res = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(all, i, n) {
        const char *s = json_string_value(n);
        if (s && !(s[0] == '_' && s[1] == '_')) json_array_append(res, n);
    }
    json_decref(all);
    *out = res;
    return res ? 0 : BB_ENOMEM;
}

/* ---- schema and rules ---- */

/* Rewrites the __refs documents: drops src's old declarations, adds the new ones. */
static int refs_sync(struct bdoc_txn *tx, const char *src, const struct bdoc_schema *old,
                     const struct bdoc_schema *nw)
{
    const struct bdoc_schema_ref *r[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    if (old) bdoc_schema_refs(old, &r[0], &n[0]);
    if (nw) bdoc_schema_refs(nw, &r[1], &n[1]);
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < n[side]; i++) {
            const char *target = r[side][i].collection;
            json_t *doc = NULL;
            int rc = bdoc_get(tx, REFS_COLL, target, &doc);
            if (rc == BB_ENOTFOUND) {
                doc = json_pack("{s:s,s:[]}", "_id", target, "in");
                rc = doc ? 0 : BB_ENOMEM;
                if (!rc) rc = bdoc_insert(tx, REFS_COLL, doc, NULL);
            }
            if (rc) {
                json_decref(doc);
                return rc;
            }
            json_t *in = json_object_get(doc, "in"), *nin = json_array();
            size_t k;
            json_t *ent;
            json_array_foreach(in, k, ent) {
                const char *s = json_string_value(json_array_get(ent, 0));
                if (s && strcmp(s, src)) json_array_append(nin, ent);
            }
            for (size_t j = 0; j < n[1]; j++) {
                if (strcmp(r[1][j].collection, target)) continue;
                json_array_append_new(nin, json_pack("[s,s,s]", src, r[1][j].path,
                                                     bdoc_on_delete_name(r[1][j].on_delete)));
            }
            json_object_set_new(doc, "in", nin);
            rc = json_array_size(nin) ? bdoc_replace(tx, REFS_COLL, target, doc, NULL)
                                      : bdoc_delete(tx, REFS_COLL, target);
            json_decref(doc);
            if (rc) return rc;
        }
    }
    return 0;
}

struct schema_ctx {
    const char *coll;
    const json_t *schema; /* NULL: clear */
    int prevent;
};

static int schema_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct schema_ctx *c = vctx;
    json_t *doc = NULL;
    struct bdoc_schema *olds = NULL, *news = NULL;
    int rc = meta_doc_get(t->tx, c->coll, &doc);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "collection '%s' not found", c->coll);
        return rc;
    }
    if (c->prevent >= 0)
        json_object_set_new(doc, "prevent_schema_override", json_boolean(c->prevent));
    const json_t *cur = json_object_get(doc, "schema");
    if (json_is_true(json_object_get(doc, "prevent_schema_override")) && json_is_object(cur) &&
        json_object_size(cur)) {
        if (c->schema && bdoc_value_equal(cur, c->schema)) {
            rc = c->prevent >= 0 ? meta_write(t->tx, c->coll, doc) : 0;
            goto out;
        }
        st_err(e, "schema override is disabled for this collection");
        rc = BB_EEXIST;
        goto out;
    }
    if (json_is_object(cur)) rc = bdoc_schema_compile(cur, &olds, NULL, 0);
    if (!rc && c->schema) rc = bdoc_schema_compile(c->schema, &news, NULL, 0);
    if (rc) goto out;
    json_object_set_new(doc, "schema", c->schema ? json_deep_copy(c->schema) : json_null());
    rc = refs_sync(t->tx, c->coll, olds, news);
    if (!rc) rc = meta_write(t->tx, c->coll, doc);
out:
    bdoc_schema_free(olds);
    bdoc_schema_free(news);
    json_decref(doc);
    return rc;
}

int bdoc_store_set_schema(struct bdoc_store *s, const char *coll, const json_t *schema,
                          int prevent_override, struct bdoc_store_error *e)
{
    if (!s || !coll) return BB_EINVAL;
    if (json_is_null(schema)) schema = NULL;
    if (schema) {
        char err[512];
        struct bdoc_schema *cs = NULL;
        if (!json_is_object(schema)) {
            st_err(e, "invalid schema format");
            return BB_EINVAL;
        }
        int rc = bdoc_schema_compile(schema, &cs, err, sizeof err);
        bdoc_schema_free(cs);
        if (rc) {
            st_err(e, "invalid json schema: %s", err);
            return rc;
        }
    }
    struct schema_ctx c = {coll, schema, prevent_override};
    int rc = admin_run(s, schema_fn, &c, e);
    if (!rc && schema) rc = ensure_ref_indexes(s, coll, schema, e);
    return rc;
}

struct rules_ctx {
    const char *coll;
    const json_t *rules;
};

static int rules_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct rules_ctx *c = vctx;
    json_t *doc = NULL;
    int rc = meta_doc_get(t->tx, c->coll, &doc);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "collection '%s' not found", c->coll);
        return rc;
    }
    json_object_set_new(doc, "rules", c->rules ? json_deep_copy(c->rules) : json_null());
    rc = meta_write(t->tx, c->coll, doc);
    json_decref(doc);
    return rc;
}

int bdoc_store_set_rules(struct bdoc_store *s, const char *coll, const json_t *rules,
                         struct bdoc_store_error *e)
{
    if (!s || !coll) return BB_EINVAL;
    if (json_is_null(rules) || (json_is_object(rules) && !json_object_size(rules))) rules = NULL;
    if (rules) {
        char err[512];
        struct bdoc_ruleset *rs = NULL;
        int rc = bdoc_ruleset_compile(rules, &rs, err, sizeof err);
        bdoc_ruleset_free(rs);
        if (rc) {
            st_err(e, "invalid rules: %s", err);
            return rc;
        }
    }
    struct rules_ctx c = {coll, rules};
    return admin_run(s, rules_fn, &c, e);
}

/* ---- indexes ---- */

static int ixname_ok(const char *n)
{
    size_t l = n ? strlen(n) : 0;
    if (l == 0 || l > BDOC_STORE_MAX_INDEX_NAME) return 0;
    return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == l;
}

struct ixadd_ctx {
    const char *coll;
    json_t *def;
};

static int ixadd_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct ixadd_ctx *c = vctx;
    json_t *doc = NULL;
    int rc = meta_doc_get(t->tx, c->coll, &doc);
    if (rc) {
        if (rc == BB_ENOTFOUND) st_err(e, "collection '%s' not found", c->coll);
        return rc;
    }
    json_t *idx = json_object_get(doc, "indexes");
    const char *name = json_string_value(json_object_get(c->def, "name"));
    size_t i;
    json_t *d;
    json_array_foreach(idx, i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && !strcmp(n, name)) {
            st_err(e, "index '%s' already exists on '%s'", name, c->coll);
            json_decref(doc);
            return BB_EEXIST;
        }
    }
    if (json_array_size(idx) >= BDOC_STORE_MAX_INDEXES) {
        st_err(e, "too many indexes on '%s'", c->coll);
        json_decref(doc);
        return BB_ELIMIT;
    }
    /* a fresh entries collection name each attempt */
    uint8_t r[8];
    char hx[17], ecoll[32];
    if (bb_random_bytes(r, sizeof r)) {
        json_decref(doc);
        return BB_EIO;
    }
    bb_hex_encode(r, sizeof r, hx, sizeof hx);
    snprintf(ecoll, sizeof ecoll, "__idx.%s", hx);
    json_object_set_new(c->def, "ecoll", json_string(ecoll));
    json_array_append(idx, c->def);
    rc = bdoc_collection_create(t->tx, ecoll);
    if (!rc) rc = meta_write(t->tx, c->coll, doc);
    json_decref(doc);
    return rc;
}

struct ixdel_ctx {
    const char *coll, *name;
    char ecoll[64];
};

static int ixdel_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct ixdel_ctx *c = vctx;
    json_t *doc = NULL;
    int rc = meta_doc_get(t->tx, c->coll, &doc);
    if (rc) return rc;
    json_t *idx = json_object_get(doc, "indexes");
    size_t i;
    json_t *d;
    rc = BB_ENOTFOUND;
    json_array_foreach(idx, i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && !strcmp(n, c->name)) {
            snprintf(c->ecoll, sizeof c->ecoll, "%s",
                     json_string_value(json_object_get(d, "ecoll")));
            json_array_remove(idx, i);
            rc = 0;
            break;
        }
    }
    if (rc) st_err(e, "index '%s' not found on '%s'", c->name, c->coll);
    else rc = meta_write(t->tx, c->coll, doc);
    json_decref(doc);
    return rc;
}

int bdoc_store_index_drop(struct bdoc_store *s, const char *coll, const char *name,
                          struct bdoc_store_error *e)
{
    if (!s || !coll || !name) return BB_EINVAL;
    struct ixdel_ctx c = {coll, name, ""};
    int rc = admin_run(s, ixdel_fn, &c, e);
    if (rc) return rc;
    fence_wait(s); /* writers that still maintain the index finish first */
    json_t *names = json_pack("[s]", c.ecoll);
    if (!names) return BB_ENOMEM;
    rc = admin_run(s, drop_colls_fn, names, e);
    json_decref(names);
    return rc;
}

/* The compiled definition of index name in t's view of coll (copied into ix). */
static int index_find(struct bdoc_store_txn *t, const char *coll, const char *name,
                      struct sk_meta **mout, const struct sk_index **out)
{
    struct sk_meta *m = NULL;
    int rc = st_meta_load(t, coll, &m);
    if (rc) return rc;
    for (size_t i = 0; i < m->nidx; i++) {
        if (!strcmp(m->idx[i].name, name)) {
            *mout = m;
            *out = &m->idx[i];
            return 0;
        }
    }
    st_meta_put(t->s, m);
    return BB_ENOTFOUND;
}

/* ---- online build: extract, sort, load in key order ----
 * 1. One read transaction T0 (begun after the fence) scans the collection on the encoding,
 *    decodes only the indexed top-level members of each document and extracts its entries.
 * 2. The entries are sorted by key.
 * 3. They are loaded in key order, build_batch entries per transaction (so every batch touches a
 *    few neighbouring leaves instead of the whole index), each batch watching its documents
 *    "since T0" (bdoc_watch with T0's stamp): a document written after T0's snapshot, or gone,
 *    makes the batch conflict.
 * 4. A batch that conflicts is redone from the documents as its own snapshot sees them (their
 *    current keys, watched since that snapshot), like the old per-document protocol.
 * Writers that began after the index was published maintain it themselves; when they delete an
 * entry of a building index they do it blind (bdoc_delete_blind), so that a batch inserting the
 * same entry concurrently conflicts with them whichever commits second. */
struct bent {
    const char *key, *id; /* in the build's arena */
    const uint8_t *enc;   /* the entry as an encoded document (non-unique index), in the arena */
    uint32_t enclen;
    uint32_t seq;         /* extraction order (sorting by order of ids), BENT_VALUE_SUMMED */
    uint64_t pfx, pfx2;   /* key_pfx(key): sorts first */
    json_t *body;         /* the entry's body (unique index: written through entry_put) */
};

/* Extracted entries live in a few large chunks, freed at once (one allocation per entry and
 * per key string, and their frees, were a third of a build). */
struct barena {
    struct barena *next;
    size_t used, cap;
    char data[];
};

static void *barena_alloc(struct barena **a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!*a || (*a)->cap - (*a)->used < n) {
        size_t cap = n > (4u << 20) ? n : (4u << 20);
        struct barena *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = *a;
        c->used = 0;
        c->cap = cap;
        *a = c;
    }
    void *p = (*a)->data + (*a)->used;
    (*a)->used += n;
    return p;
}

static char *barena_strdup(struct barena **a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = barena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The entry document {"_id": key[, "i": id]} in the engine's encoding (docs/internals/bundoc.md
 * "Document encoding"), as bdoc_doc_encode would write it, without building a json_t. */
static uint8_t *entry_enc(struct barena **a, const char *key, const char *i, uint32_t *len)
{
    size_t kl = strlen(key), il = i ? strlen(i) : 0;
    size_t body = 4 + (2 + 3 + 5 + kl) + (i ? 2 + 1 + 5 + il : 0);
    size_t n = 2 + 5 + body;
    uint8_t *p = barena_alloc(a, n), *q = p;
    if (!p) return NULL;
    *q++ = 0xBD;
    *q++ = 0x01;
    *q++ = 0x07;
    bb_put_le32(q, (uint32_t)body);
    bb_put_le32(q + 4, i ? 2 : 1);
    q += 8;
    bb_put_le16(q, 3);
    memcpy(q + 2, "_id", 3);
    q[5] = 0x05;
    bb_put_le32(q + 6, (uint32_t)kl);
    memcpy(q + 10, key, kl);
    q += 10 + kl;
    if (i) {
        bb_put_le16(q, 1);
        q[2] = 'i';
        q[3] = 0x05;
        bb_put_le32(q + 4, (uint32_t)il);
        memcpy(q + 8, i, il);
        q += 8 + il;
    }
    *len = (uint32_t)(q - p);
    return p;
}

struct build_ctx {
    const char *coll, *name;
    const struct sk_index *ix;
    struct bent *v;
    size_t n, cap;
    struct barena *arena;
    size_t bytes, mem;   /* bytes the entries in memory take; above mem they spill to a run */
    struct brun *runs;   /* sorted runs on disk (external sort), merged while loading */
    size_t nruns;
    size_t pos, batch; /* next entry to load, entries per transaction */
    int multikey, unique;
    int ids_hashed;    /* an entry's key ends with a hashed id, not the id */
    struct sk_scratch scratch; /* the extraction's working memory */
    uint64_t stamp;    /* T0's snapshot */
    struct bdoc_store_error *e;
};

/* A monotone summary of a key for sorting (a < b implies pfx(a) <= pfx(b)): up to 24 characters
 * at 5 bits (two words: the first 12, the next 12 in *second), the characters keys are made of (hex digits, '|') each with its own code, any other
 * character one code per gap between them, after which packing stops (characters sharing a code
 * cannot be followed further). Equal summaries fall back to strcmp; comparing whole hex strings
 * with long common prefixes was a fifth of a build. */
static uint64_t key_pfx(const char *k, uint64_t *second)
{
    uint64_t v = 0;
    int i = 0;
    while (i < 24) {
        unsigned ch = (unsigned char)k[i], d;
        int exact = 1;
        if (!ch) break;
        if (ch < '0') d = 1, exact = 0;
        else if (ch <= '9') d = 2 + ch - '0';
        else if (ch < 'a') d = 12, exact = 0;
        else if (ch <= 'f') d = 13 + ch - 'a';
        else if (ch < '|') d = 19, exact = 0;
        else if (ch == '|') d = 20;
        else d = 21, exact = 0;
        if (i == 12) {
            *second = v;
            v = 0;
        }
        v = v << 5 | d;
        i++;
        if (!exact) break;
    }
    if (i <= 12) {
        *second = 0;
        return v << (5 * (12 - i));
    }
    uint64_t first = *second;
    *second = v << (5 * (24 - i));
    return first;
}

/* bent.seq: the key's value part (up to its '|') lies within the common prefix and the summary,
 * so equal summaries mean equal value parts */
#define BENT_VALUE_SUMMED (1u << 31)

struct sortctx {
    size_t l;   /* the length of the prefix every key shares (the summaries start after it) */
    int by_seq; /* keys are value part '|' id, extracted in id order (see entries_sort) */
};

static int bent_cmp(const void *a, const void *b, void *ctx)
{
    const struct bent *x = a, *y = b;
    if (x->pfx != y->pfx) return x->pfx < y->pfx ? -1 : 1;
    if (x->pfx2 != y->pfx2) return x->pfx2 < y->pfx2 ? -1 : 1;
    const struct sortctx *sc = ctx;
    if (!sc->by_seq) return strcmp(x->key + sc->l, y->key + sc->l);
    if (!(x->seq & BENT_VALUE_SUMMED)) {
        /* the value parts, up to their separator ('|' follows only hex digits, which it sorts
         * after, so this is strcmp's order of the keys up to there) */
        const char *p = x->key + sc->l, *q = y->key + sc->l;
        while (*p && *p == *q && *p != SK_SEP) p++, q++;
        if (*p != *q) return (unsigned char)*p < (unsigned char)*q ? -1 : 1;
    }
    uint32_t sx = x->seq & ~BENT_VALUE_SUMMED, sy = y->seq & ~BENT_VALUE_SUMMED;
    return (sx > sy) - (sx < sy);
}

/* A sorted run of entries spilled to an unnamed temporary file (tmpfile(3): in /tmp, removed
 * when closed): records of u32 klen | key | u32 idlen | id | u32 enclen | entry document. */
struct brun {
    FILE *f;
    char *key, *id;    /* the current record (NULL: run exhausted) */
    uint8_t *enc;
    uint32_t kl, il, el;
};

/* Drops the entries held in memory (keeps the array). */
static void entries_clear(struct build_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) json_decref(c->v[i].body);
    c->n = 0;
    c->pos = 0;
    c->bytes = 0;
    while (c->arena) {
        struct barena *a = c->arena;
        c->arena = a->next;
        free(a);
    }
}

static void build_release(struct build_ctx *c)
{
    entries_clear(c);
    free(c->v);
    for (size_t i = 0; i < c->nruns; i++) {
        if (c->runs[i].f) fclose(c->runs[i].f);
        free(c->runs[i].key);
        free(c->runs[i].id);
        free(c->runs[i].enc);
    }
    free(c->runs);
    sk_scratch_release(&c->scratch);
}

/* Sorts the entries held in memory by key. */
static void entries_sort(struct build_ctx *c)
{
    if (c->n < 2) return;
    /* keys of one index often share a long prefix (a type tag, a common string start) */
    size_t l = strlen(c->v[0].key);
    for (size_t i = 1; i < c->n && l; i++) {
        size_t j = 0;
        while (j < l && c->v[i].key[j] == c->v[0].key[j]) j++;
        l = j;
    }
    /* A non-unique index's key is its value part, '|', and the id (unless hashed), and the
     * documents were extracted in id order: among equal value parts, extraction order is key
     * order, so ties need not compare the ids (nor read the keys when the summary covered the
     * value parts). */
    struct sortctx sc = {l, !c->unique && !c->ids_hashed && c->n < BENT_VALUE_SUMMED};
    for (size_t i = 0; i < c->n; i++) {
        struct bent *b = &c->v[i];
        b->pfx = key_pfx(b->key + l, &b->pfx2);
        if (!sc.by_seq) continue;
        const char *sep = strchr(b->key, SK_SEP);
        b->seq = (uint32_t)i;
        if (sep && (size_t)(sep - b->key) < l + 24) b->seq |= BENT_VALUE_SUMMED;
    }
    qsort_r(c->v, c->n, sizeof *c->v, bent_cmp, &sc);
}

static int put_u32_str(FILE *f, const void *p, uint32_t n)
{
    uint8_t h[4];
    bb_put_le32(h, n);
    return fwrite(h, 4, 1, f) == 1 && (n == 0 || fwrite(p, n, 1, f) == 1) ? 0 : BB_EIO;
}

/* External sort, step 1: the entries in memory, sorted, become a run on disk. */
static int spill_run(struct build_ctx *c)
{
    struct brun *nr = realloc(c->runs, (c->nruns + 1) * sizeof *nr);
    if (!nr) return BB_ENOMEM;
    c->runs = nr;
    struct brun *r = &c->runs[c->nruns];
    memset(r, 0, sizeof *r);
    r->f = tmpfile();
    if (!r->f) {
        st_err(c->e, "index build: cannot create a temporary file for a sorted run");
        return BB_EIO;
    }
    c->nruns++;
    entries_sort(c);
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i++) {
        const struct bent *b = &c->v[i];
        rc = put_u32_str(r->f, b->key, (uint32_t)strlen(b->key));
        if (!rc) rc = put_u32_str(r->f, b->id, (uint32_t)strlen(b->id));
        if (!rc) rc = put_u32_str(r->f, b->enc, b->enclen);
    }
    if (!rc && (fflush(r->f) != 0 || fseek(r->f, 0, SEEK_SET) != 0)) rc = BB_EIO;
    if (rc) st_err(c->e, "index build: writing a sorted run failed");
    entries_clear(c);
    return rc;
}

static int get_u32_str(FILE *f, void **p, uint32_t *n, int nul)
{
    uint8_t h[4];
    if (fread(h, 4, 1, f) != 1) return BB_EIO;
    *n = bb_get_le32(h);
    if (*n > (64u << 20)) return BB_EIO;
    uint8_t *b = realloc(*p, *n + 1);
    if (!b) return BB_ENOMEM;
    *p = b;
    if (*n && fread(b, *n, 1, f) != 1) return BB_EIO;
    if (nul) b[*n] = 0;
    return 0;
}

/* The next record of run r (r->key NULL at its end). */
static int run_next(struct brun *r)
{
    int ch = fgetc(r->f);
    if (ch == EOF) {
        free(r->key);
        r->key = NULL;
        return ferror(r->f) ? BB_EIO : 0;
    }
    ungetc(ch, r->f);
    int rc = get_u32_str(r->f, (void **)&r->key, &r->kl, 1);
    if (!rc) rc = get_u32_str(r->f, (void **)&r->id, &r->il, 1);
    if (!rc) rc = get_u32_str(r->f, (void **)&r->enc, &r->el, 0);
    return rc;
}

/* External sort, step 2: the next batch of entries in key order, merged from the runs into the
 * in-memory array (c->n = 0 when every run is exhausted). The runs are few (the collection's
 * entries over the memory bound), so the smallest head is found by a linear pass. */
static int merge_fill(struct build_ctx *c, int first)
{
    entries_clear(c);
    int rc = 0;
    for (size_t i = 0; first && i < c->nruns && !rc; i++) rc = run_next(&c->runs[i]);
    while (!rc && c->n < c->batch) {
        struct brun *best = NULL;
        for (size_t i = 0; i < c->nruns; i++)
            if (c->runs[i].key && (!best || strcmp(c->runs[i].key, best->key) < 0)) best = &c->runs[i];
        if (!best) break;
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 1024;
            struct bent *nv = realloc(c->v, nc * sizeof *nv);
            if (!nv) return BB_ENOMEM;
            c->v = nv;
            c->cap = nc;
        }
        struct bent *b = &c->v[c->n];
        memset(b, 0, sizeof *b);
        b->key = barena_strdup(&c->arena, best->key);
        b->id = b->key ? barena_strdup(&c->arena, best->id) : NULL;
        uint8_t *enc = b->id ? barena_alloc(&c->arena, best->el) : NULL;
        if (!enc) return BB_ENOMEM;
        memcpy(enc, best->enc, best->el);
        b->enc = enc;
        b->enclen = best->el;
        if (c->unique) { /* the body is the entry document without its _id */
            rc = bdoc_doc_decode(enc, best->el, &b->body);
            if (!rc) json_object_del(b->body, "_id");
        }
        c->n++;
        if (!rc) rc = run_next(best);
    }
    if (rc) st_err(c->e, "index build: reading a sorted run failed");
    return rc;
}

static int extract_cb(void *vctx, const char *id, size_t idlen, const uint8_t *doc, size_t len)
{
    struct build_ctx *c = vctx;
    struct sk_keys k;
    char err[256] = "";
    /* keys read straight from the encoding: no json_t per document */
    char *did = barena_alloc(&c->arena, idlen + 1);
    if (!did) return BB_ENOMEM;
    memcpy(did, id, idlen); /* the scan's key: the document's _id */
    did[idlen] = 0;
    int rc = sk_doc_keys_enc(c->ix, doc, len, did, &c->scratch, &k, err, sizeof err);
    if (rc) {
        st_err(c->e, "%s (document '%s')", err[0] ? err : "malformed document", did);
        return rc;
    }
    c->multikey |= k.multikey;
    for (size_t j = 0; j < k.n && !rc; j++) {
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 1024;
            struct bent *nv = realloc(c->v, nc * sizeof *nv);
            if (!nv) {
                rc = BB_ENOMEM;
                break;
            }
            c->v = nv;
            c->cap = nc;
        }
        struct bent *b = &c->v[c->n];
        memset(b, 0, sizeof *b);
        /* key, id and encoded entry side by side: the load visits entries in key order, far
         * from extraction order, and each scattered piece was a cache miss */
        b->key = barena_strdup(&c->arena, k.keys[j]);
        b->id = did;
        if (!b->key) {
            rc = BB_ENOMEM;
            break;
        }
        const char *ei = k.with_i[j] ? did : NULL;
        if (ei && !c->unique) c->ids_hashed = 1;
        b->enc = entry_enc(&c->arena, k.keys[j], ei, &b->enclen);
        if (!b->enc) {
            rc = BB_ENOMEM;
            break;
        }
        if (c->unique) {
            b->body = ei ? json_pack("{s:s}", "i", ei) : json_object();
            if (!b->body) {
                rc = BB_ENOMEM;
                break;
            }
        }
        c->bytes += sizeof *b + strlen(b->key) + strlen(b->id) + b->enclen + 16;
        c->n++;
    }
    sk_keys_free(&k);
    /* past the memory bound, after a whole document (its entries stay in one run) */
    if (!rc && c->bytes > c->mem) rc = spill_run(c);
    return rc;
}


/* Steps 1-2: the entries of every document in t0's snapshot, sorted. */
static int build_extract(struct bdoc_store_txn *t0, struct build_ctx *c)
{
    struct sk_meta *m = NULL;
    const struct sk_index *ix = NULL;
    int rc = index_find(t0, c->coll, c->name, &m, &ix);
    if (rc) {
        st_err(c->e, "index '%s' was dropped during its build", c->name);
        return rc;
    }
    c->ix = ix;
    c->unique = ix->unique;
    rc = bdoc_scan(t0->tx, c->coll, NULL, NULL, extract_cb, c);
    c->ix = NULL;
    st_meta_put(t0->s, m);
    if (rc) return rc;
    if (c->nruns) return c->n ? spill_run(c) : 0; /* everything on disk: merged while loading */
    entries_sort(c);
    return 0;
}

/* The entries of document id as t sees it now (none when it is gone), watched since t's own
 * snapshot. *mk set when an array was indexed. */
static int redo_doc(struct bdoc_store_txn *t, const struct sk_meta *m, const struct sk_index *ix,
                    const char *coll, const char *id, int *mk, struct bdoc_store_error *e)
{
    json_t *d = NULL;
    int rc = bdoc_get(t->tx, coll, id, &d);
    if (rc == BB_ENOTFOUND) return bdoc_watch(t->tx, coll, id, 0); /* deleted meanwhile */
    if (rc) return rc;
    struct sk_keys k;
    char err[256] = "";
    rc = sk_doc_keys(ix, d, &k, err, sizeof err);
    json_decref(d);
    if (rc) {
        st_err(e, "%s (document '%s')", err, id);
        return rc;
    }
    *mk |= k.multikey;
    for (size_t j = 0; j < k.n && !rc; j++) rc = entry_put(t->tx, m, ix, k.keys[j], k.bodies[j], id, e);
    sk_keys_free(&k);
    if (!rc) rc = bdoc_watch(t->tx, coll, id, 0);
    return rc;
}

/* Step 4: entries [pos, end) from the extraction, every document watched since T0's snapshot:
 * a document written (or deleted) since then makes the commit conflict and the batch is redone
 * (build_redo_fn). Entries of a non-unique index are written blind: their content is a function
 * of their key, so an entry already there is the same entry. */
static int build_load_fn(struct bdoc_store_txn *t, struct build_ctx *c, size_t end)
{
    struct sk_meta *m = NULL;
    const struct sk_index *ix = NULL;
    int rc = index_find(t, c->coll, c->name, &m, &ix);
    if (rc) {
        st_err(c->e, "index '%s' was dropped during its build", c->name);
        return rc;
    }
    const char *last = NULL, *lastkey = NULL;
    if (!ix->unique) rc = bdoc_txn_set_load_fill(t->tx, t->s->build_fill);
    for (size_t i = c->pos; i < end && !rc; i++) {
        struct bent *b = &c->v[i];
        /* entries are visited in key order, their bytes lie in extraction order: fetch ahead */
        if (i + 8 < end) __builtin_prefetch(c->v[i + 8].key);
        /* a multikey document's entries may be adjacent (entries extracted in memory share
         * their document's id string) */
        int same_doc = last && (last == b->id || !strcmp(last, b->id));
        if (!same_doc) {
            last = b->id;
            rc = bdoc_watch(t->tx, c->coll, b->id, c->stamp);
            if (rc) break;
        }
        if (ix->unique != c->unique) {
            rc = BB_ECONFLICT; /* redefined meanwhile (dropped and created again) */
        } else if (ix->unique) {
            rc = entry_put(t->tx, m, ix, b->key, b->body, b->id, c->e);
        } else if (!lastkey || !same_doc || strcmp(lastkey, b->key)) {
            /* a non-unique key ends with its document's id (or the id's hash): entries of
             * different documents never share a key, and adjacent sorted keys share long
             * prefixes, so only a document's own entries are compared */
            /* bulk load: the engine builds the leaves bottom-up from the sorted keys */
            lastkey = b->key;
            rc = bdoc_put_sorted(t->tx, ix->ecoll, b->key, b->enc, b->enclen);
        }
    }
    if (!rc && c->multikey && !ix->multikey) rc = set_multikey(t->tx, c->coll, c->name);
    st_meta_put(t->s, m);
    return rc;
}

/* A batch that conflicted at commit: every document of entries [pos, end) from the snapshot of a
 * fresh transaction. */
static int build_redo_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct build_ctx *c = vctx;
    struct sk_meta *m = NULL;
    const struct sk_index *ix = NULL;
    size_t end = c->pos + c->batch < c->n ? c->pos + c->batch : c->n;
    json_t *seen = json_object();
    if (!seen) return BB_ENOMEM;
    int rc = index_find(t, c->coll, c->name, &m, &ix);
    if (rc) {
        st_err(e, "index '%s' was dropped during its build", c->name);
        json_decref(seen);
        return rc;
    }
    int mk = 0;
    for (size_t i = c->pos; i < end && !rc; i++) {
        const char *id = c->v[i].id;
        if (json_object_get(seen, id)) continue;
        if (json_object_set_new(seen, id, json_true())) {
            rc = BB_ENOMEM;
            break;
        }
        rc = redo_doc(t, m, ix, c->coll, id, &mk, e);
    }
    if (!rc && mk && !ix->multikey) rc = set_multikey(t->tx, c->coll, c->name);
    st_meta_put(t->s, m);
    json_decref(seen);
    return rc;
}

/* Steps 1-4 for index name of coll (published as building, fence passed). */
static int build_index(struct bdoc_store *s, const char *coll, const char *name,
                       struct bdoc_store_error *e)
{
    struct build_ctx c;
    memset(&c, 0, sizeof c);
    c.coll = coll;
    c.name = name;
    c.batch = s->build_batch;
    c.e = e;
    struct bdoc_store_txn *t0 = NULL;
    int rc = bdoc_store_begin(s, BDOC_TXN_READONLY, &t0);
    if (rc) return rc;
    c.mem = s->build_mem;
    c.stamp = bdoc_txn_stamp(t0->tx);
    rc = build_extract(t0, &c);
    bdoc_store_rollback(t0);
    for (int first = 1; !rc; first = 0) {
        if (c.nruns) { /* external sort: the next batch from the merge of the runs */
            rc = merge_fill(&c, first);
            if (rc || c.n == 0) break;
        }
        while (!rc && c.pos < c.n) {
            size_t end = c.pos + c.batch < c.n ? c.pos + c.batch : c.n;
            struct bdoc_store_txn *t = NULL;
            rc = bdoc_store_begin(s, 0, &t);
            if (rc) break;
            rc = build_load_fn(t, &c, end);
            if (rc) bdoc_store_rollback(t);
            else rc = bdoc_store_commit(t);
            if (rc == BB_ECONFLICT) rc = admin_run(s, build_redo_fn, &c, e);
            if (rc) break;
            c.pos = end;
        }
        if (!c.nruns) break;
    }
    build_release(&c);
    return rc;
}

static int ready_fn(struct bdoc_store_txn *t, void *vctx, struct bdoc_store_error *e)
{
    struct build_ctx *c = vctx;
    (void)e;
    json_t *doc = NULL;
    int rc = meta_doc_get(t->tx, c->coll, &doc);
    if (rc) return rc;
    size_t i;
    json_t *d;
    rc = BB_ENOTFOUND;
    json_array_foreach(json_object_get(doc, "indexes"), i, d) {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && !strcmp(n, c->name)) {
            json_object_set_new(d, "state", json_string("ready"));
            rc = 0;
        }
    }
    if (!rc) rc = meta_write(t->tx, c->coll, doc);
    json_decref(doc);
    return rc;
}

int bdoc_store_index_create(struct bdoc_store *s, const char *coll, const json_t *spec,
                            struct bdoc_store_error *e)
{
    if (!s || !coll || !json_is_object(spec)) return BB_EINVAL;
    const char *name = json_string_value(json_object_get(spec, "name"));
    const json_t *fields = json_object_get(spec, "fields");
    const json_t *unique = json_object_get(spec, "unique");
    if (!ixname_ok(name)) {
        st_err(e, "index name must be 1..%d characters of [A-Za-z0-9_-]",
               BDOC_STORE_MAX_INDEX_NAME);
        return BB_EINVAL;
    }
    if (!json_is_array(fields) || json_array_size(fields) == 0 ||
        json_array_size(fields) > BDOC_STORE_MAX_INDEX_FIELDS || (unique && !json_is_boolean(unique))) {
        st_err(e, "index fields must be an array of 1..%d paths", BDOC_STORE_MAX_INDEX_FIELDS);
        return BB_EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)spec, k, v) {
        if (strcmp(k, "name") && strcmp(k, "fields") && strcmp(k, "unique")) {
            st_err(e, "unknown index option '%s'", k);
            return BB_EINVAL;
        }
    }
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        struct sk_field sf;
        int rc = sk_field_parse(json_string_value(f), &sf);
        sk_field_release(&sf);
        if (rc) {
            st_err(e, "bad index field #%zu", i);
            return rc;
        }
    }
    json_t *def = json_pack("{s:s,s:O,s:b,s:s,s:b}", "name", name, "fields", fields, "unique",
                            json_is_true(unique), "state", "building", "multikey", 0);
    if (!def) return BB_ENOMEM;
    struct ixadd_ctx ac = {coll, def};
    int rc = admin_run(s, ixadd_fn, &ac, e);
    json_decref(def);
    if (rc) return rc;
    /* writers that began before the index was published do not maintain it: let them finish */
    fence_wait(s);
    rc = build_index(s, coll, name, e);
    struct build_ctx bc;
    memset(&bc, 0, sizeof bc);
    bc.coll = coll;
    bc.name = name;
    if (!rc) rc = admin_run(s, ready_fn, &bc, e);
    if (rc) { /* leave nothing behind */
        struct bdoc_store_error e2 = {0};
        bdoc_store_index_drop(s, coll, name, &e2);
        bdoc_store_error_release(&e2);
    }
    return rc;
}

static int ensure_ref_indexes(struct bdoc_store *s, const char *coll, const json_t *schema,
                              struct bdoc_store_error *e)
{
    struct bdoc_schema *cs = NULL;
    int rc = bdoc_schema_compile(schema, &cs, NULL, 0);
    if (rc) return rc;
    const struct bdoc_schema_ref *refs;
    size_t n;
    bdoc_schema_refs(cs, &refs, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        struct bdoc_store_txn *t = NULL;
        struct sk_meta *m = NULL;
        int have = 0;
        rc = bdoc_store_begin(s, BDOC_TXN_READONLY, &t);
        if (!rc) rc = st_meta_load(t, coll, &m);
        if (!rc)
            for (size_t j = 0; j < m->nidx; j++)
                if (!strcmp(m->idx[j].f[0].path, refs[i].path)) have = 1;
        st_meta_put(s, m);
        bdoc_store_rollback(t);
        if (rc || have) continue;
        char name[BDOC_STORE_MAX_INDEX_NAME + 1];
        snprintf(name, sizeof name, "ref_%s", refs[i].path);
        for (char *p = name; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p))
                *p = '_';
        json_t *spec = json_pack("{s:s,s:[s]}", "name", name, "fields", refs[i].path);
        rc = spec ? bdoc_store_index_create(s, coll, spec, e) : BB_ENOMEM;
        if (rc == BB_EEXIST) rc = 0;
        json_decref(spec);
    }
    bdoc_schema_free(cs);
    return rc;
}

int bdoc_store_index_check(struct bdoc_store_txn *t, const char *coll, const char *name,
                           size_t *problems)
{
    if (!t || !coll || !name || !problems) return BB_EINVAL;
    *problems = 0;
    struct sk_meta *m = NULL;
    const struct sk_index *ix = NULL;
    int rc = index_find(t, coll, name, &m, &ix);
    if (rc) return rc;
    json_t *expect = json_object(); /* key -> doc id */
    char *after = NULL;
    for (;;) {
        json_t *docs = NULL;
        char *next = NULL;
        rc = bdoc_list(t->tx, coll, after, NULL, 1000, &docs, &next);
        free(after);
        after = next;
        if (rc) break;
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d) {
            struct sk_keys k;
            rc = sk_doc_keys(ix, d, &k, NULL, 0);
            if (rc) break;
            for (size_t j = 0; j < k.n; j++)
                json_object_set(expect, k.keys[j], json_object_get(d, "_id"));
            sk_keys_free(&k);
        }
        json_decref(docs);
        if (rc || !after) break;
    }
    for (char *cur = NULL; !rc;) {
        json_t *ents = NULL;
        char *next = NULL;
        rc = bdoc_list(t->tx, ix->ecoll, cur, NULL, 1000, &ents, &next);
        free(cur);
        cur = next;
        if (rc) break;
        size_t i;
        json_t *en;
        json_array_foreach(ents, i, en) {
            const char *key = json_string_value(json_object_get(en, "_id"));
            const char *id = sk_entry_id(en);
            const json_t *want = json_object_get(expect, key);
            if (!want || !id || strcmp(json_string_value(want), id)) (*problems)++;
            else json_object_del(expect, key);
        }
        json_decref(ents);
        if (!cur) break;
    }
    *problems += json_object_size(expect);
    free(after);
    json_decref(expect);
    st_meta_put(t->s, m);
    return rc;
}
