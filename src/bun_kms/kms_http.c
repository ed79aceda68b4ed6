/* kms_http.c — bun-kms's two transports over one route table.
 *
 * HTTP: the routes below, mounted with bb_host_mount (the gateway, or BUNBASE_BUN_KMS_ADDR). Every
 * route runs on the worker pool (SQLite). Bodies are JSON; bytes travel as standard base64.
 * Identities come from the host's resolvers (the internal token; a project's sk_/pk_ through the
 * platform's resolver on the gateway); roles are applied by the operations (kms_ops.c), so that
 * in-process callers get the same answers.
 *
 * RPC (BUNBASE_BUN_KMS_RPC_ADDR, framing of bb_rpc.h), command 1 (Call), payload JSON:
 *   {"method": "POST", "path": "/v1/kms/<ns>/keys/k1/sign", "headers": {"Authorization": …},
 *    "body": "<standard base64>"}
 * goes through bb_http_dispatch_local on the same router: the same identity resolution, route
 * masks, limits and handlers as HTTP. Reply status 0: {"status", "headers", "body" (base64)};
 * status 1 {"error", "code"}: unknown command, malformed payload, a path outside /v1/kms/, pool
 * full.
 */
#include "kms_int.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_id.h"
#include "bb_http.h"
#include "bb_identity.h"
#include "bb_json.h"
#include "bb_log.h"
#include "bb_pool.h"
#include "bb_rpc.h"
#include "bb_rpc_http.h"
#include "bb_fs.h"
#include "bb_service.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define AUTH_ANY                                                                                   \
    (BB_IDENTITY_INTERNAL_SERVICE | BB_IDENTITY_INTERNAL_ADMIN | BB_IDENTITY_PROJECT_KEY_SECRET |  \
     BB_IDENTITY_PROJECT_KEY_PUBLIC)
#define AUTH_ADMIN (BB_IDENTITY_INTERNAL_SERVICE | BB_IDENTITY_INTERNAL_ADMIN)

/* ------------------------------------------------------------------ helpers */

static void reply_rc(struct bb_http_response *res, int rc, const char *err)
{
    bb_http_reply_error(res, rc, err && err[0] ? err : NULL);
}

/* A request refused before it reached an operation still leaves its audit record. */
static void refuse(struct bun_kms *k, struct bb_http_request *req, struct bb_http_response *res,
                   const char *op, int rc, const char *msg)
{
    kms_audit(k, &req->identity, op, bb_http_param(req, "ns"), bb_http_param(req, "name"), 0, rc,
              1);
    reply_rc(res, rc, msg);
}

/* The body as a JSON object (an empty body is {}). NULL after replying 400. */
static json_t *body_obj(struct bun_kms *k, struct bb_http_request *req,
                        struct bb_http_response *res, const char *op)
{
    json_t *j = NULL;
    char perr[160], msg[220];
    if (req->body_len == 0) return json_object();
    if (bb_json_parse(req->body, req->body_len, 8, &j, perr, sizeof perr) != 0 ||
        !json_is_object(j)) {
        snprintf(msg, sizeof msg, "the body must be a JSON object%s%s", j ? "" : ": ",
                 j ? "" : perr);
        json_decref(j);
        refuse(k, req, res, op, BB_EINVAL, msg);
        return NULL;
    }
    return j;
}

/* Decodes base64 field f of o (absent: empty when optional). 0, or BB_EINVAL with msg. */
static int b64_field(const json_t *o, const char *f, int optional, uint8_t **out, size_t *len,
                     char *msg, size_t cap)
{
    json_t *v = json_object_get(o, f);
    *out = NULL;
    *len = 0;
    if (!v && optional) return 0;
    if (!json_is_string(v)) {
        snprintf(msg, cap, "\"%s\" must be a base64 string", f);
        return BB_EINVAL;
    }
    if (bb_base64_decode_alloc(json_string_value(v), json_string_length(v), out, len) != 0) {
        snprintf(msg, cap, "\"%s\" is not valid base64", f);
        return BB_EINVAL;
    }
    return 0;
}

static void reply_obj(struct bb_http_response *res, int status, json_t *o)
{
    if (!o) {
        bb_http_reply_error(res, BB_ENOMEM, NULL);
        return;
    }
    bb_http_reply_json(res, status, o);
    json_decref(o);
}

static int page_limit(struct bun_kms *k, struct bb_http_request *req, int *limit, char *msg,
                      size_t cap)
{
    char buf[32];
    const char *s = bb_http_query(req, "limit", buf, sizeof buf);
    *limit = (int)(k->c.page_max < 100 ? k->c.page_max : 100);
    if (!s) return 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || (uint64_t)v > k->c.page_max) {
        snprintf(msg, cap, "limit must be an integer in [1, %llu]",
                 (unsigned long long)k->c.page_max);
        return BB_EINVAL;
    }
    *limit = (int)v;
    return 0;
}

/* A query string filter: NULL when absent; *bad when present but longer than cap - 1. */
static const char *q_str(struct bb_http_request *req, const char *name, char *buf, size_t cap,
                         int *bad)
{
    const char *v = bb_http_query(req, name, buf, cap);
    char probe[48];
    snprintf(probe, sizeof probe, "%s=", name);
    const char *q = req->query ? req->query : "";
    const char *at = strstr(q, probe);
    if (!v && at && (at == q || at[-1] == '&')) *bad = 1;
    return v;
}

/* ------------------------------------------------------------------ secrets */

static void h_secret_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "", cursor[BUN_KMS_NAME_MAX + 2];
    int limit;
    if (page_limit(k, req, &limit, err, sizeof err) != 0) {
        refuse(k, req, res, "secret.list", BB_EINVAL, err);
        return;
    }
    int bad = 0;
    const char *cur = q_str(req, "cursor", cursor, sizeof cursor, &bad);
    if (bad) {
        refuse(k, req, res, "secret.list", BB_EINVAL, "cursor too long");
        return;
    }
    json_t *o = NULL;
    int rc = kms_secret_list(k, &req->identity, bb_http_param(req, "ns"), cur, limit, &o, err,
                             sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, o);
}

static void h_secret_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "", vb[16];
    const char *vs = bb_http_query(req, "version", vb, sizeof vb);
    int version = 0;
    if (vs) {
        char *end = NULL;
        long v = strtol(vs, &end, 10);
        if (!*vs || *end || v < 1 || v > 1000000000) {
            refuse(k, req, res, "secret.get", BB_EINVAL, "version must be a positive integer");
            return;
        }
        version = (int)v;
    }
    void *val = NULL;
    size_t len = 0;
    const char *ns = bb_http_param(req, "ns"), *name = bb_http_param(req, "name");
    int read = 0;
    int rc = kms_secret_get_version(k, &req->identity, ns, name, version, &read, &val, &len, err,
                                    sizeof err);
    if (rc) {
        reply_rc(res, rc, err);
        return;
    }
    char *b64 = bb_base64_encode_alloc(val, len);
    OPENSSL_cleanse(val, len);
    free(val);
    /* the version actually read: the latest when none was asked for */
    json_t *o = b64 ? json_pack("{s:s,s:s,s:i,s:s}", "namespace", ns, "name", name, "version", read,
                                "value", b64)
                    : NULL;
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    bb_http_set_header(res, "Cache-Control", "no-store");
    reply_obj(res, 200, o);
}

static void h_secret_put(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *b = body_obj(k, req, res, "secret.put");
    if (!b) return;
    uint8_t *val = NULL;
    size_t len = 0;
    if (b64_field(b, "value", 0, &val, &len, err, sizeof err) != 0) {
        json_decref(b);
        refuse(k, req, res, "secret.put", BB_EINVAL, err);
        return;
    }
    json_decref(b);
    int version = 0;
    int rc = bun_kms_secret_put(k, &req->identity, bb_http_param(req, "ns"),
                                bb_http_param(req, "name"), val, len, &version, err, sizeof err);
    if (val) OPENSSL_cleanse(val, len);
    free(val);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 201, json_pack("{s:s,s:i,s:I}", "name", bb_http_param(req, "name"),
                                       "version", version, "size", (json_int_t)len));
}

static void h_secret_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    int rc = bun_kms_secret_delete(k, &req->identity, bb_http_param(req, "ns"),
                                   bb_http_param(req, "name"), err, sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, json_pack("{s:b}", "deleted", 1));
}

/* ------------------------------------------------------------------ keys */

static void h_key_list(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "", cursor[BUN_KMS_NAME_MAX + 2];
    int limit;
    if (page_limit(k, req, &limit, err, sizeof err) != 0) {
        refuse(k, req, res, "key.list", BB_EINVAL, err);
        return;
    }
    int bad = 0;
    const char *cur = q_str(req, "cursor", cursor, sizeof cursor, &bad);
    if (bad) {
        refuse(k, req, res, "key.list", BB_EINVAL, "cursor too long");
        return;
    }
    json_t *o = NULL;
    int rc = kms_key_list(k, &req->identity, bb_http_param(req, "ns"), cur, limit, &o, err,
                          sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, o);
}

static void h_key_create(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *b = body_obj(k, req, res, "key.create");
    if (!b) return;
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *type = json_string_value(json_object_get(b, "type"));
    enum bun_kms_key_type t;
    const char *ns = bb_http_param(req, "ns");
    if (!name || bun_kms_key_type_parse(type, &t) != 0) {
        kms_audit(k, &req->identity, "key.create", ns, name, 0, BB_EINVAL, 1);
        reply_rc(res, BB_EINVAL,
                 "\"name\" (string) and \"type\" (aes256-gcm, ed25519, ecdsa-p256, rsa-2048 or "
                 "rsa-3072) are required");
        json_decref(b);
        return;
    }
    json_t *imp = json_object_get(b, "import");
    int rc;
    if (imp && !json_is_string(imp)) {
        rc = BB_EINVAL;
        snprintf(err, sizeof err, "\"import\" must be a PKCS#8 PEM string (aes256-gcm: 32 bytes "
                                  "as base64 or hex)");
        kms_audit(k, &req->identity, "key.import", ns, name, 0, rc, 1);
    } else if (imp) {
        const char *pem = json_string_value(imp);
        rc = bun_kms_key_import(k, &req->identity, ns, name, t, &pem, 1, err, sizeof err);
    } else {
        rc = bun_kms_key_create(k, &req->identity, ns, name, t, err, sizeof err);
    }
    json_t *o = NULL;
    if (rc == 0) rc = kms_key_meta(k, ns, name, &o, err, sizeof err);
    json_decref(b);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 201, o);
}

static void h_key_get(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *o = NULL;
    int rc = bun_kms_key_get(k, &req->identity, bb_http_param(req, "ns"),
                             bb_http_param(req, "name"), &o, err, sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, o);
}

static void h_key_delete(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    int rc = bun_kms_key_delete(k, &req->identity, bb_http_param(req, "ns"),
                                bb_http_param(req, "name"), err, sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, json_pack("{s:b}", "deleted", 1));
}

static void h_key_rotate(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    int v = 0;
    const char *ns = bb_http_param(req, "ns"), *name = bb_http_param(req, "name");
    int rc = bun_kms_key_rotate(k, &req->identity, ns, name, &v, err, sizeof err);
    json_t *o = NULL;
    if (rc == 0) rc = kms_key_meta(k, ns, name, &o, err, sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, o);
}

static void h_key_jwks(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *o = NULL;
    int rc = bun_kms_jwks(k, &req->identity, bb_http_param(req, "ns"), bb_http_param(req, "name"),
                          &o, err, sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, o);
}

/* encrypt / decrypt: {"plaintext"|"ciphertext": b64, "aad": b64?} */
static void do_crypt(struct bb_http_request *req, struct bb_http_response *res, int enc)
{
    struct bun_kms *k = req->ctx;
    const char *op = enc ? "key.encrypt" : "key.decrypt";
    char err[300] = "";
    json_t *b = body_obj(k, req, res, op);
    if (!b) return;
    uint8_t *in = NULL, *aad = NULL;
    size_t inl = 0, aadl = 0;
    int rc = b64_field(b, enc ? "plaintext" : "ciphertext", 0, &in, &inl, err, sizeof err);
    if (rc == 0) rc = b64_field(b, "aad", 1, &aad, &aadl, err, sizeof err);
    json_decref(b);
    if (rc) {
        free(in);
        free(aad);
        refuse(k, req, res, op, rc, err);
        return;
    }
    unsigned char *out = NULL;
    size_t outl = 0;
    const char *ns = bb_http_param(req, "ns"), *name = bb_http_param(req, "name");
    rc = enc ? bun_kms_encrypt(k, &req->identity, ns, name, in, inl, aad, aadl, &out, &outl, err,
                               sizeof err)
             : bun_kms_decrypt(k, &req->identity, ns, name, in, inl, aad, aadl, &out, &outl, err,
                               sizeof err);
    if (in) OPENSSL_cleanse(in, inl);
    free(in);
    free(aad);
    if (rc) {
        /* a tag that does not verify is the caller's input: 400, not 401 */
        reply_rc(res, rc == BB_EAUTH ? BB_EINVAL : rc, err);
        return;
    }
    char *b64 = bb_base64_encode_alloc(out, outl);
    OPENSSL_cleanse(out, outl);
    free(out);
    reply_obj(res, 200, b64 ? json_pack("{s:s}", enc ? "ciphertext" : "plaintext", b64) : NULL);
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
}

static void h_key_encrypt(struct bb_http_request *req, struct bb_http_response *res)
{
    do_crypt(req, res, 1);
}

static void h_key_decrypt(struct bb_http_request *req, struct bb_http_response *res)
{
    do_crypt(req, res, 0);
}

/* "encoding": "der" (default) or "jose" (ES256 only changes). 1 jose, 0 der, -1 bad. */
static int encoding_of(const json_t *b)
{
    const char *e = json_string_value(json_object_get(b, "encoding"));
    if (!json_object_get(b, "encoding")) return 0;
    if (e && !strcmp(e, "der")) return 0;
    if (e && !strcmp(e, "jose")) return 1;
    return -1;
}

static void h_key_sign(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *b = body_obj(k, req, res, "key.sign");
    if (!b) return;
    uint8_t *msg = NULL;
    size_t ml = 0;
    const char *alg = json_string_value(json_object_get(b, "alg"));
    int jose = encoding_of(b);
    int rc = b64_field(b, "message", 0, &msg, &ml, err, sizeof err);
    if (rc == 0 && (!alg || jose < 0)) {
        rc = BB_EINVAL;
        snprintf(err, sizeof err, "\"alg\" (EdDSA, ES256, RS256 or PS256) is required; "
                                  "\"encoding\" is der or jose");
    }
    if (rc) {
        json_decref(b);
        free(msg);
        refuse(k, req, res, "key.sign", rc, err);
        return;
    }
    unsigned char *sig = NULL;
    size_t sl = 0;
    char kid[BUN_KMS_KID_MAX + 1] = "";
    rc = bun_kms_sign(k, &req->identity, bb_http_param(req, "ns"), bb_http_param(req, "name"), alg,
                      jose, msg, ml, &sig, &sl, kid, err, sizeof err);
    json_decref(b);
    free(msg);
    if (rc) {
        reply_rc(res, rc, err);
        return;
    }
    char *s64 = bb_base64_encode_alloc(sig, sl);
    free(sig);
    reply_obj(res, 200, s64 ? json_pack("{s:s,s:s}", "signature", s64, "kid", kid) : NULL);
    free(s64);
}

static void h_key_verify(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *b = body_obj(k, req, res, "key.verify");
    if (!b) return;
    uint8_t *msg = NULL, *sig = NULL;
    size_t ml = 0, sl = 0;
    const char *alg = json_string_value(json_object_get(b, "alg"));
    json_t *kidj = json_object_get(b, "kid");
    int jose = encoding_of(b);
    int rc = b64_field(b, "message", 0, &msg, &ml, err, sizeof err);
    if (rc == 0) rc = b64_field(b, "signature", 0, &sig, &sl, err, sizeof err);
    if (rc == 0 && (!alg || jose < 0 || (kidj && !json_is_string(kidj)))) {
        rc = BB_EINVAL;
        snprintf(err, sizeof err, "\"alg\" (EdDSA, ES256, RS256 or PS256) is required; "
                                  "\"encoding\" is der or jose; \"kid\" a string");
    }
    if (rc) {
        json_decref(b);
        free(msg);
        free(sig);
        refuse(k, req, res, "key.verify", rc, err);
        return;
    }
    rc = bun_kms_verify(k, &req->identity, bb_http_param(req, "ns"), bb_http_param(req, "name"),
                        alg, jose, json_string_value(kidj), msg, ml, sig, sl, err, sizeof err);
    json_decref(b);
    free(msg);
    free(sig);
    if (rc == 0 || rc == BB_EAUTH) reply_obj(res, 200, json_pack("{s:b}", "valid", rc == 0));
    else reply_rc(res, rc, err);
}

/* ------------------------------------------------------------------ namespace, admin */

static void h_ns_drop(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    int rc = bun_kms_namespace_drop(k, &req->identity, bb_http_param(req, "ns"), err, sizeof err);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, json_pack("{s:b}", "dropped", 1));
}

static int64_t q_int(struct bb_http_request *req, const char *name, int64_t dflt, int *bad)
{
    char buf[32];
    const char *s = bb_http_query(req, name, buf, sizeof buf);
    if (!s) return dflt;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0) *bad = 1;
    return v;
}

static void h_audit(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "", ns[BB_PROJECT_ID_MAX + 2], op[40], outcome[40];
    int limit, bad = 0;
    if (page_limit(k, req, &limit, err, sizeof err) != 0) {
        kms_audit(k, &req->identity, "audit.query", NULL, NULL, 0, BB_EINVAL, 1);
        reply_rc(res, BB_EINVAL, err);
        return;
    }
    int64_t since = q_int(req, "since", 0, &bad), until = q_int(req, "until", 0, &bad);
    int64_t cursor = q_int(req, "cursor", 0, &bad);
    int badstr = 0;
    const char *fns = q_str(req, "ns", ns, sizeof ns, &badstr);
    const char *fop = q_str(req, "op", op, sizeof op, &badstr);
    const char *fout = q_str(req, "outcome", outcome, sizeof outcome, &badstr);
    if (bad || badstr) {
        kms_audit(k, &req->identity, "audit.query", NULL, NULL, 0, BB_EINVAL, 1);
        reply_rc(res, BB_EINVAL,
                 bad ? "since, until (unix ms) and cursor must be non-negative integers"
                     : "ns, op and outcome filters are too long");
        return;
    }
    json_t *o = NULL;
    int rc = kms_audit_query(k, fns, fop, fout, since, until, cursor, limit, &o);
    /* the query is an operation too (recorded after it ran, so it does not see itself) */
    kms_audit(k, &req->identity, "audit.query", NULL, NULL, 0, rc, 1);
    if (rc) reply_rc(res, rc, NULL);
    else reply_obj(res, 200, o);
}

static void h_master(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    kms_audit(k, &req->identity, "master.status", NULL, NULL, 0, 0, 1);
    reply_obj(res, 200, kms_master_status(k));
}

/* {"key_file": "/abs/path"} (mode 0600, 32 bytes base64/hex) or {"generate": true} (only with
 * the generated master.key). The new key never travels in a command line or a log. */
static void h_rotate_master(struct bb_http_request *req, struct bb_http_response *res)
{
    struct bun_kms *k = req->ctx;
    char err[300] = "";
    json_t *b = body_obj(k, req, res, "master.rotate");
    if (!b) return;
    const char *file = json_string_value(json_object_get(b, "key_file"));
    int gen = json_is_true(json_object_get(b, "generate"));
    uint8_t key[KMS_KEY_LEN];
    int rc = 0;
    if (gen && !file) {
        if (!k->generated) {
            rc = BB_EINVAL;
            snprintf(err, sizeof err, "\"generate\" needs the generated master key file; with "
                                      "BUNBASE_BUN_KMS_MASTER_KEY(_FILE) give \"key_file\"");
        } else {
            bb_random_bytes(key, sizeof key);
        }
    } else if (file && !gen) {
        char buf[256];
        size_t n = 0;
        struct stat st;
        if (file[0] != '/' || lstat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = BB_EINVAL;
            snprintf(err, sizeof err, "key_file must be an absolute path to a regular file");
        } else if (st.st_mode & 077) {
            rc = BB_EINVAL;
            snprintf(err, sizeof err, "key_file has mode %03o; it must be 0600 or stricter",
                     (unsigned)(st.st_mode & 0777));
        } else if (bb_fs_read_small(file, buf, sizeof buf, &n) != 0 ||
                   kms_parse_key(buf, n, key) != 0) {
            rc = BB_EINVAL;
            snprintf(err, sizeof err, "key_file must hold 32 bytes as base64 or hex");
        }
        OPENSSL_cleanse(buf, sizeof buf);
    } else {
        rc = BB_EINVAL;
        snprintf(err, sizeof err, "give \"key_file\" (absolute path) or \"generate\": true");
    }
    json_decref(b);
    if (rc == 0) rc = kms_rotate_master(k, key, err, sizeof err);
    OPENSSL_cleanse(key, sizeof key);
    kms_audit(k, &req->identity, "master.rotate", NULL, NULL, 0, rc, 1);
    if (rc) reply_rc(res, rc, err);
    else reply_obj(res, 200, kms_master_status(k));
}

#define P BB_ROUTE_POOL
static const struct bb_route routes_tpl[] = {
    {"GET", "/v1/kms/{ns}/secrets", h_secret_list, AUTH_ANY, P, 0, "kms_secret_list"},
    {"GET", "/v1/kms/{ns}/secrets/{name}", h_secret_get, AUTH_ANY, P, 0, "kms_secret_get"},
    {"PUT", "/v1/kms/{ns}/secrets/{name}", h_secret_put, AUTH_ANY, P, 0, "kms_secret_put"},
    {"DELETE", "/v1/kms/{ns}/secrets/{name}", h_secret_delete, AUTH_ANY, P, 0, "kms_secret_delete"},
    {"GET", "/v1/kms/{ns}/keys", h_key_list, AUTH_ANY, P, 0, "kms_key_list"},
    {"POST", "/v1/kms/{ns}/keys", h_key_create, AUTH_ANY, P, 0, "kms_key_create"},
    {"GET", "/v1/kms/{ns}/keys/{name}", h_key_get, AUTH_ANY, P, 0, "kms_key_get"},
    {"DELETE", "/v1/kms/{ns}/keys/{name}", h_key_delete, AUTH_ANY, P, 0, "kms_key_delete"},
    {"POST", "/v1/kms/{ns}/keys/{name}/rotate", h_key_rotate, AUTH_ANY, P, 0, "kms_key_rotate"},
    {"POST", "/v1/kms/{ns}/keys/{name}/encrypt", h_key_encrypt, AUTH_ANY, P, 0, "kms_encrypt"},
    {"POST", "/v1/kms/{ns}/keys/{name}/decrypt", h_key_decrypt, AUTH_ANY, P, 0, "kms_decrypt"},
    {"POST", "/v1/kms/{ns}/keys/{name}/sign", h_key_sign, AUTH_ANY, P, 0, "kms_sign"},
    {"POST", "/v1/kms/{ns}/keys/{name}/verify", h_key_verify, AUTH_ANY, P, 0, "kms_verify"},
    {"GET", "/v1/kms/{ns}/keys/{name}/jwks", h_key_jwks, AUTH_ANY, P, 0, "kms_jwks"},
    {"DELETE", "/v1/kms/{ns}", h_ns_drop, AUTH_ADMIN, P, 0, "kms_namespace_drop"},
    {"GET", "/v1/kms/_admin/audit", h_audit, AUTH_ADMIN, P, 0, "kms_audit"},
    {"GET", "/v1/kms/_admin/master", h_master, AUTH_ADMIN, P, 0, "kms_master"},
    {"POST", "/v1/kms/_admin/rotate-master", h_rotate_master, AUTH_ADMIN, P, 0, "kms_rotate_master"},
};
#undef P

/* ------------------------------------------------------------------ RPC */

#define CMD_CALL 1
#define MAX_HEADERS 32

int kms_http_start(struct bun_kms *k, char *err, size_t errcap)
{
    /* the table with the configured body limit (the same one the RPC dispatch applies) */
    size_t n = sizeof routes_tpl / sizeof routes_tpl[0];
    struct bb_route *r = malloc(sizeof routes_tpl);
    if (!r) return BB_ENOMEM;
    memcpy(r, routes_tpl, sizeof routes_tpl);
    for (size_t i = 0; i < n; i++)
        r[i].max_body = (size_t)k->c.max_request;
    k->routes = r;
    int rc = bb_host_mount(k->rt->host, "bun-kms", r, n, k, NULL, NULL, err, errcap);
    if (rc) return rc;
    if (!k->c.rpc_addr[0]) return 0;
    /* requests are bounded by max_request at dispatch; a reply (a page of 1000 audit records,
     * base64-wrapped) may be several times larger */
    struct bb_rpc_http_listen_opts o = {.service = "bun-kms",
                                        .addr_knob = "BUNBASE_BUN_KMS_RPC_ADDR",
                                        .command = CMD_CALL,
                                        .path_prefix = "/v1/kms/",
                                        .max_headers = MAX_HEADERS,
                                        .max_body = (size_t)k->c.max_request,
                                        .max_frame = (size_t)k->c.max_request * 4 + (1u << 22)};
    return bb_rpc_http_listen(k->rt, k->c.rpc_addr, &o, &k->rpc, err, errcap);
}

int kms_http_stop(struct bun_kms *k)
{
    int n = bb_rpc_http_stop(k->rpc);
    k->rpc = NULL;
    return n;
}
