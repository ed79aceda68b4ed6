// bunder streams (XADD … XSETID, consumer groups, blocking reads) against Debian's redis-server 7:
// the same commands go to both and the replies must be the same bytes. Ids are explicit wherever
// replies are compared (auto ids are checked by invariant); replies that carry times (idle,
// delivery times, seen-time) are compared with those fields masked.
import test from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startPair, startRedis } from './bunder_compat_lib.mjs';
import { Client, decode, sleep, startBunder } from './bunder_lib.test.mjs';
import { encodeCommand, respFor, startManager, str } from './bunder_manager_helpers.test.mjs';

const dec = (b) => decode(b, 0, false)[0];

/** Runs cmds on both; an entry is an args array (bytes compared) or {args, mask} (decoded replies
 * compared after mask). */
async function same(p, cmds) {
  const replies = [];
  for (const cmd of cmds) {
    const args = Array.isArray(cmd) ? cmd : cmd.args;
    const [a, b] = await Promise.all([p.rc.call(...args), p.bc.call(...args)]);
    if (Array.isArray(cmd)) {
      assert.equal(b.toString('latin1'), a.toString('latin1'), `reply to ${JSON.stringify(args).slice(0, 300)} differs`);
    } else {
      assert.deepEqual(cmd.mask(dec(b)), cmd.mask(dec(a)), `reply to ${JSON.stringify(args)} differs`);
    }
    replies.push(b);
  }
  return replies;
}

// masks for replies that carry times
const maskPendingExt = (v) => (Array.isArray(v) ? v.map((e) => [e[0], e[1], 'T', e[3]]) : v);
const maskConsumers = (v) => (Array.isArray(v) ? v.map((m) => m.map((x, i) => (i === 5 ? 'T' : x))) : v);
function maskFull(v) {
  if (!Array.isArray(v)) return v;
  const o = [...v];
  const gi = o.indexOf('groups');
  if (gi >= 0 && Array.isArray(o[gi + 1])) {
    o[gi + 1] = o[gi + 1].map((g) => {
      const gg = [...g];
      const pi = gg.indexOf('pending');
      gg[pi + 1] = gg[pi + 1].map((e) => [e[0], e[1], 'T', e[3]]);
      const ci = gg.indexOf('consumers');
      gg[ci + 1] = gg[ci + 1].map((k) => {
        const kk = [...k];
        kk[kk.indexOf('seen-time') + 1] = 'T';
        const kp = kk.indexOf('pending');
        kk[kp + 1] = kk[kp + 1].map((e) => [e[0], 'T', e[2]]);
        return kk;
      });
      return gg;
    });
  }
  return o;
}

test('XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM replies and errors equal redis-server', async () => {
  const p = await startPair();
  try {
    await same(p, [
      ['XADD', 's', '1-1', 'a', '1'], ['XADD', 's', '1-1', 'a', '1'], ['XADD', 's', '1-0', 'a', '1'],
      ['XADD', 's', '1-2', 'a', '1', 'b'], ['XADD', 's', '1-2'], ['XADD', 's', '1-2', 'a'], ['XADD', 's', '0-0', 'a', '1'],
      ['XADD', 'n', '0-0', 'a', '1'], ['EXISTS', 'n'], ['XADD', 'n', '0-*', 'a', '1'], ['XADD', 'n', '0', 'a', '1'],
      ['XADD', 's', '1-*', 'b', '2'], ['XADD', 's', '1-*', 'b', '2'], ['XADD', 's', '5-*', 'c', '3'], ['XADD', 's', '5', 'c', '3'],
      ['XADD', 's', '7-18446744073709551615', 'x', 'y'], ['XADD', 's', '7-*', 'x', 'y'], ['XADD', 's', '8-x', 'a', 'b'],
      ['XADD', 's', 'abc', 'a', 'b'], ['XADD', 's', '-1-1', 'a', 'b'], ['XADD', 's', '+', 'a', 'b'], ['XADD', 's', '-', 'a', 'b'],
      ['XADD', 's', '9-*-1', 'a', 'b'], ['XADD', 's', '09-1', 'a', 'b'], ['XADD', 's', ' 10-1', 'a', 'b'], ['XADD', 's', '+11-1', 'a', 'b'],
      ['XADD', 's', '12--0', 'a', 'b'], ['XADD', 's', '18446744073709551616-1', 'a', 'b'], ['XADD', 's', '1'.repeat(130), 'a', 'b'],
      ['XADD', 's', 'NOMKSTREAM', '20-1', 'a', 'b'], ['XADD', 'none', 'NOMKSTREAM', '1-1', 'a', 'b'], ['EXISTS', 'none'],
      ['XADD', 's', 'MAXLEN'], ['XADD', 's', 'MAXLEN', '5', '21-1'], ['XADD', 's', 'MAXLEN', '-1', '21-1', 'a', 'b'],
      ['XADD', 's', 'MAXLEN', 'x', '21-1', 'a', 'b'], ['XADD', 's', 'MAXLEN', '5', 'MINID', '1', '21-1', 'a', 'b'],
      ['XADD', 's', 'LIMIT', '5', '21-1', 'a', 'b'], ['XADD', 's', 'MAXLEN', '5', 'LIMIT', '5', '21-1', 'a', 'b'],
      ['XADD', 's', 'MAXLEN', '~', '5', 'LIMIT', '-1', '21-1', 'a', 'b'], ['XADD', 's', 'LIMIT', '0', '21-1', 'a', 'b'],
      ['XADD', 's', 'MINID', '+', '22-1', 'a', 'b'], ['XADD', 's', 'MINID', 'x', '22-1', 'a', 'b'],
      ['XADD', 's', 'maxlen', '=', '100', '23-1', 'f', 'v'], ['XADD', 's', 'MAXLEN', '~', '100', 'LIMIT', '10', '24-1', 'f', 'v'],
      ['XLEN', 's'], ['XLEN', 'nokey'], ['XRANGE', 's', '-', '+'], ['XREVRANGE', 's', '+', '-'],
      ['XRANGE', 's', '1', '5'], ['XRANGE', 's', '(1-1', '(5-0'], ['XRANGE', 's', '(1', '+'], ['XRANGE', 's', '-', '(7'],
      ['XRANGE', 's', '(-', '+'], ['XRANGE', 's', '-', '(+'], ['XRANGE', 's', '(18446744073709551615-18446744073709551615', '+'],
      ['XRANGE', 's', '-', '(0-0'], ['XRANGE', 's', '(', '+'], ['XRANGE', 's', '-', '+', 'COUNT', '2'], ['XRANGE', 's', '-', '+', 'COUNT', '0'],
      ['XRANGE', 's', '-', '+', 'COUNT', '-5'], ['XRANGE', 's', '-', '+', 'COUNT'], ['XRANGE', 's', '-', '+', 'LIMIT', '1'],
      ['XRANGE', 's', '-', '+', 'COUNT', 'x'], ['XRANGE', 's', 'x', '+'], ['XRANGE', 's', '5', '1'], ['XRANGE', 'nokey', '-', '+'],
      ['XRANGE', 'nokey', '-', '+', 'COUNT', '0'], ['XREVRANGE', 's', '(7', '(1-1'], ['XREVRANGE', 's', '+', '-', 'COUNT', '1'],
      ['XREVRANGE', 's', '-', '+'], ['XREVRANGE', 's', '(0-0', '-'], ['XRANGE', 's', '1-1', '1-1'], ['XRANGE', 's'],
      ['XDEL', 's', '1-1', '5-0', '99-1'], ['XDEL', 's', '1-1'], ['XDEL', 's', 'x'], ['XDEL', 's', '1-2', 'x'], ['XRANGE', 's', '-', '+'],
      ['XDEL', 'nokey', 'x'], ['XDEL', 's', '-'], ['XLEN', 's'], ['XINFO', 'STREAM', 's'],
      ['XTRIM', 's', 'MAXLEN', '3'], ['XRANGE', 's', '-', '+'], ['XTRIM', 's', 'MAXLEN', '~', '1'], ['XTRIM', 's', 'MINID', '23'],
      ['XTRIM', 's', 'MINID', '~', '23'], ['XTRIM', 's'], ['XTRIM', 's', 'foo', '1'], ['XTRIM', 's', 'MAXLEN', '1', 'x'],
      ['XTRIM', 's', 'MAXLEN', '1', 'LIMIT', '1'], ['XTRIM', 's', 'LIMIT', '1'], ['XTRIM', 's', 'MAXLEN', '-1'],
      ['XTRIM', 'nokey', 'MAXLEN', '1'], ['XTRIM', 'nokey', 'MAXLEN', 'x'], ['XTRIM', 's', 'MINID', '-'], ['XTRIM', 's', 'MAXLEN', '0'],
      ['XLEN', 's'], ['EXISTS', 's'], ['TYPE', 's'], ['XRANGE', 's', '-', '+'], ['XINFO', 'STREAM', 's'], ['XADD', 's', '24-1', 'a', 'b'],
      ['XADD', 's', '25-1', 'a', 'b'],
      // wrong types
      ['SET', 'str', 'x'], ['XADD', 'str', '1-1', 'a', 'b'], ['XRANGE', 'str', '-', '+'], ['XLEN', 'str'], ['XDEL', 'str', '1'],
      ['XTRIM', 'str', 'MAXLEN', '1'], ['XREAD', 'STREAMS', 'str', '0'], ['XINFO', 'STREAM', 'str'], ['XSETID', 'str', '1'],
      ['XADD'], ['XADD', 's'], ['XADD', 's', '*'], ['XLEN'], ['XDEL', 's'], ['XTRIM', 's', 'MAXLEN'], ['XREVRANGE', 's', '+'],
      // MAXLEN ~ / MINID ~ remove whole nodes only: 100 entries per node, 4096 bytes per node
      ...Array.from({ length: 350 }, (_, i) => ['XADD', 'big', `${i + 1}-0`, 'field', `v${i}`]),
      ['XINFO', 'STREAM', 'big'], ['XTRIM', 'big', 'MAXLEN', '~', '260'], ['XLEN', 'big'], ['XTRIM', 'big', 'MAXLEN', '~', '150'],
      ['XLEN', 'big'], ['XINFO', 'STREAM', 'big'], ['XTRIM', 'big', 'MINID', '~', '240'], ['XLEN', 'big'],
      ['XTRIM', 'big', 'MAXLEN', '~', '0', 'LIMIT', '50'], ['XTRIM', 'big', 'MAXLEN', '~', '0', 'LIMIT', '100'], ['XLEN', 'big'],
      ['XTRIM', 'big', 'MINID', '330'], ['XLEN', 'big'], ['XINFO', 'STREAM', 'big'], ['XDEL', 'big', '340-0', '341-0'],
      ['XADD', 'big', 'MAXLEN', '~', '5', '400-0', 'a', 'b'], ['XINFO', 'STREAM', 'big'],
      ...Array.from({ length: 60 }, (_, i) => ['XADD', 'wide', `${i + 1}-${i % 3}`, 'k', 'x'.repeat(i * 7), `n${i % 4}`, String(i * 1000)]),
      ['XINFO', 'STREAM', 'wide'], ['XTRIM', 'wide', 'MAXLEN', '~', '30'], ['XLEN', 'wide'], ['XINFO', 'STREAM', 'wide'],
      ['XADD', 'wide', 'MINID', '~', '40', '100-1', 'a', 'b'], ['XLEN', 'wide'], ['XRANGE', 'wide', '-', '+', 'COUNT', 3],
      // XSETID
      ['XSETID', 's', '1-1'], ['XSETID', 's', '30-1'], ['XADD', 's', '30-1', 'a', 'b'], ['XADD', 's', '30-*', 'a', 'b'],
      ['XSETID', 'nokey', '1-1'], ['XSETID', 's', 'x'], ['XSETID', 's', '40-1', 'ENTRIESADDED', '1'], ['XSETID', 's', '40-1', 'ENTRIESADDED', '-1'],
      ['XSETID', 's', '40-1', 'ENTRIESADDED', '100', 'MAXDELETEDID', '50-0'], ['XSETID', 's', '40-1', 'MAXDELETEDID', '35-0'],
      ['XINFO', 'STREAM', 's'], ['XSETID', 's', '36-1'], ['XSETID', 's', '40-1', 'FOO'], ['XSETID', 's', '+'], ['XSETID', 's', '-'],
      ['XDEL', 's', '30-2'], ['XSETID', 's', '50-1'], ['XINFO', 'STREAM', 's'],
      ['XADD', 'e', 'MAXLEN', '0', '1-1', 'a', 'b'], ['XINFO', 'STREAM', 'e'], ['XADD', 'e', '1-1', 'a', 'b'], ['TYPE', 'e'],
      ['XADD', 'int', '1-1', '1', '2', '100', '-5'], ['XADD', 'int', '2-1', '1', '3', '100', '7'], ['XRANGE', 'int', '-', '+'],
      ['TYPE', 'int'],
      // listpack sizes: every integer width and string length class decides where nodes split (one
      // stream per class, enough entries to fill several nodes; SAMEFIELDS and own-field entries)
      ...['0', '127', '128', '-1', '4095', '4096', '-4096', '-4097', '32767', '32768', '-32769', '8388607', '8388608',
        '-8388609', '2147483647', '2147483648', '-2147483649', '9223372036854775807', '-9223372036854775808',
        '9223372036854775808', '007', '-0', '1.5', ' 1', 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(62), 'x'.repeat(65),
        'x'.repeat(4000), 'x'.repeat(126), 'x'.repeat(127), 'x'.repeat(128), 'x'.repeat(16380), 'x'.repeat(16381), 'x'.repeat(16390)]
        .flatMap((v, i) => [
          ...Array.from({ length: 130 }, (_, j) => ['XADD', `lp${i}`, `${j + 1}-${j * 300}`, ...(j % 5 === 4 ? ['other', v] : ['k', v]), 'n', String(j * 1000)]),
          ['XINFO', 'STREAM', `lp${i}`], ['XTRIM', `lp${i}`, 'MAXLEN', '~', '70'], ['XLEN', `lp${i}`],
          // the same with nodes split by bytes only (small entries never reach 100 per node otherwise)
          ['CONFIG', 'SET', 'stream-node-max-entries', '0'], ['CONFIG', 'SET', 'stream-node-max-bytes', '300'],
          ...Array.from({ length: 130 }, (_, j) => ['XADD', `lq${i}`, `${j + 1}-${j * 300}`, ...(j % 5 === 4 ? ['other', v] : ['k', v]), 'n', String(j * 1000)]),
          ['XINFO', 'STREAM', `lq${i}`], ['XTRIM', `lq${i}`, 'MAXLEN', '~', '70'], ['XLEN', `lq${i}`],
          ['CONFIG', 'SET', 'stream-node-max-entries', '100'], ['CONFIG', 'SET', 'stream-node-max-bytes', '4096'],
        ]),
      // smaller nodes, as CONFIG SET allows
      ['CONFIG', 'GET', 'stream-node-max-bytes'], ['CONFIG', 'SET', 'stream-node-max-entries', '7'], ['CONFIG', 'SET', 'stream-node-max-bytes', '300'],
      ['CONFIG', 'GET', 'stream-node-max-entries'], ['CONFIG', 'GET', 'stream-node-max-bytes'], ['CONFIG', 'SET', 'stream-node-max-entries', '-1'],
      ...Array.from({ length: 120 }, (_, i) => ['XADD', 'small', `${i + 1}-1`, 'f', 'y'.repeat(i % 40), 'n', String(i)]),
      ['XINFO', 'STREAM', 'small'], ['XTRIM', 'small', 'MAXLEN', '~', '50'], ['XLEN', 'small'], ['XINFO', 'STREAM', 'small'],
      ['XTRIM', 'small', 'MINID', '~', '100'], ['XLEN', 'small'], ['XTRIM', 'small', 'MAXLEN', '~', '0'], ['XLEN', 'small'],
      ['CONFIG', 'SET', 'stream-node-max-entries', '0'], ['CONFIG', 'SET', 'stream-node-max-bytes', '0'],
      ...Array.from({ length: 150 }, (_, i) => ['XADD', 'huge', `${i + 1}-1`, 'f', 'z'.repeat(i)]),
      ['XINFO', 'STREAM', 'huge'], ['XTRIM', 'huge', 'MAXLEN', '~', '10'], ['XLEN', 'huge'],
      ['CONFIG', 'SET', 'stream-node-max-entries', '2'], ['XADD', 'huge', 'MAXLEN', '~', '1', '999-1', 'a', 'b'], ['XLEN', 'huge'],
      ['CONFIG', 'SET', 'stream-node-max-entries', '100'], ['CONFIG', 'SET', 'stream-node-max-bytes', '4096'],
    ]);
  } finally {
    await p.stop();
  }
});

test('consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO equal redis-server', async () => {
  const p = await startPair();
  try {
    const T = 1700000000000;
    await same(p, [
      ['XGROUP', 'CREATE', 's', 'g', '$'], ['XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM'], ['XGROUP', 'CREATE', 's', 'g', '$', 'MKSTREAM'],
      ['XINFO', 'STREAM', 's'], ['XINFO', 'GROUPS', 's'], ['TYPE', 's'], ['XLEN', 's'],
      ...Array.from({ length: 12 }, (_, i) => ['XADD', 's', `${i + 1}-1`, 'f', `v${i}`, 'n', String(i)]),
      ['XGROUP', 'CREATE', 's', 'g2', '0'], ['XGROUP', 'CREATE', 's', 'g3', '5-1', 'ENTRIESREAD', '3'],
      ['XGROUP', 'CREATE', 's', 'g4', '0', 'ENTRIESREAD', '-2'], ['XGROUP', 'CREATE', 's', 'g4', '0', 'ENTRIESREAD', 'x'],
      ['XGROUP', 'CREATE', 's', 'g4', 'x'], ['XGROUP', 'CREATE', 's', 'g4', '-'], ['XGROUP', 'CREATE', 's', 'g4', '0', 'FOO'],
      ['XGROUP', 'CREATE', 's', 'g4', '0', 'ENTRIESREAD'], ['XGROUP', 'CREATE', 's', 'g4', '0', 'MKSTREAM', 'ENTRIESREAD', '1', 'X'],
      ['XGROUP', 'CREATE', 'nokey', 'g', '0'], ['XGROUP', 'CREATE', 's'], ['XGROUP', 'SETID', 's', 'nog', '0'],
      ['XGROUP', 'SETID', 's', 'g2', '0', 'ENTRIESREAD'], ['XGROUP', 'SETID', 's', 'g2', '0', 'MKSTREAM'], ['XGROUP', 'FOO'],
      ['XGROUP'], ['XGROUP', 'HELP'], ['XGROUP', 'HELP', 'x'], ['XGROUP', 'DESTROY', 's'], ['XGROUP', 'CREATECONSUMER', 's', 'g'],
      ['XINFO', 'GROUPS', 's'],
      ['XREADGROUP', 'GROUP', 'g2', 'alice', 'COUNT', '3', 'STREAMS', 's', '>'],
      ['XREADGROUP', 'GROUP', 'g2', 'bob', 'COUNT', '2', 'STREAMS', 's', '>'],
      ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 's', '0'], ['XREADGROUP', 'GROUP', 'g2', 'alice', 'COUNT', '1', 'STREAMS', 's', '1-1'],
      ['XREADGROUP', 'GROUP', 'g2', 'carol', 'NOACK', 'COUNT', '2', 'STREAMS', 's', '>'],
      ['XREADGROUP', 'GROUP', 'g2', 'carol', 'STREAMS', 's', '0'],
      ['XREADGROUP', 'GROUP', 'g3', 'x', 'STREAMS', 's', '>'], ['XINFO', 'GROUPS', 's'],
      ['XREADGROUP', 'GROUP', 'nog', 'x', 'STREAMS', 's', '>'], ['XREADGROUP', 'GROUP', 'g2', 'x', 'STREAMS', 'nokey', '>'],
      ['XREADGROUP', 'GROUP', 'g2', 'x', 'STREAMS', 's', '$'], ['XREADGROUP', 'GROUP', 'g2', 'x', 'STREAMS', 's'],
      ['XREADGROUP', 'STREAMS', 's', '>'], ['XREADGROUP', 'GROUP', 'g2', 'x', 'STREAMS', 's', 'bad'], ['XREADGROUP', 'GROUP', 'g2'],
      ['XREADGROUP', 'GROUP', 'g2', 'x', 'COUNT', 'x', 'STREAMS', 's', '>'], ['XREADGROUP', 'GROUP', 'g2', 'x', 'BLOCK', '-1', 'STREAMS', 's', '>'],
      ['XREADGROUP', 'GROUP', 'g2', 'x', 'FOO', 'STREAMS', 's', '>'],
      ['XREAD', 'STREAMS', 's', '0'], ['XREAD', 'COUNT', '2', 'STREAMS', 's', 's', '5', '10-1'], ['XREAD', 'STREAMS', 's', '$'],
      ['XREAD', 'STREAMS', 's', '>'], ['XREAD', 'STREAMS', 's'], ['XREAD', 'GROUP', 'g', 'c', 'STREAMS', 's', '0'], ['XREAD', 'NOACK', 'STREAMS', 's', '0'],
      ['XREAD', 'COUNT', '1', 'STREAMS', 'nokey', 's', '0', '0'], ['XREAD', 'STREAMS', 'nokey', '0'], ['XREAD', 'STREAMS', 's', '12-1'],
      ['XREAD', 'BLOCK', 'x', 'STREAMS', 's', '0'], ['XREAD', 'BLOCK', '-5', 'STREAMS', 's', '0'], ['XREAD', 'COUNT', '0', 'STREAMS', 's', '10'],
      ['XREAD', 'COUNT', '-3', 'STREAMS', 's', '10'], ['XREAD', 'STREAMS', 's', '-'], ['XREAD', 'STREAMS', 's', '+'],
      ['XPENDING', 's', 'g2'], ['XPENDING', 's', 'g'], ['XPENDING', 's', 'nog'], ['XPENDING', 'nokey', 'g'], ['XPENDING', 's'],
      ['XPENDING', 's', 'g2', '-', '+'], ['XPENDING', 's', 'g2', '-', '+', 'x'], ['XPENDING', 's', 'g2', 'x', '+', '10'],
      ['XPENDING', 's', 'g2', 'IDLE', 'x', '-', '+', '10'], ['XPENDING', 's', 'g2', 'IDLE', '10', '-', '+'],
      ['XPENDING', 's', 'g2', '-', '+', '10', 'nobody'], ['XPENDING', 's', 'g2', '(-', '+', '10'],
      { args: ['XPENDING', 's', 'g2', '-', '+', '10'], mask: maskPendingExt },
      { args: ['XPENDING', 's', 'g2', '(1-1', '(4-1', '10', 'alice'], mask: maskPendingExt },
      { args: ['XPENDING', 's', 'g2', 'IDLE', '0', '-', '+', '2', 'bob'], mask: maskPendingExt },
      ['XPENDING', 's', 'g2', 'IDLE', '100000', '-', '+', '10'],
      ['XACK', 's', 'g2', '1-1', '2-1', '99-1'], ['XACK', 's', 'g2', '1-1'], ['XACK', 's', 'g2', 'x'], ['XACK', 's', 'nog', '1-1'],
      ['XACK', 'nokey', 'g', '1-1'], ['XACK', 's', 'g2', '3-1', 'bad'], ['XPENDING', 's', 'g2'],
      // XCLAIM with explicit TIME so the replies carry no clock
      ['XCLAIM', 's', 'g2', 'dave', '0', '3-1', '4-1', 'TIME', String(T), 'JUSTID'], ['XPENDING', 's', 'g2'],
      ['XCLAIM', 's', 'g2', 'dave', '0', '5-1', 'RETRYCOUNT', '7'], ['XCLAIM', 's', 'g2', 'erin', '3600000', '3-1', '5-1'],
      ['XCLAIM', 's', 'g2', 'erin', '0', '11-1', '12-1'], ['XCLAIM', 's', 'g2', 'erin', '0', '11-1', 'FORCE', 'TIME', String(T), 'RETRYCOUNT', '2'],
      ['XCLAIM', 's', 'g2', 'erin', '0', '99-1', 'FORCE'], ['XCLAIM', 's', 'g2', 'erin', 'x', '3-1'], ['XCLAIM', 's', 'g2', 'erin', '0', '3-1', 'IDLE', 'x'],
      ['XCLAIM', 's', 'g2', 'erin', '0', '3-1', 'TIME', 'x'], ['XCLAIM', 's', 'g2', 'erin', '0', '3-1', 'RETRYCOUNT', 'x'],
      ['XCLAIM', 's', 'g2', 'erin', '0', '3-1', 'LASTID', 'x'], ['XCLAIM', 's', 'g2', 'erin', '0', '3-1', 'BOGUS'],
      ['XCLAIM', 's', 'nog', 'erin', '0', '3-1'], ['XCLAIM', 'nokey', 'g', 'erin', '0', '3-1'], ['XCLAIM', 's', 'g2', 'erin', '0'],
      ['XCLAIM', 's', 'g2', 'erin', '0', '3-1', 'LASTID', '50-0', 'JUSTID'], ['XINFO', 'GROUPS', 's'],
      { args: ['XPENDING', 's', 'g2', '-', '+', '100'], mask: maskPendingExt },
      // deleted entries are dropped from the PEL by XCLAIM/XAUTOCLAIM
      ['XDEL', 's', '4-1', '6-1'], ['XREADGROUP', 'GROUP', 'g2', 'alice', 'STREAMS', 's', '0'],
      ['XCLAIM', 's', 'g2', 'frank', '0', '4-1', 'JUSTID'], ['XPENDING', 's', 'g2'],
      ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '0-0', 'COUNT', '2', 'JUSTID'], ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '0-0', 'COUNT', '1'],
      ['XAUTOCLAIM', 's', 'g2', 'gina', '3600000', '0-0'], ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '(5-1', 'JUSTID'],
      ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '-', 'COUNT', '0'], ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '-', 'COUNT', 'x'],
      ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '-', 'COUNT'], ['XAUTOCLAIM', 's', 'g2', 'gina', 'x', '-'], ['XAUTOCLAIM', 's', 'g2', 'gina', '0', 'x'],
      ['XAUTOCLAIM', 's', 'nog', 'gina', '0', '-'], ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '-', 'FOO'], ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '+'],
      ['XAUTOCLAIM', 's', 'g2', 'gina', '0', '(18446744073709551615-18446744073709551615'],
      ['XPENDING', 's', 'g2'], ['XINFO', 'GROUPS', 's'],
      { args: ['XINFO', 'CONSUMERS', 's', 'g2'], mask: maskConsumers },
      ['XINFO', 'CONSUMERS', 's', 'nog'], ['XINFO', 'CONSUMERS', 'nokey', 'g'], ['XINFO', 'CONSUMERS', 's'], ['XINFO', 'GROUPS', 'nokey'],
      ['XINFO', 'STREAM', 's', 'FULLX'], ['XINFO', 'STREAM', 's', 'FULL', 'COUNT'], ['XINFO', 'STREAM', 's', 'FULL', 'COUNT', 'x'],
      ['XINFO', 'STREAM', 's', 'FULL', 'LIMIT', '1'], ['XINFO', 'HELP'], ['XINFO', 'FOO'], ['XINFO'],
      { args: ['XINFO', 'STREAM', 's', 'FULL'], mask: maskFull },
      { args: ['XINFO', 'STREAM', 's', 'FULL', 'COUNT', '2'], mask: maskFull },
      { args: ['XINFO', 'STREAM', 's', 'FULL', 'COUNT', '0'], mask: maskFull },
      // consumers and groups go away
      ['XGROUP', 'CREATECONSUMER', 's', 'g2', 'zed'], ['XGROUP', 'CREATECONSUMER', 's', 'g2', 'zed'], ['XGROUP', 'CREATECONSUMER', 's', 'nog', 'zed'],
      ['XGROUP', 'DELCONSUMER', 's', 'g2', 'gina'], ['XGROUP', 'DELCONSUMER', 's', 'g2', 'nobody'], ['XPENDING', 's', 'g2'],
      ['XGROUP', 'SETID', 's', 'g2', '$'], ['XGROUP', 'SETID', 's', 'g2', '-'], ['XINFO', 'GROUPS', 's'], ['XGROUP', 'SETID', 's', 'g2', '2', 'ENTRIESREAD', '1'],
      ['XINFO', 'GROUPS', 's'], ['XREADGROUP', 'GROUP', 'g2', 'zed', 'COUNT', '3', 'STREAMS', 's', '>'], ['XINFO', 'GROUPS', 's'],
      ['XGROUP', 'DESTROY', 's', 'g2'], ['XGROUP', 'DESTROY', 's', 'g2'], ['XGROUP', 'DESTROY', 'nokey', 'g2'], ['XINFO', 'GROUPS', 's'],
      ['XTRIM', 's', 'MAXLEN', '0'], ['XINFO', 'GROUPS', 's'], ['XADD', 's', '20-1', 'a', 'b'], ['XINFO', 'GROUPS', 's'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>'], ['XINFO', 'GROUPS', 's'], ['DEL', 's'], ['XINFO', 'GROUPS', 's'],
      // RESP3 shapes
      { args: ['HELLO', '3'], mask: () => 0 }, ['XADD', 'r', '1-1', 'a', 'b'], ['XGROUP', 'CREATE', 'r', 'g', '0'], ['XREAD', 'STREAMS', 'r', '0'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 'r', '>'], ['XINFO', 'GROUPS', 'r'], ['XINFO', 'STREAM', 'r'], ['XPENDING', 'r', 'g'],
      ['XRANGE', 'r', '-', '+', 'COUNT', '0'], ['XREAD', 'STREAMS', 'r', '$'], ['XADD', 'nokey', 'NOMKSTREAM', '*', 'a', 'b'], ['XPENDING', 'r', 'nog'],
      ['XAUTOCLAIM', 'r', 'g', 'd', '0', '-', 'JUSTID'],
    ]);
  } finally {
    await p.stop();
  }
});

test('seeded random stream sequence (1,800 commands: adds, trims, deletes, groups, claims) equals redis-server', async () => {
  const p = await startPair();
  try {
    let seed = 4242;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return (seed >>> 12) % n; };
    const keys = ['sa', 'sb'];
    const st = { sa: { ms: 0, seq: 0, ids: [] }, sb: { ms: 0, seq: 0, ids: [] } };
    const groups = ['g0', 'g1', 'g2'];
    const cons = ['c0', 'c1', 'c2', 'c3'];
    const fieldsets = [['f'], ['f', 'g'], ['1', '2'], ['f', 'h'], ['name', 'age', 'city']];
    const val = () => { const r = rnd(10); return r < 3 ? String(rnd(100000) - 500) : r < 4 ? 'x'.repeat(rnd(900)) : `v${rnd(50)}`; };
    const anyId = (k) => { const a = st[k].ids; return a.length && rnd(4) ? a[rnd(a.length)] : `${rnd(st[k].ms + 3)}-${rnd(3)}`; };
    const bound = (k) => { const r = rnd(6); return r === 0 ? '-' : r === 1 ? '+' : (r === 2 ? '(' : '') + anyId(k); };
    const trim = (k) => {
      const r = rnd(8);
      if (r === 0) return ['MAXLEN', String(rnd(150))];
      if (r === 1) return ['MAXLEN', '~', String(rnd(300))];
      if (r === 2) return ['MAXLEN', '~', String(rnd(300)), 'LIMIT', String(rnd(250))];
      if (r === 3) return ['MINID', anyId(k)];
      if (r === 4) return ['MINID', '~', anyId(k)];
      if (r === 5) return ['MAXLEN', '=', String(rnd(200))];
      return [];
    };
    const cmds = [];
    for (let i = 0; i < 1800; i++) {
      const k = keys[rnd(2)], s = st[k];
      const r = rnd(100);
      if (r < 45) {
        let id;
        const q = rnd(20);
        if (q === 0) id = `${s.ms}-${s.seq}`; // equal: error
        else if (q === 1) id = `${s.ms}-*`;
        else if (q < 6) { s.seq += 1 + rnd(3); id = `${s.ms}-${s.seq}`; }
        else { s.ms += 1 + rnd(2); s.seq = rnd(5); id = `${s.ms}-${s.seq}`; }
        if (q === 1) { s.seq += 1; id = `${s.ms}-*`; }
        if (q !== 0) s.ids.push(`${s.ms}-${s.seq}`);
        const fs = fieldsets[rnd(fieldsets.length)];
        const args = ['XADD', k, ...(rnd(6) === 0 ? trim(k) : []), id];
        for (const f of fs) args.push(f, val());
        cmds.push(args);
      } else if (r < 50) cmds.push(['XDEL', k, anyId(k), ...(rnd(2) ? [anyId(k)] : [])]);
      else if (r < 54) { const t = trim(k); cmds.push(t.length ? ['XTRIM', k, ...t] : ['XLEN', k]); }
      else if (r < 62) cmds.push([rnd(2) ? 'XRANGE' : 'XREVRANGE', k, bound(k), bound(k), ...(rnd(2) ? ['COUNT', String(rnd(20))] : [])]);
      else if (r < 65) cmds.push(['XINFO', 'STREAM', k]);
      else if (r < 68) cmds.push(['XGROUP', 'CREATE', k, groups[rnd(3)], rnd(3) ? anyId(k) : '$', ...(rnd(2) ? ['MKSTREAM'] : [])]);
      else if (r < 69) cmds.push(['XGROUP', 'SETID', k, groups[rnd(3)], rnd(3) ? anyId(k) : '$', ...(rnd(3) ? [] : ['ENTRIESREAD', String(rnd(50))])]);
      else if (r < 70) cmds.push(['XGROUP', rnd(3) ? 'CREATECONSUMER' : 'DELCONSUMER', k, groups[rnd(3)], cons[rnd(4)]]);
      else if (r < 71 && rnd(4) === 0) cmds.push(['XGROUP', 'DESTROY', k, groups[rnd(3)]]);
      else if (r < 80) cmds.push(['XREADGROUP', 'GROUP', groups[rnd(3)], cons[rnd(4)], 'COUNT', String(rnd(15) + 1), ...(rnd(5) ? [] : ['NOACK']), 'STREAMS', k, rnd(4) ? '>' : '0']);
      else if (r < 84) cmds.push(['XACK', k, groups[rnd(3)], anyId(k), anyId(k)]);
      else if (r < 86) cmds.push(['XPENDING', k, groups[rnd(3)]]);
      else if (r < 88) cmds.push(['XINFO', 'GROUPS', k]);
      else if (r < 91) cmds.push(['XCLAIM', k, groups[rnd(3)], cons[rnd(4)], '0', anyId(k), anyId(k), 'TIME', '1700000000000', ...(rnd(2) ? ['JUSTID'] : ['RETRYCOUNT', String(rnd(9))]), ...(rnd(3) ? [] : ['FORCE'])]);
      else if (r < 94) cmds.push(['XAUTOCLAIM', k, groups[rnd(3)], cons[rnd(4)], '0', rnd(2) ? '-' : anyId(k), 'COUNT', String(rnd(10) + 1), 'JUSTID']);
      else if (r < 97) cmds.push(['XREAD', 'COUNT', String(rnd(10) + 1), 'STREAMS', k, anyId(k)]);
      else if (r < 98) cmds.push({ args: ['XINFO', 'STREAM', k, 'FULL', 'COUNT', String(rnd(5))], mask: maskFull });
      else if (r < 99) { s.ms += 2; cmds.push(['XSETID', k, `${s.ms}-0`]); s.seq = 0; }
      else cmds.push(['XLEN', k]);
    }
    cmds.push(['XINFO', 'STREAM', 'sa'], ['XINFO', 'STREAM', 'sb'], ['XRANGE', 'sa', '-', '+'], ['XRANGE', 'sb', '-', '+']);
    const replies = await same(p, cmds);
    // the sequence must exercise the commands, not only their errors
    const errors = replies.filter((b) => b[0] === 0x2d).length;
    const read = cmds.filter((c, i) => Array.isArray(c) && c[0] === 'XREADGROUP' && replies[i][0] === 0x2a && replies[i][1] !== 0x2d).length;
    if (process.env.DBG) { const m = {}; replies.forEach((b, i) => { if (b[0] === 0x2d) { const key = (Array.isArray(cmds[i]) ? cmds[i][0] : "x") + " " + b.toString().slice(0, 60); m[key] = (m[key] || 0) + 1; } }); console.log(m); }
    assert.ok(errors < replies.length / 5, `${errors} errors of ${replies.length}`);
    assert.ok(read > 50, `only ${read} XREADGROUP replies with entries`);
    assert.ok(dec(await p.bc.call('XLEN', 'sa')) > 20);
  } finally {
    await p.stop();
  }
});

test('BLOCK: XADD from another client wakes XREAD and XREADGROUP like redis-server; timeouts, MULTI, group destroyed', async () => {
  const p = await startPair();
  const extra = await Promise.all([RawClient.connect(p.redis.port), RawClient.connect(p.bunder.port),
    RawClient.connect(p.redis.port), RawClient.connect(p.bunder.port)]);
  const [ra, ba, rb, bb] = extra;
  try {
    // waiter sends on (ra, ba); the writer is p.rc / p.bc
    const blockCase = async (waitArgs, writes, waiters = [[ra, ba]]) => {
      for (const [r, b] of waiters) { r.send(waitArgs); b.send(waitArgs); }
      await sleep(100);
      await same(p, writes);
      for (const [r, b] of waiters) {
        const [x, y] = await Promise.all([r.next(3000), b.next(3000)]);
        assert.equal(y.toString('latin1'), x.toString('latin1'), `blocked ${JSON.stringify(waitArgs)} got a different reply`);
      }
    };
    await same(p, [['XADD', 'k', '1-1', 'a', '1']]);
    await blockCase(['XREAD', 'BLOCK', '0', 'STREAMS', 'k', '$'], [['XADD', 'k', '2-1', 'b', '2']]);
    await blockCase(['XREAD', 'BLOCK', '5000', 'STREAMS', 'none', 'k', '$', '$'], [['XADD', 'none', '7-1', 'c', '3']]);
    await blockCase(['XREAD', 'BLOCK', '0', 'COUNT', '1', 'STREAMS', 'k', '2-1'], [['XADD', 'k', '3-1', 'a', 'x'], ['XADD', 'k', '4-1', 'a', 'y']]);
    // two readers on one stream are both served by one XADD
    await blockCase(['XREAD', 'BLOCK', '0', 'STREAMS', 'k', '$'], [['XADD', 'k', '5-1', 'z', 'z']], [[ra, ba], [rb, bb]]);
    // consumer groups: the entry is delivered once, the PEL records it
    await same(p, [['XGROUP', 'CREATE', 'k', 'g', '$']]);
    await blockCase(['XREADGROUP', 'GROUP', 'g', 'alice', 'BLOCK', '0', 'STREAMS', 'k', '>'], [['XADD', 'k', '6-1', 'q', '1']]);
    await same(p, [['XPENDING', 'k', 'g'], ['XINFO', 'GROUPS', 'k']]);
    await blockCase(['XREADGROUP', 'GROUP', 'g', 'bob', 'NOACK', 'BLOCK', '0', 'STREAMS', 'k', '>'], [['XADD', 'k', '7-1', 'q', '2']]);
    await same(p, [['XPENDING', 'k', 'g'], { args: ['XINFO', 'CONSUMERS', 'k', 'g'], mask: maskConsumers }]);
    // a destroyed group answers its blocked readers with -NOGROUP
    await blockCase(['XREADGROUP', 'GROUP', 'g', 'carol', 'BLOCK', '0', 'STREAMS', 'k', '>'], [['XGROUP', 'DESTROY', 'k', 'g']]);
    // a deleted (or replaced) stream unblocks group readers with -UNBLOCKED, plain readers keep waiting
    await same(p, [['XGROUP', 'CREATE', 'k', 'g', '$']]);
    await blockCase(['XREADGROUP', 'GROUP', 'g', 'dan', 'BLOCK', '0', 'STREAMS', 'k', '>'], [['DEL', 'k']]);
    await same(p, [['XADD', 'k', '8-1', 'a', 'b'], ['XGROUP', 'CREATE', 'k', 'g', '$']]);
    await blockCase(['XREADGROUP', 'GROUP', 'g', 'dan', 'BLOCK', '0', 'STREAMS', 'k', '>'], [['SET', 'k', 'str']]);
    await blockCase(['XREAD', 'BLOCK', '0', 'STREAMS', 'k2', '$'], [['SET', 'k2', 'x'], ['DEL', 'k2'], ['XADD', 'k2', '1-1', 'a', 'b']]);
    await same(p, [['DEL', 'k'], ['XADD', 'k', '9-1', 'a', 'b']]);
    // timeouts and contexts that cannot block
    for (const args of [['XREAD', 'BLOCK', '50', 'STREAMS', 'k', '$'], ['XREAD', 'BLOCK', '50', 'STREAMS', 'nokey', '0']]) {
      const t0 = Date.now();
      await same(p, [args]);
      assert.ok(Date.now() - t0 >= 45);
    }
    await same(p, [['MULTI'], ['XREAD', 'BLOCK', '0', 'STREAMS', 'k', '$'], ['EXEC']]);
    // the connection keeps working after a wake-up, and a blocked reader does not take BLPOP's pops
    await same(p, [['XRANGE', 'k', '-', '+', 'COUNT', '2']]);
    ra.send(['XREAD', 'BLOCK', '0', 'STREAMS', 'lst', '$']); ba.send(['XREAD', 'BLOCK', '0', 'STREAMS', 'lst', '$']);
    rb.send(['BLPOP', 'lst', '0']); bb.send(['BLPOP', 'lst', '0']);
    await sleep(100);
    await same(p, [['RPUSH', 'lst', 'v']]);
    const [x, y] = await Promise.all([rb.next(3000), bb.next(3000)]);
    assert.equal(y.toString(), x.toString());
    await same(p, [['DEL', 'lst'], ['XADD', 'lst', '1-1', 'a', 'b']]);
    const [x2, y2] = await Promise.all([ra.next(3000), ba.next(3000)]);
    assert.equal(y2.toString(), x2.toString());
  } finally {
    for (const c of extra) c.close();
    await p.stop();
  }
});

test('auto ids: XADD * and <ms>-* follow the clock and stay increasing', async () => {
  const b = await startBunder();
  const c = await Client.connect(b.port);
  try {
    const before = Date.now();
    const ids = [];
    for (let i = 0; i < 200; i++) ids.push(await c.call('XADD', 'auto', '*', 'i', String(i)));
    const after = Date.now();
    const parse = (id) => { const m = /^(\d+)-(\d+)$/.exec(id); assert.ok(m, id); return [BigInt(m[1]), BigInt(m[2])]; };
    let prev = [0n, 0n];
    for (const id of ids) {
      const [ms, seq] = parse(id);
      assert.ok(ms >= BigInt(before) - 1n && ms <= BigInt(after) + 1n, `${id} outside [${before}, ${after}]`);
      assert.ok(ms > prev[0] || (ms === prev[0] && seq > prev[1]), `${id} not after ${prev}`);
      if (ms > prev[0]) assert.equal(seq, 0n);
      prev = [ms, seq];
    }
    // a future ms then * keeps the ms and counts the sequence up
    const fut = BigInt(after) + 100000n;
    assert.equal(await c.call('XADD', 'auto', `${fut}-5`, 'a', 'b'), `${fut}-5`);
    assert.equal(await c.call('XADD', 'auto', '*', 'a', 'b'), `${fut}-6`);
    assert.equal(await c.call('XADD', 'auto', `${fut}-*`, 'a', 'b'), `${fut}-7`);
    assert.equal(await c.call('XADD', 'auto', `${fut + 1n}-*`, 'a', 'b'), `${fut + 1n}-0`);
    assert.equal(await c.call('XLEN', 'auto'), 204);
    // MAXLEN ~ with an auto id and the propagation of an exhausted stream
    assert.equal(await c.call('XSETID', 'auto', '18446744073709551615-18446744073709551615'), 'OK');
    assert.deepEqual(await c.call('XADD', 'auto', '*', 'a', 'b'), { error: 'ERR The stream has exhausted the last possible ID, unable to add more items' });
  } finally {
    c.close();
    await b.stop();
  }
});

/** Everything observable about the streams (delivery times included; seen-time masked when the
 * consumers were re-created by a replay, radix-tree sizes dropped when the node layout may change). */
async function streamState(c, keys, { seen = true, nodes = true } = {}) {
  const out = {};
  for (const k of keys) {
    const full = await c.call('XINFO', 'STREAM', k, 'FULL', 'COUNT', '0');
    const info = await c.call('XINFO', 'STREAM', k);
    const groups = await c.call('XINFO', 'GROUPS', k);
    const fix = (arr) => {
      const o = [...arr];
      if (!nodes) for (const f of ['radix-tree-keys', 'radix-tree-nodes']) o[o.indexOf(f) + 1] = 'N';
      return o;
    };
    out[k] = { full: seen ? fix(full) : maskSeen(fix(full)), info: fix(info), groups, type: await c.call('TYPE', k), ttl: await c.call('TTL', k) };
  }
  return out;
}
function maskSeen(full) {
  const o = [...full];
  const gi = o.indexOf('groups');
  o[gi + 1] = o[gi + 1].map((g) => {
    const gg = [...g];
    const ci = gg.indexOf('consumers');
    gg[ci + 1] = gg[ci + 1].map((k) => { const kk = [...k]; kk[kk.indexOf('seen-time') + 1] = 'T'; return kk; });
    return gg;
  });
  return o;
}

test('streams, groups, PELs and last ids survive AOF restarts (kill -9, after BGREWRITEAOF) and snapshots', async () => {
  let b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always']);
  const dir = b.dir;
  let c = await Client.connect(b.port);
  const keys = ['s1', 's2', 'empty', 'ttl'];
  try {
    for (let i = 1; i <= 250; i++) await c.call('XADD', 's1', `${i}-${i % 3}`, 'f', `v${i}`, ...(i % 7 ? [] : ['extra', 'x'.repeat(i)]));
    await c.call('XADD', 's1', 'MAXLEN', '~', '180', '300-1', 'f', 'last');
    await c.call('XADD', 's1', '*', 'auto', 'id');
    await c.call('XDEL', 's1', '120-0', '121-1', '200-2');
    await c.call('XGROUP', 'CREATE', 's1', 'g1', '0');
    await c.call('XGROUP', 'CREATE', 's1', 'g2', '150-0', 'ENTRIESREAD', '40');
    await c.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '10', 'STREAMS', 's1', '>');
    await c.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', '5', 'STREAMS', 's1', '>');
    await c.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'STREAMS', 's1', '0'); // history: delivery counts go up
    await c.call('XREADGROUP', 'GROUP', 'g2', 'nack', 'NOACK', 'COUNT', '3', 'STREAMS', 's1', '>');
    await c.call('XACK', 's1', 'g1', ...(await c.call('XPENDING', 's1', 'g1', '-', '+', '3', 'alice')).map((e) => e[0]));
    const some = (await c.call('XPENDING', 's1', 'g1', '-', '+', '2', 'bob')).map((e) => e[0]);
    await c.call('XCLAIM', 's1', 'g1', 'carol', '0', ...some, 'TIME', '1700000000000', 'RETRYCOUNT', '9');
    await c.call('XAUTOCLAIM', 's1', 'g1', 'dave', '0', '-', 'COUNT', '2');
    await c.call('XGROUP', 'CREATECONSUMER', 's1', 'g2', 'idle');
    await c.call('XTRIM', 's1', 'MINID', '~', '100');
    await c.call('XADD', 's2', '5-5', 'a', 'b');
    await c.call('XGROUP', 'CREATE', 's2', 'g', '$');
    await c.call('XSETID', 's2', '99-0', 'ENTRIESADDED', '50', 'MAXDELETEDID', '7-0');
    await c.call('XGROUP', 'CREATE', 'empty', 'g', '$', 'MKSTREAM');
    await c.call('XADD', 'empty', '3-3', 'a', 'b');
    await c.call('XREADGROUP', 'GROUP', 'g', 'x', 'STREAMS', 'empty', '>');
    await c.call('XTRIM', 'empty', 'MAXLEN', '0');
    await c.call('XADD', 'ttl', '1-1', 'a', 'b');
    await c.call('EXPIRE', 'ttl', '1000');
    const want = await streamState(c, keys);
    assert.equal(want.s1.info[want.s1.info.indexOf('length') + 1] > 100, true);
    c.close();
    await b.kill();

    b = await startBunder(['--appendonly', 'yes'], { dir });
    c = await Client.connect(b.port);
    const strip = (st) => { for (const k of keys) st[k].ttl = st[k].ttl > 0 ? 'ttl' : st[k].ttl; return st; };
    const noSeen = (st) => { for (const k of keys) st[k].full = maskSeen(st[k].full); return st; };
    assert.deepEqual(strip(noSeen(await streamState(c, keys))), strip(noSeen(structuredClone(want))));
    // the AOF rewrite writes the live entries only (new node layout) and the same groups and PELs
    assert.equal(await c.call('BGREWRITEAOF'), 'Background append only file rewriting started');
    for (let i = 0; i < 100 && /aof_rewrite_in_progress:1/.test(await c.call('INFO', 'persistence')); i++) await sleep(50);
    await sleep(100);
    c.close();
    await b.stop();
    b = await startBunder(['--appendonly', 'yes'], { dir });
    c = await Client.connect(b.port);
    const rewritten = strip(await streamState(c, keys, { seen: false, nodes: false }));
    const wantN = strip(structuredClone(want));
    for (const k of keys) for (const f of ['full', 'info']) {
      const o = wantN[k][f];
      for (const x of ['radix-tree-keys', 'radix-tree-nodes']) o[o.indexOf(x) + 1] = 'N';
      if (f === 'full') wantN[k][f] = maskSeen(o);
    }
    assert.deepEqual(rewritten, wantN);
    // snapshot: everything, seen-times and node layout included
    const before = await streamState(c, keys);
    assert.equal(await c.call('SAVE'), 'OK');
    c.close();
    await b.stop();
    b = await startBunder(['--appendonly', 'no'], { dir });
    c = await Client.connect(b.port);
    assert.deepEqual(strip(await streamState(c, keys)), strip(before));
    assert.equal(await c.call('XADD', 's2', '99-0', 'a', 'b').then((r) => r.error), 'ERR The ID specified in XADD is equal or smaller than the target stream top item');
  } finally {
    c.close();
    await b.stop();
  }
});

test('keyspace: TYPE, SCAN TYPE, WATCH, RENAME, EXPIRE, OBJECT-free memory accounting and maxmemory', async () => {
  const p = await startPair();
  const [r2, b2] = await Promise.all([RawClient.connect(p.redis.port), RawClient.connect(p.bunder.port)]);
  try {
    await same(p, [
      ['XADD', 'st', '1-1', 'a', 'b'], ['TYPE', 'st'], ['SCAN', '0', 'TYPE', 'stream'], ['SCAN', '0', 'TYPE', 'hash'],
      ['GET', 'st'], ['LPUSH', 'st', 'x'], ['HSET', 'st', 'a', 'b'], ['RENAME', 'st', 'st2'], ['XLEN', 'st2'], ['EXISTS', 'st'],
      ['EXPIRE', 'st2', '100'], ['TTL', 'st2'], ['XADD', 'st2', '2-1', 'c', 'd'], ['TTL', 'st2'], ['PERSIST', 'st2'],
      ['XGROUP', 'CREATE', 'st2', 'g', '0'], ['RENAME', 'st2', 'st'], ['XINFO', 'GROUPS', 'st'],
      // WATCH: a write by another client aborts EXEC; a read does not
      ['WATCH', 'st'], ['MULTI'], ['XLEN', 'st'],
    ]);
    await Promise.all([r2.call('XRANGE', 'st', '-', '+'), b2.call('XRANGE', 'st', '-', '+')]);
    await same(p, [['EXEC'], ['WATCH', 'st'], ['MULTI'], ['XLEN', 'st']]);
    await Promise.all([r2.call('XADD', 'st', '3-1', 'e', 'f'), b2.call('XADD', 'st', '3-1', 'e', 'f')]);
    await same(p, [['EXEC'], ['WATCH', 'st'], ['MULTI'], ['XLEN', 'st']]);
    await Promise.all([r2.call('XGROUP', 'SETID', 'st', 'g', '0'), b2.call('XGROUP', 'SETID', 'st', 'g', '0')]);
    await same(p, [['EXEC'], ['WATCH', 'st'], ['MULTI'], ['XLEN', 'st']]);
    await Promise.all([r2.call('XTRIM', 'st', 'MAXLEN', '1'), b2.call('XTRIM', 'st', 'MAXLEN', '1')]);
    await same(p, [['EXEC'], ['MULTI'], ['XADD', 'st', '9-1', 'a', 'b'], ['XREAD', 'STREAMS', 'st', '0'], ['EXEC'], ['DEL', 'st'], ['TYPE', 'st']]);
    // memory: MEMORY USAGE grows with entries, INFO used_memory sees them, maxmemory refuses XADD
    const bc = p.bc;
    const usage = async () => Number(dec(await bc.call('MEMORY', 'USAGE', 'mem')));
    const used = async () => Number(/used_memory:(\d+)/.exec(dec(await bc.call('INFO', 'memory')))[1]);
    await bc.call('XADD', 'mem', '1-1', 'f', 'v');
    const u1 = await usage(), m1 = await used();
    for (let i = 2; i < 2000; i++) await bc.call('XADD', 'mem', `${i}-1`, 'field', 'x'.repeat(100));
    assert.ok(await usage() > u1 + 150000, 'MEMORY USAGE counts the entries');
    assert.ok(await used() > m1 + 150000, 'used_memory counts the entries');
    await bc.call('CONFIG', 'SET', 'maxmemory', String((await used()) + 50000));
    let oom = null;
    for (let i = 2000; i < 4000 && !oom; i++) {
      const r = dec(await bc.call('XADD', 'mem', `${i}-1`, 'field', 'x'.repeat(100)));
      if (r && r.error) oom = r.error;
    }
    assert.match(oom || '', /^OOM command not allowed/);
    assert.equal(dec(await bc.call('XLEN', 'mem')) < 4000, true);
    assert.equal(dec(await bc.call('XTRIM', 'mem', 'MAXLEN', '10')) > 0, true); // trimming is allowed and frees
    await bc.call('CONFIG', 'SET', 'maxmemory', '0');
  } finally {
    r2.close(); b2.close();
    await p.stop();
  }
});

test('streams from Lua scripts: reads and writes work, BLOCK is refused like Redis', async () => {
  const p = await startPair();
  try {
    await same(p, [
      ['EVAL', "redis.call('xadd', KEYS[1], '1-1', 'a', 'b') return redis.call('xrange', KEYS[1], '-', '+')", 1, 'ls'],
      ['EVAL', "return redis.call('xread', 'count', 1, 'streams', KEYS[1], '0')", 1, 'ls'],
      ['EVAL', "return redis.call('xread', 'block', '0', 'streams', KEYS[1], '0')", 1, 'ls'],
      ['EVAL', "return redis.call('XREADgroup', 'group', 'g', 'c', 'block', '0', 'streams', KEYS[1], '>')", 1, 'ls'],
      ['EVAL', "redis.call('xgroup', 'create', KEYS[1], 'g', '0') return redis.call('xreadgroup', 'group', 'g', 'c', 'streams', KEYS[1], '>')", 1, 'ls'],
      ['XPENDING', 'ls', 'g'], ['EVAL', "return redis.call('xinfo', 'groups', KEYS[1])", 1, 'ls'],
    ]);
  } finally {
    await p.stop();
  }
});

test('streams through the bunder-manager endpoint: a tenant adds, reads in a group and is woken from BLOCK', async () => {
  const mgr = await startManager();
  try {
    const a = await respFor(mgr, 'p1');
    const w = await respFor(mgr, 'p1');
    const other = await respFor(mgr, 'p2');
    try {
      assert.equal(str(await a.call('XADD', 'ev', '1-1', 'type', 'signup')), '1-1');
      assert.equal(str(await a.call('XGROUP', 'CREATE', 'ev', 'workers', '0')), 'OK');
      const got = await a.call('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', '10', 'STREAMS', 'ev', '>');
      assert.equal(str(got[0][1][0][0]), '1-1');
      assert.equal(await a.call('XACK', 'ev', 'workers', '1-1'), 1);
      // a blocked reader on the same project is woken by another connection's XADD
      w.writeRaw(encodeCommand(['XREADGROUP', 'GROUP', 'workers', 'w2', 'BLOCK', '5000', 'STREAMS', 'ev', '>']));
      await sleep(200);
      assert.equal(str(await a.call('XADD', 'ev', '2-1', 'type', 'login')), '2-1');
      const woke = await w.reply(3000);
      assert.equal(str(woke[0][0]), 'ev');
      assert.equal(str(woke[0][1][0][0]), '2-1');
      // another project sees nothing of it
      assert.equal(await other.call('XLEN', 'ev'), 0);
      assert.equal(str(await other.call('TYPE', 'ev')), 'none');
    } finally {
      a.close();
      w.close();
      other.close();
    }
  } finally {
    await mgr.server.stop('SIGTERM').catch(() => {});
    mgr.cleanup();
  }
});

test('snapshot format: version 1 files of earlier bunders still load; SAVE writes an RDB with the stream', async () => {
  const zlib = await import('node:zlib');
  const fsm = await import('node:fs');
  const pathm = await import('node:path');
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
  const file = (magic, records) => {
    const body = Buffer.concat([Buffer.from(magic), u64(Date.now()), ...records, Buffer.from([0xff]), u64(records.length)]);
    return Buffer.concat([body, u32(zlib.crc32(body))]);
  };
  const str = (k, v) => Buffer.concat([Buffer.from([0]), u64(0), u32(k.length), Buffer.from(k), u32(v.length), Buffer.from(v)]);
  // a v1 file written by an earlier bunder: one string key
  let b = await startBunder(['--appendonly', 'no']);
  const dir = b.dir;
  await b.stop();
  fsm.writeFileSync(pathm.join(dir, 'dump.bdb'), file('BNDRSNP1', [str('old', 'value')]));
  b = await startBunder(['--appendonly', 'no'], { dir });
  let c = await Client.connect(b.port);
  assert.equal(await c.call('GET', 'old'), 'value');
  // SAVE writes an RDB file (Redis 7.0's format, rdb.c), the stream in it
  await c.call('XADD', 'st', '1-1', 'a', 'b');
  assert.equal(await c.call('SAVE'), 'OK');
  c.close();
  await b.stop();
  assert.equal(fsm.readFileSync(pathm.join(dir, 'dump.bdb')).subarray(0, 9).toString(), 'REDIS0010');
  b = await startBunder(['--appendonly', 'no'], { dir });
  c = await Client.connect(b.port);
  assert.equal(await c.call('GET', 'old'), 'value');
  assert.deepEqual(await c.call('XRANGE', 'st', '-', '+'), [['1-1', ['a', 'b']]]);
  c.close();
  await b.stop();
});
