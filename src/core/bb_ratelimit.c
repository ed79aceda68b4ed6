/* bb_ratelimit.c — token buckets keyed by a string ("login|ip|127.0.0.1", "login|acct|a@b.c"),
 * in one hash table under a mutex (the platform's and tenant-auth's login limits). A bucket holds
 * at most `burst` tokens and gains per_min a minute; a request takes one. The table holds at most
 * max_entries buckets: when it is full, buckets that have refilled completely (equivalent to a new
 * one) are dropped; if none has, the oldest-touched half goes (a flood of fresh keys cannot grow
 * memory without bound).
 */
#include "bb_ratelimit.h"
#include "bb_err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
    struct bucket *next;
    double tokens;
    uint64_t last_ms;
    uint64_t per_min, burst;
    char key[];
};

struct bb_rl {
    pthread_mutex_t mu;
    struct bucket **tab;
    size_t nslots, n, max;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int bb_rl_new(uint64_t max_entries, struct bb_rl **out)
{
    struct bb_rl *rl = calloc(1, sizeof *rl);
    if (!rl) return BB_ENOMEM;
    rl->nslots = 4096;
    rl->max = max_entries;
    rl->tab = calloc(rl->nslots, sizeof *rl->tab);
    if (!rl->tab) {
        free(rl);
        return BB_ENOMEM;
    }
    pthread_mutex_init(&rl->mu, NULL);
    *out = rl;
    return 0;
}

void bb_rl_free(struct bb_rl *rl)
{
    if (!rl) return;
    for (size_t i = 0; i < rl->nslots; i++)
        for (struct bucket *b = rl->tab[i], *nx; b; b = nx) {
            nx = b->next;
            free(b);
        }
    free(rl->tab);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static void refill(struct bucket *b, uint64_t now)
{
    if (now > b->last_ms) {
        b->tokens += (double)(now - b->last_ms) * (double)b->per_min / 60000.0;
        if (b->tokens > (double)b->burst) b->tokens = (double)b->burst;
        b->last_ms = now;
    }
}

static void evict(struct bb_rl *rl, uint64_t now)
{
    uint64_t oldest = now, newest = 0;
    for (size_t i = 0; i < rl->nslots; i++)
        for (struct bucket **pp = &rl->tab[i]; *pp;) {
            struct bucket *b = *pp;
            refill(b, now);
            if (b->tokens >= (double)b->burst) {
                *pp = b->next;
                free(b);
                rl->n--;
                continue;
            }
            if (b->last_ms < oldest) oldest = b->last_ms;
            if (b->last_ms > newest) newest = b->last_ms;
            pp = &b->next;
        }
    if (rl->n < rl->max) return;
    uint64_t cut = oldest + (newest - oldest) / 2;
    for (size_t i = 0; i < rl->nslots; i++)
        for (struct bucket **pp = &rl->tab[i]; *pp;) {
            struct bucket *b = *pp;
            if (b->last_ms <= cut) {
                *pp = b->next;
                free(b);
                rl->n--;
                continue;
            }
            pp = &b->next;
        }
}

int bb_rl_take(struct bb_rl *rl, const char *key, uint64_t per_min, uint64_t burst,
                 uint64_t now_ms, uint64_t *retry_after_s)
{
    pthread_mutex_lock(&rl->mu);
    size_t slot = (size_t)(hash(key) % rl->nslots);
    struct bucket *b = rl->tab[slot];
    while (b && strcmp(b->key, key) != 0)
        b = b->next;
    if (!b) {
        if (rl->n >= rl->max) evict(rl, now_ms);
        size_t kl = strlen(key);
        b = malloc(sizeof *b + kl + 1);
        if (!b) {
            pthread_mutex_unlock(&rl->mu);
            return 0; /* fail open on OOM: the limiter is a shield, not a gate */
        }
        memcpy(b->key, key, kl + 1);
        b->tokens = (double)burst;
        b->last_ms = now_ms;
        b->next = rl->tab[slot];
        rl->tab[slot] = b;
        rl->n++;
    }
    b->per_min = per_min;
    b->burst = burst;
    refill(b, now_ms);
    int rc = 0;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double need_ms = (1.0 - b->tokens) * 60000.0 / (double)per_min;
        uint64_t s = (uint64_t)((need_ms + 999.0) / 1000.0);
        if (s < 1) s = 1;
        *retry_after_s = s;
        rc = BB_ELIMIT;
    }
    pthread_mutex_unlock(&rl->mu);
    return rc;
}
