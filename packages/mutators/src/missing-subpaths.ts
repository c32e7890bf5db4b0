import { posix } from 'node:path';
import type { Context } from '@dockhand/core';
import { tarDirectoryEntry } from './tar-entry.ts';

/** Where the helper container mounts the volume. */
const ROOT = '/dockhand-volume';

/** A directory a bind asks for, in a volume: what {@link makeMissingSubpaths} makes where it is missing. */
export interface Subpath {
  readonly volume: string;
  /** Relative to the volume's root, no `..` (checked by the caller). */
  readonly subpath: string;
}

/**
 * Makes the directories that binds remapped to volume subpaths name and that do not exist yet, as the engine makes
 * a missing bind source (root's, mode 0755): a subpath must exist, and `docker run -v ./data:/data`, or a compose
 * file's `./data:/var/lib/postgresql/data`, failed at start through the proxy where it works on the engine (found by
 * review, stop 23).
 *
 * The directories are made through the engine, in a container that is never started: made of the create's own
 * image (which must exist for the create to succeed), with the volume mounted and no network, labelled as the
 * tenant's so that its sweep would find one left behind. The engine resolves every path of its archive routes in
 * that container's root, so a symlink the tenant put in the volume leads into the container's own files, never the
 * host's; what such a symlink does to the create itself is the engine's subpath check, as before.
 *
 * @param ctx - the create's context
 * @param image - the create's image (already known to exist)
 * @param wanted - the subpaths the create's binds name
 * @param labels - the tenant's labels, for the helper container
 * @returns when each exists (or could not be made: the create then fails at start, as it did)
 * @example
 * ```ts
 * await makeMissingSubpaths(ctx, 'busybox', [{ volume: 'alice_project', subpath: 'data' }], { 'dockhand.tenant': 'alice' });
 * ```
 */
export async function makeMissingSubpaths(
  ctx: Context,
  image: string,
  wanted: readonly Subpath[],
  labels: Record<string, string>,
): Promise<void> {
  for (const volume of new Set(wanted.map((w) => w.volume))) {
    const subpaths = wanted.filter((w) => w.volume === volume).map((w) => w.subpath);
    const exists = async (id: string, path: string) => {
      const stat = await ctx.upstream.request({
        method: 'HEAD',
        path: `/containers/${id}/archive`,
        query: { path: posix.join(ROOT, path) },
      });
      await stat.text();
      return stat.status === 200;
    };
    const created = await ctx.upstream.request({
      method: 'POST',
      path: '/containers/create',
      body: {
        Image: image,
        Entrypoint: ['/dockhand-never-started'],
        Cmd: [],
        Labels: { ...labels, 'dockhand.helper': 'subpaths' },
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          Mounts: [{ Type: 'volume', Source: volume, Target: ROOT, VolumeOptions: { NoCopy: true } }],
        },
      },
    });
    if (created.status !== 201) {
      await created.text();
      ctx.log.warn({ status: created.status, image }, 'could not make missing bind directories');
      continue;
    }
    const { Id: id } = await created.json<{ Id: string }>();
    try {
      for (const subpath of subpaths) {
        if (await exists(id, subpath)) continue;
        // the deepest directory that exists, and the rest as tar entries under it
        const parts = subpath.split('/').filter(Boolean);
        let have = 0;
        while (have < parts.length - 1 && (await exists(id, parts.slice(0, have + 1).join('/')))) have++;
        const entries = parts
          .slice(have)
          .map((_, i) => tarDirectoryEntry(parts.slice(have, have + i + 1).join('/')));
        const put = await ctx.upstream.request({
          method: 'PUT',
          path: `/containers/${id}/archive`,
          query: { path: posix.join(ROOT, ...parts.slice(0, have)), noOverwriteDirNonDir: 'true' },
          tar: Buffer.concat([...entries, Buffer.alloc(1024)]),
        });
        const answer = await put.text();
        if (put.status !== 200)
          ctx.log.warn({ status: put.status, answer }, 'could not make a bind directory');
      }
    } finally {
      await (
        await ctx.upstream.request({ method: 'DELETE', path: `/containers/${id}`, query: { force: '1' } })
      ).text();
    }
  }
}
