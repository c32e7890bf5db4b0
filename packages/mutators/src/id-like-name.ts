import { refuse } from './errors.ts';
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
