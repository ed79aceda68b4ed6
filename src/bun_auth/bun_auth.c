/* bun_auth.c — the bun-auth service: lifecycle, health, GET /.well-known/jwks.json, the
 * resolver's registration and the sync thread that keeps the session table and the key ring in
 * step with PostgreSQL. Accounts and sessions are in ba_accounts.c, keys and tokens in ba_jwt.c.
 * Design notes: docs/internals/bun-auth.md.
 */
#include "ba_int.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_migrations.h"
#include "bb_pg.h"
#include "bb_service.h"
#include "bb_time.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ba_now(const struct bun_auth *a)
{
    return (int64_t)time(NULL) + atomic_load(&((struct bun_auth *)a)->clock_offset);
}

void bun_auth_test_clock_offset(struct bun_auth *a, int64_t s)
{
    atomic_store(&a->clock_offset, s);
}

/* ------------------------------------------------------------------ sync */

int bun_auth_sync_now(struct bun_auth *a)
{
    PGconn *c = NULL;
    int rc = bb_pg_pool_acquire(a->pg, &c, 2000);
    if (rc) return rc;
    uint64_t start = bb_time_mono_ms();
    /* every session that may still be presented: live ones, and revoked ones for as long as an
     * access token issued before the revocation can be unexpired (then a token whose sid is not
     * in the table cannot be one of theirs) */
    char keep[32];
    /* exp <= revocation + ttl, refused once now > exp + leeway; the leeway also bounds the skew
     * between our clock and PostgreSQL's */
    snprintf(keep, sizeof keep, "%lld", (long long)(a->c.access_ttl + 3 * a->c.leeway + 1));
    const char *p[1] = {keep};
    PGresult *r = PQexecParams(
        c,
        "SELECT s.id, s.user_id, u.email, encode(s.token_hash, 'hex'), extract(epoch FROM "
        "s.expires_at)::bigint, s.revoked_at IS NOT NULL FROM bun_auth_sessions s JOIN "
        "bun_auth_users u ON u.id = s.user_id WHERE s.expires_at > now() AND (s.revoked_at IS "
        "NULL OR s.revoked_at > now() - make_interval(secs => $1::bigint))",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        bb_pg_pool_release(a->pg, c);
        return BB_EIO;
    }
    uint64_t gen = ++a->sync_gen; /* only the sync thread (or a test) calls this */
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        struct ba_sess s;
        memset(&s, 0, sizeof s);
        snprintf(s.id, sizeof s.id, "%s", PQgetvalue(r, i, 0));
        snprintf(s.user_id, sizeof s.user_id, "%s", PQgetvalue(r, i, 1));
        snprintf(s.email, sizeof s.email, "%s", PQgetvalue(r, i, 2));
        size_t hl = 0;
        if (bb_hex_decode(PQgetvalue(r, i, 3), strlen(PQgetvalue(r, i, 3)), s.token_hash,
                          sizeof s.token_hash, &hl) != 0 ||
            hl != BB_SHA256_LEN)
            continue;
        s.expires_at = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        s.revoked = PQgetvalue(r, i, 5)[0] == 't';
        if (ba_table_put(&a->table, &s, gen) != 0) break;
    }
    PQclear(r);
    ba_table_sweep(&a->table, ba_now(a), gen, start);
    rc = ba_keys_sync(a, c);
    bb_pg_pool_release(a->pg, c);
    return rc;
}

int bun_auth_touch_flush(struct bun_auth *a)
{
    struct ba_touch *t = calloc(BA_TOUCH_SLOTS, sizeof *t);
    if (!t) return BB_ENOMEM;
    pthread_mutex_lock(&a->vmu);
    memcpy(t, a->touch, BA_TOUCH_SLOTS * sizeof *t);
    memset(a->touch, 0, BA_TOUCH_SLOTS * sizeof *t);
    pthread_mutex_unlock(&a->vmu);
    /* two Postgres arrays: {id,…} and {unix_s,…} (ids are ULIDs: no quoting needed) */
    size_t cap = BA_TOUCH_SLOTS * (BUN_AUTH_ID_MAX + 2) + 3, ocap = BA_TOUCH_SLOTS * 22 + 3;
    char *ids = malloc(cap), *ats = malloc(ocap);
    int rc = ids && ats ? 0 : BB_ENOMEM;
    size_t n = 0, io = 0, ao = 0;
    if (rc == 0) {
        ids[io++] = '{';
        ats[ao++] = '{';
        for (size_t i = 0; i < BA_TOUCH_SLOTS; i++) {
            if (!t[i].at ||
                strspn(t[i].sid, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != strlen(t[i].sid))
                continue;
            io += (size_t)snprintf(ids + io, cap - io, "%s%s", n ? "," : "", t[i].sid);
            ao += (size_t)snprintf(ats + ao, ocap - ao, "%s%lld", n ? "," : "", (long long)t[i].at);
            n++;
        }
        snprintf(ids + io, cap - io, "}");
        snprintf(ats + ao, ocap - ao, "}");
    }
    if (rc == 0 && n > 0) {
        PGconn *c = NULL;
        rc = bb_pg_pool_acquire(a->pg, &c, 2000);
        if (rc == 0) {
            const char *p[2] = {ids, ats};
            PGresult *r = PQexecParams(
                c,
                "UPDATE bun_auth_sessions s SET last_used_at = greatest(s.last_used_at, "
                "to_timestamp(t.at)) FROM unnest($1::text[], $2::bigint[]) AS t(id, at) WHERE "
                "s.id = t.id",
                2, NULL, p, NULL, NULL, 0);
            rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : BB_EIO;
            PQclear(r);
            bb_pg_pool_release(a->pg, c);
        }
    }
    free(ids);
    free(ats);
    free(t);
    return rc;
}

/* Once in a while: sessions expired for a day go (their refresh tokens cascade). */
static void cleanup(struct bun_auth *a)
{
    PGconn *c = NULL;
    if (bb_pg_pool_acquire(a->pg, &c, 2000) != 0) return;
    PGresult *r = PQexec(c, "DELETE FROM bun_auth_sessions WHERE expires_at < now() - interval "
                            "'1 day'");
    PQclear(r);
    bb_pg_pool_release(a->pg, c);
}

static void *sync_main(void *arg)
{
    struct bun_auth *a = arg;
    uint64_t n = 0, last_touch = bb_time_wall_ms();
    pthread_mutex_lock(&a->sync_mu);
    while (!a->sync_stop) {
        struct timespec ts;
        bb_time_deadline(CLOCK_MONOTONIC, a->c.sync_ms, &ts);
        pthread_cond_timedwait(&a->sync_cv, &a->sync_mu, &ts);
        if (a->sync_stop) break;
        pthread_mutex_unlock(&a->sync_mu);
        int rc = bun_auth_sync_now(a);
        if (rc == 0) {
            atomic_store(&a->last_sync_ok_ms, bb_time_wall_ms());
        } else if (atomic_fetch_add(&a->sync_failures, 1) % 60 == 0) {
            bb_warn(BA_MOD, "sync_failed err=%s", bb_err_code(rc));
        }
        if (a->c.key_rotate > 0) {
            int64_t created;
            pthread_rwlock_rdlock(&a->klock);
            created = a->nkeys ? a->keys[0].created_at : 0;
            pthread_rwlock_unlock(&a->klock);
            if (created && ba_now(a) - created >= a->c.key_rotate) bun_auth_rotate_key(a, NULL, 0);
        }
        if (++n % 600 == 1) cleanup(a);
        uint64_t wall = bb_time_wall_ms();
        if (wall - last_touch >= 60000) {
            last_touch = wall;
            bun_auth_touch_flush(a);
        }
        pthread_mutex_lock(&a->sync_mu);
    }
    pthread_mutex_unlock(&a->sync_mu);
    return NULL;
}

/* ------------------------------------------------------------------ construction */

#define ROW(F, ENV, T, DFLT, MIN, MAX, HELP, CH)                                                   \
    BB_KNOB_ROW(struct bun_auth_knobs, F, ENV, NULL, T, DFLT, MIN, MAX, HELP, CH)
static const struct bb_knob ba_knobs[] = {
    ROW(argon2_opslimit, "BUNBASE_BUN_AUTH_ARGON2_OPSLIMIT", BB_KNOB_U64, "2", 1, 64,
     "bun-auth: Argon2id passes per password hash (libsodium opslimit)", NULL),
    ROW(argon2_memlimit_kib, "BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB", BB_KNOB_U64, "65536", 8,
     4194304, "bun-auth: Argon2id memory per password hash, KiB", NULL),
    ROW(password_min, "BUNBASE_BUN_AUTH_PASSWORD_MIN", BB_KNOB_U64, "8", 1, 1024,
     "bun-auth: shortest accepted password, bytes", NULL),
    ROW(password_max, "BUNBASE_BUN_AUTH_PASSWORD_MAX", BB_KNOB_U64, "256", 8, 4096,
     "bun-auth: longest accepted password, bytes", NULL),
    ROW(access_ttl_s, "BUNBASE_BUN_AUTH_ACCESS_TTL_S", BB_KNOB_U64, "900", 1, 86400,
     "bun-auth: lifetime of an access token (JWT), seconds", NULL),
    ROW(refresh_ttl_s, "BUNBASE_BUN_AUTH_REFRESH_TTL_S", BB_KNOB_U64, "2592000", 1,
     31536000, "bun-auth: lifetime of a refresh token, seconds (never past its session)", NULL),
    ROW(session_ttl_s, "BUNBASE_BUN_AUTH_SESSION_TTL_S", BB_KNOB_U64, "2592000", 1, 31536000,
     "bun-auth: lifetime of a session and its dashboard session token, seconds", NULL),
    ROW(leeway_s, "BUNBASE_BUN_AUTH_LEEWAY_S", BB_KNOB_U64, "30", 0, 600,
     "bun-auth: clock skew tolerated on a token's exp/iat, seconds", NULL),
    ROW(key_grace_s, "BUNBASE_BUN_AUTH_KEY_GRACE_S", BB_KNOB_U64, "3600", 0, 31536000,
     "bun-auth: how long a rotated-out signing key still verifies tokens, seconds", NULL),
    ROW(key_rotate_s, "BUNBASE_BUN_AUTH_KEY_ROTATE_S", BB_KNOB_U64, "0", 0, 31536000,
     "bun-auth: rotate the signing key automatically at this age, seconds; 0: only on request", NULL),
    ROW(sync_ms, "BUNBASE_BUN_AUTH_SYNC_MS", BB_KNOB_U64, "1000", 10, 3600000,
     "bun-auth: how often the in-memory session table is refreshed from PostgreSQL", NULL),
    ROW(max_sessions, "BUNBASE_BUN_AUTH_MAX_SESSIONS", BB_KNOB_U64, "50", 1, 100000,
     "bun-auth: live sessions per developer; a login past it revokes the oldest", NULL),
    ROW(issuer, "BUNBASE_BUN_AUTH_ISSUER", BB_KNOB_STR, "bunbase", 0, 0,
     "bun-auth: the iss claim of access tokens", NULL),
    ROW(audience, "BUNBASE_BUN_AUTH_AUDIENCE", BB_KNOB_STR, "bunbase-api", 0, 0,
     "bun-auth: the aud claim of access tokens", NULL),
    BB_KNOBS_END,
};
#undef ROW

int bun_auth_new(const struct bun_auth_opts *o, struct bun_auth **out, char *err, size_t errcap)
{
    const struct bb_config *cfg = o->cfg;
    struct bun_auth_knobs kn;
    int krc = bb_knobs_load(ba_knobs, bb_knobs_count(ba_knobs), &kn, err, errcap);
    if (krc) return krc;
    const struct bun_auth_knobs *k = &kn;
    if (k->password_min > k->password_max) {
        snprintf(err, errcap, "BUNBASE_BUN_AUTH_PASSWORD_MIN is larger than _PASSWORD_MAX");
        return BB_EINVAL;
    }
    if (!k->issuer[0] || !k->audience[0]) {
        snprintf(err, errcap, "BUNBASE_BUN_AUTH_ISSUER and _AUDIENCE must not be empty");
        return BB_EINVAL;
    }
    if (sodium_init() < 0) {
        snprintf(err, errcap, "bun-auth: libsodium failed to initialise");
        return BB_EINTERNAL;
    }
    struct bun_auth *a = calloc(1, sizeof *a);
    if (!a) return BB_ENOMEM;
    a->pg = o->pg;
    a->kms = o->kms;
    a->c.opslimit = k->argon2_opslimit;
    a->c.memlimit = (size_t)k->argon2_memlimit_kib * 1024u;
    a->c.password_min = k->password_min;
    a->c.password_max = k->password_max;
    a->c.access_ttl = (int64_t)k->access_ttl_s;
    a->c.refresh_ttl = (int64_t)k->refresh_ttl_s;
    a->c.session_ttl = (int64_t)k->session_ttl_s;
    a->c.leeway = (int64_t)k->leeway_s;
    a->c.key_grace = (int64_t)k->key_grace_s;
    a->c.key_rotate = (int64_t)k->key_rotate_s;
    a->c.sync_ms = k->sync_ms;
    a->c.max_sessions = (size_t)k->max_sessions;
    _Static_assert(sizeof a->c.issuer == sizeof k->issuer, "issuer fits");
    _Static_assert(sizeof a->c.audience == sizeof k->audience, "audience fits");
    memcpy(a->c.issuer, k->issuer, sizeof a->c.issuer);
    memcpy(a->c.audience, k->audience, sizeof a->c.audience);
    snprintf(a->dir, sizeof a->dir, "%s/bun_auth", cfg->data_dir);
    pthread_rwlock_init(&a->klock, NULL);
    pthread_mutex_init(&a->rotate_mu, NULL);
    pthread_mutex_init(&a->sync_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->sync_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&a->vmu, NULL);
    a->vcache = calloc(BA_VCACHE_SLOTS, sizeof *a->vcache);
    a->touch = calloc(BA_TOUCH_SLOTS, sizeof *a->touch);
    int rc = a->vcache && a->touch ? ba_table_init(&a->table) : BB_ENOMEM;
    if (rc) {
        free(a->vcache);
        free(a->touch);
        free(a);
        return rc;
    }
    /* the hash unknown emails are checked against, so that a login costs the same either way */
    uint8_t junk[32];
    char pw[sizeof junk * 2 + 1];
    bb_random_bytes(junk, sizeof junk);
    bb_hex_encode(junk, sizeof junk, pw, sizeof pw);
    if (crypto_pwhash_str_alg(a->dummy_hash, pw, strlen(pw), a->c.opslimit, a->c.memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        snprintf(err, errcap,
                 "bun-auth: Argon2id failed (BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB "
                 "too large for this machine?)");
        rc = BB_ENOMEM;
        goto fail;
    }
    rc = ba_keys_load(a, err, errcap);
    if (rc) goto fail;
    if (a->pg) {
        if (ba_keys_publish(a) != 0) bb_warn(BA_MOD, "key_publish_failed");
        rc = bun_auth_sync_now(a);
        if (rc) {
            snprintf(err, errcap, "bun-auth: cannot load sessions from PostgreSQL: %s",
                     bb_strerror(rc));
            goto fail;
        }
        atomic_store(&a->last_sync_ok_ms, bb_time_wall_ms());
    }
    if (o->sync_thread && a->pg) {
        if (pthread_create(&a->sync_thread, NULL, sync_main, a) != 0) {
            snprintf(err, errcap, "bun-auth: cannot start the sync thread");
            rc = BB_ENOMEM;
            goto fail;
        }
        a->sync_running = 1;
    }
    *out = a;
    return 0;
fail:
    ba_keys_free(a);
    ba_table_release(&a->table);
    free(a->vcache);
    free(a->touch);
    pthread_rwlock_destroy(&a->klock);
    free(a);
    return rc;
}

void bun_auth_free(struct bun_auth *a)
{
    if (!a) return;
    if (a->sync_running) {
        pthread_mutex_lock(&a->sync_mu);
        a->sync_stop = 1;
        pthread_cond_signal(&a->sync_cv);
        pthread_mutex_unlock(&a->sync_mu);
        pthread_join(a->sync_thread, NULL);
    }
    ba_keys_free(a);
    ba_table_release(&a->table);
    if (a->touch && a->pg) bun_auth_touch_flush(a); /* the last minute's uses */
    free(a->vcache);
    free(a->touch);
    pthread_mutex_destroy(&a->vmu);
    pthread_rwlock_destroy(&a->klock);
    pthread_mutex_destroy(&a->rotate_mu);
    pthread_mutex_destroy(&a->sync_mu);
    pthread_cond_destroy(&a->sync_cv);
    sodium_memzero(a, sizeof *a);
    free(a);
}

/* ------------------------------------------------------------------ routes */

static void h_jwks(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_auth *a = req->ctx;
    json_t *j = NULL;
    int rc = bun_auth_jwks(a, &j);
    if (rc) {
        bb_http_reply_error(res, rc, NULL);
        return;
    }
    bb_http_reply_json(res, 200, j);
    bb_http_set_header(res, "Cache-Control", "public, max-age=60");
    json_decref(j);
}

static const struct bb_route routes[] = {
    {"GET", "/.well-known/jwks.json", h_jwks, BB_AUTH_NONE, 0, 0, "jwks"},
};

/* ------------------------------------------------------------------ service */

static int svc_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    if (!rt->pg) {
        snprintf(err, errcap, "bun-auth: needs PostgreSQL");
        return BB_EUNAVAIL;
    }
    /* bun-kms started before us when selected: then the signing keys live there */
    struct bun_auth_opts o = {.cfg = rt->cfg, .pg = rt->pg, .sync_thread = 1,
                              .kms = bb_host_service_state(rt->host, "bun-kms")};
    struct bun_auth *a = NULL;
    int rc = bun_auth_new(&o, &a, err, errcap);
    if (rc) return rc;
    rc = bb_host_mount(rt->host, "bun-auth", routes, sizeof routes / sizeof routes[0], a, NULL,
                       NULL, err, errcap);
    struct bb_identity_resolver res = {"bun-auth", bun_auth_resolve, a};
    if (rc == 0) rc = bb_router_add_resolver(bb_host_gateway_router(rt->host), &res);
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "bun-auth: %s", bb_strerror(rc));
        bun_auth_free(a);
        return rc;
    }
    char kid[BUN_AUTH_KID_MAX + 1];
    bb_info(BA_MOD, "started kid=%s sessions=%zu", ba_current_kid(a, kid, sizeof kid),
            ba_table_count(&a->table));
    *state = a;
    return 0;
}

static void svc_stop(void *state)
{
    bun_auth_free(state);
}

static int svc_health(void *state, json_t **detail)
{
    struct bun_auth *a = state;
    char kid[BUN_AUTH_KID_MAX + 1];
    size_t nkeys;
    pthread_rwlock_rdlock(&a->klock);
    nkeys = a->nkeys;
    pthread_rwlock_unlock(&a->klock);
    uint64_t last = atomic_load(&a->last_sync_ok_ms), now = bb_time_wall_ms();
    uint64_t age = last && now > last ? now - last : 0;
    /* stale when several syncs in a row failed: revocations by others are not seen */
    int stale = age > 5 * a->c.sync_ms + 2000;
    *detail = json_pack("{s:s,s:s,s:I,s:I,s:I}", "status", stale ? "degraded" : "ok", "kid",
                        ba_current_kid(a, kid, sizeof kid), "keys", (json_int_t)nkeys, "sessions",
                        (json_int_t)ba_table_count(&a->table), "sync_age_ms", (json_int_t)age);
    return stale ? BB_EUNAVAIL : 0;
}

const struct bb_service_def bb_bun_auth_service = {
    .name = "bun-auth",
    .start = svc_start,
    .stop = svc_stop,
    .health = svc_health,
    .migrations = bb_migrations_bun_auth,
    .nmigrations = &bb_migrations_bun_auth_count,
    .knobs = ba_knobs,
    .config_size = sizeof(struct bun_auth_knobs),
};
