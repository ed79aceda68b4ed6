// The dashboard in a real browser (Debian's chromium driven by playwright-core from web/'s npm
// packages) against live bunbased processes serving web/dist: a new self-hosted instance's first
// administrator, then on a cloud instance sign up → create a project → create a collection with a
// rule → insert and edit a document while the realtime viewer (a second tab) shows it arrive →
// set a KV key → deploy and invoke a function and see its log line → rotate a key → sign out.
// Every page is screenshotted under <build>/screenshots/; any console error, page error, failed
// request or HTTP error answer fails the journey.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, SOURCE_DIR, BUILD_DIR } from './harness.mjs';

const CHROMIUM = process.env.BB_CHROMIUM || '/usr/bin/chromium';
const PW = path.join(SOURCE_DIR, 'web', 'node_modules', 'playwright-core', 'index.mjs');
const DIST = path.join(SOURCE_DIR, 'web', 'dist', 'index.html');
const SHOTS = path.join(BUILD_DIR, 'screenshots');

function prerequisites() {
  const missing = [];
  if (!fs.existsSync(CHROMIUM)) missing.push(`chromium (${CHROMIUM})`);
  if (!fs.existsSync(PW)) missing.push('web/node_modules (playwright-core)');
  if (missing.length) return `missing ${missing.join(' and ')}: run scripts/setup.sh`;
  if (!fs.existsSync(DIST)) return 'web/dist/index.html is missing: run make build (after scripts/setup.sh)';
  return null;
}

let selfHosted, cloud, browser;

before(async () => {
  const why = prerequisites();
  if (why) throw new Error(why);
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (f.endsWith('.png')) fs.rmSync(path.join(SHOTS, f), { force: true });
  const { chromium } = await import(PW);
  [selfHosted, cloud, browser] = await Promise.all([
    startServer({ services: 'bun-auth,platform', env: { BUNBASE_PLATFORM_MODE: 'self_hosted' } }),
    startServer({}),
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    }),
  ]);
});

after(async () => {
  await browser?.close();
  await Promise.all([selfHosted?.stop(), cloud?.stop()]);
});

/** A page that records every console error, page error, failed request and HTTP error answer. */
function watch(page, problems) {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const err = r.failure()?.errorText ?? '';
    // an EventSource the console closes (leaving the page, stopping a viewer) is aborted: normal
    if (/ERR_ABORTED/.test(err) && /\/(subscribe|auth\/stream)(\?|$)/.test(r.url())) return;
    problems.push(`request failed: ${r.method()} ${r.url()} ${err}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  page.setDefaultTimeout(15000);
  return page;
}

/** Polls cond (async) every 100 ms for up to 10 s. */
async function until(cond, what) {
  for (let i = 0; i < 100; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let shot = 0;
async function snap(page, name) {
  shot++;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

test('the dashboard journey in chromium', async () => {
  const problems = [];
  const context = await browser.newContext();
  const page = watch(await context.newPage(), problems);
  try {
    await journey(context, page, problems);
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {});
    if (problems.length) e.message += `\nrecorded problems:\n${problems.join('\n')}`;
    throw e;
  } finally {
    await context.close();
  }
});

async function journey(context, page, problems) {
  const ok = (step) => assert.deepEqual(problems, [], `after ${step}`);

  // ---- a new self-hosted instance: / leads to the first administrator's setup
  const A = selfHosted.url;
  await page.goto(`${A}/`);
  await page.waitForURL(`${A}/setup`);
  await page.getByRole('heading', { name: 'Create the administrator' }).waitFor();
  await snap(page, 'setup');
  await page.getByLabel('Name').fill('Admin');
  await page.getByLabel('Email').fill('admin@example.com');
  await page.getByLabel('Password', { exact: true }).fill('admin-password-1');
  await page.getByLabel('Confirm password').fill('admin-password-1');
  await page.getByRole('button', { name: 'Create the administrator' }).click();
  await page.waitForURL(`${A}/projects`);
  await page.getByText('No projects yet').waitFor();
  await page.getByText('admin@example.com').waitFor();
  await snap(page, 'setup-projects');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${A}/login`);
  ok('setup');

  // ---- a cloud instance: sign up
  const B = cloud.url;
  await page.goto(`${B}/`);
  await page.waitForURL(`${B}/login`);
  await snap(page, 'login');
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.waitForURL(`${B}/signup`);
  await page.getByLabel('Name').fill('Ada');
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password', { exact: true }).fill('correct-horse-battery');
  await page.getByLabel('Confirm password').fill('correct-horse-battery');
  await snap(page, 'signup');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(`${B}/projects`);
  ok('sign up');

  // ---- the account: this browser's session, a personal access token shown once
  await page.getByRole('link', { name: 'account of ada@example.com' }).click();
  await page.getByText('this browser').waitFor();
  await page.getByLabel('Token name').fill('ci');
  await page.getByRole('button', { name: 'Create token' }).click();
  assert.match(await page.getByTestId('new-token').textContent(), /^bbp_/);
  await page.getByRole('cell', { name: 'ci', exact: true }).waitFor();
  await snap(page, 'account');
  await page.getByRole('link', { name: 'BunBase' }).click();
  await page.waitForURL(`${B}/projects`);
  ok('account');

  // ---- create a project: its keys are shown once
  await page.getByLabel('New project name').fill('Journey');
  await page.getByRole('button', { name: 'Create project' }).click();
  const firstPk = await page.getByTestId('key-pk').textContent();
  assert.match(firstPk, /^pk_/);
  await snap(page, 'project-created');
  await page.getByRole('button', { name: 'Open Journey' }).click();
  await page.waitForURL(/\/projects\/[^/]+$/);
  const pid = new URL(page.url()).pathname.split('/')[2];
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await snap(page, 'overview');
  ok('create project');

  // ---- a collection with a rule
  await page.getByRole('link', { name: 'Database' }).click();
  await page.getByText('No collections yet').waitFor();
  await page.getByLabel('Collection name').fill('posts');
  await page.getByLabel(/^Rules/).fill('{"read": "resource.data.published == true", "write": "false"}');
  await snap(page, 'database');
  await page.getByRole('button', { name: 'Create collection' }).click();
  await page.waitForURL(`${B}/projects/${pid}/database/posts`);
  await page.getByText('No documents yet.').waitFor();
  await page.getByRole('tab', { name: 'Rules' }).click();
  assert.match(await page.getByLabel(/^Rules/).inputValue(), /resource\.data\.published == true/);
  await page.getByRole('tab', { name: 'Documents' }).click();
  ok('create collection');

  // ---- the realtime viewer, in a second tab, watches the collection
  const live = watch(await context.newPage(), problems);
  await live.goto(`${B}/projects/${pid}/realtime`);
  await live.getByRole('button', { name: 'Watch' }).click();
  await live.getByText('Live: posts').waitFor();
  // ... and a third tab a query: the document enters it only once edited
  const query = watch(await context.newPage(), problems);
  await query.goto(`${B}/projects/${pid}/realtime`);
  await query.getByLabel(/^Only documents matching/).fill('{"title": "Hello, edited"}');
  await query.getByRole('button', { name: 'Watch' }).click();
  await query.getByText('Live: posts (query)').waitFor();

  // ---- insert a document, then edit it (the JSON editor validates first)
  await page.getByRole('button', { name: 'New document' }).click();
  const editor = page.getByLabel('Document (JSON)');
  await editor.fill('{"_id": "p1", "title": "Hello"');
  await page.getByText(/JSON|Expected|Unexpected/).first().waitFor();
  assert.equal(await page.getByRole('button', { name: 'Save document' }).isDisabled(), true);
  await editor.fill('{"_id": "p1", "title": "Hello", "published": true}');
  await page.getByRole('button', { name: 'Save document' }).click();
  await page.getByRole('cell', { name: 'p1', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.getByLabel('Document (JSON)').fill('{"_id": "p1", "title": "Hello, edited", "published": true}');
  await page.getByRole('button', { name: 'Save document' }).click();
  await page.getByText('"title":"Hello, edited"').waitFor();
  await snap(page, 'documents');
  // a query with an error shows it at the query bar
  await page.getByLabel(/^Filter/).fill('{"title": {"$nope": 1}}');
  await page.getByRole('button', { name: 'Run query' }).click();
  await page.getByTestId('query-error').waitFor();
  problems.splice(0, problems.length, ...problems.filter((p) => !/HTTP 400: POST .*\/documents\/query$|status of 400/.test(p)));
  await page.getByLabel(/^Filter/).fill('{"published": true}');
  await page.getByRole('button', { name: 'Run query' }).click();
  await page.getByText('"title":"Hello, edited"').waitFor();
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.getByText('Scans the whole collection (no index used)').waitFor();
  await snap(page, 'explain');
  ok('documents');

  // ---- ... and the realtime viewer saw both changes
  await live.locator('.ev-added', { hasText: 'p1' }).waitFor();
  await live.locator('.ev-modified', { hasText: 'Hello, edited' }).waitFor();
  await snap(live, 'realtime');
  await live.close();
  await query.locator('.ev-added', { hasText: 'Hello, edited' }).waitFor();
  assert.equal(await query.locator('.ev').count(), 1, 'the query saw only the edit that matched');
  await snap(query, 'realtime-query');
  await query.close();
  ok('realtime');

  // ---- key-value
  await page.getByRole('link', { name: 'Key-value' }).click();
  await page.getByText('No key matches *').waitFor();
  await page.getByLabel('Key', { exact: true }).fill('greeting/en');
  await page.getByLabel('Value').fill('hello web');
  await page.getByLabel(/^Expires after/).fill('3600');
  await page.getByRole('button', { name: 'Set key' }).click();
  await page.getByRole('button', { name: 'greeting/en', exact: true }).waitFor();
  await page.getByTestId('kv-value').filter({ hasText: 'hello web' }).waitFor();
  // the key's type and remaining TTL, in the list and on the selected key (GET …/kv?meta=1)
  const kvMeta = await page.getByTestId('kv-meta').first().textContent();
  assert.match(kvMeta, /^string · expires in (59m \d+s|1h 0m)$/, kvMeta);
  assert.match(await page.getByTestId('kv-selected-meta').textContent(), /^string · expires in /);
  await snap(page, 'kv');
  ok('kv');

  // ---- deploy a function from the browser, invoke it, read its log line
  await page.getByRole('link', { name: 'Functions' }).click();
  await page.getByText('No functions yet').waitFor();
  await page.getByLabel('Function name').fill('hello');
  await snap(page, 'functions');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.waitForURL(`${B}/projects/${pid}/functions/hello`);
  await page.getByText('v1 (active)').waitFor();
  await page.getByRole('button', { name: 'Invoke' }).click();
  await page.getByTestId('invoke-status').filter({ hasText: '200' }).waitFor({ timeout: 30000 });
  assert.match(await page.getByTestId('invoke-body').textContent(), /Hello, Ada!/);
  const logLine = page.locator('pre.log-lines', { hasText: 'hello Ada' });
  for (let i = 0; i < 20 && !(await logLine.count()); i++) {
    await page.getByRole('button', { name: 'Refresh logs' }).click();
    await page.waitForTimeout(250);
  }
  await logLine.first().waitFor();
  await page.getByLabel(/^Replace all variables/).fill('GREETING=hi');
  await page.getByRole('button', { name: 'Save environment' }).click();
  await page.locator('code.tag', { hasText: 'GREETING' }).waitFor();
  // a second version from the browser, then roll back to the first
  await page.getByLabel('Code').fill("export default { fetch() { return new Response('v2'); } };");
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.getByText('v2 (active)').waitFor();
  await page.getByRole('button', { name: 'Roll back to the previous version' }).click();
  await page.getByText('v1 (active)').waitFor();
  await snap(page, 'function');
  ok('functions');

  // ---- rotate the publishable key: a new value, shown once
  await page.getByRole('link', { name: 'Keys' }).click();
  await page.getByRole('button', { name: 'Regenerate pk' }).click();
  const newPk = await page.getByTestId('key-pk').textContent();
  assert.match(newPk, /^pk_/);
  assert.notEqual(newPk, firstPk);
  await page.getByRole('cell', { name: 'publishable', exact: true }).first().waitFor();
  await snap(page, 'keys');
  // the old key no longer works, the new one does
  const probe = async (k) => (await fetch(`${B}/v1/project`, { headers: { 'X-Bunbase-Client-Key': k } })).status;
  assert.equal(await probe(newPk), 200);
  assert.equal(await probe(firstPk), 401);
  ok('rotate key');

  // ---- the audit page shows the rotation: who, which key, never its value
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit' }).waitFor();
  await page.getByLabel('Action').selectOption('key.*');
  await page.getByRole('button', { name: 'Filter' }).click();
  const rotation = page.getByRole('row', { name: /key\.regenerate/ });
  await rotation.waitFor();
  assert.match(await rotation.textContent(), /kind=pk/);
  assert.match(await rotation.textContent(), new RegExp(`prefix=${newPk.slice(0, 12)}`));
  assert.ok(!(await page.content()).includes(newPk), 'the new key is not on the audit page');
  await snap(page, 'audit');
  ok('audit');

  // ---- members: a colleague who has an account joins as viewer, becomes member, leaves
  const reg = await fetch(`${B}/v1/auth/register`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'grace@example.com', password: 'hopper-1906-cobol', name: 'Grace' }),
  });
  assert.equal(reg.status, 201);
  await page.getByRole('link', { name: 'Members' }).click();
  await page.getByLabel('Email of a registered developer').fill('grace@example.com');
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByRole('button', { name: 'Add member' }).click();
  const role = page.getByLabel('role of grace@example.com');
  await role.waitFor();
  assert.equal(await role.inputValue(), 'viewer');
  await role.selectOption('member');
  await until(async () => (await page.getByLabel('role of grace@example.com').inputValue()) === 'member', 'the new role');
  await page.reload(); // it is the server's
  await until(async () => (await page.getByLabel('role of grace@example.com').inputValue()) === 'member', 'the stored role');
  await snap(page, 'members');
  await page.getByRole('row', { name: /grace@example\.com/ }).getByRole('button', { name: 'Remove' }).click();
  await page.getByLabel('role of grace@example.com').waitFor({ state: 'detached' });
  ok('members');

  // ---- the project's own users: enable email sign-in, add one, disable, delete
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByText('No users have signed up yet.').waitFor();
  await page.getByRole('button', { name: 'Enable email sign-in' }).click();
  await page.getByRole('button', { name: 'Disable email sign-in' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill('user@example.com');
  await page.getByLabel('Password', { exact: true }).fill('user-password-123');
  await page.getByRole('button', { name: 'Add user' }).click();
  const userRow = page.getByRole('row', { name: /user@example\.com/ });
  await userRow.getByRole('button', { name: 'Disable' }).click();
  await userRow.getByRole('cell', { name: 'disabled', exact: true }).waitFor();
  await snap(page, 'users');
  await userRow.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('No users have signed up yet.').waitFor();
  ok('end users');

  // ---- settings: rename, CORS origins; a scratch project deleted with its name typed
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByLabel('Project name').fill('Journey App');
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.locator('.project-name', { hasText: 'Journey App' }).waitFor();
  await page.getByLabel(/^Browser origins allowed/).fill('https://app.example.com');
  await page.getByRole('button', { name: 'Save origins' }).click();
  await until(async () => (await page.getByLabel(/^Browser origins allowed/).inputValue()) === 'https://app.example.com'
    && (await page.getByRole('button', { name: 'Save origins' }).isDisabled()), 'the saved origins shown');
  await snap(page, 'settings');
  const cors = await (await fetch(`${B}/v1/projects/${pid}/cors`, {
    headers: { Authorization: `Bearer ${(await (await fetch(`${B}/v1/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: 'correct-horse-battery' }),
    })).json()).access_token}` },
  })).json();
  assert.deepEqual(cors.allowed_origins, ['https://app.example.com']);
  await page.getByRole('link', { name: 'BunBase' }).click();
  await page.getByLabel('New project name').fill('Scratch');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('button', { name: 'Open Scratch' }).click();
  await page.getByRole('link', { name: 'Settings' }).click();
  const del = page.getByRole('button', { name: 'Delete project' });
  await page.getByLabel(/^Type Scratch/).fill('scratch');
  assert.equal(await del.isDisabled(), true);
  await page.getByLabel(/^Type Scratch/).fill('Scratch');
  await del.click();
  await page.waitForURL(`${B}/projects`);
  await page.getByRole('link', { name: 'Journey App' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Scratch' }).count(), 0);
  await page.goto(`${B}/projects/${pid}/keys`);
  ok('settings');

  // ---- the session ends elsewhere (every session signed out from another client): the open
  // console notices on its own (GET /v1/auth/stream), goes to sign-in, then back to this page
  const signIn = async () => {
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password', { exact: true }).fill('correct-horse-battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
  };
  const login = await (await fetch(`${B}/v1/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.com', password: 'correct-horse-battery' }),
  })).json();
  const all = await fetch(`${B}/v1/auth/logout-all`, {
    method: 'POST', headers: { Authorization: `Bearer ${login.access_token}`, 'Content-Type': 'application/json' }, body: '{}',
  });
  assert.equal(all.status, 200);
  const keysPage = `/projects/${pid}/keys`;
  await page.waitForURL(`${B}/login?next=${encodeURIComponent(keysPage)}`);
  await page.getByText('Your session was ended').waitFor();
  await snap(page, 'session-ended');
  await signIn();
  await page.waitForURL(`${B}${keysPage}`);
  await page.getByRole('heading', { name: 'Keys' }).waitFor();
  ok('session ended elsewhere');

  // ---- sign out: back to sign-in, and the pages need a session again
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${B}/login`);
  await snap(page, 'signed-out');
  await page.goto(`${B}/projects/${pid}/kv`);
  await page.waitForURL(`${B}/login?next=${encodeURIComponent(`/projects/${pid}/kv`)}`);
  // signing in again, with the keyboard alone, returns to where the user was
  await page.getByLabel('Email').focus();
  await page.keyboard.type('ada@example.com');
  await page.keyboard.press('Tab');
  await page.keyboard.type('correct-horse-battery');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Sign in');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${B}/projects/${pid}/kv`);
  await page.getByRole('button', { name: 'greeting/en', exact: true }).waitFor();
  ok('sign out');
}
