// Helpers shared by the bunder_data_* differential tests (not a test file: no .test. in the name).
import assert from 'node:assert/strict';
import { RawClient } from './bunder_compat_lib.mjs';
import { decode } from './bunder_lib.test.mjs';

/** Runs cmds under RESP3 on both servers of a startPair (HELLO's own reply differs: id, version). */
export async function resp3(p, cmds) {
  await Promise.all([p.rc.call('HELLO', '3'), p.bc.call('HELLO', '3')]);
  await p.same(cmds);
  await Promise.all([p.rc.call('HELLO', '2'), p.bc.call('HELLO', '2')]);
}

/** Until the server counts a blocked client (INFO clients), or 2 s. */
async function waitBlocked(cl) {
  for (let i = 0; i < 200; i++) {
    if (/blocked_clients:[1-9]/.test((await cl.call('INFO', 'clients')).toString())) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends cmd on a fresh connection of each server (it blocks), then runs push on the main
 * connections, compares what the blocked connections receive, then runs check on both. */
export async function blockedSame(p, cmd, push, check) {
  const rb = await RawClient.connect(p.redis.port);
  const bb = await RawClient.connect(p.bunder.port);
  try {
    rb.send(cmd);
    bb.send(cmd);
    await waitBlocked(p.rc);
    await waitBlocked(p.bc);
    await p.same(push);
    const [a, b] = await Promise.all([rb.next(), bb.next()]);
    assert.equal(b.toString('latin1'), a.toString('latin1'), `blocked ${JSON.stringify(cmd)} reply differs`);
    await p.same(check);
  } finally {
    rb.close();
    bb.close();
  }
}

const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));

/** Commands that create one key of every type and encoding Redis has for it (bunder_data_dump,
 * bunder_rdb). */
export function fixtures() {
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
export const KEYS = ['str', 'int', 'neg', 'big', 'lzf', 'bin', 'empty', 'lsmall', 'lbig', 'lhuge', 'sint', 'sstr', 'sbig', 'hsmall', 'hbig', 'zsmall', 'zbig', 'ttl', 'xs', 'xempty', 'xone'];

/** A comparable view of key k on RawClient cl: type, contents (streams with groups, PELs,
 * consumers), and the TTL as 'ttl' or -1/-2. */
export async function view(cl, k) {
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

const POLY = 0x95ac9329ac4bc9b5n;
const TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = BigInt(i);
  for (let k = 0; k < 8; k++) c = (c & 1n) ? (c >> 1n) ^ POLY : c >> 1n;
  return c;
});
/** Redis' crc64 (Jones). */
export function crc64(buf) {
  let crc = 0n;
  for (const b of buf) crc = TABLE[Number((crc ^ BigInt(b)) & 0xffn)] ^ (crc >> 8n);
  return crc;
}
