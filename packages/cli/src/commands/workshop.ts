import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HELPER_LABEL } from '@dockhand/mutators';
import { type Command, InvalidArgumentError } from 'commander';
import { removeStaleImages } from './stale-images.ts';

const run = promisify(execFile);

/** The label the workshop's proxy stamps on everything an instance creates. */
const TENANT_LABEL = 'dockhand.tenant';
/** The label on an instance's IDE container, naming the instance. */
const INSTANCE_LABEL = 'dockhand.workshop';
/** Compose project names: what `docker compose -p` accepts. */
const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** The images an instance runs, each built from this repository and tagged by a hash of its inputs. */
interface WorkshopImages {
  ide: string;
  docker: string;
  dockhand: string;
}

interface UpOptions {
  name: string;
  repo?: string;
  ref?: string;
  subpath?: string;
  password: string;
  idePort?: string;
  guidePort?: string;
  appPort?: string;
  bind: string;
  dir?: string;
  timeout: string;
}

/**
 * Registers `dockhand workshop`: `up`, `ls` and `down` manage browser-workshop instances (the compose
 * stack in `examples/workshop/`); `cleanup` is the instance's own teardown sweep.
 *
 * @param program - the root program
 * @internal
 */
export function registerWorkshop(program: Command): void {
  const workshop = program
    .command('workshop')
    .description(
      'Start, list and stop browser workshop instances (VS Code + guide + a tenant of the engine)',
    );

  workshop
    .command('up')
    .description('Build what is missing, start an instance and print its URLs')
    .requiredOption('--name <name>', 'the instance (and compose project, and tenant) name', parseName)
    .option(
      '--repo <url|path>',
      'the workshop repository: a git URL, a local repository or folder (default: the sample)',
    )
    .option('--ref <ref>', 'branch, tag or commit to check out')
    .option('--subpath <dir>', 'folder of the repository to use as the project')
    .option('--password <password>', 'the IDE password', process.env.WORKSHOP_PASSWORD ?? 'password')
    .option('--ide-port <port>', 'host port of the IDE (default: a free port)', parsePort)
    .option('--guide-port <port>', 'host port of the guide (default: a free port)', parsePort)
    .option(
      '--app-port <port>',
      'the port the sample app publishes, per instance (default: a free port)',
      parsePort,
    )
    .option('--bind <address>', 'host address the IDE and guide listen on', '127.0.0.1')
    .option('--dir <dir>', 'the workshop compose folder (default: examples/workshop of this checkout)')
    .option('--timeout <seconds>', 'how long to wait for the IDE', '600')
    .action(async (opts: UpOptions) => {
      await workshopUp(opts);
    });

  workshop
    .command('ls')
    .description('List running instances with their URLs')
    .action(async () => {
      const instances = await listInstances();
      if (instances.length === 0) {
        console.log('no workshop instances');
        return;
      }
      console.log(['NAME', 'STATUS', 'IDE', 'GUIDE'].join('\t'));
      for (const i of instances)
        console.log([i.name, i.status, i.ideUrl ?? '-', i.guideUrl ?? '-'].join('\t'));
    });

  workshop
    .command('down')
    .description('Stop an instance and remove everything it created, on the engine too')
    .argument('<name>', 'the instance name', parseName)
    .option('--dir <dir>', 'the workshop compose folder (default: examples/workshop of this checkout)')
    .action(async (name: string, opts: { dir?: string }) => {
      await workshopDown(name, opts.dir);
    });

  workshop
    .command('cleanup')
    .description(
      "Remove every container, network and volume labelled with a tenant (the instance's teardown)",
    )
    .requiredOption('--tenant <tenant>', 'the tenant, as in the dockhand.tenant label')
    .option('--on-signal', 'wait for SIGTERM/SIGINT first (as the compose service does)')
    .option('--docker-host <url>', 'the engine', process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock')
    .action(async (opts: { tenant: string; onSignal?: boolean; dockerHost: string }) => {
      const socketPath = opts.dockerHost.replace(/^unix:\/\//, '');
      if (opts.onSignal) {
        console.log(`cleanup: will remove what tenant ${opts.tenant} created when the instance stops`);
        const keepAlive = setInterval(() => {}, 1 << 30);
        const signal = await new Promise<string>((done) => {
          process.once('SIGTERM', () => done('SIGTERM'));
          process.once('SIGINT', () => done('SIGINT'));
        });
        clearInterval(keepAlive);
        console.log(`cleanup: ${signal}`);
      }
      const removed = await sweepTenant(socketPath, opts.tenant);
      console.log(
        `cleanup: removed containers=${removed.containers} networks=${removed.networks} volumes=${removed.volumes}`,
      );
    });
}

function parseName(value: string): string {
  if (!NAME.test(value)) {
    throw new InvalidArgumentError(
      'use lower-case letters, digits, "-" and "_", starting with a letter or digit',
    );
  }
  return value;
}

function parsePort(value: string): string {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('expected a port');
  return value;
}

/** The workshop compose folder: `--dir`, else `examples/workshop` of the checkout this CLI is built in. */
function workshopDir(dir?: string): string {
  const candidates = dir
    ? [resolve(dir)]
    : [
        fileURLToPath(new URL('../../../../examples/workshop/', import.meta.url)),
        resolve('examples/workshop'),
        resolve('.'),
      ];
  for (const candidate of candidates) {
    if (existsSync(join(candidate, 'compose.yaml')) && existsSync(join(candidate, 'images', 'ide'))) {
      return candidate;
    }
  }
  throw new Error(`no workshop compose folder found (looked in ${candidates.join(', ')}); pass --dir`);
}

/** The tags {@link hashFiles} makes. */
const HASH_TAG = /^[0-9a-f]{12}$/;

/** Hashes files (paths relative to `base`) into a short tag. */
function hashFiles(base: string, files: string[]): string {
  const hash = createHash('sha256');
  for (const file of [...files].sort()) {
    hash.update(`${file.split(sep).join('/')}\0`);
    hash.update(readFileSync(join(base, file)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

function walk(base: string, dir: string, skip: (name: string) => boolean, out: string[] = []): string[] {
  for (const entry of readdirSync(join(base, dir), { withFileTypes: true })) {
    if (skip(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(base, path, skip, out);
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

const NOT_IN_CONTEXT = new Set(['node_modules', 'dist', 'test-results', '.bench']);

/**
 * The image names for this checkout: each tag is a hash of exactly what its build reads, so an image is
 * rebuilt only when its inputs change.
 */
function workshopImages(dir: string): WorkshopImages {
  const ideDir = join(dir, 'images', 'ide');
  const ide = hashFiles(
    ideDir,
    walk(ideDir, '.', () => false),
  );
  const root = resolve(dir, '..', '..');
  const dockerfile = relative(root, join(dir, 'images', 'dockhand'));
  const contextFiles = [
    'package.json',
    'pnpm-workspace.yaml',
    'pnpm-lock.yaml',
    'tsconfig.base.json',
    'tsconfig.json',
    join(dockerfile, 'Dockerfile'),
    join(dockerfile, 'Dockerfile.dockerignore'),
    ...walk(root, 'packages', (name) => NOT_IN_CONTEXT.has(name) || name.endsWith('.tsbuildinfo')),
  ];
  // Prebuilt images can be named instead (they are then used as they are, never built).
  return {
    ide: process.env.WORKSHOP_IDE_IMAGE || `dockhand-workshop/ide:${ide}`,
    docker: process.env.WORKSHOP_DOCKER_IMAGE || `dockhand-workshop/docker:${ide}`,
    dockhand:
      process.env.WORKSHOP_DOCKHAND_IMAGE || `dockhand-workshop/dockhand:${hashFiles(root, contextFiles)}`,
  };
}

/**
 * Whether an image of that name is there to use as it is: one a tenant made (it carries the tenant label) is not,
 * whatever its name: an attendee could build an image under the name of the next version's proxy image, which
 * runs with the engine's socket (found by review, stop 20; the tenant proxy also keeps `dockhand-workshop/*` for
 * the workshop's own images).
 */
async function imageExists(image: string): Promise<boolean> {
  let labels: Record<string, string> | null;
  try {
    const { stdout } = await run('docker', [
      'image',
      'inspect',
      '--format',
      '{{json .Config.Labels}}',
      image,
    ]);
    labels = JSON.parse(stdout) as Record<string, string> | null;
  } catch {
    return false;
  }
  if (labels !== null && Object.hasOwn(labels, TENANT_LABEL)) {
    console.error(
      `workshop: image ${image} was made by tenant '${labels[TENANT_LABEL]}', not by this launcher: building it again`,
    );
    return false;
  }
  return true;
}

/** Runs a command with its output shown (stdout and stderr to our stderr); rejects on a non-zero exit. */
function runVisible(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((done, fail) => {
    const child: ChildProcess = spawn(command, args, {
      env,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    child.once('error', fail);
    child.once('exit', (code, signal) =>
      code === 0
        ? done()
        : fail(new Error(`${command} ${args.slice(0, 3).join(' ')} failed (${signal ?? code})`)),
    );
  });
}

/** Builds each workshop image that is missing, with the build's progress on stderr. */
async function buildMissingImages(dir: string, images: WorkshopImages): Promise<void> {
  const root = resolve(dir, '..', '..');
  const builds: Array<[string, string[]]> = [
    [images.ide, ['build', '--progress=plain', '-t', images.ide, join(dir, 'images', 'ide')]],
    [
      images.docker,
      ['build', '--progress=plain', '--target', 'docker', '-t', images.docker, join(dir, 'images', 'ide')],
    ],
    [
      images.dockhand,
      [
        'build',
        '--progress=plain',
        '-f',
        join(dir, 'images', 'dockhand', 'Dockerfile'),
        '-t',
        images.dockhand,
        root,
      ],
    ],
  ];
  for (const [image, args] of builds) {
    if (await imageExists(image)) {
      console.error(`workshop: image ${image} is there`);
      continue;
    }
    console.error(`workshop: building ${image} (the first build of the IDE takes a few minutes)`);
    const started = Date.now();
    await runVisible('docker', args, { ...process.env, DOCKER_BUILDKIT: '1' });
    console.error(`workshop: built ${image} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

/**
 * Removes the older builds of the workshop's own images that no container uses (each change to the source is a
 * new hash tag), made over an hour ago (another checkout's launcher may have just built one). Other tags
 * (`latest`, from `docker compose build`) and images named by `WORKSHOP_*_IMAGE` are the operator's and are left
 * alone.
 */
async function removeOlderBuilds(images: WorkshopImages): Promise<void> {
  for (const [kind, image] of Object.entries(images)) {
    if (process.env[`WORKSHOP_${kind.toUpperCase()}_IMAGE`]) continue;
    const repository = image.slice(0, image.lastIndexOf(':'));
    const { removed, inUse } = await removeStaleImages(repository, image, { tags: HASH_TAG, until: '1h' });
    for (const tag of removed) console.error(`workshop: removed ${tag}, an older build no container uses`);
    if (inUse.length > 0) console.error(`workshop: kept ${inUse.join(', ')}: containers use them`);
  }
}

/** A free TCP port on `host`, as the kernel picks it. */
function freePort(host: string): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? done(address.port) : fail(new Error('no port')),
      );
    });
  });
}

/** The environment compose interpolates `compose.yaml` with, for one instance. */
async function instanceEnv(dir: string, opts: UpOptions, images: WorkshopImages): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WORKSHOP_IDE_IMAGE: images.ide,
    WORKSHOP_DOCKHAND_IMAGE: images.dockhand,
    WORKSHOP_DOCKER_IMAGE: images.docker,
    WORKSHOP_PASSWORD: opts.password,
    WORKSHOP_BIND: opts.bind,
    WORKSHOP_REF: opts.ref ?? '',
    WORKSHOP_SUBPATH: opts.subpath ?? '',
    IDE_PORT: opts.idePort ?? String(await freePort(opts.bind)),
    GUIDE_PORT: opts.guidePort ?? String(await freePort(opts.bind)),
    APP_PORT: opts.appPort ?? String(await freePort('0.0.0.0')),
  };
  const repo = opts.repo ?? join(dir, 'sample');
  if (existsSync(repo) && statSync(repo).isDirectory()) {
    // A local repository or folder: mounted read-only into the setup service.
    env.WORKSHOP_SOURCE_DIR = resolve(repo);
    env.WORKSHOP_REPO = '/workshop-source';
  } else {
    env.WORKSHOP_SOURCE_DIR = join(dir, 'sample');
    env.WORKSHOP_REPO = repo;
  }
  return env;
}

/** Waits until the IDE answers its health check (or `timeoutMs` passes). */
async function waitForIde(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((done) => setTimeout(done, 1000));
  }
  throw new Error(`the IDE at ${url} did not answer within ${timeoutMs / 1000} s (${last})`);
}

/** The engine's unix socket: `DOCKER_HOST` when it names one, else the local socket. */
function engineSocket(): string {
  const socketPath = (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
  return socketPath.startsWith('/') ? socketPath : '/var/run/docker.sock';
}

/** The named volumes of an instance, as `compose.yaml` names them: `<name>_<suffix>`. */
const INSTANCE_VOLUMES = ['project', 'docker-socket'] as const;

/**
 * Refuses to start an instance one of whose named volumes, whose network or one of whose compose containers a
 * tenant created first (any attendee may create a volume of any name, and set any label, through their own proxy):
 * compose would only warn and use the volume, and that attendee would own this instance's proxy socket or project;
 * it would take the container as the service its labels name. The instance's proxy refuses to serve on a volume or
 * network of a tenant's too; this says so before anything starts, with what to do.
 *
 * @param socketPath - the engine's unix socket
 * @param name - the instance
 */
async function assertInstanceFree(socketPath: string, name: string): Promise<void> {
  // and no container a tenant made under the instance's compose project: compose finds a project's containers by
  // their labels alone, which a tenant can set, and keeps one whose config hash matches as the service (found by
  // review, stop 23: a tenant's container taken as the next instance's `ide`, whose forwarder and guide then ran
  // in the tenant's network namespace)
  const filters = JSON.stringify({ label: [`com.docker.compose.project=${name}`, TENANT_LABEL] });
  const planted = (await engine(
    socketPath,
    'GET',
    `/containers/json?all=1&filters=${encodeURIComponent(filters)}`,
  )) as { Names?: string[]; Labels?: Record<string, string> | null }[];
  if (planted.length > 0) {
    const names = planted.map((c) => (c.Names?.[0] ?? '').replace(/^\//, ''));
    throw new Error(
      `container ${names.join(', ')} was created by tenant '${planted[0]!.Labels?.[TENANT_LABEL]}' with the labels of compose project ${name}, and compose would take it as one of this instance's services: remove it (docker rm -f ${names.join(' ')}) or choose another name`,
    );
  }
  // the instance's network too (compose's default, named in compose.yaml): compose reuses a network with its
  // labels, which a tenant can set, and puts the IDE on it, where that tenant's containers reach code-server,
  // the guide and, through code-server's port proxy, the terminal (found by review, stop 20)
  const network = `${name}_default`;
  const net = (await engine(socketPath, 'GET', `/networks/${encodeURIComponent(network)}`)) as
    | { Labels?: Record<string, string> | null }
    | undefined;
  const netLabels = net?.Labels ?? {};
  if (Object.hasOwn(netLabels, TENANT_LABEL)) {
    throw new Error(
      `network ${network} was created by tenant '${netLabels[TENANT_LABEL]}', not by instance ${name}, and would put this instance's IDE on that tenant's network: remove it (docker network rm ${network}) or choose another name`,
    );
  }
  for (const suffix of INSTANCE_VOLUMES) {
    const volume = `${name}_${suffix}`;
    // a missing volume answers 404 with {"message"}: no labels, compose creates it
    const found = (await engine(socketPath, 'GET', `/volumes/${encodeURIComponent(volume)}`)) as
      | { Labels?: Record<string, string> | null }
      | undefined;
    const labels = found?.Labels ?? {};
    if (Object.hasOwn(labels, TENANT_LABEL)) {
      throw new Error(
        `volume ${volume} was created by tenant '${labels[TENANT_LABEL]}', not by instance ${name}, and would give that tenant this instance's ${suffix === 'project' ? 'project' : 'proxy socket'}: remove it (docker volume rm ${volume}) or choose another name`,
      );
    }
  }
}

async function workshopUp(opts: UpOptions): Promise<void> {
  const started = Date.now();
  const dir = workshopDir(opts.dir);
  await assertInstanceFree(engineSocket(), opts.name);
  const images = workshopImages(dir);
  await buildMissingImages(dir, images);
  await removeOlderBuilds(images);
  const env = await instanceEnv(dir, opts, images);
  console.error(`workshop: starting instance ${opts.name}`);
  // every container made anew: compose keeps an existing container whose labels say it is the service, and a
  // tenant's can say so without a tenant label while a classic build step of its runs (found by review, stop 23;
  // `assertInstanceFree` catches those that carry one)
  await runVisible('docker', composeArgs(dir, opts.name, 'up', '-d', '--no-build', '--force-recreate'), env);
  const host = opts.bind === '0.0.0.0' ? 'localhost' : opts.bind;
  const ideUrl = `http://${host}:${env.IDE_PORT}`;
  const guideUrl = `http://${host}:${env.GUIDE_PORT}`;
  await waitForIde(ideUrl, Number(opts.timeout) * 1000);
  console.error(`workshop: ${opts.name} is ready after ${Math.round((Date.now() - started) / 1000)} s`);
  console.log(`IDE:      ${ideUrl}`);
  console.log(`Password: ${opts.password}`);
  console.log(`Guide:    ${guideUrl}`);
}

interface Instance {
  name: string;
  status: string;
  ideUrl?: string;
  guideUrl?: string;
}

async function listInstances(): Promise<Instance[]> {
  const { stdout } = await run('docker', [
    'ps',
    '--all',
    '--filter',
    `label=${INSTANCE_LABEL}`,
    '--format',
    `{{.Label "${INSTANCE_LABEL}"}}\t{{.Status}}\t{{.Ports}}\t{{.Label "${TENANT_LABEL}"}}\t{{.Label "com.docker.compose.project"}}`,
  ]);
  return (
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'))
      // an instance's own container, started by compose for it: an attendee's container may carry the label too
      // (found by review, stop 20: a fake IDE listed as another attendee's)
      .filter(
        ([name = '', , , tenant = '', project = '']) => tenant === '' && project === name && name !== '',
      )
      .map(([name = '', status = '', ports = '']) => {
        const url = (containerPort: number) => {
          const m = new RegExp(`([\\d.]+):(\\d+)->${containerPort}/tcp`).exec(ports);
          return m ? `http://${m[1] === '0.0.0.0' ? 'localhost' : m[1]}:${m[2]}` : undefined;
        };
        return { name, status, ideUrl: url(13337), guideUrl: url(13338) };
      })
      .sort((a, b) => a.name.localeCompare(b.name))
  );
}

async function workshopDown(name: string, dirOption?: string): Promise<void> {
  const dir = workshopDir(dirOption);
  console.error(`workshop: stopping instance ${name}`);
  // The cleanup service sweeps the tenant when compose stops it; the sweeps before and after make sure
  // nothing is left even if it is gone or an object is still in use at that moment.
  const engine = engineSocket();
  await sweepTenant(engine, name);
  await runVisible(
    'docker',
    composeArgs(dir, name, 'down', '--volumes', '--remove-orphans', '--timeout', '30'),
  );
  // the instance is gone for good: the images the attendee built (labelled with the tenant, and invisible to
  // every other tenant) go too; a mere stop keeps them
  const removed = await sweepTenant(engine, name, { images: true });
  // and its volumes are gone: compose only warns of one still in use, which the next instance of this name would
  // take as its own (the project of the attendee before)
  for (const suffix of INSTANCE_VOLUMES) {
    const volume = `${name}_${suffix}`;
    await deleteVolume(engine, volume).catch((error: Error) => {
      throw new Error(
        `workshop: volume ${volume} could not be removed (${error.message}): remove what uses it and the volume, or the next instance named ${name} gets it`,
      );
    });
  }
  console.error(
    `workshop: ${name} is down (afterwards removed containers=${removed.containers} networks=${removed.networks} volumes=${removed.volumes} images=${removed.images})`,
  );
}

/** Removes a volume, retrying a few times while a container that used it is still being removed; gone is fine. */
async function deleteVolume(socketPath: string, volume: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await engine(socketPath, 'DELETE', `/volumes/${encodeURIComponent(volume)}`);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((done) => setTimeout(done, 1000));
    }
  }
}

/** How many objects a sweep removed. */
interface Swept {
  containers: number;
  networks: number;
  volumes: number;
  images: number;
}

/** One Engine API call over a unix socket; resolves to the parsed JSON body (or `undefined`). */
function engine(socketPath: string, method: string, path: string): Promise<unknown> {
  return new Promise((done, fail) => {
    const req = request({ socketPath, method, path, headers: { host: 'docker' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        // 404: already gone, which is what we want.
        if (status >= 400 && status !== 404) {
          fail(new Error(`${method} ${path}: ${status} ${text.trim()}`));
          return;
        }
        done(text && res.headers['content-type']?.includes('json') ? JSON.parse(text) : undefined);
      });
    });
    req.once('error', fail);
    req.end();
  });
}

/**
 * Removes every container (with its anonymous volumes), network and volume that carries
 * `dockhand.tenant=<tenant>`, in that order, and with `images` the images too; retries a few times for objects
 * still in use (an image whose child image is removed in the same pass goes at the next).
 *
 * @param socketPath - the engine's unix socket
 * @param tenant - the tenant
 * @param options - `images`: remove the tenant's images as well
 * @returns how many objects were removed
 */
async function sweepTenant(
  socketPath: string,
  tenant: string,
  options: { images?: boolean } = {},
): Promise<Swept> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${TENANT_LABEL}=${tenant}`] }));
  const swept: Swept = { containers: 0, networks: 0, volumes: 0, images: 0 };
  for (let attempt = 1; ; attempt++) {
    const errors: string[] = [];
    // and the proxy's own helper containers for the tenant, which carry no tenant label: one left behind by a proxy
    // stopped in the middle of a create (mountPolicy's helperImage) holds the project volume, which then outlived
    // the instance for the next instance of that name (found by review, stop 23). A container with a tenant's label
    // is that tenant's, whatever else it says
    const helpers = encodeURIComponent(JSON.stringify({ label: [`${HELPER_LABEL}=${tenant}`] }));
    type Listed = { Id: string; Labels?: Record<string, string> | null };
    const containers = [
      ...((await engine(socketPath, 'GET', `/containers/json?all=1&filters=${filters}`)) as Listed[]),
      ...((await engine(socketPath, 'GET', `/containers/json?all=1&filters=${helpers}`)) as Listed[]).filter(
        (c) => !Object.hasOwn(c.Labels ?? {}, TENANT_LABEL),
      ),
    ];
    for (const c of containers) {
      // (a container the engine is removing already, such as a classic build step, goes either way)
      await engine(socketPath, 'DELETE', `/containers/${c.Id}?force=1&v=1`).then(
        () => swept.containers++,
        (e: Error) => (/already in progress/.test(e.message) ? undefined : errors.push(e.message)),
      );
    }
    const networks = (await engine(socketPath, 'GET', `/networks?filters=${filters}`)) as Array<{
      Id: string;
    }>;
    for (const n of networks) {
      await engine(socketPath, 'DELETE', `/networks/${n.Id}`).then(
        () => swept.networks++,
        (e: Error) => errors.push(e.message),
      );
    }
    const volumes =
      (
        (await engine(socketPath, 'GET', `/volumes?filters=${filters}`)) as {
          Volumes: Array<{ Name: string }> | null;
        }
      ).Volumes ?? [];
    for (const v of volumes) {
      await engine(socketPath, 'DELETE', `/volumes/${encodeURIComponent(v.Name)}?force=1`).then(
        () => swept.volumes++,
        (e: Error) => errors.push(e.message),
      );
    }
    const images = options.images
      ? ((await engine(socketPath, 'GET', `/images/json?filters=${filters}`)) as Array<{ Id: string }>)
      : [];
    for (const image of images) {
      await engine(socketPath, 'DELETE', `/images/${image.Id}?force=1`).then(
        () => swept.images++,
        (e: Error) => errors.push(e.message),
      );
    }
    if (errors.length === 0) return swept;
    if (attempt >= 5)
      throw new Error(`could not remove everything of tenant ${tenant}: ${errors.join('; ')}`);
    await new Promise((done) => setTimeout(done, 1000 * attempt));
  }
}

/** `docker compose` arguments for one instance of the workshop stack in `dir`. */
function composeArgs(dir: string, name: string, ...command: string[]): string[] {
  return ['compose', '--project-directory', dir, '-f', join(dir, 'compose.yaml'), '-p', name, ...command];
}
