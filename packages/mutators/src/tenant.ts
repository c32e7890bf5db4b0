/** The label that marks a tenant's objects: `key=value`, e.g. `dockhand.tenant=alice`. */
export interface TenantLabel {
  /** The label key, e.g. `dockhand.tenant`. */
  readonly key: string;
  /** The tenant's value, e.g. `alice`. */
  readonly value: string;
}

/** A tenant label written as `key=value`: a key without `=` and a value of at least one character. */
export const LABEL_SPEC: RegExp = /^[^=]+=[\s\S]/;

/**
 * Parses `key=value` into a {@link TenantLabel}.
 *
 * @param spec - `key=value`, or a label object
 * @returns the label
 * @throws TypeError when there is no `=` or a side is empty
 * @example
 * ```ts
 * parseLabel('dockhand.tenant=alice'); // { key: 'dockhand.tenant', value: 'alice' }
 * ```
 */
export function parseLabel(spec: string | TenantLabel): TenantLabel {
  if (typeof spec !== 'string') return spec;
  if (!LABEL_SPEC.test(spec)) throw new TypeError(`a tenant label is key=value, got '${spec}'`);
  const eq = spec.indexOf('=');
  return { key: spec.slice(0, eq), value: spec.slice(eq + 1) };
}

/**
 * Whether a labels map carries the tenant's label.
 *
 * @param labels - an object's labels (may be null)
 * @param label - the tenant label
 * @returns the verdict
 * @example
 * ```ts
 * carries({ 'dockhand.tenant': 'alice' }, parseLabel('dockhand.tenant=alice')); // true
 * ```
 */
export function carries(labels: Record<string, string> | null | undefined, label: TenantLabel): boolean {
  return labels?.[label.key] === label.value;
}
