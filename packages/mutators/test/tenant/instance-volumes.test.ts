// A tenant that creates another instance's volumes before that instance does (a late joiner's `bob_project`,
// `bob_docker-socket`, `bob_terminal`; compose only warns and reuses them) would own them: bob's proxy socket,
// bob's code, bob's terminal. The proxy of an instance whose own volumes are missing or a tenant's serves nothing:
// the pipeline refuses every request (none takes the byte lane), and `dockhand proxy` exits before listening.
import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProxy, type DockerProxy } from '@dockhand/core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workshopTenant } from '../../src/index.ts';
import { laneRoutes } from '../lane-routes.ts';
import { createTenant, docker, ENGINE, eventually, onEngine, type Tenant, unique } from './harness.ts';

const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));
const TEST_LABEL = `mutators-instance-volumes-${unique()}`;

let mallory: Tenant;
let dir: string;
const proxies: DockerProxy[] = [];
const children: ChildProcess[] = [];

/** A victim instance's names: `<name>_project`, `<name>_socket`, `<name>_terminal`, as the workshop names them. */
function victim() {
  const name = `v-${unique()}`;
  return {
    name,
    projectVolume: `${name}_project`,
    socketVolume: `${name}_socket`,
    terminalVolume: `${name}_terminal`,
    socket: join(dir, `${name}.sock`),
  };
}

/** Creates volumes straight on the engine, as the instance's compose project does. */
async function instanceCreates(...names: string[]): Promise<void> {
  for (const v of names) await onEngine('volume', 'create', '--label', `dockhand.test=${TEST_LABEL}`, v);
}

/** Creates a volume through mallory's proxy, as a tenant squatting an instance's name would: labelled as mallory's. */
async function malloryCreates(name: string): Promise<void> {
  const squat = await mallory.docker(['volume', 'create', '--label', `dockhand.test=${TEST_LABEL}`, name]);
  expect(squat.code, squat.stderr).toBe(0);
}

/** One request on a unix socket: the status and the body. */
function get(socket: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An in-process proxy of the victim's instance, listening on its socket (nobody calls the check beforehand). */
async function victimProxy(
  v: ReturnType<typeof victim>,
  instanceVolumes: string[] = [],
  instanceNetworks: string[] = [],
) {
  const tenant = workshopTenant({
    tenant: v.name,
    projectVolume: v.projectVolume,
    socketVolume: v.socketVolume,
    instanceVolumes,
    instanceNetworks,
  });
  const proxy = createProxy({ upstream: ENGINE, middleware: [tenant] });
  proxies.push(proxy);
  await proxy.listen(v.socket);
  return { tenant, proxy };
}

/** Runs `dockhand proxy --config` on a workshopTenant config of the victim; resolves when it exits. */
function cliProxy(
  v: ReturnType<typeof victim>,
  config: string,
  readyFile: string,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  delete env.DOCKER_HOST;
  const child = spawn(
    process.execPath,
    [BIN, 'proxy', '--config', config, '--upstream', ENGINE, '--listen', v.socket, '--ready-file', readyFile],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => out, exited };
}

async function writeConfig(v: ReturnType<typeof victim>): Promise<string> {
  const file = join(dir, `${v.name}.yaml`);
  await writeFile(
    file,
    [
      'middleware:',
      '  - type: workshopTenant',
      `    tenant: ${v.name}`,
      `    projectVolume: ${v.projectVolume}`,
      `    socketVolume: ${v.socketVolume}`,
      `    instanceVolumes: [${v.terminalVolume}]`,
      '',
    ].join('\n'),
  );
  return file;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  mallory = await createTenant();
  dir = await mkdtemp(join(tmpdir(), 'dockhand-instance-volumes-'));
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of proxies) await p.close();
  await mallory?.[Symbol.asyncDispose]();
  const volumes = (await onEngine('volume', 'ls', '-q', '--filter', `label=dockhand.test=${TEST_LABEL}`))
    .split('\n')
    .filter(Boolean);
  if (volumes.length) await onEngine('volume', 'rm', '-f', ...volumes).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('an instance whose volumes a tenant created first', () => {
  it('serves nothing when its socket volume is a tenant’s (volumes/create through that tenant’s proxy)', async () => {
    const v = victim();
    await instanceCreates(v.projectVolume);
    // mallory, through its own proxy, takes the victim's socket volume before the instance starts
    await malloryCreates(v.socketVolume);
    const { tenant, proxy } = await victimProxy(v);

    // every request is refused, repeated ones too (the refusal is kept), and none takes the byte lane
    for (const path of ['/_ping', '/v1.41/_ping', '/version', '/v1.41/containers/json', '/_ping']) {
      const got = await get(v.socket, path);
      expect(got.status, `${path}: ${got.body}`).toBe(503);
      expect(JSON.parse(got.body).message).toMatch(
        new RegExp(`volume ${v.socketVolume} was created by another workshop attendee`),
      );
    }
    const ps = await docker(`unix://${v.socket}`, ['ps']);
    expect(ps.code).not.toBe(0);
    expect(ps.stderr).toContain('Error response from daemon');
    expect(ps.stderr).toContain(v.socketVolume);
    await expect(tenant.verifyInstanceVolumes(proxy.upstream)).rejects.toMatchObject({
      code: 'DOCKHAND_INSTANCE_VOLUME_TAKEN',
      status: 503,
    });
  }, 60_000);

  it('serves nothing when its project volume is a tenant’s (a mount of the missing name through that tenant’s proxy)', async () => {
    const v = victim();
    await instanceCreates(v.socketVolume);
    // mountPolicy creates a missing named volume as the tenant's
    const run = await mallory.docker([
      'run',
      '--rm',
      '--label',
      `dockhand.test=${TEST_LABEL}`,
      '-v',
      `${v.projectVolume}:/x`,
      'busybox:latest',
      'true',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(
      await onEngine('volume', 'inspect', '--format', '{{index .Labels "dockhand.tenant"}}', v.projectVolume),
    ).toBe(mallory.name);
    const { tenant, proxy } = await victimProxy(v);
    const got = await get(v.socket, '/_ping');
    expect(got.status, got.body).toBe(503);
    expect(JSON.parse(got.body).message).toContain(v.projectVolume);
    // the check a proxy makes before listening refuses as well
    await expect(tenant.verifyInstanceVolumes(proxy.upstream)).rejects.toMatchObject({
      code: 'DOCKHAND_INSTANCE_VOLUME_TAKEN',
    });
  }, 60_000);

  it('serves nothing when another instance volume (instanceVolumes: the terminal) is a tenant’s, or missing', async () => {
    const v = victim();
    await instanceCreates(v.projectVolume, v.socketVolume);
    await malloryCreates(v.terminalVolume);
    await victimProxy(v, [v.terminalVolume]);
    const got = await get(v.socket, '/_ping');
    expect(got.status, got.body).toBe(503);
    expect(JSON.parse(got.body).message).toContain(v.terminalVolume);

    const w = victim();
    await instanceCreates(w.projectVolume, w.socketVolume);
    await victimProxy(w, [w.terminalVolume]); // never created
    const missing = await get(w.socket, '/v1.41/containers/json');
    expect(missing.status, missing.body).toBe(503);
    expect(JSON.parse(missing.body).message).toContain(`volume ${w.terminalVolume} does not exist`);
  }, 60_000);

  it("serves nothing when its network (instanceNetworks: compose's default) is a tenant's, or missing (found by review, stop 20)", async () => {
    const v = victim();
    await instanceCreates(v.projectVolume, v.socketVolume);
    const network = `${v.name}_default`;
    // mallory makes it first, with the labels compose looks for: compose would put the victim's IDE on it
    const squat = await mallory.docker([
      'network',
      'create',
      '--label',
      `dockhand.test=${TEST_LABEL}`,
      '--label',
      `com.docker.compose.project=${v.name}`,
      '--label',
      'com.docker.compose.network=default',
      network,
    ]);
    expect(squat.code, squat.stderr).toBe(0);
    try {
      await victimProxy(v, [], [network]);
      const got = await get(v.socket, '/_ping');
      expect(got.status, got.body).toBe(503);
      expect(JSON.parse(got.body).message).toMatch(
        new RegExp(`network ${network} was created by another workshop attendee`),
      );
      const w = victim();
      await instanceCreates(w.projectVolume, w.socketVolume);
      await victimProxy(w, [], [`${w.name}_default`]); // never created
      const missing = await get(w.socket, '/_ping');
      expect(missing.status, missing.body).toBe(503);
      expect(JSON.parse(missing.body).message).toContain(`network ${w.name}_default does not exist`);
      // the instance's own network, made as compose makes it (no tenant's label): served
      const x = victim();
      await instanceCreates(x.projectVolume, x.socketVolume);
      await onEngine('network', 'create', '--label', `dockhand.test=${TEST_LABEL}`, `${x.name}_default`);
      try {
        await victimProxy(x, [], [`${x.name}_default`]);
        expect((await get(x.socket, '/_ping')).status).toBe(200);
      } finally {
        await onEngine('network', 'rm', `${x.name}_default`);
      }
    } finally {
      await onEngine('network', 'rm', network);
    }
  }, 60_000);

  it('`dockhand proxy --config` exits non-zero before listening, and writes no ready file', async () => {
    const v = victim();
    await instanceCreates(v.projectVolume, v.terminalVolume);
    await malloryCreates(v.socketVolume);
    const ready = join(dir, `${v.name}.ready`);
    await writeFile(ready, 'left by an earlier run\n');
    const cli = cliProxy(v, await writeConfig(v), ready);
    const code = await cli.exited;
    expect(code, cli.output()).toBe(1);
    expect(cli.output()).toContain('DOCKHAND_INSTANCE_VOLUME_TAKEN');
    expect(cli.output()).not.toContain('proxy listening');
    expect(await exists(v.socket)).toBe(false);
    expect(await exists(ready)).toBe(false);
  }, 60_000);
});

describe('the byte lane', () => {
  it('takes no request before the check has passed, nor after it failed', async () => {
    const v = victim();
    await instanceCreates(v.projectVolume);
    await malloryCreates(v.socketVolume);
    const { tenant, proxy } = await victimProxy(v);
    expect(laneRoutes(tenant)).toEqual([]);
    await expect(tenant.verifyInstanceVolumes(proxy.upstream)).rejects.toMatchObject({
      code: 'DOCKHAND_INSTANCE_VOLUME_TAKEN',
    });
    expect(laneRoutes(tenant)).toEqual([]);

    const w = victim();
    await instanceCreates(w.projectVolume, w.socketVolume);
    const own = await victimProxy(w);
    expect(laneRoutes(own.tenant)).toEqual([]);
    await own.tenant.verifyInstanceVolumes(own.proxy.upstream);
    expect(laneRoutes(own.tenant)).toEqual(['SystemPing', 'SystemPingHead', 'SystemVersion']);
  }, 60_000);

  it('is open from the very first request of a proxy that checked before listening', async () => {
    const v = victim();
    await instanceCreates(v.projectVolume, v.socketVolume);
    const lines: Record<string, unknown>[] = [];
    const tenant = workshopTenant({
      tenant: v.name,
      projectVolume: v.projectVolume,
      socketVolume: v.socketVolume,
    });
    const proxy = createProxy({
      upstream: ENGINE,
      middleware: [tenant],
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }),
      accessLog: true,
    });
    proxies.push(proxy);
    await tenant.verifyInstanceVolumes(proxy.upstream);
    await proxy.listen(v.socket);
    for (const path of ['/_ping', '/_ping', '/version', '/containers/json'])
      expect((await get(v.socket, path)).status).toBe(200);
    const carried = lines.filter((l) => l.msg === 'request').map((l) => [l.path, l.lane ?? false]);
    expect(carried).toEqual([
      ['/_ping', true],
      ['/_ping', true],
      ['/version', true],
      ['/containers/json', false],
    ]);
  }, 60_000);
});

describe('an instance whose volumes are its own', () => {
  it('serves its tenant, in process and from the CLI (which writes its ready file once it listens)', async () => {
    const v = victim();
    await instanceCreates(v.projectVolume, v.socketVolume, v.terminalVolume);
    const { tenant, proxy } = await victimProxy(v, [v.terminalVolume]);
    const ping = await get(v.socket, '/_ping');
    expect(ping.status, ping.body).toBe(200);
    const ps = await docker(`unix://${v.socket}`, ['ps']);
    expect(ps.code, ps.stderr).toBe(0);
    await tenant.verifyInstanceVolumes(proxy.upstream);
    await proxy.close();

    const ready = join(dir, `${v.name}.ready`);
    const cli = cliProxy(v, await writeConfig(v), ready);
    await eventually('the CLI proxy listens', async () => cli.output().includes('proxy listening'), 15_000);
    await eventually('the ready file is written', () => exists(ready), 5_000);
    const vol = await docker(`unix://${v.socket}`, ['volume', 'ls', '-q']);
    expect(vol.code, vol.stderr).toBe(0);
    // once the check has passed, what no middleware touches takes the byte lane again
    for (let i = 0; i < 2; i++) expect((await get(v.socket, '/_ping')).status).toBe(200);
    expect(cli.output()).toMatch(/"path":"\/_ping".*"lane":true/);
    cli.child.kill('SIGTERM');
    await cli.exited;
  }, 60_000);
});
