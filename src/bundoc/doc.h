/* doc.h — the binary document encoding (private; no storage dependency).
 *
 * JSON values are encoded so that one field can be read by skipping over its siblings without
 * decoding them: every variable-size value carries its byte length up front. Layout: doc.c.
 * Decoding never trusts the input: every length is checked against the bytes left, nesting is
 * bounded by DOC_MAX_DEPTH, and a malformed encoding gives BB_EIO (it is treated as corruption).
 */
#ifndef BDOC_DOC_H
#define BDOC_DOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define DOC_MAX_DEPTH 128

/* Encodes a JSON value (documents are objects, but any value encodes). *out is malloc'ed (caller
 * frees). BB_ETOOBIG if the encoding exceeds max bytes, BB_EINVAL for nesting deeper than
 * DOC_MAX_DEPTH or an unsupported value, BB_ENOMEM. */
int doc_encode(const json_t *v, size_t max, uint8_t **out, size_t *len);
/* Decodes buf[0..len) into a new reference (caller decrefs). BB_EIO if malformed. */
int doc_decode(const uint8_t *buf, size_t len, json_t **out);
/* Renders the encoded document as compact JSON text (the bytes jansson's JSON_COMPACT would print:
 * no spaces, UTF-8 kept, '"', '\\' and control characters escaped, reals as %.17g with ".0"
 * added when needed) without building a json_t. Appends to out, olen and cap (a malloc'ed buffer
 * the caller owns; may start NULL/0/0). BB_EIO if malformed, BB_ENOMEM. */
int doc_render(const uint8_t *buf, size_t len, char **out, size_t *olen, size_t *cap);
/* Decodes only the value at dot path ("a.b.0"; digit segments index arrays). BB_ENOTFOUND if
 * absent, BB_EINVAL for a malformed path, BB_EIO if the encoding is malformed. */
int doc_get_path(const uint8_t *buf, size_t len, const char *path, json_t **out);

/* Decodes only the top-level members names[0..nn) of the encoded document (absent ones left out)
 * into a new object. BB_EIO if malformed. */
int doc_decode_fields(const uint8_t *buf, size_t len, const char *const *names, size_t nn,
                      json_t **out);
/* Value tags of the encoding (doc.c). */
enum { DOC_T_NULL = 0, DOC_T_FALSE, DOC_T_TRUE, DOC_T_INT, DOC_T_REAL, DOC_T_STR, DOC_T_ARR,
       DOC_T_OBJ };
/* Bytes of the encoded value at p (n bytes available), or 0 when its header is malformed or it
 * does not fit (only the header is checked, not the contents). */
size_t doc_vsize(const uint8_t *p, size_t n);
/* Decodes the single encoded value p[0..n) (exactly one value) into a new reference. BB_EIO. */
int doc_decode_value(const uint8_t *p, size_t n, json_t **out);
/* The top-level string field key of an encoded document: *s points into buf (borrowed, not
 * NUL-terminated), *slen bytes. BB_ENOTFOUND when absent or not a string, BB_EIO if malformed. */
int doc_get_str(const uint8_t *buf, size_t len, const char *key, const char **s, size_t *slen);

#endif
