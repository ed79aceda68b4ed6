// Deployment modes: self-hosted setup (exactly one first admin under 20 concurrent calls, then
// sign-up closed, only admins create projects) and the cloud limits ("at or over" → 403).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { makeTempDir, runBunbased, startServer } from './harness.mjs';
import { FAST_ENV, PASSWORD, api, newPat, newProject, newUser } from './platform_lib.mjs';

function sql(dataDir, q) {
  const conn = `host=${path.join(dataDir, 'postgres', 'run')} dbname=bunbase user=postgres`;
  return execFileSync('psql', [conn, '-Atc', q], { encoding: 'utf8' }).trim();
}

describe('self-hosted setup', () => {
  let s, base;
  before(async () => { s = await startServer({ env: { ...FAST_ENV, BUNBASE_PLATFORM_MODE: 'self_hosted' } }); base = s.url; });
  after(async () => { if (s) await s.stop(); });

  test('20 concurrent setups create exactly one admin; then setup and sign-up are closed', { timeout: 60000 }, async () => {
    let st = await api(base, 'GET', '/v1/instance/status');
    assert.equal(st.json.deployment_mode, 'self_hosted');
    assert.equal(st.json.setup_complete, false);
    // an account made before setup (sign-up is open until then)
    const early = await newUser(base, 'early');
    let r = await api(base, 'POST', '/v1/setup', { body: { email: 'x@example.com' } });
    assert.equal(r.status, 400, r.text);
    const calls = [];
    for (let i = 0; i < 20; i++)
      calls.push(api(base, 'POST', '/v1/setup', { body: { email: `admin${i}@example.com`, password: PASSWORD, name: `admin ${i}` } }));
    const res = await Promise.all(calls);
    const won = res.filter((x) => x.status === 201);
    assert.equal(won.length, 1, res.map((x) => `${x.status} ${x.text}`).join('\n'));
    for (const x of res.filter((y) => y.status !== 201)) assert.ok([403, 409].includes(x.status), x.text);
    assert.equal(sql(s.dataDir, 'SELECT count(*) FROM platform_instance_admins'), '1');
    assert.equal(sql(s.dataDir, 'SELECT count(*) FROM platform_setup'), '1');
    const admin = won[0].json;
    assert.equal(admin.is_instance_admin, true);
    assert.ok(admin.access_token);

    st = await api(base, 'GET', '/v1/instance/status');
    assert.equal(st.json.setup_complete, true);
    r = await api(base, 'POST', '/v1/setup', { body: { email: 'late@example.com', password: PASSWORD, name: 'late' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'setup_complete');
    r = await api(base, 'POST', '/v1/auth/register', { body: { email: 'late@example.com', password: PASSWORD, name: 'late' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'signup_disabled');

    r = await api(base, 'GET', '/v1/auth/me', { token: admin.access_token });
    assert.equal(r.json.is_instance_admin, true);
    r = await api(base, 'GET', '/v1/auth/me', { token: early.access });
    assert.equal(r.json.is_instance_admin, false);
    // only instance admins create projects
    r = await api(base, 'POST', '/v1/projects', { token: early.access, body: { name: 'nope' } });
    assert.equal(r.status, 403, r.text);
    r = await api(base, 'POST', '/v1/projects', { token: admin.access_token, body: { name: 'yes' } });
    assert.equal(r.status, 201, r.text);
  });
});

describe('cloud mode', () => {
  let s, base;
  before(async () => {
    s = await startServer({ env: { ...FAST_ENV, BUNBASE_PLATFORM_MAX_PROJECTS_PER_USER: '2', BUNBASE_PLATFORM_MAX_TOKENS_PER_USER: '2' } });
    base = s.url;
  });
  after(async () => { if (s) await s.stop(); });

  test('setup is not available; status says cloud and complete', async () => {
    const st = await api(base, 'GET', '/api/instance/status');
    assert.equal(st.json.deployment_mode, 'cloud');
    assert.equal(st.json.setup_complete, true);
    const r = await api(base, 'POST', '/v1/setup', { body: { email: 'a@example.com', password: PASSWORD, name: 'a' } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.code, 'setup_unavailable');
  });

  test('projects per user and tokens per user: at the limit → 403', async () => {
    const u = await newUser(base, 'limits');
    const p1 = await newProject(base, u.access, 'one');
    await newProject(base, u.access, 'two');
    let r = await api(base, 'POST', '/v1/projects', { token: u.access, body: { name: 'three' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'limit_reached');
    assert.match(r.json.error, /max 2 per user/);
    r = await api(base, 'DELETE', `/v1/projects/${p1.id}`, { token: u.access });
    assert.equal(r.status, 200, r.text);
    r = await api(base, 'POST', '/v1/projects', { token: u.access, body: { name: 'three' } });
    assert.equal(r.status, 201, r.text);

    const t1 = await newPat(base, u.access, { name: 't1' });
    await newPat(base, u.access, { name: 't2' });
    r = await api(base, 'POST', '/v1/auth/tokens', { token: u.access, body: { name: 't3' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'limit_reached');
    r = await api(base, 'DELETE', `/v1/auth/tokens/${t1.id}`, { token: u.access });
    assert.equal(r.status, 200, r.text);
    r = await api(base, 'POST', '/v1/auth/tokens', { token: u.access, body: { name: 't3' } });
    assert.equal(r.status, 201, r.text);
  });
});

describe('platform knobs', () => {
  test('a bad BUNBASE_PLATFORM_* value stops the start with a message naming it', { timeout: 90000 }, async () => {
    for (const [k, v, re] of [['BUNBASE_PLATFORM_MODE', 'bogus', /BUNBASE_PLATFORM_MODE must be cloud or self_hosted/],
      ['BUNBASE_PLATFORM_SYNC_MS', '5', /BUNBASE_PLATFORM_SYNC_MS must be an integer in \[50, 5000\]/]]) {
      const r = await runBunbased(['serve', '--listen', '127.0.0.1:0', '--data', makeTempDir()], { env: { [k]: v } });
      assert.equal(r.code, 2, r.stderr); // a configuration error
      assert.match(r.stderr, re);
    }
  });
});
