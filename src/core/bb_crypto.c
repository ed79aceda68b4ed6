/* bb_crypto.c — see bb_crypto.h. */
#include "bb_crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "bb_err.h"
#include "bb_log.h"

int bb_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    if (n == 0) return 0;
    if (!buf) return BB_EINVAL;
    while (n > 0) {
        int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1) {
            bb_error("crypto", "rand_bytes_failed n=%d", chunk);
            return BB_EIO;
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int bb_random_token(char *out, size_t cap, size_t nbytes)
{
    int rc = 0;
    uint8_t raw[BB_RANDOM_TOKEN_MAX_BYTES];

    if (!out) return BB_EINVAL;
    if (cap > 0) out[0] = '\0';
    if (nbytes == 0 || nbytes > BB_RANDOM_TOKEN_MAX_BYTES || cap < BB_BASE64URL_LEN(nbytes) + 1) {
        rc = BB_EINVAL;
        goto out;
    }
    rc = bb_random_bytes(raw, nbytes);
    if (rc != 0) goto out;
    if (bb_base64url_encode(raw, nbytes, out, cap) == 0) rc = BB_EINTERNAL; /* cap checked above */
out:
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

static void crypto_fail(const char *what)
{
    bb_error("crypto", "openssl_failure op=%s", what);
    abort();
}

/* SHA-256 fetched from the provider once: EVP_sha256() makes every EVP_Digest fetch it again
 * (a name lookup under a lock, a third of a key hash's time: every request with a project key
 * hashes it). Never freed: it lives as long as the process. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void bb_sha256(const void *p, size_t n, uint8_t out[BB_SHA256_LEN])
{
    unsigned int len = 0;
    if (!p) p = "";
    pthread_once(&sha256_once, sha256_fetch);
    if (EVP_Digest(p, n, out, &len, sha256_md ? sha256_md : EVP_sha256(), NULL) != 1 ||
        len != BB_SHA256_LEN)
        crypto_fail("sha256");
}

void bb_sha256_hex(const void *p, size_t n, char out[2 * BB_SHA256_LEN + 1])
{
    uint8_t d[BB_SHA256_LEN];
    bb_sha256(p, n, d);
    bb_hex_encode(d, sizeof d, out, 2 * BB_SHA256_LEN + 1);
}

void bb_hmac_sha256(const void *key, size_t klen, const void *p, size_t n,
                    uint8_t out[BB_SHA256_LEN])
{
    static const unsigned char empty[1] = {0};
    unsigned int len = 0;
    if (!key || klen == 0) {
        key = empty;
        klen = 0;
    }
    if (!p) p = empty;
    if (klen > (size_t)INT_MAX) { /* RFC 2104: keys longer than the block are hashed first */
        uint8_t kh[BB_SHA256_LEN];
        bb_sha256(key, klen, kh);
        bb_hmac_sha256(kh, sizeof kh, p, n, out);
        OPENSSL_cleanse(kh, sizeof kh);
        return;
    }
    if (!HMAC(EVP_sha256(), key, (int)klen, p, n, out, &len) || len != BB_SHA256_LEN)
        crypto_fail("hmac_sha256");
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t bb_base64url_encode(const void *in, size_t n, char *out, size_t cap)
{
    const uint8_t *s = in;
    size_t need;

    if (!out || cap == 0) return 0;
    out[0] = '\0';
    if (n > (SIZE_MAX / 4) * 3 - 3) return 0; /* BB_BASE64URL_LEN would overflow */
    need = BB_BASE64URL_LEN(n);
    if (cap < need + 1 || (n > 0 && !in)) return 0;

    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* Value of a base64url character, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int bb_base64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    int rc = 0;
    size_t o = 0;

    if (out_len) *out_len = 0;
    if (n > 0 && !in) return BB_EINVAL;

    /* Strip padding: only allowed if the padded length is a multiple of 4, at most 2 '='. */
    size_t data = n;
    while (data > 0 && in[data - 1] == '=')
        data--;
    size_t pad = n - data;
    if (pad > 0 && (pad > 2 || n % 4 != 0 || data % 4 + pad != 4)) {
        rc = BB_EINVAL;
        goto out;
    }
    if (data % 4 == 1) { /* 6 bits cannot encode a byte */
        rc = BB_EINVAL;
        goto out;
    }
    size_t need = data / 4 * 3 + (data % 4 == 0 ? 0 : data % 4 - 1);
    if (need > cap || (need > 0 && !out)) {
        rc = BB_ETOOBIG;
        goto out;
    }

    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) {
            rc = BB_EINVAL;
            goto out;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) { /* leftover bits must be zero: canonical encoding only */
        rc = BB_EINVAL;
        goto out;
    }
    if (out_len) *out_len = o;
out:
    return rc;
}

size_t bb_hex_encode(const void *in, size_t n, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *s = in;
    if (!out || cap == 0) return 0;
    out[0] = '\0';
    if (n > (SIZE_MAX - 1) / 2 || cap < 2 * n + 1 || (n > 0 && !in)) return 0;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

int bb_hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long bb_pct_decode(const char *src, size_t n, char *dst, size_t cap, unsigned flags)
{
    size_t o = 0, room = flags & BB_PCT_CSTR ? (cap ? cap - 1 : 0) : cap;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= n) return BB_EINVAL;
            int h = bb_hex_digit((unsigned char)src[i + 1]);
            int l = bb_hex_digit((unsigned char)src[i + 2]);
            if (h < 0 || l < 0) return BB_EINVAL;
            c = h * 16 + l;
            if (c == 0 && (flags & BB_PCT_CSTR)) return BB_EINVAL;
            i += 2;
        } else if (c == '+' && (flags & BB_PCT_PLUS)) {
            c = ' ';
        }
        if (o >= room) return BB_ETOOBIG;
        dst[o++] = (char)c;
    }
    if (flags & BB_PCT_CSTR) {
        if (!cap) return BB_ETOOBIG;
        dst[o] = '\0';
    }
    return (long)o;
}

int bb_hex_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    if (out_len) *out_len = 0;
    if ((n > 0 && !in) || n % 2 != 0) return BB_EINVAL;
    if (n / 2 > cap || (n > 0 && !out)) return BB_ETOOBIG;
    for (size_t i = 0; i < n; i += 2) {
        int hi = bb_hex_digit((unsigned char)in[i]), lo = bb_hex_digit((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0) return BB_EINVAL;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    if (out_len) *out_len = n / 2;
    return 0;
}

int bb_ct_equal(const void *a, const void *b, size_t n)
{
    if (n == 0) return 1;
    if (!a || !b) return 0;
    return CRYPTO_memcmp(a, b, n) == 0;
}

int bb_ct_streq(const char *a, const char *b)
{
    if (!a || !b) return 0;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return 0;
    return bb_ct_equal(a, b, la);
}

/* ---- standard base64 -------------------------------------------------------------------------- */

static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t bb_base64_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64std[v >> 18 & 63];
        out[o++] = b64std[v >> 12 & 63];
        out[o++] = b64std[v >> 6 & 63];
        out[o++] = b64std[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64std[v >> 18 & 63];
        out[o++] = b64std[v >> 12 & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64std[v >> 18 & 63];
        out[o++] = b64std[v >> 12 & 63];
        out[o++] = b64std[v >> 6 & 63];
        out[o++] = '=';
    }
    return o;
}

char *bb_base64_encode_alloc(const void *in, size_t n)
{
    char *out = malloc(BB_BASE64_LEN(n) + 1);
    if (!out) return NULL;
    out[bb_base64_encode(in, n, out)] = '\0';
    return out;
}

static int b64std_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int bb_base64_decode_alloc(const char *in, size_t n, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!in && n) return BB_EINVAL;
    if (n % 4 == 0 && n >= 2 && in[n - 1] == '=') n -= in[n - 2] == '=' ? 2 : 1;
    if (n % 4 == 1) return BB_EINVAL;
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    if (!buf) return BB_ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64std_val(in[i]);
        if (v < 0) {
            free(buf);
            return BB_EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) { /* non-canonical trailing bits */
        free(buf);
        return BB_EINVAL;
    }
    *out = buf;
    *out_len = o;
    return 0;
}
