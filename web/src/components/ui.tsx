import { useEffect, useId, useState, type ReactNode } from 'react';
import { ApiError, parseJson } from '../api';
import type { AsyncState } from '../hooks';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function ErrorBox({ error, onRetry }: { error: Error | null | undefined; onRetry?: () => void }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : null;
  return (
    <div className="error" role="alert">
      <span>{error.message}</span>
      {code && <code className="code">{code}</code>}
      {error instanceof ApiError && hasTrace(error.body) && (
        <pre className="trace" aria-label="rule evaluation">
          {JSON.stringify((error.body as { trace: unknown }).trace, null, 2)}
        </pre>
      )}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

function hasTrace(b: unknown): boolean {
  return !!b && typeof b === 'object' && 'trace' in (b as object);
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** The three states of an async list: loading (first load), error (with retry), empty, or the content. */
export function AsyncView<T>({
  state,
  empty,
  isEmpty,
  children,
}: {
  state: AsyncState<T>;
  empty?: ReactNode;
  isEmpty?: (d: T) => boolean;
  children: (d: T) => ReactNode;
}) {
  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  if (state.data === undefined) return <Loading />;
  const d = state.data;
  const none = isEmpty ? isEmpty(d) : Array.isArray(d) && d.length === 0;
  if (none && empty) return <Empty>{empty}</Empty>;
  return <>{children(d)}</>;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        } catch {
          setDone(false);
        }
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/** A JSON text area that validates as you type: onValid gets the parsed value (or undefined). */
export function JsonEditor({
  label,
  value,
  onChange,
  rows = 8,
  validate,
}: {
  label: string;
  value: string;
  onChange: (text: string, parsed: unknown, ok: boolean) => void;
  rows?: number;
  validate?: (v: unknown) => string | null;
}) {
  const id = useId();
  const r = parseJson(value);
  const problem = !r.ok ? r.error : validate ? validate(r.value) : null;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        className={`json ${problem ? 'invalid' : ''}`}
        rows={rows}
        spellCheck={false}
        value={value}
        aria-invalid={problem ? true : false}
        aria-describedby={problem ? `${id}-err` : undefined}
        onChange={(e) => {
          const t = e.target.value;
          const p = parseJson(t);
          const bad = !p.ok || (validate ? validate(p.value) : null);
          onChange(t, p.ok ? p.value : undefined, !bad);
        }}
      />
      {problem && (
        <p id={`${id}-err`} className="field-error" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}

export function mustBeObject(v: unknown): string | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? null : 'must be a JSON object';
}

/** Deletion confirmed by typing the exact name. */
export function ConfirmDelete({
  name,
  what,
  onConfirm,
  busy,
}: {
  name: string;
  what: string;
  onConfirm: () => void;
  busy?: boolean;
}) {
  const [typed, setTyped] = useState('');
  const id = useId();
  return (
    <form
      className="danger-zone"
      onSubmit={(e) => {
        e.preventDefault();
        if (typed === name) onConfirm();
      }}
    >
      <label htmlFor={id}>
        Type <strong>{name}</strong> to delete this {what}
      </label>
      <input id={id} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
      <button type="submit" className="danger" disabled={typed !== name || busy}>
        Delete {what}
      </button>
    </form>
  );
}

export function Field({
  label,
  children,
}: {
  label: string;
  children: (id: string) => ReactNode;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
    </div>
  );
}

export function fmtTime(ms: number | string | undefined): string {
  if (ms === undefined || ms === null || ms === '') return '—';
  const n = typeof ms === 'number' ? (ms < 1e12 ? ms * 1000 : ms) : Date.parse(ms);
  if (!Number.isFinite(n)) return String(ms);
  return new Date(n).toISOString().replace('T', ' ').slice(0, 19);
}

/** Sets document.title for the page. */
export function useTitle(t: string) {
  useEffect(() => {
    document.title = `${t} · BunBase`;
  }, [t]);
}
