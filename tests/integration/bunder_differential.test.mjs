// Differential test: a seeded random sequence of commands over every type — strings, bitmaps,
// HyperLogLog, lists, sets, sorted sets, hashes, streams with consumer groups, geo, expiry,
// SELECT/MOVE/COPY/RENAME, scripts, transactions — replayed against Debian's redis-server 7.0 and
// against bunder over raw sockets, pipelined in batches, replies compared byte for byte.
//
// Non-deterministic replies are compared by invariant instead: the choice of SPOP / SRANDMEMBER /
// HRANDFIELD / ZRANDMEMBER / RANDOMKEY (same reply shape and size; after SPOP bunder's set is
// brought back to redis-server's by commands sent to bunder alone), TTL/PTTL countdowns (within one
// second), replies listing a hash or set in table order (compared as multisets), stream ids made
// with `*` (only on a key nothing else reads: XLEN compared), XPENDING's idle times, SORT and
// geo replies whose order depends on ties. A failure prints the seed, the
// command's index, the command and both replies; BB_DIFF_SEED=<n> replays one seed,
// BB_DIFF_COMMANDS=<n> changes the length (default 100,000).
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { startRedis } from './bunder_compat_lib.mjs';
import { decode, encode, startBunder } from './bunder_lib.test.mjs';

const COMMANDS = Number(process.env.BB_DIFF_COMMANDS || 100000);
const SEED = Number(process.env.BB_DIFF_SEED || 0x5eed0001);
const BATCH = 400;
const CONTEXT = Number(process.env.BB_DIFF_CONTEXT || 8); // commands on the key shown with a difference

const sha1 = (s) => createHash('sha1').update(s).digest('hex');

/** mulberry32: a small seeded generator. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A connection that sends a batch of commands in one write and resolves their raw replies. */
class Pipe {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Pipe(s)));
      s.once('error', reject);
    });
  }
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.want = 0;
    this.got = [];
    this.done = null;
    sock.setNoDelay(true);
    sock.on('data', (d) => { this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d; this._drain(); });
    sock.on('error', () => {});
  }
  _drain() {
    let off = 0;
    while (this.got.length < this.want) {
      const r = decode(this.buf, off, true);
      if (!r) break;
      this.got.push(this.buf.subarray(off, r[1]));
      off = r[1];
    }
    this.buf = this.buf.subarray(off);
    if (this.done && this.got.length >= this.want) {
      const d = this.done;
      this.done = null;
      d(this.got);
    }
  }
  run(cmds) {
    return new Promise((resolve, reject) => {
      this.want = cmds.length;
      this.got = [];
      const t = setTimeout(() => reject(new Error(`timeout: ${this.got.length}/${cmds.length} replies`)), 30000);
      this.done = (v) => { clearTimeout(t); resolve(v); };
      this.sock.write(Buffer.concat(cmds.map(encode)));
      this._drain();
    });
  }
  close() { this.sock.destroy(); }
}

/** The generator: returns {args, cmp} where cmp names a comparison other than byte equality. */
function generator(seed) {
  const r = rng(seed);
  const int = (n) => Math.floor(r() * n);
  const pick = (a) => a[int(a.length)];
  const chance = (p) => r() < p;
  const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));
  const K = {
    str: range(6, (i) => `s${i}`), bit: range(3, (i) => `b${i}`), hll: range(3, (i) => `p${i}`),
    list: range(6, (i) => `l${i}`), set: range(6, (i) => `S${i}`), zset: range(6, (i) => `z${i}`),
    hash: range(6, (i) => `h${i}`), stream: range(3, (i) => `x${i}`), geo: range(2, (i) => `g${i}`),
  };
  const all = Object.values(K).flat();
  const key = (t) => (chance(0.04) ? pick(all) : pick(K[t]));
  const small = () => String(int(20) - 5);
  const word = () => pick(['a', 'b', 'c', 'foo', 'bar', 'baz', 'x'.repeat(1 + int(3)), 'hello', '']);
  const val = () => {
    const p = r();
    if (p < 0.35) return small();
    if (p < 0.85) return word() || 'e';
    if (p < 0.97) return pick(['1.5', '-0', '3e2', ' 7', '9223372036854775807', '-9223372036854775808', '0x10']);
    return 'v'.repeat(60 + int(20)); // past the 64-byte listpack value limit
  };
  const member = () => (chance(0.5) ? String(int(30)) : pick(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'm1', 'm2', 'm3']));
  const score = () => pick([String(int(10)), String(int(100) / 4), '-1', '0', 'inf', '-inf', '1e3', String(-int(5))]);
  const idx = () => String(int(12) - 6);
  const streamMs = { x0: 1, x1: 1, x2: 1 };
  const scripts = [
    ["return redis.call('INCR', KEYS[1])", 1],
    ["redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])", 1],
    ["return {redis.call('RPUSH', KEYS[1], ARGV[1]), redis.call('LRANGE', KEYS[1], 0, -1)}", 1],
    ["local n = redis.call('ZCARD', KEYS[1]); return redis.call('ZADD', KEYS[1], n, ARGV[1])", 1],
    ["redis.call('SET', KEYS[1], 'x'); return redis.call('LPUSH', KEYS[1], 'y')", 1],
    ["return redis.pcall('HINCRBY', KEYS[1], 'f', ARGV[1])", 1],
    ["return {1, 2.9, 'str', false, {err='bad thing'}}", 0],
    ["return redis.call('EXISTS', KEYS[1], KEYS[2])", 2],
    ["return cjson.encode({a=tonumber(ARGV[1])})", 0],
    ["return redis.error_reply('MY custom')", 0],
  ];
  const gens = {
    // strings
    SET: () => {
      const a = ['SET', key('str'), val()];
      const o = r();
      if (o < 0.1) a.push('NX'); else if (o < 0.2) a.push('XX'); else if (o < 0.3) a.push('GET');
      else if (o < 0.4) a.push('EX', String(1000 + int(1000))); else if (o < 0.45) a.push('KEEPTTL');
      else if (o < 0.47) a.push('PX', '0');
      return a;
    },
    GET: () => ['GET', key('str')], MGET: () => ['MGET', key('str'), key('str'), key('list')],
    MSET: () => ['MSET', key('str'), val(), key('str'), val()], MSETNX: () => ['MSETNX', key('str'), val(), key('str'), val()],
    APPEND: () => ['APPEND', key('str'), val()], INCR: () => ['INCR', key('str')], DECR: () => ['DECR', key('str')],
    INCRBY: () => ['INCRBY', key('str'), pick([small(), '9223372036854775807', 'x'])], DECRBY: () => ['DECRBY', key('str'), small()],
    INCRBYFLOAT: () => ['INCRBYFLOAT', key('str'), pick(['1.5', '-0.25', '3', '1e2', 'abc', '0.1'])],
    STRLEN: () => ['STRLEN', key('str')], GETRANGE: () => ['GETRANGE', key('str'), idx(), idx()],
    SETRANGE: () => ['SETRANGE', key('str'), String(int(10)), val()], GETDEL: () => ['GETDEL', key('str')],
    GETSET: () => ['GETSET', key('str'), val()], SETNX: () => ['SETNX', key('str'), val()],
    GETEX: () => ['GETEX', key('str'), ...pick([[], ['PERSIST'], ['EX', '5000']])],
    LCS: () => ['LCS', key('str'), key('str'), ...pick([[], ['LEN'], ['IDX', 'WITHMATCHLEN']])],
    // bitmaps
    SETBIT: () => ['SETBIT', key('bit'), String(int(200)), pick(['0', '1', '1', '2'])],
    GETBIT: () => ['GETBIT', key('bit'), String(int(220))],
    BITCOUNT: () => ['BITCOUNT', key('bit'), ...pick([[], [idx(), idx()], [idx(), idx(), 'BIT']])],
    BITPOS: () => ['BITPOS', key('bit'), pick(['0', '1']), ...pick([[], [idx()], [idx(), idx(), 'BIT']])],
    BITOP: () => ['BITOP', pick(['AND', 'OR', 'XOR', 'NOT']), key('bit'), key('bit'), ...(chance(0.5) ? [key('bit')] : [])],
    BITFIELD: () => ['BITFIELD', key('bit'), ...pick([['GET', 'u8', String(int(100))], ['SET', 'i5', String(int(100)), small()],
      ['INCRBY', 'u4', '#1', small()], ['OVERFLOW', 'SAT', 'INCRBY', 'i8', '0', '100'], ['OVERFLOW', 'FAIL', 'INCRBY', 'u2', '3', '3']])],
    // HyperLogLog
    PFADD: () => ['PFADD', key('hll'), ...range(1 + int(4), () => member())],
    PFCOUNT: () => ['PFCOUNT', key('hll'), ...(chance(0.3) ? [key('hll')] : [])],
    PFMERGE: () => ['PFMERGE', key('hll'), key('hll'), key('hll')],
    // lists
    LPUSH: () => ['LPUSH', key('list'), ...range(1 + int(3), val)], RPUSH: () => ['RPUSH', key('list'), ...range(1 + int(3), val)],
    LPUSHX: () => ['LPUSHX', key('list'), val()], LPOP: () => ['LPOP', key('list'), ...(chance(0.3) ? [String(int(4))] : [])],
    RPOP: () => ['RPOP', key('list'), ...(chance(0.3) ? [String(int(4))] : [])], LLEN: () => ['LLEN', key('list')],
    LRANGE: () => ['LRANGE', key('list'), idx(), idx()], LINDEX: () => ['LINDEX', key('list'), idx()],
    LSET: () => ['LSET', key('list'), idx(), val()], LREM: () => ['LREM', key('list'), idx(), val()],
    LTRIM: () => ['LTRIM', key('list'), idx(), String(int(20))],
    LINSERT: () => ['LINSERT', key('list'), pick(['BEFORE', 'AFTER']), val(), val()],
    LPOS: () => ['LPOS', key('list'), val(), ...pick([[], ['RANK', '-1'], ['COUNT', '0'], ['RANK', '2', 'MAXLEN', '5']])],
    LMOVE: () => ['LMOVE', key('list'), key('list'), pick(['LEFT', 'RIGHT']), pick(['LEFT', 'RIGHT'])],
    LMPOP: () => ['LMPOP', '2', key('list'), key('list'), pick(['LEFT', 'RIGHT']), 'COUNT', String(1 + int(3))],
    // sets
    SADD: () => ['SADD', key('set'), ...range(1 + int(4), member)], SREM: () => ['SREM', key('set'), member(), member()],
    SMEMBERS: () => ({ args: ['SMEMBERS', key('set')], cmp: 'unordered' }), SCARD: () => ['SCARD', key('set')],
    SISMEMBER: () => ['SISMEMBER', key('set'), member()], SMISMEMBER: () => ['SMISMEMBER', key('set'), member(), member()],
    SINTER: () => ({ args: ['SINTER', key('set'), key('set')], cmp: 'unordered' }),
    SUNION: () => ({ args: ['SUNION', key('set'), key('set')], cmp: 'unordered' }),
    SDIFF: () => ({ args: ['SDIFF', key('set'), key('set')], cmp: 'unordered' }),
    SINTERSTORE: () => ['SINTERSTORE', key('set'), key('set'), key('set')], SUNIONSTORE: () => ['SUNIONSTORE', key('set'), key('set'), key('set')],
    SDIFFSTORE: () => ['SDIFFSTORE', key('set'), key('set'), key('set')], SINTERCARD: () => ['SINTERCARD', '2', key('set'), key('set'), 'LIMIT', String(int(5))],
    SMOVE: () => ['SMOVE', key('set'), key('set'), member()],
    SPOP: () => ({ args: ['SPOP', key('set'), ...(chance(0.5) ? [String(int(4))] : [])], cmp: 'spop' }),
    SRANDMEMBER: () => ({ args: ['SRANDMEMBER', key('set'), ...(chance(0.7) ? [String(int(10) - 5)] : [])], cmp: 'shape' }),
    // sorted sets
    ZADD: () => ['ZADD', key('zset'), ...pick([[], ['NX'], ['XX'], ['GT', 'CH'], ['LT'], ['INCR']]), score(), member(), ...(chance(0.5) ? [score(), member()] : [])],
    ZINCRBY: () => ['ZINCRBY', key('zset'), score(), member()], ZREM: () => ['ZREM', key('zset'), member(), member()],
    ZSCORE: () => ['ZSCORE', key('zset'), member()], ZMSCORE: () => ['ZMSCORE', key('zset'), member(), member()],
    ZCARD: () => ['ZCARD', key('zset')], ZCOUNT: () => ['ZCOUNT', key('zset'), pick(['-inf', '1', '(2']), pick(['+inf', '10', '(5'])],
    ZRANK: () => ['ZRANK', key('zset'), member()], ZREVRANK: () => ['ZREVRANK', key('zset'), member()],
    ZRANGE: () => ['ZRANGE', key('zset'), ...pick([[idx(), idx()], [idx(), idx(), 'REV'], ['-inf', '+inf', 'BYSCORE', 'LIMIT', '1', '3'], ['(1', '20', 'BYSCORE']]), ...(chance(0.5) ? ['WITHSCORES'] : [])],
    // lex ranges over members of different scores: defined by Redis' listpack walk (up to 128
    // members), by its skiplist's random levels once converted (compared by reply type there)
    ZRANGEBYLEX: () => ({ args: ['ZRANGEBYLEX', key('zset'), pick(['-', '[b', '(c']), pick(['+', '[m2', '(z'])], cmp: 'lex' }),
    ZRANGEBYLEX2: () => ({ args: ['ZRANGE', key('zset'), pick(['[a', '(b']), pick(['+', '[m']), 'BYLEX', ...(chance(0.5) ? ['REV'] : [])], cmp: 'lex' }),
    ZLEXCOUNT: () => ({ args: ['ZLEXCOUNT', key('zset'), pick(['-', '[b']), pick(['+', '(m'])], cmp: 'lex' }),
    // a removal must not make the datasets differ: only where the answer is defined (a listpack)
    ZREMRANGEBYLEX: () => ['EVAL', "if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('OBJECT', 'ENCODING', KEYS[1]) == 'skiplist' then return -1 end return redis.call('ZREMRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])",
      '1', key('zset'), pick(['[a', '(m3']), pick(['[c', '(m5', '+'])],
    ZPOPMIN: () => ['ZPOPMIN', key('zset'), ...(chance(0.5) ? [String(int(3))] : [])], ZPOPMAX: () => ['ZPOPMAX', key('zset')],
    ZREMRANGEBYSCORE: () => ['ZREMRANGEBYSCORE', key('zset'), pick(['-inf', '2']), pick(['3', '(5'])],
    ZREMRANGEBYRANK: () => ['ZREMRANGEBYRANK', key('zset'), idx(), idx()],
    ZUNIONSTORE: () => ['ZUNIONSTORE', key('zset'), '2', key('zset'), chance(0.3) ? key('set') : key('zset'), ...pick([[], ['WEIGHTS', '2', '0.5'], ['AGGREGATE', 'MAX']])],
    ZINTER: () => ['ZINTER', '2', key('zset'), key('zset'), 'WITHSCORES'], ZDIFF: () => ['ZDIFF', '2', key('zset'), key('zset')],
    ZRANGESTORE: () => ['ZRANGESTORE', key('zset'), key('zset'), '0', String(int(5))],
    ZRANDMEMBER: () => ({ args: ['ZRANDMEMBER', key('zset'), ...(chance(0.7) ? [String(int(10) - 5)] : [])], cmp: 'shape' }),
    ZMPOP: () => ['ZMPOP', '2', key('zset'), key('zset'), pick(['MIN', 'MAX']), 'COUNT', String(1 + int(2))],
    // hashes
    HSET: () => ['HSET', key('hash'), member(), val(), ...(chance(0.4) ? [member(), val()] : [])], HSETNX: () => ['HSETNX', key('hash'), member(), val()],
    HGET: () => ['HGET', key('hash'), member()], HMGET: () => ['HMGET', key('hash'), member(), member()],
    HDEL: () => ['HDEL', key('hash'), member(), member()], HLEN: () => ['HLEN', key('hash')],
    HEXISTS: () => ['HEXISTS', key('hash'), member()], HSTRLEN: () => ['HSTRLEN', key('hash'), member()],
    HINCRBY: () => ['HINCRBY', key('hash'), member(), small()], HINCRBYFLOAT: () => ['HINCRBYFLOAT', key('hash'), member(), pick(['0.5', '-1.25', '2'])],
    HGETALL: () => ({ args: ['HGETALL', key('hash')], cmp: 'pairs' }), HKEYS: () => ({ args: ['HKEYS', key('hash')], cmp: 'unordered' }),
    HVALS: () => ({ args: ['HVALS', key('hash')], cmp: 'unordered' }),
    HRANDFIELD: () => ({ args: ['HRANDFIELD', key('hash'), ...(chance(0.7) ? [String(int(10) - 5)] : [])], cmp: 'shape' }),
    // streams (ids explicit or <ms>-*, so both servers make the same; `*` only on xstar)
    XADD: () => {
      const k = key('stream');
      const a = ['XADD', k];
      if (chance(0.15)) a.push('MAXLEN', pick(['=', '~']), String(int(20)));
      if (streamMs[k] === undefined) streamMs[k] = 1;
      const o = r();
      if (o < 0.1) a.push(`${int(streamMs[k] + 1)}-${int(3)}`); // often not greater: an error
      else { streamMs[k] += int(3); a.push(o < 0.6 ? `${streamMs[k]}-*` : `${streamMs[k]}-${int(4) + 1}`); }
      a.push(...pick([['f', val()], ['f', val(), 'g', val()], [member(), val()]]));
      return a;
    },
    XADDSTAR: () => ({ args: ['XADD', 'xstar', '*', 'f', val()], cmp: 'id' }), XLENSTAR: () => ['XLEN', 'xstar'],
    XLEN: () => ['XLEN', key('stream')], XRANGE: () => ['XRANGE', key('stream'), pick(['-', '2', '(3-0']), pick(['+', '10', '(20']), ...(chance(0.3) ? ['COUNT', String(int(5))] : [])],
    XREVRANGE: () => ['XREVRANGE', key('stream'), '+', '-', 'COUNT', String(1 + int(4))],
    XDEL: () => ['XDEL', key('stream'), `${int(30)}-${int(3)}`, `${int(30)}-1`],
    XTRIM: () => ['XTRIM', key('stream'), ...pick([['MAXLEN', String(int(30))], ['MINID', String(int(20))], ['MAXLEN', '~', String(int(10))]])],
    XGROUP: () => pick([['XGROUP', 'CREATE', key('stream'), pick(['g1', 'g2']), pick(['0', '$', '5']), ...(chance(0.3) ? ['MKSTREAM'] : [])],
      ['XGROUP', 'SETID', key('stream'), 'g1', pick(['0', '$'])], ['XGROUP', 'DESTROY', key('stream'), 'g2'],
      ['XGROUP', 'CREATECONSUMER', key('stream'), 'g1', pick(['c1', 'c3'])], ['XGROUP', 'DELCONSUMER', key('stream'), 'g1', 'c2']]),
    XREADGROUP: () => ['XREADGROUP', 'GROUP', pick(['g1', 'g2']), pick(['c1', 'c2']), 'COUNT', String(1 + int(3)), ...(chance(0.2) ? ['NOACK'] : []), 'STREAMS', key('stream'), pick(['>', '>', '0'])],
    XREAD: () => ['XREAD', 'COUNT', String(1 + int(3)), 'STREAMS', key('stream'), key('stream'), String(int(10)), '0'],
    XACK: () => ['XACK', key('stream'), 'g1', `${int(30)}-${int(3)}`, `${int(30)}-1`],
    XPENDING: () => ['XPENDING', key('stream'), pick(['g1', 'g2'])],
    XCLAIM: () => ['XCLAIM', key('stream'), 'g1', pick(['c1', 'c2']), '0', `${int(30)}-${int(3)}`, `${int(30)}-1`, 'JUSTID'],
    XAUTOCLAIM: () => ['XAUTOCLAIM', key('stream'), 'g1', 'c1', '0', '0', 'COUNT', String(1 + int(3)), 'JUSTID'],
    XSETID: () => ['XSETID', key('stream'), `${int(60)}-0`],
    // geo
    GEOADD: () => ['GEOADD', key('geo'), ...(chance(0.2) ? ['NX'] : []), String(-180 + r() * 360), String(-85 + r() * 170), member()],
    GEODIST: () => ['GEODIST', key('geo'), member(), member(), pick(['m', 'km', 'mi'])],
    GEOPOS: () => ['GEOPOS', key('geo'), member(), member()], GEOHASH: () => ['GEOHASH', key('geo'), member()],
    GEOSEARCH: () => ['GEOSEARCH', key('geo'), 'FROMLONLAT', String(-180 + r() * 360), String(-80 + r() * 160), 'BYRADIUS', String(1000 + int(9000)), 'km', 'ASC', 'WITHDIST', 'WITHCOORD'],
    // keys, expiry, databases
    DEL: () => ['DEL', pick(all), ...(chance(0.3) ? [pick(all)] : [])], EXISTS: () => ['EXISTS', pick(all), pick(all)],
    TYPE: () => ['TYPE', pick(all)], RENAME: () => ['RENAME', pick(all), pick(all)], RENAMENX: () => ['RENAMENX', pick(all), pick(all)],
    COPY: () => { const k = pick(all); return ['COPY', k, pick(K[Object.keys(K).find((t) => K[t].includes(k))]), ...pick([[], ['REPLACE'], ['DB', String(int(3))]])]; },
    MOVE: () => ['MOVE', pick(all), String(int(3))],
    SELECT: () => ['SELECT', String(int(3))],
    EXPIRE: () => ['EXPIRE', pick(all), String(1000 + int(100000)), ...pick([[], [], ['NX'], ['GT'], ['XX'], ['LT']])],
    EXPIREAT: () => ['EXPIREAT', pick(all), pick(['1', '100'])], // in the past: deletes
    PERSIST: () => ['PERSIST', pick(all)],
    TTL: () => ({ args: ['TTL', pick(all)], cmp: 'ttl' }), PTTL: () => ({ args: ['PTTL', pick(all)], cmp: 'pttl' }),
    EXPIRETIME: () => ({ args: ['EXPIRETIME', pick(all)], cmp: 'ttl' }),
    DBSIZE: () => ['DBSIZE'], RANDOMKEY: () => ({ args: ['RANDOMKEY'], cmp: 'shape' }),
    OBJECT: () => ['OBJECT', 'ENCODING', pick(all)],
    KEYS: () => ({ args: ['KEYS', pick(['*', 's*', '?0', 'z[0-2]'])], cmp: 'unordered' }),
    // scripts and transactions
    EVAL: () => { const [s, n] = pick(scripts); return ['EVAL', s, String(n), ...range(n, () => pick(all)), val()]; },
    EVALSHA: () => { const [s, n] = pick(scripts); return ['EVALSHA', sha1(s), String(n), ...range(n, () => pick(all)), small()]; },
    SCRIPT: () => pick([['SCRIPT', 'EXISTS', sha1(scripts[0][0]), sha1(scripts[1][0])], ['SCRIPT', 'LOAD', pick(scripts)[0]]]),
    MULTI: () => ({ multi: true }),
    // more of each family
    // SORT: equal sort keys come out in each server's table/qsort order (a documented difference),
    // so a set's BY nosort and sorts by a missing external key compare as multisets
    SORT: () => pick([
      { args: ['SORT', pick([key('list'), key('set'), key('zset')]), ...pick([[], ['ALPHA'], ['DESC', 'ALPHA', 'LIMIT', '1', '3']])] },
      { args: ['SORT', key('list'), 'BY', 'nosort'], cmp: 'unordered' }, // a list's order, a set's in l* after a RENAME
      { args: ['SORT', pick([key('list'), key('set')]), 'BY', pick(['nosort', 's*']), 'GET', '#', 'ALPHA'], cmp: 'unordered' }]),
    SORTSTORE: () => ['SORT', key('list'), 'ALPHA', 'STORE', key('list')],
    RPOPLPUSH: () => ['RPOPLPUSH', key('list'), key('list')], LPUSHXR: () => ['RPUSHX', key('list'), val()],
    SWAPDB: () => ['SWAPDB', String(int(3)), String(int(3))],
    FLUSHDB: () => (chance(0.2) ? ['FLUSHDB'] : ['DBSIZE']),
    ZINTERCARD: () => ['ZINTERCARD', '2', key('zset'), key('zset'), ...(chance(0.5) ? ['LIMIT', String(int(4))] : [])],
    ZINTERSTORE: () => ['ZINTERSTORE', key('zset'), '2', key('zset'), key('zset'), ...pick([[], ['AGGREGATE', 'MIN'], ['WEIGHTS', '1', '-1']])],
    ZDIFFSTORE: () => ['ZDIFFSTORE', key('zset'), '2', key('zset'), key('zset')],
    ZRANGESTORE2: () => ['ZRANGESTORE', key('zset'), key('zset'), pick(['-inf', '(1']), pick(['+inf', '5']), 'BYSCORE', ...(chance(0.5) ? ['REV'] : []), 'LIMIT', '0', String(int(4))],
    ZUNION: () => ['ZUNION', '2', key('zset'), key('set'), 'WITHSCORES'],
    ZADDFLOAT: () => ['ZADD', key('zset'), pick(['0.1', '1.5e-3', '-2.25', '1e20', '3.0000000000000004']), member()],
    BITFIELD_RO: () => ['BITFIELD_RO', key('bit'), 'GET', pick(['u8', 'i16', 'u1']), String(int(300))],
    // members at one position (GEOSEARCHSTORE … STOREDIST makes them) tie: compared as multisets
    GEOSEARCHBOX: () => ({ args: ['GEOSEARCH', key('geo'), 'FROMMEMBER', member(), 'BYBOX', String(100 + int(20000)), String(100 + int(20000)), 'km', ...pick([[], ['DESC']]), 'WITHHASH'], cmp: 'unordered' }),
    GEOSEARCHSTORE: () => ['GEOSEARCHSTORE', key('geo'), key('geo'), 'FROMLONLAT', '0', '0', 'BYRADIUS', '20000', 'km', ...(chance(0.5) ? ['STOREDIST'] : [])],
    GEORADIUS: () => ({ args: ['GEORADIUS', key('geo'), String(-180 + r() * 360), String(-80 + r() * 160), String(1000 + int(9000)), 'km', 'WITHCOORD', 'ASC'], cmp: 'unordered' }),
    XINFO: () => ['XINFO', pick(['STREAM', 'GROUPS']), key('stream')],
    XCLAIMFULL: () => ['XCLAIM', key('stream'), 'g1', 'c2', '0', `${int(30)}-${int(3)}`, `${int(30)}-1`, 'RETRYCOUNT', String(int(5))],
    XPENDINGC: () => ({ args: ['XPENDING', key('stream'), 'g1', '-', '+', '10', pick(['c1', 'c2'])], cmp: 'pending' }),
    HRANDFIELDALL: () => ({ args: ['HRANDFIELD', key('hash'), '1000', 'WITHVALUES'], cmp: 'pairs' }),
    SRANDALL: () => ({ args: ['SRANDMEMBER', key('set'), '1000'], cmp: 'unordered' }),
    LCSIDX: () => ['LCS', key('str'), key('str'), 'IDX', 'MINMATCHLEN', String(int(3))],
    GETEXPX: () => ['GETEX', key('str'), 'PXAT', String(Date.UTC(2100, 0, 1))],
    SETGET: () => ['SET', key('str'), val(), 'GET', ...(chance(0.3) ? ['NX'] : [])],
    APPENDINT: () => ['APPEND', key('str'), small()],
    PFCOUNTMULTI: () => ['PFCOUNT', key('hll'), key('hll'), key('hll')],
    TOUCH: () => ['TOUCH', pick(all), pick(all)], UNLINK: () => ['UNLINK', pick(all)],
    EXPIRETIMEX: () => ['PEXPIRE', pick(all), String(5000000 + int(1000)), ...pick([[], ['GT'], ['LT']])],
    SCRIPTERR: () => ['EVAL', "redis.call('SET', KEYS[1], 'a'); redis.call('INCR', KEYS[1]); return 1", '1', key('str')],
    EVALRO: () => ['EVAL_RO', "return redis.call('GET', KEYS[1])", '1', key('str')],
    EVALRESP3: () => ({ args: ['EVAL', "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", '1', key('hash')], cmp: 'pairs' }),
    // many members at once: collections cross the compact encodings' count limits (OBJECT ENCODING)
    BULK: () => pick([['SADD', key('set'), ...range(100 + int(500), (i) => String(i * 7))], ['HSET', key('hash'), ...range(60 + int(100), (i) => [`f${i}`, String(i)]).flat()],
      ['ZADD', key('zset'), ...range(60 + int(100), (i) => [String(i % 17), `m${i}`]).flat()], ['RPUSH', key('list'), ...range(100 + int(200), (i) => `e${i}`)]]),
  };
  const names = Object.keys(gens);
  return () => {
    const name = pick(names);
    const g = gens[name]();
    if (Array.isArray(g)) return { args: g };
    if (!g.args && !g.multi) throw new Error(`generator ${name}`);
    return g;
  };
}

/** A reply's elements (raw bulk bytes) for the order-insensitive comparisons. */
function elements(reply) {
  let v = decode(reply, 0, true)[0];
  if (v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !('error' in v)) v = Object.entries(v).flat(); // RESP3 map
  return Array.isArray(v) ? v.map((e) => (Buffer.isBuffer(e) ? e.toString('latin1') : JSON.stringify(e))) : v;
}
function shape(reply) {
  const v = decode(reply, 0, true)[0];
  if (Array.isArray(v)) return `array:${v.length}`;
  if (v && v.error) return `error:${v.error}`;
  return v === null ? 'null' : Buffer.isBuffer(v) ? 'bulk' : typeof v;
}

/** Compares one reply pair; null when they agree, else a description. */
function compare(cmp, a, b) {
  if (a.equals(b)) return null;
  const sa = a.toString('latin1');
  const sb = b.toString('latin1');
  switch (cmp) {
    case 'unordered': case 'spop': {
      const ea = elements(a);
      const eb = elements(b);
      if (cmp === 'spop' && shape(a) === shape(b)) return null;
      if (Array.isArray(ea) && Array.isArray(eb) && JSON.stringify([...ea].sort()) === JSON.stringify([...eb].sort())) return null;
      break;
    }
    case 'pairs': {
      const pa = elements(a);
      const pb = elements(b);
      const nested = (e) => Array.isArray(e) && Array.isArray(decode(a, 0, true)[0]?.[0]); // RESP3: [[f, v], …]
      const pairs = (e) => { if (nested(e)) return [...e].sort(); const o = []; for (let i = 0; i < e.length; i += 2) o.push(e[i] + '\0' + e[i + 1]); return o.sort(); };
      if (Array.isArray(pa) && Array.isArray(pb) && JSON.stringify(pairs(pa)) === JSON.stringify(pairs(pb))) return null;
      break;
    }
    case 'shape': if (shape(a) === shape(b)) return null; break;
    case 'type': if (a[0] === b[0]) return null; break;
    case 'pending': { // XPENDING's extended form: the idle milliseconds are the clock's
      const strip = (x) => { const v = decode(x, 0, true)[0]; return JSON.stringify(Array.isArray(v) ? v.map((e) => (Array.isArray(e) ? [e[0], e[1], e[3]] : e)) : v); };
      if (strip(a) === strip(b)) return null;
      break;
    }
    case 'id': if (/^\$\d+\r\n\d+-\d+\r\n$/.test(sa) && /^\$\d+\r\n\d+-\d+\r\n$/.test(sb)) return null; break;
    case 'ttl': case 'pttl': {
      const na = /^:(-?\d+)\r\n$/.exec(sa);
      const nb = /^:(-?\d+)\r\n$/.exec(sb);
      if (na && nb && Math.abs(Number(na[1]) - Number(nb[1])) <= (cmp === 'ttl' ? 1 : 1000) && Number(na[1]) >= 0 === Number(nb[1]) >= 0) return null;
      break;
    }
  }
  return `redis-server: ${JSON.stringify(sa.slice(0, 400))}\n    bunder:       ${JSON.stringify(sb.slice(0, 400))}`;
}

/** Runs COUNT generated commands of seed on both servers (protocol 2 or 3); asserts no difference. */
async function differential(seed, count, proto) {
  const COMMANDS = count;
  const SEED = seed;
  const [redis, bunder] = await Promise.all([startRedis(), startBunder(['--appendonly', 'no', '--enable-debug-command', 'yes'])]);
  const rp = await Pipe.connect(redis.port);
  const bp = await Pipe.connect(bunder.port);
  if (proto === 3) await Promise.all([rp.run([['HELLO', '3']]), bp.run([['HELLO', '3']])]);
  const next = generator(SEED);
  const diffs = [];
  const history = []; // every command sent and its database, for the context of a difference
  let curdb = '0';
  const t0 = Date.now();
  try {
    let i = 0;
    while (i < COMMANDS && diffs.length < 20) {
      const batch = [];
      let spop = -1;
      while (batch.length < BATCH && i + batch.length < COMMANDS) {
        const c = next();
        if (c.multi) { // a transaction of 1-4 deterministic commands
          const inner = [];
          while (inner.length < 1 + (batch.length % 4)) { const d = next(); if (!d.cmp && !d.multi) inner.push(d); }
          batch.push({ args: ['MULTI'] }, ...inner, { args: ['EXEC'] });
          continue;
        }
        if (c.cmp === 'lex') batch.push({ args: ['OBJECT', 'ENCODING', c.args[1]] }); // decides how 'lex' compares
        batch.push(c);
        if (c.cmp === 'spop') { spop = batch.length - 1; break; }
      }
      const cmds = batch.map((c) => c.args);
      for (const a of cmds) {
        history.push({ a, db: curdb });
        if (a[0] === 'SELECT') curdb = a[1];
      }
      const [ra, rb] = await Promise.all([rp.run(cmds), bp.run(cmds)]);
      for (let j = 0; j < batch.length; j++) {
        const big = batch[j].cmp === 'lex' && ra[j - 1].toString().includes('skiplist');
        const d = compare(big ? 'type' : batch[j].cmp, ra[j], rb[j]);
        if (!d) continue;
        let what = JSON.stringify(batch[j].args).slice(0, 300);
        if (batch[j].args[0] === 'EXEC') { // name the transaction's commands
          let m = j;
          while (m > 0 && batch[m].args[0] !== 'MULTI') m--;
          what += ' of ' + JSON.stringify(batch.slice(m + 1, j).map((x) => x.args)).slice(0, 600);
        }
        // context: the last commands before it that named the same key
        const k = batch[j].args[0] === 'OBJECT' ? batch[j].args[2] : batch[j].args[1];
        const ctx = [];
        const db = history[history.length - batch.length + j].db;
        for (let h = history.length - batch.length + j - 1; h >= 0 && ctx.length < CONTEXT; h--) {
          const { a, db: hdb } = history[h];
          if (a.includes(k) && (hdb === db || a[0] === 'MOVE' || a[0] === 'COPY')) ctx.unshift(`#${h} db${hdb} ${JSON.stringify(a).slice(0, 120)}`);
        }
        diffs.push(`#${i + j} ${what}\n    ${d}\n    after: ${ctx.join('\n           ')}`);
      }
      if (spop >= 0) { // give bunder's set redis-server's remaining members
        const popped = (reply) => { const v = decode(reply, 0, true)[0]; return v === null || (v && v.error) ? [] : Array.isArray(v) ? v : [v]; };
        const k = batch[spop].args[1];
        const back = popped(rb[spop]);
        const gone = popped(ra[spop]);
        const fix = [];
        if (back.length) fix.push(['SADD', k, ...back]);
        if (gone.length) fix.push(['SREM', k, ...gone]);
        if (fix.length) await bp.run(fix);
      }
      i += batch.length;
    }
    // the final datasets agree too, key by key (type, contents, TTL) — and again after bunder
    // saved them to its RDB file and loaded it back (DEBUG RELOAD: rdb.c on random data)
    for (const phase of ['final', 'after DEBUG RELOAD']) {
      if (phase !== 'final') {
        const [r] = await bp.run([['DEBUG', 'RELOAD']]);
        assert.equal(r.toString(), '+OK\r\n');
      }
      for (const db of ['0', '1', '2']) {
        const cmds = [['SELECT', db], ['DBSIZE'], ['KEYS', '*']];
        const [ra, rb] = await Promise.all([rp.run(cmds), bp.run(cmds)]);
        const d = compare(null, ra[1], rb[1]) || compare('unordered', ra[2], rb[2]);
        if (d) { diffs.push(`${phase} db ${db}\n    ${d}`); continue; }
        const keys = decode(ra[2], 0, true)[0];
        const [types] = await Promise.all([rp.run(keys.map((k) => ['TYPE', k]))]);
        const view = []; // [command, comparison] per key
        keys.forEach((k, i) => {
          const t = types[i].toString().slice(1, -2);
          view.push([['PTTL', k], 'pttl']);
          if (t === 'string') view.push([['GET', k], null]);
          else if (t === 'list') view.push([['LRANGE', k, '0', '-1'], null]);
          else if (t === 'set') view.push([['SMEMBERS', k], 'unordered']);
          else if (t === 'zset') view.push([['ZRANGE', k, '0', '-1', 'WITHSCORES'], null]);
          else if (t === 'hash') view.push([['HGETALL', k], 'pairs']);
          else if (t === 'stream' && k.toString() === 'xstar') view.push([['XLEN', k], null]); // ids made by `*`
          else if (t === 'stream') view.push([['XRANGE', k, '-', '+'], null], [['XINFO', 'GROUPS', k], null]);
          view.push([['TYPE', k], null]);
        });
        const vc = view.map((v) => v[0]);
        const [va, vb] = await Promise.all([rp.run(vc), bp.run(vc)]);
        view.forEach(([c, cmp], i) => {
          const e = compare(cmp, va[i], vb[i]);
          if (e) diffs.push(`${phase} db ${db} ${JSON.stringify(c).slice(0, 200)}\n    ${e}`);
        });
      }
    }
  } finally {
    rp.close();
    bp.close();
    await Promise.all([redis.stop(), bunder.stop()]);
  }
  console.log(`# ${COMMANDS} commands (RESP${proto}) in ${Date.now() - t0} ms`);
  assert.equal(diffs.length, 0, `seed ${SEED} RESP${proto} (BB_DIFF_SEED=${SEED} replays it): ${diffs.length} difference(s)\n  ${diffs.join('\n  ')}`);
}

test(`${COMMANDS} seeded random commands: bunder replies as redis-server (seed ${SEED})`, () => differential(SEED, COMMANDS, 2));
// the same generator under HELLO 3: maps, sets, doubles, nulls and RESP3 errors byte for byte
test(`${Math.ceil(COMMANDS / 4)} more under RESP3 (seed ${SEED + 1})`, () => differential(SEED + 1, Math.ceil(COMMANDS / 4), 3));
