/* Fuzz target for the bundoc rules language: compile the input as a rule; on success evaluate it
 * against a few fixed contexts (authenticated, unauthenticated) with a trace; on failure the error
 * must carry a position inside the input and a message. Any crash, leak or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bdoc_rule *r = NULL;
    struct bdoc_rule_error e;
    json_t *auth = NULL, *doc = NULL, *newdoc = NULL;
    int rc = bdoc_rule_compile((const char *)data, size, &r, &e);
    if (rc) {
        if (r || !e.message[0] || (rc != BB_ETOOBIG && e.offset > size) || e.line == 0 ||
            e.col == 0)
            abort();
        return 0;
    }
    auth = json_loads("{\"uid\":\"u1\",\"claims\":{\"role\":\"admin\",\"teams\":[\"a\",\"b\"],"
                      "\"n\":3}}", 0, NULL);
    doc = json_loads("{\"owner\":\"u1\",\"title\":\"hello\",\"tags\":[1,\"x\",null],"
                     "\"m\":{\"k\":{\"z\":1.5}},\"b\":true}", 0, NULL);
    newdoc = json_loads("{\"owner\":\"u2\",\"title\":\"\",\"n\":-1}", 0, NULL);
    struct bdoc_rule_input ins[] = {{auth, doc, newdoc}, {NULL, doc, NULL}, {auth, NULL, NULL}};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        int allow = -1;
        char *trace = NULL;
        rc = bdoc_rule_eval(r, &ins[i], &allow, &trace);
        if (rc == 0 && (allow < 0 || allow > 1 || !trace || strlen(trace) >= BDOC_RULE_TRACE_MAX))
            abort();
        free(trace);
    }
    bdoc_rule_free(r);
    json_decref(auth);
    json_decref(doc);
    json_decref(newdoc);
    return 0;
}
