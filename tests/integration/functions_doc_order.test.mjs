// Functions: document-trigger deliveries are serialized per function (docs/functions.md,
// "Triggers"): with several trigger threads (BUNBASE_FUNCTIONS_TRIGGER_WORKERS=4), N quick writes
// to a subscribed collection reach one function one at a time, in the order of the events — each
// invocation starts after the previous one ended — while another function subscribed to the same
// collection runs beside it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const ENV = {
  ...FAST_ENV,
  BUNBASE_WORKERS: '8',
  BUNBASE_HEALTH_INTERVAL_MS: '100',
  BUNBASE_FUNCTIONS_TRIGGER_WORKERS: '4',
  BUNBASE_FUNCTIONS_MIN_WARM: '0',
};
// each delivery takes a while, so that deliveries run side by side unless serialized
const RECORDER = `
export default async function (req) {
  const ev = await req.json();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 60));
  console.log(JSON.stringify({ doc: ev.event.docId, t0, t1: Date.now() }));
  return new Response('ok');
}`;

describe('functions: document deliveries in event order per function', () => {
  let srv, G, user, p;
  const N = 8;
  const deploy = (name) => httpRequest(`${G}/v1/projects/${p.id}/functions/${name}`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: RECORDER });
  const seen = async (name) => {
    const x = await api(G, 'GET', `/v1/projects/${p.id}/functions/${name}/logs?limit=100`, { token: user.access });
    return x.json.invocations.filter((l) => l.trigger === 'document' && l.status === 200)
      .map((l) => JSON.parse(/\{.*\}/.exec(l.logs)[0]));
  };

  before(async () => {
    srv = await startServer({ env: ENV });
    G = srv.url;
    user = await newUser(G, 'fnord');
    p = await newProject(G, user.access, 'Order');
    for (const name of ['first', 'second']) {
      const r = await deploy(name);
      assert.equal(r.status, 201, r.text);
      const x = await api(G, 'PUT', `/v1/projects/${p.id}/functions/${name}/triggers`, { token: user.access, body: { documents: [{ collection: 'items', operations: ['create'] }] } });
      assert.equal(x.status, 200, x.text);
    }
  });
  after(async () => { if (srv) await srv.stop(); });

  test('N quick inserts: one at a time, in event order, for each function', { timeout: 60000 }, async () => {
    const health = async () => (await api(G, 'GET', '/health')).json.services.functions.triggers.documents;
    for (let t0 = Date.now(); !(await health()).subscribed; await sleep(50))
      assert.ok(Date.now() - t0 < 15000, 'the subscription');
    const ids = Array.from({ length: N }, (_, i) => `d${String(i).padStart(2, '0')}`);
    for (const id of ids)
      assert.equal((await api(G, 'POST', '/v1/database/collections/items/documents', { token: p.sk, body: { _id: id } })).status, 201);
    const runs = {};
    for (const name of ['first', 'second']) {
      for (let t0 = Date.now(); ; await sleep(100)) {
        runs[name] = await seen(name);
        if (runs[name].length >= N) break;
        assert.ok(Date.now() - t0 < 30000, `${name}: ${runs[name].length} of ${N} deliveries`);
      }
      const r = runs[name].sort((a, b) => a.t0 - b.t0);
      assert.deepEqual(r.map((x) => x.doc), ids, `${name}: in event order`);
      for (let i = 1; i < r.length; i++)
        assert.ok(r[i].t0 >= r[i - 1].t1, `${name}: ${r[i].doc} started before ${r[i - 1].doc} ended`);
    }
    // the two functions are not serialized against each other: their runs interleave
    const overlap = runs.first.some((a) => runs.second.some((b) => a.t0 < b.t1 && b.t0 < a.t1));
    assert.ok(overlap, 'two functions run side by side');
  });
});
