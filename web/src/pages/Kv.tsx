import { useState } from 'react';
import { useApi } from '../auth';
import { AsyncView, ErrorBox, Field, Loading, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';
import type { KvKey } from '../api';

/** "no expiry", or the remaining time as "expires in 1h 2m" / "2m 5s" / "4s" / "<1s". */
export function fmtTtl(ms: number | null): string {
  if (ms === null) return 'no expiry';
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'expires in <1s';
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const parts = d ? [`${d}d`, `${h}h`] : h ? [`${h}h`, `${m}m`] : m ? [`${m}m`, `${s % 60}s`] : [`${s}s`];
  return `expires in ${parts.join(' ')}`;
}

function metaText(k: KvKey): string {
  return `${k.type} · ${fmtTtl(k.ttl_ms)}`;
}

export function KvPage({ pid }: { pid: string }) {
  useTitle('Key-value');
  const api = useApi();
  const [pattern, setPattern] = useState('*');
  const [applied, setApplied] = useState('*');
  const keys = useAsync(() => api.kvKeys(pid, applied), [api, pid, applied]);
  const [selected, setSelected] = useState<string | null>(null);
  const selMeta = selected === null ? undefined : keys.data?.find((k) => k.key === selected);
  // only strings have a value to show as text; other types are named, not fetched (409)
  const textual = !selMeta || selMeta.type === 'string';
  const value = useAsync(
    () => (selected === null || !textual ? Promise.resolve(null) : api.kvGet(pid, selected)),
    [api, pid, selected, textual],
  );
  const [key, setKey] = useState('');
  const [val, setVal] = useState('');
  const [ttl, setTtl] = useState('');
  const set = useAction(async () => {
    const t = ttl.trim() ? Number(ttl) : undefined;
    if (t !== undefined && (!Number.isInteger(t) || t <= 0)) throw new Error('the TTL must be a whole number of seconds');
    await api.kvSet(pid, key, val, t);
    keys.reload();
    setSelected(key);
    value.reload();
  });
  const del = useAction(async (k: string) => {
    await api.kvDelete(pid, k);
    if (selected === k) setSelected(null);
    keys.reload();
  });
  return (
    <section>
      <h1>Key-value</h1>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(pattern || '*');
        }}
      >
        <Field label="Key pattern (glob: *, ?, [abc])">
          {(id) => <input id={id} className="mono" value={pattern} onChange={(e) => setPattern(e.target.value)} />}
        </Field>
        <button type="submit">Search</button>
      </form>
      <div className="split">
        <div>
          <AsyncView state={keys} empty={`No key matches ${applied}.`}>
            {(ks) => (
              <ul className="list" aria-label="Keys">
                {ks.map(({ key: k, ...m }) => (
                  <li key={k}>
                    <button type="button" className="link mono" aria-pressed={selected === k} onClick={() => setSelected(k)}>
                      {k}
                    </button>
                    <span className="hint" data-testid="kv-meta">
                      {metaText({ key: k, ...m })}
                    </span>
                    <button type="button" className="small danger" aria-label={`delete ${k}`} onClick={() => void del.run(k)}>
                      Delete
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </AsyncView>
          <ErrorBox error={del.error} />
        </div>
        <div>
          {selected !== null && (
            <div className="card">
              <h2 className="mono">{selected}</h2>
              {selMeta && (
                <p className="hint" data-testid="kv-selected-meta">
                  {metaText(selMeta)}
                </p>
              )}
              {!textual ? (
                <p className="hint">A {selMeta?.type} holds no single text value: read it with redis-cli.</p>
              ) : value.error ? (
                <ErrorBox error={value.error} onRetry={value.reload} />
              ) : value.loading ? (
                <Loading />
              ) : (
                <pre className="value" data-testid="kv-value">
                  {value.data}
                </pre>
              )}
              <button
                type="button"
                className="small"
                disabled={!textual}
                onClick={() => {
                  setKey(selected);
                  setVal(value.data ?? '');
                }}
              >
                Edit
              </button>
            </div>
          )}
          <form
            className="card"
            onSubmit={(e) => {
              e.preventDefault();
              if (key) void set.run();
            }}
          >
            <h2>Set a key</h2>
            <Field label="Key">{(id) => <input id={id} className="mono" value={key} onChange={(e) => setKey(e.target.value)} />}</Field>
            <Field label="Value">{(id) => <textarea id={id} rows={3} value={val} onChange={(e) => setVal(e.target.value)} />}</Field>
            <Field label="Expires after (seconds, optional)">
              {(id) => <input id={id} inputMode="numeric" value={ttl} onChange={(e) => setTtl(e.target.value)} />}
            </Field>
            <ErrorBox error={set.error} />
            <button type="submit" className="primary" disabled={set.busy || !key}>
              Set key
            </button>
          </form>
        </div>
      </div>
    </section>
  );
}
