// bundoc-server hardening (issue 11): one collection-name rule on every path that takes a name,
// a non-string _id is refused instead of replaced, a PATCH may not build a document deeper than a
// request body may be, per-query work budgets (documents examined, regex match limits, wall
// time) answered 400 query_too_expensive while other projects keep being served, and change
// events too large for a stream delivered as a small notice instead of closing the stream.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { freePort, parsePrometheus, sleep, startServer } from './harness.mjs';

const TOKEN = 'bundoc-server-hardening-token-0123456789';
let srv, bcPort;
const B = (p = 'h1') => `/v1/projects/${p}/databases/(default)`;

// http.request with the path exactly as given (no URL normalisation of "..").
function call(method, path, body, { identity = 'admin', timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(srv.url);
    const headers = { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': identity };
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    if (data !== undefined) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = Buffer.byteLength(data); }
    const req = http.request({ host: u.hostname, port: u.port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text.length ? JSON.parse(text) : null; } catch {}
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end(data);
  });
}

function openSSE(path, { lastEventId } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(srv.url);
    const headers = { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    const s = { events: [], waiters: new Set(), status: null, ended: false };
    let buf = '';
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET', headers, agent: false }, (res) => {
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
      res.on('end', () => { s.ended = true; });
      res.on('close', () => { s.ended = true; });
      resolve(s);
    });
    s.close = () => req.destroy();
    s.waitFor = (n, ms = 10000) => new Promise((res2, rej2) => {
      const check = () => { if (s.events.length >= n) { clearTimeout(t); s.waiters.delete(check); res2(s.events); } };
      const t = setTimeout(() => { s.waiters.delete(check); rej2(new Error(`timeout: ${s.events.length}/${n} events`)); }, ms);
      s.waiters.add(check); check();
    });
    req.on('error', (e) => { if (s.status === null) reject(e); });
    req.end();
  });
}

before(async () => {
  bcPort = await freePort();
  srv = await startServer({
    services: 'platform,buncast,bundoc-server',
    env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_SSE_HEARTBEAT_MS: '500',
      BUNBASE_BUNCAST_ADDR: `127.0.0.1:${bcPort}` },
  });
});

// buncast's own SSE subscription: the raw text of the stream.
function openBuncast(topic) {
  return new Promise((resolve, reject) => {
    const s = { text: '', status: null };
    const req = http.get(`http://127.0.0.1:${bcPort}/subscribe?topic=${topic}`, { headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
      s.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (c) => { s.text += c; });
      resolve(s);
    });
    req.on('error', (e) => { if (s.status === null) reject(e); });
    s.close = () => req.destroy();
    s.events = () => s.text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)).data);
  });
}
after(async () => { if (srv) await srv.stop(); });

test('collection names: one rule on every path (.., x., .x, a/b, __meta refused with 400)', async () => {
  const P = B();
  assert.equal((await call('POST', `${P}/collections`, { name: 'ok_Name-1' })).status, 201);
  for (const bad of ['..', 'x.', '.x', 'a/b', 'a.b', '__meta', 'x y', 'é', 'a'.repeat(129)]) {
    const enc = encodeURIComponent(bad);
    const paths = [
      ['POST', `${P}/collections`, { name: bad }],
      ['POST', `${P}/documents/query`, { collection: bad, filter: {} }],
      ['POST', `${P}/documents/query/subscribe`, { collection: bad }],
      ['POST', `${P}/batch`, { writes: [{ op: 'create', collection: bad, doc: { a: 1 } }] }],
      ['POST', `${P}/documents/${enc}`, { a: 1 }],
      ['POST', `${P}/collections/${enc}/documents`, { a: 1 }],
      ['GET', `${P}/collections/${enc}`],
      ['GET', `${P}/collections/${enc}/documents`],
      ['GET', `${P}/documents/${enc}/d1`],
      ['PUT', `${P}/documents/${enc}/d1`, { a: 1 }],
      ['DELETE', `${P}/collections/${enc}`],
      ['GET', `${P}/collections/${enc}/subscribe`],
    ];
    for (const [m, p, body] of paths) {
      const r = await call(m, p, body);
      assert.equal(r.status, 400, `${m} ${p} ${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.json.error, /invalid collection name/);
    }
  }
  // the literal ".." segment (not normalised away by the client)
  let r = await call('POST', `${P}/documents/..`, { a: 1 });
  assert.equal(r.status, 400, r.text);
  r = await call('GET', `${P}/collections/x./documents`);
  assert.equal(r.status, 400, r.text);
  // nothing was created
  r = await call('GET', `${P}/collections`);
  assert.deepEqual(r.json.collections, ['ok_Name-1']);
});

test('_id must be a non-empty string: 5, null, {} and "" are refused, nothing is stored', async () => {
  const P = B();
  for (const id of [5, null, {}, [], true, '']) {
    let r = await call('POST', `${P}/documents/ids`, { _id: id, v: 1 });
    assert.equal(r.status, 400, `${JSON.stringify(id)}: ${r.text}`);
    assert.match(r.json.error, /_id/);
    r = await call('POST', `${P}/batch`, { writes: [{ op: 'create', collection: 'ids', doc: { _id: id } }] });
    assert.equal(r.status, 400, r.text);
  }
  assert.equal((await call('POST', `${P}/documents/ids`, { _id: 'd1', v: 1 })).status, 201);
  let r = await call('PUT', `${P}/documents/ids/d1`, { _id: 5, v: 2 });
  assert.equal(r.status, 400, r.text);
  r = await call('POST', `${P}/documents/query`, { collection: 'ids' });
  assert.deepEqual(r.json.documents, [{ _id: 'd1', v: 1 }]);
  // a generated _id still works
  r = await call('POST', `${P}/documents/ids`, { v: 3 });
  assert.equal(r.status, 201);
  assert.equal(typeof r.json._id, 'string');
});

test('PATCH that would nest deeper than a request body may is 400 and leaves the document unchanged', async () => {
  const P = B();
  const deep = (n) => { let v = 1; for (let i = 0; i < n; i++) v = { d: v }; return v; };
  assert.equal((await call('POST', `${P}/documents/deep`, { _id: 'a', top: deep(40) })).status, 201);
  // the body itself is shallow enough (depth 41 + a path of 30 segments), the result is not
  const path = Array.from({ length: 30 }, () => 'x').join('.');
  let r = await call('PATCH', `${P}/documents/deep/a`, { [path]: deep(40) });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error, /deeper than 64/);
  r = await call('GET', `${P}/documents/deep/a`);
  assert.deepEqual(r.json, { _id: 'a', top: deep(40) });
  // up to the limit it works, and GET -> PUT round-trips
  r = await call('PATCH', `${P}/documents/deep/a`, { 'y.z': deep(61) });
  assert.equal(r.status, 200, r.text);
  r = await call('GET', `${P}/documents/deep/a`);
  assert.equal(r.status, 200);
  assert.equal((await call('PUT', `${P}/documents/deep/a`, r.text)).status, 200);
  // in a batch too (one transaction: nothing of it is written)
  r = await call('POST', `${P}/batch`, { writes: [
    { op: 'create', collection: 'deep', doc: { _id: 'b' } },
    { op: 'patch', collection: 'deep', id: 'a', patch: { [path]: deep(40) } }] });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.index, 1);
  assert.equal((await call('GET', `${P}/documents/deep/b`)).status, 404);
});

async function seed(P, coll, docs) {
  for (let i = 0; i < docs.length; i += 500) {
    const r = await call('POST', `${P}/batch`, { writes: docs.slice(i, i + 500).map((doc) => ({ op: 'create', collection: coll, doc })) });
    assert.equal(r.status, 200, r.text);
  }
}

async function metric(name) {
  const r = await call('GET', '/metrics');
  const m = parsePrometheus(r.text);
  return m.samples.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
}

test('a catastrophic $regex scan is stopped by its budget (400 query_too_expensive); other projects are served meanwhile', async () => {
  const P = B('evil');
  const evil = 'a'.repeat(28) + '!';
  await seed(P, 'ev', Array.from({ length: 300 }, (_, i) => ({ _id: `e${String(i).padStart(4, '0')}`, s: i % 50 ? 'aaaa' : evil })));
  assert.equal((await call('POST', `${B('calm')}/documents/c`, { _id: 'x', v: 1 })).status, 201);
  const before = await metric('bunbase_bundoc_queries_too_expensive_total');
  const filter = { s: { $regex: '^(a+)+$' } };
  const scans = [];
  for (let i = 0; i < 16; i++) {
    scans.push(call('POST', `${P}/documents/query`, { collection: 'ev', filter }));
    scans.push(call('GET', `${P}/collections/ev/documents?prefix=e0`)); // a cheap list on the same project
  }
  const calm = await call('GET', `${B('calm')}/documents/c/x`);
  assert.equal(calm.status, 200, calm.text);
  const res = await Promise.all(scans);
  for (let i = 0; i < res.length; i += 2) {
    assert.equal(res[i].status, 400, res[i].text);
    assert.equal(res[i].json.code, 'query_too_expensive');
    assert.match(res[i].json.error, /regular expression exceeded its match limit/);
    assert.equal(res[i + 1].status, 200, res[i + 1].text);
  }
  assert.equal(await metric('bunbase_bundoc_queries_too_expensive_total'), before + 16);
  // a regex that stays under the limit still works, and the documents without a blow-up match
  const ok = await call('POST', `${P}/documents/query`, { collection: 'ev', filter: { s: { $regex: '^a+$' } }, count: true });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.count, 294);
});

test('budget knobs: documents examined, wall time and the regex match limit are configurable', async () => {
  const s2 = await startServer({
    services: 'platform,bundoc-server',
    env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN,
      BUNBASE_BUNDOC_LIMITS_QUERY_MAX_DOCS_EXAMINED: '50', BUNBASE_BUNDOC_LIMITS_QUERY_TIMEOUT_MS: '1',
      BUNBASE_BUNDOC_LIMITS_REGEX_MATCH_LIMIT: '100000000' },
  });
  const saved = srv;
  srv = s2;
  try {
    const P = B('knobs');
    await seed(P, 'many', Array.from({ length: 120 }, (_, i) => ({ _id: `m${String(i).padStart(3, '0')}`, n: i })));
    let r = await call('POST', `${P}/documents/query`, { collection: 'many', filter: { n: { $gte: 100 } } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 'query_too_expensive');
    assert.match(r.json.error, /examined more than 50 documents/);
    r = await call('GET', `${P}/collections/many/documents`);
    assert.equal(r.status, 400, r.text);
    // a page that stops early stays within the budget
    r = await call('GET', `${P}/collections/many/documents?limit=10`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.documents.length, 10);
    // with a huge match limit, 22 a's do not hit it, but the 1 ms clock stops the scan
    await seed(P, 'slow', Array.from({ length: 20 }, (_, i) => ({ _id: `s${i}`, s: 'a'.repeat(22) + '!' })));
    r = await call('POST', `${P}/documents/query`, { collection: 'slow', filter: { s: { $regex: '^(a+)+$' } } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 'query_too_expensive');
    assert.match(r.json.error, /ran longer than 1 ms/);
  } finally {
    srv = saved;
    await s2.stop();
  }
});

test('a 5 MiB document reaches SSE subscribers as a notice with its id; streams stay open and resume works', async () => {
  const P = B('big');
  assert.equal((await call('POST', `${P}/collections`, { name: 'big' })).status, 201);
  const before = await metric('bunbase_bundoc_events_too_large_total');
  const a = await openSSE(`${P}/collections/big/subscribe`);
  assert.equal(a.status, 200);
  const bc = await openBuncast('db.big.collection.big');
  assert.equal(bc.status, 200);
  await sleep(300); // the service's buncast client connects in the background
  assert.equal((await call('POST', `${P}/documents/big`, { _id: 's1', v: 1 })).status, 201);
  const blob = 'x'.repeat(5 * 1024 * 1024);
  let r = await call('POST', `${P}/documents/big`, { _id: 'huge', blob });
  assert.equal(r.status, 201);
  assert.equal((await call('POST', `${P}/documents/big`, { _id: 's2', v: 2 })).status, 201);
  let evs = await a.waitFor(3);
  assert.deepEqual(evs.map((e) => [e.event, e.json.docId]), [['added', 's1'], ['added', 'huge'], ['added', 's2']]);
  assert.deepEqual(evs[0].json.doc, { _id: 's1', v: 1 });
  assert.equal(evs[1].json.doc, null);
  assert.equal(evs[1].json.tooLarge, true);
  assert.equal(evs[1].json.op, 'create');
  assert.ok(evs[1].json.bytes > blob.length, JSON.stringify(evs[1].json));
  assert.ok(evs[1].data.length < 1024, 'the notice is small');
  // resuming from before the large event replays the notice, and the stream stays usable
  const b = await openSSE(`${P}/collections/big/subscribe`, { lastEventId: evs[0].id });
  assert.equal(b.status, 200);
  const bevs = await b.waitFor(2);
  assert.deepEqual(bevs.map((e) => [e.id, e.json.docId, e.json.tooLarge ?? false]), [[evs[1].id, 'huge', true], [evs[2].id, 's2', false]]);
  // an update of the large document is a notice too; later small events still arrive on both
  assert.equal((await call('PATCH', `${P}/documents/big/huge`, { n: 1 })).status, 200);
  assert.equal((await call('POST', `${P}/documents/big`, { _id: 's3', v: 3 })).status, 201);
  evs = await a.waitFor(5);
  assert.deepEqual(evs.slice(3).map((e) => [e.event, e.json.docId, e.json.tooLarge ?? false]), [['modified', 'huge', true], ['added', 's3', false]]);
  await b.waitFor(4);
  assert.equal(a.ended, false);
  assert.equal(b.ended, false);
  assert.equal(await metric('bunbase_bundoc_events_too_large_total'), before + 2);
  // buncast got the same notice instead of dropping the event (its limit is 1 MiB)
  for (let i = 0; i < 100 && bc.events().length < 5; i++) await sleep(50);
  assert.deepEqual(bc.events().map((d) => [d.docId, d.tooLarge ?? false, d.doc === null]),
    [['s1', false, false], ['huge', true, true], ['s2', false, false], ['huge', true, true], ['s3', false, false]]);
  bc.close();
  // the document itself is readable by its id
  r = await call('GET', `${P}/documents/big/huge`);
  assert.equal(r.status, 200);
  assert.equal(r.json.blob.length, blob.length);
  a.close();
  b.close();
});
