import { compose, type Middleware, untouchedWhen } from '@dockhand/core';
import { allowRoutes, TENANT_ROUTES } from './allow-routes.ts';
import { buildkitGuard } from './buildkit-guard.ts';
import { hostGuard } from './host-guard.ts';
import { mountPolicy } from './mount-policy.ts';
import { Ownership } from './ownership.ts';
import { rewriteDockerSocket } from './rewrite-docker-socket.ts';
import { scopeToTenant } from './scope-to-tenant.ts';
import { stampLabels } from './stamp-labels.ts';

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
  /** Where the proxy sees the project volume (used only with `unsafeOldEngineBinds`). */
  readonly projectMount?: string;
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
}

/**
 * The preset for one tenant of the workshop stack, composing, in order:
 * 1. {@link allowRoutes}: the Engine API less swarm, plugins, secrets, configs, checkpoints and `/debug`;
 * 2. {@link hostGuard}: no privileged containers, host namespaces, devices, ...;
 * 3. {@link rewriteDockerSocket}: the daemon socket becomes the proxy's;
 * 4. {@link mountPolicy}: binds under the project directory become mounts of the project volume; nothing else;
 * 5. {@link scopeToTenant}: only the tenant's objects, everywhere;
 * 6. {@link stampLabels}: the tenant label on everything created (last, so nothing can override it);
 * 7. {@link buildkitGuard}: the same for BuildKit builds over `/grpc`, and no host-network or insecure builds.
 *
 * @param options - the tenant and its volumes
 * @returns the composed middleware
 * @example
 * ```ts
 * createProxy({
 *   upstream: 'unix:///var/run/docker.sock',
 *   middleware: [workshopTenant({ tenant: 'alice', projectVolume: 'alice_project', socketVolume: 'alice_socket' })],
 * });
 * ```
 */
export function workshopTenant(options: WorkshopTenantOptions): Middleware {
  if (!options.tenant) throw new TypeError('workshopTenant(): tenant is required');
  const key = options.labelKey ?? 'dockhand.tenant';
  const label = { key, value: options.tenant };
  const labels = { [key]: options.tenant };
  // made now and connected to the engine on the first request, so the whole pipeline (and what it leaves to the
  // proxy's byte lane) is known before any request arrives
  const ownership = new Ownership(label);
  const shared = {
    networks: options.shared?.networks ?? [],
    volumes: [...(options.shared?.volumes ?? []), options.projectVolume, options.socketVolume],
  };
  // connects the ownership cache to the engine; changes nothing
  const connect: Middleware = untouchedWhen(
    () => true,
    async (ctx, next) => {
      ownership.connect(ctx.upstream, ctx.log);
      await next();
    },
  );
  return compose([
    connect,
    allowRoutes(TENANT_ROUTES),
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
    }),
    scopeToTenant({ label, shared, ownership }),
    stampLabels({ labels }),
    buildkitGuard({
      labels,
      images: { label },
      ...(options.localRegistries === undefined ? {} : { localRegistries: options.localRegistries }),
      ...(options.registries === undefined ? {} : { registries: options.registries }),
    }),
  ]);
}
