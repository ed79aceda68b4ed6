/* jschema.h — JSON Schema (draft 7 core) validation of bundoc documents (prefix bdoc_schema_).
 *
 * A collection's schema is compiled once (bdoc_schema_compile, when it is set) and checked on
 * every write (bdoc_schema_validate). Supported keywords:
 *   type (string or array; "integer" also accepts reals with no fraction), enum, const,
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum (draft-7 numbers), multipleOf,
 *   minLength, maxLength (UTF-8 code points), pattern (PCRE2, unanchored search),
 *   properties, required, additionalProperties (bool or schema), minProperties, maxProperties,
 *   items (schema, or array of schemas = tuple), minItems, maxItems, uniqueItems,
 *   allOf, anyOf, oneOf, not, and boolean schemas (true / false) anywhere a schema goes.
 * Annotations (title, description, default, examples, $schema, $id, $comment, format,
 * definitions, readOnly, writeOnly, contentMediaType, contentEncoding) are ignored. The other
 * draft-7 validation keywords ($ref, patternProperties, dependencies, propertyNames, contains,
 * additionalItems, if/then/else) are REJECTED at compile time rather than silently ignored, so a
 * schema never validates less than its author thinks. Unknown keywords are ignored (draft 7).
 * Equality (enum, const, uniqueItems) is the typed equality of query.h (1 == 1.0).
 *
 * x-bundoc-ref: a property schema may carry
 *   "x-bundoc-ref": {"collection": "users", "field": "_id", "on_delete": "set_null"}
 * collection is required (non-empty string); field defaults to "_id" and must be "_id";
 * on_delete is restrict | set_null | cascade, default set_null; anything else is a compile error.
 * References are collected from "properties" at any object nesting (path "a.b"), not through
 * items or combinators; the engine enforces them (bdoc_schema_refs).
 *
 * Errors: compile returns BB_EINVAL (bad schema; err says where, as a JSON Pointer into the
 * schema), BB_ETOOBIG (deeper than BDOC_SCHEMA_MAX_DEPTH or more than BDOC_SCHEMA_MAX_NODES
 * subschemas), BB_ENOMEM. validate returns 0 or BB_EINVAL with the first failure (in a fixed,
 * documented order) described in *e: the JSON Pointer of the failing value in the document
 * ("" = the document itself), the keyword, and a message "<path>: <keyword>: <why>".
 *
 * Ownership: the compiled schema keeps its own copies; borrows schema and documents only during
 * the call. A compiled schema is immutable and may be used by many threads at once.
 */
#ifndef BDOC_JSCHEMA_H
#define BDOC_JSCHEMA_H

#include <jansson.h>
#include <stddef.h>

#define BDOC_SCHEMA_MAX_DEPTH 32
#define BDOC_SCHEMA_MAX_NODES 4096

struct bdoc_schema;

enum bdoc_on_delete {
    BDOC_ON_DELETE_RESTRICT,
    BDOC_ON_DELETE_SET_NULL,
    BDOC_ON_DELETE_CASCADE,
};

/* One x-bundoc-ref. Strings are borrowed from the compiled schema (valid until free). */
struct bdoc_schema_ref {
    const char *path;       /* dot path of the referencing field, e.g. "author_id" */
    const char *collection; /* target collection */
    const char *field;      /* always "_id" in v1 */
    enum bdoc_on_delete on_delete;
};

struct bdoc_schema_error {
    char path[256];    /* JSON Pointer of the failing value (truncated if longer) */
    char keyword[32];  /* e.g. "minLength" */
    char message[512]; /* "<path>: <keyword>: <reason>" ("(root)" for the empty path) */
};

/* Compiles schema (borrowed). New object in *out; caller frees with bdoc_schema_free. */
int bdoc_schema_compile(const json_t *schema, struct bdoc_schema **out, char *err,
                        size_t errcap);

/* 0 if doc is valid, BB_EINVAL with *e filled (e may be NULL) if not, BB_ENOMEM. */
int bdoc_schema_validate(const struct bdoc_schema *s, const json_t *doc,
                         struct bdoc_schema_error *e);

/* The x-bundoc-ref declarations, in schema order. */
void bdoc_schema_refs(const struct bdoc_schema *s, const struct bdoc_schema_ref **refs,
                      size_t *n);

/* The schema as given (borrowed), e.g. to store it or compare it for prevent_schema_override. */
const json_t *bdoc_schema_json(const struct bdoc_schema *s);

/* "restrict" | "set_null" | "cascade" (static storage). */
const char *bdoc_on_delete_name(enum bdoc_on_delete d);

void bdoc_schema_free(struct bdoc_schema *s);

#endif
