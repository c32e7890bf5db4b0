import { refuse } from './errors.ts';
import { matchKVList, readFilters } from './filters.ts';
import { BadPatternError, pathMatch } from './path-match.ts';

/** The filters of an image list that pick images by what the client names: evaluated by the proxy. */
const PICKING = ['label', 'reference'] as const;

/** The picking filters of an image list, as the client gave them (`undefined`: not given). */
export interface PickingImageFilters {
  /** `label` values: `key` or `key=value`, all of which an image must carry. */
  readonly label?: readonly string[];
  /** `reference` patterns (Go's `path.Match`), any of which one of an image's names must match. */
  readonly reference?: readonly string[];
}

/** One image of the engine's list, the fields the filters read and change. */
export interface ListedImage {
  Labels?: Record<string, string> | null;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
}

/**
 * Takes the filters that pick images by label or name out of an image list's `filters`, for the proxy to evaluate
 * over the images the tenant sees: the engine evaluated them over every image, and its answer (an empty list in
 * other bytes, then its time) told which of other tenants' names and labels existed, a hidden name walked by glob
 * in 39 queries (found by review, stop 25). The other filters (`dangling`, `before`, `since`, `until`) go on to the
 * engine, which checks them as it does.
 *
 * @param raw - the `filters` value (checked already: JSON, unambiguous, a map)
 * @param legacy - a legacy `filter` parameter the daemon reads as one more `reference` (before API 1.41), or `null`
 * @returns the `filters` to forward (`null`: none) and the picking filters taken out
 * @example
 * ```ts
 * splitImageFilters('{"reference":["app*"],"dangling":["false"]}');
 * // { forward: '{"dangling":["false"]}', picking: { reference: ['app*'] } }
 * ```
 */
export function splitImageFilters(
  raw: string | null,
  legacy: string | null = null,
): { forward: string | null; picking: PickingImageFilters } {
  const map = readFilters(raw) ?? {};
  const picking: { label?: string[]; reference?: string[] } = {};
  for (const key of PICKING) {
    if (!Object.hasOwn(map, key)) continue;
    picking[key] = filterValues(map[key], raw ?? '');
    delete map[key];
  }
  if (legacy) picking.reference = [...(picking.reference ?? []), legacy];
  if (Object.keys(picking).length === 0) return { forward: raw, picking };
  return { forward: Object.keys(map).length === 0 ? null : JSON.stringify(map), picking };
}

/**
 * Applies the picking filters to the images the tenant sees, as the daemon applies them: `label` keeps the images
 * carrying every one (`key`, or `key=value`); `reference` keeps an image when one of its names, read in its familiar
 * form (`busybox:latest`) or as a repository (`busybox`), matches one of the patterns, and lists only the names
 * that match.
 *
 * @param images - the images, as the engine listed them
 * @param picking - the filters
 * @returns the images kept, names narrowed where `reference` was given
 * @throws {@link @dockhand/core!DockhandError} 400 `DOCKHAND_BAD_FILTERS` for a malformed pattern (the daemon's
 *   `syntax error in pattern`)
 * @example
 * ```ts
 * pickImages([{ RepoTags: ['app:1', 'web:1'], RepoDigests: [] }], { reference: ['app'] });
 * // [{ RepoTags: ['app:1'], RepoDigests: [] }]
 * ```
 */
export function pickImages<T extends ListedImage>(images: readonly T[], picking: PickingImageFilters): T[] {
  const out: T[] = [];
  for (const img of images) {
    if (picking.label && !matchKVList(img.Labels, picking.label)) continue;
    if (picking.reference) {
      const tags = (img.RepoTags ?? []).filter(
        (t) => t !== '<none>:<none>' && matchesAny(t, picking.reference!),
      );
      const digests = (img.RepoDigests ?? []).filter(
        (d) => d !== '<none>@<none>' && matchesAny(d, picking.reference!),
      );
      if (tags.length === 0 && digests.length === 0) continue;
      // an empty list as the engine writes one: `null` before API 1.4x (Engine 20.10), `[]` since
      out.push({
        ...img,
        RepoTags: tags.length === 0 && img.RepoTags === null ? null : tags,
        RepoDigests: digests.length === 0 && img.RepoDigests === null ? null : digests,
      });
      continue;
    }
    out.push(img);
  }
  return out;
}

/** The values of one filter, in either form (`["a"]`, or `{"a":true}`, whose keys count whatever their value). */
function filterValues(values: unknown, raw: string): string[] {
  if (Array.isArray(values)) return values.map((v) => String(v));
  if (values !== null && typeof values === 'object') return Object.keys(values);
  throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${raw}'`);
}

/** The daemon's `FamiliarMatch` for any of the patterns: the familiar name as listed, then its repository. */
function matchesAny(ref: string, patterns: readonly string[]): boolean {
  const repository = repositoryOfListed(ref);
  return patterns.some((pattern) => {
    try {
      return pathMatch(pattern, ref) || pathMatch(pattern, repository);
    } catch (err) {
      if (err instanceof BadPatternError) throw refuse('DOCKHAND_BAD_FILTERS', err.message);
      throw err;
    }
  });
}

/** The repository of a listed name: `app` of `app:1`, `host:5000/app` of `host:5000/app:1`, `app` of `app@sha256:…`. */
function repositoryOfListed(ref: string): string {
  const at = ref.indexOf('@');
  if (at !== -1) return ref.slice(0, at);
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
}
