import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { ContainerInspect } from './engine.ts';

/**
 * How the forwarder reaches a container's port:
 * - `network`: the container's IP on a network the forwarder's namespace is on (after attaching it to
 *   `attachNetwork` if one is given), at the container port;
 * - `published`: the engine's published address (`publishedHost`, else the binding's own `HostIp` when it is
 *   a specific address, else the namespace's default gateway), at the `HostPort`;
 * - `auto` (default): `network` when the container shares a network with the forwarder, else `published`.
 */
export type TargetMode = 'auto' | 'network' | 'published';

/** Where connections for one forwarded port go. */
export interface Target {
  host: string;
  port: number;
  /** Which route was chosen. */
  via: 'network' | 'published';
}

/** One published port of a container, in the Engine API's terms. */
export interface PublishedPort {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  /** The host port a client uses: the forwarder listens on it. */
  hostPort: number;
  /** The loopback addresses to listen on. */
  addresses: readonly string[];
  /**
   * The port the engine host answers on for this container port over IPv4 (how the forwarder reaches a published
   * port); differs from `hostPort` when the engine gave the IPv6 binding a port of its own.
   */
  publishedPort: number;
}

/**
 * Lists a container's published ports, one per protocol and host port, each on both loopback addresses. The
 * engine may publish one container port on different host ports for IPv4 and IPv6 (`0.0.0.0:32778` and
 * `[::]:32779`, once its two port allocators are out of step), and clients may use either (testcontainers picks
 * the binding of the family `localhost` resolves to first): both ports are forwarded, and both reach the
 * container through the IPv4 one, the one the forwarder can reach.
 *
 * @param inspect - the container's inspect result
 * @returns the published ports
 * @example
 * ```ts
 * publishedPorts(await engine.inspect(id));
 * // [{ proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPort: 32768, addresses: ['127.0.0.1', '::1'], publishedPort: 32768 }]
 * ```
 */
export function publishedPorts(inspect: ContainerInspect): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(inspect.NetworkSettings.Ports ?? {})) {
    const [port, proto] = key.split('/');
    if (proto !== 'tcp' && proto !== 'udp') continue; // sctp is not forwarded
    const valid = (bindings ?? []).filter(
      (b) => Number.isInteger(Number(b.HostPort)) && Number(b.HostPort) > 0,
    );
    const isV6 = (ip: string) => ip.includes(':');
    const v4 = valid.filter((b) => !isV6(b.HostIp ?? ''));
    const seen = new Set<number>();
    for (const b of [...v4, ...valid.filter((x) => isV6(x.HostIp ?? ''))]) {
      const hostPort = Number(b.HostPort);
      if (seen.has(hostPort)) continue;
      seen.add(hostPort);
      const v6Only = isV6(b.HostIp ?? '');
      out.push({
        proto,
        containerPort: Number(port),
        hostIp: v6Only && v4[0] ? (v4[0].HostIp ?? '') : (b.HostIp ?? ''),
        hostPort,
        addresses: ['127.0.0.1', '::1'],
        publishedPort: v6Only && v4[0] ? Number(v4[0].HostPort) : hostPort,
      });
    }
  }
  return out;
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function inSubnet(ip: number, net: number, prefix: number): boolean {
  if (prefix === 0) return true;
  const mask = (~0 << (32 - prefix)) >>> 0;
  return (ip & mask) >>> 0 === (net & mask) >>> 0;
}

/**
 * The container's IPv4 address on a network this namespace has an interface on, if any.
 *
 * @param inspect - the container's inspect result
 * @returns the address, or `undefined`
 * @internal
 */
export function sharedNetworkAddress(inspect: ContainerInspect): string | undefined {
  const local: { addr: number; prefix: number }[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal || !a.cidr) continue;
      const addr = ipv4ToInt(a.address);
      if (addr !== undefined) local.push({ addr, prefix: Number(a.cidr.split('/')[1]) });
    }
  }
  for (const ep of Object.values(inspect.NetworkSettings.Networks ?? {})) {
    const ip = ep.IPAddress ? ipv4ToInt(ep.IPAddress) : undefined;
    if (ip === undefined) continue;
    if (local.some((l) => l.addr !== ip && inSubnet(ip, l.addr, l.prefix))) return ep.IPAddress;
  }
  return undefined;
}

/**
 * The namespace's IPv4 default gateway, read from `/proc/net/route`.
 *
 * @returns the gateway address, or `undefined` when there is no default route
 * @internal
 */
export function defaultGateway(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const [, dest, gw, flags] = line.trim().split(/\s+/);
    if (dest !== '00000000' || !gw || !flags || (Number.parseInt(flags, 16) & 0x2) === 0) continue;
    const n = Number.parseInt(gw, 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
  }
  return undefined;
}

const UNSPECIFIED = new Set(['', '0.0.0.0', '::']);

/** The addresses the forwarder listens on. */
const LISTEN_ADDRESSES = new Set(['127.0.0.1', '::1']);

/**
 * Chooses where connections for one published port go.
 *
 * @param inspect - the container's inspect result
 * @param port - the published port
 * @param mode - see {@link TargetMode}
 * @param publishedHost - the engine host address to use for `published` routes, if configured
 * @param listenPort - the port the forwarder listens on for it (a published route there would be itself)
 * @returns the target, or `undefined` when there is no route in this mode
 * @internal
 */
export function resolveTarget(
  inspect: ContainerInspect,
  port: PublishedPort,
  mode: TargetMode,
  publishedHost: string | undefined,
  listenPort?: number,
): Target | undefined {
  if (mode !== 'published') {
    const ip = sharedNetworkAddress(inspect);
    if (ip) return { host: ip, port: port.containerPort, via: 'network' };
    if (mode === 'network') return undefined;
  }
  const host =
    publishedHost ?? (UNSPECIFIED.has(port.hostIp) ? (defaultGateway() ?? '127.0.0.1') : port.hostIp);
  // a port published on the loopback address the forwarder listens on (as a Dockhand tenant proxy publishes them,
  // on 127.0.0.1) is, from a forwarder in a container's namespace, its own listener: connecting would loop
  if (LISTEN_ADDRESSES.has(host) && port.publishedPort === listenPort) return undefined;
  return { host, port: port.publishedPort, via: 'published' };
}
