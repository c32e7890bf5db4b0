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
 * What the policy reads of an image, in the shape of the engine's image list (`ParentId`) or its inspect
 * (`Parent`): its labels, its parent and its tags.
 */
export interface ImageFacts {
  readonly Labels?: Record<string, string> | null;
  /** The image a classic build or a commit made it from (the list's name of it). */
  readonly ParentId?: string | null;
  /** The same, as an image inspect names it. */
  readonly Parent?: string | null;
  readonly RepoTags?: readonly string[] | null;
}

/**
 * Whether a tenant may see an image: its own, and the shared ones (no tenant's label). An image with no tenant's
 * label that was made on this engine (it has a parent) and has no tag is a step, or a stage, of a classic build:
 * the builder labels only a build's last image, so such an image is any tenant's as likely as the operator's, and
 * it is nobody's to see (found by review, stop 20: another tenant's steps held its files and build args).
 *
 * @param image - the image (its labels, parent and tags)
 * @param label - the tenant label
 * @param policy - the image policy
 * @returns the verdict
 * @example
 * ```ts
 * imageVisible({ Labels: {} }, { key: 'dockhand.tenant', value: 'alice' }, {}); // true: a shared base image
 * ```
 */
export function imageVisible(image: ImageFacts, label: TenantLabel, policy: ImagePolicy): boolean {
  const owner = image.Labels?.[label.key];
  if (owner === label.value || policy.showOtherTenants === true) return true;
  if (owner !== undefined) return false;
  const parent = image.ParentId || image.Parent || '';
  const tagged = (image.RepoTags ?? []).some((t) => t !== '<none>:<none>');
  return parent === '' || tagged;
}
