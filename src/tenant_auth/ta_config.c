/* ta_config.c — tenant-auth's knobs (BUNBASE_TENANT_AUTH_*): one bb_knobs table
 * (bb_tenant_auth_service.knobs), read at start; docs/configuration.md lists them. They are the
 * instance-wide bounds and defaults; each project's own settings (providers, password policy,
 * token lifetimes within max_ttl_s, redirect URLs, rate limits) are in its auth config
 * (ta_store.c). */
#include "tenant_auth_internal.h"
#include "bb_knobs.h"

#include <stddef.h>

#define ST struct ta_conf
const struct bb_knob ta_knobs[] = {
    BB_KNOB_U64_ROW(ST, argon2_opslimit, "BUNBASE_TENANT_AUTH_ARGON2_OPSLIMIT", "2", 1, 20,
                    "Argon2id passes for end-user passwords"),
    BB_KNOB_U64_ROW(ST, argon2_memlimit_kib, "BUNBASE_TENANT_AUTH_ARGON2_MEMLIMIT_KIB", "19456", 8,
                    4194304, "Argon2id memory (KiB) for end-user passwords"),
    BB_KNOB_U64_ROW(ST, access_ttl_s, "BUNBASE_TENANT_AUTH_ACCESS_TTL_S", "900", 30, 86400,
                    "default lifetime of an end-user access token (a project may set its own)"),
    BB_KNOB_U64_ROW(ST, refresh_ttl_s, "BUNBASE_TENANT_AUTH_REFRESH_TTL_S", "2592000", 60,
                    315360000, "default lifetime of an end-user session (refresh token)"),
    BB_KNOB_U64_ROW(ST, max_ttl_s, "BUNBASE_TENANT_AUTH_MAX_TTL_S", "31536000", 60, 315360000,
                    "the longest token lifetime a project may configure"),
    BB_KNOB_U64_ROW(ST, key_grace_s, "BUNBASE_TENANT_AUTH_KEY_GRACE_S", "86400", 0, 31536000,
                    "a rotated-out signing key keeps verifying this long"),
    BB_KNOB_U64_ROW(ST, leeway_s, "BUNBASE_TENANT_AUTH_LEEWAY_S", "30", 0, 600,
                    "clock skew allowed on exp/iat"),
    BB_KNOB_U64_ROW(ST, key_refresh_ms, "BUNBASE_TENANT_AUTH_KEY_REFRESH_MS", "2000", 10, 600000,
                    "the resolver reloads a project's public keys at most this often"),
    BB_KNOB_U64_ROW(ST, key_cache_projects, "BUNBASE_TENANT_AUTH_KEY_CACHE_PROJECTS", "4096", 16,
                    1000000, "projects whose public keys are cached"),
    BB_KNOB_BOOL_ROW(ST, rate_limit, "BUNBASE_TENANT_AUTH_RATE_LIMIT", "1",
                     "login / register / reset rate limits (0: off, for tests)"),
    BB_KNOB_U64_ROW(ST, rate_ip_per_min, "BUNBASE_TENANT_AUTH_RATE_IP_PER_MIN", "30", 1, 1000000,
                    "default: attempts a minute per project and client IP"),
    BB_KNOB_U64_ROW(ST, rate_ip_burst, "BUNBASE_TENANT_AUTH_RATE_IP_BURST", "20", 1, 1000000,
                    "default: burst per project and client IP"),
    BB_KNOB_U64_ROW(ST, rate_account_per_min, "BUNBASE_TENANT_AUTH_RATE_ACCOUNT_PER_MIN", "10", 1,
                    1000000, "default: login attempts a minute per project and account"),
    BB_KNOB_U64_ROW(ST, rate_account_burst, "BUNBASE_TENANT_AUTH_RATE_ACCOUNT_BURST", "5", 1,
                    1000000, "default: login burst per project and account"),
    BB_KNOB_U64_ROW(ST, rate_max_entries, "BUNBASE_TENANT_AUTH_RATE_MAX_ENTRIES", "100000", 100,
                    100000000, "rate-limit buckets kept in memory"),
    BB_KNOB_U64_ROW(ST, reset_ttl_s, "BUNBASE_TENANT_AUTH_RESET_TTL_S", "3600", 1, 604800,
                    "a password-reset token expires after this"),
    BB_KNOB_U64_ROW(ST, verify_ttl_s, "BUNBASE_TENANT_AUTH_VERIFY_TTL_S", "86400", 1, 2592000,
                    "an email-verification token expires after this"),
    BB_KNOB_U64_ROW(ST, password_max_bytes, "BUNBASE_TENANT_AUTH_PASSWORD_MAX_BYTES", "256", 16,
                    4096, "longest password accepted"),
    BB_KNOB_U64_ROW(ST, revoked_max, "BUNBASE_TENANT_AUTH_REVOKED_MAX", "100000", 16, 100000000,
                    "revoked sessions and disabled users the resolver remembers"),
    BB_KNOB_BOOL_ROW(ST, cookie_secure, "BUNBASE_TENANT_AUTH_COOKIE_SECURE", "0",
                     "mark the tenant_session_token cookie Secure (HTTPS deployments)"),
    BB_KNOB_STR_ROW(ST, public_url, "BUNBASE_TENANT_AUTH_PUBLIC_URL", "",
                    "base URL of the issuer and of mail links (\"\": the gateway's public URL)"),
    BB_KNOB_CHOICE_ROW(ST, mailer, "BUNBASE_TENANT_AUTH_MAILER", "log", "log|smtp",
                       "log: log that a mail was sent (development); smtp: send it"),
    BB_KNOB_STR_ROW(ST, smtp_url, "BUNBASE_TENANT_AUTH_SMTP_URL", "",
                    "smtp://host:port (STARTTLS with SMTP_STARTTLS) or smtps://host:port"),
    BB_KNOB_STR_ROW(ST, smtp_from, "BUNBASE_TENANT_AUTH_SMTP_FROM", "",
                    "sender address of end-user mails"),
    BB_KNOB_STR_ROW(ST, smtp_user, "BUNBASE_TENANT_AUTH_SMTP_USER", "", "SMTP login (\"\": none)"),
    BB_KNOB_PATH_ROW(ST, smtp_password_file, "BUNBASE_TENANT_AUTH_SMTP_PASSWORD_FILE", "",
                     "file holding the SMTP password (mode 0600; never on a command line)"),
    BB_KNOB_BOOL_ROW(ST, smtp_starttls, "BUNBASE_TENANT_AUTH_SMTP_STARTTLS", "0",
                     "require STARTTLS on an smtp:// URL"),
    BB_KNOB_U64_ROW(ST, smtp_timeout_ms, "BUNBASE_TENANT_AUTH_SMTP_TIMEOUT_MS", "10000", 100,
                    600000, "one SMTP conversation"),
    BB_KNOBS_END,
};
#undef ST

int ta_config_load(struct ta_conf *c, char *err, size_t errcap)
{
    return bb_knobs_load(ta_knobs, bb_knobs_count(ta_knobs), c, err, errcap);
}
