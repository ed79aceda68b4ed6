// bunder's SORT / SORT_RO, COPY and LCS against Debian's redis-server 7: the same commands to
// both, replies compared byte for byte.
import test from 'node:test';
import { startPair } from './bunder_compat_lib.mjs';
import { resp3 } from './bunder_data_lib.mjs';

test('SORT and SORT_RO (BY, GET, LIMIT, ALPHA, STORE, errors) equal redis-server', async () => {
  const p = await startPair();
  try {
    const cmds = [
      ['RPUSH', 'l', '3', '1', '2', '10', '1.5', '-4', '1e3'], ['RPUSH', 'w', 'b', 'a', 'c', 'B', ''], ['RPUSH', 'bad', '1', 'x', '2'],
      ['SADD', 's', '5', '3', '9', '1'], ['ZADD', 'z', '3', 'c', '1', 'a', '2', 'b', '0', 'd'], ['SET', 'str', 'v'],
      ['MSET', 'w_1', '30', 'w_2', '20', 'w_3', '10', 'w_10', '5', 'o_1', 'one', 'o_2', 'two', 'o_3', 'three'],
      ['HSET', 'h_1', 'f', '9', 'n', 'uno'], ['HSET', 'h_2', 'f', '8', 'n', 'dos'], ['HSET', 'h_3', 'f', '7'],
      ['RPUSH', 'ids', '1', '2', '3', '10'],
      ['SORT', 'l'], ['SORT', 'l', 'DESC'], ['SORT', 'l', 'LIMIT', '1', '3'], ['SORT', 'l', 'LIMIT', '-5', '2'],
      ['SORT', 'l', 'LIMIT', '5', '-1'], ['SORT', 'l', 'LIMIT', '10', '2'], ['SORT', 'l', 'LIMIT', '0', '0'],
      ['SORT', 'l', 'ALPHA'], ['SORT', 'l', 'ALPHA', 'DESC', 'LIMIT', '2', '2'], ['SORT', 'w'], ['SORT', 'w', 'ALPHA'],
      ['SORT', 'bad'], ['SORT', 'bad', 'ALPHA'], ['SORT', 's'], ['SORT', 's', 'DESC'], ['SORT', 'z'], ['SORT', 'z', 'ALPHA'],
      ['SORT', 'z', 'BY', 'nosort'], ['SORT', 'z', 'BY', 'nosort', 'DESC'], ['SORT', 'z', 'BY', 'nosort', 'LIMIT', '1', '2'],
      ['SORT', 'z', 'BY', 'nosort', 'DESC', 'LIMIT', '1', '2'], ['SORT', 'l', 'BY', 'nosort'], ['SORT', 'l', 'BY', 'nosort', 'DESC'],
      ['SORT', 'l', 'BY', 'nosort', 'LIMIT', '2', '3'], ['SORT', 'l', 'BY', 'nosort', 'DESC', 'LIMIT', '2', '3'],
      ['SORT', 'l', 'BY', 'nosort', 'LIMIT', '20', '3'],
      ['SORT', 'ids', 'BY', 'w_*'], ['SORT', 'ids', 'BY', 'w_*', 'DESC'], ['SORT', 'ids', 'BY', 'o_*', 'ALPHA'],
      ['SORT', 'ids', 'BY', 'o_*'], ['SORT', 'ids', 'BY', 'h_*->f'], ['SORT', 'ids', 'BY', 'h_*->n', 'ALPHA'],
      ['SORT', 'ids', 'BY', 'nokey_*'], ['SORT', 'ids', 'GET', 'o_*'], ['SORT', 'ids', 'GET', '#', 'GET', 'o_*', 'GET', 'h_*->n'],
      ['SORT', 'ids', 'BY', 'w_*', 'GET', '#', 'GET', 'w_*', 'LIMIT', '1', '2'], ['SORT', 'ids', 'GET', 'fixed'],
      ['SORT', 'ids', 'GET', 'h_*->'], ['SORT', 'ids', 'GET', 'str*'], ['SORT', 'ids', 'BY', 'l*'],
      ['SORT', 'nokey'], ['SORT', 'nokey', 'STORE', 'dst'], ['SORT', 'str'], ['SORT', 'l', 'FOO'], ['SORT', 'l', 'LIMIT', '1'],
      ['SORT', 'l', 'LIMIT', 'x', '1'], ['SORT', 'l', 'BY'], ['SORT', 'l', 'GET'], ['SORT', 'l', 'STORE'],
      ['SORT', 'l', 'STORE', 'dst'], ['LRANGE', 'dst', '0', '-1'], ['SORT', 'ids', 'GET', 'o_*', 'GET', 'missing_*', 'STORE', 'dst'],
      ['LRANGE', 'dst', '0', '-1'], ['SORT', 's', 'STORE', 'dst'], ['LRANGE', 'dst', '0', '-1'],
      ['SORT', 's', 'BY', 'nosort', 'STORE', 'dst'], ['LRANGE', 'dst', '0', '-1'], ['SORT', 'l', 'LIMIT', '50', '1', 'STORE', 'dst'],
      ['EXISTS', 'dst'], ['SORT', 'l', 'STORE', 'l'], ['LRANGE', 'l', '0', '-1'], ['SORT', 'w', 'ALPHA', 'STORE', 'str'], ['TYPE', 'str'],
      ['SORT_RO', 'l'], ['SORT_RO', 'ids', 'BY', 'w_*', 'GET', 'o_*'], ['SORT_RO', 'l', 'STORE', 'dst'], ['SORT_RO', 'str'],
    ];
    await p.same(cmds);
    await resp3(p, [['SORT', 'ids', 'GET', 'o_*', 'GET', 'missing_*']]);
  } finally {
    await p.stop();
  }
});

test('COPY and LCS equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['SET', 'a', 'v'], ['RPUSH', 'l', 'x', 'y'], ['SADD', 's', 'm'], ['HSET', 'h', 'f', 'v'], ['ZADD', 'z', '1', 'q'],
      ['XADD', 'x', '1-1', 'f', 'v'], ['SET', 'ttl', 'v', 'PXAT', String(Date.now() + 100000)],
      ['COPY', 'a', 'a2'], ['GET', 'a2'], ['COPY', 'a', 'a2'], ['COPY', 'l', 'a2'], ['COPY', 'l', 'a2', 'REPLACE'], ['LRANGE', 'a2', '0', '-1'],
      ['COPY', 's', 's2'], ['SMEMBERS', 's2'], ['COPY', 'h', 'h2'], ['HGETALL', 'h2'], ['COPY', 'z', 'z2'], ['ZRANGE', 'z2', '0', '-1', 'WITHSCORES'],
      ['COPY', 'x', 'x2'], ['XRANGE', 'x2', '-', '+'], ['COPY', 'ttl', 't2'], ['PEXPIRETIME', 't2'], ['PEXPIRETIME', 'ttl'],
      ['COPY', 'nokey', 'n2'], ['COPY', 'a', 'a'], ['COPY', 'a', 'b', 'FOO'], ['COPY', 'a', 'b', 'DB'], ['COPY', 'a', 'b', 'DB', 'x'],
      ['COPY', 'a', 'b', 'DB', '0', 'REPLACE'], ['COPY', 'a', 'b', 'DB', '99999'], ['COPY', 'a', 'b', 'DB', '-1'], ['COPY', 'a'],
      ['COPY', 'a', 'a', 'DB', '3'], ['COPY', 'l', 'a', 'DB', '3'], ['COPY', 'h', 'a', 'DB', '3'], ['COPY', 'h', 'a', 'DB', '3', 'REPLACE'],
      ['COPY', 'ttl', 'ttl', 'DB', '3'], ['SELECT', '3'], ['HGETALL', 'a'], ['PEXPIRETIME', 'ttl'], ['COPY', 'a', 'back', 'DB', '0'],
      ['SELECT', '0'], ['HGETALL', 'back'],
      ['LPUSH', 'l', 'z'], ['LRANGE', 'a2', '0', '-1'],
      ['SET', 'k1', 'ohmytext'], ['SET', 'k2', 'mynewtext'], ['LCS', 'k1', 'k2'], ['LCS', 'k1', 'k2', 'LEN'], ['LCS', 'k1', 'k2', 'IDX'],
      ['LCS', 'k1', 'k2', 'IDX', 'MINMATCHLEN', '4'], ['LCS', 'k1', 'k2', 'IDX', 'MINMATCHLEN', '4', 'WITHMATCHLEN'],
      ['LCS', 'k1', 'k2', 'IDX', 'WITHMATCHLEN'], ['LCS', 'k1', 'k2', 'IDX', 'MINMATCHLEN', '-3'], ['LCS', 'k1', 'k2', 'LEN', 'IDX'],
      ['LCS', 'k1', 'k2', 'MINMATCHLEN'], ['LCS', 'k1', 'k2', 'MINMATCHLEN', 'x'], ['LCS', 'k1', 'k2', 'FOO'], ['LCS', 'k1', 'nokey'],
      ['LCS', 'nokey', 'nokey2', 'IDX'], ['LCS', 'k1', 'l'], ['LCS', 'l', 'k1', 'LEN'], ['LCS', 'k1', 'k1', 'IDX', 'WITHMATCHLEN'],
      ['SET', 'r1', 'ACCGGTCGAGTGCGCGGAAGCCGGCCGAA'], ['SET', 'r2', 'GTCGTTCGGAATGCCGTTGCTCTGTAAA'], ['LCS', 'r1', 'r2'],
      ['LCS', 'r1', 'r2', 'IDX', 'WITHMATCHLEN'], ['LCS', 'r1', 'r2', 'IDX', 'MINMATCHLEN', '2'],
    ]);
    await resp3(p, [['LCS', 'k1', 'k2', 'IDX', 'WITHMATCHLEN']]);
  } finally {
    await p.stop();
  }
});
