/* bb_id.c — see bb_id.h for the format and the monotonicity rules. */
#include "bb_id.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_log.h"

#define TS_MASK ((UINT64_C(1) << 48) - 1)
#define RAND_BYTES 10

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Generator state, guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int have_prev;          /* last_ms/last_rand hold the previous id */
static int need_fresh;         /* draw fresh randomness for the next id (after fork) */
static uint64_t last_ms;       /* timestamp part of the previous id */
static uint8_t last_rand[RAND_BYTES];

static void atfork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

static void atfork_child(void)
{
    /* Keep the child's ids above everything made before the fork, but off the parent's path. */
    if (have_prev && last_ms < TS_MASK) last_ms++;
    need_fresh = 1;
    pthread_mutex_unlock(&lock);
}

static void register_atfork(void)
{
    if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
        bb_warn("id", "pthread_atfork_failed");
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return ((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u) & TS_MASK;
}

/* Adds 1 to the 80-bit big-endian number; returns 1 on wrap-around to zero. */
static int increment(uint8_t r[RAND_BYTES])
{
    for (int i = RAND_BYTES - 1; i >= 0; i--) {
        if (++r[i] != 0) return 0;
    }
    return 1;
}

static void encode(uint64_t ms, const uint8_t r[RAND_BYTES], char out[BB_ID_LEN + 1])
{
    for (int i = 9; i >= 0; i--) {
        out[i] = crockford[ms & 31];
        ms >>= 5;
    }
    for (int g = 0; g < 2; g++) { /* two 40-bit groups, 8 characters each */
        uint64_t v = 0;
        for (int b = 0; b < 5; b++)
            v = v << 8 | r[g * 5 + b];
        for (int i = 7; i >= 0; i--) {
            out[10 + g * 8 + i] = crockford[v & 31];
            v >>= 5;
        }
    }
    out[BB_ID_LEN] = '\0';
}

void bb_id_new(char out[BB_ID_LEN + 1])
{
    uint64_t ms;
    uint8_t r[RAND_BYTES];

    pthread_once(&atfork_once, register_atfork);
    uint64_t now = now_ms();

    pthread_mutex_lock(&lock);
    if (!have_prev || need_fresh || now > last_ms) {
        ms = (have_prev && now < last_ms) ? last_ms : now;
        if (bb_random_bytes(r, sizeof r) != 0) {
            /* No randomness: stay unique within the process by continuing the sequence. */
            bb_error("id", "random_failed fallback=increment");
            memcpy(r, last_rand, sizeof r);
            if (!have_prev) { /* first id ever: at least differ between processes */
                pid_t pid = getpid();
                memcpy(r, &pid, sizeof pid < sizeof r ? sizeof pid : sizeof r);
            }
            if (increment(r) && ms < TS_MASK) ms++;
        }
    } else {
        /* Same millisecond, or the clock went backwards: previous + 1. */
        ms = last_ms;
        memcpy(r, last_rand, sizeof r);
        if (increment(r) && ms < TS_MASK) ms++;
    }
    last_ms = ms;
    memcpy(last_rand, r, sizeof r);
    have_prev = 1;
    need_fresh = 0;
    pthread_mutex_unlock(&lock);

    encode(ms, r, out);
}

/* Crockford value of c (either case, canonical letters only), or -1. */
static int decode_char(unsigned char c)
{
    if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
    const char *p = c ? memchr(crockford, c, 32) : NULL;
    return p ? (int)(p - crockford) : -1;
}

int bb_id_timestamp_ms(const char *id, uint64_t *ms)
{
    uint64_t v = 0;
    if (!id) return BB_EINVAL;
    for (size_t i = 0; i < BB_ID_LEN; i++) {
        int d = decode_char((unsigned char)id[i]); /* stops at NUL: NUL is not in the alphabet */
        if (d < 0) return BB_EINVAL;
        if (i == 0 && d > 7) return BB_EINVAL;
        if (i < 10) v = v << 5 | (uint64_t)d;
    }
    if (id[BB_ID_LEN] != '\0') return BB_EINVAL;
    if (ms) *ms = v;
    return 0;
}

int bb_id_is_valid(const char *id)
{
    return bb_id_timestamp_ms(id, NULL) == 0;
}

int bb_project_id_valid(const char *id, size_t len)
{
    if (!id || len == 0 || len > BB_PROJECT_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
