// Differential helpers for the bunder Redis-compatibility tests (bunder_scripting, bunder_bitmap,
// bunder_hll): start Debian's redis-server next to bunder, send the same commands to both over
// raw sockets and compare the reply bytes. Not a test file itself (no .test. in the name).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import assert from 'node:assert/strict';
import { decode, encode, sleep, startBunder, tempDir } from './bunder_lib.test.mjs';

export const REDIS_SERVER = process.env.BB_REDIS_SERVER || '/usr/bin/redis-server';

/** A free loopback port (bound then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts redis-server (no persistence unless args say so) on a free loopback port; stop() kills
 * it by pid. */
export async function startRedis(args = []) {
  const dir = tempDir();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout.on('data', (b) => { log += b; });
    proc.stderr.on('data', (b) => { log += b; });
    const ok = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 10000);
      const check = () => { if (/Ready to accept connections/.test(log)) { clearTimeout(t); resolve(true); } };
      proc.stdout.on('data', check);
      proc.on('exit', () => { clearTimeout(t); resolve(false); });
    });
    if (!ok) {
      try { proc.kill('SIGKILL'); } catch {}
      if (attempt < 3) continue;
      throw new Error('redis-server did not start: ' + log);
    }
    process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
    return {
      proc, port, dir,
      async stop() {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await done;
      },
    };
  }
}

/** A client that resolves each reply as its exact bytes (a Buffer). */
export class RawClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._drain(); });
    sock.on('error', () => {});
    sock.on('close', () => { for (const w of this.waiters.splice(0)) w.reject(new Error('closed')); });
  }
  static connect(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  _drain() {
    while (this.waiters.length) {
      const r = decode(this.buf, 0, true);
      if (!r) return;
      const bytes = Buffer.from(this.buf.subarray(0, r[1]));
      this.buf = this.buf.subarray(r[1]);
      const w = this.waiters.shift();
      w.resolve(bytes);
    }
  }
  send(args) { this.sock.write(encode(args)); }
  next(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for a reply')), timeoutMs);
      this.waiters.push({ resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      this._drain();
    });
  }
  /** Sends one command; resolves with the reply bytes. */
  call(...args) {
    this.send(args);
    return this.next();
  }
  /** The reply as a string (for readable assertion messages). */
  async str(...args) { return (await this.call(...args)).toString('latin1'); }
  close() { this.sock.destroy(); }
}

/** Both servers, a raw client on each. */
export async function startPair({ bunderArgs = [], redisArgs = [] } = {}) {
  const [redis, bunder] = await Promise.all([startRedis(redisArgs), startBunder(bunderArgs)]);
  const rc = await RawClient.connect(redis.port);
  const bc = await RawClient.connect(bunder.port);
  return {
    redis, bunder, rc, bc,
    /** Runs every command on both and asserts the replies are the same bytes. */
    async same(cmds) {
      for (const args of cmds) {
        const [a, b] = await Promise.all([rc.call(...args), bc.call(...args)]);
        assert.equal(b.toString('latin1'), a.toString('latin1'),
          `reply to ${JSON.stringify(args).slice(0, 300)} differs`);
      }
    },
    async stop() {
      rc.close();
      bc.close();
      await Promise.all([redis.stop(), bunder.stop()]);
    },
  };
}

export { sleep, startBunder, tempDir, fs, path };
