import { visit } from 'jsonc-parser';
import { coreError, type DockhandError } from './errors.ts';

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
 * @throws {@link DockhandError} `DOCKHAND_BAD_JSON` (400) for a text nested too deeply to be read here
 * @example
 * ```ts
 * jsonAmbiguity('{"a": 1, "b": {"a": 2}}'); // undefined
 * jsonAmbiguity('{"a": true, "\\u0061": null}'); // 'names "a" twice in one object'
 * ```
 */
export function jsonAmbiguity(text: string): string | undefined {
  let found: string | undefined;
  try {
    scan(text, (ambiguity) => {
      found ??= ambiguity;
    });
  } catch (err) {
    // the scanner descends by recursion: a text nested thousands deep (JSON.parse takes it) runs out of stack.
    // The engine refuses more than 10,000 levels; no Docker client sends a hundred
    if (err instanceof RangeError)
      throw coreError('DOCKHAND_BAD_JSON', 'the JSON is nested too deeply to be checked here', err);
    throw err;
  }
  return found;
}

/** Visits every key and string of a JSON text, reporting each ambiguity {@link jsonAmbiguity} names. */
function scan(text: string, report: (ambiguity: string) => void): void {
  const open: Set<string>[] = [];
  const halfPair = (s: string) => {
    if (!s.isWellFormed()) report('has a string with half of a UTF-16 surrogate pair (\\ud800 to \\udfff)');
  };
  visit(text, {
    onObjectBegin: () => {
      open.push(new Set());
    },
    onObjectProperty: (key) => {
      halfPair(key);
      const keys = open.at(-1)!;
      if (keys.has(key)) report(`names ${JSON.stringify(key)} twice in one object`);
      else keys.add(key);
    },
    onObjectEnd: () => {
      open.pop();
    },
    onLiteralValue: (value) => {
      if (typeof value === 'string') halfPair(value);
    },
  });
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
