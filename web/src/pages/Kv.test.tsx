import { describe, expect, it } from 'vitest';
import { fmtTtl } from './Kv';

describe('KV browser: remaining TTL', () => {
  it('says no expiry for null and shows the two largest units otherwise', () => {
    expect(fmtTtl(null)).toBe('no expiry');
    expect(fmtTtl(400)).toBe('expires in <1s');
    expect(fmtTtl(4000)).toBe('expires in 4s');
    expect(fmtTtl(125000)).toBe('expires in 2m 5s');
    expect(fmtTtl(3599000)).toBe('expires in 59m 59s');
    expect(fmtTtl(3720000)).toBe('expires in 1h 2m');
    expect(fmtTtl(2 * 86400000 + 3 * 3600000)).toBe('expires in 2d 3h');
  });
});
