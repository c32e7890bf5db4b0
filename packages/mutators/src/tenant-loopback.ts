import { createHash } from 'node:crypto';

/**
 * The host loopback address of a tenant's published ports: `127.a.b.c`, derived from the tenant's name, with `a`
 * from 1 to 254 and `c` from 1 to 254, so never in `127.0.0.0/16` (the host's own `127.0.0.1`, a resolver's
 * `127.0.0.53`, Debian's `127.0.1.1`) and never a network or broadcast address.
 *
 * The engine allocates host ports per address: on one address a port is first come, first served across every
 * container of the engine, so a tenant could take a fixed port another tenant's compose file wants, or take it in
 * the moment the other's container is recreated, and the engine's refusal of a taken port told it which ports the
 * others use (found by review, stop 21). On an address of its own, a tenant's ports meet only its own: the same
 * `-p 8080:80` works for every tenant at once, and the engine still refuses a tenant's second `8080` as it would.
 * A tenant's workshop IDE reaches its ports on `localhost` through `@dockhand/forwarder`, whatever address they are
 * on.
 *
 * About 16.5 million addresses: two tenants share one (and their ports are first come, first served again) with a
 * chance of about 3 in 10 000 among 100 tenants; an operator who must rule it out gives each tenant's `publishOn`
 * explicitly.
 *
 * @param tenant - the tenant's name
 * @returns the address, e.g. `127.183.20.97`
 * @example
 * ```ts
 * tenantNetwork({ defaultNetwork: 'alice_default', publishOn: tenantLoopback('alice') });
 * ```
 */
export function tenantLoopback(tenant: string): string {
  const [a = 0, b = 0, c = 0] = createHash('sha256').update(tenant).digest();
  return `127.${1 + (a % 254)}.${b}.${1 + (c % 254)}`;
}
