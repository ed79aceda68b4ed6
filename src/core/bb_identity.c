/* bb_identity.c — identity values and the built-in internal resolver (see bb_identity.h). */
#include "bb_identity.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_http.h"
#include "bb_http_internal.h"
#include "bb_json.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void bb_identity_release(struct bb_identity *id)
{
    if (!id) return;
    free(id->uid);
    json_decref(id->claims);
    memset(id, 0, sizeof *id);
    id->kind = BB_IDENTITY_ANONYMOUS;
}

const char *bb_identity_kind_name(enum bb_identity_kind kind)
{
    switch (kind) {
    case BB_IDENTITY_ANONYMOUS: return "anonymous";
    case BB_IDENTITY_INTERNAL_SERVICE: return "internal-service";
    case BB_IDENTITY_INTERNAL_ADMIN: return "internal-admin";
    case BB_IDENTITY_INTERNAL_END_USER: return "internal-end-user";
    case BB_IDENTITY_DEVELOPER_SESSION: return "developer-session";
    case BB_IDENTITY_PAT: return "pat";
    case BB_IDENTITY_PROJECT_KEY_PUBLIC: return "project-key-public";
    case BB_IDENTITY_PROJECT_KEY_SECRET: return "project-key-secret";
    case BB_IDENTITY_END_USER_JWT: return "end-user-jwt";
    case BB_IDENTITY_PROJECT_TOKEN: return "project-token";
    }
    return "unknown";
}

/* The built-in resolver; see the table in bb_identity.h. token: the internal token (may be NULL or
 * empty: then no request is internal). */
int bb_identity_resolve_internal_(const char *token, const struct bb_http_request *req,
                                  struct bb_identity *out, struct bb_identity_reject *why)
{
    const char *auth = bb_http_header(req, "Authorization");
    const char *idh = bb_http_header(req, "X-Bunbase-Identity");
    int valid = token && token[0] && auth && strncasecmp(auth, "Bearer ", 7) == 0 &&
                bb_ct_streq(auth + 7, token);
    if (!valid) {
        if (idh) {
            why->msg = "X-Bunbase-Identity needs the internal token";
            return BB_EAUTH;
        }
        return BB_ENOTFOUND;
    }
    out->resolver = "internal";
    if (!idh || !idh[0]) {
        out->kind = BB_IDENTITY_INTERNAL_SERVICE;
        return 0;
    }
    if (!strcmp(idh, "admin")) {
        out->kind = BB_IDENTITY_INTERNAL_ADMIN;
        return 0;
    }
    if (!strcmp(idh, "anonymous")) {
        out->kind = BB_IDENTITY_INTERNAL_END_USER;
        return 0;
    }
    json_t *j = NULL;
    if (bb_json_parse(idh, strlen(idh), 8, &j, NULL, 0) != 0 || !json_is_object(j) ||
        !json_is_string(json_object_get(j, "uid")) ||
        (json_object_get(j, "claims") && !json_is_object(json_object_get(j, "claims")))) {
        json_decref(j);
        why->msg = "X-Bunbase-Identity: expected admin, anonymous or {\"uid\",\"claims\"}";
        return BB_EAUTH;
    }
    json_t *claims = json_object_get(j, "claims");
    out->uid = strdup(json_string_value(json_object_get(j, "uid")));
    out->claims = claims ? json_incref(claims) : json_object();
    json_decref(j);
    if (!out->uid || !out->claims) {
        free(out->uid);
        json_decref(out->claims);
        out->uid = NULL, out->claims = NULL;
        return BB_ENOMEM;
    }
    out->kind = BB_IDENTITY_INTERNAL_END_USER;
    return 0;
}
