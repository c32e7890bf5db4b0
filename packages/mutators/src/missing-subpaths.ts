import { posix } from 'node:path';
import type { Context } from '@dockhand/core';
import { tarDirectoryEntry } from './tar-entry.ts';

/**
 * The label on a helper container, whose value names the tenant it works for: it carries no tenant label, and a
 * tenant's build cannot set this one (`stampLabels`), so that a sweep of the tenant's helpers meets only the proxy's.
 */
export const HELPER_LABEL = 'dockhand.helper';

/** Where the helper container mounts the volume. */
const ROOT = '/dockhand-volume';
/** At most this many missing directories are made for one create; the rest fail at start, as they did. */
const MAX_SUBPATHS = 16;
/** At most this many components of a subpath are walked (each is one request to the engine). */
const MAX_DEPTH = 16;

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
 * The directories are made through the engine, in a container that is never started, of the operator's `image`
 * (never the tenant's: review 23e read another tenant's image through a helper made of the create's own, before
 * any check of whose it was), with the volume mounted, no network and a private cgroup namespace. It carries no
 * tenant label, only `dockhand.helper`, so no tenant sees or reaches it, and it is removed with its anonymous
 * volumes. The engine resolves every path of its archive routes in that container's root, so a symlink the tenant
 * put in the volume leads into the helper image's files, never the host's. At most {@link MAX_SUBPATHS}
 * directories of at most {@link MAX_DEPTH} components are made per create, each found with one request per
 * component (review 23e: 200 deep binds kept the engine busy for 30 s).
 *
 * @param ctx - the create's context
 * @param image - the helper image, the operator's (e.g. the proxy's own)
 * @param wanted - the subpaths the create's binds name
 * @param tenant - the tenant's name, for the helper's label (to find one left behind)
 * @returns the subpaths that exist now (found or made); any other could not be made, and the create fails at start,
 *   as it did
 * @example
 * ```ts
 * await makeMissingSubpaths(ctx, 'dockhand-workshop/dockhand:4f0c1e2a9b3d', [{ volume: 'alice_project', subpath: 'data' }], 'alice');
 * ```
 */
export async function makeMissingSubpaths(
  ctx: Context,
  image: string,
  wanted: readonly Subpath[],
  tenant: string,
): Promise<Subpath[]> {
  const there: Subpath[] = [];
  const unique = [...new Map(wanted.map((w) => [`${w.volume}\0${w.subpath}`, w])).values()]
    .filter((w) => w.subpath.split('/').filter(Boolean).length <= MAX_DEPTH)
    .slice(0, MAX_SUBPATHS);
  for (const volume of new Set(unique.map((w) => w.volume))) {
    const created = await ctx.upstream.request({
      method: 'POST',
      path: '/containers/create',
      body: {
        Image: image,
        Entrypoint: ['/dockhand-helper-never-started'],
        Cmd: [],
        Labels: { [HELPER_LABEL]: tenant },
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          CgroupnsMode: 'private',
          Mounts: [{ Type: 'volume', Source: volume, Target: ROOT, VolumeOptions: { NoCopy: true } }],
        },
      },
    });
    if (created.status !== 201) {
      ctx.log.warn(
        { status: created.status, image, answer: await created.text() },
        'no helper for bind directories',
      );
      continue;
    }
    const { Id: id } = await created.json<{ Id: string }>();
    const exists = async (path: string): Promise<boolean> => {
      const stat = await ctx.upstream.request({
        method: 'HEAD',
        path: `/containers/${id}/archive`,
        query: { path: posix.join(ROOT, path) },
      });
      await stat.text();
      return stat.status === 200;
    };
    try {
      for (const want of unique.filter((w) => w.volume === volume)) {
        const { subpath } = want;
        const names = subpath.split('/').filter(Boolean);
        // the tar's names are bytes: the subpath's UTF-8
        const parts = names.map((p) => Buffer.from(p, 'utf8').toString('latin1'));
        if (parts.length === 0 || (await exists(subpath))) {
          there.push(want);
          continue;
        }
        // the deepest directory that exists (not touched: an entry for it would make it root's), and the rest
        let have = 0;
        while (have < parts.length - 1 && (await exists(names.slice(0, have + 1).join('/')))) have++;
        const entries = parts
          .slice(have)
          .map((_, i) => tarDirectoryEntry(parts.slice(have, have + i + 1).join('/')));
        const put = await ctx.upstream.request({
          method: 'PUT',
          path: `/containers/${id}/archive`,
          query: { path: posix.join(ROOT, ...names.slice(0, have)), noOverwriteDirNonDir: 'true' },
          tar: Buffer.concat([...entries, Buffer.alloc(1024)]),
        });
        const answer = await put.text();
        if (put.status === 200) there.push(want);
        else ctx.log.warn({ status: put.status, answer }, 'could not make a bind directory');
      }
    } finally {
      const removed = await ctx.upstream.request({
        method: 'DELETE',
        path: `/containers/${id}`,
        query: { force: '1', v: '1' },
      });
      await removed.text();
    }
  }
  return there;
}
