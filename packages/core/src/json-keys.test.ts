import { describe, expect, it } from 'vitest';
import { DockhandError } from './errors.ts';
import { assertUnrepeatedKeys, repeatedJsonKey } from './json-keys.ts';

describe('repeatedJsonKey', () => {
  it.each<[string, string | undefined]>([
    ['{"a":1,"b":2}', undefined],
    ['{"a":1,"b":{"a":2}}', undefined],
    ['[{"k":1},{"k":2}]', undefined],
    ['{"a":[{"a":1}],"b":{"c":{"a":3}}}', undefined],
    ['{"A":1,"a":2}', undefined], // a case-folded pair is the mutators' to judge: map keys are case-sensitive
    ['"a"', undefined],
    ['{"a":true,"a":null}', 'a'],
    ['{"a":true,"\\u0061":null}', 'a'],
    ['{"x":{"b":1,"b":2}}', 'b'],
    ['[1,{"k":1,"k":1}]', 'k'],
    ['{"x":{"a":1},"y":{"b":1,"c":{},"b":2}}', 'b'],
    ['{"":1,"":2}', ''],
  ])('%s', (text, key) => {
    JSON.parse(text); // every case is JSON
    expect(repeatedJsonKey(text)).toBe(key);
  });
});

describe('assertUnrepeatedKeys', () => {
  it('names the key and the text in a Docker-style 400', () => {
    const err = (() => {
      try {
        assertUnrepeatedKeys('{"Privileged":true,"Privileged":null}', 'the request body');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DockhandError);
    expect(err).toMatchObject({ code: 'DOCKHAND_AMBIGUOUS_JSON', status: 400 });
    expect((err as Error).message).toMatch(/^the request body names "Privileged" twice in one object/);
  });
});
