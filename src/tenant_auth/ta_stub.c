/* ta_stub.c — placeholder bodies of the ta_oauth contract until the service lands. */
#include "tenant_auth_internal.h"
#include "bb_err.h"

#include <stdio.h>
#include <string.h>

int ta_provider_get(struct tenant_auth *ta, const char *pid, const char *provider,
                    struct ta_provider *out, char *err, size_t errcap)
{
    (void)ta, (void)pid, (void)provider;
    memset(out, 0, sizeof *out);
    if (err && errcap) snprintf(err, errcap, "tenant-auth is not implemented yet");
    return BB_EUNAVAIL;
}

void ta_provider_release(struct ta_provider *p)
{
    (void)p;
}

int ta_redirect_allowed(struct tenant_auth *ta, const char *pid, const char *url)
{
    (void)ta, (void)pid, (void)url;
    return 0;
}

int ta_user_from_external(struct tenant_auth *ta, const char *pid, const char *provider,
                          const char *subject, const char *email, int email_verified, char *uid,
                          size_t uidcap, char *err, size_t errcap)
{
    (void)ta, (void)pid, (void)provider, (void)subject, (void)email, (void)email_verified;
    if (uidcap) uid[0] = '\0';
    if (err && errcap) snprintf(err, errcap, "tenant-auth is not implemented yet");
    return BB_EUNAVAIL;
}

int ta_issue_tokens(struct tenant_auth *ta, const char *pid, const char *uid,
                    const struct bb_http_request *req, struct json_t **out, char *err,
                    size_t errcap)
{
    (void)ta, (void)pid, (void)uid, (void)req;
    *out = NULL;
    if (err && errcap) snprintf(err, errcap, "tenant-auth is not implemented yet");
    return BB_EUNAVAIL;
}

struct tenant_auth *ta_from_request(const struct bb_http_request *req)
{
    return req->ctx;
}

const char *ta_request_project(struct bb_http_request *req)
{
    return bb_http_param(req, "projectId");
}
