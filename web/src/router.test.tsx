import { describe, expect, it } from 'vitest';
import { matchPath } from './router';
import { nextTarget } from './pages/Auth';
import { loginTarget } from './auth';

describe('routing', () => {
  it('matches patterns and decodes parameters', () => {
    expect(matchPath('/projects/:pid/database/:collection', '/projects/p1/database/my%20posts')).toEqual({
      pid: 'p1',
      collection: 'my posts',
    });
    expect(matchPath('/projects/:pid', '/projects/p1/keys')).toBeNull();
    expect(matchPath('/projects/:pid/keys', '/projects/p1/members')).toBeNull();
    expect(matchPath('/projects/:pid', '/projects/%E0%A4%A')).toBeNull();
  });
  it('after an expired session: sign in, then back to where the user was', () => {
    expect(loginTarget('/projects/p1/kv', '?x=1')).toBe('/login?next=%2Fprojects%2Fp1%2Fkv%3Fx%3D1');
    expect(loginTarget('/login', '')).toBe('/login');
    expect(nextTarget('?next=%2Fprojects%2Fp1%2Fkv%3Fx%3D1')).toBe('/projects/p1/kv?x=1');
  });
  it('never redirects off the console after sign-in', () => {
    expect(nextTarget('?next=https%3A%2F%2Fevil.example')).toBe('/projects');
    expect(nextTarget('?next=%2F%2Fevil.example')).toBe('/projects');
    expect(nextTarget('?next=%2F%5Cevil.example')).toBe('/projects');
    expect(nextTarget('')).toBe('/projects');
  });
});

import { planSummary } from './pages/Database';

describe('explain', () => {
  it('summarizes a plan in one sentence', () => {
    expect(planSummary({ plan: 'COLLSCAN', index: null, keys_examined: 0, docs_examined: 3, returned: 1 })).toBe(
      'Scans the whole collection (no index used): examined 0 index keys and 3 documents, returned 1.',
    );
    expect(planSummary({ plan: 'IXSCAN', index: 'by_stars', docs_examined: 2, returned: 2, sort_from_index: true })).toBe(
      'Uses index by_stars (IXSCAN): examined 2 documents, returned 2; sorted by the index.',
    );
    expect(planSummary(null)).toBeNull();
    expect(planSummary({ other: 1 })).toBeNull();
  });
});
