import { describe, expect, it } from 'vitest';
import { rewriteSolve } from './buildkit-guard.ts';

const frame = (msg: Buffer): Buffer => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
};
const str = (field: number, s: string): Buffer =>
  Buffer.concat([Buffer.from([(field << 3) | 2, s.length]), Buffer.from(s)]);
const rules = { labels: [['dockhand.tenant', 'alice']] as [string, string][], allowed: new Set<string>() };

describe('rewriteSolve', () => {
  it('appends the labels as frontend options, after the client’s own', () => {
    const out = rewriteSolve(frame(Buffer.concat([str(6, 'dockerfile.v0')])), rules);
    expect(out.readUInt32BE(1)).toBe(out.length - 5);
    const text = out.subarray(5).toString('latin1');
    expect(text).toContain('dockerfile.v0');
    expect(text.endsWith('label:dockhand.tenant\x12\x05alice')).toBe(true);
    expect(out[5 + 15]).toBe((7 << 3) | 2); // FrontendAttrs, right after the original 15 bytes
  });

  it('refuses an entitlement that is not allowed', () => {
    expect(() => rewriteSolve(frame(str(9, 'network.host')), rules)).toThrow(/network\.host is not allowed/);
    expect(
      rewriteSolve(frame(str(9, 'network.host')), { ...rules, allowed: new Set(['network.host']) }).length,
    ).toBeGreaterThan(17);
  });

  it('leaves a gateway solve of a bare definition alone, and labels one that runs a frontend', () => {
    const bare = frame(str(1, 'llb'));
    expect(rewriteSolve(bare, rules, { options: 3, frontend: 2 })).toEqual(bare);
    const withFrontend = rewriteSolve(frame(str(2, 'dockerfile.v0')), rules, { options: 3, frontend: 2 });
    expect(withFrontend[5 + 15]).toBe((3 << 3) | 2);
  });

  it('refuses what it cannot read: compressed, truncated or several messages', () => {
    const msg = str(6, 'x');
    const compressed = frame(msg);
    compressed[0] = 1;
    expect(() => rewriteSolve(compressed, rules)).toThrow(/compressed or malformed/);
    expect(() => rewriteSolve(frame(msg).subarray(0, 6), rules)).toThrow();
    expect(() => rewriteSolve(Buffer.concat([frame(msg), frame(msg)]), rules)).toThrow(
      /more than one message/,
    );
    expect(() => rewriteSolve(frame(Buffer.from([(9 << 3) | 2, 50, 1])), rules)).toThrow(/malformed/);
  });
});
