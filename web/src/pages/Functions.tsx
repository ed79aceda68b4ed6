import { useEffect, useState } from 'react';
import type { FnLog, FnMinute } from '../api';
import { useApi } from '../auth';
import { AsyncView, ConfirmDelete, Empty, ErrorBox, Field, fmtTime, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';
import { Link, useNavigate } from '../router';

const TEMPLATE = `export default {
  async fetch(request) {
    const body = request.method === 'POST' ? await request.json() : {};
    console.log('hello', body.name);
    return Response.json({ message: \`Hello, \${body.name ?? 'world'}!\` });
  },
};
`;

export function FunctionsPage({ pid }: { pid: string }) {
  useTitle('Functions');
  const api = useApi();
  const navigate = useNavigate();
  const list = useAsync(() => api.functions(pid), [api, pid]);
  const [name, setName] = useState('');
  const [runtime, setRuntime] = useState('quickjs');
  const [source, setSource] = useState(TEMPLATE);
  const deploy = useAction(async () => {
    await api.deploy(pid, name.trim(), source, runtime);
    navigate(`/projects/${pid}/functions/${encodeURIComponent(name.trim())}`);
  });
  return (
    <section>
      <h1>Functions</h1>
      <AsyncView state={list} empty="No functions yet: deploy one below.">
        {(fs) => (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Active version</th>
                <th>Runtime</th>
                <th>Size</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {fs.map((f) => (
                <tr key={f.name}>
                  <td>
                    <Link to={`/projects/${pid}/functions/${encodeURIComponent(f.name)}`}>{f.name}</Link>
                  </td>
                  <td>v{f.active_version}</td>
                  <td>{f.runtime}</td>
                  <td>{f.size} B</td>
                  <td>{fmtTime(f.updated_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AsyncView>
      <DeployForm
        title="Deploy a function"
        name={name}
        setName={setName}
        runtime={runtime}
        setRuntime={setRuntime}
        source={source}
        setSource={setSource}
        busy={deploy.busy}
        error={deploy.error}
        onDeploy={() => void deploy.run()}
      />
    </section>
  );
}

function DeployForm(p: {
  title: string;
  name?: string;
  setName?: (s: string) => void;
  runtime: string;
  setRuntime: (s: string) => void;
  source: string;
  setSource: (s: string) => void;
  busy: boolean;
  error: Error | null;
  onDeploy: () => void;
}) {
  return (
    <form
      className="card"
      onSubmit={(e) => {
        e.preventDefault();
        p.onDeploy();
      }}
    >
      <h2>{p.title}</h2>
      {p.setName && (
        <Field label="Function name">
          {(id) => <input id={id} value={p.name} onChange={(e) => p.setName!(e.target.value)} pattern={'[A-Za-z0-9_\\-]+'} />}
        </Field>
      )}
      <Field label="Runtime">
        {(id) => (
          <select id={id} value={p.runtime} onChange={(e) => p.setRuntime(e.target.value)}>
            <option value="quickjs">QuickJS</option>
            <option value="bun">Bun</option>
          </select>
        )}
      </Field>
      <Field label="Source file (index.js)">
        {(id) => (
          <input
            id={id}
            type="file"
            accept=".js,.mjs,application/javascript"
            onChange={async (e) => {
              const f = e.target.files?.[0];
              if (f) p.setSource(await f.text());
            }}
          />
        )}
      </Field>
      <Field label="Code">
        {(id) => <textarea id={id} className="json" rows={12} spellCheck={false} value={p.source} onChange={(e) => p.setSource(e.target.value)} />}
      </Field>
      <ErrorBox error={p.error} />
      <button type="submit" className="primary" disabled={p.busy || (p.setName && !p.name?.trim()) || !p.source.trim()}>
        {p.busy ? 'Deploying…' : 'Deploy'}
      </button>
    </form>
  );
}

export function FunctionPage({ pid, name }: { pid: string; name: string }) {
  useTitle(name);
  const api = useApi();
  const navigate = useNavigate();
  const versions = useAsync(() => api.versions(pid, name), [api, pid, name]);
  const [runtime, setRuntime] = useState('quickjs');
  const [source, setSource] = useState(TEMPLATE);
  const [logsTick, setLogsTick] = useState(0);
  const redeploy = useAction(async () => {
    await api.deploy(pid, name, source, runtime);
    versions.reload();
  });
  const rollback = useAction(async () => {
    await api.rollback(pid, name);
    versions.reload();
  });
  const activate = useAction(async (v: number) => {
    await api.activate(pid, name, v);
    versions.reload();
  });
  const del = useAction(async () => {
    await api.deleteFunction(pid, name);
    navigate(`/projects/${pid}/functions`, true);
  });
  return (
    <section>
      <p>
        <Link to={`/projects/${pid}/functions`}>Functions</Link> /
      </p>
      <h1>{name}</h1>
      <Invoke pid={pid} name={name} onDone={() => setLogsTick((t) => t + 1)} />
      <h2>Versions</h2>
      <ErrorBox error={rollback.error ?? activate.error} />
      <AsyncView state={versions} isEmpty={(v) => v.versions.length === 0} empty="No versions.">
        {(v) => (
          <>
            <button type="button" onClick={() => void rollback.run()} disabled={rollback.busy || v.versions.length < 2}>
              Roll back to the previous version
            </button>
            <table>
              <thead>
                <tr>
                  <th>Version</th>
                  <th>sha256</th>
                  <th>Size</th>
                  <th>Deployed</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {v.versions.map((x) => (
                  <tr key={x.version}>
                    <td>
                      v{x.version} {x.active && <strong>(active)</strong>}
                    </td>
                    <td>
                      <code>{x.sha256.slice(0, 12)}</code>
                    </td>
                    <td>{x.size} B</td>
                    <td>{fmtTime(x.created_ms)}</td>
                    <td>
                      {!x.active && (
                        <button type="button" className="small" onClick={() => void activate.run(x.version)}>
                          Activate
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </AsyncView>
      <Env pid={pid} name={name} />
      <Metrics pid={pid} name={name} tick={logsTick} />
      <Logs pid={pid} name={name} tick={logsTick} />
      <DeployForm
        title="Deploy a new version"
        runtime={runtime}
        setRuntime={setRuntime}
        source={source}
        setSource={setSource}
        busy={redeploy.busy}
        error={redeploy.error}
        onDeploy={() => void redeploy.run()}
      />
      <details className="danger-details">
        <summary>Delete this function</summary>
        <ConfirmDelete name={name} what="function" busy={del.busy} onConfirm={() => void del.run()} />
        <ErrorBox error={del.error} />
      </details>
    </section>
  );
}

function Invoke({ pid, name, onDone }: { pid: string; name: string; onDone: () => void }) {
  const api = useApi();
  const [method, setMethod] = useState('POST');
  const [body, setBody] = useState('{"name": "Ada"}');
  const [result, setResult] = useState<{ status: number; ms: number; text: string } | null>(null);
  const call = useAction(async () => {
    const t0 = performance.now();
    const res = await api.invoke(pid, name, method, body);
    const text = await res.text();
    setResult({ status: res.status, ms: Math.round(performance.now() - t0), text });
    onDone();
  });
  return (
    <form
      className="card"
      aria-label="Invoke"
      onSubmit={(e) => {
        e.preventDefault();
        void call.run();
      }}
    >
      <h2>Invoke</h2>
      <div className="row">
        <Field label="Method">
          {(id) => (
            <select id={id} value={method} onChange={(e) => setMethod(e.target.value)}>
              {['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Request body">
          {(id) => <input id={id} className="mono" value={body} onChange={(e) => setBody(e.target.value)} />}
        </Field>
        <button type="submit" className="primary" disabled={call.busy}>
          {call.busy ? 'Invoking…' : 'Invoke'}
        </button>
      </div>
      <ErrorBox error={call.error} />
      {result && (
        <div className="result" role="status">
          <p>
            Status <strong data-testid="invoke-status">{result.status}</strong> in {result.ms} ms
          </p>
          <pre data-testid="invoke-body">{result.text}</pre>
        </div>
      )}
    </form>
  );
}

function Logs({ pid, name, tick }: { pid: string; name: string; tick: number }) {
  const api = useApi();
  const [live, setLive] = useState(false);
  const [onlyErrors, setOnlyErrors] = useState(false);
  const [text, setText] = useState('');
  const [poll, setPoll] = useState(0);
  const logs = useAsync(() => api.logs(pid, name, 100), [api, pid, name, tick, poll]);
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setPoll((x) => x + 1), 2000);
    return () => clearInterval(t);
  }, [live]);
  const shown = (ls: FnLog[]) =>
    ls.filter((l) => (!onlyErrors || l.status >= 400 || l.error) && (!text || (l.logs + (l.error ?? '')).includes(text)));
  return (
    <div>
      <h2>Logs</h2>
      <div className="row">
        <label className="check">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> live tail
        </label>
        <label className="check">
          <input type="checkbox" checked={onlyErrors} onChange={(e) => setOnlyErrors(e.target.checked)} /> errors only
        </label>
        <Field label="Contains">{(id) => <input id={id} value={text} onChange={(e) => setText(e.target.value)} />}</Field>
        <button type="button" onClick={logs.reload}>
          Refresh logs
        </button>
      </div>
      <AsyncView state={logs} empty="No invocations yet.">
        {(ls) =>
          shown(ls).length === 0 ? (
            <Empty>No invocation matches the filters.</Empty>
          ) : (
            <table className="logs" aria-label="Invocations">
              <thead>
                <tr>
                  <th>Started</th>
                  <th>Status</th>
                  <th>Duration</th>
                  <th>Version</th>
                  <th>Output</th>
                </tr>
              </thead>
              <tbody>
                {shown(ls).map((l) => (
                  <tr key={l.id} className={l.status >= 400 || l.error ? 'bad' : ''}>
                    <td>{fmtTime(l.started_ms)}</td>
                    <td>
                      {l.status}
                      {l.cold ? ' (cold)' : ''}
                    </td>
                    <td>{l.duration_ms} ms</td>
                    <td>v{l.version}</td>
                    <td>
                      <pre className="log-lines">{l.logs}</pre>
                      {l.error && <pre className="field-error">{l.error}</pre>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
    </div>
  );
}

/** Invocations per minute (last 30 minutes): bars, errors in red. */
export function MetricsChart({ minutes }: { minutes: FnMinute[] }) {
  const ms = [...minutes].sort((a, b) => a.minute_ms - b.minute_ms);
  const max = Math.max(1, ...ms.map((m) => m.count));
  const w = 12;
  return (
    <svg role="img" aria-label="Invocations per minute" width={Math.max(ms.length * w, 60)} height={80} className="chart">
      {ms.map((m, i) => {
        const h = Math.round((m.count / max) * 70);
        const eh = Math.round((m.errors / max) * 70);
        return (
          <g key={m.minute_ms}>
            <title>{`${fmtTime(m.minute_ms)}: ${m.count} calls, ${m.errors} errors, avg ${m.count ? Math.round(m.total_ms / m.count) : 0} ms`}</title>
            <rect x={i * w} y={78 - h} width={w - 2} height={h} className="bar" />
            {eh > 0 && <rect x={i * w} y={78 - eh} width={w - 2} height={eh} className="bar-err" />}
          </g>
        );
      })}
    </svg>
  );
}

function Metrics({ pid, name, tick }: { pid: string; name: string; tick: number }) {
  const api = useApi();
  const m = useAsync(() => api.metrics(pid, name, 30), [api, pid, name, tick]);
  return (
    <div>
      <h2>Invocations per minute</h2>
      <AsyncView state={m} empty="No invocations in the last 30 minutes.">
        {(ms) => <MetricsChart minutes={ms} />}
      </AsyncView>
    </div>
  );
}

/** NAME=value lines into an object; the first bad line's message otherwise. */
export function parseEnv(text: string): { vars: Record<string, string> } | { error: string } {
  const vars: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (!l || l.startsWith('#')) continue;
    const eq = l.indexOf('=');
    const k = eq < 0 ? l : l.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) return { error: `line ${i + 1}: expected NAME=value` };
    if (k.startsWith('BUNBASE_')) return { error: `line ${i + 1}: names starting with BUNBASE_ are reserved` };
    vars[k] = l.slice(eq + 1);
  }
  return { vars };
}

function Env({ pid, name }: { pid: string; name: string }) {
  const api = useApi();
  const names = useAsync(() => api.envNames(pid, name), [api, pid, name]);
  const [text, setText] = useState('');
  const parsed = parseEnv(text);
  const save = useAction(async () => {
    if ('error' in parsed) return;
    await api.setEnv(pid, name, parsed.vars);
    setText('');
    names.reload();
  });
  return (
    <div>
      <h2>Environment</h2>
      <AsyncView state={names} empty="No environment variables.">
        {(ns) => (
          <p>
            Set: {ns.map((n) => (
              <code key={n} className="tag">
                {n}
              </code>
            ))}{' '}
            <span className="hint">(values are sealed and never shown)</span>
          </p>
        )}
      </AsyncView>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save.run();
        }}
      >
        <Field label="Replace all variables (NAME=value, one per line; workers restart)">
          {(id) => <textarea id={id} className="json" rows={3} value={text} onChange={(e) => setText(e.target.value)} />}
        </Field>
        {'error' in parsed && (
          <p className="field-error" role="alert">
            {parsed.error}
          </p>
        )}
        <ErrorBox error={save.error} />
        <button type="submit" disabled={save.busy || 'error' in parsed}>
          Save environment
        </button>
      </form>
    </div>
  );
}
