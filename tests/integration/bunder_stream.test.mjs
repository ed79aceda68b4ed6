// bunder streams (XADD … XSETID, consumer groups, blocking reads) against Debian's redis-server 7:
// the same commands go to both and the replies must be the same bytes. Ids are explicit wherever
// replies are compared (auto ids are checked by invariant); replies that carry times (idle,
// delivery times, seen-time) are compared with those fields masked.
import test from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startPair, startRedis } from './bunder_compat_lib.mjs';
import { Client, decode, sleep, startBunder } from './bunder_lib.test.mjs';

const dec = (b) => decode(b, 0, false)[0];

/** Runs cmds on both; an entry is an args array (bytes compared) or {args, mask} (decoded replies
 * compared after mask). */
async function same(p, cmds) {
  for (const cmd of cmds) {
    const args = Array.isArray(cmd) ? cmd : cmd.args;
    const [a, b] = await Promise.all([p.rc.call(...args), p.bc.call(...args)]);
    if (Array.isArray(cmd)) {
      assert.equal(b.toString('latin1'), a.toString('latin1'), `reply to ${JSON.stringify(args).slice(0, 300)} differs`);
    } else {
      assert.deepEqual(cmd.mask(dec(b)), cmd.mask(dec(a)), `reply to ${JSON.stringify(args)} differs`);
    }
  }
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
      ['SCAN', '0', 'TYPE', 'stream', 'COUNT', '100'].length ? ['TYPE', 'int'] : ['PING'],
    ]);
  } finally {
    await p.stop();
  }
});
