import { visit } from 'jsonc-parser';
import { coreError } from './errors.ts';

/**
 * The first key that one object of a JSON text names twice, compared as decoded (`"a"` and `"\u0061"` are one
 * key), if there is one.
 *
 * `JSON.parse` keeps the last of two equal keys and shows no trace of the first, so a check of the parsed value
 * cannot see them. The engine's Go decoder applies every one in order, into what the earlier ones left: a `null`
 * after `true` leaves a bool `true`, and a second object for a struct field fills in the first one's fields.
 * So `{"Privileged": true, "Privileged": null}` reads as `null` here and as `true` to the engine.
 *
 * @param text - valid JSON (as `JSON.parse` accepts it)
 * @returns the repeated key, or `undefined`
 * @example
 * ```ts
 * repeatedJsonKey('{"a": 1, "b": {"a": 2}}'); // undefined
 * repeatedJsonKey('{"a": true, "\\u0061": null}'); // 'a'
 * ```
 */
export function repeatedJsonKey(text: string): string | undefined {
  const open: Set<string>[] = [];
  let found: string | undefined;
  visit(text, {
    onObjectBegin: () => {
      open.push(new Set());
    },
    onObjectProperty: (key) => {
      const keys = open.at(-1)!;
      if (keys.has(key)) found ??= key;
      else keys.add(key);
    },
    onObjectEnd: () => {
      open.pop();
    },
  });
  return found;
}

/**
 * Refuses a JSON text in which one object names a key twice ({@link repeatedJsonKey}): the proxy and the engine
 * would read it two ways. No Docker client sends one.
 *
 * @param text - valid JSON
 * @param what - what the text is, for the message (`the request body`, `the filters parameter`)
 * @throws {@link DockhandError} `DOCKHAND_AMBIGUOUS_JSON` (400)
 * @example
 * ```ts
 * assertUnrepeatedKeys('{"Privileged": true, "Privileged": null}', 'the request body'); // throws
 * ```
 */
export function assertUnrepeatedKeys(text: string, what: string): void {
  const key = repeatedJsonKey(text);
  if (key !== undefined)
    throw coreError(
      'DOCKHAND_AMBIGUOUS_JSON',
      `${what} names ${JSON.stringify(key)} twice in one object: the engine reads every one, so it cannot be checked here`,
    );
}
