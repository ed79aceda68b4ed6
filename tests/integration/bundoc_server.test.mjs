// bundoc-server inside a real bunbased (`--services=platform,buncast,bundoc-server`), through the
// gateway: a contract table (happy paths and every error status), project isolation, rules for an
// end user vs admin, realtime events on SSE in commit order (collection and query subscriptions),
// and a SIGKILL during concurrent writes that must not lose an acknowledged document.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { httpRequest, sleep, startServer } from './harness.mjs';

const TOKEN = 'bundoc-server-test-token-0123456789';
const SERVICES = 'platform,buncast,bundoc-server';
const ENV = { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_SSE_HEARTBEAT_MS: '500',
  BUNBASE_BUNDOC_LIMITS_MAX_REQUEST_BYTES: '65536', BUNBASE_BUNDOC_SERVER_RPC_ADDR: '127.0.0.1:0' };

let srv;
const B = (p = 'p1') => `/v1/projects/${p}/databases/(default)`;

function call(method, path, { body, identity = 'admin', token = TOKEN, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (identity) h['X-Bunbase-Identity'] = typeof identity === 'string' ? identity : JSON.stringify(identity);
  let data;
  if (raw !== undefined) data = raw;
  else if (body !== undefined) data = JSON.stringify(body);
  if (data !== undefined) h['Content-Type'] = 'application/json';
  return httpRequest(`${srv.url}${path}`, { method, headers: h, body: data }).then((r) => {
    let json = null;
    try { json = r.body && r.body.length ? JSON.parse(r.body.toString()) : null; } catch {}
    return { status: r.status, json, headers: r.headers };
  });
}

// ---- internal RPC (ProxyDocument): u32 LE length, u64 LE id, u8 command|status, u32 LE len, JSON
let rpcSock = null;
let rpcBuf = Buffer.alloc(0);
let rpcNext = 1n;
const rpcPending = new Map();

async function rpcConnect() {
  const addr = JSON.parse(fs.readFileSync(path.join(srv.dataDir, 'bundoc-server.addr'), 'utf8')).rpc;
  const [host, port] = addr.split(':');
  rpcSock = await new Promise((resolve, reject) => {
    const c = net.connect({ host, port: Number(port) }, () => resolve(c));
    c.once('error', reject);
  });
  rpcSock.on('data', (d) => {
    rpcBuf = Buffer.concat([rpcBuf, d]);
    while (rpcBuf.length >= 4 && rpcBuf.length >= 4 + rpcBuf.readUInt32LE(0)) {
      const len = rpcBuf.readUInt32LE(0);
      const id = rpcBuf.readBigUInt64LE(4);
      const status = rpcBuf[12];
      const plen = rpcBuf.readUInt32LE(13);
      const payload = JSON.parse(rpcBuf.subarray(17, 17 + plen).toString('utf8'));
      rpcBuf = rpcBuf.subarray(4 + len);
      rpcPending.get(id)?.({ status, payload });
      rpcPending.delete(id);
    }
  });
}

function rpcRaw(command, payload) {
  const id = rpcNext++;
  const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const hdr = Buffer.alloc(17);
  hdr.writeUInt32LE(13 + body.length, 0);
  hdr.writeBigUInt64LE(id, 4);
  hdr[12] = command;
  hdr.writeUInt32LE(body.length, 13);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { rpcPending.delete(id); reject(new Error('rpc timeout')); }, 10000);
    rpcPending.set(id, (r) => { clearTimeout(t); resolve(r); });
    rpcSock.write(Buffer.concat([hdr, body]));
  });
}

/** The same request as call(), over RPC; project ids are renamed by `rename` so the HTTP and RPC
 * runs of the table use separate projects. An RPC-level error frame maps to 400. */
async function callRpc(method, urlPath, { body, identity = 'admin', token = TOKEN, headers = {}, raw } = {}, rename = (p) => p) {
  const m = urlPath.match(/^\/(?:v1|api)\/projects\/([^/]+)(\/.*)$/);
  assert.ok(m, `not a project path: ${urlPath}`);
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (identity) h['X-Bunbase-Identity'] = typeof identity === 'string' ? identity : JSON.stringify(identity);
  let data = '';
  if (raw !== undefined) data = raw;
  else if (body !== undefined) data = JSON.stringify(body);
  if (data) h['Content-Type'] = 'application/json';
  const r = await rpcRaw(1, { method, project_id: rename(decodeURIComponent(m[1])), path: m[2], headers: h,
    body: Buffer.from(data).toString('base64') });
  if (r.status !== 0) return { status: 400, json: r.payload, headers: {} };
  const text = Buffer.from(r.payload.body, 'base64').toString('utf8');
  let json = null;
  try { json = text.length ? JSON.parse(text) : null; } catch {}
  return { status: r.payload.status, json, headers: r.payload.headers };
}

function openSSE(path, { method = 'GET', body, identity = 'admin', lastEventId } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(`${srv.url}${path}`);
    const headers = { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': typeof identity === 'string' ? identity : JSON.stringify(identity) };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    const payload = body ? JSON.stringify(body) : undefined;
    if (payload) headers['Content-Type'] = 'application/json';
    const s = { events: [], waiters: new Set(), status: null };
    let buf = '';
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers }, (res) => {
      s.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = { id: null, event: 'message', data: '' };
          const lines = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) continue;
            const k = line.slice(0, line.indexOf(':')); const v = line.slice(line.indexOf(':') + 1).replace(/^ /, '');
            if (k === 'id') ev.id = v; else if (k === 'event') ev.event = v; else if (k === 'data') lines.push(v);
          }
          if (!lines.length && !ev.id) continue;
          ev.data = lines.join('\n');
          try { ev.json = JSON.parse(ev.data); } catch {}
          s.events.push(ev);
        }
        for (const w of [...s.waiters]) w();
      });
      resolve(s);
    });
    s.req = req;
    s.close = () => req.destroy();
    s.waitFor = (n, ms = 10000) => new Promise((res2, rej2) => {
      const check = () => { if (s.events.length >= n) { clearTimeout(t); s.waiters.delete(check); res2(s.events); } };
      const t = setTimeout(() => { s.waiters.delete(check); rej2(new Error(`timeout: ${s.events.length}/${n} events: ${JSON.stringify(s.events)}`)); }, ms);
      s.waiters.add(check); check();
    });
    req.on('error', (e) => { if (s.status === null) reject(e); });
    req.end(payload);
  });
}

before(async () => { srv = await startServer({ services: SERVICES, env: ENV }); });
after(async () => { if (srv) await srv.stop(); });

describe('contract', () => {
  const cases = [
    // [name, method, path, opts, status, check]
    ['create collection', 'POST', `${B()}/collections`, { body: { name: 'todos', schema: { type: 'object', properties: { title: { type: 'string' } } } } }, 201, (j) => assert.equal(j.name, 'todos')],
    ['create collection again', 'POST', `${B()}/collections`, { body: { name: 'todos' } }, 409],
    ['create collection update_if_exists', 'POST', `${B()}/collections`, { body: { name: 'todos', update_if_exists: true } }, 200],
    ['create collection no name', 'POST', `${B()}/collections`, { body: {} }, 400],
    ['create collection invalid json', 'POST', `${B()}/collections`, { raw: '{nope' }, 400],
    ['create collection bad schema', 'POST', `${B()}/collections`, { body: { name: 'bad', schema: { type: 12 } } }, 400],
    ['create collection as end user', 'POST', `${B()}/collections`, { body: { name: 'x' }, identity: { uid: 'u1' } }, 403],
    ['list collections', 'GET', `${B()}/collections`, {}, 200, (j) => assert.deepEqual(j.collections, ['todos'])],
    ['list collections empty project', 'GET', `${B('empty')}/collections`, {}, 200, (j) => assert.deepEqual(j.collections, [])],
    ['get collection', 'GET', `${B()}/collections/todos`, {}, 200, (j) => assert.equal(j.name, 'todos')],
    ['get missing collection', 'GET', `${B()}/collections/nope`, {}, 404],
    // the internal token alone is the internal service (tenant-auth): admin rights plus the
    // reserved _auth_* collections (tenant_auth_reserved.test.mjs); every other caller names one
    ['internal service (no identity header)', 'GET', `${B()}/collections`, { identity: null }, 200, (j) => assert.deepEqual(j.collections, ['todos'])],
    ['bad identity', 'GET', `${B()}/collections`, { identity: '{"claims":1}' }, 401],
    ['no token', 'GET', `${B()}/collections`, { token: null }, 401],
    ['wrong token', 'GET', `${B()}/collections`, { token: 'x'.repeat(30) }, 401],
    ['bad project id', 'GET', `${B('a.b')}/collections`, {}, 400],
    ['create doc', 'POST', `${B()}/collections/todos/documents`, { body: { _id: 'd1', title: 'one' } }, 201, (j) => assert.deepEqual(j, { _id: 'd1', title: 'one' })],
    ['create doc generated id', 'POST', `${B()}/documents/todos`, { body: { title: 'two' } }, 201, (j) => assert.ok(j._id.length >= 20)],
    ['create doc duplicate', 'POST', `${B()}/collections/todos/documents`, { body: { _id: 'd1', title: 'x' } }, 409],
    ['create doc schema violation', 'POST', `${B()}/collections/todos/documents`, { body: { title: 5 } }, 400],
    ['create doc not an object', 'POST', `${B()}/collections/todos/documents`, { raw: '[1]' }, 400],
    ['create doc too large', 'POST', `${B()}/collections/todos/documents`, { body: { title: 'x'.repeat(70000) } }, 413],
    ['get doc', 'GET', `${B()}/collections/todos/documents/d1`, {}, 200, (j) => assert.equal(j.title, 'one')],
    ['get doc other form', 'GET', `${B()}/documents/todos/d1`, {}, 200, (j) => assert.equal(j.title, 'one')],
    ['get missing doc', 'GET', `${B()}/documents/todos/nope`, {}, 404],
    ['patch doc', 'PATCH', `${B()}/documents/todos/d1`, { body: { done: true, 'meta.n': 1 } }, 200, (j) => assert.deepEqual(j, { _id: 'd1', title: 'one', done: true, meta: { n: 1 } })],
    ['patch missing doc', 'PATCH', `${B()}/collections/todos/documents/nope`, { body: { a: 1 } }, 404],
    ['patch schema violation', 'PATCH', `${B()}/documents/todos/d1`, { body: { title: 1 } }, 400],
    ['replace doc', 'PUT', `${B()}/collections/todos/documents/d1`, { body: { title: 'uno', n: 3 } }, 200, (j) => assert.deepEqual(j, { _id: 'd1', title: 'uno', n: 3 })],
    ['replace missing doc', 'PUT', `${B()}/documents/todos/nope`, { body: { title: 'a' } }, 404],
    ['list docs', 'GET', `${B()}/collections/todos/documents?limit=10`, {}, 200, (j) => assert.equal(j.documents.length, 2)],
    ['list docs prefix+fields', 'GET', `${B()}/documents/todos?prefix=d&fields=n`, {}, 200, (j) => assert.deepEqual(j.documents, [{ _id: 'd1', n: 3 }])],
    ['list docs bad limit', 'GET', `${B()}/documents/todos?limit=abc`, {}, 400],
    ['list docs missing collection', 'GET', `${B()}/documents/nope`, {}, 404],
    ['create index', 'POST', `${B()}/collections/todos/indexes`, { body: { name: 'by_n', fields: ['n'], unique: true } }, 201],
    ['create index dup', 'POST', `${B()}/collections/todos/indexes`, { body: { name: 'by_n', fields: ['n'] } }, 409],
    ['create index bad spec', 'POST', `${B()}/collections/todos/indexes`, { body: { name: 'x y', fields: [] } }, 400],
    ['list indexes', 'GET', `${B()}/collections/todos/indexes`, {}, 200, (j) => assert.ok(j.indexes.some((i) => i.name === 'by_n'))],
    ['unique violation', 'POST', `${B()}/documents/todos`, { body: { _id: 'd3', n: 3 } }, 409],
    ['query', 'POST', `${B()}/documents/query`, { body: { collection: 'todos', filter: { n: { $gte: 3 } }, count: true, explain: true } }, 200, (j) => { assert.equal(j.documents.length, 1); assert.equal(j.count, 1); assert.equal(j.explain.plan, 'IXSCAN'); }],
    ['query sort/limit/cursor', 'POST', `${B()}/documents/query`, { body: { collection: 'todos', sort: ['-title'], limit: 1 } }, 200, (j) => { assert.equal(j.documents.length, 1); assert.equal(typeof j.cursor, 'string'); }],
    ['query bad filter', 'POST', `${B()}/documents/query`, { body: { collection: 'todos', filter: { n: { $bogus: 1 } } } }, 400],
    ['query no collection', 'POST', `${B()}/documents/query`, { body: { filter: {} } }, 400],
    ['query missing collection', 'POST', `${B()}/documents/query`, { body: { collection: 'nope' } }, 404],
    ['query empty result', 'POST', `${B()}/documents/query`, { body: { collection: 'todos', filter: { n: 99 } } }, 200, (j) => assert.deepEqual(j.documents, [])],
    ['batch ok', 'POST', `${B()}/batch`, { body: { writes: [{ op: 'create', collection: 'todos', doc: { _id: 'b1', n: 10 } }, { op: 'patch', collection: 'todos', id: 'b1', patch: { x: 1 } }] } }, 200, (j) => assert.equal(j.results[1].doc.x, 1)],
    ['batch all or nothing', 'POST', `${B()}/batch`, { body: { writes: [{ op: 'create', collection: 'todos', doc: { _id: 'b2' } }, { op: 'delete', collection: 'todos', id: 'nope' }] } }, 404, (j) => assert.equal(j.index, 1)],
    ['batch left nothing', 'GET', `${B()}/documents/todos/b2`, {}, 404],
    ['batch bad op', 'POST', `${B()}/batch`, { body: { writes: [{ op: 'zap', collection: 'todos' }] } }, 400],
    ['delete index', 'DELETE', `${B()}/collections/todos/indexes/by_n`, {}, 204],
    ['delete missing index', 'DELETE', `${B()}/collections/todos/indexes/by_n`, {}, 404],
    ['delete doc', 'DELETE', `${B()}/collections/todos/documents/d1`, {}, 204],
    ['delete doc again', 'DELETE', `${B()}/documents/todos/d1`, {}, 404],
    ['update schema', 'PATCH', `${B()}/collections/todos`, { body: { schema: { type: 'object' } } }, 200],
    ['update schema bad', 'PATCH', `${B()}/collections/todos`, { body: { schema: 7 } }, 400],
    ['update schema missing', 'PATCH', `${B()}/collections/nope`, { body: { schema: { type: 'object' } } }, 404],
    ['rules bad', 'PATCH', `${B()}/collections/todos/rules`, { body: { rules: { read: 'request.auth ==' } } }, 400],
    ['rules missing coll', 'PATCH', `${B()}/collections/nope/rules`, { body: { rules: {} } }, 404],
    ['api alias', 'GET', `/api/projects/p1/databases/(default)/collections`, {}, 200],
    ['delete collection', 'DELETE', `${B()}/collections/todos`, {}, 204],
    ['delete collection again', 'DELETE', `${B()}/collections/todos`, {}, 404],
  ];
  const runTable = async (send) => {
    for (const [name, method, path, opts, status, check] of cases) {
      const r = await send(method, path, opts);
      assert.equal(r.status, status, `${name}: ${method} ${path} → ${r.status} ${JSON.stringify(r.json)}`);
      if (status >= 400) {
        assert.ok(r.json && typeof r.json.error === 'string' && typeof r.json.code === 'string', `${name}: error shape ${JSON.stringify(r.json)}`);
      }
      if (check) check(r.json);
    }
  };
  test('table of cases', async () => { await runTable(call); });
  // The same table through the internal RPC, on renamed projects: same statuses, same bodies checks.
  test('table of cases over RPC', async () => {
    await rpcConnect();
    try {
      await runTable((m, p, o) => callRpc(m, p, o, (pid) => `rpc_${pid}`));
    } finally {
      rpcSock.destroy();
    }
  });
  test('RPC protocol errors', async () => {
    await rpcConnect();
    try {
      let r = await rpcRaw(9, {});
      assert.equal(r.status, 1);
      assert.match(r.payload.error, /unknown command 9/);
      r = await rpcRaw(1, '{nope');
      assert.equal(r.status, 1);
      assert.match(r.payload.error, /invalid payload/);
      r = await rpcRaw(1, { method: 'GET', project_id: '../x', path: '/databases/(default)/collections' });
      assert.equal(r.status, 1);
      r = await rpcRaw(1, { method: 'GET', project_id: 'p1', path: '/databases/(default)/collections/x/subscribe',
        headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' } });
      assert.equal(r.status, 0);
      assert.equal(r.payload.status, 400); // streams are HTTP only
      // headers are not optional extras: without the token the request is 401 as over HTTP
      r = await rpcRaw(1, { method: 'GET', project_id: 'p1', path: '/databases/(default)/collections' });
      assert.equal(r.payload.status, 401);
    } finally {
      rpcSock.destroy();
    }
  });
});

test('projects are isolated', async () => {
  assert.equal((await call('POST', `${B('iso_a')}/documents/things`, { body: { _id: 'x', v: 'a' } })).status, 201);
  assert.equal((await call('POST', `${B('iso_b')}/documents/things`, { body: { _id: 'x', v: 'b' } })).status, 201);
  assert.equal((await call('GET', `${B('iso_a')}/documents/things/x`)).json.v, 'a');
  assert.equal((await call('GET', `${B('iso_b')}/documents/things/x`)).json.v, 'b');
  assert.equal((await call('DELETE', `${B('iso_a')}/documents/things/x`)).status, 204);
  assert.equal((await call('GET', `${B('iso_b')}/documents/things/x`)).status, 200);
  assert.equal((await call('GET', `${B('iso_c')}/documents/things/x`)).status, 404);
});

test('rules: end users are filtered and denied, admin bypasses', async () => {
  const P = B('rules');
  assert.equal((await call('POST', `${P}/collections`, { body: { name: 'notes', rules: {
    read: 'request.auth != null && resource.data.owner == request.auth.uid',
    create: 'request.auth != null && resource.data.owner == request.auth.uid',
    update: 'request.auth != null && resource.data.owner == request.auth.uid',
    delete: 'request.auth != null && resource.data.owner == request.auth.uid' } } })).status, 201);
  const alice = { uid: 'alice', claims: {} }, bob = { uid: 'bob' };
  assert.equal((await call('POST', `${P}/documents/notes`, { body: { _id: 'a1', owner: 'alice' }, identity: alice })).status, 201);
  assert.equal((await call('POST', `${P}/documents/notes`, { body: { _id: 'b1', owner: 'bob' }, identity: bob })).status, 201);
  const denied = await call('POST', `${P}/documents/notes`, { body: { _id: 'x1', owner: 'alice' }, identity: bob });
  assert.equal(denied.status, 403);
  assert.equal((await call('POST', `${P}/documents/notes`, { body: { owner: 'alice' }, identity: 'anonymous' })).status, 403);
  assert.equal((await call('GET', `${P}/documents/notes/b1`, { identity: alice })).status, 403);
  assert.equal((await call('PATCH', `${P}/documents/notes/b1`, { body: { t: 1 }, identity: alice })).status, 403);
  assert.equal((await call('DELETE', `${P}/documents/notes/b1`, { identity: alice })).status, 403);
  const list = await call('GET', `${P}/documents/notes`, { identity: alice });
  assert.deepEqual(list.json.documents.map((d) => d._id), ['a1']);
  const q = await call('POST', `${P}/documents/query`, { body: { collection: 'notes' }, identity: bob });
  assert.deepEqual(q.json.documents.map((d) => d._id), ['b1']);
  const all = await call('GET', `${P}/documents/notes`);
  assert.deepEqual(all.json.documents.map((d) => d._id), ['a1', 'b1']);
  assert.equal((await call('DELETE', `${P}/documents/notes/b1`)).status, 204);
});

test('realtime: create/update/delete arrive in commit order; query subscriptions filter and say removed', async () => {
  const P = B('rt');
  assert.equal((await call('POST', `${P}/collections`, { body: { name: 'items' } })).status, 201);
  const missing = await openSSE(`${P}/collections/nope/subscribe`);
  assert.equal(missing.status, 404);
  missing.close();
  const all = await openSSE(`${P}/collections/items/subscribe`);
  assert.equal(all.status, 200);
  const hot = await openSSE(`${P}/documents/query/subscribe`, { method: 'POST', body: { collection: 'items', filter: { hot: true } } });
  assert.equal(hot.status, 200);
  const N = 20;
  for (let i = 0; i < N; i++) {
    assert.equal((await call('POST', `${P}/documents/items`, { body: { _id: `i${String(i).padStart(2, '0')}`, n: i, hot: false } })).status, 201);
    assert.equal((await call('PATCH', `${P}/documents/items/i${String(i).padStart(2, '0')}`, { body: { n: i + 100 } })).status, 200);
  }
  assert.equal((await call('PATCH', `${P}/documents/items/i03`, { body: { hot: true } })).status, 200);
  assert.equal((await call('PATCH', `${P}/documents/items/i03`, { body: { n: 7 } })).status, 200);
  assert.equal((await call('PATCH', `${P}/documents/items/i03`, { body: { hot: false } })).status, 200);
  assert.equal((await call('DELETE', `${P}/documents/items/i04`)).status, 204);
  const evs = await all.waitFor(2 * N + 4);
  const expect = [];
  for (let i = 0; i < N; i++) expect.push(['added', 'create', i], ['modified', 'update', i]);
  expect.push(['modified', 'update', 3], ['modified', 'update', 3], ['modified', 'update', 3], ['removed', 'delete', 4]);
  assert.deepEqual(evs.map((e) => [e.event, e.json.op, Number(e.json.docId.slice(1))]), expect);
  assert.equal(evs[1].json.doc.n, 100, 'update events carry the whole document');
  assert.equal(evs[evs.length - 1].json.doc, null);
  const ids = evs.map((e) => Number(e.id.split('-')[1]));
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], 'ids increase');
  const hevs = await hot.waitFor(3);
  await sleep(200);
  assert.deepEqual(hot.events.map((e) => [e.event, e.json.docId]), [['added', 'i03'], ['modified', 'i03'], ['removed', 'i03']]);
  assert.equal(hevs[2].json.doc, null);
  // resume: everything after the 38th event
  const resumed = await openSSE(`${P}/collections/items/subscribe`, { lastEventId: evs[37].id });
  const revs = await resumed.waitFor(evs.length - 38);
  assert.deepEqual(revs.map((e) => e.id), evs.slice(38).map((e) => e.id));
  const stale = await openSSE(`${P}/collections/items/subscribe`, { lastEventId: '1-1' });
  const sevs = await stale.waitFor(1);
  assert.equal(sevs[0].event, 'reset');
  for (const s of [all, hot, resumed, stale]) s.close();
});

test('SIGKILL during concurrent writes loses no acknowledged document', async () => {
  const crash = await startServer({ services: SERVICES, env: ENV });
  const saved = srv;
  srv = crash;
  const P = B('crash');
  const acked = new Set();
  let stop = false;
  const writer = async (w) => {
    for (let i = 0; !stop; i++) {
      const id = `w${w}-${i}`;
      try {
        const r = await call('POST', `${P}/documents/docs`, { body: { _id: id, w, i, pad: 'x'.repeat(200) } });
        if (r.status === 201) acked.add(id);
      } catch { return; }
    }
  };
  const writers = [0, 1, 2, 3, 4, 5, 6, 7].map(writer);
  while (acked.size < 200) await sleep(20);
  await crash.stop('SIGKILL', { keepDir: true });
  stop = true;
  await Promise.all(writers);
  const again = await startServer({ services: SERVICES, env: ENV, dataDir: crash.dataDir });
  srv = again;
  try {
    const found = new Set();
    let cursor = null;
    for (;;) {
      const r = await call('POST', `${P}/documents/query`, { body: { collection: 'docs', limit: 1000, fields: ['_id'], ...(cursor ? { cursor } : {}) } });
      assert.equal(r.status, 200);
      for (const d of r.json.documents) found.add(d._id);
      if (!r.json.cursor) break;
      cursor = r.json.cursor;
    }
    const lost = [...acked].filter((id) => !found.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged documents lost`);
  } finally {
    srv = saved;
    await again.stop();
  }
});
