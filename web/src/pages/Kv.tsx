import { useState } from 'react';
import { useApi } from '../auth';
import { AsyncView, ErrorBox, Field, Loading, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';

export function KvPage({ pid }: { pid: string }) {
  useTitle('Key-value');
  const api = useApi();
  const [pattern, setPattern] = useState('*');
  const [applied, setApplied] = useState('*');
  const keys = useAsync(() => api.kvKeys(pid, applied), [api, pid, applied]);
  const [selected, setSelected] = useState<string | null>(null);
  const value = useAsync(() => (selected === null ? Promise.resolve(null) : api.kvGet(pid, selected)), [api, pid, selected]);
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
                {ks.map((k) => (
                  <li key={k}>
                    <button type="button" className="link mono" aria-pressed={selected === k} onClick={() => setSelected(k)}>
                      {k}
                    </button>
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
              {value.error ? (
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
