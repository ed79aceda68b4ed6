// bundoc-server document GETs on the loop thread (BB_ROUTE_LOOP_FIRST, bdoc_store_get_json_nowait):
// which GETs are answered there (bunbase_bundoc_reads_inline_total counts them) and that every
// answer is the one the worker pool gives — same status, same bytes — including right after a
// write, after a delete (404), for a missing collection, for a large document (over
// BUNBASE_BUNDOC_INLINE_READ_MAX_BYTES: pool), for end users with and without a read rule (a
// rule is always evaluated on the pool, as before), and for a project not open yet.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { httpRequest, parsePrometheus, startServer } from './harness.mjs';

const TOKEN = 'bundoc-server-reads-token-0123456789';
const INLINE_MAX = 4096;
let srv;
const B = (p) => `/v1/projects/${p}/databases/(default)`;

function call(method, path, { body, identity = 'admin', agent } = {}) {
  const headers = { Authorization: `Bearer ${TOKEN}`,
    'X-Bunbase-Identity': typeof identity === 'string' ? identity : JSON.stringify(identity) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return httpRequest(`${srv.url}${path}`, { method, headers, agent, body: body === undefined ? undefined : JSON.stringify(body) })
    .then((r) => {
      const text = r.body ? r.body.toString() : '';
      let json = null;
      try { json = text.length ? JSON.parse(text) : null; } catch {}
      return { status: r.status, text, json, headers: r.headers };
    });
}

async function inlineReads() {
  const r = await httpRequest(`${srv.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const m = parsePrometheus(r.body.toString());
  return m.samples.filter((x) => x.name === 'bunbase_bundoc_reads_inline_total').reduce((a, x) => a + x.value, 0);
}

// Runs fn and returns how many GETs the loop thread answered meanwhile.
async function countInline(fn) {
  const before = await inlineReads();
  await fn();
  return (await inlineReads()) - before;
}

before(async () => {
  srv = await startServer({
    services: 'platform,buncast,bundoc-server',
    env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_BUNDOC_INLINE_READ_MAX_BYTES: String(INLINE_MAX) },
  });
});
after(async () => { if (srv) await srv.stop(); });

test('a GET of an open project is answered on the loop thread, with the bytes the pool renders', async () => {
  const P = B('reads');
  assert.equal((await call('POST', `${P}/collections`, { body: { name: 'open' } })).status, 201);
  assert.equal((await call('POST', `${P}/collections`, { body: { name: 'ruled', rules: { read: 'true' } } })).status, 201);
  // values whose JSON text could be rendered differently: escapes, unicode, numbers, nesting
  const doc = { s: 'q"uo\\te\n\t\u0001 é 😀 </tag>', i: -42, big: 9007199254740991, f: 0.1, e: 1.5e300, neg0: -0,
    t: true, nul: null, arr: [1, 'two', [3], { four: 4 }], obj: { a: { b: { c: [] } }, empty: {} } };
  for (const c of ['open', 'ruled']) {
    assert.equal((await call('POST', `${P}/documents/${c}`, { body: { _id: 'd1', ...doc } })).status, 201);
  }
  const alice = { uid: 'alice', claims: {} };
  let fast, slow;
  // admin: no rule applies; an end user on a collection without rules: none either
  assert.equal(await countInline(async () => {
    fast = await call('GET', `${P}/documents/open/d1`);
    const user = await call('GET', `${P}/collections/open/documents/d1`, { identity: alice });
    assert.equal(user.status, 200);
    assert.equal(user.text, fast.text);
  }), 2);
  // an end user on a collection with a read rule: the rule is evaluated on the pool, as before
  assert.equal(await countInline(async () => {
    slow = await call('GET', `${P}/documents/ruled/d1`, { identity: alice });
  }), 0);
  assert.equal(fast.status, 200);
  assert.equal(slow.status, 200);
  assert.equal(fast.text, slow.text, 'loop-thread and pool bodies differ');
  assert.equal(fast.headers['content-type'], 'application/json');
  assert.deepEqual(fast.json, { _id: 'd1', ...doc, neg0: 0 });
});

test('404 on the loop thread for a deleted or missing document, same answer as the pool', async () => {
  const P = B('reads404');
  assert.equal((await call('POST', `${P}/documents/c`, { body: { _id: 'gone', v: 1 } })).status, 201);
  assert.equal((await call('GET', `${P}/documents/c/gone`)).status, 200);
  assert.equal((await call('DELETE', `${P}/documents/c/gone`)).status, 204);
  let deleted, missing, nocoll;
  assert.equal(await countInline(async () => {
    deleted = await call('GET', `${P}/documents/c/gone`);
    missing = await call('GET', `${P}/documents/c/never`);
    nocoll = await call('GET', `${P}/documents/nocoll/x`);
  }), 3);
  for (const r of [deleted, missing, nocoll]) {
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { error: 'not found', code: 'not_found' });
  }
  // the pool's answer for a missing document (an end user on a ruled collection) is the same
  assert.equal((await call('POST', `${P}/collections`, { body: { name: 'ruled', rules: { read: 'true' } } })).status, 201);
  const pool = await call('GET', `${P}/documents/ruled/never`, { identity: { uid: 'u' } });
  assert.equal(pool.status, 404);
  assert.equal(pool.text, missing.text);
  // and a denied read still carries the rule's trace (evaluated on the pool)
  assert.equal((await call('PATCH', `${P}/collections/ruled/rules`, { body: { rules: { read: 'false' } } })).status, 200);
  assert.equal((await call('POST', `${P}/documents/ruled`, { body: { _id: 'r1' } })).status, 201);
  const denied = await call('GET', `${P}/documents/ruled/r1`, { identity: { uid: 'u' } });
  assert.equal(denied.status, 403);
  assert.ok(denied.json.trace, JSON.stringify(denied.json));
  // rules removed: the loop thread answers end users again
  assert.equal((await call('PATCH', `${P}/collections/ruled/rules`, { body: { rules: null } })).status, 200);
  assert.equal((await call('GET', `${P}/documents/ruled/r1`, { identity: { uid: 'u' } })).status, 200); // caches the metadata
  assert.equal(await countInline(async () => {
    assert.equal((await call('GET', `${P}/documents/ruled/r1`, { identity: { uid: 'u' } })).status, 200);
  }), 1);
});

test('a GET right after a write sees it (one keep-alive connection, writes and reads interleaved)', async () => {
  const P = B('readsrw');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await call('POST', `${P}/documents/c`, { body: { _id: 'k', v: 0 }, agent })).status, 201);
    const n = await countInline(async () => {
      for (let v = 1; v <= 40; v++) {
        const w = v % 2 ? await call('PATCH', `${P}/documents/c/k`, { body: { v }, agent })
          : await call('PUT', `${P}/documents/c/k`, { body: { _id: 'k', v }, agent });
        assert.equal(w.status, 200);
        const r = await call('GET', `${P}/documents/c/k`, { agent });
        assert.equal(r.status, 200);
        assert.equal(r.json.v, v);
      }
      assert.equal((await call('DELETE', `${P}/documents/c/k`, { agent })).status, 204);
      assert.equal((await call('GET', `${P}/documents/c/k`, { agent })).status, 404);
      assert.equal((await call('POST', `${P}/documents/c`, { body: { _id: 'k', v: 'again' }, agent })).status, 201);
      assert.equal((await call('GET', `${P}/documents/c/k`, { agent })).json.v, 'again');
    });
    assert.equal(n, 42);
  } finally {
    agent.destroy();
  }
});

test('a document over BUNBASE_BUNDOC_INLINE_READ_MAX_BYTES is served whole by the pool', async () => {
  const P = B('readsbig');
  const big = { _id: 'big', pad: 'y'.repeat(INLINE_MAX * 8), n: 1 };
  const small = { _id: 'small', pad: 'y'.repeat(100) };
  for (const d of [big, small]) assert.equal((await call('POST', `${P}/documents/c`, { body: d })).status, 201);
  let r;
  assert.equal(await countInline(async () => { r = await call('GET', `${P}/documents/c/big`); }), 0);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, big);
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.text));
  assert.equal(await countInline(async () => { r = await call('GET', `${P}/documents/c/small`); }), 1);
  assert.deepEqual(r.json, small);
});

test('the first GET of a project not open yet goes to the pool (which opens it); bad input is answered as before', async () => {
  // a project whose database this server has never opened
  let r;
  assert.equal(await countInline(async () => { r = await call('GET', `${B('readsnew')}/documents/c/x`); }), 0);
  assert.equal(r.status, 404);
  assert.equal(await countInline(async () => { r = await call('GET', `${B('readsnew')}/documents/c/x`); }), 1);
  assert.equal(r.status, 404);
  // errors the pool path decides stay the pool's: invalid collection, reserved collection, identity
  assert.equal(await countInline(async () => {
    assert.equal((await call('GET', `${B('readsnew')}/documents/__meta/c`)).status, 400);
    assert.equal((await call('GET', `${B('readsnew')}/documents/_auth_users/x`)).status, 404);
    const bad = await httpRequest(`${srv.url}${B('readsnew')}/documents/c/x`, { headers: { Authorization: 'Bearer wrong' } });
    assert.equal(bad.status, 401);
  }), 0);
  // the internal service itself (the token without X-Bunbase-Identity) reads on the loop thread too
  assert.equal(await countInline(async () => {
    const svc = await httpRequest(`${srv.url}${B('readsnew')}/documents/c/x`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(svc.status, 404);
  }), 1);
});
