// bundoc-server lifecycle: idle eviction (closed when idle, never while an SSE subscriber is open),
// change events published to buncast (topic db.<projectId>.collection.<name>, CloudEvents envelope
// with {op, collection, docId, doc}), and the own-listener mode (BUNBASE_BUNDOC_SERVER_ADDR) with
// its /health shape.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { freePort, httpRequest, sleep, startServer } from './harness.mjs';

const TOKEN = 'bundoc-server-life-token-0123456789';
const AUTH = { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' };
let srv, bcPort, ownPort;

function call(base, method, path, body) {
  const headers = { ...AUTH };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return httpRequest(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    .then((r) => ({ status: r.status, json: r.body && r.body.length ? JSON.parse(r.body.toString()) : null }));
}

function openStream(url, headers) {
  return new Promise((resolve, reject) => {
    const s = { text: '', status: null };
    const req = http.get(url, { headers }, (res) => {
      s.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (c) => { s.text += c; });
      resolve(s);
    });
    req.on('error', (e) => { if (s.status === null) reject(e); });
    s.close = () => req.destroy();
  });
}

async function metric(name) {
  const r = await httpRequest(`${srv.url}/metrics`);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.body.toString());
  return m ? Number(m[1]) : NaN;
}

async function until(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await pred()) return true; await sleep(50); }
  return false;
}

before(async () => {
  bcPort = await freePort();
  ownPort = await freePort();
  srv = await startServer({
    services: 'platform,buncast,bundoc-server',
    env: {
      BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN,
      BUNBASE_BUNCAST_ADDR: `127.0.0.1:${bcPort}`, BUNBASE_BUNDOC_SERVER_ADDR: `127.0.0.1:${ownPort}`,
      BUNBASE_BUNDOC_IDLE_MS: '300', BUNBASE_BUNDOC_EVICT_INTERVAL_MS: '100',
    },
  });
});
after(async () => { if (srv) await srv.stop(); });

test('own listener: routes and /health', async () => {
  const own = `http://127.0.0.1:${ownPort}`;
  const h = await httpRequest(`${own}/health`);
  const j = JSON.parse(h.body.toString());
  assert.equal(j.status, 'ok');
  // the host's one /health shape: this listener's service only
  assert.deepEqual(Object.keys(j.services), ['bundoc-server']);
  assert.equal(typeof j.services['bundoc-server'].instances, 'number');
  assert.equal(typeof j.services['bundoc-server'].active, 'number');
  // and the host's /metrics (public on a loopback listener)
  const m = await httpRequest(`${own}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.body.toString(), /bunbase_bundoc_instances/);
  assert.equal((await call(own, 'GET', '/v1/projects/own/databases/(default)/collections')).status, 200);
  // not mounted on the gateway in this mode
  assert.equal((await call(srv.url, 'GET', '/v1/projects/own/databases/(default)/collections')).status, 404);
});

test('idle instances are evicted, never while subscribed', async () => {
  const own = `http://127.0.0.1:${ownPort}`;
  assert.equal((await call(own, 'POST', '/v1/projects/ev1/databases/d/documents/c', { _id: 'a' })).status, 201);
  assert.ok(await until(async () => (await metric('bunbase_bundoc_instances')) === 0), 'evicted when idle');
  assert.ok((await metric('bunbase_bundoc_evictions_total')) >= 2);
  assert.equal((await call(own, 'GET', '/v1/projects/ev1/databases/d/documents/c/a')).status, 200, 'reopened lazily');
  const sub = await openStream(`${own}/v1/projects/ev1/databases/d/collections/c/subscribe`, AUTH);
  assert.equal(sub.status, 200);
  await sleep(1000);
  assert.equal(await metric('bunbase_bundoc_instances'), 1, 'kept open while subscribed');
  assert.equal((await call(own, 'PATCH', '/v1/projects/ev1/databases/d/documents/c/a', { x: 1 })).status, 200);
  assert.ok(await until(() => sub.text.includes('"op":"update"')), 'subscriber still receives events');
  sub.close();
  assert.ok(await until(async () => (await metric('bunbase_bundoc_instances')) === 0), 'evicted after unsubscribe');
});

test('changes are published to buncast', async () => {
  const own = `http://127.0.0.1:${ownPort}`;
  const s = await openStream(`http://127.0.0.1:${bcPort}/subscribe?topic=db.bc.collection.items`, { Authorization: `Bearer ${TOKEN}` });
  assert.equal(s.status, 200);
  await sleep(300); // the service's buncast client connects in the background
  assert.equal((await call(own, 'POST', '/v1/projects/bc/databases/d/documents/items', { _id: 'i1', n: 1 })).status, 201);
  assert.equal((await call(own, 'PATCH', '/v1/projects/bc/databases/d/documents/items/i1', { n: 2 })).status, 200);
  assert.equal((await call(own, 'DELETE', '/v1/projects/bc/databases/d/documents/items/i1')).status, 204);
  assert.ok(await until(() => (s.text.match(/^data:/gm) || []).length >= 3), `3 events, got ${s.text}`);
  const evs = s.text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
  assert.deepEqual(evs.map((e) => [e.specversion, e.data.op, e.data.collection, e.data.docId]),
    [['1.0', 'create', 'items', 'i1'], ['1.0', 'update', 'items', 'i1'], ['1.0', 'delete', 'items', 'i1']]);
  assert.deepEqual(evs[1].data.doc, { _id: 'i1', n: 2 });
  s.close();
});
