import { describe, expect, it } from 'vitest';
import { DockhandError } from './errors.ts';
import { assertUnambiguousJson, jsonAmbiguity } from './json-ambiguity.ts';

describe('jsonAmbiguity', () => {
  it.each<[string, string | undefined]>([
    ['{"a":1,"b":2}', undefined],
    ['{"a":1,"b":{"a":2}}', undefined],
    ['[{"k":1},{"k":2}]', undefined],
    ['{"a":[{"a":1}],"b":{"c":{"a":3}}}', undefined],
    ['{"A":1,"a":2}', undefined], // a case-folded pair is the mutators' to judge: map keys are case-sensitive
    ['"a"', undefined],
    ['{"e":"\\ud83d\\ude00"}', undefined], // a whole pair
    ['{"a":true,"a":null}', 'names "a" twice in one object'],
    ['{"a":true,"\\u0061":null}', 'names "a" twice in one object'],
    ['{"x":{"b":1,"b":2}}', 'names "b" twice in one object'],
    ['[1,{"k":1,"k":1}]', 'names "k" twice in one object'],
    ['{"x":{"a":1},"y":{"b":1,"c":{},"b":2}}', 'names "b" twice in one object'],
    ['{"":1,"":2}', 'names "" twice in one object'],
    // Go decodes each half to U+FFFD: one key to the engine
    [
      '{"L":{"x\\ud800":"1","x\\udbff":"2"}}',
      'has a string with half of a UTF-16 surrogate pair (\\ud800 to \\udfff)',
    ],
    ['{"Env":["A=\\udc00"]}', 'has a string with half of a UTF-16 surrogate pair (\\ud800 to \\udfff)'],
  ])('%s', (text, ambiguity) => {
    JSON.parse(text); // every case is JSON
    expect(jsonAmbiguity(text)).toBe(ambiguity);
  });
});

it('a text nested too deeply to be read here is a 400, not a crash (found by review, stop 24)', () => {
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  JSON.parse(deep);
  expect(() => jsonAmbiguity(deep)).toThrow(
    expect.objectContaining({ code: 'DOCKHAND_BAD_JSON', status: 400 }),
  );
  expect(jsonAmbiguity(`${'['.repeat(500)}${']'.repeat(500)}`)).toBeUndefined();
});

describe('assertUnambiguousJson', () => {
  it('names the key and the text in a Docker-style 400', () => {
    const err = (() => {
      try {
        assertUnambiguousJson('{"Privileged":true,"Privileged":null}', 'the request body');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DockhandError);
    expect(err).toMatchObject({ code: 'DOCKHAND_AMBIGUOUS_JSON', status: 400 });
    expect((err as Error).message).toMatch(/^the request body names "Privileged" twice in one object/);
  });
});
