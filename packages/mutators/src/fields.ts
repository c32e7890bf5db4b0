import { refuse } from './errors.ts';

/** A JSON object as the Engine API sends it. */
export type JsonObject = Record<string, unknown>;

/** Keys whose value is a map (user keys), not a struct: their keys are case-sensitive in Go. */
const MAP_KEYS = new Set(
  [
    'Labels',
    'Volumes',
    'ExposedPorts',
    'PortBindings',
    'EndpointsConfig',
    'Options',
    'DriverOpts',
    'StorageOpt',
    'Sysctls',
    'Tmpfs',
    'Config',
    'Annotations',
    'DriverOptions',
  ].map((k) => k.toLowerCase()),
);

/**
 * A struct field name folded the way Go's `encoding/json` matches it: case-insensitively, with Unicode simple
 * folding, so that `ſ` (U+017F) matches `s` and `K` (U+212A) matches `k`.
 *
 * @param key - a JSON object key
 * @returns the folded key
 * @example
 * ```ts
 * foldKey('Ho\u017ftConfig') === foldKey('HostConfig'); // true
 * ```
 */
export function foldKey(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

/**
 * The first two keys of an object that Go's decoder takes for one field ({@link foldKey}), if there are any: the
 * decoder lets the last one win, so a reader that takes another would read the object otherwise.
 *
 * @param object - a parsed JSON object
 * @returns the earlier key and the later one, or `undefined`
 * @example
 * ```ts
 * repeatedKey({ Config: {}, config: {} }); // ['Config', 'config']
 * ```
 */
export function repeatedKey(object: JsonObject): [string, string] | undefined {
  const seen = new Map<string, string>();
  for (const key of Object.keys(object)) {
    const folded = foldKey(key);
    const prev = seen.get(folded);
    if (prev !== undefined) return [prev, key];
    seen.set(folded, key);
  }
  return undefined;
}

/**
 * Refuses a body whose objects hold two keys that differ only in case. The daemon's Go decoder matches struct
 * fields case-insensitively and lets the last one win, so `{"Privileged":false,"privileged":true}` would be read
 * two ways. Keys are compared as Go folds them ({@link foldKey}). Map-valued fields (`Labels`, ...) are exempt: their keys are case-sensitive.
 *
 * @param value - the parsed body
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_AMBIGUOUS_BODY`
 * @example
 * ```ts
 * assertUnambiguous({ HostConfig: { Privileged: false, privileged: true } }); // throws
 * ```
 */
export function assertUnambiguous(value: unknown, path = ''): void {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) assertUnambiguous(v, `${path.replace(/\.$/, '')}[${i}].`);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const twice = repeatedKey(value as JsonObject);
  if (twice !== undefined) {
    throw refuse(
      'DOCKHAND_AMBIGUOUS_BODY',
      `the request body sets ${path}${twice[0]} twice (as '${twice[0]}' and '${twice[1]}')`,
    );
  }
  for (const [key, v] of Object.entries(value)) {
    if (MAP_KEYS.has(foldKey(key)) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, inner] of Object.entries(v)) assertUnambiguous(inner, `${path}${key}.${k}.`);
    } else {
      assertUnambiguous(v, `${path}${key}.`);
    }
  }
}

/**
 * Reads a struct field the way the daemon does: case-insensitively, as Go folds ({@link foldKey}).
 *
 * @param obj - the object (anything; non-objects give `undefined`)
 * @param name - the canonical field name
 * @returns the value
 * @example
 * ```ts
 * field({ privileged: true }, 'Privileged'); // true
 * ```
 */
export function field(obj: unknown, name: string): unknown {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const o = obj as JsonObject;
  if (Object.hasOwn(o, name)) return o[name];
  const lower = foldKey(name);
  let found: unknown;
  for (const key of Object.keys(o)) if (foldKey(key) === lower) found = o[key];
  return found;
}

/**
 * Writes a struct field under its canonical name, removing any other spelling of it.
 *
 * @param obj - the object to change
 * @param name - the canonical field name
 * @param value - the value; `undefined` removes the field
 * @example
 * ```ts
 * const hc = { privileged: true };
 * setField(hc, 'Privileged', false); // hc is { Privileged: false }
 * ```
 */
export function setField(obj: JsonObject, name: string, value: unknown): void {
  const lower = foldKey(name);
  for (const key of Object.keys(obj)) if (foldKey(key) === lower) delete obj[key];
  if (value !== undefined) obj[name] = value;
}

/**
 * Reads (creating if missing) a nested struct such as `HostConfig`.
 *
 * @param obj - the parent
 * @param name - the canonical field name
 * @returns the child object, now stored under its canonical name
 * @example
 * ```ts
 * const hc = child(body, 'HostConfig');
 * ```
 */
export function child(obj: JsonObject, name: string): JsonObject {
  const v = field(obj, name);
  const o = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {};
  setField(obj, name, o);
  return o;
}

/**
 * Whether a value is a non-null, non-array object.
 *
 * @param v - anything
 * @returns the verdict
 * @example
 * ```ts
 * isObject({}); // true
 * ```
 */
export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Reads a request body that a check depends on: JSON, unambiguous, an object (or empty).
 *
 * @param read - the lazy body reader (`ctx.request.json`)
 * @returns the object (`{}` for an empty body)
 * @throws {@link @dockhand/core!DockhandError} for a non-object or ambiguous body
 * @example
 * ```ts
 * const body = await checkedBody(() => ctx.request.json());
 * ```
 */
export async function checkedBody(read: () => Promise<unknown>): Promise<JsonObject> {
  const body = await read();
  if (body === undefined) return {};
  if (!isObject(body)) throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'the request body must be a JSON object');
  assertUnambiguous(body);
  return body;
}
