// Helpers for the bunder-manager integration tests (imported by bunder_manager*.test.mjs), plus
// self-tests of the helpers themselves (this file is also run by ctest as a test file).
//
// - childBinary(): build/bunder when it exists and answers AUTH + PING, else Debian's redis-server
//   (the stand-in child that takes the same flags); logs which one.
// - startManager(): a real bunbased (platform + bunder-manager) with a keys file, RESP and RPC on
//   free ports (port 0, read back from the "ready" log line) and a random children port range.
// - RespClient: a small RESP2/RESP3 client (pipelining, raw bytes), RpcClient: ProxyKV frames.

import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { BUILD_DIR, freePort, makeTempDir, removeTempDir, sleep, startServer, httpRequest } from './harness.mjs';

// ---------------------------------------------------------------------------------------------
// RESP

export function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

class RespError extends Error {
  constructor(msg) { super(msg); this.resp = msg; }
}

/** Parses one reply at buf[pos]; returns {value, pos} or null if incomplete. Bulk strings are Buffers. */
export function parseReply(buf, pos = 0) {
  const le = buf.indexOf('\r\n', pos);
  if (le < 0) return null;
  const t = String.fromCharCode(buf[pos]);
  const line = buf.subarray(pos + 1, le).toString('latin1');
  const next = le + 2;
  switch (t) {
    case '+': return { value: line, pos: next };
    case '-': return { value: new RespError(line), pos: next };
    case ':': return { value: Number(line), pos: next };
    case '_': return { value: null, pos: next };
    case '#': return { value: line === 't', pos: next };
    case ',': return { value: Number(line), pos: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, pos: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.subarray(next, next + n), pos: next + n + 2 };
    }
    case '*': case '%': case '~': {
      let n = Number(line);
      if (n < 0) return { value: null, pos: next };
      if (t === '%') n *= 2;
      const out = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return null;
        out.push(r.value);
        p = r.pos;
      }
      return { value: out, pos: p };
    }
    default: throw new Error(`bad reply type ${JSON.stringify(t)} in ${JSON.stringify(buf.toString('latin1').slice(pos, pos + 80))}`);
  }
}

export class RespClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._drain(); });
    const onEnd = () => { this.closed = true; for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed')); };
    sock.on('end', onEnd);
    sock.on('close', onEnd);
    sock.on('error', () => {});
  }
  static connect(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.setNoDelay(true);
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(new RespClient(s)); });
    });
  }
  _drain() {
    while (this.waiters.length) {
      const r = parseReply(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r.pos);
      this.waiters.shift().resolve(r.value);
    }
  }
  /** Next reply (errors are returned as RespError values, not thrown). */
  reply(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      if (this.closed && this.waiters.length === 0 && this.buf.length === 0) { reject(new Error('connection closed')); return; }
      const t = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      this._drain();
    });
  }
  writeRaw(bytes) { this.sock.write(bytes); }
  /** Sends one command and returns its reply. */
  call(...args) { this.sock.write(encodeCommand(args)); return this.reply(); }
  /** Sends many commands in one write and returns all replies in order. */
  async pipeline(cmds) {
    this.sock.write(Buffer.concat(cmds.map(encodeCommand)));
    const out = [];
    for (let i = 0; i < cmds.length; i++) out.push(await this.reply());
    return out;
  }
  waitClose(ms = 3000) {
    return new Promise((resolve) => {
      if (this.closed) { resolve(true); return; }
      const t = setTimeout(() => resolve(false), ms);
      this.sock.once('close', () => { clearTimeout(t); resolve(true); });
    });
  }
  close() { try { this.sock.destroy(); } catch {} }
}

export const str = (v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v);

// ---------------------------------------------------------------------------------------------
// RPC (ProxyKV)

export class RpcClient {
  constructor(sock) {
    this.sock = sock; this.buf = Buffer.alloc(0); this.pending = new Map(); this.nextId = 1n;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._drain(); });
    sock.on('error', () => {});
    sock.on('close', () => { for (const p of this.pending.values()) p.reject(new Error('rpc closed')); this.pending.clear(); });
  }
  static connect(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(new RpcClient(s)); });
    });
  }
  _drain() {
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) return;
      const id = this.buf.readBigUInt64LE(4);
      const status = this.buf[12];
      const plen = this.buf.readUInt32LE(13);
      const payload = this.buf.subarray(17, 17 + plen).toString('utf8');
      this.buf = this.buf.subarray(4 + len);
      const p = this.pending.get(id);
      if (p) { this.pending.delete(id); p.resolve({ status, payload: JSON.parse(payload) }); }
    }
  }
  /** Raw call: returns {status (frame status), payload (parsed JSON)}. */
  raw(command, obj) {
    const id = this.nextId++;
    const body = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj));
    const hdr = Buffer.alloc(17);
    hdr.writeUInt32LE(13 + body.length, 0);
    hdr.writeBigUInt64LE(id, 4);
    hdr[12] = command;
    hdr.writeUInt32LE(body.length, 13);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(Buffer.concat([hdr, body]));
    });
  }
  /** ProxyKV: returns {status (HTTP), body (Buffer), frame}. */
  async kv(token, method, projectId, p, body) {
    const req = { method, project_id: projectId, path: p, token };
    if (body != null) req.body = Buffer.from(body).toString('base64');
    const r = await this.raw(1, req);
    if (r.status !== 0) return { frame: r.status, error: r.payload.error };
    return { frame: 0, status: r.payload.status, body: Buffer.from(r.payload.body, 'base64') };
  }
  close() { try { this.sock.destroy(); } catch {} }
}

// ---------------------------------------------------------------------------------------------
// child binary

let chosen = null;

async function respondsToPing(bin) {
  const port = await freePort();
  const dir = makeTempDir('bb-bm-probe-');
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes',
    '--appendfsync', 'everysec', '--requirepass', 'probe', '--maxmemory', '100mb'], { stdio: 'ignore' });
  let ok = false;
  try {
    for (let i = 0; i < 30 && !ok && proc.exitCode === null; i++) {
      await sleep(100);
      try {
        const c = await RespClient.connect(port);
        const r = await c.pipeline([['AUTH', 'probe'], ['PING'], ['SET', 'k', 'v'], ['GET', 'k']]);
        ok = r[0] === 'OK' && r[1] === 'PONG' && r[2] === 'OK' && str(r[3]) === 'v';
        c.close();
      } catch {}
    }
  } finally {
    proc.kill('SIGKILL');
    removeTempDir(dir);
  }
  return ok;
}

/** build/bunder when it exists and works, else /usr/bin/redis-server. Logged once. */
export async function childBinary() {
  if (chosen) return chosen;
  const own = path.join(BUILD_DIR, 'bunder');
  if (process.env.BB_BUNDER_BIN) chosen = process.env.BB_BUNDER_BIN;
  else if (fs.existsSync(own) && await respondsToPing(own)) chosen = own;
  else chosen = '/usr/bin/redis-server';
  console.log(`# bunder-manager tests: child binary = ${chosen}`);
  return chosen;
}

// ---------------------------------------------------------------------------------------------
// servers

export const KEYS = { p1: 'key-one', p2: 'key-two', p3: 'key-three', lazy: 'lazy-key' };

/** A port range for children that parallel test files are unlikely to share (below the ephemeral range). */
export function childPortBase() { return 20000 + Math.floor(Math.random() * 120) * 100; }

/**
 * Starts bunbased (platform + bunder-manager). Returns {server, url, resp, rpc, token, dataDir, keysFile,
 * handoff}. env overrides any BUNBASE_* knob; bin overrides the child binary (default childBinary()).
 * handoff: the manager hands authenticated sockets to its children (bunder) instead of relaying.
 */
export async function startManager({ env = {}, dataDir, keys = KEYS, bin } = {}) {
  bin = bin || await childBinary();
  const keysDir = makeTempDir('bb-bm-keys-');
  const keysFile = path.join(keysDir, 'keys');
  fs.writeFileSync(keysFile, `# projectId key\n${Object.entries(keys).map(([p, k]) => `${p} ${k}`).join('\n')}\n`);
  const server = await startServer({
    services: 'platform,bunder-manager',
    dataDir,
    env: {
      BUNBASE_BUNDER_BIN: bin,
      BUNBASE_BUNDER_MANAGER_RESP_ADDR: '127.0.0.1:0',
      BUNBASE_BUNDER_MANAGER_RPC_ADDR: '127.0.0.1:0',
      BUNBASE_BUNDER_MANAGER_KEYS_FILE: keysFile,
      BUNBASE_BUNDER_MANAGER_PORT_BASE: String(childPortBase()),
      BUNBASE_BUNDER_MANAGER_PORT_COUNT: '100',
      BUNBASE_BUNDER_MANAGER_MAXMEMORY_MB: '64',
      ...env,
    },
  });
  const m = /msg="ready" resp_port=(\S+) http_port=(\S+) rpc_port=(\S+)/.exec(server.stderr());
  const ho = /msg="ready" .* handoff=(on|off)/.exec(server.stderr());
  assert.ok(m, `no bunder-manager ready line in:\n${server.stderr().slice(-3000)}`);
  const token = fs.readFileSync(path.join(server.dataDir, 'internal_token'), 'utf8').trim();
  return {
    server, url: server.url, token, dataDir: server.dataDir, keysFile,
    resp: Number(m[1]), rpc: Number(m[3]), handoff: !!ho && ho[1] === 'on',
    auth: { Authorization: `Bearer ${token}` },
    cleanup: () => removeTempDir(keysDir),
  };
}

/**
 * startManager for a test file whose managers are stopped (SIGKILL) and cleaned up after all its
 * tests: call once at the top level, then `await start(opts)`.
 */
export function managersStoppedAfter() {
  const started = [];
  after(async () => {
    for (const m of started) {
      await m.server.stop('SIGKILL').catch(() => {});
      m.cleanup();
    }
  });
  return async (opts) => {
    const m = await startManager(opts);
    started.push(m);
    return m;
  };
}

/** A RESP connection authenticated for project p. */
export async function respFor(mgr, p, key = KEYS[p]) {
  const c = await RespClient.connect(mgr.resp);
  const r = await c.call('AUTH', p, key);
  assert.equal(r, 'OK', `AUTH ${p}: ${r && r.resp}`);
  return c;
}

export function kvUrl(mgr, p, key) { return `${mgr.url}/kv/${p}/kv/${encodeURIComponent(key)}`; }

export const kvPut = (mgr, p, key, body) => httpRequest(kvUrl(mgr, p, key), { method: 'PUT', headers: mgr.auth, body });
export const kvGet = (mgr, p, key) => httpRequest(kvUrl(mgr, p, key), { headers: mgr.auth });

/** The child of project p as recorded in its pid file: {pid, start} or null. */
export function childPid(mgr, p) {
  try {
    const [pid, start] = fs.readFileSync(path.join(mgr.dataDir, 'bunder', 'projects', p, 'bunder.pid'), 'utf8').trim().split(' ');
    return { pid: Number(pid), start: Number(start) };
  } catch { return null; }
}

/** True if a process with that pid is alive (and not a zombie). */
export function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

/** Counts the log lines `child_spawned project=<p>`. */
export function spawnCount(mgr, p) {
  return mgr.server.stderr().split('\n').filter((l) => l.includes('msg="child_spawned"') && l.includes(` project=${p} `)).length;
}

export async function waitFor(pred, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// self-tests of the helpers

test('helpers: RESP reply parser handles every type and partial input', () => {
  const b = Buffer.from('+OK\r\n-ERR x\r\n:5\r\n$3\r\na b\r\n$-1\r\n*2\r\n$1\r\nx\r\n:1\r\n%1\r\n+k\r\n+v\r\n_\r\n');
  let p = 0;
  const vals = [];
  while (p < b.length) { const r = parseReply(b, p); vals.push(r.value); p = r.pos; }
  assert.equal(vals[0], 'OK');
  assert.equal(vals[1].resp, 'ERR x');
  assert.equal(vals[2], 5);
  assert.equal(str(vals[3]), 'a b');
  assert.equal(vals[4], null);
  assert.deepEqual(vals[5].map(str), ['x', 1]);
  assert.deepEqual(vals[6], ['k', 'v']);
  assert.equal(vals[7], null);
  assert.equal(parseReply(Buffer.from('$5\r\nab'), 0), null);
});

test('helpers: the chosen child binary answers AUTH and PING', async () => {
  const bin = await childBinary();
  assert.ok(fs.existsSync(bin), bin);
});
