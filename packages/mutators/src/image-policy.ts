import type { TenantLabel } from './tenant.ts';

/**
 * The image policy. By default images are shared and read-only: a tenant sees and uses the engine's base images
 * (those no tenant built) and its own builds; it never sees another tenant's builds; it may delete or re-tag only
 * images it built, and may not move a tag onto a name another tenant's or a shared image holds.
 */
export interface ImagePolicy {
  /** Let tenants see images other tenants built (default `false`). */
  readonly showOtherTenants?: boolean;
  /** Let tenants delete, re-tag and push shared images (default `false`). */
  readonly allowChangingShared?: boolean;
}

/**
 * Whether a tenant may see an image.
 *
 * @param labels - the image's labels
 * @param label - the tenant label
 * @param policy - the image policy
 * @returns the verdict
 * @example
 * ```ts
 * imageVisible({}, { key: 'dockhand.tenant', value: 'alice' }, {}); // true: a shared base image
 * ```
 */
export function imageVisible(
  labels: Record<string, string> | null | undefined,
  label: TenantLabel,
  policy: ImagePolicy,
): boolean {
  const owner = labels?.[label.key];
  return owner === undefined || owner === label.value || policy.showOtherTenants === true;
}
