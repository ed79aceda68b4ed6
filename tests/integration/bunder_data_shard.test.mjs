// Sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS/SHARDNUMSUB) against
// Debian's redis-server 7 on a single node: subscriber connections on both servers, the bytes they
// receive compared — shard channels are their own namespace (PUBLISH and patterns do not reach
// them), messages are "smessage".
import test from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startPair } from './bunder_compat_lib.mjs';

test('SSUBSCRIBE/SUNSUBSCRIBE/SPUBLISH and PUBSUB SHARD* equal redis-server', async () => {
  const p = await startPair();
  const subs = await Promise.all([RawClient.connect(p.redis.port), RawClient.connect(p.bunder.port)]);
  const psubs = await Promise.all([RawClient.connect(p.redis.port), RawClient.connect(p.bunder.port)]);
  /** Sends args on both subscriber connections and compares the next n replies of each. */
  const both = async (pair, args, n) => {
    for (const cl of pair) cl.send(args);
    for (let i = 0; i < n; i++) {
      const [a, b] = await Promise.all(pair.map((cl) => cl.next()));
      assert.equal(b.toString('latin1'), a.toString('latin1'), `${JSON.stringify(args)} reply ${i}`);
    }
  };
  try {
    await both(subs, ['SSUBSCRIBE', 'a', 'b', 'a'], 3);
    await both(psubs, ['PSUBSCRIBE', '*'], 1);
    await p.same([['SPUBLISH', 'a', 'hi'], ['SPUBLISH', 'zz', 'x'], ['PUBLISH', 'a', 'plain'], ['PUBSUB', 'SHARDCHANNELS', 'a'],
      ['PUBSUB', 'SHARDCHANNELS', 'b*'], ['PUBSUB', 'SHARDNUMSUB', 'a', 'b', 'c'], ['PUBSUB', 'SHARDNUMSUB'], ['PUBSUB', 'CHANNELS'],
      ['PUBSUB', 'NUMSUB', 'a'], ['SPUBLISH', 'a'], ['SPUBLISH', 'b', 'two']]);
    // what the shard subscriber got: smessage a hi, smessage b two (PUBLISH a plain went to the pattern only)
    for (let i = 0; i < 2; i++) {
      const [a, b] = await Promise.all(subs.map((cl) => cl.next()));
      assert.equal(b.toString('latin1'), a.toString('latin1'));
    }
    const [pa, pb] = await Promise.all(psubs.map((cl) => cl.next()));
    assert.equal(pb.toString('latin1'), pa.toString('latin1'));
    await both(subs, ['GET', 'x'], 1); // RESP2 subscribed context
    await both(subs, ['SUNSUBSCRIBE', 'b', 'nope'], 2);
    await both(subs, ['SUBSCRIBE', 'n'], 1);
    await both(subs, ['SUNSUBSCRIBE'], 1);
    await both(subs, ['SUNSUBSCRIBE'], 1);
    await both(subs, ['UNSUBSCRIBE'], 1);
    await both(subs, ['PING'], 1);
    await p.same([['PUBSUB', 'SHARDCHANNELS'], ['MULTI'], ['SSUBSCRIBE', 'q'], ['EXEC'], ['SUNSUBSCRIBE', 'q'], ['SSUBSCRIBE']]);
    // RESP3: pushes, and the connection keeps answering commands
    await Promise.all(subs.map((cl) => cl.call('HELLO', '3')));
    await both(subs, ['SSUBSCRIBE', 'r3'], 1);
    await p.same([['SPUBLISH', 'r3', 'm']]);
    const [a, b] = await Promise.all(subs.map((cl) => cl.next()));
    assert.equal(b.toString('latin1'), a.toString('latin1'));
    await both(subs, ['GET', 'x'], 1);
  } finally {
    for (const cl of [...subs, ...psubs]) cl.close();
    await p.stop();
  }
});
