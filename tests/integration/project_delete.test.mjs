// Deleting a project removes its data, not only its keys and members: the bundoc database
// directory is gone, the KV keys are gone (from the AOF on disk too), and the answer says so.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

const TOKEN = 'project-delete-token-0123456789abcdef0123';
let srv;
before(async () => { srv = await startServer({ env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN } }); });
after(async () => { if (srv) await srv.stop(); });

test('a deleted project takes its database and its KV data with it', async () => {
  const u = await newUser(srv.url, 'del');
  const p = await newProject(srv.url, u.access, 'Doomed');
  const keep = await newProject(srv.url, u.access, 'Kept');
  for (const q of [p, keep]) {
    let r = await api(srv.url, 'POST', '/v1/database/documents/notes', { key: q.sk, body: { _id: 'n1', text: 'secret-note-value' } });
    assert.equal(r.status, 201, r.text);
    r = await api(srv.url, 'PUT', '/v1/kv/k1', { key: q.sk, body: 'secret-kv-value' });
    assert.equal(r.status, 200, r.text);
  }
  const dbDir = path.join(srv.dataDir, 'bundoc', 'projects', p.id);
  const kvDir = path.join(srv.dataDir, 'bunder', 'projects', p.id);
  assert.ok(fs.existsSync(dbDir), dbDir);

  const r = await api(srv.url, 'DELETE', `/v1/projects/${p.id}`, { token: u.access });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.removed.database, 'dropped');
  assert.equal(r.json.removed.kv, 'dropped');
  assert.ok(!fs.existsSync(dbDir), 'the project database directory is removed');
  // the KV keys are gone, and so is the value from the files on disk (the AOF is rewritten)
  const internal = { Authorization: `Bearer ${TOKEN}` };
  const g = await api(srv.url, 'GET', `/kv/${p.id}/kv/k1`, { headers: internal });
  assert.equal(g.status, 404, g.text);
  let onDisk = true;
  for (let i = 0; i < 100 && onDisk; i++) {
    onDisk = fs.existsSync(kvDir) && fs.readdirSync(kvDir, { recursive: true })
      .map((f) => path.join(kvDir, f)).filter((f) => fs.statSync(f).isFile())
      .some((f) => fs.readFileSync(f).includes('secret-kv-value'));
    if (onDisk) await sleep(100);
  }
  assert.ok(!onDisk, 'no file of the project still holds the KV value');
  // the other project is untouched
  const d = await api(srv.url, 'GET', '/v1/database/documents/notes/n1', { key: keep.sk });
  assert.equal(d.status, 200, d.text);
  const k = await api(srv.url, 'GET', '/v1/kv/k1', { key: keep.sk });
  assert.equal(k.text, 'secret-kv-value');
  // the data routes refuse the dropped project's identity path for outsiders, as before
  const again = await api(srv.url, 'DELETE', `/v1/projects/${p.id}`, { token: u.access });
  assert.equal(again.status, 404);
});
