import { refuse } from './errors.ts';

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
  let filters: Record<string, unknown> = {};
  if (raw !== null && raw !== '') {
    try {
      filters = JSON.parse(raw);
    } catch {
      throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
    }
    if (filters === null || typeof filters !== 'object' || Array.isArray(filters)) {
      throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
    }
  }
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
  return JSON.stringify(filters);
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
