// tenant-auth's system collections (_auth_*) in a project's bundoc database: only the internal
// service identity (the internal token without X-Bunbase-Identity: what tenant-auth uses) sees
// them; pk_, sk_, a developer's console session and even the internal admin get 404, and the
// collection list leaves them out.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const TOKEN = 'tenant-auth-reserved-test-token-0123456789';
let srv;
before(async () => { srv = await startServer({ env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN } }); });
after(async () => { if (srv) await srv.stop(); });

test('reserved _auth_ collections: invisible to pk_, sk_, console and internal admin; the internal service reaches them', async () => {
  const u = await newUser(srv.url, 'res');
  const p = await newProject(srv.url, u.access, 'Reserved');
  const db = `/v1/projects/${p.id}/databases/(default)`;
  const svc = { Authorization: `Bearer ${TOKEN}` };
  // the internal service writes a system document
  let r = await api(srv.url, 'POST', `${db}/documents/_auth_users`, { headers: svc, body: { _id: 'u1', email: 'a@example.com' } });
  assert.equal(r.status, 201, r.text);
  r = await api(srv.url, 'GET', `${db}/documents/_auth_users/u1`, { headers: svc });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.email, 'a@example.com');
  r = await api(srv.url, 'GET', `${db}/collections`, { headers: svc });
  assert.ok(JSON.stringify(r.json).includes('_auth_users'), r.text);
  // an app collection next to it
  r = await api(srv.url, 'POST', '/v1/database/documents/notes', { key: p.sk, body: { _id: 'n1' } });
  assert.equal(r.status, 201, r.text);

  const callers = [
    ['pk_', { key: p.pk }, '/v1/database'],
    ['sk_', { key: p.sk }, '/v1/database'],
    ['console session', { cookie: u.cookie }, `/v1/projects/${p.id}/database`],
    ['console bearer', { token: u.access }, `/v1/projects/${p.id}/database`],
  ];
  for (const [who, cred, base] of callers) {
    for (const [m, path, body] of [
      ['GET', '/documents/_auth_users/u1'],
      ['GET', '/collections/_auth_users/documents/u1'],
      ['GET', '/collections/_auth_users/documents'],
      ['GET', '/collections/_auth_users'],
      ['PUT', '/documents/_auth_users/u1', { email: 'evil@example.com' }],
      ['DELETE', '/documents/_auth_users/u1'],
      ['POST', '/documents/_auth_users', { _id: 'u2' }],
      ['POST', '/documents/query', { collection: '_auth_users' }],
      ['POST', '/batch', { writes: [{ op: 'create', collection: '_auth_users', doc: { _id: 'u3' } }] }],
      ['POST', '/collections', { name: '_auth_sessions' }],
      ['DELETE', '/collections/_auth_users'],
    ]) {
      r = await api(srv.url, m, `${base}${path}`, { ...cred, body });
      assert.ok([403, 404].includes(r.status), `${who} ${m} ${path}: ${r.status} ${r.text}`);
      assert.ok(!r.text.includes('a@example.com'), `${who} ${m} ${path} leaks: ${r.text}`);
    }
    r = await api(srv.url, 'GET', `${base}/collections`, cred);
    if (r.status === 200) {
      assert.ok(!r.text.includes('_auth_'), `${who} list shows a reserved collection: ${r.text}`);
      if (who !== 'pk_') assert.ok(r.text.includes('notes'), r.text);
    }
  }
  // the internal admin (what the gateway sends for sk_ and developers) does not see them either
  r = await api(srv.url, 'GET', `${db}/documents/_auth_users/u1`, { headers: { ...svc, 'X-Bunbase-Identity': 'admin' } });
  assert.equal(r.status, 404, r.text);
  r = await api(srv.url, 'GET', `${db}/collections`, { headers: { ...svc, 'X-Bunbase-Identity': 'admin' } });
  assert.equal(r.status, 200, r.text);
  assert.ok(!r.text.includes('_auth_'), r.text);
  // and the document is untouched
  r = await api(srv.url, 'GET', `${db}/documents/_auth_users/u1`, { headers: svc });
  assert.equal(r.json.email, 'a@example.com');
});
