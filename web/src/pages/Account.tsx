import { useState } from 'react';
import { useApi, useAuth } from '../auth';
import { AsyncView, CopyButton, ErrorBox, Field, fmtTime, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';

/** The developer's own account: sessions (sign out one or all) and personal access tokens. */
export function AccountPage() {
  useTitle('Account');
  const api = useApi();
  const { user } = useAuth();
  const sessions = useAsync(() => api.sessions(), [api]);
  const tokens = useAsync(() => api.tokens(), [api]);
  const [name, setName] = useState('');
  const [days, setDays] = useState('30');
  const [fresh, setFresh] = useState<string | null>(null);
  const create = useAction(async () => {
    const d = Number(days);
    if (!Number.isInteger(d) || d <= 0) throw new Error('the lifetime must be a whole number of days');
    const t = await api.createToken(name.trim(), d * 86400);
    setFresh(t.token);
    setName('');
    tokens.reload();
  });
  const revokeToken = useAction(async (id: string) => {
    await api.revokeToken(id);
    tokens.reload();
  });
  const revokeSession = useAction(async (id: string) => {
    await api.revokeSession(id);
    sessions.reload();
  });
  return (
    <section>
      <h1>Account</h1>
      <p>
        Signed in as <strong>{user?.email}</strong>
        {user?.is_instance_admin ? ' (instance administrator)' : ''}.
      </p>
      <h2>Sessions</h2>
      <ErrorBox error={revokeSession.error} />
      <AsyncView state={sessions} empty="No sessions.">
        {(ss) => (
          <table>
            <thead>
              <tr>
                <th>Started</th>
                <th>Last used</th>
                <th>Expires</th>
                <th>From</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {ss.map((s) => (
                <tr key={s.id}>
                  <td>{fmtTime(s.created_at)}</td>
                  <td>{fmtTime(s.last_used_at)}</td>
                  <td>{fmtTime(s.expires_at)}</td>
                  <td>
                    {s.ip ?? '—'} <span className="hint">{s.user_agent ?? ''}</span>
                  </td>
                  <td>
                    {s.current ? (
                      <strong>this browser</strong>
                    ) : (
                      <button type="button" className="small danger" onClick={() => void revokeSession.run(s.id)}>
                        Sign out
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AsyncView>
      <h2>Personal access tokens</h2>
      <p className="hint">
        For the CLI and CI (<code>Authorization: Bearer bbp_…</code>). The value is shown once.
      </p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) void create.run();
        }}
      >
        <Field label="Token name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Lifetime (days)">
          {(id) => <input id={id} inputMode="numeric" value={days} onChange={(e) => setDays(e.target.value)} />}
        </Field>
        <button type="submit" disabled={create.busy || !name.trim()}>
          Create token
        </button>
      </form>
      <ErrorBox error={create.error ?? revokeToken.error} />
      {fresh && (
        <p className="notice" role="status">
          New token: <code data-testid="new-token">{fresh}</code> <CopyButton text={fresh} /> — copy it now.
        </p>
      )}
      <AsyncView state={tokens} empty="No tokens.">
        {(ts) => (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Prefix</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {ts.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>
                    <code>{t.prefix}…</code>
                  </td>
                  <td>{fmtTime(t.created_at)}</td>
                  <td>{t.expired ? 'expired' : fmtTime(t.expires_at)}</td>
                  <td>{t.last_used_at ? fmtTime(t.last_used_at) : 'never'}</td>
                  <td>
                    <button type="button" className="small danger" onClick={() => void revokeToken.run(t.id)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AsyncView>
    </section>
  );
}
