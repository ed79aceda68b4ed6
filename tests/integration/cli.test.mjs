// The bunbase CLI (build/bunbase) against a live bunbased with PostgreSQL: the developer's whole
// journey, the --json schemas of docs/cli.md, one exit code per class, the config file's mode,
// profiles, the serialized refresh of an expired access token, --help and completion generated
// from the command table, and an interactive login in tmux whose password is never echoed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { BUNBASE, freePort, makeTempDir, sleep, startServer } from './harness.mjs';
import { configOf, ok, cliRun } from './cli_lib.mjs';
import { FAST_ENV, PASSWORD, api, newUser } from './platform_lib.mjs';

let srv;
let respPort;
let ada; // {email, ...} registered through the API (the CLI has no sign-up)
before(async () => {
  srv = await startServer({ env: { ...FAST_ENV, BUNBASE_LOG_LEVEL: 'info' } });
  respPort = Number(/msg="ready" resp_port=(\d+)/.exec(srv.stderr())[1]);
  ada = await newUser(srv.url, 'cli-ada');
});
after(async () => { if (srv) await srv.stop(); });

/** Runs the CLI with its config under cfg (XDG_CONFIG_HOME); input goes to its stdin. */
const cli = (cfg, args, opts) => cliRun(srv.url, cfg, args, opts);

async function loggedIn(tag = 'cli-') {
  const cfg = makeTempDir(tag);
  const r = await cli(cfg, ['login', '--email', ada.email, '--password-stdin'], { input: `${PASSWORD}\n` });
  ok(r, 'login');
  return cfg;
}

describe('bunbase CLI', () => {
  test('the journey: login, project, keys, documents, export/import, kv, redis-cli, logout', async () => {
    const cfg = makeTempDir('cli-j-');
    let r = await cli(cfg, ['login', '--email', ada.email, '--password-stdin', '--json'], { input: `${PASSWORD}\n` });
    ok(r, 'login');
    assert.deepEqual(Object.keys(r.json).sort(), ['auth', 'ok', 'profile', 'url', 'user']);
    assert.equal(r.json.user.email, ada.email);
    assert.equal(r.json.auth, 'session');
    // the config: 0600 in a 0700 directory, the password nowhere in it
    const st = fs.statSync(path.join(cfg, 'bunbase', 'config.json'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(cfg, 'bunbase')).mode & 0o777, 0o700);
    assert.ok(!fs.readFileSync(path.join(cfg, 'bunbase', 'config.json'), 'utf8').includes(PASSWORD));
    const access = configOf(cfg).profiles.default.auth.access_token;

    r = await cli(cfg, ['whoami', '--json']);
    ok(r, 'whoami');
    assert.equal(r.json.user.email, ada.email);
    assert.equal(r.json.profile, 'default');

    r = await cli(cfg, ['projects', 'create', 'CLI App', '--json']);
    ok(r, 'projects create');
    const pid = r.json.id;
    assert.match(pid, /^[0-9A-Z]{26}$/);
    assert.deepEqual(r.json.keys.map((k) => k.kind).sort(), ['pk', 'sk']);
    assert.equal(configOf(cfg).profiles.default.project, pid, 'created project is the default');

    r = await cli(cfg, ['projects', 'list']);
    ok(r, 'projects list');
    assert.match(r.stdout, /^DEFAULT\s+ID\s+NAME\s+SLUG\s+ROLE\s+CREATED$/m);
    assert.match(r.stdout, new RegExp(`^\\*\\s+${pid}\\s+CLI App\\s+\\S+\\s+owner\\s`, 'm'));

    r = await cli(cfg, ['keys', 'list', '--json']);
    ok(r, 'keys list');
    assert.equal(r.json.length, 2);
    for (const k of r.json) assert.ok(!('key' in k), 'values are never listed');
    r = await cli(cfg, ['keys', 'regenerate', 'sk']);
    ok(r, 'keys regenerate');
    const sk = r.stdout.trim();
    assert.match(sk, /^sk_/);
    assert.match(r.stderr, /only time it is shown/);
    assert.equal((await api(srv.url, 'GET', '/v1/project', { key: sk })).status, 200, 'the new sk_ works');

    // documents
    r = await cli(cfg, ['db', 'put', 'posts', 'p1', '--data', '{"title":"one","n":1}', '--json']);
    ok(r, 'db put (create)');
    assert.deepEqual(r.json, { _id: 'p1', title: 'one', n: 1 });
    r = await cli(cfg, ['db', 'put', 'posts', 'p2', '--json'], { input: '{"title":"two","n":2}' });
    ok(r, 'db put from stdin');
    r = await cli(cfg, ['db', 'put', 'posts', 'p1', '--data', '{"title":"uno","n":1}', '--json']);
    ok(r, 'db put (replace)');
    assert.equal(r.json.title, 'uno');
    r = await cli(cfg, ['db', 'patch', 'posts', 'p2', '--data', '{"tag":"x"}', '--json']);
    ok(r, 'db patch');
    assert.equal(r.json.tag, 'x');
    r = await cli(cfg, ['db', 'get', 'posts', 'p1', '--json']);
    ok(r, 'db get');
    assert.deepEqual(r.json, { _id: 'p1', title: 'uno', n: 1 });
    r = await cli(cfg, ['db', 'query', 'posts', '{"n":{"$gte":2}}', '--json']);
    ok(r, 'db query');
    assert.deepEqual(r.json.documents.map((d) => d._id), ['p2']);
    assert.ok('cursor' in r.json);
    r = await cli(cfg, ['db', 'query', 'posts', '{"n":{"$gte":1}}', '--explain', '--limit', '1', '--json']);
    ok(r, 'db query --explain');
    assert.equal(r.json.documents.length, 1);
    assert.ok(r.json.explain, 'explain in the answer');
    r = await cli(cfg, ['db', 'query', 'posts']);
    ok(r, 'db query table');
    assert.match(r.stdout, /^_id\s+title\s+n/m);

    // NDJSON import (batched, with --skip to resume) and export (paged, resumable with --cursor)
    const nd = path.join(cfg, 'docs.ndjson');
    fs.writeFileSync(nd, Array.from({ length: 25 }, (_, i) => JSON.stringify({ _id: `d${String(i).padStart(2, '0')}`, i })).join('\n') + '\n');
    r = await cli(cfg, ['db', 'import', 'bulk', nd, '--batch', '10', '--json'], { env: { BUNBASE_CLI_PROGRESS_MS: '0' } });
    ok(r, 'db import');
    assert.match(r.stderr, /^imported 10 documents \(through line 10\)$/m);
    assert.match(r.stderr, /^imported 20 documents \(through line 20\)$/m);
    assert.deepEqual(r.json, { ok: true, collection: 'bulk', imported: 25, skipped: 0, upsert: false });
    r = await cli(cfg, ['db', 'import', 'bulk', nd, '--batch', '10']);
    assert.equal(r.code, 4, `re-import conflicts: ${r.stderr}`);
    assert.match(r.stderr, /line 1: /);
    assert.match(r.stderr, /resume with --skip 0/);
    r = await cli(cfg, ['db', 'export', 'bulk', '--batch', '7']);
    ok(r, 'db export');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 25);
    assert.deepEqual(lines.map((d) => d.i).sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i));
    // progress on stderr (every batch with BUNBASE_CLI_PROGRESS_MS=0) names the cursor to resume from
    r = await cli(cfg, ['db', 'export', 'bulk', '--batch', '7'], { env: { BUNBASE_CLI_PROGRESS_MS: '0' } });
    ok(r, 'db export with progress');
    const prog = /^exported 7 documents \(resume with --cursor (\S+)\)$/m.exec(r.stderr);
    assert.ok(prog, `progress line:\n${r.stderr}`);
    const rest = await cli(cfg, ['db', 'export', 'bulk', '--batch', '7', '--cursor', prog[1]]);
    ok(rest, 'db export --cursor from the progress line');
    assert.deepEqual(rest.stdout.trim().split('\n').map((l) => JSON.parse(l)._id), r.stdout.trim().split('\n').slice(7).map((l) => JSON.parse(l)._id));
    // resume: the cursor of a page continues after it
    const page = await cli(cfg, ['db', 'query', 'bulk', '{}', '--limit', '10', '--json']);
    r = await cli(cfg, ['db', 'export', 'bulk', '--cursor', page.json.cursor]);
    ok(r, 'db export --cursor');
    assert.equal(r.stdout.trim().split('\n').length, 15);
    // round trip into another collection
    fs.writeFileSync(nd, lines.map((d) => JSON.stringify(d)).join('\n'));
    r = await cli(cfg, ['db', 'import', 'copy', '-', '--skip', '20', '--json'], { input: fs.readFileSync(nd) });
    ok(r, 'db import from stdin with --skip');
    assert.equal(r.json.imported, 5);
    // --upsert: existing _ids are replaced, new ones created, in the same batches
    const up = path.join(cfg, 'upsert.ndjson');
    fs.writeFileSync(up, '{"_id":"d00","i":100}\n{"_id":"new1","i":-1}\n{"_id":"d24","i":124}\n{"i":-2}\n');
    r = await cli(cfg, ['db', 'import', 'bulk', up, '--upsert', '--batch', '3', '--json']);
    ok(r, 'db import --upsert');
    assert.deepEqual(r.json, { ok: true, collection: 'bulk', imported: 4, skipped: 0, upsert: true });
    assert.deepEqual((await cli(cfg, ['db', 'get', 'bulk', 'd00', '--json'])).json, { _id: 'd00', i: 100 });
    assert.deepEqual((await cli(cfg, ['db', 'get', 'bulk', 'new1', '--json'])).json, { _id: 'new1', i: -1 });
    r = await cli(cfg, ['db', 'query', 'bulk', '{}', '--count', '--limit', '1', '--json']);
    assert.equal(r.json.count, 27, '25 + new1 + one without _id');

    // indexes and rules
    r = await cli(cfg, ['db', 'indexes', 'create', 'posts', 'by_n', '--json', '--', '-n']);
    ok(r, 'db indexes create');
    r = await cli(cfg, ['db', 'indexes', 'list', 'posts', '--json']);
    ok(r, 'db indexes list');
    assert.ok(r.json.indexes.some((i) => i.name === 'by_n'));
    r = await cli(cfg, ['db', 'rules', 'set', 'posts', '{"read":"true"}', '--json']);
    ok(r, 'db rules set');
    r = await cli(cfg, ['db', 'rules', 'get', 'posts', '--json']);
    ok(r, 'db rules get');
    assert.deepEqual(r.json, { collection: 'posts', rules: { read: 'true' } });
    r = await cli(cfg, ['db', 'indexes', 'drop', 'posts', 'by_n']);
    ok(r, 'db indexes drop');
    r = await cli(cfg, ['db', 'delete', 'posts', 'p2']);
    ok(r, 'db delete');
    r = await cli(cfg, ['db', 'collections', 'list', '--json']);
    ok(r, 'collections list');
    assert.deepEqual(r.json.collections, ['bulk', 'copy', 'posts']);

    // key-value, any bytes in the key
    r = await cli(cfg, ['kv', 'set', 'greeting/en', 'hello world']);
    ok(r, 'kv set');
    r = await cli(cfg, ['kv', 'get', 'greeting/en']);
    ok(r, 'kv get');
    assert.equal(r.stdout, 'hello world');
    r = await cli(cfg, ['kv', 'set', 'blob key', '--json'], { input: 'from stdin' });
    ok(r, 'kv set from stdin');
    assert.deepEqual(r.json, { ok: true, key: 'blob key', bytes: 10 });
    r = await cli(cfg, ['kv', 'keys', '--json']);
    ok(r, 'kv keys');
    assert.deepEqual(r.json.sort(), ['blob key', 'greeting/en']);
    r = await cli(cfg, ['kv', 'get', 'greeting/en', '--json']);
    assert.deepEqual(r.json, { key: 'greeting/en', value: 'hello world' });

    // kv incr (atomic, default 1) and kv keys --long (type and remaining TTL)
    r = await cli(cfg, ['kv', 'incr', 'hits/x']);
    ok(r, 'kv incr');
    assert.equal(r.stdout, '1\n');
    r = await cli(cfg, ['kv', 'incr', 'hits/x', '41', '--json']);
    assert.deepEqual(r.json, { key: 'hits/x', value: 42 });
    r = await cli(cfg, ['kv', 'incr', 'hits/x', '--json', '--', '-2']);
    assert.deepEqual(r.json, { key: 'hits/x', value: 40 }, 'a negative step after --');
    r = await cli(cfg, ['kv', 'incr', 'greeting/en']);
    assert.equal(r.code, 4, `a value that is no integer is a conflict: ${r.stderr}`);
    assert.match(r.stderr, /not an integer/);
    assert.equal((await cli(cfg, ['kv', 'incr', 'hits/x', 'many'])).code, 1);
    r = await cli(cfg, ['kv', 'set', 'hits/t', 'v', '--ttl', '600']);
    ok(r, 'kv set hits/t');
    r = await cli(cfg, ['kv', 'keys', 'hits/*', '--long']);
    ok(r, 'kv keys --long');
    const rows = r.stdout.trim().split('\n');
    assert.match(rows[0], /^KEY\s+TYPE\s+TTL$/);
    assert.ok(rows.some((l) => /^hits\/x\s+string\s+none$/.test(l)), r.stdout);
    assert.ok(rows.some((l) => /^hits\/t\s+string\s+(9m \d+s|10m 0s)$/.test(l)), r.stdout);
    r = await cli(cfg, ['kv', 'keys', 'hits/x', '--long', '--json']);
    assert.deepEqual(r.json, [{ key: 'hits/x', type: 'string', ttl_ms: null }]);
    await cli(cfg, ['kv', 'del', 'hits/x']);
    await cli(cfg, ['kv', 'del', 'hits/t']);

    // redis-url: a ready redis-cli line, the key in the environment and not in redis-cli's argv
    r = await cli(cfg, ['redis-url', '--redis', String(respPort)]);
    ok(r, 'redis-url');
    const line = r.stdout.trim();
    assert.match(line, /^REDISCLI_AUTH='sk_[^']+' redis-cli -u 'redis:\/\/127\.0\.0\.1:\d+' --user '[0-9A-Z]{26}'$/);
    const rc = spawnSync('bash', ['-c', `${line} GET greeting/en`], { encoding: 'utf8', timeout: 10000 });
    assert.equal(rc.stdout.trim(), 'hello world', `redis-cli: ${rc.stdout} ${rc.stderr}`);

    // --ttl: the value expires (SET … EX through bunder-manager's ?ttl=)
    r = await cli(cfg, ['kv', 'set', 'short', 'lived', '--ttl', '1']);
    ok(r, 'kv set --ttl');
    assert.equal((await cli(cfg, ['kv', 'get', 'short'])).stdout, 'lived');
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) { await sleep(100); gone = (await cli(cfg, ['kv', 'get', 'short'])).code === 3; }
    assert.ok(gone, 'expired within 4 s');
    assert.equal((await cli(cfg, ['kv', 'set', 'short', 'x', '--ttl', '0'])).code, 1);
    const bad = await api(srv.url, 'PUT', `/v1/projects/${pid}/kv/k?ttl=${'9'.repeat(30)}`, { token: configOf(cfg).profiles.default.auth.access_token, body: 'v' });
    assert.equal(bad.status, 400);
    assert.equal(bad.code, 'invalid_ttl');

    r = await cli(cfg, ['kv', 'del', 'greeting/en']);
    ok(r, 'kv del');
    r = await cli(cfg, ['kv', 'get', 'greeting/en']);
    assert.equal(r.code, 3);

    // logout revokes the session on the server
    r = await cli(cfg, ['logout', '--json']);
    ok(r, 'logout');
    assert.deepEqual(r.json, { ok: true, profile: 'default', session_revoked: true });
    assert.equal((await api(srv.url, 'GET', '/v1/auth/me', { token: access })).status, 401);
    r = await cli(cfg, ['whoami']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not logged in/);
  });

  test('--json errors and one exit code per class', async () => {
    const cfg = await loggedIn();
    let r = await cli(cfg, ['projects', 'create', 'Codes', '--slug', `codes-${Date.now()}`, '--json']);
    ok(r, 'create');
    const slug = r.json.slug;
    // 1 usage: unknown option, missing argument, unknown command, bad JSON
    for (const args of [['db', 'get', 'posts'], ['projects', 'list', '--nope'], ['nope'], ['db', 'put', 'c', 'i', '--data', '{x']]) {
      r = await cli(cfg, args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.length > 0);
    }
    // 3 not found, with the --json error schema
    r = await cli(cfg, ['db', 'get', 'nothere', 'x', '--json']);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'exit', 'message', 'status']);
    assert.equal(r.json.error.status, 404);
    assert.equal(r.json.error.exit, 3);
    // 4 conflict
    r = await cli(cfg, ['projects', 'create', 'Again', '--slug', slug, '--json']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.json.error.code, 'slug_taken');
    // 2 auth: a project that is not ours (404 hides it: 3), a revoked PAT, a wrong password
    r = await cli(cfg, ['login', '--email', ada.email, '--password-stdin', '--profile', 'wrong'], { input: 'not-the-password\n' });
    assert.equal(r.code, 2, r.stderr);
    r = await cli(cfg, ['login', '--token', 'bbp_invalid', '--profile', 'wrong']);
    assert.equal(r.code, 2, r.stderr);
    // 5 server: nothing listening
    const dead = await freePort();
    r = await cli(cfg, ['health', '--url', `http://127.0.0.1:${dead}`, '--json']);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.json.error.code, 'unreachable');
    r = await cli(cfg, ['health', '--json']);
    ok(r, 'health');
    assert.equal(r.json.status, 'ok');
  });

  test('members, keys, project use/--project/delete, collections', async () => {
    const cfg = await loggedIn();
    const bob = await newUser(srv.url, 'cli-bob');
    let r = await cli(cfg, ['projects', 'create', 'Team', '--json']);
    ok(r, 'create Team');
    const team = r.json.id;
    r = await cli(cfg, ['projects', 'create', 'Other', '--json']);
    ok(r, 'create Other');
    const other = r.json.id;
    r = await cli(cfg, ['projects', 'use', team, '--json']);
    ok(r, 'projects use');
    assert.equal(r.json.project.id, team);
    r = await cli(cfg, ['members', 'add', bob.email, '--role', 'viewer', '--json']);
    ok(r, 'members add');
    r = await cli(cfg, ['members', 'add', bob.email]);
    assert.equal(r.code, 4, 'already a member');
    r = await cli(cfg, ['members', 'list', '--json']);
    ok(r, 'members list');
    assert.deepEqual(r.json.map((m) => m.role).sort(), ['owner', 'viewer']);
    r = await cli(cfg, ['members', 'role', bob.email, 'admin', '--json']);
    ok(r, 'members role (by email)');
    r = await cli(cfg, ['members', 'list']);
    assert.match(r.stdout, /^USER_ID\s+EMAIL\s+NAME\s+ROLE\s+ADDED$/m);
    assert.match(r.stdout, new RegExp(`${bob.email.replace('.', '\\.')}\\s+cli-bob\\s+admin`));
    r = await cli(cfg, ['members', 'remove', bob.id]);
    ok(r, 'members remove (by id)');
    r = await cli(cfg, ['members', 'remove', bob.email]);
    assert.equal(r.code, 3);
    // --project overrides the default
    r = await cli(cfg, ['db', 'collections', 'create', 'only_other', '--project', other, '--rules', '{"read":"true"}', '--json']);
    ok(r, 'collections create --project');
    r = await cli(cfg, ['db', 'collections', 'list', '--json']);
    assert.deepEqual(r.json.collections, [], 'the default project has none');
    r = await cli(cfg, ['db', 'collections', 'list', '--project', other, '--json']);
    assert.deepEqual(r.json.collections, ['only_other']);
    r = await cli(cfg, ['db', 'collections', 'delete', 'only_other', '--project', other]);
    ok(r, 'collections delete');
    r = await cli(cfg, ['keys', 'list']);
    assert.match(r.stdout, /^ID\s+KIND\s+PREFIX\s+CREATED\n\S+\s+pk\s+pk_/m);
    // a project that is not ours is not found (the platform does not reveal it)
    r = await cli(cfg, ['projects', 'use', '01ARZ3NDEKTSV4RRFFQ69G5FAV']);
    assert.equal(r.code, 3);
    r = await cli(cfg, ['projects', 'delete', team]);
    assert.equal(r.code, 1, 'needs --yes');
    r = await cli(cfg, ['projects', 'delete', team, '--yes', '--json']);
    ok(r, 'projects delete');
    assert.equal(r.json.id, team);
    assert.equal(configOf(cfg).profiles.default.project, undefined, 'no longer the default');
    r = await cli(cfg, ['members', 'list']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no project/);
  });

  test('a config file others can read is refused, with what to do', async () => {
    const cfg = await loggedIn();
    const file = path.join(cfg, 'bunbase', 'config.json');
    fs.chmodSync(file, 0o644);
    let r = await cli(cfg, ['whoami']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /readable or writable by others \(mode 0644\).*chmod 600/);
    fs.chmodSync(file, 0o600);
    r = await cli(cfg, ['whoami']);
    ok(r, 'whoami after chmod');
  });

  test('profiles: two control planes, --profile, use, remove; a PAT login', async () => {
    const cfg = await loggedIn();
    // a PAT (from the session) logs in a second profile without a password
    const pat = await api(srv.url, 'POST', '/v1/auth/tokens', { token: ada.access, body: { name: 'cli' } });
    assert.equal(pat.status, 201);
    let r = await cli(cfg, ['login', '--token-stdin', '--profile', 'ci', '--json'], { input: `${pat.json.token}\n` });
    ok(r, 'login --token-stdin');
    assert.equal(r.json.auth, 'pat');
    // a third profile pointing elsewhere (nothing listens there)
    const dead = await freePort();
    r = await cli(cfg, ['login', '--profile', 'other', '--url', `http://127.0.0.1:${dead}`, '--email', 'x@example.com', '--password-stdin'], { input: 'whatever-pass\n' });
    assert.equal(r.code, 5);
    r = await cli(cfg, ['profiles', 'list', '--json']);
    ok(r, 'profiles list');
    assert.equal(r.json.current, 'default');
    assert.deepEqual(r.json.profiles.map((p) => [p.name, p.auth]).sort(), [['ci', 'pat'], ['default', 'session']]);
    for (const p of r.json.profiles) assert.deepEqual(Object.keys(p).sort(), ['auth', 'current', 'email', 'name', 'project', 'url']);
    r = await cli(cfg, ['whoami', '--profile', 'ci', '--json']);
    ok(r, 'whoami --profile ci');
    assert.equal(r.json.profile, 'ci');
    assert.equal(r.json.user.auth, 'pat');
    r = await cli(cfg, ['profiles', 'use', 'ci']);
    ok(r, 'profiles use');
    r = await cli(cfg, ['whoami', '--json']);
    assert.equal(r.json.profile, 'ci');
    r = await cli(cfg, ['whoami', '--json'], { env: { BUNBASE_CLI_PROFILE: 'default' } });
    assert.equal(r.json.profile, 'default');
    r = await cli(cfg, ['profiles', 'use', 'nope']);
    assert.equal(r.code, 3);
    r = await cli(cfg, ['profiles', 'remove', 'ci']);
    ok(r, 'profiles remove');
    r = await cli(cfg, ['whoami', '--json']);
    ok(r, 'whoami after the current profile is removed');
    assert.equal(r.json.profile, 'default', 'back to the default profile');
    r = await cli(cfg, ['whoami', '--profile', 'ci']);
    assert.equal(r.code, 2, 'a removed profile is not logged in');
  });

  test('an expired access token is refreshed once, serialized across concurrent processes', async () => {
    const cfg = await loggedIn();
    const file = path.join(cfg, 'bunbase', 'config.json');
    const c = configOf(cfg);
    const before = c.profiles.default.auth;
    c.profiles.default.auth.expires_at = 1; // long expired
    fs.writeFileSync(file, JSON.stringify(c), { mode: 0o600 });
    // eight processes at once: one refresh; the others use its tokens (a second use of the same
    // refresh token would revoke the session)
    const rs = await Promise.all(Array.from({ length: 8 }, () => cli(cfg, ['whoami', '--json'])));
    for (const r of rs) ok(r, 'concurrent whoami');
    const afterAuth = configOf(cfg).profiles.default.auth;
    assert.notEqual(afterAuth.access_token, before.access_token);
    assert.notEqual(afterAuth.refresh_token, before.refresh_token);
    assert.ok(afterAuth.expires_at > Date.now() / 1000);
    ok(await cli(cfg, ['whoami']), 'the session is still alive');

    // a session that ended elsewhere: logout still succeeds, with one JSON document
    assert.equal((await api(srv.url, 'POST', '/v1/auth/logout', { token: afterAuth.access_token, body: {} })).status, 200);
    const c2 = configOf(cfg);
    c2.profiles.default.auth.expires_at = 1;
    fs.writeFileSync(file, JSON.stringify(c2), { mode: 0o600 });
    const r = await cli(cfg, ['logout', '--json']);
    ok(r, 'logout of an ended session');
    assert.deepEqual(r.json, { ok: true, profile: 'default', session_revoked: false });
  });

  test('--help of every command and completion come from the command table', async () => {
    const cfg = makeTempDir('cli-h-');
    const r = await cli(cfg, ['help']);
    ok(r, 'help');
    // the command words of each listed command: up to its first <arg>/[arg] or the summary
    const cmds = r.stdout.split('\n').filter((l) => /^  [a-z]/.test(l)).map((l) => {
      const words = [];
      for (const w of l.trim().split(/\s{2,}/)[0].split(' ')) { if (!/^[a-z-]+$/.test(w)) break; words.push(w); }
      return words;
    });
    assert.ok(cmds.length >= 35, `commands listed: ${cmds.length}`);
    // the contract: every command of the table is run against the live server by a CLI test
    // (an argument list starting with its words) or by docs/getting-started.md
    const here = path.dirname(new URL(import.meta.url).pathname);
    const sources = fs.readdirSync(here).filter((f) => /^cli.*\.test\.mjs$/.test(f)).map((f) => fs.readFileSync(path.join(here, f), 'utf8')).join('\n') +
      fs.readFileSync(path.join(here, '..', '..', 'docs', 'getting-started.md'), 'utf8');
    const untested = cmds.filter((w) => !sources.includes(`['${w.join("', '")}'`) && !sources.includes(`bunbase ${w.join(' ')}`));
    assert.deepEqual(untested, [], 'commands no test runs');
    const v = await cli(cfg, ['version', '--json']);
    ok(v, 'version');
    assert.match(v.json.version, /^\d+\.\d+\.\d+/);
    for (const words of cmds) {
      const h = await cli(cfg, [...words, '--help']);
      assert.equal(h.code, 0, `${words.join(' ')} --help: ${h.stderr}`);
      assert.match(h.stdout, new RegExp(`^usage: bunbase ${words.join(' ')}`), words.join(' '));
    }
    // bash completion: source the generated script and ask it
    const script = (await cli(cfg, ['completion', 'bash'])).stdout;
    const ask = (line) => spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _bunbase; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).stdout.trim();
    assert.deepEqual(ask("bunbase db ''").split(' ').sort(), ['collections', 'delete', 'export', 'get', 'import', 'indexes', 'patch', 'put', 'query', 'rules']);
    assert.deepEqual(ask('bunbase db coll').split(' '), ['collections']);
    assert.ok(ask("bunbase db query posts --ex").split(' ').includes('--explain'));
    assert.ok(ask("bunbase --profile x kv ''").split(' ').includes('set'));
    assert.deepEqual(ask("bunbase functions ''").split(' ').sort(), ['delete', 'deploy', 'init', 'invoke', 'list', 'logs', 'rollback', 'versions']);
    assert.ok(ask('bunbase functions logs hello -').split(' ').includes('-f'));
    assert.deepEqual(ask("bunbase auth users ''").split(' ').sort(), ['create', 'delete', 'disable', 'enable', 'get', 'list']);
    const zsh = await cli(cfg, ['completion', 'zsh']);
    ok(zsh, 'completion zsh');
    assert.match(zsh.stdout, /^#compdef bunbase$/m);
    assert.match(zsh.stdout, /compdef _bunbase bunbase/);
  });

  test('interactive login in a terminal: the password is not echoed', async (t) => {
    if (spawnSync('tmux', ['-V']).status !== 0) { t.skip('tmux not installed (scripts/setup.sh installs it)'); return; }
    const cfg = makeTempDir('cli-tty-');
    const sock = path.join(cfg, 'tmux.sock');
    const session = `bbcli${process.pid}`;
    const tmux = (...a) => spawnSync('tmux', ['-S', sock, ...a], { encoding: 'utf8' });
    const env = `XDG_CONFIG_HOME=${cfg} BUNBASE_URL=${srv.url}`;
    assert.equal(tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '20', `env ${env} ${BUNBASE} login; echo EXIT=$?; sleep 30`).status, 0);
    try {
      const screen = () => tmux('capture-pane', '-p', '-t', session).stdout;
      const waitFor = async (re) => {
        for (let i = 0; i < 100; i++) { if (re.test(screen())) return; await sleep(100); }
        assert.fail(`${re} never shown:\n${screen()}`);
      };
      await waitFor(/Email:\s*$/m);
      tmux('send-keys', '-t', session, ada.email, 'Enter');
      await waitFor(/Password:\s*$/m);
      tmux('send-keys', '-t', session, '-l', PASSWORD);
      tmux('send-keys', '-t', session, 'Enter');
      await waitFor(/EXIT=\d+/);
      const s = screen();
      assert.match(s, /EXIT=0/, s);
      assert.match(s, /Logged in to .* as /);
      assert.ok(!s.includes(PASSWORD), `the password was echoed:\n${s}`);
      assert.equal(configOf(cfg).profiles.default.auth.email, ada.email);

      // Ctrl-C at the password prompt gives the terminal its echo back
      const s2 = `${session}b`;
      // (an interactive dash in the pane: it survives the Ctrl-C and, unlike bash, does not restore
      // the terminal's modes itself; the command is typed into it)
      assert.equal(tmux('new-session', '-d', '-s', s2, '-x', '200', '-y', '20', 'env -i PATH=/usr/bin:/bin TERM=xterm PS1=$ dash -i').status, 0);
      const type = (line) => { tmux('send-keys', '-t', s2, '-l', line); tmux('send-keys', '-t', s2, 'Enter'); };
      type(`env ${env} ${BUNBASE} login --email x@example.com`);
      const screen2 = () => tmux('capture-pane', '-p', '-t', s2).stdout;
      for (let i = 0; i < 100 && !/Password:/.test(screen2()); i++) await sleep(100);
      tmux('send-keys', '-t', s2, 'C-c');
      // the shell's next prompt, before typing (restoring the terminal flushes pending input)
      for (let i = 0; i < 100 && !/^\$\s*$/m.test(screen2()); i++) await sleep(100);
      type("echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo' | sed 's/^/ECHO:/'");
      for (let i = 0; i < 100 && !/^ECHO:/m.test(screen2()); i++) await sleep(100);
      assert.match(screen2(), /^EXIT=130$/m, screen2());
      assert.match(screen2(), /^ECHO:echo$/m, `echo restored:\n${screen2()}`);
    } finally {
      tmux('kill-server');
    }
  });
});
