// A small OpenID Connect provider (and GitHub-shaped OAuth endpoints) for the tenant-auth OAuth
// tests: node:http + node:crypto only. It auto-approves one configured test user.
//
//   GET  /.well-known/openid-configuration   discovery (issuer = the server's URL)
//   GET  /authorize                          checks client_id, response_type=code, S256 challenge,
//                                            redirect_uri; 302 to redirect_uri?code=…&state=…
//   POST /token                              form body: client_id/client_secret (post or basic),
//                                            code (single use), redirect_uri as at /authorize,
//                                            code_verifier whose S256 is the code's challenge;
//                                            {access_token, token_type, expires_in, id_token}
//   GET  /jwks                               the public signing key (RS256, ES256 or EdDSA)
//   GET  /userinfo                           Bearer access token → {sub, email, email_verified}
//   GitHub: GET /login/oauth/authorize, POST /login/oauth/access_token, GET /user, /user/emails
//
// provider.misbehave = one of 'nonce' (another nonce), 'aud' (another audience), 'signature'
// (signed by a key not in the JWKS, same kid), 'alg_none' (unsigned), 'hs256' (HMAC with the
// client secret), 'expired', 'issuer' (another iss) changes the next id_tokens; 'huge' pads the
// discovery document with 4 KiB; 'slow' answers everything 2 s late. provider.rotate() replaces
// the signing key (new kid).

import crypto from 'node:crypto';
import http from 'node:http';

import { httpRequest } from './harness.mjs';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

function keyPair(alg) {
  if (alg === 'RS256') return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (alg === 'ES256') return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (alg === 'EdDSA') return crypto.generateKeyPairSync('ed25519');
  throw new Error(`unsupported alg ${alg}`);
}

function signJwt(alg, kid, privateKey, payload, { hmacKey } = {}) {
  const header = { alg, typ: 'JWT' };
  if (kid) header.kid = kid;
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  let sig;
  if (alg === 'none') sig = Buffer.alloc(0);
  else if (alg === 'HS256') sig = crypto.createHmac('sha256', hmacKey).update(input).digest();
  else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), privateKey);
  else if (alg === 'ES256') sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  else sig = crypto.sign(null, Buffer.from(input), privateKey);
  return `${input}.${b64u(sig)}`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { b += d; if (b.length > 65536) req.destroy(); });
    req.on('end', () => resolve(b));
    req.on('error', reject);
  });
}

/**
 * Starts the provider on 127.0.0.1 (free port). Options: clientId, clientSecret, alg ('RS256' |
 * 'ES256' | 'EdDSA'), user {sub, email, email_verified}, github {id, login, email}.
 * Returns {url, issuer, jwks, rotate(), misbehave, requests, jwksFetches, codes, stop()}.
 */
export async function startProvider({
  clientId = 'test-client',
  clientSecret = 'test-secret',
  alg = 'RS256',
  user = { sub: 'oidc-user-1', email: 'alice@example.com', email_verified: true },
  github = { id: 4242, login: 'octocat', email: 'octo@example.com' },
} = {}) {
  let privateKey, kid;
  const rogue = keyPair(alg).privateKey; // signs "bad signature" tokens under the same kid
  const jwks = { keys: [] };
  /** A new signing key (new kid), published alone in the JWKS: a provider's key rotation. */
  function rotate() {
    const k = keyPair(alg);
    const jwk = k.publicKey.export({ format: 'jwk' });
    privateKey = k.privateKey;
    kid = b64u(crypto.createHash('sha256').update(JSON.stringify(jwk)).digest()).slice(0, 16);
    jwks.keys = [{ ...jwk, kid, alg, use: 'sig' }];
    return kid;
  }
  rotate();
  const codes = new Map(); // code → {clientId, redirectUri, challenge, nonce, kind}
  const accessTokens = new Map(); // token → kind
  const p = { url: '', issuer: '', jwks, rotate, misbehave: null, requests: [], jwksFetches: 0, codes, user, github, clientId, clientSecret };

  const json = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  function authorize(u, res, kind) {
    const q = Object.fromEntries(u.searchParams);
    p.requests.push({ path: u.pathname, query: q });
    if (q.client_id !== clientId) return json(res, 400, { error: 'invalid_client' });
    if (q.response_type !== 'code') return json(res, 400, { error: 'unsupported_response_type' });
    if (q.code_challenge_method !== 'S256' || !q.code_challenge) return json(res, 400, { error: 'invalid_request', error_description: 'S256 PKCE required' });
    if (!q.redirect_uri || !q.state) return json(res, 400, { error: 'invalid_request' });
    const code = b64u(crypto.randomBytes(24));
    codes.set(code, { redirectUri: q.redirect_uri, challenge: q.code_challenge, nonce: q.nonce, kind, scope: q.scope });
    const to = new URL(q.redirect_uri);
    to.searchParams.set('code', code);
    to.searchParams.set('state', q.state);
    res.writeHead(302, { Location: to.toString() });
    res.end();
  }

  async function token(req, res, kind) {
    const form = new URLSearchParams(await readBody(req));
    p.requests.push({ path: req.url, form: Object.fromEntries(form) });
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization || '');
    if (basic) [id, secret] = Buffer.from(basic[1], 'base64').toString().split(':');
    if (id !== clientId || secret !== clientSecret) return json(res, 401, { error: 'invalid_client' });
    if (form.get('grant_type') !== 'authorization_code') return json(res, 400, { error: 'unsupported_grant_type' });
    const c = codes.get(form.get('code') || '');
    codes.delete(form.get('code') || '');
    if (!c || c.kind !== kind) return json(res, 400, { error: 'invalid_grant', error_description: 'unknown or used code' });
    if (c.redirectUri !== form.get('redirect_uri')) return json(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
    const v = form.get('code_verifier') || '';
    if (v.length < 43 || b64u(crypto.createHash('sha256').update(v).digest()) !== c.challenge) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
    }
    const at = b64u(crypto.randomBytes(24));
    accessTokens.set(at, kind);
    if (kind === 'github') return json(res, 200, { access_token: at, token_type: 'bearer', scope: c.scope });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: p.issuer, sub: user.sub, aud: clientId, iat: now, exp: now + 300, nonce: c.nonce, email: user.email, email_verified: user.email_verified };
    let idt;
    switch (p.misbehave) {
      case 'nonce': idt = signJwt(alg, kid, privateKey, { ...claims, nonce: 'not-the-nonce' }); break;
      case 'aud': idt = signJwt(alg, kid, privateKey, { ...claims, aud: 'someone-else' }); break;
      case 'issuer': idt = signJwt(alg, kid, privateKey, { ...claims, iss: 'https://evil.example.com' }); break;
      case 'expired': idt = signJwt(alg, kid, privateKey, { ...claims, iat: now - 7200, exp: now - 3600 }); break;
      case 'signature': idt = signJwt(alg, kid, rogue, claims); break;
      case 'alg_none': idt = signJwt('none', kid, null, claims); break;
      case 'hs256': idt = signJwt('HS256', kid, null, claims, { hmacKey: clientSecret }); break;
      default: idt = signJwt(alg, kid, privateKey, claims);
    }
    return json(res, 200, { access_token: at, token_type: 'Bearer', expires_in: 300, id_token: idt });
  }

  function bearer(req) {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    return m && accessTokens.get(m[1]);
  }

  const server = http.createServer(async (req, res) => {
    try {
      const u = new URL(req.url, p.url);
      const route = `${req.method} ${u.pathname}`;
      if (p.misbehave === 'slow') await new Promise((r) => setTimeout(r, 2000));
      switch (route) {
        case 'GET /.well-known/openid-configuration':
          return json(res, 200, {
            issuer: p.issuer,
            authorization_endpoint: `${p.url}/authorize`,
            token_endpoint: `${p.url}/token`,
            userinfo_endpoint: `${p.url}/userinfo`,
            jwks_uri: `${p.url}/jwks`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: [alg],
            code_challenge_methods_supported: ['S256'],
            ...(p.misbehave === 'huge' ? { padding: 'x'.repeat(4096) } : {}),
          });
        case 'GET /jwks': p.jwksFetches++; return json(res, 200, jwks);
        case 'GET /authorize': return authorize(u, res, 'oidc');
        case 'POST /token': return await token(req, res, 'oidc');
        case 'GET /userinfo':
          if (bearer(req) !== 'oidc') return json(res, 401, { error: 'invalid_token' });
          return json(res, 200, { sub: user.sub, email: user.email, email_verified: user.email_verified });
        case 'GET /login/oauth/authorize': return authorize(u, res, 'github');
        case 'POST /login/oauth/access_token': return await token(req, res, 'github');
        case 'GET /user':
          if (bearer(req) !== 'github') return json(res, 401, { message: 'Bad credentials' });
          return json(res, 200, { id: github.id, login: github.login, email: null });
        case 'GET /user/emails':
          if (bearer(req) !== 'github') return json(res, 401, { message: 'Bad credentials' });
          return json(res, 200, [
            { email: `${github.login}@users.noreply.example.com`, primary: false, verified: true },
            { email: github.email, primary: true, verified: true },
          ]);
        default: return json(res, 404, { error: 'not_found' });
      }
    } catch (e) {
      json(res, 500, { error: 'server_error', error_description: String(e) });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.url = `http://127.0.0.1:${server.address().port}`;
  p.issuer = p.url;
  p.stop = () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); });
  return p;
}

// ---------------------------------------------------------------- browser-like steps

/** GET without following redirects: {status, headers, text, json, location}. */
export async function get(url, headers = {}) {
  const r = await httpRequest(url, { headers });
  let json = null;
  try { json = JSON.parse(r.text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text: r.text, json, location: r.headers.location };
}

/** The start URL of a sign-in (the pk_ as ?key=, as a browser navigation carries it). */
export function startUrl(base, pk, provider, redirectUri) {
  return `${base}/v1/auth/project/oauth/${provider}/start?key=${encodeURIComponent(pk)}&redirect_uri=${encodeURIComponent(redirectUri)}`;
}

/**
 * A browser's sign-in: start → the provider's authorize (auto-approved) → our callback (after
 * rewriteCallback(URL), when given) → the app. Returns {start, authorize (URL), callback (URL),
 * back (the callback's answer), final (URL of the app, or null)}.
 */
export async function signIn(base, pk, provider, redirectUri, { rewriteCallback } = {}) {
  const start = await get(startUrl(base, pk, provider, redirectUri));
  if (start.status !== 302) throw new Error(`start: ${start.status} ${start.text}`);
  const authorize = new URL(start.location);
  const atProvider = await get(start.location);
  if (atProvider.status !== 302) throw new Error(`authorize: ${atProvider.status} ${atProvider.text}`);
  let callback = new URL(atProvider.location);
  if (rewriteCallback) callback = rewriteCallback(callback);
  const back = await get(callback.toString());
  return { start, authorize, callback, back, final: back.location ? new URL(back.location) : null };
}

/** The parameters in a URL's fragment (#access_token=…). */
export function fragment(u) {
  return Object.fromEntries(new URLSearchParams(u.hash.slice(1)));
}
