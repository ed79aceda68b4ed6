// Functions: document triggers (docs/functions.md, "Triggers"). A function subscribed to a
// collection's changes (operation filter) through buncast is invoked once per event with the event
// id as the dedup id; a failed invocation is retried with backoff, then kept as a dead letter; and
// across a SIGKILL of bunbased in the middle of a burst, every event is invoked — none twice but
// the one a kill may cut mid-invocation, which comes back marked redelivered (at least once).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, loginUser, newProject, newUser } from './platform_lib.mjs';

const ENV = {
  ...FAST_ENV,
  BUNBASE_WORKERS: '8',
  BUNBASE_HEALTH_INTERVAL_MS: '100',
  BUNBASE_BUNCAST_DURABLE_PREFIXES: 'db.',
  BUNBASE_FUNCTIONS_TRIGGER_WORKERS: '1',
  BUNBASE_FUNCTIONS_DOC_RETRY_MS: '100',
  BUNBASE_FUNCTIONS_DOC_MAX_ATTEMPTS: '3',
  BUNBASE_FUNCTIONS_MAX_DOC_TRIGGERS: '2',
};
const ONDOC = `
export default async function (req) {
  const ev = await req.json();
  if (ev.event.collection === 'flaky') return new Response('always failing', { status: 500 });
  const doc = ev.event.doc || {};
  if (doc.failFirst && ev.attempt === 1) return new Response('retry me', { status: 503 });
  if (doc.sleep) await new Promise((r) => setTimeout(r, doc.sleep));
  await BunBase.admin().db.collection('seen').insert({ ev: ev.id, doc: ev.event.docId, op: ev.event.op, attempt: ev.attempt, redelivered: ev.redelivered, trigger: req.headers.get('x-bunbase-trigger') });
  return new Response('ok');
}`;

describe('functions: document triggers', () => {
  let srv, G, user, p;
  const fnPath = () => `/v1/projects/${p.id}/functions/ondoc`;
  const write = (method, coll, id, doc) => api(G, method, id && method !== 'POST' ? `/v1/database/collections/${coll}/documents/${id}` : `/v1/database/collections/${coll}/documents`, { token: p.sk, body: doc });
  const seen = async () => {
    const r = await api(G, 'GET', '/v1/database/collections/seen/documents?limit=1000', { token: p.sk });
    return r.status === 200 ? r.json.documents : [];
  };
  const until = async (what, fn, ms = 15000) => {
    const t0 = Date.now();
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  const health = async () => (await api(G, 'GET', '/health')).json.services.functions.triggers.documents;

  before(async () => {
    srv = await startServer({ env: ENV });
    G = srv.url;
    user = await newUser(G, 'fndoc');
    p = await newProject(G, user.access, 'Docs');
    const r = await httpRequest(`${G}${fnPath()}`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: ONDOC });
    assert.equal(r.status, 201, r.text);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('triggers are validated', async () => {
    for (const [body, re] of [
      [{ documents: [{ collection: 'a b' }] }, /collection/],
      [{ documents: [{ collection: 'orders', operations: ['insert'] }] }, /operation/],
      [{ documents: [{ collection: 'orders', operations: [] }] }, /operations/],
      [{ documents: [{ collection: 'a' }, { collection: 'b' }, { collection: 'c' }] }, /MAX_DOC_TRIGGERS/],
      [{ documents: {} }, /array/],
    ]) {
      const x = await api(G, 'PUT', `${fnPath()}/triggers`, { token: user.access, body });
      assert.equal(x.status, 400, JSON.stringify(body));
      assert.equal(x.code, 'invalid_trigger');
      assert.match(x.json.error, re);
    }
  });

  test('invoked once per matching event; retries with backoff; dead letter after N failures', async () => {
    let x = await api(G, 'PUT', `${fnPath()}/triggers`, {
      token: user.access,
      body: { documents: [{ collection: 'orders', operations: ['create', 'delete'] }, { collection: 'flaky' }] },
    });
    assert.equal(x.status, 200, x.text);
    assert.deepEqual(x.json.documents, [{ collection: 'orders', operations: ['create', 'delete'] }, { collection: 'flaky', operations: ['create', 'update', 'delete'] }]);
    await until('the subscription', async () => (await health()).subscribed);
    assert.equal((await write('POST', 'orders', null, { _id: 'o1', total: 1 })).status, 201);
    assert.equal((await write('PUT', 'orders', 'o1', { total: 2 })).status, 200); // update: not subscribed
    assert.equal((await write('POST', 'other', null, { _id: 'x1' })).status, 201); // another collection
    assert.equal((await write('DELETE', 'orders', 'o1')).status, 204);
    assert.equal((await write('POST', 'orders', null, { _id: 'o2', failFirst: true })).status, 201);
    assert.equal((await write('POST', 'flaky', null, { _id: 'f1' })).status, 201);
    const s = await until('three deliveries', async () => { const v = await seen(); return v.length >= 3 && v; });
    await until('the dead letter', async () => (await health()).dead >= 1);
    await sleep(300); // nothing more comes
    const got = (await seen()).map((d) => `${d.doc}:${d.op}:${d.attempt}:${d.trigger}`).sort();
    assert.deepEqual(got, ['o1:create:1:document', 'o1:delete:1:document', 'o2:create:2:document']);
    assert.equal(new Set(s.map((d) => d.ev)).size, 3, 'three distinct event ids');
    x = await api(G, 'GET', `${fnPath()}/triggers`, { token: user.access });
    assert.equal(x.json.deliveries.dead, 1);
    assert.equal(x.json.dead_letters.length, 1);
    assert.equal(x.json.dead_letters[0].attempts, 3);
    assert.equal(x.json.dead_letters[0].last_status, 500);
    assert.match(x.json.dead_letters[0].body, /"docId":"f1"/);
    x = await api(G, 'GET', `${fnPath()}/logs?limit=100`, { token: user.access });
    assert.equal(x.json.invocations.filter((l) => l.trigger === 'document').length, 3 + 1 + 3, 'o2 failed once, f1 three times');
  });

  test('exactly once per event across a SIGKILL of bunbased in the middle (the cut one redelivered)', { timeout: 120000 }, async () => {
    const before_ = (await health()).recorded;
    const N = 8;
    for (let i = 0; i < N; i++) assert.equal((await write('POST', 'orders', null, { _id: `k${i}`, sleep: 150 })).status, 201);
    await until('the events recorded', async () => (await health()).recorded >= before_ + N);
    const early = await seen();
    const dataDir = srv.dataDir;
    await srv.stop('SIGKILL', { keepDir: true });
    srv = await startServer({ env: ENV, dataDir });
    G = srv.url;
    user = { ...user, ...(await loginUser(G, user.email)) };
    const all = await until('every event delivered', async () => {
      const v = await seen();
      return new Set(v.filter((d) => d.doc.startsWith('k')).map((d) => d.doc)).size === N && v;
    }, 30000);
    await sleep(500); // a late duplicate would show here
    const final = await seen();
    assert.ok(early.filter((d) => d.doc.startsWith('k')).length < N, 'the kill came before the burst was through');
    const per = {};
    for (const d of final.filter((x) => x.doc.startsWith('k'))) (per[d.doc] ||= []).push(d);
    const twice = Object.values(per).filter((v) => v.length > 1);
    assert.ok(twice.length <= 1, `at most the one cut by the kill runs twice: ${JSON.stringify(twice)}`);
    for (const v of twice) assert.equal(v.length, 2), assert.ok(v.some((d) => d.redelivered), 'marked redelivered');
    // nothing from before the burst ran again
    assert.equal(final.filter((d) => d.doc === 'o1').length, 2);
    assert.equal(all.length >= N, true);
  });
});
