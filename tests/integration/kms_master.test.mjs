// bun-kms's master key: where it comes from, refusing a wrong one, rotating it (re-wrapping data
// keys only) and resuming a rotation killed with SIGKILL half-way.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, runBunbased, sleep, startServer } from './harness.mjs';
import { TOKEN, b64, http, unb64 } from './kms_lib.mjs';

const ENV = { BUNBASE_INTERNAL_TOKEN: TOKEN, BUNBASE_LOG_LEVEL: 'info' };
const start = (dataDir, env = {}) => startServer({ services: 'bun-kms', dataDir, env: { ...ENV, ...env } });
const sql = (dataDir, q) => execFileSync('sqlite3', [path.join(dataDir, 'bun_kms', 'kms.db'), q]).toString().trim();
/** Starting must fail: exit code and stderr. */
async function refuses(dataDir, env) {
  const r = await runBunbased(['serve', '--data', dataDir, '--listen', '127.0.0.1:0', '--services=bun-kms'],
    { env: { ...ENV, ...env }, timeoutMs: 30000 });
  return { code: r.code, err: r.stderr };
}

describe('bun-kms master key', () => {
  const dirs = [];
  const dir = () => { const d = makeTempDir('bb-kms-mk-'); dirs.push(d); return d; };
  after(() => { for (const d of dirs) removeTempDir(d); });

  test('bad keys refuse to start (exit 2, one clear line); a wrong key refuses the store', async () => {
    const d = dir();
    let r = await refuses(d, { BUNBASE_BUN_KMS_MASTER_KEY: 'c2hvcnQ=' });
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /BUNBASE_BUN_KMS_MASTER_KEY must be 32 bytes as base64 \(44 characters\) or hex \(64 characters\)/);
    r = await refuses(d, { BUNBASE_BUN_KMS_MASTER_KEY: 'zz'.repeat(32) });
    assert.equal(r.code, 2);
    const f = path.join(d, 'mk.txt');
    const k1 = crypto.randomBytes(32);
    fs.writeFileSync(f, k1.toString('hex') + '\n', { mode: 0o644 });
    fs.chmodSync(f, 0o644);
    r = await refuses(d, { BUNBASE_BUN_KMS_MASTER_KEY_FILE: f });
    assert.equal(r.code, 2);
    assert.match(r.err, /has mode 644; it must be 0600 or stricter/);
    r = await refuses(d, { BUNBASE_BUN_KMS_MASTER_KEY_FILE: f, BUNBASE_BUN_KMS_MASTER_KEY: k1.toString('hex') });
    assert.equal(r.code, 2);
    assert.match(r.err, /not both/);
    fs.chmodSync(f, 0o600);

    // the store written with k1 (from the file, hex)…
    let s = await start(d, { BUNBASE_BUN_KMS_MASTER_KEY_FILE: f });
    let x = await http(s.url, 'PUT', '/v1/kms/p_mk/secrets/a', { body: { value: b64('under k1') } });
    assert.equal(x.status, 201);
    await s.stop('SIGTERM', { keepDir: true });
    assert.ok(!fs.existsSync(path.join(d, 'bun_kms', 'master.key')), 'no key file generated when one is configured');
    // …refuses another key
    r = await refuses(d, { BUNBASE_BUN_KMS_MASTER_KEY: crypto.randomBytes(32).toString('base64') });
    assert.equal(r.code, 2);
    assert.match(r.err, /wrong master key: the store under .* is encrypted with master key id [0-9a-f]{16}, the configured key has id [0-9a-f]{16}/);
    assert.ok(!r.err.includes(k1.toString('hex')) && !r.err.includes(k1.toString('base64')));
    // …and opens with the same key given as base64 in the environment
    s = await start(d, { BUNBASE_BUN_KMS_MASTER_KEY: k1.toString('base64') });
    x = await http(s.url, 'GET', '/v1/kms/p_mk/secrets/a');
    assert.equal(unb64(x.json.value).toString(), 'under k1');
    assert.ok(!s.stderr().includes(k1.toString('base64')) && !s.stdout().includes(k1.toString('base64')), 'never in a log');
    await s.stop();
  });

  test('no key configured: a 0600 key file is generated (and said so), reused at restart', async () => {
    const d = dir();
    let s = await start(d);
    const kf = path.join(d, 'bun_kms', 'master.key');
    assert.equal(fs.statSync(kf).mode & 0o777, 0o600);
    assert.match(s.stdout() + s.stderr(), /master_key_generated"? path=\S*master\.key/);
    const key = fs.readFileSync(kf, 'utf8');
    assert.ok(!(s.stdout() + s.stderr()).includes(key.trim()));
    await http(s.url, 'PUT', '/v1/kms/p_gen/secrets/a', { body: { value: b64('gen') } });
    await s.stop('SIGTERM', { keepDir: true });
    s = await start(d);
    assert.equal(fs.readFileSync(kf, 'utf8'), key);
    assert.doesNotMatch(s.stdout() + s.stderr(), /master_key_generated/);
    const x = await http(s.url, 'GET', '/v1/kms/p_gen/secrets/a');
    assert.equal(unb64(x.json.value).toString(), 'gen');
    await s.stop();
  });

  test('rotation to a key file re-wraps data keys only; then only the new key opens the store', async () => {
    const d = dir();
    const k1 = crypto.randomBytes(32), k2 = crypto.randomBytes(32);
    let s = await start(d, { BUNBASE_BUN_KMS_MASTER_KEY: k1.toString('base64') });
    for (let i = 0; i < 5; i++) await http(s.url, 'PUT', `/v1/kms/p_rot/secrets/s${i}`, { body: { value: b64(`v${i}`) } });
    await http(s.url, 'POST', '/v1/kms/p_rot/keys', { body: { name: 'k', type: 'ed25519' } });
    const sig = (await http(s.url, 'POST', '/v1/kms/p_rot/keys/k/sign', { body: { alg: 'EdDSA', message: b64('m') } })).json.signature;
    const before = sql(d, "SELECT hex(ct) FROM secrets ORDER BY name; SELECT hex(ct) FROM key_versions;");
    const wdekBefore = sql(d, 'SELECT hex(wdek) FROM secrets ORDER BY name');
    const f = path.join(d, 'new.key');
    fs.writeFileSync(f, k2.toString('base64'), { mode: 0o600 });
    fs.chmodSync(f, 0o640);
    let r = await http(s.url, 'POST', '/v1/kms/_admin/rotate-master', { body: { key_file: f } });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /0600/);
    fs.chmodSync(f, 0o600);
    r = await http(s.url, 'POST', '/v1/kms/_admin/rotate-master', { body: { key_file: 'relative.key' } });
    assert.equal(r.status, 400);
    r = await http(s.url, 'POST', '/v1/kms/_admin/rotate-master', { body: { generate: true } });
    assert.equal(r.status, 400, 'generate needs the generated key file');
    r = await http(s.url, 'POST', '/v1/kms/_admin/rotate-master', { body: { key_file: f } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.pending, 0);
    assert.equal(r.json.rotating, false);
    const newId = r.json.master_id;
    assert.equal(sql(d, "SELECT hex(ct) FROM secrets ORDER BY name; SELECT hex(ct) FROM key_versions;"), before, 'values untouched');
    assert.notEqual(sql(d, 'SELECT hex(wdek) FROM secrets ORDER BY name'), wdekBefore, 'data keys re-wrapped');
    assert.equal(sql(d, 'SELECT DISTINCT mk_id FROM secrets UNION SELECT DISTINCT mk_id FROM key_versions'), newId);
    r = await http(s.url, 'GET', '/v1/kms/p_rot/secrets/s3');
    assert.equal(unb64(r.json.value).toString(), 'v3');
    await s.stop('SIGTERM', { keepDir: true });
    const old = await refuses(d, { BUNBASE_BUN_KMS_MASTER_KEY: k1.toString('base64') });
    assert.equal(old.code, 2);
    assert.match(old.err, /wrong master key/);
    s = await start(d, { BUNBASE_BUN_KMS_MASTER_KEY_FILE: f });
    r = await http(s.url, 'GET', '/v1/kms/p_rot/secrets/s4');
    assert.equal(unb64(r.json.value).toString(), 'v4');
    r = await http(s.url, 'POST', '/v1/kms/p_rot/keys/k/verify', { body: { alg: 'EdDSA', message: b64('m'), signature: sig } });
    assert.equal(r.json.valid, true);
    r = await http(s.url, 'POST', '/v1/kms/p_rot/keys/k/sign', { body: { alg: 'EdDSA', message: b64('m') } });
    assert.equal(r.json.signature, sig, 'the same private key (Ed25519 is deterministic)');
    await s.stop();
  });

  test('kill -9 in the middle of a rotation: the next start finishes it', async () => {
    const d = dir();
    let s = await start(d, { BUNBASE_BUN_KMS_ROTATE_BATCH: '1', BUNBASE_BUN_KMS_ROTATE_PAUSE_MS: '40' });
    const N = 40;
    await Promise.all(Array.from({ length: N }, (_, i) =>
      http(s.url, 'PUT', `/v1/kms/p_kill/secrets/s${i}`, { body: { value: b64(`value-${i}`) } })));
    await http(s.url, 'POST', '/v1/kms/p_kill/keys', { body: { name: 'a', type: 'aes256-gcm' } });
    const ct = (await http(s.url, 'POST', '/v1/kms/p_kill/keys/a/encrypt', { body: { plaintext: b64('keep me') } })).json.ciphertext;
    const oldId = (await http(s.url, 'GET', '/v1/kms/_admin/master')).json.master_id;
    const oldKey = fs.readFileSync(path.join(d, 'bun_kms', 'master.key'), 'utf8');
    const pending = http(s.url, 'POST', '/v1/kms/_admin/rotate-master', { body: { generate: true } }).catch(() => null);
    // wait until some rows moved and some did not, then SIGKILL
    let mixed = false;
    for (let i = 0; i < 200 && !mixed; i++) {
      await sleep(20);
      const ids = sql(d, 'SELECT mk_id, count(*) FROM secrets GROUP BY mk_id').split('\n');
      mixed = ids.length === 2;
    }
    assert.ok(mixed, 'caught the rotation half-way');
    s.proc.kill('SIGKILL');
    await s.exited;
    await pending;
    assert.ok(fs.existsSync(path.join(d, 'bun_kms', 'master.key.new')), 'the new key reached the disk first');
    assert.equal(fs.readFileSync(path.join(d, 'bun_kms', 'master.key'), 'utf8'), oldKey);
    const moved = Number(sql(d, `SELECT count(*) FROM secrets WHERE mk_id != '${oldId}'`));
    assert.ok(moved > 0 && moved < N, `moved ${moved} of ${N}`);

    s = await start(d);
    assert.match(s.stdout() + s.stderr(), /master_rotation_resuming/);
    const st = (await http(s.url, 'GET', '/v1/kms/_admin/master')).json;
    assert.notEqual(st.master_id, oldId);
    assert.equal(st.pending, 0);
    assert.equal(st.rotating, false);
    assert.ok(!fs.existsSync(path.join(d, 'bun_kms', 'master.key.new')));
    assert.notEqual(fs.readFileSync(path.join(d, 'bun_kms', 'master.key'), 'utf8'), oldKey, 'master.key is the new key');
    for (let i = 0; i < N; i += 7) {
      const r = await http(s.url, 'GET', `/v1/kms/p_kill/secrets/s${i}`);
      assert.equal(unb64(r.json.value).toString(), `value-${i}`);
    }
    let r = await http(s.url, 'POST', '/v1/kms/p_kill/keys/a/decrypt', { body: { ciphertext: ct } });
    assert.equal(unb64(r.json.plaintext).toString(), 'keep me');
    await s.stop('SIGTERM', { keepDir: true });
    s = await start(d);
    r = await http(s.url, 'GET', '/v1/kms/p_kill/secrets/s1');
    assert.equal(unb64(r.json.value).toString(), 'value-1');
    await s.stop();
  });
});
