// Function pools under their knobs (src/functions/fn_pool.c) against a real bunbased: the per-
// function queue (a waiter is served, one more is 429), the per-project concurrency limit across
// two functions, graceful drain on deploy (the in-flight call ends on the old version), MIN_WARM and
// IDLE_MS (idle workers reaped down to the minimum, a dead warm worker replaced by the reaper),
// MAX_LOG_BYTES, MAX_PER_PROJECT and MAX_VERSIONS.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import crypto from 'node:crypto';

import { freePort, httpRequest, sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const ENV = {
  ...FAST_ENV,
  BUNBASE_WORKERS: '8',
  BUNBASE_FUNCTIONS_MAX_WORKERS: '2',
  BUNBASE_FUNCTIONS_PROJECT_CONCURRENCY: '2',
  BUNBASE_FUNCTIONS_QUEUE_MAX: '1',
  BUNBASE_FUNCTIONS_QUEUE_WAIT_MS: '4000',
  BUNBASE_FUNCTIONS_MIN_WARM: '1',
  BUNBASE_FUNCTIONS_IDLE_MS: '300',
  BUNBASE_FUNCTIONS_MAX_LOG_BYTES: '100',
  BUNBASE_FUNCTIONS_MAX_PER_PROJECT: '4',
  BUNBASE_FUNCTIONS_MAX_VERSIONS: '2',
};

const SLEEPY = (tag) => `
export default async function (req) {
  const ms = Number(new URL(req.url).searchParams.get('ms') || 0);
  if (ms) await new Promise((r) => setTimeout(r, ms));
  if (new URL(req.url).searchParams.get('log')) console.log('y'.repeat(1000));
  return new Response('${tag}');
}`;

describe('function pools', () => {
  let srv, G, user, p;
  const deploy = (name, src) =>
    httpRequest(`${G}/v1/projects/${p.id}/functions/${name}`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: src });
  const invoke = (name, query = '') => httpRequest(`${G}/v1/functions/${name}${query}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
  /** pids of the workers of one function (their command line names the bundle's directory). */
  const workers = (name) => fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      return cmd.split('\0')[0].endsWith('bunbase-qjs-worker') &&
        cmd.includes(`${srv.dataDir}/functions/${p.id}/${name}/`) && !/\) Z /.test(st);
    } catch { return false; }
  }).map(Number);

  before(async () => {
    srv = await startServer({ env: ENV });
    G = srv.url;
    user = await newUser(G, 'fnpool');
    p = await newProject(G, user.access, 'Pools');
    for (const n of ['a', 'b']) assert.equal((await deploy(n, SLEEPY(n))).status, 201);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('queue: one waiter is served, one more is 429', async () => {
    let rs = await Promise.all([0, 1, 2].map(() => invoke('a', '?ms=400')));
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200], 'QUEUE_MAX=1: the third waits');
    rs = await Promise.all([0, 1, 2, 3].map(() => invoke('a', '?ms=400')));
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 200, 200, 429]);
  });

  test('project concurrency spans functions', async () => {
    const rs = await Promise.all([invoke('a', '?ms=500'), invoke('a', '?ms=500'),
      sleep(100).then(() => invoke('b')), sleep(150).then(() => invoke('b'))]);
    // b has free worker slots, but the project has 2 in flight: one b waits, the other is refused
    assert.deepEqual(rs.slice(0, 2).map((r) => r.status), [200, 200]);
    assert.deepEqual(rs.slice(2).map((r) => r.status).sort(), [200, 429]);
  });

  test('deploy drains: the call in flight ends on the old version', async () => {
    assert.equal((await deploy('c', SLEEPY('old'))).status, 201);
    const inflight = invoke('c', '?ms=700');
    await sleep(250);
    assert.equal((await deploy('c', SLEEPY('new'))).status, 201);
    assert.equal((await inflight).text, 'old');
    assert.equal((await invoke('c')).text, 'new');
  });

  test('MIN_WARM and IDLE_MS: idle workers reaped to the minimum; the reaper restarts a dead one', async () => {
    await Promise.all([invoke('b', '?ms=300'), invoke('b', '?ms=300')]);
    assert.equal(workers('b').length, 2);
    let n = 2;
    for (let i = 0; i < 50 && n !== 1; i++) { await sleep(100); n = workers('b').length; }
    assert.equal(n, 1, 'IDLE_MS=300 reaps down to MIN_WARM=1');
    process.kill(workers('b')[0], 'SIGKILL');
    let back = [];
    for (let i = 0; i < 50 && back.length !== 1; i++) { await sleep(100); back = workers('b'); }
    assert.equal(back.length, 1, 'the reaper keeps one warm');
    await sleep(600); // it joins the pool once its bundle is loaded (READY)
    const r = await invoke('b');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-bunbase-cold-start'], 'false');
  });

  test('MAX_LOG_BYTES, MAX_PER_PROJECT, MAX_VERSIONS', async () => {
    const r = await invoke('a', '?log=1');
    const l = await api(G, 'GET', `/v1/projects/${p.id}/functions/a/logs?limit=1`, { token: user.access });
    const inv = l.json.invocations.find((i) => i.id === r.headers['x-invocation-id']);
    assert.ok(inv.logs.length <= 100 && inv.logs.length > 50, `kept ${inv.logs.length} bytes`);
    assert.equal((await deploy('d', SLEEPY('d'))).status, 201);
    const e = await deploy('e', SLEEPY('e'));
    assert.equal(e.status, 409, e.text);
    assert.equal(e.json().code, 'too_many_functions');
    for (const t of ['d2', 'd3']) assert.equal((await deploy('d', SLEEPY(t))).status, 201);
    const v = await api(G, 'GET', `/v1/projects/${p.id}/functions/d/versions`, { token: user.access });
    assert.deepEqual(v.json.versions.map((x) => x.version), [3, 2]);
    assert.ok(!fs.existsSync(`${srv.dataDir}/functions/${p.id}/d/1`), 'the pruned bundle is gone');
    const h = await httpRequest(`${G}/health`);
    const fn = h.json().services.functions;
    assert.equal(fn.status, 'ok');
    assert.ok(fn.rejected >= 2 && fn.spawned >= 4, JSON.stringify(fn));
  });
});

test('functions in a second bunbased: the gateway forwards over HTTP (repeated headers, 5 MiB)', async () => {
  const TOKEN = 'functions-remote-internal-token-0123456789';
  const addr = { BUNBASE_FUNCTIONS_ADDR: `127.0.0.1:${await freePort()}` };
  const fns = await startServer({ services: 'functions', env: { BUNBASE_INTERNAL_TOKEN: TOKEN, ...addr, BUNBASE_LOG_LEVEL: 'warn' } });
  const gw = await startServer({ services: 'bun-auth,platform', env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, ...addr } });
  try {
    const G = gw.url;
    const user = await newUser(G, 'fnremote');
    const p = await newProject(G, user.access, 'Remote');
    let r = await httpRequest(`${G}/v1/projects/${p.id}/functions/echo`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` },
      body: `export default async (req) => { const b = await req.arrayBuffer(); const h = new Headers({ 'x-len': String(b.byteLength) });
        h.append('set-cookie', 'a=1'); h.append('set-cookie', 'b=2'); return new Response(b, { status: 202, headers: h }); }` });
    assert.equal(r.status, 201, r.text);
    const bin = crypto.randomBytes(5 * 1024 * 1024);
    r = await httpRequest(`${G}/v1/functions/echo`, { method: 'POST', headers: { 'X-Bunbase-Client-Key': p.sk }, body: bin });
    assert.equal(r.status, 202, r.text.slice(0, 200));
    assert.equal(r.headers['x-len'], String(bin.length));
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.ok(r.body.equals(bin));
    assert.ok(fs.existsSync(`${fns.dataDir}/functions/${p.id}/echo/1/index.js`), 'stored by the functions process');
  } finally {
    await gw.stop();
    await fns.stop();
  }
});
