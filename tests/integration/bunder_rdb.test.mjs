// RDB files (src/bunder/rdb.c) between bunder and Debian's redis-server 7.0, both ways: bunder's
// BGSAVE / SAVE / SHUTDOWN SAVE write Redis 7.0's RDB (version 10) that redis-check-rdb accepts and
// redis-server loads with every key, type, encoding and TTL of several databases and the FUNCTION
// libraries; bunder loads redis-server's RDB (with or without appendonly); corrupt, truncated and
// unsupported files are refused at start with a clear reason.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { RawClient, fs, path, startBunder, startRedis } from './bunder_compat_lib.mjs';
import { KEYS, crc64, fixtures, view } from './bunder_data_lib.mjs';
import { runBunderSync, sleep } from './bunder_lib.test.mjs';

const DBS = ['0', '5', '15'];
const EXTRA = ['hll', 'geo', 'bits', 'ttlhash', 'intkey:7'];
const LIB = "#!lua name=rdblib\nredis.register_function('rdbf', function(keys, args) return args[1] end)";

/** Fills databases DBS on cl: the fixtures, HLL, geo, bitmap, a hash with a TTL, per database a
 * key of its own; and one FUNCTION library. */
async function fill(cl) {
  for (const db of DBS) {
    await cl.call('SELECT', db);
    for (const cmd of fixtures()) await cl.call(...cmd);
    await cl.call('PFADD', 'hll', ...Array.from({ length: 50 }, (_, i) => `e${i}${db}`));
    await cl.call('GEOADD', 'geo', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania');
    await cl.call('SETBIT', 'bits', '1000', '1');
    await cl.call('HSET', 'ttlhash', 'a', '1');
    await cl.call('PEXPIRE', 'ttlhash', '500000');
    await cl.call('SET', 'intkey:7', db);
    await cl.call('SET', `only${db}`, db);
  }
  await cl.call('SELECT', '0');
  await cl.call('FUNCTION', 'LOAD', LIB);
}

/** Every key's view per database, DBSIZE, and FUNCTION LIST as bytes. */
async function snapshot(cl) {
  const out = {};
  for (const db of DBS) {
    await cl.call('SELECT', db);
    out[db] = { size: (await cl.call('DBSIZE')).toString() };
    for (const k of [...KEYS, ...EXTRA, `only${db}`]) out[db][k] = await view(cl, k);
  }
  await cl.call('SELECT', '0');
  out.functions = (await cl.call('FUNCTION', 'LIST', 'WITHCODE')).toString('latin1');
  return out;
}

async function waitBgsave(cl) {
  const t0 = Date.now();
  while (/rdb_bgsave_in_progress:1/.test((await cl.call('INFO', 'persistence')).toString()) && Date.now() - t0 < 10000) await sleep(20);
  assert.match((await cl.call('INFO', 'persistence')).toString(), /rdb_last_bgsave_status:ok/);
}

test('bunder BGSAVE → redis-check-rdb and redis-server; redis-server SAVE → bunder (every type, databases 0/5/15, TTLs, functions)', async () => {
  let b = await startBunder(['--appendonly', 'no', '--enable-debug-command', 'yes']);
  let bc = await RawClient.connect(b.port);
  await fill(bc);
  const want = await snapshot(bc);
  assert.equal(want['5'].ttlhash.ttl, 'ttl');
  assert.equal(want['0'].xs.type, 'stream');
  assert.equal((await bc.call('BGSAVE')).toString(), '+Background saving started\r\n');
  await waitBgsave(bc);
  const file = path.join(b.dir, 'dump.bdb');
  const bunderFile = fs.readFileSync(file);
  assert.equal(bunderFile.subarray(0, 9).toString(), 'REDIS0010');
  const chk = spawnSync('redis-check-rdb', [file], { encoding: 'utf8' });
  assert.equal(chk.status, 0, chk.stdout + chk.stderr);
  assert.match(chk.stdout, /RDB looks OK/);
  assert.match(chk.stdout, /Selecting DB ID 15/);

  // redis-server loads bunder's file
  const r = await startRedis(['--dir', b.dir, '--dbfilename', 'dump.bdb']);
  const rc = await RawClient.connect(r.port);
  try {
    assert.deepEqual(await snapshot(rc), want, 'redis-server sees what bunder saved');
    // and redis-server's own RDB (its compact encodings: listpacks, intsets, quicklists, LZF) back into bunder
    bc.close();
    await b.stop();
    assert.equal((await rc.call('SAVE')).toString(), '+OK\r\n');
    assert.notDeepEqual(fs.readFileSync(file), bunderFile);
    b = await startBunder(['--appendonly', 'no', '--enable-debug-command', 'yes'], { dir: b.dir });
    assert.match(b.log, /"rdb_loaded" version=10 keys=81 /);
    bc = await RawClient.connect(b.port);
    assert.deepEqual(await snapshot(bc), want, 'bunder sees what redis-server saved');
    // DEBUG RELOAD and SHUTDOWN SAVE go through the same writer and loader
    assert.equal((await bc.call('DEBUG', 'RELOAD')).toString(), '+OK\r\n');
    assert.deepEqual(await snapshot(bc), want, 'after DEBUG RELOAD');
    await bc.call('SHUTDOWN', 'SAVE').catch(() => {});
    await new Promise((res) => (b.proc.exitCode !== null ? res() : b.proc.once('exit', res)));
    const r2 = await startRedis(['--dir', b.dir, '--dbfilename', 'dump.bdb']);
    const rc2 = await RawClient.connect(r2.port);
    assert.deepEqual(await snapshot(rc2), want, 'redis-server loads bunder\'s SHUTDOWN SAVE');
    rc2.close();
    await r2.stop();
  } finally {
    rc.close();
    bc.close();
    await r.stop();
    await b.stop();
  }
});

test('appendonly yes with no AOF yet starts from redis-server\'s RDB and keeps it in the AOF', async () => {
  const r = await startRedis();
  const rc = await RawClient.connect(r.port);
  await rc.call('SELECT', '3');
  await rc.call('RPUSH', 'l', 'a', 'b');
  await rc.call('SET', 't', 'v', 'PX', '900000');
  await rc.call('SAVE');
  rc.close();
  await r.stop();
  let b = await startBunder(['--appendonly', 'yes', '--dbfilename', 'dump.rdb'], { dir: r.dir });
  let bc = await RawClient.connect(b.port);
  await bc.call('SELECT', '3');
  assert.equal((await bc.call('LRANGE', 'l', '0', '-1')).toString(), '*2\r\n$1\r\na\r\n$1\r\nb\r\n');
  await bc.call('RPUSH', 'l', 'c');
  bc.close();
  await b.kill();
  fs.unlinkSync(path.join(r.dir, 'dump.rdb')); // the AOF alone holds the migrated data now
  b = await startBunder(['--appendonly', 'yes'], { dir: r.dir });
  bc = await RawClient.connect(b.port);
  await bc.call('SELECT', '3');
  assert.equal((await bc.call('LRANGE', 'l', '0', '-1')).toString(), '*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
  assert.match((await bc.call('PTTL', 't')).toString(), /^:[1-9]\d*\r\n$/);
  bc.close();
  await b.stop();
});

test('a truncated, corrupted, newer or module RDB is refused at start with the reason', async () => {
  const r = await startRedis();
  const rc = await RawClient.connect(r.port);
  for (const cmd of fixtures()) await rc.call(...cmd);
  await rc.call('SELECT', '9');
  await rc.call('SET', 'in9', 'x');
  await rc.call('SAVE');
  rc.close();
  await r.stop();
  const good = fs.readFileSync(path.join(r.dir, 'dump.rdb'));
  const withCrc = (body) => {
    const c = Buffer.alloc(8);
    c.writeBigUInt64LE(crc64(body));
    return Buffer.concat([body, c]);
  };
  const body = good.subarray(0, good.length - 8);
  const at = body.indexOf('lsmall');
  const corrupt = Buffer.from(body);
  corrupt[at + 'lsmall'.length + 1] ^= 0xff; // inside the first quicklist node's header
  const cases = [
    ['truncated', good.subarray(0, good.length >> 1), /truncated|checksum mismatch/],
    ['no EOF', withCrc(body.subarray(0, body.length - 1)), /truncated \(no EOF marker\)|malformed|bad/],
    ['bad checksum', Buffer.concat([body, Buffer.from('12345678')]), /checksum mismatch/],
    ['corrupt value', withCrc(corrupt), /malformed value of RDB type \d+ at offset \d+/],
    ['newer version', withCrc(Buffer.concat([Buffer.from('REDIS0012'), body.subarray(9)])), /unsupported RDB version 12/],
    ['module value', withCrc(Buffer.concat([Buffer.from('REDIS0010'), Buffer.from([0xfe, 0, 7, 1, 0x6d]), Buffer.from([0xff])])), /module data/],
    ['duplicate key', withCrc(Buffer.concat([Buffer.from('REDIS0010'), Buffer.from([0, 1, 0x6b, 1, 0x61, 0, 1, 0x6b, 1, 0x62, 0xff])])), /duplicate key/],
    ['not an RDB', Buffer.from('hello world, not a snapshot'), /bad magic/],
  ];
  for (const [name, bytes, re] of cases) {
    fs.writeFileSync(path.join(r.dir, 'bad.rdb'), bytes);
    const res = runBunderSync(['--port', '0', '--dir', r.dir, '--dbfilename', 'bad.rdb']);
    assert.equal(res.status, 1, `${name}: ${res.stderr}`);
    assert.match(res.stderr, /snapshot_load_failed/, name);
    assert.match(res.stderr, re, name);
  }
  // database 9 in a server with 4 databases: refused, not loaded into another one
  const res = runBunderSync(['--port', '0', '--dir', r.dir, '--dbfilename', 'dump.rdb', '--databases', '4']);
  assert.equal(res.status, 1);
  assert.match(res.stderr, /database id out of range/);
});
