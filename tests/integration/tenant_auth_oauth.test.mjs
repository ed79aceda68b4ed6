// tenant-auth OAuth 2.0 / OpenID Connect sign-in, end to end: a real bunbased and a local provider
// (oidc_provider.mjs: discovery, PKCE, state, nonce, signatures checked with its JWKS), followed
// like a browser (no redirect is followed automatically). Every id_token fault the provider can be
// made to commit is refused, as are a stolen code (PKCE), a reused or expired state and a redirect
// URL the project did not allow; GitHub through its REST shape; the limits of pending sign-ins and
// of provider replies.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import path from 'node:path';

import { makeTempDir, runBunbased, sleep, startServer } from './harness.mjs';
import { FAST_ENV, api, newProject, newUser } from './platform_lib.mjs';
import { fragment, get, signIn, startProvider, startUrl } from './oidc_provider.mjs';

const APP = 'http://app.example.com/auth/done';

/** Puts the project's auth config (providers and allowed redirect URLs) as its developer. */
async function configure(base, token, pid, providers, redirects = [APP]) {
  const r = await api(base, 'PUT', `/v1/projects/${pid}/auth/config`, {
    token,
    body: { providers, redirect_urls: redirects },
  });
  assert.equal(r.status, 200, `config: ${r.status} ${r.text}`);
  return r;
}

function errorOf(r) {
  assert.equal(r.back.status, 302, `callback: ${r.back.status} ${r.back.text}`);
  assert.equal(r.final.hash, '', 'no tokens on failure');
  return Object.fromEntries(r.final.searchParams);
}

describe('tenant-auth OAuth / OIDC', () => {
  let srv, base, dev, proj, op, es, ed, gh;
  before(async () => {
    op = await startProvider({ clientId: 'client-rs', clientSecret: 'secret-rs-0123456789' });
    es = await startProvider({
      clientId: 'client-es', clientSecret: 'secret-es-0123456789', alg: 'ES256',
      user: { sub: 'es-user', email: 'bob@example.com', email_verified: false },
    });
    ed = await startProvider({
      clientId: 'client-ed', clientSecret: 'secret-ed-0123456789', alg: 'EdDSA',
      user: { sub: 'ed-user', email: 'carol@example.com', email_verified: true },
    });
    gh = await startProvider({ clientId: 'client-gh', clientSecret: 'secret-gh-0123456789' });
    srv = await startServer({ env: { ...FAST_ENV, BUNBASE_TENANT_AUTH_RATE_LIMIT: '0', BUNBASE_TENANT_AUTH_OAUTH_JWKS_REFETCH_MS: '0' } });
    base = srv.url;
    dev = await newUser(base, 'oauth');
    proj = await newProject(base, dev.access);
    await configure(base, dev.access, proj.id, {
      oidc: { kind: 'oidc', enabled: true, client_id: 'client-rs', client_secret: 'secret-rs-0123456789', issuer: op.issuer },
      google: { kind: 'google', enabled: true, client_id: 'client-es', client_secret: 'secret-es-0123456789', issuer: es.issuer },
      github: {
        kind: 'github', enabled: true, client_id: 'client-gh', client_secret: 'secret-gh-0123456789',
        authorize_url: `${gh.url}/login/oauth/authorize`, token_url: `${gh.url}/login/oauth/access_token`, userinfo_url: `${gh.url}/user`,
      },
      corp: { kind: 'oidc', enabled: true, client_id: 'client-ed', client_secret: 'secret-ed-0123456789', issuer: ed.issuer, scopes: 'email' },
      off: { kind: 'oidc', enabled: false, client_id: 'client-off', client_secret: 'secret-off-0123456789', issuer: op.issuer },
    });
  });
  after(async () => {
    await srv?.stop();
    await Promise.all([op?.stop(), es?.stop(), ed?.stop(), gh?.stop()]);
  });

  test('the client secrets went to bun-kms: no API returns them', async () => {
    const r = await api(base, 'GET', `/v1/projects/${proj.id}/auth/config`, { token: dev.access });
    assert.equal(r.status, 200, r.text);
    for (const s of ['secret-rs-0123456789', 'secret-es-0123456789', 'secret-gh-0123456789']) assert.ok(!r.text.includes(s));
  });

  test('OIDC: discovery, PKCE S256, state, nonce, id_token checked; tokens in the fragment work; same subject → same user', async () => {
    const r = await signIn(base, proj.pk, 'oidc', APP);
    const q = Object.fromEntries(r.authorize.searchParams);
    assert.equal(r.authorize.origin, op.url);
    assert.equal(q.response_type, 'code');
    assert.equal(q.client_id, 'client-rs');
    assert.equal(q.code_challenge_method, 'S256');
    assert.ok(q.state.length >= 43 && q.nonce.length >= 43 && q.code_challenge.length === 43);
    assert.match(q.scope, /\bopenid\b/);
    assert.equal(new URL(q.redirect_uri).pathname, '/v1/auth/project/oauth/oidc/callback');
    assert.equal(r.back.status, 302, r.back.text);
    assert.equal(r.back.headers['cache-control'], 'no-store');
    assert.equal(`${r.final.origin}${r.final.pathname}`, APP);
    const f = fragment(r.final);
    assert.ok(f.access_token && f.refresh_token && Number(f.expires_in) > 0, r.final.toString());
    assert.equal(f.token_type, 'Bearer');
    // the provider saw our verifier and client secret at its token endpoint
    const tokenReq = op.requests.filter((x) => x.form).at(-1).form;
    assert.equal(tokenReq.code_verifier.length, 43);
    const me = await api(base, 'GET', '/v1/auth/project/me', { token: f.access_token, key: proj.pk });
    assert.equal(me.status, 200, me.text);
    const uid = me.json.id || me.json.uid || me.json.user?.id;
    assert.ok(uid);
    assert.equal(me.json.email || me.json.user?.email, 'alice@example.com');
    const again = await signIn(base, proj.pk, 'oidc', APP);
    const me2 = await api(base, 'GET', '/v1/auth/project/me', { token: fragment(again.final).access_token, key: proj.pk });
    assert.equal(me2.status, 200, me2.text);
    assert.equal(me2.json.id || me2.json.uid || me2.json.user?.id, uid);
    // the state was single use
    const reused = await get(r.callback.toString());
    assert.equal(reused.status, 400);
    assert.equal(reused.json.code, 'invalid_state');
  });

  test('Google shape (OIDC by discovery) with ES256 signatures, OIDC with EdDSA; GitHub: user and primary verified email', async () => {
    let r = await signIn(base, proj.pk, 'google', APP);
    assert.ok(fragment(r.final).access_token, r.final.toString());
    assert.ok(r.authorize.searchParams.get('nonce'));
    r = await signIn(base, proj.pk, 'corp', APP);
    assert.equal(r.authorize.searchParams.get('scope'), 'openid email');
    const edMe = await api(base, 'GET', '/v1/auth/project/me', { token: fragment(r.final).access_token, key: proj.pk });
    assert.equal(edMe.status, 200, edMe.text);
    assert.equal(edMe.json.email || edMe.json.user?.email, 'carol@example.com');
    r = await signIn(base, proj.pk, 'github', APP);
    assert.equal(r.authorize.pathname, '/login/oauth/authorize');
    assert.equal(r.authorize.searchParams.get('nonce'), null);
    const f = fragment(r.final);
    assert.ok(f.access_token, r.final.toString());
    const me = await api(base, 'GET', '/v1/auth/project/me', { token: f.access_token, key: proj.pk });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.email || me.json.user?.email, 'octo@example.com');
  });

  const faults = {
    nonce: 'nonce_mismatch',
    aud: 'token_wrong_audience',
    signature: 'token_invalid_signature',
    alg_none: 'token_alg_not_allowed',
    hs256: 'token_alg_not_allowed',
    expired: 'token_expired',
    issuer: 'token_wrong_issuer',
  };
  for (const [fault, why] of Object.entries(faults)) {
    test(`an id_token with ${fault} is refused (${why})`, async () => {
      op.misbehave = fault;
      try {
        const q = errorOf(await signIn(base, proj.pk, 'oidc', APP));
        assert.equal(q.error, 'invalid_id_token');
        assert.ok(q.error_description.startsWith(why), q.error_description);
      } finally {
        op.misbehave = null;
      }
    });
  }

  test("the provider rotates its key: the cached JWKS is fetched again for the new kid", async () => {
    assert.ok(fragment((await signIn(base, proj.pk, 'oidc', APP)).final).access_token);
    op.rotate();
    const before = op.jwksFetches;
    const r = await signIn(base, proj.pk, 'oidc', APP);
    assert.ok(fragment(r.final).access_token, r.final.toString());
    assert.equal(op.jwksFetches, before + 1);
  });

  test('PKCE: a code issued to another sign-in is refused at the token endpoint', async () => {
    const other = await get(startUrl(base, proj.pk, 'oidc', APP));
    const stolen = new URL((await get(other.location)).location).searchParams.get('code');
    const r = await signIn(base, proj.pk, 'oidc', APP, {
      rewriteCallback: (u) => { u.searchParams.set('code', stolen); return u; },
    });
    const q = errorOf(r);
    assert.equal(q.error, 'token_exchange_failed');
    assert.match(q.error_description, /PKCE/);
  });

  test('a bad OAuth knob stops bunbased at start (exit 2, naming the knob)', async () => {
    const conninfo = `host=${path.join(srv.dataDir, 'postgres', 'run')} dbname=bunbase user=postgres`;
    const r = await runBunbased(['serve', '--listen', '127.0.0.1:0', '--data', makeTempDir()], {
      env: { ...FAST_ENV, BUNBASE_DATABASE_URL: conninfo, BUNBASE_TENANT_AUTH_OAUTH_MAX_PENDING: '0' },
      timeoutMs: 30000,
    });
    assert.equal(r.code, 2, `exit ${r.code}; stderr:\n${r.stderr.slice(-2000)}`);
    assert.match(r.stderr, /BUNBASE_TENANT_AUTH_OAUTH_MAX_PENDING must be an integer in \[1, 1000000\]/);
  });

  test('refused before the provider: disallowed redirect_uri, unknown or disabled provider, no pk_, sk_ in the URL, bad state', async () => {
    const cases = [
      [startUrl(base, proj.pk, 'oidc', 'http://evil.example.com/steal'), 400, 'redirect_not_allowed'],
      [startUrl(base, proj.pk, 'oidc', `${APP}#x`), 400, 'redirect_not_allowed'],
      [startUrl(base, proj.pk, 'nope', APP), 404, 'provider_not_found'],
      [startUrl(base, proj.pk, 'off', APP), 403, 'provider_disabled'],
      [startUrl(base, proj.pk, 'Bad!', APP), 400, 'invalid_provider'],
      [`${base}/v1/auth/project/oauth/oidc/start?key=${proj.pk}`, 400, 'invalid_redirect_uri'],
      [`${base}/v1/auth/project/oauth/oidc/start?redirect_uri=${encodeURIComponent(APP)}`, 401, null],
      [startUrl(base, proj.sk, 'oidc', APP), 401, 'invalid_key'],
      [`${base}/v1/auth/project/oauth/oidc/callback?state=nope&code=x`, 400, 'invalid_state'],
      [`${base}/v1/auth/project/oauth/oidc/callback`, 400, 'invalid_state'],
    ];
    for (const [url, status, code] of cases) {
      const r = await get(url);
      assert.equal(r.status, status, `${url}: ${r.status} ${r.text}`);
      if (code) assert.equal(r.json.code, code, url);
    }
    // a provider's error comes back to the app as ?error=
    const s = await get(startUrl(base, proj.pk, 'oidc', APP));
    const state = new URL(s.location).searchParams.get('state');
    const r = await get(`${base}/v1/auth/project/oauth/oidc/callback?state=${state}&error=access_denied`);
    assert.equal(r.status, 302);
    assert.equal(new URL(r.location).searchParams.get('error'), 'access_denied');
  });
});

describe('tenant-auth OAuth limits', () => {
  let srv, base, proj, op;
  before(async () => {
    op = await startProvider({ clientId: 'c', clientSecret: 'secret-limits-0123456789' });
    srv = await startServer({
      env: {
        ...FAST_ENV,
        BUNBASE_TENANT_AUTH_OAUTH_MAX_PENDING: '2',
        BUNBASE_TENANT_AUTH_OAUTH_STATE_TTL_S: '1',
        BUNBASE_TENANT_AUTH_OAUTH_MAX_RESPONSE_BYTES: '2048',
        BUNBASE_TENANT_AUTH_OAUTH_JWKS_TTL_S: '0', // discovery fetched at every sign-in
        BUNBASE_TENANT_AUTH_RATE_IP_PER_MIN: '1',
        BUNBASE_TENANT_AUTH_RATE_IP_BURST: '9',
        BUNBASE_TENANT_AUTH_OAUTH_HTTP_TIMEOUT_MS: '500',
      },
    });
    base = srv.url;
    const dev = await newUser(base, 'oauth-limits');
    proj = await newProject(base, dev.access);
    await configure(base, dev.access, proj.id, {
      oidc: { kind: 'oidc', enabled: true, client_id: 'c', client_secret: 'secret-limits-0123456789', issuer: op.issuer },
    });
  });
  after(async () => {
    await srv?.stop();
    await op?.stop();
  });

  test('pending sign-ins are bounded and expire; provider replies are bounded in size and time; starts are rate limited', async () => {
    const first = await get(startUrl(base, proj.pk, 'oidc', APP));
    assert.equal(first.status, 302, first.text);
    assert.equal((await get(startUrl(base, proj.pk, 'oidc', APP))).status, 302);
    const full = await get(startUrl(base, proj.pk, 'oidc', APP));
    assert.equal(full.status, 503, full.text);
    assert.equal(full.json.code, 'oauth_busy');
    await sleep(1200);
    // the first sign-in expired: its callback is refused, and its slot serves a new one
    const cb = new URL((await get(first.location)).location);
    const late = await get(cb.toString());
    assert.equal(late.status, 400);
    assert.equal(late.json.code, 'invalid_state');
    assert.equal((await get(startUrl(base, proj.pk, 'oidc', APP))).status, 302);
    await sleep(1200);
    op.misbehave = 'huge'; // a 4 KiB discovery document, over the 2 KiB limit
    try {
      const big = await get(startUrl(base, proj.pk, 'oidc', APP));
      assert.equal(big.status, 502, big.text);
      assert.equal(big.json.code, 'provider_unavailable');
    } finally {
      op.misbehave = null;
    }
    op.misbehave = 'slow'; // answers after 2 s, over the 500 ms timeout
    try {
      const slow = await get(startUrl(base, proj.pk, 'oidc', APP));
      assert.equal(slow.status, 502, slow.text);
      assert.match(slow.json.error, /timed out|timeout/i);
    } finally {
      op.misbehave = null;
    }
    // 6 starts so far; the per-IP bucket holds 9
    let limited = null;
    for (let i = 0; i < 8 && !limited; i++) {
      const r = await get(startUrl(base, proj.pk, 'oidc', APP));
      if (r.status === 429) limited = r;
    }
    assert.ok(limited, 'no 429');
    assert.equal(limited.json.code, 'rate_limited');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });
});
