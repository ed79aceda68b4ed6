// bunder-manager socket handoff: after AUTH the client's socket is passed to the project's bunder
// (SCM_RIGHTS over the --handoff-fd channel) and the manager leaves the data path. Checks that the
// connection state travels with it (pipelined bytes after AUTH, HELLO 3 + SETNAME), that the
// manager really holds no copy of the socket afterwards, the metrics, that idle eviction never
// stops a child serving a handed-off client, and that redis-server as the child (no handoff
// channel) still gets the relay.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { httpRequest, parsePrometheus, sleep } from './harness.mjs';
import {
  KEYS, RespClient, alive, childBinary, childPid, respFor, startManager, str, waitFor,
} from './bunder_manager_helpers.test.mjs';

let mgr;
const others = [];

before(async () => {
  mgr = await startManager({ env: { BUNBASE_BUNDER_MANAGER_IDLE_MS: '400' } });
});
after(async () => {
  for (const m of [mgr, ...others]) {
    if (!m) continue;
    await m.server.stop('SIGTERM').catch(() => {});
    m.cleanup();
  }
});

const isBunder = async () => !(await childBinary()).endsWith('redis-server');

async function metrics(m) {
  const p = parsePrometheus((await httpRequest(`${m.url}/metrics`)).text);
  return (name, labels = {}) => p.samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, x]) => p.samples && s.labels[k] === x)).reduce((a, s) => a + s.value, 0);
}

/** Pids (among `pids`) holding the server side of the TCP connection 127.0.0.1:serverPort <- clientPort. */
function socketHolders(serverPort, clientPort, pids) {
  const hex = (n) => n.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      if (cols[1].endsWith(`:${hex(serverPort)}`) && cols[2].endsWith(`:${hex(clientPort)}`)) inodes.add(cols[9]);
    }
  }
  assert.ok(inodes.size > 0, `connection :${serverPort} <- :${clientPort} not found`);
  return pids.filter((pid) => {
    let fds = [];
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { return false; }
    return fds.some((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m && inodes.has(m[1]);
      } catch { return false; }
    });
  });
}

/** Raw bytes of the replies to `bytes` (one write), read until `until(buffer)` is true. */
function rawExchange(port, bytes, until, ms = 5000) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { s.destroy(); reject(new Error(`timeout, got ${JSON.stringify(buf.toString('latin1'))}`)); }, ms);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (until(buf)) { clearTimeout(t); s.destroy(); resolve(buf.toString('latin1')); }
    });
    s.on('error', (e) => { clearTimeout(t); reject(e); });
  });
}

test('the ready line and health say whether handoff is on (bunder children: on)', async () => {
  assert.equal(mgr.handoff, await isBunder());
  const h = (await httpRequest(`${mgr.url}/kv/p1/health`, { headers: mgr.auth })).json();
  assert.equal(h.child.state, 'ready');
  if (mgr.handoff) assert.equal(h.child.handoff, true, JSON.stringify(h));
});

test('a handed-off client keeps working after the manager let go of its socket', async (t) => {
  if (!mgr.handoff) { t.skip('child binary is not bunder'); return; }
  const c = await RespClient.connect(mgr.resp);
  // AUTH and commands in ONE write: the bytes after AUTH travel in the frame's pending field
  const r = await c.pipeline([['AUTH', 'p1', KEYS.p1], ['SET', 'ho-a', '1'], ['GET', 'ho-a'], ['INCR', 'ho-a'], ['PING']]);
  assert.deepEqual(r.map(str), ['OK', 'OK', '1', 2, 'PONG']);
  const child = childPid(mgr, 'p1').pid;
  // only the child holds the connection: the manager closed its copy and freed the relay objects
  const clientPort = c.sock.localPort;
  await waitFor(() => {
    const h = socketHolders(mgr.resp, clientPort, [mgr.server.pid, child]);
    return h.length === 1 && h[0] === child;
  }, 5000, 'socket held by the child only');
  const v = await metrics(mgr);
  assert.equal(v('bunbase_bunder_relay_connections'), 0, 'no relayed connection open');
  // lots of traffic afterwards, large values included, all served by the child directly
  const big = Buffer.alloc(300000, 9);
  assert.equal(await c.call('SET', 'ho-big', big), 'OK');
  assert.ok((await c.call('GET', 'ho-big')).equals(big));
  const cmds = Array.from({ length: 2000 }, (_, i) => ['SET', `ho-k${i}`, `v${i}`]);
  assert.ok((await c.pipeline(cmds)).every((x) => x === 'OK'));
  assert.equal(str(await c.call('GET', 'ho-k1999')), 'v1999');
  // the child sees an authenticated ordinary client
  const info = str(await c.call('CLIENT', 'INFO'));
  assert.match(info, /resp=2/);
  c.close();
});

test('after the handoff the manager reads none of the data path: relay bytes stay 0, its read bytes do not grow with traffic', async (t) => {
  if (!mgr.handoff) { t.skip('child binary is not bunder'); return; }
  const c = await respFor(mgr, 'p1');
  t.after(() => c.close());
  assert.equal(await c.call('PING'), 'PONG');
  const rchar = () => Number(/^rchar: (\d+)$/m.exec(fs.readFileSync(`/proc/${mgr.server.pid}/io`, 'utf8'))[1]);
  const bytesBefore = (await metrics(mgr))('bunbase_bunder_relay_bytes_total');
  const before = rchar();
  // 8 MB each way through the handed-off socket
  const val = Buffer.alloc(256 * 1024, 7);
  for (let i = 0; i < 16; i++) assert.equal(await c.call('SET', `io-${i}`, val), 'OK');
  for (let i = 0; i < 16; i++) assert.equal((await c.call('GET', `io-${i}`)).length, val.length);
  const grew = rchar() - before;
  assert.ok(grew < 1024 * 1024, `the manager read ${grew} bytes during 8 MB of handed-off traffic`);
  assert.equal((await metrics(mgr))('bunbase_bunder_relay_bytes_total') - bytesBefore, 0);
});

test('the tenant policy holds for handed-off clients in any letter case; commands that share a row\'s length and first letter run', async (t) => {
  if (!mgr.handoff) { t.skip('child binary is not bunder'); return; }
  // the rows of the policy, read from the one table (src/bunder/bunder_tenant.h)
  const hdr = fs.readFileSync(new URL('../../src/bunder/bunder_tenant.h', import.meta.url), 'utf8');
  const rows = [...hdr.matchAll(/X\(BUNDER_TP_(COMMAND|SUBCOMMAND), "([^"]+)"/g)].map((m) => [m[1], m[2]]);
  assert.ok(rows.length >= 10, 'policy rows found');
  const mixed = (w) => [...w].map((ch, i) => (i % 2 ? ch.toUpperCase() : ch.toLowerCase())).join('');
  const c = await respFor(mgr, 'p1');
  t.after(() => c.close());
  for (const [kind, name] of rows) {
    const argv = kind === 'SUBCOMMAND' ? name.split('|') : [name];
    for (const v of [argv, argv.map((w) => w.toUpperCase()), argv.map(mixed)]) {
      const r = await c.call(...v);
      assert.ok(r instanceof Error && /^NOPERM/.test(r.message), `${v.join(' ')}: ${r}`);
    }
  }
  // same length and first letter as a row (shutdown, sync, psync, replicaof, failover, cluster,
  // config, slaveof): not refused
  const ok = [['SMEMBERS', 'nk'], ['sCaN', '0'], ['PFADD', 'hll', 'a'], ['RANDOMKEY'], ['FLUSHALL'],
    ['COMMAND', 'COUNT'], ['CONFIG', 'GET', 'maxmemory-samples'], ['SORT_RO', 'nk']];
  for (const v of ok) {
    const r = await c.call(...v);
    assert.ok(!(r instanceof Error), `${v.join(' ')}: ${r}`);
  }
});

test('HELLO 3 AUTH … SETNAME: RESP3 and the client name travel with the socket', async (t) => {
  const bytes = '*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$2\r\np1\r\n$7\r\nkey-one\r\n$7\r\nSETNAME\r\n$4\r\nhoho\r\n' +
    '*2\r\n$3\r\nGET\r\n$12\r\nho-no-such-k\r\n*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n';
  const out = await rawExchange(mgr.resp, bytes, (b) => b.toString('latin1').includes('hoho\r\n'));
  // the HELLO answer (a RESP3 map) first, then a RESP3 null, then the name
  assert.match(out, /^%7\r\n/);
  assert.match(out, /proto\r\n:3\r\n/);
  assert.match(out, /\r\n_\r\n\$4\r\nhoho\r\n$/, JSON.stringify(out));
  if (!mgr.handoff) t.diagnostic('relay path (child is not bunder)');
});

test('metrics count handoffs and the handed-off clients the children report', async (t) => {
  if (!mgr.handoff) { t.skip('child binary is not bunder'); return; }
  const before = (await metrics(mgr))('bunbase_bunder_handoffs_total');
  const cs = [];
  for (let i = 0; i < 3; i++) cs.push(await respFor(mgr, 'p2'));
  for (const c of cs) assert.equal(await c.call('PING'), 'PONG');
  const v = await metrics(mgr);
  assert.equal(v('bunbase_bunder_handoffs_total') - before, 3);
  assert.equal(v('bunbase_bunder_handoff_fallbacks_total'), 0);
  await waitFor(async () => (await metrics(mgr))('bunbase_bunder_handoff_clients') >= 3, 5000, 'children report 3 clients');
  for (const c of cs) c.close();
  await waitFor(async () => (await metrics(mgr))('bunbase_bunder_handoff_clients') === 0, 5000, 'children report 0 clients');
});

test('idle eviction never stops a child while a handed-off client is connected', async (t) => {
  if (!mgr.handoff) { t.skip('child binary is not bunder'); return; }
  const c = await respFor(mgr, 'p3');
  assert.equal(await c.call('SET', 'stay', 'here'), 'OK');
  const pid = childPid(mgr, 'p3').pid;
  // IDLE_MS is 400: several idle periods pass with no manager-side reference to the child
  for (let i = 0; i < 6; i++) {
    await sleep(400);
    assert.equal(str(await c.call('GET', 'stay')), 'here');
  }
  await sleep(1200); // a quiet client is still a client
  assert.ok(alive(pid), 'child still running');
  assert.equal(childPid(mgr, 'p3').pid, pid, 'same child');
  assert.equal(str(await c.call('GET', 'stay')), 'here');
  assert.doesNotMatch(mgr.server.stderr(), /msg="child_evict" project=p3 /);
  // once the client is gone the child becomes idle and is evicted
  c.close();
  await waitFor(() => /msg="child_evict" project=p3 reason=idle/.test(mgr.server.stderr()), 10000, 'p3 evicted');
  await waitFor(() => !alive(pid), 10000, 'p3 child exited');
  // its data is on disk
  const c2 = await respFor(mgr, 'p3');
  assert.equal(str(await c2.call('GET', 'stay')), 'here');
  c2.close();
});

test('fallback: redis-server as the child gets the relay (no handoff channel)', async () => {
  const m = await startManager({ bin: '/usr/bin/redis-server' });
  others.push(m);
  assert.equal(m.handoff, false);
  const c = await RespClient.connect(m.resp);
  const r = await c.pipeline([['AUTH', 'p1', KEYS.p1], ['SET', 'a', '1'], ['GET', 'a']]);
  assert.deepEqual(r.map(str), ['OK', 'OK', '1']);
  const v = await metrics(m);
  assert.equal(v('bunbase_bunder_handoffs_total'), 0);
  assert.ok(v('bunbase_bunder_relay_connections_total') >= 1);
  assert.equal(v('bunbase_bunder_relay_connections'), 1, 'relayed while open');
  c.close();
  const out = await rawExchange(m.resp,
    '*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$2\r\np1\r\n$7\r\nkey-one\r\n*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n',
    (b) => b.toString('latin1').endsWith('_\r\n'));
  assert.match(out, /^%7\r\n/);
});

test('handoff can be switched off: BUNBASE_BUNDER_MANAGER_HANDOFF=0 relays', async (t) => {
  if (!(await isBunder())) { t.skip('child binary is not bunder'); return; }
  const m = await startManager({ env: { BUNBASE_BUNDER_MANAGER_HANDOFF: '0' } });
  others.push(m);
  assert.equal(m.handoff, false);
  const c = await RespClient.connect(m.resp);
  const r = await c.pipeline([['AUTH', 'p1', KEYS.p1], ['SET', 'a', '1'], ['GET', 'a']]);
  assert.deepEqual(r.map(str), ['OK', 'OK', '1']);
  const v = await metrics(m);
  assert.equal(v('bunbase_bunder_handoffs_total'), 0);
  assert.equal(v('bunbase_bunder_relay_connections'), 1);
  c.close();
});
