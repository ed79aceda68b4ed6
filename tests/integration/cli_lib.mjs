// Helpers of the CLI tests (cli*.test.mjs): run the real build/bunbase with its config in a temp
// directory against a server, and check its exit code.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { BUNBASE, baseEnv } from './harness.mjs';

/** Runs the CLI against url with its config under cfg (XDG_CONFIG_HOME); input goes to its
 * stdin. Resolves {code, signal, stdout, stderr, json} (json: stdout parsed when it is one JSON
 * document). */
export function cliRun(url, cfg, args, { input, env = {}, cwd, timeoutMs = 30000, onSpawn } = {}) {
  return new Promise((resolve) => {
    const p = spawn(BUNBASE, args, { env: baseEnv({ XDG_CONFIG_HOME: cfg, BUNBASE_URL: url, ...env }), stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(t);
      let json = null;
      try { json = JSON.parse(stdout); } catch { /* not one JSON document */ }
      resolve({ code, signal, stdout, stderr, json });
    });
    p.stdin.on('error', () => {});
    if (onSpawn) onSpawn(p, () => stdout);
    if (input !== null) p.stdin.end(input ?? '');
  });
}

export const ok = (r, what) => assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
export const configOf = (cfg) => JSON.parse(fs.readFileSync(path.join(cfg, 'bunbase', 'config.json'), 'utf8'));
