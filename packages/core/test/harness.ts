import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createProxy, type DockerProxy, type Middleware, type ProxyOptions } from '../src/index.ts';

const run = promisify(execFile);

/** The engine the tests run against. */
export const ENGINE = process.env.DOCKHAND_TEST_ENGINE ?? 'unix:///var/run/docker.sock';

/** A proxy on a temporary unix socket, with the DOCKER_HOST that reaches it. */
export interface TestProxy extends AsyncDisposable {
  proxy: DockerProxy;
  socket: string;
  dockerHost: string;
  /** A label value unique to this proxy, for everything the test creates. */
  label: string;
}

/** Starts a proxy in this process on a fresh socket. */
export async function startProxy(
  middleware: Middleware[] = [],
  options: Omit<ProxyOptions, 'upstream' | 'middleware'> = {},
): Promise<TestProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-test-'));
  const socket = join(dir, 'docker.sock');
  const proxy = createProxy({ ...options, upstream: ENGINE, middleware });
  await proxy.listen(socket);
  const label = `core-${randomUUID().slice(0, 8)}`;
  return {
    proxy,
    socket,
    dockerHost: `unix://${socket}`,
    label,
    async [Symbol.asyncDispose]() {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the real docker CLI against a DOCKER_HOST; rejects on a non-zero exit. */
export async function docker(
  dockerHost: string,
  args: string[],
  options: {
    input?: string | Buffer;
    cwd?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    /** Called with the standard error read so far, each time more arrives (to act while a command runs). */
    onStderr?: (text: string) => void;
  } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, {
      cwd: options.cwd,
      env: { ...process.env, DOCKER_HOST: dockerHost, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => {
      err.push(c);
      options.onStderr?.(Buffer.concat(err).toString());
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code: code ?? -1,
      });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Removes every container, volume, network and image carrying `dockhand.test=<label>`, straight on the engine. */
export async function cleanupLabel(label: string): Promise<void> {
  const f = `label=dockhand.test=${label}`;
  const ids = async (args: string[]) =>
    (await run('docker', [...args, '--filter', f], { env: { ...process.env, DOCKER_HOST: ENGINE } })).stdout
      .split('\n')
      .filter(Boolean);
  const env = { ...process.env, DOCKER_HOST: ENGINE };
  const containers = await ids(['ps', '-aq']);
  if (containers.length) await run('docker', ['rm', '-fv', ...containers], { env }).catch(() => {});
  const networks = await ids(['network', 'ls', '-q']);
  if (networks.length) await run('docker', ['network', 'rm', ...networks], { env }).catch(() => {});
  const volumes = await ids(['volume', 'ls', '-q']);
  if (volumes.length) await run('docker', ['volume', 'rm', '-f', ...volumes], { env }).catch(() => {});
  const images = await ids(['image', 'ls', '-q']);
  if (images.length) await run('docker', ['image', 'rm', '-f', ...images], { env }).catch(() => {});
}
