// bunder alone: file names that cannot be paths (startup flags, config file, CONFIG SET, even for
// the default user), the tenant user and its policy (sticky across AUTH/RESET, INFO hides the
// port), the default user keeping full CONFIG, the --requirepass flag hidden from
// /proc/<pid>/cmdline, and redis-cli against a tenant connection. The same policy through
// bunder-manager is tested in bunder_manager_security.test.mjs.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startBunder, runBunderSync, Client, cli, tempDir } from './bunder_lib.test.mjs';

const PASS = 'tenant-test-secret-0123456789';
let srv;
test.before(async () => { srv = await startBunder(['--requirepass', PASS, '--maxmemory', '100mb']); });
test.after(async () => { await srv?.stop(); });

const e = (v) => (v && typeof v.error === 'string' ? v.error : v instanceof Error ? v.message : `not an error: ${JSON.stringify(v)}`);

async function tenant() {
  const c = await Client.connect(srv.port);
  assert.equal(await c.call('AUTH', 'bunbase-tenant', PASS), 'OK');
  return c;
}

test('dbfilename / appendfilename must be plain names: flags, config file and CONFIG SET', async () => {
  for (const [opt, v] of [['--dbfilename', '../x.bdb'], ['--dbfilename', '/etc/x'], ['--appendfilename', 'a/b'],
    ['--dbfilename', '..'], ['--dbfilename', '']]) {
    const r = runBunderSync(['--port', '0', '--dir', tempDir(), opt, v]);
    assert.equal(r.status, 1, `${opt} ${v}: ${r.stderr}`);
    if (v) assert.match(r.stderr, /can't be a path, just a filename/);
  }
  const conf = path.join(tempDir(), 'b.conf');
  fs.writeFileSync(conf, 'dbfilename ../../escape.bdb\n');
  assert.equal(runBunderSync([conf, '--port', '0']).status, 1);
  const c = await Client.connect(srv.port);
  assert.equal(await c.call('AUTH', PASS), 'OK');
  assert.equal(e(await c.call('CONFIG', 'SET', 'dbfilename', '../../internal_token').catch((x) => x)),
    "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename");
  assert.equal(await c.call('CONFIG', 'SET', 'dbfilename', 'other.bdb'), 'OK');
  assert.equal(await c.call('SAVE'), 'OK');
  assert.ok(fs.existsSync(path.join(srv.dir, 'other.bdb')));
  assert.equal(await c.call('CONFIG', 'SET', 'dbfilename', 'dump.bdb'), 'OK');
  c.close();
});

test('the default user keeps every CONFIG; the tenant user does not', async () => {
  const a = await Client.connect(srv.port);
  assert.equal(await a.call('AUTH', 'default', PASS), 'OK');
  assert.deepEqual(await a.call('CONFIG', 'GET', 'requirepass'), ['requirepass', PASS]);
  assert.equal(await a.call('CONFIG', 'SET', 'maxmemory', '200mb'), 'OK');
  assert.equal(await a.call('CONFIG', 'SET', 'maxmemory', '100mb'), 'OK');
  const t = await tenant();
  assert.match(e(await t.call('CONFIG', 'SET', 'maxmemory', '0').catch((x) => x)), /can't set protected config$/);
  assert.deepEqual(await t.call('CONFIG', 'GET', 'maxmemory'), ['maxmemory', String(100 * 1024 * 1024)]);
  assert.match(e(await t.call('CONFIG', 'GET', 'REQUIREPASS').catch((x) => x)), /can't get protected config$/);
  const all = await t.call('CONFIG', 'GET', '*');
  assert.ok(!all.includes(PASS) && !all.includes('requirepass') && !all.includes('port'));
  assert.match(await t.call('INFO', 'server'), /tcp_port:0\r\n/);
  assert.match(await a.call('INFO', 'server'), new RegExp(`tcp_port:${srv.port}\\r\\n`));
  a.close();
  t.close();
});

test('tenant is sticky: AUTH default and RESET do not lift the policy', async () => {
  const t = await tenant();
  assert.equal(await t.call('AUTH', 'default', PASS), 'OK');
  assert.match(e(await t.call('SHUTDOWN').catch((x) => x)), /^NOPERM this user has no permissions to run the 'shutdown' command$/);
  assert.equal(await t.call('RESET'), 'RESET');
  assert.equal(await t.call('AUTH', PASS), 'OK');
  assert.match(e(await t.call('CONFIG', 'SET', 'requirepass', 'x').catch((x) => x)), /can't set protected config$/);
  assert.match(e(await t.call('DEBUG', 'SLEEP', '10').catch((x) => x)), /^NOPERM/);
  assert.equal(await t.call('BGSAVE').then((v) => typeof v), 'string');
  assert.equal(await t.call('PING'), 'PONG');
  // a tenant's script is held to the same policy
  assert.match(e(await t.call('EVAL', "return redis.call('shutdown')", '0').catch((x) => x)), /^NOPERM this user has no permissions to run the 'shutdown' command/);
  assert.match(e(await t.call('EVAL', "return redis.pcall('debug', 'sleep', '0')", '0').catch((x) => x)), /^NOPERM/);
  assert.equal(await t.call('EVAL', "return redis.call('set', 'from-script', '1')", '0'), 'OK');
  t.close();
  // a wrong password as the tenant user is a plain WRONGPASS
  const w = await Client.connect(srv.port);
  assert.match(e(await w.call('AUTH', 'bunbase-tenant', 'nope').catch((x) => x)), /^WRONGPASS/);
  w.close();
});

test('redis-cli as the tenant user; --requirepass is not visible in /proc/<pid>/cmdline', async () => {
  const out = cli(srv.port, ['--user', 'bunbase-tenant', '--pass', PASS, '--no-auth-warning', 'CONFIG', 'SET', 'dir', '/']);
  assert.match(out, /can't set protected config/);
  const cmdline = fs.readFileSync(`/proc/${srv.proc.pid}/cmdline`, 'latin1');
  assert.ok(!cmdline.includes(PASS), cmdline.replaceAll('\0', ' '));
});

test('a tenant may SHUTDOWN NOSAVE only while its script is busy (the way out of a script that wrote)', async () => {
  const b = await startBunder(['--requirepass', PASS, '--busy-reply-threshold', '100']);
  try {
    const a = await Client.connect(b.port);
    assert.equal(await a.call('AUTH', 'bunbase-tenant', PASS), 'OK');
    assert.match(e(await a.call('SHUTDOWN', 'NOSAVE').catch((x) => x)), /^NOPERM/);
    a.writeRaw(Buffer.from("*3\r\n$4\r\nEVAL\r\n$45\r\nredis.call('set', 'w', '1') while true do end\r\n$1\r\n0\r\n"));
    const t = await Client.connect(b.port);
    assert.equal(await t.call('AUTH', 'bunbase-tenant', PASS), 'OK');
    let r;
    for (let i = 0; i < 100; i++) { // until the script is past the threshold
      r = await t.call('PING').catch((x) => x);
      if (/^BUSY/.test(e(r))) break;
      await new Promise((ok) => setTimeout(ok, 50));
    }
    assert.match(e(r), /^BUSY/);
    assert.match(e(await t.call('SCRIPT', 'KILL').catch((x) => x)), /^UNKILLABLE/);
    assert.match(e(await t.call('SHUTDOWN').catch((x) => x)), /^NOPERM/);
    const exited = new Promise((ok) => b.proc.once('exit', ok));
    t.writeRaw(Buffer.from('*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n'));
    await exited;
    a.close();
    t.close();
  } finally {
    await b.stop();
  }
});
