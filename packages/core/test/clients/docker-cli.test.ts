// The real docker CLI (with its buildx and compose plugins) against a pass-through proxy: every command must
// behave as it does against the daemon itself.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Middleware, type OperationId, on } from '../../src/index.ts';
import { cleanupLabel, docker, ENGINE, startProxy, type TestProxy } from '../harness.ts';

/** Every request the proxy served: its operation, and whether the engine has answered it yet. */
interface Seen {
  operation: string;
  answered: boolean;
}
const seen: Seen[] = [];
const record: Middleware = async (ctx, next) => {
  const entry: Seen = { operation: ctx.operation ?? `unknown ${ctx.method} ${ctx.path}`, answered: false };
  seen.push(entry);
  await next();
  entry.answered = true;
};

let proxy: TestProxy;
let label: string;
let work: string;
/** A docker config directory of its own, so that no context or current builder of the machine interferes. */
let config: string;
/** Image tags made on existing images (not labelled): untagged in afterAll. */
const tags = new Set<string>();

/** The operations the volume, network and image subcommands must have used. */
const OBJECT_OPS: OperationId[] = [
  'VolumeCreate',
  'VolumeDelete',
  'NetworkCreate',
  'NetworkDelete',
  'ImageTag',
  'ImageDelete',
];
/** The operations the tests below check were used: the byte-lane run records only these, in the pipeline. */
const CHECKED: OperationId[] = [
  'SystemVersion',
  'SystemInfo',
  'SystemEvents',
  'ContainerAttach',
  'PutContainerArchive',
  'ContainerArchive',
  'Session',
  'Grpc',
  'ImageBuild',
  ...OBJECT_OPS,
];

type Options = Parameters<typeof docker>[2];

/** Runs the docker CLI through the proxy. */
function cli(args: string[], options: Options = {}) {
  return docker(proxy.dockerHost, args, { ...options, env: { DOCKER_CONFIG: config, ...options?.env } });
}

/** Runs the docker CLI through the proxy and returns its stdout; fails the test on a non-zero exit. */
async function ok(args: string[], options: Options = {}): Promise<string> {
  const r = await cli(args, options);
  expect(r.code, `docker ${args.join(' ')} exited ${r.code}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Runs the docker CLI straight on the engine. */
function direct(args: string[], options: Options = {}) {
  return docker(ENGINE, args, { ...options, env: { DOCKER_CONFIG: config, ...options?.env } });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function token(): string {
  return `tok-${randomUUID()}`;
}

function labelArgs(): string[] {
  return ['--label', `dockhand.test=${label}`];
}

function operations(): string[] {
  return seen.map((s) => s.operation);
}

/** Polls until check() returns a value, failing with what it last threw after timeout ms. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeout = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}: ${String(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

// Twice: every request through the pipeline (a middleware on every route), and with the middleware on the
// checked routes only, so that the rest take the proxy's byte lane and connections move from it to the pipeline.
describe.each([
  { lane: 'the pipeline', middleware: (): Middleware[] => [record] },
  { lane: 'the byte lane', middleware: (): Middleware[] => [on(CHECKED, record)] },
])('docker CLI through the pass-through proxy, on $lane', { timeout: 120_000 }, ({ middleware }) => {
  beforeAll(async () => {
    seen.length = 0;
    proxy = await startProxy(middleware());
    label = proxy.label;
    work = await mkdtemp(join(tmpdir(), 'dockhand-clients-cli-'));
    config = join(work, 'docker-config');
    await mkdir(config);
  });

  afterAll(async () => {
    try {
      for (const tag of tags) await docker(ENGINE, ['image', 'rm', tag], { env: { DOCKER_CONFIG: config } });
      tags.clear();
      await cleanupLabel(label);
    } finally {
      await proxy?.[Symbol.asyncDispose]();
      await rm(work, { recursive: true, force: true });
    }
  }, 120_000);

  test('version shows the same server and API version as the daemon', async () => {
    const out = await ok(['version']);
    const daemon = JSON.parse((await direct(['version', '--format', '{{json .Server}}'])).stdout) as {
      Version: string;
      ApiVersion: string;
    };
    expect(daemon.ApiVersion).toMatch(/^1\.\d+$/);
    const server = out.slice(out.indexOf('Server:'));
    expect(server).toMatch(new RegExp(`API version:\\s+${escapeRegExp(daemon.ApiVersion)} `));
    expect(server).toMatch(new RegExp(`Version:\\s+${escapeRegExp(daemon.Version)}\\n`));
    expect(operations()).toContain('SystemVersion');
  });

  test('info describes the same daemon', async () => {
    const viaProxy = JSON.parse(await ok(['info', '--format', '{{json .}}'])) as Record<string, unknown>;
    const daemon = JSON.parse((await direct(['info', '--format', '{{json .}}'])).stdout) as Record<
      string,
      unknown
    >;
    expect(viaProxy.ID).toBeTruthy();
    for (const key of ['ID', 'Name', 'ServerVersion', 'Driver', 'OperatingSystem', 'NCPU', 'MemTotal']) {
      expect(viaProxy[key], key).toEqual(daemon[key]);
    }
    expect(operations()).toContain('SystemInfo');
  });

  test('ps lists a running container and images lists busybox', async () => {
    const id = (await ok(['run', '-d', ...labelArgs(), 'busybox:latest', 'sleep', '300'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await ok([
      'ps',
      '--no-trunc',
      '--filter',
      `label=dockhand.test=${label}`,
      '--format',
      '{{.ID}} {{.Image}} {{.Status}}',
    ]);
    expect(ps).toMatch(new RegExp(`^${id} busybox:latest Up`, 'm'));
    const images = await ok([
      'images',
      'busybox',
      '--no-trunc',
      '--format',
      '{{.Repository}}:{{.Tag}} {{.ID}}',
    ]);
    const daemon = await direct([
      'images',
      'busybox',
      '--no-trunc',
      '--format',
      '{{.Repository}}:{{.Tag}} {{.ID}}',
    ]);
    expect(images).toMatch(/^busybox:latest sha256:[0-9a-f]{64}$/m);
    expect(images).toBe(daemon.stdout);
    await ok(['rm', '-f', id]);
    expect(await ok(['ps', '-aq', '--filter', `id=${id}`])).toBe('');
  });

  test('run --rm prints the output and removes the container', async () => {
    const t = token();
    const name = `dockhand-${label}-rm`;
    expect(await ok(['run', '--rm', '--name', name, ...labelArgs(), 'busybox:latest', 'echo', t])).toBe(
      `${t}\n`,
    );
    expect((await direct(['ps', '-aq', '--filter', `name=^${name}$`])).stdout).toBe('');
  });

  test('run -d with a published port serves HTTP on the host', async () => {
    const t = token();
    const id = (
      await ok([
        'run',
        '-d',
        ...labelArgs(),
        '-p',
        '127.0.0.1::80',
        'busybox:latest',
        'sh',
        '-c',
        `mkdir -p /www && echo ${t} > /www/index.html && httpd -f -p 80 -h /www`,
      ])
    ).trim();
    const port = (await ok(['port', id, '80/tcp'])).trim();
    expect(port).toMatch(/^127\.0\.0\.1:\d+$/);
    const body = await eventually('httpd answers', async () => {
      const res = await fetch(`http://${port}/`);
      return res.ok ? res.text() : undefined;
    });
    expect(body).toBe(`${t}\n`);
    await ok(['rm', '-f', id]);
  });

  test('exec -i gets stdin through and its output back', async () => {
    const id = (await ok(['run', '-d', ...labelArgs(), 'busybox:latest', 'sleep', '300'])).trim();
    const input = `${token()}\nsecond line\n${'x'.repeat(100_000)}\n`;
    expect(await ok(['exec', '-i', id, 'cat'], { input })).toBe(input);
    const r = await cli(['exec', id, 'sh', '-c', 'echo to-stderr >&2; exit 4']);
    expect(r).toMatchObject({ code: 4, stderr: 'to-stderr\n', stdout: '' });
    await ok(['rm', '-f', id]);
  });

  test('run -i passes stdin and returns the exit code', async () => {
    const input = `${token()}\n`;
    const r = await cli(['run', '--rm', '-i', ...labelArgs(), 'busybox:latest', 'sh', '-c', 'cat; exit 7'], {
      input,
    });
    expect(r.stdout).toBe(input);
    expect(r.code).toBe(7);
  });

  test('attach sends stdin to a running container and sees its output', async () => {
    const id = (
      await ok([
        'run',
        '-d',
        '-i',
        ...labelArgs(),
        'busybox:latest',
        'sh',
        '-c',
        'while read x; do echo got:$x; if [ "$x" = quit ]; then exit 3; fi; done',
      ])
    ).trim();
    // The engine drops output written before the attach is wired up (the daemon does so too), so say hello
    // until the answer comes back, then quit.
    const attach = spawn('docker', ['attach', id], {
      env: { ...process.env, DOCKER_HOST: proxy.dockerHost, DOCKER_CONFIG: config },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    attach.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    attach.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const exited = once(attach, 'exit');
    try {
      await eventually('the container answers through attach', async () => {
        if (out.includes('got:hello\n')) return true;
        attach.stdin.write('hello\n');
        return undefined;
      });
      attach.stdin.write('quit\n'); // stdin stays open: the engine may drop output once it sees EOF
      const [code] = await exited;
      expect(out, err).toMatch(/^(got:hello\n)+got:quit\n$/);
      expect(code).toBe(3);
    } finally {
      attach.kill('SIGKILL');
    }
    expect(operations()).toContain('ContainerAttach');
  });

  test('logs -f follows until the container exits, with every line', async () => {
    const id = (
      await ok([
        'run',
        '-d',
        ...labelArgs(),
        'busybox:latest',
        'sh',
        '-c',
        'for i in 1 2 3 4 5 6; do echo line$i; sleep 0.3; done; echo err-line >&2',
      ])
    ).trim();
    const r = await cli(['logs', '-f', id], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('line1\nline2\nline3\nline4\nline5\nline6\n');
    expect(r.stderr).toBe('err-line\n');
    const state = await ok(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id]);
    expect(state.trim()).toBe('exited 0');
  });

  test('cp copies 100 MiB both ways intact', async () => {
    const big = join(work, 'big.bin');
    const hash = createHash('sha256');
    const out = createWriteStream(big);
    for (let i = 0; i < 100; i++) {
      const chunk = randomBytes(1024 * 1024);
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const sum = hash.digest('hex');

    const id = (await ok(['run', '-d', ...labelArgs(), 'busybox:latest', 'sleep', '300'])).trim();
    await ok(['cp', big, `${id}:/tmp/big.bin`]);
    expect(await ok(['exec', id, 'sha256sum', '/tmp/big.bin'])).toBe(`${sum}  /tmp/big.bin\n`);
    const back = join(work, 'back');
    await mkdir(back);
    await ok(['cp', `${id}:/tmp/big.bin`, back]);
    expect(await sha256File(join(back, 'big.bin'))).toBe(sum);
    await rm(big);
    await rm(back, { recursive: true });
    await ok(['rm', '-f', id]);
    expect(operations()).toEqual(expect.arrayContaining(['PutContainerArchive', 'ContainerArchive']));
  });

  describe('build', () => {
    async function context(kind: string, t: string): Promise<string> {
      const dir = join(work, `build-${kind}`);
      await mkdir(dir);
      await writeFile(join(dir, 'payload.txt'), `${t}\n`);
      await writeFile(
        join(dir, 'Dockerfile'),
        [
          'FROM busybox:latest',
          `LABEL dockhand.test=${label} dockhand.builder=${kind}`,
          'COPY payload.txt /payload.txt',
          `RUN echo built-by-${kind} >> /payload.txt`,
          'CMD ["cat", "/payload.txt"]',
          '',
        ].join('\n'),
      );
      return dir;
    }

    test('BuildKit (buildx, default builder) builds through /session and /grpc', async () => {
      const t = token();
      const tag = `dockhand-test/clients-${label}:buildkit`;
      const from = seen.length;
      await ok(['build', '--progress=plain', '-t', tag, await context('buildkit', t)], {
        env: { DOCKER_BUILDKIT: '1', BUILDX_BUILDER: 'default' },
      });
      const used = seen.slice(from).map((s) => s.operation);
      expect(used).toEqual(expect.arrayContaining(['Session', 'Grpc']));
      expect(await ok(['run', '--rm', ...labelArgs(), tag])).toBe(`${t}\nbuilt-by-buildkit\n`);
      const labels = JSON.parse(await ok(['image', 'inspect', '--format', '{{json .Config.Labels}}', tag]));
      expect(labels).toMatchObject({ 'dockhand.test': label, 'dockhand.builder': 'buildkit' });
    });

    test('the classic builder (DOCKER_BUILDKIT=0) builds', async () => {
      const t = token();
      const tag = `dockhand-test/clients-${label}:classic`;
      const from = seen.length;
      const r = await cli(['build', '-t', tag, await context('classic', t)], {
        env: { DOCKER_BUILDKIT: '0' },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Successfully tagged/);
      const used = seen.slice(from).map((s) => s.operation);
      expect(used).toContain('ImageBuild');
      expect(used).not.toContain('Session');
      expect(await ok(['run', '--rm', ...labelArgs(), tag])).toBe(`${t}\nbuilt-by-classic\n`);
      const labels = JSON.parse(await ok(['image', 'inspect', '--format', '{{json .Config.Labels}}', tag]));
      expect(labels).toMatchObject({ 'dockhand.test': label, 'dockhand.builder': 'classic' });
    });
  });

  test('compose up, ps, logs and down on a two-service project', async () => {
    const t = token();
    const project = `dockhand-${label}`;
    const dir = join(work, 'compose');
    await mkdir(dir);
    await writeFile(
      join(dir, 'compose.yaml'),
      `services:
  web:
    image: busybox:latest
    labels: { dockhand.test: ${label} }
    command: ["sh", "-c", "mkdir -p /www && echo ${t} > /www/index.html && httpd -f -p 80 -h /www"]
  client:
    image: busybox:latest
    labels: { dockhand.test: ${label} }
    depends_on: [web]
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 0.3; done; echo fetched; sleep 300"]
networks:
  default:
    labels: { dockhand.test: ${label} }
`,
    );
    const compose = (args: string[]) => ok(['compose', '-p', project, ...args], { cwd: dir });
    try {
      await compose(['up', '-d']);
      const ps = (await compose(['ps', '--format', 'json']))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { Service: string; State: string });
      expect(ps.map((c) => `${c.Service}:${c.State}`).sort()).toEqual(['client:running', 'web:running']);
      const logs = await eventually('the client fetched the page', async () => {
        const out = await compose(['logs', '--no-color', 'client']);
        return out.includes('fetched') ? out : undefined;
      });
      expect(logs).toContain(t);
      await compose(['down', '-v', '-t', '1']);
      expect(await ok(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])).toBe('');
      expect(
        await ok(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]),
      ).toBe('');
    } finally {
      await direct(['compose', '-p', project, 'down', '-v', '-t', '0'], { cwd: dir });
    }
  });

  test('events streams create and start while a container starts', async () => {
    const mark = `ev-${randomUUID().slice(0, 8)}`;
    const from = seen.length;
    const events: ChildProcess = spawn(
      'docker',
      ['events', '--filter', `label=dockhand.events=${mark}`, '--format', '{{.Action}}'],
      {
        env: { ...process.env, DOCKER_HOST: proxy.dockerHost, DOCKER_CONFIG: config },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    events.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    const exited = once(events, 'exit');
    try {
      // the engine has answered the events request: the subscription is live before the container starts
      await eventually(
        'the events stream is open',
        async () => seen.slice(from).some((s) => s.operation === 'SystemEvents' && s.answered) || undefined,
      );
      await ok([
        'run',
        '--rm',
        ...labelArgs(),
        '--label',
        `dockhand.events=${mark}`,
        'busybox:latest',
        'true',
      ]);
      await eventually('create and start arrive', async () =>
        /^create$/m.test(out) && /^start$/m.test(out) ? true : undefined,
      );
      for (const action of out.split('\n').filter(Boolean)) {
        expect(['create', 'attach', 'start', 'die', 'destroy']).toContain(action);
      }
      expect(out.indexOf('create')).toBeLessThan(out.indexOf('start'));
    } finally {
      events.kill('SIGTERM');
      await exited;
    }
  });

  test('volume, network and image subcommands', async () => {
    const name = `dockhand-${label}-vol`;
    expect((await ok(['volume', 'create', ...labelArgs(), name])).trim()).toBe(name);
    expect(await ok(['volume', 'ls', '-q', '--filter', `label=dockhand.test=${label}`])).toBe(`${name}\n`);
    const vol = JSON.parse(await ok(['volume', 'inspect', name]))[0];
    expect(vol).toMatchObject({ Name: name, Driver: 'local', Labels: { 'dockhand.test': label } });
    expect((await ok(['volume', 'rm', name])).trim()).toBe(name);
    const missingVolume = await cli(['volume', 'inspect', name]);
    expect(missingVolume.code).toBe(1);
    expect(missingVolume.stderr).toBe((await direct(['volume', 'inspect', name])).stderr);
    expect(missingVolume.stderr).toMatch(/no such volume/i);

    const net = `dockhand-${label}-net`;
    const netId = (await ok(['network', 'create', ...labelArgs(), net])).trim();
    expect(netId).toMatch(/^[0-9a-f]{64}$/);
    expect(await ok(['network', 'ls', '--no-trunc', '-q', '--filter', `label=dockhand.test=${label}`])).toBe(
      `${netId}\n`,
    );
    const inspected = JSON.parse(await ok(['network', 'inspect', net]))[0];
    expect(inspected).toMatchObject({
      Id: netId,
      Name: net,
      Driver: 'bridge',
      Labels: { 'dockhand.test': label },
    });
    expect((await ok(['network', 'rm', net])).trim()).toBe(net);
    const missingNetwork = await cli(['network', 'inspect', net]);
    expect(missingNetwork.code).toBe(1);
    expect(missingNetwork.stderr).toBe((await direct(['network', 'inspect', net])).stderr);

    const tag = `dockhand-test/clients-${label}-tag:v1`;
    tags.add(tag);
    await ok(['image', 'tag', 'busybox:latest', tag]);
    const [busybox, tagged] = [
      (await ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox:latest'])).trim(),
      JSON.parse(await ok(['image', 'inspect', tag]))[0],
    ];
    expect(tagged.Id).toBe(busybox);
    expect(tagged.RepoTags).toContain(tag);
    expect(await ok(['image', 'rm', tag])).toBe(`Untagged: ${tag}\n`);
    tags.delete(tag);
    const missingImage = await cli(['image', 'inspect', tag]);
    expect(missingImage.code).toBe(1);
    expect(missingImage.stderr).toBe((await direct(['image', 'inspect', tag])).stderr);
    expect(operations()).toEqual(expect.arrayContaining(OBJECT_OPS));
  });
});
