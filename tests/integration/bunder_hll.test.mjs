// bunder HyperLogLog (PFADD, PFCOUNT, PFMERGE) against Debian's redis-server 7: the same commands
// go to both and the replies must be the same bytes — counts, and GET of the HLL key too, since
// bunder keeps Redis' exact sparse/dense encoding (and so DUMP/RESTORE can carry it later).
import test from 'node:test';
import assert from 'node:assert/strict';
import { startPair } from './bunder_compat_lib.mjs';
import { Client, startBunder } from './bunder_lib.test.mjs';

const range = (prefix, from, to) => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

test('PFADD/PFCOUNT/PFMERGE replies and the HLL bytes equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['PFADD', 'h'], ['GET', 'h'], ['PFADD', 'h'], ['PFCOUNT', 'h'], ['GET', 'h'],
      ['PFADD', 'h', 'a', 'b', 'c'], ['GET', 'h'], ['PFADD', 'h', 'a'], ['PFCOUNT', 'h'], ['GET', 'h'],
      ['PFADD', 'h', ''], ['PFADD', 'h', 'x'.repeat(1000)], ['GET', 'h'], ['PFCOUNT', 'h'],
      ['PFADD', 'h2', ...range('e', 0, 300)], ['GET', 'h2'], ['PFCOUNT', 'h2'], ['STRLEN', 'h2'],
      // grows past hll-sparse-max-bytes: dense
      ['PFADD', 'h3', ...range('e', 0, 5000)], ['STRLEN', 'h3'], ['PFCOUNT', 'h3'], ['GET', 'h3'],
      ['PFADD', 'h3', 'e1'], ['PFCOUNT', 'h3'],
      // merges: sparse+sparse stays sparse, with a dense source it is dense
      ['PFMERGE', 'm', 'h', 'h2'], ['GET', 'm'], ['PFCOUNT', 'm'], ['PFMERGE', 'm', 'h3'], ['STRLEN', 'm'],
      ['PFCOUNT', 'm'], ['GET', 'm'], ['PFMERGE', 'm2'], ['GET', 'm2'], ['PFMERGE', 'm3', 'nokey'], ['PFCOUNT', 'm3'],
      ['PFMERGE', 'h2', 'h'], ['GET', 'h2'], ['PFCOUNT', 'h', 'h2', 'h3', 'nokey'], ['PFCOUNT', 'nokey'],
      ['PFCOUNT', 'nokey', 'nokey2'],
      // wrong types, strings that are not HLLs, corrupt HLLs
      ['RPUSH', 'l', 'a'], ['PFADD', 'l', 'a'], ['PFCOUNT', 'l'], ['PFCOUNT', 'h', 'l'], ['PFMERGE', 'l', 'h'],
      ['PFMERGE', 'h', 'l'], ['SET', 's', 'notahll'], ['PFADD', 's', 'a'], ['PFCOUNT', 's'], ['PFMERGE', 'd', 's'],
      ['SET', 's', 'HYLL'], ['PFCOUNT', 's'], ['SET', 's', Buffer.concat([Buffer.from('HYLL'), Buffer.alloc(12)])],
      ['PFCOUNT', 's'], ['PFADD', 's', 'a'],
      ['SET', 'c', Buffer.concat([Buffer.from('HYLL\x01'), Buffer.alloc(11), Buffer.from([0x7f, 0xf0])])],
      ['PFCOUNT', 'c'], ['PFADD', 'c', 'a'], ['PFCOUNT', 'h', 'c'], ['PFMERGE', 'c2', 'c'],
      ['SET', 'c', Buffer.concat([Buffer.from('HYLL\x02'), Buffer.alloc(11)])], ['PFCOUNT', 'c'],
      ['SET', 'c', Buffer.concat([Buffer.from('HYLL\x00'), Buffer.alloc(11), Buffer.alloc(100)])], ['PFCOUNT', 'c'],
      ['PFADD'], ['PFCOUNT'], ['PFMERGE'],
      // the cached cardinality: GET shows it like Redis does
      ['PFADD', 'k', 'x', 'y'], ['GET', 'k'], ['PFCOUNT', 'k'], ['GET', 'k'], ['PFADD', 'k', 'x'], ['GET', 'k'],
      // a smaller sparse limit, as CONFIG SET allows
      ['CONFIG', 'SET', 'hll-sparse-max-bytes', '100'], ['PFADD', 'small', ...range('s', 0, 60)], ['STRLEN', 'small'],
      ['PFADD', 'small2', ...range('s', 0, 20)], ['STRLEN', 'small2'], ['GET', 'small2'], ['PFCOUNT', 'small', 'small2'],
      ['CONFIG', 'SET', 'hll-sparse-max-bytes', '3000'],
      // PFDEBUG / PFSELFTEST
      ['PFDEBUG', 'ENCODING', 'k'], ['PFDEBUG', 'DECODE', 'k'], ['PFDEBUG', 'DECODE', 'h2'], ['PFDEBUG', 'ENCODING', 'h3'],
      ['PFDEBUG', 'DECODE', 'h3'], ['PFDEBUG', 'GETREG', 'h3'], ['PFDEBUG', 'TODENSE', 'h3'], ['PFDEBUG', 'TODENSE', 'k'],
      ['PFDEBUG', 'ENCODING', 'k'], ['GET', 'k'], ['PFDEBUG', 'GETREG', 'h'], ['PFDEBUG', 'ENCODING', 'h'],
      ['PFDEBUG', 'ENCODING', 'nokey'], ['PFDEBUG', 'ENCODING', 'l'], ['PFDEBUG', 'ENCODING', 's'],
      ['PFDEBUG', 'BOGUS', 'h'], ['PFDEBUG', 'ENCODING'], ['PFSELFTEST'], ['PFSELFTEST', 'x'],
    ]);
  } finally {
    await p.stop();
  }
});

test('counts at high cardinality equal redis-server', async () => {
  const p = await startPair();
  try {
    const cmds = [];
    for (let b = 0; b < 20; b++) {
      cmds.push(['PFADD', 'big', ...range(`k${b}-`, 0, 5000)], ['PFCOUNT', 'big']);
      cmds.push(['PFADD', `part${b % 3}`, ...range(`k${b}-`, 0, 2500)]);
    }
    cmds.push(['PFCOUNT', 'part0', 'part1', 'part2'], ['PFMERGE', 'all', 'part0', 'part1', 'part2', 'big'],
      ['PFCOUNT', 'all'], ['GET', 'all'], ['GET', 'big']);
    await p.same(cmds);
  } finally {
    await p.stop();
  }
});

test('seeded random HLL sequence (sparse edits, merges, promotion) equals redis-server', async () => {
  const p = await startPair();
  try {
    let seed = 777;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const keys = ['a', 'b', 'c', 'd'];
    const cmds = [['CONFIG', 'SET', 'hll-sparse-max-bytes', '400']];
    for (let i = 0; i < 1500; i++) {
      const k = keys[rnd(4)];
      const r = rnd(10);
      if (r < 6) {
        const n = 1 + rnd(rnd(5) === 0 ? 40 : 4);
        cmds.push(['PFADD', k, ...Array.from({ length: n }, () => `v${rnd(3000)}`)]);
      } else if (r === 6) cmds.push(['PFCOUNT', k]);
      else if (r === 7) cmds.push(['PFCOUNT', k, keys[rnd(4)]]);
      else if (r === 8) cmds.push(['PFMERGE', keys[rnd(4)], k]);
      else cmds.push(['GET', k]);
      if (rnd(40) === 0) cmds.push(['DEL', keys[rnd(4)]]);
    }
    for (const k of keys) cmds.push(['GET', k], ['PFCOUNT', k]);
    await p.same(cmds);
  } finally {
    await p.stop();
  }
});

test('HLL values survive an AOF restart with the same counts', async () => {
  let b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always']);
  const dir = b.dir;
  let c = await Client.connect(b.port);
  c.raw = true;
  await c.call('PFADD', 'sp', ...range('x', 0, 100));
  await c.call('PFADD', 'dn', ...range('y', 0, 4000));
  await c.call('PFMERGE', 'mg', 'sp', 'dn');
  const counts = [await c.call('PFCOUNT', 'sp'), await c.call('PFCOUNT', 'dn'), await c.call('PFCOUNT', 'mg')];
  await c.call('PFADD', 'sp', 'extra');
  const sp = await c.call('GET', 'sp');
  c.close();
  await b.kill();
  b = await startBunder(['--appendonly', 'yes'], { dir });
  c = await Client.connect(b.port);
  c.raw = true;
  assert.deepEqual(await c.call('GET', 'sp'), sp);
  assert.deepEqual([await c.call('PFCOUNT', 'sp') - 0 >= counts[0], await c.call('PFCOUNT', 'dn'), await c.call('PFCOUNT', 'mg')],
    [true, counts[1], counts[2]]);
  c.close();
  await b.stop();
});

test('corrupt sparse HLL strings get the same replies as redis-server and never crash bunder', async () => {
  const p = await startPair();
  try {
    let seed = 4242;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const cmds = [];
    for (let i = 0; i < 300; i++) {
      // a valid header and 1..40 random opcode bytes, biased towards XZERO/VAL runs near 16384
      const body = Buffer.alloc(1 + rnd(40));
      for (let j = 0; j < body.length; j++) body[j] = rnd(3) === 0 ? 0x7f : rnd(256);
      const v = Buffer.concat([Buffer.from('HYLL\x01'), Buffer.alloc(11), body]);
      cmds.push(['SET', 'x', v], ['PFCOUNT', 'x'], ['PFADD', 'x', `e${rnd(100)}`, `f${rnd(100)}`], ['GET', 'x'],
        ['PFCOUNT', 'x', 'nokey'], ['PFMERGE', 'y', 'x'], ['DEL', 'y']);
    }
    await p.same(cmds);
  } finally {
    await p.stop();
  }
});
