// bunder's geo commands against Debian's redis-server 7: the same commands to both, replies
// compared byte for byte — fixed cases with every option and error, then seeded random points
// and searches (scores, GEOHASH, GEOPOS, GEODIST, GEOSEARCH/GEORADIUS results and order).
import test from 'node:test';
import { startPair } from './bunder_compat_lib.mjs';
import { resp3 } from './bunder_data_lib.mjs';

test('GEOADD/GEOPOS/GEODIST/GEOHASH/GEOSEARCH/GEORADIUS options and errors equal redis-server', async () => {
  const p = await startPair();
  try {
    await p.same([
      ['GEOADD', 'Sicily', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania'],
      ['GEOADD', 'Sicily', '12.758489', '38.788135', 'edge1', '17.241510', '38.788135', 'edge2'],
      ['ZRANGE', 'Sicily', '0', '-1', 'WITHSCORES'],
      ['GEOADD', 'Sicily', 'NX', '13.361389', '38.115556', 'Palermo'], ['GEOADD', 'Sicily', 'XX', 'CH', '13', '38', 'Palermo', '1', '2', 'new'],
      ['GEOADD', 'Sicily', 'CH', '13.361389', '38.115556', 'Palermo'], ['GEOADD', 'Sicily', 'NX', 'XX', '1', '2', 'x'],
      ['GEOADD', 'Sicily', '1', '2'], ['GEOADD', 'Sicily', '200', '2', 'x'], ['GEOADD', 'Sicily', '1', '86', 'x'],
      ['GEOADD', 'Sicily', 'a', '2', 'x'], ['GEOADD', 'Sicily', 'GT', '1', '2', 'x'], ['GEOADD', 'Sicily', 'NX', 'CH', 'CH'],
      ['GEOADD', 'poles', '-180', '-85.05112878', 's', '180', '85.05112878', 'n', '0', '0', 'o'],
      ['GEOPOS', 'poles', 's', 'n', 'o', 'nope'], ['GEOHASH', 'poles', 's', 'n', 'o', 'nope'],
      ['GEOPOS', 'Sicily', 'Palermo', 'Catania', 'nope'], ['GEOPOS', 'nokey', 'a'], ['GEOHASH', 'Sicily', 'Palermo', 'Catania'],
      ['GEOHASH', 'nokey', 'a', 'b'], ['GEODIST', 'Sicily', 'Palermo', 'Catania'], ['GEODIST', 'Sicily', 'Palermo', 'Catania', 'km'],
      ['GEODIST', 'Sicily', 'Palermo', 'Catania', 'MI'], ['GEODIST', 'Sicily', 'Palermo', 'Catania', 'ft'],
      ['GEODIST', 'Sicily', 'Palermo', 'Catania', 'yd'], ['GEODIST', 'Sicily', 'Palermo', 'nope'], ['GEODIST', 'nokey', 'a', 'b'],
      ['GEODIST', 'Sicily', 'Palermo', 'Catania', 'km', 'x'], ['GEODIST', 'poles', 's', 'n'],
      ['SET', 'str', 'v'], ['GEOADD', 'str', '1', '2', 'x'], ['GEOPOS', 'str', 'x'], ['GEODIST', 'str', 'a', 'b'], ['GEOHASH', 'str', 'a'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km'], ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'WITHDIST', 'WITHCOORD', 'WITHHASH'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'WITHDIST', 'ASC'], ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'WITHDIST', 'DESC'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'COUNT', '1'], ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'COUNT', '1', 'ANY'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'ANY'], ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'COUNT', '0'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'COUNT', 'x'], ['GEORADIUS', 'Sicily', '15', '37', '-1', 'km'],
      ['GEORADIUS', 'Sicily', '15', '37', 'x', 'km'], ['GEORADIUS', 'Sicily', '15', '37', '200', 'parsec'],
      ['GEORADIUS', 'Sicily', '15', '100', '200', 'km'], ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'FOO'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'STORE', 'dst'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'STOREDIST', 'dst'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'],
      ['GEORADIUS', 'Sicily', '15', '37', '1', 'm', 'STORE', 'dst'], ['EXISTS', 'dst'],
      ['GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'STORE', 'dst', 'WITHDIST'],
      ['GEORADIUS_RO', 'Sicily', '15', '37', '200', 'km', 'WITHDIST'], ['GEORADIUS_RO', 'Sicily', '15', '37', '200', 'km', 'STORE', 'dst'],
      ['GEORADIUS', 'nokey', '15', '37', '200', 'km'], ['GEORADIUS', 'nokey', '15', '37', '200', 'km', 'STORE', 'dst'],
      ['GEORADIUS', 'str', '15', '37', '200', 'km'],
      ['GEORADIUSBYMEMBER', 'Sicily', 'Palermo', '200', 'km', 'WITHDIST'], ['GEORADIUSBYMEMBER', 'Sicily', 'nope', '200', 'km'],
      ['GEORADIUSBYMEMBER', 'nokey', 'nope', 'x', 'km'], ['GEORADIUSBYMEMBER_RO', 'Sicily', 'Palermo', '100', 'mi', 'WITHCOORD'],
      ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'ASC', 'WITHDIST', 'WITHCOORD'],
      ['GEOSEARCH', 'Sicily', 'FROMMEMBER', 'Palermo', 'BYBOX', '400', '400', 'km', 'DESC', 'WITHHASH'],
      ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '15', '37', 'BYBOX', '400', '100', 'km', 'WITHDIST'],
      ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '15', '37', 'FROMMEMBER', 'Palermo', 'BYRADIUS', '1', 'km'],
      ['GEOSEARCH', 'Sicily', 'FROMMEMBER', 'nope', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'Sicily', 'BYRADIUS', '1', 'km', 'ASC'],
      ['geosearch', 'Sicily', 'FROMLONLAT', '1', '2', 'ASC', 'COUNT', '2'], ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '2', 'BYBOX', '-1', '2', 'km'],
      ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '2', 'BYBOX', 'x', '2', 'km'], ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '2', 'BYBOX', '1', 'x', 'km'],
      ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '2', 'BYRADIUS', '1', 'km', 'BYBOX', '1', '1', 'km'],
      ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'STORE', 'x'],
      ['GEOSEARCH', 'nokey', 'FROMMEMBER', 'x', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'nokey', 'FROMLONLAT', '1', '2', 'BYRADIUS', '1', 'km'],
      ['GEOSEARCHSTORE', 'dst', 'Sicily', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'STOREDIST'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'],
      ['GEOSEARCHSTORE', 'dst', 'Sicily', 'FROMLONLAT', '15', '37', 'BYBOX', '200', '200', 'km', 'COUNT', '1'], ['ZRANGE', 'dst', '0', '-1', 'WITHSCORES'],
      ['GEOSEARCHSTORE', 'dst', 'Sicily', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'WITHDIST'],
      ['GEOSEARCHSTORE', 'dst', 'nokey', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km'], ['EXISTS', 'dst'],
      ['GEOSEARCH', 'poles', 'FROMLONLAT', '0', '0', 'BYRADIUS', '30000', 'km', 'WITHCOORD'],
      ['GEOSEARCH', 'poles', 'FROMLONLAT', '179', '84', 'BYBOX', '50000', '50000', 'km', 'WITHDIST'],
    ]);
    await resp3(p, [['GEOPOS', 'Sicily', 'Palermo', 'nope'], ['GEOSEARCH', 'Sicily', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'WITHDIST', 'WITHCOORD', 'WITHHASH']]);
  } finally {
    await p.stop();
  }
});

test('seeded random points and searches equal redis-server', async () => {
  let seed = 0x9e3779b9;
  const rnd = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; };
  const lon = () => (rnd() * 360 - 180).toFixed(6);
  const lat = () => (rnd() * 170 - 85).toFixed(6);
  const p = await startPair();
  try {
    const cmds = [];
    // a world-wide set and a dense cluster (many members per geohash box)
    for (let b = 0; b < 5; b++) {
      const args = ['GEOADD', 'w'];
      for (let i = 0; i < 100; i++) args.push(lon(), lat(), `w${b}-${i}`);
      cmds.push(args);
      const dense = ['GEOADD', 'd'];
      for (let i = 0; i < 100; i++) dense.push((2 + rnd() * 0.5).toFixed(6), (48 + rnd() * 0.5).toFixed(6), `d${b}-${i}`);
      cmds.push(dense);
    }
    cmds.push(['ZRANGE', 'w', '0', '-1', 'WITHSCORES'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES']);
    for (let i = 0; i < 40; i++) {
      const m = `w${i % 5}-${(i * 7) % 100}`;
      cmds.push(['GEOPOS', 'w', m, `d${i % 5}-${i}`], ['GEOHASH', 'w', m], ['GEODIST', 'w', m, `w${(i + 1) % 5}-${i}`, 'km']);
      const units = ['m', 'km', 'mi', 'ft'];
      const u = units[i % 4];
      const r = String(Math.round(rnd() * (u === 'm' || u === 'ft' ? 3000000 : 3000)));
      cmds.push(['GEOSEARCH', 'w', 'FROMLONLAT', lon(), lat(), 'BYRADIUS', r, u, 'WITHDIST', 'WITHHASH']);
      cmds.push(['GEOSEARCH', 'w', 'FROMMEMBER', m, 'BYBOX', r, String(Math.round(rnd() * 2000)), u, 'ASC', 'WITHCOORD']);
      cmds.push(['GEOSEARCH', 'd', 'FROMLONLAT', (2 + rnd() * 0.5).toFixed(6), (48 + rnd() * 0.5).toFixed(6), 'BYRADIUS', String(Math.round(rnd() * 30)), 'km', 'DESC', 'WITHDIST']);
      cmds.push(['GEOSEARCH', 'd', 'FROMLONLAT', '2.25', '48.25', 'BYBOX', String(1 + i), String(40 - i), 'km', 'COUNT', String(1 + i), 'WITHDIST']);
      cmds.push(['GEORADIUS', 'd', '2.2', '48.2', String(i + 1), 'km']);
      cmds.push(['GEORADIUSBYMEMBER', 'w', m, r, u, 'COUNT', '5', 'DESC']);
    }
    await p.same(cmds);
  } finally {
    await p.stop();
  }
});
