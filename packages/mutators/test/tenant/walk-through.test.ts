// The original workshop design's walk-through ("Try it out"), step by step, through a workshopTenant proxy and
// the real docker CLI and compose, checked on the real engine.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenant,
  engineHasSubpaths,
  inspectOnEngine,
  onEngine,
  type Tenant,
  unique,
} from './harness.ts';

interface MountInfo {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
}
interface ContainerInfo {
  Id: string;
  Mounts: MountInfo[];
  HostConfig: {
    Binds: string[] | null;
    Mounts?: { Type: string; Source: string; Target: string; VolumeOptions?: { Subpath?: string } }[];
  };
  Config: { Labels: Record<string, string> };
}

let t: Tenant;
let subpaths: boolean;
let foreign: string;
const cliImage = `dockhand-test/docker-cli:${unique()}`;

beforeAll(async () => {
  t = await createTenant();
  subpaths = await engineHasSubpaths();
  // something of someone else's to hide: a running container straight on the engine
  foreign = await onEngine(
    'run',
    '-d',
    '--label',
    `dockhand.test=${t.testLabel}`,
    'busybox:latest',
    'sleep',
    '300',
  );
  await t.putFiles({ 'dev/db/1-create-schema.sql': 'CREATE TABLE t (id int);\n' });
  // an image with the docker CLI in it: the host's static binary, FROM busybox (whose PATH is /bin) (built on the engine: it is
  // a base image every tenant may use)
  const context = await mkdtemp(join(tmpdir(), 'dockhand-cli-image-'));
  try {
    const bin = (await import('node:child_process'))
      .execFileSync('sh', ['-c', 'command -v docker'])
      .toString()
      .trim();
    await copyFile(bin, join(context, 'docker'));
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox:latest\nCOPY docker /bin/docker\n');
    await onEngine('build', '-q', '--label', `dockhand.test=${t.testLabel}`, '-t', cliImage, context);
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}, 180_000);

afterAll(async () => {
  await t?.[Symbol.asyncDispose]();
  await onEngine('image', 'rm', '-f', cliImage).catch(() => {});
}, 120_000);

describe('the workshop walk-through', () => {
  it("docker ps shows none of the engine's other containers", async () => {
    const all = (await onEngine('ps', '-aq', '--no-trunc')).split('\n');
    expect(all).toContain(foreign);
    const ps = await t.docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}']);
    expect(ps.stderr).toBe('');
    expect(ps.code).toBe(0);
    expect(ps.stdout.split('\n')).not.toContain(foreign);
    for (const id of ps.stdout.split('\n').filter(Boolean)) {
      const c = await inspectOnEngine<ContainerInfo>('container', id);
      expect(c.Config.Labels['dockhand.tenant']).toBe(t.name);
    }
  });

  it('docker compose up -d works, docker ps shows the stack, docker compose down removes it', async () => {
    const dir = join(t.projectDir, 'app');
    await mkdir(dir);
    const project = `walk-${unique()}`;
    await writeFile(
      join(dir, 'compose.yaml'),
      [
        'services:',
        '  web:',
        '    image: busybox:latest',
        '    command: ["sleep", "300"]',
        `    labels: { dockhand.test: ${t.testLabel} }`,
        '  db:',
        '    image: busybox:latest',
        '    command: ["sleep", "300"]',
        `    labels: { dockhand.test: ${t.testLabel} }`,
        '',
      ].join('\n'),
    );
    const up = await t.docker(['compose', '-p', project, 'up', '-d', '--wait'], { cwd: dir });
    expect(up.code, up.stderr).toBe(0);
    const ps = await t.docker(['ps', '--format', '{{.Names}}']);
    expect(ps.stdout.split('\n').sort()).toEqual(
      expect.arrayContaining([`${project}-db-1`, `${project}-web-1`]),
    );
    // on the engine: the stack is the tenant's
    const onEng = (
      await onEngine('ps', '-q', '--filter', `label=com.docker.compose.project=${project}`)
    ).split('\n');
    expect(onEng).toHaveLength(2);
    for (const id of onEng)
      expect((await inspectOnEngine<ContainerInfo>('container', id)).Config.Labels['dockhand.tenant']).toBe(
        t.name,
      );
    const net = await inspectOnEngine<{ Labels: Record<string, string> }>('network', `${project}_default`);
    expect(net.Labels['dockhand.tenant']).toBe(t.name);

    const down = await t.docker(['compose', '-p', project, 'down'], { cwd: dir });
    expect(down.code, down.stderr).toBe(0);
    expect((await t.docker(['ps', '-a', '--format', '{{.Names}}'])).stdout).not.toContain(project);
    expect(await onEngine('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`)).toBe('');
    expect(await onEngine('network', 'ls', '-q', '--filter', `name=${project}_default`)).toBe('');
  }, 120_000);

  it("the anonymous volumes the engine makes (an image's VOLUME, -v /data) are the tenant's: compose recreates such a service (it was refused, stop 23), --rm and rm -v remove them, and the tenant removes what the engine keeps", async () => {
    const image = `dockhand-test/volume-image:${unique()}`;
    const context = await mkdtemp(join(tmpdir(), 'dockhand-volume-image-'));
    try {
      // as the images of postgres, mysql or redis do
      await writeFile(join(context, 'Dockerfile'), 'FROM busybox:latest\nVOLUME /state\n');
      await onEngine('build', '-q', '--label', `dockhand.test=${t.testLabel}`, '-t', image, context);
    } finally {
      await rm(context, { recursive: true, force: true });
    }
    const tenantVolumes = async () =>
      (await onEngine('volume', 'ls', '-q', '--filter', `label=dockhand.tenant=${t.name}`))
        .split('\n')
        .filter(Boolean)
        .sort();
    const dir = join(t.projectDir, 'anon');
    await mkdir(dir);
    const project = `anon-${unique()}`;
    const compose = (x: number) =>
      writeFile(
        join(dir, 'compose.yaml'),
        [
          'services:',
          '  db:',
          `    image: ${image}`,
          '    command: ["sleep", "300"]',
          `    environment: { X: "${x}" }`,
          `    labels: { dockhand.test: ${t.testLabel} }`,
          '',
        ].join('\n'),
      );
    try {
      const before = await tenantVolumes();
      await compose(1);
      const up = await t.docker(['compose', '-p', project, 'up', '-d', '--wait'], { cwd: dir });
      expect(up.code, up.stderr).toBe(0);
      const state = async () =>
        (await inspectOnEngine<ContainerInfo>('container', `${project}-db-1`)).Mounts.find(
          (m) => m.Destination === '/state',
        )!;
      const volume = (await state()).Name!;
      expect((await state()).Type).toBe('volume');
      expect(await tenantVolumes()).toEqual([...before, volume].sort());
      expect((await t.docker(['volume', 'ls', '-q'])).stdout.split('\n')).toContain(volume);
      // a changed service is recreated with the volume of the container it replaces
      await compose(2);
      const again = await t.docker(['compose', '-p', project, 'up', '-d', '--wait'], { cwd: dir });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('Recreated');
      expect((await state()).Name).toBe(volume);
      // a path alone, and --rm: the engine removes the container's anonymous volumes with it, as ever
      const run = await t.docker(['run', '--rm', '-v', '/scratch', image, 'ls', '-d', '/scratch', '/state']);
      expect(run.code, run.stderr).toBe(0);
      const kept = await t.docker(['create', '-v', '/scratch', image, 'true']);
      expect(kept.code, kept.stderr).toBe(0);
      expect((await tenantVolumes()).length).toBe(before.length + 3);
      expect((await t.docker(['rm', '-v', kept.stdout.trim()])).code).toBe(0);
      expect(await tenantVolumes()).toEqual([...before, volume].sort());
      const down = await t.docker(['compose', '-p', project, 'down', '-v'], { cwd: dir });
      expect(down.code, down.stderr).toBe(0);
      // the recreated container mounted the volume by its name, so the engine keeps it (as it does without the
      // proxy): the tenant's to see and remove
      expect(await tenantVolumes()).toEqual([...before, volume].sort());
      expect((await t.docker(['volume', 'rm', volume])).code).toBe(0);
      expect(await tenantVolumes()).toEqual(before);
    } finally {
      await t.docker(['compose', '-p', project, 'down', '-v'], { cwd: dir });
      await onEngine('image', 'rm', '-f', image).catch(() => {});
    }
  }, 180_000);

  it('docker run -v ./dev/db:/data sees the files of the project volume', async () => {
    const out = await t.docker(['run', '--rm', '-v', './dev/db:/data', 'busybox:latest', 'ls', '/data'], {
      cwd: t.projectDir,
    });
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('1-create-schema.sql\n');
  });

  it("an image's VOLUME under a tmpfs spelled otherwise (/data/, /data/., //data) is no unlabelled volume (found by review, stop 23)", async () => {
    const image = `dockhand-test/volume-image-tmpfs:${unique()}`;
    const context = await mkdtemp(join(tmpdir(), 'dockhand-volume-image-'));
    try {
      await writeFile(join(context, 'Dockerfile'), 'FROM busybox:latest\nVOLUME /data\n');
      await onEngine('build', '-q', '--label', `dockhand.test=${t.testLabel}`, '-t', image, context);
      for (const spelling of ['/data/', '/data/.', '//data', '/data']) {
        const c = await t.docker(['create', '--tmpfs', spelling, image, 'true']);
        if (c.code !== 0) continue; // refused: nothing made
        const info = await inspectOnEngine<ContainerInfo>('container', c.stdout.trim());
        for (const m of info.Mounts.filter((x) => x.Type === 'volume')) {
          const v = await inspectOnEngine<{ Labels: Record<string, string> | null }>('volume', m.Name!);
          expect([spelling, v.Labels?.['dockhand.tenant']]).toEqual([spelling, t.name]);
        }
        expect((await t.docker(['rm', '-v', c.stdout.trim()])).code).toBe(0);
      }
    } finally {
      await rm(context, { recursive: true, force: true });
      await onEngine('image', 'rm', '-f', image).catch(() => {});
    }
  });

  it('docker run -v ./new/dir:/data, of a directory not made yet, makes it as the engine makes a bind source, and a compose file alike (it failed at start, stop 23)', async () => {
    const run = await t.docker(
      [
        'run',
        '--rm',
        '-v',
        './made/by/run:/data',
        'busybox:latest',
        'sh',
        '-c',
        'echo hi > /data/f; ls -ld /data',
      ],
      { cwd: t.projectDir },
    );
    if (!subpaths) {
      // before API 1.45 the documented fallback binds the directory in the volume's mountpoint, once it has checked
      // it for symlinks, which needs it to exist: a missing one is refused, before the engine
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/made\/by\/run' does not exist/);
      return;
    }
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^drwxr-xr-x .* root +root /);
    const dir = join(t.projectDir, 'seeded');
    await mkdir(dir);
    const project = `seed-${unique()}`;
    await writeFile(
      join(dir, 'compose.yaml'),
      [
        'services:',
        '  db:',
        '    image: busybox:latest',
        '    command: ["sh", "-c", "touch /var/lib/db/ready; sleep 300"]',
        `    labels: { dockhand.test: ${t.testLabel} }`,
        '    volumes: ["./data/db:/var/lib/db"]',
        '',
      ].join('\n'),
    );
    try {
      const up = await t.docker(['compose', '-p', project, 'up', '-d', '--wait'], { cwd: dir });
      expect(up.code, up.stderr).toBe(0);
    } finally {
      await t.docker(['compose', '-p', project, 'down'], { cwd: dir });
    }
    const ls = await t.docker(
      ['run', '--rm', '-v', '.:/p', 'busybox:latest', 'ls', '/p/made/by/run', '/p/seeded/data/db'],
      {
        cwd: t.projectDir,
      },
    );
    expect(ls.stdout.split('\n').filter(Boolean)).toEqual(
      ['/p/made/by/run:', 'f', '', '/p/seeded/data/db:', 'ready'].filter(Boolean),
    );
    // the engine's own rule for `--mount type=bind`: a missing source is an error
    const mount = await t.docker(
      ['run', '--rm', '--mount', 'type=bind,src=./not/made,dst=/data', 'busybox:latest', 'true'],
      { cwd: t.projectDir },
    );
    expect(mount.code).not.toBe(0);
    // no helper left behind
    expect(
      await onEngine(
        'ps',
        '-aq',
        '--filter',
        `label=dockhand.tenant=${t.name}`,
        '--filter',
        'label=dockhand.helper',
      ),
    ).toBe('');
  });

  it("a bind path with .., . or // in it is the path the engine cleans it to: the project's own (they were refused, stop 23)", async () => {
    await t.putFiles({ 'shared/hello.txt': 'hello from shared\n' });
    for (const source of [
      `${t.projectDir}/sub/../shared`,
      `${t.projectDir}//shared/.`,
      `${t.projectDir}/./shared/`,
    ]) {
      const run = await t.docker([
        'run',
        '--rm',
        '-v',
        `${source}:/x`,
        'busybox:latest',
        'cat',
        '/x/hello.txt',
      ]);
      expect([source, run.code, run.stdout.trim(), run.stderr]).toEqual([source, 0, 'hello from shared', '']);
    }
    // and out of the project, it is refused as the cleaned path is
    const out = await t.docker([
      'run',
      '--rm',
      '-v',
      `${t.projectDir}/../../etc:/x`,
      'busybox:latest',
      'true',
    ]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/bind-mounting \/\S*etc at \/x is not allowed here/);
  });

  it("an empty project directory bound over the image's files stays empty, as a bind does (the engine filled it, stop 23)", async () => {
    const made = await t.docker([
      'run',
      '--rm',
      '-v',
      `${t.projectDir}:/p`,
      'busybox:latest',
      'mkdir',
      '/p/empty-etc',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const run = await t.docker([
      'run',
      '--rm',
      '-v',
      `${t.projectDir}/empty-etc:/etc/apt`,
      'debian:bookworm-slim',
      'true',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const ls = await t.docker([
      'run',
      '--rm',
      '-v',
      `${t.projectDir}:/p`,
      'busybox:latest',
      'ls',
      '-A',
      '/p/empty-etc',
    ]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toBe('');
  });

  it('the ./dev/db mount is a mount of the project volume, not a bind (API >= 1.45: a subpath; older: the documented fallback)', async () => {
    const name = `data-demo-${unique()}`;
    const out = await t.docker(
      ['run', '-d', '--name', name, '-v', './dev/db:/data', 'busybox:latest', 'sleep', '300'],
      { cwd: t.projectDir },
    );
    expect(out.code, out.stderr).toBe(0);
    try {
      const c = await inspectOnEngine<ContainerInfo>('container', name);
      const data = c.Mounts.find((m) => m.Destination === '/data')!;
      if (subpaths) {
        expect(data).toMatchObject({ Type: 'volume', Name: t.projectVolume, Destination: '/data' });
        expect(c.HostConfig.Binds ?? []).toEqual([]);
        expect(c.HostConfig.Mounts).toEqual([
          expect.objectContaining({
            Type: 'volume',
            Source: t.projectVolume,
            Target: '/data',
            VolumeOptions: expect.objectContaining({ Subpath: 'dev/db' }),
          }),
        ]);
      } else {
        // docs/configuration.md: before API 1.45 the proxy checks the path for symlinks through projectMount
        // and binds the directory inside the volume's mountpoint
        expect(data).toMatchObject({
          Type: 'bind',
          Source: join(t.projectMountpoint, 'dev/db'),
          Destination: '/data',
        });
      }
      // either way, nothing of the IDE's own directory reaches the engine
      expect(JSON.stringify(c.Mounts)).not.toContain(t.projectDir);
    } finally {
      await t.docker(['rm', '-f', name]);
    }
  });

  it('a container given /var/run/docker.sock gets the proxy: docker ps inside shows only the tenant', async () => {
    const inner = await t.docker([
      'run',
      '--rm',
      '-v',
      '/var/run/docker.sock:/var/run/docker.sock',
      cliImage,
      'docker',
      'ps',
      '-a',
      '--no-trunc',
      '--format',
      '{{.ID}} {{.Label "dockhand.tenant"}}',
    ]);
    expect(inner.stderr).toBe('');
    expect(inner.code).toBe(0);
    const seen = inner.stdout.split('\n').filter(Boolean);
    // it sees at least itself, and nothing that is not the tenant's
    expect(seen.length).toBeGreaterThan(0);
    expect(inner.stdout).not.toContain(foreign);
    for (const line of seen) expect(line).toMatch(new RegExp(`^[0-9a-f]{64} ${t.name}$`));
    // the same as the tenant's containers on the engine (the --rm container itself is gone by now)
    const mine = (
      await onEngine('ps', '-aq', '--no-trunc', '--filter', `label=dockhand.tenant=${t.name}`)
    ).split('\n');
    const others = seen.map((l) => l.split(' ')[0]!).filter((id) => !mine.includes(id));
    expect(others.length).toBeLessThanOrEqual(1);
  });

  it('the socket mount comes from the socket volume', async () => {
    const name = `socket-demo-${unique()}`;
    const out = await t.docker([
      'run',
      '-d',
      '--name',
      name,
      '-v',
      '/var/run/docker.sock:/var/run/docker.sock',
      cliImage,
      'sleep',
      '300',
    ]);
    expect(out.code, out.stderr).toBe(0);
    try {
      const c = await inspectOnEngine<ContainerInfo>('container', name);
      const sock = c.Mounts.find((m) => m.Destination === '/var/run/docker.sock')!;
      if (subpaths) {
        expect(sock).toMatchObject({ Type: 'volume', Name: t.socketVolume });
        expect(c.HostConfig.Mounts).toEqual([
          expect.objectContaining({
            Source: t.socketVolume,
            VolumeOptions: expect.objectContaining({ Subpath: 'docker.sock' }),
          }),
        ]);
      } else {
        expect(sock).toMatchObject({ Type: 'bind', Source: join(t.socketMountpoint, 'docker.sock') });
      }
      // and the docker CLI in it reaches the proxy, not the engine
      const exec = await t.docker(['exec', name, 'docker', 'ps', '-a', '--no-trunc', '--format', '{{.ID}}']);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toContain(c.Id);
      expect(exec.stdout).not.toContain(foreign);
    } finally {
      await t.docker(['rm', '-f', name]);
    }
  });
});
