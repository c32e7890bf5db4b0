import { posix } from 'node:path';
import { type Context, compose, type Middleware, on, untouchedWhen } from '@dockhand/core';
import { classicBuild } from './classic-build.ts';
import { createImage } from './create-image.ts';
import { refuse } from './errors.ts';
import { checkedBody, field, foldKey, isObject, type JsonObject, setField } from './fields.ts';
import {
  checkEndpoints,
  type NetworkPolicy,
  networkCreateCheck,
  refuseMacAddress,
} from './network-settings.ts';
import { checkPsArgs } from './ps-args.ts';
import { hostRegistryCheck, type RegistryRules, registryAddressHost, registryOf } from './registry-host.ts';

/**
 * The capabilities the engine gives every container that is not privileged (moby's `oci/caps` defaults, the same
 * from Engine 20.10 to 26): adding one back grants nothing. Stock moby has no setting that narrows them; an engine
 * patched to (a `default-capabilities` daemon option exists downstream) would see them added back here.
 */
const DEFAULT_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

/** Options of {@link hostGuard}: each escape is refused unless allowed here. */
export interface HostGuardOptions {
  /**
   * Capabilities a tenant may add beyond the engine's default set (default none). Those of the default set may
   * always be added, which grants nothing a container does not have anyway: compose files harden a service with
   * `cap_drop: [ALL]` and add back the few it needs.
   */
  readonly capAdd?: readonly string[];
  /** Log drivers a tenant may use (default `json-file`, `local`, `none`). */
  readonly logDrivers?: readonly string[];
  /** Runtimes a tenant may pick (default only the engine's default, `runc`). */
  readonly runtimes?: readonly string[];
  /** Allow `Privileged` containers and execs (default `false`). */
  readonly privileged?: boolean;
  /** What created networks and container endpoints may set (default: `bridge` networks, no options, no subnets). */
  readonly network?: NetworkPolicy;
  /**
   * Registries on the engine's host (`localhost:5000`, `127.0.0.1:5000`) that pulls, pushes and logins may reach,
   * as `host:port` (default none): the engine reaches the host's loopback, which no container can.
   */
  readonly localRegistries?: readonly string[];
  /**
   * The only registries pulls, pushes, logins and classic builds' `FROM` may use, as minimatch globs over
   * `host[:port]` (`docker.io` for Docker Hub); default any not on the engine's host. See {@link RegistryRules}.
   */
  readonly registries?: readonly string[];
}

const HOST_MODES = ['NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UsernsMode', 'CgroupnsMode'] as const;
/**
 * Refused when not empty. The `Blkio*Device*` lists name host paths the daemon `stat`s at start: its answer told a
 * tenant whether any path on the host existed, another tenant's volume files among them (found by review, stop 20).
 */
const NON_EMPTY = [
  'Devices',
  'DeviceRequests',
  'DeviceCgroupRules',
  'Sysctls',
  'Annotations',
  'BlkioWeightDevice',
  'BlkioDeviceReadBps',
  'BlkioDeviceWriteBps',
  'BlkioDeviceReadIOps',
  'BlkioDeviceWriteIOps',
] as const;
/** Tmpfs options that make the mount something else (a bind of the runtime's directory, a remount). */
const TMPFS_REFUSED: ReadonlySet<string> = new Set(['bind', 'rbind', 'remount']);

/**
 * Refuses a working directory under `/proc`: with a runc older than 1.1.12, `/proc/self/fd/<n>` was a descriptor
 * of the host's left open, and the process started in the host's file system (CVE-2024-21626). No image needs it.
 */
function refuseProcWorkingDir(dir: unknown): void {
  if (typeof dir !== 'string') return;
  const clean = posix.normalize(`/${dir}`).replace(/\/+$/, '');
  if (clean === '/proc' || clean.startsWith('/proc/'))
    throw refuse('DOCKHAND_HOST_ESCAPE', `the working directory ${dir} is not allowed here`);
}

/**
 * Gives a create that names no working directory the one its image has, checked as one given: an image's `WORKDIR`
 * (`docker commit -c 'WORKDIR /proc/self/fd/7'`, a build, a pull) is the container's, and its execs', when the
 * create names none (suspected by review, stop 22). The directory is written into the create, so that the image
 * the engine reads (by a name the tenant may have moved meanwhile) cannot bring another; `/`, the runtime's own
 * default, where the image has none, or where there is no such image yet (the engine then refuses the create).
 */
async function pinWorkingDir(ctx: Context, body: JsonObject): Promise<void> {
  const given = field(body, 'WorkingDir');
  const image = field(body, 'Image');
  if ((typeof given === 'string' && given !== '') || typeof image !== 'string' || image === '') return;
  const reply = await createImage(ctx, image, { visibleOnly: true });
  if (reply.status !== 200 && reply.status !== 404)
    throw refuse(
      'DOCKHAND_ENGINE_LOOKUP_FAILED',
      `the Docker API proxy could not read the working directory of image ${image}; try again`,
    );
  // no such image (404): the engine refuses the create; should one of that name appear meanwhile, it brings no
  // working directory of its own (found by review, stop 22: a name tagged in that moment)
  const dir = (reply.body as { Config?: { WorkingDir?: unknown } | null } | undefined)?.Config?.WorkingDir;
  refuseProcWorkingDir(dir);
  setField(body, 'WorkingDir', typeof dir === 'string' && dir !== '' ? dir : '/');
  ctx.request.setJson(body);
}

/** Refused whenever present: an empty list is no default but "mask nothing" (a writable `/proc/sys`). */
const PRESENT = ['MaskedPaths', 'ReadonlyPaths'] as const;

/**
 * The fields of a `HostConfig` (with its `Resources`), folded as Go matches them. The engine still reads them at
 * the top level of a create body that has no `HostConfig` (the deprecated `ContainerConfigWrapper`), so
 * `{"Image": "x", "Privileged": true}` makes a privileged container.
 */
const HOST_CONFIG_FIELDS: ReadonlySet<string> = new Set(
  [
    // Resources
    'CpuShares',
    'Memory',
    'NanoCpus',
    'CgroupParent',
    'BlkioWeight',
    'BlkioWeightDevice',
    'BlkioDeviceReadBps',
    'BlkioDeviceWriteBps',
    'BlkioDeviceReadIOps',
    'BlkioDeviceWriteIOps',
    'CpuPeriod',
    'CpuQuota',
    'CpuRealtimePeriod',
    'CpuRealtimeRuntime',
    'CpusetCpus',
    'CpusetMems',
    'Devices',
    'DeviceCgroupRules',
    'DeviceRequests',
    'KernelMemory',
    'KernelMemoryTCP',
    'MemoryReservation',
    'MemorySwap',
    'MemorySwappiness',
    'OomKillDisable',
    'PidsLimit',
    'Ulimits',
    'CpuCount',
    'CpuPercent',
    'IOMaximumIOps',
    'IOMaximumBandwidth',
    // HostConfig
    'Binds',
    'ContainerIDFile',
    'LogConfig',
    'NetworkMode',
    'PortBindings',
    'RestartPolicy',
    'AutoRemove',
    'VolumeDriver',
    'VolumesFrom',
    'ConsoleSize',
    'Annotations',
    'CapAdd',
    'CapDrop',
    'CgroupnsMode',
    'Dns',
    'DnsOptions',
    'DnsSearch',
    'ExtraHosts',
    'GroupAdd',
    'IpcMode',
    'Cgroup',
    'Links',
    'OomScoreAdj',
    'PidMode',
    'Privileged',
    'PublishAllPorts',
    'ReadonlyRootfs',
    'SecurityOpt',
    'StorageOpt',
    'Tmpfs',
    'UTSMode',
    'UsernsMode',
    'ShmSize',
    'Sysctls',
    'Runtime',
    'Isolation',
    'Mounts',
    'MaskedPaths',
    'ReadonlyPaths',
    'Init',
  ].map(foldKey),
);

/**
 * Refuses a create body that sets host settings at its top level, where no check of ours looks. One that sets
 * them empty (`null`, `[]`, `{}`, `""`, `false`, `0`: the defaults) loses them instead: dockerode's `run()` sends
 * `VolumesFrom: []` there with every create (found by review, stop 23).
 *
 * @returns whether the body lost any
 */
function settleTopLevelHostConfig(body: JsonObject): boolean {
  let dropped = false;
  for (const key of Object.keys(body)) {
    if (!HOST_CONFIG_FIELDS.has(foldKey(key))) continue;
    if (nonEmpty(body[key]))
      throw refuse(
        'DOCKHAND_AMBIGUOUS_BODY',
        `${key} is a HostConfig setting: send it inside HostConfig, not at the top level of the body`,
      );
    delete body[key];
    dropped = true;
  }
  return dropped;
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return v !== '' && v !== false && v !== 0;
}

/**
 * Refuses container, exec and build settings that escape the sandbox, unless explicitly allowed: `Privileged`,
 * `CapAdd` beyond an allowlist, devices and device requests, host namespaces (network, pid, ipc, uts, user,
 * cgroup), unconfined `SecurityOpt`, `MaskedPaths`/`ReadonlyPaths` overrides (even empty ones, which unmask
 * everything), `Sysctls`, OCI `Annotations` (read by the runtime), `CgroupParent`, `Runtime`, log drivers that ship data off the machine, privileged exec; and on `/build`, host networking,
 * `cgroupparent` and `extrahosts`. Host settings at the top level of a create body (which the engine still
 * reads when there is no `HostConfig`), a body on `start` (which engines apply for API versions before 1.24) and a
 * start from a checkpoint (a host directory) are refused too, and so are `ps` arguments of `top` that could show
 * the host's processes (see {@link checkPsArgs}). Networks: only `bridge` networks without driver options or explicit subnets (a `macvlan`
 * network puts containers on the host's LAN; bridge options and subnets act on the host's interfaces and routes),
 * and no endpoint `DriverOpts`; see {@link NetworkPolicy}.
 *
 * @param options - what to allow
 * @returns the middleware
 * @example
 * ```ts
 * hostGuard({ capAdd: ['NET_ADMIN'] });
 * ```
 */
export function hostGuard(options: HostGuardOptions = {}): Middleware {
  const capAdd = new Set([
    ...DEFAULT_CAPABILITIES,
    ...(options.capAdd ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, '')),
  ]);
  const logDrivers = new Set(options.logDrivers ?? ['json-file', 'local', 'none', '']);
  const runtimes = new Set(options.runtimes ?? ['runc', '']);
  const checkNetworkCreate = networkCreateCheck(options.network ?? {});

  const checkResources = (hc: JsonObject) => {
    for (const key of NON_EMPTY) {
      if (nonEmpty(field(hc, key))) throw refuse('DOCKHAND_HOST_ESCAPE', `${key} is not allowed here`);
    }
  };

  const checkHostConfig = (hc: JsonObject) => {
    if (field(hc, 'Privileged') === true && !options.privileged) {
      throw refuse('DOCKHAND_HOST_ESCAPE', 'privileged containers are not allowed here');
    }
    checkResources(hc);
    for (const key of PRESENT) {
      const v = field(hc, key);
      if (v !== undefined && v !== null) throw refuse('DOCKHAND_HOST_ESCAPE', `${key} is not allowed here`);
    }
    for (const mode of HOST_MODES) {
      const v = field(hc, mode);
      if (typeof v === 'string' && v.toLowerCase() === 'host') {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          `${mode}=host is not allowed here: it would share the host's namespace`,
        );
      }
    }
    // the daemon reads CapAdd as a list or as one string (strslice.StrSlice)
    const capField = field(hc, 'CapAdd');
    const caps = typeof capField === 'string' ? [capField] : capField;
    if (caps !== undefined && caps !== null && !Array.isArray(caps))
      throw refuse('DOCKHAND_HOST_ESCAPE', 'CapAdd must be a list of capabilities');
    if (Array.isArray(caps)) {
      for (const cap of caps) {
        const c = String(cap).toUpperCase().replace(/^CAP_/, '');
        if (!capAdd.has(c))
          throw refuse('DOCKHAND_HOST_ESCAPE', `adding the capability ${cap} is not allowed here`);
      }
    }
    const secopts = field(hc, 'SecurityOpt');
    if (Array.isArray(secopts)) {
      for (const opt of secopts) {
        const s = String(opt).trim().toLowerCase();
        // `no-new-privileges`, and the engine's own AppArmor profile, as written (named, it confines as the
        // default does; the engine reads a profile's name as given)
        if (
          !/^no-new-privileges(?:[=:]true)?$/.test(s) &&
          !/^apparmor[=:]docker-default$/.test(String(opt))
        ) {
          throw refuse('DOCKHAND_HOST_ESCAPE', `the security option '${opt}' is not allowed here`);
        }
      }
    }
    const parent = field(hc, 'CgroupParent');
    if (nonEmpty(parent)) throw refuse('DOCKHAND_HOST_ESCAPE', 'CgroupParent is not allowed here');
    const runtime = field(hc, 'Runtime');
    if (typeof runtime === 'string' && !runtimes.has(runtime)) {
      throw refuse('DOCKHAND_HOST_ESCAPE', `the runtime '${runtime}' is not allowed here`);
    }
    const log = field(hc, 'LogConfig');
    const driver = isObject(log) ? field(log, 'Type') : undefined;
    if (typeof driver === 'string' && !logDrivers.has(driver)) {
      throw refuse('DOCKHAND_HOST_ESCAPE', `the log driver '${driver}' is not allowed here`);
    }
    const oom = field(hc, 'OomScoreAdj');
    if (typeof oom === 'number' && oom < 0)
      throw refuse('DOCKHAND_HOST_ESCAPE', 'a negative OomScoreAdj is not allowed here');
    // a tmpfs is mounted with its options as given: `bind` or `rbind` make it a bind of a runtime directory
    const tmpfs = field(hc, 'Tmpfs');
    if (isObject(tmpfs)) {
      for (const [path, opts] of Object.entries(tmpfs)) {
        const bad = String(opts ?? '')
          .split(',')
          .map((o) => o.trim().toLowerCase())
          .find((o) => TMPFS_REFUSED.has(o));
        if (bad !== undefined)
          throw refuse('DOCKHAND_HOST_ESCAPE', `the tmpfs option ${bad} (on ${path}) is not allowed here`);
      }
    }
    const volumeDriver = field(hc, 'VolumeDriver');
    if (typeof volumeDriver === 'string' && volumeDriver !== '' && volumeDriver !== 'local') {
      throw refuse('DOCKHAND_HOST_ESCAPE', `the volume driver '${volumeDriver}' is not allowed here`);
    }
  };

  const create: Middleware = on('ContainerCreate', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    if (settleTopLevelHostConfig(body)) ctx.request.setJson(body);
    refuseProcWorkingDir(field(body, 'WorkingDir'));
    await pinWorkingDir(ctx, body);
    // the engine still reads it at the top level of a create before API 1.44
    refuseMacAddress(field(body, 'MacAddress'));
    const hc = field(body, 'HostConfig');
    if (hc !== undefined && hc !== null && !isObject(hc))
      throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'HostConfig must be an object');
    if (isObject(hc)) checkHostConfig(hc);
    // an engine on cgroup v1 defaults to the host's cgroup namespace (the host's cgroup paths in the container):
    // a container asks for its own unless it named a mode, which the check above held to the rules
    const hostConfig = isObject(hc) ? hc : {};
    const cgroupns = field(hostConfig, 'CgroupnsMode');
    if (cgroupns === undefined || cgroupns === null || cgroupns === '') {
      setField(hostConfig, 'CgroupnsMode', 'private');
      setField(body, 'HostConfig', hostConfig);
      ctx.request.setJson(body);
    }
    const nc = field(body, 'NetworkingConfig');
    checkEndpoints(isObject(nc) ? field(nc, 'EndpointsConfig') : undefined, true);
    await next();
  });

  const networkCreate: Middleware = on('NetworkCreate', async (ctx, next) => {
    checkNetworkCreate(await checkedBody(() => ctx.request.json()));
    await next();
  });

  const networkConnect: Middleware = on('NetworkConnect', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    checkEndpoints(field(body, 'EndpointConfig'), false);
    await next();
  });

  // before API 1.24 the engine applies a HostConfig sent with start (Engine 20.10 still serves API 1.12 and up);
  // from 1.24 on it refuses any body there, so no client sends one
  // a start from a checkpoint restores the container from a directory on the host (`checkpoint-dir`), with CRIU, on
  // engines in experimental mode; the checkpoint routes themselves are refused (suspected by review, stop 22)
  const start: Middleware = untouchedWhen(
    (req) => req.bodyLength === 0 && !req.query.has('checkpoint') && !req.query.has('checkpoint-dir'),
    on('ContainerStart', async (ctx, next) => {
      const q = ctx.request.query;
      if (q.has('checkpoint') || q.has('checkpoint-dir'))
        throw refuse('DOCKHAND_HOST_ESCAPE', 'starting a container from a checkpoint is not allowed here');
      const body = await checkedBody(() => ctx.request.json());
      if (Object.keys(body).length > 0) {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          'a start request takes no body here (old API versions would apply its HostConfig)',
        );
      }
      await next();
    }),
  );

  // the engine runs `ps` on the host with these arguments, and filters its rows by a column it finds by name
  const top: Middleware = untouchedWhen(
    (req) => req.query.getAll('ps_args').every((v) => v === ''),
    on('ContainerTop', async (ctx, next) => {
      for (const psArgs of ctx.request.query.getAll('ps_args')) checkPsArgs(psArgs);
      await next();
    }),
  );

  const update: Middleware = on('ContainerUpdate', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    checkResources(body);
    await next();
  });

  const exec: Middleware = on('ContainerExec', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    if (field(body, 'Privileged') === true && !options.privileged) {
      throw refuse('DOCKHAND_HOST_ESCAPE', 'privileged exec is not allowed here');
    }
    refuseProcWorkingDir(field(body, 'WorkingDir'));
    await next();
  });

  // a registry on the engine's host: the engine (on the host) reaches services bound to the host's loopback, which
  // no container can reach, and its errors carry what answered there
  const checkRegistries = hostRegistryCheck(options);
  const build: Middleware = on('ImageBuild', async (ctx, next) => {
    const q = ctx.request.query;
    // as written: the engine's names are case-sensitive, and `Bridge` is no mode but a network of that name, maybe
    // another tenant's (found by review, stop 26: a build's steps joined it and read another tenant's web server)
    const net = q.get('networkmode') ?? '';
    if (net !== '' && net !== 'default' && net !== 'bridge' && net !== 'none') {
      throw refuse('DOCKHAND_HOST_ESCAPE', `building with network mode '${net}' is not allowed here`);
    }
    if (nonEmpty(q.get('cgroupparent')))
      throw refuse('DOCKHAND_HOST_ESCAPE', 'cgroupparent is not allowed here');
    // every value: the engine reads the first as JSON and, on older API versions, the others as more hosts
    if (q.getAll('extrahosts').some((hosts) => hosts !== '' && hosts !== '[]'))
      throw refuse('DOCKHAND_HOST_ESCAPE', 'extrahosts is not allowed on builds here');
    // a remote context (a URL, a git repository) is fetched by the engine itself, from the host's network
    for (const remote of q.getAll('remote')) {
      if (remote !== '' && remote !== 'client-session') {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          'building from a remote context is not allowed here (the engine would fetch it from the host network); send the build context',
        );
      }
    }
    // so is what a classic build's `ADD <url>` names (its triggers' included), and the images it pulls
    const classic = await classicBuild(ctx);
    if (classic) {
      if (classic.remote.length > 0) {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          `ADD ${classic.remote[0]} is not allowed here (the engine would fetch it from the host network); download it in a RUN step`,
        );
      }
      await checkRegistries(classic.images.map(registryOf), ctx.upstream);
    }
    await next();
  });

  // the same for an import from a URL (`docker import http://...`); `fromSrc=-` sends the archive itself
  const importImage: Middleware = on('ImageCreate', async (ctx, next) => {
    for (const src of ctx.request.query.getAll('fromSrc')) {
      if (src !== '-') {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          'importing from a URL is not allowed here (the engine would fetch it from the host network); send the archive',
        );
      }
    }
    await next();
  });

  const registries: Middleware = on(
    ['ImageCreate', 'ImagePush', 'DistributionInspect', 'SystemAuth', 'ImageSearch'],
    async (ctx, next) => {
      const hosts: (string | undefined)[] = [];
      if (ctx.operation === 'ImageSearch') {
        // the engine searches the registry the term names (`127.0.0.1:5000/app`), and returns what it answered
        hosts.push(registryOf(ctx.request.query.get('term') ?? ''));
      } else if (ctx.operation === 'ImageCreate') {
        for (const image of ctx.request.query.getAll('fromImage')) hosts.push(registryOf(image));
      } else if (ctx.operation === 'SystemAuth') {
        const address = field(await checkedBody(() => ctx.request.json()), 'serveraddress');
        // no address: Docker Hub, as `docker login` means it
        hosts.push(
          typeof address === 'string' && address.trim() !== '' ? registryAddressHost(address) : undefined,
        );
      } else hosts.push(registryOf(ctx.params.name ?? ''));
      await checkRegistries(hosts, ctx.upstream);
      await next();
    },
  );

  return compose([
    create,
    start,
    top,
    update,
    exec,
    build,
    importImage,
    registries,
    networkCreate,
    networkConnect,
  ]);
}
