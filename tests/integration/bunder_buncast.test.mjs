// bunder → buncast: a real bunbased running buncast (`--services=platform,buncast`), bunder started with
// `--buncast unix:<dataDir>/buncast.sock --project-id p1`; writes over a raw RESP socket must
// arrive, in order, as events on topic kv.p1 (buncast's HTTP SSE), binary keys as key_base64;
// and bunder keeps serving normally (and counts drops) while buncast is down. buncast's IPC needs the
// internal token: bunder takes it from --buncast-token-file or BUNDER_BUNCAST_TOKEN (never argv);
// without it bunder never connects (and still serves).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { freePort, httpRequest, sleep, startServer } from './harness.mjs';
import { Client, startBunder } from './bunder_lib.test.mjs';

const TOKEN = 'bunder-buncast-test-token-0123456789';

/** Opens an SSE stream and collects {id, event, data} frames. */
function openSSE(url, token) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const s = { events: [], closed: false, waiters: new Set() };
    let buf = '';
    const wake = () => { for (const w of [...s.waiters]) w(); };
    s.waitFor = (pred, ms = 10000, what = 'events') => new Promise((res2, rej2) => {
      const check = () => { if (pred(s)) { clearTimeout(t); s.waiters.delete(check); res2(s); } };
      const t = setTimeout(() => { s.waiters.delete(check); rej2(new Error(`timeout waiting for ${what}: got ${JSON.stringify(s.events.map((e) => e.data))}`)); }, ms);
      s.waiters.add(check);
      check();
    });
    s.close = () => { try { s.req.destroy(); } catch {} };
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false,
      headers: { Authorization: `Bearer ${token}` } }, (res) => {
      s.status = res.statusCode;
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
            if (line.startsWith(':')) continue;
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
    req.on('error', (e) => { s.closed = true; wake(); if (s.status === undefined) reject(e); });
    req.end();
  });
}

const kvEvents = (s) => s.events.filter((e) => e.event && e.event.startsWith('kv.'))
  .map((e) => ({ type: e.event, ce: JSON.parse(e.data) }));

async function info(c, section) {
  const txt = await c.call('INFO', section);
  const o = {};
  for (const line of txt.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) o[line.slice(0, i)] = line.slice(i + 1);
  }
  return o;
}

let bc, bcUrl, bcPort, token, sock, tokenFile;
async function startBuncast(dataDir) {
  bc = await startServer({
    services: 'platform,buncast', // platform answers the harness' /health probe
    dataDir,
    env: { BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_BUNCAST_ADDR: `127.0.0.1:${bcPort}` },
  });
  bcUrl = `http://127.0.0.1:${bcPort}`;
  const tf = path.join(bc.dataDir, 'internal_token');
  token = fs.existsSync(tf) ? fs.readFileSync(tf, 'utf8').trim() : TOKEN;
  sock = path.join(bc.dataDir, 'buncast.sock');
  tokenFile = path.join(fs.mkdtempSync('/tmp/bunder-bc-tok-'), 'token');
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await sleep(50);
  assert.ok(fs.existsSync(sock), `no ${sock}`);
}
before(async () => {
  bcPort = await freePort();
  await startBuncast();
});
after(async () => { await bc?.stop(); });

test('SET/DEL/expiry over RESP arrive in order on kv.p1 via buncast SSE', async () => {
  const b = await startBunder(['--buncast', `unix:${sock}`, '--project-id', 'p1', '--hz', '50', '--buncast-token-file', tokenFile]);
  const c = await Client.connect(b.port);
  const sse = await openSSE(`${bcUrl}/subscribe?topic=kv.p1`, token);
  try {
    assert.equal(sse.status, 200);
    // wait until bunder is connected to buncast (events made before are queued anyway)
    for (let i = 0; i < 100 && (await info(c, 'buncast')).buncast_connected !== '1'; i++) await sleep(50);
    assert.equal((await info(c, 'buncast')).buncast_connected, '1');
    await sleep(200); // the SSE subscription is registered by now

    const N = 200;
    const want = [];
    for (let i = 0; i < N; i++) {
      assert.equal(await c.call('SET', `k${i}`, `v${i}`), 'OK');
      want.push({ type: 'kv.set', op: 'set', key: `k${i}` });
    }
    assert.equal(await c.call('DEL', 'k0', 'k1', 'nope'), 2);
    want.push({ type: 'kv.del', op: 'del', key: 'k0' }, { type: 'kv.del', op: 'del', key: 'k1' }, { type: 'kv.del', op: 'del', key: 'nope' });
    // a write that changes nothing publishes nothing; reads publish nothing
    assert.equal(await c.call('DEL', 'nope'), 0);
    assert.equal(await c.call('GET', 'k5'), 'v5');
    assert.equal(await c.call('RPUSH', 'list', 'a'), 1);
    want.push({ type: 'kv.rpush', op: 'rpush', key: 'list' });
    // binary key (not UTF-8) -> key_base64; control bytes in a UTF-8 key are JSON-escaped
    assert.equal(await c.call('SET', Buffer.from([0x00, 0xff, 0x41]), 'x'), 'OK');
    want.push({ type: 'kv.set', op: 'set', key_base64: Buffer.from([0x00, 0xff, 0x41]).toString('base64url') });
    assert.equal(await c.call('SET', 'a\nb"c', 'x'), 'OK');
    want.push({ type: 'kv.set', op: 'set', key: 'a\nb"c' });
    // expiry (active cycle) is an event too
    assert.equal(await c.call('SET', 'ttl', 'x', 'PX', '20'), 'OK');
    want.push({ type: 'kv.set', op: 'set', key: 'ttl' });
    want.push({ type: 'kv.expired', op: 'expired', key: 'ttl' });
    // another database: the event names it ("db" only when not 0)
    await sse.waitFor((s) => kvEvents(s).length >= want.length, 15000, 'the expiry event');
    assert.equal(await c.call('SELECT', '3'), 'OK');
    assert.equal(await c.call('SET', 'd3', 'x'), 'OK');
    want.push({ type: 'kv.set', op: 'set', db: 3, key: 'd3' });

    await sse.waitFor((s) => kvEvents(s).length >= want.length, 15000, `${want.length} kv events`);
    const got = kvEvents(sse);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      const { type, ...data } = want[i];
      assert.equal(got[i].type, type, `event ${i}`);
      assert.equal(got[i].ce.subject, 'kv.p1');
      assert.equal(got[i].ce.source, '/bunder/p1');
      assert.deepEqual(got[i].ce.data, data, `event ${i}`);
    }
    const st = await info(c, 'buncast');
    assert.equal(st.buncast_dropped, '0');
    assert.equal(st.buncast_errors, '0');
    assert.equal(Number(st.buncast_published), want.length);
  } finally {
    sse.close();
    c.close();
    await b.stop();
  }
});

test('buncast options: config file, --project-id required', async () => {
  const { runBunderSync, tempDir } = await import('./bunder_lib.test.mjs');
  const r = runBunderSync(['--port', '0', '--dir', tempDir(), '--buncast', `unix:${sock}`]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /project-id/);
  const d = tempDir();
  const conf = path.join(d, 'bunder.conf');
  fs.writeFileSync(conf, `buncast "unix:${sock}"\nproject-id p3\nbuncast-token-file ${tokenFile}\n`);
  // the config file must be the first argument (startBunder puts its flags first): spawn directly
  const sse = await openSSE(`${bcUrl}/subscribe?topic=kv.p3`, token);
  const { spawn } = await import('node:child_process');
  const { BUNDER } = await import('./bunder_lib.test.mjs');
  const proc = spawn(BUNDER, [conf, '--port', '0', '--dir', d], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no ready line: ' + log)), 15000);
    proc.stderr.on('data', (x) => { log += x; const mm = /msg="ready" port=(\d+)/.exec(log); if (mm) { clearTimeout(t); resolve(Number(mm[1])); } });
  });
  const c = await Client.connect(port);
  try {
    assert.deepEqual(await c.call('CONFIG', 'GET', 'project-id'), ['project-id', 'p3']);
    await sleep(300);
    assert.equal(await c.call('INCR', 'n'), 1);
    await sse.waitFor((s) => kvEvents(s).length >= 1, 10000, 'kv.p3 event');
    assert.deepEqual(kvEvents(sse)[0].ce.data, { op: 'incr', key: 'n' });
  } finally {
    sse.close();
    c.close();
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
});

test('bunder keeps serving while buncast is down, counts drops, and publishes again after', async () => {
  // the token by environment variable this time (read and unset by bunder; not in its argv)
  process.env.BUNDER_BUNCAST_TOKEN = token;
  let b;
  try {
    b = await startBunder(['--buncast', `unix:${sock}`, '--project-id', 'p2', '--buncast-queue-max', '100']);
  } finally {
    delete process.env.BUNDER_BUNCAST_TOKEN;
  }
  assert.ok(!fs.readFileSync(`/proc/${b.proc.pid}/cmdline`, 'utf8').includes(token), 'token not on the command line');
  const c = await Client.connect(b.port);
  try {
    for (let i = 0; i < 100 && (await info(c, 'buncast')).buncast_connected !== '1'; i++) await sleep(50);
    assert.equal((await info(c, 'buncast')).buncast_connected, '1');
    const dataDir = bc.dataDir;
    await bc.stop('SIGTERM', { keepDir: true }); // buncast goes away under a connected bunder
    for (let i = 0; i < 100 && (await info(c, 'buncast')).buncast_connected !== '0'; i++) await sleep(50);
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) assert.equal(await c.call('SET', `k${i}`, 'v'), 'OK');
    const took = Date.now() - t0;
    assert.ok(took < 5000, `1000 SETs took ${took} ms with buncast down`);
    assert.equal(await c.call('GET', 'k999'), 'v');
    assert.equal(await c.call('DBSIZE'), 1000);
    let st = await info(c, 'buncast');
    assert.equal(st.buncast_enabled, '1');
    assert.equal(st.buncast_connected, '0');
    assert.ok(Number(st.buncast_dropped) >= 850, `dropped ${st.buncast_dropped}`);
    assert.ok(Number(st.buncast_queued) <= 100, `queued ${st.buncast_queued}`);

    // buncast back (same socket path): the client reconnects, the backlog drains, new writes flow
    await startBuncast(dataDir);
    const sse = await openSSE(`${bcUrl}/subscribe?topic=kv.p2`, token);
    try {
      for (let i = 0; i < 200 && (await info(c, 'buncast')).buncast_connected !== '1'; i++) await sleep(50);
      assert.equal((await info(c, 'buncast')).buncast_connected, '1');
      await sleep(200);
      assert.equal(await c.call('SET', 'after', 'v'), 'OK');
      await sse.waitFor((s) => kvEvents(s).some((e) => e.ce.data.key === 'after'), 10000, 'the event after the outage');
      st = await info(c, 'buncast');
      assert.equal(st.buncast_queued, '0');
    } finally {
      sse.close();
    }
  } finally {
    c.close();
    const t1 = Date.now();
    await b.stop();
    assert.ok(Date.now() - t1 < 5000, 'shutdown is bounded');
  }
});

test('without the token bunder is refused by buncast (never connected) and keeps serving', async () => {
  const sse = await openSSE(`${bcUrl}/subscribe?topic=kv.p4`, token);
  const b = await startBunder(['--buncast', `unix:${sock}`, '--project-id', 'p4']);
  const c = await Client.connect(b.port);
  try {
    assert.equal(await c.call('SET', 'k', 'v'), 'OK');
    await sleep(1000);
    const st = await info(c, 'buncast');
    assert.equal(st.buncast_enabled, '1');
    assert.equal(st.buncast_connected, '0');
    assert.match(b.log, /auth_refused/);
    assert.equal(kvEvents(sse).length, 0);
  } finally {
    sse.close();
    c.close();
    await b.stop();
  }
});
