// Shared helpers for the integration tests: start/stop real bunbased processes on free ports with their
// own temp data dirs, run one-shot commands, and talk raw HTTP/1.1 over node:net.
//
// Every server started here is registered; teardown is unconditional: tests call stop() in `after`
// hooks, and a process 'exit' / SIGINT / SIGTERM handler kills whatever is still alive (including a
// PostgreSQL cluster left behind under one of our data dirs) and removes the temp dirs.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.BB_SOURCE_DIR || path.resolve(here, '..', '..');
export const BUILD_DIR = path.resolve(process.env.BB_BUILD_DIR || path.join(SOURCE_DIR, 'build'));

function findBinary(name) {
  const candidates = [
    path.join(BUILD_DIR, name),
    path.join(BUILD_DIR, 'src', name === 'bunbased' ? 'bunbased' : 'cli', name),
  ];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  return candidates[0];
}
export const BUNBASED = findBinary('bunbased');
export const BUNBASE = findBinary('bunbase');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The inherited environment without BUNBASE_* (tests are hermetic: each server gets its own
 * cluster), plus loopback/free-port defaults for every public listener other than the gateway, so
 * servers started in parallel never race for a fixed port (e.g. the Redis endpoint's 6379).
 */
export function baseEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BUNBASE_')) env[k] = v;
  env.BUNBASE_BUNDER_MANAGER_RESP_ADDR = '127.0.0.1:0';
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// registry + unconditional cleanup

const live = new Set(); // { proc, dataDir, keepDir }
const tempDirs = new Set();

function cleanupSync() {
  for (const s of live) {
    try { if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL'); } catch {}
    killPostgresFor(s.dataDir, 'SIGQUIT');
  }
  for (const d of tempDirs) {
    killPostgresFor(d, 'SIGQUIT');
    try { fs.rmSync(d, { recursive: true, force: true }); } catch {}
  }
  live.clear();
  tempDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { cleanupSync(); process.exit(128 + (os.constants.signals[sig] || 1)); });
}

/** A fresh temp dir under /tmp, mode 0755 (the postgres user must be able to traverse it). */
export function makeTempDir(prefix = 'bb-it-') {
  const d = fs.mkdtempSync(path.join('/tmp', prefix));
  fs.chmodSync(d, 0o755);
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d) {
  try { fs.rmSync(d, { recursive: true, force: true }); } catch {}
  tempDirs.delete(d);
}

// ---------------------------------------------------------------------------------------------
// /proc inspection: postgres processes that belong to a data dir

function readProc(pid, file) {
  try { return fs.readFileSync(`/proc/${pid}/${file}`); } catch { return null; }
}

function listProcs() {
  const out = [];
  let ents;
  try { ents = fs.readdirSync('/proc'); } catch { return out; }
  for (const e of ents) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = readProc(e, 'cmdline');
    const stat = readProc(e, 'stat');
    if (!cmd || !stat) continue;
    const s = stat.toString();
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    if (state === 'Z') continue; // zombies are not "left running"
    const argv = cmd.toString().split('\0').filter(Boolean);
    out.push({ pid: Number(e), ppid: Number(rest[1]), argv0: argv[0] || '', cmdline: argv.join(' ') });
  }
  return out;
}

/**
 * Processes of a PostgreSQL cluster under `dataDir`: every process whose command line mentions the
 * data dir and looks like postgres (the postmaster), plus the descendants of those (backends, whose
 * command lines are rewritten to "postgres: checkpointer" etc.).
 */
export function postgresProcessesFor(dataDir) {
  if (!dataDir) return [];
  const procs = listProcs();
  const isPg = (p) => /^(postgres|postmaster|pg_ctl)$/.test(path.basename(p.argv0)) || p.cmdline.startsWith('postgres:');
  const roots = procs.filter((p) => p.pid !== process.pid && p.cmdline.includes(dataDir) && isPg(p));
  const ids = new Set(roots.map((p) => p.pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) if (!ids.has(p.pid) && ids.has(p.ppid)) { ids.add(p.pid); grew = true; }
  }
  return procs.filter((p) => ids.has(p.pid));
}

/** Kill (by pid) the postmaster(s) of a cluster under dataDir; SIGQUIT = immediate shutdown. */
export function killPostgresFor(dataDir, signal = 'SIGQUIT') {
  for (const p of postgresProcessesFor(dataDir)) {
    if (!p.cmdline.includes(dataDir)) continue; // signal postmasters only; they take their children down
    try { process.kill(p.pid, signal); } catch {}
  }
}

/** Waits up to graceMs for postgres processes of dataDir to vanish; returns those still alive. */
export async function waitPostgresGone(dataDir, graceMs = 3000) {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = postgresProcessesFor(dataDir);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// ports

/** A free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// process helpers

function waitExit(proc, timeoutMs) {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode, timedOut: false });
  }
  return new Promise((resolve) => {
    let t = null;
    const onExit = (code, signal) => { if (t) clearTimeout(t); resolve({ code, signal, timedOut: false }); };
    proc.once('exit', onExit);
    if (timeoutMs != null) {
      t = setTimeout(() => { proc.off('exit', onExit); resolve({ code: null, signal: null, timedOut: true }); }, timeoutMs);
    }
  });
}
export { waitExit };

/**
 * Runs a command to completion (or timeoutMs, then SIGKILL). Returns {code, signal, stdout, stderr,
 * timedOut, ms}. `dataDir` (optional) is used to clean up a cluster the command may have left.
 */
export function runCommand(bin, args, { env = {}, timeoutMs = 60000 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const proc = spawn(bin, args, { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const reg = { proc, dataDir: null };
    live.add(reg);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const t = setTimeout(() => { timedOut = true; try { proc.kill('SIGKILL'); } catch {} }, timeoutMs);
    proc.on('error', (err) => { stderr += `spawn error: ${err.message}\n`; });
    proc.on('close', (code, signal) => {
      clearTimeout(t);
      live.delete(reg);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 });
    });
  });
}

/** bunbased with the given args (one-shot; for the exit-code tests). */
export function runBunbased(args, opts = {}) { return runCommand(BUNBASED, args, opts); }
/** The bunbase CLI. */
export function runCli(args, opts = {}) { return runCommand(BUNBASE, args, opts); }

// ---------------------------------------------------------------------------------------------
// server lifecycle

/**
 * Starts `bunbased serve` on a free port with a fresh temp data dir (or `dataDir` if given), waits for
 * the "bunbased listening on http://HOST:PORT" line and for GET /health to answer 200.
 * Options: env (extra env vars), args (extra CLI args), services (array or comma string),
 * dataDir (reuse an existing dir; the returned server then owns it), timeoutMs (default 60 s),
 * wrap (a command prefix that execs bunbased, e.g. ['prlimit', '--nofile=1024:4096', '--']).
 * Returns {url, port, dataDir, proc, stop(signal), stderr(), stdout(), exited}.
 */
export async function startServer({ env = {}, args = [], services, dataDir, timeoutMs = 60000, wrap } = {}) {
  if (!fs.existsSync(BUNBASED)) throw new Error(`bunbased binary not found at ${BUNBASED} (BB_BUILD_DIR=${BUILD_DIR})`);
  const dir = dataDir || makeTempDir();
  tempDirs.add(dir);
  let lastErr;
  // A free port can be taken by a parallel test between our probe and the server's bind: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce({ env, args, services, dir, timeoutMs, wrap });
    } catch (e) {
      lastErr = e;
      if (!e.portInUse) break;
    }
  }
  removeTempDir(dir);
  throw lastErr;
}

async function startOnce({ env, args, services, dir, timeoutMs, wrap }) {
  const port = await freePort();
  const argv = ['serve', '--data', dir, '--listen', `127.0.0.1:${port}`];
  if (services) argv.push(`--services=${Array.isArray(services) ? services.join(',') : services}`);
  argv.push(...args);
  const proc = spawn(wrap ? wrap[0] : BUNBASED, wrap ? [...wrap.slice(1), BUNBASED, ...argv] : argv, {
    env: baseEnv({ BUNBASE_LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reg = { proc, dataDir: dir };
  live.add(reg);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; if (err.length > 4 << 20) err = err.slice(-(2 << 20)); });
  const exited = waitExit(proc);
  proc.on('error', (e) => { err += `spawn error: ${e.message}\n`; });

  const tail = () => err.split('\n').slice(-60).join('\n');
  const deadline = Date.now() + timeoutMs;
  let url = null;
  let failure = null;
  let status = null;
  let listeningLine = false;
  let healthyNoLineSince = null;
  const expected = `http://127.0.0.1:${port}`;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      failure = `bunbased exited early (code ${proc.exitCode}, signal ${proc.signalCode})`;
      break;
    }
    if (!listeningLine) {
      const m = out.match(/bunbased listening on (http:\/\/\S+)/);
      if (m) { url = m[1].replace(/\/+$/, ''); listeningLine = true; }
    }
    try {
      // Before the line shows up, probe the port we asked for: if the server is healthy but never
      // prints (e.g. a block-buffered stdout), carry on after 3 s and let server.listeningLine tell.
      const r = await httpRequest(`${url || expected}/health`, { timeoutMs: 2000 });
      status = r.status;
      if (r.status === 200) {
        if (listeningLine) break;
        healthyNoLineSince ??= Date.now();
        if (Date.now() - healthyNoLineSince > 3000) { url = expected; break; }
      }
    } catch { /* not yet */ }
    await sleep(100);
  }
  if (!failure && (!url || status !== 200)) {
    failure = listeningLine ? `/health did not answer 200 within ${timeoutMs} ms (last status ${status})`
                  : `no "bunbased listening on" line within ${timeoutMs} ms`;
  }
  if (failure) {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const r = await waitExit(proc, 20000);
      if (r.timedOut) { proc.kill('SIGKILL'); await waitExit(proc); }
    }
    await exited;
    live.delete(reg);
    killPostgresFor(dir, 'SIGQUIT');
    const e = new Error(`${failure}\nargs: ${argv.join(' ')}\nstdout:\n${out}\nstderr (tail):\n${tail()}`);
    e.portInUse = /in use|EADDRINUSE/i.test(err) && proc.exitCode === 2;
    throw e;
  }
  let stopped = null;
  const server = {
    url,
    port,
    dataDir: dir,
    /** true if the "bunbased listening on http://HOST:PORT" line was printed on stdout */
    listeningLine,
    proc,
    pid: proc.pid,
    exited,
    stdout: () => out,
    stderr: () => err,
    /**
     * Sends `signal` (default SIGTERM), waits for exit (SIGKILL after killAfterMs, default 20 s),
     * records the postgres processes still alive for the data dir (after a short grace), cleans them
     * up, and removes the data dir unless keepDir. Returns {code, signal, killed, leftoverPostgres}.
     */
    stop(signal = 'SIGTERM', { killAfterMs = 20000, keepDir = false, pgGraceMs = 3000 } = {}) {
      if (stopped) return stopped;
      stopped = (async () => {
        let killed = false;
        if (proc.exitCode === null && proc.signalCode === null) {
          try { proc.kill(signal); } catch {}
        }
        let r = await waitExit(proc, killAfterMs);
        if (r.timedOut) {
          killed = true;
          try { proc.kill('SIGKILL'); } catch {}
          r = await waitExit(proc);
        }
        live.delete(reg);
        const leftoverPostgres = signal === 'SIGKILL' ? postgresProcessesFor(dir) : await waitPostgresGone(dir, pgGraceMs);
        if (!keepDir) {
          killPostgresFor(dir, 'SIGQUIT');
          await waitPostgresGone(dir, 5000);
          removeTempDir(dir);
        }
        return { code: r.code, signal: r.signal, killed, leftoverPostgres };
      })();
      return stopped;
    },
  };
  return server;
}

// ---------------------------------------------------------------------------------------------
// HTTP (node:http) helper

/**
 * One HTTP request with node:http. Returns {status, headers, body (Buffer), text, json()}.
 * Options: method, headers, body (string|Buffer), agent (default: a fresh non-keep-alive agent),
 * timeoutMs.
 */
export function httpRequest(url, { method = 'GET', headers = {}, body, agent, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    if (body != null && h['content-length'] == null && h['Content-Length'] == null) h['Content-Length'] = Buffer.byteLength(body);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h,
      agent: agent === undefined ? false : agent,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        resolve({
          status: res.statusCode, headers: res.headers, body: buf, text,
          reusedSocket: req.reusedSocket,
          json() { return JSON.parse(text); },
        });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body != null) req.write(body);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// raw HTTP/1.1 over node:net

/**
 * Parses one HTTP/1.1 response from the start of `buf`. Returns null when incomplete, else
 * {status, reason, headers (lower-case names -> value; repeated names joined with ", "), rawHeaders
 * ([name, value] pairs), body (Buffer), bytes (length consumed), json()}. A response with neither
 * Content-Length nor chunked encoding extends to the end of the stream: pass `eof=true` once the
 * socket is closed. `head=true` (response to HEAD) or 1xx/204/304 have no body.
 */
export function parseHttpResponse(buf, { eof = false, head = false } = {}) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const headText = buf.subarray(0, end).toString('latin1');
  const lines = headText.split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
  const status = Number(m[2]);
  const headers = {};
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    rawHeaders.push([name, value]);
    const k = name.toLowerCase();
    headers[k] = headers[k] != null ? `${headers[k]}, ${value}` : value;
  }
  let pos = end + 4;
  let body;
  if (head || (status >= 100 && status < 200) || status === 204 || status === 304) {
    body = Buffer.alloc(0);
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(pos, le).toString('latin1').split(';')[0].trim(), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      pos = le + 2;
      if (size === 0) {
        // trailers until an empty line
        for (;;) {
          const te = buf.indexOf('\r\n', pos);
          if (te < 0) return null;
          const empty = te === pos;
          pos = te + 2;
          if (empty) break;
        }
        break;
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] != null) {
    const n = Number(headers['content-length']);
    if (buf.length < pos + n) return null;
    body = buf.subarray(pos, pos + n);
    pos += n;
  } else {
    if (!eof) return null;
    body = buf.subarray(pos);
    pos = buf.length;
  }
  const text = body.toString('utf8');
  return {
    httpVersion: m[1], status, reason: m[3] || '', headers, rawHeaders, body, text, bytes: pos,
    json() { return JSON.parse(text); },
  };
}

/**
 * A raw TCP client: exact bytes out, raw bytes in.
 *   const c = await RawClient.connect(port);
 *   c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
 *   const res = await c.readResponse();       // one parsed response (consumed from the buffer)
 *   const closed = await c.waitClose(3000);   // true if the peer closed within 3 s
 * Write errors (peer already closed) are recorded in c.error, never thrown.
 */
export class RawClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.closedAt = null;
    this.error = null;
    this.waiters = new Set();
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._wake(); });
    sock.on('end', () => { this._markClosed(); });
    sock.on('close', () => { this._markClosed(); });
    sock.on('error', (e) => { this.error = e; this._markClosed(); });
  }

  static connect(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      sock.setNoDelay(true);
      const onErr = (e) => reject(e);
      sock.once('error', onErr);
      sock.once('connect', () => { sock.off('error', onErr); resolve(new RawClient(sock)); });
    });
  }

  _markClosed() {
    if (!this.closed) { this.closed = true; this.closedAt = Date.now(); }
    this._wake();
  }

  _wake() { for (const w of [...this.waiters]) w(); }

  /** Resolves when pred() is true (checked on every event), or rejects after timeoutMs. */
  waitUntil(pred, timeoutMs, what = 'condition') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try { v = pred(); } catch (e) { cleanup(); reject(e); return; }
        if (v) { cleanup(); resolve(v); }
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what}; received so far: ${JSON.stringify(this.buf.toString('latin1').slice(0, 2000))}; closed=${this.closed}`));
      }, timeoutMs);
      const cleanup = () => { clearTimeout(t); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  /** Writes bytes; resolves when flushed (or immediately if the socket is gone). Never throws. */
  write(data) {
    return new Promise((resolve) => {
      if (this.closed || this.sock.destroyed || !this.sock.writable) { resolve(false); return; }
      try {
        this.sock.write(data, (e) => { if (e) this.error = e; resolve(!e); });
      } catch (e) { this.error = e; resolve(false); }
    });
  }

  /** Reads and consumes one full response (head: response to a HEAD request). */
  async readResponse({ timeoutMs = 10000, head = false } = {}) {
    const res = await this.waitUntil(() => {
      const r = parseHttpResponse(this.buf, { eof: this.closed, head });
      if (r) return r;
      if (this.closed) throw new Error(`connection closed before a full response; received: ${JSON.stringify(this.buf.toString('latin1').slice(0, 2000))}`);
      return null;
    }, timeoutMs, 'a full HTTP response');
    this.buf = this.buf.subarray(res.bytes);
    return res;
  }

  /** True if the peer closed within timeoutMs. */
  async waitClose(timeoutMs = 5000) {
    try { await this.waitUntil(() => this.closed, timeoutMs, 'close'); return true; } catch { return false; }
  }

  destroy() { try { this.sock.destroy(); } catch {} }
}

/** A request in bytes: rawRequest('GET', '/health', {Host: 'x'}, body). Adds Host if missing. */
export function rawRequest(method, target, headers = {}, body) {
  const h = { ...headers };
  if (!Object.keys(h).some((k) => k.toLowerCase() === 'host')) h.Host = '127.0.0.1';
  if (body != null && !Object.keys(h).some((k) => /^(content-length|transfer-encoding)$/i.test(k))) {
    h['Content-Length'] = Buffer.byteLength(body);
  }
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return body == null ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}

/** Encodes `body` as a chunked stream using the given chunk sizes (cycled). */
export function chunkedBody(body, sizes = [1000]) {
  const parts = [];
  let off = 0;
  let i = 0;
  while (off < body.length) {
    const n = Math.min(sizes[i++ % sizes.length], body.length - off);
    parts.push(Buffer.from(`${n.toString(16)}\r\n`, 'latin1'), body.subarray(off, off + n), Buffer.from('\r\n'));
    off += n;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Parses Prometheus text format into {help: {name: text}, type: {name: type}, samples: [{name, labels, value}]}. */
export function parsePrometheus(text) {
  const help = {};
  const type = {};
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let m;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) { help[m[1]] = m[2]; continue; }
    if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) { type[m[1]] = m[2]; continue; }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`bad metrics line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;
      let lm;
      let consumed = 0;
      while ((lm = re.exec(m[3]))) { labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c)); consumed += lm[0].length; }
      if (consumed !== m[3].length) throw new Error(`bad label set: ${JSON.stringify(line)}`);
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(v) && m[4] !== 'NaN') throw new Error(`bad sample value: ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value: v });
  }
  return { help, type, samples };
}

/** Deep search: does `value` (number or string form) appear anywhere in a JSON value? */
export function jsonContains(obj, value) {
  if (obj === value || (obj != null && typeof obj !== 'object' && String(obj) === String(value))) return true;
  if (obj && typeof obj === 'object') return Object.values(obj).some((v) => jsonContains(v, value));
  return false;
}
