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

#endif
