import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What {@link removeStaleImages} did with each other tag of a repository. */
export interface StaleImages {
  /** Tags removed: no container, running or stopped, used their image. */
  removed: string[];
  /** Tags kept because a container uses their image (the engine refused to remove them). */
  inUse: string[];
}

/** Options of {@link removeStaleImages}. */
export interface StaleImagesOptions {
  /** Only tags that match are candidates (default: every tag), e.g. only the launcher's hash tags, not `latest`. */
  tags?: RegExp;
  /**
   * Only images made before this long ago (the engine's `until` filter: `1h`, `30m`): another launcher may have just
   * built one it has not started yet. Default: any age.
   */
  until?: string;
  /** The environment the `docker` CLI runs with (its `DOCKER_HOST`). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Removes the tags of `repository` other than `keep` whose image no container uses, as `docker image rm` without
 * `--force` does: the engine refuses the last tag of an image that a container (running or stopped) was made from,
 * so an instance still running from an older build keeps its image. The workshop launcher tags each build with a
 * hash of its inputs, so without this every change to the source leaves an image of half a gigabyte behind.
 *
 * @param repository - the repository, e.g. `dockhand-workshop/dockhand`
 * @param keep - the tag (`repository:tag`) the current build has
 * @param options - which tags are candidates, and the CLI's environment
 * @returns the tags removed and the tags kept because they are in use
 * @throws Error when the images cannot be listed, or the engine refuses a removal for another reason
 * @example
 * ```ts
 * const { removed } = await removeStaleImages('dockhand-workshop/dockhand', 'dockhand-workshop/dockhand:4f0c1e2a9b3d', {
 *   tags: /^[0-9a-f]{12}$/,
 * });
 * ```
 */
export async function removeStaleImages(
  repository: string,
  keep: string,
  options: StaleImagesOptions = {},
): Promise<StaleImages> {
  const env = options.env ?? process.env;
  const { stdout } = await run(
    'docker',
    [
      'image',
      'ls',
      '--format',
      '{{.Repository}}:{{.Tag}}',
      '--filter',
      `reference=${repository}:*`,
      ...(options.until ? ['--filter', `until=${options.until}`] : []),
    ],
    { env },
  );
  const result: StaleImages = { removed: [], inUse: [] };
  for (const tag of new Set(stdout.split('\n').filter((line) => line !== '' && !line.endsWith(':<none>')))) {
    if (tag === keep || (options.tags && !options.tags.test(tag.slice(repository.length + 1)))) continue;
    try {
      await run('docker', ['image', 'rm', tag], { env });
      result.removed.push(tag);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      // `conflict: unable to remove repository reference "…" (must force) - container … is using its referenced
      // image …`; a tag another run removed meanwhile is gone either way
      if (/\bconflict\b/.test(stderr) && /is using/.test(stderr)) result.inUse.push(tag);
      else if (!/No such image/.test(stderr)) throw error;
    }
  }
  return result;
}
