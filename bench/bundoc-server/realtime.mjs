// realtime.mjs — the realtime row of bench/bundoc-server: SUBS SSE subscribers on one collection
// (GET …/collections/{c}/subscribe, one connection each) while DOCS documents are inserted one
// after the other by a separate process (so that parsing the streams cannot slow the inserts). Each
// document carries its insert time (wall clock, sub-millisecond: performance.timeOrigin + now());
// a delivery's latency is the time the subscriber parsed its `added` event minus that.
//
//   node realtime.mjs subscribe BASE_URL TOKEN COLLECTION SUBS DOCS
//     prints "realtime subs=S docs=D deliveries=N missing=M deliveries_per_s=X p50_ms=Y p99_ms=Z"
//   (the insert mode is this script run by itself as a child: insert BASE_URL TOKEN COLLECTION DOCS)
//
// deliveries/s = deliveries / (last delivery − first insert). All streams are open (response
// headers received) before the first insert. Waits at most 60 s for the deliveries.
import http from 'node:http';
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const nowMs = () => performance.timeOrigin + performance.now();
const [mode, base, token, coll, ...rest] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${token}`, 'X-Bunbase-Identity': 'admin' };

if (mode === 'insert') {
  const docs = Number(rest[0]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}/collections/${coll}/documents`, {
        method: 'POST', agent,
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      }, (r) => {
        r.resume();
        r.on('end', () => (r.statusCode < 300 ? resolve() : reject(new Error(`POST ${r.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  process.send({ start: nowMs() });
  for (let i = 0; i < docs; i++) await post(JSON.stringify({ i, t: nowMs(), title: 'realtime bench' }));
  process.send({ done: nowMs() });
  agent.destroy();
  process.exit(0);
}

if (mode !== 'subscribe') {
  console.error('usage: node realtime.mjs subscribe BASE_URL TOKEN COLLECTION SUBS DOCS');
  process.exit(2);
}
const subs = Number(rest[0]), docs = Number(rest[1]);
const lat = [];
let delivered = 0, lastAt = 0, bad = 0;

function onEvent(text) {
  let name = 'message', data = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  if (name !== 'added' || !data) return;
  const at = nowMs();
  try {
    const t = JSON.parse(data).doc.t;
    lat.push(at - t);
    delivered++;
    lastAt = at;
  } catch {
    bad++;
  }
}

function open() {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/collections/${coll}/subscribe`, { headers, agent: false }, (r) => {
      if (r.statusCode !== 200) return reject(new Error(`subscribe ${r.statusCode}`));
      r.setEncoding('utf8');
      let buf = '';
      r.on('data', (d) => {
        buf += d;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          onEvent(buf.slice(0, k));
          buf = buf.slice(k + 2);
        }
      });
      resolve(req);
    });
    req.on('error', reject);
    req.end();
  });
}

const reqs = [];
for (let i = 0; i < subs; i += 50) { // open in groups (the listener's accept backlog)
  const group = [];
  for (let k = i; k < Math.min(subs, i + 50); k++) group.push(open());
  reqs.push(...(await Promise.all(group)));
}
await new Promise((r) => setTimeout(r, 300));

const child = fork(new URL(import.meta.url).pathname, ['insert', base, token, coll, String(docs)]);
let start = 0;
child.on('message', (m) => { if (m.start) start = m.start; });
const want = subs * docs;
const deadline = Date.now() + 60000;
while (delivered < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] : 0);
const secs = (lastAt - start) / 1000;
console.log(`realtime subs=${subs} docs=${docs} deliveries=${delivered} missing=${want - delivered} ` +
  `bad=${bad} deliveries_per_s=${secs > 0 ? (delivered / secs).toFixed(0) : 0} ` +
  `p50_ms=${q(0.5).toFixed(2)} p99_ms=${q(0.99).toFixed(2)}`);
for (const r of reqs) r.destroy();
child.kill();
process.exit(0);
