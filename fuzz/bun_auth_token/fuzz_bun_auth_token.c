/* Fuzz target for bun-auth's resolver: the bearer JWT parser/verifier and the session cookie
 * parser. Input: the Authorization header value, a newline, the Cookie header value (either may be
 * empty = absent). The instance runs without PostgreSQL, over a fixed test key (seed 0x01…0x20,
 * never used outside this target) so that the seed corpus holds validly signed tokens and the
 * payload checks are reached. Invariants: the resolver returns 0 (identity filled, of kind
 * developer session, with uid and claims), BB_ENOTFOUND or BB_EAUTH (with a code) — anything else,
 * a crash or a leak is a bug. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ba_int.h"
#include "bb_config.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bun_auth *A;
static char dir[64] = "/tmp/bb_fuzz_auth.XXXXXX";

static void cleanup(void)
{
    bun_auth_free(A);
    A = NULL;
    bb_fs_remove_tree(dir);
}

static void setup(void)
{
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    char kd[128], path[256];
    snprintf(kd, sizeof kd, "%s/bun_auth", dir);
    if (bb_fs_mkdir_p(kd, 0700) != 0) abort();
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    uint8_t pub[32];
    size_t pl = 32;
    if (!k || EVP_PKEY_get_raw_public_key(k, pub, &pl) != 1) abort();
    char x[64], jwk[128], kid[64];
    bb_base64url_encode(pub, 32, x, sizeof x);
    snprintf(jwk, sizeof jwk, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    uint8_t d[32];
    bb_sha256(jwk, strlen(jwk), d);
    bb_base64url_encode(d, 32, kid, sizeof kid);
    snprintf(path, sizeof path, "%s/key-%s.pem", kd, kid);
    FILE *f = fopen(path, "w");
    if (!f || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1) abort();
    fclose(f);
    chmod(path, 0600);
    EVP_PKEY_free(k);
    char manifest[256];
    int n = snprintf(manifest, sizeof manifest,
                     "{\"keys\":[{\"kid\":\"%s\",\"created_at\":1,\"retired_at\":0}]}", kid);
    snprintf(path, sizeof path, "%s/keys.json", kd);
    if (bb_fs_write_atomic(path, manifest, (size_t)n, 0600) != 0) abort();

    setenv("BUNBASE_BUN_AUTH_ARGON2_OPSLIMIT", "1", 1);
    setenv("BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB", "8", 1);
    setenv("BUNBASE_DATA", dir, 1);
    static struct bb_config cfg;
    char err[256];
    if (bb_config_load(&cfg, 0, NULL, err, sizeof err) != 0) abort();
    struct bun_auth_opts o = {.cfg = &cfg, .pg = NULL, .sync_thread = 0};
    if (bun_auth_new(&o, &A, err, sizeof err) != 0) {
        fprintf(stderr, "bun_auth_new: %s\n", err);
        abort();
    }
    char cur[128];
    if (strcmp(ba_current_kid(A, cur, sizeof cur), kid) != 0) abort(); /* the fixture key signs */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!A) setup();
    if (size > 16384) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (strlen(buf) != size) { /* header values never hold NUL */
        free(buf);
        return 0;
    }
    char *nl = strchr(buf, '\n');
    char *cookie = NULL;
    if (nl) {
        *nl = '\0';
        cookie = nl + 1;
    }
    struct bb_http_header h[2];
    size_t nh = 0;
    if (buf[0]) h[nh++] = (struct bb_http_header){"Authorization", buf};
    if (cookie && cookie[0]) h[nh++] = (struct bb_http_header){"Cookie", cookie};
    struct bb_http_request req;
    memset(&req, 0, sizeof req);
    req.headers = h;
    req.nheaders = nh;
    struct bb_identity id;
    memset(&id, 0, sizeof id);
    struct bb_identity_reject why = {NULL, NULL};
    int rc = bun_auth_resolve(A, &req, &id, &why);
    if (getenv("BB_FUZZ_TRACE")) fprintf(stderr, "rc=%d code=%s\n", rc, why.code ? why.code : "-");
    if (rc == 0) {
        if (id.kind != BB_IDENTITY_DEVELOPER_SESSION || !id.uid || !id.claims) abort();
        bb_identity_release(&id);
    } else if (rc == BB_EAUTH) {
        if (!why.code || !why.msg || id.uid || id.claims) abort();
    } else if (rc != BB_ENOTFOUND || id.uid || id.claims) {
        abort();
    }
    free(buf);
    return 0;
}
