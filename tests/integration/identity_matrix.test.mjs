// The identity matrix of every route, generated from the route tables: the gateway lists its
// routes (GET /v1/debug/routes, with the identity kinds each accepts), and every route is tried
// with no credential, a wrong internal token, an identity header without a token, the internal
// token alone, as admin and as an end user. The dispatcher must answer exactly what the route
// declares, before the handler runs. A public route (one that declares no identity) must be on the
// list below: a route added without a declared identity fails this test.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { startServer } from './harness.mjs';

const TOKEN = 'identity-matrix-token-0123456789abcdef0123';

// bb_identity.h
const K = { ANON: 1, SERVICE: 2, ADMIN: 4, END_USER: 8 };

// The routes meant to be public (no credential needed). OPTIONS routes are CORS preflights.
const PUBLIC = new Set([
  'GET /health', 'GET /metrics', 'GET /v1/debug/routes', 'GET /.well-known/jwks.json',
  'GET /v1/instance/status', 'POST /v1/setup', 'POST /v1/auth/register', 'POST /v1/auth/login',
  'POST /v1/auth/refresh',
  // tenant-auth: a project's public signing keys, and the OAuth provider's redirect back (the
  // state parameter, single use, is its credential)
  'GET /v1/projects/{projectId}/auth/jwks.json', 'GET /v1/auth/project/oauth/{provider}/callback',
  // test-only routes (BUNBASE_DEBUG_ROUTES=1)
  'GET /v1/debug/sleep', 'POST /v1/debug/echo', 'GET /v1/debug/sse', 'GET /v1/debug/platform/routes',
]);

const VARIANTS = [
  { name: 'no credential', headers: {}, kind: null },
  { name: 'wrong internal token', headers: { Authorization: 'Bearer wrong-token-0123456789abcdef0123456789' }, kind: null },
  { name: 'identity header without token', headers: { 'X-Bunbase-Identity': 'admin' }, kind: 'reject' },
  { name: 'internal token alone', headers: { Authorization: `Bearer ${TOKEN}` }, kind: K.SERVICE },
  { name: 'admin', headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin' }, kind: K.ADMIN },
  {
    name: 'end user', kind: K.END_USER,
    headers: { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': '{"uid":"u1","claims":{}}' },
  },
];

// Sends the request and resolves with {status, body} once the head (and, for non-streams, the
// body) has arrived; a stream that was accepted is closed right after its head.
function probe(base, method, path, headers, stream) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers: { ...headers, 'Content-Length': '0' } }, (res) => {
      if (stream && res.statusCode === 200) {
        req.destroy();
        resolve({ status: res.statusCode, body: '' });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(15000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.end();
  });
}

// The dispatcher's own answers (a handler may answer 401/403 for its own reasons: those are not it)
const DISPATCH_401 = ['missing or invalid internal token', 'authentication required',
  'X-Bunbase-Identity needs the internal token'];
const DISPATCH_403 = 'this identity is not accepted by this route';
const isDispatcherReject = (r) => (r.status === 401 && DISPATCH_401.some((m) => r.body.includes(m))) ||
  (r.status === 403 && r.body.includes(DISPATCH_403));

let srv;
before(async () => {
  srv = await startServer({
    env: { BUNBASE_LOG_LEVEL: 'error', BUNBASE_DEBUG_ROUTES: '1', BUNBASE_INTERNAL_TOKEN: TOKEN },
  });
});
after(async () => { if (srv) await srv.stop('SIGTERM'); });

test('every route answers each identity as it declares', { timeout: 300000 }, async () => {
  const routes = await new Promise((resolve, reject) => {
    http.get(`${srv.url}/v1/debug/routes`, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(JSON.parse(b)));
    }).on('error', reject);
  });
  assert.ok(routes.length > 50, `the gateway lists its routes (${routes.length})`);
  const failures = [];
  for (const r of routes) {
    const id = `${r.method} ${r.pattern}`;
    if (r.auth === 0 && r.method !== 'OPTIONS' && !PUBLIC.has(id)) {
      failures.push(`${id}: declares no identity (public) but is not on the public list`);
      continue;
    }
    if (r.pattern.startsWith('/v1/debug/sleep')) continue; // sleeps by design
    const path = r.pattern.replace(/\{projectId\}/g, 'p1').replace(/\{[^}]+\}/g, 'x');
    for (const v of VARIANTS) {
      const res = await probe(srv.url, r.method, path, v.headers, r.stream);
      let want;
      if (v.kind === 'reject') want = 'reject'; // an identity header needs the token, on any route
      else if (r.auth === 0) want = 'accept';
      else if (v.kind === null) want = 'reject';
      else want = (r.auth & v.kind) ? 'accept' : 'reject';
      const rejected = isDispatcherReject(res);
      if (want === 'reject' && !rejected) failures.push(`${id} [${v.name}]: ${res.status}, expected 401/403`);
      if (want === 'accept' && rejected) failures.push(`${id} [${v.name}]: ${res.status} ${res.body.slice(0, 120)}`);
    }
  }
  assert.deepEqual(failures, []);
});
