/* ta_oauth.h — tenant-auth's OAuth 2.0 / OpenID Connect sign-in (authorization code with PKCE):
 * GitHub, Google and any OIDC provider by its discovery document. docs/tenant-auth.md
 * ("OAuth / OIDC") describes the flow, the checks and the knobs.
 *
 *   GET /v1/auth/project/oauth/{provider}/start?redirect_uri=…   (pk_ as header or ?key=)
 *       → 302 to the provider's authorization endpoint
 *   GET /v1/auth/project/oauth/{provider}/callback?code=…&state=… (public: the provider sends the
 *       browser here) → 302 to the app's redirect_uri with the tokens in the fragment, or ?error=
 *
 * tenant-auth mounts the table with its own routes; the routes' ctx must be what
 * ta_from_request() expects. Handlers run on the worker pool (they call the provider).
 */
#ifndef TA_OAUTH_H
#define TA_OAUTH_H

#include <stddef.h>

#include "bb_router.h"

extern const struct bb_route ta_oauth_routes[];
extern const size_t ta_oauth_nroutes;

/* From tenant-auth's start(): reads the BUNBASE_TENANT_AUTH_OAUTH_* knobs and allocates the table
 * of pending sign-ins. 0; BB_EINVAL (err names the knob) or BB_ENOMEM. Without it the first
 * sign-in does it (then a bad knob is a 503 oauth_misconfigured). */
int ta_oauth_start(char *err, size_t errcap);
/* From tenant-auth's stop(), after the routes stopped: frees the pending sign-ins and the
 * discovery/JWKS cache. */
void ta_oauth_stop(void);

#endif
