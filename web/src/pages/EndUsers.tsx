import { useState } from 'react';
import { useApi } from '../auth';
import { AsyncView, ErrorBox, Field, JsonEditor, fmtTime, mustBeObject, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';

/** The project's own users (tenant-auth): sign-in configuration and the users. */
export function EndUsersPage({ pid }: { pid: string }) {
  useTitle('Users');
  return (
    <section>
      <h1>Users</h1>
      <AuthConfig pid={pid} />
      <UsersList pid={pid} />
    </section>
  );
}

function AuthConfig({ pid }: { pid: string }) {
  const api = useApi();
  const cfg = useAsync(() => api.authConfig(pid), [api, pid]);
  const [text, setText] = useState<string | null>(null);
  const [ok, setOk] = useState(true);
  const save = useAction(async (body: Record<string, unknown>) => {
    await api.setAuthConfig(pid, body);
    setText(null);
    cfg.reload();
  });
  return (
    <div>
      <h2>Sign-in methods</h2>
      <AsyncView state={cfg}>
        {(c) => {
          const providers = (c.providers ?? {}) as Record<string, { enabled?: boolean }>;
          const emailOn = !!providers.email_password?.enabled;
          return (
            <>
              <p>
                Email and password: <strong>{emailOn ? 'enabled' : 'disabled'}</strong>{' '}
                <button
                  type="button"
                  onClick={() => void save.run({ providers: { ...providers, email_password: { ...providers.email_password, enabled: !emailOn } } })}
                >
                  {emailOn ? 'Disable' : 'Enable'} email sign-in
                </button>
              </p>
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  void save.run(JSON.parse(text ?? '{}'));
                }}
              >
                <JsonEditor
                  label="Configuration (providers, password_policy, tokens, redirect_urls, rate_limit)"
                  value={text ?? JSON.stringify(c, null, 2)}
                  rows={10}
                  validate={mustBeObject}
                  onChange={(t, _v, good) => {
                    setText(t);
                    setOk(good);
                  }}
                />
                <button type="submit" disabled={save.busy || text === null || !ok}>
                  Save configuration
                </button>
              </form>
              <ErrorBox error={save.error} />
            </>
          );
        }}
      </AsyncView>
    </div>
  );
}

function UsersList({ pid }: { pid: string }) {
  const api = useApi();
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const users = useAsync(() => api.authUsers(pid, cursors[cursors.length - 1]), [api, pid, cursors]);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const create = useAction(async () => {
    await api.createAuthUser(pid, email.trim(), password);
    setEmail('');
    setPassword('');
    users.reload();
  });
  const toggle = useAction(async (id: string, disabled: boolean) => {
    await api.setAuthUserDisabled(pid, id, disabled);
    users.reload();
  });
  const del = useAction(async (id: string) => {
    await api.deleteAuthUser(pid, id);
    users.reload();
  });
  return (
    <div>
      <h2>Users</h2>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void create.run();
        }}
      >
        <Field label="Email">{(id) => <input id={id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
        <Field label="Password">
          {(id) => <input id={id} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
        </Field>
        <button type="submit" disabled={create.busy || !email.trim()}>
          Add user
        </button>
      </form>
      <ErrorBox error={create.error ?? toggle.error ?? del.error} />
      <AsyncView state={users} isEmpty={(u) => u.users.length === 0} empty="No users have signed up yet.">
        {(u) => (
          <>
            <table>
              <thead>
                <tr>
                  <th>Email</th>
                  <th>Id</th>
                  <th>Created</th>
                  <th>State</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {u.users.map((x) => (
                  <tr key={x.id}>
                    <td>{x.email ?? (x.anonymous ? '(anonymous)' : '—')}</td>
                    <td>
                      <code>{x.id}</code>
                    </td>
                    <td>{fmtTime(x.created_at)}</td>
                    <td>{x.disabled ? 'disabled' : 'active'}</td>
                    <td className="actions">
                      <button type="button" className="small" onClick={() => void toggle.run(x.id, !x.disabled)}>
                        {x.disabled ? 'Enable' : 'Disable'}
                      </button>
                      <button type="button" className="small danger" onClick={() => void del.run(x.id)}>
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div className="row pager">
              <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
                Previous page
              </button>
              <button type="button" disabled={!u.cursor} onClick={() => u.cursor && setCursors([...cursors, u.cursor])}>
                Next page
              </button>
            </div>
          </>
        )}
      </AsyncView>
    </div>
  );
}
