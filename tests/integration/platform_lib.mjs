// Helpers for the platform integration tests (accounts, projects, keys, the matrix).

import http from 'node:http';
import { httpRequest } from './harness.mjs';

/** Environment for a test server: cheap Argon2id, debug routes, quiet logs, no rate limits. */
export const FAST_ENV = {
  BUNBASE_DEBUG_ROUTES: '1',
  BUNBASE_LOG_LEVEL: 'warn',
  BUNBASE_BUN_AUTH_ARGON2_OPSLIMIT: '1',
  BUNBASE_BUN_AUTH_ARGON2_MEMLIMIT_KIB: '64',
  BUNBASE_PLATFORM_RATE_LIMIT: '0',
};

export const PASSWORD = 'correct-horse-battery';

/** One request; body objects are JSON-encoded. Returns {status, headers, text, json, code}. */
export async function api(base, method, path, { token, key, cookie, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (key) h['X-Bunbase-Client-Key'] = key;
  if (cookie) h.Cookie = cookie;
  let b;
  if (body !== undefined) {
    b = typeof body === 'string' ? body : JSON.stringify(body);
    h['Content-Type'] = 'application/json';
  }
  const r = await httpRequest(`${base}${path}`, { method, headers: h, body: b });
  let json = null;
  try { json = JSON.parse(r.text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text: r.text, json, code: json && json.code };
}

/** Status and first bytes of a streaming (SSE) response; the connection is then closed. */
export function streamHead(url, headers = {}, waitMs = 300) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      const done = () => { req.destroy(); resolve({ status: res.statusCode, headers: res.headers, text, json: (() => { try { return JSON.parse(text); } catch { return null; } })() }); };
      if (res.headers['content-type'] && res.headers['content-type'].startsWith('text/event-stream')) setTimeout(done, waitMs);
      else res.on('end', done);
    });
    req.setTimeout(10000, () => req.destroy(new Error('stream timeout')));
    req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
    req.end();
  });
}

/** Registers and logs in a user; returns {id, email, access, refresh, cookie, session_id}. */
export async function newUser(base, tag) {
  const email = `${tag}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  let r = await api(base, 'POST', '/v1/auth/register', { body: { email, password: PASSWORD, name: tag } });
  if (r.status !== 201) throw new Error(`register ${email}: ${r.status} ${r.text}`);
  const id = r.json.id;
  const s = await loginUser(base, email);
  return { id, email, ...s };
}

export async function loginUser(base, email, password = PASSWORD) {
  const r = await api(base, 'POST', '/v1/auth/login', { body: { email, password } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
  const setCookie = [].concat(r.headers['set-cookie'] || [])[0] || '';
  return {
    access: r.json.access_token,
    refresh: r.json.refresh_token,
    session_id: r.json.session_id,
    cookie: setCookie.split(';')[0],
    setCookie,
  };
}

/** Creates a project as `token`; returns {id, slug, pk, sk, pkId, skId, json}. */
export async function newProject(base, token, name = 'Test Project') {
  const r = await api(base, 'POST', '/v1/projects', { token, body: { name } });
  if (r.status !== 201) throw new Error(`create project: ${r.status} ${r.text}`);
  const pk = r.json.keys.find((k) => k.kind === 'pk');
  const sk = r.json.keys.find((k) => k.kind === 'sk');
  return { id: r.json.id, slug: r.json.slug, pk: pk.key, sk: sk.key, pkId: pk.id, skId: sk.id, json: r.json };
}

export async function addMember(base, token, projectId, email, role) {
  const r = await api(base, 'POST', `/v1/projects/${projectId}/members`, { token, body: { email, role } });
  if (r.status !== 201) throw new Error(`add member ${email}: ${r.status} ${r.text}`);
  return r.json;
}

export async function newPat(base, token, body) {
  const r = await api(base, 'POST', '/v1/auth/tokens', { token, body });
  if (r.status !== 201) throw new Error(`create PAT: ${r.status} ${r.text}`);
  return r.json;
}

/** Opens an SSE stream and collects its text until the server ends it (or timeoutMs). */
export function streamUntilEnd(url, headers = {}, timeoutMs = 8000) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let text = '';
    let status = 0;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET', headers, agent: false }, (res) => {
      status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; if (opened) opened(); });
      res.on('end', () => { clearTimeout(timer); resolve({ status, text, ended: true }); });
    });
    let opened = null;
    const timer = setTimeout(() => { req.destroy(); resolve({ status, text, ended: false }); }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); if (e.code === 'ECONNRESET') resolve({ status, text, ended: true }); else reject(e); });
    req.end();
    streamUntilEnd.lastOpened = new Promise((r) => { opened = () => { opened = null; r(); }; });
  });
}
