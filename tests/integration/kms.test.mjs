// bun-kms: secrets and keys over HTTP and the internal RPC, checked by independent tools.
// - envelope round trips, list pagination, delete;
// - every algorithm against the openssl CLI (we sign → openssl verifies; openssl signs → we
//   verify) and AES-GCM against node:crypto, both ways;
// - key rotation (old versions decrypt/verify only);
// - roles: a project's sk_ only its namespace (403 elsewhere), pk_ read-only, admin routes;
// - bad input → 400/404/409/413 with a message; the size knobs;
// - one table of cases run over HTTP and over RPC with identical answers;
// - audit completeness (N calls → N records, never a value), filters, cursor pagination;
// - no plaintext on disk: a known secret is not in any file under the data directory.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';
import { KmsRpc, TOKEN, auditAll, b64, http, unb64 } from './kms_lib.mjs';

const SECRET_MAX = 2048;
const DATA_MAX = 4096;

describe('bun-kms', () => {
  let srv, B, rpc, tmp, pa, pb;

  before(async () => {
    srv = await startServer({
      services: 'bun-kms,bun-auth,platform',
      env: {
        ...FAST_ENV,
        BUNBASE_INTERNAL_TOKEN: TOKEN,
        BUNBASE_BUN_KMS_RPC_ADDR: '127.0.0.1:0',
        BUNBASE_BUN_KMS_SECRET_MAX: String(SECRET_MAX),
        BUNBASE_BUN_KMS_DATA_MAX: String(DATA_MAX),
        BUNBASE_BUN_KMS_MAX_VERSIONS: '5',
        BUNBASE_BUN_KMS_MAX_REQUEST_BYTES: '20000',
      },
    });
    B = srv.url;
    rpc = await new KmsRpc().connect(srv.dataDir);
    tmp = makeTempDir('bb-kms-ossl-');
    const u = await newUser(B, 'kms');
    pa = await newProject(B, u.access, 'KMS A');
    pb = await newProject(B, u.access, 'KMS B');
  });

  after(async () => {
    rpc?.close();
    if (srv) await srv.stop();
    if (tmp) removeTempDir(tmp);
  });

  test('secrets: versions round trip through the envelope, list pages, delete', async () => {
    const ns = 'p_secrets';
    let r = await http(B, 'PUT', `/v1/kms/${ns}/secrets/db-password`, { body: { value: b64('alpha') } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.version, 1);
    const bin = crypto.randomBytes(300);
    r = await http(B, 'PUT', `/v1/kms/${ns}/secrets/db-password`, { body: { value: bin.toString('base64') } });
    assert.equal(r.json.version, 2);
    r = await http(B, 'GET', `/v1/kms/${ns}/secrets/db-password`);
    assert.equal(r.status, 200);
    assert.equal(r.json.version, 2, 'the latest');
    assert.ok(unb64(r.json.value).equals(bin));
    assert.equal(r.headers['cache-control'], 'no-store');
    r = await http(B, 'GET', `/v1/kms/${ns}/secrets/db-password?version=1`);
    assert.equal(unb64(r.json.value).toString(), 'alpha');
    r = await http(B, 'GET', `/v1/kms/${ns}/secrets/db-password?version=3`);
    assert.equal(r.status, 404);
    r = await http(B, 'PUT', `/v1/kms/${ns}/secrets/empty`, { body: { value: '' } });
    assert.equal(r.status, 201);
    r = await http(B, 'GET', `/v1/kms/${ns}/secrets/empty`);
    assert.equal(r.json.value, '');
    for (const n of ['c1', 'c2', 'c3']) await http(B, 'PUT', `/v1/kms/${ns}/secrets/${n}`, { body: { value: b64(n) } });
    const names = [];
    let cursor = '';
    let pages = 0;
    do {
      r = await http(B, 'GET', `/v1/kms/${ns}/secrets?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200);
      for (const s of r.json.secrets) {
        assert.equal(s.value, undefined, 'a list never has values');
        names.push(s.name);
      }
      cursor = r.json.next_cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(names, ['c1', 'c2', 'c3', 'db-password', 'empty']);
    assert.equal(pages, 3);
    r = await http(B, 'GET', `/v1/kms/${ns}/secrets?limit=10`);
    const dbp = r.json.secrets.find((s) => s.name === 'db-password');
    assert.equal(dbp.latest_version, 2);
    assert.equal(dbp.versions, 2);
    assert.equal(dbp.size, 300);
    r = await http(B, 'DELETE', `/v1/kms/${ns}/secrets/db-password`);
    assert.equal(r.status, 200);
    r = await http(B, 'GET', `/v1/kms/${ns}/secrets/db-password?version=1`);
    assert.equal(r.status, 404);
    r = await http(B, 'DELETE', `/v1/kms/${ns}/secrets/db-password`);
    assert.equal(r.status, 404);
  });

  // [type, alg, openssl genpkey args, openssl sign args, openssl verify args (pub, sig, msg)]
  const ALGS = [
    { type: 'ed25519', alg: 'EdDSA', gen: ['-algorithm', 'ed25519'] },
    { type: 'ecdsa-p256', alg: 'ES256', gen: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
    { type: 'rsa-2048', alg: 'RS256', gen: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] },
    { type: 'rsa-2048', alg: 'PS256', gen: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] },
    { type: 'rsa-3072', alg: 'RS256', gen: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'] },
    { type: 'rsa-3072', alg: 'PS256', gen: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'] },
  ];
  const pssOpts = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest', '-sigopt', 'rsa_mgf1_md:sha256'];

  function opensslVerify(alg, pubPem, sig, msg) {
    const f = (n, d) => { const p = path.join(tmp, n); fs.writeFileSync(p, d); return p; };
    const pub = f('pub.pem', pubPem), s = f('sig.bin', sig), m = f('msg.bin', msg);
    const args = alg === 'EdDSA'
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', m, '-sigfile', s]
      : ['dgst', '-sha256', ...(alg === 'PS256' ? pssOpts : []), '-verify', pub, '-signature', s, m];
    try {
      const out = execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      return /Verified OK|Signature Verified Successfully/.test(out);
    } catch {
      return false;
    }
  }

  function opensslSign(alg, privPath, msg) {
    const m = path.join(tmp, 'msg-in.bin');
    fs.writeFileSync(m, msg);
    const args = alg === 'EdDSA'
      ? ['pkeyutl', '-sign', '-inkey', privPath, '-rawin', '-in', m]
      : ['dgst', '-sha256', ...(alg === 'PS256' ? pssOpts : []), '-sign', privPath, m];
    return execFileSync('openssl', args);
  }

  for (const [i, a] of ALGS.entries()) {
    test(`${a.type} ${a.alg}: we sign → openssl verifies; openssl signs → we verify`, async () => {
      const ns = 'p_ossl';
      const name = `k${i}`;
      // a key openssl made, imported: both sides hold the same key pair
      const priv = path.join(tmp, `${name}.pem`);
      execFileSync('openssl', ['genpkey', ...a.gen, '-out', priv], { stdio: 'pipe' });
      const pubPem = execFileSync('openssl', ['pkey', '-in', priv, '-pubout']).toString();
      let r = await http(B, 'POST', `/v1/kms/${ns}/keys`, { body: { name, type: a.type, import: fs.readFileSync(priv, 'utf8') } });
      assert.equal(r.status, 201, r.text);
      const msg = crypto.randomBytes(200);
      r = await http(B, 'POST', `/v1/kms/${ns}/keys/${name}/sign`, { body: { alg: a.alg, message: msg.toString('base64') } });
      assert.equal(r.status, 200, r.text);
      const sig = unb64(r.json.signature);
      assert.ok(opensslVerify(a.alg, pubPem, sig, msg), 'openssl accepts our signature');
      assert.ok(!opensslVerify(a.alg, pubPem, sig, Buffer.concat([msg, Buffer.from('x')])), 'and refuses it for another message');
      const osig = opensslSign(a.alg, priv, msg);
      r = await http(B, 'POST', `/v1/kms/${ns}/keys/${name}/verify`, { body: { alg: a.alg, message: msg.toString('base64'), signature: osig.toString('base64') } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.valid, true, 'we accept openssl\'s signature');
      const bad = Buffer.from(osig);
      bad[bad.length - 1] ^= 1;
      r = await http(B, 'POST', `/v1/kms/${ns}/keys/${name}/verify`, { body: { alg: a.alg, message: msg.toString('base64'), signature: bad.toString('base64') } });
      assert.equal(r.json.valid, false);

      // a key we generated: its JWK (what JWKS publishes) verifies with openssl
      const gname = `g${i}`;
      r = await http(B, 'POST', `/v1/kms/${ns}/keys`, { body: { name: gname, type: a.type } });
      assert.equal(r.status, 201, r.text);
      r = await http(B, 'POST', `/v1/kms/${ns}/keys/${gname}/sign`, { body: { alg: a.alg, message: msg.toString('base64') } });
      const gsig = unb64(r.json.signature);
      const kid = r.json.kid;
      r = await http(B, 'GET', `/v1/kms/${ns}/keys/${gname}/jwks`);
      assert.equal(r.status, 200);
      assert.equal(r.json.keys.length, 1);
      const jwk = r.json.keys[0];
      assert.equal(jwk.kid, kid);
      assert.equal(jwk.use, 'sig');
      const { kid: _k, alg: _a, use: _u, ...pure } = jwk;
      const gpub = crypto.createPublicKey({ key: pure, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      assert.ok(opensslVerify(a.alg, gpub, gsig, msg), 'openssl verifies with the published JWK');
      // kid is the RFC 7638 thumbprint
      const members = jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
        : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
      assert.equal(kid, crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url'));
      if (a.alg === 'ES256') {
        r = await http(B, 'POST', `/v1/kms/${ns}/keys/${gname}/sign`, { body: { alg: 'ES256', encoding: 'jose', message: msg.toString('base64') } });
        const jose = unb64(r.json.signature);
        assert.equal(jose.length, 64);
        assert.ok(crypto.verify('sha256', msg, { key: gpub, dsaEncoding: 'ieee-p1363' }, jose), 'JOSE r||s');
        r = await http(B, 'POST', `/v1/kms/${ns}/keys/${gname}/verify`, { body: { alg: 'ES256', encoding: 'jose', message: msg.toString('base64'), signature: jose.toString('base64') } });
        assert.equal(r.json.valid, true);
      }
    });
  }

  test('AES-256-GCM: node:crypto decrypts what we encrypt (with AAD) and the reverse', async () => {
    const ns = 'p_aes';
    const key = crypto.randomBytes(32);
    let r = await http(B, 'POST', `/v1/kms/${ns}/keys`, { body: { name: 'a', type: 'aes256-gcm', import: key.toString('base64') } });
    assert.equal(r.status, 201, r.text);
    const pt = crypto.randomBytes(1000), aad = Buffer.from('tenant=42');
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/a/encrypt`, { body: { plaintext: pt.toString('base64'), aad: aad.toString('base64') } });
    assert.equal(r.status, 200, r.text);
    const ct = unb64(r.json.ciphertext);
    assert.equal(ct.readUInt32BE(0), 1, 'version 1');
    const d = crypto.createDecipheriv('aes-256-gcm', key, ct.subarray(4, 16));
    d.setAAD(aad);
    d.setAuthTag(ct.subarray(ct.length - 16));
    assert.ok(Buffer.concat([d.update(ct.subarray(16, ct.length - 16)), d.final()]).equals(pt));
    // node encrypts in our layout → we decrypt
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    const body = Buffer.concat([c.update(pt), c.final()]);
    const ours = Buffer.concat([Buffer.from([0, 0, 0, 1]), iv, body, c.getAuthTag()]);
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/a/decrypt`, { body: { ciphertext: ours.toString('base64'), aad: aad.toString('base64') } });
    assert.equal(r.status, 200, r.text);
    assert.ok(unb64(r.json.plaintext).equals(pt));
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/a/decrypt`, { body: { ciphertext: ours.toString('base64'), aad: b64('other') } });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /decryption failed/);
  });

  test('key rotation: the new version signs/encrypts, old versions still verify/decrypt', async () => {
    const ns = 'p_rot';
    let r = await http(B, 'POST', `/v1/kms/${ns}/keys`, { body: { name: 's', type: 'ed25519' } });
    const m1 = b64('first');
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/s/sign`, { body: { alg: 'EdDSA', message: m1 } });
    const sig1 = r.json.signature, kid1 = r.json.kid;
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/s/rotate`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.current_version, 2);
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/s/sign`, { body: { alg: 'EdDSA', message: m1 } });
    assert.notEqual(r.json.kid, kid1);
    const kid2 = r.json.kid;
    for (const kid of [undefined, kid1]) {
      r = await http(B, 'POST', `/v1/kms/${ns}/keys/s/verify`, { body: { alg: 'EdDSA', message: m1, signature: sig1, ...(kid ? { kid } : {}) } });
      assert.equal(r.json.valid, true, `old signature with kid ${kid}`);
    }
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/s/verify`, { body: { alg: 'EdDSA', message: m1, signature: sig1, kid: kid2 } });
    assert.equal(r.json.valid, false, 'not under the new version');
    r = await http(B, 'GET', `/v1/kms/${ns}/keys/s/jwks`);
    assert.deepEqual(r.json.keys.map((k) => k.kid), [kid2, kid1], 'current first');

    r = await http(B, 'POST', `/v1/kms/${ns}/keys`, { body: { name: 'e', type: 'aes256-gcm' } });
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/e/encrypt`, { body: { plaintext: b64('old data') } });
    const ct1 = r.json.ciphertext;
    await http(B, 'POST', `/v1/kms/${ns}/keys/e/rotate`);
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/e/encrypt`, { body: { plaintext: b64('new data') } });
    assert.equal(unb64(r.json.ciphertext).readUInt32BE(0), 2);
    r = await http(B, 'POST', `/v1/kms/${ns}/keys/e/decrypt`, { body: { ciphertext: ct1 } });
    assert.equal(r.status, 200);
    assert.equal(unb64(r.json.plaintext).toString(), 'old data');
    r = await http(B, 'GET', `/v1/kms/${ns}/keys/e`);
    assert.deepEqual(r.json.versions.map((v) => [v.version, v.current]), [[2, true], [1, false]]);
  });

  test('roles: sk_ only its own namespace, pk_ read-only, admin routes internal only', async () => {
    const A = pa.id, Bn = pb.id;
    let r = await http(B, 'PUT', `/v1/kms/${A}/secrets/api-key`, { key: pa.sk, body: { value: b64('sk-owned') } });
    assert.equal(r.status, 201, r.text);
    r = await http(B, 'GET', `/v1/kms/${A}/secrets/api-key`, { key: pa.sk });
    assert.equal(unb64(r.json.value).toString(), 'sk-owned');
    r = await http(B, 'POST', `/v1/kms/${A}/keys`, { key: pa.sk, body: { name: 'jwt', type: 'ecdsa-p256' } });
    assert.equal(r.status, 201);
    r = await http(B, 'POST', `/v1/kms/${A}/keys/jwt/sign`, { key: pa.sk, body: { alg: 'ES256', message: b64('m') } });
    const sig = r.json.signature;
    // another project's namespace, _system, admin routes: 403
    for (const [m, p, body] of [
      ['PUT', `/v1/kms/${Bn}/secrets/x`, { value: b64('x') }],
      ['GET', `/v1/kms/${Bn}/secrets`],
      ['GET', `/v1/kms/${Bn}/keys/jwt/jwks`],
      ['PUT', `/v1/kms/_system/secrets/x`, { value: b64('x') }],
      ['DELETE', `/v1/kms/${A}`],
      ['GET', '/v1/kms/_admin/audit'],
    ]) {
      r = await http(B, m, p, { key: pa.sk, body });
      assert.equal(r.status, 403, `${m} ${p}: ${r.text}`);
    }
    r = await http(B, 'GET', `/v1/kms/${A}/secrets/api-key`, { key: pb.sk });
    assert.equal(r.status, 403);
    assert.match(r.json.error, /own project/);
    // pk_: list, metadata, verify, public keys — nothing else
    for (const [m, p, body] of [
      ['GET', `/v1/kms/${A}/secrets`],
      ['GET', `/v1/kms/${A}/keys`],
      ['GET', `/v1/kms/${A}/keys/jwt`],
      ['GET', `/v1/kms/${A}/keys/jwt/jwks`],
      ['POST', `/v1/kms/${A}/keys/jwt/verify`, { alg: 'ES256', message: b64('m'), signature: sig }],
    ]) {
      r = await http(B, m, p, { key: pa.pk, body });
      assert.equal(r.status, 200, `pk ${m} ${p}: ${r.text}`);
    }
    assert.equal(r.json.valid, true);
    for (const [m, p, body] of [
      ['GET', `/v1/kms/${A}/secrets/api-key`],
      ['PUT', `/v1/kms/${A}/secrets/api-key`, { value: b64('x') }],
      ['POST', `/v1/kms/${A}/keys/jwt/sign`, { alg: 'ES256', message: b64('m') }],
      ['POST', `/v1/kms/${A}/keys/jwt/rotate`],
      ['GET', `/v1/kms/${Bn}/keys`],
    ]) {
      r = await http(B, m, p, { key: pa.pk, body });
      assert.equal(r.status, 403, `pk ${m} ${p}: ${r.text}`);
    }
    r = await http(B, 'GET', `/v1/kms/${A}/secrets`, { token: null });
    assert.equal(r.status, 401);
    r = await http(B, 'GET', `/v1/kms/${A}/secrets`, { token: 'not-the-token' });
    assert.equal(r.status, 401);
    // an end-user identity of the internal token has no role
    r = await http(B, 'GET', `/v1/kms/${A}/secrets`, { identity: 'anonymous' });
    assert.equal(r.status, 403);
  });

  test('a deleted project\'s namespace goes with it', async () => {
    const u = await newUser(B, 'kmsdrop');
    const p = await newProject(B, u.access, 'KMS drop');
    let r = await http(B, 'PUT', `/v1/kms/${p.id}/secrets/s`, { key: p.sk, body: { value: b64('bye') } });
    assert.equal(r.status, 201);
    await http(B, 'POST', `/v1/kms/${p.id}/keys`, { key: p.sk, body: { name: 'k', type: 'ed25519' } });
    r = await api(B, 'DELETE', `/v1/projects/${p.id}`, { token: u.access });
    assert.equal(r.status, 200, r.text);
    r = await http(B, 'GET', `/v1/kms/${p.id}/secrets`);
    assert.deepEqual(r.json.secrets, []);
    r = await http(B, 'GET', `/v1/kms/${p.id}/keys`);
    assert.deepEqual(r.json.keys, []);
    const recs = await auditAll(B, `ns=${p.id}&op=namespace.drop`);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].outcome, 'ok');
  });

  test('bad input: 400/404/409/413 with clear messages; size knobs', async () => {
    const ns = 'p_bad';
    await http(B, 'POST', `/v1/kms/${ns}/keys`, { body: { name: 'ed', type: 'ed25519' } });
    const cases = [
      ['PUT', `/v1/kms/${ns}/secrets/s`, '{not json', 400, /JSON object/],
      ['PUT', `/v1/kms/${ns}/secrets/s`, {}, 400, /"value" must be a base64 string/],
      ['PUT', `/v1/kms/${ns}/secrets/s`, { value: '***' }, 400, /not valid base64/],
      ['PUT', `/v1/kms/_nope/secrets/s`, { value: '' }, 400, /invalid namespace/],
      ['PUT', `/v1/kms/${ns}/secrets/a%20b`, { value: '' }, 400, /invalid name/],
      ['PUT', `/v1/kms/${ns}/secrets/${'n'.repeat(129)}`, { value: '' }, 400, /invalid name/],
      ['PUT', `/v1/kms/${ns}/secrets/big`, { value: Buffer.alloc(SECRET_MAX + 1).toString('base64') }, 413, /BUNBASE_BUN_KMS_SECRET_MAX/],
      ['GET', `/v1/kms/${ns}/secrets/s?version=-1`, undefined, 400, /version/],
      ['GET', `/v1/kms/${ns}/secrets/nothing`, undefined, 404, /no secret/],
      ['GET', `/v1/kms/${ns}/secrets?limit=0`, undefined, 400, /limit/],
      ['GET', `/v1/kms/${ns}/keys?cursor=${'c'.repeat(200)}`, undefined, 400, /cursor too long/],
      ['POST', `/v1/kms/${ns}/keys`, { name: 'x', type: 'dsa' }, 400, /type/],
      ['POST', `/v1/kms/${ns}/keys`, { name: 'ed', type: 'ed25519' }, 409, /already exists/],
      ['POST', `/v1/kms/${ns}/keys`, { name: 'imp', type: 'ed25519', import: 'not a pem' }, 400, /not a ed25519 private key/],
      ['POST', `/v1/kms/${ns}/keys/ed/sign`, { alg: 'RS256', message: b64('m') }, 400, /does not fit/],
      ['POST', `/v1/kms/${ns}/keys/ed/sign`, { alg: 'EdDSA' }, 400, /"message"/],
      ['POST', `/v1/kms/${ns}/keys/ed/sign`, { alg: 'EdDSA', message: Buffer.alloc(DATA_MAX + 1).toString('base64') }, 413, /DATA_MAX/],
      ['POST', `/v1/kms/${ns}/keys/ed/encrypt`, { plaintext: b64('x') }, 400, /only an aes256-gcm key/],
      ['POST', `/v1/kms/${ns}/keys/ed/verify`, { alg: 'EdDSA', message: b64('m'), signature: b64('short'), encoding: 'pem' }, 400, /encoding/],
      ['POST', `/v1/kms/${ns}/keys/missing/sign`, { alg: 'EdDSA', message: b64('m') }, 404, /no key/],
      ['POST', `/v1/kms/${ns}/keys/missing/rotate`, undefined, 404, /no key/],
      ['GET', `/v1/kms/${ns}/keys/ed/jwks?x=1`, undefined, 200, null],
    ];
    for (const [m, p, body, status, re] of cases) {
      const r = await http(B, m, p, { body });
      assert.equal(r.status, status, `${m} ${p}: ${r.text}`);
      if (re) assert.match(r.json.error, re, `${m} ${p}`);
    }
    for (let i = 0; i < 5; i++) await http(B, 'PUT', `/v1/kms/${ns}/secrets/many`, { body: { value: b64(`v${i}`) } });
    let lim = await http(B, 'PUT', `/v1/kms/${ns}/secrets/many`, { body: { value: b64('v5') } });
    assert.equal(lim.status, 429);
    assert.match(lim.json.error, /BUNBASE_BUN_KMS_MAX_VERSIONS/);
    // a signature of the wrong size is just invalid
    const r = await http(B, 'POST', `/v1/kms/${ns}/keys/ed/verify`, { body: { alg: 'EdDSA', message: b64('m'), signature: b64('short') } });
    assert.equal(r.status, 200);
    assert.equal(r.json.valid, false);
  });

  test('HTTP and RPC: one table of cases, identical answers', async () => {
    // each transport gets its own namespace; answers are compared after replacing it
    const table = (ns) => [
      ['PUT', `/v1/kms/${ns}/secrets/s1`, { value: b64('one') }],
      ['PUT', `/v1/kms/${ns}/secrets/s1`, { value: b64('two') }],
      ['GET', `/v1/kms/${ns}/secrets/s1`],
      ['GET', `/v1/kms/${ns}/secrets/s1?version=1`],
      ['GET', `/v1/kms/${ns}/secrets/s9`],
      ['PUT', `/v1/kms/${ns}/secrets/s2`, '{"value":'],
      ['PUT', `/v1/kms/${ns}/secrets/big`, { value: Buffer.alloc(SECRET_MAX + 1).toString('base64') }],
      ['PUT', `/v1/kms/${ns}/secrets/huge`, { value: Buffer.alloc(20000).toString('base64') }],
      ['POST', `/v1/kms/${ns}/keys`, { name: 'k', type: 'ed25519', import: ED_PEM }],
      ['POST', `/v1/kms/${ns}/keys`, { name: 'k', type: 'ed25519' }],
      ['POST', `/v1/kms/${ns}/keys/k/sign`, { alg: 'EdDSA', message: b64('parity') }],
      ['POST', `/v1/kms/${ns}/keys/k/verify`, { alg: 'EdDSA', message: b64('parity'), signature: ED_SIG }],
      ['POST', `/v1/kms/${ns}/keys/k/verify`, { alg: 'EdDSA', message: b64('other'), signature: ED_SIG }],
      ['POST', `/v1/kms/${ns}/keys/k/sign`, { alg: 'ES256', message: b64('x') }],
      ['GET', `/v1/kms/${ns}/keys/k/jwks`],
      ['GET', `/v1/kms/${ns}/secrets?limit=1`],
      ['DELETE', `/v1/kms/${ns}/secrets/s1`],
      ['DELETE', `/v1/kms/${ns}/secrets/s1`],
      ['GET', `/v1/kms/${ns}/secrets`, undefined, { token: null }],
      ['GET', `/v1/kms/${ns}/secrets`, undefined, { token: 'wrong' }],
      ['GET', `/v1/kms/${ns}/secrets`, undefined, { identity: 'anonymous' }],
      ['POST', `/v1/kms/${ns}/secrets`, {}],
      ['GET', `/v1/kms/_admin/nothing`],
      // a project's keys resolve over both transports: another namespace is 403 either way
      ['GET', `/v1/kms/${ns}/secrets`, undefined, { key: pa.sk }],
      ['GET', `/v1/kms/${ns}/keys/k/jwks`, undefined, { key: pa.pk }],
      ['GET', `/v1/kms/_admin/audit`, undefined, { key: pa.sk }],
    ];
    const norm = (r, ns) => {
      const j = JSON.parse(JSON.stringify(r.json ?? null).replaceAll(ns, 'NS'), (k, v) => (k.endsWith('_ms') || k === 'request_id' ? undefined : v));
      // (the dispatcher's 405 text differs between bb_http and bb_http_dispatch_local: a core
      // matter, not the service's; the status and code agree)
      if (r.status === 405) delete j.error;
      return { status: r.status, json: j };
    };
    const viaHttp = [], viaRpc = [];
    for (const [m, p, body, o = {}] of table('p_par_http')) viaHttp.push(norm(await http(B, m, p, { body, ...o }), 'p_par_http'));
    for (const [m, p, body, o = {}] of table('p_par_rpc')) viaRpc.push(norm(await rpc.call(m, p, { body, ...o }), 'p_par_rpc'));
    const statuses = viaHttp.map((x) => x.status);
    assert.deepEqual(statuses, [201, 201, 200, 200, 404, 400, 413, 413, 201, 409, 200, 200, 200, 400, 200, 200, 200, 404, 401, 401, 403, 405, 404, 403, 403, 403]);
    assert.deepEqual(viaRpc, viaHttp);
    // the RPC's own errors: not a KMS path, unknown command, not JSON
    let r = await rpc.raw(1, { method: 'GET', path: '/v1/projects/x' });
    assert.equal(r.status, 1);
    assert.equal(r.payload.code, 'invalid_payload');
    r = await rpc.raw(9, {});
    assert.equal(r.payload.code, 'unknown_command');
    r = await rpc.raw(1, 'nope');
    assert.equal(r.payload.code, 'invalid_payload');
  });

  test('audit: every call leaves exactly one record (never a value); filters; cursor pages', async () => {
    const ns = 'p_audit';
    const calls = [
      ['PUT', `/v1/kms/${ns}/secrets/a`, { value: b64('audit-value-1') }],
      ['GET', `/v1/kms/${ns}/secrets/a`],
      ['GET', `/v1/kms/${ns}/secrets/zz`],
      ['PUT', `/v1/kms/${ns}/secrets/a`, '{bad'],
      ['GET', `/v1/kms/${ns}/secrets`],
      ['POST', `/v1/kms/${ns}/keys`, { name: 'k', type: 'ecdsa-p256' }],
      ['POST', `/v1/kms/${ns}/keys/k/sign`, { alg: 'ES256', message: b64('m') }],
      ['POST', `/v1/kms/${ns}/keys/k/verify`, { alg: 'ES256', message: b64('m'), signature: b64('x') }],
      ['POST', `/v1/kms/${ns}/keys/k/rotate`],
      ['GET', `/v1/kms/${ns}/keys/k/jwks`],
      ['DELETE', `/v1/kms/${ns}/secrets/a`],
    ];
    const before = (await auditAll(B, `ns=${ns}`)).length;
    assert.equal(before, 0);
    for (const [m, p, body] of calls) await http(B, m, p, { body });
    // and the same number over RPC, and one refused for its role
    for (const [m, p, body] of calls.slice(0, 3)) await rpc.call(m, p, { body });
    await http(B, 'GET', `/v1/kms/${ns}/secrets/a`, { key: pa.sk });
    const recs = await auditAll(B, `ns=${ns}`);
    assert.equal(recs.length, calls.length + 4, JSON.stringify(recs.map((x) => x.op)));
    const text = JSON.stringify(recs);
    assert.ok(!text.includes('audit-value-1') && !text.includes(b64('audit-value-1')), 'no value in the audit log');
    const byOp = (op) => recs.filter((x) => x.op === op).map((x) => x.outcome);
    assert.deepEqual(byOp('secret.get').sort(), ['not_found', 'not_found', 'ok', 'ok', 'permission_denied'].sort());
    assert.deepEqual(byOp('secret.put').sort(), ['invalid_argument', 'ok', 'ok'].sort().sort());
    const denied = recs.find((x) => x.outcome === 'permission_denied');
    assert.equal(denied.kind, 'project-key-secret');
    assert.equal(denied.project, pa.id);
    assert.equal(recs.find((x) => x.op === 'key.rotate').version, 2);
    // filters and pages
    let r = await http(B, 'GET', `/v1/kms/_admin/audit?ns=${ns}&op=secret.get&outcome=ok`);
    assert.equal(r.json.records.length, 2);
    const ids = recs.map((x) => x.id);
    const mid = recs[Math.floor(recs.length / 2)].at_ms;
    r = await http(B, 'GET', `/v1/kms/_admin/audit?ns=${ns}&until=${mid}&limit=500`);
    assert.ok(r.json.records.every((x) => x.at_ms <= mid));
    r = await http(B, 'GET', `/v1/kms/_admin/audit?ns=${ns}&since=${mid}&limit=500`);
    assert.ok(r.json.records.every((x) => x.at_ms >= mid));
    const paged = [];
    let cursor = '';
    do {
      r = await http(B, 'GET', `/v1/kms/_admin/audit?ns=${ns}&limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...r.json.records.map((x) => x.id));
      cursor = r.json.next_cursor;
    } while (cursor);
    assert.deepEqual(paged, ids, 'pages cover every record once, newest first');
    r = await http(B, 'GET', `/v1/kms/_admin/audit?since=abc`);
    assert.equal(r.status, 400);
    r = await http(B, 'GET', `/v1/kms/_admin/audit?ns=${'p'.repeat(100)}`);
    assert.equal(r.status, 400, 'a filter that does not fit is refused, not ignored');
  });

  test('no plaintext on disk: a known secret is in no file under the data directory', async () => {
    const canary = `PLAINTEXT-CANARY-${crypto.randomBytes(8).toString('hex')}`;
    let r = await http(B, 'PUT', `/v1/kms/p_disk/secrets/canary`, { body: { value: b64(canary) } });
    assert.equal(r.status, 201);
    await http(B, 'POST', '/v1/kms/p_disk/keys', { body: { name: 'a', type: 'aes256-gcm' } });
    r = await http(B, 'POST', '/v1/kms/p_disk/keys/a/encrypt', { body: { plaintext: b64(canary) } });
    assert.equal(r.status, 200);
    r = await http(B, 'GET', `/v1/kms/p_disk/secrets/canary`);
    assert.equal(unb64(r.json.value).toString(), canary);
    const needles = [Buffer.from(canary), Buffer.from(b64(canary))];
    let files = 0, walFound = false;
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          const buf = fs.readFileSync(p);
          files++;
          if (e.name === 'kms.db-wal' && buf.length > 0) walFound = true;
          for (const n of needles) assert.equal(buf.indexOf(n), -1, `plaintext found in ${p}`);
        }
      }
    };
    walk(srv.dataDir);
    assert.ok(files > 10 && walFound, `scanned ${files} files including the SQLite WAL`);
  });
});

// A fixed Ed25519 key and its signature of "parity" (made with openssl), for the parity table.
const ED_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEII1eo2Jxq/YuST8AgIyVngyYIBHeMnHUMpT11pDqFU4r
-----END PRIVATE KEY-----
`;
const ED_SIG = (() => {
  const k = crypto.createPrivateKey(ED_PEM);
  return crypto.sign(null, Buffer.from('parity'), k).toString('base64');
})();
