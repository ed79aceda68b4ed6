// Helpers shared by the bunder_data_* differential tests (not a test file: no .test. in the name).
import assert from 'node:assert/strict';
import { RawClient } from './bunder_compat_lib.mjs';

/** Runs cmds under RESP3 on both servers of a startPair (HELLO's own reply differs: id, version). */
export async function resp3(p, cmds) {
  await Promise.all([p.rc.call('HELLO', '3'), p.bc.call('HELLO', '3')]);
  await p.same(cmds);
  await Promise.all([p.rc.call('HELLO', '2'), p.bc.call('HELLO', '2')]);
}

/** Until the server counts a blocked client (INFO clients), or 2 s. */
async function waitBlocked(cl) {
  for (let i = 0; i < 200; i++) {
    if (/blocked_clients:[1-9]/.test((await cl.call('INFO', 'clients')).toString())) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends cmd on a fresh connection of each server (it blocks), then runs push on the main
 * connections, compares what the blocked connections receive, then runs check on both. */
export async function blockedSame(p, cmd, push, check) {
  const rb = await RawClient.connect(p.redis.port);
  const bb = await RawClient.connect(p.bunder.port);
  try {
    rb.send(cmd);
    bb.send(cmd);
    await waitBlocked(p.rc);
    await waitBlocked(p.bc);
    await p.same(push);
    const [a, b] = await Promise.all([rb.next(), bb.next()]);
    assert.equal(b.toString('latin1'), a.toString('latin1'), `blocked ${JSON.stringify(cmd)} reply differs`);
    await p.same(check);
  } finally {
    rb.close();
    bb.close();
  }
}
