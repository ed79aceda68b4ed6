// The functions' Bun runtime (src/functions/bun/worker.js, bun from npm) through the gateway:
// deploy with ?runtime=bun (checked in bun, inside the sandbox), request/response fidelity
// (repeated headers, binary body, status), workers reused while warm, console output in the logs,
// only the function's environment, a timeout kills the worker (504) and the next call gets a fresh
// one, an exception is a 500, bad bundles are 400 with bun's message.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { SOURCE_DIR, httpRequest, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const BUN = path.join(SOURCE_DIR, 'src/functions/bun/node_modules/@oven/bun-linux-x64/bin/bun');

const HANDLER = `
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    if (u.searchParams.get('mode') === 'loop') for (;;) {}
    if (u.searchParams.get('mode') === 'throw') throw new Error('bun handler failed');
    if (u.searchParams.get('mode') === 'mem') { const a = []; for (;;) a.push('x'.repeat(4096) + a.length); }
    const body = new Uint8Array(await req.arrayBuffer());
    console.log('bun says', req.method, body.length);
    const h = new Headers({ 'x-runtime': typeof Bun === 'object' ? 'bun' : 'other' });
    h.append('set-cookie', 'a=1');
    h.append('set-cookie', 'b=2');
    if (u.searchParams.get('mode') === 'bytes') return new Response(body, { status: 201, headers: h });
    return Response.json({ multi: req.headers.get('x-multi'), env: process.env, path: u.pathname }, { headers: h });
  },
};`;

describe('functions: the bun runtime', { skip: !fs.existsSync(BUN) && 'bun is not installed (scripts/setup.sh)' }, () => {
  let srv, G, user, p;
  const deploy = (name, src, runtime = 'bun') =>
    httpRequest(`${G}/v1/projects/${p.id}/functions/${name}?runtime=${runtime}`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: src });
  const invoke = (name, { method = 'GET', query = '', headers = {}, body } = {}) =>
    httpRequest(`${G}/v1/functions/${name}${query}`, { method, headers: { 'X-Bunbase-Client-Key': p.sk, ...headers }, body });

  before(async () => {
    // a Bun worker's address space: 2 x 64 (MEMORY_MB) + 256 MiB, rounded up to 1 GiB
    srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_TIMEOUT_MS: '5000', BUNBASE_FUNCTIONS_BUN_BASE_MB: '256', BUNBASE_FUNCTIONS_CANARY: 'leak' } });
    G = srv.url;
    user = await newUser(G, 'fnbun');
    p = await newProject(G, user.access, 'Bun');
    const r = await deploy('b', HANDLER);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().runtime, 'bun');
  });
  after(async () => { if (srv) await srv.stop(); });

  test('invoke: fidelity, warm reuse, logs, environment', async () => {
    let r = await invoke('b', { headers: { 'x-multi': ['1', '2'] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-runtime'], 'bun');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.json().multi, '1, 2');
    assert.equal(r.json().path, '/v1/functions/b');
    assert.deepEqual(Object.keys(r.json().env).sort(), ['BUNBASE_FUNCTION_NAME', 'BUNBASE_FUNCTION_VERSION', 'BUNBASE_PROJECT_ID']);
    assert.equal(r.headers['x-bunbase-cold-start'], 'true');
    const bin = crypto.randomBytes(1024 * 1024);
    r = await invoke('b', { method: 'POST', query: '?mode=bytes', body: bin });
    assert.equal(r.status, 201);
    assert.ok(r.body.equals(bin));
    assert.equal(r.headers['x-bunbase-cold-start'], 'false', 'the worker is reused while warm');
    const l = await api(G, 'GET', `/v1/projects/${p.id}/functions/b/logs?limit=1`, { token: user.access });
    assert.match(l.json.invocations[0].logs, /\[info\] bun says POST 1048576/);
    const v = await api(G, 'GET', `/v1/projects/${p.id}/functions/b/versions`, { token: user.access });
    assert.equal(v.json.versions[0].runtime, 'bun');
  });

  test('a memory bomb in Bun stops at the bound: 500 function_out_of_memory, then a fresh worker', async () => {
    let r = await invoke('b', { query: '?mode=mem' });
    assert.equal(r.status, 500, r.text);
    assert.equal(r.json().code, 'function_out_of_memory', r.text);
    assert.match(r.json().error, /memory/i);
    r = await invoke('b');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-bunbase-cold-start'], 'true', 'the worker was replaced');
  });

  test('timeout kills the bun worker; exceptions are 500; bad bundles are 400', async () => {
    let r = await invoke('b', { query: '?mode=loop' });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json().code, 'function_timeout');
    r = await invoke('b');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-bunbase-cold-start'], 'true', 'a fresh worker');
    r = await invoke('b', { query: '?mode=throw' });
    assert.equal(r.status, 500);
    assert.match(r.json().error, /bun handler failed/);
    r = await deploy('bad', 'export default function( {');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().code, 'invalid_bundle');
    r = await deploy('bad', 'export default 42;');
    assert.equal(r.status, 400);
    assert.match(r.json().error, /export default/);
    r = await deploy('bad', 'export default () => new Response("")', 'deno');
    assert.equal(r.status, 400);
    assert.equal(r.json().code, 'invalid_runtime');
  });
});
