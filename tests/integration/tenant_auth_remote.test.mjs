// tenant-auth with bundoc-server in another bunbased: its users reach the project's database over
// HTTP (bb_host_call to BUNBASE_BUNDOC_SERVER_ADDR) — sign-up, sign-in, a rule on request.auth.uid;
// and without bun-kms in the process tenant-auth refuses to start, saying why.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { freePort, makeTempDir, runBunbased, startServer } from './harness.mjs';
import { api, newProject, newUser } from './platform_lib.mjs';
import { TA_FAST_ENV } from './tenant_auth_lib.mjs';

const TOKEN = 'tenant-auth-remote-test-token-0123456789';

test('bundoc-server in a second bunbased: sign-up, sign-in and the owner rule over HTTP', async () => {
  const addr = { BUNBASE_BUNDOC_SERVER_ADDR: `127.0.0.1:${await freePort()}` };
  const docs = await startServer({ services: 'bundoc-server', env: { BUNBASE_INTERNAL_TOKEN: TOKEN, ...addr, BUNBASE_LOG_LEVEL: 'warn' } });
  const gw = await startServer({ services: 'bun-kms,bun-auth,tenant-auth,platform', env: { ...TA_FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, ...addr } });
  try {
    const G = gw.url;
    const dev = await newUser(G, 'ta-remote');
    const p = await newProject(G, dev.access, 'Remote');
    let r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { key: p.sk, body: { providers: { email_password: { enabled: true } } } });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'POST', '/v1/auth/project/register', { key: p.pk, body: { email: 'ivy@example.com', password: 'ivy-password-1' } });
    assert.equal(r.status, 201, r.text);
    r = await api(G, 'POST', '/v1/auth/project/login', { key: p.pk, body: { email: 'ivy@example.com', password: 'ivy-password-1' } });
    assert.equal(r.status, 200, r.text);
    const ivy = r.json;
    const rule = 'request.auth != null && resource.data.owner == request.auth.uid';
    r = await api(G, 'POST', '/v1/database/collections', { key: p.sk, body: { name: 'todo', rules: { read: rule, write: rule } } });
    assert.equal(r.status, 201, r.text);
    r = await api(G, 'POST', '/v1/database/documents/todo', { token: ivy.access_token, body: { _id: 't1', owner: ivy.user.id } });
    assert.equal(r.status, 201, r.text);
    r = await api(G, 'GET', '/v1/database/documents/todo/t1', { token: ivy.access_token });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'GET', '/v1/database/documents/todo/t1', { key: p.pk });
    assert.equal(r.status, 403, r.text);
    // the users are in the remote database, invisible to its admin identity
    const D = `http://${addr.BUNBASE_BUNDOC_SERVER_ADDR}`;
    r = await api(D, 'GET', `/v1/projects/${p.id}/databases/(default)/collections`, { headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.text.includes('todo') && !r.text.includes('_auth_'), r.text);
    r = await api(D, 'GET', `/v1/projects/${p.id}/databases/(default)/documents/_auth_users`, { headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' } });
    assert.equal(r.status, 404, r.text);
    r = await api(D, 'GET', `/v1/projects/${p.id}/databases/(default)/documents/_auth_users/${ivy.user.id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.email, 'ivy@example.com');
    assert.match(r.json.password_hash, /^\$argon2id\$/);
  } finally {
    await gw.stop();
    await docs.stop();
  }
});

test('without bun-kms in the process tenant-auth refuses to start, saying why', async () => {
  const r = await runBunbased(['serve', '--data', makeTempDir('bb-ta-nokms-'), '--listen', `127.0.0.1:${await freePort()}`,
    '--services=tenant-auth'], { env: { BUNBASE_LOG_LEVEL: 'warn' }, timeoutMs: 60000 });
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, /tenant-auth needs bun-kms in the same process/);
});
