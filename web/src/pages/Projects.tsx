import { useEffect, useState, type ReactNode } from 'react';

const PROJECT_CHANGED = 'bunbase:project-changed';
import type { NewKey, Project } from '../api';
import { useApi, useAuth } from '../auth';
import { AsyncView, ConfirmDelete, CopyButton, Empty, ErrorBox, Field, fmtTime, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';
import { Link, useLocation, useNavigate } from '../router';

export function ProjectsPage() {
  useTitle('Projects');
  const api = useApi();
  const { user } = useAuth();
  const navigate = useNavigate();
  const list = useAsync(() => api.projects(), [api]);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<Project | null>(null);
  const create = useAction(async () => {
    const p = await api.createProject(name.trim());
    setCreated(p);
    setName('');
    list.reload();
  });
  return (
    <section>
      <h1>Projects</h1>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) void create.run();
        }}
      >
        <Field label="New project name">
          {(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} placeholder="My App" />}
        </Field>
        <button type="submit" className="primary" disabled={create.busy || !name.trim()}>
          Create project
        </button>
      </form>
      <ErrorBox error={create.error} />
      {user?.is_instance_admin === false && (
        <p className="hint">On this self-hosted instance only its administrators create projects.</p>
      )}
      {created && (
        <div className="card" role="status">
          <h2>
            Created <Link to={`/projects/${created.id}`}>{created.name}</Link>
          </h2>
          <NewKeys keys={created.keys ?? []} />
          <button type="button" onClick={() => navigate(`/projects/${created.id}`)}>
            Open {created.name}
          </button>
        </div>
      )}
      <AsyncView state={list} empty="No projects yet: create your first one above.">
        {(ps) => (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Id</th>
                <th>Your role</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {ps.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/projects/${p.id}`}>{p.name}</Link>
                  </td>
                  <td>
                    <code>{p.id}</code>
                  </td>
                  <td>{p.role}</td>
                  <td>{fmtTime(p.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </AsyncView>
    </section>
  );
}

/** Key values, shown once (the server never returns them again). */
export function NewKeys({ keys }: { keys: NewKey[] }) {
  if (!keys.length) return null;
  return (
    <div className="new-keys">
      <p className="notice">Copy these keys now: they are shown only once.</p>
      <ul>
        {keys.map((k) => (
          <li key={k.id}>
            <strong>{k.kind === 'pk' ? 'Publishable' : 'Secret'} key</strong> <code data-testid={`key-${k.kind}`}>{k.key}</code>{' '}
            <CopyButton text={k.key} />
          </li>
        ))}
      </ul>
    </div>
  );
}

const sections: [string, string][] = [
  ['', 'Overview'],
  ['/database', 'Database'],
  ['/realtime', 'Realtime'],
  ['/kv', 'Key-value'],
  ['/functions', 'Functions'],
  ['/auth', 'Users'],
  ['/keys', 'Keys'],
  ['/members', 'Members'],
  ['/audit', 'Audit'],
  ['/settings', 'Settings'],
];

export function ProjectLayout({ pid, children }: { pid: string; children: ReactNode }) {
  const api = useApi();
  const { pathname } = useLocation();
  const proj = useAsync(() => api.project(pid), [api, pid]);
  const reload = proj.reload;
  useEffect(() => {
    window.addEventListener(PROJECT_CHANGED, reload);
    return () => window.removeEventListener(PROJECT_CHANGED, reload);
  }, [reload]);
  const base = `/projects/${encodeURIComponent(pid)}`;
  return (
    <div className="project">
      <nav className="sidebar" aria-label="Project">
        <p className="project-name">{proj.data?.name ?? (proj.error ? 'Project' : '…')}</p>
        <ul>
          {sections.map(([s, label]) => {
            const to = base + s;
            const current = s === '' ? pathname === to : pathname === to || pathname.startsWith(to + '/');
            return (
              <li key={s}>
                <Link to={to} aria-current={current ? 'page' : undefined}>
                  {label}
                </Link>
              </li>
            );
          })}
        </ul>
        <Link to="/projects">← All projects</Link>
      </nav>
      <div className="content">{proj.error ? <ErrorBox error={proj.error} onRetry={proj.reload} /> : children}</div>
    </div>
  );
}

export function Overview({ pid }: { pid: string }) {
  useTitle('Overview');
  const api = useApi();
  const proj = useAsync(() => api.project(pid), [api, pid]);
  const origin = window.location.origin;
  return (
    <section>
      <h1>Overview</h1>
      <AsyncView state={proj}>
        {(p) => (
          <dl className="facts">
            <dt>Name</dt>
            <dd>{p.name}</dd>
            <dt>Project id</dt>
            <dd>
              <code>{p.id}</code> <CopyButton text={p.id} />
            </dd>
            <dt>Your role</dt>
            <dd>{p.role ?? '—'}</dd>
            <dt>API</dt>
            <dd>
              <code>{origin}/v1</code> <CopyButton text={`${origin}/v1`} />
            </dd>
            <dt>Created</dt>
            <dd>{fmtTime(p.created_at)}</dd>
          </dl>
        )}
      </AsyncView>
      <p className="hint">
        Apps send a key in <code>X-Bunbase-Client-Key</code>: see <Link to={`/projects/${pid}/keys`}>Keys</Link>.
      </p>
    </section>
  );
}

export function Settings({ pid }: { pid: string }) {
  useTitle('Settings');
  const api = useApi();
  const navigate = useNavigate();
  const proj = useAsync(() => api.project(pid), [api, pid]);
  const [name, setName] = useState<string | null>(null);
  const rename = useAction(async () => {
    await api.updateProject(pid, { name: (name ?? '').trim() });
    setName(null);
    proj.reload();
    window.dispatchEvent(new Event(PROJECT_CHANGED)); // the sidebar shows the new name
  });
  const del = useAction(async () => {
    await api.deleteProject(pid);
    navigate('/projects', true);
  });
  return (
    <section>
      <h1>Settings</h1>
      <AsyncView state={proj}>
        {(p) => (
          <>
            <form
              className="row"
              onSubmit={(e) => {
                e.preventDefault();
                void rename.run();
              }}
            >
              <Field label="Project name">
                {(id) => <input id={id} value={name ?? p.name} onChange={(e) => setName(e.target.value)} />}
              </Field>
              <button type="submit" disabled={rename.busy || name === null || !name.trim()}>
                Rename
              </button>
            </form>
            <ErrorBox error={rename.error} />
            <Cors pid={pid} />
            <h2>Delete</h2>
            <p>Removes the project, its members and keys, its documents and its key-value data.</p>
            <ConfirmDelete name={p.name} what="project" busy={del.busy} onConfirm={() => void del.run()} />
            <ErrorBox error={del.error} />
          </>
        )}
      </AsyncView>
    </section>
  );
}

function Cors({ pid }: { pid: string }) {
  const api = useApi();
  const cors = useAsync(() => api.cors(pid), [api, pid]);
  const [text, setText] = useState<string | null>(null);
  const save = useAction(async () => {
    const origins = (text ?? '')
      .split(/\s+/)
      .map((s) => s.trim())
      .filter(Boolean);
    await api.setCors(pid, origins);
    setText(null);
    cors.reload();
  });
  return (
    <>
      <h2>CORS origins</h2>
      <AsyncView state={cors}>
        {(c) => (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void save.run();
            }}
          >
            <Field label="Browser origins allowed to call the key-based API (one per line)">
              {(id) => (
                <textarea
                  id={id}
                  rows={3}
                  value={text ?? c.allowed_origins.join('\n')}
                  placeholder="https://app.example.com"
                  onChange={(e) => setText(e.target.value)}
                />
              )}
            </Field>
            {c.allowed_origins.length === 0 && text === null && <Empty>No origin allowed yet.</Empty>}
            <button type="submit" disabled={save.busy || text === null}>
              Save origins
            </button>
            <ErrorBox error={save.error} />
          </form>
        )}
      </AsyncView>
    </>
  );
}

const ROLES = ['admin', 'member', 'viewer'];

export function Members({ pid }: { pid: string }) {
  useTitle('Members');
  const api = useApi();
  const list = useAsync(() => api.members(pid), [api, pid]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('member');
  const add = useAction(async () => {
    await api.addMember(pid, email.trim(), role);
    setEmail('');
    list.reload();
  });
  const change = useAction(async (uid: string, r: string) => {
    await api.setMemberRole(pid, uid, r);
    list.reload();
  });
  const remove = useAction(async (uid: string) => {
    await api.removeMember(pid, uid);
    list.reload();
  });
  return (
    <section>
      <h1>Members</h1>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (email.trim()) void add.run();
        }}
      >
        <Field label="Email of a registered developer">
          {(id) => <input id={id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
        </Field>
        <Field label="Role">
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole(e.target.value)}>
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" disabled={add.busy || !email.trim()}>
          Add member
        </button>
      </form>
      <ErrorBox error={add.error ?? change.error ?? remove.error} />
      <AsyncView state={list} empty="No members.">
        {(ms) => (
          <table>
            <thead>
              <tr>
                <th>Email</th>
                <th>Name</th>
                <th>Role</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {ms.map((m) => (
                <tr key={m.user_id}>
                  <td>{m.email}</td>
                  <td>{m.name}</td>
                  <td>
                    {m.role === 'owner' ? (
                      'owner'
                    ) : (
                      <select
                        aria-label={`role of ${m.email}`}
                        value={m.role}
                        onChange={(e) => void change.run(m.user_id, e.target.value)}
                      >
                        {ROLES.map((r) => (
                          <option key={r}>{r}</option>
                        ))}
                      </select>
                    )}
                  </td>
                  <td>
                    {m.role !== 'owner' && (
                      <button type="button" className="small danger" onClick={() => void remove.run(m.user_id)}>
                        Remove
                      </button>
                    )}
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

export function Keys({ pid }: { pid: string }) {
  useTitle('Keys');
  const api = useApi();
  const list = useAsync(() => api.keys(pid), [api, pid]);
  const [fresh, setFresh] = useState<NewKey[]>([]);
  const regen = useAction(async (id: string) => {
    const k = await api.regenerateKey(pid, id);
    setFresh([k]);
    list.reload();
  });
  const add = useAction(async (kind: 'pk' | 'sk') => {
    const k = await api.createKey(pid, kind);
    setFresh([k]);
    list.reload();
  });
  const revoke = useAction(async (id: string) => {
    await api.revokeKey(pid, id);
    list.reload();
  });
  return (
    <section>
      <h1>Keys</h1>
      <p className="hint">
        Publishable keys (<code>pk_</code>) go in browsers and apps: collection rules apply to them. Secret keys (
        <code>sk_</code>) are for your servers. To rotate without downtime, add a second key, move your apps to it, then
        revoke the old one; "Regenerate" replaces a key at once.
      </p>
      <NewKeys keys={fresh} />
      <ErrorBox error={regen.error ?? add.error ?? revoke.error} />
      <div className="row">
        <button type="button" onClick={() => void add.run('pk')} disabled={add.busy}>
          Add publishable key
        </button>
        <button type="button" onClick={() => void add.run('sk')} disabled={add.busy}>
          Add secret key
        </button>
      </div>
      <AsyncView state={list} empty="No active keys: add one above.">
        {(ks) => (
          <table>
            <thead>
              <tr>
                <th>Kind</th>
                <th>Prefix</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {ks.map((k) => (
                <tr key={k.id}>
                  <td>{k.kind === 'pk' ? 'publishable' : 'secret'}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{fmtTime(k.created_at)}</td>
                  <td className="actions">
                    <button type="button" className="small" disabled={regen.busy} onClick={() => void regen.run(k.id)}>
                      Regenerate {k.kind}
                    </button>
                    <button type="button" className="small danger" onClick={() => void revoke.run(k.id)}>
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
