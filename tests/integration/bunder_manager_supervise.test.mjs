// bunder-manager's children supervised by core (bb_proc_child) and kept in core's per-project
// registry: a SIGKILLed child restarts after a doubling backoff and its tenant answers again; an
// idle-evicted child is started once for 20 concurrent connects; the instance limit answers the
// documented error (HTTP 503 no_capacity, RESP -ERR … no capacity); a failed open is not
// remembered.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  RespClient, alive, childPid, kvGet, kvPut, managersStoppedAfter, respFor, spawnCount, str, waitFor,
} from './bunder_manager_helpers.test.mjs';

const start = managersStoppedAfter();

const crashes = (mgr, p) => [...mgr.server.stderr().matchAll(
  new RegExp(`msg="child_crashed" project=${p} .*failures=(\\d+) restart_in_ms=(\\d+)`, 'g'))]
  .map((m) => ({ failures: Number(m[1]), delay: Number(m[2]) }));

test('a child killed with SIGKILL is restarted with backoff and its tenant answers again', async () => {
  const mgr = await start({ env: { BUNBASE_BUNDER_MANAGER_IDLE_MS: '60000' } });
  assert.equal((await kvPut(mgr, 'p1', 'k', 'v1')).status, 200);
  let prev = childPid(mgr, 'p1').pid;
  for (let i = 1; i <= 2; i++) {
    process.kill(prev, 'SIGKILL');
    await waitFor(() => crashes(mgr, 'p1').length === i, 5000, `crash ${i} noticed`);
    await waitFor(() => { const c = childPid(mgr, 'p1'); return c && c.pid !== prev && alive(c.pid); }, 10000, `restart ${i}`);
    const r = await kvGet(mgr, 'p1', 'k');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'v1');
    prev = childPid(mgr, 'p1').pid;
  }
  // consecutive crashes (the child had not run stably): 100 ms, then 200 ms
  assert.deepEqual(crashes(mgr, 'p1'), [{ failures: 1, delay: 100 }, { failures: 2, delay: 200 }]);
  const c = await respFor(mgr, 'p1');
  assert.equal(str(await c.call('GET', 'k')), 'v1');
  c.close();
});

test('idle eviction stops the child; 20 concurrent connects then start it exactly once', async () => {
  const mgr = await start({ env: { BUNBASE_BUNDER_MANAGER_IDLE_MS: '300' } });
  assert.equal((await kvPut(mgr, 'p2', 'k', 'kept')).status, 200);
  const first = childPid(mgr, 'p2').pid;
  await waitFor(() => !alive(first), 8000, 'idle eviction');
  await waitFor(() => childPid(mgr, 'p2') === null, 5000, 'reaped');
  assert.equal(spawnCount(mgr, 'p2'), 1);
  const got = await Promise.all(Array.from({ length: 20 }, async () => {
    const c = await respFor(mgr, 'p2');
    const v = str(await c.call('GET', 'k'));
    c.close();
    return v;
  }));
  assert.deepEqual(got, Array(20).fill('kept'));
  assert.equal(spawnCount(mgr, 'p2'), 2, 'one spawn for 20 concurrent connects after the eviction');
});

test('the instance limit answers no_capacity (HTTP 503, RESP -ERR) while every child is in use', async () => {
  const mgr = await start({ env: { BUNBASE_BUNDER_MANAGER_MAX_CHILDREN: '1', BUNBASE_BUNDER_MANAGER_IDLE_MS: '600000' } });
  const holder = await respFor(mgr, 'p1');
  assert.equal(await holder.call('SET', 'x', '1'), 'OK');
  const r = await kvGet(mgr, 'p2', 'x');
  assert.equal(r.status, 503);
  assert.equal(r.json().code, 'no_capacity');
  const c = await RespClient.connect(mgr.resp);
  assert.match((await c.call('AUTH', 'p2', 'key-two')).resp, /^ERR bunder-manager: no capacity/);
  holder.close();
  // p1 idle: it is the least recently used victim, p2 gets its place
  await waitFor(async () => (await c.call('AUTH', 'p2', 'key-two')) === 'OK', 10000, 'room for p2');
  c.close();
  assert.equal(spawnCount(mgr, 'p2'), 1);
});

test('a child that cannot start fails its open with 503, and the next request tries again', async () => {
  const mgr = await start({ bin: '/bin/false' });
  const r = await kvGet(mgr, 'p3', 'k');
  assert.equal(r.status, 503);
  assert.equal(r.json().code, 'unavailable');
  // one open: three start attempts (a port may have raced), then the open fails
  assert.equal(spawnCount(mgr, 'p3'), 3);
  assert.match(mgr.server.stderr(), /msg="child_start_failed" project=p3 .*attempt=3/);
  const again = await kvGet(mgr, 'p3', 'k');
  assert.equal(again.status, 503);
  assert.equal(spawnCount(mgr, 'p3'), 6, 'a failed open is not remembered');
});
