/* ba_table.c — the in-memory session table the resolver reads without blocking.
 *
 * Two chained hash indexes over the same entries: by session id (JWT "sid" → revoked?) and by the
 * SHA-256 of the dashboard session token (cookie → user). Entries come from local changes at
 * once (login, logout, reuse detection) and from the sync thread (every BUNBASE_BUN_AUTH_SYNC_MS)
 * for changes made by other processes. Revocation is sticky: a sync that read PostgreSQL before a
 * local logout cannot bring the session back. An rwlock guards it; writers hold it for a table
 * walk at most, never across I/O.
 */
#include "ba_int.h"
#include "bb_err.h"
#include "bb_time.h"

#include <stdlib.h>
#include <string.h>

static uint64_t h_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static uint64_t h_hash(const uint8_t *b)
{
    uint64_t h;
    memcpy(&h, b, sizeof h); /* already uniformly distributed */
    return h;
}

int ba_table_init(struct ba_table *t)
{
    memset(t, 0, sizeof *t);
    t->nbuckets = 256;
    t->by_id = calloc(t->nbuckets, sizeof *t->by_id);
    t->by_hash = calloc(t->nbuckets, sizeof *t->by_hash);
    if (!t->by_id || !t->by_hash) {
        free(t->by_id);
        free(t->by_hash);
        return BB_ENOMEM;
    }
    pthread_rwlock_init(&t->lock, NULL);
    return 0;
}

void ba_table_release(struct ba_table *t)
{
    if (!t->by_id) return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct ba_sess *s = t->by_id[i];
        while (s) {
            struct ba_sess *n = s->next_id;
            free(s);
            s = n;
        }
    }
    free(t->by_id);
    free(t->by_hash);
    pthread_rwlock_destroy(&t->lock);
    memset(t, 0, sizeof *t);
}

static struct ba_sess *find_id(struct ba_table *t, const char *sid)
{
    for (struct ba_sess *s = t->by_id[h_str(sid) & (t->nbuckets - 1)]; s; s = s->next_id)
        if (!strcmp(s->id, sid)) return s;
    return NULL;
}

static void unlink_hash(struct ba_table *t, struct ba_sess *e)
{
    struct ba_sess **pp = &t->by_hash[h_hash(e->token_hash) & (t->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next_hash;
    if (*pp) *pp = e->next_hash;
}

static void grow(struct ba_table *t)
{
    size_t nb = t->nbuckets * 2;
    struct ba_sess **bi = calloc(nb, sizeof *bi), **bh = calloc(nb, sizeof *bh);
    if (!bi || !bh) { /* keep the old size: only slower */
        free(bi);
        free(bh);
        return;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct ba_sess *s = t->by_id[i];
        while (s) {
            struct ba_sess *n = s->next_id;
            size_t a = h_str(s->id) & (nb - 1), b = h_hash(s->token_hash) & (nb - 1);
            s->next_id = bi[a];
            bi[a] = s;
            s->next_hash = bh[b];
            bh[b] = s;
            s = n;
        }
    }
    free(t->by_id);
    free(t->by_hash);
    t->by_id = bi;
    t->by_hash = bh;
    t->nbuckets = nb;
}

int ba_table_put(struct ba_table *t, const struct ba_sess *in, uint64_t gen)
{
    pthread_rwlock_wrlock(&t->lock);
    struct ba_sess *e = find_id(t, in->id);
    if (e) {
        if (memcmp(e->token_hash, in->token_hash, BB_SHA256_LEN)) {
            unlink_hash(t, e);
            memcpy(e->token_hash, in->token_hash, BB_SHA256_LEN);
            size_t b = h_hash(e->token_hash) & (t->nbuckets - 1);
            e->next_hash = t->by_hash[b];
            t->by_hash[b] = e;
        }
        memcpy(e->user_id, in->user_id, sizeof e->user_id);
        memcpy(e->email, in->email, sizeof e->email);
        e->expires_at = in->expires_at;
        e->revoked = e->revoked || in->revoked;
        if (gen) e->seen_gen = gen;
        pthread_rwlock_unlock(&t->lock);
        return 0;
    }
    e = malloc(sizeof *e);
    if (!e) {
        pthread_rwlock_unlock(&t->lock);
        return BB_ENOMEM;
    }
    *e = *in;
    e->seen_gen = gen;
    e->added_ms = bb_time_mono_ms();
    if (t->count >= t->nbuckets) grow(t);
    size_t a = h_str(e->id) & (t->nbuckets - 1), b = h_hash(e->token_hash) & (t->nbuckets - 1);
    e->next_id = t->by_id[a];
    t->by_id[a] = e;
    e->next_hash = t->by_hash[b];
    t->by_hash[b] = e;
    t->count++;
    pthread_rwlock_unlock(&t->lock);
    return 0;
}

void ba_table_revoke(struct ba_table *t, const char *sid)
{
    pthread_rwlock_wrlock(&t->lock);
    struct ba_sess *e = find_id(t, sid);
    if (e) e->revoked = 1;
    pthread_rwlock_unlock(&t->lock);
}

void ba_table_revoke_user(struct ba_table *t, const char *user_id)
{
    pthread_rwlock_wrlock(&t->lock);
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct ba_sess *s = t->by_id[i]; s; s = s->next_id)
            if (!strcmp(s->user_id, user_id)) s->revoked = 1;
    pthread_rwlock_unlock(&t->lock);
}

void ba_table_sweep(struct ba_table *t, int64_t now, uint64_t gen, uint64_t since_ms)
{
    pthread_rwlock_wrlock(&t->lock);
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct ba_sess **pp = &t->by_id[i];
        while (*pp) {
            struct ba_sess *s = *pp;
            int drop = s->expires_at < now || (gen && s->seen_gen != gen && s->added_ms < since_ms);
            if (!drop) {
                pp = &s->next_id;
                continue;
            }
            *pp = s->next_id;
            unlink_hash(t, s);
            t->count--;
            free(s);
        }
    }
    pthread_rwlock_unlock(&t->lock);
}

int ba_table_get_by_hash(struct ba_table *t, const uint8_t hash[BB_SHA256_LEN], struct ba_sess *out)
{
    int rc = BB_ENOTFOUND;
    pthread_rwlock_rdlock(&t->lock);
    for (struct ba_sess *s = t->by_hash[h_hash(hash) & (t->nbuckets - 1)]; s; s = s->next_hash)
        if (bb_ct_equal(s->token_hash, hash, BB_SHA256_LEN)) {
            *out = *s;
            rc = 0;
            break;
        }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int ba_table_get_by_id(struct ba_table *t, const char *sid, struct ba_sess *out)
{
    pthread_rwlock_rdlock(&t->lock);
    struct ba_sess *s = find_id(t, sid);
    if (s) *out = *s;
    pthread_rwlock_unlock(&t->lock);
    return s ? 0 : BB_ENOTFOUND;
}

size_t ba_table_count(struct ba_table *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->count;
    pthread_rwlock_unlock(&t->lock);
    return n;
}
