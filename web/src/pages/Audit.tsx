import { useState } from 'react';
import type { AuditFilter, AuditRecord } from '../api';
import { useApi } from '../auth';
import { AsyncView, Field, fmtTime, useTitle } from '../components/ui';
import { useAsync } from '../hooks';

/** The actions the platform records (docs/platform.md, "Audit log"); "key.*" is every key action. */
export const AUDIT_ACTIONS = [
  'key.*',
  'key.create',
  'key.regenerate',
  'key.revoke',
  'member.*',
  'member.add',
  'member.role_change',
  'member.remove',
  'member.leave',
  'member.transfer',
  'project.*',
  'project.create',
  'project.rename',
  'project.delete',
  'cors.update',
];

/** A datetime-local value ("2026-12-03T05:50", local time) as ISO 8601 UTC, or undefined. */
export function localToIso(v: string): string | undefined {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? new Date(t).toISOString() : undefined;
}

/** The detail of a record in one line: "kind=pk prefix=pk_abc…". */
export function detailText(d: Record<string, unknown>): string {
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

const PAGE = 25;

/** The project's audit log: who did what to its keys, members, settings and CORS origins. */
export function AuditPage({ pid }: { pid: string }) {
  useTitle('Audit');
  const api = useApi();
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [applied, setApplied] = useState<AuditFilter>({});
  // the cursors of the pages seen so far: the last one is the page shown ('' = the newest)
  const [cursors, setCursors] = useState<string[]>(['']);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(
    () => api.audit(pid, { ...applied, cursor: cursor || undefined, limit: PAGE }),
    [api, pid, applied, cursor],
  );
  return (
    <section>
      <h1>Audit</h1>
      <p className="hint">
        Key, member, project and CORS changes, newest first. Each record is written with the change itself; secrets never appear.
      </p>
      <form
        className="row"
        aria-label="Audit filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ action: action || undefined, actor: actor.trim() || undefined, since: localToIso(since), until: localToIso(until) });
          setCursors(['']);
        }}
      >
        <Field label="Action">
          {(id) => (
            <select id={id} value={action} onChange={(e) => setAction(e.target.value)}>
              <option value="">any</option>
              {AUDIT_ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Actor (email or user id)">
          {(id) => <input id={id} value={actor} onChange={(e) => setActor(e.target.value)} />}
        </Field>
        <Field label="Since">{(id) => <input id={id} type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />}</Field>
        <Field label="Until">{(id) => <input id={id} type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />}</Field>
        <button type="submit">Filter</button>
        <button type="button" onClick={() => page.reload()} disabled={page.loading}>
          Refresh
        </button>
      </form>
      <AsyncView state={page} isEmpty={(p) => p.records.length === 0} empty="No record matches these filters.">
        {(p) => (
          <>
            <table aria-label="Audit records">
              <thead>
                <tr>
                  <th>Time (UTC)</th>
                  <th>Actor</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Detail</th>
                  <th>Request</th>
                </tr>
              </thead>
              <tbody>
                {p.records.map((r: AuditRecord) => (
                  <tr key={r.id}>
                    <td>{fmtTime(r.at)}</td>
                    <td title={r.actor.id ?? r.actor.kind}>{r.actor.label}</td>
                    <td>
                      <code>{r.action}</code>
                    </td>
                    <td>
                      <code>{r.target}</code>
                    </td>
                    <td className="mono">{detailText(r.detail)}</td>
                    <td>
                      <code>{r.request_id}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div className="row pager">
              <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
                Newer
              </button>
              <button type="button" disabled={!p.next_cursor} onClick={() => p.next_cursor && setCursors([...cursors, p.next_cursor])}>
                Older
              </button>
            </div>
          </>
        )}
      </AsyncView>
    </section>
  );
}
