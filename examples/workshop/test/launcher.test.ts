// `workshop up` refuses an instance whose objects a tenant made first, before it builds or starts anything. The
// tenant's objects are made on the engine as its proxy makes them: with the tenant label, and whatever other labels
// the tenant chose (the proxy lets `com.docker.compose.*` through: an attendee's compose needs them).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'packages/cli/dist/bin.js');
const run = randomBytes(4).toString('hex');
const TEST = `dockhand.test=workshop-launcher-${run}`;

interface Run {
  code: number;
  stderr: string;
}
function sh(file: string, args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { timeout: 180_000, maxBuffer: 64 << 20 }, (error, _stdout, stderr) => {
      done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr: String(stderr) });
    });
  });
}
const docker = async (...args: string[]): Promise<string> => {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile('docker', args, (error, stdout, stderr) =>
      done({ code: error ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }),
    ),
  );
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

const instances: string[] = [];

/** A free TCP port on the loopback, as the kernel picks it. */
function freePort(): Promise<string> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(String(port)));
    });
  });
}
afterAll(async () => {
  for (const name of instances) await sh('node', [CLI, 'workshop', 'down', name]);
  const left = await docker('ps', '-aq', '--filter', `label=${TEST}`);
  if (left) await docker('rm', '-f', ...left.split('\n'));
  for (const kind of ['volume', 'network'] as const) {
    const names = await docker(kind, 'ls', '-q', '--filter', `label=${TEST}`);
    if (names) await docker(kind, 'rm', ...names.split('\n'));
  }
}, 300_000);

/** `workshop up` of an instance, which must fail before it starts any container of the instance. */
async function refusedUp(name: string): Promise<string> {
  instances.push(name);
  const r = await sh('node', [CLI, 'workshop', 'up', '--name', name, '--timeout', '5']);
  expect(r.code, r.stderr).not.toBe(0);
  const started = await docker(
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${name}`,
    '--filter',
    'label=com.docker.compose.oneoff=False',
  );
  const planted = await docker(
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${name}`,
    '--filter',
    `label=${TEST}`,
  );
  expect(started.split('\n').filter(Boolean).sort()).toEqual(planted.split('\n').filter(Boolean).sort());
  return r.stderr;
}

describe('workshop up, on objects a tenant made first', () => {
  it("refuses a tenant's container with the labels of the instance's compose project (found by review, stop 23: compose took it as the instance's `ide`)", async () => {
    const name = `wl${run}c`;
    await docker(
      'create',
      '--label',
      TEST,
      '--label',
      'dockhand.tenant=mallory',
      '--label',
      `com.docker.compose.project=${name}`,
      '--label',
      'com.docker.compose.service=ide',
      '--label',
      'com.docker.compose.oneoff=False',
      '--name',
      `${name}-planted`,
      'busybox:latest',
      'sleep',
      '600',
    );
    const stderr = await refusedUp(name);
    expect(stderr).toContain(`container ${name}-planted was created by tenant 'mallory'`);
    expect(stderr).toContain(`compose project ${name}`);
  });

  it("refuses a tenant's volume or network of the instance's names", async () => {
    const vol = `wl${run}v`;
    await docker(
      'volume',
      'create',
      '--label',
      TEST,
      '--label',
      'dockhand.tenant=mallory',
      `${vol}_docker-socket`,
    );
    expect(await refusedUp(vol)).toContain(`volume ${vol}_docker-socket was created by tenant 'mallory'`);
    const net = `wl${run}n`;
    await docker(
      'network',
      'create',
      '--label',
      TEST,
      '--label',
      'dockhand.tenant=mallory',
      `${net}_default`,
    );
    expect(await refusedUp(net)).toContain(`network ${net}_default was created by tenant 'mallory'`);
  });

  it("makes every container of the instance anew: a container labelled as its `ide` without a tenant label (a tenant's classic build step, found by review, stop 23) is not kept as the IDE; down removes a helper the proxy left holding the project, and the project", async () => {
    const name = `wl${run}i`;
    instances.push(name);
    // fixed ports and password, so compose's config hash of the service is the same for both starts
    const fixed = [
      '--ide-port',
      await freePort(),
      '--guide-port',
      await freePort(),
      '--app-port',
      await freePort(),
    ];
    const up = () =>
      sh('node', [CLI, 'workshop', 'up', '--name', name, '--password', 'pw', '--timeout', '120', ...fixed]);
    const first = await up();
    expect(first.code, first.stderr).toBe(0);
    // the IDE goes, and a container with its labels takes its place, as a build step carrying them would
    const labels = JSON.parse(
      await docker('inspect', '--format', '{{json .Config.Labels}}', `${name}-ide-1`),
    ) as Record<string, string>;
    await docker('rm', '-f', `${name}-ide-1`);
    const planted = await docker(
      'run',
      '-d',
      '--name',
      `${name}-planted`,
      '--label',
      TEST,
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      'busybox:latest',
      'sleep',
      '600',
    );
    const again = await up();
    expect(again.code, again.stderr).toBe(0);
    const ide = await docker(
      'ps',
      '-aq',
      '--no-trunc',
      '--filter',
      `label=com.docker.compose.project=${name}`,
      '--filter',
      'label=com.docker.compose.service=ide',
    );
    expect(ide).not.toBe('');
    expect(ide).not.toContain(planted);
    expect(await docker('inspect', '--format', '{{.Config.Image}}', ide)).toMatch(/^dockhand-workshop\/ide:/);
    expect(await docker('ps', '-aq', '--filter', `name=${name}-planted`)).toBe('');
    // a helper container the proxy left behind (stopped in the middle of a create) holds the project volume, which
    // compose's down then kept for the next instance of this name (found by review, stop 23)
    await docker(
      'create',
      '--label',
      TEST,
      '--label',
      `dockhand.helper=${name}`,
      '--mount',
      `type=volume,src=${name}_project,dst=/dockhand-volume`,
      'busybox:latest',
      'true',
    );
    const down = await sh('node', [CLI, 'workshop', 'down', name]);
    expect(down.code, down.stderr).toBe(0);
    expect(await docker('volume', 'ls', '-q', '--filter', `name=^${name}_`)).toBe('');
    expect(await docker('ps', '-aq', '--filter', `label=dockhand.helper=${name}`)).toBe('');
  });
});

describe('workshop cleanup', () => {
  it("removes the tenant's objects and the proxy's helper containers left for it, and nothing else", async () => {
    const tenant = `wl${run}t`;
    const mine = await docker(
      'create',
      '--label',
      TEST,
      '--label',
      `dockhand.tenant=${tenant}`,
      'busybox:latest',
      'true',
    );
    const helper = await docker(
      'create',
      '--label',
      TEST,
      '--label',
      `dockhand.helper=${tenant}`,
      'busybox:latest',
      'true',
    );
    const other = await docker(
      'create',
      '--label',
      TEST,
      '--label',
      `dockhand.helper=${tenant}x`,
      'busybox:latest',
      'true',
    );
    // another tenant's container that says it is this tenant's helper stays: it is that tenant's
    const claims = await docker(
      'create',
      '--label',
      TEST,
      '--label',
      `dockhand.helper=${tenant}`,
      '--label',
      `dockhand.tenant=${tenant}-other`,
      'busybox:latest',
      'true',
    );
    const r = await sh('node', [CLI, 'workshop', 'cleanup', '--tenant', tenant]);
    expect(r.code, r.stderr).toBe(0);
    const left = (await docker('ps', '-aq', '--no-trunc', '--filter', `label=${TEST}`)).split('\n');
    expect(left).not.toContain(mine);
    expect(left).not.toContain(helper);
    expect(left).toContain(other);
    expect(left).toContain(claims);
  });
});
