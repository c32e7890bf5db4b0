import { describe, expect, it } from 'vitest';
import { encodeSourcePolicy, normaliseReference, rewriteSolve } from './buildkit-guard.ts';

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

  it('refuses the frontend options that reach outside the sandbox, in either solve', () => {
    const option = (field: number, k: string, v: string) => {
      const entry = Buffer.concat([str(1, k), str(2, v)]);
      return Buffer.concat([Buffer.from([(field << 3) | 2, entry.length]), entry]);
    };
    expect(() => rewriteSolve(frame(option(7, 'add-hosts', 'evil=10.9.9.9')), rules)).toThrow(/--add-host/);
    expect(() => rewriteSolve(frame(option(7, 'cgroup-parent', '/x')), rules)).toThrow(/cgroupparent/);
    expect(() =>
      rewriteSolve(
        frame(Buffer.concat([str(2, 'dockerfile.v0'), option(3, 'add-hosts', 'a=1.2.3.4')])),
        rules,
        {
          options: 3,
          frontend: 2,
        },
      ),
    ).toThrow(/--add-host/);
    // empty, or another option: left as they are
    expect(rewriteSolve(frame(option(7, 'add-hosts', '')), rules).length).toBeGreaterThan(5);
    expect(rewriteSolve(frame(option(7, 'build-arg:HOSTS', 'a=1')), rules).length).toBeGreaterThan(5);
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

describe('the source policy', () => {
  it('is appended as field 12 of Control/Solve, and a request with its own is refused', () => {
    const policy = encodeSourcePolicy(['^docker-image://docker\\.io/library/busybox:latest$']);
    const out = rewriteSolve(frame(str(6, 'dockerfile.v0')), rules, undefined, policy);
    const body = out.subarray(5);
    expect(body[15]).toBe((12 << 3) | 2);
    // the length is a varint: two bytes once the policy is 128 bytes or more
    expect(policy.length).toBeGreaterThan(127);
    expect((body[16]! & 0x7f) | (body[17]! << 7)).toBe(policy.length);
    expect(body.subarray(18, 18 + policy.length)).toEqual(policy);
    const own = frame(Buffer.concat([str(6, 'dockerfile.v0'), Buffer.from([(12 << 3) | 2, 0])]));
    expect(() => rewriteSolve(own, rules, undefined, policy)).toThrow(/its own source policy/);
  });

  it('denies every image first, then allows the patterns (BuildKit: the last matching rule decides)', () => {
    const policy = encodeSourcePolicy(['^a$']).toString('latin1');
    expect(policy.startsWith('\x08\x01')).toBe(true); // version 1
    expect(policy.indexOf('docker-image://*')).toBeLessThan(policy.indexOf('^a$'));
    expect(policy).toContain('\x08\x01\x12\x14\x0a\x10docker-image://*\x10\x00'); // DENY, WILDCARD
    expect(policy).toContain('\x08\x00\x12\x07\x0a\x03^a$\x10\x02'); // ALLOW, REGEX
    // and, after every allow, sources the engine would fetch from the host network
    for (const scheme of ['http', 'https', 'git']) {
      const deny = `\x0a${String.fromCharCode(scheme.length + 4)}${scheme}://*\x10\x00`;
      expect(policy).toContain(deny);
      expect(policy.indexOf(deny)).toBeGreaterThan(policy.indexOf('^a$'));
    }
  });
});

describe('normaliseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox', 'latest'],
    ['busybox:1.36', 'docker.io/library/busybox', '1.36'],
    ['dockhand-test/app:1', 'docker.io/dockhand-test/app', '1'],
    ['localhost:5000/app', 'localhost:5000/app', 'latest'],
    ['registry.example.com/team/app:v2', 'registry.example.com/team/app', 'v2'],
    ['localhost/app:x', 'localhost/app', 'x'],
  ])('%s', (ref, name, tag) => {
    expect(normaliseReference(ref)).toEqual({ name, tag });
  });
});
