// The service host: /health and /metrics on the gateway whatever --services says, and on every
// service's own listener, in one shape; the /metrics policy; address files.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { freePort, httpRequest, makeTempDir, postgresProcessesFor, runBunbased, startServer } from './harness.mjs';

const TOKEN = 'host-test-token-0123456789abcdef0123456789';

describe('service host', () => {
  const servers = [];
  after(async () => { for (const s of servers) await s.stop('SIGTERM'); });

  test('--services=bundoc-server: the gateway still has /health and /metrics', async () => {
    const srv = await startServer({ services: 'bundoc-server', env: { BUNBASE_LOG_LEVEL: 'warn' } });
    servers.push(srv);
    const h = await httpRequest(`${srv.url}/health`);
    assert.equal(h.status, 200, h.text);
    const j = h.json();
    assert.equal(j.status, 'ok');
    assert.deepEqual(Object.keys(j.services), ['bundoc-server']);
    assert.equal(j.checks.database.status, 'ok');
    const m = await httpRequest(`${srv.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.text, /^bunbase_uptime_seconds /m);
    // the platform is not running here: its routes are not served
    assert.equal((await httpRequest(`${srv.url}/v1/instance/status`)).status, 404);
  });

  test('own listeners: every service answers /health (its own, same shape) and /metrics', async () => {
    const [bc, bd] = [await freePort(), await freePort()];
    const srv = await startServer({
      services: 'buncast,bundoc-server',
      env: {
        BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN,
        BUNBASE_BUNCAST_ADDR: `127.0.0.1:${bc}`, BUNBASE_BUNDOC_SERVER_ADDR: `127.0.0.1:${bd}`,
      },
    });
    servers.push(srv);
    for (const [name, port] of [['buncast', bc], ['bundoc-server', bd]]) {
      const h = await httpRequest(`http://127.0.0.1:${port}/health`);
      assert.equal(h.status, 200, `${name}: ${h.text}`);
      assert.equal(h.json().status, 'ok');
      assert.deepEqual(Object.keys(h.json().services), [name]);
      const m = await httpRequest(`http://127.0.0.1:${port}/metrics`);
      assert.equal(m.status, 200, name);
      // the address file names the listener, written by the host (0600)
      const file = path.join(srv.dataDir, `${name}.addr`);
      assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).http, `127.0.0.1:${port}`);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    }
    const g = (await httpRequest(`${srv.url}/health`)).json();
    assert.deepEqual(Object.keys(g.services).sort(), ['buncast', 'bundoc-server']);
  });

  test('BUNBASE_METRICS_ACCESS=internal: /metrics needs the internal token on every listener', async () => {
    const bd = await freePort();
    const srv = await startServer({
      services: 'bundoc-server',
      env: {
        BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_METRICS_ACCESS: 'internal',
        BUNBASE_BUNDOC_SERVER_ADDR: `127.0.0.1:${bd}`,
      },
    });
    servers.push(srv);
    for (const base of [srv.url, `http://127.0.0.1:${bd}`]) {
      assert.equal((await httpRequest(`${base}/metrics`)).status, 401, base);
      const ok = await httpRequest(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200, base);
      assert.equal((await httpRequest(`${base}/health`)).status, 200, `${base}: /health stays public`);
    }
  });

  test('knob tables: --print-config shows the selected services\' knobs; a bad one stops the start (exit 2) before PostgreSQL', async () => {
    const dir = makeTempDir();
    const env = { BUNBASE_BUNCAST_RING_SIZE: '77', BUNBASE_BUNDER_MANAGER_HANDOFF: 'off' };
    let r = await runBunbased(['serve', '--data', dir, '--print-config'], { env, timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    let cfg = JSON.parse(r.stdout);
    assert.equal(cfg.BUNBASE_BUNCAST_RING_SIZE, 77);
    assert.equal(cfg.BUNBASE_BUNDER_MANAGER_HANDOFF, false);
    assert.equal(cfg.BUNBASE_BUNDOC_DURABILITY, 'full');
    assert.equal(cfg.BUNBASE_PLATFORM_SYNC_MS, 500);
    assert.equal(cfg.BUNBASE_BUN_AUTH_ISSUER, 'bunbase');
    assert.equal(cfg.BUNBASE_HTTP_MAX_BODY_BYTES, 1048576); // core's own
    // every knob of every table (core's and each service's) is documented
    const doc = fs.readFileSync(path.join(process.env.BB_SOURCE_DIR || path.join(import.meta.dirname, '../..'), 'docs/configuration.md'), 'utf8');
    const undocumented = Object.keys(cfg).filter((k) => !doc.includes('`' + k + '`'));
    assert.deepEqual(undocumented, [], 'knobs missing from docs/configuration.md');
    assert.ok(Object.keys(cfg).length > 100, `only ${Object.keys(cfg).length} knobs printed`);
    r = await runBunbased(['serve', '--data', dir, '--services=buncast', '--print-config'], { env, timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    cfg = JSON.parse(r.stdout);
    assert.equal(cfg.BUNBASE_BUNCAST_RING_SIZE, 77);
    assert.equal(cfg.BUNBASE_BUNDOC_DURABILITY, undefined, 'only the selected services');
    for (const [k, v, re] of [
      ['BUNBASE_BUNDOC_DURABILITY', 'fast', /BUNBASE_BUNDOC_DURABILITY must be full, normal or off \(got "fast"\)/],
      ['BUNBASE_BUNCAST_MAX_TOPICS', '0', /BUNBASE_BUNCAST_MAX_TOPICS must be an integer in \[1, 100000000\]/],
      ['BUNBASE_BUNDER_MANAGER_HANDOFF', 'maybe', /BUNBASE_BUNDER_MANAGER_HANDOFF must be 0 or 1/],
      ['BUNBASE_BUN_AUTH_LEEWAY_S', 'x', /BUNBASE_BUN_AUTH_LEEWAY_S must be an integer in \[0, 600\]/]]) {
      r = await runBunbased(['serve', '--listen', '127.0.0.1:0', '--data', dir], { env: { [k]: v }, timeoutMs: 20000 });
      assert.equal(r.code, 2, `${k}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual(postgresProcessesFor(dir), [], 'a bad knob started postgres');
  });
});
