import { isIP } from 'node:net';
import { type Context, type Middleware, on } from '@dockhand/core';
import { containerFacts } from './container-facts.ts';
import { createImage } from './create-image.ts';
import { refuse } from './errors.ts';
import { checkedBody, child, field, isObject, type JsonObject, setField } from './fields.ts';

/** Options of {@link tenantNetwork}. */
export interface TenantNetworkOptions {
  /**
   * The network a tenant's container joins where it would join the engine's default `bridge` (no network mode,
   * `default` or `bridge`, on create and in `EndpointsConfig`), e.g. the workshop instance's own network, which
   * the IDE is on. Default: none, and containers stay on `bridge`, which every tenant's containers share: each
   * reaches the others there by address, on every port.
   */
  readonly defaultNetwork?: string;
  /**
   * The host address every published port is bound to: where the request leaves it open (`HostIp` empty,
   * `0.0.0.0` or `::`, and every port of `PublishAllPorts`) and where it names a loopback address (`127.x.y.z`,
   * `::1`); a port bound to any other address is refused.
   * Default `127.0.0.1`: the host's loopback, which no container reaches, where every other address of the host
   * (the bridge gateways, its own) is reachable from every tenant's containers. The engine allocates host ports
   * per address, so on an address tenants share, ports are first come, first served among them:
   * {@link tenantLoopback} gives each tenant a loopback address of its own (the `workshopTenant` preset's
   * default). `false` leaves bindings as sent.
   */
  readonly publishOn?: string | false;
}

const DEFAULT_BRIDGE = new Set(['', 'default', 'bridge']);
const ANY_ADDRESS = new Set(['', '0.0.0.0', '::']);
/** Network modes that are no network: the host's, and none. */
const HOST_MODES = new Set(['host', 'none']);

/** A port as the engine keys it: `80` is `80/tcp`. */
function portKey(port: string): string {
  return port.includes('/') ? port : `${port}/tcp`;
}

/** One decimal octet as Go's `net.ParseIP` reads it: 0 to 255, without leading zeros. */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const LOOPBACK_V4 = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/**
 * Whether an address is a loopback one the engine reads as such: `127.x.y.z` in canonical form, or `::1`. Any
 * other spelling (`[::1]`, `127.0.0.01`, `127.0.0.256`) the engine cannot parse, and it binds such a port on every
 * address (found by review, stop 21).
 */
function isLoopback(ip: string): boolean {
  return LOOPBACK_V4.test(ip) || ip === '::1';
}

/** The exposed ports an image declares (`Config.ExposedPorts`), as the engine reads them for `PublishAllPorts`. */
async function imageExposedPorts(ctx: Context, image: unknown): Promise<string[]> {
  if (typeof image !== 'string' || image === '') return [];
  const reply = await createImage(ctx, image, { visibleOnly: true });
  if (reply.status !== 200) {
    // a missing image fails the create on the engine all the same
    if (reply.status === 404) return [];
    throw refuse(
      'DOCKHAND_ENGINE_LOOKUP_FAILED',
      `the Docker API proxy could not read the ports image ${image} exposes; try again`,
    );
  }
  const info = reply.body as { Config?: { ExposedPorts?: Record<string, unknown> | null } | null };
  return Object.keys(info.Config?.ExposedPorts ?? {});
}

/**
 * Puts a tenant's containers on a network of its own and its published ports where only it reaches them.
 *
 * On one engine, two paths lead from one tenant's container to another's services, whatever the proxy checks:
 * the engine's default `bridge`, which every container without a network of its own joins, and the host's
 * addresses, where every published port answers to every container (measured on Engine 26.1: through the
 * network's gateway, `172.17.0.1` and the host's own address, from any user-defined network). testcontainers'
 * reaper, for one, takes its orders from whoever connects to its published port (found by review, stop 20).
 * This middleware closes both:
 * - a container create that names no network, `default` or `bridge` (mode or endpoint) goes on `defaultNetwork`;
 * - every published port is bound to `publishOn` (the host's loopback, or the tenant's own loopback address),
 *   whatever loopback address the request names; `PublishAllPorts` becomes a binding of each port the container
 *   and its image expose, there.
 *
 * Place it after {@link scopeToTenant} (which resolves the image and checks the networks the request names) and
 * list `defaultNetwork` in its `tenantNetworks`. A container's legacy links (`--link`) move with it to the network,
 * as its endpoint's links there. A forwarder in the tenant's IDE then reaches the
 * containers by their address on that network (`@dockhand/forwarder`'s `attachNetwork` for containers on networks
 * of their own).
 *
 * @param options - the network and the address ports are published on
 * @returns the middleware
 * @example
 * ```ts
 * createProxy({
 *   upstream: 'unix:///var/run/docker.sock',
 *   middleware: [
 *     scopeToTenant({ label: 'dockhand.tenant=alice', tenantNetworks: ['alice_default'] }),
 *     // ports on alice's own loopback address: no other tenant's ports are there
 *     tenantNetwork({ defaultNetwork: 'alice_default', publishOn: tenantLoopback('alice') }),
 *     stampLabels({ labels: { 'dockhand.tenant': 'alice' } }),
 *   ],
 * });
 * ```
 */
export function tenantNetwork(options: TenantNetworkOptions = {}): Middleware {
  const network = options.defaultNetwork;
  const publishOn = options.publishOn ?? '127.0.0.1';
  if (network !== undefined && DEFAULT_BRIDGE.has(network))
    throw new TypeError(`tenantNetwork(): defaultNetwork '${network}' is the engine's default network`);
  // the network every tenant container joins: the host's, none, or another container's would be no network of
  // the tenant's (found by review, stop 26: `network: host` put every tenant container on the host's network)
  if (network !== undefined && (HOST_MODES.has(network) || network.startsWith('container:')))
    throw new TypeError(`tenantNetwork(): defaultNetwork '${network}' is not a network of the tenant's`);
  // an address the engine cannot read, it binds on every address (found by review, stop 26: `publishOn: localhost`
  // published every port on 0.0.0.0, where other tenants reached it), as it does for the unspecified ones
  if (
    publishOn !== false &&
    (typeof publishOn !== 'string' || isIP(publishOn) === 0 || ANY_ADDRESS.has(publishOn))
  )
    throw new TypeError(
      `tenantNetwork(): publishOn must be one IP address of the host (not ${JSON.stringify(publishOn)}), or false to leave bindings as sent`,
    );

  /** The binding a tenant's request asks for, bound where the policy says, or refused. */
  const bound = (port: string, binding: unknown): JsonObject => {
    if (!isObject(binding))
      throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the binding of port ${port} must be an object`);
    const ip = field(binding, 'HostIp') ?? '';
    if (typeof ip !== 'string')
      throw refuse('DOCKHAND_AMBIGUOUS_BODY', `HostIp of port ${port} must be a string`);
    if (publishOn === false) return binding;
    // every other loopback address too goes on `publishOn`: a port of the same number on `::1` or another
    // `127.x` address is another binding to the engine, so one tenant could publish `[::1]:<port>` while another
    // held `127.0.0.1:<port>`, and take that port for every client that tries `::1` for `localhost` first
    // (found by review, stop 21: a workshop IDE's login page, phished)
    if (!ANY_ADDRESS.has(ip) && !isLoopback(ip) && ip !== publishOn) {
      throw refuse(
        'DOCKHAND_HOST_ESCAPE',
        `publishing port ${port} on ${ip} is not allowed here: ports are published on ${publishOn}, where only you reach them`,
      );
    }
    const out = { ...binding };
    setField(out, 'HostIp', publishOn);
    return out;
  };

  /** The port bindings, each on the allowed address (bindings that become the same are kept once); whether any. */
  const publish = async (ctx: Context, body: JsonObject, hc: JsonObject): Promise<boolean> => {
    const bindings = field(hc, 'PortBindings');
    const all = field(hc, 'PublishAllPorts');
    if (publishOn === false || (bindings === undefined && all === undefined)) return false;
    if (bindings !== null && bindings !== undefined && !isObject(bindings))
      throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'PortBindings must be an object');
    const out: JsonObject = {};
    for (const [given, list] of Object.entries(bindings ?? {})) {
      // `80` is `80/tcp` to the engine: one key, so that `-P` below sees the port bound
      const port = portKey(given);
      if (list === null) {
        out[port] ??= list;
        continue;
      }
      if (!Array.isArray(list))
        throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the bindings of port ${given} must be a list`);
      const earlier = out[port];
      const merged = [...(Array.isArray(earlier) ? earlier : []), ...list.map((b) => bound(port, b))];
      const seen = new Set<string>();
      out[port] = merged.filter((b) => {
        const key = JSON.stringify([field(b, 'HostIp') ?? '', field(b, 'HostPort') ?? '']);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    }
    // every exposed port on a host port of the engine's choice, as the engine publishes them, but on our address
    if (all === true) {
      const exposed = field(body, 'ExposedPorts');
      const ports = new Set([
        ...(isObject(exposed) ? Object.keys(exposed) : []),
        ...(await imageExposedPorts(ctx, field(body, 'Image'))),
      ]);
      const exposing = child(body, 'ExposedPorts');
      for (const port of ports) {
        const key = portKey(port);
        exposing[key] ??= {};
        const listed = out[key];
        if (!Array.isArray(listed) || listed.length === 0) out[key] = [{ HostIp: publishOn, HostPort: '' }];
      }
    }
    setField(hc, 'PublishAllPorts', false);
    setField(hc, 'PortBindings', out);
    return true;
  };

  /** The create's network mode and endpoints: the engine's default network becomes the tenant's. */
  const onTenantNetwork = async (ctx: Context, body: JsonObject, hc: JsonObject): Promise<boolean> => {
    if (network === undefined) return false;
    let changed = false;
    const mode = field(hc, 'NetworkMode');
    const changedMode =
      mode === undefined || mode === null || (typeof mode === 'string' && DEFAULT_BRIDGE.has(mode));
    if (changedMode) {
      setField(hc, 'NetworkMode', network);
      changed = true;
    }
    const nc = field(body, 'NetworkingConfig');
    const endpoints = isObject(nc) ? field(nc, 'EndpointsConfig') : undefined;
    const out: JsonObject = {};
    if (isObject(endpoints)) {
      for (const [name, ep] of Object.entries(endpoints)) {
        const key = DEFAULT_BRIDGE.has(name) ? network : name;
        if (Object.hasOwn(out, key))
          throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the endpoint settings name the network ${network} twice`);
        out[key] = ep;
        changed ||= key !== name;
      }
    }
    // the engine joins the networks of the endpoints, and the network mode's only when there are none
    const endpointNames = Object.keys(out);
    const joins = endpointNames.length === 0 ? changedMode : endpointNames.includes(network);
    // legacy links (`--link db:db`) work on the default bridge only: on the tenant's network they are the
    // endpoint's links, which the engine makes aliases of
    const links = field(hc, 'Links');
    if (joins && Array.isArray(links) && links.length > 0) {
      const ep = isObject(out[network]) ? (out[network] as JsonObject) : {};
      const own = field(ep, 'Links');
      // by the linked container's name, which the network's DNS looks up each time (scopeToTenant resolved each
      // reference to a full id); as the engine on its bridge, a link to a container elsewhere is refused
      const named: string[] = [];
      for (const link of links) {
        const [ref = '', alias = ''] = String(link).split(':');
        const target = await containerFacts(ctx, ref);
        if (!target.networks.includes(network))
          throw refuse(
            'DOCKHAND_FOREIGN_REFERENCE',
            `Cannot link to ${target.name || ref}, as it does not belong to the default network`,
          );
        named.push(`${target.name.replace(/^\//, '')}:${alias || ref}`);
      }
      setField(ep, 'Links', [...(Array.isArray(own) ? own : []), ...named]);
      out[network] = ep;
      setField(hc, 'Links', undefined);
      changed = true;
    }
    if (changed && (isObject(endpoints) || Object.keys(out).length > 0))
      setField(child(body, 'NetworkingConfig'), 'EndpointsConfig', out);
    return changed;
  };

  return on('ContainerCreate', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    const hc = child(body, 'HostConfig');
    const moved = await onTenantNetwork(ctx, body, hc);
    if ((await publish(ctx, body, hc)) || moved) ctx.request.setJson(body);
    await next();
  });
}
