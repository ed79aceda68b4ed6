// Sandbox escapes attempted from the Bun runtime (the same set as QuickJS's in
// functions_sandbox.test.mjs, from inside a deployed function): read /etc/shadow and the data
// directory, connect to a port the test listens on at 127.0.0.1, spawn processes (Bun.spawn of sh,
// of bun itself, node:child_process), replace the worker (process.execve of bun or of its
// launcher), read bunbased's environment, write outside the bundle —
// every attempt fails, and the function's JSON names each outcome. From the host: the worker runs
// as the unprivileged worker user (BUNBASE_FUNCTIONS_WORKER_USER, nobody), under its seccomp
// filter, and sees only bun, its libraries, its launcher and the bundle; nothing of the data
// directory is readable by that user but the bundle's own files (through the sandbox's bind).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { BUILD_DIR, SOURCE_DIR, httpRequest, startServer } from './harness.mjs';
import { FAST_ENV, newProject, newUser } from './platform_lib.mjs';

const BUN = path.join(SOURCE_DIR, 'src/functions/bun/node_modules/@oven/bun-linux-x64/bin/bun');
const HAVE_BWRAP = fs.existsSync('/usr/bin/bwrap');
const MARKER = 'fnsbx-host-marker-7d1f';

const ESCAPES = `
import fs from 'node:fs';
import net from 'node:net';
import cp from 'node:child_process';

const out = {};
async function attempt(name, fn) {
  try { const v = await fn(); out[name] = 'ALLOWED ' + String(v).slice(0, 80); }
  catch (e) { out[name] = 'refused: ' + (e && (e.code || e.name)) + ' ' + String(e && e.message).slice(0, 120); }
}
const within = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timed out')), ms))]);

export default async function (req) {
  const u = new URL(req.url);
  const data = u.searchParams.get('data'), port = Number(u.searchParams.get('port'));
  await attempt('read /etc/shadow', () => fs.readFileSync('/etc/shadow', 'utf8'));
  await attempt('read /etc/passwd', () => fs.readFileSync('/etc/passwd', 'utf8'));
  // the directories above the bundle exist only as the path to it (empty but for that path)
  const seen = { data: fs.readdirSync(data), functions: fs.readdirSync(data + '/functions').sort() };
  await attempt('read functions.db', () => fs.readFileSync(data + '/functions/functions.db').length);
  await attempt('read env.key', () => fs.readFileSync(data + '/functions/env.key', 'utf8'));
  await attempt('Bun.connect 127.0.0.1', () => within(Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }), 3000));
  await attempt('net.connect 127.0.0.1', () => within(new Promise((res, rej) => {
    const s = net.connect(port, '127.0.0.1', () => res('connected'));
    s.on('error', rej);
  }), 3000));
  await attempt('Bun.listen 127.0.0.1', () => { const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } }); return l.port; });
  await attempt('fetch 127.0.0.1', async () => (await fetch('http://127.0.0.1:' + port + '/')).status);
  await attempt('Bun.spawn sh', () => { const p = Bun.spawnSync(['/bin/sh', '-c', 'echo escaped']); return p.stdout.toString() || ('exit ' + p.exitCode); });
  await attempt('Bun.spawn bun', () => { const p = Bun.spawnSync([process.execPath, '--version']); return p.stdout.toString() || ('exit ' + p.exitCode); });
  await attempt('child_process bun', () => cp.execFileSync(process.execPath, ['-e', 'console.log(1)']).toString());
  await attempt('child_process sh', () => cp.execSync('echo escaped').toString());
  // replacing the worker itself: execve of bun, of its launcher (the only programs in the sandbox)
  await attempt('process.execve bun', () => { process.execve(process.execPath, [process.execPath, '--version'], {}); return 'returned'; });
  await attempt('process.execve launcher', () => { process.execve(${JSON.stringify(path.join(BUILD_DIR, 'bunbase-qjs-worker'))}, ['w', '--probe-confinement'], {}); return 'returned'; });
  await attempt('child_process exec bun', () => new Promise((res, rej) => cp.exec(JSON.stringify(process.execPath) + ' --version', (e, so) => (e ? rej(e) : res(so)))));
  await attempt('host environment', () => {
    const all = JSON.stringify(process.env) + fs.readFileSync('/proc/self/environ', 'utf8');
    if (all.includes(${JSON.stringify(MARKER)})) return 'marker seen';
    throw Object.assign(new Error('marker not visible'), { code: 'ENOMARKER' });
  });
  await attempt('write /tmp', () => { fs.writeFileSync('/tmp/escaped', 'x'); return 'written'; });
  await attempt('write /', () => { fs.writeFileSync('/escaped', 'x'); return 'written'; });
  await attempt('write the bundle', () => { fs.writeFileSync(import.meta.dir + '/escaped.js', 'x'); return 'written'; });
  await attempt('write the data directory', () => { fs.writeFileSync(data + '/escaped', 'x'); return 'written'; });
  const own = fs.readFileSync(import.meta.path, 'utf8').length; // its own bundle: readable
  return Response.json({ out, seen, own, uid: process.getuid(), gid: process.getgid(), root: fs.readdirSync('/').sort() });
}`;

/** pid of the bun worker of a function (the process running bun on that function's bundle). */
function bunPid(dataDir, pid, name) {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8'); } catch { continue; }
    const argv = cmd.split('\0');
    if (argv[0] === BUN && cmd.includes(`${dataDir}/functions/${pid}/${name}/`)) return Number(d);
  }
  return null;
}

/** Whether user `uid` (not the owner, no shared group) could read path on the host: every
 * directory above it searchable by others, the file readable by others. */
function othersCanRead(p) {
  const parts = p.split('/').filter(Boolean);
  let cur = '';
  for (let i = 0; i < parts.length - 1; i++) {
    cur += '/' + parts[i];
    if (!(fs.statSync(cur).mode & 0o001)) return false;
  }
  return (fs.lstatSync(p).mode & 0o004) !== 0;
}

describe('functions: sandbox escapes from the bun runtime', {
  skip: (!fs.existsSync(BUN) && 'bun is not installed (scripts/setup.sh)') || (!HAVE_BWRAP && 'bubblewrap is not installed'),
}, () => {
  let srv, G, user, p, listener, port;
  let connections = 0;
  before(async () => {
    listener = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise((r) => listener.listen(0, '127.0.0.1', r));
    port = listener.address().port;
    srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_SANDBOX: 'bwrap', FNSBX_HOST_MARKER: MARKER } });
    G = srv.url;
    user = await newUser(G, 'fnbsb');
    p = await newProject(G, user.access, 'BunSandbox');
    const r = await httpRequest(`${G}/v1/projects/${p.id}/functions/esc?runtime=bun`, {
      method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: ESCAPES });
    assert.equal(r.status, 201, r.text);
  });
  after(async () => {
    if (srv) await srv.stop();
    listener?.close();
  });

  test('every attempt fails; the worker is an unprivileged user under its filter', async () => {
    const h = (await httpRequest(`${G}/health`)).json().services.functions;
    assert.match(h.sandbox, /^bwrap/);
    const q = `?data=${encodeURIComponent(srv.dataDir)}&port=${port}`;
    const r = await httpRequest(`${G}/v1/functions/esc${q}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
    assert.equal(r.status, 200, r.text);
    const { out, seen, own, uid, gid, root } = r.json();
    const attempts = ['read /etc/shadow', 'read /etc/passwd', 'read functions.db', 'read env.key',
      'Bun.connect 127.0.0.1', 'net.connect 127.0.0.1', 'Bun.listen 127.0.0.1', 'fetch 127.0.0.1', 'Bun.spawn sh', 'Bun.spawn bun',
      'child_process bun', 'child_process sh', 'process.execve bun', 'process.execve launcher', 'child_process exec bun', 'host environment', 'write /tmp', 'write /', 'write the bundle',
      'write the data directory'];
    assert.deepEqual(Object.keys(out).sort(), attempts.sort());
    for (const a of attempts) assert.match(out[a], /^refused: /, `${a}: ${out[a]}`);
    // spawning bun itself exists in the sandbox: only the seccomp filter stops it (EPERM)
    assert.match(out['Bun.spawn bun'], /EPERM|not permitted/i, out['Bun.spawn bun']);
    // execve after start: only the launcher's own call was allowed (seccomp compares the filename
    // pointer), so bun cannot replace itself with another program
    assert.match(out['process.execve bun'], /EPERM|not permitted/i, out['process.execve bun']);
    assert.match(out['process.execve launcher'], /EPERM|not permitted/i, out['process.execve launcher']);
    assert.equal(connections, 0, 'nothing reached the listener');
    assert.deepEqual(seen, { data: ['functions'], functions: [p.id, 'bun-worker.js'].sort() });
    assert.ok(own > 0, 'its own bundle is readable');
    // nothing but bun, its libraries (under /usr, with the /lib links), its launcher and the
    // bundle, with /proc and /dev: no /bin, no /etc
    const tops = [srv.dataDir, BUN, path.join(BUILD_DIR, 'bunbase-qjs-worker')].map((x) => x.split('/')[1]);
    assert.deepEqual(root, [...new Set(['dev', 'lib', 'lib64', 'proc', 'usr', ...tops])].sort());
    if (process.getuid() === 0) {
      assert.equal(uid, 65534, 'nobody inside');
      assert.equal(gid, 65534);
    } else assert.notEqual(uid, 0);
  });

  test('after the attempts (execve among them) the same warm worker keeps answering', async () => {
    const q = `?data=${encodeURIComponent(srv.dataDir)}&port=${port}`;
    const before = bunPid(srv.dataDir, p.id, 'esc');
    assert.ok(before, 'a warm bun worker');
    const r = await httpRequest(`${G}/v1/functions/esc${q}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-bunbase-cold-start'], 'false');
    assert.match(r.json().out['process.execve bun'], /^refused: /);
    assert.equal(bunPid(srv.dataDir, p.id, 'esc'), before, 'the same process');
  });

  test('from the host: the worker process is the worker user, filtered; the data directory is closed to it', async () => {
    const call = httpRequest(`${G}/v1/functions/esc?data=${encodeURIComponent(srv.dataDir)}&port=${port}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
    const pid = bunPid(srv.dataDir, p.id, 'esc');
    assert.ok(pid, 'a warm bun worker');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const [, ruid, euid] = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    assert.notEqual(Number(ruid), 0, status);
    assert.notEqual(Number(euid), 0);
    if (process.getuid() === 0) assert.equal(Number(euid), 65534);
    assert.match(status, /^Seccomp:\s+2$/m, 'seccomp filter on');
    assert.match(status, /^CapEff:\s+0+$/m, 'no capabilities');
    assert.equal((await call).status, 200);
    // on the host nothing of <data> is readable by another user; the bundle's own files are
    // world-readable (the sandbox binds that directory), directories above them stay closed
    const bundleDir = `${srv.dataDir}/functions/${p.id}/esc/1`;
    assert.equal(fs.statSync(bundleDir).mode & 0o777, 0o755);
    assert.equal(fs.statSync(`${bundleDir}/index.js`).mode & 0o777, 0o644);
    const open = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const f = path.join(d, e.name);
        if (e.isDirectory()) walk(f);
        else if (othersCanRead(f)) open.push(f);
      }
    };
    walk(srv.dataDir);
    assert.deepEqual(open, []);
  });
});
