import { assertUnambiguousJson } from '@dockhand/core';
import { refuse } from './errors.ts';

/**
 * Reads an Engine API `filters` query value as the daemon does: a JSON map (of lists, or the legacy maps of
 * `value: true`), whose keys are each named once.
 *
 * @param raw - the `filters` value, or `null`
 * @returns the map, or `undefined` when there are no filters (`null` or empty)
 * @throws {@link @dockhand/core!DockhandError} 400 `DOCKHAND_BAD_FILTERS` when it is no JSON map, or
 *   `DOCKHAND_AMBIGUOUS_JSON` when it names a key twice
 * @example
 * ```ts
 * readFilters('{"label":["a=b"]}'); // { label: ['a=b'] }
 * ```
 * @internal
 */
export function readFilters(raw: string | null): Record<string, unknown> | undefined {
  if (raw === null || raw === '') return undefined;
  let filters: unknown;
  try {
    filters = JSON.parse(raw);
  } catch {
    throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
  }
  assertUnambiguousJson(raw, 'the filters parameter');
  if (filters === null || typeof filters !== 'object' || Array.isArray(filters))
    throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
  return filters as Record<string, unknown>;
}

/**
 * The filters as the daemon's `filters.Args` holds them: each filter's values, each with its flag. Read as its
 * `FromJSON` reads them: a map of maps of booleans (a `null` one is `false`); failing that, the legacy map of lists
 * of strings, every value `true`; failing both (the two forms mixed, a number), refused (found by review, stop 26:
 * `{"event":{"start":false}}` passed every event, where the daemon passes none).
 *
 * @param raw - the `filters` value, or `null`
 * @returns each filter's values with their flags
 * @throws {@link @dockhand/core!DockhandError} 400 `DOCKHAND_BAD_FILTERS` for filters the daemon cannot read
 * @example
 * ```ts
 * parseFilterArgs('{"label":["a=b"]}'); // Map { 'label' => Map { 'a=b' => true } }
 * ```
 * @internal
 */
export function parseFilterArgs(raw: string | null): Map<string, Map<string, boolean>> {
  const entries = Object.entries(readFilters(raw) ?? {});
  const isFlagMap = (v: unknown) =>
    v === null ||
    (typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.values(v).every((on) => on === null || typeof on === 'boolean'));
  const isStringList = (v: unknown) =>
    v === null || (Array.isArray(v) && v.every((x) => x === null || typeof x === 'string'));
  if (entries.every(([, v]) => isFlagMap(v)))
    return new Map(
      entries.map(([k, v]) => [k, new Map(Object.entries(v ?? {}).map(([x, on]) => [x, on === true]))]),
    );
  if (entries.every(([, v]) => isStringList(v)))
    return new Map(
      entries.map(([k, v]) => [
        k,
        new Map(((v as (string | null)[] | null) ?? []).map((x) => [x ?? '', true])),
      ]),
    );
  throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
}

/**
 * Adds `label=<key>=<value>` to an Engine API `filters` query value, keeping the client's own filters. Both
 * forms the daemon accepts are handled: the map form `{"label":["a=b"]}` and the legacy form
 * `{"label":{"a=b":true}}`. Label filters are ANDed by the daemon, so a client filter can only narrow the list.
 *
 * @param raw - the client's `filters` value, or `null`
 * @param label - `key=value` to require
 * @returns the merged JSON to forward
 * @throws {@link @dockhand/core!DockhandError} 400 when the client's filters are not valid JSON
 * @example
 * ```ts
 * mergeLabelFilter('{"status":["running"]}', 'dockhand.tenant=alice');
 * // '{"status":["running"],"label":["dockhand.tenant=alice"]}'
 * ```
 */
export function mergeLabelFilter(raw: string | null, label: string): string {
  const filters = readFilters(raw) ?? {};
  addLabel(filters, label, raw);
  return JSON.stringify(filters);
}

/** Adds `label` to filters read from `raw` ({@link mergeLabelFilter}), in their form; `raw` is for the error. */
function addLabel(filters: Record<string, unknown>, label: string, raw: string | null): void {
  const current = filters.label;
  if (current === undefined) {
    // the daemon accepts one form per request: follow the form of the client's other filters
    const legacy = Object.values(filters).some(
      (x) => x !== null && typeof x === 'object' && !Array.isArray(x),
    );
    filters.label = legacy ? { [label]: true } : [label];
  } else if (Array.isArray(current)) filters.label = [...current, label];
  else if (current !== null && typeof current === 'object') filters.label = { ...current, [label]: true };
  else throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
}

/**
 * Sets the one `filters` parameter the daemon will read (it reads the first), removing any others.
 *
 * @param query - the request's query
 * @param label - `key=value` to require
 * @example
 * ```ts
 * injectLabelFilter(ctx.request.query, 'dockhand.tenant=alice');
 * ```
 */
export function injectLabelFilter(query: URLSearchParams, label: string): void {
  const merged = mergeLabelFilter(query.get('filters'), label);
  query.set('filters', merged);
}

/**
 * Rewrites the values of some filters of an Engine API `filters` query value, in either form (`{"before":["x"]}`
 * or `{"before":{"x":true}}`): each value of a filter named in `resolvers` goes through that filter's resolver,
 * which may throw. Used for the filters whose value names an object the daemon looks up (`before`, `since`,
 * `ancestor`): the proxy resolves it among the tenant's objects and forwards the full id, since the daemon's
 * answer (404, or a list, or its time) told a tenant which of another tenant's names and ids existed (found by
 * review, stops 20 and 24). The value is parsed once, however many filters are rewritten.
 *
 * @param raw - the `filters` value, or `null`
 * @param resolvers - for each filter to rewrite, what gives the value to forward for one of its values
 * @returns the JSON to forward, or `raw` when none of the filters is there
 * @throws {@link @dockhand/core!DockhandError} 400 when the filters are not valid JSON, or what a resolver throws
 * @example
 * ```ts
 * const container = (ref: string) => own.container(ref);
 * await rewriteFilterRefs('{"before":["web"]}', { before: container, since: container });
 * // '{"before":["<web's full id>"]}'
 * ```
 */
export async function rewriteFilterRefs(
  raw: string | null,
  resolvers: Readonly<Record<string, (value: string) => Promise<string>>>,
): Promise<string | null> {
  const map = readFilters(raw);
  if (map === undefined) return raw;
  return (await rewriteRefs(map, resolvers, raw)) ? JSON.stringify(map) : raw;
}

/**
 * The `filters` to forward for a list the engine filters by the tenant's label: the client's filters with `label`
 * added ({@link mergeLabelFilter}), then the values of the filters named in `resolvers` rewritten
 * ({@link rewriteFilterRefs}). The client's value is read once, and the value written here is not read again
 * (it is `JSON.stringify`'s, so it names no key twice); with no filters of the client's nothing is parsed.
 *
 * @param raw - the client's `filters` value, or `null`
 * @param label - `key=value` to require
 * @param resolvers - for each filter to rewrite, what gives the value to forward for one of its values
 * @returns the JSON to forward
 * @throws {@link @dockhand/core!DockhandError} 400 when the client's filters are not valid JSON, or what a resolver
 *   throws
 * @example
 * ```ts
 * await scopeFilters('{"since":["web"]}', 'dockhand.tenant=alice', { since: container });
 * // '{"since":["<web's full id>"],"label":["dockhand.tenant=alice"]}'
 * ```
 * @internal
 */
export async function scopeFilters(
  raw: string | null,
  label: string,
  resolvers: Readonly<Record<string, (value: string) => Promise<string>>>,
): Promise<string> {
  const filters = readFilters(raw) ?? {};
  addLabel(filters, label, raw);
  await rewriteRefs(filters, resolvers, raw);
  return JSON.stringify(filters);
}

/**
 * Rewrites, in place, the values of the filters named in `resolvers` ({@link rewriteFilterRefs}).
 *
 * @returns whether any of them was there
 */
async function rewriteRefs(
  map: Record<string, unknown>,
  resolvers: Readonly<Record<string, (value: string) => Promise<string>>>,
  raw: string | null,
): Promise<boolean> {
  const keys = Object.keys(resolvers).filter((k) => Object.hasOwn(map, k));
  for (const key of keys) {
    const resolve = resolvers[key]!;
    const values = map[key];
    if (Array.isArray(values)) map[key] = await Promise.all(values.map((v) => resolve(String(v))));
    else if (values !== null && typeof values === 'object') {
      const out: Record<string, unknown> = {};
      for (const [v, on] of Object.entries(values)) out[await resolve(v)] = on;
      map[key] = out;
    } else throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
  }
  return keys.length > 0;
}

/**
 * The daemon's `MatchKVList` (a `label` filter): every wanted `key` or `key=value` is among the labels. None wanted:
 * everything passes; wanted, and no labels at all: nothing does.
 *
 * @param labels - an object's labels (or an event's attributes)
 * @param wanted - the filter's values
 * @returns whether they match
 * @example
 * ```ts
 * matchKVList({ tier: 'front', app: 'web' }, ['tier=front', 'app']); // true
 * ```
 * @internal
 */
export function matchKVList(
  labels: Record<string, string> | null | undefined,
  wanted: readonly string[],
): boolean {
  if (wanted.length === 0) return true;
  if (!labels || Object.keys(labels).length === 0) return false;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    const key = eq === -1 ? w : w.slice(0, eq);
    return Object.hasOwn(labels, key) && (eq === -1 || labels[key] === w.slice(eq + 1));
  });
}
