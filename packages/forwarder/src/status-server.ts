import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Forwarder } from './forwarder.ts';

/** Options of {@link serveStatus}. */
export interface ServeStatusOptions {
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Port to listen on (default 0: any free port). */
  port?: number;
}

/** A running status endpoint. */
export interface StatusServer extends AsyncDisposable {
  /** The URL it answers on, e.g. `http://127.0.0.1:9999/`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the forwarder's {@link Forwarder.ports} as JSON on `GET /` (and `GET /ports`), for an operator or a
 * status bar in the IDE.
 *
 * @param forwarder - the forwarder to report on
 * @param options - where to listen
 * @returns the server, once listening
 * @example
 * ```ts
 * await using status = await serveStatus(forwarder, { port: 9999 });
 * const ports = await (await fetch(status.url)).json();
 * ```
 */
export async function serveStatus(
  forwarder: Forwarder,
  options: ServeStatusOptions = {},
): Promise<StatusServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || !['/', '/ports'].includes(req.url ?? '/')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(forwarder.ports(), null, 2));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
