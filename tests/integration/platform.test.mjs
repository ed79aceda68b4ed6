// The internal service credential and an external PostgreSQL selected by BUNBASE_DATABASE_URL.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest, makeTempDir, runBunbased, startServer } from './harness.mjs';

describe('internal token and external database', () => {
  let a;
  before(async () => {
    a = await startServer({ env: { BUNBASE_DEBUG_ROUTES: '1', BUNBASE_LOG_LEVEL: 'warn' } });
  });
  after(async () => { if (a) await a.stop('SIGTERM'); });

  test('the generated internal token is 0600 in the data dir and guards internal routes', async () => {
    const file = path.join(a.dataDir, 'internal_token');
    const st = fs.statSync(file);
    assert.equal(st.mode & 0o777, 0o600);
    const token = fs.readFileSync(file, 'utf8').trim();
    assert.ok(token.length >= 32, 'token too short');
    const url = `${a.url}/v1/debug/internal`;
    let r = await httpRequest(url);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json().code, 'unauthenticated');
    r = await httpRequest(url, { headers: { Authorization: `Bearer ${token}x` } });
    assert.equal(r.status, 401, r.text);
    // an identity header without the token claims nothing
    r = await httpRequest(url, { headers: { 'X-Bunbase-Identity': 'admin' } });
    assert.equal(r.status, 401, r.text);
    r = await httpRequest(url, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.text);
    // the api alias goes through the same check
    r = await httpRequest(`${a.url}/api/debug/internal`);
    assert.equal(r.status, 401, r.text);
  });

  test('BUNBASE_INTERNAL_TOKEN set explicitly is used instead of the file', { timeout: 90000 }, async () => {
    const b = await startServer({ env: { BUNBASE_DEBUG_ROUTES: '1', BUNBASE_INTERNAL_TOKEN: 'explicit-token-0123456789abcdef0123' } });
    try {
      assert.equal(fs.existsSync(path.join(b.dataDir, 'internal_token')), false);
      const r = await httpRequest(`${b.url}/v1/debug/internal`, { headers: { Authorization: 'Bearer explicit-token-0123456789abcdef0123' } });
      assert.equal(r.status, 200, r.text);
    } finally {
      await b.stop('SIGTERM');
    }
  });

  test('a BUNBASE_INTERNAL_TOKEN shorter than 32 characters exits 2 with a clear message (like the file)', { timeout: 30000 }, async () => {
    for (const tok of ['a', 'x'.repeat(31)]) {
      const r = await runBunbased(['serve', '--listen', '127.0.0.1:0', '--data', makeTempDir()],
        { env: { BUNBASE_INTERNAL_TOKEN: tok } });
      assert.equal(r.code, 2, `exit ${r.code}; stderr:\n${r.stderr}`);
      assert.match(r.stderr, /BUNBASE_INTERNAL_TOKEN is too short: \d+ characters, at least 32 needed/);
    }
    const d = makeTempDir();
    fs.writeFileSync(path.join(d, 'internal_token'), 'short\n', { mode: 0o600 });
    const r = await runBunbased(['serve', '--listen', '127.0.0.1:0', '--data', d]);
    assert.equal(r.code, 2, `exit ${r.code}; stderr:\n${r.stderr}`);
    assert.match(r.stderr, /at least 32 characters/);
  });

  test('BUNBASE_DATABASE_URL selects an existing server instead of an embedded cluster', { timeout: 90000 }, async () => {
    // Use the first server's cluster as "the external PostgreSQL".
    const conninfo = `host=${path.join(a.dataDir, 'postgres', 'run')} dbname=bunbase user=postgres`;
    const b = await startServer({ env: { BUNBASE_DATABASE_URL: conninfo, BUNBASE_LOG_LEVEL: 'warn' } });
    try {
      assert.equal(fs.existsSync(path.join(b.dataDir, 'postgres')), false, 'an embedded cluster was created anyway');
      const h = await httpRequest(`${b.url}/health`);
      assert.equal(h.status, 200, h.text);
      assert.equal(h.json().checks.database.embedded, false);
      // same database, so the same instance id
      const sa = (await httpRequest(`${a.url}/v1/instance/status`)).json();
      const sb = (await httpRequest(`${b.url}/v1/instance/status`)).json();
      assert.equal(sb.database.embedded, false);
      assert.equal(sa.instance_id, sb.instance_id);
    } finally {
      await b.stop('SIGTERM');
    }
  });

  test('an unreachable BUNBASE_DATABASE_URL fails start-up with a clear message', { timeout: 60000 }, async () => {
    await assert.rejects(
      startServer({ env: { BUNBASE_DATABASE_URL: 'host=/nonexistent-dir dbname=x connect_timeout=2' }, timeoutMs: 20000 }),
      (e) => /exited early[\s\S]*PostgreSQL/i.test(e.message),
    );
  });
});
