import { refuse } from './errors.ts';
import { field, isObject, type JsonObject } from './fields.ts';

/** What a tenant may set on the networks it creates and on its containers' endpoints (see {@link hostGuard}). */
export interface NetworkPolicy {
  /** Network drivers allowed (default `bridge` only: `macvlan`/`ipvlan` put containers on the host's own LAN). */
  readonly drivers?: readonly string[];
  /** Driver option keys allowed on created networks (default none: `com.docker.network.bridge.*` acts on the host). */
  readonly options?: readonly string[];
  /**
   * Explicit IPAM subnets (default `false`: the engine picks them; a subnet of the tenant's choosing can take over
   * the host's routes to that range): `true` for any, or IPv4 CIDR ranges (`['10.128.0.0/9']`) every `Subnet` must
   * lie within (ranges, gateways and addresses the engine checks against the subnet).
   */
  readonly subnets?: boolean | readonly string[];
}

/** An IPv4 CIDR as a 32-bit network and prefix length, or `undefined` when it is not one. */
function parseCidr(cidr: string): { net: number; prefix: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const ip = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return { net: (ip & mask) >>> 0, prefix };
}

/** Whether an IPv4 subnet lies within a range. */
function within(subnet: { net: number; prefix: number }, range: { net: number; prefix: number }): boolean {
  if (subnet.prefix < range.prefix) return false;
  const mask = range.prefix === 0 ? 0 : (~0 << (32 - range.prefix)) >>> 0;
  return (subnet.net & mask) >>> 0 === range.net;
}

const IPAM_ADDRESSES = ['Subnet', 'IPRange', 'Gateway', 'AuxiliaryAddresses'] as const;

function refuseNetwork(message: string): never {
  throw refuse('DOCKHAND_HOST_ESCAPE', message);
}

/** Whether a field is set: present, and neither `""` nor an empty object. */
function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(isObject(v) && Object.keys(v).length === 0);
}

/**
 * Builds the check of a `POST /networks/create` body under a policy: an allowed driver, only allowed driver
 * options, no config-only or config-from networks (how `macvlan` and swarm networks borrow another network's
 * settings), no ingress or swarm scope, the default IPAM driver without options, and no explicit addresses unless
 * allowed. The policy is read once, here.
 *
 * @param policy - what is allowed
 * @returns the check, which throws {@link @dockhand/core!DockhandError} `DOCKHAND_HOST_ESCAPE` (403) naming the setting
 * @throws TypeError for a subnet range that is not an IPv4 CIDR
 * @example
 * ```ts
 * networkCreateCheck({})({ Name: 'x', Driver: 'macvlan' }); // throws: the network driver 'macvlan' is not allowed here
 * ```
 */
export function networkCreateCheck(policy: NetworkPolicy): (body: JsonObject) => void {
  const drivers = new Set(policy.drivers ?? ['bridge']);
  const allowedOptions = new Set(policy.options ?? []);
  const anySubnet = policy.subnets === true;
  const ranges = Array.isArray(policy.subnets) ? policy.subnets : [];
  const allowed = ranges.map((r) => {
    const range = parseCidr(r);
    if (range === undefined) throw new TypeError(`hostGuard(): network.subnets: '${r}' is not an IPv4 CIDR`);
    return range;
  });

  return (body) => {
    const driver = field(body, 'Driver');
    if (typeof driver !== 'string' && driver !== undefined && driver !== null)
      refuseNetwork('Driver must be a string');
    const name = typeof driver === 'string' && driver !== '' ? driver : 'bridge';
    if (!drivers.has(name)) refuseNetwork(`the network driver '${name}' is not allowed here`);
    const options = field(body, 'Options');
    if (options !== undefined && options !== null) {
      if (!isObject(options)) refuseNetwork('Options must be an object');
      for (const key of Object.keys(options)) {
        if (!allowedOptions.has(key)) refuseNetwork(`the network option '${key}' is not allowed here`);
      }
    }
    if (field(body, 'ConfigOnly') === true) refuseNetwork('config-only networks are not allowed here');
    const from = field(body, 'ConfigFrom');
    if (from !== undefined && from !== null && !(isObject(from) && !field(from, 'Network')))
      refuseNetwork('ConfigFrom is not allowed here');
    if (field(body, 'Ingress') === true) refuseNetwork('ingress networks are not allowed here');
    const scope = field(body, 'Scope');
    if (scope !== undefined && scope !== null && scope !== '' && scope !== 'local')
      refuseNetwork(`the network scope '${String(scope)}' is not allowed here`);
    const ipam = field(body, 'IPAM');
    if (ipam === undefined || ipam === null) return;
    if (!isObject(ipam)) refuseNetwork('IPAM must be an object');
    const ipamDriver = field(ipam, 'Driver');
    if (ipamDriver !== undefined && ipamDriver !== null && ipamDriver !== '' && ipamDriver !== 'default')
      refuseNetwork(`the IPAM driver '${String(ipamDriver)}' is not allowed here`);
    const ipamOptions = field(ipam, 'Options');
    if (isObject(ipamOptions) && Object.keys(ipamOptions).length > 0)
      refuseNetwork('IPAM options are not allowed here');
    const configs = field(ipam, 'Config');
    if (configs === undefined || configs === null || anySubnet) return;
    if (!Array.isArray(configs)) refuseNetwork('IPAM.Config must be a list');
    for (const c of configs) {
      if (!isObject(c)) refuseNetwork('IPAM.Config must be a list of objects');
      const subnet = field(c, 'Subnet');
      if (allowed.length > 0 && isSet(subnet)) {
        const parsed = typeof subnet === 'string' ? parseCidr(subnet) : undefined;
        if (parsed === undefined || !allowed.some((r) => within(parsed, r)))
          refuseNetwork(`the subnet ${String(subnet)} is not allowed here (allowed: ${ranges.join(', ')})`);
        continue;
      }
      for (const key of IPAM_ADDRESSES) {
        if (isSet(field(c, key)))
          refuseNetwork(
            `an explicit IPAM ${key} is not allowed here (the engine picks the network's addresses)`,
          );
      }
    }
  };
}

/**
 * Checks the endpoint settings of a container create (`NetworkingConfig.EndpointsConfig`) or a network connect
 * (`EndpointConfig`): no driver options (since Engine 25 they carry per-interface sysctls).
 *
 * @param endpoints - the endpoint settings, one object (connect) or a map of them (create)
 * @param many - whether `endpoints` is a map of network to settings
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_HOST_ESCAPE` (403)
 * @example
 * ```ts
 * checkEndpoints(field(body, 'EndpointConfig'), false);
 * ```
 */
export function checkEndpoints(endpoints: unknown, many: boolean): void {
  if (!isObject(endpoints)) return;
  // an endpoint on the `host` network (found by review, stop 20: accepted with a network mode of its own)
  if (many && Object.keys(endpoints).some((k) => k.toLowerCase() === 'host'))
    refuseNetwork('an endpoint on the host network is not allowed here');
  for (const ep of many ? Object.values(endpoints) : [endpoints]) {
    if (!isObject(ep)) continue;
    refuseMacAddress(field(ep, 'MacAddress'));
    const opts = field(ep, 'DriverOpts');
    if (isObject(opts) ? Object.keys(opts).length > 0 : opts !== undefined && opts !== null)
      refuseNetwork('endpoint DriverOpts are not allowed here');
  }
}

/**
 * Refuses a chosen MAC address, on an endpoint or, before API 1.44, at the top level of a create: another
 * container's MAC address on a shared bridge takes that container's frames (found by review, stop 20).
 *
 * @param mac - the `MacAddress` field as sent
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_HOST_ESCAPE` when one is set
 * @example
 * ```ts
 * refuseMacAddress(field(body, 'MacAddress'));
 * ```
 */
export function refuseMacAddress(mac: unknown): void {
  if (mac !== undefined && mac !== null && mac !== '')
    refuseNetwork('choosing a MAC address is not allowed here');
}
