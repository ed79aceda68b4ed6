// bunbase-js as published: `npm pack` of sdk/js, the tarball unpacked as a dependency in a temp
// dir, then imported by its name (the `exports` map), and its types checked by the TypeScript
// compiler the repository already has (web/node_modules, installed by scripts/setup.sh) against
// a consumer file. Without that compiler the types test only checks the .d.ts is packed and named
// by `types` and `exports` (and says so).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { SOURCE_DIR, makeTempDir, removeTempDir, runCommand } from './harness.mjs';

const SDK = path.join(SOURCE_DIR, 'sdk', 'js');
const TSC = path.join(SOURCE_DIR, 'web', 'node_modules', 'typescript', 'bin', 'tsc');
let dir, app, packed;

before(async () => {
  dir = makeTempDir('bb-sdk-pack-');
  const r = await runCommand('npm', ['pack', '--json', '--pack-destination', dir, SDK], { env: { npm_config_update_notifier: 'false' } });
  assert.equal(r.code, 0, r.stderr);
  packed = JSON.parse(r.stdout)[0];
  app = path.join(dir, 'app');
  const mod = path.join(app, 'node_modules', 'bunbase-js');
  fs.mkdirSync(mod, { recursive: true });
  const x = await runCommand('tar', ['xzf', path.join(dir, packed.filename), '-C', mod, '--strip-components=1']);
  assert.equal(x.code, 0, x.stderr);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
});
after(() => { if (dir) removeTempDir(dir); });

test('npm pack: the tarball holds the sources, the types, the README and nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ['README.md', 'package.json', 'src/index.js', 'src/client.js', 'src/realtime.js', 'types/index.d.ts']) {
    assert.ok(files.includes(f), `${f} packed: ${files.join(' ')}`);
  }
  assert.ok(files.every((f) => /^(README\.md|package\.json|src\/[a-z]+\.js|types\/[a-z]+\.d\.ts)$/.test(f)), files.join(' '));
  const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'bunbase-js', 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'bunbase-js');
  assert.equal(pkg.dependencies, undefined, 'zero runtime dependencies');
  assert.equal(pkg.exports['.'].types, './types/index.d.ts');
  assert.equal(pkg.types, './types/index.d.ts');
});

test('the packed package imports by name (exports) in a fresh project', async () => {
  const script = `
    import { createClient, BunBaseError, memoryStorage, localStorageAdapter } from 'bunbase-js';
    const c = createClient('http://127.0.0.1:1', 'pk_' + 'a'.repeat(32), { auth: { storage: memoryStorage() } });
    const q = c.db.collection('posts').where('stars', '>=', 4).in('tag', ['a']).orderBy('stars', 'desc').limit(2);
    let err; try { await c.getProject(); } catch (e) { err = e; }
    console.log(JSON.stringify({ q: q.toJSON(), kind: c.keyKind, err: err instanceof BunBaseError && err.code, ls: typeof localStorageAdapter }));`;
  fs.writeFileSync(path.join(app, 'main.mjs'), script);
  const r = await runCommand(process.execPath, [path.join(app, 'main.mjs')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    q: { collection: 'posts', filter: { stars: { $gte: 4 }, tag: { $in: ['a'] } }, sort: ['-stars'], limit: 2 },
    kind: 'publishable', err: 'network_error', ls: 'function',
  });
  // a deep import is not part of the API: the exports map hides the files
  fs.writeFileSync(path.join(app, 'deep.mjs'), "import 'bunbase-js/src/client.js';");
  const d = await runCommand(process.execPath, [path.join(app, 'deep.mjs')]);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
});

test('the packed types resolve and type-check a consumer (tsc --noEmit)', async (t) => {
  const pkgDir = path.join(app, 'node_modules', 'bunbase-js');
  assert.ok(fs.existsSync(path.join(pkgDir, 'types', 'index.d.ts')));
  if (!fs.existsSync(TSC)) {
    t.diagnostic(`TypeScript is not installed at ${TSC} (scripts/setup.sh installs web/node_modules): only the .d.ts presence was checked`);
    return;
  }
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], skipLibCheck: false, types: [] },
    files: ['consumer.ts'],
  }));
  fs.writeFileSync(path.join(app, 'consumer.ts'), `
    import { createClient, BunBaseError, localStorageAdapter, type ChangeEvent, type Session } from 'bunbase-js';
    type Post = { _id: string; title: string; stars: number };
    const bb = createClient('http://localhost:3001', 'pk_x', { auth: { storage: localStorageAdapter({ getItem: () => null, setItem() {}, removeItem() {} }) } });
    export async function main(): Promise<number> {
      const { user } = await bb.auth.signInWithPassword({ email: 'a@example.com', password: 'pw' });
      const s: Session | null = await bb.auth.getSession();
      const posts = bb.db.collection<Post>('posts');
      const one: Post | null = await posts.get('p1');
      const page = await posts.where('stars', '>=', 4).orderBy('stars', 'desc').limit(10).get();
      const titles: string[] = page.documents.map((p) => p.title);
      const sub = posts.subscribe((e) => { if (e.type !== 'reset') { const c: ChangeEvent<Post> = e; void c.doc?.title; } });
      sub.unsubscribe();
      await bb.kv.set('k', 'v', { ttl: 60 });
      const bytes: Uint8Array | null = await bb.kv.get('k', { as: 'bytes' });
      const n: number = await bb.kv.incr('c', 2);
      const names: string[] = await bb.kv.keys('*');
      const metas = await bb.kv.keys('*', { meta: true });
      const m = await bb.kv.meta('k');
      const ttl: number | null = m ? m.ttl_ms : metas[0].ttl_ms;
      void [n, names, ttl, metas[0].type];
      const r = await bb.functions.invoke<{ message: string }>('hello', { name: 'x' });
      try { await posts.delete('p1'); } catch (e) { if (e instanceof BunBaseError) return e.status + (e.requestId ?? '').length; }
      return titles.length + (one ? 1 : 0) + (s ? 1 : 0) + user.id.length + (bytes?.length ?? 0) + r.message.length;
    }`);
  const ok = await runCommand(process.execPath, [TSC, '-p', app]);
  assert.equal(ok.code, 0, `tsc: ${ok.stdout}${ok.stderr}`);
  // the types are really read: a misuse is an error
  fs.writeFileSync(path.join(app, 'consumer.ts'), `
    import { createClient } from 'bunbase-js';
    const n: number = createClient('http://x', 'pk_x').url;
    createClient('http://x', 'pk_x').db.collection('c').where('a', '~~', 1);`);
  const bad = await runCommand(process.execPath, [TSC, '-p', app]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout, /TS2322/); // string is not assignable to number
  assert.match(bad.stdout, /TS2769|TS2345/); // '~~' is not a WhereOp
});
