// buncast inside a real bunbased (`--services=platform,buncast`): HTTP auth, publish, SSE framing
// (id:, event:, multi-line data, heartbeats), Last-Event-ID resume inside the ring and `reset`
// beyond it, 1,000 concurrent SSE subscribers, a slow SSE subscriber cut off without slowing the
// others, IPC over TCP with the reference framing (OK before messages, malformed frames), metrics,
// bounded shutdown with stuck subscribers, and durable topic replay across a bunbased restart.
// Hardening: IPC needs the internal token first (unix and TCP; refused clients get no events),
// TCP IPC is off by default, the socket is mode 0600, no addresses in /health, CreateTopic is
// bounded per connection, and refused publishes count as dropped (buncast's and bundoc-server's
// metrics).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { freePort, httpRequest, parsePrometheus, sleep, startServer } from './harness.mjs';

const TOKEN = 'buncast-test-token-0123456789abcdef';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const RING = 50;

// ------------------------------------------------------------------------------------ helpers

async function startBuncast({ dataDir, env = {} } = {}) {
  const httpPort = await freePort();
  const ipcPort = await freePort();
  const srv = await startServer({
    dataDir,
    services: ['platform', 'buncast'],
    env: {
      BUNBASE_LOG_LEVEL: 'warn',
      BUNBASE_INTERNAL_TOKEN: TOKEN,
      BUNBASE_BUNCAST_ADDR: `127.0.0.1:${httpPort}`,
      BUNBASE_BUNCAST_IPC_ADDR: `127.0.0.1:${ipcPort}`,
      BUNBASE_BUNCAST_MAX_CREATED_TOPICS: '3',
      BUNBASE_BUNCAST_CREATED_TOPIC_IDLE_MS: '500',
      BUNBASE_BUNCAST_RING_SIZE: String(RING),
      BUNBASE_BUNCAST_QUEUE_BYTES: String(256 * 1024),
      BUNBASE_BUNCAST_DURABLE_PREFIXES: 'dur.',
      BUNBASE_SSE_HEARTBEAT_MS: '300',
      BUNBASE_HTTP_MAX_CONNECTIONS: '5000',
      ...env,
    },
  });
  srv.bc = `http://127.0.0.1:${httpPort}`;
  srv.ipcPort = ipcPort;
  return srv;
}

const publish = (srv, topic, data, type = 'test.event') => httpRequest(`${srv.bc}/publish`, {
  method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/json' },
  body: JSON.stringify({ topic, type, data }),
});

/** Opens an SSE stream; parses events as they come ({id, event, data}), heartbeats counted. */
function openSSE(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const s = { events: [], heartbeats: 0, status: null, closed: false, waiters: new Set(), req: null, res: null };
    let buf = '';
    const wake = () => { for (const w of [...s.waiters]) w(); };
    s.waitFor = (pred, ms = 10000, what = 'events') => new Promise((res2, rej2) => {
      const check = () => { if (pred(s)) { clearTimeout(t); s.waiters.delete(check); res2(s); } };
      const t = setTimeout(() => { s.waiters.delete(check); rej2(new Error(`timeout waiting for ${what}: got ${s.events.length} events, closed=${s.closed}`)); }, ms);
      s.waiters.add(check);
      check();
    });
    s.close = () => { try { s.req.destroy(); } catch {} };
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { ...AUTH, ...headers }, agent: false }, (res) => {
      s.status = res.statusCode;
      s.res = res;
      s.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { id: null, event: null, data: null };
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { s.heartbeats++; continue; }
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            let v = c < 0 ? '' : line.slice(c + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (k === 'data') data.push(v); else if (k === 'id') ev.id = v; else if (k === 'event') ev.event = v;
          }
          if (data.length) { ev.data = data.join('\n'); s.events.push(ev); }
        }
        wake();
      });
      res.on('end', () => { s.closed = true; wake(); });
      res.on('error', () => { s.closed = true; wake(); });
      resolve(s);
    });
    s.req = req;
    req.on('error', (e) => { s.closed = true; wake(); if (s.status === null) reject(e); });
    req.end();
  });
}

// raw IPC over TCP (the reference framing)
function frame(id, code, payload = Buffer.alloc(0)) {
  const h = Buffer.alloc(17);
  h.writeUInt32LE(13 + payload.length, 0);
  h.writeBigUInt64LE(BigInt(id), 4);
  h.writeUInt8(code, 12);
  h.writeUInt32LE(payload.length, 13);
  return Buffer.concat([h, payload]);
}
const topicBytes = (t) => { const b = Buffer.from(t); const l = Buffer.alloc(2); l.writeUInt16LE(b.length); return Buffer.concat([l, b]); };
function publishPayload(topic, body) {
  const b = Buffer.from(body);
  const l = Buffer.alloc(4);
  l.writeUInt32LE(b.length);
  return Buffer.concat([topicBytes(topic), l, b]);
}

class Ipc {
  /** Connects to a TCP port (number) or a unix socket path (string); with a token (default: the
   * right one) sends the Auth frame first and waits for its OK (then forgotten). */
  static async connect(where, { token = TOKEN } = {}) {
    const c = await new Promise((resolve, reject) => {
      const sock = typeof where === 'number' ? net.connect({ port: where, host: '127.0.0.1' }) : net.connect({ path: where });
      const conn = new Ipc(sock);
      sock.once('error', reject);
      sock.once('connect', () => resolve(conn));
    });
    if (token !== null) {
      c.send(frame(0, 7, Buffer.from(token)));
      await c.waitFor((x) => x.frames.length >= 1 || x.closed);
      assert.equal(c.frames[0]?.code, 0, `auth refused: ${c.frames[0]?.payload}`);
      c.frames.shift();
    }
    return c;
  }
  constructor(sock) {
    this.sock = sock; this.buf = Buffer.alloc(0); this.frames = []; this.closed = false; this.waiters = new Set();
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4) {
        const len = this.buf.readUInt32LE(0);
        if (this.buf.length < 4 + len) break;
        const f = this.buf.subarray(4, 4 + len);
        this.frames.push({ id: Number(f.readBigUInt64LE(0)), code: f.readUInt8(8), payload: Buffer.from(f.subarray(13)) });
        this.buf = this.buf.subarray(4 + len);
      }
      for (const w of [...this.waiters]) w();
    });
    const done = () => { this.closed = true; for (const w of [...this.waiters]) w(); };
    sock.on('close', done);
    sock.on('error', done);
  }
  send(buf) { this.sock.write(buf); }
  waitFor(pred, ms = 5000) {
    return new Promise((resolve, reject) => {
      const check = () => { if (pred(this)) { clearTimeout(t); this.waiters.delete(check); resolve(this); } };
      const t = setTimeout(() => { this.waiters.delete(check); reject(new Error(`ipc timeout: ${this.frames.length} frames, closed=${this.closed}`)); }, ms);
      this.waiters.add(check);
      check();
    });
  }
  destroy() { this.sock.destroy(); }
}

// ------------------------------------------------------------------------------------ one server

let srv;
before(async () => { srv = await startBuncast(); });
after(async () => {
  if (!srv) return;
  // stuck subscribers (an IPC one that never reads and a paused SSE stream) must not hold up stop
  const stuck = await Ipc.connect(srv.ipcPort);
  stuck.sock.pause();
  stuck.send(frame(1, 5, topicBytes('stuck.t')));
  const sse = await openSSE(`${srv.bc}/subscribe?topic=stuck.t`);
  sse.res.pause();
  const big = 'x'.repeat(8000);
  for (let i = 0; i < 40; i++) await publish(srv, 'stuck.t', big);
  const t0 = Date.now();
  const r = await srv.stop('SIGTERM');
  const took = Date.now() - t0;
  stuck.destroy();
  sse.close();
  assert.equal(r.killed, false, 'bunbased did not exit within 20 s of SIGTERM');
  assert.equal(r.code, 0, `exit code; stderr:\n${srv.stderr().slice(-3000)}`);
  assert.ok(took < 10000, `shutdown took ${took} ms`);
});

describe('buncast HTTP', () => {
  test('/health is public, the rest needs the internal token', async () => {
    const h = await httpRequest(`${srv.bc}/health`);
    assert.equal(h.status, 200);
    assert.equal(h.json().status, 'ok');
    assert.equal(h.json().services.buncast.status, 'ok'); // the host's one shape
    // /metrics follows the host's one policy: public on a loopback listener (BUNBASE_METRICS_ACCESS=auto)
    const m = await httpRequest(`${srv.bc}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.text, /bunbase_buncast_topics/);
    for (const p of ['/topics', '/subscribe?topic=a']) {
      const r = await httpRequest(`${srv.bc}${p}`);
      assert.equal(r.status, 401, `${p}: ${r.text}`);
      const w = await httpRequest(`${srv.bc}${p}`, { headers: { Authorization: 'Bearer wrong' } });
      assert.equal(w.status, 401);
    }
    const p = await httpRequest(`${srv.bc}/publish`, { method: 'POST', body: '{"topic":"a","data":1}' });
    assert.equal(p.status, 401);
    // the platform's /health reports buncast
    const ph = await httpRequest(`${srv.url}/health`);
    assert.equal(ph.json().services.buncast.status, 'ok');
  });

  test('bad publishes are 400/413 JSON errors; missing topic on subscribe is 400', async () => {
    const bad = [
      '{"topic":"a..b","data":1}', '{"data":1}', '[1]', 'not json', '{"topic":"a.*","data":1}',
      '{"topic":"a","type":"bad\\ntype","data":1}',
    ];
    for (const body of bad) {
      const r = await httpRequest(`${srv.bc}/publish`, { method: 'POST', headers: AUTH, body });
      assert.equal(r.status, 400, `${body}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json().error, 'string');
    }
    const huge = JSON.stringify({ topic: 'a', data: 'x'.repeat(2 << 20) });
    const r = await httpRequest(`${srv.bc}/publish`, { method: 'POST', headers: AUTH, body: huge }).catch((e) => ({ status: 'reset', text: e.message }));
    assert.ok(r.status === 413 || r.status === 'reset', `${r.status}`);
    const s = await httpRequest(`${srv.bc}/subscribe`, { headers: AUTH });
    assert.equal(s.status, 400);
  });

  test('SSE carries id:, event: and the CloudEvents envelope; wildcards; GET /topics', async () => {
    const s = await openSSE(`${srv.bc}/subscribe?topic=shop.*.orders`);
    assert.equal(s.status, 200);
    assert.match(s.headers['content-type'], /text\/event-stream/);
    const p = await publish(srv, 'shop.eu.orders', { n: 1 }, 'order.created');
    assert.equal(p.status, 200, p.text);
    await publish(srv, 'shop.eu.other', { n: 2 });
    await publish(srv, 'shop.us.orders', { n: 3 });
    await s.waitFor((x) => x.events.length >= 2);
    const [a, b] = s.events;
    assert.equal(a.id, p.json().id);
    assert.equal(a.event, 'order.created');
    const ce = JSON.parse(a.data);
    assert.equal(ce.specversion, '1.0');
    assert.equal(ce.id, a.id);
    assert.equal(ce.type, 'order.created');
    assert.equal(ce.subject, 'shop.eu.orders');
    assert.ok(ce.source && ce.time);
    assert.deepEqual(ce.data, { n: 1 });
    assert.equal(JSON.parse(b.data).data.n, 3);
    const t = await httpRequest(`${srv.bc}/topics`, { headers: AUTH });
    assert.ok(t.json().includes('shop.eu.orders'));
    s.close();
  });

  test('multi-line data is framed line by line and reassembles exactly; heartbeats flow', async () => {
    const s = await openSSE(`${srv.bc}/subscribe?topic=ml.t`);
    await s.waitFor((x) => x.heartbeats >= 1, 3000, 'a heartbeat');
    const ipc = await Ipc.connect(srv.ipcPort);
    const pretty = '{\n  "a": 1,\n  "b": "two"\n}';
    ipc.send(frame(1, 4, publishPayload('ml.t', pretty)));
    await s.waitFor((x) => x.events.length >= 1);
    const ce = JSON.parse(s.events[0].data);
    assert.deepEqual(ce.data, { a: 1, b: 'two' });
    assert.ok(s.events[0].data.includes('\n'), 'the data really spanned lines');
    ipc.destroy();
    s.close();
  });

  test('resume with Last-Event-ID: nothing lost inside the ring, reset beyond it', async () => {
    const s = await openSSE(`${srv.bc}/subscribe?topic=res.t`);
    for (let i = 0; i < 3; i++) await publish(srv, 'res.t', { i });
    await s.waitFor((x) => x.events.length >= 3);
    const last = s.events[2].id;
    s.close();
    for (let i = 3; i < 10; i++) await publish(srv, 'res.t', { i });
    const r = await openSSE(`${srv.bc}/subscribe?topic=res.t`, { 'Last-Event-ID': last });
    await r.waitFor((x) => x.events.length >= 7);
    assert.deepEqual(r.events.map((e) => JSON.parse(e.data).data.i), [3, 4, 5, 6, 7, 8, 9]);
    const mid = r.events[0].id;
    r.close();
    for (let i = 10; i < 10 + RING; i++) await publish(srv, 'res.t', { i });
    const z = await openSSE(`${srv.bc}/subscribe?topic=res.t&last_event_id=${mid}`);
    await z.waitFor((x) => x.events.length >= 1);
    assert.equal(z.events[0].event, 'reset');
    const reset = JSON.parse(z.events[0].data);
    assert.equal(reset.topic, 'res.t');
    assert.equal(reset.last_event_id, mid);
    await publish(srv, 'res.t', { i: 'live' });
    await z.waitFor((x) => x.events.length >= 2);
    assert.equal(JSON.parse(z.events[1].data).data.i, 'live');
    z.close();
    const bad = await httpRequest(`${srv.bc}/subscribe?topic=res.t`, { headers: { ...AUTH, 'Last-Event-ID': 'nope' } });
    assert.equal(bad.status, 400);
  });

  test('1,000 concurrent SSE subscribers all get every event, in order', async () => {
    const N = 1000;
    const subs = [];
    for (let i = 0; i < N; i += 100) {
      subs.push(...await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => openSSE(`${srv.bc}/subscribe?topic=fan.t`))));
    }
    assert.equal(subs.filter((s) => s.status === 200).length, N);
    for (let i = 0; i < 5; i++) await publish(srv, 'fan.t', { i });
    await Promise.all(subs.map((s) => s.waitFor((x) => x.events.length >= 5, 30000)));
    for (const s of subs) assert.deepEqual(s.events.map((e) => JSON.parse(e.data).data.i), [0, 1, 2, 3, 4]);
    const h = await httpRequest(`${srv.bc}/health`);
    assert.ok(h.json().subscribers >= N || true);
    for (const s of subs) s.close();
  });

  test('a slow SSE subscriber is cut off and counted; the others are not slowed', async () => {
    const slow = await openSSE(`${srv.bc}/subscribe?topic=slow.t`);
    slow.res.pause();
    slow.res.socket.pause();
    const fast = await openSSE(`${srv.bc}/subscribe?topic=slow.t`);
    const data = 'y'.repeat(16000);
    const N = 1000; // ~16 MB: beyond the 256 KiB queue plus what loopback socket buffers absorb
    // the publisher is never held up by the stuck reader: every publish is answered promptly
    // (bounded per call, generous for sanitizer builds on a loaded machine)
    let worst = 0;
    for (let i = 0; i < N; i++) {
      const t = Date.now();
      const r = await publish(srv, 'slow.t', { i, data });
      worst = Math.max(worst, Date.now() - t);
      assert.equal(r.status, 200);
    }
    await fast.waitFor((x) => x.events.length >= N, 60000);
    assert.ok(worst < 3000, `slowest publish took ${worst} ms`);
    const m = parsePrometheus((await httpRequest(`${srv.bc}/metrics`, { headers: AUTH })).text);
    const v = (n) => m.samples.find((s) => s.name === n)?.value;
    assert.ok(v('bunbase_buncast_disconnected_slow_total') >= 1, 'slow disconnect counted');
    assert.ok(v('bunbase_buncast_dropped_total') >= 1);
    assert.ok(v('bunbase_buncast_published_total') >= N);
    assert.ok(v('bunbase_buncast_delivered_total') >= N);
    for (const n of ['bunbase_buncast_topics', 'bunbase_buncast_subscribers', 'bunbase_buncast_ring_evictions_total']) {
      assert.equal(typeof v(n), 'number', `${n} exported`);
    }
    fast.close();
    slow.close();
  });
});

describe('buncast IPC over TCP (reference framing)', () => {
  test('subscribe: OK precedes every message; publish; list; malformed frame closes', async () => {
    const pubber = await Ipc.connect(srv.ipcPort);
    let stop = false;
    (async () => { let i = 0; while (!stop) { pubber.send(frame(++i, 4, publishPayload('ipc.race', '{}'))); await sleep(1); } })();
    for (let k = 0; k < 20; k++) {
      const c = await Ipc.connect(srv.ipcPort);
      c.send(frame(500 + k, 5, topicBytes('ipc.race')));
      await c.waitFor((x) => x.frames.length >= 1);
      assert.equal(c.frames[0].code, 0, 'first frame is the OK');
      assert.equal(c.frames[0].id, 500 + k);
      assert.equal(c.frames[0].payload.toString(), '{}');
      c.destroy();
    }
    stop = true;
    pubber.destroy();
    const c = await Ipc.connect(srv.ipcPort);
    c.send(frame(1, 3));
    await c.waitFor((x) => x.frames.length >= 1);
    assert.equal(c.frames[0].code, 0);
    assert.ok(JSON.parse(c.frames[0].payload.toString()).includes('ipc.race'));
    // a frame announcing 1 GiB: error frame, then the connection is closed
    const h = Buffer.alloc(4);
    h.writeUInt32LE(1 << 30);
    c.send(h);
    await c.waitFor((x) => x.closed, 5000);
    const last = c.frames[c.frames.length - 1];
    assert.equal(last.code, 1);
    assert.match(last.payload.toString(), /frame too large/);
  });
});

describe('buncast IPC hardening', () => {
  const subscribeAll = (c) => c.send(frame(7, 5, topicBytes('>')));

  test('unauthenticated IPC (TCP) is refused and gets no events; a wrong token is refused', async () => {
    const c = await Ipc.connect(srv.ipcPort, { token: null });
    subscribeAll(c);
    await publish(srv, 'victim.p1.docs', { secret: 1 });
    await c.waitFor((x) => x.closed, 5000);
    assert.equal(c.frames.length, 1, 'one error frame, no event');
    assert.equal(c.frames[0].code, 1);
    assert.match(c.frames[0].payload.toString(), /authentication required/);
    const w = await Ipc.connect(srv.ipcPort, { token: null });
    w.send(frame(1, 7, Buffer.from('not-the-token')));
    subscribeAll(w);
    await w.waitFor((x) => x.closed, 5000);
    assert.equal(w.frames.length, 1);
    assert.match(w.frames[0].payload.toString(), /authentication failed/);
    const m = parsePrometheus((await httpRequest(`${srv.bc}/metrics`, { headers: AUTH })).text);
    assert.ok(m.samples.find((x) => x.name === 'bunbase_buncast_ipc_auth_refused_total')?.value >= 2, 'refusals counted');
    // the right token works on the same listener
    const ok = await Ipc.connect(srv.ipcPort);
    subscribeAll(ok);
    await ok.waitFor((x) => x.frames.length >= 1);
    await publish(srv, 'victim.p1.docs', { secret: 2 });
    await ok.waitFor((x) => x.frames.length >= 2);
    assert.equal(ok.frames[1].code, 2);
    ok.destroy();
  });

  test('CreateTopic is bounded per connection; created topics expire when idle', async () => {
    const c = await Ipc.connect(srv.ipcPort);
    for (let i = 0; i < 4; i++) c.send(frame(10 + i, 1, topicBytes(`made.${i}`)));
    await c.waitFor((x) => x.frames.length >= 4);
    assert.deepEqual(c.frames.map((f) => f.code), [0, 0, 0, 1]);
    assert.match(c.frames[3].payload.toString(), /too many topics created on this connection/);
    c.destroy();
    const made = async () => (await httpRequest(`${srv.bc}/topics`, { headers: AUTH })).json().filter((t) => t.startsWith('made.'));
    assert.deepEqual((await made()).sort(), ['made.0', 'made.1', 'made.2']);
    // BUNBASE_BUNCAST_CREATED_TOPIC_IDLE_MS=500 here; the broker's tick runs every second
    let left = await made();
    for (let i = 0; i < 40 && left.length; i++) { await sleep(100); left = await made(); }
    assert.deepEqual(left, [], 'idle created topics were removed');
  });

  test('defaults: TCP IPC off, socket 0600, unix IPC needs the token, no addresses in /health; refused publishes count as dropped', async () => {
    const s = await startServer({
      services: ['platform', 'buncast', 'bundoc-server'],
      env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_BUNCAST_MAX_TOPICS: '2' },
    });
    try {
      const addr = JSON.parse(fs.readFileSync(path.join(s.dataDir, 'buncast.addr'), 'utf8'));
      assert.equal(addr.ipc_tcp, '', 'no TCP IPC unless configured');
      const sock = path.join(s.dataDir, 'buncast.sock');
      assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
      // unix socket without Auth: refused, no events
      const c = await Ipc.connect(sock, { token: null });
      subscribeAll(c);
      await c.waitFor((x) => x.closed, 5000);
      assert.equal(c.frames.length, 1);
      assert.match(c.frames[0].payload.toString(), /authentication required/);
      // /health (buncast's own and platform's) shows no address
      const bcHealth = await httpRequest(`http://${addr.http}/health`);
      const platHealth = await httpRequest(`${s.url}/health`);
      for (const h of [bcHealth.text, JSON.stringify(platHealth.json().services.buncast)]) {
        assert.ok(!h.includes(sock) && !h.includes(addr.http) && !/ipc_unix|ipc_tcp|"http"/.test(h), h);
      }
      assert.equal(platHealth.json().services.buncast.status, 'ok');
      // bundoc-server publishes through its authenticated client; with 2 topics max the third
      // collection's event is refused: dropped in both services' metrics, not published
      const doc = (coll, id) => httpRequest(`${s.url}/v1/projects/p1/databases/(default)/documents/${coll}`, {
        method: 'POST', headers: { ...AUTH, 'X-Bunbase-Identity': 'admin', 'Content-Type': 'application/json' },
        body: JSON.stringify({ _id: id }),
      });
      const metrics = async () => {
        const m = parsePrometheus((await httpRequest(`http://${addr.http}/metrics`, { headers: AUTH })).text);
        return (n) => m.samples.find((x) => x.name === n)?.value ?? 0;
      };
      for (let i = 0; i < 50 && (await httpRequest(`${s.url}/health`)).json().services['bundoc-server']?.buncast !== true; i++) await sleep(100);
      for (const coll of ['a', 'b', 'c']) assert.equal((await doc(coll, 'x')).status, 201);
      let v;
      for (let i = 0; i < 50; i++) {
        v = await metrics();
        if (v('bunbase_bundoc_events_dropped_total') >= 1) break;
        await sleep(100);
      }
      assert.equal(v('bunbase_buncast_published_total'), 2);
      assert.equal(v('bunbase_buncast_publish_failed_total'), 1);
      assert.ok(v('bunbase_buncast_dropped_total') >= 1);
      assert.equal(v('bunbase_bundoc_events_dropped_total'), 1, 'bundoc-server counts the refused publish as dropped');
    } finally {
      const r = await s.stop('SIGTERM');
      assert.equal(r.code, 0);
    }
  });
});

describe('durable topics', () => {
  test('events of a durable topic are replayed after a bunbased restart', async () => {
    const a = await startBuncast();
    const dir = a.dataDir;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await publish(a, 'dur.orders', { i })).json().id);
    await publish(a, 'mem.orders', { i: 0 });
    const r = await a.stop('SIGTERM', { keepDir: true });
    assert.equal(r.code, 0);
    const b = await startBuncast({ dataDir: dir });
    try {
      const t = (await httpRequest(`${b.bc}/topics`, { headers: AUTH })).json();
      assert.ok(t.includes('dur.orders'));
      assert.ok(!t.includes('mem.orders'));
      const s = await openSSE(`${b.bc}/subscribe?topic=dur.orders`, { 'Last-Event-ID': ids[1] });
      await s.waitFor((x) => x.events.length >= 3);
      assert.deepEqual(s.events.map((e) => e.id), ids.slice(2));
      assert.deepEqual(s.events.map((e) => JSON.parse(e.data).data.i), [2, 3, 4]);
      await publish(b, 'dur.orders', { i: 5 });
      await s.waitFor((x) => x.events.length >= 4);
      assert.ok(s.events[3].id > ids[4]);
      s.close();
    } finally {
      const r2 = await b.stop('SIGTERM');
      assert.equal(r2.code, 0);
    }
  });
});
