// BunBaseError: every failure the SDK reports — an HTTP answer that is not 2xx (status, the
// server's machine code, its message, the X-Request-Id it answered with) or a transport failure
// (status 0, code "network_error" / "timeout" / "aborted").

export class BunBaseError extends Error {
  /**
   * @param {{status?: number, code?: string, message?: string, requestId?: string|null, details?: unknown, cause?: unknown}} init
   */
  constructor({ status = 0, code = 'unknown', message, requestId = null, details, cause } = {}) {
    super(message || code, cause === undefined ? undefined : { cause });
    this.name = 'BunBaseError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    if (details !== undefined) this.details = details;
  }

  toJSON() {
    return { name: this.name, status: this.status, code: this.code, message: this.message, requestId: this.requestId };
  }

  /** The error an HTTP answer stands for (reads its body: the server's {"error","code"}). */
  static async fromResponse(res) {
    const requestId = res.headers.get('x-request-id');
    let text = '';
    try { text = await res.text(); } catch { /* the body is lost: the status still tells */ }
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    const isObj = body && typeof body === 'object' && !Array.isArray(body);
    const code = (isObj && typeof body.code === 'string' && body.code) || codeForStatus(res.status);
    const message = (isObj && typeof body.error === 'string' && body.error) ||
      (isObj && typeof body.message === 'string' && body.message) ||
      (text && !isObj && text.length <= 500 ? text : '') || `HTTP ${res.status}`;
    return new BunBaseError({ status: res.status, code, message, requestId, details: isObj ? body : undefined });
  }

  /** A transport failure (no HTTP answer). */
  static fromFetchError(e, { timedOut = false } = {}) {
    if (e instanceof BunBaseError) return e;
    if (timedOut) return new BunBaseError({ status: 0, code: 'timeout', message: 'request timed out', cause: e });
    if (e && e.name === 'AbortError') return new BunBaseError({ status: 0, code: 'aborted', message: 'request aborted', cause: e });
    const msg = e && e.cause && e.cause.code ? `${e.message} (${e.cause.code})` : (e && e.message) || String(e);
    return new BunBaseError({ status: 0, code: 'network_error', message: msg, cause: e });
  }
}

function codeForStatus(status) {
  const names = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
    408: 'timeout', 409: 'conflict', 413: 'payload_too_large', 429: 'rate_limited', 500: 'internal', 502: 'bad_gateway',
    503: 'unavailable', 504: 'gateway_timeout' };
  return names[status] || `http_${status}`;
}
