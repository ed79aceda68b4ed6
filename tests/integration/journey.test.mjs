// The developer's journey over real HTTP, as the platform issue states it: register → create a
// project → create a collection with a rule → insert with sk_ → read with pk_ under the rule → a
// realtime event arrives on the gateway's SSE → KV set/get through the gateway and through
// redis-cli with AUTH <project> <sk_> → revoke the key → both refuse.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';

import { sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject } from './platform_lib.mjs';

let srv, G, resp;
before(async () => {
  srv = await startServer({ env: { ...FAST_ENV, BUNBASE_LOG_LEVEL: 'info' } });
  G = srv.url;
  resp = Number(/msg="ready" resp_port=(\d+)/.exec(srv.stderr())[1]);
});
after(async () => { if (srv) await srv.stop(); });

function redis(...lines) {
  return execFileSync('redis-cli', ['-p', String(resp)], {
    input: `${lines.join('\n')}\n`, encoding: 'utf8', timeout: 20000,
  }).trim().split('\n');
}

/** Opens an SSE stream and collects its text until close() or the timeout. */
function openStream(url) {
  let text = '';
  let req;
  const head = new Promise((resolve, reject) => {
    req = http.get(url, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      resolve(res.statusCode);
    });
    req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
  });
  return { head, text: () => text, close: () => req.destroy() };
}

test('register → project → rule → sk_ write → pk_ read → realtime → KV (HTTP and redis-cli) → revoke', async () => {
  // register (the response and the session work), then log in for a token
  let r = await api(G, 'POST', '/v1/auth/register', { body: { email: 'journey@example.com', password: 'correct-horse-battery', name: 'J' } });
  assert.equal(r.status, 201, r.text);
  r = await api(G, 'POST', '/v1/auth/login', { body: { email: 'journey@example.com', password: 'correct-horse-battery' } });
  assert.equal(r.status, 200, r.text);
  const token = r.json.access_token;
  // create a project: it comes with pk_ and sk_
  const p = await newProject(G, token, 'Journey');
  assert.ok(p.pk.startsWith('pk_') && p.sk.startsWith('sk_'));
  // a collection with a rule: anyone may read published posts
  r = await api(G, 'POST', '/v1/database/collections', { key: p.sk, body: { name: 'posts', rules: { read: 'resource.data.published == true' } } });
  assert.equal(r.status, 201, r.text);
  // realtime first: a browser-style subscription with the publishable key in the URL
  const sub = openStream(`${G}/v1/database/collections/posts/subscribe?key=${p.pk}`);
  assert.equal(await sub.head, 200);
  // insert with sk_
  r = await api(G, 'POST', '/v1/database/documents/posts', { key: p.sk, body: { _id: 'a', title: 'Hello', published: true } });
  assert.equal(r.status, 201, r.text);
  r = await api(G, 'POST', '/v1/database/documents/posts', { key: p.sk, body: { _id: 'draft', title: 'Not yet', published: false } });
  assert.equal(r.status, 201, r.text);
  // read with pk_ under the rule
  r = await api(G, 'GET', '/v1/database/documents/posts/a', { key: p.pk });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.title, 'Hello');
  r = await api(G, 'GET', '/v1/database/documents/posts/draft', { key: p.pk });
  assert.equal(r.status, 403, r.text);
  // the realtime event arrived on the gateway's stream (and the draft, which pk_ may not read, not)
  for (let i = 0; i < 100 && !/"docId":"a"/.test(sub.text()); i++) await sleep(50);
  sub.close();
  assert.match(sub.text(), /event: added/);
  assert.match(sub.text(), /"docId":"a"/);
  assert.doesNotMatch(sub.text(), /"docId":"draft"/);
  // KV through the gateway ...
  r = await api(G, 'PUT', '/v1/kv/visits', { key: p.sk, body: '41' });
  assert.equal(r.status, 200, r.text);
  r = await api(G, 'GET', '/v1/kv/visits', { key: p.sk });
  assert.equal(r.text, '41');
  // ... and through redis-cli with AUTH <project> <sk_> (the same store)
  assert.deepEqual(redis(`AUTH ${p.id} ${p.sk}`, 'INCR visits', 'GET visits'), ['OK', '42', '42']);
  r = await api(G, 'GET', '/v1/kv/visits', { key: p.sk });
  assert.equal(r.text, '42');
  // revoke the secret key: both the gateway and the Redis endpoint refuse it
  r = await api(G, 'DELETE', `/v1/projects/${p.id}/keys/${p.skId}`, { token });
  assert.equal(r.status, 200, r.text);
  r = await api(G, 'GET', '/v1/kv/visits', { key: p.sk });
  assert.equal(r.status, 401, r.text);
  r = await api(G, 'POST', '/v1/database/documents/posts', { key: p.sk, body: { _id: 'b', published: true } });
  assert.equal(r.status, 401, r.text);
  const out = redis(`AUTH ${p.id} ${p.sk}`, 'GET visits');
  assert.match(out[0], /WRONGPASS|ERR/);
});
