// DUMP / RESTORE between bunder and Debian's redis-server 7, both directions, every type bunder
// carries (strings — raw, integer and LZF-compressed —, lists, sets, hashes, sorted sets, in the
// compact listpack/intset encodings Redis uses for small values and the plain ones for large);
// RESTORE's options and errors compared byte for byte with redis-server.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startPair } from './bunder_compat_lib.mjs';
import { decode } from './bunder_lib.test.mjs';
import { KEYS, crc64, fixtures, view } from './bunder_data_lib.mjs';

/** A DUMP payload around body (type byte + value): version 10 and a valid CRC. */
function payload(body, version = 10) {
  const v = Buffer.concat([body, Buffer.from([version & 0xff, version >> 8])]);
  const crc = Buffer.alloc(8);
  crc.writeBigUInt64LE(crc64(v));
  return Buffer.concat([v, crc]);
}

test('a key DUMPed by redis-server RESTOREs into bunder, and the other way round', async () => {
  const p = await startPair();
  try {
    for (const cmd of fixtures()) { await p.rc.call(...cmd); await p.bc.call(...cmd); }
    for (const k of KEYS) {
      // redis -> bunder
      const dr = (await p.rc.call('DUMP', k));
      const body = dr.subarray(dr.indexOf('\r\n') + 2, dr.length - 2);
      assert.equal((await p.bc.call('RESTORE', `r:${k}`, '0', body)).toString(), '+OK\r\n', `RESTORE of redis' ${k}`);
      assert.deepEqual(await view(p.bc, `r:${k}`), { ...(await view(p.rc, k)), ttl: -1 }, `redis -> bunder ${k}`);
      // bunder -> redis
      const db = await p.bc.call('DUMP', k);
      const bbody = db.subarray(db.indexOf('\r\n') + 2, db.length - 2);
      assert.equal((await p.rc.call('RESTORE', `b:${k}`, '0', bbody)).toString(), '+OK\r\n', `RESTORE of bunder's ${k}`);
      assert.deepEqual(await view(p.rc, `b:${k}`), { ...(await view(p.bc, k)), ttl: -1 }, `bunder -> redis ${k}`);
      // and bunder's own payload restores in bunder
      assert.equal((await p.bc.call('RESTORE', `s:${k}`, '0', bbody)).toString(), '+OK\r\n');
      assert.deepEqual(await view(p.bc, `s:${k}`), { ...(await view(p.bc, k)), ttl: -1 });
    }
    assert.equal(decode(await p.bc.call('DUMP', 'nokey'))[0], null);
  } finally {
    await p.stop();
  }
});

test('RESTORE options and errors equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.rc.call('RPUSH', 'src', 'a', 'b');
    const d = await p.rc.call('DUMP', 'src');
    const good = d.subarray(d.indexOf('\r\n') + 2, d.length - 2);
    const badcrc = Buffer.from(good); badcrc[badcrc.length - 1] ^= 1;
    const badver = payload(good.subarray(0, good.length - 10), 11);
    const oldver = payload(good.subarray(0, good.length - 10), 9);
    const truncated = payload(good.subarray(0, good.length - 12));
    const trailing = payload(Buffer.concat([good.subarray(0, good.length - 10), Buffer.from('xx')]));
    const badtype = payload(Buffer.from([99, 1, 0x61]));
    const emptyset = payload(Buffer.from([2, 0]));
    const dupset = payload(Buffer.from([2, 2, 1, 0x61, 1, 0x61]));
    const nanzset = payload(Buffer.from([3, 1, 1, 0x61, 253]));
    const hugelen = payload(Buffer.from([1, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    const badlzf = payload(Buffer.from([0, 0xc3, 3, 10, 0x01, 0x61, 0x62]));
    const intstr = payload(Buffer.from([0, 0xc1, 0x39, 0x30]));
    await p.same([
      ['RESTORE', 'k', '0', good], ['LRANGE', 'k', '0', '-1'], ['RESTORE', 'k', '0', good], ['RESTORE', 'k', '0', good, 'REPLACE'],
      ['RESTORE', 'k2', '100000', good], ['RESTORE', 'k3', '1', good, 'ABSTTL'], ['EXISTS', 'k3'],
      ['RESTORE', 'k', '1', good, 'ABSTTL', 'REPLACE'], ['EXISTS', 'k'],
      ['RESTORE', 'k4', '0', good, 'IDLETIME', '100'], ['RESTORE', 'k5', '0', good, 'FREQ', '5'],
      ['RESTORE', 'k6', '0', good, 'IDLETIME', '-1'], ['RESTORE', 'k6', '0', good, 'FREQ', '256'], ['RESTORE', 'k6', '0', good, 'IDLETIME', 'x'],
      ['RESTORE', 'k6', '0', good, 'IDLETIME', '1', 'FREQ', '1'], ['RESTORE', 'k6', '0', good, 'FOO'], ['RESTORE', 'k6', '-1', good],
      ['RESTORE', 'k6', 'x', good], ['RESTORE', 'k6', '0', badcrc], ['RESTORE', 'k6', '0', badver], ['RESTORE', 'k6', '0', 'short'],
      ['RESTORE', 'k6', '0', oldver], ['RESTORE', 'k7', '0', truncated], ['RESTORE', 'k7', '0', badtype],
      ['RESTORE', 'k7', '0', emptyset], ['RESTORE', 'k7', '0', dupset], ['RESTORE', 'k7', '0', nanzset], ['RESTORE', 'k7', '0', hugelen],
      ['RESTORE', 'k7', '0', badlzf], ['RESTORE', 'k8', '0', intstr], ['GET', 'k8'], ['EXISTS', 'k6', 'k7'],
      ['RESTORE', 'k'], ['DUMP'], ['DUMP', 'nokey'], ['RESTORE', 'k9', '0', trailing], ['LRANGE', 'k9', '0', '-1'],
    ]);
  } finally {
    await p.stop();
  }
});
