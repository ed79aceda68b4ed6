/* platform_config.c — the platform's knobs (BUNBASE_PLATFORM_*), read from the environment at
 * start and validated; docs/configuration.md lists them. A bad value stops the start with a
 * message naming the knob. */
#include "platform_internal.h"
#include "bb_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int u64_knob(const char *env, uint64_t dflt, uint64_t min, uint64_t max, uint64_t *out,
                    char *err, size_t errcap)
{
    const char *v = getenv(env);
    *out = dflt;
    if (!v || !*v) return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || !end || *end || v[0] == '-' || x < min || x > max) {
        snprintf(err, errcap, "%s must be an integer in [%llu, %llu] (got \"%.40s\")", env,
                 (unsigned long long)min, (unsigned long long)max, v);
        return BB_EINVAL;
    }
    *out = x;
    return 0;
}

static int bool_knob(const char *env, int dflt, int *out, char *err, size_t errcap)
{
    const char *v = getenv(env);
    *out = dflt;
    if (!v || !*v) return 0;
    if (!strcmp(v, "1") || !strcmp(v, "true"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false"))
        *out = 0;
    else {
        snprintf(err, errcap, "%s must be 0 or 1 (got \"%.40s\")", env, v);
        return BB_EINVAL;
    }
    return 0;
}

int plat_config_load(struct plat_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    const char *mode = getenv("BUNBASE_PLATFORM_MODE");
    if (!mode || !*mode || !strcmp(mode, "cloud"))
        c->mode = MODE_CLOUD;
    else if (!strcmp(mode, "self_hosted"))
        c->mode = MODE_SELF_HOSTED;
    else {
        snprintf(err, errcap, "BUNBASE_PLATFORM_MODE must be cloud or self_hosted (got \"%.40s\")",
                 mode);
        return BB_EINVAL;
    }
    int rc = 0;
    const uint64_t big = 1000000000ull;
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_MAX_PROJECTS_PER_USER", 10, 0, big,
                      &c->max_projects_per_user, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_MAX_TOKENS_PER_USER", 20, 0, big, &c->max_tokens_per_user,
                      err, errcap);
    if (!rc) rc = bool_knob("BUNBASE_PLATFORM_COOKIE_SECURE", 0, &c->cookie_secure, err, errcap);
    if (!rc) rc = u64_knob("BUNBASE_PLATFORM_SYNC_MS", 500, 50, 5000, &c->sync_ms, err, errcap);
    if (!rc) rc = bool_knob("BUNBASE_PLATFORM_RATE_LIMIT", 1, &c->rate_limit, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_RATE_IP_PER_MIN", 60, 1, big, &c->rate_ip_per_min, err,
                      errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_RATE_IP_BURST", 30, 1, big, &c->rate_ip_burst, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_RATE_ACCOUNT_PER_MIN", 10, 1, big, &c->rate_account_per_min,
                      err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_RATE_ACCOUNT_BURST", 10, 1, big, &c->rate_account_burst,
                      err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_RATE_MAX_ENTRIES", 100000, 100, big, &c->rate_max_entries,
                      err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_PAT_DEFAULT_TTL_S", 30 * 86400, 1, 10 * 365 * 86400ull,
                      &c->pat_default_ttl_s, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_PAT_MAX_TTL_S", 365 * 86400, 1, 10 * 365 * 86400ull,
                      &c->pat_max_ttl_s, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_MAX_KEYS_PER_KIND", 2, 1, 16, &c->max_keys_per_kind, err,
                      errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_MAX_NAME_BYTES", 100, 1, 1000, &c->max_name_bytes, err,
                      errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_SESSION_COOKIE_MAX_AGE_S", 30 * 86400, 60,
                      10 * 365 * 86400ull, &c->session_cookie_max_age_s, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_GATEWAY_MAX_RESPONSE_BYTES", 64ull << 20, 1024, 1ull << 34,
                      &c->gw_max_response_bytes, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_GATEWAY_STREAM_WAIT_MS", 10000, 100, 600000,
                      &c->gw_stream_wait_ms, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_GATEWAY_MAX_FRAME_BYTES", 8ull << 20, 1024, 1ull << 30,
                      &c->gw_max_frame_bytes, err, errcap);
    if (!rc)
        rc = u64_knob("BUNBASE_PLATFORM_GATEWAY_CORS_MAX_ORIGINS", 64, 1, 10000,
                      &c->gw_cors_max_origins, err, errcap);
    if (!rc && c->pat_default_ttl_s > c->pat_max_ttl_s) {
        snprintf(
            err, errcap,
            "BUNBASE_PLATFORM_PAT_DEFAULT_TTL_S must not exceed BUNBASE_PLATFORM_PAT_MAX_TTL_S");
        rc = BB_EINVAL;
    }
    return rc;
}
