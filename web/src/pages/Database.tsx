import { useEffect, useState } from 'react';
import { ApiError, type Doc, type DocPage } from '../api';
import { useApi } from '../auth';
import { AsyncView, ConfirmDelete, Empty, ErrorBox, Field, JsonEditor, Loading, mustBeObject, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';
import { Link, useNavigate } from '../router';

const RULE_KEYS = ['read', 'list', 'create', 'update', 'delete', 'write'];

function validateRules(v: unknown): string | null {
  if (v === null) return null;
  const o = mustBeObject(v);
  if (o) return o;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!RULE_KEYS.includes(k)) return `unknown rule "${k}" (one of ${RULE_KEYS.join(', ')})`;
    if (typeof x !== 'string') return `rule "${k}" must be a string expression`;
  }
  return null;
}

export function DatabasePage({ pid }: { pid: string }) {
  useTitle('Database');
  const api = useApi();
  const navigate = useNavigate();
  const list = useAsync(() => api.collections(pid), [api, pid]);
  const [name, setName] = useState('');
  const [rules, setRules] = useState('{\n  "read": "true",\n  "write": "request.auth != null"\n}');
  const [rulesOk, setRulesOk] = useState(true);
  const create = useAction(async () => {
    const parsed = JSON.parse(rules) as Record<string, string> | null;
    await api.createCollection(pid, name.trim(), parsed ?? undefined);
    navigate(`/projects/${pid}/database/${encodeURIComponent(name.trim())}`);
  });
  return (
    <section>
      <h1>Database</h1>
      <div className="split">
        <div>
          <h2>Collections</h2>
          <AsyncView state={list} empty="No collections yet: create one (or write a document) to start.">
            {(cs) => (
              <ul className="list">
                {cs.map((c) => (
                  <li key={c}>
                    <Link to={`/projects/${pid}/database/${encodeURIComponent(c)}`}>{c}</Link>
                  </li>
                ))}
              </ul>
            )}
          </AsyncView>
        </div>
        <form
          className="card"
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim() && rulesOk) void create.run();
          }}
        >
          <h2>New collection</h2>
          <Field label="Collection name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <JsonEditor
            label="Rules (evaluated for pk_ and end users)"
            value={rules}
            rows={5}
            validate={validateRules}
            onChange={(t, _v, ok) => {
              setRules(t);
              setRulesOk(ok);
            }}
          />
          <ErrorBox error={create.error} />
          <button type="submit" className="primary" disabled={create.busy || !name.trim() || !rulesOk}>
            Create collection
          </button>
        </form>
      </div>
    </section>
  );
}

type Tab = 'documents' | 'rules' | 'schema' | 'indexes';

export function CollectionPage({ pid, name }: { pid: string; name: string }) {
  useTitle(name);
  const [tab, setTab] = useState<Tab>('documents');
  const api = useApi();
  const navigate = useNavigate();
  const del = useAction(async () => {
    await api.deleteCollection(pid, name);
    navigate(`/projects/${pid}/database`, true);
  });
  const tabs: Tab[] = ['documents', 'rules', 'schema', 'indexes'];
  return (
    <section>
      <p>
        <Link to={`/projects/${pid}/database`}>Database</Link> /
      </p>
      <h1>{name}</h1>
      <div role="tablist" className="tabs" aria-label="Collection">
        {tabs.map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} onClick={() => setTab(t)}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === 'documents' && <Documents pid={pid} name={name} />}
        {tab === 'rules' && <Rules pid={pid} name={name} />}
        {tab === 'schema' && <Schema pid={pid} name={name} />}
        {tab === 'indexes' && <Indexes pid={pid} name={name} />}
      </div>
      <details className="danger-details">
        <summary>Delete this collection</summary>
        <ConfirmDelete name={name} what="collection" busy={del.busy} onConfirm={() => void del.run()} />
        <ErrorBox error={del.error} />
      </details>
    </section>
  );
}

const PAGE = 20;

function Documents({ pid, name }: { pid: string; name: string }) {
  const api = useApi();
  const [filterText, setFilterText] = useState('');
  const [filter, setFilter] = useState<unknown>(null);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync<DocPage>(
    () => (filter ? api.query(pid, name, filter, { limit: PAGE, cursor }) : api.documents(pid, name, { limit: PAGE, cursor })),
    [api, pid, name, filter, cursor],
  );
  const [queryError, setQueryError] = useState<string | null>(null);
  const [explain, setExplain] = useState<unknown>(null);
  const [editing, setEditing] = useState<{ id: string | null; text: string } | null>(null);

  const run = (e?: React.FormEvent) => {
    e?.preventDefault();
    setExplain(null);
    const t = filterText.trim();
    if (!t) {
      setQueryError(null);
      setFilter(null);
      setCursors([null]);
      return;
    }
    try {
      const f = JSON.parse(t);
      if (!f || typeof f !== 'object' || Array.isArray(f)) throw new Error('the filter must be a JSON object');
      setQueryError(null);
      setFilter(f);
      setCursors([null]);
    } catch (err) {
      setQueryError((err as Error).message);
    }
  };
  const doExplain = useAction(async () => {
    const f = filterText.trim() ? JSON.parse(filterText) : {};
    const r = await api.query(pid, name, f, { limit: PAGE, explain: true });
    setExplain(r.explain ?? null);
  });
  const save = useAction(async () => {
    if (!editing) return;
    const doc = JSON.parse(editing.text) as Doc;
    if (editing.id) await api.replaceDocument(pid, name, editing.id, doc);
    else await api.createDocument(pid, name, doc);
    setEditing(null);
    page.reload();
  });
  const remove = useAction(async (id: string) => {
    await api.deleteDocument(pid, name, id);
    page.reload();
  });
  const serverQueryError = filter && page.error instanceof ApiError && page.error.status === 400 ? page.error : null;

  return (
    <div>
      <form className="querybar" onSubmit={run} aria-label="Query">
        <Field label='Filter (query language, e.g. {"stars": {"$gte": 4}})'>
          {(id) => (
            <input
              id={id}
              className="mono"
              value={filterText}
              aria-invalid={queryError || serverQueryError ? true : false}
              onChange={(e) => setFilterText(e.target.value)}
              placeholder="{}"
            />
          )}
        </Field>
        <button type="submit">Run query</button>
        <button type="button" onClick={() => void doExplain.run()} disabled={doExplain.busy}>
          Explain
        </button>
      </form>
      {(queryError || serverQueryError) && (
        <p className="field-error" role="alert" data-testid="query-error">
          {queryError ?? serverQueryError?.message}
        </p>
      )}
      <ErrorBox error={doExplain.error} />
      {explain !== null && <Plan plan={explain} />}
      <div className="row">
        <button type="button" className="primary" onClick={() => setEditing({ id: null, text: '{\n  \n}' })}>
          New document
        </button>
        <button type="button" onClick={page.reload}>
          Refresh
        </button>
      </div>
      {editing && (
        <form
          className="card"
          onSubmit={(e) => {
            e.preventDefault();
            void save.run();
          }}
        >
          <h2>{editing.id ? `Edit ${editing.id}` : 'New document'}</h2>
          <JsonEditor
            label="Document (JSON)"
            value={editing.text}
            rows={10}
            validate={mustBeObject}
            onChange={(t) => setEditing({ ...editing, text: t })}
          />
          <ErrorBox error={save.error} />
          <div className="row">
            <button type="submit" className="primary" disabled={save.busy || !!validateDoc(editing.text)}>
              Save document
            </button>
            <button type="button" onClick={() => setEditing(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ErrorBox error={remove.error} />
      {page.error && !serverQueryError ? (
        <ErrorBox error={page.error} onRetry={page.reload} />
      ) : page.data === undefined ? (
        <Loading />
      ) : page.data.documents.length === 0 ? (
        <Empty>{filter ? 'No document matches this filter.' : 'No documents yet.'}</Empty>
      ) : (
        <table className="docs">
          <thead>
            <tr>
              <th>_id</th>
              <th>Document</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {page.data.documents.map((d) => (
              <tr key={String(d._id)}>
                <td>
                  <code>{String(d._id)}</code>
                </td>
                <td className="mono clip">{JSON.stringify(d)}</td>
                <td className="actions">
                  <button
                    type="button"
                    className="small"
                    onClick={() => setEditing({ id: String(d._id), text: JSON.stringify(d, null, 2) })}
                  >
                    Edit
                  </button>
                  <DeleteButton onDelete={() => void remove.run(String(d._id))} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="row pager">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          disabled={!page.data?.cursor}
          onClick={() => page.data?.cursor && setCursors([...cursors, page.data.cursor])}
        >
          Next page
        </button>
      </div>
    </div>
  );
}

function validateDoc(text: string): string | null {
  try {
    return mustBeObject(JSON.parse(text));
  } catch (e) {
    return (e as Error).message;
  }
}

function DeleteButton({ onDelete }: { onDelete: () => void }) {
  const [sure, setSure] = useState(false);
  return sure ? (
    <>
      <button type="button" className="small danger" onClick={onDelete}>
        Confirm delete
      </button>
      <button type="button" className="small" onClick={() => setSure(false)}>
        Keep
      </button>
    </>
  ) : (
    <button type="button" className="small" onClick={() => setSure(true)}>
      Delete
    </button>
  );
}

/** The query plan, as nested labelled rows rather than raw JSON. */
export function Plan({ plan }: { plan: unknown }) {
  return (
    <div className="plan" aria-label="Query plan">
      <h3>Query plan</h3>
      {planSummary(plan) && <p className="plan-summary">{planSummary(plan)}</p>}
      <PlanNode v={plan} />
    </div>
  );
}
/** One sentence for the plan's usual fields: which access path, how much work for how many results. */
export function planSummary(plan: unknown): string | null {
  if (!plan || typeof plan !== 'object') return null;
  const p = plan as Record<string, unknown>;
  if (typeof p.plan !== 'string') return null;
  const how =
    p.plan === 'COLLSCAN'
      ? 'Scans the whole collection (no index used)'
      : `Uses ${p.index ? `index ${String(p.index)}` : 'an index'} (${p.plan})`;
  const work: string[] = [];
  if (typeof p.keys_examined === 'number') work.push(`${p.keys_examined} index keys`);
  if (typeof p.docs_examined === 'number') work.push(`${p.docs_examined} documents`);
  const ret = typeof p.returned === 'number' ? `, returned ${p.returned}` : '';
  return `${how}${work.length ? `: examined ${work.join(' and ')}` : ''}${ret}${p.sort_from_index ? '; sorted by the index' : ''}.`;
}

function PlanNode({ v }: { v: unknown }) {
  if (v === null || typeof v !== 'object') return <code>{JSON.stringify(v)}</code>;
  if (Array.isArray(v) && v.length === 0) return <span className="hint">none</span>;
  if (Array.isArray(v))
    return (
      <ol>
        {v.map((x, i) => (
          <li key={i}>
            <PlanNode v={x} />
          </li>
        ))}
      </ol>
    );
  return (
    <dl>
      {Object.entries(v as Record<string, unknown>).map(([k, x]) => (
        <div key={k} className="plan-row">
          <dt>{k}</dt>
          <dd>
            <PlanNode v={x} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

function Rules({ pid, name }: { pid: string; name: string }) {
  const api = useApi();
  const col = useAsync(() => api.collection(pid, name), [api, pid, name]);
  const [text, setText] = useState<string | null>(null);
  const [ok, setOk] = useState(true);
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    await api.setRules(pid, name, JSON.parse(text ?? 'null'));
    setSaved(true);
    setText(null);
    col.reload();
  });
  return (
    <AsyncView state={col}>
      {(c) => (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void save.run();
          }}
        >
          <JsonEditor
            label="Rules (read, list, create, update, delete, write; null: none)"
            value={text ?? JSON.stringify(c.rules ?? null, null, 2)}
            validate={validateRules}
            onChange={(t, _v, good) => {
              setText(t);
              setOk(good);
              setSaved(false);
            }}
          />
          <ErrorBox error={save.error} />
          {saved && <p role="status">Rules saved.</p>}
          <button type="submit" className="primary" disabled={save.busy || text === null || !ok}>
            Save rules
          </button>
        </form>
      )}
    </AsyncView>
  );
}

function Schema({ pid, name }: { pid: string; name: string }) {
  const api = useApi();
  const col = useAsync(() => api.collection(pid, name), [api, pid, name]);
  const [text, setText] = useState<string | null>(null);
  const [ok, setOk] = useState(true);
  const save = useAction(async () => {
    await api.setSchema(pid, name, JSON.parse(text ?? 'null'));
    setText(null);
    col.reload();
  });
  return (
    <AsyncView state={col}>
      {(c) => (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void save.run();
          }}
        >
          <JsonEditor
            label="JSON Schema of the documents (null: none)"
            value={text ?? JSON.stringify(c.schema ?? null, null, 2)}
            validate={(v) => (v === null ? null : mustBeObject(v))}
            onChange={(t, _v, good) => {
              setText(t);
              setOk(good);
            }}
          />
          <ErrorBox error={save.error} />
          <button type="submit" className="primary" disabled={save.busy || text === null || !ok}>
            Save schema
          </button>
        </form>
      )}
    </AsyncView>
  );
}

function Indexes({ pid, name }: { pid: string; name: string }) {
  const api = useApi();
  const list = useAsync(() => api.indexes(pid, name), [api, pid, name]);
  const [iname, setIname] = useState('');
  const [fields, setFields] = useState('');
  const [unique, setUnique] = useState(false);
  const create = useAction(async () => {
    const fs = fields
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    await api.createIndex(pid, name, { name: iname.trim(), fields: fs, unique });
    setIname('');
    setFields('');
    list.reload();
  });
  const drop = useAction(async (n: string) => {
    await api.dropIndex(pid, name, n);
    list.reload();
  });
  // an index still building: follow its state until it is ready
  const building = (list.data ?? []).some((i) => i.state && i.state !== 'ready');
  useEffect(() => {
    if (!building) return;
    const t = setTimeout(list.reload, 1000);
    return () => clearTimeout(t);
  }, [building, list.data, list.reload]);
  return (
    <div>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void create.run();
        }}
      >
        <Field label="Index name">{(id) => <input id={id} value={iname} onChange={(e) => setIname(e.target.value)} />}</Field>
        <Field label="Fields (comma-separated, -field for descending)">
          {(id) => <input id={id} value={fields} onChange={(e) => setFields(e.target.value)} />}
        </Field>
        <label className="check">
          <input type="checkbox" checked={unique} onChange={(e) => setUnique(e.target.checked)} /> unique
        </label>
        <button type="submit" disabled={create.busy || !iname.trim() || !fields.trim()}>
          Create index
        </button>
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </form>
      <ErrorBox error={create.error ?? drop.error} />
      <AsyncView state={list} empty="No indexes: queries scan the collection.">
        {(ix) => (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Fields</th>
                <th>Unique</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {ix.map((i) => (
                <tr key={i.name}>
                  <td>{i.name}</td>
                  <td>
                    <code>{i.fields.join(', ')}</code>
                  </td>
                  <td>{i.unique ? 'yes' : 'no'}</td>
                  <td>{i.state && i.state !== 'ready' ? <span role="status">{i.state}…</span> : 'ready'}</td>
                  <td>
                    <button type="button" className="small danger" onClick={() => void drop.run(i.name)}>
                      Drop
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AsyncView>
    </div>
  );
}
