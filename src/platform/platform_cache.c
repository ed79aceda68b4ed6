/* platform_cache.c — the in-memory view of what the resolver and the authorizer need without
 * blocking: project keys and personal access tokens (by the SHA-256 of their value) and project
 * memberships.
 *
 * The view is an immutable snapshot (sorted arrays, binary search) swapped under a rwlock. Every
 * mutation of platform_keys, platform_tokens or platform_members bumps platform_version in the
 * same transaction; the process that made it reloads at once (plat_cache_reload) and every process
 * polls the version every BUNBASE_PLATFORM_SYNC_MS (default 500 ms) and reloads when it moved. So a
 * revoke or regenerate is seen at once here and within one poll interval (+ a reload) elsewhere.
 * A reload reads the version and the rows in one REPEATABLE READ transaction, and a snapshot never
 * replaces a newer one. Revoked keys and tokens stay in the view for 7 days, so that presenting
 * one says "revoked" rather than "unknown".
 */
#include "platform_internal.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_pg.h"
#include "bb_service.h"
#include "bun_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HASH_HEX 65
#define UID_CAP (BUN_AUTH_ID_MAX + 1)

struct kent {
    char hash[HASH_HEX];
    char project_id[BB_ID_LEN + 1];
    int kind; /* BB_IDENTITY_PROJECT_KEY_PUBLIC / _SECRET */
    int revoked;
};

struct tent {
    char hash[HASH_HEX];
    char uid[UID_CAP];
    uint64_t scopes;
    int64_t expires_ms; /* 0: never */
    int revoked;
};

struct ment {
    char project_id[BB_ID_LEN + 1];
    char uid[UID_CAP];
    int role;
};

struct snap {
    uint64_t version;
    struct kent *keys;
    size_t nkeys;
    struct tent *toks;
    size_t ntoks;
    struct ment *mem;
    size_t nmem;
};

struct plat_cache {
    struct bb_runtime *rt;
    uint64_t sync_ms;
    pthread_rwlock_t lock;
    struct snap *cur;
    pthread_mutex_t mu; /* stop flag + cond */
    pthread_cond_t cond;
    int stop;
    int thread_on;
    pthread_t thread;
    pthread_mutex_t reload_mu; /* one reload at a time */
    uint64_t last_ok_ms;       /* wall clock of the last successful poll or reload; under lock */
    /* hashes of PATs used since the last flush (last_used_at), best effort: at most TOUCH_MAX */
    pthread_mutex_t touch_mu;
    char touched[1024][HASH_HEX];
    size_t ntouched;
};

#define TOUCH_MAX 1024

/* Records that the PAT with this hash was used (resolver: loop thread; cheap). */
static void touch(struct plat_cache *c, const char *hash)
{
    pthread_mutex_lock(&c->touch_mu);
    size_t i = 0;
    while (i < c->ntouched && strcmp(c->touched[i], hash) != 0)
        i++;
    if (i == c->ntouched && c->ntouched < TOUCH_MAX)
        memcpy(c->touched[c->ntouched++], hash, HASH_HEX);
    pthread_mutex_unlock(&c->touch_mu);
}

/* Writes last_used_at of the PATs used since the last call (poller thread). */
static void flush_touched(struct plat_cache *c, PGconn *conn)
{
    char *arr = NULL;
    pthread_mutex_lock(&c->touch_mu);
    size_t n = c->ntouched;
    if (n) {
        arr = malloc(n * HASH_HEX + 3);
        if (arr) {
            size_t o = 0;
            arr[o++] = '{';
            for (size_t i = 0; i < n; i++) {
                if (i) arr[o++] = ',';
                memcpy(arr + o, c->touched[i], HASH_HEX - 1);
                o += HASH_HEX - 1;
            }
            arr[o++] = '}';
            arr[o] = '\0';
        }
        c->ntouched = 0;
    }
    pthread_mutex_unlock(&c->touch_mu);
    if (!arr) return;
    const char *prm[1] = {arr};
    PGresult *r = PQexecParams(conn,
                               "UPDATE platform_tokens SET last_used_at = now() WHERE token_hash = "
                               "ANY($1::text[])",
                               1, NULL, prm, NULL, NULL, 0);
    PQclear(r);
    free(arr);
}

static void mark_ok(struct plat_cache *c)
{
    pthread_rwlock_wrlock(&c->lock);
    c->last_ok_ms = bb_time_wall_ms();
    pthread_rwlock_unlock(&c->lock);
}

uint64_t plat_cache_last_ok_ms(struct plat_cache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    uint64_t v = c->last_ok_ms;
    pthread_rwlock_unlock(&c->lock);
    return v;
}

static void snap_free(struct snap *s)
{
    if (!s) return;
    free(s->keys);
    free(s->toks);
    free(s->mem);
    free(s);
}

static int cmp_k(const void *a, const void *b)
{
    return strcmp(((const struct kent *)a)->hash, ((const struct kent *)b)->hash);
}
static int cmp_t(const void *a, const void *b)
{
    return strcmp(((const struct tent *)a)->hash, ((const struct tent *)b)->hash);
}
static int cmp_m(const void *a, const void *b)
{
    const struct ment *x = a, *y = b;
    int c = strcmp(x->project_id, y->project_id);
    return c ? c : strcmp(x->uid, y->uid);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Loads a fresh snapshot through conn. */
static int load(PGconn *conn, struct snap **out)
{
    struct snap *s = calloc(1, sizeof *s);
    if (!s) return BB_ENOMEM;
    int rc = BB_EIO;
    PGresult *r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) goto out;
    PQclear(r);
    r = PQexec(conn, "SELECT v FROM platform_version WHERE id = 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) goto out;
    s->version = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = PQexec(conn, "SELECT key_hash, project_id, kind, revoked_at IS NOT NULL FROM platform_keys "
                     "WHERE revoked_at IS NULL OR revoked_at > now() - interval '7 days'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto out;
    s->nkeys = (size_t)PQntuples(r);
    s->keys = calloc(s->nkeys + 1, sizeof *s->keys);
    if (!s->keys) goto nomem;
    for (size_t i = 0; i < s->nkeys; i++) {
        copy(s->keys[i].hash, HASH_HEX, PQgetvalue(r, (int)i, 0));
        copy(s->keys[i].project_id, sizeof s->keys[i].project_id, PQgetvalue(r, (int)i, 1));
        s->keys[i].kind = strcmp(PQgetvalue(r, (int)i, 2), "sk") == 0
                              ? BB_IDENTITY_PROJECT_KEY_SECRET
                              : BB_IDENTITY_PROJECT_KEY_PUBLIC;
        s->keys[i].revoked = PQgetvalue(r, (int)i, 3)[0] == 't';
    }
    PQclear(r);
    r = PQexec(conn, "SELECT token_hash, user_id, scopes, "
                     "COALESCE((extract(epoch FROM expires_at) * 1000)::bigint, 0), "
                     "revoked_at IS NOT NULL FROM platform_tokens "
                     "WHERE revoked_at IS NULL OR revoked_at > now() - interval '7 days'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto out;
    s->ntoks = (size_t)PQntuples(r);
    s->toks = calloc(s->ntoks + 1, sizeof *s->toks);
    if (!s->toks) goto nomem;
    for (size_t i = 0; i < s->ntoks; i++) {
        copy(s->toks[i].hash, HASH_HEX, PQgetvalue(r, (int)i, 0));
        copy(s->toks[i].uid, UID_CAP, PQgetvalue(r, (int)i, 1));
        s->toks[i].scopes = (uint64_t)strtoll(PQgetvalue(r, (int)i, 2), NULL, 10);
        s->toks[i].expires_ms = strtoll(PQgetvalue(r, (int)i, 3), NULL, 10);
        s->toks[i].revoked = PQgetvalue(r, (int)i, 4)[0] == 't';
    }
    PQclear(r);
    r = PQexec(conn, "SELECT project_id, user_id, role FROM platform_members");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) goto out;
    s->nmem = (size_t)PQntuples(r);
    s->mem = calloc(s->nmem + 1, sizeof *s->mem);
    if (!s->mem) goto nomem;
    for (size_t i = 0; i < s->nmem; i++) {
        copy(s->mem[i].project_id, sizeof s->mem[i].project_id, PQgetvalue(r, (int)i, 0));
        copy(s->mem[i].uid, UID_CAP, PQgetvalue(r, (int)i, 1));
        s->mem[i].role = plat_role_parse(PQgetvalue(r, (int)i, 2));
    }
    PQclear(r);
    r = PQexec(conn, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) goto out;
    PQclear(r);
    r = NULL;
    qsort(s->keys, s->nkeys, sizeof *s->keys, cmp_k);
    qsort(s->toks, s->ntoks, sizeof *s->toks, cmp_t);
    qsort(s->mem, s->nmem, sizeof *s->mem, cmp_m);
    *out = s;
    return 0;
nomem:
    rc = BB_ENOMEM;
out:
    if (rc == BB_EIO) bb_warn("platform", "cache load failed: %s", PQerrorMessage(conn));
    PQclear(r);
    r = PQexec(conn, "ROLLBACK");
    PQclear(r);
    snap_free(s);
    return rc;
}

static void install(struct plat_cache *c, struct snap *s)
{
    pthread_rwlock_wrlock(&c->lock);
    struct snap *old = c->cur;
    if (old && old->version > s->version) { /* never go back */
        pthread_rwlock_unlock(&c->lock);
        snap_free(s);
        return;
    }
    c->cur = s;
    pthread_rwlock_unlock(&c->lock);
    snap_free(old);
}

static int reload_with(struct plat_cache *c, PGconn *conn)
{
    struct snap *s = NULL;
    pthread_mutex_lock(&c->reload_mu);
    int rc = load(conn, &s);
    if (rc == 0) install(c, s);
    if (rc == 0) mark_ok(c);
    pthread_mutex_unlock(&c->reload_mu);
    return rc;
}

int plat_cache_reload_with(struct plat_cache *c, PGconn *conn)
{
    return reload_with(c, conn);
}

int plat_cache_reload(struct plat_cache *c)
{
    PGconn *conn = NULL;
    int rc = bb_pg_pool_acquire(c->rt->pg, &conn, 10000);
    if (rc) return rc;
    rc = reload_with(c, conn);
    bb_pg_pool_release(c->rt->pg, conn);
    return rc;
}

uint64_t plat_cache_version(struct plat_cache *c)
{
    pthread_rwlock_rdlock(&c->lock);
    uint64_t v = c->cur ? c->cur->version : 0;
    pthread_rwlock_unlock(&c->lock);
    return v;
}

static void *poller(void *arg)
{
    struct plat_cache *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        bb_time_deadline(CLOCK_REALTIME, c->sync_ms, &ts);
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        PGconn *conn = NULL;
        if (bb_pg_pool_acquire(c->rt->pg, &conn, 1000) == 0) {
            PGresult *r = PQexec(conn, "SELECT v FROM platform_version WHERE id = 1");
            if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
                uint64_t v = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
                if (v != plat_cache_version(c))
                    reload_with(c, conn);
                else
                    mark_ok(c);
            }
            PQclear(r);
            flush_touched(c, conn);
            bb_pg_pool_release(c->rt->pg, conn);
        }
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int plat_cache_new(struct bb_runtime *rt, uint64_t sync_ms, struct plat_cache **out, char *err,
                   size_t errcap)
{
    struct plat_cache *c = calloc(1, sizeof *c);
    if (!c) return BB_ENOMEM;
    c->rt = rt;
    c->sync_ms = sync_ms;
    pthread_rwlock_init(&c->lock, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->reload_mu, NULL);
    pthread_mutex_init(&c->touch_mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    int rc = plat_cache_reload(c);
    if (rc == 0 && pthread_create(&c->thread, NULL, poller, c) != 0) rc = BB_ENOMEM;
    if (rc) {
        snprintf(err, errcap, "platform: cannot load the key/token/member cache: %s",
                 bb_strerror(rc));
        c->thread_on = 0;
        plat_cache_free(c);
        return rc;
    }
    c->thread_on = 1;
    *out = c;
    return 0;
}

void plat_cache_free(struct plat_cache *c)
{
    if (!c) return;
    if (c->thread_on) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    snap_free(c->cur);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->reload_mu);
    pthread_mutex_destroy(&c->touch_mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* ---------------------------------------------------------------- lookups */

int plat_cache_role(struct plat_cache *c, const char *project_id, size_t plen, const char *uid)
{
    if (plen == 0 || plen > BB_ID_LEN || !uid) return -1;
    struct ment key;
    memcpy(key.project_id, project_id, plen);
    key.project_id[plen] = '\0';
    copy(key.uid, UID_CAP, uid);
    int role = -1;
    pthread_rwlock_rdlock(&c->lock);
    const struct ment *m =
        c->cur ? bsearch(&key, c->cur->mem, c->cur->nmem, sizeof key, cmp_m) : NULL;
    if (m) role = m->role;
    pthread_rwlock_unlock(&c->lock);
    return role;
}

int plat_cache_key(struct plat_cache *c, const char *raw, char project_id[BB_ID_LEN + 1], int *kind)
{
    struct kent key;
    bb_sha256_hex(raw, strlen(raw), key.hash);
    int rc = BB_ENOTFOUND;
    pthread_rwlock_rdlock(&c->lock);
    const struct kent *k =
        c->cur ? bsearch(&key, c->cur->keys, c->cur->nkeys, sizeof key, cmp_k) : NULL;
    if (k) {
        rc = k->revoked ? BB_EAUTH : 0;
        memcpy(project_id, k->project_id, BB_ID_LEN + 1);
        *kind = k->kind;
    }
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

int plat_cache_pat(struct plat_cache *c, const char *raw, char *uid, size_t uidcap,
                   uint64_t *scopes)
{
    struct tent key;
    bb_sha256_hex(raw, strlen(raw), key.hash);
    int rc = BB_ENOTFOUND;
    pthread_rwlock_rdlock(&c->lock);
    const struct tent *t =
        c->cur ? bsearch(&key, c->cur->toks, c->cur->ntoks, sizeof key, cmp_t) : NULL;
    if (t) {
        if (t->revoked)
            rc = BB_EAUTH;
        else if (t->expires_ms && (int64_t)bb_time_wall_ms() >= t->expires_ms)
            rc = BB_ETIMEDOUT;
        else
            rc = 0;
        copy(uid, uidcap, t->uid);
        *scopes = t->scopes;
    }
    pthread_rwlock_unlock(&c->lock);
    if (rc == 0) touch(c, key.hash);
    return rc;
}

/* ---------------------------------------------------------------- resolver */

static int bearer_of(const struct bb_http_request *req, const char **tok)
{
    const char *a = bb_http_header(req, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) return 0;
    a += 7;
    while (*a == ' ')
        a++;
    *tok = a;
    return 1;
}

static int key_identity(struct platform *p, const char *raw, struct bb_identity *out,
                        struct bb_identity_reject *why, int want_kind)
{
    char pid[BB_ID_LEN + 1];
    int kind = 0;
    if (strlen(raw) > 128) {
        why->code = "invalid_key", why->msg = "invalid project key";
        return BB_EAUTH;
    }
    int rc = plat_cache_key(p->cache, raw, pid, &kind);
    if (rc == 0 && want_kind && kind != want_kind) rc = BB_ENOTFOUND;
    if (rc == BB_EAUTH) {
        why->code = "key_revoked", why->msg = "this project key was revoked";
        return BB_EAUTH;
    }
    if (rc) {
        why->code = "invalid_key", why->msg = "invalid project key";
        return BB_EAUTH;
    }
    out->kind = (enum bb_identity_kind)kind;
    _Static_assert(sizeof out->project_id >= BB_ID_LEN + 1, "a project id fits the identity");
    memcpy(out->project_id, pid, BB_ID_LEN + 1); /* NUL-terminated by plat_cache_key */
    return 0;
}

int plat_resolve(void *arg, const struct bb_http_request *req, struct bb_identity *out,
                 struct bb_identity_reject *why)
{
    struct platform *p = arg;
    const char *tok = NULL;
    if (bearer_of(req, &tok)) {
        if (!strncmp(tok, "bbp_", 4)) {
            char uid[UID_CAP];
            uint64_t scopes = 0;
            int rc = strlen(tok) > 128 ? BB_ENOTFOUND
                                       : plat_cache_pat(p->cache, tok, uid, sizeof uid, &scopes);
            if (rc == BB_ETIMEDOUT) {
                why->code = "token_expired", why->msg = "this personal access token has expired";
                return BB_EAUTH;
            }
            if (rc == BB_EAUTH) {
                why->code = "token_revoked", why->msg = "this personal access token was revoked";
                return BB_EAUTH;
            }
            if (rc) {
                why->code = "invalid_token", why->msg = "invalid personal access token";
                return BB_EAUTH;
            }
            out->uid = strdup(uid);
            if (!out->uid) return BB_ENOMEM;
            out->kind = BB_IDENTITY_PAT;
            out->scopes = scopes;
            return 0;
        }
        if (!strncmp(tok, "bbf_", 4)) { /* a function's project token (bun_auth.h) */
            int64_t exp = 0;
            int rc = bun_auth_project_token_verify(p->rt->internal_token, tok,
                                                   (int64_t)bb_time_wall_ms(), out->project_id,
                                                   sizeof out->project_id, &exp);
            if (rc == BB_ETIMEDOUT) {
                out->project_id[0] = '\0';
                why->code = "token_expired", why->msg = "this project token has expired";
                return BB_EAUTH;
            }
            if (rc) {
                out->project_id[0] = '\0';
                why->code = "invalid_token", why->msg = "invalid project token";
                return BB_EAUTH;
            }
            out->kind = BB_IDENTITY_PROJECT_TOKEN;
            return 0;
        }
        if (!strncmp(tok, "sk_", 3))
            return key_identity(p, tok, out, why, BB_IDENTITY_PROJECT_KEY_SECRET);
        if (!strncmp(tok, "pk_", 3)) {
            why->code = "invalid_key";
            why->msg = "send a publishable key as X-Bunbase-Client-Key, not as a bearer token";
            return BB_EAUTH;
        }
        return BB_ENOTFOUND; /* a JWT or the internal token: another resolver's */
    }
    const char *ck = bb_http_header(req, "X-Bunbase-Client-Key");
    if (ck && *ck) {
        if (!strncmp(ck, "pk_", 3) || !strncmp(ck, "sk_", 3))
            return key_identity(p, ck, out, why, 0);
        why->code = "invalid_key", why->msg = "X-Bunbase-Client-Key must be a pk_ or sk_ key";
        return BB_EAUTH;
    }
    if (req->query && req->route &&
        (req->route->flags & (BB_ROUTE_STREAM | BB_ROUTE_QUERY_KEY)) &&
        !strcmp(req->method, "GET")) {
        char buf[160];
        const char *k = bb_http_query(req, "key", buf, sizeof buf);
        if (k && !strncmp(k, "pk_", 3))
            return key_identity(p, k, out, why, BB_IDENTITY_PROJECT_KEY_PUBLIC);
        if (k) {
            why->code = "invalid_key",
            why->msg = "only a publishable key (pk_) may be sent as ?key=";
            return BB_EAUTH;
        }
    }
    return BB_ENOTFOUND;
}
