import { useState, type FormEvent } from 'react';
import { useApi, useAuth } from '../auth';
import { ErrorBox, Field, Loading, useTitle } from '../components/ui';
import { useAction, useAsync } from '../hooks';
import { Link, useLocation, useNavigate } from '../router';

/** Where to go after signing in: ?next= when it is a path of this console, else /projects. */
export function nextTarget(search: string): string {
  const n = new URLSearchParams(search).get('next');
  return n && n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/\\') ? n : '/projects';
}

function Credentials({
  title,
  submit,
  withName,
  withConfirm,
  busy,
  error,
  children,
}: {
  title: string;
  submit: (email: string, password: string, name: string) => void;
  withName?: boolean;
  withConfirm?: boolean;
  busy: boolean;
  error: Error | null;
  children?: React.ReactNode;
}) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [name, setName] = useState('');
  const [local, setLocal] = useState<string | null>(null);
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (withConfirm && password !== confirm) return setLocal('the passwords do not match');
    if (withName && password.length < 8) return setLocal('the password needs at least 8 characters');
    setLocal(null);
    submit(email.trim(), password, name.trim());
  };
  return (
    <form className="card narrow" onSubmit={onSubmit} aria-label={title}>
      <h1>{title}</h1>
      {withName && (
        <Field label="Name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />}</Field>
      )}
      <Field label="Email">
        {(id) => (
          <input id={id} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="username" />
        )}
      </Field>
      <Field label="Password">
        {(id) => (
          <input
            id={id}
            type="password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete={withName ? 'new-password' : 'current-password'}
          />
        )}
      </Field>
      {withConfirm && (
        <Field label="Confirm password">
          {(id) => (
            <input id={id} type="password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} autoComplete="new-password" />
          )}
        </Field>
      )}
      {local && (
        <p className="field-error" role="alert">
          {local}
        </p>
      )}
      <ErrorBox error={error} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Please wait…' : title}
      </button>
      {children}
    </form>
  );
}

export function Setup() {
  useTitle('Set up');
  const api = useApi();
  const { signedIn } = useAuth();
  const navigate = useNavigate();
  const st = useAsync(() => api.status(), [api]);
  const act = useAction(async (email: string, password: string, name: string) => {
    await api.setup(email, password, name);
    signedIn(await api.me());
    navigate('/projects', true);
  });
  if (st.error) return <ErrorBox error={st.error} onRetry={st.reload} />;
  if (!st.data) return <Loading />;
  if (st.data.deployment_mode !== 'self_hosted' || st.data.setup_complete)
    return (
      <section className="card narrow">
        <h1>Setup is done</h1>
        <p>This instance already has its administrator.</p>
        <Link to="/login">Sign in</Link>
      </section>
    );
  return (
    <Credentials title="Create the administrator" submit={act.run} withName withConfirm busy={act.busy} error={act.error}>
      <p className="hint">This self-hosted instance is new: its first account administers it.</p>
    </Credentials>
  );
}

export function Login() {
  useTitle('Sign in');
  const api = useApi();
  const { signedIn, ended } = useAuth();
  const navigate = useNavigate();
  const { search } = useLocation();
  const act = useAction(async (email: string, password: string) => {
    await api.login(email, password);
    signedIn(await api.me());
    navigate(nextTarget(search), true);
  });
  return (
    <Credentials title="Sign in" submit={act.run} busy={act.busy} error={act.error}>
      {ended && (
        <p className="notice" role="status">
          Your session {ended === 'revoked' ? 'was ended' : 'expired'}: sign in again to continue.
        </p>
      )}
      <p className="hint">
        No account? <Link to="/signup">Sign up</Link>
      </p>
    </Credentials>
  );
}

export function Signup() {
  useTitle('Sign up');
  const api = useApi();
  const { signedIn } = useAuth();
  const navigate = useNavigate();
  const act = useAction(async (email: string, password: string, name: string) => {
    await api.register(email, password, name);
    await api.login(email, password);
    signedIn(await api.me());
    navigate('/projects', true);
  });
  return (
    <Credentials title="Sign up" submit={act.run} withName withConfirm busy={act.busy} error={act.error}>
      <p className="hint">
        Already registered? <Link to="/login">Sign in</Link>
      </p>
    </Credentials>
  );
}
