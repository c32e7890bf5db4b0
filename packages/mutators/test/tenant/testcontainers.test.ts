// testcontainers-node with its reaper on, through a workshopTenant proxy, as `npm run integration-test` runs in
// the workshop's IDE: there the proxy's socket is mounted at /var/run/docker.sock, which is what testcontainers
// hands its reaper (TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE says so here, where the test process reaches the
// socket at its path inside the socket volume).
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureReaperImage, reaperEnv } from '../../../../fixtures/reaper/image.ts';
import { type Session, startSession } from '../../../../fixtures/reaper/session.ts';
import { tenantLoopback } from '../../src/index.ts';
import {
  createTenant,
  engineHasSubpaths,
  eventually,
  inspectOnEngine,
  onEngine,
  type Tenant,
} from './harness.ts';

let t: Tenant;
let image: string;
let child: ChildProcess | undefined;
let sessionId: string | undefined;

beforeAll(async () => {
  image = await ensureReaperImage();
  t = await createTenant();
}, 180_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  // if testcontainers fell back to another socket, what it made there carries no tenant label
  if (sessionId) {
    const f = `label=org.testcontainers.session-id=${sessionId}`;
    const cs = (await onEngine('ps', '-aq', '--filter', f)).split('\n').filter(Boolean);
    if (cs.length) await onEngine('rm', '-fv', ...cs).catch(() => {});
    const ns = (await onEngine('network', 'ls', '-q', '--filter', f)).split('\n').filter(Boolean);
    if (ns.length) await onEngine('network', 'rm', ...ns).catch(() => {});
  }
  await t?.[Symbol.asyncDispose]();
}, 120_000);

/** Starts the session through the tenant's proxy and resolves with what it printed. */
function startTenantSession(): Promise<Session> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env))
    if (k.startsWith('TESTCONTAINERS_') || k.startsWith('RYUK_')) delete env[k];
  const session = startSession({
    ...env,
    ...reaperEnv(image),
    DOCKER_HOST: t.dockerHost,
    TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE: '/var/run/docker.sock',
    // the proxy publishes the tenant's ports on its own loopback address, where this process (in a container, so
    // testcontainers would otherwise take the bridge gateway for the host) reaches them; in the workshop's IDE,
    // the forwarder makes them reachable on localhost
    TESTCONTAINERS_HOST_OVERRIDE: tenantLoopback(t.name),
    TESTCONTAINERS_RYUK_RECONNECTION_TIMEOUT: '1s',
    TESTCONTAINERS_ENTRY: createRequire(import.meta.url).resolve('testcontainers'),
    TEST_LABELS: JSON.stringify({ 'dockhand.test': t.testLabel }),
  });
  child = session.child;
  return session.started;
}

it('lets a tool in a container inspect the default bridge network (testcontainers does, to find the gateway)', async () => {
  // testcontainers in a container (the workshop IDE is one; so is this test's host: /.dockerenv) reads the
  // bridge network's gateway; a 404 makes it drop DOCKER_HOST and try the next socket
  const out = await t.docker(['network', 'inspect', '--format', '{{.Name}} {{len .IPAM.Config}}', 'bridge']);
  expect(out.stderr).toBe('');
  expect(out.stdout.trim()).toMatch(/^bridge [1-9]/);
});

it('starts, uses and reaps a container, with its reaper proxied too; everything carries the tenant label', async () => {
  const session = await startTenantSession();
  expect(session).toMatchObject({ exec: 'hello from the session\n', exitCode: 0 });

  const c = await inspectOnEngine<{ Config: { Labels: Record<string, string> } }>(
    'container',
    session.containerId,
  );
  sessionId = c.Config.Labels['org.testcontainers.session-id']!;
  expect(c.Config.Labels['dockhand.tenant']).toBe(t.name);
  const n = await inspectOnEngine<{ Labels: Record<string, string> }>('network', session.networkId);
  expect(n.Labels['dockhand.tenant']).toBe(t.name);

  // the reaper is the tenant's, and its docker socket is the proxy's
  const reaperId = await onEngine(
    'ps',
    '-q',
    '--no-trunc',
    '--filter',
    `name=testcontainers-ryuk-${sessionId}`,
  );
  expect(reaperId).toMatch(/^[0-9a-f]{64}$/);
  const reaper = await inspectOnEngine<{
    Config: { Labels: Record<string, string>; Image: string };
    Mounts: { Type: string; Name?: string; Source: string; Destination: string }[];
    NetworkSettings: {
      Networks: Record<string, unknown>;
      Ports: Record<string, { HostIp: string }[] | null>;
    };
  }>('container', reaperId);
  expect(reaper.Config.Image).toBe(image);
  // on the tenant's own network, its port on the tenant's own loopback address: no other tenant's container
  // reaches it to give it orders (found by review, stop 20)
  expect(Object.keys(reaper.NetworkSettings.Networks)).toEqual([t.network]);
  const bindings = Object.values(reaper.NetworkSettings.Ports).flatMap((b) => b ?? []);
  expect(bindings.length).toBeGreaterThan(0);
  for (const b of bindings) expect(b.HostIp).toBe(tenantLoopback(t.name));
  expect(reaper.Config.Labels['dockhand.tenant']).toBe(t.name);
  const sock = reaper.Mounts.find((m) => m.Destination === '/var/run/docker.sock');
  if (await engineHasSubpaths()) expect(sock).toMatchObject({ Type: 'volume', Name: t.socketVolume });
  else expect(sock).toMatchObject({ Type: 'bind', Source: `${t.socketMountpoint}/docker.sock` });

  // everything of the session on the engine is the tenant's
  for (const kind of ['ps -aq', 'network ls -q', 'volume ls -q']) {
    const ids = (
      await onEngine(...kind.split(' '), '--filter', `label=org.testcontainers.session-id=${sessionId}`)
    )
      .split('\n')
      .filter(Boolean);
    for (const id of ids) {
      const obj = await inspectOnEngine<{
        Labels?: Record<string, string>;
        Config?: { Labels: Record<string, string> };
      }>(kind.split(' ')[0] === 'ps' ? 'container' : kind.split(' ')[0]!, id);
      expect((obj.Config?.Labels ?? obj.Labels)?.['dockhand.tenant']).toBe(t.name);
    }
  }

  // the session ends: the reaper removes the container and the network, through the proxy, then itself
  child!.stdin!.end();
  const gone = async (args: string[]) => {
    try {
      await onEngine(...args);
      return false;
    } catch {
      return true;
    }
  };
  await eventually(
    'the reaper removed the container',
    () => gone(['container', 'inspect', session.containerId]),
    60_000,
  );
  await eventually(
    'the reaper removed the network',
    () => gone(['network', 'inspect', session.networkId]),
    30_000,
  );
  await eventually('the reaper is gone', () => gone(['container', 'inspect', reaperId]), 30_000);
}, 150_000);
