import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { Api } from '../api';
import { AuthProvider } from '../auth';
import { AuditPage, detailText, localToIso } from './Audit';

afterEach(() => {
  cleanup();
  localStorage.clear();
});

const rec = (id: number, action: string) => ({
  id,
  at: '2026-12-03T05:50:00.000Z',
  actor: { kind: 'developer-session', id: 'u1', label: 'ada@example.com' },
  action,
  target: `t${id}`,
  detail: { kind: 'pk', prefix: 'pk_abcdefghi' },
  outcome: 'success',
  request_id: `r${id}`,
  project_id: 'p1',
});

/** An Api whose /audit answers from pages (by cursor), recording the URLs asked. */
function stubApi(pages: Record<string, unknown>, status = 200) {
  const f = vi.fn(async (u: RequestInfo | URL) => {
    const url = new URL(String(u));
    if (url.pathname.endsWith('/auth/me')) return new Response('{}', { status: 401 });
    const body = status === 200 ? pages[url.searchParams.get('cursor') ?? ''] : { error: 'the control-plane database failed', code: 'unavailable' };
    return new Response(JSON.stringify(body), { status });
  });
  return { api: new Api('http://h/v1', f), f };
}

describe('audit page helpers', () => {
  it('one-line details and local times as UTC ISO', () => {
    expect(detailText({ kind: 'pk', replaces: 'k1', n: 2 })).toBe('kind=pk replaces=k1 n=2');
    expect(localToIso('')).toBeUndefined();
    expect(localToIso('nonsense')).toBeUndefined();
    expect(localToIso('2026-12-03T05:50')).toMatch(/^2026-12-0[23]T\d\d:50:00\.000Z$/);
  });
});

describe('audit page', () => {
  it('lists records, pages with the cursor (older, newer), filters by action', async () => {
    const { api, f } = stubApi({
      '': { records: [rec(3, 'key.regenerate'), rec(2, 'key.create')], next_cursor: '2' },
      '2': { records: [rec(1, 'project.create')], next_cursor: null },
    });
    render(
      <AuthProvider api={api}>
        <AuditPage pid="p1" />
      </AuthProvider>,
    );
    await screen.findByText('key.regenerate');
    expect(screen.getAllByText('kind=pk prefix=pk_abcdefghi').length).toBe(2);
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await screen.findByText('project.create');
    expect(String(f.mock.calls.at(-1)?.[0])).toBe('http://h/v1/projects/p1/audit?cursor=2&limit=25');
    // the last page: Older turns off (the records and the cursor may land in separate renders)
    await vi.waitFor(() => expect((screen.getByRole('button', { name: 'Older' }) as HTMLButtonElement).disabled).toBe(true));
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await screen.findByText('key.regenerate');
    fireEvent.change(screen.getByLabelText('Action'), { target: { value: 'key.*' } });
    fireEvent.click(screen.getByRole('button', { name: 'Filter' }));
    await vi.waitFor(() => expect(String(f.mock.calls.at(-1)?.[0])).toBe('http://h/v1/projects/p1/audit?action=key.*&limit=25'));
  });

  it('empty and error states', async () => {
    const empty = stubApi({ '': { records: [], next_cursor: null } });
    render(
      <AuthProvider api={empty.api}>
        <AuditPage pid="p1" />
      </AuthProvider>,
    );
    await screen.findByText('No record matches these filters.');
    cleanup();
    const failing = stubApi({}, 503);
    render(
      <AuthProvider api={failing.api}>
        <AuditPage pid="p1" />
      </AuthProvider>,
    );
    expect((await screen.findByRole('alert')).textContent).toMatch(/control-plane database failed/);
    expect(screen.getByRole('button', { name: 'Retry' })).toBeTruthy();
  });
});
