// Real Redis client libraries no one here wrote (npm, pinned by tests/integration/clients/
// package-lock.json, installed by scripts/setup.sh): ioredis and node-redis connect, pipeline,
// SELECT, run scripts and streams; BullMQ runs jobs with retries, delays and a repeatable job.
// Each scenario runs against Debian's redis-server and against bunder; the results must be equal.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import test from 'node:test';
import { startRedis, startBunder } from './bunder_compat_lib.mjs';

const pkg = new URL('./clients/package.json', import.meta.url);
const installed = fs.existsSync(new URL('./clients/node_modules/bullmq/package.json', import.meta.url));
const skip = installed ? false : 'client libraries not installed (scripts/setup.sh runs npm ci in tests/integration/clients)';
const req = createRequire(pkg);

/** Runs scenario(port) against redis-server and bunder; returns [redisResult, bunderResult]. */
async function both(scenario, bunderArgs = []) {
  const redis = await startRedis();
  const bunder = await startBunder(bunderArgs);
  try {
    const a = await scenario(redis.port);
    const b = await scenario(bunder.port);
    return [a, b];
  } finally {
    await Promise.all([redis.stop(), bunder.stop()]);
  }
}

test('ioredis: SELECT, pipeline, MULTI, scripts (EVALSHA fallback), streams, pub/sub', { skip }, async () => {
  const Redis = req('ioredis');
  const [a, b] = await both(async (port) => {
    const r = new Redis({ port, host: '127.0.0.1', db: 3, lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    const out = {};
    out.pipeline = await r.pipeline().set('k', 'v').get('k').incr('n').incrby('n', 5).hset('h', 'f', '1', 'g', '2')
      .hgetall('h').rpush('l', 'a', 'b', 'c').lrange('l', 0, -1).zadd('z', 1, 'one', 2, 'two').zrange('z', 0, -1, 'WITHSCORES')
      .get('nokey').exec();
    out.multi = await r.multi().incr('m').incr('m').get('m').exec();
    out.dbsize3 = await r.dbsize();
    await r.select(0);
    out.dbsize0 = await r.dbsize();
    await r.select(3);
    r.defineCommand('addAndGet', { numberOfKeys: 1, lua: "redis.call('incrby', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])" });
    out.script = [await r.addAndGet('s', 2), await r.addAndGet('s', 3)];
    out.evalErr = await r.eval("return redis.call('incr', KEYS[1])", 1, 'h').catch((e) => e.message);
    out.xadd = [await r.xadd('st', '1-1', 'a', '1'), await r.xadd('st', '2-1', 'b', '2')];
    out.xrange = await r.xrange('st', '-', '+');
    await r.xgroup('CREATE', 'st', 'g', '0');
    out.xreadgroup = await r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', 'st', '>');
    out.xpending = await r.xpending('st', 'g');
    out.xack = await r.xack('st', 'g', '1-1');
    const sub = r.duplicate();
    const got = new Promise((resolve) => sub.on('message', (ch, m) => resolve([ch, m])));
    await sub.subscribe('news');
    out.publish = await r.publish('news', 'hello');
    out.message = await got;
    out.info = /redis_version:7/.test(await r.info('server'));
    out.scan = (await r.scan(0, 'MATCH', '*', 'COUNT', 100))[1].sort();
    sub.disconnect();
    r.disconnect();
    return out;
  });
  assert.deepEqual(b, a);
});

test('node-redis: database option, MULTI/pipeline, scripts, streams, XREAD BLOCK', { skip }, async () => {
  const { createClient, defineScript } = req('redis');
  const [a, b] = await both(async (port) => {
    const c = createClient({
      url: `redis://127.0.0.1:${port}`, database: 5,
      scripts: { incrTwice: defineScript({ NUMBER_OF_KEYS: 1, SCRIPT: "redis.call('incr', KEYS[1]) return redis.call('incr', KEYS[1])",
        transformArguments: (k) => [k], transformReply: (r) => r }) },
    });
    c.on('error', () => {});
    await c.connect();
    const out = {};
    out.multi = await c.multi().set('a', '1').incr('a').get('a').hSet('h', { x: '1', y: '2' }).hGetAll('h').exec();
    out.pipeline = await c.multi().sAdd('s', ['1', '2', '3']).sMembers('s').zAdd('z', [{ score: 1, value: 'a' }]).zRangeWithScores('z', 0, -1).execAsPipeline();
    out.pipeline[1].sort(); // set order is the hash table's
    out.script = [await c.incrTwice('n'), await c.incrTwice('n')];
    out.eval = await c.eval("return {KEYS[1], ARGV[1], redis.call('get', KEYS[1])}", { keys: ['a'], arguments: ['z'] });
    out.dbsize = await c.dbSize();
    const blocked = c.duplicate();
    await blocked.connect();
    await blocked.select(5);
    const read = blocked.xRead({ key: 'st', id: '$' }, { BLOCK: 5000, COUNT: 10 });
    await new Promise((r) => setTimeout(r, 100));
    out.xadd = await c.xAdd('st', '5-1', { f: 'v' });
    const r = await read;
    out.xread = r.map((s) => ({ name: s.name, messages: s.messages }));
    out.xlen = await c.xLen('st');
    await c.select(0);
    out.dbsize0 = await c.dbSize();
    await blocked.quit();
    await c.quit();
    return out;
  });
  assert.deepEqual(b, a);
});

const JOBS = Number(process.env.BB_BULLMQ_JOBS || 1000);

test(`BullMQ: ${JOBS} jobs with retries and delays and a repeatable job, same outcome as redis-server`, { skip, timeout: 240000 }, async () => {
  const { Queue, Worker, QueueEvents } = req('bullmq');
  const [a, b] = await both(async (port) => {
    const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
    const name = 'bb';
    const queue = new Queue(name, { connection });
    const attempts = new Map();
    let repeats = 0;
    const done = new Set();
    const failed = new Set();
    let finish;
    const finished = new Promise((r) => { finish = r; });
    const check = () => { if (done.size + failed.size >= JOBS && repeats >= 3) finish(); };
    const worker = new Worker(name, async (job) => {
      if (job.name === 'tick') { repeats++; check(); return 'tick'; }
      const n = job.data.n;
      attempts.set(n, (attempts.get(n) || 0) + 1);
      if (n % 10 === 0 && job.attemptsMade < 1) throw new Error('retry me'); // fails once, then succeeds
      if (n % 97 === 0) throw new Error('always fails'); // fails all 3 attempts
      return n * 2;
    }, { connection, concurrency: 20 });
    worker.on('completed', (job) => { if (job.name === 'job') { done.add(job.data.n); check(); } });
    worker.on('failed', (job) => {
      if (job && job.name === 'job' && job.attemptsMade >= 3) { failed.add(job.data.n); check(); }
    });
    await queue.add('tick', {}, { repeat: { every: 150, limit: 3 }, jobId: 'tick' });
    const batch = [];
    for (let n = 1; n <= JOBS; n++) {
      batch.push({ name: 'job', data: { n }, opts: {
        attempts: 3, backoff: { type: 'fixed', delay: 20 }, delay: n % 7 === 0 ? 100 : 0, removeOnComplete: false } });
    }
    for (let i = 0; i < batch.length; i += 200) await queue.addBulk(batch.slice(i, i + 200));
    const t0 = Date.now();
    await finished;
    console.log(`# BullMQ on port ${port}: ${JOBS} jobs in ${Date.now() - t0} ms`);
    await worker.close(); // waits for the active jobs to finish
    const counts = await queue.getJobCounts('completed', 'failed', 'delayed', 'wait', 'active');
    const sample = (await queue.getJobs(['completed'], 0, 20)).find((j) => j.name === 'job');
    await queue.close();
    return {
      completed: done.size, failed: [...failed].sort((x, y) => x - y), repeats: Math.min(repeats, 3),
      totalAttempts: [...attempts.values()].reduce((s, x) => s + x, 0),
      counts,
      sampleReturn: sample.returnvalue === sample.data.n * 2,
    };
  });
  // the repeatable job's runs may land in completed too: compare the job-only numbers
  delete a.counts.completed; delete b.counts.completed;
  assert.deepEqual(b, a);
  assert.equal(a.completed + a.failed.length, JOBS);
});
