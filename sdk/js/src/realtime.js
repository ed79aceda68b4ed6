// Realtime: Server-Sent Events read from a fetch() body stream (not EventSource, so the key and
// the user's token go in headers and Last-Event-ID is ours to send), with automatic reconnection
// and resume from the last event seen.

import { BunBaseError } from './errors.js';

/** Incremental SSE parser (the WHATWG algorithm): feed text, get {id, event, data} per event. */
export class SSEParser {
  constructor(onEvent) {
    this._on = onEvent;
    this._buf = '';
    this._data = [];
    this._event = '';
    this._id = null; // the last event id (it carries over to later events, as in EventSource)
    this._ownId = false; // whether the event being read has an id line of its own
    this._lastCR = false;
  }

  feed(chunk) {
    let text = this._buf + chunk;
    if (this._lastCR && text.startsWith('\n')) text = text.slice(1);
    this._lastCR = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this._line(text.slice(start, i));
      if (ch === 13) {
        if (i + 1 < text.length) { if (text.charCodeAt(i + 1) === 10) i++; } else this._lastCR = true;
      }
      start = i + 1;
    }
    this._buf = text.slice(start);
    if (this._buf.length > 16 << 20) throw new BunBaseError({ code: 'event_too_large', message: 'an SSE line over 16 MiB' });
  }

  _line(line) {
    if (line === '') {
      if (this._data.length || this._event) {
        const ev = { id: this._id, ownId: this._ownId, event: this._event || 'message', data: this._data.join('\n') };
        this._data = [];
        this._event = '';
        this._ownId = false;
        this._on(ev);
      }
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment (heartbeat)
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this._data.push(value);
    else if (field === 'event') this._event = value;
    else if (field === 'id' && !value.includes('\0')) { this._id = value; this._ownId = true; }
  }
}

const CHANGE_EVENTS = new Set(['added', 'modified', 'removed']);

/**
 * One subscription: connects, dispatches, reconnects with backoff and Last-Event-ID until
 * unsubscribe(). request: {method, path, body}. handler(event) gets
 * {type: 'added'|'modified'|'removed', id, doc, op, collection, eventId, tooLarge?, bytes?} and
 * {type: 'reset'} (events were lost: reload, then keep listening).
 */
export class Subscription {
  constructor(client, request, handler, opts = {}) {
    this._c = client;
    this._req = request;
    this._handler = handler;
    this._onError = opts.onError || null;
    this._onStatus = opts.onStatus || null;
    this._minDelay = opts.retryMinMs ?? 200;
    this._maxDelay = opts.retryMaxMs ?? 5000;
    this._idleMs = opts.idleTimeoutMs ?? 60000;
    this.lastEventId = opts.lastEventId ?? null;
    this.closed = false;
    this.connects = 0;
    this._ctl = null;
    let resolveReady, rejectReady;
    this.ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
    this.ready.catch(() => {});
    this._resolveReady = resolveReady;
    this._rejectReady = rejectReady;
    this._loop();
  }

  /** Stops the subscription and closes its stream. */
  unsubscribe() {
    if (this.closed) return;
    this.closed = true;
    this._ctl?.abort();
    this._status('closed');
    this._rejectReady(new BunBaseError({ code: 'aborted', message: 'unsubscribed' }));
  }

  _status(s, detail) {
    if (this._onStatus) try { this._onStatus(s, detail); } catch { /* a listener's bug is not ours */ }
  }

  async _loop() {
    let delay = this._minDelay;
    let refreshed = false;
    while (!this.closed) {
      let err = null;
      try {
        const ok = await this._once();
        if (ok) { delay = this._minDelay; refreshed = false; }
      } catch (e) {
        err = e instanceof BunBaseError ? e : BunBaseError.fromFetchError(e);
      }
      if (this.closed) break;
      if (err) {
        if (err.status === 401 && err.code === 'token_expired' && !refreshed) {
          refreshed = true;
          try { await this._c.auth.refreshSession(); continue; } catch { /* fall through: fatal */ }
        }
        const fatal = err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
        if (this._onError) try { this._onError(err); } catch { /* ignore */ }
        if (fatal) {
          this.closed = true;
          this._status('closed', err);
          this._rejectReady(err);
          return;
        }
      }
      this._status('reconnecting', err);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(this._maxDelay, delay * 2);
    }
  }

  /** One connection; resolves true when it had been established, throws when it could not be. */
  async _once() {
    const ctl = new AbortController();
    this._ctl = ctl;
    const headers = { ...(await this._c._authHeaders(true)), Accept: 'text/event-stream' };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    let body;
    if (this._req.body !== undefined) { body = JSON.stringify(this._req.body); headers['Content-Type'] = 'application/json'; }
    if (this.closed) return false;
    let res;
    const connectTimer = this._c._timeoutMs > 0 ? setTimeout(() => ctl.abort(), this._c._timeoutMs) : null;
    try {
      res = await this._c._fetch(this._c._url(this._req.path), { method: this._req.method, headers, body, signal: ctl.signal, cache: 'no-store' });
    } catch (e) {
      throw BunBaseError.fromFetchError(e);
    } finally {
      clearTimeout(connectTimer);
    }
    if (!res.ok) throw await BunBaseError.fromResponse(res);
    if (!(res.headers.get('content-type') || '').startsWith('text/event-stream')) {
      await res.body?.cancel().catch(() => {});
      throw new BunBaseError({ status: res.status, code: 'not_a_stream', message: 'the answer is not an event stream', requestId: res.headers.get('x-request-id') });
    }
    this.connects++;
    this._status('connected');
    this._resolveReady();
    const parser = new SSEParser((ev) => this._dispatch(ev));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let idle = null;
    const arm = () => { clearTimeout(idle); idle = setTimeout(() => ctl.abort(), this._idleMs); };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.feed(decoder.decode(value, { stream: true }));
        if (this.closed) break;
      }
    } catch (e) {
      if (!this.closed && e?.name !== 'AbortError') this._status('disconnected', e);
    } finally {
      clearTimeout(idle);
      reader.releaseLock?.();
      if (!ctl.signal.aborted) ctl.abort();
    }
    return true;
  }

  _dispatch(ev) {
    if (this.closed) return;
    if (ev.ownId && ev.id) {
      if (this.lastEventId && !after(ev.id, this.lastEventId)) return; // seen already
      this.lastEventId = ev.id;
    }
    let out;
    if (CHANGE_EVENTS.has(ev.event)) {
      let d = {};
      try { d = JSON.parse(ev.data); } catch { /* keep the raw data */ d = { raw: ev.data }; }
      out = { type: ev.event, id: d.docId ?? d.doc?._id ?? null, doc: d.doc ?? null, op: d.op ?? null, collection: d.collection ?? null, eventId: ev.id };
      if (d.tooLarge) { out.tooLarge = true; out.bytes = d.bytes; }
    } else if (ev.event === 'reset') {
      out = { type: 'reset', eventId: ev.id };
    } else {
      return; // connected / heartbeat-like events of other kinds: not the app's business
    }
    try { this._handler(out); } catch (e) { queueMicrotask(() => { throw e; }); }
  }
}

/** Whether event id a comes after b (ids are "<epoch>-<seq>"; another epoch is a new feed). */
function after(a, b) {
  const pa = /^(\d+)-(\d+)$/.exec(a), pb = /^(\d+)-(\d+)$/.exec(b);
  if (!pa || !pb || pa[1] !== pb[1]) return a !== b;
  return BigInt(pa[2]) > BigInt(pb[2]);
}
