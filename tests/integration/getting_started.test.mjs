// docs/getting-started.md, run as written: every ```sh block, in order, in one bash (set -euo
// pipefail) against a real bunbased, with only BUNBASE_URL and REDIS_PORT set to the test server's
// (the page itself reads them). If a command of the page stops working, this test fails.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { BUNBASE, SOURCE_DIR, makeTempDir, runCommand, startServer } from './harness.mjs';

let srv;
let redisPort;
before(async () => {
  srv = await startServer({ env: { BUNBASE_LOG_LEVEL: 'info' } });
  redisPort = /msg="ready" resp_port=(\d+)/.exec(srv.stderr())[1]; // the page's REDIS_PORT
});
after(async () => { if (srv) await srv.stop(); });

/** The ```sh blocks of a markdown file, in order. */
export function shellBlocks(md) {
  const out = [];
  const re = /^```sh\n([\s\S]*?)^```$/gm;
  let m;
  while ((m = re.exec(md))) out.push(m[1]);
  return out;
}

test('every command of docs/getting-started.md works as shown', async () => {
  const md = fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'getting-started.md'), 'utf8');
  const blocks = shellBlocks(md);
  assert.ok(blocks.length >= 6, `found ${blocks.length} sh blocks`);
  const cwd = makeTempDir('bb-gs-');
  const script = `set -euo pipefail\ncd ${JSON.stringify(cwd)}\n${blocks.join('\n')}`;
  const r = await runCommand('bash', ['-c', script], { env: { BUNBASE_URL: srv.url, REDIS_PORT: redisPort, XDG_CONFIG_HOME: cwd, BUNBASE_SRC: SOURCE_DIR, PATH: `${path.dirname(BUNBASE)}:${process.env.PATH}` }, timeoutMs: 60000 });
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const lines = r.stdout.split('\n');
  for (const want of ['cloud', 'ada@example.com', 'posts', 'Hello, BunBase', '403', 'hello world']) {
    assert.ok(lines.includes(want), `"${want}" is a line of the output:\n${r.stdout}`);
  }
  assert.match(r.stdout, /^project [0-9A-Z]{26}$/m);
  assert.match(r.stdout, /"_id":"hello"/);
  assert.match(r.stdout, /^event: added$/m);
  assert.match(r.stdout, /"docId":"live"/);
  assert.match(r.stdout, /\["greeting\/en"\]/);
  // redis-cli with AUTH <project> <sk_>: the value written over HTTP, then INCR
  assert.ok(lines.filter((l) => l === 'hello world').length >= 2, 'redis-cli reads the HTTP value');
  assert.ok(lines.includes('42'), 'INCR through redis-cli');
  // §8: an app user signs up with the pk_ and reads only their own documents
  for (const want of ['{"enabled":true}', 'diary', 'grace@example.com', 'd1', 'Found a moth in the relay', 'alan: 403', 'key alone: 403',
    'hello: version 1', 'Hello, Ada!', '[info] greeting Ada']) {
    assert.ok(lines.includes(want), `"${want}" is a line of the output:\n${r.stdout}`);
  }
  // the CLI section: the same journey with build/bunbase (on PATH, its config in the temp dir)
  assert.match(r.stdout, /^Logged in to .* as ada@example\.com/m);
  assert.match(r.stdout, /^n1\s+from the CLI\s+5\s*$/m, 'db query prints the matching document');
  assert.ok(lines.filter((l) => l === 'ada').length >= 2, 'kv get and redis-cli read the CLI value');
  assert.ok(lines.includes('exit 3'), 'a missing document exits 3');
  // §9 with the CLI: init → deploy → invoke → logs (one version: rollback conflicts, exit 4)
  assert.match(r.stdout, /^Deployed greeter: version 1 \(quickjs, \d+ bytes\), active\.$/m);
  assert.ok(lines.includes('Hello, CLI!'), 'functions invoke prints the answer');
  assert.match(r.stdout, /^ {2}\[info\] greeting CLI$/m, 'functions logs shows the console output');
  assert.ok(lines.includes('exit 4'), 'no version to roll back to exits 4');
  // §10: the same with bunbase-js (sdk/js installed from the checkout): live event, query, function
  for (const want of ['live: added d2', 'Found a moth in the relay | Written with bunbase-js', 'Hello, SDK!']) {
    assert.ok(lines.includes(want), `"${want}" is a line of the output:\n${r.stdout}`);
  }
});
