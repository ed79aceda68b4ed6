// /health follows the database: it degrades to 503 when PostgreSQL goes away, while the rest of the
// server keeps answering. Also: an SSE stream end to end (events pushed from another thread,
// multi-line data, ids, the stream ending) through the debug route.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { httpRequest, killPostgresFor, sleep, startServer, waitPostgresGone } from './harness.mjs';

describe('health and SSE against a live bunbased', () => {
  let srv;
  before(async () => {
    srv = await startServer({
      env: { BUNBASE_HEALTH_INTERVAL_MS: '200', BUNBASE_DEBUG_ROUTES: '1', BUNBASE_LOG_LEVEL: 'warn' },
    });
  });
  after(async () => { if (srv) await srv.stop('SIGTERM'); });

  test('SSE: events with ids and multi-line data arrive in order, then the stream ends', async () => {
    const body = await new Promise((resolve, reject) => {
      const req = http.get(`${srv.url}/v1/debug/sse?count=5&interval_ms=20`, (res) => {
        assert.equal(res.statusCode, 200);
        assert.match(res.headers['content-type'], /^text\/event-stream/);
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { data += c; });
        res.on('end', () => resolve(data));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(10000, () => req.destroy(new Error('SSE stream did not end')));
    });
    const events = body.split('\n\n').filter((b) => b.trim() && !b.startsWith(':'));
    assert.equal(events.length, 5, body);
    events.forEach((ev, i) => {
      const n = i + 1;
      assert.equal(ev, `id: ${n}\nevent: tick\ndata: line one ${n}\ndata: line two ${n}`);
    });
  });

  test('health is 200 with the database up, 503 degraded once it is gone', { timeout: 60000 }, async () => {
    let res = await httpRequest(`${srv.url}/health`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().checks.database.status, 'ok');

    killPostgresFor(srv.dataDir, 'SIGKILL');
    assert.deepEqual(await waitPostgresGone(srv.dataDir, 10000), []);
    const deadline = Date.now() + 15000;
    for (;;) {
      res = await httpRequest(`${srv.url}/health`);
      if (res.status === 503 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(res.status, 503, res.text);
    const j = res.json();
    assert.equal(j.status, 'degraded');
    assert.equal(j.checks.database.status, 'down');
    assert.equal(typeof j.checks.database.error, 'string');
    // the rest of the server is unaffected
    const st = await httpRequest(`${srv.url}/v1/instance/status`);
    assert.equal(st.status, 200, st.text);
  });
});
