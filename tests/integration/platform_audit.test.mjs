// The audit log of key, member, project and CORS operations (src/platform/platform_audit.c):
// every operation leaves exactly one record with the right actor, written in the operation's own
// transaction; no secret in any record; filters and cursor pagination; who may read it (owner and
// admin; members, viewers and keys 403; another project's member 404); the table is append-only.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { startServer } from './harness.mjs';
import { FAST_ENV, addMember, api, newPat, newProject, newUser } from './platform_lib.mjs';

function sql(dataDir, q) {
  const conn = `host=${path.join(dataDir, 'postgres', 'run')} dbname=bunbase user=postgres`;
  return execFileSync('psql', [conn, '-Atc', q], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

describe('platform audit log', () => {
  let s, base, owner, admin, viewer, outsider, P, all;
  const secrets = [];

  async function audit(token, pid, query = '') {
    return api(base, 'GET', `/v1/projects/${pid}/audit${query}`, { token });
  }

  before(async () => {
    s = await startServer({ env: { ...FAST_ENV, BUNBASE_PLATFORM_MAX_PROJECTS_PER_USER: '0' } });
    base = s.url;
    [owner, admin, viewer, outsider] = await Promise.all(['owner', 'admin', 'viewer', 'outsider'].map((t) => newUser(base, t)));
    for (const u of [owner, admin, viewer, outsider]) secrets.push(u.access, u.refresh);
    P = await newProject(base, owner.access, 'Audited');
    secrets.push(P.pk, P.sk);
    const ok = (r, status = 200) => { assert.equal(r.status, status, r.text); return r.json; };
    // members: add two, change a role, remove one
    await addMember(base, owner.access, P.id, admin.email, 'admin');
    await addMember(base, owner.access, P.id, viewer.email, 'member');
    ok(await api(base, 'PATCH', `/v1/projects/${P.id}/members/${viewer.id}`, { token: owner.access, body: { role: 'viewer' } }));
    ok(await api(base, 'POST', `/v1/projects/${P.id}/members`, { token: admin.access, body: { email: outsider.email, role: 'viewer' } }), 201);
    ok(await api(base, 'DELETE', `/v1/projects/${P.id}/members/${outsider.id}`, { token: admin.access }));
    // keys: create (by the admin), regenerate, revoke
    const k = ok(await api(base, 'POST', `/v1/projects/${P.id}/keys`, { token: admin.access, body: { kind: 'pk' } }), 201);
    const g = ok(await api(base, 'POST', `/v1/projects/${P.id}/keys/${P.skId}/regenerate`, { token: owner.access, body: {} }), 201);
    ok(await api(base, 'DELETE', `/v1/projects/${P.id}/keys/${k.id}`, { token: owner.access }));
    secrets.push(k.key, g.key);
    P.newKey = k;
    P.regen = g;
    // project rename, CORS
    ok(await api(base, 'PATCH', `/v1/projects/${P.id}`, { token: owner.access, body: { name: 'Audited 2' } }));
    ok(await api(base, 'PUT', `/v1/projects/${P.id}/cors`, { token: owner.access, body: { allowed_origins: ['https://app.example.com'] } }));
    // refusals change nothing, so they leave nothing
    assert.equal((await api(base, 'DELETE', `/v1/projects/${P.id}/keys/${k.id}`, { token: owner.access })).status, 404);
    assert.equal((await api(base, 'POST', `/v1/projects/${P.id}/keys`, { token: viewer.access, body: { kind: 'pk' } })).status, 403);
    // personal access tokens: account-level
    const pat = await newPat(base, owner.access, { name: 'ci token' });
    secrets.push(pat.token);
    ok(await api(base, 'DELETE', `/v1/auth/tokens/${pat.id}`, { token: owner.access }));
    P.pat = pat;
    all = ok(await audit(owner.access, P.id, '?limit=200')).records;
  });
  after(async () => { if (s) await s.stop(); });

  test('every operation leaves exactly one record with the right actor and target', () => {
    const one = (action, target) => {
      const rs = all.filter((r) => r.action === action && (target === undefined || r.target === target));
      assert.equal(rs.length, 1, `${action} ${target}: ${JSON.stringify(all.map((r) => r.action))}`);
      assert.equal(rs[0].project_id, P.id);
      assert.equal(rs[0].outcome, 'success');
      assert.match(rs[0].request_id, /.+/);
      assert.match(rs[0].at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      return rs[0];
    };
    const by = (r, u) => { assert.equal(r.actor.id, u.id); assert.equal(r.actor.label, u.email); assert.equal(r.actor.kind, 'developer-session'); };
    by(one('project.create', P.id), owner);
    by(one('member.add', admin.id), owner);
    const va = one('member.add', viewer.id);
    by(va, owner);
    assert.deepEqual(va.detail, { email: viewer.email, role: 'member' });
    const rc = one('member.role_change', viewer.id);
    by(rc, owner);
    assert.deepEqual(rc.detail, { role: 'viewer', previous_role: 'member' });
    by(one('member.add', outsider.id), admin);
    by(one('member.remove', outsider.id), admin);
    const kc = one('key.create', P.newKey.id);
    by(kc, admin);
    assert.deepEqual(kc.detail, { kind: 'pk', prefix: P.newKey.prefix });
    const kg = one('key.regenerate', P.regen.id);
    by(kg, owner);
    assert.equal(kg.detail.replaces, P.skId);
    by(one('key.revoke', P.newKey.id), owner);
    const rn = one('project.rename', P.id);
    by(rn, owner);
    assert.equal(rn.detail.name, 'Audited 2');
    const cors = one('cors.update', P.id);
    assert.deepEqual(cors.detail, { allowed_origins: ['https://app.example.com'] });
    // nothing else: 11 operations, 11 records, newest first; the PAT is not the project's
    assert.equal(all.length, 11, JSON.stringify(all.map((r) => r.action)));
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].id > all[i].id);
    assert.ok(!all.some((r) => r.action.startsWith('token.')));
  });

  test('personal access tokens are account-level: GET /v1/auth/audit, the account only', async () => {
    let r = await api(base, 'GET', '/v1/auth/audit', { token: owner.access });
    assert.equal(r.status, 200, r.text);
    const acts = r.json.records.map((x) => `${x.action} ${x.target}`);
    assert.deepEqual(acts, [`token.revoke ${P.pat.id}`, `token.create ${P.pat.id}`]);
    assert.equal(r.json.records[0].project_id, null);
    assert.equal(r.json.records[0].detail.prefix, P.pat.token.slice(0, 12));
    assert.equal(r.json.records[0].actor.label, owner.email);
    r = await api(base, 'GET', '/v1/auth/audit', { token: admin.access });
    assert.deepEqual(r.json.records, []);
  });

  test('no secret appears in any record', async () => {
    const text = JSON.stringify(all) + (await api(base, 'GET', '/v1/auth/audit', { token: owner.access })).text +
      sql(s.dataDir, 'SELECT string_agg(row_to_json(a)::text, E\'\\n\') FROM platform_audit a');
    for (const sec of secrets) {
      assert.ok(sec && sec.length > 20);
      assert.ok(!text.includes(sec), `a secret (${sec.slice(0, 6)}…) is in the audit log`);
      assert.ok(!text.includes(sec.slice(12, 40)), `part of a secret (${sec.slice(0, 6)}…) is in the audit log`);
    }
  });

  test('filters: action (exact, prefix), actor (email or id), since / until; bad ones 400', async () => {
    let r = await audit(owner.access, P.id, '?action=key.create');
    assert.deepEqual(r.json.records.map((x) => x.target), [P.newKey.id]);
    r = await audit(owner.access, P.id, '?action=key.*');
    assert.deepEqual(r.json.records.map((x) => x.action), ['key.revoke', 'key.regenerate', 'key.create']);
    r = await audit(owner.access, P.id, `?actor=${encodeURIComponent(admin.email.toUpperCase())}`);
    assert.deepEqual(r.json.records.map((x) => x.action), ['key.create', 'member.remove', 'member.add']);
    r = await audit(owner.access, P.id, `?actor=${admin.id}&action=member.add`);
    assert.deepEqual(r.json.records.map((x) => x.target), [outsider.id]);
    const mid = all[5].at;
    r = await audit(owner.access, P.id, `?since=${mid}&limit=200`);
    const since = r.json.records;
    r = await audit(owner.access, P.id, `?until=${mid}&limit=200`);
    assert.equal(since.length + r.json.records.length, all.length);
    assert.ok(since.every((x) => x.at >= mid) && r.json.records.every((x) => x.at < mid));
    r = await audit(owner.access, P.id, '?since=2999-01-01T00:00:00Z');
    assert.deepEqual(r.json, { records: [], next_cursor: null });
    for (const q of ['?since=yesterday', '?until=2026-13-45', '?limit=0', '?limit=201', '?limit=x', '?cursor=abc',
      `?actor=${'a'.repeat(400)}`]) {
      r = await audit(owner.access, P.id, q);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.match(r.code, /^invalid_/);
    }
  });

  test('cursor pagination walks every record once, newest first', async () => {
    const seen = [];
    let cursor = null;
    for (let pages = 0; pages < 20; pages++) {
      const r = await audit(owner.access, P.id, `?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.records.length <= 5);
      seen.push(...r.json.records);
      cursor = r.json.next_cursor;
      if (!cursor) break;
      assert.equal(String(r.json.records.at(-1).id), cursor);
    }
    assert.deepEqual(seen.map((x) => x.id), all.map((x) => x.id));
  });

  test('who reads it: owner and admin; a member, a viewer or a key 403; another project\'s member 404', async () => {
    assert.equal((await audit(admin.access, P.id)).status, 200);
    const member = await newUser(base, 'member');
    await addMember(base, owner.access, P.id, member.email, 'member');
    assert.equal((await audit(member.access, P.id)).status, 403);
    assert.equal((await audit(viewer.access, P.id)).status, 403);
    let r = await api(base, 'GET', `/v1/projects/${P.id}/audit`, { token: P.regen.key });
    assert.equal(r.status, 403, r.text);
    r = await api(base, 'GET', `/v1/projects/${P.id}/audit`, { key: P.pk });
    assert.equal(r.status, 403, r.text);
    const Q = await newProject(base, outsider.access, 'Elsewhere');
    r = await audit(outsider.access, P.id);
    assert.equal(r.status, 404, r.text);
    assert.equal(r.code, 'project_not_found');
    r = await audit(owner.access, Q.id);
    assert.equal(r.status, 404, r.text);
    // the outsider's own project has only its creation
    r = await audit(outsider.access, Q.id);
    assert.deepEqual(r.json.records.map((x) => x.action), ['project.create']);
  });

  test('a deleted project\'s records stay, its deletion included; the table is append-only', async () => {
    const T = await newProject(base, owner.access, 'Short lived');
    const r = await api(base, 'DELETE', `/v1/projects/${T.id}`, { token: owner.access });
    assert.equal(r.status, 200, r.text);
    const rows = sql(s.dataDir, `SELECT action || ' ' || actor_label FROM platform_audit WHERE project_id = '${T.id}' ORDER BY id`);
    assert.deepEqual(rows.split('\n'), [`project.create ${owner.email}`, `project.delete ${owner.email}`]);
    assert.throws(() => sql(s.dataDir, 'UPDATE platform_audit SET outcome = \'x\''), /append-only/);
    assert.throws(() => sql(s.dataDir, 'DELETE FROM platform_audit'), /append-only/);
  });
});
