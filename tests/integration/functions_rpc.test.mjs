// Functions over its two transports: one table of cases (deploy, list, get, versions, activate,
// rollback, invoke, logs, metrics, delete, errors) run over HTTP (the service's /fn/ routes with the
// internal token) and over the internal RPC (BUNBASE_FUNCTIONS_RPC_ADDR, core bb_rpc_http's Call);
// each on its own project, the answers must agree in status and body (ids and times aside).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, startServer } from './harness.mjs';
import { FAST_ENV } from './platform_lib.mjs';
import { KmsRpc, TOKEN } from './kms_lib.mjs';

const JS = 'application/javascript';
const HELLO = (word) => `export default async (req) => {
  const u = new URL(req.url);
  const body = await req.text();
  console.log('hello', req.method, body.length);
  return Response.json({ word: ${JSON.stringify(word)}, method: req.method, q: u.searchParams.get('q'), body },
    { status: Number(u.searchParams.get('status') || 200) });
};`;

// [method, path (under /fn/<pid>), body, headers]
const table = () => [
  ['PUT', '/functions/hello', HELLO('one'), { 'Content-Type': JS }],
  ['PUT', '/functions/hello', HELLO('two'), { 'Content-Type': JS }],
  ['PUT', '/functions/hello', HELLO('two'), { 'Content-Type': JS }], // same content: 200, no version
  ['GET', '/functions'],
  ['GET', '/functions/hello'],
  ['GET', '/functions/hello/versions'],
  ['GET', '/invoke/hello?q=a%20b'],
  ['POST', '/invoke/hello?status=201', 'payload bytes', { 'Content-Type': 'text/plain' }],
  ['POST', '/functions/hello/rollback', '{}', { 'Content-Type': 'application/json' }],
  ['GET', '/invoke/hello'],
  ['POST', '/functions/hello/rollback', '{}', { 'Content-Type': 'application/json' }], // 409
  ['POST', '/functions/hello/activate', '{"version":2}', { 'Content-Type': 'application/json' }],
  ['POST', '/functions/hello/activate', '{"version":9}', { 'Content-Type': 'application/json' }],
  ['POST', '/functions/hello/activate', '{bad', { 'Content-Type': 'application/json' }],
  ['GET', '/invoke/hello'],
  ['GET', '/functions/hello/logs'],
  ['GET', '/functions/hello/metrics'],
  ['PUT', '/functions/bad', 'export default function( {', { 'Content-Type': JS }],
  ['PUT', '/functions/empty', '', { 'Content-Type': JS }],
  ['PUT', '/functions/big', `export default () => new Response("${'x'.repeat(70000)}")`, { 'Content-Type': JS }],
  ['PUT', '/functions/Bad%20Name', HELLO('x'), { 'Content-Type': JS }],
  ['PUT', '/functions/hello?runtime=perl', HELLO('x'), { 'Content-Type': JS }],
  ['GET', '/functions/nope'],
  ['GET', '/invoke/nope'],
  ['GET', '/functions', undefined, { Authorization: 'Bearer wrong-token' }],
  ['GET', '/functions', undefined, { Authorization: null }],
  ['DELETE', '/functions/hello'],
  ['GET', '/functions/hello'],
  ['GET', '/invoke/hello'],
  ['GET', '/nothing-here'],
];

// ids, times and durations differ between runs; everything else must not
const VOLATILE = /(_ms|_at|^ts$|^time$|^minute$|^id$|invocation_id|request_id|^started|^ended|^sha256$|^cold)/;
const norm = (status, text, pid) => {
  let body;
  try {
    body = JSON.parse(text.replaceAll(pid, 'PID'), (k, v) => (VOLATILE.test(k) ? undefined : v));
  } catch {
    body = text.replaceAll(pid, 'PID');
  }
  return { status, body };
};

describe('functions over HTTP and RPC', () => {
  let srv, rpc;
  before(async () => {
    srv = await startServer({
      env: {
        ...FAST_ENV,
        BUNBASE_INTERNAL_TOKEN: TOKEN,
        BUNBASE_FUNCTIONS_RPC_ADDR: '127.0.0.1:0',
        BUNBASE_FUNCTIONS_MAX_BUNDLE_BYTES: '65536',
        BUNBASE_FUNCTIONS_TIMEOUT_MS: '3000',
      },
    });
    rpc = await new KmsRpc().connect(srv.dataDir, 'functions');
  });
  after(async () => {
    rpc?.close();
    if (srv) await srv.stop();
  });

  const headersOf = (h = {}) => {
    const out = { Authorization: `Bearer ${TOKEN}` };
    for (const [k, v] of Object.entries(h)) {
      if (v === null) delete out[k];
      else out[k] = v;
    }
    return out;
  };
  const viaHttp = async (pid, [m, p, body, h]) => {
    const r = await httpRequest(`${srv.url}/fn/${pid}${p}`, { method: m, headers: headersOf(h), body });
    return norm(r.status, r.text, pid);
  };
  const viaRpc = async (pid, [m, p, body, h]) => {
    const r = await rpc.raw(1, { method: m, path: `/fn/${pid}${p}`, headers: headersOf(h), body: Buffer.from(body ?? '').toString('base64') });
    assert.equal(r.status, 0, JSON.stringify(r.payload));
    return norm(r.payload.status, Buffer.from(r.payload.body, 'base64').toString('utf8'), pid);
  };

  test('one table of cases: the same status and body over both transports', async () => {
    const a = [], b = [];
    for (const c of table()) a.push(await viaHttp('p_fnhttp', c));
    for (const c of table()) b.push(await viaRpc('p_fnrpc', c));
    assert.deepEqual(a.map((x) => x.status),
      [201, 201, 200, 200, 200, 200, 200, 201, 200, 200, 409, 200, 404, 400, 200, 200, 200, 400, 400, 413, 400, 400, 404, 404, 401, 401, 200, 404, 404, 404]);
    assert.equal(a[6].body.word, 'two');
    assert.equal(a[9].body.word, 'one', 'rollback took effect');
    assert.equal(a[7].body.body, 'payload bytes');
    assert.deepEqual(b, a);
  });

  test("the RPC's own errors: another service's path, unknown command, not JSON, bad base64", async () => {
    let r = await rpc.raw(1, { method: 'GET', path: '/v1/kms/x/secrets' });
    assert.equal(r.status, 1);
    assert.equal(r.payload.code, 'invalid_payload');
    r = await rpc.raw(9, {});
    assert.equal(r.payload.code, 'unknown_command');
    assert.match(r.payload.error, /unknown command 9/);
    r = await rpc.raw(1, 'nope');
    assert.equal(r.payload.code, 'invalid_payload');
    r = await rpc.raw(1, { method: 'GET', path: '/fn/p_x/functions', body: '***' });
    assert.equal(r.payload.code, 'invalid_payload');
    assert.match(r.payload.error, /base64/);
  });
});
