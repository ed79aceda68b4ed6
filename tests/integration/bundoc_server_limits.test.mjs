// bundoc-server per-project document limit (BUNBASE_BUNDOC_LIMITS_MAX_DOCUMENTS): creates beyond
// it get 507, a batch that would cross it writes nothing, deletes free room again, other projects
// are unaffected, and the count survives the project's database being closed and reopened.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, sleep, startServer } from './harness.mjs';

const TOKEN = 'bundoc-server-limits-token-0123456789';
let srv;
const B = (p) => `/v1/projects/${p}/databases/(default)`;

function call(method, path, body) {
  const headers = { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return httpRequest(`${srv.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    .then((r) => ({ status: r.status, json: r.body && r.body.length ? JSON.parse(r.body.toString()) : null }));
}

before(async () => {
  srv = await startServer({
    services: 'platform,buncast,bundoc-server',
    env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_BUNDOC_LIMITS_MAX_DOCUMENTS: '4',
      BUNBASE_BUNDOC_IDLE_MS: '200', BUNBASE_BUNDOC_EVICT_INTERVAL_MS: '100' },
  });
});
after(async () => { if (srv) await srv.stop(); });

test('documents per project are limited, exactly', async () => {
  for (const c of ['a', 'b']) assert.equal((await call('POST', `${B('lim')}/collections`, { name: c })).status, 201);
  // 4 documents over two collections fit
  for (const [c, id] of [['a', '1'], ['a', '2'], ['b', '3']]) {
    assert.equal((await call('POST', `${B('lim')}/documents/${c}`, { _id: id })).status, 201);
  }
  // a batch creating two when one is left writes nothing
  let r = await call('POST', `${B('lim')}/batch`, { writes: [
    { op: 'create', collection: 'a', doc: { _id: 'x1' } }, { op: 'create', collection: 'b', doc: { _id: 'x2' } }] });
  assert.equal(r.status, 507, JSON.stringify(r.json));
  assert.equal(r.json.code, 'insufficient_storage');
  assert.equal((await call('GET', `${B('lim')}/documents/a/x1`)).status, 404);
  assert.equal((await call('POST', `${B('lim')}/documents/b`, { _id: '4' })).status, 201);
  r = await call('POST', `${B('lim')}/documents/b`, { _id: '5' });
  assert.equal(r.status, 507, JSON.stringify(r.json));
  assert.match(r.json.error, /document limit/);
  // updates are not creates
  assert.equal((await call('PATCH', `${B('lim')}/documents/a/1`, { v: 1 })).status, 200);
  // another project is not affected
  assert.equal((await call('POST', `${B('other')}/collections`, { name: 'a' })).status, 201);
  assert.equal((await call('POST', `${B('other')}/documents/a`, { _id: '1' })).status, 201);
  // a delete makes room
  assert.equal((await call('DELETE', `${B('lim')}/documents/a/2`)).status, 204);
  assert.equal((await call('POST', `${B('lim')}/documents/b`, { _id: '5' })).status, 201);
  assert.equal((await call('POST', `${B('lim')}/documents/b`, { _id: '6' })).status, 507);
  // after the project's database is evicted and reopened, the limit still holds (recounted)
  await sleep(800);
  assert.equal((await call('POST', `${B('lim')}/documents/a`, { _id: '7' })).status, 507);
  // dropping a collection frees its documents (the running count is corrected by a recount)
  assert.equal((await call('DELETE', `${B('lim')}/collections/b`)).status, 204);
  assert.equal((await call('POST', `${B('lim')}/documents/a`, { _id: '8' })).status, 201);
});
