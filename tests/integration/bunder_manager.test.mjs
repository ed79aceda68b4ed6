// bunder-manager end to end: RESP endpoint (AUTH, NOAUTH, relay), HTTP /kv API, ProxyKV RPC,
// single-flight spawn, isolation between projects, keys with spaces/slashes/binary, malformed
// input, SSE and metrics — against one real bunbased whose children are build/bunder (or
// redis-server as a stand-in, see bunder_manager_helpers.test.mjs).

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { RawClient, httpRequest, parsePrometheus, rawRequest, sleep } from './harness.mjs';
import {
  KEYS, RespClient, RpcClient, alive, childPid, kvGet, kvPut, kvUrl, respFor, spawnCount, startManager, str, waitFor,
} from './bunder_manager_helpers.test.mjs';

let mgr;

before(async () => { mgr = await startManager(); });
after(async () => {
  if (!mgr) return;
  const pids = ['p1', 'p2', 'p3'].map((p) => childPid(mgr, p)).filter(Boolean).map((c) => c.pid);
  const r = await mgr.server.stop('SIGTERM');
  mgr.cleanup();
  assert.equal(r.code, 0, 'bunbased stops cleanly');
  for (const pid of pids) assert.ok(!alive(pid), `child ${pid} stopped with bunbased`);
});

test('RESP: PING, QUIT and -NOAUTH before AUTH; wrong key and bad project refused', async () => {
  const c = await RespClient.connect(mgr.resp);
  assert.equal(await c.call('PING'), 'PONG');
  assert.equal(str(await c.call('PING', 'hello')), 'hello');
  assert.match((await c.call('GET', 'x')).resp, /^NOAUTH/);
  assert.match((await c.call('SET', 'x', '1')).resp, /^NOAUTH/);
  assert.match((await c.call('AUTH', 'p1', 'wrong')).resp, /^WRONGPASS/);
  assert.match((await c.call('AUTH', 'p2', KEYS.p1)).resp, /^WRONGPASS/, 'a key opens only its project');
  assert.match((await c.call('AUTH', '..', KEYS.p1)).resp, /^WRONGPASS/);
  assert.match((await c.call('AUTH', 'onlyonearg')).resp, /AUTH <projectId> <key>/);
  assert.match((await c.call('HELLO', '3')).resp, /^NOAUTH/);
  assert.match((await c.call('HELLO', '4', 'AUTH', 'p1', KEYS.p1)).resp, /^NOPROTO/);
  // inline commands work too (e.g. typed into a raw socket)
  c.writeRaw('PING\r\n');
  assert.equal(await c.reply(), 'PONG');
  assert.equal(await c.call('QUIT'), 'OK');
  assert.ok(await c.waitClose(), 'QUIT closes the connection');
  // a command over the pre-AUTH bound is refused and the connection closed
  const big = await RespClient.connect(mgr.resp);
  big.writeRaw(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n${'x'.repeat(1000)}`);
  assert.match((await big.reply()).resp, /Protocol error/);
  assert.ok(await big.waitClose());
});

test('RESP: AUTH <projectId> <key> relays to the project child; pipelined bytes after AUTH keep order', async () => {
  const c = await RespClient.connect(mgr.resp);
  const r = await c.pipeline([['AUTH', 'p1', KEYS.p1], ['SET', 'a', '1'], ['GET', 'a'], ['DEL', 'a'], ['GET', 'a'], ['PING']]);
  assert.deepEqual(r.map(str), ['OK', 'OK', '1', 1, null, 'PONG']);
  const big = Buffer.alloc(300000, 7);
  assert.equal(await c.call('SET', 'big', big), 'OK');
  assert.ok((await c.call('GET', 'big')).equals(big), '300 kB value round-trips through the relay');
  c.close();
  // HELLO <proto> AUTH <project> <key> authenticates too
  const h = await RespClient.connect(mgr.resp);
  const hr = await h.call('HELLO', '2', 'AUTH', 'p1', KEYS.p1);
  assert.ok(!(hr instanceof Error) || !/NOAUTH|WRONGPASS/.test(hr.resp), `HELLO AUTH accepted (${hr && hr.resp})`);
  assert.equal(await h.call('SET', 'via-hello', 'yes'), 'OK');
  assert.equal(str(await h.call('GET', 'via-hello')), 'yes');
  h.close();
});

test('concurrent first requests for one project spawn exactly one child', async () => {
  const p = 'p3';
  const https = Array.from({ length: 16 }, (_, i) => kvPut(mgr, p, `k${i}`, `v${i}`));
  const resps = Array.from({ length: 8 }, async () => {
    const c = await respFor(mgr, p);
    const v = await c.call('PING');
    c.close();
    return v;
  });
  const hr = await Promise.all(https);
  const rr = await Promise.all(resps);
  assert.deepEqual(hr.map((r) => r.status), Array(16).fill(200));
  assert.deepEqual(rr, Array(8).fill('PONG'));
  assert.equal(spawnCount(mgr, p), 1, 'one spawn for 24 concurrent first requests');
  const keys = (await httpRequest(`${mgr.url}/kv/${p}/keys?pattern=k*`, { headers: mgr.auth })).json();
  assert.equal(keys.length, 16);
});

test('two projects never see each other\'s keys (RESP, HTTP, RPC)', async () => {
  const a = await respFor(mgr, 'p1');
  const b = await respFor(mgr, 'p2');
  assert.equal(await a.call('SET', 'shared-name', 'from-p1'), 'OK');
  assert.equal(await b.call('GET', 'shared-name'), null);
  assert.equal(await b.call('SET', 'shared-name', 'from-p2'), 'OK');
  assert.equal(str(await a.call('GET', 'shared-name')), 'from-p1');
  assert.deepEqual((await b.call('KEYS', '*')).map(str).sort(), ['shared-name']);
  a.close();
  b.close();
  assert.equal((await kvGet(mgr, 'p1', 'shared-name')).text, 'from-p1');
  assert.equal((await kvGet(mgr, 'p2', 'shared-name')).text, 'from-p2');
  await kvPut(mgr, 'p2', 'only-p2', 'x');
  assert.equal((await kvGet(mgr, 'p1', 'only-p2')).status, 404);
  const rpc = await RpcClient.connect(mgr.rpc);
  try {
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p1', '/kv/shared-name')).body.toString(), 'from-p1');
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p2', '/kv/shared-name')).body.toString(), 'from-p2');
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p1', '/kv/only-p2')).status, 404);
    const l1 = JSON.parse((await rpc.kv(mgr.token, 'GET', 'p1', '/keys')).body);
    assert.ok(!l1.includes('only-p2'));
  } finally { rpc.close(); }
  // the data directories are separate
  assert.notEqual(childPid(mgr, 'p1').pid, childPid(mgr, 'p2').pid);
});

test('keys with spaces, slashes and any bytes (HTTP percent-encoded, RPC, RESP)', async () => {
  const keys = ['has space', 'a/b/c', 'üñí', 'q?x=1&y', '%41', '+plus+'];
  for (const k of keys) {
    const r = await kvPut(mgr, 'p1', k, `value of ${k}`);
    assert.equal(r.status, 200, k);
  }
  for (const k of keys) assert.equal((await kvGet(mgr, 'p1', k)).text, `value of ${k}`, k);
  // binary key with NUL and CR/LF through the raw path
  const bin = `${mgr.url}/kv/p1/kv/%00%0D%0A%FF`;
  assert.equal((await httpRequest(bin, { method: 'PUT', headers: mgr.auth, body: Buffer.from([0, 1, 2, 255]) })).status, 200);
  assert.deepEqual([...(await httpRequest(bin, { headers: mgr.auth })).body], [0, 1, 2, 255]);
  const c = await respFor(mgr, 'p1');
  assert.equal(str(await c.call('GET', 'has space')), 'value of has space');
  assert.equal(str(await c.call('GET', 'a/b/c')), 'value of a/b/c');
  assert.deepEqual([...(await c.call('GET', Buffer.from([0, 13, 10, 255])))], [0, 1, 2, 255]);
  c.close();
  const rpc = await RpcClient.connect(mgr.rpc);
  try {
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p1', '/kv/has%20space')).body.toString(), 'value of has space');
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p1', '/kv/a%2Fb%2Fc')).body.toString(), 'value of a/b/c');
    // the reference crashed on an unescaped space; here it is just a key
    const sp = await rpc.kv(mgr.token, 'PUT', 'p1', '/kv/raw space', 'rs');
    assert.equal(sp.status, 200);
    assert.equal((await kvGet(mgr, 'p1', 'raw space')).text, 'rs');
    // a raw slash is a malformed path, never a truncated key
    assert.equal((await rpc.kv(mgr.token, 'PUT', 'p1', '/kv/x/y', 'no')).status, 404);
    assert.equal((await kvGet(mgr, 'p1', 'x')).status, 404);
    const list = JSON.parse((await rpc.kv(mgr.token, 'GET', 'p1', '/keys?pattern=a%2F*')).body);
    assert.deepEqual(list, ['a/b/c']);
    assert.equal((await rpc.kv(mgr.token, 'DELETE', 'p1', '/kv/has%20space')).status, 200);
    assert.equal((await rpc.kv(mgr.token, 'DELETE', 'p1', '/kv/has%20space')).status, 404);
  } finally { rpc.close(); }
  const list = (await httpRequest(`${mgr.url}/kv/p1/keys?pattern=${encodeURIComponent('a/*')}`, { headers: mgr.auth })).json();
  assert.deepEqual(list, ['a/b/c']);
});

test('incr and metadata over HTTP and the ProxyKV RPC (same routes, same answers)', async () => {
  const u = `${kvUrl(mgr, 'p3', 'n/1')}/incr`;
  let r = await httpRequest(u, { method: 'POST', headers: mgr.auth });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json(), { value: 1 });
  r = await httpRequest(u, { method: 'POST', headers: mgr.auth, body: 'x'.repeat(2000) });
  assert.equal(r.status, 413, 'the incr body is bounded');
  const rpc = await RpcClient.connect(mgr.rpc);
  try {
    let x = await rpc.kv(mgr.token, 'POST', 'p3', '/kv/n%2F1/incr', '{"by":9}');
    assert.equal(x.status, 200, x.body.toString());
    assert.deepEqual(JSON.parse(x.body), { value: 10 });
    x = await rpc.kv(mgr.token, 'GET', 'p3', '/kv/n%2F1?meta=1');
    assert.deepEqual(JSON.parse(x.body), { key: 'n/1', type: 'string', ttl_ms: null });
    x = await rpc.kv(mgr.token, 'GET', 'p3', '/keys?pattern=n*&meta=1');
    assert.deepEqual(JSON.parse(x.body), [{ key: 'n/1', type: 'string', ttl_ms: null }]);
  } finally { rpc.close(); }
  // other types show as they are; a missing key's metadata is 404
  const c = await respFor(mgr, 'p3');
  await c.call('RPUSH', 'li', 'a');
  await c.call('PEXPIRE', 'li', '50000');
  c.close();
  r = await httpRequest(`${kvUrl(mgr, 'p3', 'li')}?meta=1`, { headers: mgr.auth });
  assert.equal(r.json().type, 'list');
  assert.ok(r.json().ttl_ms > 40000 && r.json().ttl_ms <= 50000, r.text);
  r = await httpRequest(`${kvUrl(mgr, 'p3', 'li')}/incr`, { method: 'POST', headers: mgr.auth });
  assert.equal(r.status, 409, r.text);
  r = await httpRequest(`${kvUrl(mgr, 'p3', 'gone')}?meta=1`, { headers: mgr.auth });
  assert.equal(r.status, 404, r.text);
});

test('malformed paths, project ids and payloads get 4xx, never a crash', async () => {
  const h = mgr.auth;
  // raw bytes on the wire (a URL object would resolve the dot segments before sending)
  const raw = await RawClient.connect(mgr.server.port);
  for (const id of ['..', '.', '%2E%2E', 'a.b', 'x'.repeat(65), 'sp%20ace', '%00']) {
    raw.write(rawRequest('GET', `/kv/${id}/kv/k`, h));
    const r = await raw.readResponse();
    assert.equal(r.status, 400, `project ${id}`);
    assert.equal(r.json().code, 'invalid_project_id');
  }
  raw.destroy();
  assert.equal((await httpRequest(`${mgr.url}/kv/p1/kv/bad%zzescape`, { headers: h })).status, 400);
  assert.equal((await httpRequest(`${mgr.url}/kv/p1/kv/a/b`, { headers: h })).status, 404);
  assert.equal((await httpRequest(`${mgr.url}/kv/p1/kv/${'k'.repeat(9000)}`, { headers: h })).status, 400);
  assert.equal((await httpRequest(`${mgr.url}/kv/p1/nothing`, { headers: h })).status, 404);
  assert.equal((await httpRequest(`${mgr.url}/kv/p1/kv/k`, { method: 'PATCH', headers: h })).status, 405);
  // the internal token is required
  assert.equal((await httpRequest(kvUrl(mgr, 'p1', 'k'))).status, 401);
  assert.equal((await httpRequest(kvUrl(mgr, 'p1', 'k'), { headers: { Authorization: 'Bearer nope' } })).status, 401);
  const rpc = await RpcClient.connect(mgr.rpc);
  try {
    assert.equal((await rpc.kv('wrong-token', 'GET', 'p1', '/kv/k')).status, 401);
    assert.equal((await rpc.kv(mgr.token, 'GET', '..', '/kv/k')).status, 400);
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p1', '/kv/%zz')).status, 400);
    assert.equal((await rpc.kv(mgr.token, 'GET', 'p1', '/elsewhere')).status, 404);
    assert.equal((await rpc.kv(mgr.token, 'PATCH', 'p1', '/kv/k')).status, 405);
    const bad = await rpc.raw(1, 'not json');
    assert.equal(bad.status, 1);
    assert.match(bad.payload.error, /invalid payload/);
    const unk = await rpc.raw(9, {});
    assert.equal(unk.status, 1);
    assert.match(unk.payload.error, /unknown command 9/);
    const b64 = await rpc.raw(1, { method: 'PUT', project_id: 'p1', path: '/kv/k', token: mgr.token, body: '!!!' });
    assert.equal(b64.status, 1);
  } finally { rpc.close(); }
  // still serving
  assert.equal((await kvPut(mgr, 'p1', 'after-bad-input', 'ok')).status, 200);
});

test('SSE subscribe delivers set and delete events of its project only', async () => {
  const events = [];
  const req = http.get(`${mgr.url}/kv/p2/subscribe`, { headers: mgr.auth });
  const res = await new Promise((resolve, reject) => { req.on('response', resolve); req.on('error', reject); });
  assert.equal(res.statusCode, 200);
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = /^event: (.*)$/m.exec(frame);
      const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (ev) events.push({ event: ev[1], data: JSON.parse(data) });
    }
  });
  await waitFor(() => events.length >= 1, 5000, 'connected event');
  assert.equal(events[0].event, 'connected');
  await kvPut(mgr, 'p1', 'other-project', 'x'); // not for this stream
  await kvPut(mgr, 'p2', 'watched key', 'v1');
  await httpRequest(kvUrl(mgr, 'p2', 'watched key'), { method: 'DELETE', headers: mgr.auth });
  await waitFor(() => events.length >= 3, 5000, 'change events');
  assert.deepEqual(events.slice(1).map((e) => e.data), [
    { op: 'set', key: 'watched key', value: Buffer.from('v1').toString('base64') },
    { op: 'delete', key: 'watched key' },
  ]);
  req.destroy();
});

test('health and metrics report children, spawns and relayed or handed-off traffic', async () => {
  const h = await httpRequest(`${mgr.url}/kv/p1/health`, { headers: mgr.auth });
  assert.equal(h.status, 200);
  assert.equal(h.json().child.state, 'ready');
  // platform's /health is a snapshot refreshed every BUNBASE_HEALTH_INTERVAL_MS
  const d = await waitFor(async () => {
    const x = (await httpRequest(`${mgr.url}/health`)).json().services['bunder-manager'];
    return x.running >= 3 ? x : null;
  }, 5000, 'health snapshot with the children');
  assert.equal(d.status, 'ok');
  assert.ok(d.running >= 3, JSON.stringify(d));
  assert.equal(d.resp.listening, true);
  const m = parsePrometheus((await httpRequest(`${mgr.url}/metrics`)).text);
  const v = (name, labels = {}) => m.samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, x]) => s.labels[k] === x)).reduce((a, s) => a + s.value, 0);
  assert.ok(v('bunbase_bunder_children_running') >= 3);
  assert.ok(v('bunbase_bunder_spawns_total') >= 3);
  if (d.handoff) {
    // bunder children: authenticated sockets are handed over, nothing is relayed
    assert.ok(v('bunbase_bunder_handoffs_total') >= 3);
    assert.equal(v('bunbase_bunder_relay_connections_total'), 0);
    assert.equal(v('bunbase_bunder_handoff_fallbacks_total'), 0);
  } else {
    assert.ok(v('bunbase_bunder_relay_connections_total') >= 3);
    assert.ok(v('bunbase_bunder_relay_bytes_total', { direction: 'in' }) > 300000);
    assert.ok(v('bunbase_bunder_relay_bytes_total', { direction: 'out' }) > 300000);
  }
  assert.ok(v('bunbase_bunder_auth_failures_total') >= 2);
  for (const n of ['bunbase_bunder_crashes_total', 'bunbase_bunder_restarts_total', 'bunbase_bunder_evictions_total']) {
    assert.ok(m.type[n] === 'counter', n);
  }
  await sleep(0);
});
