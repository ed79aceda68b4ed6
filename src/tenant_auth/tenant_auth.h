/* tenant_auth.h — sign-in for each project's own end users (docs/tenant-auth.md).
 *
 * The service "tenant-auth" (bb_tenant_auth_service) keeps a project's users, sessions and auth
 * configuration in that project's bundoc database, in reserved collections (_auth_*) that the
 * project's own document API can neither read nor write; signs access tokens (asymmetric JWTs,
 * EdDSA) with a key per project held by bun-kms; and registers an identity resolver on the
 * gateway that turns `Authorization: Bearer <tenant JWT>` or the cookie tenant_session_token into
 * BB_IDENTITY_END_USER_JWT (project_id = aud, uid = sub, claims). Its routes are internal
 * (/v1/tenant-auth/{projectId}/...): the gateway (platform) serves the public ones,
 * /v1/auth/project/... with a pk_ and /v1/projects/{projectId}/auth/... for developers and sk_,
 * under the authorization matrix, and forwards them here.
 */
#ifndef TENANT_AUTH_H
#define TENANT_AUTH_H

#include "bb_service.h"

extern const struct bb_service_def bb_tenant_auth_service;

#endif
