/* bb_jwt.c — JWS compact verification with JWKs (see bb_jwt.h). */
#include "bb_jwt.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_json.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RSA_MIN_BITS 2048
#define RSA_MAX_BYTES 1024 /* 8192-bit modulus */

static const struct {
    unsigned bit;
    const char *name;
} alg_names[] = {{BB_JWT_RS256, "RS256"}, {BB_JWT_ES256, "ES256"}, {BB_JWT_EDDSA, "EdDSA"}};

const char *bb_jwt_alg_name(unsigned alg)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (alg_names[i].bit == alg) return alg_names[i].name;
    return NULL;
}

static unsigned alg_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (!strcmp(alg_names[i].name, s)) return alg_names[i].bit;
    return 0;
}

/* ------------------------------------------------------------------ keys */

/* base64url member `name` of jwk into buf; its length, or 0 when missing/invalid/too long. */
static size_t b64_member(const json_t *jwk, const char *name, uint8_t *buf, size_t cap)
{
    const char *s = bb_json_str(jwk, name, NULL);
    size_t n = 0;
    if (!s || bb_base64url_decode(s, strlen(s), buf, cap, &n) != 0) return 0;
    return n;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pk = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *rsa_key(const json_t *jwk, char *err, size_t errcap)
{
    uint8_t n[RSA_MAX_BYTES], e[16];
    size_t nl = b64_member(jwk, "n", n, sizeof n), el = b64_member(jwk, "e", e, sizeof e);
    if (!nl || !el) {
        snprintf(err, errcap, "RSA JWK needs base64url n (at most 8192 bits) and e");
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        pk = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (pk && EVP_PKEY_get_bits(pk) < RSA_MIN_BITS) {
        EVP_PKEY_free(pk);
        snprintf(err, errcap, "RSA JWK is shorter than %d bits", RSA_MIN_BITS);
        return NULL;
    }
    if (!pk) snprintf(err, errcap, "RSA JWK is not a valid public key");
    return pk;
}

static EVP_PKEY *ec_key(const json_t *jwk, char *err, size_t errcap)
{
    const char *crv = bb_json_str(jwk, "crv", "");
    uint8_t pt[65], x[33], y[33];
    size_t xl = b64_member(jwk, "x", x, sizeof x), yl = b64_member(jwk, "y", y, sizeof y);
    if (strcmp(crv, "P-256") != 0 || xl != 32 || yl != 32) {
        snprintf(err, errcap, "EC JWK must be crv P-256 with 32-byte x and y");
        return NULL;
    }
    pt[0] = 0x04; /* uncompressed point */
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt) == 1)
        pk = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (pk) { /* the point must be on the curve */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        int ok = c && EVP_PKEY_public_check(c) == 1;
        EVP_PKEY_CTX_free(c);
        if (!ok) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
    }
    if (!pk) snprintf(err, errcap, "EC JWK is not a valid P-256 public key");
    return pk;
}

static EVP_PKEY *okp_key(const json_t *jwk, char *err, size_t errcap)
{
    uint8_t x[33];
    size_t xl = b64_member(jwk, "x", x, sizeof x);
    if (strcmp(bb_json_str(jwk, "crv", ""), "Ed25519") != 0 || xl != 32) {
        snprintf(err, errcap, "OKP JWK must be crv Ed25519 with a 32-byte x");
        return NULL;
    }
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    if (!pk) snprintf(err, errcap, "OKP JWK is not a valid Ed25519 public key");
    return pk;
}

int bb_jwk_import(const json_t *jwk, struct bb_jwk *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(jwk)) {
        snprintf(err, errcap, "a JWK must be an object");
        return BB_EINVAL;
    }
    const char *kty = bb_json_str(jwk, "kty", "");
    const char *use = bb_json_str(jwk, "use", NULL);
    const char *kid = bb_json_str(jwk, "kid", "");
    json_t *alg_v = json_object_get(jwk, "alg");
    if (json_object_get(jwk, "d") || !strcmp(kty, "oct")) {
        snprintf(err, errcap, "private and symmetric JWKs are refused");
        return BB_EINVAL;
    }
    if (use && strcmp(use, "sig") != 0) {
        snprintf(err, errcap, "JWK use is not sig");
        return BB_EINVAL;
    }
    if (strlen(kid) > BB_JWK_KID_MAX) {
        snprintf(err, errcap, "JWK kid longer than %d bytes", BB_JWK_KID_MAX);
        return BB_EINVAL;
    }
    unsigned alg;
    EVP_PKEY *pk;
    if (!strcmp(kty, "RSA")) {
        alg = BB_JWT_RS256;
        pk = rsa_key(jwk, err, errcap);
    } else if (!strcmp(kty, "EC")) {
        alg = BB_JWT_ES256;
        pk = ec_key(jwk, err, errcap);
    } else if (!strcmp(kty, "OKP")) {
        alg = BB_JWT_EDDSA;
        pk = okp_key(jwk, err, errcap);
    } else {
        snprintf(err, errcap, "JWK kty \"%.16s\" is not supported (RSA, EC, OKP)", kty);
        return BB_EINVAL;
    }
    if (!pk) return BB_EINVAL;
    if (alg_v && (!json_is_string(alg_v) || alg_parse(json_string_value(alg_v)) != alg)) {
        EVP_PKEY_free(pk);
        snprintf(err, errcap, "JWK alg does not match its key type %s", kty);
        return BB_EINVAL;
    }
    snprintf(out->kid, sizeof out->kid, "%s", kid);
    out->alg = alg;
    out->pkey = pk;
    return 0;
}

void bb_jwk_release(struct bb_jwk *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

int bb_jwks_import(const json_t *jwks, struct bb_jwks *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    json_t *arr = json_object_get(jwks, "keys");
    if (!json_is_array(arr)) {
        snprintf(err, errcap, "a JWK set must be an object with a keys array");
        return BB_EINVAL;
    }
    size_t i;
    json_t *k;
    char why[160] = "";
    json_array_foreach(arr, i, k)
    {
        if (out->n == BB_JWKS_MAX_KEYS) break;
        if (bb_jwk_import(k, &out->keys[out->n], why, sizeof why) == 0) out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errcap, "the JWK set has no usable signing key%s%s", why[0] ? ": " : "", why);
        return BB_EINVAL;
    }
    return 0;
}

void bb_jwks_release(struct bb_jwks *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        bb_jwk_release(&s->keys[i]);
    s->n = 0;
}

/* ------------------------------------------------------------------ tokens */

/* Fills *why and returns BB_EAUTH. */
static int reject(struct bb_jwt_reject *why, const char *code, const char *msg)
{
    why->code = code;
    why->msg = msg;
    return BB_EAUTH;
}

/* Decodes one base64url segment holding a JSON object of at most max bytes; NULL otherwise. */
static json_t *segment_object(const char *s, size_t n, size_t max)
{
    if (n > BB_BASE64URL_LEN(max)) return NULL;
    uint8_t *buf = malloc(max + 1);
    size_t bl = 0;
    json_t *j = NULL;
    if (buf && bb_base64url_decode(s, n, buf, max, &bl) == 0 &&
        bb_json_parse((const char *)buf, bl, 8, &j, NULL, 0) == 0 && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    free(buf);
    return j;
}

/* JOSE r||s (64 bytes) to the DER ECDSA-Sig-Value OpenSSL verifies; its length or 0. */
static size_t es256_der(const uint8_t *rs, uint8_t *der, size_t cap)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    size_t n = 0;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig */
        int l = i2d_ECDSA_SIG(sig, NULL);
        if (l > 0 && (size_t)l <= cap) {
            uint8_t *p = der;
            n = (size_t)i2d_ECDSA_SIG(sig, &p);
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return n;
}

static int sig_ok(const struct bb_jwk *k, const uint8_t *sig, size_t sl, const char *msg, size_t ml)
{
    uint8_t der[80];
    const EVP_MD *md = k->alg == BB_JWT_EDDSA ? NULL : EVP_sha256();
    if (k->alg == BB_JWT_ES256) {
        if (sl != 64 || !(sl = es256_der(sig, der, sizeof der))) return 0;
        sig = der;
    } else if (k->alg == BB_JWT_EDDSA && sl != 64)
        return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, sl, (const uint8_t *)msg, ml) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

json_t *bb_jwt_peek_payload(const char *tok, size_t len)
{
    if (!tok || len == 0 || len > BB_JWT_MAX_TOKEN) return NULL;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2 || d1 == tok || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) return NULL;
    for (const char *c = d2 + 1; c < tok + len; c++) /* the signature too: base64url */
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return NULL;
    return segment_object(d1 + 1, (size_t)(d2 - d1 - 1), BB_JWT_MAX_PAYLOAD);
}

int bb_jwt_verify(const char *tok, size_t len, const struct bb_jwks *keys, unsigned allowed,
                  struct bb_jwt *out, struct bb_jwt_reject *why)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    json_t *h = NULL, *p = NULL;
    uint8_t *sig = NULL;
    const char *d1 = NULL, *d2 = NULL;
    if (!tok || len == 0 || len > BB_JWT_MAX_TOKEN) {
        rc = reject(why, "token_malformed", "token is empty or too long");
        goto out;
    }
    d1 = memchr(tok, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) {
        rc = reject(why, "token_malformed", "token is not three dot-separated parts");
        goto out;
    }
    h = segment_object(tok, (size_t)(d1 - tok), BB_JWT_MAX_HEADER);
    if (!h) {
        rc = reject(why, "token_malformed", "token header is not base64url JSON");
        goto out;
    }
    unsigned alg = alg_parse(bb_json_str(h, "alg", NULL));
    if (!alg || !(alg & allowed & BB_JWT_ASYMMETRIC)) {
        rc = reject(why, "token_alg_not_allowed", "token algorithm not allowed");
        goto out;
    }
    if (json_object_get(h, "crit")) {
        rc = reject(why, "token_malformed", "token has crit headers");
        goto out;
    }
    json_t *kidv = json_object_get(h, "kid");
    if (kidv && !json_is_string(kidv)) {
        rc = reject(why, "token_malformed", "token kid is not a string");
        goto out;
    }
    const char *kid = json_string_value(kidv);
    const struct bb_jwk *key = NULL;
    size_t candidates = 0;
    for (size_t i = 0; keys && i < keys->n; i++) {
        const struct bb_jwk *k = &keys->keys[i];
        if (kid ? strcmp(k->kid, kid) != 0 : k->alg != alg) continue;
        key = k;
        candidates++;
    }
    if (!key || candidates != 1) {
        rc = reject(why, "token_unknown_kid", "token signed by an unknown key");
        goto out;
    }
    if (key->alg != alg) {
        rc = reject(why, "token_alg_not_allowed", "token algorithm is not its key's");
        goto out;
    }
    const char *s = d2 + 1;
    size_t sn = len - (size_t)(s - tok), sl = 0;
    sig = malloc(RSA_MAX_BYTES);
    if (!sig) {
        rc = BB_ENOMEM;
        goto out;
    }
    if (sn == 0 || bb_base64url_decode(s, sn, sig, RSA_MAX_BYTES, &sl) != 0 ||
        !sig_ok(key, sig, sl, tok, (size_t)(d2 - tok))) {
        rc = reject(why, "token_invalid_signature", "token signature is invalid");
        goto out;
    }
    p = segment_object(d1 + 1, (size_t)(d2 - d1 - 1), BB_JWT_MAX_PAYLOAD);
    if (!p) {
        rc = reject(why, "token_malformed", "token payload is not base64url JSON");
        goto out;
    }
    out->header = h;
    out->payload = p;
    out->alg = alg;
    h = p = NULL;
out:
    free(sig);
    json_decref(h);
    json_decref(p);
    return rc;
}

int bb_jwt_check_claims(const struct bb_jwt *t, const char *iss, const char *aud, int64_t now,
                        int64_t leeway, struct bb_jwt_reject *why)
{
    const json_t *p = t->payload;
    if (iss && strcmp(bb_json_str(p, "iss", ""), iss) != 0)
        return reject(why, "token_wrong_issuer", "token issued by someone else");
    if (aud) {
        json_t *a = json_object_get(p, "aud");
        int ok = json_is_string(a) && !strcmp(json_string_value(a), aud);
        size_t i;
        json_t *v;
        if (json_is_array(a))
            json_array_foreach(a, i, v) ok |=
                json_is_string(v) && !strcmp(json_string_value(v), aud);
        if (!ok) return reject(why, "token_wrong_audience", "token is for another audience");
    }
    json_t *exp = json_object_get(p, "exp"), *iat = json_object_get(p, "iat"),
           *nbf = json_object_get(p, "nbf");
    if (!json_is_integer(exp)) return reject(why, "token_malformed", "token has no exp");
    if (now > json_integer_value(exp) + leeway)
        return reject(why, "token_expired", "token expired");
    if ((iat && (!json_is_integer(iat) || json_integer_value(iat) > now + leeway)) ||
        (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now + leeway)))
        return reject(why, "token_not_yet_valid", "token is not valid yet");
    return 0;
}

void bb_jwt_release(struct bb_jwt *t)
{
    if (!t) return;
    json_decref(t->header);
    json_decref(t->payload);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ our own tokens */

const char *bb_jwt_bearer(const char *authorization, size_t *len)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) return NULL;
    const char *t = authorization + 7;
    while (*t == ' ' || *t == '\t')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    *len = n;
    return t;
}

char *bb_jwt_signing_input(const json_t *header, const json_t *payload, size_t sig_max, size_t *len)
{
    char *h = json_dumps(header, JSON_COMPACT), *p = h ? json_dumps(payload, JSON_COMPACT) : NULL;
    char *out = NULL;
    if (p) {
        size_t hl = strlen(h), pl = strlen(p);
        size_t cap =
            BB_BASE64URL_LEN(hl) + 1 + BB_BASE64URL_LEN(pl) + 1 + BB_BASE64URL_LEN(sig_max) + 1;
        out = malloc(cap);
        if (out) {
            size_t o = bb_base64url_encode(h, hl, out, cap);
            out[o++] = '.';
            o += bb_base64url_encode(p, pl, out + o, cap - o);
            *len = o;
        }
    }
    free(h);
    free(p);
    return out;
}

void bb_jwt_append_signature(char *input, size_t len, const void *sig, size_t n)
{
    input[len] = '.';
    bb_base64url_encode(sig, n, input + len + 1, BB_BASE64URL_LEN(n) + 1);
}
