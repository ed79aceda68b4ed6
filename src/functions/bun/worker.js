// worker.js — the Bun runtime's worker: the same frames as bunbase-qjs-worker
// (docs/internals/functions.md) over fd 3, one invocation at a time, the bundle imported once.
//
//   bun worker.js --bundle FILE [--max-frame BYTES]     serve (READY / LOAD_ERROR, then INVOKE…)
//   bun worker.js --check FILE                          load and print "ok" or the error (exit 1)
//
// Embedded into bunbased at build time and written to <data>/functions/bun-worker.js at start;
// started by the service inside the same sandbox as the QuickJS worker (no network), with only the
// function's environment. fetch() is replaced by the service's proxy (FETCH / FETCH_RESULT frames,
// the allow-list and the gateway, as in QuickJS); BunBase.admin() (admin.js, prepended) uses it.
// The deadline is the service's: it kills the process when no answer came in time. console output
// travels as LOG frames.
import fs from 'node:fs';
import { format } from 'node:util';

const FD = 3;
const T = { INVOKE: 0x01, FETCH_RESULT: 0x02, READY: 0x10, LOAD_ERROR: 0x11, LOG: 0x20, RESPONSE: 0x21, ERROR: 0x22, FETCH: 0x23 };
const ERR = { EXCEPTION: 1, MEMORY: 3, BAD_RESPONSE: 4, TOO_LARGE: 5 };

const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
const checkFile = opt('--check');
const bundle = checkFile || opt('--bundle');
const maxFrame = Number(opt('--max-frame', String(8 << 20)));
delete process.env.PWD; // set by bubblewrap: the function gets only what it is given
delete process.env.BUN_JSC_forceRAMSize; // the service's GC hint (MEMORY_MB), not the function's

// ------------------------------------------------------------------ frames
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const str = (s) => { const b = typeof s === 'string' ? Buffer.from(s) : Buffer.from(s.buffer, s.byteOffset, s.byteLength); return Buffer.concat([u32(b.length), b]); };
function frame(type, parts) {
  const body = Buffer.concat([Buffer.from([type]), ...parts]);
  return Buffer.concat([u32(body.length), body]);
}
function send(type, parts) { // 0, or -1 when over the frame limit
  const f = frame(type, parts);
  if (f.length - 4 > maxFrame) return -1;
  let off = 0;
  while (off < f.length) off += fs.writeSync(FD, f, off, f.length - off);
  return 0;
}

// The socket is read as a stream on Bun's own event loop (Bun.file(fd).stream()): fs.read went
// through Bun's thread pool and zero-filled a 64 KiB buffer per read — half of a warm invocation.
let rbuf = Buffer.alloc(0);
let reader = null;
async function readExact(n) {
  if (!reader) reader = Bun.file(FD).stream().getReader();
  while (rbuf.length < n) {
    const { value, done } = await reader.read();
    if (done) process.exit(0); // the service let us go
    const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    rbuf = rbuf.length ? Buffer.concat([rbuf, b]) : b;
  }
  const out = rbuf.subarray(0, n);
  rbuf = rbuf.subarray(n);
  return out;
}
class Reader {
  constructor(b) { this.b = b; this.o = 0; }
  u32() { const v = this.b.readUInt32LE(this.o); this.o += 4; return v; }
  str() { const n = this.u32(); const s = this.b.subarray(this.o, this.o + n); this.o += n; return s; }
}

// ------------------------------------------------------------------ console → LOG frames
const LEVEL = { debug: 0, trace: 0, log: 1, info: 1, dir: 1, warn: 2, error: 3 };
for (const [k, lv] of Object.entries(LEVEL)) {
  console[k] = (...a) => { if (!checkFile) send(T.LOG, [Buffer.from([lv]), str(format(...a))]); };
}

// ------------------------------------------------------------------ fetch → FETCH frames
let fetchSeq = 0;
const fetches = new Map(); // id -> {resolve, reject, url}
async function proxyFetch(input, init) {
  const req = new Request(input, init);
  const body = req.method === 'GET' || req.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await req.arrayBuffer());
  const pairs = [];
  for (const [k, v] of req.headers) pairs.push(str(k), str(v));
  const id = ++fetchSeq;
  const p = new Promise((resolve, reject) => fetches.set(id, { resolve, reject, url: req.url }));
  if (send(T.FETCH, [u32(id), str(req.method), str(req.url), u32(pairs.length / 2), ...pairs, str(body)]) !== 0) {
    fetches.delete(id);
    throw new RangeError('fetch: the request is over the frame limit');
  }
  return p;
}
function fetched(p) {
  const r = new Reader(p);
  const id = r.u32();
  const status = r.b.readUInt16LE(r.o); r.o += 2;
  const n = r.u32();
  const headers = new Headers();
  for (let i = 0; i < n; i++) {
    const k = r.str().toString(), v = r.str().toString();
    try { headers.append(k, v); } catch { /* dropped */ }
  }
  const body = r.str();
  const error = r.str().toString();
  const f = fetches.get(id);
  if (!f) return;
  fetches.delete(id);
  if (!status) { f.reject(new TypeError(`fetch failed: ${error}`)); return; }
  const nullBody = [101, 204, 205, 304].includes(status);
  const res = new Response(nullBody ? null : body, { status: status < 200 ? 200 : status, headers });
  Object.defineProperty(res, 'url', { value: f.url });
  f.resolve(res);
}
Object.defineProperty(globalThis, 'fetch', { value: proxyFetch, writable: true, configurable: true });

// BunBase.admin() (admin.js): the invocation's context
let current = null;
const installAdmin = globalThis.__bbAdminInstall;
delete globalThis.__bbAdminInstall;
if (installAdmin) installAdmin(globalThis, () => current, (u, i) => proxyFetch(u, i));

// ------------------------------------------------------------------ load
async function load() {
  const mod = await import(bundle);
  const h = mod.default;
  if (typeof h !== 'function' && !(h && typeof h.fetch === 'function'))
    throw new Error('the bundle must `export default` a function (async (request) => Response) or an object with a fetch(request) method');
  return h;
}
const errText = (e) => (e && e.stack ? String(e.stack) : String(e));

let handler;
try {
  handler = await load();
} catch (e) {
  if (checkFile) { console.info = () => {}; process.stdout.write(`${errText(e)}\n`); process.exit(1); }
  send(T.LOAD_ERROR, [str(errText(e))]);
  process.exit(1);
}
if (checkFile) { process.stdout.write('ok\n'); process.exit(0); }
send(T.READY, []);

// ------------------------------------------------------------------ invocations
async function invoke(p) {
  const r = new Reader(p);
  r.u32(); // timeout_ms: the service enforces it
  r.str(); // invocation id
  const method = r.str().toString();
  const url = r.str().toString();
  const n = r.u32();
  const headers = new Headers();
  for (let i = 0; i < n; i++) {
    const k = r.str().toString(), v = r.str().toString();
    try { headers.append(k, v); } catch { /* not a valid header: dropped */ }
  }
  const body = r.str();
  const cx = [];
  for (let i = 0; i < 3 && r.o < r.b.length; i++) cx.push(r.str().toString());
  current = { projectId: process.env.BUNBASE_PROJECT_ID, requestId: cx[0] || '', gatewayUrl: cx[1] || '', token: cx[2] || '' };
  const full = url.startsWith('/') ? `http://${headers.get('host') || 'localhost'}${url}` : url;
  let res;
  try {
    const req = new Request(full, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body });
    const ctx = { waitUntil() {}, passThroughOnException() {}, requestId: current.requestId, projectId: current.projectId };
    res = await (typeof handler === 'function' ? handler(req, process.env, ctx) : handler.fetch(req, process.env, ctx));
  } catch (e) {
    // JSC's allocation failure under the address-space bound: the service replaces this worker
    const oom = e instanceof RangeError && /out of memory/i.test(String(e.message));
    send(T.ERROR, [Buffer.from([oom ? ERR.MEMORY : ERR.EXCEPTION]), str(errText(e))]);
    return;
  }
  if (!(res instanceof Response)) {
    send(T.ERROR, [Buffer.from([ERR.BAD_RESPONSE]), str(`the handler must return a Response (or a promise of one), got ${res === null ? 'null' : typeof res}`)]);
    return;
  }
  let bytes;
  try {
    bytes = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    send(T.ERROR, [Buffer.from([ERR.EXCEPTION]), str(errText(e))]);
    return;
  }
  const pairs = [];
  for (const [k, v] of res.headers) if (k !== 'set-cookie') pairs.push(str(k), str(v));
  for (const c of res.headers.getSetCookie()) pairs.push(str('set-cookie'), str(c));
  const st = Buffer.alloc(2);
  st.writeUInt16LE(res.status);
  if (send(T.RESPONSE, [st, u32(pairs.length / 2), ...pairs, str(bytes)]) !== 0)
    send(T.ERROR, [Buffer.from([ERR.TOO_LARGE]), str(`the response (${bytes.length} bytes) is over the limit of ${maxFrame} bytes`)]);
}

// One invocation at a time (the service sends the next INVOKE after the answer), but frames keep
// being read while it runs: FETCH_RESULTs answer its fetches.
for (;;) {
  const h = await readExact(5);
  const len = h.readUInt32LE(0);
  if (len < 1 || len > maxFrame) process.exit(4);
  const p = await readExact(len - 1);
  if (h[4] === T.INVOKE) invoke(p).catch((e) => send(T.ERROR, [Buffer.from([ERR.EXCEPTION]), str(errText(e))]));
  else if (h[4] === T.FETCH_RESULT) fetched(p);
  else process.exit(4);
}
