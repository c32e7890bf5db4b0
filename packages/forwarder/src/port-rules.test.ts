import { describe, expect, test } from 'vitest';
import { ForwarderErrorCode } from './errors.ts';
import { createPortRules } from './port-rules.ts';

describe('createPortRules', () => {
  test('forwards every port on its own number by default, and with an empty allowlist', () => {
    expect(createPortRules().localPort(8080)).toBe(8080);
    expect(createPortRules({ allow: [] }).localPort(8080)).toBe(8080);
  });
  test('applies allow, deny (which wins) and the offset', () => {
    const rules = createPortRules({ allow: ['8000-8999', 3000], deny: [8080], portOffset: 10000 });
    expect(rules.localPort(8081)).toBe(18081);
    expect(rules.localPort(3000)).toBe(13000);
    expect(rules.localPort(8080)).toBeUndefined();
    expect(rules.localPort(9000)).toBeUndefined();
  });
  test('drops ports the offset pushes out of range', () => {
    expect(createPortRules({ portOffset: 100 }).localPort(65500)).toBeUndefined();
  });
  test('refuses malformed specs with a stable code', () => {
    expect(() => createPortRules({ deny: ['80-70'] })).toThrow(
      expect.objectContaining({ code: ForwarderErrorCode.InvalidOption }),
    );
    expect(() => createPortRules({ portOffset: 1.5 })).toThrow(
      expect.objectContaining({ code: ForwarderErrorCode.InvalidOption }),
    );
  });
});
