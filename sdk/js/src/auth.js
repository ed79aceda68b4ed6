// End users of the project (tenant-auth, /v1/auth/project/…): sign-up and sign-in, a session
// kept in a storage adapter, refreshed before it expires — one refresh at a time, whatever the
// number of calls waiting for it (a refresh token is single use: a second concurrent refresh with
// the same token would be taken for a stolen copy and end the session).

import { BunBaseError } from './errors.js';
import { memoryStorage } from './storage.js';

const P = '/v1/auth/project';

export class AuthClient {
  constructor(client, opts) {
    this._c = client;
    this._storage = opts.storage || memoryStorage();
    this._storageKey = opts.storageKey || `bunbase.auth.${shortHash(client.url + '|' + client.key.slice(0, 12))}`;
    this._marginMs = opts.refreshMarginMs ?? 30000;
    this._autoRefresh = opts.autoRefresh !== false;
    this._now = opts.now || (() => Date.now());
    this._listeners = new Set();
    this._session = null;
    this._loaded = null; // promise: the stored session read once
    this._refreshing = null; // promise of the refresh in flight (single flight)
    this._timer = null;
  }

  // ------------------------------------------------------------------ sign-in methods

  /** POST /v1/auth/project/register {email, password, name?} → {user, session} (SIGNED_IN). */
  async signUp({ email, password, name } = {}) {
    const body = { email, password };
    if (name !== undefined) body.name = name;
    return this._signIn('/register', body);
  }

  /** POST /v1/auth/project/login {email, password} → {user, session} (SIGNED_IN). */
  async signInWithPassword({ email, password } = {}) {
    return this._signIn('/login', { email, password });
  }

  /** POST /v1/auth/project/anonymous → {user, session} for a new anonymous user (SIGNED_IN). */
  async signInAnonymously() {
    return this._signIn('/anonymous', undefined);
  }

  async _signIn(route, body) {
    this._needPk('sign in');
    await this._load();
    const t = await this._c.request('POST', P + route, { body: body ?? {}, auth: false });
    const s = await this._store(t, 'SIGNED_IN');
    return { user: s.user, session: s };
  }

  /**
   * The URL that starts an OAuth / OIDC sign-in with `provider` (send the browser there). The
   * provider comes back to BunBase, which sends the browser to `redirectTo` (one of the project's
   * allowed redirect URLs) with the tokens in the URL fragment: call handleOAuthCallback() there.
   */
  getOAuthSignInUrl(provider, { redirectTo } = {}) {
    this._needPk('start an OAuth sign-in');
    if (typeof provider !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(provider)) throw new TypeError('provider: a provider name from the project\'s auth config');
    if (typeof redirectTo !== 'string' || !redirectTo) throw new TypeError('redirectTo: the app URL to come back to (an allowed redirect URL)');
    return this._c._url(`${P}/oauth/${encodeURIComponent(provider)}/start`, { key: this._c.key, redirect_uri: redirectTo });
  }

  /** In a browser, navigates to getOAuthSignInUrl(); elsewhere only returns it. → {url} */
  signInWithOAuth(provider, opts = {}) {
    const url = this.getOAuthSignInUrl(provider, opts);
    if (!opts.skipBrowserRedirect && typeof globalThis.location?.assign === 'function') globalThis.location.assign(url);
    return { url };
  }

  /**
   * Completes an OAuth sign-in on the page the provider flow came back to: reads
   * `#access_token=…&refresh_token=…&expires_in=…` (or `?error=…&error_description=…`, thrown as
   * a BunBaseError with that code), stores the session, loads the user (GET …/me) and, in a
   * browser, removes the tokens from the address bar. → {user, session}, or null when the URL
   * carries neither.
   */
  async handleOAuthCallback(url) {
    const href = url ?? globalThis.location?.href;
    if (!href) throw new TypeError('handleOAuthCallback(url): no URL (outside a browser, pass the URL)');
    const u = new URL(href);
    const frag = new URLSearchParams(u.hash.startsWith('#') ? u.hash.slice(1) : u.hash);
    const err = u.searchParams.get('error') || frag.get('error');
    if (err) {
      throw new BunBaseError({ status: 0, code: err, message: u.searchParams.get('error_description') || frag.get('error_description') || err });
    }
    const access = frag.get('access_token');
    if (!access) return null;
    const t = {
      access_token: access,
      refresh_token: frag.get('refresh_token'),
      token_type: frag.get('token_type') || 'Bearer',
      expires_in: Number(frag.get('expires_in')) || undefined,
    };
    await this._load();
    await this._store(t, null);
    const user = await this._c.request('GET', `${P}/me`);
    const s = await this._store({ ...this._session, user }, 'SIGNED_IN', true);
    if (url === undefined && globalThis.history?.replaceState && globalThis.location) {
      globalThis.history.replaceState(globalThis.history.state, '', u.pathname + u.search);
    }
    return { user, session: s };
  }

  /** Ends the session on the server (POST …/logout) and here (SIGNED_OUT). */
  async signOut() {
    await this._load();
    const s = this._session;
    if (!s) return;
    try {
      // the refresh token names the session even when the access token has expired
      await this._c.request('POST', `${P}/logout`, s.refresh_token
        ? { body: { refresh_token: s.refresh_token }, auth: false }
        : { body: {}, auth: false, headers: { Authorization: `Bearer ${s.access_token}` } });
    } catch (e) {
      // already ended on the server (expired, revoked): signed out all the same
      if (!(e instanceof BunBaseError) || e.status !== 401) { await this._clear(); throw e; }
    }
    await this._clear();
  }

  // ------------------------------------------------------------------ session and user

  /** The stored session, or null. */
  async getSession() {
    await this._load();
    return this._session;
  }

  /** The signed-in user as last seen (sign-in, refresh, getUser), or null; synchronous. */
  get currentUser() {
    return this._session?.user ?? null;
  }

  /** The signed-in user fresh from the server (GET …/me), or null when signed out. */
  async getUser() {
    await this._load();
    if (!this._session) return null;
    const user = await this._c.request('GET', `${P}/me`);
    if (this._session) await this._store({ ...this._session, user }, 'USER_UPDATED', true);
    return user;
  }

  /** Uses tokens obtained elsewhere ({access_token, refresh_token, expires_in}). */
  async setSession(tokens) {
    await this._load();
    return this._store(tokens, 'SIGNED_IN');
  }

  /**
   * callback(event, session) on SIGNED_IN, SIGNED_OUT, TOKEN_REFRESHED, USER_UPDATED; first
   * INITIAL_SESSION with the stored one. Returns a function that removes the listener.
   */
  onAuthStateChange(callback) {
    const entry = { callback };
    this._listeners.add(entry);
    this._load().then(() => { if (this._listeners.has(entry)) safeCall(callback, 'INITIAL_SESSION', this._session); });
    const off = () => { this._listeners.delete(entry); };
    off.unsubscribe = off;
    return off;
  }

  /** The access token to send, refreshed first when it expires within the margin; null when signed out. */
  async getAccessToken() {
    await this._load();
    const s = this._session;
    if (!s) return null;
    if (s.expires_at && this._now() >= s.expires_at - this._margin(s)) {
      if (!s.refresh_token) return s.access_token;
      const r = await this.refreshSession();
      return r ? r.access_token : null;
    }
    return s.access_token;
  }

  /**
   * POST …/refresh with the stored refresh token → the new session (TOKEN_REFRESHED). Single
   * flight: every caller while a refresh is in flight waits for that one. A refused refresh token
   * (expired, revoked, reused) signs out.
   */
  refreshSession() {
    if (!this._refreshing) {
      this._refreshing = this._doRefresh().finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  async _doRefresh() {
    await this._load();
    const s = this._session;
    if (!s || !s.refresh_token) return null;
    let t;
    try {
      t = await this._c.request('POST', `${P}/refresh`, { body: { refresh_token: s.refresh_token }, auth: false });
    } catch (e) {
      if (e instanceof BunBaseError && (e.status === 401 || e.status === 403)) await this._clear();
      throw e;
    }
    if (this._session !== s) return this._session; // signed out or replaced meanwhile
    return this._store({ ...t, user: t.user ?? s.user }, 'TOKEN_REFRESHED');
  }

  /** A request with `token` answered 401 token_expired: refresh unless someone already did. */
  async _refreshAfterRejection(token) {
    const s = this._session;
    if (!s || !s.refresh_token) return false;
    if (s.access_token !== token) return true; // refreshed meanwhile: retry with the new token
    try { return !!(await this.refreshSession()); } catch { return false; }
  }

  _retryable(err) {
    return err.code === 'token_expired';
  }

  // ------------------------------------------------------------------ internals

  _needPk(what) {
    if (this._c.keyKind !== 'publishable') {
      throw new TypeError(`auth: a client with a secret key (sk_) cannot ${what}: end users sign in with the publishable key (pk_)`);
    }
  }

  _margin(s) {
    const life = s.expires_at - (s.issued_at || s.expires_at);
    return life > 0 ? Math.min(this._marginMs, life / 3) : this._marginMs;
  }

  _load() {
    if (!this._loaded) {
      this._loaded = (async () => {
        try {
          const raw = await this._storage.getItem(this._storageKey);
          const s = raw ? JSON.parse(raw) : null;
          if (s && typeof s.access_token === 'string') { this._session = s; this._schedule(); }
        } catch { this._session = null; }
      })();
    }
    return this._loaded;
  }

  async _store(t, event, keepTimes = false) {
    const now = this._now();
    const prev = this._session;
    const s = {
      access_token: t.access_token,
      refresh_token: t.refresh_token ?? null,
      token_type: t.token_type || 'Bearer',
      session_id: t.session_id ?? (keepTimes ? prev?.session_id : undefined) ?? null,
      issued_at: keepTimes && t.issued_at ? t.issued_at : now,
      expires_at: keepTimes && t.expires_at ? t.expires_at : expiry(t, now),
      refresh_expires_at: keepTimes && t.refresh_expires_at ? t.refresh_expires_at
        : (t.refresh_expires_in ? now + t.refresh_expires_in * 1000 : null),
      user: t.user ?? null,
    };
    if (typeof s.access_token !== 'string' || !s.access_token) throw new TypeError('session: access_token missing');
    this._session = s;
    await this._storage.setItem(this._storageKey, JSON.stringify(s));
    this._schedule();
    if (event) this._emit(event, s);
    return s;
  }

  async _clear() {
    const had = this._session !== null;
    this._session = null;
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    await this._storage.removeItem(this._storageKey);
    if (had) this._emit('SIGNED_OUT', null);
  }

  _schedule() {
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    const s = this._session;
    if (!this._autoRefresh || !s || !s.refresh_token || !s.expires_at) return;
    const delay = Math.max(0, s.expires_at - this._margin(s) - this._now());
    if (delay > 2 ** 31 - 1) return;
    this._timer = setTimeout(() => { this._timer = null; this.refreshSession().catch(() => {}); }, delay);
    if (typeof this._timer === 'object' && this._timer && typeof this._timer.unref === 'function') this._timer.unref();
  }

  _emit(event, session) {
    for (const { callback } of [...this._listeners]) safeCall(callback, event, session);
  }
}

function safeCall(cb, ...args) {
  try { cb(...args); } catch (e) { queueMicrotask(() => { throw e; }); }
}

/** When the access token expires: expires_in from the answer, else the JWT's exp. */
function expiry(t, now) {
  if (typeof t.expires_in === 'number' && t.expires_in > 0) return now + t.expires_in * 1000;
  try {
    const p = JSON.parse(b64urlDecode(t.access_token.split('.')[1]));
    if (typeof p.exp === 'number') return p.exp * 1000;
  } catch { /* not a JWT we can read */ }
  return null;
}

function b64urlDecode(s) {
  const b = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b + '==='.slice((b.length + 3) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)));
}

function shortHash(s) {
  let h = 0x811c9dc5; // FNV-1a: a storage key per (url, key), not a secret
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return (h >>> 0).toString(36);
}
