/* bun_kms.c — the bun-kms service: lifecycle and health. The store is kms_store.c, the operations
 * kms_ops.c, the transports kms_http.c; the design is in docs/bun-kms.md. */
#include "kms_int.h"
#include "bb_config.h"
#include "bb_err.h"
#include "bb_knobs.h"
#include "bb_log.h"
#include "bb_service.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct bb_knob kms_knobs[];

void kms_free(struct bun_kms *k)
{
    if (!k) return;
    kms_store_close(k);
    kms_pkcache_release(k);
    free(k->routes);
    pthread_mutex_destroy(&k->mu);
    pthread_mutex_destroy(&k->rotate_mu);
    OPENSSL_cleanse(&k->c, sizeof k->c);
    free(k);
}

int kms_new(const struct kms_config *c, const char *data_dir, struct bun_kms **out, char *err,
            size_t errcap)
{
    struct bun_kms *k = calloc(1, sizeof *k);
    if (!k) return BB_ENOMEM;
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->rotate_mu, NULL);
    k->c = *c;
    int rc = kms_pkcache_init(k);
    if (rc == 0 && (size_t)snprintf(k->dir, sizeof k->dir, "%s/bun_kms", data_dir) >= sizeof k->dir) {
        snprintf(err, errcap, "bun-kms: data directory path too long");
        rc = BB_EINVAL;
    }
    if (rc == 0) rc = kms_store_open(k, err, errcap);
    /* the key is in memory now; the copy in the config struct goes */
    OPENSSL_cleanse(k->c.master_key, sizeof k->c.master_key);
    if (rc) {
        kms_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

static int svc_start(struct bb_runtime *rt, void **state, char *err, size_t errcap)
{
    struct kms_config c;
    struct bun_kms *k = NULL;
    int rc = kms_config_load(&c, err, errcap);
    if (rc == 0) rc = kms_new(&c, rt->cfg->data_dir, &k, err, errcap);
    OPENSSL_cleanse(&c, sizeof c);
    if (rc) return rc;
    k->rt = rt;
    rc = kms_http_start(k, err, errcap);
    if (rc) {
        kms_http_stop(k);
        kms_free(k);
        return rc;
    }
    bb_info(KMS_MOD, "started dir=%s master_id=%s source=%s", k->dir, k->mk.id, k->source);
    *state = k;
    return 0;
}

static void svc_stop(void *state)
{
    struct bun_kms *k = state;
    int inflight = kms_http_stop(k);
    if (inflight) {
        bb_warn(KMS_MOD, "stop rpc_in_flight=%d", inflight);
        return; /* left to the process exit */
    }
    kms_free(k);
    bb_info(KMS_MOD, "stopped");
}

static int svc_health(void *state, json_t **detail)
{
    struct bun_kms *k = state;
    pthread_mutex_lock(&k->mu);
    int ok = k->db != NULL, rotating = k->rotating;
    char id[KMS_MKID_LEN + 1];
    memcpy(id, k->mk.id, sizeof id);
    pthread_mutex_unlock(&k->mu);
    *detail = json_pack("{s:s,s:s,s:b}", "status", ok ? "ok" : "down", "master_id", id,
                        "rotating", rotating);
    return ok ? 0 : BB_EUNAVAIL;
}

const struct bb_service_def bb_bun_kms_service = {
    .name = "bun-kms",
    .start = svc_start,
    .stop = svc_stop,
    .health = svc_health,
    .knobs = kms_knobs,
    .config_size = sizeof(struct kms_config),
};
