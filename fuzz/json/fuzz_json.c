/* Fuzz target for bb_json: bb_json_validate agrees with jansson; parse with a depth limit of 64,
 * dump compactly, re-parse the dump, and require the two documents to be equal. Any crash, leak (under ASan) or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* bb_json_validate must agree with jansson itself (duplicate keys allowed, as the validator does
 * not check them) on every input within the depth limit. */
static void check_validate(const uint8_t *data, size_t size)
{
    int v = bb_json_validate((const char *)data, size, 64);
    if (v == BB_ETOOBIG) return;
    /* jansson's buffer reader takes a raw NUL byte for the end of input ("4\0junk" loads as 4);
     * the validator rejects raw NULs, as bb_json_parse does. */
    if (memchr(data, 0, size)) {
        if (v != BB_EINVAL) abort();
        return;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &e);
    if ((v == 0) != (j != NULL)) abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_validate(data, size);
    char err[160];
    json_t *doc = NULL;
    json_t *again = NULL;
    char *dump = NULL;

    int rc = bb_json_parse((const char *)data, size, 64, &doc, err, sizeof err);
    if (rc != 0) {
        /* Failure contract: no document, a terminated message, a known code. */
        if (doc != NULL || strlen(err) >= sizeof err) abort();
        if (rc != BB_EINVAL && rc != BB_ETOOBIG && rc != BB_ENOMEM) abort();
        goto out;
    }
    if (!doc) abort();

    size_t len = 0;
    dump = bb_json_dumps(doc, &len);
    if (!dump) goto out; /* ENOMEM only */
    if (len != strlen(dump)) abort();

    rc = bb_json_parse(dump, len, 64, &again, err, sizeof err);
    if (rc == BB_ENOMEM) goto out;
    if (rc != 0 || !json_equal(doc, again)) abort();

    /* Exercise the getters on whatever we got; they must not crash on any type. */
    json_t *v = NULL;
    (void)bb_json_get_path(doc, "a.0.b", &v);
    (void)bb_json_str(doc, "a", NULL);
    (void)bb_json_int(doc, "a", 0);
    (void)bb_json_bool(doc, "a", 0);

out:
    free(dump);
    json_decref(doc);
    json_decref(again);
    return 0;
}
