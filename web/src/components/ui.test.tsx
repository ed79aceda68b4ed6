import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { ApiError } from '../api';
import { AsyncView, ConfirmDelete, ErrorBox, JsonEditor, mustBeObject } from './ui';

afterEach(cleanup);

function Editor({ initial }: { initial: string }) {
  const [t, setT] = useState(initial);
  return <JsonEditor label="Document" value={t} validate={mustBeObject} onChange={(x) => setT(x)} />;
}

describe('JsonEditor', () => {
  it('shows where the JSON is wrong and marks the field invalid', () => {
    render(<Editor initial='{"a": 1}' />);
    const ta = screen.getByLabelText('Document');
    expect(ta.getAttribute('aria-invalid')).toBe('false');
    fireEvent.change(ta, { target: { value: '{"a": ' } });
    expect(ta.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByRole('alert').textContent).toMatch(/JSON|Unexpected|Expected/);
    fireEvent.change(ta, { target: { value: '[1, 2]' } });
    expect(screen.getByRole('alert').textContent).toBe('must be a JSON object');
  });
});

describe('ConfirmDelete', () => {
  it('deletes only after the exact name is typed', () => {
    const del = vi.fn();
    render(<ConfirmDelete name="My App" what="project" onConfirm={del} />);
    const btn = screen.getByRole('button', { name: 'Delete project' }) as HTMLButtonElement;
    const input = screen.getByLabelText(/Type/);
    expect(btn.disabled).toBe(true);
    fireEvent.change(input, { target: { value: 'my app' } });
    expect(btn.disabled).toBe(true);
    fireEvent.submit(input.closest('form')!);
    expect(del).not.toHaveBeenCalled();
    fireEvent.change(input, { target: { value: 'My App' } });
    expect(btn.disabled).toBe(false);
    fireEvent.click(btn);
    expect(del).toHaveBeenCalledTimes(1);
  });
});

describe('AsyncView and ErrorBox', () => {
  const base = { loading: false, error: null, reload: () => {} };
  it('loading, then empty, then content', () => {
    const { rerender } = render(
      <AsyncView state={{ ...base, loading: true, data: undefined as string[] | undefined }} empty="Nothing">
        {(d) => <p>{d.join(',')}</p>}
      </AsyncView>,
    );
    expect(screen.getByRole('status').textContent).toMatch(/Loading/);
    rerender(
      <AsyncView state={{ ...base, data: [] as string[] }} empty="Nothing">
        {(d) => <p>{d.join(',')}</p>}
      </AsyncView>,
    );
    expect(screen.getByText('Nothing')).toBeTruthy();
    rerender(
      <AsyncView state={{ ...base, data: ['a', 'b'] }} empty="Nothing">
        {(d) => <p>{d.join(',')}</p>}
      </AsyncView>,
    );
    expect(screen.getByText('a,b')).toBeTruthy();
  });
  it('an error shows its message, code, a rule trace, and retries', () => {
    const reload = vi.fn();
    render(
      <AsyncView state={{ ...base, data: undefined, error: new ApiError(403, 'permission_denied', 'denied by rule read', { trace: { rule: 'read', result: false } }), reload }}>
        {() => <p>never</p>}
      </AsyncView>,
    );
    expect(screen.getByRole('alert').textContent).toMatch(/denied by rule read/);
    expect(screen.getByText('permission_denied')).toBeTruthy();
    expect(screen.getByLabelText('rule evaluation').textContent).toMatch(/"rule": "read"/);
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(reload).toHaveBeenCalled();
  });
  it('no error renders nothing', () => {
    const { container } = render(<ErrorBox error={null} />);
    expect(container.innerHTML).toBe('');
  });
});
