// bunder's newer sorted-set commands (ZUNION/ZINTER/ZDIFF and their STORE forms, ZINTERCARD,
// ZRANGESTORE, ZRANDMEMBER, ZREMRANGEBYLEX, ZMPOP, BZMPOP, BZPOPMIN/MAX) against Debian's
// redis-server 7: the same commands to both, replies compared byte for byte (random picks by
// invariant).
import test from 'node:test';
import assert from 'node:assert/strict';
import { startPair } from './bunder_compat_lib.mjs';
import { blockedSame, resp3 } from './bunder_data_lib.mjs';
import { decode } from './bunder_lib.test.mjs';

const setup = [
  ['ZADD', 'z1', '1', 'a', '2', 'b', '3', 'c', '4', 'd'], ['ZADD', 'z2', '10', 'b', '20', 'c', '30', 'e'],
  ['ZADD', 'z3', 'inf', 'a', '-inf', 'b', '0', 'c'], ['SADD', 's1', 'a', 'e', 'x'], ['SET', 'str', 'v'],
  ['ZADD', 'lex', '0', 'a', '0', 'b', '0', 'c', '0', 'd', '0', 'e', '0', 'f'],
];

test('ZUNION/ZINTER/ZDIFF(+STORE), ZINTERCARD equal redis-server', async () => {
  const p = await startPair();
  try {
    const cmds = [...setup];
    for (const op of ['ZUNION', 'ZINTER', 'ZDIFF']) {
      cmds.push([op, '2', 'z1', 'z2'], [op, '2', 'z1', 'z2', 'WITHSCORES'], [op, '3', 'z1', 'z2', 's1', 'WITHSCORES'],
        [op, '2', 'z1', 'nokey', 'WITHSCORES'], [op, '1', 'nokey'], [op, '0', 'z1'], [op, '-1', 'z1'], [op, 'x', 'z1'],
        [op, '3', 'z1', 'z2'], [op, '2', 'z1', 'str'], [op, '2', 'str', 'z1'], [op, '2', 'z1', 'z3', 'WITHSCORES'],
        [op, '2', 'z1', 'z2', 'WEIGHTS', '2', '0.5', 'WITHSCORES'], [op, '2', 'z1', 'z2', 'WEIGHTS', '2'],
        [op, '2', 'z1', 'z2', 'WEIGHTS', '2', 'x'], [op, '2', 'z1', 'z2', 'AGGREGATE', 'MIN', 'WITHSCORES'],
        [op, '2', 'z1', 'z2', 'AGGREGATE', 'max', 'WITHSCORES'], [op, '2', 'z1', 'z2', 'AGGREGATE', 'avg'],
        [op, '2', 'z1', 'z3', 'WEIGHTS', '0', '0', 'WITHSCORES'], [op, '2', 'z3', 'z3', 'WEIGHTS', '1', '-1', 'WITHSCORES'],
        [op, '2', 'z1', 'z2', 'FOO'], [op, '2', 'z1', 'z2', 'WITHSCORES', 'LIMIT', '1']);
      const st = op + 'STORE';
      cmds.push([st, 'dst', '2', 'z1', 'z2'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'],
        [st, 'dst', '3', 'z1', 'z2', 's1', 'WEIGHTS', '1', '2', '3', 'AGGREGATE', 'MAX'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'],
        [st, 'dst', '1', 'nokey'], ['EXISTS', 'dst'], [st, 'dst', '2', 'z1', 'z2', 'WITHSCORES'], [st, 'dst', '0', 'z1'],
        [st, 'str', '1', 'z1'], ['TYPE', 'str'], [st, 'z1c', '1', 'z1'], [st, 'z1c', '2', 'z1c', 'z2'],
        ['ZRANGE', 'z1c', '0', '-1', 'WITHSCORES'], ['SET', 'str', 'v']);
    }
    cmds.push(['ZINTERCARD', '2', 'z1', 'z2'], ['ZINTERCARD', '2', 'z1', 's1'], ['ZINTERCARD', '2', 'z1', 'z2', 'LIMIT', '1'],
      ['ZINTERCARD', '2', 'z1', 'z2', 'LIMIT', '0'], ['ZINTERCARD', '2', 'z1', 'z2', 'LIMIT', '-1'],
      ['ZINTERCARD', '2', 'z1', 'z2', 'LIMIT', 'x'], ['ZINTERCARD', '0', 'z1'], ['ZINTERCARD', '1', 'nokey'],
      ['ZINTERCARD', '2', 'z1', 'z2', 'WITHSCORES'], ['ZINTERCARD', '2', 'z1', 'str'], ['ZINTERCARD', '3', 'z1', 'z2']);
    await p.same(cmds);
    await resp3(p, [['ZUNION', '2', 'z1', 'z2', 'WITHSCORES'], ['ZINTER', '2', 'z1', 'z2'], ['ZDIFF', '2', 'z1', 'z2', 'WITHSCORES']]);
  } finally {
    await p.stop();
  }
});

test('ZRANGESTORE, ZREMRANGEBYLEX, ZMPOP, BZPOPMIN/MAX, BZMPOP equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([...setup,
      ['ZRANGESTORE', 'd', 'z1', '0', '-1'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['ZRANGESTORE', 'd', 'z1', '(1', '3', 'BYSCORE'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['ZRANGESTORE', 'd', 'z1', '3', '1', 'BYSCORE', 'REV', 'LIMIT', '0', '2'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['ZRANGESTORE', 'd', 'lex', '[b', '(e', 'BYLEX'], ['ZRANGE', 'd', '0', '-1'], ['ZRANGESTORE', 'd', 'lex', '+', '-', 'BYLEX', 'REV', 'LIMIT', '1', '2'],
      ['ZRANGE', 'd', '0', '-1'], ['ZRANGESTORE', 'd', 'nokey', '0', '-1'], ['EXISTS', 'd'],
      ['ZRANGESTORE', 'd', 'z1', '0', '-1', 'WITHSCORES'], ['ZRANGESTORE', 'd', 'z1', '0', '-1', 'LIMIT', '0', '1'],
      ['ZRANGESTORE', 'd', 'z1', 'x', '1', 'BYSCORE'], ['ZRANGESTORE', 'd', 'str', '0', '-1'], ['ZRANGESTORE', 'd', 'z1', '5', '9'],
      ['ZRANGESTORE', 'str', 'z1', '0', '0'], ['TYPE', 'str'], ['SET', 'str', 'v'], ['ZRANGESTORE', 'd', 'z1', '0'],
      ['ZREMRANGEBYLEX', 'lex', '[b', '(d'], ['ZRANGE', 'lex', '0', '-1'], ['ZREMRANGEBYLEX', 'lex', '-', '[a'],
      ['ZREMRANGEBYLEX', 'lex', 'x', '+'], ['ZREMRANGEBYLEX', 'nokey', '-', '+'], ['ZREMRANGEBYLEX', 'str', '-', '+'],
      ['ZREMRANGEBYLEX', 'lex', '-', '+'], ['EXISTS', 'lex'],
      ['ZMPOP', '2', 'nokey', 'z1', 'MIN'], ['ZMPOP', '1', 'z1', 'MAX', 'COUNT', '2'], ['ZMPOP', '1', 'z1', 'MAX', 'COUNT', '10'],
      ['ZMPOP', '1', 'z1', 'MIN'], ['ZMPOP', '0', 'z2', 'MIN'], ['ZMPOP', '1', 'z2', 'MID'], ['ZMPOP', '1', 'z2', 'MIN', 'COUNT', '0'],
      ['ZMPOP', '1', 'z2', 'MIN', 'COUNT', '1', 'COUNT', '2'], ['ZMPOP', '2', 'z2', 'MIN'], ['ZMPOP', '2', 'str', 'z2', 'MIN'],
      ['BZPOPMIN', 'nokey', 'z2', '0'], ['BZPOPMAX', 'z2', '0'], ['BZPOPMIN', 'z2', 'x'], ['BZPOPMIN', 'z2', '-1'],
      ['BZPOPMIN', 'str', '0'], ['BZMPOP', '0', '1', 'z3', 'MAX', 'COUNT', '2'], ['BZMPOP', '0.01', '1', 'nokey', 'MIN'],
      ['BZPOPMIN', 'nokey', '0.01'], ['BZMPOP', 'x', '1', 'z3', 'MIN'],
      ['MULTI'], ['BZPOPMIN', 'nokey', '0'], ['BZMPOP', '0', '1', 'nokey', 'MIN'], ['EXEC'],
    ]);
    await resp3(p, [['ZADD', 'r', '1', 'a', '2', 'b'], ['ZMPOP', '1', 'r', 'MIN'], ['BZPOPMAX', 'r', '0'], ['BZPOPMIN', 'r', '0.01']]);
    await blockedSame(p, ['BZPOPMIN', 'bz1', 'bz2', '5'], [['ZADD', 'bz2', '5', 'x', '3', 'y']], [['ZRANGE', 'bz2', '0', '-1']]);
    await blockedSame(p, ['BZMPOP', '5', '1', 'bz3', 'MAX', 'COUNT', '5'], [['ZADD', 'bz3', '1', 'a', '2', 'b']], [['EXISTS', 'bz3']]);
    await blockedSame(p, ['BZPOPMAX', 'bz4', '0.05'], [['PING']], [['EXISTS', 'bz4']]);
    // a list push does not serve a zset waiter; the zset add does
    await blockedSame(p, ['BZPOPMIN', 'mixed', '5'], [['RPUSH', 'mixed', 'a'], ['DEL', 'mixed'], ['ZADD', 'mixed', '1', 'm']], [['EXISTS', 'mixed']]);
    // ZUNIONSTORE into a key a client waits on serves it
    await blockedSame(p, ['BZPOPMIN', 'target', '5'], [['ZADD', 'zz', '1', 'q'], ['ZUNIONSTORE', 'target', '1', 'zz']], [['EXISTS', 'target']]);
  } finally {
    await p.stop();
  }
});

const members = (buf) => decode(buf)[0];

test('ZRANDMEMBER: errors and whole-set replies equal redis-server, random picks are members', async () => {
  const p = await startPair();
  try {
    await p.same([...setup, ['ZRANDMEMBER', 'nokey'], ['ZRANDMEMBER', 'nokey', '5'], ['ZRANDMEMBER', 'z1', '0'],
      ['ZRANDMEMBER', 'z1', '10'], ['ZRANDMEMBER', 'z1', '4', 'WITHSCORES'], ['ZRANDMEMBER', 'z1', 'x'],
      ['ZRANDMEMBER', 'z1', '1', 'FOO'], ['ZRANDMEMBER', 'z1', '1', 'WITHSCORES', 'x'], ['ZRANDMEMBER', 'str'],
      ['ZRANDMEMBER', 'str', '1'], ['ZRANDMEMBER', 'z1', '-9223372036854775808'],
      ['ZRANDMEMBER', 'z1', '-9223372036854775807', 'WITHSCORES'], ['ZRANDMEMBER', 'z1', '9223372036854775807', 'WITHSCORES']]);
    await resp3(p, [['ZRANDMEMBER', 'z1', '10', 'WITHSCORES']]);
    const all = ['a', 'b', 'c', 'd'];
    for (const args of [['z1'], ['z1', '2'], ['z1', '-7'], ['z1', '3', 'WITHSCORES'], ['z1', '-5', 'WITHSCORES']]) {
      const v = members(await p.bc.call('ZRANDMEMBER', ...args));
      const got = Array.isArray(v) ? v : [v];
      const n = Number(args[1] ?? 1);
      const ws = args.includes('WITHSCORES');
      assert.equal(got.length, Math.abs(n) * (ws ? 2 : 1), JSON.stringify(args));
      for (let i = 0; i < got.length; i += ws ? 2 : 1) {
        assert.ok(all.includes(String(got[i])), String(got[i]));
        if (ws) assert.equal(String(got[i + 1]), String(all.indexOf(String(got[i])) + 1));
      }
      if (n > 0) assert.equal(new Set(got.filter((_, i) => !ws || i % 2 === 0).map(String)).size, n);
    }
  } finally {
    await p.stop();
  }
});

test('seeded random set operations, ranges, pops and SORT equal redis-server', async () => {
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const pick = (a) => a[rnd(a.length)];
  const keys = ['k0', 'k1', 'k2', 'k3', 's0', 'nokey'];
  const score = () => pick(['1', '2', '-3', '0.5', '1e3', 'inf', '-inf', '7', String(rnd(100))]);
  const p = await startPair();
  try {
    const cmds = [];
    for (let i = 0; i < 4; i++) {
      const args = ['ZADD', `k${i}`];
      for (let j = 0; j < 15; j++) args.push(score(), `m${rnd(25)}`);
      cmds.push(args);
    }
    cmds.push(['SADD', 's0', 'm1', 'm2', 'm3', 'm30']);
    for (let i = 0; i < 400; i++) {
      const n = 1 + rnd(3);
      const ks = Array.from({ length: n }, () => pick(keys));
      const op = pick(['ZUNION', 'ZINTER', 'ZDIFF', 'ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE', 'ZINTERCARD', 'ZRANGESTORE',
        'ZMPOP', 'ZREMRANGEBYLEX', 'SORT', 'ZADD']);
      if (op === 'ZADD') { cmds.push(['ZADD', pick(keys.slice(0, 4)), score(), `m${rnd(25)}`]); continue; }
      if (op === 'ZRANGESTORE') { cmds.push(['ZRANGESTORE', 'dst', pick(keys), String(rnd(10) - 3), String(rnd(20) - 5), ...pick([[], ['REV']])]); cmds.push(['ZRANGE', 'dst', '0', '-1', 'WITHSCORES']); continue; }
      if (op === 'ZMPOP') { cmds.push(['ZMPOP', String(n), ...ks, pick(['MIN', 'MAX']), 'COUNT', String(1 + rnd(3))]); continue; }
      if (op === 'ZREMRANGEBYLEX') { cmds.push(['ZREMRANGEBYLEX', pick(keys), pick(['-', '[m1', '(m2']), pick(['+', '[m3', '(m20'])]); continue; }
      if (op === 'SORT') { cmds.push(['SORT', pick(keys.slice(0, 4)), ...pick([[], ['DESC'], ['LIMIT', String(rnd(5)), String(rnd(6) - 1)]]), 'ALPHA']); continue; }
      const opts = [];
      if (op !== 'ZDIFF' && op !== 'ZDIFFSTORE' && op !== 'ZINTERCARD' && rnd(2)) opts.push('WEIGHTS', ...ks.map(() => pick(['1', '2', '-1', '0', '0.5'])));
      if (op !== 'ZDIFF' && op !== 'ZDIFFSTORE' && op !== 'ZINTERCARD' && rnd(2)) opts.push('AGGREGATE', pick(['SUM', 'MIN', 'MAX']));
      if (op === 'ZINTERCARD' && rnd(2)) opts.push('LIMIT', String(rnd(4)));
      if (!op.endsWith('STORE') && op !== 'ZINTERCARD' && rnd(2)) opts.push('WITHSCORES');
      if (op.endsWith('STORE')) {
        cmds.push([op, 'dst', String(n), ...ks, ...opts], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES']);
      } else {
        cmds.push([op, String(n), ...ks, ...opts]);
      }
    }
    await p.same(cmds);
  } finally {
    await p.stop();
  }
});
