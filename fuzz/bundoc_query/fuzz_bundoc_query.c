/* Fuzz target for the bundoc query layer: the input is a find request JSON, optionally followed by
 * a NUL byte and a JSON array of documents. Compile it (bounded parse first), run it over the
 * documents (or a fixed set), and check the contracts: a compile failure leaves no object and a
 * message; a result is an array no longer than limit; a cursor, if any, compiles back with the
 * same sort. Any crash, leak (ASan) or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FIXED_DOCS[] =
    "[{\"_id\":\"a\",\"n\":1,\"s\":\"x\",\"l\":[1,2,{\"k\":3}],\"o\":{\"p\":{\"q\":null}}},"
    "{\"_id\":\"b\",\"n\":2.5,\"s\":\"yy\",\"l\":[],\"o\":{\"p\":[{\"q\":1},{\"q\":\"1\"}]}},"
    "{\"_id\":\"c\",\"n\":\"3\",\"b\":true,\"l\":[[1],[2,3]],\"o\":[]},{\"_id\":\"d\"},"
    "{\"_id\":\"e\",\"n\":null,\"s\":[\"x\",\"z\"],\"b\":false,\"o\":{\"p\":{\"q\":[1,2]}}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *req = NULL, *docs = NULL, *page = NULL, *req2 = NULL;
    struct bdoc_find *f = NULL, *f2 = NULL;
    char *cursor = NULL;
    char err[256];
    const uint8_t *nul = memchr(data, 0, size);
    size_t rlen = nul ? (size_t)(nul - data) : size;

    if (bb_json_parse((const char *)data, rlen, 64, &req, NULL, 0) != 0) goto out;
    if (nul && bb_json_parse((const char *)nul + 1, size - rlen - 1, 64, &docs, NULL, 0) != 0)
        goto out;
    if (!docs || !json_is_array(docs)) {
        json_decref(docs);
        docs = json_loads(FIXED_DOCS, 0, NULL);
        if (!docs) goto out;
    }
    /* a bare filter object is tried as a query too */
    if (json_is_object(req) && !json_object_get(req, "query") && !json_object_get(req, "filter")) {
        struct bdoc_query *q = NULL;
        if (bdoc_query_compile(req, &q, err, sizeof err) == 0) {
            (void)bdoc_query_count(q, docs);
            const struct bdoc_pred *p;
            size_t np;
            int all;
            bdoc_query_preds(q, &p, &np, &all);
            for (size_t i = 0; i < np; i++)
                if (!p[i].path) abort();
            bdoc_query_free(q);
        } else if (q || !err[0]) {
            abort();
        }
    }
    int rc = bdoc_find_compile(req, &f, err, sizeof err);
    if (rc) {
        if (f || !err[0]) abort();
        goto out;
    }
    size_t matched = 0;
    rc = bdoc_find_array(f, docs, &page, &cursor, &matched);
    if (rc == BB_ENOMEM || rc == BB_ETOOBIG) goto out;
    if (rc || !json_is_array(page)) abort();
    const json_t *lim = json_object_get(req, "limit");
    if (json_is_integer(lim) && json_integer_value(lim) > 0 &&
        json_array_size(page) > (size_t)json_integer_value(lim))
        abort();
    if (matched > json_array_size(docs)) abort();
    if (cursor) {
        req2 = json_deep_copy(req);
        if (!req2) goto out;
        json_object_set_new(req2, "cursor", json_string(cursor));
        if (bdoc_find_compile(req2, &f2, err, sizeof err) != 0) abort();
    }
out:
    bdoc_find_free(f);
    bdoc_find_free(f2);
    json_decref(req);
    json_decref(req2);
    json_decref(docs);
    json_decref(page);
    free(cursor);
    return 0;
}
