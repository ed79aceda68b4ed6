/* bb_id.h — unique, time-sortable identifiers (ULID layout).
 *
 * An id is 128 bits: a 48-bit Unix timestamp in milliseconds (big-endian, most significant first)
 * followed by 80 bits of randomness, written as 26 characters of Crockford base32
 * ("0123456789ABCDEFGHJKMNPQRSTVWXYZ", no I, L, O, U). 130 bits of text hold 128 bits of data, so
 * the first character is always '0'..'7'.
 *
 *   chars 0..9    timestamp: 50 bits, the top 2 always zero (so 48-bit ms, until year 10889)
 *   chars 10..25  randomness: 80 bits, 5 bits per char, most significant first
 *
 * Because the encoding is fixed-width and the alphabet is in ASCII order, comparing ids with
 * strcmp() compares (timestamp, random) numerically. Within one process ids are strictly
 * increasing: an id made in the same millisecond as the previous one (or when the wall clock went
 * backwards) reuses the previous timestamp and adds 1 to the 80-bit random part (on the
 * practically impossible overflow, the timestamp part is advanced by one ms). A forked child
 * advances its timestamp part by one ms and draws fresh randomness, so parent and child do not
 * generate the same sequence.
 *
 * Ids are unguessable only in their first id of each millisecond; later ones in the same
 * millisecond are predictable (previous + 1). Do not use ids as secrets (see bb_random_token()).
 * Thread-safe (one process-wide mutex, held for a few hundred nanoseconds).
 */
#ifndef BB_ID_H
#define BB_ID_H

#include <stddef.h>
#include <stdint.h>

#define BB_ID_LEN 26

/* Writes a new id and a terminating NUL into out (BB_ID_LEN + 1 bytes, owned by the caller).
 * Never fails: if the CSPRNG fails the random part is derived from the previous id (logged). */
void bb_id_new(char out[BB_ID_LEN + 1]);

/* Extracts the millisecond timestamp of id (exactly BB_ID_LEN characters followed by NUL;
 * lowercase letters are accepted). Returns 0, or BB_EINVAL if id is not a well-formed id (wrong
 * length, a character outside the alphabet, or a first character above '7'). */
int bb_id_timestamp_ms(const char *id, uint64_t *ms);

/* Returns 1 if id is a well-formed id (same rules as bb_id_timestamp_ms()), else 0. */
int bb_id_is_valid(const char *id);

/* Project ids: the one rule every service applies to a project id it is given (a path segment,
 * a RESP AUTH argument, a directory name): 1 to BB_PROJECT_ID_MAX characters of [A-Za-z0-9_-].
 * It can never name "." or "..", hold a '/', or be empty. 1 when valid, else 0. */
#define BB_PROJECT_ID_MAX 64
int bb_project_id_valid(const char *id, size_t len);

#endif
