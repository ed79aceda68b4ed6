// bunder's multiple databases (SELECT, MOVE, SWAPDB, FLUSHDB/FLUSHALL, per-database DBSIZE/KEYS/
// SCAN/RANDOMKEY, INFO keyspace, MULTI/EXEC, scripts, WATCH, blocking pops) against Debian's
// redis-server 7, reply for reply; persistence of every database (AOF with SELECT, rewrite,
// snapshot, kill -9 after acknowledged writes in db 9); a tenant through bunder-manager.
import assert from 'node:assert/strict';
import test from 'node:test';
import { RawClient, startPair, startBunder, fs, path, sleep } from './bunder_compat_lib.mjs';
import { Client, runBunderSync } from './bunder_lib.test.mjs';

test('SELECT/MOVE/SWAPDB/FLUSHDB/FLUSHALL and per-database key commands equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['CONFIG', 'GET', 'databases'],
      ['SELECT', '16'], ['SELECT', '-1'], ['SELECT', 'x'], ['SELECT', '99999999999'], ['SELECT', '1.5'],
      ['SET', 'a', 'zero'], ['SELECT', '9'], ['GET', 'a'], ['SET', 'a', 'nine'], ['RPUSH', 'l', '1', '2'],
      ['SET', 't', 'v', 'PX', '100000'], ['DBSIZE'], ['KEYS', 'l*'], ['SCAN', '0', 'MATCH', 'a'],
      ['SELECT', '0'], ['GET', 'a'], ['DBSIZE'], ['KEYS', '*'],
      // MOVE: errors, existing target, missing key, TTL kept
      ['MOVE', 'a', '0'], ['MOVE', 'a', '16'], ['MOVE', 'a', '-1'], ['MOVE', 'a', 'x'], ['MOVE', 'a', '99999999999'],
      ['MOVE', 'a', '9'], ['MOVE', 'nokey', '9'], ['SELECT', '9'], ['MOVE', 't', '3'], ['MOVE', 'a', '3'],
      ['SELECT', '3'], ['GET', 't'], ['GET', 'a'], ['TTL', 'a'], ['DBSIZE'], ['MOVE', 'a', '0'],
      ['SELECT', '0'], ['GET', 'a'],
      // SWAPDB
      ['SWAPDB', '0', '9'], ['SWAPDB', 'x', '1'], ['SWAPDB', '1', 'x'], ['SWAPDB', '0', '16'],
      ['SWAPDB', '-1', '0'], ['SWAPDB', '2', '2'], ['SWAPDB', '99999999999', '1'],
      ['LRANGE', 'l', '0', '-1'], ['GET', 'a'], ['SELECT', '9'], ['GET', 'a'], ['SWAPDB', '9', '0'], ['GET', 'a'],
      // FLUSHDB only the selected one, FLUSHALL every one
      ['SELECT', '5'], ['SET', 'f', '1'], ['SELECT', '6'], ['SET', 'f', '2'], ['RANDOMKEY'], ['FLUSHDB'], ['EXISTS', 'f'],
      ['SELECT', '5'], ['EXISTS', 'f'], ['FLUSHALL', 'bogus'], ['FLUSHALL'], ['EXISTS', 'f'], ['SELECT', '9'],
      ['DBSIZE'], ['SELECT', '3'], ['DBSIZE'], ['RANDOMKEY'],
    ]);
    // INFO keyspace lists each non-empty database as Redis does
    await p.same([['SELECT', '0'], ['SET', 'k0', 'a'], ['SELECT', '2'], ['SET', 'k2', 'a'], ['SET', 'k2b', 'b'],
      ['SELECT', '11'], ['RPUSH', 'q', 'x']]);
    const ks = async (c) => (await c.str('INFO', 'keyspace')).split('\r\n').filter((l) => l.startsWith('db'));
    assert.deepEqual(await ks(p.bc), await ks(p.rc));
    assert.deepEqual(await ks(p.bc), ['db0:keys=1,expires=0,avg_ttl=0', 'db2:keys=2,expires=0,avg_ttl=0',
      'db11:keys=1,expires=0,avg_ttl=0']);
    // CLIENT LIST shows the database
    assert.match(await p.bc.str('CLIENT', 'INFO'), / db=11 /);
    // RESET goes back to database 0
    await p.same([['RESET'], ['GET', 'k0'], ['SELECT', '2'], ['GET', 'k2']]);
  } finally {
    await p.stop();
  }
});

test('MULTI/EXEC, scripts and WATCH run in the caller\'s database as in redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['SELECT', '4'], ['MULTI'], ['SET', 'm', 'in4'], ['SELECT', '7'], ['SET', 'm', 'in7'], ['GET', 'm'], ['EXEC'],
      ['GET', 'm'], ['SELECT', '4'], ['GET', 'm'],
      ['EVAL', "redis.call('set', KEYS[1], 'script') return redis.call('get', KEYS[1])", '1', 'sk'],
      ['GET', 'sk'], ['SELECT', '0'], ['EXISTS', 'sk'], ['SELECT', '4'],
      // a SELECT inside a script affects only the script (Redis 7)
      ['EVAL', "redis.call('select', 8) redis.call('set', 'x8', 'y') return redis.call('dbsize')", '0'],
      ['EXISTS', 'x8'], ['SELECT', '8'], ['GET', 'x8'], ['SELECT', '4'],
      ['EVAL', "return redis.call('select', 99)", '0'],
    ]);
    // WATCH: a write of the same key name in another database does not abort the transaction
    for (const c of [p.rc, p.bc]) {
      const other = await RawClient.connect(c === p.rc ? p.redis.port : p.bunder.port);
      await c.call('SELECT', '1');
      await c.call('WATCH', 'w');
      await other.call('SET', 'w', 'db0');
      await c.call('MULTI');
      await c.call('SET', 'w', 'mine');
      assert.equal(await c.str('EXEC'), '*1\r\n+OK\r\n');
      await c.call('WATCH', 'w');
      await other.call('SELECT', '1');
      await other.call('SET', 'w', 'theirs');
      await c.call('MULTI');
      await c.call('SET', 'w', 'mine2');
      assert.equal(await c.str('EXEC'), '*-1\r\n');
      // SWAPDB touches the watchers of keys that exist in either database
      await c.call('WATCH', 'w');
      await other.call('SWAPDB', '1', '12');
      await c.call('MULTI');
      await c.call('PING');
      assert.equal(await c.str('EXEC'), '*-1\r\n');
      other.close();
    }
  } finally {
    await p.stop();
  }
});

test('a BLPOP waits for its own database: a push elsewhere does not serve it, SWAPDB does', async () => {
  const b = await startBunder();
  try {
    const waiter = await Client.connect(b.port);
    const pusher = await Client.connect(b.port);
    await waiter.call('SELECT', '2');
    waiter.sock.write('*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n');
    await sleep(50);
    assert.equal(await pusher.call('RPUSH', 'q', 'in0'), 1);
    await pusher.call('SELECT', '3');
    assert.equal(await pusher.call('RPUSH', 'q', 'in3'), 1);
    await sleep(50);
    assert.equal(waiter.pushes.length + waiter.waiters.length, 0);
    await pusher.call('SELECT', '2');
    const got = waiter.next(3000);
    assert.equal(await pusher.call('RPUSH', 'q', 'in2'), 1);
    assert.deepEqual(await got, ['q', 'in2']);
    // blocked again; SWAPDB 2 3 brings db 3's list under it
    waiter.sock.write('*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n');
    await sleep(50);
    const got2 = waiter.next(3000);
    assert.equal(await pusher.call('SWAPDB', '2', '3'), 'OK');
    assert.deepEqual(await got2, ['q', 'in3']);
    await pusher.call('SELECT', '0');
    assert.equal(await pusher.call('LLEN', 'q'), 1);
    waiter.close();
    pusher.close();
  } finally {
    await b.stop();
  }
});

test('every database survives kill -9 (AOF with SELECT), a rewrite, and a snapshot', async () => {
  let b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always']);
  const dir = b.dir;
  let c = await Client.connect(b.port);
  await c.call('SET', 'k', 'db0');
  await c.call('SELECT', '9');
  for (let i = 0; i < 50; i++) assert.equal(await c.call('SET', `k${i}`, `v${i}`), 'OK');
  await c.call('SET', 'ttl', 'x', 'EX', '1000');
  await c.call('MULTI');
  await c.call('INCR', 'n');
  await c.call('SELECT', '3');
  await c.call('INCR', 'n');
  await c.call('EXEC'); // the SELECT inside the transaction stays: the connection is in db 3 now
  assert.equal(await c.call('SET', 'in3', 'x'), 'OK');
  await c.call('SELECT', '9');
  await c.call('EVAL', "redis.call('rpush', KEYS[1], 'a', 'b')", '1', 'list');
  await b.kill(); // kill -9 after the acknowledged writes
  const aof = fs.readFileSync(path.join(dir, 'appendonly.aof'), 'latin1');
  assert.match(aof, /SELECT\r\n\$1\r\n9\r\n/);
  b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always'], { dir });
  c = await Client.connect(b.port);
  const check = async (n9 = 53) => {
    assert.equal(await c.call('GET', 'k'), 'db0');
    await c.call('SELECT', '9');
    assert.equal(await c.call('DBSIZE'), n9);
    assert.equal(await c.call('GET', 'k49'), 'v49');
    assert.ok((await c.call('TTL', 'ttl')) > 900);
    assert.equal(await c.call('GET', 'n'), '1');
    assert.deepEqual(await c.call('LRANGE', 'list', '0', '-1'), ['a', 'b']);
    await c.call('SELECT', '3');
    assert.equal(await c.call('GET', 'n'), '1');
    assert.equal(await c.call('GET', 'in3'), 'x');
    await c.call('SELECT', '0');
  };
  await check();
  // rewrite: the compact file selects each database; writes after it land in the right one
  assert.match(await c.call('BGREWRITEAOF'), /started/);
  for (let i = 0; i < 100 && /aof_rewrite_in_progress:1/.test(await c.call('INFO', 'persistence')); i++) await sleep(20);
  await c.call('SELECT', '9');
  await c.call('SET', 'after', 'rewrite');
  await b.kill();
  b = await startBunder(['--appendonly', 'yes'], { dir });
  c = await Client.connect(b.port);
  await check(54);
  await c.call('SELECT', '9');
  assert.equal(await c.call('GET', 'after'), 'rewrite');
  // snapshot: every database in one file
  assert.equal(await c.call('SAVE'), 'OK');
  await b.stop();
  fs.unlinkSync(path.join(dir, 'appendonly.aof'));
  b = await startBunder(['--appendonly', 'no'], { dir });
  c = await Client.connect(b.port);
  await check(54);
  c.close();
  await b.stop();
  // fewer databases than the file uses: refused with a clear reason, not loaded into another one
  const r = runBunderSync(['--port', '0', '--dir', dir, '--appendonly', 'no', '--databases', '4']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /snapshot_load_failed.*database id out of range/);
  const r2 = runBunderSync(['--port', '0', '--dir', dir, '--databases', '0']);
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /databases.*between 1 and 10000/);
});

test('--databases N: SELECT N-1 works, SELECT N is out of range', async () => {
  const b = await startBunder(['--databases', '3']);
  try {
    const c = await Client.connect(b.port);
    assert.equal(await c.call('SELECT', '2'), 'OK');
    assert.match((await c.call('SELECT', '3')).error || '', /DB index is out of range/);
    assert.deepEqual(await c.call('CONFIG', 'GET', 'databases'), ['databases', '3']);
    c.close();
  } finally {
    await b.stop();
  }
});

test('through bunder-manager a tenant SELECTs among its own project\'s databases only', async () => {
  const { startManager, respFor, str } = await import('./bunder_manager_helpers.test.mjs');
  const mgr = await startManager();
  try {
    const a = await respFor(mgr, 'p1');
    const b = await respFor(mgr, 'p2');
    assert.equal(await a.call('SELECT', '5'), 'OK');
    assert.equal(await a.call('SET', 'shared-name', 'p1-db5'), 'OK');
    assert.equal(await b.call('SELECT', '5'), 'OK');
    assert.equal(await b.call('GET', 'shared-name'), null); // p2's db 5 is p2's
    assert.equal(await b.call('SET', 'shared-name', 'p2-db5'), 'OK');
    assert.equal(str(await a.call('GET', 'shared-name')), 'p1-db5');
    assert.equal(await a.call('MOVE', 'shared-name', '6'), 1);
    assert.equal(await a.call('SELECT', '6'), 'OK');
    assert.equal(str(await a.call('GET', 'shared-name')), 'p1-db5');
    const err = await a.call('SELECT', '16');
    assert.match(String(err && (err.resp || err.message || err)), /DB index is out of range/);
    // SWAPDB and FLUSHALL stay inside the project: p2 keeps its key
    assert.equal(await a.call('SWAPDB', '5', '6'), 'OK');
    assert.equal(await a.call('FLUSHALL'), 'OK');
    assert.equal(str(await b.call('GET', 'shared-name')), 'p2-db5');
    a.close();
    b.close();
  } finally {
    await mgr.server.stop('SIGTERM').catch(() => {});
    mgr.cleanup();
  }
});

test('notify-keyspace-events: __keyspace@<db>__ / __keyevent@<db>__ messages equal redis-server\'s', async () => {
  // active expiry off on both (as Redis' own tests do): the 1 ms keys expire lazily, where the
  // sequence reads them, not whenever a loaded machine lets an expire cycle run
  const dbg = ['--enable-debug-command', 'yes'];
  const p = await startPair({ redisArgs: dbg, bunderArgs: dbg });
  try {
    const out = {};
    for (const [name, port, c] of [['redis', p.redis.port, p.rc], ['bunder', p.bunder.port, p.bc]]) {
      assert.equal((await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')).toString(), '+OK\r\n', name);
      await c.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
      const sub = await RawClient.connect(port);
      await sub.call('PSUBSCRIBE', '__key*__:*');
      const cmds = [['SELECT', '3'], ['SET', 'a', '1'], ['INCR', 'a'], ['SETEX', 'b', '100', 'x'], ['LPUSH', 'l', 'x'],
        ['RPOP', 'l'], ['HSET', 'h', 'f', 'v'], ['SADD', 's', 'm'], ['ZADD', 'z', '1', 'm'], ['DEL', 'a'],
        ['EXPIRE', 'h', '100'], ['PEXPIRE', 's', '1'], ['XADD', 'x', '1-1', 'f', 'v'], ['UNLINK', 'z'],
        ['APPEND', 'ap', 'x'], ['MSET', 'm1', '1', 'm2', '2'], ['INCRBYFLOAT', 'fl', '1.5'], ['RENAME', 'ap', 'ap2'],
        ['PERSIST', 'h'], ['SELECT', '0'], ['SET', 'd0', 'x', 'EX', '100'], ['HDEL', 'nohash', 'f']];
      for (const cmd of cmds) await c.call(...cmd);
      await sleep(20);
      await c.call('SELECT', '3');
      await c.call('GET', 's'); // lazily expired: the expired event, in db 3
      await c.call('CONFIG', 'SET', 'notify-keyspace-events', 'Ex'); // only expired key events
      await c.call('SET', 'q', '1', 'PX', '1');
      await c.call('SET', 'r', '1');
      await sleep(20);
      await c.call('GET', 'q');
      const got = [];
      for (;;) { try { got.push((await sub.next(150)).toString('latin1')); } catch { break; } }
      out[name] = got;
      await c.call('CONFIG', 'SET', 'notify-keyspace-events', '');
      sub.close();
    }
    assert.deepEqual(out.bunder, out.redis);
    assert.ok(out.redis.some((m) => m.includes('__keyspace@0__:d0')));
  } finally {
    await p.stop();
  }
});
