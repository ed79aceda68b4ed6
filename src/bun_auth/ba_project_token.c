/* ba_project_token.c — short-lived project tokens (bbf_…): minted for a function's invocation,
 * verified by the platform's resolver. Format and key in bun_auth.h. */
#include "bun_auth.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "bbf_"
#define KEY_LABEL "bunbase project token v1"

static void mac_of(const char *internal_token, const char *signed_part, size_t n,
                   char hex[2 * BB_SHA256_LEN + 1])
{
    uint8_t key[BB_SHA256_LEN], mac[BB_SHA256_LEN];
    bb_hmac_sha256(internal_token, strlen(internal_token), KEY_LABEL, sizeof KEY_LABEL - 1, key);
    bb_hmac_sha256(key, sizeof key, signed_part, n, mac);
    bb_hex_encode(mac, sizeof mac, hex, 2 * BB_SHA256_LEN + 1);
    memset(key, 0, sizeof key);
}

int bun_auth_project_token_mint(const char *internal_token, const char *project_id,
                                int64_t expires_ms, char *out, size_t cap)
{
    if (!internal_token || !*internal_token || !project_id ||
        !bb_project_id_valid(project_id, strlen(project_id)) || expires_ms <= 0)
        return BB_EINVAL;
    char signed_part[160];
    int n = snprintf(signed_part, sizeof signed_part, "%lld_%s", (long long)expires_ms, project_id);
    if (n < 0 || (size_t)n >= sizeof signed_part) return BB_EINVAL;
    char hex[2 * BB_SHA256_LEN + 1];
    mac_of(internal_token, signed_part, (size_t)n, hex);
    int m = snprintf(out, cap, PREFIX "%lld_%s_%s", (long long)expires_ms, hex, project_id);
    return m < 0 || (size_t)m >= cap ? BB_EINVAL : 0;
}

int bun_auth_project_token_verify(const char *internal_token, const char *token, int64_t now_ms,
                                  char *pid, size_t pidcap, int64_t *expires_ms)
{
    if (!token || strncmp(token, PREFIX, sizeof PREFIX - 1) != 0) return BB_ENOTFOUND;
    if (!internal_token || !*internal_token || strlen(token) >= BUN_AUTH_PROJECT_TOKEN_MAX)
        return BB_EAUTH;
    const char *p = token + sizeof PREFIX - 1, *e = p;
    int64_t exp = 0;
    for (; *e >= '0' && *e <= '9' && e - p < 18; e++)
        exp = exp * 10 + (*e - '0');
    if (e == p || *e != '_') return BB_EAUTH;
    const char *mac = e + 1;
    for (int i = 0; i < 2 * BB_SHA256_LEN; i++)
        if (!((mac[i] >= '0' && mac[i] <= '9') || (mac[i] >= 'a' && mac[i] <= 'f')))
            return BB_EAUTH;
    if (mac[2 * BB_SHA256_LEN] != '_') return BB_EAUTH;
    const char *id = mac + 2 * BB_SHA256_LEN + 1;
    size_t idn = strlen(id);
    if (idn >= pidcap || !bb_project_id_valid(id, idn)) return BB_EAUTH;
    char signed_part[160];
    int n = snprintf(signed_part, sizeof signed_part, "%lld_%s", (long long)exp, id);
    if (n < 0 || (size_t)n >= sizeof signed_part) return BB_EAUTH;
    char hex[2 * BB_SHA256_LEN + 1];
    mac_of(internal_token, signed_part, (size_t)n, hex);
    if (!bb_ct_equal(hex, mac, 2 * BB_SHA256_LEN)) return BB_EAUTH;
    memcpy(pid, id, idn + 1);
    if (expires_ms) *expires_ms = exp;
    return now_ms >= exp ? BB_ETIMEDOUT : 0;
}
