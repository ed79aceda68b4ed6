// Command-table metadata of the data commands added for Redis 7 compatibility, against Debian's
// redis-server 7: COMMAND GETKEYS (numkeys and STORE keys included) byte for byte, and arity and
// first/last/step of COMMAND INFO; plus AOF persistence of what they write (a restart replays it).
import test from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startPair } from './bunder_compat_lib.mjs';
import { decode, startBunder, tempDir } from './bunder_lib.test.mjs';

const NEW = ['lmpop', 'blmpop', 'blmove', 'brpoplpush', 'sintercard', 'hrandfield', 'zunion', 'zinter', 'zdiff',
  'zunionstore', 'zinterstore', 'zdiffstore', 'zintercard', 'zrangestore', 'zrandmember', 'zremrangebylex', 'zmpop',
  'bzmpop', 'bzpopmin', 'bzpopmax', 'geoadd', 'geodist', 'geohash', 'geopos', 'georadius', 'georadius_ro',
  'georadiusbymember', 'georadiusbymember_ro', 'geosearch', 'geosearchstore', 'sort', 'sort_ro', 'copy', 'lcs',
  'dump', 'restore', 'ssubscribe', 'sunsubscribe', 'spublish'];

test('COMMAND GETKEYS and COMMAND INFO arity/keys of the new data commands equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['COMMAND', 'GETKEYS', 'ZUNIONSTORE', 'd', '2', 'a', 'b', 'WEIGHTS', '1', '2'], ['COMMAND', 'GETKEYS', 'ZUNION', '3', 'a', 'b', 'c'],
      ['COMMAND', 'GETKEYS', 'ZINTERCARD', '2', 'a', 'b', 'LIMIT', '1'], ['COMMAND', 'GETKEYS', 'ZDIFF', '0', 'a'],
      ['COMMAND', 'GETKEYS', 'ZDIFF', '5', 'a'], ['COMMAND', 'GETKEYS', 'SINTERCARD', '2', 'a', 'b'],
      ['COMMAND', 'GETKEYS', 'LMPOP', '2', 'a', 'b', 'LEFT'], ['COMMAND', 'GETKEYS', 'BLMPOP', '0', '1', 'a', 'LEFT'],
      ['COMMAND', 'GETKEYS', 'ZMPOP', '1', 'a', 'MIN'], ['COMMAND', 'GETKEYS', 'BZMPOP', '0', '2', 'a', 'b', 'MAX'],
      ['COMMAND', 'GETKEYS', 'SORT', 'l', 'BY', 'store', 'GET', 'x', 'LIMIT', '0', '1', 'STORE', 'dst'],
      ['COMMAND', 'GETKEYS', 'SORT', 'l'], ['COMMAND', 'GETKEYS', 'SORT_RO', 'l', 'ALPHA'],
      ['COMMAND', 'GETKEYS', 'GEORADIUS', 'g', '1', '2', '3', 'km', 'STORE', 'a', 'STOREDIST', 'b'],
      ['COMMAND', 'GETKEYS', 'GEORADIUSBYMEMBER', 'g', 'm', '3', 'km', 'STORE', 'a'],
      ['COMMAND', 'GETKEYS', 'GEOSEARCHSTORE', 'd', 's', 'FROMMEMBER', 'm', 'BYRADIUS', '1', 'km'],
      ['COMMAND', 'GETKEYS', 'BLMOVE', 'a', 'b', 'LEFT', 'LEFT', '0'], ['COMMAND', 'GETKEYS', 'BZPOPMIN', 'a', 'b', '0'],
      ['COMMAND', 'GETKEYS', 'COPY', 'a', 'b', 'DB', '1'], ['COMMAND', 'GETKEYS', 'LCS', 'a', 'b'],
      ['COMMAND', 'GETKEYS', 'RESTORE', 'a', '0', 'x'], ['COMMAND', 'GETKEYS', 'ZRANGESTORE', 'd', 's', '0', '1'],
      ['COMMAND', 'GETKEYS', 'SSUBSCRIBE', 'a', 'b'], ['COMMAND', 'GETKEYS', 'SPUBLISH', 'a', 'm'],
    ]);
    for (const name of NEW) {
      const [r] = decode(await p.rc.call('COMMAND', 'INFO', name));
      const [b] = decode(await p.bc.call('COMMAND', 'INFO', name));
      assert.deepEqual(b[0].slice(0, 1).concat(b[0][1], b[0][3], b[0][4], b[0][5]),
        r[0].slice(0, 1).concat(r[0][1], r[0][3], r[0][4], r[0][5]), `COMMAND INFO ${name}`);
    }
  } finally {
    await p.stop();
  }
});

test('over maxmemory the new commands that grow data are refused like redis-server (denyoom), the others run', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['RPUSH', 'l', '3', '1', '2'], ['ZADD', 'z', '1', 'a', '2', 'b'], ['SET', 's', 'v'], ['GEOADD', 'g', '13', '38', 'p'],
      ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'], ['CONFIG', 'SET', 'maxmemory', '1'],
      ['GEOADD', 'g', '14', '38', 'q'], ['ZUNIONSTORE', 'd', '1', 'z'], ['ZRANGESTORE', 'd', 'z', '0', '-1'], ['SORT', 'l'],
      ['SORT', 'l', 'STORE', 'd'], ['SORT_RO', 'l'], ['COPY', 's', 's2'], ['RESTORE', 'r', '0', 'x'], ['BLMOVE', 'l', 'l2', 'LEFT', 'LEFT', '0'],
      ['GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '13', '38', 'BYRADIUS', '10', 'km'], ['GEORADIUS', 'g', '13', '38', '10', 'km'],
      ['ZUNION', '1', 'z'], ['LCS', 's', 's'], ['GEOPOS', 'g', 'p'], ['ZMPOP', '1', 'z', 'MIN'], ['LMPOP', '1', 'l', 'LEFT'],
      ['ZREMRANGEBYLEX', 'z', '-', '+'], ['SPUBLISH', 'ch', 'm'], ['CONFIG', 'SET', 'maxmemory', '0'],
    ]);
  } finally {
    await p.stop();
  }
});

test('what the new data commands write survives a restart (AOF)', async () => {
  const dir = tempDir();
  let b = await startBunder(['--appendonly', 'yes'], { dir });
  let c = await RawClient.connect(b.port);
  const writes = [
    ['RPUSH', 'l', 'a', 'b', 'c'], ['LMPOP', '1', 'l', 'LEFT'], ['BLMOVE', 'l', 'l2', 'LEFT', 'RIGHT', '0'],
    ['ZADD', 'z', '1', 'a', '2', 'b', '3', 'c'], ['ZUNIONSTORE', 'zu', '1', 'z', 'WEIGHTS', '2'], ['ZMPOP', '1', 'z', 'MAX'],
    ['BZPOPMIN', 'z', '0'], ['ZRANGESTORE', 'zr', 'zu', '0', '1'], ['ZREMRANGEBYLEX', 'zu', '-', '+'],
    ['GEOADD', 'g', '13.361389', '38.115556', 'Palermo'], ['GEOSEARCHSTORE', 'gs', 'g', 'FROMLONLAT', '13', '38', 'BYRADIUS', '100', 'km'],
    ['SORT', 'l2', 'ALPHA', 'STORE', 'sorted'], ['COPY', 'sorted', 'copied'], ['SET', 'ttl', 'v'], ['DUMP', 'ttl'],
  ];
  try {
    for (const w of writes) await c.call(...w);
    const d = await c.call('DUMP', 'zr');
    assert.equal((await c.call('RESTORE', 'restored', '100000', d.subarray(d.indexOf('\r\n') + 2, d.length - 2))).toString(), '+OK\r\n');
    const view = async () => [await c.str('LRANGE', 'l2', '0', '-1'), await c.str('ZRANGE', 'zr', '0', '-1', 'WITHSCORES'),
      await c.str('EXISTS', 'zu', 'z'), await c.str('ZSCORE', 'g', 'Palermo'), await c.str('ZRANGE', 'gs', '0', '-1'),
      await c.str('LRANGE', 'sorted', '0', '-1'), await c.str('LRANGE', 'copied', '0', '-1'),
      await c.str('ZRANGE', 'restored', '0', '-1', 'WITHSCORES'), decode(await c.call('PTTL', 'restored'))[0] > 0];
    const before = await view();
    c.close();
    await b.stop();
    b = await startBunder(['--appendonly', 'yes'], { dir });
    c = await RawClient.connect(b.port);
    assert.deepEqual(await view(), before);
  } finally {
    c.close();
    await b.stop();
  }
});
