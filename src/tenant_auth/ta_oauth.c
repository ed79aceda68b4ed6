/* ta_oauth.c — OAuth 2.0 authorization code with PKCE (RFC 6749, 7636) and OpenID Connect
 * (Core 1.0, Discovery 1.0) sign-in for a project's end users. See ta_oauth.h for the routes and
 * docs/tenant-auth.md ("OAuth / OIDC") for the user's view.
 *
 * start:    the app's pk_ (header or ?key=) names the project; redirect_uri must be one of the
 *           project's allowed redirect URLs; the provider comes from the project's auth config
 *           (ta_provider_get: client id, the secret from bun-kms). A pending sign-in is stored:
 *           SHA-256(state) → {project, provider, PKCE verifier, nonce, our callback URL, the app's
 *           redirect_uri, expiry}; the browser goes to the provider's authorization endpoint with
 *           response_type=code, client_id, redirect_uri (our callback), scope, state (256 random
 *           bits), code_challenge = base64url(SHA-256(verifier)) with method S256, and for OIDC
 *           a nonce (256 random bits).
 * callback: the state is taken out of the table (single use; unknown, expired or reused → 400,
 *           since without it we do not know where to send the browser), must name the same
 *           provider, then the code is exchanged at the token endpoint (client_secret_post plus
 *           the verifier). OIDC (and Google): the id_token is verified with the provider's JWKS
 *           (bb_jwt: RS256/ES256/EdDSA only, never none or HS*), iss = the discovery issuer, aud
 *           = client_id (azp too when several audiences), exp, and nonce = ours. GitHub: the user
 *           (id) and its primary verified e-mail from the REST API. Then the end user is found or
 *           created (ta_user_from_external), a session issued (ta_issue_tokens) and the browser
 *           sent to redirect_uri#access_token=…&refresh_token=…&token_type=Bearer&expires_in=…;
 *           failures after the state was found go to redirect_uri?error=<code>&error_description=.
 *
 * Process-wide state (one mutex): the pending sign-ins (a fixed table of
 * BUNBASE_TENANT_AUTH_OAUTH_MAX_PENDING entries, allocated on first use; full → 503) and the
 * discovery + JWKS cache (DISC_SLOTS issuers, refreshed after BUNBASE_TENANT_AUTH_OAUTH_JWKS_TTL_S,
 * and once more on an unknown kid: a provider's key rotation). Pending sign-ins live in this
 * process only: the callback must reach the bunbased that served the start.
 * Provider endpoints must be https, or http on a loopback host (development and tests).
 */
#include "ta_oauth.h"
#include "tenant_auth_internal.h"

#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_httpc.h"
#include "bb_json.h"
#include "bb_jwt.h"
#include "bb_knobs.h"
#include "bb_log.h"
#include "bb_time.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOD "tenant-auth"
#define URL_MAX 512
#define REDIRECT_MAX 1024
#define CALLBACK_MAX 700
#define STATE_MAX 128
#define CODE_MAX 2048
#define SECRET_TOKEN_BYTES 32 /* state, nonce, verifier: 256 bits, 43 base64url chars */
#define TOKEN_LEN (BB_BASE64URL_LEN(SECRET_TOKEN_BYTES) + 1)
#define DISC_SLOTS 16
#define LEEWAY_S 60

#define GITHUB_AUTHORIZE "https://github.com/login/oauth/authorize"
#define GITHUB_TOKEN "https://github.com/login/oauth/access_token"
#define GITHUB_USER "https://api.github.com/user"
#define GOOGLE_ISSUER "https://accounts.google.com"

/* ------------------------------------------------------------------ knobs */

struct oa_config {
    uint64_t state_ttl_s, max_pending, http_timeout_ms, max_response_bytes, jwks_ttl_s;
    uint64_t jwks_refetch_ms;
};

#define ROW BB_KNOB_U64_ROW
static const struct bb_knob oa_knobs[] = {
    ROW(struct oa_config, state_ttl_s, "BUNBASE_TENANT_AUTH_OAUTH_STATE_TTL_S", "600", 1, 86400,
        "seconds a started OAuth sign-in waits for its callback"),
    ROW(struct oa_config, max_pending, "BUNBASE_TENANT_AUTH_OAUTH_MAX_PENDING", "1024", 1, 1000000,
        "OAuth sign-ins in progress at once (process-wide); more get 503"),
    ROW(struct oa_config, http_timeout_ms, "BUNBASE_TENANT_AUTH_OAUTH_HTTP_TIMEOUT_MS", "10000",
        100, 120000, "timeout of each call to a provider (discovery, JWKS, token, user API)"),
    ROW(struct oa_config, max_response_bytes, "BUNBASE_TENANT_AUTH_OAUTH_MAX_RESPONSE_BYTES",
        "1048576", 1024, 16777216, "largest reply accepted from a provider"),
    ROW(struct oa_config, jwks_ttl_s, "BUNBASE_TENANT_AUTH_OAUTH_JWKS_TTL_S", "3600", 0, 604800,
        "seconds a provider's discovery document and JWKS are cached"),
    ROW(struct oa_config, jwks_refetch_ms, "BUNBASE_TENANT_AUTH_OAUTH_JWKS_REFETCH_MS", "5000", 0,
        3600000, "an id_token with an unknown kid refetches the JWKS at most this often"),
};
#undef ROW

static int config_load(struct oa_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    return bb_knobs_load(oa_knobs, sizeof oa_knobs / sizeof oa_knobs[0], c, err, errcap);
}

/* ------------------------------------------------------------------ process-wide state */

struct pending {
    uint8_t state_hash[BB_SHA256_LEN];
    uint64_t expires_ms; /* monotonic; 0: free slot */
    char pid[BB_IDENTITY_MAX_PROJECT_ID];
    char provider[32];
    char verifier[TOKEN_LEN];
    char nonce[TOKEN_LEN];
    char callback[CALLBACK_MAX];
    char redirect[REDIRECT_MAX];
};

struct disc {
    char issuer[URL_MAX];
    char authorize[URL_MAX], token[URL_MAX], userinfo[URL_MAX], jwks_uri[URL_MAX];
    struct bb_jwks keys;
    uint64_t fetched_ms, jwks_ms, used_ms; /* monotonic */
};

static struct {
    pthread_mutex_t mu;
    int loaded, config_rc;
    char config_err[256];
    struct oa_config c;
    struct pending *pend; /* c.max_pending slots */
    struct disc disc[DISC_SLOTS];
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Loads the knobs once; 0 or the configuration error (then err has the reason). */
static int oa_init(struct oa_config *c, char *err, size_t errcap)
{
    pthread_mutex_lock(&G.mu);
    if (!G.loaded) {
        G.config_rc = config_load(&G.c, G.config_err, sizeof G.config_err);
        if (G.config_rc == 0) {
            G.pend = calloc(G.c.max_pending, sizeof *G.pend);
            if (!G.pend) {
                G.config_rc = BB_ENOMEM;
                snprintf(G.config_err, sizeof G.config_err, "out of memory");
            }
        }
        if (G.config_rc) bb_error(MOD, "oauth_config_error reason=\"%s\"", G.config_err);
        G.loaded = 1;
    }
    int rc = G.config_rc;
    if (rc)
        snprintf(err, errcap, "%s", G.config_err);
    else
        *c = G.c;
    pthread_mutex_unlock(&G.mu);
    return rc;
}

int ta_oauth_start(char *err, size_t errcap)
{
    struct oa_config c;
    return oa_init(&c, err, errcap);
}

void ta_oauth_stop(void)
{
    pthread_mutex_lock(&G.mu);
    if (G.pend) OPENSSL_cleanse(G.pend, G.c.max_pending * sizeof *G.pend);
    free(G.pend);
    G.pend = NULL;
    for (int i = 0; i < DISC_SLOTS; i++) {
        bb_jwks_release(&G.disc[i].keys);
        memset(&G.disc[i], 0, sizeof G.disc[i]);
    }
    G.loaded = 0;
    pthread_mutex_unlock(&G.mu);
}

static int pending_put(const struct pending *p)
{
    uint64_t now = bb_time_mono_ms();
    int rc = BB_EBUSY;
    pthread_mutex_lock(&G.mu);
    for (uint64_t i = 0; G.pend && i < G.c.max_pending; i++)
        if (G.pend[i].expires_ms <= now) {
            G.pend[i] = *p;
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&G.mu);
    return rc;
}

/* Takes the pending sign-in of state out of the table (single use). BB_ENOTFOUND: unknown,
 * already used or expired. */
static int pending_take(const char *state, struct pending *out)
{
    uint8_t h[BB_SHA256_LEN];
    bb_sha256(state, strlen(state), h);
    uint64_t now = bb_time_mono_ms();
    int rc = BB_ENOTFOUND;
    pthread_mutex_lock(&G.mu);
    for (uint64_t i = 0; G.pend && i < G.c.max_pending; i++) {
        struct pending *p = &G.pend[i];
        if (p->expires_ms == 0 || !bb_ct_equal(p->state_hash, h, sizeof h)) continue;
        if (p->expires_ms > now) {
            *out = *p;
            rc = 0;
        }
        OPENSSL_cleanse(p, sizeof *p); /* used or expired: gone either way */
        break;
    }
    pthread_mutex_unlock(&G.mu);
    return rc;
}

/* ------------------------------------------------------------------ small helpers */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) { /* grown by copy, so that no unwiped copy of a secret stays */
        size_t nc = (b->len + n + 1) * 2;
        char *np = malloc(nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        if (b->p) {
            memcpy(np, b->p, b->len);
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends s percent-encoded (RFC 3986 unreserved characters kept). */
static void sb_enc(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            sb_add(b, (const char *)&ch, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_add(b, e, 3);
        }
    }
}

/* Appends "<sep>key=value" with value percent-encoded (no separator when *sep is '\0'); *sep is
 * '&' afterwards. */
static void sb_param(struct sbuf *b, char *sep, const char *key, const char *val)
{
    if (*sep) sb_add(b, sep, 1);
    *sep = '&';
    sb_str(b, key);
    sb_add(b, "=", 1);
    sb_enc(b, val);
}

static void sb_wipe(struct sbuf *b)
{
    if (b->p) OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int is_loopback_host(const char *h, size_t n)
{
    return (n == 9 && !strncasecmp(h, "localhost", 9)) || (n == 9 && !strncmp(h, "127.0.0.1", 9)) ||
           (n == 5 && !strncmp(h, "[::1]", 5));
}

/* An endpoint we may call: https://…, or http:// on a loopback host; no CR/LF/space. */
static int url_ok(const char *u)
{
    if (!u || !*u || strlen(u) >= URL_MAX || strpbrk(u, " \r\n\t#")) return 0;
    if (!strncmp(u, "https://", 8)) return u[8] != '\0' && u[8] != '/';
    if (strncmp(u, "http://", 7)) return 0;
    const char *h = u + 7;
    size_t n = strcspn(h, ":/?");
    if (h[0] == '[') n = strcspn(h, "]") + 1;
    return is_loopback_host(h, n);
}

static int provider_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 31) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* Calls url and parses a JSON reply. *status gets the HTTP status. */
static int http_json(const struct bb_http_request *req, const struct oa_config *c,
                     const char *method, const char *url, const char *const *headers,
                     const char *body, size_t blen, long *status, json_t **out, char *err,
                     size_t errcap)
{
    *out = NULL;
    struct bb_httpc_request hr = {.method = method,
                                  .url = url,
                                  .headers = headers,
                                  .body = body,
                                  .body_len = blen,
                                  .timeout_ms = (long)c->http_timeout_ms,
                                  .connect_timeout_ms = (long)c->http_timeout_ms,
                                  .request_id = req->request_id,
                                  .max_response_bytes = (size_t)c->max_response_bytes};
    struct bb_httpc_response r;
    int rc = bb_httpc_do(&hr, &r);
    if (rc) {
        snprintf(err, errcap, "%s %.200s: %s", method, url, bb_strerror(rc));
        return rc == BB_ETOOBIG ? BB_ETOOBIG : BB_EUNAVAIL;
    }
    *status = r.status;
    char jerr[128];
    rc = bb_json_parse(r.body, r.body_len, 16, out, jerr, sizeof jerr);
    if (rc)
        snprintf(err, errcap, "%s %.200s: HTTP %ld, not JSON (%.100s)", method, url, r.status,
                 jerr);
    OPENSSL_cleanse(r.body, r.body_len);
    bb_httpc_response_release(&r);
    return rc ? BB_EPROTO : 0;
}

/* ------------------------------------------------------------------ discovery and JWKS */

struct oidc_meta {
    char issuer[URL_MAX], authorize[URL_MAX], token[URL_MAX], userinfo[URL_MAX];
};

static void copy_keys(struct bb_jwks *dst, const struct bb_jwks *src)
{
    *dst = *src;
    for (size_t i = 0; i < dst->n; i++)
        EVP_PKEY_up_ref(dst->keys[i].pkey);
}

static int fetch_jwks(const struct bb_http_request *req, const struct oa_config *c, const char *uri,
                      struct bb_jwks *out, char *err, size_t errcap)
{
    const char *hdr[] = {"Accept: application/json", NULL};
    long st = 0;
    json_t *j = NULL;
    int rc = http_json(req, c, "GET", uri, hdr, NULL, 0, &st, &j, err, errcap);
    if (rc == 0 && st != 200) {
        snprintf(err, errcap, "JWKS %.200s: HTTP %ld", uri, st);
        rc = BB_EPROTO;
    }
    if (rc == 0) {
        char why[200];
        rc = bb_jwks_import(j, out, why, sizeof why);
        if (rc) snprintf(err, errcap, "JWKS %.200s: %.250s", uri, why);
    }
    json_decref(j);
    return rc;
}

/* The discovery document of issuer (cached); with keys != NULL also its JWKS (refetched when
 * refresh is set and the cached set is older than BUNBASE_TENANT_AUTH_OAUTH_JWKS_REFETCH_MS). keys:
 * caller releases. */
static int discover(const struct bb_http_request *req, const struct oa_config *c,
                    const char *issuer, int refresh, struct oidc_meta *meta, struct bb_jwks *keys,
                    char *err, size_t errcap)
{
    uint64_t now = bb_time_mono_ms(), ttl = c->jwks_ttl_s * 1000;
    if (keys) memset(keys, 0, sizeof *keys);
    pthread_mutex_lock(&G.mu);
    struct disc *d = NULL;
    for (int i = 0; i < DISC_SLOTS; i++)
        if (G.disc[i].fetched_ms && !strcmp(G.disc[i].issuer, issuer) &&
            now - G.disc[i].fetched_ms < ttl) {
            d = &G.disc[i];
            break;
        }
    int fresh_keys = d && d->keys.n && !(refresh && now - d->jwks_ms >= c->jwks_refetch_ms);
    if (d && (!keys || fresh_keys)) {
        d->used_ms = now;
        snprintf(meta->issuer, sizeof meta->issuer, "%s", d->issuer);
        snprintf(meta->authorize, sizeof meta->authorize, "%s", d->authorize);
        snprintf(meta->token, sizeof meta->token, "%s", d->token);
        snprintf(meta->userinfo, sizeof meta->userinfo, "%s", d->userinfo);
        if (keys) copy_keys(keys, &d->keys);
        pthread_mutex_unlock(&G.mu);
        return 0;
    }
    pthread_mutex_unlock(&G.mu);

    /* fetch without the lock; two concurrent misses both fetch, the last one is kept */
    struct disc nd;
    memset(&nd, 0, sizeof nd);
    char url[URL_MAX + 64];
    size_t il = strlen(issuer);
    while (il && issuer[il - 1] == '/')
        il--;
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)il, issuer);
    const char *hdr[] = {"Accept: application/json", NULL};
    long st = 0;
    json_t *j = NULL;
    int rc = http_json(req, c, "GET", url, hdr, NULL, 0, &st, &j, err, errcap);
    if (rc == 0 && (st != 200 || !json_is_object(j))) {
        snprintf(err, errcap, "discovery %.200s: HTTP %ld", url, st);
        rc = BB_EPROTO;
    }
    if (rc == 0) {
        const char *iss = bb_json_str(j, "issuer", ""),
                   *az = bb_json_str(j, "authorization_endpoint", ""),
                   *tk = bb_json_str(j, "token_endpoint", ""),
                   *ui = bb_json_str(j, "userinfo_endpoint", ""),
                   *ju = bb_json_str(j, "jwks_uri", "");
        /* OIDC Discovery §4.3: the issuer in the document must be the one we asked */
        if (strcmp(iss, issuer) != 0) {
            snprintf(err, errcap, "discovery %.200s: issuer \"%.120s\" is not \"%.120s\"", url, iss,
                     issuer);
            rc = BB_EPROTO;
        } else if (!url_ok(az) || !url_ok(tk) || !url_ok(ju) || (*ui && !url_ok(ui))) {
            snprintf(err, errcap,
                     "discovery %.200s: endpoints must be https (http only on loopback) URLs", url);
            rc = BB_EPROTO;
        } else {
            snprintf(nd.issuer, sizeof nd.issuer, "%s", iss);
            snprintf(nd.authorize, sizeof nd.authorize, "%s", az);
            snprintf(nd.token, sizeof nd.token, "%s", tk);
            snprintf(nd.userinfo, sizeof nd.userinfo, "%s", ui);
            snprintf(nd.jwks_uri, sizeof nd.jwks_uri, "%s", ju);
        }
    }
    json_decref(j);
    if (rc == 0) rc = fetch_jwks(req, c, nd.jwks_uri, &nd.keys, err, errcap);
    if (rc) return rc;
    now = bb_time_mono_ms();
    nd.fetched_ms = nd.jwks_ms = nd.used_ms = now;
    snprintf(meta->issuer, sizeof meta->issuer, "%s", nd.issuer);
    snprintf(meta->authorize, sizeof meta->authorize, "%s", nd.authorize);
    snprintf(meta->token, sizeof meta->token, "%s", nd.token);
    snprintf(meta->userinfo, sizeof meta->userinfo, "%s", nd.userinfo);
    if (keys) copy_keys(keys, &nd.keys);
    pthread_mutex_lock(&G.mu);
    struct disc *slot = &G.disc[0];
    for (int i = 0; i < DISC_SLOTS; i++) {
        if (!strcmp(G.disc[i].issuer, issuer)) {
            slot = &G.disc[i];
            break;
        }
        if (G.disc[i].used_ms < slot->used_ms) slot = &G.disc[i];
    }
    bb_jwks_release(&slot->keys);
    *slot = nd; /* the set's keys move into the cache */
    pthread_mutex_unlock(&G.mu);
    return 0;
}

/* ------------------------------------------------------------------ the provider's endpoints */

struct endpoints {
    int oidc;
    char issuer[URL_MAX], authorize[URL_MAX], token[URL_MAX], userinfo[URL_MAX];
};

static int endpoints_of(const struct bb_http_request *req, const struct oa_config *c,
                        const struct ta_provider *p, struct endpoints *e, char *err, size_t errcap)
{
    memset(e, 0, sizeof *e);
    if (!strcmp(p->kind, "github")) {
        snprintf(e->authorize, sizeof e->authorize, "%s",
                 p->authorize_url[0] ? p->authorize_url : GITHUB_AUTHORIZE);
        snprintf(e->token, sizeof e->token, "%s", p->token_url[0] ? p->token_url : GITHUB_TOKEN);
        snprintf(e->userinfo, sizeof e->userinfo, "%s",
                 p->userinfo_url[0] ? p->userinfo_url : GITHUB_USER);
        if (!url_ok(e->authorize) || !url_ok(e->token) || !url_ok(e->userinfo)) {
            snprintf(err, errcap, "provider %s: its URLs must be https (http only on loopback)",
                     p->name);
            return BB_EINVAL;
        }
        return 0;
    }
    if (strcmp(p->kind, "oidc") != 0 && strcmp(p->kind, "google") != 0) {
        snprintf(err, errcap, "provider %s: kind \"%s\" is not github, google or oidc", p->name,
                 p->kind);
        return BB_EINVAL;
    }
    e->oidc = 1;
    const char *iss = p->issuer[0] ? p->issuer : !strcmp(p->kind, "google") ? GOOGLE_ISSUER : "";
    if (!url_ok(iss)) {
        snprintf(err, errcap, "provider %s: issuer must be an https URL (http only on loopback)",
                 p->name);
        return BB_EINVAL;
    }
    struct oidc_meta m;
    int rc = discover(req, c, iss, 0, &m, NULL, err, errcap);
    if (rc) return rc;
    snprintf(e->issuer, sizeof e->issuer, "%s", m.issuer);
    snprintf(e->authorize, sizeof e->authorize, "%s", m.authorize);
    snprintf(e->token, sizeof e->token, "%s", m.token);
    snprintf(e->userinfo, sizeof e->userinfo, "%s", m.userinfo);
    return 0;
}

/* The URL the provider sends the browser back to: tenant-auth's public URL (the base of its
 * issuer: BUNBASE_TENANT_AUTH_PUBLIC_URL, else the gateway's) + the callback route. */
static int callback_url(const struct tenant_auth *ta, const char *provider, char *out, size_t cap)
{
    static const char tail[] = "/v1/projects/";
    size_t n = strlen(ta->issuer_base), t = sizeof tail - 1;
    if (n < t || strcmp(ta->issuer_base + n - t, tail) != 0) return BB_EINVAL;
    int w = snprintf(out, cap, "%.*s/v1/auth/project/oauth/%s/callback", (int)(n - t),
                     ta->issuer_base, provider);
    return w < 0 || (size_t)w >= cap ? BB_EINVAL : 0;
}

static int reply_redirect(struct bb_http_response *res, const char *location)
{
    int rc = bb_http_set_header(res, "Location", location);
    if (!rc) rc = bb_http_set_header(res, "Cache-Control", "no-store");
    if (!rc) rc = bb_http_set_header(res, "Referrer-Policy", "no-referrer");
    if (!rc) rc = bb_http_reply_copy(res, 302, "text/plain", "", 0);
    return rc;
}

/* ------------------------------------------------------------------ start */

/* Starts per project and client IP take from tenant-auth's per-IP bucket
 * (BUNBASE_TENANT_AUTH_RATE_IP_*): each start holds a pending slot, so a flood from one address is
 * answered 429 (with Retry-After) before it fills the table for everyone. */
static int rate_limited(struct tenant_auth *ta, const struct bb_http_request *req,
                        struct bb_http_response *res, const char *pid)
{
    if (!ta->c.rate_limit) return 0;
    char ip[64], key[160], ra[32];
    if (bb_http_client_ip(req, ip, sizeof ip) != 0) snprintf(ip, sizeof ip, "local");
    snprintf(key, sizeof key, "%s|oauth|ip|%s", pid, ip);
    uint64_t retry = 0;
    if (ta_rl_take(ta, key, ta->c.rate_ip_per_min, ta->c.rate_ip_burst, &retry) == 0) return 0;
    snprintf(ra, sizeof ra, "%llu", (unsigned long long)retry);
    bb_http_set_header(res, "Retry-After", ra);
    bb_http_reply_error_status(res, 429, "rate_limited", "too many sign-ins started; retry later");
    return 1;
}

static void oauth_start(struct bb_http_request *req, struct bb_http_response *res)
{
    struct tenant_auth *ta = ta_from_request(req);
    struct oa_config c;
    struct ta_provider p;
    memset(&p, 0, sizeof p);
    struct sbuf loc = {0};
    char err[512] = "", redirect[REDIRECT_MAX];
    /* the project: a {projectId} of the route it is mounted on, else the key's */
    const char *pid = ta_request_project(req);
    if (!pid || !*pid) pid = req->identity.project_id;
    const char *prov = bb_http_param(req, "provider");
    int rc = oa_init(&c, err, sizeof err);
    if (rc) {
        bb_http_reply_error_status(res, 503, "oauth_misconfigured", err);
        return;
    }
    if (!ta || !pid[0] || strlen(pid) >= sizeof((struct pending *)0)->pid) {
        bb_http_reply_error_status(res, 503, "unavailable", "tenant-auth is not running");
        return;
    }
    if (rate_limited(ta, req, res, pid)) return;
    if (!provider_name_ok(prov)) {
        bb_http_reply_error_status(res, 400, "invalid_provider",
                                   "provider must be 1-31 characters of [a-z0-9_-]");
        return;
    }
    const char *ru = bb_http_query(req, "redirect_uri", redirect, sizeof redirect);
    if (!ru || !*ru) {
        bb_http_reply_error_status(res, 400, "invalid_redirect_uri",
                                   "redirect_uri is required (at most 1023 bytes)");
        return;
    }
    if ((strncmp(ru, "http://", 7) && strncmp(ru, "https://", 8)) || strpbrk(ru, "#\r\n ") ||
        ta_redirect_allowed(ta, pid, ru) != 1) {
        bb_http_reply_error_status(
            res, 400, "redirect_not_allowed",
            "redirect_uri is not one of the project's allowed redirect URLs");
        return;
    }
    rc = ta_provider_get(ta, pid, prov, &p, err, sizeof err);
    if (rc == BB_ENOTFOUND) {
        bb_http_reply_error_status(res, 404, "provider_not_found",
                                   "this provider is not configured for the project");
        return;
    }
    if (rc == BB_EPERM) {
        bb_http_reply_error_status(res, 403, "provider_disabled",
                                   "this provider is disabled for the project");
        return;
    }
    if (rc) {
        bb_http_reply_error(res, rc, err[0] ? err : NULL);
        return;
    }
    struct endpoints e;
    rc = endpoints_of(req, &c, &p, &e, err, sizeof err);
    if (rc) {
        bb_warn(MOD, "oauth_provider_error project=%s provider=%s reason=\"%s\"", pid, prov, err);
        bb_http_reply_error_status(res, rc == BB_EINVAL ? 400 : 502, "provider_unavailable", err);
        goto out;
    }
    struct pending pe;
    memset(&pe, 0, sizeof pe);
    char state[TOKEN_LEN], challenge[TOKEN_LEN];
    uint8_t d[BB_SHA256_LEN];
    if (bb_random_token(state, sizeof state, SECRET_TOKEN_BYTES) ||
        bb_random_token(pe.verifier, sizeof pe.verifier, SECRET_TOKEN_BYTES) ||
        bb_random_token(pe.nonce, sizeof pe.nonce, SECRET_TOKEN_BYTES)) {
        bb_http_reply_error(res, BB_EIO, "random generator failed");
        goto out;
    }
    bb_sha256(pe.verifier, strlen(pe.verifier), d);
    bb_base64url_encode(d, sizeof d, challenge, sizeof challenge);
    bb_sha256(state, strlen(state), pe.state_hash);
    if (callback_url(ta, prov, pe.callback, sizeof pe.callback)) {
        bb_http_reply_error_status(
            res, 503, "oauth_misconfigured",
            "the callback URL does not fit (BUNBASE_TENANT_AUTH_PUBLIC_URL)");
        goto out;
    }
    snprintf(pe.pid, sizeof pe.pid, "%s", pid);
    snprintf(pe.provider, sizeof pe.provider, "%s", prov);
    snprintf(pe.redirect, sizeof pe.redirect, "%s", ru);
    pe.expires_ms = bb_time_mono_ms() + c.state_ttl_s * 1000;

    char scope[300];
    const char *sc = p.scopes[0]                 ? p.scopes
                     : !strcmp(p.kind, "github") ? "read:user user:email"
                                                 : "openid email profile";
    if (e.oidc && strncmp(sc, "openid", 6) != 0 && !strstr(sc, " openid"))
        snprintf(scope, sizeof scope, "openid %s", sc);
    else
        snprintf(scope, sizeof scope, "%s", sc);
    char sep = strchr(e.authorize, '?') ? '&' : '?';
    sb_str(&loc, e.authorize);
    sb_param(&loc, &sep, "response_type", "code");
    sb_param(&loc, &sep, "client_id", p.client_id);
    sb_param(&loc, &sep, "redirect_uri", pe.callback);
    sb_param(&loc, &sep, "scope", scope);
    sb_param(&loc, &sep, "state", state);
    sb_param(&loc, &sep, "code_challenge", challenge);
    sb_param(&loc, &sep, "code_challenge_method", "S256");
    if (e.oidc) sb_param(&loc, &sep, "nonce", pe.nonce);
    if (loc.oom) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        goto out;
    }
    rc = pending_put(&pe);
    OPENSSL_cleanse(&pe, sizeof pe);
    if (rc) {
        bb_warn(MOD, "oauth_pending_full project=%s max=%llu", pid,
                (unsigned long long)c.max_pending);
        bb_http_reply_error_status(res, 503, "oauth_busy",
                                   "too many sign-ins in progress; try again shortly "
                                   "(BUNBASE_TENANT_AUTH_OAUTH_MAX_PENDING)");
        goto out;
    }
    if (reply_redirect(res, loc.p)) bb_http_reply_error(res, BB_ENOMEM, NULL);
out:
    sb_wipe(&loc);
    ta_provider_release(&p);
}

/* ------------------------------------------------------------------ callback */

/* What the provider says about the user. */
struct ext_user {
    char subject[256];
    char email[320];
    int email_verified;
};

/* Error of a failed sign-in, sent to the app as ?error=code&error_description=msg. */
struct fail {
    const char *code;
    char msg[300];
};

static int failf(struct fail *f, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(struct fail *f, const char *code, const char *fmt, ...)
{
    f->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return BB_EAUTH;
}

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

/* The code for tokens at the token endpoint; *tok gets the provider's reply (caller decrefs). */
static int exchange(const struct bb_http_request *req, const struct oa_config *c,
                    const struct ta_provider *p, const struct endpoints *e,
                    const struct pending *pe, const char *code, json_t **tok, struct fail *f)
{
    struct sbuf body = {0};
    char sep = '\0', err[512];
    sb_param(&body, &sep, "grant_type", "authorization_code");
    sb_param(&body, &sep, "code", code);
    sb_param(&body, &sep, "redirect_uri", pe->callback);
    sb_param(&body, &sep, "client_id", p->client_id);
    if (p->client_secret) sb_param(&body, &sep, "client_secret", p->client_secret);
    sb_param(&body, &sep, "code_verifier", pe->verifier);
    if (body.oom) {
        sb_wipe(&body);
        return failf(f, "server_error", "out of memory");
    }
    const char *hdr[] = {"Accept: application/json",
                         "Content-Type: application/x-www-form-urlencoded", NULL};
    long st = 0;
    int rc = http_json(req, c, "POST", e->token, hdr, body.p, body.len, &st, tok, err, sizeof err);
    sb_wipe(&body);
    if (rc) return failf(f, "token_exchange_failed", "%s", err);
    const char *perr = bb_json_str(*tok, "error", NULL);
    if (st != 200 || perr || !bb_json_str(*tok, "access_token", NULL)) {
        rc = failf(f, "token_exchange_failed",
                   "the token endpoint refused the code: HTTP %ld %.40s %.160s", st,
                   perr ? perr : "", bb_json_str(*tok, "error_description", ""));
        json_decref(*tok);
        *tok = NULL;
        return rc;
    }
    return 0;
}

static int verify_id_token(const struct bb_http_request *req, const struct oa_config *c,
                           const struct ta_provider *p, const struct endpoints *e,
                           const struct pending *pe, const char *idt, struct ext_user *u,
                           struct fail *f)
{
    struct oidc_meta m;
    struct bb_jwks keys;
    struct bb_jwt t = {0};
    struct bb_jwt_reject why = {0};
    char err[512];
    int rc = discover(req, c, e->issuer, 0, &m, &keys, err, sizeof err);
    if (rc) return failf(f, "provider_unavailable", "%s", err);
    rc = bb_jwt_verify(idt, strlen(idt), &keys, BB_JWT_ASYMMETRIC, &t, &why);
    if (rc == BB_EAUTH && !strcmp(why.code, "token_unknown_kid")) {
        /* the provider may have rotated its keys since we cached them */
        bb_jwks_release(&keys);
        rc = discover(req, c, e->issuer, 1, &m, &keys, err, sizeof err);
        if (rc) return failf(f, "provider_unavailable", "%s", err);
        rc = bb_jwt_verify(idt, strlen(idt), &keys, BB_JWT_ASYMMETRIC, &t, &why);
    }
    bb_jwks_release(&keys);
    if (rc == BB_EAUTH) return failf(f, "invalid_id_token", "%s: %s", why.code, why.msg);
    if (rc) return failf(f, "server_error", "%s", bb_strerror(rc));
    rc = bb_jwt_check_claims(&t, e->issuer, p->client_id, (int64_t)(bb_time_wall_ms() / 1000),
                             LEEWAY_S, &why);
    if (rc) {
        failf(f, "invalid_id_token", "%s: %s", why.code, why.msg);
        goto out;
    }
    json_t *aud = json_object_get(t.payload, "aud");
    const char *azp = bb_json_str(t.payload, "azp", NULL);
    if ((azp || (json_is_array(aud) && json_array_size(aud) > 1)) &&
        (!azp || strcmp(azp, p->client_id) != 0)) {
        rc = failf(f, "invalid_id_token", "token_wrong_audience: id_token azp is not our client");
        goto out;
    }
    const char *nonce = bb_json_str(t.payload, "nonce", NULL);
    if (!nonce || !bb_ct_streq(nonce, pe->nonce)) {
        rc = failf(f, "invalid_id_token", "nonce_mismatch: id_token nonce is not this sign-in's");
        goto out;
    }
    const char *sub = bb_json_str(t.payload, "sub", "");
    if (!sub[0] || strlen(sub) >= sizeof u->subject) {
        rc = failf(f, "invalid_id_token", "token_malformed: id_token has no usable sub");
        goto out;
    }
    copy_str(u->subject, sizeof u->subject, sub);
    const char *email = bb_json_str(t.payload, "email", "");
    if (strlen(email) < sizeof u->email) copy_str(u->email, sizeof u->email, email);
    json_t *ev = json_object_get(t.payload, "email_verified");
    u->email_verified =
        u->email[0] &&
        (json_is_true(ev) || (json_is_string(ev) && !strcmp(json_string_value(ev), "true")));
out:
    bb_jwt_release(&t);
    return rc;
}

static int github_user(const struct bb_http_request *req, const struct oa_config *c,
                       const struct endpoints *e, const char *access_token, struct ext_user *u,
                       struct fail *f)
{
    char authz[4200], err[512], url[URL_MAX + 16];
    if (strlen(access_token) > 4000 || strpbrk(access_token, "\r\n"))
        return failf(f, "token_exchange_failed", "the provider's access token is unusable");
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", access_token);
    const char *hdr[] = {authz, "Accept: application/vnd.github+json", "User-Agent: bunbase", NULL};
    long st = 0;
    json_t *j = NULL;
    int rc = http_json(req, c, "GET", e->userinfo, hdr, NULL, 0, &st, &j, err, sizeof err);
    if (rc == 0 && st != 200) {
        snprintf(err, sizeof err, "GET %.200s: HTTP %ld", e->userinfo, st);
        rc = BB_EPROTO;
    }
    json_t *id = json_object_get(j, "id");
    if (rc == 0 && !json_is_integer(id)) {
        snprintf(err, sizeof err, "GET %.200s: the user has no numeric id", e->userinfo);
        rc = BB_EPROTO;
    }
    if (rc == 0) snprintf(u->subject, sizeof u->subject, "%lld", (long long)json_integer_value(id));
    json_decref(j);
    j = NULL;
    if (rc) goto out;
    /* the primary, verified address (the profile's "email" is neither necessarily) */
    snprintf(url, sizeof url, "%s/emails", e->userinfo);
    rc = http_json(req, c, "GET", url, hdr, NULL, 0, &st, &j, err, sizeof err);
    if (rc == 0 && (st != 200 || !json_is_array(j))) {
        snprintf(err, sizeof err, "GET %.200s: HTTP %ld", url, st);
        rc = BB_EPROTO;
    }
    size_t i;
    json_t *em;
    if (rc == 0) json_array_foreach(j, i, em)
        {
            const char *a = bb_json_str(em, "email", "");
            if (bb_json_bool(em, "primary", 0) && a[0] && strlen(a) < sizeof u->email) {
                copy_str(u->email, sizeof u->email, a);
                u->email_verified = bb_json_bool(em, "verified", 0);
            }
        }
out:
    json_decref(j);
    OPENSSL_cleanse(authz, sizeof authz);
    return rc ? failf(f, "provider_unavailable", "%s", err) : 0;
}

/* The browser goes back to the app: tokens in the fragment, or ?error=. */
static void finish(struct bb_http_response *res, const struct pending *pe, const json_t *tokens,
                   const struct fail *f)
{
    struct sbuf loc = {0};
    sb_str(&loc, pe->redirect);
    if (tokens) {
        char sep = '#', num[32];
        sb_param(&loc, &sep, "access_token", bb_json_str(tokens, "access_token", ""));
        sb_param(&loc, &sep, "refresh_token", bb_json_str(tokens, "refresh_token", ""));
        sb_param(&loc, &sep, "token_type", bb_json_str(tokens, "token_type", "Bearer"));
        snprintf(num, sizeof num, "%lld", (long long)bb_json_int(tokens, "expires_in", 0));
        sb_param(&loc, &sep, "expires_in", num);
    } else {
        char sep = strchr(pe->redirect, '?') ? '&' : '?';
        sb_param(&loc, &sep, "error", f->code);
        sb_param(&loc, &sep, "error_description", f->msg);
    }
    if (loc.oom || reply_redirect(res, loc.p)) bb_http_reply_error(res, BB_ENOMEM, NULL);
    sb_wipe(&loc);
}

static void oauth_callback(struct bb_http_request *req, struct bb_http_response *res)
{
    struct tenant_auth *ta = ta_from_request(req);
    struct oa_config c;
    char err[512] = "", state[STATE_MAX + 1], code[CODE_MAX + 1], perr[128];
    const char *prov = bb_http_param(req, "provider");
    int rc = oa_init(&c, err, sizeof err);
    if (rc) {
        bb_http_reply_error_status(res, 503, "oauth_misconfigured", err);
        return;
    }
    if (!ta) {
        bb_http_reply_error_status(res, 503, "unavailable", "tenant-auth is not running");
        return;
    }
    const char *st = bb_http_query(req, "state", state, sizeof state);
    struct pending pe;
    if (!st || !*st || !provider_name_ok(prov) || pending_take(st, &pe) != 0) {
        bb_http_reply_error_status(res, 400, "invalid_state",
                                   "unknown, expired or already used OAuth state");
        return;
    }
    struct ta_provider p;
    memset(&p, 0, sizeof p);
    struct fail f = {0};
    json_t *tok = NULL, *session = NULL;
    struct ext_user u;
    memset(&u, 0, sizeof u);
    if (strcmp(pe.provider, prov) != 0) {
        failf(&f, "invalid_state", "the state belongs to another provider");
        goto done;
    }
    const char *pe_code = bb_http_query(req, "error", perr, sizeof perr);
    if (pe_code) {
        size_t n = strspn(pe_code, "abcdefghijklmnopqrstuvwxyz_");
        failf(&f, "access_denied", "the provider answered %.*s", (int)n, pe_code);
        goto done;
    }
    const char *cd = bb_http_query(req, "code", code, sizeof code);
    if (!cd || !*cd) {
        failf(&f, "invalid_request", "the provider sent no code (at most %d bytes)", CODE_MAX);
        goto done;
    }
    rc = ta_provider_get(ta, pe.pid, pe.provider, &p, err, sizeof err);
    if (rc) {
        failf(&f, rc == BB_EPERM ? "provider_disabled" : "provider_not_found", "%s",
              err[0] ? err : bb_strerror(rc));
        goto done;
    }
    struct endpoints e;
    rc = endpoints_of(req, &c, &p, &e, err, sizeof err);
    if (rc) {
        failf(&f, "provider_unavailable", "%s", err);
        goto done;
    }
    if (exchange(req, &c, &p, &e, &pe, cd, &tok, &f)) goto done;
    if (e.oidc) {
        const char *idt = bb_json_str(tok, "id_token", NULL);
        if (!idt) {
            failf(&f, "invalid_id_token", "the token endpoint returned no id_token");
            goto done;
        }
        if (verify_id_token(req, &c, &p, &e, &pe, idt, &u, &f)) goto done;
    } else if (github_user(req, &c, &e, bb_json_str(tok, "access_token", ""), &u, &f)) {
        goto done;
    }
    char uid[128];
    rc = ta_user_from_external(ta, pe.pid, pe.provider, u.subject, u.email[0] ? u.email : NULL,
                               u.email_verified, uid, sizeof uid, err, sizeof err);
    if (rc) {
        failf(&f, rc == BB_EPERM ? "user_disabled" : "server_error", "%s",
              err[0] ? err : bb_strerror(rc));
        goto done;
    }
    rc = ta_issue_tokens(ta, pe.pid, uid, req, &session, err, sizeof err);
    if (rc) {
        failf(&f, rc == BB_EPERM ? "user_disabled" : "server_error", "%s",
              err[0] ? err : bb_strerror(rc));
        goto done;
    }
    bb_info(MOD, "oauth_sign_in project=%s provider=%s uid=%s", pe.pid, pe.provider, uid);
done:
    if (!session)
        bb_warn(MOD, "oauth_sign_in_failed project=%s provider=%s code=%s reason=\"%s\"", pe.pid,
                pe.provider, f.code, f.msg);
    finish(res, &pe, session, &f);
    json_decref(session);
    json_decref(tok);
    ta_provider_release(&p);
    OPENSSL_cleanse(&pe, sizeof pe);
    OPENSSL_cleanse(code, sizeof code);
}

const struct bb_route ta_oauth_routes[] = {
    {"GET", "/v1/auth/project/oauth/{provider}/start", oauth_start,
     BB_IDENTITY_PROJECT_KEY_PUBLIC | BB_IDENTITY_PROJECT_KEY_SECRET,
     BB_ROUTE_POOL | BB_ROUTE_QUERY_KEY, 0, "tenant_auth_oauth_start"},
    {"GET", "/v1/auth/project/oauth/{provider}/callback", oauth_callback, BB_AUTH_NONE,
     BB_ROUTE_POOL, 0, "tenant_auth_oauth_callback"},
};
const size_t ta_oauth_nroutes = sizeof ta_oauth_routes / sizeof ta_oauth_routes[0];
