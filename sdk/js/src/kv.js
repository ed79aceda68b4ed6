// Key-value (bunder-manager through the gateway, /v1/kv/…): raw bytes under any key. sk_ (or a
// developer) only — a pk_ gets 403. Keys are percent-encoded here, so "/" and any byte work.

const K = '/v1/kv';

function keyPath(key) {
  if (typeof key === 'string') {
    if (!key) throw new TypeError('kv: an empty key');
    return `${K}/${encodeURIComponent(key)}`;
  }
  if (key instanceof Uint8Array) {
    if (!key.length) throw new TypeError('kv: an empty key');
    let s = '';
    for (const b of key) s += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    return `${K}/${s}`;
  }
  throw new TypeError('kv: a key is a string or a Uint8Array');
}

export class KV {
  constructor(client) { this._c = client; }

  /** The value, or null when the key does not exist. as: 'text' (default), 'bytes', 'json'. */
  async get(key, { as = 'text' } = {}) {
    if (as !== 'text' && as !== 'bytes' && as !== 'json') throw new TypeError("kv.get: as is 'text', 'bytes' or 'json'");
    const v = await this._c.request('GET', keyPath(key), { notFoundNull: true, responseType: as === 'bytes' ? 'bytes' : 'text' });
    if (v === null || as !== 'json') return v;
    return JSON.parse(v);
  }

  /**
   * Stores a value: a string, Uint8Array or ArrayBuffer as is, anything else as JSON.
   * ttl: seconds until it expires (1 … 3153600000).
   */
  async set(key, value, { ttl } = {}) {
    if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) throw new TypeError('kv.set: ttl is a positive integer (seconds)');
    let body = value;
    if (!(typeof value === 'string' || value instanceof Uint8Array || value instanceof ArrayBuffer)) body = JSON.stringify(value);
    if (value instanceof ArrayBuffer) body = new Uint8Array(value);
    await this._c.request('PUT', keyPath(key), { body, contentType: 'application/octet-stream', query: { ttl }, responseType: 'text' });
  }

  /** Deletes a key → true, or false when it did not exist. */
  async del(key) {
    const r = await this._c.request('DELETE', keyPath(key), { notFoundNull: true, responseType: 'text' });
    return r !== null;
  }

  /**
   * Atomically adds `by` (an integer, default 1) to the integer stored at key (a missing key
   * counts as 0) → the new value. A value that is no integer: BunBaseError 409 `not_integer`;
   * past the 64-bit range: 400 `overflow`. Values beyond Number.MAX_SAFE_INTEGER lose precision.
   */
  async incr(key, by = 1) {
    if (!Number.isSafeInteger(by)) throw new TypeError('kv.incr: by is an integer');
    const r = await this._c.request('POST', `${keyPath(key)}/incr`, { body: { by }, responseType: 'json' });
    return r.value;
  }

  /** A key's {key, type, ttl_ms} (ttl_ms: remaining milliseconds, null without expiry), or null. */
  meta(key) {
    return this._c.request('GET', keyPath(key), { query: { meta: 1 }, notFoundNull: true, responseType: 'json' });
  }

  /**
   * The keys matching a glob (*, ?, […]; default every key). With {meta: true}: [{key, type,
   * ttl_ms}] instead of names.
   */
  keys(pattern = '*', { meta = false } = {}) {
    return this._c.request('GET', K, { query: { pattern, meta: meta ? 1 : undefined }, responseType: 'json' });
  }
}
KV.prototype.delete = KV.prototype.del;
