// Developer accounts over HTTP: register, login (cookie), refresh, logout, logout-all, me,
// sessions, the auth stream, CSRF on cookie sessions, body validation, rate limits.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './harness.mjs';
import { FAST_ENV, PASSWORD, api, loginUser, newPat, newUser, streamHead, streamUntilEnd } from './platform_lib.mjs';

describe('developer accounts', () => {
  let s, base;
  before(async () => { s = await startServer({ env: FAST_ENV }); base = s.url; });
  after(async () => { if (s) await s.stop(); });

  test('register: 201 user, duplicate (any case) 409, bad bodies 400/413, /api alias', async () => {
    let r = await api(base, 'POST', '/v1/auth/register', { body: { email: 'Dev@Example.com', password: PASSWORD, name: 'Dev' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.email, 'dev@example.com');
    assert.equal(r.json.name, 'Dev');
    assert.ok(r.json.id);
    assert.equal(r.json.password, undefined);
    r = await api(base, 'POST', '/api/auth/register', { body: { email: 'DEV@example.com ', password: PASSWORD, name: 'x' } });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.code, 'email_taken');
    for (const body of ['', 'not json', '[1,2]', '{"email":"a@b.c"}', '{"email":1,"password":"x","name":"y"}',
      '{"email":"a@b.c","password":"short","name":"y"}', '{"email":"nope","password":"long enough pw","name":"y"}']) {
      r = await api(base, 'POST', '/v1/auth/register', { body });
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.ok(r.json.error && r.json.code, r.text);
    }
    r = await api(base, 'POST', '/v1/auth/register', { body: { email: 'big@example.com', password: PASSWORD, name: 'x'.repeat(20000) } });
    assert.equal(r.status, 413, r.text);
  });

  test('login: tokens + HttpOnly SameSite=Lax cookie (not Secure by default); wrong password 401', async () => {
    const u = await newUser(base, 'login');
    assert.match(u.setCookie, /^session_token=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    assert.ok(!/Secure/.test(u.setCookie));
    const r = await api(base, 'POST', '/v1/auth/login', { body: { email: u.email, password: PASSWORD } });
    assert.equal(r.status, 200);
    for (const k of ['access_token', 'refresh_token', 'expires_at']) assert.ok(r.json[k], k);
    assert.equal(r.json.user.email, u.email);
    let bad = await api(base, 'POST', '/v1/auth/login', { body: { email: u.email, password: 'wrong-password-1' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.code, 'invalid_credentials');
    bad = await api(base, 'POST', '/v1/auth/login', { body: { email: 'nobody@example.com', password: PASSWORD } });
    assert.equal(bad.status, 401);
    assert.equal(bad.code, 'invalid_credentials');
  });

  test('me with bearer and with cookie; CSRF: a cookie POST from another origin is 403', async () => {
    const u = await newUser(base, 'me');
    let r = await api(base, 'GET', '/v1/auth/me', { token: u.access });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, u.id);
    assert.equal(r.json.is_instance_admin, undefined); // cloud mode: omitted
    r = await api(base, 'GET', '/v1/auth/me', { cookie: u.cookie });
    assert.equal(r.status, 200, r.text);
    r = await api(base, 'POST', '/v1/projects', { cookie: u.cookie, body: { name: 'x' }, headers: { Origin: 'https://evil.example' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'csrf');
    r = await api(base, 'POST', '/v1/projects', { cookie: u.cookie, body: { name: 'x' }, headers: { 'Sec-Fetch-Site': 'cross-site' } });
    assert.equal(r.status, 403, r.text);
    const host = new URL(base).host;
    r = await api(base, 'POST', '/v1/projects', { cookie: u.cookie, body: { name: 'same origin' }, headers: { Origin: `http://${host}` } });
    assert.equal(r.status, 201, r.text);
    r = await api(base, 'GET', '/v1/auth/me');
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'authentication required'); // not "internal token" on a public API
  });

  test('refresh rotates; reusing a refresh token is refused', async () => {
    const u = await newUser(base, 'refresh');
    let r = await api(base, 'POST', '/v1/auth/refresh', { body: { refresh_token: u.refresh } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.access_token && r.json.refresh_token);
    assert.notEqual(r.json.refresh_token, u.refresh);
    assert.equal(r.headers['set-cookie'], undefined, 'a refresh must not overwrite the session cookie');
    assert.equal((await api(base, 'GET', '/v1/auth/me', { cookie: u.cookie })).status, 200);
    r = await api(base, 'POST', '/v1/auth/refresh', { body: { refresh_token: u.refresh } });
    assert.equal(r.status, 401, r.text);
    r = await api(base, 'POST', '/v1/auth/refresh', { body: {} });
    assert.equal(r.status, 400, r.text);
  });

  test('sessions: list marks the current one, revoke one, logout, logout-all', async () => {
    const u = await newUser(base, 'sess');
    const second = await loginUser(base, u.email);
    let r = await api(base, 'GET', '/v1/auth/sessions', { token: u.access });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json) && r.json.length === 2);
    assert.equal(r.json.filter((x) => x.current).length, 1);
    assert.equal(r.json.find((x) => x.current).id, u.session_id);
    r = await api(base, 'DELETE', '/v1/auth/sessions/01NOSUCHSESSION00000000000', { token: u.access });
    assert.equal(r.status, 404, r.text);
    r = await api(base, 'DELETE', `/v1/auth/sessions/${second.session_id}`, { token: u.access });
    assert.equal(r.status, 200, r.text);
    r = await api(base, 'GET', '/v1/auth/me', { token: second.access });
    assert.equal(r.status, 401, r.text);
    // logout ends this session and expires the cookie
    r = await api(base, 'POST', '/v1/auth/logout', { token: u.access });
    assert.equal(r.status, 200, r.text);
    assert.match([].concat(r.headers['set-cookie'])[0], /session_token=; .*Max-Age=0/);
    r = await api(base, 'GET', '/v1/auth/me', { token: u.access });
    assert.equal(r.status, 401);
    // logout-all ends every session of the user
    const a = await loginUser(base, u.email);
    const b = await loginUser(base, u.email);
    r = await api(base, 'POST', '/v1/auth/logout-all', { token: a.access });
    assert.equal(r.status, 200, r.text);
    for (const t of [a.access, b.access]) assert.equal((await api(base, 'GET', '/v1/auth/me', { token: t })).status, 401);
    assert.equal((await api(base, 'GET', '/v1/auth/me', { cookie: b.cookie })).status, 401);
  });

  test('auth stream: an "auth" event at once', async () => {
    const u = await newUser(base, 'stream');
    const r = await streamHead(`${base}/v1/auth/stream`, { Authorization: `Bearer ${u.access}` });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /text\/event-stream/);
    assert.match(r.text, /event: auth\ndata: \{"status":"ok","userId":"[^"]+"/);
    assert.ok(r.text.includes(u.id));
    const anon = await streamHead(`${base}/v1/auth/stream`);
    assert.equal(anon.status, 401);
  });

  test('auth stream ends with status "revoked" when its session is logged out or its PAT revoked', async () => {
    const u = await newUser(base, 'streamend');
    let p = streamUntilEnd(`${base}/v1/auth/stream`, { Authorization: `Bearer ${u.access}` });
    await streamUntilEnd.lastOpened;
    let r = await api(base, 'POST', '/v1/auth/logout', { token: u.access });
    assert.equal(r.status, 200);
    let s = await p;
    assert.equal(s.status, 200);
    assert.ok(s.ended, `stream did not end: ${s.text}`);
    assert.match(s.text, /event: auth\ndata: \{"status":"revoked"\}/);
    const again = await loginUser(base, u.email);
    const pat = await newPat(base, again.access, { name: 'stream' });
    p = streamUntilEnd(`${base}/v1/auth/stream`, { Authorization: `Bearer ${pat.token}` });
    await streamUntilEnd.lastOpened;
    r = await api(base, 'DELETE', `/v1/auth/tokens/${pat.id}`, { token: again.access });
    assert.equal(r.status, 200);
    s = await p;
    assert.ok(s.ended, `stream did not end: ${s.text}`);
    assert.match(s.text, /"status":"revoked"/);
  });

  test('bun-auth and platform agree on unknown bearer shapes (401 with a code, never 500)', async () => {
    for (const t of ['bbp_nope', 'sk_nope', 'pk_nope', 'a.b.c', 'garbage']) {
      const r = await api(base, 'GET', '/v1/auth/me', { token: t });
      assert.equal(r.status, 401, `${t}: ${r.text}`);
      assert.ok(r.code, r.text);
    }
  });
});

describe('rate limits and cookie knobs', () => {
  let s, base;
  before(async () => {
    s = await startServer({ env: { ...FAST_ENV, BUNBASE_PLATFORM_RATE_LIMIT: '1', BUNBASE_PLATFORM_RATE_IP_BURST: '6', BUNBASE_PLATFORM_RATE_IP_PER_MIN: '1', BUNBASE_PLATFORM_RATE_ACCOUNT_BURST: '2', BUNBASE_PLATFORM_RATE_ACCOUNT_PER_MIN: '1', BUNBASE_PLATFORM_COOKIE_SECURE: '1' } });
    base = s.url;
  });
  after(async () => { if (s) await s.stop(); });

  test('per account, then per IP: 429 with Retry-After; Secure cookie when configured', async () => {
    let r = await api(base, 'POST', '/v1/auth/register', { body: { email: 'rl@example.com', password: PASSWORD, name: 'rl' } });
    assert.equal(r.status, 201, r.text); // ip 1
    r = await api(base, 'POST', '/v1/auth/login', { body: { email: 'rl@example.com', password: PASSWORD } });
    assert.equal(r.status, 200, r.text); // login ip 1, account 1
    assert.match([].concat(r.headers['set-cookie'])[0], /; Secure$/);
    r = await api(base, 'POST', '/v1/auth/login', { body: { email: 'RL@example.com', password: 'wrong-password' } });
    assert.equal(r.status, 401, r.text); // account 2 (same account, other case)
    r = await api(base, 'POST', '/v1/auth/login', { body: { email: 'rl@example.com', password: PASSWORD } });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.code, 'rate_limited');
    const ra = Number(r.headers['retry-after']);
    assert.ok(ra >= 1 && ra <= 60, `Retry-After ${r.headers['retry-after']}`);
    // another account from the same IP is still allowed until the IP bucket is empty
    let got429 = false;
    for (let i = 0; i < 6 && !got429; i++) {
      r = await api(base, 'POST', '/v1/auth/login', { body: { email: `other${i}@example.com`, password: PASSWORD } });
      if (r.status === 429) got429 = true;
      else assert.equal(r.status, 401, r.text);
    }
    assert.ok(got429, 'the per-IP limit never answered 429');
    assert.ok(Number(r.headers['retry-after']) >= 1);
  });
});
