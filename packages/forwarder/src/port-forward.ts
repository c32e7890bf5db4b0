import type { Target } from './target.ts';

/** The loopback addresses every forwarded port listens on, where the namespace has them. */
export const LOOPBACK_ADDRESSES: readonly string[] = ['127.0.0.1', '::1'];

/** Result of trying to bind a port's missing addresses. */
export interface BindResult {
  /** Addresses already taken by someone else (EADDRINUSE); retry later. */
  inUse: string[];
  /** Other bind failures, with their error, that will not go away by retrying. */
  failed: { address: string; error: Error }[];
}

/**
 * One local port forwarded to one target, over TCP or UDP, on the loopback addresses.
 *
 * @internal
 */
export interface PortForward extends AsyncDisposable {
  readonly proto: 'tcp' | 'udp';
  readonly port: number;
  /** Where new connections go; changing it affects only new connections (or UDP sessions). */
  target: Target;
  /** Binds every loopback address not bound yet. */
  bind(): Promise<BindResult>;
  /** The addresses currently listening. */
  bound(): string[];
  /** Open TCP connections, or UDP sessions. */
  connections(): number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Bind failures that mean "this address does not exist here", not "someone else has the port". */
export const ADDRESS_UNAVAILABLE: ReadonlySet<string> = new Set([
  'EADDRNOTAVAIL',
  'EAFNOSUPPORT',
  'EPROTONOSUPPORT',
]);

/**
 * Binds a port on every loopback address not bound yet: what is in use and what failed is reported, an address
 * the namespace lacks (no IPv6) is remembered in `unavailable` and not tried again.
 *
 * @param listen - binds one address
 * @param skip - whether an address needs no try (already bound, or the forward is closed)
 * @param unavailable - addresses the namespace does not have
 * @param addresses - the loopback addresses to bind (default both)
 * @returns the addresses in use and the failures
 * @internal
 */
export async function bindLoopback(
  listen: (address: string) => Promise<void>,
  skip: (address: string) => boolean,
  unavailable: Set<string>,
  addresses: readonly string[] = LOOPBACK_ADDRESSES,
): Promise<BindResult> {
  const result: BindResult = { inUse: [], failed: [] };
  for (const address of addresses) {
    if (skip(address) || unavailable.has(address)) continue;
    try {
      await listen(address);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EADDRINUSE') result.inUse.push(address);
      else if (ADDRESS_UNAVAILABLE.has(code)) unavailable.add(address);
      else result.failed.push({ address, error: err as Error });
    }
  }
  return result;
}
