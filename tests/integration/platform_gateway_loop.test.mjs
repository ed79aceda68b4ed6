// The gateway's document GETs on the HTTP loop thread (platform_gateway.c, PLAT_GW_DB_LOOP routes,
// bb_http_dispatch_local_on_loop into bundoc-server's loop-first GET): when the caller's identity
// is resolved (it always is from the platform's cached view, before any handler), bundoc-server
// runs in this process and answers on the loop too, the gateway answers there
// (bunbase_platform_gateway_loop_total counts it, and bundoc's bunbase_bundoc_reads_inline_total);
// anything else — a project not open yet, a read rule, a CORS view to reload — runs the whole
// request on the pool as before. Every answer is the pool's: same status, headers and bytes.
// A revoked key is refused at once either way.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, parsePrometheus, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const TOKEN = 'gateway-loop-test-internal-token-0123456789';
let srv, G, owner, p;

async function metric(name) {
  const r = await httpRequest(`${G}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return parsePrometheus(r.body.toString()).samples.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
}

// Runs fn; returns [gateway answers on the loop, bundoc reads on the loop] meanwhile.
async function onLoop(fn) {
  const g0 = await metric('bunbase_platform_gateway_loop_total');
  const b0 = await metric('bunbase_bundoc_reads_inline_total');
  await fn();
  return [(await metric('bunbase_platform_gateway_loop_total')) - g0,
    (await metric('bunbase_bundoc_reads_inline_total')) - b0];
}

// The headers that must match between two answers (all but the per-request ones).
function stableHeaders(h) {
  const o = { ...h };
  delete o.date;
  delete o['x-request-id'];
  return o;
}

function assertSameAnswer(a, b, what) {
  assert.equal(a.status, b.status, what);
  assert.equal(a.text, b.text, `${what}: bodies differ`);
  assert.deepEqual(stableHeaders(a.headers), stableHeaders(b.headers), `${what}: headers differ`);
  assert.ok(a.headers['x-request-id'] && b.headers['x-request-id']);
}

before(async () => {
  srv = await startServer({
    services: 'bun-auth,platform,buncast,bundoc-server',
    env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN },
  });
  G = srv.url;
  owner = await newUser(G, 'gwloop');
  p = await newProject(G, owner.access, 'gwloop');
  // the same document in a collection without rules and in one whose read rule allows it: end
  // users (pk_) read the first on the loop and the second on the pool (a rule is evaluated there)
  const doc = { _id: 'd1', s: 'q"uo\\te\n\t\u0001 é 😀 </tag>', i: -42, big: 9007199254740991, f: 0.1,
    arr: [1, 'two', [3], { four: 4 }], obj: { a: { b: { c: [] } }, empty: {} } };
  for (const [name, rules] of [['open', undefined], ['ruled', { read: 'true' }]]) {
    let r = await api(G, 'POST', '/v1/database/collections', { key: p.sk, body: rules ? { name, rules } : { name } });
    assert.equal(r.status, 201, r.text);
    r = await api(G, 'POST', `/v1/database/documents/${name}`, { key: p.sk, body: doc });
    assert.equal(r.status, 201, r.text);
  }
});
after(async () => { if (srv) await srv.stop(); });

test('document GETs through the gateway are answered on the loop thread with the pool\'s bytes', async () => {
  let fast, fastSk, fastConsole, slow, slowMissing, fastMissing, direct;
  // pk_ on a collection without rules, sk_ in both path forms, a developer on the console form
  assert.deepEqual(await onLoop(async () => {
    fast = await api(G, 'GET', '/v1/database/documents/open/d1', { key: p.pk });
    fastSk = await api(G, 'GET', '/v1/database/collections/open/documents/d1', { key: p.sk });
    fastConsole = await api(G, 'GET', `/v1/projects/${p.id}/database/documents/open/d1`, { token: owner.access });
    fastMissing = await api(G, 'GET', '/v1/database/documents/open/never', { key: p.pk });
  }), [4, 4]);
  // pk_ on the ruled collection: the rule is evaluated on the pool, the whole request goes there
  assert.deepEqual(await onLoop(async () => {
    slow = await api(G, 'GET', '/v1/database/documents/ruled/d1', { key: p.pk });
    slowMissing = await api(G, 'GET', '/v1/database/documents/ruled/never', { key: p.pk });
  }), [0, 0]);
  assert.equal(fast.status, 200, fast.text);
  assert.equal(fast.json._id, 'd1');
  assert.equal(fast.headers['content-type'], 'application/json');
  assertSameAnswer(fast, slow, 'loop vs pool (200)');
  assertSameAnswer(fastSk, slow, 'sk_ collections form vs pool');
  assertSameAnswer(fastConsole, slow, 'console form vs pool');
  assert.equal(fastMissing.status, 404);
  assertSameAnswer(fastMissing, slowMissing, 'loop vs pool (404)');
  // and what bundoc-server answers directly (same bytes, the gateway adds nothing to a GET)
  direct = await httpRequest(`${G}/v1/projects/${p.id}/databases/(default)/documents/open/d1`,
    { headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' } });
  assert.equal(direct.text, fast.text);
  // the request id the client sent is the one relayed back on the loop path too
  const rid = await httpRequest(`${G}/v1/database/documents/open/d1`,
    { headers: { 'X-Bunbase-Client-Key': p.pk, 'X-Request-Id': 'gwloop-rid-1' } });
  assert.equal(rid.headers['x-request-id'], 'gwloop-rid-1');
  // errors decided before any handler are unchanged: no key, wrong project, a write with pk_
  assert.equal((await api(G, 'GET', '/v1/database/documents/open/d1')).status, 401);
  const other = await newProject(G, owner.access, 'gwloop-other');
  const wrong = await api(G, 'GET', `/v1/projects/${p.id}/database/documents/open/d1`, { key: other.sk });
  assert.equal(wrong.status, 403);
});

test('a project not open yet is read through the pool, which opens it; then the loop answers', async () => {
  const q = await newProject(G, owner.access, 'gwloop-cold');
  let first, second;
  assert.deepEqual(await onLoop(async () => {
    first = await api(G, 'GET', '/v1/database/documents/c/x', { key: q.sk });
  }), [0, 0]);
  assert.deepEqual(await onLoop(async () => {
    second = await api(G, 'GET', '/v1/database/documents/c/x', { key: q.sk });
  }), [1, 1]);
  assert.equal(first.status, 404);
  assertSameAnswer(first, second, 'cold (pool) vs open (loop)');
});

test('CORS: a view to reload sends the request to the pool; the answer carries the same headers', async () => {
  const APP = 'https://app.gwloop.example';
  let r = await api(G, 'PUT', `/v1/projects/${p.id}/cors`, { token: owner.access, body: { allowed_origins: [APP] } });
  assert.equal(r.status, 200, r.text);
  let a, b, evil;
  // the PUT moved the platform's version: the first request reloads the view on the pool
  assert.deepEqual(await onLoop(async () => {
    a = await api(G, 'GET', '/v1/database/documents/open/d1', { key: p.pk, headers: { Origin: APP } });
  }), [0, 0]);
  assert.deepEqual(await onLoop(async () => {
    b = await api(G, 'GET', '/v1/database/documents/open/d1', { key: p.pk, headers: { Origin: APP } });
    evil = await api(G, 'GET', '/v1/database/documents/open/d1', { key: p.pk, headers: { Origin: 'https://evil.example' } });
  }), [2, 2]);
  assert.equal(a.headers['access-control-allow-origin'], APP);
  assert.equal(a.headers.vary, 'Origin');
  assertSameAnswer(a, b, 'CORS pool vs loop');
  assert.equal(evil.status, 200);
  assert.equal(evil.headers['access-control-allow-origin'], undefined);
  assert.equal(evil.headers.vary, 'Origin');
});

test('a revoked key is refused at once, whichever thread would have answered', async () => {
  const q = await newProject(G, owner.access, 'gwloop-revoke');
  let r = await api(G, 'POST', '/v1/database/documents/c', { key: q.sk, body: { _id: 'k' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(await onLoop(async () => {
    r = await api(G, 'GET', '/v1/database/documents/c/k', { key: q.sk });
  }), [1, 1]);
  assert.equal(r.status, 200);
  r = await api(G, 'DELETE', `/v1/projects/${q.id}/keys/${q.skId}`, { token: owner.access });
  assert.ok(r.status === 200 || r.status === 204, r.text);
  assert.deepEqual(await onLoop(async () => {
    r = await api(G, 'GET', '/v1/database/documents/c/k', { key: q.sk });
  }), [0, 0]);
  assert.equal(r.status, 401);
  assert.equal(r.code, 'key_revoked');
  // the project's other key still reads on the loop
  assert.deepEqual(await onLoop(async () => {
    r = await api(G, 'GET', '/v1/database/documents/c/k', { key: q.pk });
  }), [1, 1]);
  assert.equal(r.status, 200);
});
