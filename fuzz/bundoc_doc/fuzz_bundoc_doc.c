/* Fuzz target for the bundoc binary document decoder (src/bundoc/doc.c): decode arbitrary bytes
 * and read a few paths from them. Whatever decodes must re-encode to exactly the same bytes
 * (the encoding is canonical for a given key order) and decode again to an equal document, and the
 * direct text renderer must print exactly jansson's compact dump of it. Any
 * crash, leak (ASan) or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"
#include "doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL, *again = NULL, *v = NULL;
    uint8_t *enc = NULL;
    size_t n = 0;
    const char *paths[] = {"a", "a.b", "0", "a.0.b", "x.y.z"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int rc = doc_get_path(data, size, paths[i], &v);
        if (rc == 0) {
            if (!v) abort();
            json_decref(v);
            v = NULL;
        } else if (v || (rc != BB_ENOTFOUND && rc != BB_EIO && rc != BB_ENOMEM)) {
            abort();
        }
    }
    char *text = NULL, *dump = NULL;
    size_t tlen = 0, tcap = 0;
    int rrc = doc_render(data, size, &text, &tlen, &tcap);
    if (rrc != 0 && rrc != BB_EIO && rrc != BB_ENOMEM) abort();
    int rc = doc_decode(data, size, &doc);
    if (rc) {
        free(text);
        if (doc || (rc != BB_EIO && rc != BB_ENOMEM)) abort();
        return 0;
    }
    /* the direct renderer prints exactly what jansson prints for the decoded document */
    size_t dlen = 0;
    dump = bb_json_dumps(doc, &dlen);
    if (dump && rrc == 0 && (dlen != tlen || memcmp(dump, text, tlen) != 0)) abort();
    if (dump && rrc != 0 && rrc != BB_ENOMEM) abort();
    free(dump);
    free(text);
    rc = doc_encode(doc, size + 16, &enc, &n);
    if (rc == BB_ENOMEM) goto out;
    if (rc != 0 || n != size || memcmp(enc, data, size) != 0) abort();
    if (doc_decode(enc, n, &again) != 0 || !json_equal(doc, again)) abort();
out:
    json_decref(doc);
    json_decref(again);
    free(enc);
    return 0;
}
