import { describe, expect, it } from 'vitest';
import { tenantLoopback } from './tenant-loopback.ts';

describe('tenantLoopback', () => {
  it('is one canonical 127.a.b.c address per name, the same every time', () => {
    expect(tenantLoopback('alice')).toBe(tenantLoopback('alice'));
    expect(tenantLoopback('alice')).toMatch(/^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
    expect(tenantLoopback('alice')).not.toBe(tenantLoopback('alice-2'));
  });

  it("is never in 127.0.0.0/16 (the host's 127.0.0.1, 127.0.0.53, 127.0.1.1) nor a .0 or .255 address", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const address = tenantLoopback(`tenant-${i}`);
      const [, a, b, c] = address.split('.').map(Number);
      expect(a).toBeGreaterThanOrEqual(1);
      expect(a).toBeLessThanOrEqual(254);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThanOrEqual(255);
      expect(c).toBeGreaterThanOrEqual(1);
      expect(c).toBeLessThanOrEqual(254);
      // canonical: no leading zeros, which the engine could not parse
      expect(address).toBe([127, a, b, c].join('.'));
      seen.add(address);
    }
    // spread over the space: among 20 000 names, a handful of shared addresses at most (about 12 expected)
    expect(20_000 - seen.size).toBeLessThan(40);
  });
});
