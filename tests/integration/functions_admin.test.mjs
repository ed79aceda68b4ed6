// Functions: the invocation's context and BunBase.admin() (docs/functions.md), on both runtimes.
// A function reads and writes a document and a KV key of its own project through the gateway with
// the short-lived bbf_ project token the service minted for the invocation (never the sk_); the
// request id of the invoking request reaches the gateway (X-Request-Id); the same token is refused
// on another project's routes and on control-plane routes (403), when tampered with (401) and once
// it expired (401 token_expired, BUNBASE_FUNCTIONS_TOKEN_TTL_MS).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';

import { httpRequest, sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const TTL_MS = 2500;
const ENV = { ...FAST_ENV, BUNBASE_WORKERS: '8', BUNBASE_FUNCTIONS_TOKEN_TTL_MS: String(TTL_MS) };

const ADMIN_FN = `
export default async function (req, env, ctx) {
  const a = BunBase.admin();
  const v = new URL(req.url).searchParams.get('v');
  const notes = a.db.collection('notes');
  await notes.set('n-' + v, { text: 'from fn ' + v });
  const got = await notes.get('n-' + v);
  const none = await notes.get('absent');
  await a.kv.set('fnkey-' + v, 'value-' + v);
  const kv = await a.kv.get('fnkey-' + v);
  const kvNone = await a.kv.get('absent-key');
  const echoed = (await a.fetch('/v1/database/collections/notes/documents/n-' + v)).headers.get('x-request-id');
  let denied = null;
  try { await a.db.collection('notes').set('x', 1); } catch (e) { denied = e.status; }
  return Response.json({ projectId: a.projectId, requestId: ctx.requestId, echoed, got, none, kv, kvNone, token: a.token, denied, hasSk: JSON.stringify(env).includes('sk_') });
}`;

const bunPath = `${process.env.BB_SOURCE_DIR || new URL('../..', import.meta.url).pathname}/src/functions/bun/node_modules/@oven/bun-linux-x64/bin/bun`;
const HAVE_BUN = fs.existsSync(bunPath);

const BUN_FETCH = `
export default async function (req) {
  const target = new URL(req.url).searchParams.get('url');
  try {
    const r = await fetch(target, { method: 'POST', headers: { 'x-from': 'bun' }, body: 'ping' });
    return Response.json({ status: r.status, body: await r.text(), header: r.headers.get('x-upstream') });
  } catch (e) {
    return Response.json({ error: String(e.message) });
  }
}`;

describe('functions: BunBase.admin() and the project token', () => {
  let srv, G, user, p, other, upstream, upPort;
  before(async () => {
    upstream = http.createServer((q, r) => {
      let b = '';
      q.on('data', (d) => { b += d; });
      q.on('end', () => { r.writeHead(207, { 'x-upstream': 'yes' }); r.end(`${q.method} ${q.headers['x-from']} ${b} ${q.headers['x-request-id']}`); });
    });
    await new Promise((res) => upstream.listen(0, '127.0.0.1', res));
    upPort = upstream.address().port;
    srv = await startServer({ env: { ...ENV, BUNBASE_FUNCTIONS_FETCH_ALLOW: `127.0.0.1:${upPort}` } });
    G = srv.url;
    user = await newUser(G, 'fnadm');
    p = await newProject(G, user.access, 'Admin');
    other = await newProject(G, user.access, 'Other');
    const dep = (name, q = '') => httpRequest(`${G}/v1/projects/${p.id}/functions/${name}${q}`, {
      method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: ADMIN_FN,
    });
    let r = await dep('adm');
    assert.equal(r.status, 201, r.text);
    if (HAVE_BUN) {
      r = await dep('admbun', '?runtime=bun');
      assert.equal(r.status, 201, r.text);
      r = await httpRequest(`${G}/v1/projects/${p.id}/functions/bunfetch?runtime=bun`, {
        method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: BUN_FETCH,
      });
      assert.equal(r.status, 201, r.text);
    }
  });
  after(async () => {
    if (srv) await srv.stop();
    if (upstream) upstream.close();
  });

  test('Bun: fetch goes through the service (allow-list, request id) and nowhere else', { skip: !HAVE_BUN && 'bun not installed' }, async () => {
    const call = (url) => httpRequest(`${G}/v1/functions/bunfetch?url=${encodeURIComponent(url)}`, { headers: { 'X-Bunbase-Client-Key': p.pk, 'X-Request-Id': 'rid-bun-fetch-1' } });
    let r = await call(`http://127.0.0.1:${upPort}/x`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { status: 207, body: 'POST bun ping rid-bun-fetch-1', header: 'yes' });
    r = await call(`http://localhost:${upPort}/x`);
    assert.match(r.json().error, /not on BUNBASE_FUNCTIONS_FETCH_ALLOW/);
  });

  for (const [fn, label] of [['adm', 'QuickJS'], ['admbun', 'Bun']]) {
    test(`${label}: documents and KV of its own project, the request id propagated`, { skip: fn === 'admbun' && !HAVE_BUN && 'bun not installed' }, async () => {
      const v = `${fn}1`;
      const rid = `rid-${fn}-0123456789`;
      const r = await httpRequest(`${G}/v1/functions/${fn}?v=${v}`, { headers: { 'X-Bunbase-Client-Key': p.pk, 'X-Request-Id': rid } });
      assert.equal(r.status, 200, r.text);
      const o = r.json();
      assert.equal(o.projectId, p.id);
      assert.equal(o.requestId, rid, 'ctx.requestId is the invoking request id');
      assert.equal(o.echoed, rid, 'the gateway saw the same X-Request-Id');
      assert.equal(o.got.text, `from fn ${v}`);
      assert.equal(o.none, null);
      assert.equal(o.kv, `value-${v}`);
      assert.equal(o.kvNone, null);
      assert.equal(o.denied, 400, 'a bad document is the gateway\'s 400, thrown as an AdminError');
      assert.equal(o.hasSk, false);
      assert.match(o.token, /^bbf_/);
      assert.ok(!o.token.includes(p.sk), 'never the sk_');
      // what the function wrote is the project's: read back with the sk_
      let x = await api(G, 'GET', `/v1/database/collections/notes/documents/n-${v}`, { token: p.sk });
      assert.equal(x.status, 200, x.text);
      assert.equal(x.json.text, `from fn ${v}`);
      x = await api(G, 'GET', `/v1/kv/fnkey-${v}`, { token: p.sk });
      assert.equal(x.text, `value-${v}`);
    });
  }

  test('the token: its project only, data plane only, tamper-proof, short-lived', async () => {
    const r = await httpRequest(`${G}/v1/functions/adm?v=t`, { headers: { 'X-Bunbase-Client-Key': p.pk } });
    assert.equal(r.status, 200, r.text);
    const tok = r.json().token;
    const t0 = Date.now();
    let x = await api(G, 'GET', '/v1/database/collections/notes/documents/n-t', { token: tok });
    assert.equal(x.status, 200, x.text);
    x = await api(G, 'PUT', '/v1/kv/from-outside', { token: tok, body: 'v' });
    assert.equal(x.status, 200, x.text);
    // another project's routes (console form: the token is not a developer) and control plane
    x = await api(G, 'GET', `/v1/projects/${other.id}/database/collections/notes/documents/n-t`, { token: tok });
    assert.equal(x.status, 403, x.text);
    x = await api(G, 'GET', `/v1/projects/${other.id}/kv/from-outside`, { token: tok });
    assert.equal(x.status, 403, x.text);
    x = await api(G, 'GET', `/v1/projects/${p.id}/keys`, { token: tok });
    assert.equal(x.status, 403, x.text);
    x = await api(G, 'GET', `/v1/projects/${p.id}/functions`, { token: tok });
    assert.equal(x.status, 403, x.text);
    x = await api(G, 'GET', '/v1/functions/adm', { token: tok }); // no recursion through the token
    assert.equal(x.status, 403, x.text);
    // the other project's data is not reachable with it: a token naming the other project fails
    const forged = tok.replace(p.id, other.id);
    x = await api(G, 'GET', '/v1/kv/from-outside', { token: forged });
    assert.equal(x.status, 401, x.text);
    assert.equal(x.code, 'invalid_token');
    const i = tok.indexOf('_', 4) + 1; // the first character of the MAC
    const flipped = tok.slice(0, i) + (tok[i] === '0' ? '1' : '0') + tok.slice(i + 1);
    x = await api(G, 'GET', '/v1/kv/from-outside', { token: flipped });
    assert.equal(x.status, 401, x.text);
    // expiry (the token was minted just before t0)
    await sleep(Math.max(0, TTL_MS - (Date.now() - t0)) + 300);
    x = await api(G, 'GET', '/v1/database/collections/notes/documents/n-t', { token: tok });
    assert.equal(x.status, 401, x.text);
    assert.equal(x.code, 'token_expired');
  });
});
