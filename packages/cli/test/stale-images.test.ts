import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleImages } from '../src/commands/stale-images.ts';

const docker = async (...args: string[]): Promise<string> =>
  (await promisify(execFile)('docker', args)).stdout.trim();

const run = `stale-${randomBytes(4).toString('hex')}`;
const repository = `dockhand-test-${run}/img`;
const containers: string[] = [];

/** A distinct image (its own id, so its tag is its only name) under `repository:tag`. */
async function image(tag: string): Promise<void> {
  const from = await docker('create', '--label', `dockhand.test=${run}`, 'busybox:latest', 'true');
  containers.push(from);
  await docker('commit', '--change', `LABEL dockhand.test=${run} tag=${tag}`, from, `${repository}:${tag}`);
}

const tags = async (): Promise<string[]> =>
  (await docker('image', 'ls', '--format', '{{.Tag}}', '--filter', `reference=${repository}:*`))
    .split('\n')
    .filter(Boolean)
    .sort();

afterAll(async () => {
  await docker('rm', '-f', ...containers).catch(() => {});
  for (const tag of await tags()) await docker('image', 'rm', '-f', `${repository}:${tag}`).catch(() => {});
});

describe('removeStaleImages (the workshop launcher after a build)', () => {
  it('removes the repository’s other tags that no container uses, and keeps the current one and those in use', async () => {
    for (const tag of ['old', 'used', 'current']) await image(tag);
    // a stopped container of an older build: an instance that is down, not removed
    containers.push(await docker('create', '--label', `dockhand.test=${run}`, `${repository}:used`, 'true'));

    const result = await removeStaleImages(repository, `${repository}:current`);

    expect(result).toEqual({ removed: [`${repository}:old`], inUse: [`${repository}:used`] });
    expect(await tags()).toEqual(['current', 'used']);
    // a second run has nothing more to do
    expect(await removeStaleImages(repository, `${repository}:current`)).toEqual({
      removed: [],
      inUse: [`${repository}:used`],
    });
  });

  it('takes only images made before the time given, when asked', async () => {
    await image('fresh');
    const result = await removeStaleImages(repository, `${repository}:current`, { until: '1h' });
    expect(result.removed).toEqual([]);
    expect(await tags()).toContain('fresh');
  });

  it('takes only the tags that match, when asked', async () => {
    await image('latest');
    await image('0123456789ab');
    const result = await removeStaleImages(repository, `${repository}:current`, { tags: /^[0-9a-f]{12}$/ });
    expect(result).toEqual({ removed: [`${repository}:0123456789ab`], inUse: [] });
    expect(await tags()).toContain('latest');
  });

  it('leaves other repositories alone, even one whose name starts the same', async () => {
    await image('other');
    const longer = `${repository}-x`;
    await docker('tag', `${repository}:other`, `${longer}:old`);
    try {
      const result = await removeStaleImages(repository, `${repository}:current`);
      expect([...result.removed].sort()).toEqual([
        `${repository}:fresh`,
        `${repository}:latest`,
        `${repository}:other`,
      ]);
      expect(await docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `${longer}:old`)).toBe(
        `${longer}:old`,
      );
    } finally {
      await docker('image', 'rm', `${longer}:old`).catch(() => {});
    }
  });
});
