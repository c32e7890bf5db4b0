import { compose, DockhandError, type Middleware, type Upstream, untouchedWhen } from '@dockhand/core';
import type { Logger } from 'pino';
import { allowRoutes, TENANT_ROUTES } from './allow-routes.ts';
import { buildRefusalsInStream } from './build-refusal.ts';
import { buildkitGuard } from './buildkit-guard.ts';
import { scopeImageReads } from './create-image.ts';
import { refuse } from './errors.ts';
import { hostGuard } from './host-guard.ts';
import { imageVisible } from './image-policy.ts';
import { limitClassicBuilds } from './limit-classic-builds.ts';
import { mountPolicy } from './mount-policy.ts';
import { holdNames } from './name-holds.ts';
import { Ownership } from './ownership.ts';
import { polledStats } from './polled-stats.ts';
import { refuseClassicBuilds } from './refuse-classic-builds.ts';
import { rewriteDockerSocket } from './rewrite-docker-socket.ts';
import { scopeToTenant } from './scope-to-tenant.ts';
import { stampLabels } from './stamp-labels.ts';
import { tenantLoopback } from './tenant-loopback.ts';
import { tenantNetwork } from './tenant-network.ts';

/** Options of {@link workshopTenant}. */
export interface WorkshopTenantOptions {
  /** The tenant's name; unique per instance. */
  readonly tenant: string;
  /** The label key (default `dockhand.tenant`). */
  readonly labelKey?: string;
  /** The project directory as the IDE sees it (default `/home/coder/project`). */
  readonly projectDir?: string;
  /** The engine's real name of the project volume. */
  readonly projectVolume: string;
  /** The engine's real name of the volume holding the proxy's socket. */
  readonly socketVolume: string;
  /** The socket's path inside that volume (default `docker.sock`). */
  readonly socketPath?: string;
  /**
   * More volumes of the instance the proxy belongs to (e.g. an IDE's own volumes): with `projectVolume` and
   * `socketVolume`, each must exist and carry no tenant label before the proxy serves anything (see
   * {@link WorkshopTenantMiddleware.verifyInstanceVolumes}). Not made usable by the tenant.
   */
  readonly instanceVolumes?: readonly string[];
  /**
   * Networks of the instance (e.g. compose's default network, which the IDE is on): each must exist and carry no
   * tenant label before the proxy serves anything, as the instance's volumes. A tenant could create a network of
   * that name first, and compose would put the IDE on it, where that tenant's containers reach it (found by
   * review, stop 20).
   */
  readonly instanceNetworks?: readonly string[];
  /**
   * The tenant's own network, in place of the engine's `bridge` (which every tenant's containers share): a
   * container that names no network, `default` or `bridge` joins it (see {@link tenantNetwork}). It is an
   * instance network (checked as `instanceNetworks` are), usable by the tenant's containers (see `tenantNetworks` of
   * {@link scopeToTenant}).
   * For the workshop stack, the instance's network, which the IDE is on. Default: none (containers go on `bridge`).
   */
  readonly network?: string;
  /**
   * Where published ports are bound when a request leaves the address open or names a loopback one (`false`
   * leaves bindings as sent). See {@link tenantNetwork}. Default: the tenant's own loopback address,
   * {@link tenantLoopback}`(tenant)` (`127.a.b.c`), which no container reaches and where no other tenant's ports
   * are: each tenant's `-p 8080:80` works at once, and no tenant takes, or learns of, another's ports. Pass
   * `127.0.0.1` where clients on the host use `localhost` (ports are then first come, first served across
   * tenants).
   */
  readonly publishOn?: string | false;
  /** Where the proxy sees the project volume (used only with `unsafeOldEngineBinds`). */
  readonly projectMount?: string;
  /**
   * An image of the operator's that a tenant cannot build or tag (the workshop passes the proxy's own,
   * `dockhand-workshop/*` being reserved), for the never-started container that makes a project bind's missing
   * directory, as the engine makes a bind's missing source (see `helperImage` of {@link mountPolicy}). Without it
   * `-v ./new-dir:/data` fails at start.
   */
  readonly helperImage?: string;
  /**
   * On engines older than API 1.45, bind a directory under the project as the directory inside the project
   * volume's mountpoint, checked through `projectMount` (default `false`: refused there; a bind of the whole
   * project works on every engine). Unsafe with attendees you do not trust with the host: see
   * `unsafeBindFallback` of {@link mountPolicy}'s `remap`.
   */
  readonly unsafeOldEngineBinds?: boolean;
  /** Objects of others the tenant may use, e.g. a shared network. */
  readonly shared?: { readonly networks?: readonly string[]; readonly volumes?: readonly string[] };
  /** Host paths that may be bind-mounted as they are (minimatch globs; default none). */
  readonly allowBinds?: readonly string[];
  /** Explicit network subnets: IPv4 ranges they must lie within, or `true` for any (default none; see `hostGuard`). */
  readonly networkSubnets?: boolean | readonly string[];
  /** Registries on the engine's host that pulls, pushes, logins and build caches may reach, as `host:port` (default none; see `hostGuard`). */
  readonly localRegistries?: readonly string[];
  /** The only registries images and build caches may come from, as globs over `host[:port]` (default any not on the engine's host; see `hostGuard`). */
  readonly registries?: readonly string[];
  /**
   * Image names no tenant may give or pull: the images the workshop itself runs (minimatch globs over the short
   * repository name; default `dockhand-workshop/*`, the names `dockhand workshop up` builds). A tenant's image under
   * one of them would be taken by the launcher for its own, and run with the engine's socket (found by review,
   * stop 20).
   */
  readonly reservedImages?: readonly string[];
  /**
   * Whether classic builds (`DOCKER_BUILDKIT=0`, a `POST /build` without `version=2`) are served (default `true`).
   * `false` refuses them ({@link refuseClassicBuilds}), for an operator who would rather not rely on the proxy
   * reading each Dockerfile as the engine's parser does; BuildKit builds, the docker CLI's default, still work.
   * Served, at most 4 run at once ({@link limitClassicBuilds}); more wait for one to end.
   */
  readonly classicBuilds?: boolean;
}

/** The middleware {@link workshopTenant} returns: the tenant's pipeline, and the check it makes before serving. */
export interface WorkshopTenantMiddleware extends Middleware {
  /**
   * Checks, once, that the instance's own volumes (`projectVolume`, `socketVolume`, `instanceVolumes`) and
   * networks (`instanceNetworks`) exist on
   * the engine and carry no tenant label key: a tenant that created one of them first (a volume named like another
   * instance's) would own that instance's socket, project or terminal. The pipeline runs the same check before its
   * first request and refuses every request while it fails; call this before `listen` to refuse to start instead.
   * A passed check is kept; a volume found taken or missing is kept as a refusal for the life of the proxy; an
   * engine that could not be asked is asked again next time.
   *
   * @param upstream - the engine (the proxy's `upstream`)
   * @param log - where a refusal is logged, at `error`
   * @returns once every volume checked out
   * @throws `DockhandError` `DOCKHAND_INSTANCE_VOLUME_TAKEN` (a volume is missing or a tenant's), or
   *   `DOCKHAND_ENGINE_LOOKUP_FAILED` (the engine did not answer)
   * @example
   * ```ts
   * const tenant = workshopTenant({ tenant: 'alice', projectVolume: 'alice_project', socketVolume: 'alice_socket' });
   * const proxy = createProxy({ upstream: 'unix:///var/run/docker.sock', middleware: [tenant] });
   * await tenant.verifyInstanceVolumes(proxy.upstream); // throws when a tenant squats alice_socket
   * await proxy.listen('/var/run/dockhand/docker.sock');
   * ```
   */
  verifyInstanceVolumes(upstream: Upstream, log?: Logger): Promise<void>;
}

/** The refusal when an instance volume is missing or a tenant's: `why` says which. */
function taken(kind: InstanceObject['kind'], name: string, why: string): DockhandError {
  return refuse(
    'DOCKHAND_INSTANCE_VOLUME_TAKEN',
    `this workshop instance's ${kind} ${name} ${why}, so this Docker API proxy serves nothing: ask the organiser to remove the ${kind} and start the instance again`,
  );
}

/** A volume or network of the workshop instance the proxy belongs to. */
interface InstanceObject {
  readonly kind: 'volume' | 'network';
  readonly name: string;
}

/**
 * Inspects each of the instance's volumes and networks on the engine: it must exist and carry no `key` label. A
 * tenant's always carries the key (the proxy stamps it on every volume and network a tenant creates, however it
 * is created), an instance's never.
 */
async function checkInstanceObjects(
  upstream: Upstream,
  objects: readonly InstanceObject[],
  key: string,
  log: Logger | undefined,
): Promise<void> {
  for (const { kind, name } of objects) {
    const lookupFailed = (cause?: unknown) =>
      refuse(
        'DOCKHAND_ENGINE_LOOKUP_FAILED',
        `the Docker API proxy could not check its instance ${kind} ${name} on the engine; try again`,
        cause,
      );
    const path = `/${kind}s/${encodeURIComponent(name)}`;
    let found: { Name?: unknown; Labels?: Record<string, string> | null; Driver?: unknown };
    try {
      const reply = await upstream.request({ path });
      if (reply.status === 404) {
        await reply.text();
        log?.error({ [kind]: name }, `an instance ${kind} does not exist: the proxy serves nothing`);
        throw taken(kind, name, 'does not exist on the engine');
      }
      if (reply.status !== 200) {
        const text = await reply.text();
        throw lookupFailed(new Error(`GET ${path}: ${reply.status} ${text.slice(0, 200)}`));
      }
      found = await reply.json();
    } catch (err) {
      if (DockhandError.is(err)) throw err;
      throw lookupFailed(err);
    }
    const labels = found.Labels ?? {};
    if (found.Name !== name || typeof labels !== 'object' || Object.hasOwn(labels, key)) {
      log?.error(
        { [kind]: name, label: key, owner: Object.hasOwn(labels, key) ? labels[key] : undefined },
        `an instance ${kind} belongs to a tenant (created by it before the instance): the proxy serves nothing`,
      );
      throw taken(kind, name, 'was created by another workshop attendee, not by the instance');
    }
    // the engine's host network, or none, named by its id (found by review, stop 26: by name it put every tenant
    // container on the host's network; names are refused when the preset is made)
    if (kind === 'network' && (found.Driver === 'host' || found.Driver === 'null')) {
      log?.error(
        { network: name },
        'the instance network is the host network, or none: the proxy serves nothing',
      );
      throw taken(kind, name, `is the engine's ${found.Driver === 'host' ? 'host network' : 'network none'}`);
    }
  }
}

/**
 * The preset for one tenant of the workshop stack, composing, in order:
 * 1. {@link allowRoutes}: the Engine API less swarm, plugins, secrets, configs, checkpoints and `/debug`;
 * 2. {@link hostGuard}: no privileged containers, host namespaces, devices, ...;
 * 3. {@link rewriteDockerSocket}: the daemon socket becomes the proxy's;
 * 4. {@link mountPolicy}: binds under the project directory become mounts of the project volume; nothing else;
 * 5. {@link scopeToTenant}: only the tenant's objects, everywhere;
 * 6. {@link tenantNetwork}: containers on the tenant's `network` in place of `bridge`, published ports on the
 *    tenant's own loopback address ({@link tenantLoopback});
 * 7. {@link stampLabels}: the tenant label on everything created (last, so nothing can override it);
 * 8. {@link buildkitGuard}: the same for BuildKit builds over `/grpc`, and no host-network or insecure builds.
 *
 * Before any of them, on the first request, the instance's own volumes are checked (see
 * {@link WorkshopTenantMiddleware.verifyInstanceVolumes}): while that check has not passed, no request takes the
 * proxy's byte lane, and every request is refused while it fails.
 *
 * @param options - the tenant and its volumes
 * @returns the composed middleware, with its volume check
 * @example
 * ```ts
 * createProxy({
 *   upstream: 'unix:///var/run/docker.sock',
 *   middleware: [workshopTenant({ tenant: 'alice', projectVolume: 'alice_project', socketVolume: 'alice_socket' })],
 * });
 * ```
 */
export function workshopTenant(options: WorkshopTenantOptions): WorkshopTenantMiddleware {
  if (!options.tenant) throw new TypeError('workshopTenant(): tenant is required');
  const key = options.labelKey ?? 'dockhand.tenant';
  // the engine's label filter splits `key=value` at the first `=`: a key holding one would match another tenant's
  if (key === '' || /[=\s]/.test(key))
    throw new TypeError(`workshopTenant(): labelKey '${key}' must be a label key, without '=' or spaces`);
  const label = { key, value: options.tenant };
  const labels = { [key]: options.tenant };
  // made now and connected to the engine on the first request, so the whole pipeline (and what it leaves to the
  // proxy's byte lane) is known before any request arrives
  const ownership = new Ownership(label);
  const reserved = options.reservedImages ?? ['dockhand-workshop/*'];
  const shared = {
    networks: options.shared?.networks ?? [],
    volumes: [...(options.shared?.volumes ?? []), options.projectVolume, options.socketVolume],
  };
  // the instance's own volumes, checked once before anything is served: a tenant may have created one of them
  // (by its name) before the instance did, and would then own this instance's socket, project or terminal
  const instanceObjects: InstanceObject[] = [
    ...[...new Set([options.projectVolume, options.socketVolume, ...(options.instanceVolumes ?? [])])].map(
      (name) => ({ kind: 'volume' as const, name }),
    ),
    ...[
      ...new Set([
        ...(options.instanceNetworks ?? []),
        ...(options.network === undefined ? [] : [options.network]),
      ]),
    ].map((name) => ({ kind: 'network' as const, name })),
  ];
  let verified = false;
  let refused: DockhandError | undefined;
  let pending: Promise<void> | undefined;
  const verifyInstanceVolumes = (upstream: Upstream, log?: Logger): Promise<void> => {
    if (verified) return Promise.resolve();
    if (refused !== undefined) return Promise.reject(refused);
    pending ??= checkInstanceObjects(upstream, instanceObjects, key, log).then(
      () => {
        verified = true;
      },
      (err: unknown) => {
        pending = undefined;
        // taken or missing: for good (a volume's labels never change); the engine not answering: asked again
        if (DockhandError.is(err) && err.code === 'DOCKHAND_INSTANCE_VOLUME_TAKEN') refused = err;
        throw err;
      },
    );
    return pending;
  };
  // checks the instance's volumes and connects the ownership cache to the engine; changes nothing. Until the
  // check has passed, it claims every request, so none can take the byte lane past it
  let connected = false;
  const connect: Middleware = untouchedWhen(
    () => verified,
    async (ctx, next) => {
      // both are done once: afterwards nothing here reads ctx.log, whose first read makes the request's logger
      // (a pino child, about 4 µs on every request the pipeline sees)
      if (!verified) await verifyInstanceVolumes(ctx.upstream, ctx.log);
      if (!connected) {
        ownership.connect(ctx.upstream, ctx.log);
        connected = true;
      }
      await next();
    },
  );
  const pipeline = compose([
    connect,
    // a build's refusals in its stream, as the engine reports a failed build
    buildRefusalsInStream(),
    // at most 4 classic builds at once, each holding its context while it runs; before the name holds, so that a
    // build waiting for its turn does not count as one that runs (review 29b)
    ...(options.classicBuilds === false ? [] : [limitClassicBuilds()]),
    // before the first check that reads an image (hostGuard's of a create's working directory)
    holdNames(),
    scopeImageReads((img) => imageVisible(img, label, { reserved })),
    allowRoutes(TENANT_ROUTES),
    // before any check reads a classic build's context
    ...(options.classicBuilds === false ? [refuseClassicBuilds()] : []),
    hostGuard({
      ...(options.networkSubnets === undefined ? {} : { network: { subnets: options.networkSubnets } }),
      ...(options.localRegistries === undefined ? {} : { localRegistries: options.localRegistries }),
      ...(options.registries === undefined ? {} : { registries: options.registries }),
    }),
    rewriteDockerSocket({
      target: { volume: options.socketVolume, subpath: options.socketPath ?? 'docker.sock' },
    }),
    mountPolicy({
      remap: [
        {
          path: options.projectDir ?? '/home/coder/project',
          volume: options.projectVolume,
          ...(options.projectMount ? { verifyRoot: options.projectMount } : {}),
          ...(options.unsafeOldEngineBinds ? { unsafeBindFallback: true } : {}),
        },
      ],
      // the socket's volume read-only: a tenant who could write it could put a symlink where the socket is, which
      // an engine without subpaths would bind as the host path it names
      allow: {
        binds: options.allowBinds ?? [],
        volumes: shared.volumes.filter((v) => v !== options.socketVolume),
        readOnlyVolumes: [options.socketVolume],
      },
      ownership,
      labels,
      ...(options.helperImage ? { helperImage: options.helperImage } : {}),
    }),
    scopeToTenant({
      label,
      shared,
      ...(options.network === undefined ? {} : { tenantNetworks: [options.network] }),
      ownership,
      images: { reserved },
    }),
    // a tenant's stats from one-shot samples, never the engine's one collector, which a held lock stops for all
    polledStats(),
    tenantNetwork({
      ...(options.network === undefined ? {} : { defaultNetwork: options.network }),
      publishOn: options.publishOn ?? tenantLoopback(options.tenant),
    }),
    stampLabels({ labels }),
    buildkitGuard({
      labels,
      images: { label, policy: { reserved } },
      ...(options.localRegistries === undefined ? {} : { localRegistries: options.localRegistries }),
      ...(options.registries === undefined ? {} : { registries: options.registries }),
    }),
  ]);
  return Object.assign(pipeline, { verifyInstanceVolumes });
}
