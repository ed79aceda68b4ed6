// Hardening of the HTTP core against a real bunbased (all services, bundoc-server on its own
// listener too), started with a soft RLIMIT_NOFILE of 1024 that bunbased must raise:
// identity decided before the body is read (401 with only headers sent, RSS flat), the in-flight
// body budget (503), trailers never authenticate, Expect: 100-continue, obs-fold and "Host :"
// rejected, a JSON document with millions of values refused, 1,100 idle connections on the gateway
// leaving every listener usable, the per-IP connection cap (refusals logged).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { RawClient, freePort, httpRequest, rawRequest, sleep, startServer } from './harness.mjs';

const TOKEN = 'http-hardening-test-token-0123456789abcdef';
const AUTH = `Bearer ${TOKEN}`;
const MAX_BODY = 6 << 20;
const INFLIGHT = 8 << 20; // one 5 MB body fits, two do not; so does one 6.3 MiB JSON document
const PER_IP = 1150;
const IDLE = 1100;
const DOCS = '/v1/projects/hard1/databases/default';

let srv;
let bundocPort;

function hardNofile() {
  // node raises its own soft limit to the hard one; read ours from /proc
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const f = line.trim().split(/\s+/);
  return f[4] === 'unlimited' ? Infinity : Number(f[4]);
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

function connectFrom(port, localAddress = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    sock.setNoDelay(true);
    sock.once('error', reject);
    sock.once('connect', () => { sock.off('error', reject); resolve(new RawClient(sock)); });
  });
}

before(async () => {
  bundocPort = await freePort();
  srv = await startServer({
    wrap: ['prlimit', '--nofile=1024:', '--'],
    env: {
      BUNBASE_DEBUG_ROUTES: '1',
      BUNBASE_INTERNAL_TOKEN: TOKEN,
      BUNBASE_LOG_LEVEL: 'info',
      BUNBASE_HTTP_MAX_BODY_BYTES: String(MAX_BODY),
      BUNBASE_HTTP_MAX_INFLIGHT_BODY_BYTES: String(INFLIGHT),
      BUNBASE_HTTP_MAX_CONNECTIONS_PER_IP: String(PER_IP),
      BUNBASE_BUNDOC_SERVER_ADDR: `127.0.0.1:${bundocPort}`,
    },
  });
});

after(async () => {
  if (srv) await srv.stop('SIGTERM');
});

describe('identity before the body', () => {
  test('20 unauthenticated clients announcing 15 MiB each get 401 with only their headers sent; RSS stays flat', async () => {
    const rss0 = rssKiB(srv.proc.pid);
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(bundocPort)));
    for (const c of clients) {
      await c.write(rawRequest('POST', `${DOCS}/documents/query`, { 'Content-Length': 15 << 20, 'Content-Type': 'application/json' }));
    }
    for (const c of clients) {
      const r = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(r.status, 401, r.text);
      assert.equal(JSON.parse(r.body.toString()).code, 'unauthenticated');
      assert.equal(await c.waitClose(3000), true, 'connection not closed after the early 401');
      c.destroy();
    }
    // the same with a body pushed anyway: the server stops reading it
    const c = await RawClient.connect(bundocPort);
    await c.write(rawRequest('POST', `${DOCS}/documents/query`, { 'Content-Length': 15 << 20 }));
    const chunk = Buffer.alloc(1 << 20, 0x20);
    for (let i = 0; i < 15 && !c.closed && c.buf.length === 0; i++) await c.write(chunk);
    const r = await c.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 401);
    c.destroy();
    const grew = rssKiB(srv.proc.pid) - rss0;
    assert.ok(grew < 64 * 1024, `RSS grew by ${grew} KiB`);
  });

  test('a trailer-only Authorization / X-Bunbase-Identity does not authenticate', async () => {
    const c = await RawClient.connect(bundocPort);
    await c.write(Buffer.from(`POST ${DOCS}/documents/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`
      + `2\r\n{}\r\n0\r\nAuthorization: ${AUTH}\r\nX-Bunbase-Identity: admin\r\n\r\n`, 'latin1'));
    const r = await c.readResponse();
    assert.equal(r.status, 401, r.text);
    c.destroy();
    // the same request with real headers is authorized (not 401/403)
    const ok = await httpRequest(`http://127.0.0.1:${bundocPort}${DOCS}/documents/query`, {
      method: 'POST', headers: { Authorization: AUTH, 'X-Bunbase-Identity': 'admin', 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.notEqual(ok.status, 401, ok.text);
    assert.notEqual(ok.status, 403, ok.text);
  });

  test('Expect: 100-continue: 100 once authorized, then the answer; unauthorized: 401 and no 100', async () => {
    let c = await RawClient.connect(srv.port);
    await c.write(rawRequest('POST', '/v1/debug/echo', { 'Content-Length': 5, Expect: '100-continue' }));
    await c.waitUntil(() => c.buf.toString('latin1').startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 3000, '100 Continue');
    c.buf = c.buf.subarray('HTTP/1.1 100 Continue\r\n\r\n'.length);
    await c.write('hello');
    let r = await c.readResponse();
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.body.toString()).bytes, 5); // /v1/debug/echo answers {bytes, sha256}
    c.destroy();

    c = await RawClient.connect(bundocPort);
    await c.write(rawRequest('POST', `${DOCS}/documents/query`, { 'Content-Length': 2, Expect: '100-continue' }));
    r = await c.readResponse({ timeoutMs: 3000 });
    assert.equal(r.status, 401, r.text);
    c.destroy();
  });
});

describe('strict parsing', () => {
  for (const [name, head] of [
    ['obs-fold', 'GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'],
    ['obs-fold of an empty value', 'GET /health HTTP/1.1\r\nHost: x\r\nX-A:\r\n\tb\r\n\r\n'],
    ['"Host :"', 'GET /health HTTP/1.1\r\nHost : x\r\n\r\n'],
  ]) {
    test(`${name} is 400 and the connection is closed`, async () => {
      const c = await RawClient.connect(srv.port);
      await c.write(Buffer.from(head, 'latin1'));
      const r = await c.readResponse();
      assert.equal(r.status, 400, r.text);
      assert.equal(JSON.parse(r.body.toString()).code, 'bad_request');
      assert.equal(await c.waitClose(3000), true);
      c.destroy();
    });
  }
});

describe('memory bounds', () => {
  test('in-flight body bytes over BUNBASE_HTTP_MAX_INFLIGHT_BODY_BYTES get 503 before the body; released after', async () => {
    const a = await RawClient.connect(srv.port);
    await a.write(rawRequest('POST', '/v1/debug/echo', { 'Content-Length': 5000000 }));
    await a.write(Buffer.alloc(1000, 0x61));
    await sleep(200);
    const b = await RawClient.connect(srv.port);
    await b.write(rawRequest('POST', '/v1/debug/echo', { 'Content-Length': 5000000 }));
    const rb = await b.readResponse({ timeoutMs: 3000 });
    assert.equal(rb.status, 503, rb.text);
    assert.equal(JSON.parse(rb.body.toString()).code, 'overloaded');
    b.destroy();
    await a.write(Buffer.alloc(4999000, 0x61));
    const ra = await a.readResponse();
    assert.equal(ra.status, 200);
    assert.equal(JSON.parse(ra.body.toString()).bytes, 5000000);
    a.destroy();
    await sleep(100);
    const again = await httpRequest(`${srv.url}/v1/debug/echo`, { method: 'POST', body: Buffer.alloc(5000000, 0x62) });
    assert.equal(again.status, 200);
  });

  test('a JSON body of millions of values is refused with a clear error, RSS stays bounded', async () => {
    // 6 MiB of [0,0,…]: 3 M values, over the default BUNBASE_JSON_MAX_VALUES (1 M)
    const n = 3 << 20;
    const body = Buffer.alloc(2 * n + 20, 0x30);
    body.write('{"a":[', 0, 'latin1');
    let o = 6;
    for (let i = 0; i < n; i++, o += 2) body[o + 1] = i + 1 < n ? 0x2c : 0x5d;
    body.write('}', o, 'latin1');
    const doc = body.subarray(0, o + 1);
    const rss0 = rssKiB(srv.proc.pid);
    const r = await httpRequest(`http://127.0.0.1:${bundocPort}${DOCS}/collections/c1/documents`, {
      method: 'POST', headers: { Authorization: AUTH, 'X-Bunbase-Identity': 'admin', 'Content-Type': 'application/json' }, body: doc,
    });
    assert.equal(r.status, 400, r.text.slice(0, 500));
    assert.match(r.json().error, /too many JSON values/);
    const grew = rssKiB(srv.proc.pid) - rss0;
    assert.ok(grew < 64 * 1024, `RSS grew by ${grew} KiB`);
  });
});

describe('file descriptors and connection caps', () => {
  test('the soft RLIMIT_NOFILE of 1024 is raised to the hard limit at start', () => {
    const m = /nofile" soft_before=(\d+) soft=(\d+) http_fd_budget=(\d+)/.exec(srv.stderr());
    assert.ok(m, 'no nofile log line');
    assert.equal(Number(m[1]), 1024);
    const hard = hardNofile();
    assert.equal(Number(m[2]), Math.min(hard, 1 << 20));
    assert.equal(Number(fs.readFileSync(`/proc/${srv.proc.pid}/limits`, 'utf8').split('\n')
      .find((l) => l.startsWith('Max open files')).trim().split(/\s+/)[3]), Math.min(hard, Infinity));
  });

  test(`${IDLE} idle connections on the gateway leave /health and the other listener working; the per-IP cap refuses and logs`, { timeout: 60000 }, async (t) => {
    if (hardNofile() < 4096) { t.skip('hard RLIMIT_NOFILE below 4096 on this machine'); return; }
    const idle = [];
    try {
      for (let i = 0; i < IDLE; i++) idle.push(await connectFrom(srv.port));
      await sleep(200);
      for (const c of idle.slice(-5)) assert.equal(c.closed, false, 'an idle connection was refused');
      let r = await httpRequest(`${srv.url}/health`);
      assert.equal(r.status, 200, r.text);
      r = await httpRequest(`http://127.0.0.1:${bundocPort}${DOCS}/collections`, { headers: { Authorization: AUTH, 'X-Bunbase-Identity': 'admin' } });
      assert.equal(r.status, 200, r.text);
      // fill 127.0.0.1's quota; the next one is closed at once, another address still gets in
      for (let i = idle.length; i < PER_IP; i++) idle.push(await connectFrom(srv.port));
      const over = await connectFrom(srv.port);
      assert.equal(await over.waitClose(3000), true, 'connection over the per-IP cap not closed');
      over.destroy();
      const other = await connectFrom(srv.port, '127.0.0.2');
      await other.write(rawRequest('GET', '/health'));
      const rh = await other.readResponse();
      assert.equal(rh.status, 200);
      other.destroy();
      await sleep(100);
      assert.match(srv.stderr(), /connection_refused" reason=max_connections_per_ip peer=127\.0\.0\.1 limit=1150/);
      const met = await connectFrom(srv.port, '127.0.0.3');
      await met.write(rawRequest('GET', '/metrics'));
      const rm = await met.readResponse();
      met.destroy();
      assert.equal(rm.status, 200);
      const line = rm.body.toString().split('\n').find((l) => l.startsWith('bunbase_http_connections_refused_total{listener="platform",reason="max_connections_per_ip"}'));
      assert.ok(line && Number(line.split(' ').pop()) >= 1, `no refusal counter in /metrics: ${line}`);
    } finally {
      for (const c of idle) c.destroy();
    }
    await sleep(300);
    const r = await httpRequest(`${srv.url}/health`);
    assert.equal(r.status, 200);
  });
});
