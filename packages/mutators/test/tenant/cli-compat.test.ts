// The docker CLI through a workshop tenant, against the same commands straight on the engine: what differed for
// review 24c (stop 24), each checked both ways in one run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, docker, ENGINE, onEngine, type Tenant } from './harness.ts';

let t: Tenant;
const images: string[] = [];

beforeAll(async () => {
  t = await createTenant();
}, 120_000);
afterAll(async () => {
  for (const image of images) await onEngine('rmi', '-f', image).catch(() => {});
  await t?.[Symbol.asyncDispose]();
}, 120_000);

/** The docker CLI straight on the engine, or through the tenant's proxy. */
const cli = (way: 'engine' | 'proxy', args: string[]) =>
  way === 'engine' ? docker(ENGINE, args) : t.docker(args);

describe('the docker CLI through a workshop tenant, as on the engine', { timeout: 120_000 }, () => {
  // the proxy sent the commit a config of its own (for its label): the daemon then applied `changes` to it, not to
  // the container's, so `$PATH` was empty and the image did not start
  it('docker commit --change builds on the container’s config', async () => {
    const made: Record<
      string,
      { Env: string[]; WorkingDir: string; User: string; Labels: Record<string, string> }
    > = {};
    for (const way of ['engine', 'proxy'] as const) {
      const name = `${t.testLabel}-commit-${way}`;
      const run = await cli(way, [
        'run',
        '-d',
        '--name',
        name,
        '--label',
        `dockhand.test=${t.testLabel}`,
        '-w',
        '/srv',
        '-u',
        '1000',
        '-e',
        'FOO=1',
        'busybox:latest',
        'sleep',
        '600',
      ]);
      expect(run.code, run.stderr).toBe(0);
      const image = `${t.testLabel}-committed-${way}:1`;
      images.push(image);
      const commit = await cli(way, [
        'commit',
        '-c',
        'ENV PATH=/opt/bin:$PATH',
        '-c',
        'ENV BAR=$FOO-x',
        '-c',
        'WORKDIR sub',
        '-c',
        'USER $FOO',
        name,
        image,
      ]);
      expect(commit.code, commit.stderr).toBe(0);
      made[way] = JSON.parse(await onEngine('image', 'inspect', '--format', '{{json .Config}}', image));
      await cli(way, ['rm', '-f', name]);
    }
    const { engine, proxy } = made;
    expect(proxy!.Env).toEqual(engine!.Env);
    expect(proxy!.Env).toContainEqual(expect.stringMatching(/^PATH=\/opt\/bin:\/./)); // the image's PATH after it
    expect(proxy!.WorkingDir).toBe(engine!.WorkingDir);
    expect(proxy!.WorkingDir).toBe('/srv/sub');
    expect(proxy!.User).toBe(engine!.User);
    expect(proxy!.Labels['dockhand.tenant']).toBe(t.name);
    const ran = await t.docker([
      'run',
      '--rm',
      '-u',
      '0',
      `${t.testLabel}-committed-proxy:1`,
      'sh',
      '-c',
      'echo ran',
    ]);
    expect(ran.stdout.trim(), ran.stderr).toBe('ran');
  });

  // anonymous volumes are given to the engine as mounts, for their label; the engine marks none of those as
  // anonymous, and `docker volume prune` (API 1.42 and later) removes only volumes so marked. (The engine is
  // shared: it is never pruned straight, only through the tenant, whose prune sees the tenant's volumes alone.)
  it('docker volume prune removes an anonymous volume no container uses', async () => {
    const labelsOf = async (way: 'engine' | 'proxy') => {
      const created = await cli(way, [
        'create',
        '--label',
        `dockhand.test=${t.testLabel}`,
        '-v',
        '/anon',
        'busybox:latest',
      ]);
      expect(created.code, created.stderr).toBe(0);
      const id = created.stdout.trim();
      const mounts = JSON.parse(await onEngine('inspect', '--format', '{{json .Mounts}}', id)) as {
        Name: string;
      }[];
      const volume = mounts[0]!.Name;
      const labels = JSON.parse(await onEngine('volume', 'inspect', '--format', '{{json .Labels}}', volume));
      return { id, volume, labels: labels as Record<string, string> };
    };
    const direct = await labelsOf('engine');
    await onEngine('rm', '-v', direct.id);
    const proxied = await labelsOf('proxy');
    // Engine 20.10 labels none of the volumes it makes (its prune takes every unused one); later engines mark
    // them anonymous, and so does the proxy on every engine
    if (direct.labels !== null) expect(proxied.labels).toMatchObject(direct.labels);
    expect(proxied.labels).toMatchObject({ 'com.docker.volume.anonymous': '' });
    expect(proxied.labels['dockhand.tenant']).toBe(t.name);
    expect((await t.docker(['rm', proxied.id])).code).toBe(0);
    const prune = await t.docker(['volume', 'prune', '-f']);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toContain(proxied.volume);
    expect((await onEngine('volume', 'ls', '-q')).split('\n')).not.toContain(proxied.volume);
  });

  // answered from the tenant's own lists since stop 24 (the engine's walk of every volume timed other tenants'
  // files): what the CLI prints, a volume's size unknown
  it('docker system df, and -v', async () => {
    const df = await t.docker(['system', 'df']);
    expect(df.code, df.stderr).toBe(0);
    expect(df.stdout).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
    expect(df.stdout).toMatch(/Local Volumes/);
    const verbose = await t.docker(['system', 'df', '-v']);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stdout).toContain('Local Volumes space usage:');
  });
});
