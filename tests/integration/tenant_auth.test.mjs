// tenant-auth: a project's own end users over the gateway — config, register → login → me →
// refresh → logout, refresh reuse, disabled users, tokens of one project refused by another, the
// bundoc rule request.auth.uid, key rotation with a grace window, the admin routes under the
// matrix, bad input, and credentials checked before a body is read.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';

import { startServer } from './harness.mjs';
import { addMember, api, newProject, newUser } from './platform_lib.mjs';
import { TA_FAST_ENV } from './tenant_auth_lib.mjs';

const b64url = (s) => Buffer.from(s).toString('base64url');
const decode = (tok) => JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString());
const header = (tok) => JSON.parse(Buffer.from(tok.split('.')[0], 'base64url').toString());

let srv, G, dev, p, q;
const enableEmail = (proj, extra = {}) => api(G, 'PUT', `/v1/projects/${proj.id}/auth/config`, {
  key: proj.sk, body: { providers: { email_password: { enabled: true } }, ...extra } });
const signup = (proj, email, password = 'long-enough-pw') =>
  api(G, 'POST', '/v1/auth/project/register', { key: proj.pk, body: { email, password } });
const login = (proj, email, password = 'long-enough-pw') =>
  api(G, 'POST', '/v1/auth/project/login', { key: proj.pk, body: { email, password } });

before(async () => {
  srv = await startServer({ env: TA_FAST_ENV });
  G = srv.url;
  dev = await newUser(G, 'ta-dev');
  p = await newProject(G, dev.access, 'App P');
  q = await newProject(G, dev.access, 'App Q');
});
after(async () => { if (srv) await srv.stop(); });

describe('tenant-auth', () => {
  test('sign-up is refused until the project enables email/password; the config is validated and keeps no secret', async () => {
    let r = await signup(p, 'early@example.com');
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'provider_disabled');
    // bad configs
    for (const body of [
      { providers: { email_password: { enabled: 'yes' } } },
      { password_policy: { min_length: 0 } },
      { tokens: { access_ttl_s: 5 } },
      { redirect_urls: ['javascript:alert(1)'] },
      { nonsense: 1 },
      { providers: { github: { enabled: true, client_id: 'x', authorize_url: 'ftp://x' } } },
    ]) {
      r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { key: p.sk, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.code, 'invalid_config');
    }
    r = await enableEmail(p, {
      password_policy: { min_length: 10, require_digit: true },
      redirect_urls: ['https://app.example.com/done'],
      providers: { email_password: { enabled: true }, github: { enabled: true, client_id: 'gh-id', client_secret: 'gh-very-secret-value' } },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.providers.email_password.enabled, true);
    assert.equal(r.json.providers.github.client_secret_set, true);
    assert.ok(!r.text.includes('gh-very-secret-value'), r.text);
    // a PUT without the secret keeps it; GET never shows it
    r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { key: p.sk, body: { providers: { email_password: { enabled: true }, github: { enabled: true, client_id: 'gh-id2' } } } });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/config`, { token: dev.access });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.providers.github.client_secret_set, true);
    assert.equal(r.json.providers.github.client_id, 'gh-id2');
    assert.ok(!r.text.includes('gh-very-secret-value') && !r.text.includes('client_secret_ref'), r.text);
    // nor do the project's documents
    r = await api(G, 'POST', '/v1/database/documents/query', { key: p.sk, body: { collection: '_auth_config' } });
    assert.equal(r.status, 404, r.text);
    // weak passwords are refused by the policy
    r = await signup(p, 'weak@example.com', 'short1');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.code, 'weak_password');
    r = await signup(p, 'weak@example.com', 'no-digits-here');
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /digit/);
  });

  test('register → login → me → refresh → logout', async () => {
    let r = await signup(p, 'Alice@Example.com', 'alice-password-1');
    assert.equal(r.status, 201, r.text);
    const uid = r.json.user.id;
    assert.equal(r.json.user.email, 'alice@example.com');
    assert.ok(r.json.access_token && r.json.refresh_token);
    r = await signup(p, 'alice@example.com', 'alice-password-1');
    assert.equal(r.status, 409, r.text);
    r = await login(p, 'alice@example.com', 'wrong-password-1');
    assert.equal(r.status, 401, r.text);
    assert.equal(r.code, 'invalid_credentials');
    r = await login(p, 'nobody@example.com', 'wrong-password-1');
    assert.equal(r.status, 401, r.text);
    r = await login(p, 'alice@example.com', 'alice-password-1');
    assert.equal(r.status, 200, r.text);
    const t = r.json;
    assert.match([].concat(r.headers['set-cookie'])[0], /^tenant_session_token=.*HttpOnly/);
    // the token: EdDSA, aud = project, iss = gateway URL + project, kid from bun-kms
    const h = header(t.access_token), c = decode(t.access_token);
    assert.equal(h.alg, 'EdDSA');
    assert.ok(h.kid);
    assert.equal(c.aud, p.id);
    assert.equal(c.sub, uid);
    assert.equal(c.iss, `${G}/v1/projects/${p.id}/auth`);
    for (const k of ['iat', 'exp', 'jti', 'sid']) assert.ok(c[k], k);
    // verified by anyone with the public JWKS
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/jwks.json`);
    assert.equal(r.status, 200, r.text);
    const jwk = r.json.keys.find((k) => k.kid === h.kid);
    assert.ok(jwk, r.text);
    const [hb, pb, sb] = t.access_token.split('.');
    assert.ok(crypto.verify(null, Buffer.from(`${hb}.${pb}`), crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(sb, 'base64url')));
    r = await api(G, 'GET', '/v1/auth/project/jwks.json', { key: p.pk });
    assert.equal(r.status, 200, r.text);
    // me: with the token, with the token + the project's pk_, with the cookie; not with the pk_ alone
    r = await api(G, 'GET', '/v1/auth/project/me', { token: t.access_token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, uid);
    assert.equal(r.json.password_hash, undefined);
    r = await api(G, 'GET', '/v1/auth/project/me', { token: t.access_token, key: p.pk });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'GET', '/v1/auth/project/me', { cookie: `tenant_session_token=${t.access_token}` });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'GET', '/v1/auth/project/me', { key: p.pk });
    assert.equal(r.status, 401, r.text);
    r = await api(G, 'GET', '/v1/auth/project/verify', { token: t.access_token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.uid, uid);
    // refresh rotates: a new pair, the old refresh token is spent
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t.refresh_token } });
    assert.equal(r.status, 200, r.text);
    const t2 = r.json;
    assert.notEqual(t2.refresh_token, t.refresh_token);
    r = await api(G, 'GET', '/v1/auth/project/me', { token: t2.access_token });
    assert.equal(r.status, 200, r.text);
    // logout revokes the session: its access tokens and its refresh token stop at once
    r = await api(G, 'POST', '/v1/auth/project/logout', { token: t2.access_token });
    assert.equal(r.status, 204, r.text);
    r = await api(G, 'GET', '/v1/auth/project/me', { token: t2.access_token });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.code, 'session_revoked');
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t2.refresh_token } });
    assert.equal(r.status, 401, r.text);
    // change password: the old one stops working
    r = await login(p, 'alice@example.com', 'alice-password-1');
    const t3 = r.json;
    r = await api(G, 'POST', '/v1/auth/project/password', { token: t3.access_token, body: { current_password: 'nope-nope-1', new_password: 'alice-password-2' } });
    assert.equal(r.status, 401, r.text);
    r = await api(G, 'POST', '/v1/auth/project/password', { token: t3.access_token, body: { current_password: 'alice-password-1', new_password: 'alice-password-2' } });
    assert.equal(r.status, 204, r.text);
    assert.equal((await login(p, 'alice@example.com', 'alice-password-1')).status, 401);
    assert.equal((await login(p, 'alice@example.com', 'alice-password-2')).status, 200);
  });

  test('a refresh token used twice revokes its whole family', async () => {
    let r = await signup(p, 'bob@example.com', 'bob-password-1');
    const t1 = r.json;
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t1.refresh_token } });
    assert.equal(r.status, 200, r.text);
    const t2 = r.json;
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t1.refresh_token } });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.code, 'refresh_token_reused');
    // the legitimate newest token is dead too, and so are the session's access tokens
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t2.refresh_token } });
    assert.equal(r.status, 401, r.text);
    r = await api(G, 'GET', '/v1/auth/project/me', { token: t2.access_token });
    assert.equal(r.status, 401, r.text);
    // the same refresh token sent five times at once: one wins, the others are reuses, and the
    // reuse revokes the family — the winner's new token too
    const t3 = (await login(p, 'bob@example.com', 'bob-password-1')).json;
    const all = await Promise.all(Array.from({ length: 5 }, () =>
      api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t3.refresh_token } })));
    const won = all.filter((x) => x.status === 200);
    assert.equal(won.length, 1, all.map((x) => x.status).join(','));
    assert.ok(all.filter((x) => x.status === 401).every((x) => x.code === 'refresh_token_reused' || x.code === 'invalid_refresh_token'));
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: won[0].json.refresh_token } });
    assert.equal(r.status, 401, r.text);
    // garbage refresh tokens
    for (const rt of ['', 'x', 'a.b', `${'A'.repeat(100)}.x`, 42]) {
      r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: rt } });
      assert.ok([400, 401].includes(r.status), `${rt}: ${r.text}`);
    }
  });

  test('a disabled user cannot sign in and its tokens stop; enabled again, it can', async () => {
    let r = await signup(p, 'carol@example.com', 'carol-password-1');
    const t = r.json, uid = t.user.id;
    r = await api(G, 'POST', `/v1/projects/${p.id}/auth/users/${uid}/disable`, { key: p.sk });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.disabled, true);
    r = await api(G, 'GET', '/v1/auth/project/me', { token: t.access_token });
    assert.equal(r.status, 401, r.text);
    r = await login(p, 'carol@example.com', 'carol-password-1');
    assert.equal(r.status, 403, r.text);
    assert.equal(r.code, 'user_disabled');
    r = await api(G, 'POST', '/v1/auth/project/refresh', { key: p.pk, body: { refresh_token: t.refresh_token } });
    assert.equal(r.status, 401, r.text);
    r = await api(G, 'POST', `/v1/projects/${p.id}/auth/users/${uid}/enable`, { token: dev.access });
    assert.equal(r.status, 200, r.text);
    r = await login(p, 'carol@example.com', 'carol-password-1');
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'GET', '/v1/auth/project/me', { token: r.json.access_token });
    assert.equal(r.status, 200, r.text);
  });

  test('a bundoc rule on request.auth.uid: each user reads only their own documents; pk_ alone is denied; project B refuses A\'s token', async () => {
    let r = await api(G, 'POST', '/v1/database/collections', { key: p.sk, body: { name: 'notes', rules: {
      read: 'request.auth != null && resource.data.owner == request.auth.uid',
      list: 'request.auth != null && resource.data.owner == request.auth.uid',
      write: 'request.auth != null && resource.data.owner == request.auth.uid',
    } } });
    assert.equal(r.status, 201, r.text);
    const a = (await signup(p, 'dave@example.com', 'dave-password-1')).json;
    const b = (await signup(p, 'erin@example.com', 'erin-password-1')).json;
    r = await api(G, 'POST', '/v1/database/documents/notes', { token: a.access_token, body: { _id: 'na', owner: a.user.id, text: 'dave' } });
    assert.equal(r.status, 201, r.text);
    r = await api(G, 'POST', '/v1/database/documents/notes', { token: b.access_token, body: { _id: 'nb', owner: b.user.id, text: 'erin' } });
    assert.equal(r.status, 201, r.text);
    // writing a document owned by someone else is refused
    r = await api(G, 'POST', '/v1/database/documents/notes', { token: b.access_token, body: { _id: 'nx', owner: a.user.id } });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', '/v1/database/documents/notes/na', { token: a.access_token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.text, 'dave');
    r = await api(G, 'GET', '/v1/database/documents/notes/nb', { token: a.access_token });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', '/v1/database/documents/notes/na', { token: b.access_token, key: p.pk });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'POST', '/v1/database/documents/query', { token: b.access_token, body: { collection: 'notes', filter: { owner: b.user.id } } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.documents.map((d) => d._id), ['nb']);
    r = await api(G, 'GET', '/v1/database/documents/notes/na', { key: p.pk });
    assert.equal(r.status, 403, r.text);
    // end users are not admins: no collection management, no KV, no admin routes
    r = await api(G, 'POST', '/v1/database/collections', { token: a.access_token, body: { name: 'mine' } });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', '/v1/kv/x', { token: a.access_token });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users`, { token: a.access_token });
    assert.ok([401, 403].includes(r.status), r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/database/documents/notes/na`, { token: a.access_token });
    assert.ok([401, 403].includes(r.status), r.text);
    // project Q: A's token with Q's key, and on Q's routes
    r = await api(G, 'GET', '/v1/database/documents/notes/na', { token: a.access_token, key: q.pk });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.code, 'key_wrong_project');
    r = await api(G, 'GET', '/v1/auth/project/me', { token: a.access_token, key: q.pk });
    assert.equal(r.status, 401, r.text);
    r = await api(G, 'GET', `/v1/projects/${q.id}/auth/users`, { token: a.access_token });
    assert.ok([401, 403].includes(r.status), r.text);
  });

  test('forged tokens: alg none, HS256 with the public key, another key, wrong audience; all 401', async () => {
    const a = (await login(p, 'dave@example.com', 'dave-password-1')).json;
    const h = header(a.access_token), c = decode(a.access_token);
    const jwks = (await api(G, 'GET', `/v1/projects/${p.id}/auth/jwks.json`)).json;
    const x = Buffer.from(jwks.keys[0].x, 'base64url');
    const enc = (o) => b64url(JSON.stringify(o));
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const sign = (hh, cc) => { const i = `${enc(hh)}.${enc(cc)}`; return `${i}.${b64url(crypto.sign(null, Buffer.from(i), privateKey))}`; };
    const hs = (hh, cc) => { const i = `${enc(hh)}.${enc(cc)}`; return `${i}.${b64url(crypto.createHmac('sha256', x).update(i).digest())}`; };
    const cases = [
      [`${enc({ alg: 'none', typ: 'JWT', kid: h.kid })}.${enc(c)}.`, 'none'],
      [hs({ alg: 'HS256', typ: 'JWT', kid: h.kid }, c), 'HS256'],
      [sign(h, c), 'stranger key under our kid'],
      [sign({ ...h, kid: 'nope' }, c), 'unknown kid'],
      [sign(h, { ...c, exp: Math.floor(Date.now() / 1000) - 3600 }), 'expired (and forged)'],
      [a.access_token.slice(0, -4) + 'AAAA', 'tampered signature'],
    ];
    for (const [tok, what] of cases) {
      const r = await api(G, 'GET', '/v1/auth/project/me', { token: tok });
      assert.equal(r.status, 401, `${what}: ${r.text}`);
    }
    // a real token whose aud was changed (signature breaks) and one for another issuer are not ours
    const r = await api(G, 'GET', '/v1/auth/project/me', { token: sign(h, { ...c, iss: 'https://elsewhere.example.com' }) });
    assert.equal(r.status, 401, r.text);
  });

  test('key rotation: a new kid signs, the old one verifies through the grace window', async () => {
    const before_ = (await login(p, 'dave@example.com', 'dave-password-1')).json;
    const oldKid = header(before_.access_token).kid;
    let r = await api(G, 'POST', `/v1/projects/${p.id}/auth/keys/rotate`, { key: p.sk });
    assert.equal(r.status, 200, r.text);
    assert.notEqual(r.json.kid, oldKid);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/jwks.json`);
    assert.deepEqual(r.json.keys.map((k) => k.kid).slice(0, 2), [r.json.keys[0].kid, oldKid]);
    const after_ = (await login(p, 'dave@example.com', 'dave-password-1')).json;
    assert.notEqual(header(after_.access_token).kid, oldKid);
    for (const t of [before_, after_]) {
      r = await api(G, 'GET', '/v1/auth/project/me', { token: t.access_token });
      assert.equal(r.status, 200, r.text);
    }
    // viewers cannot rotate; pk_ cannot administer
    r = await api(G, 'POST', `/v1/projects/${p.id}/auth/keys/rotate`, { key: p.pk });
    assert.equal(r.status, 403, r.text);
  });

  test('admin routes: list with pagination, create, get, delete; the matrix decides who', async () => {
    // a project nobody has signed up to yet lists no users (not 503)
    const fresh = await newProject(G, dev.access, 'App Empty');
    let r = await api(G, 'GET', `/v1/projects/${fresh.id}/auth/users`, { key: fresh.sk });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { users: [], cursor: null });
    r = await api(G, 'POST', `/v1/projects/${p.id}/auth/users`, { key: p.sk, body: { email: 'made@example.com', password: 'made-password-1' } });
    assert.equal(r.status, 201, r.text);
    const made = r.json.id;
    const seen = [];
    let cursor = null;
    for (let i = 0; i < 20; i++) {
      r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: dev.access });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.users.length <= 2);
      for (const u of r.json.users) { seen.push(u.email); assert.equal(u.password_hash, undefined); }
      cursor = r.json.cursor;
      if (!cursor) break;
    }
    for (const e of ['alice@example.com', 'bob@example.com', 'made@example.com']) assert.ok(seen.includes(e), `${e} in ${seen}`);
    assert.equal(new Set(seen).size, seen.length, 'no user twice');
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users?limit=0`, { key: p.sk });
    assert.equal(r.status, 400, r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users/${made}`, { key: p.sk });
    assert.equal(r.status, 200, r.text);
    assert.equal((await login(p, 'made@example.com', 'made-password-1')).status, 200);
    // a viewer reads but does not write; another project's sk_ does nothing here
    const viewer = await newUser(G, 'ta-viewer');
    await addMember(G, dev.access, p.id, viewer.email, 'viewer');
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users`, { token: viewer.access });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'DELETE', `/v1/projects/${p.id}/auth/users/${made}`, { token: viewer.access });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { token: viewer.access, body: {} });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users`, { key: q.sk });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users`, { key: p.pk });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'DELETE', `/v1/projects/${p.id}/auth/users/${made}`, { key: p.sk });
    assert.equal(r.status, 204, r.text);
    r = await api(G, 'GET', `/v1/projects/${p.id}/auth/users/${made}`, { key: p.sk });
    assert.equal(r.status, 404, r.text);
    assert.equal((await login(p, 'made@example.com', 'made-password-1')).status, 401);
  });

  test('anonymous sign-in only when enabled', async () => {
    let r = await api(G, 'POST', '/v1/auth/project/anonymous', { key: p.pk });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { key: p.sk, body: { providers: { email_password: { enabled: true }, anonymous: { enabled: true } } } });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'POST', '/v1/auth/project/anonymous', { key: p.pk });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.user.anonymous, true);
    assert.equal(decode(r.json.access_token).anonymous, true);
  });

  test('bad input: 400 with a message; no credential: 401 before a large body is read', async () => {
    for (const [body, code] of [
      ['{not json', 'invalid_body'], ['[]', 'invalid_body'], [{}, 'invalid_body'],
      [{ email: 'x', password: 'long-enough-pw1' }, 'invalid_email'], [{ email: 5, password: 'x' }, 'invalid_body'],
    ]) {
      const r = await api(G, 'POST', '/v1/auth/project/register', { key: p.pk, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.code, code);
      assert.ok(r.json.error, r.text);
    }
    // no key, a 5 MB body: refused from the headers alone (the connection may close before we finish)
    const u = new URL(G);
    const status = await new Promise((resolve, reject) => {
      const s = net.connect(Number(u.port), u.hostname, () => {
        s.write(`POST /v1/auth/project/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${5 << 20}\r\n\r\n`);
        s.write(Buffer.alloc(65536, 0x20));
      });
      let buf = '';
      s.on('data', (d) => { buf += d; const m = /^HTTP\/1\.1 (\d+)/.exec(buf); if (m) { s.destroy(); resolve(Number(m[1])); } });
      s.on('error', (e) => { if (!buf) reject(e); });
      setTimeout(() => { s.destroy(); reject(new Error(`no answer: ${buf}`)); }, 5000);
    });
    assert.equal(status, 401);
    // with a key, the body limit applies
    const r = await api(G, 'POST', '/v1/auth/project/login', { key: p.pk, body: JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(40000) }) });
    assert.equal(r.status, 413, r.text);
  });
});
