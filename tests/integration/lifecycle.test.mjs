// Process lifecycle of bunbased: graceful drain on SIGTERM, the data-dir lock, startup errors (exit 2),
// --print-config, recovery from a SIGKILLed instance with a stale PostgreSQL cluster, and the CLI.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  freePort, httpRequest, jsonContains, makeTempDir, postgresProcessesFor, removeTempDir,
  runBunbased, runCli, sleep, startServer, waitExit, waitPostgresGone, killPostgresFor,
} from './harness.mjs';

const fmtProcs = (ps) => ps.map((p) => `${p.pid}: ${p.cmdline}`).join('\n');

/** A one-line error on stderr (ignoring blank lines and structured log lines). */
function assertOneLineError(res, re) {
  assert.equal(res.code, 2, `exit code ${res.code} (signal ${res.signal}); stderr:\n${res.stderr}`);
  assert.ok(res.stderr.trim().length > 0, 'no error message on stderr');
  if (re) assert.match(res.stderr, re);
}

describe('graceful shutdown', () => {
  test('SIGTERM drains an in-flight request, exits 0 and stops PostgreSQL', { timeout: 120000 }, async () => {
    const srv = await startServer({ env: { BUNBASE_DEBUG_ROUTES: '1', BUNBASE_HTTP_DRAIN_TIMEOUT_MS: '10000' } });
    let stopResult;
    try {
      assert.ok(postgresProcessesFor(srv.dataDir).length > 0,
        `no postgres process mentions ${srv.dataDir} while the server runs (the leftover check below would be vacuous)`);
      const t0 = Date.now();
      const inflight = httpRequest(`${srv.url}/v1/debug/sleep?ms=1500`, { timeoutMs: 20000 })
        .then((r) => ({ ok: true, r, t: Date.now() - t0 }), (e) => ({ ok: false, e, t: Date.now() - t0 }));
      await sleep(300);
      const exitP = waitExit(srv.proc, 25000);
      srv.proc.kill('SIGTERM');
      const res = await inflight;
      assert.ok(res.ok, `in-flight request failed after SIGTERM: ${res.e?.message}\nstderr:\n${srv.stderr().slice(-3000)}`);
      assert.equal(res.r.status, 200, res.r.text);
      assert.deepEqual(res.r.json(), { slept: 1500 });
      assert.ok(res.t >= 1400, `answered after ${res.t} ms`);

      const ex = await exitP;
      assert.equal(ex.timedOut, false, 'bunbased did not exit within 25 s of SIGTERM');
      assert.equal(ex.code, 0, `exit code ${ex.code} signal ${ex.signal}; stderr:\n${srv.stderr().slice(-3000)}`);
    } finally {
      stopResult = await srv.stop('SIGTERM');
    }
    assert.deepEqual(stopResult.leftoverPostgres, [],
      `postgres processes left for ${srv.dataDir}:\n${fmtProcs(stopResult.leftoverPostgres)}`);
  });
});

describe('startup errors and the data-dir lock', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { BUNBASE_LOG_LEVEL: 'warn' } }); });
  after(async () => {
    if (!srv) return;
    const r = await srv.stop('SIGTERM');
    assert.equal(r.code, 0, `exit code ${r.code}; stderr:\n${srv.stderr().slice(-3000)}`);
    assert.deepEqual(r.leftoverPostgres, [], fmtProcs(r.leftoverPostgres));
  });

  test('a second bunbased on the same data dir exits 2; the first keeps serving', { timeout: 90000 }, async () => {
    const port = await freePort();
    const res = await runBunbased(['serve', '--data', srv.dataDir, '--listen', `127.0.0.1:${port}`], { timeoutMs: 60000 });
    assert.equal(res.timedOut, false, `second instance still running after 60 s; stderr:\n${res.stderr}`);
    assertOneLineError(res, /lock|already|in use|running|held/i);
    assert.doesNotMatch(res.stdout, /listening/, 'second instance claimed to listen');
    // the first one is unharmed (its database too)
    const h = await httpRequest(`${srv.url}/health`);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.json().checks?.database?.status, 'ok', h.text);
    assert.equal(srv.proc.exitCode, null, 'first instance exited');
  });

  test('unknown service name exits 2', { timeout: 60000 }, async () => {
    const dir = makeTempDir();
    try {
      const port = await freePort();
      const res = await runBunbased(['serve', '--services=nope', '--data', dir, '--listen', `127.0.0.1:${port}`], { timeoutMs: 30000 });
      assertOneLineError(res, /nope/);
      assert.deepEqual(await waitPostgresGone(dir), []);
    } finally {
      killPostgresFor(dir);
      removeTempDir(dir);
    }
  });

  test('listen port already in use exits 2 (and leaves no postgres behind)', { timeout: 90000 }, async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address();
    const dir = makeTempDir();
    try {
      const res = await runBunbased(['serve', '--data', dir, '--listen', `127.0.0.1:${port}`], { timeoutMs: 60000 });
      assert.equal(res.timedOut, false, `still running after 60 s; stderr:\n${res.stderr}`);
      assertOneLineError(res, new RegExp(`in use|${port}|address|bind`, 'i'));
      const left = await waitPostgresGone(dir);
      assert.deepEqual(left, [], `postgres left after a failed start:\n${fmtProcs(left)}`);
    } finally {
      blocker.close();
      killPostgresFor(dir);
      removeTempDir(dir);
    }
  });

  test('unwritable data dir exits 2', { timeout: 60000 }, async () => {
    const dir = makeTempDir();
    try {
      const file = path.join(dir, 'regular-file');
      fs.writeFileSync(file, 'not a directory');
      const port = await freePort();
      const res = await runBunbased(['serve', '--data', path.join(file, 'data'), '--listen', `127.0.0.1:${port}`], { timeoutMs: 30000 });
      assertOneLineError(res, /data|director|writ|regular-file/i);
    } finally {
      removeTempDir(dir);
    }
  });

  test('--print-config prints JSON reflecting an env knob and exits 0', { timeout: 30000 }, async () => {
    const dir = makeTempDir();
    try {
      const port = await freePort();
      const res = await runBunbased(['serve', '--data', dir, '--listen', `127.0.0.1:${port}`, '--print-config'], {
        env: { BUNBASE_HTTP_MAX_BODY_BYTES: '123457', BUNBASE_HTTP_IDLE_TIMEOUT_MS: '4321' },
        timeoutMs: 20000,
      });
      assert.equal(res.code, 0, `exit ${res.code}; stderr:\n${res.stderr}`);
      let cfg;
      assert.doesNotThrow(() => { cfg = JSON.parse(res.stdout); }, `stdout is not JSON:\n${res.stdout}`);
      assert.ok(cfg && typeof cfg === 'object');
      assert.ok(jsonContains(cfg, 123457), `BUNBASE_HTTP_MAX_BODY_BYTES not reflected:\n${res.stdout}`);
      assert.ok(jsonContains(cfg, 4321), `BUNBASE_HTTP_IDLE_TIMEOUT_MS not reflected:\n${res.stdout}`);
      assert.ok(res.stdout.includes(String(port)), `--listen port not reflected:\n${res.stdout}`);
      assert.deepEqual(postgresProcessesFor(dir), [], '--print-config started postgres');
      // defaults when unset
      const d = await runBunbased(['serve', '--data', dir, '--print-config'], { timeoutMs: 20000 });
      assert.equal(d.code, 0, d.stderr);
      const dc = JSON.parse(d.stdout);
      assert.ok(jsonContains(dc, 1048576), `default max body not shown:\n${d.stdout}`);
      assert.ok(jsonContains(dc, 16384), `default max header not shown:\n${d.stdout}`);
    } finally {
      removeTempDir(dir);
    }
  });

  describe('CLI', () => {
    test('bunbase version', async () => {
      const r = await runCli(['version'], { timeoutMs: 10000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.trim(), /^bunbase \S+$/);
    });

    test('bunbase health --url against the live server', async () => {
      const r = await runCli(['health', '--url', srv.url], { timeoutMs: 20000 });
      assert.equal(r.code, 0, `exit ${r.code}; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
      let j;
      assert.doesNotThrow(() => { j = JSON.parse(r.stdout); }, `not JSON:\n${r.stdout}`);
      assert.equal(j.status, 'ok');
      assert.equal(j.checks?.database?.status, 'ok');
    });

    test('bunbase health --url against a dead port exits 5 (server unreachable)', async () => {
      const port = await freePort();
      const r = await runCli(['health', '--url', `http://127.0.0.1:${port}`], { timeoutMs: 30000 });
      assert.equal(r.timedOut, false);
      assert.equal(r.code, 5, `exit ${r.code}; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    });

    test('unknown command exits 1 (usage)', async () => {
      const r = await runCli(['definitely-not-a-command'], { timeoutMs: 10000 });
      assert.equal(r.code, 1, `exit ${r.code}; stderr:\n${r.stderr}`);
      assert.ok(r.stderr.trim().length > 0, 'no message on stderr');
    });
  });
});

describe('stale cluster recovery', () => {
  test('after SIGKILL, a new server on the same data dir becomes healthy; no postgres is left after it stops', { timeout: 180000 }, async (t) => {
    const first = await startServer({ env: { BUNBASE_LOG_LEVEL: 'warn' } });
    const dir = first.dataDir;
    let second;
    try {
      const k = await first.stop('SIGKILL', { keepDir: true });
      assert.equal(k.signal, 'SIGKILL');
      // (postgres children may or may not have survived; either way the next start must cope)
      t.diagnostic(`after SIGKILL: ${k.leftoverPostgres.length} postgres processes survived; files: ${fs.readdirSync(dir).join(' ')}`);
      second = await startServer({ dataDir: dir, env: { BUNBASE_LOG_LEVEL: 'warn' } });
      const h = await httpRequest(`${second.url}/health`);
      assert.equal(h.status, 200, h.text);
      assert.equal(h.json().checks?.database?.status, 'ok', h.text);
      const r = await second.stop('SIGTERM', { keepDir: true });
      assert.equal(r.code, 0, `exit ${r.code}; stderr:\n${second.stderr().slice(-3000)}`);
      assert.deepEqual(r.leftoverPostgres, [], `postgres left for ${dir}:\n${fmtProcs(r.leftoverPostgres)}`);
    } finally {
      if (second) await second.stop('SIGTERM');
      killPostgresFor(dir);
      await waitPostgresGone(dir, 5000);
      removeTempDir(dir);
    }
  });
});
