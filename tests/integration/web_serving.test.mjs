// The dashboard's files served by the platform at "/" (src/platform/platform_web.c): content types,
// caching (immutable hashed assets, no-cache index.html), the SPA fallback for browser navigations
// that never shadows the API, path traversal, and the knob BUNBASE_PLATFORM_WEB_DIR (a missing
// build answers a clear 503 while the API works). A fake build in a temp dir keeps this test
// independent of web/'s own build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, httpRequest, makeTempDir, removeTempDir } from './harness.mjs';

let srv;
let web;
let outside;
const INDEX = '<!doctype html><html><body><div id="root"></div><script type="module" src="/assets/index-AbC123.js"></script></body></html>';
const JS = 'console.log("console bundle");';

before(async () => {
  web = makeTempDir('bb-web-dist-');
  outside = makeTempDir('bb-web-outside-');
  fs.mkdirSync(path.join(web, 'assets'));
  fs.writeFileSync(path.join(web, 'index.html'), INDEX);
  fs.writeFileSync(path.join(web, 'assets', 'index-AbC123.js'), JS);
  fs.writeFileSync(path.join(web, 'assets', 'index-Zz9.css'), 'body{margin:0}');
  fs.writeFileSync(path.join(web, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  fs.writeFileSync(path.join(web, '.env'), 'SECRET=hidden');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside the web dir');
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(web, 'assets', 'link.js'));
  srv = await startServer({ services: 'bun-auth,platform', env: { BUNBASE_PLATFORM_WEB_DIR: web } });
});

after(async () => {
  await srv?.stop();
  removeTempDir(web);
  removeTempDir(outside);
});

const get = (p, headers = {}, method = 'GET') => httpRequest(`${srv.url}${p}`, { method, headers });
const html = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
const header = (r, n) => r.headers[n.toLowerCase()];

/** curl with the path sent as is (no dot-segment normalization), like an attacker would. */
function curl(p) {
  const out = execFileSync('curl', ['-s', '--path-as-is', '-H', 'Accept: text/html', '-o', '-', '-w', '\n%{http_code}',
    `${srv.url}${p}`], { encoding: 'utf8' });
  const i = out.lastIndexOf('\n');
  return { body: out.slice(0, i), status: Number(out.slice(i + 1)) };
}

test('/ is index.html, no-cache, text/html', async () => {
  for (const p of ['/', '/index.html']) {
    const r = await get(p);
    assert.equal(r.status, 200, p);
    assert.equal(r.text, INDEX);
    assert.match(header(r, 'content-type'), /^text\/html/);
    assert.equal(header(r, 'cache-control'), 'no-cache');
    assert.match(header(r, 'content-security-policy'), /default-src 'self'.*frame-ancestors 'none'/);
  }
  const h = await get('/', {}, 'HEAD');
  assert.equal(h.status, 200);
  assert.equal(h.text, '');
});

test('hashed assets: their type and immutable caching; other files no-cache', async () => {
  const js = await get('/assets/index-AbC123.js');
  assert.equal(js.status, 200);
  assert.equal(js.text, JS);
  assert.match(header(js, 'content-type'), /^text\/javascript/);
  assert.equal(header(js, 'cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(header(js, 'x-content-type-options'), 'nosniff');
  const css = await get('/assets/index-Zz9.css');
  assert.match(header(css, 'content-type'), /^text\/css/);
  const svg = await get('/favicon.svg');
  assert.equal(svg.status, 200);
  assert.equal(header(svg, 'content-type'), 'image/svg+xml');
  assert.equal(header(svg, 'cache-control'), 'no-cache');
  // a missing asset is a 404, never the index page (even for a browser)
  const miss = await get('/assets/index-gone.js', html);
  assert.equal(miss.status, 404);
  assert.equal(JSON.parse(miss.text).code, 'not_found');
});

test('SPA fallback: a browser navigation to a page gets index.html; other clients 404', async () => {
  for (const p of ['/projects', '/projects/01ABC/database/posts', '/login?next=%2Fprojects']) {
    const r = await get(p, html);
    assert.equal(r.status, 200, p);
    assert.equal(r.text, INDEX, p);
    assert.equal(header(r, 'cache-control'), 'no-cache');
  }
  const api = await get('/projects/01ABC', { Accept: 'application/json' });
  assert.equal(api.status, 404);
  assert.equal(JSON.parse(api.text).code, 'not_found');
  // a file name that is not there is not a page
  assert.equal((await get('/robots.txt', html)).status, 404);
});

test('the fallback never shadows the API, /health, /metrics or /.well-known', async () => {
  for (const p of ['/v1/nope', '/api/nope', '/v1', '/health/x', '/metrics/x', '/.well-known/nope']) {
    const r = await get(p, html);
    assert.equal(r.status, 404, p);
    assert.equal(JSON.parse(r.text).code, 'not_found', p);
  }
  const st = await get('/v1/instance/status', html);
  assert.equal(st.status, 200);
  assert.equal(typeof JSON.parse(st.text).deployment_mode, 'string');
  assert.equal((await get('/health', html)).status, 200);
  assert.equal((await get('/api/instance/status', html)).status, 200);
  // a known path with another method stays 405, not the console
  const m = await get('/v1/instance/status', html, 'DELETE');
  assert.equal(m.status, 405);
  // the console's pages are GET only
  assert.equal((await get('/projects', html, 'POST')).status, 404);
});

test('path traversal, encoded or not, hidden files and symlinks out of the dir are never served', async () => {
  for (const p of ['/..%2f..%2fetc/passwd', '/../../etc/passwd', '/assets/../../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd', '/assets/..%5c..%5cetc%5cpasswd', '/.env', '/assets/link.js']) {
    const r = curl(p);
    assert.ok(!/root:/.test(r.body), `${p} leaked /etc/passwd`);
    assert.ok(!/SECRET=hidden|outside the web dir/.test(r.body), `${p} leaked a file`);
    assert.ok(r.status === 404 || (r.status === 200 && r.body === INDEX) || r.status === 400, `${p}: ${r.status}`);
  }
  assert.equal(curl('/assets/link.js').status, 404);
  assert.equal(curl('/.env').status, 404);
});

test('no index.html in BUNBASE_PLATFORM_WEB_DIR: a clear 503 on /, the API still works', async () => {
  const saved = path.join(web, 'index.saved');
  fs.renameSync(path.join(web, 'index.html'), saved);
  try {
    for (const p of ['/', '/projects']) {
      const r = await get(p, html);
      assert.equal(r.status, 503, p);
      const b = JSON.parse(r.text);
      assert.equal(b.code, 'console_unavailable');
      assert.match(b.error, /make build/);
    }
    assert.equal((await get('/v1/instance/status')).status, 200);
  } finally {
    fs.renameSync(saved, path.join(web, 'index.html'));
  }
  assert.equal((await get('/')).status, 200);
});
