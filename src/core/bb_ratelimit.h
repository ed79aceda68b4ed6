/* bb_ratelimit.h — token buckets keyed by a string, for login and similar limits.
 *
 * A bucket holds at most `burst` tokens and gains per_min tokens a minute; a request takes one.
 * The table is bounded (max_entries buckets): when full, refilled buckets go first, then the
 * oldest-touched half. Thread-safe (one mutex); never blocks for long.
 */
#ifndef BB_RATELIMIT_H
#define BB_RATELIMIT_H

#include <stdint.h>

struct bb_rl;
/* *out: caller frees with bb_rl_free. BB_ENOMEM. */
int bb_rl_new(uint64_t max_entries, struct bb_rl **out);
void bb_rl_free(struct bb_rl *rl);
/* Takes one token from key's bucket (per_min tokens a minute, burst at most; per_min >= 1). 0 when
 * allowed; BB_ELIMIT with *retry_after_s (>= 1) when not. Fails open when out of memory. */
int bb_rl_take(struct bb_rl *rl, const char *key, uint64_t per_min, uint64_t burst,
               uint64_t now_ms, uint64_t *retry_after_s);

#endif
