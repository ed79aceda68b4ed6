#!/usr/bin/env node
// gen-bunder-commands.mjs — writes src/bunder/commands_meta.inc, bunder's command metadata
// (COMMAND INFO: flags, ACL categories, tips, key specs, subcommands; COMMAND DOCS: summary,
// since, group, complexity, history, arguments...), from Redis 7.0's own interface.
//
//   node scripts/gen-bunder-commands.mjs [path/to/redis-server]   (default /usr/bin/redis-server)
//
// It starts redis-server on a private unix socket (no TCP port, no persistence), asks it
// `HELLO 3`, `COMMAND LIST` and, per top-level command, `COMMAND INFO <name>` and
// `COMMAND DOCS <name>`, and writes one row per command: the two RESP3 replies, re-encoded with
// "\n" line ends. The output is deterministic: rows sorted by name, and subcommands (which Redis
// lists in its randomly seeded dict order) sorted by name too. The build only reads the file;
// redis-server is needed only to regenerate it (after a Redis upgrade).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sortDocs, sortInfo } from './bunder-command-order.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const server = process.argv[2] || process.env.BB_REDIS_SERVER || '/usr/bin/redis-server';
const out = path.join(root, 'src', 'bunder', 'commands_meta.inc');

// ---- RESP3 ------------------------------------------------------------------------------
// A parsed value: { t: type char, v: string | number | child array }.
function parse(buf, pos) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const t = String.fromCharCode(buf[pos]);
  const line = buf.toString('latin1', pos + 1, eol);
  let p = eol + 2;
  switch (t) {
    case '+': case '-': case ':': return [{ t, v: line }, p];
    case '_': return [{ t, v: '' }, p];
    case '$': case '=': {
      const n = Number(line);
      if (n < 0) return [{ t: '_', v: '' }, p];
      if (buf.length < p + n + 2) return null;
      return [{ t: '$', v: buf.toString('latin1', p, p + n) }, p + n + 2];
    }
    case '*': case '~': case '%': {
      const n = Number(line) * (t === '%' ? 2 : 1);
      const kids = [];
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return null;
        kids.push(r[0]);
        p = r[1];
      }
      return [{ t, v: kids }, p];
    }
    default: throw new Error(`unexpected RESP type ${t}`);
  }
}

function encodeArgs(args) {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

// Compact form stored in the .inc file: RESP3 with "\n" instead of "\r\n".
function ser(v) {
  switch (v.t) {
    case '$': return `$${Buffer.byteLength(v.v, 'latin1')}\n${v.v}\n`;
    case '+': case ':': return `${v.t}${v.v}\n`;
    case '*': case '~': return `${v.t}${v.v.length}\n` + v.v.map(ser).join('');
    case '%': return `%${v.v.length / 2}\n` + v.v.map(ser).join('');
    default: throw new Error(`cannot store RESP type ${v.t}`);
  }
}

// C string literal, split into lines of at most ~100 columns (at the "\n" of the data).
function cstr(s) {
  const parts = [];
  let cur = '';
  for (const ch of s) {
    let e;
    if (ch === '\n') e = '\\n';
    else if (ch === '"') e = '\\"';
    else if (ch === '\\') e = '\\\\';
    else if (ch === '?') e = '\\?'; // no trigraphs
    else if (ch.charCodeAt(0) < 32 || ch.charCodeAt(0) > 126) e = `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`;
    else e = ch;
    cur += e;
    if (ch === '\n' && cur.length > 72) { parts.push(cur); cur = ''; }
  }
  if (cur) parts.push(cur);
  return parts.map((p) => `    "${p}"`).join('\n');
}

// ---- run redis-server -------------------------------------------------------------------
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-bunder-cmds-'));
const sock = path.join(dir, 'redis.sock');
const proc = spawn(server, ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no',
  '--dir', dir, '--daemonize', 'no'], { stdio: ['ignore', 'ignore', 'inherit'] });
const cleanup = () => { try { proc.kill('SIGKILL'); } catch {} fs.rmSync(dir, { recursive: true, force: true }); };
process.on('exit', cleanup);

async function connect() {
  for (let i = 0; i < 200; i++) {
    try {
      return await new Promise((resolve, reject) => {
        const s = net.connect(sock, () => resolve(s));
        s.once('error', reject);
      });
    } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  throw new Error(`${server} did not start`);
}

const s = await connect();
let buf = Buffer.alloc(0);
const waiters = [];
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (waiters.length) {
    const r = parse(buf, 0);
    if (!r) break;
    buf = buf.subarray(r[1]);
    waiters.shift()(r[0]);
  }
});
const call = (...args) => new Promise((resolve) => { waiters.push(resolve); s.write(encodeArgs(args)); });

await call('HELLO', '3');
const version = (await call('INFO', 'server')).v.match(/redis_version:(\S+)/)[1];
const names = (await call('COMMAND', 'LIST')).v.map((x) => x.v).filter((n) => !n.includes('|')).sort();
const rows = [];
for (const name of names) {
  const info = await call('COMMAND', 'INFO', name);
  const docs = await call('COMMAND', 'DOCS', name);
  if (info.t !== '*' || info.v.length !== 1 || docs.t !== '%' || docs.v.length !== 2)
    throw new Error(`unexpected reply for ${name}`);
  rows.push([name, ser(sortInfo(info.v[0])), ser(sortDocs(docs.v[1]))]);
}
s.destroy();

let text = `/* commands_meta.inc — GENERATED by scripts/gen-bunder-commands.mjs from redis-server ${version}'s
 * COMMAND INFO and COMMAND DOCS (RESP3, "\\n" line ends, subcommands sorted by name). Do not edit:
 * regenerate. One row per top-level command: BNDR_META(name, info reply, docs reply). */
`;
for (const [name, info, docs] of rows)
  text += `BNDR_META("${name}",\n${cstr(info)},\n${cstr(docs)})\n`;
fs.writeFileSync(out, text);
console.log(`${path.relative(root, out)}: ${rows.length} commands from redis-server ${version}`);
process.exit(0);
