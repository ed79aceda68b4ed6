// bunder's newer list/set/hash commands (LMPOP, BLMPOP, BLMOVE, BRPOPLPUSH, SINTERCARD, HRANDFIELD)
// against Debian's redis-server 7: the same commands go to both, replies compared byte for byte.
// Blocking commands are checked from a second connection that pushes while the first waits.
import test from 'node:test';
import { startPair } from './bunder_compat_lib.mjs';
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
