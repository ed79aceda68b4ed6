// Helpers for the bun-kms integration tests: one call over HTTP or over the internal RPC (same
// request shape, same answer shape), base64 helpers, the audit log.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { httpRequest } from './harness.mjs';

export const TOKEN = 'bun-kms-test-token-0123456789abcdef';
export const b64 = (s) => Buffer.from(s).toString('base64');
export const unb64 = (s) => Buffer.from(s, 'base64');

function headersFor({ token = TOKEN, key, identity, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h['X-Bunbase-Client-Key'] = key;
  else if (token) h.Authorization = `Bearer ${token}`;
  if (identity) h['X-Bunbase-Identity'] = identity;
  return h;
}

function parse(status, text, headers) {
  let json = null;
  try { json = text.length ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status, json, text, headers, code: json && json.code };
}

/** One HTTP request. opts: body (object → JSON, string → as is), token, key (pk_/sk_), identity. */
export async function http(base, method, p, opts = {}) {
  const h = headersFor(opts);
  let data;
  if (opts.body !== undefined) {
    data = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    h['Content-Type'] = 'application/json';
  }
  const r = await httpRequest(`${base}${p}`, { method, headers: h, body: data });
  return parse(r.status, r.text, r.headers);
}

/** A client of a service's RPC listener (address from <data>/<service>.addr; bun-kms by default:
 * every service with an internal RPC shares core bb_rpc_http's Call shape). */
export class KmsRpc {
  constructor() { this.buf = Buffer.alloc(0); this.next = 1n; this.pending = new Map(); }
  async connect(dataDir, service = 'bun-kms') {
    const addr = JSON.parse(fs.readFileSync(path.join(dataDir, `${service}.addr`), 'utf8')).rpc;
    const [host, port] = addr.split(':');
    this.sock = await new Promise((resolve, reject) => {
      const c = net.connect({ host, port: Number(port) }, () => resolve(c));
      c.once('error', reject);
    });
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32LE(0)) {
        const len = this.buf.readUInt32LE(0);
        const id = this.buf.readBigUInt64LE(4);
        const status = this.buf[12];
        const plen = this.buf.readUInt32LE(13);
        const payload = JSON.parse(this.buf.subarray(17, 17 + plen).toString('utf8'));
        this.buf = this.buf.subarray(4 + len);
        this.pending.get(id)?.({ status, payload });
        this.pending.delete(id);
      }
    });
    return this;
  }
  raw(command, payload) {
    const id = this.next++;
    const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
    const hdr = Buffer.alloc(17);
    hdr.writeUInt32LE(13 + body.length, 0);
    hdr.writeBigUInt64LE(id, 4);
    hdr[12] = command;
    hdr.writeUInt32LE(body.length, 13);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error('rpc timeout')); }, 10000);
      this.pending.set(id, (r) => { clearTimeout(t); resolve(r); });
      this.sock.write(Buffer.concat([hdr, body]));
    });
  }
  /** Same signature and answer shape as http(); an RPC-level error frame is {status: 'rpc-error'}. */
  async call(method, p, opts = {}) {
    const h = headersFor(opts);
    let data = '';
    if (opts.body !== undefined) {
      data = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      h['Content-Type'] = 'application/json';
    }
    const r = await this.raw(1, { method, path: p, headers: h, body: Buffer.from(data).toString('base64') });
    if (r.status !== 0) return { status: 'rpc-error', json: r.payload, code: r.payload.code };
    const lower = Object.fromEntries(Object.entries(r.payload.headers).map(([k, v]) => [k.toLowerCase(), v]));
    return parse(r.payload.status, Buffer.from(r.payload.body, 'base64').toString('utf8'), lower);
  }
  close() { this.sock?.destroy(); }
}

/** Every audit record matching the filters (follows the cursor). */
export async function auditAll(base, query = '') {
  const out = [];
  let cursor = '';
  for (;;) {
    const r = await http(base, 'GET', `/v1/kms/_admin/audit?limit=500${query ? `&${query}` : ''}${cursor ? `&cursor=${cursor}` : ''}`);
    if (r.status !== 200) throw new Error(`audit: ${r.status} ${r.text}`);
    out.push(...r.json.records);
    if (!r.json.next_cursor) return out;
    cursor = r.json.next_cursor;
  }
}
