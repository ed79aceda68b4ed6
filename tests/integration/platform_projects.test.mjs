// Projects, members (last-owner rules, transfer), project keys (two active keys for rotation,
// regenerate, revoke — at once here, within 5 s in another process on the same database),
// personal access tokens (scopes, expiry, revoke, list [] never null) and the project config.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { sleep, startServer } from './harness.mjs';
import { FAST_ENV, addMember, api, newPat, newProject, newUser, streamHead } from './platform_lib.mjs';

async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return Date.now();
    if (Date.now() > end) return null;
    await sleep(50);
  }
}

describe('projects, members, keys, tokens', () => {
  let a, b, A, B;
  before(async () => {
    a = await startServer({ env: { ...FAST_ENV, BUNBASE_PLATFORM_MAX_PROJECTS_PER_USER: '0' } });
    A = a.url;
    // a second bunbased on the same PostgreSQL: its key/token/member view must follow
    const conninfo = `host=${path.join(a.dataDir, 'postgres', 'run')} dbname=bunbase user=postgres`;
    b = await startServer({ env: { ...FAST_ENV, BUNBASE_DATABASE_URL: conninfo }, services: 'bun-auth,platform' });
    B = b.url;
  });
  after(async () => {
    if (b) await b.stop();
    if (a) await a.stop();
  });

  test('create / list / get / rename / delete; slug stable unless asked; [] never null', async () => {
    const u = await newUser(A, 'proj');
    let r = await api(A, 'GET', '/v1/projects', { token: u.access });
    assert.equal(r.status, 200);
    assert.equal(r.text, '[]');
    const p = await newProject(A, u.access, 'My App!');
    assert.equal(p.slug, 'my-app');
    assert.match(p.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(p.pk.startsWith('pk_') && p.sk.startsWith('sk_'));
    const p2 = await newProject(A, u.access, 'my app');
    assert.match(p2.slug, /^my-app-[a-z0-9x]{6}$/);
    r = await api(A, 'GET', '/v1/projects', { token: u.access });
    assert.deepEqual(r.json.map((x) => x.id), [p2.id, p.id]);
    assert.equal(r.json[0].role, 'owner');
    assert.equal(r.json[0].keys, undefined);
    r = await api(A, 'PATCH', `/v1/projects/${p.id}`, { token: u.access, body: { name: 'Renamed' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Renamed');
    assert.equal(r.json.slug, 'my-app');
    r = await api(A, 'PATCH', `/v1/projects/${p.id}`, { token: u.access, body: { slug: p2.slug } });
    assert.equal(r.status, 409, r.text);
    r = await api(A, 'PATCH', `/v1/projects/${p.id}`, { token: u.access, body: { slug: 'Bad Slug' } });
    assert.equal(r.status, 400, r.text);
    r = await api(A, 'PATCH', `/v1/projects/${p.id}`, { token: u.access, body: { slug: 'renamed' } });
    assert.equal(r.json.slug, 'renamed');
    r = await api(A, 'GET', `/api/projects/${p.id}`, { token: u.access });
    assert.equal(r.status, 200);
    assert.equal(r.json.slug, 'renamed');
    for (const body of [{ name: '' }, { name: 5 }, { name: 'x'.repeat(101) }, { name: 'a\u0001b' }]) {
      r = await api(A, 'POST', '/v1/projects', { token: u.access, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    r = await api(A, 'DELETE', `/v1/projects/${p.id}`, { token: u.access });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.removed, { keys: 2, members: 1, database: 'dropped', kv: 'dropped' });
    r = await api(A, 'GET', `/v1/projects/${p.id}`, { token: u.access });
    assert.equal(r.status, 404);
    r = await api(A, 'GET', `/v1/projects/${p.id}`, { token: p.sk });
    assert.equal(r.status, 401, 'a deleted project\'s key still works');
  });

  test('members: add by email, roles, the owner cannot leave / be demoted / be removed, transfer', async () => {
    const [o, x, y] = await Promise.all(['owner', 'x', 'y'].map((t) => newUser(A, t)));
    const p = await newProject(A, o.access, 'Team');
    let r = await api(A, 'POST', `/v1/projects/${p.id}/members`, { token: o.access, body: { email: 'ghost@example.com' } });
    assert.equal(r.status, 404, r.text);
    r = await api(A, 'POST', `/v1/projects/${p.id}/members`, { token: o.access, body: { email: x.email, role: 'owner' } });
    assert.equal(r.status, 400, r.text);
    const m = await addMember(A, o.access, p.id, x.email.toUpperCase(), 'admin');
    assert.equal(m.user_id, x.id);
    r = await api(A, 'POST', `/v1/projects/${p.id}/members`, { token: o.access, body: { email: x.email } });
    assert.equal(r.status, 409, r.text);
    await addMember(A, x.access, p.id, y.email, 'viewer'); // an admin adds members
    r = await api(A, 'GET', `/v1/projects/${p.id}/members`, { token: y.access });
    assert.deepEqual(r.json.map((e) => [e.email, e.role]), [[o.email, 'owner'], [x.email, 'admin'], [y.email, 'viewer']]);
    // viewer cannot write members; y sees the project, outsiders do not
    r = await api(A, 'PATCH', `/v1/projects/${p.id}/members/${y.id}`, { token: y.access, body: { role: 'admin' } });
    assert.equal(r.status, 403, r.text);
    // the owner is the last owner: cannot leave, be demoted or removed (not even by an admin)
    r = await api(A, 'POST', `/v1/projects/${p.id}/leave`, { token: o.access });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.code, 'last_owner');
    r = await api(A, 'PATCH', `/v1/projects/${p.id}/members/${o.id}`, { token: x.access, body: { role: 'member' } });
    assert.equal(r.status, 409, r.text);
    r = await api(A, 'DELETE', `/v1/projects/${p.id}/members/${o.id}`, { token: x.access });
    assert.equal(r.status, 409, r.text);
    // an admin cannot transfer ownership; the owner can, and becomes admin
    r = await api(A, 'POST', `/v1/projects/${p.id}/transfer`, { token: x.access, body: { user_id: x.id } });
    assert.equal(r.status, 403, r.text);
    r = await api(A, 'POST', `/v1/projects/${p.id}/transfer`, { token: o.access, body: { user_id: 'nobody' } });
    assert.equal(r.status, 404, r.text);
    r = await api(A, 'POST', `/v1/projects/${p.id}/transfer`, { token: o.access, body: { email: x.email } });
    assert.equal(r.status, 200, r.text);
    r = await api(A, 'GET', `/v1/projects/${p.id}`, { token: o.access });
    assert.equal(r.json.role, 'admin');
    assert.equal(r.json.owner_id, x.id);
    r = await api(A, 'DELETE', `/v1/projects/${p.id}`, { token: o.access }); // admins do not delete
    assert.equal(r.status, 403, r.text);
    r = await api(A, 'POST', `/v1/projects/${p.id}/leave`, { token: o.access });
    assert.equal(r.status, 200, r.text);
    r = await api(A, 'GET', `/v1/projects/${p.id}`, { token: o.access });
    assert.equal(r.status, 404, r.text);
    // role change and removal
    r = await api(A, 'PATCH', `/v1/projects/${p.id}/members/${y.id}`, { token: x.access, body: { role: 'member' } });
    assert.equal(r.status, 200, r.text);
    r = await api(A, 'PATCH', `/v1/projects/${p.id}/members/${y.id}`, { token: x.access, body: { role: 'boss' } });
    assert.equal(r.status, 400, r.text);
    r = await api(A, 'DELETE', `/v1/projects/${p.id}/members/${y.id}`, { token: x.access });
    assert.equal(r.status, 200, r.text);
    r = await api(A, 'GET', `/v1/projects/${p.id}`, { token: y.access });
    assert.equal(r.status, 404, r.text);
  });

  test('keys: two active secret keys for rotation, revoke and regenerate — at once here, within 5 s there', async () => {
    const o = await newUser(A, 'keys');
    const p = await newProject(A, o.access, 'Keys');
    const get = (base, k) => api(base, 'GET', `/v1/projects/${p.id}`, k.startsWith('pk_') ? { key: k } : { token: k });
    let r = await api(A, 'POST', `/v1/projects/${p.id}/keys`, { token: o.access, body: { kind: 'sk' } });
    assert.equal(r.status, 201, r.text);
    const sk2 = r.json;
    assert.ok(sk2.key.startsWith('sk_') && sk2.key.startsWith(sk2.prefix));
    r = await api(A, 'POST', `/v1/projects/${p.id}/keys`, { token: o.access, body: { kind: 'sk' } });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.code, 'key_limit');
    for (const k of [p.sk, sk2.key, p.pk]) assert.equal((await get(A, k)).status, 200);
    assert.ok(await until(async () => (await get(B, sk2.key)).status === 200), 'the new key is not seen by the other process');
    // the list shows prefixes, never values
    r = await api(A, 'GET', `/v1/projects/${p.id}/keys`, { token: o.access });
    assert.equal(r.json.length, 3);
    assert.ok(r.json.every((k) => k.key === undefined && k.prefix.length === 12));
    // retire the first secret key: the second keeps working
    r = await api(A, 'DELETE', `/v1/projects/${p.id}/keys/${p.skId}`, { token: o.access });
    assert.equal(r.status, 200, r.text);
    r = await get(A, p.sk);
    assert.equal(r.status, 401);
    assert.equal(r.code, 'key_revoked');
    assert.equal((await get(A, sk2.key)).status, 200);
    const t0 = Date.now();
    const seen = await until(async () => (await get(B, p.sk)).status === 401);
    assert.ok(seen, 'the other process still accepts the revoked key after 5 s');
    assert.ok(seen - t0 <= 5000);
    assert.equal((await get(B, sk2.key)).status, 200);
    // regenerate the publishable key
    r = await api(A, 'POST', `/v1/projects/${p.id}/keys/${p.pkId}/regenerate`, { token: o.access });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.kind, 'pk');
    assert.equal(r.json.replaces, p.pkId);
    assert.equal((await get(A, p.pk)).status, 401);
    assert.equal((await get(A, r.json.key)).status, 200);
    assert.ok(await until(async () => (await get(B, p.pk)).status === 401), 'regenerate not seen by the other process');
    r = await api(A, 'POST', `/v1/projects/${p.id}/keys/${p.pkId}/regenerate`, { token: o.access });
    assert.equal(r.status, 404, r.text);
    r = await api(A, 'POST', `/v1/projects/${p.id}/keys`, { token: o.access, body: { kind: 'xk' } });
    assert.equal(r.status, 400, r.text);
    // key transports: X-Bunbase-Client-Key for both; a pk_ as bearer or an sk_ in ?key= is refused
    assert.equal((await api(A, 'GET', `/v1/projects/${p.id}`, { key: sk2.key })).status, 200);
    assert.equal((await api(A, 'GET', `/v1/projects/${p.id}`, { token: p.pk })).status, 401);
    assert.equal((await api(A, 'GET', `/v1/projects/${p.id}?key=${sk2.key}`)).status, 401);
    // ?key= is read only on GET stream routes: elsewhere it is no credential at all
    const pk2 = (await api(A, 'POST', `/v1/projects/${p.id}/keys`, { token: o.access, body: { kind: 'pk' } })).json.key;
    r = await api(A, 'GET', `/v1/projects/${p.id}?key=${pk2}`);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.code, 'unauthenticated');
    let st = await streamHead(`${A}/v1/auth/stream?key=${pk2}`);
    assert.equal(st.status, 403, st.text); // resolved as the pk_, which the stream does not accept
    st = await streamHead(`${A}/v1/auth/stream?key=${sk2.key}`);
    assert.equal(st.status, 401, st.text); // a secret key in a URL is refused
    assert.equal(st.json.code, 'invalid_key');
  });

  test('personal access tokens: shown once, scopes enforced, expiry, revoke (here at once, there within 5 s)', async () => {
    const u = await newUser(A, 'pat');
    const p = await newProject(A, u.access, 'Pat');
    let r = await api(A, 'GET', '/v1/auth/tokens', { token: u.access });
    assert.equal(r.text, '[]');
    r = await api(A, 'POST', '/v1/auth/tokens', { token: u.access, body: { name: 'x', scopes: ['project:delete'] } });
    assert.equal(r.status, 400, r.text);
    r = await api(A, 'POST', '/v1/auth/tokens', { token: u.access, body: { name: 'x', ttl_seconds: 0 } });
    assert.equal(r.status, 400, r.text);
    r = await api(A, 'POST', '/v1/auth/tokens', { token: u.access, body: { scopes: ['*'] } });
    assert.equal(r.status, 400, r.text);
    const ro = await newPat(A, u.access, { name: 'read only', scopes: ['project:read', 'members:read'] });
    assert.match(ro.token, /^bbp_[A-Za-z0-9_-]{43}$/);
    assert.ok(ro.token.startsWith(ro.prefix));
    assert.deepEqual(ro.scopes, ['project:read', 'members:read']);
    assert.equal(ro.last_used_at, null);
    const all = await newPat(A, u.access, { name: 'all' });
    assert.deepEqual(all.scopes, ['*']);
    r = await api(A, 'GET', '/v1/auth/tokens', { token: u.access });
    assert.equal(r.json.length, 2);
    assert.ok(r.json.every((t) => t.token === undefined));
    // scopes
    assert.equal((await api(A, 'GET', `/v1/projects/${p.id}`, { token: ro.token })).status, 200);
    assert.equal((await api(A, 'GET', `/v1/projects/${p.id}/members`, { token: ro.token })).status, 200);
    r = await api(A, 'PATCH', `/v1/projects/${p.id}`, { token: ro.token, body: { name: 'no' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'insufficient_scope');
    assert.equal((await api(A, 'GET', `/v1/projects/${p.id}/keys`, { token: ro.token })).status, 403);
    assert.equal((await api(A, 'PATCH', `/v1/projects/${p.id}`, { token: all.token, body: { name: 'yes' } })).status, 200);
    assert.equal((await api(A, 'GET', '/v1/auth/me', { token: all.token })).status, 200);
    // a token cannot manage tokens or sessions
    assert.equal((await api(A, 'GET', '/v1/auth/tokens', { token: all.token })).status, 403);
    assert.equal((await api(A, 'POST', '/v1/auth/logout', { token: all.token })).status, 403);
    // last_used_at is written within a poll interval of a use
    assert.ok(await until(async () => {
      const l = await api(A, 'GET', '/v1/auth/tokens', { token: u.access });
      return l.json.find((t) => t.id === ro.id).last_used_at !== null;
    }), 'last_used_at was not recorded');
    // the other process knows the token too
    assert.ok(await until(async () => (await api(B, 'GET', `/v1/projects/${p.id}`, { token: ro.token })).status === 200));
    // revoke: at once here, within 5 s there
    r = await api(A, 'DELETE', `/v1/auth/tokens/${ro.id}`, { token: u.access });
    assert.equal(r.status, 200, r.text);
    r = await api(A, 'GET', `/v1/projects/${p.id}`, { token: ro.token });
    assert.equal(r.status, 401);
    assert.equal(r.code, 'token_revoked');
    assert.ok(await until(async () => (await api(B, 'GET', `/v1/projects/${p.id}`, { token: ro.token })).status === 401));
    r = await api(A, 'DELETE', `/v1/auth/tokens/${ro.id}`, { token: u.access });
    assert.equal(r.status, 404, r.text);
    // another user cannot revoke my token
    const v = await newUser(A, 'pat2');
    assert.equal((await api(A, 'DELETE', `/v1/auth/tokens/${all.id}`, { token: v.access })).status, 404);
    // expiry
    const short = await newPat(A, u.access, { name: 'short', ttl_seconds: 1 });
    assert.equal((await api(A, 'GET', '/v1/auth/me', { token: short.token })).status, 200);
    await sleep(1100);
    r = await api(A, 'GET', '/v1/auth/me', { token: short.token });
    assert.equal(r.status, 401);
    assert.equal(r.code, 'token_expired');
    r = await api(A, 'GET', '/v1/auth/tokens', { token: u.access });
    assert.equal(r.json.find((t) => t.id === short.id).expired, true);
  });

  test('health shows the platform\'s key/token/member view and its age', async () => {
    const h = await api(A, 'GET', '/health');
    assert.equal(h.status, 200, h.text);
    const pl = h.json.services.platform;
    assert.equal(pl.status, 'ok', h.text);
    assert.ok(pl.cache_version >= 1, h.text);
    assert.ok(pl.cache_age_ms < 10000, h.text);
  });

  test('project config lists routes the platform really serves', async () => {
    const u = await newUser(A, 'cfg');
    const p = await newProject(A, u.access, 'Cfg');
    const r = await api(A, 'GET', `/v1/projects/${p.id}/config`, { key: p.pk });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.project_id, p.id);
    assert.equal(r.json.gateway_url, A);
    assert.ok(r.json.routes.length >= 10);
    assert.ok(r.json.routes.every((x) => typeof x.stream === 'boolean'));
    // every plain GET (no other parameter, not a stream) answers 200
    for (const rt of r.json.routes.filter((x) => x.method === 'GET' && !x.stream && !x.path.includes('{'))) {
      // project routes with the owner's session, key-only routes with the secret key
      const g = await api(A, 'GET', rt.path, rt.path.includes(p.id) ? { token: u.access } : { token: p.sk });
      assert.equal(g.status, 200, `${rt.path}: ${g.text}`);
    }
    // GET /v1/project: the key's own project and config
    let k = await api(A, 'GET', '/v1/project', { key: p.pk });
    assert.equal(k.status, 200, k.text);
    assert.equal(k.json.project.id, p.id);
    assert.equal(k.json.key, 'pk');
    assert.equal(k.json.config.project_id, p.id);
    k = await api(A, 'GET', '/api/project', { token: p.sk });
    assert.equal(k.json.key, 'sk');
    k = await api(A, 'GET', '/v1/project', { token: u.access });
    assert.equal(k.status, 403, k.text);
    k = await api(A, 'GET', '/v1/project');
    assert.equal(k.status, 401, k.text);
  });
});

describe('a small PostgreSQL pool', () => {
  let s, base;
  before(async () => {
    s = await startServer({ env: { ...FAST_ENV, BUNBASE_PG_POOL_SIZE: '2', BUNBASE_WORKERS: '6' } });
    base = s.url;
  });
  after(async () => { if (s) await s.stop(); });

  test('handlers never hold one connection while waiting for another (concurrent changes and member lists)', { timeout: 120000 }, async () => {
    const o = await newUser(base, 'pool');
    const m = await newUser(base, 'poolm');
    const p = await newProject(base, o.access, 'Pool');
    await addMember(base, o.access, p.id, m.email, 'member');
    const lists = [];
    for (let i = 0; i < 12; i++) lists.push(api(base, 'GET', `/v1/projects/${p.id}/members`, { token: o.access }));
    const regen = [];
    const projects = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => newProject(base, o.access, `P${i}`)));
    for (const q of projects) regen.push(api(base, 'POST', `/v1/projects/${q.id}/keys/${q.skId}/regenerate`, { token: o.access }));
    for (const r of await Promise.all(lists)) {
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.map((x) => x.email), [o.email, m.email]); // bun-auth answered too
    }
    const fresh = await Promise.all(regen);
    for (let i = 0; i < projects.length; i++) {
      assert.equal(fresh[i].status, 201, fresh[i].text);
      // seen at once by this process: the reload did not wait for a connection
      assert.equal((await api(base, 'GET', `/v1/projects/${projects[i].id}`, { token: fresh[i].json.key })).status, 200);
      assert.equal((await api(base, 'GET', `/v1/projects/${projects[i].id}`, { token: projects[i].sk })).status, 401);
    }
  });
});
