// Functions: cron triggers (docs/functions.md, "Triggers"). The minutes are driven through the
// test-only route POST /v1/debug/functions/cron?now_ms= (BUNBASE_DEBUG_ROUTES=1, internal token;
// the clock thread is off: BUNBASE_FUNCTIONS_CRON_INTERVAL_MS=0): standard five-field syntax with
// names, steps and lists, a time zone per schedule (Europe/Paris across DST), one fire per minute
// slot — again in the same minute, and after a restart of bunbased in that minute — and no
// catch-up of the minutes missed while down. Invocations are logged with trigger "cron".

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, startServer } from './harness.mjs';
import { FAST_ENV, api, loginUser, newProject, newUser } from './platform_lib.mjs';

const TOKEN = 'functions-triggers-internal-token-0123456789';
const ENV = {
  ...FAST_ENV,
  BUNBASE_WORKERS: '8',
  BUNBASE_INTERNAL_TOKEN: TOKEN,
  BUNBASE_FUNCTIONS_CRON_INTERVAL_MS: '0',
  BUNBASE_FUNCTIONS_MAX_SCHEDULES: '3',
};
const TICK = `
export default async function (req) {
  const ev = await req.json();
  console.log('cron', ev.schedule, ev.timezone, ev.scheduled_ms, req.headers.get('x-bunbase-trigger'));
  return Response.json(ev);
}`;

describe('functions: cron triggers', () => {
  let srv, G, user, p;
  const fnPath = () => `/v1/projects/${p.id}/functions/tick`;
  const tick = async (ms) => {
    const r = await httpRequest(`${G}/v1/debug/functions/cron?now_ms=${ms}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200, r.text);
    return r.json().fired.filter((f) => f.project_id === p.id).map((f) => [f.idx, f.status]).sort();
  };
  before(async () => {
    srv = await startServer({ env: ENV });
    G = srv.url;
    user = await newUser(G, 'fncron');
    p = await newProject(G, user.access, 'Cron');
    const r = await httpRequest(`${G}${fnPath()}`, { method: 'PUT', headers: { Authorization: `Bearer ${user.access}` }, body: TICK });
    assert.equal(r.status, 201, r.text);
  });
  after(async () => { if (srv) await srv.stop(); });

  test('schedules are validated', async () => {
    for (const [body, re] of [
      [{ cron: ['61 * * * *'] }, /minute/],
      [{ cron: ['* * * *'] }, /five fields/],
      [{ cron: ['* * * JANUARY *'] }, /month/],
      [{ cron: [{ schedule: '* * * * *', timezone: 'Mars/Olympus_Mons' }] }, /time zone/],
      [{ cron: [{ schedule: '* * * * *', timezone: '../../etc/passwd' }] }, /time zone/],
      [{ cron: ['* * * * *', '* * * * *', '* * * * *', '* * * * *'] }, /MAX_SCHEDULES/],
      [{ cron: 'x' }, /array/],
    ]) {
      const x = await api(G, 'PUT', `${fnPath()}/triggers`, { token: user.access, body });
      assert.equal(x.status, 400, JSON.stringify(body));
      assert.equal(x.code, 'invalid_trigger');
      assert.match(x.json.error, re);
    }
    const x = await api(G, 'PUT', `/v1/projects/${p.id}/functions/nope/triggers`, { token: user.access, body: { cron: [] } });
    assert.equal(x.status, 404);
  });

  test('fires once per minute slot in its time zone, across a restart, without catch-up', async () => {
    let x = await api(G, 'PUT', `${fnPath()}/triggers`, {
      token: user.access,
      body: { cron: ['*/5 * * * *', { schedule: '0 9 * * MON-FRI', timezone: 'Europe/Paris' }] },
    });
    assert.equal(x.status, 200, x.text);
    assert.deepEqual(x.json.cron.map((c) => [c.schedule, c.timezone]), [['*/5 * * * *', 'UTC'], ['0 9 * * MON-FRI', 'Europe/Paris']]);
    // Monday 3 March 2031, 08:00:05 UTC = 09:00 in Paris (CET, UTC+1)
    const T0 = Date.UTC(2031, 2, 3, 8, 0, 5);
    const MIN = 60000;
    assert.deepEqual(await tick(T0), [[0, 200], [1, 200]]);
    assert.deepEqual(await tick(T0 + 30000), [], 'the same minute again: nothing');
    assert.deepEqual(await tick(T0 + MIN), []);
    assert.deepEqual(await tick(T0 + 5 * MIN), [[0, 200]]);
    // a restart in that minute: already fired (the slot is in SQLite)
    const dataDir = srv.dataDir;
    await api(G, 'GET', `${fnPath()}/logs`, { token: user.access }); // the invocation records are written (flush)
    await srv.stop('SIGKILL', { keepDir: true });
    srv = await startServer({ env: ENV, dataDir });
    G = srv.url;
    user = { ...user, ...(await loginUser(G, user.email)) };
    assert.deepEqual(await tick(T0 + 5 * MIN + 40000), [], 'fired before the restart');
    // three hours "down": no catch-up of the 35 missed */5 minutes, only the current one
    assert.deepEqual(await tick(T0 + 180 * MIN), [[0, 200]]);
    // summer time: Monday 7 July 2031, 07:00 UTC = 09:00 in Paris (CEST, UTC+2)
    assert.deepEqual(await tick(Date.UTC(2031, 6, 7, 7, 0, 1)), [[0, 200], [1, 200]]);
    assert.deepEqual(await tick(Date.UTC(2031, 6, 7, 8, 0, 1)), [[0, 200]], '10:00 in Paris: not the 9:00 schedule');
    assert.deepEqual(await tick(Date.UTC(2031, 6, 12, 7, 0, 1)), [[0, 200]], 'a Saturday');
    // the invocations' log: trigger cron, the event as the body
    x = await api(G, 'GET', `${fnPath()}/logs?limit=50`, { token: user.access });
    assert.equal(x.status, 200, x.text);
    const logs = x.json.invocations || x.json.logs || x.json;
    const cron = logs.filter((l) => l.trigger === 'cron');
    assert.equal(cron.length, 8, JSON.stringify(logs));
    assert.ok(cron.every((l) => l.status === 200));
    assert.ok(cron.some((l) => l.logs.includes(`cron 0 9 * * MON-FRI Europe/Paris ${T0 - 5000} cron`)), cron.map((l) => l.logs).join(''));
    x = await api(G, 'GET', `${fnPath()}/triggers`, { token: user.access });
    assert.equal(x.json.cron[0].last_fired_ms, Date.UTC(2031, 6, 12, 7, 0, 0));
    // a schedule removed does not fire
    x = await api(G, 'PUT', `${fnPath()}/triggers`, { token: user.access, body: { cron: [] } });
    assert.equal(x.status, 200);
    assert.deepEqual(await tick(Date.UTC(2031, 6, 14, 7, 0, 1)), []);
  });
});
