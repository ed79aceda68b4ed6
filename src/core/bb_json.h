/* bb_json.h — jansson helpers: bounded parsing, compact encoding, error bodies, small getters.
 *
 * Every JSON document that enters BunBase from outside goes through bb_json_parse(), which bounds
 * the nesting depth *before* handing the bytes to jansson: a linear, non-recursive pre-scan counts
 * '[' / '{' outside strings, so hostile input ("[[[[...") never reaches jansson's recursive
 * descent parser deeper than the limit. The byte size of the document is bounded by the caller
 * (HTTP body limit etc.); this module only sees {buf, len}.
 *
 * Parsing rules: any JSON value at top level (not just objects/arrays); no trailing garbage (only
 * whitespace may follow the value); strings must be valid UTF-8; "\u0000" inside strings is
 * rejected (so every string is a safe C string); duplicate object keys are rejected (an ambiguous
 * document is a malformed one); integers outside int64 are rejected.
 *
 * Error bodies have the shape {"error": "<message>", "code": "<machine_code>"} (see bb_err.h).
 *
 * Ownership: json_t references follow jansson's rules. "New reference" = caller must
 * json_decref(); "borrowed" = valid as long as the containing document is alive and unmodified.
 */
#ifndef BB_JSON_H
#define BB_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Hard ceiling on max_depth: jansson's own JSON_PARSER_MAX_DEPTH. Larger values are clamped. */
#define BB_JSON_DEPTH_CEILING 2048
/* A reasonable default depth for request bodies. */
#define BB_JSON_DEFAULT_DEPTH 64

/* Parses the JSON document buf[0..len) (need not be NUL-terminated; buf may be NULL iff len == 0,
 * which is an error: empty document). Borrows buf.
 *
 * Depth: a scalar has depth 0, "[]" and "{}" depth 1, "[[1]]" depth 2, etc. A document deeper
 * than max_depth (clamped to BB_JSON_DEPTH_CEILING) gives BB_ETOOBIG without invoking jansson.
 *
 * On success returns 0 and stores a new reference in *out (caller json_decref()s it).
 * On failure *out is set to NULL and returns:
 *   BB_EINVAL   malformed (message "line L, column C: <reason>" in errbuf), or bad arguments
 *   BB_ETOOBIG  nesting deeper than max_depth (message with the byte offset in errbuf), or more
 *               values than bb_json_set_max_values allows
 *   BB_ENOMEM   allocation failure
 * errbuf may be NULL (then errcap is ignored); otherwise it is always NUL-terminated (truncated
 * to errcap) and set to "" on success. */
int bb_json_parse(const char *buf, size_t len, size_t max_depth, json_t **out, char *errbuf,
                  size_t errcap);

/* Memory bound of bb_json_parse: a document of more than max values is refused with BB_ETOOBIG
 * ("too many JSON values") by the same linear pre-scan, before jansson builds anything. A value is
 * counted per top-level value, array, object and element/member separator, so
 * `[0,0,…]` counts one per element. jansson spends ~50-100 bytes per value, so this bounds what
 * one parse can allocate whatever the body size. 0: no limit (the default until set). Process-wide;
 * set once at start-up (bunbased: BUNBASE_JSON_MAX_VALUES). */
void bb_json_set_max_values(size_t max);

/* Compact encoding of any JSON value (JSON_COMPACT | JSON_ENCODE_ANY). Borrows j. Returns a
 * NUL-terminated malloc'ed string that the caller free()s, and its length (without the NUL) in
 * *len_out if len_out is not NULL. Returns NULL on ENOMEM or if j is NULL. Strings built with
 * embedded NULs are escaped as \u0000, so strlen() of the result equals *len_out. */
char *bb_json_dumps(const json_t *j, size_t *len_out);

/* Checks that buf[0..len) is one JSON text (any type, surrounding whitespace allowed) that jansson
 * would accept — grammar, UTF-8, no \u0000, paired surrogates, integers within int64 and reals
 * that do not overflow — without building a tree (no allocation), nesting at most max_depth
 * (capped like bb_json_parse). Duplicate object keys are not checked. Returns 0, BB_EINVAL or
 * BB_ETOOBIG (too deep). For hot paths that only need to know whether bytes are JSON. */
int bb_json_validate(const char *buf, size_t len, size_t max_depth);

/* New object {"error": message, "code": code} (new reference, caller json_decref()s); NULL on
 * ENOMEM. Borrows both strings. NULL message becomes "unknown error", NULL code "unknown". Bytes
 * of message that are not valid UTF-8 are replaced by '?' so that the body can always be built. */
json_t *bb_json_error(const char *message, const char *code);

/* Same as bb_json_error(message_or_null ? message_or_null : bb_strerror(err), bb_err_code(err)).
 * New reference; NULL on ENOMEM. */
json_t *bb_json_error_from(int err, const char *message_or_null);

/* Getters on an object (obj may be NULL or not an object: then the default is returned).
 * bb_json_str: the string value of key, borrowed (valid while obj holds it), or dflt if the key is
 *   missing or not a string.
 * bb_json_int: the integer value of key, or dflt if missing or not an integer (reals are not
 *   converted).
 * bb_json_bool: 1 for true, 0 for false, dflt if missing or not a boolean. */
const char *bb_json_str(const json_t *obj, const char *key, const char *dflt);
int64_t bb_json_int(const json_t *obj, const char *key, int64_t dflt);
int bb_json_bool(const json_t *obj, const char *key, int dflt);

/* Looks up a dot path like "a.b.c" from root. A segment made only of digits indexes an array when
 * the current value is an array ("items.0.id"); otherwise segments are object keys (keys that
 * contain '.' cannot be addressed). Stores a borrowed reference in *out_borrowed (valid while root
 * is alive and unmodified). Returns 0, BB_ENOTFOUND if some segment is missing (or indexes into a
 * scalar), BB_EINVAL for a malformed path (NULL, empty, empty segment such as "a..b" or "a.").
 * *out_borrowed is set to NULL on failure. */
int bb_json_get_path(const json_t *root, const char *dot_path, json_t **out_borrowed);

#endif
