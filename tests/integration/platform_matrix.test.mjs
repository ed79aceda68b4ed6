// The authorization matrix test, generated from the platform's route table
// (GET /v1/debug/platform/routes): every route × every credential kind, with the expected status
// computed from SPEC below (the matrix as specified, kept here independently of the server's copy).
// A route without a matrix row, or with a resource SPEC does not know, fails the test.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { sleep, startServer } from './harness.mjs';
import { FAST_ENV, addMember, api, loginUser, newPat, newProject, newUser, streamHead } from './platform_lib.mjs';
import { TOKEN, http } from './kms_lib.mjs';

// roles × resources × actions (docs/platform.md, "Authorization matrix")
const RWA = ['read', 'write', 'admin'];
const RW = ['read', 'write'];
const R = ['read'];
const SPEC = {
  project: { owner: RWA, admin: RW, member: R, viewer: R, pk: R, sk: R },
  members: { owner: RWA, admin: RW, member: R, viewer: R, pk: [], sk: [] },
  keys: { owner: RWA, admin: RW, member: [], viewer: [], pk: [], sk: [] },
  database: { owner: RWA, admin: RWA, member: RW, viewer: R, pk: RW, sk: RWA },
  kv: { owner: RWA, admin: RWA, member: RW, viewer: R, pk: [], sk: RWA },
  realtime: { owner: RWA, admin: RWA, member: RW, viewer: R, pk: R, sk: RWA },
  config: { owner: RWA, admin: RW, member: R, viewer: R, pk: R, sk: R },
  logs: { owner: ['read', 'admin'], admin: R, member: R, viewer: R, pk: [], sk: R },
  functions: { owner: RWA, admin: RWA, member: RW, viewer: R, pk: R, sk: RWA },
  auth: { owner: RWA, admin: RW, member: R, viewer: R, pk: [], sk: RW },
  auth_app: { owner: R, admin: R, member: R, viewer: R, pk: RW, sk: [] }, // its routes take only pk_ and end users
  audit: { owner: R, admin: R, member: [], viewer: [], pk: [], sk: [] }, // who changes keys and members reads who did
};

// Refusals a handler gives after the matrix allowed the call (tenant-auth: a sign-in method the
// project has not enabled, a route that needs a signed-in end user): the handler ran.
const HANDLER_REFUSALS = new Set(['provider_disabled', 'sign_in_required']);

const CREDS = ['none', 'expired_token', 'expired_pat', 'revoked_pat', 'wrong_pk', 'wrong_sk', 'other_session',
  'viewer', 'member', 'admin', 'owner', 'pk', 'sk'];

/** An access token signed with the server's own key (bun-auth's signing key, kept by bun-kms under
 * _system/bun-auth-signing: signed there with the internal token) that expired an hour ago:
 * everything about it is valid but its exp. */
async function accessToken(base, user, expIn = -3600) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const meta = await http(base, 'GET', '/v1/kms/_system/keys/bun-auth-signing');
  assert.equal(meta.status, 200, meta.text);
  const kid = meta.json.versions.find((v) => v.version === meta.json.current_version)?.kid ??
    meta.json.versions[0].kid;
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid })}.${b64({ iss: 'bunbase', aud: 'bunbase-api', sub: user.id, sid: user.session_id, iat: now - 7200, exp: now + expIn, jti: crypto.randomUUID() })}`;
  const sig = await http(base, 'POST', '/v1/kms/_system/keys/bun-auth-signing/sign',
    { body: { alg: 'EdDSA', encoding: 'jose', message: Buffer.from(input).toString('base64') } });
  assert.equal(sig.status, 200, sig.text);
  assert.equal(sig.json.kid, kid);
  return `${input}.${Buffer.from(sig.json.signature, 'base64').toString('base64url')}`;
}

// Routes whose allowed call would destroy the fixture: run with a fresh credential / target.
const DESTRUCTIVE = new Set(['POST /v1/auth/logout', 'POST /v1/auth/logout-all',
  'POST /v1/projects/{projectId}/leave', 'DELETE /v1/projects/{projectId}']);

/** 'allow' or the status the dispatcher must answer with. */
function expected(route, cred) {
  if (cred === 'expired_token' || cred === 'expired_pat' || cred === 'revoked_pat') return 401; // the credential itself
  if (route.resource === 'public') return 'allow';
  if (cred === 'none') return 401;
  const kind = { wrong_pk: 'pk', pk: 'pk', wrong_sk: 'sk', sk: 'sk' }[cred] || 'session';
  if (!route.accepts.includes(kind)) return 403;
  const scoped = route.pattern.includes('{projectId}');
  if (kind === 'pk' || kind === 'sk') {
    if (route.resource === 'account') return 403;
    // a key-only route (no {projectId}) works on the key's own project, whichever it is
    if (scoped && cred.startsWith('wrong_')) return 403;
    return SPEC[route.resource][kind].includes(route.action) ? 'allow' : 403;
  }
  if (!scoped) return 'allow'; // the caller's own account / project list and create
  if (cred === 'other_session') return 404; // non-members learn nothing
  return SPEC[route.resource][cred].includes(route.action) ? 'allow' : 403;
}

describe('authorization matrix (generated from the route table)', () => {
  let s, base, table, fx;

  before(async () => {
    s = await startServer({ env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_PLATFORM_MAX_PROJECTS_PER_USER: '0' } });
    base = s.url;
    table = (await api(base, 'GET', '/v1/debug/platform/routes')).json;
    const [owner, admin, member, viewer, outsider] = await Promise.all(
      ['owner', 'admin', 'member', 'viewer', 'outsider'].map((t) => newUser(base, t)));
    const P = await newProject(base, owner.access, 'Matrix P');
    const Q = await newProject(base, owner.access, 'Matrix Q');
    await addMember(base, owner.access, P.id, admin.email, 'admin');
    await addMember(base, owner.access, P.id, member.email, 'member');
    await addMember(base, owner.access, P.id, viewer.email, 'viewer');
    const revoked = await newPat(base, owner.access, { name: 'revoked' });
    const rv = await api(base, 'DELETE', `/v1/auth/tokens/${revoked.id}`, { token: owner.access });
    assert.equal(rv.status, 200, rv.text);
    const expired = await newPat(base, owner.access, { name: 'expired', ttl_seconds: 1 });
    await sleep(1200);
    fx = { owner, admin, member, viewer, outsider, P, Q, revoked: revoked.token, expiredPat: expired.token,
      expiredJwt: await accessToken(base, owner) };
    // the forged token is only expired: the same construction with a live exp is accepted
    const r = await api(base, 'GET', '/v1/auth/me', { token: fx.expiredJwt });
    assert.equal(r.status, 401, r.text);
    assert.match(r.code, /expired/);
    const live = await api(base, 'GET', '/v1/auth/me', { token: await accessToken(base, owner, 600) });
    assert.equal(live.status, 200, live.text);
  });
  after(async () => { if (s) await s.stop(); });

  function headersFor(cred) {
    switch (cred) {
      case 'none': return {};
      case 'expired_token': return { token: fx.expiredJwt };
      case 'expired_pat': return { token: fx.expiredPat };
      case 'revoked_pat': return { token: fx.revoked };
      case 'wrong_pk': return { key: fx.Q.pk };
      case 'wrong_sk': return { token: fx.Q.sk };
      case 'other_session': return { token: fx.outsider.access };
      case 'pk': return { key: fx.P.pk };
      case 'sk': return { token: fx.P.sk };
      default: return { token: fx[cred].access };
    }
  }

  const userOf = (cred) => (cred === 'other_session' ? 'outsider' : cred);

  async function call(route, cred, projectId) {
    const path = route.pattern.replace('{projectId}', projectId)
      .replace('{userId}', '01NOSUCHUSER00000000000000').replace('{keyId}', '01NOSUCHKEY000000000000000')
      .replace('{id}', 'nosuch');
    const opt = headersFor(cred);
    if (route.stream) {
      const h = {};
      if (opt.token) h.Authorization = `Bearer ${opt.token}`;
      if (opt.key) h['X-Bunbase-Client-Key'] = opt.key;
      const r = await streamHead(`${base}${path}`, h);
      return { status: r.status, code: r.json && r.json.code, text: r.text };
    }
    // bodies are '{}': they pass the dispatcher and fail the handler's validation, so allowed
    // calls change nothing
    const body = route.method === 'POST' || route.method === 'PATCH' ? {} : undefined;
    return api(base, route.method, path, { ...opt, body });
  }

  test('every route has a matrix row the spec knows', () => {
    assert.ok(table.routes.length >= 25, `only ${table.routes.length} routes`);
    for (const r of table.routes) {
      assert.notEqual(r.resource, 'none', `${r.method} ${r.pattern} has no matrix row`);
      assert.ok(r.resource === 'public' || r.resource === 'account' || SPEC[r.resource],
        `${r.method} ${r.pattern}: resource ${r.resource} is not in the spec`);
      assert.ok(RWA.includes(r.action), `${r.method} ${r.pattern}: action ${r.action}`);
    }
    // the server's matrix is the spec
    for (const [res, row] of Object.entries(SPEC))
      for (const [who, acts] of Object.entries(row))
        assert.deepEqual(table.matrix[res][who], acts, `matrix ${res}/${who}`);
  });

  test('every route × every credential', { timeout: 240000 }, async () => {
    const failures = [];
    let n = 0;
    for (const route of table.routes) {
      const id = `${route.method} ${route.pattern}`;
      for (const cred of CREDS) {
        const exp = expected(route, cred);
        let projectId = fx.P.id;
        let restore = null;
        if (exp === 'allow' && DESTRUCTIVE.has(id)) {
          if (id.startsWith('DELETE /v1/projects')) {
            projectId = (await newProject(base, fx.owner.access, 'Throwaway')).id;
          } else if (id.includes('/leave')) {
            if (cred !== 'owner') restore = async () => addMember(base, fx.owner.access, fx.P.id, fx[cred].email, cred);
          } else { // logout, logout-all: a fresh session of the same user
            const u = fx[userOf(cred)];
            const fresh = await loginUser(base, u.email);
            const saved = u.access;
            u.access = fresh.access;
            restore = async () => {
              u.access = id.endsWith('logout-all') ? (await loginUser(base, u.email)).access : saved;
            };
          }
        }
        const r = await call(route, cred, projectId);
        n++;
        if (restore) await restore();
        const ok = exp === 'allow'
          // allowed: the handler ran (it may still refuse the '{}' body, or answer 503 when a
          // downstream store is not running); never a 500
          ? ((r.status !== 401 && r.status !== 403) || HANDLER_REFUSALS.has(r.code)) &&
            r.code !== 'project_not_found' && r.status !== 500
          : r.status === exp && (exp !== 404 || r.code === 'project_not_found');
        if (!ok) failures.push(`${id} as ${cred}: expected ${exp}, got ${r.status} ${r.text.slice(0, 120)}`);
      }
    }
    assert.equal(n, table.routes.length * CREDS.length);
    assert.deepEqual(failures, []);
  });
});
