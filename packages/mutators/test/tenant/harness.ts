// Helpers for the tenant tests: a workshop tenant (its volumes, its project directory and an in-process proxy
// listening inside its socket volume, as the workshop's proxy container does) on the shared engine.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
// the proxy from @dockhand/core's build, as the mutators use it: its DockhandError is theirs
import { createProxy, type DockerProxy } from '@dockhand/core';
import { docker, ENGINE } from '../../../core/test/harness.ts';
import { type WorkshopTenantOptions, workshopTenant } from '../../src/index.ts';

export { docker, ENGINE };

const run = promisify(execFile);
const engineEnv = { ...process.env, DOCKER_HOST: ENGINE };

/** A short random suffix. */
export const unique = (): string => randomBytes(4).toString('hex');

/** Runs the docker CLI straight on the engine; rejects on a non-zero exit. */
export async function onEngine(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { env: engineEnv, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** `docker inspect` straight on the engine. */
export async function inspectOnEngine<T = Record<string, unknown>>(kind: string, ref: string): Promise<T> {
  return JSON.parse(await onEngine(kind, 'inspect', ref))[0] as T;
}

/** The engine's API version, e.g. `1.45`. */
export async function engineApiVersion(): Promise<string> {
  return onEngine('version', '--format', '{{.Server.APIVersion}}');
}

/** Whether the engine mounts volume subpaths (API >= 1.45); older engines get the documented fallback. */
export async function engineHasSubpaths(): Promise<boolean> {
  const [major = 0, minor = 0] = (await engineApiVersion()).split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 45);
}

/** One workshop tenant on the shared engine. */
export interface Tenant extends AsyncDisposable {
  /** The tenant's name, `t-<random>`: the value of its `dockhand.tenant` label. */
  readonly name: string;
  /** The `dockhand.test` label value of everything this tenant's test creates. */
  readonly testLabel: string;
  readonly projectVolume: string;
  readonly socketVolume: string;
  /** The tenant's own network (the preset's `network`), where its containers go in place of `bridge`. */
  readonly network: string;
  /** The project volume's and the socket volume's mountpoints on the engine host. */
  readonly projectMountpoint: string;
  readonly socketMountpoint: string;
  /** The IDE's project directory: a temp dir on the host. */
  readonly projectDir: string;
  /** `unix://<socket volume>/docker.sock`. */
  readonly dockerHost: string;
  /** The proxy's socket path. */
  readonly socket: string;
  readonly proxy: DockerProxy | undefined;
  /** The docker CLI through this tenant's proxy. */
  docker(args: string[], options?: Parameters<typeof docker>[2]): ReturnType<typeof docker>;
  /** Writes files into the project volume (paths relative to its root). */
  putFiles(files: Record<string, string>): Promise<void>;
}

/**
 * Creates a tenant: its project and socket volumes (straight on the engine, labelled `dockhand.test`), a temp
 * project directory, and (unless `proxy: false`) an in-process proxy with `workshopTenant()` listening at
 * `<socket volume>/docker.sock`.
 */
export async function createTenant(
  options: { proxy?: boolean; extra?: Partial<WorkshopTenantOptions> } = {},
): Promise<Tenant> {
  const name = `t-${unique()}`;
  const testLabel = `mutators-${name}`;
  const projectVolume = `${name}_project`;
  const socketVolume = `${name}_socket`;
  for (const v of [projectVolume, socketVolume])
    await onEngine('volume', 'create', '--label', `dockhand.test=${testLabel}`, v);
  // the tenant's own network, in place of the engine's bridge (the workshop instance's network)
  const network = `${name}_default`;
  await onEngine('network', 'create', '--label', `dockhand.test=${testLabel}`, network);
  const mountpoint = async (v: string) =>
    (await inspectOnEngine<{ Mountpoint: string }>('volume', v)).Mountpoint;
  const projectMountpoint = await mountpoint(projectVolume);
  const socketMountpoint = await mountpoint(socketVolume);
  // realpath: the docker CLI resolves relative binds against the real cwd
  const projectDir = await realpath(await mkdtemp(join(tmpdir(), `dockhand-${name}-project-`)));
  const socket = join(socketMountpoint, 'docker.sock');
  let proxy: DockerProxy | undefined;
  if (options.proxy !== false) {
    proxy = createProxy({
      upstream: ENGINE,
      middleware: [
        workshopTenant({
          tenant: name,
          projectVolume,
          socketVolume,
          projectDir,
          // engines without subpaths (API < 1.45): the fallback, a bind of the directory in the project
          // volume's mountpoint checked through projectMount, which the walk-through shows there (unsafe with
          // attendees who would swap a checked directory for a symlink: test/attacks refuses it by default)
          projectMount: projectMountpoint,
          unsafeOldEngineBinds: true,
          network,
          // the operator's image for the container that makes a bind's missing directory (busybox: never one a
          // tenant made, since every image a tenant builds is its own)
          helperImage: 'busybox:latest',
          ...options.extra,
        }),
      ],
    });
    await proxy.listen(socket);
  }
  const dockerHost = `unix://${socket}`;
  return {
    name,
    testLabel,
    projectVolume,
    socketVolume,
    network,
    projectMountpoint,
    socketMountpoint,
    projectDir,
    dockerHost,
    socket,
    proxy,
    docker: (args, opts) => docker(dockerHost, args, opts),
    async putFiles(files) {
      const script = Object.entries(files)
        .map(([path, content]) => {
          const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
          return `mkdir -p '/v/${dir}' && printf '%s' '${content.replaceAll("'", "'\\''")}' > '/v/${path}'`;
        })
        .join(' && ');
      await onEngine(
        'run',
        '--rm',
        '--label',
        `dockhand.test=${testLabel}`,
        '-v',
        `${projectVolume}:/v`,
        'busybox:latest',
        'sh',
        '-c',
        script,
      );
    },
    async [Symbol.asyncDispose]() {
      await proxy?.close();
      await cleanupTenant(name, testLabel);
      await rm(projectDir, { recursive: true, force: true });
    },
  };
}

/** Removes every container, network and volume carrying the tenant's label or the test label, straight on the engine. */
export async function cleanupTenant(name: string, testLabel: string): Promise<void> {
  for (const filter of [`label=dockhand.tenant=${name}`, `label=dockhand.test=${testLabel}`]) {
    const ids = async (...args: string[]) =>
      (await onEngine(...args, '--filter', filter)).split('\n').filter(Boolean);
    const containers = await ids('ps', '-aq');
    if (containers.length) await onEngine('rm', '-fv', ...containers).catch(() => {});
    const networks = await ids('network', 'ls', '-q');
    if (networks.length) await onEngine('network', 'rm', ...networks).catch(() => {});
    const volumes = await ids('volume', 'ls', '-q');
    if (volumes.length) await onEngine('volume', 'rm', '-f', ...volumes).catch(() => {});
  }
  await onEngine('volume', 'rm', '-f', `${name}_project`, `${name}_socket`).catch(() => {});
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Polls until `check()` is true, failing with `what` after `timeout` ms. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeout = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Removes the engine's build cache records whose description holds `marker` (a test's unique text in its build
 * steps), by id, straight on the engine: BuildKit's cache carries no labels, and the engine's other records are
 * left alone.
 */
export async function pruneBuildCache(marker: string): Promise<void> {
  // a record another one was made from, or one an image or a build has just let go of, goes in a later round
  for (let round = 0; round < 10; round++) {
    const df = JSON.parse(
      await onEngine('system', 'df', '--format', '{{json .}}', '-v').catch(() => '{}'),
    ) as {
      BuildCache?: { ID: string; Description: string }[] | null;
    };
    const ids = (df.BuildCache ?? []).filter((r) => r.Description.includes(marker)).map((r) => r.ID);
    if (ids.length === 0) return;
    for (const id of ids) await onEngine('builder', 'prune', '-f', '--filter', `id=${id}`).catch(() => {});
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A server on the host's loopback only, as a registry the engine could reach and containers could not. */
export interface HostOnlyServer extends AsyncDisposable {
  readonly port: number;
  /** The requests it has seen. */
  readonly seen: () => number;
}

/** Starts a {@link HostOnlyServer} on 127.0.0.1 that answers every request with 404. */
export async function hostOnlyServer(): Promise<HostOnlyServer> {
  const { createServer } = await import('node:http');
  let seen = 0;
  const server = createServer((_req, res) => {
    seen++;
    res.statusCode = 404;
    res.end('host-only');
  });
  // a TLS hello is not HTTP: count it too, as a connection the engine made
  server.on('connection', () => {
    seen++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    seen: () => seen,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
