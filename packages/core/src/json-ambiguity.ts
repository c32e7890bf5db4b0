import { visit } from 'jsonc-parser';
import { coreError } from './errors.ts';

/**
 * What makes a JSON text read one way by `JSON.parse` and another by the engine's Go decoder, if anything:
 *
 * - a key that one object names twice, compared as decoded (`"a"` and `"\u0061"` are one key). `JSON.parse`
 *   keeps the last of two equal keys and shows no trace of the first, so a check of the parsed value cannot see
 *   them; Go applies each in turn, into what the earlier ones left: a `null` after `true` leaves a bool `true`,
 *   and a second object for a struct field fills in the first one's fields. So
 *   `{"Privileged": true, "Privileged": null}` reads as `null` here and as `true` to the engine;
 * - a string, key or value, with half of a UTF-16 surrogate pair (`"\ud800"`): Go decodes every such half to
 *   U+FFFD, so `"x\ud800"` and `"x\udbff"` are two keys here and one key to the engine.
 *
 * @param text - valid JSON (as `JSON.parse` accepts it)
 * @returns what is ambiguous, in words, or `undefined`
 * @example
 * ```ts
 * jsonAmbiguity('{"a": 1, "b": {"a": 2}}'); // undefined
 * jsonAmbiguity('{"a": true, "\\u0061": null}'); // 'names "a" twice in one object'
 * ```
 */
export function jsonAmbiguity(text: string): string | undefined {
  const open: Set<string>[] = [];
  let found: string | undefined;
  const halfPair = (s: string) => {
    if (!s.isWellFormed()) found ??= 'has a string with half of a UTF-16 surrogate pair (\\ud800 to \\udfff)';
  };
  visit(text, {
    onObjectBegin: () => {
      open.push(new Set());
    },
    onObjectProperty: (key) => {
      halfPair(key);
      const keys = open.at(-1)!;
      if (keys.has(key)) found ??= `names ${JSON.stringify(key)} twice in one object`;
      else keys.add(key);
    },
    onObjectEnd: () => {
      open.pop();
    },
    onLiteralValue: (value) => {
      if (typeof value === 'string') halfPair(value);
    },
  });
  return found;
}

/**
 * Refuses a JSON text that the proxy and the engine would read two ways ({@link jsonAmbiguity}). No Docker client
 * sends one.
 *
 * @param text - valid JSON
 * @param what - what the text is, for the message (`the request body`, `the filters parameter`)
 * @throws {@link DockhandError} `DOCKHAND_AMBIGUOUS_JSON` (400)
 * @example
 * ```ts
 * assertUnambiguousJson('{"Privileged": true, "Privileged": null}', 'the request body'); // throws
 * ```
 */
export function assertUnambiguousJson(text: string, what: string): void {
  const ambiguity = jsonAmbiguity(text);
  if (ambiguity !== undefined)
    throw coreError(
      'DOCKHAND_AMBIGUOUS_JSON',
      `${what} ${ambiguity}: the engine would read it otherwise, so it cannot be checked here`,
    );
}
