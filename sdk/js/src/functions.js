// Functions (/v1/functions/{name}, the project's key): invoke the active version.

export class Functions {
  constructor(client) { this._c = client; }

  /**
   * Invokes a function. body: an object is sent as JSON, a string / Uint8Array / ArrayBuffer /
   * Blob as is. options: method (POST), headers, query, responseType ('auto': JSON when the
   * function answered JSON, else text; 'json', 'text', 'bytes', 'response'). A non-2xx answer
   * throws a BunBaseError (the function's own status; code and message from its JSON body).
   * Sent with the project key only, also when a user is signed in (see docs/sdk.md).
   */
  invoke(name, body, { method = 'POST', headers, query, responseType = 'auto', signal } = {}) {
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) throw new TypeError('functions.invoke: a function name (a-z, 0-9, -, _)');
    const m = method.toUpperCase();
    const send = body !== undefined && m !== 'GET';
    let contentType;
    if (send && (typeof body === 'string')) contentType = 'text/plain;charset=UTF-8';
    else if (send && (body instanceof Uint8Array || body instanceof ArrayBuffer)) contentType = 'application/octet-stream';
    if (headers) for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-type') contentType = headers[k];
    // The key alone: the invoke route takes project keys (a signed-in user's token would be
    // refused), and the gateway passes no caller credential on to the function anyway.
    return this._c.request(m, `/v1/functions/${name}`, { body: send ? body : undefined, contentType, headers, query, responseType, signal, auth: false });
  }
}
