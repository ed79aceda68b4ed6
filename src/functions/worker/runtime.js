// runtime.js — the Web-standard globals of the QuickJS function runtime, in plain JavaScript over
// the worker's few native helpers (globalThis.__bb, qjs_worker.c): Headers, Request, Response,
// URL, URLSearchParams, TextEncoder, TextDecoder, atob, btoa, crypto (getRandomValues,
// randomUUID, subtle.digest), console (to the invocation log), setTimeout/setInterval,
// queueMicrotask, process.env (the worker's own environment: only what the function is given).
// Embedded into the worker at build time; evaluated once per worker before the bundle.
// What is provided and what is not: docs/functions.md ("capability matrix").
(function () {
  'use strict';
  const native = globalThis.__bb;
  delete globalThis.__bb;
  const G = globalThis;
  const define = (name, value) =>
    Object.defineProperty(G, name, { value, writable: true, configurable: true, enumerable: false });

  // ------------------------------------------------------------------ text
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(s = '') { return new Uint8Array(native.encodeUtf8(String(s))); }
    encodeInto(s, dest) {
      const b = this.encode(s);
      const n = Math.min(b.length, dest.length);
      dest.set(b.subarray(0, n));
      return { read: n === b.length ? String(s).length : undefined, written: n };
    }
  }
  class TextDecoder {
    constructor(label = 'utf-8', opts = {}) {
      const l = String(label).toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8') throw new RangeError(`TextDecoder: unsupported encoding ${label}`);
      this.fatal = !!opts.fatal;
      this.ignoreBOM = !!opts.ignoreBOM;
    }
    get encoding() { return 'utf-8'; }
    decode(buf) {
      if (buf === undefined) return '';
      let s = native.decodeUtf8(toU8(buf), this.fatal);
      if (!this.ignoreBOM && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      return s;
    }
  }
  function toU8(b) {
    if (b instanceof Uint8Array) return b;
    if (b instanceof ArrayBuffer) return new Uint8Array(b);
    if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    throw new TypeError('expected an ArrayBuffer or a typed array');
  }
  define('TextEncoder', TextEncoder);
  define('TextDecoder', TextDecoder);

  // ------------------------------------------------------------------ base64
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const B64R = {};
  for (let i = 0; i < 64; i++) B64R[B64[i]] = i;
  define('btoa', function btoa(s) {
    s = String(s);
    let out = '';
    for (let i = 0; i < s.length; i += 3) {
      const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
      if (a > 255 || b > 255 || c > 255) throw new DOMException('btoa: character out of Latin1 range', 'InvalidCharacterError');
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < s.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < s.length ? B64[n & 63] : '=');
    }
    return out;
  });
  define('atob', function atob(s) {
    s = String(s).replace(/[\t\n\f\r ]/g, '');
    if (s.length % 4 === 0) s = s.replace(/==?$/, '');
    if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) throw new DOMException('atob: invalid base64', 'InvalidCharacterError');
    let out = '';
    for (let i = 0; i < s.length; i += 4) {
      const n = (B64R[s[i]] << 18) | (B64R[s[i + 1]] << 12) | ((B64R[s[i + 2]] || 0) << 6) | (B64R[s[i + 3]] || 0);
      out += String.fromCharCode(n >> 16);
      if (i + 2 < s.length) out += String.fromCharCode((n >> 8) & 255);
      if (i + 3 < s.length) out += String.fromCharCode(n & 255);
    }
    return out;
  });
  class DOMException extends Error {
    constructor(message = '', name = 'Error') { super(message); this.name = name; }
  }
  define('DOMException', DOMException);

  // ------------------------------------------------------------------ crypto
  const subtle = {
    digest(alg, data) {
      const name = (typeof alg === 'string' ? alg : alg && alg.name || '').toUpperCase();
      try {
        return Promise.resolve(native.digest(name, toU8(data)));
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
  define('crypto', {
    getRandomValues(a) {
      if (!ArrayBuffer.isView(a) || a instanceof Float32Array || a instanceof Float64Array)
        throw new TypeError('getRandomValues: expected an integer typed array');
      if (a.byteLength > 65536) throw new DOMException('getRandomValues: more than 65536 bytes', 'QuotaExceededError');
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(new Uint8Array(native.random(a.byteLength)));
      return a;
    },
    randomUUID() {
      const b = new Uint8Array(native.random(16));
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
    subtle,
  });

  // ------------------------------------------------------------------ console
  function fmt(v, depth = 0) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack ? `${v.name}: ${v.message}\n${v.stack}` : `${v.name}: ${v.message}`;
    if (typeof v === 'function') return `[Function ${v.name || 'anonymous'}]`;
    if (typeof v === 'symbol' || typeof v === 'bigint') return v.toString();
    if (v === undefined) return 'undefined';
    try {
      const s = JSON.stringify(v);
      return s === undefined ? String(v) : s;
    } catch {
      return String(v);
    }
  }
  const log = (level) => (...args) => native.log(level, args.map((a) => fmt(a)).join(' '));
  define('console', {
    debug: log(0), log: log(1), info: log(1), warn: log(2), error: log(3),
    trace: log(0), dir: log(1),
  });

  // ------------------------------------------------------------------ timers
  let timerSeq = 0;
  const timers = new Map(); // id -> {at, fn, args, every}
  function addTimer(fn, ms, args, every) {
    if (typeof fn !== 'function') throw new TypeError('setTimeout: callback is not a function');
    ms = Math.max(0, Number(ms) || 0);
    const id = ++timerSeq;
    timers.set(id, { at: native.now() + ms, fn, args, every: every ? Math.max(1, ms) : 0 });
    return id;
  }
  define('setTimeout', (fn, ms, ...args) => addTimer(fn, ms, args, false));
  define('setInterval', (fn, ms, ...args) => addTimer(fn, ms, args, true));
  define('clearTimeout', (id) => { timers.delete(id); });
  define('clearInterval', (id) => { timers.delete(id); });
  define('queueMicrotask', (fn) => { Promise.resolve().then(fn); });
  // Runs the timers that are due; returns the ms until the next one, or -1 when none is left.
  // runTimers(true) drops every timer (between invocations).
  function runTimers(clear) {
    if (clear === true) { timers.clear(); fetches.clear(); return -1; }
    const now = native.now();
    for (const [id, t] of [...timers]) {
      if (t.at > now || !timers.has(id)) continue;
      if (t.every) t.at = now + t.every;
      else timers.delete(id);
      try {
        t.fn(...t.args);
      } catch (e) {
        native.log(3, `uncaught exception in a timer: ${fmt(e)}`);
      }
    }
    let next = -1;
    for (const t of timers.values()) {
      const d = Math.max(0, t.at - native.now());
      if (next < 0 || d < next) next = d;
    }
    return next;
  }

  // ------------------------------------------------------------------ URLSearchParams
  const formEncode = (s) =>
    encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const formDecode = (s) => {
    s = s.replace(/\+/g, ' ');
    try { return decodeURIComponent(s); } catch { return s; }
  };
  class URLSearchParams {
    constructor(init = '') {
      this._list = [];
      this._url = null;
      if (init instanceof URLSearchParams) this._list = init._list.map(([k, v]) => [k, v]);
      else if (typeof init === 'object' && init !== null) {
        if (typeof init[Symbol.iterator] === 'function') {
          for (const pair of init) {
            const p = [...pair];
            if (p.length !== 2) throw new TypeError('URLSearchParams: each pair needs two elements');
            this._list.push([String(p[0]), String(p[1])]);
          }
        } else for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
      } else this._parse(String(init));
    }
    _parse(s) {
      this._list = [];
      if (s.startsWith('?')) s = s.slice(1);
      for (const part of s.split('&')) {
        if (!part) continue;
        const i = part.indexOf('=');
        this._list.push(i < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))]);
      }
    }
    _update() { if (this._url) this._url._search = this._list.length ? '?' + this.toString() : ''; }
    get size() { return this._list.length; }
    append(k, v) { this._list.push([String(k), String(v)]); this._update(); }
    delete(k) { k = String(k); this._list = this._list.filter(([n]) => n !== k); this._update(); }
    get(k) { k = String(k); const e = this._list.find(([n]) => n === k); return e ? e[1] : null; }
    getAll(k) { k = String(k); return this._list.filter(([n]) => n === k).map(([, v]) => v); }
    has(k) { k = String(k); return this._list.some(([n]) => n === k); }
    set(k, v) {
      k = String(k); v = String(v);
      const i = this._list.findIndex(([n]) => n === k);
      if (i < 0) this._list.push([k, v]);
      else {
        this._list[i][1] = v;
        this._list = this._list.filter(([n], j) => j <= i || n !== k);
      }
      this._update();
    }
    sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
    forEach(cb, thisArg) { for (const [k, v] of this._list) cb.call(thisArg, v, k, this); }
    *entries() { for (const [k, v] of this._list) yield [k, v]; }
    *keys() { for (const [k] of this._list) yield k; }
    *values() { for (const [, v] of this._list) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this._list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
  }
  define('URLSearchParams', URLSearchParams);

  // ------------------------------------------------------------------ URL
  const URL_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):(?:\/\/(?:([^:@\/?#]*)(?::([^@\/?#]*))?@)?(\[[^\]]*\]|[^:\/?#]*)(?::(\d*))?)?([^?#]*)(\?[^#]*)?(#.*)?$/;
  const DEFAULT_PORT = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443', 'ftp:': '21' };
  function removeDots(path) {
    const out = [];
    const segs = path.split('/');
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (s === '..') { if (out.length > 1) out.pop(); if (i === segs.length - 1) out.push(''); }
      else if (s === '.') { if (i === segs.length - 1) out.push(''); }
      else out.push(s);
    }
    return out.join('/');
  }
  const encPath = (p) => p.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@\/%]/g, (c) => encodeURIComponent(c));
  const encQuery = (q) => q.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@\/?%]/g, (c) => encodeURIComponent(c));
  class URL {
    constructor(input, base) {
      input = String(input).trim();
      let m = URL_RE.exec(input);
      if (!m || (m[4] === undefined && /^(https?|wss?|ftp)$/i.test(m[1]))) {
        if (base === undefined) throw new TypeError(`Invalid URL: ${input}`);
        const b = base instanceof URL ? base : new URL(base);
        let rel = input;
        let href;
        if (rel.startsWith('//')) href = b.protocol + rel;
        else if (rel.startsWith('/')) href = b.origin + rel;
        else if (rel.startsWith('?')) href = b.origin + b.pathname + rel;
        else if (rel.startsWith('#')) href = b.origin + b.pathname + b.search + rel;
        else if (rel === '') href = b.origin + b.pathname + b.search;
        else href = b.origin + b.pathname.replace(/[^/]*$/, '') + rel;
        m = URL_RE.exec(href);
        if (!m) throw new TypeError(`Invalid URL: ${input}`);
      }
      this._protocol = m[1].toLowerCase() + ':';
      this._username = m[2] || '';
      this._password = m[3] || '';
      this._hostname = (m[4] || '').toLowerCase();
      this._port = m[5] || '';
      if (DEFAULT_PORT[this._protocol] === this._port) this._port = '';
      const special = this._protocol in DEFAULT_PORT;
      this._special = special;
      let path = m[6] || '';
      if (special && m[4] !== undefined) path = removeDots(path.replace(/\\/g, '/') || '/');
      if (special && path === '') path = '/';
      this._pathname = encPath(path);
      this._search = m[7] && m[7] !== '?' ? encQuery(m[7]) : '';
      this._hash = m[8] && m[8] !== '#' ? m[8] : '';
      this._params = new URLSearchParams(this._search);
      this._params._url = this;
    }
    get protocol() { return this._protocol; }
    set protocol(v) { this._protocol = String(v).replace(/:?$/, ':').toLowerCase(); }
    get username() { return this._username; }
    set username(v) { this._username = String(v); }
    get password() { return this._password; }
    set password(v) { this._password = String(v); }
    get hostname() { return this._hostname; }
    set hostname(v) { this._hostname = String(v).toLowerCase(); }
    get port() { return this._port; }
    set port(v) { v = String(v); this._port = DEFAULT_PORT[this._protocol] === v ? '' : v; }
    get host() { return this._hostname + (this._port ? ':' + this._port : ''); }
    set host(v) { const [h, p] = String(v).split(':'); this.hostname = h; this.port = p || ''; }
    get origin() { return this._special ? `${this._protocol}//${this.host}` : 'null'; }
    get pathname() { return this._pathname; }
    set pathname(v) { v = String(v); this._pathname = encPath(v.startsWith('/') ? v : '/' + v); }
    get search() { return this._search.length > 1 ? this._search : ''; }
    set search(v) {
      v = String(v);
      this._search = v === '' || v === '?' ? '' : encQuery(v.startsWith('?') ? v : '?' + v);
      this._params._parse(this._search);
    }
    get searchParams() { return this._params; }
    get hash() { return this._hash.length > 1 ? this._hash : ''; }
    set hash(v) { v = String(v); this._hash = v === '' || v === '#' ? '' : (v.startsWith('#') ? v : '#' + v); }
    get href() {
      const auth = this._username || this._password ? this._username + (this._password ? ':' + this._password : '') + '@' : '';
      const authority = this._hostname || this._special ? '//' + auth + this.host : '';
      return this._protocol + authority + this._pathname + this.search + this.hash;
    }
    set href(v) { const u = new URL(v); Object.assign(this, u); this._params._url = this; }
    toString() { return this.href; }
    toJSON() { return this.href; }
    static canParse(u, b) { try { new URL(u, b); return true; } catch { return false; } }
  }
  define('URL', URL);

  // ------------------------------------------------------------------ Headers
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const normValue = (v) => String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  class Headers {
    constructor(init) {
      this._list = []; // [lowercase name, value] in insertion order; repeated names kept apart
      if (init instanceof Headers) this._list = init._list.map(([k, v]) => [k, v]);
      else if (init && typeof init === 'object') {
        if (typeof init[Symbol.iterator] === 'function') {
          for (const pair of init) {
            const p = [...pair];
            if (p.length !== 2) throw new TypeError('Headers: each pair needs two elements');
            this.append(p[0], p[1]);
          }
        } else for (const k of Object.keys(init)) this.append(k, init[k]);
      }
    }
    static _check(name, value) {
      if (!TOKEN.test(name)) throw new TypeError(`Headers: invalid header name "${name}"`);
      if (value !== undefined && /[\0\r\n]/.test(value)) throw new TypeError(`Headers: invalid value for "${name}"`);
    }
    append(k, v) {
      k = String(k); v = normValue(v);
      Headers._check(k, v);
      this._list.push([k.toLowerCase(), v]);
    }
    // pairs already valid, names lowercased, values trimmed (the worker's request headers:
    // qjs_worker.c header_normalize)
    static _trusted(flat) {
      const h = new Headers();
      for (let i = 0; i < flat.length; i += 2) h._list.push([flat[i], flat[i + 1]]);
      return h;
    }
    delete(k) { k = String(k).toLowerCase(); this._list = this._list.filter(([n]) => n !== k); }
    get(k) {
      k = String(k).toLowerCase();
      const l = this._list;
      let v = null;
      for (let i = 0; i < l.length; i++) if (l[i][0] === k) v = v === null ? l[i][1] : v + ', ' + l[i][1];
      return v;
    }
    getSetCookie() { return this._list.filter(([n]) => n === 'set-cookie').map(([, v]) => v); }
    has(k) {
      k = String(k).toLowerCase();
      const l = this._list;
      for (let i = 0; i < l.length; i++) if (l[i][0] === k) return true;
      return false;
    }
    set(k, v) {
      k = String(k); v = normValue(v);
      Headers._check(k, v);
      const l = k.toLowerCase();
      const i = this._list.findIndex(([n]) => n === l);
      if (i < 0) this._list.push([l, v]);
      else {
        this._list[i][1] = v;
        this._list = this._list.filter(([n], j) => j <= i || n !== l);
      }
    }
    *entries() {
      const names = [...new Set(this._list.map(([n]) => n))].sort();
      for (const n of names) {
        if (n === 'set-cookie') for (const v of this.getSetCookie()) yield [n, v];
        else yield [n, this.get(n)];
      }
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    forEach(cb, thisArg) { for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this); }
    [Symbol.iterator]() { return this.entries(); }
  }
  define('Headers', Headers);

  // ------------------------------------------------------------------ Body, Request, Response
  const EMPTY = new Uint8Array(0);
  // Returns [Uint8Array bytes, default content type or null].
  function extractBody(body) {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === 'string') return [new Uint8Array(native.encodeUtf8(body)), 'text/plain;charset=UTF-8'];
    if (body instanceof ArrayBuffer) return [new Uint8Array(body.slice(0)), null];
    if (ArrayBuffer.isView(body)) return [new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), null];
    if (body instanceof URLSearchParams) return [new Uint8Array(native.encodeUtf8(body.toString())), 'application/x-www-form-urlencoded;charset=UTF-8'];
    if (body instanceof Blob) return [body._bytes, body.type || null];
    if (typeof body === 'object' && typeof body.getReader === 'function')
      throw new TypeError('streaming bodies (ReadableStream) are not supported by the QuickJS runtime');
    return [new Uint8Array(native.encodeUtf8(String(body))), 'text/plain;charset=UTF-8'];
  }
  class Blob {
    constructor(parts = [], opts = {}) {
      const chunks = parts.map((p) => (p instanceof Blob ? p._bytes : extractBody(p)[0] || EMPTY));
      const n = chunks.reduce((a, c) => a + c.length, 0);
      this._bytes = new Uint8Array(n);
      let o = 0;
      for (const c of chunks) { this._bytes.set(c, o); o += c.length; }
      this.type = opts.type ? String(opts.type).toLowerCase() : '';
    }
    get size() { return this._bytes.length; }
    arrayBuffer() { return Promise.resolve(this._bytes.slice().buffer); }
    text() { return Promise.resolve(native.decodeUtf8(this._bytes, false)); }
    slice(a, b, type) { return new Blob([this._bytes.slice(a, b)], { type }); }
  }
  define('Blob', Blob);

  class Body {
    _initBody(bytes) { this._bytes = bytes; this._used = false; }
    get bodyUsed() { return this._used; }
    get body() {
      if (this._bytes === null) return null;
      throw new TypeError('streaming bodies (ReadableStream) are not supported by the QuickJS runtime: use text(), json(), arrayBuffer() or bytes()');
    }
    _consume() {
      if (this._used) return Promise.reject(new TypeError('body already used'));
      this._used = true;
      return Promise.resolve(this._bytes || EMPTY);
    }
    arrayBuffer() { return this._consume().then((b) => b.slice().buffer); }
    bytes() { return this._consume().then((b) => b.slice()); }
    text() { return this._consume().then((b) => native.decodeUtf8(b, false)); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    blob() { return this._consume().then((b) => new Blob([b], { type: this.headers.get('content-type') || '' })); }
    formData() { return Promise.reject(new TypeError('formData() is not supported by the QuickJS runtime')); }
  }

  const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH'];
  const normMethod = (m) => (METHODS.includes(m.toUpperCase()) ? m.toUpperCase() : m); // the Fetch spec's normalize
  class Request extends Body {
    constructor(input, init = {}) {
      super();
      let src = null;
      if (input instanceof Request) src = input;
      this.url = src ? src.url : new URL(String(input)).href;
      let method = init.method !== undefined ? String(init.method) : src ? src.method : 'GET';
      method = normMethod(method);
      if (!TOKEN.test(method)) throw new TypeError(`Request: invalid method "${method}"`);
      this.method = method;
      this.headers = new Headers(init.headers !== undefined ? init.headers : src ? src.headers : undefined);
      let bytes = null;
      if (init.body !== undefined && init.body !== null) {
        if (method === 'GET' || method === 'HEAD') throw new TypeError('Request with GET/HEAD method cannot have body');
        const [b, ct] = extractBody(init.body);
        bytes = b;
        if (ct && !this.headers.has('content-type')) this.headers.set('content-type', ct);
      } else if (src) bytes = src._bytes;
      this._initBody(bytes);
      this.signal = init.signal || null;
      this.redirect = init.redirect || 'follow';
    }
    clone() {
      if (this._used) throw new TypeError('clone: body already used');
      return new Request(this);
    }
    // the invocation's request when its url needs no parsing: what the constructor would build
    // from (url, {method, headers}) — the method a token, the headers already valid
    static _incoming(url, method, headers, bytes) {
      const r = Object.create(Request.prototype);
      r.url = url;
      r.method = normMethod(method);
      r.headers = headers;
      r._initBody(bytes);
      r.signal = null;
      r.redirect = 'follow';
      return r;
    }
  }
  define('Request', Request);

  class Response extends Body {
    constructor(body = null, init = {}) {
      super();
      const status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599)
        throw new RangeError(`Response: status ${init.status} is not in [200, 599]`);
      this.status = status;
      this.statusText = init.statusText === undefined ? '' : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.type = 'default';
      this.redirected = false;
      this.url = '';
      const [bytes, ct] = extractBody(body);
      if (bytes && (status === 204 || status === 205 || status === 304))
        throw new TypeError(`Response: a ${status} response cannot have a body`);
      if (ct && !this.headers.has('content-type')) this.headers._list.push(['content-type', ct]);
      this._initBody(bytes);
    }
    get ok() { return this.status >= 200 && this.status < 300; }
    clone() {
      if (this._used) throw new TypeError('clone: body already used');
      const r = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
      r._bytes = this._bytes;
      return r;
    }
    static json(data, init = {}) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError('Response.json: value is not JSON-serializable');
      const headers = new Headers(init.headers);
      if (!headers.has('content-type')) headers._list.push(['content-type', 'application/json']);
      return new Response(text, { ...init, headers });
    }
    static redirect(url, status = 302) {
      if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError('Response.redirect: bad status');
      return new Response(null, { status, headers: { location: new URL(url).href } });
    }
    static error() {
      throw new TypeError('Response.error() is not supported by the QuickJS runtime');
    }
  }
  define('Response', Response);

  // fetch: the request goes to the service (the worker has no network), which makes it when the
  // host is on BUNBASE_FUNCTIONS_FETCH_ALLOW and answers; redirects are returned, not followed.
  let fetchSeq = 0;
  const fetches = new Map(); // id -> {resolve, reject, url}
  define('fetch', function fetch(input, init = {}) {
    let req;
    try {
      req = input instanceof Request && Object.keys(init).length === 0 ? input : new Request(input, init);
      if (req._used) throw new TypeError('fetch: body already used');
      req._used = true;
      const flat = [];
      for (const [k, v] of req.headers._list) flat.push(k, v);
      const b = req._bytes || EMPTY;
      const id = ++fetchSeq;
      const p = new Promise((resolve, reject) => fetches.set(id, { resolve, reject, url: req.url }));
      native.fetch(id, req.method, req.url, flat, b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer);
      return p;
    } catch (e) {
      return Promise.reject(e);
    }
  });
  function fetched(id, status, flat, body, error) {
    const f = fetches.get(id);
    if (!f) return;
    fetches.delete(id);
    if (!status) {
      f.reject(new TypeError(`fetch failed: ${error}`));
      return;
    }
    const h = new Headers();
    for (let i = 0; i < flat.length; i += 2) {
      try { h.append(flat[i], flat[i + 1]); } catch { /* dropped */ }
    }
    const res = new Response(null, { status: status < 200 ? 200 : status, headers: h });
    res.status = status;
    res._initBody(new Uint8Array(body));
    res.url = f.url;
    f.resolve(res);
  }

  define('process', { env: native.env() });
  define('self', G);

  // BunBase.admin() (admin.js, prepended to this file): the invocation's context
  let current = null;
  const installAdmin = G.__bbAdminInstall;
  delete G.__bbAdminInstall;
  if (installAdmin) installAdmin(G, () => current, (u, i) => G.fetch(u, i));

  // ------------------------------------------------------------------ dispatch (called by C)
  // handler: the bundle's default export. Resolves through native.settle(1, [status, [name,
  // value, ...], ArrayBuffer]) or native.settle(0, error).
  // canonical: qjs_worker.c found `http://${host}${url}` already in the form URL gives it
  // (url_is_canonical), so it is not parsed again.
  function dispatch(handler, method, url, flatHeaders, body, cx, canonical) {
    current = {
      projectId: process.env.BUNBASE_PROJECT_ID,
      requestId: (cx && cx[0]) || '',
      gatewayUrl: (cx && cx[1]) || '',
      token: (cx && cx[2]) || '',
    };
    let req;
    try {
      const h = Headers._trusted(flatHeaders);
      const host = h.get('host') || 'localhost';
      const full = url.startsWith('/') ? `http://${host}${url}` : url;
      const bytes = method === 'GET' || method === 'HEAD' ? null : new Uint8Array(body);
      if (canonical) req = Request._incoming(full, method, h, bytes);
      else {
        req = new Request(full, { method, headers: h });
        req._initBody(bytes);
      }
    } catch (e) {
      native.settle(0, e);
      return;
    }
    const ctx = { waitUntil() {}, passThroughOnException() {}, requestId: current.requestId, projectId: current.projectId };
    let p;
    try {
      p = typeof handler === 'function' ? handler(req, process.env, ctx) : handler.fetch(req, process.env, ctx);
    } catch (e) {
      native.settle(0, e);
      return;
    }
    Promise.resolve(p).then(
      (res) => {
        if (!(res instanceof Response)) {
          native.settle(2, `the handler must return a Response (or a promise of one), got ${res === null ? 'null' : typeof res}`);
          return;
        }
        const flat = [];
        for (const [k, v] of res.headers._list) flat.push(k, v);
        const b = res._bytes || EMPTY;
        native.settle(1, [res.status, flat, b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer]);
      },
      (e) => native.settle(0, e));
  }
  define('__bb_dispatch', dispatch);
  define('__bb_timers', runTimers);
  define('__bb_fetched', fetched);
})();
