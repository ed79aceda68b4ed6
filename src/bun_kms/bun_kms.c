/* bun_kms.c — the bun-kms service: lifecycle and health (skeleton; the store comes next). */
#include "bun_kms.h"
#include "bb_err.h"
#include "bb_identity.h"
#include "bb_service.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

struct bun_kms {
    int unused;
};

static const struct bb_identity system_identity = {.kind = BB_IDENTITY_INTERNAL_SERVICE,
                                                   .resolver = "bun-kms"};

const struct bb_identity *bun_kms_system_identity(void)
{
    return &system_identity;
}

#define STUB(errv)                                                                                 \
    do {                                                                                           \
        (void)k;                                                                                   \
        (void)who;                                                                                 \
        if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");                  \
        return errv;                                                                               \
    } while (0)

int bun_kms_key_create(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, enum bun_kms_key_type type, char *err, size_t errcap)
{
    (void)ns, (void)name, (void)type;
    STUB(BB_EUNAVAIL);
}
int bun_kms_key_type_parse(const char *s, enum bun_kms_key_type *out)
{
    (void)s;
    (void)out;
    return BB_EUNAVAIL;
}

int bun_kms_key_import(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, enum bun_kms_key_type type, const char *const *pem,
                       size_t npem, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)type;
    (void)pem;
    (void)npem;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_key_rotate(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, int *version, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)version;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_key_get(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, struct json_t **out, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)out;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_key_delete(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_sign(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *name, const char *alg, int jose, const void *msg, size_t len,
                 unsigned char **sig, size_t *siglen, char kid[BUN_KMS_KID_MAX + 1], char *err,
                 size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)alg;
    (void)jose;
    (void)msg;
    (void)len;
    (void)sig;
    (void)siglen;
    (void)kid;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_verify(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                   const char *name, const char *alg, int jose, const char *kid, const void *msg,
                   size_t len, const void *sig, size_t siglen, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)alg;
    (void)jose;
    (void)kid;
    (void)msg;
    (void)len;
    (void)sig;
    (void)siglen;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_encrypt(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, const void *pt, size_t ptlen, const void *aad,
                    size_t aadlen, unsigned char **out, size_t *outlen, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)pt;
    (void)ptlen;
    (void)aad;
    (void)aadlen;
    (void)out;
    (void)outlen;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_decrypt(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                    const char *name, const void *ct, size_t ctlen, const void *aad,
                    size_t aadlen, unsigned char **out, size_t *outlen, char *err,
                    size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)ct;
    (void)ctlen;
    (void)aad;
    (void)aadlen;
    (void)out;
    (void)outlen;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_jwks(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                 const char *name, struct json_t **out, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)out;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_secret_put(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, const void *value, size_t len, int *version, char *err,
                       size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)value;
    (void)len;
    (void)version;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_secret_get(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                       const char *name, int version, void **value, size_t *len, char *err,
                       size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)version;
    (void)value;
    (void)len;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_secret_delete(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                          const char *name, char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)name;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

int bun_kms_namespace_drop(struct bun_kms *k, const struct bb_identity *who, const char *ns,
                           char *err, size_t errcap)
{
    (void)k;
    (void)who;
    (void)ns;
    (void)err;
    (void)errcap;
    if (err && errcap) snprintf(err, errcap, "bun-kms: not implemented yet");
    return BB_EUNAVAIL;
}

static int svc_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    (void)rt, (void)err, (void)errcap;
    struct bun_kms *k = calloc(1, sizeof *k);
    if (!k) return BB_ENOMEM;
    *state = k;
    return 0;
}

static void svc_stop(void *state)
{
    free(state);
}

static int svc_health(void *state, json_t **detail)
{
    (void)state;
    *detail = json_pack("{s:s}", "status", "ok");
    return 0;
}

const struct bb_service_def bb_bun_kms_service = {
    .name = "bun-kms",
    .start = svc_start,
    .stop = svc_stop,
    .health = svc_health,
};
