// Clients other than the docker CLI (dockerode, testcontainers-node, Python's docker SDK) and raw HTTP against
// a pass-through proxy: each must get what it gets from the daemon itself.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';
import { PassThrough, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureReaperImage, reaperEnv } from '../../../../fixtures/reaper/image.ts';
import { startSession } from '../../../../fixtures/reaper/session.ts';
import { cleanupLabel, ENGINE, startProxy, type TestProxy } from '../harness.ts';

const run = promisify(execFile);
const ENGINE_SOCKET = ENGINE.replace(/^unix:\/\//, '');

let proxy: TestProxy;
let label: string;
let viaProxy: Docker;
let engine: Docker;

beforeAll(async () => {
  proxy = await startProxy();
  label = proxy.label;
  viaProxy = new Docker({ socketPath: proxy.socket });
  engine = new Docker({ socketPath: ENGINE_SOCKET });
});

afterAll(async () => {
  try {
    // A reaper testcontainers started through this proxy cannot reach the engine once the proxy is gone.
    const reapers = await engine.listContainers({
      all: true,
      filters: { label: ['org.testcontainers.ryuk=true'] },
    });
    for (const r of reapers) {
      if (r.Mounts.some((m) => m.Source === proxy.socket)) {
        await engine
          .getContainer(r.Id)
          .remove({ force: true })
          .catch(() => {});
      }
    }
    await cleanupLabel(label);
  } finally {
    await proxy?.[Symbol.asyncDispose]();
  }
}, 60_000);

function labels(): Record<string, string> {
  return { 'dockhand.test': label };
}

function token(): string {
  return `tok-${randomUUID()}`;
}

/** Polls until check() returns a value, failing after timeout ms. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeout = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function collect(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

describe('dockerode', { timeout: 60_000 }, () => {
  test('ping answers OK', async () => {
    expect(String(await viaProxy.ping())).toBe('OK');
  });

  test('listContainers sees a labelled container, as the engine does', async () => {
    const container = await viaProxy.createContainer({
      Image: 'busybox:latest',
      Cmd: ['sleep', '300'],
      Labels: labels(),
    });
    await container.start();
    const filters = { label: [`dockhand.test=${label}`], id: [container.id] };
    const listed = await viaProxy.listContainers({ filters });
    expect(listed.map((c) => [c.Id, c.Image, c.State])).toEqual([
      [container.id, 'busybox:latest', 'running'],
    ]);
    expect(listed).toEqual(await engine.listContainers({ filters }));
    await container.remove({ force: true });
  });

  test('create, start, wait, logs and remove', async () => {
    const t = token();
    const container = await viaProxy.createContainer({
      Image: 'busybox:latest',
      Cmd: ['sh', '-c', `echo out-${t}; echo err-${t} >&2; exit 3`],
      Labels: labels(),
    });
    await container.start();
    expect(await container.wait()).toMatchObject({ StatusCode: 3 });
    const logs = (await container.logs({ stdout: true, stderr: true, follow: true })) as unknown as Readable;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    viaProxy.modem.demuxStream(logs, stdout, stderr);
    await once(logs, 'end');
    stdout.end();
    stderr.end();
    expect(await collect(stdout)).toBe(`out-${t}\n`);
    expect(await collect(stderr)).toBe(`err-${t}\n`);
    await container.remove();
    const gone = await container
      .inspect()
      .catch((err: { statusCode?: number; json?: { message?: string } }) => err);
    expect(gone).toMatchObject({
      statusCode: 404,
      json: { message: expect.stringMatching(/No such container/) },
    });
  });

  test('exec with a hijacked connection and stdin', async () => {
    const container = await viaProxy.createContainer({
      Image: 'busybox:latest',
      Cmd: ['sleep', '300'],
      Labels: labels(),
    });
    await container.start();
    const exec = await container.exec({
      Cmd: ['sh', '-c', 'cat; echo done >&2'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: true });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    viaProxy.modem.demuxStream(stream, stdout, stderr);
    const input = `${token()}\n${'y'.repeat(200_000)}\n`;
    stream.end(input);
    await once(stream, 'end');
    stdout.end();
    stderr.end();
    expect(await collect(stdout)).toBe(input);
    expect(await collect(stderr)).toBe('done\n');
    expect(await exec.inspect()).toMatchObject({ Running: false, ExitCode: 0 });
    await container.remove({ force: true });
  });

  test('image inspect matches the engine', async () => {
    const image = await viaProxy.getImage('busybox:latest').inspect();
    expect(image.RepoTags).toContain('busybox:latest');
    expect(image).toEqual(await engine.getImage('busybox:latest').inspect());
  });

  test('getEvents with a filter streams create and start', async () => {
    const mark = randomUUID();
    const events = (await viaProxy.getEvents({
      filters: { label: [`dockhand.events=${mark}`], type: ['container'] },
    })) as unknown as Readable;
    const actions: string[] = [];
    let buffered = '';
    const seen = new Promise<void>((resolve) => {
      events.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let nl = buffered.indexOf('\n');
        while (nl !== -1) {
          actions.push((JSON.parse(buffered.slice(0, nl)) as { Action: string }).Action);
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
        }
        if (actions.includes('start')) resolve();
      });
    });
    try {
      const container = await viaProxy.createContainer({
        Image: 'busybox:latest',
        Cmd: ['true'],
        Labels: { ...labels(), 'dockhand.events': mark },
      });
      await container.start();
      await seen;
      expect(actions.slice(0, 2)).toEqual(['create', 'start']);
    } finally {
      events.destroy();
    }
  });
});

describe('testcontainers-node', { timeout: 120_000 }, () => {
  let reaperImage: string;

  beforeAll(async () => {
    reaperImage = await ensureReaperImage({ env: { ...process.env, DOCKER_HOST: ENGINE } });
    Object.assign(process.env, reaperEnv(reaperImage), {
      DOCKER_HOST: proxy.dockerHost,
      TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
      // a reaper that reaches the engine through this file's proxy must not be joined by other sessions
      TESTCONTAINERS_RYUK_TEST_LABEL: 'true',
    });
    delete process.env.TESTCONTAINERS_RYUK_DISABLED;
  }, 180_000);

  test('GenericContainer starts, serves its mapped port, and stops, with the reaper on', async () => {
    const { GenericContainer } = await import('testcontainers');
    const startedAt = Date.now() - 1000;
    const t = token();
    const container = await new GenericContainer('busybox:latest')
      .withLabels(labels())
      .withCommand(['sh', '-c', `mkdir -p /www && echo ${t} > /www/index.html && httpd -f -p 80 -h /www`])
      .withExposedPorts(80)
      .start();
    try {
      const response = await fetch(`http://${container.getHost()}:${container.getMappedPort(80)}/`);
      expect(await response.text()).toBe(`${t}\n`);

      // the session's reaper is the fixture image and reaches the engine through this proxy
      const info = await engine.getContainer(container.getId()).inspect();
      const session = info.Config.Labels['org.testcontainers.session-id'];
      expect(session).toBeTruthy();
      const reapers = await engine.listContainers({
        filters: { label: ['org.testcontainers.ryuk=true', `org.testcontainers.session-id=${session}`] },
      });
      expect(reapers.map((r) => r.Image)).toEqual([reaperImage]);
      // testcontainers joins any running reaper on the engine; otherwise it started one that uses this proxy
      const reaper = reapers[0]!;
      if (!reaper.Mounts.some((m) => m.Source === proxy.socket)) {
        expect(reaper.Created * 1000, 'a reaper neither joined nor using this proxy').toBeLessThan(startedAt);
      }
    } finally {
      await container.stop();
    }
    const gone = await engine
      .getContainer(container.getId())
      .inspect()
      .catch((err: { statusCode?: number }) => err);
    expect(gone).toMatchObject({ statusCode: 404 });
  });

  test('a session’s reaper removes its container and network through the proxy when the session ends', async () => {
    const startedAt = Date.now() - 1000;
    const { child, started, exited, output } = startSession({
      ...process.env,
      TESTCONTAINERS_RYUK_RECONNECTION_TIMEOUT: '1s',
      TESTCONTAINERS_ENTRY: createRequire(import.meta.url).resolve('testcontainers'),
      TEST_LABELS: JSON.stringify(labels()),
    });
    try {
      const { containerId, networkId } = await started;
      const info = await engine.getContainer(containerId).inspect();
      expect(info.State.Status).toBe('running');
      const session = info.Config.Labels['org.testcontainers.session-id'];
      const [reaper] = await engine.listContainers({
        filters: { label: ['org.testcontainers.ryuk=true', `org.testcontainers.session-id=${session}`] },
      });
      expect(reaper?.Image, output()).toBe(reaperImage);
      child.stdin.end();
      expect(await exited, output()).toBe(0);
      if (reaper!.Mounts.some((m) => m.Source === proxy.socket)) {
        // the reaper is this session's own and reaches the engine only through the proxy
        await eventually('the reaper removed the container and network', async () => {
          const containers = await engine.listContainers({ all: true, filters: { id: [containerId] } });
          const networks = await engine.listNetworks({ filters: { id: [networkId] } });
          return containers.length === 0 && networks.length === 0 ? true : undefined;
        });
        await eventually('the reaper exited and was removed', async () => {
          const left = await engine.listContainers({ all: true, filters: { id: [reaper!.Id] } });
          return left.length === 0 ? true : undefined;
        });
      } else {
        // the session joined a reaper another session on this engine started earlier
        expect(reaper!.Created * 1000).toBeLessThan(startedAt);
        await engine.getContainer(containerId).remove({ force: true });
        await engine.getNetwork(networkId).remove();
      }
    } finally {
      child.kill();
    }
  });
});

describe('python3-docker', { timeout: 60_000 }, () => {
  test('DockerClient pings, runs a container and reads its output', async () => {
    const t = token();
    const script = `
import docker, json, sys
c = docker.DockerClient(base_url=sys.argv[1])
out = c.containers.run('busybox:latest', ['echo', sys.argv[2]], labels={'dockhand.test': sys.argv[3]}, remove=True)
print(json.dumps({'ping': c.ping(), 'api': c.version()['ApiVersion'], 'out': out.decode()}))
`;
    const { stdout } = await run('python3', ['-c', script, proxy.dockerHost, t, label]);
    const daemon = await engine.version();
    expect(JSON.parse(stdout)).toEqual({ ping: true, api: daemon.ApiVersion, out: `${t}\n` });
  });
});

/** One raw HTTP/1.1 request over a unix socket, following redirects the way Go's and curl -L's clients do. */
async function raw(
  socketPath: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string | undefined; body: string }> {
  for (let hops = 0; ; hops++) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ socketPath, path, headers, agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
    const body = await collect(res);
    const location = res.headers.location;
    if (res.statusCode! >= 300 && res.statusCode! < 400 && location && hops < 5) {
      path = location;
      continue;
    }
    return { status: res.statusCode!, contentType: res.headers['content-type'], body };
  }
}

describe('raw Engine API paths', { timeout: 30_000 }, () => {
  /** Compares the proxy's answer with the engine's; lists are compared by shape, as other tests change them. */
  async function compare(path: string) {
    const [p, e] = await Promise.all([raw(proxy.socket, path), raw(ENGINE_SOCKET, path)]);
    expect({ status: p.status, contentType: p.contentType }, path).toEqual({
      status: e.status,
      contentType: e.contentType,
    });
    const [pj, ej] = [JSON.parse(p.body), JSON.parse(e.body)];
    expect(Array.isArray(pj), path).toBe(Array.isArray(ej));
    return { proxy: pj, engine: ej };
  }

  test('/v1.41/containers/json lists containers', async () => {
    const { proxy: list } = await compare('/v1.41/containers/json');
    expect(Array.isArray(list)).toBe(true);
  });

  test('//containers/json answers like the daemon', async () => {
    // the daemon redirects (301) to /containers/json; the proxy canonicalises the path and answers at once
    const { proxy: list } = await compare('//containers/json');
    expect(Array.isArray(list)).toBe(true);
  });

  test('/containers/json/ answers like the daemon', async () => {
    await compare('/containers/json/');
  });

  test('/networks/ lists the same networks', async () => {
    const { proxy: nets, engine: daemonNets } = await compare('/networks/');
    const names = (list: { Name: string }[]) => list.map((n) => n.Name);
    expect(names(nets)).toEqual(expect.arrayContaining(['bridge', 'host', 'none']));
    expect(names(daemonNets)).toEqual(expect.arrayContaining(['bridge', 'host', 'none']));
  });

  test('an unknown path gives the daemon’s 404', async () => {
    const path = `/v1.41/no-such-endpoint-${randomUUID()}`;
    const [p, e] = await Promise.all([raw(proxy.socket, path), raw(ENGINE_SOCKET, path)]);
    expect(p).toEqual(e);
    expect(p.status).toBe(404);
    expect(JSON.parse(p.body)).toEqual({ message: 'page not found' });
  });

  test('an Upgrade on /containers/json is refused with a 400 JSON message', async () => {
    const res = await raw(proxy.socket, '/containers/json', { Connection: 'Upgrade', Upgrade: 'tcp' });
    expect(res.status).toBe(400);
    expect(res.contentType).toBe('application/json');
    const body = JSON.parse(res.body) as { message: string };
    expect(Object.keys(body)).toEqual(['message']);
    expect(body.message).toMatch(/upgrade/i);
  });
});
