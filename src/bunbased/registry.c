#include "registry.h"
#include "bb_err.h"
#include "bb_host.h"
#include "bb_log.h"
#include "bun_auth.h"
#include "bun_kms.h"
#include "buncast.h"
#include "bundoc_server.h"
#include "tenant_auth.h"
#include "bunder_manager.h"
#include "functions.h"
#include "platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every service bunbased can run, in start order. */
static const struct bb_service_def *const all_services[] = {
    &bb_bun_kms_service,  /* before bun-auth and tenant-auth: they keep their keys in it */
    &bb_bun_auth_service, /* before platform: platform calls it in-process */
    &bb_tenant_auth_service, /* before platform: its resolver must see end-user tokens first */
    &bb_platform_service,
    &bb_buncast_service,
    &bb_bundoc_server_service,
    &bb_bunder_manager_service,
    &bb_functions_service,
};
#define NSERVICES (sizeof all_services / sizeof all_services[0])

struct bb_registry {
    int selected[NSERVICES];
};

static void known_names(char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NSERVICES && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", all_services[i]->name);
}

int bb_registry_select(const char *list, struct bb_registry **out, char *err, size_t errcap)
{
    struct bb_registry *r = calloc(1, sizeof *r);
    if (!r) return BB_ENOMEM;
    int any = 0;
    if (!strcmp(list, "all")) {
        for (size_t i = 0; i < NSERVICES; i++)
            r->selected[i] = 1;
        any = 1;
    } else {
        const char *p = list;
        while (*p) {
            size_t n = strcspn(p, ",");
            size_t i;
            for (i = 0; i < NSERVICES; i++)
                if (strlen(all_services[i]->name) == n && !strncmp(all_services[i]->name, p, n))
                    break;
            if (i == NSERVICES) {
                char known[256];
                known_names(known, sizeof known);
                snprintf(err, errcap, "unknown service \"%.*s\" (known: %s)", (int)n, p, known);
                free(r);
                return BB_EINVAL;
            }
            r->selected[i] = 1;
            any = 1;
            p += n;
            if (*p == ',') p++;
        }
    }
    if (!any) {
        snprintf(err, errcap, "--services: no service selected");
        free(r);
        return BB_EINVAL;
    }
    *out = r;
    return 0;
}

int bb_registry_start(struct bb_registry *r, struct bb_runtime *rt, char *err, size_t errcap)
{
    for (size_t i = 0; i < NSERVICES; i++) {
        if (!r->selected[i]) continue;
        int rc = bb_host_service_start(rt->host, all_services[i], rt, err, errcap);
        if (rc) {
            bb_host_services_stop(rt->host);
            return rc;
        }
    }
    return 0;
}

void bb_registry_free(struct bb_registry *r)
{
    free(r);
}

size_t bb_registry_count(const struct bb_registry *r)
{
    size_t n = 0;
    for (size_t i = 0; i < NSERVICES; i++)
        n += (size_t)r->selected[i];
    return n;
}

const char *bb_registry_name(const struct bb_registry *r, size_t k)
{
    const struct bb_service_def *d = bb_registry_def(r, k);
    return d ? d->name : NULL;
}

const struct bb_service_def *bb_registry_def(const struct bb_registry *r, size_t k)
{
    for (size_t i = 0; i < NSERVICES; i++)
        if (r->selected[i] && k-- == 0) return all_services[i];
    return NULL;
}
