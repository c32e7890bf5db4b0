import { minimatch } from 'minimatch';
import { refuse } from './errors.ts';
import { normaliseReference } from './image-reference.ts';
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
  /**
   * Image names no tenant may give or pull (minimatch globs over the repository, in its short form:
   * `dockhand-workshop/*`): the names of the images the operator runs, which a tenant's build, tag, commit,
   * import or pull could otherwise take before the operator builds them (default none).
   */
  readonly reserved?: readonly string[];
}

/**
 * Whether an image name is one no tenant may give or pull ({@link ImagePolicy.reserved}).
 *
 * @param ref - the name, in any spelling (`x`, `docker.io/library/x:1`)
 * @param policy - the image policy
 * @returns the verdict
 * @example
 * ```ts
 * reservedName('docker.io/dockhand-workshop/ide:abc', { reserved: ['dockhand-workshop/*'] }); // true
 * ```
 */
export function reservedName(ref: string, policy: ImagePolicy): boolean {
  if (!policy.reserved?.length) return false;
  const { name } = normaliseReference(ref);
  const short = name.replace(/^docker\.io\//, '').replace(/^library\//, '');
  return policy.reserved.some((glob) => minimatch(short, glob) || minimatch(name, glob));
}

/**
 * What the policy reads of an image, in the shape of the engine's image list or its inspect: its labels, tags and
 * digests.
 */
export interface ImageFacts {
  readonly Labels?: Record<string, string> | null;
  readonly RepoTags?: readonly string[] | null;
  /** The registry digests it was pulled (or pushed) as. */
  readonly RepoDigests?: readonly string[] | null;
}

/**
 * Whether a tenant may see an image: its own, and the shared ones. A shared image carries no tenant's label and
 * has a name: a tag, or a registry digest it was pulled as (a base image whose tag moved on). An image with
 * neither is some build's step or stage (the classic builder labels only a build's last image, and a step after
 * `FROM scratch` has no parent either): it is any tenant's as likely as the operator's, and nobody's to see
 * (found by reviews, stop 20: another tenant's steps held its files and build args).
 *
 * @param image - the image (its labels, tags and digests)
 * @param label - the tenant label
 * @param policy - the image policy
 * @returns the verdict
 * @example
 * ```ts
 * imageVisible({ Labels: {}, RepoTags: ['busybox:latest'] }, { key: 'dockhand.tenant', value: 'alice' }, {}); // true
 * ```
 */
export function imageVisible(image: ImageFacts, label: TenantLabel, policy: ImagePolicy): boolean {
  const owner = image.Labels?.[label.key];
  if (owner === label.value || policy.showOtherTenants === true) return true;
  if (owner !== undefined) return false;
  const tagged = (image.RepoTags ?? []).some((t) => t !== '<none>:<none>');
  const pulled = (image.RepoDigests ?? []).some((d) => d !== '<none>@<none>');
  return tagged || pulled;
}

/**
 * Refuses an image name no tenant may give or pull ({@link reservedName}).
 *
 * @param ref - the name, as the client gave it (the refusal names it so)
 * @param policy - the image policy
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function refuseReserved(ref: string, policy: ImagePolicy): void {
  if (reservedName(ref, policy))
    throw refuse('DOCKHAND_IMAGE_POLICY', `the name ${ref} is reserved for the workshop's own images`);
}
