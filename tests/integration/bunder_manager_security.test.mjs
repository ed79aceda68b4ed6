// bunder-manager security (issue 11): the tenant policy for Redis commands through the public
// endpoint — handed-off sockets, the relay to a bunder child and the redis-server stand-in —
// file names that cannot leave the project directory, the memory quota, the bounded glob matcher
// (KEYS, SCAN MATCH, PSUBSCRIBE, HTTP /keys?pattern=), the AUTH failure limit, commands pipelined
// after AUTH beyond the pre-AUTH buffer, and the child's password kept out of /proc/<pid>/cmdline.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { httpRequest } from './harness.mjs';
import {
  KEYS, RespClient, childBinary, childPid, encodeCommand, respFor, startManager, str,
} from './bunder_manager_helpers.test.mjs';

const MB = 100;
let mgr; // handoff (bunder child)
let relay; // BUNBASE_BUNDER_MANAGER_HANDOFF=0 (bunder child, relayed)
const extra = [];

before(async () => {
  const env = { BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB: String(MB) };
  mgr = await startManager({ env });
  relay = await startManager({ env: { ...env, BUNBASE_BUNDER_MANAGER_HANDOFF: '0' } });
});
after(async () => {
  for (const m of [mgr, relay, ...extra]) {
    if (!m) continue;
    await m.server.stop('SIGTERM').catch(() => {});
    m.cleanup?.();
  }
});

const isBunder = async () => !(await childBinary()).endsWith('redis-server');
const err = (v) => (v instanceof Error ? v.resp : `not an error: ${JSON.stringify(str(v))}`);
const PROTECTED = /^ERR CONFIG SET failed \(possibly related to argument '[a-z-]+'\) - can't set protected config$/;

/** The tenant policy as seen through one endpoint; returns nothing, asserts everything. */
async function checkTenantPolicy(m, label) {
  const token = fs.readFileSync(path.join(m.dataDir, 'internal_token'));
  // another project's data that must survive
  const o = await respFor(m, 'p2');
  assert.equal(await o.call('SET', 'precious', 'data'), 'OK');
  o.close();

  const c = await respFor(m, 'p1');
  assert.equal(await c.call('SET', 'mine', 'v'), 'OK');
  for (const [param, value] of [
    ['dbfilename', '../../../internal_token'], ['dbfilename', '../p2/appendonly.aof'],
    ['appendfilename', '../p2/appendonly.aof'], ['dir', '/'], ['dir', '..'],
    ['maxmemory', '0'], ['maxmemory-policy', 'allkeys-lru'], ['proto-max-bulk-len', '4gb'],
    ['client-query-buffer-limit', '16gb'], ['maxclients', '1000000'], ['timeout', '0'],
    ['requirepass', 'mine'], ['appendonly', 'no'], ['appendfsync', 'always'],
    ['auto-aof-rewrite-min-size', '0'],
  ]) {
    assert.match(err(await c.call('CONFIG', 'SET', param, value)), PROTECTED, `${label}: CONFIG SET ${param}`);
  }
  // a refused pair makes the whole CONFIG SET fail, nothing applied
  assert.match(err(await c.call('CONFIG', 'SET', 'maxmemory-samples', '7', 'maxmemory', '0')), PROTECTED);
  assert.equal(str((await c.call('CONFIG', 'GET', 'maxmemory-samples'))[1]), '5');
  assert.equal(await c.call('CONFIG', 'SET', 'maxmemory-samples', '6'), 'OK', `${label}: settable parameter`);
  // the quota stays what the manager configured
  assert.deepEqual((await c.call('CONFIG', 'GET', 'maxmemory')).map(str), ['maxmemory', String(MB * 1024 * 1024)]);
  // SAVE/BGSAVE write only the project's own files
  assert.equal(await c.call('SAVE'), 'OK');
  assert.deepEqual(fs.readFileSync(path.join(m.dataDir, 'internal_token')), token, `${label}: internal token unchanged`);
  assert.ok(fs.existsSync(path.join(m.dataDir, 'bunder', 'projects', 'p1', 'dump.bdb')));
  // the internal password and host layout are not readable
  for (const p of ['requirepass', 'port', 'dir', 'bind']) {
    assert.match(err(await c.call('CONFIG', 'GET', p)), /^ERR CONFIG GET failed \(possibly related to argument '[a-z]+'\) - can't get protected config$/);
  }
  const all = (await c.call('CONFIG', 'GET', '*')).map(str);
  const names = all.filter((_, i) => i % 2 === 0);
  assert.ok(names.includes('maxmemory') && !names.includes('requirepass') && !names.includes('port') && !names.includes('dir'), names.join(','));
  const secret = fs.readFileSync(path.join(m.dataDir, 'bunder', 'projects', 'p1', 'bunder.secret'), 'utf8');
  assert.ok(!all.includes(secret));
  // refused commands, with Redis' ACL wording
  for (const cmd of [['SHUTDOWN'], ['SHUTDOWN', 'NOSAVE'], ['DEBUG', 'SLEEP', '0'], ['CONFIG', 'REWRITE'],
    ['CONFIG', 'RESETSTAT'], ['MODULE', 'LOAD', '/tmp/x.so'], ['REPLICAOF', '127.0.0.1', '1'], ['ACL', 'LIST']]) {
    assert.match(err(await c.call(...cmd)), /^NOPERM this user has no permissions to run the '[a-z|]+' command$/, `${label}: ${cmd.join(' ')}`);
  }
  // inside MULTI the refusal aborts the transaction
  assert.equal(await c.call('MULTI'), 'OK');
  assert.match(err(await c.call('SHUTDOWN')), /^NOPERM/);
  assert.match(err(await c.call('EXEC')), /^EXECABORT/);
  assert.equal(await c.call('PING'), 'PONG', `${label}: the child still serves`);
  assert.equal(str(await c.call('GET', 'mine')), 'v');
  c.close();
  const o2 = await respFor(m, 'p2');
  assert.equal(str(await o2.call('GET', 'precious')), 'data', `${label}: the other project's data`);
  o2.close();
}

test('tenant policy on handed-off connections: no path file names, no quota change, no SHUTDOWN/DEBUG, no password', async (t) => {
  if (!(await isBunder())) return t.skip('child is redis-server');
  assert.ok(mgr.handoff);
  await checkTenantPolicy(mgr, 'handoff');
});

test('tenant policy on relayed connections to bunder (HANDOFF=0) is the same', async (t) => {
  if (!(await isBunder())) return t.skip('child is redis-server');
  assert.equal(relay.handoff, false);
  await checkTenantPolicy(relay, 'relay');
});

test('after the attempted overwrite bunbased restarts on the same data directory, data intact', async (t) => {
  if (!(await isBunder())) return t.skip('child is redis-server');
  const c = await respFor(mgr, 'p1');
  assert.match(err(await c.call('CONFIG', 'SET', 'dbfilename', '../../../internal_token')), PROTECTED);
  assert.equal(await c.call('SAVE'), 'OK');
  c.close();
  const dataDir = mgr.dataDir;
  const token = fs.readFileSync(path.join(dataDir, 'internal_token'));
  const r = await mgr.server.stop('SIGTERM', { keepDir: true });
  assert.equal(r.code, 0);
  mgr.cleanup();
  assert.deepEqual(fs.readFileSync(path.join(dataDir, 'internal_token')), token);
  mgr = await startManager({ dataDir, env: { BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB: String(MB) } });
  const o = await respFor(mgr, 'p2');
  assert.equal(str(await o.call('GET', 'precious')), 'data');
  o.close();
  assert.equal((await httpRequest(`${mgr.url}/health`)).status, 200);
});

test('redis-server stand-in: the tenant ACL from the same table refuses CONFIG, SHUTDOWN, DEBUG', async (t) => {
  if (!fs.existsSync('/usr/bin/redis-server')) return t.skip('no redis-server');
  const m = await startManager({ bin: '/usr/bin/redis-server', env: { BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB: String(MB) } });
  extra.push(m);
  const token = fs.readFileSync(path.join(m.dataDir, 'internal_token'));
  const c = await respFor(m, 'p1');
  assert.equal(await c.call('SET', 'k', 'v'), 'OK');
  for (const cmd of [['CONFIG', 'SET', 'dbfilename', '../../../internal_token'], ['CONFIG', 'SET', 'maxmemory', '0'],
    ['CONFIG', 'GET', 'requirepass'], ['SHUTDOWN', 'NOSAVE'], ['DEBUG', 'SLEEP', '0'], ['MODULE', 'LIST']]) {
    // redis 7 checks enable-debug-command / enable-module-command (default no) before the ACL
    assert.match(err(await c.call(...cmd)), /^(NOPERM|ERR (DEBUG|MODULE) command not allowed)/, cmd.join(' '));
  }
  assert.equal(await c.call('SAVE'), 'OK');
  assert.deepEqual(fs.readFileSync(path.join(m.dataDir, 'internal_token')), token);
  assert.equal(await c.call('PING'), 'PONG');
  c.close();
});

test('the child password is not on its command line (handoff, relay and stand-in)', async (t) => {
  const ms = [relay, ...extra];
  if (await isBunder()) ms.push(mgr);
  for (const m of ms) {
    const c = await respFor(m, 'p1');
    assert.equal(await c.call('PING'), 'PONG');
    c.close();
    const pid = childPid(m, 'p1').pid;
    const dir = path.join(m.dataDir, 'bunder', 'projects', 'p1');
    const secret = fs.readFileSync(path.join(dir, 'bunder.secret'), 'utf8');
    assert.ok(secret.length >= 16);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    assert.ok(!cmdline.includes(secret), `secret in ${cmdline.replaceAll('\0', ' ')}`);
    assert.ok(!cmdline.includes('requirepass'));
    assert.equal(fs.statSync(path.join(dir, 'bunder.conf')).mode & 0o777, 0o600);
  }
});

// a long key and patterns that were exponential before the CVE-2022-36021 style bound
const LONGKEY = 'a'.repeat(5000);
const BADPAT = 'a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b';

test('KEYS / SCAN MATCH / PSUBSCRIBE with a pathological glob return and the child still answers', async (t) => {
  if (!(await isBunder())) return t.skip('child is redis-server');
  const c = await respFor(mgr, 'p3');
  assert.equal(await c.call('SET', LONGKEY, '1'), 'OK');
  assert.equal(await c.call('SET', `${LONGKEY}b`, '1'), 'OK');
  const keys = (await c.call('KEYS', BADPAT)).map(str);
  assert.deepEqual(keys, [`${LONGKEY}b`]);
  const scan = await c.call('SCAN', '0', 'MATCH', BADPAT, 'COUNT', '1000');
  assert.deepEqual(scan[1].map(str), [`${LONGKEY}b`]);
  assert.equal(await c.call('PING'), 'PONG');
  // pub/sub patterns use the same matcher
  const sub = await respFor(mgr, 'p3');
  const r = await sub.call('PSUBSCRIBE', BADPAT);
  assert.equal(str(r[0]), 'psubscribe');
  assert.equal(await c.call('PUBLISH', LONGKEY, 'x'), 0);
  assert.equal(await c.call('PUBLISH', `${LONGKEY}b`, 'y'), 1);
  const msg = (await sub.reply()).map(str);
  assert.deepEqual(msg, ['pmessage', BADPAT, `${LONGKEY}b`, 'y']);
  sub.close();
  c.close();
  // the manager's HTTP API passes the pattern to the child's KEYS
  const res = await httpRequest(`${mgr.url}/kv/p3/keys?pattern=${encodeURIComponent(BADPAT)}`, { headers: mgr.auth });
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.text), [`${LONGKEY}b`]);
  assert.equal((await httpRequest(`${mgr.url}/kv/p3/health`, { headers: mgr.auth })).status, 200);
});

test('wrong AUTHs: the connection is closed after 10, even when hundreds are pipelined', async () => {
  for (const n of [11, 400]) {
    const c = await RespClient.connect(mgr.resp);
    c.writeRaw(Buffer.concat(Array.from({ length: n }, () => encodeCommand(['AUTH', 'p1', 'wrong']))));
    const replies = [];
    for (;;) {
      try { replies.push(await c.reply(3000)); } catch { break; }
    }
    assert.equal(replies.length, 10, `${n} pipelined: ${replies.length} answered`);
    for (const r of replies) assert.match(err(r), /^WRONGPASS/);
    assert.ok(await c.waitClose(3000), 'closed');
    c.close();
  }
  // sent one by one
  const c = await RespClient.connect(mgr.resp);
  for (let i = 0; i < 10; i++) assert.match(err(await c.call('AUTH', 'p1', `wrong${i}`)), /^WRONGPASS/);
  assert.ok(await c.waitClose(3000));
  await assert.rejects(c.call('AUTH', 'p1', KEYS.p1));
  c.close();
});

test('20 KiB of commands pipelined in the same write as AUTH are all answered (handoff and relay)', async () => {
  for (const m of [mgr, relay]) {
    const c = await RespClient.connect(m.resp);
    const cmds = [['AUTH', 'p1', KEYS.p1]];
    const value = 'v'.repeat(100);
    for (let i = 0; i < 160; i++) cmds.push(['SET', `pipe:${i}`, value]);
    cmds.push(['GET', 'pipe:159']);
    const bytes = Buffer.concat(cmds.map(encodeCommand));
    assert.ok(bytes.length > 20 * 1024, `${bytes.length}`);
    c.writeRaw(bytes);
    const replies = [];
    for (let i = 0; i < cmds.length; i++) replies.push(await c.reply());
    assert.equal(replies[0], 'OK');
    for (let i = 1; i <= 160; i++) assert.equal(replies[i], 'OK', `reply ${i}: ${err(replies[i])}`);
    assert.equal(str(replies[161]), value);
    c.close();
  }
  // one command over the pre-AUTH limit before AUTH is still refused: a bulk that announces it,
  // and an inline line that just fills the 16 KiB buffer without ending
  for (const bytes of [encodeCommand(['PING', 'x'.repeat(20000)]), Buffer.from(`PING ${'x'.repeat(20000)}`)]) {
    const c = await RespClient.connect(mgr.resp);
    c.writeRaw(bytes);
    assert.match(err(await c.reply()), /^ERR Protocol error: (command too large|too much data) before AUTH$/);
    assert.ok(await c.waitClose(3000));
    c.close();
  }
});
