// Functions (src/functions/, bunbase-qjs-worker) through the gateway against a real bunbased:
// deploy / invoke / versions / rollback / delete; request and response fidelity (methods, repeated
// headers, status codes, binary bodies, 5 MiB each way); a timeout kills the worker and the next
// call gets a fresh one; a memory bomb; a worker killed mid-request (502 and a fresh worker); the
// concurrency limit (429 + Retry-After); invocation logs with console output; the worker's
// environment holds nothing of bunbased's; limits configurable; bad bundles rejected with the
// QuickJS error.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import { httpRequest, makeTempDir, removeTempDir, runBunbased, startServer } from './harness.mjs';
import { FAST_ENV, addMember, api, newProject, newUser } from './platform_lib.mjs';

const ENV = {
  ...FAST_ENV,
  BUNBASE_WORKERS: '8',
  BUNBASE_FUNCTIONS_TIMEOUT_MS: '1500',
  BUNBASE_FUNCTIONS_MEMORY_MB: '16',
  BUNBASE_FUNCTIONS_MAX_WORKERS: '2',
  BUNBASE_FUNCTIONS_QUEUE_MAX: '0',
  BUNBASE_FUNCTIONS_MAX_BUNDLE_BYTES: '65536',
  BUNBASE_FUNCTIONS_START_TIMEOUT_MS: '1000',
  BUNBASE_FUNCTIONS_CANARY_SECRET: 'canary-must-not-leak', // not a knob: the environment canary
  BUNBASE_FUNCTIONS_FETCH_MAX: '3',
};

const FETCHER = `
export default async function (req) {
  const u = new URL(req.url);
  const target = u.searchParams.get('url');
  const n = Number(u.searchParams.get('n') || 1);
  const out = [];
  for (let i = 0; i < n; i++) {
    try {
      const r = await fetch(target, { method: 'POST', headers: { 'x-from': 'fn' }, body: 'ping' + i });
      out.push({ status: r.status, body: await r.text(), header: r.headers.get('x-upstream') });
    } catch (e) {
      out.push({ error: String(e.message) });
    }
  }
  return Response.json(out);
}`;

const ECHO = `
export default {
  async fetch(req) {
    const u = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    console.log('echo', req.method, u.pathname);
    console.warn('warned');
    if (u.searchParams.get('mode') === 'bytes') {
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
      const hex = Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
      return new Response(body, { status: 200, headers: { 'x-sha256': hex, 'content-type': 'application/octet-stream' } });
    }
    if (u.searchParams.get('mode') === 'empty') return new Response(null, { status: Number(u.searchParams.get('status')) });
    if (u.searchParams.get('mode') === 'big') return new Response(new Uint8Array(Number(u.searchParams.get('n'))));
    const h = new Headers({ 'x-fn': 'echo' });
    h.append('set-cookie', 'a=1; Path=/');
    h.append('set-cookie', 'b=2; Path=/');
    return Response.json({
      method: req.method, path: u.pathname, q: u.searchParams.get('q'), multi: req.headers.get('x-multi'),
      auth: req.headers.get('authorization'), key: req.headers.get('x-bunbase-client-key'),
      len: body.length, env: process.env, url: req.url, reparsed: new URL(req.url).href,
      host: req.headers.get('host'), pad: req.headers.get('x-pad'),
    }, { status: Number(u.searchParams.get('status') || 200), headers: h });
  },
};`;

const LIMITS = `
export default async function (req) {
  const u = new URL(req.url);
  const mode = u.searchParams.get('mode');
  if (mode === 'loop') for (;;) {}
  if (mode === 'mem') { const a = []; for (;;) a.push('x'.repeat(4096) + a.length); }
  if (mode === 'sleep') await new Promise((r) => setTimeout(r, Number(u.searchParams.get('ms'))));
  if (mode === 'throw') throw new Error('boom from the handler');
  return new Response('alive');
}`;

describe('functions', () => {
  let srv, G, user, p, other, upstream, upPort;
  const fnUrl = (name, rest = '') => `/v1/projects/${p.id}/functions/${name}${rest}`;
  const deploy = (name, src, token = user.access) =>
    httpRequest(`${G}${fnUrl(name)}`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/javascript' }, body: src });
  const invoke = (name, { method = 'GET', query = '', headers = {}, body, key } = {}) =>
    httpRequest(`${G}/v1/functions/${name}${query}`, { method, headers: { 'X-Bunbase-Client-Key': key || p.pk, ...headers }, body });

  before(async () => {
    upstream = http.createServer((q, r) => {
      let b = '';
      q.on('data', (d) => { b += d; });
      q.on('end', () => { r.writeHead(207, { 'x-upstream': 'yes' }); r.end(`${q.method} ${q.headers['x-from']} ${b}`); });
    });
    await new Promise((res) => upstream.listen(0, '127.0.0.1', res));
    upPort = upstream.address().port;
    srv = await startServer({ env: { ...ENV, BUNBASE_FUNCTIONS_FETCH_ALLOW: `127.0.0.1:${upPort}` } });
    G = srv.url;
    user = await newUser(G, 'fn');
    p = await newProject(G, user.access, 'Functions');
    other = await newProject(G, user.access, 'Other');
    for (const [n, s] of [['echo', ECHO], ['limits', LIMITS], ['fetcher', FETCHER]]) {
      const r = await deploy(n, s);
      assert.equal(r.status, 201, r.text);
    }
  });
  after(async () => {
    if (srv) await srv.stop();
    if (upstream) upstream.close();
  });

  test('fetch through the service: allow-listed hosts only, bounded per invocation', async () => {
    const q = (url, n = 1) => `?url=${encodeURIComponent(url)}&n=${n}`;
    let r = await invoke('fetcher', { query: q(`http://127.0.0.1:${upPort}/x`) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), [{ status: 207, body: 'POST fn ping0', header: 'yes' }]);
    r = await invoke('fetcher', { query: q(`http://localhost:${upPort}/x`) });
    assert.match(r.json()[0].error, /not on BUNBASE_FUNCTIONS_FETCH_ALLOW/);
    r = await invoke('fetcher', { query: q(`http://127.0.0.1:${upPort + 1}/x`) });
    assert.match(r.json()[0].error, /not on BUNBASE_FUNCTIONS_FETCH_ALLOW/, 'another port');
    r = await invoke('fetcher', { query: q(`http://127.0.0.1:${upPort}@evil.example/x`) });
    assert.match(r.json()[0].error, /not on BUNBASE_FUNCTIONS_FETCH_ALLOW/, 'userinfo is not the host');
    r = await invoke('fetcher', { query: q(`http://127.0.0.1:${upPort}/x`, 4) });
    const got = r.json();
    assert.equal(got.filter((x) => x.status === 207).length, 3);
    assert.match(got[3].error, /BUNBASE_FUNCTIONS_FETCH_MAX/);
  });

  test('deploy, versions, rollback, activate, idempotent redeploy, delete', async () => {
    let r = await deploy('ver', 'export default () => new Response("one")');
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().version, 1);
    assert.match(r.json().sha256, /^[0-9a-f]{64}$/);
    r = await deploy('ver', 'export default () => new Response("two")');
    assert.equal(r.json().version, 2);
    assert.equal((await invoke('ver')).text, 'two');
    assert.ok(fs.existsSync(`${srv.dataDir}/functions/${p.id}/ver/2/index.js`), 'bundle on disk by version');
    r = await api(G, 'GET', fnUrl('ver', '/versions'), { token: user.access });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.active_version, 2);
    assert.deepEqual(r.json.versions.map((v) => v.version), [2, 1]);
    r = await api(G, 'POST', fnUrl('ver', '/rollback'), { token: user.access, body: {} });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.active_version, 1);
    assert.equal((await invoke('ver')).text, 'one');
    r = await api(G, 'POST', fnUrl('ver', '/rollback'), { token: user.access, body: {} });
    assert.equal(r.status, 409, r.text);
    r = await api(G, 'POST', fnUrl('ver', '/activate'), { token: user.access, body: { version: 2 } });
    assert.equal(r.status, 200, r.text);
    assert.equal((await invoke('ver')).text, 'two');
    r = await api(G, 'POST', fnUrl('ver', '/activate'), { token: user.access, body: { version: 9 } });
    assert.equal(r.status, 404);
    // the same content again: no new version, that one becomes active
    r = await deploy('ver', 'export default () => new Response("one")');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().version, 1);
    assert.equal(r.json().created, false);
    assert.equal((await invoke('ver')).text, 'one');
    r = await api(G, 'GET', `/v1/projects/${p.id}/functions`, { token: user.access });
    assert.ok(r.json.functions.some((f) => f.name === 'ver' && f.active_version === 1), r.text);
    r = await api(G, 'GET', fnUrl('ver'), { token: user.access });
    assert.equal(r.json.active_version, 1);
    r = await api(G, 'DELETE', fnUrl('ver'), { token: user.access });
    assert.equal(r.status, 200, r.text);
    assert.equal((await invoke('ver')).status, 404);
    assert.equal((await api(G, 'GET', fnUrl('ver'), { token: user.access })).status, 404);
    assert.ok(!fs.existsSync(`${srv.dataDir}/functions/${p.id}/ver`), 'bundles removed');
  });

  test('bad bundles: 400 with the QuickJS message; names and sizes bounded', async () => {
    let r = await deploy('bad', 'export default function( { return 1 }');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().code, 'invalid_bundle');
    assert.match(r.json().error, /SyntaxError/);
    assert.match(r.json().error, /index\.js:1/);
    r = await deploy('bad', 'export const x = 1;');
    assert.equal(r.status, 400);
    assert.match(r.json().error, /default/);
    r = await deploy('bad', 'import x from "lodash"; export default x;');
    assert.equal(r.status, 400);
    assert.match(r.json().error, /bundle the function into one file/);
    r = await deploy('bad', 'for (;;) {}\nexport default () => new Response("")');
    assert.equal(r.status, 400);
    assert.match(r.json().error, /time limit/);
    r = await deploy('Bad%20Name', 'export default () => new Response("")');
    assert.equal(r.status, 400);
    r = await deploy('big', `export default () => new Response("${'x'.repeat(70000)}")`);
    assert.equal(r.status, 413, 'BUNBASE_FUNCTIONS_MAX_BUNDLE_BYTES');
    assert.equal((await api(G, 'GET', fnUrl('bad'), { token: user.access })).status, 404);
  });

  test('request and response fidelity through the gateway', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await invoke('echo', { method, query: '?q=a%20b&status=201', headers: { 'x-multi': ['one', 'two'] }, body: method === 'GET' ? undefined : 'hello' });
      assert.equal(r.status, 201, `${method}: ${r.text}`);
      const j = r.json();
      assert.equal(j.method, method);
      assert.equal(j.path, '/v1/functions/echo');
      assert.equal(j.q, 'a b');
      assert.equal(j.multi, 'one, two');
      assert.equal(j.len, method === 'GET' ? 0 : 5);
      assert.equal(j.auth, null, 'the caller credentials are never shown to user code');
      assert.equal(j.key, null);
      assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
      assert.equal(r.headers['x-fn'], 'echo');
      assert.match(r.headers['x-invocation-id'], /^[0-9A-Z]{26}$/);
      assert.match(r.headers['x-bunbase-cold-start'], /^(true|false)$/);
    }
    // the url the function sees is what URL makes of it, whether the worker took it as it came
    // (a plain host and query) or parsed it (an upper-case or default-port host, characters URL
    // escapes); header values come trimmed
    const port = new URL(G).port;
    for (const [query, host, want] of [
      ['?q=a%20b', undefined, `http://127.0.0.1:${port}/v1/functions/echo?q=a%20b`],
      ['?q={x}|y', undefined, `http://127.0.0.1:${port}/v1/functions/echo?q=%7Bx%7D%7Cy`],
      ['?a=1?b', 'Example.COM:80', 'http://example.com/v1/functions/echo?a=1?b'],
      ['', 'example.com:8080', 'http://example.com:8080/v1/functions/echo'],
    ]) {
      const headers = { 'x-pad': 'v  ', ...(host ? { Host: host } : {}) };
      const r = await invoke('echo', { query, headers });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json().url, want, `${query} ${host}`);
      assert.equal(r.json().reparsed, want);
      assert.equal(r.json().pad, 'v');
    }
    for (const st of [200, 404, 418, 503]) {
      const r = await invoke('echo', { query: `?status=${st}` });
      assert.equal(r.status, st);
    }
    let e = await invoke('echo', { query: '?mode=empty&status=204' });
    assert.equal(e.status, 204);
    assert.equal(e.body.length, 0);
    e = await invoke('echo', { query: '?status=204' });
    assert.equal(e.status, 500, 'a 204 with a body is the handler\'s error');
    assert.equal(e.json().code, 'function_error');
    // binary bodies both ways, then 5 MiB each way
    for (const size of [256, 5 * 1024 * 1024]) {
      const bin = crypto.randomBytes(size);
      const r = await invoke('echo', { method: 'POST', query: '?mode=bytes', body: bin, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(r.status, 200, r.text.slice(0, 200));
      assert.equal(r.headers['x-sha256'], crypto.createHash('sha256').update(bin).digest('hex'));
      assert.ok(r.body.equals(bin), `${size} bytes back unchanged`);
    }
    let r = await invoke('echo', { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024 + 1) });
    assert.equal(r.status, 413, 'BUNBASE_FUNCTIONS_MAX_BODY_BYTES (default 6 MiB)');
    r = await invoke('echo', { query: '?mode=big&n=7000000' });
    assert.equal(r.status, 502);
    assert.equal(r.json().code, 'function_response_too_large');
    // console route with a session; the key of another project does not reach this one's functions
    r = await httpRequest(`${G}${fnUrl('echo', '/invoke')}?q=c`, { method: 'POST', headers: { Authorization: `Bearer ${user.access}` }, body: 'x' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().q, 'c');
    r = await invoke('echo', { key: other.pk });
    assert.equal(r.status, 404);
    r = await httpRequest(`${G}/v1/functions/echo`);
    assert.equal(r.status, 401);
  });

  test('the matrix: a viewer reads and invokes but cannot deploy or delete; pk_ cannot manage', async () => {
    const viewer = await newUser(G, 'fnview');
    await addMember(G, user.access, p.id, viewer.email, 'viewer');
    let r = await deploy('viewed', 'export default () => new Response("v")', viewer.access);
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', fnUrl('echo'), { token: viewer.access });
    assert.equal(r.status, 200, r.text);
    r = await httpRequest(`${G}${fnUrl('echo', '/invoke')}`, { headers: { Authorization: `Bearer ${viewer.access}` } });
    assert.equal(r.status, 200, r.text);
    r = await api(G, 'DELETE', fnUrl('echo'), { token: viewer.access });
    assert.equal(r.status, 403, r.text);
    r = await api(G, 'GET', fnUrl('echo'), { key: p.sk });
    assert.equal(r.status, 403, 'console routes take a session or a PAT');
    const stranger = await newUser(G, 'fnstranger');
    r = await api(G, 'GET', fnUrl('echo'), { token: stranger.access });
    assert.equal(r.status, 404, 'not a member');
  });

  test('environment variables: sealed at rest, injected, names only on read, workers restarted', async () => {
    let r = await api(G, 'PUT', fnUrl('echo', '/env'), { token: user.access, body: { API_KEY: 'sesame-0123456789', MODE: 'a=b c' } });
    assert.equal(r.status, 200, r.text);
    r = await invoke('echo');
    assert.equal(r.json().env.API_KEY, 'sesame-0123456789');
    assert.equal(r.json().env.MODE, 'a=b c');
    assert.equal(r.headers['x-bunbase-cold-start'], 'true', 'restarted with the new environment');
    r = await api(G, 'GET', fnUrl('echo', '/env'), { token: user.access });
    assert.deepEqual(r.json.names.sort(), ['API_KEY', 'MODE']);
    assert.ok(!r.text.includes('sesame'), 'values are never returned');
    r = await api(G, 'GET', fnUrl('echo'), { token: user.access });
    assert.ok(!r.text.includes('sesame'));
    for (const f of fs.readdirSync(`${srv.dataDir}/functions`).filter((x) => x.startsWith('functions.db')))
      assert.ok(!fs.readFileSync(`${srv.dataDir}/functions/${f}`).includes('sesame-0123456789'), `${f} holds the value in clear`);
    for (const bad of [{ BUNBASE_X: '1' }, { '1A': 'x' }, { A: 1 }, ['A']]) {
      r = await api(G, 'PUT', fnUrl('echo', '/env'), { token: user.access, body: bad });
      assert.equal(r.status, 400, JSON.stringify(bad));
    }
    r = await api(G, 'PUT', fnUrl('echo', '/env'), { token: user.access, body: {} });
    assert.equal(r.status, 200);
    assert.equal((await invoke('echo')).json().env.API_KEY, undefined);
  });

  test('the worker environment holds only what the function is given', async () => {
    const r = await invoke('echo');
    const env = r.json().env;
    assert.equal(env.BUNBASE_FUNCTION_NAME, 'echo');
    assert.equal(env.BUNBASE_PROJECT_ID, p.id);
    assert.equal(env.BUNBASE_FUNCTIONS_CANARY_SECRET, undefined, 'parent env leaked');
    assert.equal(env.PATH, undefined);
    assert.deepEqual(Object.keys(env).sort(), ['BUNBASE_FUNCTION_NAME', 'BUNBASE_FUNCTION_VERSION', 'BUNBASE_PROJECT_ID']);
  });

  test('timeout: 504, the worker is killed, the next call gets a fresh one', async () => {
    assert.equal((await invoke('limits')).text, 'alive');
    const t0 = Date.now();
    let r = await invoke('limits', { query: '?mode=loop' });
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json().code, 'function_timeout');
    assert.ok(Date.now() - t0 < 5000);
    r = await invoke('limits');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-bunbase-cold-start'], 'true', 'a fresh worker');
    r = await invoke('limits');
    assert.equal(r.headers['x-bunbase-cold-start'], 'false', 'warm again');
    r = await invoke('limits', { query: '?mode=sleep&ms=5000' });
    assert.equal(r.status, 504, 'a pending timer past the deadline');
  });

  test('memory bomb: stopped with a clear error; an exception is a 500 and the worker stays', async () => {
    let r = await invoke('limits', { query: '?mode=mem' });
    assert.equal(r.status, 500, r.text);
    assert.equal(r.json().code, 'function_out_of_memory');
    r = await invoke('limits', { query: '?mode=throw' });
    assert.equal(r.status, 500);
    assert.equal(r.json().code, 'function_error');
    assert.match(r.json().error, /boom from the handler/);
    r = await invoke('limits');
    assert.equal(r.headers['x-bunbase-cold-start'], 'false', 'an exception does not cost the worker');
  });

  test('a worker killed mid-request: 502, then a fresh worker', async () => {
    const pending = invoke('limits', { query: '?mode=sleep&ms=1200' });
    let pid = null;
    for (let i = 0; i < 100 && !pid; i++) {
      await new Promise((res) => setTimeout(res, 20));
      for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        let cmd = '';
        try { cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8'); } catch { continue; }
        if (cmd.split('\0')[0].endsWith('bunbase-qjs-worker') && cmd.includes(`${srv.dataDir}/functions/${p.id}/limits/`)) { pid = Number(d); break; }
      }
    }
    assert.ok(pid, 'the worker process');
    process.kill(pid, 'SIGKILL');
    const r = await pending;
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json().code, 'function_crashed');
    const n = await invoke('limits');
    assert.equal(n.status, 200);
    assert.equal(n.headers['x-bunbase-cold-start'], 'true');
  });

  test('concurrency limit: 429 with Retry-After', async () => {
    const calls = [0, 1, 2].map(() => invoke('limits', { query: '?mode=sleep&ms=600' }));
    const rs = await Promise.all(calls);
    const st = rs.map((r) => r.status).sort();
    assert.deepEqual(st, [200, 200, 429], 'BUNBASE_FUNCTIONS_MAX_WORKERS=2, QUEUE_MAX=0');
    const rej = rs.find((r) => r.status === 429);
    assert.equal(rej.json().code, 'too_many_invocations');
    assert.match(rej.headers['retry-after'], /^\d+$/);
  });

  test('logs and metrics per invocation, with console output', async () => {
    const r = await invoke('echo', { query: '?q=logged' });
    const id = r.headers['x-invocation-id'];
    const l = await api(G, 'GET', fnUrl('echo', '/logs?limit=5'), { token: user.access });
    assert.equal(l.status, 200, l.text);
    const inv = l.json.invocations.find((i) => i.id === id);
    assert.ok(inv, l.text);
    assert.equal(inv.status, 200);
    assert.match(inv.logs, /\[info\] echo GET \/v1\/functions\/echo/);
    assert.match(inv.logs, /\[warn\] warned/);
    const bad = await api(G, 'GET', fnUrl('limits', '/logs?limit=50'), { token: user.access });
    assert.ok(bad.json.invocations.some((i) => i.error === 'function_timeout'));
    const m = await api(G, 'GET', fnUrl('echo', '/metrics'), { token: user.access });
    assert.equal(m.status, 200);
    assert.ok(m.json.minutes[0].count >= 1);
  });
});

test('functions knobs are validated at start', async () => {
  const dir = makeTempDir();
  try {
    for (const [k, v, re] of [
      ['BUNBASE_FUNCTIONS_TIMEOUT_MS', 'soon', /BUNBASE_FUNCTIONS_TIMEOUT_MS must be an integer/],
      ['BUNBASE_FUNCTIONS_MAX_BODY_BYTES', '999999999999', /BUNBASE_FUNCTIONS_MAX_BODY_BYTES must be an integer in \[1024, 33554432\]/]]) {
      const r = await runBunbased(['serve', '--listen', '127.0.0.1:0', '--data', dir], { env: { [k]: v }, timeoutMs: 20000 });
      assert.equal(r.code, 2, `${k}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  } finally {
    removeTempDir(dir);
  }
});
