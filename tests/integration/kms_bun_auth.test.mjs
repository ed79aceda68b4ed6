// bun-auth's signing key moves into bun-kms: a token issued with the file key (bun-kms not
// selected) still resolves after a restart with bun-kms; the file key is imported once (its PEM
// removed), tokens are then signed through bun-kms (audited under _system), JWKS comes from it,
// rotation goes through it; without bun-kms selected, bun-auth keeps working from files.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, loginUser, newUser } from './platform_lib.mjs';
import { TOKEN, http } from './kms_lib.mjs';

const ENV = { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_LOG_LEVEL: 'info' };
const kidOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid;

describe('bun-auth signing key in bun-kms', () => {
  const d = makeTempDir('bb-kms-auth-');
  let s;
  after(async () => {
    if (s) await s.stop('SIGTERM', { keepDir: true });
    removeTempDir(d);
  });

  test('file key → imported once → tokens survive the move, new ones signed by bun-kms, rotation', async () => {
    // 1. without bun-kms: the file key signs
    s = await startServer({ dataDir: d, services: 'bun-auth,platform', env: ENV });
    const u = await newUser(s.url, 'move');
    const t1 = u.access;
    const k1 = kidOf(t1);
    const pemFiles = () => fs.readdirSync(path.join(d, 'bun_auth')).filter((f) => f.endsWith('.pem'));
    assert.deepEqual(pemFiles(), [`key-${k1}.pem`]);
    await s.stop('SIGTERM', { keepDir: true });

    // 2. with bun-kms: imported, the PEM gone, the old token resolves, the same key signs
    s = await startServer({ dataDir: d, services: 'bun-kms,bun-auth,platform', env: ENV });
    assert.match(s.stdout() + s.stderr(), /keys_moved_to_kms"? count=1/);
    assert.deepEqual(pemFiles(), []);
    let r = await api(s.url, 'GET', '/v1/auth/me', { token: t1 });
    assert.equal(r.status, 200, `token from before the move: ${r.text}`);
    r = await http(s.url, 'GET', '/v1/kms/_system/keys/bun-auth-signing');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.type, 'ed25519');
    assert.equal(r.json.versions[0].kid, k1, 'the imported key keeps its kid');
    const t2 = (await loginUser(s.url, u.email)).access;
    assert.equal(kidOf(t2), k1);
    r = await api(s.url, 'GET', '/v1/auth/me', { token: t2 });
    assert.equal(r.status, 200);
    r = await api(s.url, 'GET', '/.well-known/jwks.json');
    assert.deepEqual(r.json.keys.map((k) => k.kid), [k1]);
    r = await http(s.url, 'GET', '/v1/kms/_admin/audit?ns=_system&op=key.sign&outcome=ok');
    assert.ok(r.json.records.length >= 1, 'the login was signed through bun-kms');
    await s.stop('SIGTERM', { keepDir: true });

    // 3. automatic rotation goes through bun-kms; older tokens stay valid within the grace
    s = await startServer({ dataDir: d, services: 'bun-kms,bun-auth,platform',
      env: { ...ENV, BUNBASE_BUN_AUTH_KEY_ROTATE_S: '1', BUNBASE_BUN_AUTH_SYNC_MS: '200' } });
    let t3, k3;
    for (let i = 0; i < 50; i++) {
      t3 = (await loginUser(s.url, u.email)).access;
      k3 = kidOf(t3);
      if (k3 !== k1) break;
      await sleep(100);
    }
    assert.notEqual(k3, k1, 'rotated');
    r = await http(s.url, 'GET', '/v1/kms/_system/keys/bun-auth-signing');
    assert.ok(r.json.current_version >= 2);
    for (const t of [t1, t2, t3]) {
      r = await api(s.url, 'GET', '/v1/auth/me', { token: t });
      assert.equal(r.status, 200);
    }
    r = await api(s.url, 'GET', '/.well-known/jwks.json');
    const kids = r.json.keys.map((k) => k.kid);
    assert.ok(kids.includes(k1), 'the old key stays in the JWKS within the grace');
    assert.deepEqual(pemFiles(), [], 'no private key file comes back');
    await s.stop('SIGTERM', { keepDir: true });

    // 4. back without bun-kms: bun-auth runs on a file key again; tokens of the kms keys still
    //    verify through the published public keys (bun_auth_keys)
    s = await startServer({ dataDir: d, services: 'bun-auth,platform', env: ENV });
    r = await api(s.url, 'GET', '/v1/auth/me', { token: t3 });
    assert.equal(r.status, 200);
    const t4 = (await loginUser(s.url, u.email)).access;
    r = await api(s.url, 'GET', '/v1/auth/me', { token: t4 });
    assert.equal(r.status, 200);
  });
});
