// Worker start + bundle load, measured from node: N runs of `bunbase-qjs-worker --check FILE`
// (process spawn, runtime.js, module compile, default export check, exit). Prints "p50 p99" in ms.
import { spawnSync } from 'node:child_process';

const [worker, file, n = '50'] = process.argv.slice(2);
const ms = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(worker, ['--check', file], { env: {} });
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (r.status !== 0) throw new Error(`check failed: ${r.stdout}`);
}
ms.sort((a, b) => a - b);
const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(3);
console.log(`${q(0.5)} ${q(0.99)}`);
