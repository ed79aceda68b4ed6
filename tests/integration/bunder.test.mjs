// bunder: the RESP command suite against a real build/bunder — every implemented command with
// its error cases and Redis wording, TTL edge cases, MULTI/WATCH races, pub/sub, blocking pops,
// protocol (inline, pipelining, RESP3, limits), AUTH, maxmemory, and redis-cli interop.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startBunder, Client, cli, sleep } from './bunder_lib.test.mjs';

const WRONGTYPE = { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' };
const NOTINT = { error: 'ERR value is not an integer or out of range' };
const NOTFLOAT = { error: 'ERR value is not a valid float' };
const SYNTAX = { error: 'ERR syntax error' };
const arity = (c) => ({ error: `ERR wrong number of arguments for '${c}' command` });
const sorted = (a) => [...a].sort();

/** Runs [args..., expected] rows in order; expected may be a function(reply). */
async function rows(c, list) {
  for (const row of list) {
    const exp = row[row.length - 1];
    const args = row.slice(0, -1);
    const got = await c.call(...args);
    if (typeof exp === 'function') exp(got, args);
    else assert.deepEqual(got, exp, `${args.join(' ')}`);
  }
}

let srv, c;
test.before(async () => {
  srv = await startBunder(['--appendonly', 'no', '--hz', '50']);
  c = await Client.connect(srv.port);
});
test.after(async () => { c?.close(); await srv?.stop(); });
test.beforeEach(async () => { await c.call('FLUSHALL'); });

test('strings: SET options, GET, counters, ranges', async () => {
  await rows(c, [
    ['SET', 'k', 'v', 'OK'], ['GET', 'k', 'v'], ['GET', 'nope', null],
    ['SET', 'k', 'w', 'NX', null], ['SET', 'k', 'w', 'XX', 'OK'], ['SET', 'n', 'w', 'XX', null],
    ['SET', 'k', 'x', 'GET', 'w'], ['SET', 'new', 'x', 'NX', 'GET', null], ['GET', 'new', 'x'],
    ['SET', 'k', 'v', 'EX', '0', { error: "ERR invalid expire time in 'set' command" }],
    ['SET', 'k', 'v', 'PX', '-5', { error: "ERR invalid expire time in 'set' command" }],
    ['SET', 'k', 'v', 'EX', 'x', NOTINT], ['SET', 'k', 'v', 'NX', 'XX', SYNTAX],
    ['SET', 'k', 'v', 'EX', '10', 'KEEPTTL', SYNTAX], ['SET', 'k', 'v', 'BOGUS', SYNTAX],
    ['SET', 'k', arity('set')], ['GET', arity('get')],
    ['SET', 't', 'v', 'EX', '100', 'OK'], ['TTL', 't', 100], ['SET', 't', 'v2', 'KEEPTTL', 'OK'],
    ['TTL', 't', 100], ['SET', 't', 'v3', 'OK'], ['TTL', 't', -1],
    ['SET', 'p', 'v', 'PXAT', String(Date.now() + 100000), 'OK'], ['PTTL', 'p', (v) => assert.ok(v > 90000 && v <= 100000)],
    ['MSET', 'a', '1', 'b', '2', 'OK'], ['MGET', 'a', 'b', 'zz', ['1', '2', null]],
    ['MSET', 'a', '1', 'b', arity('mset')],
    ['MSETNX', 'a', '9', 'c', '3', 0], ['MSETNX', 'c', '3', 'd', '4', 1], ['GET', 'a', '1'],
    ['SETNX', 'a', 'x', 0], ['SETNX', 'e', 'x', 1],
    ['SETEX', 'se', '100', 'v', 'OK'], ['TTL', 'se', 100], ['PSETEX', 'pse', '100000', 'v', 'OK'],
    ['SETEX', 'se', '-1', 'v', { error: "ERR invalid expire time in 'setex' command" }],
    ['GETSET', 'a', 'z', '1'], ['GET', 'a', 'z'],
    ['INCR', 'cnt', 1], ['INCRBY', 'cnt', '10', 11], ['DECR', 'cnt', 10], ['DECRBY', 'cnt', '20', -10],
    ['INCR', 'a', NOTINT], ['INCRBY', 'cnt', 'x', NOTINT], ['SET', 'big', '9223372036854775807', 'OK'],
    ['INCR', 'big', { error: 'ERR increment or decrement would overflow' }],
    ['SET', 'sp', ' 1', 'OK'], ['INCR', 'sp', NOTINT],
    ['INCRBYFLOAT', 'f', '10.5', '10.5'], ['INCRBYFLOAT', 'f', '0.1', '10.6'], ['INCRBYFLOAT', 'f', '-5e0', '5.6'],
    ['INCRBYFLOAT', 'a', '1', NOTFLOAT], ['INCRBYFLOAT', 'f', 'abc', NOTFLOAT],
    ['APPEND', 'ap', 'hello', 5], ['APPEND', 'ap', ' world', 11], ['GET', 'ap', 'hello world'],
    ['STRLEN', 'ap', 11], ['STRLEN', 'none', 0],
    ['GETRANGE', 'ap', '0', '4', 'hello'], ['GETRANGE', 'ap', '-5', '-1', 'world'],
    ['GETRANGE', 'ap', '5', '2', ''], ['GETRANGE', 'ap', '0', '100', 'hello world'], ['SUBSTR', 'ap', '0', '0', 'h'],
    ['SETRANGE', 'ap', '6', 'WORLD', 11], ['GET', 'ap', 'hello WORLD'],
    ['SETRANGE', 'sr', '3', 'x', 4], ['GET', 'sr', '\0\0\0x'], ['SETRANGE', 'sr', '-1', 'x', { error: 'ERR offset is out of range' }],
    ['SETRANGE', 'none2', '5', '', 0], ['EXISTS', 'none2', 0],
    ['GETDEL', 'ap', 'hello WORLD'], ['GETDEL', 'ap', null],
    ['SET', 'gx', 'v', 'OK'], ['GETEX', 'gx', 'EX', '50', 'v'], ['TTL', 'gx', 50],
    ['GETEX', 'gx', 'PERSIST', 'v'], ['TTL', 'gx', -1], ['GETEX', 'gx', 'EX', '1', 'PX', '2', SYNTAX],
    ['LPUSH', 'lst', 'x', 1], ['GET', 'lst', WRONGTYPE], ['APPEND', 'lst', 'x', WRONGTYPE],
    ['INCR', 'lst', WRONGTYPE], ['SET', 'lst', 'str', 'OK'], ['TYPE', 'lst', 'string'],
  ]);
  // binary safety: CR, LF and NUL round-trip
  const bin = Buffer.from([0, 13, 10, 255, 36, 42]);
  assert.equal(await c.call('SET', 'bin', bin), 'OK');
  c.raw = true;
  assert.deepEqual(await c.call('GET', 'bin'), bin);
  c.raw = false;
});

test('keys: DEL/EXISTS multi, TYPE, RENAME, KEYS, SCAN, RANDOMKEY, DBSIZE', async () => {
  await rows(c, [
    ['MSET', 'a', '1', 'b', '2', 'c', '3', 'OK'], ['DEL', 'a', 'b', 'zz', 2], ['EXISTS', 'a', 'c', 'c', 'zz', 2],
    ['UNLINK', 'c', 1], ['DBSIZE', 0], ['TYPE', 'nokey', 'none'],
    ['SADD', 's', 'm', 1], ['TYPE', 's', 'set'], ['HSET', 'h', 'f', 'v', 1], ['TYPE', 'h', 'hash'],
    ['ZADD', 'z', '1', 'm', 1], ['TYPE', 'z', 'zset'], ['RPUSH', 'l', 'x', 1], ['TYPE', 'l', 'list'],
    ['RENAME', 'nokey', 'x', { error: 'ERR no such key' }], ['RENAME', 's', 's2', 'OK'], ['EXISTS', 's', 0],
    ['SMEMBERS', 's2', ['m']], ['RENAME', 's2', 's2', 'OK'],
    ['SET', 'r', 'v', 'EX', '100', 'OK'], ['RENAME', 'r', 'r2', 'OK'], ['TTL', 'r2', 100],
    ['RENAMENX', 'r2', 'h', 0], ['RENAMENX', 'r2', 'r3', 1], ['RENAME', 'r3', 'h', 'OK'], ['TYPE', 'h', 'string'],
    ['KEYS', 'r*', []], ['KEYS', 'h', ['h']], ['KEYS', '[hz]', (v) => assert.deepEqual(sorted(v), ['h', 'z'])],
    ['KEYS', '*', (v) => assert.deepEqual(sorted(v), ['h', 'l', 's2', 'z'])],
    ['RANDOMKEY', (v) => assert.ok(['h', 'l', 's2', 'z'].includes(v))], ['DBSIZE', 4],
    ['TOUCH', 'h', 'l', 'nope', 2], ['FLUSHDB', 'OK'], ['DBSIZE', 0], ['RANDOMKEY', null],
    ['FLUSHDB', 'bogus', SYNTAX], ['FLUSHALL', 'ASYNC', 'OK'], ['DEL', arity('del')],
  ]);
  // SCAN visits every key exactly once across resizes, MATCH/COUNT/TYPE filter
  const args = [];
  for (let i = 0; i < 500; i++) args.push(`key:${i}`, 'v');
  await c.call('MSET', ...args);
  await c.call('RPUSH', 'key:list', 'x');
  const seen = new Set();
  let cursor = '0';
  do {
    const [next, keys] = await c.call('SCAN', cursor, 'COUNT', '37');
    keys.forEach((k) => seen.add(k));
    cursor = next;
  } while (cursor !== '0');
  assert.equal(seen.size, 501);
  let found = [];
  cursor = '0';
  do {
    const [next, keys] = await c.call('SCAN', cursor, 'MATCH', 'key:1?', 'COUNT', '1000');
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  assert.deepEqual(sorted(found), sorted(Array.from({ length: 10 }, (_, i) => `key:1${i}`)));
  const [, lists] = await c.call('SCAN', '0', 'TYPE', 'list', 'COUNT', '10000');
  assert.deepEqual(lists, ['key:list']);
  await rows(c, [['SCAN', 'x', { error: 'ERR invalid cursor' }], ['SCAN', '0', 'COUNT', '0', SYNTAX], ['SCAN', '0', 'FOO', SYNTAX]]);
});

test('TTL semantics: -1/-2, SET clears, re-EXPIRE replaces, lazy and active expiry, all types', async () => {
  await rows(c, [
    ['TTL', 'missing', -2], ['PTTL', 'missing', -2], ['SET', 'k', 'v', 'OK'], ['TTL', 'k', -1],
    ['EXPIRE', 'missing', '10', 0], ['SET', 'missing', 'v', 'OK'], ['TTL', 'missing', -1],
    ['EXPIRE', 'k', '2', 1], ['EXPIRE', 'k', '100', 1], ['TTL', 'k', 100], ['EXPIRE', 'k', '5', 1], ['TTL', 'k', 5],
    ['PERSIST', 'k', 1], ['PERSIST', 'k', 0], ['TTL', 'k', -1],
    ['EXPIRE', 'k', 'abc', NOTINT], ['EXPIRE', 'k', arity('expire')],
    ['EXPIRE', 'k', '100', 'NX', 1], ['EXPIRE', 'k', '200', 'NX', 0], ['EXPIRE', 'k', '50', 'GT', 0],
    ['EXPIRE', 'k', '200', 'GT', 1], ['EXPIRE', 'k', '300', 'LT', 0], ['EXPIRE', 'k', '10', 'LT', 1],
    ['EXPIRE', 'k', '10', 'NX', 'XX', { error: 'ERR NX and XX, GT or LT options at the same time are not compatible' }],
    ['EXPIRE', 'k', '10', 'GT', 'LT', { error: 'ERR GT and LT options at the same time are not compatible' }],
    ['PERSIST', 'k', 1], ['EXPIRE', 'k', '10', 'XX', 0], ['EXPIRE', 'k', '10', 'GT', 0],
    ['PEXPIRE', 'k', '100000', 1], ['PTTL', 'k', (v) => assert.ok(v > 99000 && v <= 100000)],
    ['EXPIREAT', 'k', String(Math.floor(Date.now() / 1000) + 1000), 1], ['TTL', 'k', (v) => assert.ok(v >= 998 && v <= 1000)],
    ['EXPIRETIME', 'k', (v) => assert.ok(v > Date.now() / 1000)], ['PEXPIRETIME', 'nokey', -2],
    ['PEXPIREAT', 'k', String(Date.now() + 50000), 1],
    ['EXPIRE', 'k', '-1', 1], ['EXISTS', 'k', 0], // a deadline in the past deletes at once
    ['SET', 'k', 'v', 'EX', '100', 'OK'], ['DEL', 'k', 1], ['SET', 'k', 'v', 'OK'], ['TTL', 'k', -1],
    ['SET', 'k', 'v', 'EXAT', String(Math.floor(Date.now() / 1000) - 10), 'OK'], ['GET', 'k', null],
  ]);
  // lazy expiry: never returned after the deadline, for every type
  await c.call('SET', 's', 'v', 'PX', '60');
  await c.call('RPUSH', 'l', 'a'); await c.call('PEXPIRE', 'l', '60');
  await c.call('SADD', 'st', 'a'); await c.call('PEXPIRE', 'st', '60');
  await c.call('HSET', 'h', 'f', 'v'); await c.call('PEXPIRE', 'h', '60');
  await c.call('ZADD', 'z', '1', 'a'); await c.call('PEXPIRE', 'z', '60');
  assert.equal(await c.call('GET', 's'), 'v');
  await sleep(80);
  await rows(c, [['GET', 's', null], ['LLEN', 'l', 0], ['SCARD', 'st', 0], ['HLEN', 'h', 0], ['ZCARD', 'z', 0], ['TTL', 's', -2]]);
  // active expiry: keys nobody touches disappear
  const args = [];
  for (let i = 0; i < 300; i++) args.push(`t:${i}`, 'v');
  await c.call('MSET', ...args);
  for (let i = 0; i < 300; i++) c.writeRaw(Buffer.from(`PEXPIRE t:${i} 50\r\n`));
  for (let i = 0; i < 300; i++) assert.equal(await c.next(), 1);
  await c.call('SET', 'keep', 'v');
  const t0 = Date.now();
  while ((await c.call('DBSIZE')) > 2 && Date.now() - t0 < 5000) await sleep(50);
  assert.deepEqual(await c.call('KEYS', 't:*'), []);
  assert.equal(await c.call('DBSIZE'), 2); // 'missing' (no TTL) and 'keep'
  const info = await c.call('INFO', 'stats');
  assert.match(info, /expired_keys:\d+/);
});

test('lists: push/pop/range/index/set/rem/trim/insert/pos/move', async () => {
  await rows(c, [
    ['LPUSH', 'l', 'a', 'b', 'c', 3], ['RPUSH', 'l', 'd', 4], ['LRANGE', 'l', '0', '-1', ['c', 'b', 'a', 'd']],
    ['LRANGE', 'l', '-2', '100', ['a', 'd']], ['LRANGE', 'l', '5', '10', []], ['LRANGE', 'l', 'x', '1', NOTINT],
    ['LLEN', 'l', 4], ['LINDEX', 'l', '0', 'c'], ['LINDEX', 'l', '-1', 'd'], ['LINDEX', 'l', '9', null],
    ['LSET', 'l', '1', 'B', 'OK'], ['LSET', 'l', '9', 'x', { error: 'ERR index out of range' }],
    ['LSET', 'nol', '0', 'x', { error: 'ERR no such key' }],
    ['LPUSHX', 'nol', 'x', 0], ['RPUSHX', 'l', 'e', 5], ['LPOP', 'l', 'c'], ['RPOP', 'l', 'e'],
    ['LPOP', 'l', '2', ['B', 'a']], ['LPOP', 'nol', '2', null], ['LPOP', 'nol', null],
    ['LPOP', 'l', '-1', { error: 'ERR value is out of range, must be positive' }], ['LPOP', 'l', '0', []],
    ['RPOP', 'l', 'd'], ['EXISTS', 'l', 0],
    ['RPUSH', 'r', 'a', 'b', 'a', 'c', 'a', 5], ['LREM', 'r', '-1', 'a', 1], ['LRANGE', 'r', '0', '-1', ['a', 'b', 'a', 'c']],
    ['LREM', 'r', '0', 'a', 2], ['LRANGE', 'r', '0', '-1', ['b', 'c']],
    ['LINSERT', 'r', 'BEFORE', 'c', 'X', 3], ['LINSERT', 'r', 'AFTER', 'c', 'Y', 4], ['LINSERT', 'r', 'AFTER', 'zz', 'Y', -1],
    ['LINSERT', 'nol', 'AFTER', 'zz', 'Y', 0], ['LINSERT', 'r', 'MIDDLE', 'c', 'Y', SYNTAX],
    ['LRANGE', 'r', '0', '-1', ['b', 'X', 'c', 'Y']], ['LTRIM', 'r', '1', '2', 'OK'], ['LRANGE', 'r', '0', '-1', ['X', 'c']],
    ['LTRIM', 'r', '5', '1', 'OK'], ['EXISTS', 'r', 0],
    ['RPUSH', 'p', 'a', 'b', 'c', 'b', 'b', 5], ['LPOS', 'p', 'b', 1], ['LPOS', 'p', 'b', 'RANK', '2', 3],
    ['LPOS', 'p', 'b', 'RANK', '-1', 4], ['LPOS', 'p', 'b', 'COUNT', '0', [1, 3, 4]], ['LPOS', 'p', 'b', 'COUNT', '2', [1, 3]],
    ['LPOS', 'p', 'b', 'MAXLEN', '2', 1], ['LPOS', 'p', 'z', null],
    ['LPOS', 'p', 'b', 'RANK', '0', (v) => assert.match(v.error, /^ERR RANK can't be zero/)],
    ['LPOS', 'p', 'b', 'COUNT', '-1', { error: "ERR COUNT can't be negative" }],
    ['LMOVE', 'p', 'q', 'LEFT', 'RIGHT', 'a'], ['LMOVE', 'p', 'q', 'RIGHT', 'LEFT', 'b'], ['LRANGE', 'q', '0', '-1', ['b', 'a']],
    ['LMOVE', 'p', 'q', 'UP', 'LEFT', SYNTAX], ['RPOPLPUSH', 'q', 'q', 'a'], ['LRANGE', 'q', '0', '-1', ['a', 'b']],
    ['LMOVE', 'nol', 'q', 'LEFT', 'LEFT', null], ['SET', 'str', 'x', 'OK'], ['LMOVE', 'q', 'str', 'LEFT', 'LEFT', WRONGTYPE],
    ['LLEN', 'str', WRONGTYPE], ['LPUSH', 'str', 'x', WRONGTYPE],
  ]);
});

test('BLPOP/BRPOP: immediate, blocking served by a push, timeout, errors', async () => {
  await rows(c, [
    ['RPUSH', 'bl', 'a', 'b', 2], ['BLPOP', 'none', 'bl', '1', ['bl', 'a']], ['BRPOP', 'bl', '1', ['bl', 'b']],
    ['BLPOP', 'bl', 'x', { error: 'ERR timeout is not a float or out of range' }],
    ['BLPOP', 'bl', '-1', { error: 'ERR timeout is negative' }],
  ]);
  const b = await Client.connect(srv.port);
  const b2 = await Client.connect(srv.port);
  const p1 = b.call('BLPOP', 'q1', 'q2', '0');
  await sleep(30);
  const p2 = b2.call('BRPOP', 'q2', '0');
  await sleep(30);
  assert.equal(await c.call('RPUSH', 'q2', 'x', 'y'), 2);
  assert.deepEqual(await p1, ['q2', 'x']); // first blocked client is served first
  assert.deepEqual(await p2, ['q2', 'y']);
  assert.equal(await c.call('EXISTS', 'q2'), 0);
  const t0 = Date.now();
  assert.equal(await b.call('BLPOP', 'q3', '0.2'), null);
  assert.ok(Date.now() - t0 >= 150, 'timeout honoured');
  // the blocked client's pipelined command runs after it is served
  b.writeRaw(Buffer.from('BLPOP q4 0\r\nPING\r\n'));
  await sleep(30);
  await c.call('LPUSH', 'q4', 'v');
  assert.deepEqual(await b.next(), ['q4', 'v']);
  assert.equal(await b.next(), 'PONG');
  b.close(); b2.close();
});

test('sets', async () => {
  await rows(c, [
    ['SADD', 's', 'a', 'b', 'c', 'a', 3], ['SADD', 's', 'a', 0], ['SCARD', 's', 3], ['SISMEMBER', 's', 'a', 1],
    ['SISMEMBER', 's', 'z', 0], ['SMISMEMBER', 's', 'a', 'z', [1, 0]], ['SMEMBERS', 's', (v) => assert.deepEqual(sorted(v), ['a', 'b', 'c'])],
    ['SREM', 's', 'a', 'z', 1], ['SADD', 't', 'b', 'x', 2], ['SINTER', 's', 't', ['b']], ['SINTER', 's', 'none', []],
    ['SUNION', 's', 't', (v) => assert.deepEqual(sorted(v), ['b', 'c', 'x'])], ['SDIFF', 's', 't', ['c']],
    ['SINTERSTORE', 'd', 's', 't', 1], ['SMEMBERS', 'd', ['b']], ['SUNIONSTORE', 'd', 's', 't', 3],
    ['SDIFFSTORE', 'd', 's', 's', 0], ['EXISTS', 'd', 0],
    ['SMOVE', 's', 't', 'c', 1], ['SMOVE', 's', 't', 'zz', 0], ['SMEMBERS', 's', ['b']],
    ['SPOP', 'nos', null], ['SPOP', 't', '10', (v) => assert.deepEqual(sorted(v), ['b', 'c', 'x'])], ['EXISTS', 't', 0],
    ['SPOP', 's', '-1', { error: 'ERR value is out of range, must be positive' }],
    ['SADD', 'r', 'a', 'b', 'c', 3], ['SRANDMEMBER', 'r', (v) => assert.ok(['a', 'b', 'c'].includes(v))],
    ['SRANDMEMBER', 'r', '2', (v) => assert.equal(new Set(v).size, 2)], ['SRANDMEMBER', 'r', '10', (v) => assert.equal(v.length, 3)],
    ['SRANDMEMBER', 'r', '-5', (v) => assert.equal(v.length, 5)], ['SRANDMEMBER', 'nos', null],
    ['SSCAN', 'r', '0', 'COUNT', '100', (v) => { assert.equal(v[0], '0'); assert.deepEqual(sorted(v[1]), ['a', 'b', 'c']); }],
    ['SSCAN', 'r', '0', 'MATCH', 'a', (v) => assert.deepEqual(v[1], ['a'])],
    ['SET', 'str', 'v', 'OK'], ['SADD', 'str', 'a', WRONGTYPE], ['SINTER', 'r', 'str', WRONGTYPE], ['SADD', 's', arity('sadd')],
  ]);
});

test('hashes', async () => {
  await rows(c, [
    ['HSET', 'h', 'a', '1', 'b', '2', 2], ['HSET', 'h', 'a', '3', 'c', '4', 1], ['HSET', 'h', 'a', arity('hset')],
    ['HGET', 'h', 'a', '3'], ['HGET', 'h', 'z', null], ['HMGET', 'h', 'a', 'z', 'b', ['3', null, '2']],
    ['HGETALL', 'h', (v) => assert.deepEqual(v.length, 6)], ['HLEN', 'h', 3], ['HEXISTS', 'h', 'a', 1], ['HEXISTS', 'h', 'q', 0],
    ['HKEYS', 'h', (v) => assert.deepEqual(sorted(v), ['a', 'b', 'c'])], ['HVALS', 'h', (v) => assert.deepEqual(sorted(v), ['2', '3', '4'])],
    ['HDEL', 'h', 'a', 'z', 1], ['HSETNX', 'h', 'b', 'x', 0], ['HSETNX', 'h', 'n', 'x', 1], ['HSTRLEN', 'h', 'n', 1],
    ['HINCRBY', 'h', 'c', '10', 14], ['HINCRBY', 'h', 'n', '1', { error: 'ERR hash value is not an integer' }],
    ['HINCRBY', 'h', 'c', 'x', NOTINT], ['HINCRBYFLOAT', 'h', 'f', '1.5', '1.5'], ['HINCRBYFLOAT', 'h', 'n', '1', { error: 'ERR hash value is not a float' }],
    ['HMSET', 'h2', 'x', '1', 'OK'], ['HGETALL', 'none', []],
    ['HSCAN', 'h2', '0', (v) => assert.deepEqual(v, ['0', ['x', '1']])],
    ['HDEL', 'h2', 'x', 1], ['EXISTS', 'h2', 0], ['SET', 'str', 'v', 'OK'], ['HGET', 'str', 'a', WRONGTYPE],
  ]);
});

test('sorted sets: ZADD flags, ranks, ranges by score/lex/rev/limit, pops', async () => {
  await rows(c, [
    ['ZADD', 'z', '1', 'a', '2', 'b', '3', 'c', 3], ['ZADD', 'z', 'NX', '5', 'a', '4', 'd', 1], ['ZSCORE', 'z', 'a', '1'],
    ['ZADD', 'z', 'XX', 'CH', '10', 'a', '9', 'zz', 1], ['ZSCORE', 'z', 'zz', null],
    ['ZADD', 'z', 'GT', 'CH', '5', 'a', 0], ['ZADD', 'z', 'LT', 'CH', '5', 'a', 1], ['ZADD', 'z', 'INCR', '2', 'a', '7'],
    ['ZADD', 'z', 'NX', 'XX', '1', 'a', { error: 'ERR XX and NX options at the same time are not compatible' }],
    ['ZADD', 'z', 'GT', 'LT', '1', 'a', { error: 'ERR GT, LT, and/or NX options at the same time are not compatible' }],
    ['ZADD', 'z', 'INCR', '1', 'a', '2', 'b', { error: 'ERR INCR option supports a single increment-element pair' }],
    ['ZADD', 'z', 'x', 'a', NOTFLOAT], ['ZADD', 'z', '1', arity('zadd')], ['ZADD', 'z', '1', 'a', '2', SYNTAX],
    ['ZCARD', 'z', 4], ['ZRANK', 'z', 'b', 0], ['ZREVRANK', 'z', 'b', 3], ['ZRANK', 'z', 'q', null],
    ['ZRANGE', 'z', '0', '-1', ['b', 'c', 'd', 'a']], ['ZRANGE', 'z', '0', '1', 'WITHSCORES', ['b', '2', 'c', '3']],
    ['ZRANGE', 'z', '0', '1', 'REV', ['a', 'd']], ['ZREVRANGE', 'z', '0', '0', 'WITHSCORES', ['a', '7']],
    ['ZRANGE', 'z', '(2', '4', 'BYSCORE', ['c', 'd']], ['ZRANGE', 'z', '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', '1', '2', ['d', 'c']],
    ['ZRANGE', 'z', '0', '1', 'LIMIT', '0', '1', { error: 'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX' }],
    ['ZRANGEBYSCORE', 'z', '-inf', '3', 'WITHSCORES', ['b', '2', 'c', '3']], ['ZRANGEBYSCORE', 'z', 'x', '3', { error: 'ERR min or max is not a float' }],
    ['ZREVRANGEBYSCORE', 'z', '7', '(3', ['a', 'd']], ['ZCOUNT', 'z', '2', '(7', 3],
    ['ZINCRBY', 'z', '1.5', 'b', '3.5'], ['ZMSCORE', 'z', 'b', 'nope', ['3.5', null]],
    ['ZADD', 'lex', '0', 'a', '0', 'b', '0', 'c', '0', 'd', 4], ['ZRANGE', 'lex', '[b', '(d', 'BYLEX', ['b', 'c']],
    ['ZRANGEBYLEX', 'lex', '-', '+', 'LIMIT', '1', '2', ['b', 'c']], ['ZREVRANGEBYLEX', 'lex', '+', '(b', ['d', 'c']],
    ['ZRANGEBYLEX', 'lex', 'a', '+', { error: 'ERR min or max not valid string range item' }], ['ZLEXCOUNT', 'lex', '[b', '+', 3],
    ['ZRANGE', 'lex', '-', '+', 'BYLEX', 'WITHSCORES', { error: 'ERR syntax error, WITHSCORES not supported in combination with BYLEX' }],
    ['ZREMRANGEBYRANK', 'lex', '0', '1', 2], ['ZRANGE', 'lex', '0', '-1', ['c', 'd']], ['ZREMRANGEBYSCORE', 'lex', '-inf', '+inf', 2], ['EXISTS', 'lex', 0],
    ['ZPOPMIN', 'z', ['c', '3']], ['ZPOPMAX', 'z', '2', ['a', '7', 'd', '4']], ['ZPOPMIN', 'none', []],
    ['ZREM', 'z', 'b', 'x', 1], ['EXISTS', 'z', 0], ['ZADD', 'inf', '-inf', 'lo', '+inf', 'hi', 2],
    ['ZRANGE', 'inf', '0', '-1', 'WITHSCORES', ['lo', '-inf', 'hi', 'inf']],
    ['ZINCRBY', 'inf', '-inf', 'hi', { error: 'ERR resulting score is not a number (NaN)' }],
    ['ZSCAN', 'inf', '0', (v) => assert.equal(v[1].length, 4)], ['SET', 'str', 'v', 'OK'], ['ZADD', 'str', '1', 'a', WRONGTYPE],
  ]);
  // rank correctness on a larger set (skiplist spans)
  const args = [];
  for (let i = 0; i < 1000; i++) args.push(String((i * 7919) % 1000), `m${i}`);
  await c.call('ZADD', 'big', ...args);
  for (const i of [0, 1, 500, 999]) {
    const m = await c.call('ZRANGE', 'big', String(i), String(i));
    assert.equal(await c.call('ZRANK', 'big', m[0]), i);
  }
});

test('pub/sub: SUBSCRIBE, PSUBSCRIBE, PUBLISH counts, PUBSUB, subscribed context', async () => {
  const s = await Client.connect(srv.port);
  assert.deepEqual(await s.call('SUBSCRIBE', 'news', 'sport'), ['subscribe', 'news', 1]);
  assert.deepEqual(await s.next(), ['subscribe', 'sport', 2]);
  assert.deepEqual(await s.call('PSUBSCRIBE', 'n*'), ['psubscribe', 'n*', 3]);
  assert.deepEqual(await s.call('GET', 'x'), { error: "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context" });
  assert.deepEqual(await s.call('PING'), ['pong', '']);
  assert.equal(await c.call('PUBLISH', 'news', 'hello'), 2);
  assert.deepEqual(await s.next(), ['message', 'news', 'hello']);
  assert.deepEqual(await s.next(), ['pmessage', 'n*', 'news', 'hello']);
  assert.equal(await c.call('PUBLISH', 'nothing-here', 'x'), 1);
  assert.deepEqual(await s.next(), ['pmessage', 'n*', 'nothing-here', 'x']);
  assert.deepEqual(sorted(await c.call('PUBSUB', 'CHANNELS')), ['news', 'sport']);
  assert.deepEqual(await c.call('PUBSUB', 'CHANNELS', 's*'), ['sport']);
  assert.deepEqual(await c.call('PUBSUB', 'NUMSUB', 'news', 'zz'), ['news', 1, 'zz', 0]);
  assert.equal(await c.call('PUBSUB', 'NUMPAT'), 1);
  assert.deepEqual(await s.call('UNSUBSCRIBE', 'news'), ['unsubscribe', 'news', 2]);
  assert.deepEqual(await s.call('PUNSUBSCRIBE'), ['punsubscribe', 'n*', 1]);
  assert.deepEqual(await s.call('UNSUBSCRIBE'), ['unsubscribe', 'sport', 0]);
  assert.equal(await s.call('GET', 'x'), null); // back to normal mode
  assert.equal(await c.call('PUBLISH', 'news', 'x'), 0);
  // RESP3: pushes and normal commands while subscribed
  await s.call('HELLO', '3');
  assert.deepEqual(await s.call('SUBSCRIBE', 'r3'), ['subscribe', 'r3', 1]);
  assert.equal(await s.call('SET', 'via-resp3', '1'), 'OK');
  s.close();
});

test('MULTI/EXEC/DISCARD/WATCH including races with another client', async () => {
  await rows(c, [
    ['MULTI', 'OK'], ['SET', 'a', '1', 'QUEUED'], ['INCR', 'a', 'QUEUED'], ['LPUSH', 'a', 'x', 'QUEUED'],
    ['EXEC', ['OK', 2, WRONGTYPE]],
    ['EXEC', { error: 'ERR EXEC without MULTI' }], ['DISCARD', { error: 'ERR DISCARD without MULTI' }],
    ['MULTI', 'OK'], ['MULTI', { error: 'ERR MULTI calls can not be nested' }], ['SET', 'b', '1', 'QUEUED'],
    ['DISCARD', 'OK'], ['EXISTS', 'b', 0],
    ['MULTI', 'OK'], ['SET', 'b', '1', 'QUEUED'], ['NOSUCHCMD', (v) => assert.match(v.error, /^ERR unknown command 'NOSUCHCMD'/)],
    ['GET', arity('get')], ['EXEC', { error: 'EXECABORT Transaction discarded because of previous errors.' }], ['EXISTS', 'b', 0],
    ['MULTI', 'OK'], ['WATCH', 'x', { error: 'ERR WATCH inside MULTI is not allowed' }], ['DISCARD', 'OK'],
  ]);
  const other = await Client.connect(srv.port);
  // a write by another client between WATCH and EXEC aborts the transaction
  await rows(c, [['SET', 'w', '1', 'OK'], ['WATCH', 'w', 'OK']]);
  assert.equal(await other.call('INCR', 'w'), 2);
  await rows(c, [['MULTI', 'OK'], ['SET', 'w', '100', 'QUEUED'], ['EXEC', null], ['GET', 'w', '2']]);
  // an untouched watched key lets it through; UNWATCH forgets
  await rows(c, [['WATCH', 'w', 'OK'], ['MULTI', 'OK'], ['INCR', 'w', 'QUEUED'], ['EXEC', [3]]]);
  await rows(c, [['WATCH', 'w', 'OK'], ['UNWATCH', 'OK']]);
  await other.call('SET', 'w', '0');
  await rows(c, [['MULTI', 'OK'], ['INCR', 'w', 'QUEUED'], ['EXEC', [1]]]);
  // a watched key that expires, is deleted or flushed also aborts
  await rows(c, [['SET', 'e', 'v', 'OK'], ['WATCH', 'e', 'OK']]);
  await other.call('DEL', 'e');
  await rows(c, [['MULTI', 'OK'], ['PING', 'QUEUED'], ['EXEC', null]]);
  // optimistic-locking race: 2 clients x 50 WATCH/GET/MULTI/SET rounds never lose an increment
  await c.call('SET', 'ctr', '0');
  async function incrLoop(cl, n) {
    let done = 0;
    while (done < n) {
      await cl.call('WATCH', 'ctr');
      const v = Number(await cl.call('GET', 'ctr'));
      await cl.call('MULTI');
      await cl.call('SET', 'ctr', String(v + 1));
      const r = await cl.call('EXEC');
      if (r !== null) done++;
    }
  }
  await Promise.all([incrLoop(c, 50), incrLoop(other, 50)]);
  assert.equal(await c.call('GET', 'ctr'), '100');
  other.close();
});

test('protocol: inline, pipelining, RESP3 HELLO, errors, QUIT, CLIENT, COMMAND, INFO, CONFIG, TIME', async () => {
  const p = await Client.connect(srv.port);
  p.writeRaw(Buffer.from('PING\r\nSET inl "hello world"\r\nGET inl\r\nECHO \'a b\'\r\n\r\n'));
  assert.equal(await p.next(), 'PONG');
  assert.equal(await p.next(), 'OK');
  assert.equal(await p.next(), 'hello world');
  assert.equal(await p.next(), 'a b');
  // 2000 pipelined commands in one write, answered in order
  const bufs = [];
  for (let i = 0; i < 2000; i++) bufs.push(Buffer.from(`*2\r\n$4\r\nINCR\r\n$4\r\npipe\r\n`));
  p.writeRaw(Buffer.concat(bufs));
  for (let i = 1; i <= 2000; i++) assert.equal(await p.next(), i);
  // a command split across many writes
  const big = encode1('SET', 'split', 'x'.repeat(100000));
  for (let i = 0; i < big.length; i += 7777) { p.writeRaw(big.subarray(i, i + 7777)); await sleep(1); }
  assert.equal(await p.next(), 'OK');
  assert.equal(await p.call('STRLEN', 'split'), 100000);
  const hello = await p.call('HELLO', '3');
  assert.equal(hello.proto, 3);
  assert.equal(hello.server, 'redis');
  assert.deepEqual(await p.call('HGETALL', 'none'), {});
  await p.call('HSET', 'h3', 'f', 'v');
  assert.deepEqual(await p.call('HGETALL', 'h3'), { f: 'v' });
  assert.equal(await p.call('ZADD', 'z3', '1.5', 'm'), 1);
  assert.equal(await p.call('ZSCORE', 'z3', 'm'), 1.5);
  assert.equal(await p.call('GET', 'nokey'), null);
  assert.deepEqual(await p.call('HELLO', '4'), { error: 'NOPROTO unsupported protocol version' });
  const h2 = await p.call('HELLO', '2');
  assert.equal(h2[h2.indexOf('proto') + 1], 2);
  await rows(p, [
    ['FOO', 'a', 'b', { error: "ERR unknown command 'FOO', with args beginning with: 'a' 'b' " }],
    ['SELECT', '0', 'OK'], ['SELECT', '16', { error: 'ERR DB index is out of range' }],
    ['ECHO', 'hi', 'hi'], ['PING', 'msg', 'msg'], ['PING', 'a', 'b', arity('ping')],
    ['CLIENT', 'SETNAME', 'tester', 'OK'], ['CLIENT', 'GETNAME', 'tester'], ['CLIENT', 'ID', (v) => assert.ok(v > 0)],
    ['CLIENT', 'SETNAME', 'a b', { error: 'ERR Client names cannot contain spaces, newlines or special characters.' }],
    ['CLIENT', 'LIST', (v) => assert.match(v, /name=tester/)], ['CLIENT', 'BOGUS', (v) => assert.match(v.error, /^ERR unknown subcommand/)],
    ['COMMAND', 'COUNT', (v) => assert.ok(v > 130)], ['COMMAND', 'DOCS', 'get', (v) => assert.equal(v[0], 'get')],
    ['COMMAND', 'INFO', 'get', (v) => assert.deepEqual(v[0].slice(0, 2), ['get', 2])],
    ['INFO', (v) => { for (const f of ['redis_version', 'used_memory:', 'aof_enabled:0', 'connected_clients']) assert.ok(v.includes(f), f); }],
    ['INFO', 'memory', (v) => assert.ok(!v.includes('# Server'))],
    ['TIME', (v) => assert.ok(Math.abs(Number(v[0]) - Date.now() / 1000) < 5)],
    ['CONFIG', 'GET', 'maxmemory*', (v) => assert.deepEqual(v.slice(0, 2), ['maxmemory', '0'])],
    ['CONFIG', 'GET', 'appendonly', ['appendonly', 'no']], ['CONFIG', 'GET', 'save', ['save', '']],
    ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru', 'OK'], ['CONFIG', 'GET', 'maxmemory-policy', ['maxmemory-policy', 'allkeys-lru']],
    ['CONFIG', 'SET', 'maxmemory-policy', 'bogus', (v) => assert.match(v.error, /^ERR CONFIG SET failed/)],
    ['CONFIG', 'SET', 'nosuch', '1', (v) => assert.match(v.error, /^ERR Unknown option/)],
    ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction', 'OK'], ['DBSIZE', (v) => assert.ok(v >= 0)],
    ['LASTSAVE', (v) => assert.ok(v > 1600000000)], ['MEMORY', 'USAGE', 'split', (v) => assert.ok(v > 100000)],
    ['RESET', 'RESET'], ['QUIT', 'OK'],
  ]);
  await p.waitClose();
});

function encode1(...args) {
  return Buffer.from(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
}

test('protocol errors are worded like Redis and close the connection', async () => {
  const cases = [
    ['*1\r\n$-5\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*abc\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*1\r\n+PING\r\n', "ERR Protocol error: expected '$', got '+'"],
    ['SET "unbalanced\r\n', 'ERR Protocol error: unbalanced quotes in request'],
  ];
  for (const [raw, msg] of cases) {
    const p = await Client.connect(srv.port);
    p.writeRaw(Buffer.from(raw));
    assert.deepEqual(await p.next(), { error: msg }, JSON.stringify(raw));
    await p.waitClose();
  }
});

test('limits: bulk length, argument count, inline size, query buffer (each with its knob)', async () => {
  const s = await startBunder(['--proto-max-bulk-len', '1kb', '--proto-max-multibulk-len', '10',
    '--proto-inline-max-size', '64', '--client-query-buffer-limit', '1mb', '--maxclients', '3']);
  try {
    let p = await Client.connect(s.port);
    assert.equal(await p.call('SET', 'ok', 'x'.repeat(1024)), 'OK');
    p.writeRaw(Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n'));
    assert.deepEqual(await p.next(), { error: 'ERR Protocol error: invalid bulk length' });
    await p.waitClose();
    p = await Client.connect(s.port);
    assert.deepEqual(await p.call('APPEND', 'ok', 'y'), { error: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)' });
    assert.deepEqual(await p.call('SETRANGE', 'ok', '2000', 'y'), { error: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)' });
    p.writeRaw(Buffer.from('*11\r\n'));
    assert.deepEqual(await p.next(), { error: 'ERR Protocol error: invalid multibulk length' });
    await p.waitClose();
    p = await Client.connect(s.port);
    p.writeRaw(Buffer.from('PING ' + 'x'.repeat(100)));
    assert.deepEqual(await p.next(), { error: 'ERR Protocol error: too big inline request' });
    await p.waitClose();
    // query buffer: many unterminated commands at a 1 MiB cap -> closed without a reply
    p = await Client.connect(s.port);
    const chunk = Buffer.from('*2\r\n$4\r\nECHO\r\n$1000\r\n' + 'x'.repeat(1000) + '\r\n');
    const parts = [];
    for (let i = 0; i < 1200; i++) parts.push(chunk);
    p.writeRaw(Buffer.concat(parts)); // complete commands are fine (buffer drains) ...
    for (let i = 0; i < 1200; i++) await p.next();
    p.writeRaw(Buffer.from('*2\r\n$4\r\nECHO\r\n$1000000\r\n')); // ... a pending bulk over the cap is not
    p.writeRaw(Buffer.alloc(1100 * 1024, 'x'));
    await p.waitClose();
    // maxclients
    const cs = [];
    for (let i = 0; i < 3; i++) { const x = await Client.connect(s.port); await x.call('PING'); cs.push(x); }
    const extra = await Client.connect(s.port);
    assert.deepEqual(await extra.next(), { error: 'ERR max number of clients reached' });
    cs.forEach((x) => x.close());
  } finally { await s.stop(); }
});

test('AUTH and HELLO AUTH with requirepass', async () => {
  const s = await startBunder(['--requirepass', 's3cret']);
  try {
    const p = await Client.connect(s.port);
    await rows(p, [
      ['GET', 'k', { error: 'NOAUTH Authentication required.' }], ['PING', { error: 'NOAUTH Authentication required.' }],
      ['AUTH', 'wrong', { error: 'WRONGPASS invalid username-password pair or user is disabled.' }],
      ['AUTH', 'other', 's3cret', { error: 'WRONGPASS invalid username-password pair or user is disabled.' }],
      ['HELLO', '3', (v) => assert.match(v.error, /^NOAUTH HELLO must be called/)],
      ['AUTH', 's3cret', 'OK'], ['SET', 'k', 'v', 'OK'], ['AUTH', 'default', 's3cret', 'OK'],
    ]);
    const q = await Client.connect(s.port);
    assert.equal((await q.call('HELLO', '3', 'AUTH', 'default', 's3cret', 'SETNAME', 'n')).proto, 3);
    assert.equal(await q.call('GET', 'k'), 'v');
    assert.equal(cli(s.port, ['-a', 's3cret', '--no-auth-warning', 'GET', 'k']), 'v');
    p.close(); q.close();
    const nopass = await Client.connect(srv.port);
    assert.match((await nopass.call('AUTH', 'x')).error, /^ERR AUTH <password> called without any password configured/);
    nopass.close();
  } finally { await s.stop(); }
});

test('maxmemory: noeviction refuses writes with -OOM, allkeys-lru evicts, INFO reports memory', async () => {
  const s = await startBunder(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
  try {
    const p = await Client.connect(s.port);
    const val = 'x'.repeat(1000);
    let oom = null;
    for (let i = 0; i < 5000 && !oom; i++) {
      const r = await p.call('SET', `k${i}`, val);
      if (r !== 'OK') oom = r;
    }
    assert.deepEqual(oom, { error: "OOM command not allowed when used memory > 'maxmemory'." });
    assert.equal(await p.call('GET', 'k1'), val, 'reads still work');
    assert.equal(await p.call('DEL', 'k1'), 1, 'deletes still work');
    await p.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    for (let i = 0; i < 5000; i++) assert.equal(await p.call('SET', `n${i}`, val), 'OK');
    const info = await p.call('INFO', 'memory');
    const used = Number(/used_memory:(\d+)/.exec(info)[1]);
    assert.ok(used <= 2.2 * 1024 * 1024, `used ${used}`);
    assert.match(await p.call('INFO', 'stats'), /evicted_keys:[1-9]/);
    assert.ok((await p.call('DBSIZE')) < 5000);
    p.close();
  } finally { await s.stop(); }
});

test('redis-cli interop: commands, formatting, pipe mode', async () => {
  const port = srv.port;
  assert.equal(cli(port, ['SET', 'cli', 'value']), 'OK');
  assert.equal(cli(port, ['GET', 'cli']), 'value');
  assert.equal(cli(port, ['RPUSH', 'cl', 'a', 'b']), '2');
  assert.equal(cli(port, ['--no-raw', 'LRANGE', 'cl', '0', '-1']), '1) "a"\n2) "b"');
  assert.equal(cli(port, ['--no-raw', 'GET', 'nokey']), '(nil)');
  assert.equal(cli(port, ['--no-raw', 'INCR', 'cli']), '(error) ERR value is not an integer or out of range');
  assert.equal(cli(port, ['-3', '--no-raw', 'HGETALL', 'none']), '(empty hash)');
  const input = Array.from({ length: 1000 }, (_, i) => `SET pipe:${i} ${i}`).join('\n') + '\n';
  const out = cli(port, ['--pipe'], input);
  assert.match(out, /errors: 0, replies: 1000/);
  assert.equal(cli(port, ['GET', 'pipe:999']), '999');
  assert.equal(cli(port, ['DBSIZE']), '1002');
});

test('HTTP API: /kv, /keys, /health, /metrics, /subscribe SSE on the same data', async () => {
  const s = await startBunder(['--http-port', '-1', '--appendonly', 'yes', '--appendfsync', 'always']);
  try {
    const hp = Number(/http_ready" port=(\d+)/.exec(s.log)[1]);
    const base = `http://127.0.0.1:${hp}`;
    const r = await Client.connect(s.port);
    // SSE first, so it sees the changes
    const ac = new AbortController();
    const sse = await fetch(`${base}/subscribe?pattern=user:*`, { signal: ac.signal });
    assert.equal(sse.status, 200);
    const reader = sse.body.getReader();
    let events = '';
    const readUntil = async (re) => {
      const t0 = Date.now();
      while (!re.test(events) && Date.now() - t0 < 5000) {
        const { value, done } = await reader.read();
        if (done) break;
        events += new TextDecoder().decode(value);
      }
      return events;
    };
    await readUntil(/event: connected/);
    let res = await fetch(`${base}/kv/user:1`, { method: 'PUT', body: 'alice' });
    assert.equal(res.status, 200);
    assert.equal(await r.call('GET', 'user:1'), 'alice', 'HTTP writes are visible over RESP');
    await r.call('SET', 'user:2', Buffer.from([0, 1, 2]));
    res = await fetch(`${base}/kv/user:2`);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from([0, 1, 2]));
    assert.equal((await fetch(`${base}/kv/missing`)).status, 404);
    await r.call('LPUSH', 'alist', 'x');
    assert.equal((await fetch(`${base}/kv/alist`)).status, 409);
    await fetch(`${base}/kv/a%2Fb`, { method: 'PUT', body: 'slash' });
    assert.equal(await r.call('GET', 'a/b'), 'slash');
    res = await fetch(`${base}/keys?pattern=user:*`);
    assert.deepEqual((await res.json()).sort(), ['user:1', 'user:2']);
    assert.equal((await fetch(`${base}/kv/user:1`, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(`${base}/kv/user:1`, { method: 'DELETE' })).status, 404);
    assert.equal((await fetch(`${base}/kv/user:1`, { method: 'PATCH' })).status, 405);
    // the host's /health shape (bb_host_health_answer)
    assert.deepEqual(await (await fetch(`${base}/health`)).json(),
      { status: 'ok', services: { bunder: { status: 'ok', keys: 3, aof: 'ok' } } });
    const m = await (await fetch(`${base}/metrics`)).text();
    assert.match(m, /^bunder_keys 3$/m);
    assert.match(m, /bunder_commands_total \d+/);
    await readUntil(/"op":"del","key":"user:1"/);
    assert.match(events, /event: change\ndata: \{"op":"set","key":"user:1"\}/);
    assert.match(events, /"op":"set","key":"user:2"/);
    assert.doesNotMatch(events, /alist/, 'pattern filter applies');
    ac.abort();
    r.close();
  } finally { await s.stop(); }
  const p = await startBunder(['--http-port', '-1', '--requirepass', 'pw']);
  try {
    const hp = Number(/http_ready" port=(\d+)/.exec(p.log)[1]);
    assert.equal((await fetch(`http://127.0.0.1:${hp}/kv/x`)).status, 401);
    // a wrong password is refused by the dispatcher (constant-time compare), before any handler
    const wrong = await fetch(`http://127.0.0.1:${hp}/kv/x`, { method: 'PUT', body: 'v', headers: { Authorization: 'Bearer pX' } });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).code, 'unauthorized');
    assert.equal((await fetch(`http://127.0.0.1:${hp}/kv/x`, { headers: { Authorization: 'Bearer pw' } })).status, 404);
    // CONFIG SET requirepass applies to HTTP at once
    const c = await Client.connect(p.port);
    try {
      assert.equal(await c.call('AUTH', 'pw'), 'OK');
      assert.equal(await c.call('CONFIG', 'SET', 'requirepass', 'pw2'), 'OK');
    } finally { c.close(); }
    assert.equal((await fetch(`http://127.0.0.1:${hp}/kv/x`, { headers: { Authorization: 'Bearer pw' } })).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${hp}/kv/x`, { headers: { Authorization: 'Bearer pw2' } })).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${hp}/health`)).status, 200);
    // the host's /metrics policy: public on a loopback listener (metrics-access auto)
    assert.equal((await fetch(`http://127.0.0.1:${hp}/metrics`)).status, 200);
  } finally { await p.stop(); }
  const q = await startBunder(['--http-port', '-1', '--requirepass', 'pw', '--metrics-access', 'internal']);
  try {
    const hp = Number(/http_ready" port=(\d+)/.exec(q.log)[1]);
    assert.equal((await fetch(`http://127.0.0.1:${hp}/metrics`)).status, 401);
    const ok = await fetch(`http://127.0.0.1:${hp}/metrics`, { headers: { Authorization: 'Bearer pw' } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^bunder_keys 0$/m);
    assert.equal((await fetch(`http://127.0.0.1:${hp}/health`)).status, 200, '/health stays public');
  } finally { await q.stop(); }
});
