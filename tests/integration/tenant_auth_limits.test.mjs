// tenant-auth's limits in time: login rate limits, enforced per project and client IP and per
// project and account (the project's auth config sets them): 429 with Retry-After, other projects
// untouched; and the grace window of a rotated-out signing key (BUNBASE_TENANT_AUTH_KEY_GRACE_S).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './harness.mjs';
import { api, newProject, newUser } from './platform_lib.mjs';
import { TA_FAST_ENV } from './tenant_auth_lib.mjs';

let srv, G, p, q;
before(async () => {
  srv = await startServer({ env: { ...TA_FAST_ENV, BUNBASE_TENANT_AUTH_RATE_LIMIT: '1', BUNBASE_TENANT_AUTH_KEY_GRACE_S: '1' } });
  G = srv.url;
  const dev = await newUser(G, 'ta-rl');
  p = await newProject(G, dev.access, 'Limited');
  q = await newProject(G, dev.access, 'Other');
  for (const [proj, rl] of [[p, { ip_per_min: 1, ip_burst: 6, account_per_min: 1, account_burst: 2 }], [q, {}]]) {
    const r = await api(G, 'PUT', `/v1/projects/${proj.id}/auth/config`, { key: proj.sk, body: {
      providers: { email_password: { enabled: true } }, rate_limits: rl } });
    assert.equal(r.status, 200, r.text);
  }
  const r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { key: p.sk, body: { rate_limits: { ip_per_min: 0 } } });
  assert.equal(r.status, 400, r.text);
});
after(async () => { if (srv) await srv.stop(); });

const login = (proj, email) => api(G, 'POST', '/v1/auth/project/login', { key: proj.pk, body: { email, password: 'wrong-password-1' } });

test('per account, then per IP: 429 with Retry-After; another project is not affected', async () => {
  // (register has buckets of its own)
  let r = await api(G, 'POST', '/v1/auth/project/register', { key: p.pk, body: { email: 'hank@example.com', password: 'hank-password-1' } });
  assert.equal(r.status, 201, r.text);
  // account burst 2
  for (let i = 0; i < 2; i++) assert.equal((await login(p, 'hank@example.com')).status, 401);
  r = await login(p, 'hank@example.com');
  assert.equal(r.status, 429, r.text);
  assert.equal(r.code, 'rate_limited');
  assert.ok(Number(r.headers['retry-after']) >= 1, r.headers['retry-after']);
  // even the right password waits
  r = await api(G, 'POST', '/v1/auth/project/login', { key: p.pk, body: { email: 'hank@example.com', password: 'hank-password-1' } });
  assert.equal(r.status, 429, r.text);
  // other accounts from the same IP until the IP bucket (6) is empty
  let statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await login(p, `other${i}@example.com`)).status);
  assert.deepEqual(statuses, [401, 401, 429, 429]); // hank's 4 attempts took from it too
  // project q has its own buckets
  r = await login(q, 'hank@example.com');
  assert.equal(r.status, 401, r.text);
});

test('a rotated-out key verifies during its grace window, then neither verifies nor is published', async () => {
  let r = await api(G, 'POST', '/v1/auth/project/register', { key: q.pk, body: { email: 'iris@example.com', password: 'iris-password-1' } });
  assert.equal(r.status, 201, r.text);
  const old = r.json.access_token;
  const oldKid = JSON.parse(Buffer.from(old.split('.')[0], 'base64url')).kid;
  r = await api(G, 'POST', `/v1/projects/${q.id}/auth/keys/rotate`, { key: q.sk });
  assert.equal(r.status, 200, r.text);
  const newKid = r.json.kid;
  r = await api(G, 'GET', '/v1/auth/project/me', { token: old });
  assert.equal(r.status, 200, r.text); // in grace
  await new Promise((res) => setTimeout(res, 2200));
  r = await api(G, 'GET', '/v1/auth/project/me', { token: old });
  assert.equal(r.status, 401, r.text);
  assert.equal(r.code, 'token_unknown_kid');
  r = await api(G, 'GET', `/v1/projects/${q.id}/auth/jwks.json`);
  assert.deepEqual(r.json.keys.map((k) => k.kid), [newKid]);
  assert.ok(!r.text.includes(oldKid), r.text);
  r = await api(G, 'POST', '/v1/auth/project/login', { key: q.pk, body: { email: 'iris@example.com', password: 'iris-password-1' } });
  assert.equal(r.status, 200, r.text);
  r = await api(G, 'GET', '/v1/auth/project/me', { token: r.json.access_token });
  assert.equal(r.status, 200, r.text);
});
