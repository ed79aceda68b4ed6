// Functions: environment variables kept in bun-kms when it runs in the process (docs/functions.md).
// A function's variables set while bun-kms is not running are sealed by the service; the first
// start with bun-kms moves them into it; new ones go straight there. Every value reaches the
// worker's environment at invoke, survives a restart, is never returned by a route and is in no
// file under the data directory in plaintext. Without bun-kms, a function whose variables live
// there is refused with a clear 503 (never run without them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest, makeTempDir, removeTempDir, startServer } from './harness.mjs';
import { FAST_ENV, api, loginUser, newProject, newUser } from './platform_lib.mjs';

const ENV = { ...FAST_ENV, BUNBASE_WORKERS: '8', BUNBASE_HEALTH_INTERVAL_MS: '200' };
const NO_KMS = ['bun-auth', 'platform', 'functions'];
const FN = 'export default () => Response.json({ one: process.env.SECRET_ONE || null, two: process.env.SECRET_TWO || null })';

// Files under dir that contain needle (plaintext), the path relative to dir.
function filesWith(dir, needle) {
  const hits = [];
  const n = Buffer.from(needle);
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        let b;
        try { b = fs.readFileSync(p); } catch { continue; }
        if (b.indexOf(n) >= 0) hits.push(path.relative(dir, p));
      }
    }
  };
  walk(dir);
  return hits;
}

test('variables: sealed without bun-kms, moved into bun-kms, injected, kept across restarts, never in plaintext on disk', { timeout: 180000 }, async () => {
  const dataDir = makeTempDir();
  const canary = `canary-${Math.random().toString(36).slice(2)}-one`;
  const canary2 = `canary-${Math.random().toString(36).slice(2)}-two`;
  const canary3 = `canary-${Math.random().toString(36).slice(2)}-three`;
  let srv;
  try {
    // 1. no bun-kms: sealed by the service
    srv = await startServer({ dataDir, services: NO_KMS, env: ENV });
    let G = srv.url;
    const user = await newUser(G, 'fnsec');
    const p = await newProject(G, user.access, 'Secrets');
    const fnPath = `/v1/projects/${p.id}/functions/sec`;
    let r = await httpRequest(`${G}${fnPath}`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: FN });
    assert.equal(r.status, 201, r.text);
    let x = await api(G, 'PUT', `${fnPath}/env`, { token: user.access, body: { SECRET_ONE: canary } });
    assert.equal(x.status, 200, x.text);
    const invoke = async (base) => httpRequest(`${base}/v1/functions/sec`, { headers: { 'X-Bunbase-Client-Key': p.pk } });
    r = await invoke(G);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().one, canary);
    x = await api(G, 'GET', '/health');
    assert.match(x.json.services.functions.env_store, /sealed/);
    await srv.stop('SIGTERM', { keepDir: true });
    srv = null;
    assert.deepEqual(filesWith(dataDir, canary), [], 'sealed: not in plaintext');

    // 2. with bun-kms: moved there at start, new values go there
    srv = await startServer({ dataDir, env: ENV });
    G = srv.url;
    x = await api(G, 'GET', '/health');
    assert.equal(x.json.services.functions.env_store, 'bun-kms');
    assert.equal(x.json.services.functions.env_moved_to_kms, 1, 'the sealed variables were moved at start');
    const s2 = await loginUser(G, user.email);
    r = await invoke(G);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().one, canary, 'the moved value is injected');
    x = await api(G, 'PUT', `${fnPath}/env`, { token: s2.access, body: { SECRET_ONE: canary2, SECRET_TWO: canary3 } });
    assert.equal(x.status, 200, x.text);
    r = await invoke(G);
    assert.deepEqual(r.json(), { one: canary2, two: canary3 });
    x = await api(G, 'GET', `${fnPath}/env`, { token: s2.access });
    assert.deepEqual(x.json.names.sort(), ['SECRET_ONE', 'SECRET_TWO']);
    for (const route of [`${fnPath}/env`, fnPath, `/v1/projects/${p.id}/functions`]) {
      x = await api(G, 'GET', route, { token: s2.access });
      for (const c of [canary, canary2, canary3]) assert.ok(!x.text.includes(c), `${route} never returns a value`);
    }
    await srv.stop('SIGTERM', { keepDir: true });
    srv = null;
    for (const c of [canary, canary2, canary3]) assert.deepEqual(filesWith(dataDir, c), [], `${c} in plaintext on disk`);

    // 3. they survive a restart
    srv = await startServer({ dataDir, env: ENV });
    G = srv.url;
    r = await invoke(G);
    assert.deepEqual(r.json(), { one: canary2, two: canary3 });
    x = await api(G, 'GET', '/health');
    assert.equal(x.json.services.functions.env_moved_to_kms, 0, 'nothing left to move');
    await srv.stop('SIGTERM', { keepDir: true });
    srv = null;

    // 4. without bun-kms again: refused clearly, never run without its variables
    srv = await startServer({ dataDir, services: NO_KMS, env: ENV });
    r = await invoke(srv.url);
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json().code, 'worker_unavailable');
    assert.match(r.json().error, /bun-kms/);
  } finally {
    if (srv) await srv.stop('SIGTERM', { keepDir: true });
    removeTempDir(dataDir);
  }
});
