// tenant-auth's mail through SMTP (libcurl) to a small SMTP receiver this test runs: password
// reset and email verification, their links read from the received mail; tokens single use and
// expiring; no mail (but the same answer) for an unknown address; redirect URLs checked.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { sleep, startServer } from './harness.mjs';
import { api, newProject, newUser } from './platform_lib.mjs';
import { TA_FAST_ENV } from './tenant_auth_lib.mjs';

/** Enough SMTP to receive mail: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT. */
function smtpReceiver() {
  const mails = [];
  const waiters = [];
  const server = net.createServer((s) => {
    let buf = '', data = false, cur = { from: '', to: [], body: '' };
    s.write('220 localhost test SMTP\r\n');
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        if (data) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur.body = buf.slice(0, end).replace(/\r\n\.\./g, '\r\n.');
          buf = buf.slice(end + 5);
          data = false;
          mails.push(cur);
          for (const w of waiters.splice(0)) w();
          cur = { from: '', to: [], body: '' };
          s.write('250 queued\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') s.write('250-localhost\r\n250 8BITMIME\r\n');
        else if (verb === 'HELO' || verb === 'RSET' || verb === 'NOOP') s.write('250 ok\r\n');
        else if (verb === 'MAIL') { cur.from = line; s.write('250 ok\r\n'); }
        else if (verb === 'RCPT') { cur.to.push(line); s.write('250 ok\r\n'); }
        else if (verb === 'DATA') { data = true; s.write('354 go on\r\n'); }
        else if (verb === 'QUIT') { s.write('221 bye\r\n'); s.end(); return; }
        else s.write('502 not implemented\r\n');
      }
    });
    s.on('error', () => {});
  });
  return {
    mails,
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port))),
    close: () => new Promise((r) => server.close(r)),
    /** The next mail to `to` (after those already seen). */
    async next(to, seen) {
      for (let i = 0; i < 100; i++) {
        const m = mails.slice(seen).find((x) => x.to.some((t) => t.includes(to)));
        if (m) return m;
        await Promise.race([new Promise((r) => waiters.push(r)), sleep(100)]);
      }
      throw new Error(`no mail to ${to}`);
    },
  };
}

const tokenIn = (mail) => /token=([A-Za-z0-9_-]+)/.exec(mail.body)[1];

let smtp, srv, G, p;
before(async () => {
  smtp = smtpReceiver();
  const port = await smtp.listen();
  srv = await startServer({ env: {
    ...TA_FAST_ENV, BUNBASE_LOG_LEVEL: 'info',
    BUNBASE_TENANT_AUTH_MAILER: 'smtp', BUNBASE_TENANT_AUTH_SMTP_URL: `smtp://127.0.0.1:${port}`,
    BUNBASE_TENANT_AUTH_SMTP_FROM: 'noreply@example.com', BUNBASE_TENANT_AUTH_VERIFY_TTL_S: '2',
  } });
  G = srv.url;
  const dev = await newUser(G, 'ta-mail');
  p = await newProject(G, dev.access, 'Mail');
  const r = await api(G, 'PUT', `/v1/projects/${p.id}/auth/config`, { key: p.sk, body: {
    providers: { email_password: { enabled: true } }, redirect_urls: ['https://app.example.com/reset'] } });
  assert.equal(r.status, 200, r.text);
});
after(async () => { if (srv) await srv.stop(); if (smtp) await smtp.close(); });

test('password reset: the mailed link works once; unknown addresses get the same answer and no mail', async () => {
  let r = await api(G, 'POST', '/v1/auth/project/register', { key: p.pk, body: { email: 'frank@example.com', password: 'frank-password-1' } });
  assert.equal(r.status, 201, r.text);
  const session = r.json;
  r = await api(G, 'POST', '/v1/auth/project/password-reset', { key: p.pk, body: { email: 'frank@example.com', redirect_url: 'https://evil.example.com/steal' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.code, 'redirect_not_allowed');
  const seen = smtp.mails.length;
  r = await api(G, 'POST', '/v1/auth/project/password-reset', { key: p.pk, body: { email: 'nobody@example.com' } });
  assert.equal(r.status, 202, r.text);
  r = await api(G, 'POST', '/v1/auth/project/password-reset', { key: p.pk, body: { email: 'frank@example.com', redirect_url: 'https://app.example.com/reset' } });
  assert.equal(r.status, 202, r.text);
  const mail = await smtp.next('frank@example.com', seen);
  assert.match(mail.from, /noreply@example\.com/);
  assert.match(mail.body, /^Subject: Reset your password/m);
  assert.match(mail.body, /https:\/\/app\.example\.com\/reset\?token=/);
  assert.ok(!smtp.mails.slice(seen).some((m) => m.to.some((t) => t.includes('nobody'))), 'no mail to an unknown address');
  const token = tokenIn(mail);
  // a weak password does not use the token up
  r = await api(G, 'POST', '/v1/auth/project/password-reset/confirm', { key: p.pk, body: { token, password: 'short' } });
  assert.equal(r.status, 400, r.text);
  r = await api(G, 'POST', '/v1/auth/project/password-reset/confirm', { key: p.pk, body: { token, password: 'frank-password-2' } });
  assert.equal(r.status, 204, r.text);
  r = await api(G, 'POST', '/v1/auth/project/password-reset/confirm', { key: p.pk, body: { token, password: 'frank-password-3' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.code, 'invalid_token');
  r = await api(G, 'POST', '/v1/auth/project/login', { key: p.pk, body: { email: 'frank@example.com', password: 'frank-password-1' } });
  assert.equal(r.status, 401, r.text);
  r = await api(G, 'POST', '/v1/auth/project/login', { key: p.pk, body: { email: 'frank@example.com', password: 'frank-password-2' } });
  assert.equal(r.status, 200, r.text);
  // the reset signed out the sessions of before
  r = await api(G, 'GET', '/v1/auth/project/me', { token: session.access_token });
  assert.equal(r.status, 401, r.text);
  // the token never reaches the log
  assert.ok(!srv.stderr().includes(token), 'token in the log');
  assert.match(srv.stderr(), /mail_sent.*mailer=smtp.*kind=password_reset.*to=frank@example\.com/);
});

test('email verification: the mailed token verifies once, and expires', async () => {
  let r = await api(G, 'POST', '/v1/auth/project/register', { key: p.pk, body: { email: 'gina@example.com', password: 'gina-password-1' } });
  const t = r.json;
  let seen = smtp.mails.length;
  r = await api(G, 'POST', '/v1/auth/project/verify-email', { token: t.access_token });
  assert.equal(r.status, 202, r.text);
  const stale = tokenIn(await smtp.next('gina@example.com', seen));
  await sleep(3100); // BUNBASE_TENANT_AUTH_VERIFY_TTL_S=2
  r = await api(G, 'POST', '/v1/auth/project/verify-email/confirm', { key: p.pk, body: { token: stale } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.code, 'token_expired');
  seen = smtp.mails.length;
  r = await api(G, 'POST', '/v1/auth/project/verify-email', { token: t.access_token });
  assert.equal(r.status, 202, r.text);
  const mail = await smtp.next('gina@example.com', seen);
  assert.match(mail.body, /^Subject: Confirm your email address/m);
  const token = tokenIn(mail);
  r = await api(G, 'POST', '/v1/auth/project/verify-email/confirm', { key: p.pk, body: { token } });
  assert.equal(r.status, 204, r.text);
  r = await api(G, 'POST', '/v1/auth/project/verify-email/confirm', { key: p.pk, body: { token } });
  assert.equal(r.status, 400, r.text);
  r = await api(G, 'GET', '/v1/auth/project/me', { token: t.access_token });
  assert.equal(r.json.email_verified, true);
  r = await api(G, 'POST', '/v1/auth/project/verify-email', { token: t.access_token });
  assert.equal(r.status, 409, r.text);
  // a reset token is not a verification token
  r = await api(G, 'POST', '/v1/auth/project/verify-email/confirm', { key: p.pk, body: { token: 'not-a-token' } });
  assert.equal(r.status, 400, r.text);
});
