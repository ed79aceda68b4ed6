/* bb_crypto.h — the small set of cryptographic primitives BunBase needs, on OpenSSL 3.
 *
 * Random bytes and tokens (RAND_bytes, the OpenSSL CSPRNG), SHA-256, HMAC-SHA-256, base64url
 * (RFC 4648 §5) and hex codecs, constant-time comparison. Nothing here allocates on the heap
 * except inside OpenSSL; every output goes into a caller-provided buffer whose capacity is
 * passed in. All functions are thread-safe.
 *
 * Secrets: bb_random_token() wipes its temporary raw bytes; callers own and wipe their buffers
 * (OPENSSL_cleanse) if they hold secrets.
 */
#ifndef BB_CRYPTO_H
#define BB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define BB_SHA256_LEN 32
/* Upper bound on nbytes for bb_random_token(). */
#define BB_RANDOM_TOKEN_MAX_BYTES 512

/* Length of the unpadded base64url encoding of n bytes (without NUL). */
#define BB_BASE64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))

/* Fills buf[0..n) with cryptographically secure random bytes. Returns 0, or BB_EIO if the
 * CSPRNG failed (buf contents are then unspecified), BB_EINVAL if buf is NULL and n > 0. */
int bb_random_bytes(void *buf, size_t n);

/* Writes the unpadded base64url encoding of nbytes fresh random bytes to out (NUL-terminated),
 * e.g. nbytes = 32 gives a 43-character token. Needs cap >= BB_BASE64URL_LEN(nbytes) + 1.
 * Returns 0; BB_EINVAL if out is NULL, nbytes is 0 or > BB_RANDOM_TOKEN_MAX_BYTES, or cap is too
 * small (out is then set to "" if cap > 0); BB_EIO if the CSPRNG failed. */
int bb_random_token(char *out, size_t cap, size_t nbytes);

/* SHA-256 of p[0..n) into out (p may be NULL iff n == 0). These cannot report errors: if OpenSSL
 * fails (only on allocation failure inside it) the process aborts rather than return a wrong
 * digest. */
void bb_sha256(const void *p, size_t n, uint8_t out[BB_SHA256_LEN]);
/* The same as lowercase hex, NUL-terminated (a digest stored or compared as text). */
void bb_sha256_hex(const void *p, size_t n, char out[2 * BB_SHA256_LEN + 1]);

/* HMAC-SHA-256 of p[0..n) under key[0..klen) into out (key/p may be NULL iff their length is 0).
 * Aborts on OpenSSL failure, like bb_sha256(). */
void bb_hmac_sha256(const void *key, size_t klen, const void *p, size_t n,
                    uint8_t out[BB_SHA256_LEN]);

/* base64url without padding. Writes BB_BASE64URL_LEN(n) characters and a NUL to out and returns
 * that length; returns 0 (and writes "" if cap > 0) if cap < BB_BASE64URL_LEN(n) + 1. Note that
 * n == 0 also returns 0 (the empty encoding). */
size_t bb_base64url_encode(const void *in, size_t n, char *out, size_t cap);

/* Decodes base64url in[0..n), with or without '=' padding (padding, if present, must be complete
 * and only at the end). Rejects with BB_EINVAL: characters outside [A-Za-z0-9_-] (so '+', '/',
 * whitespace), a length that no encoding can have, and non-canonical encodings whose unused
 * trailing bits are not zero (so every byte string has exactly one accepted unpadded form).
 * BB_ETOOBIG if the decoded bytes do not fit in cap. On success stores the decoded length in
 * *out_len and returns 0. in may be NULL iff n == 0. */
int bb_base64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

/* Standard base64 (RFC 4648 §4: '+', '/', '=' padding), for payloads that carry bytes in JSON.
 * encode: a new NUL-terminated string (caller frees); NULL only when out of memory.
 * decode: in[0..n) with or without padding; *out is a new buffer (caller frees; never NULL on
 * success, even for empty input); BB_EINVAL for a character outside the alphabet, an impossible
 * length or non-canonical trailing bits, BB_ENOMEM. (These two allocate, unlike the rest here.) */
char *bb_base64_encode_alloc(const void *in, size_t n);
/* The same into out, which has room for BB_BASE64_LEN(n) characters (no NUL is written, nothing
 * allocated: for encoders that build a message in place); returns BB_BASE64_LEN(n). */
#define BB_BASE64_LEN(n) (((n) + 2) / 3 * 4)
size_t bb_base64_encode(const void *in, size_t n, char *out);
int bb_base64_decode_alloc(const char *in, size_t n, uint8_t **out, size_t *out_len);

/* Lowercase hex of in[0..n) into out, NUL-terminated; returns 2*n, or 0 (and "" if cap > 0) if
 * cap < 2*n + 1. */
size_t bb_hex_encode(const void *in, size_t n, char *out, size_t cap);

/* Decodes hex (either case) in[0..n) into out. BB_EINVAL on odd length or a non-hex character,
 * BB_ETOOBIG if n/2 > cap. Stores the length in *out_len (may be NULL). */
int bb_hex_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);
/* The value of one hex digit (either case), or -1. */
int bb_hex_digit(int c);

/* Percent-decoding (RFC 3986 §2.1) of src[0..n) into dst, the one copy (HTTP path parameters and
 * query values, bunder-manager's KV keys). flags: BB_PCT_PLUS — '+' means a space (query
 * strings); BB_PCT_CSTR — the result is a C string: %00 is refused and a NUL is written after it
 * (cap counts it). Returns the decoded length; BB_EINVAL for a malformed escape ("%", "%4", "%zz")
 * or %00 with BB_PCT_CSTR; BB_ETOOBIG if it does not fit in cap. Decoding never grows: n (+1)
 * bytes always suffice. */
enum { BB_PCT_PLUS = 1 << 0, BB_PCT_CSTR = 1 << 1 };
long bb_pct_decode(const char *src, size_t n, char *dst, size_t cap, unsigned flags);

/* Constant-time comparison (CRYPTO_memcmp): returns 1 if a[0..n) == b[0..n), else 0. Note: a
 * boolean, not an error code. */
int bb_ct_equal(const void *a, const void *b, size_t n);

/* Returns 1 if the NUL-terminated strings are equal, else 0 (also if either is NULL). The time
 * taken depends only on the lengths, never on the content; strings of different lengths are
 * unequal (length is not treated as secret). */
int bb_ct_streq(const char *a, const char *b);

#endif
