import type { Context } from '@dockhand/core';
import { refuse } from './errors.ts';

/** What a check reads of a container on the engine. */
export interface ContainerFacts {
  /** Its name, as the engine keeps it (`/db`). */
  readonly name: string;
  /** The names of the networks it is on (created containers included). */
  readonly networks: readonly string[];
  /** Its hostname (by default the first 12 digits of its id) and domain name: DNS names on user-defined networks. */
  readonly hostname: string;
  readonly domainname: string;
}

/**
 * Reads a container's name, networks and host name on the engine, for a check that the proxy has already resolved the
 * container for (a full id of the tenant's own).
 *
 * @param ctx - the request's context (its `upstream`)
 * @param id - the container's full id
 * @returns its facts
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_ENGINE_LOOKUP_FAILED` when the engine did not answer
 * @example
 * ```ts
 * const { name, networks } = await containerFacts(ctx, id); // '/db', ['alice_default']
 * ```
 */
export async function containerFacts(ctx: Context, id: string): Promise<ContainerFacts> {
  const reply = await ctx.upstream.request({ path: `/containers/${encodeURIComponent(id)}/json` });
  if (reply.status !== 200) {
    await reply.text();
    throw refuse(
      'DOCKHAND_ENGINE_LOOKUP_FAILED',
      `the Docker API proxy could not read container ${id}; try again`,
    );
  }
  const info = await reply.json<{
    Name?: string;
    Config?: { Hostname?: string; Domainname?: string } | null;
    NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
  }>();
  return {
    name: info.Name ?? '',
    networks: Object.keys(info.NetworkSettings?.Networks ?? {}),
    hostname: info.Config?.Hostname ?? '',
    domainname: info.Config?.Domainname ?? '',
  };
}
