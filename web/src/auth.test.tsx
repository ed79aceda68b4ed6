import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, render, screen } from '@testing-library/react';
import { Api } from './api';
import { AuthProvider, markSignedIn, useAuth } from './auth';

afterEach(() => {
  cleanup();
  localStorage.clear();
});

function Who() {
  const { user, checked } = useAuth();
  return <p>{!checked ? 'checking' : user ? user.email : 'signed out'}</p>;
}

const me = { id: 'u1', email: 'ada@example.com', name: 'Ada', created_at: 1, email_verified: false };

function api(status: number, body: unknown) {
  const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => new Response(JSON.stringify(body), { status }));
  return { api: new Api('http://h/v1', f), f };
}

describe('AuthProvider', () => {
  it('a browser that never signed in asks nothing (no failed request)', async () => {
    const { api: a, f } = api(200, me);
    render(
      <AuthProvider api={a}>
        <Who />
      </AuthProvider>,
    );
    await screen.findByText('signed out');
    expect(f).not.toHaveBeenCalled();
  });

  it('after a sign-in here, /auth/me restores the user', async () => {
    markSignedIn(true);
    const { api: a, f } = api(200, me);
    render(
      <AuthProvider api={a}>
        <Who />
      </AuthProvider>,
    );
    await screen.findByText('ada@example.com');
    expect(f.mock.calls[0][0]).toBe('http://h/v1/auth/me');
  });

  it('an expired session: signed out, and the mark is gone', async () => {
    markSignedIn(true);
    const { api: a } = api(401, { error: 'expired', code: 'unauthenticated' });
    render(
      <AuthProvider api={a}>
        <Who />
      </AuthProvider>,
    );
    await screen.findByText('signed out');
    expect(localStorage.getItem('bunbase.signedIn')).toBeNull();
  });

  it('a 401 on any call while on a page goes to sign-in with ?next=', async () => {
    markSignedIn(true);
    window.history.replaceState(null, '', '/projects/p1/kv?x=1');
    const { api: a } = api(200, me);
    render(
      <AuthProvider api={a}>
        <Who />
      </AuthProvider>,
    );
    await screen.findByText('ada@example.com');
    await act(async () => a.onUnauthorized?.());
    expect(window.location.pathname + window.location.search).toBe('/login?next=%2Fprojects%2Fp1%2Fkv%3Fx%3D1');
    await screen.findByText('signed out');
  });
});
