// bunder's newer list/set/hash commands (LMPOP, BLMPOP, BLMOVE, BRPOPLPUSH, SINTERCARD, HRANDFIELD)
// against Debian's redis-server 7: the same commands go to both, replies compared byte for byte.
// Blocking commands are checked from a second connection that pushes while the first waits.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startPair } from './bunder_compat_lib.mjs';
import { decode } from './bunder_lib.test.mjs';
import { blockedSame, resp3 } from './bunder_data_lib.mjs';

test('LMPOP/BLMPOP/BLMOVE/BRPOPLPUSH replies equal redis-server (immediate, errors, MULTI)', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['RPUSH', 'l1', 'a', 'b', 'c', 'd'], ['RPUSH', 'l2', 'x'],
      ['LMPOP', '2', 'nol', 'l1', 'LEFT'], ['LMPOP', '2', 'nol', 'l1', 'RIGHT', 'COUNT', '2'],
      ['LMPOP', '1', 'l1', 'left', 'count', '10'], ['EXISTS', 'l1'], ['LMPOP', '2', 'l1', 'nol', 'LEFT'],
      ['LMPOP', '0', 'l1', 'LEFT'], ['LMPOP', '-1', 'l1', 'LEFT'], ['LMPOP', 'x', 'l1', 'LEFT'],
      ['LMPOP', '5', 'l1', 'LEFT'], ['LMPOP', '1', 'l2', 'UP'], ['LMPOP', '1', 'l2', 'LEFT', 'COUNT', '0'],
      ['LMPOP', '1', 'l2', 'LEFT', 'COUNT', '-3'], ['LMPOP', '1', 'l2', 'LEFT', 'COUNT'],
      ['LMPOP', '1', 'l2', 'LEFT', 'COUNT', '1', 'COUNT', '1'], ['LMPOP', '1', 'l2', 'LEFT', 'FOO'],
      ['LMPOP', '99999999999999999999', 'l2', 'LEFT'], ['LMPOP', '1', 'l2'],
      ['SET', 's', 'v'], ['LMPOP', '2', 's', 'l2', 'LEFT'], ['LMPOP', '2', 'l2', 's', 'LEFT'],
      ['RPUSH', 'l3', '1', '2', '3'],
      ['BLMPOP', '0', '2', 'nol', 'l3', 'RIGHT', 'COUNT', '2'], ['BLMPOP', 'x', '1', 'l3', 'LEFT'],
      ['BLMPOP', '-1', '1', 'l3', 'LEFT'], ['BLMPOP', '0', '0', 'l3', 'LEFT'],
      ['BLMPOP', '0.01', '1', 'nol', 'LEFT'],
      ['RPUSH', 'src', 'a', 'b', 'c'],
      ['BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', '0'], ['BLMOVE', 'src', 'dst', 'RIGHT', 'LEFT', '0'],
      ['BLMOVE', 'src', 'dst', 'UP', 'LEFT', '0'], ['BLMOVE', 'src', 'dst', 'LEFT', 'LEFT', 'x'],
      ['BLMOVE', 'src', 'dst', 'LEFT', 'LEFT', '-1'], ['BLMOVE', 'src', 's', 'LEFT', 'LEFT', '0'],
      ['BLMOVE', 's', 'dst', 'LEFT', 'LEFT', '0'], ['LRANGE', 'dst', '0', '-1'], ['LRANGE', 'src', '0', '-1'],
      ['BRPOPLPUSH', 'src', 'dst', '0'], ['BRPOPLPUSH', 'src', 'dst', 'nan'], ['BRPOPLPUSH', 'dst', 'dst', '0'],
      ['LRANGE', 'dst', '0', '-1'], ['EXISTS', 'src'], ['BRPOPLPUSH', 'nol', 'dst', '0.01'],
      ['BLMOVE', 'nol', 'dst', 'LEFT', 'LEFT', '0.01'],
      ['MULTI'], ['BLMOVE', 'nol', 'dst', 'LEFT', 'LEFT', '0'], ['BRPOPLPUSH', 'nol', 'dst', '0'],
      ['BLMPOP', '0', '1', 'nol', 'LEFT'], ['BLPOP', 'nol', '0'], ['EXEC'],
    ]);
    await resp3(p, [['LMPOP', '1', 'nol', 'LEFT'], ['RPUSH', 'r3', 'a'], ['LMPOP', '1', 'r3', 'LEFT'],
      ['BLMPOP', '0.01', '1', 'nol', 'LEFT'], ['BLMOVE', 'nol', 'dst', 'LEFT', 'LEFT', '0.01']]);
  } finally {
    await p.stop();
  }
});

test('blocked BLMOVE/BRPOPLPUSH/BLMPOP are served by a push like redis-server', async () => {
  const p = await startPair();
  try {
    await blockedSame(p, ['BLMOVE', 'q', 'd', 'LEFT', 'RIGHT', '5'], [['RPUSH', 'q', 'x', 'y']],
      [['LRANGE', 'q', '0', '-1'], ['LRANGE', 'd', '0', '-1']]);
    await blockedSame(p, ['BRPOPLPUSH', 'q2', 'd', '5'], [['LPUSH', 'q2', 'z']],
      [['EXISTS', 'q2'], ['LRANGE', 'd', '0', '-1']]);
    await blockedSame(p, ['BLMPOP', '5', '2', 'm1', 'm2', 'RIGHT', 'COUNT', '3'],
      [['RPUSH', 'm2', '1', '2', '3', '4']], [['LRANGE', 'm2', '0', '-1']]);
    // a chain: BLMOVE's push serves a BLPOP waiting on its destination
    await blockedSame(p, ['BLPOP', 'chain2', '5'], [['RPUSH', 'chain1', 'v'], ['BLMOVE', 'chain1', 'chain2', 'LEFT', 'LEFT', '1']],
      [['EXISTS', 'chain1', 'chain2']]);
    // timeouts answer a null array
    await blockedSame(p, ['BLMOVE', 't', 'd', 'LEFT', 'RIGHT', '0.05'], [['PING']], [['EXISTS', 't']]);
    await blockedSame(p, ['BLMPOP', '0.05', '1', 't', 'LEFT'], [['PING']], [['EXISTS', 't']]);
    // a blocked BLMOVE whose destination is of another type gets WRONGTYPE when served
    await blockedSame(p, ['BLMOVE', 'w', 'wstr', 'LEFT', 'RIGHT', '5'], [['SET', 'wstr', 'x'], ['RPUSH', 'w', 'a']],
      [['LRANGE', 'w', '0', '-1']]);
  } finally {
    await p.stop();
  }
});

test('SINTERCARD and HRANDFIELD equal redis-server (random picks by invariant)', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['SADD', 'a', '1', '2', '3', '4'], ['SADD', 'b', '2', '3', '4', '5'], ['SADD', 'c', '3', '4'], ['SET', 'str', 'v'],
      ['SINTERCARD', '2', 'a', 'b'], ['SINTERCARD', '3', 'a', 'b', 'c'], ['SINTERCARD', '1', 'a'], ['SINTERCARD', '2', 'a', 'nokey'],
      ['SINTERCARD', '2', 'a', 'b', 'LIMIT', '2'], ['SINTERCARD', '2', 'a', 'b', 'LIMIT', '0'], ['SINTERCARD', '2', 'a', 'b', 'LIMIT', '-1'],
      ['SINTERCARD', '2', 'a', 'b', 'LIMIT', 'x'], ['SINTERCARD', '2', 'a', 'b', 'LIMIT'], ['SINTERCARD', '2', 'a', 'b', 'FOO', '1'],
      ['SINTERCARD', '0', 'a'], ['SINTERCARD', 'x', 'a'], ['SINTERCARD', '3', 'a', 'b'], ['SINTERCARD', '2', 'a', 'str'],
      ['SINTERCARD', '2', 'nokey', 'str'],
      ['HSET', 'h', 'f1', 'v1', 'f2', 'v2'], ['HRANDFIELD', 'nokey'], ['HRANDFIELD', 'nokey', '3'], ['HRANDFIELD', 'h', '0'],
      ['HRANDFIELD', 'h', 'x'], ['HRANDFIELD', 'h', '1', 'FOO'], ['HRANDFIELD', 'h', '1', 'WITHVALUES', 'x'], ['HRANDFIELD', 'str'],
      ['HRANDFIELD', 'str', '2'], ['HRANDFIELD', 'h', '-9223372036854775808'], ['HRANDFIELD', 'h', '-9223372036854775807', 'WITHVALUES'],
      ['HSET', 'one', 'f', 'v'], ['HRANDFIELD', 'one'], ['HRANDFIELD', 'one', '5', 'WITHVALUES'], ['HRANDFIELD', 'one', '-3', 'WITHVALUES'],
      ['HRANDFIELD', 'one', '-2'],
    ]);
    await resp3(p, [['HRANDFIELD', 'one', '-2', 'WITHVALUES'], ['HRANDFIELD', 'one', '1', 'WITHVALUES']]);
    const flat = (b) => decode(b)[0].map(String);
    for (const [args, len] of [[['h', '5'], 2], [['h', '-5'], 5], [['h', '1', 'WITHVALUES'], 2], [['h', '9', 'WITHVALUES'], 4], [['h', '-3', 'WITHVALUES'], 6]]) {
      const got = flat(await p.bc.call('HRANDFIELD', ...args));
      assert.equal(got.length, len, JSON.stringify(args));
      const ws = args.includes('WITHVALUES');
      for (let i = 0; i < got.length; i += ws ? 2 : 1) {
        assert.ok(['f1', 'f2'].includes(got[i]));
        if (ws) assert.equal(got[i + 1], 'v' + got[i].slice(1));
      }
    }
  } finally {
    await p.stop();
  }
});
