// bun-auth in a real bunbased: the public JWKS, the signing key on disk (0600 in a 0700
// directory, never in the logs), the key surviving a restart, the health entry, and the resolver
// refusing forged bearer tokens on the gateway with a machine code.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest, makeTempDir, startServer } from './harness.mjs';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

describe('bun-auth in bunbased', () => {
  let srv;
  let dataDir;
  let kid;
  before(async () => {
    dataDir = makeTempDir('bb-auth-');
    srv = await startServer({ dataDir, services: ['bun-auth'], env: { BUNBASE_HEALTH_INTERVAL_MS: '200' } });
  });
  after(async () => { if (srv) await srv.stop('SIGTERM'); });

  test('GET /.well-known/jwks.json: public, one Ed25519 key whose kid is its RFC 7638 thumbprint', async () => {
    const res = await httpRequest(`${srv.url}/.well-known/jwks.json`);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /application\/json/);
    assert.match(res.headers['cache-control'] || '', /max-age=\d+/);
    const { keys } = res.json();
    assert.equal(keys.length, 1);
    const k = keys[0];
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(k.kty, 'OKP');
    assert.equal(k.crv, 'Ed25519');
    assert.equal(k.alg, 'EdDSA');
    assert.equal(k.use, 'sig');
    assert.equal(Buffer.from(k.x, 'base64url').length, 32);
    const thumb = b64url(crypto.createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${k.x}"}`).digest());
    assert.equal(k.kid, thumb);
    // node can import it as a public key
    const pub = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' });
    assert.equal(pub.asymmetricKeyType, 'ed25519');
    kid = k.kid;
    // the /api alias is not involved: the route lives outside /v1
    const health = await httpRequest(`${srv.url}/health`);
    assert.equal(health.status, 200, health.text);
    const h = health.json().services['bun-auth'];
    assert.equal(h.status, 'ok');
    assert.equal(h.kid, kid);
    assert.equal(typeof h.sessions, 'number');
    assert.equal(JSON.stringify(h).includes('PRIVATE'), false);
  });

  test('the private key lives in <data>/bun_auth, mode 0600 in a 0700 directory, and is not logged', () => {
    const dir = path.join(dataDir, 'bun_auth');
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    const keyFile = path.join(dir, `key-${kid}.pem`);
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, 'keys.json')).mode & 0o777, 0o600);
    const pem = fs.readFileSync(keyFile, 'utf8');
    assert.match(pem, /BEGIN PRIVATE KEY/);
    const priv = crypto.createPrivateKey(pem);
    assert.equal(priv.asymmetricKeyType, 'ed25519');
    const derived = crypto.createPublicKey(priv).export({ format: 'jwk' });
    const thumb = b64url(crypto.createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${derived.x}"}`).digest());
    assert.equal(thumb, kid);
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    assert.equal(srv.stderr().includes(body), false);
    assert.equal(srv.stdout().includes(body), false);
    assert.equal(srv.stderr().includes('PRIVATE KEY'), false);
  });

  test('forged bearer tokens are refused with 401 and a code, even on a public route; a non-JWT bearer is not bun-auth\'s', async () => {
    const enc = (o) => b64url(JSON.stringify(o));
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: 'bunbase', aud: 'bunbase-api', sub: '01ARZ3NDEKTSV4RRFFQ69G5FAV', sid: '01ARZ3NDEKTSV4RRFFQ69G5FAW', iat: now, exp: now + 60 };
    const jwks = (await httpRequest(`${srv.url}/.well-known/jwks.json`)).json();
    const x = Buffer.from(jwks.keys[0].x, 'base64url');
    const cases = [];
    // alg none
    cases.push([`${enc({ alg: 'none', typ: 'JWT', kid })}.${enc(claims)}.`, 'token_alg_not_allowed']);
    // HS256 keyed with the public key bytes
    const hsInput = `${enc({ alg: 'HS256', typ: 'JWT', kid })}.${enc(claims)}`;
    cases.push([`${hsInput}.${b64url(crypto.createHmac('sha256', x).update(hsInput).digest())}`, 'token_alg_not_allowed']);
    // a stranger's Ed25519 key, under an unknown kid and under ours
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    for (const [k, code] of [['nope', 'token_unknown_kid'], [kid, 'token_invalid_signature']]) {
      const input = `${enc({ alg: 'EdDSA', typ: 'JWT', kid: k })}.${enc(claims)}`;
      cases.push([`${input}.${b64url(crypto.sign(null, Buffer.from(input), privateKey))}`, code]);
    }
    for (const [tok, code] of cases) {
      const res = await httpRequest(`${srv.url}/.well-known/jwks.json`, { headers: { authorization: `Bearer ${tok}` } });
      assert.equal(res.status, 401, `${code}: ${res.text}`);
      assert.equal(res.json().code, code);
    }
    // not a JWT: someone else's credential (PAT, key) — bun-auth lets it through to the route
    const res = await httpRequest(`${srv.url}/.well-known/jwks.json`, { headers: { authorization: 'Bearer bbp_0123456789' } });
    assert.equal(res.status, 200);
    // an unknown session cookie is anonymous, not a 401 (a stale browser cookie must not lock out)
    const c = await httpRequest(`${srv.url}/.well-known/jwks.json`, { headers: { cookie: 'session_token=bbs_stale' } });
    assert.equal(c.status, 200);
  });

  test('the key survives a restart (same kid in the JWKS, no new key file)', { timeout: 120000 }, async () => {
    await srv.stop('SIGTERM', { keepDir: true });
    srv = await startServer({ dataDir, services: ['bun-auth'] });
    const res = await httpRequest(`${srv.url}/.well-known/jwks.json`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json().keys.map((k) => k.kid), [kid]);
    const files = fs.readdirSync(path.join(dataDir, 'bun_auth')).filter((f) => f.endsWith('.pem'));
    assert.deepEqual(files, [`key-${kid}.pem`]);
    assert.equal(srv.stderr().includes('key_generated'), false);
  });
});
