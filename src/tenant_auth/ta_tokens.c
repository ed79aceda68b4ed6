/* ta_tokens.c — end-user access tokens: signed by bun-kms, verified here.
 *
 * Keys: one Ed25519 key per project in bun-kms (namespace = project id, name TA_KEY_NAME),
 * created on first use; tenant-auth acts as the platform (bun_kms_system_identity()). A rotation
 * makes a new version current; version v of the key retires when version v+1 is created and keeps
 * verifying for BUNBASE_TENANT_AUTH_KEY_GRACE_S after that (its kid leaves the JWKS then).
 *
 * Token: JWS compact, header {"alg":"EdDSA","typ":"JWT","kid":K}, payload
 *   {"iss": "<public url>/v1/projects/<pid>/auth", "aud": pid, "sub": uid, "sid": session id,
 *    "iat", "exp", "jti", "email"?, "email_verified", "anonymous"}
 * bun-kms signs the JWS signing input; the kid it answers is the version it used (if a rotation
 * raced with us the token is signed again under the new kid).
 *
 * The resolver (loop thread): a bearer (or the cookie tenant_session_token) that is a JWT whose
 * iss is one of ours ("<public url>/v1/projects/<aud>/auth") is ours; anything else is left to
 * the next resolver. It verifies with the project's public keys cached here (bb_jwt: EdDSA only,
 * never none/HS*), then iss, aud, exp/iat with leeway, a kid still in its grace, a session not
 * revoked and a user not disabled (as this process knows them: revocations made here are seen at
 * once; made by another process, within one access-token lifetime, which bounds every token).
 * A project's keys are loaded from bun-kms (a local SQLite read) the first time one of its tokens
 * is seen, and again when a token names an unknown kid — at most once per
 * BUNBASE_TENANT_AUTH_KEY_REFRESH_MS per project, so a flood of forged kids costs nothing more.
 */
#include "tenant_auth_internal.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_id.h"
#include "bb_jwt.h"
#include "bb_log.h"
#include "bb_service.h"
#include "bb_time.h"
#include "bun_kms.h"
#include "platform.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TA_KEY_NAME "tenant-auth-signing"

int64_t ta_now(void)
{
    return (int64_t)(bb_time_wall_ms() / 1000);
}

/* ---------------------------------------------------------------- the key cache */

struct ta_pkeys {
    char pid[BB_IDENTITY_MAX_PROJECT_ID];
    struct bb_jwks jwks;               /* keys still verifying, current first */
    int64_t retired[BB_JWKS_MAX_KEYS]; /* per key: unix seconds it retired, 0: current */
    char current[BB_JWK_KID_MAX + 1];
    uint64_t loaded_ms; /* monotonic; 0: empty slot */
};

struct ta_keys {
    pthread_rwlock_t lock;
    struct ta_pkeys *slots; /* direct-mapped by project id */
    size_t n;
};

struct ta_mem {
    pthread_mutex_t mu;
    json_t *revoked;  /* "pid|sid" → unix seconds after which it no longer matters */
    json_t *disabled; /* "pid|uid" → true */
    size_t max;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int ta_tokens_init(struct tenant_auth *ta)
{
    ta->keys = calloc(1, sizeof *ta->keys);
    ta->mem = calloc(1, sizeof *ta->mem);
    if (!ta->keys || !ta->mem) return BB_ENOMEM;
    ta->keys->n = (size_t)ta->c.key_cache_projects;
    ta->keys->slots = calloc(ta->keys->n, sizeof *ta->keys->slots);
    ta->mem->revoked = json_object();
    ta->mem->disabled = json_object();
    ta->mem->max = (size_t)ta->c.revoked_max;
    if (!ta->keys->slots || !ta->mem->revoked || !ta->mem->disabled) return BB_ENOMEM;
    pthread_rwlock_init(&ta->keys->lock, NULL);
    pthread_mutex_init(&ta->mem->mu, NULL);
    return 0;
}

void ta_tokens_release(struct tenant_auth *ta)
{
    if (ta->keys) {
        if (ta->keys->slots) {
            for (size_t i = 0; i < ta->keys->n; i++)
                bb_jwks_release(&ta->keys->slots[i].jwks);
            pthread_rwlock_destroy(&ta->keys->lock);
        }
        free(ta->keys->slots);
        free(ta->keys);
        ta->keys = NULL;
    }
    if (ta->mem) {
        if (ta->mem->revoked) pthread_mutex_destroy(&ta->mem->mu);
        json_decref(ta->mem->revoked);
        json_decref(ta->mem->disabled);
        free(ta->mem);
        ta->mem = NULL;
    }
}

/* When a bun-kms key version was created, unix seconds (bun_kms_key_get: created_at_ms). */
static int64_t version_time(const json_t *v)
{
    const json_t *t = json_object_get(v, "created_at_ms");
    if (json_is_integer(t)) return json_integer_value(t) / 1000;
    t = json_object_get(v, "created_at");
    if (json_is_integer(t)) {
        int64_t x = json_integer_value(t);
        return x > 100000000000ll ? x / 1000 : x;
    }
    const char *s = json_string_value(t);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (s && strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) return (int64_t)timegm(&tm);
    if (s && strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) return (int64_t)timegm(&tm);
    return 0;
}

/* The project's verifying keys from bun-kms into *e (blocking). BB_ENOTFOUND: no key yet. */
static int keys_fetch(struct tenant_auth *ta, const char *pid, struct ta_pkeys *e,
                      json_t **jwks_out)
{
    memset(e, 0, sizeof *e);
    snprintf(e->pid, sizeof e->pid, "%s", pid);
    if (!ta->kms) return BB_EUNAVAIL;
    char err[200] = "";
    json_t *meta = NULL, *jwks = NULL;
    int rc = bun_kms_key_get(ta->kms, bun_kms_system_identity(), pid, TA_KEY_NAME, &meta, err,
                             sizeof err);
    if (rc == 0)
        rc = bun_kms_jwks(ta->kms, bun_kms_system_identity(), pid, TA_KEY_NAME, &jwks, err,
                          sizeof err);
    if (rc) {
        json_decref(meta);
        return rc;
    }
    /* retired_at(kid of version v) = created_at(version v+1) */
    json_t *vers = json_object_get(meta, "versions");
    int64_t now = ta_now();
    json_t *keep = json_array();
    size_t i;
    json_t *k;
    int64_t ret[BB_JWKS_MAX_KEYS];
    size_t nk = 0;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        int64_t version = -1, retired = 0;
        size_t j;
        json_t *v;
        json_array_foreach(vers, j, v)
        {
            const char *vk = json_string_value(json_object_get(v, "kid"));
            if (kid && vk && !strcmp(vk, kid))
                version = json_integer_value(json_object_get(v, "version"));
        }
        json_array_foreach(vers, j, v)
        {
            if (version >= 0 && json_integer_value(json_object_get(v, "version")) == version + 1)
                retired = version_time(v);
        }
        if (retired && now > retired + (int64_t)ta->c.key_grace_s) continue;
        if (nk >= BB_JWKS_MAX_KEYS) break;
        ret[nk++] = retired;
        json_array_append(keep, k);
    }
    json_decref(meta);
    json_t *set = json_pack("{s:o}", "keys", keep);
    json_decref(jwks);
    if (!set) return BB_ENOMEM;
    rc = json_array_size(keep) ? bb_jwks_import(set, &e->jwks, err, sizeof err) : 0;
    if (rc) {
        bb_warn(TA_MOD, "jwks_import_failed project=%s reason=\"%s\"", pid, err);
        json_decref(set);
        return rc;
    }
    /* bb_jwks_import keeps the order of the keys it imports (all of ours are Ed25519) */
    for (size_t x = 0; x < e->jwks.n && x < nk; x++)
        e->retired[x] = ret[x];
    if (e->jwks.n) snprintf(e->current, sizeof e->current, "%s", e->jwks.keys[0].kid);
    if (jwks_out)
        *jwks_out = set;
    else
        json_decref(set);
    return 0;
}

/* Replaces the cached entry of pid (the slot it maps to) with a fresh load. */
static int keys_reload(struct tenant_auth *ta, const char *pid)
{
    struct ta_pkeys e;
    int rc = keys_fetch(ta, pid, &e, NULL);
    if (rc && rc != BB_ENOTFOUND) {
        bb_jwks_release(&e.jwks);
        return rc;
    }
    e.loaded_ms = bb_time_mono_ms();
    if (!e.loaded_ms) e.loaded_ms = 1;
    struct ta_keys *K = ta->keys;
    struct ta_pkeys old;
    pthread_rwlock_wrlock(&K->lock);
    struct ta_pkeys *s = &K->slots[hash_str(pid) % K->n];
    old = *s;
    *s = e;
    pthread_rwlock_unlock(&K->lock);
    bb_jwks_release(&old.jwks);
    return rc;
}

static void ensure_key(struct tenant_auth *ta, const char *pid)
{
    char err[200];
    int rc = bun_kms_key_create(ta->kms, bun_kms_system_identity(), pid, TA_KEY_NAME,
                                BUN_KMS_ED25519, err, sizeof err);
    if (rc == 0) bb_info(TA_MOD, "signing_key_created project=%s", pid);
}

static int cached_kid(struct tenant_auth *ta, const char *pid, char kid[BUN_KMS_KID_MAX + 1])
{
    struct ta_keys *K = ta->keys;
    pthread_rwlock_rdlock(&K->lock);
    struct ta_pkeys *s = &K->slots[hash_str(pid) % K->n];
    int hit = s->loaded_ms && !strcmp(s->pid, pid) && s->current[0];
    if (hit && strlen(s->current) > BUN_KMS_KID_MAX) hit = 0;
    if (hit) memcpy(kid, s->current, strlen(s->current) + 1);
    pthread_rwlock_unlock(&K->lock);
    return hit;
}

/* The current kid of pid (reloading when force or not cached; creating the key when there is
 * none). Blocks. */
static int current_kid(struct tenant_auth *ta, const char *pid, char kid[BUN_KMS_KID_MAX + 1],
                       int force)
{
    if (!force && cached_kid(ta, pid, kid)) return 0;
    int rc = keys_reload(ta, pid);
    if (rc == 0 && cached_kid(ta, pid, kid)) return 0;
    if (rc && rc != BB_ENOTFOUND) return rc;
    ensure_key(ta, pid);
    rc = keys_reload(ta, pid);
    if (rc) return rc;
    return cached_kid(ta, pid, kid) ? 0 : BB_EUNAVAIL;
}

static void issuer_of(const struct tenant_auth *ta, const char *pid, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s/auth", ta->issuer_base, pid);
}

int ta_jwt_sign(struct tenant_auth *ta, const char *pid, json_t *claims, int64_t ttl_s, char **out,
                char *err, size_t errcap)
{
    *out = NULL;
    if (!ta->kms) {
        snprintf(err, errcap, "bun-kms is not running in this process");
        return BB_EUNAVAIL;
    }
    char iss[700], jti[BB_ID_LEN + 1];
    issuer_of(ta, pid, iss, sizeof iss);
    bb_id_new(jti);
    int64_t now = ta_now();
    json_t *pl = json_deep_copy(claims);
    if (!pl) return BB_ENOMEM;
    json_object_set_new(pl, "iss", json_string(iss));
    json_object_set_new(pl, "aud", json_string(pid));
    json_object_set_new(pl, "iat", json_integer(now));
    json_object_set_new(pl, "exp", json_integer(now + ttl_s));
    json_object_set_new(pl, "jti", json_string(jti));
    int rc = BB_EUNAVAIL;
    for (int attempt = 0; attempt < 2; attempt++) {
        char kid[BUN_KMS_KID_MAX + 1], used[BUN_KMS_KID_MAX + 1] = "";
        rc = current_kid(ta, pid, kid, attempt);
        if (rc) {
            snprintf(err, errcap, "no signing key for the project: %s", bb_strerror(rc));
            break;
        }
        json_t *h = json_pack("{s:s,s:s,s:s}", "alg", "EdDSA", "typ", "JWT", "kid", kid);
        size_t il = 0;
        char *input = h ? bb_jwt_signing_input(h, pl, 512, &il) : NULL; /* core's JWS framing */
        json_decref(h);
        if (!input) {
            rc = BB_ENOMEM;
            break;
        }
        unsigned char *sig = NULL;
        size_t sl = 0;
        rc = bun_kms_sign(ta->kms, bun_kms_system_identity(), pid, TA_KEY_NAME, "EdDSA", 1, input,
                          il, &sig, &sl, used, err, errcap);
        if (rc == 0 && strcmp(used, kid) != 0) { /* a rotation happened meanwhile */
            free(sig);
            free(input);
            rc = BB_ECONFLICT;
            continue;
        }
        if (rc == 0 && sl <= 512) {
            bb_jwt_append_signature(input, il, sig, sl);
            *out = input;
            input = NULL;
        } else if (rc == 0) {
            rc = BB_EINTERNAL;
        }
        free(sig);
        free(input);
        break;
    }
    json_decref(pl);
    return rc;
}

int ta_jwks(struct tenant_auth *ta, const char *pid, json_t **out, char *err, size_t errcap)
{
    *out = NULL;
    struct ta_pkeys e;
    json_t *set = NULL;
    int rc = keys_fetch(ta, pid, &e, &set);
    bb_jwks_release(&e.jwks);
    if (rc == BB_ENOTFOUND) {
        *out = json_pack("{s:[]}", "keys");
        return *out ? 0 : BB_ENOMEM;
    }
    if (rc) {
        snprintf(err, errcap, "the project's keys cannot be read: %s", bb_strerror(rc));
        return rc;
    }
    *out = set;
    return 0;
}

int ta_key_rotate(struct tenant_auth *ta, const char *pid, char *kid, size_t kidcap, char *err,
                  size_t errcap)
{
    if (!ta->kms) {
        snprintf(err, errcap, "bun-kms is not running in this process");
        return BB_EUNAVAIL;
    }
    char cur[BUN_KMS_KID_MAX + 1];
    int rc = current_kid(ta, pid, cur, 0); /* creates the key when there is none */
    if (rc == 0)
        rc = bun_kms_key_rotate(ta->kms, bun_kms_system_identity(), pid, TA_KEY_NAME, NULL, err,
                                errcap);
    if (rc == 0) rc = keys_reload(ta, pid);
    if (rc == 0) rc = current_kid(ta, pid, cur, 0);
    if (rc == 0) {
        snprintf(kid, kidcap, "%s", cur);
        bb_info(TA_MOD, "signing_key_rotated project=%s kid=%s", pid, cur);
    }
    return rc;
}

/* ---------------------------------------------------------------- what this process knows */

static void mem_key(char *buf, size_t cap, const char *pid, const char *id)
{
    snprintf(buf, cap, "%s|%s", pid, id);
}

void ta_mem_revoke_session(struct tenant_auth *ta, const char *pid, const char *sid, int64_t until)
{
    char k[200];
    mem_key(k, sizeof k, pid, sid);
    struct ta_mem *m = ta->mem;
    int64_t now = ta_now();
    pthread_mutex_lock(&m->mu);
    if (json_object_size(m->revoked) >= m->max) { /* forget what no longer matters */
        const char *key;
        json_t *v, *tmp;
        json_object_foreach_safe(m->revoked, tmp, key, v)
        {
            if (json_integer_value(v) < now) json_object_del(m->revoked, key);
        }
    }
    if (json_object_size(m->revoked) < m->max)
        json_object_set_new(m->revoked, k, json_integer(until));
    else
        bb_warn(TA_MOD, "revoked_table_full project=%s (BUNBASE_TENANT_AUTH_REVOKED_MAX)", pid);
    pthread_mutex_unlock(&m->mu);
}

void ta_mem_disable_user(struct tenant_auth *ta, const char *pid, const char *uid, int disabled)
{
    char k[200];
    mem_key(k, sizeof k, pid, uid);
    struct ta_mem *m = ta->mem;
    pthread_mutex_lock(&m->mu);
    if (!disabled)
        json_object_del(m->disabled, k);
    else if (json_object_size(m->disabled) < m->max)
        json_object_set_new(m->disabled, k, json_true());
    pthread_mutex_unlock(&m->mu);
}

static int mem_has(struct ta_mem *m, json_t *set, const char *pid, const char *id)
{
    char k[200];
    mem_key(k, sizeof k, pid, id);
    pthread_mutex_lock(&m->mu);
    int yes = json_object_get(set, k) != NULL;
    pthread_mutex_unlock(&m->mu);
    return yes;
}

/* ---------------------------------------------------------------- the resolver */

/* A refusal of the resolver: code and message for the 401. */
static int reject(struct bb_identity_reject *why, const char *code, const char *msg)
{
    why->code = code;
    why->msg = msg;
    return BB_EAUTH;
}

int ta_resolve(void *arg, const struct bb_http_request *req, struct bb_identity *out,
               struct bb_identity_reject *why)
{
    struct tenant_auth *ta = arg;
    const char *auth = bb_http_header(req, "Authorization");
    const char *tok = NULL;
    size_t tl = 0;
    char cbuf[BB_JWT_MAX_TOKEN + 1];
    if (auth) {
        tok = bb_jwt_bearer(auth, &tl);
        if (!tok) return BB_ENOTFOUND;
    } else {
        tok = bb_http_cookie(req, "tenant_session_token", cbuf, sizeof cbuf);
        if (!tok) return BB_ENOTFOUND;
        tl = strlen(tok);
    }
    json_t *peek = bb_jwt_peek_payload(tok, tl);
    if (!peek) return BB_ENOTFOUND;
    const char *aud = json_string_value(json_object_get(peek, "aud"));
    const char *iss = json_string_value(json_object_get(peek, "iss"));
    char want[700];
    size_t bl = strlen(ta->issuer_base);
    if (!aud || !iss || !bb_project_id_valid(aud, strlen(aud)) ||
        strlen(aud) >= BB_IDENTITY_MAX_PROJECT_ID || strncmp(iss, ta->issuer_base, bl) != 0) {
        json_decref(peek); /* not ours: bun-auth's, another issuer's */
        return BB_ENOTFOUND;
    }
    char pid[BB_IDENTITY_MAX_PROJECT_ID];
    snprintf(pid, sizeof pid, "%s", aud);
    json_decref(peek);
    issuer_of(ta, pid, want, sizeof want);

    int rc = 0;
    struct bb_jwt t = {0};
    struct bb_jwt_reject jr = {0};
    struct ta_keys *K = ta->keys;
    int64_t now = ta_now();
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&K->lock);
        struct ta_pkeys *s = &K->slots[hash_str(pid) % K->n];
        int mine = s->loaded_ms && !strcmp(s->pid, pid);
        uint64_t age = mine ? bb_time_mono_ms() - s->loaded_ms : UINT64_MAX;
        rc = mine && s->jwks.n ? bb_jwt_verify(tok, tl, &s->jwks, BB_JWT_EDDSA, &t, &jr) : BB_EAUTH;
        if (!mine || !s->jwks.n) jr.code = "token_unknown_kid", jr.msg = "unknown signing key";
        if (rc == 0) { /* the kid is still in its grace? */
            const char *kid = json_string_value(json_object_get(t.header, "kid"));
            for (size_t i = 0; kid && i < s->jwks.n; i++)
                if (!strcmp(s->jwks.keys[i].kid, kid) && s->retired[i] &&
                    now > s->retired[i] + (int64_t)ta->c.key_grace_s) {
                    rc = BB_EAUTH;
                    jr.code = "token_unknown_kid", jr.msg = "signing key retired";
                }
        }
        pthread_rwlock_unlock(&K->lock);
        if (rc != BB_EAUTH || strcmp(jr.code, "token_unknown_kid") != 0 || attempt == 1 ||
            age < ta->c.key_refresh_ms || !ta->kms)
            break;
        keys_reload(ta, pid); /* see the comment at the top */
        bb_jwt_release(&t);
    }
    if (rc == BB_EAUTH) {
        rc = reject(why, jr.code, jr.msg);
        goto out;
    }
    if (rc) goto out;
    if (bb_jwt_check_claims(&t, want, pid, now, (int64_t)ta->c.leeway_s, &jr) != 0) {
        rc = reject(why, jr.code, jr.msg);
        goto out;
    }
    const char *sub = json_string_value(json_object_get(t.payload, "sub"));
    const char *sid = json_string_value(json_object_get(t.payload, "sid"));
    if (!sub || !*sub || strlen(sub) > TA_ID_MAX || !sid || !*sid || strlen(sid) > TA_ID_MAX) {
        rc = reject(why, "token_malformed", "access token has no sub or sid");
        goto out;
    }
    if (mem_has(ta->mem, ta->mem->revoked, pid, sid)) {
        rc = reject(why, "session_revoked", "the session of this access token was revoked");
        goto out;
    }
    if (mem_has(ta->mem, ta->mem->disabled, pid, sub)) {
        rc = reject(why, "user_disabled", "this user is disabled");
        goto out;
    }
    /* a project key sent alongside must be the token's project's */
    const char *ck = bb_http_header(req, "X-Bunbase-Client-Key");
    if (ck && *ck) {
        struct platform *p = bb_host_service_state(ta->rt->host, "platform");
        char kp[BB_ID_LEN + 1] = "";
        int kind = 0;
        if (!p || platform_key_lookup(p, ck, kp, &kind) != 0) {
            rc = reject(why, "invalid_key", "the project key sent with the token is not valid");
            goto out;
        }
        if (strcmp(kp, pid) != 0) {
            rc = reject(why, "key_wrong_project",
                        "the project key and the token are of different projects");
            goto out;
        }
    }
    out->kind = BB_IDENTITY_END_USER_JWT;
    snprintf(out->project_id, sizeof out->project_id, "%s", pid);
    out->uid = strdup(sub);
    out->claims = json_deep_copy(t.payload);
    out->resolver = "tenant-auth";
    if (!out->uid || !out->claims) {
        bb_identity_release(out);
        rc = BB_ENOMEM;
    }
out:
    bb_jwt_release(&t);
    return rc;
}
