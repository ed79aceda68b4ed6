// Two bunbased processes on one PostgreSQL (the second uses the first's cluster through
// BUNBASE_DATABASE_URL, each with its own data dir and signing key): each accepts the other's
// access tokens (public keys shared through PostgreSQL, both in each JWKS), and a logout or a
// refresh-token reuse on one is refused on the other within the sync interval. The account routes
// are platform's (/v1/auth/...), which call bun-auth in-process.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { httpRequest, sleep, startServer } from './harness.mjs';

const SYNC = { BUNBASE_BUN_AUTH_SYNC_MS: '100', BUNBASE_BUN_AUTH_ARGON2_OPSLIMIT: '1', BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB: '1024' };

async function post(url, body, headers = {}) {
  return httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** Polls fn() until pred(result) or ~5 s; returns the last result. */
async function until(fn, pred, ms = 5000) {
  const deadline = Date.now() + ms;
  let r;
  for (;;) {
    r = await fn();
    if (pred(r) || Date.now() > deadline) return r;
    await sleep(50);
  }
}

describe('bun-auth across two bunbased on one database', () => {
  let a;
  let b;
  before(async () => {
    a = await startServer({ services: ['bun-auth', 'platform'], env: SYNC });
    const conninfo = `host=${path.join(a.dataDir, 'postgres', 'run')} dbname=bunbase user=postgres`;
    b = await startServer({ services: ['bun-auth', 'platform'], env: { ...SYNC, BUNBASE_DATABASE_URL: conninfo } });
  });
  after(async () => {
    if (b) await b.stop('SIGTERM');
    if (a) await a.stop('SIGTERM');
  });

  const kids = async (srv) => (await httpRequest(`${srv.url}/.well-known/jwks.json`)).json().keys.map((k) => k.kid);
  const me = (srv, headers) => httpRequest(`${srv.url}/v1/auth/me`, { headers });

  test('each JWKS lists both keys; a token or cookie from one works on the other; logout on one is seen by the other', { timeout: 60000 }, async () => {
    const ka = (await httpRequest(`${a.url}/health`)).json().services['bun-auth'].kid;
    const kb = (await httpRequest(`${b.url}/health`)).json().services['bun-auth'].kid;
    assert.notEqual(ka, kb);
    const ja = await until(() => kids(a), (k) => k.includes(kb));
    assert.deepEqual([...ja].sort(), [ka, kb].sort());
    assert.equal(ja[0], ka, 'the own signing key comes first');
    const jb = await kids(b);
    assert.deepEqual([...jb].sort(), [ka, kb].sort());

    const reg = await post(`${a.url}/v1/auth/register`, { email: 'Grace@Example.com', password: 'correct horse', name: 'Grace' });
    assert.equal(reg.status < 300, true, reg.text);
    const login = await post(`${a.url}/v1/auth/login`, { email: 'grace@example.com', password: 'correct horse' });
    assert.equal(login.status, 200, login.text);
    const { access_token: at } = login.json();
    const cookie = (login.headers['set-cookie'] || []).map((c) => c.split(';')[0]).find((c) => c.startsWith('session_token='));
    assert.ok(cookie, 'login sets the session cookie');

    let r = await me(b, { authorization: `Bearer ${at}` });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().email, 'grace@example.com');
    r = await until(() => me(b, { cookie }), (x) => x.status === 200);
    assert.equal(r.status, 200, r.text);

    const out = await post(`${a.url}/v1/auth/logout`, {}, { authorization: `Bearer ${at}` });
    assert.equal(out.status, 200, out.text);
    r = await me(a, { authorization: `Bearer ${at}` });
    assert.equal(r.status, 401);
    assert.equal(r.json().code, 'session_revoked');
    r = await until(() => me(b, { authorization: `Bearer ${at}` }), (x) => x.status === 401);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json().code, 'session_revoked');
    r = await until(() => me(b, { cookie }), (x) => x.status === 401);
    assert.equal(r.status, 401);
  });

  test('refresh on one process, reuse of the old refresh token on the other: the session dies on both', { timeout: 60000 }, async () => {
    const login = await post(`${b.url}/v1/auth/login`, { email: 'grace@example.com', password: 'correct horse' });
    assert.equal(login.status, 200, login.text);
    const first = login.json();
    const ref = await post(`${a.url}/v1/auth/refresh`, { refresh_token: first.refresh_token });
    assert.equal(ref.status, 200, ref.text);
    const second = ref.json();
    assert.notEqual(second.refresh_token, first.refresh_token);
    let r = await me(b, { authorization: `Bearer ${second.access_token}` });
    assert.equal(r.status, 200, r.text);
    // the stolen (already used) token presented on b
    const reuse = await post(`${b.url}/v1/auth/refresh`, { refresh_token: first.refresh_token });
    assert.equal(reuse.status, 401, reuse.text);
    r = await me(b, { authorization: `Bearer ${second.access_token}` });
    assert.equal(r.status, 401);
    assert.equal(r.json().code, 'session_revoked');
    r = await until(() => me(a, { authorization: `Bearer ${second.access_token}` }), (x) => x.status === 401);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json().code, 'session_revoked');
    const again = await post(`${a.url}/v1/auth/refresh`, { refresh_token: second.refresh_token });
    assert.equal(again.status, 401, again.text);
  });
});
