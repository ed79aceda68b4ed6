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

export function loginTarget(pathname: string, search: string): string {
  if (PUBLIC.includes(pathname)) return '/login';
  return `/login?next=${encodeURIComponent(pathname + search)}`;
}

export function AuthProvider({ api, children }: { api: Api; children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [checked, setChecked] = useState(false);
  const [ended, setEnded] = useState<string | null>(null);

  const expire = useCallback((why: string) => {
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
      setUser(await api.me());
    } catch {
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
        setEnded(null);
        setUser(u);
        setChecked(true);
      },
      signOut: async () => {
        try {
          await api.logout();
        } finally {
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
