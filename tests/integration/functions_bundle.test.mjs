// Tarball bundles: a .tar.gz (Content-Type application/gzip) or a tar (?format=tar) whose modules
// import each other, on QuickJS and on Bun; bunbase.json's entry; every unsafe tarball refused with
// 400 and a clear message (absolute paths, "..", symbolic and hard links, devices, FIFOs, too many
// entries, too many bytes unpacked — a gzip bomb —, not a tarball, no entry, an import leaving the
// bundle); packages in the tarball's node_modules/ imported by bare name on both runtimes, a bare
// name not shipped refused at deploy. Tarballs are made with Python's tarfile (it writes the malicious entries tar refuses).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { SOURCE_DIR, httpRequest, makeTempDir, removeTempDir, startServer } from './harness.mjs';
import { FAST_ENV, newProject, newUser } from './platform_lib.mjs';

const BUN = path.join(SOURCE_DIR, 'src/functions/bun/node_modules/@oven/bun-linux-x64/bin/bun');

// entries: [name, {data?, type?: 'file'|'dir'|'symlink'|'link'|'chr'|'fifo', target?}]
const PY = `
import io, json, sys, tarfile
spec = json.load(sys.stdin)
with tarfile.open(spec['out'], 'w:gz' if spec['gz'] else 'w') as t:
    for name, e in spec['entries']:
        ti = tarfile.TarInfo(name)
        ty = e.get('type', 'file')
        data = e.get('data', '').encode()
        if ty == 'file':
            ti.size = len(data); t.addfile(ti, io.BytesIO(data)); continue
        ti.type = {'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE,
                   'chr': tarfile.CHRTYPE, 'fifo': tarfile.FIFOTYPE}[ty]
        ti.linkname = e.get('target', '')
        t.addfile(ti)
`;

describe('functions: tarball bundles', () => {
  let srv, G, user, p, tmp, n = 0;
  const tarball = (entries, gz = true) => {
    const out = path.join(tmp, `t${n++}.tar${gz ? '.gz' : ''}`);
    execFileSync('python3', ['-c', PY], { input: JSON.stringify({ out, gz, entries }) });
    return fs.readFileSync(out);
  };
  const deploy = (name, body, { query = '', type = 'application/gzip' } = {}) =>
    httpRequest(`${G}/v1/projects/${p.id}/functions/${name}${query}`, {
      method: 'PUT', headers: { Authorization: `Bearer ${user.access}`, 'Content-Type': type }, body });
  const invoke = (name) => httpRequest(`${G}/v1/functions/${name}`, { headers: { 'X-Bunbase-Client-Key': p.sk } });

  const TWO = [
    ['index.js', { data: 'import { greet } from "./lib/greet.js";\nexport default () => new Response(greet("bundle"));' }],
    ['lib/', { type: 'dir' }],
    ['lib/greet.js', { data: 'import { PREFIX } from "../shared.js";\nexport const greet = (w) => PREFIX + w;' }],
    ['shared.js', { data: 'export const PREFIX = "hello from ";' }],
  ];

  before(async () => {
    tmp = makeTempDir('bb-fn-tar-');
    srv = await startServer({ env: { ...FAST_ENV, BUNBASE_FUNCTIONS_BUNDLE_MAX_FILES: '20',
      BUNBASE_FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES: '100000', BUNBASE_FUNCTIONS_TIMEOUT_MS: '5000' } });
    G = srv.url;
    user = await newUser(G, 'fntar');
    p = await newProject(G, user.access, 'Tarballs');
  });
  after(async () => {
    if (srv) await srv.stop();
    if (tmp) removeTempDir(tmp);
  });

  test('a two-module bundle runs on QuickJS; bunbase.json entry; plain tar with ?format=tar', async () => {
    let r = await deploy('two', tarball(TWO));
    assert.equal(r.status, 201, r.text);
    r = await invoke('two');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'hello from bundle');
    assert.ok(fs.existsSync(`${srv.dataDir}/functions/${p.id}/two/1/lib/greet.js`), 'extracted into the version directory');
    r = await deploy('entry', tarball([
      ['bunbase.json', { data: JSON.stringify({ entry: 'src/main.js' }) }],
      ['src/main.js', { data: 'import v from "./v.js"; export default () => new Response("main " + v);' }],
      ['src/v.js', { data: 'export default 42;' }],
    ], false), { query: '?format=tar', type: 'application/octet-stream' });
    assert.equal(r.status, 201, r.text);
    r = await invoke('entry');
    assert.equal(r.text, 'main 42');
  });

  test('a two-module bundle runs on Bun', { skip: !fs.existsSync(BUN) && 'bun is not installed' }, async () => {
    let r = await deploy('twobun', tarball(TWO), { query: '?runtime=bun' });
    assert.equal(r.status, 201, r.text);
    r = await invoke('twobun');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'hello from bundle');
  });

  // npm packages shipped in the tarball's node_modules/: bare imports resolve inside the bundle
  // (QuickJS: the worker's resolver — package.json "module", else "main", else index.js, subpaths,
  // a nested node_modules first; Bun: its own resolver, inside the sandbox)
  const PKGS = [
    ['index.js', { data: 'import a from "a";\nimport { b } from "@s/b";\nimport { c } from "c/sub.js";\n'
      + 'export default () => new Response([a, b, c].join(" "));' }],
    ['node_modules/a/package.json', { data: JSON.stringify({ name: 'a', type: 'module', module: 'lib/main' }) }],
    ['node_modules/a/lib/main.js', { data: 'import { v } from "./v.js";\nimport d from "d";\nexport default "a" + v + d;' }],
    ['node_modules/a/lib/v.js', { data: 'export const v = 1;' }],
    ['node_modules/a/node_modules/d/package.json', { data: '{"name": "d", "main": "d.js"}' }],
    ['node_modules/a/node_modules/d/d.js', { data: 'export default "+nested";' }],
    ['node_modules/@s/b/index.js', { data: 'export const b = "scoped";' }],
    ['node_modules/c/sub.js', { data: 'export const c = "subpath";' }],
  ];
  for (const runtime of ['quickjs', 'bun']) {
    test(`packages in the tarball's node_modules/ are imported by bare name on ${runtime}`, { skip: runtime === 'bun' && !fs.existsSync(BUN) && 'bun is not installed' }, async () => {
      const name = `pkgs-${runtime}`;
      let r = await deploy(name, tarball(PKGS), { query: `?runtime=${runtime}` });
      assert.equal(r.status, 201, r.text);
      r = await invoke(name);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, 'a1+nested scoped subpath');
      // a bare name that is not in node_modules/ (here, nor in the sandbox) fails at deploy
      r = await deploy(`${name}-missing`, tarball([['index.js', { data: 'import x from "not-shipped";\nexport default () => new Response(x);' }],
        ['node_modules/c/sub.js', { data: 'export const c = 1;' }]]), { query: `?runtime=${runtime}` });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json().code, 'invalid_bundle');
      assert.match(r.json().error, runtime === 'quickjs' ? /import of "not-shipped": no package "not-shipped" in the bundle's node_modules\// : /not-shipped/);
    });
  }

  test('bare imports never leave the bundle (QuickJS)', async () => {
    const cases = [
      [[['index.js', { data: 'import x from "c"; export default () => new Response(x);' }],
        ['node_modules/c/package.json', { data: '{"main": "../../../../../../etc/passwd"}' }]], /"\.\.\/\.\.\/.*" in node_modules\/c leaves the bundle's directory/],
      [[['index.js', { data: 'import x from "c/../../../x.js"; export default () => new Response(x);' }],
        ['node_modules/c/index.js', { data: 'export default 1;' }]], /leaves the bundle's directory/],
      [[['index.js', { data: 'import x from "c/nothere.js"; export default () => new Response(x);' }],
        ['node_modules/c/index.js', { data: 'export default 1;' }]], /"nothere\.js" in node_modules\/c is missing/],
      [[['index.js', { data: 'import fs from "node:fs"; export default () => new Response(fs);' }]], /import of "node:fs" is not supported/],
      [[['index.js', { data: 'import x from "/etc/passwd"; export default () => new Response(x);' }]], /import of "\/etc\/passwd" is not supported/],
    ];
    for (const [entries, re] of cases) {
      const r = await deploy('barebad', tarball(entries));
      assert.equal(r.status, 400, `${re}: ${r.text}`);
      assert.equal(r.json().code, 'invalid_bundle');
      assert.match(r.json().error, re);
    }
  });

  test('unsafe or bad tarballs are refused with 400 and a clear message', async () => {
    const ok = ['index.js', { data: 'export default () => new Response("x")' }];
    const many = Array.from({ length: 21 }, (_, i) => [`f${i}.js`, { data: 'export default 1' }]);
    const cases = [
      [[ok, ['/etc/evil.js', { data: 'x' }]], /unsafe path.*\/etc\/evil\.js/],
      [[ok, ['../evil.js', { data: 'x' }]], /unsafe path.*\.\.\/evil\.js/],
      [[ok, ['lib/../../evil.js', { data: 'x' }]], /unsafe path/],
      [[ok, ['passwd', { type: 'symlink', target: '/etc/passwd' }]], /link in the tarball.*passwd/],
      [[ok, ['hard', { type: 'link', target: 'index.js' }]], /link in the tarball.*hard/],
      [[ok, ['null', { type: 'chr' }]], /not a regular file or directory/],
      [[ok, ['fifo', { type: 'fifo' }]], /not a regular file or directory/],
      [[ok, ...many], /more than 20 entries.*BUNDLE_MAX_FILES/],
      [[ok, ['zeros.bin', { data: '\0'.repeat(200000) }]], /over 100000 bytes.*BUNDLE_MAX_UNPACKED_BYTES/],
      [[['main.js', { data: 'export default 1' }]], /no entry file "index\.ts"/],
      [[['bunbase.json', { data: '{"entry": "../x.js"}' }], ok], /bunbase\.json/],
      [[['index.js', { data: 'import x from "../../../etc/x.js"; export default x;' }]], /leaves the bundle/],
      [[['index.ts', { data: 'export default (): Response => new Response("")' }]], /TypeScript.*runtime=bun/],
    ];
    for (const [entries, re] of cases) {
      const r = await deploy('evil', tarball(entries));
      assert.equal(r.status, 400, `${re}: ${r.text}`);
      assert.equal(r.json().code, 'invalid_bundle');
      assert.match(r.json().error, re);
    }
    let r = await deploy('evil', Buffer.from('not a tarball at all'));
    assert.equal(r.status, 400);
    assert.match(r.json().error, /tar/);
    r = await deploy('evil', tarball([ok]), { query: '?format=zip' });
    assert.equal(r.status, 400);
    assert.equal(r.json().code, 'invalid_format');
    assert.equal((await invoke('evil')).status, 404, 'nothing deployed');
    const left = fs.readdirSync(`${srv.dataDir}/functions/${p.id}/evil`);
    assert.deepEqual(left, [], 'no upload left behind');
    assert.ok(!fs.existsSync(path.join(srv.dataDir, 'functions', 'evil.js')));
  });
});
