import { useEffect, useRef, useState } from 'react';
import { useApi } from '../auth';
import { AsyncView, Empty, Field, useTitle } from '../components/ui';
import { useAsync } from '../hooks';

interface LiveEvent {
  n: number;
  type: string;
  id: string;
  at: string;
  data: { op?: string; docId?: string; doc?: unknown } | string;
}

const KEEP = 200;

/** Live changes of one collection: GET …/database/collections/{c}/subscribe (SSE) with the session cookie. */
export function RealtimePage({ pid }: { pid: string }) {
  useTitle('Realtime');
  const api = useApi();
  const cols = useAsync(() => api.collections(pid), [api, pid]);
  const [collection, setCollection] = useState('');
  const [watching, setWatching] = useState<string | null>(null);
  const [state, setState] = useState<'idle' | 'connecting' | 'live' | 'error'>('idle');
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const n = useRef(0);

  useEffect(() => {
    if (!watching) return;
    setState('connecting');
    setEvents([]);
    const es = new EventSource(api.subscribeUrl(pid, watching));
    es.onopen = () => setState('live');
    es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'error' : 'connecting');
    const on = (type: string) => (ev: Event) => {
      const m = ev as MessageEvent;
      let data: LiveEvent['data'] = m.data;
      try {
        data = JSON.parse(m.data);
      } catch {
        /* keep the text */
      }
      setState('live');
      setEvents((es0) => [{ n: ++n.current, type, id: m.lastEventId, at: new Date().toISOString().slice(11, 19), data }, ...es0].slice(0, KEEP));
    };
    for (const t of ['added', 'modified', 'removed', 'reset']) es.addEventListener(t, on(t));
    return () => es.close();
  }, [api, pid, watching]);

  return (
    <section>
      <h1>Realtime</h1>
      <AsyncView state={cols} empty="No collections yet: events appear once a collection has documents written to it.">
        {(cs) => (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              setWatching(collection || cs[0]);
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
      {watching && (
        <p role="status" className={`live-state ${state}`}>
          {state === 'live' ? `Live: ${watching}` : state === 'connecting' ? `Connecting to ${watching}…` : `Disconnected from ${watching}`}
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
