// A small history router: the console's pages are real paths (/projects/:id/database), served by
// bunbased's SPA fallback (index.html for any page path), so a reload or a shared link works.
import { createContext, useContext, useEffect, useState, type AnchorHTMLAttributes, type ReactNode } from 'react';

export interface Location {
  pathname: string;
  search: string;
}

const RouterCtx = createContext<{ loc: Location; navigate: (to: string, replace?: boolean) => void }>({
  loc: { pathname: '/', search: '' },
  navigate: () => {},
});

export function currentLocation(): Location {
  return { pathname: window.location.pathname, search: window.location.search };
}

export function navigateTo(to: string, replace = false) {
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function Router({ children }: { children: ReactNode }) {
  const [loc, setLoc] = useState<Location>(currentLocation);
  useEffect(() => {
    const on = () => setLoc(currentLocation());
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return <RouterCtx.Provider value={{ loc, navigate: navigateTo }}>{children}</RouterCtx.Provider>;
}

export function useLocation() {
  return useContext(RouterCtx).loc;
}
export function useNavigate() {
  return useContext(RouterCtx).navigate;
}

/** Matches "/projects/:id/database" against a path: the decoded parameters, or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split('/').filter(Boolean);
  const xs = path.split('/').filter(Boolean);
  if (ps.length !== xs.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].startsWith(':')) {
      try {
        params[ps[i].slice(1)] = decodeURIComponent(xs[i]);
      } catch {
        return null;
      }
    } else if (ps[i] !== xs[i]) return null;
  }
  return params;
}

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const navigate = useNavigate();
  return (
    <a
      href={to}
      {...rest}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}
