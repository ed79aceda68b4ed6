// bunder bitmaps (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) against
// Debian's redis-server 7: the same commands go to both and the reply bytes must be equal, with
// edge cases (negative and BIT ranges, wrong types, offsets bounded by proto-max-bulk-len,
// BITFIELD overflow modes) and a seeded random sequence.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startPair } from './bunder_compat_lib.mjs';
import { Client, startBunder } from './bunder_lib.test.mjs';

test('bitmap commands and errors equal redis-server byte for byte', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['SET', 's', 'foobar'], ['RPUSH', 'list', 'a'], ['SET', 'empty', ''],
      // SETBIT / GETBIT
      ['SETBIT', 'b', 7, 1], ['SETBIT', 'b', 7, 0], ['SETBIT', 'b', 100, 1], ['GET', 'b'], ['STRLEN', 'b'],
      ['GETBIT', 'b', 100], ['GETBIT', 'b', 101], ['GETBIT', 'b', 1000000], ['GETBIT', 'nokey', 0],
      ['SETBIT', 'b', -1, 1], ['SETBIT', 'b', 'x', 1], ['SETBIT', 'b', 1, 2], ['SETBIT', 'b', 1, '-1'],
      ['SETBIT', 'b', 1, 'on'], ['GETBIT', 'b', -1], ['GETBIT', 'b', 'z'], ['SETBIT', 'list', 0, 1],
      ['GETBIT', 'list', 0], ['SETBIT', 'b', 4294967296, 1], ['GETBIT', 'b', 4294967296],
      ['SETBIT', 'b', '99999999999999999999', 1], ['SETBIT', 's', 0, 1], ['GET', 's'],
      ['SET', 'num', '12'], ['SETBIT', 'num', 6, 1], ['GET', 'num'], ['INCR', 'num'],
      // BITCOUNT
      ['SET', 's', 'foobar'], ['BITCOUNT', 's'], ['BITCOUNT', 's', 0, 0], ['BITCOUNT', 's', 1, 1],
      ['BITCOUNT', 's', 1, 1, 'BYTE'], ['BITCOUNT', 's', 5, 30, 'BIT'], ['BITCOUNT', 's', -5, -1, 'bit'],
      ['BITCOUNT', 's', -1, -5], ['BITCOUNT', 's', -20, -30], ['BITCOUNT', 's', -100, 100],
      ['BITCOUNT', 's', 2, 1], ['BITCOUNT', 's', 0, -1, 'BIT'], ['BITCOUNT', 's', 7, 7, 'BIT'],
      ['BITCOUNT', 's', 1], ['BITCOUNT', 's', 0, 1, 'bits'], ['BITCOUNT', 's', 'a', 1],
      ['BITCOUNT', 'nokey'], ['BITCOUNT', 'nokey', 'a', 'b'], ['BITCOUNT', 'nokey', 1],
      ['BITCOUNT', 'list'], ['BITCOUNT', 'empty'], ['BITCOUNT', 'empty', 0, -1],
      // BITPOS
      ['SET', 'z', Buffer.from([0xff, 0xf0, 0x00])], ['BITPOS', 'z', 0], ['BITPOS', 'z', 1],
      ['BITPOS', 'z', 0, 2], ['BITPOS', 'z', 0, 0, 0], ['BITPOS', 'z', 0, 0, -1], ['BITPOS', 'z', 1, 2],
      ['BITPOS', 'z', 1, 2, -1], ['BITPOS', 'z', 0, 1, 1, 'BYTE'], ['BITPOS', 'z', 0, 7, 15, 'BIT'],
      ['BITPOS', 'z', 1, 7, 15, 'BIT'], ['BITPOS', 'z', 0, 2, 6, 'BIT'], ['BITPOS', 'z', 1, 12, 15, 'BIT'],
      ['BITPOS', 'z', 1, -3, -1, 'BIT'], ['BITPOS', 'z', 0, -9, 'BIT'], ['BITPOS', 'z', 1, 5, 2],
      ['SET', 'ones', Buffer.from([0xff, 0xff])], ['BITPOS', 'ones', 0], ['BITPOS', 'ones', 0, 0, -1],
      ['BITPOS', 'ones', 0, 1], ['BITPOS', 'ones', 0, 3, 'BIT'], ['BITPOS', 'ones', 0, 3, 9, 'BIT'],
      ['BITPOS', 'nokey', 0], ['BITPOS', 'nokey', 1], ['BITPOS', 'nokey', 1, 'junk'], ['BITPOS', 'z', 2],
      ['BITPOS', 'z', 'x'], ['BITPOS', 'z', 1, 'x'], ['BITPOS', 'z', 1, 0, 'x'], ['BITPOS', 'z', 1, 0, 1, 'nope'],
      ['BITPOS', 'z', 1, 0, 1, 'bit', 'extra'], ['BITPOS', 'list', 1], ['BITPOS', 'empty', 0], ['BITPOS', 'empty', 1],
      // BITOP
      ['SET', 'k1', 'foobar'], ['SET', 'k2', 'abcdef'], ['SET', 'k3', 'xy'],
      ['BITOP', 'AND', 'dest', 'k1', 'k2'], ['GET', 'dest'], ['BITOP', 'OR', 'dest', 'k1', 'k2', 'k3'], ['GET', 'dest'],
      ['BITOP', 'XOR', 'dest', 'k1', 'k3'], ['GET', 'dest'], ['BITOP', 'NOT', 'dest', 'k3'], ['GET', 'dest'],
      ['BITOP', 'AND', 'dest', 'k1', 'nokey'], ['GET', 'dest'], ['BITOP', 'NOT', 'dest', 'k1', 'k2'],
      ['BITOP', 'NAND', 'dest', 'k1'], ['BITOP', 'AND', 'dest', 'k1', 'list'], ['BITOP', 'OR', 'dest', 'nokey', 'nokey2'],
      ['EXISTS', 'dest'], ['SET', 'dest', 'x', 'EX', 100], ['BITOP', 'OR', 'dest', 'k3'], ['TTL', 'dest'],
      ['BITOP', 'OR', 'list', 'k1'], ['TYPE', 'list'], ['RPUSH', 'list', 'a'],
      // BITFIELD
      ['BITFIELD', 'bf', 'SET', 'i8', 0, 100, 'GET', 'i8', 0], ['BITFIELD', 'bf', 'INCRBY', 'i8', 0, 100],
      ['BITFIELD', 'bf', 'OVERFLOW', 'SAT', 'INCRBY', 'i8', 0, 100], ['BITFIELD', 'bf', 'OVERFLOW', 'FAIL', 'INCRBY', 'i8', 0, 100],
      ['BITFIELD', 'bf', 'OVERFLOW', 'SAT', 'INCRBY', 'i8', 0, -1000], ['BITFIELD', 'bf', 'INCRBY', 'u2', 100, 1, 'OVERFLOW', 'SAT', 'INCRBY', 'u2', 102, 1],
      ['BITFIELD', 'bf', 'SET', 'u8', '#1', 255, 'GET', 'u8', '#1', 'GET', 'u4', 8, 'GET', 'i4', 8],
      ['BITFIELD', 'bf', 'SET', 'u8', 0, 300, 'OVERFLOW', 'SAT', 'SET', 'u8', 8, 300, 'OVERFLOW', 'FAIL', 'SET', 'u8', 16, 300, 'GET', 'u8', 16],
      ['BITFIELD', 'bf', 'OVERFLOW', 'SAT', 'SET', 'u8', 0, -1, 'OVERFLOW', 'WRAP', 'SET', 'u8', 8, -1, 'SET', 'i8', 16, -129],
      ['BITFIELD', 'bf', 'SET', 'i64', 0, '-9223372036854775808', 'INCRBY', 'i64', 0, -1, 'OVERFLOW', 'SAT', 'INCRBY', 'i64', 0, '-9223372036854775808'],
      ['BITFIELD', 'bf', 'SET', 'u63', 0, '9223372036854775807', 'INCRBY', 'u63', 0, 1, 'OVERFLOW', 'SAT', 'INCRBY', 'u63', 0, 5, 'GET', 'u63', 0],
      ['BITFIELD', 'bf', 'SET', 'i1', 3, 1, 'GET', 'i1', 3, 'GET', 'u1', 3, 'INCRBY', 'i1', 3, 1],
      ['BITFIELD', 'bf', 'GET', 'i5', 13, 'GET', 'u13', 5, 'GET', 'i64', 1000, 'GET', 'u16', 60],
      ['GET', 'bf'], ['BITFIELD', 'bf'], ['BITFIELD', 'nokey', 'GET', 'u8', 0], ['EXISTS', 'nokey'],
      ['BITFIELD', 'nokey2', 'OVERFLOW', 'FAIL', 'INCRBY', 'u2', 0, 10], ['GET', 'nokey2'],
      ['BITFIELD', 'bf', 'GET', 'u64', 0], ['BITFIELD', 'bf', 'GET', 'i65', 0], ['BITFIELD', 'bf', 'GET', 'i0', 0],
      ['BITFIELD', 'bf', 'GET', 'x8', 0], ['BITFIELD', 'bf', 'GET', 'u', 0], ['BITFIELD', 'bf', 'GET', 'u8', -1],
      ['BITFIELD', 'bf', 'GET', 'u8', '#-1'], ['BITFIELD', 'bf', 'GET', 'u8', 'x'], ['BITFIELD', 'bf', 'SET', 'u8', 0, 'x'],
      ['BITFIELD', 'bf', 'OVERFLOW', 'BAD'], ['BITFIELD', 'bf', 'OVERFLOW'], ['BITFIELD', 'bf', 'GET', 'u8'],
      ['BITFIELD', 'bf', 'FOO', 'u8', 0], ['BITFIELD', 'bf', 'SET', 'u8', 0], ['BITFIELD', 'list', 'GET', 'u8', 0],
      ['BITFIELD', 'list', 'SET', 'u8', 0, 1], ['BITFIELD', 'bf', 'GET', 'u8', '4294967296'],
      ['BITFIELD', 'bf', 'SET', 'u8', '#536870912', 1], ['BITFIELD', 'bf', 'GET', 'i64', '#99999999999999999'],
      ['BITFIELD_RO', 'bf', 'GET', 'u8', 0, 'GET', 'i16', 3], ['BITFIELD_RO', 'bf', 'SET', 'u8', 0, 1],
      ['BITFIELD_RO', 'bf', 'INCRBY', 'u8', 0, 1], ['BITFIELD_RO', 'nokey', 'GET', 'u8', 0], ['BITFIELD_RO', 'list', 'GET', 'u8', 0],
      ['BITFIELD_RO', 'bf'], ['BITFIELD_RO', 'bf', 'OVERFLOW', 'SAT', 'GET', 'u8', 0],
      // proto-max-bulk-len bounds the offsets
      ['CONFIG', 'SET', 'proto-max-bulk-len', '1048576'], ['SETBIT', 'big', 8388607, 1], ['STRLEN', 'big'],
      ['SETBIT', 'big', 8388608, 1], ['GETBIT', 'big', 8388608], ['BITFIELD', 'big', 'SET', 'u8', 8388600, 1],
      ['BITFIELD', 'big', 'SET', 'u8', 8388601, 1], ['BITFIELD', 'big', 'SET', 'u8', '#1048576', 1],
      ['BITCOUNT', 'big'], ['BITPOS', 'big', 1], ['STRLEN', 'big'],
    ]);
  } finally {
    await p.stop();
  }
});

test('seeded random bitmap sequence equals redis-server', async () => {
  const p = await startPair();
  try {
    let seed = 12345;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const keys = ['a', 'b', 'c'];
    const cmds = [];
    for (let i = 0; i < 1500; i++) {
      const k = keys[rnd(3)];
      const r = rnd(9);
      const off = rnd(200) - (rnd(5) === 0 ? 220 : 0);
      const units = ['', 'BYTE', 'BIT'][rnd(3)];
      const range = () => { const a = [rnd(60) - 30, rnd(60) - 30]; if (units) a.push(units); return a; };
      if (r === 0) cmds.push(['SETBIT', k, Math.abs(off), rnd(2)]);
      else if (r === 1) cmds.push(['GETBIT', k, Math.abs(off)]);
      else if (r === 2) cmds.push(['BITCOUNT', k, ...(rnd(3) ? range() : [])]);
      else if (r === 3) { const rg = range(); cmds.push(['BITPOS', k, rnd(2), ...(rnd(4) ? rg.slice(0, 1 + rnd(rg.length)) : [])]); }
      else if (r === 4) cmds.push(['BITOP', ['AND', 'OR', 'XOR'][rnd(3)], keys[rnd(3)], k, keys[rnd(3)]]);
      else if (r === 5) cmds.push(['BITOP', 'NOT', keys[rnd(3)], k]);
      else {
        const args = ['BITFIELD', k];
        for (let j = 0, n = 1 + rnd(3); j < n; j++) {
          const ty = (rnd(2) ? 'i' : 'u') + (1 + rnd(rnd(2) ? 8 : 63));
          const o = rnd(3) ? String(rnd(150)) : '#' + rnd(10);
          const op = rnd(4);
          if (op === 0) args.push('OVERFLOW', ['WRAP', 'SAT', 'FAIL'][rnd(3)]);
          else if (op === 1) args.push('GET', ty, o);
          else args.push(op === 2 ? 'SET' : 'INCRBY', ty, o, String(rnd(2000) - 1000));
        }
        cmds.push(args);
      }
      if (i % 100 === 99) cmds.push(['GET', 'a'], ['GET', 'b'], ['GET', 'c']);
    }
    await p.same(cmds);
  } finally {
    await p.stop();
  }
});

test('bitmap writes survive an AOF restart', async () => {
  let b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always']);
  const dir = b.dir;
  let c = await Client.connect(b.port);
  await c.call('SETBIT', 'bm', 1000, 1);
  await c.call('BITFIELD', 'bf', 'SET', 'i16', '#2', -1234, 'INCRBY', 'u8', 0, 7);
  await c.call('SET', 'x', 'foo');
  await c.call('BITOP', 'NOT', 'nx', 'x');
  const before = [await c.call('GET', 'bm'), await c.call('GET', 'bf'), await c.call('GET', 'nx')];
  c.close();
  await b.kill();
  b = await startBunder(['--appendonly', 'yes'], { dir });
  c = await Client.connect(b.port);
  assert.deepEqual([await c.call('GET', 'bm'), await c.call('GET', 'bf'), await c.call('GET', 'nx')], before);
  assert.equal(await c.call('GETBIT', 'bm', 1000), 1);
  assert.deepEqual(await c.call('BITFIELD_RO', 'bf', 'GET', 'i16', '#2'), [-1234]);
  c.close();
  await b.stop();
});
