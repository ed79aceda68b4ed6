// bunbase-js (sdk/js) against a live bunbased: one contract test per SDK method, typed errors
// (status, code, the X-Request-Id answered), token refresh under concurrency (single flight), and
// realtime resume across a forced disconnect (a TCP relay between the SDK and the server whose
// sockets the test destroys, events written meanwhile arrive once and in order).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { httpRequest, sleep, startServer } from './harness.mjs';
import { api, newProject, newUser } from './platform_lib.mjs';
import { TA_FAST_ENV } from './tenant_auth_lib.mjs';
import { get as browserGet, startProvider } from './oidc_provider.mjs';
import {
  BunBaseError, createClient, localStorageAdapter, memoryStorage,
} from '../../sdk/js/src/index.js';

const APP = 'http://app.example.com/auth/done';
const PW = 'sdk-password-1234';
const OWNER_ONLY = 'request.auth != null && resource.data.owner == request.auth.uid';

/** fetch that records every request (method, url, headers) and answer (status, X-Request-Id). */
function recordingFetch() {
  const log = [];
  const f = async (url, init = {}) => {
    const entry = { method: init.method || 'GET', url: String(url), headers: { ...(init.headers || {}) } };
    log.push(entry);
    const res = await fetch(url, init);
    entry.status = res.status;
    entry.requestId = res.headers.get('x-request-id');
    return res;
  };
  f.log = log;
  return f;
}

/** A Web Storage-like object (what localStorageAdapter wraps in a browser). */
function webStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    get length() { return m.size; },
    map: m,
  };
}

/**
 * fetch as a browser page of `origin` would run it against another origin: a preflight first
 * when the request is not "simple" (its Access-Control-Allow-Origin, -Methods and -Headers must
 * allow it), then the request with Origin, whose answer is readable only with
 * Access-Control-Allow-Origin: origin. Otherwise a TypeError, like a browser's fetch.
 */
function browserFetch(origin) {
  const SAFE = new Set(['accept', 'accept-language', 'content-language']);
  return async (url, init = {}) => {
    const method = init.method || 'GET';
    const h = Object.fromEntries(Object.entries(init.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    const custom = Object.keys(h).filter((k) => !SAFE.has(k) &&
      !(k === 'content-type' && /^(text\/plain|application\/x-www-form-urlencoded|multipart\/form-data)/i.test(h[k])));
    if (custom.length || !['GET', 'HEAD', 'POST'].includes(method)) {
      const pre = await fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': custom.join(', ') } });
      const allowH = (pre.headers.get('access-control-allow-headers') || '').toLowerCase().split(/\s*,\s*/);
      const allowM = (pre.headers.get('access-control-allow-methods') || '').split(/\s*,\s*/);
      if (!pre.ok || pre.headers.get('access-control-allow-origin') !== origin || custom.some((k) => !allowH.includes(k)) ||
          (!['GET', 'HEAD', 'POST'].includes(method) && !allowM.includes(method))) {
        throw new TypeError(`CORS preflight refused: ${method} ${new URL(url).pathname} (${pre.status})`);
      }
    }
    const res = await fetch(url, { ...init, headers: { ...init.headers, Origin: origin } });
    if (res.headers.get('access-control-allow-origin') !== origin) throw new TypeError(`CORS: ${method} ${new URL(url).pathname} not readable (${res.status})`);
    return res;
  };
}

/** A TCP relay to the server whose connections the test can cut (and refuse while "down"). */
async function startRelay(targetPort) {
  const conns = new Set();
  const heads = [];
  const relay = { down: false, heads };
  const srv = net.createServer((c) => {
    if (relay.down) { c.destroy(); return; }
    const up = net.connect(targetPort, '127.0.0.1');
    const pair = { c, up };
    conns.add(pair);
    let head = '';
    c.on('data', (d) => { if (head.length < 4096) { head += d.toString('latin1'); if (head.includes('\r\n\r\n')) heads.push(head.split('\r\n\r\n')[0]); } });
    c.pipe(up); up.pipe(c);
    const end = () => { c.destroy(); up.destroy(); conns.delete(pair); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  relay.url = `http://127.0.0.1:${srv.address().port}`;
  relay.cut = () => { for (const { c, up } of conns) { c.destroy(); up.destroy(); } conns.clear(); };
  relay.stop = () => { relay.cut(); return new Promise((r) => srv.close(r)); };
  return relay;
}

async function until(cond, ms = 5000, what = 'condition') {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('bunbase-js', () => {
  let srv, base, dev, proj, admin, op;
  before(async () => {
    op = await startProvider({ clientId: 'sdk-client', clientSecret: 'sdk-secret-0123456789' });
    srv = await startServer({ env: TA_FAST_ENV });
    base = srv.url;
    dev = await newUser(base, 'sdk');
    proj = await newProject(base, dev.access, 'SDK');
    const r = await api(base, 'PUT', `/v1/projects/${proj.id}/auth/config`, {
      key: proj.sk,
      body: {
        providers: {
          email_password: { enabled: true }, anonymous: { enabled: true },
          oidc: { kind: 'oidc', enabled: true, client_id: 'sdk-client', client_secret: 'sdk-secret-0123456789', issuer: op.issuer },
        },
        redirect_urls: [APP],
      },
    });
    assert.equal(r.status, 200, r.text);
    admin = createClient(base, proj.sk);
    await admin.db.createCollection('notes', { rules: { read: OWNER_ONLY, list: OWNER_ONLY, write: OWNER_ONLY } });
  });
  after(async () => {
    await srv?.stop();
    await op?.stop();
  });

  test('createClient: url and key checked; pk_ is publishable, sk_ secret; getProject', async () => {
    assert.throws(() => createClient('localhost:3001', proj.pk), TypeError);
    assert.throws(() => createClient(base, 'bbp_nope'), /pk_… \(apps, browsers\) or sk_…/);
    assert.equal(createClient(base + '/', proj.pk).url, base);
    assert.equal(createClient(base, proj.pk).keyKind, 'publishable');
    assert.equal(admin.keyKind, 'secret');
    const p = await createClient(base, proj.pk).getProject();
    assert.equal(p.project.id, proj.id);
    assert.equal(p.key, 'pk');
  });

  test('errors are BunBaseError {status, code, message, requestId = the X-Request-Id answered}', async () => {
    const f = recordingFetch();
    const app = createClient(base, proj.pk, { fetch: f });
    await assert.rejects(app.kv.get('x'), (e) => {
      assert.ok(e instanceof BunBaseError);
      assert.equal(e.name, 'BunBaseError');
      assert.equal(e.status, 403);
      assert.equal(typeof e.code, 'string');
      assert.ok(e.message.length > 0);
      assert.match(e.requestId, /^[0-9A-Z]{26}$/);
      assert.equal(e.requestId, f.log.at(-1).requestId);
      return true;
    });
    await assert.rejects(app.auth.signInWithPassword({ email: 'nobody@example.com', password: 'wrong-password-1' }),
      { name: 'BunBaseError', status: 401, code: 'invalid_credentials' });
    await assert.rejects(admin.db.collection('bad name!').create({}), { status: 400 });
    await assert.rejects(createClient(base, 'pk_' + 'a'.repeat(32)).getProject(), { status: 401 });
    // no server at all: status 0, network_error
    await assert.rejects(createClient('http://127.0.0.1:1', proj.pk).getProject(), { status: 0, code: 'network_error' });
    assert.deepEqual(Object.keys(new BunBaseError({ status: 1, code: 'c', message: 'm', requestId: 'r' }).toJSON()),
      ['name', 'status', 'code', 'message', 'requestId']);
  });

  test('auth: signUp, currentUser, getSession, getUser, onAuthStateChange, signOut', async () => {
    const app = createClient(base, proj.pk);
    const events = [];
    const off = app.auth.onAuthStateChange((ev, s) => events.push([ev, s?.user?.email ?? null]));
    const { user, session } = await app.auth.signUp({ email: 'ada@example.com', password: PW, name: 'Ada' });
    assert.equal(user.email, 'ada@example.com');
    assert.equal(app.auth.currentUser.id, user.id);
    assert.equal((await app.auth.getSession()).access_token, session.access_token);
    assert.ok(session.expires_at > Date.now() && session.refresh_token);
    const me = await app.auth.getUser();
    assert.equal(me.id, user.id);
    assert.equal(me.name, 'Ada');
    // the token is sent: the user writes a document they own (the rules see request.auth.uid)
    const notes = app.db.collection('notes');
    assert.equal((await notes.create({ _id: 'ada1', owner: user.id, text: 'mine' }))._id, 'ada1');
    const token = session.access_token;
    await app.auth.signOut();
    assert.equal(app.auth.currentUser, null);
    assert.equal(await app.auth.getSession(), null);
    // the server ended the session: the old token is refused
    const r = await api(base, 'GET', '/v1/auth/project/me', { token });
    assert.equal(r.status, 401);
    await assert.rejects(notes.get('ada1'), { status: 403 }); // the pk_ alone
    off();
    await app.auth.signInWithPassword({ email: 'ada@example.com', password: PW }); // not seen: listener removed
    assert.deepEqual(events, [['INITIAL_SESSION', null], ['SIGNED_IN', 'ada@example.com'], ['USER_UPDATED', 'ada@example.com'], ['SIGNED_OUT', null]]);
  });

  test('auth: signInWithPassword and signInAnonymously; an sk_ client cannot sign users in', async () => {
    const app = createClient(base, proj.pk);
    const { user } = await app.auth.signInWithPassword({ email: 'ada@example.com', password: PW });
    assert.equal(user.email, 'ada@example.com');
    assert.equal((await app.db.collection('notes').get('ada1')).text, 'mine');
    const anon = createClient(base, proj.pk);
    const a = await anon.auth.signInAnonymously();
    assert.equal(a.user.anonymous, true);
    assert.notEqual(a.user.id, user.id);
    await assert.rejects(anon.db.collection('notes').get('ada1'), { status: 403 }); // not the owner
    await assert.rejects(admin.auth.signInWithPassword({ email: 'ada@example.com', password: PW }), /publishable key/);
  });

  test('auth: storage adapters — a session in localStorage survives a new client; memoryStorage is per client', async () => {
    const ls = webStorage();
    const a = createClient(base, proj.pk, { auth: { storage: localStorageAdapter(ls) } });
    await a.auth.signInWithPassword({ email: 'ada@example.com', password: PW });
    assert.equal(ls.map.size, 1);
    const [[k, v]] = [...ls.map];
    assert.match(k, /^bunbase\.auth\./);
    assert.equal(JSON.parse(v).user.email, 'ada@example.com');
    const b = createClient(base, proj.pk, { auth: { storage: localStorageAdapter(ls) } }); // a page reload
    assert.equal((await b.auth.getUser()).email, 'ada@example.com');
    assert.equal((await b.db.collection('notes').get('ada1')).owner, (await b.auth.getSession()).user.id);
    const c = createClient(base, proj.pk, { auth: { storage: memoryStorage() } });
    assert.equal(await c.auth.getSession(), null);
    assert.throws(() => localStorageAdapter(undefined), /no localStorage/);
    await b.auth.signOut();
    assert.equal(ls.map.size, 0);
  });

  test('auth: 20 concurrent calls with an expired access token make exactly one refresh (single flight)', async () => {
    const ls = webStorage();
    const first = createClient(base, proj.pk, { auth: { storage: localStorageAdapter(ls) } });
    const { user } = await first.auth.signInWithPassword({ email: 'ada@example.com', password: PW });
    // the app comes back later: its stored access token has expired
    const [[k, v]] = [...ls.map];
    const stale = JSON.parse(v);
    ls.setItem(k, JSON.stringify({ ...stale, expires_at: Date.now() - 1000 }));
    const f = recordingFetch();
    const app = createClient(base, proj.pk, { fetch: f, auth: { storage: localStorageAdapter(ls) } });
    const events = [];
    app.auth.onAuthStateChange((ev) => events.push(ev));
    const notes = app.db.collection('notes');
    const results = await Promise.all(Array.from({ length: 20 }, () => notes.get('ada1')));
    assert.ok(results.every((d) => d && d.owner === user.id));
    const refreshes = f.log.filter((e) => e.url.endsWith('/v1/auth/project/refresh'));
    assert.equal(refreshes.length, 1, 'one refresh for 20 calls');
    assert.equal(refreshes[0].status, 200);
    const s = await app.auth.getSession();
    assert.notEqual(s.access_token, stale.access_token);
    assert.notEqual(s.refresh_token, stale.refresh_token, 'the refresh token rotated');
    assert.ok(s.expires_at > Date.now());
    // every data call after the refresh carried the new token
    const reads = f.log.filter((e) => e.url.includes('/documents/notes/ada1'));
    assert.equal(reads.length, 20);
    assert.ok(reads.every((e) => e.headers.Authorization === `Bearer ${s.access_token}`));
    assert.deepEqual(events.filter((e) => e === 'TOKEN_REFRESHED'), ['TOKEN_REFRESHED']);
    // refreshSession(): an explicit refresh; concurrent ones share the request
    const [x, y] = await Promise.all([app.auth.refreshSession(), app.auth.refreshSession()]);
    assert.equal(x, y);
    assert.equal(f.log.filter((e) => e.url.endsWith('/refresh')).length, 2);
  });

  test('auth: a session about to expire is refreshed in the background (autoRefresh), not with autoRefresh: false', async () => {
    const ls = webStorage();
    const first = createClient(base, proj.pk, { auth: { storage: localStorageAdapter(ls) } });
    await first.auth.signInWithPassword({ email: 'ada@example.com', password: PW });
    const [[k, v]] = [...ls.map];
    const s0 = JSON.parse(v);
    ls.setItem(k, JSON.stringify({ ...s0, issued_at: Date.now() - 900000, expires_at: Date.now() + 5000 })); // within the 30 s margin
    const off = createClient(base, proj.pk, { auth: { storage: localStorageAdapter(ls), autoRefresh: false } });
    assert.equal((await off.auth.getSession()).access_token, s0.access_token);
    await sleep(200);
    assert.equal(JSON.parse(ls.getItem(k)).access_token, s0.access_token, 'no refresh without a call');
    const app = createClient(base, proj.pk, { auth: { storage: localStorageAdapter(ls) } });
    const events = [];
    app.auth.onAuthStateChange((ev) => events.push(ev));
    await until(() => events.includes('TOKEN_REFRESHED'), 5000, 'the background refresh');
    assert.notEqual(JSON.parse(ls.getItem(k)).access_token, s0.access_token);
    assert.equal((await app.auth.getUser()).email, 'ada@example.com');
  });

  test('auth: setSession with tokens from elsewhere', async () => {
    const r = await api(base, 'POST', '/v1/auth/project/login', { key: proj.pk, body: { email: 'ada@example.com', password: PW } });
    const app = createClient(base, proj.pk);
    const s = await app.auth.setSession({ access_token: r.json.access_token, refresh_token: r.json.refresh_token, expires_in: r.json.expires_in });
    assert.equal(s.access_token, r.json.access_token);
    assert.equal((await app.auth.getUser()).email, 'ada@example.com');
  });

  test('auth: OAuth — getOAuthSignInUrl, the provider round trip, handleOAuthCallback', async () => {
    const app = createClient(base, proj.pk);
    const url = app.auth.getOAuthSignInUrl('oidc', { redirectTo: APP });
    assert.equal(url, `${base}/v1/auth/project/oauth/oidc/start?key=${encodeURIComponent(proj.pk)}&redirect_uri=${encodeURIComponent(APP)}`);
    assert.deepEqual(app.auth.signInWithOAuth('oidc', { redirectTo: APP }), { url }); // no browser: the URL only
    // the browser: start → provider (auto-approves) → callback → the app, tokens in the fragment
    const start = await browserGet(url);
    assert.equal(start.status, 302, start.text);
    const atProvider = await browserGet(start.location);
    const back = await browserGet(atProvider.location);
    assert.equal(back.status, 302, back.text);
    assert.ok(back.location.startsWith(`${APP}#access_token=`));
    const { user, session } = await app.auth.handleOAuthCallback(back.location);
    assert.equal(user.email, 'alice@example.com');
    assert.equal(app.auth.currentUser.email, 'alice@example.com');
    assert.ok(session.refresh_token && session.expires_at > Date.now());
    assert.equal(await app.auth.handleOAuthCallback(APP), null); // nothing in the URL
    await assert.rejects(app.auth.handleOAuthCallback(`${APP}?error=access_denied&error_description=declined`),
      { name: 'BunBaseError', code: 'access_denied', message: 'declined' });
    assert.throws(() => app.auth.getOAuthSignInUrl('oidc', {}), TypeError);
  });

  test('a browser app on another origin: sign-up/in, refresh, user, documents, realtime, sign-out pass CORS', async () => {
    const ORIGIN = 'http://app.example.com';
    const r = await api(base, 'PUT', `/v1/projects/${proj.id}/cors`, { token: dev.access, body: { allowed_origins: [ORIGIN] } });
    assert.equal(r.status, 200, r.text);
    const app = createClient(base, proj.pk, { fetch: browserFetch(ORIGIN) });
    const { user } = await app.auth.signUp({ email: 'browser@example.com', password: PW });
    await app.auth.signOut();
    await app.auth.signInWithPassword({ email: 'browser@example.com', password: PW });
    await app.auth.refreshSession();
    assert.equal((await app.auth.getUser()).id, user.id);
    const notes = app.db.collection('notes');
    const got = [];
    const sub = notes.subscribe((e) => got.push(e.id));
    await sub.ready;
    await notes.create({ _id: 'br1', owner: user.id });
    assert.equal((await notes.update('br1', { n: 1 })).n, 1);
    assert.deepEqual((await notes.where('owner', '==', user.id).get()).documents.map((d) => d._id), ['br1']);
    await assert.rejects(notes.get('ada1'), { status: 403 }); // an error answer is readable too
    await until(() => got.length >= 2, 5000, 'events');
    sub.unsubscribe();
    await app.auth.signOut();
    // another origin cannot even sign in
    await assert.rejects(createClient(base, proj.pk, { fetch: browserFetch('http://evil.example.com') }).auth.signInWithPassword({ email: 'browser@example.com', password: PW }),
      (e) => e instanceof BunBaseError && e.code === 'network_error' && /CORS preflight refused/.test(e.message));
  });

  test('db: collections, rules and indexes (sk_)', async () => {
    const c = await admin.db.createCollection('books', { rules: { read: 'true', list: 'true' } });
    assert.equal(c.name, 'books');
    assert.ok((await admin.db.listCollections()).includes('books'));
    assert.deepEqual(await admin.db.listCollections({ prefix: 'boo' }), ['books']);
    assert.equal((await admin.db.getCollection('books')).rules.read, 'true');
    const schema = { type: 'object', properties: { year: { type: 'integer' } } };
    assert.deepEqual((await admin.db.updateCollection('books', { schema })).schema, schema);
    assert.equal((await admin.db.setRules('books', { read: 'true', list: 'true', write: 'false' })).rules.write, 'false');
    await admin.db.createIndex('books', { name: 'by_year', fields: ['year'] });
    assert.deepEqual((await admin.db.listIndexes('books')).map((i) => i.name), ['by_year']);
    await admin.db.createCollection('scratch');
    await admin.db.deleteCollection('scratch');
    assert.ok(!(await admin.db.listCollections()).includes('scratch'));
    await assert.rejects(createClient(base, proj.pk).db.createCollection('nope'), { status: 403 });
  });

  test('db: documents CRUD on both path forms', async () => {
    for (const form of ['documents', 'collections']) {
      const f = recordingFetch();
      const col = createClient(base, proj.sk, { fetch: f }).db.collection('books', { pathForm: form });
      const id = `b-${form}/x`; // percent-encoded: any id works
      assert.deepEqual(await col.create({ _id: id, title: 'Dune', year: 1965 }), { _id: id, title: 'Dune', year: 1965 });
      assert.equal((await col.get(id)).title, 'Dune');
      assert.equal((await col.update(id, { title: 'Dune!' })).title, 'Dune!');
      assert.deepEqual(await col.replace(id, { title: 'Dune Messiah', year: 1969 }), { _id: id, title: 'Dune Messiah', year: 1969 });
      const listed = await col.list({ limit: 10 });
      assert.ok(listed.documents.some((d) => d._id === id));
      assert.equal(await col.delete(id), true);
      assert.equal(await col.delete(id), false);
      assert.equal(await col.get(id), null);
      const prefix = form === 'documents' ? '/v1/database/documents/books' : '/v1/database/collections/books/documents';
      assert.ok(f.log.every((e) => new URL(e.url).pathname.startsWith(prefix)), `${form}: ${f.log.map((e) => e.url).join(' ')}`);
    }
    await assert.rejects(admin.db.collection('books').create({ _id: 'y', year: 'not a year' }), { status: 400 });
  });

  test('db: the query builder — where, in, gte, orderBy, limit, cursors, select, count, explain', async () => {
    const books = admin.db.collection('books');
    const b = admin.db.batch();
    for (let i = 1; i <= 7; i++) b.create('books', { _id: `q${i}`, year: 1960 + i, genre: i % 2 ? 'sf' : 'fantasy', title: `T${i}` });
    assert.equal((await b.commit()).length, 7);
    const q = books.where('year', '>=', 1963).in('genre', ['sf']).orderBy('year', 'desc');
    assert.deepEqual(q.toJSON(), { collection: 'books', filter: { year: { $gte: 1963 }, genre: { $in: ['sf'] } }, sort: ['-year'] });
    assert.deepEqual((await q.get()).documents.map((d) => d._id), ['q7', 'q5', 'q3']);
    assert.deepEqual((await books.gte('year', 1966).where('genre', 'fantasy').get()).documents.map((d) => d._id), ['q6']);
    assert.deepEqual((await books.where('year', '<', 1963).orderBy('year').select('title').get()).documents, [{ _id: 'q1', title: 'T1' }, { _id: 'q2', title: 'T2' }]);
    assert.equal((await books.regex('title', '^t[12]$', 'i').withCount().get()).count, 2);
    assert.deepEqual((await books.or(books.eq('year', 1961), { year: 1967 }).orderBy('year').get()).documents.map((d) => d._id), ['q1', 'q7']);
    // cursors: pages of 3 in year order, no gaps, no repeats
    const page1 = await books.exists('genre').orderBy('year').limit(3).get();
    assert.deepEqual(page1.documents.map((d) => d._id), ['q1', 'q2', 'q3']);
    assert.ok(page1.cursor);
    const page2 = await books.exists('genre').orderBy('year').limit(3).startAfter(page1.cursor).get();
    assert.deepEqual(page2.documents.map((d) => d._id), ['q4', 'q5', 'q6']);
    const all = [];
    for await (const docs of books.exists('genre').orderBy('year').limit(3).pages()) all.push(...docs.map((d) => d._id));
    assert.deepEqual(all, ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7']);
    // explain: the index on year is used
    const ex = await books.where('year', '>', 1965).explain();
    assert.equal(ex.index, 'by_year');
    assert.throws(() => books.where('year', '~', 1), /unknown operator/);
    await assert.rejects(books.filter({ $bogus: 1 }).get(), { status: 400 });
  });

  test('db: batch — one transaction, results in order; a failing write changes nothing', async () => {
    const books = admin.db.collection('books');
    const ok = await admin.db.batch()
      .create('books', { _id: 'bt1', year: 2001 })
      .update('books', 'q1', { title: 'T1!' })
      .replace('books', 'q2', { year: 1962, title: 'T2!' })
      .delete('books', 'q3')
      .commit();
    assert.equal(ok.length, 4);
    assert.equal((await books.get('q1')).title, 'T1!');
    assert.equal(await books.get('q3'), null);
    await assert.rejects(admin.db.batch().create('books', { _id: 'bt2' }).create('books', { _id: 'bt1' }).commit(),
      (e) => e instanceof BunBaseError && e.status === 409 && e.details.index === 1);
    assert.equal(await books.get('bt2'), null, 'all or nothing');
  });

  test('db: subscribe — typed added/modified/removed, query subscriptions, unsubscribe', async () => {
    const app = createClient(base, proj.pk);
    const { user } = await app.auth.signInWithPassword({ email: 'ada@example.com', password: PW });
    const all = [];
    const mine = [];
    const notes = app.db.collection('notes');
    const s1 = notes.subscribe((e) => all.push(e));
    const s2 = notes.subscribe(notes.where('tag', '==', 'hot'), (e) => mine.push(e));
    await Promise.all([s1.ready, s2.ready]);
    await notes.create({ _id: 'live1', owner: user.id, tag: 'cold' });
    await notes.update('live1', { tag: 'hot' });
    await notes.delete('live1');
    await until(() => all.length >= 3 && mine.length >= 2, 5000, 'events');
    assert.deepEqual(all.map((e) => [e.type, e.id, e.op]), [['added', 'live1', 'create'], ['modified', 'live1', 'update'], ['removed', 'live1', 'delete']]);
    assert.deepEqual(all[1].doc, { _id: 'live1', owner: user.id, tag: 'hot' });
    assert.equal(all[2].doc, null);
    assert.ok(all.every((e) => e.collection === 'notes' && /^\d+-\d+$/.test(e.eventId)));
    assert.deepEqual(mine.map((e) => [e.type, e.id]), [['added', 'live1'], ['removed', 'live1']]); // entered, then deleted
    s1.unsubscribe();
    s2.unsubscribe();
    assert.equal(s1.closed, true);
    await notes.create({ _id: 'live2', owner: user.id });
    await sleep(300);
    assert.equal(all.length, 3, 'nothing after unsubscribe');
    // resuming from an id the server no longer has: a typed reset (reload, keep listening), then events
    const afterReset = [];
    const s3 = admin.db.collection('notes').subscribe((e) => afterReset.push(`${e.type}:${e.id ?? ''}`), { lastEventId: '1-1' });
    await s3.ready;
    await until(() => afterReset.length >= 1, 5000, 'reset');
    await admin.db.collection('notes').create({ _id: 'live3', owner: 'x' });
    await until(() => afterReset.length >= 2, 5000, 'an event after the reset');
    assert.deepEqual(afterReset, ['reset:', 'added:live3']);
    s3.unsubscribe();
    // a stream that cannot be opened rejects ready and stops (no retry loop on a 404)
    const bad = admin.db.collection('no-such-collection').subscribe(() => {});
    await assert.rejects(bad.ready, { status: 404 });
    assert.equal(bad.closed, true);
  });

  test('db: realtime resumes across a forced disconnect — events written meanwhile arrive once, in order', async () => {
    await admin.db.createCollection('feed');
    const relay = await startRelay(srv.port);
    try {
      const viaRelay = createClient(relay.url, proj.sk);
      const direct = admin.db.collection('feed');
      const events = [];
      const statuses = [];
      const sub = viaRelay.db.collection('feed').subscribe((e) => events.push(`${e.type}:${e.id}`),
        { retryMinMs: 50, retryMaxMs: 200, onStatus: (s) => statuses.push(s) });
      await sub.ready;
      await direct.create({ _id: 'a1', n: 1 });
      await until(() => events.length === 1, 5000, 'a1');
      // the network drops: the stream's sockets are destroyed and reconnections refused
      relay.down = true;
      relay.cut();
      await until(() => statuses.includes('reconnecting'), 5000, 'the SDK to notice');
      await direct.create({ _id: 'b1', n: 2 });
      await direct.create({ _id: 'b2', n: 3 });
      await direct.update('b1', { n: 4 });
      await direct.delete('a1');
      await sleep(300); // a few refused reconnections
      relay.down = false;
      await until(() => events.length >= 5, 5000, 'the missed events');
      await direct.create({ _id: 'c1', n: 5 });
      await until(() => events.length >= 6, 5000, 'a live event after the resume');
      await sleep(200);
      assert.deepEqual(events, ['added:a1', 'added:b1', 'added:b2', 'modified:b1', 'removed:a1', 'added:c1']);
      assert.equal(sub.connects, 2);
      const resumed = relay.heads.filter((h) => h.startsWith('GET /v1/database/collections/feed/subscribe'));
      assert.equal(resumed.length, 2);
      assert.doesNotMatch(resumed[0], /last-event-id/i);
      assert.match(resumed[1], /^last-event-id: \d+-\d+$/im);
      sub.unsubscribe();
    } finally {
      await relay.stop();
    }
  });

  test('kv: set with TTL, get (text, bytes, json), del, keys; a pk_ is refused', async () => {
    const kv = admin.kv;
    await kv.set('greeting/en', 'hello world');
    assert.equal(await kv.get('greeting/en'), 'hello world');
    await kv.set('bin', new Uint8Array([0, 255, 1]));
    assert.deepEqual(await kv.get('bin', { as: 'bytes' }), new Uint8Array([0, 255, 1]));
    await kv.set('obj', { a: 1 });
    assert.deepEqual(await kv.get('obj', { as: 'json' }), { a: 1 });
    await kv.set(new Uint8Array([0x6b, 0x00, 0x2f]), 'binary key');
    await kv.set('session/42', 'ada', { ttl: 1 });
    assert.equal(await kv.get('session/42'), 'ada');
    assert.deepEqual((await kv.keys('greeting*')), ['greeting/en']);
    assert.equal((await kv.keys()).length, 5);
    await sleep(1300);
    assert.equal(await kv.get('session/42'), null, 'expired');
    assert.equal(await kv.del('greeting/en'), true);
    assert.equal(await kv.del('greeting/en'), false);
    assert.equal(await kv.get('greeting/en'), null);
    await assert.rejects(kv.set('x', 'y', { ttl: 0 }), TypeError);
    await assert.rejects(createClient(base, proj.pk).kv.keys(), { status: 403 });
  });

  test('kv: incr (default 1, by n, typed errors), meta, keys with {meta: true}', async () => {
    const kv = admin.kv;
    assert.equal(await kv.incr('hits/a'), 1);
    assert.equal(await kv.incr('hits/a', 41), 42);
    assert.equal(await kv.incr('hits/a', -2), 40);
    assert.equal(await kv.get('hits/a'), '40');
    await kv.set('hits/word', 'abc', { ttl: 100 });
    await assert.rejects(kv.incr('hits/word'), (e) => e.status === 409 && e.code === 'not_integer' && /not an integer/.test(e.message));
    await assert.rejects(kv.incr('hits/a', 1.5), TypeError);
    await kv.set('hits/max', '9223372036854775807');
    await assert.rejects(kv.incr('hits/max'), { status: 400, code: 'overflow' });
    assert.deepEqual(await kv.meta('hits/a'), { key: 'hits/a', type: 'string', ttl_ms: null });
    const m = await kv.meta('hits/word');
    assert.equal(m.type, 'string');
    assert.ok(m.ttl_ms > 90000 && m.ttl_ms <= 100000, JSON.stringify(m));
    assert.equal(await kv.meta('hits/none'), null);
    const list = await kv.keys('hits/*', { meta: true });
    assert.deepEqual(list.map((k) => k.key).sort(), ['hits/a', 'hits/max', 'hits/word']);
    assert.ok(list.every((k) => k.type === 'string'));
    assert.equal(list.find((k) => k.key === 'hits/a').ttl_ms, null);
    assert.deepEqual((await kv.keys('hits/a')), ['hits/a']);
    await assert.rejects(createClient(base, proj.pk).kv.incr('hits/a'), { status: 403 });
  });

  test('functions.invoke: JSON in and out, other methods and query, typed errors', async () => {
    const src = `export default { async fetch(req) {
      const u = new URL(req.url);
      if (u.searchParams.get('fail')) return Response.json({ error: 'no title', code: 'bad_title' }, { status: 400 });
      const body = req.method === 'GET' ? null : await req.text();
      return Response.json({ method: req.method, body, q: u.searchParams.get('q') });
    } };`;
    const r = await httpRequest(`${base}/v1/projects/${proj.id}/functions/echo`, {
      method: 'PUT', headers: { Authorization: `Bearer ${dev.access}`, 'Content-Type': 'application/javascript' }, body: src,
    });
    assert.ok(r.status === 201 || r.status === 200, r.text);
    const app = createClient(base, proj.pk);
    assert.deepEqual(await app.functions.invoke('echo', { name: 'Ada' }), { method: 'POST', body: '{"name":"Ada"}', q: null });
    assert.deepEqual(await app.functions.invoke('echo', undefined, { method: 'GET', query: { q: 'x' } }), { method: 'GET', body: null, q: 'x' });
    assert.equal((await app.functions.invoke('echo', 'plain', { responseType: 'json' })).body, 'plain');
    const res = await app.functions.invoke('echo', {}, { responseType: 'response' });
    assert.ok(res.headers.get('x-invocation-id'));
    await assert.rejects(app.functions.invoke('echo', {}, { query: { fail: 1 } }), { name: 'BunBaseError', status: 400, code: 'bad_title', message: 'no title' });
    await assert.rejects(app.functions.invoke('missing', {}), { status: 404, code: 'function_not_found' });
    // signed in: still invoked with the key (the route takes keys; a user token there is 403)
    const user = createClient(base, proj.pk);
    await user.auth.signInWithPassword({ email: 'ada@example.com', password: PW });
    assert.equal((await user.functions.invoke('echo', 'x')).body, 'x');
  });
});
