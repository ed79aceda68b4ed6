// Fair scheduling of the worker pool across projects, end to end: with one worker thread, a project
// that has a backlog of slow queries (each stopped by the query time budget after ~300 ms) does not
// make another project's request wait behind that backlog — the dispatcher queues pool work per
// {projectId} and the pool serves projects round-robin. The assertion is about order, not time.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, startServer } from './harness.mjs';

const TOKEN = 'fairness-test-token-0123456789abcdef';
const HDR = { Authorization: `Bearer ${TOKEN}`, 'X-Bunbase-Identity': 'admin', 'Content-Type': 'application/json' };
const B = (p) => `/v1/projects/${p}/databases/default`;
let srv;

const call = (method, path, body) => httpRequest(`${srv.url}${path}`, {
  method, headers: HDR, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: 60000,
});

before(async () => {
  srv = await startServer({
    services: 'platform,bundoc-server',
    env: {
      BUNBASE_LOG_LEVEL: 'warn', BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_WORKERS: '1',
      BUNBASE_BUNDOC_LIMITS_REGEX_MATCH_LIMIT: '100000000', BUNBASE_BUNDOC_LIMITS_QUERY_TIMEOUT_MS: '300',
    },
  });
});

after(async () => { if (srv) await srv.stop('SIGTERM'); });

test("one project's backlog of slow scans does not delay another project's request behind it", { timeout: 120000 }, async () => {
  const writes = Array.from({ length: 40 }, (_, i) => ({ op: 'create', collection: 'slow', doc: { _id: `s${i}`, s: `${'a'.repeat(24)}!` } }));
  let r = await call('POST', `${B('busyproj')}/batch`, { writes });
  assert.equal(r.status, 200, r.text);
  r = await call('POST', `${B('calmproj')}/documents/c`, { _id: 'x', v: 1 });
  assert.equal(r.status, 201, r.text);

  const done = [];
  const scans = [];
  for (let i = 0; i < 6; i++) {
    scans.push(call('POST', `${B('busyproj')}/documents/query`, { collection: 'slow', filter: { s: { $regex: '^(a+)+$' } } })
      .then((x) => { done.push(i); return x; }));
  }
  await new Promise((res) => setTimeout(res, 100)); // the scans are queued; the first one runs
  const calm = await call('GET', `${B('calmproj')}/documents/c/x`);
  const answeredBefore = done.length;
  assert.equal(calm.status, 200, calm.text);
  const res = await Promise.all(scans);
  for (const x of res) assert.equal(x.status, 400, x.text); // each stopped by its time budget
  assert.ok(answeredBefore <= 2, `${answeredBefore} of 6 slow scans were answered before the other project's GET`);
});
