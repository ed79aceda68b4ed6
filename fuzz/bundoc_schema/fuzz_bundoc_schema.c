/* Fuzz target for the bundoc JSON Schema validator: the input is a schema JSON, optionally
 * followed by a NUL byte and a document JSON. Compile the schema; validate the document (or a few
 * fixed ones). Contracts: a compile failure leaves no object and a message; a validation failure
 * names a keyword and its message starts with the path. Any crash, leak or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"
#include "jschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct bdoc_schema *s, const json_t *doc)
{
    struct bdoc_schema_error e;
    int rc = bdoc_schema_validate(s, doc, &e);
    if (rc == 0 || rc == BB_ENOMEM) return;
    if (rc != BB_EINVAL || !e.keyword[0]) abort();
    const char *p = e.path[0] ? e.path : "(root)";
    if (strncmp(e.message, p, strlen(p) < 200 ? strlen(p) : 200) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *schema = NULL, *doc = NULL;
    struct bdoc_schema *s = NULL;
    char err[256];
    const uint8_t *nul = memchr(data, 0, size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    if (bb_json_parse((const char *)data, slen, 64, &schema, NULL, 0) != 0) goto out;
    int rc = bdoc_schema_compile(schema, &s, err, sizeof err);
    if (rc) {
        if (s || !err[0]) abort();
        goto out;
    }
    const struct bdoc_schema_ref *refs;
    size_t nrefs;
    bdoc_schema_refs(s, &refs, &nrefs);
    for (size_t i = 0; i < nrefs; i++)
        if (!refs[i].path || !refs[i].collection || !refs[i].collection[0]) abort();
    if (nul && bb_json_parse((const char *)nul + 1, size - slen - 1, 64, &doc, NULL, 0) == 0) {
        check(s, doc);
    } else {
        static const char *fixed[] = {"{}", "null", "[1,\"a\",{}]", "\"h\\u00e9llo\"", "-2.5",
                                      "{\"a\":{\"b\":[1,2,2]},\"c\":\"x\",\"_id\":\"1\"}"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            json_t *d = json_loads(fixed[i], JSON_DECODE_ANY, NULL);
            if (d) check(s, d);
            json_decref(d);
        }
    }
    check(s, schema); /* a schema is a document too */
out:
    bdoc_schema_free(s);
    json_decref(schema);
    json_decref(doc);
    return 0;
}
