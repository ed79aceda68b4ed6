/* Fuzz target for index keys read from the binary encoding (sk_doc_keys_enc, src/bundoc/
 * store_key.c over query_enc.c's path walk), with the jansson extraction (sk_doc_keys) as the
 * oracle: same answer, byte-identical keys in the same order, the same "carries the id" entries
 * and the same multikey flag. Two parts per input:
 *   1. structured: when the input parses as a JSON object, it is the document (an "_id" added
 *      when missing), checked under every index of a fixed set (single, nested, array index,
 *      fan-out, compound, descending, unique).
 *   2. generated: the first 8 bytes seed the random documents of the randomized tests
 *      (tests/unit/bundoc/bdoc_gen.h): 16 documents x 8 random indexes per input.
 * Any difference aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/bundoc/bdoc_gen.h"
#include "bb_err.h"
#include "doc.h"
#include "store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int index_make(struct sk_index *ix, const char *const *specs, size_t n, int unique)
{
    memset(ix, 0, sizeof *ix);
    ix->name = (char *)"fz";
    ix->unique = unique;
    for (size_t i = 0; i < n && i < BDOC_STORE_MAX_INDEX_FIELDS; i++) {
        if (sk_field_parse(specs[i], &ix->f[i])) return -1;
        ix->nf++;
    }
    return 0;
}

static void index_release(struct sk_index *ix)
{
    for (size_t i = 0; i < ix->nf; i++) sk_field_release(&ix->f[i]);
}

static struct sk_scratch g_scratch; /* reused across documents and indexes, as in a build */

/* the encoded extraction == the jansson extraction, for one document */
static void check(const struct sk_index *ix, const json_t *doc)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    if (doc_encode(doc, 1u << 24, &enc, &len) != 0) return;
    struct sk_keys a, b;
    char ea[256] = "", eb[256] = "";
    int ra = sk_doc_keys(ix, doc, &a, ea, sizeof ea);
    int rb = sk_doc_keys_enc(ix, enc, len, NULL, NULL, &b, eb, sizeof eb);
    /* as a build calls it: the id given, the working memory reused across documents */
    struct sk_keys c;
    char ec[256] = "";
    const char *id = json_string_value(json_object_get(doc, "_id"));
    int rc = id ? sk_doc_keys_enc(ix, enc, len, id, &g_scratch, &c, ec, sizeof ec) : ra;
    free(enc);
    if (ra == BB_ENOMEM || rb == BB_ENOMEM || rc == BB_ENOMEM) goto out;
    if (ra != rb || strcmp(ea, eb) || ra != rc || (id && strcmp(ea, ec))) abort();
    if (ra) return;
    if (id) {
        if (c.n != a.n || c.multikey != a.multikey) abort();
        for (size_t i = 0; i < a.n; i++)
            if (strcmp(a.keys[i], c.keys[i]) || a.with_i[i] != c.with_i[i]) abort();
    }
    if (a.n != b.n || a.multikey != b.multikey || b.bodies) abort();
    for (size_t i = 0; i < a.n; i++) {
        if (strcmp(a.keys[i], b.keys[i])) abort();
        if ((json_object_get(a.bodies[i], "i") != NULL) != (b.with_i[i] != 0)) abort();
        if (a.with_i[i] != b.with_i[i]) abort();
    }
out:
    if (!ra) sk_keys_free(&a);
    if (!rb) sk_keys_free(&b);
    if (id && !rc) sk_keys_free(&c);
}

static const char *const FIXED[][3] = {
    {"a", NULL, NULL},       {"n.y.z", NULL, NULL}, {"objs.k", NULL, NULL},
    {"arr.1", NULL, NULL},   {"-c", NULL, NULL},    {"a", "-b", NULL},
    {"objs.m.k", "n.x", "arr"}, {"c.k", "-objs.0.k", NULL}, {"_id", NULL, NULL},
    {"a.k.0", "a.01", NULL},
};

static void structured(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    if (!json_object_get(doc, "_id")) json_object_set_new(doc, "_id", json_string("x"));
    for (size_t k = 0; k < sizeof FIXED / sizeof FIXED[0]; k++) {
        size_t n = 0;
        while (n < 3 && FIXED[k][n]) n++;
        for (int u = 0; u < 2; u++) {
            struct sk_index ix;
            if (!index_make(&ix, FIXED[k], n, u)) check(&ix, doc);
            index_release(&ix);
        }
    }
    json_decref(doc);
}

static void generated(const uint8_t *data, size_t size)
{
    uint64_t seed = 0;
    memcpy(&seed, data, size < 8 ? size : 8);
    rng_state = seed | 1;
    json_t *docs[16];
    for (int i = 0; i < 16; i++) docs[i] = gen_doc(i);
    for (int j = 0; j < 8; j++) {
        char specs[3][40];
        const char *sp[3];
        size_t n = 1 + rnd(3);
        for (size_t f = 0; f < n; f++) {
            snprintf(specs[f], sizeof specs[f], "%s%s", rnd(3) ? "" : "-", PATHS[rnd(NPATHS)]);
            sp[f] = specs[f];
        }
        struct sk_index ix;
        if (!index_make(&ix, sp, n, (int)rnd(2)))
            for (int i = 0; i < 16; i++) check(&ix, docs[i]);
        index_release(&ix);
    }
    for (int i = 0; i < 16; i++) json_decref(docs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)gen_filter; /* bdoc_gen.h: only the document generator is used here */
    if (size > 1 << 16) return 0;
    structured(data, size);
    generated(data, size);
    return 0;
}
