// admin.js — BunBase.admin(): a function's client for its own project's documents and KV, the
// same file in both runtimes (prepended to worker/runtime.js for QuickJS and to bun/worker.js for
// Bun by embed_js.cmake). Each invocation carries a context (the INVOKE frame's trailing fields:
// request id, gateway URL, a short-lived bbf_ project token — docs/functions.md); the client
// sends plain fetch() calls to the gateway's key routes (/v1/database/…, /v1/kv/…) with that
// token as bearer. fetch goes through the service (the worker has no network), which always lets
// calls below the gateway URL through and sets X-Request-Id to the invoking request's id.
globalThis.__bbAdminInstall = function (G, current, fetchImpl) {
  class AdminError extends Error {
    constructor(status, body) {
      let code = 'error', msg = `HTTP ${status}`;
      try { const j = JSON.parse(body); code = j.code || code; msg = j.error || msg; } catch { /* not JSON */ }
      super(`BunBase.admin(): ${msg} (${status} ${code})`);
      this.status = status;
      this.code = code;
    }
  }
  function client() {
    const c = current();
    if (!c || !c.gatewayUrl || !c.token)
      throw new Error('BunBase.admin() is only available inside an invocation (no project token)');
    const seg = (s) => encodeURIComponent(String(s));
    async function call(method, path, body, raw) {
      const headers = { authorization: `Bearer ${c.token}` };
      let b;
      if (body !== undefined) {
        if (raw) { b = body; headers['content-type'] = 'application/octet-stream'; }
        else { b = JSON.stringify(body); headers['content-type'] = 'application/json'; }
      }
      const res = await fetchImpl(`${c.gatewayUrl}${path}`, { method, headers, body: b });
      return res;
    }
    async function json(method, path, body, okMissing) {
      const res = await call(method, path, body);
      const t = await res.text();
      if (okMissing && res.status === 404) return null;
      if (res.status >= 400) throw new AdminError(res.status, t);
      return t ? JSON.parse(t) : null;
    }
    function collection(name) {
      const base = `/v1/database/collections/${seg(name)}/documents`;
      return {
        get: (id) => json('GET', `${base}/${seg(id)}`, undefined, true),
        list: (opts = {}) => {
          const q = Object.entries(opts).map(([k, v]) => `${seg(k)}=${seg(v)}`).join('&');
          return json('GET', q ? `${base}?${q}` : base);
        },
        insert: (doc) => json('POST', base, doc),
        // replace, or create with that id (PUT answers 404 for a document that does not exist)
        set: async (id, doc) => {
          const r = await json('PUT', `${base}/${seg(id)}`, doc, true);
          return r !== null ? r : json('POST', base, { ...doc, _id: String(id) });
        },
        update: (id, patch) => json('PATCH', `${base}/${seg(id)}`, patch),
        delete: async (id) => { await json('DELETE', `${base}/${seg(id)}`); return true; },
        query: (q = {}) => json('POST', '/v1/database/documents/query', { ...q, collection: name }),
      };
    }
    const kv = {
      async get(key) {
        const res = await call('GET', `/v1/kv/${seg(key)}`);
        const t = await res.text();
        if (res.status === 404) return null;
        if (res.status >= 400) throw new AdminError(res.status, t);
        return t;
      },
      async set(key, value, opts = {}) {
        const ttl = opts.ttl ? `?ttl=${seg(opts.ttl)}` : '';
        const res = await call('PUT', `/v1/kv/${seg(key)}${ttl}`, String(value), true);
        if (res.status >= 400) throw new AdminError(res.status, await res.text());
        return true;
      },
      async delete(key) {
        const res = await call('DELETE', `/v1/kv/${seg(key)}`);
        if (res.status >= 400 && res.status !== 404) throw new AdminError(res.status, await res.text());
        return res.status !== 404;
      },
    };
    return {
      projectId: c.projectId,
      requestId: c.requestId,
      gatewayUrl: c.gatewayUrl,
      token: c.token,
      db: { collection },
      kv,
      fetch: (path, init = {}) => fetchImpl(`${c.gatewayUrl}${path}`, {
        ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${c.token}` },
      }),
    };
  }
  Object.defineProperty(G, 'BunBase', {
    value: Object.freeze({ admin: client, AdminError }), writable: false, enumerable: false, configurable: false,
  });
};
