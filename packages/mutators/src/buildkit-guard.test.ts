import { describe, expect, it } from 'vitest';
import { bytesFields, frame, message, str } from '../test/protobuf.ts';
import { encodeSourcePolicy } from './buildkit-guard.ts';
import { rewriteSolve } from './buildkit-solve.ts';

const rules = {
  labels: [['dockhand.tenant', 'alice']] as [string, string][],
  allowed: new Set<string>(),
  namespace: 'dockhand-ns',
};

describe('the source policy', () => {
  it('is appended as field 12 of Control/Solve, and a request with its own is refused', () => {
    const policy = encodeSourcePolicy(['^docker-image://docker\\.io/library/busybox:latest$']);
    // the length is a varint: two bytes once the policy is 128 bytes or more
    expect(policy.length).toBeGreaterThan(127);
    const out = rewriteSolve(frame(message(str(6, 'dockerfile.v0'))), rules, undefined, policy);
    expect(bytesFields(out.subarray(5), 12)).toEqual([policy]);
    const own = frame(message(str(6, 'dockerfile.v0'), (w) => w.tag(12, 2).bytes(new Uint8Array())));
    expect(() => rewriteSolve(own, rules, undefined, policy)).toThrow(/its own source policy/);
  });

  it('denies every image first, then allows the patterns (BuildKit: the last matching rule decides)', () => {
    const policy = encodeSourcePolicy(['^a$']).toString('latin1');
    expect(policy.startsWith('\x08\x01')).toBe(true); // version 1
    expect(policy.indexOf('docker-image://*')).toBeLessThan(policy.indexOf('^a$'));
    expect(policy).toContain('\x08\x01\x12\x14\x0a\x10docker-image://*\x10\x00'); // DENY, WILDCARD
    expect(policy).toContain('\x08\x00\x12\x07\x0a\x03^a$\x10\x02'); // ALLOW, REGEX
    // and, after every allow, sources the engine would fetch from the host network
    // and an OCI layout the client's session serves
    for (const scheme of ['http', 'https', 'git', 'oci-layout']) {
      const deny = `\x0a${String.fromCharCode(scheme.length + 4)}${scheme}://*\x10\x00`;
      expect(policy).toContain(deny);
      expect(policy.indexOf(deny)).toBeGreaterThan(policy.indexOf('^a$'));
    }
  });
});
