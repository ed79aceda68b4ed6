// Index builds through bundoc-server with the build knobs (BUNBASE_BUNDOC_INDEX_BUILD_*): a build
// whose extracted entries are over BUNBASE_BUNDOC_INDEX_BUILD_MEMORY_MB (external sort: sorted
// runs spilled and merged) answers index queries exactly as the data says, in small batches
// (BUILD_BATCH); the fill factor reaches the loader (a 10 % build writes several times the pages
// of a 100 % one); an out-of-range value stops the start with the knob named.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest, runBunbased, startServer } from './harness.mjs';

const TOKEN = 'bundoc-index-build-test-token-0123456789';
const SERVICES = 'platform,buncast,bundoc-server';
const B = '/v1/projects/p1/databases/(default)';
const N = 3000;
const pad = (i) => `${String(i * 7919 % N).padStart(6, '0')}-${'x'.repeat(600)}`; // ~610 B, all distinct

async function withServer(env, fn) {
  const srv = await startServer({
    services: SERVICES,
    env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_BUNDOC_LIMITS_MAX_SCAN_DOCS: '10000', ...env },
  });
  const call = async (method, p, body) => {
    const r = await httpRequest(`${srv.url}${p}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: r.body && r.body.length ? JSON.parse(r.body.toString()) : null };
  };
  try {
    return await fn(srv, call);
  } finally {
    await srv.stop();
  }
}

// The documents, then the index on s; returns the bytes data.db + wal grew by during the build.
async function load(srv, call) {
  assert.equal((await call('POST', `${B}/collections`, { name: 'items' })).status, 201);
  for (let i = 0; i < N; i += 500) {
    const writes = [];
    for (let j = i; j < i + 500; j++) writes.push({ op: 'create', collection: 'items', doc: { _id: `d${j}`, s: pad(j), n: j } });
    const r = await call('POST', `${B}/batch`, { writes });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  const dir = path.join(srv.dataDir, 'bundoc', 'projects', 'p1');
  const size = () => ['data.db', 'wal'].reduce((a, f) => a + (fs.existsSync(path.join(dir, f)) ? fs.statSync(path.join(dir, f)).size : 0), 0);
  const before = size();
  const c = await call('POST', `${B}/collections/items/indexes`, { name: 'by_s', fields: ['s'] });
  assert.ok(c.status === 201 || c.status === 202, JSON.stringify(c.json));
  for (let k = 0; ; k++) {
    const l = await call('GET', `${B}/collections/items/indexes`);
    if (l.json.indexes.find((x) => x.name === 'by_s').state === 'ready') break;
    assert.ok(k < 600, 'the build ends');
    await new Promise((r) => setTimeout(r, 50));
  }
  return size() - before;
}

test('a build over BUILD_MEMORY_MB sorts externally, in BUILD_BATCH batches, and answers like the data', async () => {
  await withServer({ BUNBASE_BUNDOC_INDEX_BUILD_MEMORY_MB: '1', BUNBASE_BUNDOC_INDEX_BUILD_BATCH: '100' }, async (srv, call) => {
    await load(srv, call);
    const all = Array.from({ length: N }, (_, j) => pad(j)).sort();
    const lo = all[1234];
    const q = await call('POST', `${B}/documents/query`, {
      collection: 'items', filter: { s: { $gte: lo } }, sort: ['s'], limit: 25, explain: true,
    });
    assert.equal(q.status, 200, JSON.stringify(q.json));
    assert.deepEqual(q.json.documents.map((d) => d.s), all.slice(1234, 1259));
    assert.match(JSON.stringify(q.json.explain), /by_s/, 'the index answers');
    const desc = await call('POST', `${B}/documents/query`, { collection: 'items', sort: ['-s'], limit: 3 });
    assert.deepEqual(desc.json.documents.map((d) => d.s), all.slice(-3).reverse());
  });
});

test('BUILD_FILL_PERCENT reaches the loader: a 10 % build writes several times the pages of a full one', async () => {
  const sparse = await withServer({ BUNBASE_BUNDOC_INDEX_BUILD_FILL_PERCENT: '10' }, load);
  const full = await withServer({}, load);
  assert.ok(sparse > 3 * full, `10 %: ${sparse} bytes, 100 %: ${full} bytes`);
});

test('an out-of-range build knob stops the start with its name', async () => {
  for (const [k, v] of [['BUNBASE_BUNDOC_INDEX_BUILD_FILL_PERCENT', '5'], ['BUNBASE_BUNDOC_INDEX_BUILD_MEMORY_MB', '0'], ['BUNBASE_BUNDOC_INDEX_BUILD_BATCH', '10001']]) {
    const r = await runBunbased(['serve', '--data', '/nonexistent-bb-knob-test', '--listen', '127.0.0.1:0', `--services=${SERVICES}`], { env: { [k]: v } });
    assert.equal(r.code, 2, `${k}=${v}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(k));
  }
});
