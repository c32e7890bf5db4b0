import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { ReadBuffers, SpareBuffers } from '@dockhand/core';
import { type BindResult, bindLoopback, LOOPBACK_ADDRESSES, type PortForward } from './port-forward.ts';
import type { Target } from './target.ts';

/** How long an upstream connect may take before the client connection is reset. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How much one read from the target may take. Node's default is 64 KiB; bulk downloads (the common direction:
 * a database dump, an HTTP response) cost fewer reads, callbacks and writes with larger ones.
 */
const READ_SIZE = 512 * 1024;
/** First read buffers (16 KiB) kept for the next connections. */
const spares = new SpareBuffers(256);

/**
 * Forwards one local TCP port on the loopback addresses to a target with Node's `net`: backpressure both ways
 * (`pipe` from the client; from the target, reads paused until the client drains), half-close passed on
 * (`allowHalfOpen`), an error or reset on one side resets the other.
 *
 * @param port - the local port to listen on
 * @param target - where connections go
 * @returns the port forward; call `bind()` to start listening
 * @example
 * ```ts
 * await using fwd = createTcpForward(8080, { host: '172.17.0.2', port: 80, via: 'network' });
 * await fwd.bind();
 * ```
 * @internal
 */
export function createTcpForward(
  port: number,
  target: Target,
  addresses: readonly string[] = LOOPBACK_ADDRESSES,
): PortForward {
  const servers = new Map<string, Server>();
  const unavailable = new Set<string>();
  const sockets = new Set<Socket>();
  let clients = 0;
  let closed = false;

  function onConnection(client: Socket): void {
    if (closed) {
      client.destroy();
      return;
    }
    const { host, port: targetPort } = fwd.target;
    clients++;
    // target → client: read into buffers of our own, read into again once the client has their bytes, and
    // grown (up to READ_SIZE) only while reads fill them; the first one comes from spares shared by all
    // connections, so that many short connections allocate (and collect) next to nothing
    const buffers = new ReadBuffers(client, { max: READ_SIZE, spares });
    let open = 2;
    const release = () => {
      // both sockets are closed: no read or write uses the buffers any more
      if (--open === 0) buffers.dispose();
    };
    const upstream = tcpConnect({
      host,
      port: targetPort,
      allowHalfOpen: true,
      noDelay: true,
      onread: {
        buffer: () => buffers.next(),
        callback: (n, buf) => {
          if (client.write(buffers.filled(n, buf))) return true;
          client.once('drain', () => upstream.resume());
          return false;
        },
      },
    });
    upstream.on('end', () => client.end());
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error('connect timeout')));
    upstream.once('connect', () => upstream.setTimeout(0));
    // Errors (or a reset) on either side reset the other; a clean end is passed on by pipe() as a half-close.
    client.on('error', () => {
      if (!upstream.destroyed) upstream.resetAndDestroy();
    });
    upstream.on('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.on('close', (hadError) => {
      release();
      sockets.delete(client);
      clients--;
      if (hadError && !upstream.destroyed) upstream.resetAndDestroy();
    });
    upstream.on('close', (hadError) => {
      release();
      sockets.delete(upstream);
      if (hadError && !client.destroyed) client.resetAndDestroy();
    });
    client.pipe(upstream);
  }

  async function listen(address: string): Promise<void> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port, backlog: 2048, exclusive: true, ipv6Only: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {}); // after listen, errors only concern single accepts
    servers.set(address, server);
  }

  const fwd: PortForward = {
    proto: 'tcp',
    port,
    target,
    bind: (): Promise<BindResult> =>
      bindLoopback(listen, (address) => closed || servers.has(address), unavailable, addresses),
    bound: () => [...servers.keys()],
    connections: () => clients,
    async close() {
      closed = true;
      const done = [...servers.values()].map((s) => new Promise<void>((r) => s.close(() => r())));
      servers.clear();
      for (const s of sockets) s.destroy();
      await Promise.all(done);
    },
    [Symbol.asyncDispose]: () => fwd.close(),
  };
  return fwd;
}
