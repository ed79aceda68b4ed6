/* ta_store.c — tenant-auth's data, in each project's own bundoc database (default), in
 * collections whose names start with "_auth_": bundoc-server shows them to the internal service
 * identity only (BDSRV_RESERVED_PREFIX), so the project's document API can neither read nor write
 * them. Every call goes through bb_host_call (in-process or to BUNBASE_BUNDOC_SERVER_ADDR).
 *
 *   _auth_users     _id = user id (ULID): {email, name, password_hash (Argon2id PHC string, absent
 *                   for anonymous and external-only users), email_verified, anonymous, disabled,
 *                   created_at, providers:{name: subject}}
 *   _auth_emails    _id = hex SHA-256 of the normalized email: {uid} — the uniqueness of emails
 *                   (a create of an existing _id fails: the first registration wins)
 *   _auth_links     _id = hex SHA-256 of "provider\n subject": {uid} (external sign-in)
 *   _auth_sessions  _id = session id: {uid, hash (hex SHA-256 of the current refresh secret), gen,
 *                   used:[hashes of rotated-out secrets, last 32], expires_at, revoked, created_at}
 *   _auth_tokens    _id = hex SHA-256 of a reset / verification token: {kind, uid, expires_at};
 *                   used by deleting it (only the first DELETE succeeds: single use)
 *   _auth_config    _id = "config": the project's auth config as stored (no secrets: provider
 * client secrets are in bun-kms, the config holds their names) _auth_keys      _id = "signing":
 * {retired:{kid: unix seconds}} — rotated-out kids and when
 */
#include "tenant_auth_internal.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_service.h"
#include "bun_kms.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ta_db(struct tenant_auth *ta, const char *pid, const char *method, const char *suffix,
          const json_t *body, json_t **out)
{
    if (out) *out = NULL;
    char url[1024];
    int n = snprintf(url, sizeof url, "/v1/projects/%s/databases/(default)%s", pid, suffix);
    if (n < 0 || (size_t)n >= sizeof url) return BB_EINVAL;
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !b) return BB_ENOMEM;
    struct bb_host_call c = {
        .method = method, .url = url, .body = b, .body_len = b ? strlen(b) : 0};
    int status = 0;
    char *reply = NULL;
    size_t rl = 0;
    int rc = bb_host_call(ta->rt->host, "bundoc-server", &c, &status, &reply, &rl);
    free(b);
    if (rc) {
        bb_warn(TA_MOD, "bundoc_unreachable project=%s rc=%s", pid, bb_strerror(rc));
        return BB_EUNAVAIL;
    }
    if (out && rl) {
        json_error_t je;
        *out = json_loadb(reply, rl, 0, &je);
    }
    free(reply);
    return status;
}

static int status_rc(int st)
{
    if (st < 0) return st;
    if (st >= 200 && st < 300) return 0;
    if (st == 404) return BB_ENOTFOUND;
    if (st == 409) return BB_EEXIST;
    if (st == 400) return BB_EINVAL;
    return BB_EUNAVAIL;
}

static int doc_path(char *buf, size_t cap, const char *coll, const char *id)
{
    int n = id ? snprintf(buf, cap, "/documents/%s/%s", coll, id)
               : snprintf(buf, cap, "/documents/%s", coll);
    return n < 0 || (size_t)n >= cap ? BB_EINVAL : 0;
}

int ta_doc_get(struct tenant_auth *ta, const char *pid, const char *coll, const char *id,
               json_t **out)
{
    char p[256];
    *out = NULL;
    if (doc_path(p, sizeof p, coll, id)) return BB_EINVAL;
    int rc = status_rc(ta_db(ta, pid, "GET", p, NULL, out));
    if (rc || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return rc ? rc : BB_EUNAVAIL;
    }
    return 0;
}

int ta_doc_create(struct tenant_auth *ta, const char *pid, const char *coll, json_t *doc)
{
    char p[256];
    if (doc_path(p, sizeof p, coll, NULL)) return BB_EINVAL;
    return status_rc(ta_db(ta, pid, "POST", p, doc, NULL));
}

int ta_doc_put(struct tenant_auth *ta, const char *pid, const char *coll, const char *id,
               json_t *doc)
{
    char p[256];
    if (doc_path(p, sizeof p, coll, id)) return BB_EINVAL;
    return status_rc(ta_db(ta, pid, "PUT", p, doc, NULL));
}

int ta_doc_patch(struct tenant_auth *ta, const char *pid, const char *coll, const char *id,
                 json_t *patch)
{
    char p[256];
    if (doc_path(p, sizeof p, coll, id)) return BB_EINVAL;
    return status_rc(ta_db(ta, pid, "PATCH", p, patch, NULL));
}

int ta_doc_delete(struct tenant_auth *ta, const char *pid, const char *coll, const char *id)
{
    char p[256];
    if (doc_path(p, sizeof p, coll, id)) return BB_EINVAL;
    return status_rc(ta_db(ta, pid, "DELETE", p, NULL, NULL));
}

/* ---------------------------------------------------------------- config */

/* Defaults under what the project stored (objects merged one level deep). */
int ta_config_get(struct tenant_auth *ta, const char *pid, json_t **out)
{
    *out = NULL;
    json_t *stored = NULL;
    int rc = ta_doc_get(ta, pid, "_auth_config", "config", &stored);
    if (rc && rc != BB_ENOTFOUND) return rc;
    json_t *c = json_pack(
        "{s:{s:{s:b},s:{s:b}},s:{s:I,s:b,s:b,s:b,s:b},s:{s:I,s:I},s:[],s:{s:I,s:I,s:I,s:I},s:b}",
        "providers", "email_password", "enabled", 0, "anonymous", "enabled", 0, "password_policy",
        "min_length", (json_int_t)8, "require_lowercase", 0, "require_uppercase", 0,
        "require_digit", 0, "require_symbol", 0, "tokens", "access_ttl_s",
        (json_int_t)ta->c.access_ttl_s, "refresh_ttl_s", (json_int_t)ta->c.refresh_ttl_s,
        "redirect_urls", "rate_limits", "ip_per_min", (json_int_t)ta->c.rate_ip_per_min, "ip_burst",
        (json_int_t)ta->c.rate_ip_burst, "account_per_min", (json_int_t)ta->c.rate_account_per_min,
        "account_burst", (json_int_t)ta->c.rate_account_burst, "require_email_verification", 0);
    if (!c) {
        json_decref(stored);
        return BB_ENOMEM;
    }
    const char *k;
    json_t *v;
    json_object_foreach(stored, k, v)
    {
        if (k[0] == '_') continue; /* _id and the store's own fields */
        json_t *d = json_object_get(c, k);
        if (json_is_object(d) && json_is_object(v) && strcmp(k, "providers") != 0)
            json_object_update(d, v);
        else if (json_is_object(d) && json_is_object(v)) /* providers: one level more */
        {
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv)
            {
                json_t *dp = json_object_get(d, pk);
                if (json_is_object(dp) && json_is_object(pv))
                    json_object_update(dp, pv);
                else
                    json_object_set(d, pk, pv);
            }
        } else
            json_object_set(c, k, v);
    }
    json_decref(stored);
    *out = c;
    return 0;
}

int ta_redirect_allowed(struct tenant_auth *ta, const char *pid, const char *url)
{
    if (!url || !*url) return 0;
    json_t *c = NULL;
    if (ta_config_get(ta, pid, &c) != 0) return 0;
    int ok = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c, "redirect_urls"), i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), url)) ok = 1;
    }
    json_decref(c);
    return ok;
}

static void copy_str(char *dst, size_t cap, const json_t *o, const char *k, const char *dflt)
{
    const char *s = bb_json_str(o, k, dflt);
    snprintf(dst, cap, "%s", s ? s : "");
}

int ta_provider_get(struct tenant_auth *ta, const char *pid, const char *provider,
                    struct ta_provider *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    json_t *c = NULL;
    int rc = ta_config_get(ta, pid, &c);
    if (rc) {
        if (err) snprintf(err, errcap, "the project's auth config cannot be read");
        return BB_EUNAVAIL;
    }
    json_t *p = json_object_get(json_object_get(c, "providers"), provider);
    const char *kind = bb_json_str(p, "kind", provider);
    if (!json_is_object(p) || !kind ||
        (strcmp(kind, "github") && strcmp(kind, "google") && strcmp(kind, "oidc"))) {
        json_decref(c);
        if (err) snprintf(err, errcap, "no OAuth provider \"%.32s\" is configured", provider);
        return BB_ENOTFOUND;
    }
    snprintf(out->name, sizeof out->name, "%s", provider);
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    out->enabled = bb_json_bool(p, "enabled", 0);
    copy_str(out->client_id, sizeof out->client_id, p, "client_id", "");
    copy_str(out->issuer, sizeof out->issuer, p, "issuer", "");
    copy_str(out->authorize_url, sizeof out->authorize_url, p, "authorize_url", "");
    copy_str(out->token_url, sizeof out->token_url, p, "token_url", "");
    copy_str(out->userinfo_url, sizeof out->userinfo_url, p, "userinfo_url", "");
    copy_str(out->scopes, sizeof out->scopes, p, "scopes", "");
    char ref[BUN_KMS_NAME_MAX + 1];
    copy_str(ref, sizeof ref, p, "client_secret_ref", "");
    json_decref(c);
    if (!out->enabled) {
        if (err) snprintf(err, errcap, "the provider \"%.32s\" is disabled", provider);
        return BB_EPERM;
    }
    if (ref[0]) {
        if (!ta->kms) return BB_EUNAVAIL;
        void *v = NULL;
        size_t vl = 0;
        rc = bun_kms_secret_get(ta->kms, bun_kms_system_identity(), pid, ref, 0, &v, &vl, err,
                                errcap);
        if (rc) return rc == BB_ENOTFOUND ? BB_ENOTFOUND : BB_EUNAVAIL;
        out->client_secret = malloc(vl + 1);
        if (!out->client_secret) {
            OPENSSL_cleanse(v, vl);
            free(v);
            return BB_ENOMEM;
        }
        memcpy(out->client_secret, v, vl);
        out->client_secret[vl] = '\0';
        OPENSSL_cleanse(v, vl);
        free(v);
    }
    return 0;
}

void ta_provider_release(struct ta_provider *p)
{
    if (!p) return;
    if (p->client_secret) {
        OPENSSL_cleanse(p->client_secret, strlen(p->client_secret));
        free(p->client_secret);
    }
    memset(p, 0, sizeof *p);
}
