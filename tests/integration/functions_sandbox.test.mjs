// The functions sandbox (src/functions/fn_sandbox.c, the worker's rlimits and seccomp filter)
// against a real bunbased: a worker runs in its own network and pid namespaces and sees neither
// /etc/shadow nor the data directory nor the host environment — only its executable, the libraries
// it links (with the /lib and /lib64 links: no /bin, no shell, no other program) and its bundle; it runs as the unprivileged worker user (nobody) without capabilities; inside, the seccomp filter refuses open, socket, fork, execve and kill; a host without
// bubblewrap refuses to run functions (503) unless BUNBASE_FUNCTIONS_SANDBOX=none, and /health
// says which.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { BUILD_DIR, httpRequest, runCommand, startServer } from './harness.mjs';
import { FAST_ENV, newProject, newUser } from './platform_lib.mjs';

const WORKER = path.join(BUILD_DIR, 'bunbase-qjs-worker');
const HAVE_BWRAP = fs.existsSync('/usr/bin/bwrap');

/** pid of the (innermost) worker process of a function. */
function workerPid(dataDir, pid, name) {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.split('\0')[0].endsWith('bunbase-qjs-worker') && cmd.includes(`${dataDir}/functions/${pid}/${name}/`)) return Number(d);
  }
  return null;
}

describe('functions sandbox (bubblewrap)', { skip: !HAVE_BWRAP && 'bubblewrap is not installed (scripts/setup.sh)' }, () => {
  let srv, G, user, p;
  before(async () => {
    srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_SANDBOX: 'bwrap', BUNBASE_FUNCTIONS_CANARY: 'must-not-leak' } });
    G = srv.url;
    user = await newUser(G, 'fnsb');
    p = await newProject(G, user.access, 'Sandbox');
    const r = await httpRequest(`${G}/v1/projects/${p.id}/functions/sb`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` },
      body: 'export default async () => { await new Promise((r) => setTimeout(r, 1500)); return Response.json(process.env); }' });
    assert.equal(r.status, 201, r.text);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('the worker sees only itself, its libraries and its bundle; no network; no host environment', async () => {
    const h = (await httpRequest(`${G}/health`)).json().services.functions;
    assert.match(h.sandbox, /^bwrap/);
    assert.equal(h.runs_functions, true);
    const call = httpRequest(`${G}/v1/functions/sb`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
    let pid = null;
    for (let i = 0; i < 100 && !pid; i++) { await new Promise((r) => setTimeout(r, 20)); pid = workerPid(srv.dataDir, p.id, 'sb'); }
    assert.ok(pid, 'worker process');
    const root = `/proc/${pid}/root`;
    assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'own network namespace');
    assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'), 'own pid namespace');
    assert.equal(fs.existsSync(`${root}/etc/shadow`), false, '/etc/shadow');
    assert.equal(fs.existsSync(`${root}/etc/passwd`), false, '/etc');
    assert.equal(fs.existsSync(`${root}${srv.dataDir}/functions/functions.db`), false, 'the data directory');
    assert.equal(fs.existsSync(`${root}${srv.dataDir}/postgres`), false);
    // directories above the bundle exist only as the path to it; of /usr only the libraries the
    // worker links (ldd), nothing else: no /bin, no shell, no other program
    assert.deepEqual(fs.readdirSync(`${root}/`).sort(), [...new Set(['dev', 'lib', 'lib64', 'proc', 'usr', ...[srv.dataDir, WORKER].map((x) => x.split('/')[1])])].sort());
    assert.equal(fs.existsSync(`${root}/bin/sh`), false, 'no shell');
    assert.equal(fs.existsSync(`${root}/usr/bin`), WORKER.startsWith('/usr/bin/'), 'no /usr/bin');
    assert.equal(fs.existsSync(`${root}/usr/share`), false);
    const ldd = (await runCommand('/usr/bin/ldd', [WORKER])).stdout;
    const libs = [...ldd.matchAll(/(?:=> )?(\/\S+) \(0x/g)].map((m) => path.basename(m[1])).sort();
    const seenLibs = [];
    const walkLibs = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walkLibs(path.join(d, e.name));
        else seenLibs.push(e.name);
      }
    };
    walkLibs(`${root}/usr`);
    assert.deepEqual([...new Set(seenLibs)].sort(), [...new Set(libs)].sort(), 'of /usr only the libraries the worker links');
    assert.deepEqual(fs.readdirSync(`${root}${srv.dataDir}`), ['functions']);
    const bundle = fs.readdirSync(`${root}${srv.dataDir}/functions/${p.id}/sb/1`);
    assert.deepEqual(bundle, ['index.js'], 'only its bundle');
    assert.ok(fs.existsSync(`${root}${WORKER}`));
    // the process's initial environment: ours and bwrap's PWD (which the worker drops before user code)
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((l) => l.split('=')[0]).sort();
    assert.deepEqual(env, ['BUNBASE_FUNCTION_NAME', 'BUNBASE_FUNCTION_VERSION', 'BUNBASE_PROJECT_ID', 'PWD']);
    let lim = '';
    for (let i = 0; i < 100 && !/Max open files\s+8\s+8/.test(lim); i++) { // set right after exec
      lim = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.match(lim, /Max open files\s+8\s+8/);
    assert.match(lim, /Max core file size\s+0\s+0/);
    let seccomp = '';
    for (let i = 0; i < 100 && !/^Seccomp:\s+2$/m.test(seccomp); i++) { // installed once the bundle loaded
      seccomp = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.match(seccomp, /^Seccomp:\s+2$/m, 'seccomp filter on');
    // an unprivileged user outside any namespace (BUNBASE_FUNCTIONS_WORKER_USER, nobody), no
    // capabilities; the bundle is world-readable, the data directory above it is not
    const [, ruid, euid] = /^Uid:\s+(\d+)\s+(\d+)/m.exec(seccomp);
    assert.notEqual(Number(euid), 0, seccomp);
    if (process.getuid() === 0) {
      assert.equal(Number(ruid), 65534);
      assert.equal(Number(euid), 65534);
      assert.match(seccomp, /^Gid:\s+65534\s+65534/m);
      assert.match(seccomp, /^Groups:\s*$/m);
      assert.match(h.sandbox, /as user nobody \(uid 65534\)/);
    }
    assert.match(seccomp, /^CapEff:\s+0+$/m);
    assert.match(seccomp, /^CapPrm:\s+0+$/m);
    assert.equal(fs.statSync(`${srv.dataDir}/functions/${p.id}/sb/1/index.js`).mode & 0o777, 0o644);
    assert.equal(fs.statSync(`${srv.dataDir}/functions`).mode & 0o077, 0, 'the data directory stays closed');
    const r = await call;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json()).sort(), ['BUNBASE_FUNCTION_NAME', 'BUNBASE_FUNCTION_VERSION', 'BUNBASE_PROJECT_ID']);
  });

  test('a bundle stored closed (0700/0600, as before the worker user) is opened at its next spawn', async () => {
    const dir = `${srv.dataDir}/functions/${p.id}/sb/1`;
    fs.chmodSync(`${dir}/index.js`, 0o600);
    fs.chmodSync(dir, 0o700);
    const e = await httpRequest(`${G}/v1/projects/${p.id}/functions/sb/env`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}`, 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(e.status, 200, e.text); // its workers restart
    const r = await httpRequest(`${G}/v1/functions/sb`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-bunbase-cold-start'], 'true');
    assert.equal(fs.statSync(dir).mode & 0o777, 0o755);
    assert.equal(fs.statSync(`${dir}/index.js`).mode & 0o777, 0o644);
  });

  test('inside the filter: open, socket, fork, execve, kill are refused', async () => {
    const r = await runCommand(WORKER, ['--probe-confinement'], { timeoutMs: 10000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const what of ['open /etc/passwd', 'socket', 'fork', 'execve', 'kill'])
      assert.match(r.stdout, new RegExp(`^${what}: refused$`, 'm'));
  });
});

test('no sandbox: functions refused unless BUNBASE_FUNCTIONS_SANDBOX=none', async () => {
  const srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_BWRAP_PATH: '/nonexistent/bwrap' } });
  try {
    const G = srv.url;
    const h = (await httpRequest(`${G}/health`)).json();
    assert.equal(h.status, 'ok', 'an instance without a sandbox is not down');
    assert.equal(h.services.functions.runs_functions, false);
    assert.match(h.services.functions.sandbox, /unavailable: bubblewrap is not installed/);
    const user = await newUser(G, 'nosb');
    const p = await newProject(G, user.access, 'NoSandbox');
    const r = await httpRequest(`${G}/v1/projects/${p.id}/functions/f`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: 'export default () => new Response("x")' });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json().code, 'sandbox_unavailable');
  } finally {
    await srv.stop();
  }
  const strict = await runCommand(path.join(BUILD_DIR, 'bunbased'), ['serve', '--listen', '127.0.0.1:0', '--data', fs.mkdtempSync('/tmp/bb-it-sb-')],
    { env: { BUNBASE_FUNCTIONS_SANDBOX: 'bwrap', BUNBASE_FUNCTIONS_BWRAP_PATH: '/nonexistent/bwrap', BUNBASE_LOG_LEVEL: 'warn' }, timeoutMs: 60000 });
  assert.notEqual(strict.code, 0);
  assert.match(strict.stderr, /BUNBASE_FUNCTIONS_SANDBOX=bwrap but bubblewrap is not installed/);
  if (process.getuid() === 0) { // root never runs user code as itself
    const asRoot = await runCommand(path.join(BUILD_DIR, 'bunbased'), ['serve', '--listen', '127.0.0.1:0', '--data', fs.mkdtempSync('/tmp/bb-it-sb-')],
      { env: { BUNBASE_FUNCTIONS_WORKER_USER: 'root', BUNBASE_LOG_LEVEL: 'warn' }, timeoutMs: 60000 });
    assert.notEqual(asRoot.code, 0);
    assert.match(asRoot.stderr, /BUNBASE_FUNCTIONS_WORKER_USER root is root/);
  }
  const noWorker = await runCommand(path.join(BUILD_DIR, 'bunbased'), ['serve', '--listen', '127.0.0.1:0', '--data', fs.mkdtempSync('/tmp/bb-it-sb-')],
    { env: { BUNBASE_FUNCTIONS_WORKER_PATH: '/nonexistent/bunbase-qjs-worker', BUNBASE_LOG_LEVEL: 'warn' }, timeoutMs: 60000 });
  assert.notEqual(noWorker.code, 0, 'a worker path that was asked for must exist');
  assert.match(noWorker.stderr, /BUNBASE_FUNCTIONS_WORKER_PATH \/nonexistent\/bunbase-qjs-worker is not executable/);
});

test('a root bunbased whose worker user does not exist refuses functions and says why', { skip: (process.getuid() !== 0 && 'not root: workers keep our uid') || (!HAVE_BWRAP && 'no bubblewrap') }, async () => {
  const srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_WORKER_USER: 'no-such-user-fnsbx' } });
  try {
    const h = (await httpRequest(`${srv.url}/health`)).json().services.functions;
    assert.equal(h.runs_functions, false);
    assert.match(h.sandbox, /unavailable: bunbased is root and cannot run workers as BUNBASE_FUNCTIONS_WORKER_USER 'no-such-user-fnsbx'/);
    const user = await newUser(srv.url, 'nouser');
    const p = await newProject(srv.url, user.access, 'NoUser');
    const r = await httpRequest(`${srv.url}/v1/projects/${p.id}/functions/f`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: 'export default () => new Response("x")' });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json().code, 'sandbox_unavailable');
  } finally {
    await srv.stop();
  }
});
