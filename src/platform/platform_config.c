/* platform_config.c — the platform's knobs (BUNBASE_PLATFORM_*): one bb_knobs table, read from
 * the environment at start and validated (a bad value stops the start with a message naming the
 * knob); docs/configuration.md lists them. */
#include "platform_internal.h"
#include "bb_err.h"

#include <stdio.h>
#include <string.h>

#ifndef BB_PLAT_WEB_DIR /* CMake sets it to the source tree's web/dist (make build writes it) */
#define BB_PLAT_WEB_DIR "web/dist"
#endif
#define BIG 1000000000ull
#define TEN_YEARS_S (10 * 365 * 86400ull)
#define U64(F, ENV, DFLT, MIN, MAX, HELP) BB_KNOB_U64_ROW(struct plat_config, F, ENV, DFLT, MIN, MAX, HELP)
#define BOOL(F, ENV, DFLT, HELP) BB_KNOB_BOOL_ROW(struct plat_config, F, ENV, DFLT, HELP)

const struct bb_knob plat_knobs[] = {
    BB_KNOB_CHOICE_ROW(struct plat_config, mode_name, "BUNBASE_PLATFORM_MODE", "cloud",
                       "cloud|self_hosted",
                       "cloud: anyone signs up; self_hosted: one administrator, invitations"),
    U64(max_projects_per_user, "BUNBASE_PLATFORM_MAX_PROJECTS_PER_USER", "10", 0, BIG,
        "cloud: projects one developer may create; 0: no limit"),
    U64(max_tokens_per_user, "BUNBASE_PLATFORM_MAX_TOKENS_PER_USER", "20", 0, BIG,
        "cloud: personal access tokens one developer may hold; 0: no limit"),
    BOOL(cookie_secure, "BUNBASE_PLATFORM_COOKIE_SECURE", "0",
         "mark the dashboard session cookie Secure (behind HTTPS)"),
    U64(sync_ms, "BUNBASE_PLATFORM_SYNC_MS", "500", 50, 5000,
        "how often the in-memory project cache polls PostgreSQL for changes"),
    BOOL(rate_limit, "BUNBASE_PLATFORM_RATE_LIMIT", "1", "rate-limit sign-up, login and key use"),
    U64(rate_ip_per_min, "BUNBASE_PLATFORM_RATE_IP_PER_MIN", "60", 1, BIG,
        "auth requests per minute from one IP address"),
    U64(rate_ip_burst, "BUNBASE_PLATFORM_RATE_IP_BURST", "30", 1, BIG, "burst of the per-IP limit"),
    U64(rate_account_per_min, "BUNBASE_PLATFORM_RATE_ACCOUNT_PER_MIN", "10", 1, BIG,
        "auth attempts per minute against one account"),
    U64(rate_account_burst, "BUNBASE_PLATFORM_RATE_ACCOUNT_BURST", "10", 1, BIG,
        "burst of the per-account limit"),
    U64(rate_max_entries, "BUNBASE_PLATFORM_RATE_MAX_ENTRIES", "100000", 100, BIG,
        "rate-limit buckets kept in memory (oldest dropped)"),
    U64(pat_default_ttl_s, "BUNBASE_PLATFORM_PAT_DEFAULT_TTL_S", "2592000", 1, TEN_YEARS_S,
        "lifetime of a personal access token created without one, seconds"),
    U64(pat_max_ttl_s, "BUNBASE_PLATFORM_PAT_MAX_TTL_S", "31536000", 1, TEN_YEARS_S,
        "longest lifetime a personal access token may ask for, seconds"),
    U64(max_keys_per_kind, "BUNBASE_PLATFORM_MAX_KEYS_PER_KIND", "2", 1, 16,
        "active project keys of one kind (pk_/sk_) at once (rotation)"),
    U64(max_name_bytes, "BUNBASE_PLATFORM_MAX_NAME_BYTES", "100", 1, 1000,
        "longest project / token / key name, bytes"),
    U64(session_cookie_max_age_s, "BUNBASE_PLATFORM_SESSION_COOKIE_MAX_AGE_S", "2592000", 60,
        TEN_YEARS_S, "Max-Age of the dashboard session cookie, seconds"),
    U64(gw_max_response_bytes, "BUNBASE_PLATFORM_GATEWAY_MAX_RESPONSE_BYTES", "67108864", 1024,
        1ull << 34, "largest answer the gateway accepts from a remote data service"),
    U64(gw_stream_wait_ms, "BUNBASE_PLATFORM_GATEWAY_STREAM_WAIT_MS", "10000", 100, 600000,
        "how long the gateway waits for a remote subscription's status"),
    U64(gw_max_frame_bytes, "BUNBASE_PLATFORM_GATEWAY_MAX_FRAME_BYTES", "8388608", 1024,
        1ull << 30, "largest SSE frame the gateway relays"),
    U64(gw_cors_max_origins, "BUNBASE_PLATFORM_GATEWAY_CORS_MAX_ORIGINS", "64", 1, 10000,
        "allowed CORS origins per project"),
    U64(audit_max_limit, "BUNBASE_PLATFORM_AUDIT_MAX_LIMIT", "200", 1, 10000,
        "most records in one page of GET /v1/projects/{projectId}/audit"),
    BB_KNOB_PATH_ROW(struct plat_config, web_dir, "BUNBASE_PLATFORM_WEB_DIR", BB_PLAT_WEB_DIR,
                     "the dashboard's built files (index.html, assets/) served at /"),
    BB_KNOBS_END,
};

int plat_config_load(struct plat_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    int rc = bb_knobs_load(plat_knobs, bb_knobs_count(plat_knobs), c, err, errcap);
    if (rc) return rc;
    c->mode = strcmp(c->mode_name, "self_hosted") == 0 ? MODE_SELF_HOSTED : MODE_CLOUD;
    if (c->pat_default_ttl_s > c->pat_max_ttl_s) {
        snprintf(
            err, errcap,
            "BUNBASE_PLATFORM_PAT_DEFAULT_TTL_S must not exceed BUNBASE_PLATFORM_PAT_MAX_TTL_S");
        return BB_EINVAL;
    }
    return 0;
}
