import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { DockhandError, type Upstream } from '@dockhand/core';
import { minimatch } from 'minimatch';
import { refuse } from './errors.ts';

/** Addresses that are the host itself, as the engine (on the host) would reach them, and cloud metadata. */
const HOST_LOCAL = new BlockList();
HOST_LOCAL.addSubnet('127.0.0.0', 8, 'ipv4');
HOST_LOCAL.addSubnet('0.0.0.0', 8, 'ipv4');
HOST_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
HOST_LOCAL.addAddress('::1', 'ipv6');
HOST_LOCAL.addAddress('::', 'ipv6');
HOST_LOCAL.addSubnet('fe80::', 10, 'ipv6');
HOST_LOCAL.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
HOST_LOCAL.addSubnet('::ffff:0.0.0.0', 104, 'ipv6');
HOST_LOCAL.addSubnet('::ffff:169.254.0.0', 112, 'ipv6');

/**
 * The registry an image reference names, read as the engine reads it: the first component of the name when it
 * has a `.` or a `:`, or is `localhost`; none (Docker Hub) otherwise.
 *
 * @param ref - an image reference (`fromImage`, a push or distribution name, a Dockerfile's `FROM`)
 * @returns the registry's `host[:port]`, or `undefined` for Docker Hub
 * @example
 * ```ts
 * registryOf('127.0.0.1:5000/team/app:1'); // '127.0.0.1:5000'
 * registryOf('busybox:latest'); // undefined
 * ```
 */
export function registryOf(ref: string): string | undefined {
  const slash = ref.indexOf('/');
  if (slash === -1) return undefined;
  const first = ref.slice(0, slash);
  // as Docker reads a name: a first component with a `.` or `:`, `localhost`, or one not all lower case
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()
    ? first
    : undefined;
}

/**
 * The host of a registry address as `/auth` takes it (`serveraddress`): with or without a scheme and a path.
 *
 * @param address - `https://registry:5000/v2/`, `registry:5000`, ...
 * @returns its `host[:port]`
 * @example
 * ```ts
 * registryAddressHost('http://127.0.0.1:5000/v2/'); // '127.0.0.1:5000'
 * ```
 */
export function registryAddressHost(address: string): string {
  const a = address.trim();
  // as the daemon reads it (a URL's host): user information before an `@` is not part of the host
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(a) ? a : `https://${a}`).host;
  } catch {
    const rest = a.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    const end = rest.search(/[/?#]/);
    const host = end === -1 ? rest : rest.slice(0, end);
    return host.slice(host.lastIndexOf('@') + 1);
  }
}

/**
 * Whether a registry the engine would contact is the host itself: `localhost` (and `*.localhost`), or an IP literal
 * in the loopback, unspecified or link-local ranges (IPv4, IPv6 and IPv4-mapped). The engine runs on the host, so it
 * reaches services bound to the host's loopback that no container can reach, and its errors carry their answers.
 * A name that merely resolves to such an address is {@link resolvesHostLocal}'s to catch.
 *
 * @param host - `host[:port]`, `[v6]:port` or a bare IPv6 address
 * @returns whether it is the host itself
 * @example
 * ```ts
 * isHostLocal('127.0.0.1:5000'); // true
 * isHostLocal('registry.example:5000'); // false
 * ```
 */
export function isHostLocal(host: string): boolean {
  const h = hostName(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const kind = isIP(h);
  if (kind === 4) return HOST_LOCAL.check(h, 'ipv4');
  if (kind === 6) return HOST_LOCAL.check(h, 'ipv6');
  return false;
}

/** How {@link resolvesHostLocal} resolves a name: `dns.lookup`, as the engine's resolver reads `/etc/hosts` too. */
export type Resolve = (name: string) => Promise<readonly string[]>;

const systemResolve: Resolve = async (name) =>
  (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

/**
 * {@link isHostLocal}, or a name that resolves to such an address (`/etc/hosts` entries such as `ip6-localhost`,
 * or a public name pointed at 127.0.0.1). The proxy resolves the name as its own machine does: where the proxy
 * runs in a container, its `/etc/hosts` and resolver may differ from the engine host's, and a name can resolve
 * differently when the engine looks it up (DNS rebinding). A name that does not resolve is left to the engine.
 *
 * @param host - `host[:port]`, `[v6]:port` or a bare IPv6 address
 * @param resolve - how names are resolved (default: the system's `getaddrinfo`, through `dns.lookup`)
 * @returns whether it is, or resolves to, the host itself
 * @example
 * ```ts
 * await resolvesHostLocal('ip6-localhost:5000'); // true on Debian, whose /etc/hosts maps it to ::1
 * ```
 */
export async function resolvesHostLocal(host: string, resolve: Resolve = systemResolve): Promise<boolean> {
  return isHostLocal(host) || (await addressesOf(host, resolve)).some((a) => isHostLocal(a));
}

/**
 * The subnets of every network on the engine (`IPAM.Config[].Subnet`): the engine, on the host, reaches every
 * container on them directly, past the isolation between networks that holds for containers.
 */
async function engineSubnets(upstream: Upstream): Promise<BlockList> {
  const failed = (cause?: unknown) =>
    refuse(
      'DOCKHAND_ENGINE_LOOKUP_FAILED',
      "the Docker API proxy could not read the engine's networks to check a registry; try again",
      cause,
    );
  let networks: { IPAM?: { Config?: { Subnet?: string }[] | null } | null }[];
  try {
    const reply = await upstream.request({ path: '/networks' });
    if (reply.status !== 200) throw failed(new Error(`GET /networks: ${reply.status} ${await reply.text()}`));
    networks = await reply.json();
  } catch (err) {
    throw DockhandError.is(err) ? err : failed(err);
  }
  const list = new BlockList();
  for (const n of Array.isArray(networks) ? networks : []) {
    for (const c of n.IPAM?.Config ?? []) {
      const [base = '', bits = ''] = (c.Subnet ?? '').split('/');
      const kind = isIP(base);
      if (kind !== 0 && /^\d+$/.test(bits)) list.addSubnet(base, Number(bits), kind === 4 ? 'ipv4' : 'ipv6');
    }
  }
  return list;
}

/** The addresses a registry host names: itself when it is an IP literal, else what it resolves to (none if not). */
async function addressesOf(host: string, resolve: Resolve): Promise<readonly string[]> {
  const name = hostName(host);
  if (isIP(name) !== 0) return [name];
  if (name === '') return [];
  try {
    return await resolve(name);
  } catch {
    return [];
  }
}

/** The host of `host[:port]`, `[v6]:port` or a bare IPv6 address: lower case, without a trailing dot. */
function hostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  else if (isIP(h) !== 6) h = h.replace(/:\d*$/, '');
  return h.replace(/\.$/, '');
}

/** Docker Hub's names: what a reference without a registry means, and the addresses `docker login` uses for it. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Which registries the engine may be sent to: `hostRegistryCheck`'s options. */
export interface RegistryRules {
  /** Registries on the engine's host that may be reached all the same (`host:port`; default none). */
  readonly localRegistries?: readonly string[];
  /**
   * The only registries images, pushes, logins and build caches may use, as minimatch globs over `host[:port]`
   * (`docker.io` for Docker Hub, `ghcr.io`, `*.example.com:5000`). Default: any registry not on the engine's host.
   * A name is resolved by the proxy, and may resolve otherwise when the engine looks it up (DNS rebinding): a list
   * of registries the operator trusts closes that.
   */
  readonly registries?: readonly string[];
}

/**
 * A check of the registries the engine is about to be sent to, for pulls, pushes, logins, builds and build caches
 * alike: each must be on the `registries` list when there is one, and none may be on the engine's own host
 * ({@link resolvesHostLocal}) or, when the check is given the engine, at an address on one of the engine's
 * networks (another tenant's container), unless it is one of `localRegistries`.
 *
 * @param rules - the allowed registries
 * @returns a function that refuses the first registry not allowed among the ones given (`undefined` or
 *   `docker.io`: Docker Hub)
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_HOST_ESCAPE`, from the returned function
 * @example
 * ```ts
 * const check = hostRegistryCheck({ localRegistries: ['localhost:5000'] });
 * await check(['localhost:5000', 'registry.example', undefined]); // passes
 * await check(['127.0.0.1:6000']); // throws DOCKHAND_HOST_ESCAPE
 * await hostRegistryCheck({ registries: ['docker.io'] })(['ghcr.io']); // throws DOCKHAND_HOST_ESCAPE
 * ```
 */
export function hostRegistryCheck(
  rules: RegistryRules = {},
): (hosts: readonly (string | undefined)[], upstream?: Upstream) => Promise<void> {
  const local = new Set((rules.localRegistries ?? []).map((r) => r.toLowerCase()));
  const allowed = rules.registries;
  return async (hosts, upstream) => {
    let subnets: BlockList | undefined;
    for (const host of new Set(hosts)) {
      const name = (host ?? 'docker.io').trim().toLowerCase();
      const hub = DOCKER_HUB.has(name);
      if (allowed && !allowed.some((glob) => minimatch(hub ? 'docker.io' : name, glob, { nocase: true }))) {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          `the registry ${hub ? 'docker.io' : host} is not one this workshop uses (allowed: ${allowed.join(', ')})`,
        );
      }
      if (hub || !host || local.has(name)) continue;
      // the name resolved once, for both checks (resolvesHostLocal's reading)
      const addresses = await addressesOf(host, systemResolve);
      if (isHostLocal(host) || addresses.some((a) => isHostLocal(a))) {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          `the registry ${host} is on the engine's host, which the engine reaches and containers do not; it is not allowed here`,
        );
      }
      // a container's address: the engine reaches every container on the host, another tenant's too, which no
      // container of this tenant's reaches (found by review, stop 21: a pull probed another tenant's services)
      if (upstream && addresses.length > 0) {
        subnets ??= await engineSubnets(upstream);
        if (addresses.some((a) => subnets!.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4'))) {
          throw refuse(
            'DOCKHAND_HOST_ESCAPE',
            `the registry ${host} is on a network of the engine's containers, which the engine reaches whoever they belong to; it is not allowed here`,
          );
        }
      }
    }
  };
}
