import { describe, expect, it } from 'vitest';
import { render } from '@testing-library/react';
import { MetricsChart, parseEnv } from './Functions';

describe('function environment editor', () => {
  it('parses NAME=value lines, skipping blanks and comments', () => {
    expect(parseEnv('API_KEY=abc=def\n\n# note\nMODE=prod')).toEqual({ vars: { API_KEY: 'abc=def', MODE: 'prod' } });
    expect(parseEnv('')).toEqual({ vars: {} });
  });
  it('says which line is wrong', () => {
    expect(parseEnv('A=1\nnot a var')).toEqual({ error: 'line 2: expected NAME=value' });
    expect(parseEnv('1X=2')).toEqual({ error: 'line 1: expected NAME=value' });
    expect(parseEnv('BUNBASE_X=1')).toEqual({ error: 'line 1: names starting with BUNBASE_ are reserved' });
  });
});

describe('metrics chart', () => {
  it('draws one bar per minute, oldest first, errors on top', () => {
    const { container } = render(
      <MetricsChart
        minutes={[
          { minute_ms: 120000, count: 4, errors: 1, cold: 0, total_ms: 40 },
          { minute_ms: 60000, count: 2, errors: 0, cold: 1, total_ms: 10 },
        ]}
      />,
    );
    const bars = container.querySelectorAll('rect.bar');
    expect(bars.length).toBe(2);
    expect(Number(bars[0].getAttribute('height'))).toBe(35); // 2 of 4, oldest first
    expect(Number(bars[1].getAttribute('height'))).toBe(70);
    expect(container.querySelectorAll('rect.bar-err').length).toBe(1);
    expect(container.querySelector('title')?.textContent).toMatch(/2 calls, 0 errors, avg 5 ms/);
  });
});
