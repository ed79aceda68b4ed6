import { useEffect, type ReactNode } from 'react';
import type { Api } from './api';
import { AuthProvider, loginTarget, useApi, useAuth } from './auth';
import { Loading, ErrorBox } from './components/ui';
import { useAsync } from './hooks';
import { Link, matchPath, Router, useLocation, useNavigate } from './router';
import { Login, Setup, Signup } from './pages/Auth';
import { ProjectsPage, ProjectLayout, Overview, Settings, Members, Keys } from './pages/Projects';
import { DatabasePage, CollectionPage } from './pages/Database';
import { RealtimePage } from './pages/Realtime';
import { KvPage } from './pages/Kv';
import { FunctionsPage, FunctionPage } from './pages/Functions';
import { EndUsersPage } from './pages/EndUsers';
import { AccountPage } from './pages/Account';
import { AuditPage } from './pages/Audit';

type Page = (p: Record<string, string>) => ReactNode;

const projectPages: [string, Page][] = [
  ['/projects/:pid', (p) => <Overview pid={p.pid} />],
  ['/projects/:pid/settings', (p) => <Settings pid={p.pid} />],
  ['/projects/:pid/members', (p) => <Members pid={p.pid} />],
  ['/projects/:pid/keys', (p) => <Keys pid={p.pid} />],
  ['/projects/:pid/database', (p) => <DatabasePage pid={p.pid} />],
  ['/projects/:pid/database/:collection', (p) => <CollectionPage pid={p.pid} name={p.collection} />],
  ['/projects/:pid/realtime', (p) => <RealtimePage pid={p.pid} />],
  ['/projects/:pid/kv', (p) => <KvPage pid={p.pid} />],
  ['/projects/:pid/functions', (p) => <FunctionsPage pid={p.pid} />],
  ['/projects/:pid/functions/:name', (p) => <FunctionPage pid={p.pid} name={p.name} />],
  ['/projects/:pid/auth', (p) => <EndUsersPage pid={p.pid} />],
  ['/projects/:pid/audit', (p) => <AuditPage pid={p.pid} />],
];

function Redirect({ to }: { to: string }) {
  const navigate = useNavigate();
  useEffect(() => navigate(to, true), [to, navigate]);
  return <Loading />;
}

/** "/": the first admin's setup on a new self-hosted instance, else sign-in, else the projects. */
function Root() {
  const api = useApi();
  const { user } = useAuth();
  const st = useAsync(() => api.status(), [api]);
  if (user) return <Redirect to="/projects" />;
  if (st.error) return <ErrorBox error={st.error} onRetry={st.reload} />;
  if (!st.data) return <Loading />;
  if (st.data.deployment_mode === 'self_hosted' && !st.data.setup_complete) return <Redirect to="/setup" />;
  return <Redirect to="/login" />;
}

function Shell({ children }: { children: ReactNode }) {
  const { user, signOut } = useAuth();
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/projects" className="brand">
          BunBase
        </Link>
        {user && (
          <div className="account">
            <Link to="/account" className="account-link" aria-label={`account of ${user.email}`}>
              {user.email}
            </Link>
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main>{children}</main>
    </div>
  );
}

function Routes() {
  const { pathname, search } = useLocation();
  const { user, checked } = useAuth();
  if (!checked) return <Loading what="Starting" />;
  if (pathname === '/') return <Root />;
  if (pathname === '/setup') return <Setup />;
  if (pathname === '/login') return <Login />;
  if (pathname === '/signup') return <Signup />;
  if (!user) return <Redirect to={loginTarget(pathname, search)} />;
  if (pathname === '/projects') return <ProjectsPage />;
  if (pathname === '/account') return <AccountPage />;
  for (const [pat, page] of projectPages) {
    const m = matchPath(pat, pathname);
    if (m) return <ProjectLayout pid={m.pid}>{page(m)}</ProjectLayout>;
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page at <code>{pathname}</code>. <Link to="/projects">Back to your projects</Link>
      </p>
    </section>
  );
}

export function App({ api }: { api: Api }) {
  return (
    <Router>
      <AuthProvider api={api}>
        <Shell>
          <Routes />
        </Shell>
      </AuthProvider>
    </Router>
  );
}
