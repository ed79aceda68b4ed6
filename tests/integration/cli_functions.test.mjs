// The bunbase CLI's functions and auth commands (build/bunbase) against a live bunbased:
// init → deploy → invoke → logs → versions → rollback → delete with the QuickJS template;
// TypeScript entries bundled with bun (imports included) on both runtimes; bun's and the
// server's errors with their exit codes; `logs -f` following new invocations and ending cleanly
// on SIGINT; invoke's --json schema and a failing function's exit code; the project's end users
// and sign-in config (`auth users …`, `auth config …`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { SOURCE_DIR, makeTempDir, sleep, startServer } from './harness.mjs';
import { cliRun, ok } from './cli_lib.mjs';
import { FAST_ENV, PASSWORD, api, newUser } from './platform_lib.mjs';

const BUN = path.join(SOURCE_DIR, 'src/functions/bun/node_modules/@oven/bun-linux-x64/bin/bun');

let srv;
let cfg; // one logged-in CLI with a project of its own
let pid;
const cli = (args, opts) => cliRun(srv.url, cfg, args, opts);

before(async () => {
  srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_TIMEOUT_MS: '3000' } });
  const ada = await newUser(srv.url, 'clifn');
  cfg = makeTempDir('cli-fn-');
  ok(await cli(['login', '--email', ada.email, '--password-stdin'], { input: `${PASSWORD}\n` }), 'login');
  const r = await cli(['projects', 'create', 'Fn App', '--json']);
  ok(r, 'projects create');
  pid = r.json.id;
});
after(async () => { if (srv) await srv.stop(); });

describe('bunbase functions', () => {
  test('init → deploy → invoke → logs → versions → rollback → delete', async () => {
    const dir = path.join(cfg, 'hello');
    let r = await cli(['functions', 'init', dir, '--json']);
    ok(r, 'init');
    assert.deepEqual(r.json, { ok: true, dir, name: 'hello', runtime: 'quickjs', files: ['index.js', 'bunbase.json'] });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'bunbase.json'), 'utf8')), { name: 'hello', runtime: 'quickjs', entry: 'index.js' });
    r = await cli(['functions', 'init', dir]);
    assert.equal(r.code, 4, 'init does not overwrite');

    r = await cli(['functions', 'deploy', dir, '--json']);
    ok(r, 'deploy');
    assert.equal(r.json.name, 'hello');
    assert.equal(r.json.version, 1);
    assert.equal(r.json.runtime, 'quickjs');
    assert.equal(r.json.bundled, false);
    assert.equal(r.json.active, true);
    assert.equal(r.json.size, fs.statSync(path.join(dir, 'index.js')).size, 'plain JS is sent as it is');

    r = await cli(['functions', 'invoke', 'hello', '--data', '{"name":"Ada"}']);
    ok(r, 'invoke --data');
    assert.deepEqual(JSON.parse(r.stdout), { message: 'Hello, Ada!' });
    r = await cli(['functions', 'invoke', 'hello'], { input: '{"name":"Grace"}' });
    ok(r, 'invoke from stdin');
    assert.equal(JSON.parse(r.stdout).message, 'Hello, Grace!');
    fs.writeFileSync(path.join(cfg, 'body.json'), '{"name":"Alan"}');
    r = await cli(['functions', 'invoke', 'hello', '-f', path.join(cfg, 'body.json'), '--json']);
    ok(r, 'invoke -f --json');
    assert.deepEqual(Object.keys(r.json).sort(), ['body', 'headers', 'status']);
    assert.equal(r.json.status, 200);
    assert.match(r.json.headers['content-type'], /application\/json/);
    assert.ok(r.json.headers['x-invocation-id'], 'headers are lower-cased names');
    assert.equal(JSON.parse(r.json.body).message, 'Hello, Alan!');
    r = await cli(['functions', 'invoke', 'hello']);
    ok(r, 'invoke without a body is a GET');
    assert.equal(JSON.parse(r.stdout).message, 'Hello, world!');

    r = await cli(['functions', 'logs', 'hello', '--limit', '2']);
    ok(r, 'logs');
    const entries = r.stdout.split('\n').filter((l) => /^\d{4}-/.test(l));
    assert.equal(entries.length, 2, r.stdout);
    assert.match(entries[0], /^\S+Z {2}\S+ {2}v1 {2}200 {2}\d+ ms/);
    assert.match(r.stdout, /^ {2}\[info\] greeting Alan$/m);
    assert.ok(r.stdout.indexOf('greeting Alan') < r.stdout.indexOf('greeting world'), 'oldest first');
    r = await cli(['functions', 'logs', 'hello', '--json']);
    ok(r, 'logs --json');
    assert.equal(r.json.name, 'hello');
    assert.equal(r.json.invocations.length, 4);

    // a second version, rollback to the first, forward again with --to
    fs.writeFileSync(path.join(dir, 'index.js'), 'export default () => new Response("v2 here");\n');
    r = await cli(['functions', 'deploy', dir]);
    ok(r, 'deploy v2');
    assert.match(r.stdout, /^Deployed hello: version 2 \(quickjs, \d+ bytes\), active\.$/m);
    r = await cli(['functions', 'invoke', 'hello']);
    assert.equal(r.stdout, 'v2 here');
    r = await cli(['functions', 'versions', 'hello', '--json']);
    ok(r, 'versions');
    assert.equal(r.json.active_version, 2);
    assert.deepEqual(r.json.versions.map((v) => v.version), [2, 1]);
    r = await cli(['functions', 'versions', 'hello']);
    assert.match(r.stdout, /^ACTIVE\s+VERSION\s+SIZE\s+SHA256\s+CREATED$/m);
    assert.match(r.stdout, /^\*\s+2\s+\d+\s+[0-9a-f]{12}\s+\d{4}-/m);
    r = await cli(['functions', 'rollback', 'hello']);
    ok(r, 'rollback');
    assert.equal(r.stdout, 'hello: version 1 is active.\n');
    assert.equal(JSON.parse((await cli(['functions', 'invoke', 'hello'])).stdout).message, 'Hello, world!');
    r = await cli(['functions', 'rollback', 'hello']);
    assert.equal(r.code, 4, `no version before 1: ${r.stderr}`);
    assert.match(r.stderr, /no_previous_version/);
    r = await cli(['functions', 'rollback', 'hello', '--to', '2', '--json']);
    ok(r, 'rollback --to');
    assert.equal(r.json.active_version, 2);
    r = await cli(['functions', 'rollback', 'hello', '--to', '9']);
    assert.equal(r.code, 3, 'no version 9');

    r = await cli(['functions', 'list']);
    ok(r, 'list');
    assert.match(r.stdout, /^NAME\s+ACTIVE\s+RUNTIME\s+SIZE\s+VERSIONS\s+UPDATED$/m);
    assert.match(r.stdout, /^hello\s+2\s+quickjs\s+\d+\s+2\s+\d{4}-/m);
    r = await cli(['functions', 'list', '--json']);
    assert.deepEqual(r.json.functions.map((f) => f.name), ['hello']);

    r = await cli(['functions', 'delete', 'hello']);
    assert.equal(r.code, 1, 'delete needs --yes');
    r = await cli(['functions', 'delete', 'hello', '--yes', '--json']);
    ok(r, 'delete');
    assert.deepEqual(r.json, { ok: true, deleted: 'hello' });
    r = await cli(['functions', 'invoke', 'hello', '--data', '{}']);
    assert.equal(r.code, 3, `invoke of a deleted function: ${r.stderr}`);
    assert.match(r.stderr, /function_not_found/);
    r = await cli(['functions', 'deploy', path.join(cfg, 'nope')]);
    assert.equal(r.code, 3, 'no such directory');
  });

  test('a failing function: its answer on stdout, the exit code of its status; bad code is refused', async () => {
    const dir = makeTempDir('cli-fn-bad-');
    fs.writeFileSync(path.join(dir, 'index.js'), 'export default (req) => { if (req.method === "POST") throw new Error("boom"); return new Response("teapot", { status: 418, headers: { "x-a": "1" } }); };\n');
    let r = await cli(['functions', 'deploy', dir, '--name', 'thrower']);
    ok(r, 'deploy --name (no bunbase.json)');
    r = await cli(['functions', 'invoke', 'thrower', '--data', 'x']);
    assert.equal(r.code, 5, 'a 500 exits 5');
    assert.match(r.stdout, /boom/);
    assert.match(r.stderr, /thrower answered HTTP 500/);
    r = await cli(['functions', 'invoke', 'thrower', '-X', 'PUT', '-H', 'X-Test: 1', '--json']);
    assert.equal(r.code, 1, 'a 418 exits 1');
    assert.equal(r.json.status, 418);
    assert.equal(r.json.body, 'teapot');
    assert.equal(r.json.headers['x-a'], '1');
    r = await cli(['functions', 'invoke', 'thrower', '-H', 'no colon']);
    assert.equal(r.code, 1);
    r = await cli(['functions', 'invoke', 'thrower', '-H', 'authorization: Bearer x']);
    assert.equal(r.code, 1, 'no second credential');
    assert.match(r.stderr, /credential is the profile's/);

    fs.writeFileSync(path.join(dir, 'index.js'), 'export default {{\n');
    r = await cli(['functions', 'deploy', dir, '--name', 'thrower', '--json']);
    assert.equal(r.code, 1, 'invalid_bundle is a 400');
    assert.equal(r.json.error.code, 'invalid_bundle');
  });

  test('TypeScript is bundled with bun (imports included), on QuickJS and on Bun', { skip: !fs.existsSync(BUN) && 'bun is not installed (scripts/setup.sh)' }, async () => {
    const q = path.join(makeTempDir('cli-fn-ts-'), 'tsq');
    let r = await cli(['functions', 'init', q, '--typescript']);
    ok(r, 'init --typescript');
    fs.writeFileSync(path.join(q, 'greet.ts'), 'export const greet = (n: string): string => `Hi ${n}`;\n');
    fs.writeFileSync(path.join(q, 'index.ts'), 'import { greet } from "./greet";\nexport default { fetch: (r: Request): Response => Response.json({ m: greet("TS"), bun: "Bun" in globalThis }) };\n');
    r = await cli(['functions', 'deploy', q, '--json']);
    ok(r, 'deploy TypeScript on QuickJS');
    assert.equal(r.json.bundled, true);
    assert.equal(r.json.runtime, 'quickjs');
    r = await cli(['functions', 'invoke', 'tsq']);
    ok(r, 'invoke tsq');
    assert.deepEqual(JSON.parse(r.stdout), { m: 'Hi TS', bun: false });

    const b = path.join(makeTempDir('cli-fn-bun-'), 'bunfn');
    r = await cli(['functions', 'init', b, '--runtime', 'bun']);
    ok(r, 'init --runtime bun');
    assert.ok(fs.existsSync(path.join(b, 'index.ts')));
    r = await cli(['functions', 'deploy'], { cwd: b });
    ok(r, 'deploy the Bun template from its directory');
    assert.match(r.stdout, /^Deployed bunfn: version 1 \(bun, \d+ bytes, bundled with bun\), active\.$/m);
    r = await cli(['functions', 'invoke', 'bunfn', '--data', '{"name":"Bun"}']);
    ok(r, 'invoke bunfn');
    assert.deepEqual(JSON.parse(r.stdout), { message: 'Hello, Bun!', runtime: 'bun' });

    // bun's message when bundling fails; bun missing is said so
    fs.writeFileSync(path.join(b, 'index.ts'), 'import { x } from "./missing";\nexport default () => new Response(x);\n');
    r = await cli(['functions', 'deploy', b]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing/);
    assert.match(r.stderr, /bun build .* failed/);
    r = await cli(['functions', 'deploy', b], { env: { BUNBASE_CLI_BUN_PATH: '/nonexistent/bun' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bun was not found/);
  });

  test('logs -f prints new invocations as they happen and exits 0 on SIGINT', async () => {
    const dir = path.join(makeTempDir('cli-fn-f-'), 'tail');
    ok(await cli(['functions', 'init', dir]), 'init');
    ok(await cli(['functions', 'deploy', dir]), 'deploy');
    ok(await cli(['functions', 'invoke', 'tail', '--data', '{"name":"before"}']), 'invoke');
    let child;
    let out;
    const done = cli(['functions', 'logs', 'tail', '-f', '--limit', '1'], {
      input: null,
      env: { BUNBASE_CLI_FOLLOW_MS: '200' },
      onSpawn: (p, stdout) => { child = p; out = stdout; },
    });
    const waitFor = async (re) => {
      for (let i = 0; i < 100 && !re.test(out()); i++) await sleep(100);
      assert.match(out(), re);
    };
    await waitFor(/greeting before/);
    ok(await cli(['functions', 'invoke', 'tail', '--data', '{"name":"during"}']), 'invoke while following');
    await waitFor(/greeting during/);
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}: ${r.stderr}`);
    assert.equal(r.stdout.match(/greeting/g).length, 2, 'each invocation once');
  });
});

describe('bunbase auth', () => {
  test('users list/create/get/disable/enable/delete and config get/set', async () => {
    let r = await cli(['auth', 'config', 'set', '{"providers":{"email_password":{"enabled":true}}}', '--json']);
    ok(r, 'auth config set');
    assert.equal(r.json.providers.email_password.enabled, true);
    r = await cli(['auth', 'config', 'get', '--json']);
    ok(r, 'auth config get');
    assert.equal(r.json.providers.email_password.enabled, true);
    r = await cli(['auth', 'config', 'set', '[1]']);
    assert.equal(r.code, 1, 'the config is an object');

    r = await cli(['auth', 'users', 'create', 'grace@example.com', '--name', 'Grace', '--password-stdin', '--json'], { input: 'hopper-1906-cobol\n' });
    ok(r, 'users create');
    const uid = r.json.id;
    assert.equal(r.json.email, 'grace@example.com');
    assert.ok(!r.stdout.includes('hopper'), 'the password is not echoed');
    r = await cli(['auth', 'users', 'create', 'grace@example.com']);
    assert.equal(r.code, 4, 'email taken');
    r = await cli(['auth', 'users', 'list']);
    ok(r, 'users list');
    assert.match(r.stdout, /^ID\s+EMAIL\s+NAME\s+VERIFIED\s+DISABLED\s+CREATED$/m);
    assert.match(r.stdout, new RegExp(`^${uid}\\s+grace@example\\.com\\s+Grace\\s+false\\s+false\\s`, 'm'));
    r = await cli(['auth', 'users', 'list', '--json']);
    assert.deepEqual(r.json.users.map((u) => u.id), [uid]);

    const pk = (await cli(['keys', 'regenerate', 'pk'])).stdout.trim();
    const login = () => api(srv.url, 'POST', '/v1/auth/project/login', { key: pk, body: { email: 'grace@example.com', password: 'hopper-1906-cobol' } });
    assert.equal((await login()).status, 200, 'the user signs in with the password given on stdin');
    r = await cli(['auth', 'users', 'disable', uid, '--json']);
    ok(r, 'disable');
    assert.deepEqual(r.json, { ok: true, user: uid, action: 'disabled' });
    assert.equal((await login()).status, 403);
    r = await cli(['auth', 'users', 'get', uid, '--json']);
    assert.equal(r.json.disabled, true);
    ok(await cli(['auth', 'users', 'enable', uid]), 'enable');
    assert.equal((await login()).status, 200);
    ok(await cli(['auth', 'users', 'delete', uid]), 'delete');
    r = await cli(['auth', 'users', 'get', uid]);
    assert.equal(r.code, 3, 'deleted');
    assert.equal(pid.length, 26);
  });
});
