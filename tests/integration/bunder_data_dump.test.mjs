// DUMP / RESTORE between bunder and Debian's redis-server 7, both directions, every type bunder
// carries (strings — raw, integer and LZF-compressed —, lists, sets, hashes, sorted sets, in the
// compact listpack/intset encodings Redis uses for small values and the plain ones for large);
// RESTORE's options and errors compared byte for byte with redis-server.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startPair } from './bunder_compat_lib.mjs';
import { decode } from './bunder_lib.test.mjs';

const POLY = 0x95ac9329ac4bc9b5n;
const TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = BigInt(i);
  for (let k = 0; k < 8; k++) c = (c & 1n) ? (c >> 1n) ^ POLY : c >> 1n;
  return c;
});
/** Redis' crc64 (Jones). */
function crc64(buf) {
  let crc = 0n;
  for (const b of buf) crc = TABLE[Number((crc ^ BigInt(b)) & 0xffn)] ^ (crc >> 8n);
  return crc;
}
/** A DUMP payload around body (type byte + value): version 10 and a valid CRC. */
function payload(body, version = 10) {
  const v = Buffer.concat([body, Buffer.from([version & 0xff, version >> 8])]);
  const crc = Buffer.alloc(8);
  crc.writeBigUInt64LE(crc64(v));
  return Buffer.concat([v, crc]);
}

const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));

/** Commands that create one key of every kind under name prefix k. */
function fixtures() {
  return [
    ['SET', 'str', 'hello'], ['SET', 'int', '12345'], ['SET', 'neg', '-7'], ['SET', 'big', '9223372036854775807'],
    ['SET', 'lzf', 'a'.repeat(500) + 'b'.repeat(300)], ['SET', 'bin', Buffer.from([0, 1, 2, 255, 13, 10])], ['SET', 'empty', ''],
    ['RPUSH', 'lsmall', 'a', '1', '-2', '300', '70000', 'x'.repeat(100)], ['RPUSH', 'lbig', ...range(300, (i) => `e${i}`)],
    ['RPUSH', 'lhuge', 'y'.repeat(10000), 'z'],
    ['SADD', 'sint', '1', '2', '-3', '100000', '5000000000'], ['SADD', 'sstr', 'a', 'b', 'c'], ['SADD', 'sbig', ...range(200, (i) => `m${i}`)],
    ['HSET', 'hsmall', 'f', 'v', 'n', '12'], ['HSET', 'hbig', ...range(300, (i) => [`f${i}`, `v${i}`]).flat()],
    ['ZADD', 'zsmall', '1', 'a', '2.5', 'b', '-3', 'c', 'inf', 'd'], ['ZADD', 'zbig', ...range(200, (i) => [String(i / 3), `m${i}`]).flat()],
    ['SET', 'ttl', 'v', 'PX', '100000'],
    // streams: several nodes (more than 100 entries), deleted entries, entries whose fields differ
    // from the node's first (no SAMEFIELDS), a consumer group with pending entries and an empty one
    ['XADD', 'xs', '1-1', 'f', 'v', 'g', '1'], ...range(150, (i) => ['XADD', 'xs', `${i + 2}-0`, 'f', `v${i}`, 'g', String(i)]),
    ['XADD', 'xs', '500-1', 'other', 'x'], ['XDEL', 'xs', '3-0', '60-0'], ['XGROUP', 'CREATE', 'xs', 'grp', '0'],
    ['XREADGROUP', 'GROUP', 'grp', 'alice', 'COUNT', '3', 'STREAMS', 'xs', '>'],
    ['XREADGROUP', 'GROUP', 'grp', 'bob', 'COUNT', '2', 'STREAMS', 'xs', '>'], ['XACK', 'xs', 'grp', '1-1'],
    ['XGROUP', 'CREATE', 'xs', 'empty', '$'], ['XGROUP', 'CREATECONSUMER', 'xs', 'empty', 'carol'],
    ['XADD', 'xempty', 'MAXLEN', '0', '7-7', 'a', 'b'], ['XADD', 'xone', '5-5', 'k', 'v'],
  ];
}
const KEYS = ['str', 'int', 'neg', 'big', 'lzf', 'bin', 'empty', 'lsmall', 'lbig', 'lhuge', 'sint', 'sstr', 'sbig', 'hsmall', 'hbig', 'zsmall', 'zbig', 'ttl', 'xs', 'xempty', 'xone'];

/** A comparable view of key k on client cl. */
async function view(cl, k) {
  const type = decode(await cl.call('TYPE', k))[0];
  const get = async (...a) => decode(await cl.call(...a))[0];
  let v;
  if (type === 'string') v = (await cl.call('GET', k)).toString('latin1');
  else if (type === 'list') v = (await get('LRANGE', k, '0', '-1')).map(String);
  else if (type === 'set') v = (await get('SMEMBERS', k)).map(String).sort();
  else if (type === 'hash') v = (await get('HGETALL', k)).map(String);
  else if (type === 'zset') v = (await get('ZRANGE', k, '0', '-1', 'WITHSCORES')).map(String);
  else if (type === 'stream') {
    const info = await get('XINFO', 'STREAM', k);
    const groups = await get('XINFO', 'GROUPS', k);
    const pending = [];
    const consumers = [];
    for (const g of groups) {
      const name = String(g[1]);
      pending.push(await get('XPENDING', k, name), (await get('XPENDING', k, name, '-', '+', '100')).map((e) => [e[0], e[1], e[3]]));
      consumers.push((await get('XINFO', 'CONSUMERS', k, name)).map((c) => [c[1], c[3]]));
    }
    v = JSON.stringify([await get('XRANGE', k, '-', '+'), info, groups, pending, consumers]);
  }
  if (type === 'hash') {
    const pairs = [];
    for (let i = 0; i < v.length; i += 2) pairs.push(v[i] + '=' + v[i + 1]);
    v = pairs.sort();
  }
  const ttl = await get('PTTL', k);
  return { type, v, ttl: ttl > 0 ? 'ttl' : ttl };
}

test('a key DUMPed by redis-server RESTOREs into bunder, and the other way round', async () => {
  const p = await startPair();
  try {
    for (const cmd of fixtures()) { await p.rc.call(...cmd); await p.bc.call(...cmd); }
    for (const k of KEYS) {
      // redis -> bunder
      const dr = (await p.rc.call('DUMP', k));
      const body = dr.subarray(dr.indexOf('\r\n') + 2, dr.length - 2);
      assert.equal((await p.bc.call('RESTORE', `r:${k}`, '0', body)).toString(), '+OK\r\n', `RESTORE of redis' ${k}`);
      assert.deepEqual(await view(p.bc, `r:${k}`), { ...(await view(p.rc, k)), ttl: -1 }, `redis -> bunder ${k}`);
      // bunder -> redis
      const db = await p.bc.call('DUMP', k);
      const bbody = db.subarray(db.indexOf('\r\n') + 2, db.length - 2);
      assert.equal((await p.rc.call('RESTORE', `b:${k}`, '0', bbody)).toString(), '+OK\r\n', `RESTORE of bunder's ${k}`);
      assert.deepEqual(await view(p.rc, `b:${k}`), { ...(await view(p.bc, k)), ttl: -1 }, `bunder -> redis ${k}`);
      // and bunder's own payload restores in bunder
      assert.equal((await p.bc.call('RESTORE', `s:${k}`, '0', bbody)).toString(), '+OK\r\n');
      assert.deepEqual(await view(p.bc, `s:${k}`), { ...(await view(p.bc, k)), ttl: -1 });
    }
    assert.equal(decode(await p.bc.call('DUMP', 'nokey'))[0], null);
  } finally {
    await p.stop();
  }
});

test('RESTORE options and errors equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.rc.call('RPUSH', 'src', 'a', 'b');
    const d = await p.rc.call('DUMP', 'src');
    const good = d.subarray(d.indexOf('\r\n') + 2, d.length - 2);
    const badcrc = Buffer.from(good); badcrc[badcrc.length - 1] ^= 1;
    const badver = payload(good.subarray(0, good.length - 10), 11);
    const oldver = payload(good.subarray(0, good.length - 10), 9);
    const truncated = payload(good.subarray(0, good.length - 12));
    const trailing = payload(Buffer.concat([good.subarray(0, good.length - 10), Buffer.from('xx')]));
    const badtype = payload(Buffer.from([99, 1, 0x61]));
    const emptyset = payload(Buffer.from([2, 0]));
    const dupset = payload(Buffer.from([2, 2, 1, 0x61, 1, 0x61]));
    const nanzset = payload(Buffer.from([3, 1, 1, 0x61, 253]));
    const hugelen = payload(Buffer.from([1, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    const badlzf = payload(Buffer.from([0, 0xc3, 3, 10, 0x01, 0x61, 0x62]));
    const intstr = payload(Buffer.from([0, 0xc1, 0x39, 0x30]));
    await p.same([
      ['RESTORE', 'k', '0', good], ['LRANGE', 'k', '0', '-1'], ['RESTORE', 'k', '0', good], ['RESTORE', 'k', '0', good, 'REPLACE'],
      ['RESTORE', 'k2', '100000', good], ['RESTORE', 'k3', '1', good, 'ABSTTL'], ['EXISTS', 'k3'],
      ['RESTORE', 'k', '1', good, 'ABSTTL', 'REPLACE'], ['EXISTS', 'k'],
      ['RESTORE', 'k4', '0', good, 'IDLETIME', '100'], ['RESTORE', 'k5', '0', good, 'FREQ', '5'],
      ['RESTORE', 'k6', '0', good, 'IDLETIME', '-1'], ['RESTORE', 'k6', '0', good, 'FREQ', '256'], ['RESTORE', 'k6', '0', good, 'IDLETIME', 'x'],
      ['RESTORE', 'k6', '0', good, 'IDLETIME', '1', 'FREQ', '1'], ['RESTORE', 'k6', '0', good, 'FOO'], ['RESTORE', 'k6', '-1', good],
      ['RESTORE', 'k6', 'x', good], ['RESTORE', 'k6', '0', badcrc], ['RESTORE', 'k6', '0', badver], ['RESTORE', 'k6', '0', 'short'],
      ['RESTORE', 'k6', '0', oldver], ['RESTORE', 'k7', '0', truncated], ['RESTORE', 'k7', '0', badtype],
      ['RESTORE', 'k7', '0', emptyset], ['RESTORE', 'k7', '0', dupset], ['RESTORE', 'k7', '0', nanzset], ['RESTORE', 'k7', '0', hugelen],
      ['RESTORE', 'k7', '0', badlzf], ['RESTORE', 'k8', '0', intstr], ['GET', 'k8'], ['EXISTS', 'k6', 'k7'],
      ['RESTORE', 'k'], ['DUMP'], ['DUMP', 'nokey'], ['RESTORE', 'k9', '0', trailing], ['LRANGE', 'k9', '0', '-1'],
    ]);
  } finally {
    await p.stop();
  }
});
