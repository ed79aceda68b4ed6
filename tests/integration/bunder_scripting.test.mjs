// bunder scripting (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT) against Debian's redis-server 7:
// the same commands go to both and the reply bytes must be equal — reply conversions, Redis 7's
// error wording (user_script:N, "script: <sha>, on @user_script:N."), the sandbox, scripts that
// fail half-way, the busy-script limit with SCRIPT KILL, and the AOF restoring script writes.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { RawClient, startPair, startRedis } from './bunder_compat_lib.mjs';
import { Client, cli, encode, sleep, startBunder, tempDir } from './bunder_lib.test.mjs';

const E = (body, ...rest) => ['EVAL', body, ...rest];

test('EVAL replies and errors equal redis-server byte for byte', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['SET', 'str', 'hello'], ['RPUSH', 'list', 'a', 'b'], ['HSET', 'h', 'f', 'v'],
      // Lua -> RESP
      E('return 1.9', 0), E('return -3.9', 0), E('return 9007199254740993', 0), E('return 1e300', 0),
      E('return {1,2,nil,4}', 0), E("return {1,'a',{2,3.7},true,false}", 0), E('return true', 0),
      E('return false', 0), E('return nil', 0), E("return 'x'", 0), E('return {}', 0),
      E("return {err='boom'}", 0), E("return {err='My custom error'}", 0), E("return {ok='FINE'}", 0),
      E("return redis.error_reply('My Error')", 0), E("return redis.error_reply('Boom')", 0),
      E("return redis.error_reply('-WRONG x')", 0), E("return redis.status_reply('FINE')", 0),
      E("return {err='line1\\r\\nline2'}", 0),
      E("error({err=5})", 0), E("error({err='X y', source='s'})", 0), E('return {err=5}', 0), E('return {ok=5}', 0),
      E("return {1, {err='inner'}, 3}", 0), E("return {1, {ok='in'}}", 0), E('return 1/0', 0), E('return -1/0', 0),
      E('return 0/0', 0), E('return {-0.5, 2^53, 2^63, -2^63}', 0),
      E('local t={}; for i=1,10 do t[i]=i end; t[5]=nil; return t', 0), E("return {err='a\r\nb'}", 0),
      E("return redis.status_reply('a\r\nb')", 0),
      // RESP -> Lua
      E("return redis.call('get', KEYS[1])", 1, 'str'), E("return redis.call('get', 'nokey')", 0),
      E("return tostring(redis.call('get', 'nokey'))", 0), E("return redis.call('lrange', 'list', 0, -1)", 0),
      E("return redis.call('hgetall', 'nohash')", 0), E("return redis.call('ping')", 0),
      E("return redis.call('set', 'k', 'v')", 0), E("return redis.call('set', 'k', 'v')['ok']", 0),
      E("return type(redis.call('incr', 'n'))", 0), E("return redis.call('incr', 'n')", 0),
      E("redis.call('set','f',3.7); return redis.call('get','f')", 0),
      E("redis.call('set','i',42); return redis.call('get','i')", 0),
      E("local r = redis.pcall('incr', 'str'); return r['err']", 0),
      E("return redis.pcall('incr', KEYS[1])", 1, 'str'),
      E("return redis.pcall('get')", 0), E("return redis.pcall('nosuch')", 0),
      // KEYS/ARGV
      E('return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}', 2, 'k1', 'k2', 'a1', 'a2'),
      E('return #ARGV', 0, 'x', 'y', 'z'),
      // errors, Redis 7 wording
      E("return redis.call('nosuch')", 0), E("error('x')", 0), E('syntax error here', 0),
      E("return redis.call('get')", 0), E('return redis.call()', 0), E("return redis.call('get', {})", 0),
      E("return redis.call('multi')", 0), E("return redis.call('eval', 'return 1', '0')", 0),
      E("return redis.call('blpop', 'l', 0)", 0), E("return redis.call('subscribe', 'c')", 0),
      E("return redis.call('incr', KEYS[1])", 1, 'str'), E("return redis.call('lpush', 'str', 'x')", 0),
      E("error({err='FOO bar'})", 0), E("return 'a'..nil", 0), E('return nonexist', 0),
      E('x = 1', 0), E('return os', 0), E('return io', 0), E('return loadfile', 0), E('return dofile', 0),
      E('return require', 0), E('return debug', 0), E('return print', 0), E('return _G.x', 0),
      E("rawset(_G, 'y', 1)", 0), E("return redis.call('get', KEYS[1])", 1, 'list'),
      // library tables are read-only too, reads (raw or not) still work
      E('string.x = 1', 0), E('redis.call = nil', 0), E("rawset(string, 'y', 1)", 0), E('cjson.x = 1', 0),
      E('return string.nonexist', 0), E("return rawget(string, 'format') ~= nil", 0),
      E("return rawget(_G, 'redis') ~= nil", 0), E("local t = {} rawset(t, 'a', 1) return rawget(t, 'a')", 0),
      E("return ('abc'):upper()", 0),
      // metatables: the strings' one and _G's cannot be changed to break the next script
      E("return type(getmetatable(''))", 0), E("getmetatable('').__index.zz = 1 return 1", 0),
      E("getmetatable('').__index = nil return 1", 0), E("return ('x'):upper()", 0), E('return string.zz', 0),
      E('return type(getmetatable(_G))', 0), E('setmetatable(_G, nil) return 1', 0),
      E('setmetatable(string, {}) return 1', 0), E('getmetatable(_G).__index = nil', 0),
      E('return type(getmetatable(string))', 0), E("return getmetatable('').__index.upper('a')", 0),
      E('local t = setmetatable({}, {__index = function() return 5 end}) return t.x', 0),
      E("return getmetatable(setmetatable({}, {__metatable='x'}))", 0), E('return getmetatable()', 0),
      E('return 1', -1), E('return 1', 2, 'a'), E('return 1', 'abc'), E('return 1'),
      // libraries
      E("return cjson.encode({1,2,'x'})", 0), E("return cjson.decode('[1,2,3]')[3]", 0),
      E("return cjson.encode(cjson.decode('{\"a\":[1,{\"b\":true}]}'))", 0),
      E('return cjson.encode()', 0), E('return cjson.encode(1, 2)', 0), E('local t = {} t[1] = t return cjson.encode(t)', 0),
      E('return cjson.encode(function() end)', 0), E('return cjson.encode({[1]=1, [5]=2})', 0), E('return cjson.encode(0/0)', 0),
      // bit.tohex(x, -2^31) overflowed LuaBitOp's buffer (CVE-2024-31449): answered like patched Redis
      E('return bit.tohex(65535, -2147483648)', 0), E('return bit.tohex(65535, 2147483648)', 0),
      E('return bit.tohex(65535, -2)', 0), E("return bit.tohex('x')", 0), E('return bit.tohex(255, nil)', 0),
      E('return cjson.encode_max_depth(5)', 0), E('return cjson.encode({{{{{{1}}}}}})', 0),
      E('return cjson.encode_max_depth(1000)', 0), E('return cjson.decode_max_depth(3)', 0),
      E("return cjson.decode('[[[[1]]]]')", 0), E('return cjson.decode_max_depth(1000)', 0),
      // unpack's bounds overflowed in Debian's Lua 5.1 (CVE-2025-46817): same answers as patched Redis
      E('return unpack({}, -2147483648, 2147483647)', 0), E('return unpack({}, 0, 2147483647)', 0),
      E("return select('#', unpack({}, 1, 1e7))", 0), E("return select('#', unpack({}, 2147483640, 2147483647))", 0),
      E('return {unpack({1,2,3}, 2, 5)}', 0), E('return unpack(5)', 0), E('return {unpack({}, 3, 1)}', 0),
      E('return bit.band(7, 3)', 0), E('return bit.bxor(5, 1)', 0), E('return bit.tohex(255)', 0),
      E("return redis.sha1hex('')", 0), E("return redis.sha1hex('abc')", 0),
      E("return string.format('%d-%s', 3, 'x')", 0), E('return math.floor(3.7)', 0),
      E("return table.concat({'a','b'}, ',')", 0), E("return string.rep('ab', 3)", 0),
      E("return redis.log(redis.LOG_WARNING, 'from a script')", 0), E('return redis.LOG_NOTICE', 0),
      E("return type(redis.setresp)", 0), E('redis.setresp()', 0), E('redis.log()', 0),
      E("redis.log('x', 'y')", 0), E("redis.log(9, 'y')", 0), E('redis.sha1hex()', 0),
      E('return redis.error_reply()', 0), E('return redis.status_reply(1)', 0),
      E("return redis.status_reply('a', 'b')", 0), E('return redis.sha1hex(1)', 0),
      // setresp(3) with a RESP2 caller
      E("redis.setresp(3); return redis.call('hgetall', 'h')", 0),
      E("redis.setresp(3); return redis.call('get', 'nokey') == nil", 0),
      // a value not worth comparing
      ['GET', 'k'], ['GET', 'n'], ['LRANGE', 'list', 0, -1],
    ]);
  } finally {
    await p.stop();
  }
});

test('RESP3 callers and redis.setresp(3) conversions equal redis-server', async () => {
  const p = await startPair();
  try {
    await Promise.all([p.rc.call('HELLO', '3'), p.bc.call('HELLO', '3')]); // server fields differ
    await p.same([
      ['HSET', 'h', 'f', 'v'], ['SADD', 's', 'm'], ['SET', 'str', 'x'],
      E('return true', 0), E('return false', 0), E('return nil', 0), E('return {1, 2, {3}}', 0),
      E("return {err='x'}", 0), E("return {ok='y'}", 0), E('return 3.99', 0),
      E("redis.setresp(3); return redis.call('hgetall', 'h')", 0),
      E("redis.setresp(3); return redis.call('smembers', 's')", 0),
      E("redis.setresp(3); return redis.call('get', 'nokey')", 0),
      E("redis.setresp(3); return {double=3.5}", 0), E("redis.setresp(3); return {map={a=1}}", 0),
      E("redis.setresp(3); return {set={a=true}}", 0), E('redis.setresp(3); return true', 0),
      E('redis.setresp(3); return false', 0), E("redis.setresp(3); return redis.call('hgetall', 'h')['map']['f']", 0),
      E("redis.setresp(3); return type(redis.call('get', 'nokey'))", 0),
      E("redis.setresp(3); return redis.call('incrbyfloat', 'fl', '1.5')", 0),
      E('redis.setresp(4)', 0), E('redis.setresp()', 0),
      ['PING'],
    ]);
    await Promise.all([p.rc.call('HELLO', '2'), p.bc.call('HELLO', '2')]);
    await p.same([
      E("redis.setresp(3); return redis.call('hgetall', 'h')", 0), E("redis.setresp(3); return {double=3.5}", 0),
      E('redis.setresp(3); return true', 0), E('redis.setresp(3); return false', 0),
      E("redis.setresp(3); return {map={a=1}}", 0), E("redis.setresp(3); return {set={a=true}}", 0),
    ]);
  } finally {
    await p.stop();
  }
});

test('redis-cli --eval and EVAL through redis-cli print the same as against redis-server', async () => {
  const p = await startPair();
  try {
    const file = path.join(tempDir(), 'script.lua');
    fs.writeFileSync(file, "redis.call('set', KEYS[1], ARGV[1])\nreturn {redis.call('get', KEYS[1]), #KEYS, #ARGV, redis.call('incr', KEYS[2])}\n");
    for (const args of [['--eval', file, 'k1', 'k2', ',', 'v1', 'v2'], ['--eval', file, 'k1', 'k2', ',', 'x'],
      ['EVAL', "return redis.call('incr', KEYS[1])", '1', 'k1'], ['EVAL', 'return {1, {2, "x"}, false}', '0'],
      ['SCRIPT', 'LOAD', 'return 42'], ['EVALSHA', '1fa00e76656cc152ad327c13fe365858fd7be306', '0']]) {
      assert.equal(cli(p.bunder.port, args), cli(p.redis.port, args), `redis-cli ${args.join(' ')}`);
    }
  } finally {
    await p.stop();
  }
});

test('SCRIPT LOAD/EXISTS/FLUSH, EVALSHA and the _RO variants equal redis-server', async () => {
  const p = await startPair();
  try {
    const sha = 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db'; // sha1("return 1")
    await p.same([
      ['SCRIPT', 'LOAD', 'return 1'], ['SCRIPT', 'EXISTS', sha, 'ffffffffffffffffffffffffffffffffffffffff', sha.toUpperCase()],
      ['EVALSHA', sha, 0], ['EVALSHA', sha.toUpperCase(), 0], ['EVALSHA_RO', sha, 0],
      ['EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', 0], ['EVALSHA', 'short', 0],
      ['SCRIPT', 'LOAD', 'return {KEYS[1], ARGV[1]}'],
      ['EVALSHA', 'b4a9fa1b9ba5c5dc7e9d26c96aed2d0a4ac5e7ba', 1, 'kk', 'aa'],
      ['SCRIPT', 'LOAD', 'syntax error here'], ['SCRIPT', 'LOAD'], ['SCRIPT', 'EXISTS'],
      ['SCRIPT', 'FLUSH'], ['SCRIPT', 'EXISTS', sha], ['EVALSHA', sha, 0], ['EVAL', 'return 1', 0],
      ['SCRIPT', 'EXISTS', sha], ['SCRIPT', 'FLUSH', 'ASYNC'], ['SCRIPT', 'FLUSH', 'SYNC'],
      ['SCRIPT', 'FLUSH', 'bogus'], ['SCRIPT', 'KILL'], ['SCRIPT', 'bogus'], ['SCRIPT'],
      ['SCRIPT', 'HELP'],
      ['EVAL_RO', "return redis.call('set', 'a', 'b')", 1, 'a'],
      ['EVAL_RO', "return redis.pcall('set', 'a', 'b')", 1, 'a'],
      ['EVAL_RO', "return redis.call('get', 'a')", 1, 'a'],
      ['EVAL', "#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')", 0],
      ['EVAL', "#!lua flags=no-writes\nreturn redis.call('get', 'a')", 0],
      ['EVAL', '#!lua flags=bogus\nreturn 1', 0], ['EVAL', '#!python\nreturn 1', 0],
      ['EVAL', "#!lua\nreturn redis.call('set', 'a', 'c')", 0], ['GET', 'a'],
      // MULTI with a script inside
      ['MULTI'], ['EVAL', "return redis.call('incr', 'm')", 0], ['EVAL', "return redis.call('incr', 'm')", 0], ['EXEC'],
    ]);
  } finally {
    await p.stop();
  }
});

// Sends one command on a fresh socket and collects the reply bytes up to marker (for replies
// nested too deeply for the recursive test decoder).
function rawUntil(port, args, marker) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(encode(args)));
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { sock.destroy(); reject(new Error('no marker')); }, 10000);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.includes(marker)) { clearTimeout(t); sock.destroy(); resolve(buf.toString('latin1')); }
    });
    sock.on('error', reject);
  });
}

test('a cyclic table stops at the Lua stack limit at the same depth as redis-server', async () => {
  const p = await startPair();
  try {
    for (const body of ['local t = {} t[1] = t return t', 'local t = {} t[1] = {2, t} return t']) {
      const marker = '-ERR reached lua stack limit\r\n';
      const [a, b] = await Promise.all([rawUntil(p.redis.port, E(body, 0), marker), rawUntil(p.bunder.port, E(body, 0), marker)]);
      assert.equal(b, a);
    }
    await p.same([['PING']]);
  } finally {
    await p.stop();
  }
});

test('precompiled Lua bytecode is refused like redis-server (never loaded)', async () => {
  const p = await startPair();
  try {
    // real bytecode, made by string.dump inside a script
    const bc = await p.bc.call('EVAL', 'return string.dump(function() return 42 end)', 0);
    const body = bc.subarray(bc.indexOf('\r\n') + 2, bc.length - 2);
    assert.equal(body[0], 0x1b);
    await p.same([['EVAL', body, 0], ['SCRIPT', 'LOAD', body], ['EVAL', Buffer.from([0x1b]), 0],
      ['EVAL', Buffer.concat([Buffer.from([0x1b]), Buffer.from('Lua')]), 0], ['PING']]);
  } finally {
    await p.stop();
  }
});

test('scripts invalidate WATCH and wake blocked clients like any write', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['WATCH', 'w'], E("return redis.call('set', 'w', '1')", 0), ['MULTI'], ['SET', 'x', '1'], ['EXEC'],
      ['WATCH', 'w'], E("return redis.call('get', 'w')", 0), ['MULTI'], ['SET', 'x', '2'], ['EXEC'],
    ]);
    // a BLPOP on each server, served by a script's RPUSH
    const [rb, bb] = [await RawClient.connect(p.redis.port), await RawClient.connect(p.bunder.port)];
    rb.send(['BLPOP', 'q', 0]);
    bb.send(['BLPOP', 'q', 0]);
    await sleep(100);
    await p.same([E("return redis.call('rpush', 'q', 'a', 'b')", 0), ['LRANGE', 'q', 0, -1]]);
    assert.equal((await bb.next()).toString(), (await rb.next()).toString());
    rb.close();
    bb.close();
  } finally {
    await p.stop();
  }
});

test('a script that fails half-way keeps the writes done before the error, like redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['SET', 's', 'notanumber'],
      E("redis.call('set', 'w1', 'x'); redis.call('incr', 's'); redis.call('set', 'w2', 'y')", 0),
      ['GET', 'w1'], ['EXISTS', 'w2'],
      E("redis.call('rpush', 'l2', 'a'); local r = redis.pcall('incr', 's'); redis.call('rpush', 'l2', r['err']); return redis.call('lrange', 'l2', 0, -1)", 0),
      E("redis.call('set', 'w3', '1'); error('late failure')", 0), ['GET', 'w3'],
    ]);
  } finally {
    await p.stop();
  }
});

// Runs the busy-script scenario on one server and returns the replies as strings.
async function busyScenario(port) {
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  const out = [];
  out.push(await b.str('CONFIG', 'SET', 'busy-reply-threshold', '200'));
  // not past the limit yet: a short script does not make others BUSY
  out.push(await a.str('EVAL', 'local i = 0 while i < 1000 do i = i + 1 end return i', 0));
  a.send(['EVAL', 'while true do end', 0]);
  await sleep(600);
  out.push(await b.str('PING'));
  out.push(await b.str('GET', 'x'));
  // what Redis 7 still runs while a script is busy (allow-busy), and what it refuses
  for (const cmd of [['MULTI'], ['DISCARD'], ['WATCH', 'k'], ['UNWATCH'], ['CLIENT', 'ID'], ['INFO', 'server'],
    ['AUTH', 'x'], ['HELLO', '2', 'AUTH', 'a', 'b'], ['SCRIPT', 'EXISTS', 'x'], ['SCRIPT', 'FLUSH'],
    ['SUBSCRIBE', 'c'], ['PUBLISH', 'c', 'm'], ['CONFIG', 'GET', 'maxmemory'], ['EVAL', 'return 1', 0],
    ['SHUTDOWN', 'SAVE'], ['SHUTDOWN'], ['SHUTDOWN', 'bogus'], ['MULTI'], ['GET', 'x'], ['EXEC'], ['RESET']]) {
    out.push(`${cmd.join(' ')} => ${await b.str(...cmd)}`);
  }
  // a connection opened while the script runs is served too (how redis-cli SCRIPT KILL arrives)
  const d = await RawClient.connect(port);
  out.push(await d.str('PING'));
  out.push(await d.str('SCRIPT', 'KILL'));
  d.close();
  out.push((await a.next()).toString('latin1').replace(/[0-9a-f]{40}/, '<sha>'));
  out.push(await b.str('PING'));
  out.push(await a.str('PING'));
  // a script that wrote cannot be killed: it ends by itself
  a.send(['EVAL', "redis.call('set', 'x', '1'); local t0 = redis.call('time'); while true do local t = redis.call('time'); if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 1200000 then break end end return 'done'", 0]);
  await sleep(400);
  out.push(await b.str('SCRIPT', 'KILL'));
  out.push(await b.str('SHUTDOWN'));
  out.push(await b.str('GET', 'x'));
  out.push((await a.next()).toString('latin1'));
  out.push(await b.str('GET', 'x'));
  a.close();
  b.close();
  return out;
}

test('busy script: others get -BUSY past busy-reply-threshold, SCRIPT KILL ends it (same as redis-server)', async () => {
  const redis = await startRedis();
  const bunder = await startBunder();
  try {
    const [r, bnd] = [await busyScenario(redis.port), await busyScenario(bunder.port)];
    assert.equal(r[2], '-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n');
    assert.deepEqual(bnd, r);
  } finally {
    await Promise.all([redis.stop(), bunder.stop()]);
  }
});

test('SHUTDOWN NOSAVE stops a busy script that wrote; its writes are not restored', async () => {
  let b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always', '--busy-reply-threshold', '100']);
  const dir = b.dir;
  const a = await RawClient.connect(b.port);
  assert.equal(await a.str('SET', 'before', '1'), '+OK\r\n');
  a.send(['EVAL', "redis.call('set', 'inscript', '1') while true do end", 0]);
  await sleep(400);
  const d = await RawClient.connect(b.port);
  assert.match(await d.str('SCRIPT', 'KILL'), /^-UNKILLABLE /);
  const exited = new Promise((r) => b.proc.once('exit', r));
  d.send(['SHUTDOWN', 'NOSAVE']);
  await exited;
  a.close();
  d.close();
  b = await startBunder(['--appendonly', 'yes'], { dir });
  const c = await Client.connect(b.port);
  assert.equal(await c.call('GET', 'before'), '1');
  assert.equal(await c.call('EXISTS', 'inscript'), 0);
  c.close();
  await b.stop();
});

test('lua-memory-limit stops a script that grows the Lua heap past it; the server and later scripts are fine', async () => {
  const b = await startBunder(['--lua-memory-limit', '8mb']);
  const c = await Client.connect(b.port);
  try {
    assert.deepEqual(await c.call('CONFIG', 'GET', 'lua-memory-limit'), ['lua-memory-limit', String(8 << 20)]);
    const big = 'local t = {} for i = 1, 3e6 do t[i] = i end return #t';
    assert.match((await c.call('EVAL', big, 0)).error, /^ERR Error running script [0-9a-f]{40}, not enough memory$/);
    assert.match((await c.call('EVAL', "return #string.rep('x', 16000000)", 0)).error, /not enough memory/);
    assert.equal(await c.call('EVAL', "redis.call('set', 'k', 'v') return redis.call('get', 'k')", 0), 'v');
    // the garbage of earlier scripts does not make a script that fits fail
    for (let i = 0; i < 4; i++) {
      assert.equal(await c.call('EVAL', "local t = {} for i = 1, 8e4 do t[i] = 'x' .. i end return #t", 0), 80000);
    }
    assert.equal(await c.call('CONFIG', 'SET', 'lua-memory-limit', '0'), 'OK'); // 0: unlimited, as Redis
    assert.equal(await c.call('EVAL', big, 0), 3000000);
    assert.match((await c.call('CONFIG', 'SET', 'lua-memory-limit', '-1')).error, /^ERR /);
  } finally {
    c.close();
    await b.stop();
  }
});

test('script writes reach the AOF as MULTI/commands/EXEC and survive a restart', async () => {
  let b = await startBunder(['--appendonly', 'yes', '--appendfsync', 'always']);
  const dir = b.dir;
  let c = await Client.connect(b.port);
  assert.equal(await c.call('EVAL', "redis.call('set', KEYS[1], ARGV[1]); redis.call('rpush', 'l', 'a', 'b'); return redis.call('incrby', 'n', 5)", 1, 'k', 'v'), 5);
  // the failing script's first write stays, as in Redis
  const r = await c.call('EVAL', "redis.call('set', 'half', '1'); redis.call('incr', KEYS[1])", 1, 'k');
  assert.match(r.error, /^ERR value is not an integer or out of range script: [0-9a-f]{40}, on @user_script:1\.$/);
  assert.equal(await c.call('EVAL_RO', "return redis.call('get', 'k')", 0), 'v');
  c.close();
  const aof = fs.readFileSync(path.join(dir, 'appendonly.aof'), 'latin1');
  assert.ok(!/EVAL/i.test(aof), 'the AOF holds the effects, not the script');
  assert.match(aof, /MULTI[\s\S]*set[\s\S]*rpush[\s\S]*incrby[\s\S]*EXEC/i);
  await b.kill();
  b = await startBunder(['--appendonly', 'yes'], { dir });
  c = await Client.connect(b.port);
  assert.equal(await c.call('GET', 'k'), 'v');
  assert.deepEqual(await c.call('LRANGE', 'l', 0, -1), ['a', 'b']);
  assert.equal(await c.call('GET', 'n'), '5');
  assert.equal(await c.call('GET', 'half'), '1');
  c.close();
  await b.stop();
});
