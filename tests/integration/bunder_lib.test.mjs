// Helpers for the bunder integration tests (imported by bunder*.test.mjs): start real
// build/bunder processes on free ports with temp data dirs, a small RESP2/RESP3 client over
// node:net, and redis-cli runs. Run directly, it checks the RESP decoder itself.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'node:test';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.BB_SOURCE_DIR || path.resolve(here, '..', '..');
export const BUILD_DIR = path.resolve(process.env.BB_BUILD_DIR || path.join(SOURCE_DIR, 'build'));
export const BUNDER = path.join(BUILD_DIR, 'bunder');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Set();
const dirs = new Set();
function cleanup() {
  for (const p of live) { try { p.kill('SIGKILL'); } catch {} }
  for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch {} }
}
process.on('exit', cleanup);

export function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bunder-test-'));
  dirs.add(d);
  return d;
}

/** Starts bunder with --port 0 (the kernel picks) and waits for its ready line. */
export async function startBunder(args = [], { dir = tempDir() } = {}) {
  const proc = spawn(BUNDER, ['--port', '0', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bunder did not start: ' + log)), 15000);
    const on = (b) => {
      log += b.toString();
      const m = /msg="ready" port=(\d+)/.exec(log);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    };
    proc.stderr.on('data', on);
    proc.stdout.on('data', on);
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`bunder exited ${code}: ${log}`)); });
  });
  proc.removeAllListeners('exit');
  const s = {
    proc, port, dir,
    get log() { return log; },
    async stop(sig = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(sig);
      await done;
      live.delete(proc);
    },
    kill() { return s.stop('SIGKILL'); },
  };
  proc.stderr.on('data', (b) => { log += b.toString(); });
  return s;
}

/** Runs bunder expecting it to exit (bad config etc.): returns {status, stderr}. */
export function runBunderSync(args) {
  const r = spawnSync(BUNDER, args, { encoding: 'utf8', timeout: 10000 });
  return { status: r.status, stderr: r.stderr };
}

export function encode(args) {
  const parts = [`*${args.length}\r\n`];
  const bufs = [];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    bufs.push(Buffer.from(parts.join('') + `$${b.length}\r\n`), b, Buffer.from('\r\n'));
    parts.length = 0;
  }
  if (parts.length) bufs.push(Buffer.from(parts.join('')));
  return Buffer.concat(bufs);
}

/** Incremental RESP2/RESP3 decoder. Returns [value, nextOffset] or null when incomplete.
 * simple string -> string, error -> {error}, integer -> number, bulk -> string (or Buffer with
 * raw=true), null -> null, array/set/push -> array, map -> object, double -> number, bool -> bool. */
export function decode(buf, off = 0, raw = false) {
  if (off >= buf.length) return null;
  const nl = buf.indexOf('\r\n', off);
  if (nl < 0) return null;
  const t = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, nl);
  const next = nl + 2;
  switch (t) {
    case '+': return [line, next];
    case '-': return [{ error: line }, next];
    case ':': return [Number(line), next];
    case ',': return [line === 'inf' ? Infinity : line === '-inf' ? -Infinity : Number(line), next];
    case '#': return [line === 't', next];
    case '_': return [null, next];
    case '$': case '=': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      const b = buf.subarray(next, next + n);
      let v = raw ? Buffer.from(b) : b.toString('utf8');
      if (t === '=' && !raw) v = v.slice(4);
      return [v, next + n + 2];
    }
    case '*': case '~': case '>': case '%': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const cnt = t === '%' ? n * 2 : n;
      const out = [];
      let o = next;
      for (let i = 0; i < cnt; i++) {
        const r = decode(buf, o, raw);
        if (!r) return null;
        out.push(r[0]);
        o = r[1];
      }
      if (t === '%') {
        const obj = {};
        for (let i = 0; i < out.length; i += 2) obj[out[i]] = out[i + 1];
        return [obj, o];
      }
      return [out, o];
    }
    default: throw new Error(`bad RESP type byte ${JSON.stringify(t)} at ${off}`);
  }
}

export class Client {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.pushes = [];
    this.closed = false;
    this.raw = false;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._drain(); });
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
      for (const f of this.onclose || []) f();
    });
    sock.on('error', () => {});
  }
  static connect(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  _drain() {
    for (;;) {
      const r = decode(this.buf, 0, this.raw);
      if (!r) return;
      this.buf = this.buf.subarray(r[1]);
      const w = this.waiters.shift();
      if (w) w.resolve(r[0]); else this.pushes.push(r[0]);
    }
  }
  /** Sends one command and resolves with its reply. */
  call(...args) {
    this.sock.write(encode(args));
    return this.next();
  }
  /** Next reply (or queued push message). */
  next(timeoutMs = 10000) {
    if (this.pushes.length) return Promise.resolve(this.pushes.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for a reply')), timeoutMs);
      this.waiters.push({ resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
    });
  }
  writeRaw(bytes) { this.sock.write(bytes); }
  waitClose(timeoutMs = 5000) {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('connection not closed')), timeoutMs);
      (this.onclose ||= []).push(() => { clearTimeout(t); resolve(); });
    });
  }
  close() { this.sock.destroy(); }
}

/** Runs redis-cli against port with args; returns trimmed stdout. */
export function cli(port, args, input) {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', input, timeout: 20000 });
  if (r.error) throw r.error;
  return r.stdout.replace(/\n$/, '');
}

test('RESP decoder handles every reply type and partial input', () => {
  const b = Buffer.from('*3\r\n+OK\r\n:5\r\n$3\r\nabc\r\n%1\r\n$1\r\nk\r\n,1.5\r\n_\r\n#t\r\n-ERR x\r\n');
  let r = decode(b, 0);
  assert.deepEqual(r[0], ['OK', 5, 'abc']);
  r = decode(b, r[1]);
  assert.deepEqual(r[0], { k: 1.5 });
  r = decode(b, r[1]); assert.equal(r[0], null);
  r = decode(b, r[1]); assert.equal(r[0], true);
  r = decode(b, r[1]); assert.deepEqual(r[0], { error: 'ERR x' });
  assert.equal(decode(Buffer.from('$5\r\nab'), 0), null);
  assert.equal(encode(['SET', 'a', 'b']).toString(), '*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n');
});
