// Scripting, bitmaps and HyperLogLog through bunder-manager's public Redis endpoint (AUTH
// <projectId> <key>, then the project's own bunder): the commands work for a tenant, and scripts
// stay per project (one process each), so SCRIPT FLUSH in one project leaves the others' cache.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { respFor, startManager, str } from './bunder_manager_helpers.test.mjs';

let mgr;
before(async () => { mgr = await startManager(); });
after(async () => {
  if (!mgr) return;
  await mgr.server.stop('SIGTERM').catch(() => {});
  mgr.cleanup();
});

test('EVAL, SETBIT and PFADD work through the manager, script caches are per project', async () => {
  const a = await respFor(mgr, 'p1');
  const b = await respFor(mgr, 'p2');
  try {
    assert.equal(str(await a.call('EVAL', "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])", 1, 'k', 'v')), 'v');
    const sha = str(await a.call('SCRIPT', 'LOAD', "return redis.call('incr', KEYS[1])"));
    assert.match(sha, /^[0-9a-f]{40}$/);
    assert.equal(await a.call('EVALSHA', sha, 1, 'n'), 1);
    assert.equal(str(await a.call('EVAL_RO', "return redis.call('get', 'k')", 0)), 'v');
    assert.match((await a.call('EVAL_RO', "return redis.call('del', 'k')", 0)).message, /Write commands are not allowed from read-only scripts/);
    // another project: its own process, its own script cache and keys
    assert.deepEqual(await b.call('SCRIPT', 'EXISTS', sha), [0]);
    assert.equal(await b.call('EVAL', "return redis.call('exists', 'k')", 0), 0);
    assert.equal(str(await b.call('SCRIPT', 'FLUSH')), 'OK');
    assert.deepEqual(await a.call('SCRIPT', 'EXISTS', sha), [1]);
    // bitmaps
    assert.equal(await a.call('SETBIT', 'bm', 100, 1), 0);
    assert.equal(await a.call('BITCOUNT', 'bm'), 1);
    assert.equal(await a.call('BITPOS', 'bm', 1), 100);
    assert.deepEqual(await a.call('BITFIELD', 'bf', 'SET', 'u8', 0, 200, 'INCRBY', 'u8', 0, 100), [0, 44]);
    // HyperLogLog
    assert.equal(await a.call('PFADD', 'h1', 'a', 'b', 'c'), 1);
    assert.equal(await a.call('PFADD', 'h2', 'c', 'd'), 1);
    assert.equal(await a.call('PFCOUNT', 'h1', 'h2'), 4);
    assert.equal(str(await a.call('PFMERGE', 'h3', 'h1', 'h2')), 'OK');
    assert.equal(await a.call('PFCOUNT', 'h3'), 4);
    assert.equal(await b.call('PFCOUNT', 'h3'), 0);
  } finally {
    a.close();
    b.close();
  }
});

test('a busy script is killed from a new connection through the manager (default busy-reply-threshold)', async () => {
  const a = await respFor(mgr, 'p3');
  try {
    a.sock.write('*3\r\n$4\r\nEVAL\r\n$17\r\nwhile true do end\r\n$1\r\n0\r\n');
    await new Promise((r) => setTimeout(r, 5300)); // busy-reply-threshold: 5000 ms
    const b = await respFor(mgr, 'p3'); // handed over to the child while the script runs
    try {
      assert.match((await b.call('GET', 'x')).message, /^BUSY Redis is busy running a script/);
      assert.equal(str(await b.call('SCRIPT', 'KILL')), 'OK');
      assert.match((await a.reply()).message, /^ERR Script killed by user with SCRIPT KILL\.\.\./);
      assert.equal(str(await b.call('PING')), 'PONG');
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
});
