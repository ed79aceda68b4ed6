import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../api';
import { useApi } from '../auth';
import { AsyncView, Empty, ErrorBox, Field, useTitle } from '../components/ui';
import { useAsync } from '../hooks';
import { readSse } from '../sse';

interface LiveEvent {
  n: number;
  type: string;
  id: string;
  at: string;
  data: { op?: string; docId?: string; doc?: unknown } | string;
}

interface Watch {
  collection: string;
  filter: unknown | null; // null: the whole collection
}

const KEEP = 200;
const TYPES = ['added', 'modified', 'removed', 'reset'];

/**
 * Live changes of a collection (GET …/collections/{c}/subscribe with EventSource and the session
 * cookie) or of a query (POST …/documents/query/subscribe {collection, filter}, read with fetch).
 */
export function RealtimePage({ pid }: { pid: string }) {
  useTitle('Realtime');
  const api = useApi();
  const cols = useAsync(() => api.collections(pid), [api, pid]);
  const [collection, setCollection] = useState('');
  const [filterText, setFilterText] = useState('');
  const [filterError, setFilterError] = useState<string | null>(null);
  const [watching, setWatching] = useState<Watch | null>(null);
  const [state, setState] = useState<'connecting' | 'live' | 'closed'>('connecting');
  const [streamError, setStreamError] = useState<Error | null>(null);
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const n = useRef(0);

  useEffect(() => {
    if (!watching) return;
    setState('connecting');
    setStreamError(null);
    setEvents([]);
    const add = (type: string, id: string, raw: string) => {
      let data: LiveEvent['data'] = raw;
      try {
        data = JSON.parse(raw);
      } catch {
        /* keep the text */
      }
      setState('live');
      setEvents((es0) => [{ n: ++n.current, type, id, at: new Date().toISOString().slice(11, 19), data }, ...es0].slice(0, KEEP));
    };
    if (watching.filter === null) {
      const es = new EventSource(api.subscribeUrl(pid, watching.collection));
      es.onopen = () => setState('live');
      es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
      for (const t of TYPES) es.addEventListener(t, (ev) => add(t, (ev as MessageEvent).lastEventId, (ev as MessageEvent).data));
      return () => es.close();
    }
    const ac = new AbortController();
    (async () => {
      const res = await api.subscribeQuery(pid, watching.collection, watching.filter, ac.signal);
      if (!res.ok) {
        const b = await res.json().catch(() => ({}));
        throw new ApiError(res.status, b.code ?? `http_${res.status}`, b.error ?? `HTTP ${res.status}`, b);
      }
      setState('live');
      await readSse(res, (e) => TYPES.includes(e.event) && add(e.event, e.id, e.data));
      setState('closed');
    })().catch((e: Error) => {
      if (e.name === 'AbortError') return;
      setStreamError(e);
      setState('closed');
    });
    return () => ac.abort();
  }, [api, pid, watching]);

  const start = (first: string) => {
    const c = collection || first;
    const t = filterText.trim();
    if (!t) {
      setFilterError(null);
      setWatching({ collection: c, filter: null });
      return;
    }
    try {
      const f = JSON.parse(t);
      if (!f || typeof f !== 'object' || Array.isArray(f)) throw new Error('the filter must be a JSON object');
      setFilterError(null);
      setWatching({ collection: c, filter: f });
    } catch (e) {
      setFilterError((e as Error).message);
    }
  };

  const what = watching ? `${watching.collection}${watching.filter ? ' (query)' : ''}` : '';
  return (
    <section>
      <h1>Realtime</h1>
      <AsyncView state={cols} empty="No collections yet: events appear once a collection has documents written to it.">
        {(cs) => (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              start(cs[0]);
            }}
          >
            <Field label="Collection">
              {(id) => (
                <select id={id} value={collection || cs[0]} onChange={(e) => setCollection(e.target.value)}>
                  {cs.map((c) => (
                    <option key={c}>{c}</option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Only documents matching (optional filter)">
              {(id) => (
                <input
                  id={id}
                  className="mono"
                  value={filterText}
                  placeholder='{"published": true}'
                  aria-invalid={filterError ? true : false}
                  onChange={(e) => setFilterText(e.target.value)}
                />
              )}
            </Field>
            <button type="submit" className="primary">
              Watch
            </button>
            {watching && (
              <button type="button" onClick={() => setWatching(null)}>
                Stop
              </button>
            )}
          </form>
        )}
      </AsyncView>
      {filterError && (
        <p className="field-error" role="alert">
          {filterError}
        </p>
      )}
      <ErrorBox error={streamError} />
      {watching && (
        <p role="status" className={`live-state ${state}`}>
          {state === 'live' ? `Live: ${what}` : state === 'connecting' ? `Connecting to ${what}…` : `Disconnected from ${what}`}
        </p>
      )}
      {watching && events.length === 0 && <Empty>Waiting for changes… write a document to see it here.</Empty>}
      {events.length > 0 && (
        <ul className="events" aria-label="Events">
          {events.map((e) => (
            <li key={e.n} className={`ev ev-${e.type}`}>
              <span className="ev-type">{e.type}</span> <span className="ev-at">{e.at}</span>{' '}
              {typeof e.data === 'string' ? (
                <code>{e.data}</code>
              ) : (
                <>
                  <code>{e.data.docId}</code> <span className="mono clip">{JSON.stringify(e.data.doc)}</span>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
