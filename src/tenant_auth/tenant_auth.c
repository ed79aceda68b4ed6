/* tenant_auth.c — the tenant-auth service: start, stop, health; the resolver's registration.
 *
 * Start needs bun-kms running in this process (the signing keys and provider secrets are its):
 * without it tenant-auth refuses to start with a message saying so, rather than issue tokens it
 * could not verify elsewhere or drop secrets (docs/tenant-auth.md, "Dependencies"). bundoc-server
 * may run here or at BUNBASE_BUNDOC_SERVER_ADDR (bb_host_call finds it per request).
 */
#include "tenant_auth.h"
#include "tenant_auth_internal.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_host.h"
#include "bb_knobs.h"
#include "bb_log.h"
#include "bb_ratelimit.h"
#include "bb_router.h"
#include "bb_time.h"
#include "bun_kms.h"
#include "ta_oauth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct bb_knob ta_knobs[];

int ta_rl_take(struct tenant_auth *ta, const char *key, uint64_t per_min, uint64_t burst,
               uint64_t *retry_after_s)
{
    return bb_rl_take(ta->rl, key, per_min, burst, bb_time_wall_ms(), retry_after_s);
}

static void ta_free(struct tenant_auth *ta)
{
    if (!ta) return;
    ta_tokens_release(ta);
    bb_rl_free(ta->rl);
    if (ta->smtp_password) {
        OPENSSL_cleanse(ta->smtp_password, strlen(ta->smtp_password));
        free(ta->smtp_password);
    }
    free(ta);
}

static int mail_setup(struct tenant_auth *ta, char *err, size_t errcap)
{
    if (strcmp(ta->c.mailer, "smtp") != 0) return 0;
    if (strncmp(ta->c.smtp_url, "smtp://", 7) && strncmp(ta->c.smtp_url, "smtps://", 8)) {
        snprintf(err, errcap,
                 "BUNBASE_TENANT_AUTH_SMTP_URL must be smtp://host:port or "
                 "smtps://host:port when BUNBASE_TENANT_AUTH_MAILER=smtp");
        return BB_EINVAL;
    }
    if (!strchr(ta->c.smtp_from, '@') || strpbrk(ta->c.smtp_from, "\r\n<>\"")) {
        snprintf(err, errcap, "BUNBASE_TENANT_AUTH_SMTP_FROM must be a mail address");
        return BB_EINVAL;
    }
    if (!ta->c.smtp_password_file[0]) return 0;
    char buf[1024];
    size_t n = 0;
    int rc = bb_fs_read_small(ta->c.smtp_password_file, buf, sizeof buf - 1, &n);
    if (rc) {
        snprintf(err, errcap, "BUNBASE_TENANT_AUTH_SMTP_PASSWORD_FILE: cannot read %s: %s",
                 ta->c.smtp_password_file, bb_strerror(rc));
        return BB_EINVAL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    ta->smtp_password = strdup(buf);
    OPENSSL_cleanse(buf, sizeof buf);
    return ta->smtp_password ? 0 : BB_ENOMEM;
}

static int tenant_auth_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    struct tenant_auth *ta = calloc(1, sizeof *ta);
    if (!ta) return BB_ENOMEM;
    ta->rt = rt;
    int rc = ta_config_load(&ta->c, err, errcap);
    if (rc == 0) rc = mail_setup(ta, err, errcap);
    if (rc == 0) {
        ta->kms = bb_host_service_state(rt->host, "bun-kms");
        if (!ta->kms) {
            snprintf(err, errcap,
                     "tenant-auth needs bun-kms in the same process (its signing keys and provider "
                     "secrets live there): add bun-kms to --services");
            rc = BB_EUNAVAIL;
        }
    }
    if (rc == 0 && sodium_init() < 0) {
        snprintf(err, errcap, "tenant-auth: libsodium failed to initialize");
        rc = BB_EINTERNAL;
    }
    if (rc == 0) {
        char pw[33];
        bb_random_token(pw, sizeof pw, 24);
        if (crypto_pwhash_str_alg(ta->dummy_hash, pw, strlen(pw), ta->c.argon2_opslimit,
                                  (size_t)ta->c.argon2_memlimit_kib * 1024,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
            snprintf(err, errcap, "tenant-auth: Argon2id with BUNBASE_TENANT_AUTH_ARGON2_* failed");
            rc = BB_EINVAL;
        }
    }
    if (rc == 0) {
        const char *base =
            ta->c.public_url[0] ? ta->c.public_url : (rt->public_url ? rt->public_url : "");
        size_t n = strlen(base);
        while (n && base[n - 1] == '/')
            n--;
        snprintf(ta->issuer_base, sizeof ta->issuer_base, "%.*s/v1/projects/", (int)n, base);
    }
    if (rc == 0) rc = bb_rl_new(ta->c.rate_max_entries, &ta->rl);
    if (rc == 0) rc = ta_tokens_init(ta);
    if (rc == 0)
        rc = bb_host_mount(rt->host, "tenant-auth", ta_routes, ta_nroutes, ta, NULL, NULL, err,
                           errcap);
    /* OAuth start and callback (ta_oauth.c): browser-facing, on the gateway itself */
    if (rc == 0) rc = ta_oauth_start(err, errcap);
    if (rc == 0) rc = bb_router_add(rt->router, ta_oauth_routes, ta_oauth_nroutes, ta);
    if (rc == 0) {
        struct bb_identity_resolver r = {"tenant-auth", ta_resolve, ta};
        rc = bb_router_add_resolver(rt->router, &r);
    }
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "tenant-auth: %s", bb_strerror(rc));
        ta_free(ta);
        return rc;
    }
    bb_info(TA_MOD, "started issuer=%s<project>/auth mailer=%s", ta->issuer_base, ta->c.mailer);
    *state = ta;
    return 0;
}

static void tenant_auth_stop(void *state)
{
    ta_oauth_stop();
    ta_free(state);
}

static int tenant_auth_health(void *state, json_t **detail)
{
    struct tenant_auth *ta = state;
    *detail = json_pack("{s:s,s:s}", "status", "ok", "mailer", ta->c.mailer);
    return 0;
}

const struct bb_service_def bb_tenant_auth_service = {
    .name = "tenant-auth",
    .start = tenant_auth_start,
    .stop = tenant_auth_stop,
    .health = tenant_auth_health,
    .knobs = ta_knobs,
    .config_size = sizeof(struct ta_conf),
};
