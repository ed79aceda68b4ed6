// bunder persistence: restart per appendfsync policy, SIGKILL with `always` loses nothing
// acknowledged, truncated AOF tails are cut back (with a log line), BGREWRITEAOF under load,
// SAVE/BGSAVE snapshots, LASTSAVE, corrupted snapshot refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startBunder, Client, sleep, tempDir, runBunderSync, BUNDER } from './bunder_lib.test.mjs';

async function fill(c) {
  await c.call('SET', 'str', 'v1');
  await c.call('SET', 'ttl', 'v', 'EX', '1000');
  await c.call('INCR', 'ctr'); await c.call('INCRBY', 'ctr', '41');
  await c.call('INCRBYFLOAT', 'flt', '1.5');
  await c.call('RPUSH', 'list', 'a', 'b', 'c'); await c.call('LPOP', 'list');
  await c.call('SADD', 'set', 'x', 'y', 'z'); await c.call('SPOP', 'set');
  await c.call('HSET', 'hash', 'f', '1', 'g', '2'); await c.call('HINCRBYFLOAT', 'hash', 'f', '0.5');
  await c.call('ZADD', 'zset', '1', 'a', '2', 'b'); await c.call('ZINCRBY', 'zset', '5', 'a');
  await c.call('SET', 'gone', 'v', 'PX', '1');
  await sleep(5);
  await c.call('MULTI'); await c.call('SET', 'tx1', '1'); await c.call('SET', 'tx2', '2'); await c.call('EXEC');
  await c.call('SET', 'del', 'x'); await c.call('DEL', 'del');
}

async function snapshotOf(c) {
  const out = {};
  const keys = (await c.call('KEYS', '*')).sort();
  for (const k of keys) {
    const t = await c.call('TYPE', k);
    if (t === 'string') out[k] = await c.call('GET', k);
    else if (t === 'list') out[k] = await c.call('LRANGE', k, '0', '-1');
    else if (t === 'set') out[k] = (await c.call('SMEMBERS', k)).sort();
    else if (t === 'hash') out[k] = await c.call('HGETALL', k);
    else if (t === 'zset') out[k] = await c.call('ZRANGE', k, '0', '-1', 'WITHSCORES');
    out[k + '@ttl'] = (await c.call('TTL', k)) > 0 ? 'ttl' : 'none';
  }
  return out;
}

for (const policy of ['always', 'everysec', 'no']) {
  test(`restart restores every type with appendfsync ${policy} (SIGTERM)`, async () => {
    const dir = tempDir();
    let s = await startBunder(['--appendonly', 'yes', '--appendfsync', policy], { dir });
    let c = await Client.connect(s.port);
    await fill(c);
    const before = await snapshotOf(c);
    assert.equal(before.ctr, '42');
    assert.equal(before.tx2, '2');
    c.close();
    await s.stop();
    s = await startBunder(['--appendonly', 'yes', '--appendfsync', policy], { dir });
    c = await Client.connect(s.port);
    assert.deepEqual(await snapshotOf(c), before);
    assert.equal(await c.call('GET', 'gone'), null);
    c.close();
    await s.stop();
  });
}

test('SIGKILL with appendfsync always: every acknowledged write survives', async () => {
  const dir = tempDir();
  let s = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always'], { dir });
  const clients = await Promise.all([0, 1, 2, 3].map(() => Client.connect(s.port)));
  const acked = new Map();
  let stop = false;
  const writers = clients.map(async (c, w) => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await c.call('SET', `w${w}:${i}`, String(i));
        if (r === 'OK') acked.set(`w${w}:${i}`, String(i));
        await c.call('RPUSH', `list${w}`, String(i));
        acked.set(`list${w}`, i + 1);
      } catch { return; }
    }
  });
  await sleep(400);
  s.proc.kill('SIGKILL');
  stop = true;
  await Promise.all(writers);
  await new Promise((r) => (s.proc.exitCode !== null || s.proc.signalCode !== null) ? r() : s.proc.once('exit', r));
  assert.ok(acked.size > 20, `only ${acked.size} writes acknowledged`);
  s = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always'], { dir });
  const c = await Client.connect(s.port);
  for (const [k, v] of acked) {
    if (k.startsWith('list')) assert.ok((await c.call('LLEN', k)) >= v, `${k} lost pushes`);
    else assert.equal(await c.call('GET', k), v, `${k} lost`);
  }
  c.close();
  await s.stop();
});

test('a truncated AOF tail is cut back to the last complete command with a log line', async () => {
  const dir = tempDir();
  let s = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always'], { dir });
  let c = await Client.connect(s.port);
  for (let i = 0; i < 10; i++) await c.call('SET', `k${i}`, `v${i}`);
  c.close();
  await s.stop();
  const aof = path.join(dir, 'appendonly.aof');
  const good = fs.statSync(aof).size;
  // a torn write: half a command, then (second run) an unterminated MULTI
  fs.appendFileSync(aof, '*3\r\n$3\r\nSET\r\n$2\r\nk9\r\n$10\r\nbro');
  s = await startBunder(['--appendonly', 'yes'], { dir });
  assert.match(s.log, /aof_truncated_tail".*valid=\d+/);
  c = await Client.connect(s.port);
  assert.equal(await c.call('GET', 'k9'), 'v9');
  assert.equal(await c.call('DBSIZE'), 10);
  assert.equal(fs.statSync(aof).size, good, 'file cut back to the last complete command');
  await c.call('SET', 'after', 'ok');
  c.close();
  await s.stop();
  fs.appendFileSync(aof, '*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$2\r\ntx\r\n$1\r\n1\r\n');
  s = await startBunder(['--appendonly', 'yes'], { dir });
  assert.match(s.log, /unterminated MULTI/);
  c = await Client.connect(s.port);
  assert.equal(await c.call('GET', 'tx'), null, 'a transaction without EXEC is not applied');
  assert.equal(await c.call('GET', 'after'), 'ok');
  c.close();
  await s.stop();
  // garbage that is not a torn tail refuses to start
  fs.appendFileSync(aof, 'garbage\r\n*1\r\n$4\r\nPING\r\n');
  const r = runBunderSync(['--port', '0', '--dir', dir, '--appendonly', 'yes']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /aof_load_failed/);
});

test('BGREWRITEAOF while writing: compact file, nothing lost, restart equal', async () => {
  const dir = tempDir();
  let s = await startBunder(['--appendonly', 'yes', '--appendfsync', 'everysec'], { dir });
  let c = await Client.connect(s.port);
  for (let i = 0; i < 2000; i++) c.writeRaw(Buffer.from(`INCR counter\r\nSET key:${i % 100} ${i}\r\n`));
  for (let i = 0; i < 4000; i++) await c.next();
  const aof = path.join(dir, 'appendonly.aof');
  const sizeBefore = fs.statSync(aof).size;
  assert.equal(await c.call('BGREWRITEAOF'), 'Background append only file rewriting started');
  const w = (async () => { for (let i = 0; i < 500; i++) await c.call('INCR', 'counter'); })();
  await w;
  const t0 = Date.now();
  while (!/aof_rewrites:1/.test(await c.call('INFO', 'persistence')) && Date.now() - t0 < 10000) await sleep(50);
  assert.match(await c.call('INFO', 'persistence'), /aof_last_bgrewrite_status:ok/);
  await c.call('INCR', 'counter');
  assert.ok(fs.statSync(aof).size < sizeBefore, 'rewritten file is smaller');
  const before = await snapshotOf(c);
  assert.equal(before.counter, '2501');
  c.close();
  await s.stop();
  s = await startBunder(['--appendonly', 'yes'], { dir });
  c = await Client.connect(s.port);
  assert.deepEqual(await snapshotOf(c), before);
  c.close();
  await s.stop();
});

test('SAVE / BGSAVE snapshots restore without AOF; LASTSAVE advances; corrupt snapshot refused', async () => {
  const dir = tempDir();
  let s = await startBunder(['--appendonly', 'no'], { dir });
  let c = await Client.connect(s.port);
  await fill(c);
  const before = await snapshotOf(c);
  const last0 = await c.call('LASTSAVE');
  await sleep(1100);
  assert.equal(await c.call('SAVE'), 'OK');
  assert.ok((await c.call('LASTSAVE')) > last0);
  c.close();
  await s.stop();
  s = await startBunder(['--appendonly', 'no'], { dir });
  c = await Client.connect(s.port);
  assert.deepEqual(await snapshotOf(c), before);
  await c.call('SET', 'bg', 'yes');
  assert.equal(await c.call('BGSAVE'), 'Background saving started');
  const t0 = Date.now();
  while (/rdb_bgsave_in_progress:1/.test(await c.call('INFO', 'persistence')) && Date.now() - t0 < 10000) await sleep(30);
  assert.match(await c.call('INFO', 'persistence'), /rdb_last_bgsave_status:ok/);
  c.close();
  await s.kill(); // the snapshot is what survives
  s = await startBunder(['--appendonly', 'no'], { dir });
  c = await Client.connect(s.port);
  assert.equal(await c.call('GET', 'bg'), 'yes');
  c.close();
  await s.stop();
  const snap = path.join(dir, 'dump.bdb');
  const b = fs.readFileSync(snap);
  b[20] ^= 0xff;
  fs.writeFileSync(snap, b);
  const r = runBunderSync(['--port', '0', '--dir', dir]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /checksum mismatch/);
});

test('config file and bad options', async () => {
  const dir = tempDir();
  const conf = path.join(dir, 'bunder.conf');
  fs.writeFileSync(conf, `# comment\nport 0\ndir ${dir}\nappendonly yes\nappendfsync "always"\nrequirepass pw\nmaxmemory 10mb\n`);
  const { spawn } = await import('node:child_process');
  const proc = spawn(BUNDER, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(log)), 10000);
    proc.stderr.on('data', (d) => { log += d; const m = /msg="ready" port=(\d+)/.exec(log); if (m) { clearTimeout(t); res(Number(m[1])); } });
  });
  const c = await Client.connect(port);
  assert.deepEqual(await c.call('GET', 'x'), { error: 'NOAUTH Authentication required.' });
  await c.call('AUTH', 'pw');
  assert.deepEqual(await c.call('CONFIG', 'GET', 'appendfsync'), ['appendfsync', 'always']);
  assert.deepEqual(await c.call('CONFIG', 'GET', 'maxmemory'), ['maxmemory', String(10 * 1024 * 1024)]);
  c.close();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  let r = runBunderSync(['--appendfsync', 'sometimes']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /appendfsync.*always, everysec, no|one of the following: no, everysec, always/);
  r = runBunderSync(['--nosuch', '1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown option/);
});
