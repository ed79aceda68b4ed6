// The client: one base URL, one project key, the HTTP plumbing every module shares.

import { BunBaseError } from './errors.js';
import { AuthClient } from './auth.js';
import { Database } from './db.js';
import { KV } from './kv.js';
import { Functions } from './functions.js';

const KEY_RE = /^(pk|sk)_[A-Za-z0-9_-]{8,200}$/;

export class BunBaseClient {
  constructor(url, key, options = {}) {
    if (typeof url !== 'string' || !/^https?:\/\/[^/]/i.test(url)) {
      throw new TypeError('createClient: url must be an http(s) URL, e.g. "http://localhost:3001"');
    }
    if (typeof key !== 'string' || !KEY_RE.test(key)) {
      throw new TypeError('createClient: key must be a project key: pk_… (apps, browsers) or sk_… (servers)');
    }
    const f = options.fetch || globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('createClient: no fetch available (Node >= 18 or a browser, or options.fetch)');
    this.url = url.replace(/\/+$/, '');
    this.key = key;
    /** 'publishable' (pk_: the collection rules apply) or 'secret' (sk_: full access — servers only) */
    this.keyKind = key.startsWith('sk_') ? 'secret' : 'publishable';
    this.options = options;
    this._fetch = (...a) => f(...a);
    this._headers = { ...(options.headers || {}) };
    this._timeoutMs = options.timeoutMs ?? 30000;
    this.auth = new AuthClient(this, options.auth || {});
    this.db = new Database(this, options.db || {});
    this.kv = new KV(this);
    this.functions = new Functions(this);
  }

  /** The project the key belongs to: GET /v1/project → {project, config}. */
  getProject() {
    return this.request('GET', '/v1/project', { auth: false });
  }

  /** Absolute URL of a path with an optional query object (undefined/null values are left out). */
  _url(path, query) {
    let u = this.url + path;
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) qs.append(k, String(v));
      const s = qs.toString();
      if (s) u += (u.includes('?') ? '&' : '?') + s;
    }
    return u;
  }

  /** Headers of a request: the key, the signed-in user's access token (refreshed first if due). */
  async _authHeaders(auth = true) {
    const h = { ...this._headers, 'X-Bunbase-Client-Key': this.key };
    if (auth) {
      const token = await this.auth.getAccessToken();
      if (token) h.Authorization = `Bearer ${token}`;
    }
    return h;
  }

  /**
   * One request. body: a plain object/array is sent as JSON; a string, Uint8Array, ArrayBuffer or
   * Blob as is (contentType). Answers: 204/empty → null, JSON → parsed, else text (responseType
   * 'bytes' → Uint8Array, 'response' → the Response). Non-2xx → BunBaseError. A 401 token_expired
   * while signed in refreshes the session once (single flight) and retries.
   */
  async request(method, path, opts = {}) {
    const { body, query, headers, contentType, responseType = 'auto', auth = true, signal, notFoundNull = false } = opts;
    for (let attempt = 0; ; attempt++) {
      const h = { ...(await this._authHeaders(auth)), ...(headers || {}) };
      let payload;
      if (body !== undefined && body !== null) {
        if (typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer ||
            (typeof Blob !== 'undefined' && body instanceof Blob)) {
          payload = body;
          if (contentType) h['Content-Type'] = contentType;
        } else {
          payload = JSON.stringify(body);
          h['Content-Type'] = 'application/json';
        }
      }
      const res = await this._send(this._url(path, query), { method, headers: h, body: payload, signal });
      if (res.ok) return readBody(res, responseType);
      if (notFoundNull && res.status === 404) { await res.body?.cancel?.().catch(() => {}); return null; }
      const err = await BunBaseError.fromResponse(res);
      if (attempt === 0 && auth && err.status === 401 && h.Authorization && this.auth._retryable(err)) {
        if (await this.auth._refreshAfterRejection(h.Authorization.slice(7))) continue;
      }
      throw err;
    }
  }

  /** fetch with the client's timeout; transport failures become BunBaseError. */
  async _send(url, init, { timeoutMs = this._timeoutMs } = {}) {
    const ctl = new AbortController(); // aborts the request and, later, a streamed body
    let timedOut = false;
    const outer = init.signal;
    const onAbort = () => ctl.abort(outer.reason);
    if (outer) {
      if (outer.aborted) ctl.abort(outer.reason);
      else outer.addEventListener('abort', onAbort, { once: true });
    }
    const timer = timeoutMs > 0 ? setTimeout(() => { timedOut = true; ctl.abort(); }, timeoutMs) : null;
    try {
      return await this._fetch(url, { ...init, signal: ctl.signal });
    } catch (e) {
      throw BunBaseError.fromFetchError(e, { timedOut });
    } finally {
      if (timer) clearTimeout(timer); // up to the answer's headers; a stream has its own watchdog
      if (outer) outer.removeEventListener('abort', onAbort);
    }
  }
}

async function readBody(res, responseType) {
  if (responseType === 'response') return res;
  if (responseType === 'bytes') return new Uint8Array(await res.arrayBuffer());
  if (responseType === 'text') return res.text();
  if (res.status === 204) return null;
  const text = await res.text();
  if (responseType === 'json') return text ? JSON.parse(text) : null;
  if (!text) return null;
  const ct = res.headers.get('content-type') || '';
  if (/\bjson\b/i.test(ct)) {
    try { return JSON.parse(text); } catch { return text; }
  }
  return text;
}

/** createClient(url, key, options): the SDK's entry point. */
export function createClient(url, key, options) {
  return new BunBaseClient(url, key, options);
}
