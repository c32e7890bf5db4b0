import type { Upstream } from '@dockhand/core';
import { refuse } from './errors.ts';

/**
 * Lists objects on the engine for a check of the proxy's own (the tenant's containers, the images it may see, the
 * objects `/system/df` counts): the engine's JSON array, or a refusal when the engine did not answer with one. A
 * check never falls back on the engine's own reading of what the tenant sent, which could find another tenant's
 * object.
 *
 * @param upstream - the engine
 * @param path - the list's path (`/containers/json`, `/images/json`, `/networks`, `/volumes`)
 * @param query - its query (`all`, `filters`)
 * @returns the engine's answer, read as JSON
 * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED` when the engine answered
 *   anything but 200 (or could not be reached)
 * @example
 * ```ts
 * const mine = await engineList<{ Id: string }[]>(ctx.upstream, '/containers/json', {
 *   all: '1',
 *   filters: JSON.stringify({ label: ['dockhand.tenant=alice'] }),
 * });
 * ```
 */
export async function engineList<T>(
  upstream: Upstream,
  path: string,
  query?: Record<string, string>,
): Promise<T> {
  const reply = await upstream.request(query ? { path, query } : { path });
  if (reply.status !== 200) {
    // read, so that the connection is free again
    await reply.text();
    throw refuse('DOCKHAND_ENGINE_LOOKUP_FAILED', `the engine could not list ${path} (${reply.status})`);
  }
  return reply.json<T>();
}
