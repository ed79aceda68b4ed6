// The signed-in developer: loaded from GET /v1/auth/me, watched with GET /v1/auth/stream (named
// `auth` events: {status:"ok"} at once, {status:"expired"|"revoked"} when the session ends), and
// cleared by any 401 — then the console goes to /login?next=<where the user was>.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Api, type User } from './api';
import { navigateTo } from './router';

interface AuthState {
  api: Api;
  user: User | null;
  checked: boolean;
  /** why the session ended ("expired", "revoked"), shown on the sign-in page */
  ended: string | null;
  signedIn: (u: User) => void;
  signOut: () => Promise<void>;
  refresh: () => Promise<void>;
}

const Ctx = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const c = useContext(Ctx);
  if (!c) throw new Error('useAuth outside AuthProvider');
  return c;
}
export function useApi(): Api {
  return useAuth().api;
}

const PUBLIC = ['/login', '/signup', '/setup', '/'];

// Whether this browser signed in here (the session cookie itself is HttpOnly): without it the
// console does not ask /auth/me, so a visitor who never signed in sees no failed request.
const MARK = 'bunbase.signedIn';
export function markSignedIn(on: boolean) {
  try {
    if (on) localStorage.setItem(MARK, '1');
    else localStorage.removeItem(MARK);
  } catch {
    /* storage disabled: /auth/me is asked every time */
  }
}
function maybeSignedIn(): boolean {
  try {
    return localStorage.getItem(MARK) !== null;
  } catch {
    return true;
  }
}

export function loginTarget(pathname: string, search: string): string {
  if (PUBLIC.includes(pathname)) return '/login';
  return `/login?next=${encodeURIComponent(pathname + search)}`;
}

export function AuthProvider({ api, children }: { api: Api; children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [checked, setChecked] = useState(false);
  const [ended, setEnded] = useState<string | null>(null);

  const expire = useCallback((why: string) => {
    markSignedIn(false);
    setUser((u) => {
      if (u) setEnded(why);
      return null;
    });
    const { pathname, search } = window.location;
    if (!PUBLIC.includes(pathname)) navigateTo(loginTarget(pathname, search), true);
  }, []);

  useEffect(() => {
    api.onUnauthorized = () => expire('expired');
    return () => {
      api.onUnauthorized = null;
    };
  }, [api, expire]);

  const refresh = useCallback(async () => {
    try {
      if (!maybeSignedIn()) setUser(null);
      else setUser(await api.me());
    } catch {
      markSignedIn(false);
      setUser(null);
    } finally {
      setChecked(true);
    }
  }, [api]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // live session state while signed in
  useEffect(() => {
    if (!user || typeof EventSource === 'undefined') return;
    const es = new EventSource(api.url('/auth/stream'));
    es.addEventListener('auth', (ev) => {
      try {
        const d = JSON.parse((ev as MessageEvent).data) as { status: string };
        if (d.status === 'expired' || d.status === 'revoked') {
          es.close();
          expire(d.status);
        }
      } catch {
        /* a frame we do not know: ignore */
      }
    });
    return () => es.close();
  }, [api, user, expire]);

  const value = useMemo<AuthState>(
    () => ({
      api,
      user,
      checked,
      ended,
      signedIn: (u) => {
        markSignedIn(true);
        setEnded(null);
        setUser(u);
        setChecked(true);
      },
      signOut: async () => {
        try {
          await api.logout();
        } finally {
          markSignedIn(false);
          setUser(null);
          setEnded(null);
          navigateTo('/login', true);
        }
      },
      refresh,
    }),
    [api, user, checked, ended, refresh],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
