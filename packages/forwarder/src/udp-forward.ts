import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type BindResult, bindLoopback, LOOPBACK_ADDRESSES, type PortForward } from './port-forward.ts';
import type { Target } from './target.ts';

/** A UDP session with no datagram either way for this long is closed, by default. */
export const UDP_IDLE_MS = 60_000;

interface Session {
  upstream: Socket;
  timer: NodeJS.Timeout;
  /** Datagrams received before the upstream socket finished connecting. */
  pending: Buffer[] | undefined;
}

/**
 * Forwards one local UDP port on the loopback addresses to a target with `node:dgram`: each client
 * address gets its own upstream socket, so replies find their way back; idle sessions close after a minute.
 *
 * @param port - the local port to listen on
 * @param target - where datagrams go
 * @param addresses - the loopback addresses to listen on
 * @param idleMs - how long a session may see no datagram either way before its upstream socket is closed
 * @returns the port forward; call `bind()` to start listening
 * @example
 * ```ts
 * await using fwd = createUdpForward(5353, { host: '172.17.0.2', port: 53, via: 'network' });
 * await fwd.bind();
 * ```
 * @internal
 */
export function createUdpForward(
  port: number,
  target: Target,
  addresses: readonly string[] = LOOPBACK_ADDRESSES,
  idleMs: number = UDP_IDLE_MS,
): PortForward {
  const servers = new Map<string, Socket>();
  const unavailable = new Set<string>();
  const sessions = new Map<string, Session>();
  let closed = false;

  function endSession(key: string): void {
    const s = sessions.get(key);
    if (!s) return;
    sessions.delete(key);
    clearTimeout(s.timer);
    s.upstream.close();
  }

  function onMessage(server: Socket, msg: Buffer, from: { address: string; port: number }): void {
    const key = `${from.address}|${from.port}`;
    let session = sessions.get(key);
    if (!session) {
      const { host, port: targetPort } = fwd.target;
      const upstream = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      upstream.on('message', (reply) => {
        const s = sessions.get(key);
        if (s) s.timer.refresh();
        server.send(reply, from.port, from.address);
      });
      upstream.on('error', () => endSession(key));
      const created: Session = {
        upstream,
        timer: setTimeout(() => endSession(key), idleMs).unref(),
        pending: [],
      };
      upstream.connect(targetPort, host, () => {
        const queued = created.pending ?? [];
        created.pending = undefined;
        for (const m of queued) upstream.send(m);
      });
      session = created;
      sessions.set(key, session);
    }
    session.timer.refresh();
    if (session.pending) session.pending.push(msg);
    else session.upstream.send(msg);
  }

  async function listen(address: string): Promise<void> {
    const server = createSocket(isIPv6(address) ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.bind({ address, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    server.on('message', (msg, rinfo) => onMessage(server, msg, rinfo));
    servers.set(address, server);
  }

  const fwd: PortForward = {
    proto: 'udp',
    port,
    target,
    bind: (): Promise<BindResult> =>
      bindLoopback(listen, (address) => closed || servers.has(address), unavailable, addresses),
    bound: () => [...servers.keys()],
    connections: () => sessions.size,
    async close() {
      closed = true;
      for (const key of [...sessions.keys()]) endSession(key);
      const done = [...servers.values()].map((s) => new Promise<void>((r) => s.close(() => r())));
      servers.clear();
      await Promise.all(done);
    },
    [Symbol.asyncDispose]: () => fwd.close(),
  };
  return fwd;
}
