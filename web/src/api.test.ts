// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import { Api, ApiError, defaultBase, parseJson } from './api';

function stub(status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => new Response(status === 204 ? null : text, { status, headers }));
}

describe('Api', () => {
  it('defaults to the serving origin /v1', () => {
    expect(defaultBase({ origin: 'http://localhost:3001' })).toBe('http://localhost:3001/v1');
    expect(new Api('http://x/v1/').url('/projects')).toBe('http://x/v1/projects');
  });

  it('sends JSON with the session cookie (same origin) and parses the answer', async () => {
    const f = stub(201, { id: 'p1', name: 'My App' });
    const api = new Api('http://h/v1', f);
    const p = await api.createProject('My App');
    expect(p.id).toBe('p1');
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('http://h/v1/projects');
    expect(init?.method).toBe('POST');
    expect(init?.credentials).toBe('same-origin');
    expect((init?.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(JSON.parse(String(init?.body))).toEqual({ name: 'My App' });
  });

  it('turns {error, code} into an ApiError with the status', async () => {
    const api = new Api('http://h/v1', stub(409, { error: 'this email is already registered', code: 'email_taken' }));
    const e = await api.register('a@b.c', 'password1', 'A').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(409);
    expect(e.code).toBe('email_taken');
    expect(e.message).toBe('this email is already registered');
  });

  it('a non-JSON error still has a message', async () => {
    const api = new Api('http://h/v1', stub(502, '<html>bad gateway</html>'));
    const e = await api.projects().catch((x) => x);
    expect(e.message).toBe('HTTP 502');
    expect(e.code).toBe('http_502');
  });

  it('a 401 reports an expired session, except where a 401 is an answer', async () => {
    const api = new Api('http://h/v1', stub(401, { error: 'no credential', code: 'unauthenticated' }));
    const seen = vi.fn();
    api.onUnauthorized = seen;
    await api.projects().catch(() => {});
    expect(seen).toHaveBeenCalledTimes(1);
    await api.login('a@b.c', 'x').catch(() => {});
    await api.me().catch(() => {});
    expect(seen).toHaveBeenCalledTimes(1);
  });

  it('network failures are ApiErrors too', async () => {
    const api = new Api('http://h/v1', vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    }));
    const e = await api.projects().catch((x) => x);
    expect(e.code).toBe('network_error');
  });

  it('204 is undefined; lists accept both array and wrapped shapes', async () => {
    expect(await new Api('http://h/v1', stub(204, undefined)).deleteProject('p')).toBeUndefined();
    expect(await new Api('http://h/v1', stub(200, [{ id: 'k' }])).keys('p')).toEqual([{ id: 'k' }]);
    expect(await new Api('http://h/v1', stub(200, { members: [{ user_id: 'u' }] })).members('p')).toEqual([{ user_id: 'u' }]);
  });

  it('encodes names in paths: collections, documents, KV keys with slashes', async () => {
    const f = stub(200, 'v');
    const api = new Api('http://h/v1', f);
    await api.kvGet('p1', 'greeting/en');
    expect(f.mock.calls[0][0]).toBe('http://h/v1/projects/p1/kv/greeting%2Fen');
    await api.kvSet('p1', 'a b', 'x', 60);
    expect(f.mock.calls[1][0]).toBe('http://h/v1/projects/p1/kv/a%20b?ttl=60');
    expect(f.mock.calls[1][1]?.body).toBe('x');
    const k = stub(200, [{ key: 'a/b', type: 'list', ttl_ms: null }]);
    expect(await new Api('http://h/v1', k).kvKeys('p1', 'a/*')).toEqual([{ key: 'a/b', type: 'list', ttl_ms: null }]);
    expect(k.mock.calls[0][0]).toBe('http://h/v1/projects/p1/kv?pattern=a%2F*&meta=1');
    const g = stub(200, { documents: [], cursor: null });
    await new Api('http://h/v1', g).documents('p1', 'my/col', { limit: 20, cursor: 'c1' });
    expect(g.mock.calls[0][0]).toBe('http://h/v1/projects/p1/database/collections/my%2Fcol/documents?limit=20&cursor=c1');
  });

  it('query sends the filter, cursor and explain', async () => {
    const f = stub(200, { documents: [], cursor: null, explain: { plan: 'scan' } });
    const r = await new Api('http://h/v1', f).query('p1', 'posts', { a: 1 }, { limit: 5, cursor: 'c', explain: true });
    expect(r.explain).toEqual({ plan: 'scan' });
    expect(JSON.parse(String(f.mock.calls[0][1]?.body))).toEqual({ collection: 'posts', filter: { a: 1 }, limit: 5, cursor: 'c', explain: true });
  });

  it('deploys the file as JavaScript with its runtime', async () => {
    const f = stub(201, { name: 'hello', version: 1, created: true });
    await new Api('http://h/v1', f).deploy('p1', 'hello', 'export default {}', 'bun');
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('http://h/v1/projects/p1/functions/hello?runtime=bun');
    expect(init?.method).toBe('PUT');
    expect((init?.headers as Record<string, string>)['Content-Type']).toBe('application/javascript');
  });
});

describe('parseJson', () => {
  it('gives the value or the parser message', () => {
    expect(parseJson('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    const r = parseJson('{"a":');
    expect(r.ok).toBe(false);
  });
});
