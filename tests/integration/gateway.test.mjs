// The public gateway to the data plane (src/platform/platform_gateway.c) against real bunbased
// processes: documents with sk_ (admin) and pk_ (the collection rules apply), keys of another
// project, revoked keys, console routes by role, KV with odd keys in both forms, X-Request-Id
// forwarding, realtime (pk_ via ?key=, Last-Event-ID), CORS — with the data services in the same
// process (in-process dispatch, bb_http_redispatch for streams) and in a second bunbased
// (bundoc-server and bunder-manager over HTTP at BUNBASE_<SERVICE>_ADDR, streams relayed).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';

import { freePort, httpRequest, sleep, startServer } from './harness.mjs';
import { FAST_ENV, addMember, api, newProject, newUser } from './platform_lib.mjs';

const TOKEN = 'gateway-test-internal-token-0123456789';

/** Percent-encodes every byte that is not unreserved (binary-safe, unlike encodeURIComponent). */
function pct(buf) {
  let s = '';
  for (const b of Buffer.from(buf)) {
    const c = String.fromCharCode(b);
    s += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return s;
}

/** An SSE stream: {status, events [{id, event, data, json}], waitFor(n), close()}. */
function openSSE(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    const payload = body ? JSON.stringify(body) : undefined;
    if (payload) h['Content-Type'] = 'application/json';
    const s = { events: [], waiters: new Set(), status: null, text: '' };
    let buf = '';
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false }, (res) => {
      s.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        s.text += chunk;
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = { id: null, event: 'message', data: '' };
          const lines = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) continue;
            const k = line.slice(0, line.indexOf(':')); const v = line.slice(line.indexOf(':') + 1).replace(/^ /, '');
            if (k === 'id') ev.id = v; else if (k === 'event') ev.event = v; else if (k === 'data') lines.push(v);
          }
          if (!lines.length && !ev.id) continue;
          ev.data = lines.join('\n');
          try { ev.json = JSON.parse(ev.data); } catch {}
          s.events.push(ev);
        }
        for (const w of [...s.waiters]) w();
      });
      res.on('end', () => { for (const w of [...s.waiters]) w(); });
      resolve(s);
    });
    s.close = () => req.destroy();
    s.waitFor = (n, ms = 8000) => new Promise((res2, rej2) => {
      const check = () => { if (s.events.length >= n) { clearTimeout(t); s.waiters.delete(check); res2(s.events); } };
      const t = setTimeout(() => { s.waiters.delete(check); rej2(new Error(`timeout: ${s.events.length}/${n} events: ${s.text}`)); }, ms);
      s.waiters.add(check); check();
    });
    req.on('error', (e) => { if (s.status === null) reject(e); });
    req.end(payload);
  });
}

async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

/** The documents contract through the gateway; `G` is the gateway URL. */
function documentsSuite(name, setup) {
  describe(name, () => {
    let ctx;
    before(async () => { ctx = await setup(); });
    after(async () => { for (const s of ctx.servers.reverse()) await s.stop(); });

    test('sk_: collections, documents (both path forms), query, batch, indexes, rules', async () => {
      const { G, p } = ctx;
      const sk = { key: p.sk };
      const cases = [
        ['create collection', 'POST', '/v1/database/collections', { body: { name: 'todos' } }, 201],
        ['create again', 'POST', '/v1/database/collections', { body: { name: 'todos' } }, 409],
        ['list collections', 'GET', '/v1/database/collections', {}, 200, (j) => assert.deepEqual(j.collections, ['todos'])],
        ['get collection', 'GET', '/v1/database/collections/todos', {}, 200, (j) => assert.equal(j.name, 'todos')],
        ['missing collection', 'GET', '/v1/database/collections/nope', {}, 404],
        ['create doc', 'POST', '/v1/database/collections/todos/documents', { body: { _id: 'd1', title: 'one' } }, 201],
        ['create doc other form', 'POST', '/v1/database/documents/todos', { body: { _id: 'd2', title: 'two', n: 2 } }, 201],
        ['get doc', 'GET', '/v1/database/collections/todos/documents/d1', {}, 200, (j) => assert.equal(j.title, 'one')],
        ['get doc other form', 'GET', '/v1/database/documents/todos/d2', {}, 200, (j) => assert.equal(j.n, 2)],
        ['patch doc', 'PATCH', '/v1/database/documents/todos/d1', { body: { done: true } }, 200, (j) => assert.equal(j.done, true)],
        ['replace doc', 'PUT', '/v1/database/collections/todos/documents/d1', { body: { title: 'uno', n: 1 } }, 200],
        ['list docs with query string', 'GET', '/v1/database/documents/todos?limit=1', {}, 200, (j) => assert.equal(j.documents.length, 1)],
        ['bad json', 'POST', '/v1/database/documents/todos', { body: '{nope' }, 400],
        ['create index', 'POST', '/v1/database/collections/todos/indexes', { body: { name: 'by_n', fields: ['n'] } }, 201],
        ['list indexes', 'GET', '/v1/database/collections/todos/indexes', {}, 200, (j) => assert.ok(j.indexes.some((i) => i.name === 'by_n'))],
        ['query', 'POST', '/v1/database/documents/query', { body: { collection: 'todos', filter: { n: { $gte: 2 } } } }, 200, (j) => assert.deepEqual(j.documents.map((d) => d._id), ['d2'])],
        ['batch', 'POST', '/v1/database/batch', { body: { writes: [{ op: 'create', collection: 'todos', doc: { _id: 'b1', n: 9 } }] } }, 200],
        ['rules', 'PATCH', '/v1/database/collections/todos/rules', { body: { rules: { read: 'true' } } }, 200],
        ['delete index', 'DELETE', '/v1/database/collections/todos/indexes/by_n', {}, 204],
        ['delete doc', 'DELETE', '/v1/database/documents/todos/b1', {}, 204],
        ['delete doc again', 'DELETE', '/v1/database/collections/todos/documents/b1', {}, 404],
        ['api alias', 'GET', '/api/database/collections', {}, 200],
        ['no key', 'GET', '/v1/database/collections', { key: null }, 401],
        ['unknown key', 'GET', '/v1/database/collections', { key: 'sk_nope' }, 401],
      ];
      for (const [n, method, path, opts, status, check] of cases) {
        const o = { ...sk, ...opts };
        if (o.key === null) delete o.key;
        const r = await api(G, method, path, o);
        assert.equal(r.status, status, `${n}: ${method} ${path} → ${r.status} ${r.text}`);
        if (status >= 400) assert.equal(typeof r.code, 'string', `${n}: error shape ${r.text}`);
        if (check) check(r.json);
      }
    });

    test('pk_: the collection rules apply (anonymous end user); admin routes refused', async () => {
      const { G, p } = ctx;
      let r = await api(G, 'POST', '/v1/database/collections', { key: p.sk, body: { name: 'posts',
        rules: { read: 'resource.data.public == true', create: 'false', update: 'false', delete: 'false' } } });
      assert.equal(r.status, 201, r.text);
      for (const d of [{ _id: 'pub', public: true }, { _id: 'priv', public: false }]) {
        r = await api(G, 'POST', '/v1/database/documents/posts', { key: p.sk, body: d });
        assert.equal(r.status, 201, r.text);
      }
      r = await api(G, 'GET', '/v1/database/documents/posts/pub', { key: p.pk });
      assert.equal(r.status, 200, r.text);
      r = await api(G, 'GET', '/v1/database/documents/posts/priv', { key: p.pk });
      assert.equal(r.status, 403, r.text);
      r = await api(G, 'GET', '/v1/database/documents/posts', { key: p.pk });
      assert.deepEqual(r.json.documents.map((d) => d._id), ['pub']);
      r = await api(G, 'POST', '/v1/database/documents/posts', { key: p.pk, body: { public: true } });
      assert.equal(r.status, 403, r.text);
      // collection management is admin: the matrix refuses pk_ before bundoc-server is asked
      r = await api(G, 'POST', '/v1/database/collections', { key: p.pk, body: { name: 'x' } });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.code, 'forbidden');
    });

    test('another project\'s key, a key on the console form, a revoked key', async () => {
      const { G, p, q, owner } = ctx;
      // q's data is not p's
      let r = await api(G, 'GET', '/v1/database/documents/todos/d1', { key: q.sk });
      assert.equal(r.status, 404, r.text);
      // a key is for its own project only
      r = await api(G, 'GET', `/v1/projects/${p.id}/database/collections`, { key: q.sk });
      assert.equal(r.status, 403, r.text);
      // revoke q's sk_: refused within 5 s (at once in this process)
      r = await api(G, 'DELETE', `/v1/projects/${q.id}/keys/${q.skId}`, { token: owner.access });
      assert.ok(r.status === 200 || r.status === 204, r.text);
      const t0 = Date.now();
      assert.ok(await until(async () => (await api(G, 'GET', '/v1/database/collections', { key: q.sk })).status === 401));
      assert.ok(Date.now() - t0 < 5000);
    });

    test('console routes: the role decides (viewer reads, cannot write; member writes, cannot manage)', async () => {
      const { G, p, owner, viewer, member, outsider } = ctx;
      const base = `/v1/projects/${p.id}/database`;
      let r = await api(G, 'POST', `${base}/collections`, { token: owner.access, body: { name: 'console' } });
      assert.equal(r.status, 201, r.text);
      r = await api(G, 'POST', `${base}/documents/console`, { token: owner.access, body: { _id: 'c1' } });
      assert.equal(r.status, 201, r.text);
      r = await api(G, 'GET', `${base}/documents/console/c1`, { token: viewer.access });
      assert.equal(r.status, 200, r.text);
      r = await api(G, 'POST', `${base}/documents/console`, { token: viewer.access, body: { _id: 'c2' } });
      assert.equal(r.status, 403, r.text);
      r = await api(G, 'POST', `${base}/documents/console`, { token: member.access, body: { _id: 'c2' } });
      assert.equal(r.status, 201, r.text);
      r = await api(G, 'POST', `${base}/collections`, { token: member.access, body: { name: 'nope' } });
      assert.equal(r.status, 403, r.text);
      r = await api(G, 'GET', `${base}/collections`, { token: outsider.access });
      assert.equal(r.status, 404, r.text);
      r = await api(G, 'GET', `${base}/collections`, {});
      assert.equal(r.status, 401, r.text);
    });

    test('X-Request-Id is kept and forwarded', async () => {
      const { G, p, downstreamLog } = ctx;
      const rid = `gw-rid-${Math.random().toString(36).slice(2, 10)}`;
      const r = await api(G, 'GET', '/v1/database/collections', { key: p.sk, headers: { 'X-Request-Id': rid } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-request-id'], rid);
      if (downstreamLog) {
        assert.ok(await until(() => downstreamLog().includes(`rid=${rid}`), 3000),
          'bundoc-server logged the same request id');
      }
    });

    if (setup.realtime) {
      test('realtime: pk_ via ?key= (rules apply), Last-Event-ID resumes, console and query forms', async () => {
        const { G, p, q2, owner } = ctx;
        let r = await api(G, 'POST', '/v1/database/collections', { key: p.sk, body: { name: 'live',
          rules: { read: 'resource.data.public == true' } } });
        assert.equal(r.status, 201, r.text);
        const pk = await openSSE(`${G}/v1/database/collections/live/subscribe?key=${p.pk}`);
        assert.equal(pk.status, 200, pk.text);
        const dev = await openSSE(`${G}/v1/projects/${p.id}/database/collections/live/subscribe`,
          { headers: { Authorization: `Bearer ${owner.access}` } });
        assert.equal(dev.status, 200, dev.text);
        const hot = await openSSE(`${G}/v1/database/documents/query/subscribe`,
          { method: 'POST', headers: { 'X-Bunbase-Client-Key': p.sk }, body: { collection: 'live', filter: { hot: true } } });
        assert.equal(hot.status, 200, hot.text);
        await sleep(100);
        for (const d of [{ _id: 'a', public: true }, { _id: 'b', public: false, hot: true }, { _id: 'c', public: true }]) {
          r = await api(G, 'POST', '/v1/database/documents/live', { key: p.sk, body: d });
          assert.equal(r.status, 201, r.text);
        }
        const evs = await pk.waitFor(2);
        assert.deepEqual(evs.map((e) => [e.event, e.json.docId]), [['added', 'a'], ['added', 'c']]);
        assert.deepEqual((await dev.waitFor(3)).map((e) => e.json.docId), ['a', 'b', 'c']);
        assert.deepEqual((await hot.waitFor(1)).map((e) => e.json.docId), ['b']);
        // resume after the first event: only what followed it
        const resumed = await openSSE(`${G}/v1/database/collections/live/subscribe?key=${p.pk}`,
          { headers: { 'Last-Event-ID': evs[0].id } });
        assert.equal(resumed.status, 200);
        assert.deepEqual((await resumed.waitFor(1)).map((e) => e.json.docId), ['c']);
        await sleep(200);
        assert.equal(resumed.events.length, 1, resumed.text);
        const subs = async () => Number(((await httpRequest(`${ctx.downstream}/metrics`)).text
          .match(/^bunbase_bundoc_subscribers(?:\{[^}]*\})? (\d+)/m) || [])[1]);
        if (ctx.downstream) assert.equal(await subs(), 4);
        for (const s of [pk, dev, hot, resumed]) s.close();
        if (ctx.downstream) { // the proxied subscriptions end downstream when the clients leave
          assert.ok(await until(async () => (await subs()) === 0, 4000), `subscribers left: ${await subs()}`);
        }
        // refusals: sk_ in the URL, another project's key, no key, a viewer on the console form is fine
        r = await api(G, 'GET', `/v1/database/collections/live/subscribe?key=${p.sk}`);
        assert.equal(r.status, 401, r.text);
        const other = await openSSE(`${G}/v1/database/collections/live/subscribe?key=${q2.pk}`);
        assert.equal(other.status, 404, other.text); // q2 has no collection "live"
        other.close();
        r = await api(G, 'GET', '/v1/database/collections/live/subscribe');
        assert.equal(r.status, 401, r.text);
        r = await api(G, 'GET', `/v1/projects/${p.id}/database/collections/live/subscribe?key=${q2.pk}`);
        assert.equal(r.status, 403, r.text); // the console form takes developer credentials only
      });
    }

    if (setup.cors) {
      test('CORS per project on key-based routes: preflight for allowed origins only, no credentials', async () => {
        const { G, p, q2, owner, viewer } = ctx;
        const APP = 'https://app.example.com';
        let r = await api(G, 'GET', `/v1/projects/${p.id}/cors`, { token: viewer.access });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.allowed_origins, []);
        r = await api(G, 'PUT', `/v1/projects/${p.id}/cors`, { token: viewer.access, body: { allowed_origins: [APP] } });
        assert.equal(r.status, 403, r.text);
        const four = ['https://a.example', 'https://b.example', 'http://c.example:8080', '*'];
        for (const bad of [['https://x.example/path'], ['ftp://x'], 'x', [7], four]) { // four: over the knob (3)
          r = await api(G, 'PUT', `/v1/projects/${p.id}/cors`, { token: owner.access, body: { allowed_origins: bad } });
          assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
        }
        const preflight = (origin, path = '/v1/database/collections/x/documents') => httpRequest(`${G}${path}`, { method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-bunbase-client-key, content-type' } });
        r = await preflight(APP);
        assert.equal(r.status, 403, 'not allowed before the project lists it');
        assert.equal(r.headers['access-control-allow-origin'], undefined);
        r = await api(G, 'PUT', `/v1/projects/${p.id}/cors`, { token: owner.access, body: { allowed_origins: [APP] } });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.allowed_origins, [APP]);
        for (const path of ['/v1/database/collections/x/documents', '/v1/kv/k', '/v1/database/documents/query']) {
          r = await preflight(APP, path);
          assert.equal(r.status, 204, path);
          assert.equal(r.headers['access-control-allow-origin'], APP);
          const allowH = r.headers['access-control-allow-headers'].toLowerCase();
          for (const h of ['x-bunbase-client-key', 'authorization', 'content-type']) assert.ok(allowH.includes(h), allowH);
          assert.match(r.headers['access-control-allow-methods'], /POST/);
          assert.equal(r.headers['access-control-allow-credentials'], undefined);
        }
        r = await preflight('https://evil.example');
        assert.equal(r.status, 403);
        assert.equal(r.headers['access-control-allow-origin'], undefined);
        // the real request: the header only when the key's project allows the origin
        r = await api(G, 'GET', '/v1/database/collections', { key: p.pk, headers: { Origin: APP } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['access-control-allow-origin'], APP);
        assert.equal(r.headers['access-control-allow-credentials'], undefined);
        r = await api(G, 'GET', '/v1/database/collections', { key: q2.sk, headers: { Origin: APP } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['access-control-allow-origin'], undefined, 'another project does not allow it');
        r = await api(G, 'GET', '/v1/database/collections', { key: p.pk, headers: { Origin: 'https://evil.example' } });
        assert.equal(r.headers['access-control-allow-origin'], undefined);

        // functions and GET /v1/project (the SDK's functions.invoke and getProject()): the same
        // model; a function's own Access-Control-* headers are dropped, the gateway's win
        const src = 'export default (req) => new Response("hi " + req.headers.get("x-custom"), ' +
          '{ headers: { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true", "x-fn": "1" } })';
        r = await httpRequest(`${G}/v1/projects/${p.id}/functions/corsfn`, { method: 'PUT',
          headers: { Authorization: `Bearer ${owner.access}`, 'Content-Type': 'application/javascript' }, body: src });
        assert.ok(r.status === 200 || r.status === 201, r.text);
        for (const path of ['/v1/functions/corsfn', '/v1/project']) {
          r = await preflight(APP, path);
          assert.equal(r.status, 204, path);
          assert.equal(r.headers['access-control-allow-origin'], APP, path);
          assert.match(r.headers['access-control-allow-methods'], /POST/);
          r = await preflight('https://evil.example', path);
          assert.equal(r.status, 403, path);
          assert.equal(r.headers['access-control-allow-origin'], undefined, path);
        }
        // a function may read any header its page sends: the asked ones are allowed (names only)
        r = await httpRequest(`${G}/v1/functions/corsfn`, { method: 'OPTIONS',
          headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-bunbase-client-key, x-custom' } });
        assert.equal(r.status, 204);
        assert.match(r.headers['access-control-allow-headers'], /x-custom/);
        r = await httpRequest(`${G}/v1/functions/corsfn`, { method: 'OPTIONS',
          headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-a, x-b:(1)' } });
        assert.equal(r.status, 204);
        assert.doesNotMatch(r.headers['access-control-allow-headers'], /x-b/);
        r = await api(G, 'POST', '/v1/functions/corsfn', { key: p.pk, headers: { Origin: APP, 'x-custom': 'there' } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.text, 'hi there');
        assert.equal(r.headers['x-fn'], '1');
        assert.equal(r.headers['access-control-allow-origin'], APP, 'one value: the gateway\'s, not the function\'s "*"');
        assert.equal(r.headers['access-control-allow-credentials'], undefined);
        r = await api(G, 'POST', '/v1/functions/corsfn', { key: p.pk, headers: { Origin: 'https://evil.example' } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['access-control-allow-origin'], undefined, 'the function\'s "*" does not widen the list');
        r = await api(G, 'GET', '/v1/project', { key: p.pk, headers: { Origin: APP } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.project.id, p.id);
        assert.equal(r.headers['access-control-allow-origin'], APP);
        assert.match(r.headers['access-control-expose-headers'], /X-Request-Id/i);
        r = await api(G, 'GET', '/v1/project', { key: p.pk, headers: { Origin: 'https://evil.example' } });
        assert.equal(r.headers['access-control-allow-origin'], undefined);
        r = await api(G, 'GET', '/v1/project', { key: q2.pk, headers: { Origin: APP } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['access-control-allow-origin'], undefined, 'another project does not allow it');
      });
    }

    if (setup.maxResponse) {
      test('an answer of a remote data service over BUNBASE_PLATFORM_GATEWAY_MAX_RESPONSE_BYTES is 502', async () => {
        const { G, p } = ctx;
        const big = 'x'.repeat(60000);
        for (let i = 0; i < 4; i++) {
          const r = await api(G, 'POST', '/v1/database/documents/big', { key: p.sk, body: { _id: `b${i}`, big } });
          assert.equal(r.status, 201, r.text);
        }
        let r = await api(G, 'GET', '/v1/database/documents/big/b0', { key: p.sk });
        assert.equal(r.status, 200);
        r = await api(G, 'GET', '/v1/database/documents/big?limit=10', { key: p.sk });
        assert.equal(r.status, 502, r.text.slice(0, 200));
        assert.equal(r.code, 'upstream_too_large');
      });
    }

    if (setup.kv) {
      test('KV: both forms, keys with / and spaces, binary keys and values; pk_ refused', async () => {
        const { G, p, owner, viewer } = ctx;
        const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const keys = ['a/b/c', 'has space', Buffer.from([0, 13, 10, 255])];
        for (const k of keys) {
          const r = await httpRequest(`${G}/v1/kv/${pct(k)}`, { method: 'PUT', headers: { 'X-Bunbase-Client-Key': p.sk }, body: bin });
          assert.equal(r.status, 200, `${k}: ${r.text}`);
        }
        for (const k of keys) {
          const r = await httpRequest(`${G}/v1/projects/${p.id}/kv/${pct(k)}`, { headers: { Authorization: `Bearer ${owner.access}` } });
          assert.equal(r.status, 200);
          assert.deepEqual([...r.body], [...bin]);
        }
        let r = await api(G, 'GET', '/v1/kv?pattern=*', { key: p.sk });
        assert.equal(r.status, 200, r.text);
        assert.ok(r.json.includes('a/b/c') && r.json.includes('has space'), r.text);
        r = await api(G, 'GET', `/v1/kv/${pct('has space')}`, { key: p.pk });
        assert.equal(r.status, 403, r.text);
        r = await api(G, 'GET', `/v1/projects/${p.id}/kv/${pct('has space')}`, { token: viewer.access });
        assert.equal(r.status, 200, r.text);
        r = await api(G, 'DELETE', `/v1/projects/${p.id}/kv/${pct('has space')}`, { token: viewer.access });
        assert.equal(r.status, 403, r.text);
        r = await api(G, 'DELETE', `/v1/kv/${pct('has space')}`, { key: p.sk });
        assert.equal(r.status, 200, r.text);
        r = await api(G, 'GET', `/v1/kv/${pct('has space')}`, { key: p.sk });
        assert.equal(r.status, 404, r.text);
        // another project does not see them
        r = await api(G, 'GET', `/v1/kv/${pct('a/b/c')}`, { key: ctx.q2.sk });
        assert.equal(r.status, 404, r.text);
      });

      test('KV incr and key metadata: both forms, read/write rights, errors with their status', async () => {
        const { G, p, owner, viewer, member } = ctx;
        const ck = pct('ctr/1 x');
        // incr: key-based with sk_, by default 1, {"by":n} after; the console form for a member
        let r = await api(G, 'POST', `/v1/kv/${ck}/incr`, { key: p.sk });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { value: 1 });
        r = await api(G, 'POST', `/v1/kv/${ck}/incr`, { key: p.sk, body: { by: 41 } });
        assert.deepEqual(r.json, { value: 42 }, r.text);
        r = await api(G, 'POST', `/v1/projects/${p.id}/kv/${ck}/incr`, { token: member.access, body: { by: -2 } });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { value: 40 });
        // incr is a write: a viewer and a pk_ are refused; meta is a read: a viewer may
        r = await api(G, 'POST', `/v1/projects/${p.id}/kv/${ck}/incr`, { token: viewer.access });
        assert.equal(r.status, 403, r.text);
        r = await api(G, 'POST', `/v1/kv/${ck}/incr`, { key: p.pk });
        assert.equal(r.status, 403, r.text);
        r = await httpRequest(`${G}/v1/kv/${ck}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
        assert.equal(r.text, '40');
        // errors: not an integer (Redis' text), overflow, a bad body
        await httpRequest(`${G}/v1/kv/word`, { method: 'PUT', headers: { 'X-Bunbase-Client-Key': p.sk }, body: 'abc' });
        r = await api(G, 'POST', '/v1/kv/word/incr', { key: p.sk });
        assert.equal(r.status, 409, r.text);
        assert.equal(r.code, 'not_integer');
        assert.match(r.json.error.message || r.json.message || r.text, /value is not an integer or out of range/);
        await httpRequest(`${G}/v1/kv/max`, { method: 'PUT', headers: { 'X-Bunbase-Client-Key': p.sk }, body: '9223372036854775807' });
        r = await api(G, 'POST', '/v1/kv/max/incr', { key: p.sk });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.code, 'overflow');
        for (const body of ['{"by":1.5}', '{"by":"2"}', '[1]', 'nope']) {
          r = await httpRequest(`${G}/v1/kv/${ck}/incr`, { method: 'POST', headers: { 'X-Bunbase-Client-Key': p.sk, 'Content-Type': 'application/json' }, body });
          assert.equal(r.status, 400, `${body}: ${r.text}`);
        }
        r = await httpRequest(`${G}/v1/kv/${ck}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });
        assert.equal(r.text, '40', 'refused increments changed nothing');
        // metadata of one key: type, ttl_ms (null without expiry), 404 when missing
        await httpRequest(`${G}/v1/kv/temp?ttl=100`, { method: 'PUT', headers: { 'X-Bunbase-Client-Key': p.sk }, body: 't' });
        r = await api(G, 'GET', `/v1/kv/${ck}?meta=1`, { key: p.sk });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { key: 'ctr/1 x', type: 'string', ttl_ms: null });
        r = await api(G, 'GET', `/v1/projects/${p.id}/kv/temp?meta=1`, { token: viewer.access });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.type, 'string');
        assert.ok(r.json.ttl_ms > 90000 && r.json.ttl_ms <= 100000, r.text);
        r = await api(G, 'GET', '/v1/kv/missing?meta=1', { key: p.sk });
        assert.equal(r.status, 404, r.text);
        r = await api(G, 'GET', '/v1/kv/temp?meta=1', { key: p.pk });
        assert.equal(r.status, 403, r.text);
        // the listing with metadata, bounded by the pattern
        r = await api(G, 'GET', `/v1/kv?pattern=${pct('t*')}&meta=1`, { key: p.sk });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.length, 1, r.text);
        assert.equal(r.json[0].key, 'temp');
        assert.equal(r.json[0].type, 'string');
        assert.ok(r.json[0].ttl_ms > 90000, r.text);
        r = await api(G, 'GET', `/v1/projects/${p.id}/kv?pattern=${pct('ctr*')}&meta=1`, { token: owner.access });
        assert.deepEqual(r.json, [{ key: 'ctr/1 x', type: 'string', ttl_ms: null }]);
        // the plain listing is unchanged
        r = await api(G, 'GET', `/v1/kv?pattern=${pct('ctr*')}`, { key: p.sk });
        assert.deepEqual(r.json, ['ctr/1 x']);
      });
    }
  });
}

async function people(G) {
  const owner = await newUser(G, 'gwowner');
  const viewer = await newUser(G, 'gwviewer');
  const member = await newUser(G, 'gwmember');
  const outsider = await newUser(G, 'gwout');
  const p = await newProject(G, owner.access, 'Gateway');
  const q = await newProject(G, owner.access, 'Other');
  const q2 = await newProject(G, owner.access, 'Third');
  await addMember(G, owner.access, p.id, viewer.email, 'viewer');
  await addMember(G, owner.access, p.id, member.email, 'member');
  return { owner, viewer, member, outsider, p, q, q2 };
}

const inProcess = async () => {
  const a = await startServer({ env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_PLATFORM_GATEWAY_CORS_MAX_ORIGINS: '3' } });
  return { servers: [a], G: a.url, ...(await people(a.url)) };
};
inProcess.kv = true;
inProcess.realtime = true;
inProcess.cors = true;
documentsSuite('gateway, bundoc-server in the same process', inProcess);

const remote = async () => {
  const addrs = { BUNBASE_BUNDOC_SERVER_ADDR: `127.0.0.1:${await freePort()}`,
    BUNBASE_BUNDER_MANAGER_ADDR: `127.0.0.1:${await freePort()}` };
  const docs = await startServer({ services: 'bundoc-server,bunder-manager',
    env: { BUNBASE_INTERNAL_TOKEN: TOKEN, ...addrs, BUNBASE_LOG_LEVEL: 'info' } });
  const gw = await startServer({ services: 'bun-auth,platform',
    env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, ...addrs, BUNBASE_PLATFORM_GATEWAY_MAX_RESPONSE_BYTES: '200000' } });
  return { servers: [docs, gw], G: gw.url, downstream: docs.url, downstreamLog: () => docs.stderr() + docs.stdout(), ...(await people(gw.url)) };
};
remote.realtime = true; // the SSE stream proxied with libcurl
remote.kv = true;
remote.maxResponse = 200000;
documentsSuite('gateway, bundoc-server in a second bunbased (HTTP)', remote);

test('a data service that is not there: 502 when its address does not answer, 503 when it has none', async () => {
  // an address that never answers: held by this test (so no other process of the parallel suite
  // can take the port, as a merely free port could be) and closing every connection at once
  const dead = net.createServer((sock) => sock.destroy());
  await new Promise((r) => dead.listen(0, '127.0.0.1', r));
  const closed = `127.0.0.1:${dead.address().port}`;
  const gw = await startServer({ services: 'bun-auth,platform',
    env: { ...FAST_ENV, BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_BUNDOC_SERVER_ADDR: closed } });
  try {
    const owner = await newUser(gw.url, 'gwdown');
    const p = await newProject(gw.url, owner.access, 'Down');
    let r = await api(gw.url, 'GET', '/v1/database/collections', { key: p.sk });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.code, 'upstream_unavailable');
    r = await api(gw.url, 'GET', `/v1/database/collections/x/subscribe?key=${p.pk}`);
    assert.equal(r.status, 502, r.text);
    r = await api(gw.url, 'GET', '/v1/kv/k', { key: p.sk });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.code, 'service_unavailable');
    // the gateway itself is fine
    assert.equal((await api(gw.url, 'GET', '/v1/auth/me', { token: owner.access })).status, 200);
  } finally {
    await gw.stop();
    dead.close();
  }
});
