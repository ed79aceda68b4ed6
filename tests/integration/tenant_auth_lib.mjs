// Shared by the tenant-auth integration tests.

import { FAST_ENV } from './platform_lib.mjs';

/** A test server's environment: cheap Argon2id for end users too, no rate limits. */
export const TA_FAST_ENV = {
  ...FAST_ENV,
  BUNBASE_TENANT_AUTH_ARGON2_OPSLIMIT: '1',
  BUNBASE_TENANT_AUTH_ARGON2_MEMLIMIT_KIB: '64',
  BUNBASE_TENANT_AUTH_RATE_LIMIT: '0',
};
