/* bb_jwt.h — JSON Web Tokens (JWS compact serialization, RFC 7515/7519) verified with JSON Web
 * Keys (RFC 7517/7518/8037), on OpenSSL 3. For tokens BunBase did not sign itself: OpenID Connect
 * id_tokens checked against a provider's JWKS.
 *
 * Algorithms (a mask, so that each caller states its allow-list):
 *   BB_JWT_RS256  RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of at least 2048 bits
 *   BB_JWT_ES256  ECDSA P-256 with SHA-256, signature as JOSE r||s (64 bytes)
 *   BB_JWT_EDDSA  Ed25519
 * Never "none", never HS* (no symmetric keys are imported, so no algorithm confusion: a public key
 * cannot be used as an HMAC secret), never a header alg other than the key's own alg.
 *
 * Key choice: the header's kid selects the key of that kid (unknown kid → token_unknown_kid);
 * without a kid, the one key whose alg is the header's (none or several → token_unknown_kid).
 * Headers with "crit" are refused. Token, header and payload sizes are bounded (BB_JWT_MAX_*).
 *
 * Errors: verification functions return 0 or BB_EAUTH with *why set to a machine code
 * ("token_malformed", "token_alg_not_allowed", "token_unknown_kid", "token_invalid_signature",
 * "token_wrong_issuer", "token_wrong_audience", "token_expired", "token_not_yet_valid") and a
 * human message (static strings); BB_ENOMEM. Thread-safe; nothing is cached.
 */
#ifndef BB_JWT_H
#define BB_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum bb_jwt_alg {
    BB_JWT_RS256 = 1 << 0,
    BB_JWT_ES256 = 1 << 1,
    BB_JWT_EDDSA = 1 << 2,
};
#define BB_JWT_ASYMMETRIC (BB_JWT_RS256 | BB_JWT_ES256 | BB_JWT_EDDSA)

#define BB_JWT_MAX_TOKEN 16384  /* bytes of the compact token */
#define BB_JWT_MAX_HEADER 2048  /* decoded header bytes */
#define BB_JWT_MAX_PAYLOAD 8192 /* decoded payload bytes */
#define BB_JWKS_MAX_KEYS 32     /* keys imported from one set; the rest is ignored */
#define BB_JWK_KID_MAX 128

struct evp_pkey_st;

/* One public key. Owned by its set (or by the caller after bb_jwk_import; bb_jwk_release). */
struct bb_jwk {
    char kid[BB_JWK_KID_MAX + 1]; /* "" when the JWK had none */
    unsigned alg;                 /* the one enum bb_jwt_alg this key verifies */
    struct evp_pkey_st *pkey;     /* EVP_PKEY, public */
};

struct bb_jwks {
    struct bb_jwk keys[BB_JWKS_MAX_KEYS];
    size_t n;
};

/* Imports one JWK (borrowed): kty RSA (n, e), EC (crv P-256, x, y) or OKP (crv Ed25519, x). Its
 * "alg", when present, must match the key type (RS256 / ES256 / EdDSA); "use", when present, must
 * be "sig". BB_EINVAL (reason in err) for anything else — private or symmetric keys included (a
 * JWK with "d" or kty "oct" is refused). */
int bb_jwk_import(const json_t *jwk, struct bb_jwk *out, char *err, size_t errcap);
void bb_jwk_release(struct bb_jwk *k);

/* Imports {"keys":[…]} (borrowed) into *out (zeroed first): keys that cannot be imported (other
 * types, encryption keys) are skipped, at most BB_JWKS_MAX_KEYS are kept. BB_EINVAL when the
 * document is not a key set or no key could be imported. Release with bb_jwks_release. */
int bb_jwks_import(const json_t *jwks, struct bb_jwks *out, char *err, size_t errcap);
void bb_jwks_release(struct bb_jwks *s);

/* A verified token: header and payload objects (owned; bb_jwt_release). */
struct bb_jwt {
    json_t *header;
    json_t *payload;
    unsigned alg;
};

struct bb_jwt_reject {
    const char *code;
    const char *msg;
};

/* Verifies tok[0..len) (compact JWS) with a key of keys (borrowed), allowing only the algorithms
 * in allowed (a mask of enum bb_jwt_alg). On 0, *out holds header and payload; claims are not
 * checked (bb_jwt_check_claims). On error *out is zeroed. */
int bb_jwt_verify(const char *tok, size_t len, const struct bb_jwks *keys, unsigned allowed,
                  struct bb_jwt *out, struct bb_jwt_reject *why);

/* The payload of tok[0..len) when it has the shape of a JWS compact token (three base64url parts,
 * a JSON object in the middle), NOT verified: for a resolver deciding whose token it is (by its
 * iss) before verifying it. A new object (caller decrefs), or NULL. */
json_t *bb_jwt_peek_payload(const char *tok, size_t len);

/* Checks the registered claims of a verified token at time now (unix seconds): iss equals iss
 * (skipped when iss is NULL), aud is aud or an array holding it (skipped when NULL), exp present
 * and now <= exp + leeway, nbf/iat (when present) <= now + leeway. 0 or BB_EAUTH with *why. */
int bb_jwt_check_claims(const struct bb_jwt *t, const char *iss, const char *aud, int64_t now,
                        int64_t leeway, struct bb_jwt_reject *why);

void bb_jwt_release(struct bb_jwt *t);

/* The token of an "Authorization: Bearer <token>" value (scheme case-insensitive, blanks around
 * the token skipped): a pointer into authorization with *len, or NULL when it is another scheme
 * (or NULL). */
const char *bb_jwt_bearer(const char *authorization, size_t *len);

/* Signing our own tokens (the signature itself is the signer's: a local key or bun-kms).
 * bb_jwt_signing_input: "base64url(header JSON).base64url(payload JSON)" (compact JSON), malloc'd
 * with room to append "." and a signature of up to sig_max bytes; *len gets its length. NULL on
 * ENOMEM. bb_jwt_append_signature: appends "." and base64url(sig[0..n)) (n <= the sig_max it was
 * made with), making the compact token. */
char *bb_jwt_signing_input(const json_t *header, const json_t *payload, size_t sig_max,
                           size_t *len);
void bb_jwt_append_signature(char *input, size_t len, const void *sig, size_t n);

/* Name of one algorithm bit ("RS256", …), or NULL. */
const char *bb_jwt_alg_name(unsigned alg);

#endif
