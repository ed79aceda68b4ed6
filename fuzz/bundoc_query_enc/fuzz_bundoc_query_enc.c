/* Fuzz target for the evaluator on the binary encoding (src/bundoc/query_enc.c), with the jansson
 * evaluator (query.c) as the oracle. Three parts per input:
 *   1. structured: the input is a filter (or a find request) as JSON, optionally followed by a NUL
 *      byte and a JSON array of documents (else a fixed set). Every document is encoded
 *      (doc_encode) and bdoc_query_match_enc must equal bdoc_query_match; the find is run once
 *      with bdoc_find_run_feed and once with bdoc_find_run_feed_enc: same page, same cursor,
 *      same count (this covers sort keys, the cursor position and the top-k window).
 *   2. generated: the first 8 bytes seed the random documents and filters of the randomized
 *      tests (tests/unit/bundoc/bdoc_gen.h): 8 documents x 8 filters x (match + a sorted, limited
 *      find) per input.
 *   3. raw: the input itself as an encoding under a few fixed filters: never a crash or a read out
 *      of bounds; when doc_decode accepts it, the answers must equal the oracle's.
 * Any difference aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/unit/bundoc/bdoc_gen.h"
#include "bb_err.h"
#include "bb_json.h"
#include "doc.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FIXED_DOCS[] =
    "[{\"_id\":\"a\",\"n\":1,\"s\":\"x\",\"l\":[1,2,{\"k\":3}],\"o\":{\"p\":{\"q\":null}}},"
    "{\"_id\":\"b\",\"n\":2.5,\"s\":\"yy\",\"l\":[],\"o\":{\"p\":[{\"q\":1},{\"q\":\"1\"}]}},"
    "{\"_id\":\"c\",\"n\":\"3\",\"b\":true,\"l\":[[1],[2,3]],\"o\":[]},{\"_id\":\"d\"},"
    "{\"_id\":\"e\",\"n\":null,\"s\":[\"x\",\"z\"],\"b\":false,\"o\":{\"p\":{\"q\":[1,2]}}},"
    "{\"_id\":\"f\",\"n\":9007199254740993,\"s\":\"\\u00e9t\\u00e9\",\"o\":{\"b\":1,\"a\":2}},"
    "{\"_id\":\"g\",\"n\":9007199254740992.0,\"l\":[{\"k\":[3,4]},{\"k\":{\"z\":1}}]}]";

/* match on the encoding == match on the tree, for one document */
static void check_match(const struct bdoc_query *q, const json_t *doc)
{
    uint8_t *enc = NULL;
    size_t len = 0;
    if (doc_encode(doc, 1u << 24, &enc, &len) != 0) return;
    int a = bdoc_query_match(q, doc);
    int b = bdoc_query_match_enc(q, enc, len, NULL);
    free(enc);
    if (b == BB_ENOMEM) return;
    if (a != b) abort();
}

/* a find run fed decoded documents == the same run fed encoded documents */
static void check_find(const struct bdoc_find *f, const json_t *docs)
{
    struct bdoc_find_run *r1 = NULL, *r2 = NULL;
    json_t *p1 = NULL, *p2 = NULL;
    char *c1 = NULL, *c2 = NULL;
    size_t m1 = 0, m2 = 0;
    if (bdoc_find_run_new(f, &r1) || bdoc_find_run_new(f, &r2)) goto out;
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        uint8_t *enc = NULL;
        size_t len = 0;
        if (!json_is_object(d)) continue;
        if (doc_encode(d, 1u << 24, &enc, &len) != 0) goto out;
        int x = bdoc_find_run_feed(r1, d);
        int y = bdoc_find_run_feed_enc(r2, enc, len);
        free(enc);
        if (x == BB_ENOMEM || y == BB_ENOMEM || x == BB_ETOOBIG) goto out;
        if (x != y) abort();
    }
    int x = bdoc_find_run_finish(r1, &p1, &c1, &m1);
    int y = bdoc_find_run_finish(r2, &p2, &c2, &m2);
    if (x == BB_ENOMEM || y == BB_ENOMEM || x == BB_ETOOBIG) goto out;
    if (x != y || m1 != m2 || !json_equal(p1, p2)) abort();
    if ((c1 == NULL) != (c2 == NULL) || (c1 && strcmp(c1, c2))) abort();
out:
    json_decref(p1);
    json_decref(p2);
    free(c1);
    free(c2);
    bdoc_find_run_free(r1);
    bdoc_find_run_free(r2);
}

static void structured(const uint8_t *data, size_t size)
{
    json_t *req = NULL, *docs = NULL;
    const uint8_t *nul = memchr(data, 0, size);
    size_t rlen = nul ? (size_t)(nul - data) : size;
    if (bb_json_parse((const char *)data, rlen, 64, &req, NULL, 0) != 0 || !json_is_object(req))
        goto out;
    if (nul && bb_json_parse((const char *)nul + 1, size - rlen - 1, 64, &docs, NULL, 0) != 0)
        docs = NULL;
    if (!json_is_array(docs)) {
        json_decref(docs);
        docs = json_loads(FIXED_DOCS, 0, NULL);
        if (!docs) goto out;
    }
    char err[256];
    struct bdoc_query *q = NULL;
    if (bdoc_query_compile(req, &q, err, sizeof err) == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d) check_match(q, d);
        bdoc_query_free(q);
    }
    struct bdoc_find *f = NULL;
    if (bdoc_find_compile(req, &f, err, sizeof err) == 0) {
        check_find(f, docs);
        bdoc_find_free(f);
    }
out:
    json_decref(req);
    json_decref(docs);
}

static void generated(const uint8_t *data, size_t size)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < size && i < 8; i++) seed = seed * 131 + data[i];
    rng_state = seed | 1;
    json_t *docs = json_array();
    for (int i = 0; i < 8; i++) json_array_append_new(docs, gen_doc(i));
    static const char *sorts[] = {"a", "-b", "c", "-n.x", "objs.0.k", "-arr"};
    for (int k = 0; k < 8; k++) {
        json_t *filter = gen_filter(2);
        struct bdoc_query *q = NULL;
        if (bdoc_query_compile(filter, &q, NULL, 0) == 0) {
            size_t i;
            json_t *d;
            json_array_foreach(docs, i, d) check_match(q, d);
            bdoc_query_free(q);
        }
        json_t *req = json_pack("{s:O,s:[s,s],s:i}", "query", filter, "sort", sorts[rnd(6)],
                                sorts[rnd(6)], "limit", (int)rnd(4));
        if (rnd(2)) json_object_set_new(req, "skip", json_integer(rnd(3)));
        struct bdoc_find *f = NULL;
        if (req && bdoc_find_compile(req, &f, NULL, 0) == 0) {
            check_find(f, docs);
            bdoc_find_free(f);
        }
        json_decref(req);
        json_decref(filter);
    }
    json_decref(docs);
}

static void raw(const uint8_t *data, size_t size)
{
    static const char *filters[] = {"{\"a\":1}", "{\"a.b\":{\"$gt\":\"x\"}}",
                                    "{\"$or\":[{\"l.k\":{\"$exists\":true}},{\"s\":{\"$regex\":\"^y\"}}]}",
                                    "{\"o\":{\"$in\":[null,{\"p\":1},[1]]}}"};
    json_t *doc = NULL;
    int decodable = doc_decode(data, size, &doc) == 0;
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        json_t *fj = json_loads(filters[i], 0, NULL);
        struct bdoc_query *q = NULL;
        if (fj && bdoc_query_compile(fj, &q, NULL, 0) == 0) {
            int b = bdoc_query_match_enc(q, data, size, NULL);
            if (decodable && b != BB_ENOMEM && b != bdoc_query_match(q, doc)) abort();
            bdoc_query_free(q);
        }
        json_decref(fj);
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    structured(data, size);
    generated(data, size);
    raw(data, size);
    return 0;
}
