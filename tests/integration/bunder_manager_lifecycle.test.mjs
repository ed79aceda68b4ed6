// bunder-manager child lifecycle: a SIGKILLed child is replaced with its acknowledged data intact,
// idle eviction keeps the data on disk, port-pool exhaustion answers an error and recovers, and a
// SIGKILLed bunbased leaves no orphan children after a restart.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, httpRequest, makeTempDir } from './harness.mjs';
import {
  RespClient, alive, childPid, kvGet, kvPut, managersStoppedAfter, respFor, startManager, str, waitFor,
} from './bunder_manager_helpers.test.mjs';

const start = managersStoppedAfter();

test('a child killed with SIGKILL is replaced and its acknowledged data is intact', async () => {
  const mgr = await start({ env: { BUNBASE_BUNDER_MANAGER_IDLE_MS: '60000' } });
  const c = await respFor(mgr, 'p1');
  const cmds = [];
  for (let i = 0; i < 500; i++) cmds.push(['SET', `k${i}`, `v${i}`]);
  const acks = await c.pipeline(cmds);
  assert.ok(acks.every((r) => r === 'OK'));
  const before = childPid(mgr, 'p1');
  assert.ok(before && alive(before.pid));
  process.kill(before.pid, 'SIGKILL');
  assert.ok(await c.waitClose(5000), 'relayed connection closed with its child');
  // the next requests wait for the restarted child
  const r = await kvGet(mgr, 'p1', 'k499');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, 'v499');
  const c2 = await respFor(mgr, 'p1');
  const vals = await c2.pipeline(cmds.map(([, k]) => ['GET', k]));
  assert.deepEqual(vals.map(str), cmds.map(([, , v]) => v));
  c2.close();
  const after = childPid(mgr, 'p1');
  assert.notEqual(after.pid, before.pid);
  const h = (await httpRequest(`${mgr.url}/kv/p1/health`, { headers: mgr.auth })).json();
  assert.equal(h.child.crashes, 1);
  assert.equal(h.child.restarts, 1);
  assert.match(h.child.last_error, /signal=9/);
  assert.match(mgr.server.stderr(), /msg="child_crashed" project=p1/);
  // a crash with no client around is restarted proactively (with backoff)
  process.kill(after.pid, 'SIGKILL');
  await waitFor(() => { const p = childPid(mgr, 'p1'); return p && p.pid !== after.pid && alive(p.pid); }, 10000, 'proactive restart');
  assert.equal((await kvGet(mgr, 'p1', 'k0')).text, 'v0');
});

test('idle eviction stops the child; the next access restores the data from disk', async () => {
  const mgr = await start({ env: { BUNBASE_BUNDER_MANAGER_IDLE_MS: '600' } });
  assert.equal((await kvPut(mgr, 'p2', 'persist me', 'still here')).status, 200);
  const c = await respFor(mgr, 'p2');
  assert.equal(await c.call('RPUSH', 'list', 'a', 'b'), 2);
  const first = childPid(mgr, 'p2');
  // an open RESP connection is in flight: never evicted while it lasts
  await new Promise((r) => setTimeout(r, 1800));
  assert.ok(alive(first.pid), 'not evicted under an open connection');
  c.close();
  await waitFor(() => !alive(first.pid), 8000, 'idle eviction');
  // the manager removes the pid file once it has reaped the child (a moment after it is gone)
  await waitFor(() => childPid(mgr, 'p2') === null, 5000, 'pid file removed with the child');
  assert.match(mgr.server.stderr(), /msg="child_evict" project=p2 reason=idle/);
  const r = await kvGet(mgr, 'p2', 'persist me');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'still here');
  const c2 = await respFor(mgr, 'p2');
  assert.deepEqual((await c2.call('LRANGE', 'list', 0, -1)).map(str), ['a', 'b']);
  c2.close();
  assert.notEqual(childPid(mgr, 'p2').pid, first.pid);
});

test('port-pool exhaustion answers an error (503 / -ERR) and recovers', async () => {
  // A one-port pool on a port that is free now: the shared random bases of parallel managers
  // (childPortBase) could otherwise already hold it and make the first AUTH fail too.
  const mgr = await start({ env: { BUNBASE_BUNDER_MANAGER_PORT_BASE: String(await freePort()),
    BUNBASE_BUNDER_MANAGER_PORT_COUNT: '1', BUNBASE_BUNDER_MANAGER_IDLE_MS: '600000' } });
  const holder = await respFor(mgr, 'p1'); // keeps p1's child (and the only port) in use
  assert.equal(await holder.call('SET', 'x', '1'), 'OK');
  const r = await kvGet(mgr, 'p2', 'x');
  assert.equal(r.status, 503);
  assert.equal(r.json().code, 'no_capacity');
  const c = await RespClient.connect(mgr.resp);
  const e = await c.call('AUTH', 'p2', 'key-two');
  assert.match(e.resp, /^ERR bunder-manager: no capacity/);
  assert.match((await c.call('GET', 'x')).resp, /^NOAUTH/, 'still not authenticated after the error');
  // p1 still works while p2 is refused
  assert.equal(str(await holder.call('GET', 'x')), '1');
  holder.close();
  // once p1 is idle it is stopped to make room: the same connection can now AUTH for p2
  await waitFor(async () => (await c.call('AUTH', 'p2', 'key-two')) === 'OK', 10000, 'capacity back');
  assert.equal(await c.call('SET', 'y', '2'), 'OK');
  c.close();
  assert.equal((await kvGet(mgr, 'p2', 'y')).text, '2');
  assert.match(mgr.server.stderr(), /msg="child_evict" project=p1 reason=capacity/);
  // p1's data survived its eviction; it comes back when p2 is idle again
  assert.equal((await kvGet(mgr, 'p1', 'x')).text, '1');
});

test('bunbased SIGKILL then restart leaves no orphan children, data intact', async () => {
  const dataDir = makeTempDir();
  const mgr = await startManager({ dataDir });
  for (const p of ['p1', 'p2', 'p3']) assert.equal((await kvPut(mgr, p, 'k', `v-${p}`)).status, 200);
  const pids = ['p1', 'p2', 'p3'].map((p) => childPid(mgr, p).pid);
  assert.ok(pids.every(alive));
  await mgr.server.stop('SIGKILL', { keepDir: true });
  mgr.cleanup();
  const again = await start({ dataDir });
  await waitFor(() => pids.every((p) => !alive(p)), 10000, 'old children gone');
  for (const p of ['p1', 'p2', 'p3']) assert.equal((await kvGet(again, p, 'k')).text, `v-${p}`);
  const now = ['p1', 'p2', 'p3'].map((p) => childPid(again, p).pid);
  assert.ok(now.every((p) => !pids.includes(p)));
  // exactly one bunder per project under this data dir
  const mine = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try { return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(path.join(dataDir, 'bunder', 'projects')) ||
      fs.readlinkSync(`/proc/${e}/cwd`).startsWith(path.join(dataDir, 'bunder', 'projects')); } catch { return false; }
  });
  assert.equal(mine.filter((p) => alive(Number(p))).length, 3, `children under ${dataDir}: ${mine}`);
});
