// The Redis endpoint takes the platform's project keys: AUTH <projectId> <sk_…> opens the
// project's KV (redis-cli, a real client), a publishable key or another project's secret key does
// not, and a revoked key stops opening connections at once.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';

let srv, resp;
before(async () => {
  srv = await startServer({ env: { ...FAST_ENV, BUNBASE_LOG_LEVEL: 'info' } });
  const m = /msg="ready" resp_port=(\d+)/.exec(srv.stderr());
  assert.ok(m, 'bunder-manager logs its RESP port');
  resp = Number(m[1]);
});
after(async () => { if (srv) await srv.stop(); });

// redis-cli with the credentials on stdin (never on its command line): AUTH then the commands.
function redis(...lines) {
  const out = execFileSync('redis-cli', ['-p', String(resp), '--no-raw'], {
    input: `${lines.join('\n')}\n`, encoding: 'utf8', timeout: 20000,
  });
  return out.trim().split('\n');
}

test('AUTH <project> <sk_> opens the project; pk_, other projects and revoked keys do not', async () => {
  const u = await newUser(srv.url, 'kvkeys');
  const p = await newProject(srv.url, u.access, 'KV one');
  const q = await newProject(srv.url, u.access, 'KV two');
  let out = redis(`AUTH ${p.id} ${p.sk}`, 'SET greeting hello', 'GET greeting');
  assert.deepEqual(out, ['OK', 'OK', '"hello"']);
  // the other project's secret key does not open this project; its own key sees its own data only
  out = redis(`AUTH ${p.id} ${q.sk}`, 'GET greeting');
  assert.match(out[0], /^\(error\) WRONGPASS|^\(error\) ERR/);
  out = redis(`AUTH ${q.id} ${q.sk}`, 'GET greeting');
  assert.deepEqual(out, ['OK', '(nil)']);
  // a publishable key never opens KV
  out = redis(`AUTH ${p.id} ${p.pk}`, 'GET greeting');
  assert.match(out[0], /^\(error\)/);
  // revoke the secret key: new connections are refused at once
  const r = await api(srv.url, 'DELETE', `/v1/projects/${p.id}/keys/${p.skId}`, { token: u.access });
  assert.equal(r.status, 200, r.text);
  out = redis(`AUTH ${p.id} ${p.sk}`, 'GET greeting');
  assert.match(out[0], /^\(error\)/);
});
