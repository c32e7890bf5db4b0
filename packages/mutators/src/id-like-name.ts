import { refuse } from './errors.ts';
import { normaliseReference } from './image-reference.ts';
import { FULL_ID } from './ownership.ts';

/**
 * Refuses a container or network name that is a full-length id. The engine takes any such name (its rule is only
 * `[a-zA-Z0-9][a-zA-Z0-9_.-]+`) and reads `/containers/<64 hex>/...` as that id first and as a name only when no
 * object has the id: once the object of that id is gone, requests for it reach whatever carries it as a name. The
 * proxy decides by id before the engine does (its ownership cache, until the engine's event of the removal
 * arrives; what it learned of a container's mounts), so such a name let a tenant's request be checked as one
 * container and served as another (found by review, stop 23: a container removed by the engine with `--rm`, and
 * another named with its id, gave the engine's raw volume-subpath errors). No one names a container so.
 *
 * @param kind - `container` or `network`, for the message
 * @param name - the name asked for, as the query or body gives it (a leading `/` is the engine's, dropped)
 * @throws DockhandError `DOCKHAND_AMBIGUOUS_NAME` (400) when the name is a full-length id
 * @example
 * ```ts
 * refuseIdLikeName('container', ctx.request.query.get('name') ?? '');
 * ```
 */
export function refuseIdLikeName(kind: 'container' | 'network', name: unknown): void {
  if (typeof name !== 'string') return;
  const bare = name.replace(/^\//, '');
  if (FULL_ID.test(bare))
    throw refuse(
      'DOCKHAND_AMBIGUOUS_NAME',
      `Invalid ${kind} name (${bare}): a full-length ${kind} ID cannot be a name here, since the engine would read it as an ID`,
    );
}

/** The length of the short id the docker CLI prints, and that people copy. */
const SHORT_ID = 12;

/**
 * Refuses an image name whose repository is a short or full id: 12 to 64 hex digits with no registry and no
 * path (`9df71c3ff568`, `docker.io/library/9df71c3ff568:v1`). The engine reads a reference as a name before it
 * reads it as an id prefix, so a tenant's `docker tag <own> 9df71c3ff568` made `docker run 9df71c3ff568` run the
 * tenant's image for every client of the engine that does not go through a tenant proxy (found by review, stop
 * 24: the operator's own `docker run <short id>` ran it). The engine itself refuses only 64 digits. Shorter names
 * of hex digits (`cafe`, `e2e`) are names people give; what a tenant's proxy reads by a hex reference is among
 * the images the tenant sees anyway (`scopeImageReads`).
 *
 * @param ref - a name to be given or pulled, as the client sent it
 * @throws DockhandError `DOCKHAND_AMBIGUOUS_NAME` (400)
 * @example
 * ```ts
 * refuseIdLikeImageName('9df71c3ff568'); // throws
 * refuseIdLikeImageName('cafe:1'); // passes
 * ```
 */
export function refuseIdLikeImageName(ref: string): void {
  const { name } = normaliseReference(ref);
  const repository = name.startsWith('docker.io/library/') ? name.slice('docker.io/library/'.length) : '';
  if (repository.length >= SHORT_ID && /^[0-9a-f]+$/.test(repository))
    throw refuse(
      'DOCKHAND_AMBIGUOUS_NAME',
      `invalid reference format: repository name (${repository}) cannot be an image ID here, since the engine would read an ID as that name`,
    );
}
